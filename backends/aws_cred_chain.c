/*
 * The AWS SDKs' default credential chain, with refresh (aws_cred.h):
 * which source applies is decided before the daemon forks, from the
 * environment and the shared files only; keys from the network (STS, the
 * SSO portal, the container endpoint, IMDSv2) and from a
 * credential_process are fetched on first use and again when less than
 * five minutes remain. One thread fetches; the others keep using the old
 * keys while they are valid, or wait for the new ones.
 *
 * Every request goes through libcurl; AssumeRole is signed by libcurl
 * (CURLOPT_AWS_SIGV4, service sts). No message, log line or error ever
 * holds a secret key, a session token, an SSO token or a web identity
 * token: sources are named, never their keys.
 */
#define _GNU_SOURCE
#include "backends/aws_cred.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/isotime.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "config.h"

extern char **environ;

#define REFRESH_WINDOW_MS (5 * 60 * 1000) /* as the AWS SDK for JavaScript v3 */
#define RETRY_WHILE_VALID_MS 30000        /* a failed refresh, the old keys still good */
#define RETRY_EXPIRED_MS 1000             /* a failed fetch with no good keys */
#define REFRESH_MIN_MS 1000               /* keys that live under 5 min: not more often */
#define PROCESS_TIMEOUT_MS 60000
#define IMDS_CONNECT_MS 1000
#define RESP_MAX (1u << 20)
#define CHAIN_DEPTH_MAX 8
#define IMDS_DEFAULT "http://169.254.169.254"
#define ECS_HOST "http://169.254.170.2"

enum src_kind {
	SRC_STATIC,
	SRC_WEB_IDENTITY,
	SRC_PROCESS,
	SRC_ASSUME_ROLE,
	SRC_SSO,
	SRC_CONTAINER,
	SRC_IMDS,
};

/* One link of the chain as resolved; never changed once made (reload makes new ones). */
struct src {
	enum src_kind kind;
	char *desc;           /* names the source, never a secret */
	/* SRC_STATIC */
	char *key_id, *secret, *token;
	/* SRC_PROCESS */
	char *command;
	/* SRC_ASSUME_ROLE, SRC_WEB_IDENTITY */
	char *role_arn, *session_name, *external_id, *token_file, *sts_region;
	long duration_s;
	struct src *source;   /* SRC_ASSUME_ROLE: whose keys sign the AssumeRole */
	/* SRC_SSO */
	char *sso_start_url, *sso_region, *sso_account, *sso_role, *sso_cache;
	/* SRC_CONTAINER */
	char *url, *auth, *auth_file;
	/* SRC_IMDS */
	char *imds;
	struct src *retired_next; /* the provider's list of replaced chains */
};

/** Keys as fetched: all malloc()ed; expires_ms 0 never expires. */
struct keys {
	char *id, *secret, *token;
	int64_t expires_ms;
};

struct jfs_aws_provider {
	pthread_mutex_t lock;   /* guards every field below but the "set by new" ones */
	pthread_cond_t cond;    /* a fetch ended */
	int64_t timeout_ms;     /* set by new */
	struct src *explicit_src; /* set by new: keys of the config file, else NULL */

	struct src *src;        /* the chain's source now */
	struct src *retired;    /* sources a reload replaced, freed at the end */
	struct keys cur;
	int64_t fetched_at;     /* monotonic: when cur came */
	bool have;
	uint64_t gen;           /* bumped with each new set of keys */
	bool fetching;
	int64_t retry_at;       /* monotonic: no fetch before, after a failure */
	struct jfs_err last_err;
	uint64_t refreshes, failures;
};

static char *xstrdup(const char *s)
{
	char *p;

	if (!s)
		return NULL;
	p = strdup(s);
	if (!p)
		abort();
	return p;
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		abort();
	va_end(ap);
	return p;
}

static void keys_release(struct keys *k)
{
	free(k->id);
	jfs_aws_free_secret(k->secret);
	jfs_aws_free_secret(k->token);
	memset(k, 0, sizeof(*k));
}

static void src_free(struct src *s)
{
	if (!s)
		return;
	src_free(s->source);
	free(s->desc);
	free(s->key_id);
	jfs_aws_free_secret(s->secret);
	jfs_aws_free_secret(s->token);
	free(s->command);
	free(s->role_arn);
	free(s->session_name);
	free(s->external_id);
	free(s->token_file);
	free(s->sts_region);
	free(s->sso_start_url);
	free(s->sso_region);
	free(s->sso_account);
	free(s->sso_role);
	free(s->sso_cache);
	free(s->url);
	jfs_aws_free_secret(s->auth);
	free(s->auth_file);
	free(s->imds);
	free(s);
}

static struct src *src_new(enum src_kind kind)
{
	struct src *s = calloc(1, sizeof(*s));

	if (!s)
		abort();
	s->kind = kind;
	return s;
}

static struct src *src_static(const char *id, const char *secret, const char *token,
			      char *desc)
{
	struct src *s = src_new(SRC_STATIC);

	s->key_id = xstrdup(id);
	s->secret = xstrdup(secret);
	s->token = token && *token ? xstrdup(token) : NULL;
	s->desc = desc;
	return s;
}

/* ---- SHA-1, for the SSO token cache's file names (FIPS 180-4) ---- */

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const unsigned char *b)
{
	uint32_t w[80], a, bb, c, d, e, f, k, t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
		       (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
	for (; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20)
			f = (bb & c) | (~bb & d), k = 0x5a827999;
		else if (i < 40)
			f = bb ^ c ^ d, k = 0x6ed9eba1;
		else if (i < 60)
			f = (bb & c) | (bb & d) | (c & d), k = 0x8f1bbcdc;
		else
			f = bb ^ c ^ d, k = 0xca62c1d6;
		t = rol(a, 5) + f + e + k + w[i];
		e = d, d = c, c = rol(bb, 30), bb = a, a = t;
	}
	h[0] += a, h[1] += bb, h[2] += c, h[3] += d, h[4] += e;
}

void jfs_aws_sha1_hex(const char *text, char out[41])
{
	uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
	size_t len = strlen(text), i, n;
	unsigned char blk[64];
	uint64_t bits = (uint64_t)len * 8;

	for (i = 0; i + 64 <= len; i += 64)
		sha1_block(h, (const unsigned char *)text + i);
	n = len - i;
	memset(blk, 0, sizeof(blk));
	memcpy(blk, text + i, n);
	blk[n] = 0x80;
	if (n >= 56) {
		sha1_block(h, blk);
		memset(blk, 0, sizeof(blk));
	}
	for (i = 0; i < 8; i++)
		blk[63 - i] = (unsigned char)(bits >> (8 * i));
	sha1_block(h, blk);
	for (i = 0; i < 5; i++)
		snprintf(out + 8 * i, 9, "%08x", h[i]);
}

/* ---- HTTP through libcurl ---- */

struct http_req {
	const char *method;           /* "GET", "PUT", "POST" */
	const char *url;
	const char *const *headers;   /* NULL-ended, may be NULL; may hold secrets */
	const char *body;             /* NULL: none */
	const char *sigv4;            /* "aws:amz:REGION:sts", NULL: unsigned */
	const char *user, *pass;      /* the signing keys */
	int64_t timeout_ms, connect_ms;
};

static size_t http_write(char *data, size_t size, size_t n, void *user)
{
	struct jfs_strbuf *sb = user;

	if (sb->len + size * n > RESP_MAX)
		return 0;
	jfs_strbuf_add(sb, data, size * n);
	return size * n;
}

/*
 * One request; 0 with *@status and the body in @out (the caller's), or
 * -EIO when no answer came (@what names the source in the reason).
 */
static int http_do(const struct http_req *r, long *status, struct jfs_strbuf *out,
		   const char *what, struct jfs_err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL, *h;
	const char *const *p;
	CURLcode cc;
	CURL *c;
	int ret = 0;

	c = curl_easy_init();
	if (!c)
		return jfs_err_set(err, ENOMEM, "%s: cannot make a libcurl handle", what);
	for (p = r->headers; p && *p; p++)
		hdrs = curl_slist_append(hdrs, *p);
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "jovofs/" JFS_VERSION);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(r->connect_ms ? r->connect_ms : r->timeout_ms));
	/* the proxy variables must not see IMDS or the container endpoint */
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	if (r->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
	}
	if (strcmp(r->method, "GET") && strcmp(r->method, "POST"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
	if (!strcmp(r->method, "PUT") && !r->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	if (r->sigv4) {
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, r->sigv4);
		curl_easy_setopt(c, CURLOPT_USERNAME, r->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, r->pass);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK)
		ret = jfs_err_set(err, EIO, "%s: cannot reach '%s': %s", what, r->url,
				  errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	for (h = hdrs; h; h = h->next)
		memset(h->data, 0, strlen(h->data));
	curl_slist_free_all(hdrs);
	return ret;
}

/* a form value, percent-encoded (RFC 3986 unreserved kept) */
static void form_add(struct jfs_strbuf *sb, const char *key, const char *val)
{
	const unsigned char *p;

	if (!val)
		return;
	jfs_strbuf_addf(sb, "%s%s=", sb->len ? "&" : "", key);
	for (p = (const unsigned char *)val; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~')
			jfs_strbuf_addch(sb, (char)*p);
		else
			jfs_strbuf_addf(sb, "%%%02X", *p);
	}
}

/* New malloc()ed text of the first <tag>...</tag> in @xml, entities decoded; NULL when none. */
static char *xml_text(const char *xml, const char *tag)
{
	char open[64], close[64];
	const char *a, *b, *p;
	struct jfs_strbuf sb;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = strstr(xml, open);
	if (!a)
		return NULL;
	a += strlen(open);
	b = strstr(a, close);
	if (!b)
		return NULL;
	jfs_strbuf_init(&sb);
	for (p = a; p < b; p++) {
		if (*p != '&') {
			jfs_strbuf_addch(&sb, *p);
			continue;
		}
		if (!strncmp(p, "&amp;", 5))
			jfs_strbuf_addch(&sb, '&'), p += 4;
		else if (!strncmp(p, "&lt;", 4))
			jfs_strbuf_addch(&sb, '<'), p += 3;
		else if (!strncmp(p, "&gt;", 4))
			jfs_strbuf_addch(&sb, '>'), p += 3;
		else if (!strncmp(p, "&quot;", 6))
			jfs_strbuf_addch(&sb, '"'), p += 5;
		else if (!strncmp(p, "&apos;", 6))
			jfs_strbuf_addch(&sb, '\''), p += 5;
		else
			jfs_strbuf_addch(&sb, '&');
	}
	return jfs_strbuf_detach(&sb, NULL);
}

/* Read a small file (a token) into a malloc()ed, trimmed string; NULL with errno. */
static char *read_small(const char *path)
{
	char buf[65536];
	size_t n;
	FILE *f;
	char *s;

	f = fopen(path, "re");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	s = xstrdup(buf);
	memset(buf, 0, sizeof(buf));
	return s;
}

/* An ISO time (STS, IMDS, credential_process) or ms since the epoch (SSO) into *@ms. */
static bool parse_expiration(json_t *v, int64_t *ms)
{
	if (json_is_integer(v)) {
		*ms = json_integer_value(v);
		return *ms > 0;
	}
	if (json_is_real(v)) {
		*ms = (int64_t)json_real_value(v);
		return *ms > 0;
	}
	return json_is_string(v) && jfs_iso_parse(json_string_value(v), ms);
}

/* Keys out of a JSON answer: the key names differ per source. */
static int keys_from_json(json_t *o, const char *id_key, const char *secret_key,
			  const char *token_key, const char *exp_key, struct keys *k,
			  const char *what, struct jfs_err *err)
{
	const char *id = json_string_value(json_object_get(o, id_key));
	const char *secret = json_string_value(json_object_get(o, secret_key));
	const char *token = json_string_value(json_object_get(o, token_key));
	json_t *exp = json_object_get(o, exp_key);

	if (!id || !*id || !secret || !*secret)
		return jfs_err_set(err, EACCES, "%s: the answer holds no %s and %s", what, id_key,
				   secret_key);
	k->expires_ms = 0;
	if (exp && !json_is_null(exp) && !parse_expiration(exp, &k->expires_ms))
		return jfs_err_set(err, EACCES, "%s: cannot read %s", what, exp_key);
	k->id = xstrdup(id);
	k->secret = xstrdup(secret);
	k->token = token && *token ? xstrdup(token) : NULL;
	return 0;
}

/* Parse @body (JSON) into a new reference; NULL and -EACCES/-EIO in @err when it is not. */
static json_t *parse_json(const struct jfs_strbuf *body, const char *what, struct jfs_err *err)
{
	json_t *o = json_loadb(body->buf ? body->buf : "", body->len, 0, NULL);

	if (!json_is_object(o)) {
		json_decref(o);
		jfs_err_set(err, EIO, "%s: the answer is not a JSON object", what);
		return NULL;
	}
	return o;
}

static void wipe(struct jfs_strbuf *sb)
{
	if (sb->buf)
		memset(sb->buf, 0, sb->len);
	jfs_strbuf_release(sb);
}

/* HTTP status of a failed credentials request: 4xx refused (EACCES), else EIO. */
static int status_error(long status, const char *what, const char *detail, struct jfs_err *err)
{
	return jfs_err_set(err, status >= 400 && status < 500 ? EACCES : EIO,
			   "%s: http %ld%s%s", what, status, detail ? ": " : "", detail ? detail : "");
}

/* ---- the sources ---- */

static int fetch(struct jfs_aws_provider *p, const struct src *s, struct keys *k,
		 int depth, struct jfs_err *err);

static const char *sts_endpoint(const char *region, char *buf, size_t size)
{
	const char *e = jfs_aws_env("AWS_ENDPOINT_URL_STS");

	if (e)
		return e;
	snprintf(buf, size, "https://sts.%s.amazonaws.com%s", region,
		 strncmp(region, "cn-", 3) ? "" : ".cn");
	return buf;
}

/* STS AssumeRole or AssumeRoleWithWebIdentity: the answer's <Credentials>. */
static int sts_answer(long status, struct jfs_strbuf *body, const char *what, struct keys *k,
		      struct jfs_err *err)
{
	const char *xml = body->buf ? body->buf : "";
	char *id, *secret, *token, *exp;
	int ret = 0;

	if (status != 200) {
		char *code = xml_text(xml, "Code"), *msg = xml_text(xml, "Message");
		char detail[512];

		snprintf(detail, sizeof(detail), "%s%s%s", code ? code : "", code && msg ? ": " : "",
			 msg ? msg : "");
		ret = status_error(status, what, code || msg ? detail : NULL, err);
		free(code);
		free(msg);
		return ret;
	}
	id = xml_text(xml, "AccessKeyId");
	secret = xml_text(xml, "SecretAccessKey");
	token = xml_text(xml, "SessionToken");
	exp = xml_text(xml, "Expiration");
	if (!id || !secret || !token || !exp || !jfs_iso_parse(exp, &k->expires_ms)) {
		ret = jfs_err_set(err, EIO, "%s: the answer holds no credentials", what);
		free(id);
		jfs_aws_free_secret(secret);
		jfs_aws_free_secret(token);
	} else {
		k->id = id;
		k->secret = secret;
		k->token = token;
	}
	free(exp);
	return ret;
}

static int fetch_web_identity(struct jfs_aws_provider *p, const struct src *s, struct keys *k,
			      struct jfs_err *err)
{
	struct jfs_strbuf form, body;
	const char *hdrs[] = { "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
			       "Accept: application/xml", NULL };
	struct http_req r = { .method = "POST", .headers = hdrs, .timeout_ms = p->timeout_ms };
	char url[256];
	long status = 0;
	char *token;
	int ret;

	token = read_small(s->token_file);
	if (!token || !*token) {
		free(token);
		return jfs_err_set(err, EACCES, "%s: cannot read the token file '%s': %s",
				   s->desc, s->token_file, token ? "empty" : strerror(errno));
	}
	jfs_strbuf_init(&form);
	jfs_strbuf_init(&body);
	form_add(&form, "Action", "AssumeRoleWithWebIdentity");
	form_add(&form, "Version", "2011-06-15");
	form_add(&form, "RoleArn", s->role_arn);
	form_add(&form, "RoleSessionName", s->session_name);
	form_add(&form, "WebIdentityToken", token);
	jfs_aws_free_secret(token);
	r.url = sts_endpoint(s->sts_region, url, sizeof(url));
	r.body = form.buf;
	ret = http_do(&r, &status, &body, s->desc, err);
	wipe(&form);
	if (!ret)
		ret = sts_answer(status, &body, s->desc, k, err);
	wipe(&body);
	return ret;
}

static int fetch_assume_role(struct jfs_aws_provider *p, const struct src *s, struct keys *k,
			     int depth, struct jfs_err *err)
{
	struct jfs_strbuf form, body, tok;
	const char *hdrs[4] = { "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
				"Accept: application/xml", NULL, NULL };
	struct http_req r = { .method = "POST", .headers = hdrs, .timeout_ms = p->timeout_ms };
	struct keys src_keys = { 0 };
	char url[256], sig[128], dur[32];
	long status = 0;
	int ret;

	ret = fetch(p, s->source, &src_keys, depth + 1, err);
	if (ret) {
		jfs_err_prefix(err, "%s: its source credentials", s->desc);
		return ret;
	}
	jfs_strbuf_init(&form);
	jfs_strbuf_init(&body);
	jfs_strbuf_init(&tok);
	form_add(&form, "Action", "AssumeRole");
	form_add(&form, "Version", "2011-06-15");
	form_add(&form, "RoleArn", s->role_arn);
	form_add(&form, "RoleSessionName", s->session_name);
	form_add(&form, "ExternalId", s->external_id);
	if (s->duration_s > 0) {
		snprintf(dur, sizeof(dur), "%ld", s->duration_s);
		form_add(&form, "DurationSeconds", dur);
	}
	if (src_keys.token) {
		jfs_strbuf_addf(&tok, "X-Amz-Security-Token: %s", src_keys.token);
		hdrs[2] = tok.buf;
	}
	snprintf(sig, sizeof(sig), "aws:amz:%s:sts", s->sts_region);
	r.url = sts_endpoint(s->sts_region, url, sizeof(url));
	r.body = form.buf;
	r.sigv4 = sig;
	r.user = src_keys.id;
	r.pass = src_keys.secret;
	ret = http_do(&r, &status, &body, s->desc, err);
	if (!ret)
		ret = sts_answer(status, &body, s->desc, k, err);
	wipe(&tok);
	wipe(&form);
	wipe(&body);
	keys_release(&src_keys);
	return ret;
}

static char *home_dir(void)
{
	const char *home = jfs_aws_env("HOME");
	struct passwd pw, *pwp = NULL;
	char buf[4096];

	if (!home && !getpwuid_r(getuid(), &pw, buf, sizeof(buf), &pwp) && pwp)
		home = pwp->pw_dir;
	return xstrdup(home ? home : "/");
}

static int fetch_sso(struct jfs_aws_provider *p, const struct src *s, struct keys *k,
		     struct jfs_err *err)
{
	struct jfs_strbuf body, hdr;
	const char *hdrs[2] = { NULL, NULL };
	struct http_req r = { .method = "GET", .headers = hdrs, .timeout_ms = p->timeout_ms };
	char hex[41], *home, *path, *url, *text;
	const char *portal = jfs_aws_env("AWS_ENDPOINT_URL_SSO"), *token;
	json_t *cache, *o;
	int64_t exp_ms;
	long status = 0;
	int ret;

	jfs_aws_sha1_hex(s->sso_cache, hex);
	home = home_dir();
	path = xprintf("%s/.aws/sso/cache/%s.json", home, hex);
	free(home);
	text = read_small(path);
	if (!text) {
		ret = jfs_err_set(err, EACCES, "%s: no cached SSO token at '%s' (run 'aws sso "
				  "login')", s->desc, path);
		free(path);
		return ret;
	}
	cache = json_loads(text, 0, NULL);
	jfs_aws_free_secret(text);
	token = json_string_value(json_object_get(cache, "accessToken"));
	if (!token || !*token ||
	    !json_is_string(json_object_get(cache, "expiresAt")) ||
	    !jfs_iso_parse(json_string_value(json_object_get(cache, "expiresAt")), &exp_ms)) {
		ret = jfs_err_set(err, EACCES, "%s: the cached SSO token '%s' holds no accessToken "
				  "and expiresAt", s->desc, path);
		goto out_cache;
	}
	if (exp_ms <= jfs_now_ms()) {
		ret = jfs_err_set(err, EACCES, "%s: the cached SSO token expired (run 'aws sso "
				  "login')", s->desc);
		goto out_cache;
	}
	jfs_strbuf_init(&hdr);
	jfs_strbuf_init(&body);
	jfs_strbuf_addf(&hdr, "x-amz-sso_bearer_token: %s", token);
	hdrs[0] = hdr.buf;
	{
		char *acc = curl_easy_escape(NULL, s->sso_account, 0);
		char *role = curl_easy_escape(NULL, s->sso_role, 0);

		if (portal)
			url = xprintf("%s/federation/credentials?account_id=%s&role_name=%s",
				      portal, acc, role);
		else
			url = xprintf("https://portal.sso.%s.amazonaws.com/federation/credentials"
				      "?account_id=%s&role_name=%s", s->sso_region, acc, role);
		curl_free(acc);
		curl_free(role);
	}
	r.url = url;
	ret = http_do(&r, &status, &body, s->desc, err);
	wipe(&hdr);
	if (!ret && status != 200)
		ret = status_error(status, s->desc, NULL, err);
	if (!ret) {
		o = parse_json(&body, s->desc, err);
		if (!o)
			ret = -err->code;
		else
			ret = keys_from_json(json_object_get(o, "roleCredentials"), "accessKeyId",
					     "secretAccessKey", "sessionToken", "expiration", k,
					     s->desc, err);
		json_decref(o);
	}
	wipe(&body);
	free(url);
out_cache:
	/* the cache held the token: jansson's copy goes with it */
	json_decref(cache);
	free(path);
	return ret;
}

static int fetch_container(struct jfs_aws_provider *p, const struct src *s, struct keys *k,
			   struct jfs_err *err)
{
	struct jfs_strbuf body, hdr;
	const char *hdrs[2] = { NULL, NULL };
	struct http_req r = { .method = "GET", .url = s->url, .headers = hdrs,
			      .timeout_ms = p->timeout_ms };
	char *token = NULL;
	long status = 0;
	json_t *o;
	int ret;

	if (s->auth_file) {
		token = read_small(s->auth_file);
		if (!token)
			return jfs_err_set(err, EACCES, "%s: cannot read "
					   "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE '%s': %s",
					   s->desc, s->auth_file, strerror(errno));
	} else if (s->auth) {
		token = xstrdup(s->auth);
	}
	jfs_strbuf_init(&hdr);
	jfs_strbuf_init(&body);
	if (token) {
		jfs_strbuf_addf(&hdr, "Authorization: %s", token);
		hdrs[0] = hdr.buf;
		jfs_aws_free_secret(token);
	}
	ret = http_do(&r, &status, &body, s->desc, err);
	wipe(&hdr);
	if (!ret && status != 200)
		ret = status_error(status, s->desc, NULL, err);
	if (!ret) {
		o = parse_json(&body, s->desc, err);
		ret = o ? keys_from_json(o, "AccessKeyId", "SecretAccessKey", "Token", "Expiration",
					 k, s->desc, err) : -err->code;
		json_decref(o);
	}
	wipe(&body);
	return ret;
}

/* IMDSv2: a session token (PUT), then GET @path with it into @out. */
static int imds_get(struct jfs_aws_provider *p, const char *base, const char *path,
		    struct jfs_strbuf *out, const char *what, struct jfs_err *err)
{
	const char *put_hdrs[] = { "X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL };
	struct http_req r = { .method = "PUT", .headers = put_hdrs, .timeout_ms = p->timeout_ms,
			      .connect_ms = IMDS_CONNECT_MS };
	struct jfs_strbuf tok, hdr;
	const char *get_hdrs[2] = { NULL, NULL };
	char *url;
	long status = 0;
	int ret;

	jfs_strbuf_init(&tok);
	jfs_strbuf_init(&hdr);
	url = xprintf("%s/latest/api/token", base);
	r.url = url;
	ret = http_do(&r, &status, &tok, what, err);
	free(url);
	if (!ret && (status != 200 || !tok.len))
		ret = jfs_err_set(err, status >= 400 && status < 500 ? EACCES : EIO,
				  "%s: no IMDSv2 session token (http %ld)", what, status);
	if (ret)
		goto out_wipe;
	jfs_strbuf_addf(&hdr, "X-aws-ec2-metadata-token: %s", tok.buf);
	get_hdrs[0] = hdr.buf;
	url = xprintf("%s%s", base, path);
	r.method = "GET";
	r.url = url;
	r.headers = get_hdrs;
	ret = http_do(&r, &status, out, what, err);
	free(url);
	if (!ret && status != 200)
		ret = status_error(status, what, path, err);
out_wipe:
	wipe(&hdr);
	wipe(&tok);
	return ret;
}

static int fetch_imds(struct jfs_aws_provider *p, const struct src *s, struct keys *k,
		      struct jfs_err *err)
{
	const char *dir = "/latest/meta-data/iam/security-credentials/";
	struct jfs_strbuf roles, body;
	char *role, *path;
	const char *code;
	json_t *o;
	int ret;

	jfs_strbuf_init(&roles);
	jfs_strbuf_init(&body);
	ret = imds_get(p, s->imds, dir, &roles, s->desc, err);
	if (ret)
		goto out;
	role = xstrdup(roles.buf ? roles.buf : "");
	role[strcspn(role, "\r\n")] = '\0';
	if (!*role) {
		free(role);
		ret = jfs_err_set(err, EACCES, "%s: the instance has no IAM role", s->desc);
		goto out;
	}
	path = xprintf("%s%s", dir, role);
	free(role);
	ret = imds_get(p, s->imds, path, &body, s->desc, err);
	free(path);
	if (ret)
		goto out;
	o = parse_json(&body, s->desc, err);
	if (!o) {
		ret = -err->code;
		goto out;
	}
	code = json_string_value(json_object_get(o, "Code"));
	if (code && strcmp(code, "Success"))
		ret = jfs_err_set(err, EACCES, "%s: the role's credentials: %s", s->desc, code);
	else
		ret = keys_from_json(o, "AccessKeyId", "SecretAccessKey", "Token", "Expiration", k,
				     s->desc, err);
	json_decref(o);
out:
	wipe(&roles);
	wipe(&body);
	return ret;
}

/* credential_process: run it with the shell, read its JSON (Version 1) from stdout. */
static int fetch_process(struct jfs_aws_provider *p, const struct src *s, struct keys *k,
			 struct jfs_err *err)
{
	char *argv[] = { (char *)"sh", (char *)"-c", s->command, NULL };
	int64_t deadline = jfs_mono_ms() + PROCESS_TIMEOUT_MS;
	posix_spawn_file_actions_t fa;
	struct jfs_strbuf out;
	int fds[2], status = 0, ret = 0, rc;
	struct pollfd pfd;
	char buf[4096];
	json_t *o = NULL;
	ssize_t n;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return jfs_err_set(err, EIO, "%s: pipe: %s", s->desc, strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc) {
		close(fds[0]);
		return jfs_err_set(err, EIO, "%s: cannot run it: %s", s->desc, strerror(rc));
	}
	jfs_strbuf_init(&out);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	for (;;) {
		int64_t left = deadline - jfs_mono_ms();

		if (left <= 0) {
			kill(pid, SIGKILL);
			ret = jfs_err_set(err, EIO, "%s: no answer within %d s", s->desc,
					  PROCESS_TIMEOUT_MS / 1000);
			break;
		}
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			continue;
		n = read(fds[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out.len + n > RESP_MAX) {
			kill(pid, SIGKILL);
			ret = jfs_err_set(err, EIO, "%s: its output is too long", s->desc);
			break;
		}
		jfs_strbuf_add(&out, buf, n);
	}
	memset(buf, 0, sizeof(buf));
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!ret && (!WIFEXITED(status) || WEXITSTATUS(status)))
		ret = jfs_err_set(err, EACCES, "%s: the command failed (%s %d)", s->desc,
				  WIFEXITED(status) ? "exit status" : "signal",
				  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	if (!ret) {
		/* never quote the output: it holds the secret */
		o = json_loadb(out.buf ? out.buf : "", out.len, 0, NULL);
		if (!json_is_object(o))
			ret = jfs_err_set(err, EACCES, "%s: the output is not a JSON object",
					  s->desc);
		else if (json_integer_value(json_object_get(o, "Version")) != 1)
			ret = jfs_err_set(err, EACCES, "%s: the output's Version is not 1", s->desc);
		else
			ret = keys_from_json(o, "AccessKeyId", "SecretAccessKey", "SessionToken",
					     "Expiration", k, s->desc, err);
	}
	json_decref(o);
	wipe(&out);
	return ret;
}

static int fetch(struct jfs_aws_provider *p, const struct src *s, struct keys *k, int depth,
		 struct jfs_err *err)
{
	memset(k, 0, sizeof(*k));
	if (depth > CHAIN_DEPTH_MAX)
		return jfs_err_set(err, EACCES, "%s: role chain too long", s->desc);
	switch (s->kind) {
	case SRC_STATIC:
		k->id = xstrdup(s->key_id);
		k->secret = xstrdup(s->secret);
		k->token = xstrdup(s->token);
		return 0;
	case SRC_WEB_IDENTITY:
		return fetch_web_identity(p, s, k, err);
	case SRC_PROCESS:
		return fetch_process(p, s, k, err);
	case SRC_ASSUME_ROLE:
		return fetch_assume_role(p, s, k, depth, err);
	case SRC_SSO:
		return fetch_sso(p, s, k, err);
	case SRC_CONTAINER:
		return fetch_container(p, s, k, err);
	case SRC_IMDS:
		return fetch_imds(p, s, k, err);
	}
	return jfs_err_set(err, EINVAL, "unknown credential source");
}

/* ---- resolving the chain: environment and files only, no network ---- */

struct files {
	char *cred_path, *conf_path;
	json_t *cred, *conf; /* NULL when unreadable */
};

static const char *pget(const struct files *f, const char *profile, const char *key)
{
	const char *v = json_string_value(json_object_get(json_object_get(f->cred, profile), key));

	if (v)
		return v;
	return json_string_value(json_object_get(json_object_get(f->conf, profile), key));
}

static bool imds_disabled(void)
{
	const char *v = jfs_aws_env("AWS_EC2_METADATA_DISABLED");

	return v && !strcasecmp(v, "true");
}

static struct src *src_imds(void)
{
	struct src *s = src_new(SRC_IMDS);
	const char *e = jfs_aws_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = jfs_aws_env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	size_t n;

	if (e)
		s->imds = xstrdup(e);
	else if (mode && !strcasecmp(mode, "IPv6"))
		s->imds = xstrdup("http://[fd00:ec2::254]");
	else
		s->imds = xstrdup(IMDS_DEFAULT);
	n = strlen(s->imds);
	while (n > 0 && s->imds[n - 1] == '/')
		s->imds[--n] = '\0';
	s->desc = xprintf("EC2 instance metadata (IMDSv2) at %s", s->imds);
	return s;
}

/* Whether an http:// container URL names a host the SDKs allow (loopback, ECS, EKS). */
static bool container_host_ok(const char *url)
{
	static const char *const ok[] = {
		"http://127.", "http://localhost:", "http://localhost/", "http://[::1]",
		"http://169.254.170.2:", "http://169.254.170.2/", "http://169.254.170.23:",
		"http://169.254.170.23/", "http://[fd00:ec2::23]", NULL,
	};
	size_t i;

	if (!strncmp(url, "https://", 8))
		return true;
	for (i = 0; ok[i]; i++)
		if (!strncmp(url, ok[i], strlen(ok[i])))
			return true;
	return !strcmp(url, "http://localhost") || !strcmp(url, "http://169.254.170.2");
}

/* The container source when its variables are set; NULL (and maybe an error) when not. */
static struct src *src_container(struct jfs_err *err, int *ret)
{
	const char *rel = jfs_aws_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = jfs_aws_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	struct src *s;

	*ret = 0;
	if (!rel && !full)
		return NULL;
	if (!rel && !container_host_ok(full)) {
		*ret = jfs_err_set(err, EACCES, "AWS_CONTAINER_CREDENTIALS_FULL_URI '%s' is not "
				   "https and not a loopback or ECS/EKS address", full);
		return NULL;
	}
	s = src_new(SRC_CONTAINER);
	s->url = rel ? xprintf("%s%s", ECS_HOST, rel) : xstrdup(full);
	s->auth_file = xstrdup(jfs_aws_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
	if (!s->auth_file)
		s->auth = xstrdup(jfs_aws_env("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
	s->desc = xprintf("container credentials at %s", s->url);
	return s;
}

static char *session_name(const char *given)
{
	if (given && *given)
		return xstrdup(given);
	return xprintf("jovofs-%lld", (long long)(jfs_now_ms() / 1000));
}

static const char *region_for_sts(const struct files *f, const char *profile)
{
	const char *v;

	if ((v = jfs_aws_env("AWS_REGION")) || (v = jfs_aws_env("AWS_DEFAULT_REGION")))
		return v;
	if (profile && (v = pget(f, profile, "region")))
		return v;
	return "us-east-1";
}

static struct src *resolve_profile(const struct files *f, const char *name, int depth,
				   struct jfs_err *err, int *ret);

/* credential_source of a role profile */
static struct src *named_source(const struct files *f, const char *profile, const char *cs,
				struct jfs_err *err, int *ret)
{
	const char *id = jfs_aws_env("AWS_ACCESS_KEY_ID");
	const char *secret = jfs_aws_env("AWS_SECRET_ACCESS_KEY");
	struct src *s;

	*ret = 0;
	if (!strcmp(cs, "Environment")) {
		if (id && secret)
			return src_static(id, secret, jfs_aws_env("AWS_SESSION_TOKEN"),
					  xstrdup("env"));
		*ret = jfs_err_set(err, EACCES, "aws profile '%s': credential_source Environment, "
				   "but AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set", profile);
		return NULL;
	}
	if (!strcmp(cs, "Ec2InstanceMetadata"))
		return src_imds();
	if (!strcmp(cs, "EcsContainer")) {
		s = src_container(err, ret);
		if (!s && !*ret)
			*ret = jfs_err_set(err, EACCES, "aws profile '%s': credential_source "
					   "EcsContainer, but AWS_CONTAINER_CREDENTIALS_RELATIVE_URI "
					   "and _FULL_URI are not set", profile);
		return s;
	}
	*ret = jfs_err_set(err, EINVAL, "aws profile '%s': unknown credential_source '%s' "
			   "(Environment, Ec2InstanceMetadata or EcsContainer)", profile, cs);
	return NULL;
}

static struct src *profile_static(const struct files *f, const char *name)
{
	json_t *cp = json_object_get(f->cred, name), *fp = json_object_get(f->conf, name);
	const char *id, *secret;

	id = json_string_value(json_object_get(cp, "aws_access_key_id"));
	secret = json_string_value(json_object_get(cp, "aws_secret_access_key"));
	if (id && secret)
		return src_static(id, secret,
				  json_string_value(json_object_get(cp, "aws_session_token")),
				  xprintf("profile %s from %s", name, f->cred_path));
	id = json_string_value(json_object_get(fp, "aws_access_key_id"));
	secret = json_string_value(json_object_get(fp, "aws_secret_access_key"));
	if (id && secret)
		return src_static(id, secret,
				  json_string_value(json_object_get(fp, "aws_session_token")),
				  xprintf("profile %s from %s", name, f->conf_path));
	return NULL;
}

static struct src *resolve_profile(const struct files *f, const char *name, int depth,
				   struct jfs_err *err, int *ret)
{
	const char *role = pget(f, name, "role_arn"), *sp = pget(f, name, "source_profile");
	const char *cs = pget(f, name, "credential_source"), *v;
	struct src *s, *src;

	*ret = 0;
	if (!json_object_get(f->cred, name) && !json_object_get(f->conf, name)) {
		*ret = jfs_err_set(err, EACCES, "aws profile '%s' not found in '%s' or '%s'", name,
				   f->cred_path, f->conf_path);
		return NULL;
	}
	if (depth > CHAIN_DEPTH_MAX) {
		*ret = jfs_err_set(err, EACCES, "aws profile '%s': source_profile chain too long "
				   "or circular", name);
		return NULL;
	}
	/* a role's source profile gives its own keys first (as the SDKs do) */
	if (depth > 0 && (s = profile_static(f, name)))
		return s;
	if (role && (sp || cs)) {
		if (sp && cs) {
			*ret = jfs_err_set(err, EINVAL, "aws profile '%s' has both source_profile "
					   "and credential_source", name);
			return NULL;
		}
		if (sp && !strcmp(sp, name)) {
			src = profile_static(f, name);
			if (!src)
				*ret = jfs_err_set(err, EACCES, "aws profile '%s' is its own "
						   "source_profile but has no keys", name);
		} else if (sp) {
			src = resolve_profile(f, sp, depth + 1, err, ret);
		} else {
			src = named_source(f, name, cs, err, ret);
		}
		if (!src)
			return NULL;
		s = src_new(SRC_ASSUME_ROLE);
		s->source = src;
		s->role_arn = xstrdup(role);
		s->session_name = session_name(pget(f, name, "role_session_name"));
		s->external_id = xstrdup(pget(f, name, "external_id"));
		v = pget(f, name, "duration_seconds");
		s->duration_s = v ? strtol(v, NULL, 10) : 0;
		s->sts_region = xstrdup(region_for_sts(f, name));
		s->desc = xprintf("profile %s: role %s assumed with %s", name, role, src->desc);
		return s;
	}
	if ((s = profile_static(f, name)))
		return s;
	if ((v = pget(f, name, "web_identity_token_file")) && role) {
		s = src_new(SRC_WEB_IDENTITY);
		s->token_file = xstrdup(v);
		s->role_arn = xstrdup(role);
		s->session_name = session_name(pget(f, name, "role_session_name"));
		s->sts_region = xstrdup(region_for_sts(f, name));
		s->desc = xprintf("profile %s: web identity token file %s for role %s", name, v,
				  role);
		return s;
	}
	if ((v = pget(f, name, "credential_process"))) {
		s = src_new(SRC_PROCESS);
		s->command = xstrdup(v);
		s->desc = xprintf("profile %s: credential_process", name);
		return s;
	}
	if (pget(f, name, "sso_session") || pget(f, name, "sso_start_url") ||
	    pget(f, name, "sso_account_id")) {
		const char *sess = pget(f, name, "sso_session"), *url, *reg;
		char sect[256];

		if (sess) {
			snprintf(sect, sizeof(sect), "sso-session %s", sess);
			url = json_string_value(json_object_get(json_object_get(f->conf, sect),
								"sso_start_url"));
			reg = json_string_value(json_object_get(json_object_get(f->conf, sect),
								"sso_region"));
		} else {
			url = pget(f, name, "sso_start_url");
			reg = pget(f, name, "sso_region");
		}
		if (!url || !reg || !pget(f, name, "sso_account_id") ||
		    !pget(f, name, "sso_role_name")) {
			*ret = jfs_err_set(err, EINVAL, "aws profile '%s': SSO needs sso_start_url "
					   "and sso_region (in the profile or its [sso-session %s]), "
					   "sso_account_id and sso_role_name", name, sess ? sess : "NAME");
			return NULL;
		}
		s = src_new(SRC_SSO);
		s->sso_start_url = xstrdup(url);
		s->sso_region = xstrdup(reg);
		s->sso_account = xstrdup(pget(f, name, "sso_account_id"));
		s->sso_role = xstrdup(pget(f, name, "sso_role_name"));
		/* the AWS CLI names its token cache by the session's name, or the start URL */
		s->sso_cache = xstrdup(sess ? sess : url);
		s->desc = xprintf("profile %s: SSO role %s of account %s", name, s->sso_role,
				  s->sso_account);
		return s;
	}
	*ret = jfs_err_set(err, EACCES, "aws profile '%s' has no credentials jovofs can use "
			   "(keys, role_arn with source_profile or credential_source, "
			   "web_identity_token_file, credential_process, sso_*)", name);
	return NULL;
}

static char *shared_path(const char *env, const char *rel)
{
	const char *v = jfs_aws_env(env);
	char *home, *p;

	if (v && !(v[0] == '~' && v[1] == '/'))
		return xstrdup(v);
	home = home_dir();
	p = xprintf("%s/%s", home, v ? v + 2 : rel);
	free(home);
	return p;
}

/* The source the chain gives now; NULL and -errno in *@ret when none. */
static struct src *resolve_chain(struct jfs_err *err, int *ret)
{
	const char *id = jfs_aws_env("AWS_ACCESS_KEY_ID");
	const char *secret = jfs_aws_env("AWS_SECRET_ACCESS_KEY");
	const char *tf = jfs_aws_env("AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *role = jfs_aws_env("AWS_ROLE_ARN");
	const char *prof_env = jfs_aws_env("AWS_PROFILE");
	const char *profile = prof_env ? prof_env : "default";
	struct files f = { 0 };
	struct src *s = NULL;

	*ret = 0;
	/* 1. environment keys */
	if (id && secret)
		return src_static(id, secret, jfs_aws_env("AWS_SESSION_TOKEN"), xstrdup("env"));
	/* 2. web identity from the environment (EKS) */
	f.cred_path = shared_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
	f.conf_path = shared_path("AWS_CONFIG_FILE", ".aws/config");
	f.cred = jfs_aws_ini_load(f.cred_path, false);
	f.conf = jfs_aws_ini_load(f.conf_path, true);
	if (tf && role) {
		s = src_new(SRC_WEB_IDENTITY);
		s->token_file = xstrdup(tf);
		s->role_arn = xstrdup(role);
		s->session_name = session_name(jfs_aws_env("AWS_ROLE_SESSION_NAME"));
		s->sts_region = xstrdup(region_for_sts(&f, NULL));
		s->desc = xprintf("web identity token file %s for role %s "
				  "(AWS_WEB_IDENTITY_TOKEN_FILE)", tf, role);
		goto out;
	}
	/* 3. the shared profile: an explicit AWS_PROFILE must work, "default" may be absent */
	if (prof_env || json_object_get(f.cred, profile) || json_object_get(f.conf, profile)) {
		s = resolve_profile(&f, profile, 0, err, ret);
		goto out;
	}
	/* 4. container credentials (ECS, EKS Pod Identity) */
	s = src_container(err, ret);
	if (s || *ret)
		goto out;
	/* 5. EC2 instance metadata, the last resort */
	if (!imds_disabled()) {
		s = src_imds();
		goto out;
	}
	*ret = jfs_err_set(err, EACCES, "no aws credentials (instance metadata is off: "
			   "AWS_EC2_METADATA_DISABLED): looked at AWS_ACCESS_KEY_ID, "
			   "AWS_WEB_IDENTITY_TOKEN_FILE, AWS_CONTAINER_CREDENTIALS_*, profile '%s' "
			   "in '%s' and '%s'", profile, f.cred_path, f.conf_path);
out:
	json_decref(f.cred);
	json_decref(f.conf);
	free(f.cred_path);
	free(f.conf_path);
	return s;
}

/* ---- the provider ---- */

static bool is_network(const struct src *s)
{
	return s->kind != SRC_STATIC;
}

int jfs_aws_provider_new(struct jfs_aws_provider **out, const struct jfs_aws_cred *explicit_keys,
			 int64_t timeout_ms, struct jfs_err *err)
{
	struct jfs_aws_provider *p = calloc(1, sizeof(*p));
	struct src *s;
	int ret = 0;

	*out = NULL;
	if (!p)
		abort();
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	if (explicit_keys) {
		p->explicit_src = src_static(explicit_keys->access_key_id,
					     explicit_keys->secret_access_key,
					     explicit_keys->session_token,
					     xstrdup(explicit_keys->source ? explicit_keys->source :
						     "config file"));
		s = p->explicit_src;
	} else {
		s = resolve_chain(err, &ret);
		if (!s) {
			jfs_aws_provider_free(p);
			return ret ? ret : jfs_err_set(err, EACCES, "no aws credentials");
		}
	}
	p->src = s;
	/* keys that need no network are there at once */
	if (!is_network(s)) {
		fetch(p, s, &p->cur, 0, err);
		p->fetched_at = jfs_mono_ms();
		p->have = true;
		p->gen = 1;
	}
	*out = p;
	return 0;
}

void jfs_aws_provider_free(struct jfs_aws_provider *p)
{
	struct src *s, *next;

	if (!p)
		return;
	if (p->src != p->explicit_src)
		src_free(p->src);
	src_free(p->explicit_src);
	for (s = p->retired; s; s = next) {
		next = s->retired_next;
		src_free(s);
	}
	keys_release(&p->cur);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void jfs_aws_provider_source(struct jfs_aws_provider *p, char *buf, size_t size)
{
	pthread_mutex_lock(&p->lock);
	snprintf(buf, size, "%s", p->src->desc);
	pthread_mutex_unlock(&p->lock);
}

/* Under lock: copy the current keys into @c. */
static void copy_out(struct jfs_aws_provider *p, struct jfs_aws_cred *c)
{
	memset(c, 0, sizeof(*c));
	jfs_aws_cred_set(c, p->cur.id, p->cur.secret, p->cur.token, p->src->desc);
	c->gen = p->gen;
}

int jfs_aws_provider_get(struct jfs_aws_provider *p, struct jfs_aws_cred *c, struct jfs_err *err)
{
	const struct src *s;
	struct keys k;
	struct jfs_err e;
	int64_t now;
	bool valid, due, first;
	char when[32];
	int ret;

	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&p->lock);
	for (;;) {
		now = jfs_now_ms();
		valid = p->have && (!p->cur.expires_ms || now < p->cur.expires_ms);
		due = !valid || (p->cur.expires_ms && now >= p->cur.expires_ms - REFRESH_WINDOW_MS &&
				 jfs_mono_ms() - p->fetched_at >= REFRESH_MIN_MS);
		if (valid && !due)
			break;
		if (p->fetching) {
			/* one fetch for everyone: use the old keys meanwhile, or wait */
			if (valid)
				break;
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		if (jfs_mono_ms() < p->retry_at) {
			if (valid)
				break;
			ret = jfs_err_set(err, p->last_err.code, "%s", p->last_err.msg);
			pthread_mutex_unlock(&p->lock);
			return ret;
		}
		p->fetching = true;
		s = p->src;
		first = !p->have;
		pthread_mutex_unlock(&p->lock);

		jfs_err_clear(&e);
		ret = fetch(p, s, &k, 0, &e);

		pthread_mutex_lock(&p->lock);
		p->fetching = false;
		pthread_cond_broadcast(&p->cond);
		if (p->src != s) {
			/* a reload replaced the source meanwhile: its keys, not these */
			keys_release(&k);
			continue;
		}
		if (ret) {
			p->failures++;
			p->last_err = e;
			p->retry_at = jfs_mono_ms() + (valid ? RETRY_WHILE_VALID_MS : RETRY_EXPIRED_MS);
			jfs_log(valid ? LOG_WARNING : LOG_ERR, "aws credentials: %s%s", e.msg,
				valid ? " (the current ones stay in use while they are valid)" : "");
			if (valid)
				break;
			ret = jfs_err_set(err, e.code, "%s", e.msg);
			pthread_mutex_unlock(&p->lock);
			return ret;
		}
		keys_release(&p->cur);
		p->cur = k;
		p->fetched_at = jfs_mono_ms();
		p->have = true;
		p->gen++;
		p->refreshes++;
		p->retry_at = 0;
		if (k.expires_ms)
			jfs_iso_format(k.expires_ms, when);
		jfs_log(LOG_INFO, "aws credentials %s %s%s%s", first ? "from" : "refreshed from",
			s->desc, k.expires_ms ? ", valid until " : "", k.expires_ms ? when : "");
		break; /* fresh keys, whatever their lifetime */
	}
	copy_out(p, c);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void jfs_aws_provider_expired(struct jfs_aws_provider *p, uint64_t gen)
{
	pthread_mutex_lock(&p->lock);
	if (gen == p->gen && p->have) {
		jfs_log(LOG_WARNING, "aws credentials from %s were refused as expired: refreshing",
			p->src->desc);
		/* fetch again before the next request, whatever the expiry said */
		p->cur.expires_ms = 1;
		p->retry_at = 0;
	}
	pthread_mutex_unlock(&p->lock);
}

int jfs_aws_provider_reload(struct jfs_aws_provider *p, struct jfs_err *err)
{
	struct jfs_aws_cred c;
	struct src *s;
	int ret = 0;

	if (!p->explicit_src) {
		s = resolve_chain(err, &ret);
		if (!s)
			return ret;
		pthread_mutex_lock(&p->lock);
		/* a fetch in flight may still use the old one: keep it until the end */
		p->src->retired_next = p->retired;
		p->retired = p->src;
		p->src = s;
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_lock(&p->lock);
	p->cur.expires_ms = 1;
	p->retry_at = 0;
	pthread_mutex_unlock(&p->lock);
	ret = jfs_aws_provider_get(p, &c, err);
	jfs_aws_cred_release(&c);
	return ret;
}

void jfs_aws_provider_stats(struct jfs_aws_provider *p, struct jfs_aws_provider_stats *st)
{
	pthread_mutex_lock(&p->lock);
	st->refreshes = p->refreshes;
	st->failures = p->failures;
	st->expires_ms = p->have ? p->cur.expires_ms : -1;
	st->session_token = p->have && p->cur.token;
	pthread_mutex_unlock(&p->lock);
}

int jfs_aws_imds_region(struct jfs_aws_provider *p, char **region, struct jfs_err *err)
{
	struct src *s;
	struct jfs_strbuf body;
	int ret;

	*region = NULL;
	if (imds_disabled())
		return jfs_err_set(err, ENOENT, "instance metadata is disabled");
	s = src_imds();
	jfs_strbuf_init(&body);
	ret = imds_get(p, s->imds, "/latest/meta-data/placement/region", &body, s->desc, err);
	if (!ret && (!body.len || strpbrk(body.buf, " \r\n/")))
		ret = jfs_err_set(err, EIO, "%s: no region in the answer", s->desc);
	if (!ret)
		*region = xstrdup(body.buf);
	jfs_strbuf_release(&body);
	src_free(s);
	return ret;
}
