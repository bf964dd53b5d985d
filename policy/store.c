/*
 * The store below the policy: the fs layer reaches a backend only through
 * these functions (and the writes of policy/write.c), the way sshfs's
 * cache_wrap() stands between FUSE and sshfs. Every backend call is timed
 * here, by kind, for .jovofs/metrics.
 */
#include "policy/policy.h"
#include "policy/store.h"

#include <errno.h>
#include <string.h>

#include "common/clock.h"
#include "policy/mask.h"

static const char *const op_names[JFS_BOP__COUNT] = {
	[JFS_BOP_LOAD] = "load",
	[JFS_BOP_WRITE] = "write",
	[JFS_BOP_LIST] = "list",
	[JFS_BOP_SYNC] = "sync",
	[JFS_BOP_FIND] = "find",
};

const char *jfs_backend_op_name(enum jfs_backend_op op)
{
	return op < JFS_BOP__COUNT ? op_names[op] : "?";
}

/* Prometheus's default buckets, with 1 ms and 2.5 ms below for a local FileDb */
const double jfs_latency_bounds[JFS_LAT_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

void jfs_policy_time(struct jfs_policy *p, enum jfs_backend_op op, uint64_t t0, int ret)
{
	uint64_t ns = jfs_mono_ns() - t0;
	size_t b = 0;
	int e = -ret;

	while (b < JFS_LAT_BUCKETS && (double)ns > jfs_latency_bounds[b] * 1e9)
		b++;
	__atomic_add_fetch(&p->stats.ns_sum[op], ns, __ATOMIC_RELAXED);
	__atomic_add_fetch(&p->stats.count[op], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&p->stats.bucket[op][b], 1, __ATOMIC_RELAXED);
	if (ret < 0)
		__atomic_add_fetch(&p->stats.errors[op][e > 0 && e <= JFS_ERRNO_MAX ? e : 0], 1,
				   __ATOMIC_RELAXED);
}

void jfs_policy_stats(const struct jfs_policy *p, struct jfs_policy_stats *out)
{
	size_t i, j;

	for (i = 0; i < JFS_BOP__COUNT; i++) {
		out->ns_sum[i] = __atomic_load_n(&p->stats.ns_sum[i], __ATOMIC_RELAXED);
		out->count[i] = __atomic_load_n(&p->stats.count[i], __ATOMIC_RELAXED);
		for (j = 0; j <= JFS_LAT_BUCKETS; j++)
			out->bucket[i][j] = __atomic_load_n(&p->stats.bucket[i][j],
							    __ATOMIC_RELAXED);
		for (j = 0; j <= JFS_ERRNO_MAX; j++)
			out->errors[i][j] = __atomic_load_n(&p->stats.errors[i][j],
							    __ATOMIC_RELAXED);
	}
}

void jfs_policy_metrics(struct jfs_policy *p, jfs_metric_fn *fn, void *data)
{
	if (p->store && p->store->ops->metrics)
		p->store->ops->metrics(p->store, fn, data);
}

int jfs_policy_reload(struct jfs_policy *p, struct jfs_err *err)
{
	if (!p->store->ops->reload)
		return 0;
	return p->store->ops->reload(p->store, err);
}

int jfs_policy_check(struct jfs_policy *p, json_t *out, struct jfs_err *err)
{
	struct jfs_list_page page = { 0 };
	int ret;

	json_object_set_new(out, "backend", json_string(p->store->ops->name));
	if (p->store->ops->summary)
		p->store->ops->summary(p->store, out);
	ret = jfs_policy_start(p, err);
	if (ret)
		return ret;
	ret = jfs_policy_list(p, NULL, JFS_CHECK_PAGE, &page, err);
	if (ret) {
		jfs_err_prefix(err, "cannot list the users");
		return ret;
	}
	json_object_set_new(out, "users", json_integer((json_int_t)page.n));
	json_object_set_new(out, "more", json_boolean(page.next != NULL));
	jfs_list_page_release(&page);
	/* what start() learnt (a region, the credentials' source) */
	if (p->store->ops->summary)
		p->store->ops->summary(p->store, out);
	return 0;
}

bool jfs_policy_backend_exists(const char *name)
{
	return jfs_backend_find(name) != NULL;
}

const char *jfs_policy_backend_name(size_t i)
{
	const struct jfs_backend_ops *ops = jfs_backend_at(i);

	return ops ? ops->name : NULL;
}

const struct jfs_backend_option *jfs_policy_backend_options(size_t i)
{
	const struct jfs_backend_ops *ops = jfs_backend_at(i);

	return ops ? ops->options : NULL;
}

const struct jfs_backend_option *jfs_policy_backend_option(const char *name,
							   const char **backend)
{
	const struct jfs_backend_ops *ops;
	const struct jfs_backend_option *o;
	size_t i;

	for (i = 0; (ops = jfs_backend_at(i)); i++) {
		for (o = ops->options; o && o->name; o++) {
			if (!strcmp(o->name, name)) {
				if (backend)
					*backend = ops->name;
				return o;
			}
		}
	}
	return NULL;
}

int jfs_policy_open(struct jfs_policy *p, const char *backend, const json_t *conf,
		    const struct jfs_store_options *opts, struct jfs_err *err)
{
	const struct jfs_backend_ops *ops = jfs_backend_find(backend);

	if (!ops)
		return jfs_err_set(err, EINVAL, "unknown backend '%s'", backend);
	return ops->open(conf, opts, &p->store, err);
}

int jfs_policy_start(struct jfs_policy *p, struct jfs_err *err)
{
	if (!p->store->ops->start)
		return 0;
	return p->store->ops->start(p->store, err);
}

void jfs_policy_close(struct jfs_policy *p)
{
	if (!p->store)
		return;
	p->store->ops->close(p->store);
	p->store = NULL;
}

int jfs_policy_load(struct jfs_policy *p, const char *id, json_t **item, struct jfs_err *err)
{
	uint64_t t0 = jfs_mono_ns();
	json_t *v = NULL;
	int ret;

	ret = p->store->ops->load(p->store, id, &v, err);
	jfs_policy_time(p, JFS_BOP_LOAD, t0, ret);
	if (ret)
		return ret;
	if (!json_is_object(v)) {
		json_decref(v);
		return jfs_err_set(err, EIO, "stored item of user '%s' is not a JSON object", id);
	}
	/* a masked view: nothing above this line ever sees the values */
	*item = p->mask ? jfs_mask_item(p->mask, v) : v;
	return 0;
}

int jfs_policy_list(struct jfs_policy *p, const char *cursor, size_t limit,
		    struct jfs_list_page *page, struct jfs_err *err)
{
	uint64_t t0 = jfs_mono_ns();
	int ret = p->store->ops->list(p->store, cursor, limit, page, err);
	static const char *const created[] = { "createdAt" }, *const updated[] = { "updatedAt" };
	size_t i;

	jfs_policy_time(p, JFS_BOP_LIST, t0, ret);
	/* masked times are not given away by mtimes either */
	if (!ret && p->mask) {
		bool c = jfs_mask_covers(p->mask, created, 1), u = jfs_mask_covers(p->mask, updated, 1);

		for (i = 0; i < page->n; i++) {
			if (c)
				page->entries[i].created_ms = -1;
			if (u)
				page->entries[i].updated_ms = -1;
		}
	}
	return ret;
}

int jfs_policy_sync(struct jfs_policy *p, const char *id, struct jfs_err *err)
{
	uint64_t t0 = jfs_mono_ns();
	int ret = p->store->ops->sync(p->store, id, err);

	jfs_policy_time(p, JFS_BOP_SYNC, t0, ret);
	return ret;
}

bool jfs_policy_has_changes(const struct jfs_policy *p)
{
	return p->store->ops->changes != NULL;
}

int jfs_policy_changes(struct jfs_policy *p, jfs_changed_fn *fn, void *data,
		       struct jfs_err *err)
{
	if (!p->store->ops->changes)
		return 0;
	return p->store->ops->changes(p->store, fn, data, err);
}

void jfs_policy_describe(struct jfs_policy *p, json_t *out)
{
	if (p->store->ops->describe)
		p->store->ops->describe(p->store, out);
}

struct lost_map {
	jfs_policy_lost_fn *fn;
	void *data;
};

static void lost_elements(void *data, const char *id, const json_t *keys, const struct jfs_err *e)
{
	struct lost_map *m = data;
	unsigned elems = 0;
	size_t i;
	int el;

	for (i = 0; i < json_array_size(keys); i++) {
		const char *key = json_string_value(json_array_get(keys, i));

		for (el = 0; key && el < JFS_EL__COUNT; el++)
			if (!strcmp(key, jfs_elem_key(el)))
				elems |= 1u << el;
	}
	/* every change bumps updatedAt: it names the file only when alone */
	if (elems & ~(1u << JFS_EL_UPDATED_AT))
		elems &= ~(1u << JFS_EL_UPDATED_AT);
	m->fn(m->data, id, elems, e);
}

void jfs_policy_failures(struct jfs_policy *p, jfs_policy_lost_fn *fn, void *data)
{
	struct lost_map m = { fn, data };

	if (p->store->ops->failures)
		p->store->ops->failures(p->store, lost_elements, &m);
}
