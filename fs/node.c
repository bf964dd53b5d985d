/*
 * What each kind of node looks like: its attributes, the names in it, its
 * content. One switch on jfs_node_kind() per question; the .jovofs/ kinds
 * are answered by fs/status.c, scratch files by fs/scratch.c.
 *
 * A user directory's and its files' times are the record's updatedAt
 * (session.json: the session's), from the listing when the record is not
 * loaded, so `ls -l` of the top loads nothing. A file's size is remembered
 * after its first rendering (fs/rcache.c), so a stat loads nothing either.
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/isotime.h"
#include "common/json.h"
#include "common/log.h"
#include "fs/idcodec.h"

/* The user of a user inode, when it exists. [L] */
static struct jfs_user *live_user(struct jfs *fs, fuse_ino_t ino)
{
	struct jfs_user *u = jfs_user_by_ino(fs, ino);

	return u && u->exists ? u : NULL;
}

/* The user of @ino and its item (a new reference). [L-drop] */
static int user_item(struct jfs *fs, fuse_ino_t ino, struct jfs_user **u, json_t **item)
{
	*u = live_user(fs, ino);
	return *u ? jfs_rcache_get(fs, *u, item) : -ENOENT;
}

static void set_time(struct timespec *ts, int64_t ms)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec < 0) {
		ts->tv_sec--;
		ts->tv_nsec += 1000000000;
	}
}

void jfs_node_base_attr(struct jfs *fs, struct stat *st, fuse_ino_t ino, mode_t mode,
			int64_t mtime_ms)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = fs->opts.uid;
	st->st_gid = fs->opts.gid;
	st->st_blksize = 4096;
	set_time(&st->st_mtim, mtime_ms);
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

void jfs_node_size_attr(struct stat *st, size_t size)
{
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
}

char *jfs_node_render(struct jfs *fs, const json_t *item, unsigned sub, size_t *len)
{
	if (sub == JFS_SUB_RECORD)
		return jfs_json_render(item, len);
	return jfs_policy_render(&fs->policy.cfg, item, jfs_sub_elem(sub), jfs_sub_hist_index(sub),
				 jfs_now_ms(), len);
}

/* Whether file @sub (an element or the record) of @item exists. */
static bool file_exists(struct jfs *fs, const json_t *item, unsigned sub)
{
	if (sub == JFS_SUB_RECORD)
		return true;
	return jfs_policy_file_exists(&fs->policy.cfg, item, jfs_sub_elem(sub),
				      jfs_sub_hist_index(sub), jfs_now_ms());
}

double jfs_node_timeout(struct jfs *fs, const json_t *item, unsigned sub)
{
	double t = fs->entry_timeout;

	if (sub == JFS_SUB_SESSION) {
		/* an expiring session's file goes away by itself */
		int64_t upd = item ? jfs_item_session_updated_ms(item) : -1;

		if (upd >= 0 && fs->policy.cfg.enabled[JFS_EL_SESSION]) {
			double left = (double)(upd + fs->policy.cfg.session_expires_s * 1000 -
					       jfs_now_ms()) / 1000.0;

			if (left < 0)
				left = 0;
			if (left < t)
				t = left;
		}
	}
	return t;
}

static mode_t file_mode(struct jfs *fs, unsigned sub)
{
	return S_IFREG | (sub == JFS_SUB_RECORD ? fs->opts.fmode & ~0222u : fs->opts.fmode);
}

static struct jfs_meta *meta_of(struct jfs_user *u, unsigned sub, bool add)
{
	struct jfs_umeta *m;
	size_t i;

	for (i = 0; i < u->nmeta; i++)
		if (u->meta[i].sub == sub)
			return &u->meta[i].meta;
	if (!add)
		return NULL;
	m = realloc(u->meta, (u->nmeta + 1) * sizeof(*m));
	if (!m)
		abort();
	u->meta = m;
	memset(&m[u->nmeta], 0, sizeof(*m));
	m[u->nmeta].sub = sub;
	return &m[u->nmeta++].meta;
}

static void apply_meta(const struct jfs_meta *meta, struct stat *st)
{
	if (!meta)
		return;
	if (meta->mode_set)
		st->st_mode = (st->st_mode & S_IFMT) | meta->mode;
	if (meta->uid_set)
		st->st_uid = meta->uid;
	if (meta->gid_set)
		st->st_gid = meta->gid;
}

int jfs_node_setmeta(struct jfs *fs, fuse_ino_t ino, const struct stat *attr, int to_set)
{
	struct jfs_meta *meta;
	struct jfs_user *u;

	if (!(to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		return 0;
	switch (jfs_node_kind(ino)) {
	case JFS_NODE_ROOT:
		meta = &fs->root_meta;
		break;
	case JFS_NODE_USER_DIR:
	case JFS_NODE_HISTORY_DIR:
	case JFS_NODE_ELEMENT:
	case JFS_NODE_RECORD:
		u = jfs_user_by_ino(fs, ino);
		if (!u || !u->exists)
			return -ENOENT;
		meta = meta_of(u, jfs_ino_sub(ino), true);
		break;
	default:
		return -EPERM; /* .jovofs/ is as it is */
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		meta->mode = attr->st_mode & 07777;
		meta->mode_set = true;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		meta->uid = attr->st_uid;
		meta->uid_set = true;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		meta->gid = attr->st_gid;
		meta->gid_set = true;
	}
	return 0;
}

void jfs_node_meta_release(struct jfs_user *u)
{
	free(u->meta);
	u->meta = NULL;
	u->nmeta = 0;
}

static void dir_attr(struct jfs *fs, struct jfs_user *u, fuse_ino_t ino, struct stat *st,
		     double *timeout)
{
	jfs_node_base_attr(fs, st, ino, S_IFDIR | fs->opts.dmode, jfs_user_mtime(fs, u));
	apply_meta(meta_of(u, jfs_ino_sub(ino), false), st);
	if (jfs_node_kind(ino) != JFS_NODE_USER_DIR)
		return;
	if (fs->policy.cfg.enabled[JFS_EL_HISTORY])
		st->st_nlink = 3;
	/*
	 * The kernel refreshes a directory's attributes before it serves a
	 * listing from its cache: make that happen when a listed session
	 * expires, so the getattr can drop the listing (ops.c)
	 */
	if (u->listed_session_until > 0) {
		double left = (double)(u->listed_session_until - jfs_now_ms()) / 1000.0;

		if (left < 0)
			left = 0;
		if (left < *timeout)
			*timeout = left;
	}
}

bool jfs_node_listing_expired(struct jfs *fs, fuse_ino_t ino)
{
	struct jfs_user *u;

	if (jfs_node_kind(ino) != JFS_NODE_USER_DIR || !(u = jfs_user_by_ino(fs, ino)) ||
	    u->listed_session_until <= 0 || jfs_now_ms() <= u->listed_session_until)
		return false;
	u->listed_session_until = 0;
	return true;
}

/* An element file or record.json: rendered once to know its size. [L-drop] */
static int file_attr(struct jfs *fs, struct jfs_user *u, fuse_ino_t ino, struct stat *st,
		     double *timeout)
{
	unsigned sub = jfs_ino_sub(ino);
	struct jfs_handle *writer;
	json_t *item = NULL;
	int64_t mtime;
	size_t len = 0;
	char *buf;
	int rc;

	if (jfs_rcache_size(u, sub, &len)) {
		fs->m.size_hits++;
		jfs_node_base_attr(fs, st, ino, file_mode(fs, sub), jfs_user_mtime(fs, u));
		apply_meta(meta_of(u, sub, false), st);
		jfs_node_size_attr(st, len);
		jfs_rcache_told(u, sub, true, len);
		return 0;
	}
	rc = jfs_rcache_get(fs, u, &item);
	if (rc < 0)
		return rc;
	/* an element being created exists for its writer's fstat() */
	writer = jfs_handle_writer(u, ino);
	buf = jfs_node_render(fs, item, sub, &len);
	jfs_rcache_note_size(u, sub, buf, len);
	if (!buf && !writer) {
		json_decref(item);
		return -ENOENT;
	}
	free(buf);
	mtime = jfs_user_mtime(fs, u);
	if (sub == JFS_SUB_SESSION && jfs_item_session_updated_ms(item) >= 0)
		mtime = jfs_item_session_updated_ms(item);
	jfs_node_base_attr(fs, st, ino, file_mode(fs, sub), mtime);
	apply_meta(meta_of(u, sub, false), st);
	jfs_node_size_attr(st, len);
	jfs_rcache_told(u, sub, true, len);
	*timeout = writer ? 0 : jfs_node_timeout(fs, item, sub);
	json_decref(item);
	return 0;
}

int jfs_node_attr(struct jfs *fs, fuse_ino_t ino, struct stat *st, double *timeout)
{
	enum jfs_node_kind kind = jfs_node_kind(ino);
	struct jfs_scratch *sc;
	struct jfs_user *u;
	json_t *item;
	int rc;

	*timeout = fs->entry_timeout;
	switch (kind) {
	case JFS_NODE_NONE:
		return -ENOENT;
	case JFS_NODE_SCRATCH:
		sc = jfs_scratch_by_ino(fs, ino);
		if (!sc)
			return -ENOENT;
		if (sc->alias)
			return jfs_node_attr(fs, sc->alias, st, timeout);
		jfs_scratch_attr(sc, st);
		*timeout = 0;
		return 0;
	case JFS_NODE_ROOT:
		jfs_node_base_attr(fs, st, ino, S_IFDIR | fs->opts.dmode, fs->users.root_mtime_ms);
		st->st_nlink = 3;
		apply_meta(&fs->root_meta, st);
		return 0;
	case JFS_NODE_STATUS_DIR:
	case JFS_NODE_STATUS_FILE:
	case JFS_NODE_CONFLICT_DIR:
	case JFS_NODE_CONFLICT:
		return jfs_status_attr(fs, kind, ino, st, timeout);
	case JFS_NODE_FIND_DIR:
	case JFS_NODE_FIND:
	case JFS_NODE_FIND_LINK:
		return jfs_find_attr(fs, kind, ino, st, timeout);
	default:
		break;
	}
	if (kind == JFS_NODE_USER_DIR && !jfs_users_made(fs, jfs_ino_slot(ino))) {
		bool exists;
		int64_t mtime;

		/*
		 * The listing's times are enough: no struct jfs_user, no load for
		 * ls -l (a user that has one may have been chmod'ed, or have a
		 * session about to expire: dir_attr() below)
		 */
		if (!jfs_users_peek(fs, jfs_ino_slot(ino), &exists, &mtime) || !exists)
			return -ENOENT;
		if (mtime >= 0) {
			jfs_node_base_attr(fs, st, ino, S_IFDIR | fs->opts.dmode, mtime);
			if (fs->policy.cfg.enabled[JFS_EL_HISTORY])
				st->st_nlink = 3;
			return 0;
		}
	}
	if (!(u = live_user(fs, ino)))
		return -ENOENT;
	switch (kind) {
	case JFS_NODE_HISTORY_DIR:
		if (!fs->policy.cfg.enabled[JFS_EL_HISTORY])
			return -ENOENT;
		/* fall through */
	case JFS_NODE_USER_DIR:
		/*
		 * The listing's timestamps are enough: no load for ls -l of the
		 * root. Without them (or for history/) the record says whether
		 * the user is still there.
		 */
		if (kind == JFS_NODE_HISTORY_DIR || u->updated_ms < 0) {
			rc = jfs_rcache_get(fs, u, &item);
			if (rc < 0)
				return rc;
			json_decref(item);
		}
		dir_attr(fs, u, ino, st, timeout);
		return 0;
	default:
		return file_attr(fs, u, ino, st, timeout);
	}
}

/* A name at the top: a user, or .jovofs. [L-drop] */
static int lookup_root(struct jfs *fs, const char *name, fuse_ino_t *ino)
{
	struct jfs_user *u;
	json_t *item = NULL;
	struct jfs_err err;
	uint64_t slot;
	bool exists, known;
	size_t len;
	char *id;
	int rc;

	if (!strcmp(name, JFS_STATUS_NAME)) {
		*ino = JFS_INO_STATUS;
		return 0;
	}
	/* from the listing: no struct jfs_user is made for ls -l of a million users */
	known = jfs_users_slot_by_name(fs, name, &slot, &exists);
	if (known && exists) {
		*ino = jfs_ino_make(slot, JFS_SUB_DIR);
		return 0;
	}
	if (fs->change_feed && jfs_users_complete(fs))
		return 0; /* the listing is complete and kept fresh */
	if (known) {
		/* known, gone when last seen: ask again */
		u = jfs_user_by_name(fs, name);
		rc = jfs_rcache_get(fs, u, &item);
		if (rc == -ENOENT)
			return 0;
		if (rc < 0)
			return rc;
		json_decref(item);
		*ino = jfs_user_ino(u, JFS_SUB_DIR);
		return 0;
	}
	/*
	 * A name never seen: one load, before the user gets a place in the
	 * table, and a missing one is remembered for the cache time only. So
	 * looking up names that do not exist costs no memory that lasts, and
	 * one request a name per cache time (review finding 4).
	 */
	if (jfs_users_known_missing(fs, name))
		return 0;
	/* a pseudonym cannot be decoded to the id a load needs: the listing's names only */
	if (fs->mask_ids) {
		jfs_users_await_name(fs, name);
		if (jfs_users_slot_by_name(fs, name, &slot, &exists) && exists)
			*ino = jfs_ino_make(slot, JFS_SUB_DIR);
		return 0;
	}
	id = jfs_name_to_id(name, &len);
	if (!id)
		return 0;
	pthread_mutex_unlock(&fs->lock);
	jfs_err_clear(&err);
	rc = jfs_policy_load(&fs->policy, id, &item, &err);
	if (rc < 0 && rc != -ENOENT)
		jfs_log(LOG_ERR, "cannot load '%s': %s", name, err.msg);
	pthread_mutex_lock(&fs->lock);
	if (rc == 0) {
		u = jfs_user_get(fs, id, len);
		jfs_rcache_put_loaded(fs, u, item);
		*ino = jfs_user_ino(u, JFS_SUB_DIR);
	} else if (rc == -ENOENT) {
		jfs_users_note_missing(fs, name);
		rc = 0;
	}
	free(id);
	return rc;
}

/* A name in a user directory or its history/. [L-drop] */
static int lookup_user(struct jfs *fs, struct jfs_user *u, unsigned dirsub, const char *name,
		       fuse_ino_t *ino)
{
	struct jfs_scratch *sc = jfs_scratch_by_name(u, dirsub, name);
	json_t *item = NULL;
	unsigned sub;
	int rc;

	if (sc) {
		*ino = sc->ino;
		return 0;
	}
	rc = jfs_rcache_get(fs, u, &item);
	if (rc < 0)
		return rc;
	switch (jfs_name_kind(dirsub, name, &sub)) {
	case JFS_NAME_HISTORY_DIR:
		if (fs->policy.cfg.enabled[JFS_EL_HISTORY])
			*ino = jfs_user_ino(u, sub);
		break;
	case JFS_NAME_ELEMENT:
	case JFS_NAME_RECORD:
		if (file_exists(fs, item, sub) || jfs_handle_writer(u, jfs_user_ino(u, sub)))
			*ino = jfs_user_ino(u, sub);
		break;
	case JFS_NAME_SCRATCH:
		break;
	}
	json_decref(item);
	return 0;
}

int jfs_node_lookup(struct jfs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino)
{
	struct jfs_user *u;

	*ino = 0;
	switch (jfs_node_kind(parent)) {
	case JFS_NODE_ROOT:
		return lookup_root(fs, name, ino);
	case JFS_NODE_STATUS_DIR:
	case JFS_NODE_CONFLICT_DIR:
		*ino = jfs_status_lookup(fs, parent, name);
		return 0;
	case JFS_NODE_FIND_DIR:
		return jfs_find_lookup_view(fs, name, ino);
	case JFS_NODE_FIND:
		return jfs_find_lookup_link(fs, parent, name, ino);
	case JFS_NODE_USER_DIR:
	case JFS_NODE_HISTORY_DIR:
		if (!(u = live_user(fs, parent)))
			return -ENOENT;
		return lookup_user(fs, u, jfs_ino_sub(parent), name, ino);
	case JFS_NODE_NONE:
		return -ENOENT;
	default:
		return -ENOTDIR;
	}
}

int jfs_node_entry(struct jfs *fs, fuse_ino_t ino, struct fuse_entry_param *e)
{
	struct jfs_scratch *sc;
	double timeout;
	int rc;

	memset(e, 0, sizeof(*e));
	if (!ino) {
		e->entry_timeout = fs->entry_timeout;
		return 0;
	}
	rc = jfs_node_attr(fs, ino, &e->attr, &timeout);
	if (rc == -ENOENT) {
		memset(e, 0, sizeof(*e));
		return 0;
	}
	if (rc < 0)
		return rc;
	e->ino = ino;
	e->generation = 1;
	e->attr_timeout = timeout;
	e->entry_timeout = timeout;
	if (jfs_node_kind(ino) == JFS_NODE_SCRATCH && (sc = jfs_scratch_by_ino(fs, ino)))
		jfs_scratch_ref(sc);
	if (jfs_node_kind(ino) == JFS_NODE_FIND)
		jfs_find_ref(fs, ino);
	return 0;
}

int jfs_node_content(struct jfs *fs, fuse_ino_t ino, char **buf, size_t *len)
{
	enum jfs_node_kind kind = jfs_node_kind(ino);
	struct jfs_scratch *sc;
	struct jfs_user *u;
	json_t *item;
	unsigned sub;
	int rc;

	switch (kind) {
	case JFS_NODE_SCRATCH:
		sc = jfs_scratch_by_ino(fs, ino);
		if (!sc)
			return -ENOENT;
		if (sc->alias)
			return jfs_node_content(fs, sc->alias, buf, len);
		*buf = malloc(sc->data.len + 1);
		if (!*buf)
			return -ENOMEM; /* as large as the writer made it */
		memcpy(*buf, sc->data.buf, sc->data.len);
		*len = sc->data.len;
		return 0;
	case JFS_NODE_STATUS_FILE:
	case JFS_NODE_CONFLICT:
		return jfs_status_content(fs, ino, buf, len);
	case JFS_NODE_ELEMENT:
	case JFS_NODE_RECORD:
		break;
	case JFS_NODE_NONE:
		return -ENOENT;
	default:
		return -EISDIR;
	}
	sub = jfs_ino_sub(ino);
	rc = user_item(fs, ino, &u, &item);
	if (rc < 0)
		return rc;
	*buf = jfs_node_render(fs, item, sub, len);
	jfs_rcache_note_size(u, sub, *buf, *len);
	if (*buf)
		jfs_rcache_served(u, item);
	json_decref(item);
	return *buf ? 0 : -ENOENT;
}

/* ---- directories ---- */

bool jfs_dir_add(struct jfs *fs, struct jfs_dirbuf *db, const char *name, fuse_ino_t ino,
		 mode_t mode)
{
	size_t need;

	db->pos++;
	if (db->pos <= db->off)
		return true;
	if (db->full)
		return false;
	if (db->plus) {
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		if (strcmp(name, ".") && strcmp(name, "..")) {
			if (jfs_node_entry(fs, ino, &e) < 0 || !e.ino)
				return true; /* vanished meanwhile: leave it out */
		} else {
			e.attr.st_ino = ino;
			e.attr.st_mode = mode;
		}
		need = fuse_add_direntry_plus(db->req, db->buf + db->len, db->size - db->len,
					      name, &e, db->pos);
		if (need > db->size - db->len) {
			/* undo the lookup count jfs_node_entry() took */
			if (e.ino)
				jfs_scratch_forget(fs, e.ino, 1);
			db->full = true;
			return false;
		}
	} else {
		struct stat st;

		memset(&st, 0, sizeof(st));
		st.st_ino = ino;
		st.st_mode = mode;
		need = fuse_add_direntry(db->req, db->buf + db->len, db->size - db->len, name,
					 &st, db->pos);
		if (need > db->size - db->len) {
			db->full = true;
			return false;
		}
	}
	db->len += need;
	return true;
}

static int readdir_root(struct jfs *fs, struct jfs_dirbuf *db)
{
	size_t i = 0;

	if (!jfs_dir_add(fs, db, ".", JFS_INO_ROOT, S_IFDIR) ||
	    !jfs_dir_add(fs, db, "..", JFS_INO_ROOT, S_IFDIR) ||
	    !jfs_dir_add(fs, db, JFS_STATUS_NAME, JFS_INO_STATUS, S_IFDIR))
		return 0;
	/* skip straight to the offset: a 100k listing is read in many calls */
	if (db->off > db->pos) {
		i = (size_t)(db->off - db->pos);
		db->pos = db->off;
	}
	return jfs_users_readdir(fs, db, i);
}

/* A user directory's files, in a fixed order: an absent file keeps its offset. */
static bool readdir_files(struct jfs *fs, struct jfs_dirbuf *db, struct jfs_user *u,
			  const json_t *item)
{
	unsigned s;

	/* the listing goes stale when the session it shows expires: see dir_attr() */
	u->listed_session_until = 0;
	if (fs->policy.cfg.enabled[JFS_EL_SESSION] && file_exists(fs, item, JFS_SUB_SESSION) &&
	    jfs_item_session_updated_ms(item) >= 0)
		u->listed_session_until = jfs_item_session_updated_ms(item) +
					  fs->policy.cfg.session_expires_s * 1000;
	for (s = JFS_SUB_USER; s <= JFS_SUB_RECORD; s++) {
		if (s == JFS_SUB_HISTDIR) {
			if (!fs->policy.cfg.enabled[JFS_EL_HISTORY])
				db->pos++;
			else if (!jfs_dir_add(fs, db, "history", jfs_user_ino(u, s), S_IFDIR))
				return false;
		} else if (!file_exists(fs, item, s)) {
			db->pos++;
		} else if (!jfs_dir_add(fs, db, jfs_sub_name(s), jfs_user_ino(u, s), S_IFREG)) {
			return false;
		}
	}
	return true;
}

/*
 * history/ lists the items oldest first: removing an item moves the older
 * ones down, so rm -r, which removes in this order, never finds a name
 * gone under it.
 */
static bool readdir_history(struct jfs *fs, struct jfs_dirbuf *db, struct jfs_user *u,
			    const json_t *item)
{
	size_t i, n = jfs_policy_history_count(&fs->policy.cfg, item);
	size_t shown = fs->policy.cfg.history_size < JFS_HIST_MAX ? fs->policy.cfg.history_size
								   : JFS_HIST_MAX;
	char name[32];

	for (i = shown; i-- > 0;) {
		if (i >= n) {
			db->pos++;
			continue;
		}
		snprintf(name, sizeof(name), "%zu.json", i);
		if (!jfs_dir_add(fs, db, name, jfs_user_ino(u, (unsigned)(JFS_SUB_HIST0 + i)),
				 S_IFREG))
			return false;
	}
	return true;
}

/* Scratch files, oldest first (a stable order: the list is newest first). [L-drop] */
static void readdir_scratch(struct jfs *fs, struct jfs_dirbuf *db, struct jfs_user *u,
			    unsigned dirsub)
{
	struct jfs_scratch *sc, **arr;
	size_t n = 0, i;

	for (sc = u->scratch; sc; sc = sc->next)
		if (sc->linked && sc->dirsub == dirsub)
			n++;
	if (!n)
		return;
	arr = malloc(n * sizeof(*arr));
	if (!arr)
		abort();
	i = n;
	for (sc = u->scratch; sc; sc = sc->next)
		if (sc->linked && sc->dirsub == dirsub)
			arr[--i] = sc;
	/* readdirplus of a scratch file takes no lock off: the array stays valid */
	for (i = 0; i < n; i++)
		if (!jfs_dir_add(fs, db, arr[i]->name, arr[i]->ino, arr[i]->mode))
			break;
	free(arr);
}

int jfs_node_readdir(struct jfs *fs, struct jfs_dirbuf *db, fuse_ino_t ino)
{
	enum jfs_node_kind kind = jfs_node_kind(ino);
	struct jfs_user *u;
	json_t *item = NULL;
	bool more;
	int rc;

	switch (kind) {
	case JFS_NODE_ROOT:
		return readdir_root(fs, db);
	case JFS_NODE_STATUS_DIR:
	case JFS_NODE_CONFLICT_DIR:
		return jfs_status_readdir(fs, db, ino);
	case JFS_NODE_FIND_DIR:
	case JFS_NODE_FIND:
		return jfs_find_readdir(fs, db, ino);
	case JFS_NODE_USER_DIR:
	case JFS_NODE_HISTORY_DIR:
		break;
	case JFS_NODE_NONE:
		return -ENOENT;
	default:
		return -ENOTDIR;
	}
	rc = user_item(fs, ino, &u, &item);
	if (rc < 0)
		return rc;
	if (kind == JFS_NODE_USER_DIR) {
		more = jfs_dir_add(fs, db, ".", ino, S_IFDIR) &&
		       jfs_dir_add(fs, db, "..", JFS_INO_ROOT, S_IFDIR) &&
		       readdir_files(fs, db, u, item);
	} else {
		more = jfs_dir_add(fs, db, ".", ino, S_IFDIR) &&
		       jfs_dir_add(fs, db, "..", jfs_user_ino(u, JFS_SUB_DIR), S_IFDIR) &&
		       readdir_history(fs, db, u, item);
	}
	if (more)
		readdir_scratch(fs, db, u, jfs_ino_sub(ino));
	json_decref(item);
	return 0;
}
