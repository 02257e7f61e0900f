/* SPDX-License-Identifier: MIT */
/*
 * monotime.h: monotonic time for timeouts, rates and ages.
 *
 * Wall-clock time jumps; every duration in pcachefs is measured on
 * CLOCK_MONOTONIC through these helpers.
 */
#ifndef PCACHE_MONOTIME_H
#define PCACHE_MONOTIME_H

#include <stdint.h>

/* Nanoseconds since an arbitrary fixed point. */
uint64_t monotime_ns(void);
/* Milliseconds since an arbitrary fixed point. */
uint64_t monotime_ms(void);
/* Seconds as a double, for rates in logs and reports. */
double monotime_sec(void);

#endif
