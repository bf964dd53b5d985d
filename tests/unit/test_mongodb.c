/*
 * Unit tests of the MongoDb backend: the BSON <-> JSON mapping at its
 * edges, connection strings and settings, and, when JOVOFS_TEST_MONGODB_URI
 * names a server (FerretDB or mongod), the backend's ops against it.
 */
#include <errno.h>
#include <math.h>
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/backend.h"
#include "backends/mongodb_bson.h"
#include "common/isotime.h"
#include "common/json.h"
#include "common/log.h"

#include "check.h"
#include "testjson.h"

static json_t *parse(const char *text)
{
	struct jfs_err err = { 0 };
	json_t *v = NULL;

	if (jfs_json_parse(text, strlen(text), &v, &err)) {
		fprintf(stderr, "bad test json: %s: %s\n", text, err.msg);
		abort();
	}
	return v;
}

/* A document as canonical Extended JSON, types visible. Caller bson_free()s. */
static char *canon(const bson_t *b)
{
	return bson_as_canonical_extended_json(b, NULL);
}

static bson_t *doc_from_canon(const char *ejson)
{
	bson_error_t be;
	bson_t *b = bson_new_from_json((const uint8_t *)ejson, -1, &be);

	if (!b) {
		fprintf(stderr, "bad test extended json: %s: %s\n", ejson, be.message);
		abort();
	}
	return b;
}

/* The JSON of the value @key of @doc, compact. Caller frees. */
static char *value_json(const bson_t *doc, const char *key)
{
	bson_iter_t it;
	json_t *v;
	char *s;

	if (!bson_iter_init_find(&it, doc, key))
		return strdup("(missing)");
	v = jfs_bson_value_to_json(&it, NULL);
	s = jfs_test_stringify(v);
	json_decref(v);
	return s;
}

/* Encode {key: json} with @old's @key as the old value; canonical EJSON of the result. */
static char *encode_with_old(const char *json_text, const bson_t *old, int *ret)
{
	json_t *v = parse(json_text);
	bson_t out = BSON_INITIALIZER;
	struct jfs_err err = { 0 };
	bson_iter_t oit;
	char *s;

	*ret = jfs_bson_append_json(&out, "v", v, old && bson_iter_init_find(&oit, old, "v") ? &oit : NULL,
				    "v", &err);
	s = canon(&out);
	bson_destroy(&out);
	json_decref(v);
	return s;
}

static void test_bson_to_json(void)
{
	bson_t *doc = doc_from_canon(
		"{\"i32\": {\"$numberInt\": \"7\"}, \"d1\": {\"$numberDouble\": \"1.0\"},"
		" \"d01\": {\"$numberDouble\": \"0.1\"},"
		" \"safe\": {\"$numberLong\": \"9007199254740992\"},"
		" \"big\": {\"$numberLong\": \"9007199254740993\"},"
		" \"nbig\": {\"$numberLong\": \"-9007199254740993\"},"
		" \"max\": {\"$numberLong\": \"9223372036854775807\"},"
		" \"nan\": {\"$numberDouble\": \"NaN\"}, \"inf\": {\"$numberDouble\": \"Infinity\"},"
		" \"ninf\": {\"$numberDouble\": \"-Infinity\"}, \"nz\": {\"$numberDouble\": \"-0.0\"},"
		" \"dec\": {\"$numberDecimal\": \"1.10\"},"
		" \"oid\": {\"$oid\": \"5f0c1a2b3c4d5e6f70819203\"},"
		" \"date\": {\"$date\": {\"$numberLong\": \"1782928804034\"}},"
		" \"epoch\": {\"$date\": {\"$numberLong\": \"0\"}},"
		" \"neg\": {\"$date\": {\"$numberLong\": \"-1000\"}},"
		" \"bin\": {\"$binary\": {\"base64\": \"aGk=\", \"subType\": \"00\"}},"
		" \"uuid\": {\"$binary\": {\"base64\": \"AAECAwQFBgcICQoLDA0ODw==\", \"subType\": \"04\"}},"
		" \"ts\": {\"$timestamp\": {\"t\": 1700000000, \"i\": 2}},"
		" \"re\": {\"$regularExpression\": {\"pattern\": \"a+\", \"options\": \"i\"}},"
		" \"min\": {\"$minKey\": 1}, \"max2\": {\"$maxKey\": 1}, \"undef\": {\"$undefined\": true},"
		" \"nested\": {\"a\": [[{\"$numberInt\": \"1\"}, [{\"$numberDouble\": \"2.5\"}]], {}, []]},"
		" \"s\": \"h\\u00e9\\u0000x\", \"t\": true, \"n\": null}");
	static const struct {
		const char *key, *json;
	} cases[] = {
		{ "i32", "7" },
		{ "d1", "1" },
		{ "d01", "0.1" },
		{ "safe", "9007199254740992" },
		{ "big", "{\"$numberLong\":\"9007199254740993\"}" },
		{ "nbig", "{\"$numberLong\":\"-9007199254740993\"}" },
		{ "max", "{\"$numberLong\":\"9223372036854775807\"}" },
		{ "nan", "{\"$numberDouble\":\"NaN\"}" },
		{ "inf", "{\"$numberDouble\":\"Infinity\"}" },
		{ "ninf", "{\"$numberDouble\":\"-Infinity\"}" },
		{ "nz", "0" },
		{ "dec", "{\"$numberDecimal\":\"1.10\"}" },
		{ "oid", "{\"$oid\":\"5f0c1a2b3c4d5e6f70819203\"}" },
		{ "date", "{\"$date\":\"2026-07-01T18:00:04.034Z\"}" },
		{ "epoch", "{\"$date\":\"1970-01-01T00:00:00.000Z\"}" },
		{ "neg", "{\"$date\":{\"$numberLong\":\"-1000\"}}" },
		{ "bin", "{\"$binary\":{\"base64\":\"aGk=\",\"subType\":\"00\"}}" },
		{ "uuid", "{\"$binary\":{\"base64\":\"AAECAwQFBgcICQoLDA0ODw==\",\"subType\":\"04\"}}" },
		{ "ts", "{\"$timestamp\":{\"t\":1700000000,\"i\":2}}" },
		{ "re", "{\"$regularExpression\":{\"pattern\":\"a+\",\"options\":\"i\"}}" },
		{ "min", "{\"$minKey\":1}" },
		{ "max2", "{\"$maxKey\":1}" },
		{ "undef", "{\"$undefined\":true}" },
		{ "nested", "{\"a\":[[1,[2.5]],{},[]]}" },
		{ "s", "\"h\xc3\xa9\\u0000x\"" },
		{ "t", "true" },
		{ "n", "null" },
	};
	bson_iter_t it;
	json_t *v;
	size_t i;
	char *s;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = value_json(doc, cases[i].key);
		CHECK_STR(s, cases[i].json);
		free(s);
	}
	/* numbers are json_real, as JavaScript sees them; -0 keeps its sign */
	bson_iter_init_find(&it, doc, "i32");
	v = jfs_bson_value_to_json(&it, NULL);
	CHECK(json_is_real(v) && json_real_value(v) == 7);
	json_decref(v);
	bson_iter_init_find(&it, doc, "nz");
	v = jfs_bson_value_to_json(&it, NULL);
	CHECK(json_is_real(v) && json_real_value(v) == 0 && signbit(json_real_value(v)));
	json_decref(v);
	bson_destroy(doc);
}

/* Every type, decoded and encoded again with itself as the old value: same bytes. */
static void test_round_trip_unchanged(void)
{
	bson_t *doc = doc_from_canon(
		"{\"_id\": \"u1\", \"user\": {\"data\": {\"i\": {\"$numberInt\": \"1\"},"
		" \"l\": {\"$numberLong\": \"5\"}, \"d\": {\"$numberDouble\": \"1.0\"},"
		" \"nz\": {\"$numberDouble\": \"-0.0\"}, \"nan\": {\"$numberDouble\": \"NaN\"},"
		" \"big\": {\"$numberLong\": \"4611686018427387905\"},"
		" \"dec\": {\"$numberDecimal\": \"1.10\"}, \"dec2\": {\"$numberDecimal\": \"-0E+3\"},"
		" \"oid\": {\"$oid\": \"5f0c1a2b3c4d5e6f70819203\"},"
		" \"date\": {\"$date\": {\"$numberLong\": \"1782928804034\"}},"
		" \"old\": {\"$date\": {\"$numberLong\": \"-86400000\"}},"
		" \"bin\": {\"$binary\": {\"base64\": \"AP8=\", \"subType\": \"80\"}},"
		" \"ts\": {\"$timestamp\": {\"t\": 1, \"i\": 2}},"
		" \"re\": {\"$regularExpression\": {\"pattern\": \"^x\", \"options\": \"im\"}},"
		" \"code\": {\"$code\": \"f()\"}, \"sym\": {\"$symbol\": \"s\"},"
		" \"min\": {\"$minKey\": 1}, \"max\": {\"$maxKey\": 1},"
		" \"arr\": [[{\"$numberInt\": \"1\"}, [{\"$numberLong\": \"2\"}]], {\"z\": null}]}},"
		" \"createdAt\": \"2026-06-30T05:50:04.034Z\", \"updatedAt\": {\"$date\": \"2026-11-20T10:02:11.482Z\"}}");
	struct jfs_err err = { 0 };
	bson_t out = BSON_INITIALIZER;
	bson_iter_t it;
	json_t *item, *v;
	const char *key;
	char *a, *b;
	int ret = 0;

	item = jfs_bson_to_item(doc, NULL, &err);
	CHECK(item != NULL);
	if (!item)
		goto out;
	CHECK_STR(json_object_iter_key(json_object_iter(item)), "id");
	CHECK_STR(json_string_value(json_object_get(item, "id")), "u1");
	CHECK(json_object_get(item, "_id") == NULL);
	BSON_APPEND_UTF8(&out, "_id", "u1");
	json_object_foreach(item, key, v) {
		if (!strcmp(key, "id"))
			continue;
		bson_iter_init_find(&it, doc, key);
		ret |= jfs_bson_append_json(&out, key, v, &it, key, &err);
	}
	CHECK(ret == 0);
	a = canon(doc);
	b = canon(&out);
	CHECK_STR(b, a);
	CHECK(bson_equal(doc, &out));
	bson_free(a);
	bson_free(b);

	/* the same through JSON text, the way an edited file comes back */
	{
		char *text = jfs_test_stringify(item);
		json_t *again = parse(text);
		bson_t out2 = BSON_INITIALIZER;

		BSON_APPEND_UTF8(&out2, "_id", "u1");
		json_object_foreach(again, key, v) {
			if (!strcmp(key, "id"))
				continue;
			bson_iter_init_find(&it, doc, key);
			ret |= jfs_bson_append_json(&out2, key, v, &it, key, &err);
		}
		CHECK(ret == 0 && bson_equal(doc, &out2));
		bson_destroy(&out2);
		json_decref(again);
		free(text);
	}
	json_decref(item);
out:
	bson_destroy(&out);
	bson_destroy(doc);
}

/* Extended JSON written with no old value still becomes the right type. */
static void test_new_values(void)
{
	static const struct {
		const char *json, *canon;
	} cases[] = {
		/* numbers as the Node driver stores JS numbers */
		{ "1", "{ \"v\" : { \"$numberInt\" : \"1\" } }" },
		{ "1.0", "{ \"v\" : { \"$numberInt\" : \"1\" } }" },
		{ "-2147483648", "{ \"v\" : { \"$numberInt\" : \"-2147483648\" } }" },
		{ "2147483648", "{ \"v\" : { \"$numberDouble\" : \"2147483648.0\" } }" },
		{ "1.5", "{ \"v\" : { \"$numberDouble\" : \"1.5\" } }" },
		{ "-0", "{ \"v\" : { \"$numberDouble\" : \"-0.0\" } }" },
		{ "1e300", "{ \"v\" : { \"$numberDouble\" : \"1.0000000000000000525e+300\" } }" },
		{ "12345678901234567000",
		  "{ \"v\" : { \"$numberDouble\" : \"12345678901234567168.0\" } }" },
		/* Extended JSON wrappers */
		{ "{\"$numberLong\":\"9007199254740993\"}",
		  "{ \"v\" : { \"$numberLong\" : \"9007199254740993\" } }" },
		{ "{\"$numberLong\":\"-9223372036854775808\"}",
		  "{ \"v\" : { \"$numberLong\" : \"-9223372036854775808\" } }" },
		{ "{\"$numberInt\":\"5\"}", "{ \"v\" : { \"$numberInt\" : \"5\" } }" },
		{ "{\"$numberDouble\":\"1.0\"}", "{ \"v\" : { \"$numberDouble\" : \"1.0\" } }" },
		{ "{\"$numberDouble\":\"NaN\"}", "{ \"v\" : { \"$numberDouble\" : \"NaN\" } }" },
		{ "{\"$numberDouble\":\"-Infinity\"}",
		  "{ \"v\" : { \"$numberDouble\" : \"-Infinity\" } }" },
		{ "{\"$numberDouble\":\"-0.0\"}", "{ \"v\" : { \"$numberDouble\" : \"-0.0\" } }" },
		{ "{\"$numberDecimal\":\"1.10\"}", "{ \"v\" : { \"$numberDecimal\" : \"1.10\" } }" },
		{ "{\"$oid\":\"5f0c1a2b3c4d5e6f70819203\"}",
		  "{ \"v\" : { \"$oid\" : \"5f0c1a2b3c4d5e6f70819203\" } }" },
		{ "{\"$date\":\"2026-11-20T10:02:11.482Z\"}",
		  "{ \"v\" : { \"$date\" : { \"$numberLong\" : \"1795168931482\" } } }" },
		{ "{\"$date\":{\"$numberLong\":\"-1000\"}}",
		  "{ \"v\" : { \"$date\" : { \"$numberLong\" : \"-1000\" } } }" },
		{ "{\"$binary\":{\"base64\":\"aGk=\",\"subType\":\"00\"}}",
		  "{ \"v\" : { \"$binary\" : { \"base64\" : \"aGk=\", \"subType\" : \"00\" } } }" },
		{ "{\"$timestamp\":{\"t\":1700000000,\"i\":2}}",
		  "{ \"v\" : { \"$timestamp\" : { \"t\" : 1700000000, \"i\" : 2 } } }" },
		{ "{\"$regularExpression\":{\"pattern\":\"a+\",\"options\":\"i\"}}",
		  "{ \"v\" : { \"$regularExpression\" : { \"pattern\" : \"a+\", \"options\" : \"i\" } } }" },
		{ "{\"$minKey\":1}", "{ \"v\" : { \"$minKey\" : 1 } }" },
		{ "{\"$undefined\":true}", "{ \"v\" : { \"$undefined\" : true } }" },
		/* nested arrays, plain objects with "$" keys */
		{ "[[1,[2.5,[]]],{}]",
		  "{ \"v\" : [ [ { \"$numberInt\" : \"1\" }, [ { \"$numberDouble\" : \"2.5\" }, [  ] ] ], {  } ] }" },
		{ "{\"$foo\":1}", "{ \"v\" : { \"$foo\" : { \"$numberInt\" : \"1\" } } }" },
		{ "{\"a\":\"x\",\"$oid\":\"y\"}",
		  "{ \"v\" : { \"a\" : \"x\", \"$oid\" : \"y\" } }" },
		{ "\"\\u0000\"", "{ \"v\" : \"\\u0000\" }" },
	};
	size_t i;
	int ret;
	char *s;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = encode_with_old(cases[i].json, NULL, &ret);
		CHECK(ret == 0);
		CHECK_STR(s, cases[i].canon);
		bson_free(s);
	}
}

static void test_invalid_wrappers(void)
{
	static const char *const bad[] = {
		"{\"$oid\":\"zz\"}",
		"{\"$oid\":5}",
		"{\"$date\":\"yesterday\"}",
		"{\"$date\":{\"$numberLong\":\"1x\"}}",
		/* ms beyond int64 */
		"{\"$date\":1e300}",
		"{\"$date\":-9.3e18}",
		"{\"$numberLong\":\"12x\"}",
		"{\"$numberLong\":\"99999999999999999999\"}",
		"{\"$numberInt\":\"3000000000\"}",
		"{\"$numberDouble\":\"one\"}",
		"{\"$numberDecimal\":\"abc\"}",
		"{\"$binary\":{\"base64\":5}}",
		"{\"$timestamp\":\"now\"}",
	};
	size_t i;
	int ret;
	char *s;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = encode_with_old(bad[i], NULL, &ret);
		if (ret != -EINVAL)
			fprintf(stderr, "accepted %s as %s\n", bad[i], s);
		CHECK(ret == -EINVAL);
		bson_free(s);
	}
}

/* A changed value keeps the numeric type that was stored at its path. */
static void test_old_types(void)
{
	static const struct {
		const char *old, *json, *canon;
	} cases[] = {
		/* unchanged by value: the old bytes, whatever the new text says */
		{ "{\"v\": {\"$numberDouble\": \"1.0\"}}", "1",
		  "{ \"v\" : { \"$numberDouble\" : \"1.0\" } }" },
		{ "{\"v\": {\"$numberLong\": \"1\"}}", "1.0",
		  "{ \"v\" : { \"$numberLong\" : \"1\" } }" },
		{ "{\"v\": {\"$numberDouble\": \"-0.0\"}}", "0",
		  "{ \"v\" : { \"$numberDouble\" : \"-0.0\" } }" },
		{ "{\"v\": {\"$numberDecimal\": \"1.10\"}}", "{\"$numberDecimal\":\"1.10\"}",
		  "{ \"v\" : { \"$numberDecimal\" : \"1.10\" } }" },
		{ "{\"v\": {\"a\": {\"$numberLong\": \"1\"}, \"b\": {\"$numberDouble\": \"2.0\"}}}",
		  "{\"b\":2,\"a\":1}",
		  "{ \"v\" : { \"a\" : { \"$numberLong\" : \"1\" }, \"b\" : { \"$numberDouble\" : \"2.0\" } } }" },
		/* changed: the old number's type where it can hold the new value */
		{ "{\"v\": {\"$numberDouble\": \"1.0\"}}", "2",
		  "{ \"v\" : { \"$numberDouble\" : \"2.0\" } }" },
		{ "{\"v\": {\"$numberLong\": \"5\"}}", "6",
		  "{ \"v\" : { \"$numberLong\" : \"6\" } }" },
		{ "{\"v\": {\"$numberLong\": \"5\"}}", "6.5",
		  "{ \"v\" : { \"$numberDouble\" : \"6.5\" } }" },
		{ "{\"v\": {\"$numberInt\": \"5\"}}", "1.5",
		  "{ \"v\" : { \"$numberDouble\" : \"1.5\" } }" },
		{ "{\"v\": {\"$numberInt\": \"5\"}}", "3000000000",
		  "{ \"v\" : { \"$numberDouble\" : \"3000000000.0\" } }" },
		{ "{\"v\": {\"$numberDecimal\": \"1.10\"}}", "2.5",
		  "{ \"v\" : { \"$numberDecimal\" : \"2.5\" } }" },
		{ "{\"v\": \"text\"}", "7", "{ \"v\" : { \"$numberInt\" : \"7\" } }" },
		/* inside documents and arrays, path by path */
		{ "{\"v\": {\"data\": {\"score\": {\"$numberDouble\": \"3.0\"}, \"n\": {\"$numberLong\": \"1\"}}}}",
		  "{\"data\":{\"score\":4,\"n\":1,\"new\":1}}",
		  "{ \"v\" : { \"data\" : { \"score\" : { \"$numberDouble\" : \"4.0\" }, \"n\" : { \"$numberLong\" : \"1\" }, \"new\" : { \"$numberInt\" : \"1\" } } } }" },
		{ "{\"v\": [{\"$numberLong\": \"1\"}, [{\"$numberDouble\": \"2.0\"}]]}", "[1,[3],4]",
		  "{ \"v\" : [ { \"$numberLong\" : \"1\" }, [ { \"$numberDouble\" : \"3.0\" } ], { \"$numberInt\" : \"4\" } ] }" },
		/* a changed object keeps the old bytes of its unchanged members */
		{ "{\"v\": {\"d\": {\"$date\": {\"$numberLong\": \"0\"}}, \"x\": {\"$numberInt\": \"1\"}}}",
		  "{\"d\":{\"$date\":\"1970-01-01T00:00:00.000Z\"},\"x\":2}",
		  "{ \"v\" : { \"d\" : { \"$date\" : { \"$numberLong\" : \"0\" } }, \"x\" : { \"$numberInt\" : \"2\" } } }" },
	};
	bson_t *old;
	size_t i;
	int ret;
	char *s;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		old = doc_from_canon(cases[i].old);
		s = encode_with_old(cases[i].json, old, &ret);
		CHECK(ret == 0);
		CHECK_STR(s, cases[i].canon);
		bson_free(s);
		bson_destroy(old);
	}
}

/* A wide object (hash-indexed old keys) keeps every member's type. */
static void test_wide_object(void)
{
	bson_t *old = bson_new(), child;
	json_t *v = json_object();
	bson_iter_t it, cit;
	bson_t out = BSON_INITIALIZER;
	char key[16];
	int i, ok = 1;

	bson_append_document_begin(old, "v", 1, &child);
	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		bson_append_double(&child, key, -1, i);
		json_object_set_new(v, key, json_real(i == 100 ? 1000 : i));
	}
	bson_append_document_end(old, &child);
	json_object_set_new(v, "extra", json_real(1));
	bson_iter_init_find(&it, old, "v");
	CHECK(jfs_bson_append_json(&out, "v", v, &it, "v", NULL) == 0);
	bson_iter_init_find(&it, &out, "v");
	bson_iter_recurse(&it, &cit);
	for (i = 0; i < 200 && bson_iter_next(&cit); i++)
		ok &= BSON_ITER_HOLDS_DOUBLE(&cit) && bson_iter_double(&cit) == (i == 100 ? 1000 : i);
	CHECK(ok && i == 200);
	CHECK(bson_iter_next(&cit) && BSON_ITER_HOLDS_INT32(&cit));
	bson_destroy(&out);
	json_decref(v);
	bson_destroy(old);
}

static void test_item(void)
{
	bson_t *doc = doc_from_canon("{\"_id\": \"amzn1.x\", \"id\": \"shadow\", \"user\": {\"data\": {}},"
				     " \"createdAt\": \"2026-06-30T05:50:04.034Z\"}");
	struct jfs_err err = { 0 };
	json_t *item = jfs_bson_to_item(doc, NULL, &err), *back;
	bson_t out = BSON_INITIALIZER;
	char *s = jfs_test_stringify(item), *c;

	CHECK_STR(s, "{\"id\":\"amzn1.x\",\"user\":{\"data\":{}},\"createdAt\":\"2026-06-30T05:50:04.034Z\"}");
	free(s);
	/* create: {_id, ...item} with "id" dropped */
	back = parse("{\"id\":\"u2\",\"user\":{\"data\":{\"n\":1}},\"_id\":\"evil\"}");
	CHECK(jfs_bson_from_item(back, "u2", &out, &err) == 0);
	c = canon(&out);
	CHECK_STR(c, "{ \"_id\" : \"u2\", \"user\" : { \"data\" : { \"n\" : { \"$numberInt\" : \"1\" } } } }");
	bson_free(c);
	bson_destroy(&out);
	json_decref(back);
	json_decref(item);
	bson_destroy(doc);
}

/* A document nested @depth levels ({a: {a: ...}}), built as bytes: it is what a server sends. */
static void test_deep(unsigned depth, bool ok)
{
	size_t start = (size_t)depth * 7 + 8, cap = start + depth + 16, end = start;
	uint8_t *buf = calloc(1, cap);
	struct jfs_err err;
	json_t *item;
	bson_t doc;
	unsigned i;
	uint32_t n;

	/* the innermost, empty document */
	memcpy(buf + start, "\x05\x00\x00\x00\x00", 5);
	end = start + 5;
	for (i = 0; i < depth; i++) {
		/* prepend: int32 length, type 0x03, key "a\0"; append: terminator */
		start -= 7;
		buf[end++] = 0;
		n = (uint32_t)(end - start);
		memcpy(buf + start, &n, 4);
		buf[start + 4] = 0x03;
		buf[start + 5] = 'a';
		buf[start + 6] = 0;
	}
	CHECK(bson_init_static(&doc, buf + start, end - start), "depth %u: bson", depth);
	jfs_err_clear(&err);
	item = jfs_bson_to_item(&doc, "deep", &err);
	if (ok)
		CHECK(item != NULL, "depth %u: %s", depth, err.msg);
	else
		CHECK(!item && err.code == EIO && strstr(err.msg, "deeper"), "depth %u: %s", depth,
		      err.msg);
	json_decref(item);
	free(buf);
}

/* corrupt bytes, at the top or inside a sub-document, are an error: never half an item */
static void test_corrupt(void)
{
	static const uint8_t nested[] = {
		27, 0, 0, 0,
		0x10, 'a', 0, 1, 0, 0, 0,
		0x03, 'w', 0, 12, 0, 0, 0, 0x02, 'x', 0, 9, 0, 0, 0, 0,
		0,
	};
	static const uint8_t top[] = {
		21, 0, 0, 0,
		0x10, 'a', 0, 1, 0, 0, 0,
		0x02, 'b', 0, 99, 0, 0, 0, 'x', 0,
		0,
	};
	/* a key without its NUL: libbson stops there without an error offset */
	static const uint8_t key[] = {
		23, 0, 0, 0,
		0x10, 'a', 0, 1, 0, 0, 0,
		0x03, 'w', 0, 8, 0, 0, 0, 0x02, '$', 'o', 4,
		0,
	};
	const uint8_t *docs[] = { nested, top, key };
	size_t lens[] = { sizeof(nested), sizeof(top), sizeof(key) }, i;
	struct jfs_err err;
	json_t *item;
	bson_t doc;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		CHECK(bson_init_static(&doc, docs[i], lens[i]));
		jfs_err_clear(&err);
		item = jfs_bson_to_item(&doc, "u", &err);
		CHECK(!item && err.code == EIO && strstr(err.msg, "corrupt"));
		json_decref(item);
	}
}

static void test_redact(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/" },
		{ "mongodb://alice@h/", "mongodb://alice@h/" },
		{ "mongodb://alice:s3cret@h1:1,h2:2/app?authSource=admin",
		  "mongodb://alice:***@h1:1,h2:2/app?authSource=admin" },
		{ "mongodb+srv://bob:p%40ss@cluster0.example.net/?retryWrites=true&w=majority",
		  "mongodb+srv://bob:***@cluster0.example.net/?retryWrites=true&w=majority" },
		{ "mongodb://u:p@ss@h", "mongodb://u:***@h" },
		{ "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=pw&appname=a",
		  "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=***&appname=a" },
		{ "mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok",
		  "mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=***" },
		{ "mongodb://u:pw@h?ssl=true", "mongodb://u:***@h?ssl=true" },
		/* what libmongoc reads as the password, '?' and all (review finding 5) */
		{ "mongodb://jovofs:Pa55?w0rd@127.0.0.1:1/app", "mongodb://jovofs:***@127.0.0.1:1/app" },
		{ "mongodb://u:pa?ss@h/?tls=true&tlsCertificateKeyFilePassword=k?y",
		  "mongodb://u:***@h/?tls=true&tlsCertificateKeyFilePassword=***" },
		{ "mongodb://u:p%3Fw%40rd@h", "mongodb://u:***@h" },
	};
	size_t i;
	char *s;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = jfs_mongo_redact_uri(cases[i].in);
		CHECK_STR(s, cases[i].out);
		free(s);
	}
	/* libmongoc's messages go through one redactor */
	{
		const char *const secrets[] = { "Pa55?w0rd" };

		s = jfs_mongo_redact("Deprecated option 'sslclientcertificatekeypassword=OLDSECRET' "
				     "conflicts with canonical name "
				     "'tlscertificatekeyfilepassword=NEWSECRET'", NULL, 0);
		CHECK(!strstr(s, "OLDSECRET") && !strstr(s, "NEWSECRET"), "%s", s);
		free(s);
		s = jfs_mongo_redact("cannot ping: auth failed for Pa55?w0rd at host", secrets, 1);
		CHECK_STR(s, "cannot ping: auth failed for *** at host");
		free(s);
		s = jfs_mongo_redact("uri 'mongodb://u:a@b?c@h/x' refused", NULL, 0);
		CHECK_STR(s, "uri 'mongodb://u:***@h/x' refused");
		free(s);
	}
}

static const struct jfs_store_options test_opts = {
	.retry_ms = 3000,
	.timeout_ms = 2000,
};

static int open_conf(const char *conf_text, struct jfs_store **st, struct jfs_err *err)
{
	const struct jfs_backend_ops *ops = jfs_backend_find("mongodb");
	json_t *conf = conf_text ? parse(conf_text) : NULL;
	int ret;

	ret = ops->open(conf, &test_opts, st, err);
	json_decref(conf);
	return ret;
}

static void test_open(void)
{
	const struct jfs_backend_ops *ops = jfs_backend_find("mongodb");
	struct jfs_err err = { 0 };
	struct jfs_store *st = NULL;
	char *s;
	json_t *d;

	CHECK(ops != NULL && !strcmp(ops->name, "mongodb"));
	CHECK(ops->changes == NULL);
	unsetenv("JOVOFS_MONGODB_URI");
	CHECK(open_conf("{}", &st, &err) == -EINVAL);
	CHECK(strstr(err.msg, "JOVOFS_MONGODB_URI") != NULL);
	CHECK(open_conf(NULL, &st, &err) == -EINVAL);

	/* Jovo's defaults: the URI's database, collection jovoUsers, majority */
	CHECK(open_conf("{\"connectionString\":\"mongodb://ann:hunter2@127.0.0.1:1/appdb\"}", &st,
			&err) == 0);
	d = json_object();
	ops->describe(st, d);
	s = jfs_test_stringify(d);
	CHECK(strstr(s, "hunter2") == NULL);
	CHECK_STR(json_string_value(json_object_get(d, "connectionString")),
		  "mongodb://ann:***@127.0.0.1:1/appdb");
	CHECK_STR(json_string_value(json_object_get(d, "databaseName")), "appdb");
	CHECK_STR(json_string_value(json_object_get(d, "collectionName")), "jovoUsers");
	CHECK_STR(json_string_value(json_object_get(d, "writeConcern")), "majority");
	free(s);
	json_decref(d);
	ops->close(st);

	/* no database anywhere: test, as Jovo; explicit names win */
	CHECK(open_conf("{\"connectionString\":\"mongodb://h\",\"writeConcern\":1}", &st, &err) == 0);
	d = json_object();
	ops->describe(st, d);
	CHECK_STR(json_string_value(json_object_get(d, "databaseName")), "test");
	CHECK(json_integer_value(json_object_get(d, "writeConcern")) == 1);
	json_decref(d);
	ops->close(st);
	CHECK(open_conf("{\"connectionString\":\"mongodb://h/x?w=2\",\"databaseName\":\"a\","
			"\"collectionName\":\"b\",\"libraryConfig\":{}}",
			&st, &err) == 0);
	d = json_object();
	ops->describe(st, d);
	CHECK_STR(json_string_value(json_object_get(d, "databaseName")), "a");
	CHECK_STR(json_string_value(json_object_get(d, "collectionName")), "b");
	CHECK(json_integer_value(json_object_get(d, "writeConcern")) == 2);
	json_decref(d);
	ops->close(st);

	/* the environment wins over the file, and is never shown */
	setenv("JOVOFS_MONGODB_URI", "mongodb://env:envpw@envhost/envdb", 1);
	CHECK(open_conf("{\"connectionString\":\"mongodb://file/\"}", &st, &err) == 0);
	d = json_object();
	ops->describe(st, d);
	CHECK_STR(json_string_value(json_object_get(d, "connectionString")),
		  "mongodb://env:***@envhost/envdb");
	CHECK_STR(json_string_value(json_object_get(d, "databaseName")), "envdb");
	json_decref(d);
	ops->close(st);
	unsetenv("JOVOFS_MONGODB_URI");

	/* bad settings fail open, without the password in the message */
	memset(&err, 0, sizeof(err));
	CHECK(open_conf("{\"connectionString\":\"mongodb://u:topsecret@h/?tls=maybe\"}", &st, &err) ==
	      -EINVAL);
	CHECK(strstr(err.msg, "topsecret") == NULL);
	CHECK(open_conf("{\"connectionString\":\"http://h\"}", &st, &err) == -EINVAL);
	CHECK(open_conf("{\"connectionString\":\"mongodb://h\",\"writeConcern\":true}", &st, &err) ==
	      -EINVAL);
	CHECK(open_conf("{\"connectionString\":\"mongodb://h\",\"collectionName\":\"\"}", &st, &err) ==
	      -EINVAL);
	CHECK(open_conf("{\"connectionString\":5}", &st, &err) == -EINVAL);
}

/* ---- against a live server ---- */

static mongoc_collection_t *raw_coll(mongoc_client_t *client, const char *db)
{
	return mongoc_client_get_collection(client, db, "jovoUsers");
}

static char *raw_get(mongoc_collection_t *coll, const char *id)
{
	bson_t filter = BSON_INITIALIZER;
	mongoc_cursor_t *cur;
	const bson_t *doc;
	char *s = NULL;

	BSON_APPEND_UTF8(&filter, "_id", id);
	cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
	if (mongoc_cursor_next(cur, &doc))
		s = canon(doc);
	mongoc_cursor_destroy(cur);
	bson_destroy(&filter);
	return s;
}

static void test_live(const char *uri)
{
	const struct jfs_backend_ops *ops = jfs_backend_find("mongodb");
	struct jfs_err err = { 0 };
	struct jfs_store *st = NULL;
	struct jfs_list_page page = { 0 };
	struct jfs_patch patch = { 0 };
	mongoc_client_t *client;
	mongoc_collection_t *coll;
	bson_error_t be;
	char db[64], conf[512], *s, *cursor;
	json_t *item, *set, *cond;
	bson_t *seed;
	size_t total, pages;
	int i, ret;

	snprintf(db, sizeof(db), "jovofs_unit_%ld_%d", (long)time(NULL), (int)getpid());
	setenv("JOVOFS_MONGODB_URI", uri, 1);
	snprintf(conf, sizeof(conf), "{\"databaseName\":\"%s\"}", db);
	CHECK(open_conf(conf, &st, &err) == 0);
	if (!st)
		return;
	unsetenv("JOVOFS_MONGODB_URI");
	CHECK(ops->start(st, &err) == 0);

	client = mongoc_client_new(uri);
	coll = raw_coll(client, db);
	/* what Jovo's saveData stores (Node driver: JS numbers as int32/double) */
	seed = doc_from_canon(
		"{\"_id\": \"jovo-1\", \"createdAt\": \"2026-06-30T05:50:04.034Z\","
		" \"updatedAt\": \"2026-11-20T10:02:11.482Z\","
		" \"user\": {\"data\": {\"score\": {\"$numberInt\": \"3\"}, \"ratio\": {\"$numberDouble\": \"1.0\"},"
		" \"big\": {\"$numberLong\": \"9007199254740993\"}, \"when\": {\"$date\": {\"$numberLong\": \"0\"}},"
		" \"oid\": {\"$oid\": \"5f0c1a2b3c4d5e6f70819203\"}}},"
		" \"custom\": {\"keep\": {\"$numberLong\": \"7\"}}}");
	CHECK(mongoc_collection_insert_one(coll, seed, NULL, NULL, &be));

	/* load: "id" from _id, what Jovo wrote, types in Extended JSON */
	ret = ops->load(st, "jovo-1", &item, &err);
	CHECK(ret == 0);
	if (!ret) {
		s = jfs_test_stringify(item);
		CHECK_STR(s, "{\"id\":\"jovo-1\",\"createdAt\":\"2026-06-30T05:50:04.034Z\","
			     "\"updatedAt\":\"2026-11-20T10:02:11.482Z\",\"user\":{\"data\":{\"score\":3,"
			     "\"ratio\":1,\"big\":{\"$numberLong\":\"9007199254740993\"},"
			     "\"when\":{\"$date\":\"1970-01-01T00:00:00.000Z\"},"
			     "\"oid\":{\"$oid\":\"5f0c1a2b3c4d5e6f70819203\"}}},\"custom\":{\"keep\":7}}");
		free(s);
		json_decref(item);
	}
	CHECK(ops->load(st, "nobody", &item, &err) == -ENOENT);

	/* update conditional on updatedAt; only user.data.score changes */
	set = parse("{\"user\":{\"data\":{\"score\":4,\"ratio\":1,"
		    "\"big\":{\"$numberLong\":\"9007199254740993\"},"
		    "\"when\":{\"$date\":\"1970-01-01T00:00:00.000Z\"},"
		    "\"oid\":{\"$oid\":\"5f0c1a2b3c4d5e6f70819203\"}}},"
		    "\"updatedAt\":\"2026-11-21T00:00:00.000Z\"}");
	cond = json_string("2026-11-20T10:02:11.482Z");
	patch.set = set;
	patch.cond_key = "updatedAt";
	patch.cond_value = cond;
	CHECK(ops->update(st, "jovo-1", &patch, &err) == 0);
	s = raw_get(coll, "jovo-1");
	CHECK_STR(s, "{ \"_id\" : \"jovo-1\", \"createdAt\" : \"2026-06-30T05:50:04.034Z\","
		     " \"updatedAt\" : \"2026-11-21T00:00:00.000Z\", \"user\" : { \"data\" : {"
		     " \"score\" : { \"$numberInt\" : \"4\" }, \"ratio\" : { \"$numberDouble\" : \"1.0\" },"
		     " \"big\" : { \"$numberLong\" : \"9007199254740993\" },"
		     " \"when\" : { \"$date\" : { \"$numberLong\" : \"0\" } },"
		     " \"oid\" : { \"$oid\" : \"5f0c1a2b3c4d5e6f70819203\" } } },"
		     " \"custom\" : { \"keep\" : { \"$numberLong\" : \"7\" } } }");
	bson_free(s);
	/* the same condition again: the stored updatedAt moved on */
	CHECK(ops->update(st, "jovo-1", &patch, &err) == -ECANCELED);
	CHECK(ops->update(st, "nobody", &patch, &err) == -ENOENT);
	json_decref(cond);
	json_decref(set);

	/* unset, conditional on a key being absent, then on an object element */
	patch.set = NULL;
	patch.unset = parse("[\"custom\"]");
	patch.cond_key = "session";
	patch.cond_value = NULL;
	CHECK(ops->update(st, "jovo-1", &patch, &err) == 0);
	s = raw_get(coll, "jovo-1");
	CHECK(s && !strstr(s, "custom"));
	bson_free(s);
	json_decref(patch.unset);
	patch.unset = NULL;
	set = parse("{\"session\":{\"id\":\"s-1\",\"data\":{}}}");
	patch.set = set;
	patch.cond_key = "user";
	patch.cond_value = parse("{\"data\":{\"score\":4,\"ratio\":1,"
				 "\"big\":{\"$numberLong\":\"9007199254740993\"},"
				 "\"when\":{\"$date\":\"1970-01-01T00:00:00.000Z\"},"
				 "\"oid\":{\"$oid\":\"5f0c1a2b3c4d5e6f70819203\"}}}");
	CHECK(ops->update(st, "jovo-1", &patch, &err) == 0);
	json_decref(patch.cond_value);
	patch.cond_value = parse("{\"data\":{\"score\":5}}");
	CHECK(ops->update(st, "jovo-1", &patch, &err) == -ECANCELED);
	json_decref(patch.cond_value);
	json_decref(set);

	/* create, duplicate, remove */
	item = parse("{\"id\":\"new-1\",\"user\":{\"data\":{}},\"createdAt\":\"2026-01-01T00:00:00.000Z\","
		     "\"updatedAt\":\"2026-01-01T00:00:00.000Z\"}");
	CHECK(ops->create(st, "new-1", item, &err) == 0);
	CHECK(ops->create(st, "new-1", item, &err) == -EEXIST);
	json_decref(item);
	CHECK(ops->remove(st, "new-1", &err) == 0);
	CHECK(ops->remove(st, "new-1", &err) == -ENOENT);

	/* listing in stateless pages, ids in _id order, times parsed */
	for (i = 0; i < 7; i++) {
		char id[16];

		snprintf(id, sizeof(id), "p%02d", i);
		item = parse("{\"user\":{\"data\":{}},\"createdAt\":\"2026-01-01T00:00:00.000Z\"}");
		CHECK(ops->create(st, id, item, &err) == 0);
		json_decref(item);
	}
	total = pages = 0;
	cursor = NULL;
	do {
		ret = ops->list(st, cursor, 3, &page, &err);
		CHECK(ret == 0);
		free(cursor);
		cursor = page.next ? strdup(page.next) : NULL;
		for (size_t k = 0; k < page.n; k++) {
			if (page.entries[k].id[0] == 'p') {
				CHECK(page.entries[k].created_ms == 1767225600000LL);
				CHECK(page.entries[k].updated_ms == -1);
			}
		}
		total += page.n;
		pages++;
		jfs_list_page_release(&page);
	} while (cursor && ret == 0 && pages < 20);
	CHECK(total == 8);
	CHECK(pages == 3);

	/* a cursor string works again and again: live cursor first, then stateless */
	{
		struct jfs_list_page p1 = { 0 }, p2 = { 0 }, p3 = { 0 };

		CHECK(ops->list(st, NULL, 4, &p1, &err) == 0);
		CHECK(p1.n == 4 && p1.next && !strcmp(p1.next, "p02"));
		CHECK(ops->list(st, p1.next, 2, &p2, &err) == 0); /* the live cursor */
		CHECK(ops->list(st, p1.next, 2, &p3, &err) == 0); /* a new query */
		CHECK(p2.n == 2 && p3.n == 2);
		CHECK(p2.n == 2 && !strcmp(p2.entries[0].id, "p03") && !strcmp(p2.entries[1].id, "p04"));
		CHECK(p3.n == 2 && !strcmp(p3.entries[0].id, "p03") && !strcmp(p3.entries[1].id, "p04"));
		CHECK(p2.next && p3.next && !strcmp(p2.next, "p04") && !strcmp(p3.next, "p04"));
		jfs_list_page_release(&p1);
		jfs_list_page_release(&p2);
		jfs_list_page_release(&p3);
		/* a cursor past the end, and one nobody handed out */
		CHECK(ops->list(st, "zzz", 2, &p1, &err) == 0 && p1.n == 0 && !p1.next);
		jfs_list_page_release(&p1);
		CHECK(ops->list(st, "p05", 100, &p1, &err) == 0 && p1.n == 1 && !p1.next);
		jfs_list_page_release(&p1);
	}

	/* read-only stores refuse writes */
	{
		struct jfs_store_options ro = test_opts;
		struct jfs_store *rst = NULL;
		json_t *c = json_pack("{s:s,s:s}", "connectionString", uri, "databaseName", db);

		ro.read_only = true;
		CHECK(ops->open(c, &ro, &rst, &err) == 0);
		CHECK(ops->start(rst, &err) == 0);
		CHECK(ops->remove(rst, "p00", &err) == -EROFS);
		CHECK(ops->load(rst, "p00", &item, &err) == 0);
		json_decref(item);
		ops->close(rst);
		json_decref(c);
	}

	{
		bson_t cmd = BSON_INITIALIZER;

		BSON_APPEND_INT32(&cmd, "dropDatabase", 1);
		mongoc_client_command_simple(client, db, &cmd, NULL, NULL, NULL);
		bson_destroy(&cmd);
	}
	bson_destroy(seed);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	ops->close(st);
}

/* An unreachable server: EIO after about retry_ms, with the driver's reason. */
static void test_unreachable(void)
{
	const struct jfs_backend_ops *ops = jfs_backend_find("mongodb");
	struct jfs_store_options o = { .retry_ms = 600, .timeout_ms = 200 };
	struct jfs_err err = { 0 };
	struct jfs_store *st = NULL;
	json_t *conf = parse("{\"connectionString\":\"mongodb://127.0.0.1:9/\"}");
	json_t *item = NULL;
	int64_t t0;
	int ret;

	CHECK(ops->open(conf, &o, &st, &err) == 0);
	t0 = jfs_now_ms();
	CHECK(ops->start(st, &err) == 0); /* serves anyway: the server may come */
	CHECK(jfs_now_ms() - t0 < 3000);
	t0 = jfs_now_ms();
	ret = ops->load(st, "x", &item, &err);
	CHECK(ret == -EIO);
	CHECK(jfs_now_ms() - t0 < 5000);
	CHECK(strstr(err.msg, "cannot load 'x'") != NULL);
	ops->close(st);
	json_decref(conf);
}

int main(void)
{
	const char *uri = getenv("JOVOFS_TEST_MONGODB_URI");

	jfs_log_set_level(LOG_CRIT);
	test_bson_to_json();
	test_round_trip_unchanged();
	test_new_values();
	test_invalid_wrappers();
	test_old_types();
	test_wide_object();
	test_item();
	test_corrupt();
	test_redact();
	/* nested past jansson's limit: an error, never a stack overflow (review finding 12) */
	test_deep(1000, true);
	test_deep(2047, true);	/* 2048 levels with the item, as many as jansson parses */
	test_deep(2048, false);
	test_deep(100000, false);
	test_open();
	test_unreachable();
	if (uri && *uri)
		test_live(uri);
	else
		fprintf(stderr, "JOVOFS_TEST_MONGODB_URI not set: skipping the live server tests\n");
	return check_report();
}
