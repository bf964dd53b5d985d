/*
 * The backend interface: one struct of function pointers per storage
 * (like sqlite3_vfs or fuse_operations) and an opaque store handle.
 *
 * A backend knows items (Jovo DbItems, as jansson objects keyed by user
 * id) and nothing of files, paths or policy. Every item travels as a
 * json_t object holding all top-level keys of the stored item ("id",
 * "user", "session", "history", "createdAt", "updatedAt" and whatever
 * else a plugin stored), with the id under "id" whatever the backend's key
 * column is called.
 *
 * Threads: every op but open/close may be called from many FUSE threads
 * at once; each backend does its own locking. Ops return 0 or -errno and
 * put the reason in the caller's struct jfs_err.
 */
#ifndef JFS_BACKEND_H
#define JFS_BACKEND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct jfs_backend_ops;

/** Base of every store; a backend's own struct embeds it first. */
struct jfs_store {
	const struct jfs_backend_ops *ops;
};

/** Settings every backend gets besides its own config part. */
struct jfs_store_options {
	bool read_only;          /**< never write; open() must not create anything */
	int64_t retry_ms;        /**< how long to retry a faulty backend before EIO */
	int64_t write_delay_ms;  /**< FileDb: how long edits may gather before one save */
	int64_t timeout_ms;      /**< one network request's timeout */
};

/** One user of a listing. */
struct jfs_list_entry {
	char *id;            /**< malloc()ed user id */
	int64_t created_ms;  /**< the item's createdAt in ms, or -1 when unknown */
	int64_t updated_ms;  /**< the item's updatedAt in ms, or -1 when unknown */
};

/** One page of a listing; free with jfs_list_page_release(). */
struct jfs_list_page {
	struct jfs_list_entry *entries;
	size_t n;
	char *next; /**< malloc()ed cursor of the next page, NULL after the last page */
};

/**
 * An element-level change of one item: set some top-level keys, remove
 * others, conditional on one key's stored value.
 */
struct jfs_patch {
	json_t *set;              /**< object of key -> new value (borrowed), may be NULL */
	json_t *unset;            /**< array of key strings to remove (borrowed), may be NULL */
	const char *cond_key;     /**< NULL: unconditional */
	json_t *cond_value;       /**< stored item[cond_key] must equal this; NULL: must be absent */
};

/** What the DB did to items while nobody asked (see ops->changes). */
typedef void jfs_changed_fn(void *data, const char *id);

/**
 * A change the store accepted (its call returned 0) and later lost (see
 * ops->failures): @keys is the array of the item's top-level keys the
 * change touched (borrowed), NULL for the whole item (a removal); @e says
 * why.
 */
typedef void jfs_failed_fn(void *data, const char *id, const json_t *keys,
			   const struct jfs_err *e);

/**
 * One sample of a backend's own metric, for .jovofs/metrics and the
 * Prometheus endpoint (ops->metrics). Strings are borrowed for the call.
 */
struct jfs_metric {
	const char *name;   /**< without the "jovofs_" prefix: "filedb_pending_edits" */
	const char *type;   /**< "counter" or "gauge" */
	const char *help;   /**< one line */
	const char *labels; /**< NULL, or Prometheus labels with braces: {source="imds"} */
	double value;
};

/** Receives the samples of ops->metrics; samples of one name come together. */
typedef void jfs_metric_fn(void *data, const struct jfs_metric *m);

/**
 * A mount option of a backend's (-o NAME=VALUE, or -o NAME for a flag):
 * it sets one value of the backend's config part, in Jovo's shape, so the
 * command line needs no code that knows where a backend keeps what.
 */
struct jfs_backend_option {
	const char *name;     /**< the -o name; NULL ends the table */
	const char *path;     /**< dotted path of the value in the config part; NULL: a flag */
	bool selects;         /**< giving it picks this backend ("SOURCE" NAME:VALUE too) */
	const char *arg;      /**< what VALUE is, for --help ("TABLE"); NULL for a flag */
	const char *help;     /**< one line for --help */
};

struct jfs_backend_ops {
	/** Name used by "backend" in the config and by the registry. */
	const char *name;

	/** The backend's -o options, ended by a NULL name; may be NULL. */
	const struct jfs_backend_option *options;

	/**
	 * Check @conf (this backend's part of the config, in Jovo's shape;
	 * may be NULL) and set up a store, before the daemon forks: no threads,
	 * no sockets. Unknown keys are logged as warnings naming them.
	 * On success *@out is the new store.
	 */
	int (*open)(const json_t *conf, const struct jfs_store_options *opts,
		    struct jfs_store **out, struct jfs_err *err);

	/** After the daemon forked: start threads, connect, create the table. */
	int (*start)(struct jfs_store *st, struct jfs_err *err);

	/**
	 * List ids, paginated: @cursor NULL for the first page, else a
	 * page->next from before; at most @limit entries per page. @page is
	 * filled and owned by the caller (jfs_list_page_release()).
	 */
	int (*list)(struct jfs_store *st, const char *cursor, size_t limit,
		    struct jfs_list_page *page, struct jfs_err *err);

	/**
	 * Load one item. Returns 0 and a new reference in *@item, or -ENOENT
	 * when there is no such user.
	 */
	int (*load)(struct jfs_store *st, const char *id, json_t **item, struct jfs_err *err);

	/**
	 * Apply @patch to the stored item @id, only if its condition holds.
	 * Returns 0, -ENOENT (no such item), -ECANCELED (the condition failed:
	 * the caller reloads and decides), or another -errno. Other keys of the
	 * stored item are left exactly as they are.
	 */
	int (*update)(struct jfs_store *st, const char *id, const struct jfs_patch *patch,
		      struct jfs_err *err);

	/** Store the new item @item (borrowed; holds "id"); -EEXIST when it exists. */
	int (*create)(struct jfs_store *st, const char *id, json_t *item, struct jfs_err *err);

	/** Delete the whole item; -ENOENT when there is none. */
	int (*remove)(struct jfs_store *st, const char *id, struct jfs_err *err);

	/**
	 * Make every change of item @id (NULL: of every item) that returned
	 * before this call durable. Returns 0, or -errno when they could not
	 * be made durable (a save failed; they stay pending and are retried).
	 * A change that was dropped meanwhile is not this call's failure: it
	 * is reported by ops->failures.
	 */
	int (*sync)(struct jfs_store *st, const char *id, struct jfs_err *err);

	/**
	 * Optional (NULL when every change is stored before its call
	 * returns): call @fn for each accepted change lost since the last
	 * call: an edit dropped because another writer changed the same
	 * element first, a delayed save that failed (reported once per
	 * change, however often the save is retried). Each failure is
	 * reported once; @fn runs with no lock of the store held.
	 */
	int (*failures)(struct jfs_store *st, jfs_failed_fn *fn, void *data);

	/**
	 * Optional (NULL when the backend cannot tell): look for changes made
	 * by others since the last call and call @fn for each changed, added or
	 * removed id. Cheap when nothing changed; called every poll interval.
	 */
	int (*changes)(struct jfs_store *st, jfs_changed_fn *fn, void *data, struct jfs_err *err);

	/**
	 * Add this backend's effective settings to @out, secrets redacted.
	 * Does no I/O and may take only short locks of its own: it is called
	 * under the fs layer's lock.
	 */
	void (*describe)(struct jfs_store *st, json_t *out);

	/**
	 * Optional: add to @out what `jovofs --check` prints of this store:
	 * "target", one line naming what is mounted ("table 'T' at URL"), and
	 * "credentials", where they came from (never a secret); no I/O.
	 */
	void (*summary)(struct jfs_store *st, json_t *out);

	/**
	 * Optional: call @fn for each of the backend's own metrics (pending
	 * edits, credential refreshes, ...), current values. No I/O, only the
	 * store's own short locks: it is called under the fs layer's lock.
	 */
	void (*metrics)(struct jfs_store *st, jfs_metric_fn *fn, void *data);

	/**
	 * Optional: reload what comes from outside the config (credentials)
	 * now, on SIGHUP. May do I/O; called from a thread of its own while
	 * other ops run. Returns 0 or -errno; a failure keeps what was there.
	 */
	int (*reload)(struct jfs_store *st, struct jfs_err *err);

	/** Write back what is pending, stop threads, free the store. */
	void (*close)(struct jfs_store *st);
};

/** Look up a compiled-in backend by name; NULL when there is none. */
const struct jfs_backend_ops *jfs_backend_find(const char *name);

/** The @i-th compiled-in backend (from 0), NULL past the last. */
const struct jfs_backend_ops *jfs_backend_at(size_t i);

/** Free the entries and cursor of @page and zero it. */
void jfs_list_page_release(struct jfs_list_page *page);

/**
 * Whether @patch's condition holds on @item (NULL: no item).
 */
bool jfs_patch_condition_holds(const struct jfs_patch *patch, const json_t *item);

/**
 * A new item: a shallow copy of @item (borrowed) with @patch's set and
 * unset applied. New reference; values not touched by the patch are shared
 * with @item (never modify them).
 */
json_t *jfs_patch_apply(const json_t *item, const struct jfs_patch *patch);

/*
 * A set of keys to remove is kept the way jfs_patch.unset holds it: an
 * array of distinct key strings, in the order they were first added. It
 * holds a handful of keys (an item's top-level keys), so a linear search
 * is the cheap lookup.
 */

/** Whether @unset (may be NULL) holds @key (may be NULL: never held). */
bool jfs_unset_has(const json_t *unset, const char *key);

/** Add @key to @unset unless it holds it already (it then keeps its place). */
void jfs_unset_add(json_t *unset, const char *key);

/** Remove @key from @unset, if it holds it. */
void jfs_unset_del(json_t *unset, const char *key);

#endif
