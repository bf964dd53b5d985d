/*
 * Masked views (mask.h): paths as segment lists, matched while walking a
 * record; pseudonyms by OpenSSL's HMAC-SHA-256 of canonical JSON (keys
 * sorted, numbers as JavaScript prints them).
 */
#include "policy/mask.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/strbuf.h"

struct mpath {
	char **seg;
	size_t n;
	char *text;
};

struct jfs_mask {
	struct mpath *paths;
	size_t n;
	unsigned char *key;
	size_t keylen;
};

static void mpath_release(struct mpath *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->seg[i]);
	free(p->seg);
	free(p->text);
}

static void add_seg(struct mpath *p, struct jfs_strbuf *sb)
{
	char **s = realloc(p->seg, (p->n + 1) * sizeof(*s));

	if (!s)
		abort();
	p->seg = s;
	p->seg[p->n++] = jfs_strbuf_detach(sb, NULL);
	jfs_strbuf_init(sb);
}

/* One path of @len bytes at @s into @p. */
static int parse_path(const char *s, size_t len, struct mpath *p, struct jfs_err *err)
{
	struct jfs_strbuf sb;
	size_t i;

	memset(p, 0, sizeof(*p));
	if (!(p->text = strndup(s, len)))
		abort();
	jfs_strbuf_init(&sb);
	for (i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len && s[i + 1] == '.') {
			jfs_strbuf_addch(&sb, '.');
			i++;
		} else if (s[i] == '.') {
			if (!sb.len)
				goto bad;
			add_seg(p, &sb);
		} else {
			jfs_strbuf_addch(&sb, s[i]);
		}
	}
	if (!sb.len)
		goto bad;
	add_seg(p, &sb);
	jfs_strbuf_release(&sb);
	return 0;
bad:
	jfs_strbuf_release(&sb);
	jfs_err_set(err, EINVAL, "mask path '%s': an empty key (write a dot in a key as \\.)",
		    p->text);
	mpath_release(p);
	return -EINVAL;
}

int jfs_mask_new(const char *paths, const unsigned char *key, size_t keylen,
		 struct jfs_mask **out, struct jfs_err *err)
{
	struct jfs_mask *m = calloc(1, sizeof(*m));
	const char *s = paths;
	int ret;

	if (!m)
		abort();
	if (!paths || !*paths) {
		free(m);
		return jfs_err_set(err, EINVAL, "-o mask: no path given");
	}
	while (*s) {
		size_t len = strcspn(s, ":");
		struct mpath *np = realloc(m->paths, (m->n + 1) * sizeof(*np));

		if (!np)
			abort();
		m->paths = np;
		if ((ret = parse_path(s, len, &m->paths[m->n], err))) {
			jfs_mask_free(m);
			return ret;
		}
		m->n++;
		s += len;
		if (*s == ':')
			s++;
	}
	if (!(m->key = malloc(keylen ? keylen : 1)))
		abort();
	memcpy(m->key, key, keylen);
	m->keylen = keylen;
	*out = m;
	return 0;
}

void jfs_mask_free(struct jfs_mask *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++)
		mpath_release(&m->paths[i]);
	free(m->paths);
	if (m->key) {
		memset(m->key, 0, m->keylen);
		free(m->key);
	}
	free(m);
}

json_t *jfs_mask_describe(const struct jfs_mask *m)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < m->n; i++)
		json_array_append_new(a, json_string(m->paths[i].text));
	return a;
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* @v with object keys sorted, all the way down (a new reference). */
static json_t *sorted(const json_t *v)
{
	const char **keys;
	const char *k;
	json_t *o, *c;
	size_t n = 0, i;

	if (json_is_array(v)) {
		o = json_array();
		for (i = 0; i < json_array_size(v); i++)
			json_array_append_new(o, sorted(json_array_get(v, i)));
		return o;
	}
	if (!json_is_object(v))
		return json_incref((json_t *)v);
	keys = malloc((json_object_size(v) + 1) * sizeof(*keys));
	if (!keys)
		abort();
	json_object_foreach((json_t *)v, k, c)
		keys[n++] = k;
	qsort(keys, n, sizeof(*keys), cmp_keys);
	o = json_object();
	for (i = 0; i < n; i++)
		json_object_set_new(o, keys[i], sorted(json_object_get(v, keys[i])));
	free(keys);
	return o;
}

static void hmac_hex(const struct jfs_mask *m, const void *data, size_t len,
		     char out[JFS_MASK_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t i;

	if (!HMAC(EVP_sha256(), m->key, (int)m->keylen, data, len, md, &mdlen) || mdlen < 8)
		abort(); /* no SHA-256 in libcrypto: nothing could be shown safely */
	memcpy(out, "mask:", 5);
	for (i = 0; i < 8; i++)
		snprintf(out + 5 + 2 * i, 3, "%02x", md[i]);
}

void jfs_mask_pseudonym(const struct jfs_mask *m, const json_t *v, char out[JFS_MASK_LEN])
{
	struct jfs_strbuf sb;
	json_t *s = sorted(v);

	jfs_strbuf_init(&sb);
	jfs_json_dump(s, &sb, 0, 0);
	hmac_hex(m, sb.buf ? sb.buf : "", sb.len, out);
	jfs_strbuf_release(&sb);
	json_decref(s);
}

void jfs_mask_string(const struct jfs_mask *m, const char *s, size_t len,
		     char out[JFS_MASK_LEN])
{
	json_t *v = json_stringn(s, len);

	jfs_mask_pseudonym(m, v ? v : json_null(), out);
	json_decref(v);
}

char *jfs_mask_scrub(const struct jfs_mask *m, const char *id, size_t len, const char *msg)
{
	/* a message is a C string: it can hold an id only up to a NUL in it */
	size_t shown = strnlen(id, len);
	char pseud[JFS_MASK_LEN];
	struct jfs_strbuf sb;
	const char *p = msg;

	jfs_strbuf_init(&sb);
	jfs_mask_string(m, id, len, pseud);
	while (*p) {
		if (shown && !strncmp(p, id, shown)) {
			jfs_strbuf_addstr(&sb, pseud);
			p += shown;
		} else {
			jfs_strbuf_addch(&sb, *p++);
		}
	}
	return jfs_strbuf_detach(&sb, NULL);
}

/* Whether segment @pat matches the key or index @seg. */
static bool seg_match(const char *pat, const char *seg)
{
	return !strcmp(pat, "*") || !strcmp(pat, seg);
}

/*
 * Walk @v at depth @depth; @live[i] says path i still matches the segments
 * so far. Returns a new reference (@v's when nothing below matched).
 */
static json_t *walk(const struct jfs_mask *m, json_t *v, size_t depth, const bool *live)
{
	bool *next;
	char pseud[JFS_MASK_LEN], idx[24];
	json_t *out = NULL, *c, *nc;
	const char *k;
	size_t i, j;
	bool any = false;

	/* a path that ends here names @v */
	for (i = 0; i < m->n; i++)
		if (live[i] && m->paths[i].n == depth) {
			jfs_mask_pseudonym(m, v, pseud);
			return json_string(pseud);
		}
	for (i = 0; i < m->n; i++)
		any = any || (live[i] && m->paths[i].n > depth);
	if (!any || !(json_is_object(v) || json_is_array(v)))
		return json_incref(v);
	next = malloc(m->n * sizeof(*next));
	if (!next)
		abort();
	if (json_is_object(v)) {
		json_object_foreach(v, k, c) {
			for (j = 0; j < m->n; j++)
				next[j] = live[j] && m->paths[j].n > depth &&
					  seg_match(m->paths[j].seg[depth], k);
			nc = walk(m, c, depth + 1, next);
			if (nc != c && !out)
				out = json_copy(v);
			if (out)
				json_object_set(out, k, nc);
			json_decref(nc);
		}
	} else {
		for (i = 0; i < json_array_size(v); i++) {
			c = json_array_get(v, i);
			snprintf(idx, sizeof(idx), "%zu", i);
			for (j = 0; j < m->n; j++)
				next[j] = live[j] && m->paths[j].n > depth &&
					  seg_match(m->paths[j].seg[depth], idx);
			nc = walk(m, c, depth + 1, next);
			if (nc != c && !out)
				out = json_copy(v);
			if (out)
				json_array_set(out, i, nc);
			json_decref(nc);
		}
	}
	free(next);
	return out ? out : json_incref(v);
}

json_t *jfs_mask_at(const struct jfs_mask *m, const char *const *prefix, size_t n, json_t *v)
{
	bool *live;
	json_t *out;
	size_t i, d;

	if (!m || !v)
		return v;
	live = malloc(m->n * sizeof(*live));
	if (!live)
		abort();
	for (i = 0; i < m->n; i++) {
		live[i] = m->paths[i].n >= n;
		/* "" in a prefix: any index */
		for (d = 0; d < n && live[i]; d++)
			live[i] = !*prefix[d] || seg_match(m->paths[i].seg[d], prefix[d]);
	}
	out = walk(m, v, n, live);
	free(live);
	json_decref(v);
	return out;
}

json_t *jfs_mask_item(const struct jfs_mask *m, json_t *item)
{
	return jfs_mask_at(m, NULL, 0, item);
}

bool jfs_mask_touches(const struct jfs_mask *m, const char *const *segs, size_t n)
{
	size_t i, d, common;

	for (i = 0; m && i < m->n; i++) {
		common = m->paths[i].n < n ? m->paths[i].n : n;
		for (d = 0; d < common && seg_match(m->paths[i].seg[d], segs[d]); d++)
			;
		if (d == common)
			return true;
	}
	return false;
}

bool jfs_mask_covers(const struct jfs_mask *m, const char *const *segs, size_t n)
{
	size_t i, d;

	for (i = 0; m && i < m->n; i++) {
		if (m->paths[i].n > n)
			continue;
		for (d = 0; d < m->paths[i].n && seg_match(m->paths[i].seg[d], segs[d]); d++)
			;
		if (d == m->paths[i].n)
			return true;
	}
	return false;
}
