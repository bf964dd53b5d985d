#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *buf, size_t len, size_t flags, json_t **out, struct jfs_err *err)
{
	json_error_t jerr;
	json_t *v;

	v = json_loadb(buf, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL | flags,
		       &jerr);
	if (!v)
		return jfs_err_set(err, EINVAL, "line %d column %d: %s", jerr.line, jerr.column,
				   jerr.text);
	*out = v;
	return 0;
}

int jfs_json_parse(const char *buf, size_t len, json_t **out, struct jfs_err *err)
{
	return parse(buf, len, 0, out, err);
}

int jfs_json_parse_unique(const char *buf, size_t len, json_t **out, struct jfs_err *err)
{
	return parse(buf, len, JSON_REJECT_DUPLICATES, out, err);
}

double jfs_json_number_value(const json_t *v)
{
	if (json_is_integer(v))
		return (double)json_integer_value(v);
	if (json_is_real(v))
		return json_real_value(v);
	return 0;
}

void jfs_json_format_number(double d, char *out)
{
	char tmp[40], digits[20];
	int prec, exp10, k = 0, n, i;
	char *p, *e;

	if (isnan(d) || isinf(d)) {
		memcpy(out, "null", 5);
		return;
	}
	if (d == 0) {
		out[0] = '0';
		out[1] = '\0';
		return;
	}
	/* shortest %e precision that reads back as the same double */
	for (prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	p = tmp;
	if (*p == '-')
		p++;
	e = strchr(p, 'e');
	for (; p < e; p++)
		if (*p != '.')
			digits[k++] = *p;
	while (k > 1 && digits[k - 1] == '0')
		k--;
	digits[k] = '\0';
	exp10 = (int)strtol(e + 1, NULL, 10);
	n = exp10 + 1;

	p = out;
	if (d < 0)
		*p++ = '-';
	if (k <= n && n <= 21) {
		memcpy(p, digits, (size_t)k);
		p += k;
		for (i = 0; i < n - k; i++)
			*p++ = '0';
	} else if (0 < n && n <= 21) {
		memcpy(p, digits, (size_t)n);
		p += n;
		*p++ = '.';
		memcpy(p, digits + n, (size_t)(k - n));
		p += k - n;
	} else if (-6 < n && n <= 0) {
		*p++ = '0';
		*p++ = '.';
		for (i = 0; i < -n; i++)
			*p++ = '0';
		memcpy(p, digits, (size_t)k);
		p += k;
	} else {
		*p++ = digits[0];
		if (k > 1) {
			*p++ = '.';
			memcpy(p, digits + 1, (size_t)(k - 1));
			p += k - 1;
		}
		p += snprintf(p, 8, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
	}
	*p = '\0';
}

static void dump_string(struct jfs_strbuf *sb, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	jfs_strbuf_addch(sb, '"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char u[7];

		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:
			if (c < 0x20) {
				u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
				u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = '\0';
				esc = u;
			}
		}
		if (!esc)
			continue;
		jfs_strbuf_add(sb, s + run, i - run);
		jfs_strbuf_addstr(sb, esc);
		run = i + 1;
	}
	jfs_strbuf_add(sb, s + run, len - run);
	jfs_strbuf_addch(sb, '"');
}

static void newline(struct jfs_strbuf *sb, int indent, int level)
{
	if (!indent)
		return;
	jfs_strbuf_addch(sb, '\n');
	jfs_strbuf_grow(sb, (size_t)(indent * level));
	memset(sb->buf + sb->len, ' ', (size_t)(indent * level));
	jfs_strbuf_setlen(sb, sb->len + (size_t)(indent * level));
}

void jfs_json_dump(const json_t *v, struct jfs_strbuf *sb, int indent, int level)
{
	char num[32];
	size_t i, n;

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *val;
		void *it;
		bool first = true;

		if (json_object_size(v) == 0) {
			jfs_strbuf_addstr(sb, "{}");
			break;
		}
		jfs_strbuf_addch(sb, '{');
		for (it = json_object_iter((json_t *)v); it;
		     it = json_object_iter_next((json_t *)v, it)) {
			key = json_object_iter_key(it);
			val = json_object_iter_value(it);
			if (!first)
				jfs_strbuf_addch(sb, ',');
			first = false;
			newline(sb, indent, level + 1);
			dump_string(sb, key, json_object_iter_key_len(it));
			jfs_strbuf_addstr(sb, indent ? ": " : ":");
			jfs_json_dump(val, sb, indent, level + 1);
		}
		newline(sb, indent, level);
		jfs_strbuf_addch(sb, '}');
		break;
	}
	case JSON_ARRAY:
		n = json_array_size(v);
		if (n == 0) {
			jfs_strbuf_addstr(sb, "[]");
			break;
		}
		jfs_strbuf_addch(sb, '[');
		for (i = 0; i < n; i++) {
			if (i)
				jfs_strbuf_addch(sb, ',');
			newline(sb, indent, level + 1);
			jfs_json_dump(json_array_get(v, i), sb, indent, level + 1);
		}
		newline(sb, indent, level);
		jfs_strbuf_addch(sb, ']');
		break;
	case JSON_STRING:
		dump_string(sb, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		jfs_json_format_number((double)json_integer_value(v), num);
		jfs_strbuf_addstr(sb, num);
		break;
	case JSON_REAL:
		jfs_json_format_number(json_real_value(v), num);
		jfs_strbuf_addstr(sb, num);
		break;
	case JSON_TRUE:
		jfs_strbuf_addstr(sb, "true");
		break;
	case JSON_FALSE:
		jfs_strbuf_addstr(sb, "false");
		break;
	case JSON_NULL:
		jfs_strbuf_addstr(sb, "null");
		break;
	}
}

char *jfs_json_render(const json_t *v, size_t *len)
{
	struct jfs_strbuf sb;

	jfs_strbuf_init(&sb);
	jfs_json_dump(v, &sb, 2, 0);
	jfs_strbuf_addch(&sb, '\n');
	return jfs_strbuf_detach(&sb, len);
}

bool jfs_json_equal(const json_t *a, const json_t *b)
{
	size_t i;

	if (json_is_number(a) && json_is_number(b))
		return jfs_json_number_value(a) == jfs_json_number_value(b);
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (i = 0; i < json_array_size(a); i++)
			if (!jfs_json_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a)) {
		const char *key;
		json_t *va;

		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach((json_t *)a, key, va) {
			json_t *vb = json_object_get(b, key);

			if (!vb || !jfs_json_equal(va, vb))
				return false;
		}
		return true;
	}
	return json_equal((json_t *)a, (json_t *)b);
}
