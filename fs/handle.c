/*
 * Open files with content of their own (the kernel's file handle points
 * here), as mountpoint-s3's handles.rs has them: a write buffer or a read
 * snapshot, nothing in between.
 *
 * A write handle holds an element file's content from its open() to the
 * close() that commits it; the file is opened with direct I/O, so the
 * bytes being written never reach the page cache other readers share. A
 * snapshot is a reader's copy of one version of a file read in several
 * requests (or of a record that just changed), so a commit between two
 * requests cannot hand it half of each. Snapshots of one version share one
 * rendering; the renderings together stay within opts.snapshot_max, past
 * which a snapshot keeps only its version (a reference to the shared,
 * immutable item) and renders it for each read: slower, never more memory
 * per reader than one read.
 *
 * Read copies do the same job for reads without a handle, on read-only
 * mounts where the kernel opens files on its own.
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

struct jfs_handle *jfs_handle_of(const struct fuse_file_info *fi)
{
	return fi ? (struct jfs_handle *)(uintptr_t)fi->fh : NULL;
}

static struct jfs_handle *handle_new(struct jfs *fs, struct jfs_user *u, fuse_ino_t ino,
				     enum jfs_handle_kind kind)
{
	struct jfs_handle *h = calloc(1, sizeof(*h));

	if (!h)
		abort();
	h->kind = kind;
	h->ino = ino;
	h->u = u;
	jfs_strbuf_init(&h->data);
	h->next = u->handles;
	u->handles = h;
	__atomic_add_fetch(&fs->handles.nhandles, 1, __ATOMIC_RELAXED);
	return h;
}

int jfs_handle_open_write(struct jfs *fs, struct jfs_user *u, fuse_ino_t ino, bool trunc,
			  const struct jfs_writer *w, struct jfs_handle **out)
{
	struct jfs_handle *h;
	json_t *item = NULL;
	size_t len = 0;
	char *buf;
	int rc;

	rc = jfs_rcache_get(fs, u, &item);
	if (rc < 0)
		return rc;
	h = handle_new(fs, u, ino, JFS_H_WRITE);
	h->state = trunc ? JFS_W_TRUNCATED : JFS_W_FRESH;
	h->opener = w->pid;
	h->writer = *w;
	h->lost_seen = u->errors.lost_seq[jfs_err_slot(jfs_ino_sub(ino))];
	/* the writer started from what was last read, if the cache moved on since */
	h->seen = json_incref(jfs_rcache_base(u, item));
	if (!trunc) {
		buf = jfs_node_render(fs, item, jfs_ino_sub(ino), &len);
		rc = buf ? jfs_buf_set(fs, &h->data, buf, len) : 0;
		free(buf);
		if (rc) {
			json_decref(item);
			jfs_handle_free(fs, h);
			return rc;
		}
	}
	json_decref(item);
	*out = h;
	return 0;
}

static uint64_t rendering_hash(fuse_ino_t ino, const json_t *item)
{
	uintptr_t key[2] = { (uintptr_t)ino, (uintptr_t)item };

	return jfs_hash_bytes(key, sizeof(key));
}

/* The shared rendering of version @item of @ino with one more reference, if there is one. */
static struct jfs_rendering *rendering_find(struct jfs *fs, fuse_ino_t ino, const json_t *item)
{
	uint64_t hash = rendering_hash(ino, item);
	struct jfs_rendering *r;
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&fs->handles.renderings, node, hash) {
		r = jfs_container_of(node, struct jfs_rendering, hnode);
		if (r->ino == ino && r->item == item) {
			r->refs++;
			return r;
		}
	}
	return NULL;
}

/* The shared rendering of version @item of @ino, made from @buf when there is room, or NULL. */
static struct jfs_rendering *rendering_get(struct jfs *fs, fuse_ino_t ino, json_t *item,
					   const char *buf, size_t len)
{
	struct jfs_handles *hs = &fs->handles;
	uint64_t hash = rendering_hash(ino, item);
	struct jfs_rendering *r = rendering_find(fs, ino, item);

	if (r)
		return r;
	if (len > fs->opts.snapshot_max || hs->rendered_bytes > fs->opts.snapshot_max - len)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->buf = malloc(len + 1);
	if (!r->buf) {
		free(r);
		return NULL; /* rendered for each read instead */
	}
	memcpy(r->buf, buf, len);
	r->len = len;
	r->ino = ino;
	r->item = json_incref(item);
	r->refs = 1;
	hs->rendered_bytes += len;
	jfs_hmap_add(&hs->renderings, &r->hnode, hash);
	return r;
}

static void rendering_put(struct jfs *fs, struct jfs_rendering *r)
{
	if (!r || --r->refs)
		return;
	jfs_hmap_remove(&fs->handles.renderings, &r->hnode);
	fs->handles.rendered_bytes -= r->len;
	json_decref(r->item);
	free(r->buf);
	free(r);
}

struct jfs_handle *jfs_handle_open_snapshot(struct jfs *fs, struct jfs_user *u, fuse_ino_t ino,
					    json_t *item, const char *buf, size_t len)
{
	struct jfs_handle *h = handle_new(fs, u, ino, JFS_H_SNAPSHOT);

	h->version = json_incref(item);
	h->r = rendering_get(fs, ino, item, buf, len);
	return h;
}

struct jfs_handle *jfs_handle_share_snapshot(struct jfs *fs, struct jfs_user *u, fuse_ino_t ino,
					     json_t *item, size_t *len)
{
	struct jfs_rendering *r = rendering_find(fs, ino, item);
	struct jfs_handle *h;

	if (!r)
		return NULL;
	h = handle_new(fs, u, ino, JFS_H_SNAPSHOT);
	h->version = json_incref(item);
	h->r = r;
	*len = r->len;
	return h;
}

int jfs_handle_read(struct jfs *fs, struct jfs_handle *h, off_t off, size_t size, char **buf,
		    size_t *len)
{
	const char *src;
	char *whole = NULL;
	size_t all;

	if (h->kind == JFS_H_SNAPSHOT && !h->r) {
		whole = jfs_node_render(fs, h->version, jfs_ino_sub(h->ino), &all);
		if (!whole)
			return -ENOENT;
		src = whole;
	} else {
		src = h->kind == JFS_H_SNAPSHOT ? h->r->buf : h->data.buf;
		all = h->kind == JFS_H_SNAPSHOT ? h->r->len : h->data.len;
	}
	/* only the piece asked for: a large file is read in many pieces */
	*len = (size_t)off >= all ? 0 : all - (size_t)off < size ? all - (size_t)off : size;
	*buf = malloc(*len + 1);
	if (!*buf) {
		free(whole);
		return -ENOMEM;
	}
	if (*len)
		memcpy(*buf, src + off, *len);
	free(whole);
	return 0;
}

void jfs_handle_free(struct jfs *fs, struct jfs_handle *h)
{
	struct jfs_handle **pp;

	__atomic_sub_fetch(&fs->handles.nhandles, 1, __ATOMIC_RELAXED);
	for (pp = &h->u->handles; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	jfs_buf_release(fs, &h->data);
	json_decref(h->seen);
	json_decref(h->version);
	rendering_put(fs, h->r);
	free(h);
}

bool jfs_handles_any(struct jfs *fs)
{
	return __atomic_load_n(&fs->handles.nhandles, __ATOMIC_RELAXED) > 0;
}

struct jfs_handle *jfs_handle_writer(struct jfs_user *u, fuse_ino_t ino)
{
	struct jfs_handle *h;

	for (h = u->handles; h; h = h->next)
		if (h->ino == ino && h->kind == JFS_H_WRITE)
			return h;
	return NULL;
}

/*
 * The kernel keeps O_TRUNC out of OPEN and sends it as a truncate right
 * after, from the same thread: that is a truncate of a handle that thread
 * just opened and has not used.
 */
struct jfs_handle *jfs_handle_truncating_open(struct jfs_user *u, fuse_ino_t ino, pid_t pid)
{
	struct jfs_handle *h;

	for (h = u->handles; h; h = h->next)
		if (h->kind == JFS_H_WRITE && h->ino == ino && h->opener == pid &&
		    (h->state == JFS_W_FRESH || h->state == JFS_W_TRUNCATED))
			return h;
	return NULL;
}

/* @data goes from @from to @to bytes: 0, or -ENOSPC when that is past scratch_max. */
static int account(struct jfs *fs, size_t from, size_t to)
{
	struct jfs_handles *hs = &fs->handles;

	if (to > from) {
		if (to - from > fs->opts.scratch_max - hs->buffered)
			return -ENOSPC;
		hs->buffered += to - from;
	} else {
		hs->buffered -= from - to;
	}
	return 0;
}

int jfs_buf_resize(struct jfs *fs, struct jfs_strbuf *data, size_t size)
{
	size_t old = data->len;
	int rc = account(fs, old, size);

	if (rc)
		return rc;
	jfs_strbuf_setlen(data, size);
	if (size > old)
		memset(data->buf + old, 0, size - old);
	return 0;
}

int jfs_buf_write(struct jfs *fs, struct jfs_strbuf *data, const char *buf, size_t size,
		  off_t off)
{
	size_t end = (size_t)off + size;
	int rc;

	if (end > data->len && (rc = jfs_buf_resize(fs, data, end)))
		return rc;
	memcpy(data->buf + off, buf, size);
	return 0;
}

int jfs_buf_set(struct jfs *fs, struct jfs_strbuf *data, const char *buf, size_t len)
{
	int rc = account(fs, data->len, len);

	if (rc)
		return rc;
	jfs_strbuf_setlen(data, 0);
	jfs_strbuf_add(data, buf, len);
	return 0;
}

void jfs_buf_release(struct jfs *fs, struct jfs_strbuf *data)
{
	account(fs, data->len, 0);
	jfs_strbuf_release(data);
}

int jfs_handle_write(struct jfs *fs, struct jfs_handle *h, const char *buf, size_t size,
		     off_t off)
{
	int rc;

	if ((size_t)off + size > fs->opts.max_file_size)
		return -EFBIG;
	rc = jfs_buf_write(fs, &h->data, buf, size, off);
	if (rc == 0)
		h->state = JFS_W_DIRTY;
	return rc;
}

struct jfs_read_copy *jfs_read_copy_get(struct jfs *fs, fuse_ino_t ino, int64_t max_age_ms)
{
	int64_t now = jfs_mono_ms();
	size_t i;

	for (i = 0; i < JFS_READ_COPIES; i++) {
		struct jfs_read_copy *c = &fs->handles.read_copy[i];

		if (c->buf && c->ino == ino && now - c->at_ms <= max_age_ms)
			return c;
	}
	return NULL;
}

int jfs_read_copy_dup(const struct jfs_read_copy *c, off_t off, size_t size, char **buf,
		      size_t *len)
{
	*len = (size_t)off >= c->len ? 0 : c->len - (size_t)off < size ? c->len - (size_t)off : size;
	*buf = malloc(*len + 1);
	if (!*buf)
		return -ENOMEM;
	if (*len)
		memcpy(*buf, c->buf + off, *len);
	return 0;
}

void jfs_read_copy_put(struct jfs *fs, fuse_ino_t ino, const char *buf, size_t len)
{
	struct jfs_handles *hs = &fs->handles;
	struct jfs_read_copy *c = NULL;
	char *copy = malloc(len + 1);
	size_t i;

	if (!copy)
		return; /* only a cache */
	memcpy(copy, buf, len);
	for (i = 0; i < JFS_READ_COPIES && !c; i++)
		if (hs->read_copy[i].buf && hs->read_copy[i].ino == ino)
			c = &hs->read_copy[i];
	if (!c)
		c = &hs->read_copy[hs->read_copy_next++ % JFS_READ_COPIES];
	free(c->buf);
	c->ino = ino;
	c->buf = copy;
	c->len = len;
	c->at_ms = jfs_mono_ms();
}

void jfs_handles_release(struct jfs *fs, struct jfs_user *u)
{
	size_t i;

	if (u) {
		while (u->handles)
			jfs_handle_free(fs, u->handles);
		return;
	}
	jfs_hmap_release(&fs->handles.renderings);
	for (i = 0; i < JFS_READ_COPIES; i++) {
		free(fs->handles.read_copy[i].buf);
		fs->handles.read_copy[i].buf = NULL;
	}
}
