#define _GNU_SOURCE /* memmem */
#include "backends/backend.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/strbuf.h"

void jfs_list_page_release(struct jfs_list_page *page)
{
	size_t i;

	for (i = 0; i < page->n; i++)
		free(page->entries[i].id);
	free(page->entries);
	free(page->next);
	memset(page, 0, sizeof(*page));
}

int jfs_list_times_parse(const json_t *v, const char *part, enum jfs_list_times *out,
			 struct jfs_err *err)
{
	*out = JFS_LIST_TIMES_AUTO;
	if (!v || (json_is_string(v) && !strcmp(json_string_value(v), "auto")))
		return 0;
	if (!json_is_boolean(v))
		return jfs_err_set(err, EINVAL, "'%s.listTimes' must be true, false or \"auto\"",
				   part);
	*out = json_is_true(v) ? JFS_LIST_TIMES_ON : JFS_LIST_TIMES_OFF;
	return 0;
}

bool jfs_list_times_want(enum jfs_list_times lt, int64_t users)
{
	if (lt != JFS_LIST_TIMES_AUTO)
		return lt == JFS_LIST_TIMES_ON;
	return users <= JFS_LIST_TIMES_AUTO_MAX;
}

json_t *jfs_list_times_json(enum jfs_list_times lt, int64_t users)
{
	char buf[128];

	if (lt != JFS_LIST_TIMES_AUTO)
		return json_boolean(lt == JFS_LIST_TIMES_ON);
	if (users < 0)
		return json_string("auto (the times while the count is not known)");
	snprintf(buf, sizeof(buf), "auto (%s: about %" PRId64 " users, the limit %d)",
		 jfs_list_times_want(lt, users) ? "the times" : "the key alone", users,
		 JFS_LIST_TIMES_AUTO_MAX);
	return json_string(buf);
}

bool jfs_patch_condition_holds(const struct jfs_patch *patch, const json_t *item)
{
	json_t *cur;

	if (!patch->cond_key)
		return true;
	cur = item ? json_object_get(item, patch->cond_key) : NULL;
	if (!patch->cond_value)
		return cur == NULL;
	return cur && jfs_json_equal(cur, patch->cond_value);
}

json_t *jfs_patch_apply(const json_t *item, const struct jfs_patch *patch)
{
	json_t *res = json_copy((json_t *)item);
	const char *key;
	json_t *val;
	size_t i;

	if (!res)
		return NULL;
	if (patch->set)
		json_object_foreach(patch->set, key, val)
			json_object_set(res, key, val);
	if (patch->unset)
		for (i = 0; i < json_array_size(patch->unset); i++)
			json_object_del(res, json_string_value(json_array_get(patch->unset, i)));
	return res;
}

/* The index of @key in @unset, or -1. */
static long unset_find(const json_t *unset, const char *key)
{
	const char *k;
	size_t i;

	if (!key)
		return -1;
	for (i = 0; i < json_array_size(unset); i++) {
		k = json_string_value(json_array_get(unset, i));
		if (k && !strcmp(k, key))
			return (long)i;
	}
	return -1;
}

bool jfs_unset_has(const json_t *unset, const char *key)
{
	return unset_find(unset, key) >= 0;
}

void jfs_unset_add(json_t *unset, const char *key)
{
	if (key && unset_find(unset, key) < 0)
		json_array_append_new(unset, json_string(key));
}

void jfs_unset_del(json_t *unset, const char *key)
{
	long i = unset_find(unset, key);

	if (i >= 0)
		json_array_remove(unset, (size_t)i);
}

/* ---- filters: JavaScript's comparisons, for the values a JSON item holds ---- */

bool jfs_path_index(const char *seg, size_t *idx)
{
	size_t v = 0;
	const char *c;

	if (!seg[0] || (seg[0] == '0' && seg[1]))
		return false;
	for (c = seg; *c; c++) {
		if (*c < '0' || *c > '9' || v > (SIZE_MAX - 9) / 10)
			return false;
		v = v * 10 + (size_t)(*c - '0');
	}
	*idx = v;
	return true;
}

/* The value at the first @n segments of @p in @item: borrowed, NULL when undefined. */
static json_t *path_get_n(const json_t *item, const struct jfs_path *p, size_t n)
{
	json_t *v = (json_t *)item;
	size_t i, idx;

	for (i = 0; v && i < n; i++) {
		if (json_is_object(v))
			v = json_object_get(v, p->seg[i]);
		else if (json_is_array(v) && jfs_path_index(p->seg[i], &idx))
			v = json_array_get(v, idx);
		else
			v = NULL;
	}
	return v;
}

json_t *jfs_path_get(const json_t *item, const struct jfs_path *p)
{
	return path_get_n(item, p, p->n);
}

/* A JavaScript primitive: what ToPrimitive() makes of a JSON value. */
enum js_kind { JS_UNDEFINED, JS_NULL, JS_BOOLEAN, JS_NUMBER, JS_STRING };

struct js_prim {
	enum js_kind kind;
	bool b;
	double num;
	const char *str;
	size_t len;
	struct jfs_strbuf own;  /* the string of an array or object */
};

/* String(v), appended to @sb: what Array.prototype.join() makes of an element. */
static void js_to_string(const json_t *v, struct jfs_strbuf *sb)
{
	char num[32];
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		jfs_strbuf_add(sb, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		jfs_json_format_number(jfs_json_number_value(v), num);
		jfs_strbuf_addstr(sb, num);
		break;
	case JSON_TRUE:
		jfs_strbuf_addstr(sb, "true");
		break;
	case JSON_FALSE:
		jfs_strbuf_addstr(sb, "false");
		break;
	case JSON_NULL:
		jfs_strbuf_addstr(sb, "null");
		break;
	case JSON_ARRAY:
		for (i = 0; i < json_array_size(v); i++) {
			json_t *e = json_array_get(v, i);

			if (i)
				jfs_strbuf_addch(sb, ',');
			if (!json_is_null(e))
				js_to_string(e, sb);
		}
		break;
	case JSON_OBJECT:
		jfs_strbuf_addstr(sb, "[object Object]");
		break;
	}
}

/* ToPrimitive(@v) with the hint "number" (arrays and plain objects become strings). */
static void js_prim_init(struct js_prim *p, const json_t *v)
{
	memset(p, 0, sizeof(*p));
	jfs_strbuf_init(&p->own);
	if (!v) {
		p->kind = JS_UNDEFINED;
		return;
	}
	switch (json_typeof(v)) {
	case JSON_NULL:
		p->kind = JS_NULL;
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		p->kind = JS_BOOLEAN;
		p->b = json_is_true(v);
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		p->kind = JS_NUMBER;
		p->num = jfs_json_number_value(v);
		break;
	case JSON_STRING:
		p->kind = JS_STRING;
		p->str = json_string_value(v);
		p->len = json_string_length(v);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		p->kind = JS_STRING;
		js_to_string(v, &p->own);
		p->str = p->own.buf;
		p->len = p->own.len;
		break;
	}
}

static void js_prim_release(struct js_prim *p)
{
	jfs_strbuf_release(&p->own);
}

/* The length of the JavaScript white space or line terminator at @s, or 0. */
static size_t js_space(const unsigned char *s, size_t len)
{
	if (len >= 1 && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')))
		return 1;
	if (len >= 2 && s[0] == 0xc2 && s[1] == 0xa0)
		return 2; /* U+00A0 */
	if (len < 3)
		return 0;
	if ((s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) ||                  /* U+1680 */
	    (s[0] == 0xe2 && s[1] == 0x80 && (s[2] <= 0x8a || s[2] == 0xa8 ||
					      s[2] == 0xa9 || s[2] == 0xaf)) || /* U+2000.. */
	    (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) ||                  /* U+205F */
	    (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) ||                  /* U+3000 */
	    (s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf))                    /* U+FEFF */
		return 3;
	return 0;
}

/* The value of the digits @s..@len in base @base (at least one digit), or NaN. */
static double js_radix(const char *s, size_t len, unsigned base)
{
	double v = 0;
	size_t i;

	if (!len)
		return NAN;
	for (i = 0; i < len; i++) {
		unsigned d;
		char c = s[i];

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return NAN;
		if (d >= base)
			return NAN;
		v = v * base + d;
	}
	return v;
}

/* JavaScript's StringToNumber: Number("  12 ") is 12, Number("") 0, Number("x") NaN. */
static double js_string_to_number(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t a = 0, b = len, i, n, w;
	char buf[128];
	bool digits = false;

	while (a < b && (w = js_space(s + a, b - a)))
		a += w;
	while (b > a) {
		/* white space at the end: find the character that ends there */
		for (w = 1; w <= 3 && w <= b - a; w++)
			if (js_space(s + b - w, w) == w)
				break;
		if (w > 3 || w > b - a)
			break;
		b -= w;
	}
	n = b - a;
	str += a;
	if (!n)
		return 0;
	if (memchr(str, '\0', n))
		return NAN;
	if (n == 8 && !memcmp(str, "Infinity", 8))
		return INFINITY;
	if (n == 9 && !memcmp(str, "+Infinity", 9))
		return INFINITY;
	if (n == 9 && !memcmp(str, "-Infinity", 9))
		return -INFINITY;
	if (n > 2 && str[0] == '0') {
		switch (str[1]) {
		case 'x': case 'X':
			return js_radix(str + 2, n - 2, 16);
		case 'o': case 'O':
			return js_radix(str + 2, n - 2, 8);
		case 'b': case 'B':
			return js_radix(str + 2, n - 2, 2);
		}
	}
	/* StrDecimalLiteral: [+-] (digits [. digits] | . digits) [e [+-] digits] */
	i = 0;
	if (str[i] == '+' || str[i] == '-')
		i++;
	for (; i < n && str[i] >= '0' && str[i] <= '9'; i++)
		digits = true;
	if (i < n && str[i] == '.')
		for (i++; i < n && str[i] >= '0' && str[i] <= '9'; i++)
			digits = true;
	if (!digits)
		return NAN;
	if (i < n && (str[i] == 'e' || str[i] == 'E')) {
		bool edigits = false;

		i++;
		if (i < n && (str[i] == '+' || str[i] == '-'))
			i++;
		for (; i < n && str[i] >= '0' && str[i] <= '9'; i++)
			edigits = true;
		if (!edigits)
			return NAN;
	}
	if (i != n)
		return NAN;
	if (n < sizeof(buf)) {
		memcpy(buf, str, n);
		buf[n] = '\0';
		return strtod(buf, NULL);
	} else {
		char *copy = strndup(str, n);
		double d;

		if (!copy)
			abort();
		d = strtod(copy, NULL);
		free(copy);
		return d;
	}
}

static double js_to_number(const struct js_prim *p)
{
	switch (p->kind) {
	case JS_UNDEFINED:
		return NAN;
	case JS_NULL:
		return 0;
	case JS_BOOLEAN:
		return p->b ? 1 : 0;
	case JS_NUMBER:
		return p->num;
	case JS_STRING:
		return js_string_to_number(p->str, p->len);
	}
	return NAN;
}

/* The next code point of UTF-8 text @s (a stray byte counts as itself). */
static uint32_t utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	size_t n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0, k;
	uint32_t cp;

	if (!n || *i + n >= len) {
		(*i)++;
		return c;
	}
	cp = c & (0x3f >> n);
	for (k = 1; k <= n; k++) {
		if ((s[*i + k] & 0xc0) != 0x80) {
			(*i)++;
			return c;
		}
		cp = cp << 6 | (s[*i + k] & 0x3f);
	}
	*i += n + 1;
	return cp;
}

/* The UTF-16 code unit @which (0 or 1) of code point @cp. */
static uint32_t utf16_unit(uint32_t cp, int which)
{
	if (cp < 0x10000)
		return cp;
	cp -= 0x10000;
	return which ? 0xdc00 + (cp & 0x3ff) : 0xd800 + (cp >> 10);
}

/* Two strings compared by UTF-16 code units, as JavaScript compares them: <0, 0, >0. */
static int js_string_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
	size_t i = 0, j = 0;

	while (i < alen && j < blen) {
		uint32_t ca = utf8_next(x, alen, &i), cb = utf8_next(y, blen, &j);
		int k;

		if (ca == cb)
			continue;
		for (k = 0; k < 2; k++) {
			uint32_t ua = utf16_unit(ca, k), ub = utf16_unit(cb, k);

			if (ua != ub)
				return ua < ub ? -1 : 1;
		}
	}
	return i < alen ? 1 : j < blen ? -1 : 0;
}

/* x < y (IsLessThan): 1 true, 0 false, -1 undefined (a NaN was involved). */
static int js_less(const struct js_prim *x, const struct js_prim *y)
{
	double nx, ny;

	if (x->kind == JS_STRING && y->kind == JS_STRING)
		return js_string_cmp(x->str, x->len, y->str, y->len) < 0;
	nx = js_to_number(x);
	ny = js_to_number(y);
	if (isnan(nx) || isnan(ny))
		return -1;
	return nx < ny;
}

/* @v === @lit, @lit a primitive (@v NULL: undefined). */
static bool js_strict_equal(const json_t *v, const json_t *lit)
{
	if (!v || !lit)
		return false;
	if (json_is_number(v) && json_is_number(lit))
		return jfs_json_number_value(v) == jfs_json_number_value(lit);
	if (json_is_string(v) && json_is_string(lit))
		return json_string_length(v) == json_string_length(lit) &&
		       !memcmp(json_string_value(v), json_string_value(lit), json_string_length(v));
	if (json_is_boolean(v) && json_is_boolean(lit))
		return json_is_true(v) == json_is_true(lit);
	return json_is_null(v) && json_is_null(lit);
}

bool jfs_filter_cond_holds(const struct jfs_filter_cond *c, const json_t *value)
{
	struct js_prim x, y;
	const char *s, *t;
	size_t n, m;
	int r = -1;

	switch (c->op) {
	case JFS_FOP_EXISTS:
		return value != NULL;
	case JFS_FOP_EQ:
		return js_strict_equal(value, c->value);
	case JFS_FOP_NE:
		return !js_strict_equal(value, c->value);
	case JFS_FOP_CONTAINS:
		if (!json_is_string(value) || !json_is_string(c->value))
			return false;
		s = json_string_value(value);
		n = json_string_length(value);
		t = json_string_value(c->value);
		m = json_string_length(c->value);
		return !m || (m <= n && memmem(s, n, t, m));
	default:
		break;
	}
	js_prim_init(&x, value);
	js_prim_init(&y, c->value);
	switch (c->op) {
	case JFS_FOP_LT:
		r = js_less(&x, &y) == 1;
		break;
	case JFS_FOP_GT:
		r = js_less(&y, &x) == 1;
		break;
	case JFS_FOP_LE:
		r = js_less(&y, &x) == 0;
		break;
	case JFS_FOP_GE:
		r = js_less(&x, &y) == 0;
		break;
	default:
		r = 0;
	}
	js_prim_release(&x);
	js_prim_release(&y);
	return r;
}

bool jfs_filter_match(const struct jfs_filter *f, const json_t *item)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (!jfs_filter_cond_holds(&f->cond[i], jfs_path_get(item, &f->cond[i].path)))
			return false;
	return true;
}

/* How many segments of @p a store copies: up to its first array index. */
static size_t proj_len(const struct jfs_path *p)
{
	size_t i, idx;

	for (i = 1; i < p->n; i++)
		if (jfs_path_index(p->seg[i], &idx))
			return i;
	return p->n;
}

/* Whether @a's segments begin with all of @b's. */
static bool path_has_prefix(const struct jfs_path *a, const struct jfs_path *b)
{
	size_t i;

	if (b->n > a->n)
		return false;
	for (i = 0; i < b->n; i++)
		if (strcmp(a->seg[i], b->seg[i]))
			return false;
	return true;
}

size_t jfs_filter_projection(const struct jfs_filter *f, struct jfs_path **out)
{
	size_t total = f->n + f->nneed, n = 0, i, j;
	struct jfs_path *all = calloc(total ? total : 1, sizeof(*all));

	if (!all)
		abort();
	for (i = 0; i < total; i++) {
		const struct jfs_path *p = i < f->n ? &f->cond[i].path : &f->need[i - f->n];

		all[i].seg = p->seg;
		all[i].n = proj_len(p);
	}
	for (i = 0; i < total; i++) {
		bool covered = false;

		for (j = 0; j < total && !covered; j++) {
			if (j == i || !path_has_prefix(&all[i], &all[j]))
				continue;
			/* a shorter path holds it; of two equal ones the first stays */
			covered = all[j].n < all[i].n || j < i;
		}
		if (!covered)
			all[n++] = all[i];
	}
	*out = all;
	return n;
}

void jfs_path_put_new(json_t *partial, const struct jfs_path *p, size_t n, json_t *value)
{
	json_t *cur = partial, *child;
	size_t i;

	for (i = 0; i + 1 < n; i++) {
		child = json_object_get(cur, p->seg[i]);
		if (!json_is_object(child)) {
			child = json_object();
			json_object_set_new(cur, p->seg[i], child);
		}
		cur = child;
	}
	json_object_set_new(cur, p->seg[n - 1], value);
}

json_t *jfs_filter_project(const struct jfs_filter *f, const json_t *item)
{
	json_t *partial = json_object(), *v;
	struct jfs_path *proj;
	size_t n, i;

	n = jfs_filter_projection(f, &proj);
	for (i = 0; i < n; i++) {
		v = path_get_n(item, &proj[i], proj[i].n);
		if (v)
			jfs_path_put_new(partial, &proj[i], proj[i].n, json_incref(v));
	}
	free(proj);
	return partial;
}
