/*
 * Unit tests of find views' filters: the parser of policy/filter.c (names,
 * percent-encoding, literals, malformed filters, the storedElements rules),
 * JavaScript's comparisons of backends/backend.c against what node says
 * (filter/compare.json, written by filter/gen_compare.js), the projection
 * a store copies into a candidate, and jfs_policy_find() on memstore.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "common/isotime.h"
#include "common/json.h"
#include "policy/policy.h"

#include "check.h"
#include "memstore.h"
#include "testjson.h"

static const char *const op_names[] = {
	[JFS_FOP_EQ] = "=", [JFS_FOP_NE] = "!=", [JFS_FOP_LT] = "<", [JFS_FOP_LE] = "<=",
	[JFS_FOP_GT] = ">", [JFS_FOP_GE] = ">=", [JFS_FOP_CONTAINS] = "~", [JFS_FOP_EXISTS] = "?",
};

/* A filter as text: "[path|seg] OP literal & ..." with the literals as JSON. */
static char *describe(const struct jfs_filter *f)
{
	char buf[2048] = "";
	size_t i, j, n = 0;

	for (i = 0; i < f->n; i++) {
		const struct jfs_filter_cond *c = &f->cond[i];
		char *v = c->value ? jfs_test_stringify(c->value) : NULL;

		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s[", i ? " & " : "");
		for (j = 0; j < c->path.n; j++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", j ? "|" : "",
					      c->path.seg[j]);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "] %s%s%s", op_names[c->op],
				      v ? " " : "", v ? v : "");
		free(v);
	}
	return strdup(buf);
}

static struct jfs_policy_config cfg_default, cfg_all;

static void parse_ok(const struct jfs_policy_config *cfg, const char *name, const char *want)
{
	struct jfs_filter *f = NULL;
	struct jfs_err err = { 0 };
	int ret = jfs_policy_filter_parse(cfg, name, &f, &err);
	char *got;

	CHECK(ret == 0, "'%s': %d %s", name, ret, err.msg);
	if (ret)
		return;
	got = describe(f);
	CHECK(!strcmp(got, want), "'%s': got '%s', want '%s'", name, got, want);
	free(got);
	jfs_policy_filter_free(f);
}

static void parse_bad(const struct jfs_policy_config *cfg, const char *name, int want,
		      const char *why)
{
	struct jfs_filter *f = NULL;
	struct jfs_err err = { 0 };
	int ret = jfs_policy_filter_parse(cfg, name, &f, &err);

	CHECK(ret == -want && !f, "'%s': got %d, want %d", name, ret, -want);
	CHECK(strstr(err.msg, why), "'%s': message '%s' lacks '%s'", name, err.msg, why);
	jfs_policy_filter_free(f);
}

static void test_parse(void)
{
	/* the examples */
	parse_ok(&cfg_default, "user.data.profile.city=Paris",
		 "[user|data|profile|city] = \"Paris\"");
	parse_ok(&cfg_default, "user.data.premium=true", "[user|data|premium] = true");
	parse_ok(&cfg_default, "user.data.score>=500", "[user|data|score] >= 500");
	parse_ok(&cfg_default, "updatedAt>2026-12-01", "[updatedAt] > \"2026-12-01\"");
	parse_ok(&cfg_default, "user.data.premium=true&user.data.profile.city=Paris",
		 "[user|data|premium] = true & [user|data|profile|city] = \"Paris\"");
	/* every operator */
	parse_ok(&cfg_default, "a!=1", "[a] != 1");
	parse_ok(&cfg_default, "a<1", "[a] < 1");
	parse_ok(&cfg_default, "a<=1", "[a] <= 1");
	parse_ok(&cfg_default, "a>1", "[a] > 1");
	parse_ok(&cfg_default, "a~b", "[a] ~ \"b\"");
	parse_ok(&cfg_default, "user.data.email?", "[user|data|email] ?");
	/* literals: JSON when it parses, else the text */
	parse_ok(&cfg_default, "a=\"500\"", "[a] = \"500\"");
	parse_ok(&cfg_default, "a=-1.5e3", "[a] = -1500");
	parse_ok(&cfg_default, "a=null", "[a] = null");
	parse_ok(&cfg_default, "a=false", "[a] = false");
	parse_ok(&cfg_default, "a=", "[a] = \"\"");
	parse_ok(&cfg_default, "a= 5", "[a] = \" 5\"");
	parse_ok(&cfg_default, "a=05", "[a] = \"05\"");
	parse_ok(&cfg_default, "a=True", "[a] = \"True\"");
	parse_ok(&cfg_default, "a=[1", "[a] = \"[1\"");
	parse_ok(&cfg_default, "a=\"x", "[a] = \"\\\"x\"");
	parse_ok(&cfg_default, "a=\"a\\u00e9\"", "[a] = \"a\xc3\xa9\"");
	parse_ok(&cfg_default, "a=x=y", "[a] = \"x=y\"");
	parse_ok(&cfg_default, "a<=<", "[a] <= \"<\"");
	/* '~' compares with String(literal) */
	parse_ok(&cfg_default, "a~60", "[a] ~ \"60\"");
	parse_ok(&cfg_default, "a~true", "[a] ~ \"true\"");
	parse_ok(&cfg_default, "a~1e3", "[a] ~ \"1000\"");
	/* percent-encoding: after the cuts at '&', operators and '.' */
	parse_ok(&cfg_default, "a=x%2Fy", "[a] = \"x/y\"");
	parse_ok(&cfg_default, "a=%26&b?", "[a] = \"&\" & [b] ?");
	parse_ok(&cfg_default, "a.b%2Ec=1", "[a|b.c] = 1");
	parse_ok(&cfg_default, "a%3Db=1", "[a=b] = 1");
	parse_ok(&cfg_default, "a=%25", "[a] = \"%\"");
	parse_ok(&cfg_default, "a=%c3%a9", "[a] = \"\xc3\xa9\"");
	parse_ok(&cfg_default, "a=%00", "[a] = \"\\u0000\"");
	/* arrays by index, ids, keys jovofs does not know */
	parse_ok(&cfg_all, "history.items.0.nlu.intent=A", "[history|items|0|nlu|intent] = \"A\"");
	parse_ok(&cfg_default, "id~amzn", "[id] ~ \"amzn\"");
	parse_ok(&cfg_default, "custom.plugin=x", "[custom|plugin] = \"x\"");

	/* malformed: EINVAL with the reason */
	parse_bad(&cfg_default, "", EINVAL, "no condition");
	parse_bad(&cfg_default, "user", EINVAL, "no operator");
	parse_bad(&cfg_default, "=5", EINVAL, "no path");
	parse_bad(&cfg_default, "a==5", EINVAL, "'==' is not an operator");
	parse_bad(&cfg_default, "a!5", EINVAL, "use '!='");
	parse_bad(&cfg_default, "a?x", EINVAL, "takes no value");
	parse_bad(&cfg_default, "a?&&b?", EINVAL, "empty condition");
	parse_bad(&cfg_default, "a?&", EINVAL, "empty condition");
	parse_bad(&cfg_default, "&a?", EINVAL, "empty condition");
	parse_bad(&cfg_default, "a..b=1", EINVAL, "empty segment");
	parse_bad(&cfg_default, ".a=1", EINVAL, "empty segment");
	parse_bad(&cfg_default, "a.=1", EINVAL, "empty segment");
	parse_bad(&cfg_default, "a=%zz", EINVAL, "two hex digits");
	parse_bad(&cfg_default, "a=%2", EINVAL, "two hex digits");
	parse_bad(&cfg_default, "a%2=1", EINVAL, "two hex digits");
	parse_bad(&cfg_default, "a%00b=1", EINVAL, "%00");
	parse_bad(&cfg_default, "a={\"x\":1}", EINVAL, "objects and arrays");
	parse_bad(&cfg_default, "a=[1]", EINVAL, "objects and arrays");
	parse_bad(&cfg_default, "a=%ff", EINVAL, "not UTF-8");
	parse_bad(&cfg_default, "x?&a=1&b!2", EINVAL, "condition 'b!2'");

	/* storedElements: a disabled element cannot be queried (ENOENT) */
	parse_bad(&cfg_default, "session.data.step=2", ENOENT, "'session' is disabled");
	parse_bad(&cfg_default, "user.data.x?&history.items.0?", ENOENT, "'history' is disabled");
	parse_ok(&cfg_all, "session.data.step=2", "[session|data|step] = 2");
}

/* The session's updatedAt is asked for whenever a condition is on the session. */
static void test_need(void)
{
	struct jfs_filter *f = NULL;
	struct jfs_err err;

	CHECK(jfs_policy_filter_parse(&cfg_all, "user.data.x=1", &f, &err) == 0 && f->nneed == 0);
	jfs_policy_filter_free(f);
	CHECK(jfs_policy_filter_parse(&cfg_all, "user.data.x=1&session.id?", &f, &err) == 0);
	CHECK(f && f->nneed == 1 && f->need[0].n == 2 && !strcmp(f->need[0].seg[0], "session") &&
	      !strcmp(f->need[0].seg[1], "updatedAt"), "need session.updatedAt");
	jfs_policy_filter_free(f);
}

/* Every case of compare.json: what jfs_filter_cond_holds() says is what node said. */
static void test_compare(void)
{
	const char *dir = getenv("JFS_FILTER_FIXTURES");
	char path[4096];
	json_t *cases, *c;
	size_t i, k, nops = sizeof(op_names) / sizeof(op_names[0]);
	FILE *fp;
	char *text;
	long len;
	unsigned ran = 0;

	snprintf(path, sizeof(path), "%s/compare.json", dir ? dir : "tests/unit/filter");
	fp = fopen(path, "rb");
	CHECK(fp, "cannot open %s", path);
	if (!fp)
		return;
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	text = malloc((size_t)len + 1);
	CHECK(text && fread(text, 1, (size_t)len, fp) == (size_t)len);
	fclose(fp);
	text[len] = '\0';
	cases = jfs_test_json(text);
	free(text);
	json_array_foreach(cases, i, c) {
		json_t *raw = json_array_get(c, 0), *lit = json_array_get(c, 2), *item;
		const char *op = json_string_value(json_array_get(c, 1));
		bool want = json_is_true(json_array_get(c, 3)), got;
		char v[] = "v", *seg[] = { v };
		struct jfs_filter_cond cond = { .path = { seg, 1 } };
		char *vs, *ls;

		for (k = 0; k < nops; k++)
			if (!strcmp(op_names[k], op))
				cond.op = (enum jfs_filter_op)k;
		item = json_object();
		if (!(json_is_string(raw) && !strcmp(json_string_value(raw), "$undefined")))
			json_object_set(item, "v", raw);
		if (cond.op == JFS_FOP_EXISTS) {
			cond.value = NULL;
		} else if (cond.op == JFS_FOP_CONTAINS) {
			/* the parser's String(literal) */
			char num[32];

			if (json_is_string(lit)) {
				cond.value = json_incref(lit);
			} else if (json_is_number(lit)) {
				jfs_json_format_number(jfs_json_number_value(lit), num);
				cond.value = json_string(num);
			} else {
				cond.value = json_string(json_is_true(lit) ? "true" :
							 json_is_false(lit) ? "false" : "null");
			}
		} else {
			cond.value = json_incref(lit);
		}
		got = jfs_filter_cond_holds(&cond, json_object_get(item, "v"));
		vs = jfs_test_stringify(raw);
		ls = jfs_test_stringify(lit);
		CHECK(got == want, "%s %s %s: got %s, node says %s", vs, op, ls,
		      got ? "true" : "false", want ? "true" : "false");
		free(vs);
		free(ls);
		json_decref(cond.value);
		json_decref(item);
		ran++;
	}
	CHECK(ran > 4000, "%u cases", ran);
	json_decref(cases);
}

/* Paths into arrays, objects and things that are neither. */
static void test_paths(void)
{
	json_t *item = jfs_test_json("{\"id\":\"u1\",\"user\":{\"data\":{\"s\":\"str\",\"n\":1,"
				     "\"o\":{\"0\":\"zero\"},\"a\":[\"x\",{\"k\":[5]}]}}}");
	static const struct {
		const char *name;
		bool want;
	} cases[] = {
		{ "user.data.a.0=x", true },
		{ "user.data.a.1.k.0=5", true },
		{ "user.data.a.2?", false },
		{ "user.data.a.01?", false },
		{ "user.data.a.-1?", false },
		{ "user.data.a.k?", false },
		{ "user.data.o.0=zero", true },
		{ "user.data.s.0?", false },
		{ "user.data.s.length?", false },
		{ "user.data.n.x?", false },
		{ "user.data.missing.x!=1", true },
		{ "id=u1", true },
		{ "user.data.a~x", false },
		{ "user.data.a=x", false },
		{ "user.data.a>=x", true },   /* "x,[object Object]" >= "x" */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jfs_filter *f = NULL;
		struct jfs_err err;

		CHECK(jfs_policy_filter_parse(&cfg_default, cases[i].name, &f, &err) == 0, "%s: %s",
		      cases[i].name, err.msg);
		if (!f)
			continue;
		CHECK(jfs_filter_match(f, item) == cases[i].want, "%s: want %d", cases[i].name,
		      cases[i].want);
		jfs_policy_filter_free(f);
	}
	json_decref(item);
}

/* An expired session matches no session.* condition, not even '!=' or '?'. */
static void test_expiry(void)
{
	int64_t now = jfs_now_ms();
	char upd[32], text[512];
	struct jfs_filter *f = NULL;
	struct jfs_err err;
	json_t *item;

	jfs_iso_format(now - 3600 * 1000, upd);
	snprintf(text, sizeof(text), "{\"id\":\"a\",\"user\":{\"data\":{\"x\":1}},"
		 "\"session\":{\"data\":{\"step\":2},\"updatedAt\":\"%s\"}}", upd);
	item = jfs_test_json(text);
	CHECK(jfs_policy_filter_parse(&cfg_all, "session.data.step=2", &f, &err) == 0);
	CHECK(!jfs_policy_filter_match(&cfg_all, f, item, now), "expired: no match");
	CHECK(jfs_policy_filter_match(&cfg_all, f, item, now - 3600 * 1000 + 60000),
	      "fresh a minute after its update: a match");
	jfs_policy_filter_free(f);
	CHECK(jfs_policy_filter_parse(&cfg_all, "session.data.step!=3", &f, &err) == 0);
	CHECK(!jfs_policy_filter_match(&cfg_all, f, item, now), "'!=' on an expired session");
	jfs_policy_filter_free(f);
	CHECK(jfs_policy_filter_parse(&cfg_all, "session?", &f, &err) == 0);
	CHECK(!jfs_policy_filter_match(&cfg_all, f, item, now), "'?' on an expired session");
	jfs_policy_filter_free(f);
	CHECK(jfs_policy_filter_parse(&cfg_all, "user.data.x=1", &f, &err) == 0);
	CHECK(jfs_policy_filter_match(&cfg_all, f, item, now), "other elements still match");
	jfs_policy_filter_free(f);
	json_decref(item);
	/* a session without a valid updatedAt never expires */
	item = jfs_test_json("{\"id\":\"b\",\"session\":{\"data\":{\"step\":2},"
			     "\"updatedAt\":\"yesterday\"}}");
	CHECK(jfs_policy_filter_parse(&cfg_all, "session.data.step=2", &f, &err) == 0);
	CHECK(jfs_policy_filter_match(&cfg_all, f, item, now), "no valid updatedAt: never expires");
	jfs_policy_filter_free(f);
	json_decref(item);
}

/* What a store copies of a candidate: each path once, cut before an array index. */
static void test_projection(void)
{
	struct jfs_filter *f = NULL;
	struct jfs_path *proj;
	struct jfs_err err;
	json_t *item, *part;
	char *s;
	size_t n;

	CHECK(jfs_policy_filter_parse(&cfg_all, "user.data.x>1&user.data?&history.items.0.nlu?&"
				      "session.id=s&user.data.x<9&custom.a.b=1", &f, &err) == 0,
	      "%s", err.msg);
	if (!f)
		return;
	n = jfs_filter_projection(f, &proj);
	CHECK(n == 5, "%zu paths", n);
	CHECK(n >= 5 && proj[0].n == 2 && !strcmp(proj[0].seg[1], "data") && proj[1].n == 2 &&
	      !strcmp(proj[1].seg[1], "items") && proj[2].n == 2 && !strcmp(proj[2].seg[1], "id") &&
	      proj[3].n == 3 && proj[4].n == 2 && !strcmp(proj[4].seg[1], "updatedAt"),
	      "user.data, history.items, session.id, custom.a.b, session.updatedAt");
	free(proj);
	item = jfs_test_json("{\"id\":\"a\",\"user\":{\"data\":{\"x\":5},\"other\":1},"
			     "\"history\":{\"items\":[{\"nlu\":1}],\"more\":2},"
			     "\"session\":{\"id\":\"s\",\"updatedAt\":\"t\",\"data\":{}},"
			     "\"custom\":{\"a\":7}}");
	part = jfs_filter_project(f, item);
	s = jfs_test_stringify(part);
	CHECK_STR(s, "{\"user\":{\"data\":{\"x\":5}},\"history\":{\"items\":[{\"nlu\":1}]},"
		     "\"session\":{\"id\":\"s\",\"updatedAt\":\"t\"}}");
	CHECK(jfs_filter_match(f, part) == jfs_filter_match(f, item), "the same answer");
	free(s);
	json_decref(part);
	json_decref(item);
	jfs_policy_filter_free(f);
}

static int collect(void *data, const struct jfs_found *found, size_t n)
{
	json_t *ids = data;
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(ids, json_string(found[i].id));
	return 0;
}

static int stop_at_once(void *data, const struct jfs_found *found, size_t n)
{
	return 1;
}

/* jfs_policy_find() on memstore: matches, expiry decided on what the store sent, a stop. */
static void test_find(void)
{
	struct jfs_memstore *ms = jfs_memstore_new();
	struct jfs_policy p = { .cfg = cfg_all, .store = &ms->base };
	struct jfs_filter *f = NULL;
	struct jfs_err err;
	char text[512], upd[32];
	json_t *ids;
	char *s;
	int i;

	for (i = 0; i < 250; i++) {
		char id[16];

		snprintf(id, sizeof(id), "u%03d", i);
		jfs_iso_format(jfs_now_ms() - (i % 2 ? 3600 * 1000 : 1000), upd);
		snprintf(text, sizeof(text), "{\"id\":\"%s\",\"user\":{\"data\":{\"score\":%d}},"
			 "\"session\":{\"data\":{\"n\":%d},\"updatedAt\":\"%s\"},"
			 "\"createdAt\":\"2026-01-01T00:00:00.000Z\"}", id, i, i % 10, upd);
		jfs_memstore_put_new(ms, id, jfs_test_json(text));
	}
	ids = json_array();
	CHECK(jfs_policy_find(&p, NULL, collect, ids, &err) == 0 && json_array_size(ids) == 250,
	      "a listing: %zu", json_array_size(ids));
	json_decref(ids);
	CHECK(jfs_policy_filter_parse(&cfg_all, "user.data.score>=245", &f, &err) == 0);
	ids = json_array();
	CHECK(jfs_policy_find(&p, f, collect, ids, &err) == 0);
	s = jfs_test_stringify(ids);
	CHECK_STR(s, "[\"u245\",\"u246\",\"u247\",\"u248\",\"u249\"]");
	free(s);
	json_decref(ids);
	jfs_policy_filter_free(f);
	/* odd users' sessions expired an hour ago */
	CHECK(jfs_policy_filter_parse(&cfg_all, "session.data.n=3&user.data.score<40", &f,
				      &err) == 0);
	ids = json_array();
	CHECK(jfs_policy_find(&p, f, collect, ids, &err) == 0);
	s = jfs_test_stringify(ids);
	CHECK_STR(s, "[]");
	free(s);
	json_decref(ids);
	jfs_policy_filter_free(f);
	CHECK(jfs_policy_filter_parse(&cfg_all, "session.data.n=4&user.data.score<40", &f,
				      &err) == 0);
	ids = json_array();
	CHECK(jfs_policy_find(&p, f, collect, ids, &err) == 0);
	s = jfs_test_stringify(ids);
	CHECK_STR(s, "[\"u004\",\"u014\",\"u024\",\"u034\"]");
	free(s);
	json_decref(ids);
	CHECK(jfs_policy_find(&p, f, stop_at_once, NULL, &err) == -ECANCELED, "a stop");
	jfs_policy_filter_free(f);
	jfs_backend_memstore.close(&ms->base);
}

/* listTimes: true, false, "auto"; auto's limit; what describe() says */
static void test_list_times(void)
{
	enum jfs_list_times lt;
	struct jfs_err err;
	json_t *v, *d;

	CHECK(jfs_list_times_parse(NULL, "dynamodb", &lt, &err) == 0 && lt == JFS_LIST_TIMES_AUTO);
	v = json_string("auto");
	CHECK(jfs_list_times_parse(v, "dynamodb", &lt, &err) == 0 && lt == JFS_LIST_TIMES_AUTO);
	json_decref(v);
	CHECK(jfs_list_times_parse(json_true(), "dynamodb", &lt, &err) == 0 &&
	      lt == JFS_LIST_TIMES_ON);
	CHECK(jfs_list_times_parse(json_false(), "dynamodb", &lt, &err) == 0 &&
	      lt == JFS_LIST_TIMES_OFF);
	v = json_string("sometimes");
	CHECK(jfs_list_times_parse(v, "mongodb", &lt, &err) == -EINVAL);
	CHECK_STR(err.msg, "'mongodb.listTimes' must be true, false or \"auto\"");
	json_decref(v);
	v = json_integer(1);
	CHECK(jfs_list_times_parse(v, "dynamodb", &lt, &err) == -EINVAL);
	json_decref(v);

	/* auto: the times up to the limit and while the size is not known */
	CHECK(jfs_list_times_want(JFS_LIST_TIMES_AUTO, -1));
	CHECK(jfs_list_times_want(JFS_LIST_TIMES_AUTO, 0));
	CHECK(jfs_list_times_want(JFS_LIST_TIMES_AUTO, JFS_LIST_TIMES_AUTO_MAX));
	CHECK(!jfs_list_times_want(JFS_LIST_TIMES_AUTO, JFS_LIST_TIMES_AUTO_MAX + 1));
	CHECK(!jfs_list_times_want(JFS_LIST_TIMES_AUTO, 1000000));
	CHECK(jfs_list_times_want(JFS_LIST_TIMES_ON, 1000000));
	CHECK(!jfs_list_times_want(JFS_LIST_TIMES_OFF, 2));

	d = jfs_list_times_json(JFS_LIST_TIMES_AUTO, 1000000);
	CHECK_STR(json_string_value(d), "auto (the key alone: about 1000000 users, the limit 100000)");
	json_decref(d);
	d = jfs_list_times_json(JFS_LIST_TIMES_AUTO, 2);
	CHECK_STR(json_string_value(d), "auto (the times: about 2 users, the limit 100000)");
	json_decref(d);
	d = jfs_list_times_json(JFS_LIST_TIMES_OFF, 2);
	CHECK(json_is_false(d));
	json_decref(d);
}

int main(void)
{
	struct jfs_err err;
	json_t *all = jfs_test_json("{\"user\":true,\"session\":true,\"history\":true,"
				    "\"createdAt\":true,\"updatedAt\":true}");

	CHECK(jfs_policy_config_parse(NULL, &cfg_default, &err) == 0);
	CHECK(jfs_policy_config_parse(all, &cfg_all, &err) == 0);
	json_decref(all);
	test_parse();
	test_need();
	test_compare();
	test_paths();
	test_expiry();
	test_projection();
	test_find();
	test_list_times();
	jfs_policy_config_release(&cfg_default);
	jfs_policy_config_release(&cfg_all);
	return check_report();
}
