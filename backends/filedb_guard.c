/*
 * FileDb: saved edits watched for stale rewrites (struct fdb_guard in
 * filedb-internal.h says why). After each save, the edits it wrote are
 * kept for st->guard_ms with the values their keys held before; a rescan
 * that finds those keys back at such a value re-applies the edit, one that
 * finds a third value drops the guard. Everything here runs under st->lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backends/filedb-internal.h"
#include "backends/filedb_scan.h"
#include "common/clock.h"
#include "common/hmap.h"
#include "common/json.h"
#include "common/log.h"

#define MAX_GUARDS 20000
#define MAX_GUARD_BYTES (64u << 20)
#define MAX_GUARD_STATES 8     /* older versions of one id a stale writer may hold */
#define MAX_REAPPLY 10

static struct fdb_guard *guard_of(struct jfs_hnode *node)
{
	return jfs_container_of(node, struct fdb_guard, node);
}

static struct fdb_guard *guard_find(struct filedb_store *st, const char *id)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(&st->guards, node, jfs_fdb_hash(id, strlen(id)))
		if (!strcmp(guard_of(node)->id, id))
			return guard_of(node);
	return NULL;
}

static void guard_unlink_age(struct filedb_store *st, struct fdb_guard *g)
{
	if (g->older)
		g->older->newer = g->newer;
	else
		st->goldest = g->newer;
	if (g->newer)
		g->newer->older = g->older;
	else
		st->gnewest = g->older;
	g->older = g->newer = NULL;
}

static void guard_link_newest(struct filedb_store *st, struct fdb_guard *g)
{
	g->older = st->gnewest;
	g->newer = NULL;
	if (st->gnewest)
		st->gnewest->newer = g;
	else
		st->goldest = g;
	st->gnewest = g;
}

void jfs_fdb_guard_del(struct filedb_store *st, struct fdb_guard *g)
{
	jfs_hmap_remove(&st->guards, &g->node);
	guard_unlink_age(st, g);
	st->guard_bytes -= g->cost;
	json_decref(g->set);
	json_decref(g->unset);
	json_decref(g->states);
	free(g->id);
	free(g);
}

/* Under lock: forget guards past their time, and the oldest while over the bounds. */
static void guard_expire(struct filedb_store *st, int64_t now)
{
	while (st->goldest && (st->goldest->expires_ms <= now || st->guards.n > MAX_GUARDS ||
			       st->guard_bytes > MAX_GUARD_BYTES))
		jfs_fdb_guard_del(st, st->goldest);
}

/*
 * Under lock, after a save wrote @op (a P_MODIFY): guard it. A guard
 * already there (an earlier save of the id in the window) grows: its
 * patch takes @op's on top, and a stale writer may hold the id as before
 * any of the saves, so every earlier state is kept.
 */
void jfs_fdb_guard_saved(struct filedb_store *st, const struct save_op *op, int64_t now)
{
	struct fdb_touched t;
	struct fdb_guard *g;
	json_t *state, *val, *old;
	const char *key;
	size_t i;

	if (!st->guard_ms)
		return;
	g = guard_find(st, op->id);
	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g || !(g->id = strdup(op->id)))
			abort();
		g->set = json_object();
		g->unset = json_array();
		g->states = json_array();
		jfs_hmap_add(&st->guards, &g->node, jfs_fdb_hash(op->id, strlen(op->id)));
	} else {
		guard_unlink_age(st, g);
		st->guard_bytes -= g->cost;
	}

	/* before this save: @op's base, and what the earlier saves wrote */
	state = op->base ? json_deep_copy(op->base) : json_object();
	json_object_foreach((json_t *)g->set, key, val)
		if (!json_object_get(op->set, key) && !jfs_unset_has(op->unset, key))
			json_object_set_new(state, key, json_deep_copy(val));
	/* keys new to the guard held their base in the earlier states too */
	json_array_foreach(g->states, i, old) {
		t = (struct fdb_touched){ .set = op->set, .unset = op->unset };
		while ((key = jfs_fdb_touched_next(&t))) {
			if (json_object_get(g->set, key) || jfs_unset_has(g->unset, key))
				continue;
			if (json_object_get(op->base, key))
				json_object_set_new(old, key,
						    json_deep_copy(json_object_get(op->base, key)));
		}
	}
	json_object_foreach((json_t *)op->set, key, val) {
		json_object_set_new(g->set, key, json_deep_copy(val));
		jfs_unset_del(g->unset, key);
	}
	json_array_foreach(op->unset, i, val) {
		key = json_string_value(val);
		json_object_del(g->set, key);
		jfs_unset_add(g->unset, key);
	}
	json_array_foreach(g->states, i, old) {
		if (jfs_json_equal(old, state))
			break;
	}
	if (i == json_array_size(g->states))
		json_array_append(g->states, state);
	json_decref(state);
	if (json_array_size(g->states) > MAX_GUARD_STATES)
		json_array_remove(g->states, 0);

	g->hash = op->hash;
	g->expires_ms = now + st->guard_ms;
	if (!op->reapply)
		g->reapplied = 0; /* a new edit: count its re-applies afresh */
	/* the item's size bounds the patch and each state */
	g->cost = sizeof(*g) + strlen(g->id) + op->len * (1 + json_array_size(g->states));
	st->guard_bytes += g->cost;
	guard_link_newest(st, g);
	guard_expire(st, now);
}

/*
 * Whether @item holds @vals's value (absent: absent) of every key @g
 * touched but "updatedAt", which Jovo's stale copy keeps old anyway.
 */
static bool guard_keys_equal(const struct fdb_guard *g, const json_t *item, const json_t *vals)
{
	struct fdb_touched t = { .set = g->set, .unset = g->unset };
	const char *key;

	while ((key = jfs_fdb_touched_next(&t)))
		if (strcmp(key, "updatedAt") &&
		    jfs_fdb_values_differ(json_object_get(item, key), json_object_get(vals, key)))
			return false;
	return true;
}

/*
 * Under lock: @fresh (the file's item, bytes hashing to @hash) has @g's
 * keys back as before a save: make the edit pending again (on top of @e,
 * a P_MODIFY of the id, or NULL). Gives up after MAX_REAPPLY.
 */
static void guard_reapply(struct filedb_store *st, struct fdb_guard *g, struct fdb_pending *e,
			  const json_t *fresh, uint64_t hash)
{
	struct fdb_touched t = { .set = g->set, .unset = g->unset };
	const char *key;
	json_t *fv;

	if (++g->reapplied > MAX_REAPPLY) {
		struct jfs_err ce;

		jfs_err_set(&ce, ESTALE, "edit of '%s' lost: stale rewrites of the file undid it "
			    "%u times; not applying it again", g->id, g->reapplied);
		jfs_log(LOG_ERR, "filedb: %s", ce.msg);
		jfs_fdb_fail_add_new(st, g->id, jfs_fdb_keys_of(g->set, g->unset), &ce);
		jfs_fdb_guard_del(st, g);
		return;
	}
	jfs_log(LOG_WARNING, "filedb: '%s': a stale rewrite of the file undid a stored edit; "
		"applying it again", g->id);
	if (!e) {
		e = jfs_fdb_pend_add(st, g->id, P_MODIFY);
		e->set = json_object();
		e->unset = json_array();
		e->base = json_object();
		e->base_hash = hash;
		e->reapply = true;
	}
	while ((key = jfs_fdb_touched_next(&t))) {
		/* the revert is no conflict: the base of the key is what is there now */
		fv = json_object_get(fresh, key);
		if (fv)
			json_object_set_new(e->base, key, json_deep_copy(fv));
		else
			json_object_del(e->base, key);
		if (jfs_fdb_pend_touches(e, key))
			continue; /* edited again since: the newer edit wins */
		if (!t.in_unset)
			json_object_set_new(e->set, key,
					    json_deep_copy(json_object_get(g->set, key)));
		else
			jfs_unset_add(e->unset, key);
	}
	g->hash = hash; /* this revert is handled: not counted again */
	jfs_fdb_pend_touched(st, e);
}

/*
 * Under lock, after st->cur changed to a rescan of a foreign write and
 * before jfs_fdb_pend_rebase(): re-apply guarded edits that a stale writer undid.
 * A guarded item that holds some third value was really changed: its guard
 * goes, and the usual rules hold.
 */
void jfs_fdb_guard_check(struct filedb_store *st)
{
	struct fdb_snap *s = st->cur;
	struct fdb_guard *g, *next;
	size_t j;

	guard_expire(st, jfs_mono_ms());
	for (g = st->goldest; g; g = next) {
		long i = jfs_fdb_index_find(&s->idx, g->id, strlen(g->id));
		struct fdb_pending *e;
		json_t *fresh, *state;
		int ret;

		next = g->newer;
		if (i < 0) {
			/* deleted: no stale copy of an edit brings it back */
			jfs_fdb_guard_del(st, g);
			continue;
		}
		if (s->idx.items[i].hash == g->hash)
			continue;
		e = st->pending.n ? jfs_fdb_pend_find(st, g->id) : NULL;
		if (e && e->kind != P_MODIFY) {
			jfs_fdb_guard_del(st, g); /* created anew or removed since: that decides */
			continue;
		}
		ret = jfs_fdb_snap_read_item(st, s, (size_t)i, &fresh, NULL);
		if (ret == -EAGAIN) {
			s->racy = true; /* rewritten again already: rescan next time, decide then */
			continue;
		}
		if (ret)
			continue; /* unreadable: loads and jfs_fdb_pend_rebase() report it */
		if (guard_keys_equal(g, fresh, g->set)) {
			/* the edit holds; something else of the item changed */
			g->hash = s->idx.items[i].hash;
			json_decref(fresh);
			continue;
		}
		json_array_foreach(g->states, j, state) {
			if (guard_keys_equal(g, fresh, state))
				break;
		}
		if (j < json_array_size(g->states)) {
			next = g->newer; /* guard_reapply() may free g */
			guard_reapply(st, g, e, fresh, s->idx.items[i].hash);
		} else {
			jfs_fdb_guard_del(st, g);
		}
		json_decref(fresh);
	}
}
