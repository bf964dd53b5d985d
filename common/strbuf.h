/* A growable byte buffer, always NUL-terminated (git's strbuf, in small). */
#ifndef JFS_STRBUF_H
#define JFS_STRBUF_H

#include <stddef.h>

struct jfs_strbuf {
	char *buf;    /**< NUL-terminated; never NULL after init */
	size_t len;
	size_t alloc;
};

void jfs_strbuf_init(struct jfs_strbuf *sb);
/** Free the contents; @sb can be initialised again. */
void jfs_strbuf_release(struct jfs_strbuf *sb);
/** Hand the buffer to the caller (free() it) and re-init @sb. */
char *jfs_strbuf_detach(struct jfs_strbuf *sb, size_t *len);
/** Make room for @extra more bytes. Aborts on out-of-memory. */
void jfs_strbuf_grow(struct jfs_strbuf *sb, size_t extra);
void jfs_strbuf_add(struct jfs_strbuf *sb, const void *data, size_t len);
void jfs_strbuf_addstr(struct jfs_strbuf *sb, const char *s);
void jfs_strbuf_addch(struct jfs_strbuf *sb, char c);
void jfs_strbuf_addf(struct jfs_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jfs_strbuf_setlen(struct jfs_strbuf *sb, size_t len);

#endif
