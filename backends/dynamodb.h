/*
 * Test-only entry points of the DynamoDb backend (the backend itself is
 * reached through jfs_backend_dynamodb and the registry).
 */
#ifndef JFS_DYNAMODB_H
#define JFS_DYNAMODB_H

#include "backends/backend.h"

/**
 * Send one signed request, once (no retry), exactly as the backend sends
 * its own: POST @body to the endpoint with "X-Amz-Target:
 * DynamoDB_20120810.@op" and the extra @headers (NULL-terminated "Name:
 * value" strings, may be NULL; a test fixes the signing time with an
 * "X-Amz-Date:" header here). Works on an opened store that was not
 * started. Returns 0 when an HTTP answer came (*@status and a malloc()ed
 * *@resp, owned by the caller), else -EIO with curl's reason in @err.
 */
int jfs_dynamodb_debug_request(struct jfs_store *st, const char *op, const char *body,
			       const char *const *headers, long *status, char **resp,
			       struct jfs_err *err);

#endif
