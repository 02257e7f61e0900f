/* SPDX-License-Identifier: MIT */
/*
 * check_buf.c: unit tests for common/buf.c.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

START_TEST(test_append_grows)
{
    struct buf b;
    int i;

    buf_init(&b, BUF_UNLIMITED);
    ck_assert_str_eq(buf_str(&b), "");
    for (i = 0; i < 1000; i++)
        ck_assert_int_eq(buf_append_str(&b, "abc"), 0);
    ck_assert_uint_eq(b.len, 3000);
    ck_assert_uint_eq(strlen(buf_str(&b)), 3000);
    buf_free(&b);
}
END_TEST

START_TEST(test_max_is_enforced)
{
    struct buf b;

    buf_init(&b, 8);
    ck_assert_int_eq(buf_append_str(&b, "12345678"), 0);
    ck_assert_int_eq(buf_append_byte(&b, 'x'), -EMSGSIZE);
    ck_assert_uint_eq(b.len, 8);
    ck_assert_str_eq(buf_str(&b), "12345678");
    ck_assert_int_eq(buf_appendf(&b, "%d", 1), -EMSGSIZE);
    buf_free(&b);
}
END_TEST

START_TEST(test_appendf_and_steal)
{
    struct buf b;
    char *s;

    buf_init(&b, 64);
    ck_assert_int_eq(buf_appendf(&b, "%s-%d", "part", 7), 0);
    ck_assert_str_eq(buf_str(&b), "part-7");
    s = buf_steal(&b);
    ck_assert_str_eq(s, "part-7");
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.max, 64);
    free(s);
    buf_reset(&b);
    buf_free(&b);
}
END_TEST

static Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_append_grows);
    tcase_add_test(tc, test_max_is_enforced);
    tcase_add_test(tc, test_appendf_and_steal);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(buf_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
