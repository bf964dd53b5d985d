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

/*
 * Filters: which items a find reports (ops->find). The language a user
 * types is policy/'s (policy/filter.c parses it); what a condition means
 * is defined here, once, by jfs_filter_match(), because the stores
 * evaluate it too (FileDb over its index, memstore on its items).
 */

/** How a condition compares the value at its path with its literal (JavaScript). */
enum jfs_filter_op {
	JFS_FOP_EQ,        /**< "="  value === literal */
	JFS_FOP_NE,        /**< "!=" value !== literal (an absent value differs) */
	JFS_FOP_LT,        /**< "<"  value < literal (abstract relational comparison) */
	JFS_FOP_LE,        /**< "<=" value <= literal */
	JFS_FOP_GT,        /**< ">"  value > literal */
	JFS_FOP_GE,        /**< ">=" value >= literal */
	JFS_FOP_CONTAINS,  /**< "~"  typeof value === "string" && value.includes(literal) */
	JFS_FOP_EXISTS,    /**< "?"  value !== undefined */
};

/**
 * A path into an item as JavaScript's property access walks it: the
 * top-level key ("user", "id", ...), then keys of objects; a segment that
 * is a canonical array index ("0", "12") also indexes an array. Stepping
 * into anything else (a string, a number, a missing key) is undefined.
 */
struct jfs_path {
	char **seg;        /**< NUL-terminated segments */
	size_t n;          /**< at least 1 */
};

/** One condition of a filter. */
struct jfs_filter_cond {
	struct jfs_path path;
	enum jfs_filter_op op;
	json_t *value;     /**< the literal: a string, a real, true, false or null;
			        a string for CONTAINS; NULL for EXISTS */
};

/** A filter: every condition must hold. */
struct jfs_filter {
	struct jfs_filter_cond *cond;
	size_t n;
	/**
	 * Values the caller needs of every item reported (the session's
	 * updatedAt, to tell an expired session): with nneed > 0, every
	 * jfs_found of a find carries an item holding them.
	 */
	struct jfs_path *need;
	size_t nneed;
};

/** One item a find reports. */
struct jfs_found {
	char *id;
	int64_t created_ms;  /**< the item's createdAt in ms, -1 when unknown */
	int64_t updated_ms;  /**< the item's updatedAt in ms, -1 when unknown */
	/**
	 * NULL: the item matches the filter. Else a partial item, copied from
	 * the stored one, holding the values at every condition's and every
	 * need path (jfs_filter_projection()): the caller decides with
	 * jfs_filter_match() whether the item matches.
	 */
	json_t *item;
};

/**
 * A page of a find. @found and what it points to stay the store's; they
 * are valid until the call returns. May be called from several threads at
 * once, and with @n == 0 (a page that matched nothing: a store calls it
 * for every page it reads, so a long find can be stopped). Returns 0 to go
 * on; anything else stops the find, which then returns -ECANCELED.
 */
typedef int jfs_found_fn(void *data, const struct jfs_found *found, size_t n);

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
	 * Optional (NULL: the caller pages through list() and loads each
	 * item). Report every item that matches @filter (NULL: every item) to
	 * @fn, a page at a time, as the store reads them: in no particular
	 * order, from one or several threads at once (DynamoDb scans segments
	 * in parallel), an id possibly twice (a retried read). The store
	 * evaluates the filter where the data is (a Scan's FilterExpression, a
	 * find() query, FileDb's index); where it cannot tell exactly whether
	 * an item matches (JavaScript's comparisons of mixed types), it
	 * reports the item with the values that decide it (jfs_found.item).
	 * Listing (@filter NULL) fills the entries' times where that is cheap.
	 * Returns 0 once every item was reported, -ECANCELED when @fn asked to
	 * stop, or -errno.
	 */
	int (*find)(struct jfs_store *st, const struct jfs_filter *filter, jfs_found_fn *fn,
		    void *data, struct jfs_err *err);

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
 * A remote backend's "listTimes": whether a listing of the top brings each
 * user's createdAt and updatedAt (so `ls -l` needs no load per user) or
 * the key alone (the cheapest listing there is: at a million users on a
 * quiet dynalite 14.2 s against 15.3 s, and 110 against 130 MiB of RSS).
 * AUTO, the default: the times while the store holds at most
 * JFS_LIST_TIMES_AUTO_MAX users, the key alone above that, where a whole
 * `ls -l` would be a long wait anyway and find views (updatedAt>...)
 * answer "who changed lately" on the server.
 */
enum jfs_list_times { JFS_LIST_TIMES_AUTO, JFS_LIST_TIMES_ON, JFS_LIST_TIMES_OFF };
#define JFS_LIST_TIMES_AUTO_MAX 100000

/** Parse @v (NULL: AUTO) of config part @part: true, false or "auto". */
int jfs_list_times_parse(const json_t *v, const char *part, enum jfs_list_times *out,
			 struct jfs_err *err);

/** Whether a listing brings the times, the store holding about @users (-1: unknown). */
bool jfs_list_times_want(enum jfs_list_times lt, int64_t users);

/** For describe(): true, false, or "auto (...)" saying what the next listing does. */
json_t *jfs_list_times_json(enum jfs_list_times lt, int64_t users);

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

/* ---- filters ---- */

/** Whether @seg is a canonical array index ("0", "7", not "07" nor "-1"): its value in *@idx. */
bool jfs_path_index(const char *seg, size_t *idx);

/** The value at @p in @item, as JavaScript reads it: borrowed, NULL when undefined. */
json_t *jfs_path_get(const json_t *item, const struct jfs_path *p);

/**
 * Whether condition @c holds for @value (the value at its path; NULL:
 * undefined), by JavaScript's rules: === and !==; <, <=, >, >= convert an
 * array or object to a string (its toString()), compare two strings by
 * UTF-16 code units and anything else as numbers (ToNumber: null is 0,
 * booleans 0 and 1, strings parsed, undefined NaN), NaN never comparing.
 */
bool jfs_filter_cond_holds(const struct jfs_filter_cond *c, const json_t *value);

/** Whether every condition of @f holds on @item. */
bool jfs_filter_match(const struct jfs_filter *f, const json_t *item);

/**
 * The paths a store copies into a jfs_found.item for @f: each condition's
 * and need path, cut before its first array index (the whole array, or the
 * object whose key looks like one, is copied), without duplicates and
 * without a path that another one holds (user.data.x goes when user.data
 * is there). *@out is a malloc()ed array whose segments are @f's
 * (borrowed); returns how many.
 */
size_t jfs_filter_projection(const struct jfs_filter *f, struct jfs_path **out);

/**
 * Set the value at the first @n segments of @p in the object @partial to
 * @value (consumed), making objects on the way.
 */
void jfs_path_put_new(json_t *partial, const struct jfs_path *p, size_t n, json_t *value);

/**
 * A partial item of @item (borrowed) for @f: the values at
 * jfs_filter_projection()'s paths. New reference; values are shared with
 * @item (never modify them).
 */
json_t *jfs_filter_project(const struct jfs_filter *f, const json_t *item);

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
