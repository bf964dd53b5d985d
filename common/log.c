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

void jfs_log(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level > log_level && level > LOG_WARNING)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
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
