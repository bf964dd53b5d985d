/* Error details that travel beside a -errno return. */
#ifndef JFS_ERR_H
#define JFS_ERR_H

#include <stdarg.h>

/** Caller-owned error detail, like jansson's json_error_t. */
struct jfs_err {
	int code;      /**< positive errno, 0 when no error was recorded */
	char msg[256]; /**< lowercase, no final period, subject quoted */
};

/** Reset @err to "no error". */
void jfs_err_clear(struct jfs_err *err);

/**
 * Record errno @code and a printf-formatted message in @err (may be NULL).
 * Returns -@code, so callers can write `return jfs_err_set(err, EIO, ...)`.
 */
int jfs_err_set(struct jfs_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** Prefix the message already in @err with a printf-formatted context. */
void jfs_err_prefix(struct jfs_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
