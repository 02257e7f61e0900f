/* SPDX-License-Identifier: MIT */
/*
 * backoff.c: exponential backoff with full jitter (see backoff.h).
 */
#include "common/backoff.h"

void backoff_init(struct backoff *b, uint32_t base_ms, uint32_t cap_ms,
                  uint64_t seed)
{
    b->base_ms = base_ms ? base_ms : 1;
    b->cap_ms = cap_ms < b->base_ms ? b->base_ms : cap_ms;
    b->attempt = 0;
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t backoff_rand(struct backoff *b)
{
    uint64_t x = b->rng;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b->rng = x;
    return x;
}

uint32_t backoff_bound(const struct backoff *b, uint32_t n)
{
    uint64_t bound = b->base_ms;

    while (n-- > 0 && bound < b->cap_ms)
        bound *= 2;
    return bound > b->cap_ms ? b->cap_ms : (uint32_t)bound;
}

uint32_t backoff_next(struct backoff *b)
{
    uint32_t hi = backoff_bound(b, b->attempt);
    uint32_t lo = b->base_ms / 2;

    b->attempt++;
    if (hi <= lo)
        return hi;
    return lo + (uint32_t)(backoff_rand(b) % (uint64_t)(hi - lo + 1));
}
