/* ISO-8601 timestamps as JavaScript's Date.toISOString() writes them. */
#ifndef JFS_ISOTIME_H
#define JFS_ISOTIME_H

#include <stdbool.h>
#include <stdint.h>

#define JFS_ISO_LEN 24 /* "2026-11-20T10:02:11.482Z" */

/* The moments jfs_iso_format() writes in that form: years 0000 to 9999 in UTC */
#define JFS_ISO_MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define JFS_ISO_MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */

/**
 * Parse an ISO-8601 date-time: "YYYY-MM-DDTHH:MM[:SS[.fff...]]" followed by
 * "Z" or "+HH:MM"/"-HH:MM" (also "YYYY-MM-DD", midnight UTC). Stores
 * milliseconds since the epoch in *@ms. Returns false when @s is not one,
 * or names a moment outside JFS_ISO_MIN_MS..JFS_ISO_MAX_MS (an offset can
 * push "0000-01-01T00:30+01:00" into year -1), which jfs_iso_format()
 * could not write back in the same form.
 */
bool jfs_iso_parse(const char *s, int64_t *ms);

/** Write @ms as "YYYY-MM-DDTHH:MM:SS.sssZ" into @out (32 bytes). */
void jfs_iso_format(int64_t ms, char *out);

/** Now, in milliseconds since the epoch (CLOCK_REALTIME). */
int64_t jfs_now_ms(void);

#endif
