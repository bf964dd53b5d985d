/*
 * Writes through the policy: validate, detect no-ops, patch one element
 * (plus updatedAt) conditionally, and sort out conflicts.
 */
#include "policy/policy.h"
#include "policy/store.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/isotime.h"
#include "common/json.h"
#include "common/log.h"

#define DEFAULT_MAX_RETRIES 5

/* One write or removal of one file's element, as it goes through retries. */
struct edit {
	struct jfs_policy *p;
	const char *id;
	const char *fname;
	enum jfs_elem el;
	size_t idx;
	json_t *value;  /* the validated new value (history: hidden keys left out); NULL: remove */
	bool restore;   /* an undo: value is stored exactly as it is */
	enum jfs_hist_change hist; /* restore of a history item: how */
};

/* A patch and the JSON it points to. */
struct built {
	struct jfs_patch patch;
	json_t *set;
	json_t *unset;
};

static void built_release(struct built *b)
{
	json_decref(b->set);
	json_decref(b->unset);
	memset(b, 0, sizeof(*b));
}

/* ---- the journal's hooks ---- */

static int journal_intent(struct jfs_policy *p, const struct jfs_change *c, uint64_t *seq,
			  struct jfs_err *err)
{
	*seq = 0;
	if (!p->journal.intent)
		return 0;
	return p->journal.intent(p->journal.data, c, seq, err);
}

static void journal_failed(struct jfs_policy *p, uint64_t seq, int rc, const char *why)
{
	if (seq && p->journal.failed)
		p->journal.failed(p->journal.data, seq, rc, why);
}

/* Item @idx of @item's stored history (all keys), or NULL. Borrowed. */
static json_t *stored_hist_item(const json_t *item, size_t idx)
{
	return json_array_get(json_object_get(json_object_get(item, "history"), "items"), idx);
}

static size_t stored_hist_count(const json_t *item)
{
	return json_array_size(json_object_get(json_object_get(item, "history"), "items"));
}

/*
 * The change that storing @after over @before makes to element @el (item
 * @idx, moved as @hist) of user @id, as the journal records it.
 */
static void describe_change(struct jfs_change *c, enum jfs_change_kind kind, const char *id,
			    enum jfs_elem el, size_t idx, enum jfs_hist_change hist,
			    const json_t *before, const json_t *after)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->id = id;
	c->el = el;
	c->idx = idx;
	c->hist = hist;
	if (el == JFS_EL__COUNT) {
		c->before = before;
		c->after = after;
	} else if (el != JFS_EL_HISTORY) {
		c->before = json_object_get(before, jfs_elem_key(el));
		c->after = json_object_get(after, jfs_elem_key(el));
	} else {
		c->before = hist != JFS_HIST_INSERT ? stored_hist_item(before, idx) : NULL;
		c->after = hist != JFS_HIST_REMOVE ? stored_hist_item(after, idx) : NULL;
		c->shifted = hist == JFS_HIST_REMOVE ? stored_hist_item(after, idx) : NULL;
	}
}

/* How edit @e moves the history items of @base. */
static enum jfs_hist_change edit_hist(const struct edit *e, const json_t *base)
{
	if (e->restore)
		return e->hist;
	if (!e->value)
		return JFS_HIST_REMOVE;
	return e->idx < stored_hist_count(base) ? JFS_HIST_REPLACE : JFS_HIST_INSERT;
}

static bool key_hidden(const struct jfs_policy_config *cfg, const char *key)
{
	json_t *v;
	size_t i;

	json_array_foreach(cfg->history_hidden, i, v)
		if (!strcmp(json_string_value(v), key))
			return true;
	return false;
}

/*
 * What the file of @e shows for @item: new reference, NULL when there is
 * no such file.
 */
static json_t *shown(const struct edit *e, const json_t *item, int64_t now_ms)
{
	if (e->el == JFS_EL_HISTORY)
		return jfs_policy_history_item(&e->p->cfg, item, e->idx);
	return json_incref(jfs_policy_element(&e->p->cfg, item, e->el, now_ms));
}

/* Equality as a reader of the file sees it; timestamps compare by the time they name. */
static bool same_value(enum jfs_elem el, const json_t *a, const json_t *b)
{
	int64_t ma, mb;

	if (!a || !b)
		return a == b;
	if ((el == JFS_EL_CREATED_AT || el == JFS_EL_UPDATED_AT) && json_is_string(a) &&
	    json_is_string(b) && jfs_iso_parse(json_string_value(a), &ma) &&
	    jfs_iso_parse(json_string_value(b), &mb))
		return ma == mb;
	return jfs_json_equal(a, b);
}

/* ---- validation ---- */

static int parse_time(const char *text, size_t len, const char *fname, json_t **out,
		      struct jfs_err *err)
{
	char buf[64], iso[32];
	int64_t ms;
	size_t i;

	while (len && isspace((unsigned char)text[len - 1]))
		len--;
	while (len && isspace((unsigned char)*text)) {
		text++;
		len--;
	}
	if (!len)
		return jfs_err_set(err, EINVAL, "cannot parse '%s': empty, expected an ISO-8601 time",
				   fname);
	if (len >= sizeof(buf))
		return jfs_err_set(err, EINVAL, "cannot parse '%s': not an ISO-8601 time", fname);
	for (i = 0; i < len; i++)
		if (!isprint((unsigned char)text[i]))
			return jfs_err_set(err, EINVAL,
					   "cannot parse '%s': not an ISO-8601 time", fname);
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (!jfs_iso_parse(buf, &ms))
		return jfs_err_set(err, EINVAL, "cannot parse '%s': '%s' is not an ISO-8601 time",
				   fname, buf);
	jfs_iso_format(ms, iso);
	*out = json_string(iso);
	return *out ? 0 : jfs_err_set(err, ENOMEM, "out of memory");
}

/* Whether @v has the shape element @el needs (what a Jovo app can load). */
static int check_shape(enum jfs_elem el, const json_t *v, const char *fname, struct jfs_err *err)
{
	const json_t *data;
	int64_t ms;

	if (el == JFS_EL_CREATED_AT || el == JFS_EL_UPDATED_AT) {
		if (!json_is_string(v) || !jfs_iso_parse(json_string_value(v), &ms))
			return jfs_err_set(err, EINVAL, "'%s': not an ISO-8601 time", fname);
		return 0;
	}
	if (el == JFS_EL_HISTORY) {
		if (!json_is_object(v))
			return jfs_err_set(err, EINVAL, "'%s': a history item must be a JSON object",
					   fname);
		return 0;
	}
	if (!json_is_object(v))
		return jfs_err_set(err, EINVAL, "'%s': must be a JSON object", fname);
	data = json_object_get(v, "data");
	if (!data)
		return jfs_err_set(err, EINVAL, "'%s': \"data\" must be an object (it is missing)",
				   fname);
	if (!json_is_object(data))
		return jfs_err_set(err, EINVAL, "'%s': \"data\" must be an object", fname);
	return 0;
}

/* Parse and check new content of @e's file; on success e->value is set. */
static int parse_value(struct edit *e, const char *text, size_t len, struct jfs_err *err)
{
	const char *key;
	json_t *v, *tmp;
	void *it;
	int ret;

	if (e->el == JFS_EL_CREATED_AT || e->el == JFS_EL_UPDATED_AT)
		return parse_time(text, len, e->fname, &e->value, err);

	/* a key written twice would lose one of them: say so instead */
	ret = jfs_json_parse_unique(text, len, &v, err);
	if (ret) {
		jfs_err_prefix(err, "cannot parse '%s'", e->fname);
		return ret;
	}
	ret = check_shape(e->el, v, e->fname, err);
	if (ret) {
		json_decref(v);
		return ret;
	}
	/* a hidden key is never shown, so not written either: the stored one stays */
	if (e->el == JFS_EL_HISTORY)
		json_object_foreach_safe(v, it, key, tmp)
			if (key_hidden(&e->p->cfg, key))
				json_object_del(v, key);
	e->value = v;
	return 0;
}

/* ---- patches ---- */

/*
 * Now for a write onto @base: never the updatedAt @base already has, so
 * a write in the same millisecond still changes what conditions compare.
 */
static int64_t write_time(const json_t *base)
{
	int64_t now = jfs_now_ms(), prev = jfs_item_updated_ms(base);

	if (prev >= now && prev - now < 1000)
		return prev + 1;
	return now;
}

/*
 * The "history" value after an undo puts item e->idx back: exactly
 * e->value, hidden keys and all; trimmed to the size as any write.
 */
static int history_restored(const struct edit *e, const json_t *hist, const json_t *old,
			    size_t n_old, json_t **out, struct jfs_err *err)
{
	json_t *items = json_array();
	json_t *res = json_is_object(hist) ? json_copy((json_t *)hist) : json_object();
	size_t i;

	if (!items || !res) {
		json_decref(items);
		json_decref(res);
		return jfs_err_set(err, ENOMEM, "out of memory");
	}
	if (e->idx > n_old || (e->hist != JFS_HIST_INSERT && e->idx >= n_old)) {
		json_decref(items);
		json_decref(res);
		return jfs_err_set(err, ESTALE, "'%s': history has %zu items now", e->fname, n_old);
	}
	for (i = 0; i <= n_old; i++) {
		if (i == e->idx && e->hist == JFS_HIST_INSERT)
			json_array_append(items, e->value);
		if (i == n_old)
			break;
		if (i == e->idx && e->hist == JFS_HIST_REMOVE)
			continue;
		json_array_append(items, i == e->idx && e->hist == JFS_HIST_REPLACE
					 ? e->value : json_array_get(old, i));
	}
	while (json_array_size(items) > e->p->cfg.history_size)
		json_array_remove(items, json_array_size(items) - 1);
	json_object_set_new(res, "items", items);
	*out = res;
	return 0;
}

/* The "history" value after writing (or, value NULL, removing) item e->idx. */
static int history_value(const struct edit *e, const json_t *base, json_t **out,
			 struct jfs_err *err)
{
	const struct jfs_policy_config *cfg = &e->p->cfg;
	json_t *hist = json_object_get(base, "history");
	json_t *old = json_object_get(hist, "items");
	json_t *items, *res, *it, *merged, *v;
	size_t n_old = json_array_size(old), n, i, k;
	const char *key;

	if (!json_is_array(old))
		n_old = 0;
	if (e->restore)
		return history_restored(e, hist, old, n_old, out, err);
	if (e->value && e->idx > n_old)
		return jfs_err_set(err, EINVAL, "'%s': history has %zu items; the next one is %zu.json",
				   e->fname, n_old, n_old);
	if (!e->value && e->idx >= jfs_policy_history_count(cfg, base))
		return jfs_err_set(err, ENOENT, "'%s': no such history item", e->fname);

	items = json_array();
	res = json_is_object(hist) ? json_copy(hist) : json_object();
	if (!items || !res)
		goto out_nomem;
	n = n_old;
	if (e->value && e->idx == n_old)
		n++;
	for (i = 0; i < n && json_array_size(items) < cfg->history_size; i++) {
		it = json_array_get(old, i);
		if (i != e->idx) {
			json_array_append(items, it);
			continue;
		}
		if (!e->value)
			continue;
		merged = json_copy(e->value);
		if (!merged)
			goto out_nomem;
		if (json_is_object(it))
			json_array_foreach(cfg->history_hidden, k, v) {
				key = json_string_value(v);
				if (json_object_get(it, key))
					json_object_set(merged, key, json_object_get(it, key));
			}
		json_array_append_new(items, merged);
	}
	json_object_set_new(res, "items", items);
	*out = res;
	return 0;

out_nomem:
	json_decref(items);
	json_decref(res);
	return jfs_err_set(err, ENOMEM, "out of memory");
}

/* The patch that applies @e to @base. */
static int build_patch(const struct edit *e, const json_t *base, struct built *b,
		       struct jfs_err *err)
{
	const struct jfs_policy_config *cfg = &e->p->cfg;
	const char *key = jfs_elem_key(e->el);
	char iso[32];
	json_t *v = NULL;
	int ret;

	memset(b, 0, sizeof(*b));
	jfs_iso_format(write_time(base), iso);
	b->set = json_object();
	if (!b->set)
		return jfs_err_set(err, ENOMEM, "out of memory");

	if (e->el == JFS_EL_HISTORY) {
		ret = history_value(e, base, &v, err);
		if (ret)
			goto out_release;
	} else if (e->el == JFS_EL_SESSION && e->value && !e->restore) {
		/* a write of the session is activity: Jovo refreshes its updatedAt on every save */
		v = json_copy(e->value);
		if (!v)
			goto out_nomem;
		json_object_set_new(v, "updatedAt", json_string(iso));
		if (!json_object_get(v, "createdAt"))
			json_object_set_new(v, "createdAt", json_string(iso));
	} else if (e->value) {
		v = json_incref(e->value);
	}

	if (v) {
		json_object_set_new(b->set, key, v);
	} else {
		b->unset = json_array();
		if (!b->unset)
			goto out_nomem;
		json_array_append_new(b->unset, json_string(key));
	}
	if (cfg->enabled[JFS_EL_UPDATED_AT] && e->el != JFS_EL_UPDATED_AT)
		json_object_set_new(b->set, "updatedAt", json_string(iso));

	b->patch.set = b->set;
	b->patch.unset = b->unset;
	if (cfg->enabled[JFS_EL_UPDATED_AT] && json_object_get(base, "updatedAt")) {
		b->patch.cond_key = "updatedAt";
		b->patch.cond_value = json_object_get(base, "updatedAt");
	} else {
		b->patch.cond_key = key;
		b->patch.cond_value = json_object_get(base, key);
	}
	return 0;

out_nomem:
	ret = jfs_err_set(err, ENOMEM, "out of memory");
out_release:
	built_release(b);
	return ret;
}

/*
 * Store @e onto @base (a reference this takes), retrying on conflicts
 * with other elements.
 */
static int commit(const struct edit *e, json_t *base, struct jfs_write_result *res,
		  struct jfs_err *err)
{
	struct jfs_store *st = e->p->store;
	unsigned max = e->p->max_retries ? e->p->max_retries : DEFAULT_MAX_RETRIES;
	const char *verb = e->restore ? "undo" : e->value ? "write" : "remove";
	json_t *fresh = NULL, *was = NULL, *is = NULL, *want = NULL, *after = NULL;
	uint64_t seq = 0;
	struct built b;
	unsigned attempt;
	uint64_t t0;
	int64_t now;
	int ret;

	for (attempt = 0;; attempt++) {
		struct jfs_change c;

		ret = build_patch(e, base, &b, err);
		if (ret)
			goto out_base;
		after = jfs_patch_apply(base, &b.patch);
		describe_change(&c, e->restore ? JFS_CHANGE_RESTORE
				: e->value ? JFS_CHANGE_WRITE : JFS_CHANGE_DELETE,
				e->id, e->el, e->idx, edit_hist(e, base), base, after);
		ret = journal_intent(e->p, &c, &seq, err);
		json_decref(after);
		after = NULL;
		if (ret) {
			jfs_err_prefix(err, "cannot %s '%s'", verb, e->fname);
			goto out_patch;
		}
		t0 = jfs_mono_ns();
		ret = st->ops->update(st, e->id, &b.patch, err);
		jfs_policy_time(e->p, JFS_BOP_WRITE, t0, ret);
		if (!ret) {
			res->item = jfs_patch_apply(base, &b.patch);
			goto out_patch;
		}
		if (ret == -ENOENT) {
			ret = jfs_err_set(err, ENOENT, "cannot %s '%s': the user no longer exists",
					  verb, e->fname);
			goto out_patch;
		}
		if (ret != -ECANCELED) {
			jfs_err_prefix(err, "cannot %s '%s'", verb, e->fname);
			goto out_patch;
		}

		/* someone else changed the item since @base: did they change our element? */
		ret = jfs_policy_load(e->p, e->id, &fresh, err);
		if (ret == -ENOENT) {
			ret = jfs_err_set(err, ENOENT, "cannot %s '%s': the user no longer exists",
					  verb, e->fname);
			goto out_patch;
		}
		if (ret) {
			jfs_err_prefix(err, "cannot %s '%s'", verb, e->fname);
			goto out_patch;
		}
		now = jfs_now_ms();
		was = shown(e, base, now);
		is = shown(e, fresh, now);
		if (!same_value(e->el, was, is)) {
			/*
			 * Unless it already is what we meant to store (a retried
			 * request of ours that did land). For a removed history
			 * item the next one moves up, so that cannot be told.
			 */
			if (e->value || e->el != JFS_EL_HISTORY) {
				after = jfs_patch_apply(base, &b.patch);
				want = after ? shown(e, after, now) : NULL;
				json_decref(after);
				if (after && same_value(e->el, want, is)) {
					res->item = fresh;
					fresh = NULL;
					ret = 0;
					goto out_shown;
				}
			}
			ret = jfs_err_set(err, ESTALE,
					  "'%s' was changed by someone else since it was read; your version was not stored",
					  e->fname);
			goto out_shown;
		}
		if (attempt >= max) {
			ret = jfs_err_set(err, ESTALE,
					  "'%s': the record kept changing while being stored (%u tries); your version was not stored",
					  e->fname, attempt + 1);
			goto out_shown;
		}
		json_decref(was);
		json_decref(is);
		was = is = NULL;
		built_release(&b);
		json_decref(base);
		base = fresh;
		fresh = NULL;
		journal_failed(e->p, seq, -ECANCELED, "other elements changed meanwhile: tried "
			       "again on top of them (the next entry)");
		seq = 0;
		jfs_log(LOG_DEBUG, "'%s': other elements changed meanwhile, retrying", e->fname);
	}

out_shown:
	json_decref(want);
	json_decref(was);
	json_decref(is);
	json_decref(fresh);
out_patch:
	if (ret)
		journal_failed(e->p, seq, ret, err ? err->msg : strerror(-ret));
	built_release(&b);
out_base:
	json_decref(base);
	return ret;
}

static int check_enabled(const struct jfs_policy *p, enum jfs_elem el, size_t idx,
			 bool writing, const char *fname, struct jfs_err *err)
{
	if ((unsigned)el >= JFS_EL__COUNT)
		return jfs_err_set(err, EINVAL, "'%s': not an element", fname);
	if (!p->cfg.enabled[el])
		return jfs_err_set(err, EPERM, "'%s': storedElements.%s is disabled", fname,
				   jfs_elem_key(el));
	if (writing && el == JFS_EL_HISTORY && idx >= p->cfg.history_size)
		return jfs_err_set(err, EPERM, "'%s': storedElements.history.size is %u", fname,
				   p->cfg.history_size);
	return 0;
}

/* @seen as a reference of our own, or the item loaded now. */
static int base_item(struct jfs_policy *p, const char *id, const json_t *seen,
		     const char *verb, const char *fname, json_t **base, struct jfs_err *err)
{
	int ret;

	if (seen) {
		*base = json_incref((json_t *)seen);
		return 0;
	}
	ret = jfs_policy_load(p, id, base, err);
	if (ret == -ENOENT)
		return jfs_err_set(err, ENOENT, "cannot %s '%s': no such user", verb, fname);
	if (ret)
		jfs_err_prefix(err, "cannot %s '%s'", verb, fname);
	return ret;
}

int jfs_policy_write(struct jfs_policy *p, const char *id, const json_t *seen,
		     enum jfs_elem el, size_t idx, const char *text, size_t len,
		     const char *fname, struct jfs_write_result *res, struct jfs_err *err)
{
	struct edit e = { .p = p, .id = id, .fname = fname, .el = el, .idx = idx };
	json_t *base, *cur;
	int ret;

	res->item = NULL;
	res->noop = false;
	ret = check_enabled(p, el, idx, true, fname, err);
	if (ret)
		return ret;
	ret = parse_value(&e, text, len, err);
	if (ret)
		return ret;
	ret = base_item(p, id, seen, "write", fname, &base, err);
	if (ret)
		goto out_value;

	cur = shown(&e, base, jfs_now_ms());
	if (cur && same_value(el, cur, e.value)) {
		json_decref(cur);
		res->noop = true;
		res->item = base;
		ret = 0;
		goto out_value;
	}
	json_decref(cur);
	ret = commit(&e, base, res, err);

out_value:
	json_decref(e.value);
	return ret;
}

int jfs_policy_remove_element(struct jfs_policy *p, const char *id, const json_t *seen,
			      enum jfs_elem el, size_t idx, const char *fname,
			      struct jfs_write_result *res, struct jfs_err *err)
{
	struct edit e = { .p = p, .id = id, .fname = fname, .el = el, .idx = idx };
	json_t *base, *cur;
	int ret;

	res->item = NULL;
	res->noop = false;
	ret = check_enabled(p, el, idx, false, fname, err);
	if (ret)
		return ret;
	ret = base_item(p, id, seen, "remove", fname, &base, err);
	if (ret)
		return ret;
	cur = shown(&e, base, jfs_now_ms());
	if (!cur) {
		json_decref(base);
		return jfs_err_set(err, ENOENT, "cannot remove '%s': no such file", fname);
	}
	json_decref(cur);
	return commit(&e, base, res, err);
}

static int create_item(struct jfs_policy *p, enum jfs_change_kind kind, const char *id,
		       json_t *item, struct jfs_err *err);

int jfs_policy_create(struct jfs_policy *p, const char *id, struct jfs_write_result *res,
		      struct jfs_err *err)
{
	json_t *item, *user;
	char iso[32];
	int ret;

	res->item = NULL;
	res->noop = false;
	jfs_iso_format(jfs_now_ms(), iso);
	item = json_object();
	if (!item)
		return jfs_err_set(err, ENOMEM, "out of memory");
	json_object_set_new(item, "id", json_string(id));
	if (p->cfg.enabled[JFS_EL_USER]) {
		user = json_object();
		json_object_set_new(user, "data", json_object());
		json_object_set_new(item, "user", user);
	}
	if (p->cfg.enabled[JFS_EL_CREATED_AT])
		json_object_set_new(item, "createdAt", json_string(iso));
	if (p->cfg.enabled[JFS_EL_UPDATED_AT])
		json_object_set_new(item, "updatedAt", json_string(iso));

	ret = create_item(p, JFS_CHANGE_CREATE, id, item, err);
	if (ret) {
		json_decref(item);
		return ret;
	}
	res->item = item;
	return 0;
}

/* Store new user @id as @item, journaled as @kind. */
static int create_item(struct jfs_policy *p, enum jfs_change_kind kind, const char *id,
		       json_t *item, struct jfs_err *err)
{
	struct jfs_change c;
	uint64_t seq, t0;
	int ret;

	describe_change(&c, kind, id, JFS_EL__COUNT, 0, JFS_HIST_REPLACE, NULL, item);
	ret = journal_intent(p, &c, &seq, err);
	if (ret) {
		jfs_err_prefix(err, "cannot create user '%s'", id);
		return ret;
	}
	t0 = jfs_mono_ns();
	ret = p->store->ops->create(p->store, id, item, err);
	jfs_policy_time(p, JFS_BOP_WRITE, t0, ret);
	if (ret == -EEXIST)
		jfs_err_set(err, EEXIST, "cannot create user '%s': it exists", id);
	else if (ret)
		jfs_err_prefix(err, "cannot create user '%s'", id);
	if (ret)
		journal_failed(p, seq, ret, err ? err->msg : strerror(-ret));
	return ret;
}

/* Delete user @id, whose record is @item (for the journal), journaled as @kind. */
static int remove_item(struct jfs_policy *p, enum jfs_change_kind kind, const char *id,
		       const json_t *item, struct jfs_err *err)
{
	struct jfs_change c;
	uint64_t seq, t0;
	int ret;

	describe_change(&c, kind, id, JFS_EL__COUNT, 0, JFS_HIST_REPLACE, item, NULL);
	ret = journal_intent(p, &c, &seq, err);
	if (ret) {
		jfs_err_prefix(err, "cannot remove user '%s'", id);
		return ret;
	}
	t0 = jfs_mono_ns();
	ret = p->store->ops->remove(p->store, id, err);
	jfs_policy_time(p, JFS_BOP_WRITE, t0, ret);
	if (ret && ret != -ENOENT)
		jfs_err_prefix(err, "cannot remove user '%s'", id);
	if (ret)
		journal_failed(p, seq, ret, err ? err->msg : strerror(-ret));
	return ret;
}

int jfs_policy_remove(struct jfs_policy *p, const char *id, struct jfs_err *err)
{
	json_t *item = NULL;
	int ret;

	/* the journal keeps what is deleted, so that it can be put back */
	if (p->journal.intent) {
		ret = jfs_policy_load(p, id, &item, err);
		if (ret) {
			if (ret != -ENOENT)
				jfs_err_prefix(err, "cannot remove user '%s'", id);
			return ret;
		}
	}
	ret = remove_item(p, JFS_CHANGE_DELETE, id, item, err);
	json_decref(item);
	return ret;
}

/* The record @item without its "id" (the stores differ in where they keep it). */
static json_t *without_id(const json_t *item)
{
	json_t *c = json_is_object(item) ? json_copy((json_t *)item) : NULL;

	if (c) {
		json_object_del(c, "id");
		json_object_del(c, "_id");
	}
	return c;
}

static bool same_record(const json_t *a, const json_t *b)
{
	json_t *x = without_id(a), *y = without_id(b);
	bool same = x && y && jfs_json_equal(x, y);

	json_decref(x);
	json_decref(y);
	return same;
}

static int restore_record(struct jfs_policy *p, const char *id, const struct jfs_restore *r,
			  struct jfs_write_result *res, struct jfs_err *err)
{
	json_t *cur = NULL, *item;
	int ret;

	if (r->value) {
		/* a deleted record back: only while there is none */
		if (!json_is_object(r->value))
			return jfs_err_set(err, EINVAL, "cannot undo: the record of '%s' is not an "
					   "object", id);
		item = json_deep_copy(r->value);
		if (!item)
			return jfs_err_set(err, ENOMEM, "out of memory");
		json_object_set_new(item, "id", json_string(id));
		json_object_del(item, "_id");
		ret = create_item(p, JFS_CHANGE_RESTORE, id, item, err);
		if (ret == -EEXIST)
			ret = jfs_err_set(err, ESTALE, "cannot undo: user '%s' exists again", id);
		if (ret) {
			json_decref(item);
			return ret;
		}
		res->item = item;
		return 0;
	}
	/* a created record away: only while it is what the change made */
	ret = jfs_policy_load(p, id, &cur, err);
	if (ret == -ENOENT)
		return jfs_err_set(err, ESTALE, "cannot undo: user '%s' no longer exists", id);
	if (ret)
		return ret;
	if (!same_record(cur, r->expect)) {
		json_decref(cur);
		return jfs_err_set(err, ESTALE, "cannot undo: user '%s' was changed since", id);
	}
	ret = remove_item(p, JFS_CHANGE_RESTORE, id, cur, err);
	json_decref(cur);
	if (ret == -ENOENT)
		ret = jfs_err_set(err, ESTALE, "cannot undo: user '%s' no longer exists", id);
	return ret;
}

int jfs_policy_restore(struct jfs_policy *p, const char *id, const struct jfs_restore *r,
		       const char *fname, struct jfs_write_result *res, struct jfs_err *err)
{
	struct edit e = { .p = p, .id = id, .fname = fname, .el = r->el, .idx = r->idx,
			  .restore = true, .hist = r->hist };
	json_t *base = NULL, *cur;
	int ret;

	res->item = NULL;
	res->noop = false;
	if (r->el == JFS_EL__COUNT)
		return restore_record(p, id, r, res, err);
	ret = check_enabled(p, r->el, r->idx, r->value != NULL, fname, err);
	if (ret)
		return ret;
	if (r->value && (ret = check_shape(r->el, r->value, fname, err)))
		return ret;
	if (r->el == JFS_EL_HISTORY && r->hist == JFS_HIST_INSERT && !r->value)
		return jfs_err_set(err, EINVAL, "cannot undo '%s': nothing to insert", fname);
	ret = jfs_policy_load(p, id, &base, err);
	if (ret == -ENOENT)
		return jfs_err_set(err, ESTALE, "cannot undo '%s': the user no longer exists", fname);
	if (ret)
		return ret;
	/* only while the element is what the change left */
	cur = r->el == JFS_EL_HISTORY ? stored_hist_item(base, r->idx)
				      : json_object_get(base, jfs_elem_key(r->el));
	if (!(cur ? r->expect && jfs_json_equal(cur, r->expect) : !r->expect)) {
		json_decref(base);
		return jfs_err_set(err, ESTALE, "cannot undo '%s': it was changed since", fname);
	}
	e.value = json_incref((json_t *)r->value);
	ret = commit(&e, base, res, err);
	json_decref(e.value);
	return ret;
}

void jfs_write_result_release(struct jfs_write_result *res)
{
	json_decref(res->item);
	res->item = NULL;
	res->noop = false;
}
