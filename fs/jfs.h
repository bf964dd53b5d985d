/*
 * The FUSE layer's state: one struct jfs handed to libfuse as user data.
 *
 * Inode numbers are computed, not allocated: a user gets a slot when the
 * mount first sees its id (slots are never reused while mounted) and its
 * directory and files are (slot + 1) << 12 | sub. The kernel's lookup
 * counts matter only for scratch files, the one kind of node with memory
 * of its own.
 */
#ifndef JFS_FS_H
#define JFS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backends/backend.h"
#include "common/hmap.h"
#include "policy/policy.h"

/* fixed inodes */
#define JFS_INO_ROOT      1
#define JFS_INO_STATUS    2   /* .jovofs/ */
#define JFS_INO_S_CONFIG  3
#define JFS_INO_S_METRICS 4
#define JFS_INO_S_ERRORS  5
#define JFS_INO_S_CONFL   6   /* .jovofs/conflicts/ */

/* user nodes: (slot + 1) << JFS_SUB_BITS | sub */
#define JFS_SUB_BITS      12
#define JFS_SUB_DIR       0
#define JFS_SUB_USER      1
#define JFS_SUB_SESSION   2
#define JFS_SUB_HISTDIR   3
#define JFS_SUB_CREATED   4
#define JFS_SUB_UPDATED   5
#define JFS_SUB_RECORD    6
#define JFS_SUB_HIST0     16  /* history/N.json is JFS_SUB_HIST0 + N */
#define JFS_SUB_COUNT     (1 << JFS_SUB_BITS)
#define JFS_HIST_MAX      (JFS_SUB_COUNT - JFS_SUB_HIST0)

/* scratch files and conflict files live in their own ranges */
#define JFS_INO_SCRATCH_BIT  (1ULL << 62)
#define JFS_INO_CONFLICT_BIT (1ULL << 61)

#define JFS_STATUS_NAME ".jovofs"

/** A backend's own -o option as given (fs/options.c). */
struct jfs_backend_arg {
	char *name;
	char *value;             /* NULL for a flag */
};

/** Mount options (fs/options.c). */
struct jfs_opts {
	char *config_file;
	struct jfs_backend_arg *bargs; /* backend options, in command-line order */
	size_t nbargs;
	int ro;
	int allow_delete;
	int uid_set, gid_set;
	unsigned uid, gid;
	double cache_timeout;    /* seconds: jovofs's record cache and, without a change feed, the kernel's */
	int write_delay_ms;      /* FileDb batching */
	int retry_ms;            /* backend fault retries */
	int timeout_ms;          /* one backend request */
	size_t max_file_size;    /* largest element file a write may make */
	size_t cache_size;       /* bytes of parsed records kept */
	int show_help;
	int show_version;
	char *nonopt[2];         /* [SOURCE] MOUNTPOINT */
	int nonopts;
};

struct jfs_scratch;
struct jfs_handle;

/** What the mount knows of one user. Guarded by jfs.lock. */
struct jfs_user {
	char *id;
	size_t id_len;
	char *name;             /* directory name (fs/idcodec.h) */
	uint64_t slot;
	bool exists;            /* in the store as far as we know */
	int64_t created_ms;     /* from the listing or the item, -1 unknown */
	int64_t updated_ms;

	json_t *item;           /* cached item (immutable, shared), NULL when not loaded */
	json_t *prev_item;      /* the different item it replaced, while item is cached */
	int64_t changed_ms;     /* monotonic ms of the last change seen, 0 never */
	int64_t loaded_ms;      /* monotonic ms of the load */
	uint64_t gen;           /* bumped whenever item changes */
	size_t item_cost;       /* estimated bytes */
	struct jfs_user *lru_prev, *lru_next;

	/*
	 * The item whose content was last read through the mount (new ref),
	 * kept when the cache reloads a newer one: a write is conditional on
	 * the version its writer read, not on whatever is stored by then.
	 */
	json_t *served;

	/*
	 * Rendered sizes of the element files (index: sub, history items at
	 * JFS_SUB_RECORD + 1 + N), so a stat needs no record: 0 unknown, 1 no
	 * such file, else size + 2. Kept across cache evictions while the
	 * record is known not to have changed.
	 */
	uint32_t fsize[JFS_SUB_RECORD + 1 + 8];
	/*
	 * The size the kernel was last given for each of those files (the
	 * session's too), same encoding: a read through the page cache that
	 * would render another size is served prev_item's version when that
	 * has this size, else the kernel is made to refetch (fs/ops.c,
	 * same_size_version()).
	 */
	uint32_t told[JFS_SUB_RECORD + 1 + 8];

	char *last_error[JFS_SUB_RECORD + 2]; /* per file kind (history items share one) */
	/*
	 * Per file kind too: how many accepted changes of it the store lost
	 * later (a dropped edit, a failed save), and the errno of the last.
	 * A write handle reports each one once (like the kernel's errseq_t).
	 */
	uint64_t lost_seq[JFS_SUB_RECORD + 2];
	int lost_errno[JFS_SUB_RECORD + 2];
	struct jfs_handle *handles;    /* element files open for writing */
	struct jfs_scratch *scratch;          /* scratch files in this user's dirs */
	struct jfs_hnode hnode_id, hnode_name; /* in jfs_utable.by_id, .by_name */
};

/** The users, by id and by name (struct jfs_user, linked by hnode_id/hnode_name). */
struct jfs_utable {
	struct jfs_hmap by_id, by_name;
	struct jfs_user **slots;   /* slot -> user */
	size_t nslots, slots_alloc;
};

/** Counters for .jovofs/metrics. */
struct jfs_metrics {
	uint64_t fuse_ops;
	uint64_t size_hits;
	uint64_t loads, load_errors;
	uint64_t writes_ok, writes_noop, writes_invalid, writes_conflict, writes_failed;
	uint64_t creates, removes;
	uint64_t writes_lost;
	uint64_t cache_hits, cache_misses, evictions;
	uint64_t invalidations;
};

struct jfs_status;

struct jfs {
	struct jfs_opts opts;
	json_t *config;                /* the whole config after -o overrides (owned) */
	const char *backend_name;
	struct jfs_policy policy;      /* the only way to the store */
	struct fuse_session *se;

	int nhandles;                    /* write buffers in existence (atomic): flush's fast path */
	pthread_mutex_t lock;          /* everything below */
	struct jfs_utable users;
	struct jfs_user **listing;     /* users in listing order */
	size_t nlisting;
	int64_t listed_at;             /* monotonic ms, 0 never */
	uint64_t list_gen;
	int64_t root_mtime_ms;
	size_t cache_bytes;
	struct jfs_user *lru_head, *lru_tail;
	uint64_t next_scratch;
	struct jfs_metrics m;
	struct jfs_status *status;

	bool change_feed;              /* the backend tells us of foreign changes */
	double entry_timeout;          /* seconds the kernel may keep entries/attrs */
	pthread_t poll_thread, notify_thread;
	bool threads_started;
	bool stopping;
	pthread_cond_t notify_cond;
	struct jfs_notify *notify_head, *notify_tail;
	int64_t start_ms;

	/*
	 * Read-only mounts answer OPEN and FLUSH with ENOSYS once: the kernel
	 * then opens and closes files without a round trip. Reads of one
	 * version then need these two caches (guarded by lock).
	 */
	bool no_open;
	struct jfs_read_copy {
		fuse_ino_t ino;
		char *buf;
		size_t len;
		int64_t at_ms;     /* monotonic */
	} read_copy[8];
	unsigned read_copy_next;
};

/** The struct jfs of a request (libfuse's passthrough_ll.c calls this lo_data). */
static inline struct jfs *jfs_ctx(fuse_req_t req)
{
	return (struct jfs *)fuse_req_userdata(req);
}

/* fs/options.c */

/**
 * Parse the command line into @fs->opts and the config (file, -o
 * overrides, environment) into @fs->config; pick the backend. Arguments
 * for libfuse stay in @args. Returns 0, or -1 after printing why.
 */
int jfs_options_parse(struct jfs *fs, struct fuse_args *args);
/** Print --help. */
void jfs_options_usage(const char *prog);
/** Free what jfs_options_parse() set. */
void jfs_options_release(struct jfs *fs);

/* fs/ops.c */

/** The low-level operations. */
extern const struct fuse_lowlevel_ops jfs_ll_ops;
/** Set up @fs's tables (after options, before the session). */
int jfs_fs_init(struct jfs *fs);
/** After the store started: read the listing, start the notify and poll threads. */
int jfs_fs_start(struct jfs *fs);
/** Stop the threads jfs_fs_start() started. */
void jfs_fs_stop(struct jfs *fs);
/** Free @fs's tables. */
void jfs_fs_release(struct jfs *fs);

/* fs/status.c: the .jovofs/ folder */

/** Set up the status folder's state; hooks jfs_log for the errors file. */
struct jfs_status *jfs_status_new(void);
void jfs_status_free(struct jfs_status *st);
/** Record a failure for .jovofs/errors (also called from the log hook). */
void jfs_status_error(struct jfs_status *st, const char *msg);
/**
 * Keep rejected content under .jovofs/conflicts/. Returns the file's name
 * (malloc()ed) or NULL.
 */
char *jfs_status_conflict(struct jfs_status *st, const char *user_name, const char *file,
			  const char *data, size_t len);
/** Render status file @ino into a malloc()ed buffer (caller holds fs->lock). */
char *jfs_status_render(struct jfs *fs, fuse_ino_t ino, size_t *len);
/** Conflict files: count, name and content by index / inode. */
size_t jfs_status_conflict_count(struct jfs_status *st);
const char *jfs_status_conflict_name(struct jfs_status *st, size_t i, fuse_ino_t *ino);
bool jfs_status_conflict_get(struct jfs_status *st, fuse_ino_t ino, const char **data,
			     size_t *len, int64_t *ms);
/** Remove conflict file @name; 0 or -ENOENT. */
int jfs_status_conflict_remove(struct jfs_status *st, const char *name);

#endif
