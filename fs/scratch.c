/*
 * Scratch files: any name in a user directory (or its history/) that is
 * not an element. Editors, sed -i and cp put their temporaries, swap
 * files and backups there; they live in memory like files on tmpfs, never
 * reach the store, and go at the unmount. Renaming one onto an element
 * commits its content (fs/namespace.c); the node then stands for that
 * element (alias) until the kernel forgets it.
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t ino_hash(fuse_ino_t ino)
{
	return jfs_hash_bytes(&ino, sizeof(ino));
}

void jfs_scratch_init(struct jfs *fs)
{
	jfs_hmap_init(&fs->scratch.by_ino, 64);
}

struct jfs_scratch *jfs_scratch_by_ino(struct jfs *fs, fuse_ino_t ino)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&fs->scratch.by_ino, node, ino_hash(ino)) {
		struct jfs_scratch *sc = jfs_container_of(node, struct jfs_scratch, hnode);

		if (sc->ino == ino)
			return sc;
	}
	return NULL;
}

struct jfs_scratch *jfs_scratch_by_name(struct jfs_user *u, unsigned dirsub, const char *name)
{
	struct jfs_scratch *sc;

	for (sc = u->scratch; sc; sc = sc->next)
		if (sc->linked && sc->dirsub == dirsub && !strcmp(sc->name, name))
			return sc;
	return NULL;
}

struct jfs_scratch *jfs_scratch_new(struct jfs *fs, struct jfs_user *u, unsigned dirsub,
				    const char *name, mode_t mode, const struct fuse_ctx *ctx)
{
	struct jfs_scratch *sc = calloc(1, sizeof(*sc));
	struct timespec now;

	if (!sc || !(sc->name = strdup(name)))
		abort();
	clock_gettime(CLOCK_REALTIME, &now);
	sc->ino = JFS_INO_SCRATCH_BIT | ++fs->scratch.next;
	sc->owner = u;
	sc->dirsub = dirsub;
	jfs_strbuf_init(&sc->data);
	sc->mode = S_IFREG | (mode & 07777);
	sc->uid = fs->opts.uid_set ? fs->opts.uid : (ctx ? ctx->uid : getuid());
	sc->gid = fs->opts.gid_set ? fs->opts.gid : (ctx ? ctx->gid : getgid());
	sc->atime = sc->mtime = sc->ctime = now;
	sc->linked = true;
	sc->next = u->scratch;
	u->scratch = sc;
	jfs_hmap_add(&fs->scratch.by_ino, &sc->hnode, ino_hash(sc->ino));
	return sc;
}

/* Take @sc out of its owner's list (it keeps its owner: xattrs still name it). */
static void owner_unlink(struct jfs_scratch *sc)
{
	struct jfs_scratch **pp;

	for (pp = &sc->owner->scratch; *pp; pp = &(*pp)->next)
		if (*pp == sc) {
			*pp = sc->next;
			break;
		}
	sc->next = NULL;
}

static void scratch_free(struct jfs *fs, struct jfs_scratch *sc)
{
	jfs_hmap_remove(&fs->scratch.by_ino, &sc->hnode);
	owner_unlink(sc);
	jfs_buf_release(fs, &sc->data);
	free(sc->name);
	free(sc);
}

void jfs_scratch_unlink(struct jfs *fs, struct jfs_scratch *sc)
{
	sc->linked = false;
	if (sc->nlookup == 0)
		scratch_free(fs, sc);
}

void jfs_scratch_ref(struct jfs_scratch *sc)
{
	sc->nlookup++;
}

void jfs_scratch_forget(struct jfs *fs, fuse_ino_t ino, uint64_t n)
{
	struct jfs_scratch *sc;

	if (jfs_node_kind(ino) != JFS_NODE_SCRATCH)
		return; /* computed inodes hold no memory */
	sc = jfs_scratch_by_ino(fs, ino);
	if (!sc)
		return;
	sc->nlookup = n > sc->nlookup ? 0 : sc->nlookup - n;
	if (sc->nlookup == 0 && (!sc->linked || sc->alias))
		scratch_free(fs, sc);
}

fuse_ino_t jfs_scratch_resolve(struct jfs *fs, fuse_ino_t ino)
{
	struct jfs_scratch *sc;

	if (jfs_node_kind(ino) != JFS_NODE_SCRATCH)
		return ino;
	sc = jfs_scratch_by_ino(fs, ino);
	return sc && sc->alias ? sc->alias : ino;
}

void jfs_scratch_attr(const struct jfs_scratch *sc, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = sc->ino;
	st->st_mode = sc->mode;
	st->st_nlink = sc->linked ? 1 : 0;
	st->st_uid = sc->uid;
	st->st_gid = sc->gid;
	st->st_blksize = 4096;
	st->st_atim = sc->atime;
	st->st_mtim = sc->mtime;
	st->st_ctim = sc->ctime;
	jfs_node_size_attr(st, sc->data.len);
}

int jfs_scratch_setattr(struct jfs *fs, struct jfs_scratch *sc, const struct stat *attr,
			int to_set)
{
	struct timespec now;
	int rc;

	clock_gettime(CLOCK_REALTIME, &now);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if ((size_t)attr->st_size > fs->opts.max_file_size)
			return -EFBIG;
		rc = jfs_buf_resize(fs, &sc->data, (size_t)attr->st_size);
		if (rc)
			return rc;
		sc->mtime = now;
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		sc->mode = (sc->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		sc->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		sc->gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME)
		sc->atime = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		sc->atime = now;
	if (to_set & FUSE_SET_ATTR_MTIME)
		sc->mtime = attr->st_mtim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		sc->mtime = now;
	sc->ctime = now;
	return 0;
}

int jfs_scratch_write(struct jfs *fs, struct jfs_scratch *sc, const char *buf, size_t size,
		      off_t off)
{
	int rc;

	if ((size_t)off + size > fs->opts.max_file_size)
		return -EFBIG;
	rc = jfs_buf_write(fs, &sc->data, buf, size, off);
	if (rc)
		return rc;
	clock_gettime(CLOCK_REALTIME, &sc->mtime);
	sc->ctime = sc->mtime;
	return 0;
}

void jfs_scratch_move(struct jfs *fs, struct jfs_scratch *sc, struct jfs_user *to,
		      unsigned dirsub, const char *name)
{
	char *nn = strdup(name);

	if (!nn)
		abort();
	free(sc->name);
	sc->name = nn;
	if (sc->owner != to) {
		owner_unlink(sc);
		sc->owner = to;
		sc->next = to->scratch;
		to->scratch = sc;
	}
	sc->dirsub = dirsub;
}

void jfs_scratch_became(struct jfs *fs, struct jfs_scratch *sc, fuse_ino_t ino)
{
	sc->alias = ino;
	sc->linked = false;
	if (sc->nlookup == 0)
		scratch_free(fs, sc);
}

void jfs_scratch_orphan_all(struct jfs *fs, struct jfs_user *u)
{
	struct jfs_scratch *sc;

	while ((sc = u->scratch)) {
		if (sc->nlookup) {
			/* the kernel still knows it: keep the node, drop the name */
			sc->linked = false;
			owner_unlink(sc);
		} else {
			scratch_free(fs, sc);
		}
	}
}

void jfs_scratch_release(struct jfs *fs)
{
	struct jfs_hnode *node, *tmp;

	jfs_hmap_for_each_safe(&fs->scratch.by_ino, node, tmp)
		scratch_free(fs, jfs_container_of(node, struct jfs_scratch, hnode));
	jfs_hmap_release(&fs->scratch.by_ino);
}
