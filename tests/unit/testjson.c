#include "testjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

json_t *jfs_test_json(const char *text)
{
	struct jfs_err err;
	json_t *v;

	if (jfs_json_parse(text, strlen(text), &v, &err)) {
		fprintf(stderr, "bad test JSON %s: %s\n", text, err.msg);
		exit(2);
	}
	return v;
}

char *jfs_test_stringify(const json_t *v)
{
	struct jfs_strbuf sb;

	jfs_strbuf_init(&sb);
	if (v)
		jfs_json_dump(v, &sb, 0, 0);
	else
		jfs_strbuf_addstr(&sb, "(null)");
	return jfs_strbuf_detach(&sb, NULL);
}
