/*
 * The MongoDb backend: Jovo's @jovotech/db-mongodb collection through
 * libmongoc.
 *
 * Jovo 4.6.2 stores one document per user, {_id: userId, user, session,
 * history, createdAt, updatedAt} (saveData: updateOne({_id}, {$set: item},
 * {upsert: true}); loadData: findOne({_id})). There is no "id" field: the
 * item's "id" is the _id. A stored "id" field (not Jovo's) stays hidden
 * and untouched.
 *
 * Settings, in Jovo's shape: connectionString (or the environment's
 * JOVOFS_MONGODB_URI, which wins), databaseName (else the URI's database,
 * else "test"), collectionName ("jovoUsers"), and jovofs's writeConcern
 * ("majority" unless the URI says otherwise; w:1 when the server refuses
 * majority). TLS and auth options are the URI's, as libmongoc reads them.
 *
 * The client pools are made in start(), after the daemon forked: one for
 * point requests (socket timeout opts->timeout_ms) and one for listings,
 * whose sorted query may take a slow server long to start answering.
 * Every request runs in mongo_run(), which retries what mongo_map_error()
 * calls transient for opts->retry_ms with backoff and jitter, then fails
 * with EIO; the pools reconnect by themselves when the server is back.
 *
 * Writes follow DESIGN section 5: update reads the stored document (its
 * BSON types are what unchanged and changed values are written back
 * with), checks the condition, then updateOne({_id, <cond_key>: {$eq:
 * <the stored value, byte for byte>} | {$exists: false}}, {$set, $unset});
 * matchedCount 0 means someone wrote in between: read again. create is
 * insertOne (duplicate key: EEXIST), remove deleteOne (none: ENOENT).
 */
#include <errno.h>
#include <inttypes.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/backend.h"
#include "backends/mongodb_bson.h"
#include "common/clock.h"
#include "common/isotime.h"
#include "common/json.h"
#include "common/log.h"

#define MONGO_DEFAULT_DB "test"
#define MONGO_DEFAULT_COLLECTION "jovoUsers"
#define MONGO_ENV_URI "JOVOFS_MONGODB_URI"
#define MONGO_DRIVER_ERROR 1   /* an op's "look at the bson_error_t" */
#define MONGO_BACKOFF_BASE_MS 50 /* retries of driver errors: first pause at most */
#define MONGO_BACKOFF_CAP_MS 2000
#define MONGO_RACE_RETRIES 8   /* fetch/update rounds lost to other writers */
#define MONGO_LIST_OPEN 4      /* live listing cursors kept between pages */
#define MONGO_LIST_IDLE_MS 60000 /* a live listing cursor unused this long is closed */
/*
 * Socket timeout of listings: the first batch of a sorted listing comes
 * only after a server without a usable index sorted everything (FerretDB
 * 1.24: about 55 s for 100k users).
 */
#define MONGO_LIST_SOCKET_MS 300000

/* A listing's query kept open between pages (see mongo_list). */
struct list_cursor {
	char *last;               /* the page->next it continues from; NULL: slot free */
	mongoc_client_t *client;  /* from list_pool, held while the cursor is open */
	mongoc_collection_t *coll;
	mongoc_cursor_t *cursor;
	int64_t used_ms;
};

struct mongo_store {
	struct jfs_store base;
	struct jfs_store_options opts;
	mongoc_uri_t *uri;
	char *uri_redacted;
	char *secrets[4];           /* the password (decoded, as written), key passwords */
	size_t nsecrets;
	const char *uri_source;
	char *db_name;
	char *coll_name;
	mongoc_write_concern_t *wc;  /* as configured */
	mongoc_write_concern_t *wc1; /* w:1, when the server refuses majority */
	bool wc_fallback_allowed;    /* majority was our default, not the user's */
	atomic_bool wc_use_w1;
	bool user_socket_timeout;   /* the URI sets socketTimeoutMS: listings keep it */
	enum jfs_list_times list_times; /* a listing also brings createdAt, updatedAt */
	/*
	 * Documents the last whole listing counted; -1: none yet, and the
	 * first listing brings the times. No count is asked before it: the
	 * first entry must come at once, and FerretDB 1.24 answered
	 * estimatedDocumentCount after 196 s at a million documents, and
	 * a first listing that asked collStats first had its first entry
	 * after 107 s on a table just loaded.
	 */
	_Atomic int64_t users;
	mongoc_client_pool_t *pool; /* point requests: socket timeout opts.timeout_ms */
	mongoc_client_pool_t *list_pool;
	pthread_mutex_t list_lock;  /* protects lists */
	struct list_cursor lists[MONGO_LIST_OPEN];
};

extern const struct jfs_backend_ops jfs_backend_mongodb;

static struct mongo_store *mongo_from_store(struct jfs_store *st)
{
	if (!st || st->ops != &jfs_backend_mongodb)
		abort();
	return (struct mongo_store *)st;
}

/*
 * The one place that turns a libmongoc error into an errno. *@retry says
 * whether the failure is worth retrying (the server or the network may
 * come back; a primary may be elected).
 */
static int mongo_map_error(const bson_error_t *be, bool *retry)
{
	*retry = false;
	switch (be->domain) {
	case MONGOC_ERROR_STREAM:
	case MONGOC_ERROR_SERVER_SELECTION:
	case MONGOC_ERROR_PROTOCOL:
	case MONGOC_ERROR_CURSOR:
		*retry = true;
		return -EIO;
	case MONGOC_ERROR_CLIENT:
		if (be->code == MONGOC_ERROR_CLIENT_AUTHENTICATE)
			return -EACCES;
		if (be->code == MONGOC_ERROR_CLIENT_TOO_BIG)
			return -EFBIG;
		*retry = be->code == MONGOC_ERROR_CLIENT_IN_EXHAUST;
		return -EIO;
	case MONGOC_ERROR_BSON:
	case MONGOC_ERROR_COMMAND:
		if (be->code == MONGOC_ERROR_COMMAND_INVALID_ARG)
			return -EINVAL;
		return -EIO;
	case MONGOC_ERROR_SERVER:
	case MONGOC_ERROR_WRITE_CONCERN:
	case MONGOC_ERROR_QUERY:
	case MONGOC_ERROR_COLLECTION:
		break;
	default:
		return -EIO;
	}
	switch (be->code) {
	case 11000: /* DuplicateKey */
	case 11001:
		return -EEXIST;
	case 13: /* Unauthorized */
	case 18: /* AuthenticationFailed */
		return -EACCES;
	case 2:  /* BadValue */
	case 9:  /* FailedToParse */
	case 14: /* TypeMismatch */
	case 52: /* DollarPrefixedFieldName */
	case 55: /* InvalidDBRef */
	case 56: /* EmptyFieldName */
	case 57: /* DottedFieldName */
		return -EINVAL;
	case 10334: /* BSONObjectTooLarge */
	case 17419:
	case 17420:
		return -EFBIG;
	case 16500: /* Cosmos DB: request rate is large */
	case 50:    /* MaxTimeMSExpired */
		*retry = true;
		return -EAGAIN;
	case 6:     /* HostUnreachable */
	case 7:     /* HostNotFound */
	case 64:    /* WriteConcernFailed (wtimeout) */
	case 89:    /* NetworkTimeout */
	case 91:    /* ShutdownInProgress */
	case 189:   /* PrimarySteppedDown */
	case 262:   /* ExceededTimeLimit */
	case 9001:  /* SocketException */
	case 10107: /* NotWritablePrimary */
	case 11600: /* InterruptedAtShutdown */
	case 11602: /* InterruptedDueToReplStateChange */
	case 13435: /* NotPrimaryNoSecondaryOk */
	case 13436: /* NotPrimaryOrSecondary */
		*retry = true;
		return -EIO;
	default:
		return -EIO;
	}
}

/* Whether the server refused the write concern itself (no replica set, ...). */
static bool wc_unsupported(const bson_error_t *be)
{
	return (be->domain == MONGOC_ERROR_SERVER || be->domain == MONGOC_ERROR_WRITE_CONCERN) &&
	       (be->code == 79 /* UnknownReplWriteConcern */ ||
		be->code == 100 /* UnsatisfiableWriteConcern */ ||
		be->code == 115 /* CommandNotSupported: FerretDB-likes */);
}

/* ---- open ---- */

static int conf_string(const json_t *conf, const char *key, char **out, struct jfs_err *err)
{
	json_t *v = json_object_get(conf, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !json_string_length(v))
		return jfs_err_set(err, EINVAL, "mongodb: '%s' must be a non-empty string", key);
	*out = strdup(json_string_value(v));
	return 0;
}

/* "majority", a number, or {"w": ..., "j": bool, "wtimeout"|"wtimeoutMS": ms} */
static int conf_write_concern(const json_t *v, mongoc_write_concern_t *wc, struct jfs_err *err)
{
	json_t *w = json_is_object(v) ? json_object_get(v, "w") : (json_t *)v;
	json_t *j = json_object_get(v, "j");
	json_t *t = json_object_get(v, "wtimeoutMS");

	if (!t)
		t = json_object_get(v, "wtimeout");
	if (json_is_string(w) && !strcmp(json_string_value(w), "majority"))
		mongoc_write_concern_set_w(wc, MONGOC_WRITE_CONCERN_W_MAJORITY);
	else if (json_is_string(w))
		mongoc_write_concern_set_wtag(wc, json_string_value(w));
	else if (json_is_number(w) && jfs_json_number_value(w) >= 0 &&
		 jfs_json_number_value(w) <= 50)
		mongoc_write_concern_set_w(wc, (int32_t)jfs_json_number_value(w));
	else if (w || !json_is_object(v))
		return jfs_err_set(err, EINVAL,
				   "mongodb: 'writeConcern' must be \"majority\", a number or "
				   "{\"w\": ..., \"j\": ..., \"wtimeoutMS\": ...}");
	if (j && !json_is_boolean(j))
		return jfs_err_set(err, EINVAL, "mongodb: 'writeConcern.j' must be a boolean");
	if (j)
		mongoc_write_concern_set_journal(wc, json_is_true(j));
	if (t && !json_is_number(t))
		return jfs_err_set(err, EINVAL,
				   "mongodb: 'writeConcern.wtimeoutMS' must be a number");
	if (t)
		mongoc_write_concern_set_wtimeout_int64(wc, (int64_t)jfs_json_number_value(t));
	return 0;
}

static void uri_default_ms(mongoc_uri_t *uri, const char *opt, int64_t ms)
{
	if (ms <= 0 || mongoc_uri_has_option(uri, opt))
		return;
	if (ms > INT32_MAX)
		ms = INT32_MAX;
	mongoc_uri_set_option_as_int32(uri, opt, (int32_t)ms);
}

static void list_close(struct mongo_store *ms, struct list_cursor *lc);

static void mongo_log_handler(mongoc_log_level_t level, const char *domain, const char *message,
			      void *data);

static void mongo_free(struct mongo_store *ms)
{
	size_t i;

	if (!ms)
		return;
	for (i = 0; i < MONGO_LIST_OPEN; i++)
		if (ms->lists[i].last)
			list_close(ms, &ms->lists[i]);
	mongoc_log_set_handler(mongo_log_handler, NULL);
	for (i = 0; i < ms->nsecrets; i++) {
		explicit_bzero(ms->secrets[i], strlen(ms->secrets[i]));
		free(ms->secrets[i]);
	}
	pthread_mutex_destroy(&ms->list_lock);
	if (ms->list_pool)
		mongoc_client_pool_destroy(ms->list_pool);
	if (ms->pool)
		mongoc_client_pool_destroy(ms->pool);
	mongoc_write_concern_destroy(ms->wc);
	mongoc_write_concern_destroy(ms->wc1);
	mongoc_uri_destroy(ms->uri);
	free(ms->uri_redacted);
	free(ms->db_name);
	free(ms->coll_name);
	free(ms);
}

static pthread_once_t mongo_once = PTHREAD_ONCE_INIT;

/* libmongoc's own warnings go to our log, not to a daemon's closed stderr */
static void mongo_log_handler(mongoc_log_level_t level, const char *domain, const char *message,
			      void *data)
{
	struct mongo_store *ms = data;
	char *red;
	int lvl;

	switch (level) {
	case MONGOC_LOG_LEVEL_ERROR:
	case MONGOC_LOG_LEVEL_CRITICAL:
		lvl = LOG_ERR;
		break;
	case MONGOC_LOG_LEVEL_WARNING:
		lvl = LOG_WARNING;
		break;
	case MONGOC_LOG_LEVEL_MESSAGE:
	case MONGOC_LOG_LEVEL_INFO:
		lvl = LOG_INFO;
		break;
	default:
		return; /* debug and trace: far too chatty */
	}
	/* FerretDB and old servers lack endSessions; the pool says so at close */
	if (lvl == LOG_WARNING && strstr(message, "endSessions"))
		lvl = LOG_DEBUG;
	/* libmongoc's texts may quote a connection string or an option's value */
	red = jfs_mongo_redact(message, ms ? (const char *const *)ms->secrets : NULL,
			       ms ? ms->nsecrets : 0);
	jfs_log(lvl, "mongodb: %s: %s", domain, red);
	free(red);
}

/* Take the store's secrets out of a driver error before anyone sees it. */
static void scrub(struct mongo_store *ms, bson_error_t *be)
{
	char *red = jfs_mongo_redact(be->message, (const char *const *)ms->secrets,
				     ms->nsecrets);

	snprintf(be->message, sizeof(be->message), "%s", red);
	free(red);
}

/* Keep what must never be shown: the password and the key passwords of @ms->uri. */
static void keep_secrets(struct mongo_store *ms, const char *conn)
{
	const char *pw = mongoc_uri_get_password(ms->uri), *kp;
	size_t off, len;

	if (pw && *pw && !(ms->secrets[ms->nsecrets++] = strdup(pw)))
		abort();
	if (pw && *pw && jfs_mongo_password_span(conn, pw, &off, &len) &&
	    !(ms->secrets[ms->nsecrets++] = strndup(conn + off, len)))
		abort();
	kp = mongoc_uri_get_option_as_utf8(ms->uri, MONGOC_URI_TLSCERTIFICATEKEYFILEPASSWORD, NULL);
	if (kp && *kp && !(ms->secrets[ms->nsecrets++] = strdup(kp)))
		abort();
}

static void mongo_init_once(void)
{
	mongoc_log_set_handler(mongo_log_handler, NULL);
	mongoc_init();
	atexit(mongoc_cleanup);
}

static int mongo_open(const json_t *conf, const struct jfs_store_options *opts,
		      struct jfs_store **out, struct jfs_err *err)
{
	static const char *const known[] = {
		"connectionString", "databaseName", "collectionName", "writeConcern", "listTimes",
	};
	struct mongo_store *ms;
	const char *env, *key, *uri_db;
	char *conn = NULL;
	bson_error_t be;
	json_t *v;
	size_t i;
	int ret;

	if (conf && !json_is_object(conf))
		return jfs_err_set(err, EINVAL, "mongodb: config must be an object");
	pthread_once(&mongo_once, mongo_init_once);
	ms = calloc(1, sizeof(*ms));
	if (!ms)
		return jfs_err_set(err, ENOMEM, "mongodb: out of memory");
	ms->base.ops = &jfs_backend_mongodb;
	ms->opts = *opts;
	pthread_mutex_init(&ms->list_lock, NULL);

	if (conf)
		json_object_foreach((json_t *)conf, key, v) {
			for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
				if (!strcmp(key, known[i]))
					break;
			if (i == sizeof(known) / sizeof(known[0]))
				jfs_log(LOG_WARNING, "mongodb: ignoring unknown key '%s'%s", key,
					!strcmp(key, "libraryConfig")
						? " (put driver options in the connection string)"
						: "");
		}

	ret = conf_string(conf, "connectionString", &conn, err);
	if (ret)
		goto out_free;
	ms->uri_source = "config";
	env = getenv(MONGO_ENV_URI);
	if (env && *env) {
		free(conn);
		conn = strdup(env);
		ms->uri_source = MONGO_ENV_URI;
	}
	if (!conn) {
		ret = jfs_err_set(err, EINVAL,
				  "mongodb: no connection string: set 'connectionString' in the "
				  "config file or " MONGO_ENV_URI);
		goto out_free;
	}
	ms->uri = mongoc_uri_new_with_error(conn, &be);
	if (ms->uri) {
		ms->uri_redacted = jfs_mongo_redact_uri(conn);
		keep_secrets(ms, conn);
		/* from now on libmongoc's own messages lose these too */
		mongoc_log_set_handler(mongo_log_handler, ms);
	}
	/* the URI holds a password: wipe our copy before it can linger */
	explicit_bzero(conn, strlen(conn));
	free(conn);
	if (!ms->uri) {
		/* refused: nobody can tell where its secrets are, so it is not shown */
		scrub(ms, &be);
		ret = jfs_err_set(err, EINVAL, "mongodb: the connection string from %s is invalid: %s",
				  ms->uri_source, be.message);
		goto out_free;
	}

	ret = conf_string(conf, "databaseName", &ms->db_name, err);
	if (ret)
		goto out_free;
	uri_db = mongoc_uri_get_database(ms->uri);
	if (!ms->db_name)
		ms->db_name = strdup(uri_db && *uri_db ? uri_db : MONGO_DEFAULT_DB);
	ret = conf_string(conf, "collectionName", &ms->coll_name, err);
	if (ret)
		goto out_free;
	if (!ms->coll_name)
		ms->coll_name = strdup(MONGO_DEFAULT_COLLECTION);

	ret = jfs_list_times_parse(json_object_get(conf, "listTimes"), "mongodb", &ms->list_times,
				   err);
	if (ret)
		goto out_free;
	atomic_store(&ms->users, -1);

	v = json_object_get(conf, "writeConcern");
	if (v) {
		ms->wc = mongoc_write_concern_new();
		ret = conf_write_concern(v, ms->wc, err);
		if (ret)
			goto out_free;
	} else if (mongoc_write_concern_get_w(mongoc_uri_get_write_concern(ms->uri)) !=
		   MONGOC_WRITE_CONCERN_W_DEFAULT) {
		ms->wc = mongoc_write_concern_copy(mongoc_uri_get_write_concern(ms->uri));
	} else {
		ms->wc = mongoc_write_concern_new();
		mongoc_write_concern_set_w(ms->wc, MONGOC_WRITE_CONCERN_W_MAJORITY);
		ms->wc_fallback_allowed = true;
	}
	ms->wc1 = mongoc_write_concern_new();
	mongoc_write_concern_set_w(ms->wc1, 1);

	/* one request must not hang for libmongoc's minutes-long defaults */
	ms->user_socket_timeout = mongoc_uri_has_option(ms->uri, MONGOC_URI_SOCKETTIMEOUTMS);
	uri_default_ms(ms->uri, MONGOC_URI_SOCKETTIMEOUTMS, opts->timeout_ms);
	uri_default_ms(ms->uri, MONGOC_URI_CONNECTTIMEOUTMS, opts->timeout_ms);
	uri_default_ms(ms->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, opts->timeout_ms);
	if (!mongoc_uri_has_option(ms->uri, MONGOC_URI_APPNAME))
		mongoc_uri_set_appname(ms->uri, "jovofs");

	jfs_log(LOG_DEBUG, "mongodb: '%s' (from %s), database '%s', collection '%s'",
		ms->uri_redacted, ms->uri_source, ms->db_name, ms->coll_name);
	*out = &ms->base;
	return 0;
out_free:
	mongo_free(ms);
	return ret;
}

/* ---- running requests ---- */

/* One try of a request: a pooled client and the collection, for the op to use. */
struct mongo_call {
	mongoc_client_pool_t *pool;
	mongoc_client_t *client;
	mongoc_collection_t *coll;
	bool keep; /* set by the op: it keeps client and coll (a live listing cursor) */
};

typedef int mongo_op_fn(struct mongo_store *ms, struct mongo_call *call, void *arg, int attempt,
			bson_error_t *be, struct jfs_err *err);

static const mongoc_write_concern_t *mongo_wc(struct mongo_store *ms)
{
	return atomic_load(&ms->wc_use_w1) ? ms->wc1 : ms->wc;
}

/*
 * Run @fn with a pooled client until it returns 0 or -errno, retrying
 * transient driver errors (@fn returned MONGO_DRIVER_ERROR) for @budget_ms.
 * @what and @id name the request in messages.
 */
static int mongo_run_for(struct mongo_store *ms, mongoc_client_pool_t *pool, int64_t budget_ms,
			 const char *what, const char *id, mongo_op_fn *fn, void *arg,
			 struct jfs_err *err)
{
	struct mongo_call call = { .pool = pool };
	struct jfs_backoff b;
	bson_error_t be;
	bool retry;
	int attempt, ret;

	if (!pool)
		return jfs_err_set(err, EIO, "cannot %s '%s': mongodb backend not started", what,
				   id);
	jfs_backoff_init(&b, budget_ms, MONGO_BACKOFF_BASE_MS, MONGO_BACKOFF_CAP_MS);
	for (attempt = 0;; attempt++) {
		memset(&be, 0, sizeof(be));
		call.client = mongoc_client_pool_pop(pool);
		call.coll = mongoc_client_get_collection(call.client, ms->db_name, ms->coll_name);
		call.keep = false;
		ret = fn(ms, &call, arg, attempt, &be, err);
		if (!call.keep) {
			mongoc_collection_destroy(call.coll);
			mongoc_client_pool_push(pool, call.client);
		}
		if (ret != MONGO_DRIVER_ERROR)
			return ret;
		scrub(ms, &be);
		if (ms->wc_fallback_allowed && wc_unsupported(&be) &&
		    !atomic_exchange(&ms->wc_use_w1, true)) {
			jfs_log(LOG_WARNING,
				"mongodb: server refuses write concern majority (%s), using w:1",
				be.message);
			continue;
		}
		ret = mongo_map_error(&be, &retry);
		if (!retry || !jfs_backoff_wait(&b))
			break;
		jfs_log(LOG_DEBUG, "mongodb: %s '%s' failed (%s), retry %u", what, id, be.message,
			b.attempt);
	}
	jfs_log(LOG_ERR, "mongodb: cannot %s '%s': %s", what, id, be.message);
	return jfs_err_set(err, -ret, "cannot %s '%s' in mongodb: %s", what, id, be.message);
}

static int mongo_run(struct mongo_store *ms, const char *what, const char *id, mongo_op_fn *fn,
		     void *arg, struct jfs_err *err)
{
	return mongo_run_for(ms, ms->pool, ms->opts.retry_ms, what, id, fn, arg, err);
}

static int64_t reply_count(const bson_t *reply, const char *key)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, reply, key) && BSON_ITER_HOLDS_NUMBER(&it))
		return bson_iter_as_int64(&it);
	return -1;
}

/* Find the document @id, with @projection (NULL: all). 0, -ENOENT, or MONGO_DRIVER_ERROR. */
static int find_one(mongoc_collection_t *coll, const char *id, const bson_t *projection,
		    bson_t *out, bson_error_t *be)
{
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	int ret;

	BSON_APPEND_UTF8(&filter, "_id", id);
	BSON_APPEND_INT64(&opts, "limit", 1);
	BSON_APPEND_BOOL(&opts, "singleBatch", true);
	if (projection)
		BSON_APPEND_DOCUMENT(&opts, "projection", projection);
	cursor = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
	if (mongoc_cursor_next(cursor, &doc)) {
		bson_copy_to(doc, out);
		ret = 0;
	} else {
		ret = mongoc_cursor_error(cursor, be) ? MONGO_DRIVER_ERROR : -ENOENT;
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(&opts);
	bson_destroy(&filter);
	return ret;
}

/* ---- start, list, load ---- */

static int op_ping(struct mongo_store *ms, struct mongo_call *call, void *arg, int attempt,
		   bson_error_t *be, struct jfs_err *err)
{
	mongoc_collection_t *coll = call->coll;
	bson_t cmd = BSON_INITIALIZER;
	bool ok;

	BSON_APPEND_INT32(&cmd, "ping", 1);
	ok = mongoc_collection_command_simple(coll, &cmd, NULL, NULL, be);
	bson_destroy(&cmd);
	return ok ? 0 : MONGO_DRIVER_ERROR;
}

static int mongo_start(struct jfs_store *st, struct jfs_err *err)
{
	struct mongo_store *ms = mongo_from_store(st);
	struct jfs_err perr = { 0 };
	mongoc_uri_t *list_uri;
	bson_error_t be;
	int ret;

	ms->pool = mongoc_client_pool_new_with_error(ms->uri, &be);
	if (!ms->pool) {
		scrub(ms, &be);
		return jfs_err_set(err, EINVAL, "mongodb: cannot use '%s': %s", ms->uri_redacted,
				   be.message);
	}
	mongoc_client_pool_set_error_api(ms->pool, MONGOC_ERROR_API_VERSION_2);
	list_uri = mongoc_uri_copy(ms->uri);
	if (!ms->user_socket_timeout && ms->opts.timeout_ms < MONGO_LIST_SOCKET_MS)
		mongoc_uri_set_option_as_int32(list_uri, MONGOC_URI_SOCKETTIMEOUTMS,
					       MONGO_LIST_SOCKET_MS);
	ms->list_pool = mongoc_client_pool_new_with_error(list_uri, &be);
	mongoc_uri_destroy(list_uri);
	if (!ms->list_pool) {
		scrub(ms, &be);
		return jfs_err_set(err, EINVAL, "mongodb: cannot use '%s': %s", ms->uri_redacted,
				   be.message);
	}
	mongoc_client_pool_set_error_api(ms->list_pool, MONGOC_ERROR_API_VERSION_2);
	/*
	 * One try, no retries: a wrong password fails the mount; a server
	 * that is away only warns, and every request retries on its own.
	 */
	ret = mongo_run_for(ms, ms->pool, 0, "ping", ms->uri_redacted, op_ping, NULL, &perr);
	if (ret == -EACCES || ret == -EINVAL) {
		*err = perr;
		return ret;
	}
	if (ret)
		jfs_log(LOG_WARNING, "mongodb: server not reachable yet, serving anyway: %s",
			perr.msg);
	return 0;
}

static int64_t time_field(const bson_t *doc, const char *key)
{
	bson_iter_t it;
	int64_t ms;

	if (!bson_iter_init_find(&it, doc, key))
		return -1;
	if (BSON_ITER_HOLDS_DATE_TIME(&it))
		return bson_iter_date_time(&it);
	if (BSON_ITER_HOLDS_UTF8(&it) && jfs_iso_parse(bson_iter_utf8(&it, NULL), &ms))
		return ms;
	return -1;
}

/*
 * Listing. Pages are stateless in meaning: page->next is the last _id
 * seen and the next page is {_id: {$gt: next}} sorted by _id, so any
 * cursor string works at any time. In practice the query of a listing
 * stays open between pages (a live cursor, kept in ms->lists under the
 * cursor string it continues from): a server that cannot use the _id index
 * for that query (FerretDB sorts in memory) then sorts once per listing,
 * not once per page. A live cursor that is gone or fails is replaced by
 * the stateless query.
 */
static void list_close(struct mongo_store *ms, struct list_cursor *lc)
{
	if (lc->cursor)
		mongoc_cursor_destroy(lc->cursor);
	if (lc->coll)
		mongoc_collection_destroy(lc->coll);
	if (lc->client)
		mongoc_client_pool_push(ms->list_pool, lc->client);
	free(lc->last);
	memset(lc, 0, sizeof(*lc));
}

/* Take the live cursor that continues from @cursor out of the table; close idle ones. */
static bool list_take(struct mongo_store *ms, const char *cursor, struct list_cursor *out)
{
	struct list_cursor idle[MONGO_LIST_OPEN];
	int64_t now = jfs_now_ms();
	size_t i, n = 0;
	bool found = false;

	pthread_mutex_lock(&ms->list_lock);
	for (i = 0; i < MONGO_LIST_OPEN; i++) {
		struct list_cursor *lc = &ms->lists[i];

		if (!lc->last)
			continue;
		if (!found && !strcmp(lc->last, cursor)) {
			*out = *lc;
			memset(lc, 0, sizeof(*lc));
			found = true;
		} else if (now - lc->used_ms > MONGO_LIST_IDLE_MS) {
			idle[n++] = *lc;
			memset(lc, 0, sizeof(*lc));
		}
	}
	pthread_mutex_unlock(&ms->list_lock);
	for (i = 0; i < n; i++)
		list_close(ms, &idle[i]);
	return found;
}

/* Keep @lc (it continues from lc->last) for the next page; the oldest makes room. */
static void list_keep(struct mongo_store *ms, struct list_cursor *lc)
{
	struct list_cursor old;
	size_t i, slot = 0;

	lc->used_ms = jfs_now_ms();
	pthread_mutex_lock(&ms->list_lock);
	for (i = 0; i < MONGO_LIST_OPEN; i++) {
		if (!ms->lists[i].last) {
			slot = i;
			break;
		}
		if (ms->lists[i].used_ms < ms->lists[slot].used_ms)
			slot = i;
	}
	old = ms->lists[slot];
	ms->lists[slot] = *lc;
	pthread_mutex_unlock(&ms->list_lock);
	memset(lc, 0, sizeof(*lc));
	if (old.last)
		list_close(ms, &old);
}

/*
 * Fill @page with up to @limit entries from @cursor. Returns 0 (page->next
 * set when the page is full), -ENOMEM, or MONGO_DRIVER_ERROR with @be set.
 */
static int list_fill(mongoc_cursor_t *cursor, size_t limit, struct jfs_list_page *page,
		     bson_error_t *be, struct jfs_err *err)
{
	const bson_t *doc;
	const char *id;
	char *last = NULL;
	bson_iter_t it;
	uint32_t len;
	size_t skipped = 0, idlen;

	page->entries = calloc(limit, sizeof(*page->entries));
	if (!page->entries)
		return jfs_err_set(err, ENOMEM, "mongodb: out of memory");
	while (page->n + skipped < limit && mongoc_cursor_next(cursor, &doc)) {
		if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it))
			continue;
		id = bson_iter_utf8(&it, &len);
		idlen = strlen(id);
		free(last);
		if (idlen != len) {
			/*
			 * An _id with a NUL byte cannot be a C string, so no file
			 * name. Every id that starts like it (up to the NUL) sorts
			 * before that prefix + "\x01": the next page starts there.
			 */
			last = malloc(idlen + 2);
			if (!last)
				abort();
			memcpy(last, id, idlen);
			last[idlen] = '\x01';
			last[idlen + 1] = '\0';
			jfs_log(LOG_DEBUG, "mongodb: skipping an _id with a NUL byte");
			skipped++;
			continue;
		}
		last = strdup(id);
		page->entries[page->n].id = strdup(id);
		if (!last || !page->entries[page->n].id)
			abort();
		page->entries[page->n].created_ms = time_field(doc, "createdAt");
		page->entries[page->n].updated_ms = time_field(doc, "updatedAt");
		page->n++;
	}
	if (mongoc_cursor_error(cursor, be)) {
		free(last);
		jfs_list_page_release(page);
		return MONGO_DRIVER_ERROR;
	}
	if (page->n + skipped == limit && last)
		page->next = last;
	else
		free(last);
	return 0;
}

struct list_arg {
	const char *cursor;
	size_t limit;
	struct jfs_list_page *page;
};

static int op_list(struct mongo_store *ms, struct mongo_call *call, void *argp, int attempt,
		   bson_error_t *be, struct jfs_err *err)
{
	struct list_arg *arg = argp;
	struct jfs_list_page *page = arg->page;
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, child;
	struct list_cursor lc = { 0 };
	mongoc_cursor_t *cursor;
	int ret;

	jfs_list_page_release(page);
	BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &child);
	if (arg->cursor)
		BSON_APPEND_UTF8(&child, "$gt", arg->cursor);
	else
		BSON_APPEND_UTF8(&child, "$gte", ""); /* every string _id: the only ids we know */
	bson_append_document_end(&filter, &child);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &child);
	BSON_APPEND_INT32(&child, "_id", 1);
	BSON_APPEND_INT32(&child, "createdAt", 1);
	BSON_APPEND_INT32(&child, "updatedAt", 1);
	bson_append_document_end(&opts, &child);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &child);
	BSON_APPEND_INT32(&child, "_id", 1);
	bson_append_document_end(&opts, &child);
	/* no limit: the same cursor serves the following pages */
	BSON_APPEND_INT32(&opts, "batchSize", arg->limit > 10000 ? 10000 : (int32_t)arg->limit);

	cursor = mongoc_collection_find_with_opts(call->coll, &filter, &opts, NULL);
	ret = list_fill(cursor, arg->limit, page, be, err);
	if (ret == 0 && page->next) {
		lc.client = call->client;
		lc.coll = call->coll;
		lc.cursor = cursor;
		lc.last = strdup(page->next);
		if (!lc.last)
			abort();
		call->keep = true;
		list_keep(ms, &lc);
	} else {
		mongoc_cursor_destroy(cursor);
	}
	bson_destroy(&opts);
	bson_destroy(&filter);
	return ret;
}

static int mongo_list(struct jfs_store *st, const char *cursor, size_t limit,
		      struct jfs_list_page *page, struct jfs_err *err)
{
	struct mongo_store *ms = mongo_from_store(st);
	struct list_arg arg = { .cursor = cursor, .limit = limit ? limit : 1000, .page = page };
	struct list_cursor lc = { 0 };
	bson_error_t be;
	int ret;

	memset(page, 0, sizeof(*page));
	if (cursor && ms->list_pool && list_take(ms, cursor, &lc)) {
		memset(&be, 0, sizeof(be));
		ret = list_fill(lc.cursor, arg.limit, page, &be, err);
		if (ret == 0 && page->next) {
			free(lc.last);
			lc.last = strdup(page->next);
			if (!lc.last)
				abort();
			list_keep(ms, &lc);
			return 0;
		}
		list_close(ms, &lc);
		if (ret <= 0)
			return ret;
		scrub(ms, &be);
		jfs_log(LOG_DEBUG, "mongodb: listing cursor lost (%s), querying again", be.message);
	}
	return mongo_run_for(ms, ms->list_pool, ms->opts.retry_ms, "list", cursor ? cursor : "",
			     op_list, &arg, err);
}

/*
 * find(): one query with the filter translated, on a cursor over the
 * matching _ids. MongoDB's dotted paths differ from JavaScript's property
 * access: they look into every element of an array on the way, match an
 * array holding the value, take null for a missing field, and compare only
 * values of one type. So every condition on a path of plain keys a.b.c is
 *
 *   guards   {a: {$not: {$type: "array"}}}, {"a.b": ...}: the steps read
 *            objects (or nothing), as a.b.c does in JavaScript
 *   a.b.c = v      {c: {$eq: v}} (numbers: of a number type; null:
 *                  {$type: "null"}), and c not an array
 *   a.b.c != v     {$nor: [guards and "="]}
 *   a.b.c?         {c: {$exists: true}}
 *   a.b.c ~ s      {c: {$regex: <s quoted>}}, c not an array
 *
 * which MongoDB decides as JavaScript does, with an _id projection. A
 * relational comparison (JavaScript's "600" > 500 crosses types) or a path
 * with an array index becomes a superset: the query also takes values of
 * other types, the projection brings the values the filter reads, and the
 * caller decides (jfs_found.item).
 */
#define MONGO_FIND_PAGE 1000
#define MONGO_FIND_BATCH 10000
#define MONGO_FIND_FIRST_BATCH 500

struct mongo_q {
	bool exact;
	unsigned n;      /* clauses in the current $and */
};

/* Whether MongoDB's dotted-path syntax can name segment @seg. */
static bool plain_key(const char *seg)
{
	return seg[0] && seg[0] != '$' && !strchr(seg, '.');
}

/* The dotted path of the first @n segments of @p, "id" as "_id" (malloc()ed). */
static char *mongo_path(const struct jfs_path *p, size_t n)
{
	struct jfs_strbuf sb;
	size_t i;

	jfs_strbuf_init(&sb);
	for (i = 0; i < n; i++) {
		if (i)
			jfs_strbuf_addch(&sb, '.');
		jfs_strbuf_addstr(&sb, i == 0 && !strcmp(p->seg[0], "id") ? "_id" : p->seg[i]);
	}
	return jfs_strbuf_detach(&sb, NULL);
}

static void append_literal(bson_t *b, const char *key, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		bson_append_utf8(b, key, -1, json_string_value(v), (int)json_string_length(v));
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		BSON_APPEND_DOUBLE(b, key, jfs_json_number_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		BSON_APPEND_BOOL(b, key, json_is_true(v));
		break;
	default:
		BSON_APPEND_NULL(b, key);
	}
}

/* The next clause of the $and array @and: a document to fill, ended by end_clause(). */
static void begin_clause(bson_t *and, struct mongo_q *q, bson_t *clause)
{
	char key[16];
	const char *k;

	bson_uint32_to_string(q->n++, &k, key, sizeof(key));
	bson_append_document_begin(and, k, -1, clause);
}

/* {path: {$not: {$type: "array"}}} */
static void clause_not_array(bson_t *and, struct mongo_q *q, const char *path)
{
	bson_t c, op, nt;

	begin_clause(and, q, &c);
	bson_append_document_begin(&c, path, -1, &op);
	bson_append_document_begin(&op, "$not", -1, &nt);
	BSON_APPEND_UTF8(&nt, "$type", "array");
	bson_append_document_end(&op, &nt);
	bson_append_document_end(&c, &op);
	bson_append_document_end(and, &c);
}

/* The guards of @p: every step before the last reads an object (or nothing). */
static void clause_guards(bson_t *and, struct mongo_q *q, const struct jfs_path *p)
{
	size_t i;
	char *path;

	for (i = 1; i < p->n; i++) {
		path = mongo_path(p, i);
		clause_not_array(and, q, path);
		free(path);
	}
}

/* The clauses of @p = literal, exact (guards included). */
static void clauses_eq(bson_t *and, struct mongo_q *q, const struct jfs_path *p, const json_t *v)
{
	char *path = mongo_path(p, p->n);
	bson_t c, op, types;

	clause_guards(and, q, p);
	begin_clause(and, q, &c);
	bson_append_document_begin(&c, path, -1, &op);
	if (json_is_null(v)) {
		BSON_APPEND_UTF8(&op, "$type", "null");
	} else {
		append_literal(&op, "$eq", v);
		if (json_is_number(v)) {
			/* Decimal128 shows as an object: never === a number */
			BSON_APPEND_ARRAY_BEGIN(&op, "$type", &types);
			BSON_APPEND_UTF8(&types, "0", "double");
			BSON_APPEND_UTF8(&types, "1", "int");
			BSON_APPEND_UTF8(&types, "2", "long");
			bson_append_array_end(&op, &types);
		}
	}
	bson_append_document_end(&c, &op);
	bson_append_document_end(and, &c);
	clause_not_array(and, q, path);
	free(path);
}

/* A regular expression matching @s (@len bytes, no NUL) literally. */
static char *regex_quote(const char *s, size_t len)
{
	struct jfs_strbuf sb;
	size_t i;

	jfs_strbuf_init(&sb);
	for (i = 0; i < len; i++) {
		if (strchr("\\.+*?()|[]{}^$", s[i]))
			jfs_strbuf_addch(&sb, '\\');
		jfs_strbuf_addch(&sb, s[i]);
	}
	return jfs_strbuf_detach(&sb, NULL);
}

static const char *const mongo_rel[] = {
	[JFS_FOP_LT] = "$lt", [JFS_FOP_LE] = "$lte", [JFS_FOP_GT] = "$gt", [JFS_FOP_GE] = "$gte",
};

/* The clauses of one condition, appended to the $and array @and. */
static void clauses_cond(bson_t *and, struct mongo_q *q, const struct jfs_filter_cond *c)
{
	bool numeric = false, plain = true, nul;
	char *path = NULL, *re;
	bson_t cl, op, nor, sub, alt, br;
	size_t i, idx;

	for (i = 0; i < c->path.n; i++) {
		plain &= plain_key(c->path.seg[i]);
		numeric |= i > 0 && jfs_path_index(c->path.seg[i], &idx);
	}
	if (!strcmp(c->path.seg[0], "_id") || (!strcmp(c->path.seg[0], "id") && c->path.n > 1)) {
		/* the item has no such value: a constant */
		if (!jfs_filter_cond_holds(c, NULL)) {
			begin_clause(and, q, &cl);
			bson_append_document_begin(&cl, "_id", -1, &op);
			BSON_APPEND_BOOL(&op, "$exists", false);
			bson_append_document_end(&cl, &op);
			bson_append_document_end(and, &cl);
		}
		return;
	}
	nul = c->value && json_is_string(c->value) &&
	      memchr(json_string_value(c->value), '\0', json_string_length(c->value));
	if (!plain || nul || (numeric && c->op == JFS_FOP_NE)) {
		q->exact = false; /* no clause: every item is a candidate */
		return;
	}
	if (numeric && c->op != JFS_FOP_EXISTS)
		q->exact = false; /* MongoDB's reading is a superset; no guards */
	path = mongo_path(&c->path, c->path.n);
	switch (c->op) {
	case JFS_FOP_EXISTS:
		if (!numeric)
			clause_guards(and, q, &c->path);
		else
			q->exact = false;
		begin_clause(and, q, &cl);
		bson_append_document_begin(&cl, path, -1, &op);
		BSON_APPEND_BOOL(&op, "$exists", true);
		bson_append_document_end(&cl, &op);
		bson_append_document_end(and, &cl);
		break;
	case JFS_FOP_EQ:
		if (numeric) {
			begin_clause(and, q, &cl);
			append_literal(&cl, path, c->value);
			bson_append_document_end(and, &cl);
		} else {
			clauses_eq(and, q, &c->path, c->value);
		}
		break;
	case JFS_FOP_NE:
		begin_clause(and, q, &cl);
		BSON_APPEND_ARRAY_BEGIN(&cl, "$nor", &nor);
		BSON_APPEND_DOCUMENT_BEGIN(&nor, "0", &sub);
		{
			struct mongo_q inner = { .exact = true };

			BSON_APPEND_ARRAY_BEGIN(&sub, "$and", &alt);
			clauses_eq(&alt, &inner, &c->path, c->value);
			bson_append_array_end(&sub, &alt);
		}
		bson_append_document_end(&nor, &sub);
		bson_append_array_end(&cl, &nor);
		bson_append_document_end(and, &cl);
		break;
	case JFS_FOP_CONTAINS:
		if (!numeric)
			clause_guards(and, q, &c->path);
		begin_clause(and, q, &cl);
		bson_append_document_begin(&cl, path, -1, &op);
		if (json_string_length(c->value)) {
			re = regex_quote(json_string_value(c->value), json_string_length(c->value));
			BSON_APPEND_REGEX(&op, "$regex", re, "");
			free(re);
		} else {
			BSON_APPEND_UTF8(&op, "$type", "string");
		}
		bson_append_document_end(&cl, &op);
		bson_append_document_end(and, &cl);
		if (!numeric)
			clause_not_array(and, q, path);
		break;
	default:
		/* {$or: [{path: {$op: v}}, {path: {$exists: true, $not: {$type: T}}}]} */
		q->exact = false;
		begin_clause(and, q, &cl);
		if (json_is_string(c->value) || json_is_number(c->value)) {
			BSON_APPEND_ARRAY_BEGIN(&cl, "$or", &alt);
			BSON_APPEND_DOCUMENT_BEGIN(&alt, "0", &br);
			bson_append_document_begin(&br, path, -1, &op);
			append_literal(&op, mongo_rel[c->op], c->value);
			bson_append_document_end(&br, &op);
			bson_append_document_end(&alt, &br);
			BSON_APPEND_DOCUMENT_BEGIN(&alt, "1", &br);
			bson_append_document_begin(&br, path, -1, &op);
			BSON_APPEND_BOOL(&op, "$exists", true);
			BSON_APPEND_DOCUMENT_BEGIN(&op, "$not", &sub);
			BSON_APPEND_UTF8(&sub, "$type", json_is_string(c->value) ? "string" : "number");
			bson_append_document_end(&op, &sub);
			bson_append_document_end(&br, &op);
			bson_append_document_end(&alt, &br);
			bson_append_array_end(&cl, &alt);
		} else {
			/* JavaScript only: against true, false or null */
			bson_append_document_begin(&cl, path, -1, &op);
			BSON_APPEND_BOOL(&op, "$exists", true);
			bson_append_document_end(&cl, &op);
		}
		bson_append_document_end(and, &cl);
	}
	free(path);
}

struct find_arg {
	const struct jfs_filter *f;
	bson_t filter, opts;
	bool project;      /* entries carry partial items */
	jfs_found_fn *fn;
	void *data;
	int64_t found;     /* entries handed to fn by the last try */
};

/* The query and options of a find (@f NULL: the listing) into @a. */
static void find_query(struct mongo_store *ms, struct find_arg *a, const struct jfs_filter *f)
{
	struct mongo_q q = { .exact = true };
	struct jfs_path *paths = NULL;
	bson_t and, proj;
	bool whole = false;
	size_t i, j, n = 0;
	char *path;

	bson_init(&a->filter);
	bson_init(&a->opts);
	a->f = f;
	if (f && f->n) {
		BSON_APPEND_ARRAY_BEGIN(&a->filter, "$and", &and);
		for (i = 0; i < f->n; i++)
			clauses_cond(&and, &q, &f->cond[i]);
		bson_append_array_end(&a->filter, &and);
		if (!q.n) {
			/* an empty $and is an error: everything is a candidate */
			bson_reinit(&a->filter);
		}
	}
	a->project = f && (!q.exact || f->nneed);
	if (a->project) {
		n = jfs_filter_projection(f, &paths);
		for (i = 0; i < n; i++)
			for (j = 0; j < paths[i].n; j++)
				whole |= !plain_key(paths[i].seg[j]);
	}
	if (!whole) {
		BSON_APPEND_DOCUMENT_BEGIN(&a->opts, "projection", &proj);
		BSON_APPEND_INT32(&proj, "_id", 1);
		if (!f && jfs_list_times_want(ms->list_times, atomic_load(&ms->users))) {
			/* the listing: the times ls -l shows without a load per user */
			BSON_APPEND_INT32(&proj, "createdAt", 1);
			BSON_APPEND_INT32(&proj, "updatedAt", 1);
		}
		for (i = 0; a->project && i < n; i++) {
			if (!strcmp(paths[i].seg[0], "id"))
				continue; /* the _id, projected anyway */
			path = mongo_path(&paths[i], paths[i].n);
			BSON_APPEND_INT32(&proj, path, 1);
			free(path);
		}
		bson_append_document_end(&a->opts, &proj);
	}
	free(paths);
	/* a small first batch comes soon (a server builds a batch whole): readdir streams it */
	BSON_APPEND_INT32(&a->opts, "batchSize", MONGO_FIND_FIRST_BATCH);
}

static int op_find(struct mongo_store *ms, struct mongo_call *call, void *argp, int attempt,
		   bson_error_t *be, struct jfs_err *err)
{
	struct find_arg *a = argp;
	struct jfs_found *found = calloc(MONGO_FIND_PAGE, sizeof(*found));
	mongoc_cursor_t *cursor;
	const bson_t *doc;
	bson_iter_t it;
	size_t n = 0, i;
	uint32_t len;
	int ret = 0;

	if (!found)
		abort();
	a->found = 0; /* a retry starts again */
	cursor = mongoc_collection_find_with_opts(call->coll, &a->filter, &a->opts, NULL);
	for (;;) {
		bool more = mongoc_cursor_next(cursor, &doc);

		if (more) {
			struct jfs_found *e = &found[n];
			const char *id;

			if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it))
				continue;
			id = bson_iter_utf8(&it, &len);
			if (strlen(id) != len) {
				/* "alice\0x" is no "alice": no file name can say it */
				jfs_log(LOG_WARNING, "mongodb: a document whose _id holds a NUL byte "
						     "skipped");
				continue;
			}
			if (!(e->id = strdup(id)))
				abort();
			e->created_ms = time_field(doc, "createdAt");
			e->updated_ms = time_field(doc, "updatedAt");
			e->item = NULL;
			if (a->project && !(e->item = jfs_bson_to_item(doc, id, err))) {
				free(e->id);
				ret = -EIO;
				break;
			}
			if (n == 0)
				mongoc_cursor_set_batch_size(cursor, MONGO_FIND_BATCH);
			if (++n < MONGO_FIND_PAGE)
				continue;
		}
		a->found += (int64_t)n;
		if (n && a->fn(a->data, found, n))
			ret = jfs_err_set(err, ECANCELED, "the caller stopped the find");
		for (i = 0; i < n; i++) {
			free(found[i].id);
			json_decref(found[i].item);
		}
		n = 0;
		if (ret || !more)
			break;
	}
	for (i = 0; i < n; i++) {
		free(found[i].id);
		json_decref(found[i].item);
	}
	/* a failed cursor is retried from the start: an id may come twice */
	if (!ret && mongoc_cursor_error(cursor, be))
		ret = MONGO_DRIVER_ERROR;
	mongoc_cursor_destroy(cursor);
	free(found);
	return ret;
}

static int mongo_find(struct jfs_store *st, const struct jfs_filter *f, jfs_found_fn *fn,
		      void *data, struct jfs_err *err)
{
	struct mongo_store *ms = mongo_from_store(st);
	struct find_arg a = { .fn = fn, .data = data };
	int ret;

	find_query(ms, &a, f);
	{
		/* once per find: what the server is asked, for -d */
		char *q = bson_as_relaxed_extended_json(&a.filter, NULL);
		char *o = bson_as_relaxed_extended_json(&a.opts, NULL);

		jfs_log(LOG_DEBUG, "mongodb: find %s %s", q, o);
		bson_free(q);
		bson_free(o);
	}
	ret = mongo_run_for(ms, ms->list_pool, ms->opts.retry_ms, f ? "find users in" : "list",
			    ms->coll_name, op_find, &a, err);
	if (!f && !ret)
		atomic_store(&ms->users, a.found);
	bson_destroy(&a.filter);
	bson_destroy(&a.opts);
	return ret;
}

struct load_arg {
	const char *id;
	json_t *item;
};

static int op_load(struct mongo_store *ms, struct mongo_call *call, void *argp, int attempt,
		   bson_error_t *be, struct jfs_err *err)
{
	mongoc_collection_t *coll = call->coll;
	struct load_arg *arg = argp;
	bson_t doc = BSON_INITIALIZER;
	int ret;

	ret = find_one(coll, arg->id, NULL, &doc, be);
	if (ret == -ENOENT)
		ret = jfs_err_set(err, ENOENT, "no user '%s' in mongodb", arg->id);
	if (ret)
		goto out_destroy;
	arg->item = jfs_bson_to_item(&doc, arg->id, err);
	if (!arg->item) {
		jfs_err_prefix(err, "cannot load '%s' from mongodb: ", arg->id);
		ret = -EIO;
	}
out_destroy:
	bson_destroy(&doc);
	return ret;
}

static int mongo_load(struct jfs_store *st, const char *id, json_t **item, struct jfs_err *err)
{
	struct mongo_store *ms = mongo_from_store(st);
	struct load_arg arg = { .id = id };
	int ret;

	ret = mongo_run(ms, "load", id, op_load, &arg, err);
	if (!ret)
		*item = arg.item;
	return ret;
}

/* ---- update, create, remove ---- */

struct update_arg {
	const char *id;
	const struct jfs_patch *patch;
};

static bool settable_key(const char *key)
{
	return strcmp(key, "id") && strcmp(key, "_id");
}

/* Whether the stored @cur already is what @patch makes of it (a retried write landed). */
static bool patch_applied(const json_t *cur, const struct jfs_patch *patch)
{
	const char *key;
	json_t *v;
	size_t i;

	if (patch->set)
		json_object_foreach(patch->set, key, v)
			if (settable_key(key) && !jfs_json_equal(json_object_get(cur, key), v))
				return false;
	if (patch->unset)
		for (i = 0; i < json_array_size(patch->unset); i++) {
			key = json_string_value(json_array_get(patch->unset, i));
			if (key && json_object_get(cur, key))
				return false;
		}
	return true;
}

static int build_update(const struct jfs_patch *patch, const bson_t *cur, bson_t *update,
			struct jfs_err *err)
{
	bson_iter_t old;
	bson_t child;
	const char *key;
	json_t *v;
	size_t i;
	int ret = 0, n = 0;
	bool have_old;

	if (patch->set && json_object_size(patch->set)) {
		BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &child);
		json_object_foreach(patch->set, key, v) {
			if (!settable_key(key))
				continue;
			have_old = bson_iter_init_find(&old, cur, key);
			ret = jfs_bson_append_json(&child, key, v, have_old ? &old : NULL, key,
						   err);
			if (ret)
				break;
			n++;
		}
		bson_append_document_end(update, &child);
		if (ret)
			return ret;
	}
	if (patch->unset && json_array_size(patch->unset)) {
		BSON_APPEND_DOCUMENT_BEGIN(update, "$unset", &child);
		for (i = 0; i < json_array_size(patch->unset); i++) {
			key = json_string_value(json_array_get(patch->unset, i));
			if (!key || !settable_key(key))
				continue;
			BSON_APPEND_UTF8(&child, key, "");
			n++;
		}
		bson_append_document_end(update, &child);
	}
	return n;
}

static int op_update(struct mongo_store *ms, struct mongo_call *call, void *argp, int attempt,
		     bson_error_t *be, struct jfs_err *err)
{
	mongoc_collection_t *coll = call->coll;
	struct update_arg *arg = argp;
	const struct jfs_patch *patch = arg->patch;
	bson_t cur, filter, update, opts, reply, child;
	bson_iter_t old;
	json_t *cur_item;
	int ret, round, n;
	bool holds;

	for (round = 0; round < MONGO_RACE_RETRIES; round++) {
		/*
		 * The stored document first: its BSON types are what the new
		 * values are written back with, and its cond_key value is
		 * what the update is conditional on, byte for byte.
		 */
		bson_init(&cur);
		ret = find_one(coll, arg->id, NULL, &cur, be);
		if (ret) {
			bson_destroy(&cur);
			if (ret == -ENOENT)
				return jfs_err_set(err, ENOENT, "no user '%s' in mongodb", arg->id);
			return ret;
		}
		cur_item = jfs_bson_to_item(&cur, arg->id, err);
		if (!cur_item) {
			bson_destroy(&cur);
			jfs_err_prefix(err, "cannot update '%s' in mongodb: ", arg->id);
			return -EIO;
		}
		holds = jfs_patch_condition_holds(patch, cur_item);
		if (!holds && attempt > 0 && patch_applied(cur_item, patch))
			holds = true; /* our earlier try landed before the connection broke */
		json_decref(cur_item);
		if (!holds) {
			bson_destroy(&cur);
			return jfs_err_set(err, ECANCELED, "'%s' of '%s' changed in mongodb",
					   patch->cond_key, arg->id);
		}

		bson_init(&update);
		n = build_update(patch, &cur, &update, err);
		if (n <= 0) {
			bson_destroy(&update);
			bson_destroy(&cur);
			return n;
		}
		bson_init(&filter);
		BSON_APPEND_UTF8(&filter, "_id", arg->id);
		if (patch->cond_key && bson_iter_init_find(&old, &cur, patch->cond_key)) {
			BSON_APPEND_DOCUMENT_BEGIN(&filter, patch->cond_key, &child);
			bson_append_iter(&child, "$eq", 3, &old);
			bson_append_document_end(&filter, &child);
		} else if (patch->cond_key) {
			BSON_APPEND_DOCUMENT_BEGIN(&filter, patch->cond_key, &child);
			BSON_APPEND_BOOL(&child, "$exists", false);
			bson_append_document_end(&filter, &child);
		}
		bson_init(&opts);
		mongoc_write_concern_append((mongoc_write_concern_t *)mongo_wc(ms), &opts);
		ret = mongoc_collection_update_one(coll, &filter, &update, &opts, &reply, be)
			      ? 0
			      : MONGO_DRIVER_ERROR;
		if (!ret && reply_count(&reply, "matchedCount") == 0)
			ret = -ECANCELED; /* changed between our read and write: again */
		bson_destroy(&reply);
		bson_destroy(&opts);
		bson_destroy(&filter);
		bson_destroy(&update);
		bson_destroy(&cur);
		if (ret != -ECANCELED)
			return ret;
	}
	return jfs_err_set(err, ECANCELED, "'%s' keeps changing in mongodb", arg->id);
}

static int mongo_update(struct jfs_store *st, const char *id, const struct jfs_patch *patch,
			struct jfs_err *err)
{
	struct mongo_store *ms = mongo_from_store(st);
	struct update_arg arg = { .id = id, .patch = patch };

	if (ms->opts.read_only)
		return jfs_err_set(err, EROFS, "cannot update '%s': read-only", id);
	return mongo_run(ms, "update", id, op_update, &arg, err);
}

struct create_arg {
	const char *id;
	json_t *item;
	const bson_t *doc;
};

static int op_create(struct mongo_store *ms, struct mongo_call *call, void *argp, int attempt,
		     bson_error_t *be, struct jfs_err *err)
{
	mongoc_collection_t *coll = call->coll;
	struct create_arg *arg = argp;
	bson_t opts = BSON_INITIALIZER, cur = BSON_INITIALIZER;
	json_t *cur_item;
	bool retry, ok;
	int ret;

	mongoc_write_concern_append((mongoc_write_concern_t *)mongo_wc(ms), &opts);
	ok = mongoc_collection_insert_one(coll, arg->doc, &opts, NULL, be);
	bson_destroy(&opts);
	if (ok)
		return 0;
	if (mongo_map_error(be, &retry) != -EEXIST)
		return MONGO_DRIVER_ERROR;
	ret = jfs_err_set(err, EEXIST, "user '%s' exists in mongodb", arg->id);
	/* a retried insert may find what our first try stored */
	if (attempt > 0 && find_one(coll, arg->id, NULL, &cur, be) == 0) {
		cur_item = jfs_bson_to_item(&cur, arg->id, NULL);
		if (cur_item && jfs_json_equal(cur_item, arg->item))
			ret = 0;
		json_decref(cur_item);
	}
	bson_destroy(&cur);
	return ret;
}

static int mongo_create(struct jfs_store *st, const char *id, json_t *item, struct jfs_err *err)
{
	struct mongo_store *ms = mongo_from_store(st);
	struct create_arg arg = { .id = id };
	bson_t doc = BSON_INITIALIZER;
	json_t *copy;
	int ret;

	if (ms->opts.read_only)
		return jfs_err_set(err, EROFS, "cannot create '%s': read-only", id);
	ret = jfs_bson_from_item(item, id, &doc, err);
	if (ret) {
		jfs_err_prefix(err, "cannot create '%s' in mongodb: ", id);
		goto out_destroy;
	}
	/* what a load would return, to recognise our own insert after a retry */
	copy = json_copy(item);
	json_object_del(copy, "_id");
	json_object_set_new(copy, "id", json_string(id));
	arg.item = copy;
	arg.doc = &doc;
	ret = mongo_run(ms, "create", id, op_create, &arg, err);
	json_decref(copy);
out_destroy:
	bson_destroy(&doc);
	return ret;
}

static int op_remove(struct mongo_store *ms, struct mongo_call *call, void *argp, int attempt,
		     bson_error_t *be, struct jfs_err *err)
{
	mongoc_collection_t *coll = call->coll;
	const char *id = argp;
	bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
	int ret = 0;

	BSON_APPEND_UTF8(&filter, "_id", id);
	mongoc_write_concern_append((mongoc_write_concern_t *)mongo_wc(ms), &opts);
	if (!mongoc_collection_delete_one(coll, &filter, &opts, &reply, be))
		ret = MONGO_DRIVER_ERROR;
	/* after a lost reply, a missing document is the one our first try deleted */
	else if (reply_count(&reply, "deletedCount") == 0 && attempt == 0)
		ret = jfs_err_set(err, ENOENT, "no user '%s' in mongodb", id);
	bson_destroy(&reply);
	bson_destroy(&opts);
	bson_destroy(&filter);
	return ret;
}

static int mongo_remove(struct jfs_store *st, const char *id, struct jfs_err *err)
{
	struct mongo_store *ms = mongo_from_store(st);

	if (ms->opts.read_only)
		return jfs_err_set(err, EROFS, "cannot remove '%s': read-only", id);
	return mongo_run(ms, "remove", id, op_remove, (void *)id, err);
}

/* Every acknowledged write is as durable as the write concern made it. */
static int mongo_sync(struct jfs_store *st, const char *id, struct jfs_err *err)
{
	mongo_from_store(st);
	return 0;
}

static void mongo_describe(struct jfs_store *st, json_t *out)
{
	struct mongo_store *ms = mongo_from_store(st);
	const mongoc_write_concern_t *wc = mongo_wc(ms);
	int32_t w = mongoc_write_concern_get_w(wc);
	json_t *wcj;

	json_object_set_new(out, "connectionString", json_string(ms->uri_redacted));
	json_object_set_new(out, "connectionStringFrom", json_string(ms->uri_source));
	json_object_set_new(out, "databaseName", json_string(ms->db_name));
	json_object_set_new(out, "collectionName", json_string(ms->coll_name));
	if (mongoc_write_concern_get_wtag(wc))
		wcj = json_string(mongoc_write_concern_get_wtag(wc));
	else if (w == MONGOC_WRITE_CONCERN_W_MAJORITY)
		wcj = json_string("majority");
	else if (w == MONGOC_WRITE_CONCERN_W_DEFAULT)
		wcj = json_string("server default");
	else
		wcj = json_integer(w);
	json_object_set_new(out, "writeConcern", wcj);
	json_object_set_new(out, "listTimes",
			    jfs_list_times_json(ms->list_times, atomic_load(&ms->users)));
}

static void mongo_summary(struct jfs_store *st, json_t *out)
{
	struct mongo_store *ms = mongo_from_store(st);
	char line[1024];

	snprintf(line, sizeof(line), "collection '%s.%s' at '%s'", ms->db_name, ms->coll_name,
		 ms->uri_redacted);
	json_object_set_new(out, "target", json_string(line));
	snprintf(line, sizeof(line), "the connection string from %s", ms->uri_source);
	json_object_set_new(out, "credentials", json_string(line));
}

static void mongo_close(struct jfs_store *st)
{
	mongo_free(mongo_from_store(st));
}

static const struct jfs_backend_option mongo_options[] = {
	{ "mongodb", NULL, true, NULL,
	  "use MongoDB (URI from the config file or JOVOFS_MONGODB_URI)" },
	{ "database", "databaseName", false, "NAME", "MongoDB database" },
	{ "collection", "collectionName", false, "NAME", "MongoDB collection (default jovoUsers)" },
	{ NULL }
};

const struct jfs_backend_ops jfs_backend_mongodb = {
	.name = "mongodb",
	.options = mongo_options,
	.open = mongo_open,
	.start = mongo_start,
	.list = mongo_list,
	.find = mongo_find,
	.load = mongo_load,
	.update = mongo_update,
	.create = mongo_create,
	.remove = mongo_remove,
	.sync = mongo_sync,
	.changes = NULL,
	.describe = mongo_describe,
	.summary = mongo_summary,
	.close = mongo_close,
};
