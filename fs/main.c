/* jovofs: mount a Jovo v4 app's user database. The daemon's lifecycle follows libfuse's passthrough_ll.c. */
#include "fs/jfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "config.h"
#include "common/strbuf.h"
#include "fs/journal.h"
#include "policy/mask.h"

static void log_hook(void *data, int level, const char *msg)
{
	struct jfs *fs = data;

	if (fs->status)
		jfs_status_error(fs->status, msg);
}

/* A crashed daemon leaves "Transport endpoint is not connected" behind: clear it. */
static void clear_stale_mount(const char *mountpoint)
{
	struct statfs sfs;
	pid_t pid;
	int status;

	/* statfs always asks the daemon (stat may be answered from the kernel's cache) */
	if (statfs(mountpoint, &sfs) == 0 || errno != ENOTCONN)
		return;
	jfs_log(LOG_WARNING, "'%s' is a stale mount of a daemon that died: unmounting it",
		mountpoint);
	if (umount2(mountpoint, MNT_DETACH) == 0)
		return;
	pid = fork();
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-z", mountpoint, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
}

/*
 * Where the journal is: -o journal=PATH, or the default place for this
 * store (malloc'ed); NULL with *@off set for -o journal=off, NULL alone
 * after saying why there is none.
 */
static char *journal_path(struct jfs *fs, bool *off)
{
	const char *opt = fs->opts.journal;
	char *path;
	json_t *d;

	*off = opt && !strcmp(opt, "off");
	if (opt && *opt && !*off) {
		if (opt[0] != '/') {
			fprintf(stderr, "jovofs: -o journal=%s: give an absolute path\n", opt);
			return NULL;
		}
		if (!(path = strdup(opt)))
			abort();
		return path;
	}
	d = json_object();
	jfs_policy_describe(&fs->policy, d);
	if (!json_object_get(d, "backend"))
		json_object_set_new(d, "backend", json_string(fs->backend_name));
	path = jfs_journal_default_path(d);
	json_decref(d);
	if (!path && !*off)
		fprintf(stderr, "jovofs: no place for the journal (no HOME): give "
				"-o journal=PATH or -o journal=off\n");
	return path;
}

/*
 * The journal. A read-only mount only reads it (.jovofs/journal). Returns
 * 0 or -1 after saying why.
 */
static int open_journal(struct jfs *fs)
{
	struct jfs_err err;
	bool off;
	char *path = journal_path(fs, &off);
	int rc;

	if (off) {
		free(path);
		return 0;
	}
	if (!path)
		return -1;
	jfs_err_clear(&err);
	if (fs->opts.ro)
		rc = jfs_journal_open_ro(path, &fs->journal, &err);
	else
		rc = jfs_journal_open(path, fs->opts.journal_max, fs->backend_name, &fs->journal,
				      &err);
	free(path);
	if (rc < 0) {
		fprintf(stderr, "jovofs: %s (-o journal=PATH puts it elsewhere, -o journal=off "
				"goes without)\n", err.msg);
		return -1;
	}
	if (!fs->opts.ro) {
		fs->policy.journal.intent = jfs_journal_intent;
		fs->policy.journal.failed = jfs_journal_failed;
		fs->policy.journal.data = fs->journal;
	}
	return 0;
}

/*
 * The key of a masked view, when the config has none: 32 random bytes kept
 * (hex, mode 0600) beside the journal, so pseudonyms stay the same across
 * mounts. Returns its length or -1 after saying why.
 */
static int mask_key_file(const char *journal, unsigned char *key, size_t size, char **where)
{
	struct jfs_strbuf sb;
	char hex[129], *path;
	struct stat st;
	ssize_t n;
	size_t i, len;
	int fd;

	jfs_strbuf_init(&sb);
	len = strlen(journal);
	if (len > 8 && !strcmp(journal + len - 8, ".journal"))
		len -= 8;
	jfs_strbuf_add(&sb, journal, len);
	jfs_strbuf_addstr(&sb, ".mask-key");
	path = jfs_strbuf_detach(&sb, NULL);
	*where = path;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		unsigned char fresh[32];

		if (getrandom(fresh, sizeof(fresh), 0) != (ssize_t)sizeof(fresh)) {
			fprintf(stderr, "jovofs: no random bytes for a mask key: %s\n",
				strerror(errno));
			return -1;
		}
		for (i = 0; i < sizeof(fresh); i++)
			snprintf(hex + 2 * i, 3, "%02x", fresh[i]);
		jfs_strbuf_init(&sb);
		jfs_strbuf_addstr(&sb, path);
		*strrchr(sb.buf, '/') = '\0';
		mkdir(sb.buf, 0700);
		jfs_strbuf_release(&sb);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, hex, 64) != 64 || fsync(fd)) {
			fprintf(stderr, "jovofs: cannot keep a mask key in '%s': %s (give mask.key "
					"in the config)\n", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
		jfs_log(LOG_INFO, "made a mask key in '%s'", path);
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "jovofs: cannot read the mask key '%s': %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		fprintf(stderr, "jovofs: the mask key '%s' is readable by others (mode %04o): "
				"chmod 600 it\n", path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	n = read(fd, hex, sizeof(hex) - 1);
	close(fd);
	if (n < 32) {
		fprintf(stderr, "jovofs: the mask key '%s' is too short\n", path);
		return -1;
	}
	for (i = 0; i < (size_t)n / 2 && i < size; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			break;
		key[i] = (unsigned char)v;
	}
	explicit_bzero(hex, sizeof(hex));
	return (int)i;
}

/* -o mask: a read-only view with chosen values as pseudonyms. 0 or -1 after saying why. */
static int open_mask(struct jfs *fs)
{
	json_t *conf = json_object_get(json_object_get(fs->config, "mask"), "key");
	unsigned char key[64];
	struct jfs_err err;
	char *where = NULL, *jpath, *paths;
	struct jfs_strbuf sb;
	size_t keylen;
	bool off;
	int n;

	if (!fs->opts.mask) {
		if (fs->opts.mask_ids) {
			fprintf(stderr, "jovofs: -o mask_ids needs -o mask=PATH[:PATH...]\n");
			return -1;
		}
		return 0;
	}
	if (!fs->opts.ro) {
		fprintf(stderr, "jovofs: -o mask is for read-only mounts: add -o ro (a masked "
				"view cannot be written back)\n");
		return -1;
	}
	/*
	 * The records' own "id" is masked like any chosen path: record.json and
	 * the journal's records then show the pseudonym the directory is named by.
	 */
	jfs_strbuf_init(&sb);
	jfs_strbuf_addstr(&sb, fs->opts.mask);
	if (fs->opts.mask_ids && *fs->opts.mask)
		jfs_strbuf_addstr(&sb, ":id");
	paths = jfs_strbuf_detach(&sb, NULL);
	if (conf) {
		if (!json_is_string(conf) || json_string_length(conf) < 16) {
			fprintf(stderr, "jovofs: mask.key must be a string of at least 16 characters\n");
			free(paths);
			return -1;
		}
		keylen = json_string_length(conf);
		jfs_err_clear(&err);
		n = jfs_mask_new(paths, (const unsigned char *)json_string_value(conf),
				 keylen, &fs->mask, &err);
		fs->mask_key_from = "config";
	} else {
		jpath = journal_path(fs, &off);
		if (!jpath) {
			free(paths);
			return -1;
		}
		n = mask_key_file(jpath, key, sizeof(key), &where);
		free(jpath);
		if (n < 0) {
			free(where);
			free(paths);
			return -1;
		}
		jfs_err_clear(&err);
		n = jfs_mask_new(paths, key, (size_t)n, &fs->mask, &err);
		explicit_bzero(key, sizeof(key));
		fs->mask_key_from = "file";
		free(where);
	}
	free(paths);
	if (n < 0) {
		fprintf(stderr, "jovofs: %s\n", err.msg);
		return -1;
	}
	fs->policy.mask = fs->mask;
	fs->mask_ids = fs->opts.mask_ids;
	return 0;
}

static void print_field(const json_t *sum, const char *label, const char *key)
{
	const char *v = json_string_value(json_object_get(sum, key));

	if (v)
		printf("%-12s %s\n", label, v);
}

/*
 * jovofs --check: what a mount would do up to its first listing, with
 * nothing created (read-only) and no retries, then a summary. Exit status
 * 0 when all is well.
 */
static int run_check(struct jfs *fs)
{
	struct jfs_store_options sopts;
	struct jfs_err err;
	json_t *sum = json_object();
	int ret = 1;

	memset(&sopts, 0, sizeof(sopts));
	sopts.read_only = true;
	sopts.retry_ms = 0;
	sopts.write_delay_ms = fs->opts.write_delay_ms;
	sopts.timeout_ms = fs->opts.timeout_ms;
	printf("%-12s %s\n", "config", fs->opts.config_file ? fs->opts.config_file :
	       "(none: defaults and -o options)");
	jfs_err_clear(&err);
	if (jfs_policy_open(&fs->policy, fs->backend_name,
			    json_object_get(fs->config, fs->backend_name), &sopts, &err) < 0) {
		fprintf(stderr, "jovofs: check failed: %s: %s\n", fs->backend_name, err.msg);
		goto out_decref;
	}
	jfs_err_clear(&err);
	if (jfs_policy_check(&fs->policy, sum, &err) < 0) {
		print_field(sum, "backend", "backend");
		print_field(sum, "target", "target");
		print_field(sum, "credentials", "credentials");
		fflush(stdout);
		fprintf(stderr, "jovofs: check failed: %s: %s\n", fs->backend_name, err.msg);
		goto out_close;
	}
	print_field(sum, "backend", "backend");
	print_field(sum, "target", "target");
	print_field(sum, "credentials", "credentials");
	printf("%-12s %lld%s\n", "users", (long long)json_integer_value(json_object_get(sum, "users")),
	       json_is_true(json_object_get(sum, "more")) ? " on the first page, more follow" : "");
	printf("check passed\n");
	ret = 0;
out_close:
	jfs_policy_close(&fs->policy);
out_decref:
	json_decref(sum);
	return ret;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd;
	struct fuse_loop_config *loop_cfg = NULL;
	struct jfs_store_options sopts;
	struct jfs fs;
	struct jfs_err err;
	char fsname[64];
	int ret = 1, rc, http_fd = -1;

	memset(&fs, 0, sizeof(fs));
	memset(&cmd, 0, sizeof(cmd));
	if (jfs_options_parse(&fs, &args) < 0)
		goto out_args;
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out_args;
	if (cmd.show_help || fs.opts.show_help) {
		jfs_options_usage(argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_args;
	}
	if (cmd.show_version || fs.opts.show_version) {
		printf("jovofs version %s\n", JFS_VERSION);
		fuse_lowlevel_version();
		ret = 0;
		goto out_args;
	}
	if (cmd.debug)
		jfs_log_set_level(LOG_DEBUG);
	if (fs.opts.check) {
		jfs_err_clear(&err);
		if (jfs_policy_config_parse(json_object_get(fs.config, "storedElements"),
					    &fs.policy.cfg, &err) < 0) {
			fprintf(stderr, "jovofs: check failed: storedElements: %s\n", err.msg);
			goto out_args;
		}
		ret = run_check(&fs);
		goto out_policy;
	}
	if (!cmd.mountpoint) {
		fprintf(stderr, "usage: %s [options] MOUNTPOINT\n"
				"       '%s --help' lists the options\n", argv[0], argv[0]);
		goto out_args;
	}
	/* a core dump or a ptrace of the daemon would show its secrets and records */
	if (!fs.opts.core_dump) {
		struct rlimit none = { 0, 0 };

		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		setrlimit(RLIMIT_CORE, &none);
	}
	if (!fs.opts.uid_set)
		fs.opts.uid = getuid();
	if (!fs.opts.gid_set)
		fs.opts.gid = getgid();

	jfs_err_clear(&err);
	if (jfs_policy_config_parse(json_object_get(fs.config, "storedElements"), &fs.policy.cfg,
				    &err) < 0) {
		fprintf(stderr, "jovofs: storedElements: %s\n", err.msg);
		goto out_args;
	}
	fs.status = jfs_status_new();
	if (!fs.status)
		goto out_policy;
	jfs_log_set_hook(log_hook, &fs);

	memset(&sopts, 0, sizeof(sopts));
	sopts.read_only = fs.opts.ro;
	sopts.retry_ms = fs.opts.retry_ms;
	sopts.write_delay_ms = fs.opts.write_delay_ms;
	sopts.timeout_ms = fs.opts.timeout_ms;
	rc = jfs_policy_open(&fs.policy, fs.backend_name,
			     json_object_get(fs.config, fs.backend_name), &sopts, &err);
	if (rc < 0) {
		fprintf(stderr, "jovofs: %s: %s\n", fs.backend_name, err.msg);
		goto out_status;
	}
	if (open_mask(&fs) < 0)
		goto out_store;
	jfs_options_forget_secrets(&fs);
	if (open_journal(&fs) < 0)
		goto out_store;
	if (jfs_fs_init(&fs) < 0)
		goto out_store;
	if (fs.opts.metrics_listen) {
		/* bound before the fork: a taken port fails the mount, on stderr */
		jfs_err_clear(&err);
		http_fd = jfs_http_listen(fs.opts.metrics_listen, &err);
		if (http_fd < 0) {
			fprintf(stderr, "jovofs: %s\n", err.msg);
			goto out_fs;
		}
	}

	snprintf(fsname, sizeof(fsname), "-ofsname=jovofs:%s,default_permissions", fs.backend_name);
	if (fuse_opt_add_arg(&args, fsname) < 0)
		goto out_fs;
	fs.se = fuse_session_new(&args, &jfs_ll_ops, sizeof(jfs_ll_ops), &fs);
	if (!fs.se)
		goto out_fs;
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out_session;
	clear_stale_mount(cmd.mountpoint);
	if (fuse_session_mount(fs.se, cmd.mountpoint) != 0)
		goto out_signals;
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out_unmount;
	if (!cmd.foreground)
		jfs_log_use_syslog();

	/* network clients and threads start after the fork */
	jfs_err_clear(&err);
	if (jfs_policy_start(&fs.policy, &err) < 0) {
		jfs_log(LOG_ERR, "%s: %s", fs.backend_name, err.msg);
		goto out_unmount;
	}
	if (jfs_fs_start(&fs) < 0)
		goto out_unmount;
	if (http_fd >= 0) {
		jfs_err_clear(&err);
		fs.http = jfs_http_start(&fs, http_fd, &err);
		http_fd = -1;
		if (!fs.http) {
			jfs_log(LOG_ERR, "%s", err.msg);
			jfs_fs_stop(&fs);
			goto out_unmount;
		}
		jfs_log(LOG_INFO, "metrics at http://%s/metrics", fs.opts.metrics_listen);
	}
	jfs_log(LOG_INFO, "mounted %s backend on '%s'%s", fs.backend_name, cmd.mountpoint,
		fs.opts.ro ? " read-only" : "");
	fs.service = jfs_service_start(&fs, cmd.mountpoint);

	if (cmd.singlethread) {
		ret = fuse_session_loop(fs.se);
	} else {
		loop_cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(loop_cfg, cmd.clone_fd);
		if (cmd.max_threads > 0 && cmd.max_threads <= 100000)
			fuse_loop_cfg_set_max_threads(loop_cfg, cmd.max_threads);
		if (cmd.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop_cfg, cmd.max_idle_threads);
		ret = fuse_session_loop_mt(fs.se, loop_cfg);
		fuse_loop_cfg_destroy(loop_cfg);
	}
	/* libfuse returns the signal that ended the loop: SIGTERM and SIGINT are a clean stop */
	if (ret == SIGTERM || ret == SIGINT)
		ret = 0;
	ret = ret != 0;
	jfs_service_stopping(fs.service);
	jfs_service_stop(fs.service);
	fs.service = NULL;
	jfs_http_stop(fs.http);
	fs.http = NULL;
	jfs_fs_stop(&fs);
out_unmount:
	fuse_session_unmount(fs.se);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
	fs.se = NULL;
out_fs:
	if (http_fd >= 0)
		close(http_fd);
	/* the store writes back what is pending as it closes */
	jfs_policy_close(&fs.policy);
	jfs_fs_release(&fs);
	jfs_journal_close(fs.journal);
	jfs_mask_free(fs.mask);
	goto out_status;
out_store:
	jfs_policy_close(&fs.policy);
	jfs_journal_close(fs.journal);
	jfs_mask_free(fs.mask);
out_status:
	jfs_log_set_hook(NULL, NULL);
	jfs_status_free(fs.status);
out_policy:
	jfs_policy_config_release(&fs.policy.cfg);
out_args:
	free(cmd.mountpoint);
	jfs_options_release(&fs);
	fuse_opt_free_args(&args);
	/* the secrets are gone: leak checkers (ASan) need a dumpable process to look */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	return ret;
}
