/*
 * FileDb: the file as last scanned (git's packed-backend.c "struct
 * snapshot"). A snapshot is an index of one version of the file plus an
 * open descriptor of that version, shared by reference count: readers
 * pread items from it without a lock while a rescan or a save publishes
 * the next one. A scan retries while the file is half-written or changes
 * under it, and marks a snapshot "racy" when the file was written in the
 * scan's clock tick (a later write may then leave size and mtime alone).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "backends/filedb-internal.h"
#include "backends/filedb_scan.h"
#include "common/clock.h"
#include "common/json.h"

int jfs_fdb_ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

void jfs_fdb_ident_from_stat(struct fdb_ident *id, const struct stat *sb)
{
	memset(id, 0, sizeof(*id));
	id->dev = sb->st_dev;
	id->ino = sb->st_ino;
	id->size = sb->st_size;
	id->mtim = sb->st_mtim;
	id->mode = sb->st_mode & 07777;
	id->uid = sb->st_uid;
	id->gid = sb->st_gid;
}

bool jfs_fdb_ident_eq(const struct fdb_ident *a, const struct fdb_ident *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       !jfs_fdb_ts_cmp(&a->mtim, &b->mtim);
}

/* The file's identity now; a missing file has a zero identity. */
int jfs_fdb_stat_path(struct filedb_store *st, struct fdb_ident *id, struct jfs_err *err)
{
	struct stat sb;

	if (stat(st->path, &sb)) {
		int e = errno;

		memset(id, 0, sizeof(*id));
		return jfs_err_set(err, e == ENOENT ? EIO : e, "cannot stat '%s': %s", st->path,
				   strerror(e));
	}
	jfs_fdb_ident_from_stat(id, &sb);
	return 0;
}

int jfs_fdb_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			return -EAGAIN; /* the file got shorter: it changed */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

void jfs_fdb_snap_get(struct fdb_snap *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void jfs_fdb_snap_put(struct fdb_snap *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (s->fd >= 0)
		close(s->fd);
	jfs_fdb_index_release(&s->idx);
	free(s);
}

struct fdb_snap *jfs_fdb_snap_new(void)
{
	struct fdb_snap *s = calloc(1, sizeof(*s));

	if (!s)
		abort();
	s->refs = 1;
	s->fd = -1;
	jfs_fdb_index_init(&s->idx);
	return s;
}

/*
 * Read item @i of @s and parse it. Returns 0 and a new reference in *@out;
 * -EAGAIN when the bytes are no longer what the scan saw (the file changed
 * in place); -EIO when the item does not parse.
 */
int jfs_fdb_snap_read_item(struct filedb_store *st, struct fdb_snap *s, size_t i, json_t **out,
			   struct jfs_err *err)
{
	const struct jfs_fdb_entry *e = &s->idx.items[i];
	char *buf = malloc(e->len ? e->len : 1);
	int ret;

	if (!buf)
		abort();
	ret = jfs_fdb_pread_full(s->fd, buf, e->len, e->off);
	if (ret) {
		if (ret != -EAGAIN)
			jfs_err_set(err, -ret, "cannot read '%s': %s", st->path, strerror(-ret));
		goto out_free;
	}
	if (jfs_fdb_hash(buf, e->len) != e->hash) {
		ret = -EAGAIN;
		goto out_free;
	}
	ret = jfs_json_parse(buf, e->len, out, err);
	if (ret) {
		jfs_err_prefix(err, "cannot parse item '%s' of '%s' (offset %" PRIu64 ")",
			       jfs_fdb_index_id(&s->idx, i), st->path, e->off);
		ret = -EIO;
		if (err)
			err->code = EIO;
	} else if (!json_is_object(*out)) {
		json_decref(*out);
		ret = jfs_err_set(err, EIO, "item '%s' of '%s' is not an object",
				  jfs_fdb_index_id(&s->idx, i), st->path);
	}
out_free:
	free(buf);
	return ret;
}

/* One scan of the file as it is now, into a new snapshot. */
static int scan_once(struct filedb_store *st, struct fdb_snap **out, struct fdb_ident *seen,
		     struct jfs_err *err)
{
	struct fdb_ident id2, idp;
	struct timespec tick;
	struct fdb_snap *s;
	struct stat sb;
	int ret;

	memset(seen, 0, sizeof(*seen));
	clock_gettime(CLOCK_REALTIME_COARSE, &tick);
	s = jfs_fdb_snap_new();
	s->fd = open(st->path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		ret = jfs_err_set(err, errno, "cannot open '%s': %s", st->path, strerror(errno));
		goto out_put;
	}
	if (fstat(s->fd, &sb)) {
		ret = jfs_err_set(err, errno, "cannot stat '%s': %s", st->path, strerror(errno));
		goto out_put;
	}
	jfs_fdb_ident_from_stat(&s->ident, &sb);
	*seen = s->ident;
	ret = jfs_fdb_scan_fd(s->fd, &s->idx, err);
	if (ret) {
		jfs_err_prefix(err, "'%s'", st->path);
		goto out_put;
	}
	if (fstat(s->fd, &sb) ||
	    (jfs_fdb_ident_from_stat(&id2, &sb), !jfs_fdb_ident_eq(&id2, &s->ident)) ||
	    jfs_fdb_stat_path(st, &idp, NULL) || !jfs_fdb_ident_eq(&idp, &s->ident)) {
		ret = jfs_err_set(err, EAGAIN, "'%s' changed while being read", st->path);
		goto out_put;
	}
	/* a write in the same clock tick would leave size and mtime alone */
	s->racy = jfs_fdb_ts_cmp(&s->ident.mtim, &tick) >= 0;
	*out = s;
	return 0;
out_put:
	jfs_fdb_snap_put(s);
	return ret;
}

/*
 * Scan, retrying with short sleeps up to st->retry_ms while the file is
 * half-written or changing. *@seen is the identity of the last attempt.
 */
int jfs_fdb_scan_retry(struct filedb_store *st, struct fdb_snap **out, struct fdb_ident *seen,
		       struct jfs_err *err)
{
	static const int64_t delays[] = { 20, 50, 100, 200, 400 };
	int64_t slept = 0, d;
	unsigned n = 0;
	int ret;

	for (;;) {
		jfs_err_clear(err);
		ret = scan_once(st, out, seen, err);
		if (!ret || slept >= st->retry_ms)
			return ret;
		d = delays[n < 5 ? n : 4];
		n++;
		if (d > st->retry_ms - slept)
			d = st->retry_ms - slept;
		jfs_sleep_ms(d);
		slept += d;
	}
}

/* Under lock: ids whose bytes differ between @old and @new go to st->changed. */
void jfs_fdb_diff_indexes(struct filedb_store *st, const struct jfs_fdb_index *old,
			  const struct jfs_fdb_index *new)
{
	size_t i, matched = 0;

	for (i = 0; i < new->n; i++) {
		const struct jfs_fdb_entry *e = &new->items[i];
		const char *id = jfs_fdb_index_id(new, i);
		long j;

		if (e->flags & JFS_FDB_NO_ID)
			continue; /* no user */
		/* Jovo keeps the order: try the same position before the table */
		if (i < old->n && !(old->items[i].flags & JFS_FDB_NO_ID) &&
		    old->items[i].id_len == e->id_len &&
		    !memcmp(jfs_fdb_index_id(old, i), id, e->id_len))
			j = (long)i;
		else
			j = jfs_fdb_index_find(old, id, e->id_len);
		if (j >= 0)
			matched++;
		if (j < 0 || old->items[j].hash != e->hash)
			jfs_fdb_changed_add(st, id);
	}
	if (matched == old->n - old->no_id)
		return; /* ids are unique: nothing was removed */
	for (i = 0; i < old->n; i++)
		if (!(old->items[i].flags & JFS_FDB_NO_ID) &&
		    jfs_fdb_index_find(new, jfs_fdb_index_id(old, i), old->items[i].id_len) < 0)
			jfs_fdb_changed_add(st, jfs_fdb_index_id(old, i));
}
