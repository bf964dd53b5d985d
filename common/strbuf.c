#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char empty[1];

void jfs_strbuf_init(struct jfs_strbuf *sb)
{
	sb->buf = empty;
	sb->len = 0;
	sb->alloc = 0;
}

void jfs_strbuf_release(struct jfs_strbuf *sb)
{
	if (sb->alloc)
		free(sb->buf);
	jfs_strbuf_init(sb);
}

char *jfs_strbuf_detach(struct jfs_strbuf *sb, size_t *len)
{
	char *res;

	jfs_strbuf_grow(sb, 0);
	res = sb->buf;
	if (len)
		*len = sb->len;
	jfs_strbuf_init(sb);
	return res;
}

void jfs_strbuf_grow(struct jfs_strbuf *sb, size_t extra)
{
	size_t want = sb->len + extra + 1;
	char *p;

	if (sb->alloc && want <= sb->alloc)
		return;
	if (want < sb->alloc * 2)
		want = sb->alloc * 2;
	if (want < 64)
		want = 64;
	p = sb->alloc ? realloc(sb->buf, want) : malloc(want);
	if (!p)
		abort();
	if (!sb->alloc)
		p[0] = '\0';
	sb->buf = p;
	sb->alloc = want;
}

void jfs_strbuf_add(struct jfs_strbuf *sb, const void *data, size_t len)
{
	jfs_strbuf_grow(sb, len);
	memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void jfs_strbuf_addstr(struct jfs_strbuf *sb, const char *s)
{
	jfs_strbuf_add(sb, s, strlen(s));
}

void jfs_strbuf_addch(struct jfs_strbuf *sb, char c)
{
	jfs_strbuf_grow(sb, 1);
	sb->buf[sb->len++] = c;
	sb->buf[sb->len] = '\0';
}

void jfs_strbuf_addf(struct jfs_strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(sb->buf + sb->len, sb->alloc ? sb->alloc - sb->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (!sb->alloc || (size_t)n >= sb->alloc - sb->len) {
		jfs_strbuf_grow(sb, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t)n;
}

void jfs_strbuf_setlen(struct jfs_strbuf *sb, size_t len)
{
	if (len > sb->len)
		jfs_strbuf_grow(sb, len - sb->len);
	sb->len = len;
	if (sb->alloc)
		sb->buf[len] = '\0';
}
