/*
 * The users the mount knows, by id, by name and by slot, and the listing
 * of the root directory. A user is added the first time the mount sees
 * its id (a listing, a lookup, a mkdir) and lives until the unmount: its
 * slot makes its inode numbers, and a pointer to it survives dropping the
 * lock. Whether it exists now is u->exists, which only this file writes.
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/isotime.h"
#include "common/log.h"
#include "fs/idcodec.h"

#define LIST_PAGE 1000
#define MISSING_MAX 65536 /* names remembered as missing */

/* A name looked up and found missing. */
struct jfs_missing {
	struct jfs_hnode hnode;            /* in users.missing */
	struct jfs_missing *newer, *older;
	int64_t expires_ms;                /* monotonic */
	char name[];
};

struct jfs_user *jfs_user_by_id(struct jfs *fs, const char *id, size_t len)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&fs->users.by_id, node, jfs_hash_bytes(id, len)) {
		struct jfs_user *u = jfs_container_of(node, struct jfs_user, hnode_id);

		if (u->id_len == len && !memcmp(u->id, id, len))
			return u;
	}
	return NULL;
}

struct jfs_user *jfs_user_by_name(struct jfs *fs, const char *name)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&fs->users.by_name, node, jfs_hash_bytes(name, strlen(name))) {
		struct jfs_user *u = jfs_container_of(node, struct jfs_user, hnode_name);

		if (!strcmp(u->name, name))
			return u;
	}
	return NULL;
}

struct jfs_user *jfs_user_by_ino(struct jfs *fs, fuse_ino_t ino)
{
	enum jfs_node_kind kind = jfs_node_kind(ino);
	uint64_t slot;

	if (kind != JFS_NODE_USER_DIR && kind != JFS_NODE_HISTORY_DIR &&
	    kind != JFS_NODE_ELEMENT && kind != JFS_NODE_RECORD)
		return NULL;
	slot = jfs_ino_slot(ino);
	return slot < fs->users.nslots ? fs->users.slots[slot] : NULL;
}

struct jfs_user *jfs_user_get(struct jfs *fs, const char *id, size_t len)
{
	struct jfs_users *t = &fs->users;
	struct jfs_user *u = jfs_user_by_id(fs, id, len);
	unsigned attempt;

	if (u)
		return u;
	u = calloc(1, sizeof(*u));
	if (!u || !(u->id = malloc(len + 1)))
		abort();
	memcpy(u->id, id, len);
	u->id[len] = '\0';
	u->id_len = len;
	u->name = jfs_id_to_name(id, len);
	/* two ids never share a name (fallback names are hashes: astronomically rare) */
	for (attempt = 1; jfs_user_by_name(fs, u->name); attempt++) {
		char *usual = u->name;

		u->name = jfs_id_to_unique_name(id, len, attempt);
		jfs_log(LOG_WARNING, "name '%s' is another user's: this one is '%s'", usual,
			u->name);
		free(usual);
	}
	u->created_ms = -1;
	u->updated_ms = -1;
	if (t->nslots == t->slots_alloc) {
		t->slots_alloc = t->slots_alloc ? t->slots_alloc * 2 : 1024;
		t->slots = realloc(t->slots, t->slots_alloc * sizeof(*t->slots));
		if (!t->slots)
			abort();
	}
	u->slot = t->nslots;
	t->slots[t->nslots++] = u;
	jfs_hmap_add(&t->by_id, &u->hnode_id, jfs_hash_bytes(u->id, len));
	jfs_hmap_add(&t->by_name, &u->hnode_name, jfs_hash_bytes(u->name, strlen(u->name)));
	return u;
}

static void not_missing(struct jfs *fs, struct jfs_user *u);

/* The root's listing changed: its mtime tells the kernel to drop its copy. */
static void listing_changed(struct jfs *fs)
{
	fs->users.list_gen++;
	fs->users.root_mtime_ms = jfs_now_ms();
}

void jfs_users_seen(struct jfs *fs, struct jfs_user *u, const json_t *item)
{
	if (!u->exists) {
		listing_changed(fs);
		not_missing(fs, u);
	}
	u->exists = true;
	u->created_ms = jfs_item_created_ms(item);
	u->updated_ms = jfs_item_updated_ms(item);
}

void jfs_users_add(struct jfs *fs, struct jfs_user *u)
{
	struct jfs_users *t = &fs->users;
	struct jfs_user **l;
	size_t i;

	u->exists = true;
	listing_changed(fs);
	not_missing(fs, u);
	for (i = 0; i < t->nlisting; i++)
		if (t->listing[i] == u)
			return;
	l = realloc(t->listing, (t->nlisting + 1) * sizeof(*l));
	if (!l)
		abort();
	t->listing = l;
	l[t->nlisting++] = u;
}

static struct jfs_missing *missing_find(struct jfs *fs, const char *name)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&fs->users.missing, node, jfs_hash_bytes(name, strlen(name))) {
		struct jfs_missing *m = jfs_container_of(node, struct jfs_missing, hnode);

		if (!strcmp(m->name, name))
			return m;
	}
	return NULL;
}

static void missing_del(struct jfs *fs, struct jfs_missing *m)
{
	struct jfs_users *t = &fs->users;

	jfs_hmap_remove(&t->missing, &m->hnode);
	if (m->older)
		m->older->newer = m->newer;
	else
		t->missing_old = m->newer;
	if (m->newer)
		m->newer->older = m->older;
	else
		t->missing_new = m->older;
	free(m);
}

bool jfs_users_known_missing(struct jfs *fs, const char *name)
{
	struct jfs_missing *m = missing_find(fs, name);

	if (!m)
		return false;
	if (m->expires_ms > jfs_mono_ms())
		return true;
	missing_del(fs, m);
	return false;
}

void jfs_users_note_missing(struct jfs *fs, const char *name)
{
	struct jfs_users *t = &fs->users;
	size_t len = strlen(name);
	struct jfs_missing *m = missing_find(fs, name);
	int64_t now = jfs_mono_ms();

	if (m)
		missing_del(fs, m);
	/* expired first, then the oldest: the table stays within MISSING_MAX */
	while (t->missing_old && (t->missing_old->expires_ms <= now ||
				  t->missing.n >= MISSING_MAX))
		missing_del(fs, t->missing_old);
	m = malloc(sizeof(*m) + len + 1);
	if (!m)
		abort();
	memcpy(m->name, name, len + 1);
	m->expires_ms = now + (int64_t)(fs->opts.cache_timeout * 1000);
	m->newer = NULL;
	m->older = t->missing_new;
	if (t->missing_new)
		t->missing_new->newer = m;
	else
		t->missing_old = m;
	t->missing_new = m;
	jfs_hmap_add(&t->missing, &m->hnode, jfs_hash_bytes(name, len));
}

/* @u exists: its name is not missing. [L] */
static void not_missing(struct jfs *fs, struct jfs_user *u)
{
	struct jfs_missing *m;

	if (fs->users.missing.n && (m = missing_find(fs, u->name)))
		missing_del(fs, m);
}

void jfs_users_gone(struct jfs *fs, struct jfs_user *u)
{
	if (!u->exists)
		return;
	u->exists = false;
	listing_changed(fs);
}

int64_t jfs_user_mtime(struct jfs *fs, const struct jfs_user *u)
{
	if (u->updated_ms >= 0)
		return u->updated_ms;
	if (u->created_ms >= 0)
		return u->created_ms;
	return fs->start_ms;
}

bool jfs_users_stale(struct jfs *fs)
{
	return !fs->change_feed &&
	       (fs->users.listed_at == 0 ||
		jfs_mono_ms() - fs->users.listed_at >= (int64_t)(fs->opts.cache_timeout * 1000));
}

/* Every page of the listing, collected without the lock: *@all, *@nall. */
static int list_all(struct jfs *fs, struct jfs_list_entry **all, size_t *nall)
{
	struct jfs_list_page page = { 0 };
	size_t alloc = 0;
	char *cursor = NULL;
	struct jfs_err err;
	int rc;

	*all = NULL;
	*nall = 0;
	do {
		jfs_err_clear(&err);
		rc = jfs_policy_list(&fs->policy, cursor, LIST_PAGE, &page, &err);
		free(cursor);
		cursor = NULL;
		if (rc < 0) {
			jfs_list_page_release(&page);
			jfs_log(LOG_ERR, "cannot list users: %s", err.msg);
			return rc;
		}
		if (*nall + page.n > alloc) {
			alloc = (*nall + page.n) * 2;
			*all = realloc(*all, alloc * sizeof(**all));
			if (!*all)
				abort();
		}
		if (page.n)
			memcpy(*all + *nall, page.entries, page.n * sizeof(**all));
		*nall += page.n;
		free(page.entries);
		cursor = page.next;
		memset(&page, 0, sizeof(page));
	} while (cursor);
	return 0;
}

int jfs_users_refresh(struct jfs *fs)
{
	struct jfs_users *t = &fs->users;
	struct jfs_list_entry *all;
	struct jfs_user **list, **old_list, **gone;
	size_t nall, n = 0, ngone = 0, i;
	bool changed = false;
	char *listed;
	int rc;

	/* the store is never called under the lock */
	rc = list_all(fs, &all, &nall);
	if (rc < 0)
		goto out_free;

	list = malloc((nall ? nall : 1) * sizeof(*list));
	if (!list)
		abort();
	pthread_mutex_lock(&fs->lock);
	listed = calloc(t->nslots + nall + 1, 1);
	if (!listed)
		abort();
	for (i = 0; i < nall; i++) {
		struct jfs_user *u = jfs_user_get(fs, all[i].id, strlen(all[i].id));

		if (listed[u->slot]) {
			/* a store that lists an id twice: one name, once */
			jfs_log(LOG_WARNING, "user '%s' is listed twice by the store", u->name);
			continue;
		}
		listed[u->slot] = 1;
		if (!u->exists) {
			changed = true;
			not_missing(fs, u);
		}
		u->exists = true;
		if (!u->cache.item) {
			u->created_ms = all[i].created_ms;
			u->updated_ms = all[i].updated_ms;
		}
		list[n++] = u;
	}
	gone = calloc(t->nslots ? t->nslots : 1, sizeof(*gone));
	if (!gone)
		abort();
	for (i = 0; i < t->nslots; i++) {
		struct jfs_user *u = t->slots[i];

		if (u->exists && !listed[i]) {
			u->exists = false;
			jfs_rcache_drop(fs, u);
			gone[ngone++] = u;
		}
	}
	if (ngone || n != t->nlisting)
		changed = true;
	old_list = t->listing;
	t->listing = list;
	t->nlisting = n;
	t->listed_at = jfs_mono_ms();
	if (changed)
		listing_changed(fs);
	pthread_mutex_unlock(&fs->lock);
	free(old_list);
	free(listed);
	for (i = 0; i < ngone; i++)
		jfs_invalidate_user(fs, gone[i], NULL, NULL);
	free(gone);
	if (changed)
		jfs_notify_inode(fs, JFS_INO_ROOT);
out_free:
	for (i = 0; i < nall; i++)
		free(all[i].id);
	free(all);
	return rc;
}

void jfs_users_release(struct jfs *fs)
{
	struct jfs_users *t = &fs->users;
	size_t i;

	for (i = 0; i < t->nslots; i++) {
		struct jfs_user *u = t->slots[i];

		jfs_handles_release(fs, u);
		jfs_rcache_user_release(fs, u);
		jfs_node_meta_release(u);
		jfs_errors_release(u);
		free(u->id);
		free(u->name);
		free(u);
	}
	while (t->missing_old)
		missing_del(fs, t->missing_old);
	jfs_hmap_release(&t->missing);
	free(t->slots);
	free(t->listing);
	jfs_hmap_release(&t->by_id);
	jfs_hmap_release(&t->by_name);
	memset(t, 0, sizeof(*t));
}
