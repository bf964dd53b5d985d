/*
 * The FUSE low-level operations: inode -> node, and every file operation.
 *
 * Locking: fs->lock guards the user table, the caches, write buffers and
 * scratch files. It is never held across a backend call: load and store
 * run unlocked and their results are installed under the lock, checked
 * against the user's generation so an older load never replaces a newer
 * write. Kernel notifications that take directory locks (inval_entry)
 * go through the notify thread; inode invalidations are sent directly.
 */
#include "fs/jfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/hmap.h"
#include "common/isotime.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "fs/idcodec.h"

#define XATTR_ID "user.jovofs.id"
#define XATTR_ERROR "user.jovofs.error"
#define LIST_PAGE 1000
#define ERR_HISTORY (JFS_SUB_RECORD + 1) /* last_error slot shared by history items */
#define JFS_SNAPSHOT_MIN (128 * 1024)      /* one FUSE read request */
#define JFS_BUSY_MS 3000                   /* a record changed this recently is read from copies */

/*
 * An element file open for writing: its content between open() and the
 * close() that commits it. The kernel's file handle (fi->fh) points here;
 * the file is opened with direct I/O, so the bytes being written never
 * reach the page cache other readers share: they see the stored content
 * until the commit.
 */
struct jfs_handle {
	fuse_ino_t ino;
	struct jfs_strbuf data;
	bool written;          /* written (or ftruncate()d) since the last commit */
	bool dormant;          /* opened with O_TRUNC and nothing written yet */
	bool fresh;            /* nothing written or truncated through it yet */
	bool snapshot;         /* a reader's copy of a large file, read whole or not at all */
	int error;             /* a write failed (EFBIG): the close reports it, stores nothing */
	pid_t opener;          /* the thread that opened it */
	uint64_t lost_seen;    /* u->lost_seq of its file kind last reported through it */
	json_t *seen;          /* the item the writer started from (new ref), may be NULL */
	struct jfs_user *u;
	struct jfs_handle *next;
};

/** A file that is not an element: lives in memory, never stored. */
struct jfs_scratch {
	fuse_ino_t ino;
	struct jfs_user *owner;
	int dirsub;            /* JFS_SUB_DIR or JFS_SUB_HISTDIR */
	char *name;
	struct jfs_strbuf data;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec atime, mtime, ctime;
	uint64_t nlookup;
	bool linked;           /* still has its name */
	fuse_ino_t alias;      /* after a rename onto an element: that element's inode */
	struct jfs_scratch *next;   /* in owner's list */
	struct jfs_scratch *hnext;  /* in the inode hash */
};

/** An entry invalidation for the notify thread. */
struct jfs_notify {
	fuse_ino_t parent;
	char *name;
	struct jfs_notify *next;
};

#define SCRATCH_BUCKETS 256
static struct jfs_scratch *scratch_hash[SCRATCH_BUCKETS]; /* guarded by fs->lock */

static const char *const elem_names[] = {
	[JFS_SUB_USER] = "user.json",
	[JFS_SUB_SESSION] = "session.json",
	[JFS_SUB_HISTDIR] = "history",
	[JFS_SUB_CREATED] = "createdAt",
	[JFS_SUB_UPDATED] = "updatedAt",
	[JFS_SUB_RECORD] = "record.json",
};

/* ------------------------------------------------------------------ */
/* inode numbers */

static fuse_ino_t user_ino(const struct jfs_user *u, unsigned sub)
{
	return ((fuse_ino_t)(u->slot + 1) << JFS_SUB_BITS) | sub;
}

static bool ino_is_user(fuse_ino_t ino)
{
	return !(ino & (JFS_INO_SCRATCH_BIT | JFS_INO_CONFLICT_BIT)) && ino >= JFS_SUB_COUNT;
}

static unsigned ino_sub(fuse_ino_t ino)
{
	return (unsigned)(ino & (JFS_SUB_COUNT - 1));
}

static enum jfs_elem sub_elem(unsigned sub)
{
	switch (sub) {
	case JFS_SUB_USER:
		return JFS_EL_USER;
	case JFS_SUB_SESSION:
		return JFS_EL_SESSION;
	case JFS_SUB_CREATED:
		return JFS_EL_CREATED_AT;
	case JFS_SUB_UPDATED:
		return JFS_EL_UPDATED_AT;
	default:
		return JFS_EL_HISTORY;
	}
}

static bool sub_is_element_file(unsigned sub)
{
	return sub == JFS_SUB_USER || sub == JFS_SUB_SESSION || sub == JFS_SUB_CREATED ||
	       sub == JFS_SUB_UPDATED || sub >= JFS_SUB_HIST0;
}

static int err_slot(unsigned sub)
{
	return sub >= JFS_SUB_HIST0 ? ERR_HISTORY : (int)sub;
}

/* ------------------------------------------------------------------ */
/* the user table */

static struct jfs_user *user_by_id(struct jfs *fs, const char *id, size_t len)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&fs->users.by_id, node, jfs_hash_bytes(id, len)) {
		struct jfs_user *u = jfs_container_of(node, struct jfs_user, hnode_id);

		if (u->id_len == len && !memcmp(u->id, id, len))
			return u;
	}
	return NULL;
}

static struct jfs_user *user_by_name(struct jfs *fs, const char *name)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&fs->users.by_name, node, jfs_hash_bytes(name, strlen(name))) {
		struct jfs_user *u = jfs_container_of(node, struct jfs_user, hnode_name);

		if (!strcmp(u->name, name))
			return u;
	}
	return NULL;
}

static struct jfs_user *user_by_ino(struct jfs *fs, fuse_ino_t ino)
{
	uint64_t slot = (ino >> JFS_SUB_BITS) - 1;

	if (!ino_is_user(ino) || slot >= fs->users.nslots)
		return NULL;
	return fs->users.slots[slot];
}

/** Find or add the user @id. Never fails (aborts on out-of-memory). */
static struct jfs_user *user_get(struct jfs *fs, const char *id, size_t len)
{
	struct jfs_utable *t = &fs->users;
	struct jfs_user *u = user_by_id(fs, id, len);

	if (u)
		return u;
	u = calloc(1, sizeof(*u));
	if (!u)
		abort();
	u->id = malloc(len + 1);
	if (!u->id)
		abort();
	memcpy(u->id, id, len);
	u->id[len] = '\0';
	u->id_len = len;
	u->name = jfs_id_to_name(id, len);
	u->created_ms = -1;
	u->updated_ms = -1;
	if (t->nslots == t->slots_alloc) {
		t->slots_alloc = t->slots_alloc ? t->slots_alloc * 2 : 1024;
		t->slots = realloc(t->slots, t->slots_alloc * sizeof(*t->slots));
		if (!t->slots)
			abort();
	}
	u->slot = t->nslots;
	t->slots[t->nslots++] = u;
	jfs_hmap_add(&t->by_id, &u->hnode_id, jfs_hash_bytes(u->id, len));
	jfs_hmap_add(&t->by_name, &u->hnode_name, jfs_hash_bytes(u->name, strlen(u->name)));
	return u;
}

/* ------------------------------------------------------------------ */
/* the record cache */

static size_t json_cost(const json_t *v)
{
	size_t cost = 96, i; /* jansson's nodes plus malloc overhead, measured roughly */
	const char *key;
	json_t *val;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, key, val)
			cost += 96 + strlen(key) + json_cost(val);
		break;
	case JSON_ARRAY:
		for (i = 0; i < json_array_size(v); i++)
			cost += 16 + json_cost(json_array_get(v, i));
		break;
	case JSON_STRING:
		cost += json_string_length(v);
		break;
	default:
		break;
	}
	return cost;
}

static void lru_unlink(struct jfs *fs, struct jfs_user *u)
{
	if (u->lru_prev)
		u->lru_prev->lru_next = u->lru_next;
	else if (fs->lru_head == u)
		fs->lru_head = u->lru_next;
	if (u->lru_next)
		u->lru_next->lru_prev = u->lru_prev;
	else if (fs->lru_tail == u)
		fs->lru_tail = u->lru_prev;
	u->lru_prev = u->lru_next = NULL;
}

static void lru_touch(struct jfs *fs, struct jfs_user *u)
{
	if (fs->lru_head == u)
		return;
	lru_unlink(fs, u);
	u->lru_next = fs->lru_head;
	if (fs->lru_head)
		fs->lru_head->lru_prev = u;
	fs->lru_head = u;
	if (!fs->lru_tail)
		fs->lru_tail = u;
}

static void item_drop(struct jfs *fs, struct jfs_user *u)
{
	json_decref(u->prev_item);
	u->prev_item = NULL;
	if (!u->item)
		return;
	lru_unlink(fs, u);
	fs->cache_bytes -= u->item_cost;
	json_decref(u->item);
	u->item = NULL;
	u->item_cost = 0;
}

static int fsize_slot(unsigned sub)
{
	if (sub >= JFS_SUB_USER && sub <= JFS_SUB_RECORD && sub != JFS_SUB_HISTDIR &&
	    sub != JFS_SUB_SESSION)
		return (int)sub; /* a session's existence depends on the clock: never cached */
	if (sub >= JFS_SUB_HIST0 && sub < JFS_SUB_HIST0 + 8)
		return JFS_SUB_RECORD + 1 + (int)(sub - JFS_SUB_HIST0);
	return -1;
}

/* @u->told index of @sub, or -1 */
static int told_slot(unsigned sub)
{
	return sub == JFS_SUB_SESSION ? JFS_SUB_SESSION : fsize_slot(sub);
}

static void fsize_forget(struct jfs_user *u)
{
	memset(u->fsize, 0, sizeof(u->fsize));
}

static void fsize_note(struct jfs_user *u, unsigned sub, const char *buf, size_t len)
{
	int slot = fsize_slot(sub);

	if (slot >= 0 && len < UINT32_MAX - 2)
		u->fsize[slot] = buf ? (uint32_t)len + 2 : 1;
}

/**
 * Install @item (new reference, consumed) as @u's cached item; @changed
 * when it differs from the one it replaces (a write, or a reload that
 * found a change).
 */
static void item_set(struct jfs *fs, struct jfs_user *u, json_t *item, bool changed)
{
	json_t *old = changed && u->item ? json_incref(u->item) : NULL;

	item_drop(fs, u);
	/* what the kernel may still hold the sizes of (see jfs_read) */
	u->prev_item = old;
	if (old)
		u->changed_ms = jfs_mono_ms();
	u->item = item;
	u->item_cost = json_cost(item);
	u->loaded_ms = jfs_mono_ms();
	u->gen++;
	u->exists = true;
	u->created_ms = jfs_item_created_ms(item);
	u->updated_ms = jfs_item_updated_ms(item);
	fs->cache_bytes += u->item_cost;
	lru_touch(fs, u);
	while (fs->cache_bytes > fs->opts.cache_size && fs->lru_tail && fs->lru_tail != u) {
		struct jfs_user *victim = fs->lru_tail;

		item_drop(fs, victim);
		json_decref(victim->served);
		victim->served = NULL;
		fs->m.evictions++;
	}
}

static bool item_fresh(struct jfs *fs, struct jfs_user *u)
{
	if (!u->item)
		return false;
	if (fs->change_feed)
		return true;
	return jfs_mono_ms() - u->loaded_ms < (int64_t)(fs->opts.cache_timeout * 1000);
}

static void invalidate_user(struct jfs *fs, struct jfs_user *u, const json_t *old_item,
			    const json_t *new_item);

/**
 * The item of @u, loading it when not cached or stale. Called with
 * fs->lock held; drops it around the load. Returns 0 and a new reference
 * in *@item, or -errno (-ENOENT: the user is gone).
 */
static int item_get(struct jfs *fs, struct jfs_user *u, json_t **item)
{
	struct jfs_err err;
	json_t *loaded = NULL, *old;
	bool changed;
	uint64_t gen;
	char *id;
	int rc;

	if (item_fresh(fs, u)) {
		fs->m.cache_hits++;
		lru_touch(fs, u);
		*item = json_incref(u->item);
		return 0;
	}
	fs->m.cache_misses++;
	gen = u->gen;
	id = strdup(u->id);
	if (!id)
		return -ENOMEM;
	pthread_mutex_unlock(&fs->lock);
	jfs_err_clear(&err);
	rc = jfs_policy_load(&fs->policy, id, &loaded, &err);
	if (rc < 0 && rc != -ENOENT)
		jfs_log(LOG_ERR, "cannot load '%s': %s", u->name, err.msg);
	pthread_mutex_lock(&fs->lock);
	free(id);
	if (rc == -ENOENT) {
		if (u->gen == gen) {
			old = u->item ? json_incref(u->item) : NULL;
			fsize_forget(u);
			item_drop(fs, u);
			if (u->exists) {
				u->exists = false;
				fs->list_gen++;
				fs->root_mtime_ms = jfs_now_ms();
			}
			u->gen++;
			if (old) {
				pthread_mutex_unlock(&fs->lock);
				invalidate_user(fs, u, old, NULL);
				pthread_mutex_lock(&fs->lock);
				json_decref(old);
			}
		}
		return -ENOENT;
	}
	if (rc < 0) {
		fs->m.load_errors++;
		/* a backend that is down: serve what we had rather than nothing */
		if (u->item) {
			*item = json_incref(u->item);
			return 0;
		}
		return rc;
	}
	if (u->gen != gen && u->item) {
		/* a write or another load got there first; theirs is newer */
		json_decref(loaded);
		*item = json_incref(u->item);
		return 0;
	}
	old = u->item ? json_incref(u->item) : NULL;
	changed = old && !jfs_json_equal(old, loaded);
	if (!u->exists) {
		fs->list_gen++;
		fs->root_mtime_ms = jfs_now_ms();
	}
	/*
	 * Sizes stay right across a reload only when nothing can have changed:
	 * the store tells us of changes, or the old item is the same.
	 */
	if (old ? changed : !fs->change_feed)
		fsize_forget(u);
	item_set(fs, u, json_incref(loaded), changed);
	*item = loaded;
	if (changed) {
		pthread_mutex_unlock(&fs->lock);
		invalidate_user(fs, u, old, loaded);
		pthread_mutex_lock(&fs->lock);
	}
	json_decref(old);
	return 0;
}

/* ------------------------------------------------------------------ */
/* kernel cache invalidation */

/* Queue an invalidation for the notify thread: @name NULL means inode @ino. */
static void notify_queue(struct jfs *fs, fuse_ino_t ino, const char *name)
{
	struct jfs_notify *n = calloc(1, sizeof(*n));

	if (!n)
		return;
	n->parent = ino;
	n->name = name ? strdup(name) : NULL;
	pthread_mutex_lock(&fs->lock);
	if (fs->notify_tail)
		fs->notify_tail->next = n;
	else
		fs->notify_head = n;
	fs->notify_tail = n;
	fs->m.invalidations++;
	pthread_cond_signal(&fs->notify_cond);
	pthread_mutex_unlock(&fs->lock);
}

static void *notify_thread(void *arg)
{
	struct jfs *fs = arg;
	struct jfs_notify *n;

	pthread_mutex_lock(&fs->lock);
	for (;;) {
		while (!fs->notify_head && !fs->stopping)
			pthread_cond_wait(&fs->notify_cond, &fs->lock);
		if (!fs->notify_head)
			break;
		n = fs->notify_head;
		fs->notify_head = n->next;
		if (!fs->notify_head)
			fs->notify_tail = NULL;
		pthread_mutex_unlock(&fs->lock);
		if (fs->se) {
			if (n->name)
				fuse_lowlevel_notify_inval_entry(fs->se, n->parent, n->name,
								 strlen(n->name));
			else
				fuse_lowlevel_notify_inval_inode(fs->se, n->parent, 0, 0);
		}
		free(n->name);
		free(n);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

/* which element files of an item exist (bit per sub), for entry invalidation */
static unsigned files_present(struct jfs *fs, const json_t *item)
{
	const struct jfs_policy_config *cfg = &fs->policy.cfg;
	int64_t now = jfs_now_ms();
	unsigned bits = 0;

	if (!item)
		return 0;
	if (jfs_policy_element(cfg, item, JFS_EL_USER, now))
		bits |= 1u << JFS_SUB_USER;
	if (jfs_policy_element(cfg, item, JFS_EL_SESSION, now))
		bits |= 1u << JFS_SUB_SESSION;
	if (cfg->enabled[JFS_EL_HISTORY])
		bits |= 1u << JFS_SUB_HISTDIR;
	if (jfs_policy_element(cfg, item, JFS_EL_CREATED_AT, now))
		bits |= 1u << JFS_SUB_CREATED;
	if (jfs_policy_element(cfg, item, JFS_EL_UPDATED_AT, now))
		bits |= 1u << JFS_SUB_UPDATED;
	bits |= 1u << JFS_SUB_RECORD;
	return bits;
}

/*
 * Tell the kernel that @u's record changed from @old_item to @new_item
 * (either may be NULL: unknown or gone). Queued, so it is safe from any
 * request handler.
 */
static void invalidate_user(struct jfs *fs, struct jfs_user *u, const json_t *old_item,
			    const json_t *new_item)
{
	unsigned before = old_item ? files_present(fs, old_item) : ~0u;
	unsigned after = files_present(fs, new_item), sub;
	size_t i, nhist = fs->policy.cfg.history_size;
	size_t old_n = old_item ? jfs_policy_history_count(&fs->policy.cfg, old_item) : nhist;
	size_t new_n = new_item ? jfs_policy_history_count(&fs->policy.cfg, new_item) : 0;
	char name[32];

	if (!fs->se)
		return;
	for (sub = JFS_SUB_DIR; sub <= JFS_SUB_RECORD; sub++)
		notify_queue(fs, user_ino(u, sub), NULL);
	if (nhist > JFS_HIST_MAX)
		nhist = JFS_HIST_MAX;
	for (i = 0; i < nhist; i++)
		notify_queue(fs, user_ino(u, (unsigned)(JFS_SUB_HIST0 + i)), NULL);
	for (sub = JFS_SUB_USER; sub <= JFS_SUB_RECORD; sub++)
		if (((before ^ after) >> sub) & 1)
			notify_queue(fs, user_ino(u, JFS_SUB_DIR), elem_names[sub]);
	for (i = new_n < old_n ? new_n : old_n; i < (new_n > old_n ? new_n : old_n); i++) {
		snprintf(name, sizeof(name), "%zu.json", i);
		notify_queue(fs, user_ino(u, JFS_SUB_HISTDIR), name);
	}
	if (!new_item)
		notify_queue(fs, JFS_INO_ROOT, u->name);
}

/* ------------------------------------------------------------------ */
/* the listing */

/*
 * Read the whole listing from the store, page by page. Called without
 * fs->lock. Users no longer listed are marked gone.
 */
static int listing_refresh(struct jfs *fs)
{
	struct jfs_list_page page = { 0 };
	struct jfs_list_entry *all = NULL;
	size_t nall = 0, allocall = 0, n = 0, ngone = 0, i;
	struct jfs_user **list, **old_list, **gone = NULL;
	char *cursor = NULL, *listed = NULL;
	struct jfs_err err;
	bool changed = false;
	int rc;

	/* collect the pages first: the store is never called under the lock */
	do {
		jfs_err_clear(&err);
		rc = jfs_policy_list(&fs->policy, cursor, LIST_PAGE, &page, &err);
		free(cursor);
		cursor = NULL;
		if (rc < 0) {
			jfs_log(LOG_ERR, "cannot list users: %s", err.msg);
			goto out_free;
		}
		if (nall + page.n > allocall) {
			allocall = (nall + page.n) * 2;
			all = realloc(all, allocall * sizeof(*all));
			if (!all)
				abort();
		}
		if (page.n)
			memcpy(all + nall, page.entries, page.n * sizeof(*all));
		nall += page.n;
		free(page.entries);
		cursor = page.next;
		memset(&page, 0, sizeof(page));
	} while (cursor);

	list = malloc((nall ? nall : 1) * sizeof(*list));
	if (!list)
		abort();
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < nall; i++) {
		struct jfs_user *u = user_get(fs, all[i].id, strlen(all[i].id));

		if (!u->exists)
			changed = true;
		u->exists = true;
		if (!u->item) {
			u->created_ms = all[i].created_ms;
			u->updated_ms = all[i].updated_ms;
		}
		list[n++] = u;
	}
	listed = calloc(fs->users.nslots ? fs->users.nslots : 1, 1);
	gone = calloc(fs->users.nslots ? fs->users.nslots : 1, sizeof(*gone));
	if (!listed || !gone)
		abort();
	for (i = 0; i < n; i++)
		listed[list[i]->slot] = 1;
	for (i = 0; i < fs->users.nslots; i++) {
		struct jfs_user *u = fs->users.slots[i];

		if (u->exists && !listed[i]) {
			u->exists = false;
			fsize_forget(u);
			item_drop(fs, u);
			u->gen++;
			gone[ngone++] = u;
		}
	}
	if (ngone || n != fs->nlisting)
		changed = true;
	old_list = fs->listing;
	fs->listing = list;
	fs->nlisting = n;
	fs->listed_at = jfs_mono_ms();
	if (changed) {
		fs->list_gen++;
		fs->root_mtime_ms = jfs_now_ms();
	}
	pthread_mutex_unlock(&fs->lock);
	free(old_list);
	/* users are never freed while mounted, so their names stay valid */
	for (i = 0; i < ngone; i++)
		invalidate_user(fs, gone[i], NULL, NULL);
	if (changed)
		notify_queue(fs, JFS_INO_ROOT, NULL);
	rc = 0;
out_free:
	for (i = 0; i < nall; i++)
		free(all[i].id);
	free(all);
	free(listed);
	free(gone);
	jfs_list_page_release(&page);
	return rc;
}

/* ------------------------------------------------------------------ */
/* scratch files */

static struct jfs_scratch *scratch_by_ino(fuse_ino_t ino)
{
	struct jfs_scratch *sc;

	for (sc = scratch_hash[ino % SCRATCH_BUCKETS]; sc; sc = sc->hnext)
		if (sc->ino == ino)
			return sc;
	return NULL;
}

static struct jfs_scratch *scratch_by_name(struct jfs_user *u, int dirsub, const char *name)
{
	struct jfs_scratch *sc;

	for (sc = u->scratch; sc; sc = sc->next)
		if (sc->linked && sc->dirsub == dirsub && !strcmp(sc->name, name))
			return sc;
	return NULL;
}

static struct jfs_scratch *scratch_new(struct jfs *fs, struct jfs_user *u, int dirsub,
				       const char *name, mode_t mode, const struct fuse_ctx *ctx)
{
	struct jfs_scratch *sc = calloc(1, sizeof(*sc));
	struct timespec now;

	if (!sc)
		return NULL;
	sc->name = strdup(name);
	if (!sc->name) {
		free(sc);
		return NULL;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	sc->ino = JFS_INO_SCRATCH_BIT | ++fs->next_scratch;
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
	sc->hnext = scratch_hash[sc->ino % SCRATCH_BUCKETS];
	scratch_hash[sc->ino % SCRATCH_BUCKETS] = sc;
	return sc;
}

static void scratch_free(struct jfs_scratch *sc)
{
	struct jfs_scratch **pp;

	for (pp = &scratch_hash[sc->ino % SCRATCH_BUCKETS]; *pp; pp = &(*pp)->hnext)
		if (*pp == sc) {
			*pp = sc->hnext;
			break;
		}
	for (pp = &sc->owner->scratch; *pp; pp = &(*pp)->next)
		if (*pp == sc) {
			*pp = sc->next;
			break;
		}
	jfs_strbuf_release(&sc->data);
	free(sc->name);
	free(sc);
}

/* The name goes; the node stays while the kernel still knows it. */
static void scratch_unlink(struct jfs_scratch *sc)
{
	sc->linked = false;
	if (sc->nlookup == 0)
		scratch_free(sc);
}

/* ------------------------------------------------------------------ */
/* write buffers */

static struct jfs_handle *fh_handle(const struct fuse_file_info *fi)
{
	return fi ? (struct jfs_handle *)(uintptr_t)fi->fh : NULL;
}

/* An open write handle of @ino, if any (for existence while being written). */
static struct jfs_handle *handle_find(struct jfs_user *u, fuse_ino_t ino)
{
	struct jfs_handle *h;

	for (h = u->handles; h; h = h->next)
		if (h->ino == ino && !h->snapshot)
			return h;
	return NULL;
}

static void handle_free(struct jfs *fs, struct jfs_handle *h)
{
	struct jfs_handle **pp;

	__atomic_sub_fetch(&fs->nhandles, 1, __ATOMIC_RELAXED);
	for (pp = &h->u->handles; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	jfs_strbuf_release(&h->data);
	json_decref(h->seen);
	free(h);
}

/* ------------------------------------------------------------------ */
/* attributes */

static void set_time(struct timespec *ts, int64_t ms)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec < 0) {
		ts->tv_sec--;
		ts->tv_nsec += 1000000000;
	}
}

static int64_t user_mtime(struct jfs *fs, const struct jfs_user *u)
{
	if (u->updated_ms >= 0)
		return u->updated_ms;
	if (u->created_ms >= 0)
		return u->created_ms;
	return fs->start_ms;
}

static void base_attr(struct jfs *fs, struct stat *st, fuse_ino_t ino, mode_t mode,
		      int64_t mtime_ms)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = fs->opts.uid;
	st->st_gid = fs->opts.gid;
	st->st_blksize = 4096;
	set_time(&st->st_mtim, mtime_ms);
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

static void size_attr(struct stat *st, size_t size)
{
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
}

/*
 * Copies of what a read without a file handle (read-only mounts) was
 * served, so that the rest of one reader's reads come from the same
 * version: a file larger than one read request is read in pieces, and a
 * status file must match the size its getattr reported. Lock held.
 */
static struct jfs_read_copy *read_copy_get(struct jfs *fs, fuse_ino_t ino, int64_t max_age_ms)
{
	int64_t now = jfs_mono_ms();
	size_t i;

	for (i = 0; i < sizeof(fs->read_copy) / sizeof(fs->read_copy[0]); i++) {
		struct jfs_read_copy *c = &fs->read_copy[i];

		if (c->buf && c->ino == ino && now - c->at_ms <= max_age_ms)
			return c;
	}
	return NULL;
}

/* A malloc()ed copy of what @c holds. */
static int read_copy_dup(const struct jfs_read_copy *c, char **buf, size_t *len)
{
	*buf = malloc(c->len + 1);
	if (!*buf)
		return -ENOMEM;
	memcpy(*buf, c->buf, c->len);
	*len = c->len;
	return 0;
}

static void read_copy_put(struct jfs *fs, fuse_ino_t ino, const char *buf, size_t len)
{
	size_t n = sizeof(fs->read_copy) / sizeof(fs->read_copy[0]), i;
	struct jfs_read_copy *c = NULL;
	char *copy = malloc(len + 1);

	if (!copy)
		return;
	memcpy(copy, buf, len);
	for (i = 0; i < n && !c; i++)
		if (fs->read_copy[i].buf && fs->read_copy[i].ino == ino)
			c = &fs->read_copy[i];
	if (!c)
		c = &fs->read_copy[fs->read_copy_next++ % n];
	free(c->buf);
	c->ino = ino;
	c->buf = copy;
	c->len = len;
	c->at_ms = jfs_mono_ms();
}

/*
 * Render the content of element or record file @sub of @u from @item.
 * Returns a malloc()ed buffer or NULL when the file does not exist.
 */
static char *render_file(struct jfs *fs, const json_t *item, unsigned sub, size_t *len)
{
	int64_t now = jfs_now_ms();

	if (sub == JFS_SUB_RECORD)
		return jfs_json_render(item, len);
	if (sub >= JFS_SUB_HIST0)
		return jfs_policy_render(&fs->policy.cfg, item, JFS_EL_HISTORY,
					 sub - JFS_SUB_HIST0, now, len);
	return jfs_policy_render(&fs->policy.cfg, item, sub_elem(sub), 0, now, len);
}

/* seconds the kernel may keep an entry or attributes of @sub of @item */
static double file_timeout(struct jfs *fs, const json_t *item, unsigned sub)
{
	double t = fs->entry_timeout;

	if (sub == JFS_SUB_SESSION) {
		int64_t upd = item ? jfs_item_session_updated_ms(item) : -1;

		if (upd >= 0 && fs->policy.cfg.enabled[JFS_EL_SESSION]) {
			double left = (double)(upd + fs->policy.cfg.session_expires_s * 1000 -
					       jfs_now_ms()) / 1000.0;

			if (left < 0)
				left = 0;
			if (left < t)
				t = left;
		}
	}
	return t;
}

/*
 * Attributes of @ino. Called with fs->lock held (it may be dropped and
 * taken again to load a record). *@timeout is how long the kernel may
 * keep them.
 */
static int node_attr(struct jfs *fs, fuse_ino_t ino, struct stat *st, double *timeout)
{
	struct jfs_scratch *sc;
	struct jfs_user *u;
	json_t *item = NULL;
	unsigned sub;
	int rc = 0;

	*timeout = fs->entry_timeout;
	if (ino & JFS_INO_SCRATCH_BIT) {
		sc = scratch_by_ino(ino);
		if (!sc)
			return -ENOENT;
		if (sc->alias)
			return node_attr(fs, sc->alias, st, timeout);
		memset(st, 0, sizeof(*st));
		st->st_ino = ino;
		st->st_mode = sc->mode;
		st->st_nlink = sc->linked ? 1 : 0;
		st->st_uid = sc->uid;
		st->st_gid = sc->gid;
		st->st_blksize = 4096;
		st->st_atim = sc->atime;
		st->st_mtim = sc->mtime;
		st->st_ctim = sc->ctime;
		size_attr(st, sc->data.len);
		*timeout = 0;
		return 0;
	}
	if (ino & JFS_INO_CONFLICT_BIT) {
		const char *data;
		size_t len;
		int64_t ms;

		if (!jfs_status_conflict_get(fs->status, ino, &data, &len, &ms))
			return -ENOENT;
		base_attr(fs, st, ino, S_IFREG | 0444, ms);
		size_attr(st, len);
		*timeout = 0;
		return 0;
	}
	switch (ino) {
	case JFS_INO_ROOT:
		base_attr(fs, st, ino, S_IFDIR | 0755, fs->root_mtime_ms);
		st->st_nlink = 3;
		return 0;
	case JFS_INO_STATUS:
		base_attr(fs, st, ino, S_IFDIR | 0555, fs->start_ms);
		st->st_nlink = 3;
		return 0;
	case JFS_INO_S_CONFL:
		base_attr(fs, st, ino, S_IFDIR | 0555, jfs_now_ms());
		*timeout = 0;
		return 0;
	case JFS_INO_S_CONFIG:
	case JFS_INO_S_METRICS:
	case JFS_INO_S_ERRORS: {
		size_t len;
		char *buf = jfs_status_render(fs, ino, &len);

		/* without open() the next read goes through the page cache: it must
		 * get the very bytes this size counts */
		if (fs->no_open && buf)
			read_copy_put(fs, ino, buf, len);
		free(buf);
		/* a new mtime each time makes the kernel drop its cached pages */
		base_attr(fs, st, ino, S_IFREG | 0444, 0);
		clock_gettime(CLOCK_REALTIME, &st->st_mtim);
		st->st_ctim = st->st_atim = st->st_mtim;
		size_attr(st, len);
		*timeout = 0;
		return 0;
	}
	}
	u = user_by_ino(fs, ino);
	if (!u || !u->exists)
		return -ENOENT;
	sub = ino_sub(ino);
	if (sub == JFS_SUB_DIR && u->updated_ms >= 0) {
		/* the listing's timestamps are enough: no load for ls -l of the root */
		base_attr(fs, st, ino, S_IFDIR | 0755, user_mtime(fs, u));
		if (fs->policy.cfg.enabled[JFS_EL_HISTORY])
			st->st_nlink = 3;
		return 0;
	}
	if (fsize_slot(sub) >= 0 && u->fsize[fsize_slot(sub)] > 1) {
		uint32_t v = u->fsize[fsize_slot(sub)];

		if (v == 1)
			return -ENOENT;
		fs->m.size_hits++;
		base_attr(fs, st, ino, S_IFREG | (sub == JFS_SUB_RECORD ? 0444 : 0644),
			  user_mtime(fs, u));
		size_attr(st, v - 2);
		u->told[fsize_slot(sub)] = v;
		return 0;
	}
	rc = item_get(fs, u, &item);
	if (rc < 0)
		return rc;
	switch (sub) {
	case JFS_SUB_DIR:
		base_attr(fs, st, ino, S_IFDIR | 0755, user_mtime(fs, u));
		if (fs->policy.cfg.enabled[JFS_EL_HISTORY])
			st->st_nlink = 3;
		break;
	case JFS_SUB_HISTDIR:
		if (!fs->policy.cfg.enabled[JFS_EL_HISTORY]) {
			rc = -ENOENT;
			break;
		}
		base_attr(fs, st, ino, S_IFDIR | 0755, user_mtime(fs, u));
		break;
	default: {
		/* an element being created exists for its writer's fstat() */
		struct jfs_handle *wbx = handle_find(u, ino);
		int64_t mtime = user_mtime(fs, u);
		size_t len = 0;
		char *buf;

		if (sub != JFS_SUB_RECORD && !sub_is_element_file(sub)) {
			rc = -ENOENT;
			break;
		}
		buf = render_file(fs, item, sub, &len);
		fsize_note(u, sub, buf, len);
		if (!buf && !wbx) {
			rc = -ENOENT;
			break;
		}
		free(buf);
		if (sub == JFS_SUB_SESSION && jfs_item_session_updated_ms(item) >= 0)
			mtime = jfs_item_session_updated_ms(item);
		base_attr(fs, st, ino, S_IFREG | (sub == JFS_SUB_RECORD ? 0444 : 0644), mtime);
		size_attr(st, len);
		if (told_slot(sub) >= 0)
			u->told[told_slot(sub)] = len < UINT32_MAX - 2 ? (uint32_t)len + 2 : 0;
		*timeout = wbx ? 0 : file_timeout(fs, item, sub);
		break;
	}
	}
	json_decref(item);
	return rc;
}

/* ------------------------------------------------------------------ */
/* names in directories */

/* the element sub of @name in a user directory, or -1 */
static int user_dir_sub(const char *name)
{
	unsigned sub;

	for (sub = JFS_SUB_USER; sub <= JFS_SUB_RECORD; sub++)
		if (!strcmp(name, elem_names[sub]))
			return (int)sub;
	return -1;
}

/* N of a canonical "N.json" in a history directory, or -1 */
static long hist_index(const char *name)
{
	char *end;
	long n;

	if (name[0] < '0' || name[0] > '9' || (name[0] == '0' && name[1] != '.'))
		return -1;
	errno = 0;
	n = strtol(name, &end, 10);
	if (errno || strcmp(end, ".json") || n < 0 || n >= JFS_HIST_MAX)
		return -1;
	return n;
}

/*
 * Resolve @name in directory @parent to an inode. Called with fs->lock
 * held (may drop it to load). Returns 0 with *@ino (0: no such entry,
 * cacheable as negative) or -errno.
 */
static int resolve(struct jfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino)
{
	struct jfs_scratch *sc;
	struct jfs_user *u;
	json_t *item = NULL;
	unsigned sub;
	int rc;

	*ino = 0;
	if (parent == JFS_INO_ROOT) {
		char *id;
		size_t len;

		if (!strcmp(name, JFS_STATUS_NAME)) {
			*ino = JFS_INO_STATUS;
			return 0;
		}
		u = user_by_name(fs, name);
		if (u && u->exists) {
			*ino = user_ino(u, JFS_SUB_DIR);
			return 0;
		}
		if (fs->change_feed)
			return 0; /* the listing is complete and kept fresh */
		id = jfs_name_to_id(name, &len);
		if (!id)
			return 0;
		u = user_get(fs, id, len);
		free(id);
		rc = item_get(fs, u, &item);
		if (rc == -ENOENT)
			return 0;
		if (rc < 0)
			return rc;
		json_decref(item);
		*ino = user_ino(u, JFS_SUB_DIR);
		return 0;
	}
	if (parent == JFS_INO_STATUS) {
		if (!strcmp(name, "config"))
			*ino = JFS_INO_S_CONFIG;
		else if (!strcmp(name, "metrics"))
			*ino = JFS_INO_S_METRICS;
		else if (!strcmp(name, "errors"))
			*ino = JFS_INO_S_ERRORS;
		else if (!strcmp(name, "conflicts"))
			*ino = JFS_INO_S_CONFL;
		return 0;
	}
	if (parent == JFS_INO_S_CONFL) {
		size_t i, n = jfs_status_conflict_count(fs->status);
		fuse_ino_t cino;
		const char *cname;

		for (i = 0; i < n; i++) {
			cname = jfs_status_conflict_name(fs->status, i, &cino);
			if (cname && !strcmp(cname, name)) {
				*ino = cino;
				break;
			}
		}
		return 0;
	}
	u = user_by_ino(fs, parent);
	if (!u || !u->exists)
		return -ENOENT;
	sub = ino_sub(parent);
	if (sub != JFS_SUB_DIR && sub != JFS_SUB_HISTDIR)
		return -ENOTDIR;
	sc = scratch_by_name(u, (int)sub, name);
	if (sc) {
		*ino = sc->ino;
		return 0;
	}
	rc = item_get(fs, u, &item);
	if (rc < 0)
		return rc;
	if (sub == JFS_SUB_DIR) {
		int esub = user_dir_sub(name);
		size_t len;
		char *buf;

		if (esub == JFS_SUB_HISTDIR) {
			if (fs->policy.cfg.enabled[JFS_EL_HISTORY])
				*ino = user_ino(u, JFS_SUB_HISTDIR);
		} else if (esub > 0) {
			buf = render_file(fs, item, (unsigned)esub, &len);
			if (buf || handle_find(u, user_ino(u, (unsigned)esub)))
				*ino = user_ino(u, (unsigned)esub);
			free(buf);
		}
	} else {
		long idx = hist_index(name);

		if (idx >= 0 && (size_t)idx < jfs_policy_history_count(&fs->policy.cfg, item))
			*ino = user_ino(u, (unsigned)(JFS_SUB_HIST0 + idx));
	}
	json_decref(item);
	return 0;
}

/* Fill @e for @ino; counts a lookup of scratch nodes. Lock held. */
static int make_entry(struct jfs *fs, fuse_ino_t ino, struct fuse_entry_param *e)
{
	double timeout;
	int rc;

	memset(e, 0, sizeof(*e));
	if (!ino) {
		e->entry_timeout = fs->entry_timeout;
		return 0;
	}
	rc = node_attr(fs, ino, &e->attr, &timeout);
	if (rc == -ENOENT) {
		memset(e, 0, sizeof(*e));
		e->entry_timeout = 0;
		return 0;
	}
	if (rc < 0)
		return rc;
	e->ino = ino;
	e->generation = 1;
	e->attr_timeout = timeout;
	e->entry_timeout = timeout;
	if (ino & JFS_INO_SCRATCH_BIT) {
		struct jfs_scratch *sc = scratch_by_ino(ino);

		if (sc)
			sc->nlookup++;
	}
	return 0;
}

static void jfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct jfs *fs = jfs_ctx(req);
	struct fuse_entry_param e;
	fuse_ino_t ino;
	int rc;

	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	rc = resolve(fs, parent, name, &ino);
	if (rc == 0)
		rc = make_entry(fs, ino, &e);
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (!e.ino && e.entry_timeout <= 0)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_entry(req, &e);
}

static void jfs_forget_one(struct jfs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	struct jfs_scratch *sc;

	if (!(ino & JFS_INO_SCRATCH_BIT))
		return; /* computed inodes hold no memory */
	sc = scratch_by_ino(ino);
	if (!sc)
		return;
	sc->nlookup = nlookup > sc->nlookup ? 0 : sc->nlookup - nlookup;
	if (sc->nlookup == 0 && (!sc->linked || sc->alias))
		scratch_free(sc);
}

static void jfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct jfs *fs = jfs_ctx(req);

	pthread_mutex_lock(&fs->lock);
	jfs_forget_one(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void jfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct jfs *fs = jfs_ctx(req);
	size_t i;

	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < count; i++)
		jfs_forget_one(fs, forgets[i].ino, forgets[i].nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static bool listing_stale(struct jfs *fs)
{
	return !fs->change_feed &&
	       (fs->listed_at == 0 ||
		jfs_mono_ms() - fs->listed_at >= (int64_t)(fs->opts.cache_timeout * 1000));
}

static void jfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	double timeout;
	struct stat st;
	int rc;

	if (ino == JFS_INO_ROOT) {
		/* the root's mtime tells the kernel when its cached listing is stale */
		pthread_mutex_lock(&fs->lock);
		bool stale = listing_stale(fs);
		pthread_mutex_unlock(&fs->lock);
		if (stale)
			listing_refresh(fs);
	}
	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	rc = node_attr(fs, ino, &st, &timeout);
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
}

/* ------------------------------------------------------------------ */
/* reading */

/*
 * The bytes of file @ino as a reader sees them now: a malloc()ed copy.
 * Lock held (may be dropped to load).
 */
static int node_content(struct jfs *fs, fuse_ino_t ino, char **buf, size_t *len)
{
	struct jfs_scratch *sc;
	struct jfs_user *u;
	json_t *item;
	unsigned sub;
	int rc;

	if (ino & JFS_INO_SCRATCH_BIT) {
		sc = scratch_by_ino(ino);
		if (!sc)
			return -ENOENT;
		if (sc->alias)
			return node_content(fs, sc->alias, buf, len);
		*buf = malloc(sc->data.len + 1);
		if (!*buf)
			return -ENOMEM;
		memcpy(*buf, sc->data.buf, sc->data.len);
		*len = sc->data.len;
		return 0;
	}
	if (ino < JFS_SUB_COUNT || (ino & JFS_INO_CONFLICT_BIT)) {
		struct jfs_read_copy *c;

		if (ino == JFS_INO_ROOT || ino == JFS_INO_STATUS || ino == JFS_INO_S_CONFL)
			return -EISDIR;
		/* what the getattr just before this read counted (read-only mounts) */
		if (fs->no_open && (c = read_copy_get(fs, ino, 1000)))
			return read_copy_dup(c, buf, len);
		*buf = jfs_status_render(fs, ino, len);
		return 0;
	}
	u = user_by_ino(fs, ino);
	if (!u || !u->exists)
		return -ENOENT;
	sub = ino_sub(ino);
	if (sub == JFS_SUB_DIR || sub == JFS_SUB_HISTDIR)
		return -EISDIR;
	rc = item_get(fs, u, &item);
	if (rc < 0)
		return rc;
	*buf = render_file(fs, item, sub, len);
	fsize_note(u, sub, *buf, *len);
	if (*buf && u->served != item) {
		json_decref(u->served);
		u->served = json_incref(item);
	}
	json_decref(item);
	return *buf ? 0 : -ENOENT;
}

/*
 * A read without a file handle fills the page cache, and the kernel cuts
 * it at the size it last got from us (or pads it with zeros, when a
 * change raced the read). When a commit or a reload changed the size of
 * file @sub of @u since, serve the version that size belongs to if we
 * still have it (@u->prev_item) and make the kernel refetch the size
 * after this reply (*@inval_after): the reader gets the old content
 * whole, its next read the new one. Without it, a longer new content is
 * served and the kernel told before the reply (*@inval_first), so the
 * reader's next read() refetches the size and gets the rest; a shorter
 * one fixes the size by itself (a short read). Lock held; *@buf, *@len
 * hold the current content and may be replaced.
 */
static void same_size_version(struct jfs *fs, struct jfs_user *u, unsigned sub, char **buf,
			      size_t *len, bool *inval_first, bool *inval_after)
{
	int ts = told_slot(sub);
	uint32_t told;
	size_t plen = 0;
	char *pbuf;

	if (ts < 0 || (told = u->told[ts]) < 2 || told - 2 == *len)
		return;
	if (u->prev_item && (pbuf = render_file(fs, u->prev_item, sub, &plen))) {
		if (plen == told - 2) {
			free(*buf);
			*buf = pbuf;
			*len = plen;
			json_decref(u->served);
			u->served = json_incref(u->prev_item);
			*inval_after = true;
			return;
		}
		free(pbuf);
	}
	if (*len > told - 2)
		*inval_first = true;
}

static void jfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_handle *h = fh_handle(fi);
	struct jfs_read_copy *c;
	struct jfs_user *u;
	bool inval_first = false, inval_after = false;
	char *buf = NULL;
	size_t len = 0;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	if (h) {
		/* the writer reads back what it wrote, like on any file */
		len = h->data.len;
		buf = malloc(len + 1);
		if (!buf)
			rc = -ENOMEM;
		else
			memcpy(buf, h->data.buf, len);
	} else if (fs->no_open && off > 0 && ino_is_user(ino) &&
		   (c = read_copy_get(fs, ino, 5000))) {
		/* the rest of a large file, from the version its first piece came from */
		rc = read_copy_dup(c, &buf, &len);
	} else {
		rc = node_content(fs, ino, &buf, &len);
		if (rc == 0 && ino_is_user(ino) && (u = user_by_ino(fs, ino)))
			same_size_version(fs, u, ino_sub(ino), &buf, &len, &inval_first, &inval_after);
		if (rc == 0 && fs->no_open && off == 0 && ino_is_user(ino) &&
		    len > JFS_SNAPSHOT_MIN)
			read_copy_put(fs, ino, buf, len);
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* attributes only: the reader holds the page being filled locked */
	if (inval_first && fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, buf + off, len - (size_t)off < size ? len - (size_t)off : size);
	free(buf);
	if (inval_after && fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

/* ------------------------------------------------------------------ */
/* directories */

struct dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size, len;
	bool plus, full;
};

/* Add one entry at offset @next; false when the reply buffer is full. Lock held. */
static bool dir_add(struct jfs *fs, struct dirbuf *db, const char *name, fuse_ino_t ino,
		    mode_t mode, off_t next)
{
	size_t need;

	if (db->full)
		return false;
	if (db->plus) {
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		if (strcmp(name, ".") && strcmp(name, "..")) {
			if (make_entry(fs, ino, &e) < 0 || !e.ino)
				return true; /* vanished meanwhile: leave it out */
		} else {
			e.attr.st_ino = ino;
			e.attr.st_mode = mode;
		}
		need = fuse_add_direntry_plus(db->req, db->buf + db->len, db->size - db->len,
					      name, &e, next);
		if (need > db->size - db->len) {
			/* undo the lookup count make_entry took */
			if (e.ino)
				jfs_forget_one(fs, e.ino, 1);
			db->full = true;
			return false;
		}
	} else {
		struct stat st;

		memset(&st, 0, sizeof(st));
		st.st_ino = ino;
		st.st_mode = mode;
		need = fuse_add_direntry(db->req, db->buf + db->len, db->size - db->len, name,
					 &st, next);
		if (need > db->size - db->len) {
			db->full = true;
			return false;
		}
	}
	db->len += need;
	return true;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct jfs *fs = jfs_ctx(req);
	struct dirbuf db = { .req = req, .size = size, .plus = plus };
	struct jfs_user *u = NULL;
	json_t *item = NULL;
	off_t pos = 0;
	unsigned sub = 0;
	int rc = 0;

	db.buf = malloc(size);
	if (!db.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (ino == JFS_INO_ROOT && off == 0) {
		pthread_mutex_lock(&fs->lock);
		bool stale = listing_stale(fs);
		pthread_mutex_unlock(&fs->lock);
		/* a backend that cannot list (down past the retry time) is EIO, not an empty folder */
		if (stale && listing_refresh(fs) < 0) {
			free(db.buf);
			fuse_reply_err(req, EIO);
			return;
		}
	}
	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
#define ADD(name, ino_, mode)                                                       \
	do {                                                                        \
		pos++;                                                              \
		if (pos > off && !dir_add(fs, &db, (name), (ino_), (mode), pos))   \
			goto out_reply;                                             \
	} while (0)

	if (ino == JFS_INO_ROOT) {
		size_t i;

		ADD(".", JFS_INO_ROOT, S_IFDIR);
		ADD("..", JFS_INO_ROOT, S_IFDIR);
		ADD(JFS_STATUS_NAME, JFS_INO_STATUS, S_IFDIR);
		/* skip straight to the offset: a 100k listing is read in many calls */
		if (off > pos) {
			i = (size_t)(off - pos);
			pos = off;
		} else {
			i = 0;
		}
		for (; i < fs->nlisting; i++) {
			u = fs->listing[i];
			if (!u->exists) {
				pos++;
				continue;
			}
			ADD(u->name, user_ino(u, JFS_SUB_DIR), S_IFDIR);
		}
		u = NULL;
		goto out_reply;
	}
	if (ino == JFS_INO_STATUS) {
		ADD(".", JFS_INO_STATUS, S_IFDIR);
		ADD("..", JFS_INO_ROOT, S_IFDIR);
		ADD("config", JFS_INO_S_CONFIG, S_IFREG);
		ADD("metrics", JFS_INO_S_METRICS, S_IFREG);
		ADD("errors", JFS_INO_S_ERRORS, S_IFREG);
		ADD("conflicts", JFS_INO_S_CONFL, S_IFDIR);
		goto out_reply;
	}
	if (ino == JFS_INO_S_CONFL) {
		size_t i, n = jfs_status_conflict_count(fs->status);
		fuse_ino_t cino;
		const char *cname;

		ADD(".", JFS_INO_S_CONFL, S_IFDIR);
		ADD("..", JFS_INO_STATUS, S_IFDIR);
		for (i = 0; i < n; i++) {
			cname = jfs_status_conflict_name(fs->status, i, &cino);
			if (cname)
				ADD(cname, cino, S_IFREG);
		}
		goto out_reply;
	}
	u = user_by_ino(fs, ino);
	sub = ino_sub(ino);
	if (!u || !u->exists) {
		rc = -ENOENT;
		goto out_reply;
	}
	if (sub != JFS_SUB_DIR && sub != JFS_SUB_HISTDIR) {
		rc = -ENOTDIR;
		goto out_reply;
	}
	rc = item_get(fs, u, &item);
	if (rc < 0)
		goto out_reply;
	if (sub == JFS_SUB_DIR) {
		unsigned s;
		size_t len;
		char *buf;

		ADD(".", ino, S_IFDIR);
		ADD("..", JFS_INO_ROOT, S_IFDIR);
		for (s = JFS_SUB_USER; s <= JFS_SUB_RECORD; s++) {
			if (s == JFS_SUB_HISTDIR) {
				if (fs->policy.cfg.enabled[JFS_EL_HISTORY])
					ADD("history", user_ino(u, s), S_IFDIR);
				else
					pos++;
				continue;
			}
			buf = render_file(fs, item, s, &len);
			if (buf) {
				free(buf);
				ADD(elem_names[s], user_ino(u, s), S_IFREG);
			} else {
				pos++;
			}
		}
	} else {
		size_t i, n = jfs_policy_history_count(&fs->policy.cfg, item);
		char name[32];

		size_t shown = fs->policy.cfg.history_size < JFS_HIST_MAX ?
				       fs->policy.cfg.history_size : JFS_HIST_MAX;

		ADD(".", ino, S_IFDIR);
		ADD("..", user_ino(u, JFS_SUB_DIR), S_IFDIR);
		/*
		 * Oldest first: removing an item moves the older ones down, so rm -r,
		 * which removes in this order, never finds a name gone under it.
		 */
		for (i = shown; i-- > 0;) {
			if (i < n) {
				snprintf(name, sizeof(name), "%zu.json", i);
				ADD(name, user_ino(u, (unsigned)(JFS_SUB_HIST0 + i)), S_IFREG);
			} else {
				pos++;
			}
		}
	}
	{
		struct jfs_scratch *sc;
		/* scratch files: a stable order is the list order from the oldest */
		size_t nsc = 0, i;
		struct jfs_scratch **arr;

		for (sc = u->scratch; sc; sc = sc->next)
			nsc++;
		arr = malloc((nsc ? nsc : 1) * sizeof(*arr));
		if (!arr) {
			rc = -ENOMEM;
			goto out_reply;
		}
		i = nsc;
		for (sc = u->scratch; sc; sc = sc->next)
			arr[--i] = sc;
		for (i = 0; i < nsc; i++) {
			sc = arr[i];
			if (!sc->linked || sc->dirsub != (int)sub) {
				continue;
			}
			pos++;
			if (pos > off && !dir_add(fs, &db, sc->name, sc->ino, sc->mode, pos))
				break;
		}
		free(arr);
	}
#undef ADD
out_reply:
	pthread_mutex_unlock(&fs->lock);
	json_decref(item);
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

/* ------------------------------------------------------------------ */
/* writing */

/* "alice/user.json", "alice/history/0.json": how messages name a file */
static void file_label(const struct jfs_user *u, unsigned sub, char *out, size_t size)
{
	if (sub >= JFS_SUB_HIST0)
		snprintf(out, size, "%s/history/%u.json", u->name, sub - JFS_SUB_HIST0);
	else if (sub == JFS_SUB_DIR)
		snprintf(out, size, "%s", u->name);
	else
		snprintf(out, size, "%s/%s", u->name, elem_names[sub]);
}

static void set_last_error(struct jfs_user *u, unsigned sub, const char *msg)
{
	int slot = err_slot(sub);

	free(u->last_error[slot]);
	u->last_error[slot] = msg ? strdup(msg) : NULL;
}

/* Count a failed write and say why. Lock held. */
static void write_failed(struct jfs *fs, struct jfs_user *u, unsigned sub, int rc,
			 const char *msg)
{
	char label[PATH_MAX];

	switch (-rc) {
	case EINVAL:
	case EFBIG:
	case EPERM:
		fs->m.writes_invalid++;
		break;
	case ESTALE:
		fs->m.writes_conflict++;
		break;
	default:
		fs->m.writes_failed++;
	}
	set_last_error(u, sub, msg);
	file_label(u, sub, label, sizeof(label));
	jfs_log(LOG_ERR, "write of '%s' failed (%s): %s", label, strerror(-rc), msg);
}

/* Changes the store accepted and lost later, collected without the lock. */
struct lost_changes {
	struct lost_change {
		char *id;
		unsigned elems;
		struct jfs_err err;
	} *v;
	size_t n, alloc;
};

static void collect_lost(void *data, const char *id, unsigned elems, const struct jfs_err *e)
{
	struct lost_changes *l = data;

	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 16;
		l->v = realloc(l->v, l->alloc * sizeof(*l->v));
		if (!l->v)
			abort();
	}
	l->v[l->n].id = strdup(id);
	if (!l->v[l->n].id)
		abort();
	l->v[l->n].elems = elems;
	l->v[l->n].err = *e;
	l->n++;
}

/* File kind @slot of @u lost a change. Lock held. */
static void note_lost(struct jfs_user *u, unsigned slot, const struct jfs_err *e)
{
	free(u->last_error[slot]);
	u->last_error[slot] = strdup(e->msg);
	u->lost_seq[slot]++;
	u->lost_errno[slot] = e->code ? e->code : EIO;
}

/*
 * Take what the store lost since the last call onto the files it belongs
 * to: their user.jovofs.error, and a new lost_seq that each write handle
 * open on them reports once. (The store logged each, so .jovofs/errors has
 * it already.) Called without the lock.
 */
static void drain_failures(struct jfs *fs)
{
	static const unsigned slot_of[JFS_EL__COUNT] = {
		[JFS_EL_USER] = JFS_SUB_USER,
		[JFS_EL_SESSION] = JFS_SUB_SESSION,
		[JFS_EL_HISTORY] = ERR_HISTORY,
		[JFS_EL_CREATED_AT] = JFS_SUB_CREATED,
		[JFS_EL_UPDATED_AT] = JFS_SUB_UPDATED,
	};
	struct lost_changes l = { 0 };
	size_t i;
	int el;

	jfs_policy_failures(&fs->policy, collect_lost, &l);
	if (!l.n)
		return;
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < l.n; i++) {
		struct jfs_user *u = user_get(fs, l.v[i].id, strlen(l.v[i].id));
		const struct jfs_err *e = &l.v[i].err;

		fs->m.writes_lost++;
		if (!l.v[i].elems)
			note_lost(u, JFS_SUB_DIR, e); /* the whole record */
		for (el = 0; el < JFS_EL__COUNT; el++)
			if (l.v[i].elems & (1u << el))
				note_lost(u, slot_of[el], e);
		free(l.v[i].id);
	}
	pthread_mutex_unlock(&fs->lock);
	free(l.v);
}

/*
 * The loss of a change of @h's file reported since @h last looked, once:
 * -errno or 0. Lock held.
 */
static int handle_lost_error(struct jfs_handle *h)
{
	int slot = err_slot(ino_sub(h->ino));

	if (h->lost_seen == h->u->lost_seq[slot])
		return 0;
	h->lost_seen = h->u->lost_seq[slot];
	return -h->u->lost_errno[slot];
}

/*
 * Store @text as the content of element file @sub of @u, the item served
 * to the writer being @seen (borrowed, may be NULL). Called without the
 * lock. Returns 0 or -errno; the reason is logged, kept for the xattr and
 * .jovofs/errors; a conflicting version is kept under .jovofs/conflicts/.
 */
static int commit(struct jfs *fs, struct jfs_user *u, unsigned sub, const char *text,
		  size_t len, const json_t *seen, bool inval_now)
{
	struct jfs_write_result res = { 0 };
	char label[PATH_MAX], msg[PATH_MAX + 512];
	fuse_ino_t ino = user_ino(u, sub);
	json_t *old = NULL;
	struct jfs_err err;
	size_t idx = sub >= JFS_SUB_HIST0 ? sub - JFS_SUB_HIST0 : 0;
	int rc;

	file_label(u, sub, label, sizeof(label));
	jfs_err_clear(&err);
	if (fs->opts.ro) {
		rc = jfs_err_set(&err, EROFS, "'%s': mounted read-only", label);
	} else if (len > fs->opts.max_file_size) {
		rc = jfs_err_set(&err, EFBIG, "'%s': %zu bytes is over max_file_size (%zu)",
				 label, len, fs->opts.max_file_size);
	} else {
		rc = jfs_policy_write(&fs->policy, u->id, seen, sub_elem(sub), idx, text, len,
				      label, &res, &err);
	}
	pthread_mutex_lock(&fs->lock);
	if (rc == 0) {
		set_last_error(u, sub, NULL);
		if (res.noop) {
			fs->m.writes_noop++;
		} else {
			fs->m.writes_ok++;
			fsize_forget(u);
			json_decref(u->served);
			u->served = NULL;
			old = u->item ? json_incref(u->item) : NULL;
			if (res.item)
				item_set(fs, u, json_incref(res.item), true);
			else
				item_drop(fs, u);
		}
	} else {
		write_failed(fs, u, sub, rc, err.msg);
	}
	pthread_mutex_unlock(&fs->lock);

	if (rc == -ESTALE) {
		char *kept = jfs_status_conflict(fs->status, u->name,
						 sub >= JFS_SUB_HIST0 ? label + strlen(u->name) + 1
								      : elem_names[sub],
						 text, len);

		if (kept) {
			snprintf(msg, sizeof(msg), "your version of '%s' is kept as '%s/conflicts/%s'",
				 label, JFS_STATUS_NAME, kept);
			jfs_log(LOG_ERR, "%s", msg);
			free(kept);
		}
	}
	/* the page cache holds the bytes as written: show the stored rendering */
	if (inval_now && fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
	if (rc == 0 && !res.noop)
		invalidate_user(fs, u, old, res.item);
	else
		notify_queue(fs, ino, NULL);
	json_decref(old);
	jfs_write_result_release(&res);
	return rc;
}

/*
 * Open element file @ino of @u for writing: a new handle holding the
 * current content (empty with @trunc). Lock held (may be dropped).
 */
static int handle_new(struct jfs *fs, struct jfs_user *u, fuse_ino_t ino, bool trunc,
		      pid_t opener, struct jfs_handle **out)
{
	struct jfs_handle *h;
	json_t *item = NULL;
	size_t len = 0;
	char *buf;
	int rc;

	rc = item_get(fs, u, &item);
	if (rc < 0)
		return rc;
	h = calloc(1, sizeof(*h));
	if (!h) {
		json_decref(item);
		return -ENOMEM;
	}
	h->ino = ino;
	h->u = u;
	h->fresh = true;
	h->opener = opener;
	h->lost_seen = u->lost_seq[err_slot(ino_sub(ino))];
	jfs_strbuf_init(&h->data);
	/* the writer started from what was last read, if the cache moved on since */
	if (u->served && u->served != item) {
		h->seen = json_incref(u->served);
	} else {
		h->seen = json_incref(item);
	}
	if (trunc) {
		h->dormant = true;
	} else {
		buf = render_file(fs, item, ino_sub(ino), &len);
		if (buf) {
			jfs_strbuf_add(&h->data, buf, len);
			free(buf);
		}
	}
	json_decref(item);
	h->next = u->handles;
	u->handles = h;
	__atomic_add_fetch(&fs->nhandles, 1, __ATOMIC_RELAXED);
	*out = h;
	return 0;
}

/*
 * Commit what was written through @h since its last commit. The content
 * stays in the handle: a descriptor closed early by a child (a shell's
 * dup()) is a commit point, and later writes go on from there. Called
 * without the lock; @h stays valid (it is freed only by release).
 */
static int commit_handle(struct jfs *fs, struct jfs_handle *h, bool inval_now)
{
	json_t *seen;
	char *text;
	size_t len;
	int rc;

	pthread_mutex_lock(&fs->lock);
	if (h->error) {
		/* what was written is incomplete: store none of it */
		rc = -h->error;
		h->written = false;
		pthread_mutex_unlock(&fs->lock);
		return rc;
	}
	if (!h->written) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	h->written = false;
	len = h->data.len;
	text = malloc(len + 1);
	if (!text) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOMEM;
	}
	memcpy(text, h->data.buf, len);
	seen = json_incref(h->seen);
	pthread_mutex_unlock(&fs->lock);
	rc = commit(fs, h->u, ino_sub(h->ino), text, len, seen, inval_now);
	json_decref(seen);
	free(text);
	if (rc == 0) {
		/* a further write through this descriptor builds on what is stored now */
		pthread_mutex_lock(&fs->lock);
		json_decref(h->seen);
		h->seen = h->u->item ? json_incref(h->u->item) : NULL;
		pthread_mutex_unlock(&fs->lock);
	}
	return rc;
}

/* Why element file @sub of @u cannot be written, or 0. Lock held. */
static int check_writable(struct jfs *fs, struct jfs_user *u, unsigned sub)
{
	char label[PATH_MAX];

	if (fs->opts.ro)
		return -EROFS;
	if (sub == JFS_SUB_RECORD)
		return -EACCES;
	if (!sub_is_element_file(sub))
		return -EISDIR;
	if (!fs->policy.cfg.enabled[sub_elem(sub)]) {
		file_label(u, sub, label, sizeof(label));
		jfs_log(LOG_ERR, "write of '%s' refused: storedElements.%s is disabled", label,
			jfs_elem_key(sub_elem(sub)));
		return -EPERM;
	}
	return 0;
}

/* Resize @data to @size, zero-filling what grows. */
static void resize_zero(struct jfs_strbuf *data, size_t size)
{
	size_t old = data->len;

	jfs_strbuf_setlen(data, size);
	if (size > old)
		memset(data->buf + old, 0, size - old);
}

static void jfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_handle *h = NULL;
	struct jfs_scratch *sc;
	struct jfs_user *u;
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	int rc = 0;

	if (fs->no_open) {
		/* read-only: no writer to keep apart, the kernel opens on its own */
		fuse_reply_err(req, ENOSYS);
		return;
	}

	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	if (ino & JFS_INO_SCRATCH_BIT) {
		sc = scratch_by_ino(ino);
		if (sc && sc->alias) {
			ino = sc->alias; /* renamed onto an element: it is that element now */
		} else {
			rc = sc ? 0 : -ENOENT;
			goto out_unlock;
		}
	}
	if (!ino_is_user(ino)) {
		if (writing)
			rc = -EACCES;
		/* generated on every read: no page cache */
		fi->direct_io = 1;
		goto out_unlock;
	}
	u = user_by_ino(fs, ino);
	if (!u || !u->exists) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if (!writing) {
		char *buf = NULL;
		size_t len = 0;

		fi->noflush = 1;
		/*
		 * A file larger than one read request is read in pieces; a commit
		 * between two pieces would hand the reader half of each version.
		 * Such a reader gets its own copy, read directly.
		 */
		int slot = fsize_slot(ino_sub(ino));
		bool small = slot >= 0 && u->fsize[slot] > 1 &&
			     u->fsize[slot] - 2 <= JFS_SNAPSHOT_MIN;
		/*
		 * The kernel fills its page cache with one request and takes the
		 * size from another: a record that just changed may change again
		 * between the two, and the reader would get the new bytes cut at
		 * (or padded to) the old size. Readers of such a record get their
		 * own copy too, until it has been quiet for a while.
		 */
		bool busy = u->changed_ms && jfs_mono_ms() - u->changed_ms < JFS_BUSY_MS;

		if ((!small || busy) && ino_sub(ino) != JFS_SUB_DIR &&
		    ino_sub(ino) != JFS_SUB_HISTDIR && node_content(fs, ino, &buf, &len) == 0 &&
		    (busy || len > JFS_SNAPSHOT_MIN) && (h = calloc(1, sizeof(*h)))) {
			h->ino = ino;
			h->u = u;
			h->snapshot = true;
			jfs_strbuf_init(&h->data);
			jfs_strbuf_add(&h->data, buf, len);
			h->next = u->handles;
			u->handles = h;
			__atomic_add_fetch(&fs->nhandles, 1, __ATOMIC_RELAXED);
			fi->fh = (uint64_t)(uintptr_t)h;
			fi->direct_io = 1;
		} else {
			fi->keep_cache = 1;
		}
		free(buf);
		goto out_unlock;
	}
	rc = check_writable(fs, u, ino_sub(ino));
	if (rc == 0)
		rc = handle_new(fs, u, ino, fi->flags & O_TRUNC, fuse_req_ctx(req)->pid, &h);
	if (rc == 0) {
		fi->fh = (uint64_t)(uintptr_t)h;
		fi->direct_io = 1;
	}
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_open(req, fi) == -ENOENT && h) {
		/* interrupted: the kernel will never release it */
		pthread_mutex_lock(&fs->lock);
		handle_free(fs, h);
		pthread_mutex_unlock(&fs->lock);
	}
}

static void jfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_handle *h = fh_handle(fi);
	struct jfs_strbuf *data;
	struct jfs_scratch *sc;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	if (h) {
		if ((size_t)off + size > fs->opts.max_file_size) {
			char msg[128];

			rc = -EFBIG;
			snprintf(msg, sizeof(msg), "file is over max_file_size (%zu bytes)",
				 fs->opts.max_file_size);
			if (!h->error)
				write_failed(fs, h->u, ino_sub(h->ino), rc, msg);
			h->error = EFBIG;
			goto out_unlock;
		}
		h->written = true;
		h->dormant = false;
		h->fresh = false;
		data = &h->data;
	} else if ((ino & JFS_INO_SCRATCH_BIT) && (sc = scratch_by_ino(ino)) && !sc->alias) {
		if ((size_t)off + size > fs->opts.max_file_size) {
			rc = -EFBIG;
			goto out_unlock;
		}
		data = &sc->data;
		clock_gettime(CLOCK_REALTIME, &sc->mtime);
		sc->ctime = sc->mtime;
	} else {
		/* element files are written through the handle open() made */
		rc = ino_is_user(ino) || (ino & JFS_INO_SCRATCH_BIT) ? -EBADF : -EACCES;
		goto out_unlock;
	}
	if ((size_t)off > data->len)
		resize_zero(data, (size_t)off);
	if ((size_t)off + size > data->len)
		jfs_strbuf_setlen(data, (size_t)off + size);
	memcpy(data->buf + off, buf, size);
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

static void jfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_handle *h = fh_handle(fi);
	int rc;

	if (fs->no_open) {
		/* read-only: nothing is ever written, so no close needs a round trip */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	/* read-only opens are noflush; scratch files have nothing to commit */
	if (!h || h->snapshot) {
		fuse_reply_err(req, 0);
		return;
	}
	/* opened with O_TRUNC and nothing written: a shell closing its dup()ed descriptor */
	rc = commit_handle(fs, h, true);
	if (rc == 0) {
		/* an earlier commit through this handle that the store lost since */
		drain_failures(fs);
		pthread_mutex_lock(&fs->lock);
		rc = handle_lost_error(h);
		pthread_mutex_unlock(&fs->lock);
	}
	fuse_reply_err(req, -rc);
}

static void jfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_handle *h = fh_handle(fi);

	if (h) {
		/* writes after the last flush (rare): stored now, errors go to the log */
		if (!h->snapshot)
			commit_handle(fs, h, false);
		pthread_mutex_lock(&fs->lock);
		handle_free(fs, h);
		pthread_mutex_unlock(&fs->lock);
	}
	fuse_reply_err(req, 0);
}

static void jfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_handle *h = fh_handle(fi);
	struct jfs_scratch *sc;
	struct jfs_user *u;
	struct jfs_err err;
	char *id = NULL;
	int rc = 0, lost;

	if (h && h->snapshot)
		h = NULL;
	pthread_mutex_lock(&fs->lock);
	if (ino & JFS_INO_SCRATCH_BIT) {
		/* scratch files live in memory only; one renamed onto an element is it */
		sc = scratch_by_ino(ino);
		ino = sc && sc->alias ? sc->alias : 0;
	}
	/* what fsync() makes durable: the changes of this file's user, nobody else's */
	u = h ? h->u : user_by_ino(fs, ino);
	if (u && !(id = strdup(u->id)))
		rc = -ENOMEM;
	pthread_mutex_unlock(&fs->lock);
	if (!id || fs->opts.ro) {
		free(id);
		fuse_reply_err(req, -rc);
		return;
	}
	if (h)
		rc = commit_handle(fs, h, true);
	if (rc == 0) {
		jfs_err_clear(&err);
		rc = jfs_policy_sync(&fs->policy, id, &err);
		if (rc < 0)
			jfs_log(LOG_ERR, "fsync of '%s': %s", u->name, err.msg);
	}
	free(id);
	if (h) {
		/*
		 * Changes of this file that the store lost since this descriptor
		 * last looked, once: a dropped edit, a save that failed (which, when
		 * it is this call's own failure, is not reported again later).
		 */
		drain_failures(fs);
		pthread_mutex_lock(&fs->lock);
		lost = handle_lost_error(h);
		pthread_mutex_unlock(&fs->lock);
		if (rc == 0)
			rc = lost;
	}
	fuse_reply_err(req, -rc);
}

/*
 * The handle @pid just opened on @ino, if a truncate without a handle is
 * its open(O_TRUNC): the kernel keeps O_TRUNC out of OPEN and sends it as
 * a truncate right after, from the same thread.
 */
static struct jfs_handle *truncating_open(struct jfs_user *u, fuse_ino_t ino, pid_t pid)
{
	struct jfs_handle *h;

	for (h = u->handles; h; h = h->next)
		if (h->ino == ino && (h->fresh || h->dormant) && h->opener == pid)
			return h;
	return NULL;
}

static void jfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_handle *h = fh_handle(fi);
	struct jfs_scratch *sc;
	struct jfs_user *u;
	double timeout;
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	json_t *seen = NULL;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	sc = (ino & JFS_INO_SCRATCH_BIT) ? scratch_by_ino(ino) : NULL;
	if (sc && sc->alias) {
		ino = sc->alias;
		sc = NULL;
	}
	if (sc) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		if (to_set & FUSE_SET_ATTR_SIZE) {
			if ((size_t)attr->st_size > fs->opts.max_file_size) {
				rc = -EFBIG;
				goto out_unlock;
			}
			resize_zero(&sc->data, (size_t)attr->st_size);
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
		goto out_attr;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		u = user_by_ino(fs, ino);
		if (!u || !u->exists) {
			rc = ino_is_user(ino) ? -ENOENT : -EACCES;
			goto out_unlock;
		}
		rc = check_writable(fs, u, ino_sub(ino));
		if (rc < 0)
			goto out_unlock;
		if ((size_t)attr->st_size > fs->opts.max_file_size) {
			rc = -EFBIG;
			write_failed(fs, u, ino_sub(ino), rc, "file is over max_file_size");
			goto out_unlock;
		}
		if (h) {
			/* ftruncate(): content, committed at the close */
			resize_zero(&h->data, (size_t)attr->st_size);
			h->written = true;
			h->dormant = false;
			h->fresh = false;
		} else if (attr->st_size == 0 &&
			   (h = truncating_open(u, ino, fuse_req_ctx(req)->pid))) {
			/*
			 * open(O_TRUNC): that handle starts empty, and stores nothing until
			 * something is written (shells close a dup()ed descriptor first).
			 * Readers keep seeing the stored content until the close.
			 */
			jfs_strbuf_setlen(&h->data, 0);
			h->dormant = true;
			h->fresh = false;
			h = NULL;
		} else {
			/* truncate(2) of a closed file: no close will follow, store it now */
			rc = item_get(fs, u, &seen);
			if (rc < 0)
				goto out_unlock;
			text = render_file(fs, seen, ino_sub(ino), &len);
			if (!text) {
				text = strdup("");
				len = 0;
			}
			if (!text) {
				rc = -ENOMEM;
				goto out_unlock;
			}
			if ((size_t)attr->st_size <= len) {
				len = (size_t)attr->st_size;
			} else {
				char *t = realloc(text, (size_t)attr->st_size + 1);

				if (!t) {
					rc = -ENOMEM;
					goto out_unlock;
				}
				text = t;
				memset(text + len, 0, (size_t)attr->st_size - len);
				len = (size_t)attr->st_size;
			}
			pthread_mutex_unlock(&fs->lock);
			rc = commit(fs, u, ino_sub(ino), text, len, seen, false);
			pthread_mutex_lock(&fs->lock);
			if (rc < 0)
				goto out_unlock;
		}
	}
	/* mode, owner and times of stored files are not stored: accept them quietly */
out_attr:
	rc = node_attr(fs, ino, &st, &timeout);
	if (rc == 0 && h && (to_set & FUSE_SET_ATTR_SIZE)) {
		size_attr(&st, h->data.len);
		/* the writer's size, not the stored one */
		if ((u = user_by_ino(fs, ino)) && told_slot(ino_sub(ino)) >= 0)
			u->told[told_slot(ino_sub(ino))] = 0;
	}
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	free(text);
	json_decref(seen);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
}

/* ------------------------------------------------------------------ */
/* names: create, mkdir, unlink, rmdir, rename */

/* The user directory @parent (user dir or history dir), or NULL. Lock held. */
static struct jfs_user *parent_user(struct jfs *fs, fuse_ino_t parent, unsigned *sub)
{
	struct jfs_user *u = user_by_ino(fs, parent);

	if (!u || !u->exists)
		return NULL;
	*sub = ino_sub(parent);
	if (*sub != JFS_SUB_DIR && *sub != JFS_SUB_HISTDIR)
		return NULL;
	return u;
}

/* The element sub @name stands for in directory @dirsub of @u, or -1 for a scratch name. */
static int element_sub(struct jfs *fs, unsigned dirsub, const char *name)
{
	long idx;
	int sub;

	if (dirsub == JFS_SUB_DIR) {
		sub = user_dir_sub(name);
		return sub == JFS_SUB_HISTDIR ? -2 : sub;
	}
	idx = hist_index(name);
	return idx < 0 ? -1 : (int)(JFS_SUB_HIST0 + idx);
}

static void do_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct fuse_entry_param e;
	struct jfs_scratch *sc;
	struct jfs_user *u;
	struct jfs_handle *h = NULL;
	unsigned dirsub;
	fuse_ino_t ino;
	int rc = 0, sub;

	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	if (fs->opts.ro) {
		rc = -EROFS;
		goto out_unlock;
	}
	u = parent_user(fs, parent, &dirsub);
	if (!u) {
		rc = parent == JFS_INO_ROOT || parent < JFS_SUB_COUNT ? -EPERM : -ENOENT;
		if (parent == JFS_INO_ROOT)
			jfs_log(LOG_ERR, "cannot create file '%s' at the top: users are "
					 "directories (mkdir)", name);
		goto out_unlock;
	}
	sub = element_sub(fs, dirsub, name);
	if (sub == -2) {
		rc = -EISDIR;
		goto out_unlock;
	}
	if (sub < 0 || (sc = scratch_by_name(u, (int)dirsub, name))) {
		sc = scratch_by_name(u, (int)dirsub, name);
		if (sc) {
			if (fi && (fi->flags & O_EXCL)) {
				rc = -EEXIST;
				goto out_unlock;
			}
			if (fi && (fi->flags & O_TRUNC))
				jfs_strbuf_setlen(&sc->data, 0);
		} else {
			sc = scratch_new(fs, u, (int)dirsub, name, mode, fuse_req_ctx(req));
			if (!sc) {
				rc = -ENOMEM;
				goto out_unlock;
			}
		}
		rc = make_entry(fs, sc->ino, &e);
		if (fi)
			fi->fh = 0;
		goto out_unlock;
	}
	rc = resolve(fs, parent, name, &ino);
	if (rc < 0)
		goto out_unlock;
	rc = check_writable(fs, u, (unsigned)sub);
	if (rc < 0)
		goto out_unlock;
	if (sub >= JFS_SUB_HIST0 && !ino) {
		jfs_log(LOG_ERR, "cannot create '%s/history/%s': only the %zu history items shown "
				 "can be written", u->name, name, (size_t)fs->policy.cfg.history_size);
		rc = -EPERM;
		goto out_unlock;
	}
	if (ino && fi && (fi->flags & O_EXCL)) {
		rc = -EEXIST;
		goto out_unlock;
	}
	if (!fi) {
		/* mknod: an element cannot be made empty; writing it makes it */
		rc = ino ? -EEXIST : -EPERM;
		goto out_unlock;
	}
	/* a new element, or create() over an existing one: both open it for writing */
	rc = handle_new(fs, u, user_ino(u, (unsigned)sub), !ino || (fi->flags & O_TRUNC),
			fuse_req_ctx(req)->pid, &h);
	if (rc < 0)
		goto out_unlock;
	rc = make_entry(fs, user_ino(u, (unsigned)sub), &e);
	if (rc == 0 && !e.ino)
		rc = -EIO;
	if (rc < 0) {
		handle_free(fs, h);
		h = NULL;
		goto out_unlock;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
	} else if (fi) {
		if (fuse_reply_create(req, &e, fi) == -ENOENT && h) {
			pthread_mutex_lock(&fs->lock);
			handle_free(fs, h);
			pthread_mutex_unlock(&fs->lock);
		}
	} else {
		fuse_reply_entry(req, &e);
	}
}

static void jfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	do_create(req, parent, name, mode, fi);
}

static void jfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev)
{
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	do_create(req, parent, name, mode, NULL);
}

/* Show @u in the listing (a user created through the mount). Lock held. */
static void listing_add(struct jfs *fs, struct jfs_user *u)
{
	struct jfs_user **l;
	size_t i;

	for (i = 0; i < fs->nlisting; i++)
		if (fs->listing[i] == u)
			return;
	l = realloc(fs->listing, (fs->nlisting + 1) * sizeof(*l));
	if (!l)
		return; /* the next listing refresh shows it */
	fs->listing = l;
	l[fs->nlisting++] = u;
}

static void jfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_write_result res = { 0 };
	struct fuse_entry_param e;
	struct jfs_user *u;
	struct jfs_err err;
	size_t len;
	char *id;
	int rc;

	if (parent != JFS_INO_ROOT) {
		jfs_log(LOG_ERR, "cannot mkdir '%s': only users (directories at the top) can be "
				 "created", name);
		fuse_reply_err(req, EPERM);
		return;
	}
	if (fs->opts.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!strcmp(name, JFS_STATUS_NAME)) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	id = jfs_name_to_id(name, &len);
	if (!id) {
		jfs_log(LOG_ERR, "cannot mkdir '%s': not the name of a user id (write '%%', "
				 "control characters and a leading '.' as %%XX)", name);
		fuse_reply_err(req, EINVAL);
		return;
	}
	jfs_err_clear(&err);
	rc = jfs_policy_create(&fs->policy, id, &res, &err);
	if (rc < 0 && rc != -EEXIST)
		jfs_log(LOG_ERR, "cannot create user '%s': %s", name, err.msg);
	pthread_mutex_lock(&fs->lock);
	u = user_get(fs, id, len);
	if (rc == 0) {
		fs->m.creates++;
		fsize_forget(u);
		if (res.item)
			item_set(fs, u, json_incref(res.item), true);
		u->exists = true;
		listing_add(fs, u);
		fs->list_gen++;
		fs->root_mtime_ms = jfs_now_ms();
		rc = make_entry(fs, user_ino(u, JFS_SUB_DIR), &e);
	}
	pthread_mutex_unlock(&fs->lock);
	jfs_write_result_release(&res);
	free(id);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static int deny_delete(struct jfs *fs, const char *what)
{
	if (fs->opts.ro)
		return -EROFS;
	jfs_log(LOG_ERR, "cannot delete '%s': deleting stored data needs the mount option "
			 "-o allow_delete", what);
	return -EPERM;
}

static void jfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_write_result res = { 0 };
	char label[PATH_MAX];
	struct jfs_scratch *sc;
	struct jfs_user *u;
	struct jfs_err err;
	json_t *seen = NULL, *old = NULL;
	unsigned dirsub;
	fuse_ino_t ino;
	int rc, sub;

	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	if (parent == JFS_INO_S_CONFL) {
		pthread_mutex_unlock(&fs->lock);
		rc = jfs_status_conflict_remove(fs->status, name);
		fuse_reply_err(req, -rc);
		return;
	}
	u = parent_user(fs, parent, &dirsub);
	if (!u) {
		pthread_mutex_unlock(&fs->lock);
		fuse_reply_err(req, parent == JFS_INO_ROOT || parent < JFS_SUB_COUNT ? EPERM
										    : ENOENT);
		return;
	}
	sc = scratch_by_name(u, (int)dirsub, name);
	if (sc) {
		scratch_unlink(sc);
		pthread_mutex_unlock(&fs->lock);
		fuse_reply_err(req, 0);
		return;
	}
	rc = resolve(fs, parent, name, &ino);
	sub = element_sub(fs, dirsub, name);
	if (rc == 0 && !ino) {
		/*
		 * rm -r looked the items up before removing 0.json, which moved
		 * the others down: the item this name stood for is gone already.
		 */
		if (sub >= JFS_SUB_HIST0 && fs->opts.allow_delete && !fs->opts.ro) {
			pthread_mutex_unlock(&fs->lock);
			fuse_reply_err(req, 0);
			return;
		}
		rc = -ENOENT;
	}
	if (rc == 0 && sub == -2)
		rc = -EISDIR;
	if (rc == 0) {
		file_label(u, (unsigned)sub, label, sizeof(label));
		if (!fs->opts.allow_delete || fs->opts.ro) {
			rc = deny_delete(fs, label);
		} else if (sub == JFS_SUB_RECORD) {
			/* it stands for the whole record: rmdir deletes that; rm -r gets there */
			pthread_mutex_unlock(&fs->lock);
			fuse_reply_err(req, 0);
			return;
		}
	}
	if (rc == 0)
		rc = item_get(fs, u, &seen);
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	jfs_err_clear(&err);
	rc = jfs_policy_remove_element(&fs->policy, u->id, seen, sub_elem((unsigned)sub),
				       sub >= JFS_SUB_HIST0 ? (size_t)(sub - JFS_SUB_HIST0) : 0,
				       label, &res, &err);
	pthread_mutex_lock(&fs->lock);
	if (rc == 0) {
		fs->m.removes++;
		fsize_forget(u);
		json_decref(u->served);
		u->served = NULL;
		old = u->item ? json_incref(u->item) : NULL;
		if (res.item)
			item_set(fs, u, json_incref(res.item), true);
		else
			item_drop(fs, u);
	} else {
		write_failed(fs, u, (unsigned)sub, rc, err.msg);
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc == 0)
		invalidate_user(fs, u, old, res.item);
	json_decref(old);
	json_decref(seen);
	jfs_write_result_release(&res);
	fuse_reply_err(req, -rc);
}

static void jfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_user *u;
	struct jfs_err err;
	json_t *old = NULL, *item = NULL;
	fuse_ino_t ino;
	char *id;
	int rc;

	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	rc = resolve(fs, parent, name, &ino);
	if (rc == 0 && !ino)
		rc = -ENOENT;
	if (rc < 0)
		goto out_unlock;
	if (!ino_is_user(ino)) {
		rc = ino == JFS_INO_STATUS || ino == JFS_INO_S_CONFL ? -EPERM : -ENOTDIR;
		goto out_unlock;
	}
	u = user_by_ino(fs, ino);
	if (ino_sub(ino) == JFS_SUB_HISTDIR) {
		/* rm -r removes the items first; the folder itself is the policy's */
		if (!fs->opts.allow_delete || fs->opts.ro) {
			char label[PATH_MAX];

			snprintf(label, sizeof(label), "%s/history", u->name);
			rc = deny_delete(fs, label);
			goto out_unlock;
		}
		/* with allow_delete, removing history/ removes the items it shows */
		for (;;) {
			struct jfs_write_result res = { 0 };
			json_t *prev;

			rc = item_get(fs, u, &item);
			if (rc < 0 || jfs_policy_history_count(&fs->policy.cfg, item) == 0)
				break;
			id = strdup(u->id);
			if (!id) {
				rc = -ENOMEM;
				break;
			}
			pthread_mutex_unlock(&fs->lock);
			jfs_err_clear(&err);
			rc = jfs_policy_remove_element(&fs->policy, id, item, JFS_EL_HISTORY, 0,
						       "history/0.json", &res, &err);
			free(id);
			pthread_mutex_lock(&fs->lock);
			if (rc < 0) {
				write_failed(fs, u, JFS_SUB_HIST0, rc, err.msg);
				break;
			}
			prev = u->item ? json_incref(u->item) : NULL;
			fsize_forget(u);
			if (res.item)
				item_set(fs, u, json_incref(res.item), true);
			pthread_mutex_unlock(&fs->lock);
			invalidate_user(fs, u, prev, res.item);
			json_decref(prev);
			jfs_write_result_release(&res);
			json_decref(item);
			item = NULL;
			pthread_mutex_lock(&fs->lock);
		}
		json_decref(item);
		goto out_unlock;
	}
	if (ino_sub(ino) != JFS_SUB_DIR) {
		rc = -ENOTDIR;
		goto out_unlock;
	}
	if (!fs->opts.allow_delete || fs->opts.ro) {
		rc = deny_delete(fs, u->name);
		goto out_unlock;
	}
	id = strdup(u->id);
	pthread_mutex_unlock(&fs->lock);
	if (!id) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	jfs_err_clear(&err);
	rc = jfs_policy_remove(&fs->policy, id, &err);
	free(id);
	pthread_mutex_lock(&fs->lock);
	if (rc < 0) {
		write_failed(fs, u, JFS_SUB_DIR, rc, err.msg);
		goto out_unlock;
	}
	fs->m.removes++;
	old = u->item ? json_incref(u->item) : NULL;
	item_drop(fs, u);
	fsize_forget(u);
	json_decref(u->served);
	u->served = NULL;
	u->exists = false;
	u->gen++;
	while (u->scratch) {
		struct jfs_scratch *sc = u->scratch;

		if (sc->nlookup) {
			/* the kernel still knows it: keep the node, drop the name */
			sc->linked = false;
			u->scratch = sc->next;
			sc->next = NULL;
			sc->owner = u;
		} else {
			scratch_free(sc);
		}
	}
	fs->list_gen++;
	fs->root_mtime_ms = jfs_now_ms();
	pthread_mutex_unlock(&fs->lock);
	invalidate_user(fs, u, old, NULL);
	json_decref(old);
	fuse_reply_err(req, 0);
	return;
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -rc);
}

static void jfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		       const char *newname, unsigned int flags)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_scratch *src_sc, *dst_sc;
	struct jfs_user *su, *du;
	unsigned sdir, ddir;
	int ssub, dsub, rc = 0;
	fuse_ino_t src_ino, dst_ino;
	char label[PATH_MAX];

	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	if (flags & RENAME_EXCHANGE) {
		rc = -EINVAL;
		goto out_unlock;
	}
	if (fs->opts.ro) {
		rc = -EROFS;
		goto out_unlock;
	}
	su = parent_user(fs, parent, &sdir);
	du = parent_user(fs, newparent, &ddir);
	if (!su || !du) {
		if (parent == JFS_INO_ROOT && newparent == JFS_INO_ROOT)
			jfs_log(LOG_ERR, "cannot rename user '%s' to '%s': user ids cannot be "
					 "changed", name, newname);
		rc = -EPERM;
		goto out_unlock;
	}
	src_sc = scratch_by_name(su, (int)sdir, name);
	dsub = element_sub(fs, ddir, newname);
	dst_sc = scratch_by_name(du, (int)ddir, newname);
	if (dsub == -2) {
		rc = -EISDIR;
		goto out_unlock;
	}

	if (src_sc) {
		if (dsub < 0 || dst_sc) {
			/* scratch -> scratch: a plain rename in memory */
			if (dst_sc == src_sc)
				goto out_unlock;
			if (dst_sc) {
				if (flags & RENAME_NOREPLACE) {
					rc = -EEXIST;
					goto out_unlock;
				}
				scratch_unlink(dst_sc);
			}
			char *nn = strdup(newname);

			if (!nn) {
				rc = -ENOMEM;
				goto out_unlock;
			}
			free(src_sc->name);
			src_sc->name = nn;
			if (src_sc->owner != du) {
				struct jfs_scratch **pp;

				for (pp = &su->scratch; *pp; pp = &(*pp)->next)
					if (*pp == src_sc) {
						*pp = src_sc->next;
						break;
					}
				src_sc->owner = du;
				src_sc->next = du->scratch;
				du->scratch = src_sc;
			}
			src_sc->dirsub = (int)ddir;
			goto out_unlock;
		}
		/* scratch -> element: commit the scratch file's content as that element */
		rc = resolve(fs, newparent, newname, &dst_ino);
		if (rc < 0)
			goto out_unlock;
		if (dst_ino && (flags & RENAME_NOREPLACE)) {
			rc = -EEXIST;
			goto out_unlock;
		}
		rc = check_writable(fs, du, (unsigned)dsub);
		if (rc < 0)
			goto out_unlock;
		if (dsub >= JFS_SUB_HIST0 && !dst_ino) {
			jfs_log(LOG_ERR, "cannot rename onto '%s/history/%s': only the history "
					 "items shown can be written", du->name, newname);
			rc = -EPERM;
			goto out_unlock;
		}
		{
			struct jfs_handle *wb;
			json_t *seen = NULL;
			char *text;
			size_t len;

			rc = item_get(fs, du, &seen);
			if (rc < 0)
				goto out_unlock;
			/* the lock may have been dropped: look the scratch file up again */
			src_sc = scratch_by_name(su, (int)sdir, name);
			if (!src_sc) {
				json_decref(seen);
				rc = -ENOENT;
				goto out_unlock;
			}
			if (du->served && du->served != seen) {
				json_decref(seen);
				seen = json_incref(du->served);
			}
			wb = handle_find(du, user_ino(du, (unsigned)dsub));
			if (wb) {
				/* a writer had the element open: its start is our version too */
				json_decref(seen);
				seen = json_incref(wb->seen);
			}
			len = src_sc->data.len;
			text = malloc(len + 1);
			if (!text) {
				json_decref(seen);
				rc = -ENOMEM;
				goto out_unlock;
			}
			memcpy(text, src_sc->data.buf, len);
			pthread_mutex_unlock(&fs->lock);
			rc = commit(fs, du, (unsigned)dsub, text, len, seen, true);
			free(text);
			json_decref(seen);
			pthread_mutex_lock(&fs->lock);
			if (rc < 0)
				goto out_unlock;
			src_sc = scratch_by_name(su, (int)sdir, name);
			if (src_sc) {
				/* the kernel now calls this inode by the element's name */
				src_sc->alias = user_ino(du, (unsigned)dsub);
				src_sc->linked = false;
				if (src_sc->nlookup == 0)
					scratch_free(src_sc);
			}
		}
		pthread_mutex_unlock(&fs->lock);
		/* drop the kernel's dentry, so the name leads to the element's own inode */
		notify_queue(fs, newparent, newname);
		fuse_reply_err(req, 0);
		return;
	}

	ssub = element_sub(fs, sdir, name);
	rc = resolve(fs, parent, name, &src_ino);
	if (rc < 0)
		goto out_unlock;
	if (!src_ino) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if (ssub < 0) {
		rc = -EPERM;
		goto out_unlock;
	}
	if (dsub >= 0 && !dst_sc) {
		file_label(su, (unsigned)ssub, label, sizeof(label));
		jfs_log(LOG_ERR, "cannot rename '%s' onto '%s': an element file can only be "
				 "renamed to a scratch name (it is copied)", label, newname);
		rc = -EPERM;
		goto out_unlock;
	}
	/* element -> scratch name: copy it (vim's backup); nothing stored is deleted */
	if (dst_sc && (flags & RENAME_NOREPLACE)) {
		rc = -EEXIST;
		goto out_unlock;
	}
	{
		char *buf = NULL;
		size_t len = 0;

		rc = node_content(fs, src_ino, &buf, &len);
		if (rc < 0)
			goto out_unlock;
		dst_sc = scratch_by_name(du, (int)ddir, newname);
		if (!dst_sc)
			dst_sc = scratch_new(fs, du, (int)ddir, newname, 0644, fuse_req_ctx(req));
		if (!dst_sc) {
			free(buf);
			rc = -ENOMEM;
			goto out_unlock;
		}
		jfs_strbuf_setlen(&dst_sc->data, 0);
		jfs_strbuf_add(&dst_sc->data, buf, len);
		free(buf);
	}
	pthread_mutex_unlock(&fs->lock);
	/* the kernel moved the element's dentry to the new name: undo both views */
	notify_queue(fs, newparent, newname);
	notify_queue(fs, parent, name);
	fuse_reply_err(req, 0);
	return;
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -rc);
}

/* ------------------------------------------------------------------ */
/* extended attributes, statfs */

/* The user an inode belongs to and its file kind, for xattrs. Lock held. */
static struct jfs_user *xattr_user(struct jfs *fs, fuse_ino_t ino, unsigned *sub)
{
	struct jfs_scratch *sc;

	if (ino & JFS_INO_SCRATCH_BIT) {
		sc = scratch_by_ino(ino);
		if (!sc)
			return NULL;
		if (sc->alias)
			return xattr_user(fs, sc->alias, sub);
		*sub = JFS_SUB_COUNT; /* no error slot */
		return sc->owner;
	}
	*sub = ino_sub(ino);
	return user_by_ino(fs, ino);
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
	int slot;

	if (strncmp(name, "user.", 5)) {
		/* ls asks for ACLs and SELinux labels: say once they are not supported */
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (!strcmp(name, XATTR_ERROR))
		drain_failures(fs); /* a change lost a moment ago counts */
	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	u = xattr_user(fs, ino, &sub);
	if (u && !strcmp(name, XATTR_ID)) {
		len = u->id_len;
		val = malloc(len + 1);
		if (val)
			memcpy(val, u->id, len);
	} else if (u && !strcmp(name, XATTR_ERROR) && sub < JFS_SUB_COUNT) {
		if (sub == JFS_SUB_DIR) {
			/* the directory tells the most recent failure of any of its files */
			for (slot = 0; slot <= ERR_HISTORY && !val; slot++)
				if (u->last_error[slot])
					val = strdup(u->last_error[slot]);
		} else if (u->last_error[err_slot(sub)]) {
			val = strdup(u->last_error[err_slot(sub)]);
		}
		if (val)
			len = strlen(val);
	}
	pthread_mutex_unlock(&fs->lock);
	if (!val) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	reply_xattr(req, val, len, size);
	free(val);
}

static void jfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_strbuf sb;
	struct jfs_user *u;
	unsigned sub;
	int slot;

	jfs_strbuf_init(&sb);
	pthread_mutex_lock(&fs->lock);
	u = xattr_user(fs, ino, &sub);
	if (u) {
		bool has_err = false;

		jfs_strbuf_add(&sb, XATTR_ID, sizeof(XATTR_ID));
		if (sub == JFS_SUB_DIR) {
			for (slot = 0; slot <= ERR_HISTORY; slot++)
				has_err |= u->last_error[slot] != NULL;
		} else if (sub < JFS_SUB_COUNT) {
			has_err = u->last_error[err_slot(sub)] != NULL;
		}
		if (has_err)
			jfs_strbuf_add(&sb, XATTR_ERROR, sizeof(XATTR_ERROR));
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
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	/* room to write: some tools refuse a filesystem that reports none */
	st.f_blocks = st.f_bfree = st.f_bavail = 1 << 20;
	st.f_files = fs->nlisting;
	st.f_namemax = JFS_NAME_MAX;
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_statfs(req, &st);
}

/* ------------------------------------------------------------------ */
/* foreign changes: the poll thread */

struct changed_ids {
	char **ids;
	size_t n, alloc;
};

static void collect_changed(void *data, const char *id)
{
	struct changed_ids *c = data;

	if (c->n == c->alloc) {
		c->alloc = c->alloc ? c->alloc * 2 : 64;
		c->ids = realloc(c->ids, c->alloc * sizeof(*c->ids));
		if (!c->ids)
			abort();
	}
	c->ids[c->n++] = strdup(id);
}

/* Ask the store what others changed; drop those records and tell the kernel. */
static void poll_changes(struct jfs *fs)
{
	struct changed_ids c = { 0 };
	struct jfs_err err;
	size_t i;
	int rc;

	drain_failures(fs);
	jfs_err_clear(&err);
	rc = jfs_policy_changes(&fs->policy, collect_changed, &c, &err);
	if (rc < 0) {
		jfs_log(LOG_WARNING, "cannot check the backend for changes: %s", err.msg);
		goto out_free;
	}
	if (!c.n)
		goto out_free;
	jfs_log(LOG_DEBUG, "%zu users changed in the backend", c.n);
	/* the listing gains and loses users; timestamps come with it */
	listing_refresh(fs);
	for (i = 0; i < c.n; i++) {
		struct jfs_user *u;
		json_t *old;

		if (!c.ids[i])
			continue;
		pthread_mutex_lock(&fs->lock);
		u = user_by_id(fs, c.ids[i], strlen(c.ids[i]));
		if (!u) {
			pthread_mutex_unlock(&fs->lock);
			continue;
		}
		old = u->item ? json_incref(u->item) : NULL;
		item_drop(fs, u);
		fsize_forget(u);
		u->gen++;
		pthread_mutex_unlock(&fs->lock);
		/* old NULL: we do not know what was shown, so every name is checked */
		invalidate_user(fs, u, NULL, NULL);
		if (u->exists)
			notify_queue(fs, JFS_INO_ROOT, u->name);
		json_decref(old);
	}
out_free:
	for (i = 0; i < c.n; i++)
		free(c.ids[i]);
	free(c.ids);
}

static void *poll_thread(void *arg)
{
	struct jfs *fs = arg;
	int64_t interval = (int64_t)(fs->opts.cache_timeout * 1000 / 2);
	struct timespec deadline;

	if (interval < 50)
		interval = 50;
	if (interval > 1000)
		interval = 1000;
	pthread_mutex_lock(&fs->lock);
	while (!fs->stopping) {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += interval / 1000;
		deadline.tv_nsec += (interval % 1000) * 1000000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&fs->notify_cond, &fs->lock, &deadline);
		if (fs->stopping)
			break;
		pthread_mutex_unlock(&fs->lock);
		poll_changes(fs);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* lifecycle */

static void jfs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct jfs *fs = userdata;

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
	(void)fs;
}

int jfs_fs_start(struct jfs *fs)
{
	if (pthread_create(&fs->notify_thread, NULL, notify_thread, fs))
		return -EAGAIN;
	fs->threads_started = true;
	if (fs->change_feed && pthread_create(&fs->poll_thread, NULL, poll_thread, fs)) {
		fs->change_feed = false;
		fs->entry_timeout = fs->opts.cache_timeout;
		jfs_log(LOG_WARNING, "cannot start the change poller: caching for %g s only",
			fs->opts.cache_timeout);
	}
	/* a backend that is down now is retried at the next listing */
	listing_refresh(fs);
	return 0;
}

void jfs_fs_stop(struct jfs *fs)
{
	if (!fs->threads_started)
		return;
	pthread_mutex_lock(&fs->lock);
	fs->stopping = true;
	pthread_cond_broadcast(&fs->notify_cond);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->notify_thread, NULL);
	if (fs->change_feed)
		pthread_join(fs->poll_thread, NULL);
	fs->threads_started = false;
}

int jfs_fs_init(struct jfs *fs)
{
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->notify_cond, NULL);
	jfs_hmap_init(&fs->users.by_id, 1024);
	jfs_hmap_init(&fs->users.by_name, 1024);
	fs->start_ms = jfs_now_ms();
	fs->root_mtime_ms = fs->start_ms;
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

void jfs_fs_release(struct jfs *fs)
{
	struct jfs_notify *n;
	size_t i, k;

	for (i = 0; i < SCRATCH_BUCKETS; i++)
		while (scratch_hash[i])
			scratch_free(scratch_hash[i]);
	for (i = 0; i < fs->users.nslots; i++) {
		struct jfs_user *u = fs->users.slots[i];

		while (u->handles)
			handle_free(fs, u->handles);
		json_decref(u->item);
		json_decref(u->prev_item);
		json_decref(u->served);
		for (k = 0; k < sizeof(u->last_error) / sizeof(u->last_error[0]); k++)
			free(u->last_error[k]);
		free(u->id);
		free(u->name);
		free(u);
	}
	free(fs->users.slots);
	jfs_hmap_release(&fs->users.by_id);
	jfs_hmap_release(&fs->users.by_name);
	free(fs->listing);
	for (i = 0; i < sizeof(fs->read_copy) / sizeof(fs->read_copy[0]); i++)
		free(fs->read_copy[i].buf);
	while ((n = fs->notify_head)) {
		fs->notify_head = n->next;
		free(n->name);
		free(n);
	}
	pthread_cond_destroy(&fs->notify_cond);
	pthread_mutex_destroy(&fs->lock);
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

const struct fuse_lowlevel_ops jfs_ll_ops = {
	.open = jfs_open,
	.opendir = jfs_opendir,
	.init = jfs_init,
	.lookup = jfs_lookup,
	.forget = jfs_forget,
	.forget_multi = jfs_forget_multi,
	.getattr = jfs_getattr,
	.setattr = jfs_setattr,
	.mknod = jfs_mknod,
	.mkdir = jfs_mkdir,
	.unlink = jfs_unlink,
	.rmdir = jfs_rmdir,
	.rename = jfs_rename,
	.read = jfs_read,
	.write = jfs_write,
	.flush = jfs_flush,
	.release = jfs_release,
	.fsync = jfs_fsync,
	.readdir = jfs_readdir,
	.readdirplus = jfs_readdirplus,
	.statfs = jfs_statfs,
	.setxattr = jfs_setxattr,
	.getxattr = jfs_getxattr,
	.listxattr = jfs_listxattr,
	.removexattr = jfs_removexattr,
	.create = jfs_create,
};
