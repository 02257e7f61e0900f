/* SPDX-License-Identifier: MIT */
/*
 * backoff.h: exponential backoff with full jitter.
 *
 * The n-th delay is drawn uniformly from [base/2, min(cap, base * 2^n)]
 * ("full jitter" with a floor, so a retry never fires at once), which
 * spreads the retries of many clients hit by the same outage. Pure: the
 * random state lives in the struct, seeded by the caller, so tests can
 * check the bounds deterministically. Caller's storage, one owner thread.
 */
#ifndef PCACHE_BACKOFF_H
#define PCACHE_BACKOFF_H

#include <stdint.h>

struct backoff {
    uint32_t base_ms; /* first delay's upper bound */
    uint32_t cap_ms;  /* no delay is longer than this */
    uint32_t attempt; /* delays handed out so far */
    uint64_t rng;     /* xorshift state, never 0 */
};

void backoff_init(struct backoff *b, uint32_t base_ms, uint32_t cap_ms,
                  uint64_t seed);
/* Returns the next delay in milliseconds and counts the attempt. */
uint32_t backoff_next(struct backoff *b);
/* The upper bound of the n-th delay (0-based), for tests and docs. */
uint32_t backoff_bound(const struct backoff *b, uint32_t n);

#endif
