/*
 * Clocks and waiting: the monotonic clock (for deadlines, timeouts and
 * durations; never the wall clock, which jumps) and one retry loop with
 * exponential backoff and full jitter, shared by every backend.
 */
#ifndef JFS_CLOCK_H
#define JFS_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/** Milliseconds on the monotonic clock (CLOCK_MONOTONIC). */
int64_t jfs_mono_ms(void);

/** Nanoseconds on the monotonic clock. */
uint64_t jfs_mono_ns(void);

/** Sleep @ms milliseconds (0 or less: return at once); restarts after signals. */
void jfs_sleep_ms(int64_t ms);

/**
 * Retries of one request until a deadline: the pause before attempt n+1 is
 * a random time in [0, min(cap, base * 2^n)] ("full jitter", as the AWS
 * SDKs do), never past the deadline.
 *
 *	struct jfs_backoff b;
 *
 *	jfs_backoff_init(&b, retry_ms, 25, 2000);
 *	while (try() fails and is worth retrying)
 *		if (!jfs_backoff_wait(&b))
 *			break;	// out of time
 */
struct jfs_backoff {
	int64_t deadline_ms; /**< monotonic */
	int64_t base_ms, cap_ms;
	unsigned attempt;    /**< retries made so far */
	uint64_t rng;
};

/** Start a retry loop of @budget_ms (0 or less: no retries). */
void jfs_backoff_init(struct jfs_backoff *b, int64_t budget_ms, int64_t base_ms, int64_t cap_ms);

/** Milliseconds left before the deadline (0 when it passed). */
int64_t jfs_backoff_left(const struct jfs_backoff *b);

/**
 * Pause before the next attempt and count it. Returns false, without
 * pausing, when the deadline has passed.
 */
bool jfs_backoff_wait(struct jfs_backoff *b);

#endif
