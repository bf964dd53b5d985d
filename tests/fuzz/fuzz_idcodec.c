/*
 * User ids as file names (fs/idcodec.c), both directions.
 *
 * The input is an id (any bytes). Its name must be a valid directory entry
 * (not empty, not "." or "..", no '/' or NUL, at most NAME_MAX bytes); a
 * name that is not a fallback decodes back to exactly the id (none when the
 * id holds a NUL or is not UTF-8: no store keeps such ids), a fallback
 * name (holds "%~") decodes to nothing. The same bytes, taken as a name
 * (up to the first NUL, no '/'), either decode to nothing or to an id whose
 * name is exactly that name again: every name stands for one id at most.
 */
#include <string.h>

#include "fs/idcodec.h"

#include "fuzz.h"

static void id_to_name_and_back(const char *id, size_t len)
{
	char *name = jfs_id_to_name(id, len), *back;
	size_t nlen = strlen(name), blen = 0;

	FUZZ_CHECK(nlen > 0 && nlen <= JFS_NAME_MAX, "name of %zu bytes", nlen);
	FUZZ_CHECK(strcmp(name, ".") && strcmp(name, "..") && !strchr(name, '/'),
		   "'%s' is no directory entry", name);
	back = jfs_name_to_id(name, &blen);
	if (jfs_name_is_fallback(name)) {
		FUZZ_CHECK(!back, "fallback name '%s' decodes", name);
	} else if (memchr(id, '\0', len) || !jfs_utf8_valid(id, len)) {
		/* no store keeps such an id: its name stands for none */
		FUZZ_CHECK(!back, "'%s' decodes, though its id holds a NUL or is not UTF-8",
			   name);
	} else {
		FUZZ_CHECK(back && blen == len && !memcmp(back, id, len),
			   "'%s' does not decode back to its id", name);
	}
	free(back);
	free(name);
}

static void name_to_id_and_back(const char *name)
{
	size_t len = 0;
	char *id, *again;

	if (strchr(name, '/'))
		return;
	id = jfs_name_to_id(name, &len);
	if (!id)
		return;
	FUZZ_CHECK(!jfs_name_is_fallback(name), "fallback name '%s' decodes", name);
	again = jfs_id_to_name(id, len);
	FUZZ_CHECK(!strcmp(again, name), "'%s' decodes to an id named '%s'", name, again);
	free(again);
	free(id);
}

static void fuzz_one(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	id_to_name_and_back(s, size);
	name_to_id_and_back(s);
	free(s);
}
