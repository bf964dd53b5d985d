/*
 * The unit tests' checks: each counts as passed or failed, and a failed
 * one says where, what, and (with a message) why. One test program is one
 * translation unit, so the counters live here.
 *
 *   CHECK(cond);                         CHECK(cond, "fmt", args...);
 *   CHECK_STR(got, want);                return check_report();
 */
#ifndef JFS_TEST_CHECK_H
#define JFS_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* CHECK(cond) passes "" as the message format */
#pragma GCC diagnostic ignored "-Wformat-zero-length"

static int passed, failed;

__attribute__((format(printf, 5, 6))) static void check_at(int ok, const char *file, int line,
							   const char *expr, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		passed++;
		return;
	}
	failed++;
	fprintf(stderr, "FAIL %s:%d: %s", file, line, expr);
	if (*fmt) {
		fputs(": ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
	}
	fputc('\n', stderr);
}

__attribute__((unused)) static void check_str_at(const char *got, const char *want, const char *file, int line)
{
	check_at(got && want && !strcmp(got, want), file, line, "string", "got '%s', want '%s'",
		 got ? got : "(null)", want ? want : "(null)");
}

/* Print the tally; the exit status of the test program. */
__attribute__((unused)) static int check_report(void)
{
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define CHECK(cond, ...) check_at(!!(cond), __FILE__, __LINE__, #cond, "" __VA_ARGS__)
#define CHECK_STR(got, want) check_str_at((got), (want), __FILE__, __LINE__)

#endif
