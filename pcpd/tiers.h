/* SPDX-License-Identifier: MIT */
/*
 * tiers.h: a node's chunk stores, fastest first (mem, ssd, hdd).
 *
 * Reads look in every tier, fastest first, and take the first good copy;
 * a corrupt copy (the store drops it and counts it) is passed over, and
 * when no tier has a good copy the chunk is a miss and gets refetched.
 * A new chunk goes to the fastest tier.
 *
 * Threads: every function may run on any thread (the stores lock
 * themselves). pcpd_tiers_put() blocks on the disk: call it from the pool.
 */
#ifndef PCPD_TIERS_H
#define PCPD_TIERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/chunk.h"
#include "common/store.h"

struct pcpd_config;

struct pcpd_tier {
    char *name; /* owned */
    char *dir;  /* owned */
    struct store *store;
    uint64_t hits;       /* atomic */
    uint64_t hit_bytes;  /* atomic: bytes served from this tier */
    uint64_t promotions; /* atomic: chunks copied up into this tier */
    uint64_t demotions;  /* atomic: chunks moved down into this tier */
};

struct pcpd_tiers {
    struct pcpd_tier *v; /* owned array, fastest first */
    size_t n;
};

/* Opens every tier of cfg (rebuilding their indexes). 0 or -errno, err. */
int pcpd_tiers_open(struct pcpd_tiers *t, const struct pcpd_config *cfg,
                    char *err, size_t errlen);
/* No other call may be running. */
void pcpd_tiers_close(struct pcpd_tiers *t);

/*
 * Finds the chunk in the fastest tier that has a good copy of the range
 * (store_open_range()). 0 with *fd (the caller's), *data_off, *chunk_len
 * and *tier filled; -ENOENT when no tier has it.
 */
int pcpd_tiers_open_range(struct pcpd_tiers *t, const struct chunk_id *id,
                          uint64_t off, uint64_t len, int *fd,
                          uint64_t *data_off, uint64_t *chunk_len,
                          size_t *tier);

/* Stores a chunk in tier `tier`. Blocking. 0 or -errno (store_put). */
int pcpd_tiers_put(struct pcpd_tiers *t, size_t tier, const struct chunk_id *id,
                   const void *data, size_t len);

#endif
