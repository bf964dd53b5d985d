/*
 * An intrusive chained hash table (the kernel's hlist and git's hashmap,
 * in small). The element embeds a struct jfs_hnode and owns its key; the
 * map only links nodes and keeps their hashes, so a lookup yields the
 * nodes with a given hash and the caller compares its own key:
 *
 *	struct item { struct jfs_hnode node; char *key; };
 *
 *	uint64_t h = jfs_hash_bytes(key, strlen(key));
 *	struct jfs_hnode *n;
 *
 *	jfs_hmap_for_each_hash(map, n, h) {
 *		struct item *it = jfs_container_of(n, struct item, node);
 *
 *		if (!strcmp(it->key, key))
 *			return it;
 *	}
 *
 * No locking: the caller serialises all access. Never allocates except
 * in jfs_hmap_add(), which aborts on out-of-memory.
 */
#ifndef JFS_HMAP_H
#define JFS_HMAP_H

#include <stddef.h>
#include <stdint.h>

/** The element, from a pointer to its @member. */
#define jfs_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/** Embedded in each element; set by jfs_hmap_add(), read-only to the caller. */
struct jfs_hnode {
	struct jfs_hnode *next; /**< in the same bucket */
	uint64_t hash;
};

struct jfs_hmap {
	struct jfs_hnode **buckets; /**< NULL until the first add */
	size_t nbuckets;            /**< a power of two, or 0 */
	size_t n;                   /**< elements in the map */
	size_t min_buckets;         /**< buckets of the first allocation */
};

/** 64-bit FNV-1a of @len bytes at @data. Not for persistent names: may change. */
uint64_t jfs_hash_bytes(const void *data, size_t len);

/**
 * Set up an empty map whose first allocation has @min_buckets buckets
 * (rounded up to a power of two; 0: 64). An all-zero struct is an empty
 * map with the default. Allocates nothing.
 */
void jfs_hmap_init(struct jfs_hmap *m, size_t min_buckets);

/**
 * Free the bucket array; the elements are the caller's and are not
 * touched (remove or free them first). @m is empty and can be used again.
 */
void jfs_hmap_release(struct jfs_hmap *m);

/**
 * Link @node, with @hash, into @m. The map doubles its buckets before the
 * add would take it past one element per bucket. Duplicate keys are not
 * checked for. Aborts on out-of-memory.
 */
void jfs_hmap_add(struct jfs_hmap *m, struct jfs_hnode *node, uint64_t hash);

/** Unlink @node, which must be in @m. Does not free it. */
void jfs_hmap_remove(struct jfs_hmap *m, struct jfs_hnode *node);

/** The first node in @m with @hash, or NULL. Borrowed. */
struct jfs_hnode *jfs_hmap_first_hash(const struct jfs_hmap *m, uint64_t hash);

/** The node after @node with the same hash, or NULL. Borrowed. */
struct jfs_hnode *jfs_hmap_next_hash(const struct jfs_hnode *node);

/**
 * Every node of @m, bucket by bucket, or NULL when empty/at the end.
 * Borrowed. The order is stable while the map is not added to. Removing
 * the current node is allowed if the caller took its successor first
 * (jfs_hmap_for_each_safe()); adding during a walk is not.
 */
struct jfs_hnode *jfs_hmap_first(const struct jfs_hmap *m);
struct jfs_hnode *jfs_hmap_next(const struct jfs_hmap *m, const struct jfs_hnode *node);

/** Walk the nodes of @m with hash @h (candidates: compare the key). */
#define jfs_hmap_for_each_hash(m, pos, h)                                                          \
	for ((pos) = jfs_hmap_first_hash((m), (h)); (pos); (pos) = jfs_hmap_next_hash(pos))

/** Walk all nodes of @m. */
#define jfs_hmap_for_each(m, pos)                                                                  \
	for ((pos) = jfs_hmap_first(m); (pos); (pos) = jfs_hmap_next((m), (pos)))

/** Walk all nodes of @m; @pos may be removed (and freed) in the body. */
#define jfs_hmap_for_each_safe(m, pos, tmp)                                                        \
	for ((pos) = jfs_hmap_first(m); (pos) && ((tmp) = jfs_hmap_next((m), (pos)), 1);           \
	     (pos) = (tmp))

#endif
