/*
 * Telling the kernel what changed, and finding out what others changed.
 *
 * Entry invalidations take the kernel's directory locks, which a request
 * in progress may hold: they are queued to the notify thread, never sent
 * from a handler. Inode invalidations are queued too, except where a
 * handler must have them done before it replies (jfs_notify_inode_now()).
 * With a store that reports others' changes (FileDb), the poll thread asks
 * it every cache_timeout / 2 (50 ms .. 1 s) and drops what changed.
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/isotime.h"
#include "common/log.h"

/** An invalidation for the notify thread: @name NULL means inode @ino. */
struct jfs_notice {
	fuse_ino_t ino;
	char *name;
	struct jfs_notice *next;
};

static void queue(struct jfs *fs, fuse_ino_t ino, const char *name)
{
	struct jfs_notice *n = calloc(1, sizeof(*n));

	if (!n || (name && !(n->name = strdup(name))))
		abort();
	n->ino = ino;
	pthread_mutex_lock(&fs->lock);
	if (fs->notify.tail)
		fs->notify.tail->next = n;
	else
		fs->notify.head = n;
	fs->notify.tail = n;
	fs->notify.sent++;
	pthread_cond_signal(&fs->notify.cond);
	pthread_mutex_unlock(&fs->lock);
}

void jfs_notify_inode(struct jfs *fs, fuse_ino_t ino)
{
	queue(fs, ino, NULL);
}

void jfs_notify_entry(struct jfs *fs, fuse_ino_t parent, const char *name)
{
	queue(fs, parent, name);
}

void jfs_notify_inode_now(struct jfs *fs, fuse_ino_t ino, off_t off)
{
	if (fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, off, 0);
}

static void *notify_main(void *arg)
{
	struct jfs *fs = arg;
	struct jfs_notice *n;

	pthread_mutex_lock(&fs->lock);
	for (;;) {
		while (!fs->notify.head && !fs->notify.stopping)
			pthread_cond_wait(&fs->notify.cond, &fs->lock);
		if (!fs->notify.head)
			break;
		n = fs->notify.head;
		fs->notify.head = n->next;
		if (!fs->notify.head)
			fs->notify.tail = NULL;
		pthread_mutex_unlock(&fs->lock);
		if (fs->se) {
			if (n->name)
				fuse_lowlevel_notify_inval_entry(fs->se, n->ino, n->name,
								 strlen(n->name));
			else
				fuse_lowlevel_notify_inval_inode(fs->se, n->ino, 0, 0);
		}
		free(n->name);
		free(n);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

/* Which files of a user directory exist for @item (a bit per sub). */
static unsigned files_present(struct jfs *fs, const json_t *item)
{
	const struct jfs_policy_config *cfg = &fs->policy.cfg;
	int64_t now = jfs_now_ms();
	unsigned bits = 0, sub;

	if (!item)
		return 0;
	for (sub = JFS_SUB_USER; sub <= JFS_SUB_UPDATED; sub++)
		if (sub != JFS_SUB_HISTDIR &&
		    jfs_policy_file_exists(cfg, item, jfs_sub_elem(sub), 0, now))
			bits |= 1u << sub;
	if (cfg->enabled[JFS_EL_HISTORY])
		bits |= 1u << JFS_SUB_HISTDIR;
	bits |= 1u << JFS_SUB_RECORD;
	return bits;
}

void jfs_invalidate_user(struct jfs *fs, struct jfs_user *u, const json_t *old_item,
			 const json_t *new_item)
{
	unsigned before = old_item ? files_present(fs, old_item) : ~0u;
	unsigned after = files_present(fs, new_item), sub;
	size_t i, nhist = fs->policy.cfg.history_size;
	size_t old_n = old_item ? jfs_policy_history_count(&fs->policy.cfg, old_item) : nhist;
	size_t new_n = new_item ? jfs_policy_history_count(&fs->policy.cfg, new_item) : 0;
	char name[32];

	if (!fs->se)
		return;
	/*
	 * Attributes now (it takes no lock of the kernel's that a request in
	 * progress may hold), so a stat right after a commit shows the new
	 * times; pages by the notify thread
	 */
	if (nhist > JFS_HIST_MAX)
		nhist = JFS_HIST_MAX;
	for (sub = JFS_SUB_DIR; sub <= JFS_SUB_RECORD; sub++) {
		jfs_notify_inode_now(fs, jfs_user_ino(u, sub), -1);
		jfs_notify_inode(fs, jfs_user_ino(u, sub));
	}
	for (i = 0; i < nhist; i++) {
		/* an item shown before or after has attributes the kernel may hold */
		if (i < old_n || i < new_n)
			jfs_notify_inode_now(fs, jfs_user_ino(u, (unsigned)(JFS_SUB_HIST0 + i)), -1);
		jfs_notify_inode(fs, jfs_user_ino(u, (unsigned)(JFS_SUB_HIST0 + i)));
	}
	for (sub = JFS_SUB_USER; sub <= JFS_SUB_RECORD; sub++)
		if (((before ^ after) >> sub) & 1)
			jfs_notify_entry(fs, jfs_user_ino(u, JFS_SUB_DIR), jfs_sub_name(sub));
	for (i = new_n < old_n ? new_n : old_n; i < (new_n > old_n ? new_n : old_n); i++) {
		snprintf(name, sizeof(name), "%zu.json", i);
		jfs_notify_entry(fs, jfs_user_ino(u, JFS_SUB_HISTDIR), name);
	}
	if (!new_item)
		jfs_notify_entry(fs, JFS_INO_ROOT, u->name);
}

void jfs_invalidate_files_now(struct jfs *fs, struct jfs_user *u)
{
	size_t i, nhist = fs->policy.cfg.history_size;
	unsigned sub;

	if (!fs->se)
		return;
	if (nhist > JFS_HIST_MAX)
		nhist = JFS_HIST_MAX;
	for (sub = JFS_SUB_DIR; sub <= JFS_SUB_RECORD; sub++)
		fuse_lowlevel_notify_inval_inode(fs->se, jfs_user_ino(u, sub), 0, 0);
	for (i = 0; i < nhist; i++)
		fuse_lowlevel_notify_inval_inode(fs->se,
						 jfs_user_ino(u, (unsigned)(JFS_SUB_HIST0 + i)), 0, 0);
}

/* ---- the poll thread ---- */

struct changed_ids {
	char **ids;
	size_t n, alloc;
};

static void collect_changed(void *data, const char *id)
{
	struct changed_ids *c = data;

	if (c->n == c->alloc) {
		c->alloc = c->alloc ? c->alloc * 2 : 64;
		c->ids = realloc(c->ids, c->alloc * sizeof(*c->ids));
		if (!c->ids)
			abort();
	}
	if (!(c->ids[c->n++] = strdup(id)))
		abort();
}

/* Ask the store what others changed; drop those records and tell the kernel. */
static void poll_changes(struct jfs *fs)
{
	struct changed_ids c = { 0 };
	struct jfs_err err;
	size_t i;
	int rc;

	jfs_lost_drain(fs);
	jfs_err_clear(&err);
	rc = jfs_policy_changes(&fs->policy, collect_changed, &c, &err);
	if (rc < 0) {
		jfs_log(LOG_WARNING, "cannot check the backend for changes: %s", err.msg);
		goto out_free;
	}
	if (!c.n)
		goto out_free;
	jfs_log(LOG_DEBUG, "%zu users changed in the backend", c.n);
	/* the listing gains and loses users; timestamps come with it */
	jfs_users_refresh(fs);
	for (i = 0; i < c.n; i++) {
		struct jfs_user *u;
		json_t *old;
		bool exists;

		pthread_mutex_lock(&fs->lock);
		u = jfs_user_by_id(fs, c.ids[i], strlen(c.ids[i]));
		if (!u) {
			pthread_mutex_unlock(&fs->lock);
			continue;
		}
		jfs_rcache_forget(fs, u, &old);
		exists = u->exists;
		pthread_mutex_unlock(&fs->lock);
		/* old unknown: we do not know what was shown, so every name is checked */
		jfs_invalidate_user(fs, u, NULL, NULL);
		if (exists)
			jfs_notify_entry(fs, JFS_INO_ROOT, u->name);
		json_decref(old);
	}
out_free:
	for (i = 0; i < c.n; i++)
		free(c.ids[i]);
	free(c.ids);
}

static void *poll_main(void *arg)
{
	struct jfs *fs = arg;
	int64_t interval = (int64_t)(fs->opts.cache_timeout * 1000 / 2);
	struct timespec deadline;

	if (interval < 50)
		interval = 50;
	if (interval > 1000)
		interval = 1000;
	pthread_mutex_lock(&fs->lock);
	while (!fs->notify.stopping) {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += interval / 1000;
		deadline.tv_nsec += (interval % 1000) * 1000000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&fs->notify.cond, &fs->lock, &deadline);
		if (fs->notify.stopping)
			break;
		pthread_mutex_unlock(&fs->lock);
		poll_changes(fs);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

int jfs_notify_start(struct jfs *fs)
{
	if (pthread_create(&fs->notify.thread, NULL, notify_main, fs))
		return -EAGAIN;
	fs->notify.started = true;
	if (fs->change_feed && pthread_create(&fs->notify.poll_thread, NULL, poll_main, fs)) {
		fs->change_feed = false;
		fs->entry_timeout = fs->opts.cache_timeout;
		jfs_log(LOG_WARNING, "cannot start the change poller: caching for %g s only",
			fs->opts.cache_timeout);
	}
	return 0;
}

void jfs_notify_stop(struct jfs *fs)
{
	if (!fs->notify.started)
		return;
	pthread_mutex_lock(&fs->lock);
	fs->notify.stopping = true;
	pthread_cond_broadcast(&fs->notify.cond);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->notify.thread, NULL);
	if (fs->change_feed)
		pthread_join(fs->notify.poll_thread, NULL);
	fs->notify.started = false;
}

void jfs_notify_release(struct jfs *fs)
{
	struct jfs_notice *n;

	while ((n = fs->notify.head)) {
		fs->notify.head = n->next;
		free(n->name);
		free(n);
	}
	fs->notify.tail = NULL;
}
