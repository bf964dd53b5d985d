/*
 * A streaming scanner for FileDb files. It validates the JSON grammar
 * byte by byte (so a half-written file is an error, never a short list),
 * keeps only a stack of container kinds, and captures the few strings it
 * needs: top-level keys of an item and the values of "id", "createdAt"
 * and "updatedAt". Chunks may cut any token anywhere.
 */
#include "backends/filedb_scan.h"

#include <stdbool.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/backend.h"
#include "common/isotime.h"
#include "common/json.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- hash: XXH64, seed 0 ---- */

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t rd64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v; /* little-endian hosts only; the hash never leaves this process */
}

static inline uint32_t rd32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t xround(uint64_t acc, uint64_t in)
{
	acc += in * P2;
	acc = rotl64(acc, 31);
	return acc * P1;
}

static inline uint64_t xmerge(uint64_t acc, uint64_t v)
{
	acc ^= xround(0, v);
	return acc * P1 + P4;
}

void jfs_fdb_hash_init(struct jfs_fdb_hasher *h)
{
	h->v[0] = P1 + P2;
	h->v[1] = P2;
	h->v[2] = 0;
	h->v[3] = 0 - P1;
	h->total = 0;
	h->memsize = 0;
}

void jfs_fdb_hash_update(struct jfs_fdb_hasher *h, const void *data, size_t len)
{
	const unsigned char *p = data, *end = p + len;
	uint64_t v0, v1, v2, v3;

	h->total += len;
	if (h->memsize + len < 32) {
		memcpy(h->mem + h->memsize, p, len);
		h->memsize += (unsigned)len;
		return;
	}
	if (h->memsize) {
		size_t fill = 32 - h->memsize;

		memcpy(h->mem + h->memsize, p, fill);
		h->v[0] = xround(h->v[0], rd64(h->mem));
		h->v[1] = xround(h->v[1], rd64(h->mem + 8));
		h->v[2] = xround(h->v[2], rd64(h->mem + 16));
		h->v[3] = xround(h->v[3], rd64(h->mem + 24));
		p += fill;
		h->memsize = 0;
	}
	v0 = h->v[0];
	v1 = h->v[1];
	v2 = h->v[2];
	v3 = h->v[3];
	while (end - p >= 32) {
		v0 = xround(v0, rd64(p));
		v1 = xround(v1, rd64(p + 8));
		v2 = xround(v2, rd64(p + 16));
		v3 = xround(v3, rd64(p + 24));
		p += 32;
	}
	h->v[0] = v0;
	h->v[1] = v1;
	h->v[2] = v2;
	h->v[3] = v3;
	if (p < end) {
		memcpy(h->mem, p, (size_t)(end - p));
		h->memsize = (unsigned)(end - p);
	}
}

uint64_t jfs_fdb_hash_final(const struct jfs_fdb_hasher *h)
{
	const unsigned char *p = h->mem, *end = p + h->memsize;
	uint64_t acc;

	if (h->total >= 32) {
		acc = rotl64(h->v[0], 1) + rotl64(h->v[1], 7) + rotl64(h->v[2], 12) +
		      rotl64(h->v[3], 18);
		acc = xmerge(acc, h->v[0]);
		acc = xmerge(acc, h->v[1]);
		acc = xmerge(acc, h->v[2]);
		acc = xmerge(acc, h->v[3]);
	} else {
		acc = h->v[2] + P5;
	}
	acc += h->total;
	while (end - p >= 8) {
		acc ^= xround(0, rd64(p));
		acc = rotl64(acc, 27) * P1 + P4;
		p += 8;
	}
	if (end - p >= 4) {
		acc ^= (uint64_t)rd32(p) * P1;
		acc = rotl64(acc, 23) * P2 + P3;
		p += 4;
	}
	while (p < end) {
		acc ^= (*p) * P5;
		acc = rotl64(acc, 11) * P1;
		p++;
	}
	acc ^= acc >> 33;
	acc *= P2;
	acc ^= acc >> 29;
	acc *= P3;
	acc ^= acc >> 32;
	return acc;
}

uint64_t jfs_fdb_hash(const void *p, size_t len)
{
	struct jfs_fdb_hasher h;

	jfs_fdb_hash_init(&h);
	jfs_fdb_hash_update(&h, p, len);
	return jfs_fdb_hash_final(&h);
}

/* ---- index ---- */

void jfs_fdb_index_init(struct jfs_fdb_index *idx)
{
	memset(idx, 0, sizeof(*idx));
	jfs_strbuf_init(&idx->ids);
}

void jfs_fdb_index_release(struct jfs_fdb_index *idx)
{
	free(idx->items);
	free(idx->slots);
	jfs_strbuf_release(&idx->ids);
	jfs_fdb_index_init(idx);
}

static void index_rehash(struct jfs_fdb_index *idx, size_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(*slots));
	size_t i, mask = nslots - 1;

	if (!slots)
		abort();
	for (i = 0; i < idx->n; i++) {
		const struct jfs_fdb_entry *e = &idx->items[i];
		size_t s = jfs_fdb_hash(idx->ids.buf + e->id_off, e->id_len) & mask;

		if (e->flags & JFS_FDB_NO_ID)
			continue;
		while (slots[s])
			s = (s + 1) & mask;
		slots[s] = (uint32_t)(i + 1);
	}
	free(idx->slots);
	idx->slots = slots;
	idx->nslots = nslots;
}

long jfs_fdb_index_find(const struct jfs_fdb_index *idx, const char *id, size_t len)
{
	size_t s, mask;

	if (!idx->nslots)
		return -1;
	mask = idx->nslots - 1;
	for (s = jfs_fdb_hash(id, len) & mask; idx->slots[s]; s = (s + 1) & mask) {
		const struct jfs_fdb_entry *e = &idx->items[idx->slots[s] - 1];

		if (e->id_len == len && !memcmp(idx->ids.buf + e->id_off, id, len))
			return (long)idx->slots[s] - 1;
	}
	return -1;
}

int jfs_fdb_index_add(struct jfs_fdb_index *idx, const struct jfs_fdb_entry *e, const char *id,
		      size_t id_len)
{
	struct jfs_fdb_entry *ne;
	size_t s, mask;

	bool no_id = e->flags & JFS_FDB_NO_ID;

	if (no_id)
		id_len = 0;
	else if (jfs_fdb_index_find(idx, id, id_len) >= 0)
		return -EEXIST;
	if (idx->n == idx->alloc) {
		size_t na = idx->alloc ? idx->alloc * 2 : 64;
		struct jfs_fdb_entry *items = realloc(idx->items, na * sizeof(*items));

		if (!items)
			abort();
		idx->items = items;
		idx->alloc = na;
	}
	ne = &idx->items[idx->n];
	*ne = *e;
	ne->id_off = idx->ids.len;
	ne->id_len = (uint32_t)id_len;
	jfs_strbuf_add(&idx->ids, id, id_len);
	jfs_strbuf_addch(&idx->ids, '\0');
	idx->n++;
	if (no_id) {
		if (!idx->no_id++)
			idx->no_id_off = e->off;
		return 0;
	}
	if (idx->n * 2 > idx->nslots) {
		index_rehash(idx, idx->nslots ? idx->nslots * 2 : 128);
		return 0;
	}
	mask = idx->nslots - 1;
	for (s = jfs_fdb_hash(id, id_len) & mask; idx->slots[s]; s = (s + 1) & mask)
		;
	idx->slots[s] = (uint32_t)idx->n;
	return 0;
}

/* ---- scanner ---- */

enum scan_state {
	S_START,        /* before the top-level '[' */
	S_VALUE,        /* a value must come */
	S_VALUE_OR_END, /* after '[' */
	S_KEY,          /* after ',' in an object */
	S_KEY_OR_END,   /* after '{' */
	S_COLON,
	S_AFTER,        /* after a value: ',' or the closing bracket */
	S_DONE,
	/* inside a token: from here on */
	S_STRING,
	S_ESC,
	S_UHEX,
	S_NUMBER,
	S_LITERAL,
};

enum num_state { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

enum str_role { R_NONE, R_KEY, R_VALUE };

enum item_key { K_OTHER, K_ID, K_CREATED, K_UPDATED };

#define MAX_DEPTH 2049 /* the top array + jansson's 2048 levels for one item */

struct scanner {
	enum scan_state state;
	enum num_state num;
	enum str_role role;
	bool is_key;      /* the string being read is an object key */
	enum item_key key;
	const char *lit;
	unsigned lit_i, hexleft;

	unsigned char *stack; /* 'a' or 'o' per open container */
	size_t depth, stack_alloc;

	struct jfs_strbuf cap; /* raw bytes of a captured string, no quotes */
	bool cap_esc;

	bool in_item;
	uint64_t item_start;
	struct jfs_fdb_hasher h;
	bool has_id;
	struct jfs_strbuf id; /* decoded */
	int64_t created, updated;
	char gap[8];
	unsigned gaplen;

	uint64_t base;            /* offset of the chunk being fed */
	uint64_t line, line_off;  /* current line (from 1) and the offset it starts at */

	struct jfs_fdb_index *idx;
	struct jfs_err *err;
};

static const unsigned char str_stop[256] = {
	[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1,
};

/* The first byte at or after @p that ends a run of plain string bytes. */
static inline const unsigned char *skip_string(const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
	const __m128i ctl = _mm_set1_epi8(0x1f);

	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)p);
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bs)),
					 _mm_cmpeq_epi8(_mm_max_epu8(x, ctl), ctl));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);

		if (mask)
			return p + __builtin_ctz(mask);
		p += 16;
	}
#endif
	while (p < end && !str_stop[*p])
		p++;
	return p;
}

/* The first byte at or after @p that is not a space. */
static inline const unsigned char *skip_spaces(const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
	const __m128i sp = _mm_set1_epi8(' ');

	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)p);
		unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, sp)) ^ 0xffffu;

		if (mask)
			return p + __builtin_ctz(mask);
		p += 16;
	}
#endif
	while (p < end && *p == ' ')
		p++;
	return p;
}

static int scan_error(struct scanner *s, uint64_t off, const char *what)
{
	return jfs_err_set(s->err, EINVAL, "line %" PRIu64 " column %" PRIu64 " (offset %" PRIu64
			   "): %s", s->line, off - s->line_off + 1, off, what);
}

static int scan_errorf_char(struct scanner *s, uint64_t off, const char *what, unsigned char c)
{
	char msg[96];

	if (c >= 0x20 && c < 0x7f)
		snprintf(msg, sizeof(msg), "%s '%c'", what, c);
	else
		snprintf(msg, sizeof(msg), "%s byte 0x%02x", what, c);
	return scan_error(s, off, msg);
}

static void scanner_init(struct scanner *s, struct jfs_fdb_index *idx, struct jfs_err *err)
{
	memset(s, 0, sizeof(*s));
	jfs_strbuf_init(&s->cap);
	jfs_strbuf_init(&s->id);
	s->state = S_START;
	s->line = 1;
	s->idx = idx;
	s->err = err;
}

static void scanner_release(struct scanner *s)
{
	free(s->stack);
	jfs_strbuf_release(&s->cap);
	jfs_strbuf_release(&s->id);
}

static int push(struct scanner *s, unsigned char kind, uint64_t off)
{
	if (s->depth >= MAX_DEPTH)
		return scan_error(s, off, "nesting too deep");
	if (s->depth == s->stack_alloc) {
		size_t na = s->stack_alloc ? s->stack_alloc * 2 : 64;
		unsigned char *st = realloc(s->stack, na);

		if (!st)
			abort();
		s->stack = st;
		s->stack_alloc = na;
	}
	s->stack[s->depth++] = kind;
	return 0;
}

/* Decode the captured string; false when it is not valid (bad UTF-8). */
static bool cap_decode(struct scanner *s, struct jfs_strbuf *out)
{
	struct jfs_strbuf q;
	json_t *v;
	size_t i;
	bool ok;

	jfs_strbuf_setlen(out, 0);
	if (!s->cap_esc) {
		for (i = 0; i < s->cap.len; i++)
			if ((unsigned char)s->cap.buf[i] >= 0x80)
				break;
		if (i == s->cap.len) {
			jfs_strbuf_add(out, s->cap.buf, s->cap.len);
			return true;
		}
	}
	jfs_strbuf_init(&q);
	jfs_strbuf_addch(&q, '"');
	jfs_strbuf_add(&q, s->cap.buf, s->cap.len);
	jfs_strbuf_addch(&q, '"');
	ok = !jfs_json_parse(q.buf, q.len, &v, NULL) && json_is_string(v);
	if (ok) {
		jfs_strbuf_add(out, json_string_value(v), json_string_length(v));
		json_decref(v);
	}
	jfs_strbuf_release(&q);
	return ok;
}

static enum item_key classify_key(struct scanner *s)
{
	struct jfs_strbuf k;
	enum item_key res = K_OTHER;
	const char *p = s->cap.buf;
	size_t n = s->cap.len;

	jfs_strbuf_init(&k);
	if (s->cap_esc) {
		if (!cap_decode(s, &k))
			goto out;
		p = k.buf;
		n = k.len;
	}
	if (n == 2 && !memcmp(p, "id", 2))
		res = K_ID;
	else if (n == 9 && !memcmp(p, "createdAt", 9))
		res = K_CREATED;
	else if (n == 9 && !memcmp(p, "updatedAt", 9))
		res = K_UPDATED;
out:
	jfs_strbuf_release(&k);
	return res;
}

static int64_t cap_time(struct scanner *s)
{
	struct jfs_strbuf t;
	int64_t ms;

	jfs_strbuf_init(&t);
	if (!cap_decode(s, &t) || strlen(t.buf) != t.len || !jfs_iso_parse(t.buf, &ms))
		ms = -1;
	jfs_strbuf_release(&t);
	return ms;
}

/* A value inside the top array begins at @off: it must be an object. */
static int item_begin(struct scanner *s, uint64_t off)
{
	s->in_item = true;
	s->item_start = off;
	s->has_id = false;
	s->created = -1;
	s->updated = -1;
	s->key = K_OTHER;
	jfs_fdb_hash_init(&s->h);
	return 0;
}

static int item_end(struct scanner *s, uint64_t end)
{
	struct jfs_fdb_entry e;
	char msg[128];

	s->in_item = false;
	memset(&e, 0, sizeof(e));
	if (!s->has_id)
		e.flags |= JFS_FDB_NO_ID;
	e.off = s->item_start;
	e.len = end - s->item_start;
	e.hash = jfs_fdb_hash_final(&s->h);
	e.created_ms = s->created;
	e.updated_ms = s->updated;
	if (s->gaplen == 4 && !memcmp(s->gap, ",\n  ", 4))
		e.flags |= JFS_FDB_STD_GAP;
	s->gaplen = 0;
	if (jfs_fdb_index_add(s->idx, &e, s->id.buf, s->id.len)) {
		char idq[64];
		size_t i, j = 0;

		/* quote the id printable and short for the message */
		for (i = 0; i < s->id.len && j < sizeof(idq) - 4; i++) {
			unsigned char c = (unsigned char)s->id.buf[i];

			idq[j++] = c >= 0x20 && c != 0x7f ? (char)c : '?';
		}
		if (i < s->id.len) {
			memcpy(idq + j, "...", 3);
			j += 3;
		}
		idq[j] = '\0';
		snprintf(msg, sizeof(msg), "duplicate id '%s' (item %zu)", idq, s->idx->n);
		return scan_error(s, s->item_start, msg);
	}
	return 0;
}

/* A value just ended (the byte before @off was its last). */
static int value_done(struct scanner *s)
{
	s->state = s->depth ? S_AFTER : S_DONE;
	return 0;
}

/* A string just ended; handle what it was captured for. */
static int string_done(struct scanner *s, uint64_t off)
{
	enum str_role role = s->role;

	s->role = R_NONE;
	if (s->is_key) {
		if (role == R_KEY)
			s->key = classify_key(s);
		s->state = S_COLON;
		return 0;
	}
	if (role == R_VALUE) {
		switch (s->key) {
		case K_ID:
			/* an id that is not valid UTF-8, or holds a NUL (no file name
			 * can say it), names no user the mount shows: the item is
			 * kept but skipped */
			s->has_id = cap_decode(s, &s->id) && !memchr(s->id.buf, '\0', s->id.len);
			break;
		case K_CREATED:
			s->created = cap_time(s);
			break;
		case K_UPDATED:
			s->updated = cap_time(s);
			break;
		default:
			break;
		}
	}
	return value_done(s);
}

static void string_begin(struct scanner *s, enum str_role role, bool is_key)
{
	s->state = S_STRING;
	s->role = role;
	s->is_key = is_key;
	if (role != R_NONE) {
		jfs_strbuf_setlen(&s->cap, 0);
		s->cap_esc = false;
	}
}

/* Start a value with byte @c at @off (after whitespace). */
static int value_begin(struct scanner *s, unsigned char c, uint64_t off)
{
	int ret;

	if (s->depth == 1 && c != '{')
		return scan_errorf_char(s, off, "an item must be an object, found", c);
	if (s->depth == 2 && c != '"') {
		/* the last "id" key wins, as in JSON.parse */
		if (s->key == K_ID)
			s->has_id = false;
		else if (s->key == K_CREATED)
			s->created = -1;
		else if (s->key == K_UPDATED)
			s->updated = -1;
	}
	switch (c) {
	case '{':
		if ((ret = push(s, 'o', off)))
			return ret;
		if (s->depth == 2)
			item_begin(s, off);
		s->state = S_KEY_OR_END;
		return 0;
	case '[':
		if ((ret = push(s, 'a', off)))
			return ret;
		s->state = S_VALUE_OR_END;
		return 0;
	case '"':
		string_begin(s, s->depth == 2 && s->key != K_OTHER ? R_VALUE : R_NONE, false);
		return 0;
	case '-':
		s->state = S_NUMBER;
		s->num = N_MINUS;
		return 0;
	case '0':
		s->state = S_NUMBER;
		s->num = N_ZERO;
		return 0;
	case '1' ... '9':
		s->state = S_NUMBER;
		s->num = N_INT;
		return 0;
	case 't':
		s->lit = "true";
		break;
	case 'f':
		s->lit = "false";
		break;
	case 'n':
		s->lit = "null";
		break;
	default:
		return scan_errorf_char(s, off, "unexpected", c);
	}
	s->state = S_LITERAL;
	s->lit_i = 1;
	return 0;
}

/* A closing bracket @c at @off. */
static int container_end(struct scanner *s, unsigned char c, uint64_t off)
{
	unsigned char want = c == '}' ? 'o' : 'a';

	if (!s->depth || s->stack[s->depth - 1] != want)
		return scan_errorf_char(s, off, "unexpected", c);
	s->depth--;
	if (s->depth == 1 && want == 'o') {
		int ret = item_end(s, off + 1);

		if (ret)
			return ret;
	}
	return value_done(s);
}

/* Feed @len bytes at @buf, which sit at offset s->base of the file. */
static int scanner_feed(struct scanner *s, const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf, *end = p + len;
	const unsigned char *hash_from = p;
	int ret = 0;

#define OFF(q) (s->base + (uint64_t)((q) - (const unsigned char *)buf))
	while (p < end) {
		unsigned char c;

		if (__builtin_expect(s->state >= S_STRING, 0)) switch (s->state) {
		case S_STRING: {
			const unsigned char *q = skip_string(p, end);

			if (s->role != R_NONE)
				jfs_strbuf_add(&s->cap, p, (size_t)(q - p));
			if (q == end) {
				p = q;
				continue;
			}
			if (*q == '"') {
				p = q + 1;
				if ((ret = string_done(s, OFF(q))))
					goto out;
				/* an item closes only at '}', so hash_from stays right */
				continue;
			}
			if (*q == '\\') {
				if (s->role != R_NONE) {
					jfs_strbuf_addch(&s->cap, '\\');
					s->cap_esc = true;
				}
				s->state = S_ESC;
				p = q + 1;
				continue;
			}
			ret = scan_errorf_char(s, OFF(q), "unescaped control character in string:", *q);
			goto out;
		}
		case S_ESC:
			c = *p;
			if (c == 'u') {
				s->state = S_UHEX;
				s->hexleft = 4;
			} else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' ||
				   c == 'n' || c == 'r' || c == 't') {
				s->state = S_STRING;
			} else {
				ret = scan_errorf_char(s, OFF(p), "invalid escape", c);
				goto out;
			}
			if (s->role != R_NONE)
				jfs_strbuf_addch(&s->cap, (char)c);
			p++;
			continue;
		case S_UHEX:
			c = *p;
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
				ret = scan_errorf_char(s, OFF(p), "invalid \\u escape", c);
				goto out;
			}
			if (s->role != R_NONE)
				jfs_strbuf_addch(&s->cap, (char)c);
			if (!--s->hexleft)
				s->state = S_STRING;
			p++;
			continue;
		case S_NUMBER:
			c = *p;
			switch (s->num) {
			case N_MINUS:
				if (c == '0')
					s->num = N_ZERO;
				else if (c >= '1' && c <= '9')
					s->num = N_INT;
				else
					goto bad_number;
				p++;
				continue;
			case N_ZERO:
				if (c == '.')
					s->num = N_DOT;
				else if (c == 'e' || c == 'E')
					s->num = N_E;
				else if (c >= '0' && c <= '9')
					goto bad_number;
				else
					goto number_done;
				p++;
				continue;
			case N_INT:
			case N_FRAC:
			case N_EXP:
				while (p < end && *p >= '0' && *p <= '9')
					p++;
				if (p == end)
					continue;
				c = *p;
				if (c == '.' && s->num == N_INT)
					s->num = N_DOT;
				else if ((c == 'e' || c == 'E') && s->num != N_EXP)
					s->num = N_E;
				else
					goto number_done;
				p++;
				continue;
			case N_DOT:
				if (!(c >= '0' && c <= '9'))
					goto bad_number;
				s->num = N_FRAC;
				p++;
				continue;
			case N_E:
				if (c == '+' || c == '-')
					s->num = N_ESIGN;
				else if (c >= '0' && c <= '9')
					s->num = N_EXP;
				else
					goto bad_number;
				p++;
				continue;
			case N_ESIGN:
				if (!(c >= '0' && c <= '9'))
					goto bad_number;
				s->num = N_EXP;
				p++;
				continue;
			}
number_done:
			/* the byte at p is not part of the number: handle it below */
			value_done(s);
			break;
bad_number:
			ret = scan_errorf_char(s, OFF(p), "invalid number at", *p);
			goto out;
		case S_LITERAL:
			if (*p != (unsigned char)s->lit[s->lit_i]) {
				ret = scan_errorf_char(s, OFF(p), "invalid literal at", *p);
				goto out;
			}
			p++;
			if (!s->lit[++s->lit_i])
				value_done(s);
			continue;
		default:
			break;
		}

		c = *p;
		if (c <= ' ' && (c == ' ' || c == '\n' || c == '\r' || c == '\t')) {
			if (c == '\n') {
				s->line++;
				s->line_off = OFF(p) + 1;
			}
			if (s->depth == 1) {
				if (s->gaplen < sizeof(s->gap))
					s->gap[s->gaplen] = (char)c;
				s->gaplen++;
				p++;
			} else {
				p = skip_spaces(p + 1, end);
			}
			continue;
		}
		switch (s->state) {
		case S_START:
			if (c != '[') {
				ret = scan_errorf_char(s, OFF(p), "not a JSON array: found", c);
				goto out;
			}
			ret = push(s, 'a', OFF(p));
			s->state = S_VALUE_OR_END;
			s->gaplen = 0;
			break;
		case S_VALUE_OR_END:
			if (c == ']') {
				ret = container_end(s, c, OFF(p));
				break;
			}
			/* fall through */
		case S_VALUE:
			ret = value_begin(s, c, OFF(p));
			if (c == '{' && s->depth == 2)
				hash_from = p; /* an item starts */
			break;
		case S_KEY_OR_END:
			if (c == '}') {
				if (s->depth == 2 && s->in_item)
					jfs_fdb_hash_update(&s->h, hash_from, (size_t)(p + 1 - hash_from));
				ret = container_end(s, c, OFF(p));
				break;
			}
			/* fall through */
		case S_KEY:
			if (c != '"') {
				ret = scan_errorf_char(s, OFF(p), "expected a key string, found", c);
				break;
			}
			string_begin(s, s->depth == 2 ? R_KEY : R_NONE, true);
			break;
		case S_COLON:
			if (c != ':') {
				ret = scan_errorf_char(s, OFF(p), "expected ':', found", c);
				break;
			}
			s->state = S_VALUE;
			break;
		case S_AFTER:
			if (c == ',') {
				if (s->depth == 1) {
					if (s->gaplen < sizeof(s->gap))
						s->gap[s->gaplen] = ',';
					s->gaplen++;
				}
				s->state = s->stack[s->depth - 1] == 'o' ? S_KEY : S_VALUE;
				break;
			}
			if (c == '}' || c == ']') {
				if (c == '}' && s->depth == 2 && s->in_item)
					jfs_fdb_hash_update(&s->h, hash_from, (size_t)(p + 1 - hash_from));
				ret = container_end(s, c, OFF(p));
				break;
			}
			ret = scan_errorf_char(s, OFF(p), "expected ',' or a closing bracket, found", c);
			break;
		case S_DONE:
			ret = scan_errorf_char(s, OFF(p), "unexpected text after the array:", c);
			break;
		default:
			ret = scan_error(s, OFF(p), "internal scanner error");
			break;
		}
		if (ret)
			goto out;
		p++;
	}
	if (s->in_item && hash_from < end)
		jfs_fdb_hash_update(&s->h, hash_from, (size_t)(end - hash_from));
out:
#undef OFF
	s->base += len;
	return ret;
}

static int scanner_finish(struct scanner *s)
{
	if (s->state == S_DONE)
		return 0;
	if (s->state == S_START)
		return scan_error(s, s->base, s->base ? "no JSON array in the file" :
				  "the file is empty");
	/* a number may end at the end of the text, but never at top level here */
	return scan_error(s, s->base, "unexpected end of file (truncated?)");
}

int jfs_fdb_scan_buf(const char *buf, size_t len, size_t chunk, struct jfs_fdb_index *idx,
		     struct jfs_err *err)
{
	struct scanner s;
	size_t off = 0;
	int ret = 0;

	if (!chunk)
		chunk = len ? len : 1;
	scanner_init(&s, idx, err);
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		if ((ret = scanner_feed(&s, buf + off, n)))
			goto out;
		off += n;
	}
	ret = scanner_finish(&s);
out:
	if (!ret)
		idx->size = len;
	scanner_release(&s);
	return ret;
}

#define SCAN_CHUNK (1u << 20)

int jfs_fdb_scan_fd(int fd, struct jfs_fdb_index *idx, struct jfs_err *err)
{
	struct scanner s;
	char *buf = malloc(SCAN_CHUNK);
	int ret = 0;

	if (!buf)
		abort();
	scanner_init(&s, idx, err);
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (lseek(fd, 0, SEEK_SET) < 0) {
		ret = jfs_err_set(err, errno, "cannot seek: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, SCAN_CHUNK);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = jfs_err_set(err, errno, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (!n)
			break;
		if ((ret = scanner_feed(&s, buf, (size_t)n)))
			goto out;
	}
	ret = scanner_finish(&s);
	if (!ret)
		idx->size = s.base;
out:
	scanner_release(&s);
	free(buf);
	return ret;
}

const unsigned char *jfs_fdb_skip_string(const unsigned char *p, const unsigned char *end)
{
	return skip_string(p, end);
}
