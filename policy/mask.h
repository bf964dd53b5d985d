/*
 * Masked views: chosen values of every record shown as stable pseudonyms,
 * "mask:" and 16 hex digits of HMAC-SHA-256(key, the value as canonical
 * JSON), so equal values give equal pseudonyms (joins and counts work) and
 * nobody without the key can tell what they stand for.
 *
 * A path is dotted into the stored record: "user.data.email",
 * "history.items.*.input.text"; "*" is any key or array index, a number
 * also names an array index, "\." is a dot inside a key.
 */
#ifndef JFS_POLICY_MASK_H
#define JFS_POLICY_MASK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct jfs_mask;

/** "mask:" + 16 hex digits + NUL */
#define JFS_MASK_LEN 22

/**
 * Parse @paths (PATH[:PATH...]) and keep @key (@keylen bytes, copied).
 * -EINVAL naming the bad path.
 */
int jfs_mask_new(const char *paths, const unsigned char *key, size_t keylen,
		 struct jfs_mask **out, struct jfs_err *err);

void jfs_mask_free(struct jfs_mask *m);

/** The paths, as a new JSON array of strings (for .jovofs/config). */
json_t *jfs_mask_describe(const struct jfs_mask *m);

/** The pseudonym of @v into @out. */
void jfs_mask_pseudonym(const struct jfs_mask *m, const json_t *v, char out[JFS_MASK_LEN]);

/** The pseudonym of the string @s (@len bytes), as of the JSON string @s. */
void jfs_mask_string(const struct jfs_mask *m, const char *s, size_t len,
		     char out[JFS_MASK_LEN]);

/**
 * @msg with every occurrence of the string @id (@len bytes) replaced by its
 * pseudonym: for text that may name an id, such as a store's error
 * message, on a view that shows no id. Returns a malloc()ed string.
 */
char *jfs_mask_scrub(const struct jfs_mask *m, const char *id, size_t len, const char *msg);

/**
 * @v, found at @prefix (@n segments: the record's keys and indexes down to
 * it, "" items meaning any index) of a record, with every value a path
 * names replaced by its pseudonym. Takes @v's reference, returns a new one
 * (@v itself when nothing matched).
 */
json_t *jfs_mask_at(const struct jfs_mask *m, const char *const *prefix, size_t n, json_t *v);

/** jfs_mask_at() of a whole record. */
json_t *jfs_mask_item(const struct jfs_mask *m, json_t *item);

/**
 * Whether the value at @segs (@n keys and indexes) of a record is masked,
 * in part or whole: a mask path lies at, under or above it.
 */
bool jfs_mask_touches(const struct jfs_mask *m, const char *const *segs, size_t n);

/** Whether the value at @segs (@n keys and indexes) of a record is masked whole. */
bool jfs_mask_covers(const struct jfs_mask *m, const char *const *segs, size_t n);

#endif
