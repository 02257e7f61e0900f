/* SPDX-License-Identifier: MIT */
/*
 * check_placement.c: unit tests for common/placement.c: every node gets
 * its share of chunks (3 to 16 nodes, within 10% of the mean), adding or
 * removing one node moves about 1/N of the chunks and no others, the
 * fallback order is consistent, and the placement depends only on the
 * node ids and the chunk id.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chunk.h"
#include "common/placement.h"

#define NCHUNKS   100000
#define MIN_N     3
#define MAX_N     16
#define TOLERANCE 0.10

static struct chunk_id *ids; /* NCHUNKS chunk ids, built once */
static char names[MAX_N + 1][32];
static const char *name_ptrs[MAX_N + 1];

static void placement_setup(void)
{
    size_t i;

    ids = calloc(NCHUNKS, sizeof(*ids));
    ck_assert_ptr_nonnull(ids);
    /* Realistic ids: 1000 files of 100 chunks each. */
    for (i = 0; i < NCHUNKS; i++) {
        char key[64];

        snprintf(key, sizeof(key), "train/shard-%05zu.tar", i / 100);
        chunk_id_make(&ids[i], "pb1", key, "\"0123456789abcdef\"", i % 100,
                      8u << 20);
    }
    for (i = 0; i <= MAX_N; i++) {
        snprintf(names[i], sizeof(names[i]), "node-%zu", i);
        name_ptrs[i] = names[i];
    }
}

static void placement_teardown(void)
{
    free(ids);
    ids = NULL;
}

/* owner[i] of every chunk for the nodes ids[0..n). */
static void owners(const char *const *nodes, size_t n, size_t *owner)
{
    struct placement p;
    size_t i, bad = 0;

    placement_init(&p);
    ck_assert_int_eq(placement_set(&p, nodes, n), 0);
    /* Plain checks in the loops: each ck_assert is a write to Check's
     * pipe, and there are millions of them. */
    for (i = 0; i < NCHUNKS; i++) {
        if (placement_rank_chunk(&p, &ids[i], &owner[i], 1) != 1)
            bad++;
    }
    ck_assert_uint_eq(bad, 0);
    placement_fini(&p);
}

static void assert_near(double got, double want, const char *what, size_t n)
{
    ck_assert_msg(got >= want * (1 - TOLERANCE) &&
                      got <= want * (1 + TOLERANCE),
                  "%s with %zu nodes: %.0f, expected %.0f +-%.0f%%", what, n,
                  got, want, TOLERANCE * 100);
}

/* ---- Balance -------------------------------------------------------- */

START_TEST(test_balance)
{
    size_t n = (size_t)_i, i, count[MAX_N + 1] = {0};
    size_t *owner = calloc(NCHUNKS, sizeof(*owner));

    owners(name_ptrs, n, owner);
    for (i = 0; i < NCHUNKS; i++)
        count[owner[i] < n ? owner[i] : MAX_N]++;
    ck_assert_uint_eq(count[MAX_N], 0);
    for (i = 0; i < n; i++)
        assert_near((double)count[i], (double)NCHUNKS / (double)n, "share", n);
    free(owner);
}
END_TEST

/* ---- Movement -------------------------------------------------------- */

/* Adding node n to nodes 0..n-1: only chunks the new node now owns move,
 * about 1/(n+1) of them. */
START_TEST(test_add_one)
{
    size_t n = (size_t)_i, i, moved = 0, wrong = 0;
    size_t *before = calloc(NCHUNKS, sizeof(*before));
    size_t *after = calloc(NCHUNKS, sizeof(*after));

    owners(name_ptrs, n, before);
    owners(name_ptrs, n + 1, after);
    for (i = 0; i < NCHUNKS; i++) {
        if (before[i] == after[i])
            continue;
        if (after[i] != n) /* moved, but not to the new node */
            wrong++;
        moved++;
    }
    ck_assert_uint_eq(wrong, 0);
    assert_near((double)moved, (double)NCHUNKS / (double)(n + 1), "moved", n);
    free(before);
    free(after);
}
END_TEST

/* Removing one node (the middle one, so indices shift): only its chunks
 * move, each to the node that was second in its placement. */
START_TEST(test_remove_one)
{
    size_t n = (size_t)_i, gone = n / 2, i, j, moved = 0, wrong = 0;
    const char *rest[MAX_N];
    size_t *before = calloc(NCHUNKS, sizeof(*before));
    size_t *after = calloc(NCHUNKS, sizeof(*after));
    struct placement p;

    for (i = 0, j = 0; i < n; i++) {
        if (i != gone)
            rest[j++] = name_ptrs[i];
    }
    placement_init(&p);
    ck_assert_int_eq(placement_set(&p, name_ptrs, n), 0);
    owners(name_ptrs, n, before);
    owners(rest, n - 1, after);
    for (i = 0; i < NCHUNKS; i++) {
        const char *was = name_ptrs[before[i]], *now = rest[after[i]];
        size_t order[2];

        if (before[i] != gone) {
            if (strcmp(was, now) != 0) /* a chunk of a node that stayed */
                wrong++;
            continue;
        }
        moved++;
        /* ... goes to its first fallback */
        if (placement_rank_chunk(&p, &ids[i], order, 2) != 2 ||
            strcmp(name_ptrs[order[1]], now) != 0)
            wrong++;
    }
    ck_assert_uint_eq(wrong, 0);
    assert_near((double)moved, (double)NCHUNKS / (double)n, "moved", n);
    placement_fini(&p);
    free(before);
    free(after);
}
END_TEST

/* ---- Determinism and order ------------------------------------------ */

/* The same ids in another order give the same owner names. */
START_TEST(test_order_independent)
{
    const char *shuffled[8] = {names[5], names[2], names[7], names[0],
                               names[3], names[6], names[1], names[4]};
    size_t *a = calloc(NCHUNKS, sizeof(*a)), *b = calloc(NCHUNKS, sizeof(*b));
    size_t i, differ = 0;

    owners(name_ptrs, 8, a);
    owners(shuffled, 8, b);
    for (i = 0; i < NCHUNKS; i++)
        differ += strcmp(name_ptrs[a[i]], shuffled[b[i]]) != 0;
    ck_assert_uint_eq(differ, 0);
    free(a);
    free(b);
}
END_TEST

/* Fixed answers: a change of the hash scheme would make clients and nodes
 * of different versions disagree, so it must show up here. */
START_TEST(test_golden)
{
    static const char *const nodes[] = {"10.0.0.1:7080", "10.0.0.2:7080",
                                        "10.0.0.3:7080", "10.0.0.4:7080"};
    struct placement p;
    size_t order[4], i, n;
    char got[64] = "";

    placement_init(&p);
    ck_assert_int_eq(placement_set(&p, nodes, 4), 0);
    n = placement_rank(&p, "chunk", 5, order, 4);
    ck_assert_uint_eq(n, 4);
    for (i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%zu", order[i]);
    ck_assert_str_eq(got, "2031");
    ck_assert_uint_eq(placement_owner(&p, "x", 1), 2);
    placement_fini(&p);
}
END_TEST

/* The full order is a permutation, and a shorter max is its prefix (also
 * past the 64 entries kept on the stack). */
START_TEST(test_rank_prefix)
{
    enum { N = 100 };
    char buf[N][16];
    const char *nodes[N];
    size_t full[N], part[N], seen[N] = {0}, i, k;
    struct placement p;

    for (i = 0; i < N; i++) {
        snprintf(buf[i], sizeof(buf[i]), "n%zu", i);
        nodes[i] = buf[i];
    }
    placement_init(&p);
    ck_assert_int_eq(placement_set(&p, nodes, N), 0);
    ck_assert_uint_eq(placement_rank_chunk(&p, &ids[7], full, N + 5), N);
    for (i = 0; i < N; i++) {
        ck_assert_uint_lt(full[i], N);
        seen[full[i]]++;
    }
    for (i = 0; i < N; i++)
        ck_assert_uint_eq(seen[i], 1);
    for (k = 1; k <= N; k += 33) {
        ck_assert_uint_eq(placement_rank_chunk(&p, &ids[7], part, k), k);
        for (i = 0; i < k; i++)
            ck_assert_uint_eq(part[i], full[i]);
    }
    placement_fini(&p);
}
END_TEST

START_TEST(test_edges)
{
    struct placement p;
    size_t order[4];
    const char *one[] = {"only"};

    placement_init(&p);
    ck_assert_uint_eq(placement_rank(&p, "k", 1, order, 4), 0);
    ck_assert_uint_eq(placement_owner(&p, "k", 1), SIZE_MAX);
    ck_assert_int_eq(placement_set(&p, one, 1), 0);
    ck_assert_uint_eq(placement_rank(&p, "k", 1, order, 4), 1);
    ck_assert_uint_eq(order[0], 0);
    ck_assert_uint_eq(placement_rank(&p, "k", 1, order, 0), 0);
    ck_assert_int_eq(placement_set(&p, one, PLACEMENT_MAX_NODES + 1), -E2BIG);
    ck_assert_uint_eq(p.n, 1); /* unchanged */
    ck_assert_int_eq(placement_set(&p, NULL, 0), 0);
    ck_assert_uint_eq(placement_owner(&p, "k", 1), SIZE_MAX);
    placement_fini(&p);
    placement_fini(&p); /* twice is harmless */
}
END_TEST

static Suite *placement_suite(void)
{
    Suite *s = suite_create("placement");
    TCase *tc;

    tc = tcase_create("balance");
    tcase_add_unchecked_fixture(tc, placement_setup, placement_teardown);
    tcase_add_loop_test(tc, test_balance, MIN_N, MAX_N + 1);
    suite_add_tcase(s, tc);

    tc = tcase_create("movement");
    tcase_add_unchecked_fixture(tc, placement_setup, placement_teardown);
    tcase_add_loop_test(tc, test_add_one, MIN_N, MAX_N);
    tcase_add_loop_test(tc, test_remove_one, MIN_N + 1, MAX_N + 1);
    suite_add_tcase(s, tc);

    tc = tcase_create("determinism");
    tcase_add_unchecked_fixture(tc, placement_setup, placement_teardown);
    tcase_add_test(tc, test_order_independent);
    tcase_add_test(tc, test_golden);
    tcase_add_test(tc, test_rank_prefix);
    tcase_add_test(tc, test_edges);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(placement_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
