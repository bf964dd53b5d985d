/*
 * One value inside a FileDb item's text, found without building a tree
 * (jfs_fdb_value_at(), filedb_scan.h): find() reads only the values its
 * filter compares. No lock: it works on the caller's bytes.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/filedb_scan.h"
#include "common/json.h"

/* ---- one value inside an item's text, found without building a tree ---- */

static const unsigned char *walk_spaces(const unsigned char *p, const unsigned char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* Past the string whose opening quote is at @p (NULL: it does not end); *@esc: it has escapes. */
static const unsigned char *walk_string(const unsigned char *p, const unsigned char *end, bool *esc)
{
	p++;
	for (;;) {
		p = jfs_fdb_skip_string(p, end);
		if (p >= end)
			return NULL;
		if (*p == '"')
			return p + 1;
		if (*p == '\\') {
			*esc = true;
			if (end - p < 2)
				return NULL;
			p += 2;
			continue;
		}
		p++; /* a control byte: the scan that indexed the item judged it */
	}
}

/* Past the value that starts at @p; NULL when it does not end. */
static const unsigned char *walk_value(const unsigned char *p, const unsigned char *end)
{
	size_t depth = 0;
	bool esc;

	if (p >= end)
		return NULL;
	if (*p == '"')
		return walk_string(p, end, &esc);
	if (*p != '{' && *p != '[') {
		while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
		       *p != '\r' && *p != '\t')
			p++;
		return p;
	}
	do {
		if (p >= end)
			return NULL;
		switch (*p) {
		case '"':
			p = walk_string(p, end, &esc);
			if (!p)
				return NULL;
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			depth--;
			break;
		}
		p++;
	} while (depth);
	return p;
}

/* Whether the key between @k and @kend (inside its quotes) is @seg. */
static bool key_is(const unsigned char *k, const unsigned char *kend, bool esc, const char *seg)
{
	size_t n = (size_t)(kend - k);
	struct jfs_strbuf q;
	json_t *v = NULL;
	bool same;

	if (!esc)
		return n == strlen(seg) && !memcmp(k, seg, n);
	jfs_strbuf_init(&q);
	jfs_strbuf_addch(&q, '"');
	jfs_strbuf_add(&q, k, n);
	jfs_strbuf_addch(&q, '"');
	same = !jfs_json_parse(q.buf, q.len, &v, NULL) && json_is_string(v) &&
	       json_string_length(v) == strlen(seg) && !strcmp(json_string_value(v), seg);
	json_decref(v);
	jfs_strbuf_release(&q);
	return same;
}

int jfs_fdb_value_at(const char *buf, size_t len, char *const *seg, size_t nseg, size_t *voff,
		     size_t *vlen)
{
	const unsigned char *p = (const unsigned char *)buf, *end = p + len, *vs;
	size_t d, idx;

	p = walk_spaces(p, end);
	for (d = 0; d < nseg; d++) {
		if (p >= end)
			return -1;
		if (*p == '{') {
			const unsigned char *found = NULL;

			p = walk_spaces(p + 1, end);
			if (p < end && *p == '}')
				return 0;
			for (;;) {
				const unsigned char *k, *kend;
				bool esc = false;

				if (p >= end || *p != '"')
					return -1;
				k = p + 1;
				p = walk_string(p, end, &esc);
				if (!p)
					return -1;
				kend = p - 1;
				p = walk_spaces(p, end);
				if (p >= end || *p != ':')
					return -1;
				p = walk_spaces(p + 1, end);
				/* JSON.parse keeps the last of a key given twice */
				if (key_is(k, kend, esc, seg[d]))
					found = p;
				p = walk_value(p, end);
				if (!p)
					return -1;
				p = walk_spaces(p, end);
				if (p < end && *p == ',') {
					p = walk_spaces(p + 1, end);
					continue;
				}
				if (p < end && *p == '}')
					break;
				return -1;
			}
			if (!found)
				return 0;
			p = found;
		} else if (*p == '[' && jfs_path_index(seg[d], &idx)) {
			p = walk_spaces(p + 1, end);
			if (p < end && *p == ']')
				return 0;
			for (; idx; idx--) {
				p = walk_value(p, end);
				if (!p)
					return -1;
				p = walk_spaces(p, end);
				if (p < end && *p == ']')
					return 0;
				if (p >= end || *p != ',')
					return -1;
				p = walk_spaces(p + 1, end);
			}
		} else {
			return 0;
		}
	}
	vs = p;
	p = walk_value(p, end);
	if (!p || p == vs)
		return -1;
	*voff = (size_t)(vs - (const unsigned char *)buf);
	*vlen = (size_t)(p - vs);
	return 1;
}
