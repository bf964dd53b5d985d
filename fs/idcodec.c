#include "fs/idcodec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"

static bool needs_escape(unsigned char c, size_t pos)
{
	return c == '%' || c == '/' || c < 0x20 || c == 0x7f || (pos == 0 && c == '.');
}

static uint64_t fnv1a(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

char *jfs_id_to_name(const char *id, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	struct jfs_strbuf sb;
	size_t i, keep;

	jfs_strbuf_init(&sb);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];

		if (needs_escape(c, i)) {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			jfs_strbuf_add(&sb, e, 3);
		} else {
			jfs_strbuf_addch(&sb, (char)c);
		}
	}
	if (sb.len > 0 && sb.len <= JFS_NAME_MAX)
		return jfs_strbuf_detach(&sb, NULL);

	/* fallback: a readable prefix cut before an escape or a UTF-8 continuation byte */
	keep = sb.len < 200 ? sb.len : 200;
	while (keep > 0 && ((sb.buf[keep] & 0xc0) == 0x80 ||
			    (keep >= 1 && sb.buf[keep - 1] == '%') ||
			    (keep >= 2 && sb.buf[keep - 2] == '%')))
		keep--;
	jfs_strbuf_setlen(&sb, keep);
	jfs_strbuf_addf(&sb, "%%~%016llx", (unsigned long long)fnv1a(id, len));
	return jfs_strbuf_detach(&sb, NULL);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool jfs_name_is_fallback(const char *name)
{
	return strstr(name, "%~") != NULL;
}

char *jfs_name_to_id(const char *name, size_t *len)
{
	size_t n = strlen(name), i, o = 0;
	char *id;

	/* a longer name is no directory entry, so no id's canonical name */
	if (n == 0 || n > JFS_NAME_MAX || jfs_name_is_fallback(name))
		return NULL;
	id = malloc(n + 1);
	if (!id)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				goto out_bad;
			hi = hexval(name[i + 1]);
			lo = hexval(name[i + 2]);
			if (hi < 0 || lo < 0)
				goto out_bad;
			c = (unsigned char)(hi << 4 | lo);
			/* only escapes the encoder writes are canonical */
			if (!needs_escape(c, o))
				goto out_bad;
			i += 2;
		} else if (needs_escape(c, o)) {
			goto out_bad;
		}
		id[o++] = (char)c;
	}
	id[o] = '\0';
	*len = o;
	return id;
out_bad:
	free(id);
	return NULL;
}
