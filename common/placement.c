/* SPDX-License-Identifier: MIT */
/*
 * placement.c: rendezvous hashing of chunk ids over nodes (placement.h).
 *
 * DESIGN
 * Rendezvous rather than a ring with virtual nodes: no table to build or
 * keep in step with the node list, an exact 1/N share in expectation with
 * no tuning of the number of virtual nodes, and the fallback order comes
 * for free (the next scores). The cost is N hashes per lookup, a few
 * nanoseconds each for a 16-byte id: about a microsecond for 100 nodes,
 * noise next to fetching a chunk.
 */
#include "common/placement.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/mem.h"

/* Keeps the seeds of distinct ids apart from the scores of chunk ids. */
#define PLACEMENT_NODE_SEED 0x70636163686566ull /* "pcachef" */

void placement_init(struct placement *p)
{
    memset(p, 0, sizeof(*p));
}

void placement_fini(struct placement *p)
{
    free(p->seeds);
    memset(p, 0, sizeof(*p));
}

int placement_set(struct placement *p, const char *const *ids, size_t n)
{
    uint64_t *seeds;
    size_t i;

    if (n > PLACEMENT_MAX_NODES)
        return -E2BIG;
    seeds = n ? xcalloc(n, sizeof(*seeds)) : NULL;
    for (i = 0; i < n; i++)
        seeds[i] =
            XXH3_64bits_withSeed(ids[i], strlen(ids[i]), PLACEMENT_NODE_SEED);
    free(p->seeds);
    p->seeds = seeds;
    p->n = n;
    return 0;
}

/* True when (sa, ia) ranks before (sb, ib): higher score first; ties
 * (practically never) by seed, then by index, so equal input gives equal
 * output whatever the order of the ids. */
static bool placement_before(const struct placement *p, uint64_t sa, size_t ia,
                             uint64_t sb, size_t ib)
{
    if (sa != sb)
        return sa > sb;
    if (p->seeds[ia] != p->seeds[ib])
        return p->seeds[ia] > p->seeds[ib];
    return ia < ib;
}

size_t placement_rank(const struct placement *p, const void *key, size_t len,
                      size_t *order, size_t max)
{
    uint64_t top[64], *score = top;
    size_t i, j, k = 0;

    if (max > p->n)
        max = p->n;
    if (max == 0)
        return 0;
    if (max > sizeof(top) / sizeof(top[0]))
        score = xcalloc(max, sizeof(*score));
    /* Insertion into the best max so far: O(n * max), and max is the
     * handful of fallbacks a reader tries. */
    for (i = 0; i < p->n; i++) {
        uint64_t s = XXH3_64bits_withSeed(key, len, p->seeds[i]);

        if (k == max && !placement_before(p, s, i, score[k - 1], order[k - 1]))
            continue;
        j = k < max ? k++ : k - 1;
        while (j > 0 && placement_before(p, s, i, score[j - 1], order[j - 1])) {
            score[j] = score[j - 1];
            order[j] = order[j - 1];
            j--;
        }
        score[j] = s;
        order[j] = i;
    }
    if (score != top)
        free(score);
    return k;
}

size_t placement_owner(const struct placement *p, const void *key, size_t len)
{
    size_t owner;

    return placement_rank(p, key, len, &owner, 1) == 1 ? owner : SIZE_MAX;
}

size_t placement_rank_chunk(const struct placement *p,
                            const struct chunk_id *id, size_t *order,
                            size_t max)
{
    return placement_rank(p, id->b, sizeof(id->b), order, max);
}
