/*
 * Helpers shared by the libFuzzer targets (tests/fuzz/README.md).
 *
 * A target checks properties of what the code under test returns, not
 * only that it does not crash: a broken property calls fuzz_fail(), which
 * prints what went wrong and aborts, so libFuzzer reports the input.
 */
#ifndef JFS_FUZZ_H
#define JFS_FUZZ_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/json.h"
#include "common/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

__attribute__((format(printf, 1, 2), noreturn)) static inline void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: property broken: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* Assert @cond; the message says which property broke. */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__VA_ARGS__);                                                    \
	} while (0)

/* Print @v compactly to stderr under @what (for the report before an abort). */
static inline void fuzz_show(const char *what, const json_t *v)
{
	struct jfs_strbuf sb;

	jfs_strbuf_init(&sb);
	if (v)
		jfs_json_dump(v, &sb, 0, 0);
	else
		jfs_strbuf_addstr(&sb, "(none)");
	fprintf(stderr, "fuzz: %s: %.*s\n", what, (int)(sb.len < 2000 ? sb.len : 2000),
		sb.buf ? sb.buf : "");
	jfs_strbuf_release(&sb);
}

#endif
