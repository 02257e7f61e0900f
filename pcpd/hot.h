/* SPDX-License-Identifier: MIT */
/*
 * hot.h: the node's hottest chunks, a top-K by request count kept with the
 * space-saving algorithm (Metwally et al., 2005).
 *
 * K counters; a chunk already counted gets +1, a new one takes the slot of
 * the smallest counter and starts from that count + 1 (its `error` is the
 * count it inherited). Every chunk requested more than N/K times out of N
 * is in the table, and a count overestimates by at most `error`. Memory is
 * fixed (K entries, about 260 bytes each); an update is O(1) for a counted
 * chunk and O(K) for a new one.
 *
 * Threads: any thread; one mutex (a leaf) guards the table.
 */
#ifndef PCPD_HOT_H
#define PCPD_HOT_H

#include <stddef.h>
#include <stdint.h>

#include "common/chunk.h"

#define PCPD_HOT_LABEL_MAX 200

struct pcpd_hot;

struct pcpd_hot_item {
    struct chunk_id id;
    char label[PCPD_HOT_LABEL_MAX + 1]; /* "pbucket/key#index", cut */
    uint64_t count;                     /* requests (an upper bound) */
    uint64_t error;                     /* count may be over by this */
};

/* A table of k (1..4096) counters. */
struct pcpd_hot *pcpd_hot_new(size_t k);
/* NULL: no-op. */
void pcpd_hot_free(struct pcpd_hot *h);

/* Counts one request for chunk id; label is "pbucket/key#index" (copied
 * only when the chunk enters the table). */
void pcpd_hot_add(struct pcpd_hot *h, const struct chunk_id *id,
                  const char *pbucket, const char *key, uint64_t index);

/* Copies up to max entries into out, highest count first; returns how
 * many. *total gets the requests counted so far (may be NULL). */
size_t pcpd_hot_top(struct pcpd_hot *h, struct pcpd_hot_item *out, size_t max,
                    uint64_t *total);

#endif
