/* SPDX-License-Identifier: MIT */
/*
 * placement.h: which cache nodes hold a chunk (consistent hashing).
 *
 * Rendezvous (highest random weight) hashing: every node gets a score for
 * every chunk, xxh3 of the chunk id seeded with a hash of the node's id,
 * and the nodes in falling score order are the chunk's placement: the
 * owner first, then the fallbacks a client tries when the owner does not
 * answer. Each node owns about 1/N of the chunks, and adding or removing
 * one node moves only the chunks it gains or held (about 1/N of them): the
 * other nodes' relative order for a chunk never changes. The order depends
 * only on the node ids and the chunk id, never on the order the nodes were
 * given in, so every client and node computes the same placement.
 *
 * Pure functions, no I/O, no global state. A struct placement is built by
 * one thread and then read-only: any number of threads may call
 * placement_rank on it at once. docs/internals/placement.md.
 */
#ifndef PCACHE_PLACEMENT_H
#define PCACHE_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/chunk.h"

/* Nodes in one placement, at most (a cluster is tens of nodes). */
#define PLACEMENT_MAX_NODES 4096

struct placement {
    uint64_t *seeds; /* owned: one per node, xxh3 of the node id */
    size_t n;
};

void placement_init(struct placement *p);
void placement_fini(struct placement *p);

/*
 * Sets the node set: ids[i] (borrowed, not kept) is node i, and the
 * indices placement_rank returns refer to this array. Duplicate ids are
 * allowed but pointless (they tie; the lower index wins). 0, or -E2BIG
 * past PLACEMENT_MAX_NODES (p unchanged).
 */
int placement_set(struct placement *p, const char *const *ids, size_t n);

/*
 * Writes into order[0..max) the indices of the first min(max, n) nodes of
 * the placement of key (len bytes: a chunk id, or any other key), the
 * owner first, and returns how many it wrote (0 when there are no nodes).
 */
size_t placement_rank(const struct placement *p, const void *key, size_t len,
                      size_t *order, size_t max);

/* The owner of key: its first node, or SIZE_MAX when there are none. */
size_t placement_owner(const struct placement *p, const void *key, size_t len);

/* placement_rank for a chunk id. */
size_t placement_rank_chunk(const struct placement *p,
                            const struct chunk_id *id, size_t *order,
                            size_t max);

#endif
