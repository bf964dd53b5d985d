/* Command line and config file. */
#include "fs/jfs.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/json.h"
#include "common/log.h"
#include "config.h"

#define JFS_OPT(t, p, v) { t, offsetof(struct jfs_opts, p), v }

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_RO,
	KEY_DROP,
	KEY_CHECK,
};

static const struct fuse_opt jfs_opt_spec[] = {
	JFS_OPT("config=%s", config_file, 0),
	JFS_OPT("allow_delete", allow_delete, 1),
	JFS_OPT("core_dump", core_dump, 1),
	JFS_OPT("uid=%u", uid, 0),
	JFS_OPT("uid=", uid_set, 1),
	JFS_OPT("gid=%u", gid, 0),
	JFS_OPT("gid=", gid_set, 1),
	JFS_OPT("umask=%o", umask, 0),
	JFS_OPT("umask=", umask_set, 1),
	JFS_OPT("dmode=%o", dmode, 0),
	JFS_OPT("dmode=", dmode_set, 1),
	JFS_OPT("fmode=%o", fmode, 0),
	JFS_OPT("fmode=", fmode_set, 1),
	JFS_OPT("cache_timeout=%lf", cache_timeout, 0),
	JFS_OPT("write_delay=%d", write_delay_ms, 0),
	JFS_OPT("retry_timeout=%d", retry_ms, 0),
	JFS_OPT("request_timeout=%d", timeout_ms, 0),
	JFS_OPT("max_file_size=%zu", max_file_size, 0),
	JFS_OPT("cache_size=%zu", cache_size, 0),
	JFS_OPT("snapshot_max=%zu", snapshot_max, 0),
	JFS_OPT("scratch_max=%zu", scratch_max, 0),
	JFS_OPT("journal=%s", journal, 0),
	JFS_OPT("journal_max=%zu", journal_max, 0),
	JFS_OPT("mask=%s", mask, 0),
	JFS_OPT("mask_ids", mask_ids, 1),
	JFS_OPT("metrics_listen=%s", metrics_listen, 0),
	FUSE_OPT_KEY("--check", KEY_CHECK),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	/* fstab words that mean nothing to a FUSE daemon */
	FUSE_OPT_KEY("auto", KEY_DROP),
	FUSE_OPT_KEY("noauto", KEY_DROP),
	FUSE_OPT_KEY("user", KEY_DROP),
	FUSE_OPT_KEY("users", KEY_DROP),
	FUSE_OPT_KEY("nouser", KEY_DROP),
	FUSE_OPT_KEY("_netdev", KEY_DROP),
	FUSE_OPT_KEY("nofail", KEY_DROP),
	FUSE_OPT_KEY("defaults", KEY_DROP),
	FUSE_OPT_KEY("x-systemd.", KEY_DROP),
	FUSE_OPT_END
};

/*
 * A backend's own -o option (the backends' tables say which, and where in
 * their config part the value goes): kept for apply_overrides(). Returns
 * 1 when @arg is one, 0 when not, -1 on out of memory.
 */
static int backend_arg(struct jfs_opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct jfs_backend_option *opt;
	struct jfs_backend_arg *a;
	char name[64];

	if (nlen >= sizeof(name))
		return 0;
	memcpy(name, arg, nlen);
	name[nlen] = '\0';
	opt = jfs_policy_backend_option(name, NULL);
	if (!opt || !opt->path != !eq)
		return 0; /* not a backend's, or a value where a flag is meant (or back) */
	a = realloc(o->bargs, (o->nbargs + 1) * sizeof(*a));
	if (!a)
		return -1;
	o->bargs = a;
	a = &o->bargs[o->nbargs];
	a->name = strdup(name);
	a->value = eq ? strdup(eq + 1) : NULL;
	if (!a->name || (eq && !a->value)) {
		free(a->name);
		free(a->value);
		return -1;
	}
	o->nbargs++;
	return 1;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct jfs_opts *o = data;
	int rc;

	switch (key) {
	case KEY_HELP:
		o->show_help = 1;
		return 1; /* fuse_parse_cmdline prints its part too */
	case KEY_VERSION:
		o->show_version = 1;
		return 1;
	case KEY_RO:
		o->ro = 1;
		return 1; /* the kernel mounts read-only too */
	case KEY_DROP:
		return 0;
	case KEY_CHECK:
		o->check = 1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		/* mount.fuse3 passes "SOURCE MOUNTPOINT": keep both, decide after parsing */
		if (o->nonopts >= 2) {
			fprintf(stderr, "jovofs: too many arguments: '%s'\n", arg);
			return -1;
		}
		o->nonopt[o->nonopts] = strdup(arg);
		if (!o->nonopt[o->nonopts])
			return -1;
		o->nonopts++;
		return 0;
	default:
		if (!strncmp(arg, "x-systemd.", 10) || !strncmp(arg, "comment=", 8))
			return 0;
		rc = backend_arg(o, arg);
		return rc < 0 ? -1 : !rc;
	}
}

static bool backend_arg_given(const struct jfs_opts *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->nbargs; i++)
		if (!strcmp(o->bargs[i].name, name))
			return true;
	return false;
}

/*
 * The source of "jovofs SOURCE MOUNTPOINT" (as mount(8) and fstab give
 * it): "BACKEND:VALUE" for a backend's selecting option ("filedb:PATH",
 * "dynamodb:TABLE"), "BACKEND" for a selecting flag ("mongodb"), else the
 * path of a config file. An -o option of the same name wins.
 */
static int apply_source(struct jfs_opts *o, const char *src)
{
	const struct jfs_backend_option *opt;
	const char *colon = strchr(src, ':');
	char arg[4096];

	if (colon && (size_t)(colon - src) < 64) {
		snprintf(arg, sizeof(arg), "%.*s", (int)(colon - src), src);
		opt = jfs_policy_backend_option(arg, NULL);
		if (opt && opt->selects && opt->path) {
			if (backend_arg_given(o, arg))
				return 0;
			snprintf(arg, sizeof(arg), "%.*s=%s", (int)(colon - src), src, colon + 1);
			return backend_arg(o, arg) < 0 ? -1 : 0;
		}
	}
	opt = jfs_policy_backend_option(src, NULL);
	if (opt && opt->selects && !opt->path)
		return backend_arg_given(o, src) || backend_arg(o, src) >= 0 ? 0 : -1;
	if (strcmp(src, "jovofs") && strcmp(src, "none") && !o->config_file) {
		o->config_file = strdup(src);
		if (!o->config_file)
			return -1;
	}
	return 0;
}

void jfs_options_usage(const char *prog)
{
	const struct jfs_backend_option *opt;
	char arg[64];
	size_t i;

	printf("usage: %s [options] [SOURCE] MOUNTPOINT\n"
	       "       %s --check [options] [SOURCE] [MOUNTPOINT]\n\n"
	       "SOURCE (as mount(8) passes it): filedb:PATH, dynamodb:TABLE, mongodb or a config file\n\n"
	       "Shows the users of a Jovo v4 app's database as files.\n\n"
	       "jovofs options:\n"
	       "    --check                check the config, the credentials and the backend (one\n"
	       "                           listing page), print a summary and exit: 0 when all is well\n"
	       "    -o config=FILE         JSON config: backend parts in Jovo's shape and storedElements\n",
	       prog, prog);
	for (i = 0; jfs_policy_backend_name(i); i++) {
		for (opt = jfs_policy_backend_options(i); opt && opt->name; opt++) {
			snprintf(arg, sizeof(arg), "%s%s%s", opt->name, opt->arg ? "=" : "",
				 opt->arg ? opt->arg : "");
			printf("    -o %-20s%s\n", arg, opt->help);
		}
	}
	printf("    -o ro                  read-only: every write fails with EROFS\n"
	       "    -o allow_delete        let rm and rmdir delete stored elements and users\n"
	       "    -o uid=N,gid=N         owner of all files (default: the mounting user)\n"
	       "    -o umask=NNN           permission bits taken off directories (0777) and files\n"
	       "                           (0666); with allow_other, umask=077 keeps others out\n"
	       "    -o dmode=NNN,fmode=NNN permission bits of directories and files (0755, 0644)\n"
	       "    -o core_dump           allow core dumps (off: they would hold secrets and records)\n"
	       "    -o cache_timeout=SECS  how long records and listings are cached (default 1)\n"
	       "    -o write_delay=MS      FileDb: edits gather this long before one save (default 100)\n"
	       "    -o retry_timeout=MS    how long a failing backend is retried (default 10000)\n"
	       "    -o request_timeout=MS  one backend request's timeout (default 5000)\n"
	       "    -o max_file_size=N     largest element file a write may make (default 1048576)\n"
	       "    -o cache_size=N        bytes of parsed records kept in memory (default 33554432)\n"
	       "    -o snapshot_max=N      bytes of file versions readers' snapshots share (default 67108864)\n"
	       "    -o scratch_max=N       bytes files being written and scratch files may hold (default 268435456)\n"
	       "    -o journal=PATH|off    the journal of changes (default: /var/lib/jovofs/NAME.journal\n"
	       "                           for root, else $XDG_STATE_HOME/jovofs/NAME.journal)\n"
	       "    -o journal_max=N       bytes before the journal moves to PATH.1 (default 67108864)\n"
	       "    -o mask=PATH[:PATH..]  read-only: show these values as pseudonyms (user.data.email,\n"
	       "                           history.items.*.input.text); key from the config's mask.key\n"
	       "    -o mask_ids            with -o mask: user directories (and every id shown) are\n"
	       "                           pseudonyms too\n"
	       "    -o metrics_listen=ADDR:PORT\n"
	       "                           serve .jovofs/metrics at http://ADDR:PORT/metrics (Prometheus)\n"
	       "\n"
	       "Secrets (MongoDB passwords, AWS keys) are read only from the config file\n"
	       "or the environment, never from the command line.\n\n");
}

static int read_file(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "r");
	struct jfs_strbuf sb;
	char chunk[65536];
	size_t n;

	if (!f)
		return -errno;
	jfs_strbuf_init(&sb);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		jfs_strbuf_add(&sb, chunk, n);
	if (ferror(f)) {
		fclose(f);
		jfs_strbuf_release(&sb);
		return -EIO;
	}
	fclose(f);
	*buf = jfs_strbuf_detach(&sb, len);
	return 0;
}

/** Get (creating) the object at @key of @obj. Borrowed. */
static json_t *obj_path(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_object(v)) {
		v = json_object();
		json_object_set_new(obj, key, v);
	}
	return v;
}


/* Secrets a config may hold, by path: config parts are Jovo's own */
static const char *const secret_paths[][4] = {
	{ "mongodb", "connectionString", NULL },
	{ "dynamodb", "libraryConfig", "dynamoDbClient", "credentials" },
	{ "mask", "key", NULL },
};

/* The value at @path (NULL-ended, at most 4 keys) of @obj, or NULL. Borrowed. */
static json_t *at_path(json_t *obj, const char *const *path)
{
	size_t i;

	for (i = 0; i < 4 && path[i] && obj; i++)
		obj = json_object_get(obj, path[i]);
	return obj;
}

/* Overwrite every string under @v with NUL bytes (jansson keeps its own copies). */
static void wipe(json_t *v)
{
	const char *key;
	json_t *val;
	size_t i;

	if (json_is_string(v))
		explicit_bzero((char *)json_string_value(v), json_string_length(v));
	else if (json_is_object(v))
		json_object_foreach(v, key, val)
			wipe(val);
	else if (json_is_array(v))
		json_array_foreach(v, i, val)
			wipe(val);
}

/* Whether the config holds a secret: a password in a URI, keys. */
static bool holds_secret(json_t *config)
{
	json_t *uri = at_path(config, secret_paths[0]);

	return (json_is_string(uri) && strchr(json_string_value(uri), '@')) ||
	       at_path(config, secret_paths[1]) || at_path(config, secret_paths[2]);
}

void jfs_options_forget_secrets(struct jfs *fs)
{
	static const char *const env[] = {
		"JOVOFS_MONGODB_URI", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	};
	char *v;
	size_t i;

	for (i = 0; i < sizeof(secret_paths) / sizeof(secret_paths[0]); i++) {
		json_t *parent, *v2 = at_path(fs->config, secret_paths[i]);
		const char *const *p = secret_paths[i];
		size_t last = p[2] ? (p[3] ? 3 : 2) : 1;
		const char *up[4] = { NULL };

		if (!v2)
			continue;
		wipe(v2);
		memcpy(up, p, last * sizeof(*up));
		parent = at_path(fs->config, up);
		json_object_del(parent, p[last]);
	}
	for (i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		v = getenv(env[i]);
		if (!v)
			continue;
		explicit_bzero(v, strlen(v));
		unsetenv(env[i]);
	}
}

static int load_config(struct jfs *fs)
{
	struct stat sb;
	struct jfs_opts *o = &fs->opts;
	struct jfs_err err;
	const char *key;
	json_t *val;
	char *buf;
	size_t len;
	int rc;

	if (!o->config_file) {
		fs->config = json_object();
		return 0;
	}
	rc = read_file(o->config_file, &buf, &len);
	if (rc < 0) {
		fprintf(stderr, "jovofs: cannot read config '%s': %s\n", o->config_file,
			strerror(-rc));
		return -1;
	}
	rc = jfs_json_parse(buf, len, &fs->config, &err);
	free(buf);
	if (rc < 0) {
		fprintf(stderr, "jovofs: cannot parse config '%s': %s\n", o->config_file, err.msg);
		return -1;
	}
	if (!json_is_object(fs->config)) {
		fprintf(stderr, "jovofs: config '%s' must be a JSON object\n", o->config_file);
		return -1;
	}
	if (holds_secret(fs->config) && stat(o->config_file, &sb) == 0 && (sb.st_mode & 0044))
		jfs_log(LOG_WARNING, "config '%s' holds secrets and others may read it "
			"(mode %04o): chmod 600 it", o->config_file, (unsigned)(sb.st_mode & 07777));
	json_object_foreach(fs->config, key, val) {
		if (strcmp(key, "backend") && strcmp(key, "storedElements") && strcmp(key, "mask") &&
		    !jfs_policy_backend_exists(key))
			jfs_log(LOG_WARNING, "unknown key '%s' in config '%s' ignored", key,
				o->config_file);
	}
	return 0;
}

/* Set the value at dotted @path of @obj, making the objects on the way. */
static void json_set_path(json_t *obj, const char *path, json_t *val)
{
	const char *dot;
	char key[128];

	while ((dot = strchr(path, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		obj = obj_path(obj, key);
		path = dot + 1;
	}
	json_object_set_new(obj, path, val);
}

/* the backends' -o options override single values of the config, in order */
static int apply_overrides(struct jfs *fs)
{
	struct jfs_opts *o = &fs->opts;
	const struct jfs_backend_option *opt;
	const char *backend;
	size_t i;

	for (i = 0; i < o->nbargs; i++) {
		opt = jfs_policy_backend_option(o->bargs[i].name, &backend);
		if (opt->selects)
			json_object_set_new(fs->config, "backend", json_string(backend));
		if (opt->path)
			json_set_path(obj_path(fs->config, backend), opt->path,
				      json_string(o->bargs[i].value));
	}
	return 0;
}

static int pick_backend(struct jfs *fs)
{
	json_t *b = json_object_get(fs->config, "backend");
	const char *found = NULL, *name;
	size_t i, nparts = 0;

	if (b) {
		if (!json_is_string(b)) {
			fprintf(stderr, "jovofs: config: \"backend\" must be a string\n");
			return -1;
		}
		found = json_string_value(b);
	} else {
		for (i = 0; (name = jfs_policy_backend_name(i)); i++)
			if (json_object_get(fs->config, name)) {
				found = name;
				nparts++;
			}
		if (nparts > 1) {
			fprintf(stderr, "jovofs: config has several backend parts; say which with "
					"\"backend\"\n");
			return -1;
		}
		if (!found)
			found = "filedb";
	}
	if (!jfs_policy_backend_exists(found)) {
		fprintf(stderr, "jovofs: unknown backend '%s' (compiled in:", found);
		for (i = 0; (name = jfs_policy_backend_name(i)); i++)
			fprintf(stderr, " %s", name);
		fprintf(stderr, ")\n");
		return -1;
	}
	fs->backend_name = found;
	return 0;
}

int jfs_options_parse(struct jfs *fs, struct fuse_args *args)
{
	struct jfs_opts *o = &fs->opts;

	o->cache_timeout = 1.0;
	o->write_delay_ms = 100;
	o->retry_ms = 10000;
	o->timeout_ms = 5000;
	o->max_file_size = 1 << 20;
	o->cache_size = 32 << 20;
	o->snapshot_max = 64 << 20;
	o->scratch_max = 256 << 20;
	o->journal_max = 64 << 20;
	if (fuse_opt_parse(args, o, jfs_opt_spec, opt_proc) == -1)
		return -1;
	if (o->check) {
		/* SOURCE [MOUNTPOINT], or a lone MOUNTPOINT (a directory): the mount's own words */
		struct stat sb;

		if (o->nonopts == 2 ||
		    (o->nonopts == 1 && (stat(o->nonopt[0], &sb) || !S_ISDIR(sb.st_mode))))
			if (apply_source(o, o->nonopt[0]) < 0)
				return -1;
	} else {
		if (o->nonopts == 2 && apply_source(o, o->nonopt[0]) < 0)
			return -1;
		if (o->nonopts > 0 && fuse_opt_add_arg(args, o->nonopt[o->nonopts - 1]) == -1)
			return -1;
	}
	if (o->show_help || o->show_version)
		return 0;
	if (o->cache_timeout < 0 || o->write_delay_ms < 0 || o->retry_ms < 0 ||
	    o->timeout_ms <= 0 || o->max_file_size == 0) {
		fprintf(stderr, "jovofs: cache_timeout, write_delay, retry_timeout, "
				"request_timeout and max_file_size must not be negative\n");
		return -1;
	}
	if (o->umask > 0777 || o->dmode > 07777 || o->fmode > 07777) {
		fprintf(stderr, "jovofs: umask, dmode and fmode are octal permission bits\n");
		return -1;
	}
	if (!o->dmode_set)
		o->dmode = o->umask_set ? 0777 & ~o->umask : 0755;
	if (!o->fmode_set)
		o->fmode = o->umask_set ? 0666 & ~o->umask : 0644;
	if (load_config(fs) < 0 || apply_overrides(fs) < 0 || pick_backend(fs) < 0)
		return -1;
	return 0;
}

void jfs_options_release(struct jfs *fs)
{
	struct jfs_opts *o = &fs->opts;

	size_t i;

	free(o->config_file);
	free(o->journal);
	free(o->mask);
	free(o->metrics_listen);
	for (i = 0; i < o->nbargs; i++) {
		free(o->bargs[i].name);
		free(o->bargs[i].value);
	}
	free(o->bargs);
	free(o->nonopt[0]);
	free(o->nonopt[1]);
	json_decref(fs->config);
	fs->config = NULL;
}
