/* SPDX-License-Identifier: MIT */
/*
 * check_policy.c: the store's eviction policies (lru, lru2, s3fifo) on
 * synthetic traces, through the policy simulator of store_int.h: the same
 * policy code the store runs, without files.
 *
 * Traces: Zipf(0.99) over 20,000 keys, and the same Zipf mixed with long
 * scans of keys read once. Hit ratios are printed; s3fifo must be at
 * least lru's on both.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/store_int.h"

#define NKEYS    20000
#define NACCESS  300000
#define CAPACITY 1000

/* A small deterministic generator (xorshift64*). */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static double *zipf_cdf(size_t n, double alpha)
{
    double *cdf = malloc(n * sizeof(*cdf)), sum = 0;
    size_t i;

    for (i = 0; i < n; i++)
        sum += 1.0 / pow((double)(i + 1), alpha);
    cdf[0] = 1.0 / sum;
    for (i = 1; i < n; i++)
        cdf[i] = cdf[i - 1] + 1.0 / pow((double)(i + 1), alpha) / sum;
    return cdf;
}

static uint64_t zipf_draw(const double *cdf, size_t n, uint64_t *rng)
{
    double u = (double)(rng_next(rng) >> 11) / (double)(1ull << 53);
    size_t lo = 0, hi = n - 1, mid;

    while (lo < hi) {
        mid = (lo + hi) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Hit ratio of policy on a trace; scan_every 0 means no scans. */
static double run_trace(const char *policy, unsigned scan_every)
{
    struct store *sim = store_policy_sim_new(policy, CAPACITY);
    double *cdf = zipf_cdf(NKEYS, 0.99);
    uint64_t rng = 42, hits = 0, n = 0, scan_key = 1ull << 40, i, k;

    ck_assert_ptr_nonnull(sim);
    for (i = 0; i < NACCESS; i++) {
        if (scan_every && i % scan_every == 0) {
            /* A scan: 2 * CAPACITY keys read once each. */
            for (k = 0; k < 2 * CAPACITY; k++) {
                hits += store_policy_sim_access(sim, scan_key++);
                n++;
            }
        }
        hits += store_policy_sim_access(sim, zipf_draw(cdf, NKEYS, &rng));
        n++;
    }
    free(cdf);
    store_policy_sim_free(sim);
    return (double)hits / (double)n;
}

static void compare(const char *trace, unsigned scan_every)
{
    double lru = run_trace("lru", scan_every);
    double lru2 = run_trace("lru2", scan_every);
    double s3 = run_trace("s3fifo", scan_every);

    printf("%s: hit ratio lru %.4f, lru2 %.4f, s3fifo %.4f\n", trace, lru, lru2,
           s3);
    fflush(stdout);
    ck_assert_msg(s3 >= lru, "%s: s3fifo %.4f < lru %.4f", trace, s3, lru);
}

START_TEST(test_zipf)
{
    compare("zipf(0.99)", 0);
}
END_TEST

START_TEST(test_scan)
{
    compare("zipf(0.99)+scans", 20000);
}
END_TEST

START_TEST(test_unknown)
{
    ck_assert_ptr_null(store_policy_sim_new("clock", 10));
}
END_TEST

START_TEST(test_tiny)
{
    const char *names[] = {"lru", "lru2", "s3fifo"};
    int i, k;

    /* Capacity 1: every new key evicts the only one; never stuck. */
    for (i = 0; i < 3; i++) {
        struct store *sim = store_policy_sim_new(names[i], 1);

        for (k = 0; k < 100; k++)
            store_policy_sim_access(sim, (uint64_t)(k % 3));
        ck_assert(store_policy_sim_access(sim, 99 % 3));
        store_policy_sim_free(sim);
    }
}
END_TEST

static Suite *policy_suite(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("traces");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_zipf);
    tcase_add_test(tc, test_scan);
    suite_add_tcase(s, tc);
    tc = tcase_create("edges");
    tcase_add_test(tc, test_unknown);
    tcase_add_test(tc, test_tiny);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(policy_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
