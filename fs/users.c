/*
 * The users the mount knows, by id, by name and by slot, and the listing
 * of the root directory (struct jfs_users in fs/jfs.h).
 *
 * Every id the mount sees (a listing, a lookup, a mkdir, a find view) gets
 * a slot for the rest of the mount: its inode numbers are made of it. A
 * slot is a compact entry (struct jfs_uent) and the id's bytes in a chunk
 * that never moves; the struct jfs_user with its caches is made the first
 * time one of the user's files is used, and lives until the unmount, so a
 * pointer to it survives dropping the lock. Whether a user exists now is
 * its entry's (or, once made, its struct's) exists, which only this file
 * writes. A listing of a million ids costs about 90 bytes each, where a
 * struct jfs_user each cost some 600 (bench/RESULTS.md).
 *
 * Listings are read by the lister thread with jfs_policy_find(): the
 * store's pages arrive (from several threads, with DynamoDb's parallel
 * segments) and are taken in under the lock. The first listing is served
 * to readdir as it grows; later ones are read on the side and replace the
 * served one when complete, and whoever is not in one is gone.
 */
#include "fs/fs-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/isotime.h"
#include "common/log.h"
#include "fs/idcodec.h"
#include "policy/mask.h"

#define CHUNK_SIZE (1u << 20)  /* ids' bytes per chunk */
#define LIST_WAIT_MS 2000      /* how long a stat or readdir waits for a new listing */
#define MISSING_MAX 65536      /* names remembered as missing */

/* A name looked up and found missing. */
struct jfs_missing {
	struct jfs_hnode hnode;            /* in users.missing */
	struct jfs_missing *newer, *older;
	int64_t expires_ms;                /* monotonic */
	char name[];
};

/* ---- the id table ---- */

static const char *ent_id(const struct jfs_users *t, const struct jfs_uent *e)
{
	return t->chunks[e->id_ref >> 32] + (uint32_t)e->id_ref;
}

/* Copy @len bytes of @id (and a NUL) into the chunks; where they went. */
static uint64_t id_store(struct jfs_users *t, const char *id, size_t len)
{
	char *dst;

	if (!t->nchunks || t->chunk_used + len + 1 > t->chunk_size) {
		size_t size = len + 1 > CHUNK_SIZE ? len + 1 : CHUNK_SIZE;

		t->chunks = realloc(t->chunks, (t->nchunks + 1) * sizeof(*t->chunks));
		if (!t->chunks || !(t->chunks[t->nchunks] = malloc(size)))
			abort();
		t->nchunks++;
		t->chunk_used = 0;
		t->chunk_size = size;
	}
	dst = t->chunks[t->nchunks - 1] + t->chunk_used;
	memcpy(dst, id, len);
	dst[len] = '\0';
	t->chunk_used += len + 1;
	return (uint64_t)(t->nchunks - 1) << 32 | (uint64_t)(dst - t->chunks[t->nchunks - 1]);
}

static void buckets_resize(struct jfs_users *t, size_t n)
{
	size_t i;

	free(t->buckets);
	t->buckets = calloc(n, sizeof(*t->buckets));
	if (!t->buckets)
		abort();
	t->nbuckets = n;
	for (i = 0; i < t->nents; i++) {
		struct jfs_uent *e = &t->ents[i];
		size_t b = jfs_hash_bytes(ent_id(t, e), e->id_len) & (n - 1);

		e->hnext = t->buckets[b];
		t->buckets[b] = (uint32_t)i + 1;
	}
}

/* The slot of id @id, or -1. */
static long ent_find(const struct jfs_users *t, const char *id, size_t len)
{
	uint32_t s;

	if (!t->nbuckets)
		return -1;
	for (s = t->buckets[jfs_hash_bytes(id, len) & (t->nbuckets - 1)]; s;
	     s = t->ents[s - 1].hnext) {
		const struct jfs_uent *e = &t->ents[s - 1];

		if (e->id_len == len && !memcmp(ent_id(t, e), id, len))
			return (long)s - 1;
	}
	return -1;
}

/* ---- pseudonyms as names (-o mask_ids) ---- */

/* "mask:" and exactly 16 lower-case hex digits, as jfs_mask_string() writes them, into *@p. */
static bool pseud_parse(const char *name, uint64_t *p)
{
	uint64_t v = 0;
	size_t i;

	if (strncmp(name, "mask:", 5) || strlen(name) != JFS_MASK_LEN - 1)
		return false;
	for (i = 5; i < JFS_MASK_LEN - 1; i++) {
		if (name[i] >= '0' && name[i] <= '9')
			v = v << 4 | (uint64_t)(name[i] - '0');
		else if (name[i] >= 'a' && name[i] <= 'f')
			v = v << 4 | (uint64_t)(name[i] - 'a' + 10);
		else
			return false;
	}
	*p = v;
	return true;
}

/* An HMAC is spread evenly already: its low bits pick the bucket. */
static void pbuckets_resize(struct jfs_users *t, size_t n)
{
	size_t i;

	free(t->pbuckets);
	t->pbuckets = calloc(n, sizeof(*t->pbuckets));
	if (!t->pbuckets)
		abort();
	t->npbuckets = n;
	for (i = 0; i < t->nents; i++) {
		size_t b = t->pseud[i] & (n - 1);

		t->pnext[i] = t->pbuckets[b];
		t->pbuckets[b] = (uint32_t)i + 1;
	}
}

/* The lowest slot whose pseudonym is @p (the one its plain name stands for), or -1. */
static long pseud_first(const struct jfs_users *t, uint64_t p)
{
	long first = -1;
	uint32_t s;

	if (!t->npbuckets)
		return -1;
	for (s = t->pbuckets[p & (t->npbuckets - 1)]; s; s = t->pnext[s - 1])
		if (t->pseud[s - 1] == p && (first < 0 || (long)s - 1 < first))
			first = (long)s - 1;
	return first;
}

/* The usual name of @slot's id: its pseudonym with -o mask_ids. Malloc()ed. */
static char *ent_name(struct jfs *fs, size_t slot)
{
	struct jfs_users *t = &fs->users;
	char *name;

	if (!fs->mask_ids)
		return jfs_id_to_name(ent_id(t, &t->ents[slot]), t->ents[slot].id_len);
	name = malloc(JFS_MASK_LEN);
	if (!name)
		abort();
	snprintf(name, JFS_MASK_LEN, "mask:%016" PRIx64, t->pseud[slot]);
	return name;
}

static struct jfs_user *ent_make(struct jfs *fs, size_t slot);

/*
 * -o mask_ids: index the pseudonym of new @slot. Two ids with one
 * pseudonym (one chance in 2^64 a pair) would share a name: the later one
 * is made now, so that it gets a name of its own (ent_make()).
 */
static void pseud_add(struct jfs *fs, size_t slot, const char *id, size_t len)
{
	struct jfs_users *t = &fs->users;
	char p[JFS_MASK_LEN];
	bool shared;
	size_t b;

	jfs_mask_string(fs->mask, id, len, p);
	t->pseud[slot] = strtoull(p + 5, NULL, 16);
	shared = pseud_first(t, t->pseud[slot]) >= 0;
	if (t->nents > t->npbuckets) {
		pbuckets_resize(t, t->npbuckets ? t->npbuckets * 2 : 1024);
	} else {
		b = t->pseud[slot] & (t->npbuckets - 1);
		t->pnext[slot] = t->pbuckets[b];
		t->pbuckets[b] = (uint32_t)slot + 1;
	}
	if (shared)
		ent_make(fs, slot);
}

/* The slot of id @id, added when new (not existing, listed by no run). */
static size_t ent_get(struct jfs *fs, const char *id, size_t len)
{
	struct jfs_users *t = &fs->users;
	long found = ent_find(t, id, len);
	struct jfs_uent *e;
	size_t b, slot;
	char *name;

	if (found >= 0)
		return (size_t)found;
	if (t->nents >= UINT32_MAX - 1)
		abort(); /* four billion ids: no slot left */
	if (t->nents == t->ents_alloc) {
		t->ents_alloc = t->ents_alloc ? t->ents_alloc * 2 : 1024;
		t->ents = realloc(t->ents, t->ents_alloc * sizeof(*t->ents));
		if (!t->ents)
			abort();
		if (fs->mask_ids) {
			t->pseud = realloc(t->pseud, t->ents_alloc * sizeof(*t->pseud));
			t->pnext = realloc(t->pnext, t->ents_alloc * sizeof(*t->pnext));
			if (!t->pseud || !t->pnext)
				abort();
		}
	}
	slot = t->nents++;
	e = &t->ents[slot];
	memset(e, 0, sizeof(*e));
	e->id_ref = id_store(t, id, len);
	e->id_len = (uint32_t)len;
	e->created_ms = -1;
	e->updated_ms = -1;
	if (t->nents > t->nbuckets) {
		buckets_resize(t, t->nbuckets ? t->nbuckets * 2 : 1024);
	} else {
		b = jfs_hash_bytes(id, len) & (t->nbuckets - 1);
		e->hnext = t->buckets[b];
		t->buckets[b] = (uint32_t)slot + 1;
	}
	if (fs->mask_ids) {
		pseud_add(fs, slot, id, len);
		return slot;
	}
	/* a fallback name cannot be decoded: such users are found by name only when made */
	if (!len || len * 3 > JFS_NAME_MAX) {
		name = jfs_id_to_name(id, len);
		if (jfs_name_is_fallback(name))
			ent_make(fs, slot);
		free(name);
	}
	return slot;
}

/* The made user named @name, if any. */
static struct jfs_user *by_name_made(struct jfs_users *t, const char *name)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&t->by_name, node, jfs_hash_bytes(name, strlen(name))) {
		struct jfs_user *u = jfs_container_of(node, struct jfs_user, hnode_name);

		if (!strcmp(u->name, name))
			return u;
	}
	return NULL;
}

/* Whether @name is taken by another user than @slot's. */
static bool name_taken(struct jfs *fs, size_t slot, const char *name)
{
	uint64_t p;
	long first;

	if (by_name_made(&fs->users, name))
		return true;
	/* a plain pseudonym is the first slot's that has it, made or not */
	if (fs->mask_ids && pseud_parse(name, &p)) {
		first = pseud_first(&fs->users, p);
		return first >= 0 && (size_t)first != slot;
	}
	return false;
}

/* The struct jfs_user of @slot, made from its entry when it has none. */
static struct jfs_user *ent_make(struct jfs *fs, size_t slot)
{
	struct jfs_users *t = &fs->users;
	struct jfs_uent *e = &t->ents[slot];
	struct jfs_user *u = e->u;
	struct jfs_strbuf sb;
	unsigned attempt;

	if (u)
		return u;
	u = calloc(1, sizeof(*u));
	if (!u || !(u->id = malloc(e->id_len + 1)))
		abort();
	memcpy(u->id, ent_id(t, e), e->id_len + 1);
	u->id_len = e->id_len;
	u->name = ent_name(fs, slot);
	/* two ids never share a name (fallback names and pseudonyms are hashes: astronomically rare) */
	for (attempt = 1; name_taken(fs, slot, u->name); attempt++) {
		char *usual = u->name;

		if (fs->mask_ids) {
			/* the id's own fallback would show the id: a pseudonym, numbered */
			u->name = ent_name(fs, slot);
			jfs_strbuf_init(&sb);
			jfs_strbuf_addf(&sb, "%s~%u", u->name, attempt);
			free(u->name);
			u->name = jfs_strbuf_detach(&sb, NULL);
		} else {
			u->name = jfs_id_to_unique_name(u->id, u->id_len, attempt);
		}
		jfs_log(LOG_WARNING, "name '%s' is another user's: this one is '%s'", usual,
			u->name);
		free(usual);
	}
	u->slot = slot;
	u->exists = e->exists;
	u->created_ms = e->created_ms;
	u->updated_ms = e->updated_ms;
	jfs_hmap_add(&t->by_name, &u->hnode_name, jfs_hash_bytes(u->name, strlen(u->name)));
	e->u = u;
	return u;
}

static bool ent_exists(const struct jfs_uent *e)
{
	return e->u ? e->u->exists : e->exists;
}

struct jfs_user *jfs_user_by_id(struct jfs *fs, const char *id, size_t len)
{
	long slot = ent_find(&fs->users, id, len);

	return slot < 0 ? NULL : ent_make(fs, (size_t)slot);
}

/* The slot @name names (decoded; a fallback name: its made user's), or -1. */
static long slot_by_name(struct jfs *fs, const char *name)
{
	struct jfs_hnode *node;
	uint64_t p;
	size_t len;
	char *id;
	long slot;

	jfs_hmap_for_each_hash(&fs->users.by_name, node, jfs_hash_bytes(name, strlen(name))) {
		struct jfs_user *u = jfs_container_of(node, struct jfs_user, hnode_name);

		if (!strcmp(u->name, name))
			return (long)u->slot;
	}
	/* a pseudonym cannot be decoded: only the ids seen so far have one here */
	if (fs->mask_ids)
		return pseud_parse(name, &p) ? pseud_first(&fs->users, p) : -1;
	id = jfs_name_to_id(name, &len);
	if (!id)
		return -1;
	slot = ent_find(&fs->users, id, len);
	free(id);
	return slot;
}

struct jfs_user *jfs_user_by_name(struct jfs *fs, const char *name)
{
	long slot = slot_by_name(fs, name);

	return slot < 0 ? NULL : ent_make(fs, (size_t)slot);
}

bool jfs_users_slot_by_name(struct jfs *fs, const char *name, uint64_t *slot, bool *exists)
{
	long s = slot_by_name(fs, name);

	if (s < 0)
		return false;
	*slot = (uint64_t)s;
	*exists = ent_exists(&fs->users.ents[s]);
	return true;
}

struct jfs_user *jfs_user_by_ino(struct jfs *fs, fuse_ino_t ino)
{
	enum jfs_node_kind kind = jfs_node_kind(ino);
	uint64_t slot;

	if (kind != JFS_NODE_USER_DIR && kind != JFS_NODE_HISTORY_DIR &&
	    kind != JFS_NODE_ELEMENT && kind != JFS_NODE_RECORD)
		return NULL;
	slot = jfs_ino_slot(ino);
	return slot < fs->users.nents ? ent_make(fs, (size_t)slot) : NULL;
}

struct jfs_user *jfs_user_get(struct jfs *fs, const char *id, size_t len)
{
	return ent_make(fs, ent_get(fs, id, len));
}

uint64_t jfs_users_slot(struct jfs *fs, const char *id, size_t len)
{
	return ent_get(fs, id, len);
}

char *jfs_users_slot_name(struct jfs *fs, uint64_t slot)
{
	struct jfs_users *t = &fs->users;
	char *name;

	if (slot >= t->nents)
		return NULL;
	if (t->ents[slot].u) {
		name = strdup(t->ents[slot].u->name);
		if (!name)
			abort();
		return name;
	}
	return ent_name(fs, slot);
}

static int64_t mtime_of(struct jfs *fs, int64_t created_ms, int64_t updated_ms)
{
	return updated_ms >= 0 ? updated_ms : created_ms;
}

bool jfs_users_complete(struct jfs *fs)
{
	return fs->users.complete;
}

bool jfs_users_made(struct jfs *fs, uint64_t slot)
{
	return slot < fs->users.nents && fs->users.ents[slot].u;
}

bool jfs_users_peek(struct jfs *fs, uint64_t slot, bool *exists, int64_t *mtime_ms)
{
	const struct jfs_uent *e;

	if (slot >= fs->users.nents)
		return false;
	e = &fs->users.ents[slot];
	*exists = ent_exists(e);
	*mtime_ms = e->u ? mtime_of(fs, e->u->created_ms, e->u->updated_ms) :
			   mtime_of(fs, e->created_ms, e->updated_ms);
	return true;
}

char *jfs_users_scrub(struct jfs *fs, const char *text)
{
	struct jfs_strbuf sb;
	const char *p = text, *q, *end;
	long slot;
	char *name;

	jfs_strbuf_init(&sb);
	/* messages quote what they name: 'alice' */
	while ((q = strchr(p, '\'')) && (end = strchr(q + 1, '\''))) {
		jfs_strbuf_add(&sb, p, (size_t)(q - p) + 1);
		slot = ent_find(&fs->users, q + 1, (size_t)(end - q - 1));
		if (slot >= 0) {
			name = jfs_users_slot_name(fs, (uint64_t)slot);
			jfs_strbuf_addstr(&sb, name);
			free(name);
		} else {
			jfs_strbuf_add(&sb, q + 1, (size_t)(end - q - 1));
		}
		jfs_strbuf_addch(&sb, '\'');
		p = end + 1;
	}
	jfs_strbuf_addstr(&sb, p);
	return jfs_strbuf_detach(&sb, NULL);
}

/* ---- names looked up and found missing ---- */

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

/* The user in @slot exists (again): its name is not missing. [L] */
static void slot_not_missing(struct jfs *fs, size_t slot)
{
	char *name;

	if (!fs->users.missing.n)
		return;
	name = jfs_users_slot_name(fs, slot);
	if (name) {
		struct jfs_missing *m = missing_find(fs, name);

		if (m)
			missing_del(fs, m);
		free(name);
	}
}

/* ---- what the mount saw happen ---- */

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

static void list_append(uint32_t **list, size_t *n, size_t *alloc, uint32_t slot)
{
	if (*n == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 1024;
		*list = realloc(*list, *alloc * sizeof(**list));
		if (!*list)
			abort();
	}
	(*list)[(*n)++] = slot;
}

void jfs_users_add(struct jfs *fs, struct jfs_user *u)
{
	struct jfs_users *t = &fs->users;
	struct jfs_uent *e = &t->ents[u->slot];
	size_t i;

	u->exists = true;
	listing_changed(fs);
	not_missing(fs, u);
	if (t->running && e->run != t->run) {
		/* the run in progress may have read past it: it counts as listed */
		e->run = t->run;
		if (!t->streaming)
			list_append(&t->next, &t->nnext, &t->next_alloc, (uint32_t)u->slot);
	}
	for (i = 0; i < t->nlisting; i++)
		if (t->listing[i] == u->slot)
			return;
	list_append(&t->listing, &t->nlisting, &t->listing_alloc, (uint32_t)u->slot);
	pthread_cond_broadcast(&t->cond);
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
	int64_t m = mtime_of(fs, u->created_ms, u->updated_ms);

	return m >= 0 ? m : fs->start_ms;
}

bool jfs_users_stale(struct jfs *fs)
{
	struct jfs_users *t = &fs->users;

	if (!t->complete)
		return true;
	return !fs->change_feed &&
	       jfs_mono_ms() - t->listed_at >= (int64_t)(fs->opts.cache_timeout * 1000);
}

/* ---- listing runs ---- */

bool jfs_users_ending(struct jfs *fs)
{
	return fs->users.stopping || (fs->se && fuse_session_exited(fs->se));
}

/* How long a wait for the listing sleeps before it looks at ending() again. */
#define ENDING_CHECK_MS 500

/* A page of the store's listing, from any of its threads. [U] */
static int list_page(void *data, const struct jfs_found *found, size_t n)
{
	struct jfs *fs = data;
	struct jfs_users *t = &fs->users;
	bool changed = false;
	size_t i;

	pthread_mutex_lock(&fs->lock);
	if (jfs_users_ending(fs)) {
		pthread_mutex_unlock(&fs->lock);
		return 1;
	}
	for (i = 0; i < n; i++) {
		size_t slot = ent_get(fs, found[i].id, strlen(found[i].id));
		struct jfs_uent *e = &t->ents[slot];

		if (e->run == t->run)
			continue; /* again (a retried page) */
		e->run = t->run;
		if (!ent_exists(e)) {
			changed = true;
			slot_not_missing(fs, slot);
		}
		if (e->u) {
			e->u->exists = true;
			/* a loaded item knows better than the listing */
			if (!e->u->cache.item) {
				e->u->created_ms = found[i].created_ms;
				e->u->updated_ms = found[i].updated_ms;
			}
		} else {
			e->exists = true;
			e->created_ms = found[i].created_ms;
			e->updated_ms = found[i].updated_ms;
		}
		if (t->streaming)
			list_append(&t->listing, &t->nlisting, &t->listing_alloc, (uint32_t)slot);
		else
			list_append(&t->next, &t->nnext, &t->next_alloc, (uint32_t)slot);
	}
	if (changed)
		listing_changed(fs);
	if (t->streaming)
		pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

/* A user no longer listed, to tell the kernel about after the lock. */
struct gone {
	struct jfs_user *u;  /* or, when it was never made: */
	fuse_ino_t ino;
	char *name;
};

/* One whole listing from the store. [U] */
static int list_run(struct jfs *fs)
{
	struct jfs_users *t = &fs->users;
	struct gone *gone = NULL;
	size_t ngone = 0, i, before;
	uint32_t *old = NULL;
	struct jfs_err err;
	bool changed = false;
	int rc;

	pthread_mutex_lock(&fs->lock);
	t->running = true;
	t->run++;
	t->streaming = !t->complete;
	if (t->streaming)
		t->nlisting = 0; /* a failed first listing starts again */
	t->nnext = 0;
	before = t->nlisting;
	pthread_mutex_unlock(&fs->lock);

	/* the store is never called under the lock */
	jfs_err_clear(&err);
	rc = jfs_policy_find(&fs->policy, NULL, list_page, fs, &err);
	if (rc < 0 && rc != -ECANCELED)
		jfs_log(LOG_ERR, "cannot list users: %s", err.msg);

	pthread_mutex_lock(&fs->lock);
	if (rc == 0) {
		for (i = 0; i < t->nents; i++) {
			struct jfs_uent *e = &t->ents[i];

			if (!ent_exists(e) || e->run == t->run)
				continue;
			gone = realloc(gone, (ngone + 1) * sizeof(*gone));
			if (!gone)
				abort();
			memset(&gone[ngone], 0, sizeof(*gone));
			if (e->u) {
				e->u->exists = false;
				jfs_rcache_drop(fs, e->u);
				gone[ngone].u = e->u;
			} else {
				e->exists = false;
				gone[ngone].ino = jfs_ino_make(i, JFS_SUB_DIR);
				gone[ngone].name = ent_name(fs, i);
			}
			ngone++;
		}
		if (!t->streaming) {
			changed = t->nnext != before;
			old = t->listing;
			t->listing = t->next;
			t->nlisting = t->nnext;
			t->listing_alloc = t->next_alloc;
			t->next = NULL;
			t->nnext = t->next_alloc = 0;
		}
		t->complete = true;
		t->listed_at = jfs_mono_ms();
	}
	if (ngone || changed)
		listing_changed(fs);
	t->last_rc = rc;
	t->streaming = false;
	t->running = false;
	t->done_run = t->run;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&fs->lock);
	free(old);
	for (i = 0; i < ngone; i++) {
		if (gone[i].u) {
			jfs_invalidate_user(fs, gone[i].u, NULL, NULL);
		} else {
			jfs_notify_inode(fs, gone[i].ino);
			jfs_notify_entry(fs, JFS_INO_ROOT, gone[i].name);
			free(gone[i].name);
		}
	}
	free(gone);
	if (ngone || changed)
		jfs_notify_inode(fs, JFS_INO_ROOT);
	return rc;
}

static void *lister_main(void *arg)
{
	struct jfs *fs = arg;
	struct jfs_users *t = &fs->users;

	pthread_mutex_lock(&fs->lock);
	for (;;) {
		while (!t->want && !t->stopping)
			pthread_cond_wait(&t->cond, &fs->lock);
		if (t->stopping)
			break;
		t->want = false;
		pthread_mutex_unlock(&fs->lock);
		list_run(fs);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

/*
 * Start a run unless one runs: on the lister thread, or (no thread: the
 * unit tests) here and now, dropping the lock. [L-drop]
 */
static void list_start(struct jfs *fs)
{
	struct jfs_users *t = &fs->users;

	if (t->running || t->stopping)
		return;
	if (t->lister) {
		t->want = true;
		pthread_cond_broadcast(&t->cond);
		return;
	}
	pthread_mutex_unlock(&fs->lock);
	list_run(fs);
	pthread_mutex_lock(&fs->lock);
}

/* Wait on the users' condition until @deadline_ms (monotonic; 0: for ever). [L-drop] */
static void list_wait(struct jfs *fs, int64_t deadline_ms)
{
	struct timespec ts;
	int64_t left;

	if (!deadline_ms) {
		pthread_cond_wait(&fs->users.cond, &fs->lock);
		return;
	}
	left = deadline_ms - jfs_mono_ms();
	if (left <= 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += left / 1000;
	ts.tv_nsec += (left % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&fs->users.cond, &fs->lock, &ts);
}

int jfs_users_refresh(struct jfs *fs)
{
	struct jfs_users *t = &fs->users;
	uint32_t target;
	int rc;

	pthread_mutex_lock(&fs->lock);
	if (!t->lister) {
		/* no lister thread (the unit tests): here, after a run in progress */
		while (t->running)
			list_wait(fs, 0);
		pthread_mutex_unlock(&fs->lock);
		return list_run(fs);
	}
	/* a run in progress may have read past a change this call is for: the next one */
	target = t->run + 1;
	t->want = true;
	pthread_cond_broadcast(&t->cond);
	while ((int32_t)(t->done_run - target) < 0 && !jfs_users_ending(fs))
		list_wait(fs, jfs_mono_ms() + ENDING_CHECK_MS);
	rc = jfs_users_ending(fs) ? -ECANCELED : t->last_rc;
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int jfs_users_list_fresh(struct jfs *fs)
{
	struct jfs_users *t = &fs->users;
	int64_t deadline = jfs_mono_ms() + LIST_WAIT_MS;
	uint32_t target;
	int rc = 0;

	pthread_mutex_lock(&fs->lock);
	if (!jfs_users_stale(fs) || t->stopping)
		goto out_unlock;
	if (t->running) {
		/* a run that outlived someone else's wait: serve the listing there is */
		target = t->run;
		deadline = 0;
	} else {
		target = t->run + 1;
		list_start(fs);
	}
	/* a first listing streams: readdir waits for its pages itself */
	while (t->complete && (int32_t)(t->done_run - target) < 0 && !t->stopping &&
	       jfs_mono_ms() < deadline)
		list_wait(fs, deadline);
	if ((int32_t)(t->done_run - target) >= 0)
		rc = t->last_rc == -ECANCELED ? 0 : t->last_rc;
out_unlock:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

void jfs_users_await_name(struct jfs *fs, const char *name)
{
	struct jfs_users *t = &fs->users;
	uint32_t target;
	uint64_t p;

	if (!fs->mask_ids || !pseud_parse(name, &p) || t->stopping || !jfs_users_stale(fs))
		return;
	if (t->running) {
		/* the first listing streams the name in, or a later one ends soon */
		target = t->run;
	} else {
		target = t->run + 1;
		list_start(fs);
	}
	while ((int32_t)(t->done_run - target) < 0 && !jfs_users_ending(fs))
		list_wait(fs, jfs_mono_ms() + ENDING_CHECK_MS);
}

int jfs_users_readdir(struct jfs *fs, struct jfs_dirbuf *db, size_t i)
{
	struct jfs_users *t = &fs->users;
	size_t added = db->len;
	char *name;

	for (;;) {
		for (; i < t->nlisting; i++) {
			uint32_t slot = t->listing[i];
			struct jfs_uent *e = &t->ents[slot];
			char *own = NULL;
			bool more;

			if (!ent_exists(e)) {
				db->pos++;
				continue;
			}
			name = e->u ? e->u->name : (own = ent_name(fs, slot));
			/* readdirplus may drop the lock: @e may move, the name stays */
			more = jfs_dir_add(fs, db, name, jfs_ino_make(slot, JFS_SUB_DIR), S_IFDIR);
			free(own);
			if (!more)
				return 0;
		}
		if (!t->streaming || jfs_users_ending(fs))
			break;
		if (db->len > added)
			return 0; /* what there is now; the next call waits for more */
		list_wait(fs, jfs_mono_ms() + ENDING_CHECK_MS);
	}
	/* a first listing that failed: an error, not a short folder */
	if (!t->complete && !t->running && db->len == added && t->last_rc < 0)
		return t->last_rc == -ECANCELED ? 0 : t->last_rc;
	return 0;
}

/* ---- lifecycle ---- */

void jfs_users_init(struct jfs *fs)
{
	jfs_hmap_init(&fs->users.by_name, 1024);
	pthread_cond_init(&fs->users.cond, NULL);
}

int jfs_users_start(struct jfs *fs)
{
	struct jfs_users *t = &fs->users;

	if (pthread_create(&t->thread, NULL, lister_main, fs))
		return -EAGAIN;
	pthread_mutex_lock(&fs->lock);
	t->lister = true;
	/* the mount is ready at once: the first listing streams into readdir */
	list_start(fs);
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

void jfs_users_stop(struct jfs *fs)
{
	struct jfs_users *t = &fs->users;
	bool joined;

	pthread_mutex_lock(&fs->lock);
	t->stopping = true;
	joined = t->lister;
	t->lister = false;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&fs->lock);
	if (joined)
		pthread_join(t->thread, NULL);
}

void jfs_users_release(struct jfs *fs)
{
	struct jfs_users *t = &fs->users;
	size_t i;

	for (i = 0; i < t->nents; i++) {
		struct jfs_user *u = t->ents[i].u;

		if (!u)
			continue;
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
	for (i = 0; i < t->nchunks; i++)
		free(t->chunks[i]);
	free(t->chunks);
	free(t->ents);
	free(t->buckets);
	free(t->pseud);
	free(t->pnext);
	free(t->pbuckets);
	free(t->listing);
	free(t->next);
	jfs_hmap_release(&t->by_name);
	pthread_cond_destroy(&t->cond);
	memset(t, 0, sizeof(*t));
}
