/*
 * The FileDb scanner (backends/filedb_scan.c) against jansson.
 *
 * The input is a whole FileDb file. Properties:
 *  - feeding it in one piece, one byte at a time, in chunks of another size
 *    or through a file descriptor gives the same index or the same error;
 *  - an accepted file: every entry covers exactly one item's text ('{' to
 *    '}', in file order, hash of those bytes), the item parsed alone has
 *    that "id" (last one wins) and those createdAt/updatedAt, and when
 *    jansson parses the whole file it is an array of exactly these items;
 *  - an item without a string "id", or with one holding a NUL, is flagged
 *    JFS_FDB_NO_ID (kept in the file, shown as no user);
 *  - a rejected file is one jansson rejects too, or one that is not an
 *    array of objects whose usable ids are unique. The scanner checks the
 *    grammar only where it matters for the index: it may accept what
 *    jansson refuses for UTF-8, \u surrogates, number range, NUL in keys
 *    or depth (those items fail later, one by one, when read).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/filedb_scan.h"
#include "common/isotime.h"
#include "common/log.h"

#include "fuzz.h"

/* jfs_json_parse()'s flags (common/json.c), to learn jansson's error code */
#define PARSE_FLAGS (JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL)

static int memfd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	jfs_log_set_level(LOG_ERR);
	memfd = memfd_create("fuzz-filedb", MFD_CLOEXEC);
	return 0;
}

struct scan {
	struct jfs_fdb_index idx;
	struct jfs_err err;
	int ret;
};

static void scan_buf(struct scan *s, const uint8_t *data, size_t size, size_t chunk)
{
	jfs_fdb_index_init(&s->idx);
	jfs_err_clear(&s->err);
	s->ret = jfs_fdb_scan_buf((const char *)data, size, chunk, &s->idx, &s->err);
}

static void scan_fd(struct scan *s, const uint8_t *data, size_t size)
{
	jfs_fdb_index_init(&s->idx);
	jfs_err_clear(&s->err);
	if (ftruncate(memfd, 0) || pwrite(memfd, data, size, 0) != (ssize_t)size)
		fuzz_fail("cannot write the memfd: %s", strerror(errno));
	s->ret = jfs_fdb_scan_fd(memfd, &s->idx, &s->err);
}

static void same_scan(const struct scan *a, const struct scan *b, const char *how)
{
	size_t i;

	FUZZ_CHECK(a->ret == b->ret, "%s: returned %d, in one piece %d ('%s' / '%s')", how, b->ret,
		   a->ret, b->err.msg, a->err.msg);
	if (a->ret) {
		FUZZ_CHECK(!strcmp(a->err.msg, b->err.msg), "%s: error '%s', in one piece '%s'",
			   how, b->err.msg, a->err.msg);
		return;
	}
	FUZZ_CHECK(a->idx.n == b->idx.n && a->idx.size == b->idx.size,
		   "%s: %zu items of %llu bytes, in one piece %zu of %llu", how, b->idx.n,
		   (unsigned long long)b->idx.size, a->idx.n, (unsigned long long)a->idx.size);
	for (i = 0; i < a->idx.n; i++) {
		const struct jfs_fdb_entry *x = &a->idx.items[i], *y = &b->idx.items[i];

		FUZZ_CHECK(x->off == y->off && x->len == y->len && x->hash == y->hash &&
			       x->created_ms == y->created_ms && x->updated_ms == y->updated_ms &&
			       x->flags == y->flags && x->id_len == y->id_len &&
			       !memcmp(jfs_fdb_index_id(&a->idx, i), jfs_fdb_index_id(&b->idx, i),
				       x->id_len),
			   "%s: item %zu differs from the one-piece scan", how, i);
	}
}

/*
 * Whether jansson's error is one the scanner leaves to the item's reader:
 * bad UTF-8 or \u surrogates, numbers beyond a double, NUL in keys, depth.
 * (JSON.parse accepts a lone surrogate "\ud83d", and Node's JSON.stringify
 * writes one for a broken string; jansson cannot hold it, so such an item
 * fails to load on its own while the others load.)
 */
static bool lenient_error(const json_error_t *jerr)
{
	enum json_error_code code = json_error_code(jerr);

	return code == json_error_invalid_utf8 || code == json_error_numeric_overflow ||
	       code == json_error_null_byte_in_key || code == json_error_stack_overflow ||
	       !strncmp(jerr->text, "invalid Unicode", 15);
}

/* The ms of a top-level time key as the scanner would record it. */
static int64_t item_time(const json_t *item, const char *key)
{
	json_t *v = json_object_get(item, key);
	int64_t ms;

	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
	    !jfs_iso_parse(json_string_value(v), &ms))
		return -1;
	return ms;
}

static void check_accepted(const struct scan *s, const uint8_t *data, size_t size)
{
	const struct jfs_fdb_index *idx = &s->idx;
	json_error_t jerr;
	json_t *root;
	uint64_t prev_end = 0;
	size_t i;

	FUZZ_CHECK(idx->size == size, "index size %llu of a %zu-byte file",
		   (unsigned long long)idx->size, size);
	root = json_loadb((const char *)data, size, PARSE_FLAGS, &jerr);
	if (!root)
		FUZZ_CHECK(lenient_error(&jerr),
			   "scanner accepted what jansson refuses: line %d column %d: %s",
			   jerr.line, jerr.column, jerr.text);
	else
		FUZZ_CHECK(json_is_array(root) && json_array_size(root) == idx->n,
			   "scanner found %zu items, jansson a %s of %zu", idx->n,
			   json_is_array(root) ? "array" : "non-array", json_array_size(root));

	for (i = 0; i < idx->n; i++) {
		const struct jfs_fdb_entry *e = &idx->items[i];
		const char *id = jfs_fdb_index_id(idx, i);
		json_t *item, *jid;

		FUZZ_CHECK(e->off >= prev_end && e->len >= 2 && e->off + e->len <= size,
			   "item %zu at %llu+%llu overlaps or passes the end", i,
			   (unsigned long long)e->off, (unsigned long long)e->len);
		prev_end = e->off + e->len;
		FUZZ_CHECK(data[e->off] == '{' && data[e->off + e->len - 1] == '}',
			   "item %zu does not span '{' .. '}'", i);
		FUZZ_CHECK(e->hash == jfs_fdb_hash(data + e->off, e->len), "item %zu: wrong hash",
			   i);
		FUZZ_CHECK((e->flags & JFS_FDB_NO_ID) ||
			       jfs_fdb_index_find(idx, id, e->id_len) == (long)i,
			   "item %zu not found by its id", i);
		FUZZ_CHECK(!(e->flags & JFS_FDB_STD_GAP) ||
			       (e->off >= 4 && !memcmp(data + e->off - 4, ",\n  ", 4)),
			   "item %zu flagged with the standard gap it lacks", i);

		item = json_loadb((const char *)data + e->off, e->len, PARSE_FLAGS, &jerr);
		if (!item) {
			FUZZ_CHECK(lenient_error(&jerr), "item %zu does not parse: %s", i,
				   jerr.text);
			continue;
		}
		FUZZ_CHECK(json_is_object(item), "item %zu is not an object", i);
		jid = json_object_get(item, "id");
		if (e->flags & JFS_FDB_NO_ID)
			/* kept, shown as no user: no string id, or one with a NUL */
			FUZZ_CHECK(!json_is_string(jid) ||
				       memchr(json_string_value(jid), '\0', json_string_length(jid)),
				   "item %zu with a usable \"id\" is flagged as having none", i);
		else
			FUZZ_CHECK(json_is_string(jid) && json_string_length(jid) == e->id_len &&
				       !memcmp(json_string_value(jid), id, e->id_len),
				   "item %zu: index id differs from the item's \"id\"", i);
		FUZZ_CHECK(item_time(item, "createdAt") == e->created_ms,
			   "item %zu: createdAt %lld in the index", i, (long long)e->created_ms);
		FUZZ_CHECK(item_time(item, "updatedAt") == e->updated_ms,
			   "item %zu: updatedAt %lld in the index", i, (long long)e->updated_ms);
		if (root)
			FUZZ_CHECK(jfs_json_equal(item, json_array_get(root, i)),
				   "item %zu alone differs from the whole file's", i);
		json_decref(item);
	}
	json_decref(root);
}

/* Whether @id names a user: a string without NUL (jansson's strings are UTF-8). */
static bool usable_id(const json_t *id)
{
	return json_is_string(id) && !memchr(json_string_value(id), '\0', json_string_length(id));
}

/* The scanner refused: jansson must refuse, or the file is no FileDb. */
static void check_refused(const struct scan *s, const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *root = json_loadb((const char *)data, size, PARSE_FLAGS, &jerr);
	size_t i, j, n;
	bool filedb = true;

	FUZZ_CHECK(s->ret == -EINVAL && s->err.code == EINVAL && s->err.msg[0],
		   "refused with %d and no message", s->ret);
	/*
	 * jansson's reader passes over a raw NUL byte between tokens; JSON.parse
	 * (the Jovo app's) refuses it, as the scanner does: no verdict there
	 */
	if (!root || memchr(data, '\0', size)) {
		json_decref(root);
		return;
	}
	n = json_array_size(root);
	if (!json_is_array(root))
		filedb = false;
	for (i = 0; filedb && i < n; i++) {
		json_t *a = json_object_get(json_array_get(root, i), "id");

		if (!json_is_object(json_array_get(root, i))) {
			filedb = false;
			break;
		}
		/* items without a usable id are kept aside: no duplicate among them */
		if (!usable_id(a))
			continue;
		for (j = 0; j < i; j++) {
			json_t *b = json_object_get(json_array_get(root, j), "id");

			if (usable_id(b) && json_string_length(a) == json_string_length(b) &&
			    !memcmp(json_string_value(a), json_string_value(b),
				    json_string_length(a)))
				filedb = false;
		}
	}
	json_decref(root);
	FUZZ_CHECK(!filedb, "scanner refused a valid FileDb: %s", s->err.msg);
}

static void fuzz_one(const uint8_t *data, size_t size)
{
	struct scan whole, other;

	scan_buf(&whole, data, size, 0);

	scan_buf(&other, data, size, 1);
	same_scan(&whole, &other, "byte by byte");
	jfs_fdb_index_release(&other.idx);

	scan_buf(&other, data, size, 2 + size % 37);
	same_scan(&whole, &other, "in chunks");
	jfs_fdb_index_release(&other.idx);

	if (memfd >= 0) {
		scan_fd(&other, data, size);
		same_scan(&whole, &other, "from a file");
		jfs_fdb_index_release(&other.idx);
	}

	if (!whole.ret)
		check_accepted(&whole, data, size);
	else
		check_refused(&whole, data, size);
	jfs_fdb_index_release(&whole.idx);
}
