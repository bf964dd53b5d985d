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
#include "fs/fs-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/isotime.h"
#include "common/json.h"
#include "common/strbuf.h"

#define ERRORS_KEPT 100
#define CONFLICTS_KEPT 1000

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
	if (st->nconflicts == CONFLICTS_KEPT) {
		free(st->conflicts[0].name);
		free(st->conflicts[0].data);
		memmove(st->conflicts, st->conflicts + 1,
			(st->nconflicts - 1) * sizeof(*st->conflicts));
		st->nconflicts--;
	}
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
			free(st->conflicts[i].name);
			free(st->conflicts[i].data);
			memmove(st->conflicts + i, st->conflicts + i + 1,
				(st->nconflicts - i - 1) * sizeof(*st->conflicts));
			st->nconflicts--;
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

static void render_metrics(struct jfs *fs, struct jfs_strbuf *sb)
{
	const struct jfs_metrics *m = &fs->m;
	const struct jfs_rcache *rc = &fs->rcache;
	struct jfs_policy_stats bs;
	char labels[64];
	size_t i;

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
	for (i = 0; i < JFS_BOP__COUNT; i++) {
		snprintf(labels, sizeof(labels), "{op=\"%s\"}", jfs_backend_op_name(i));
		metric(sb, "backend_seconds_sum", i ? NULL : "counter",
		       "time spent in backend calls", labels, (double)bs.ns_sum[i] / 1e9);
	}
	for (i = 0; i < JFS_BOP__COUNT; i++) {
		snprintf(labels, sizeof(labels), "{op=\"%s\"}", jfs_backend_op_name(i));
		metric(sb, "backend_seconds_count", i ? NULL : "counter", "backend calls", labels,
		       (double)bs.count[i]);
	}
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
		break;
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
	case JFS_NODE_STATUS_DIR:
		jfs_node_base_attr(fs, st, ino, S_IFDIR | 0555, fs->start_ms);
		st->st_nlink = 4;
		return 0;
	case JFS_NODE_CONFLICT_DIR:
		jfs_node_base_attr(fs, st, ino, S_IFDIR | 0555, jfs_now_ms());
		*timeout = 0;
		return 0;
	case JFS_NODE_STATUS_FILE:
		buf = render(fs, ino, &len);
		/* without open() the next read goes through the page cache: it must
		 * get the very bytes this size counts */
		if (fs->no_open)
			jfs_read_copy_put(fs, ino, buf, len);
		free(buf);
		/* a new mtime each time makes the kernel drop its cached pages */
		jfs_node_base_attr(fs, st, ino, S_IFREG | 0444, 0);
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
		jfs_node_base_attr(fs, st, ino, S_IFREG | 0444, ms);
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
		    jfs_dir_add(fs, db, "conflicts", JFS_INO_S_CONFL, S_IFDIR))
			jfs_dir_add(fs, db, "find", JFS_INO_S_FIND, S_IFDIR);
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
			return jfs_read_copy_dup(rc, buf, len);
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
