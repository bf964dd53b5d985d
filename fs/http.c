/*
 * The Prometheus endpoint (-o metrics_listen=ADDR:PORT): GET /metrics
 * serves what .jovofs/metrics shows, over HTTP, with libmicrohttpd's own
 * thread. The socket is bound before the daemon forks, so a taken port or
 * a bad address fails the mount with a message; the thread starts after.
 */
#include "fs/jfs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"

#define HTTP_MAX_CONNECTIONS 16
#define HTTP_TIMEOUT_S 10

struct jfs_http {
	struct MHD_Daemon *mhd;
	struct jfs *fs;
	uint64_t scrapes; /* atomic */
};

/* "ADDR:PORT" or "[V6ADDR]:PORT" into @ss; 0 or -EINVAL with the reason. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sslen,
			struct jfs_err *err)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port_s;
	unsigned long port;
	char *end;
	size_t hlen;

	memset(ss, 0, sizeof(*ss));
	if (spec[0] == '[') {
		colon = strstr(spec, "]:");
		if (!colon)
			goto bad;
		hlen = colon - spec - 1;
		port_s = colon + 2;
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, spec + 1, hlen);
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			goto bad;
		hlen = colon - spec;
		port_s = colon + 1;
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, spec, hlen);
	}
	host[hlen] = '\0';
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (!*port_s || *end || errno || port > 65535)
		goto bad;
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*v6);
		return 0;
	}
bad:
	return jfs_err_set(err, EINVAL, "metrics_listen '%s' is not ADDR:PORT (an IP address, "
			   "e.g. 127.0.0.1:9839 or [::1]:9839)", spec);
}

int jfs_http_listen(const char *spec, struct jfs_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	int fd, one = 1, ret;

	ret = parse_listen(spec, &ss, &sslen, err);
	if (ret)
		return ret;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return jfs_err_set(err, errno, "metrics_listen '%s': socket: %s", spec,
				   strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) || listen(fd, 16)) {
		ret = jfs_err_set(err, errno, "metrics_listen '%s': cannot listen: %s", spec,
				  strerror(errno));
		close(fd);
		return ret;
	}
	return fd;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     char *body, size_t len, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result r;

	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static char *text(const char *s, size_t *len)
{
	char *p = strdup(s);

	if (!p)
		abort();
	*len = strlen(p);
	return p;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct jfs_http *h = cls;
	size_t len;
	char *body;

	/* the first call only announces the request: answer on the second */
	if (!*state) {
		*state = h;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		body = text("only GET and HEAD\n", &len);
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", body,
			     len, "GET, HEAD");
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (!strcmp(url, "/metrics")) {
		__atomic_add_fetch(&h->scrapes, 1, __ATOMIC_RELAXED);
		body = jfs_status_metrics(h->fs, &len);
		return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body,
			     len, NULL);
	}
	if (!strcmp(url, "/")) {
		body = text("jovofs: the metrics are at /metrics\n", &len);
		return reply(conn, MHD_HTTP_OK, "text/plain; charset=utf-8", body, len, NULL);
	}
	body = text("not found: the metrics are at /metrics\n", &len);
	return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", body, len, NULL);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	jfs_log(LOG_WARNING, "metrics endpoint: %s", msg);
}

struct jfs_http *jfs_http_start(struct jfs *fs, int fd, struct jfs_err *err)
{
	struct jfs_http *h = calloc(1, sizeof(*h));

	if (!h) {
		close(fd);
		jfs_err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	h->fs = fs;
	/* MHD_USE_AUTO: epoll, not select(), which fails on descriptors past 1023 */
	h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
				  MHD_USE_ERROR_LOG, 0, NULL,
				  NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				  MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
				  MHD_OPTION_END);
	if (!h->mhd) {
		close(fd);
		free(h);
		jfs_err_set(err, EIO, "cannot start the metrics endpoint (libmicrohttpd)");
		return NULL;
	}
	return h;
}

void jfs_http_stop(struct jfs_http *h)
{
	if (!h)
		return;
	/* closes the listening socket too */
	MHD_stop_daemon(h->mhd);
	free(h);
}

uint64_t jfs_http_scrapes(const struct jfs_http *h)
{
	return __atomic_load_n(&h->scrapes, __ATOMIC_RELAXED);
}
