#include "backends/dynamodb_marshal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

/* An AttributeValue is an object with exactly one key naming its type. */
static const char *av_type(const json_t *av, json_t **val)
{
	void *it;

	if (!json_is_object(av) || json_object_size(av) != 1)
		return NULL;
	it = json_object_iter((json_t *)av);
	*val = json_object_iter_value(it);
	return json_object_iter_key(it);
}

static bool parse_n(const json_t *s, double *d)
{
	const char *str = json_string_value(s);
	char *end;

	if (!str || !*str)
		return false;
	*d = strtod(str, &end);
	/* beyond a double (1e999) JavaScript reads Infinity, which JSON cannot show */
	return *end == '\0' && isfinite(*d);
}

static json_t *typed(const char *type, json_t *val)
{
	json_t *o = json_object();

	if (!val) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, type, val);
	return o;
}

static json_t *number_av_str(double d)
{
	char num[32];

	jfs_json_format_number(d, num);
	return json_string(num);
}

bool jfs_ddb_equals_plain(const json_t *av, const json_t *v)
{
	const char *t;
	json_t *val;
	double d;
	size_t i;

	t = av_type(av, &val);
	if (!t || !v)
		return false;
	if (!strcmp(t, "S") || !strcmp(t, "B"))
		return json_is_string(v) && json_is_string(val) && json_equal(val, (json_t *)v);
	if (!strcmp(t, "N"))
		return json_is_number(v) && parse_n(val, &d) && d == jfs_json_number_value(v);
	if (!strcmp(t, "BOOL"))
		return json_is_boolean(v) && json_is_boolean(val) &&
		       json_is_true(v) == json_is_true(val);
	if (!strcmp(t, "NULL"))
		return json_is_null(v);
	if (!strcmp(t, "M")) {
		const char *key;
		json_t *sub;

		if (!json_is_object(v) || !json_is_object(val) ||
		    json_object_size(v) != json_object_size(val))
			return false;
		json_object_foreach(val, key, sub)
			if (!jfs_ddb_equals_plain(sub, json_object_get(v, key)))
				return false;
		return true;
	}
	if (!strcmp(t, "L")) {
		if (!json_is_array(v) || !json_is_array(val) ||
		    json_array_size(v) != json_array_size(val))
			return false;
		for (i = 0; i < json_array_size(val); i++)
			if (!jfs_ddb_equals_plain(json_array_get(val, i), json_array_get(v, i)))
				return false;
		return true;
	}
	if (!strcmp(t, "SS") || !strcmp(t, "BS") || !strcmp(t, "NS")) {
		bool num = t[0] == 'N';

		if (!json_is_array(v) || !json_is_array(val) ||
		    json_array_size(v) != json_array_size(val))
			return false;
		for (i = 0; i < json_array_size(val); i++) {
			json_t *a = json_array_get(val, i), *b = json_array_get(v, i);

			if (num) {
				if (!json_is_number(b) || !parse_n(a, &d) ||
				    d != jfs_json_number_value(b))
					return false;
			} else if (!json_is_string(b) || !json_is_string(a) || !json_equal(a, b)) {
				return false;
			}
		}
		return true;
	}
	return false;
}

bool jfs_ddb_needs_ref(const json_t *av)
{
	const char *t, *key;
	json_t *val, *sub;
	char num[32];
	double d;
	size_t i;

	t = av_type(av, &val);
	if (!t)
		return false;
	if (!strcmp(t, "N")) {
		if (!parse_n(val, &d))
			return true;
		jfs_json_format_number(d, num);
		return strcmp(num, json_string_value(val)) != 0;
	}
	if (!strcmp(t, "M")) {
		json_object_foreach(val, key, sub)
			if (jfs_ddb_needs_ref(sub))
				return true;
		return false;
	}
	if (!strcmp(t, "L")) {
		json_array_foreach(val, i, sub)
			if (jfs_ddb_needs_ref(sub))
				return true;
		return false;
	}
	return !strcmp(t, "SS") || !strcmp(t, "NS") || !strcmp(t, "BS") || !strcmp(t, "B");
}

/*
 * An array edited where a set was stored stays a set when it still can be
 * one (non-empty, one element type, no duplicates): a Jovo app reading it
 * through unmarshall gets a Set back, as before.
 */
/*
 * Where a checked marshal is (jfs_ddb_marshal_loadable()): the JSON path of
 * the value at hand, and the first reason a value cannot be loaded back.
 * NULL: marshal without checking.
 */
struct mpath {
	char buf[512];
	size_t len;
	struct jfs_err *err;
	bool failed;
};

static json_t *marshal_at(const json_t *v, const json_t *ref, struct mpath *p);

/* A number written anew: can the Jovo app load it back as this number? */
static bool number_loadable(double d, struct mpath *p)
{
	char num[32];

	if (!p || fabs(d) <= 9007199254740991.0)
		return true;
	if (!p->failed) {
		jfs_json_format_number(d, num);
		jfs_err_set(p->err, EINVAL, "'%s' is %s, beyond +-(2^53 - 1): a Jovo app's "
			    "DynamoDb plugin cannot load it back (unmarshall throws); store it "
			    "as a string", p->buf, num);
		p->failed = true;
	}
	return false;
}

/* Append ".key" or "[i]" to @p's path; returns the length to restore. */
static size_t path_push(struct mpath *p, const char *key, size_t idx)
{
	size_t old;

	if (!p)
		return 0;
	old = p->len;
	if (key)
		p->len += (size_t)snprintf(p->buf + p->len, sizeof(p->buf) - p->len, ".%s", key);
	else
		p->len += (size_t)snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "[%zu]", idx);
	if (p->len >= sizeof(p->buf))
		p->len = sizeof(p->buf) - 1;
	return old;
}

static void path_pop(struct mpath *p, size_t len)
{
	if (p) {
		p->len = len;
		p->buf[len] = '\0';
	}
}

static json_t *marshal_set(const json_t *v, const char *t, json_t *old, struct mpath *p)
{
	bool num = t[0] == 'N';
	json_t *out, *a, *b;
	size_t i, j, k;

	if (!json_array_size(v))
		return NULL;
	json_array_foreach(v, i, a) {
		if (num ? !json_is_number(a) : !json_is_string(a))
			return NULL;
		for (j = 0; j < i; j++) {
			b = json_array_get(v, j);
			if (num ? jfs_json_number_value(a) == jfs_json_number_value(b)
				: json_equal(a, b))
				return NULL;
		}
	}
	out = json_array();
	json_array_foreach(v, i, a) {
		json_t *keep = NULL;
		double d;

		if (!num) {
			json_array_append(out, a);
			continue;
		}
		if (!isfinite(jfs_json_number_value(a))) {
			json_decref(out);
			return NULL;
		}
		for (k = 0; k < json_array_size(old) && !keep; k++)
			if (parse_n(json_array_get(old, k), &d) && d == jfs_json_number_value(a))
				keep = json_array_get(old, k);
		if (keep) {
			json_array_append(out, keep);
		} else if (number_loadable(jfs_json_number_value(a), p)) {
			json_array_append_new(out, number_av_str(jfs_json_number_value(a)));
		} else {
			json_decref(out);
			return NULL;
		}
	}
	return typed(t, out);
}

static json_t *marshal_list(const json_t *v, json_t *old, struct mpath *p)
{
	size_t n = json_array_size(v), on = json_array_size(old), i;
	json_t *out = json_array();
	long delta = (long)n - (long)on;

	for (i = 0; i < n; i++) {
		json_t *item = json_array_get(v, i), *ref = NULL, *m;
		long shifted = (long)i - delta;

		/*
		 * Same index first; else the element the list was shifted from
		 * (Jovo's history grows at the front, trims at the back).
		 */
		if (i < on && jfs_ddb_equals_plain(json_array_get(old, i), item))
			ref = json_array_get(old, i);
		else if (delta && shifted >= 0 && shifted < (long)on &&
			 jfs_ddb_equals_plain(json_array_get(old, shifted), item))
			ref = json_array_get(old, shifted);
		else if (i < on)
			ref = json_array_get(old, i);
		size_t back = path_push(p, NULL, i);

		m = marshal_at(item, ref, p);
		path_pop(p, back);
		if (!m) {
			json_decref(out);
			return NULL;
		}
		json_array_append_new(out, m);
	}
	return typed("L", out);
}

static json_t *marshal_map(const json_t *item, const json_t *ref_item, struct mpath *p)
{
	json_t *out = json_object(), *val, *m;
	const char *key;

	json_object_foreach((json_t *)item, key, val) {
		size_t back = path_push(p, key, 0);

		m = marshal_at(val, json_object_get(ref_item, key), p);
		path_pop(p, back);
		if (!m) {
			json_decref(out);
			return NULL;
		}
		json_object_set_new(out, key, m);
	}
	return out;
}

json_t *jfs_ddb_marshal_map(const json_t *item, const json_t *ref_item)
{
	return marshal_map(item, ref_item, NULL);
}

json_t *jfs_ddb_marshal(const json_t *v, const json_t *ref)
{
	return marshal_at(v, ref, NULL);
}

json_t *jfs_ddb_marshal_loadable(const json_t *v, const json_t *ref, const char *path,
				 struct jfs_err *err)
{
	struct mpath p = { .err = err };
	json_t *m;

	p.len = (size_t)snprintf(p.buf, sizeof(p.buf), "%s", path);
	if (p.len >= sizeof(p.buf))
		p.len = sizeof(p.buf) - 1;
	m = marshal_at(v, ref, &p);
	if (!m && !p.failed)
		jfs_err_set(err, EINVAL, "'%s' holds a number dynamodb cannot store", path);
	return m;
}

static json_t *marshal_at(const json_t *v, const json_t *ref, struct mpath *p)
{
	const char *rt = NULL;
	json_t *old = NULL, *m;
	double d;

	if (!v)
		return NULL;
	if (ref) {
		if (jfs_ddb_equals_plain(ref, v))
			return json_incref((json_t *)ref);
		rt = av_type(ref, &old);
	}
	switch (json_typeof(v)) {
	case JSON_NULL:
		return typed("NULL", json_true());
	case JSON_TRUE:
	case JSON_FALSE:
		return typed("BOOL", json_boolean(json_is_true(v)));
	case JSON_INTEGER:
	case JSON_REAL:
		d = jfs_json_number_value(v);
		if (!isfinite(d) || !number_loadable(d, p))
			return NULL;
		return typed("N", number_av_str(d));
	case JSON_STRING:
		return typed(rt && !strcmp(rt, "B") ? "B" : "S",
			     json_stringn(json_string_value(v), json_string_length(v)));
	case JSON_ARRAY:
		if (rt && (!strcmp(rt, "SS") || !strcmp(rt, "NS") || !strcmp(rt, "BS"))) {
			m = marshal_set(v, rt, old, p);
			if (m || (p && p->failed))
				return m;
		}
		return marshal_list(v, rt && !strcmp(rt, "L") ? old : NULL, p);
	case JSON_OBJECT:
		m = marshal_map(v, rt && !strcmp(rt, "M") ? old : NULL, p);
		return m ? typed("M", m) : NULL;
	}
	return NULL;
}

static json_t *unmarshal_set(json_t *val, bool num, struct jfs_err *err)
{
	json_t *out = json_array(), *e;
	double d;
	size_t i;

	if (!json_is_array(val))
		goto out_bad;
	json_array_foreach(val, i, e) {
		if (num) {
			if (!parse_n(e, &d))
				goto out_bad;
			json_array_append_new(out, json_real(d));
		} else {
			if (!json_is_string(e))
				goto out_bad;
			json_array_append(out, e);
		}
	}
	return out;
out_bad:
	json_decref(out);
	jfs_err_set(err, EIO, "malformed %s set in a dynamodb response", num ? "number" : "string");
	return NULL;
}

json_t *jfs_ddb_unmarshal_map(const json_t *attrs, struct jfs_err *err)
{
	json_t *out, *sub, *u;
	const char *key;

	if (!json_is_object(attrs)) {
		jfs_err_set(err, EIO, "malformed map in a dynamodb response");
		return NULL;
	}
	out = json_object();
	json_object_foreach((json_t *)attrs, key, sub) {
		u = jfs_ddb_unmarshal(sub, err);
		if (!u) {
			json_decref(out);
			return NULL;
		}
		json_object_set_new(out, key, u);
	}
	return out;
}

json_t *jfs_ddb_unmarshal(const json_t *av, struct jfs_err *err)
{
	json_t *val, *out, *sub, *u;
	const char *t;
	double d;
	size_t i;

	t = av_type(av, &val);
	if (!t)
		goto out_bad;
	if (!strcmp(t, "S") || !strcmp(t, "B")) {
		if (!json_is_string(val))
			goto out_bad;
		return json_incref(val);
	}
	if (!strcmp(t, "N")) {
		if (!parse_n(val, &d))
			goto out_bad;
		return json_real(d);
	}
	if (!strcmp(t, "BOOL")) {
		if (!json_is_boolean(val))
			goto out_bad;
		return json_boolean(json_is_true(val));
	}
	if (!strcmp(t, "NULL"))
		return json_null();
	if (!strcmp(t, "M"))
		return jfs_ddb_unmarshal_map(val, err);
	if (!strcmp(t, "L")) {
		if (!json_is_array(val))
			goto out_bad;
		out = json_array();
		json_array_foreach(val, i, sub) {
			u = jfs_ddb_unmarshal(sub, err);
			if (!u) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, u);
		}
		return out;
	}
	if (!strcmp(t, "SS") || !strcmp(t, "BS"))
		return unmarshal_set(val, false, err);
	if (!strcmp(t, "NS"))
		return unmarshal_set(val, true, err);
out_bad:
	jfs_err_set(err, EIO, "malformed attribute value%s%s%s in a dynamodb response",
		    t ? " of type '" : "", t ? t : "", t ? "'" : "");
	return NULL;
}
