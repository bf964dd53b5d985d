/*
 * FileDb: the overlay of unsaved edits. Per id, the pending set holds the
 * element-level patch accepted since the last save (P_MODIFY: keys set and
 * unset, with each touched key's value in the file as its base), a new item
 * (P_PUT) or a removal (P_REMOVE). load() and list() see it at once; after
 * a rescan of a foreign write it is re-applied onto the fresh records, and
 * an edit whose element another writer changed meanwhile is dropped and
 * reported (failures()). What touches the store runs under st->lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/filedb-internal.h"
#include "backends/filedb_scan.h"
#include "common/clock.h"
#include "common/hmap.h"
#include "common/json.h"
#include "common/log.h"

#define MAX_PENDING 50000     /* edits held before writers wait for a save */
#define ROOM_WAIT_MS 30000
#define MAX_FAILURES 100000   /* lost changes kept until failures() reports them */

struct fdb_pending *jfs_fdb_pend_of(struct jfs_hnode *node)
{
	return jfs_container_of(node, struct fdb_pending, node);
}

struct fdb_pending *jfs_fdb_pend_find(struct filedb_store *st, const char *id)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&st->pending, node, jfs_fdb_hash(id, strlen(id)))
		if (!strcmp(jfs_fdb_pend_of(node)->id, id))
			return jfs_fdb_pend_of(node);
	return NULL;
}

struct fdb_pending *jfs_fdb_pend_add(struct filedb_store *st, const char *id, enum pend_kind kind)
{
	struct fdb_pending *e = calloc(1, sizeof(*e));

	if (!e || !(e->id = strdup(id)))
		abort();
	e->kind = kind;
	jfs_hmap_add(&st->pending, &e->node, jfs_fdb_hash(id, strlen(id)));
	return e;
}

void jfs_fdb_pend_clear(struct fdb_pending *e)
{
	json_decref(e->base);
	json_decref(e->set);
	json_decref(e->unset);
	json_decref(e->result);
	e->base = e->set = e->unset = e->result = NULL;
	e->reapply = false;
}

/*
 * Under lock. due_ms is 0 exactly when nothing is pending: the next change
 * then schedules a save and wakes the writer (jfs_fdb_pend_touched()).
 */
void jfs_fdb_pend_del(struct filedb_store *st, struct fdb_pending *e)
{
	jfs_hmap_remove(&st->pending, &e->node);
	jfs_fdb_pend_clear(e);
	free(e->id);
	free(e);
	if (!st->pending.n)
		st->due_ms = 0;
}

/* Call under lock: a pending change was made. */
void jfs_fdb_pend_touched(struct filedb_store *st, struct fdb_pending *e)
{
	e->version = ++st->seq;
	e->fail_reported = false; /* a new change: its save's failure is news */
	e->touched_ms = jfs_mono_ms();
	if (!e->since_ms)
		e->since_ms = e->touched_ms;
	if (!st->due_ms) {
		st->due_ms = jfs_mono_ms() + st->write_delay_ms;
		pthread_cond_signal(&st->wake);
	}
}

/*
 * Under lock: keep memory bounded. When the pending set is full, wait
 * (for at most ROOM_WAIT_MS) until the write-back thread saved some.
 */
int jfs_fdb_pend_wait_room(struct filedb_store *st, struct jfs_err *err)
{
	int64_t deadline = jfs_mono_ms() + ROOM_WAIT_MS;

	while (st->pending.n >= MAX_PENDING && st->running) {
		struct timespec ts;

		if (jfs_mono_ms() >= deadline)
			return jfs_err_set(err, EAGAIN, "too many unsaved edits of '%s' (%zu)",
					   st->path, st->pending.n);
		st->urgent = true;
		pthread_cond_signal(&st->wake);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&st->saved, &st->lock, &ts);
	}
	return 0;
}

/* Under lock: whether a change of @id (NULL: any) made at or before @version is pending. */
bool jfs_fdb_pend_waiting(struct filedb_store *st, const char *id, uint64_t version)
{
	struct jfs_hnode *node;
	struct fdb_pending *e;

	if (!st->pending.n)
		return false;
	if (id)
		return (e = jfs_fdb_pend_find(st, id)) && e->version <= version;
	jfs_hmap_for_each(&st->pending, node)
		if (jfs_fdb_pend_of(node)->version <= version)
			return true;
	return false;
}

bool jfs_fdb_pend_touches(const struct fdb_pending *e, const char *key)
{
	return json_object_get(e->set, key) || jfs_unset_has(e->unset, key);
}

/*
 * Merge @set (owned copy) and @unset (borrowed array) into @e's patch.
 * For P_MODIFY, @file_item (the item in the file) gives the base values of
 * keys touched for the first time; it may be NULL when there are none.
 */
void jfs_fdb_pend_merge_patch(struct fdb_pending *e, json_t *set, const json_t *unset,
			      const json_t *file_item)
{
	const char *key;
	json_t *val;
	size_t i;

	e->reapply = false; /* an edit of its own now */
	if (!e->set)
		e->set = json_object();
	if (!e->unset)
		e->unset = json_array();
	if (e->kind == P_MODIFY && !e->base)
		e->base = json_object();
	if (set) {
		json_object_foreach(set, key, val) {
			if (e->kind == P_MODIFY && !jfs_fdb_pend_touches(e, key) &&
			    json_object_get(file_item, key))
				json_object_set(e->base, key, json_object_get(file_item, key));
			json_object_set(e->set, key, val);
			jfs_unset_del(e->unset, key);
		}
	}
	for (i = 0; i < json_array_size(unset); i++) {
		key = json_string_value(json_array_get(unset, i));
		if (e->kind == P_MODIFY && !jfs_fdb_pend_touches(e, key) &&
		    json_object_get(file_item, key))
			json_object_set(e->base, key, json_object_get(file_item, key));
		json_object_del(e->set, key);
		jfs_unset_add(e->unset, key);
	}
}

/* Whether the keys @patch touches are all touched by @e already. */
bool jfs_fdb_pend_covers(const struct fdb_pending *e, const struct jfs_patch *patch)
{
	const char *key;
	json_t *val;
	size_t i;

	if (patch->set)
		json_object_foreach(patch->set, key, val)
			if (!jfs_fdb_pend_touches(e, key))
				return false;
	for (i = 0; i < json_array_size(patch->unset); i++)
		if (!jfs_fdb_pend_touches(e, json_string_value(json_array_get(patch->unset, i))))
			return false;
	return true;
}

json_t *jfs_fdb_apply(const json_t *item, const json_t *set, const json_t *unset)
{
	const struct jfs_patch patch = { .set = (json_t *)set, .unset = (json_t *)unset };
	json_t *res = jfs_patch_apply(item, &patch);

	if (!res)
		abort();
	return res;
}

bool jfs_fdb_values_differ(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a != b;
	return !jfs_json_equal(a, b);
}

/*
 * The key of @e's patch whose value in @fresh differs from the base it was
 * made on, or NULL. updatedAt only counts when it is all the patch touches:
 * every edit bumps it, and so does every save Jovo makes.
 */
static const char *pend_conflict(const struct fdb_pending *e, const json_t *fresh)
{
	size_t ntouched = json_object_size(e->set) + json_array_size(e->unset);
	struct fdb_touched t = { .set = e->set, .unset = e->unset };
	const char *key;

	while ((key = jfs_fdb_touched_next(&t))) {
		if (ntouched > 1 && !strcmp(key, "updatedAt"))
			continue;
		if (jfs_fdb_values_differ(json_object_get(fresh, key),
					  json_object_get(e->base, key)))
			return key;
	}
	return NULL;
}

/* @e's base becomes @item (hash @hash): the touched keys' values in it. */
void jfs_fdb_pend_rebase_onto(struct fdb_pending *e, const json_t *item, uint64_t hash)
{
	struct fdb_touched t = { .set = e->set, .unset = e->unset };
	const char *key;

	while ((key = jfs_fdb_touched_next(&t))) {
		if (json_object_get(item, key))
			json_object_set_new(e->base, key,
					    json_deep_copy(json_object_get(item, key)));
		else
			json_object_del(e->base, key);
	}
	e->base_hash = hash;
}

/* Under lock: queue a lost change of @id for failures(); @keys (new reference) or NULL. */
void jfs_fdb_fail_add_new(struct filedb_store *st, const char *id, json_t *keys,
			  const struct jfs_err *e)
{
	struct fdb_failure *f;

	if (st->nfail >= MAX_FAILURES) {
		/* nobody asks: forget the oldest (each was logged when it happened) */
		f = st->fail_head;
		st->fail_head = f->next;
		if (!st->fail_head)
			st->fail_tail = &st->fail_head;
		st->nfail--;
		free(f->id);
		json_decref(f->keys);
		free(f);
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->id = strdup(id)))
		abort();
	f->keys = keys;
	f->err = *e;
	if (!f->err.code)
		f->err.code = EIO;
	*st->fail_tail = f;
	st->fail_tail = &f->next;
	st->nfail++;
}

const char *jfs_fdb_touched_next(struct fdb_touched *t)
{
	const char *key;

	if (!t->in_unset) {
		t->iter = t->started ? json_object_iter_next((json_t *)t->set, t->iter) :
				       json_object_iter((json_t *)t->set);
		t->started = true;
		if (t->iter)
			return json_object_iter_key(t->iter);
		t->in_unset = true;
		t->i = 0;
	} else {
		t->i++;
	}
	/* an unset holds strings only; anything else is skipped, never returned */
	for (; t->i < json_array_size(t->unset); t->i++)
		if ((key = json_string_value(json_array_get(t->unset, t->i))))
			return key;
	return NULL;
}

/* The keys @set and @unset touch as a new array. */
json_t *jfs_fdb_keys_of(const json_t *set, const json_t *unset)
{
	struct fdb_touched t = { .set = set, .unset = unset };
	json_t *keys = json_array();
	const char *key;

	if (!keys)
		abort();
	while ((key = jfs_fdb_touched_next(&t)))
		json_array_append_new(keys, json_string(key));
	return keys;
}

/* What @e's change touches: a new array of keys, or NULL for the whole item. */
json_t *jfs_fdb_pend_keys(const struct fdb_pending *e)
{
	switch (e->kind) {
	case P_MODIFY:
		return jfs_fdb_keys_of(e->set, e->unset);
	case P_PUT:
		return jfs_fdb_keys_of(e->result, NULL);
	default:
		return NULL;
	}
}

void jfs_fdb_changed_add(struct filedb_store *st, const char *id)
{
	if (st->nchanged == st->changed_alloc) {
		size_t na = st->changed_alloc ? st->changed_alloc * 2 : 64;
		char **c = realloc(st->changed, na * sizeof(*c));

		if (!c)
			abort();
		st->changed = c;
		st->changed_alloc = na;
	}
	if (!(st->changed[st->nchanged++] = strdup(id)))
		abort();
}

/* Under lock: drop @e's edits, which another writer overtook. */
static void pend_drop_conflict(struct filedb_store *st, struct fdb_pending *e, const char *why)
{
	struct jfs_err ce;

	jfs_err_set(&ce, ESTALE, "edit of '%s' dropped: %s", e->id, why);
	jfs_log(LOG_ERR, "filedb: %s", ce.msg);
	jfs_fdb_fail_add_new(st, e->id, jfs_fdb_pend_keys(e), &ce);
	jfs_fdb_changed_add(st, e->id);
	jfs_fdb_pend_del(st, e);
}

/*
 * Under lock, after st->cur changed to a rescan of a foreign write:
 * re-apply pending edits onto the fresh records.
 */
void jfs_fdb_pend_rebase(struct filedb_store *st)
{
	struct fdb_snap *s = st->cur;
	struct jfs_hnode *node, *next;

	jfs_hmap_for_each_safe(&st->pending, node, next) {
		struct fdb_pending *e = jfs_fdb_pend_of(node);
		long i = jfs_fdb_index_find(&s->idx, e->id, strlen(e->id));
		struct jfs_err rerr;
		int ret;
		const char *key;
		json_t *fresh;
		char why[320];

		if (e->kind == P_PUT) {
			if (!e->replace && i >= 0)
				pend_drop_conflict(st, e, "another writer created it meanwhile");
			else if (e->replace && i < 0)
				e->replace = false;
			continue;
		}
		if (e->kind == P_REMOVE) {
			/* no removal deletes a change it has not seen (DESIGN 5) */
			if (!e->remove_had && i >= 0)
				pend_drop_conflict(st, e, "another writer created it meanwhile; "
					      "not deleted");
			else if (e->remove_had && i >= 0 && s->idx.items[i].hash != e->base_hash)
				pend_drop_conflict(st, e, "another writer changed it meanwhile; "
					      "not deleted");
			continue;
		}
		if (e->kind != P_MODIFY)
			continue;
		if (i < 0) {
			pend_drop_conflict(st, e, "another writer deleted it meanwhile");
			continue;
		}
		if (s->idx.items[i].hash == e->base_hash)
			continue;
		jfs_err_clear(&rerr);
		ret = jfs_fdb_snap_read_item(st, s, (size_t)i, &fresh, &rerr);
		if (ret == -EAGAIN) {
			/* rewritten again already: rescan next time, decide then */
			s->racy = true;
			continue;
		}
		if (ret) {
			snprintf(why, sizeof(why), "cannot re-read it: %s", rerr.msg);
			pend_drop_conflict(st, e, why);
			continue;
		}
		key = pend_conflict(e, fresh);
		if (key) {
			snprintf(why, sizeof(why), "another writer changed its '%s' meanwhile",
				 key);
			json_decref(fresh);
			pend_drop_conflict(st, e, why);
			continue;
		}
		jfs_fdb_pend_rebase_onto(e, fresh, s->idx.items[i].hash);
		json_decref(fresh);
		e->version = ++st->seq;
	}
}
