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
#include <string.h>

#include "common/json.h"
#include "common/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Each target defines this; LLVMFuzzerTestOneInput() below calls it. */
static void fuzz_one(const uint8_t *data, size_t size);

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

/*
 * jansson is not instrumented, so ASan misses its reads and writes of
 * memory already freed: a value used after json_object_set_new() (which
 * frees it when it fails) or after one json_decref() too many. Every
 * target gives jansson an allocator that fills freed blocks with a pattern
 * and keeps them until the input is done, then checks the pattern: a write
 * after free is reported on the input that did it, and a read after free
 * sees garbage instead of a plausible value.
 */
#define FUZZ_FREED 0xa5

struct fuzz_block {
	size_t size;
	struct fuzz_block *next; /* in the list of freed blocks */
};

static struct fuzz_block *fuzz_freed;

static void *fuzz_json_malloc(size_t size)
{
	struct fuzz_block *b = malloc(sizeof(*b) + size);

	if (!b)
		return NULL;
	b->size = size;
	b->next = NULL;
	return b + 1;
}

static void fuzz_json_free(void *p)
{
	struct fuzz_block *b = (struct fuzz_block *)p - 1;

	if (!p)
		return;
	memset(p, FUZZ_FREED, b->size);
	b->next = fuzz_freed;
	fuzz_freed = b;
}

/* Check and release what jansson freed while the input ran. */
static void fuzz_freed_check(void)
{
	struct fuzz_block *b, *next;
	const unsigned char *p;
	size_t i;

	for (b = fuzz_freed; b; b = next) {
		next = b->next;
		p = (const unsigned char *)(b + 1);
		for (i = 0; i < b->size; i++)
			if (p[i] != FUZZ_FREED)
				fuzz_fail(
				    "jansson memory written after it was freed (byte %zu of %zu): "
				    "a json_t used after its last reference went",
				    i, b->size);
		free(b);
	}
	fuzz_freed = NULL;
}

__attribute__((constructor)) static void fuzz_json_guard(void)
{
	json_set_alloc_funcs(fuzz_json_malloc, fuzz_json_free);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_one(data, size);
	fuzz_freed_check();
	return 0;
}

#endif
