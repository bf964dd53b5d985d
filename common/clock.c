#include "common/clock.h"

#include <errno.h>
#include <time.h>

int64_t jfs_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t jfs_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void jfs_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void jfs_backoff_init(struct jfs_backoff *b, int64_t budget_ms, int64_t base_ms, int64_t cap_ms)
{
	uint64_t seed = jfs_mono_ns() ^ (uint64_t)(uintptr_t)b;

	b->deadline_ms = jfs_mono_ms() + (budget_ms > 0 ? budget_ms : 0);
	b->base_ms = base_ms > 0 ? base_ms : 1;
	b->cap_ms = cap_ms > b->base_ms ? cap_ms : b->base_ms;
	b->attempt = 0;
	b->rng = seed | 1;
}

int64_t jfs_backoff_left(const struct jfs_backoff *b)
{
	int64_t left = b->deadline_ms - jfs_mono_ms();

	return left > 0 ? left : 0;
}

/* xorshift64: jitter only, nothing secret */
static uint64_t next_random(struct jfs_backoff *b)
{
	b->rng ^= b->rng << 13;
	b->rng ^= b->rng >> 7;
	b->rng ^= b->rng << 17;
	return b->rng;
}

bool jfs_backoff_wait(struct jfs_backoff *b)
{
	int64_t left = jfs_backoff_left(b), cap;

	if (left <= 0)
		return false;
	cap = b->base_ms << (b->attempt < 16 ? b->attempt : 16);
	if (cap > b->cap_ms)
		cap = b->cap_ms;
	cap = (int64_t)(next_random(b) % (uint64_t)(cap + 1));
	jfs_sleep_ms(cap < left ? cap : left);
	b->attempt++;
	return true;
}
