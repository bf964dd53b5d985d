/*
 * memstore: an in-memory store, the reference implementation of struct
 * jfs_backend_ops (backends/backend.h) for the unit tests. It follows
 * backend.h's contract to the letter and nothing more: it is what
 * test_backend_contract.c holds every real backend against, and the store
 * under test_policy.c's policy layer.
 *
 * Items are kept as given (jansson values, integers beyond 2^53 exact);
 * load hands out deep copies, create and update store deep copies, so no
 * value is ever shared with a caller. Listing is in id order (strcmp) and
 * the cursor is the last id of the page, so a listing survives items being
 * added and removed between pages, as a DynamoDB Scan does.
 *
 * Tests may read and change items, the counters and the hook directly,
 * while no op runs.
 */
#ifndef JFS_TEST_MEMSTORE_H
#define JFS_TEST_MEMSTORE_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "backends/backend.h"

struct jfs_memstore;

/** Called by update before it looks at the item: another writer's turn. */
typedef void jfs_memstore_hook_fn(struct jfs_memstore *ms, const char *id);

struct jfs_memstore {
	struct jfs_store base;
	bool read_only;         /* open()ed read-only: writes fail with EROFS */
	pthread_mutex_t lock;   /* guards everything below while ops run */
	json_t *items;          /* id -> item (its "id" included) */
	unsigned loads, updates, creates, removes; /* calls, whatever they returned */
	/*
	 * Another writer: update calls @hook, with the lock held, at its start
	 * while @hook_runs > 0 (and counts it down). The hook may change
	 * @items; it must not call the ops.
	 */
	jfs_memstore_hook_fn *hook;
	int hook_runs;
	const char *hook_arg;   /* for the hook's own use */
};

/** The ops; "name" is "memstore". open() takes no config (NULL or {}). */
extern const struct jfs_backend_ops jfs_backend_memstore;

/** A new, empty store (the same as open(NULL) and start()); free with its ops->close. */
struct jfs_memstore *jfs_memstore_new(void);

/** Checked downcast: aborts naming @caller when @st is not a memstore. */
struct jfs_memstore *jfs_memstore_from_store(struct jfs_store *st, const char *caller);

/** The stored item @id, borrowed (NULL when there is none). */
json_t *jfs_memstore_get(struct jfs_memstore *ms, const char *id);

/** Store @item as @id, replacing any; takes the reference to @item. */
void jfs_memstore_put_new(struct jfs_memstore *ms, const char *id, json_t *item);

/** Zero the call counters. */
void jfs_memstore_reset_counts(struct jfs_memstore *ms);

#endif
