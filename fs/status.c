/*
 * The .jovofs/ status folder: config, metrics, errors, conflicts/, and
 * find/, whose views are fs/find.c's.
 *
 * Errors and conflicts have their own lock, below the fs lock: the log
 * hook records errors from under any lock, and conflicts are kept by
 * writers that hold none. What is read out of them is copied while that
 * lock is held: no pointer into them outlives it (a conflict may be
 * removed or rotated out at any moment).
 */
#define _GNU_SOURCE
#include "fs/fs-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/isotime.h"
#include "common/json.h"
#include "common/strbuf.h"
#include "policy/mask.h"

#define ERRORS_KEPT 100
#define CONFLICTS_KEPT 1000
#define CONFLICTS_BYTES (64u << 20) /* what kept conflicts may hold in all */
#define JOURNAL_SHOWN (1u << 20)    /* the newest entries .jovofs/journal shows */

struct conflict {
	char *name;
	char *data;
	size_t len;
	int64_t ms;
	fuse_ino_t ino;
};

struct jfs_status {
	pthread_mutex_t lock;          /* below the fs lock: guards everything here */
	char *errors[ERRORS_KEPT];     /* a ring, oldest at first */
	size_t nerrors, first;
	struct conflict *conflicts;    /* oldest first */
	size_t nconflicts;
	size_t conflict_bytes;         /* their contents, at most CONFLICTS_BYTES */
	uint64_t next_conflict;
};

struct jfs_status *jfs_status_new(void)
{
	struct jfs_status *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	pthread_mutex_init(&st->lock, NULL);
	return st;
}

void jfs_status_free(struct jfs_status *st)
{
	size_t i;

	if (!st)
		return;
	for (i = 0; i < ERRORS_KEPT; i++)
		free(st->errors[i]);
	for (i = 0; i < st->nconflicts; i++) {
		free(st->conflicts[i].name);
		free(st->conflicts[i].data);
	}
	free(st->conflicts);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

void jfs_status_error(struct jfs_status *st, const char *msg)
{
	char when[32];
	struct jfs_strbuf sb;
	size_t slot;

	jfs_iso_format(jfs_now_ms(), when);
	jfs_strbuf_init(&sb);
	jfs_strbuf_addf(&sb, "%s %s\n", when, msg);
	pthread_mutex_lock(&st->lock);
	slot = (st->first + st->nerrors) % ERRORS_KEPT;
	if (st->nerrors == ERRORS_KEPT) {
		slot = st->first;
		st->first = (st->first + 1) % ERRORS_KEPT;
	} else {
		st->nerrors++;
	}
	free(st->errors[slot]);
	st->errors[slot] = jfs_strbuf_detach(&sb, NULL);
	pthread_mutex_unlock(&st->lock);
}

/* Forget conflict @i. Under st->lock. */
static void conflict_del(struct jfs_status *st, size_t i)
{
	st->conflict_bytes -= st->conflicts[i].len;
	free(st->conflicts[i].name);
	free(st->conflicts[i].data);
	memmove(st->conflicts + i, st->conflicts + i + 1,
		(st->nconflicts - i - 1) * sizeof(*st->conflicts));
	st->nconflicts--;
}

bool jfs_status_last_error(struct jfs_status *st, char *buf, size_t size)
{
	bool any;

	pthread_mutex_lock(&st->lock);
	any = st->nerrors > 0;
	if (any)
		snprintf(buf, size, "%s",
			 st->errors[(st->first + st->nerrors - 1) % ERRORS_KEPT]);
	pthread_mutex_unlock(&st->lock);
	if (any)
		buf[strcspn(buf, "\n")] = '\0';
	return any;
}

char *jfs_status_conflict(struct jfs_status *st, const char *user_name, const char *file,
			  const char *data, size_t len)
{
	char when[32], *name = NULL;
	struct jfs_strbuf sb;
	struct conflict *c;
	size_t i;

	jfs_iso_format(jfs_now_ms(), when);
	jfs_strbuf_init(&sb);
	/* keep the name short enough for NAME_MAX whatever the user's name is */
	jfs_strbuf_addf(&sb, "%s-%.*s-", when, 180, user_name);
	for (i = 0; file[i]; i++)
		jfs_strbuf_addch(&sb, file[i] == '/' ? '_' : file[i]);
	pthread_mutex_lock(&st->lock);
	/* the oldest go first, past a number or a size */
	while (st->nconflicts && (st->nconflicts == CONFLICTS_KEPT ||
				  st->conflict_bytes + len > CONFLICTS_BYTES))
		conflict_del(st, 0);
	c = realloc(st->conflicts, (st->nconflicts + 1) * sizeof(*c));
	if (!c)
		goto out_unlock;
	st->conflicts = c;
	c = &st->conflicts[st->nconflicts];
	c->data = malloc(len ? len : 1);
	if (!c->data)
		goto out_unlock;
	memcpy(c->data, data, len);
	c->len = len;
	st->conflict_bytes += len;
	c->ms = jfs_now_ms();
	c->ino = JFS_INO_CONFLICT_BIT | ++st->next_conflict;
	jfs_strbuf_addf(&sb, ".%llu", (unsigned long long)st->next_conflict);
	c->name = jfs_strbuf_detach(&sb, NULL);
	name = strdup(c->name);
	st->nconflicts++;
out_unlock:
	pthread_mutex_unlock(&st->lock);
	jfs_strbuf_release(&sb);
	return name;
}

/* The conflict of inode @ino. Under st->lock. */
static struct conflict *conflict_by_ino(struct jfs_status *st, fuse_ino_t ino)
{
	size_t i;

	for (i = 0; i < st->nconflicts; i++)
		if (st->conflicts[i].ino == ino)
			return &st->conflicts[i];
	return NULL;
}

int jfs_status_conflict_remove(struct jfs_status *st, const char *name)
{
	int rc = -ENOENT;
	size_t i;

	pthread_mutex_lock(&st->lock);
	for (i = 0; i < st->nconflicts; i++)
		if (!strcmp(st->conflicts[i].name, name)) {
			conflict_del(st, i);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static void render_config(struct jfs *fs, struct jfs_strbuf *sb)
{
	json_t *out = json_object(), *mount = json_object(), *be = json_object();

	json_object_set_new(out, "backend", json_string(fs->backend_name));
	jfs_policy_describe(&fs->policy, be);
	json_object_set_new(out, fs->backend_name, be);
	json_object_set_new(out, "storedElements", jfs_policy_config_describe(&fs->policy.cfg));
	json_object_set_new(mount, "readOnly", json_boolean(fs->opts.ro));
	json_object_set_new(mount, "allowDelete", json_boolean(fs->opts.allow_delete));
	json_object_set_new(mount, "uid", json_integer(fs->opts.uid));
	json_object_set_new(mount, "gid", json_integer(fs->opts.gid));
	json_object_set_new(mount, "cacheTimeoutSeconds", json_real(fs->opts.cache_timeout));
	json_object_set_new(mount, "kernelCacheSeconds", json_real(fs->entry_timeout));
	json_object_set_new(mount, "changeFeed", json_boolean(fs->change_feed));
	json_object_set_new(mount, "writeDelayMs", json_integer(fs->opts.write_delay_ms));
	json_object_set_new(mount, "retryTimeoutMs", json_integer(fs->opts.retry_ms));
	json_object_set_new(mount, "requestTimeoutMs", json_integer(fs->opts.timeout_ms));
	json_object_set_new(mount, "maxFileSize", json_integer((json_int_t)fs->opts.max_file_size));
	json_object_set_new(mount, "cacheSize", json_integer((json_int_t)fs->opts.cache_size));
	json_object_set_new(mount, "snapshotMax", json_integer((json_int_t)fs->opts.snapshot_max));
	json_object_set_new(mount, "scratchMax", json_integer((json_int_t)fs->opts.scratch_max));
	json_object_set_new(mount, "journal", fs->journal ? json_string(jfs_journal_path(fs->journal))
							  : json_string("off"));
	json_object_set_new(mount, "journalMax", json_integer((json_int_t)fs->opts.journal_max));
	if (fs->mask) {
		json_t *mask = json_object();

		json_object_set_new(mask, "paths", jfs_mask_describe(fs->mask));
		json_object_set_new(mask, "keyFrom", json_string(fs->mask_key_from));
		json_object_set_new(mask, "ids", json_boolean(fs->mask_ids));
		json_object_set_new(mount, "mask", mask);
	}
	json_object_set_new(mount, "metricsListen", fs->opts.metrics_listen ?
			    json_string(fs->opts.metrics_listen) : json_null());
	json_object_set_new(out, "mount", mount);
	jfs_json_dump(out, sb, 2, 0);
	jfs_strbuf_addch(sb, '\n');
	json_decref(out);
}

static void metric(struct jfs_strbuf *sb, const char *name, const char *type, const char *help,
		   const char *labels, double v)
{
	char num[32];

	if (type) {
		jfs_strbuf_addf(sb, "# HELP jovofs_%s %s\n", name, help);
		jfs_strbuf_addf(sb, "# TYPE jovofs_%s %s\n", name, type);
	}
	jfs_json_format_number(v, num);
	jfs_strbuf_addf(sb, "jovofs_%s%s %s\n", name, labels ? labels : "", num);
}

/* The backend call histogram by kind, and failed calls by kind and errno. */
static void render_backend_stats(const struct jfs_policy_stats *bs, struct jfs_strbuf *sb)
{
	char labels[96], le[32];
	const char *ename;
	uint64_t cum;
	size_t i, j;

	jfs_strbuf_addstr(sb, "# HELP jovofs_backend_seconds backend calls by kind and time taken\n"
			      "# TYPE jovofs_backend_seconds histogram\n");
	for (i = 0; i < JFS_BOP__COUNT; i++) {
		cum = 0;
		for (j = 0; j <= JFS_LAT_BUCKETS; j++) {
			cum += bs->bucket[i][j];
			if (j < JFS_LAT_BUCKETS)
				jfs_json_format_number(jfs_latency_bounds[j], le);
			else
				strcpy(le, "+Inf");
			snprintf(labels, sizeof(labels), "{op=\"%s\",le=\"%s\"}",
				 jfs_backend_op_name(i), le);
			metric(sb, "backend_seconds_bucket", NULL, NULL, labels, (double)cum);
		}
		snprintf(labels, sizeof(labels), "{op=\"%s\"}", jfs_backend_op_name(i));
		metric(sb, "backend_seconds_sum", NULL, NULL, labels, (double)bs->ns_sum[i] / 1e9);
		metric(sb, "backend_seconds_count", NULL, NULL, labels, (double)bs->count[i]);
	}
	jfs_strbuf_addstr(sb, "# HELP jovofs_backend_errors_total failed backend calls by kind and "
			      "errno (ENOENT: no such user, ECANCELED: a conditional write met a "
			      "change)\n"
			      "# TYPE jovofs_backend_errors_total counter\n");
	for (i = 0; i < JFS_BOP__COUNT; i++)
		for (j = 0; j <= JFS_ERRNO_MAX; j++) {
			if (!bs->errors[i][j])
				continue;
			ename = j ? strerrorname_np((int)j) : NULL;
			snprintf(labels, sizeof(labels), "{op=\"%s\",errno=\"%s\"}",
				 jfs_backend_op_name(i), ename ? ename : "other");
			metric(sb, "backend_errors_total", NULL, NULL, labels,
			       (double)bs->errors[i][j]);
		}
}

struct metric_out {
	struct jfs_strbuf *sb;
	char last[96];
};

static void backend_metric(void *data, const struct jfs_metric *m)
{
	struct metric_out *mo = data;
	bool first = strcmp(mo->last, m->name) != 0;

	snprintf(mo->last, sizeof(mo->last), "%s", m->name);
	metric(mo->sb, m->name, first ? m->type : NULL, m->help, m->labels, m->value);
}

static void render_metrics(struct jfs *fs, struct jfs_strbuf *sb)
{
	const struct jfs_metrics *m = &fs->m;
	const struct jfs_rcache *rc = &fs->rcache;
	struct jfs_policy_stats bs;
	struct metric_out mo = { .sb = sb };

	jfs_policy_stats(&fs->policy, &bs);
	metric(sb, "fuse_requests_total", "counter", "FUSE requests handled", NULL,
	       (double)m->fuse_ops);
	metric(sb, "users", "gauge", "users in the last listing", NULL,
	       (double)fs->users.nlisting);
	metric(sb, "cache_bytes", "gauge", "estimated bytes of cached records", NULL,
	       (double)rc->bytes);
	metric(sb, "cache_hits_total", "counter", "record lookups served from the cache", NULL,
	       (double)rc->hits);
	metric(sb, "cache_misses_total", "counter", "record lookups that loaded from the backend",
	       NULL, (double)rc->misses);
	metric(sb, "cache_evictions_total", "counter", "records dropped from the cache", NULL,
	       (double)rc->evictions);
	metric(sb, "load_errors_total", "counter", "failed record loads", NULL,
	       (double)rc->load_errors);
	metric(sb, "snapshot_bytes", "gauge",
	       "bytes of file versions held for readers' snapshots (at most snapshot_max)", NULL,
	       (double)fs->handles.rendered_bytes);
	metric(sb, "writes_total", "counter", "element writes by result", "{result=\"stored\"}",
	       (double)m->writes_ok);
	metric(sb, "writes_total", NULL, NULL, "{result=\"noop\"}", (double)m->writes_noop);
	metric(sb, "writes_total", NULL, NULL, "{result=\"invalid\"}", (double)m->writes_invalid);
	metric(sb, "writes_total", NULL, NULL, "{result=\"conflict\"}",
	       (double)m->writes_conflict);
	metric(sb, "writes_total", NULL, NULL, "{result=\"failed\"}", (double)m->writes_failed);
	metric(sb, "writes_lost_total", "counter",
	       "stored writes the backend lost later (dropped as conflicts, failed saves)", NULL,
	       (double)m->writes_lost);
	metric(sb, "records_created_total", "counter", "users created through the mount", NULL,
	       (double)m->creates);
	metric(sb, "records_removed_total", "counter", "users or elements deleted through the mount",
	       NULL, (double)m->removes);
	metric(sb, "kernel_invalidations_total", "counter", "kernel cache invalidations sent",
	       NULL, (double)fs->notify.sent);
	render_backend_stats(&bs, sb);
	/* the backend's own (pending edits, credentials), then the HTTP endpoint's */
	jfs_policy_metrics(&fs->policy, backend_metric, &mo);
	if (fs->http)
		metric(sb, "http_scrapes_total", "counter", "scrapes of the metrics endpoint",
		       NULL, (double)jfs_http_scrapes(fs->http));
}

char *jfs_status_metrics(struct jfs *fs, size_t *len)
{
	struct jfs_strbuf sb;

	jfs_strbuf_init(&sb);
	pthread_mutex_lock(&fs->lock);
	render_metrics(fs, &sb);
	pthread_mutex_unlock(&fs->lock);
	return jfs_strbuf_detach(&sb, len);
}

static void render_errors(struct jfs_status *st, struct jfs_strbuf *sb)
{
	size_t i;

	pthread_mutex_lock(&st->lock);
	for (i = 0; i < st->nerrors; i++)
		jfs_strbuf_addstr(sb, st->errors[(st->first + i) % ERRORS_KEPT]);
	pthread_mutex_unlock(&st->lock);
}

/* Render status file @ino (config, metrics, errors) into a malloc()ed buffer. [L] */
/*
 * -o mask_ids: the ids in a journal line. "user" becomes its pseudonym; a
 * reason (a store's message may name the id) has the id of its entry
 * replaced, and is not shown when that entry is older than what is shown.
 * @ids maps the seq of each entry shown so far to its user.
 */
static void mask_journal_ids(struct jfs *fs, json_t *o, json_t *ids)
{
	const char *user = json_string_value(json_object_get(o, "user"));
	json_t *seq = json_object_get(o, "seq"), *of = json_object_get(o, "of"), *v;
	char pseud[JFS_MASK_LEN], key[24], *msg;
	size_t len = 0;

	if (user)
		len = json_string_length(json_object_get(o, "user"));
	if (json_is_integer(seq) && user) {
		snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, json_integer_value(seq));
		json_object_set(ids, key, json_object_get(o, "user"));
	} else if (json_is_integer(of)) {
		snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, json_integer_value(of));
		v = json_object_get(ids, key);
		user = json_string_value(v);
		len = user ? json_string_length(v) : 0;
	}
	v = json_object_get(o, "reason");
	if (json_is_string(v) && json_string_length(v)) {
		if (user) {
			msg = jfs_mask_scrub(fs->mask, user, len, json_string_value(v));
			json_object_set_new(o, "reason", json_string(msg));
			free(msg);
		} else {
			json_object_set_new(o, "reason", json_string("(not shown: -o mask_ids)"));
		}
	}
	if (json_is_string(json_object_get(o, "user"))) {
		v = json_object_get(o, "user");
		jfs_mask_string(fs->mask, json_string_value(v), json_string_length(v), pseud);
		json_object_set_new(o, "user", json_string(pseud));
	}
}

/* One journal line of a masked view: its values (and ids) as the view shows them. */
static void mask_journal_line(struct jfs *fs, const char *line, size_t len,
			      json_t *ids, struct jfs_strbuf *sb)
{
	static const char *const keys[] = { "before", "after", "shifted" };
	char idx[24];
	const char *prefix[3], *el;
	json_t *o, *v;
	size_t n = 0, i;

	if (jfs_json_parse(line, len, &o, NULL) || !json_is_object(o)) {
		json_decref(o);
		return; /* not shown rather than shown unmasked */
	}
	el = json_string_value(json_object_get(o, "element"));
	if (el && !strncmp(el, "history/", 8)) {
		snprintf(idx, sizeof(idx), "%s", el + 8);
		prefix[0] = "history";
		prefix[1] = "items";
		prefix[2] = idx;
		n = 3;
	} else if (el && strcmp(el, "record")) {
		prefix[0] = el;
		n = 1;
	}
	/* a whole record's "id" is masked with the values: -o mask_ids adds the path */
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		v = json_object_get(o, keys[i]);
		if (v && !json_is_null(v))
			json_object_set_new(o, keys[i],
					    jfs_mask_at(fs->mask, prefix, n, json_incref(v)));
	}
	if (fs->mask_ids)
		mask_journal_ids(fs, o, ids);
	jfs_json_dump(o, sb, 0, 0);
	jfs_strbuf_addch(sb, '\n');
	json_decref(o);
}

/* The newest entries of the journal, as JSON lines (masked in a masked view). */
static void render_journal(struct jfs *fs, struct jfs_strbuf *sb)
{
	char *buf, *p, *nl;
	json_t *ids;
	size_t len;

	if (!fs->journal)
		return;
	buf = jfs_journal_recent(fs->journal, JOURNAL_SHOWN, &len);
	if (!fs->mask) {
		jfs_strbuf_add(sb, buf, len);
	} else {
		/* an outcome names its entry by seq only, and comes after it */
		ids = json_object();
		for (p = buf; p < buf + len && (nl = memchr(p, '\n', (size_t)(buf + len - p)));
		     p = nl + 1)
			mask_journal_line(fs, p, (size_t)(nl - p), ids, sb);
		json_decref(ids);
	}
	free(buf);
}

static char *render(struct jfs *fs, fuse_ino_t ino, size_t *len)
{
	struct jfs_strbuf sb;

	jfs_strbuf_init(&sb);
	switch (ino) {
	case JFS_INO_S_CONFIG:
		render_config(fs, &sb);
		break;
	case JFS_INO_S_METRICS:
		render_metrics(fs, &sb);
		break;
	case JFS_INO_S_ERRORS:
		render_errors(fs->status, &sb);
		if (fs->mask_ids && sb.buf) {
			/* a store's message may name an id: -o mask_ids shows none */
			char *clean = jfs_users_scrub(fs, sb.buf);

			jfs_strbuf_release(&sb);
			jfs_strbuf_init(&sb);
			jfs_strbuf_addstr(&sb, clean);
			free(clean);
		}
		break;
	case JFS_INO_S_JOURNAL:
		render_journal(fs, &sb);
		break;
	case JFS_INO_S_UNDO:
		break; /* written, not read */
	}
	return jfs_strbuf_detach(&sb, len);
}

int jfs_status_attr(struct jfs *fs, enum jfs_node_kind kind, fuse_ino_t ino, struct stat *st,
		    double *timeout)
{
	struct jfs_status *sts = fs->status;
	struct conflict *c;
	size_t len = 0;
	int64_t ms = 0;
	char *buf;

	switch (kind) {
	/*
	 * No wider than the records: what is kept here (errors, rejected
	 * versions) is record content. The owner may remove kept conflicts.
	 */
	case JFS_NODE_STATUS_DIR:
		jfs_node_base_attr(fs, st, ino, S_IFDIR | (fs->opts.dmode & ~0222u), fs->start_ms);
		st->st_nlink = 4;
		return 0;
	case JFS_NODE_CONFLICT_DIR:
		jfs_node_base_attr(fs, st, ino, S_IFDIR | fs->opts.dmode, jfs_now_ms());
		*timeout = 0;
		return 0;
	case JFS_NODE_STATUS_FILE:
		if (ino == JFS_INO_S_UNDO) {
			/* the owner writes change numbers to it (a read-write mount) */
			jfs_node_base_attr(fs, st, ino, S_IFREG | (fs->opts.ro ? 0 : 0200),
					   fs->start_ms);
			*timeout = 0;
			return 0;
		}
		buf = render(fs, ino, &len);
		/* without open() the next read goes through the page cache: it must
		 * get the very bytes this size counts */
		if (fs->no_open)
			jfs_read_copy_put(fs, ino, buf, len);
		free(buf);
		/* a new mtime each time makes the kernel drop its cached pages */
		jfs_node_base_attr(fs, st, ino, S_IFREG | (fs->opts.fmode & ~0222u), 0);
		clock_gettime(CLOCK_REALTIME, &st->st_mtim);
		st->st_ctim = st->st_atim = st->st_mtim;
		jfs_node_size_attr(st, len);
		*timeout = 0;
		return 0;
	case JFS_NODE_CONFLICT:
		pthread_mutex_lock(&sts->lock);
		c = conflict_by_ino(sts, ino);
		if (c) {
			len = c->len;
			ms = c->ms;
		}
		pthread_mutex_unlock(&sts->lock);
		if (!c)
			return -ENOENT;
		jfs_node_base_attr(fs, st, ino, S_IFREG | (fs->opts.fmode & ~0222u), ms);
		jfs_node_size_attr(st, len);
		*timeout = 0;
		return 0;
	default:
		return -ENOENT;
	}
}

fuse_ino_t jfs_status_lookup(struct jfs *fs, fuse_ino_t parent, const char *name)
{
	struct jfs_status *sts = fs->status;
	fuse_ino_t ino = 0;
	size_t i;

	if (parent == JFS_INO_STATUS) {
		if (!strcmp(name, "config"))
			return JFS_INO_S_CONFIG;
		if (!strcmp(name, "metrics"))
			return JFS_INO_S_METRICS;
		if (!strcmp(name, "errors"))
			return JFS_INO_S_ERRORS;
		if (!strcmp(name, "journal") && fs->journal)
			return JFS_INO_S_JOURNAL;
		if (!strcmp(name, "undo") && fs->journal && !fs->opts.ro)
			return JFS_INO_S_UNDO;
		if (!strcmp(name, "conflicts"))
			return JFS_INO_S_CONFL;
		if (!strcmp(name, "find"))
			return JFS_INO_S_FIND;
		return 0;
	}
	pthread_mutex_lock(&sts->lock);
	for (i = 0; i < sts->nconflicts; i++)
		if (!strcmp(sts->conflicts[i].name, name)) {
			ino = sts->conflicts[i].ino;
			break;
		}
	pthread_mutex_unlock(&sts->lock);
	return ino;
}

int jfs_status_readdir(struct jfs *fs, struct jfs_dirbuf *db, fuse_ino_t ino)
{
	struct jfs_status *sts = fs->status;
	struct conflict *copy = NULL;
	size_t n = 0, i;

	if (ino == JFS_INO_STATUS) {
		if (jfs_dir_add(fs, db, ".", JFS_INO_STATUS, S_IFDIR) &&
		    jfs_dir_add(fs, db, "..", JFS_INO_ROOT, S_IFDIR) &&
		    jfs_dir_add(fs, db, "config", JFS_INO_S_CONFIG, S_IFREG) &&
		    jfs_dir_add(fs, db, "metrics", JFS_INO_S_METRICS, S_IFREG) &&
		    jfs_dir_add(fs, db, "errors", JFS_INO_S_ERRORS, S_IFREG) &&
		    jfs_dir_add(fs, db, "conflicts", JFS_INO_S_CONFL, S_IFDIR) &&
		    jfs_dir_add(fs, db, "find", JFS_INO_S_FIND, S_IFDIR) && fs->journal &&
		    jfs_dir_add(fs, db, "journal", JFS_INO_S_JOURNAL, S_IFREG) && !fs->opts.ro)
			jfs_dir_add(fs, db, "undo", JFS_INO_S_UNDO, S_IFREG);
		return 0;
	}
	/* names copied out: adding an entry looks it up, which takes sts->lock */
	pthread_mutex_lock(&sts->lock);
	if (sts->nconflicts) {
		copy = calloc(sts->nconflicts, sizeof(*copy));
		if (!copy)
			abort();
		for (n = 0; n < sts->nconflicts; n++) {
			copy[n].ino = sts->conflicts[n].ino;
			if (!(copy[n].name = strdup(sts->conflicts[n].name)))
				abort();
		}
	}
	pthread_mutex_unlock(&sts->lock);
	if (jfs_dir_add(fs, db, ".", JFS_INO_S_CONFL, S_IFDIR) &&
	    jfs_dir_add(fs, db, "..", JFS_INO_STATUS, S_IFDIR)) {
		for (i = 0; i < n; i++)
			if (!jfs_dir_add(fs, db, copy[i].name, copy[i].ino, S_IFREG))
				break;
	}
	for (i = 0; i < n; i++)
		free(copy[i].name);
	free(copy);
	return 0;
}

int jfs_status_content(struct jfs *fs, fuse_ino_t ino, char **buf, size_t *len)
{
	struct jfs_status *sts = fs->status;
	struct jfs_read_copy *rc;
	struct conflict *c;

	if (jfs_node_kind(ino) == JFS_NODE_STATUS_FILE) {
		/* what the getattr just before this read counted (read-only mounts) */
		if (fs->no_open && (rc = jfs_read_copy_get(fs, ino, 1000)))
			return jfs_read_copy_dup(rc, 0, SIZE_MAX, buf, len);
		*buf = render(fs, ino, len);
		return 0;
	}
	pthread_mutex_lock(&sts->lock);
	c = conflict_by_ino(sts, ino);
	if (c) {
		*buf = malloc(c->len + 1);
		if (*buf) {
			memcpy(*buf, c->data, c->len);
			*len = c->len;
		}
	}
	pthread_mutex_unlock(&sts->lock);
	if (!c)
		return -ENOENT;
	return *buf ? 0 : -ENOMEM;
}
