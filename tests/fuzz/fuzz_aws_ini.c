/*
 * The AWS shared credentials/config file parser (backends/aws_cred.c).
 *
 * The input is the text of ~/.aws/credentials or ~/.aws/config (up to its
 * first NUL), parsed in both styles. Properties of the result: an object
 * of profiles, each an object of non-empty, trimmed string keys and
 * values on one line; and printed back as an ini file ("[name]" or
 * "[profile name]", "key = value" lines) it parses to the same profiles.
 */
#include <string.h>

#include "backends/aws_cred.h"
#include "common/log.h"

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	jfs_log_set_level(LOG_ERR);
	return 0;
}

static bool trimmed_line(const char *s)
{
	size_t n = strlen(s);

	return n && !strchr(s, '\n') && s[0] != ' ' && s[0] != '\t' && s[n - 1] != ' ' &&
	       s[n - 1] != '\t' && s[n - 1] != '\r';
}

static void check(const char *text, bool config_style)
{
	struct jfs_strbuf sb;
	const char *name, *key;
	json_t *res, *prof, *v, *back;

	res = jfs_aws_ini_parse(text, config_style);
	FUZZ_CHECK(json_is_object(res), "no object");
	jfs_strbuf_init(&sb);
	json_object_foreach(res, name, prof)
	{
		FUZZ_CHECK(trimmed_line(name) && !strchr(name, ']'), "profile name '%s'", name);
		FUZZ_CHECK(json_is_object(prof), "profile '%s' is no object", name);
		if (config_style && strcmp(name, "default"))
			jfs_strbuf_addf(&sb, "[profile %s]\n", name);
		else
			jfs_strbuf_addf(&sb, "[%s]\n", name);
		json_object_foreach(prof, key, v)
		{
			FUZZ_CHECK(trimmed_line(key) && !strchr(key, '='), "key '%s'", key);
			FUZZ_CHECK(json_is_string(v) && trimmed_line(json_string_value(v)),
				   "value of '%s'", key);
			jfs_strbuf_addf(&sb, "%s = %s\n", key, json_string_value(v));
		}
	}
	back = jfs_aws_ini_parse(sb.buf, config_style);
	if (!json_equal(res, back)) {
		fuzz_show("parsed", res);
		fuzz_show("printed and parsed", back);
		fprintf(stderr, "fuzz: printed:\n%s", sb.buf);
		fuzz_fail("printing and parsing again gives other profiles (%s style)",
			  config_style ? "config" : "credentials");
	}
	json_decref(back);
	json_decref(res);
	jfs_strbuf_release(&sb);
}

static void fuzz_one(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);

	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	check(text, false);
	check(text, true);
	free(text);
}
