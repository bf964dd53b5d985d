/*
 * The journal: every change the mount makes, one JSON line each, written
 * and fsynced before the store is asked to make it (write-ahead), so a
 * crash never leaves a stored change without its entry. A change the
 * store then did not make gets a later line that says so ("of": its seq).
 *
 *   {"seq":7,"time":"...","user":"...","element":"user","op":"write",
 *    "before":{...},"after":{...},"uid":1000,"pid":4242,"comm":"vim",
 *    "backend":"filedb"}
 *   {"of":7,"time":"...","outcome":"failed","errno":"ESTALE","reason":"..."}
 *
 * Lines are appended with O_APPEND by one process; concurrent writers
 * share fsyncs (group commit). Past max_bytes the file is renamed to
 * PATH.1 (replacing the one before) and a new one begun. seq continues
 * from the last entry found in the files at open.
 *
 * The fs layer gives each FUSE thread its writer (jfs_journal_who()) and,
 * where the policy cannot tell, the operation (jfs_journal_as()): those are
 * per thread and read by the policy's hook on the same thread.
 */
#ifndef JFS_JOURNAL_H
#define JFS_JOURNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "policy/policy.h"

struct jfs_journal;

/** Who makes a change: from the FUSE request (comm from /proc). */
struct jfs_writer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char comm[17];
};

/** Fill @w for process @pid (its comm read now; "" when it is gone). [any] */
void jfs_writer_fill(struct jfs_writer *w, uid_t uid, gid_t gid, pid_t pid);

/** This thread's writer from now on (copied; NULL: none). [any] */
void jfs_journal_who(const struct jfs_writer *w);

/**
 * This thread's next changes are @op ("rename", NULL: what the policy says)
 * undoing entry @undoes (0: none). [any]
 */
void jfs_journal_as(const char *op, uint64_t undoes);

/**
 * Open (create, mode 0600, and the missing directories, 0700) the journal
 * at @path for appending; @max_bytes 0: never rotated. @backend is written
 * into each entry. Returns 0 or -errno with the reason in @err.
 */
int jfs_journal_open(const char *path, uint64_t max_bytes, const char *backend,
		     struct jfs_journal **out, struct jfs_err *err);

/**
 * Open @path to read it only (a read-only mount shows the journal others
 * wrote); a missing file is no error. Appending to it fails with EROFS.
 */
int jfs_journal_open_ro(const char *path, struct jfs_journal **out, struct jfs_err *err);

void jfs_journal_close(struct jfs_journal *j);

const char *jfs_journal_path(const struct jfs_journal *j);

/** Hooks for struct jfs_policy_journal (@data: the journal). */
int jfs_journal_intent(void *data, const struct jfs_change *c, uint64_t *seq,
		       struct jfs_err *err);
void jfs_journal_failed(void *data, uint64_t seq, int rc, const char *why);

/**
 * An accepted change of user @id was lost before it was saved (FileDb):
 * @elems as jfs_policy_lost_fn's. Marks the latest entries of those
 * elements this process wrote.
 */
void jfs_journal_lost(struct jfs_journal *j, const char *id, unsigned elems, const char *why);

/**
 * The newest entries, whole lines, oldest first, at most @max bytes
 * (malloc'ed, *@len set).
 */
char *jfs_journal_recent(struct jfs_journal *j, size_t max, size_t *len);

/**
 * Entry @seq (new reference) and, in *@outcome (new reference, NULL when
 * none), the last line that says what became of it. -ENOENT when it is in
 * neither file.
 */
int jfs_journal_find(struct jfs_journal *j, uint64_t seq, json_t **entry, json_t **outcome,
		     struct jfs_err *err);

/**
 * Where the journal of the store @describe (a backend's describe()) goes
 * by default: /var/lib/jovofs/NAME.journal for root, else
 * $XDG_STATE_HOME/jovofs/NAME.journal (~/.local/state/jovofs/...), NAME
 * from the store's target (file path, region and table, database and
 * collection). malloc'ed; NULL when there is no home to put it in.
 */
char *jfs_journal_default_path(const json_t *describe);

#endif
