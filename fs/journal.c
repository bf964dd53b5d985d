/*
 * The journal (see journal.h): write-ahead JSON lines with group commit,
 * rotation to PATH.1, and the lookups undo and .jovofs/journal need.
 */
#define _GNU_SOURCE
#include "fs/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/isotime.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strbuf.h"

#define RECENT 4096         /* entries remembered for marking lost changes */
#define SCAN_CHUNK (64u << 10)

struct recent {
	uint64_t seq;
	char *id;
	unsigned elems;     /* 1 << enum jfs_elem; 0: the record */
};

struct jfs_journal {
	pthread_mutex_t lock;   /* guards all below but the set-at-open fields */
	pthread_cond_t synced_cond;
	char *path, *path1;     /* set at open */
	char *backend;          /* set at open */
	bool ro;                /* set at open */
	int fd;                 /* -1: read-only */
	uint64_t max;           /* set at open; 0: no rotation */
	uint64_t size;          /* bytes in the current file */
	uint64_t seq;           /* the last seq given */
	uint64_t written, synced; /* bytes appended and fsynced by this process, all files */
	bool syncing;
	int sync_err;           /* the last fsync failed: every waiter gets it */
	struct recent ring[RECENT];
	size_t ring_next;
};

/* ---- the writer of this thread ---- */

static __thread struct jfs_writer tl_who;
static __thread bool tl_who_set;
static __thread const char *tl_op;
static __thread uint64_t tl_undoes;

void jfs_writer_fill(struct jfs_writer *w, uid_t uid, gid_t gid, pid_t pid)
{
	char path[64];
	ssize_t n = -1;
	int fd;

	memset(w, 0, sizeof(*w));
	w->uid = uid;
	w->gid = gid;
	w->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = pid > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		n = read(fd, w->comm, sizeof(w->comm) - 1);
		close(fd);
	}
	if (n < 0)
		n = 0;
	w->comm[n] = '\0';
	w->comm[strcspn(w->comm, "\n")] = '\0';
}

void jfs_journal_who(const struct jfs_writer *w)
{
	tl_who_set = w != NULL;
	if (w)
		tl_who = *w;
}

void jfs_journal_as(const char *op, uint64_t undoes)
{
	tl_op = op;
	tl_undoes = undoes;
}

/* ---- files ---- */

static int mkdirs(const char *path)
{
	char *d = strdup(path), *p;
	int ret = 0;

	if (!d)
		abort();
	for (p = d + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(d, 0700) && errno != EEXIST) {
			ret = -errno;
			break;
		}
		*p = '/';
	}
	free(d);
	return ret;
}

/* Whether the line at @off of @fd is an entry; its seq in *@seq. */
static bool entry_at(int fd, uint64_t off, uint64_t *seq)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, (off_t)off);
	char *end;

	if (n < 8)
		return false;
	buf[n] = '\0';
	if (strncmp(buf, "{\"seq\":", 7))
		return false;
	*seq = strtoull(buf + 7, &end, 10);
	return end != buf + 7 && *end == ',';
}

/* The seq of the last entry in the first @size bytes of @fd, 0 when none. */
static uint64_t last_seq(int fd, uint64_t size)
{
	char *buf = malloc(SCAN_CHUNK);
	uint64_t pos = size, seq = 0;

	if (!buf)
		abort();
	/* line starts are offset 0 and the byte after each '\n' */
	while (pos > 0 && !seq) {
		uint64_t start = pos > SCAN_CHUNK ? pos - SCAN_CHUNK : 0;
		ssize_t n = pread(fd, buf, pos - start, (off_t)start), i;

		if (n <= 0)
			break;
		for (i = n - 1; i >= 0 && !seq; i--)
			if (buf[i] == '\n' && start + i + 1 < size)
				entry_at(fd, start + i + 1, &seq);
		if (!seq && start == 0)
			entry_at(fd, 0, &seq);
		pos = start;
	}
	free(buf);
	return seq;
}

static uint64_t last_seq_of(const char *path)
{
	struct stat sb;
	uint64_t seq = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (!fstat(fd, &sb))
		seq = last_seq(fd, (uint64_t)sb.st_size);
	close(fd);
	return seq;
}

/*
 * A line cut short by a crash was never acknowledged (its change was
 * asked of the store only after the fsync): drop it, so that every line
 * of the file is whole JSON.
 */
static int drop_torn_tail(struct jfs_journal *j, uint64_t *size)
{
	uint64_t pos = *size;
	char c;

	if (!pos || (pread(j->fd, &c, 1, (off_t)(pos - 1)) == 1 && c == '\n'))
		return 0;
	while (pos > 0) {
		if (pread(j->fd, &c, 1, (off_t)(pos - 1)) != 1)
			return -errno;
		if (c == '\n')
			break;
		pos--;
	}
	if (ftruncate(j->fd, (off_t)pos) || fsync(j->fd))
		return -errno;
	jfs_log(LOG_WARNING, "journal '%s': dropped %" PRIu64 " bytes of a line cut short by a "
		"crash (its change was never stored)", j->path, *size - pos);
	*size = pos;
	return 0;
}

static struct jfs_journal *journal_new(const char *path)
{
	struct jfs_journal *j = calloc(1, sizeof(*j));
	struct jfs_strbuf sb;

	if (!j || !(j->path = strdup(path)))
		abort();
	jfs_strbuf_init(&sb);
	jfs_strbuf_addf(&sb, "%s.1", path);
	j->path1 = jfs_strbuf_detach(&sb, NULL);
	j->fd = -1;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->synced_cond, NULL);
	return j;
}

int jfs_journal_open(const char *path, uint64_t max_bytes, const char *backend,
		     struct jfs_journal **out, struct jfs_err *err)
{
	struct jfs_journal *j = journal_new(path);
	struct stat sb;
	int ret;

	j->max = max_bytes;
	if (!(j->backend = strdup(backend ? backend : "")))
		abort();
	if ((ret = mkdirs(path))) {
		jfs_err_set(err, -ret, "cannot create the directory of the journal '%s': %s", path,
			    strerror(-ret));
		goto fail;
	}
	j->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (j->fd < 0 || fstat(j->fd, &sb)) {
		ret = -errno;
		jfs_err_set(err, errno, "cannot open the journal '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		ret = jfs_err_set(err, EINVAL, "the journal '%s' is not a regular file", path);
		goto fail;
	}
	/* one writer: two mounts appending would give one seq twice */
	if (flock(j->fd, LOCK_EX | LOCK_NB)) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (errno == EWOULDBLOCK)
			jfs_err_set(err, EBUSY, "the journal '%s' is in use by another jovofs mount: "
				    "give this one its own -o journal=PATH", path);
		else
			jfs_err_set(err, errno, "cannot lock the journal '%s': %s", path,
				    strerror(errno));
		goto fail;
	}
	/* it holds record contents: no wider than its owner */
	if ((sb.st_mode & 077) && !fchmod(j->fd, sb.st_mode & 0700))
		jfs_log(LOG_WARNING, "journal '%s': mode was %03o, now %03o (it holds record "
			"contents)", path, (unsigned)(sb.st_mode & 0777),
			(unsigned)(sb.st_mode & 0700));
	j->size = (uint64_t)sb.st_size;
	if ((ret = drop_torn_tail(j, &j->size))) {
		jfs_err_set(err, -ret, "cannot repair the journal '%s': %s", path, strerror(-ret));
		goto fail;
	}
	j->seq = last_seq(j->fd, j->size);
	if (!j->seq)
		j->seq = last_seq_of(j->path1);
	jfs_log(LOG_INFO, "journal '%s': %" PRIu64 " bytes, next seq %" PRIu64, path, j->size,
		j->seq + 1);
	*out = j;
	return 0;
fail:
	jfs_journal_close(j);
	return ret;
}

int jfs_journal_open_ro(const char *path, struct jfs_journal **out, struct jfs_err *err)
{
	struct jfs_journal *j = journal_new(path);

	(void)err;
	j->ro = true;
	if (!(j->backend = strdup("")))
		abort();
	*out = j;
	return 0;
}

void jfs_journal_close(struct jfs_journal *j)
{
	size_t i;

	if (!j)
		return;
	if (j->fd >= 0) {
		if (fsync(j->fd))
			jfs_log(LOG_ERR, "journal '%s': fsync: %s", j->path, strerror(errno));
		close(j->fd);
	}
	for (i = 0; i < RECENT; i++)
		free(j->ring[i].id);
	pthread_cond_destroy(&j->synced_cond);
	pthread_mutex_destroy(&j->lock);
	free(j->path);
	free(j->path1);
	free(j->backend);
	free(j);
}

const char *jfs_journal_path(const struct jfs_journal *j)
{
	return j->path;
}

/* ---- appending ---- */

/* Under lock, no fsync running: the current file becomes PATH.1. */
static int rotate(struct jfs_journal *j)
{
	int fd, ret = 0;

	if (fsync(j->fd))
		return -errno;
	j->synced = j->written;
	if (rename(j->path, j->path1))
		return -errno;
	fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		/* keep writing where we were: better one big file than none */
		if (rename(j->path1, j->path))
			jfs_log(LOG_ERR, "journal '%s': cannot move it back: %s", j->path,
				strerror(errno));
		return ret;
	}
	if (flock(fd, LOCK_EX | LOCK_NB))
		jfs_log(LOG_WARNING, "journal '%s': cannot lock the new file: %s", j->path,
			strerror(errno));
	close(j->fd);
	j->fd = fd;
	j->size = 0;
	jfs_log(LOG_INFO, "journal '%s': rotated to '%s'", j->path, j->path1);
	return 0;
}

/*
 * Append @body (a JSON object text, "{...}") as one line; @with_seq puts a
 * new seq first (returned in *@seq). Durable when this returns 0.
 */
static int append(struct jfs_journal *j, const char *body, size_t len, bool with_seq,
		  uint64_t *seq, struct jfs_err *err)
{
	char prefix[40];
	struct iovec iov[3];
	uint64_t mine;
	ssize_t n;
	size_t total;
	int ret = 0;

	if (j->ro || j->fd < 0)
		return jfs_err_set(err, EROFS, "the journal '%s' is read-only here", j->path);
	pthread_mutex_lock(&j->lock);
	while (j->max && j->size && j->size + len + 32 > j->max) {
		if (j->syncing) {
			pthread_cond_wait(&j->synced_cond, &j->lock);
			continue;
		}
		if ((ret = rotate(j)))
			jfs_log(LOG_ERR, "journal '%s': cannot rotate: %s", j->path, strerror(-ret));
		ret = 0;
		break;
	}
	if (with_seq) {
		snprintf(prefix, sizeof(prefix), "{\"seq\":%" PRIu64 ",", j->seq + 1);
		iov[0].iov_base = prefix;
		iov[0].iov_len = strlen(prefix);
		iov[1].iov_base = (char *)body + 1;
		iov[1].iov_len = len - 1;
	} else {
		iov[0].iov_base = (char *)body;
		iov[0].iov_len = len;
		iov[1].iov_base = NULL;
		iov[1].iov_len = 0;
	}
	iov[2].iov_base = (char *)"\n";
	iov[2].iov_len = 1;
	total = iov[0].iov_len + iov[1].iov_len + 1;
	n = writev(j->fd, iov, 3);
	if (n != (ssize_t)total) {
		int e = n < 0 ? errno : ENOSPC;

		/* no torn line stays behind */
		if (n > 0 && ftruncate(j->fd, (off_t)j->size))
			jfs_log(LOG_ERR, "journal '%s': cannot drop a short write: %s", j->path,
				strerror(errno));
		pthread_mutex_unlock(&j->lock);
		return jfs_err_set(err, e, "cannot write the journal '%s': %s", j->path, strerror(e));
	}
	if (with_seq)
		*seq = ++j->seq;
	j->size += total;
	j->written += total;
	mine = j->written;

	/* group commit: one fsync covers every line written before it began */
	while (j->synced < mine) {
		uint64_t target;
		int fd;

		if (j->syncing) {
			pthread_cond_wait(&j->synced_cond, &j->lock);
			continue;
		}
		j->syncing = true;
		target = j->written;
		fd = j->fd;
		pthread_mutex_unlock(&j->lock);
		ret = fdatasync(fd) ? -errno : 0;
		pthread_mutex_lock(&j->lock);
		j->syncing = false;
		if (!ret && target > j->synced)
			j->synced = target;
		pthread_cond_broadcast(&j->synced_cond);
		if (ret)
			break;
	}
	pthread_mutex_unlock(&j->lock);
	if (ret)
		return jfs_err_set(err, -ret, "cannot fsync the journal '%s': %s", j->path,
				   strerror(-ret));
	return 0;
}

static const char *errno_name(int e)
{
	switch (e) {
	case ESTALE: return "ESTALE";
	case ENOENT: return "ENOENT";
	case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EIO: return "EIO";
	case ENOSPC: return "ENOSPC";
	case EFBIG: return "EFBIG";
	case EAGAIN: return "EAGAIN";
	case ECANCELED: return "ECANCELED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EROFS: return "EROFS";
	case ENOMEM: return "ENOMEM";
	default: return NULL;
	}
}

static void set_errno(json_t *o, int e)
{
	const char *name = errno_name(e);

	if (name)
		json_object_set_new(o, "errno", json_string(name));
	else
		json_object_set_new(o, "errno", json_integer(e));
}

static char *dump(const json_t *o, size_t *len)
{
	struct jfs_strbuf sb;

	jfs_strbuf_init(&sb);
	jfs_json_dump(o, &sb, 0, 0);
	return jfs_strbuf_detach(&sb, len);
}

static void set_time(json_t *o)
{
	char iso[32];

	jfs_iso_format(jfs_now_ms(), iso);
	json_object_set_new(o, "time", json_string(iso));
}

static json_t *or_null(const json_t *v)
{
	return v ? json_deep_copy(v) : json_null();
}

static const char *hist_name(enum jfs_hist_change h)
{
	return h == JFS_HIST_INSERT ? "insert" : h == JFS_HIST_REMOVE ? "remove" : "replace";
}

/* Under lock: remember that @seq changed @elems of @id. */
static void remember(struct jfs_journal *j, uint64_t seq, const char *id, unsigned elems)
{
	struct recent *r = &j->ring[j->ring_next];

	free(r->id);
	r->seq = seq;
	if (!(r->id = strdup(id)))
		abort();
	r->elems = elems;
	j->ring_next = (j->ring_next + 1) % RECENT;
}

int jfs_journal_intent(void *data, const struct jfs_change *c, uint64_t *seq,
		       struct jfs_err *err)
{
	static const char *const ops[] = {
		[JFS_CHANGE_WRITE] = "write",
		[JFS_CHANGE_DELETE] = "delete",
		[JFS_CHANGE_CREATE] = "create",
		[JFS_CHANGE_RESTORE] = "undo",
	};
	struct jfs_journal *j = data;
	char element[48];
	json_t *o = json_object();
	char *body;
	size_t len;
	int ret;

	if (!o)
		abort();
	if (c->el == JFS_EL__COUNT)
		snprintf(element, sizeof(element), "record");
	else if (c->el == JFS_EL_HISTORY)
		snprintf(element, sizeof(element), "history/%zu", c->idx);
	else
		snprintf(element, sizeof(element), "%s", jfs_elem_key(c->el));
	set_time(o);
	json_object_set_new(o, "user", json_string(c->id));
	json_object_set_new(o, "element", json_string(element));
	json_object_set_new(o, "op", json_string(c->kind == JFS_CHANGE_WRITE && tl_op ? tl_op
						 : ops[c->kind]));
	if (c->kind == JFS_CHANGE_RESTORE && tl_undoes)
		json_object_set_new(o, "undoes", json_integer((json_int_t)tl_undoes));
	if (c->el == JFS_EL_HISTORY)
		json_object_set_new(o, "change", json_string(hist_name(c->hist)));
	json_object_set_new(o, "before", or_null(c->before));
	json_object_set_new(o, "after", or_null(c->after));
	if (c->el == JFS_EL_HISTORY && c->hist == JFS_HIST_REMOVE)
		json_object_set_new(o, "shifted", or_null(c->shifted));
	if (tl_who_set) {
		json_object_set_new(o, "uid", json_integer(tl_who.uid));
		json_object_set_new(o, "pid", json_integer(tl_who.pid));
		json_object_set_new(o, "comm", json_string(tl_who.comm));
	} else {
		json_object_set_new(o, "uid", json_null());
		json_object_set_new(o, "pid", json_null());
		json_object_set_new(o, "comm", json_null());
	}
	json_object_set_new(o, "backend", json_string(j->backend));
	body = dump(o, &len);
	json_decref(o);
	ret = append(j, body, len, true, seq, err);
	free(body);
	if (!ret) {
		pthread_mutex_lock(&j->lock);
		remember(j, *seq, c->id, c->el == JFS_EL__COUNT ? 0 : 1u << c->el);
		pthread_mutex_unlock(&j->lock);
	}
	return ret;
}

/* A later line about entry @seq (0: about the changes of @id's @elems). */
static void outcome(struct jfs_journal *j, uint64_t seq, const char *what, int rc,
		    const char *why, const char *id, unsigned elems)
{
	json_t *o = json_object();
	struct jfs_err err;
	char *body;
	size_t len;
	int el;

	if (!o)
		abort();
	if (seq)
		json_object_set_new(o, "of", json_integer((json_int_t)seq));
	set_time(o);
	json_object_set_new(o, "outcome", json_string(what));
	if (!seq) {
		json_t *a = json_array();

		json_object_set_new(o, "user", json_string(id));
		if (!elems)
			json_array_append_new(a, json_string("record"));
		for (el = 0; el < JFS_EL__COUNT; el++)
			if (elems & (1u << el))
				json_array_append_new(a, json_string(jfs_elem_key(el)));
		json_object_set_new(o, "elements", a);
	}
	if (rc)
		set_errno(o, -rc);
	json_object_set_new(o, "reason", json_string(why ? why : ""));
	body = dump(o, &len);
	json_decref(o);
	jfs_err_clear(&err);
	if (append(j, body, len, false, NULL, &err))
		jfs_log(LOG_ERR, "%s", err.msg);
	free(body);
}

void jfs_journal_failed(void *data, uint64_t seq, int rc, const char *why)
{
	struct jfs_journal *j = data;

	outcome(j, seq, rc == -ECANCELED ? "retried" : "failed", rc, why, NULL, 0);
}

void jfs_journal_lost(struct jfs_journal *j, const char *id, unsigned elems, const char *why)
{
	uint64_t seqs[JFS_EL__COUNT + 1];
	size_t i, n = 0, k;
	unsigned left = elems ? elems : 1u << JFS_EL__COUNT;

	if (!j || j->ro)
		return;
	/* the newest entry of each element that was lost */
	pthread_mutex_lock(&j->lock);
	for (i = 0; i < RECENT && left; i++) {
		struct recent *r = &j->ring[(j->ring_next + RECENT - 1 - i) % RECENT];
		unsigned bits = r->elems ? r->elems : 1u << JFS_EL__COUNT;

		if (!r->id || strcmp(r->id, id) || !(bits & left))
			continue;
		left &= ~bits;
		for (k = 0; k < n && seqs[k] != r->seq; k++)
			;
		if (k == n)
			seqs[n++] = r->seq;
	}
	pthread_mutex_unlock(&j->lock);
	for (k = 0; k < n; k++)
		outcome(j, seqs[k], "lost", 0, why, NULL, 0);
	if (left)
		outcome(j, 0, "lost", 0, why, id, left & ((1u << JFS_EL__COUNT) - 1));
}

/* ---- reading ---- */

static char *read_range(const char *path, uint64_t from, uint64_t to, size_t *len)
{
	char *buf = malloc(to - from + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;

	if (!buf)
		abort();
	if (fd >= 0 && to > from) {
		n = pread(fd, buf, to - from, (off_t)from);
		if (n < 0)
			n = 0;
	}
	if (fd >= 0)
		close(fd);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static uint64_t file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) ? 0 : (uint64_t)sb.st_size;
}

/* The last @max bytes of @path, from a line start, appended to @sb. */
static void tail_lines(const char *path, size_t max, struct jfs_strbuf *sb)
{
	uint64_t size = file_size(path), from = size > max ? size - max : 0;
	size_t len, skip = 0;
	char *buf = read_range(path, from, size, &len);

	if (from) {
		char *nl = memchr(buf, '\n', len);

		skip = nl ? (size_t)(nl + 1 - buf) : len;
	}
	/* a line still being written is not shown */
	while (len > skip && buf[len - 1] != '\n')
		len--;
	jfs_strbuf_add(sb, buf + skip, len - skip);
	free(buf);
}

char *jfs_journal_recent(struct jfs_journal *j, size_t max, size_t *len)
{
	struct jfs_strbuf sb, cur;
	uint64_t size = file_size(j->path);

	jfs_strbuf_init(&sb);
	jfs_strbuf_init(&cur);
	tail_lines(j->path, max, &cur);
	if (size < max && cur.len < max)
		tail_lines(j->path1, max - cur.len, &sb);
	jfs_strbuf_add(&sb, cur.buf ? cur.buf : "", cur.len);
	jfs_strbuf_release(&cur);
	return jfs_strbuf_detach(&sb, len);
}

/* Read @path line by line, calling @fn with each; stops when it returns true. */
static bool each_line(const char *path, bool (*fn)(void *data, const char *line, size_t len),
		      void *data)
{
	char *buf = malloc(SCAN_CHUNK);
	struct jfs_strbuf line;
	bool done = false;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (!buf)
		abort();
	jfs_strbuf_init(&line);
	while (fd >= 0 && !done && (n = read(fd, buf, SCAN_CHUNK)) > 0) {
		char *p = buf, *end = buf + n, *nl;

		while (!done && p < end) {
			nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl) {
				jfs_strbuf_add(&line, p, (size_t)(end - p));
				break;
			}
			if (line.len) {
				jfs_strbuf_add(&line, p, (size_t)(nl - p));
				done = fn(data, line.buf, line.len);
				jfs_strbuf_setlen(&line, 0);
			} else {
				done = fn(data, p, (size_t)(nl - p));
			}
			p = nl + 1;
		}
	}
	if (fd >= 0)
		close(fd);
	jfs_strbuf_release(&line);
	free(buf);
	return done;
}

struct finding {
	uint64_t seq;
	char want[40], want_of[40];
	size_t want_len, want_of_len;
	json_t *entry, *outcome;
};

static bool find_line(void *data, const char *line, size_t len)
{
	struct finding *f = data;
	json_t *v;

	if (len > f->want_len && !memcmp(line, f->want, f->want_len) && !f->entry) {
		if (!jfs_json_parse(line, len, &v, NULL))
			f->entry = v;
	} else if (f->entry && len > f->want_of_len && !memcmp(line, f->want_of, f->want_of_len)) {
		if (!jfs_json_parse(line, len, &v, NULL)) {
			json_decref(f->outcome);
			f->outcome = v;
		}
	}
	return false;
}

int jfs_journal_find(struct jfs_journal *j, uint64_t seq, json_t **entry, json_t **outcome_out,
		     struct jfs_err *err)
{
	struct finding f = { .seq = seq };

	snprintf(f.want, sizeof(f.want), "{\"seq\":%" PRIu64 ",", seq);
	snprintf(f.want_of, sizeof(f.want_of), "{\"of\":%" PRIu64 ",", seq);
	f.want_len = strlen(f.want);
	f.want_of_len = strlen(f.want_of);
	/* older first: an outcome line comes after its entry, maybe in the newer file */
	each_line(j->path1, find_line, &f);
	each_line(j->path, find_line, &f);
	if (!f.entry) {
		json_decref(f.outcome);
		return jfs_err_set(err, ENOENT, "change %" PRIu64 " is not in the journal '%s'", seq,
				   j->path);
	}
	*entry = f.entry;
	*outcome_out = f.outcome;
	return 0;
}

/* ---- where ---- */

/* @s made a readable file name part: '/' becomes '-', odd bytes '_'. */
static void name_part(struct jfs_strbuf *sb, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '/')
			jfs_strbuf_addch(sb, '-');
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c == '.' || c == '_' || c == '-' || c == '@')
			jfs_strbuf_addch(sb, (char)c);
		else
			jfs_strbuf_addch(sb, '_');
	}
}

char *jfs_journal_default_path(const json_t *d)
{
	const char *backend = json_string_value(json_object_get(d, "backend"));
	const char *home = getenv("HOME"), *xdg = getenv("XDG_STATE_HOME");
	struct jfs_strbuf sb, name;

	jfs_strbuf_init(&name);
	if (backend && !strcmp(backend, "filedb")) {
		const char *p = json_string_value(json_object_get(d, "pathToFile"));

		jfs_strbuf_addstr(&name, "filedb-");
		name_part(&name, p && *p == '/' ? p + 1 : p);
	} else if (backend && !strcmp(backend, "dynamodb")) {
		jfs_strbuf_addstr(&name, "dynamodb-");
		name_part(&name, json_string_value(json_object_get(d, "region")));
		jfs_strbuf_addch(&name, '-');
		name_part(&name, json_string_value(json_object_get(d, "table")));
	} else {
		jfs_strbuf_addstr(&name, "mongodb-");
		name_part(&name, json_string_value(json_object_get(d, "databaseName")));
		jfs_strbuf_addch(&name, '.');
		name_part(&name, json_string_value(json_object_get(d, "collectionName")));
	}
	/* NAME_MAX leaves room for ".journal.1" */
	if (name.len > 200)
		jfs_strbuf_setlen(&name, 200);

	jfs_strbuf_init(&sb);
	if (geteuid() == 0)
		jfs_strbuf_addstr(&sb, "/var/lib/jovofs");
	else if (xdg && *xdg == '/')
		jfs_strbuf_addf(&sb, "%s/jovofs", xdg);
	else if (home && *home == '/')
		jfs_strbuf_addf(&sb, "%s/.local/state/jovofs", home);
	else {
		jfs_strbuf_release(&name);
		jfs_strbuf_release(&sb);
		return NULL;
	}
	jfs_strbuf_addf(&sb, "/%s.journal", name.buf);
	jfs_strbuf_release(&name);
	return jfs_strbuf_detach(&sb, NULL);
}
