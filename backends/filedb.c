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
 * Locks: scan_lock (serialises rescans and the last step of a save) is
 * taken before lock (the index pointer, the pending set, errors). No
 * long I/O runs under lock: a rescan reads without it and swaps under
 * it; a save writes from a snapshot without it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/filedb_scan.h"
#include "common/clock.h"
#include "common/hmap.h"
#include "common/isotime.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strbuf.h"

#define DEFAULT_PATH "./db/db.json"
#define DEFAULT_RETRY_MS 2000
#define IO_CHUNK (1u << 20)
#define SAVE_ATTEMPTS 5
#define MAX_PENDING 50000     /* edits held before writers wait for a save */
#define ROOM_WAIT_MS 30000
#define DEFAULT_GUARD_MS 30000 /* how long a saved edit is watched for stale rewrites */
#define MAX_GUARDS 20000
#define MAX_GUARD_BYTES (64u << 20)
#define MAX_GUARD_STATES 8     /* older versions of one id a stale writer may hold */
#define MAX_REAPPLY 10
#define MAX_FAILURES 100000   /* lost changes kept until failures() reports them */

/* What identifies one version of the file. */
struct fdb_ident {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
	mode_t mode; /* not compared: the mode a save gives its new file */
	uid_t uid;
	gid_t gid;
};

/* An index of one version of the file, shared by reference count. */
struct fdb_snap {
	int refs;                  /* atomic */
	int fd;                    /* the scanned (or written) file, for pread */
	struct fdb_ident ident;
	bool racy;                 /* written in the scan's clock tick: may change unseen */
	struct jfs_fdb_index idx;
};

enum pend_kind {
	P_MODIFY, /* edits of an item in the file */
	P_PUT,    /* a new item, appended at the end */
	P_REMOVE, /* the item is deleted */
};

/* The unsaved changes of one id. */
struct fdb_pending {
	struct jfs_hnode node;    /* in st->pending, by jfs_fdb_hash() of id */
	char *id;
	enum pend_kind kind;
	bool replace;             /* P_PUT: the file still holds an older item of this id */
	uint64_t version;         /* st->seq at the last change */
	uint64_t put_version;     /* P_PUT: st->seq when created */
	uint64_t create_seq;      /* P_PUT: order at the end of the file */
	/*
	 * The accumulated patch: set holds key -> new value, unset key -> true
	 * (a key is in one or neither). P_MODIFY keeps no item, only what it
	 * needs to re-apply the patch onto a fresh record and to see a
	 * conflict: base holds, for every touched key, its value in the file's
	 * item (absent: absent there), and base_hash the hash of that item's
	 * bytes. Values are never modified once stored.
	 */
	json_t *set;
	json_t *unset;
	json_t *base;
	uint64_t base_hash;
	json_t *result;           /* P_PUT: the new item; never modified */
	bool reapply;             /* P_MODIFY: only a guard's re-apply, no edit since */
	bool fail_reported;       /* a failed save was reported since the last change */
};

/* An accepted change that was lost, until failures() reports it. */
struct fdb_failure {
	struct fdb_failure *next;
	char *id;
	json_t *keys;             /* the item's keys it touched; NULL: the whole item */
	struct jfs_err err;
};

/*
 * A saved edit, watched for a while (st->guard_ms). A Jovo app reads the
 * whole file, handles a request and writes its in-memory copy back in
 * place: when our save lands between its read and its write, it writes the
 * edited user back as it was before the edit. Such a revert is told from a
 * real change by the touched keys holding exactly a value they held before
 * one of our saves (a "state"), and undone by applying the edit again.
 */
struct fdb_guard {
	struct jfs_hnode node;           /* in st->guards, by jfs_fdb_hash() of id */
	struct fdb_guard *older, *newer; /* by last save: oldest expires first */
	char *id;
	int64_t expires_ms;
	uint64_t hash;     /* the item's bytes as last seen holding the edit */
	size_t cost;       /* bytes counted against MAX_GUARD_BYTES */
	json_t *set;       /* the saved patch: key -> value ... */
	json_t *unset;     /* ... and key -> true, as in struct fdb_pending */
	json_t *states;    /* array of objects: the touched keys' values before a save */
	unsigned reapplied;
};

struct filedb_store {
	struct jfs_store base;
	char *path;
	char *dir;
	bool read_only;
	int64_t retry_ms;
	int64_t write_delay_ms;

	pthread_mutex_t save_lock; /* one save at a time */
	pthread_mutex_t scan_lock;
	pthread_mutex_t lock;
	pthread_cond_t wake;       /* to the writer: work or stop */
	pthread_cond_t saved;      /* to sync(): a save attempt ended */

	struct fdb_snap *cur;      /* the last good index; never NULL after open */
	bool bad;                  /* the file at bad_ident failed to scan */
	struct fdb_ident bad_ident;
	struct jfs_err bad_err;

	struct jfs_hmap pending;   /* struct fdb_pending by id */
	uint64_t seq;
	uint64_t create_seq;
	int64_t due_ms;            /* monotonic time of the next save, 0: none */
	bool urgent;
	uint64_t fail_gen;
	struct jfs_err save_err;   /* the last failed save */
	struct fdb_failure *fail_head, **fail_tail; /* lost changes, oldest first */
	size_t nfail;

	char **changed;            /* ids seen changing in rescans, for changes() */
	size_t nchanged, changed_alloc;

	int64_t guard_ms;          /* 0: saved edits are not guarded */
	struct jfs_hmap guards;    /* struct fdb_guard by id */
	size_t guard_bytes;
	struct fdb_guard *goldest, *gnewest;

	pthread_t thread;
	bool started, running, stop;
};

extern const struct jfs_backend_ops jfs_backend_filedb;

static struct filedb_store *filedb_from_store(struct jfs_store *st)
{
	if (st->ops != &jfs_backend_filedb)
		abort();
	return (struct filedb_store *)st;
}

/* ---- small helpers ---- */

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

static void ident_from_stat(struct fdb_ident *id, const struct stat *sb)
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

static bool ident_eq(const struct fdb_ident *a, const struct fdb_ident *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       !ts_cmp(&a->mtim, &b->mtim);
}

/* The file's identity now; a missing file has a zero identity. */
static int stat_path(struct filedb_store *st, struct fdb_ident *id, struct jfs_err *err)
{
	struct stat sb;

	if (stat(st->path, &sb)) {
		int e = errno;

		memset(id, 0, sizeof(*id));
		return jfs_err_set(err, e == ENOENT ? EIO : e, "cannot stat '%s': %s", st->path,
				   strerror(e));
	}
	ident_from_stat(id, &sb);
	return 0;
}

static int64_t item_time(const json_t *item, const char *key)
{
	const char *s = json_string_value(json_object_get(item, key));
	int64_t ms;

	return s && jfs_iso_parse(s, &ms) ? ms : -1;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
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

static int write_full(int fd, const void *buf, size_t len, uint64_t off)
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

/* ---- snapshots ---- */

static void snap_get(struct fdb_snap *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

static void snap_put(struct fdb_snap *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (s->fd >= 0)
		close(s->fd);
	jfs_fdb_index_release(&s->idx);
	free(s);
}

static struct fdb_snap *snap_new(void)
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
static int snap_read_item(struct filedb_store *st, struct fdb_snap *s, size_t i, json_t **out,
			  struct jfs_err *err)
{
	const struct jfs_fdb_entry *e = &s->idx.items[i];
	char *buf = malloc(e->len ? e->len : 1);
	int ret;

	if (!buf)
		abort();
	ret = pread_full(s->fd, buf, e->len, e->off);
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

/* ---- the pending set: a chained hash table by id ---- */

static struct fdb_pending *pend_of(struct jfs_hnode *node)
{
	return jfs_container_of(node, struct fdb_pending, node);
}

static struct fdb_pending *pend_find(struct filedb_store *st, const char *id)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&st->pending, node, jfs_fdb_hash(id, strlen(id)))
		if (!strcmp(pend_of(node)->id, id))
			return pend_of(node);
	return NULL;
}

static struct fdb_pending *pend_add(struct filedb_store *st, const char *id, enum pend_kind kind)
{
	struct fdb_pending *e = calloc(1, sizeof(*e));

	if (!e || !(e->id = strdup(id)))
		abort();
	e->kind = kind;
	jfs_hmap_add(&st->pending, &e->node, jfs_fdb_hash(id, strlen(id)));
	return e;
}

static void pend_clear(struct fdb_pending *e)
{
	json_decref(e->base);
	json_decref(e->set);
	json_decref(e->unset);
	json_decref(e->result);
	e->base = e->set = e->unset = e->result = NULL;
	e->reapply = false;
}

/*
 * Under lock. due_ms is 0 exactly when nothing is pending: the next change
 * then schedules a save and wakes the writer (pend_touched()).
 */
static void pend_del(struct filedb_store *st, struct fdb_pending *e)
{
	jfs_hmap_remove(&st->pending, &e->node);
	pend_clear(e);
	free(e->id);
	free(e);
	if (!st->pending.n)
		st->due_ms = 0;
}

/* Call under lock: a pending change was made. */
static void pend_touched(struct filedb_store *st, struct fdb_pending *e)
{
	e->version = ++st->seq;
	e->fail_reported = false; /* a new change: its save's failure is news */
	if (!st->due_ms) {
		st->due_ms = jfs_mono_ms() + st->write_delay_ms;
		pthread_cond_signal(&st->wake);
	}
}

/*
 * Under lock: keep memory bounded. When the pending set is full, wait
 * (for at most ROOM_WAIT_MS) until the write-back thread saved some.
 */
static int pend_wait_room(struct filedb_store *st, struct jfs_err *err)
{
	int64_t deadline = jfs_mono_ms() + ROOM_WAIT_MS;

	while (st->pending.n >= MAX_PENDING && st->running) {
		struct timespec ts;

		if (jfs_mono_ms() >= deadline)
			return jfs_err_set(err, EAGAIN, "too many unsaved edits of '%s' (%zu)",
					   st->path, st->pending.n);
		st->urgent = true;
		pthread_cond_signal(&st->wake);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&st->saved, &st->lock, &ts);
	}
	return 0;
}

/* Under lock: whether a change of @id (NULL: any) made at or before @version is pending. */
static bool pend_waiting(struct filedb_store *st, const char *id, uint64_t version)
{
	struct jfs_hnode *node;
	struct fdb_pending *e;

	if (!st->pending.n)
		return false;
	if (id)
		return (e = pend_find(st, id)) && e->version <= version;
	jfs_hmap_for_each(&st->pending, node)
		if (pend_of(node)->version <= version)
			return true;
	return false;
}

static bool pend_touches(const struct fdb_pending *e, const char *key)
{
	return json_object_get(e->set, key) || json_object_get(e->unset, key);
}

/*
 * Merge @set (owned copy) and @unset (borrowed array) into @e's patch.
 * For P_MODIFY, @file_item (the item in the file) gives the base values of
 * keys touched for the first time; it may be NULL when there are none.
 */
static void pend_merge_patch(struct fdb_pending *e, json_t *set, const json_t *unset,
			     const json_t *file_item)
{
	const char *key;
	json_t *val;
	size_t i;

	e->reapply = false; /* an edit of its own now */
	if (!e->set)
		e->set = json_object();
	if (!e->unset)
		e->unset = json_object();
	if (e->kind == P_MODIFY && !e->base)
		e->base = json_object();
	if (set) {
		json_object_foreach(set, key, val) {
			if (e->kind == P_MODIFY && !pend_touches(e, key) &&
			    json_object_get(file_item, key))
				json_object_set(e->base, key, json_object_get(file_item, key));
			json_object_set(e->set, key, val);
			json_object_del(e->unset, key);
		}
	}
	for (i = 0; i < json_array_size(unset); i++) {
		key = json_string_value(json_array_get(unset, i));
		if (e->kind == P_MODIFY && !pend_touches(e, key) && json_object_get(file_item, key))
			json_object_set(e->base, key, json_object_get(file_item, key));
		json_object_del(e->set, key);
		json_object_set_new(e->unset, key, json_true());
	}
}

/* Whether the keys @patch touches are all touched by @e already. */
static bool pend_covers(const struct fdb_pending *e, const struct jfs_patch *patch)
{
	const char *key;
	json_t *val;
	size_t i;

	if (patch->set)
		json_object_foreach(patch->set, key, val)
			if (!pend_touches(e, key))
				return false;
	for (i = 0; i < json_array_size(patch->unset); i++)
		if (!pend_touches(e, json_string_value(json_array_get(patch->unset, i))))
			return false;
	return true;
}

/* @item with @set and @unset (objects, may be NULL) applied: a new reference. */
static json_t *patch_apply(const json_t *item, const json_t *set, const json_t *unset)
{
	json_t *res = json_copy((json_t *)item), *val;
	const char *key;

	if (!res)
		abort();
	if (set)
		json_object_foreach((json_t *)set, key, val)
			json_object_set(res, key, val);
	if (unset)
		json_object_foreach((json_t *)unset, key, val)
			json_object_del(res, key);
	return res;
}


static bool values_differ(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a != b;
	return !jfs_json_equal(a, b);
}

/*
 * The key of @e's patch whose value in @fresh differs from the base it was
 * made on, or NULL. updatedAt only counts when it is all the patch touches:
 * every edit bumps it, and so does every save Jovo makes.
 */
static const char *pend_conflict(const struct fdb_pending *e, const json_t *fresh)
{
	size_t ntouched = json_object_size(e->set) + json_object_size(e->unset);
	const json_t *parts[2] = { e->set, e->unset };
	const char *key;
	json_t *val;
	size_t k;

	for (k = 0; k < 2; k++) {
		json_object_foreach((json_t *)parts[k], key, val) {
			if (ntouched > 1 && !strcmp(key, "updatedAt"))
				continue;
			if (values_differ(json_object_get(fresh, key), json_object_get(e->base, key)))
				return key;
		}
	}
	return NULL;
}

/* @e's base becomes @item (hash @hash): the touched keys' values in it. */
static void pend_rebase_onto(struct fdb_pending *e, const json_t *item, uint64_t hash)
{
	const json_t *parts[2] = { e->set, e->unset };
	const char *key;
	json_t *val;
	size_t k;

	for (k = 0; k < 2; k++) {
		json_object_foreach((json_t *)parts[k], key, val) {
			if (json_object_get(item, key))
				json_object_set_new(e->base, key,
						    json_deep_copy(json_object_get(item, key)));
			else
				json_object_del(e->base, key);
		}
	}
	e->base_hash = hash;
}

/* Under lock: queue a lost change of @id for failures(); @keys (new reference) or NULL. */
static void fail_add(struct filedb_store *st, const char *id, json_t *keys,
		     const struct jfs_err *e)
{
	struct fdb_failure *f;

	if (st->nfail >= MAX_FAILURES) {
		/* nobody asks: forget the oldest (each was logged when it happened) */
		f = st->fail_head;
		st->fail_head = f->next;
		if (!st->fail_head)
			st->fail_tail = &st->fail_head;
		st->nfail--;
		free(f->id);
		json_decref(f->keys);
		free(f);
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->id = strdup(id)))
		abort();
	f->keys = keys;
	f->err = *e;
	if (!f->err.code)
		f->err.code = EIO;
	*st->fail_tail = f;
	st->fail_tail = &f->next;
	st->nfail++;
}

/* The keys of @parts' objects as a new array. */
static json_t *keys_of(const json_t *const *parts, size_t nparts)
{
	json_t *keys = json_array(), *val;
	const char *key;
	size_t k;

	if (!keys)
		abort();
	for (k = 0; k < nparts; k++)
		json_object_foreach((json_t *)parts[k], key, val)
			json_array_append_new(keys, json_string(key));
	return keys;
}

/* What @e's change touches: a new array of keys, or NULL for the whole item. */
static json_t *pend_keys(const struct fdb_pending *e)
{
	const json_t *parts[2] = { e->set, e->unset };

	switch (e->kind) {
	case P_MODIFY:
		return keys_of(parts, 2);
	case P_PUT:
		parts[0] = e->result;
		return keys_of(parts, 1);
	default:
		return NULL;
	}
}

static void changed_add(struct filedb_store *st, const char *id)
{
	if (st->nchanged == st->changed_alloc) {
		size_t na = st->changed_alloc ? st->changed_alloc * 2 : 64;
		char **c = realloc(st->changed, na * sizeof(*c));

		if (!c)
			abort();
		st->changed = c;
		st->changed_alloc = na;
	}
	if (!(st->changed[st->nchanged++] = strdup(id)))
		abort();
}

/* Under lock: drop @e's edits, which another writer overtook. */
static void pend_drop_conflict(struct filedb_store *st, struct fdb_pending *e, const char *why)
{
	struct jfs_err ce;

	jfs_err_set(&ce, ESTALE, "edit of '%s' dropped: %s", e->id, why);
	jfs_log(LOG_ERR, "filedb: %s", ce.msg);
	fail_add(st, e->id, pend_keys(e), &ce);
	changed_add(st, e->id);
	pend_del(st, e);
}

/* One pending change as a save saw it. */
struct save_op {
	char *id;
	enum pend_kind kind;
	bool replace;
	bool reapply;         /* P_MODIFY: a guard's re-apply only */
	uint64_t version;
	uint64_t create_seq;
	json_t *set, *unset;  /* P_MODIFY: copies of the patch */
	json_t *base;         /* P_MODIFY: a copy of its base */
	uint64_t base_hash;   /* P_MODIFY */
	json_t *result;       /* P_PUT: new reference */
	bool written;         /* the save wrote the item */
	uint64_t hash;        /* of what it wrote */
	uint64_t len;         /* its length */
};

/* ---- guards: saved edits watched for stale rewrites ---- */

static struct fdb_guard *guard_of(struct jfs_hnode *node)
{
	return jfs_container_of(node, struct fdb_guard, node);
}

static struct fdb_guard *guard_find(struct filedb_store *st, const char *id)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&st->guards, node, jfs_fdb_hash(id, strlen(id)))
		if (!strcmp(guard_of(node)->id, id))
			return guard_of(node);
	return NULL;
}

static void guard_unlink_age(struct filedb_store *st, struct fdb_guard *g)
{
	if (g->older)
		g->older->newer = g->newer;
	else
		st->goldest = g->newer;
	if (g->newer)
		g->newer->older = g->older;
	else
		st->gnewest = g->older;
	g->older = g->newer = NULL;
}

static void guard_link_newest(struct filedb_store *st, struct fdb_guard *g)
{
	g->older = st->gnewest;
	g->newer = NULL;
	if (st->gnewest)
		st->gnewest->newer = g;
	else
		st->goldest = g;
	st->gnewest = g;
}

static void guard_del(struct filedb_store *st, struct fdb_guard *g)
{
	jfs_hmap_remove(&st->guards, &g->node);
	guard_unlink_age(st, g);
	st->guard_bytes -= g->cost;
	json_decref(g->set);
	json_decref(g->unset);
	json_decref(g->states);
	free(g->id);
	free(g);
}

/* Under lock: forget guards past their time, and the oldest while over the bounds. */
static void guard_expire(struct filedb_store *st, int64_t now)
{
	while (st->goldest && (st->goldest->expires_ms <= now || st->guards.n > MAX_GUARDS ||
			       st->guard_bytes > MAX_GUARD_BYTES))
		guard_del(st, st->goldest);
}

/*
 * Under lock, after a save wrote @op (a P_MODIFY): guard it. A guard
 * already there (an earlier save of the id in the window) grows: its
 * patch takes @op's on top, and a stale writer may hold the id as before
 * any of the saves, so every earlier state is kept.
 */
static void guard_saved(struct filedb_store *st, const struct save_op *op, int64_t now)
{
	const json_t *gparts[2], *oparts[2] = { op->set, op->unset };
	struct fdb_guard *g;
	json_t *state, *val, *old;
	const char *key;
	size_t i, k;

	if (!st->guard_ms)
		return;
	g = guard_find(st, op->id);
	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g || !(g->id = strdup(op->id)))
			abort();
		g->set = json_object();
		g->unset = json_object();
		g->states = json_array();
		jfs_hmap_add(&st->guards, &g->node, jfs_fdb_hash(op->id, strlen(op->id)));
	} else {
		guard_unlink_age(st, g);
		st->guard_bytes -= g->cost;
	}
	gparts[0] = g->set;
	gparts[1] = g->unset;

	/* before this save: @op's base, and what the earlier saves wrote */
	state = op->base ? json_deep_copy(op->base) : json_object();
	json_object_foreach((json_t *)g->set, key, val)
		if (!json_object_get(op->set, key) && !json_object_get(op->unset, key))
			json_object_set_new(state, key, json_deep_copy(val));
	/* keys new to the guard held their base in the earlier states too */
	json_array_foreach(g->states, i, old) {
		for (k = 0; k < 2; k++) {
			json_object_foreach((json_t *)oparts[k], key, val) {
				if (json_object_get(gparts[0], key) || json_object_get(gparts[1], key))
					continue;
				if (json_object_get(op->base, key))
					json_object_set_new(old, key, json_deep_copy(json_object_get(
									   op->base, key)));
			}
		}
	}
	json_object_foreach((json_t *)op->set, key, val) {
		json_object_set_new(g->set, key, json_deep_copy(val));
		json_object_del(g->unset, key);
	}
	json_object_foreach((json_t *)op->unset, key, val) {
		json_object_del(g->set, key);
		json_object_set_new(g->unset, key, json_true());
	}
	json_array_foreach(g->states, i, old) {
		if (jfs_json_equal(old, state))
			break;
	}
	if (i == json_array_size(g->states))
		json_array_append(g->states, state);
	json_decref(state);
	if (json_array_size(g->states) > MAX_GUARD_STATES)
		json_array_remove(g->states, 0);

	g->hash = op->hash;
	g->expires_ms = now + st->guard_ms;
	if (!op->reapply)
		g->reapplied = 0; /* a new edit: count its re-applies afresh */
	/* the item's size bounds the patch and each state */
	g->cost = sizeof(*g) + strlen(g->id) + op->len * (1 + json_array_size(g->states));
	st->guard_bytes += g->cost;
	guard_link_newest(st, g);
	guard_expire(st, now);
}

/*
 * Whether @item holds @vals's value (absent: absent) of every key @g
 * touched but "updatedAt", which Jovo's stale copy keeps old anyway.
 */
static bool guard_keys_equal(const struct fdb_guard *g, const json_t *item, const json_t *vals)
{
	const json_t *parts[2] = { g->set, g->unset };
	const char *key;
	json_t *val;
	size_t k;

	for (k = 0; k < 2; k++) {
		json_object_foreach((json_t *)parts[k], key, val) {
			if (strcmp(key, "updatedAt") &&
			    values_differ(json_object_get(item, key), json_object_get(vals, key)))
				return false;
		}
	}
	return true;
}

/*
 * Under lock: @fresh (the file's item, bytes hashing to @hash) has @g's
 * keys back as before a save: make the edit pending again (on top of @e,
 * a P_MODIFY of the id, or NULL). Gives up after MAX_REAPPLY.
 */
static void guard_reapply(struct filedb_store *st, struct fdb_guard *g, struct fdb_pending *e,
			  const json_t *fresh, uint64_t hash)
{
	const json_t *parts[2] = { g->set, g->unset };
	const char *key;
	json_t *val, *fv;
	size_t k;

	if (++g->reapplied > MAX_REAPPLY) {
		struct jfs_err ce;

		jfs_err_set(&ce, ESTALE, "edit of '%s' lost: stale rewrites of the file undid it "
			    "%u times; not applying it again", g->id, g->reapplied);
		jfs_log(LOG_ERR, "filedb: %s", ce.msg);
		fail_add(st, g->id, keys_of(parts, 2), &ce);
		guard_del(st, g);
		return;
	}
	jfs_log(LOG_WARNING, "filedb: '%s': a stale rewrite of the file undid a stored edit; "
		"applying it again", g->id);
	if (!e) {
		e = pend_add(st, g->id, P_MODIFY);
		e->set = json_object();
		e->unset = json_object();
		e->base = json_object();
		e->base_hash = hash;
		e->reapply = true;
	}
	for (k = 0; k < 2; k++) {
		json_object_foreach((json_t *)parts[k], key, val) {
			/* the revert is no conflict: the base of the key is what is there now */
			fv = json_object_get(fresh, key);
			if (fv)
				json_object_set_new(e->base, key, json_deep_copy(fv));
			else
				json_object_del(e->base, key);
			if (pend_touches(e, key))
				continue; /* edited again since: the newer edit wins */
			if (k == 0)
				json_object_set_new(e->set, key, json_deep_copy(val));
			else
				json_object_set_new(e->unset, key, json_true());
		}
	}
	g->hash = hash; /* this revert is handled: not counted again */
	pend_touched(st, e);
}

/*
 * Under lock, after st->cur changed to a rescan of a foreign write and
 * before pend_rebase(): re-apply guarded edits that a stale writer undid.
 * A guarded item that holds some third value was really changed: its guard
 * goes, and the usual rules hold.
 */
static void guard_check(struct filedb_store *st)
{
	struct fdb_snap *s = st->cur;
	struct fdb_guard *g, *next;
	size_t j;

	guard_expire(st, jfs_mono_ms());
	for (g = st->goldest; g; g = next) {
		long i = jfs_fdb_index_find(&s->idx, g->id, strlen(g->id));
		struct fdb_pending *e;
		json_t *fresh, *state;
		int ret;

		next = g->newer;
		if (i < 0) {
			guard_del(st, g); /* deleted: no stale copy of an edit brings it back */
			continue;
		}
		if (s->idx.items[i].hash == g->hash)
			continue;
		e = st->pending.n ? pend_find(st, g->id) : NULL;
		if (e && e->kind != P_MODIFY) {
			guard_del(st, g); /* created anew or removed since: that decides */
			continue;
		}
		ret = snap_read_item(st, s, (size_t)i, &fresh, NULL);
		if (ret == -EAGAIN) {
			s->racy = true; /* rewritten again already: rescan next time, decide then */
			continue;
		}
		if (ret)
			continue; /* unreadable: loads and pend_rebase() report it */
		if (guard_keys_equal(g, fresh, g->set)) {
			/* the edit holds; something else of the item changed */
			g->hash = s->idx.items[i].hash;
			json_decref(fresh);
			continue;
		}
		json_array_foreach(g->states, j, state) {
			if (guard_keys_equal(g, fresh, state))
				break;
		}
		if (j < json_array_size(g->states)) {
			next = g->newer; /* guard_reapply() may free g */
			guard_reapply(st, g, e, fresh, s->idx.items[i].hash);
		} else {
			guard_del(st, g);
		}
		json_decref(fresh);
	}
}

/*
 * Under lock, after st->cur changed to a rescan of a foreign write:
 * re-apply pending edits onto the fresh records.
 */
static void pend_rebase(struct filedb_store *st)
{
	struct fdb_snap *s = st->cur;
	struct jfs_hnode *node, *next;

	jfs_hmap_for_each_safe(&st->pending, node, next) {
		struct fdb_pending *e = pend_of(node);
		long i = jfs_fdb_index_find(&s->idx, e->id, strlen(e->id));
		struct jfs_err rerr;
		int ret;
		const char *key;
		json_t *fresh;
		char why[320];

		if (e->kind == P_PUT) {
			if (!e->replace && i >= 0)
				pend_drop_conflict(st, e, "another writer created it meanwhile");
			else if (e->replace && i < 0)
				e->replace = false;
			continue;
		}
		if (e->kind != P_MODIFY)
			continue;
		if (i < 0) {
			pend_drop_conflict(st, e, "another writer deleted it meanwhile");
			continue;
		}
		if (s->idx.items[i].hash == e->base_hash)
			continue;
		jfs_err_clear(&rerr);
		ret = snap_read_item(st, s, (size_t)i, &fresh, &rerr);
		if (ret == -EAGAIN) {
			/* rewritten again already: rescan next time, decide then */
			s->racy = true;
			continue;
		}
		if (ret) {
			snprintf(why, sizeof(why), "cannot re-read it: %s", rerr.msg);
			pend_drop_conflict(st, e, why);
			continue;
		}
		key = pend_conflict(e, fresh);
		if (key) {
			snprintf(why, sizeof(why), "another writer changed its '%s' meanwhile",
				 key);
			json_decref(fresh);
			pend_drop_conflict(st, e, why);
			continue;
		}
		pend_rebase_onto(e, fresh, s->idx.items[i].hash);
		json_decref(fresh);
		e->version = ++st->seq;
	}
}

/* ---- scanning ---- */

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
	s = snap_new();
	s->fd = open(st->path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		ret = jfs_err_set(err, errno, "cannot open '%s': %s", st->path, strerror(errno));
		goto out_put;
	}
	if (fstat(s->fd, &sb)) {
		ret = jfs_err_set(err, errno, "cannot stat '%s': %s", st->path, strerror(errno));
		goto out_put;
	}
	ident_from_stat(&s->ident, &sb);
	*seen = s->ident;
	ret = jfs_fdb_scan_fd(s->fd, &s->idx, err);
	if (ret) {
		jfs_err_prefix(err, "'%s'", st->path);
		goto out_put;
	}
	if (fstat(s->fd, &sb) || (ident_from_stat(&id2, &sb), !ident_eq(&id2, &s->ident)) ||
	    stat_path(st, &idp, NULL) || !ident_eq(&idp, &s->ident)) {
		ret = jfs_err_set(err, EAGAIN, "'%s' changed while being read", st->path);
		goto out_put;
	}
	/* a write in the same clock tick would leave size and mtime alone */
	s->racy = ts_cmp(&s->ident.mtim, &tick) >= 0;
	*out = s;
	return 0;
out_put:
	snap_put(s);
	return ret;
}

/*
 * Scan, retrying with short sleeps up to st->retry_ms while the file is
 * half-written or changing. *@seen is the identity of the last attempt.
 */
static int scan_retry(struct filedb_store *st, struct fdb_snap **out, struct fdb_ident *seen,
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
static void diff_indexes(struct filedb_store *st, const struct jfs_fdb_index *old,
			 const struct jfs_fdb_index *new)
{
	size_t i, matched = 0;

	for (i = 0; i < new->n; i++) {
		const struct jfs_fdb_entry *e = &new->items[i];
		const char *id = jfs_fdb_index_id(new, i);
		long j;

		/* Jovo keeps the order: try the same position before the table */
		if (i < old->n && old->items[i].id_len == e->id_len &&
		    !memcmp(jfs_fdb_index_id(old, i), id, e->id_len))
			j = (long)i;
		else
			j = jfs_fdb_index_find(old, id, e->id_len);
		if (j >= 0)
			matched++;
		if (j < 0 || old->items[j].hash != e->hash)
			changed_add(st, id);
	}
	if (matched == old->n)
		return; /* ids are unique: nothing was removed */
	for (i = 0; i < old->n; i++)
		if (jfs_fdb_index_find(new, jfs_fdb_index_id(old, i), old->items[i].id_len) < 0)
			changed_add(st, jfs_fdb_index_id(old, i));
}

/*
 * Make st->cur describe the file as it is now: a stat when nothing
 * changed, else a rescan (with retries) that re-applies pending edits.
 * @force rescans anyway. Returns 0, or -EIO with the reason when the file
 * cannot be read as a FileDb file (st->cur then stays the last good one).
 * Takes scan_lock and lock; the caller holds neither.
 */
static int fdb_refresh(struct filedb_store *st, bool force, struct jfs_err *err)
{
	struct fdb_snap *s = NULL, *old;
	struct fdb_ident now;
	int ret;

	pthread_mutex_lock(&st->scan_lock);
	ret = stat_path(st, &now, err);
	pthread_mutex_lock(&st->lock);
	if (!ret && !force && ident_eq(&st->cur->ident, &now) && !st->cur->racy) {
		pthread_mutex_unlock(&st->lock);
		goto out_unlock_scan;
	}
	if (st->bad && ident_eq(&st->bad_ident, &now)) {
		/* known bad and unchanged since: fail without retrying again */
		if (err)
			*err = st->bad_err;
		ret = -EIO;
		pthread_mutex_unlock(&st->lock);
		goto out_unlock_scan;
	}
	pthread_mutex_unlock(&st->lock);

	ret = scan_retry(st, &s, &now, err);
	pthread_mutex_lock(&st->lock);
	if (ret) {
		if (err)
			err->code = EIO;
		ret = -EIO;
		if (!st->bad || !ident_eq(&st->bad_ident, &now))
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
	diff_indexes(st, &old->idx, &s->idx);
	st->cur = s;
	st->bad = false;
	guard_check(st);
	pend_rebase(st);
	pthread_mutex_unlock(&st->lock);
	snap_put(old);
out_unlock_scan:
	pthread_mutex_unlock(&st->scan_lock);
	return ret;
}

/* ---- saving ---- */

struct out_file {
	int fd;
	char *buf;
	size_t len;
	uint64_t pos;   /* bytes in the file + buffered */
	uint64_t flushed;
};

static int out_flush(struct out_file *o)
{
	int ret = write_full(o->fd, o->buf, o->len, o->flushed);

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
			ret = write_full(o->fd, p, len, o->flushed);
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

		if ((ret = pread_full(src, o->buf, n, (uint64_t)in)))
			return ret;
		if ((ret = write_full(o->fd, o->buf, n, o->flushed)))
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
	e.created_ms = item_time(item, "createdAt");
	e.updated_ms = item_time(item, "updatedAt");
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
				e.flags = first && m == i ? 0 : JFS_FDB_STD_GAP;
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
		if ((ret = snap_read_item(st, s, i, &item, err)))
			goto out_free;
		res = patch_apply(item, op->set, op->unset);
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
	size_t i;

	for (i = 0; i < nops; i++) {
		struct save_op *op = &ops[i];
		struct fdb_pending *e = pend_find(st, op->id);

		if (op->written && op->kind == P_MODIFY)
			guard_saved(st, op, now);
		if (!e)
			continue;
		if (e->version == op->version) {
			pend_del(st, e);
			continue;
		}
		/* changed again while we saved: now relative to what we wrote */
		if (op->written && op->kind == P_MODIFY && e->kind == P_MODIFY) {
			json_object_foreach(op->set, key, val)
				json_object_set_new(e->base, key, json_deep_copy(val));
			json_object_foreach(op->unset, key, val)
				json_object_del(e->base, key);
			e->base_hash = op->hash;
		} else if (op->written && e->kind == P_PUT && op->kind == P_PUT &&
			   e->put_version <= op->version) {
			/* the new item is in the file now: later edits modify it */
			e->kind = P_MODIFY;
			e->replace = false;
			e->base = json_object();
			pend_rebase_onto(e, op->result, op->hash);
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
		if (ts_cmp(&now, m) > 0)
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

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
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
	char *tmp = NULL;
	int64_t t0;
	int ret;

	if ((ret = fdb_refresh(st, false, err)))
		return ret;
	jfs_fdb_index_init(&nidx);
	t0 = jfs_mono_ms();

	pthread_mutex_lock(&st->lock);
	if (!st->pending.n) {
		pthread_mutex_unlock(&st->lock);
		return 0;
	}
	s = st->cur;
	snap_get(s);
	ops = calloc(st->pending.n, sizeof(*ops));
	if (!ops)
		abort();
	jfs_hmap_for_each(&st->pending, node) {
		struct fdb_pending *e = pend_of(node);
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
			op->unset = json_copy(e->unset);
			op->base = json_deep_copy(e->base);
			op->base_hash = e->base_hash;
			op->reapply = e->reapply;
		}
		op->result = json_incref(e->result);
	}
	pthread_mutex_unlock(&st->lock);

	/* write the new file from the snapshot, holding no lock */
	{
		struct jfs_strbuf t;
		char *base = strrchr(st->path, '/') + 1;

		jfs_strbuf_init(&t);
		jfs_strbuf_addf(&t, "%s/.%s.jovofs-XXXXXX", st->dir, base);
		tmp = jfs_strbuf_detach(&t, NULL);
	}
	o.fd = mkostemp(tmp, O_CLOEXEC);
	if (o.fd < 0) {
		ret = jfs_err_set(err, errno, "cannot create a temporary file next to '%s': %s",
				  st->path, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out_free;
	}
	if (fchmod(o.fd, s->ident.mode ? s->ident.mode : 0644) == 0 &&
	    (s->ident.uid != geteuid() || s->ident.gid != getegid()))
		(void)!fchown(o.fd, s->ident.uid, s->ident.gid); /* best effort, as root */
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
	ret = stat_path(st, &now, NULL);
	pthread_mutex_lock(&st->lock);
	if (ret || st->cur != s || !ident_eq(&now, &s->ident)) {
		pthread_mutex_unlock(&st->lock);
		pthread_mutex_unlock(&st->scan_lock);
		ret = -EAGAIN;
		goto out_unlink;
	}
	pthread_mutex_unlock(&st->lock);
	if (rename(tmp, st->path)) {
		ret = jfs_err_set(err, errno, "cannot replace '%s': %s", st->path, strerror(errno));
		pthread_mutex_unlock(&st->scan_lock);
		goto out_unlink;
	}
	free(tmp);
	tmp = NULL;
	ret = fsync_dir(st->dir);
	if (ret)
		jfs_log(LOG_WARNING, "filedb: cannot fsync '%s': %s", st->dir, strerror(-ret));
	ret = 0;

	ns = snap_new();
	ns->fd = o.fd;
	o.fd = -1;
	if (fstat(ns->fd, &sb) == 0)
		ident_from_stat(&ns->ident, &sb);
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
	snap_put(old);
	goto out_free;

out_unlink:
	if (tmp)
		unlink(tmp);
out_free:
	if (o.fd >= 0)
		close(o.fd);
	free(o.buf);
	free(tmp);
	jfs_fdb_index_release(&nidx);
	free_ops(ops, nops);
	snap_put(s);
	return ret;
}

/* Save all pending changes; retries while the file changes under it. */
static int fdb_save(struct filedb_store *st, struct jfs_err *err)
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
static void save_failed(struct filedb_store *st, const struct jfs_err *e)
{
	struct jfs_hnode *node;

	st->fail_gen++;
	st->save_err = *e;
	if (!st->save_err.code)
		st->save_err.code = EIO;
	jfs_log(LOG_ERR, "filedb: cannot save '%s': %s", st->path, st->save_err.msg);
	jfs_hmap_for_each(&st->pending, node) {
		struct fdb_pending *p = pend_of(node);

		if (!p->fail_reported) {
			p->fail_reported = true;
			fail_add(st, p->id, pend_keys(p), &st->save_err);
		}
	}
}

static void *writer_main(void *arg)
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
		ret = fdb_save(st, &e);
		pthread_mutex_lock(&st->lock);
		if (ret) {
			save_failed(st, &e);
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

/* ---- ops ---- */

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
	const char *base = strrchr(st->path, '/') + 1;
	size_t blen = strlen(base);
	struct dirent *de;
	DIR *d = opendir(st->dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		const char *n = de->d_name;

		if (n[0] != '.' || strncmp(n + 1, base, blen) || strncmp(n + 1 + blen, ".jovofs-", 8) ||
		    strlen(n + 1 + blen + 8) != 6)
			continue;
		if (!unlinkat(dirfd(d), n, 0))
			jfs_log(LOG_INFO, "filedb: removed '%s/%s', left by an interrupted save",
				st->dir, n);
	}
	closedir(d);
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
	ret = write_full(fd, "[]", 2, 0);
	if (!ret && fsync(fd))
		ret = -errno;
	close(fd);
	if (ret)
		return jfs_err_set(err, -ret, "cannot write '%s': %s", st->path, strerror(-ret));
	fsync_dir(st->dir);
	jfs_log(LOG_INFO, "filedb: created '%s'", st->path);
	return 0;
}

static int filedb_failures(struct jfs_store *store, jfs_failed_fn *fn, void *data);

static void store_free(struct filedb_store *st)
{
	struct jfs_hnode *node;
	size_t i;

	while ((node = jfs_hmap_first(&st->pending)))
		pend_del(st, pend_of(node));
	jfs_hmap_release(&st->pending);
	while (st->goldest)
		guard_del(st, st->goldest);
	jfs_hmap_release(&st->guards);
	for (i = 0; i < st->nchanged; i++)
		free(st->changed[i]);
	free(st->changed);
	filedb_failures(&st->base, NULL, NULL);
	snap_put(st->cur);
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
				/* jovofs's own: how long saved edits are guarded (0: not at all) */
				if (!json_is_integer(val) || json_integer_value(val) < 0)
					return jfs_err_set(err, EINVAL, "'filedb.staleRewriteWindowMs' "
							   "must be an integer >= 0");
				guard_ms = json_integer_value(val);
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
		if (errno != ENOENT) {
			ret = jfs_err_set(err, errno, "cannot stat '%s': %s", st->path,
					  strerror(errno));
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
	ret = scan_retry(st, &st->cur, &seen, err);
	if (ret) {
		if (ret == -EAGAIN)
			err->code = EIO, ret = -EIO;
		else if (ret == -EINVAL)
			jfs_err_prefix(err, "not a Jovo FileDb file");
		goto out_free;
	}
	*out = &st->base;
	return 0;
out_free:
	store_free(st);
	return ret;
}

static int filedb_start(struct jfs_store *store, struct jfs_err *err)
{
	struct filedb_store *st = filedb_from_store(store);
	int ret;

	if (st->read_only || st->started)
		return 0;
	pthread_mutex_lock(&st->lock);
	st->stop = false;
	st->running = true;
	pthread_mutex_unlock(&st->lock);
	ret = pthread_create(&st->thread, NULL, writer_main, st);
	if (ret) {
		pthread_mutex_lock(&st->lock);
		st->running = false;
		pthread_mutex_unlock(&st->lock);
		return jfs_err_set(err, ret, "cannot start the filedb writer: %s", strerror(ret));
	}
	st->started = true;
	return 0;
}

static int cmp_pending_seq(const void *a, const void *b)
{
	const struct fdb_pending *x = *(struct fdb_pending *const *)a;
	const struct fdb_pending *y = *(struct fdb_pending *const *)b;

	return x->create_seq < y->create_seq ? -1 : x->create_seq > y->create_seq;
}

static void page_add(struct jfs_list_page *page, size_t *alloc, const char *id, int64_t c,
		     int64_t u)
{
	struct jfs_list_entry *le;

	if (page->n == *alloc) {
		size_t na = *alloc ? *alloc * 2 : 64;
		struct jfs_list_entry *ne = realloc(page->entries, na * sizeof(*ne));

		if (!ne)
			abort();
		page->entries = ne;
		*alloc = na;
	}
	le = &page->entries[page->n++];
	if (!(le->id = strdup(id)))
		abort();
	le->created_ms = c;
	le->updated_ms = u;
}

/* A time of a P_MODIFY item: from the patch when it touches @key, else @file_ms. */
static int64_t pend_time(const struct fdb_pending *e, const char *key, int64_t file_ms)
{
	if (json_object_get(e->unset, key))
		return -1;
	if (json_object_get(e->set, key))
		return item_time(e->set, key);
	return file_ms;
}

static int filedb_list(struct jfs_store *store, const char *cursor, size_t limit,
		       struct jfs_list_page *page, struct jfs_err *err)
{
	struct filedb_store *st = filedb_from_store(store);
	struct fdb_pending **puts = NULL;
	unsigned long long pos = 0;
	size_t nputs = 0, nfile, alloc = 0;
	struct jfs_hnode *node;
	struct jfs_err ferr;
	char *end;

	memset(page, 0, sizeof(*page));
	if (cursor) {
		errno = 0;
		pos = strtoull(cursor, &end, 10);
		if (errno || end == cursor || *end || cursor[0] == '-')
			return jfs_err_set(err, EINVAL, "invalid listing cursor '%s'", cursor);
	}
	if (!limit)
		limit = SIZE_MAX;
	/* a half-written file lists as the last good index */
	fdb_refresh(st, false, &ferr);

	pthread_mutex_lock(&st->lock);
	nfile = st->cur->idx.n;
	if (st->pending.n) {
		puts = malloc(st->pending.n * sizeof(*puts));
		if (!puts)
			abort();
		jfs_hmap_for_each(&st->pending, node)
			if (pend_of(node)->kind == P_PUT)
				puts[nputs++] = pend_of(node);
		qsort(puts, nputs, sizeof(*puts), cmp_pending_seq);
	}
	for (; pos < nfile + nputs && page->n < limit; pos++) {
		const struct fdb_pending *e;

		if (pos < nfile) {
			const struct jfs_fdb_entry *fe = &st->cur->idx.items[pos];
			const char *id = jfs_fdb_index_id(&st->cur->idx, pos);

			e = st->pending.n ? pend_find(st, id) : NULL;
			if (!e)
				page_add(page, &alloc, id, fe->created_ms, fe->updated_ms);
			else if (e->kind == P_MODIFY)
				page_add(page, &alloc, id, pend_time(e, "createdAt", fe->created_ms),
					 pend_time(e, "updatedAt", fe->updated_ms));
			continue;
		}
		e = puts[pos - nfile];
		page_add(page, &alloc, e->id, item_time(e->result, "createdAt"),
			 item_time(e->result, "updatedAt"));
	}
	if (pos < nfile + nputs) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%llu", pos);
		if (!(page->next = strdup(buf)))
			abort();
	}
	pthread_mutex_unlock(&st->lock);
	free(puts);
	return 0;
}

static int filedb_load(struct jfs_store *store, const char *id, json_t **item,
		       struct jfs_err *err)
{
	struct filedb_store *st = filedb_from_store(store);
	json_t *set = NULL, *unset = NULL, *raw;
	struct fdb_pending *e;
	struct fdb_snap *s;
	struct jfs_err ferr;
	int ret, fret, attempt;
	long i;

	for (attempt = 0; attempt < 3; attempt++) {
		jfs_err_clear(&ferr);
		fret = fdb_refresh(st, attempt > 0, &ferr);
		pthread_mutex_lock(&st->lock);
		e = st->pending.n ? pend_find(st, id) : NULL;
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
			unset = json_copy(e->unset);
		}
		s = st->cur;
		snap_get(s);
		pthread_mutex_unlock(&st->lock);
		ret = snap_read_item(st, s, (size_t)i, &raw, err);
		snap_put(s);
		if (!ret && e) {
			*item = patch_apply(raw, set, unset);
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
	size_t i;

	if (patch->set && json_object_get(patch->set, "id"))
		return true;
	for (i = 0; i < json_array_size(patch->unset); i++)
		if (!strcmp(json_string_value(json_array_get(patch->unset, i)) ?: "", "id"))
			return true;
	return false;
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
	if (json_object_get(e->unset, patch->cond_key))
		return !patch->cond_value;
	v = json_object_get(e->set, patch->cond_key);
	if (!v)
		return -1;
	return patch->cond_value && jfs_json_equal(v, patch->cond_value);
}

static int check_patch(struct filedb_store *st, const char *id, const struct jfs_patch *patch,
		       struct jfs_err *err)
{
	size_t i;

	if (st->read_only)
		return jfs_err_set(err, EROFS, "'%s' is read-only", st->path);
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
	struct filedb_store *st = filedb_from_store(store);
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
		fret = fdb_refresh(st, attempt > 0, &ferr);
		pthread_mutex_lock(&st->lock);
		if ((ret = pend_wait_room(st, err)))
			goto out_unlock;
		e = st->pending.n ? pend_find(st, id) : NULL;
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
			pend_merge_patch(e, set, patch->unset, NULL);
			item = patch_apply(e->result, set, NULL);
			for (i = 0; i < (long)json_array_size(patch->unset); i++)
				json_object_del(item, json_string_value(json_array_get(patch->unset, i)));
			json_decref(set);
			json_decref(e->result);
			e->result = item;
			pend_touched(st, e);
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
		if (e && pend_covers(e, patch) && (cond = pend_condition(e, patch)) >= 0) {
			/* decided from the pending patch alone: no I/O */
			if (!cond) {
				ret = jfs_err_set(err, ECANCELED, "'%s' changed: condition on '%s' failed",
						  id, patch->cond_key);
				goto out_unlock;
			}
			set = patch->set ? json_deep_copy(patch->set) : NULL;
			pend_merge_patch(e, set, patch->unset, NULL);
			json_decref(set);
			pend_touched(st, e);
			goto out_unlock;
		}
		s = st->cur;
		snap_get(s);
		version = e ? e->version : 0;
		pthread_mutex_unlock(&st->lock);

		/* the record as in the file, read without the lock */
		ret = snap_read_item(st, s, (size_t)i, &item, err);
		if (ret) {
			snap_put(s);
			if (ret == -EAGAIN)
				continue;
			return ret;
		}
		pthread_mutex_lock(&st->lock);
		if (st->cur != s || (st->pending.n ? pend_find(st, id) : NULL) != e ||
		    (e && e->version != version)) {
			/* something moved meanwhile: decide again */
			pthread_mutex_unlock(&st->lock);
			json_decref(item);
			snap_put(s);
			if (++moved < 100)
				attempt--;
			continue;
		}
		{
			json_t *cur = e ? patch_apply(item, e->set, e->unset) : json_incref(item);
			bool holds = jfs_patch_condition_holds(patch, cur);

			json_decref(cur);
			if (!holds) {
				ret = jfs_err_set(err, ECANCELED, "'%s' changed: condition on '%s' failed",
						  id, patch->cond_key);
				json_decref(item);
				snap_put(s);
				goto out_unlock;
			}
		}
		if (!e) {
			e = pend_add(st, id, P_MODIFY);
			e->base_hash = s->idx.items[i].hash;
		}
		set = patch->set ? json_deep_copy(patch->set) : NULL;
		pend_merge_patch(e, set, patch->unset, item);
		json_decref(set);
		json_decref(item);
		pend_touched(st, e);
		snap_put(s);
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
	struct filedb_store *st = filedb_from_store(store);
	struct fdb_pending *e;
	struct jfs_err ferr;
	json_t *copy, *iid;
	bool in_file;
	int fret, fret2;

	if (st->read_only)
		return jfs_err_set(err, EROFS, "'%s' is read-only", st->path);
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
	fret = fdb_refresh(st, false, &ferr);
	pthread_mutex_lock(&st->lock);
	if ((fret2 = pend_wait_room(st, err))) {
		pthread_mutex_unlock(&st->lock);
		json_decref(copy);
		return fret2;
	}
	e = st->pending.n ? pend_find(st, id) : NULL;
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
		e = pend_add(st, id, P_PUT);
	pend_clear(e);
	e->kind = P_PUT;
	e->replace = in_file;
	e->result = copy;
	e->create_seq = ++st->create_seq;
	pend_touched(st, e);
	e->put_version = e->version;
	pthread_mutex_unlock(&st->lock);
	return 0;
}

static int filedb_remove(struct jfs_store *store, const char *id, struct jfs_err *err)
{
	struct filedb_store *st = filedb_from_store(store);
	struct fdb_pending *e;
	struct jfs_err ferr;
	int fret, ret;

	if (st->read_only)
		return jfs_err_set(err, EROFS, "'%s' is read-only", st->path);
	jfs_err_clear(&ferr);
	fret = fdb_refresh(st, false, &ferr);
	pthread_mutex_lock(&st->lock);
	if ((ret = pend_wait_room(st, err))) {
		pthread_mutex_unlock(&st->lock);
		return ret;
	}
	e = st->pending.n ? pend_find(st, id) : NULL;
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
		e = pend_add(st, id, P_REMOVE);
	}
	pend_clear(e);
	e->kind = P_REMOVE;
	e->replace = false;
	pend_touched(st, e);
	pthread_mutex_unlock(&st->lock);
	return 0;
}

static int filedb_sync(struct jfs_store *store, const char *id, struct jfs_err *err)
{
	struct filedb_store *st = filedb_from_store(store);
	struct jfs_err se;
	uint64_t target, gen;
	int ret = 0;

	pthread_mutex_lock(&st->lock);
	target = st->seq;
	while (pend_waiting(st, id, target)) {
		if (st->running) {
			gen = st->fail_gen;
			st->urgent = true;
			pthread_cond_signal(&st->wake);
			pthread_cond_wait(&st->saved, &st->lock);
			/* a failed save is this call's failure only while it holds our changes */
			if (st->fail_gen != gen && pend_waiting(st, id, target)) {
				ret = -st->save_err.code;
				if (err)
					*err = st->save_err;
				break;
			}
			continue;
		}
		pthread_mutex_unlock(&st->lock);
		jfs_err_clear(&se);
		ret = fdb_save(st, &se);
		pthread_mutex_lock(&st->lock);
		if (ret) {
			save_failed(st, &se);
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
	struct filedb_store *st = filedb_from_store(store);
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
	struct filedb_store *st = filedb_from_store(store);
	char **ids;
	size_t n, i;
	int ret;

	ret = fdb_refresh(st, false, err);
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
	struct filedb_store *st = filedb_from_store(store);

	json_object_set_new(out, "backend", json_string("filedb"));
	json_object_set_new(out, "pathToFile", json_string(st->path));
	json_object_set_new(out, "writeDelayMs", json_integer(st->write_delay_ms));
	json_object_set_new(out, "staleRewriteWindowMs", json_integer(st->guard_ms));
}

static void filedb_close(struct jfs_store *store)
{
	struct filedb_store *st = filedb_from_store(store);
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
		fdb_refresh(st, false, &e);
	}
	if (st->pending.n && !st->read_only) {
		jfs_err_clear(&e);
		if (fdb_save(st, &e))
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
	.list = filedb_list,
	.load = filedb_load,
	.update = filedb_update,
	.create = filedb_create,
	.remove = filedb_remove,
	.sync = filedb_sync,
	.failures = filedb_failures,
	.changes = filedb_changes,
	.describe = filedb_describe,
	.close = filedb_close,
};
