/* SPDX-License-Identifier: MIT */
/*
 * check_cluster.c: unit tests for the pure part of pcachefs/cluster.c:
 * the order in which a client tries nodes for a chunk (placement order,
 * nodes that failed recently last).
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/chunk.h"
#include "common/placement.h"
#include "pcachefs/cluster.h"

#define N 6

static const char *const ids[N] = {"n0", "n1", "n2", "n3", "n4", "n5"};

static void chunk(unsigned i, struct chunk_id *id)
{
    char key[32];

    snprintf(key, sizeof(key), "file-%u", i);
    chunk_id_make(id, "pb1", key, "\"e\"", i, 8u << 20);
}

/* Without penalties the order is the placement's. */
START_TEST(test_order_is_placement)
{
    struct placement p;
    struct chunk_id id;
    bool pen[N] = {false};
    size_t want[N], got[N], i;

    placement_init(&p);
    ck_assert_int_eq(placement_set(&p, ids, N), 0);
    chunk((unsigned)_i, &id);
    ck_assert_uint_eq(placement_rank_chunk(&p, &id, want, N), N);
    cluster_order(ids, pen, N, &id, got);
    for (i = 0; i < N; i++)
        ck_assert_uint_eq(got[i], want[i]);
    placement_fini(&p);
}
END_TEST

/* Penalised nodes go last, both groups keeping placement order. */
START_TEST(test_penalised_last)
{
    struct placement p;
    struct chunk_id id;
    bool pen[N] = {false};
    size_t rank[N], got[N], i, k = 0;

    placement_init(&p);
    ck_assert_int_eq(placement_set(&p, ids, N), 0);
    chunk((unsigned)_i, &id);
    placement_rank_chunk(&p, &id, rank, N);
    pen[rank[0]] = true; /* the owner failed */
    pen[rank[3]] = true;
    cluster_order(ids, pen, N, &id, got);
    for (i = 0; i < N; i++) {
        if (!pen[rank[i]])
            ck_assert_uint_eq(got[k++], rank[i]);
    }
    ck_assert_uint_eq(k, N - 2);
    ck_assert_uint_eq(got[N - 2], rank[0]);
    ck_assert_uint_eq(got[N - 1], rank[3]);
    /* All penalised: plain placement order, nothing dropped. */
    for (i = 0; i < N; i++)
        pen[i] = true;
    cluster_order(ids, pen, N, &id, got);
    for (i = 0; i < N; i++)
        ck_assert_uint_eq(got[i], rank[i]);
    placement_fini(&p);
}
END_TEST

static Suite *cluster_suite(void)
{
    Suite *s = suite_create("cluster");
    TCase *tc = tcase_create("order");

    tcase_add_loop_test(tc, test_order_is_placement, 0, 20);
    tcase_add_loop_test(tc, test_penalised_last, 0, 20);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cluster_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
