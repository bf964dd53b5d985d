/*
 * Inside fs/: the per-user state, the node kinds and every function one
 * fs/ file offers another (like git's refs/refs-internal.h). main.c and
 * the rest of the tree include fs/jfs.h only.
 *
 * Lock words, on every declaration below (the lock is struct jfs.lock):
 *   [L]       held on entry and on return, never dropped.
 *   [L-drop]  held on entry and on return, but dropped in between (to call
 *             the store). Afterwards only struct jfs_user pointers are
 *             still valid (a user lives until the unmount): look anything
 *             else up again (a scratch file, a handle's state, a listing).
 *   [U]       not held on entry; taken as needed.
 *   [any]     touches no shared state.
 * Replies to the kernel are sent with no lock held.
 *
 * Out of memory: small allocations abort() (CONTRIBUTING.md); a FUSE
 * handler answers ENOMEM only where a request asks for memory it chose
 * (a write's offset, a file's size).
 */
#ifndef JFS_FS_INTERNAL_H
#define JFS_FS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/strbuf.h"
#include "fs/jfs.h"
#include "fs/journal.h"

struct jfs_dirbuf;

/* ---- inode numbers and node kinds (fs/ino.c) ---- */

/* fixed inodes */
#define JFS_INO_ROOT      1
#define JFS_INO_STATUS    2   /* .jovofs/ */
#define JFS_INO_S_CONFIG  3
#define JFS_INO_S_METRICS 4
#define JFS_INO_S_ERRORS  5
#define JFS_INO_S_CONFL   6   /* .jovofs/conflicts/ */
#define JFS_INO_S_FIND    7   /* .jovofs/find/ */
#define JFS_INO_S_JOURNAL 8   /* .jovofs/journal */
#define JFS_INO_S_UNDO    9   /* .jovofs/undo */

/*
 * User nodes are computed, not allocated: a user gets a slot when the
 * mount first sees its id and its directory and files are
 * (slot + 1) << JFS_SUB_BITS | sub.
 */
#define JFS_SUB_BITS      12
#define JFS_SUB_DIR       0
#define JFS_SUB_USER      1
#define JFS_SUB_SESSION   2
#define JFS_SUB_HISTDIR   3
#define JFS_SUB_CREATED   4
#define JFS_SUB_UPDATED   5
#define JFS_SUB_RECORD    6
#define JFS_SUB_LINK      7   /* the user's symlink in a find view (.jovofs/find/F/NAME) */
#define JFS_SUB_HIST0     16  /* history/N.json is JFS_SUB_HIST0 + N */
#define JFS_SUB_COUNT     (1 << JFS_SUB_BITS)
#define JFS_HIST_MAX      (JFS_SUB_COUNT - JFS_SUB_HIST0)

/* scratch files, conflict files and find views live in their own ranges */
#define JFS_INO_SCRATCH_BIT  (1ULL << 62)
#define JFS_INO_CONFLICT_BIT (1ULL << 61)
#define JFS_INO_FIND_BIT     (1ULL << 60)

#define JFS_STATUS_NAME ".jovofs"

/* Sizes are remembered for the element files and the first history items. */
#define JFS_SIZE_HIST   8
#define JFS_SIZE_SLOTS  (JFS_SUB_RECORD + 1 + JFS_SIZE_HIST)

/* Reasons of failed writes: one per file kind; history items share one. */
#define JFS_ERR_HISTORY (JFS_SUB_RECORD + 1)
#define JFS_ERR_SLOTS   (JFS_SUB_RECORD + 2)

/** What an inode is: the one classifier every operation dispatches on. */
enum jfs_node_kind {
	JFS_NODE_NONE,          /**< no such inode number */
	JFS_NODE_ROOT,
	JFS_NODE_STATUS_DIR,    /**< .jovofs/ */
	JFS_NODE_STATUS_FILE,   /**< .jovofs/config, metrics, errors */
	JFS_NODE_CONFLICT_DIR,  /**< .jovofs/conflicts/ */
	JFS_NODE_CONFLICT,      /**< a kept conflict */
	JFS_NODE_USER_DIR,
	JFS_NODE_HISTORY_DIR,
	JFS_NODE_ELEMENT,       /**< user.json, session.json, createdAt, updatedAt, history/N.json */
	JFS_NODE_RECORD,        /**< record.json */
	JFS_NODE_SCRATCH,
	JFS_NODE_FIND_DIR,      /**< .jovofs/find/ */
	JFS_NODE_FIND,          /**< .jovofs/find/FILTER/: a find view */
	JFS_NODE_FIND_LINK,     /**< a user's symlink in a find view (JFS_SUB_LINK) */
};

/** The kind of @ino, from its number alone. [any] */
enum jfs_node_kind jfs_node_kind(fuse_ino_t ino);
/** The inode of file @sub of the user in @slot. [any] */
fuse_ino_t jfs_ino_make(uint64_t slot, unsigned sub);
/** The user slot of a user inode. [any] */
uint64_t jfs_ino_slot(fuse_ino_t ino);
/** The file of a user inode (JFS_SUB_*). [any] */
unsigned jfs_ino_sub(fuse_ino_t ino);
/** The element @sub shows (history items: JFS_EL_HISTORY). [any] */
enum jfs_elem jfs_sub_elem(unsigned sub);
/** The history index of @sub (0 for the other files). [any] */
size_t jfs_sub_hist_index(unsigned sub);
/** The name of a file in a user directory: "user.json", "history", ...; NULL otherwise. [any] */
const char *jfs_sub_name(unsigned sub);
/** Where @sub's reason of a failed write is kept (0 .. JFS_ERR_SLOTS - 1). [any] */
unsigned jfs_err_slot(unsigned sub);
/** Where @sub's rendered size is remembered (0 .. JFS_SIZE_SLOTS - 1), or -1. [any] */
int jfs_size_slot(unsigned sub);
/** Where the size the kernel was told for @sub is kept, or -1 (also the session's). [any] */
int jfs_told_slot(unsigned sub);

/** What a name in a user directory or its history/ stands for. */
enum jfs_name_kind {
	JFS_NAME_SCRATCH,       /**< not an element: a scratch file */
	JFS_NAME_ELEMENT,       /**< an element file (*sub) */
	JFS_NAME_RECORD,        /**< record.json */
	JFS_NAME_HISTORY_DIR,   /**< history/ */
};

/** Classify @name in directory @dirsub (JFS_SUB_DIR or JFS_SUB_HISTDIR). [any] */
enum jfs_name_kind jfs_name_kind(unsigned dirsub, const char *name, unsigned *sub);

/* ---- per-user state ---- */

/** The record cache of one user (fs/rcache.c). Guarded by lock. */
struct jfs_ucache {
	json_t *item;           /* cached item (immutable, shared), NULL when not loaded */
	json_t *prev_item;      /* the different item it replaced, while item is cached */
	/*
	 * The item whose content was last read through the mount (new ref),
	 * kept when the cache reloads a newer one: a write is conditional on
	 * the version its writer read, not on whatever is stored by then.
	 */
	json_t *served;
	bool stale;             /* item may be outdated: reload, and compare with it */
	int64_t changed_ms;     /* monotonic ms of the last change seen, 0 never */
	int64_t loaded_ms;      /* monotonic ms of the load */
	uint64_t gen;           /* bumped whenever item changes: a load started before is stale */
	size_t cost;            /* estimated bytes of item */
	struct jfs_user *lru_prev, *lru_next;
	/*
	 * Rendered sizes of the element files (index: jfs_size_slot()), so a
	 * stat needs no record, kept across evictions while the record is
	 * known not to have changed; and the sizes the kernel was last given
	 * (jfs_told_slot(); see jfs_rcache_same_size_version()). Encoded:
	 * JFS_SIZE_UNKNOWN, JFS_SIZE_ABSENT, else size + JFS_SIZE_BIAS.
	 */
	uint32_t fsize[JFS_SIZE_SLOTS];
	uint32_t told[JFS_SIZE_SLOTS];
};

#define JFS_SIZE_UNKNOWN 0
#define JFS_SIZE_ABSENT  1
#define JFS_SIZE_BIAS    2

/** Why writes of one user's files failed (fs/commit.c). Guarded by lock. */
struct jfs_uerrors {
	char *last[JFS_ERR_SLOTS];  /* user.jovofs.error of each file kind */
	/*
	 * How many accepted changes of each file kind the store lost later (a
	 * dropped edit, a failed save), and the errno of the last: each write
	 * handle reports each loss once (like the kernel's errseq_t).
	 */
	uint64_t lost_seq[JFS_ERR_SLOTS];
	int lost_errno[JFS_ERR_SLOTS];
};

/**
 * What the mount knows of one user. Guarded by lock. Never freed while
 * mounted, so a pointer to it survives dropping the lock.
 */
struct jfs_user {
	/* identity and listing: fs/users.c */
	char *id;
	size_t id_len;
	char *name;             /* directory name (fs/idcodec.h) */
	uint64_t slot;
	bool exists;            /* in the store as far as we know */
	int64_t created_ms;     /* from the listing or the item, -1 unknown */
	int64_t updated_ms;
	struct jfs_hnode hnode_name;

	/*
	 * fs/node.c: when the session.json that the kernel's cached listing
	 * of the directory holds expires (ms), 0: none. The listing is then
	 * dropped at the directory's next getattr (jfs_node_listing_expired()).
	 */
	int64_t listed_session_until;

	struct jfs_ucache cache;        /* fs/rcache.c */
	struct jfs_uerrors errors;      /* fs/commit.c */
	struct jfs_handle *handles;     /* fs/handle.c: open handles of its files */
	/* fs/node.c: chmod/chown of its directories and files, kept in memory */
	struct jfs_umeta {
		unsigned sub;
		struct jfs_meta meta;
	} *meta;
	size_t nmeta;
	struct jfs_scratch *scratch;    /* fs/scratch.c: scratch files in its directories */
};

/** The inode of file @sub of @u. [any] */
static inline fuse_ino_t jfs_user_ino(const struct jfs_user *u, unsigned sub)
{
	return jfs_ino_make(u->slot, sub);
}

/* ---- the user table and the listing (fs/users.c) ---- */

/** What the mount knows of one id, made or not (see struct jfs_users). Guarded by lock. */
struct jfs_uent {
	struct jfs_user *u;      /* its struct jfs_user once made (then u's fields count), or NULL */
	uint64_t id_ref;         /* where its bytes are in users.chunks */
	uint32_t id_len;
	uint32_t hnext;          /* the next entry with the same bucket: slot + 1, 0 none */
	uint32_t run;            /* the last listing run that listed it */
	bool exists;             /* while !u */
	int64_t created_ms;      /* while !u: from the listing, -1 unknown */
	int64_t updated_ms;
};

/**
 * The user of id @id (@len bytes), its struct jfs_user made when the id is
 * known; NULL when the mount never saw it. [L]
 */
struct jfs_user *jfs_user_by_id(struct jfs *fs, const char *id, size_t len);
/** The user whose directory is named @name (made when known), or NULL. [L] */
struct jfs_user *jfs_user_by_name(struct jfs *fs, const char *name);
/** The user a user inode belongs to (made when known), or NULL. [L] */
struct jfs_user *jfs_user_by_ino(struct jfs *fs, fuse_ino_t ino);
/** Find or add user @id; never NULL. [L] */
struct jfs_user *jfs_user_get(struct jfs *fs, const char *id, size_t len);
/**
 * The slot of the user whose directory is @name, without making its
 * struct jfs_user: true and *@slot, *@exists; false when unknown. [L]
 */
bool jfs_users_slot_by_name(struct jfs *fs, const char *name, uint64_t *slot, bool *exists);
/** The slot of id @id, added (not existing, not listed) when new. [L] */
uint64_t jfs_users_slot(struct jfs *fs, const char *id, size_t len);
/** The directory name of the user in @slot: malloc()ed, NULL when no such slot. [L] */
char *jfs_users_slot_name(struct jfs *fs, uint64_t slot);
/**
 * What the listing knows of the user in @slot without making its struct
 * jfs_user: false when no such slot; else *@exists and *@mtime_ms, the
 * mtime of its directory (-1 when the listing brought no times). [L]
 */
bool jfs_users_peek(struct jfs *fs, uint64_t slot, bool *exists, int64_t *mtime_ms);
/**
 * @text (a message) with every quoted id the table knows ('alice')
 * replaced by its user's name: with -o mask_ids, a store's message shows
 * the pseudonym, not the id. Malloc()ed. [L]
 */
char *jfs_users_scrub(struct jfs *fs, const char *text);
/**
 * Whether a whole listing was read: until then (the first one streams in
 * after the mount) a name the table lacks may still come. [L]
 */
bool jfs_users_complete(struct jfs *fs);
/** Whether the user in @slot has its struct jfs_user (which then knows best). [L] */
bool jfs_users_made(struct jfs *fs, uint64_t slot);
/**
 * The mount is ending: the unmount began, or a signal (SIGTERM, SIGINT)
 * ended the FUSE session, whose loop then waits for the requests in
 * progress: whatever waits for the store or a listing gives up then. [L]
 */
bool jfs_users_ending(struct jfs *fs);
/**
 * Read the whole listing from the store now and wait for it; users no
 * longer listed are gone. 0 or -errno. [U]
 */
int jfs_users_refresh(struct jfs *fs);
/**
 * The listing is about to be served (a readdir or stat of the root):
 * start reading it when it is older than the cache time; a first listing
 * streams (readdir waits for its pages), a later one is waited for up to
 * a few seconds by the call that started it, then the older one is served
 * meanwhile. 0, or the -errno of a listing that failed meanwhile. [U]
 */
int jfs_users_list_fresh(struct jfs *fs);
/**
 * -o mask_ids: @name is shaped like a pseudonym the table does not know.
 * A pseudonym cannot be decoded to an id to load, so only a listing can
 * bring it: wait for a whole and fresh one (none is started while the
 * listing is fresh). [L-drop]
 */
void jfs_users_await_name(struct jfs *fs, const char *name);
/** Whether the listing is older than the cache time (never, with a change feed). [L] */
bool jfs_users_stale(struct jfs *fs);
/**
 * Fill @db with the root's users from position @i of the listing (the
 * entries after "." ".." ".jovofs"), waiting for a streamed listing's
 * pages. 0 or -errno (a first listing that failed). [L-drop]
 */
int jfs_users_readdir(struct jfs *fs, struct jfs_dirbuf *db, size_t i);
/** @u's record is @item (borrowed): it exists, with these times. [L] */
void jfs_users_seen(struct jfs *fs, struct jfs_user *u, const json_t *item);
/** @u was created through the mount: it is listed from now on. [L] */
void jfs_users_add(struct jfs *fs, struct jfs_user *u);
/** @u is no longer in the store. [L] */
void jfs_users_gone(struct jfs *fs, struct jfs_user *u);
/** Whether @name was looked up and found missing within the cache time. [L] */
bool jfs_users_known_missing(struct jfs *fs, const char *name);
/**
 * No user is named @name (a lookup found none): remember it for the cache
 * time, among a bounded number of such names; no user entry is made. [L]
 */
void jfs_users_note_missing(struct jfs *fs, const char *name);
/** The mtime shown for @u's directory and files, in ms. [L] */
int64_t jfs_user_mtime(struct jfs *fs, const struct jfs_user *u);
/** Set up the tables (before the session). */
void jfs_users_init(struct jfs *fs);
/** Start the lister thread and the first listing. 0 or -errno. [U] */
int jfs_users_start(struct jfs *fs);
/** Stop a listing in progress and the lister thread. [U] */
void jfs_users_stop(struct jfs *fs);
/** Free every user (at the unmount; nothing may use them after). */
void jfs_users_release(struct jfs *fs);

/* ---- the record cache (fs/rcache.c) ---- */

/**
 * The item of @u, loaded when not cached or stale: 0 and a new reference
 * in *@item, or -errno (-ENOENT: the user is gone). A store that fails
 * leaves the cached item served, if any. [L-drop]
 */
int jfs_rcache_get(struct jfs *fs, struct jfs_user *u, json_t **item);
/**
 * The mount changed @u's record: the cache holds @item (consumed; NULL:
 * unknown, reload), the writer's base and the sizes are reset. *@old gets
 * the item it replaces (new reference, may be NULL) to invalidate. [L]
 */
void jfs_rcache_store(struct jfs *fs, struct jfs_user *u, json_t *item, json_t **old);
/**
 * Someone else may have changed @u's record (a change feed, a conflict):
 * the cached item is stale (the next use reloads it and compares, so a
 * change counts as one: the version before it stays at hand for readers
 * in the middle of a read), the sizes go. *@old (may be NULL) gets what
 * was cached. [L]
 */
void jfs_rcache_forget(struct jfs *fs, struct jfs_user *u, json_t **old);
/** @u is gone from the store: drop its item and sizes. [L] */
void jfs_rcache_drop(struct jfs *fs, struct jfs_user *u);
/**
 * @loaded (consumed) was just loaded for @u by someone else than
 * jfs_rcache_get() (a lookup of a user not known before): cache it, unless
 * something is cached already. [L-drop]
 */
void jfs_rcache_put_loaded(struct jfs *fs, struct jfs_user *u, json_t *loaded);
/** The version of @u a writer starts from: what was last read, else @item. Borrowed. [L] */
json_t *jfs_rcache_base(struct jfs_user *u, json_t *item);
/** A reader was just served @item's content of @u. [L] */
void jfs_rcache_served(struct jfs_user *u, json_t *item);
/** Whether @u's record changed in the last few seconds (readers then get copies). [L] */
bool jfs_rcache_busy(const struct jfs_user *u);
/** The remembered size of file @sub of @u: true and *@len when known to exist. [L] */
bool jfs_rcache_size(const struct jfs_user *u, unsigned sub, size_t *len);
/** Remember the size of file @sub of @u (@buf NULL: no such file). [L] */
void jfs_rcache_note_size(struct jfs_user *u, unsigned sub, const char *buf, size_t len);
/** The kernel was given @len as the size of file @sub (@known false: it must ask again). [L] */
void jfs_rcache_told(struct jfs_user *u, unsigned sub, bool known, size_t len);
/**
 * A page-cache read of file @sub of @u is about to get *@buf: when the
 * kernel holds a size from before a change, serve the version that size
 * belongs to and set *@inval_after, else set *@inval_first when the new
 * content is longer (see fs/rcache.c). [L]
 */
void jfs_rcache_same_size_version(struct jfs *fs, struct jfs_user *u, unsigned sub,
				  char **buf, size_t *len, bool *inval_first, bool *inval_after);
/** Free @u's cached items. [L] */
void jfs_rcache_user_release(struct jfs *fs, struct jfs_user *u);

/* ---- kernel invalidation and the change poller (fs/notify.c) ---- */

/** Queue an invalidation of inode @ino's attributes and data. [U] */
void jfs_notify_inode(struct jfs *fs, fuse_ino_t ino);
/** Queue an invalidation of entry @name in directory @parent. [U] */
void jfs_notify_entry(struct jfs *fs, fuse_ino_t parent, const char *name);
/**
 * Invalidate inode @ino now, from a request handler that holds no lock
 * (@off -1: attributes only). [U]
 */
void jfs_notify_inode_now(struct jfs *fs, fuse_ino_t ino, off_t off);
/**
 * @u's record changed from @old_item to @new_item (either may be NULL:
 * unknown, or gone): tell the kernel what it may hold of it. [U]
 */
void jfs_invalidate_user(struct jfs *fs, struct jfs_user *u, const json_t *old_item,
			 const json_t *new_item);
/**
 * Drop the kernel's pages and attributes of every file of @u now, before
 * the caller replies (inode invalidations only: they take no directory
 * lock a request may hold). [U]
 */
void jfs_invalidate_files_now(struct jfs *fs, struct jfs_user *u);
/** Start the notify thread and, with a change feed, the poller. 0 or -errno. [U] */
int jfs_notify_start(struct jfs *fs);
/** Stop them. [U] */
void jfs_notify_stop(struct jfs *fs);
/** Free what is still queued. */
void jfs_notify_release(struct jfs *fs);

/* ---- attributes, names, contents (fs/node.c) ---- */

/** Attributes of @ino and how long the kernel may keep them. [L-drop] */
int jfs_node_attr(struct jfs *fs, fuse_ino_t ino, struct stat *st, double *timeout);
/**
 * Resolve @name in directory @parent: 0 and *@ino (0: no such entry,
 * cacheable as negative), or -errno. [L-drop]
 */
int jfs_node_lookup(struct jfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino);
/** Fill @e for @ino (0: a negative entry); counts a lookup of scratch nodes. [L-drop] */
int jfs_node_entry(struct jfs *fs, fuse_ino_t ino, struct fuse_entry_param *e);
/** The bytes of file @ino as a reader sees them now: a malloc()ed copy. [L-drop] */
int jfs_node_content(struct jfs *fs, fuse_ino_t ino, char **buf, size_t *len);
/** Render file @sub (an element or the record) of @item; NULL when there is none. [any] */
char *jfs_node_render(struct jfs *fs, const json_t *item, unsigned sub, size_t *len);
/** Seconds the kernel may keep the entry or attributes of file @sub of @item. [any] */
double jfs_node_timeout(struct jfs *fs, const json_t *item, unsigned sub);
/** Attributes every node starts from: owner, mode, times. [any] */
void jfs_node_base_attr(struct jfs *fs, struct stat *st, fuse_ino_t ino, mode_t mode,
			int64_t mtime_ms);
/** Set the size (and blocks) of @st. [any] */
void jfs_node_size_attr(struct stat *st, size_t size);
/**
 * chmod, chown of @ino: they take effect on what the mount shows (and so
 * on who may open it), kept in memory, never stored. 0, or -EPERM for
 * the .jovofs/ folder, whose modes are fixed. [L]
 */
int jfs_node_setmeta(struct jfs *fs, fuse_ino_t ino, const struct stat *attr, int to_set);
/** Forget @u's chmod/chown (the user was deleted through the mount). [L] */
void jfs_node_meta_release(struct jfs_user *u);

/** A readdir reply being filled. */
struct jfs_dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size, len;
	bool plus, full;
	off_t off;               /* the offset the kernel asked from */
	off_t pos;               /* the offset of the last entry added or skipped */
};

/**
 * Add one entry (skipped when before db->off); false when the reply
 * buffer is full. Readdirplus looks the entry up. [L-drop]
 */
bool jfs_dir_add(struct jfs *fs, struct jfs_dirbuf *db, const char *name, fuse_ino_t ino,
		 mode_t mode);
/** Fill @db with directory @ino's entries from db->off. 0 or -errno. [L-drop] */
int jfs_node_readdir(struct jfs *fs, struct jfs_dirbuf *db, fuse_ino_t ino);
/**
 * Whether @ino is a user directory whose cached listing shows a session
 * that has expired since: the caller drops the kernel's listing
 * (jfs_notify_inode_now()); asked once. [L]
 */
bool jfs_node_listing_expired(struct jfs *fs, fuse_ino_t ino);

/* ---- the .jovofs/ folder (fs/status.c) ---- */

/** Attributes of a status node (@kind a JFS_NODE_STATUS_* or CONFLICT*). [L] */
int jfs_status_attr(struct jfs *fs, enum jfs_node_kind kind, fuse_ino_t ino, struct stat *st,
		    double *timeout);
/** The status node @name in status directory @parent, or 0. [L] */
fuse_ino_t jfs_status_lookup(struct jfs *fs, fuse_ino_t parent, const char *name);
/** The entries of status directory @ino (into @db). [L-drop] */
int jfs_status_readdir(struct jfs *fs, struct jfs_dirbuf *db, fuse_ino_t ino);
/** The content of status file or conflict @ino: a malloc()ed copy. [L] */
int jfs_status_content(struct jfs *fs, fuse_ino_t ino, char **buf, size_t *len);
/**
 * Keep rejected content under .jovofs/conflicts/. Returns the file's name
 * (malloc()ed) or NULL. [U]
 */
char *jfs_status_conflict(struct jfs_status *st, const char *user_name, const char *file,
			  const char *data, size_t len);
/** Remove conflict file @name: 0 or -ENOENT. [U] */
int jfs_status_conflict_remove(struct jfs_status *st, const char *name);

/* ---- find views: .jovofs/find/FILTER/ (fs/find.c) ---- */

/** Set up and free the find views. */
void jfs_find_init(struct jfs *fs);
void jfs_find_release(struct jfs *fs);
/**
 * The view of filter @name in .jovofs/find/: 0 and *@ino (made on first
 * use; the filter parsed by the policy), or -EINVAL (malformed) / -ENOENT
 * (an element storedElements disables), the reason logged. [L]
 */
int jfs_find_lookup_view(struct jfs *fs, const char *name, fuse_ino_t *ino);
/**
 * The link @name in view @parent: 0 and *@ino when that user matches;
 * -ENOENT (never cached) when not; the query runs when the view has no
 * results. [L-drop]
 */
int jfs_find_lookup_link(struct jfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino);
/** Attributes of a find node (@kind JFS_NODE_FIND_*). [L] */
int jfs_find_attr(struct jfs *fs, enum jfs_node_kind kind, fuse_ino_t ino, struct stat *st,
		  double *timeout);
/**
 * The entries of .jovofs/find/ or of a view (into @db); a view's query runs
 * at offset 0 when its results are older than the cache time. [L-drop]
 */
int jfs_find_readdir(struct jfs *fs, struct jfs_dirbuf *db, fuse_ino_t ino);
/** The target of link @ino, "../../../NAME": malloc()ed. [L] */
int jfs_find_readlink(struct jfs *fs, fuse_ino_t ino, char **target);
/** The kernel looked view @ino up once more. [L] */
void jfs_find_ref(struct jfs *fs, fuse_ino_t ino);
/** The kernel forgot @n references of @ino (any inode; others are ignored). [L] */
void jfs_find_forget(struct jfs *fs, fuse_ino_t ino, uint64_t n);
/** The mount changed a record: every view's results are out of date. [L] */
void jfs_find_invalidate(struct jfs *fs);

/* ---- scratch files (fs/scratch.c) ---- */

/** A file that is not an element: lives in memory, never stored. Guarded by lock. */
struct jfs_scratch {
	fuse_ino_t ino;
	struct jfs_hnode hnode;    /* in fs->scratch.by_ino */
	struct jfs_user *owner;
	unsigned dirsub;           /* JFS_SUB_DIR or JFS_SUB_HISTDIR */
	char *name;
	struct jfs_strbuf data;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec atime, mtime, ctime;
	uint64_t nlookup;          /* the kernel's references */
	bool linked;               /* still has its name */
	fuse_ino_t alias;          /* after a rename onto an element: that element's inode */
	struct jfs_scratch *next;  /* in owner's list */
};

/** The scratch file of inode @ino, or NULL. [L] */
struct jfs_scratch *jfs_scratch_by_ino(struct jfs *fs, fuse_ino_t ino);
/** The scratch file @name in directory @dirsub of @u, or NULL. [L] */
struct jfs_scratch *jfs_scratch_by_name(struct jfs_user *u, unsigned dirsub, const char *name);
/** A new, empty scratch file; never NULL. [L] */
struct jfs_scratch *jfs_scratch_new(struct jfs *fs, struct jfs_user *u, unsigned dirsub,
				    const char *name, mode_t mode, const struct fuse_ctx *ctx);
/** Its name goes; the node stays while the kernel knows it. [L] */
void jfs_scratch_unlink(struct jfs *fs, struct jfs_scratch *sc);
/** The kernel forgot @n references of @ino (any inode; others are ignored). [L] */
void jfs_scratch_forget(struct jfs *fs, fuse_ino_t ino, uint64_t n);
/** The kernel looked @sc up once more. [L] */
void jfs_scratch_ref(struct jfs_scratch *sc);
/** The inode a scratch inode stands for now (its element after a rename onto one). [L] */
fuse_ino_t jfs_scratch_resolve(struct jfs *fs, fuse_ino_t ino);
/** Attributes of @sc. [L] */
void jfs_scratch_attr(const struct jfs_scratch *sc, struct stat *st);
/** chmod, chown, utimens, truncate of @sc: 0 or -errno. [L] */
int jfs_scratch_setattr(struct jfs *fs, struct jfs_scratch *sc, const struct stat *attr,
			int to_set);
/** Write into @sc: 0 or -errno. [L] */
int jfs_scratch_write(struct jfs *fs, struct jfs_scratch *sc, const char *buf, size_t size,
		      off_t off);
/** Rename @sc to @name in directory @dirsub of @to. [L] */
void jfs_scratch_move(struct jfs *fs, struct jfs_scratch *sc, struct jfs_user *to,
		      unsigned dirsub, const char *name);
/** @sc was renamed onto element @ino: the kernel calls it by that inode now. [L] */
void jfs_scratch_became(struct jfs *fs, struct jfs_scratch *sc, fuse_ino_t ino);
/** @u was deleted: its scratch files lose their names. [L] */
void jfs_scratch_orphan_all(struct jfs *fs, struct jfs_user *u);
/** Set up and free the table. */
void jfs_scratch_init(struct jfs *fs);
void jfs_scratch_release(struct jfs *fs);

/* ---- file handles (fs/handle.c) ---- */

/** What a handle is. */
enum jfs_handle_kind {
	JFS_H_WRITE,     /**< an element file open for writing: its content until committed */
	JFS_H_SNAPSHOT,  /**< a reader's copy of one version, read whole or not at all */
};

/** Where a write handle is between its open and its close. */
enum jfs_wstate {
	JFS_W_FRESH,     /**< opened; nothing written or truncated through it yet */
	JFS_W_TRUNCATED, /**< emptied by its open(O_TRUNC); stores nothing until written */
	JFS_W_DIRTY,     /**< written (or ftruncate()d) since the last commit */
	JFS_W_CLEAN,     /**< committed; later writes build on it */
};

/**
 * One version of one file as rendered, shared by every snapshot of it
 * (fs/handle.c). Guarded by lock.
 */
struct jfs_rendering {
	struct jfs_hnode hnode;    /* in fs->handles.renderings */
	fuse_ino_t ino;
	json_t *item;              /* the version (a reference) */
	char *buf;
	size_t len;
	unsigned refs;
};

/**
 * An open file with content of its own, pointed to by the kernel's file
 * handle (fi->fh). Guarded by lock; freed only by release.
 */
struct jfs_handle {
	enum jfs_handle_kind kind;
	fuse_ino_t ino;
	struct jfs_user *u;
	struct jfs_handle *next;   /* in u->handles */
	/* JFS_H_SNAPSHOT: the version read (a reference), and its shared rendering
	 * (NULL over opts.snapshot_max: rendered again for each read) */
	json_t *version;
	struct jfs_rendering *r;
	/* JFS_H_WRITE: the content */
	struct jfs_strbuf data;
	/* JFS_H_WRITE only */
	enum jfs_wstate state;
	int failed;                /* a write failed (EFBIG): the close reports it, stores nothing */
	pid_t opener;              /* the thread that opened it */
	struct jfs_writer writer;  /* who opened it: the journal's uid, pid, comm */
	json_t *seen;              /* the item the writer started from (new ref), may be NULL */
	uint64_t lost_seen;        /* u->errors.lost_seq of its file kind last reported */
};

/* ---- the journal's writer, undo (fs/undo.c) ---- */

/** The writer of request @req (uid, pid, comm). [any] */
void jfs_req_writer(fuse_req_t req, struct jfs_writer *w);
/** Make @req's writer this thread's for the journal. [any] */
void jfs_req_who(fuse_req_t req);
/** Undo journal entry @seq; the reason of a failure is logged. [U] */
int jfs_undo(struct jfs *fs, uint64_t seq);
/** A write to .jovofs/undo: change numbers separated by white space. [U] */
int jfs_undo_write(struct jfs *fs, const char *buf, size_t size);

/** The handle of an open file, or NULL (no handle of ours). [any] */
struct jfs_handle *jfs_handle_of(const struct fuse_file_info *fi);
/**
 * Open element file @ino of @u for writing: a new handle holding the
 * current content (empty with @trunc). [L-drop]
 */
int jfs_handle_open_write(struct jfs *fs, struct jfs_user *u, fuse_ino_t ino, bool trunc,
			  const struct jfs_writer *w, struct jfs_handle **out);
/**
 * A reader's view of version @item (borrowed) of file @ino of @u: reads
 * of it return that version whole, whatever changes meanwhile. @buf,
 * @len: its rendering (the caller's; copied when it is shared). [L]
 */
struct jfs_handle *jfs_handle_open_snapshot(struct jfs *fs, struct jfs_user *u, fuse_ino_t ino,
					    json_t *item, const char *buf, size_t len);
/**
 * A reader's view of version @item of @ino sharing a rendering other
 * readers hold, so that none is made; NULL when there is none. @len: its
 * size. [L]
 */
struct jfs_handle *jfs_handle_share_snapshot(struct jfs *fs, struct jfs_user *u, fuse_ino_t ino,
					     json_t *item, size_t *len);
/**
 * Bytes @off to @off + @size of what handle @h reads (a snapshot's version,
 * or what a writer wrote): a malloc()ed copy of that piece alone, *@len
 * bytes (0 past the end). [L]
 */
int jfs_handle_read(struct jfs *fs, struct jfs_handle *h, off_t off, size_t size, char **buf,
		    size_t *len);
/** Free @h. [L] */
void jfs_handle_free(struct jfs *fs, struct jfs_handle *h);
/** The write handle open on @ino, if any (an element being created exists for it). [L] */
struct jfs_handle *jfs_handle_writer(struct jfs_user *u, fuse_ino_t ino);
/**
 * The handle @pid just opened on @ino, if a truncate without a handle is
 * its open(O_TRUNC). [L]
 */
struct jfs_handle *jfs_handle_truncating_open(struct jfs_user *u, fuse_ino_t ino, pid_t pid);
/** Write into write handle @h: 0 or -errno (EFBIG past max_file_size). [L] */
int jfs_handle_write(struct jfs *fs, struct jfs_handle *h, const char *buf, size_t size,
		     off_t off);
/*
 * The contents of write handles and scratch files live in memory; these
 * change them, and keep their total within opts.scratch_max (what statfs
 * reports as the filesystem's size): -ENOSPC past it.
 */
/** Resize @data to @size, zero-filling what grows: 0 or -ENOSPC. [L] */
int jfs_buf_resize(struct jfs *fs, struct jfs_strbuf *data, size_t size);
/** Write @size bytes of @buf at @off of @data, zero-filling a gap: 0 or -ENOSPC. [L] */
int jfs_buf_write(struct jfs *fs, struct jfs_strbuf *data, const char *buf, size_t size,
		  off_t off);
/** Make @data hold @len bytes of @buf: 0 or -ENOSPC. [L] */
int jfs_buf_set(struct jfs *fs, struct jfs_strbuf *data, const char *buf, size_t len);
/** Free @data. [L] */
void jfs_buf_release(struct jfs *fs, struct jfs_strbuf *data);
/** Whether any handle exists (a cheap check without the lock). [any] */
bool jfs_handles_any(struct jfs *fs);
/** What a read without a handle was served of @ino in the last @max_age_ms, or NULL. [L] */
struct jfs_read_copy *jfs_read_copy_get(struct jfs *fs, fuse_ino_t ino, int64_t max_age_ms);
/** A malloc()ed copy of what @c holds. [L] */
int jfs_read_copy_dup(const struct jfs_read_copy *c, off_t off, size_t size, char **buf,
		      size_t *len);
/** Keep a copy of @len bytes of @buf as served for @ino. [L] */
void jfs_read_copy_put(struct jfs *fs, fuse_ino_t ino, const char *buf, size_t len);
/** Free the handles of @u and the read copies. [L] */
void jfs_handles_release(struct jfs *fs, struct jfs_user *u);

/* ---- writes (fs/commit.c) ---- */

/**
 * Store @text as the content of element file @sub of @u, the writer having
 * started from @seen (borrowed, may be NULL). 0 or -errno; the reason is
 * logged, kept for user.jovofs.error and .jovofs/errors; a conflicting
 * version is kept under .jovofs/conflicts/. @inval_now: drop the kernel's
 * pages of the file before returning. [U]
 */
int jfs_commit(struct jfs *fs, struct jfs_user *u, unsigned sub, const char *text, size_t len,
	       const json_t *seen, bool inval_now);
/** Commit what was written through write handle @h since its last commit. [U] */
int jfs_commit_handle(struct jfs *fs, struct jfs_handle *h, bool inval_now);
/**
 * The last close of write handle @h: store what is left (errors only
 * logged), and record an empty write (O_TRUNC, nothing written). [U]
 */
void jfs_commit_release(struct jfs *fs, struct jfs_handle *h);
/**
 * close() of a descriptor of write handle @h: commit, then report once a
 * change of its file the store lost since it last looked. [U]
 */
int jfs_commit_flush(struct jfs *fs, struct jfs_handle *h);
/**
 * fsync() of inode @ino (@h: its handle, may be NULL): commit, make that
 * user's changes durable, report once a lost change (write handles). [U]
 */
int jfs_commit_fsync(struct jfs *fs, fuse_ino_t ino, struct jfs_handle *h);
/** Why element file @sub of @u cannot be written, or 0. [L] */
int jfs_check_writable(struct jfs *fs, struct jfs_user *u, unsigned sub);
/** Count a failed write of file @sub of @u and say why (log, xattr). [L] */
void jfs_write_failed(struct jfs *fs, struct jfs_user *u, unsigned sub, int rc,
		      const char *msg);
/** -EROFS, or -EPERM with a log line saying deleting needs allow_delete. [any] */
int jfs_deny_delete(struct jfs *fs, const char *what);
/** "alice/user.json", "alice/history/0.json": how messages name file @sub of @u. [L] */
void jfs_file_label(const struct jfs_user *u, unsigned sub, char *out, size_t size);
/**
 * Take what the store lost since the last call (dropped edits, failed
 * saves) onto the files it belongs to. [U]
 */
void jfs_lost_drain(struct jfs *fs);
/**
 * The reason of the last failed write of file @sub of @u (the directory:
 * of any of its files): a malloc()ed string, or NULL. [L]
 */
char *jfs_last_error(struct jfs_user *u, unsigned sub);
/** Free @u's reasons. [L] */
void jfs_errors_release(struct jfs_user *u);

/* ---- names: create, mkdir, unlink, rmdir, rename (fs/namespace.c) ---- */

void jfs_ns_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   struct fuse_file_info *fi);
void jfs_ns_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  dev_t rdev);
void jfs_ns_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void jfs_ns_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void jfs_ns_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void jfs_ns_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		   const char *newname, unsigned int flags);

#endif
