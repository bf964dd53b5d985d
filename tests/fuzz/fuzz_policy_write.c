/*
 * The policy's validation of element files (policy/write.c), through
 * jfs_policy_write() over the in-memory store (tests/unit/memstore.c).
 *
 * The input's first byte picks the element file (user.json, session.json,
 * history/N.json, createdAt, updatedAt) and the policy, the second the
 * stored record; the rest is the new content of the file. Properties:
 *  - a refused write fails with EINVAL (EPERM for a disabled element or
 *    past history.size) and a message naming the file, and changes nothing;
 *  - a no-op changes nothing;
 *  - an accepted write changes the element and updatedAt only, and the
 *    file then shows what was written (timestamps as the time they name,
 *    a session with its refreshed updatedAt, history without hidden keys);
 *  - writing back what the file then shows is a no-op
 *    (render(parse(x)) is canonical).
 */
#include <errno.h>
#include <string.h>

#include "common/isotime.h"
#include "common/log.h"
#include "policy/policy.h"
#include "tests/unit/memstore.h"

#include "fuzz.h"

static const char *const configs[] = {
    "{\"user\": true, \"session\": {\"expiresAfterSeconds\": 900}, "
    "\"history\": {\"enabled\": true, \"size\": 3, \"nlu\": false}, "
    "\"createdAt\": true, \"updatedAt\": true}",
    "{\"user\": true, \"session\": true, \"history\": {\"size\": 2, \"asr\": false}, "
    "\"createdAt\": true, \"updatedAt\": false}",
};

static const char *const records[] = {
    "{\"id\": \"u\", \"user\": {\"data\": {\"name\": \"Ada\", \"score\": 3}}, "
    "\"session\": {\"id\": \"s-1\", \"data\": {\"step\": 2}, \"state\": [], "
    "\"createdAt\": \"2026-11-20T10:00:00.000Z\", \"updatedAt\": \"2026-11-20T10:02:11.482Z\"}, "
    "\"history\": {\"items\": [{\"output\": [{\"message\": \"hi\"}], \"nlu\": {\"intent\": \"A\"}, "
    "\"asr\": {\"text\": \"x\"}}, {\"output\": []}]}, "
    "\"custom\": {\"keep\": [1, 0.1, 12345678901234567000]}, "
    "\"createdAt\": \"2026-06-30T05:50:04.034Z\", \"updatedAt\": \"2026-11-20T10:02:11.482Z\"}",
    "{\"id\": \"u\", \"user\": {\"data\": {}}, \"createdAt\": \"2026-06-30T05:50:04.034Z\", "
    "\"updatedAt\": \"2026-06-30T05:50:04.034Z\"}",
    "{\"id\": \"u\"}",
    "{\"id\": \"u\", \"user\": 5, \"session\": [], \"history\": {\"items\": 7}, "
    "\"createdAt\": \"yesterday\", \"updatedAt\": 1}",
};

#define N_CONFIGS (sizeof(configs) / sizeof(configs[0]))
#define N_RECORDS (sizeof(records) / sizeof(records[0]))

static struct jfs_policy policies[N_CONFIGS];
static json_t *items[N_RECORDS];
static struct jfs_memstore *ms;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct jfs_err err;
	json_t *v;
	size_t i;

	jfs_log_set_level(LOG_ERR);
	ms = jfs_memstore_new();
	for (i = 0; i < N_CONFIGS; i++) {
		if (jfs_json_parse(configs[i], strlen(configs[i]), &v, &err) ||
		    jfs_policy_config_parse(v, &policies[i].cfg, &err))
			fuzz_fail("config %zu: %s", i, err.msg);
		json_decref(v);
		policies[i].store = &ms->base;
	}
	for (i = 0; i < N_RECORDS; i++)
		if (jfs_json_parse(records[i], strlen(records[i]), &items[i], &err))
			fuzz_fail("record %zu: %s", i, err.msg);
	return 0;
}

static const char *file_name(enum jfs_elem el)
{
	static const char *const names[] = {
	    "u/user.json", "u/session.json", "u/history/N.json", "u/createdAt", "u/updatedAt",
	};

	return names[el];
}

/* Everything but @el's key and updatedAt is as before. */
static void only_element_changed(const json_t *before, const json_t *after, enum jfs_elem el)
{
	const char *key, *ekey = jfs_elem_key(el);
	json_t *v;

	json_object_foreach((json_t *)before, key, v)
	{
		if (!strcmp(key, ekey) || !strcmp(key, "updatedAt"))
			continue;
		FUZZ_CHECK(jfs_json_equal(v, json_object_get(after, key)),
			   "a write of %s changed '%s'", ekey, key);
	}
	json_object_foreach((json_t *)after, key, v) FUZZ_CHECK(
	    !strcmp(key, ekey) || !strcmp(key, "updatedAt") || json_object_get(before, key),
	    "a write of %s added '%s'", ekey, key);
}

/* The file shows what was written. */
static void shows_written(const struct jfs_policy *p, const json_t *stored, enum jfs_elem el,
			  size_t idx, const char *text, size_t len)
{
	json_t *written, *shown, *v;
	char *rendered;
	size_t rlen, i;
	int64_t a, b;

	rendered = jfs_policy_render(&p->cfg, stored, el, idx, jfs_now_ms(), &rlen);
	FUZZ_CHECK(rendered, "%s does not exist after a write", file_name(el));
	if (el == JFS_EL_CREATED_AT || el == JFS_EL_UPDATED_AT) {
		char *t = strndup(text, len), *s = t, *e;

		FUZZ_CHECK(t, "out of memory");
		while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r')))
			*--e = '\0';
		FUZZ_CHECK(rlen > 1 && rendered[rlen - 1] == '\n', "a time without its newline");
		rendered[rlen - 1] = '\0';
		FUZZ_CHECK(jfs_iso_parse(s, &a) && jfs_iso_parse(rendered, &b) && a == b,
			   "'%s' written, '%s' shown", s, rendered);
		free(t);
		free(rendered);
		return;
	}
	FUZZ_CHECK(!jfs_json_parse(text, len, &written, NULL), "accepted text does not parse");
	FUZZ_CHECK(!jfs_json_parse(rendered, rlen, &shown, NULL),
		   "the rendered file does not parse");
	if (el == JFS_EL_SESSION) {
		/* a write refreshes the session's updatedAt (and adds createdAt) */
		json_object_del(shown, "updatedAt");
		json_object_del(written, "updatedAt");
		if (!json_object_get(written, "createdAt"))
			json_object_del(shown, "createdAt");
	}
	if (el == JFS_EL_HISTORY)
		json_array_foreach(p->cfg.history_hidden, i, v)
		    json_object_del(written, json_string_value(v));
	if (!jfs_json_equal(written, shown)) {
		fuzz_show("written", written);
		fuzz_show("shown", shown);
		fuzz_fail("%s shows another value than was written", file_name(el));
	}
	json_decref(written);
	json_decref(shown);
	free(rendered);
}

static void fuzz_one(const uint8_t *data, size_t size)
{
	struct jfs_write_result res = {0}, res2 = {0};
	struct jfs_policy *p;
	struct jfs_err err;
	enum jfs_elem el;
	json_t *before, *after;
	const char *text;
	char *rendered;
	size_t idx = 0, len, rlen;
	unsigned updates;
	int ret;

	if (size < 2)
		return;
	el = (enum jfs_elem)(data[0] % JFS_EL__COUNT);
	if (el == JFS_EL_HISTORY)
		idx = (data[0] >> 3) % 4;
	p = &policies[(data[0] >> 5) % N_CONFIGS];
	before = items[data[1] % N_RECORDS];
	text = (const char *)data + 2;
	len = size - 2;

	jfs_memstore_put_new(ms, "u", json_deep_copy(before));
	jfs_memstore_reset_counts(ms);
	jfs_err_clear(&err);
	ret = jfs_policy_write(p, "u", NULL, el, idx, text, len, file_name(el), &res, &err);
	after = jfs_memstore_get(ms, "u");
	if (ret) {
		FUZZ_CHECK(ret == -EINVAL || (ret == -EPERM && (!p->cfg.enabled[el] ||
								(el == JFS_EL_HISTORY &&
								 idx >= p->cfg.history_size))),
			   "refused with %d: %s", ret, err.msg);
		FUZZ_CHECK(err.code == -ret && strstr(err.msg, file_name(el)),
			   "the reason does not name the file: '%s'", err.msg);
		FUZZ_CHECK(ms->updates == 0 && jfs_json_equal(before, after),
			   "a refused write changed the record");
		goto out;
	}
	if (res.noop) {
		FUZZ_CHECK(ms->updates == 0 && jfs_json_equal(before, after),
			   "a no-op changed the record");
		goto out;
	}
	FUZZ_CHECK(ms->updates == 1, "%u updates for one write", ms->updates);
	FUZZ_CHECK(res.item && jfs_json_equal(res.item, after),
		   "the result is not the stored record");
	only_element_changed(before, after, el);
	shows_written(p, after, el, idx, text, len);

	/* writing back what is shown now changes nothing */
	rendered = jfs_policy_render(&p->cfg, after, el, idx, jfs_now_ms(), &rlen);
	updates = ms->updates;
	jfs_err_clear(&err);
	ret = jfs_policy_write(p, "u", NULL, el, idx, rendered, rlen, file_name(el), &res2, &err);
	FUZZ_CHECK(ret == 0 && res2.noop && ms->updates == updates,
		   "writing back the shown %s is no no-op (%d: %s)", file_name(el), ret, err.msg);
	free(rendered);
out:
	jfs_write_result_release(&res);
	jfs_write_result_release(&res2);
}
