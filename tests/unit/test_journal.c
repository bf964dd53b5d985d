/*
 * fs/journal.c without FUSE: concurrent appends (group commit) give each
 * entry its own seq in order, lines stay whole JSON, a torn tail is
 * dropped at open, seq goes on across rotation and reopening, outcome lines
 * are found with their entries, and the default place is named readably.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "fs/journal.h"

#include "check.h"

static char tmpdir[] = "/tmp/jfs-journal-test-XXXXXX";

static char *path_in(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", tmpdir, name) < 0)
		abort();
	return p;
}

static int change(struct jfs_journal *j, const char *id, int n, uint64_t *seq)
{
	json_t *before = json_pack("{s:{s:i}}", "data", "n", n - 1);
	json_t *after = json_pack("{s:{s:i}}", "data", "n", n);
	struct jfs_change c = { .kind = JFS_CHANGE_WRITE, .id = id, .el = JFS_EL_USER,
				.before = before, .after = after };
	struct jfs_err err;
	int ret;

	jfs_err_clear(&err);
	ret = jfs_journal_intent(j, &c, seq, &err);
	json_decref(before);
	json_decref(after);
	return ret;
}

/* Every line of @path: parsed, in order; the count in *@n. */
static json_t **lines_of(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	json_t **v = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	*n = 0;
	while (f && (len = getline(&line, &cap, f)) > 0) {
		json_t *o = NULL;

		CHECK(line[len - 1] == '\n', "a line without its newline");
		CHECK(jfs_json_parse(line, (size_t)len, &o, NULL) == 0, "not JSON: %s", line);
		v = realloc(v, (*n + 1) * sizeof(*v));
		v[(*n)++] = o;
	}
	free(line);
	if (f)
		fclose(f);
	return v;
}

static void free_lines(json_t **v, size_t n)
{
	while (n)
		json_decref(v[--n]);
	free(v);
}

struct writer {
	struct jfs_journal *j;
	int k;
	uint64_t seqs[200];
};

static void *write_many(void *arg)
{
	struct writer *w = arg;
	char id[16];
	int i;

	snprintf(id, sizeof(id), "u%d", w->k);
	for (i = 0; i < 200; i++)
		if (change(w->j, id, i + 1, &w->seqs[i]))
			w->seqs[i] = 0;
	return NULL;
}

/* Four threads at once: 800 entries, seq 1..800 each once, each thread's in order. */
static void test_concurrent(void)
{
	char *p = path_in("c.journal");
	struct writer w[4];
	pthread_t t[4];
	struct jfs_journal *j;
	struct jfs_err err;
	json_t **lines;
	size_t n, i, k;
	char seen[801] = { 0 };

	CHECK(jfs_journal_open(p, 0, "memstore", &j, &err) == 0, "open: %s", err.msg);
	for (k = 0; k < 4; k++) {
		w[k].j = j;
		w[k].k = (int)k;
		pthread_create(&t[k], NULL, write_many, &w[k]);
	}
	for (k = 0; k < 4; k++)
		pthread_join(t[k], NULL);
	for (k = 0; k < 4; k++)
		for (i = 0; i < 200; i++) {
			CHECK(w[k].seqs[i] >= 1 && w[k].seqs[i] <= 800, "seq %llu",
			      (unsigned long long)w[k].seqs[i]);
			if (i)
				CHECK(w[k].seqs[i] > w[k].seqs[i - 1], "a thread's seqs out of order");
		}
	jfs_journal_close(j);
	lines = lines_of(p, &n);
	CHECK(n == 800, "%zu lines", n);
	for (i = 0; i < n; i++) {
		json_int_t s = (json_int_t)jfs_json_number_value(json_object_get(lines[i], "seq"));

		CHECK(s == (json_int_t)i + 1, "line %zu has seq %lld", i, (long long)s);
		if (s >= 1 && s <= 800) {
			CHECK(!seen[s], "seq %lld twice", (long long)s);
			seen[s] = 1;
		}
		CHECK(!strcmp(json_string_value(json_object_get(lines[i], "backend")), "memstore"));
	}
	free_lines(lines, n);
	CHECK(access(p, F_OK) == 0);
	{
		struct stat sb;

		CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600, "mode %o",
		      (unsigned)(sb.st_mode & 0777));
	}
	free(p);
}

/* A torn last line is dropped at open; seq goes on after the last whole entry. */
static void test_torn_and_reopen(void)
{
	char *p = path_in("t.journal");
	struct jfs_journal *j;
	struct jfs_err err;
	uint64_t seq = 0;
	json_t **lines;
	size_t n;
	int fd;

	CHECK(jfs_journal_open(p, 0, "x", &j, &err) == 0, "open: %s", err.msg);
	change(j, "a", 1, &seq);
	change(j, "a", 2, &seq);
	jfs_journal_close(j);
	fd = open(p, O_WRONLY | O_APPEND);
	CHECK(write(fd, "{\"seq\":3,\"ti", 12) == 12);
	close(fd);
	CHECK(jfs_journal_open(p, 0, "x", &j, &err) == 0, "reopen: %s", err.msg);
	change(j, "a", 3, &seq);
	CHECK(seq == 3, "seq %llu after reopening", (unsigned long long)seq);
	jfs_journal_close(j);
	lines = lines_of(p, &n);
	CHECK(n == 3, "%zu lines", n);
	free_lines(lines, n);
	free(p);
}

/* Past max the file moves to .1; seq goes on; find() sees both files and outcome lines. */
static void test_rotate_and_find(void)
{
	char *p = path_in("r.journal"), *p1 = path_in("r.journal.1");
	struct jfs_journal *j;
	struct jfs_err err;
	json_t *e = NULL, *o = NULL;
	uint64_t seq = 0, first = 0;
	struct stat sb;
	int i;

	CHECK(jfs_journal_open(p, 1000, "x", &j, &err) == 0, "open: %s", err.msg);
	for (i = 1; i <= 12; i++) {
		CHECK(change(j, "rot", i, &seq) == 0);
		if (i == 1)
			first = seq;
	}
	CHECK(stat(p1, &sb) == 0 && (sb.st_mode & 0777) == 0600, "no 0600 .1");
	CHECK(stat(p, &sb) == 0 && sb.st_size <= 1000, "current file %lld bytes",
	      (long long)sb.st_size);
	CHECK(seq == 12, "seq %llu", (unsigned long long)seq);
	jfs_journal_failed(j, seq, -ESTALE, "someone else");
	CHECK(jfs_journal_find(j, seq, &e, &o, &err) == 0, "find: %s", err.msg);
	CHECK(jfs_json_number_value(json_object_get(json_object_get(json_object_get(e, "after"),
								   "data"), "n")) == 12);
	CHECK(o && !strcmp(json_string_value(json_object_get(o, "outcome")), "failed") &&
	      !strcmp(json_string_value(json_object_get(o, "errno")), "ESTALE"));
	json_decref(e);
	json_decref(o);
	e = o = NULL;
	/* the first entries went with an older .1 (one previous file is kept) */
	CHECK(jfs_journal_find(j, first, &e, &o, &err) == -ENOENT &&
	      strstr(err.msg, "not in the journal"), "find first: %s", err.msg);
	jfs_journal_close(j);
	/* reopened: seq goes on from the current file */
	CHECK(jfs_journal_open(p, 1000, "x", &j, &err) == 0);
	change(j, "rot", 13, &seq);
	CHECK(seq == 13, "seq %llu after reopening", (unsigned long long)seq);
	jfs_journal_close(j);
	free(p);
	free(p1);
}

/* A second writer of one journal is refused: one seq must never be given twice. */
static void test_one_writer(void)
{
	char *p = path_in("w.journal");
	struct jfs_journal *a, *b = NULL;
	struct jfs_err err;

	CHECK(jfs_journal_open(p, 0, "x", &a, &err) == 0);
	jfs_err_clear(&err);
	CHECK(jfs_journal_open(p, 0, "x", &b, &err) == -EBUSY && strstr(err.msg, "in use"),
	      "second writer: %s", err.msg);
	jfs_journal_close(b);
	jfs_journal_close(a);
	free(p);
}

static void test_default_path(void)
{
	json_t *d = json_pack("{s:s,s:s}", "backend", "filedb", "pathToFile", "/srv/app/db/db.json");
	char *p = jfs_journal_default_path(d);

	if (geteuid() == 0)
		CHECK_STR(p, "/var/lib/jovofs/filedb-srv-app-db-db.json.journal");
	free(p);
	json_decref(d);
	d = json_pack("{s:s,s:s,s:s}", "backend", "dynamodb", "region", "eu-west-1", "table",
		      "Jovo Users");
	p = jfs_journal_default_path(d);
	CHECK(p && strstr(p, "/dynamodb-eu-west-1-Jovo_Users.journal"), "%s", p);
	free(p);
	json_decref(d);
	d = json_pack("{s:s,s:s,s:s}", "backend", "mongodb", "databaseName", "app",
		      "collectionName", "jovoUsers");
	p = jfs_journal_default_path(d);
	CHECK(p && strstr(p, "/mongodb-app.jovoUsers.journal"), "%s", p);
	free(p);
	json_decref(d);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	jfs_log_set_level(getenv("JFS_TEST_VERBOSE") ? LOG_DEBUG : LOG_EMERG);
	test_concurrent();
	test_torn_and_reopen();
	test_rotate_and_find();
	test_one_writer();
	test_default_path();
	if (!failed) {
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
	return check_report();
}
