/*
 * memstore: the reference store of the unit tests (see memstore.h). Every
 * op takes the one lock for its whole length, so each is atomic, as the
 * contract asks of a conditional update.
 */
#include "memstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "common/log.h"

struct jfs_memstore *jfs_memstore_from_store(struct jfs_store *st, const char *caller)
{
	if (!st || st->ops != &jfs_backend_memstore) {
		fprintf(stderr, "%s: not a memstore\n", caller);
		abort();
	}
	return (struct jfs_memstore *)st;
}

struct jfs_memstore *jfs_memstore_new(void)
{
	struct jfs_memstore *ms = calloc(1, sizeof(*ms));

	if (!ms)
		abort();
	ms->base.ops = &jfs_backend_memstore;
	pthread_mutex_init(&ms->lock, NULL);
	ms->items = json_object();
	return ms;
}

json_t *jfs_memstore_get(struct jfs_memstore *ms, const char *id)
{
	return json_object_get(ms->items, id);
}

void jfs_memstore_put_new(struct jfs_memstore *ms, const char *id, json_t *item)
{
	json_object_set_new(ms->items, id, item);
}

void jfs_memstore_reset_counts(struct jfs_memstore *ms)
{
	ms->loads = ms->updates = ms->creates = ms->removes = 0;
}

static int mem_open(const json_t *conf, const struct jfs_store_options *opts,
		    struct jfs_store **out, struct jfs_err *err)
{
	struct jfs_memstore *ms;
	const char *key;
	json_t *val;

	if (conf && !json_is_object(conf))
		return jfs_err_set(err, EINVAL, "'memstore' must be an object");
	if (conf)
		json_object_foreach((json_t *)conf, key, val)
			jfs_log(LOG_WARNING, "unknown key 'memstore.%s' ignored", key);
	ms = jfs_memstore_new();
	ms->read_only = opts && opts->read_only;
	*out = &ms->base;
	return 0;
}

static int mem_start(struct jfs_store *st, struct jfs_err *err)
{
	jfs_memstore_from_store(st, "mem_start");
	return 0;
}

static int cmp_ids(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Under ms->lock: the ids after @cursor (all when NULL), sorted; *@n of them. */
static const char **ids_after(struct jfs_memstore *ms, const char *cursor, size_t *n)
{
	const char **ids = calloc(json_object_size(ms->items) + 1, sizeof(*ids));
	const char *key;
	json_t *v;

	if (!ids)
		abort();
	*n = 0;
	json_object_foreach(ms->items, key, v)
		if (!cursor || strcmp(key, cursor) > 0)
			ids[(*n)++] = key;
	qsort(ids, *n, sizeof(*ids), cmp_ids);
	return ids;
}

static int64_t time_ms(const json_t *item, const char *key)
{
	int64_t ms;

	if (!jfs_iso_parse(json_string_value(json_object_get(item, key)) ?: "", &ms))
		return -1;
	return ms;
}

/* A @limit of 0 lists everything on one page. */
static int mem_list(struct jfs_store *st, const char *cursor, size_t limit,
		    struct jfs_list_page *page, struct jfs_err *err)
{
	struct jfs_memstore *ms = jfs_memstore_from_store(st, "mem_list");
	struct jfs_list_entry *e;
	const char **ids;
	size_t i, n;
	json_t *item;

	memset(page, 0, sizeof(*page));
	pthread_mutex_lock(&ms->lock);
	ids = ids_after(ms, cursor, &n);
	if (!limit || limit > n)
		limit = n;
	page->entries = calloc(limit + 1, sizeof(*page->entries));
	if (!page->entries)
		abort();
	for (i = 0; i < limit; i++) {
		item = json_object_get(ms->items, ids[i]);
		e = &page->entries[page->n++];
		if (!(e->id = strdup(ids[i])))
			abort();
		e->created_ms = time_ms(item, "createdAt");
		e->updated_ms = time_ms(item, "updatedAt");
	}
	if (limit < n && !(page->next = strdup(ids[limit - 1])))
		abort();
	pthread_mutex_unlock(&ms->lock);
	free(ids);
	return 0;
}

/*
 * Decides every filter exactly (on the whole item), so an entry carries an
 * item only when the filter needs values; pages of 100, in id order.
 */
static int mem_find(struct jfs_store *st, const struct jfs_filter *f, jfs_found_fn *fn,
		    void *data, struct jfs_err *err)
{
	struct jfs_memstore *ms = jfs_memstore_from_store(st, "mem_find");
	struct jfs_found *found;
	const char **ids;
	size_t i, n, m = 0, page;
	json_t *item;
	int ret = 0;

	pthread_mutex_lock(&ms->lock);
	ids = ids_after(ms, NULL, &n);
	found = calloc(n + 1, sizeof(*found));
	if (!found)
		abort();
	for (i = 0; i < n; i++) {
		item = json_object_get(ms->items, ids[i]);
		if (f && !jfs_filter_match(f, item))
			continue;
		if (!(found[m].id = strdup(ids[i])))
			abort();
		found[m].created_ms = time_ms(item, "createdAt");
		found[m].updated_ms = time_ms(item, "updatedAt");
		if (f && f->nneed) {
			json_t *partial = jfs_filter_project(f, item);

			/* never share values with the caller */
			found[m].item = json_deep_copy(partial);
			json_decref(partial);
		}
		m++;
	}
	pthread_mutex_unlock(&ms->lock);
	free(ids);
	for (i = 0; i < m && !ret; i += page) {
		page = m - i < 100 ? m - i : 100;
		if (fn(data, found + i, page))
			ret = jfs_err_set(err, ECANCELED, "the caller stopped the find");
	}
	for (i = 0; i < m; i++) {
		free(found[i].id);
		json_decref(found[i].item);
	}
	free(found);
	return ret;
}

static int mem_load(struct jfs_store *st, const char *id, json_t **item, struct jfs_err *err)
{
	struct jfs_memstore *ms = jfs_memstore_from_store(st, "mem_load");
	json_t *v;
	int ret = 0;

	pthread_mutex_lock(&ms->lock);
	ms->loads++;
	v = json_object_get(ms->items, id);
	if (v)
		*item = json_deep_copy(v); /* a fresh item, as a real backend hands out */
	else
		ret = jfs_err_set(err, ENOENT, "no user '%s'", id);
	pthread_mutex_unlock(&ms->lock);
	return ret;
}

static int mem_update(struct jfs_store *st, const char *id, const struct jfs_patch *patch,
		      struct jfs_err *err)
{
	struct jfs_memstore *ms = jfs_memstore_from_store(st, "mem_update");
	json_t *old, *upd;
	int ret = 0;

	pthread_mutex_lock(&ms->lock);
	ms->updates++;
	if (ms->read_only) {
		ret = jfs_err_set(err, EROFS, "cannot update '%s': read-only", id);
		goto out_unlock;
	}
	if (ms->hook && ms->hook_runs > 0) {
		ms->hook_runs--;
		ms->hook(ms, id);
	}
	old = json_object_get(ms->items, id);
	if (!old) {
		ret = jfs_err_set(err, ENOENT, "no user '%s'", id);
		goto out_unlock;
	}
	if (!jfs_patch_condition_holds(patch, old)) {
		ret = jfs_err_set(err, ECANCELED, "condition on '%s' failed",
				  patch->cond_key ? patch->cond_key : "");
		goto out_unlock;
	}
	upd = jfs_patch_apply(old, patch);
	/* never share values with the caller's patch */
	json_object_set_new(ms->items, id, json_deep_copy(upd));
	json_decref(upd);
out_unlock:
	pthread_mutex_unlock(&ms->lock);
	return ret;
}

static int mem_create(struct jfs_store *st, const char *id, json_t *item, struct jfs_err *err)
{
	struct jfs_memstore *ms = jfs_memstore_from_store(st, "mem_create");
	int ret = 0;

	pthread_mutex_lock(&ms->lock);
	ms->creates++;
	if (ms->read_only)
		ret = jfs_err_set(err, EROFS, "cannot create '%s': read-only", id);
	else if (json_object_get(ms->items, id))
		ret = jfs_err_set(err, EEXIST, "user '%s' exists", id);
	else
		json_object_set_new(ms->items, id, json_deep_copy(item));
	pthread_mutex_unlock(&ms->lock);
	return ret;
}

static int mem_remove(struct jfs_store *st, const char *id, struct jfs_err *err)
{
	struct jfs_memstore *ms = jfs_memstore_from_store(st, "mem_remove");
	int ret = 0;

	pthread_mutex_lock(&ms->lock);
	ms->removes++;
	if (ms->read_only)
		ret = jfs_err_set(err, EROFS, "cannot remove '%s': read-only", id);
	else if (json_object_del(ms->items, id))
		ret = jfs_err_set(err, ENOENT, "no user '%s'", id);
	pthread_mutex_unlock(&ms->lock);
	return ret;
}

/* Every change is in memory before its call returns: as durable as it gets. */
static int mem_sync(struct jfs_store *st, const char *id, struct jfs_err *err)
{
	jfs_memstore_from_store(st, "mem_sync");
	return 0;
}

static void mem_describe(struct jfs_store *st, json_t *out)
{
	struct jfs_memstore *ms = jfs_memstore_from_store(st, "mem_describe");

	pthread_mutex_lock(&ms->lock);
	json_object_set_new(out, "items", json_integer((json_int_t)json_object_size(ms->items)));
	pthread_mutex_unlock(&ms->lock);
}

static void mem_close(struct jfs_store *st)
{
	struct jfs_memstore *ms = jfs_memstore_from_store(st, "mem_close");

	json_decref(ms->items);
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}

const struct jfs_backend_ops jfs_backend_memstore = {
	.name = "memstore",
	.open = mem_open,
	.start = mem_start,
	.list = mem_list,
	.find = mem_find,
	.load = mem_load,
	.update = mem_update,
	.create = mem_create,
	.remove = mem_remove,
	.sync = mem_sync,
	/* .failures: every change is stored before its call returns */
	/* .changes: nobody else writes to it (a hook runs inside update) */
	.describe = mem_describe,
	.close = mem_close,
};
