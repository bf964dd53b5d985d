/*
 * The intrusive hash table: FNV-1a vectors, add/lookup/remove through
 * growth, colliding hashes, two maps over one element, walks that remove.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hmap.h"

#include "check.h"

struct item {
	struct jfs_hnode by_key, by_val;
	char key[32];
	int val;
	bool seen;
};

static struct item *item_of(struct jfs_hnode *node)
{
	return jfs_container_of(node, struct item, by_key);
}

static struct item *find(struct jfs_hmap *m, const char *key, uint64_t hash)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(m, node,
			       hash) if (!strcmp(item_of(node)->key, key)) return item_of(node);
	return NULL;
}

static uint64_t key_hash(const char *key)
{
	return jfs_hash_bytes(key, strlen(key));
}

static size_t count(const struct jfs_hmap *m)
{
	struct jfs_hnode *node;
	size_t n = 0;

	jfs_hmap_for_each(m, node) n++;
	return n;
}

static void test_hash(void)
{
	/* the published FNV-1a 64 test vectors */
	CHECK(jfs_hash_bytes("", 0) == 0xcbf29ce484222325ULL, "empty");
	CHECK(jfs_hash_bytes("a", 1) == 0xaf63dc4c8601ec8cULL, "'a'");
	CHECK(jfs_hash_bytes("foobar", 6) == 0x85944171f73967e8ULL, "'foobar'");
	CHECK(jfs_hash_bytes("\xff", 1) != jfs_hash_bytes("\x7f", 1), "bytes are unsigned");
}

static void test_empty(void)
{
	struct jfs_hmap m, z;
	struct jfs_hnode *node;

	jfs_hmap_init(&m, 0);
	CHECK(!jfs_hmap_first_hash(&m, 42), "lookup in an unallocated map");
	CHECK(!jfs_hmap_first(&m), "walk of an unallocated map");
	CHECK(m.n == 0 && m.nbuckets == 0, "init allocates nothing");
	jfs_hmap_release(&m);

	memset(&z, 0, sizeof(z));
	CHECK(!jfs_hmap_first_hash(&z, 7), "an all-zero map is empty");
	jfs_hmap_for_each(&z, node) CHECK(0, "walked a node of an empty map");
	jfs_hmap_release(&z);

	jfs_hmap_init(&m, 1000);
	CHECK(m.min_buckets == 1024, "rounded to a power of two: %zu", m.min_buckets);
}

static void test_grow(void)
{
	enum { N = 5000 };
	struct item *items = calloc(N, sizeof(*items));
	struct jfs_hmap m;
	struct jfs_hnode *node, *next;
	size_t i, bad = 0, removed = 0;

	if (!items)
		abort();
	jfs_hmap_init(&m, 16);
	for (i = 0; i < N; i++) {
		snprintf(items[i].key, sizeof(items[i].key), "key-%zu", i);
		items[i].val = (int)i;
		jfs_hmap_add(&m, &items[i].by_key, key_hash(items[i].key));
		if (i == 0)
			CHECK(m.nbuckets == 16, "first allocation: %zu", m.nbuckets);
		if (m.n > m.nbuckets)
			bad++;
	}
	CHECK(!bad, "load factor above 1 %zu times", bad);
	CHECK(m.n == N, "count %zu", m.n);
	CHECK(m.nbuckets == 8192, "buckets %zu", m.nbuckets);
	CHECK(count(&m) == N, "walk count %zu", count(&m));

	for (i = 0, bad = 0; i < N; i++)
		if (find(&m, items[i].key, key_hash(items[i].key)) != &items[i])
			bad++;
	CHECK(!bad, "%zu keys not found", bad);
	CHECK(!find(&m, "key-5000", key_hash("key-5000")), "absent key");

	/* every node once in a walk */
	jfs_hmap_for_each(&m, node) item_of(node)->seen = true;
	for (i = 0, bad = 0; i < N; i++)
		if (!items[i].seen)
			bad++;
	CHECK(!bad, "%zu nodes missed by the walk", bad);

	/* remove the odd ones during a walk */
	jfs_hmap_for_each_safe(&m, node, next)
	{
		if (item_of(node)->val % 2) {
			jfs_hmap_remove(&m, node);
			removed++;
		}
	}
	CHECK(removed == N / 2, "removed %zu", removed);
	CHECK(m.n == N - removed && count(&m) == m.n, "count after removes %zu", m.n);
	for (i = 0, bad = 0; i < N; i++)
		if ((find(&m, items[i].key, key_hash(items[i].key)) != NULL) != !(i % 2))
			bad++;
	CHECK(!bad, "%zu wrong after removes", bad);

	/* and the rest, one by one from the front */
	while ((node = jfs_hmap_first(&m)))
		jfs_hmap_remove(&m, node);
	CHECK(m.n == 0 && !jfs_hmap_first(&m), "emptied");
	jfs_hmap_release(&m);
	CHECK(!m.buckets && m.min_buckets == 16, "release keeps the first size");
	free(items);
}

static void test_collisions(void)
{
	struct item it[6];
	struct jfs_hmap m;
	struct jfs_hnode *node;
	int n, i;

	memset(it, 0, sizeof(it));
	jfs_hmap_init(&m, 4);
	/* 0..2 share a hash; 3..5 share a bucket (of 4 and of 8) but not the hash */
	for (i = 0; i < 6; i++) {
		uint64_t h = i < 3 ? 0x1234 : 0x1234 + 0x100 * (uint64_t)i;

		snprintf(it[i].key, sizeof(it[i].key), "c%d", i);
		jfs_hmap_add(&m, &it[i].by_key, h);
	}
	n = 0;
	jfs_hmap_for_each_hash(&m, node, 0x1234)
	{
		CHECK(node->hash == 0x1234, "candidate of another hash");
		n++;
	}
	CHECK(n == 3, "candidates %d", n);
	CHECK(find(&m, "c1", 0x1234) == &it[1], "key among colliding");
	CHECK(!find(&m, "c3", 0x1234), "same bucket, other hash");
	CHECK(find(&m, "c4", 0x1234 + 0x400) == &it[4], "other hash in the bucket");

	jfs_hmap_remove(&m, &it[1].by_key);
	n = 0;
	jfs_hmap_for_each_hash(&m, node, 0x1234) n++;
	CHECK(n == 2 && !find(&m, "c1", 0x1234), "colliding removed, %d left", n);
	jfs_hmap_remove(&m, &it[0].by_key);
	jfs_hmap_remove(&m, &it[2].by_key);
	CHECK(!jfs_hmap_first_hash(&m, 0x1234), "all colliding removed");
	CHECK(m.n == 3 && count(&m) == 3, "others stay");
	jfs_hmap_release(&m);
}

/* One element in two maps, the way users are by id and by name. */
static void test_two_maps(void)
{
	struct item it[100];
	struct jfs_hmap by_key, by_val;
	struct jfs_hnode *node;
	int i, bad = 0;

	memset(it, 0, sizeof(it));
	jfs_hmap_init(&by_key, 0);
	jfs_hmap_init(&by_val, 0);
	for (i = 0; i < 100; i++) {
		snprintf(it[i].key, sizeof(it[i].key), "k%d", i);
		it[i].val = 1000 + i;
		jfs_hmap_add(&by_key, &it[i].by_key, key_hash(it[i].key));
		jfs_hmap_add(&by_val, &it[i].by_val, jfs_hash_bytes(&it[i].val, sizeof(int)));
	}
	CHECK(by_key.nbuckets == 128 && by_val.nbuckets == 128, "default then doubled");
	for (i = 0; i < 100; i++) {
		int v = 1000 + i;
		struct item *found = NULL;

		jfs_hmap_for_each_hash(&by_val, node, jfs_hash_bytes(&v, sizeof(v)))
		{
			struct item *c = jfs_container_of(node, struct item, by_val);

			if (c->val == v)
				found = c;
		}
		if (found != &it[i] || find(&by_key, it[i].key, key_hash(it[i].key)) != found)
			bad++;
	}
	CHECK(!bad, "%d not found in both maps", bad);
	jfs_hmap_release(&by_key);
	jfs_hmap_release(&by_val);
}

int main(void)
{
	test_hash();
	test_empty();
	test_grow();
	test_collisions();
	test_two_maps();

	return check_report();
}
