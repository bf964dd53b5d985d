/* common/clock: the monotonic clock and the shared retry loop. */
#include <stdint.h>

#include "common/clock.h"

#include "check.h"

int main(void)
{
	struct jfs_backoff b;
	int64_t t0, elapsed;
	unsigned waits = 0;

	t0 = jfs_mono_ms();
	CHECK(jfs_mono_ns() / 1000000 >= (uint64_t)t0, "ns and ms read one clock");

	/* retries until the budget is spent, never past it by more than one pause */
	jfs_backoff_init(&b, 150, 5, 40);
	while (jfs_backoff_wait(&b))
		waits++;
	elapsed = jfs_mono_ms() - t0;
	CHECK(waits >= 4 && waits == b.attempt, "%u waits, attempt %u", waits, b.attempt);
	CHECK(jfs_backoff_left(&b) == 0, "nothing left after the loop");
	CHECK(elapsed >= 150, "the loop ended before its budget: %lld ms", (long long)elapsed);

	/* no budget: no retry, no pause */
	jfs_backoff_init(&b, 0, 5, 40);
	CHECK(!jfs_backoff_wait(&b) && b.attempt == 0, "a zero budget retries");

	t0 = jfs_mono_ms();
	jfs_sleep_ms(20);
	CHECK(jfs_mono_ms() - t0 >= 20, "slept less than asked");
	jfs_sleep_ms(-5);
	return check_report();
}
