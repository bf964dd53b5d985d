/*
 * The FileDb index: a streaming byte-level scan of a Jovo FileDb file (a
 * JSON array of items, as JSON.stringify(users, null, 2) writes it) that
 * finds where each item's text is, without building a tree of the file.
 *
 * Per item the index keeps its byte offset and length (from '{' to '}'),
 * its decoded "id", its top-level "createdAt"/"updatedAt" in ms and a
 * 64-bit hash of its bytes, and looks items up by id in a hash table.
 *
 * An index is plain data: not locked, not shared while being built. Once
 * built, concurrent readers (jfs_fdb_index_find(), _id()) are safe.
 */
#ifndef JFS_FILEDB_SCAN_H
#define JFS_FILEDB_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/strbuf.h"

/* the item is preceded by exactly ",\n  " (so runs of items copy as one block) */
#define JFS_FDB_STD_GAP 1u
/*
 * the item has no "id" the mount can show (none, not a string, not valid
 * UTF-8, or holding a NUL): its id is "", it is not in the table by id, and
 * it is kept in the file byte for byte but is no user
 */
#define JFS_FDB_NO_ID 2u

/** One item of the file. */
struct jfs_fdb_entry {
	uint64_t off;        /**< offset of the item's '{' */
	uint64_t len;        /**< bytes up to and including its '}' */
	uint64_t hash;       /**< jfs_fdb_hash() of those bytes */
	int64_t created_ms;  /**< top-level "createdAt" in ms, -1 when absent or not ISO */
	int64_t updated_ms;  /**< top-level "updatedAt" in ms, -1 when absent or not ISO */
	size_t id_off;       /**< the decoded id, at ids.buf + id_off, NUL-terminated */
	uint32_t id_len;     /**< its length (an id may hold "\u0000") */
	uint32_t flags;      /**< JFS_FDB_STD_GAP, JFS_FDB_NO_ID */
};

/** The items of a file in file order, plus a hash table by id. */
struct jfs_fdb_index {
	struct jfs_fdb_entry *items;
	size_t n, alloc;
	struct jfs_strbuf ids;  /**< every id, NUL-terminated, back to back */
	uint32_t *slots;        /**< open addressing: 0 empty, else item number + 1 */
	size_t nslots;          /**< a power of two, or 0 */
	uint64_t size;          /**< bytes scanned (the file size) */
	size_t no_id;           /**< items flagged JFS_FDB_NO_ID */
	uint64_t no_id_off;     /**< the offset of the first of them */
};

void jfs_fdb_index_init(struct jfs_fdb_index *idx);
/** Free the contents of @idx; it can be initialised again. */
void jfs_fdb_index_release(struct jfs_fdb_index *idx);

/** The id of item @i (NUL-terminated; borrowed from @idx). */
static inline const char *jfs_fdb_index_id(const struct jfs_fdb_index *idx, size_t i)
{
	return idx->ids.buf + idx->items[i].id_off;
}

/**
 * Append an item (@e's id_off is ignored: @id, @id_len are copied).
 * Returns 0, or -EEXIST when @idx already holds that id.
 */
int jfs_fdb_index_add(struct jfs_fdb_index *idx, const struct jfs_fdb_entry *e, const char *id,
		      size_t id_len);

/** The number of the item with id @id (@len bytes), or -1 when there is none. */
long jfs_fdb_index_find(const struct jfs_fdb_index *idx, const char *id, size_t len);

/**
 * Scan the whole file open at @fd from offset 0 with read() in 1 MiB
 * chunks into @idx (initialised and empty). An object without a string
 * "id" is indexed with JFS_FDB_NO_ID (counted in idx->no_id). Returns 0;
 * -EINVAL when the text is not a JSON array of objects, or has a duplicate
 * id, or ends early (message: "line L column C (offset O): ...");
 * -EIO (or another -errno) when reading fails. On failure @idx holds
 * garbage: release it.
 */
int jfs_fdb_scan_fd(int fd, struct jfs_fdb_index *idx, struct jfs_err *err);

/**
 * The same on @len bytes at @buf, fed to the scanner @chunk bytes at a time
 * (so tests can cut tokens at every boundary; 0 means all at once).
 */
int jfs_fdb_scan_buf(const char *buf, size_t len, size_t chunk, struct jfs_fdb_index *idx,
		     struct jfs_err *err);

/**
 * Where the value at the path @seg[0 .. @nseg) is in the JSON text of one
 * item (@len bytes at @buf), found without building a tree: keys of
 * objects (the last of a key given twice, as JSON.parse keeps it), indexes
 * of arrays (jfs_path_index()). Returns 1 and the value's text at
 * @buf + *@voff, *@vlen bytes; 0 when the path leads nowhere (a missing
 * key, an index past the end, a step into a scalar); -1 when the text is
 * not JSON.
 */
int jfs_fdb_value_at(const char *buf, size_t len, char *const *seg, size_t nseg, size_t *voff,
		     size_t *vlen);

/** Streaming 64-bit hash (XXH64 with seed 0) of bytes fed in pieces. */
struct jfs_fdb_hasher {
	uint64_t v[4];
	uint64_t total;
	unsigned char mem[32];
	unsigned memsize;
};

void jfs_fdb_hash_init(struct jfs_fdb_hasher *h);
void jfs_fdb_hash_update(struct jfs_fdb_hasher *h, const void *p, size_t len);
uint64_t jfs_fdb_hash_final(const struct jfs_fdb_hasher *h);
/** The hash of @len bytes at @p in one go. */
uint64_t jfs_fdb_hash(const void *p, size_t len);

/**
 * The first byte at or after @p (before @end) that ends a run of plain
 * string bytes: '"', '\\' or a control character.
 */
const unsigned char *jfs_fdb_skip_string(const unsigned char *p, const unsigned char *end);

#endif
