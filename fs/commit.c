/*
 * Storing what was written: a close(), fsync() or rename() onto an
 * element commits the content through the policy (validation, no-op
 * detection, a store conditional on the version the writer started from),
 * installs the result in the record cache and tells the kernel. Failures
 * are counted, logged, kept per file for user.jovofs.error, and a
 * conflicting version is kept under .jovofs/conflicts/.
 *
 * A change the store accepted can still be lost later (FileDb: dropped as
 * a conflict with another writer before its save, or its save failed):
 * jfs_lost_drain() puts each loss on its file, and every write handle
 * open on that file reports it once to its next close() or fsync().
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

void jfs_file_label(const struct jfs_user *u, unsigned sub, char *out, size_t size)
{
	if (sub >= JFS_SUB_HIST0)
		snprintf(out, size, "%s/history/%zu.json", u->name, jfs_sub_hist_index(sub));
	else if (sub == JFS_SUB_DIR || !jfs_sub_name(sub))
		snprintf(out, size, "%s", u->name);
	else
		snprintf(out, size, "%s/%s", u->name, jfs_sub_name(sub));
}

static void set_last_error(struct jfs_user *u, unsigned slot, const char *msg)
{
	free(u->errors.last[slot]);
	u->errors.last[slot] = NULL;
	if (msg && !(u->errors.last[slot] = strdup(msg)))
		abort();
}

void jfs_write_failed(struct jfs *fs, struct jfs_user *u, unsigned sub, int rc,
		      const char *msg)
{
	char label[PATH_MAX];

	switch (-rc) {
	case EINVAL:
	case EFBIG:
	case EPERM:
		fs->m.writes_invalid++;
		break;
	case ESTALE:
		fs->m.writes_conflict++;
		break;
	default:
		fs->m.writes_failed++;
	}
	set_last_error(u, jfs_err_slot(sub), msg);
	jfs_file_label(u, sub, label, sizeof(label));
	jfs_log(LOG_ERR, "write of '%s' failed (%s): %s", label, strerror(-rc), msg);
}

int jfs_check_writable(struct jfs *fs, struct jfs_user *u, unsigned sub)
{
	char label[PATH_MAX];

	if (fs->opts.ro)
		return -EROFS;
	if (sub == JFS_SUB_RECORD)
		return -EACCES;
	if (jfs_node_kind(jfs_user_ino(u, sub)) != JFS_NODE_ELEMENT)
		return -EISDIR;
	if (!fs->policy.cfg.enabled[jfs_sub_elem(sub)]) {
		jfs_file_label(u, sub, label, sizeof(label));
		jfs_log(LOG_ERR, "write of '%s' refused: storedElements.%s is disabled", label,
			jfs_elem_key(jfs_sub_elem(sub)));
		return -EPERM;
	}
	return 0;
}

int jfs_deny_delete(struct jfs *fs, const char *what)
{
	if (fs->opts.ro)
		return -EROFS;
	jfs_log(LOG_ERR, "cannot delete '%s': deleting stored data needs the mount option "
			 "-o allow_delete", what);
	return -EPERM;
}

int jfs_commit(struct jfs *fs, struct jfs_user *u, unsigned sub, const char *text, size_t len,
	       const json_t *seen, bool inval_now)
{
	struct jfs_write_result res = { 0 };
	char label[PATH_MAX], msg[PATH_MAX + 512];
	fuse_ino_t ino = jfs_user_ino(u, sub);
	json_t *old = NULL;
	struct jfs_err err;
	int rc;

	jfs_file_label(u, sub, label, sizeof(label));
	jfs_err_clear(&err);
	if (fs->opts.ro)
		rc = jfs_err_set(&err, EROFS, "'%s': mounted read-only", label);
	else if (len > fs->opts.max_file_size)
		rc = jfs_err_set(&err, EFBIG, "'%s': %zu bytes is over max_file_size (%zu)",
				 label, len, fs->opts.max_file_size);
	else
		rc = jfs_policy_write(&fs->policy, u->id, seen, jfs_sub_elem(sub),
				      jfs_sub_hist_index(sub), text, len, label, &res, &err);
	pthread_mutex_lock(&fs->lock);
	if (rc == 0) {
		set_last_error(u, jfs_err_slot(sub), NULL);
		if (res.noop) {
			fs->m.writes_noop++;
		} else {
			fs->m.writes_ok++;
			jfs_rcache_store(fs, u, res.item ? json_incref(res.item) : NULL, &old);
		}
	} else {
		jfs_write_failed(fs, u, sub, rc, err.msg);
	}
	pthread_mutex_unlock(&fs->lock);

	if (rc == -ESTALE) {
		/*
		 * The conflict proves the cached record stale: drop it and the
		 * kernel's copy now, so a re-read shows what is stored (the
		 * re-read, re-apply, write-again loop then works at once)
		 */
		pthread_mutex_lock(&fs->lock);
		jfs_rcache_forget(fs, u, &old);
		pthread_mutex_unlock(&fs->lock);
		json_decref(old);
		old = NULL;
		jfs_invalidate_files_now(fs, u);
	}
	if (rc == -ESTALE) {
		char *kept = jfs_status_conflict(fs->status, u->name,
						 sub >= JFS_SUB_HIST0 ? label + strlen(u->name) + 1
								      : jfs_sub_name(sub),
						 text, len);

		if (kept) {
			snprintf(msg, sizeof(msg), "your version of '%s' is kept as '%s/conflicts/%s'",
				 label, JFS_STATUS_NAME, kept);
			jfs_log(LOG_ERR, "%s", msg);
			free(kept);
		}
	}
	/* the page cache holds the bytes as written: show the stored rendering */
	if (inval_now)
		jfs_notify_inode_now(fs, ino, 0);
	if (rc == 0 && !res.noop)
		jfs_invalidate_user(fs, u, old, res.item);
	else
		jfs_notify_inode(fs, ino);
	json_decref(old);
	jfs_write_result_release(&res);
	return rc;
}

int jfs_commit_handle(struct jfs *fs, struct jfs_handle *h, bool inval_now)
{
	json_t *seen;
	char *text;
	size_t len;
	int rc;

	pthread_mutex_lock(&fs->lock);
	if (h->failed) {
		/* what was written is incomplete: store none of it */
		rc = -h->failed;
		if (h->state == JFS_W_DIRTY)
			h->state = JFS_W_CLEAN;
		pthread_mutex_unlock(&fs->lock);
		return rc;
	}
	/*
	 * Nothing written since the last commit (also an open(O_TRUNC) alone:
	 * a shell closing its dup()ed descriptor before the command writes)
	 */
	if (h->state != JFS_W_DIRTY) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	h->state = JFS_W_CLEAN;
	len = h->data.len;
	text = malloc(len + 1);
	if (!text) {
		pthread_mutex_unlock(&fs->lock);
		return -ENOMEM;
	}
	memcpy(text, h->data.buf, len);
	seen = json_incref(h->seen);
	/* the journal names who opened the file, whoever closes it last */
	jfs_journal_who(&h->writer);
	pthread_mutex_unlock(&fs->lock);
	rc = jfs_commit(fs, h->u, jfs_ino_sub(h->ino), text, len, seen, inval_now);
	json_decref(seen);
	free(text);
	if (rc == 0) {
		/* a further write through this descriptor builds on what is stored now */
		pthread_mutex_lock(&fs->lock);
		json_decref(h->seen);
		h->seen = h->u->cache.item ? json_incref(h->u->cache.item) : NULL;
		pthread_mutex_unlock(&fs->lock);
	}
	return rc;
}

void jfs_commit_release(struct jfs *fs, struct jfs_handle *h)
{
	char label[PATH_MAX];

	/* writes after the last flush (rare): stored now, errors go to the log */
	jfs_commit_handle(fs, h, false);
	pthread_mutex_lock(&fs->lock);
	if (h->state == JFS_W_TRUNCATED && !h->failed) {
		/*
		 * Opened with O_TRUNC and closed without a write (": > f", cp of
		 * an empty file): nothing is stored, rightly, but say so where the
		 * user who wonders will look
		 */
		jfs_file_label(h->u, jfs_ino_sub(h->ino), label, sizeof(label));
		set_last_error(h->u, jfs_err_slot(jfs_ino_sub(h->ino)),
			       "empty write: nothing stored");
		jfs_log(LOG_WARNING, "'%s': empty write: nothing stored (opened with O_TRUNC, "
				     "never written)", label);
	}
	pthread_mutex_unlock(&fs->lock);
}

/* ---- changes the store lost after accepting them ---- */

/* Collected without the lock, put on the files under it. */
struct lost_changes {
	struct lost_change {
		char *id;
		unsigned elems;
		struct jfs_err err;
	} *v;
	size_t n, alloc;
};

static void collect_lost(void *data, const char *id, unsigned elems, const struct jfs_err *e)
{
	struct lost_changes *l = data;

	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 16;
		l->v = realloc(l->v, l->alloc * sizeof(*l->v));
		if (!l->v)
			abort();
	}
	if (!(l->v[l->n].id = strdup(id)))
		abort();
	l->v[l->n].elems = elems;
	l->v[l->n].err = *e;
	l->n++;
}

/* File kind @slot of @u lost a change. [L] */
static void note_lost(struct jfs_user *u, unsigned slot, const struct jfs_err *e)
{
	set_last_error(u, slot, e->msg);
	u->errors.lost_seq[slot]++;
	u->errors.lost_errno[slot] = e->code ? e->code : EIO;
}

void jfs_lost_drain(struct jfs *fs)
{
	static const unsigned slot_of[JFS_EL__COUNT] = {
		[JFS_EL_USER] = JFS_SUB_USER,
		[JFS_EL_SESSION] = JFS_SUB_SESSION,
		[JFS_EL_HISTORY] = JFS_ERR_HISTORY,
		[JFS_EL_CREATED_AT] = JFS_SUB_CREATED,
		[JFS_EL_UPDATED_AT] = JFS_SUB_UPDATED,
	};
	struct lost_changes l = { 0 };
	size_t i;
	int el;

	/*
	 * The store logged each loss, so .jovofs/errors has it already. One
	 * drain at a time: an fsync must not find the list empty while the
	 * poll thread still carries its loss to the file.
	 */
	pthread_mutex_lock(&fs->lost_lock);
	jfs_policy_failures(&fs->policy, collect_lost, &l);
	if (!l.n) {
		pthread_mutex_unlock(&fs->lost_lock);
		return;
	}
	/* the journal's entries of those changes get a line saying so */
	for (i = 0; i < l.n; i++)
		jfs_journal_lost(fs->journal, l.v[i].id, l.v[i].elems, l.v[i].err.msg);
	pthread_mutex_lock(&fs->lock);
	for (i = 0; i < l.n; i++) {
		struct jfs_user *u = jfs_user_get(fs, l.v[i].id, strlen(l.v[i].id));
		const struct jfs_err *e = &l.v[i].err;

		fs->m.writes_lost++;
		if (!l.v[i].elems)
			note_lost(u, JFS_SUB_DIR, e); /* the whole record */
		for (el = 0; el < JFS_EL__COUNT; el++)
			if (l.v[i].elems & (1u << el))
				note_lost(u, slot_of[el], e);
		free(l.v[i].id);
	}
	pthread_mutex_unlock(&fs->lock);
	pthread_mutex_unlock(&fs->lost_lock);
	free(l.v);
}

/* A loss of a change of @h's file since @h last looked, once: -errno or 0. [L] */
static int lost_since(struct jfs_handle *h)
{
	unsigned slot = jfs_err_slot(jfs_ino_sub(h->ino));

	if (h->lost_seen == h->u->errors.lost_seq[slot])
		return 0;
	h->lost_seen = h->u->errors.lost_seq[slot];
	return -h->u->errors.lost_errno[slot];
}

int jfs_commit_flush(struct jfs *fs, struct jfs_handle *h)
{
	int rc = jfs_commit_handle(fs, h, true);

	if (rc == 0) {
		/* an earlier commit through this handle that the store lost since */
		jfs_lost_drain(fs);
		pthread_mutex_lock(&fs->lock);
		rc = lost_since(h);
		pthread_mutex_unlock(&fs->lock);
	}
	return rc;
}

int jfs_commit_fsync(struct jfs *fs, fuse_ino_t ino, struct jfs_handle *h)
{
	struct jfs_user *u;
	struct jfs_err err;
	char *id = NULL;
	int rc = 0, lost;

	if (h && h->kind != JFS_H_WRITE)
		h = NULL;
	pthread_mutex_lock(&fs->lock);
	/* what fsync() makes durable: the changes of this file's user, nobody else's */
	u = h ? h->u : jfs_user_by_ino(fs, jfs_scratch_resolve(fs, ino));
	if (u && !(id = strdup(u->id)))
		abort();
	pthread_mutex_unlock(&fs->lock);
	if (!id || fs->opts.ro)
		goto out_free;
	if (h)
		rc = jfs_commit_handle(fs, h, true);
	if (rc == 0) {
		jfs_err_clear(&err);
		rc = jfs_policy_sync(&fs->policy, id, &err);
		if (rc < 0)
			jfs_log(LOG_ERR, "fsync of '%s': %s", u->name, err.msg);
	}
	if (h) {
		/*
		 * Changes of this file the store lost since this descriptor last
		 * looked, once: a dropped edit, a failed save (when that is this
		 * call's own failure, it is not reported again later).
		 */
		jfs_lost_drain(fs);
		pthread_mutex_lock(&fs->lock);
		lost = lost_since(h);
		pthread_mutex_unlock(&fs->lock);
		if (rc == 0)
			rc = lost;
	}
out_free:
	free(id);
	return rc;
}

char *jfs_last_error(struct jfs_user *u, unsigned sub)
{
	unsigned slot;
	char *msg;

	if (sub != JFS_SUB_DIR) {
		msg = u->errors.last[jfs_err_slot(sub)];
		return msg ? strdup(msg) : NULL;
	}
	/* the directory tells the failure of any of its files */
	for (slot = 0; slot < JFS_ERR_SLOTS; slot++)
		if (u->errors.last[slot])
			return strdup(u->errors.last[slot]);
	return NULL;
}

void jfs_errors_release(struct jfs_user *u)
{
	unsigned slot;

	for (slot = 0; slot < JFS_ERR_SLOTS; slot++) {
		free(u->errors.last[slot]);
		u->errors.last[slot] = NULL;
	}
}
