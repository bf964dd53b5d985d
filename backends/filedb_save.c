/*
 * FileDb: the atomic-replace writer (git's lockfile/tempfile). A save takes
 * the pending changes as copies (struct save_op), writes the whole file
 * anew from the current snapshot into a temporary file next to it with no
 * lock held (unchanged items are copied byte for byte, in the kernel where
 * it can), fsyncs it, and renames it over the file only if the file is
 * still the version the snapshot describes; then fsyncs the directory. A
 * crash leaves the old or the new file, never a torn one. The write-back
 * thread runs saves when they are due, and sync() and close() wait for it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "backends/filedb-internal.h"
#include "backends/filedb_scan.h"
#include "common/clock.h"
#include "common/hmap.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strbuf.h"

#define IO_CHUNK (1u << 20)
#define SAVE_ATTEMPTS 5

int jfs_fdb_write_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

struct out_file {
	int fd;
	char *buf;
	size_t len;
	uint64_t pos;   /* bytes in the file + buffered */
	uint64_t flushed;
};

static int out_flush(struct out_file *o)
{
	int ret = jfs_fdb_write_full(o->fd, o->buf, o->len, o->flushed);

	if (!ret) {
		o->flushed += o->len;
		o->len = 0;
	}
	return ret;
}

static int out_add(struct out_file *o, const void *p, size_t len)
{
	int ret;

	if (o->len + len > IO_CHUNK) {
		if ((ret = out_flush(o)))
			return ret;
		if (len > IO_CHUNK) {
			ret = jfs_fdb_write_full(o->fd, p, len, o->flushed);
			if (!ret) {
				o->flushed += len;
				o->pos += len;
			}
			return ret;
		}
	}
	memcpy(o->buf + o->len, p, len);
	o->len += len;
	o->pos += len;
	return 0;
}

/* Copy @len bytes at @off of @src to the end of @o, in the kernel when it can. */
static int out_copy(struct out_file *o, int src, uint64_t off, uint64_t len)
{
	loff_t in = (loff_t)off, outp;
	int ret;

	if ((ret = out_flush(o)))
		return ret;
	outp = (loff_t)o->flushed;
	while (len) {
		ssize_t n = copy_file_range(src, &in, o->fd, &outp, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
			    errno == EOPNOTSUPP || errno == EBADF)
				break;
			return -errno;
		}
		if (!n)
			return -EAGAIN; /* the source got shorter: it changed */
		len -= (uint64_t)n;
		o->flushed += (uint64_t)n;
		o->pos += (uint64_t)n;
	}
	/* fallback: pread/pwrite through the buffer */
	while (len) {
		size_t n = len < IO_CHUNK ? (size_t)len : IO_CHUNK;

		if ((ret = jfs_fdb_pread_full(src, o->buf, n, (uint64_t)in)))
			return ret;
		if ((ret = jfs_fdb_write_full(o->fd, o->buf, n, o->flushed)))
			return ret;
		in += (loff_t)n;
		len -= n;
		o->flushed += n;
		o->pos += n;
	}
	return 0;
}

static int cmp_create_seq(const void *a, const void *b)
{
	const struct save_op *x = *(struct save_op *const *)a, *y = *(struct save_op *const *)b;

	return x->create_seq < y->create_seq ? -1 : x->create_seq > y->create_seq;
}

static int out_item(struct out_file *o, struct jfs_fdb_index *nidx, bool *first, const char *id,
		    const json_t *item, uint64_t *hash, uint64_t *len)
{
	struct jfs_fdb_entry e;
	struct jfs_strbuf sb;
	int ret;

	if ((ret = out_add(o, *first ? "\n  " : ",\n  ", *first ? 3 : 4)))
		return ret;
	jfs_strbuf_init(&sb);
	jfs_json_dump(item, &sb, 2, 1);
	memset(&e, 0, sizeof(e));
	e.off = o->pos;
	e.len = sb.len;
	e.hash = jfs_fdb_hash(sb.buf, sb.len);
	e.created_ms = jfs_fdb_item_time(item, "createdAt");
	e.updated_ms = jfs_fdb_item_time(item, "updatedAt");
	e.flags = *first ? 0 : JFS_FDB_STD_GAP;
	*hash = e.hash;
	*len = e.len;
	ret = out_add(o, sb.buf, sb.len);
	jfs_strbuf_release(&sb);
	if (!ret && jfs_fdb_index_add(nidx, &e, id, strlen(id)))
		ret = -EEXIST;
	*first = false;
	return ret;
}

/*
 * Write the file @s with @ops applied to the open temp file @fd, laid out
 * as JSON.stringify(users, null, 2) does, and fsync it. Fills @nidx with
 * the new offsets.
 */
static int write_items(struct filedb_store *st, struct out_file *o, struct fdb_snap *s,
		       struct save_op *ops, size_t nops, struct jfs_fdb_index *nidx,
		       struct jfs_err *err)
{
	const struct jfs_fdb_index *idx = &s->idx;
	struct save_op **puts = NULL;
	long *op_at = NULL;
	size_t i, j, m, nputs = 0;
	bool first = true;
	int ret;

	op_at = malloc((idx->n ? idx->n : 1) * sizeof(*op_at));
	puts = malloc((nops ? nops : 1) * sizeof(*puts));
	if (!op_at || !puts)
		abort();
	for (i = 0; i < idx->n; i++)
		op_at[i] = -1;
	for (i = 0; i < nops; i++) {
		long k = jfs_fdb_index_find(idx, ops[i].id, strlen(ops[i].id));

		if (k >= 0)
			op_at[k] = (long)i;
		if (ops[i].kind == P_PUT)
			puts[nputs++] = &ops[i];
	}
	qsort(puts, nputs, sizeof(*puts), cmp_create_seq);

	if ((ret = out_add(o, "[", 1)))
		goto out_free;
	for (i = 0; i < idx->n; i++) {
		if (op_at[i] < 0) {
			uint64_t start;

			/* a run of unchanged items, separated as we would: one copy */
			for (j = i; j + 1 < idx->n && op_at[j + 1] < 0 &&
			     (idx->items[j + 1].flags & JFS_FDB_STD_GAP); j++)
				;
			if ((ret = out_add(o, first ? "\n  " : ",\n  ", first ? 3 : 4)))
				goto out_free;
			start = o->pos;
			for (m = i; m <= j; m++) {
				struct jfs_fdb_entry e = idx->items[m];

				e.off = start + (idx->items[m].off - idx->items[i].off);
				e.flags = (e.flags & JFS_FDB_NO_ID) |
					  (first && m == i ? 0 : JFS_FDB_STD_GAP);
				if (jfs_fdb_index_add(nidx, &e, jfs_fdb_index_id(idx, m),
						      e.id_len)) {
					ret = -EEXIST;
					goto out_free;
				}
			}
			ret = out_copy(o, s->fd, idx->items[i].off,
				       idx->items[j].off + idx->items[j].len - idx->items[i].off);
			if (ret)
				goto out_free;
			first = false;
			i = j;
			continue;
		}
		struct save_op *op = &ops[op_at[i]];
		json_t *item, *res;

		if (op->kind != P_MODIFY)
			continue; /* removed, or replaced by a new item at the end */
		/* the record as in the file, with the patch applied once more */
		if (idx->items[i].hash != op->base_hash) {
			ret = -EAGAIN;
			goto out_free;
		}
		if ((ret = jfs_fdb_snap_read_item(st, s, i, &item, err)))
			goto out_free;
		res = jfs_fdb_apply(item, op->set, op->unset);
		json_decref(item);
		ret = out_item(o, nidx, &first, op->id, res, &op->hash, &op->len);
		json_decref(res);
		if (ret)
			goto out_free;
		op->written = true;
	}
	for (i = 0; i < nputs; i++) {
		if ((ret = out_item(o, nidx, &first, puts[i]->id, puts[i]->result, &puts[i]->hash,
				    &puts[i]->len)))
			goto out_free;
		puts[i]->written = true;
	}
	ret = first ? out_add(o, "]", 1) : out_add(o, "\n]", 2);
	if (!ret)
		ret = out_flush(o);
	if (!ret && fsync(o->fd))
		ret = -errno;
	nidx->size = o->pos;
out_free:
	free(op_at);
	free(puts);
	return ret;
}

/* Under lock, after a save of @ops: what is saved leaves the pending set. */
static void pend_after_save(struct filedb_store *st, struct save_op *ops, size_t nops)
{
	int64_t now = jfs_mono_ms();
	const char *key;
	json_t *val;
	size_t i, j;

	for (i = 0; i < nops; i++) {
		struct save_op *op = &ops[i];
		struct fdb_pending *e = jfs_fdb_pend_find(st, op->id);

		if (op->written && op->kind == P_MODIFY)
			jfs_fdb_guard_saved(st, op, now);
		if (!e)
			continue;
		if (e->version == op->version) {
			jfs_fdb_pend_del(st, e);
			continue;
		}
		/* changed again while we saved: now relative to what we wrote */
		if (op->written)
			e->since_ms = e->touched_ms; /* what is left is the later change */
		if (op->written && op->kind == P_MODIFY && e->kind == P_MODIFY) {
			json_object_foreach(op->set, key, val)
				json_object_set_new(e->base, key, json_deep_copy(val));
			json_array_foreach(op->unset, j, val)
				json_object_del(e->base, json_string_value(val));
			e->base_hash = op->hash;
		} else if (op->written && e->kind == P_PUT && op->kind == P_PUT &&
			   e->put_version <= op->version) {
			/* the new item is in the file now: later edits modify it */
			e->kind = P_MODIFY;
			e->replace = false;
			e->base = json_object();
			jfs_fdb_pend_rebase_onto(e, op->result, op->hash);
			json_decref(e->result);
			e->result = NULL;
		} else if (op->written && e->kind == P_PUT) {
			e->replace = true;
		} else if (op->kind == P_REMOVE && e->kind == P_PUT) {
			e->replace = false;
		}
	}
	st->due_ms = st->pending.n ? jfs_mono_ms() + st->write_delay_ms : 0;
}

/* Wait until the clock's tick is past @m, so a later write changes the mtime. */
static void wait_tick_past(const struct timespec *m)
{
	struct timespec now;
	int i;

	for (i = 0; i < 100; i++) {
		clock_gettime(CLOCK_REALTIME_COARSE, &now);
		if (jfs_fdb_ts_cmp(&now, m) > 0)
			return;
		jfs_sleep_ms(1);
	}
}

static void free_ops(struct save_op *ops, size_t nops)
{
	size_t i;

	for (i = 0; i < nops; i++) {
		free(ops[i].id);
		json_decref(ops[i].set);
		json_decref(ops[i].unset);
		json_decref(ops[i].base);
		json_decref(ops[i].result);
	}
	free(ops);
}

int jfs_fdb_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

int jfs_fdb_target(struct filedb_store *st, char **path, char **dir, struct jfs_err *err)
{
	struct stat lsb;
	char *p, *d, *slash;

	if (lstat(st->path, &lsb) == 0 && S_ISLNK(lsb.st_mode)) {
		p = realpath(st->path, NULL);
		if (!p) {
			int e = errno;

			return jfs_err_set(err, e == ENOENT ? EIO : e, "'%s' is a symbolic link "
					   "that does not lead to a file: %s", st->path, strerror(e));
		}
	} else if (!(p = strdup(st->path))) {
		abort();
	}
	if (!(d = strdup(p)))
		abort();
	slash = strrchr(d, '/');
	if (slash == d)
		slash[1] = '\0';
	else
		*slash = '\0';
	*path = p;
	*dir = d;
	return 0;
}

/* Whether this process is in group @gid. */
static bool in_group(gid_t gid)
{
	gid_t groups[NGROUPS_MAX];
	int n = getgroups(NGROUPS_MAX, groups), i;

	if (gid == getegid())
		return true;
	for (i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

int jfs_fdb_can_keep_owner(const struct filedb_store *st, const struct fdb_ident *id,
			   struct jfs_err *err)
{
	uid_t euid = geteuid();

	if (euid == 0 || !id->ino)
		return 0;
	if (id->uid != euid)
		return jfs_err_set(err, EACCES, "cannot save '%s': a save replaces the file, and "
				   "jovofs (uid %u) cannot give the new file its owner (uid %u); "
				   "run jovofs as that user or as root", st->path,
				   (unsigned)euid, (unsigned)id->uid);
	if (!in_group(id->gid))
		return jfs_err_set(err, EACCES, "cannot save '%s': a save replaces the file, and "
				   "jovofs (uid %u) is not in its group (gid %u) to give it "
				   "to the new file; run jovofs as a member of that group or as "
				   "root", st->path, (unsigned)euid, (unsigned)id->gid);
	return 0;
}

/*
 * The new file gets the old one's mode, owner and group: a save that
 * cannot give it them fails (the file is not replaced).
 */
static int keep_owner(struct filedb_store *st, int fd, const struct fdb_ident *id,
		      struct jfs_err *err)
{
	struct stat sb;
	int ret;

	if ((ret = jfs_fdb_can_keep_owner(st, id, err)))
		return ret;
	if (fchmod(fd, id->mode ? id->mode : 0644))
		return jfs_err_set(err, errno, "cannot set the mode of a new '%s': %s", st->path,
				   strerror(errno));
	if (id->ino && fstat(fd, &sb) == 0 && (sb.st_uid != id->uid || sb.st_gid != id->gid) &&
	    fchown(fd, id->uid, id->gid))
		return jfs_err_set(err, errno, "cannot save '%s': cannot give the new file its "
				   "owner and group (uid %u, gid %u): %s", st->path,
				   (unsigned)id->uid, (unsigned)id->gid, strerror(errno));
	/* fchown() clears set-id bits: give the mode again */
	if (id->mode & 06000 && fchmod(fd, id->mode))
		return jfs_err_set(err, errno, "cannot set the mode of a new '%s': %s", st->path,
				   strerror(errno));
	return 0;
}

/*
 * One attempt at saving all pending changes. Returns 0 (saved or nothing
 * to save), -EAGAIN when the file changed under it (try again), or
 * another -errno.
 */
static int save_once(struct filedb_store *st, struct jfs_err *err)
{
	struct fdb_snap *s, *ns = NULL, *old;
	struct save_op *ops = NULL;
	struct jfs_fdb_index nidx;
	struct out_file o = { .fd = -1 };
	struct fdb_ident now;
	struct jfs_hnode *node;
	struct stat sb;
	size_t nops = 0;
	char *tmp = NULL, *target = NULL, *tdir = NULL;
	int64_t t0;
	int ret;

	if ((ret = jfs_fdb_refresh(st, false, err)))
		return ret;
	jfs_fdb_index_init(&nidx);
	t0 = jfs_mono_ms();

	pthread_mutex_lock(&st->lock);
	if (!st->pending.n) {
		pthread_mutex_unlock(&st->lock);
		return 0;
	}
	s = st->cur;
	jfs_fdb_snap_get(s);
	ops = calloc(st->pending.n, sizeof(*ops));
	if (!ops)
		abort();
	jfs_hmap_for_each(&st->pending, node) {
		struct fdb_pending *e = jfs_fdb_pend_of(node);
		struct save_op *op = &ops[nops++];

		if (!(op->id = strdup(e->id)))
			abort();
		op->kind = e->kind;
		op->replace = e->replace;
		op->version = e->version;
		op->create_seq = e->create_seq;
		if (e->kind == P_MODIFY) {
			/* deep: no value shared with other threads, not even its refcount */
			op->set = json_deep_copy(e->set);
			op->unset = json_deep_copy(e->unset);
			op->base = json_deep_copy(e->base);
			op->base_hash = e->base_hash;
			op->reapply = e->reapply;
		}
		op->result = json_incref(e->result);
	}
	pthread_mutex_unlock(&st->lock);

	/* write the new file from the snapshot, holding no lock, next to the
	 * file itself (the target of a link) */
	if ((ret = jfs_fdb_target(st, &target, &tdir, err)))
		goto out_free;
	{
		struct jfs_strbuf t;
		char *base = strrchr(target, '/') + 1;

		jfs_strbuf_init(&t);
		jfs_strbuf_addf(&t, "%s/.%s.jovofs-XXXXXX", tdir, base);
		tmp = jfs_strbuf_detach(&t, NULL);
	}
	o.fd = mkostemp(tmp, O_CLOEXEC);
	if (o.fd < 0) {
		ret = jfs_err_set(err, errno, "cannot create a temporary file next to '%s': %s",
				  target, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out_free;
	}
	if ((ret = keep_owner(st, o.fd, &s->ident, err)))
		goto out_unlink;
	o.buf = malloc(IO_CHUNK);
	if (!o.buf)
		abort();
	ret = write_items(st, &o, s, ops, nops, &nidx, err);
	if (ret) {
		if (ret != -EAGAIN && ret != -EIO)
			jfs_err_set(err, -ret, "cannot write a new '%s': %s", st->path,
				    strerror(-ret));
		goto out_unlink;
	}
	if (fstat(o.fd, &sb)) {
		ret = jfs_err_set(err, errno, "cannot stat the new '%s': %s", st->path,
				  strerror(errno));
		goto out_unlink;
	}
	wait_tick_past(&sb.st_mtim);

	/* the file must still be the one the snapshot describes */
	pthread_mutex_lock(&st->scan_lock);
	ret = jfs_fdb_stat_path(st, &now, NULL);
	pthread_mutex_lock(&st->lock);
	if (ret || st->cur != s || !jfs_fdb_ident_eq(&now, &s->ident)) {
		pthread_mutex_unlock(&st->lock);
		pthread_mutex_unlock(&st->scan_lock);
		ret = -EAGAIN;
		goto out_unlink;
	}
	pthread_mutex_unlock(&st->lock);
	if (rename(tmp, target)) {
		ret = jfs_err_set(err, errno, "cannot replace '%s': %s", target, strerror(errno));
		pthread_mutex_unlock(&st->scan_lock);
		goto out_unlink;
	}
	free(tmp);
	tmp = NULL;
	ret = jfs_fdb_fsync_dir(tdir);
	if (ret)
		jfs_log(LOG_WARNING, "filedb: cannot fsync '%s': %s", tdir, strerror(-ret));
	ret = 0;

	ns = jfs_fdb_snap_new();
	ns->fd = o.fd;
	o.fd = -1;
	if (fstat(ns->fd, &sb) == 0)
		jfs_fdb_ident_from_stat(&ns->ident, &sb);
	ns->idx = nidx;
	jfs_fdb_index_init(&nidx);

	jfs_log(LOG_DEBUG, "filedb: saved %zu change(s) to '%s': %zu items, %" PRIu64
		" bytes in %" PRId64 " ms", nops, st->path, ns->idx.n, ns->idx.size,
		jfs_mono_ms() - t0);
	pthread_mutex_lock(&st->lock);
	old = st->cur;
	st->cur = ns;
	st->bad = false;
	pend_after_save(st, ops, nops);
	pthread_mutex_unlock(&st->lock);
	pthread_mutex_unlock(&st->scan_lock);
	jfs_fdb_snap_put(old);
	goto out_free;

out_unlink:
	if (tmp)
		unlink(tmp);
out_free:
	if (o.fd >= 0)
		close(o.fd);
	free(o.buf);
	free(tmp);
	free(target);
	free(tdir);
	jfs_fdb_index_release(&nidx);
	free_ops(ops, nops);
	jfs_fdb_snap_put(s);
	return ret;
}

/* Save all pending changes; retries while the file changes under it. */
int jfs_fdb_save(struct filedb_store *st, struct jfs_err *err)
{
	int ret = -EAGAIN, i;

	pthread_mutex_lock(&st->save_lock);
	for (i = 0; i < SAVE_ATTEMPTS && ret == -EAGAIN; i++)
		ret = save_once(st, err);
	if (ret == -EAGAIN)
		ret = jfs_err_set(err, EIO, "'%s' kept changing while being saved", st->path);
	pthread_mutex_unlock(&st->save_lock);
	return ret;
}

/*
 * Under lock: a save failed. Every change it held is reported lost once
 * (failures()), though it stays pending and the save is retried: whoever
 * made it learns that it is not on disk yet.
 */
void jfs_fdb_save_failed(struct filedb_store *st, const struct jfs_err *e)
{
	struct jfs_hnode *node;

	st->fail_gen++;
	st->save_err = *e;
	if (!st->save_err.code)
		st->save_err.code = EIO;
	jfs_log(LOG_ERR, "filedb: cannot save '%s': %s", st->path, st->save_err.msg);
	jfs_hmap_for_each(&st->pending, node) {
		struct fdb_pending *p = jfs_fdb_pend_of(node);

		if (!p->fail_reported) {
			p->fail_reported = true;
			jfs_fdb_fail_add_new(st, p->id, jfs_fdb_pend_keys(p), &st->save_err);
		}
	}
}

void *jfs_fdb_writer_main(void *arg)
{
	struct filedb_store *st = arg;
	struct jfs_err e;
	int ret;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		int64_t now = jfs_mono_ms();

		if (!st->pending.n) {
			if (st->stop)
				break;
			pthread_cond_wait(&st->wake, &st->lock);
			continue;
		}
		/* something is pending: sleep until its save is due, never longer */
		if (!st->due_ms)
			st->due_ms = now + st->write_delay_ms;
		if (!st->stop && !st->urgent && now < st->due_ms) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (st->due_ms - now) / 1000;
			ts.tv_nsec += ((st->due_ms - now) % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&st->wake, &st->lock, &ts);
			continue;
		}
		st->urgent = false;
		pthread_mutex_unlock(&st->lock);
		jfs_err_clear(&e);
		ret = jfs_fdb_save(st, &e);
		pthread_mutex_lock(&st->lock);
		if (ret) {
			jfs_fdb_save_failed(st, &e);
			if (st->stop)
				break; /* close() tries once more and reports */
			/* try again later, not in a tight loop */
			st->due_ms = jfs_mono_ms() + (st->write_delay_ms > 1000 ? st->write_delay_ms : 1000);
		}
		pthread_cond_broadcast(&st->saved);
	}
	st->running = false;
	pthread_cond_broadcast(&st->saved);
	pthread_mutex_unlock(&st->lock);
	return NULL;
}
