/*
 * policy/mask.c: paths (wildcards, indexes, escaped dots), what a prefix
 * reaches, equal values giving equal pseudonyms whatever their key order
 * or number spelling, and the pseudonym being HMAC-SHA-256 of the JSON.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/strbuf.h"
#include "policy/mask.h"

#include "check.h"

static const unsigned char KEY[] = "sixteen-byte-key!";

static struct jfs_mask *mask(const char *paths)
{
	struct jfs_mask *m = NULL;
	struct jfs_err err;

	jfs_err_clear(&err);
	CHECK(jfs_mask_new(paths, KEY, sizeof(KEY) - 1, &m, &err) == 0, "%s: %s", paths, err.msg);
	return m;
}

static json_t *parse(const char *s)
{
	json_t *v = NULL;

	CHECK(jfs_json_parse(s, strlen(s), &v, NULL) == 0, "%s", s);
	return v;
}

static char *dump(const json_t *v)
{
	struct jfs_strbuf sb;

	jfs_strbuf_init(&sb);
	jfs_json_dump(v, &sb, 0, 0);
	return jfs_strbuf_detach(&sb, NULL);
}

/* The pseudonym of JSON text @s, computed here with OpenSSL directly. */
static void expect_of(const char *s, char out[JFS_MASK_LEN])
{
	unsigned char md[32];
	unsigned int n = 0;
	int i;

	HMAC(EVP_sha256(), KEY, (int)sizeof(KEY) - 1, (const unsigned char *)s, strlen(s), md, &n);
	strcpy(out, "mask:");
	for (i = 0; i < 8; i++)
		sprintf(out + 5 + 2 * i, "%02x", md[i]);
}

/* mask @item with @paths: each path of @want ("a.b") holds a pseudonym, @keep ones do not. */
static void check_masks(const char *paths, const char *item, const char *want_masked,
			const char *want_kept)
{
	struct jfs_mask *m = mask(paths);
	json_t *in = parse(item), *out;
	char *s;

	if (!m || !in)
		return;
	out = jfs_mask_item(m, json_incref(in));
	s = dump(out);
	CHECK(strstr(s, want_masked) == NULL, "%s: '%s' still shown in %s", paths, want_masked, s);
	if (want_kept)
		CHECK(strstr(s, want_kept) != NULL, "%s: '%s' masked in %s", paths, want_kept, s);
	CHECK(strstr(s, "mask:") != NULL, "%s: nothing masked in %s", paths, s);
	/* the input is not touched */
	free(s);
	s = dump(in);
	CHECK(strstr(s, want_masked) != NULL, "%s: the input changed", paths);
	free(s);
	json_decref(out);
	json_decref(in);
	jfs_mask_free(m);
}

int main(void)
{
	char a[JFS_MASK_LEN], b[JFS_MASK_LEN], want[JFS_MASK_LEN];
	struct jfs_mask *m;
	struct jfs_err err;
	json_t *v, *w;

	/* paths */
	check_masks("user.data.email", "{\"user\":{\"data\":{\"email\":\"x@y\",\"n\":\"keep\"}}}",
		    "x@y", "keep");
	check_masks("history.items.*.input.text",
		    "{\"history\":{\"items\":[{\"input\":{\"text\":\"t0\"}},{\"input\":{\"text\":\"t1\",\"k\":\"keep\"}}]}}",
		    "t1", "keep");
	check_masks("history.items.1.input", "{\"history\":{\"items\":[{\"input\":\"first\"},{\"input\":\"second\"}]}}",
		    "second", "first");
	check_masks("user.data.a\\.b", "{\"user\":{\"data\":{\"a.b\":\"dotted\",\"a\":{\"b\":\"keep\"}}}}",
		    "dotted", "keep");
	check_masks("*.data.email:nothing.here", "{\"user\":{\"data\":{\"email\":\"u@x\"}},\"session\":{\"data\":{\"email\":\"s@x\",\"o\":\"keep\"}}}",
		    "@x", "keep");
	/* a whole object or array masked as one value */
	check_masks("user.data", "{\"user\":{\"data\":{\"secret\":[1,2,3]},\"other\":\"keep\"}}", "secret",
		    "keep");
	jfs_err_clear(&err);
	m = NULL;
	CHECK(jfs_mask_new("user..x", KEY, 16, &m, &err) == -EINVAL && strstr(err.msg, "user..x"));
	CHECK(jfs_mask_new("", KEY, 16, &m, &err) == -EINVAL);

	/* pseudonyms: the HMAC of the canonical JSON; equal values, equal names */
	m = mask("x");
	v = parse("\"a@example.org\"");
	jfs_mask_pseudonym(m, v, a);
	expect_of("\"a@example.org\"", want);
	CHECK_STR(a, want);
	jfs_mask_string(m, "a@example.org", 13, b);
	CHECK_STR(b, want);
	json_decref(v);
	v = parse("{\"b\":1,\"a\":[0.1,2]}");
	w = parse("{\"a\":[0.1,2.0],\"b\":1.0}");
	jfs_mask_pseudonym(m, v, a);
	jfs_mask_pseudonym(m, w, b);
	CHECK_STR(a, b);
	expect_of("{\"a\":[0.1,2],\"b\":1}", want);
	CHECK_STR(a, want);
	json_decref(v);
	json_decref(w);
	v = parse("\"1\"");
	w = parse("1");
	jfs_mask_pseudonym(m, v, a);
	jfs_mask_pseudonym(m, w, b);
	CHECK(strcmp(a, b), "the string \"1\" and the number 1 share a pseudonym");
	json_decref(v);
	json_decref(w);
	jfs_mask_free(m);

	/* what a prefix reaches, what is covered whole */
	m = mask("history.items.*.input.text:updatedAt");
	{
		const char *h2[] = { "history", "items", "2" }, *any[] = { "history", "items", "" };
		const char *upd[] = { "updatedAt" }, *cr[] = { "createdAt" };
		const char *in[] = { "history", "items", "0", "input", "text" };
		char *s;

		v = jfs_mask_at(m, h2, 3, parse("{\"input\":{\"text\":\"hi\"},\"k\":\"v\"}"));
		s = dump(v);
		CHECK(!strstr(s, "hi") && strstr(s, "\"k\":\"v\""), "%s", s);
		free(s);
		json_decref(v);
		v = jfs_mask_at(m, any, 3, parse("{\"input\":{\"text\":\"hi\"}}"));
		s = dump(v);
		CHECK(!strstr(s, "hi"), "%s", s);
		free(s);
		json_decref(v);
		CHECK(jfs_mask_covers(m, upd, 1));
		CHECK(!jfs_mask_covers(m, cr, 1));
		CHECK(jfs_mask_covers(m, in, 5));
		CHECK(!jfs_mask_covers(m, in, 4));
	}
	jfs_mask_free(m);

	/* -o mask_ids: a store's message with the id in it shows the pseudonym instead */
	m = mask("id");
	{
		char *s, *w2;

		jfs_mask_string(m, "alice", 5, a);
		s = jfs_mask_scrub(m, "alice", 5, "no user 'alice' (alice again)");
		w2 = malloc(strlen(a) * 2 + 64);
		if (!w2)
			abort();
		sprintf(w2, "no user '%s' (%s again)", a, a);
		CHECK_STR(s, w2);
		free(s);
		free(w2);
		s = jfs_mask_scrub(m, "alice", 5, "nothing here; alic");
		CHECK_STR(s, "nothing here; alic");
		free(s);
		/* the empty id is in every message, and shows nothing */
		s = jfs_mask_scrub(m, "", 0, "no user ''");
		CHECK_STR(s, "no user ''");
		free(s);
		/* record.json's "id" is the same pseudonym as the directory's name */
		v = jfs_mask_item(m, parse("{\"id\":\"alice\",\"user\":{}}"));
		CHECK_STR(json_string_value(json_object_get(v, "id")), a);
		json_decref(v);
	}
	jfs_mask_free(m);
	return check_report();
}
