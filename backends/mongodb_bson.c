/*
 * BSON <-> JSON for the MongoDb backend.
 *
 * Reading, a stored value becomes what JavaScript would see; where JSON has
 * no word for a BSON type, MongoDB Extended JSON v2 (relaxed) stands in.
 * Writing, the edited item goes back through the same table, and every
 * value the edit did not change is written back byte for byte.
 *
 *   stored BSON              shown as JSON                      written back as
 *   -----------------------  ---------------------------------  ------------------------------
 *   double (finite)          1.5, 1 (JS number)                 double
 *   double NaN, +-Infinity   {"$numberDouble": "NaN"}, ...      double
 *   double -0.0              0 (JSON.stringify(-0) is "0")      double -0.0 while unchanged
 *   int32                    7 (JS number)                      int32
 *   int64 |v| <= 2^53        7 (JS number)                      int64
 *   int64 |v| >  2^53        {"$numberLong": "9007199254740993"} int64
 *   Decimal128               {"$numberDecimal": "1.10"}          Decimal128
 *   string, bool, null       the same                           the same
 *   document / array         object / array, keys in order      document / array
 *   ObjectId                 {"$oid": "<24 hex>"}                ObjectId
 *   date 1970..9999          {"$date": "2026-11-20T10:02:11.482Z"} date
 *   other dates              {"$date": {"$numberLong": "-1000"}} date
 *   binary                   {"$binary": {"base64": "...", "subType": "00"}}  binary
 *   timestamp, regex, code,  canonical Extended JSON            the same type
 *   symbol, minKey, maxKey,  ({"$timestamp": {"t":1,"i":2}},
 *   undefined, dbPointer      {"$regularExpression": {...}}, ...)
 *
 * Numbers the edit changed or added take the type the old value at the same
 * path had: a double stays double (1.0 + 1 is stored as 2.0), an int64
 * stays int64 while integral, an int32 stays int32 while it is an integer
 * that fits, a Decimal128 stays Decimal128 (from the number's shortest
 * text). A number with no old number at its path is stored as the Node
 * driver stores a JS number (js-bson's serializeNumber): an integer that
 * fits int32 as int32, anything else as double — except -0, which stays a
 * double -0.0 (js-bson 4.x writes int32 0).
 *
 * "Unchanged" compares values as JavaScript sees them (1 == 1.0, key order
 * does not matter), so an unchanged subtree keeps its stored BSON exactly,
 * key order and types included. An object that is exactly an Extended JSON
 * wrapper ({"$oid": ...}, {"$date": ...}, ...) is written as that type; a
 * user object of that exact shape cannot be stored as a plain object.
 * Objects with other "$" keys are plain documents.
 */
#define _GNU_SOURCE /* memmem */
#include "backends/mongodb_bson.h"

#include <mongoc/mongoc.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/isotime.h"
#include "common/json.h"
#include "common/strbuf.h"

#define JFS_SAFE_INT 9007199254740992LL /* 2^53: larger int64 lose digits as doubles */
#define JFS_DATE_ISO_MAX 253402300799999LL /* 9999-12-31T23:59:59.999Z */
#define JFS_INDEX_MIN 16 /* old documents with more keys get a hash index */

static json_t *wrap_new(const char *key, json_t *v)
{
	json_t *o = json_object();

	if (!o || !v || json_object_set_new(o, key, v)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Values JSON cannot say, through libbson's canonical Extended JSON. */
static json_t *odd_to_json(const bson_iter_t *it, struct jfs_err *err)
{
	bson_t tmp = BSON_INITIALIZER;
	json_t *doc = NULL, *v = NULL;
	char *s;
	size_t len;

	if (!bson_append_iter(&tmp, "v", 1, it))
		goto out_destroy;
	s = bson_as_canonical_extended_json(&tmp, &len);
	if (!s)
		goto out_destroy;
	if (jfs_json_parse(s, len, &doc, err) == 0) {
		v = json_object_get(doc, "v");
		json_incref(v);
		json_decref(doc);
	}
	bson_free(s);
out_destroy:
	bson_destroy(&tmp);
	if (!v && err && !err->code)
		jfs_err_set(err, EIO, "cannot render bson type 0x%02x as json",
			    (unsigned)bson_iter_type(it));
	return v;
}

/*
 * Whether @it, over the document of @len bytes at @raw, stopped because the
 * document ended rather than at corrupt bytes: bson_iter_next() returns
 * false for both and sets err_off for only some corruptions (not for a key
 * without its NUL). At a clean end it stopped at the final NUL byte.
 */
static bool iter_at_end(const bson_iter_t *it, const uint8_t *raw, uint32_t len)
{
	return !it->err_off && len >= 5 && it->off == len - 1 && raw[len - 1] == '\0';
}

/*
 * Documents nest at most this deep, as jansson parses JSON: deeper ones
 * (only a broken or hostile server can send them; MongoDB refuses past 100)
 * are an error, not a stack overflow.
 */
#define MAX_DEPTH 2048

static json_t *value_to_json(const bson_iter_t *it, unsigned depth, struct jfs_err *err);

static json_t *doc_to_json(const bson_iter_t *parent, bool array, unsigned depth,
			   struct jfs_err *err)
{
	bson_iter_t child;
	const uint8_t *raw;
	uint32_t len;
	json_t *out, *v;

	/* @depth containers hold this one */
	if (depth + 1 > MAX_DEPTH) {
		jfs_err_set(err, EIO, "a stored document nests deeper than %d levels", MAX_DEPTH);
		return NULL;
	}
	out = array ? json_array() : json_object();
	if (!out || !bson_iter_recurse(parent, &child))
		goto out_fail;
	raw = child.raw;
	len = child.len;
	while (bson_iter_next(&child)) {
		v = value_to_json(&child, depth + 1, err);
		if (!v)
			goto out_fail;
		if (array ? json_array_append_new(out, v)
			  : json_object_set_new(out, bson_iter_key(&child), v)) {
			jfs_err_set(err, EIO, "key '%s' is not utf-8", bson_iter_key(&child));
			goto out_fail;
		}
	}
	if (!iter_at_end(&child, raw, len)) {
		jfs_err_set(err, EIO, "stored document is corrupt in '%s'", bson_iter_key(parent));
		goto out_fail;
	}
	return out;
out_fail:
	json_decref(out);
	if (err && !err->code)
		jfs_err_set(err, EIO, "cannot read a stored document");
	return NULL;
}

json_t *jfs_bson_value_to_json(const bson_iter_t *it, struct jfs_err *err)
{
	return value_to_json(it, 0, err);
}

static json_t *value_to_json(const bson_iter_t *it, unsigned depth, struct jfs_err *err)
{
	char buf[BSON_DECIMAL128_STRING > 64 ? BSON_DECIMAL128_STRING : 64];
	const char *s;
	uint32_t len;
	int64_t i64;
	double d;
	bson_oid_t oid;
	bson_decimal128_t dec;
	json_t *v;

	switch (bson_iter_type(it)) {
	case BSON_TYPE_DOUBLE:
		d = bson_iter_double(it);
		if (isfinite(d))
			return json_real(d);
		return wrap_new("$numberDouble",
				json_string(isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity"));
	case BSON_TYPE_INT32:
		return json_real(bson_iter_int32(it));
	case BSON_TYPE_INT64:
		i64 = bson_iter_int64(it);
		if (i64 >= -JFS_SAFE_INT && i64 <= JFS_SAFE_INT)
			return json_real((double)i64);
		snprintf(buf, sizeof(buf), "%" PRId64, i64);
		return wrap_new("$numberLong", json_string(buf));
	case BSON_TYPE_DECIMAL128:
		bson_iter_decimal128(it, &dec);
		bson_decimal128_to_string(&dec, buf);
		return wrap_new("$numberDecimal", json_string(buf));
	case BSON_TYPE_UTF8:
		s = bson_iter_utf8(it, &len);
		v = json_stringn(s, len);
		if (!v)
			jfs_err_set(err, EIO, "value of '%s' is not utf-8", bson_iter_key(it));
		return v;
	case BSON_TYPE_BOOL:
		return json_boolean(bson_iter_bool(it));
	case BSON_TYPE_NULL:
		return json_null();
	case BSON_TYPE_DOCUMENT:
		return doc_to_json(it, false, depth, err);
	case BSON_TYPE_ARRAY:
		return doc_to_json(it, true, depth, err);
	case BSON_TYPE_OID:
		bson_oid_copy(bson_iter_oid(it), &oid);
		bson_oid_to_string(&oid, buf);
		return wrap_new("$oid", json_string(buf));
	case BSON_TYPE_DATE_TIME:
		i64 = bson_iter_date_time(it);
		if (i64 >= 0 && i64 <= JFS_DATE_ISO_MAX) {
			jfs_iso_format(i64, buf);
			return wrap_new("$date", json_string(buf));
		}
		snprintf(buf, sizeof(buf), "%" PRId64, i64);
		return wrap_new("$date", wrap_new("$numberLong", json_string(buf)));
	default:
		return odd_to_json(it, err);
	}
}

json_t *jfs_bson_to_item(const bson_t *doc, const char *id, struct jfs_err *err)
{
	bson_iter_t it;
	json_t *item, *v;
	const char *key;
	uint32_t len;

	item = json_object();
	if (!item)
		return NULL;
	if (id) {
		json_object_set_new(item, "id", json_string(id));
	} else if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it)) {
		key = bson_iter_utf8(&it, &len);
		v = json_stringn(key, len);
		if (!v) {
			jfs_err_set(err, EIO, "stored _id is not utf-8");
			goto out_decref;
		}
		json_object_set_new(item, "id", v);
	}
	if (!bson_iter_init(&it, doc)) {
		jfs_err_set(err, EIO, "stored document is corrupt");
		goto out_decref;
	}
	while (bson_iter_next(&it)) {
		key = bson_iter_key(&it);
		if (!strcmp(key, "_id") || !strcmp(key, "id"))
			continue;
		v = value_to_json(&it, 1, err); /* inside the item */
		if (!v)
			goto out_decref;
		if (json_object_set_new(item, key, v)) {
			jfs_err_set(err, EIO, "key '%s' is not utf-8", key);
			goto out_decref;
		}
	}
	if (!iter_at_end(&it, bson_get_data(doc), doc->len)) {
		jfs_err_set(err, EIO, "stored document is corrupt at offset %" PRIu32,
			    it.err_off ? it.err_off : it.off);
		goto out_decref;
	}
	return item;
out_decref:
	json_decref(item);
	return NULL;
}

/* ---- JSON -> BSON ---- */

static bool is_integral(double d)
{
	/* doubles of 2^53 and beyond are all integers */
	if (!isfinite(d))
		return false;
	return d <= -9007199254740992.0 || d >= 9007199254740992.0 || d == (double)(int64_t)d;
}

static bool fits_int32(double d)
{
	return is_integral(d) && d >= INT32_MIN && d <= INT32_MAX && !(d == 0 && signbit(d));
}

/* Whether the number @d equals the stored number at @old (JS semantics). */
static bool old_number_equals(const bson_iter_t *old, double d, bool *known)
{
	int64_t i;

	*known = true;
	switch (bson_iter_type(old)) {
	case BSON_TYPE_DOUBLE:
		return bson_iter_double(old) == d;
	case BSON_TYPE_INT32:
		return (double)bson_iter_int32(old) == d;
	case BSON_TYPE_INT64:
		i = bson_iter_int64(old);
		return i >= -JFS_SAFE_INT && i <= JFS_SAFE_INT && (double)i == d;
	default:
		*known = false;
		return false;
	}
}

/* Whether @v equals what is stored at @old, as JavaScript sees values. */
static bool old_equals(const bson_iter_t *old, const json_t *v)
{
	const char *s;
	uint32_t len;
	json_t *oj;
	bool eq, known;

	switch (json_typeof(v)) {
	case JSON_INTEGER:
	case JSON_REAL:
		eq = old_number_equals(old, jfs_json_number_value(v), &known);
		if (known)
			return eq;
		return false;
	case JSON_STRING:
		if (!BSON_ITER_HOLDS_UTF8(old))
			return false;
		s = bson_iter_utf8(old, &len);
		return len == json_string_length(v) && !memcmp(s, json_string_value(v), len);
	case JSON_TRUE:
	case JSON_FALSE:
		return BSON_ITER_HOLDS_BOOL(old) && bson_iter_bool(old) == json_is_true(v);
	case JSON_NULL:
		return BSON_ITER_HOLDS_NULL(old);
	default:
		break;
	}
	oj = jfs_bson_value_to_json(old, NULL);
	if (!oj)
		return false;
	eq = jfs_json_equal(oj, v);
	json_decref(oj);
	return eq;
}

static int append_number(bson_t *b, const char *key, const json_t *v, const bson_iter_t *old)
{
	bson_type_t ot = old ? bson_iter_type(old) : BSON_TYPE_EOD;
	char text[32];
	bson_decimal128_t dec;
	double d;

	if (json_is_integer(v)) {
		/* made by C code, exact: never round it through a double */
		json_int_t i = json_integer_value(v);

		if (ot == BSON_TYPE_DOUBLE)
			return bson_append_double(b, key, -1, (double)i) ? 0 : -EINVAL;
		if (ot != BSON_TYPE_INT64 && i >= INT32_MIN && i <= INT32_MAX)
			return bson_append_int32(b, key, -1, (int32_t)i) ? 0 : -EINVAL;
		return bson_append_int64(b, key, -1, i) ? 0 : -EINVAL;
	}
	d = json_real_value(v);
	switch (ot) {
	case BSON_TYPE_DOUBLE:
		return bson_append_double(b, key, -1, d) ? 0 : -EINVAL;
	case BSON_TYPE_INT64:
		if (is_integral(d) && fabs(d) < 9223372036854775808.0)
			return bson_append_int64(b, key, -1, (int64_t)d) ? 0 : -EINVAL;
		break;
	case BSON_TYPE_DECIMAL128:
		jfs_json_format_number(d, text);
		if (bson_decimal128_from_string(text, &dec))
			return bson_append_decimal128(b, key, -1, &dec) ? 0 : -EINVAL;
		break;
	default:
		break;
	}
	if (fits_int32(d))
		return bson_append_int32(b, key, -1, (int32_t)d) ? 0 : -EINVAL;
	return bson_append_double(b, key, -1, d) ? 0 : -EINVAL;
}

static bool parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* The wrapper's first key, when @v is a one- or two-key object of "$" keys. */
static const char *wrapper_key(const json_t *v)
{
	void *iter = json_object_iter((json_t *)v);
	const char *k;

	if (json_object_size(v) < 1 || json_object_size(v) > 2)
		return NULL;
	for (; iter; iter = json_object_iter_next((json_t *)v, iter)) {
		k = json_object_iter_key(iter);
		if (k[0] != '$')
			return NULL;
	}
	return json_object_iter_key(json_object_iter((json_t *)v));
}

static bool is_odd_wrapper(const char *k)
{
	static const char *const names[] = {
		"$binary", "$type", "$uuid", "$timestamp", "$regularExpression", "$regex",
		"$options", "$minKey", "$maxKey", "$undefined", "$symbol", "$code", "$scope",
		"$dbPointer",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(k, names[i]))
			return true;
	return false;
}

/* Wrappers libbson parses (binary, timestamp, regex, code, ...). 1: not one. */
static int append_odd(bson_t *b, const char *key, const json_t *v, const char *path,
		      struct jfs_err *err)
{
	struct jfs_strbuf sb;
	bson_error_t berr;
	bson_t tmp;
	bson_iter_t it;
	int ret = 1;

	jfs_strbuf_init(&sb);
	jfs_strbuf_addstr(&sb, "{\"v\":");
	jfs_json_dump(v, &sb, 0, 0);
	jfs_strbuf_addch(&sb, '}');
	if (!bson_init_from_json(&tmp, sb.buf, (ssize_t)sb.len, &berr)) {
		ret = jfs_err_set(err, EINVAL, "invalid extended json at '%s': %s", path,
				  berr.message);
		goto out_release;
	}
	if (bson_iter_init_find(&it, &tmp, "v") && !BSON_ITER_HOLDS_DOCUMENT(&it))
		ret = bson_append_iter(b, key, -1, &it) ? 0 : -EINVAL;
	bson_destroy(&tmp);
out_release:
	jfs_strbuf_release(&sb);
	return ret;
}

/* Append @v when it is an Extended JSON wrapper: 0, -EINVAL, or 1 when it is not one. */
static int append_wrapper(bson_t *b, const char *key, const json_t *v, const char *path,
			  struct jfs_err *err)
{
	const char *wk = wrapper_key(v), *s;
	json_t *w;
	bson_oid_t oid;
	bson_decimal128_t dec;
	int64_t i64;
	double d;
	char *end;
	bool one = json_object_size(v) == 1;

	if (!wk)
		return 1;
	w = json_object_get(v, wk);
	s = json_string_value(w);
	if (one && !strcmp(wk, "$oid")) {
		if (!s || strlen(s) != 24 || !bson_oid_is_valid(s, 24))
			goto out_invalid;
		bson_oid_init_from_string(&oid, s);
		return bson_append_oid(b, key, -1, &oid) ? 0 : -EINVAL;
	}
	if (one && !strcmp(wk, "$date")) {
		if (s) {
			if (!jfs_iso_parse(s, &i64))
				goto out_invalid;
		} else if (json_is_object(w) && json_object_size(w) == 1) {
			if (!parse_i64(json_string_value(json_object_get(w, "$numberLong")), &i64))
				goto out_invalid;
		} else if (json_is_number(w) && is_integral(jfs_json_number_value(w)) &&
			   fabs(jfs_json_number_value(w)) < 9223372036854775808.0) {
			i64 = (int64_t)jfs_json_number_value(w);
		} else {
			goto out_invalid;
		}
		return bson_append_date_time(b, key, -1, i64) ? 0 : -EINVAL;
	}
	if (one && !strcmp(wk, "$numberLong")) {
		if (!parse_i64(s, &i64))
			goto out_invalid;
		return bson_append_int64(b, key, -1, i64) ? 0 : -EINVAL;
	}
	if (one && !strcmp(wk, "$numberInt")) {
		if (!parse_i64(s, &i64) || i64 < INT32_MIN || i64 > INT32_MAX)
			goto out_invalid;
		return bson_append_int32(b, key, -1, (int32_t)i64) ? 0 : -EINVAL;
	}
	if (one && !strcmp(wk, "$numberDouble")) {
		if (!s || !*s)
			goto out_invalid;
		if (!strcmp(s, "NaN")) {
			d = NAN;
		} else if (!strcmp(s, "Infinity")) {
			d = INFINITY;
		} else if (!strcmp(s, "-Infinity")) {
			d = -INFINITY;
		} else {
			errno = 0;
			d = strtod(s, &end);
			if (errno || *end || !isfinite(d))
				goto out_invalid;
		}
		return bson_append_double(b, key, -1, d) ? 0 : -EINVAL;
	}
	if (one && !strcmp(wk, "$numberDecimal")) {
		if (!s || !bson_decimal128_from_string(s, &dec))
			goto out_invalid;
		return bson_append_decimal128(b, key, -1, &dec) ? 0 : -EINVAL;
	}
	if (is_odd_wrapper(wk))
		return append_odd(b, key, v, path, err);
	if (!strncmp(wk, "$number", 7) || !strcmp(wk, "$oid") || !strcmp(wk, "$date"))
		goto out_invalid;
	return 1;
out_invalid:
	return jfs_err_set(err, EINVAL, "invalid extended json '%s' at '%s'", wk, path);
}

/* An index of an old document's keys, so wide objects cost O(n) to match. */
/*
 * bson_iter_t's 128-byte alignment is on the typedef, not the struct:
 * sizeof is 80, so a plain array of them is misaligned. Pad each one.
 */
struct old_slot {
	bson_iter_t it;
};

struct old_index {
	struct old_slot *iters;
	json_t *pos; /* key -> json_integer(index) */
	size_t n;
};

static void old_index_build(struct old_index *ix, const bson_iter_t *old_doc)
{
	const char *key;
	bson_iter_t it;
	size_t count = 0;

	memset(ix, 0, sizeof(*ix));
	if (!bson_iter_recurse(old_doc, &it))
		return;
	while (bson_iter_next(&it))
		count++;
	if (!count || posix_memalign((void **)&ix->iters, BSON_ALIGNOF(struct old_slot),
				     count * sizeof(*ix->iters)))
		return;
	ix->pos = json_object();
	bson_iter_recurse(old_doc, &it);
	while (ix->n < count && bson_iter_next(&it)) {
		ix->iters[ix->n].it = it;
		/* the first of duplicate keys wins, as bson_iter_find would */
		key = bson_iter_key(&it);
		if (!json_object_get(ix->pos, key))
			json_object_set_new(ix->pos, key, json_integer((json_int_t)ix->n));
		ix->n++;
	}
}

static void old_index_release(struct old_index *ix)
{
	free(ix->iters);
	json_decref(ix->pos);
}

static const bson_iter_t *old_index_find(const struct old_index *ix, const char *key)
{
	json_t *p = json_object_get(ix->pos, key);

	return p ? &ix->iters[json_integer_value(p)].it : NULL;
}

static int append_value(bson_t *b, const char *key, const json_t *v, const bson_iter_t *old,
			struct jfs_strbuf *path, struct jfs_err *err);

static int append_object(bson_t *b, const char *key, const json_t *v, const bson_iter_t *old,
			 struct jfs_strbuf *path, struct jfs_err *err)
{
	bool have_old = old && BSON_ITER_HOLDS_DOCUMENT(old);
	struct old_index ix = { 0 };
	bson_iter_t found;
	const bson_iter_t *oc;
	const char *k;
	json_t *cv;
	bson_t child;
	size_t plen = path->len;
	int ret = 0;

	if (have_old && json_object_size(v) > JFS_INDEX_MIN)
		old_index_build(&ix, old);
	if (!bson_append_document_begin(b, key, -1, &child))
		return jfs_err_set(err, EINVAL, "cannot store '%s': document too large", path->buf);
	json_object_foreach((json_t *)v, k, cv) {
		oc = NULL;
		if (ix.pos) {
			oc = old_index_find(&ix, k);
		} else if (have_old && bson_iter_recurse(old, &found) &&
			   bson_iter_find(&found, k)) {
			oc = &found;
		}
		jfs_strbuf_addf(path, ".%s", k);
		ret = append_value(&child, k, cv, oc, path, err);
		jfs_strbuf_setlen(path, plen);
		if (ret)
			break;
	}
	if (!bson_append_document_end(b, &child) && !ret)
		ret = jfs_err_set(err, EINVAL, "cannot store '%s': document too large", path->buf);
	old_index_release(&ix);
	return ret;
}

static int append_array(bson_t *b, const char *key, const json_t *v, const bson_iter_t *old,
			struct jfs_strbuf *path, struct jfs_err *err)
{
	bson_iter_t oit;
	bool have_old = old && BSON_ITER_HOLDS_ARRAY(old) && bson_iter_recurse(old, &oit);
	char kbuf[16];
	const char *k;
	size_t i, plen = path->len;
	bson_t child;
	int ret = 0;

	if (!bson_append_array_begin(b, key, -1, &child))
		return jfs_err_set(err, EINVAL, "cannot store '%s': document too large", path->buf);
	for (i = 0; i < json_array_size(v); i++) {
		if (have_old)
			have_old = bson_iter_next(&oit);
		bson_uint32_to_string((uint32_t)i, &k, kbuf, sizeof(kbuf));
		jfs_strbuf_addf(path, "[%zu]", i);
		ret = append_value(&child, k, json_array_get(v, i), have_old ? &oit : NULL, path,
				   err);
		jfs_strbuf_setlen(path, plen);
		if (ret)
			break;
	}
	if (!bson_append_array_end(b, &child) && !ret)
		ret = jfs_err_set(err, EINVAL, "cannot store '%s': document too large", path->buf);
	return ret;
}

static int append_value(bson_t *b, const char *key, const json_t *v, const bson_iter_t *old,
			struct jfs_strbuf *path, struct jfs_err *err)
{
	int ret;

	if (old && old_equals(old, v))
		return bson_append_iter(b, key, -1, old) ? 0 : -EINVAL;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		ret = append_wrapper(b, key, v, path->buf, err);
		if (ret <= 0)
			return ret;
		return append_object(b, key, v, old, path, err);
	case JSON_ARRAY:
		return append_array(b, key, v, old, path, err);
	case JSON_STRING:
		ret = bson_append_utf8(b, key, -1, json_string_value(v),
				       (int)json_string_length(v));
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		ret = append_number(b, key, v, old) == 0;
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		ret = bson_append_bool(b, key, -1, json_is_true(v));
		break;
	default:
		ret = bson_append_null(b, key, -1);
		break;
	}
	if (!ret)
		return jfs_err_set(err, EINVAL, "cannot store '%s': document too large", path->buf);
	return 0;
}

int jfs_bson_append_json(bson_t *b, const char *key, const json_t *v, const bson_iter_t *old,
			 const char *path, struct jfs_err *err)
{
	struct jfs_strbuf sb;
	int ret;

	jfs_strbuf_init(&sb);
	jfs_strbuf_addstr(&sb, path ? path : key);
	ret = append_value(b, key, v, old, &sb, err);
	jfs_strbuf_release(&sb);
	return ret;
}

int jfs_bson_from_item(const json_t *item, const char *id, bson_t *out, struct jfs_err *err)
{
	const char *key;
	json_t *v;
	int ret;

	if (!json_is_object(item))
		return jfs_err_set(err, EINVAL, "item of '%s' is not an object", id);
	if (!bson_append_utf8(out, "_id", 3, id, -1))
		return jfs_err_set(err, EINVAL, "cannot store id '%s'", id);
	json_object_foreach((json_t *)item, key, v) {
		if (!strcmp(key, "id") || !strcmp(key, "_id"))
			continue;
		ret = jfs_bson_append_json(out, key, v, NULL, key, err);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- connection strings ---- */

static bool secret_option(const char *name, size_t len)
{
	static const char *const secrets[] = {
		"tlscertificatekeyfilepassword",
		"sslclientcertificatekeypassword",
		"authmechanismproperties",
		"password",
	};
	size_t i;

	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (strlen(secrets[i]) == len && !strncasecmp(name, secrets[i], len))
			return true;
	return false;
}

/* @in with %XX decoded, into a malloc()ed string. */
static char *percent_decode(const char *in, size_t len)
{
	char *out = malloc(len + 1), hex[3] = { 0 };
	size_t i, o = 0;

	if (!out)
		abort();
	for (i = 0; i < len; i++) {
		if (in[i] == '%' && i + 2 < len + 0 && isxdigit((unsigned char)in[i + 1]) &&
		    isxdigit((unsigned char)in[i + 2])) {
			hex[0] = in[i + 1];
			hex[1] = in[i + 2];
			out[o++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
	return out;
}

bool jfs_mongo_password_span(const char *text, const char *password, size_t *off, size_t *len)
{
	const char *auth = strstr(text, "://"), *colon, *at;
	size_t plen = password ? strlen(password) : 0;
	bool found = false;
	char *dec;

	if (!auth || !plen)
		return false;
	auth += 3;
	colon = strchr(auth, ':');
	if (!colon)
		return false;
	/* the '@' that ends it is the one whose text before decodes to the password */
	for (at = strchr(colon + 1, '@'); at && !found; at = strchr(at + 1, '@')) {
		dec = percent_decode(colon + 1, (size_t)(at - colon - 1));
		found = !strcmp(dec, password);
		explicit_bzero(dec, strlen(dec));
		free(dec);
		if (found) {
			*off = (size_t)(colon + 1 - text);
			*len = (size_t)(at - colon - 1);
		}
	}
	return found;
}

/* Mask the value of every secret option ("name=value") in @sb from @from on. */
static void mask_options(struct jfs_strbuf *sb, size_t from)
{
	size_t i = from, j;

	while (i < sb->len) {
		size_t start = i;

		/* an option name: letters, as libmongoc's are */
		while (i < sb->len && isalpha((unsigned char)sb->buf[i]))
			i++;
		if (i == start) {
			i++;
			continue;
		}
		if (i < sb->len && sb->buf[i] == '=' && secret_option(sb->buf + start, i - start)) {
			j = ++i;
			while (j < sb->len && !strchr("&;'\" ,)", sb->buf[j]))
				j++;
			if (j > i) {
				char *rest = strdup(sb->buf + j);

				if (!rest)
					abort();
				jfs_strbuf_setlen(sb, i);
				jfs_strbuf_addstr(sb, "***");
				jfs_strbuf_addstr(sb, rest);
				free(rest);
				i += 3;
			}
		}
	}
}

/* Replace every occurrence of @secret in @sb by "***". */
static void mask_secret(struct jfs_strbuf *sb, const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;
	char *p, *rest;

	if (!n)
		return;
	while ((p = memmem(sb->buf, sb->len, secret, n))) {
		rest = strdup(p + n);
		if (!rest)
			abort();
		jfs_strbuf_setlen(sb, (size_t)(p - sb->buf));
		jfs_strbuf_addstr(sb, "***");
		jfs_strbuf_addstr(sb, rest);
		free(rest);
	}
}

/*
 * Mask the user info's password of a connection string in @sb, as far as
 * the text tells: from the ':' after the user name to the last '@' before
 * the path. Returns the offset after the mask (0: none).
 */
static size_t mask_userinfo(struct jfs_strbuf *sb, size_t min_end)
{
	const char *auth = strstr(sb->buf, "://"), *colon, *at = NULL, *end;
	size_t off, len;
	char *rest;

	if (!auth)
		return 0;
	auth += 3;
	end = auth + strcspn(auth, "/ '\"");
	for (colon = auth; colon < end; colon++)
		if (*colon == '@')
			at = colon;
	colon = memchr(auth, ':', (size_t)(end - auth));
	if (!colon || (at && at < colon))
		return 0;
	off = (size_t)(colon + 1 - sb->buf);
	len = at ? (size_t)(at - colon - 1) : 0;
	if (off + len < min_end)
		len = min_end - off;
	if (!len)
		return 0;
	rest = strdup(sb->buf + off + len);
	if (!rest)
		abort();
	jfs_strbuf_setlen(sb, off);
	jfs_strbuf_addstr(sb, "***");
	jfs_strbuf_addstr(sb, rest);
	free(rest);
	return off + 3;
}

char *jfs_mongo_redact(const char *text, const char *const *secrets, size_t nsecrets)
{
	struct jfs_strbuf sb;
	size_t i;

	jfs_strbuf_init(&sb);
	jfs_strbuf_addstr(&sb, text ? text : "");
	for (i = 0; i < nsecrets; i++)
		mask_secret(&sb, secrets[i]);
	mask_userinfo(&sb, 0);
	mask_options(&sb, 0);
	return jfs_strbuf_detach(&sb, NULL);
}

char *jfs_mongo_redact_uri(const char *uri)
{
	struct jfs_strbuf sb;
	mongoc_uri_t *parsed = mongoc_uri_new_with_error(uri, NULL);
	const char *pw = parsed ? mongoc_uri_get_password(parsed) : NULL;
	size_t off = 0, len = 0, after;

	jfs_strbuf_init(&sb);
	jfs_strbuf_addstr(&sb, uri);
	/*
	 * libmongoc's own reading says where its password is ('?' in it
	 * included); what the text says may reach further ('@' in it): mask
	 * from the name to the farther of the two
	 */
	if (pw && jfs_mongo_password_span(uri, pw, &off, &len))
		after = mask_userinfo(&sb, off + len);
	else
		after = mask_userinfo(&sb, 0);
	mask_options(&sb, after);
	if (parsed)
		mongoc_uri_destroy(parsed);
	return jfs_strbuf_detach(&sb, NULL);
}
