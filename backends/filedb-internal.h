/*
 * FileDb internals: the store and what its five files share (like git's
 * refs/refs-internal.h). Nothing outside backends/filedb*.c includes this;
 * the rest of jovofs sees only jfs_backend_filedb.
 *
 *	filedb.c          the ops table, lifecycle, jfs_fdb_refresh() and the ops
 *	filedb_snap.c     the file as last scanned (struct fdb_snap)
 *	filedb_pending.c  the overlay of unsaved edits (struct fdb_pending)
 *	filedb_guard.c    saved edits watched for stale rewrites (struct fdb_guard)
 *	filedb_save.c     the atomic-replace writer and its thread (struct save_op)
 *	filedb_scan.c     the byte-level scanner and index (filedb_scan.h)
 *	filedb_value.c    values picked out of an item's text (jfs_fdb_value_at())
 *	filedb_find.c     list() and find(), over the index and the pending edits
 *
 * Lock words on the declarations below, as in struct filedb_store:
 *	"Under lock"        the caller holds st->lock; no lock is taken
 *	"Takes X"           X are taken and released inside; the caller holds
 *	                    none of X nor any lock after them in the order
 *	"No lock"           touches nothing shared (or only what it owns)
 */
#ifndef JFS_FILEDB_INTERNAL_H
#define JFS_FILEDB_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "backends/backend.h"
#include "backends/filedb_scan.h"
#include "common/err.h"
#include "common/hmap.h"

/* What identifies one version of the file. */
struct fdb_ident {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
	mode_t mode; /* not compared: the mode a save gives its new file */
	uid_t uid;
	gid_t gid;
};

/*
 * An index of one version of the file, shared by reference count. fd,
 * ident and idx are set before the snapshot is published (st->cur) and
 * never change after: whoever holds a reference reads them without a lock.
 */
struct fdb_snap {
	int refs;                  /* atomic */
	int fd;                    /* the scanned (or written) file, for pread */
	struct fdb_ident ident;
	bool racy;                 /* written in the scan's clock tick: may change unseen;
				      after publication guarded by st->lock */
	struct jfs_fdb_index idx;
};

enum pend_kind {
	P_MODIFY, /* edits of an item in the file */
	P_PUT,    /* a new item, appended at the end */
	P_REMOVE, /* the item is deleted */
};

/* The unsaved changes of one id. In st->pending: every field guarded by st->lock. */
struct fdb_pending {
	struct jfs_hnode node;    /* in st->pending, by jfs_fdb_hash() of id */
	char *id;
	enum pend_kind kind;
	bool replace;             /* P_PUT: the file still holds an older item of this id */
	uint64_t version;         /* st->seq at the last change */
	uint64_t put_version;     /* P_PUT: st->seq when created */
	uint64_t create_seq;      /* P_PUT: order at the end of the file */
	/*
	 * The accumulated patch: set holds key -> new value, unset the keys
	 * removed, an array as in struct jfs_patch (a key is in one or
	 * neither). P_MODIFY keeps no item, only what it needs to re-apply the
	 * patch onto a fresh record and to see a conflict: base holds, for
	 * every touched key, its value in the file's item (absent: absent
	 * there), and base_hash the hash of that item's bytes. Values are never
	 * modified once stored.
	 */
	json_t *set;
	json_t *unset;
	json_t *base;
	uint64_t base_hash;
	json_t *result;           /* P_PUT: the new item; never modified */
	/*
	 * P_REMOVE: whether the file held the item when the removal was
	 * accepted (base_hash: its bytes' hash). Another writer that changes
	 * it, or creates it, before the save wins: the removal is dropped.
	 */
	bool remove_had;
	bool reapply;             /* P_MODIFY: only a guard's re-apply, no edit since */
	bool fail_reported;       /* a failed save was reported since the last change */
	int64_t since_ms;         /* monotonic: the first change not yet saved (metrics) */
	int64_t touched_ms;       /* monotonic: the last change */
};

/*
 * An accepted change that was lost, until failures() reports it. In
 * st->fail_head's list: guarded by st->lock; failures() takes the whole
 * list under the lock and owns it after.
 */
struct fdb_failure {
	struct fdb_failure *next;
	char *id;
	json_t *keys;             /* the item's keys it touched; NULL: the whole item */
	struct jfs_err err;
};

/*
 * A saved edit, watched for a while (st->guard_ms). A Jovo app reads the
 * whole file, handles a request and writes its in-memory copy back in
 * place: when our save lands between its read and its write, it writes the
 * edited user back as it was before the edit. Such a revert is told from a
 * real change by the touched keys holding exactly a value they held before
 * one of our saves (a "state"), and undone by applying the edit again.
 * In st->guards: every field guarded by st->lock.
 */
struct fdb_guard {
	struct jfs_hnode node;           /* in st->guards, by jfs_fdb_hash() of id */
	struct fdb_guard *older, *newer; /* by last save: oldest expires first */
	char *id;
	int64_t expires_ms;
	uint64_t hash;     /* the item's bytes as last seen holding the edit */
	size_t cost;       /* bytes counted against MAX_GUARD_BYTES */
	json_t *set;       /* the saved patch: key -> value ... */
	json_t *unset;     /* ... and the keys removed, as in struct fdb_pending */
	json_t *states;    /* array of objects: the touched keys' values before a save */
	unsigned reapplied;
};

/*
 * One pending change as a save saw it: owned by the saving thread, no
 * value shared with the pending set (copies), so it is read without a lock.
 */
struct save_op {
	char *id;
	enum pend_kind kind;
	bool replace;
	bool reapply;         /* P_MODIFY: a guard's re-apply only */
	uint64_t version;
	uint64_t create_seq;
	json_t *set, *unset;  /* P_MODIFY: deep copies of the patch */
	json_t *base;         /* P_MODIFY: a copy of its base */
	uint64_t base_hash;   /* P_MODIFY */
	json_t *result;       /* P_PUT: new reference */
	bool written;         /* the save wrote the item */
	uint64_t hash;        /* of what it wrote */
	uint64_t len;         /* its length */
};

/*
 * A walk over the keys a patch touches: @set's keys (an object), then
 * @unset's (an array of keys). Start it as { .set = s, .unset = u }; the
 * walked objects must not change during the walk.
 */
struct fdb_touched {
	const json_t *set, *unset;
	void *iter;               /* in set */
	size_t i;                 /* in unset */
	bool started;
	bool in_unset;            /* the key last returned is one of unset's */
};

/*
 * One open FileDb file.
 *
 * Lock order: save_lock -> scan_lock -> lock. A thread holding one of them
 * takes only those to its right; lock is dropped before scan_lock or
 * save_lock is taken (jfs_fdb_save() holds save_lock across a whole save,
 * which takes scan_lock, and lock inside it). The condition variables wait
 * on lock. No lock is held while calling back into the caller (failures(),
 * changes()). No long I/O runs under lock: a rescan reads the file with
 * scan_lock alone and swaps st->cur under lock; a save writes its new file
 * from a snapshot with no lock and renames it with scan_lock alone. Under
 * lock, only jfs_fdb_guard_check() and jfs_fdb_pend_rebase() read, one
 * item for each guarded or pending id whose bytes a rescan found changed.
 *
 * Fields marked "set by open" are written before any other op runs and
 * read without a lock. close() runs alone: once the writer is joined, it
 * reads the pending set and the guards without the lock.
 */
struct filedb_store {
	struct jfs_store base;     /* set by open */
	char *path;                /* set by open: absolute */
	char *dir;                 /* set by open: path's directory */
	bool read_only;            /* set by open */
	int64_t retry_ms;          /* set by open */
	int64_t write_delay_ms;    /* set by open */

	pthread_mutex_t save_lock; /* one save at a time: taken first, by jfs_fdb_save() only */
	pthread_mutex_t scan_lock; /* serialises rescans and the check-and-rename of a save:
				      st->cur only changes with it held; taken before lock */
	pthread_mutex_t lock;      /* the fields marked "guarded by lock"; taken last */
	pthread_cond_t wake;       /* to the writer: work or stop (waits on lock) */
	pthread_cond_t saved;      /* to sync(): a save attempt ended (waits on lock) */

	struct fdb_snap *cur;      /* the last good index; never NULL after open. Guarded
				      by lock; replaced only with scan_lock held too */
	bool bad;                  /* the file at bad_ident failed to scan; guarded by lock */
	struct fdb_ident bad_ident; /* guarded by lock */
	struct jfs_err bad_err;    /* guarded by lock */

	struct jfs_hmap pending;   /* struct fdb_pending by id; guarded by lock */
	uint64_t seq;              /* guarded by lock */
	uint64_t create_seq;       /* guarded by lock */
	int64_t due_ms;            /* monotonic time of the next save, 0: none; guarded by lock */
	bool urgent;               /* guarded by lock */
	uint64_t fail_gen;         /* guarded by lock */
	struct jfs_err save_err;   /* the last failed save; guarded by lock */
	struct fdb_failure *fail_head, **fail_tail; /* lost changes, oldest first;
						       guarded by lock */
	size_t nfail;              /* guarded by lock */

	char **changed;            /* ids seen changing in rescans, for changes();
				      guarded by lock */
	size_t nchanged, changed_alloc; /* guarded by lock */

	int64_t guard_ms;          /* set by open; 0: saved edits are not guarded */
	struct jfs_hmap guards;    /* struct fdb_guard by id; guarded by lock */
	size_t guard_bytes;        /* guarded by lock */
	struct fdb_guard *goldest, *gnewest; /* guarded by lock */

	pthread_t thread;          /* the writer; start() and close() only */
	bool started;              /* start() and close() only */
	bool running, stop;        /* guarded by lock */
};

/* ---- filedb.c ---- */

/**
 * Make st->cur describe the file as it is now (a stat, or a rescan that
 * re-applies pending edits; @force rescans anyway). Returns 0, or -EIO
 * with the reason in @err (st->cur stays the last good one).
 * Takes scan_lock and lock.
 */
int jfs_fdb_refresh(struct filedb_store *st, bool force, struct jfs_err *err);

/** No lock. @store as the filedb store it must be (aborts, saying so, otherwise). */
struct filedb_store *jfs_fdb_from_store(struct jfs_store *store, const char *caller);

/** The ops list() and find() (filedb_find.c). Take scan_lock and lock. */
int jfs_fdb_list(struct jfs_store *store, const char *cursor, size_t limit,
		 struct jfs_list_page *page, struct jfs_err *err);
int jfs_fdb_find_op(struct jfs_store *store, const struct jfs_filter *f, jfs_found_fn *fn,
		    void *data, struct jfs_err *err);

/**
 * find() with filter @f (not NULL): every user whose record matches, to
 * @fn page by page. 0, -ECANCELED when @fn stopped it, or -errno.
 * Takes scan_lock and lock (to copy the pending edits), reads the file
 * with neither held.
 */
int jfs_fdb_find(struct filedb_store *st, const struct jfs_filter *f, jfs_found_fn *fn,
		 void *data, struct jfs_err *err);

/** No lock. @item's @key ("createdAt", "updatedAt") in ms, -1 when absent or not ISO. */
int64_t jfs_fdb_item_time(const json_t *item, const char *key);

/* ---- filedb_snap.c ---- */

/** No lock. Compares two timespecs: <0, 0, >0. */
int jfs_fdb_ts_cmp(const struct timespec *a, const struct timespec *b);

/** No lock. Fills @id from @sb. */
void jfs_fdb_ident_from_stat(struct fdb_ident *id, const struct stat *sb);

/** No lock. Whether @a and @b are the same version (dev, ino, size, mtime). */
bool jfs_fdb_ident_eq(const struct fdb_ident *a, const struct fdb_ident *b);

/** No lock. The identity of st->path now; -errno (zero identity) when stat fails. */
int jfs_fdb_stat_path(struct filedb_store *st, struct fdb_ident *id, struct jfs_err *err);

/** No lock. pread() all @len bytes at @off; -EAGAIN when the file ended early. */
int jfs_fdb_pread_full(int fd, void *buf, size_t len, uint64_t off);

/** No lock. Take a reference to @s. */
void jfs_fdb_snap_get(struct fdb_snap *s);

/** No lock. Drop a reference to @s (may be NULL); the last one frees it. */
void jfs_fdb_snap_put(struct fdb_snap *s);

/** No lock. A new empty snapshot holding one reference; aborts on out-of-memory. */
struct fdb_snap *jfs_fdb_snap_new(void);

/**
 * Any lock state (does a pread). Parse item @i of @s: 0 and a new
 * reference in *@out; -EAGAIN when the bytes changed in place; -EIO when
 * it does not parse.
 */
int jfs_fdb_snap_read_item(struct filedb_store *st, struct fdb_snap *s, size_t i, json_t **out,
			   struct jfs_err *err);

/**
 * No lock (the caller holds scan_lock, or runs alone at open). Scan the
 * file into a new snapshot *@out, retrying up to st->retry_ms while it is
 * half-written; *@seen is the identity of the last attempt.
 */
int jfs_fdb_scan_retry(struct filedb_store *st, struct fdb_snap **out, struct fdb_ident *seen,
		       struct jfs_err *err);

/** Under lock. Ids whose bytes differ between @old and @new go to st->changed. */
void jfs_fdb_diff_indexes(struct filedb_store *st, const struct jfs_fdb_index *old,
			  const struct jfs_fdb_index *new);

/* ---- filedb_pending.c ---- */

/** No lock. The pending entry that embeds @node. */
struct fdb_pending *jfs_fdb_pend_of(struct jfs_hnode *node);

/** Under lock. The pending change of @id, or NULL. Borrowed. */
struct fdb_pending *jfs_fdb_pend_find(struct filedb_store *st, const char *id);

/** Under lock. A new, empty pending entry of @id in st->pending. Borrowed. */
struct fdb_pending *jfs_fdb_pend_add(struct filedb_store *st, const char *id,
				     enum pend_kind kind);

/** Under lock (or @e not shared). Drop @e's patch, base and result. */
void jfs_fdb_pend_clear(struct fdb_pending *e);

/** Under lock. Remove @e from st->pending and free it; due_ms is 0 when none is left. */
void jfs_fdb_pend_del(struct filedb_store *st, struct fdb_pending *e);

/** Under lock. @e changed: new version, and a save is scheduled. */
void jfs_fdb_pend_touched(struct filedb_store *st, struct fdb_pending *e);

/**
 * Under lock; drops and retakes it while waiting (up to ROOM_WAIT_MS)
 * for room in a full pending set. Returns 0 or -EAGAIN.
 */
int jfs_fdb_pend_wait_room(struct filedb_store *st, struct jfs_err *err);

/** Under lock. Whether a change of @id (NULL: any) made at or before @version is pending. */
bool jfs_fdb_pend_waiting(struct filedb_store *st, const char *id, uint64_t version);

/** Under lock. Whether @e's patch sets or unsets @key. */
bool jfs_fdb_pend_touches(const struct fdb_pending *e, const char *key);

/**
 * Under lock. Merge @set (borrowed; the caller's own copy, its values
 * are shared with @e after) and @unset (borrowed array of keys) into @e's
 * patch; @file_item (borrowed, may be NULL) gives P_MODIFY's base values.
 */
void jfs_fdb_pend_merge_patch(struct fdb_pending *e, json_t *set, const json_t *unset,
			      const json_t *file_item);

/** Under lock. Whether the keys @patch touches are all touched by @e already. */
bool jfs_fdb_pend_covers(const struct fdb_pending *e, const struct jfs_patch *patch);

/**
 * No lock. @item (borrowed) with @set (object) and @unset (array of keys)
 * applied by jfs_patch_apply(); either may be NULL. A new reference that
 * shares values with @item and @set; aborts on out-of-memory.
 */
json_t *jfs_fdb_apply(const json_t *item, const json_t *set, const json_t *unset);

/** No lock. Whether @a and @b (may be NULL: absent) differ as JavaScript values. */
bool jfs_fdb_values_differ(const json_t *a, const json_t *b);

/** Under lock. @e's base becomes @item's values (borrowed, deep-copied) of its keys. */
void jfs_fdb_pend_rebase_onto(struct fdb_pending *e, const json_t *item, uint64_t hash);

/** Under lock. Queue a lost change of @id for failures(); takes @keys (or NULL). */
void jfs_fdb_fail_add_new(struct filedb_store *st, const char *id, json_t *keys,
			  const struct jfs_err *e);

/** No lock (the caller's). The next key (borrowed from set or unset), or NULL after the last. */
const char *jfs_fdb_touched_next(struct fdb_touched *t);

/** No lock. The keys @set (object) and @unset (array) touch: a new reference (array). */
json_t *jfs_fdb_keys_of(const json_t *set, const json_t *unset);

/** Under lock. What @e touches: a new reference (array of keys), NULL for the whole item. */
json_t *jfs_fdb_pend_keys(const struct fdb_pending *e);

/** Under lock. Note @id (copied) for changes(). */
void jfs_fdb_changed_add(struct filedb_store *st, const char *id);

/**
 * Under lock, after st->cur changed to a rescan of a foreign write:
 * re-apply pending edits onto the fresh records, dropping conflicts.
 */
void jfs_fdb_pend_rebase(struct filedb_store *st);

/* ---- filedb_guard.c ---- */

/** Under lock. Forget guard @g. */
void jfs_fdb_guard_del(struct filedb_store *st, struct fdb_guard *g);

/** Under lock, after a save wrote @op (a P_MODIFY; borrowed): guard it until @now + guard_ms. */
void jfs_fdb_guard_saved(struct filedb_store *st, const struct save_op *op, int64_t now);

/**
 * Under lock, after st->cur changed to a rescan of a foreign write and
 * before jfs_fdb_pend_rebase(): re-apply guarded edits a stale writer undid.
 */
void jfs_fdb_guard_check(struct filedb_store *st);

/* ---- filedb_save.c ---- */

/** No lock. pwrite() all @len bytes at @off. */
int jfs_fdb_write_full(int fd, const void *buf, size_t len, uint64_t off);

/** No lock. fsync the directory @dir. */
int jfs_fdb_fsync_dir(const char *dir);

/**
 * No lock. Where a save replaces the file: st->path, or the file it leads
 * to when it is a symbolic link (a rename over the link would leave the
 * target behind), and that file's directory; both malloc'd.
 */
int jfs_fdb_target(struct filedb_store *st, char **path, char **dir, struct jfs_err *err);

/**
 * No lock. 0 when a save can give the new file the owner and group of the
 * version @id describes; -EACCES with the reason and the way out in @err.
 */
int jfs_fdb_can_keep_owner(const struct filedb_store *st, const struct fdb_ident *id,
			   struct jfs_err *err);

/**
 * Save all pending changes in one atomic replace, retrying while the file
 * changes under it. Returns 0 or -errno (reason in @err).
 * Takes save_lock, scan_lock and lock.
 */
int jfs_fdb_save(struct filedb_store *st, struct jfs_err *err);

/** Under lock. A save failed with @e: remember it, report each change it held once. */
void jfs_fdb_save_failed(struct filedb_store *st, const struct jfs_err *e);

/** The write-back thread (@arg: the store). Takes lock; drops it to call jfs_fdb_save(). */
void *jfs_fdb_writer_main(void *arg);

#endif
