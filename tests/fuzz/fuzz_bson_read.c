/*
 * Stored BSON documents -> JSON -> BSON (backends/mongodb_bson.c).
 *
 * The input is the body of a BSON document (its elements; the harness
 * adds the length prefix and the final NUL, so every input is framed and
 * the fuzzer explores elements, not headers). Properties:
 *  - jfs_bson_to_item() gives an item or an error with a message;
 *  - written back key by key against the stored document (what an edit of
 *    another element does), every key is kept byte for byte;
 *  - written fresh (jfs_bson_from_item(), as for a new user), the item
 *    reads back as the same JSON, unless the document holds a plain
 *    sub-document shaped like an Extended JSON wrapper ({"$oid": ...}),
 *    which the table at the top of mongodb_bson.c says cannot round-trip,
 *    or a non-canonical Decimal128 (decimal_canonical()).
 */
#include <errno.h>
#include <string.h>

#include "backends/mongodb_bson.h"
#include "common/log.h"

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	jfs_log_set_level(LOG_ERR);
	return 0;
}

/*
 * A Decimal128 whose coefficient passes 10^34 - 1 is not canonical (IEEE 754
 * reads it as 0); libbson prints those below 2^113 with 35 digits that its
 * own parser then refuses. No conforming writer stores one, and unchanged it
 * is written back as stored; only a fresh write of its text fails.
 */
static bool decimal_canonical(const bson_iter_t *it)
{
	bson_decimal128_t d;
	uint64_t hi;

	bson_iter_decimal128(it, &d);
	if (((d.high >> 61) & 3) == 3)
		return true; /* NaN, infinity, or an implicit coefficient libbson prints as 0 */
	hi = d.high & 0x1ffffffffffffULL;
	return hi < 0x1ed09bead87c0ULL ||
	       (hi == 0x1ed09bead87c0ULL && d.low < 0x378d8e6400000000ULL);
}

/*
 * Whether a value at @it's level cannot round-trip fresh by design: a
 * sub-document shaped like an Extended JSON wrapper, or a non-canonical
 * Decimal128.
 */
static bool wrapper_shaped(bson_iter_t *it, int depth)
{
	bson_iter_t child;
	unsigned n;
	bool dollars;

	if (depth > 200)
		return true;
	while (bson_iter_next(it)) {
		if (BSON_ITER_HOLDS_DECIMAL128(it) && !decimal_canonical(it))
			return true;
		if (!BSON_ITER_HOLDS_DOCUMENT(it) && !BSON_ITER_HOLDS_ARRAY(it))
			continue;
		if (BSON_ITER_HOLDS_DOCUMENT(it) && bson_iter_recurse(it, &child)) {
			n = 0;
			dollars = true;
			while (bson_iter_next(&child)) {
				n++;
				if (bson_iter_key(&child)[0] != '$')
					dollars = false;
			}
			if (n >= 1 && n <= 2 && dollars)
				return true;
		}
		if (bson_iter_recurse(it, &child) && wrapper_shaped(&child, depth + 1))
			return true;
	}
	return false;
}

static bool has_duplicate_keys(const bson_t *doc)
{
	bson_iter_t a, b;
	size_t i = 0, j;

	if (!bson_iter_init(&a, doc))
		return true;
	while (bson_iter_next(&a)) {
		bson_iter_init(&b, doc);
		for (j = 0; j < i && bson_iter_next(&b); j++)
			if (!strcmp(bson_iter_key(&a), bson_iter_key(&b)))
				return true;
		i++;
	}
	return false;
}

static bool skipped_key(const char *key)
{
	return !strcmp(key, "_id") || !strcmp(key, "id");
}

/* Every key written back against the stored value is kept as stored. */
static void check_kept(const bson_t *doc, const json_t *item)
{
	bson_t want = BSON_INITIALIZER, got = BSON_INITIALIZER;
	struct jfs_err err;
	bson_iter_t it;
	const char *key;

	if (has_duplicate_keys(doc))
		goto out;
	bson_iter_init(&it, doc);
	while (bson_iter_next(&it)) {
		key = bson_iter_key(&it);
		if (skipped_key(key))
			continue;
		bson_append_iter(&want, key, -1, &it);
		jfs_err_clear(&err);
		FUZZ_CHECK(
		    !jfs_bson_append_json(&got, key, json_object_get(item, key), &it, key, &err),
		    "an unchanged '%s' cannot be written back: %s", key, err.msg);
	}
	FUZZ_CHECK(want.len == got.len &&
		       !memcmp(bson_get_data(&want), bson_get_data(&got), want.len),
		   "unchanged values are not written back byte for byte");
out:
	bson_destroy(&want);
	bson_destroy(&got);
}

/* Fresh: from_item() then to_item() gives the item again. */
static void check_fresh(const bson_t *doc, json_t *item)
{
	bson_t out = BSON_INITIALIZER;
	struct jfs_err err;
	bson_iter_t it;
	json_t *back, *a, *b;

	if (!bson_iter_init(&it, doc) || wrapper_shaped(&it, 0))
		goto out;
	jfs_err_clear(&err);
	if (jfs_bson_from_item(item, "x", &out, &err)) {
		fuzz_show("item", item);
		fuzz_fail("a stored item cannot be written as a new one: %s", err.msg);
	}
	jfs_err_clear(&err);
	back = jfs_bson_to_item(&out, NULL, &err);
	FUZZ_CHECK(back, "a written item does not read back: %s", err.msg);
	a = json_deep_copy(item);
	b = json_deep_copy(back);
	json_object_del(a, "id");
	json_object_del(b, "id");
	if (!jfs_json_equal(a, b)) {
		fuzz_show("item", a);
		fuzz_show("read back", b);
		fuzz_fail("an item written fresh reads back as another");
	}
	json_decref(a);
	json_decref(b);
	json_decref(back);
out:
	bson_destroy(&out);
}

static void fuzz_one(const uint8_t *data, size_t size)
{
	uint8_t *buf;
	uint32_t len = (uint32_t)size + 5;
	struct jfs_err err;
	json_t *item;
	bson_t doc;

	if (size > 1 << 20)
		return;
	buf = malloc(len);
	if (!buf)
		abort();
	buf[0] = (uint8_t)len;
	buf[1] = (uint8_t)(len >> 8);
	buf[2] = (uint8_t)(len >> 16);
	buf[3] = (uint8_t)(len >> 24);
	memcpy(buf + 4, data, size);
	buf[len - 1] = 0;
	if (!bson_init_static(&doc, buf, len))
		goto out_free;

	jfs_err_clear(&err);
	item = jfs_bson_to_item(&doc, NULL, &err);
	if (!item) {
		FUZZ_CHECK(err.code && err.msg[0], "to_item failed without a reason");
		goto out_free;
	}
	FUZZ_CHECK(json_is_object(item), "an item that is no object");
	check_kept(&doc, item);
	check_fresh(&doc, item);
	json_decref(item);
out_free:
	free(buf);
}
