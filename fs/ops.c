/*
 * The FUSE low-level operations: the only code that sees libfuse's
 * requests and replies (like mountpoint-s3's fuse.rs). Each handler takes
 * the lock, asks the file that owns the answer (node.c, handle.c,
 * commit.c, scratch.c, status.c; names in namespace.c), drops the lock
 * and sends one reply.
 *
 * Caching levers, as measured (DESIGN section 5): no OPENDIR round trips,
 * the page cache kept across opens, readdirplus, cached sizes, long
 * entry/attribute timeouts with explicit invalidation; read-only mounts
 * also skip OPEN and FLUSH.
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "common/isotime.h"
#include "common/log.h"
#include "fs/idcodec.h"
#include "policy/mask.h"

#define XATTR_ID "user.jovofs.id"
#define XATTR_ERROR "user.jovofs.error"
/*
 * A file of one page is read whole by one READ: one version. A larger one
 * is read in pieces (pages, readahead), and a change that invalidates the
 * page cache between two pieces would hand a reader half of each: its
 * readers get snapshots of their own (rw mounts), or, on ro mounts, the
 * pieces after the first come from the copy the first was served from.
 */
#define PAGE_READ 4096

static void jfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct jfs *fs = jfs_ctx(req);
	struct fuse_entry_param e;
	fuse_ino_t ino;
	int rc;

	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	rc = jfs_node_lookup(fs, parent, name, &ino);
	if (rc == 0)
		rc = jfs_node_entry(fs, ino, &e);
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (!e.ino && e.entry_timeout <= 0)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_entry(req, &e);
}

static void jfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct jfs *fs = jfs_ctx(req);

	pthread_mutex_lock(&fs->lock);
	jfs_scratch_forget(fs, ino, nlookup);
	jfs_find_forget(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void jfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct jfs *fs = jfs_ctx(req);
	size_t i;

	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < count; i++) {
		jfs_scratch_forget(fs, forgets[i].ino, forgets[i].nlookup);
		jfs_find_forget(fs, forgets[i].ino, forgets[i].nlookup);
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

/* The root's mtime tells the kernel when its cached listing is stale: refresh first. */
static int refresh_listing(struct jfs *fs)
{
	return jfs_users_list_fresh(fs);
}

/* A find view's symlink: "../../../NAME" (fs/find.c). */
static void jfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct jfs *fs = jfs_ctx(req);
	char *target = NULL;
	int rc;

	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	rc = jfs_find_readlink(fs, ino, &target);
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

static void jfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	double timeout;
	struct stat st;
	bool stale;
	int rc;

	if (ino == JFS_INO_ROOT)
		refresh_listing(fs);
	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	rc = jfs_node_attr(fs, ino, &st, &timeout);
	stale = rc == 0 && jfs_node_listing_expired(fs, ino);
	pthread_mutex_unlock(&fs->lock);
	/*
	 * A listing that shows an expired session.json: dropped before the
	 * kernel, which asked for these attributes first, serves it again
	 */
	if (stale)
		jfs_notify_inode_now(fs, ino, 0);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
}

/*
 * truncate of an element file without a handle: no close will follow, so
 * the truncated content is stored now. Called with the lock, returns with it.
 */
static int truncate_closed(struct jfs *fs, struct jfs_user *u, fuse_ino_t ino, size_t size)
{
	unsigned sub = jfs_ino_sub(ino);
	json_t *seen = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = jfs_rcache_get(fs, u, &seen);
	if (rc < 0)
		return rc;
	text = jfs_node_render(fs, seen, sub, &len);
	if (size > len || !text) {
		char *t = realloc(text, size + 1);

		if (!t) {
			free(text);
			json_decref(seen);
			return -ENOMEM;
		}
		if (!text)
			len = 0;
		text = t;
		memset(text + len, 0, size > len ? size - len : 0);
	}
	pthread_mutex_unlock(&fs->lock);
	rc = jfs_commit(fs, u, sub, text, size, seen, false);
	pthread_mutex_lock(&fs->lock);
	free(text);
	json_decref(seen);
	return rc;
}

/* A size change of an element file (not a scratch file). [L-drop] */
static int setattr_size(struct jfs *fs, fuse_req_t req, fuse_ino_t ino, size_t size,
			struct jfs_handle **h)
{
	struct jfs_user *u = jfs_user_by_ino(fs, ino);
	int rc;

	if (!u || !u->exists)
		return jfs_node_kind(ino) == JFS_NODE_NONE || u ? -ENOENT : -EACCES;
	rc = jfs_check_writable(fs, u, jfs_ino_sub(ino));
	if (rc < 0)
		return rc;
	if (size > fs->opts.max_file_size) {
		jfs_write_failed(fs, u, jfs_ino_sub(ino), -EFBIG, "file is over max_file_size");
		return -EFBIG;
	}
	if (*h) {
		/* ftruncate(): content, committed at the close */
		rc = jfs_buf_resize(fs, &(*h)->data, size);
		if (rc == 0)
			(*h)->state = JFS_W_DIRTY;
		return rc;
	}
	if (size == 0 && (*h = jfs_handle_truncating_open(u, ino, fuse_req_ctx(req)->pid))) {
		/*
		 * open(O_TRUNC): that handle starts empty, and stores nothing until
		 * something is written (shells close a dup()ed descriptor first).
		 * Readers keep seeing the stored content until the close.
		 */
		jfs_buf_resize(fs, &(*h)->data, 0);
		(*h)->state = JFS_W_TRUNCATED;
		*h = NULL;
		return 0;
	}
	return truncate_closed(fs, u, ino, size);
}

static void jfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_handle *h = jfs_handle_of(fi);
	struct jfs_scratch *sc;
	struct jfs_user *u;
	double timeout;
	struct stat st;
	int rc = 0;

	if (to_set & FUSE_SET_ATTR_SIZE)
		jfs_req_who(req);
	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	ino = jfs_scratch_resolve(fs, ino);
	if (jfs_node_kind(ino) == JFS_NODE_SCRATCH) {
		sc = jfs_scratch_by_ino(fs, ino);
		rc = sc ? jfs_scratch_setattr(fs, sc, attr, to_set) : -ENOENT;
	} else if (ino == JFS_INO_S_UNDO && to_set == FUSE_SET_ATTR_SIZE && !attr->st_size) {
		rc = fs->opts.ro ? -EROFS : 0; /* echo N > .jovofs/undo truncates it first */
	} else {
		if (to_set & FUSE_SET_ATTR_SIZE) {
			if (h && h->kind != JFS_H_WRITE)
				h = NULL;
			rc = setattr_size(fs, req, ino, (size_t)attr->st_size, &h);
		}
		/* mode and owner take effect in the mount, never stored; times stay the record's */
		if (rc == 0)
			rc = jfs_node_setmeta(fs, ino, attr, to_set);
	}
	if (rc == 0)
		rc = jfs_node_attr(fs, ino, &st, &timeout);
	if (rc == 0 && h && (to_set & FUSE_SET_ATTR_SIZE)) {
		/* the writer's size, not the stored one */
		jfs_node_size_attr(&st, h->data.len);
		if ((u = jfs_user_by_ino(fs, ino)))
			jfs_rcache_told(u, jfs_ino_sub(ino), false, 0);
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
}

/* open() for reading of a user's file: through the page cache, or a snapshot. [L-drop] */
static int open_read(struct jfs *fs, struct jfs_user *u, fuse_ino_t ino,
		     struct fuse_file_info *fi, struct jfs_handle **h)
{
	enum jfs_node_kind kind = jfs_node_kind(ino);
	unsigned sub = jfs_ino_sub(ino);
	json_t *item = NULL;
	size_t len = 0;
	char *buf;
	bool small, busy;

	fi->noflush = 1;
	fi->keep_cache = 1;
	if (kind != JFS_NODE_ELEMENT && kind != JFS_NODE_RECORD)
		return 0;
	/* a file of more than one page is read in pieces (PAGE_READ) */
	small = jfs_rcache_size(u, sub, &len) && len <= PAGE_READ;
	/*
	 * The kernel fills its page cache with one request and takes the size
	 * from another: a record that just changed may change again between
	 * the two, and the reader would get the new bytes cut at (or padded
	 * to) the old size. Readers of such a record get snapshots too, until
	 * it has been quiet for a while.
	 */
	busy = jfs_rcache_busy(u);
	if (small && !busy)
		return 0;
	if (jfs_rcache_get(fs, u, &item) < 0)
		return 0; /* the read says why */
	/* hundreds of readers of one version share its rendering, made once */
	*h = jfs_handle_share_snapshot(fs, u, ino, item, &len);
	if (*h) {
		jfs_rcache_note_size(u, sub, (*h)->r->buf, len);
		jfs_rcache_served(u, item);
		fi->fh = (uint64_t)(uintptr_t)*h;
		fi->direct_io = 1;
		fi->keep_cache = 0;
		json_decref(item);
		return 0;
	}
	buf = jfs_node_render(fs, item, sub, &len);
	jfs_rcache_note_size(u, sub, buf, len);
	if (buf && (busy || len > PAGE_READ)) {
		jfs_rcache_served(u, item);
		*h = jfs_handle_open_snapshot(fs, u, ino, item, buf, len);
		fi->fh = (uint64_t)(uintptr_t)*h;
		fi->direct_io = 1;
		fi->keep_cache = 0;
	}
	free(buf);
	json_decref(item);
	return 0;
}

static void jfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_handle *h = NULL;
	struct jfs_writer w;
	struct jfs_user *u;
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	int rc = 0;

	if (fs->no_open) {
		/* read-only: no writer to keep apart, the kernel opens on its own */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (writing)
		jfs_req_writer(req, &w);
	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	/* a scratch file renamed onto an element is that element now */
	ino = jfs_scratch_resolve(fs, ino);
	switch (jfs_node_kind(ino)) {
	case JFS_NODE_SCRATCH:
		rc = jfs_scratch_by_ino(fs, ino) ? 0 : -ENOENT;
		goto out_unlock;
	case JFS_NODE_STATUS_FILE:
		/* .jovofs/undo takes writes: each one a change to undo */
		if (writing && ino == JFS_INO_S_UNDO)
			rc = fs->opts.ro ? -EROFS : 0;
		else if (writing)
			rc = -EACCES;
		fi->direct_io = 1;
		goto out_unlock;
	case JFS_NODE_CONFLICT:
	case JFS_NODE_ROOT:
	case JFS_NODE_STATUS_DIR:
	case JFS_NODE_CONFLICT_DIR:
	case JFS_NODE_NONE:
		if (writing)
			rc = -EACCES;
		/* generated on every read: no page cache */
		fi->direct_io = 1;
		goto out_unlock;
	default:
		break;
	}
	u = jfs_user_by_ino(fs, ino);
	if (!u || !u->exists) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if (!writing) {
		rc = open_read(fs, u, ino, fi, &h);
		goto out_unlock;
	}
	rc = jfs_check_writable(fs, u, jfs_ino_sub(ino));
	if (rc == 0)
		rc = jfs_handle_open_write(fs, u, ino, fi->flags & O_TRUNC, &w, &h);
	if (rc == 0) {
		fi->fh = (uint64_t)(uintptr_t)h;
		fi->direct_io = 1;
	}
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
	} else if (fuse_reply_open(req, fi) == -ENOENT && h) {
		/* interrupted: the kernel will never release it */
		pthread_mutex_lock(&fs->lock);
		jfs_handle_free(fs, h);
		pthread_mutex_unlock(&fs->lock);
	}
}

static void jfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_handle *h = jfs_handle_of(fi);
	struct jfs_read_copy *c;
	enum jfs_node_kind kind = jfs_node_kind(ino);
	bool user_file = kind == JFS_NODE_ELEMENT || kind == JFS_NODE_RECORD;
	bool inval_first = false, inval_after = false, sliced = false;
	struct jfs_user *u;
	char *buf = NULL;
	size_t len = 0;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	if (h) {
		/* a snapshot, or a writer reading back what it wrote, like on any file */
		rc = jfs_handle_read(fs, h, off, size, &buf, &len);
		sliced = true;
	} else if (fs->no_open && off > 0 && user_file &&
		   (c = jfs_read_copy_get(fs, ino, 5000))) {
		/* the rest of a large file, from the version its first piece came from */
		rc = jfs_read_copy_dup(c, off, size, &buf, &len);
		sliced = true;
	} else {
		rc = jfs_node_content(fs, ino, &buf, &len);
		if (rc == 0 && user_file && (u = jfs_user_by_ino(fs, ino)))
			jfs_rcache_same_size_version(fs, u, jfs_ino_sub(ino), &buf, &len,
						     &inval_first, &inval_after);
		if (rc == 0 && fs->no_open && off == 0 && user_file && len > PAGE_READ)
			jfs_read_copy_put(fs, ino, buf, len);
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* attributes only: the reader holds the page being filled locked */
	if (inval_first)
		jfs_notify_inode_now(fs, ino, -1);
	if (sliced)
		fuse_reply_buf(req, buf, len);
	else if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, buf + off, len - (size_t)off < size ? len - (size_t)off : size);
	free(buf);
	if (inval_after)
		jfs_notify_inode_now(fs, ino, -1);
}

static void jfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_handle *h = jfs_handle_of(fi);
	struct jfs_scratch *sc;
	char msg[128];
	int rc;

	if (ino == JFS_INO_S_UNDO) {
		jfs_req_who(req);
		rc = jfs_undo_write(fs, buf, size);
		if (rc < 0)
			fuse_reply_err(req, -rc);
		else
			fuse_reply_write(req, size);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	if (h && h->kind == JFS_H_WRITE) {
		rc = jfs_handle_write(fs, h, buf, size, off);
		if (rc && !h->failed) {
			if (rc == -EFBIG)
				snprintf(msg, sizeof(msg), "file is over max_file_size (%zu bytes)",
					 fs->opts.max_file_size);
			else
				snprintf(msg, sizeof(msg), "no room: files being written and scratch "
					 "files hold %zu of scratch_max %zu bytes",
					 fs->handles.buffered, fs->opts.scratch_max);
			jfs_write_failed(fs, h->u, jfs_ino_sub(h->ino), rc, msg);
		}
		/* what was written is incomplete: the close stores none of it */
		if (rc)
			h->failed = -rc;
	} else if ((sc = jfs_scratch_by_ino(fs, ino)) && !sc->alias) {
		rc = jfs_scratch_write(fs, sc, buf, size, off);
		if (rc == -ENOSPC)
			jfs_log(LOG_WARNING, "scratch file '%s' of '%s': no room (scratch_max is %zu "
				"bytes, in use %zu)", sc->name, sc->owner->name,
				fs->opts.scratch_max, fs->handles.buffered);
	} else {
		/* element files are written through the handle open() made */
		switch (jfs_node_kind(ino)) {
		case JFS_NODE_ELEMENT:
		case JFS_NODE_RECORD:
		case JFS_NODE_SCRATCH:
		case JFS_NODE_USER_DIR:
		case JFS_NODE_HISTORY_DIR:
			rc = -EBADF;
			break;
		default:
			rc = -EACCES;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

static void jfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_handle *h = jfs_handle_of(fi);

	if (fs->no_open) {
		/* read-only: nothing is ever written, so no close needs a round trip */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	/* read-only opens are noflush; scratch files have nothing to commit */
	if (!h || h->kind != JFS_H_WRITE) {
		fuse_reply_err(req, 0);
		return;
	}
	fuse_reply_err(req, -jfs_commit_flush(fs, h));
}

static void jfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_handle *h = jfs_handle_of(fi);

	if (h) {
		if (h->kind == JFS_H_WRITE)
			jfs_commit_release(fs, h);
		pthread_mutex_lock(&fs->lock);
		jfs_handle_free(fs, h);
		pthread_mutex_unlock(&fs->lock);
	}
	fuse_reply_err(req, 0);
}

static void jfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -jfs_commit_fsync(jfs_ctx(req), ino, jfs_handle_of(fi)));
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_dirbuf db = { .req = req, .size = size, .plus = plus, .off = off };
	int rc;

	db.buf = malloc(size);
	if (!db.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* a backend that cannot list (down past the retry time) is EIO, not an empty folder */
	if (ino == JFS_INO_ROOT && off == 0 && refresh_listing(fs) < 0) {
		rc = -EIO;
		goto out_reply;
	}
	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	rc = jfs_node_readdir(fs, &db, ino);
	pthread_mutex_unlock(&fs->lock);
out_reply:
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, db.buf, db.len);
	free(db.buf);
}

static void jfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, false);
}

static void jfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, true);
}

/*
 * The user an inode belongs to and the file it is, for xattrs (a scratch
 * file: its owner, and no file of its own, *sub = JFS_SUB_COUNT). [L]
 */
static struct jfs_user *xattr_user(struct jfs *fs, fuse_ino_t ino, unsigned *sub)
{
	struct jfs_scratch *sc;

	ino = jfs_scratch_resolve(fs, ino);
	if (jfs_node_kind(ino) == JFS_NODE_SCRATCH) {
		sc = jfs_scratch_by_ino(fs, ino);
		*sub = JFS_SUB_COUNT;
		return sc ? sc->owner : NULL;
	}
	*sub = jfs_ino_sub(ino);
	return jfs_user_by_ino(fs, ino);
}

static void reply_xattr(fuse_req_t req, const char *val, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

static void jfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_user *u;
	char *val = NULL;
	size_t len = 0;
	unsigned sub;

	if (strncmp(name, "user.", 5)) {
		/* ls asks for ACLs and SELinux labels: say once they are not supported */
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (!strcmp(name, XATTR_ERROR))
		jfs_lost_drain(fs); /* a change lost a moment ago counts */
	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	u = xattr_user(fs, ino, &sub);
	if (u && !strcmp(name, XATTR_ID) && fs->mask_ids) {
		/* the pseudonym the directory is named by (a numbered name's too) */
		val = malloc(JFS_MASK_LEN);
		if (!val)
			abort();
		jfs_mask_string(fs->mask, u->id, u->id_len, val);
		len = strlen(val);
	} else if (u && !strcmp(name, XATTR_ID)) {
		len = u->id_len;
		val = malloc(len + 1);
		if (!val)
			abort();
		memcpy(val, u->id, len);
	} else if (u && !strcmp(name, XATTR_ERROR) && sub < JFS_SUB_COUNT) {
		val = jfs_last_error(u, sub);
		if (val && fs->mask_ids) {
			char *clean = jfs_users_scrub(fs, val);

			free(val);
			val = clean;
		}
		len = val ? strlen(val) : 0;
	}
	pthread_mutex_unlock(&fs->lock);
	if (!val)
		fuse_reply_err(req, ENODATA);
	else
		reply_xattr(req, val, len, size);
	free(val);
}

static void jfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_strbuf sb;
	struct jfs_user *u;
	unsigned sub;
	char *err;

	jfs_strbuf_init(&sb);
	pthread_mutex_lock(&fs->lock);
	u = xattr_user(fs, ino, &sub);
	if (u) {
		jfs_strbuf_add(&sb, XATTR_ID, sizeof(XATTR_ID));
		err = sub < JFS_SUB_COUNT ? jfs_last_error(u, sub) : NULL;
		if (err)
			jfs_strbuf_add(&sb, XATTR_ERROR, sizeof(XATTR_ERROR));
		free(err);
	}
	pthread_mutex_unlock(&fs->lock);
	reply_xattr(req, sb.buf, sb.len, size);
	jfs_strbuf_release(&sb);
}

static void jfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags)
{
	fuse_reply_err(req, strncmp(name, "user.jovofs.", 12) ? ENOTSUP : EPERM);
}

static void jfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, strncmp(name, "user.jovofs.", 12) ? ENOTSUP : EPERM);
}

static void jfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct jfs *fs = jfs_ctx(req);
	struct statvfs st;

	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&fs->lock);
	/* the room there is: what write buffers and scratch files may still hold */
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	st.f_blocks = fs->opts.scratch_max / 4096;
	st.f_bfree = st.f_bavail = (fs->opts.scratch_max - fs->handles.buffered) / 4096;
	st.f_files = fs->users.nlisting;
	st.f_namemax = JFS_NAME_MAX;
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_statfs(req, &st);
}

/*
 * ENOSYS tells the kernel never to send OPENDIR again: it keeps its
 * directory cache across opens (libfuse answers a missing .opendir with
 * success, which keeps the round trips and drops the cache).
 */
static void jfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, ENOSYS);
}

static void jfs_init(void *userdata, struct fuse_conn_info *conn)
{
	/* O_TRUNC must reach us as setattr: there is no open() to carry it */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	jfs_log(LOG_DEBUG, "fuse protocol %u.%u, want 0x%x", conn->proto_major, conn->proto_minor,
		conn->want);
}

/* ---- lifecycle ---- */

int jfs_fs_init(struct jfs *fs)
{
	pthread_mutex_init(&fs->lock, NULL);
	pthread_mutex_init(&fs->lost_lock, NULL);
	pthread_cond_init(&fs->notify.cond, NULL);
	jfs_users_init(fs);
	jfs_find_init(fs);
	jfs_scratch_init(fs);
	jfs_hmap_init(&fs->handles.renderings, 64);
	fs->start_ms = jfs_now_ms();
	fs->users.root_mtime_ms = fs->start_ms;
	fs->change_feed = jfs_policy_has_changes(&fs->policy);
	/*
	 * With a change feed every foreign change is invalidated explicitly, so
	 * the kernel may keep entries long; without one, only as long as our
	 * own cache.
	 */
	fs->entry_timeout = fs->change_feed ? 3600.0 : fs->opts.cache_timeout;
	fs->no_open = fs->opts.ro;
	return 0;
}

int jfs_fs_start(struct jfs *fs)
{
	int rc = jfs_notify_start(fs);

	if (rc < 0)
		return rc;
	/*
	 * The first listing streams into readdir from the lister thread: the
	 * mount is ready at once, whatever the table's size. A backend that is
	 * down now is retried at the next listing.
	 */
	return jfs_users_start(fs);
}

void jfs_fs_stop(struct jfs *fs)
{
	jfs_users_stop(fs);
	jfs_notify_stop(fs);
}

void jfs_fs_release(struct jfs *fs)
{
	jfs_scratch_release(fs);
	jfs_find_release(fs);
	jfs_users_release(fs);
	jfs_handles_release(fs, NULL);
	jfs_notify_release(fs);
	pthread_cond_destroy(&fs->notify.cond);
	pthread_mutex_destroy(&fs->lock);
	pthread_mutex_destroy(&fs->lost_lock);
}

const struct fuse_lowlevel_ops jfs_ll_ops = {
	.init = jfs_init,
	.lookup = jfs_lookup,
	.forget = jfs_forget,
	.forget_multi = jfs_forget_multi,
	.getattr = jfs_getattr,
	.readlink = jfs_readlink,
	.setattr = jfs_setattr,
	.mknod = jfs_ns_mknod,
	.mkdir = jfs_ns_mkdir,
	.unlink = jfs_ns_unlink,
	.rmdir = jfs_ns_rmdir,
	.rename = jfs_ns_rename,
	.open = jfs_open,
	.read = jfs_read,
	.write = jfs_write,
	.flush = jfs_flush,
	.release = jfs_release,
	.fsync = jfs_fsync,
	.opendir = jfs_opendir,
	.readdir = jfs_readdir,
	.readdirplus = jfs_readdirplus,
	.statfs = jfs_statfs,
	.setxattr = jfs_setxattr,
	.getxattr = jfs_getxattr,
	.listxattr = jfs_listxattr,
	.removexattr = jfs_removexattr,
	.create = jfs_ns_create,
};
