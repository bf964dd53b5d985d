#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

static int log_level = LOG_INFO;
static bool log_syslog;
static void (*log_hook)(void *, int, const char *);
static void *log_hook_data;

void jfs_log_set_level(int level)
{
	log_level = level;
}

void jfs_log_use_syslog(void)
{
	openlog("jovofs", LOG_PID, LOG_DAEMON);
	log_syslog = true;
}

void jfs_log_set_hook(void (*hook)(void *data, int level, const char *msg), void *data)
{
	log_hook_data = data;
	log_hook = hook;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE: case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

char *jfs_log_escape(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in && o + 1 < size; in++) {
		unsigned char c = (unsigned char)*in;

		if (c >= 0x20 && c != 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else if (c == '\\') {
			if (o + 3 > size)
				break;
			out[o++] = '\\';
			out[o++] = '\\';
		} else {
			if (o + 5 > size)
				break;
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	out[o] = '\0';
	return out;
}

void jfs_log(int level, const char *fmt, ...)
{
	char raw[1024], msg[4096];
	va_list ap;

	if (level > log_level && level > LOG_WARNING)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	jfs_log_escape(raw, msg, sizeof(msg));
	if (level <= LOG_WARNING && log_hook)
		log_hook(log_hook_data, level, msg);
	if (level > log_level)
		return;
	if (log_syslog) {
		syslog(level, "%s", msg);
	} else {
		/* one fprintf per line keeps lines from threads whole */
		fprintf(stderr, "jovofs: %s: %s\n", level_name(level), msg);
	}
}
