/* SPDX-License-Identifier: MIT */
/*
 * check_pcpd_request.c: pcpd's request parsing (pcpd/request.c) and the
 * hot-chunk top-K (pcpd/hot.c): pure functions, no daemon.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcpd/hot.h"
#include "pcpd/request.h"

#define Q "etag=%22abc%22&index=3&chunk_size=1048576"

static const struct {
    const char *path, *query;
    int rc;
} chunk_cases[] = {
    {"pb/dir/file", Q, 0},
    {"pb/dir%2Ffile%20x", Q, 0},
    {"pb/a/../b", Q, -EINVAL},
    {"pb/a/%2e%2e/b", Q, -EINVAL},
    {"pb/./b", Q, -EINVAL},
    {"pb/a%00b", Q, -EINVAL},
    {"pb/a%0ab", Q, -EINVAL},
    {"pb/", Q, -EINVAL},
    {"pb", Q, -EINVAL},
    {"PB/k", Q, -EINVAL},
    {"p!b/k", Q, -EINVAL},
    {"pb/k", "index=0&chunk_size=1048576", -EINVAL},
    {"pb/k", "etag=x&index=-1&chunk_size=1048576", -EINVAL},
    {"pb/k", "etag=x&index=4294967297&chunk_size=1048576", -EINVAL},
    {"pb/k", "etag=x&index=0&chunk_size=1000", -EINVAL},
    {"pb/k", "etag=x&index=0&chunk_size=1048577", -EINVAL},
    {"pb/k", "etag=x&index=0&chunk_size=99999999999999999999", -EINVAL},
    {"pb/k", "etag=a%20b&index=0&chunk_size=1048576", -EINVAL},
    {"pb/k", NULL, -EINVAL},
};

START_TEST(test_chunk_table)
{
    struct pcpd_chunk_ref r;
    char msg[128];
    int rc;

    memset(&r, 0, sizeof(r));
    rc = pcpd_request_parse_chunk(chunk_cases[_i].path, chunk_cases[_i].query,
                                  &r, msg, sizeof(msg));
    ck_assert_msg(rc == chunk_cases[_i].rc, "%s?%s: %d (%s)",
                  chunk_cases[_i].path, chunk_cases[_i].query, rc, msg);
    if (rc == 0) {
        ck_assert_str_eq(r.pbucket, "pb");
        ck_assert_str_eq(r.etag, "\"abc\"");
        ck_assert_uint_eq(r.index, 3);
        ck_assert_uint_eq(r.chunk_size, 1048576);
    }
    pcpd_chunk_ref_fini(&r);
}
END_TEST

START_TEST(test_chunk_decode)
{
    struct pcpd_chunk_ref r;
    char msg[128], *path;
    size_t n = 4000;

    ck_assert_int_eq(pcpd_request_parse_chunk("pb/d%2Fsome%20obj%2B1", Q, &r,
                                              msg, sizeof(msg)),
                     0);
    ck_assert_str_eq(r.key, "d/some obj+1");
    pcpd_chunk_ref_fini(&r);
    /* 1025 bytes of key: too long. */
    path = malloc(n);
    memcpy(path, "pb/", 3);
    memset(path + 3, 'a', 1025);
    path[3 + 1025] = '\0';
    ck_assert_int_eq(pcpd_request_parse_chunk(path, Q, &r, msg, sizeof(msg)),
                     -ENAMETOOLONG);
    path[3 + 1024] = '\0';
    ck_assert_int_eq(pcpd_request_parse_chunk(path, Q, &r, msg, sizeof(msg)),
                     0);
    pcpd_chunk_ref_fini(&r);
    free(path);
}
END_TEST

START_TEST(test_object)
{
    char pb[PCPD_NAME_MAX + 1], msg[128], *key = (char *)1;

    ck_assert_int_eq(
        pcpd_request_parse_object("pb", pb, &key, msg, sizeof(msg)), 0);
    ck_assert_str_eq(pb, "pb");
    ck_assert_ptr_null(key);
    ck_assert_int_eq(
        pcpd_request_parse_object("pb/", pb, &key, msg, sizeof(msg)), 0);
    ck_assert_ptr_null(key);
    ck_assert_int_eq(
        pcpd_request_parse_object("pb/a%20b/c", pb, &key, msg, sizeof(msg)), 0);
    ck_assert_str_eq(key, "a b/c");
    free(key);
    ck_assert_int_eq(
        pcpd_request_parse_object("pb/a/../c", pb, &key, msg, sizeof(msg)),
        -EINVAL);
    ck_assert_int_eq(
        pcpd_request_parse_object("Pb/c", pb, &key, msg, sizeof(msg)), -EINVAL);
    ck_assert(pcpd_request_key_ok("a/b", 3));
    ck_assert(!pcpd_request_key_ok("", 0));
    ck_assert(!pcpd_request_key_ok("a/./b", 5));
}
END_TEST

static const struct {
    const char *h;
    int rc;
    bool suffix;
    uint64_t first, last;
} range_cases[] = {
    {"bytes=0-99", 0, false, 0, 99},
    {"bytes=100-", 0, false, 100, UINT64_MAX},
    {"bytes=-10", 0, true, 0, 10},
    {"bytes=5-1", -EINVAL, false, 0, 0},
    {"bytes=0-1,5-6", -EINVAL, false, 0, 0},
    {"items=0-1", -EINVAL, false, 0, 0},
    {"bytes=", -EINVAL, false, 0, 0},
    {"bytes=-", -EINVAL, false, 0, 0},
    {"bytes=a-b", -EINVAL, false, 0, 0},
    {"bytes=99999999999999999999-", -EINVAL, false, 0, 0},
    {"bytes=1-2 ", -EINVAL, false, 0, 0},
};

START_TEST(test_range_table)
{
    struct pcpd_range r;
    int rc = pcpd_request_parse_range(range_cases[_i].h, &r);

    ck_assert_msg(rc == range_cases[_i].rc, "%s: %d", range_cases[_i].h, rc);
    if (rc == 0) {
        ck_assert(r.suffix == range_cases[_i].suffix);
        if (r.suffix) {
            ck_assert_uint_eq(r.last, range_cases[_i].last);
        } else {
            ck_assert_uint_eq(r.first, range_cases[_i].first);
            ck_assert_uint_eq(r.last, range_cases[_i].last);
        }
    }
}
END_TEST

START_TEST(test_range_resolve)
{
    struct pcpd_range r;
    uint64_t off, n;

    ck_assert_int_eq(pcpd_request_parse_range("bytes=-10", &r), 0);
    ck_assert_int_eq(pcpd_range_resolve(&r, 100, &off, &n), 0);
    ck_assert_uint_eq(off, 90);
    ck_assert_uint_eq(n, 10);
    ck_assert_int_eq(pcpd_range_resolve(&r, 4, &off, &n), 0);
    ck_assert_uint_eq(off, 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(pcpd_request_parse_range("bytes=50-", &r), 0);
    ck_assert_int_eq(pcpd_range_resolve(&r, 100, &off, &n), 0);
    ck_assert_uint_eq(n, 50);
    ck_assert_int_eq(pcpd_range_resolve(&r, 50, &off, &n), -ERANGE);
    ck_assert_int_eq(pcpd_request_parse_range("bytes=10-1000", &r), 0);
    ck_assert_int_eq(pcpd_range_resolve(&r, 100, &off, &n), 0);
    ck_assert_uint_eq(n, 90);
}
END_TEST

static void hot_id(struct chunk_id *id, uint64_t k)
{
    memset(id, 0, sizeof(*id));
    memcpy(id->b, &k, sizeof(k));
    memcpy(id->b + 8, &k, sizeof(k));
}

START_TEST(test_hot_topk)
{
    struct pcpd_hot *h = pcpd_hot_new(64);
    struct pcpd_hot_item v[8];
    struct chunk_id id;
    uint64_t i, total;
    size_t n;

    /* Three heavy hitters over a stream of 10000 one-off chunks: each is
     * seen more than N/K times, so space-saving must hold all three. */
    for (i = 0; i < 10000; i++) {
        hot_id(&id, 1000000 + i);
        pcpd_hot_add(h, &id, "pb", "cold", i);
        if (i % 10 == 0) {
            hot_id(&id, 1);
            pcpd_hot_add(h, &id, "pb", "a", 1);
        }
        if (i % 20 == 0) {
            hot_id(&id, 2);
            pcpd_hot_add(h, &id, "pb", "b", 2);
        }
        if (i % 40 == 0) {
            hot_id(&id, 3);
            pcpd_hot_add(h, &id, "pb", "c", 3);
        }
    }
    n = pcpd_hot_top(h, v, 8, &total);
    ck_assert_uint_eq(n, 8);
    ck_assert_uint_eq(total, 10000 + 1000 + 500 + 250);
    ck_assert_str_eq(v[0].label, "pb/a#1");
    ck_assert_str_eq(v[1].label, "pb/b#2");
    ck_assert_str_eq(v[2].label, "pb/c#3");
    /* Counts are upper bounds within `error`. */
    ck_assert(v[0].count >= 1000 && v[0].count - v[0].error <= 1000);
    n = pcpd_hot_top(h, v, 2, NULL);
    ck_assert_uint_eq(n, 2);
    pcpd_hot_free(h);
    pcpd_hot_free(NULL);
}
END_TEST

static Suite *pcpd_request_suite(void)
{
    Suite *s = suite_create("pcpd_request");
    TCase *tc;

    tc = tcase_create("chunk");
    tcase_add_loop_test(tc, test_chunk_table, 0,
                        sizeof(chunk_cases) / sizeof(chunk_cases[0]));
    tcase_add_test(tc, test_chunk_decode);
    tcase_add_test(tc, test_object);
    suite_add_tcase(s, tc);
    tc = tcase_create("range");
    tcase_add_loop_test(tc, test_range_table, 0,
                        sizeof(range_cases) / sizeof(range_cases[0]));
    tcase_add_test(tc, test_range_resolve);
    suite_add_tcase(s, tc);
    tc = tcase_create("hot");
    tcase_add_test(tc, test_hot_topk);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pcpd_request_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
