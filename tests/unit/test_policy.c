/*
 * Unit tests of the storedElements policy layer (policy/), against the
 * in-memory store of memstore.c, which implements conditional updates the
 * way the backend interface promises.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "common/isotime.h"
#include "common/json.h"
#include "common/log.h"
#include "policy/policy.h"

#include "check.h"
#include "memstore.h"
#include "testjson.h"

#define CHECK_RET(got, want, err)                                                        \
	check_at((got) == (want), __FILE__, __LINE__, #got " == " #want, "got %d (%s)", (got), \
		 (err).msg)
#define CHECK_HAS(got, part)                                                             \
	check_at((got) && strstr((got), (part)), __FILE__, __LINE__, #got " contains " #part, \
		 "got '%s', want it to contain '%s'", (got) ? (got) : "(null)", (part))

/* ---- captured warnings ---- */

static char warnings[4096];

static void log_hook(void *data, int level, const char *msg)
{
	size_t n = strlen(warnings);

	snprintf(warnings + n, sizeof(warnings) - n, "%s\n", msg);
}

/* ---- JSON ---- */

static void check_json(const json_t *got, const char *want, const char *file, int line,
		       const char *what)
{
	json_t *w = jfs_test_json(want);
	char *g = jfs_test_stringify(got);

	check_at(got && jfs_json_equal(got, w), file, line, what, "got %s, want %s", g, want);
	free(g);
	json_decref(w);
}

#define CHECK_JSON(got, want) check_json((got), (want), __FILE__, __LINE__, #got)

/* ---- the store: memstore.c ---- */

static void mem_put(struct jfs_memstore *ms, const char *id, const char *item)
{
	jfs_memstore_put_new(ms, id, jfs_test_json(item));
}

/* ---- fixture: a policy over a fresh store ---- */

struct fix {
	struct jfs_policy p;
	struct jfs_memstore *ms;
	struct jfs_err err;
	struct jfs_write_result res;
};

static void fix_init(struct fix *f, const char *stored_elements)
{
	json_t *se = stored_elements ? jfs_test_json(stored_elements) : NULL;

	memset(f, 0, sizeof(*f));
	if (jfs_policy_config_parse(se, &f->p.cfg, &f->err)) {
		fprintf(stderr, "bad test config %s: %s\n", stored_elements, f->err.msg);
		exit(2);
	}
	json_decref(se);
	f->ms = jfs_memstore_new();
	f->p.store = &f->ms->base;
}

static void fix_release(struct fix *f)
{
	jfs_write_result_release(&f->res);
	jfs_policy_config_release(&f->p.cfg);
	f->ms->base.ops->close(&f->ms->base);
}

/* Write @text to element @el of user "alice", as served @seen (a copy of what is stored when NULL). */
static int fix_write(struct fix *f, enum jfs_elem el, size_t idx, const char *text,
		     const char *fname)
{
	json_t *seen = json_deep_copy(jfs_memstore_get(f->ms, "alice"));
	int ret;

	jfs_write_result_release(&f->res);
	jfs_err_clear(&f->err);
	ret = jfs_policy_write(&f->p, "alice", seen, el, idx, text, strlen(text), fname, &f->res,
			       &f->err);
	json_decref(seen);
	return ret;
}

static int fix_remove(struct fix *f, enum jfs_elem el, size_t idx, const char *fname)
{
	json_t *seen = json_deep_copy(jfs_memstore_get(f->ms, "alice"));
	int ret;

	jfs_write_result_release(&f->res);
	jfs_err_clear(&f->err);
	ret = jfs_policy_remove_element(&f->p, "alice", seen, el, idx, fname, &f->res, &f->err);
	json_decref(seen);
	return ret;
}

static const char *ALICE =
	"{\"id\": \"alice\","
	" \"user\": {\"data\": {\"name\": \"Ada\", \"score\": 3}},"
	" \"session\": {\"id\": \"s-1\", \"data\": {\"step\": 2}, \"state\": [{\"component\": \"Main\"}],"
	"   \"createdAt\": \"2026-11-20T10:00:00.000Z\", \"updatedAt\": \"2026-11-20T10:02:11.482Z\"},"
	" \"history\": {\"items\": ["
	"   {\"output\": [\"o0\"], \"nlu\": {\"intent\": \"A\"}, \"request\": {\"r\": 0}},"
	"   {\"output\": [\"o1\"], \"nlu\": {\"intent\": \"B\"}, \"request\": {\"r\": 1}},"
	"   {\"output\": [\"o2\"], \"request\": {\"r\": 2}},"
	"   {\"output\": [\"o3\"]}]},"
	" \"custom\": {\"big\": 12345678901234567000, \"x\": [0.1, {\"y\": null}]},"
	" \"$plugin\": \"kept\","
	" \"createdAt\": \"2026-06-30T05:50:04.034Z\","
	" \"updatedAt\": \"2026-11-20T10:02:11.482Z\"}";

/* ---- config ---- */

static char *summarise(const struct jfs_policy_config *cfg)
{
	char buf[512], *hidden = jfs_test_stringify(cfg->history_hidden);

	snprintf(buf, sizeof(buf),
		 "user=%d session=%d expires=%lld history=%d size=%u createdAt=%d updatedAt=%d hidden=%s",
		 cfg->enabled[JFS_EL_USER], cfg->enabled[JFS_EL_SESSION],
		 (long long)cfg->session_expires_s, cfg->enabled[JFS_EL_HISTORY], cfg->history_size,
		 cfg->enabled[JFS_EL_CREATED_AT], cfg->enabled[JFS_EL_UPDATED_AT], hidden);
	free(hidden);
	return strdup(buf);
}

#define DEFAULTS "user=1 session=0 expires=900 history=0 size=3 createdAt=1 updatedAt=1 hidden=[]"

static const struct config_case {
	const char *in;       /* "storedElements" value, NULL: absent */
	const char *want;     /* summary, NULL when it must fail */
	const char *message;  /* part of the error (want NULL) or of a warning */
} config_cases[] = {
	{ NULL, DEFAULTS, NULL },
	{ "{}", DEFAULTS, NULL },
	{ "null", DEFAULTS, NULL },
	{ "{\"user\": true, \"session\": false, \"history\": false, \"createdAt\": true, \"updatedAt\": true}",
	  DEFAULTS, NULL },
	{ "{\"user\": false}",
	  "user=0 session=0 expires=900 history=0 size=3 createdAt=1 updatedAt=1 hidden=[]", NULL },
	{ "{\"user\": {\"enabled\": false}, \"createdAt\": {}}",
	  "user=0 session=0 expires=900 history=0 size=3 createdAt=1 updatedAt=1 hidden=[]", NULL },
	{ "{\"session\": true}",
	  "user=1 session=1 expires=900 history=0 size=3 createdAt=1 updatedAt=1 hidden=[]", NULL },
	{ "{\"session\": {\"expiresAfterSeconds\": 60}}",
	  "user=1 session=1 expires=60 history=0 size=3 createdAt=1 updatedAt=1 hidden=[]", NULL },
	{ "{\"session\": {\"enabled\": false, \"expiresAfterSeconds\": 60}}",
	  "user=1 session=0 expires=60 history=0 size=3 createdAt=1 updatedAt=1 hidden=[]", NULL },
	{ "{\"session\": {\"enabled\": true, \"expiresAfterSeconds\": 0}}",
	  "user=1 session=1 expires=900 history=0 size=3 createdAt=1 updatedAt=1 hidden=[]", NULL },
	{ "{\"history\": {}}",
	  "user=1 session=0 expires=900 history=1 size=3 createdAt=1 updatedAt=1 hidden=[]", NULL },
	{ "{\"history\": {\"size\": 5, \"output\": true, \"request\": false, \"nlu\": {\"enabled\": false}, \"asr\": {}}}",
	  "user=1 session=0 expires=900 history=1 size=5 createdAt=1 updatedAt=1 hidden=[\"request\",\"nlu\"]",
	  NULL },
	{ "{\"history\": {\"enabled\": false, \"size\": 0}}",
	  "user=1 session=0 expires=900 history=0 size=0 createdAt=1 updatedAt=1 hidden=[]", NULL },
	{ "{\"updateAt\": false}",
	  "user=1 session=0 expires=900 history=0 size=3 createdAt=1 updatedAt=0 hidden=[]",
	  "'storedElements.updateAt' read as 'storedElements.updatedAt'" },
	{ "{\"updateAt\": false, \"updatedAt\": true}", DEFAULTS,
	  "'storedElements.updateAt' ignored" },
	{ "{\"foo\": 1}", DEFAULTS, "unknown key 'storedElements.foo' ignored" },
	{ "{\"session\": {\"expiresAfterSecs\": 5}}",
	  "user=1 session=1 expires=900 history=0 size=3 createdAt=1 updatedAt=1 hidden=[]",
	  "unknown key 'storedElements.session.expiresAfterSecs' ignored" },
	{ "{\"user\": {\"enabld\": false}}", DEFAULTS,
	  "unknown key 'storedElements.user.enabld' ignored" },
	{ "[]", NULL, "'storedElements' must be an object" },
	{ "{\"user\": \"yes\"}", NULL, "'storedElements.user' must be" },
	{ "{\"user\": 1}", NULL, "'storedElements.user' must be" },
	{ "{\"session\": {\"enabled\": \"yes\"}}", NULL, "'storedElements.session.enabled'" },
	{ "{\"session\": {\"expiresAfterSeconds\": \"900\"}}", NULL,
	  "'storedElements.session.expiresAfterSeconds'" },
	{ "{\"session\": {\"expiresAfterSeconds\": -1}}", NULL,
	  "'storedElements.session.expiresAfterSeconds'" },
	{ "{\"history\": {\"size\": -1}}", NULL, "'storedElements.history.size'" },
	{ "{\"history\": {\"size\": 2.5}}", NULL, "'storedElements.history.size'" },
	{ "{\"history\": {\"output\": 1}}", NULL, "'storedElements.history.output'" },
	{ "{\"history\": {\"nlu\": {\"enabled\": 0}}}", NULL, "'storedElements.history.nlu.enabled'" },
	{ "{\"updateAt\": \"no\"}", NULL, "'storedElements.updateAt'" },
	{ "{\"updatedAt\": null}", NULL, "'storedElements.updatedAt'" },
};

static void test_config(void)
{
	struct jfs_policy_config cfg;
	struct jfs_err err;
	json_error_t jerr;
	json_t *in, *d;
	size_t i;
	char *s;
	int ret;

	for (i = 0; i < sizeof(config_cases) / sizeof(config_cases[0]); i++) {
		const struct config_case *c = &config_cases[i];

		warnings[0] = '\0';
		jfs_err_clear(&err);
		in = c->in ? jfs_test_json(c->in) : NULL;
		ret = jfs_policy_config_parse(in, &cfg, &err);
		json_decref(in);
		if (!c->want) {
			CHECK(ret == -EINVAL, "case %s: got %d", c->in, ret);
			CHECK(strstr(err.msg, c->message), "case %s: message '%s'", c->in, err.msg);
			CHECK(cfg.history_hidden == NULL, "case %s: nothing to release", c->in);
			continue;
		}
		CHECK(ret == 0, "case %s: got %d (%s)", c->in ? c->in : "NULL", ret, err.msg);
		if (ret)
			continue;
		s = summarise(&cfg);
		CHECK(!strcmp(s, c->want), "case %s:\n  got  %s\n  want %s", c->in, s, c->want);
		free(s);
		if (c->message)
			CHECK(strstr(warnings, c->message), "case %s: warnings '%s'", c->in,
			       warnings);
		else
			CHECK(!warnings[0], "case %s: unexpected warnings '%s'", c->in, warnings);
		jfs_policy_config_release(&cfg);
	}

	/* integers as jansson's own loader makes them */
	in = json_loads("{\"session\": {\"expiresAfterSeconds\": 30}, \"history\": {\"size\": 7}}",
			0, &jerr);
	ret = jfs_policy_config_parse(in, &cfg, &err);
	CHECK_RET(ret, 0, err);
	CHECK(cfg.session_expires_s == 30 && cfg.history_size == 7);
	CHECK(cfg.enabled[JFS_EL_SESSION] && cfg.enabled[JFS_EL_HISTORY]);
	json_decref(in);
	jfs_policy_config_release(&cfg);

	/* describe */
	in = jfs_test_json("{\"session\": {\"expiresAfterSeconds\": 60}, \"history\": {\"request\": false}, \"updateAt\": false}");
	ret = jfs_policy_config_parse(in, &cfg, &err);
	CHECK_RET(ret, 0, err);
	d = jfs_policy_config_describe(&cfg);
	CHECK_JSON(d, "{\"user\": {\"enabled\": true},"
		      " \"session\": {\"enabled\": true, \"expiresAfterSeconds\": 60},"
		      " \"history\": {\"enabled\": true, \"size\": 3, \"request\": false},"
		      " \"createdAt\": {\"enabled\": true}, \"updatedAt\": {\"enabled\": false}}");
	json_decref(d);
	json_decref(in);
	jfs_policy_config_release(&cfg);

	CHECK_STR(jfs_elem_key(JFS_EL_USER), "user");
	CHECK_STR(jfs_elem_key(JFS_EL_SESSION), "session");
	CHECK_STR(jfs_elem_key(JFS_EL_HISTORY), "history");
	CHECK_STR(jfs_elem_key(JFS_EL_CREATED_AT), "createdAt");
	CHECK_STR(jfs_elem_key(JFS_EL_UPDATED_AT), "updatedAt");
	CHECK(jfs_elem_key(JFS_EL__COUNT) == NULL);
}

/* ---- views ---- */

static void test_expiry(void)
{
	struct jfs_policy_config cfg;
	struct jfs_err err;
	json_t *se = jfs_test_json("{\"session\": {\"expiresAfterSeconds\": 900}}"), *item;
	int64_t t;

	jfs_policy_config_parse(se, &cfg, &err);
	jfs_iso_parse("2026-11-20T10:02:11.482Z", &t);

	item = jfs_test_json(
		"{\"session\": {\"data\": {}, \"updatedAt\": \"2026-11-20T10:02:11.482Z\"}}");
	CHECK(!jfs_policy_session_expired(&cfg, item, t));
	CHECK(!jfs_policy_session_expired(&cfg, item, t + 900000));
	CHECK(jfs_policy_session_expired(&cfg, item, t + 900001));
	CHECK(jfs_policy_element(&cfg, item, JFS_EL_SESSION, t + 900000) ==
	      json_object_get(item, "session"));
	CHECK(jfs_policy_element(&cfg, item, JFS_EL_SESSION, t + 900001) == NULL);
	CHECK(jfs_policy_render(&cfg, item, JFS_EL_SESSION, 0, t + 900001, &(size_t){ 0 }) == NULL);
	CHECK(jfs_item_session_updated_ms(item) == t);
	json_decref(item);

	/* an offset time counts by the instant it names */
	item = jfs_test_json(
		"{\"session\": {\"data\": {}, \"updatedAt\": \"2026-11-20T12:02:11.482+02:00\"}}");
	CHECK(!jfs_policy_session_expired(&cfg, item, t + 900000));
	CHECK(jfs_policy_session_expired(&cfg, item, t + 900001));
	json_decref(item);

	/* without a valid updatedAt a session never expires */
	static const char *const never[] = {
		"{\"session\": {\"data\": {}}}",
		"{\"session\": {\"data\": {}, \"updatedAt\": \"yesterday\"}}",
		"{\"session\": {\"data\": {}, \"updatedAt\": 1700000000000}}",
		"{\"session\": {\"data\": {}, \"updatedAt\": null}}",
		"{\"session\": {\"data\": {}, \"updatedAt\": \"2026-02-30T00:00:00.000Z\"}}",
		"{\"session\": \"odd\"}",
		"{}",
	};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		item = jfs_test_json(never[i]);
		CHECK(!jfs_policy_session_expired(&cfg, item, t + 86400000LL * 365 * 10), "%s",
		       never[i]);
		CHECK(jfs_item_session_updated_ms(item) == -1);
		json_decref(item);
	}
	json_decref(se);
	jfs_policy_config_release(&cfg);

	/* "expiresAfterSeconds": 0 counts as 900 */
	se = jfs_test_json("{\"session\": {\"expiresAfterSeconds\": 0}}");
	jfs_policy_config_parse(se, &cfg, &err);
	item = jfs_test_json(
		"{\"session\": {\"data\": {}, \"updatedAt\": \"2026-11-20T10:02:11.482Z\"}}");
	CHECK(!jfs_policy_session_expired(&cfg, item, t + 900000));
	CHECK(jfs_policy_session_expired(&cfg, item, t + 900001));
	json_decref(item);
	json_decref(se);
	jfs_policy_config_release(&cfg);

	/* sessions disabled: no session.json, whatever is stored */
	jfs_policy_config_parse(NULL, &cfg, &err);
	item = jfs_test_json("{\"session\": {\"data\": {}}}");
	CHECK(jfs_policy_element(&cfg, item, JFS_EL_SESSION, t) == NULL);
	json_decref(item);
	jfs_policy_config_release(&cfg);
}

static void test_views(void)
{
	struct jfs_policy_config cfg;
	struct jfs_err err;
	json_t *se, *item, *v;
	int64_t t;

	se = jfs_test_json("{\"history\": {\"size\": 3, \"request\": false}}");
	jfs_policy_config_parse(se, &cfg, &err);
	item = jfs_test_json(ALICE);
	CHECK(jfs_policy_history_count(&cfg, item) == 3);
	v = jfs_policy_history_item(&cfg, item, 0);
	CHECK_JSON(v, "{\"output\": [\"o0\"], \"nlu\": {\"intent\": \"A\"}}");
	json_decref(v);
	v = jfs_policy_history_item(&cfg, item, 2);
	CHECK_JSON(v, "{\"output\": [\"o2\"]}");
	json_decref(v);
	CHECK(jfs_policy_history_item(&cfg, item, 3) == NULL);
	/* the shown copy must not have touched the stored item */
	CHECK(json_object_get(json_array_get(json_object_get(json_object_get(item, "history"),
							   "items"), 0), "request"));
	CHECK(jfs_policy_element(&cfg, item, JFS_EL_HISTORY, 0) == json_object_get(item, "history"));
	CHECK(jfs_policy_element(&cfg, item, JFS_EL_USER, 0) == json_object_get(item, "user"));
	CHECK(jfs_policy_element(&cfg, item, JFS_EL_SESSION, 0) == NULL);
	CHECK(jfs_policy_element(&cfg, item, JFS_EL_CREATED_AT, 0) ==
	      json_object_get(item, "createdAt"));
	jfs_iso_parse("2026-06-30T05:50:04.034Z", &t);
	CHECK(jfs_item_created_ms(item) == t);
	jfs_iso_parse("2026-11-20T10:02:11.482Z", &t);
	CHECK(jfs_item_updated_ms(item) == t);
	json_decref(item);

	/* fewer stored than size */
	item = jfs_test_json("{\"history\": {\"items\": [{\"output\": 1}]}}");
	CHECK(jfs_policy_history_count(&cfg, item) == 1);
	json_decref(item);
	/* no history, odd history */
	item = jfs_test_json("{\"history\": {\"items\": 5}, \"updatedAt\": \"nope\"}");
	CHECK(jfs_policy_history_count(&cfg, item) == 0);
	CHECK(jfs_item_updated_ms(item) == -1 && jfs_item_created_ms(item) == -1);
	json_decref(item);
	json_decref(se);
	jfs_policy_config_release(&cfg);

	/* disabled history shows nothing */
	jfs_policy_config_parse(NULL, &cfg, &err);
	item = jfs_test_json(ALICE);
	CHECK(jfs_policy_history_count(&cfg, item) == 0);
	CHECK(jfs_policy_history_item(&cfg, item, 0) == NULL);
	CHECK(jfs_policy_element(&cfg, item, JFS_EL_HISTORY, 0) == NULL);
	json_decref(item);
	jfs_policy_config_release(&cfg);
}

static const struct render_case {
	const char *config;
	const char *item;
	enum jfs_elem el;
	size_t idx;
	const char *want; /* NULL: no file */
} render_cases[] = {
	{ NULL, "{\"user\": {\"data\": {\"x\": 0.1, \"n\": 100}}}", JFS_EL_USER, 0,
	  "{\n  \"data\": {\n    \"x\": 0.1,\n    \"n\": 100\n  }\n}\n" },
	{ NULL, "{\"user\": {\"data\": {}}}", JFS_EL_USER, 0, "{\n  \"data\": {}\n}\n" },
	{ NULL, "{\"user\": {\"data\": {\"big\": 12345678901234567000, \"e\": 1e-7, \"a\": [], \"s\": \"\\u0001\\\"\"}}}",
	  JFS_EL_USER, 0,
	  "{\n  \"data\": {\n    \"big\": 12345678901234567000,\n    \"e\": 1e-7,\n    \"a\": [],\n    \"s\": \"\\u0001\\\"\"\n  }\n}\n" },
	{ NULL, "{\"user\": {\"data\": {\"z\": 1, \"a\": [1, true, null]}}}", JFS_EL_USER, 0,
	  "{\n  \"data\": {\n    \"z\": 1,\n    \"a\": [\n      1,\n      true,\n      null\n    ]\n  }\n}\n" },
	{ NULL, "{}", JFS_EL_USER, 0, NULL },
	{ "{\"user\": false}", "{\"user\": {\"data\": {}}}", JFS_EL_USER, 0, NULL },
	{ NULL, "{\"createdAt\": \"2026-06-30T05:50:04.034Z\"}", JFS_EL_CREATED_AT, 0,
	  "2026-06-30T05:50:04.034Z\n" },
	{ NULL, "{\"updatedAt\": \"2026-06-30T05:50:04Z\"}", JFS_EL_UPDATED_AT, 0,
	  "2026-06-30T05:50:04Z\n" },
	{ NULL, "{\"updatedAt\": 1700000000000}", JFS_EL_UPDATED_AT, 0, "1700000000000\n" },
	{ NULL, "{\"createdAt\": {\"$date\": 5}}", JFS_EL_CREATED_AT, 0,
	  "{\n  \"$date\": 5\n}\n" },
	{ "{\"updatedAt\": false}", "{\"updatedAt\": \"2026-06-30T05:50:04.034Z\"}",
	  JFS_EL_UPDATED_AT, 0, NULL },
	{ "{\"history\": {\"request\": false}}",
	  "{\"history\": {\"items\": [{\"output\": [\"hi\"], \"request\": {}}, {\"nlu\": 2}]}}",
	  JFS_EL_HISTORY, 0, "{\n  \"output\": [\n    \"hi\"\n  ]\n}\n" },
	{ "{\"history\": {\"request\": false}}",
	  "{\"history\": {\"items\": [{\"output\": [\"hi\"], \"request\": {}}, {\"nlu\": 2}]}}",
	  JFS_EL_HISTORY, 1, "{\n  \"nlu\": 2\n}\n" },
	{ "{\"history\": {\"size\": 1}}",
	  "{\"history\": {\"items\": [{\"output\": [\"hi\"], \"request\": {}}, {\"nlu\": 2}]}}",
	  JFS_EL_HISTORY, 1, NULL },
	{ "{\"session\": true}",
	  "{\"session\": {\"data\": {\"step\": 2.5}, \"state\": [{\"component\": \"Main\"}]}}",
	  JFS_EL_SESSION, 0,
	  "{\n  \"data\": {\n    \"step\": 2.5\n  },\n  \"state\": [\n    {\n      \"component\": \"Main\"\n    }\n  ]\n}\n" },
};

static void test_render(void)
{
	struct jfs_policy_config cfg;
	struct jfs_err err;
	json_t *se, *item;
	size_t i, len;
	char *out;

	for (i = 0; i < sizeof(render_cases) / sizeof(render_cases[0]); i++) {
		const struct render_case *c = &render_cases[i];

		se = c->config ? jfs_test_json(c->config) : NULL;
		jfs_policy_config_parse(se, &cfg, &err);
		item = jfs_test_json(c->item);
		len = 12345;
		out = jfs_policy_render(&cfg, item, c->el, c->idx, jfs_now_ms(), &len);
		if (!c->want) {
			CHECK(out == NULL, "render case %zu: got '%s'", i, out);
		} else {
			CHECK(out && !strcmp(out, c->want) && len == strlen(c->want),
			       "render case %zu:\n--- got (%zu bytes)\n%s--- want\n%s---", i, len,
			       out ? out : "(null)\n", c->want);
		}
		free(out);
		json_decref(item);
		json_decref(se);
		jfs_policy_config_release(&cfg);
	}
}

/* ---- writes ---- */

static const char *str_of(const json_t *item, const char *key)
{
	return json_string_value(json_object_get(item, key));
}

/* Everything of @after but @changed (comma-separated keys) equals @before. */
static bool others_kept(const json_t *before, const json_t *after, const char *changed)
{
	const char *key;
	json_t *v;
	char pat[64];

	json_object_foreach((json_t *)before, key, v) {
		snprintf(pat, sizeof(pat), ",%s,", key);
		if (strstr(changed, pat))
			continue;
		if (!json_object_get(after, key) || !jfs_json_equal(v, json_object_get(after, key)))
			return false;
	}
	json_object_foreach((json_t *)after, key, v) {
		snprintf(pat, sizeof(pat), ",%s,", key);
		if (!strstr(changed, pat) && !json_object_get(before, key))
			return false;
	}
	return true;
}

static void test_validation(void)
{
	static const struct {
		enum jfs_elem el;
		size_t idx;
		const char *text;
		const char *fname;
		int ret;
		const char *msg;
	} cases[] = {
		{ JFS_EL_USER, 0, "{\"data\": {\"x\": }}", "alice/user.json", -EINVAL,
		  "cannot parse 'alice/user.json': line 1 column " },
		{ JFS_EL_USER, 0, "{\n  \"data\": {\n    \"x\": 1,,\n  }\n}\n", "alice/user.json",
		  -EINVAL, "cannot parse 'alice/user.json': line 3 column " },
		{ JFS_EL_USER, 0, "", "alice/user.json", -EINVAL, "cannot parse 'alice/user.json': " },
		{ JFS_EL_USER, 0, "{\"data\": {}} x", "alice/user.json", -EINVAL,
		  "cannot parse 'alice/user.json': line 1" },
		{ JFS_EL_USER, 0, "{\"data\": []}", "alice/user.json", -EINVAL,
		  "'alice/user.json': \"data\" must be an object" },
		{ JFS_EL_USER, 0, "{\"data\": null}", "alice/user.json", -EINVAL,
		  "'alice/user.json': \"data\" must be an object" },
		{ JFS_EL_USER, 0, "{\"name\": \"Ada\"}", "alice/user.json", -EINVAL,
		  "'alice/user.json': \"data\" must be an object (it is missing)" },
		{ JFS_EL_USER, 0, "[1, 2]", "alice/user.json", -EINVAL,
		  "'alice/user.json': must be a JSON object" },
		{ JFS_EL_USER, 0, "\"data\"", "alice/user.json", -EINVAL,
		  "'alice/user.json': must be a JSON object" },
		{ JFS_EL_SESSION, 0, "{\"data\": 5}", "alice/session.json", -EINVAL,
		  "'alice/session.json': \"data\" must be an object" },
		{ JFS_EL_HISTORY, 0, "[]", "alice/history/0.json", -EINVAL,
		  "'alice/history/0.json': a history item must be a JSON object" },
		{ JFS_EL_HISTORY, 1, "{\"output\": [}", "alice/history/1.json", -EINVAL,
		  "cannot parse 'alice/history/1.json': line 1 column " },
		{ JFS_EL_CREATED_AT, 0, "yesterday\n", "alice/createdAt", -EINVAL,
		  "cannot parse 'alice/createdAt': 'yesterday' is not an ISO-8601 time" },
		{ JFS_EL_CREATED_AT, 0, "2026-02-30T00:00:00.000Z\n", "alice/createdAt", -EINVAL,
		  "cannot parse 'alice/createdAt': '2026-02-30T00:00:00.000Z' is not an ISO-8601 time" },
		/* moments the file could not show as YYYY-MM-DDTHH:MM:SS.sssZ */
		{ JFS_EL_CREATED_AT, 0, "0000-01-01T00:30:00+01:00\n", "alice/createdAt", -EINVAL,
		  "cannot parse 'alice/createdAt': '0000-01-01T00:30:00+01:00' is not an ISO-8601 time" },
		{ JFS_EL_UPDATED_AT, 0, "9999-12-31T23:59:59.999-01:00", "alice/updatedAt", -EINVAL,
		  "cannot parse 'alice/updatedAt': '9999-12-31T23:59:59.999-01:00' is not an ISO-8601 time" },
		{ JFS_EL_UPDATED_AT, 0, "\n", "alice/updatedAt", -EINVAL,
		  "cannot parse 'alice/updatedAt': empty" },
		{ JFS_EL_UPDATED_AT, 0, "2026-06-30T05:50:04.034Z\n2026-06-30T05:50:04.034Z\n",
		  "alice/updatedAt", -EINVAL, "cannot parse 'alice/updatedAt'" },
		{ JFS_EL_HISTORY, 3, "{}", "alice/history/3.json", -EPERM,
		  "'alice/history/3.json': storedElements.history.size is 3" },
	};
	struct fix f;
	json_t *before;
	size_t i;
	int ret;

	fix_init(&f, "{\"session\": true, \"history\": true}");
	mem_put(f.ms, "alice", ALICE);
	before = json_deep_copy(jfs_memstore_get(f.ms, "alice"));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ret = fix_write(&f, cases[i].el, cases[i].idx, cases[i].text, cases[i].fname);
		CHECK(ret == cases[i].ret, "validation case %zu: got %d (%s)", i, ret, f.err.msg);
		CHECK(!strncmp(f.err.msg, cases[i].msg, strlen(cases[i].msg)),
		       "validation case %zu: message '%s', want it to start with '%s'", i,
		       f.err.msg, cases[i].msg);
		CHECK(f.err.code == -cases[i].ret, "validation case %zu: err.code %d", i,
		       f.err.code);
		CHECK(f.res.item == NULL && !f.res.noop);
	}
	/* the parser's own reason comes through */
	fix_write(&f, JFS_EL_USER, 0, "{\"data\": {\"x\": }}", "alice/user.json");
	CHECK_HAS(f.err.msg, "unexpected token");
	/* nothing reached the store, not even a load */
	CHECK(f.ms->updates == 0 && f.ms->loads == 0);
	CHECK(jfs_json_equal(before, jfs_memstore_get(f.ms, "alice")));
	json_decref(before);
	fix_release(&f);

	/* a write to a disabled element */
	fix_init(&f, NULL);
	mem_put(f.ms, "alice", ALICE);
	ret = fix_write(&f, JFS_EL_SESSION, 0, "{\"data\": {}}", "alice/session.json");
	CHECK_RET(ret, -EPERM, f.err);
	CHECK_STR(f.err.msg, "'alice/session.json': storedElements.session is disabled");
	ret = fix_write(&f, JFS_EL_HISTORY, 0, "{}", "alice/history/0.json");
	CHECK_RET(ret, -EPERM, f.err);
	CHECK_STR(f.err.msg, "'alice/history/0.json': storedElements.history is disabled");
	ret = fix_remove(&f, JFS_EL_SESSION, 0, "alice/session.json");
	CHECK_RET(ret, -EPERM, f.err);
	CHECK(f.ms->updates == 0 && f.ms->loads == 0);
	fix_release(&f);

	fix_init(&f, "{\"user\": {\"enabled\": false}, \"updatedAt\": false}");
	mem_put(f.ms, "alice", ALICE);
	ret = fix_write(&f, JFS_EL_USER, 0, "{\"data\": {}}", "alice/user.json");
	CHECK_RET(ret, -EPERM, f.err);
	CHECK_STR(f.err.msg, "'alice/user.json': storedElements.user is disabled");
	ret = fix_write(&f, JFS_EL_UPDATED_AT, 0, "2026-06-30T05:50:04.034Z\n", "alice/updatedAt");
	CHECK_RET(ret, -EPERM, f.err);
	CHECK_STR(f.err.msg, "'alice/updatedAt': storedElements.updatedAt is disabled");
	CHECK(f.ms->updates == 0);
	fix_release(&f);
}

static void test_noop(void)
{
	static const struct {
		enum jfs_elem el;
		size_t idx;
		const char *text;
	} same[] = {
		{ JFS_EL_USER, 0, "{\"data\": {\"name\": \"Ada\", \"score\": 3}}" },
		{ JFS_EL_USER, 0, "{\"data\": {\"score\": 3.0, \"name\": \"Ada\"}}\n" },
		{ JFS_EL_USER, 0, "  {\"data\":{\"score\":3e0,\"name\":\"A\\u0064a\"}}  \n\n" },
		{ JFS_EL_HISTORY, 0, "{\"nlu\": {\"intent\": \"A\"}, \"output\": [\"o0\"]}" },
		/* a hidden key is not part of what is shown, so it cannot make a difference */
		{ JFS_EL_HISTORY, 0,
		  "{\"nlu\": {\"intent\": \"A\"}, \"output\": [\"o0\"], \"request\": {\"other\": 1}}" },
		{ JFS_EL_SESSION, 0,
		  "{\"id\": \"s-1\", \"data\": {\"step\": 2}, \"state\": [{\"component\": \"Main\"}],"
		  " \"createdAt\": \"2026-11-20T10:00:00.000Z\", \"updatedAt\": \"2026-11-20T10:02:11.482Z\"}" },
		{ JFS_EL_CREATED_AT, 0, "2026-06-30T05:50:04.034Z\n" },
		{ JFS_EL_CREATED_AT, 0, " 2026-06-30T07:50:04.034+02:00 " },
		{ JFS_EL_UPDATED_AT, 0, "2026-11-20T10:02:11.482Z" },
	};
	struct fix f;
	json_t *before, *seen;
	size_t i;
	int ret;

	/* the session must not be expired for the no-op of session.json */
	fix_init(&f, "{\"session\": {\"expiresAfterSeconds\": 2000000000}, \"history\": {\"request\": false}}");
	mem_put(f.ms, "alice", ALICE);
	/* stored integers as a backend would hand them (json_integer), written as doubles */
	json_object_set_new(
	    json_object_get(json_object_get(jfs_memstore_get(f.ms, "alice"), "user"), "data"),
	    "score", json_integer(3));
	before = json_deep_copy(jfs_memstore_get(f.ms, "alice"));
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		ret = fix_write(&f, same[i].el, same[i].idx, same[i].text, "alice/x");
		CHECK(ret == 0 && f.res.noop, "no-op case %zu: ret %d noop %d (%s)", i, ret,
		       f.res.noop, f.err.msg);
		CHECK(f.res.item && jfs_json_equal(f.res.item, before), "no-op case %zu: item", i);
	}
	CHECK(f.ms->updates == 0);
	CHECK(jfs_json_equal(before, jfs_memstore_get(f.ms, "alice")));

	/* the no-op hands back the served item itself */
	seen = json_deep_copy(before);
	jfs_write_result_release(&f.res);
	ret = jfs_policy_write(&f.p, "alice", seen, JFS_EL_USER, 0, "{\"data\":{\"name\":\"Ada\",\"score\":3}}",
			       strlen("{\"data\":{\"name\":\"Ada\",\"score\":3}}"), "alice/user.json",
			       &f.res, &f.err);
	CHECK(ret == 0 && f.res.noop && f.res.item == seen);
	json_decref(seen);

	/* seen NULL: compared with what is loaded */
	jfs_write_result_release(&f.res);
	jfs_memstore_reset_counts(f.ms);
	ret = jfs_policy_write(&f.p, "alice", NULL, JFS_EL_USER, 0, "{\"data\":{\"name\":\"Ada\",\"score\":3}}",
			       strlen("{\"data\":{\"name\":\"Ada\",\"score\":3}}"), "alice/user.json",
			       &f.res, &f.err);
	CHECK(ret == 0 && f.res.noop && f.ms->loads == 1 && f.ms->updates == 0);

	/* but a different value is not: 3 vs "3", 3 vs 3.5, a key more */
	ret = fix_write(&f, JFS_EL_USER, 0, "{\"data\": {\"name\": \"Ada\", \"score\": \"3\"}}",
			"alice/user.json");
	CHECK(ret == 0 && !f.res.noop && f.ms->updates == 1);
	json_decref(before);
	fix_release(&f);
}

static void test_write_user(void)
{
	struct fix f;
	json_t *before, *after;
	int64_t t0, t1, upd;
	int ret;

	fix_init(&f, NULL);
	mem_put(f.ms, "alice", ALICE);
	before = json_deep_copy(jfs_memstore_get(f.ms, "alice"));
	t0 = jfs_now_ms();
	ret = fix_write(&f, JFS_EL_USER, 0, "{\"data\": {\"name\": \"Bob\", \"x\": 0.1}, \"extra\": 1}\n",
			"alice/user.json");
	t1 = jfs_now_ms();
	CHECK_RET(ret, 0, f.err);
	CHECK(!f.res.noop);
	after = jfs_memstore_get(f.ms, "alice");
	CHECK_JSON(json_object_get(after, "user"), "{\"data\": {\"name\": \"Bob\", \"x\": 0.1}, \"extra\": 1}");
	upd = jfs_item_updated_ms(after);
	CHECK(upd >= t0 && upd <= t1 + 1, "updatedAt %s", str_of(after, "updatedAt"));
	CHECK(strlen(str_of(after, "updatedAt")) == JFS_ISO_LEN);
	/* unknown keys, the session, history and createdAt exactly as they were */
	CHECK(others_kept(before, after, ",user,updatedAt,"));
	/* strictly: same jansson types too, not only the same JavaScript values */
	CHECK(json_equal(json_object_get(before, "custom"), json_object_get(after, "custom")));
	CHECK(json_equal(json_object_get(before, "$plugin"), json_object_get(after, "$plugin")));
	CHECK(json_equal(json_object_get(before, "session"), json_object_get(after, "session")));
	CHECK(json_equal(json_object_get(before, "history"), json_object_get(after, "history")));
	CHECK(jfs_json_equal(f.res.item, after));
	CHECK(f.ms->updates == 1);
	/* the big number kept its value */
	CHECK(jfs_json_number_value(json_object_get(json_object_get(after, "custom"), "big")) ==
	      12345678901234567000.0);

	/* a second write right away still moves updatedAt on */
	ret = fix_write(&f, JFS_EL_USER, 0, "{\"data\": {}}", "alice/user.json");
	CHECK_RET(ret, 0, f.err);
	CHECK(jfs_item_updated_ms(jfs_memstore_get(f.ms, "alice")) > upd);
	json_decref(before);

	/* user absent from the item: the write adds it */
	json_object_del(jfs_memstore_get(f.ms, "alice"), "user");
	ret = fix_write(&f, JFS_EL_USER, 0, "{\"data\": {\"a\": 1}}", "alice/user.json");
	CHECK_RET(ret, 0, f.err);
	CHECK_JSON(json_object_get(jfs_memstore_get(f.ms, "alice"), "user"),
		   "{\"data\": {\"a\": 1}}");

	/* no such user */
	jfs_write_result_release(&f.res);
	ret = jfs_policy_write(&f.p, "nobody", NULL, JFS_EL_USER, 0, "{\"data\": {}}", 12,
			       "nobody/user.json", &f.res, &f.err);
	CHECK_RET(ret, -ENOENT, f.err);
	CHECK_HAS(f.err.msg, "'nobody/user.json'");
	fix_release(&f);

	/* updatedAt disabled: no bump, the condition is the element itself */
	fix_init(&f, "{\"updatedAt\": false}");
	mem_put(f.ms, "alice", ALICE);
	before = json_deep_copy(jfs_memstore_get(f.ms, "alice"));
	ret = fix_write(&f, JFS_EL_USER, 0, "{\"data\": {}}", "alice/user.json");
	CHECK_RET(ret, 0, f.err);
	CHECK(others_kept(before, jfs_memstore_get(f.ms, "alice"), ",user,"));
	CHECK_STR(str_of(jfs_memstore_get(f.ms, "alice"), "updatedAt"), "2026-11-20T10:02:11.482Z");
	json_decref(before);
	fix_release(&f);
}

static void test_write_session(void)
{
	struct fix f;
	json_t *s, *before;
	int64_t t0, now;
	int ret;

	fix_init(&f, "{\"session\": {\"expiresAfterSeconds\": 60}}");
	mem_put(f.ms, "alice", ALICE); /* its session expired long ago */
	before = json_deep_copy(jfs_memstore_get(f.ms, "alice"));
	CHECK(jfs_policy_element(&f.p.cfg, before, JFS_EL_SESSION, jfs_now_ms()) == NULL);
	CHECK(jfs_policy_render(&f.p.cfg, before, JFS_EL_SESSION, 0, jfs_now_ms(), &(size_t){ 0 }) ==
	      NULL);
	/* writing the expired content again is not a no-op: it starts a session */
	t0 = jfs_now_ms();
	ret = fix_write(&f, JFS_EL_SESSION, 0, "{\"data\": {\"step\": 1}}", "alice/session.json");
	CHECK_RET(ret, 0, f.err);
	CHECK(!f.res.noop);
	s = json_object_get(jfs_memstore_get(f.ms, "alice"), "session");
	CHECK(json_object_size(s) == 3);
	CHECK_JSON(json_object_get(s, "data"), "{\"step\": 1}");
	CHECK(jfs_item_session_updated_ms(jfs_memstore_get(f.ms, "alice")) >= t0);
	CHECK_STR(str_of(s, "updatedAt"), str_of(jfs_memstore_get(f.ms, "alice"), "updatedAt"));
	CHECK_STR(str_of(s, "createdAt"), str_of(s, "updatedAt"));
	CHECK(others_kept(before, jfs_memstore_get(f.ms, "alice"), ",session,updatedAt,"));
	now = jfs_now_ms();
	CHECK(jfs_policy_element(&f.p.cfg, jfs_memstore_get(f.ms, "alice"), JFS_EL_SESSION, now) !=
	      NULL);
	CHECK(jfs_json_equal(f.res.item, jfs_memstore_get(f.ms, "alice")));

	/* a given createdAt stays; a stale updatedAt is refreshed */
	ret = fix_write(&f, JFS_EL_SESSION, 0,
			"{\"data\": {\"step\": 2}, \"createdAt\": \"2026-01-01T00:00:00.000Z\","
			" \"updatedAt\": \"2020-01-01T00:00:00.000Z\"}",
			"alice/session.json");
	CHECK_RET(ret, 0, f.err);
	s = json_object_get(jfs_memstore_get(f.ms, "alice"), "session");
	CHECK_STR(str_of(s, "createdAt"), "2026-01-01T00:00:00.000Z");
	CHECK(jfs_item_session_updated_ms(jfs_memstore_get(f.ms, "alice")) >= t0);
	json_decref(before);

	/* remove it */
	ret = fix_remove(&f, JFS_EL_SESSION, 0, "alice/session.json");
	CHECK_RET(ret, 0, f.err);
	CHECK(json_object_get(jfs_memstore_get(f.ms, "alice"), "session") == NULL);
	CHECK(json_object_get(f.res.item, "session") == NULL);
	ret = fix_remove(&f, JFS_EL_SESSION, 0, "alice/session.json");
	CHECK_RET(ret, -ENOENT, f.err);
	fix_release(&f);

	/* an expired session cannot be removed: it is not shown, and stays stored */
	fix_init(&f, "{\"session\": true}");
	mem_put(f.ms, "alice", ALICE);
	ret = fix_remove(&f, JFS_EL_SESSION, 0, "alice/session.json");
	CHECK_RET(ret, -ENOENT, f.err);
	CHECK(json_object_get(jfs_memstore_get(f.ms, "alice"), "session") != NULL);
	CHECK(f.ms->updates == 0);
	fix_release(&f);
}

static void test_write_history(void)
{
	struct fix f;
	json_t *before, *items, *hist;
	int ret;

	fix_init(&f, "{\"history\": {\"size\": 3, \"request\": false}}");
	mem_put(f.ms, "alice", ALICE);
	json_object_set_new(json_object_get(jfs_memstore_get(f.ms, "alice"), "history"), "custom",
			    json_true());
	before = json_deep_copy(jfs_memstore_get(f.ms, "alice"));
	ret = fix_write(&f, JFS_EL_HISTORY, 1, "{\"output\": [\"new\"]}", "alice/history/1.json");
	CHECK_RET(ret, 0, f.err);
	hist = json_object_get(jfs_memstore_get(f.ms, "alice"), "history");
	items = json_object_get(hist, "items");
	/* trimmed to size, the others kept, the hidden key of the replaced item kept */
	CHECK(json_array_size(items) == 3);
	CHECK_JSON(json_array_get(items, 0),
		   "{\"output\": [\"o0\"], \"nlu\": {\"intent\": \"A\"}, \"request\": {\"r\": 0}}");
	CHECK_JSON(json_array_get(items, 1), "{\"output\": [\"new\"], \"request\": {\"r\": 1}}");
	CHECK_JSON(json_array_get(items, 2), "{\"output\": [\"o2\"], \"request\": {\"r\": 2}}");
	CHECK(json_is_true(json_object_get(hist, "custom")));
	CHECK(others_kept(before, jfs_memstore_get(f.ms, "alice"), ",history,updatedAt,"));
	CHECK(jfs_json_equal(f.res.item, jfs_memstore_get(f.ms, "alice")));
	json_decref(before);

	/* a hidden key written is ignored: the stored one stays */
	ret = fix_write(&f, JFS_EL_HISTORY, 2, "{\"output\": [\"x\"], \"request\": \"mine\"}",
			"alice/history/2.json");
	CHECK_RET(ret, 0, f.err);
	items = json_object_get(json_object_get(jfs_memstore_get(f.ms, "alice"), "history"),
				"items");
	CHECK_JSON(json_array_get(items, 2), "{\"output\": [\"x\"], \"request\": {\"r\": 2}}");

	/* remove item 0: the others move up */
	ret = fix_remove(&f, JFS_EL_HISTORY, 0, "alice/history/0.json");
	CHECK_RET(ret, 0, f.err);
	items = json_object_get(json_object_get(jfs_memstore_get(f.ms, "alice"), "history"),
				"items");
	CHECK(json_array_size(items) == 2);
	CHECK_JSON(json_array_get(items, 0), "{\"output\": [\"new\"], \"request\": {\"r\": 1}}");
	CHECK(jfs_policy_history_count(&f.p.cfg, jfs_memstore_get(f.ms, "alice")) == 2);
	/* no such item */
	ret = fix_remove(&f, JFS_EL_HISTORY, 2, "alice/history/2.json");
	CHECK_RET(ret, -ENOENT, f.err);
	ret = fix_remove(&f, JFS_EL_HISTORY, 7, "alice/history/7.json");
	CHECK_RET(ret, -ENOENT, f.err);
	/* append the next item; a gap is refused */
	ret = fix_write(&f, JFS_EL_HISTORY, 2, "{\"output\": [\"appended\"]}", "alice/history/2.json");
	CHECK_RET(ret, 0, f.err);
	items = json_object_get(json_object_get(jfs_memstore_get(f.ms, "alice"), "history"),
				"items");
	CHECK(json_array_size(items) == 3);
	CHECK_JSON(json_array_get(items, 2), "{\"output\": [\"appended\"]}");
	fix_release(&f);

	fix_init(&f, "{\"history\": {\"size\": 5}}");
	mem_put(f.ms, "alice", "{\"id\": \"alice\", \"updatedAt\": \"2026-11-20T10:02:11.482Z\"}");
	ret = fix_write(&f, JFS_EL_HISTORY, 1, "{}", "alice/history/1.json");
	CHECK_RET(ret, -EINVAL, f.err);
	CHECK_STR(f.err.msg, "'alice/history/1.json': history has 0 items; the next one is 0.json");
	CHECK(f.ms->updates == 0);
	ret = fix_write(&f, JFS_EL_HISTORY, 0, "{\"output\": []}", "alice/history/0.json");
	CHECK_RET(ret, 0, f.err);
	CHECK_JSON(json_object_get(jfs_memstore_get(f.ms, "alice"), "history"),
		   "{\"items\": [{\"output\": []}]}");
	fix_release(&f);

	/* a stored history longer than size is trimmed on any history write */
	fix_init(&f, "{\"history\": {\"size\": 2}}");
	mem_put(f.ms, "alice", ALICE);
	ret = fix_remove(&f, JFS_EL_HISTORY, 1, "alice/history/1.json");
	CHECK_RET(ret, 0, f.err);
	items = json_object_get(json_object_get(jfs_memstore_get(f.ms, "alice"), "history"),
				"items");
	CHECK(json_array_size(items) == 2);
	CHECK_JSON(json_array_get(items, 1), "{\"output\": [\"o2\"], \"request\": {\"r\": 2}}");
	fix_release(&f);
}

static void test_write_times(void)
{
	struct fix f;
	json_t *before;
	int ret;

	fix_init(&f, NULL);
	mem_put(f.ms, "alice", ALICE);
	before = json_deep_copy(jfs_memstore_get(f.ms, "alice"));
	ret = fix_write(&f, JFS_EL_CREATED_AT, 0, "  2026-01-02T03:04:05+02:00\n", "alice/createdAt");
	CHECK_RET(ret, 0, f.err);
	CHECK_STR(str_of(jfs_memstore_get(f.ms, "alice"), "createdAt"), "2026-01-02T01:04:05.000Z");
	CHECK(others_kept(before, jfs_memstore_get(f.ms, "alice"), ",createdAt,updatedAt,"));
	CHECK(strcmp(str_of(jfs_memstore_get(f.ms, "alice"), "updatedAt"),
		     "2026-11-20T10:02:11.482Z"));

	ret = fix_write(&f, JFS_EL_UPDATED_AT, 0, "2027-03-04\n", "alice/updatedAt");
	CHECK_RET(ret, 0, f.err);
	CHECK_STR(str_of(jfs_memstore_get(f.ms, "alice"), "updatedAt"), "2027-03-04T00:00:00.000Z");
	CHECK_STR(str_of(f.res.item, "updatedAt"), "2027-03-04T00:00:00.000Z");
	CHECK(others_kept(before, jfs_memstore_get(f.ms, "alice"), ",createdAt,updatedAt,"));

	ret = fix_write(&f, JFS_EL_UPDATED_AT, 0, "2027-03-04T01:02:03.4567Z", "alice/updatedAt");
	CHECK_RET(ret, 0, f.err);
	CHECK_STR(str_of(jfs_memstore_get(f.ms, "alice"), "updatedAt"), "2027-03-04T01:02:03.456Z");

	ret = fix_remove(&f, JFS_EL_CREATED_AT, 0, "alice/createdAt");
	CHECK_RET(ret, 0, f.err);
	CHECK(json_object_get(jfs_memstore_get(f.ms, "alice"), "createdAt") == NULL);
	json_decref(before);
	fix_release(&f);
}

/* ---- concurrency ---- */

/* Another writer sets @key (hook_arg) of the item to a new value and bumps updatedAt. */
static void hook_change(struct jfs_memstore *ms, const char *id)
{
	static int n;
	json_t *item = jfs_memstore_get(ms, id);
	char iso[32];

	jfs_iso_format(jfs_item_updated_ms(item) + 5, iso);
	if (!strcmp(ms->hook_arg, "user"))
		json_object_set_new(item, "user", jfs_test_json("{\"data\": {\"by\": \"app\"}}"));
	else if (!strcmp(ms->hook_arg, "history0"))
		json_array_set_new(json_object_get(json_object_get(item, "history"), "items"), 0,
				   jfs_test_json("{\"output\": [\"app\"]}"));
	else if (!strcmp(ms->hook_arg, "history-unshift"))
		json_array_insert_new(json_object_get(json_object_get(item, "history"), "items"), 0,
				      jfs_test_json("{\"output\": [\"app\"]}"));
	else
		json_object_set_new(item, ms->hook_arg, json_integer(++n));
	json_object_set_new(item, "updatedAt", json_string(iso));
}

static void hook_delete(struct jfs_memstore *ms, const char *id)
{
	json_object_del(ms->items, id);
}

/* Our own earlier request landed (the reply got lost): user already is what we write. */
static void hook_same_user(struct jfs_memstore *ms, const char *id)
{
	json_t *item = jfs_memstore_get(ms, id);

	json_object_set_new(item, "user", jfs_test_json("{\"data\": {\"mine\": true}}"));
	json_object_set_new(item, "updatedAt", json_string("2026-11-21T00:00:00.000Z"));
}

static void test_conflicts(void)
{
	struct fix f;
	json_t *seen, *expect;
	int ret;

	/* another element changed meanwhile: retried on the fresh item, both changes kept */
	fix_init(&f, NULL);
	mem_put(f.ms, "alice", ALICE);
	f.ms->hook = hook_change;
	f.ms->hook_arg = "custom";
	f.ms->hook_runs = 1;
	ret = fix_write(&f, JFS_EL_USER, 0, "{\"data\": {\"mine\": true}}", "alice/user.json");
	CHECK_RET(ret, 0, f.err);
	CHECK(f.ms->updates == 2 && f.ms->loads == 1);
	CHECK_JSON(json_object_get(jfs_memstore_get(f.ms, "alice"), "user"),
		   "{\"data\": {\"mine\": true}}");
	CHECK(json_is_integer(json_object_get(jfs_memstore_get(f.ms, "alice"), "custom")));
	CHECK(jfs_json_equal(f.res.item, jfs_memstore_get(f.ms, "alice")));
	fix_release(&f);

	/* the same element changed meanwhile: ESTALE, and the store keeps the other's change */
	fix_init(&f, NULL);
	mem_put(f.ms, "alice", ALICE);
	f.ms->hook = hook_change;
	f.ms->hook_arg = "user";
	f.ms->hook_runs = 1;
	seen = json_deep_copy(jfs_memstore_get(f.ms, "alice"));
	expect = json_deep_copy(seen);
	hook_change(f.ms, "alice"); /* what the store will hold after the hook */
	json_decref(expect);
	expect = json_deep_copy(jfs_memstore_get(f.ms, "alice"));
	json_object_set_new(f.ms->items, "alice", json_deep_copy(seen));
	ret = jfs_policy_write(&f.p, "alice", seen, JFS_EL_USER, 0, "{\"data\": {\"mine\": true}}",
			       strlen("{\"data\": {\"mine\": true}}"), "alice/user.json", &f.res,
			       &f.err);
	CHECK_RET(ret, -ESTALE, f.err);
	CHECK_STR(f.err.msg,
		  "'alice/user.json' was changed by someone else since it was read; your version was not stored");
	CHECK(f.err.code == ESTALE);
	CHECK(f.ms->updates == 1);
	CHECK_JSON(json_object_get(jfs_memstore_get(f.ms, "alice"), "user"),
		   "{\"data\": {\"by\": \"app\"}}");
	CHECK(others_kept(expect, jfs_memstore_get(f.ms, "alice"), ",updatedAt,"));
	CHECK(f.res.item == NULL);
	json_decref(expect);
	json_decref(seen);
	fix_release(&f);

	/* changed to what we write (our own earlier request did land): success */
	fix_init(&f, NULL);
	mem_put(f.ms, "alice", ALICE);
	f.ms->hook = hook_same_user;
	f.ms->hook_runs = 1;
	ret = fix_write(&f, JFS_EL_USER, 0, "{\"data\": {\"mine\": true}}", "alice/user.json");
	CHECK_RET(ret, 0, f.err);
	CHECK(f.ms->updates == 1);
	CHECK(jfs_json_equal(f.res.item, jfs_memstore_get(f.ms, "alice")));
	fix_release(&f);

	/* changing all the time: gives up after max_retries */
	fix_init(&f, NULL);
	f.p.max_retries = 2;
	mem_put(f.ms, "alice", ALICE);
	f.ms->hook = hook_change;
	f.ms->hook_arg = "custom";
	f.ms->hook_runs = 100;
	ret = fix_write(&f, JFS_EL_USER, 0, "{\"data\": {\"mine\": true}}", "alice/user.json");
	CHECK_RET(ret, -ESTALE, f.err);
	CHECK(f.ms->updates == 3);
	CHECK_JSON(json_object_get(jfs_memstore_get(f.ms, "alice"), "user"),
		   "{\"data\": {\"name\": \"Ada\", \"score\": 3}}");
	fix_release(&f);

	/* the default is 5 retries */
	fix_init(&f, NULL);
	mem_put(f.ms, "alice", ALICE);
	f.ms->hook = hook_change;
	f.ms->hook_arg = "custom";
	f.ms->hook_runs = 100;
	ret = fix_write(&f, JFS_EL_USER, 0, "{\"data\": {}}", "alice/user.json");
	CHECK_RET(ret, -ESTALE, f.err);
	CHECK(f.ms->updates == 6);
	fix_release(&f);

	/* the user was deleted meanwhile */
	fix_init(&f, NULL);
	mem_put(f.ms, "alice", ALICE);
	f.ms->hook = hook_delete;
	f.ms->hook_runs = 1;
	ret = fix_write(&f, JFS_EL_USER, 0, "{\"data\": {}}", "alice/user.json");
	CHECK_RET(ret, -ENOENT, f.err);
	CHECK(jfs_memstore_get(f.ms, "alice") == NULL);
	fix_release(&f);

	/* updatedAt disabled: a change to another element does not even conflict */
	fix_init(&f, "{\"updatedAt\": false}");
	mem_put(f.ms, "alice", ALICE);
	f.ms->hook = hook_change;
	f.ms->hook_arg = "custom";
	f.ms->hook_runs = 1;
	ret = fix_write(&f, JFS_EL_USER, 0, "{\"data\": {}}", "alice/user.json");
	CHECK_RET(ret, 0, f.err);
	CHECK(f.ms->updates == 1);
	CHECK(json_is_integer(json_object_get(jfs_memstore_get(f.ms, "alice"), "custom")));
	fix_release(&f);

	/* ... but a change to the element does */
	fix_init(&f, "{\"updatedAt\": false}");
	mem_put(f.ms, "alice", ALICE);
	f.ms->hook = hook_change;
	f.ms->hook_arg = "user";
	f.ms->hook_runs = 1;
	ret = fix_write(&f, JFS_EL_USER, 0, "{\"data\": {}}", "alice/user.json");
	CHECK_RET(ret, -ESTALE, f.err);
	CHECK_JSON(json_object_get(jfs_memstore_get(f.ms, "alice"), "user"),
		   "{\"data\": {\"by\": \"app\"}}");
	fix_release(&f);

	/* history: another item changed -> retried, that change kept */
	fix_init(&f, "{\"history\": {\"size\": 4}}");
	mem_put(f.ms, "alice", ALICE);
	f.ms->hook = hook_change;
	f.ms->hook_arg = "history0";
	f.ms->hook_runs = 1;
	ret = fix_write(&f, JFS_EL_HISTORY, 2, "{\"output\": [\"mine\"]}", "alice/history/2.json");
	CHECK_RET(ret, 0, f.err);
	CHECK(f.ms->updates == 2);
	CHECK_JSON(json_object_get(json_object_get(jfs_memstore_get(f.ms, "alice"), "history"),
				   "items"),
		   "[{\"output\": [\"app\"]}, {\"output\": [\"o1\"], \"nlu\": {\"intent\": \"B\"}, \"request\": {\"r\": 1}},"
		   " {\"output\": [\"mine\"]}, {\"output\": [\"o3\"]}]");
	fix_release(&f);

	/* history: the same item changed (here: moved by a new item in front) -> ESTALE */
	fix_init(&f, "{\"history\": {\"size\": 4}}");
	mem_put(f.ms, "alice", ALICE);
	f.ms->hook = hook_change;
	f.ms->hook_arg = "history-unshift";
	f.ms->hook_runs = 1;
	ret = fix_write(&f, JFS_EL_HISTORY, 2, "{\"output\": [\"mine\"]}", "alice/history/2.json");
	CHECK_RET(ret, -ESTALE, f.err);
	CHECK(json_array_size(json_object_get(json_object_get(jfs_memstore_get(f.ms, "alice"),
							      "history"),
					      "items")) == 5);
	fix_release(&f);

	/* removal of an element removed meanwhile by someone else: done */
	fix_init(&f, "{\"session\": true}");
	mem_put(f.ms, "alice", "{\"id\": \"alice\", \"session\": {\"data\": {}},"
			       " \"updatedAt\": \"2026-11-20T10:02:11.482Z\"}");
	seen = json_deep_copy(jfs_memstore_get(f.ms, "alice"));
	json_object_del(jfs_memstore_get(f.ms, "alice"), "session");
	json_object_set_new(jfs_memstore_get(f.ms, "alice"), "updatedAt",
			    json_string("2026-11-20T10:02:12.000Z"));
	ret = jfs_policy_remove_element(&f.p, "alice", seen, JFS_EL_SESSION, 0,
					"alice/session.json", &f.res, &f.err);
	CHECK_RET(ret, 0, f.err);
	CHECK(json_object_get(jfs_memstore_get(f.ms, "alice"), "session") == NULL);
	json_decref(seen);
	fix_release(&f);
}

/* ---- create, remove, load ---- */

static void test_create_remove(void)
{
	struct fix f;
	json_t *item = NULL, *got;
	int64_t t0, c;
	int ret;

	fix_init(&f, NULL);
	t0 = jfs_now_ms();
	ret = jfs_policy_create(&f.p, "bob/1", &f.res, &f.err);
	CHECK_RET(ret, 0, f.err);
	got = jfs_memstore_get(f.ms, "bob/1");
	CHECK(got && json_object_size(got) == 4);
	CHECK_STR(str_of(got, "id"), "bob/1");
	CHECK_JSON(json_object_get(got, "user"), "{\"data\": {}}");
	c = jfs_item_created_ms(got);
	CHECK(c >= t0 && c == jfs_item_updated_ms(got));
	CHECK(jfs_json_equal(f.res.item, got));
	jfs_write_result_release(&f.res);

	ret = jfs_policy_create(&f.p, "bob/1", &f.res, &f.err);
	CHECK_RET(ret, -EEXIST, f.err);
	CHECK(f.res.item == NULL);

	ret = jfs_policy_load(&f.p, "bob/1", &item, &f.err);
	CHECK_RET(ret, 0, f.err);
	CHECK(item && jfs_json_equal(item, got));
	json_decref(item);
	ret = jfs_policy_load(&f.p, "nobody", &item, &f.err);
	CHECK_RET(ret, -ENOENT, f.err);

	ret = jfs_policy_remove(&f.p, "bob/1", &f.err);
	CHECK_RET(ret, 0, f.err);
	CHECK(jfs_memstore_get(f.ms, "bob/1") == NULL);
	ret = jfs_policy_remove(&f.p, "bob/1", &f.err);
	CHECK_RET(ret, -ENOENT, f.err);
	fix_release(&f);

	fix_init(&f, "{\"user\": false, \"createdAt\": false, \"updatedAt\": false}");
	ret = jfs_policy_create(&f.p, "carol", &f.res, &f.err);
	CHECK_RET(ret, 0, f.err);
	CHECK_JSON(jfs_memstore_get(f.ms, "carol"), "{\"id\": \"carol\"}");
	fix_release(&f);
}

int main(void)
{
	jfs_log_set_level(LOG_ERR);
	jfs_log_set_hook(log_hook, NULL);

	test_config();
	test_expiry();
	test_views();
	test_render();
	test_validation();
	test_noop();
	test_write_user();
	test_write_session();
	test_write_history();
	test_write_times();
	test_conflicts();
	test_create_remove();

	return check_report();
}
