/*
 * Undo: `echo SEQ > .jovofs/undo` puts back what journal entry SEQ
 * changed, through the policy (jfs_policy_restore(): the same checks as a
 * write, and only while the element still holds what that change left).
 * Also where a FUSE request's writer is taken for the journal.
 */
#include "fs/fs-internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

void jfs_req_writer(fuse_req_t req, struct jfs_writer *w)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	jfs_writer_fill(w, c->uid, c->gid, c->pid);
}

void jfs_req_who(fuse_req_t req)
{
	struct jfs_writer w;

	jfs_req_writer(req, &w);
	jfs_journal_who(&w);
}

/* The element an entry names: "user", ..., "history/N", "record" (JFS_EL__COUNT). */
static int parse_element(const char *s, enum jfs_elem *el, size_t *idx)
{
	int e;

	*idx = 0;
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "record")) {
		*el = JFS_EL__COUNT;
		return 0;
	}
	if (!strncmp(s, "history/", 8) && isdigit((unsigned char)s[8])) {
		char *end;
		unsigned long long n = strtoull(s + 8, &end, 10);

		if (*end || n >= JFS_HIST_MAX)
			return -EINVAL;
		*el = JFS_EL_HISTORY;
		*idx = (size_t)n;
		return 0;
	}
	for (e = 0; e < JFS_EL__COUNT; e++)
		if (e != JFS_EL_HISTORY && !strcmp(s, jfs_elem_key(e))) {
			*el = (enum jfs_elem)e;
			return 0;
		}
	return -EINVAL;
}

static const json_t *not_null(const json_t *v)
{
	return json_is_null(v) ? NULL : v;
}

/* The file @el (@idx) of @u stands for, for messages. */
static void label_of(const struct jfs_user *u, enum jfs_elem el, size_t idx, char *out,
		     size_t size)
{
	static const unsigned sub_of[JFS_EL__COUNT] = {
		[JFS_EL_USER] = JFS_SUB_USER,
		[JFS_EL_SESSION] = JFS_SUB_SESSION,
		[JFS_EL_CREATED_AT] = JFS_SUB_CREATED,
		[JFS_EL_UPDATED_AT] = JFS_SUB_UPDATED,
	};

	if (el == JFS_EL__COUNT)
		jfs_file_label(u, JFS_SUB_DIR, out, size);
	else
		jfs_file_label(u, el == JFS_EL_HISTORY ? JFS_SUB_HIST0 + (unsigned)idx : sub_of[el],
			       out, size);
}

/* The mount's own bookkeeping after the undo stored @res (as mkdir, rmdir, a write do). */
static void installed(struct jfs *fs, struct jfs_user *u, enum jfs_elem el,
		      const struct jfs_restore *r, const struct jfs_write_result *res)
{
	json_t *old = NULL;

	pthread_mutex_lock(&fs->lock);
	fs->m.writes_ok++;
	if (el == JFS_EL__COUNT && !r->value) {
		/* the record is gone, as after rmdir */
		jfs_rcache_store(fs, u, NULL, &old);
		jfs_users_gone(fs, u);
		jfs_scratch_orphan_all(fs, u);
		jfs_node_meta_release(u);
	} else {
		jfs_rcache_store(fs, u, res->item ? json_incref(res->item) : NULL, &old);
		if (el == JFS_EL__COUNT)
			jfs_users_add(fs, u); /* back, as after mkdir */
	}
	pthread_mutex_unlock(&fs->lock);
	jfs_invalidate_user(fs, u, old, res->item);
	json_decref(old);
}

int jfs_undo(struct jfs *fs, uint64_t seq)
{
	struct jfs_write_result res = { 0 };
	struct jfs_restore r = { 0 };
	json_t *entry = NULL, *outcome = NULL;
	const char *id, *what, *change, *op;
	char label[PATH_MAX];
	struct jfs_user *u;
	struct jfs_err err;
	int rc;

	if (fs->opts.ro)
		return -EROFS;
	if (!fs->journal) {
		jfs_log(LOG_ERR, "cannot undo change %" PRIu64 ": the journal is off", seq);
		return -ENOENT;
	}
	jfs_err_clear(&err);
	rc = jfs_journal_find(fs->journal, seq, &entry, &outcome, &err);
	if (rc < 0) {
		jfs_log(LOG_ERR, "cannot undo change %" PRIu64 ": %s", seq, err.msg);
		return rc;
	}
	what = json_string_value(json_object_get(outcome, "outcome"));
	if (what) {
		jfs_log(LOG_ERR, "cannot undo change %" PRIu64 ": it was not stored (%s: %s)", seq,
			what, json_string_value(json_object_get(outcome, "reason")));
		rc = -EINVAL;
		goto out;
	}
	id = json_string_value(json_object_get(entry, "user"));
	op = json_string_value(json_object_get(entry, "op"));
	if (!id || parse_element(json_string_value(json_object_get(entry, "element")), &r.el,
				 &r.idx)) {
		jfs_log(LOG_ERR, "cannot undo change %" PRIu64 ": the entry names no element", seq);
		rc = -EINVAL;
		goto out;
	}
	/* the opposite of what the change did, while the element holds what it left */
	r.expect = not_null(json_object_get(entry, "after"));
	r.value = not_null(json_object_get(entry, "before"));
	r.hist = JFS_HIST_REPLACE;
	change = json_string_value(json_object_get(entry, "change"));
	if (r.el == JFS_EL_HISTORY && change && !strcmp(change, "insert")) {
		r.hist = JFS_HIST_REMOVE;
		r.value = NULL;
	} else if (r.el == JFS_EL_HISTORY && change && !strcmp(change, "remove")) {
		r.hist = JFS_HIST_INSERT;
		r.expect = not_null(json_object_get(entry, "shifted"));
	}

	pthread_mutex_lock(&fs->lock);
	u = jfs_user_get(fs, id, strlen(id));
	label_of(u, r.el, r.idx, label, sizeof(label));
	pthread_mutex_unlock(&fs->lock);
	/* taking something away is a delete: it needs allow_delete, as rm does */
	if (!r.value && !fs->opts.allow_delete) {
		jfs_log(LOG_ERR, "cannot undo change %" PRIu64 " (%s of '%s'): undoing it deletes, "
			"which needs the mount option -o allow_delete", seq, op ? op : "?", label);
		rc = -EPERM;
		goto out;
	}
	jfs_journal_as(NULL, seq);
	rc = jfs_policy_restore(&fs->policy, id, &r, label, &res, &err);
	jfs_journal_as(NULL, 0);
	if (rc < 0) {
		jfs_log(LOG_ERR, "cannot undo change %" PRIu64 " (%s of '%s'): %s", seq,
			op ? op : "?", label, err.msg);
		goto out;
	}
	jfs_log(LOG_INFO, "undid change %" PRIu64 " (%s of '%s')", seq, op ? op : "?", label);
	installed(fs, u, r.el, &r, &res);
	jfs_write_result_release(&res);
out:
	json_decref(entry);
	json_decref(outcome);
	return rc;
}

int jfs_undo_write(struct jfs *fs, const char *buf, size_t size)
{
	size_t i = 0;
	int rc = 0, n = 0;

	/* one or more change numbers, separated by white space, undone in that order */
	while (i < size && rc == 0) {
		unsigned long long seq = 0;
		size_t start;

		while (i < size && isspace((unsigned char)buf[i]))
			i++;
		if (i == size)
			break;
		start = i;
		while (i < size && isdigit((unsigned char)buf[i]) && seq <= UINT64_MAX / 10)
			seq = seq * 10 + (unsigned)(buf[i++] - '0');
		if (i == start || (i < size && !isspace((unsigned char)buf[i])) || !seq) {
			jfs_log(LOG_ERR, "cannot undo: write the number of a change (its \"seq\" in "
				"%s/journal) to %s/undo", JFS_STATUS_NAME, JFS_STATUS_NAME);
			return -EINVAL;
		}
		rc = jfs_undo(fs, seq);
		n++;
	}
	if (!n && rc == 0) {
		jfs_log(LOG_ERR, "cannot undo: nothing written (write a change number)");
		return -EINVAL;
	}
	return rc;
}
