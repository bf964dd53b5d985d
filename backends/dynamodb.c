/*
 * DynamoDb backend: Jovo's @jovotech/db-dynamodb table, spoken to over
 * DynamoDB's JSON API with libcurl, signed with SigV4 by libcurl itself
 * (CURLOPT_AWS_SIGV4). No AWS SDK.
 *
 * Every FUSE thread takes an easy handle from a small pool; the handles
 * share DNS, TLS sessions and connections through one CURLSH with a mutex
 * per shared data kind.
 */
#include "backends/dynamodb.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "backends/aws_cred.h"
#include "backends/dynamodb_marshal.h"
#include "common/clock.h"
#include "common/hmap.h"
#include "common/isotime.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "config.h"

extern const struct jfs_backend_ops jfs_backend_dynamodb;

#define DDB_TARGET_PREFIX "DynamoDB_20120810."
#define DDB_POOL_MAX 32
#define DDB_REF_CACHE_MAX 16384
#define DDB_RESP_MAX (64u << 20)
#define DDB_BACKOFF_BASE_MS 25
#define DDB_BACKOFF_CAP_MS 2000
#define DDB_TABLE_WAIT_MS 120000
#define DDB_SEGMENTS 4          /* default TotalSegments: see bench/RESULTS.md */
#define DDB_SEGMENTS_MAX 64     /* each is a thread and a connection */
#define DDB_FIRST_PAGE 500      /* items of a listing's first Scan page per segment */
/* Scan pages one segment reads at most: 1 TB of 1 MB pages (more: raise totalSegments) */
#define DDB_SCAN_PAGES_MAX 1000000

enum ddb_op {
	DDB_GET,
	DDB_PUT,
	DDB_UPDATE,
	DDB_DELETE,
	DDB_SCAN,
	DDB_DESCRIBE_TABLE,
	DDB_CREATE_TABLE,
};

static const char *const op_names[] = {
	[DDB_GET] = "GetItem",
	[DDB_PUT] = "PutItem",
	[DDB_UPDATE] = "UpdateItem",
	[DDB_DELETE] = "DeleteItem",
	[DDB_SCAN] = "Scan",
	[DDB_DESCRIBE_TABLE] = "DescribeTable",
	[DDB_CREATE_TABLE] = "CreateTable",
};

struct ddb_conn {
	CURL *curl;
	struct ddb_conn *next;
	char errbuf[CURL_ERROR_SIZE];
};

struct ddb_store {
	struct jfs_store base;
	struct jfs_store_options opts;

	char *table;
	char *pk;
	bool create_table;
	char *billing_mode; /* "PROVISIONED" or "PAY_PER_REQUEST" */
	int64_t rcu, wcu;
	unsigned segments; /* a listing's or find's parallel Scan segments (TotalSegments) */
	enum jfs_list_times list_times; /* a listing also projects createdAt, updatedAt */
	int64_t users;     /* atomic: items in the table as last seen (a whole listing, else
			    * DescribeTable's ItemCount), -1: not known; for list_times */
	char *region;
	char *endpoint; /* as configured, for messages and describe() */
	char *url;      /* endpoint with a path */
	char *sigv4;    /* "aws:amz:REGION:dynamodb" */
	struct jfs_aws_cred cred; /* the region and where it came from; no keys */
	struct jfs_aws_provider *creds; /* the keys, refreshed (thread-safe) */
	char *endpoint_conf; /* the configured endpoint, NULL: from the region (set at start) */

	/* from start() on */
	bool curl_ready;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	struct ddb_conn *idle;
	size_t n_idle;

	/*
	 * id -> the typed item last read or written (an attribute map), or
	 * json null when a fresh marshal of the plain item reproduces it
	 * exactly; see jfs_ddb_needs_ref(). Values are never modified once
	 * stored, only replaced.
	 */
	pthread_mutex_t refs_lock;
	json_t *refs;
};

/** One HTTP exchange. */
struct ddb_resp {
	CURLcode cc;
	long status;
	const char *curl_msg; /* borrowed from the connection's error buffer copy */
	char errbuf[CURL_ERROR_SIZE];
	json_t *body;         /* parsed answer, NULL when none or not JSON */
	const char *type;     /* __type after '#', borrowed from body */
	const char *message;  /* borrowed from body */
};

static void set_region(struct ddb_store *s, const char *region);

static struct ddb_store *ddb_from_store(struct jfs_store *st)
{
	assert(st && st->ops == &jfs_backend_dynamodb);
	return (struct ddb_store *)st;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

/* ---- the one place DynamoDB's and curl's errors become errno ---- */

static bool type_is(const char *type, const char *const *list)
{
	for (; type && *list; list++)
		if (!strcmp(type, *list))
			return true;
	return false;
}

static const char *const throttle_types[] = {
	"ProvisionedThroughputExceededException", "ThrottlingException",
	"RequestLimitExceeded", "LimitExceededException", "TooManyRequestsException", NULL,
};

static const char *const credential_types[] = {
	"UnrecognizedClientException", "InvalidSignatureException", "AccessDeniedException",
	"MissingAuthenticationTokenException", "IncompleteSignatureException",
	"ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch",
	"MissingAuthenticationToken", "AuthFailure", NULL,
};

static const char *const transient_types[] = {
	"InternalServerError", "InternalFailure", "ServiceUnavailable",
	"TransactionConflictException", "TransactionInProgressException", NULL,
};

/*
 * Map one answer (or curl failure) of @op to 0 or -errno. *@retry says
 * whether trying again may help, *@throttled whether DynamoDB asked us to
 * slow down. Expected outcomes of conditional requests (an item that
 * exists or not) map to -EEXIST/-ENOENT/-ECANCELED and are not retried.
 */
static int ddb_map_error(const struct ddb_store *s, enum ddb_op op, const struct ddb_resp *r,
			 bool *retry, bool *throttled, struct jfs_err *err)
{
	const char *type = r->type, *msg = r->message ? r->message : "";

	*retry = false;
	*throttled = false;
	if (r->cc != CURLE_OK) {
		switch (r->cc) {
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
		case CURLE_NOT_BUILT_IN:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_OUT_OF_MEMORY:
		case CURLE_FILESIZE_EXCEEDED:
			break;
		default:
			*retry = true;
		}
		return jfs_err_set(err, EIO, "cannot reach dynamodb at '%s': %s", s->endpoint,
				   r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->cc));
	}
	if (r->status >= 200 && r->status < 300) {
		if (!r->body)
			return jfs_err_set(err, EIO, "malformed %s answer from '%s'",
					   op_names[op], s->endpoint);
		return 0;
	}
	if (type && !strcmp(type, "ConditionalCheckFailedException")) {
		if (op == DDB_PUT)
			return jfs_err_set(err, EEXIST, "item exists");
		if (op == DDB_DELETE)
			return jfs_err_set(err, ENOENT, "no such item");
		return jfs_err_set(err, ECANCELED, "the stored item changed meanwhile");
	}
	if (type_is(type, throttle_types)) {
		*retry = true;
		*throttled = true;
		return jfs_err_set(err, EAGAIN, "dynamodb throttled %s on table '%s': %s: %s",
				   op_names[op], s->table, type, msg);
	}
	if (type_is(type, credential_types) || r->status == 401 || r->status == 403) {
		char src[256];

		jfs_aws_provider_source(s->creds, src, sizeof(src));
		return jfs_err_set(err, EACCES,
				   "dynamodb refused the credentials from %s: %s: %s",
				   src, type ? type : "http 403", msg);
	}
	if (type && !strcmp(type, "ResourceNotFoundException")) {
		if (op == DDB_DESCRIBE_TABLE)
			return jfs_err_set(err, ENOENT, "table '%s' not found", s->table);
		return jfs_err_set(err, EIO, "table '%s' not found at '%s'", s->table,
				   s->endpoint);
	}
	if (type && !strcmp(type, "ResourceInUseException") && op == DDB_CREATE_TABLE)
		return jfs_err_set(err, EEXIST, "table '%s' exists", s->table);
	if (type && !strcmp(type, "ValidationException")) {
		/* "Item size has exceeded the maximum allowed size", "... to update ..." */
		if (strstr(msg, "size") || strstr(msg, "Size"))
			return jfs_err_set(err, EFBIG, "dynamodb refused the item as too big: %s",
					   msg);
		return jfs_err_set(err, EINVAL, "dynamodb refused %s: %s", op_names[op], msg);
	}
	if (r->status == 413)
		return jfs_err_set(err, EFBIG, "dynamodb refused the request as too big");
	if (r->status >= 500 || type_is(type, transient_types)) {
		*retry = true;
		return jfs_err_set(err, EIO, "dynamodb at '%s' failed: http %ld%s%s%s%s",
				   s->endpoint, r->status, type ? ": " : "", type ? type : "",
				   *msg ? ": " : "", msg);
	}
	return jfs_err_set(err, EIO, "dynamodb %s failed: http %ld%s%s%s%s", op_names[op],
			   r->status, type ? ": " : "", type ? type : "", *msg ? ": " : "", msg);
}

/* ---- curl: share, pool, one request ---- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *user)
{
	struct ddb_store *s = user;

	pthread_mutex_lock(&s->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *user)
{
	struct ddb_store *s = user;

	pthread_mutex_unlock(&s->share_locks[data]);
}

static int ddb_curl_setup(struct ddb_store *s, struct jfs_err *err)
{
	CURLcode cc;
	int i;

	if (s->curl_ready)
		return 0;
	cc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (cc != CURLE_OK)
		return jfs_err_set(err, EIO, "cannot set up libcurl: %s", curl_easy_strerror(cc));
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->share_locks[i], NULL);
	s->share = curl_share_init();
	if (!s->share)
		goto out_cleanup;
	curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
	curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	s->curl_ready = true;
	return 0;
out_cleanup:
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s->share_locks[i]);
	curl_global_cleanup();
	return jfs_err_set(err, ENOMEM, "cannot set up a libcurl share");
}

static void ddb_curl_teardown(struct ddb_store *s)
{
	struct ddb_conn *c, *next;
	int i;

	if (!s->curl_ready)
		return;
	for (c = s->idle; c; c = next) {
		next = c->next;
		curl_easy_cleanup(c->curl);
		free(c);
	}
	s->idle = NULL;
	s->n_idle = 0;
	if (curl_share_cleanup(s->share) != CURLSHE_OK)
		jfs_log(LOG_WARNING, "cannot free the libcurl share");
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s->share_locks[i]);
	curl_global_cleanup();
	s->curl_ready = false;
}

static size_t write_cb(char *data, size_t size, size_t n, void *user)
{
	struct jfs_strbuf *sb = user;

	if (sb->len + size * n > DDB_RESP_MAX)
		return 0;
	jfs_strbuf_add(sb, data, size * n);
	return size * n;
}

static struct ddb_conn *pool_get(struct ddb_store *s)
{
	struct ddb_conn *c;

	pthread_mutex_lock(&s->pool_lock);
	c = s->idle;
	if (c) {
		s->idle = c->next;
		s->n_idle--;
	}
	pthread_mutex_unlock(&s->pool_lock);
	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		return NULL;
	}
	curl_easy_setopt(c->curl, CURLOPT_SHARE, s->share);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "jovofs/" JFS_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_URL, s->url);
	curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(c->curl, CURLOPT_AWS_SIGV4, s->sigv4);
	return c;
}

static void pool_put(struct ddb_store *s, struct ddb_conn *c)
{
	pthread_mutex_lock(&s->pool_lock);
	if (s->n_idle < DDB_POOL_MAX) {
		c->next = s->idle;
		s->idle = c;
		s->n_idle++;
		c = NULL;
	}
	pthread_mutex_unlock(&s->pool_lock);
	if (c) {
		curl_easy_cleanup(c->curl);
		free(c);
	}
}

/*
 * POST @body once. Fills @r (release r->body); returns -ENOMEM only when
 * no handle could be made, every other outcome is in @r.
 */
static int ddb_http(struct ddb_store *s, const struct jfs_aws_cred *cred, const char *op,
		    const char *body, size_t len, const char *const *extra, struct ddb_resp *r,
		    char **raw)
{
	struct curl_slist *hdrs = NULL, *tmp;
	struct jfs_strbuf sb, line;
	struct ddb_conn *c;
	const char *t;
	int64_t timeout = s->opts.timeout_ms > 0 ? s->opts.timeout_ms : 10000;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	c = pool_get(s);
	if (!c)
		return -ENOMEM;
	jfs_strbuf_init(&sb);
	jfs_strbuf_init(&line);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/x-amz-json-1.0");
	jfs_strbuf_addf(&line, "X-Amz-Target: " DDB_TARGET_PREFIX "%s", op);
	hdrs = curl_slist_append(hdrs, line.buf);
	if (cred->session_token) {
		jfs_strbuf_setlen(&line, 0);
		jfs_strbuf_addf(&line, "X-Amz-Security-Token: %s", cred->session_token);
		hdrs = curl_slist_append(hdrs, line.buf);
		memset(line.buf, 0, line.len);
	}
	for (; extra && *extra; extra++)
		hdrs = curl_slist_append(hdrs, *extra);
	if (!hdrs) {
		ret = -ENOMEM;
		goto out_put;
	}
	c->errbuf[0] = '\0';
	/* the keys of this request: they may have been refreshed since the last one */
	curl_easy_setopt(c->curl, CURLOPT_USERNAME, cred->access_key_id);
	curl_easy_setopt(c->curl, CURLOPT_PASSWORD, cred->secret_access_key);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &sb);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)timeout);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
	r->cc = curl_easy_perform(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, NULL);
	if (r->cc != CURLE_OK) {
		snprintf(r->errbuf, sizeof(r->errbuf), "%s",
			 c->errbuf[0] ? c->errbuf : curl_easy_strerror(r->cc));
		goto out_put;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
	r->body = json_loadb(sb.buf, sb.len, JSON_ALLOW_NUL, NULL);
	if (json_is_object(r->body)) {
		t = json_string_value(json_object_get(r->body, "__type"));
		if (t)
			r->type = strrchr(t, '#') ? strrchr(t, '#') + 1 : t;
		r->message = json_string_value(json_object_get(r->body, "message"));
		if (!r->message)
			r->message = json_string_value(json_object_get(r->body, "Message"));
	}
	if (raw)
		*raw = jfs_strbuf_detach(&sb, NULL);
out_put:
	for (tmp = hdrs; cred->session_token && tmp; tmp = tmp->next)
		if (!strncmp(tmp->data, "X-Amz-Security-Token:", 21))
			memset(tmp->data, 0, strlen(tmp->data));
	curl_slist_free_all(hdrs);
	jfs_strbuf_release(&line);
	jfs_strbuf_release(&sb);
	pool_put(s, c);
	return ret;
}

/*
 * One API call with retries: throttling, 5xx and network faults are tried
 * again with exponential backoff and full jitter until opts.retry_ms has
 * passed. Returns 0 or -errno; *@out gets the answer's body whenever there
 * is one (also on errors: a failed condition carries the old item), a new
 * reference. *@unsure (may be NULL) is set when an earlier attempt may
 * have been applied although its answer was lost.
 */
static int ddb_call(struct ddb_store *s, enum ddb_op op, json_t *req, json_t **out,
		    bool *unsure, struct jfs_err *err)
{
	bool retry, throttled, maybe = false, refreshed = false;
	struct jfs_aws_cred cred;
	struct jfs_backoff b;
	uint64_t gen;
	struct ddb_resp r;
	char *body;
	int ret;

	*out = NULL;
	if (!s->curl_ready)
		return jfs_err_set(err, EIO, "dynamodb backend used before start()");
	body = json_dumps(req, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!body)
		return jfs_err_set(err, ENOMEM, "cannot encode a %s request", op_names[op]);
	jfs_backoff_init(&b, s->opts.retry_ms, DDB_BACKOFF_BASE_MS, DDB_BACKOFF_CAP_MS);
	for (;;) {
		ret = jfs_aws_provider_get(s->creds, &cred, err);
		if (ret)
			break;
		ret = ddb_http(s, &cred, op_names[op], body, strlen(body), NULL, &r, NULL);
		gen = cred.gen;
		jfs_aws_cred_release(&cred);
		if (ret) {
			jfs_err_set(err, -ret, "cannot make a libcurl handle");
			break;
		}
		ret = ddb_map_error(s, op, &r, &retry, &throttled, err);
		if (ret && !refreshed && r.type && (!strcmp(r.type, "ExpiredTokenException") ||
						    !strcmp(r.type, "ExpiredToken"))) {
			/* temporary keys that expired early: fetch new ones, once */
			jfs_aws_provider_expired(s->creds, gen);
			refreshed = true;
			json_decref(r.body);
			continue;
		}
		if (!ret || !retry) {
			*out = r.body;
			break;
		}
		json_decref(r.body);
		/* a lost answer after the request went out may hide a done write */
		if (r.cc != CURLE_COULDNT_CONNECT && r.cc != CURLE_COULDNT_RESOLVE_HOST &&
		    !throttled)
			maybe = true;
		if (!jfs_backoff_wait(&b))
			break;
		jfs_log(LOG_DEBUG, "dynamodb %s: retry %u: %s", op_names[op], b.attempt, err->msg);
	}
	free(body);
	if (unsure)
		*unsure = maybe;
	if (ret && ret != -ENOENT && ret != -EEXIST && ret != -ECANCELED)
		jfs_log(LOG_ERR, "dynamodb %s on table '%s'%s: %s", op_names[op], s->table,
			b.attempt ? " (after retries)" : "", err->msg);
	return ret;
}

/* ---- the typed-item cache that keeps unchanged numbers' digits ---- */

/* New reference: the cached typed item (json null: plain), NULL when none. */
static json_t *refs_get(struct ddb_store *s, const char *id)
{
	json_t *v;

	pthread_mutex_lock(&s->refs_lock);
	v = json_incref(json_object_get(s->refs, id));
	pthread_mutex_unlock(&s->refs_lock);
	return v;
}

/* Remember @attrs (borrowed, an attribute map) as what @id holds now. */
static void refs_put(struct ddb_store *s, const char *id, json_t *attrs)
{
	const char *key;
	json_t *v, *sub;
	bool keep = false;

	json_object_foreach(attrs, key, sub)
		if (jfs_ddb_needs_ref(sub))
			keep = true;
	v = keep ? json_incref(attrs) : json_null();
	pthread_mutex_lock(&s->refs_lock);
	if (!json_object_get(s->refs, id) && json_object_size(s->refs) >= DDB_REF_CACHE_MAX)
		/* oldest first: jansson keeps insertion order */
		json_object_del(s->refs, json_object_iter_key(json_object_iter(s->refs)));
	json_object_set_new(s->refs, id, v);
	pthread_mutex_unlock(&s->refs_lock);
}

static void refs_forget(struct ddb_store *s, const char *id)
{
	pthread_mutex_lock(&s->refs_lock);
	json_object_del(s->refs, id);
	pthread_mutex_unlock(&s->refs_lock);
}

/* ---- items ---- */

static json_t *key_of(struct ddb_store *s, const char *id)
{
	return json_pack("{s:{s:s}}", s->pk, "S", id);
}

/* New reference: the plain item of @attrs with the key column as "id", first. */
static json_t *item_from_attrs(struct ddb_store *s, const char *id, json_t *attrs,
			       struct jfs_err *err)
{
	json_t *plain, *item;
	const char *key;
	json_t *val;

	plain = jfs_ddb_unmarshal_map(attrs, err);
	if (!plain)
		return NULL;
	item = json_object();
	json_object_set_new(item, "id", json_string(id));
	json_object_foreach(plain, key, val)
		if (strcmp(key, s->pk) && strcmp(key, "id"))
			json_object_set(item, key, val);
	json_decref(plain);
	return item;
}

/* GetItem, consistent. *@attrs: new reference to the attribute map, NULL when absent. */
static int get_attrs(struct ddb_store *s, const char *id, json_t **attrs, struct jfs_err *err)
{
	json_t *req, *resp;
	int ret;

	*attrs = NULL;
	req = json_pack("{s:s, s:o, s:b}", "TableName", s->table, "Key", key_of(s, id),
			"ConsistentRead", 1);
	ret = ddb_call(s, DDB_GET, req, &resp, NULL, err);
	json_decref(req);
	if (ret)
		goto out_decref;
	*attrs = json_incref(json_object_get(resp, "Item"));
	if (*attrs && !json_is_object(*attrs)) {
		json_decref(*attrs);
		*attrs = NULL;
		ret = jfs_err_set(err, EIO, "malformed GetItem answer from '%s'", s->endpoint);
	}
out_decref:
	json_decref(resp);
	return ret;
}

static int ddb_load(struct jfs_store *st, const char *id, json_t **item, struct jfs_err *err)
{
	struct ddb_store *s = ddb_from_store(st);
	json_t *attrs;
	int ret;

	*item = NULL;
	ret = get_attrs(s, id, &attrs, err);
	if (ret)
		return ret;
	if (!attrs) {
		refs_forget(s, id);
		return jfs_err_set(err, ENOENT, "no user '%s'", id);
	}
	*item = item_from_attrs(s, id, attrs, err);
	if (*item)
		refs_put(s, id, attrs);
	else
		ret = -EIO;
	json_decref(attrs);
	return ret;
}

/* Whether the stored @attrs already show every change of @patch (a retry's lost answer). */
static bool patch_shown(struct ddb_store *s, json_t *attrs, const struct jfs_patch *patch)
{
	const char *key;
	json_t *val;
	size_t i;

	if (!attrs)
		return false;
	if (patch->set)
		json_object_foreach(patch->set, key, val)
			if (strcmp(key, "id") && strcmp(key, s->pk) &&
			    !jfs_ddb_equals_plain(json_object_get(attrs, key), val))
				return false;
	for (i = 0; i < json_array_size(patch->unset); i++)
		if (json_object_get(attrs, json_string_value(json_array_get(patch->unset, i))))
			return false;
	return true;
}

static void add_name(json_t *names, struct jfs_strbuf *ph, const char *prefix, size_t n,
		     const char *name)
{
	jfs_strbuf_setlen(ph, 0);
	jfs_strbuf_addf(ph, "#%s%zu", prefix, n);
	json_object_set_new(names, ph->buf, json_string(name));
}

static int ddb_update(struct jfs_store *st, const char *id, const struct jfs_patch *patch,
		      struct jfs_err *err)
{
	struct ddb_store *s = ddb_from_store(st);
	json_t *ref, *ref_attrs, *names, *values, *req = NULL, *resp = NULL, *m, *val, *fresh;
	struct jfs_strbuf expr, cond, ph;
	size_t n_set = 0, n_unset = 0, i;
	const char *key;
	bool unsure = false;
	int ret;

	ref = refs_get(s, id);
	if (!ref) {
		/* not read lately: fetch the typed item so unchanged numbers keep their digits */
		ret = get_attrs(s, id, &ref, err);
		if (ret)
			return ret;
		if (!ref)
			return jfs_err_set(err, ENOENT, "no user '%s'", id);
		refs_put(s, id, ref);
	}
	ref_attrs = json_is_object(ref) ? ref : NULL;

	names = json_object();
	values = json_object();
	jfs_strbuf_init(&expr);
	jfs_strbuf_init(&cond);
	jfs_strbuf_init(&ph);
	json_object_set_new(names, "#pk", json_string(s->pk));

	if (patch->set)
		json_object_foreach(patch->set, key, val) {
			if (!strcmp(key, "id") || !strcmp(key, s->pk))
				continue;
			m = jfs_ddb_marshal_loadable(val, json_object_get(ref_attrs, key), key,
						     err);
			if (!m) {
				ret = -EINVAL;
				goto out_release;
			}
			add_name(names, &ph, "s", n_set, key);
			jfs_strbuf_addf(&expr, "%s#s%zu = :s%zu", n_set ? ", " : "SET ", n_set,
					n_set);
			jfs_strbuf_setlen(&ph, 0);
			jfs_strbuf_addf(&ph, ":s%zu", n_set);
			json_object_set_new(values, ph.buf, m);
			n_set++;
		}
	for (i = 0; i < json_array_size(patch->unset); i++) {
		key = json_string_value(json_array_get(patch->unset, i));
		if (!key || !strcmp(key, "id") || !strcmp(key, s->pk))
			continue;
		add_name(names, &ph, "r", n_unset, key);
		jfs_strbuf_addf(&expr, "%s#r%zu", n_unset ? ", " : (n_set ? " REMOVE " : "REMOVE "),
				n_unset);
		n_unset++;
	}

	jfs_strbuf_addstr(&cond, "attribute_exists(#pk)");
	if (patch->cond_key && (json_is_object(patch->cond_value) ||
				json_is_array(patch->cond_value))) {
		/*
		 * A condition on a whole map or list (updatedAt disabled): DynamoDB
		 * implementations differ on comparing those in a ConditionExpression
		 * (dynalite never finds two maps equal), so check it on a consistent
		 * read; only the moment between that read and the update is open.
		 */
		json_t *now_attrs = NULL, *plain;

		ret = get_attrs(s, id, &now_attrs, err);
		if (ret)
			goto out_release;
		if (!now_attrs) {
			ret = jfs_err_set(err, ENOENT, "no user '%s'", id);
			goto out_release;
		}
		plain = item_from_attrs(s, id, now_attrs, err);
		json_decref(now_attrs);
		if (!plain) {
			ret = -EIO;
			goto out_release;
		}
		if (!jfs_patch_condition_holds(patch, plain)) {
			json_decref(plain);
			ret = jfs_err_set(err, ECANCELED, "user '%s' changed meanwhile", id);
			goto out_release;
		}
		json_decref(plain);
	} else if (patch->cond_key) {
		json_object_set_new(names, "#c", json_string(patch->cond_key));
		if (patch->cond_value) {
			m = jfs_ddb_marshal(patch->cond_value,
					    json_object_get(ref_attrs, patch->cond_key));
			if (!m) {
				ret = jfs_err_set(err, EINVAL, "bad condition value");
				goto out_release;
			}
			json_object_set_new(values, ":c", m);
			jfs_strbuf_addstr(&cond, " AND #c = :c");
		} else {
			jfs_strbuf_addstr(&cond, " AND attribute_not_exists(#c)");
		}
	}

	if (!n_set && !n_unset) {
		/* nothing to write: only say whether the condition holds */
		json_t *plain = NULL;

		json_decref(ref);
		ret = get_attrs(s, id, &ref, err);
		if (ret)
			goto out_release;
		if (!ref) {
			ret = jfs_err_set(err, ENOENT, "no user '%s'", id);
			goto out_release;
		}
		plain = item_from_attrs(s, id, ref, err);
		if (!plain) {
			ret = -EIO;
			goto out_release;
		}
		if (!jfs_patch_condition_holds(patch, plain))
			ret = jfs_err_set(err, ECANCELED, "the stored item changed meanwhile");
		json_decref(plain);
		goto out_release;
	}

	req = json_pack("{s:s, s:o, s:s, s:s, s:O, s:s, s:s}", "TableName", s->table,
			"Key", key_of(s, id), "UpdateExpression", expr.buf,
			"ConditionExpression", cond.buf, "ExpressionAttributeNames", names,
			"ReturnValues", "NONE", "ReturnValuesOnConditionCheckFailure", "ALL_OLD");
	if (json_object_size(values))
		json_object_set(req, "ExpressionAttributeValues", values);
	ret = ddb_call(s, DDB_UPDATE, req, &resp, &unsure, err);
	if (ret == -ECANCELED) {
		json_t *old = json_incref(json_object_get(resp, "Item"));

		refs_forget(s, id);
		/* older DynamoDB-likes do not return the old item: ask */
		if (!old && get_attrs(s, id, &old, err) < 0) {
			ret = -err->code;
			goto out_release;
		}
		if (!old) {
			ret = jfs_err_set(err, ENOENT, "no user '%s'", id);
		} else if (unsure && patch_shown(s, old, patch)) {
			ret = 0;
			jfs_err_clear(err);
		} else {
			ret = jfs_err_set(err, ECANCELED, "user '%s' changed meanwhile", id);
		}
		if (old)
			refs_put(s, id, old);
		json_decref(old);
		goto out_release;
	}
	if (ret)
		goto out_release;

	/* what is stored now: the old typed item with our attributes in */
	if (ref_attrs) {
		fresh = json_copy(ref_attrs);
		for (i = 0; i < n_set; i++) {
			char nm[32], vn[32];

			snprintf(nm, sizeof(nm), "#s%zu", i);
			snprintf(vn, sizeof(vn), ":s%zu", i);
			json_object_set(fresh, json_string_value(json_object_get(names, nm)),
					json_object_get(values, vn));
		}
		for (i = 0; i < n_unset; i++) {
			char nm[32];

			snprintf(nm, sizeof(nm), "#r%zu", i);
			json_object_del(fresh, json_string_value(json_object_get(names, nm)));
		}
		refs_put(s, id, fresh);
		json_decref(fresh);
	}
out_release:
	json_decref(resp);
	json_decref(req);
	json_decref(names);
	json_decref(values);
	json_decref(ref);
	jfs_strbuf_release(&expr);
	jfs_strbuf_release(&cond);
	jfs_strbuf_release(&ph);
	return ret;
}

static int ddb_create(struct jfs_store *st, const char *id, json_t *item, struct jfs_err *err)
{
	struct ddb_store *s = ddb_from_store(st);
	json_t *attrs, *plain, *req, *resp = NULL, *stored;
	bool unsure = false;
	int ret;

	plain = json_copy(item);
	json_object_del(plain, "id");
	json_object_del(plain, s->pk);
	attrs = json_object();
	json_object_set_new(attrs, s->pk, json_pack("{s:s}", "S", id));
	{
		json_t *m = jfs_ddb_marshal_map(plain, NULL);

		if (!m) {
			json_decref(plain);
			json_decref(attrs);
			return jfs_err_set(err, EINVAL, "the item holds a number dynamodb "
					   "cannot store");
		}
		json_object_update(attrs, m);
		json_decref(m);
	}
	json_decref(plain);
	req = json_pack("{s:s, s:O, s:s, s:{s:s}}", "TableName", s->table, "Item", attrs,
			"ConditionExpression", "attribute_not_exists(#pk)",
			"ExpressionAttributeNames", "#pk", s->pk);
	ret = ddb_call(s, DDB_PUT, req, &resp, &unsure, err);
	if (ret == -EEXIST) {
		jfs_err_set(err, EEXIST, "user '%s' exists", id);
		if (unsure && !get_attrs(s, id, &stored, err) && stored) {
			if (json_equal(stored, attrs)) {
				ret = 0;
				jfs_err_clear(err);
			}
			json_decref(stored);
		}
	}
	if (!ret)
		refs_put(s, id, attrs);
	json_decref(resp);
	json_decref(req);
	json_decref(attrs);
	return ret;
}

static int ddb_remove(struct jfs_store *st, const char *id, struct jfs_err *err)
{
	struct ddb_store *s = ddb_from_store(st);
	json_t *req, *resp = NULL;
	bool unsure = false;
	int ret;

	req = json_pack("{s:s, s:o, s:s, s:{s:s}}", "TableName", s->table, "Key", key_of(s, id),
			"ConditionExpression", "attribute_exists(#pk)",
			"ExpressionAttributeNames", "#pk", s->pk);
	ret = ddb_call(s, DDB_DELETE, req, &resp, &unsure, err);
	refs_forget(s, id);
	if (ret == -ENOENT) {
		if (unsure) {
			/* our own earlier attempt deleted it */
			ret = 0;
			jfs_err_clear(err);
		} else {
			jfs_err_set(err, ENOENT, "no user '%s'", id);
		}
	}
	json_decref(resp);
	json_decref(req);
	return ret;
}

static int64_t time_of(json_t *attr)
{
	json_t *val;
	int64_t ms;

	val = json_object_get(attr, "S");
	if (json_is_string(val) && jfs_iso_parse(json_string_value(val), &ms))
		return ms;
	return -1;
}

static int ddb_list(struct jfs_store *st, const char *cursor, size_t limit,
		    struct jfs_list_page *page, struct jfs_err *err)
{
	struct ddb_store *s = ddb_from_store(st);
	json_t *req, *resp = NULL, *items, *it, *start, *last;
	json_error_t jerr;
	size_t i, n = 0;
	int ret;

	memset(page, 0, sizeof(*page));
	if (!limit)
		limit = 1000;
	if (limit > 1000000)
		limit = 1000000;
	req = json_pack("{s:s, s:I, s:b, s:{s:s}}", "TableName", s->table, "Limit",
			(json_int_t)limit, "ConsistentRead", 1, "ExpressionAttributeNames", "#pk",
			s->pk);
	/* createdAt/updatedAt as the key column would name one attribute twice */
	if (!strcmp(s->pk, "createdAt") || !strcmp(s->pk, "updatedAt")) {
		json_object_set_new(req, "ProjectionExpression", json_string("#pk"));
	} else {
		json_object_set_new(req, "ProjectionExpression", json_string("#pk, #c, #u"));
		json_object_set_new(json_object_get(req, "ExpressionAttributeNames"), "#c",
				    json_string("createdAt"));
		json_object_set_new(json_object_get(req, "ExpressionAttributeNames"), "#u",
				    json_string("updatedAt"));
	}
	if (cursor) {
		start = json_loads(cursor, JSON_ALLOW_NUL, &jerr);
		if (!json_is_object(start)) {
			json_decref(start);
			ret = jfs_err_set(err, EINVAL, "bad list cursor");
			goto out_decref;
		}
		json_object_set_new(req, "ExclusiveStartKey", start);
	}
	ret = ddb_call(s, DDB_SCAN, req, &resp, NULL, err);
	if (ret)
		goto out_decref;
	items = json_object_get(resp, "Items");
	page->entries = calloc(json_array_size(items) + 1, sizeof(*page->entries));
	if (!page->entries) {
		ret = jfs_err_set(err, ENOMEM, "out of memory");
		goto out_decref;
	}
	json_array_foreach(items, i, it) {
		json_t *key = json_object_get(json_object_get(it, s->pk), "S");
		const char *id = json_string_value(key);

		if (!id) {
			jfs_log(LOG_WARNING, "table '%s': an item without a string '%s' skipped",
				s->table, s->pk);
			continue;
		}
		if (strlen(id) != json_string_length(key)) {
			jfs_log(LOG_WARNING, "table '%s': an item whose '%s' holds a NUL byte skipped "
					     "(no file name can say it)", s->table, s->pk);
			continue;
		}
		page->entries[n].id = xstrdup(id);
		page->entries[n].created_ms = time_of(json_object_get(it, "createdAt"));
		page->entries[n].updated_ms = time_of(json_object_get(it, "updatedAt"));
		n++;
	}
	page->n = n;
	last = json_object_get(resp, "LastEvaluatedKey");
	if (json_is_object(last) && json_object_size(last)) {
		page->next = json_dumps(last, JSON_COMPACT);
		if (!page->next) {
			jfs_list_page_release(page);
			ret = jfs_err_set(err, ENOMEM, "out of memory");
		}
	}
out_decref:
	json_decref(resp);
	json_decref(req);
	return ret;
}

/* ---- find: a parallel Scan with a FilterExpression ---- */

/*
 * A filter as DynamoDB expressions. Names and values are always
 * placeholders (#n0, :v0): a key may be a reserved word or hold any
 * character. A path step that is an array index also reads as a map key
 * ("0"): both readings are tried (a list's [0] and a map's .#n), as
 * JavaScript's a[0] and a["0"] are the same. What DynamoDB cannot decide
 * as JavaScript does makes the expression a superset and x->exact false:
 * the Scan then also projects the values the filter reads, and the
 * caller decides (jfs_found.item).
 *
 *   a = v     #a = :v (null: attribute_type(#a, :NULL)); DynamoDB's
 *             equality is typed, as ===
 *   a != v    NOT (a = v): true where #a is missing, as undefined !== v
 *   a?        attribute_exists(#a)
 *   a ~ s     contains(#a, :s) AND attribute_type(#a, :S) (contains() also
 *             looks into lists; ~ only into strings)
 *   a < v     (#a < :v OR (attribute_exists(#a) AND NOT attribute_type(#a,
 *             :T))), T the literal's type: JavaScript also compares across
 *             types ("600" > 500); inexact
 */
#define DDB_MAX_READINGS 8 /* 2^3: paths with more index steps are not pushed down */

struct ddb_expr {
	struct ddb_store *s;
	struct jfs_strbuf text;  /* FilterExpression */
	json_t *names;           /* ExpressionAttributeNames: placeholder -> name */
	json_t *rev;             /* name -> placeholder */
	json_t *values;          /* ExpressionAttributeValues */
	unsigned nvalues;
	bool exact;
};

/* The placeholder of attribute name @name (borrowed from x->rev). */
static const char *expr_name(struct ddb_expr *x, const char *name)
{
	json_t *ph = json_object_get(x->rev, name);
	char buf[32];

	if (!ph) {
		snprintf(buf, sizeof(buf), "#n%zu", json_object_size(x->names));
		json_object_set_new(x->names, buf, json_string(name));
		ph = json_string(buf);
		json_object_set_new(x->rev, name, ph);
	}
	return json_string_value(ph);
}

/* A new value placeholder for @typed (consumed), appended to x->text. */
static void expr_value(struct ddb_expr *x, json_t *typed)
{
	char buf[32];

	snprintf(buf, sizeof(buf), ":v%u", x->nvalues++);
	json_object_set_new(x->values, buf, typed);
	jfs_strbuf_addstr(&x->text, buf);
}

/* The placeholder of the type name @type for attribute_type(), appended to x->text. */
static void expr_type(struct ddb_expr *x, const char *type)
{
	char buf[32];

	snprintf(buf, sizeof(buf), ":t%s", type);
	if (!json_object_get(x->values, buf))
		json_object_set_new(x->values, buf, json_pack("{s:s}", "S", type));
	jfs_strbuf_addstr(&x->text, buf);
}

static void expr_true(struct ddb_expr *x, bool holds)
{
	jfs_strbuf_addf(&x->text, "%s(%s)", holds ? "attribute_exists" : "attribute_not_exists",
			expr_name(x, x->s->pk));
}

/*
 * The document paths that read the first @n steps of @p, one per reading
 * of its index steps, into @out (jfs_strbuf_init()ed by the caller).
 * Returns how many; 0 when @p reads nothing of the item (a step into the
 * id, or the key column's own name, which the item does not have);
 * SIZE_MAX when there are too many readings.
 */
static size_t doc_paths(struct ddb_expr *x, const struct jfs_path *p, size_t n,
			struct jfs_strbuf *out)
{
	size_t nidx = 0, i, r, nr, idx;

	if (!strcmp(p->seg[0], "id"))
		return n == 1 ? (jfs_strbuf_addstr(&out[0], expr_name(x, x->s->pk)), 1) : 0;
	if (!strcmp(p->seg[0], x->s->pk))
		return 0;
	for (i = 1; i < n; i++)
		nidx += jfs_path_index(p->seg[i], &idx);
	if ((1u << (nidx < 8 ? nidx : 8)) > DDB_MAX_READINGS)
		return SIZE_MAX;
	nr = (size_t)1 << nidx;
	for (r = 0; r < nr; r++) {
		size_t bit = 0;

		jfs_strbuf_addstr(&out[r], expr_name(x, p->seg[0]));
		for (i = 1; i < n; i++) {
			if (jfs_path_index(p->seg[i], &idx) && !((r >> bit++) & 1))
				jfs_strbuf_addf(&out[r], "[%zu]", idx);
			else
				jfs_strbuf_addf(&out[r], ".%s", expr_name(x, p->seg[i]));
		}
	}
	return nr;
}

/* The literal as an AttributeValue; NULL for a number DynamoDB cannot hold. */
static json_t *literal_av(const json_t *v)
{
	char num[32];
	double d;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_pack("{s:s%}", "S", json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
	case JSON_REAL:
		d = fabs(jfs_json_number_value(v));
		if (d != 0 && (d < 1e-130 || d >= 1e126))
			return NULL;
		jfs_json_format_number(jfs_json_number_value(v), num);
		return json_pack("{s:s}", "N", num);
	case JSON_TRUE:
	case JSON_FALSE:
		return json_pack("{s:b}", "BOOL", json_is_true(v));
	default:
		return json_pack("{s:b}", "NULL", 1);
	}
}

/*
 * Append the readings' conditions @r[0 .. @n) ORed: one as it is, several
 * in parentheses (DynamoDB refuses a parenthesis around a parenthesis).
 */
static void expr_or(struct ddb_expr *x, struct jfs_strbuf *r, size_t n)
{
	size_t i;

	if (n > 1)
		jfs_strbuf_addch(&x->text, '(');
	for (i = 0; i < n; i++)
		jfs_strbuf_addf(&x->text, "%s%s", i ? " OR " : "", r[i].buf);
	if (n > 1)
		jfs_strbuf_addch(&x->text, ')');
}

/* Append a placeholder to @r: expr_value()/expr_type() write x->text, so borrow it. */
static void reading_value(struct ddb_expr *x, struct jfs_strbuf *r, json_t *typed, const char *type)
{
	size_t mark = x->text.len;

	if (type)
		expr_type(x, type);
	else
		expr_value(x, typed);
	jfs_strbuf_add(r, x->text.buf + mark, x->text.len - mark);
	jfs_strbuf_setlen(&x->text, mark);
}

static const char *const rel_ops[] = {
	[JFS_FOP_LT] = "<", [JFS_FOP_LE] = "<=", [JFS_FOP_GT] = ">", [JFS_FOP_GE] = ">=",
};

/* One condition, appended to x->text: an operand of AND as it stands. */
static void expr_cond(struct ddb_expr *x, const struct jfs_filter_cond *c)
{
	struct jfs_strbuf paths[DDB_MAX_READINGS], r[DDB_MAX_READINGS];
	const char *type = NULL;
	json_t *av = NULL;
	size_t np, i;

	for (i = 0; i < DDB_MAX_READINGS; i++) {
		jfs_strbuf_init(&paths[i]);
		jfs_strbuf_init(&r[i]);
	}
	np = doc_paths(x, &c->path, c->path.n, paths);
	if (np == 0) {
		/* the value is undefined in every item: the condition is a constant */
		expr_true(x, jfs_filter_cond_holds(c, NULL));
		goto out_release;
	}
	if (np == SIZE_MAX) {
		x->exact = false;
		expr_true(x, true);
		goto out_release;
	}
	if (c->op != JFS_FOP_EXISTS && c->op != JFS_FOP_CONTAINS && !json_is_null(c->value))
		av = literal_av(c->value);
	switch (c->op) {
	case JFS_FOP_EXISTS:
		for (i = 0; i < np; i++)
			jfs_strbuf_addf(&r[i], "attribute_exists(%s)", paths[i].buf);
		expr_or(x, r, np);
		break;
	case JFS_FOP_EQ:
	case JFS_FOP_NE:
		if (!json_is_null(c->value) && !av) {
			/* no stored number equals it */
			expr_true(x, c->op == JFS_FOP_NE);
			break;
		}
		for (i = 0; i < np; i++) {
			if (av) {
				jfs_strbuf_addf(&r[i], "%s = ", paths[i].buf);
				reading_value(x, &r[i], json_incref(av), NULL);
			} else {
				jfs_strbuf_addf(&r[i], "attribute_type(%s, ", paths[i].buf);
				reading_value(x, &r[i], NULL, "NULL");
				jfs_strbuf_addch(&r[i], ')');
			}
		}
		if (c->op == JFS_FOP_NE)
			jfs_strbuf_addstr(&x->text, np > 1 ? "NOT " : "NOT (");
		expr_or(x, r, np);
		if (c->op == JFS_FOP_NE && np == 1)
			jfs_strbuf_addch(&x->text, ')');
		break;
	case JFS_FOP_CONTAINS:
		for (i = 0; i < np; i++) {
			bool cont = json_string_length(c->value) > 0;

			jfs_strbuf_addf(&r[i], "(attribute_type(%s, ", paths[i].buf);
			reading_value(x, &r[i], NULL, "S");
			jfs_strbuf_addf(&r[i], ") %s ", cont ? "AND contains(" : "OR");
			/* '' holds in every string (dynalite's attribute_type misses the empty one) */
			if (cont)
				jfs_strbuf_addf(&r[i], "%s, ", paths[i].buf);
			else
				jfs_strbuf_addf(&r[i], "%s = ", paths[i].buf);
			reading_value(x, &r[i], literal_av(c->value), NULL);
			jfs_strbuf_addstr(&r[i], cont ? "))" : ")");
		}
		expr_or(x, r, np);
		break;
	default:
		x->exact = false;
		if (json_is_string(c->value))
			type = "S";
		else if (json_is_number(c->value) && av)
			type = "N";
		for (i = 0; i < np; i++) {
			if (!type) {
				/* JavaScript only: booleans, null, numbers DynamoDB cannot hold */
				jfs_strbuf_addf(&r[i], "attribute_exists(%s)", paths[i].buf);
				continue;
			}
			jfs_strbuf_addf(&r[i], "(%s %s ", paths[i].buf, rel_ops[c->op]);
			reading_value(x, &r[i], json_incref(av), NULL);
			jfs_strbuf_addf(&r[i], " OR (attribute_exists(%s) AND NOT attribute_type(%s, ",
					paths[i].buf, paths[i].buf);
			reading_value(x, &r[i], NULL, type);
			jfs_strbuf_addstr(&r[i], ")))");
		}
		expr_or(x, r, np);
	}
	json_decref(av);
out_release:
	for (i = 0; i < DDB_MAX_READINGS; i++) {
		jfs_strbuf_release(&paths[i]);
		jfs_strbuf_release(&r[i]);
	}
}

/*
 * The Scan request of a find (@f NULL: the listing) without its segment
 * and start key; *@project: the entries carry partial items. New reference.
 */
static json_t *find_request(struct ddb_store *s, const struct jfs_filter *f, bool *project)
{
	struct ddb_expr x = { .s = s, .exact = true };
	struct jfs_strbuf proj;
	struct jfs_path *paths = NULL;
	json_t *req;
	size_t i, j, n;

	jfs_strbuf_init(&x.text);
	jfs_strbuf_init(&proj);
	x.names = json_object();
	x.rev = json_object();
	x.values = json_object();
	req = json_pack("{s:s, s:b}", "TableName", s->table, "ConsistentRead", 1);
	jfs_strbuf_addstr(&proj, expr_name(&x, s->pk));
	*project = false;
	if (!f) {
		/* the listing: the key, and the times ls -l shows without a load per user */
		if (jfs_list_times_want(s->list_times, __atomic_load_n(&s->users, __ATOMIC_RELAXED)) &&
		    strcmp(s->pk, "createdAt") && strcmp(s->pk, "updatedAt"))
			jfs_strbuf_addf(&proj, ", %s, %s", expr_name(&x, "createdAt"),
					expr_name(&x, "updatedAt"));
	} else {
		for (i = 0; i < f->n; i++) {
			if (i)
				jfs_strbuf_addstr(&x.text, " AND ");
			expr_cond(&x, &f->cond[i]);
		}
		*project = !x.exact || f->nneed;
		n = *project ? jfs_filter_projection(f, &paths) : 0;
		for (i = 0; i < n; i++) {
			/* the id is the key, which is projected anyway */
			if (!strcmp(paths[i].seg[0], "id") || !strcmp(paths[i].seg[0], s->pk))
				continue;
			jfs_strbuf_addf(&proj, ", %s", expr_name(&x, paths[i].seg[0]));
			for (j = 1; j < paths[i].n; j++)
				jfs_strbuf_addf(&proj, ".%s", expr_name(&x, paths[i].seg[j]));
		}
		free(paths);
		if (x.text.len)
			json_object_set_new(req, "FilterExpression", json_string(x.text.buf));
	}
	json_object_set_new(req, "ProjectionExpression", json_string(proj.buf));
	json_object_set(req, "ExpressionAttributeNames", x.names);
	if (json_object_size(x.values))
		json_object_set(req, "ExpressionAttributeValues", x.values);
	json_decref(x.names);
	json_decref(x.rev);
	json_decref(x.values);
	jfs_strbuf_release(&x.text);
	jfs_strbuf_release(&proj);
	return req;
}

/* What the segments of one find share. */
struct scan_run {
	struct ddb_store *s;
	json_t *req;           /* read-only while the segments run */
	bool listing;          /* no filter: the root's listing */
	bool auto_times;       /* a listing that projects the times by listTimes auto */
	bool project;
	jfs_found_fn *fn;
	void *data;
	int stop;              /* atomic: a segment failed, or fn asked to stop */
	int64_t found;         /* atomic: entries handed to fn */
	pthread_mutex_t lock;  /* guards ret and err */
	int ret;
	struct jfs_err err;
};

struct scan_seg {
	struct scan_run *run;
	unsigned segment;
	pthread_t thread;
};

static void scan_fail(struct scan_run *run, int ret, const struct jfs_err *err)
{
	pthread_mutex_lock(&run->lock);
	if (!run->ret) {
		run->ret = ret;
		run->err = *err;
	}
	pthread_mutex_unlock(&run->lock);
	__atomic_store_n(&run->stop, 1, __ATOMIC_RELAXED);
}

/* The entries of one page's Items (@found holds room for them). */
static int scan_page(struct scan_run *run, json_t *items, struct jfs_found *found, size_t *n,
		     struct jfs_err *err)
{
	struct ddb_store *s = run->s;
	json_t *it;
	size_t i;

	*n = 0;
	json_array_foreach(items, i, it) {
		json_t *key = json_object_get(json_object_get(it, s->pk), "S");
		const char *id = json_string_value(key);
		struct jfs_found *e = &found[*n];

		if (!id)
			continue; /* not a Jovo item: no string key */
		if (strlen(id) != json_string_length(key)) {
			/* "alice\0x" is no "alice": no file name can say it */
			jfs_log(LOG_WARNING, "table '%s': an item whose '%s' holds a NUL byte skipped",
				s->table, s->pk);
			continue;
		}
		e->id = (char *)id;
		e->created_ms = time_of(json_object_get(it, "createdAt"));
		e->updated_ms = time_of(json_object_get(it, "updatedAt"));
		e->item = NULL;
		if (run->project) {
			e->item = item_from_attrs(s, id, it, err);
			if (!e->item)
				return -EIO;
		}
		(*n)++;
	}
	return 0;
}

/*
 * Whether @last, the page's LastEvaluatedKey, is one this segment already
 * started from: an endpoint that pages in a circle would keep a listing
 * going for ever. Remembers it in @seen (hashes of the keys, @nseen).
 */
static bool cursor_seen(const json_t *last, uint64_t **seen, size_t *nseen)
{
	char *text = json_dumps(last, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t h;
	size_t i;

	if (!text)
		abort();
	h = jfs_hash_bytes(text, strlen(text));
	free(text);
	for (i = 0; i < *nseen; i++)
		if ((*seen)[i] == h)
			return true;
	*seen = realloc(*seen, (*nseen + 1) * sizeof(**seen));
	if (!*seen)
		abort();
	(*seen)[(*nseen)++] = h;
	return false;
}

/* Every page of one segment. */
static void scan_segment(struct scan_run *run, unsigned segment)
{
	struct ddb_store *s = run->s;
	json_t *req = json_copy(run->req), *resp = NULL, *items, *last;
	struct jfs_found *found = NULL;
	uint64_t *seen = NULL;
	size_t nseen = 0, pages = 0;
	bool times = run->auto_times;
	struct jfs_err err;
	size_t n, i;
	int ret = 0;

	if (s->segments > 1) {
		json_object_set_new(req, "Segment", json_integer(segment));
		json_object_set_new(req, "TotalSegments", json_integer(s->segments));
	}
	/* a listing's first page comes small and soon: readdir streams it */
	if (run->listing)
		json_object_set_new(req, "Limit", json_integer(DDB_FIRST_PAGE));
	while (!__atomic_load_n(&run->stop, __ATOMIC_RELAXED)) {
		jfs_err_clear(&err);
		ret = ddb_call(s, DDB_SCAN, req, &resp, NULL, &err);
		if (ret)
			break;
		items = json_object_get(resp, "Items");
		found = realloc(found, (json_array_size(items) + 1) * sizeof(*found));
		if (!found)
			abort();
		ret = scan_page(run, items, found, &n, &err);
		__atomic_add_fetch(&run->found, (int64_t)n, __ATOMIC_RELAXED);
		/* an empty page too: the caller may be stopping (an unmount) */
		if (!ret && run->fn(run->data, found, n))
			ret = jfs_err_set(&err, ECANCELED, "the caller stopped the scan");
		for (i = 0; i < n; i++)
			json_decref(found[i].item);
		if (ret)
			break;
		last = json_object_get(resp, "LastEvaluatedKey");
		if (!json_is_object(last) || !json_object_size(last))
			break;
		if (++pages >= DDB_SCAN_PAGES_MAX || cursor_seen(last, &seen, &nseen)) {
			ret = jfs_err_set(&err, EIO, "table '%s': the endpoint %s", s->table,
					  pages >= DDB_SCAN_PAGES_MAX ?
						  "sent a million pages to one segment (raise "
						  "totalSegments for a table this large)" :
						  "sent a page it had sent before (its paging goes "
						  "round in a circle)");
			break;
		}
		json_object_set(req, "ExclusiveStartKey", last);
		json_object_del(req, "Limit"); /* then pages of 1 MB, DynamoDB's most */
		if (times && __atomic_load_n(&run->found, __ATOMIC_RELAXED) >
					       JFS_LIST_TIMES_AUTO_MAX) {
			/*
			 * The table is larger than its ItemCount said (DynamoDB
			 * updates it every six hours or so, dynalite never): the
			 * rest by the key alone, their times learnt on a load.
			 */
			json_object_set_new(req, "ProjectionExpression", json_string("#pk"));
			json_object_set_new(req, "ExpressionAttributeNames",
					    json_pack("{s:s}", "#pk", s->pk));
			times = false;
		}
		json_decref(resp);
		resp = NULL;
	}
	if (ret)
		scan_fail(run, ret, &err);
	json_decref(resp);
	json_decref(req);
	free(found);
	free(seen);
}

static void *scan_main(void *arg)
{
	struct scan_seg *seg = arg;

	scan_segment(seg->run, seg->segment);
	return NULL;
}

static int ddb_find(struct jfs_store *st, const struct jfs_filter *f, jfs_found_fn *fn,
		    void *data, struct jfs_err *err)
{
	struct ddb_store *s = ddb_from_store(st);
	struct scan_run run = { .s = s, .fn = fn, .data = data };
	struct scan_seg *segs;
	unsigned i, started = 0;

	run.req = find_request(s, f, &run.project);
	run.listing = !f;
	run.auto_times = !f && s->list_times == JFS_LIST_TIMES_AUTO &&
			 json_object_size(json_object_get(run.req, "ExpressionAttributeNames")) > 1;
	pthread_mutex_init(&run.lock, NULL);
	segs = calloc(s->segments, sizeof(*segs));
	if (!segs)
		abort();
	/* segment 0 runs here, the others on threads of their own */
	for (i = 1; i < s->segments; i++) {
		segs[i].run = &run;
		segs[i].segment = i;
		if (pthread_create(&segs[i].thread, NULL, scan_main, &segs[i])) {
			struct jfs_err e;

			jfs_err_set(&e, EAGAIN, "cannot start a thread for scan segment %u", i);
			scan_fail(&run, -EAGAIN, &e);
			break;
		}
		started = i;
	}
	if (!run.ret)
		scan_segment(&run, 0);
	for (i = 1; i <= started; i++)
		pthread_join(segs[i].thread, NULL);
	free(segs);
	json_decref(run.req);
	pthread_mutex_destroy(&run.lock);
	if (!f && !run.ret)
		__atomic_store_n(&s->users, run.found, __ATOMIC_RELAXED);
	if (run.ret && err)
		*err = run.err;
	return run.ret;
}

static int ddb_sync(struct jfs_store *st, const char *id, struct jfs_err *err)
{
	/* every write was stored before its call returned */
	return 0;
}

/* ---- table ---- */

static int check_key_schema(struct ddb_store *s, json_t *table, struct jfs_err *err)
{
	json_t *ks = json_object_get(table, "KeySchema"), *k;
	const char *hash = NULL, *range = NULL;
	size_t i;

	json_array_foreach(ks, i, k) {
		const char *type = json_string_value(json_object_get(k, "KeyType"));
		const char *name = json_string_value(json_object_get(k, "AttributeName"));

		if (type && !strcmp(type, "HASH"))
			hash = name;
		else if (type && !strcmp(type, "RANGE"))
			range = name;
	}
	if (hash && strcmp(hash, s->pk))
		return jfs_err_set(err, EINVAL, "table '%s' is keyed by '%s', not by '%s' "
				   "(dynamodb.table.primaryKeyColumn)", s->table, hash, s->pk);
	if (range)
		return jfs_err_set(err, EINVAL, "table '%s' has a sort key '%s': jovo's tables "
				   "are keyed by '%s' alone", s->table, range, s->pk);
	return 0;
}

static int create_table(struct ddb_store *s, struct jfs_err *err)
{
	json_t *req, *resp = NULL;
	int ret;

	req = json_pack("{s:s, s:[{s:s, s:s}], s:[{s:s, s:s}], s:s}", "TableName", s->table,
			"AttributeDefinitions", "AttributeName", s->pk, "AttributeType", "S",
			"KeySchema", "AttributeName", s->pk, "KeyType", "HASH",
			"BillingMode", s->billing_mode);
	if (!strcmp(s->billing_mode, "PROVISIONED"))
		json_object_set_new(req, "ProvisionedThroughput",
				    json_pack("{s:I, s:I}", "ReadCapacityUnits", (json_int_t)s->rcu,
					      "WriteCapacityUnits", (json_int_t)s->wcu));
	jfs_log(LOG_INFO, "creating table '%s' keyed by '%s' at '%s'", s->table, s->pk,
		s->endpoint);
	ret = ddb_call(s, DDB_CREATE_TABLE, req, &resp, NULL, err);
	if (ret == -EEXIST)
		ret = 0; /* someone else made it meanwhile */
	json_decref(resp);
	json_decref(req);
	return ret;
}

/* Wait until the table is ACTIVE (creating it when allowed). */
static int ensure_table(struct ddb_store *s, struct jfs_err *err)
{
	int64_t deadline = jfs_mono_ms() + DDB_TABLE_WAIT_MS, pause = 100;
	bool created = false;
	json_t *req, *resp;
	const char *status;
	int ret;

	req = json_pack("{s:s}", "TableName", s->table);
	for (;;) {
		ret = ddb_call(s, DDB_DESCRIBE_TABLE, req, &resp, NULL, err);
		if (ret == -ENOENT && !created) {
			json_decref(resp);
			if (s->opts.read_only || !s->create_table) {
				ret = jfs_err_set(err, EIO, "table '%s' not found at '%s'%s",
						  s->table, s->endpoint, s->opts.read_only ? "" :
						  " and dynamodb.table.createTableOnInit is false");
				break;
			}
			ret = create_table(s, err);
			if (ret)
				break;
			created = true;
			continue;
		}
		if (ret == -ENOENT)
			ret = 0; /* just created, not visible yet */
		if (ret) {
			json_decref(resp);
			break;
		}
		status = json_string_value(json_object_get(json_object_get(resp, "Table"),
							   "TableStatus"));
		if (status && !strcmp(status, "ACTIVE")) {
			json_t *count = json_object_get(json_object_get(resp, "Table"), "ItemCount");

			/* updated by DynamoDB about every six hours: an estimate */
			if (json_is_integer(count) && json_integer_value(count) >= 0)
				__atomic_store_n(&s->users, (int64_t)json_integer_value(count),
						 __ATOMIC_RELAXED);
			ret = check_key_schema(s, json_object_get(resp, "Table"), err);
			json_decref(resp);
			break;
		}
		json_decref(resp);
		if (jfs_mono_ms() > deadline) {
			ret = jfs_err_set(err, EIO, "table '%s' is still %s after %d s", s->table,
					  status ? status : "not active", DDB_TABLE_WAIT_MS / 1000);
			break;
		}
		jfs_sleep_ms(pause);
		if (pause < 1000)
			pause *= 2;
	}
	json_decref(req);
	return ret;
}

static int ddb_start(struct jfs_store *st, struct jfs_err *err)
{
	struct ddb_store *s = ddb_from_store(st);
	struct jfs_aws_cred c;
	char *region;
	char src[256];
	int ret;

	ret = ddb_curl_setup(s, err);
	if (ret)
		return ret;
	if (!s->region) {
		ret = jfs_aws_imds_region(s->creds, &region, err);
		if (ret) {
			jfs_err_prefix(err, "no aws region (dynamodb.libraryConfig.dynamoDbClient."
				       "region, AWS_REGION, the profile's region) and none from "
				       "the instance metadata");
			return ret;
		}
		jfs_log(LOG_INFO, "aws region %s from the instance metadata", region);
		set_region(s, region);
		free(region);
	}
	/* the keys first: a source that fails says so, not a table that seems missing */
	ret = jfs_aws_provider_get(s->creds, &c, err);
	jfs_aws_cred_release(&c);
	if (ret)
		return ret;
	ret = ensure_table(s, err);
	if (ret)
		return ret;
	jfs_aws_provider_source(s->creds, src, sizeof(src));
	jfs_log(LOG_INFO, "dynamodb table '%s' at '%s' (region %s, credentials from %s)",
		s->table, s->endpoint, s->region, src);
	return 0;
}

int jfs_dynamodb_debug_request(struct jfs_store *st, const char *op, const char *body,
			       const char *const *headers, long *status, char **resp,
			       struct jfs_err *err)
{
	struct ddb_store *s = ddb_from_store(st);
	struct ddb_resp r;
	int ret;

	struct jfs_aws_cred c;

	*resp = NULL;
	ret = ddb_curl_setup(s, err);
	if (ret)
		return ret;
	ret = jfs_aws_provider_get(s->creds, &c, err);
	if (ret)
		return ret;
	ret = ddb_http(s, &c, op, body, strlen(body), headers, &r, resp);
	jfs_aws_cred_release(&c);
	if (ret)
		return jfs_err_set(err, -ret, "cannot make a libcurl handle");
	json_decref(r.body);
	if (r.cc != CURLE_OK)
		return jfs_err_set(err, EIO, "%s", r.errbuf);
	*status = r.status;
	return 0;
}

/* ---- config ---- */

static void warn_unknown(const json_t *obj, const char *path, const char *const *known)
{
	const char *key;
	json_t *val;
	size_t i;

	json_object_foreach((json_t *)obj, key, val) {
		for (i = 0; known[i]; i++)
			if (!strcmp(key, known[i]))
				break;
		if (known[i])
			continue;
		if (!strcmp(path, "dynamodb") && !strcmp(key, "storedElements"))
			jfs_log(LOG_WARNING, "unknown key 'dynamodb.storedElements' ignored: "
				"storedElements belongs at the top level of the config");
		else
			jfs_log(LOG_WARNING, "unknown key '%s.%s' ignored", path, key);
	}
}

static int get_string(const json_t *obj, const char *key, const char *path, const char **out,
		      struct jfs_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_string(v) || !json_string_length(v))
		return jfs_err_set(err, EINVAL, "'%s.%s' must be a non-empty string", path, key);
	*out = json_string_value(v);
	return 0;
}

static int get_units(const json_t *obj, const char *key, int64_t *out, struct jfs_err *err)
{
	json_t *v = json_object_get(obj, key);
	double d;

	if (!v)
		return 0;
	d = jfs_json_number_value(v);
	if (!json_is_number(v) || d < 1 || d > 1e12 || d != (double)(int64_t)d)
		return jfs_err_set(err, EINVAL, "'dynamodb.table.%s' must be a positive integer",
				   key);
	*out = (int64_t)d;
	return 0;
}

static int get_object(const json_t *obj, const char *key, const char *path, json_t **out,
		      struct jfs_err *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v))
		return jfs_err_set(err, EINVAL, "'%s.%s' must be an object", path, key);
	*out = v;
	return 0;
}

/*
 * Plain http sends the SigV4 Authorization header and a session token in
 * clear and nothing protects the answers: refused for AWS's own hosts,
 * warned about for any host that is not this machine (DynamoDB Local and
 * dynalite listen on loopback).
 */
static int check_plain_http(const char *endpoint, struct jfs_err *err)
{
	const char *host = endpoint + 7, *end;
	char name[256];
	size_t len;

	if (strncmp(endpoint, "http://", 7))
		return 0;
	end = host + strcspn(host, "/?#");
	if (memchr(host, '@', (size_t)(end - host)))
		host = (const char *)memchr(host, '@', (size_t)(end - host)) + 1;
	if (*host == '[')
		len = strcspn(host, "]") + 1;
	else
		len = strcspn(host, ":/?#");
	if (len >= sizeof(name))
		len = sizeof(name) - 1;
	memcpy(name, host, len);
	name[len] = '\0';
	while (len && name[len - 1] == '.')
		name[--len] = '\0';
	if ((len >= 14 && !strcasecmp(name + len - 14, ".amazonaws.com")) ||
	    (len >= 17 && !strcasecmp(name + len - 17, ".amazonaws.com.cn")) ||
	    !strcasecmp(name, "amazonaws.com"))
		return jfs_err_set(err, EINVAL, "endpoint '%s': AWS's own hosts are used over "
				   "https only (plain http would send the signature and session "
				   "token in clear)", endpoint);
	if (strcasecmp(name, "localhost") && strncmp(name, "127.", 4) && strcmp(name, "[::1]"))
		jfs_log(LOG_WARNING, "dynamodb: endpoint '%s' is plain http to another host: the "
			"request signature and any session token cross the network in clear",
			endpoint);
	return 0;
}

static char *make_url(const char *endpoint)
{
	const char *host = strstr(endpoint, "://");
	struct jfs_strbuf sb;

	jfs_strbuf_init(&sb);
	jfs_strbuf_addstr(&sb, endpoint);
	if (!strchr(host + 3, '/'))
		jfs_strbuf_addch(&sb, '/');
	return jfs_strbuf_detach(&sb, NULL);
}

static const char *const top_keys[] = { "table", "libraryConfig", "enabled", "totalSegments",
					"listTimes", NULL };
static const char *const table_keys[] = {
	"name", "primaryKeyColumn", "createTableOnInit", "billingMode", "readCapacityUnits",
	"writeCapacityUnits", NULL,
};
static const char *const lib_keys[] = { "dynamoDbClient", NULL };
static const char *const client_keys[] = { "region", "endpoint", "credentials", NULL };
static const char *const cred_keys[] = {
	"accessKeyId", "secretAccessKey", "sessionToken", NULL,
};

/* The region decides the default endpoint and the signature's scope. */
static void set_region(struct ddb_store *s, const char *region)
{
	struct jfs_strbuf sb;

	s->region = xstrdup(region);
	jfs_strbuf_init(&sb);
	if (s->endpoint_conf)
		jfs_strbuf_addstr(&sb, s->endpoint_conf);
	else
		jfs_strbuf_addf(&sb, "https://dynamodb.%s.amazonaws.com%s", region,
				strncmp(region, "cn-", 3) ? "" : ".cn");
	s->endpoint = jfs_strbuf_detach(&sb, NULL);
	s->url = make_url(s->endpoint);
	jfs_strbuf_addf(&sb, "aws:amz:%s:dynamodb", region);
	s->sigv4 = jfs_strbuf_detach(&sb, NULL);
}

static void ddb_free(struct ddb_store *s)
{
	ddb_curl_teardown(s);
	json_decref(s->refs);
	pthread_mutex_destroy(&s->pool_lock);
	pthread_mutex_destroy(&s->refs_lock);
	jfs_aws_cred_release(&s->cred);
	jfs_aws_provider_free(s->creds);
	free(s->endpoint_conf);
	free(s->table);
	free(s->pk);
	free(s->billing_mode);
	free(s->region);
	free(s->endpoint);
	free(s->url);
	free(s->sigv4);
	free(s);
}

static int ddb_open(const json_t *conf, const struct jfs_store_options *opts,
		    struct jfs_store **out, struct jfs_err *err)
{
	const char *name = NULL, *pk = "userId", *billing = "PROVISIONED", *region = NULL;
	const char *endpoint = NULL, *key_id = NULL, *secret = NULL, *token = NULL;
	json_t *table = NULL, *lib = NULL, *client = NULL, *creds = NULL, *v;
	struct ddb_store *s;
	int64_t rcu = 2, wcu = 2;
	unsigned segments = DDB_SEGMENTS;
	enum jfs_list_times list_times;
	bool create = true;
	int ret;

	*out = NULL;
	if (conf && !json_is_object(conf))
		return jfs_err_set(err, EINVAL, "'dynamodb' must be an object");
	if (conf)
		warn_unknown(conf, "dynamodb", top_keys);
	if ((ret = get_object(conf, "table", "dynamodb", &table, err)) ||
	    (ret = get_object(conf, "libraryConfig", "dynamodb", &lib, err)) ||
	    (ret = get_object(lib, "dynamoDbClient", "dynamodb.libraryConfig", &client, err)) ||
	    (ret = get_object(client, "credentials", "dynamodb.libraryConfig.dynamoDbClient",
			      &creds, err)))
		return ret;
	if (table)
		warn_unknown(table, "dynamodb.table", table_keys);
	if (lib)
		warn_unknown(lib, "dynamodb.libraryConfig", lib_keys);
	if (client)
		warn_unknown(client, "dynamodb.libraryConfig.dynamoDbClient", client_keys);
	if (creds)
		warn_unknown(creds, "dynamodb.libraryConfig.dynamoDbClient.credentials",
			     cred_keys);
	if ((ret = get_string(table, "name", "dynamodb.table", &name, err)) ||
	    (ret = get_string(table, "primaryKeyColumn", "dynamodb.table", &pk, err)) ||
	    (ret = get_string(table, "billingMode", "dynamodb.table", &billing, err)) ||
	    (ret = get_units(table, "readCapacityUnits", &rcu, err)) ||
	    (ret = get_units(table, "writeCapacityUnits", &wcu, err)) ||
	    (ret = get_string(client, "region", "dynamodb.libraryConfig.dynamoDbClient", &region,
			      err)) ||
	    (ret = get_string(client, "endpoint", "dynamodb.libraryConfig.dynamoDbClient",
			      &endpoint, err)))
		return ret;
	if (!name)
		return jfs_err_set(err, EINVAL, "'dynamodb.table.name' is required");
	v = json_object_get(conf, "totalSegments");
	if (v) {
		double d = jfs_json_number_value(v);

		/* -o total_segments=N arrives as a string */
		if (json_is_string(v)) {
			char *end;

			d = strtod(json_string_value(v), &end);
			if (*end || end == json_string_value(v))
				d = 0;
		}
		if ((!json_is_number(v) && !json_is_string(v)) || d < 1 || d > DDB_SEGMENTS_MAX ||
		    d != (double)(int)d)
			return jfs_err_set(err, EINVAL, "'dynamodb.totalSegments' must be a whole "
					   "number from 1 to %d", DDB_SEGMENTS_MAX);
		segments = (unsigned)d;
	}
	ret = jfs_list_times_parse(json_object_get(conf, "listTimes"), "dynamodb", &list_times, err);
	if (ret)
		return ret;
	v = json_object_get(table, "createTableOnInit");
	if (v && !json_is_boolean(v))
		return jfs_err_set(err, EINVAL, "'dynamodb.table.createTableOnInit' must be "
				   "true or false");
	if (v)
		create = json_is_true(v);
	if (strcmp(billing, "PROVISIONED") && strcmp(billing, "PAY_PER_REQUEST"))
		return jfs_err_set(err, EINVAL, "'dynamodb.table.billingMode' must be "
				   "PROVISIONED or PAY_PER_REQUEST, not '%s'", billing);
	if (endpoint && strncmp(endpoint, "http://", 7) && strncmp(endpoint, "https://", 8))
		return jfs_err_set(err, EINVAL, "'dynamodb.libraryConfig.dynamoDbClient.endpoint' "
				   "must start with http:// or https://");
	if (endpoint && (ret = check_plain_http(endpoint, err)))
		return ret;
	if (creds) {
		const char *path = "dynamodb.libraryConfig.dynamoDbClient.credentials";

		if ((ret = get_string(creds, "accessKeyId", path, &key_id, err)) ||
		    (ret = get_string(creds, "secretAccessKey", path, &secret, err)) ||
		    (ret = get_string(creds, "sessionToken", path, &token, err)))
			return ret;
		if (!key_id || !secret)
			return jfs_err_set(err, EINVAL, "'%s' needs accessKeyId and "
					   "secretAccessKey", path);
	}

	s = calloc(1, sizeof(*s));
	if (!s)
		return jfs_err_set(err, ENOMEM, "out of memory");
	s->base.ops = &jfs_backend_dynamodb;
	s->opts = *opts;
	pthread_mutex_init(&s->pool_lock, NULL);
	pthread_mutex_init(&s->refs_lock, NULL);
	s->refs = json_object();
	s->table = xstrdup(name);
	s->pk = xstrdup(pk);
	s->create_table = create;
	s->billing_mode = xstrdup(billing);
	s->rcu = rcu;
	s->wcu = wcu;
	s->segments = segments;
	s->list_times = list_times;
	s->users = -1;

	/*
	 * Reading the environment and the shared files is no network: which
	 * credentials apply is decided here, so mistakes show before the fork.
	 * Keys from the network come at start().
	 */
	jfs_aws_cred_load(&s->cred, err); /* for the region only */
	jfs_err_clear(err);
	if (creds) {
		struct jfs_aws_cred explicit_keys = { 0 };

		jfs_aws_cred_set(&explicit_keys, key_id, secret, token, "config file");
		ret = jfs_aws_provider_new(&s->creds, &explicit_keys, opts->timeout_ms, err);
		jfs_aws_cred_release(&explicit_keys);
	} else {
		ret = jfs_aws_provider_new(&s->creds, NULL, opts->timeout_ms, err);
	}
	if (ret)
		goto out_free;
	if (endpoint)
		s->endpoint_conf = xstrdup(endpoint);
	if (!region)
		region = s->cred.region;
	if (!region && getenv("AWS_EC2_METADATA_DISABLED") &&
	    !strcasecmp(getenv("AWS_EC2_METADATA_DISABLED"), "true")) {
		ret = jfs_err_set(err, EINVAL, "no aws region: set 'dynamodb.libraryConfig."
				  "dynamoDbClient.region', AWS_REGION or the profile's region");
		goto out_free;
	}
	/* else the instance's region, from its metadata at start() */
	if (region)
		set_region(s, region);
	*out = &s->base;
	return 0;
out_free:
	ddb_free(s);
	return ret;
}

static void ddb_describe(struct jfs_store *st, json_t *out)
{
	struct ddb_store *s = ddb_from_store(st);

	json_object_set_new(out, "backend", json_string("dynamodb"));
	json_object_set_new(out, "table", json_string(s->table));
	json_object_set_new(out, "primaryKeyColumn", json_string(s->pk));
	json_object_set_new(out, "createTableOnInit", json_boolean(s->create_table));
	json_object_set_new(out, "billingMode", json_string(s->billing_mode));
	struct jfs_aws_provider_stats cs;
	char src[256];

	jfs_aws_provider_source(s->creds, src, sizeof(src));
	jfs_aws_provider_stats(s->creds, &cs);
	json_object_set_new(out, "totalSegments", json_integer(s->segments));
	json_object_set_new(out, "listTimes",
			    jfs_list_times_json(s->list_times,
						__atomic_load_n(&s->users, __ATOMIC_RELAXED)));
	json_object_set_new(out, "region", s->region ? json_string(s->region) :
			    json_string("(from the instance metadata)"));
	if (s->endpoint)
		json_object_set_new(out, "endpoint", json_string(s->endpoint));
	json_object_set_new(out, "credentials", json_string(src));
	json_object_set_new(out, "sessionToken", json_string(cs.session_token ? "(set)" : "(none)"));
	if (cs.expires_ms > 0) {
		char when[32];

		jfs_iso_format(cs.expires_ms, when);
		json_object_set_new(out, "credentialsExpire", json_string(when));
	}
}

static void ddb_summary(struct jfs_store *st, json_t *out)
{
	struct ddb_store *s = ddb_from_store(st);
	struct jfs_strbuf sb;

	char src[256];

	jfs_strbuf_init(&sb);
	if (s->endpoint)
		jfs_strbuf_addf(&sb, "table '%s' at '%s' (region %s)", s->table, s->endpoint,
				s->region);
	else
		jfs_strbuf_addf(&sb, "table '%s' (region from the instance metadata)", s->table);
	json_object_set_new(out, "target", json_string(sb.buf));
	jfs_strbuf_release(&sb);
	jfs_aws_provider_source(s->creds, src, sizeof(src));
	json_object_set_new(out, "credentials", json_string(src));
}

/* Credential refreshes, their failures and the time left: what an operator alerts on. */
static void ddb_metrics(struct jfs_store *st, jfs_metric_fn *fn, void *data)
{
	struct ddb_store *s = ddb_from_store(st);
	struct jfs_aws_provider_stats cs;
	struct jfs_metric m = { 0 };

	jfs_aws_provider_stats(s->creds, &cs);
	m.type = "counter";
	m.name = "aws_credential_refreshes_total";
	m.help = "aws credentials fetched (the first time and each refresh)";
	m.value = (double)cs.refreshes;
	fn(data, &m);
	m.name = "aws_credential_refresh_failures_total";
	m.help = "failed attempts to fetch aws credentials";
	m.value = (double)cs.failures;
	fn(data, &m);
	m.type = "gauge";
	m.name = "aws_credential_expiry_seconds";
	m.help = "seconds until the aws credentials in use expire (-1: they never do)";
	m.value = cs.expires_ms > 0 ? (double)(cs.expires_ms - jfs_now_ms()) / 1000.0 : -1;
	fn(data, &m);
}

static int ddb_reload(struct jfs_store *st, struct jfs_err *err)
{
	struct ddb_store *s = ddb_from_store(st);

	return jfs_aws_provider_reload(s->creds, err);
}

static void ddb_close(struct jfs_store *st)
{
	ddb_free(ddb_from_store(st));
}

static const struct jfs_backend_option ddb_options[] = {
	{ "dynamodb", "table.name", true, "TABLE", "use the DynamoDB table TABLE" },
	{ "region", "libraryConfig.dynamoDbClient.region", false, "REGION", "DynamoDB region" },
	{ "endpoint", "libraryConfig.dynamoDbClient.endpoint", false, "URL",
	  "DynamoDB endpoint (DynamoDB Local, dynalite, VPC endpoint)" },
	{ "total_segments", "totalSegments", false, "N",
	  "DynamoDB: parallel Scan segments of a listing or find view (default 4)" },
	{ NULL }
};

const struct jfs_backend_ops jfs_backend_dynamodb = {
	.name = "dynamodb",
	.options = ddb_options,
	.open = ddb_open,
	.start = ddb_start,
	.list = ddb_list,
	.find = ddb_find,
	.load = ddb_load,
	.update = ddb_update,
	.create = ddb_create,
	.remove = ddb_remove,
	.sync = ddb_sync,
	.changes = NULL,
	.describe = ddb_describe,
	.summary = ddb_summary,
	.metrics = ddb_metrics,
	.reload = ddb_reload,
	.close = ddb_close,
};
