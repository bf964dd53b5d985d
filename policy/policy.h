/*
 * The storedElements policy: Jovo's DbPlugin rules on what of an item is
 * stored and shown, and the one way writes reach a store.
 *
 * struct jfs_policy wraps a struct jfs_store the way sshfs's cache wraps
 * fuse_operations: the fs layer calls jfs_policy_*() and never the store.
 */
#ifndef JFS_POLICY_H
#define JFS_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "common/err.h"

/** The elements of an item that become files. */
enum jfs_elem {
	JFS_EL_USER,       /**< "user"      -> user.json */
	JFS_EL_SESSION,    /**< "session"   -> session.json */
	JFS_EL_HISTORY,    /**< "history"   -> history/N.json (items[N]) */
	JFS_EL_CREATED_AT, /**< "createdAt" -> createdAt */
	JFS_EL_UPDATED_AT, /**< "updatedAt" -> updatedAt */
	JFS_EL__COUNT
};

/** The item key of @el ("user", "session", ...). */
const char *jfs_elem_key(enum jfs_elem el);

/** storedElements, normalised (Jovo's defaults filled in). */
struct jfs_policy_config {
	bool enabled[JFS_EL__COUNT];  /**< default: user, createdAt, updatedAt */
	int64_t session_expires_s;    /**< default 900; 0 in the config counts as 900 */
	unsigned history_size;        /**< default 3 */
	json_t *history_hidden;       /**< array of history item keys set to false (owned) */
};

/**
 * Normalise @stored (the "storedElements" object of the config, borrowed,
 * may be NULL) into @cfg. `true`/`false` mean {enabled: true/false}; an
 * object without "enabled" is enabled; "updateAt" is accepted for
 * "updatedAt" with a warning; unknown keys are warned about by name.
 * Returns -EINVAL with the reason in @err for values of the wrong type.
 */
int jfs_policy_config_parse(const json_t *stored, struct jfs_policy_config *cfg,
			    struct jfs_err *err);

/** Free what @cfg owns. */
void jfs_policy_config_release(struct jfs_policy_config *cfg);

/** The effective storedElements as a new JSON object (for .jovofs/config). */
json_t *jfs_policy_config_describe(const struct jfs_policy_config *cfg);

/* ---- views: pure functions of an item, no I/O ---- */

/**
 * Whether the session of @item is expired at @now_ms: its updatedAt is a
 * valid ISO time older than session_expires_s. A session without a valid
 * updatedAt never expires.
 */
bool jfs_policy_session_expired(const struct jfs_policy_config *cfg, const json_t *item,
				int64_t now_ms);

/**
 * The value shown for element @el of @item, or NULL when there is no such
 * file: disabled, absent from the item, or (session) expired. For
 * JFS_EL_HISTORY this is the stored "history" object. Borrowed from @item.
 */
json_t *jfs_policy_element(const struct jfs_policy_config *cfg, const json_t *item,
			   enum jfs_elem el, int64_t now_ms);

/** How many history items are shown: min(history_size, stored), 0 when disabled. */
size_t jfs_policy_history_count(const struct jfs_policy_config *cfg, const json_t *item);

/**
 * History item @idx as shown (hidden keys left out), or NULL when
 * idx >= jfs_policy_history_count(). New reference.
 */
json_t *jfs_policy_history_item(const struct jfs_policy_config *cfg, const json_t *item,
				size_t idx);

/**
 * Whether the file of element @el (history: item @idx) of @item exists:
 * what jfs_policy_render() would render, without rendering it.
 */
bool jfs_policy_file_exists(const struct jfs_policy_config *cfg, const json_t *item,
			    enum jfs_elem el, size_t idx, int64_t now_ms);

/**
 * The content of a file: element @el (history: item @idx) of @item,
 * rendered. JSON elements pretty-printed with a trailing newline, the
 * timestamps as "<iso>\n". Returns a malloc()ed buffer and its length in
 * *@len, or NULL exactly when the file does not exist
 * (jfs_policy_file_exists()); out of memory aborts.
 */
char *jfs_policy_render(const struct jfs_policy_config *cfg, const json_t *item,
			enum jfs_elem el, size_t idx, int64_t now_ms, size_t *len);

/** The updatedAt of @item in ms (-1 when absent or not ISO). */
int64_t jfs_item_updated_ms(const json_t *item);
/** The createdAt of @item in ms (-1 when absent or not ISO). */
int64_t jfs_item_created_ms(const json_t *item);
/** The session's updatedAt of @item in ms (-1 when absent or not ISO). */
int64_t jfs_item_session_updated_ms(const json_t *item);

/* ---- writes ---- */

/** The kinds of backend call, as .jovofs/metrics counts them. */
enum jfs_backend_op {
	JFS_BOP_LOAD,   /**< "load": load an item */
	JFS_BOP_WRITE,  /**< "write": update, create, remove */
	JFS_BOP_LIST,   /**< "list": one page of the listing, or one streamed listing */
	JFS_BOP_SYNC,   /**< "sync": wait for durability */
	JFS_BOP_FIND,   /**< "find": one filtered listing (a find view) */
	JFS_BOP__COUNT
};

/** The metric label of @op ("load", ...). */
const char *jfs_backend_op_name(enum jfs_backend_op op);

/** Upper bounds (seconds) of the backend latency histogram's buckets, +Inf aside. */
#define JFS_LAT_BUCKETS 14
extern const double jfs_latency_bounds[JFS_LAT_BUCKETS];

/** errno values counted one by one in jfs_policy_stats.errors; larger ones count as 0. */
#define JFS_ERRNO_MAX 134

/**
 * Time spent in, and number of, backend calls by kind; a latency
 * histogram (bucket[op][i] counts calls that took at most
 * jfs_latency_bounds[i] seconds, not cumulative; [JFS_LAT_BUCKETS]: the
 * slower ones); failed calls by kind and errno (what the backend returned,
 * before the policy's retries: ECANCELED is a condition that failed, ENOENT
 * a user that does not exist).
 */
struct jfs_policy_stats {
	uint64_t ns_sum[JFS_BOP__COUNT];
	uint64_t count[JFS_BOP__COUNT];
	uint64_t bucket[JFS_BOP__COUNT][JFS_LAT_BUCKETS + 1];
	uint64_t errors[JFS_BOP__COUNT][JFS_ERRNO_MAX + 1];
};

struct jfs_mask;

/** What a change does, as the journal records it. */
enum jfs_change_kind {
	JFS_CHANGE_WRITE,    /**< an element (or history item) set */
	JFS_CHANGE_DELETE,   /**< an element (or history item) removed, or a whole record */
	JFS_CHANGE_CREATE,   /**< a new record */
	JFS_CHANGE_RESTORE,  /**< jfs_policy_restore(): an undo */
};

/** How a change moved history items (JFS_EL_HISTORY only). */
enum jfs_hist_change {
	JFS_HIST_REPLACE,    /**< item idx replaced */
	JFS_HIST_INSERT,     /**< a new item at idx; the ones from idx on moved up */
	JFS_HIST_REMOVE,     /**< item idx removed; the ones after it moved down */
};

/** One change about to be stored (everything borrowed). */
struct jfs_change {
	enum jfs_change_kind kind;
	const char *id;
	enum jfs_elem el;          /**< JFS_EL__COUNT: the whole record */
	size_t idx;                /**< history: the item */
	enum jfs_hist_change hist; /**< history: how */
	const json_t *before;      /**< the element (history: item idx; record: the item) as
				        stored before, NULL: none */
	const json_t *after;       /**< as stored after, NULL: none */
	const json_t *shifted;     /**< JFS_HIST_REMOVE: the item that moves to idx, NULL: none */
};

/**
 * Who records changes (the journal): intent() runs before the store is
 * asked to make a change, and a nonzero return refuses the change with
 * that -errno (reason in @err); failed() runs when the store then did not
 * make it. Both may be NULL.
 */
struct jfs_policy_journal {
	int (*intent)(void *data, const struct jfs_change *c, uint64_t *seq, struct jfs_err *err);
	void (*failed)(void *data, uint64_t seq, int rc, const char *why);
	void *data;
};

/**
 * A policy-checked store: the one way from the fs layer to a backend.
 * Thread-safe as the store below it is; cfg and store are set before the
 * FUSE threads start and read-only after.
 */
struct jfs_policy {
	struct jfs_policy_config cfg;
	struct jfs_store *store;  /**< owned: jfs_policy_open() .. jfs_policy_close() */
	unsigned max_retries;     /**< conflict retries when only other elements changed (default 5) */
	struct jfs_policy_stats stats; /**< updated atomically; read with jfs_policy_stats() */
	struct jfs_policy_journal journal; /**< set before the FUSE threads start */
	struct jfs_mask *mask;    /**< read-only mounts: what loads show masked (policy/mask.h);
				       the caller's, set before the FUSE threads start */
};

/** What a write did. */
struct jfs_write_result {
	json_t *item;   /**< new reference: the item as stored now (NULL when unknown) */
	bool noop;      /**< the new value equalled the stored one: nothing was written */
};

/* ---- the store (policy/store.c) ---- */

/** Whether a backend of that name is compiled in. */
bool jfs_policy_backend_exists(const char *name);

/** The name of the @i-th compiled-in backend (from 0), NULL past the last. */
const char *jfs_policy_backend_name(size_t i);

/** The -o options of the @i-th compiled-in backend (NULL-name ended), or NULL. */
const struct jfs_backend_option *jfs_policy_backend_options(size_t i);

/**
 * The -o option @name of some backend, or NULL; *@backend (may be NULL)
 * gets that backend's name.
 */
const struct jfs_backend_option *jfs_policy_backend_option(const char *name,
							   const char **backend);

/**
 * Open the store of backend @backend with its config part @conf (borrowed,
 * may be NULL), before the daemon forks (no threads, no sockets).
 */
int jfs_policy_open(struct jfs_policy *p, const char *backend, const json_t *conf,
		    const struct jfs_store_options *opts, struct jfs_err *err);

/** After the fork: start the store's threads and connections. */
int jfs_policy_start(struct jfs_policy *p, struct jfs_err *err);

/** Write back what is pending and free the store (a no-op when none is open). */
void jfs_policy_close(struct jfs_policy *p);

/**
 * Load item @id through the policy. Returns 0 and a new reference in
 * *@item, or -ENOENT / another -errno.
 */
int jfs_policy_load(struct jfs_policy *p, const char *id, json_t **item, struct jfs_err *err);

/** One page of the listing: see struct jfs_backend_ops.list. */
int jfs_policy_list(struct jfs_policy *p, const char *cursor, size_t limit,
		    struct jfs_list_page *page, struct jfs_err *err);

/* ---- find views (policy/filter.c) ---- */

/**
 * Parse @name, a file name under .jovofs/find/, into a filter (see
 * policy/filter.c and README: conditions PATH OP VALUE joined by '&',
 * percent-decoded). Returns 0 and *@out (free with
 * jfs_policy_filter_free()); -EINVAL when @name is no filter, -ENOENT when
 * a condition names an element storedElements disables; the reason in
 * @err. A filter with a session.* condition asks every store for the
 * session's updatedAt (filter->need).
 */
int jfs_policy_filter_parse(const struct jfs_policy_config *cfg, const char *name,
			    struct jfs_filter **out, struct jfs_err *err);

/** Free @f (may be NULL). */
void jfs_policy_filter_free(struct jfs_filter *f);

/**
 * Whether @item (a whole stored item, or a store's partial item of it)
 * matches @f at @now_ms: JavaScript's comparisons (jfs_filter_match()),
 * and no session.* condition holds for an expired session.
 */
bool jfs_policy_filter_match(const struct jfs_policy_config *cfg, const struct jfs_filter *f,
			     const json_t *item, int64_t now_ms);

/**
 * Report every user matching @f (NULL: every user, with the times the
 * store lists) to @fn, page by page, as the store finds them (see
 * struct jfs_backend_ops.find): possibly from several threads at once,
 * an id possibly twice; the entries' items are always NULL. What the store
 * could not decide exactly is decided here on the values it sent. A store
 * without find() is listed page by page (and, with a filter, each item
 * loaded). 0, -ECANCELED when @fn stopped it, or -errno.
 */
int jfs_policy_find(struct jfs_policy *p, const struct jfs_filter *f, jfs_found_fn *fn,
		    void *data, struct jfs_err *err);

/** Whether the store tells of others' changes (jfs_policy_changes()). */
bool jfs_policy_has_changes(const struct jfs_policy *p);

/** Call @fn for each id others changed since the last call (see ops.changes). */
int jfs_policy_changes(struct jfs_policy *p, jfs_changed_fn *fn, void *data,
		       struct jfs_err *err);

/**
 * Add the store's effective settings to @out, secrets redacted. Does no
 * I/O and takes only the store's own short locks: callable under any lock.
 */
void jfs_policy_describe(struct jfs_policy *p, json_t *out);

/**
 * SIGHUP: have the store reload what comes from outside the config (the
 * AWS credentials); see ops->reload. 0 when it has nothing to reload.
 */
int jfs_policy_reload(struct jfs_policy *p, struct jfs_err *err);

/** How many users jfs_policy_check() asks for. */
#define JFS_CHECK_PAGE 100

/**
 * `jovofs --check`: start the opened store (connect, credentials, the
 * table), read one page of the listing, and add a summary to @out:
 * "backend", the store's "target" and "credentials" (ops->summary),
 * "users" (on that page) and "more" (whether more pages follow). Returns
 * 0 or -errno with the reason in @err; @out then holds what was known.
 */
int jfs_policy_check(struct jfs_policy *p, json_t *out, struct jfs_err *err);

/** A snapshot of the backend call counters. */
void jfs_policy_stats(const struct jfs_policy *p, struct jfs_policy_stats *out);

/**
 * Call @fn for each of the store's own metrics (see ops->metrics; none
 * when the backend keeps none). Takes only the store's short locks:
 * callable under any lock.
 */
void jfs_policy_metrics(struct jfs_policy *p, jfs_metric_fn *fn, void *data);

/**
 * Write new content @text (@len bytes, not NUL-terminated) of file
 * element @el (history: item @idx) of user @id. @seen (borrowed) is the
 * item the mount served to the writer; NULL when it had none (a new
 * session.json, say). @fname names the file in messages ("alice/user.json").
 *
 * Validates first (-EINVAL, "cannot parse 'fname': line L column C: ...",
 * or the shape that is wrong; -EPERM for a disabled element). A value equal
 * to what is stored is a no-op (no store call, res->noop). Otherwise stores
 * the element and updatedAt = now (when enabled; a session also gets its
 * updatedAt = now), conditional on @seen's updatedAt (or, where updatedAt
 * is disabled, on the element). On -ECANCELED from the store it reloads:
 * when the edited element is unchanged it re-applies the edit to the fresh
 * item and retries; when the element itself changed it fails with -ESTALE.
 * History writes keep hidden keys of the stored item and the other items.
 */
int jfs_policy_write(struct jfs_policy *p, const char *id, const json_t *seen,
		     enum jfs_elem el, size_t idx, const char *text, size_t len,
		     const char *fname, struct jfs_write_result *res, struct jfs_err *err);

/**
 * Remove element @el (history: item @idx only) of user @id, same
 * conditions and retries as jfs_policy_write(). Removing an element that
 * is not shown is -ENOENT.
 */
int jfs_policy_remove_element(struct jfs_policy *p, const char *id, const json_t *seen,
			      enum jfs_elem el, size_t idx, const char *fname,
			      struct jfs_write_result *res, struct jfs_err *err);

/**
 * Create user @id: {"id", "user": {"data": {}}, "createdAt", "updatedAt"}
 * with now (each element only when enabled). -EEXIST when it exists.
 * res->item is the new item.
 */
int jfs_policy_create(struct jfs_policy *p, const char *id, struct jfs_write_result *res,
		      struct jfs_err *err);

/** Delete user @id entirely. */
int jfs_policy_remove(struct jfs_policy *p, const char *id, struct jfs_err *err);

/** What jfs_policy_restore() puts back. */
struct jfs_restore {
	enum jfs_elem el;          /**< JFS_EL__COUNT: the whole record */
	size_t idx;                /**< history: the item */
	enum jfs_hist_change hist; /**< history: replace item idx, insert at idx, remove it */
	const json_t *expect;      /**< what the element (history: item idx; record: the
				        item) must hold now; NULL: nothing */
	const json_t *value;       /**< what to store; NULL: remove (not with INSERT) */
};

/**
 * Put element @r->el of user @id back to @r->value, exactly (an undo),
 * through the same checks as a write: the element must be enabled, the
 * value of the shape a write needs; only when the element holds
 * @r->expect now, else -ESTALE. A record: value NULL deletes the user when
 * it is @r->expect now (ignoring "id"); expect NULL creates it from value
 * (-ESTALE when it exists). updatedAt becomes now, as on any write.
 */
int jfs_policy_restore(struct jfs_policy *p, const char *id, const struct jfs_restore *r,
		       const char *fname, struct jfs_write_result *res, struct jfs_err *err);

/** Release what @res holds. */
void jfs_write_result_release(struct jfs_write_result *res);

/**
 * Make every change of user @id (NULL: of every user) that returned before
 * this call durable; 0 or the -errno of the save that could not be made.
 */
int jfs_policy_sync(struct jfs_policy *p, const char *id, struct jfs_err *err);

/**
 * A change accepted earlier and lost since: @elems is a bit set of
 * (1 << enum jfs_elem), the elements it wrote (updatedAt only when it was
 * all the change wrote); 0 for the whole record.
 */
typedef void jfs_policy_lost_fn(void *data, const char *id, unsigned elems,
				const struct jfs_err *e);

/**
 * Report each change the store accepted and lost since the last call
 * (an edit dropped as a conflict, a delayed save that failed), once.
 * @fn runs with no lock held. A no-op for stores that store at once.
 */
void jfs_policy_failures(struct jfs_policy *p, jfs_policy_lost_fn *fn, void *data);

#endif
