/*
 * FileDb: Jovo's JSON-array file, read through a byte-offset index.
 *
 * The file is never held as a tree: filedb_scan.c indexes where each
 * item's text is; load() preads one item and parses it. Accepted edits
 * gather in a pending set (per id: the element-level patch and the
 * resulting item) that load/list see at once; a write-back thread saves
 * them together in one atomic replace, copying unchanged items byte for
 * byte. A running Jovo app rewrites the file in place without a lock:
 * every use of the index first compares the file's identity (inode, size,
 * mtime) with the scanned one and rescans when it differs; pending edits
 * are then re-applied onto the fresh records, or dropped with ESTALE when
 * the edited element itself changed. Such an app writes back the copy it
 * read, so a save that lands between its read and its write is undone:
 * saved edits stay guarded for a while (struct fdb_guard) and are applied
 * again when a rescan finds their keys back at a value from before a save.
 *
 * This file holds the ops table, the store's lifecycle and the ops;
 * jfs_fdb_refresh() is where a rescan meets the pending set and the
 * guards. The parts live in filedb_snap.c, filedb_pending.c,
 * filedb_guard.c and filedb_save.c (see filedb-internal.h, which also
 * states the lock order: save_lock -> scan_lock -> lock).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/filedb-internal.h"
#include "backends/filedb_scan.h"
#include "common/clock.h"
#include "common/hmap.h"
#include "common/isotime.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strbuf.h"

#define DEFAULT_PATH "./db/db.json"
#define DEFAULT_RETRY_MS 2000
#define DEFAULT_GUARD_MS 30000 /* how long a saved edit is watched for stale rewrites */

extern const struct jfs_backend_ops jfs_backend_filedb;

/*
 * The FileDb store behind @store (git's files_downcast()). Any other store
 * is a bug in whoever called the op @caller (its __func__): the log names
 * the op before the abort.
 */
struct filedb_store *jfs_fdb_from_store(struct jfs_store *store, const char *caller)
{
	const char *name;

	if (store && store->ops == &jfs_backend_filedb)
		return (struct filedb_store *)store;
	name = store && store->ops && store->ops->name ? store->ops->name : "none";
	jfs_log(LOG_CRIT, "filedb: %s: store of backend '%s' is not a filedb store; aborting",
		caller, name);
	abort();
}

int64_t jfs_fdb_item_time(const json_t *item, const char *key)
{
	const char *s = json_string_value(json_object_get(item, key));
	int64_t ms;

	return s && jfs_iso_parse(s, &ms) ? ms : -1;
}

/*
 * Make st->cur describe the file as it is now: a stat when nothing
 * changed, else a rescan (with retries) that re-applies pending edits.
 * @force rescans anyway. Returns 0, or -EIO with the reason when the file
 * cannot be read as a FileDb file (st->cur then stays the last good one).
 * Takes scan_lock and lock; the caller holds neither.
 */
/* Say how many items are no user (no string "id"): when it changes, not per scan. */
static void warn_no_id(const struct filedb_store *st, const struct jfs_fdb_index *idx)
{
	if (idx->no_id)
		jfs_log(LOG_WARNING, "filedb: '%s' holds %zu item(s) without a string \"id\" "
			"a name can say (none, not a string, not UTF-8, or holding a NUL; the "
			"first at offset %" PRIu64 "): no user, not shown, kept in the file as "
			"they are", st->path, idx->no_id, idx->no_id_off);
	else
		jfs_log(LOG_INFO, "filedb: '%s' holds no item without an \"id\" any more",
			st->path);
}

int jfs_fdb_refresh(struct filedb_store *st, bool force, struct jfs_err *err)
{
	struct fdb_snap *s = NULL, *old;
	struct fdb_ident now;
	int ret;

	pthread_mutex_lock(&st->scan_lock);
	ret = jfs_fdb_stat_path(st, &now, err);
	pthread_mutex_lock(&st->lock);
	if (!ret && !force && jfs_fdb_ident_eq(&st->cur->ident, &now) && !st->cur->racy) {
		pthread_mutex_unlock(&st->lock);
		goto out_unlock_scan;
	}
	if (st->bad && jfs_fdb_ident_eq(&st->bad_ident, &now)) {
		/* known bad and unchanged since: fail without retrying again */
		if (err)
			*err = st->bad_err;
		ret = -EIO;
		pthread_mutex_unlock(&st->lock);
		goto out_unlock_scan;
	}
	pthread_mutex_unlock(&st->lock);

	ret = jfs_fdb_scan_retry(st, &s, &now, err);
	pthread_mutex_lock(&st->lock);
	if (ret) {
		if (err)
			err->code = EIO;
		ret = -EIO;
		if (!st->bad || !jfs_fdb_ident_eq(&st->bad_ident, &now))
			jfs_log(LOG_ERR, "filedb: %s; serving the last good index",
				err ? err->msg : "cannot scan");
		st->bad = true;
		st->bad_ident = now;
		if (err)
			st->bad_err = *err;
		pthread_mutex_unlock(&st->lock);
		goto out_unlock_scan;
	}
	old = st->cur;
	if (s->idx.no_id != old->idx.no_id)
		warn_no_id(st, &s->idx);
	jfs_fdb_diff_indexes(st, &old->idx, &s->idx);
	st->cur = s;
	st->bad = false;
	jfs_fdb_guard_check(st);
	jfs_fdb_pend_rebase(st);
	pthread_mutex_unlock(&st->lock);
	jfs_fdb_snap_put(old);
out_unlock_scan:
	pthread_mutex_unlock(&st->scan_lock);
	return ret;
}

/* ---- lifecycle ---- */

static char *absolute_path(const char *path)
{
	struct jfs_strbuf sb;
	char cwd[PATH_MAX];
	const char *p;

	jfs_strbuf_init(&sb);
	if (path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)))
			return NULL;
		jfs_strbuf_addstr(&sb, cwd);
	}
	/* drop "." segments and doubled slashes; ".." stays (symlinks) */
	for (p = path; *p;) {
		const char *q = strchr(p, '/');
		size_t n = q ? (size_t)(q - p) : strlen(p);

		if (n && !(n == 1 && p[0] == '.')) {
			jfs_strbuf_addch(&sb, '/');
			jfs_strbuf_add(&sb, p, n);
		}
		p += n;
		if (*p == '/')
			p++;
	}
	if (!sb.len)
		jfs_strbuf_addch(&sb, '/');
	return jfs_strbuf_detach(&sb, NULL);
}

static int mkdir_p(const char *dir)
{
	char *d = strdup(dir), *p;
	int ret = 0;

	if (!d)
		abort();
	for (p = d + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(d, 0755) && errno != EEXIST) {
				ret = -errno;
				break;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	free(d);
	return ret;
}

/* Remove what a save interrupted by a crash left: ".<name>.jovofs-XXXXXX". */
static void remove_stale_temps(struct filedb_store *st)
{
	char *target, *dir;
	const char *base;
	size_t blen;
	struct dirent *de;
	DIR *d;

	if (jfs_fdb_target(st, &target, &dir, NULL))
		return;
	base = strrchr(target, '/') + 1;
	blen = strlen(base);
	if (strcmp(target, st->path))
		jfs_log(LOG_INFO, "filedb: '%s' is a link to '%s': saves replace that file",
			st->path, target);
	if (!(d = opendir(dir))) {
		free(target);
		free(dir);
		return;
	}
	while ((de = readdir(d))) {
		const char *n = de->d_name;

		if (n[0] != '.' || strncmp(n + 1, base, blen) || strncmp(n + 1 + blen, ".jovofs-", 8) ||
		    strlen(n + 1 + blen + 8) != 6)
			continue;
		if (!unlinkat(dirfd(d), n, 0))
			jfs_log(LOG_INFO, "filedb: removed '%s/%s', left by an interrupted save",
				dir, n);
	}
	closedir(d);
	free(target);
	free(dir);
}

/* Create the missing file as Jovo does: "[]". */
static int create_empty(struct filedb_store *st, struct jfs_err *err)
{
	int fd, ret;

	if ((ret = mkdir_p(st->dir)))
		return jfs_err_set(err, -ret, "cannot create '%s': %s", st->dir, strerror(-ret));
	fd = open(st->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		return jfs_err_set(err, errno, "cannot create '%s': %s", st->path, strerror(errno));
	}
	ret = jfs_fdb_write_full(fd, "[]", 2, 0);
	if (!ret && fsync(fd))
		ret = -errno;
	close(fd);
	if (ret)
		return jfs_err_set(err, -ret, "cannot write '%s': %s", st->path, strerror(-ret));
	jfs_fdb_fsync_dir(st->dir);
	jfs_log(LOG_INFO, "filedb: created '%s'", st->path);
	return 0;
}

static int filedb_failures(struct jfs_store *store, jfs_failed_fn *fn, void *data);

static void store_free(struct filedb_store *st)
{
	struct jfs_hnode *node;
	size_t i;

	while ((node = jfs_hmap_first(&st->pending)))
		jfs_fdb_pend_del(st, jfs_fdb_pend_of(node));
	jfs_hmap_release(&st->pending);
	while (st->goldest)
		jfs_fdb_guard_del(st, st->goldest);
	jfs_hmap_release(&st->guards);
	for (i = 0; i < st->nchanged; i++)
		free(st->changed[i]);
	free(st->changed);
	filedb_failures(&st->base, NULL, NULL);
	jfs_fdb_snap_put(st->cur);
	pthread_mutex_destroy(&st->save_lock);
	pthread_mutex_destroy(&st->scan_lock);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->wake);
	pthread_cond_destroy(&st->saved);
	free(st->path);
	free(st->dir);
	free(st);
}

static int filedb_open(const json_t *conf, const struct jfs_store_options *opts,
		       struct jfs_store **out, struct jfs_err *err)
{
	const char *path = DEFAULT_PATH, *key;
	int64_t guard_ms = DEFAULT_GUARD_MS;
	struct filedb_store *st;
	pthread_condattr_t ca;
	struct fdb_ident seen;
	struct stat sb;
	json_t *val;
	char *slash;
	int ret;

	if (conf && !json_is_object(conf))
		return jfs_err_set(err, EINVAL, "'filedb' must be an object");
	if (conf) {
		json_object_foreach((json_t *)conf, key, val) {
			if (!strcmp(key, "pathToFile")) {
				if (!json_is_string(val) || !json_string_length(val))
					return jfs_err_set(err, EINVAL,
							   "'filedb.pathToFile' must be a non-empty string");
				path = json_string_value(val);
			} else if (!strcmp(key, "staleRewriteWindowMs")) {
				/*
				 * jovofs's own: how long saved edits are guarded (0: not at
				 * all). A config file's numbers are JavaScript's: 0 is 0.0.
				 */
				double ms = json_is_number(val) ? jfs_json_number_value(val) : -1;

				if (!(ms >= 0 && ms <= 1e12 && ms == floor(ms)))
					return jfs_err_set(err, EINVAL, "'filedb.staleRewriteWindowMs' "
							   "must be a whole number >= 0");
				guard_ms = (int64_t)ms;
			} else {
				jfs_log(LOG_WARNING, "unknown key 'filedb.%s' ignored", key);
			}
		}
	}

	st = calloc(1, sizeof(*st));
	if (!st)
		abort();
	st->base.ops = &jfs_backend_filedb;
	st->read_only = opts && opts->read_only;
	st->retry_ms = opts && opts->retry_ms > 0 ? opts->retry_ms : DEFAULT_RETRY_MS;
	st->write_delay_ms = opts && opts->write_delay_ms > 0 ? opts->write_delay_ms : 0;
	st->guard_ms = guard_ms;
	jfs_hmap_init(&st->pending, 64);
	jfs_hmap_init(&st->guards, 64);
	st->fail_tail = &st->fail_head;
	pthread_mutex_init(&st->save_lock, NULL);
	pthread_mutex_init(&st->scan_lock, NULL);
	pthread_mutex_init(&st->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->wake, &ca);
	pthread_cond_init(&st->saved, &ca);
	pthread_condattr_destroy(&ca);

	st->path = absolute_path(path);
	if (!st->path) {
		ret = jfs_err_set(err, errno, "cannot resolve '%s': %s", path, strerror(errno));
		goto out_free;
	}
	if (!(st->dir = strdup(st->path)))
		abort();
	slash = strrchr(st->dir, '/');
	if (slash == st->dir)
		slash[1] = '\0';
	else
		*slash = '\0';

	if (stat(st->path, &sb)) {
		struct stat lsb;
		int e = errno;

		if (e == ENOENT && !lstat(st->path, &lsb) && S_ISLNK(lsb.st_mode)) {
			ret = jfs_err_set(err, ENOENT, "'%s' is a symbolic link to a file that does "
					  "not exist", st->path);
			goto out_free;
		}
		if (e != ENOENT) {
			ret = jfs_err_set(err, e, "cannot stat '%s': %s", st->path, strerror(e));
			goto out_free;
		}
		if (st->read_only) {
			ret = jfs_err_set(err, ENOENT, "'%s' does not exist (read-only: not creating it)",
					  st->path);
			goto out_free;
		}
		if ((ret = create_empty(st, err)))
			goto out_free;
	} else if (!S_ISREG(sb.st_mode)) {
		ret = jfs_err_set(err, EINVAL, "'%s' is not a regular file", st->path);
		goto out_free;
	}

	if (!st->read_only)
		remove_stale_temps(st);
	ret = jfs_fdb_scan_retry(st, &st->cur, &seen, err);
	if (ret) {
		if (ret == -EAGAIN)
			err->code = EIO, ret = -EIO;
		else if (ret == -EINVAL)
			jfs_err_prefix(err, "not a Jovo FileDb file");
		goto out_free;
	}
	if (st->cur->idx.no_id)
		warn_no_id(st, &st->cur->idx);
	if (!st->read_only) {
		struct jfs_err oerr;

		jfs_err_clear(&oerr);
		if (jfs_fdb_can_keep_owner(st, &st->cur->ident, &oerr))
			jfs_log(LOG_WARNING, "filedb: every change will be refused: %s", oerr.msg);
	}
	*out = &st->base;
	return 0;
out_free:
	store_free(st);
	return ret;
}

static int filedb_start(struct jfs_store *store, struct jfs_err *err)
{
	struct filedb_store *st = jfs_fdb_from_store(store, __func__);
	int ret;

	if (st->read_only || st->started)
		return 0;
	pthread_mutex_lock(&st->lock);
	st->stop = false;
	st->running = true;
	pthread_mutex_unlock(&st->lock);
	ret = pthread_create(&st->thread, NULL, jfs_fdb_writer_main, st);
	if (ret) {
		pthread_mutex_lock(&st->lock);
		st->running = false;
		pthread_mutex_unlock(&st->lock);
		return jfs_err_set(err, ret, "cannot start the filedb writer: %s", strerror(ret));
	}
	st->started = true;
	return 0;
}

/* ---- ops ---- */

static int filedb_load(struct jfs_store *store, const char *id, json_t **item,
		       struct jfs_err *err)
{
	struct filedb_store *st = jfs_fdb_from_store(store, __func__);
	json_t *set = NULL, *unset = NULL, *raw;
	struct fdb_pending *e;
	struct fdb_snap *s;
	struct jfs_err ferr;
	int ret, fret, attempt;
	long i;

	for (attempt = 0; attempt < 3; attempt++) {
		jfs_err_clear(&ferr);
		fret = jfs_fdb_refresh(st, attempt > 0, &ferr);
		pthread_mutex_lock(&st->lock);
		e = st->pending.n ? jfs_fdb_pend_find(st, id) : NULL;
		if (e && e->kind != P_MODIFY) {
			/* read-your-writes: a new or removed item is answered from memory */
			ret = e->kind == P_REMOVE ?
				jfs_err_set(err, ENOENT, "no user '%s'", id) : 0;
			if (!ret)
				*item = json_deep_copy(e->result);
			pthread_mutex_unlock(&st->lock);
			return ret;
		}
		if (fret) {
			pthread_mutex_unlock(&st->lock);
			if (err)
				*err = ferr;
			return fret;
		}
		i = jfs_fdb_index_find(&st->cur->idx, id, strlen(id));
		if (i < 0) {
			pthread_mutex_unlock(&st->lock);
			return jfs_err_set(err, ENOENT, "no user '%s'", id);
		}
		if (e) {
			/* the caller owns what it gets: no value shared with the pending set */
			set = json_deep_copy(e->set);
			unset = json_deep_copy(e->unset);
		}
		s = st->cur;
		jfs_fdb_snap_get(s);
		pthread_mutex_unlock(&st->lock);
		ret = jfs_fdb_snap_read_item(st, s, (size_t)i, &raw, err);
		jfs_fdb_snap_put(s);
		if (!ret && e) {
			*item = jfs_fdb_apply(raw, set, unset);
			json_decref(raw);
		} else if (!ret) {
			*item = raw;
		}
		json_decref(set);
		json_decref(unset);
		set = unset = NULL;
		if (ret != -EAGAIN)
			return ret;
	}
	return jfs_err_set(err, EIO, "'%s' keeps changing under the reader", st->path);
}

static bool patch_touches_id(const struct jfs_patch *patch)
{
	return (patch->set && json_object_get(patch->set, "id")) ||
	       jfs_unset_has(patch->unset, "id");
}

/*
 * Under lock: whether @patch's condition holds on P_MODIFY @e without
 * reading the file (1 or 0), or -1 when the file's item is needed.
 */
static int pend_condition(const struct fdb_pending *e, const struct jfs_patch *patch)
{
	json_t *v;

	if (!patch->cond_key)
		return 1;
	if (jfs_unset_has(e->unset, patch->cond_key))
		return !patch->cond_value;
	v = json_object_get(e->set, patch->cond_key);
	if (!v)
		return -1;
	return patch->cond_value && jfs_json_equal(v, patch->cond_value);
}

/*
 * Whether changes can be saved at all: refused at once, not after the
 * write was acknowledged, when the mount is read-only or a save could not
 * keep the file's owner and group.
 */
static int check_writable(struct filedb_store *st, struct jfs_err *err)
{
	struct fdb_ident id;

	if (st->read_only)
		return jfs_err_set(err, EROFS, "'%s' is read-only", st->path);
	pthread_mutex_lock(&st->lock);
	id = st->cur->ident;
	pthread_mutex_unlock(&st->lock);
	return jfs_fdb_can_keep_owner(st, &id, err);
}

static int check_patch(struct filedb_store *st, const char *id, const struct jfs_patch *patch,
		       struct jfs_err *err)
{
	size_t i;
	int ret;

	if ((ret = check_writable(st, err)))
		return ret;
	if (patch->set && !json_is_object(patch->set))
		return jfs_err_set(err, EINVAL, "patch of '%s': set is not an object", id);
	for (i = 0; i < json_array_size(patch->unset); i++)
		if (!json_is_string(json_array_get(patch->unset, i)))
			return jfs_err_set(err, EINVAL, "patch of '%s': unset holds a non-string", id);
	if (patch_touches_id(patch))
		return jfs_err_set(err, EINVAL, "cannot change the \"id\" of '%s'", id);
	return 0;
}

static int filedb_update(struct jfs_store *store, const char *id, const struct jfs_patch *patch,
			 struct jfs_err *err)
{
	struct filedb_store *st = jfs_fdb_from_store(store, __func__);
	struct fdb_pending *e;
	struct jfs_err ferr;
	struct fdb_snap *s;
	json_t *item, *set;
	uint64_t version;
	int ret, fret, attempt, moved = 0, cond;
	long i;

	if ((ret = check_patch(st, id, patch, err)))
		return ret;
	for (attempt = 0; attempt < 4; attempt++) {
		jfs_err_clear(&ferr);
		fret = jfs_fdb_refresh(st, attempt > 0, &ferr);
		pthread_mutex_lock(&st->lock);
		if ((ret = jfs_fdb_pend_wait_room(st, err)))
			goto out_unlock;
		e = st->pending.n ? jfs_fdb_pend_find(st, id) : NULL;
		if (e && e->kind == P_REMOVE) {
			ret = jfs_err_set(err, ENOENT, "no user '%s'", id);
			goto out_unlock;
		}
		if (e && e->kind == P_PUT) {
			/* a new item lives in memory */
			if (!jfs_patch_condition_holds(patch, e->result)) {
				ret = jfs_err_set(err, ECANCELED, "'%s' changed: condition on '%s' failed",
						  id, patch->cond_key);
				goto out_unlock;
			}
			set = patch->set ? json_deep_copy(patch->set) : NULL;
			jfs_fdb_pend_merge_patch(e, set, patch->unset, NULL);
			item = jfs_fdb_apply(e->result, set, patch->unset);
			json_decref(set);
			json_decref(e->result);
			e->result = item;
			jfs_fdb_pend_touched(st, e);
			goto out_unlock;
		}
		if (fret) {
			if (err)
				*err = ferr;
			ret = fret;
			goto out_unlock;
		}
		i = jfs_fdb_index_find(&st->cur->idx, id, strlen(id));
		if (i < 0) {
			ret = jfs_err_set(err, ENOENT, "no user '%s'", id);
			goto out_unlock;
		}
		if (e && jfs_fdb_pend_covers(e, patch) && (cond = pend_condition(e, patch)) >= 0) {
			/* decided from the pending patch alone: no I/O */
			if (!cond) {
				ret = jfs_err_set(err, ECANCELED, "'%s' changed: condition on '%s' failed",
						  id, patch->cond_key);
				goto out_unlock;
			}
			set = patch->set ? json_deep_copy(patch->set) : NULL;
			jfs_fdb_pend_merge_patch(e, set, patch->unset, NULL);
			json_decref(set);
			jfs_fdb_pend_touched(st, e);
			goto out_unlock;
		}
		s = st->cur;
		jfs_fdb_snap_get(s);
		version = e ? e->version : 0;
		pthread_mutex_unlock(&st->lock);

		/* the record as in the file, read without the lock */
		ret = jfs_fdb_snap_read_item(st, s, (size_t)i, &item, err);
		if (ret) {
			jfs_fdb_snap_put(s);
			if (ret == -EAGAIN)
				continue;
			return ret;
		}
		pthread_mutex_lock(&st->lock);
		if (st->cur != s || (st->pending.n ? jfs_fdb_pend_find(st, id) : NULL) != e ||
		    (e && e->version != version)) {
			/* something moved meanwhile: decide again */
			pthread_mutex_unlock(&st->lock);
			json_decref(item);
			jfs_fdb_snap_put(s);
			if (++moved < 100)
				attempt--;
			continue;
		}
		{
			json_t *cur = e ? jfs_fdb_apply(item, e->set, e->unset) : json_incref(item);
			bool holds = jfs_patch_condition_holds(patch, cur);

			json_decref(cur);
			if (!holds) {
				ret = jfs_err_set(err, ECANCELED, "'%s' changed: condition on '%s' failed",
						  id, patch->cond_key);
				json_decref(item);
				jfs_fdb_snap_put(s);
				goto out_unlock;
			}
		}
		if (!e) {
			e = jfs_fdb_pend_add(st, id, P_MODIFY);
			e->base_hash = s->idx.items[i].hash;
		}
		set = patch->set ? json_deep_copy(patch->set) : NULL;
		jfs_fdb_pend_merge_patch(e, set, patch->unset, item);
		json_decref(set);
		json_decref(item);
		jfs_fdb_pend_touched(st, e);
		jfs_fdb_snap_put(s);
		goto out_unlock;
	}
	return jfs_err_set(err, EIO, "'%s' keeps changing under the reader", st->path);
out_unlock:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

static int filedb_create(struct jfs_store *store, const char *id, json_t *item,
			 struct jfs_err *err)
{
	struct filedb_store *st = jfs_fdb_from_store(store, __func__);
	struct fdb_pending *e;
	struct jfs_err ferr;
	json_t *copy, *iid;
	bool in_file;
	int fret, fret2;

	if ((fret = check_writable(st, err)))
		return fret;
	if (!json_is_object(item))
		return jfs_err_set(err, EINVAL, "new user '%s' is not an object", id);
	iid = json_object_get(item, "id");
	if (iid && (!json_is_string(iid) || strcmp(json_string_value(iid), id)))
		return jfs_err_set(err, EINVAL, "new user '%s' holds another \"id\"", id);
	if (iid) {
		copy = json_deep_copy(item);
	} else {
		/* "id" first, as Jovo writes it */
		const char *key;
		json_t *val;

		copy = json_object();
		json_object_set_new(copy, "id", json_string(id));
		json_object_foreach(item, key, val)
			json_object_set_new(copy, key, json_deep_copy(val));
	}

	jfs_err_clear(&ferr);
	fret = jfs_fdb_refresh(st, false, &ferr);
	pthread_mutex_lock(&st->lock);
	if ((fret2 = jfs_fdb_pend_wait_room(st, err))) {
		pthread_mutex_unlock(&st->lock);
		json_decref(copy);
		return fret2;
	}
	e = st->pending.n ? jfs_fdb_pend_find(st, id) : NULL;
	in_file = jfs_fdb_index_find(&st->cur->idx, id, strlen(id)) >= 0;
	if (e && e->kind != P_REMOVE) {
		pthread_mutex_unlock(&st->lock);
		json_decref(copy);
		return jfs_err_set(err, EEXIST, "user '%s' exists", id);
	}
	if (!e && fret) {
		pthread_mutex_unlock(&st->lock);
		json_decref(copy);
		if (err)
			*err = ferr;
		return fret;
	}
	if (!e && in_file) {
		pthread_mutex_unlock(&st->lock);
		json_decref(copy);
		return jfs_err_set(err, EEXIST, "user '%s' exists", id);
	}
	if (!e)
		e = jfs_fdb_pend_add(st, id, P_PUT);
	jfs_fdb_pend_clear(e);
	e->kind = P_PUT;
	e->replace = in_file;
	e->result = copy;
	e->create_seq = ++st->create_seq;
	jfs_fdb_pend_touched(st, e);
	e->put_version = e->version;
	pthread_mutex_unlock(&st->lock);
	return 0;
}

static int filedb_remove(struct jfs_store *store, const char *id, struct jfs_err *err)
{
	struct filedb_store *st = jfs_fdb_from_store(store, __func__);
	struct fdb_pending *e;
	struct jfs_err ferr;
	int fret, ret;
	long i;

	if ((ret = check_writable(st, err)))
		return ret;
	jfs_err_clear(&ferr);
	fret = jfs_fdb_refresh(st, false, &ferr);
	pthread_mutex_lock(&st->lock);
	if ((ret = jfs_fdb_pend_wait_room(st, err))) {
		pthread_mutex_unlock(&st->lock);
		return ret;
	}
	e = st->pending.n ? jfs_fdb_pend_find(st, id) : NULL;
	if (e && e->kind == P_REMOVE) {
		pthread_mutex_unlock(&st->lock);
		return jfs_err_set(err, ENOENT, "no user '%s'", id);
	}
	if (!e) {
		if (fret) {
			pthread_mutex_unlock(&st->lock);
			if (err)
				*err = ferr;
			return fret;
		}
		if (jfs_fdb_index_find(&st->cur->idx, id, strlen(id)) < 0) {
			pthread_mutex_unlock(&st->lock);
			return jfs_err_set(err, ENOENT, "no user '%s'", id);
		}
		e = jfs_fdb_pend_add(st, id, P_REMOVE);
	}
	jfs_fdb_pend_clear(e);
	e->kind = P_REMOVE;
	e->replace = false;
	/* what is removed: the item as the file holds it now, or none (never saved) */
	i = jfs_fdb_index_find(&st->cur->idx, id, strlen(id));
	e->remove_had = i >= 0;
	e->base_hash = i >= 0 ? st->cur->idx.items[i].hash : 0;
	jfs_fdb_pend_touched(st, e);
	pthread_mutex_unlock(&st->lock);
	return 0;
}

static int filedb_sync(struct jfs_store *store, const char *id, struct jfs_err *err)
{
	struct filedb_store *st = jfs_fdb_from_store(store, __func__);
	struct jfs_err se;
	uint64_t target, gen;
	int ret = 0;

	pthread_mutex_lock(&st->lock);
	target = st->seq;
	while (jfs_fdb_pend_waiting(st, id, target)) {
		if (st->running) {
			gen = st->fail_gen;
			st->urgent = true;
			pthread_cond_signal(&st->wake);
			pthread_cond_wait(&st->saved, &st->lock);
			/* a failed save is this call's failure only while it holds our changes */
			if (st->fail_gen != gen && jfs_fdb_pend_waiting(st, id, target)) {
				ret = -st->save_err.code;
				if (err)
					*err = st->save_err;
				break;
			}
			continue;
		}
		pthread_mutex_unlock(&st->lock);
		jfs_err_clear(&se);
		ret = jfs_fdb_save(st, &se);
		pthread_mutex_lock(&st->lock);
		if (ret) {
			jfs_fdb_save_failed(st, &se);
			if (err)
				*err = st->save_err;
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return ret;
}

static int filedb_failures(struct jfs_store *store, jfs_failed_fn *fn, void *data)
{
	struct filedb_store *st = jfs_fdb_from_store(store, __func__);
	struct fdb_failure *f, *next;

	pthread_mutex_lock(&st->lock);
	f = st->fail_head;
	st->fail_head = NULL;
	st->fail_tail = &st->fail_head;
	st->nfail = 0;
	pthread_mutex_unlock(&st->lock);
	for (; f; f = next) {
		next = f->next;
		if (fn)
			fn(data, f->id, f->keys, &f->err);
		free(f->id);
		json_decref(f->keys);
		free(f);
	}
	return 0;
}

static int filedb_changes(struct jfs_store *store, jfs_changed_fn *fn, void *data,
			  struct jfs_err *err)
{
	struct filedb_store *st = jfs_fdb_from_store(store, __func__);
	char **ids;
	size_t n, i;
	int ret;

	ret = jfs_fdb_refresh(st, false, err);
	pthread_mutex_lock(&st->lock);
	ids = st->changed;
	n = st->nchanged;
	st->changed = NULL;
	st->nchanged = st->changed_alloc = 0;
	pthread_mutex_unlock(&st->lock);
	for (i = 0; i < n; i++) {
		if (fn)
			fn(data, ids[i]);
		free(ids[i]);
	}
	free(ids);
	return ret;
}

static void filedb_describe(struct jfs_store *store, json_t *out)
{
	struct filedb_store *st = jfs_fdb_from_store(store, __func__);

	json_object_set_new(out, "backend", json_string("filedb"));
	json_object_set_new(out, "pathToFile", json_string(st->path));
	json_object_set_new(out, "writeDelayMs", json_integer(st->write_delay_ms));
	json_object_set_new(out, "staleRewriteWindowMs", json_integer(st->guard_ms));
}

static void filedb_summary(struct jfs_store *store, json_t *out)
{
	struct filedb_store *st = jfs_fdb_from_store(store, __func__);
	char line[PATH_MAX + 16];

	snprintf(line, sizeof(line), "file '%s'", st->path);
	json_object_set_new(out, "target", json_string(line));
	json_object_set_new(out, "credentials", json_string("none (a local file)"));
}

/* Unsaved edits and how long the oldest has waited: what an operator alerts on. */
static void filedb_metrics(struct jfs_store *store, jfs_metric_fn *fn, void *data)
{
	struct filedb_store *st = jfs_fdb_from_store(store, __func__);
	struct jfs_metric m = { 0 };
	int64_t now = jfs_mono_ms(), oldest = now;
	struct jfs_hnode *n;
	size_t count;

	pthread_mutex_lock(&st->lock);
	count = st->pending.n;
	jfs_hmap_for_each(&st->pending, n) {
		struct fdb_pending *e = jfs_fdb_pend_of(n);

		if (e->since_ms && e->since_ms < oldest)
			oldest = e->since_ms;
	}
	pthread_mutex_unlock(&st->lock);
	m.name = "filedb_pending_edits";
	m.type = "gauge";
	m.help = "users with edits accepted and not yet saved to the file";
	m.value = (double)count;
	fn(data, &m);
	m.name = "filedb_oldest_pending_edit_seconds";
	m.help = "how long the oldest unsaved edit has waited for its save (0: none)";
	m.value = count ? (double)(now - oldest) / 1000.0 : 0;
	fn(data, &m);
}

static void filedb_close(struct jfs_store *store)
{
	struct filedb_store *st = jfs_fdb_from_store(store, __func__);
	struct jfs_err e;

	pthread_mutex_lock(&st->lock);
	st->stop = true;
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
	if (st->started)
		pthread_join(st->thread, NULL);
	/* a stale rewrite that undid a saved edit is undone before the last save */
	if (st->guards.n && !st->read_only) {
		jfs_err_clear(&e);
		jfs_fdb_refresh(st, false, &e);
	}
	if (st->pending.n && !st->read_only) {
		jfs_err_clear(&e);
		if (jfs_fdb_save(st, &e))
			jfs_log(LOG_ERR, "filedb: cannot save '%s' at close: %s; %zu edit(s) lost",
				st->path, e.msg, st->pending.n);
	}
	store_free(st);
}

static const struct jfs_backend_option filedb_options[] = {
	{ "filedb", "pathToFile", true, "PATH", "use the FileDb at PATH (default ./db/db.json)" },
	{ NULL }
};

const struct jfs_backend_ops jfs_backend_filedb = {
	.name = "filedb",
	.options = filedb_options,
	.open = filedb_open,
	.start = filedb_start,
	.list = jfs_fdb_list,
	.find = jfs_fdb_find_op,
	.load = filedb_load,
	.update = filedb_update,
	.create = filedb_create,
	.remove = filedb_remove,
	.sync = filedb_sync,
	.failures = filedb_failures,
	.changes = filedb_changes,
	.describe = filedb_describe,
	.summary = filedb_summary,
	.metrics = filedb_metrics,
	.close = filedb_close,
};
