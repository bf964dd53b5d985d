/* storedElements: Jovo's config shape, normalised. */
#include "policy/policy.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"

#define DEFAULT_EXPIRES_S 900
#define DEFAULT_HISTORY_SIZE 3
/* a history longer than this is surely a typo, and would cost a lot on every write */
#define MAX_HISTORY_SIZE 100000
/* ~292 million years in ms still fits an int64 */
#define MAX_EXPIRES_S (INT64_C(1) << 42)

static const char *const elem_keys[JFS_EL__COUNT] = {
	[JFS_EL_USER] = "user",
	[JFS_EL_SESSION] = "session",
	[JFS_EL_HISTORY] = "history",
	[JFS_EL_CREATED_AT] = "createdAt",
	[JFS_EL_UPDATED_AT] = "updatedAt",
};

const char *jfs_elem_key(enum jfs_elem el)
{
	if ((unsigned)el >= JFS_EL__COUNT)
		return NULL;
	return elem_keys[el];
}

static void config_defaults(struct jfs_policy_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->enabled[JFS_EL_USER] = true;
	cfg->enabled[JFS_EL_SESSION] = false;
	cfg->enabled[JFS_EL_HISTORY] = false;
	cfg->enabled[JFS_EL_CREATED_AT] = true;
	cfg->enabled[JFS_EL_UPDATED_AT] = true;
	cfg->session_expires_s = DEFAULT_EXPIRES_S;
	cfg->history_size = DEFAULT_HISTORY_SIZE;
}

/*
 * A whole number >= 0 and <= @max. Numbers may arrive as json_integer
 * (jansson's loader) or json_real (jfs_json_parse), so look at the value.
 */
static bool whole_number(const json_t *v, double max, int64_t *out)
{
	double d;

	if (!json_is_number(v))
		return false;
	d = jfs_json_number_value(v);
	if (!isfinite(d) || d < 0 || d > max || d != floor(d))
		return false;
	*out = (int64_t)d;
	return true;
}

/*
 * The "enabled" flag of element value @v named @name: true/false, or an
 * object whose "enabled" (a boolean) defaults to true.
 */
static int parse_enabled(const json_t *v, const char *name, bool *enabled, struct jfs_err *err)
{
	json_t *e;

	if (json_is_boolean(v)) {
		*enabled = json_is_true(v);
		return 0;
	}
	if (!json_is_object(v))
		return jfs_err_set(err, EINVAL,
				   "'storedElements.%s' must be true, false or an object", name);
	e = json_object_get(v, "enabled");
	if (!e) {
		*enabled = true;
		return 0;
	}
	if (!json_is_boolean(e))
		return jfs_err_set(err, EINVAL, "'storedElements.%s.enabled' must be true or false",
				   name);
	*enabled = json_is_true(e);
	return 0;
}

static void warn_unknown(const char *name, const char *key)
{
	jfs_log(LOG_WARNING, "unknown key 'storedElements.%s.%s' ignored", name, key);
}

static int parse_simple(const json_t *v, const char *name, bool *enabled, struct jfs_err *err)
{
	const char *key;
	json_t *sub;
	int ret;

	ret = parse_enabled(v, name, enabled, err);
	if (ret)
		return ret;
	if (json_is_object(v))
		json_object_foreach((json_t *)v, key, sub)
			if (strcmp(key, "enabled"))
				warn_unknown(name, key);
	return 0;
}

static int parse_session(const json_t *v, struct jfs_policy_config *cfg, struct jfs_err *err)
{
	const char *key;
	json_t *sub;
	int64_t s;
	int ret;

	ret = parse_enabled(v, "session", &cfg->enabled[JFS_EL_SESSION], err);
	if (ret || !json_is_object(v))
		return ret;
	json_object_foreach((json_t *)v, key, sub) {
		if (!strcmp(key, "enabled"))
			continue;
		if (strcmp(key, "expiresAfterSeconds")) {
			warn_unknown("session", key);
			continue;
		}
		if (!whole_number(sub, (double)MAX_EXPIRES_S, &s))
			return jfs_err_set(err, EINVAL,
					   "'storedElements.session.expiresAfterSeconds' must be a whole number of seconds >= 0");
		/* Jovo: `expiresAfterSeconds || 900` */
		cfg->session_expires_s = s ? s : DEFAULT_EXPIRES_S;
	}
	return 0;
}

static int parse_history(const json_t *v, struct jfs_policy_config *cfg, struct jfs_err *err)
{
	const char *key;
	json_t *sub;
	int64_t n;
	bool on;
	int ret;

	ret = parse_enabled(v, "history", &cfg->enabled[JFS_EL_HISTORY], err);
	if (ret || !json_is_object(v))
		return ret;
	json_object_foreach((json_t *)v, key, sub) {
		if (!strcmp(key, "enabled"))
			continue;
		if (!strcmp(key, "size")) {
			if (!whole_number(sub, MAX_HISTORY_SIZE, &n))
				return jfs_err_set(err, EINVAL,
						   "'storedElements.history.size' must be a whole number from 0 to %d",
						   MAX_HISTORY_SIZE);
			cfg->history_size = (unsigned)n;
			continue;
		}
		/* history.<key>: which keys a history item keeps */
		if (json_is_boolean(sub)) {
			on = json_is_true(sub);
		} else if (json_is_object(sub)) {
			json_t *e = json_object_get(sub, "enabled");

			if (e && !json_is_boolean(e))
				return jfs_err_set(err, EINVAL,
						   "'storedElements.history.%s.enabled' must be true or false",
						   key);
			on = !e || json_is_true(e);
		} else {
			return jfs_err_set(err, EINVAL,
					   "'storedElements.history.%s' must be true, false or an object",
					   key);
		}
		if (!on)
			json_array_append_new(cfg->history_hidden, json_string(key));
	}
	return 0;
}

int jfs_policy_config_parse(const json_t *stored, struct jfs_policy_config *cfg,
			    struct jfs_err *err)
{
	const char *key;
	json_t *v, *upd;
	int ret = 0;

	config_defaults(cfg);
	cfg->history_hidden = json_array();
	if (!cfg->history_hidden)
		return jfs_err_set(err, ENOMEM, "out of memory");
	if (!stored || json_is_null(stored))
		return 0;
	if (!json_is_object(stored)) {
		ret = jfs_err_set(err, EINVAL, "'storedElements' must be an object");
		goto out_release;
	}

	json_object_foreach((json_t *)stored, key, v) {
		if (!strcmp(key, "user"))
			ret = parse_simple(v, "user", &cfg->enabled[JFS_EL_USER], err);
		else if (!strcmp(key, "session"))
			ret = parse_session(v, cfg, err);
		else if (!strcmp(key, "history"))
			ret = parse_history(v, cfg, err);
		else if (!strcmp(key, "createdAt"))
			ret = parse_simple(v, "createdAt", &cfg->enabled[JFS_EL_CREATED_AT], err);
		else if (!strcmp(key, "updatedAt") || !strcmp(key, "updateAt"))
			continue; /* below, so that "updatedAt" wins whatever the order */
		else
			jfs_log(LOG_WARNING, "unknown key 'storedElements.%s' ignored", key);
		if (ret)
			goto out_release;
	}

	/* Jovo's TypeScript interface spells it "updateAt"; its default config and records "updatedAt" */
	upd = json_object_get(stored, "updatedAt");
	v = json_object_get(stored, "updateAt");
	if (upd && v) {
		jfs_log(LOG_WARNING,
			"'storedElements.updateAt' ignored: 'storedElements.updatedAt' is set");
	} else if (v) {
		jfs_log(LOG_WARNING,
			"'storedElements.updateAt' read as 'storedElements.updatedAt' (the key records use)");
		upd = v;
	}
	if (upd) {
		ret = parse_simple(upd, v == upd ? "updateAt" : "updatedAt",
				   &cfg->enabled[JFS_EL_UPDATED_AT], err);
		if (ret)
			goto out_release;
	}
	return 0;

out_release:
	jfs_policy_config_release(cfg);
	return ret;
}

void jfs_policy_config_release(struct jfs_policy_config *cfg)
{
	json_decref(cfg->history_hidden);
	cfg->history_hidden = NULL;
}

json_t *jfs_policy_config_describe(const struct jfs_policy_config *cfg)
{
	json_t *out = json_object(), *el, *v;
	size_t i;
	int e;

	for (e = 0; e < JFS_EL__COUNT; e++) {
		el = json_object();
		json_object_set_new(el, "enabled", json_boolean(cfg->enabled[e]));
		if (e == JFS_EL_SESSION)
			json_object_set_new(el, "expiresAfterSeconds",
					    json_integer(cfg->session_expires_s));
		if (e == JFS_EL_HISTORY) {
			json_object_set_new(el, "size", json_integer(cfg->history_size));
			json_array_foreach(cfg->history_hidden, i, v)
				json_object_set_new(el, json_string_value(v), json_false());
		}
		json_object_set_new(out, jfs_elem_key(e), el);
	}
	return out;
}
