/*
 * Find views: .jovofs/find/FILTER/ lists one symlink per user that
 * matches FILTER, named like the user's directory and pointing at it
 * ("../../../NAME"), so ls, cat .jovofs/find/F/x/user.json and find -L
 * work. The filter is the policy's (policy/filter.c); the store evaluates
 * it (jfs_policy_find()), never this file.
 *
 * This file owns the views (struct jfs_find) and their results: the slots
 * of the matching users, sorted, so a name is checked by a binary search.
 * Results are kept for cache_timeout, like the listing; every change the
 * mount makes (jfs_rcache_store()) bumps finds.gen, and a view whose
 * results are from before it asks the store again on its next use. The
 * kernel is told without being sent anything: a view's attributes and its
 * links' entries are never cached (timeout 0) and its mtime changes with
 * its results, which makes the kernel drop its cached listing of it at the
 * next opendir (FUSE_CAP_AUTO_INVAL_DATA).
 *
 * A view lives while the kernel holds it (lookups, forgets); its results
 * are dropped, least recently used first, when all views together hold
 * more than FIND_HELD_MAX users.
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/isotime.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "fs/idcodec.h"
#include "policy/mask.h"

#define FIND_HELD_MAX (8u << 20)  /* users in all views' results: 32 MiB of slots */
#define LINK_PREFIX "../../../"  /* from .jovofs/find/F/ back to the root */

/* One view. Guarded by lock. */
struct jfs_find {
	struct jfs_hnode hnode_name, hnode_num;
	char *name;
	uint64_t num;              /* its inode: JFS_INO_FIND_BIT | num */
	struct jfs_filter *filter; /* the policy's; never changes */
	uint64_t nlookup;          /* the kernel's references */
	unsigned busy;             /* requests using it with the lock dropped */
	uint32_t *slots;           /* the matching users, sorted; when have */
	size_t n;
	bool have;                 /* results are there (maybe old) */
	bool running;              /* the store is being asked */
	uint64_t gen;              /* finds.gen when the results were asked for */
	int64_t done_ms;           /* monotonic, when they came */
	int64_t used_ms;           /* monotonic, the last use */
	struct timespec mtime;     /* changes whenever the results may have */
};

static struct jfs_find *find_by_num(struct jfs *fs, uint64_t num)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&fs->finds.by_num, node, num) {
		struct jfs_find *f = jfs_container_of(node, struct jfs_find, hnode_num);

		if (f->num == num)
			return f;
	}
	return NULL;
}

static struct jfs_find *find_of(struct jfs *fs, fuse_ino_t ino)
{
	return jfs_node_kind(ino) == JFS_NODE_FIND ? find_by_num(fs, ino & ~JFS_INO_FIND_BIT)
						    : NULL;
}

static struct jfs_find *find_by_name(struct jfs *fs, const char *name)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&fs->finds.by_name, node, jfs_hash_bytes(name, strlen(name))) {
		struct jfs_find *f = jfs_container_of(node, struct jfs_find, hnode_name);

		if (!strcmp(f->name, name))
			return f;
	}
	return NULL;
}

/* A new mtime, later than the last one: the kernel compares them exactly. */
static void touch(struct jfs_find *f)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec < f->mtime.tv_sec ||
	    (now.tv_sec == f->mtime.tv_sec && now.tv_nsec <= f->mtime.tv_nsec)) {
		now = f->mtime;
		if (++now.tv_nsec >= 1000000000) {
			now.tv_sec++;
			now.tv_nsec = 0;
		}
	}
	f->mtime = now;
}

static void results_drop(struct jfs *fs, struct jfs_find *f)
{
	fs->finds.held -= f->n;
	free(f->slots);
	f->slots = NULL;
	f->n = 0;
	f->have = false;
}

static void find_free(struct jfs *fs, struct jfs_find *f)
{
	results_drop(fs, f);
	jfs_hmap_remove(&fs->finds.by_name, &f->hnode_name);
	jfs_hmap_remove(&fs->finds.by_num, &f->hnode_num);
	jfs_policy_filter_free(f->filter);
	free(f->name);
	free(f);
}

/*
 * On a masked view, whether a condition of @filter reads a masked value (or
 * one holding masked values): which users match would tell it. Says so.
 */
static bool masked_condition(struct jfs *fs, const struct jfs_filter *filter)
{
	size_t i, k;

	for (i = 0; fs->mask && i < filter->n; i++) {
		const struct jfs_path *p = &filter->cond[i].path;
		struct jfs_strbuf sb;

		/* -o mask_ids: which users match a condition on the id would tell it */
		if (!jfs_mask_touches(fs->mask, (const char *const *)p->seg, p->n) &&
		    !(fs->mask_ids && p->n && !strcmp(p->seg[0], "id")))
			continue;
		jfs_strbuf_init(&sb);
		for (k = 0; k < p->n; k++) {
			if (k)
				jfs_strbuf_addch(&sb, '.');
			jfs_strbuf_addstr(&sb, p->seg[k]);
		}
		jfs_log(LOG_WARNING, "%s/find: '%s' is masked on this mount: a filter on it "
				     "would tell its values", JFS_STATUS_NAME, sb.buf);
		jfs_strbuf_release(&sb);
		return true;
	}
	return false;
}

int jfs_find_lookup_view(struct jfs *fs, const char *name, fuse_ino_t *ino)
{
	struct jfs_find *f = find_by_name(fs, name);
	struct jfs_filter *filter;
	struct jfs_err err;
	int rc;

	if (!f) {
		jfs_err_clear(&err);
		rc = jfs_policy_filter_parse(&fs->policy.cfg, name, &filter, &err);
		if (rc < 0) {
			jfs_log(LOG_WARNING, "%s/find: %s", JFS_STATUS_NAME, err.msg);
			return rc;
		}
		if (masked_condition(fs, filter)) {
			jfs_policy_filter_free(filter);
			return -EACCES;
		}
		f = calloc(1, sizeof(*f));
		if (!f || !(f->name = strdup(name)))
			abort();
		f->filter = filter;
		f->num = ++fs->finds.next;
		touch(f);
		jfs_hmap_add(&fs->finds.by_name, &f->hnode_name, jfs_hash_bytes(name, strlen(name)));
		jfs_hmap_add(&fs->finds.by_num, &f->hnode_num, f->num);
	}
	*ino = JFS_INO_FIND_BIT | f->num;
	return 0;
}

/* What a query found so far: slots, taken in under the lock page by page. */
struct collect {
	struct jfs *fs;
	uint32_t *slots;
	size_t n, alloc;
};

/* A page of the store's answer, from any of its threads. [U] */
static int collect_page(void *data, const struct jfs_found *found, size_t n)
{
	struct collect *c = data;
	struct jfs *fs = c->fs;
	size_t i;

	pthread_mutex_lock(&fs->lock);
	if (jfs_users_ending(fs)) {
		pthread_mutex_unlock(&fs->lock);
		return 1; /* the unmount, or SIGTERM: the view's readdir gives up */
	}
	for (i = 0; i < n; i++) {
		if (c->n == c->alloc) {
			c->alloc = c->alloc ? c->alloc * 2 : 256;
			c->slots = realloc(c->slots, c->alloc * sizeof(*c->slots));
			if (!c->slots)
				abort();
		}
		c->slots[c->n++] = (uint32_t)jfs_users_slot(fs, found[i].id, strlen(found[i].id));
	}
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

static int cmp_slot(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Keep all views' results within FIND_HELD_MAX: drop the least recently used. */
static void results_trim(struct jfs *fs, struct jfs_find *keep)
{
	while (fs->finds.held > FIND_HELD_MAX) {
		struct jfs_find *lru = NULL, *f;
		struct jfs_hnode *node;

		jfs_hmap_for_each(&fs->finds.by_num, node) {
			f = jfs_container_of(node, struct jfs_find, hnode_num);
			if (f != keep && f->have && !f->busy && (!lru || f->used_ms < lru->used_ms))
				lru = f;
		}
		if (!lru)
			break;
		results_drop(fs, lru);
		touch(lru);
	}
}

/*
 * Make sure @f has results: ask the store when it has none or they are
 * from before a change the mount made, or (@refresh: a listing from its
 * start) older than the cache time. 0 or -errno. [L-drop] (@f stays: the
 * caller holds it busy)
 */
static int results(struct jfs *fs, struct jfs_find *f, bool refresh)
{
	struct collect c = { .fs = fs };
	struct jfs_err err;
	uint64_t gen;
	size_t i, n;
	int rc;

	for (;;) {
		bool old = refresh && jfs_mono_ms() - f->done_ms >=
					      (int64_t)(fs->opts.cache_timeout * 1000);

		if (f->have && f->gen == fs->finds.gen && !old)
			return 0;
		if (!f->running)
			break;
		/* someone asks already: theirs is as fresh as ours would be */
		pthread_cond_wait(&fs->finds.cond, &fs->lock);
		refresh = false;
	}
	f->running = true;
	gen = fs->finds.gen;
	pthread_mutex_unlock(&fs->lock);
	jfs_err_clear(&err);
	rc = jfs_policy_find(&fs->policy, f->filter, collect_page, &c, &err);
	if (rc < 0)
		jfs_log(LOG_ERR, "%s/find/%s: %s", JFS_STATUS_NAME, f->name, err.msg);
	pthread_mutex_lock(&fs->lock);
	f->running = false;
	pthread_cond_broadcast(&fs->finds.cond);
	if (rc < 0) {
		free(c.slots);
		return rc;
	}
	/* sorted and each once (a store may report an id twice) */
	if (c.n)
		qsort(c.slots, c.n, sizeof(*c.slots), cmp_slot);
	for (i = n = 0; i < c.n; i++)
		if (!n || c.slots[n - 1] != c.slots[i])
			c.slots[n++] = c.slots[i];
	results_drop(fs, f);
	f->slots = c.slots;
	f->n = n;
	f->have = true;
	f->gen = gen;
	f->done_ms = jfs_mono_ms();
	fs->finds.held += n;
	touch(f);
	results_trim(fs, f);
	return 0;
}

/* A request is done with @f: free it when the kernel forgot it meanwhile. */
static void unbusy(struct jfs *fs, struct jfs_find *f)
{
	if (!--f->busy && !f->nlookup && !f->running)
		find_free(fs, f);
}

static bool has_slot(const struct jfs_find *f, uint64_t slot)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->slots[mid] == slot)
			return true;
		if (f->slots[mid] < slot)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

int jfs_find_lookup_link(struct jfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino)
{
	struct jfs_find *f = find_of(fs, parent);
	uint64_t slot;
	bool exists;
	int rc;

	if (!f)
		return -ENOENT;
	f->busy++;
	f->used_ms = jfs_mono_ms();
	rc = results(fs, f, false);
	/* an error, not a negative entry: the next write may change the answer */
	if (!rc && (!jfs_users_slot_by_name(fs, name, &slot, &exists) || !has_slot(f, slot)))
		rc = -ENOENT;
	if (!rc)
		*ino = jfs_ino_make(slot, JFS_SUB_LINK);
	unbusy(fs, f);
	return rc;
}

int jfs_find_attr(struct jfs *fs, enum jfs_node_kind kind, fuse_ino_t ino, struct stat *st,
		  double *timeout)
{
	struct jfs_find *f;
	int64_t mtime;
	bool exists;
	char *name;

	switch (kind) {
	case JFS_NODE_FIND_DIR:
		jfs_node_base_attr(fs, st, ino, S_IFDIR | 0555, fs->start_ms);
		return 0;
	case JFS_NODE_FIND:
		f = find_of(fs, ino);
		if (!f)
			return -ENOENT;
		/* results the next listing asks again for: the kernel must not keep its copy */
		if (f->have && !f->running &&
		    (f->gen != fs->finds.gen ||
		     jfs_mono_ms() - f->done_ms >= (int64_t)(fs->opts.cache_timeout * 1000)))
			touch(f);
		jfs_node_base_attr(fs, st, ino, S_IFDIR | 0555, 0);
		st->st_mtim = st->st_ctim = st->st_atim = f->mtime;
		*timeout = 0;
		return 0;
	case JFS_NODE_FIND_LINK:
		name = jfs_users_slot_name(fs, jfs_ino_slot(ino));
		if (!name)
			return -ENOENT;
		if (!jfs_users_peek(fs, jfs_ino_slot(ino), &exists, &mtime) || mtime < 0)
			mtime = fs->start_ms;
		jfs_node_base_attr(fs, st, ino, S_IFLNK | 0777, mtime);
		jfs_node_size_attr(st, strlen(LINK_PREFIX) + strlen(name));
		free(name);
		*timeout = 0;
		return 0;
	default:
		return -ENOENT;
	}
}

int jfs_find_readdir(struct jfs *fs, struct jfs_dirbuf *db, fuse_ino_t ino)
{
	struct jfs_find *f;
	size_t i = 0;
	int rc = 0;

	if (ino == JFS_INO_S_FIND) {
		/* views are made by looking them up: there is nothing to list */
		if (jfs_dir_add(fs, db, ".", JFS_INO_S_FIND, S_IFDIR))
			jfs_dir_add(fs, db, "..", JFS_INO_STATUS, S_IFDIR);
		return 0;
	}
	f = find_of(fs, ino);
	if (!f)
		return -ENOENT;
	f->busy++;
	f->used_ms = jfs_mono_ms();
	rc = results(fs, f, db->off == 0);
	if (rc < 0)
		goto out_unbusy;
	if (!jfs_dir_add(fs, db, ".", ino, S_IFDIR) ||
	    !jfs_dir_add(fs, db, "..", JFS_INO_S_FIND, S_IFDIR))
		goto out_unbusy;
	if (db->off > db->pos) {
		i = (size_t)(db->off - db->pos);
		db->pos = db->off;
	}
	/* readdirplus may drop the lock: the results may change meanwhile */
	for (; f->have && i < f->n; i++) {
		uint32_t slot = f->slots[i];
		char *name = jfs_users_slot_name(fs, slot);
		bool more = name && jfs_dir_add(fs, db, name, jfs_ino_make(slot, JFS_SUB_LINK),
						S_IFLNK);

		free(name);
		if (!more)
			break;
	}
out_unbusy:
	unbusy(fs, f);
	return rc;
}

int jfs_find_readlink(struct jfs *fs, fuse_ino_t ino, char **target)
{
	char *name;
	size_t n;

	if (jfs_node_kind(ino) != JFS_NODE_FIND_LINK)
		return -EINVAL;
	name = jfs_users_slot_name(fs, jfs_ino_slot(ino));
	if (!name)
		return -ENOENT;
	n = strlen(LINK_PREFIX) + strlen(name) + 1;
	*target = malloc(n);
	if (!*target)
		abort();
	snprintf(*target, n, "%s%s", LINK_PREFIX, name);
	free(name);
	return 0;
}

void jfs_find_ref(struct jfs *fs, fuse_ino_t ino)
{
	struct jfs_find *f = find_of(fs, ino);

	if (f)
		f->nlookup++;
}

void jfs_find_forget(struct jfs *fs, fuse_ino_t ino, uint64_t n)
{
	struct jfs_find *f = find_of(fs, ino);

	if (!f)
		return;
	f->nlookup = n < f->nlookup ? f->nlookup - n : 0;
	if (!f->nlookup && !f->busy && !f->running)
		find_free(fs, f);
}

void jfs_find_invalidate(struct jfs *fs)
{
	struct jfs_hnode *node;

	fs->finds.gen++;
	jfs_hmap_for_each(&fs->finds.by_num, node) {
		struct jfs_find *f = jfs_container_of(node, struct jfs_find, hnode_num);

		if (f->have)
			touch(f);
	}
}

void jfs_find_init(struct jfs *fs)
{
	jfs_hmap_init(&fs->finds.by_name, 16);
	jfs_hmap_init(&fs->finds.by_num, 16);
	pthread_cond_init(&fs->finds.cond, NULL);
}

void jfs_find_release(struct jfs *fs)
{
	struct jfs_hnode *node, *tmp;

	jfs_hmap_for_each_safe(&fs->finds.by_num, node, tmp)
		find_free(fs, jfs_container_of(node, struct jfs_find, hnode_num));
	jfs_hmap_release(&fs->finds.by_name);
	jfs_hmap_release(&fs->finds.by_num);
	pthread_cond_destroy(&fs->finds.cond);
}
