/* ISO-8601 timestamps as JavaScript's Date.toISOString() writes them. */
#ifndef JFS_ISOTIME_H
#define JFS_ISOTIME_H

#include <stdbool.h>
#include <stdint.h>

#define JFS_ISO_LEN 24 /* "2026-11-20T10:02:11.482Z" */

/**
 * Parse an ISO-8601 date-time: "YYYY-MM-DDTHH:MM[:SS[.fff...]]" followed by
 * "Z" or "+HH:MM"/"-HH:MM" (also "YYYY-MM-DD", midnight UTC). Stores
 * milliseconds since the epoch in *@ms. Returns false when @s is not one.
 */
bool jfs_iso_parse(const char *s, int64_t *ms);

/** Write @ms as "YYYY-MM-DDTHH:MM:SS.sssZ" into @out (32 bytes). */
void jfs_iso_format(int64_t ms, char *out);

/** Now, in milliseconds since the epoch (CLOCK_REALTIME). */
int64_t jfs_now_ms(void);

#endif
