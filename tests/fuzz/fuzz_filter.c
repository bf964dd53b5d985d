/*
 * The filter language of .jovofs/find/ (policy/filter.c): parsing a view's
 * name and matching records against it.
 *
 * The input is a file name (up to the first newline) and then a JSON
 * record. Properties:
 *  - a name is a filter (0) or refused with EINVAL or ENOENT and a
 *    message; a name the kernel can never send (with '/' or NUL) is not
 *    tried;
 *  - a filter has conditions, each with a path of non-empty length;
 *  - parsing is a function: the same name parses to a filter that matches
 *    exactly the same records;
 *  - pushdown is sound: a record matches the filter exactly when the
 *    partial record a store sends for it (jfs_filter_project()) does, so
 *    no store's projection changes a view's answer.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "policy/policy.h"

#include "fuzz.h"

static struct jfs_policy_config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct jfs_err err;
	json_t *c = json_loads("{\"user\": true, \"session\": {\"expiresAfterSeconds\": 900}, "
			       "\"history\": {\"enabled\": true, \"size\": 3}, "
			       "\"createdAt\": true, \"updatedAt\": true}",
			       0, NULL);

	(void)argc;
	(void)argv;
	jfs_log_set_level(LOG_ERR);
	jfs_err_clear(&err);
	if (!c || jfs_policy_config_parse(c, &cfg, &err) < 0)
		fuzz_fail("config: %s", err.msg);
	json_decref(c);
	return 0;
}

static void fuzz_one(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t nlen = nl ? (size_t)(nl - data) : size;
	struct jfs_filter *f = NULL, *g = NULL;
	struct jfs_err err;
	json_t *item = NULL, *part;
	char *name;
	size_t i;
	int rc;

	if (!nlen || nlen > 255 || memchr(data, '/', nlen) || memchr(data, '\0', nlen))
		return;
	name = malloc(nlen + 1);
	if (!name)
		abort();
	memcpy(name, data, nlen);
	name[nlen] = '\0';
	jfs_err_clear(&err);
	rc = jfs_policy_filter_parse(&cfg, name, &f, &err);
	if (rc < 0) {
		FUZZ_CHECK((rc == -EINVAL || rc == -ENOENT) && err.msg[0] && !f,
			   "'%s' refused with %d and '%s'", name, rc, err.msg);
		free(name);
		return;
	}
	FUZZ_CHECK(f && f->n > 0, "'%s': a filter without conditions", name);
	for (i = 0; i < f->n; i++)
		FUZZ_CHECK(f->cond[i].path.n > 0, "'%s': condition %zu has an empty path", name, i);
	jfs_err_clear(&err);
	FUZZ_CHECK(jfs_policy_filter_parse(&cfg, name, &g, &err) == 0, "'%s' parses once only",
		   name);
	if (nl)
		item = json_loadb((const char *)nl + 1, size - nlen - 1,
				  JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
	if (json_is_object(item)) {
		bool whole = jfs_filter_match(f, item);

		FUZZ_CHECK(jfs_filter_match(g, item) == whole, "'%s': two parses disagree", name);
		part = jfs_filter_project(f, item);
		if (jfs_filter_match(f, part) != whole) {
			fuzz_show("record", item);
			fuzz_show("projection", part);
			fuzz_fail("'%s': the projection %s, the record %s", name,
				  whole ? "does not match" : "matches", whole ? "does" : "does not");
		}
		json_decref(part);
	}
	json_decref(item);
	jfs_policy_filter_free(f);
	jfs_policy_filter_free(g);
	free(name);
}
