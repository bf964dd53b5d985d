/*
 * The daemon as a service: systemd's readiness protocol (sd_notify(3)'s
 * datagrams on $NOTIFY_SOCKET, spoken here without libsystemd: READY=1
 * once the mount serves requests, STATUS= lines, RELOADING=1 around a
 * SIGHUP, STOPPING=1 on the way out) and SIGHUP, which reloads the
 * store's credentials (jfs_policy_reload()) on a thread of its own.
 *
 * libfuse's signal handlers end the session on SIGHUP; jfs_service_start()
 * replaces that one. A signal handler can only reach a global: the write
 * end of the self-pipe is the one this file keeps.
 */
#define _GNU_SOURCE
#include "fs/jfs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strbuf.h"

#define STATUS_EVERY_MS 2000

struct jfs_service {
	struct jfs *fs;
	char *notify;         /* $NOTIFY_SOCKET, NULL when not run by systemd */
	char *mountpoint;
	int pipe[2];          /* self-pipe: 'H' SIGHUP, 'Q' stop */
	pthread_t thread;
	bool started;
	char last_status[512]; /* the thread's own */
};

static int hup_fd = -1; /* the signal handler's only way out */

static void on_sighup(int sig)
{
	int saved = errno;
	char c = 'H';

	if (hup_fd >= 0 && write(hup_fd, &c, 1) < 0) {
		/* the pipe is full: a reload is pending anyway */
	}
	errno = saved;
}

/* One datagram to systemd; 0, or -errno (the caller only logs it). */
static int notify(struct jfs_service *svc, const char *state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	int fd, ret = 0;

	if (!svc->notify)
		return 0;
	len = strlen(svc->notify);
	if (len >= sizeof(sa.sun_path) || (svc->notify[0] != '/' && svc->notify[0] != '@'))
		return -EINVAL;
	memcpy(sa.sun_path, svc->notify, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* an abstract socket */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   offsetof(struct sockaddr_un, sun_path) + len) < 0)
		ret = -errno;
	close(fd);
	if (ret)
		jfs_log(LOG_WARNING, "cannot notify systemd at '%s': %s", svc->notify,
			strerror(-ret));
	return ret;
}

/* STATUS=: backend, users, last error; sent when it changed. */
static void send_status(struct jfs_service *svc, bool force)
{
	struct jfs *fs = svc->fs;
	char err[256], line[512];
	size_t users;
	bool complete;

	pthread_mutex_lock(&fs->lock);
	users = fs->users.nlisting;
	complete = fs->users.complete;
	pthread_mutex_unlock(&fs->lock);
	if (!jfs_status_last_error(fs->status, err, sizeof(err)))
		snprintf(err, sizeof(err), "none");
	/* the mount serves before its first listing is read whole */
	snprintf(line, sizeof(line), "STATUS=%s on %s: %zu users%s; last error: %s",
		 fs->backend_name, svc->mountpoint, users, complete ? "" : " so far (listing)",
		 err);
	/* one line: the protocol is newline-separated */
	for (char *p = line; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (!force && !strcmp(line, svc->last_status))
		return;
	snprintf(svc->last_status, sizeof(svc->last_status), "%s", line);
	notify(svc, line);
}

static void reload(struct jfs_service *svc)
{
	struct jfs_err err;
	int ret;

	notify(svc, "RELOADING=1");
	jfs_log(LOG_INFO, "SIGHUP: reloading credentials (%s backend)", svc->fs->backend_name);
	jfs_err_clear(&err);
	ret = jfs_policy_reload(&svc->fs->policy, &err);
	if (ret)
		jfs_log(LOG_ERR, "SIGHUP: reload failed, keeping what was there: %s", err.msg);
	notify(svc, "READY=1");
	send_status(svc, true);
}

static void *service_thread(void *arg)
{
	struct jfs_service *svc = arg;
	struct pollfd pfd = { .fd = svc->pipe[0], .events = POLLIN };
	char buf[16];
	ssize_t n, i;
	bool hup;

	for (;;) {
		if (poll(&pfd, 1, svc->notify ? STATUS_EVERY_MS : -1) < 0 && errno != EINTR)
			break;
		if (!(pfd.revents & POLLIN)) {
			send_status(svc, false);
			continue;
		}
		n = read(svc->pipe[0], buf, sizeof(buf));
		if (n <= 0)
			continue;
		hup = false;
		for (i = 0; i < n; i++) {
			if (buf[i] == 'Q')
				return NULL;
			hup = hup || buf[i] == 'H';
		}
		if (hup)
			reload(svc);
	}
	return NULL;
}

struct jfs_service *jfs_service_start(struct jfs *fs, const char *mountpoint)
{
	struct jfs_service *svc = calloc(1, sizeof(*svc));
	const char *ns = getenv("NOTIFY_SOCKET");
	struct sigaction sa;
	char ready[600];

	if (!svc || !(svc->mountpoint = strdup(mountpoint)))
		abort();
	svc->fs = fs;
	if (ns && *ns) {
		if (!(svc->notify = strdup(ns)))
			abort();
		/* what jovofs runs (a credential_process) is not the service */
		unsetenv("NOTIFY_SOCKET");
	}
	if (pipe2(svc->pipe, O_CLOEXEC | O_NONBLOCK)) {
		jfs_log(LOG_ERR, "cannot make a pipe: %s; SIGHUP will not reload",
			strerror(errno));
		svc->pipe[0] = svc->pipe[1] = -1;
	} else if (pthread_create(&svc->thread, NULL, service_thread, svc)) {
		jfs_log(LOG_ERR, "cannot start the service thread; SIGHUP will not reload");
	} else {
		svc->started = true;
		hup_fd = svc->pipe[1];
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_sighup;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		sigaction(SIGHUP, &sa, NULL);
	}
	if (svc->notify) {
		snprintf(ready, sizeof(ready), "READY=1\nMAINPID=%ld", (long)getpid());
		notify(svc, ready);
		send_status(svc, true);
	}
	return svc;
}

void jfs_service_stopping(struct jfs_service *svc)
{
	if (svc)
		notify(svc, "STOPPING=1");
}

void jfs_service_stop(struct jfs_service *svc)
{
	struct sigaction sa;
	char c = 'Q';

	if (!svc)
		return;
	if (svc->started) {
		/* a SIGHUP from now on is ignored, not the default (which ends us) */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigaction(SIGHUP, &sa, NULL);
		hup_fd = -1;
		while (write(svc->pipe[1], &c, 1) < 0 && errno == EINTR)
			;
		pthread_join(svc->thread, NULL);
	}
	if (svc->pipe[0] >= 0) {
		close(svc->pipe[0]);
		close(svc->pipe[1]);
	}
	free(svc->notify);
	free(svc->mountpoint);
	free(svc);
}
