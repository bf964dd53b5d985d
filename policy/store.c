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

void jfs_policy_time(struct jfs_policy *p, enum jfs_backend_op op, uint64_t t0)
{
	__atomic_add_fetch(&p->stats.ns_sum[op], jfs_mono_ns() - t0, __ATOMIC_RELAXED);
	__atomic_add_fetch(&p->stats.count[op], 1, __ATOMIC_RELAXED);
}

void jfs_policy_stats(const struct jfs_policy *p, struct jfs_policy_stats *out)
{
	size_t i;

	for (i = 0; i < JFS_BOP__COUNT; i++) {
		out->ns_sum[i] = __atomic_load_n(&p->stats.ns_sum[i], __ATOMIC_RELAXED);
		out->count[i] = __atomic_load_n(&p->stats.count[i], __ATOMIC_RELAXED);
	}
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
	jfs_policy_time(p, JFS_BOP_LOAD, t0);
	if (ret)
		return ret;
	if (!json_is_object(v)) {
		json_decref(v);
		return jfs_err_set(err, EIO, "stored item of user '%s' is not a JSON object", id);
	}
	*item = v;
	return 0;
}

int jfs_policy_list(struct jfs_policy *p, const char *cursor, size_t limit,
		    struct jfs_list_page *page, struct jfs_err *err)
{
	uint64_t t0 = jfs_mono_ns();
	int ret = p->store->ops->list(p->store, cursor, limit, page, err);

	jfs_policy_time(p, JFS_BOP_LIST, t0);
	return ret;
}

int jfs_policy_sync(struct jfs_policy *p, const char *id, struct jfs_err *err)
{
	uint64_t t0 = jfs_mono_ns();
	int ret = p->store->ops->sync(p->store, id, err);

	jfs_policy_time(p, JFS_BOP_SYNC, t0);
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
