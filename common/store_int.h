/* SPDX-License-Identifier: MIT */
/*
 * store_int.h: internals of store.c for its unit tests only.
 *
 * A policy simulator: the store's real eviction policies (lru, lru2,
 * s3fifo) over an in-memory index of unit-size entries, no files, so a
 * test can replay a trace of millions of accesses and compare hit ratios.
 */
#ifndef PCACHE_STORE_INT_H
#define PCACHE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* A simulator holding at most capacity entries; NULL for an unknown policy. */
struct store *store_policy_sim_new(const char *policy, size_t capacity);
/* Accesses key: true on a hit; a miss inserts it, evicting as needed. */
bool store_policy_sim_access(struct store *sim, uint64_t key);
void store_policy_sim_free(struct store *sim);

#endif
