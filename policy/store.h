/*
 * Inside policy/: what the policy files share about the store below them.
 * Nothing outside policy/ includes this.
 */
#ifndef JFS_POLICY_STORE_H
#define JFS_POLICY_STORE_H

#include <stdint.h>

#include "policy/policy.h"

/**
 * Count one backend call of kind @op that started at jfs_mono_ns() @t0 and
 * returned @ret (0 or -errno): its time, its bucket of the histogram and,
 * when it failed, its errno. Any thread.
 */
void jfs_policy_time(struct jfs_policy *p, enum jfs_backend_op op, uint64_t t0, int ret);

#endif
