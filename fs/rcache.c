/*
 * The record cache: each user's parsed item (shared, never modified),
 * kept in LRU order within opts.cache_size, with what readers and the
 * kernel were given of it. Like sshfs's cache.c, its own functions are
 * the only writers of struct jfs_ucache and struct jfs_rcache; every
 * "the record changed" path of the fs layer goes through
 * jfs_rcache_store() (the mount changed it) or jfs_rcache_forget()
 * (someone else may have).
 *
 * A load runs without the lock; the user's generation, bumped by every
 * change, keeps an older load from replacing a newer write (sshfs's write
 * counter does the same).
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "policy/mask.h"

#define BUSY_MS 3000 /* a record changed this recently is read from copies */

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
	struct jfs_ucache *c = &u->cache;

	if (c->lru_prev)
		c->lru_prev->cache.lru_next = c->lru_next;
	else if (fs->rcache.lru_head == u)
		fs->rcache.lru_head = c->lru_next;
	if (c->lru_next)
		c->lru_next->cache.lru_prev = c->lru_prev;
	else if (fs->rcache.lru_tail == u)
		fs->rcache.lru_tail = c->lru_prev;
	c->lru_prev = c->lru_next = NULL;
}

static void lru_touch(struct jfs *fs, struct jfs_user *u)
{
	struct jfs_rcache *r = &fs->rcache;

	if (r->lru_head == u)
		return;
	lru_unlink(fs, u);
	u->cache.lru_next = r->lru_head;
	if (r->lru_head)
		r->lru_head->cache.lru_prev = u;
	r->lru_head = u;
	if (!r->lru_tail)
		r->lru_tail = u;
}

static void item_drop(struct jfs *fs, struct jfs_user *u)
{
	struct jfs_ucache *c = &u->cache;

	json_decref(c->prev_item);
	c->prev_item = NULL;
	if (!c->item)
		return;
	lru_unlink(fs, u);
	fs->rcache.bytes -= c->cost;
	json_decref(c->item);
	c->item = NULL;
	c->cost = 0;
}

static void sizes_forget(struct jfs_user *u)
{
	memset(u->cache.fsize, 0, sizeof(u->cache.fsize));
}

/*
 * Install @item (new reference, consumed) as @u's cached item; @changed
 * when it differs from the one it replaces (a write, or a reload that
 * found a change). Evicts the least recently used records over the size.
 */
static void item_set(struct jfs *fs, struct jfs_user *u, json_t *item, bool changed)
{
	struct jfs_ucache *c = &u->cache;
	json_t *old = changed && c->item ? json_incref(c->item) : NULL;

	item_drop(fs, u);
	/* what the kernel may still hold the sizes of (jfs_rcache_same_size_version()) */
	c->prev_item = old;
	if (old)
		c->changed_ms = jfs_mono_ms();
	c->item = item;
	c->stale = false;
	c->cost = json_cost(item);
	c->loaded_ms = jfs_mono_ms();
	c->gen++;
	jfs_users_seen(fs, u, item);
	fs->rcache.bytes += c->cost;
	lru_touch(fs, u);
	while (fs->rcache.bytes > fs->opts.cache_size && fs->rcache.lru_tail &&
	       fs->rcache.lru_tail != u) {
		struct jfs_user *victim = fs->rcache.lru_tail;

		item_drop(fs, victim);
		json_decref(victim->cache.served);
		victim->cache.served = NULL;
		fs->rcache.evictions++;
	}
}

static bool item_fresh(struct jfs *fs, struct jfs_user *u)
{
	if (!u->cache.item || u->cache.stale)
		return false;
	if (fs->change_feed)
		return true;
	return jfs_mono_ms() - u->cache.loaded_ms < (int64_t)(fs->opts.cache_timeout * 1000);
}

void jfs_rcache_forget(struct jfs *fs, struct jfs_user *u, json_t **old)
{
	if (old)
		*old = u->cache.item ? json_incref(u->cache.item) : NULL;
	u->cache.stale = true;
	sizes_forget(u);
	u->cache.gen++;
}

void jfs_rcache_drop(struct jfs *fs, struct jfs_user *u)
{
	item_drop(fs, u);
	sizes_forget(u);
	u->cache.gen++;
}

void jfs_rcache_store(struct jfs *fs, struct jfs_user *u, json_t *item, json_t **old)
{
	struct jfs_ucache *c = &u->cache;

	*old = c->item ? json_incref(c->item) : NULL;
	sizes_forget(u);
	/* what a find view found may have changed with it */
	jfs_find_invalidate(fs);
	/* the mount's own change counts as seen: the next writer starts from it */
	json_decref(c->served);
	c->served = NULL;
	if (item) {
		item_set(fs, u, item, true);
	} else {
		item_drop(fs, u);
		c->gen++;
	}
}

static int install(struct jfs *fs, struct jfs_user *u, uint64_t gen, json_t *loaded,
		   json_t **item);

void jfs_rcache_put_loaded(struct jfs *fs, struct jfs_user *u, json_t *loaded)
{
	json_t *item = NULL;

	if (u->cache.item && !u->cache.stale) {
		json_decref(loaded); /* someone got there first */
		return;
	}
	install(fs, u, u->cache.gen, loaded, &item);
	json_decref(item);
}

int jfs_rcache_get(struct jfs *fs, struct jfs_user *u, json_t **item)
{
	struct jfs_ucache *c = &u->cache;
	json_t *loaded = NULL, *old;
	struct jfs_err err;
	uint64_t gen;
	char *id;
	int rc;

	if (item_fresh(fs, u)) {
		fs->rcache.hits++;
		lru_touch(fs, u);
		*item = json_incref(c->item);
		return 0;
	}
	fs->rcache.misses++;
	gen = c->gen;
	id = strdup(u->id);
	if (!id)
		abort();
	pthread_mutex_unlock(&fs->lock);
	jfs_err_clear(&err);
	rc = jfs_policy_load(&fs->policy, id, &loaded, &err);
	if (rc < 0 && rc != -ENOENT && fs->mask_ids) {
		/* the store's message may name the id: -o mask_ids shows none */
		char *msg = jfs_mask_scrub(fs->mask, id, strlen(id), err.msg);

		jfs_log(LOG_ERR, "cannot load '%s': %s", u->name, msg);
		free(msg);
	} else if (rc < 0 && rc != -ENOENT) {
		jfs_log(LOG_ERR, "cannot load '%s': %s", u->name, err.msg);
	}
	pthread_mutex_lock(&fs->lock);
	free(id);
	if (rc == -ENOENT) {
		if (c->gen == gen) {
			old = c->item ? json_incref(c->item) : NULL;
			jfs_rcache_drop(fs, u);
			jfs_users_gone(fs, u);
			if (old) {
				pthread_mutex_unlock(&fs->lock);
				jfs_invalidate_user(fs, u, old, NULL);
				pthread_mutex_lock(&fs->lock);
				json_decref(old);
			}
		}
		return -ENOENT;
	}
	if (rc < 0) {
		fs->rcache.load_errors++;
		/* a backend that is down: serve what we had rather than nothing */
		if (c->item) {
			*item = json_incref(c->item);
			return 0;
		}
		return rc;
	}
	return install(fs, u, gen, loaded, item);
}

/*
 * Install @loaded (consumed), what a load that started at generation @gen
 * found, unless a write or another load got there first: *@item (new
 * reference) is what the cache holds then. [L-drop]
 */
static int install(struct jfs *fs, struct jfs_user *u, uint64_t gen, json_t *loaded,
		   json_t **item)
{
	struct jfs_ucache *c = &u->cache;
	json_t *old;
	bool changed;

	if (c->gen != gen && c->item && !c->stale) {
		/* theirs is newer */
		json_decref(loaded);
		*item = json_incref(c->item);
		return 0;
	}
	old = c->item ? json_incref(c->item) : NULL;
	changed = old && !jfs_json_equal(old, loaded);
	/*
	 * Sizes stay right across a reload only when nothing can have changed:
	 * the store tells us of changes, or the old item is the same.
	 */
	if (old ? changed : !fs->change_feed)
		sizes_forget(u);
	item_set(fs, u, json_incref(loaded), changed);
	*item = loaded;
	if (changed) {
		pthread_mutex_unlock(&fs->lock);
		jfs_invalidate_user(fs, u, old, loaded);
		pthread_mutex_lock(&fs->lock);
	}
	json_decref(old);
	return 0;
}

json_t *jfs_rcache_base(struct jfs_user *u, json_t *item)
{
	return u->cache.served ? u->cache.served : item;
}

void jfs_rcache_served(struct jfs_user *u, json_t *item)
{
	if (u->cache.served == item)
		return;
	json_decref(u->cache.served);
	u->cache.served = json_incref(item);
}

bool jfs_rcache_busy(const struct jfs_user *u)
{
	return u->cache.changed_ms && jfs_mono_ms() - u->cache.changed_ms < BUSY_MS;
}

bool jfs_rcache_size(const struct jfs_user *u, unsigned sub, size_t *len)
{
	int slot = jfs_size_slot(sub);

	if (slot < 0 || u->cache.fsize[slot] < JFS_SIZE_BIAS)
		return false;
	*len = u->cache.fsize[slot] - JFS_SIZE_BIAS;
	return true;
}

void jfs_rcache_note_size(struct jfs_user *u, unsigned sub, const char *buf, size_t len)
{
	int slot = jfs_size_slot(sub);

	if (slot >= 0 && len < UINT32_MAX - JFS_SIZE_BIAS)
		u->cache.fsize[slot] = buf ? (uint32_t)len + JFS_SIZE_BIAS : JFS_SIZE_ABSENT;
}

void jfs_rcache_told(struct jfs_user *u, unsigned sub, bool known, size_t len)
{
	int slot = jfs_told_slot(sub);

	if (slot >= 0)
		u->cache.told[slot] = known && len < UINT32_MAX - JFS_SIZE_BIAS ?
					      (uint32_t)len + JFS_SIZE_BIAS : JFS_SIZE_UNKNOWN;
}

/*
 * A read without a file handle fills the page cache, and the kernel cuts
 * it at the size it last got from us (or pads it with zeros, when a
 * change raced the read). When a commit or a reload changed the size of
 * file @sub of @u since, serve the version that size belongs to if we
 * still have it (prev_item) and make the kernel refetch the size after
 * this reply (*@inval_after): the reader gets the old content whole, its
 * next read the new one. Without it, a longer new content is served and
 * the kernel told before the reply (*@inval_first), so the reader's next
 * read() refetches the size and gets the rest; a shorter one fixes the
 * size by itself (a short read).
 */
void jfs_rcache_same_size_version(struct jfs *fs, struct jfs_user *u, unsigned sub,
				  char **buf, size_t *len, bool *inval_first, bool *inval_after)
{
	struct jfs_ucache *c = &u->cache;
	int ts = jfs_told_slot(sub);
	size_t told, plen = 0;
	char *pbuf;

	if (ts < 0 || c->told[ts] < JFS_SIZE_BIAS)
		return;
	told = c->told[ts] - JFS_SIZE_BIAS;
	if (told == *len)
		return;
	if (c->prev_item && (pbuf = jfs_node_render(fs, c->prev_item, sub, &plen))) {
		if (plen == told) {
			free(*buf);
			*buf = pbuf;
			*len = plen;
			jfs_rcache_served(u, c->prev_item);
			*inval_after = true;
			return;
		}
		free(pbuf);
	}
	if (*len > told)
		*inval_first = true;
}

void jfs_rcache_user_release(struct jfs *fs, struct jfs_user *u)
{
	item_drop(fs, u);
	json_decref(u->cache.served);
	u->cache.served = NULL;
}
