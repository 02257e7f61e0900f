/* SPDX-License-Identifier: MIT */
/*
 * monotime.c: monotonic clock helpers (see monotime.h).
 */
#include "common/monotime.h"

#include <time.h>

uint64_t monotime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t monotime_ms(void)
{
    return monotime_ns() / 1000000u;
}

double monotime_sec(void)
{
    return (double)monotime_ns() / 1e9;
}
