/* SPDX-License-Identifier: MIT */
/*
 * check_backoff.c: unit tests for common/backoff.c.
 *
 * The module is pure and seeded by the caller, so every property is
 * checked exactly: each delay lies in [base/2, min(cap, base * 2^n)], the
 * bound doubles up to the cap, equal seeds give equal sequences, and the
 * draws spread over their whole range.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct {
    uint32_t base, cap;
    uint64_t seed;
    uint32_t eff_base, eff_cap; /* after backoff_init's corrections */
} configs[] = {
    {100, 10000, 1, 100, 10000},
    {100, 10000, 0, 100, 10000}, /* seed 0 is replaced, never used */
    {1, 1, 42, 1, 1},
    {0, 0, 7, 1, 1},            /* base 0 would never grow */
    {1000, 500, 3, 1000, 1000}, /* cap below base is raised to it */
    {3, UINT32_MAX, 99, 3, UINT32_MAX},
    {UINT32_MAX, UINT32_MAX, 5, UINT32_MAX, UINT32_MAX},
    {250, 60000, 0xdeadbeefcafef00dull, 250, 60000},
    {7, 1000, 12345, 7, 1000},
};

/* min(cap, base * 2^n), computed without the module's help. */
static uint32_t expected_bound(uint32_t base, uint32_t cap, uint32_t n)
{
    uint64_t b = base;
    uint32_t i;

    for (i = 0; i < n && b < cap; i++)
        b *= 2;
    return b > cap ? cap : (uint32_t)b;
}

START_TEST(test_bounds)
{
    struct backoff b;
    uint32_t n;

    backoff_init(&b, configs[_i].base, configs[_i].cap, configs[_i].seed);
    ck_assert_uint_eq(b.base_ms, configs[_i].eff_base);
    ck_assert_uint_eq(b.cap_ms, configs[_i].eff_cap);
    ck_assert_uint_eq(b.attempt, 0);
    ck_assert_uint_ne(b.rng, 0);
    for (n = 0; n < 200; n++) {
        uint32_t hi = expected_bound(b.base_ms, b.cap_ms, n);
        uint32_t lo = b.base_ms / 2;
        uint32_t d;

        ck_assert_uint_eq(backoff_bound(&b, n), hi);
        d = backoff_next(&b);
        ck_assert_msg(d >= lo && d <= hi, "attempt %u: %u not in [%u, %u]", n,
                      d, lo, hi);
        ck_assert_uint_eq(b.attempt, n + 1);
        ck_assert_uint_ne(b.rng, 0);
    }
}
END_TEST

START_TEST(test_growth_and_cap)
{
    struct backoff b;
    uint32_t n, prev = 0;

    backoff_init(&b, 100, 10000, 1);
    ck_assert_uint_eq(backoff_bound(&b, 0), 100);
    ck_assert_uint_eq(backoff_bound(&b, 1), 200);
    ck_assert_uint_eq(backoff_bound(&b, 2), 400);
    ck_assert_uint_eq(backoff_bound(&b, 6), 6400);
    ck_assert_uint_eq(backoff_bound(&b, 7), 10000); /* 12800 capped */
    ck_assert_uint_eq(backoff_bound(&b, 1000), 10000);
    ck_assert_uint_eq(backoff_bound(&b, UINT32_MAX), 10000);
    for (n = 0; n < 64; n++) {
        uint32_t bound = backoff_bound(&b, n);

        ck_assert_uint_ge(bound, prev); /* never shrinks */
        prev = bound;
    }

    /* no overflow on the way to a cap near UINT32_MAX */
    backoff_init(&b, 3, UINT32_MAX, 1);
    ck_assert_uint_eq(backoff_bound(&b, 30), 3u << 30);
    ck_assert_uint_eq(backoff_bound(&b, 31), UINT32_MAX);
    ck_assert_uint_eq(backoff_bound(&b, 40), UINT32_MAX);

    /* the bound does not depend on how many delays were drawn */
    backoff_init(&b, 100, 10000, 1);
    for (n = 0; n < 5; n++)
        backoff_next(&b);
    ck_assert_uint_eq(backoff_bound(&b, 2), 400);
}
END_TEST

START_TEST(test_capped_draws_reach_cap)
{
    struct backoff b;
    uint32_t max = 0;
    int i;

    backoff_init(&b, 100, 1000, 77);
    for (i = 0; i < 500; i++) {
        uint32_t d = backoff_next(&b);

        ck_assert_uint_le(d, 1000);
        if (d > max)
            max = d;
    }
    /* hundreds of draws from [50, 1000]: the top tenth is reached */
    ck_assert_uint_gt(max, 900);
}
END_TEST

START_TEST(test_deterministic)
{
    struct backoff a, b, c;
    bool differ = false;
    int i;

    backoff_init(&a, 100, 30000, 0x1234);
    backoff_init(&b, 100, 30000, 0x1234);
    backoff_init(&c, 100, 30000, 0x1235);
    for (i = 0; i < 100; i++) {
        uint32_t da = backoff_next(&a), dc = backoff_next(&c);

        ck_assert_uint_eq(da, backoff_next(&b));
        differ |= da != dc;
    }
    ck_assert(differ);

    /* seed 0 behaves as one fixed seed, not as a broken generator */
    backoff_init(&a, 100, 30000, 0);
    backoff_init(&b, 100, 30000, 0);
    for (i = 0; i < 20; i++)
        ck_assert_uint_eq(backoff_next(&a), backoff_next(&b));
}
END_TEST

START_TEST(test_spread)
{
    const uint32_t lo = 50, hi = 10000, n = 4000;
    uint32_t min = UINT32_MAX, max = 0, i;
    uint32_t buckets[10] = {0};
    uint64_t sum = 0;
    struct backoff b;

    backoff_init(&b, 100, hi, 2024);
    for (i = 0; i < 8; i++)
        backoff_next(&b); /* past the growth: now uniform in [lo, hi] */
    for (i = 0; i < n; i++) {
        uint32_t d = backoff_next(&b);

        ck_assert_uint_ge(d, lo);
        ck_assert_uint_le(d, hi);
        min = d < min ? d : min;
        max = d > max ? d : max;
        sum += d;
        buckets[(uint64_t)(d - lo) * 10 / (hi - lo + 1)]++;
    }
    ck_assert_uint_lt(min, lo + (hi - lo) / 20);
    ck_assert_uint_gt(max, hi - (hi - lo) / 20);
    /* mean near the middle, and every tenth of the range used */
    ck_assert_uint_gt(sum / n, lo + (hi - lo) * 2 / 5);
    ck_assert_uint_lt(sum / n, lo + (hi - lo) * 3 / 5);
    for (i = 0; i < 10; i++)
        ck_assert_msg(buckets[i] > n / 20, "bucket %u holds %u", i, buckets[i]);
}
END_TEST

START_TEST(test_first_delay_varies)
{
    uint32_t seen[64];
    int nseen = 0, i, j;

    /* clients seeded differently do not retry in lockstep */
    for (i = 1; i <= 64; i++) {
        struct backoff b;
        uint32_t d;

        backoff_init(&b, 1000, 60000, (uint64_t)i * 0x9e3779b97f4a7c15ull);
        d = backoff_next(&b);
        ck_assert_uint_ge(d, 500);
        ck_assert_uint_le(d, 1000);
        for (j = 0; j < nseen && seen[j] != d; j++)
            ;
        if (j == nseen)
            seen[nseen++] = d;
    }
    ck_assert_int_gt(nseen, 32);
}
END_TEST

static Suite *backoff_suite(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc;

    tc = tcase_create("bounds");
    tcase_add_loop_test(tc, test_bounds, 0, NELEM(configs));
    tcase_add_test(tc, test_growth_and_cap);
    tcase_add_test(tc, test_capped_draws_reach_cap);
    suite_add_tcase(s, tc);

    tc = tcase_create("randomness");
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_spread);
    tcase_add_test(tc, test_first_delay_varies);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(backoff_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
