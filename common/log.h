/* Logging on top of fuse_log: stderr in the foreground, syslog when daemonized. */
#ifndef JFS_LOG_H
#define JFS_LOG_H

#include <stddef.h>
#include <syslog.h>

/**
 * Log at a syslog @level (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG). One
 * message is one line: control characters in it (a user id is anything a
 * client chose, newlines included) are written as \xNN, so no id can
 * forge a line of the log or of .jovofs/errors.
 */
void jfs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Copy @in to @out (@size bytes, NUL-terminated) with control characters
 * and backslashes escaped (\xNN, \\): what jfs_log() does to a message.
 * Returns @out.
 */
char *jfs_log_escape(const char *in, char *out, size_t size);

/** Messages above @level are dropped (default LOG_INFO; -d sets LOG_DEBUG). */
void jfs_log_set_level(int level);

/** Send further messages to syslog instead of stderr (after daemonizing). */
void jfs_log_use_syslog(void);

/**
 * Optional hook called for every message at LOG_WARNING or worse, so the
 * status folder can keep the recent failures. Thread-safe callers only.
 */
void jfs_log_set_hook(void (*hook)(void *data, int level, const char *msg), void *data);

#endif
