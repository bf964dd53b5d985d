#include "backends/aws_cred.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strbuf.h"

/* explicit_bzero is glibc >= 2.25; a volatile loop keeps older ones honest */
void jfs_aws_free_secret(char *s)
{
	volatile char *p = s;

	if (!s)
		return;
	while (*p)
		*p++ = '\0';
	free(s);
}

const char *jfs_aws_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static char *xstrdup(const char *s)
{
	char *p;

	if (!s)
		return NULL;
	p = strdup(s);
	if (!p)
		abort();
	return p;
}

static char *xstrdupf(const char *fmt, const char *a, const char *b)
{
	struct jfs_strbuf sb;

	jfs_strbuf_init(&sb);
	jfs_strbuf_addf(&sb, fmt, a, b);
	return jfs_strbuf_detach(&sb, NULL);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/*
 * Section names the way botocore and the JS SDK read them: in the config
 * file only "[default]" and "[profile x]" are profiles ("[profile  x ]"
 * trims); "[sso-session x]", "[services x]" and bare "[x]" are not.
 */
static const char *section_profile(char *sect, bool config_style)
{
	if (!config_style)
		return sect;
	if (!strcmp(sect, "default"))
		return sect;
	if (!strncmp(sect, "profile", 7) && (sect[7] == ' ' || sect[7] == '\t'))
		return trim(sect + 8);
	/* kept under its own name for SSO profiles: "[sso-session x]" -> "sso-session x" */
	if (!strncmp(sect, "sso-session", 11) && (sect[11] == ' ' || sect[11] == '\t')) {
		char *name = trim(sect + 12);

		memmove(sect + 12, name, strlen(name) + 1);
		sect[11] = ' ';
		return sect;
	}
	return NULL;
}

json_t *jfs_aws_ini_parse(const char *text, bool config_style)
{
	json_t *res = json_object(), *cur = NULL;
	bool nested = false;
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, n), *s, *eq;
		bool indented;

		if (!line)
			abort();
		p += n + (nl ? 1 : 0);
		indented = line[0] == ' ' || line[0] == '\t';
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			goto next;
		if (*s == '[') {
			char *close = strchr(s, ']');
			const char *name;

			nested = false;
			cur = NULL;
			if (!close)
				goto next;
			*close = '\0';
			name = section_profile(trim(s + 1), config_style);
			if (!name || !*name)
				goto next;
			cur = json_object_get(res, name);
			if (!cur) {
				cur = json_object();
				/* a name that is not UTF-8 is no key, and set_new() then freed cur */
				if (json_object_set_new(res, name, cur))
					cur = NULL;
			}
			goto next;
		}
		/* "s3 =" followed by indented lines is a nested block: skip it */
		if (indented && nested)
			goto next;
		eq = strchr(s, '=');
		if (!cur || !eq)
			goto next;
		*eq = '\0';
		{
			char *key = trim(s), *val = trim(eq + 1);

			nested = !*val;
			if (*key && *val)
				json_object_set_new(cur, key, json_string(val));
		}
next:
		free(line);
	}
	return res;
}

json_t *jfs_aws_ini_load(const char *path, bool config_style)
{
	struct jfs_strbuf sb;
	char buf[4096];
	json_t *res;
	size_t n;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return NULL;
	jfs_strbuf_init(&sb);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		jfs_strbuf_add(&sb, buf, n);
	if (ferror(f)) {
		fclose(f);
		jfs_strbuf_release(&sb);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	res = jfs_aws_ini_parse(sb.buf, config_style);
	/* the buffer held secrets */
	memset(sb.buf, 0, sb.len);
	jfs_strbuf_release(&sb);
	return res;
}

static char *home_path(const char *rel)
{
	const char *home = jfs_aws_env("HOME");
	struct passwd pw, *pwp = NULL;
	char buf[4096];

	if (!home && !getpwuid_r(getuid(), &pw, buf, sizeof(buf), &pwp) && pwp)
		home = pwp->pw_dir;
	if (!home)
		home = "/";
	return xstrdupf("%s/%s", home, rel);
}

static char *shared_file(const char *env, const char *rel)
{
	const char *v = jfs_aws_env(env);

	if (!v)
		return home_path(rel);
	/* the SDKs expand a leading ~/ here too */
	if (v[0] == '~' && v[1] == '/')
		return home_path(v + 2);
	return xstrdup(v);
}

static const char *prof_get(json_t *prof, const char *key)
{
	return json_string_value(json_object_get(prof, key));
}

void jfs_aws_cred_set(struct jfs_aws_cred *cred, const char *key_id, const char *secret,
		      const char *token, const char *source)
{
	free(cred->access_key_id);
	jfs_aws_free_secret(cred->secret_access_key);
	jfs_aws_free_secret(cred->session_token);
	free(cred->source);
	cred->access_key_id = xstrdup(key_id);
	cred->secret_access_key = xstrdup(secret);
	cred->session_token = token && *token ? xstrdup(token) : NULL;
	cred->source = xstrdup(source);
}

void jfs_aws_cred_release(struct jfs_aws_cred *cred)
{
	free(cred->access_key_id);
	jfs_aws_free_secret(cred->secret_access_key);
	jfs_aws_free_secret(cred->session_token);
	free(cred->source);
	free(cred->profile);
	free(cred->region);
	free(cred->region_source);
	memset(cred, 0, sizeof(*cred));
}

static const char *const unsupported_keys[] = {
	"role_arn", "credential_process", "sso_start_url", "sso_session",
	"web_identity_token_file", "credential_source",
};

int jfs_aws_cred_load(struct jfs_aws_cred *cred, struct jfs_err *err)
{
	const char *env_id = jfs_aws_env("AWS_ACCESS_KEY_ID");
	const char *env_secret = jfs_aws_env("AWS_SECRET_ACCESS_KEY");
	const char *env_profile = jfs_aws_env("AWS_PROFILE");
	char *cred_path, *conf_path;
	json_t *cfile, *conf, *cp, *fp;
	const char *v;
	size_t i;
	int ret = 0;

	memset(cred, 0, sizeof(*cred));
	cred->profile = xstrdup(env_profile ? env_profile : "default");
	cred_path = shared_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
	conf_path = shared_file("AWS_CONFIG_FILE", ".aws/config");
	cfile = jfs_aws_ini_load(cred_path, false);
	conf = jfs_aws_ini_load(conf_path, true);
	cp = json_object_get(cfile, cred->profile);
	fp = json_object_get(conf, cred->profile);

	/* region first: it does not depend on where the keys come from */
	if ((v = jfs_aws_env("AWS_REGION"))) {
		cred->region = xstrdup(v);
		cred->region_source = xstrdup("AWS_REGION");
	} else if ((v = jfs_aws_env("AWS_DEFAULT_REGION"))) {
		cred->region = xstrdup(v);
		cred->region_source = xstrdup("AWS_DEFAULT_REGION");
	} else if ((v = prof_get(cp, "region"))) {
		cred->region = xstrdup(v);
		cred->region_source = xstrdupf("profile %s from %s", cred->profile, cred_path);
	} else if ((v = prof_get(fp, "region"))) {
		cred->region = xstrdup(v);
		cred->region_source = xstrdupf("profile %s from %s", cred->profile, conf_path);
	}

	if (env_id && env_secret) {
		cred->access_key_id = xstrdup(env_id);
		cred->secret_access_key = xstrdup(env_secret);
		v = jfs_aws_env("AWS_SESSION_TOKEN");
		cred->session_token = v ? xstrdup(v) : NULL;
		cred->source = xstrdup("env");
		if (env_profile)
			jfs_log(LOG_INFO, "aws credentials from the environment; AWS_PROFILE '%s' "
				"is used for the region only", env_profile);
		goto out_free;
	}
	if (env_id || env_secret)
		jfs_log(LOG_WARNING, "%s is set but %s is not: environment credentials ignored",
			env_id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			env_id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");

	/* keys of one profile come from one file: credentials wins, as in the SDKs */
	if (prof_get(cp, "aws_access_key_id") && prof_get(cp, "aws_secret_access_key")) {
		cred->access_key_id = xstrdup(prof_get(cp, "aws_access_key_id"));
		cred->secret_access_key = xstrdup(prof_get(cp, "aws_secret_access_key"));
		v = prof_get(cp, "aws_session_token");
		cred->session_token = v ? xstrdup(v) : NULL;
		cred->source = xstrdupf("profile %s from %s", cred->profile, cred_path);
		goto out_free;
	}
	if (prof_get(fp, "aws_access_key_id") && prof_get(fp, "aws_secret_access_key")) {
		cred->access_key_id = xstrdup(prof_get(fp, "aws_access_key_id"));
		cred->secret_access_key = xstrdup(prof_get(fp, "aws_secret_access_key"));
		v = prof_get(fp, "aws_session_token");
		cred->session_token = v ? xstrdup(v) : NULL;
		cred->source = xstrdupf("profile %s from %s", cred->profile, conf_path);
		goto out_free;
	}

	for (i = 0; i < sizeof(unsupported_keys) / sizeof(unsupported_keys[0]); i++) {
		if (prof_get(cp, unsupported_keys[i]) || prof_get(fp, unsupported_keys[i])) {
			ret = jfs_err_set(err, EACCES,
					  "aws profile '%s' uses %s, which jovofs does not support: "
					  "give it static keys or set AWS_ACCESS_KEY_ID and "
					  "AWS_SECRET_ACCESS_KEY", cred->profile, unsupported_keys[i]);
			goto out_release;
		}
	}
	if (env_profile && !cp && !fp)
		ret = jfs_err_set(err, EACCES, "aws profile '%s' not found in '%s' or '%s'",
				  cred->profile, cred_path, conf_path);
	else
		ret = jfs_err_set(err, EACCES,
				  "no aws credentials: looked at AWS_ACCESS_KEY_ID/"
				  "AWS_SECRET_ACCESS_KEY and profile '%s' in '%s' and '%s'",
				  cred->profile, cred_path, conf_path);
out_release:
	/* the region stays: explicit keys from the config file may follow */
	free(cred->source);
	cred->source = NULL;
out_free:
	json_decref(cfile);
	json_decref(conf);
	free(cred_path);
	free(conf_path);
	return ret;
}
