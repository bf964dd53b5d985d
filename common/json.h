/*
 * JSON text in and out, the way JavaScript (and so Jovo) writes it.
 *
 * jansson's own dumper prints 0.1 as 0.10000000000000001 and its loader
 * refuses integers beyond int64; Jovo writes every number as a double in
 * its shortest round-trip form. These helpers parse every number as a
 * double (json_real) and print numbers, strings and indentation exactly
 * like JSON.stringify(value, null, indent).
 */
#ifndef JFS_JSON_H
#define JFS_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "strbuf.h"

/**
 * Parse JSON text (any value at top level, numbers as doubles, \u0000
 * allowed). Returns 0 and a new reference in *@out, or -EINVAL with
 * "line L column C: reason" in @err.
 */
int jfs_json_parse(const char *buf, size_t len, json_t **out, struct jfs_err *err);

/**
 * jfs_json_parse(), refusing an object that holds a key twice (JSON.parse
 * would keep the last one and silently drop the other): for content a
 * user wrote. The message names the key.
 */
int jfs_json_parse_unique(const char *buf, size_t len, json_t **out, struct jfs_err *err);

/**
 * Append @v to @sb as JSON.stringify(v, null, indent) would (@indent 0:
 * compact). @level is the indentation depth the value starts at (Jovo's
 * FileDb items sit at level 1 inside the array).
 */
void jfs_json_dump(const json_t *v, struct jfs_strbuf *sb, int indent, int level);

/**
 * Render @v pretty-printed with a 2-space indent and a trailing newline,
 * the content of an element file. Returns a malloc()ed string; *@len is
 * set to its length.
 */
char *jfs_json_render(const json_t *v, size_t *len);

/**
 * Format @d like JavaScript's Number.prototype.toString (NaN and the
 * infinities as "null", as JSON.stringify does). @out must hold 32 bytes.
 */
void jfs_json_format_number(double d, char *out);

/** The numeric value of a json_integer or json_real (0 otherwise). */
double jfs_json_number_value(const json_t *v);

/**
 * Deep equality where numbers compare by value whatever their jansson
 * type (integer 1 equals real 1.0), as JavaScript sees them.
 */
bool jfs_json_equal(const json_t *a, const json_t *b);

#endif
