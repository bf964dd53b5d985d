#include "fs/idcodec.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"

static bool needs_escape(unsigned char c, size_t pos)
{
	return c == '%' || c == '/' || c < 0x20 || c == 0x7f || (pos == 0 && c == '.');
}

/* The SHA-256 of @len bytes at @s, as @ndigits (<= 64) lower-case hex digits. */
static void sha256_hex(const char *s, size_t len, unsigned ndigits, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned i;

	if (!EVP_Digest(s, len, md, NULL, EVP_sha256(), NULL))
		abort();
	for (i = 0; i < ndigits; i++)
		out[i] = hex[(md[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[ndigits] = '\0';
}

bool jfs_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p++, n, cp;

		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return false;
		if ((size_t)(end - p) < n)
			return false;
		while (n--) {
			if ((*p & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (*p++ & 0x3f);
		}
		if ((c == 0xe0 && cp < 0x800) || (c == 0xf0 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
	}
	return true;
}

/* A readable prefix of the name in @sb, cut before an escape or inside a character. */
static void fallback(struct jfs_strbuf *sb, const char *id, size_t len, unsigned ndigits)
{
	char digest[65];
	size_t keep;

	keep = sb->len < 200 ? sb->len : 200;
	while (keep > 0 && ((sb->buf[keep] & 0xc0) == 0x80 ||
			    (keep >= 1 && sb->buf[keep - 1] == '%') ||
			    (keep >= 2 && sb->buf[keep - 2] == '%')))
		keep--;
	jfs_strbuf_setlen(sb, keep);
	sha256_hex(id, len, ndigits, digest);
	jfs_strbuf_addf(sb, "%%~%s", digest);
}

static void encode(struct jfs_strbuf *sb, const char *id, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];

		if (needs_escape(c, i)) {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			jfs_strbuf_add(sb, e, 3);
		} else {
			jfs_strbuf_addch(sb, (char)c);
		}
	}
}

char *jfs_id_to_unique_name(const char *id, size_t len, unsigned attempt)
{
	struct jfs_strbuf sb;

	jfs_strbuf_init(&sb);
	encode(&sb, id, len);
	fallback(&sb, id, len, 64);
	if (attempt > 1)
		jfs_strbuf_addf(&sb, "~%u", attempt);
	return jfs_strbuf_detach(&sb, NULL);
}

char *jfs_id_to_name(const char *id, size_t len)
{
	struct jfs_strbuf sb;

	jfs_strbuf_init(&sb);
	encode(&sb, id, len);
	if (sb.len == 0 || sb.len > JFS_NAME_MAX)
		fallback(&sb, id, len, 16);
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
		abort();
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
	/* every store keeps ids as UTF-8 without NUL: nothing else can be one */
	if (memchr(id, '\0', o) || !jfs_utf8_valid(id, o))
		goto out_bad;
	*len = o;
	return id;
out_bad:
	free(id);
	return NULL;
}
