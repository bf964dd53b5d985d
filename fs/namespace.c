/*
 * Operations on names: create and mknod (an element opened for writing,
 * or a scratch file), mkdir (a new user), unlink and rmdir (deleting
 * stored data, only with -o allow_delete), rename (a scratch file onto an
 * element commits it; an element to another name copies it; users and
 * elements are never renamed in the store).
 *
 * Each handler: lock, work out what the names stand for, do it (the store
 * is called without the lock), unlock, one reply.
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "fs/idcodec.h"

/* The user whose directory (or history/) @parent is, or NULL. [L] */
static struct jfs_user *parent_user(struct jfs *fs, fuse_ino_t parent, unsigned *dirsub)
{
	enum jfs_node_kind kind = jfs_node_kind(parent);
	struct jfs_user *u;

	if (kind != JFS_NODE_USER_DIR && kind != JFS_NODE_HISTORY_DIR)
		return NULL;
	u = jfs_user_by_ino(fs, parent);
	if (!u || !u->exists)
		return NULL;
	*dirsub = jfs_ino_sub(parent);
	return u;
}

/* errno for a name operation in @parent, which is not a user's directory */
static int not_user_dir(fuse_ino_t parent)
{
	switch (jfs_node_kind(parent)) {
	case JFS_NODE_ROOT:
	case JFS_NODE_STATUS_DIR:
	case JFS_NODE_STATUS_FILE:
	case JFS_NODE_CONFLICT_DIR:
	case JFS_NODE_FIND_DIR:
	case JFS_NODE_FIND:
		return -EPERM;
	default:
		return -ENOENT;
	}
}

/* A scratch file @name in @dirsub of @u: new, or opened again. [L] */
static int create_scratch(struct jfs *fs, fuse_req_t req, struct jfs_user *u, unsigned dirsub,
			  const char *name, mode_t mode, struct fuse_file_info *fi,
			  struct fuse_entry_param *e)
{
	struct jfs_scratch *sc = jfs_scratch_by_name(u, dirsub, name);

	if (sc) {
		if (fi && (fi->flags & O_EXCL))
			return -EEXIST;
		if (fi && (fi->flags & O_TRUNC))
			jfs_buf_resize(fs, &sc->data, 0);
	} else {
		sc = jfs_scratch_new(fs, u, dirsub, name, mode, fuse_req_ctx(req));
	}
	if (fi)
		fi->fh = 0;
	return jfs_node_entry(fs, sc->ino, e);
}

/* create() of element @sub: it is opened for writing (a new one starts empty). [L-drop] */
static int create_element(struct jfs *fs, const struct jfs_writer *w, struct jfs_user *u,
			  fuse_ino_t parent, const char *name, unsigned sub,
			  struct fuse_file_info *fi, struct fuse_entry_param *e,
			  struct jfs_handle **h)
{
	fuse_ino_t ino;
	int rc;

	rc = jfs_node_lookup(fs, parent, name, &ino);
	if (rc < 0)
		return rc;
	rc = jfs_check_writable(fs, u, sub);
	if (rc < 0)
		return rc;
	if (sub >= JFS_SUB_HIST0 && !ino) {
		jfs_log(LOG_ERR, "cannot create '%s/history/%s': only the %zu history items shown "
				 "can be written", u->name, name, (size_t)fs->policy.cfg.history_size);
		return -EPERM;
	}
	if (ino && fi && (fi->flags & O_EXCL))
		return -EEXIST;
	if (!fi) /* mknod: an element cannot be made empty; writing it makes it */
		return ino ? -EEXIST : -EPERM;
	rc = jfs_handle_open_write(fs, u, jfs_user_ino(u, sub), !ino || (fi->flags & O_TRUNC),
				   w, h);
	if (rc < 0)
		return rc;
	rc = jfs_node_entry(fs, jfs_user_ino(u, sub), e);
	if (rc == 0 && !e->ino)
		rc = -EIO;
	if (rc < 0) {
		jfs_handle_free(fs, *h);
		*h = NULL;
		return rc;
	}
	fi->fh = (uint64_t)(uintptr_t)*h;
	fi->direct_io = 1;
	return 0;
}

static void do_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct jfs *fs = jfs_ctx(req);
	struct fuse_entry_param e;
	struct jfs_handle *h = NULL;
	struct jfs_writer w;
	struct jfs_user *u;
	unsigned dirsub, sub = 0;
	int rc;

	jfs_req_writer(req, &w);
	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	if (fs->opts.ro) {
		rc = -EROFS;
		goto out_unlock;
	}
	u = parent_user(fs, parent, &dirsub);
	if (!u) {
		rc = not_user_dir(parent);
		if (parent == JFS_INO_ROOT)
			jfs_log(LOG_ERR, "cannot create file '%s' at the top: users are "
					 "directories (mkdir)", name);
		goto out_unlock;
	}
	switch (jfs_name_kind(dirsub, name, &sub)) {
	case JFS_NAME_HISTORY_DIR:
		rc = -EISDIR;
		break;
	case JFS_NAME_SCRATCH:
		rc = create_scratch(fs, req, u, dirsub, name, mode, fi, &e);
		break;
	default:
		/* a scratch file that took an element's name before it was one */
		if (jfs_scratch_by_name(u, dirsub, name))
			rc = create_scratch(fs, req, u, dirsub, name, mode, fi, &e);
		else
			rc = create_element(fs, &w, u, parent, name, sub, fi, &e, &h);
		break;
	}
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
	} else if (!fi) {
		fuse_reply_entry(req, &e);
	} else if (fuse_reply_create(req, &e, fi) == -ENOENT && h) {
		/* interrupted: the kernel will never release it */
		pthread_mutex_lock(&fs->lock);
		jfs_handle_free(fs, h);
		pthread_mutex_unlock(&fs->lock);
	}
}

void jfs_ns_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   struct fuse_file_info *fi)
{
	do_create(req, parent, name, mode, fi);
}

void jfs_ns_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  dev_t rdev)
{
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	do_create(req, parent, name, mode, NULL);
}

void jfs_ns_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_write_result res = { 0 };
	struct fuse_entry_param e;
	struct jfs_user *u;
	struct jfs_err err;
	json_t *old = NULL;
	char *id = NULL;
	size_t len;
	int rc;

	jfs_req_who(req);
	if (parent != JFS_INO_ROOT) {
		jfs_log(LOG_ERR, "cannot mkdir '%s': only users (directories at the top) can be "
				 "created", name);
		rc = -EPERM;
		goto out_reply;
	}
	if (fs->opts.ro) {
		rc = -EROFS;
		goto out_reply;
	}
	if (!strcmp(name, JFS_STATUS_NAME)) {
		rc = -EEXIST;
		goto out_reply;
	}
	id = jfs_name_to_id(name, &len);
	if (!id) {
		jfs_log(LOG_ERR, "cannot mkdir '%s': not the name of a user id (write '%%', "
				 "control characters and a leading '.' as %%XX; an id is UTF-8 "
				 "without NUL bytes)", name);
		rc = -EINVAL;
		goto out_reply;
	}
	jfs_err_clear(&err);
	rc = jfs_policy_create(&fs->policy, id, &res, &err);
	if (rc < 0 && rc != -EEXIST)
		jfs_log(LOG_ERR, "cannot create user '%s': %s", name, err.msg);
	pthread_mutex_lock(&fs->lock);
	u = jfs_user_get(fs, id, len);
	if (rc == 0) {
		fs->m.creates++;
		jfs_rcache_store(fs, u, res.item ? json_incref(res.item) : NULL, &old);
		jfs_users_add(fs, u);
		rc = jfs_node_entry(fs, jfs_user_ino(u, JFS_SUB_DIR), &e);
	}
	pthread_mutex_unlock(&fs->lock);
	json_decref(old);
	jfs_write_result_release(&res);
out_reply:
	free(id);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

/*
 * unlink of a stored element file (history/N.json: that item), with
 * allow_delete. Called with the lock, returns without it.
 */
static int unlink_element(struct jfs *fs, struct jfs_user *u, fuse_ino_t parent,
			  const char *name, enum jfs_name_kind nk, unsigned sub)
{
	struct jfs_write_result res = { 0 };
	char label[PATH_MAX];
	json_t *seen = NULL, *old = NULL;
	struct jfs_err err;
	fuse_ino_t ino;
	int rc;

	rc = jfs_node_lookup(fs, parent, name, &ino);
	if (rc == 0 && !ino) {
		/*
		 * rm -r looked the items up before removing 0.json, which moved
		 * the others down: the item this name stood for is gone already.
		 */
		rc = sub >= JFS_SUB_HIST0 && fs->opts.allow_delete && !fs->opts.ro ? 0 : -ENOENT;
		goto out_unlock;
	}
	if (rc < 0)
		goto out_unlock;
	if (nk == JFS_NAME_HISTORY_DIR) {
		rc = -EISDIR;
		goto out_unlock;
	}
	jfs_file_label(u, sub, label, sizeof(label));
	if (!fs->opts.allow_delete || fs->opts.ro) {
		rc = jfs_deny_delete(fs, label);
		goto out_unlock;
	}
	if (nk == JFS_NAME_RECORD)
		goto out_unlock; /* it stands for the whole record: rmdir deletes that, rm -r gets there */
	rc = jfs_rcache_get(fs, u, &seen);
	pthread_mutex_unlock(&fs->lock);
	if (rc < 0)
		return rc;

	jfs_err_clear(&err);
	rc = jfs_policy_remove_element(&fs->policy, u->id, seen, jfs_sub_elem(sub),
				       jfs_sub_hist_index(sub), label, &res, &err);
	pthread_mutex_lock(&fs->lock);
	if (rc == 0) {
		fs->m.removes++;
		jfs_rcache_store(fs, u, res.item ? json_incref(res.item) : NULL, &old);
	} else {
		jfs_write_failed(fs, u, sub, rc, err.msg);
	}
	pthread_mutex_unlock(&fs->lock);
	if (rc == 0)
		jfs_invalidate_user(fs, u, old, res.item);
	json_decref(old);
	json_decref(seen);
	jfs_write_result_release(&res);
	return rc;
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

void jfs_ns_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_scratch *sc;
	struct jfs_user *u;
	enum jfs_name_kind nk;
	unsigned dirsub, sub = 0;
	int rc;

	jfs_req_who(req);
	if (jfs_node_kind(parent) == JFS_NODE_CONFLICT_DIR) {
		rc = jfs_status_conflict_remove(fs->status, name);
		goto out_reply;
	}
	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	u = parent_user(fs, parent, &dirsub);
	if (!u) {
		pthread_mutex_unlock(&fs->lock);
		rc = not_user_dir(parent);
		goto out_reply;
	}
	sc = jfs_scratch_by_name(u, dirsub, name);
	if (sc) {
		jfs_scratch_unlink(fs, sc);
		pthread_mutex_unlock(&fs->lock);
		rc = 0;
		goto out_reply;
	}
	nk = jfs_name_kind(dirsub, name, &sub);
	if (nk == JFS_NAME_SCRATCH) {
		pthread_mutex_unlock(&fs->lock);
		rc = -ENOENT;
		goto out_reply;
	}
	rc = unlink_element(fs, u, parent, name, nk, sub); /* unlocks */
out_reply:
	fuse_reply_err(req, -rc);
}

/* rmdir of history/ with allow_delete: removes the items it shows, newest first. [L-drop] */
static int rmdir_history(struct jfs *fs, struct jfs_user *u)
{
	char label[PATH_MAX];
	struct jfs_err err;
	json_t *item = NULL;
	int rc;

	if (!fs->opts.allow_delete || fs->opts.ro) {
		snprintf(label, sizeof(label), "%s/history", u->name);
		return jfs_deny_delete(fs, label);
	}
	for (;;) {
		struct jfs_write_result res = { 0 };
		json_t *old = NULL;

		rc = jfs_rcache_get(fs, u, &item);
		if (rc < 0 || jfs_policy_history_count(&fs->policy.cfg, item) == 0)
			break;
		pthread_mutex_unlock(&fs->lock);
		jfs_err_clear(&err);
		rc = jfs_policy_remove_element(&fs->policy, u->id, item, JFS_EL_HISTORY, 0,
					       "history/0.json", &res, &err);
		pthread_mutex_lock(&fs->lock);
		if (rc < 0) {
			jfs_write_failed(fs, u, JFS_SUB_HIST0, rc, err.msg);
			break;
		}
		/* the same bookkeeping as any change the mount makes (it once kept served) */
		jfs_rcache_store(fs, u, res.item ? json_incref(res.item) : NULL, &old);
		pthread_mutex_unlock(&fs->lock);
		jfs_invalidate_user(fs, u, old, res.item);
		json_decref(old);
		jfs_write_result_release(&res);
		json_decref(item);
		item = NULL;
		pthread_mutex_lock(&fs->lock);
	}
	json_decref(item);
	return rc;
}

/* rmdir of a user directory with allow_delete: the whole record. Returns without the lock. */
static int rmdir_user(struct jfs *fs, struct jfs_user *u)
{
	struct jfs_err err;
	json_t *old = NULL;
	char *id;
	int rc;

	if (!fs->opts.allow_delete || fs->opts.ro) {
		rc = jfs_deny_delete(fs, u->name);
		pthread_mutex_unlock(&fs->lock);
		return rc;
	}
	id = strdup(u->id);
	if (!id)
		abort();
	pthread_mutex_unlock(&fs->lock);
	jfs_err_clear(&err);
	rc = jfs_policy_remove(&fs->policy, id, &err);
	free(id);
	pthread_mutex_lock(&fs->lock);
	if (rc < 0) {
		jfs_write_failed(fs, u, JFS_SUB_DIR, rc, err.msg);
		pthread_mutex_unlock(&fs->lock);
		return rc;
	}
	fs->m.removes++;
	jfs_rcache_store(fs, u, NULL, &old);
	jfs_users_gone(fs, u);
	jfs_scratch_orphan_all(fs, u);
	jfs_node_meta_release(u);
	pthread_mutex_unlock(&fs->lock);
	jfs_invalidate_user(fs, u, old, NULL);
	json_decref(old);
	return 0;
}

void jfs_ns_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct jfs *fs = jfs_ctx(req);
	fuse_ino_t ino;
	int rc;

	jfs_req_who(req);
	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	rc = jfs_node_lookup(fs, parent, name, &ino);
	if (rc == 0 && !ino)
		rc = -ENOENT;
	if (rc < 0)
		goto out_unlock;
	switch (jfs_node_kind(ino)) {
	case JFS_NODE_HISTORY_DIR:
		/* rm -r removes the items first; the folder itself is the policy's */
		rc = rmdir_history(fs, jfs_user_by_ino(fs, ino));
		break;
	case JFS_NODE_USER_DIR:
		rc = rmdir_user(fs, jfs_user_by_ino(fs, ino)); /* unlocks */
		goto out_reply;
	case JFS_NODE_STATUS_DIR:
	case JFS_NODE_CONFLICT_DIR:
	case JFS_NODE_FIND_DIR:
	case JFS_NODE_FIND:
		rc = -EPERM;
		break;
	default:
		rc = -ENOTDIR;
		break;
	}
out_unlock:
	pthread_mutex_unlock(&fs->lock);
out_reply:
	fuse_reply_err(req, -rc);
}

/*
 * rename of scratch file @name (in @sdir of @su) onto element @dsub of
 * @du: commit its content as that element, atomically. [L-drop]
 */
static int rename_onto_element(struct jfs *fs, struct jfs_user *su, unsigned sdir,
			       const char *name, struct jfs_user *du, fuse_ino_t newparent,
			       const char *newname, unsigned dsub, unsigned int flags)
{
	struct jfs_scratch *sc;
	struct jfs_handle *writer;
	json_t *seen = NULL;
	fuse_ino_t dst_ino;
	char *text;
	size_t len;
	int rc;

	rc = jfs_node_lookup(fs, newparent, newname, &dst_ino);
	if (rc < 0)
		return rc;
	if (dst_ino && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	rc = jfs_check_writable(fs, du, dsub);
	if (rc < 0)
		return rc;
	if (dsub >= JFS_SUB_HIST0 && !dst_ino) {
		jfs_log(LOG_ERR, "cannot rename onto '%s/history/%s': only the history items shown "
				 "can be written", du->name, newname);
		return -EPERM;
	}
	rc = jfs_rcache_get(fs, du, &seen);
	if (rc < 0)
		return rc;
	/* the lock was dropped: look the scratch file up again */
	sc = jfs_scratch_by_name(su, sdir, name);
	if (!sc) {
		json_decref(seen);
		return -ENOENT;
	}
	writer = jfs_handle_writer(du, jfs_user_ino(du, dsub));
	/* the version the writer read; a writer that had the element open started from its own */
	json_decref(seen);
	seen = json_incref(writer ? writer->seen : jfs_rcache_base(du, seen));
	len = sc->data.len;
	text = malloc(len + 1);
	if (!text) {
		json_decref(seen);
		return -ENOMEM;
	}
	memcpy(text, sc->data.buf, len);
	pthread_mutex_unlock(&fs->lock);
	jfs_journal_as("rename", 0);
	rc = jfs_commit(fs, du, dsub, text, len, seen, true);
	jfs_journal_as(NULL, 0);
	free(text);
	json_decref(seen);
	pthread_mutex_lock(&fs->lock);
	if (rc < 0)
		return rc;
	sc = jfs_scratch_by_name(su, sdir, name);
	if (sc) /* the kernel now calls this inode by the element's name */
		jfs_scratch_became(fs, sc, jfs_user_ino(du, dsub));
	return 0;
}

/*
 * rename of element file @src_ino to the scratch name @newname in @ddir
 * of @du: a copy (vim's backup); nothing stored is deleted. [L-drop]
 */
static int rename_element_away(struct jfs *fs, fuse_req_t req, fuse_ino_t src_ino,
			       struct jfs_user *du, unsigned ddir, const char *newname)
{
	struct jfs_scratch *dst;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	rc = jfs_node_content(fs, src_ino, &buf, &len);
	if (rc < 0)
		return rc;
	dst = jfs_scratch_by_name(du, ddir, newname);
	if (!dst)
		dst = jfs_scratch_new(fs, du, ddir, newname, 0644, fuse_req_ctx(req));
	rc = jfs_buf_set(fs, &dst->data, buf, len);
	free(buf);
	return rc;
}

void jfs_ns_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		   const char *newname, unsigned int flags)
{
	struct jfs *fs = jfs_ctx(req);
	struct jfs_scratch *src_sc, *dst_sc;
	struct jfs_user *su, *du;
	enum jfs_name_kind snk, dnk;
	unsigned sdir = 0, ddir = 0, ssub = 0, dsub = 0;
	char label[PATH_MAX];
	bool moved_element = false;
	fuse_ino_t src_ino;
	int rc = 0;

	jfs_req_who(req);
	pthread_mutex_lock(&fs->lock);
	fs->m.fuse_ops++;
	if (flags & RENAME_EXCHANGE) {
		rc = -EINVAL;
		goto out_unlock;
	}
	if (fs->opts.ro) {
		rc = -EROFS;
		goto out_unlock;
	}
	su = parent_user(fs, parent, &sdir);
	du = parent_user(fs, newparent, &ddir);
	if (!su || !du) {
		if (parent == JFS_INO_ROOT && newparent == JFS_INO_ROOT)
			jfs_log(LOG_ERR, "cannot rename user '%s' to '%s': user ids cannot be "
					 "changed", name, newname);
		rc = -EPERM;
		goto out_unlock;
	}
	src_sc = jfs_scratch_by_name(su, sdir, name);
	dst_sc = jfs_scratch_by_name(du, ddir, newname);
	dnk = jfs_name_kind(ddir, newname, &dsub);
	if (dnk == JFS_NAME_HISTORY_DIR) {
		rc = -EISDIR;
		goto out_unlock;
	}
	if (src_sc && (dnk == JFS_NAME_SCRATCH || dst_sc)) {
		/* scratch -> scratch: a plain rename in memory */
		if (dst_sc == src_sc)
			goto out_unlock;
		if (dst_sc && (flags & RENAME_NOREPLACE)) {
			rc = -EEXIST;
			goto out_unlock;
		}
		if (dst_sc)
			jfs_scratch_unlink(fs, dst_sc);
		jfs_scratch_move(fs, src_sc, du, ddir, newname);
		goto out_unlock;
	}
	if (src_sc) {
		rc = rename_onto_element(fs, su, sdir, name, du, newparent, newname, dsub, flags);
		goto out_unlock;
	}
	/* an element (or record.json) of the store */
	snk = jfs_name_kind(sdir, name, &ssub);
	rc = jfs_node_lookup(fs, parent, name, &src_ino);
	if (rc == 0 && !src_ino)
		rc = -ENOENT;
	if (rc < 0)
		goto out_unlock;
	if (snk == JFS_NAME_SCRATCH || snk == JFS_NAME_HISTORY_DIR) {
		rc = -EPERM;
		goto out_unlock;
	}
	if (dnk != JFS_NAME_SCRATCH && !dst_sc) {
		jfs_file_label(su, ssub, label, sizeof(label));
		jfs_log(LOG_ERR, "cannot rename '%s' onto '%s': an element file can only be "
				 "renamed to a scratch name (it is copied)", label, newname);
		rc = -EPERM;
		goto out_unlock;
	}
	if (dst_sc && (flags & RENAME_NOREPLACE)) {
		rc = -EEXIST;
		goto out_unlock;
	}
	rc = rename_element_away(fs, req, src_ino, du, ddir, newname);
	moved_element = rc == 0;
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	if (rc == 0 && src_sc && dnk != JFS_NAME_SCRATCH && !dst_sc) {
		/* drop the kernel's dentry, so the name leads to the element's own inode */
		jfs_notify_entry(fs, newparent, newname);
	} else if (moved_element) {
		/* the kernel moved the element's dentry to the new name: undo both views */
		jfs_notify_entry(fs, newparent, newname);
		jfs_notify_entry(fs, parent, name);
	}
	fuse_reply_err(req, -rc);
}
