/*
 * fs/ without FUSE: inode numbers and node kinds, names in user
 * directories, the record cache (loads, LRU eviction, the generation guard
 * against a load that races a write, what the mount's own changes reset),
 * the listing's diffs, and the backend -o options as the command line
 * gives them. The store below is the memstore (memstore.h), wrapped where
 * a test needs to act in the middle of a load.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "config.h"
#include "fs/fs-internal.h"
#include "fs/idcodec.h"

#include "check.h"
#include "memstore.h"
#include "testjson.h"

/* ---- inode numbers, kinds, names ---- */

static void test_ino(void)
{
	static const struct {
		fuse_ino_t ino;
		enum jfs_node_kind kind;
	} fixed[] = {
		{ JFS_INO_ROOT, JFS_NODE_ROOT },
		{ JFS_INO_STATUS, JFS_NODE_STATUS_DIR },
		{ JFS_INO_S_CONFIG, JFS_NODE_STATUS_FILE },
		{ JFS_INO_S_METRICS, JFS_NODE_STATUS_FILE },
		{ JFS_INO_S_ERRORS, JFS_NODE_STATUS_FILE },
		{ JFS_INO_S_CONFL, JFS_NODE_CONFLICT_DIR },
		{ JFS_INO_S_FIND, JFS_NODE_FIND_DIR },
		{ 0, JFS_NODE_NONE },
		{ JFS_INO_S_JOURNAL, JFS_NODE_STATUS_FILE },
		{ JFS_INO_S_UNDO, JFS_NODE_STATUS_FILE },
		{ JFS_INO_S_UNDO + 1, JFS_NODE_NONE },
		{ JFS_SUB_COUNT - 1, JFS_NODE_NONE },
		{ JFS_INO_SCRATCH_BIT | 5, JFS_NODE_SCRATCH },
		{ JFS_INO_CONFLICT_BIT | 5, JFS_NODE_CONFLICT },
		{ JFS_INO_FIND_BIT | 5, JFS_NODE_FIND },
	};
	uint64_t slots[] = { 0, 1, 4095, 1000000, (1ULL << 40) };
	size_t i, k;
	unsigned sub;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		CHECK(jfs_node_kind(fixed[i].ino) == fixed[i].kind, "ino %#llx: kind %d",
		      (unsigned long long)fixed[i].ino, jfs_node_kind(fixed[i].ino));
	for (k = 0; k < sizeof(slots) / sizeof(slots[0]); k++) {
		for (sub = 0; sub < JFS_SUB_COUNT; sub++) {
			fuse_ino_t ino = jfs_ino_make(slots[k], sub);
			enum jfs_node_kind want;

			if (jfs_ino_slot(ino) != slots[k] || jfs_ino_sub(ino) != sub) {
				CHECK(0, "slot %llu sub %u does not round-trip",
				      (unsigned long long)slots[k], sub);
				break;
			}
			switch (sub) {
			case JFS_SUB_DIR:
				want = JFS_NODE_USER_DIR;
				break;
			case JFS_SUB_HISTDIR:
				want = JFS_NODE_HISTORY_DIR;
				break;
			case JFS_SUB_RECORD:
				want = JFS_NODE_RECORD;
				break;
			case JFS_SUB_LINK:
				want = JFS_NODE_FIND_LINK;
				break;
			case JFS_SUB_USER:
			case JFS_SUB_SESSION:
			case JFS_SUB_CREATED:
			case JFS_SUB_UPDATED:
				want = JFS_NODE_ELEMENT;
				break;
			default:
				want = sub >= JFS_SUB_HIST0 ? JFS_NODE_ELEMENT : JFS_NODE_NONE;
			}
			if (jfs_node_kind(ino) != want) {
				CHECK(0, "slot %llu sub %u: kind %d, want %d",
				      (unsigned long long)slots[k], sub, jfs_node_kind(ino), want);
				break;
			}
		}
		CHECK(!(jfs_ino_make(slots[k], JFS_SUB_COUNT - 1) &
			(JFS_INO_SCRATCH_BIT | JFS_INO_CONFLICT_BIT | JFS_INO_FIND_BIT)),
		      "user inodes stay clear of the scratch, conflict and find ranges");
	}
	CHECK(jfs_sub_elem(JFS_SUB_USER) == JFS_EL_USER && jfs_sub_elem(JFS_SUB_SESSION) ==
	      JFS_EL_SESSION && jfs_sub_elem(JFS_SUB_CREATED) == JFS_EL_CREATED_AT &&
	      jfs_sub_elem(JFS_SUB_UPDATED) == JFS_EL_UPDATED_AT &&
	      jfs_sub_elem(JFS_SUB_HIST0 + 7) == JFS_EL_HISTORY);
	CHECK(jfs_sub_hist_index(JFS_SUB_HIST0 + 7) == 7 && jfs_sub_hist_index(JFS_SUB_USER) == 0);
	CHECK(jfs_err_slot(JFS_SUB_HIST0) == JFS_ERR_HISTORY &&
	      jfs_err_slot(JFS_SUB_HIST0 + 100) == JFS_ERR_HISTORY &&
	      jfs_err_slot(JFS_SUB_USER) == JFS_SUB_USER && jfs_err_slot(JFS_SUB_DIR) == JFS_SUB_DIR);
	/* sizes: every element and the first history items, never the session's */
	CHECK(jfs_size_slot(JFS_SUB_SESSION) < 0 && jfs_told_slot(JFS_SUB_SESSION) >= 0);
	CHECK(jfs_size_slot(JFS_SUB_DIR) < 0 && jfs_size_slot(JFS_SUB_HISTDIR) < 0);
	CHECK(jfs_size_slot(JFS_SUB_HIST0 + JFS_SIZE_HIST - 1) == JFS_SIZE_SLOTS - 1 &&
	      jfs_size_slot(JFS_SUB_HIST0 + JFS_SIZE_HIST) < 0);
	for (sub = JFS_SUB_USER; sub <= JFS_SUB_RECORD; sub++)
		if (sub != JFS_SUB_SESSION && sub != JFS_SUB_HISTDIR)
			CHECK(jfs_size_slot(sub) >= 0 && jfs_size_slot(sub) < JFS_SIZE_SLOTS,
			      "size slot of sub %u", sub);
}

static void test_names(void)
{
	static const struct {
		unsigned dir;
		const char *name;
		enum jfs_name_kind kind;
		unsigned sub;
	} cases[] = {
		{ JFS_SUB_DIR, "user.json", JFS_NAME_ELEMENT, JFS_SUB_USER },
		{ JFS_SUB_DIR, "session.json", JFS_NAME_ELEMENT, JFS_SUB_SESSION },
		{ JFS_SUB_DIR, "createdAt", JFS_NAME_ELEMENT, JFS_SUB_CREATED },
		{ JFS_SUB_DIR, "updatedAt", JFS_NAME_ELEMENT, JFS_SUB_UPDATED },
		{ JFS_SUB_DIR, "record.json", JFS_NAME_RECORD, JFS_SUB_RECORD },
		{ JFS_SUB_DIR, "history", JFS_NAME_HISTORY_DIR, JFS_SUB_HISTDIR },
		{ JFS_SUB_DIR, "user.json~", JFS_NAME_SCRATCH, 0 },
		{ JFS_SUB_DIR, ".user.json.swp", JFS_NAME_SCRATCH, 0 },
		{ JFS_SUB_DIR, "4913", JFS_NAME_SCRATCH, 0 },
		{ JFS_SUB_DIR, "0.json", JFS_NAME_SCRATCH, 0 },
		{ JFS_SUB_HISTDIR, "0.json", JFS_NAME_ELEMENT, JFS_SUB_HIST0 },
		{ JFS_SUB_HISTDIR, "12.json", JFS_NAME_ELEMENT, JFS_SUB_HIST0 + 12 },
		{ JFS_SUB_HISTDIR, "4079.json", JFS_NAME_ELEMENT, JFS_SUB_HIST0 + 4079 },
		{ JFS_SUB_HISTDIR, "4080.json", JFS_NAME_SCRATCH, 0 },
		{ JFS_SUB_HISTDIR, "00.json", JFS_NAME_SCRATCH, 0 },
		{ JFS_SUB_HISTDIR, "01.json", JFS_NAME_SCRATCH, 0 },
		{ JFS_SUB_HISTDIR, "-1.json", JFS_NAME_SCRATCH, 0 },
		{ JFS_SUB_HISTDIR, "+1.json", JFS_NAME_SCRATCH, 0 },
		{ JFS_SUB_HISTDIR, "1.json~", JFS_NAME_SCRATCH, 0 },
		{ JFS_SUB_HISTDIR, "1.jsonx", JFS_NAME_SCRATCH, 0 },
		{ JFS_SUB_HISTDIR, "1", JFS_NAME_SCRATCH, 0 },
		{ JFS_SUB_HISTDIR, "99999999999999999999.json", JFS_NAME_SCRATCH, 0 },
		{ JFS_SUB_HISTDIR, "user.json", JFS_NAME_SCRATCH, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned sub = 12345;
		enum jfs_name_kind k = jfs_name_kind(cases[i].dir, cases[i].name, &sub);

		CHECK(k == cases[i].kind && (k == JFS_NAME_SCRATCH || sub == cases[i].sub),
		      "'%s' in %s: kind %d sub %u", cases[i].name,
		      cases[i].dir == JFS_SUB_DIR ? "a user directory" : "history/", k, sub);
		if (k == JFS_NAME_ELEMENT || k == JFS_NAME_RECORD)
			CHECK(cases[i].dir == JFS_SUB_HISTDIR ||
			      !strcmp(jfs_sub_name(sub), cases[i].name), "the name of sub %u", sub);
	}
}

static void test_idcodec(void)
{
	static const struct {
		const char *s;
		bool ok;
	} utf8[] = {
		{ "plain", true }, { "caf\xc3\xa9", true }, { "\xf0\x9f\x98\x80", true },
		{ "\xff", false }, { "\xc0\xaf", false }, { "\xe0\x80\xaf", false },
		{ "\xed\xa0\x80", false }, { "\xf4\x90\x80\x80", false }, { "\xc3", false },
	};
	char *name, *id;
	size_t i, len;

	for (i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++)
		CHECK(jfs_utf8_valid(utf8[i].s, strlen(utf8[i].s)) == utf8[i].ok, "utf8 %zu", i);
	CHECK(!jfs_name_to_id("a%00b", &len), "a decoded NUL names no id");
	CHECK(!jfs_name_to_id("bad\xff", &len), "bytes that are not UTF-8 name no id");
	id = jfs_name_to_id("a%2Fb", &len);
	CHECK(id && len == 3 && !memcmp(id, "a/b", 3));
	free(id);
	name = jfs_id_to_unique_name("x", 1, 2);
	/* x, %~, the whole SHA-256 of "x", ~2 */
	CHECK_STR(name, "x%~2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881~2");
	free(name);
}

/* ---- a mount's state over a memstore, with a hook in its loads ---- */

struct hooked {
	struct jfs_store base;
	struct jfs_store *inner;
	void (*before_load)(struct hooked *h, const char *id);
	struct jfs *fs;
	unsigned loads;
};

static int hooked_list(struct jfs_store *st, const char *cursor, size_t limit,
		       struct jfs_list_page *page, struct jfs_err *err)
{
	struct hooked *h = (struct hooked *)st;

	return h->inner->ops->list(h->inner, cursor, limit, page, err);
}

static int hooked_load(struct jfs_store *st, const char *id, json_t **item, struct jfs_err *err)
{
	struct hooked *h = (struct hooked *)st;

	h->loads++;
	if (h->before_load)
		h->before_load(h, id);
	return h->inner->ops->load(h->inner, id, item, err);
}

static int hooked_sync(struct jfs_store *st, const char *id, struct jfs_err *err)
{
	return 0;
}

static const struct jfs_backend_ops hooked_ops = {
	.name = "hooked-memstore",
	.list = hooked_list,
	.load = hooked_load,
	.sync = hooked_sync,
};

struct rig {
	struct jfs fs;
	struct hooked store;
	struct jfs_memstore *ms;
};

static json_t *item_of(const char *id, int n, const char *updated)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "{\"id\":\"%s\",\"user\":{\"data\":{\"n\":%d,\"pad\":\"%0200d\"}},"
		 "\"createdAt\":\"2025-01-01T00:00:00.000Z\",\"updatedAt\":\"%s\"}",
		 id, n, 0, updated);
	return jfs_test_json(text);
}

static void rig_init(struct rig *r, size_t cache_size)
{
	struct jfs_err err;

	memset(r, 0, sizeof(*r));
	r->ms = jfs_memstore_new();
	r->store.base.ops = &hooked_ops;
	r->store.inner = &r->ms->base;
	r->store.fs = &r->fs;
	CHECK(jfs_policy_config_parse(NULL, &r->fs.policy.cfg, &err) == 0, "%s", err.msg);
	r->fs.policy.store = &r->store.base;
	r->fs.opts.cache_size = cache_size;
	r->fs.opts.cache_timeout = 3600;
	r->fs.opts.max_file_size = 1 << 20;
	r->fs.opts.scratch_max = 1 << 20;
	r->fs.opts.snapshot_max = 1 << 20;
	jfs_fs_init(&r->fs);
	r->fs.status = jfs_status_new();
}

static void rig_release(struct rig *r)
{
	jfs_fs_release(&r->fs);
	jfs_status_free(r->fs.status);
	jfs_policy_config_release(&r->fs.policy.cfg);
	jfs_backend_memstore.close(&r->ms->base);
}

static struct jfs_user *rig_user(struct rig *r, const char *id)
{
	struct jfs_user *u;

	pthread_mutex_lock(&r->fs.lock);
	u = jfs_user_get(&r->fs, id, strlen(id));
	pthread_mutex_unlock(&r->fs.lock);
	return u;
}

/* The n of @u's item through the cache, -1 on an error. */
static int cached_n(struct rig *r, struct jfs_user *u)
{
	json_t *item = NULL;
	int n = -1;

	pthread_mutex_lock(&r->fs.lock);
	if (jfs_rcache_get(&r->fs, u, &item) == 0)
		n = (int)jfs_json_number_value(json_object_get(
			json_object_get(json_object_get(item, "user"), "data"), "n"));
	pthread_mutex_unlock(&r->fs.lock);
	json_decref(item);
	return n;
}

static void test_rcache_lru(void)
{
	struct jfs_user *u[20];
	struct rig r;
	char id[16];
	size_t i, loaded = 0;

	/* each item costs some 1.5 KB in the estimate: room for a handful */
	rig_init(&r, 8000);
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "u%zu", i);
		jfs_memstore_put_new(r.ms, id, item_of(id, (int)i, "2026-01-01T00:00:00.000Z"));
		u[i] = rig_user(&r, id);
	}
	for (i = 0; i < 20; i++)
		CHECK(cached_n(&r, u[i]) == (int)i, "load u%zu", i);
	CHECK(r.store.loads == 20 && r.fs.rcache.misses == 20, "%u loads", r.store.loads);
	CHECK(r.fs.rcache.bytes <= r.fs.opts.cache_size, "cache %zu bytes over %zu",
	      r.fs.rcache.bytes, r.fs.opts.cache_size);
	for (i = 0; i < 20; i++)
		loaded += u[i]->cache.item != NULL;
	CHECK(loaded >= 2 && loaded < 20 && r.fs.rcache.evictions == 20 - loaded,
	      "%zu cached, %llu evictions", loaded, (unsigned long long)r.fs.rcache.evictions);
	/* the most recent ones stay, the oldest went first */
	CHECK(u[19]->cache.item && u[18]->cache.item && !u[0]->cache.item, "LRU order");
	/* a hit makes u18 the most recent: loading two more evicts u19 before it */
	CHECK(cached_n(&r, u[18]) == 18 && r.store.loads == 20, "a hit loads nothing");
	CHECK(cached_n(&r, u[0]) == 0 && cached_n(&r, u[1]) == 1, "reload");
	if (loaded == 2)
		CHECK(u[18]->cache.item == NULL || u[19]->cache.item == NULL, "two left");
	CHECK(!u[19]->cache.item || u[18]->cache.item, "u19 evicted before u18");
	rig_release(&r);
}

/* Another writer stores while the cache's load waits for the store. */
static json_t *newer;

static void store_meanwhile(struct hooked *h, const char *id)
{
	struct jfs *fs = h->fs;
	struct jfs_user *u;
	json_t *old = NULL;

	if (!newer)
		return;
	/* the lock is not held during a load: a write may land now */
	pthread_mutex_lock(&fs->lock);
	u = jfs_user_by_id(fs, id, strlen(id));
	jfs_rcache_store(fs, u, newer, &old);
	newer = NULL;
	pthread_mutex_unlock(&fs->lock);
	json_decref(old);
}

static void test_rcache_generation(void)
{
	struct jfs_user *u, *v;
	json_t *old = NULL;
	struct rig r;
	uint64_t gen;

	rig_init(&r, 1 << 20);
	jfs_memstore_put_new(r.ms, "a", item_of("a", 1, "2026-01-01T00:00:00.000Z"));
	u = rig_user(&r, "a");
	r.store.before_load = store_meanwhile;
	newer = item_of("a", 2, "2026-02-02T00:00:00.000Z");
	/* the load brings n 1, but the write of n 2 landed meanwhile: it wins */
	CHECK(cached_n(&r, u) == 2, "an older load replaced a newer write");
	CHECK(cached_n(&r, u) == 2 && r.store.loads == 1, "cached after");
	CHECK(u->updated_ms == jfs_item_updated_ms(u->cache.item) && u->exists,
	      "the listing's view follows the item");

	/* what was served stays the writers' base until the mount itself changes it */
	pthread_mutex_lock(&r.fs.lock);
	jfs_rcache_served(u, u->cache.item);
	CHECK(jfs_rcache_base(u, NULL) == u->cache.item);
	gen = u->cache.gen;
	jfs_rcache_store(&r.fs, u, item_of("a", 3, "2026-03-03T00:00:00.000Z"), &old);
	CHECK(u->cache.served == NULL && u->cache.gen > gen && old, "a store resets the base");
	json_decref(old);
	jfs_rcache_note_size(u, JFS_SUB_USER, "x", 1);
	jfs_rcache_served(u, u->cache.item);
	/*
	 * Someone else's change: the sizes go, what the reader saw stays its
	 * base, the item stays (stale) to compare the reload with
	 */
	gen = u->cache.gen;
	jfs_rcache_forget(&r.fs, u, &old);
	{
		size_t len;

		CHECK(!jfs_rcache_size(u, JFS_SUB_USER, &len) && u->cache.gen > gen &&
		      u->cache.stale && u->cache.item == old && u->cache.served == old, "forget");
	}
	pthread_mutex_unlock(&r.fs.lock);
	/* the reload finds the store's n 4: a change, the old version kept at hand */
	jfs_memstore_put_new(r.ms, "a", item_of("a", 4, "2026-04-04T00:00:00.000Z"));
	CHECK(cached_n(&r, u) == 4 && !u->cache.stale, "a stale item is reloaded");
	CHECK(u->cache.prev_item == old && jfs_rcache_busy(u),
	      "the version before a change is kept, readers get copies for a while");
	json_decref(old);

	/* a load that finds the user gone */
	jfs_memstore_put_new(r.ms, "b", item_of("b", 1, "2026-01-01T00:00:00.000Z"));
	v = rig_user(&r, "b");
	CHECK(cached_n(&r, v) == 1 && v->exists);
	pthread_mutex_lock(&r.fs.lock);
	jfs_rcache_forget(&r.fs, v, NULL);
	pthread_mutex_unlock(&r.fs.lock);
	json_object_del(r.ms->items, "b");
	CHECK(cached_n(&r, v) == -1 && !v->exists, "gone");
	rig_release(&r);
}

static void test_listing(void)
{
	struct jfs_user *b;
	struct rig r;
	uint64_t gen;
	size_t i;
	char id[16];

	rig_init(&r, 1 << 20);
	for (i = 0; i < 2500; i++) {
		snprintf(id, sizeof(id), "u%04zu", i);
		jfs_memstore_put_new(r.ms, id, item_of(id, (int)i, "2026-01-01T00:00:00.000Z"));
	}
	/* more than one page (1000) */
	CHECK(jfs_users_refresh(&r.fs) == 0 && r.fs.users.nlisting == 2500, "%zu listed",
	      r.fs.users.nlisting);
	gen = r.fs.users.list_gen;
	CHECK(jfs_users_refresh(&r.fs) == 0 && r.fs.users.list_gen == gen,
	      "the same listing is no change");
	json_object_del(r.ms->items, "u0007");
	jfs_memstore_put_new(r.ms, "new", item_of("new", 1, "2026-04-04T00:00:00.000Z"));
	CHECK(jfs_users_refresh(&r.fs) == 0 && r.fs.users.nlisting == 2500 &&
	      r.fs.users.list_gen > gen, "one gone, one new");
	pthread_mutex_lock(&r.fs.lock);
	b = jfs_user_by_id(&r.fs, "u0007", 5);
	CHECK(b && !b->exists, "gone users are marked, never freed");
	b = jfs_user_by_name(&r.fs, "new");
	CHECK(b && b->exists && b->updated_ms == jfs_item_updated_ms(jfs_memstore_get(r.ms, "new")),
	      "times come with the listing");
	CHECK(jfs_user_by_ino(&r.fs, jfs_user_ino(b, JFS_SUB_USER)) == b &&
	      !jfs_user_by_ino(&r.fs, JFS_INO_S_CONFIG), "inode to user");
	for (i = 1; i < r.fs.users.nlisting; i++) {
		char *a = jfs_users_slot_name(&r.fs, r.fs.users.listing[i - 1]);
		char *c = jfs_users_slot_name(&r.fs, r.fs.users.listing[i]);
		int cmp = strcmp(a, c);

		free(a);
		free(c);
		if (cmp > 0)
			break;
	}
	CHECK(i == r.fs.users.nlisting, "the store's order");
	pthread_mutex_unlock(&r.fs.lock);
	CHECK(r.store.loads == 0, "a listing loads no record");
	rig_release(&r);
}

/*
 * A listing makes no struct jfs_user; find views over a store without
 * find() (each item loaded), their links, and a write that changes them.
 */
static void test_find_views(void)
{
	struct jfs_user *u;
	struct rig r;
	fuse_ino_t view, link;
	json_t *old = NULL;
	char id[16], *target = NULL;
	int64_t mtime;
	bool exists;
	size_t i, made = 0;

	rig_init(&r, 1 << 20);
	for (i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "u%04zu", i);
		jfs_memstore_put_new(r.ms, id, item_of(id, (int)i, "2026-01-01T00:00:00.000Z"));
	}
	CHECK(jfs_users_refresh(&r.fs) == 0 && r.fs.users.nlisting == 50);
	pthread_mutex_lock(&r.fs.lock);
	for (i = 0; i < r.fs.users.nents; i++)
		made += r.fs.users.ents[i].u != NULL;
	CHECK(made == 0, "a listing made %zu users", made);
	CHECK(jfs_users_peek(&r.fs, r.fs.users.listing[7], &exists, &mtime) && exists &&
	      mtime == 1767225600000LL, "the listing's times without a struct jfs_user");

	CHECK(jfs_find_lookup_view(&r.fs, "a==5", &view) == -EINVAL, "malformed");
	CHECK(jfs_find_lookup_view(&r.fs, "session.data?", &view) == -ENOENT, "disabled");
	CHECK(jfs_find_lookup_view(&r.fs, "user.data.n<5", &view) == 0 &&
	      jfs_node_kind(view) == JFS_NODE_FIND, "a view");
	jfs_find_ref(&r.fs, view); /* the kernel holds it (jfs_node_entry()) */
	CHECK(r.store.loads == 0, "looking a view up asks the store nothing");
	CHECK(jfs_find_lookup_link(&r.fs, view, "u0003", &link) == 0 &&
	      jfs_node_kind(link) == JFS_NODE_FIND_LINK, "a match");
	CHECK(r.store.loads == 50, "a store without find(): %u loads", r.store.loads);
	CHECK(jfs_find_lookup_link(&r.fs, view, "u0007", &link) == -ENOENT, "no match");
	CHECK(jfs_find_lookup_link(&r.fs, view, "u0004", &link) == 0 && r.store.loads == 50,
	      "results are kept");
	CHECK(jfs_find_readlink(&r.fs, link, &target) == 0 && !strcmp(target, "../../../u0004"),
	      "%s", target ? target : "(none)");
	free(target);
	/* a write through the mount: the view asks again */
	u = jfs_user_by_id(&r.fs, "u0004", 5);
	jfs_memstore_put_new(r.ms, "u0004", item_of("u0004", 40, "2026-02-01T00:00:00.000Z"));
	jfs_rcache_store(&r.fs, u, item_of("u0004", 40, "2026-02-01T00:00:00.000Z"), &old);
	json_decref(old);
	CHECK(jfs_find_lookup_link(&r.fs, view, "u0004", &link) == -ENOENT && r.store.loads > 50,
	      "the write is seen");
	jfs_find_forget(&r.fs, view, 1);
	CHECK(jfs_find_lookup_link(&r.fs, view, "u0001", &link) == -ENOENT,
	      "a view the kernel forgot is gone");
	pthread_mutex_unlock(&r.fs.lock);
	rig_release(&r);
}

/* ---- the backends' -o options ---- */

static json_t *parse_args(const char *const *argv, int *rc)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct jfs fs;
	json_t *config = NULL;
	int i;

	memset(&fs, 0, sizeof(fs));
	for (i = 0; argv[i]; i++)
		fuse_opt_add_arg(&args, argv[i]);
	*rc = jfs_options_parse(&fs, &args);
	if (*rc == 0) {
		config = json_incref(fs.config);
		json_object_set_new(config, "picked", json_string(fs.backend_name));
	}
	jfs_options_release(&fs);
	fuse_opt_free_args(&args);
	return config;
}

static void check_args(const char *const *argv, const char *want)
{
	int rc;
	json_t *got = parse_args(argv, &rc);
	char *text = got ? jfs_test_stringify(got) : NULL;

	CHECK(rc == 0 && text && !strcmp(text, want), "%s ...: got %s, want %s", argv[1],
	      text ? text : "(error)", want);
	free(text);
	json_decref(got);
}

static void test_options(void)
{
	static const char *const filedb_o[] = { "jovofs", "-o", "filedb=/srv/db.json", "/mnt",
						NULL };
	static const char *const filedb_src[] = { "jovofs", "filedb:/srv/a.json", "/mnt", NULL };
	static const char *const o_wins[] = { "jovofs", "-o", "filedb=/srv/o.json",
					      "filedb:/srv/src.json", "/mnt", NULL };
	int rc;

	check_args(filedb_o, "{\"backend\":\"filedb\",\"filedb\":{\"pathToFile\":\"/srv/db.json\"},"
			     "\"picked\":\"filedb\"}");
	check_args(filedb_src, "{\"backend\":\"filedb\",\"filedb\":{\"pathToFile\":\"/srv/a.json\"},"
			       "\"picked\":\"filedb\"}");
	check_args(o_wins, "{\"backend\":\"filedb\",\"filedb\":{\"pathToFile\":\"/srv/o.json\"},"
			   "\"picked\":\"filedb\"}");
#ifdef HAVE_DYNAMODB
	{
		static const char *const ddb[] = { "jovofs", "-o",
						   "region=eu-west-1,dynamodb=Users,endpoint=http://127.0.0.1:1",
						   "/mnt", NULL };
		static const char *const ddb_src[] = { "jovofs", "-o", "region=r", "dynamodb:T",
						       "/mnt", NULL };

		check_args(ddb, "{\"dynamodb\":{\"libraryConfig\":{\"dynamoDbClient\":{"
				"\"region\":\"eu-west-1\",\"endpoint\":\"http://127.0.0.1:1\"}},"
				"\"table\":{\"name\":\"Users\"}},\"backend\":\"dynamodb\","
				"\"picked\":\"dynamodb\"}");
		check_args(ddb_src, "{\"dynamodb\":{\"libraryConfig\":{\"dynamoDbClient\":{"
				    "\"region\":\"r\"}},\"table\":{\"name\":\"T\"}},"
				    "\"backend\":\"dynamodb\",\"picked\":\"dynamodb\"}");
	}
#endif
#ifdef HAVE_MONGODB
	{
		static const char *const mongo[] = { "jovofs", "-o", "database=app,collection=u",
						     "mongodb", "/mnt", NULL };
		static const char *const flag_value[] = { "jovofs", "-o", "mongodb=x", "/mnt",
							  NULL };
		json_t *c;

		check_args(mongo, "{\"mongodb\":{\"databaseName\":\"app\",\"collectionName\":\"u\"},"
				  "\"backend\":\"mongodb\",\"picked\":\"mongodb\"}");
		/* a flag given a value is not the backend's: it goes to libfuse, which refuses it */
		c = parse_args(flag_value, &rc);
		CHECK(!c || !json_object_get(c, "mongodb"), "-o mongodb=x taken as the flag");
		json_decref(c);
	}
#endif
}

int main(void)
{
	jfs_log_set_level(getenv("JFS_TEST_VERBOSE") ? LOG_DEBUG : LOG_EMERG);
	test_ino();
	test_names();
	test_idcodec();
	test_rcache_lru();
	test_rcache_generation();
	test_listing();
	test_find_views();
	test_options();
	return check_report();
}
