/* SPDX-License-Identifier: MIT */
/*
 * tiers.h: a node's chunk stores, fastest first (mem, ssd, hdd).
 *
 * Reads look in every tier, fastest first, and take the first good copy;
 * a corrupt copy (the store drops it and counts it) is passed over, and
 * when no tier has a good copy the chunk is a miss and gets refetched.
 *
 * A new chunk goes to the fastest tier (or, when that write fails, a full
 * disk say, to the next one that takes it). A tier past its high watermark
 * demotes its coldest chunks (the policy's victims) to the next tier: the
 * store's eviction hook copies each victim down before unlinking it, and
 * the last tier just evicts. A chunk read promote_hits times on a slower
 * tier is copied up to the fastest tier by a pool job
 * (pcpd_tiers_promote_job); the slow copy stays until it is evicted.
 * Copies keep the chunk's age, so a TTL counts from the first fetch.
 *
 * Threads: every function may run on any thread (the stores lock
 * themselves; `promoting` has its own lock, a leaf). pcpd_tiers_put() and
 * the promotion job block on the disk: call them from the pool. The
 * demotion hook runs inside a put on the pool thread doing that put.
 */
#ifndef PCPD_TIERS_H
#define PCPD_TIERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/chunk.h"
#include "common/store.h"

struct pcpd_config;
struct pcpd_tiers;

struct pcpd_tier {
    char *name; /* owned */
    char *dir;  /* owned */
    struct store *store;
    struct pcpd_tiers *set; /* the tiers this one belongs to */
    size_t index;
    uint64_t hits;       /* atomic */
    uint64_t hit_bytes;  /* atomic: bytes served from this tier */
    uint64_t promotions; /* atomic: chunks copied up into this tier */
    uint64_t demotions;  /* atomic: chunks moved down into this tier */
    uint64_t fallbacks;  /* atomic: new chunks stored here because a
                            faster tier refused them */
};

/* Chunks being copied up at once, at most. */
#define PCPD_TIERS_MAX_PROMOTING 32

struct pcpd_tiers {
    struct pcpd_tier *v; /* owned array, fastest first */
    size_t n;
    pthread_mutex_t lock; /* promoting, npromoting: a leaf */
    struct chunk_id promoting[PCPD_TIERS_MAX_PROMOTING];
    size_t npromoting;
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

/*
 * Stores a chunk in tier `tier`, or when that fails in the next tier that
 * takes it. Blocking. 0 or the -errno of the last try (store_put).
 */
int pcpd_tiers_put(struct pcpd_tiers *t, size_t tier, const struct chunk_id *id,
                   const void *data, size_t len);

/* True when any tier holds the chunk. */
bool pcpd_tiers_have(struct pcpd_tiers *t, const struct chunk_id *id);

/* Drops the chunk from every tier where it is older than ttl_ms. */
void pcpd_tiers_expire(struct pcpd_tiers *t, const struct chunk_id *id,
                       uint64_t ttl_ms);

/*
 * After a hit on tier `tier`: true when the chunk has been read `min_hits`
 * times there, is not in tier 0 and is not being promoted already; it is
 * then marked as being promoted, and the caller must run
 * pcpd_tiers_promote() (on the pool), which clears the mark.
 */
bool pcpd_tiers_want_promote(struct pcpd_tiers *t, size_t tier,
                             const struct chunk_id *id, uint32_t min_hits);
/* Clears the mark of pcpd_tiers_want_promote() without copying. */
void pcpd_tiers_promote_cancel(struct pcpd_tiers *t, const struct chunk_id *id);
/* Copies the chunk from tier `from` to tier 0, then clears the mark.
 * Blocking. 0 or -errno. */
int pcpd_tiers_promote(struct pcpd_tiers *t, size_t from,
                       const struct chunk_id *id);

#endif
