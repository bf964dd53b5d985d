/*
 * Find views: the filter language of .jovofs/find/NAME/, the
 * storedElements rules on it, and the one way a filtered listing reaches
 * the store (jfs_policy_find()).
 *
 * A filter is one or more conditions joined by '&'; a condition is
 * PATH OP VALUE (OP one of = != < <= > >= ~) or PATH? (exists). PATH is a
 * dotted path into the stored record; VALUE a JSON literal (a number, a
 * "string", true, false, null) or else a bare string. A name cannot hold
 * '/', so PATH's segments and VALUE are percent-decoded after the name is
 * cut into conditions, operators and segments: %2F is '/', %26 a '&' that
 * does not join, %2E a '.' inside a key. What a condition means is
 * backend.h's jfs_filter_cond_holds(): JavaScript's comparisons.
 *
 * The policy: a condition on an element storedElements disables is
 * refused (ENOENT), and an expired session matches no session.*
 * condition; the store reports each match of a session condition with the
 * session's updatedAt (filter->need) so the expiry is decided here.
 */
#include "policy/policy.h"
#include "policy/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/isotime.h"
#include "common/json.h"
#include "common/strbuf.h"
#include "policy/mask.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode @len bytes at @s into @out: false on a '%' without two hex digits. */
static bool pct_decode(const char *s, size_t len, struct jfs_strbuf *out)
{
	size_t i;

	jfs_strbuf_setlen(out, 0);
	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			jfs_strbuf_addch(out, s[i]);
			continue;
		}
		if (i + 2 >= len || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
			return false;
		jfs_strbuf_addch(out, (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2])));
		i += 2;
	}
	return true;
}

void jfs_policy_filter_free(struct jfs_filter *f)
{
	size_t i, j;

	if (!f)
		return;
	for (i = 0; i < f->n; i++) {
		for (j = 0; j < f->cond[i].path.n; j++)
			free(f->cond[i].path.seg[j]);
		free(f->cond[i].path.seg);
		json_decref(f->cond[i].value);
	}
	free(f->cond);
	for (i = 0; i < f->nneed; i++) {
		for (j = 0; j < f->need[i].n; j++)
			free(f->need[i].seg[j]);
		free(f->need[i].seg);
	}
	free(f->need);
	free(f);
}

/* Cut @len bytes of raw PATH at @s into @p's segments. */
static int parse_path(const char *s, size_t len, struct jfs_path *p, struct jfs_strbuf *tmp,
		      const char **why)
{
	size_t start = 0, i;

	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (i == start) {
			*why = "an empty segment in the path";
			return -EINVAL;
		}
		if (!pct_decode(s + start, i - start, tmp)) {
			*why = "'%' must be followed by two hex digits";
			return -EINVAL;
		}
		if (memchr(tmp->buf, '\0', tmp->len)) {
			*why = "a key cannot hold %00";
			return -EINVAL;
		}
		p->seg = realloc(p->seg, (p->n + 1) * sizeof(*p->seg));
		if (!p->seg)
			abort();
		p->seg[p->n] = strdup(tmp->buf);
		if (!p->seg[p->n])
			abort();
		p->n++;
		start = i + 1;
	}
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * VALUE's decoded text @s (@len bytes) as a literal: a JSON number,
 * string, true, false or null, else the text itself as a string. New
 * reference, or NULL with *@why.
 */
static json_t *parse_value(const char *s, size_t len, const char **why)
{
	json_t *v = NULL;
	struct jfs_err jerr;

	if (len && !is_space(s[0]) && !is_space(s[len - 1]) &&
	    jfs_json_parse(s, len, &v, &jerr) == 0) {
		if (json_is_object(v) || json_is_array(v)) {
			json_decref(v);
			*why = "objects and arrays cannot be compared: compare a path into them";
			return NULL;
		}
		return v;
	}
	v = json_stringn(s, len);
	if (!v)
		*why = "the value is not UTF-8";
	return v;
}

/* String(@v) of a literal, for '~'. New reference. */
static json_t *literal_string(json_t *v)
{
	struct jfs_strbuf sb;
	char num[32];
	json_t *s;

	if (json_is_string(v))
		return json_incref(v);
	jfs_strbuf_init(&sb);
	if (json_is_number(v)) {
		jfs_json_format_number(jfs_json_number_value(v), num);
		jfs_strbuf_addstr(&sb, num);
	} else {
		jfs_strbuf_addstr(&sb, json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null");
	}
	s = json_stringn(sb.buf, sb.len);
	jfs_strbuf_release(&sb);
	return s;
}

/* One condition, @len raw bytes at @s, into @c. */
static int parse_cond(const char *s, size_t len, struct jfs_filter_cond *c,
		      struct jfs_strbuf *tmp, const char **why)
{
	size_t k, vstart;
	json_t *v;
	int ret;

	k = strcspn(s, "=!<>~?");
	if (k >= len) {
		*why = "no operator (one of = != < <= > >= ~ ?)";
		return -EINVAL;
	}
	if (k == 0) {
		*why = "no path before the operator";
		return -EINVAL;
	}
	ret = parse_path(s, k, &c->path, tmp, why);
	if (ret)
		return ret;
	vstart = k + 1;
	switch (s[k]) {
	case '=':
		if (k + 1 < len && s[k + 1] == '=') {
			*why = "'==' is not an operator: use '='";
			return -EINVAL;
		}
		c->op = JFS_FOP_EQ;
		break;
	case '!':
		if (k + 1 >= len || s[k + 1] != '=') {
			*why = "'!' is not an operator: use '!='";
			return -EINVAL;
		}
		c->op = JFS_FOP_NE;
		vstart++;
		break;
	case '<':
	case '>':
		if (k + 1 < len && s[k + 1] == '=') {
			c->op = s[k] == '<' ? JFS_FOP_LE : JFS_FOP_GE;
			vstart++;
		} else {
			c->op = s[k] == '<' ? JFS_FOP_LT : JFS_FOP_GT;
		}
		break;
	case '~':
		c->op = JFS_FOP_CONTAINS;
		break;
	default: /* '?' */
		if (k + 1 != len) {
			*why = "'?' (exists) takes no value";
			return -EINVAL;
		}
		c->op = JFS_FOP_EXISTS;
		return 0;
	}
	if (!pct_decode(s + vstart, len - vstart, tmp)) {
		*why = "'%' must be followed by two hex digits";
		return -EINVAL;
	}
	v = parse_value(tmp->buf, tmp->len, why);
	if (!v)
		return -EINVAL;
	if (c->op == JFS_FOP_CONTAINS) {
		c->value = literal_string(v);
		json_decref(v);
	} else {
		c->value = v;
	}
	return 0;
}

/* The element @key names, or JFS_EL__COUNT when it names none. */
static enum jfs_elem elem_of(const char *key)
{
	int el;

	for (el = 0; el < JFS_EL__COUNT; el++)
		if (!strcmp(jfs_elem_key(el), key))
			return el;
	return JFS_EL__COUNT;
}

int jfs_policy_filter_parse(const struct jfs_policy_config *cfg, const char *name,
			    struct jfs_filter **out, struct jfs_err *err)
{
	struct jfs_filter *f = calloc(1, sizeof(*f));
	size_t len = strlen(name), start = 0, i;
	struct jfs_strbuf tmp;
	bool session = false;
	const char *why = NULL;
	enum jfs_elem el;
	int ret = 0;

	if (!f)
		abort();
	*out = NULL;
	jfs_strbuf_init(&tmp);
	if (!len) {
		ret = jfs_err_set(err, EINVAL, "malformed filter '': no condition");
		goto out_free;
	}
	for (i = 0; i <= len; i++) {
		struct jfs_filter_cond *c;

		if (i < len && name[i] != '&')
			continue;
		if (i == start) {
			ret = jfs_err_set(err, EINVAL, "malformed filter '%s': an empty condition "
					  "(a '&' too many)", name);
			goto out_free;
		}
		f->cond = realloc(f->cond, (f->n + 1) * sizeof(*f->cond));
		if (!f->cond)
			abort();
		c = &f->cond[f->n++];
		memset(c, 0, sizeof(*c));
		ret = parse_cond(name + start, i - start, c, &tmp, &why);
		if (ret) {
			jfs_err_set(err, EINVAL, "malformed filter '%s': condition '%.*s': %s", name,
				    (int)(i - start), name + start, why);
			goto out_free;
		}
		el = elem_of(c->path.seg[0]);
		if (el != JFS_EL__COUNT && !cfg->enabled[el]) {
			ret = jfs_err_set(err, ENOENT, "filter '%s': '%s' is disabled by "
					  "storedElements and cannot be queried", name,
					  c->path.seg[0]);
			goto out_free;
		}
		session |= el == JFS_EL_SESSION;
		start = i + 1;
	}
	if (session) {
		/* an expired session matches nothing: the store says when it was used */
		f->need = calloc(1, sizeof(*f->need));
		if (!f->need)
			abort();
		f->nneed = 1;
		ret = parse_path("session.updatedAt", strlen("session.updatedAt"), &f->need[0],
				 &tmp, &why);
	}
	if (!ret) {
		*out = f;
		f = NULL;
	}
out_free:
	jfs_strbuf_release(&tmp);
	jfs_policy_filter_free(f);
	return ret;
}

bool jfs_policy_filter_match(const struct jfs_policy_config *cfg, const struct jfs_filter *f,
			     const json_t *item, int64_t now_ms)
{
	size_t i;
	int expired = -1;

	for (i = 0; i < f->n; i++) {
		const struct jfs_filter_cond *c = &f->cond[i];

		if (!strcmp(c->path.seg[0], "session")) {
			if (expired < 0)
				expired = jfs_policy_session_expired(cfg, item, now_ms);
			if (expired)
				return false;
		}
		if (!jfs_filter_cond_holds(c, jfs_path_get(item, &c->path)))
			return false;
	}
	return true;
}

/* ---- the find itself ---- */

struct find_ctx {
	struct jfs_policy *p;
	const struct jfs_filter *f;
	jfs_found_fn *fn;
	void *data;
	int64_t now_ms;
	unsigned mask_times;  /* 1: createdAt masked, 2: updatedAt masked */
};

/* A page from the store: what it could not decide is decided here. */
static int found_page(void *data, const struct jfs_found *found, size_t n)
{
	struct find_ctx *ctx = data;
	struct jfs_found *kept;
	size_t i, m = 0;
	int rc;

	if (!ctx->f && !ctx->mask_times)
		return ctx->fn(ctx->data, found, n);
	kept = malloc((n ? n : 1) * sizeof(*kept));
	if (!kept)
		abort();
	for (i = 0; i < n; i++) {
		if (ctx->f && found[i].item &&
		    !jfs_policy_filter_match(&ctx->p->cfg, ctx->f, found[i].item, ctx->now_ms))
			continue;
		kept[m] = found[i];
		kept[m].item = NULL;
		/* masked times are not given away by mtimes either */
		if (ctx->mask_times & 1)
			kept[m].created_ms = -1;
		if (ctx->mask_times & 2)
			kept[m].updated_ms = -1;
		m++;
	}
	/* none left, the caller still hears of the page: it may be stopping */
	rc = ctx->fn(ctx->data, kept, m);
	free(kept);
	return rc;
}

/* A store without find(): page through the listing, and load each item to filter. */
static int find_by_listing(struct find_ctx *ctx, struct jfs_err *err)
{
	struct jfs_store *st = ctx->p->store;
	struct jfs_list_page page = { 0 };
	struct jfs_found *found = NULL;
	char *cursor = NULL;
	size_t i, m;
	int ret;

	do {
		ret = st->ops->list(st, cursor, 1000, &page, err);
		free(cursor);
		cursor = NULL;
		if (ret)
			break;
		found = realloc(found, (page.n ? page.n : 1) * sizeof(*found));
		if (!found)
			abort();
		for (i = m = 0; i < page.n && !ret; i++) {
			json_t *item = NULL;

			found[m].id = page.entries[i].id;
			found[m].created_ms = page.entries[i].created_ms;
			found[m].updated_ms = page.entries[i].updated_ms;
			found[m].item = NULL;
			if (ctx->f) {
				ret = st->ops->load(st, page.entries[i].id, &item, err);
				if (ret == -ENOENT) {
					ret = 0;
					continue;
				}
				if (ret)
					break;
				found[m].item = item;
			}
			m++;
		}
		if (!ret && found_page(ctx, found, m))
			ret = -ECANCELED;
		for (i = 0; i < m; i++)
			json_decref(found[i].item);
		cursor = page.next;
		page.next = NULL;
		jfs_list_page_release(&page);
	} while (!ret && cursor);
	free(cursor);
	free(found);
	return ret;
}

int jfs_policy_find(struct jfs_policy *p, const struct jfs_filter *f, jfs_found_fn *fn,
		    void *data, struct jfs_err *err)
{
	static const char *const created[] = { "createdAt" }, *const updated[] = { "updatedAt" };
	struct find_ctx ctx = { .p = p, .f = f, .fn = fn, .data = data, .now_ms = jfs_now_ms() };
	uint64_t t0 = jfs_mono_ns();
	int ret;

	if (p->mask)
		ctx.mask_times = (jfs_mask_covers(p->mask, created, 1) ? 1u : 0u) |
				 (jfs_mask_covers(p->mask, updated, 1) ? 2u : 0u);

	if (p->store->ops->find)
		ret = p->store->ops->find(p->store, f, found_page, &ctx, err);
	else
		ret = find_by_listing(&ctx, err);
	jfs_policy_time(p, f ? JFS_BOP_FIND : JFS_BOP_LIST, t0, ret);
	return ret;
}
