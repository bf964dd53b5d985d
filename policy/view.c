/* Element views: what of an item is shown, as pure functions of the item. */
#include "policy/policy.h"

#include <stdlib.h>
#include <string.h>

#include "common/isotime.h"
#include "common/json.h"

static int64_t iso_ms(const json_t *v)
{
	int64_t ms;

	if (!json_is_string(v) || !jfs_iso_parse(json_string_value(v), &ms))
		return -1;
	return ms;
}

int64_t jfs_item_updated_ms(const json_t *item)
{
	return iso_ms(json_object_get(item, "updatedAt"));
}

int64_t jfs_item_created_ms(const json_t *item)
{
	return iso_ms(json_object_get(item, "createdAt"));
}

int64_t jfs_item_session_updated_ms(const json_t *item)
{
	return iso_ms(json_object_get(json_object_get(item, "session"), "updatedAt"));
}

bool jfs_policy_session_expired(const struct jfs_policy_config *cfg, const json_t *item,
				int64_t now_ms)
{
	json_t *upd = json_object_get(json_object_get(item, "session"), "updatedAt");
	int64_t expires_s = cfg->session_expires_s > 0 ? cfg->session_expires_s : 900;
	int64_t ms;

	/* not -1 as "invalid": a valid time before 1970 is still a time */
	if (!json_is_string(upd) || !jfs_iso_parse(json_string_value(upd), &ms))
		return false;
	return now_ms - ms > expires_s * 1000;
}

json_t *jfs_policy_element(const struct jfs_policy_config *cfg, const json_t *item,
			   enum jfs_elem el, int64_t now_ms)
{
	const char *key = jfs_elem_key(el);

	if (!key || !cfg->enabled[el] || !json_is_object(item))
		return NULL;
	if (el == JFS_EL_SESSION && jfs_policy_session_expired(cfg, item, now_ms))
		return NULL;
	return json_object_get(item, key);
}

size_t jfs_policy_history_count(const struct jfs_policy_config *cfg, const json_t *item)
{
	size_t n;

	if (!cfg->enabled[JFS_EL_HISTORY] || !json_is_object(item))
		return 0;
	n = json_array_size(json_object_get(json_object_get(item, "history"), "items"));
	return n < cfg->history_size ? n : cfg->history_size;
}

/* Whether @key is a history item key that storedElements.history hides. */
static bool history_key_hidden(const struct jfs_policy_config *cfg, const char *key)
{
	json_t *v;
	size_t i;

	json_array_foreach(cfg->history_hidden, i, v)
		if (!strcmp(json_string_value(v), key))
			return true;
	return false;
}

json_t *jfs_policy_history_item(const struct jfs_policy_config *cfg, const json_t *item,
				size_t idx)
{
	json_t *stored, *out, *v;
	const char *key;

	if (idx >= jfs_policy_history_count(cfg, item))
		return NULL;
	stored = json_array_get(json_object_get(json_object_get(item, "history"), "items"), idx);
	/* an item that is not an object has no keys to hide: shown as stored */
	if (!json_is_object(stored) || !json_array_size(cfg->history_hidden))
		return json_incref(stored);
	out = json_object();
	if (!out)
		abort(); /* out of memory: CONTRIBUTING.md */
	json_object_foreach(stored, key, v)
		if (!history_key_hidden(cfg, key))
			json_object_set(out, key, v);
	return out;
}

bool jfs_policy_file_exists(const struct jfs_policy_config *cfg, const json_t *item,
			    enum jfs_elem el, size_t idx, int64_t now_ms)
{
	if (el == JFS_EL_HISTORY)
		return idx < jfs_policy_history_count(cfg, item);
	return el < JFS_EL__COUNT && jfs_policy_element(cfg, item, el, now_ms) != NULL;
}

char *jfs_policy_render(const struct jfs_policy_config *cfg, const json_t *item,
			enum jfs_elem el, size_t idx, int64_t now_ms, size_t *len)
{
	json_t *v;
	char *out;
	size_t n;

	switch (el) {
	case JFS_EL_HISTORY:
		v = jfs_policy_history_item(cfg, item, idx);
		if (!v)
			return NULL;
		out = jfs_json_render(v, len);
		json_decref(v);
		return out;
	case JFS_EL_CREATED_AT:
	case JFS_EL_UPDATED_AT:
		v = jfs_policy_element(cfg, item, el, now_ms);
		if (!v)
			return NULL;
		if (!json_is_string(v))
			return jfs_json_render(v, len);
		n = json_string_length(v);
		out = malloc(n + 2);
		if (!out)
			abort();
		memcpy(out, json_string_value(v), n);
		out[n] = '\n';
		out[n + 1] = '\0';
		*len = n + 1;
		return out;
	case JFS_EL_USER:
	case JFS_EL_SESSION:
		v = jfs_policy_element(cfg, item, el, now_ms);
		return v ? jfs_json_render(v, len) : NULL;
	default:
		return NULL;
	}
}
