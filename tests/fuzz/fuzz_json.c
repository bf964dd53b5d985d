/*
 * The JavaScript-number JSON reader and writer (common/json.c).
 *
 * The input is JSON text. Properties, for what jfs_json_parse() accepts:
 *  - jfs_json_parse_unique() accepts it too unless an object holds a key
 *    twice, and then gives the same value;
 *  - rendering (pretty, compact, at an indentation level) and parsing
 *    again gives an equal value (render(parse(x)) reads back as parse(x));
 *  - rendering is canonical: rendering the value read back gives the
 *    same bytes again;
 *  - jfs_json_equal() is reflexive on every value read back.
 * A refused text has a message with its line and column.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	jfs_log_set_level(LOG_ERR);
	return 0;
}

/* Render @v with @indent at @level, parse it back, check both properties. */
static void round_trip(const json_t *v, int indent, int level)
{
	struct jfs_strbuf a, b;
	struct jfs_err err;
	json_t *back;

	jfs_strbuf_init(&a);
	jfs_strbuf_init(&b);
	jfs_json_dump(v, &a, indent, level);
	jfs_err_clear(&err);
	if (jfs_json_parse(a.buf, a.len, &back, &err)) {
		fprintf(stderr, "fuzz: rendered: %.*s\n", (int)(a.len < 2000 ? a.len : 2000),
			a.buf);
		fuzz_fail("rendering (indent %d level %d) does not parse: %s", indent, level,
			  err.msg);
	}
	if (!jfs_json_equal(v, back)) {
		fuzz_show("parsed", v);
		fuzz_show("read back", back);
		fuzz_fail("rendering (indent %d level %d) reads back as another value", indent,
			  level);
	}
	jfs_json_dump(back, &b, indent, level);
	if (a.len != b.len || memcmp(a.buf, b.buf, a.len)) {
		fprintf(stderr, "fuzz: first:  %.*s\nfuzz: second: %.*s\n",
			(int)(a.len < 2000 ? a.len : 2000), a.buf,
			(int)(b.len < 2000 ? b.len : 2000), b.buf);
		fuzz_fail("rendering is not canonical (indent %d level %d)", indent, level);
	}
	FUZZ_CHECK(jfs_json_equal(back, back), "a value read back is not equal to itself");
	json_decref(back);
	jfs_strbuf_release(&a);
	jfs_strbuf_release(&b);
}

static void fuzz_one(const uint8_t *data, size_t size)
{
	struct jfs_err err, uerr;
	json_t *v, *u = NULL;
	char *text;
	size_t len;
	int ret, uret;

	jfs_err_clear(&err);
	jfs_err_clear(&uerr);
	ret = jfs_json_parse((const char *)data, size, &v, &err);
	uret = jfs_json_parse_unique((const char *)data, size, &u, &uerr);
	if (ret) {
		FUZZ_CHECK(ret == -EINVAL && !strncmp(err.msg, "line ", 5), "refused with %d '%s'",
			   ret, err.msg);
		FUZZ_CHECK(uret, "the unique parser accepts what the parser refuses");
		return;
	}
	if (uret) {
		FUZZ_CHECK(strstr(uerr.msg, "duplicate"),
			   "the unique parser refuses without a duplicate key: %s", uerr.msg);
	} else {
		FUZZ_CHECK(jfs_json_equal(v, u), "the unique parser reads another value");
		json_decref(u);
	}

	round_trip(v, 2, 0);
	round_trip(v, 0, 0);
	round_trip(v, 2, 1);

	text = jfs_json_render(v, &len);
	FUZZ_CHECK(len > 0 && text[len - 1] == '\n' && strlen(text) == len,
		   "render: no final newline or a NUL inside");
	free(text);
	json_decref(v);
}
