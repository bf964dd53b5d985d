/*
 * The FUSE layer's state: one struct jfs handed to libfuse as user data
 * (libfuse's passthrough_ll.c does the same with struct lo_data), made of
 * one part per concern. Each part is written only by the file named on
 * it; the functions that do so are declared in fs/fs-internal.h with
 * their lock contracts.
 *
 * Locking. One mutex, jfs.lock, guards every part marked "lock" below and
 * every struct jfs_user. It is never held across a backend call (stores
 * run without it; what they return is installed under it, checked against
 * the user's generation) nor across a reply to the kernel. Two other locks
 * sit below it and are never held while taking it: the status folder's
 * own lock (fs/status.c; the log hook takes it from under any lock) and
 * the store's locks (backends/).
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

#include "common/hmap.h"
#include "policy/policy.h"

/** A backend's own -o option as given (fs/options.c). */
struct jfs_backend_arg {
	char *name;
	char *value;             /* NULL for a flag */
};

/** Mount options (fs/options.c). Set before the session starts, read-only after. */
struct jfs_opts {
	char *config_file;
	struct jfs_backend_arg *bargs; /* backend options, in command-line order */
	size_t nbargs;
	int ro;
	int allow_delete;
	int uid_set, gid_set;
	unsigned uid, gid;
	int umask_set, dmode_set, fmode_set;
	unsigned umask, dmode, fmode;   /* permission bits of directories and files */
	double cache_timeout;    /* seconds: jovofs's record cache and, without a change feed, the kernel's */
	int write_delay_ms;      /* FileDb batching */
	int retry_ms;            /* backend fault retries */
	int timeout_ms;          /* one backend request */
	size_t max_file_size;    /* largest element file a write may make */
	size_t cache_size;       /* bytes of parsed records kept */
	size_t snapshot_max;     /* bytes of renderings readers' snapshots share */
	size_t scratch_max;      /* bytes write buffers and scratch files may hold */
	int core_dump;           /* allow core dumps (they would hold secrets) */
	char *journal;           /* -o journal=PATH|off; NULL: the default place */
	size_t journal_max;      /* bytes before the journal rotates */
	char *mask;              /* -o mask=PATH[:PATH...]: read-only masked view */
	int mask_ids;            /* -o mask_ids: user directories named by their ids' pseudonyms */
	char *metrics_listen;    /* ADDR:PORT of the Prometheus endpoint, NULL: none */
	int check;               /* --check: check the config and the store, mount nothing */
	int show_help;
	int show_version;
	char *nonopt[2];         /* [SOURCE] MOUNTPOINT */
	int nonopts;
};

struct jfs_user;
struct jfs_uent;
struct jfs_scratch;
struct jfs_notice;
struct jfs_status;
struct jfs_journal;
struct jfs_http;
struct jfs_service;

/*
 * The users the mount knows and the listing (fs/users.c). Guarded by lock
 * but where marked.
 *
 * Every id the mount sees gets a slot for the rest of the mount (its inode
 * numbers are made of it) and a compact entry (struct jfs_uent, ~50 bytes
 * and its id's bytes): a listing of a million users needs no more. The
 * struct jfs_user of an id is made the first time a file of it is used.
 * A listing is read by the lister thread and streamed: the first one is
 * served to readdir as its pages arrive; later ones replace the served one
 * when they are complete.
 */
struct jfs_users {
	struct jfs_hmap by_name;   /* struct jfs_user (made ones), by hnode_name */
	struct jfs_uent *ents;     /* slot -> entry */
	size_t nents, ents_alloc;
	uint32_t *buckets;         /* hash of the id -> slot + 1 of the first entry; 0 none */
	size_t nbuckets;           /* a power of two */
	char **chunks;             /* the ids' bytes, back to back (never moved) */
	size_t nchunks, chunk_used, chunk_size;
	/*
	 * -o mask_ids: each slot's pseudonym (its 16 hex digits as a number)
	 * and an index of them, since a pseudonym cannot be decoded to its id.
	 */
	uint64_t *pseud;           /* slot -> pseudonym (ents_alloc of them) */
	uint32_t *pnext;           /* slot -> the next entry in its bucket: slot + 1, 0 none */
	uint32_t *pbuckets;        /* pseudonym -> slot + 1 of the first entry; 0 none */
	size_t npbuckets;          /* a power of two */
	uint32_t *listing;         /* the served listing: slots, in the store's order */
	size_t nlisting, listing_alloc;
	uint32_t *next;            /* a later listing being read */
	size_t nnext, next_alloc;
	uint32_t run;              /* the listing run in progress, or the last one */
	uint32_t done_run;         /* the last run that ended */
	bool running;              /* a run is reading the store */
	bool streaming;            /* ... and fills `listing` itself (no complete one yet) */
	bool complete;             /* `listing` is a whole listing */
	bool want;                 /* a run is asked for */
	bool stopping;             /* the unmount: runs stop, no new one starts */
	bool lister;               /* the lister thread runs (lifecycle only) */
	int last_rc;               /* how the last run ended: 0 or -errno */
	pthread_t thread;          /* lifecycle only */
	pthread_cond_t cond;       /* with lock: a run is asked for, grew, or ended */
	int64_t listed_at;         /* monotonic ms of the last complete listing, 0 never */
	uint64_t list_gen;         /* bumped when a user appears or goes */
	int64_t root_mtime_ms;     /* the root directory's mtime */
	/* names looked up and found missing, oldest first (a negative cache) */
	struct jfs_hmap missing;
	struct jfs_missing *missing_old, *missing_new;
};

/** The record cache's totals (fs/rcache.c). Guarded by lock. */
struct jfs_rcache {
	size_t bytes;              /* estimated bytes of the cached items */
	struct jfs_user *lru_head, *lru_tail; /* most recently used first */
	uint64_t hits, misses, evictions, load_errors;
};

/** Kernel invalidations and the change poller (fs/notify.c). */
struct jfs_notify {
	pthread_cond_t cond;       /* with lock: work for the notify thread, or stop */
	struct jfs_notice *head, *tail; /* lock */
	pthread_t thread, poll_thread;
	bool started;              /* the threads run (set and read by the lifecycle only) */
	bool stopping;             /* lock */
	uint64_t sent;             /* lock: invalidations queued */
};

/*
 * What a read without a file handle (read-only mounts) was served, so the
 * rest of one reader's reads come from the same version (fs/handle.c).
 */
struct jfs_read_copy {
	fuse_ino_t ino;
	char *buf;
	size_t len;
	int64_t at_ms;             /* monotonic */
};

#define JFS_READ_COPIES 8

/** Open file handles (fs/handle.c). */
struct jfs_handles {
	int nhandles;              /* atomic: handles in existence (flush's fast path) */
	struct jfs_hmap renderings; /* lock: struct jfs_rendering by (ino, version) */
	size_t buffered;           /* lock: bytes of write buffers and scratch files,
				    * at most opts.scratch_max */
	size_t rendered_bytes;     /* lock: their total, at most opts.snapshot_max */
	struct jfs_read_copy read_copy[JFS_READ_COPIES]; /* lock */
	unsigned read_copy_next;   /* lock */
};

/** Find views, .jovofs/find/FILTER/ (fs/find.c). Guarded by lock. */
struct jfs_finds {
	struct jfs_hmap by_name;   /* struct jfs_find, by name */
	struct jfs_hmap by_num;    /* the same, by inode number */
	uint64_t next;             /* the last number given out */
	uint64_t gen;              /* bumped by every change the mount makes */
	size_t held;               /* slots held in all results */
	pthread_cond_t cond;       /* with lock: a view's query ended */
};

/** Scratch files (fs/scratch.c). Guarded by lock. */
struct jfs_scratches {
	struct jfs_hmap by_ino;    /* struct jfs_scratch, by hnode */
	uint64_t next;             /* the last number given out */
};

/** Counters of .jovofs/metrics kept by fs/ (each by the file that counts it). Guarded by lock. */
struct jfs_metrics {
	uint64_t fuse_ops;         /* fs/ops.c, fs/namespace.c */
	uint64_t size_hits;        /* fs/node.c */
	uint64_t writes_ok, writes_noop, writes_invalid, writes_conflict, writes_failed,
		writes_lost;       /* fs/commit.c */
	uint64_t creates, removes; /* fs/namespace.c */
};

struct jfs {
	/* set before the session starts, read-only after */
	struct jfs_opts opts;
	json_t *config;                /* the whole config after -o overrides (owned) */
	const char *backend_name;
	struct jfs_policy policy;      /* the only way to the store */
	struct fuse_session *se;
	int64_t start_ms;
	bool change_feed;              /* the store tells us of others' changes */
	double entry_timeout;          /* seconds the kernel may keep entries and attributes */
	/*
	 * Read-only mounts answer OPEN and FLUSH with ENOSYS once: the kernel
	 * then opens and closes files without a round trip.
	 */
	bool no_open;

	pthread_mutex_t lock;          /* the fs lock: see the head of this file */
	/*
	 * Held by jfs_lost_drain() from taking the store's losses to putting
	 * them on their files, so that a drain that found none knows none is
	 * in flight in another thread. Above jfs.lock and the store's locks.
	 */
	pthread_mutex_t lost_lock;
	struct jfs_users users;
	struct jfs_rcache rcache;
	struct jfs_notify notify;
	struct jfs_handles handles;
	struct jfs_scratches scratch;
	struct jfs_finds finds;
	struct jfs_metrics m;
	struct jfs_status *status;     /* its own lock (fs/status.c) */
	struct jfs_journal *journal;   /* its own lock (fs/journal.c); NULL: off */
	struct jfs_mask *mask;         /* -o mask (policy/mask.h), read-only after start; NULL: none */
	const char *mask_key_from;     /* where its key came from, for .jovofs/config */
	bool mask_ids;                 /* -o mask_ids with fs->mask: no raw id is ever shown */
	/* lock: chmod/chown of the root, kept in memory (fs/node.c) */
	struct jfs_meta {
		bool mode_set, uid_set, gid_set;
		mode_t mode;
		uid_t uid;
		gid_t gid;
	} root_meta;
	struct jfs_http *http;         /* the metrics endpoint, NULL: none (fs/http.c) */
	struct jfs_service *service;   /* sd_notify and SIGHUP (fs/service.c) */
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
/**
 * Once the store is open, it holds what it needs of the secrets: wipe them
 * from the parsed config and the environment (the strings themselves, so
 * that /proc/PID/environ shows them no more either).
 */
void jfs_options_forget_secrets(struct jfs *fs);

/* fs/ops.c: the daemon's lifecycle */

/** The low-level operations. */
extern const struct fuse_lowlevel_ops jfs_ll_ops;
/** Set up @fs's tables (after the options and the store's open, before the session). */
int jfs_fs_init(struct jfs *fs);
/** After the store started: read the listing, start the notify and poll threads. */
int jfs_fs_start(struct jfs *fs);
/** Stop the threads jfs_fs_start() started. */
void jfs_fs_stop(struct jfs *fs);
/** Free @fs's tables. */
void jfs_fs_release(struct jfs *fs);

/* fs/status.c: the .jovofs/ folder */

/** Set up the status folder's state. */
struct jfs_status *jfs_status_new(void);
void jfs_status_free(struct jfs_status *st);
/** Record a failure for .jovofs/errors (also called from the log hook, under any lock). */
void jfs_status_error(struct jfs_status *st, const char *msg);
/** The newest line of .jovofs/errors (time and reason, no newline) into @buf; false: none. [any] */
bool jfs_status_last_error(struct jfs_status *st, char *buf, size_t size);
/** .jovofs/metrics, rendered now: a malloc()ed buffer of *@len bytes. Takes the fs lock. [U] */
char *jfs_status_metrics(struct jfs *fs, size_t *len);

/* fs/http.c: the Prometheus endpoint (-o metrics_listen=ADDR:PORT) */

/**
 * Before the fork: a socket listening on @spec ("127.0.0.1:9839",
 * "[::1]:9839"). Returns its fd, or -errno with the reason in @err.
 */
int jfs_http_listen(const char *spec, struct jfs_err *err);
/** After the fork: serve GET /metrics on @fd (taken over, also on failure). NULL: failed. */
struct jfs_http *jfs_http_start(struct jfs *fs, int fd, struct jfs_err *err);
/** Stop serving and close the socket; NULL is a no-op. */
void jfs_http_stop(struct jfs_http *h);
/** How many times /metrics was served. */
uint64_t jfs_http_scrapes(const struct jfs_http *h);

/* fs/service.c: systemd's notify protocol and SIGHUP */

/**
 * Once the mount serves requests: take SIGHUP over (it reloads the
 * store's credentials instead of ending the daemon), and when systemd
 * started us ($NOTIFY_SOCKET) tell it READY=1 and, from then on, STATUS=
 * lines (backend, users, last error). Never fails: what it cannot do it logs.
 */
struct jfs_service *jfs_service_start(struct jfs *fs, const char *mountpoint);
/** The session loop ended: tell systemd STOPPING=1. */
void jfs_service_stopping(struct jfs_service *svc);
/** Stop the thread, let SIGHUP be ignored from now on, free @svc (NULL: no-op). */
void jfs_service_stop(struct jfs_service *svc);

#endif
