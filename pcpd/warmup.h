/* SPDX-License-Identifier: MIT */
/*
 * warmup.h: loading keys into the cache, server side (POST /v1/warmup).
 *
 * A warmup names a pbucket and either a list of keys or a prefix. A job on
 * the warmup pool lists the prefix and HEADs every key (size and ETag),
 * then `parallel` jobs (at most warmup_parallel, the pool's size) take the
 * chunks one by one: a chunk a tier already has is skipped, one being
 * fetched by a client is left to that fetch, and any other is fetched
 * through the flight table (so clients asking for it meanwhile join the
 * same GET) and stored in the fastest tier. Progress is in /v1/status.
 *
 * Threads: the handler runs on a worker loop; everything else on the
 * warmup pool, with blocking S3 calls on the node's metadata clients.
 * A warmup's counters are atomics; the list of warmups has its own lock
 * (a leaf).
 */
#ifndef PCPD_WARMUP_H
#define PCPD_WARMUP_H

#include <jansson.h>

struct pcpd;

/* Warmups kept for /v1/status (the oldest finished ones are dropped). */
#define PCPD_WARMUP_KEEP 16
/* Caps on one warmup. */
#define PCPD_WARMUP_MAX_KEYS   100000
#define PCPD_WARMUP_MAX_CHUNKS 1000000

struct pcpd_warmups;

struct pcpd_warmups *pcpd_warmups_new(void);
/* No warmup job may be running (the pool is gone). NULL: no-op. */
void pcpd_warmups_free(struct pcpd_warmups *ws);

/* The "warmups" array of /v1/status (a new reference). */
json_t *pcpd_warmup_status(struct pcpd *pd);

#endif
