/*
 * Unit tests of the DynamoDb backend: marshalling, credentials, config.
 *
 *   test_dynamodb                      the offline tests
 *   test_dynamodb live ENDPOINT        also the backend ops against a running
 *                                      dynalite/DynamoDB (a fresh table)
 *   test_dynamodb sigv4 URL OP BODY DATE
 *                                      send one signed request (for
 *                                      dynamodb_sigv4.sh), print the status
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/aws_cred.h"
#include "backends/backend.h"
#include "backends/dynamodb.h"
#include "backends/dynamodb_marshal.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strbuf.h"

#include "check.h"

extern const struct jfs_backend_ops jfs_backend_dynamodb;

/* New reference: jansson's own parse (typed JSON holds no bare numbers that matter). */
static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

	if (!v) {
		fprintf(stderr, "bad test json '%s': %s\n", text, e.text);
		abort();
	}
	return v;
}

/* New reference: plain JSON the way jovofs parses it (numbers as doubles). */
static json_t *P(const char *text)
{
	struct jfs_err err;
	json_t *v;

	if (jfs_json_parse(text, strlen(text), &v, &err)) {
		fprintf(stderr, "bad test json '%s': %s\n", text, err.msg);
		abort();
	}
	return v;
}

static char *dump(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static char *js(const json_t *v)
{
	struct jfs_strbuf sb;

	jfs_strbuf_init(&sb);
	jfs_json_dump(v, &sb, 0, 0);
	return jfs_strbuf_detach(&sb, NULL);
}

/* marshal(plain text, ref typed text or NULL) == expected typed text */
static void check_marshal(const char *plain, const char *ref, const char *want, int line)
{
	json_t *p = P(plain), *r = ref ? J(ref) : NULL, *w = J(want), *m;
	char *got;

	m = jfs_ddb_marshal(p, r);
	if (m && json_equal(m, w)) {
		passed++;
	} else {
		got = m ? dump(m) : NULL;
		failed++;
		fprintf(stderr, "%s:%d: marshal %s: got %s, want %s\n", __FILE__, line, plain,
			got ? got : "NULL", want);
		free(got);
	}
	json_decref(m);
	json_decref(p);
	json_decref(r);
	json_decref(w);
}

/* unmarshal(typed) rendered the JavaScript way == expected plain text */
static void check_unmarshal(const char *typed, const char *want, int line)
{
	json_t *t = J(typed), *u;
	struct jfs_err err;
	char *got;

	u = jfs_ddb_unmarshal(t, &err);
	got = u ? js(u) : NULL;
	if (got && !strcmp(got, want)) {
		passed++;
	} else {
		failed++;
		fprintf(stderr, "%s:%d: unmarshal %s: got %s, want %s\n", __FILE__, line, typed,
			got ? got : err.msg, want);
	}
	free(got);
	json_decref(u);
	json_decref(t);
}

/* plain -> typed -> plain is the identity (as JavaScript prints it) */
static void check_roundtrip(const char *plain, int line)
{
	json_t *p = P(plain), *m, *u = NULL;
	struct jfs_err err;
	char *a = js(p), *b = NULL;

	m = jfs_ddb_marshal(p, NULL);
	if (m)
		u = jfs_ddb_unmarshal(m, &err);
	if (u)
		b = js(u);
	if (b && !strcmp(a, b)) {
		passed++;
	} else {
		failed++;
		fprintf(stderr, "%s:%d: round trip %s: got %s\n", __FILE__, line, a, b ? b : "NULL");
	}
	free(a);
	free(b);
	json_decref(p);
	json_decref(m);
	json_decref(u);
}

/* unmarshal(typed), edit nothing, marshal against typed: the very same typed value */
static void check_unchanged(const char *typed, int line)
{
	json_t *t = J(typed), *u, *m;
	struct jfs_err err;

	u = jfs_ddb_unmarshal(t, &err);
	m = u ? jfs_ddb_marshal(u, t) : NULL;
	if (m && json_equal(m, t)) {
		passed++;
	} else {
		char *got = m ? dump(m) : NULL;

		failed++;
		fprintf(stderr, "%s:%d: unchanged %s came back as %s\n", __FILE__, line, typed,
			got ? got : "NULL");
		free(got);
	}
	json_decref(t);
	json_decref(u);
	json_decref(m);
}

static void test_marshal(void)
{
	/* scalars as util-dynamodb's marshall writes them */
	check_marshal("null", NULL, "{\"NULL\":true}", __LINE__);
	check_marshal("true", NULL, "{\"BOOL\":true}", __LINE__);
	check_marshal("false", NULL, "{\"BOOL\":false}", __LINE__);
	check_marshal("\"\"", NULL, "{\"S\":\"\"}", __LINE__);
	check_marshal("\"h\\u00e9\\u0000x\"", NULL, "{\"S\":\"h\\u00e9\\u0000x\"}", __LINE__);
	check_marshal("{}", NULL, "{\"M\":{}}", __LINE__);
	check_marshal("[]", NULL, "{\"L\":[]}", __LINE__);
	check_marshal("{\"a\":[1,\"x\",{\"b\":[null,true]}],\"c\":{}}", NULL,
		      "{\"M\":{\"a\":{\"L\":[{\"N\":\"1\"},{\"S\":\"x\"},{\"M\":{\"b\":{\"L\":"
		      "[{\"NULL\":true},{\"BOOL\":true}]}}}]},\"c\":{\"M\":{}}}}", __LINE__);

	/* numbers in JavaScript's form */
	check_marshal("0.1", NULL, "{\"N\":\"0.1\"}", __LINE__);
	check_marshal("100", NULL, "{\"N\":\"100\"}", __LINE__);
	check_marshal("-0", NULL, "{\"N\":\"0\"}", __LINE__);
	check_marshal("1e-30", NULL, "{\"N\":\"1e-30\"}", __LINE__);
	check_marshal("1e21", NULL, "{\"N\":\"1e+21\"}", __LINE__);
	check_marshal("12345678901234567890", NULL, "{\"N\":\"12345678901234567000\"}", __LINE__);
	/* 2^53 + 1 is no double: JavaScript (and so Jovo) stores 2^53 */
	check_marshal("9007199254740993", NULL, "{\"N\":\"9007199254740992\"}", __LINE__);
	check_marshal("-1.5e-7", NULL, "{\"N\":\"-1.5e-7\"}", __LINE__);

	/* reading */
	check_unmarshal("{\"N\":\"9007199254740993\"}", "9007199254740992", __LINE__);
	check_unmarshal("{\"N\":\"12345678901234567890123456789012345678\"}",
			"1.2345678901234568e+37", __LINE__);
	check_unmarshal("{\"N\":\"1E-30\"}", "1e-30", __LINE__);
	check_unmarshal("{\"N\":\"-0\"}", "0", __LINE__);
	check_unmarshal("{\"N\":\"1.50\"}", "1.5", __LINE__);
	check_unmarshal("{\"S\":\"\"}", "\"\"", __LINE__);
	check_unmarshal("{\"M\":{}}", "{}", __LINE__);
	check_unmarshal("{\"NULL\":true}", "null", __LINE__);
	check_unmarshal("{\"BOOL\":false}", "false", __LINE__);
	check_unmarshal("{\"SS\":[\"a\",\"b\"]}", "[\"a\",\"b\"]", __LINE__);
	check_unmarshal("{\"NS\":[\"1\",\"2.50\"]}", "[1,2.5]", __LINE__);
	check_unmarshal("{\"BS\":[\"AAE=\"]}", "[\"AAE=\"]", __LINE__);
	check_unmarshal("{\"B\":\"AAE=\"}", "\"AAE=\"", __LINE__);
	check_unmarshal("{\"M\":{\"z\":{\"L\":[{\"M\":{\"y\":{\"N\":\"3\"}}},{\"L\":[]}]},"
			"\"a\":{\"S\":\"x\"}}}", "{\"z\":[{\"y\":3},[]],\"a\":\"x\"}", __LINE__);

	/* bad answers are errors, not crashes */
	{
		const char *bad[] = {
			"{\"N\":\"abc\"}", "{\"N\":\"\"}", "{\"X\":1}", "{}",
			"{\"S\":\"a\",\"N\":\"1\"}", "{\"L\":{}}", "{\"SS\":[1]}", "{\"NS\":[\"x\"]}",
			"{\"M\":[]}", "{\"S\":1}", "[]",
			/* no double: JavaScript would read Infinity, jovofs cannot show it */
			"{\"N\":\"1e999\"}", "{\"N\":\"-Infinity\"}", "{\"NS\":[\"1\",\"1e400\"]}",
			"{\"L\":[{\"N\":\"2e308\"}]}",
		};
		struct jfs_err err;
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			json_t *t = J(bad[i]), *u;

			jfs_err_clear(&err);
			u = jfs_ddb_unmarshal(t, &err);
			CHECK(!u && err.code == EIO);
			json_decref(u);
			json_decref(t);
		}
	}

	/* round trips */
	check_roundtrip("{\"s\":\"\",\"m\":{},\"l\":[],\"n\":null,\"b\":true}", __LINE__);
	check_roundtrip("{\"deep\":[[{\"a\":[0.1,-2,1e-30,5e-324,1.7976931348623157e308]}]]}",
			__LINE__);

	/* unchanged values keep their stored form, whatever it is */
	check_unchanged("{\"N\":\"12345678901234567890123456789012345678\"}", __LINE__);
	check_unchanged("{\"N\":\"-0\"}", __LINE__);
	check_unchanged("{\"N\":\"1.0\"}", __LINE__);
	check_unchanged("{\"N\":\"1E+2\"}", __LINE__);
	check_unchanged("{\"N\":\"9007199254740993\"}", __LINE__);
	check_unchanged("{\"N\":\"0.000000000000000000000000000001\"}", __LINE__);
	check_unchanged("{\"SS\":[\"b\",\"a\"]}", __LINE__);
	check_unchanged("{\"NS\":[\"1.0\",\"99999999999999999999999999999999999999\"]}", __LINE__);
	check_unchanged("{\"BS\":[\"AAE=\",\"AQI=\"]}", __LINE__);
	check_unchanged("{\"B\":\"AAE=\"}", __LINE__);
	check_unchanged("{\"M\":{\"big\":{\"N\":\"12345678901234567890123456789012345678\"},"
			"\"e\":{\"S\":\"\"},\"m\":{\"M\":{}},\"l\":{\"L\":[{\"NULL\":true}]}}}",
			__LINE__);

	/* an edit next to a 38-digit number leaves the number's digits alone */
	check_marshal("{\"big\":1.2345678901234568e+37,\"x\":2}",
		      "{\"M\":{\"big\":{\"N\":\"12345678901234567890123456789012345678\"},"
		      "\"x\":{\"N\":\"1\"}}}",
		      "{\"M\":{\"big\":{\"N\":\"12345678901234567890123456789012345678\"},"
		      "\"x\":{\"N\":\"2\"}}}", __LINE__);
	/* the number itself edited: JavaScript's form */
	check_marshal("{\"big\":5}",
		      "{\"M\":{\"big\":{\"N\":\"12345678901234567890123456789012345678\"}}}",
		      "{\"M\":{\"big\":{\"N\":\"5\"}}}", __LINE__);
	/* 2^53+1 stored, read as 2^53, written back unchanged: still 2^53+1 */
	check_marshal("{\"n\":9007199254740992,\"s\":\"new\"}",
		      "{\"M\":{\"n\":{\"N\":\"9007199254740993\"},\"s\":{\"S\":\"old\"}}}",
		      "{\"M\":{\"n\":{\"N\":\"9007199254740993\"},\"s\":{\"S\":\"new\"}}}", __LINE__);
	/* -0 stays -0 where unchanged, 0 stays what it was */
	check_marshal("[0,1]", "{\"L\":[{\"N\":\"-0\"},{\"N\":\"2\"}]}",
		      "{\"L\":[{\"N\":\"-0\"},{\"N\":\"1\"}]}", __LINE__);
	/* Jovo's history grows at the front: shifted items keep their digits */
	check_marshal("[{\"n\":7},{\"n\":1}]", "{\"L\":[{\"M\":{\"n\":{\"N\":\"1.000\"}}}]}",
		      "{\"L\":[{\"M\":{\"n\":{\"N\":\"7\"}}},{\"M\":{\"n\":{\"N\":\"1.000\"}}}]}",
		      __LINE__);
	/* ... and trims at the back */
	check_marshal("[{\"n\":1}]",
		      "{\"L\":[{\"M\":{\"n\":{\"N\":\"1.000\"}}},{\"M\":{\"n\":{\"N\":\"2\"}}}]}",
		      "{\"L\":[{\"M\":{\"n\":{\"N\":\"1.000\"}}}]}", __LINE__);
	/* a set edited stays a set while it can be one, old digits kept */
	check_marshal("[1,3]", "{\"NS\":[\"1.0\",\"2\"]}", "{\"NS\":[\"1.0\",\"3\"]}", __LINE__);
	check_marshal("[\"a\",\"c\"]", "{\"SS\":[\"a\",\"b\"]}", "{\"SS\":[\"a\",\"c\"]}",
		      __LINE__);
	/* ... and becomes a list when it cannot */
	check_marshal("[]", "{\"SS\":[\"a\"]}", "{\"L\":[]}", __LINE__);
	check_marshal("[\"a\",\"a\"]", "{\"SS\":[\"a\"]}",
		      "{\"L\":[{\"S\":\"a\"},{\"S\":\"a\"}]}", __LINE__);
	check_marshal("[\"a\",1]", "{\"SS\":[\"a\"]}", "{\"L\":[{\"S\":\"a\"},{\"N\":\"1\"}]}",
		      __LINE__);
	/* a type change at a path ignores the old value */
	check_marshal("\"1\"", "{\"N\":\"1\"}", "{\"S\":\"1\"}", __LINE__);
	check_marshal("{\"a\":1}", "{\"L\":[{\"N\":\"1.0\"}]}", "{\"M\":{\"a\":{\"N\":\"1\"}}}",
		      __LINE__);

	/* the map form (PutItem's Item) */
	{
		json_t *item = P("{\"a\":1,\"b\":{\"c\":\"\"}}"), *ref = J("{\"a\":{\"N\":\"1.0\"}}");
		json_t *m = jfs_ddb_marshal_map(item, ref);
		json_t *want = J("{\"a\":{\"N\":\"1.0\"},\"b\":{\"M\":{\"c\":{\"S\":\"\"}}}}");

		CHECK(m && json_equal(m, want));
		json_decref(m);
		json_decref(want);
		json_decref(item);
		json_decref(ref);
	}

	/* what a write needs the stored form for */
	{
		json_t *t;

		t = J("{\"M\":{\"a\":{\"N\":\"0.1\"},\"b\":{\"L\":[{\"N\":\"1e-30\"}]}}}");
		CHECK(!jfs_ddb_needs_ref(t));
		json_decref(t);
		t = J("{\"M\":{\"a\":{\"L\":[{\"N\":\"1.0\"}]}}}");
		CHECK(jfs_ddb_needs_ref(t));
		json_decref(t);
		t = J("{\"M\":{\"a\":{\"SS\":[\"x\"]}}}");
		CHECK(jfs_ddb_needs_ref(t));
		json_decref(t);
		t = J("{\"N\":\"1E-30\"}");
		CHECK(jfs_ddb_needs_ref(t));
		json_decref(t);
	}

	/* jansson holds no NaN or infinity; a NULL value is refused, not a crash */
	CHECK(jfs_ddb_marshal(NULL, NULL) == NULL);

	/* what a Jovo app could not load back is refused, naming where it is */
	{
		static const struct {
			const char *plain, *ref, *err;
		} cases[] = {
			{ "{\"data\":{\"big\":12345678901234567890}}", NULL, "'user.data.big' is 12345678901234567000" },
			{ "{\"data\":{\"l\":[1,{\"x\":-9007199254740992}]}}", NULL, "'user.data.l[1].x'" },
			{ "{\"data\":{\"f\":1.5e300}}", NULL, "'user.data.f'" },
			/* a number set (stored by another writer) gaining a big member */
			{ "{\"data\":{\"s\":[1,1e20]}}",
			  "{\"M\":{\"data\":{\"M\":{\"s\":{\"NS\":[\"1\"]}}}}}", "'user.data.s'" },
			/* fine: the largest safe integer, a fraction, a changed small number */
			{ "{\"data\":{\"ok\":9007199254740991,\"f\":0.1,\"n\":-9007199254740991}}", NULL, NULL },
			/* fine: a big number stored before, unchanged, next to a change */
			{ "{\"data\":{\"big\":1.2345678901234568e+28,\"n\":2}}",
			  "{\"M\":{\"data\":{\"M\":{\"big\":{\"N\":\"12345678901234567890123456789\"},"
			  "\"n\":{\"N\":\"1\"}}}}}", NULL },
		};
		size_t i;

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			json_t *pl = P(cases[i].plain), *r = cases[i].ref ? J(cases[i].ref) : NULL, *m;
			struct jfs_err err;

			jfs_err_clear(&err);
			m = jfs_ddb_marshal_loadable(pl, r, "user", &err);
			if (cases[i].err)
				CHECK(!m && err.code == EINVAL && strstr(err.msg, cases[i].err) &&
				      strstr(err.msg, "2^53"), "%s: %s", cases[i].plain, err.msg);
			else
				CHECK(m != NULL, "%s refused: %s", cases[i].plain, err.msg);
			/* the big stored digits survive the change next to them */
			if (m && cases[i].ref) {
				char *d = dump(m);

				CHECK(strstr(d, "12345678901234567890123456789") != NULL, "%s", d);
				free(d);
			}
			json_decref(m);
			json_decref(pl);
			json_decref(r);
		}
	}
}

/* ---- credentials ---- */

static char tmpdir[] = "/tmp/jfs-ddb-test.XXXXXX";

static char *tmp_file(const char *name, const char *content)
{
	struct jfs_strbuf sb;
	FILE *f;

	jfs_strbuf_init(&sb);
	jfs_strbuf_addf(&sb, "%s/%s", tmpdir, name);
	f = fopen(sb.buf, "w");
	if (!f)
		abort();
	fputs(content, f);
	fclose(f);
	return jfs_strbuf_detach(&sb, NULL);
}

static void clear_aws_env(void)
{
	static const char *const vars[] = {
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SHARED_CREDENTIALS_FILE",
		"AWS_CONFIG_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_ROLE_SESSION_NAME", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
		"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_SSO",
	};
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	/* the chain ends at the instance metadata: never ask 169.254.169.254 from a test */
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static const char cred_text[] =
	"# comment\n"
	"[default]\n"
	"aws_access_key_id = AKIDDEFAULT\n"
	"aws_secret_access_key = secretdefault/+x=\n"
	"\n"
	"[work]\n"
	"  aws_access_key_id=AKIDWORK  \r\n"
	"aws_secret_access_key =secretwork\n"
	"aws_session_token = tokenwork\n"
	"; other comment\n"
	"[both]\n"
	"aws_access_key_id = AKIDBOTHCRED\n"
	"aws_secret_access_key = secretbothcred\n"
	"[profile literal]\n"
	"aws_access_key_id = AKIDLITERAL\n"
	"aws_secret_access_key = secretliteral\n";

static const char conf_text[] =
	"[default]\n"
	"region = eu-west-1\n"
	"[profile cfgonly]\n"
	"region = ap-south-1\n"
	"s3 =\n"
	"  max_concurrent_requests = 20\n"
	"  region = nested-not-mine\n"
	"aws_access_key_id = AKIDCFGONLY\n"
	"aws_secret_access_key = secretcfgonly\n"
	"[profile both]\n"
	"aws_access_key_id = AKIDBOTHCONF\n"
	"aws_secret_access_key = secretbothconf\n"
	"region = us-west-2\n"
	"[bare]\n"
	"aws_access_key_id = AKIDBARE\n"
	"aws_secret_access_key = secretbare\n"
	"[profile role]\n"
	"role_arn = arn:aws:iam::123456789012:role/x\n"
	"source_profile = default\n"
	"[profile   spaced  ]\n"
	"aws_access_key_id = AKIDSPACED\n"
	"aws_secret_access_key = secretspaced\n";

static void test_ini(void)
{
	json_t *c = jfs_aws_ini_parse(conf_text, true), *k = jfs_aws_ini_parse(cred_text, false);

	CHECK_STR(json_string_value(json_object_get(json_object_get(c, "cfgonly"), "region")),
		  "ap-south-1");
	CHECK(!json_object_get(json_object_get(c, "cfgonly"), "max_concurrent_requests"));
	CHECK(!json_object_get(c, "bare"));
	CHECK(json_object_get(c, "spaced") != NULL);
	CHECK(json_object_get(c, "default") != NULL);
	CHECK_STR(json_string_value(json_object_get(json_object_get(k, "work"),
						    "aws_access_key_id")), "AKIDWORK");
	CHECK_STR(json_string_value(json_object_get(json_object_get(k, "default"),
						    "aws_secret_access_key")), "secretdefault/+x=");
	/* in the credentials file "[profile x]" is a profile named "profile x" */
	CHECK(json_object_get(k, "profile literal") != NULL);
	json_decref(c);
	json_decref(k);
	CHECK(jfs_aws_ini_load("/nonexistent/jfs/credentials", false) == NULL);
}

static void test_cred(void)
{
	char *cred_path, *conf_path, want[512];
	struct jfs_aws_cred c;
	struct jfs_err err;
	int ret;

	if (!mkdtemp(tmpdir))
		abort();
	cred_path = tmp_file("credentials", cred_text);
	conf_path = tmp_file("config", conf_text);

	clear_aws_env();
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);
	setenv("AWS_CONFIG_FILE", conf_path, 1);

	/* default profile, region from the config file's [default] */
	ret = jfs_aws_cred_load(&c, &err);
	CHECK(ret == 0);
	CHECK_STR(c.access_key_id, "AKIDDEFAULT");
	CHECK_STR(c.secret_access_key, "secretdefault/+x=");
	CHECK(c.session_token == NULL);
	snprintf(want, sizeof(want), "profile default from %s", cred_path);
	CHECK_STR(c.source, want);
	CHECK_STR(c.region, "eu-west-1");
	jfs_aws_cred_release(&c);

	/* AWS_PROFILE, session token */
	setenv("AWS_PROFILE", "work", 1);
	ret = jfs_aws_cred_load(&c, &err);
	CHECK(ret == 0);
	CHECK_STR(c.access_key_id, "AKIDWORK");
	CHECK_STR(c.session_token, "tokenwork");
	CHECK(c.region == NULL);
	jfs_aws_cred_release(&c);

	/* [profile x] in the config file, nested blocks skipped */
	setenv("AWS_PROFILE", "cfgonly", 1);
	ret = jfs_aws_cred_load(&c, &err);
	CHECK(ret == 0);
	CHECK_STR(c.access_key_id, "AKIDCFGONLY");
	snprintf(want, sizeof(want), "profile cfgonly from %s", conf_path);
	CHECK_STR(c.source, want);
	CHECK_STR(c.region, "ap-south-1");
	jfs_aws_cred_release(&c);

	setenv("AWS_PROFILE", "spaced", 1);
	ret = jfs_aws_cred_load(&c, &err);
	CHECK(ret == 0);
	CHECK_STR(c.access_key_id, "AKIDSPACED");
	jfs_aws_cred_release(&c);

	/* the credentials file wins over the config file for the same profile */
	setenv("AWS_PROFILE", "both", 1);
	ret = jfs_aws_cred_load(&c, &err);
	CHECK(ret == 0);
	CHECK_STR(c.access_key_id, "AKIDBOTHCRED");
	CHECK_STR(c.region, "us-west-2");
	jfs_aws_cred_release(&c);

	/* environment keys come first, AWS_REGION before AWS_DEFAULT_REGION before the profile */
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
	setenv("AWS_SESSION_TOKEN", "tokenenv", 1);
	setenv("AWS_DEFAULT_REGION", "sa-east-1", 1);
	ret = jfs_aws_cred_load(&c, &err);
	CHECK(ret == 0);
	CHECK_STR(c.access_key_id, "AKIDENV");
	CHECK_STR(c.secret_access_key, "secretenv");
	CHECK_STR(c.session_token, "tokenenv");
	CHECK_STR(c.source, "env");
	CHECK_STR(c.region, "sa-east-1");
	jfs_aws_cred_release(&c);
	setenv("AWS_REGION", "eu-north-1", 1);
	ret = jfs_aws_cred_load(&c, &err);
	CHECK(ret == 0 && c.region && !strcmp(c.region, "eu-north-1"));
	jfs_aws_cred_release(&c);

	/* half the environment pair: the profile is used */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	ret = jfs_aws_cred_load(&c, &err);
	CHECK(ret == 0);
	CHECK_STR(c.access_key_id, "AKIDBOTHCRED");
	jfs_aws_cred_release(&c);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SESSION_TOKEN");

	/* a profile that only assumes a role is named, not silently skipped */
	setenv("AWS_PROFILE", "role", 1);
	ret = jfs_aws_cred_load(&c, &err);
	CHECK(ret == -EACCES);
	CHECK(strstr(err.msg, "role_arn") && strstr(err.msg, "'role'"));
	CHECK_STR(c.region, "eu-north-1");
	jfs_aws_cred_release(&c);

	/* a bare [x] in the config file is no profile */
	setenv("AWS_PROFILE", "bare", 1);
	ret = jfs_aws_cred_load(&c, &err);
	CHECK(ret == -EACCES && strstr(err.msg, "'bare' not found"));
	jfs_aws_cred_release(&c);

	/* nothing anywhere: the places looked at, no secret */
	unsetenv("AWS_PROFILE");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	ret = jfs_aws_cred_load(&c, &err);
	CHECK(ret == -EACCES);
	CHECK(strstr(err.msg, "/nonexistent/credentials") != NULL);
	CHECK(c.access_key_id == NULL && c.source == NULL);
	jfs_aws_cred_release(&c);

	/* ~ in the file variables and the default ~/.aws place */
	clear_aws_env();
	{
		char *home = strdup(getenv("HOME") ? getenv("HOME") : "/");
		struct jfs_strbuf sb;

		jfs_strbuf_init(&sb);
		jfs_strbuf_addf(&sb, "%s/.aws", tmpdir);
		mkdir(sb.buf, 0700);
		jfs_strbuf_addstr(&sb, "/credentials");
		rename(cred_path, sb.buf);
		setenv("HOME", tmpdir, 1);
		ret = jfs_aws_cred_load(&c, &err);
		CHECK(ret == 0 && c.access_key_id && !strcmp(c.access_key_id, "AKIDDEFAULT"));
		jfs_aws_cred_release(&c);
		setenv("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", 1);
		setenv("AWS_PROFILE", "work", 1);
		ret = jfs_aws_cred_load(&c, &err);
		CHECK(ret == 0 && c.access_key_id && !strcmp(c.access_key_id, "AKIDWORK"));
		jfs_aws_cred_release(&c);
		rename(sb.buf, cred_path);
		jfs_strbuf_setlen(&sb, strlen(tmpdir) + 5);
		rmdir(sb.buf);
		setenv("HOME", home, 1);
		free(home);
		jfs_strbuf_release(&sb);
	}
	clear_aws_env();
	unlink(cred_path);
	unlink(conf_path);
	rmdir(tmpdir);
	free(cred_path);
	free(conf_path);
}

/* ---- the credential chain (aws_cred_chain.c), offline ---- */

static char chain_dir[] = "/tmp/jfs-chain-test.XXXXXX";

/* A credential_process script printing keys AKIDP<n> valid @life seconds, sleeping @sleep_s. */
static void write_process(const char *conf_path, long life, const char *sleep_s)
{
	char script[512], conf[1024];
	FILE *f;

	snprintf(script, sizeof(script), "%s/proc.sh", chain_dir);
	f = fopen(script, "w");
	if (!f)
		abort();
	fprintf(f, "#!/bin/sh\n"
		   "n=$(( $(cat %s/count 2>/dev/null || echo 0) + 1 )); echo $n >%s/count\n"
		   "sleep %s\n"
		   "exp=$(date -u -d \"@$(( $(date +%%s) + %ld ))\" +%%Y-%%m-%%dT%%H:%%M:%%SZ)\n"
		   "printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDP%%s\", "
		   "\"SecretAccessKey\": \"chainsecret%%s\", \"SessionToken\": \"tok%%s\", "
		   "\"Expiration\": \"%%s\"}' $n $n $n \"$exp\"\n",
		chain_dir, chain_dir, sleep_s, life);
	fclose(f);
	chmod(script, 0755);
	snprintf(conf, sizeof(conf), "[profile p]\ncredential_process = %s\n", script);
	f = fopen(conf_path, "w");
	fputs(conf, f);
	fclose(f);
}

static int process_runs(void)
{
	char path[512];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/count", chain_dir);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

struct getter {
	struct jfs_aws_provider *p;
	pthread_barrier_t *bar;
	int ret;
	char id[32];
};

static void *getter_thread(void *arg)
{
	struct getter *g = arg;
	struct jfs_aws_cred c;
	struct jfs_err err;

	pthread_barrier_wait(g->bar);
	g->ret = jfs_aws_provider_get(g->p, &c, &err);
	snprintf(g->id, sizeof(g->id), "%s", c.access_key_id ? c.access_key_id : "");
	jfs_aws_cred_release(&c);
	return NULL;
}

/* Which source the chain picks, as its description; NULL and @err on failure. */
static char *chain_source(struct jfs_err *err)
{
	struct jfs_aws_provider *p;
	char buf[512];

	jfs_err_clear(err);
	if (jfs_aws_provider_new(&p, NULL, 1000, err))
		return NULL;
	jfs_aws_provider_source(p, buf, sizeof(buf));
	jfs_aws_provider_free(p);
	return strdup(buf);
}

static void test_chain(void)
{
	char hex[41], conf_path[512], cred_path[512], *src;
	struct jfs_aws_provider *p;
	struct jfs_aws_cred c;
	struct jfs_err err;
	pthread_barrier_t bar;
	struct getter g[8];
	pthread_t th[8];
	int i, ret;

	/* SHA-1: FIPS 180 vectors; the AWS CLI names its SSO cache files so */
	jfs_aws_sha1_hex("abc", hex);
	CHECK_STR(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	jfs_aws_sha1_hex("", hex);
	CHECK_STR(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	jfs_aws_sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
	CHECK_STR(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	{
		json_t *c2 = jfs_aws_ini_parse("[sso-session  corp ]\nsso_region = eu-west-1\n", true);

		CHECK_STR(json_string_value(json_object_get(json_object_get(c2, "sso-session corp"),
							    "sso_region")), "eu-west-1");
		json_decref(c2);
	}

	if (!mkdtemp(chain_dir))
		abort();
	snprintf(conf_path, sizeof(conf_path), "%s/config", chain_dir);
	snprintf(cred_path, sizeof(cred_path), "%s/credentials", chain_dir);
	clear_aws_env();
	setenv("AWS_CONFIG_FILE", conf_path, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);

	/* credential_process: fetched on first use, not before; long-lived keys are kept */
	write_process(conf_path, 3600, "0");
	setenv("AWS_PROFILE", "p", 1);
	ret = jfs_aws_provider_new(&p, NULL, 2000, &err);
	CHECK(ret == 0, "%s", err.msg);
	CHECK(process_runs() == 0);
	ret = jfs_aws_provider_get(p, &c, &err);
	CHECK(ret == 0 && c.access_key_id && !strcmp(c.access_key_id, "AKIDP1"));
	CHECK_STR(c.session_token, "tok1");
	CHECK_STR(c.source, "profile p: credential_process");
	jfs_aws_cred_release(&c);
	ret = jfs_aws_provider_get(p, &c, &err);
	CHECK(ret == 0 && process_runs() == 1);
	jfs_aws_cred_release(&c);
	/* refused as expired: one new fetch, and only for the keys that were refused */
	jfs_aws_provider_expired(p, 1);
	ret = jfs_aws_provider_get(p, &c, &err);
	CHECK(ret == 0 && c.access_key_id && !strcmp(c.access_key_id, "AKIDP2"));
	jfs_aws_cred_release(&c);
	jfs_aws_provider_expired(p, 1); /* stale: AKIDP1's generation */
	ret = jfs_aws_provider_get(p, &c, &err);
	CHECK(ret == 0 && process_runs() == 2);
	jfs_aws_cred_release(&c);
	jfs_aws_provider_free(p);

	/* less than 5 minutes left: every get() would refresh; 8 threads at once share one */
	{
		char count[512];

		snprintf(count, sizeof(count), "%s/count", chain_dir);
		unlink(count);
	}
	write_process(conf_path, 290, "0.3");
	ret = jfs_aws_provider_new(&p, NULL, 2000, &err);
	CHECK(ret == 0);
	ret = jfs_aws_provider_get(p, &c, &err);
	CHECK(ret == 0 && process_runs() == 1);
	jfs_aws_cred_release(&c);
	ret = jfs_aws_provider_get(p, &c, &err); /* just fetched: not again within 1 s */
	CHECK(ret == 0 && process_runs() == 1);
	jfs_aws_cred_release(&c);
	usleep(1100 * 1000);
	pthread_barrier_init(&bar, NULL, 8);
	for (i = 0; i < 8; i++) {
		g[i].p = p;
		g[i].bar = &bar;
		pthread_create(&th[i], NULL, getter_thread, &g[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		/* nobody fails or waits for the fetch: the old keys are still valid */
		CHECK(g[i].ret == 0 && (!strcmp(g[i].id, "AKIDP1") || !strcmp(g[i].id, "AKIDP2")),
		      "thread %d: %d %s", i, g[i].ret, g[i].id);
	}
	pthread_barrier_destroy(&bar);
	CHECK(process_runs() == 2, "runs %d", process_runs());
	jfs_aws_provider_free(p);

	/* a failing process names the profile and its exit status, never its output */
	{
		FILE *f = fopen(conf_path, "w");

		fputs("[profile bad]\ncredential_process = echo leakedsecretvalue; exit 4\n", f);
		fclose(f);
	}
	setenv("AWS_PROFILE", "bad", 1);
	ret = jfs_aws_provider_new(&p, NULL, 2000, &err);
	CHECK(ret == 0);
	ret = jfs_aws_provider_get(p, &c, &err);
	CHECK(ret == -EACCES && strstr(err.msg, "profile bad: credential_process") &&
	      strstr(err.msg, "exit status 4") && !strstr(err.msg, "leakedsecret"), "%s", err.msg);
	jfs_aws_cred_release(&c);
	jfs_aws_provider_free(p);

	/* the order and what each source is called, without any network */
	{
		FILE *f = fopen(conf_path, "w");

		fputs("[profile role]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = keys\n"
		      "[profile keys]\naws_access_key_id = AKIDK\naws_secret_access_key = s\n"
		      "[profile loop]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = loop2\n"
		      "[profile loop2]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = loop\n"
		      "[profile envrole]\nrole_arn = arn:aws:iam::1:role/e\n"
		      "credential_source = Environment\n"
		      "[profile sso]\nsso_session = s1\nsso_account_id = 1\n"
		      "[profile web]\nweb_identity_token_file = /t\nrole_arn = arn:aws:iam::1:role/w\n"
		      "[profile none]\nregion = eu-west-1\n", f);
		fclose(f);
	}
	setenv("AWS_PROFILE", "role", 1);
	src = chain_source(&err);
	CHECK(src && strstr(src, "role arn:aws:iam::1:role/r assumed with profile keys from"),
	      "%s", src ? src : err.msg);
	free(src);
	setenv("AWS_PROFILE", "loop", 1);
	src = chain_source(&err);
	CHECK(!src && strstr(err.msg, "too long or circular"));
	setenv("AWS_PROFILE", "envrole", 1);
	src = chain_source(&err);
	CHECK(!src && strstr(err.msg, "credential_source Environment"));
	setenv("AWS_ACCESS_KEY_ID", "AKIDE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "se", 1);
	src = chain_source(&err);
	CHECK(src && !strcmp(src, "env")); /* environment keys come first */
	free(src);
	unsetenv("AWS_ACCESS_KEY_ID");
	setenv("AWS_PROFILE", "sso", 1);
	src = chain_source(&err);
	CHECK(!src && strstr(err.msg, "sso_role_name"));
	setenv("AWS_PROFILE", "web", 1);
	src = chain_source(&err);
	CHECK(src && strstr(src, "profile web: web identity token file /t"));
	free(src);
	setenv("AWS_PROFILE", "none", 1);
	src = chain_source(&err);
	CHECK(!src && strstr(err.msg, "no credentials jovofs can use"));
	/* web identity from the environment comes before the profile */
	setenv("AWS_PROFILE", "keys", 1);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/tok", 1);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/env", 1);
	src = chain_source(&err);
	CHECK(src && strstr(src, "(AWS_WEB_IDENTITY_TOKEN_FILE)"));
	free(src);
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	/* no profile at all: the container, whose plain-http address must be loopback or ECS */
	unsetenv("AWS_PROFILE");
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.0.0.1/creds", 1);
	src = chain_source(&err);
	CHECK(!src && strstr(err.msg, "not https"));
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds", 1);
	src = chain_source(&err);
	CHECK(src && !strcmp(src, "container credentials at http://127.0.0.1:9/creds"));
	free(src);
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x", 1);
	src = chain_source(&err);
	CHECK(src && !strcmp(src, "container credentials at http://169.254.170.2/v2/credentials/x"));
	free(src);
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	/* last: instance metadata, unless disabled (clear_aws_env disables it) */
	src = chain_source(&err);
	CHECK(!src && strstr(err.msg, "no aws credentials") &&
	      strstr(err.msg, "AWS_EC2_METADATA_DISABLED") && strstr(err.msg, "profile 'default'"),
	      "%s", err.msg);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/", 1);
	src = chain_source(&err);
	CHECK(src && !strcmp(src, "EC2 instance metadata (IMDSv2) at http://127.0.0.1:9"));
	free(src);
	/* nothing listens there: the fetch fails, naming it, in bounded time */
	ret = jfs_aws_provider_new(&p, NULL, 1000, &err);
	CHECK(ret == 0);
	ret = jfs_aws_provider_get(p, &c, &err);
	CHECK(ret == -EIO && strstr(err.msg, "EC2 instance metadata"), "%s", err.msg);
	jfs_aws_cred_release(&c);
	jfs_aws_provider_free(p);

	clear_aws_env();
	{
		char path[600];

		snprintf(path, sizeof(path), "%s/proc.sh", chain_dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/count", chain_dir);
		unlink(path);
	}
	unlink(conf_path);
	rmdir(chain_dir);
}

/* ---- config ---- */

static struct jfs_strbuf warnings;

static void log_hook(void *data, int level, const char *msg)
{
	jfs_strbuf_addstr(&warnings, msg);
	jfs_strbuf_addch(&warnings, '\n');
}

static const struct jfs_store_options test_opts = {
	.retry_ms = 300, .timeout_ms = 2000,
};

static int open_conf(const char *text, struct jfs_store **st, struct jfs_err *err)
{
	json_t *conf = P(text);
	int ret;

	jfs_err_clear(err);
	ret = jfs_backend_dynamodb.open(conf, &test_opts, st, err);
	json_decref(conf);
	return ret;
}

static void test_config(void)
{
	struct jfs_store *st;
	struct jfs_err err;
	json_t *d;
	char *text;
	int ret;

	clear_aws_env();
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	setenv("AWS_ACCESS_KEY_ID", "AKIDCONFTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "verysecretvalue", 1);
	setenv("AWS_SESSION_TOKEN", "verysecrettoken", 1);
	jfs_strbuf_init(&warnings);
	jfs_log_set_hook(log_hook, NULL);

	CHECK(jfs_backend_find("dynamodb") == &jfs_backend_dynamodb);

	/* plain http: never to AWS's hosts, a warning for another machine (finding 11) */
	{
		static const struct {
			const char *endpoint;
			int ret;
			bool warn;
		} eps[] = {
			{ "http://dynamodb.eu-west-1.amazonaws.com", -EINVAL, false },
			{ "http://DynamoDB.us-east-1.AmazonAWS.com.:80/", -EINVAL, false },
			{ "http://dynamodb.cn-north-1.amazonaws.com.cn", -EINVAL, false },
			{ "https://dynamodb.eu-west-1.amazonaws.com", 0, false },
			{ "http://127.0.0.1:8000", 0, false },
			{ "http://localhost:8000", 0, false },
			{ "http://[::1]:8000", 0, false },
			{ "http://10.0.0.5:8000", 0, true },
			{ "http://amazonaws.com.evil.example", 0, true },
		};
		char conf[512];
		size_t i;

		for (i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
			jfs_strbuf_setlen(&warnings, 0);
			snprintf(conf, sizeof(conf), "{\"table\":{\"name\":\"T\"},\"libraryConfig\":"
				 "{\"dynamoDbClient\":{\"region\":\"eu-west-1\",\"endpoint\":\"%s\"}}}",
				 eps[i].endpoint);
			ret = open_conf(conf, &st, &err);
			CHECK(ret == eps[i].ret, "%s: %d %s", eps[i].endpoint, ret, err.msg);
			CHECK(!!strstr(warnings.buf, "in clear") == eps[i].warn, "%s: '%s'",
			      eps[i].endpoint, warnings.buf);
			if (!ret)
				st->ops->close(st);
		}
		jfs_strbuf_setlen(&warnings, 0);
	}

	ret = open_conf("{\"table\":{\"name\":\"T\",\"foo\":1},\"bar\":true,"
			"\"libraryConfig\":{\"dynamoDbClient\":{\"region\":\"eu-west-1\","
			"\"endpoint\":\"http://127.0.0.1:9\",\"maxAttempts\":3}}}", &st, &err);
	CHECK(ret == 0);
	CHECK(strstr(warnings.buf, "unknown key 'dynamodb.table.foo' ignored") != NULL);
	CHECK(strstr(warnings.buf, "unknown key 'dynamodb.bar' ignored") != NULL);
	CHECK(strstr(warnings.buf, "unknown key 'dynamodb.libraryConfig.dynamoDbClient."
			"maxAttempts' ignored") != NULL);
	if (!ret) {
		d = json_object();
		st->ops->describe(st, d);
		text = json_dumps(d, JSON_COMPACT);
		CHECK(strstr(text, "\"table\":\"T\"") && strstr(text, "\"primaryKeyColumn\":"
								 "\"userId\""));
		CHECK(strstr(text, "\"region\":\"eu-west-1\"") && strstr(text, "\"credentials\":"
									"\"env\""));
		CHECK(strstr(text, "\"endpoint\":\"http://127.0.0.1:9\""));
		CHECK(!strstr(text, "verysecret"));
		free(text);
		json_decref(d);
		/* nothing listens on port 9: EIO after the retries, the endpoint named */
		{
			json_t *item = NULL;

			ret = st->ops->load(st, "u1", &item, &err);
			CHECK(ret == -EIO && strstr(err.msg, "before start"));
			ret = st->ops->start(st, &err);
			CHECK(ret == -EIO && strstr(err.msg, "127.0.0.1:9"));
			ret = st->ops->load(st, "u1", &item, &err);
			CHECK(ret == -EIO && strstr(err.msg, "127.0.0.1:9"));
			CHECK(!strstr(err.msg, "verysecret"));
		}
		st->ops->close(st);
	}

	/* the default endpoint follows the region */
	ret = open_conf("{\"table\":{\"name\":\"T\",\"primaryKeyColumn\":\"pk\","
			"\"billingMode\":\"PAY_PER_REQUEST\"},"
			"\"libraryConfig\":{\"dynamoDbClient\":{\"region\":\"cn-north-1\"}}}",
			&st, &err);
	CHECK(ret == 0);
	if (!ret) {
		d = json_object();
		st->ops->describe(st, d);
		CHECK_STR(json_string_value(json_object_get(d, "endpoint")),
			  "https://dynamodb.cn-north-1.amazonaws.com.cn");
		CHECK_STR(json_string_value(json_object_get(d, "primaryKeyColumn")), "pk");
		json_decref(d);
		st->ops->close(st);
	}

	/* credentials in the config file (Jovo's dynamoDbClient.credentials) */
	ret = open_conf("{\"table\":{\"name\":\"T\"},\"libraryConfig\":{\"dynamoDbClient\":"
			"{\"region\":\"us-east-1\",\"credentials\":{\"accessKeyId\":\"AKIDFILE\","
			"\"secretAccessKey\":\"filesecret\"}}}}", &st, &err);
	CHECK(ret == 0);
	if (!ret) {
		d = json_object();
		st->ops->describe(st, d);
		CHECK_STR(json_string_value(json_object_get(d, "credentials")), "config file");
		text = json_dumps(d, JSON_COMPACT);
		CHECK(!strstr(text, "filesecret"));
		free(text);
		json_decref(d);
		st->ops->close(st);
	}

	/* mistakes */
	ret = open_conf("{\"libraryConfig\":{\"dynamoDbClient\":{\"region\":\"x\"}}}", &st, &err);
	CHECK(ret == -EINVAL && strstr(err.msg, "dynamodb.table.name"));
	ret = open_conf("{\"table\":{\"name\":\"\"}}", &st, &err);
	CHECK(ret == -EINVAL);
	ret = open_conf("{\"table\":{\"name\":\"T\",\"readCapacityUnits\":0.5},"
			"\"libraryConfig\":{\"dynamoDbClient\":{\"region\":\"x\"}}}", &st, &err);
	CHECK(ret == -EINVAL && strstr(err.msg, "readCapacityUnits"));
	ret = open_conf("{\"table\":{\"name\":\"T\",\"billingMode\":\"FREE\"},"
			"\"libraryConfig\":{\"dynamoDbClient\":{\"region\":\"x\"}}}", &st, &err);
	CHECK(ret == -EINVAL);
	ret = open_conf("{\"table\":{\"name\":\"T\",\"createTableOnInit\":\"yes\"},"
			"\"libraryConfig\":{\"dynamoDbClient\":{\"region\":\"x\"}}}", &st, &err);
	CHECK(ret == -EINVAL);
	ret = open_conf("{\"table\":{\"name\":\"T\"},\"libraryConfig\":{\"dynamoDbClient\":"
			"{\"region\":\"x\",\"endpoint\":\"127.0.0.1:8000\"}}}", &st, &err);
	CHECK(ret == -EINVAL && strstr(err.msg, "http://"));
	ret = open_conf("{\"table\":{\"name\":\"T\"}}", &st, &err);
	CHECK(ret == -EINVAL && strstr(err.msg, "region"));
	unsetenv("AWS_ACCESS_KEY_ID");
	ret = open_conf("{\"table\":{\"name\":\"T\"},\"libraryConfig\":{\"dynamoDbClient\":"
			"{\"region\":\"x\"}}}", &st, &err);
	CHECK(ret == -EACCES && !strstr(err.msg, "verysecret"));
	CHECK(!strstr(warnings.buf, "verysecret"));

	jfs_log_set_hook(NULL, NULL);
	jfs_strbuf_release(&warnings);
	clear_aws_env();
}

/* ---- against a running server ---- */

static char *live_conf(const char *endpoint, const char *table)
{
	struct jfs_strbuf sb;

	jfs_strbuf_init(&sb);
	jfs_strbuf_addf(&sb, "{\"table\":{\"name\":\"%s\"},\"libraryConfig\":{\"dynamoDbClient\":"
			"{\"region\":\"us-east-1\",\"endpoint\":\"%s\"}}}", table, endpoint);
	return jfs_strbuf_detach(&sb, NULL);
}

static void test_live(const char *endpoint)
{
	struct jfs_list_page page;
	struct jfs_store *st;
	struct jfs_patch patch;
	struct jfs_err err;
	json_t *item, *set, *unset;
	char table[64], *conf, *cursor = NULL;
	size_t total = 0, pages = 0;
	int ret, i;

	setenv("AWS_ACCESS_KEY_ID", "test", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "test", 1);
	snprintf(table, sizeof(table), "jfs_unit_%d", (int)getpid());
	conf = live_conf(endpoint, table);
	ret = open_conf(conf, &st, &err);
	free(conf);
	CHECK(ret == 0);
	if (ret)
		return;
	/* creates the table and waits for ACTIVE */
	ret = st->ops->start(st, &err);
	CHECK(ret == 0);
	if (ret) {
		fprintf(stderr, "start: %s\n", err.msg);
		goto out_close;
	}

	ret = st->ops->load(st, "nobody", &item, &err);
	CHECK(ret == -ENOENT);

	item = P("{\"id\":\"u1\",\"user\":{\"data\":{\"n\":0.1,\"e\":\"\",\"m\":{}}},"
		 "\"custom\":[1,null,true],\"createdAt\":\"2026-01-02T03:04:05.678Z\","
		 "\"updatedAt\":\"2026-01-02T03:04:05.678Z\"}");
	ret = st->ops->create(st, "u1", item, &err);
	CHECK(ret == 0);
	ret = st->ops->create(st, "u1", item, &err);
	CHECK(ret == -EEXIST);
	json_decref(item);

	ret = st->ops->load(st, "u1", &item, &err);
	CHECK(ret == 0);
	if (!ret) {
		char *t = js(item);

		CHECK_STR(t, "{\"id\":\"u1\",\"user\":{\"data\":{\"n\":0.1,\"e\":\"\",\"m\":{}}},"
			  "\"custom\":[1,null,true],\"createdAt\":\"2026-01-02T03:04:05.678Z\","
			  "\"updatedAt\":\"2026-01-02T03:04:05.678Z\"}");
		free(t);
		json_decref(item);
	}

	/* conditional update: holds */
	set = P("{\"user\":{\"data\":{\"n\":2}},\"updatedAt\":\"2026-02-01T00:00:00.000Z\"}");
	unset = P("[\"custom\"]");
	patch = (struct jfs_patch){ .set = set, .unset = unset, .cond_key = "updatedAt",
				    .cond_value = json_string("2026-01-02T03:04:05.678Z") };
	ret = st->ops->update(st, "u1", &patch, &err);
	CHECK(ret == 0);
	/* the same condition again: the item changed -> ECANCELED */
	ret = st->ops->update(st, "u1", &patch, &err);
	CHECK(ret == -ECANCELED);
	/* no such item -> ENOENT */
	ret = st->ops->update(st, "ghost", &patch, &err);
	CHECK(ret == -ENOENT);
	json_decref(patch.cond_value);
	/* absent-condition */
	patch.cond_key = "session";
	patch.cond_value = NULL;
	ret = st->ops->update(st, "u1", &patch, &err);
	CHECK(ret == 0);
	json_decref(set);
	json_decref(unset);

	ret = st->ops->load(st, "u1", &item, &err);
	CHECK(ret == 0);
	if (!ret) {
		CHECK(!json_object_get(item, "custom"));
		CHECK_STR(json_string_value(json_object_get(item, "updatedAt")),
			  "2026-02-01T00:00:00.000Z");
		json_decref(item);
	}

	/* listing in pages */
	item = P("{\"user\":{\"data\":{}},\"createdAt\":\"2026-01-02T03:04:05.678Z\","
		 "\"updatedAt\":\"2026-01-03T03:04:05.678Z\"}");
	for (i = 0; i < 25; i++) {
		char id[32];

		snprintf(id, sizeof(id), "user-%02d", i);
		json_object_set_new(item, "id", json_string(id));
		ret = st->ops->create(st, id, item, &err);
		CHECK(ret == 0);
	}
	json_decref(item);
	do {
		ret = st->ops->list(st, cursor, 7, &page, &err);
		CHECK(ret == 0);
		if (ret)
			break;
		CHECK(page.n <= 7);
		for (size_t k = 0; k < page.n; k++) {
			if (!strcmp(page.entries[k].id, "user-03"))
				CHECK(page.entries[k].updated_ms == 1767409445678LL &&
				      page.entries[k].created_ms == 1767323045678LL);
		}
		total += page.n;
		pages++;
		free(cursor);
		cursor = page.next ? strdup(page.next) : NULL;
		jfs_list_page_release(&page);
	} while (cursor && pages < 100);
	free(cursor);
	CHECK(total == 26);
	CHECK(pages >= 4);
	ret = st->ops->list(st, "not json", 7, &page, &err);
	CHECK(ret == -EINVAL);

	ret = st->ops->remove(st, "user-00", &err);
	CHECK(ret == 0);
	ret = st->ops->remove(st, "user-00", &err);
	CHECK(ret == -ENOENT);
	CHECK(st->ops->sync(st, NULL, &err) == 0);

	/* 38 digits stored by another client survive an edit next to them */
	{
		static const char big[] = "12345678901234567890123456789012345678";
		struct jfs_strbuf body;
		char *resp = NULL;
		long status = 0;

		jfs_strbuf_init(&body);
		jfs_strbuf_addf(&body, "{\"TableName\":\"%s\",\"Item\":{\"userId\":{\"S\":\"raw\"},"
				"\"user\":{\"M\":{\"data\":{\"M\":{\"big\":{\"N\":\"%s\"},"
				"\"x\":{\"N\":\"1\"}}}}},\"other\":{\"NS\":[\"1.50\"]},"
				"\"updatedAt\":{\"S\":\"2026-01-01T00:00:00.000Z\"}}}", table, big);
		ret = jfs_dynamodb_debug_request(st, "PutItem", body.buf, NULL, &status, &resp,
						 &err);
		CHECK(ret == 0 && status == 200);
		free(resp);
		ret = st->ops->load(st, "raw", &item, &err);
		CHECK(ret == 0);
		if (!ret) {
			json_t *user = json_deep_copy(json_object_get(item, "user"));

			json_object_set_new(json_object_get(user, "data"), "x", json_real(2));
			set = json_pack("{s:o, s:s}", "user", user, "updatedAt",
					"2026-01-01T00:00:01.000Z");
			patch = (struct jfs_patch){ .set = set, .cond_key = "updatedAt",
						    .cond_value = json_object_get(item, "updatedAt") };
			ret = st->ops->update(st, "raw", &patch, &err);
			CHECK(ret == 0);
			json_decref(set);
			json_decref(item);
		}
		jfs_strbuf_setlen(&body, 0);
		jfs_strbuf_addf(&body, "{\"TableName\":\"%s\",\"Key\":{\"userId\":{\"S\":\"raw\"}},"
				"\"ConsistentRead\":true}", table);
		ret = jfs_dynamodb_debug_request(st, "GetItem", body.buf, NULL, &status, &resp,
						 &err);
		CHECK(ret == 0 && status == 200);
		if (resp && !strstr(resp, "\"x\":{\"N\":\"2\"}"))
			fprintf(stderr, "GetItem answered %s\n", resp);
		CHECK(resp && strstr(resp, big) && strstr(resp, "\"x\":{\"N\":\"2\"}") &&
		      strstr(resp, "\"NS\":[\"1.5\"]"));
		free(resp);
		jfs_strbuf_release(&body);
	}

	/* too big: DynamoDB's 400 KB limit -> EFBIG */
	{
		char *big = malloc(500 * 1024 + 1);

		memset(big, 'x', 500 * 1024);
		big[500 * 1024] = '\0';
		set = json_pack("{s:{s:{s:s}}}", "user", "data", "blob", big);
		patch = (struct jfs_patch){ .set = set };
		ret = st->ops->update(st, "u1", &patch, &err);
		CHECK(ret == -EFBIG);
		json_decref(set);
		free(big);
	}
out_close:
	st->ops->close(st);
}

static int sigv4_request(int argc, char **argv)
{
	/* sigv4 ENDPOINT OP BODY AMZDATE */
	struct jfs_store *st;
	struct jfs_err err;
	const char *hdrs[2] = { NULL, NULL };
	char *conf, *resp = NULL, date[64];
	long status = 0;
	int ret;

	if (argc < 6)
		return 2;
	conf = live_conf(argv[2], "Sig");
	ret = open_conf(conf, &st, &err);
	free(conf);
	if (ret) {
		fprintf(stderr, "open: %s\n", err.msg);
		return 1;
	}
	snprintf(date, sizeof(date), "X-Amz-Date: %s", argv[5]);
	hdrs[0] = date;
	ret = jfs_dynamodb_debug_request(st, argv[3], argv[4], hdrs, &status, &resp, &err);
	if (ret)
		fprintf(stderr, "request: %s\n", err.msg);
	else
		printf("%ld\n", status);
	free(resp);
	st->ops->close(st);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "sigv4"))
		return sigv4_request(argc, argv);
	jfs_log_set_level(LOG_ERR);
	test_marshal();
	test_ini();
	test_cred();
	test_chain();
	test_config();
	if (argc > 2 && !strcmp(argv[1], "live"))
		test_live(argv[2]);
	else if (getenv("JOVOFS_TEST_DYNAMODB_ENDPOINT"))
		test_live(getenv("JOVOFS_TEST_DYNAMODB_ENDPOINT"));
	return check_report();
}
