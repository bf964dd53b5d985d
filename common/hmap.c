#include "hmap.h"

#include <stdlib.h>

#define HMAP_DEFAULT_BUCKETS 64

uint64_t jfs_hash_bytes(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void jfs_hmap_init(struct jfs_hmap *m, size_t min_buckets)
{
	size_t nb = HMAP_DEFAULT_BUCKETS;

	if (min_buckets) {
		for (nb = 1; nb < min_buckets; nb *= 2)
			;
	}
	m->buckets = NULL;
	m->nbuckets = 0;
	m->n = 0;
	m->min_buckets = nb;
}

void jfs_hmap_release(struct jfs_hmap *m)
{
	size_t min = m->min_buckets;

	free(m->buckets);
	jfs_hmap_init(m, min);
}

static size_t bucket_of(const struct jfs_hmap *m, uint64_t hash)
{
	return (size_t)(hash & (m->nbuckets - 1));
}

/*
 * Relink bucket by bucket, each chain front to back, pushing onto the new
 * chains: the tables this replaced did the same, so walks keep their order.
 */
static void hmap_grow(struct jfs_hmap *m)
{
	size_t nb, i;
	struct jfs_hnode **b;

	if (m->nbuckets)
		nb = m->nbuckets * 2;
	else
		nb = m->min_buckets ? m->min_buckets : HMAP_DEFAULT_BUCKETS;
	b = calloc(nb, sizeof(*b));
	if (!b)
		abort();
	for (i = 0; i < m->nbuckets; i++) {
		struct jfs_hnode *node = m->buckets[i], *next;

		for (; node; node = next) {
			next = node->next;
			node->next = b[node->hash & (nb - 1)];
			b[node->hash & (nb - 1)] = node;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
}

void jfs_hmap_add(struct jfs_hmap *m, struct jfs_hnode *node, uint64_t hash)
{
	size_t i;

	if (m->n + 1 > m->nbuckets)
		hmap_grow(m);
	node->hash = hash;
	i = bucket_of(m, hash);
	node->next = m->buckets[i];
	m->buckets[i] = node;
	m->n++;
}

void jfs_hmap_remove(struct jfs_hmap *m, struct jfs_hnode *node)
{
	struct jfs_hnode **pp = &m->buckets[bucket_of(m, node->hash)];

	while (*pp != node)
		pp = &(*pp)->next;
	*pp = node->next;
	node->next = NULL;
	m->n--;
}

struct jfs_hnode *jfs_hmap_first_hash(const struct jfs_hmap *m, uint64_t hash)
{
	struct jfs_hnode *node;

	if (!m->n)
		return NULL;
	for (node = m->buckets[bucket_of(m, hash)]; node; node = node->next)
		if (node->hash == hash)
			return node;
	return NULL;
}

struct jfs_hnode *jfs_hmap_next_hash(const struct jfs_hnode *node)
{
	uint64_t hash = node->hash;

	for (node = node->next; node; node = node->next)
		if (node->hash == hash)
			return (struct jfs_hnode *)node;
	return NULL;
}

static struct jfs_hnode *first_from(const struct jfs_hmap *m, size_t i)
{
	for (; i < m->nbuckets; i++)
		if (m->buckets[i])
			return m->buckets[i];
	return NULL;
}

struct jfs_hnode *jfs_hmap_first(const struct jfs_hmap *m)
{
	return m->n ? first_from(m, 0) : NULL;
}

struct jfs_hnode *jfs_hmap_next(const struct jfs_hmap *m, const struct jfs_hnode *node)
{
	if (node->next)
		return node->next;
	return first_from(m, bucket_of(m, node->hash) + 1);
}
