/*
 * FileDb list() and find(): the listing from the index and the pending
 * edits, and a filter evaluated over the index without a tree per record.
 *
 * Lock: st->lock only to copy the pending changes and take the snapshot;
 * the pass itself reads the snapshot's file with no lock held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/filedb-internal.h"
#include "backends/filedb_scan.h"
#include "common/hmap.h"
#include "common/json.h"
#include "common/log.h"

static int cmp_pending_seq(const void *a, const void *b)
{
	const struct fdb_pending *x = *(struct fdb_pending *const *)a;
	const struct fdb_pending *y = *(struct fdb_pending *const *)b;

	return x->create_seq < y->create_seq ? -1 : x->create_seq > y->create_seq;
}

static void page_add(struct jfs_list_page *page, size_t *alloc, const char *id, int64_t c,
		     int64_t u)
{
	struct jfs_list_entry *le;

	if (page->n == *alloc) {
		size_t na = *alloc ? *alloc * 2 : 64;
		struct jfs_list_entry *ne = realloc(page->entries, na * sizeof(*ne));

		if (!ne)
			abort();
		page->entries = ne;
		*alloc = na;
	}
	le = &page->entries[page->n++];
	if (!(le->id = strdup(id)))
		abort();
	le->created_ms = c;
	le->updated_ms = u;
}

/* A time of a P_MODIFY item: from the patch when it touches @key, else @file_ms. */
static int64_t pend_time(const struct fdb_pending *e, const char *key, int64_t file_ms)
{
	if (jfs_unset_has(e->unset, key))
		return -1;
	if (json_object_get(e->set, key))
		return jfs_fdb_item_time(e->set, key);
	return file_ms;
}

int jfs_fdb_list(struct jfs_store *store, const char *cursor, size_t limit,
		       struct jfs_list_page *page, struct jfs_err *err)
{
	struct filedb_store *st = jfs_fdb_from_store(store, __func__);
	struct fdb_pending **puts = NULL;
	unsigned long long pos = 0;
	size_t nputs = 0, nfile, alloc = 0;
	struct jfs_hnode *node;
	struct jfs_err ferr;
	char *end;

	memset(page, 0, sizeof(*page));
	if (cursor) {
		errno = 0;
		pos = strtoull(cursor, &end, 10);
		if (errno || end == cursor || *end || cursor[0] == '-')
			return jfs_err_set(err, EINVAL, "invalid listing cursor '%s'", cursor);
	}
	if (!limit)
		limit = SIZE_MAX;
	/* a half-written file lists as the last good index */
	jfs_fdb_refresh(st, false, &ferr);

	pthread_mutex_lock(&st->lock);
	nfile = st->cur->idx.n;
	if (st->pending.n) {
		puts = malloc(st->pending.n * sizeof(*puts));
		if (!puts)
			abort();
		jfs_hmap_for_each(&st->pending, node)
			if (jfs_fdb_pend_of(node)->kind == P_PUT)
				puts[nputs++] = jfs_fdb_pend_of(node);
		qsort(puts, nputs, sizeof(*puts), cmp_pending_seq);
	}
	for (; pos < nfile + nputs && page->n < limit; pos++) {
		const struct fdb_pending *e;

		if (pos < nfile) {
			const struct jfs_fdb_entry *fe = &st->cur->idx.items[pos];
			const char *id = jfs_fdb_index_id(&st->cur->idx, pos);

			if (fe->flags & JFS_FDB_NO_ID)
				continue;
			e = st->pending.n ? jfs_fdb_pend_find(st, id) : NULL;
			if (!e)
				page_add(page, &alloc, id, fe->created_ms, fe->updated_ms);
			else if (e->kind == P_MODIFY)
				page_add(page, &alloc, id, pend_time(e, "createdAt", fe->created_ms),
					 pend_time(e, "updatedAt", fe->updated_ms));
			continue;
		}
		e = puts[pos - nfile];
		page_add(page, &alloc, e->id, jfs_fdb_item_time(e->result, "createdAt"),
			 jfs_fdb_item_time(e->result, "updatedAt"));
	}
	if (pos < nfile + nputs) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%llu", pos);
		if (!(page->next = strdup(buf)))
			abort();
	}
	pthread_mutex_unlock(&st->lock);
	free(puts);
	return 0;
}

static int find_all(struct jfs_store *store, jfs_found_fn *fn, void *data, struct jfs_err *err)
{
	struct jfs_list_page page = { 0 };
	struct jfs_found *found = NULL;
	char *cursor = NULL;
	size_t i;
	int ret;

	do {
		ret = jfs_fdb_list(store, cursor, 10000, &page, err);
		free(cursor);
		cursor = NULL;
		if (ret)
			break;
		found = realloc(found, (page.n ? page.n : 1) * sizeof(*found));
		if (!found)
			abort();
		for (i = 0; i < page.n; i++) {
			found[i].id = page.entries[i].id;
			found[i].created_ms = page.entries[i].created_ms;
			found[i].updated_ms = page.entries[i].updated_ms;
			found[i].item = NULL;
		}
		if (page.n && fn(data, found, page.n))
			ret = jfs_err_set(err, ECANCELED, "the caller stopped the listing");
		cursor = page.next;
		page.next = NULL;
		jfs_list_page_release(&page);
	} while (!ret && cursor);
	free(cursor);
	free(found);
	return ret;
}

int jfs_fdb_find_op(struct jfs_store *store, const struct jfs_filter *f, jfs_found_fn *fn,
		    void *data, struct jfs_err *err)
{
	if (!f)
		return find_all(store, fn, data, err);
	return jfs_fdb_find(jfs_fdb_from_store(store, __func__), f, fn, data, err);
}


/*
 * find(): the index tells where each item's text is; the text is read in
 * big windows and each condition's value is picked out of it by
 * jfs_fdb_value_at(), so only those values are ever parsed. Items with
 * pending edits are read whole and patched. FileDb decides every filter
 * exactly: an entry carries an item only when the filter needs values.
 */
#define FIND_PAGE 1000
#define FIND_WINDOW (4u << 20)

/* A pending change as a find sees it: copied under the lock, owned by the find. */
struct find_pend {
	struct jfs_hnode node;
	char *id;
	enum pend_kind kind;
	bool replace;
	uint64_t create_seq;
	json_t *set, *unset;  /* P_MODIFY: copies */
	json_t *result;       /* P_PUT: a copy */
};

struct find_run {
	const struct jfs_filter *f;
	struct jfs_path *proj;
	size_t nproj;
	jfs_found_fn *fn;
	void *data;
	struct jfs_found page[FIND_PAGE];
	size_t n;
	bool stopped;
};

static void find_flush(struct find_run *r)
{
	size_t i;

	if (r->n && !r->stopped && r->fn(r->data, r->page, r->n))
		r->stopped = true;
	for (i = 0; i < r->n; i++) {
		free(r->page[i].id);
		json_decref(r->page[i].item);
	}
	r->n = 0;
}

/* Report @id; takes @item (may be NULL). */
static void find_emit(struct find_run *r, const char *id, int64_t c, int64_t u, json_t *item)
{
	struct jfs_found *e = &r->page[r->n++];

	if (!(e->id = strdup(id)))
		abort();
	e->created_ms = c;
	e->updated_ms = u;
	e->item = item;
	if (r->n == FIND_PAGE)
		find_flush(r);
}

/* A whole item (a pending one): report it when it matches. */
static void find_tree(struct find_run *r, const char *id, const json_t *item)
{
	if (!jfs_filter_match(r->f, item))
		return;
	find_emit(r, id, jfs_fdb_item_time(item, "createdAt"), jfs_fdb_item_time(item, "updatedAt"),
		  r->f->nneed ? jfs_filter_project(r->f, item) : NULL);
}

/*
 * The text of one item: 1 and *@partial (the values at the projection,
 * when the filter needs them) when it matches, 0 when not, -1 when the
 * text is not JSON.
 */
static int find_text(struct find_run *r, const char *buf, size_t len, json_t **partial)
{
	json_t *part = json_object(), *v;
	size_t i, off, vlen;
	int rc = 0;

	for (i = 0; i < r->nproj; i++) {
		rc = jfs_fdb_value_at(buf, len, r->proj[i].seg, r->proj[i].n, &off, &vlen);
		if (rc < 0 || (rc == 1 && jfs_json_parse(buf + off, vlen, &v, NULL))) {
			rc = -1;
			goto out_decref;
		}
		if (rc == 1)
			jfs_path_put_new(part, &r->proj[i], r->proj[i].n, v);
	}
	rc = jfs_filter_match(r->f, part);
	if (rc && r->f->nneed) {
		*partial = part;
		part = NULL;
	}
out_decref:
	json_decref(part);
	return rc;
}

static struct find_pend *find_pend_get(struct jfs_hmap *m, const char *id)
{
	struct jfs_hnode *node;

	jfs_hmap_for_each_hash(m, node, jfs_fdb_hash(id, strlen(id))) {
		struct find_pend *fp = jfs_container_of(node, struct find_pend, node);

		if (!strcmp(fp->id, id))
			return fp;
	}
	return NULL;
}

static int cmp_find_put(const void *a, const void *b)
{
	const struct find_pend *x = *(struct find_pend *const *)a;
	const struct find_pend *y = *(struct find_pend *const *)b;

	return x->create_seq < y->create_seq ? -1 : x->create_seq > y->create_seq;
}

/* One pass over snapshot @s and the pending changes @pend: -EAGAIN when the file changed. */
static int find_pass(struct filedb_store *st, struct fdb_snap *s, struct jfs_hmap *pend,
		     struct find_run *r, struct jfs_err *err)
{
	struct find_pend **puts = NULL, *fp;
	struct jfs_hnode *node;
	uint64_t woff = 0, wlen = 0;
	size_t i, nputs = 0;
	char *win = NULL;
	int ret = 0;

	for (i = 0; i < s->idx.n && !r->stopped; i++) {
		const struct jfs_fdb_entry *e = &s->idx.items[i];
		const char *id = jfs_fdb_index_id(&s->idx, i);
		json_t *partial = NULL, *raw;
		const char *text;
		int rc;

		if (e->flags & JFS_FDB_NO_ID)
			continue; /* no user the mount shows (kept in the file as it is) */
		fp = pend->n ? find_pend_get(pend, id) : NULL;
		if (fp && fp->kind != P_MODIFY)
			continue; /* removed, or replaced by a new item (below) */
		if (e->off < woff || e->off + e->len > woff + wlen) {
			uint64_t want = e->len > FIND_WINDOW ? e->len : FIND_WINDOW;

			if (s->idx.size > e->off && want > s->idx.size - e->off)
				want = s->idx.size - e->off;
			if (want < e->len)
				want = e->len;
			free(win);
			win = malloc(want ? want : 1);
			if (!win)
				abort();
			woff = e->off;
			wlen = want;
			ret = jfs_fdb_pread_full(s->fd, win, want, woff);
			if (ret == -EAGAIN)
				break;
			if (ret) {
				jfs_err_set(err, -ret, "cannot read '%s': %s", st->path, strerror(-ret));
				break;
			}
		}
		text = win + (e->off - woff);
		if (jfs_fdb_hash(text, e->len) != e->hash) {
			ret = -EAGAIN; /* rewritten in place since the scan */
			break;
		}
		if (fp) {
			json_t *full;

			ret = jfs_json_parse(text, e->len, &raw, err);
			if (ret) {
				ret = -EIO;
				break;
			}
			full = jfs_fdb_apply(raw, fp->set, fp->unset);
			find_tree(r, id, full);
			json_decref(full);
			json_decref(raw);
			continue;
		}
		rc = find_text(r, text, e->len, &partial);
		if (rc < 0) {
			ret = jfs_err_set(err, EIO, "cannot parse item '%s' of '%s' (offset %llu)", id,
					  st->path, (unsigned long long)e->off);
			break;
		}
		if (rc)
			find_emit(r, id, e->created_ms, e->updated_ms, partial);
	}
	free(win);
	if (ret)
		return ret;
	/* new items, in the order they will be saved at the end of the file */
	if (pend->n) {
		puts = malloc(pend->n * sizeof(*puts));
		if (!puts)
			abort();
		jfs_hmap_for_each(pend, node) {
			fp = jfs_container_of(node, struct find_pend, node);
			if (fp->kind == P_PUT)
				puts[nputs++] = fp;
		}
		qsort(puts, nputs, sizeof(*puts), cmp_find_put);
		for (i = 0; i < nputs && !r->stopped; i++)
			find_tree(r, puts[i]->id, puts[i]->result);
		free(puts);
	}
	return 0;
}

static void find_pend_release(struct jfs_hmap *pend)
{
	struct jfs_hnode *node, *tmp;

	jfs_hmap_for_each_safe(pend, node, tmp) {
		struct find_pend *fp = jfs_container_of(node, struct find_pend, node);

		jfs_hmap_remove(pend, node);
		free(fp->id);
		json_decref(fp->set);
		json_decref(fp->unset);
		json_decref(fp->result);
		free(fp);
	}
	jfs_hmap_release(pend);
}

/* Every id, from the listing's pages (their times included). */
int jfs_fdb_find(struct filedb_store *st, const struct jfs_filter *f, jfs_found_fn *fn,
		 void *data, struct jfs_err *err)
{
	struct find_run *r;
	struct jfs_hnode *node;
	struct jfs_hmap pend;
	struct fdb_snap *s;
	struct jfs_err ferr;
	int ret = 0, attempt;

	r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->f = f;
	r->fn = fn;
	r->data = data;
	r->nproj = jfs_filter_projection(f, &r->proj);
	for (attempt = 0; attempt < 3; attempt++) {
		/* a half-written file is found in as the last good index, as list() does */
		jfs_err_clear(&ferr);
		jfs_fdb_refresh(st, attempt > 0, &ferr);
		jfs_hmap_init(&pend, 64);
		pthread_mutex_lock(&st->lock);
		s = st->cur;
		jfs_fdb_snap_get(s);
		jfs_hmap_for_each(&st->pending, node) {
			const struct fdb_pending *e = jfs_fdb_pend_of(node);
			struct find_pend *fp = calloc(1, sizeof(*fp));

			if (!fp || !(fp->id = strdup(e->id)))
				abort();
			fp->kind = e->kind;
			fp->replace = e->replace;
			fp->create_seq = e->create_seq;
			/* copies: the pending set changes its values under no lock of ours */
			if (e->kind == P_MODIFY) {
				fp->set = json_deep_copy(e->set);
				fp->unset = json_deep_copy(e->unset);
			} else if (e->kind == P_PUT) {
				fp->result = json_deep_copy(e->result);
			}
			jfs_hmap_add(&pend, &fp->node, jfs_fdb_hash(fp->id, strlen(fp->id)));
		}
		pthread_mutex_unlock(&st->lock);
		ret = find_pass(st, s, &pend, r, err);
		jfs_fdb_snap_put(s);
		find_pend_release(&pend);
		if (ret != -EAGAIN)
			break;
		/* what was reported stays reported: the contract allows an id twice */
	}
	if (ret == -EAGAIN)
		ret = jfs_err_set(err, EIO, "'%s' keeps changing under the find", st->path);
	if (!ret) {
		find_flush(r);
		if (r->stopped)
			ret = jfs_err_set(err, ECANCELED, "the caller stopped the find");
	} else {
		r->stopped = true; /* what is left is not reported */
		find_flush(r);
	}
	free(r->proj);
	free(r);
	return ret;
}
