/*
 * Edited JSON -> BSON -> JSON (backends/mongodb_bson.c).
 *
 * The input is JSON text: an item, or [old item, new item]. The old item
 * is stored fresh (jfs_bson_from_item), then every key of the new one is
 * written against the stored value of the same key, as the backend's $set
 * does (jfs_bson_append_json). Properties:
 *  - a write fails only with EINVAL and a message;
 *  - the stored document reads back as the new item: equal as JavaScript
 *    sees values, where a number may come back wrapped because it kept
 *    the old value's type ({"$numberLong": "..."}, {"$numberDecimal": ...})
 *    and an Extended JSON wrapper the user wrote comes back as whatever
 *    its BSON type reads as;
 *  - what it reads back as is a fixed point: stored fresh again, it reads
 *    back the same.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "backends/mongodb_bson.h"
#include "common/log.h"

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	jfs_log_set_level(LOG_ERR);
	return 0;
}

static bool is_wrapper(const json_t *v)
{
	const char *key;
	json_t *sub;

	if (!json_is_object(v) || json_object_size(v) < 1 || json_object_size(v) > 2)
		return false;
	json_object_foreach((json_t *)v, key, sub) if (key[0] != '$') return false;
	return true;
}

/* @shown (read back) against @want (written), as the header says. */
static bool same_as_written(const json_t *shown, const json_t *want)
{
	const char *key, *s;
	json_t *sub;
	size_t i;

	if (is_wrapper(want))
		return true;
	if (json_is_number(want) && json_is_object(shown) && json_object_size(shown) == 1) {
		s = json_string_value(json_object_get(shown, "$numberLong"));
		if (!s)
			s = json_string_value(json_object_get(shown, "$numberDecimal"));
		return s && strtod(s, NULL) == jfs_json_number_value(want);
	}
	if (json_is_array(want)) {
		if (!json_is_array(shown) || json_array_size(shown) != json_array_size(want))
			return false;
		for (i = 0; i < json_array_size(want); i++)
			if (!same_as_written(json_array_get(shown, i), json_array_get(want, i)))
				return false;
		return true;
	}
	if (json_is_object(want)) {
		if (!json_is_object(shown) || json_object_size(shown) != json_object_size(want))
			return false;
		json_object_foreach(
		    (json_t *)want, key,
		    sub) if (!same_as_written(json_object_get(shown, key), sub)) return false;
		return true;
	}
	return jfs_json_equal(shown, want);
}

/* Write @item's keys against @old (may be NULL) into @out: what $set does. */
static int write_item(const json_t *item, const bson_t *old, bson_t *out, struct jfs_err *err)
{
	const char *key;
	bson_iter_t it;
	json_t *v;
	int ret;

	json_object_foreach((json_t *)item, key, v)
	{
		bool have_old;

		if (!strcmp(key, "id") || !strcmp(key, "_id"))
			continue;
		have_old = old && bson_iter_init_find(&it, old, key);
		ret = jfs_bson_append_json(out, key, v, have_old ? &it : NULL, key, err);
		if (ret)
			return ret;
	}
	return 0;
}

static void fuzz_one(const uint8_t *data, size_t size)
{
	bson_t old = BSON_INITIALIZER, new = BSON_INITIALIZER, again = BSON_INITIALIZER;
	const json_t *want, *old_item = NULL;
	struct jfs_err err;
	json_t *v, *shown = NULL, *shown2 = NULL, *w = NULL;
	int ret;

	if (jfs_json_parse((const char *)data, size, &v, NULL))
		return;
	want = v;
	if (json_is_array(v) && json_array_size(v) == 2) {
		old_item = json_array_get(v, 0);
		want = json_array_get(v, 1);
	}
	if (!json_is_object(want) || (old_item && !json_is_object(old_item)))
		goto out;
	jfs_err_clear(&err);
	if (old_item && jfs_bson_from_item(old_item, "x", &old, &err)) {
		FUZZ_CHECK(err.code == EINVAL && err.msg[0], "from_item failed without a reason");
		goto out;
	}

	jfs_err_clear(&err);
	ret = write_item(want, old_item ? &old : NULL, &new, &err);
	if (ret) {
		FUZZ_CHECK(ret == -EINVAL && err.code == EINVAL && err.msg[0],
			   "a write failed with %d and no message", ret);
		goto out;
	}
	jfs_err_clear(&err);
	shown = jfs_bson_to_item(&new, "x", &err);
	FUZZ_CHECK(shown, "a written item does not read back: %s", err.msg);
	w = json_deep_copy(want);
	json_object_del(w, "_id");
	json_object_set_new(w, "id", json_string("x"));
	if (!same_as_written(shown, w)) {
		fuzz_show("written", w);
		fuzz_show("read back", shown);
		fuzz_fail("an item reads back as another than was written");
	}

	jfs_err_clear(&err);
	FUZZ_CHECK(!write_item(shown, NULL, &again, &err),
		   "what was read back cannot be written: %s", err.msg);
	shown2 = jfs_bson_to_item(&again, "x", &err);
	FUZZ_CHECK(shown2, "the second write does not read back: %s", err.msg);
	if (!jfs_json_equal(shown, shown2)) {
		fuzz_show("first", shown);
		fuzz_show("second", shown2);
		fuzz_fail("reading back is not a fixed point");
	}
out:
	json_decref(shown);
	json_decref(shown2);
	json_decref(w);
	json_decref(v);
	bson_destroy(&old);
	bson_destroy(&new);
	bson_destroy(&again);
}
