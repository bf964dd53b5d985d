/*
 * DynamoDB AttributeValues <-> plain JSON (backends/dynamodb_marshal.c).
 *
 * The input is JSON text, used three ways:
 *  - as a plain value v: marshal(v) unmarshals to v again, is in
 *    JavaScript's form (needs no ref) and equals_plain(marshal(v), v);
 *  - as an AttributeValue av: when it unmarshals to u, av reads as u
 *    (equals_plain), marshalling u against av keeps av exactly, and a
 *    fresh marshal of u unmarshals to u; when it does not, there is a
 *    message;
 *  - as [v, ref] (an array of two): marshalling v against any old typed
 *    value ref unmarshals to v: reusing old digits and types never changes
 *    what an edit stored.
 */
#include <errno.h>
#include <string.h>

#include "backends/dynamodb_marshal.h"
#include "common/log.h"

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	jfs_log_set_level(LOG_ERR);
	return 0;
}

/* marshal @v against @ref, unmarshal, expect @v back */
static json_t *marshal_back(const json_t *v, const json_t *ref, const char *what)
{
	struct jfs_err err;
	json_t *m, *u;

	m = jfs_ddb_marshal(v, ref);
	if (!m) {
		fuzz_show("value", v);
		fuzz_show("ref", ref);
		fuzz_fail("%s: a JSON value does not marshal", what);
	}
	jfs_err_clear(&err);
	u = jfs_ddb_unmarshal(m, &err);
	if (!u || !jfs_json_equal(u, v)) {
		fuzz_show("value", v);
		fuzz_show("ref", ref);
		fuzz_show("marshalled", m);
		fuzz_show("unmarshalled", u);
		fuzz_fail("%s: the marshalled value does not read back as the value (%s)", what,
			  err.msg);
	}
	json_decref(u);
	return m;
}

static void plain(const json_t *v)
{
	json_t *m = marshal_back(v, NULL, "plain");

	FUZZ_CHECK(!jfs_ddb_needs_ref(m), "a fresh marshal needs a ref");
	FUZZ_CHECK(jfs_ddb_equals_plain(m, v), "a fresh marshal does not equal its value");
	json_decref(m);
}

static void typed(const json_t *av)
{
	struct jfs_err err;
	json_t *u, *m;

	jfs_err_clear(&err);
	u = jfs_ddb_unmarshal(av, &err);
	if (!u) {
		FUZZ_CHECK(err.code == EIO && err.msg[0], "unmarshal failed without a reason");
		return;
	}
	if (!jfs_ddb_equals_plain(av, u)) {
		fuzz_show("unmarshalled", u);
		fuzz_fail("an attribute value does not equal what it unmarshals to");
	}
	m = jfs_ddb_marshal(u, av);
	if (!m || !json_equal(m, (json_t *)av)) {
		fuzz_show("unmarshalled", u);
		fuzz_show("marshalled again", m);
		fuzz_fail("an unchanged value is not written back as stored");
	}
	json_decref(m);
	m = marshal_back(u, NULL, "typed");
	json_decref(m);
	json_decref(u);
}

static void fuzz_one(const uint8_t *data, size_t size)
{
	json_t *v, *m;

	if (jfs_json_parse((const char *)data, size, &v, NULL))
		return;
	plain(v);
	typed(v);
	if (json_is_array(v) && json_array_size(v) == 2) {
		m = marshal_back(json_array_get(v, 0), json_array_get(v, 1), "with a ref");
		json_decref(m);
	}
	if (json_is_object(v)) {
		struct jfs_err err;
		json_t *u;

		/* an item: attribute map in, object out */
		jfs_err_clear(&err);
		u = jfs_ddb_unmarshal_map(v, &err);
		if (u) {
			m = jfs_ddb_marshal_map(u, v);
			FUZZ_CHECK(m && json_equal(m, v),
				   "an unchanged item is not kept as stored");
			json_decref(m);
			json_decref(u);
		} else {
			FUZZ_CHECK(err.code == EIO && err.msg[0], "unmarshal_map failed silently");
		}
	}
	json_decref(v);
}
