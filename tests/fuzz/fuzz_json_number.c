/*
 * Numbers as JavaScript prints them (jfs_json_format_number).
 *
 * The input gives doubles: its first 8 bytes as a raw double, and the
 * input as text through strtod(). Properties of the formatted number:
 *  - it fits the 32-byte buffer, is "null" exactly for NaN and infinities;
 *  - it is a JSON number that reads back as the same double (-0 as 0);
 *  - it has the fewest significant digits that read back (no shorter
 *    %e form does);
 *  - it has an exponent exactly where Number.prototype.toString uses one
 *    (|d| >= 1e21 or |d| < 1e-6), and a safe integer prints as its
 *    exact digits.
 */
#include <math.h>
#include <string.h>

#include "fuzz.h"

static void check(double d)
{
	char out[32], tmp[40];
	size_t digits = 0, i;
	const char *p, *e;
	double back;
	json_error_t jerr;
	json_t *j;

	jfs_json_format_number(d, out);
	FUZZ_CHECK(strlen(out) < sizeof(out), "overflow");
	if (!isfinite(d)) {
		FUZZ_CHECK(!strcmp(out, "null"), "%g printed as '%s'", d, out);
		return;
	}
	back = strtod(out, NULL);
	FUZZ_CHECK(back == d && (d != 0 || !strcmp(out, "0")), "%.17g printed as '%s' reads %.17g",
		   d, out, back);

	j = json_loads(out, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &jerr);
	FUZZ_CHECK(j && json_is_real(j) && json_real_value(j) == d,
		   "'%s' is not a JSON number for %.17g", out, d);
	json_decref(j);

	/* significant digits: leading zeros and the exponent do not count */
	e = strchr(out, 'e');
	p = out + (out[0] == '-');
	while (*p == '0' || *p == '.')
		p++;
	for (; *p && p != e; p++)
		if (*p != '.')
			digits++;
	/* trailing zeros of an integer without exponent are not significant either */
	if (!e && !strchr(out, '.'))
		for (i = strlen(out); i > 1 && out[i - 1] == '0' && digits > 1; i--)
			digits--;
	if (d != 0 && digits > 1) {
		snprintf(tmp, sizeof(tmp), "%.*e", (int)digits - 2, d);
		FUZZ_CHECK(strtod(tmp, NULL) != d, "'%s' is not the shortest: '%s' reads back too",
			   out, tmp);
	}

	FUZZ_CHECK(!e == (fabs(d) < 1e21 && (d == 0 || fabs(d) >= 1e-6)),
		   "'%s': exponent where JavaScript uses none, or the other way", out);
	if (d == floor(d) && fabs(d) <= 9007199254740991.0) {
		snprintf(tmp, sizeof(tmp), "%.0f", d == 0 ? 0.0 : d);
		FUZZ_CHECK(!strcmp(tmp, out), "safe integer %s printed as '%s'", tmp, out);
	}
}

static void fuzz_one(const uint8_t *data, size_t size)
{
	char text[64];
	double d;

	if (size >= sizeof(d)) {
		memcpy(&d, data, sizeof(d));
		check(d);
	}
	if (size < sizeof(text)) {
		memcpy(text, data, size);
		text[size] = '\0';
		check(strtod(text, NULL));
	}
}
