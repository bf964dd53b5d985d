/*
 * User ids as file names.
 *
 * A name is the id with '%', '/', control characters (0x00-0x1f, 0x7f)
 * and a leading '.' written as %XX (upper-case hex). That is lossless and
 * reversible, and no name is "", "." or "..", so no id can address
 * anything outside its own directory. An id whose name would pass
 * NAME_MAX (and the empty id) gets the fallback name
 * "<first bytes of the name>%~<16 hex digits of a hash of the id>":
 * "%~" never appears in an encoded name, so fallbacks never collide with
 * ordinary names; they are found through the listing, not decoded.
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
 * The id a name stands for. Returns a malloc()ed string (its length in
 * *@len; ids may hold NUL bytes) or NULL when @name is not the canonical
 * name of any id (bad escapes, a non-canonical spelling, longer than
 * JFS_NAME_MAX) or is a fallback name.
 */
char *jfs_name_to_id(const char *name, size_t *len);

/** Whether @name is a fallback name (holds "%~"). */
bool jfs_name_is_fallback(const char *name);

#endif
