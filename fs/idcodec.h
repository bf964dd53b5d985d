/*
 * User ids as file names.
 *
 * A name is the id with '%', '/', control characters (0x00-0x1f, 0x7f)
 * and a leading '.' written as %XX (upper-case hex). That is lossless and
 * reversible, and no name is "", "." or "..", so no id can address
 * anything outside its own directory. An id whose name would pass
 * NAME_MAX (and the empty id) gets the fallback name
 * "<first bytes of the name>%~<16 hex digits of the id's SHA-256>": "%~"
 * never appears in an encoded name, so fallbacks never collide with
 * ordinary names; they are found through the listing, not decoded. (Two
 * ids whose fallbacks would still meet get different names from the user
 * table: jfs_id_to_unique_name().)
 *
 * Ids are UTF-8 without NUL bytes, as every store keeps them (JSON, DynamoDB
 * S, BSON strings): a name that decodes to anything else names no id.
 */
#ifndef JFS_IDCODEC_H
#define JFS_IDCODEC_H

#include <stdbool.h>
#include <stddef.h>

/** Longest name a directory entry may have (Linux NAME_MAX). */
#define JFS_NAME_MAX 255

/** The name of user @id (@len bytes). Returns a malloc()ed string. */
char *jfs_id_to_name(const char *id, size_t len);

/**
 * The name of user @id when its usual name (jfs_id_to_name()) is taken by
 * another id: a fallback with the whole SHA-256 (64 hex digits), then
 * "~N" after it. Returns a malloc()ed string.
 */
char *jfs_id_to_unique_name(const char *id, size_t len, unsigned attempt);

/**
 * The id a name stands for. Returns a malloc()ed string (its length in
 * *@len) or NULL when @name is not the canonical
 * name of any id (bad escapes, a non-canonical spelling, not UTF-8 or a NUL
 * byte once decoded, longer than JFS_NAME_MAX) or is a fallback name.
 */
char *jfs_name_to_id(const char *name, size_t *len);

/** Whether @len bytes at @s are UTF-8 (RFC 3629: no overlongs, no surrogates). */
bool jfs_utf8_valid(const char *s, size_t len);

/** Whether @name is a fallback name (holds "%~"). */
bool jfs_name_is_fallback(const char *name);

#endif
