/* common/log: one message is one line, whatever an id in it holds. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"

#include "check.h"

static char seen[4096];
static int nseen;

static void hook(void *data, int level, const char *msg)
{
	snprintf(seen, sizeof(seen), "%s", msg);
	nseen++;
}

int main(void)
{
	char out[64];

	CHECK_STR(jfs_log_escape("plain text: ok", out, sizeof(out)), "plain text: ok");
	CHECK_STR(jfs_log_escape("a\nb\rc\td\x1b[0m\x7f", out, sizeof(out)),
		  "a\\x0ab\\x0dc\\x09d\\x1b[0m\\x7f");
	CHECK_STR(jfs_log_escape("back\\slash", out, sizeof(out)), "back\\\\slash");
	CHECK_STR(jfs_log_escape("caf\xc3\xa9", out, sizeof(out)), "caf\xc3\xa9");
	/* cut short, never past the buffer, never half an escape */
	CHECK_STR(jfs_log_escape("abc\ndef", out, 6), "abc");
	CHECK_STR(jfs_log_escape("abcdef", out, 4), "abc");

	jfs_log_set_level(LOG_EMERG);
	jfs_log_set_hook(hook, NULL);
	jfs_log(LOG_ERR, "edit of '%s' dropped", "evil\n2026-01-01T00:00:00.000Z forged: all fine");
	CHECK(nseen == 1 && !strchr(seen, '\n') &&
	      !strcmp(seen, "edit of 'evil\\x0a2026-01-01T00:00:00.000Z forged: all fine' dropped"),
	      "%s", seen);
	jfs_log(LOG_DEBUG, "below the level, not an error: %s", "x");
	CHECK(nseen == 1, "debug messages do not reach the hook");
	jfs_log_set_hook(NULL, NULL);
	return check_report();
}
