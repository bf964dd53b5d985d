#include "backends/backend.h"

#include <stdlib.h>
#include <string.h>

#include "common/json.h"

void jfs_list_page_release(struct jfs_list_page *page)
{
	size_t i;

	for (i = 0; i < page->n; i++)
		free(page->entries[i].id);
	free(page->entries);
	free(page->next);
	memset(page, 0, sizeof(*page));
}

bool jfs_patch_condition_holds(const struct jfs_patch *patch, const json_t *item)
{
	json_t *cur;

	if (!patch->cond_key)
		return true;
	cur = item ? json_object_get(item, patch->cond_key) : NULL;
	if (!patch->cond_value)
		return cur == NULL;
	return cur && jfs_json_equal(cur, patch->cond_value);
}

json_t *jfs_patch_apply(const json_t *item, const struct jfs_patch *patch)
{
	json_t *res = json_copy((json_t *)item);
	const char *key;
	json_t *val;
	size_t i;

	if (!res)
		return NULL;
	if (patch->set)
		json_object_foreach(patch->set, key, val)
			json_object_set(res, key, val);
	if (patch->unset)
		for (i = 0; i < json_array_size(patch->unset); i++)
			json_object_del(res, json_string_value(json_array_get(patch->unset, i)));
	return res;
}

/* The index of @key in @unset, or -1. */
static long unset_find(const json_t *unset, const char *key)
{
	const char *k;
	size_t i;

	if (!key)
		return -1;
	for (i = 0; i < json_array_size(unset); i++) {
		k = json_string_value(json_array_get(unset, i));
		if (k && !strcmp(k, key))
			return (long)i;
	}
	return -1;
}

bool jfs_unset_has(const json_t *unset, const char *key)
{
	return unset_find(unset, key) >= 0;
}

void jfs_unset_add(json_t *unset, const char *key)
{
	if (key && unset_find(unset, key) < 0)
		json_array_append_new(unset, json_string(key));
}

void jfs_unset_del(json_t *unset, const char *key)
{
	long i = unset_find(unset, key);

	if (i >= 0)
		json_array_remove(unset, (size_t)i);
}
