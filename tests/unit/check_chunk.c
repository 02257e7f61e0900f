/* SPDX-License-Identifier: MIT */
/*
 * check_chunk.c: unit tests for common/chunk.c: chunk maths at the
 * boundaries, chunk ids (stable, sensitive to every field, unambiguous)
 * and their hex form.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/chunk.h"

#define MIB (1ull << 20)

/* ---- Maths ---------------------------------------------------------- */

static const struct {
    uint64_t size, chunk;
    uint64_t count;
    uint64_t len0, len1, len2;
} maths_cases[] = {
    {0, MIB, 0, 0, 0, 0},
    {1, MIB, 1, 1, 0, 0},
    {MIB - 1, MIB, 1, MIB - 1, 0, 0},
    {MIB, MIB, 1, MIB, 0, 0},
    {MIB + 1, MIB, 2, MIB, 1, 0},
    {2 * MIB, MIB, 2, MIB, MIB, 0},
    {2 * MIB + 7, MIB, 3, MIB, MIB, 7},
    {8 * MIB, 8 * MIB, 1, 8 * MIB, 0, 0},
    {8 * MIB + 1, 8 * MIB, 2, 8 * MIB, 1, 0},
};

START_TEST(test_maths_table)
{
    uint64_t size = maths_cases[_i].size, cs = maths_cases[_i].chunk;

    ck_assert_uint_eq(chunk_count(size, cs), maths_cases[_i].count);
    ck_assert_uint_eq(chunk_len(0, cs, size), maths_cases[_i].len0);
    ck_assert_uint_eq(chunk_len(1, cs, size), maths_cases[_i].len1);
    ck_assert_uint_eq(chunk_len(2, cs, size), maths_cases[_i].len2);
    /* Past the end is 0 however far. */
    ck_assert_uint_eq(chunk_len(maths_cases[_i].count, cs, size), 0);
    ck_assert_uint_eq(chunk_len(UINT64_MAX, cs, size), 0);
}
END_TEST

START_TEST(test_index_of)
{
    ck_assert_uint_eq(chunk_index_of(0, MIB), 0);
    ck_assert_uint_eq(chunk_index_of(1, MIB), 0);
    ck_assert_uint_eq(chunk_index_of(MIB - 1, MIB), 0);
    ck_assert_uint_eq(chunk_index_of(MIB, MIB), 1);
    ck_assert_uint_eq(chunk_index_of(MIB + 1, MIB), 1);
    ck_assert_uint_eq(chunk_index_of(UINT64_MAX, MIB), UINT64_MAX / MIB);
    ck_assert_uint_eq(chunk_offset(3, 8 * MIB), 24 * MIB);
}
END_TEST

START_TEST(test_lengths_sum_to_size)
{
    static const uint64_t sizes[] = {
        0, 1, 65535, MIB - 1, MIB, MIB + 1, 5 * MIB, 5 * MIB + 3, 64 * MIB + 1};
    uint64_t i, k, sum;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        sum = 0;
        for (k = 0; k < chunk_count(sizes[i], MIB); k++) {
            ck_assert_uint_gt(chunk_len(k, MIB, sizes[i]), 0);
            ck_assert_uint_eq(chunk_index_of(chunk_offset(k, MIB), MIB), k);
            sum += chunk_len(k, MIB, sizes[i]);
        }
        ck_assert_uint_eq(sum, sizes[i]);
    }
}
END_TEST

START_TEST(test_huge_sizes)
{
    uint64_t cs = CHUNK_SIZE_MAX;
    uint64_t n = chunk_count(UINT64_MAX, cs);

    /* No overflow near the top of the range. */
    ck_assert_uint_eq(n, UINT64_MAX / cs + 1);
    ck_assert_uint_eq(chunk_len(n - 1, cs, UINT64_MAX), UINT64_MAX % cs);
    ck_assert_uint_eq(chunk_len(n - 2, cs, UINT64_MAX), cs);
    ck_assert_uint_eq(chunk_len(n, cs, UINT64_MAX), 0);
}
END_TEST

START_TEST(test_size_valid)
{
    ck_assert(!chunk_size_valid(0));
    ck_assert(!chunk_size_valid(64 << 10));
    ck_assert(!chunk_size_valid(MIB - (64 << 10)));
    ck_assert(chunk_size_valid(CHUNK_SIZE_MIN));
    ck_assert(!chunk_size_valid(MIB + 1));
    ck_assert(chunk_size_valid(MIB + (64 << 10)));
    ck_assert(chunk_size_valid(3 * MIB));
    ck_assert(chunk_size_valid(CHUNK_SIZE_DEFAULT));
    ck_assert(chunk_size_valid(CHUNK_SIZE_MAX));
    ck_assert(!chunk_size_valid(CHUNK_SIZE_MAX + (64 << 10)));
    ck_assert(!chunk_size_valid(UINT64_MAX));
}
END_TEST

/* ---- Ids ------------------------------------------------------------ */

static void id_hex(const char *pb, const char *key, const char *etag,
                   uint64_t i, uint64_t cs, char out[33])
{
    struct chunk_id id;

    chunk_id_make(&id, pb, key, etag, i, cs);
    chunk_id_hex(&id, out);
}

START_TEST(test_id_stable)
{
    char a[33], b[33];

    id_hex("pb", "dir/file", "\"etag\"", 3, 8 * MIB, a);
    id_hex("pb", "dir/file", "\"etag\"", 3, 8 * MIB, b);
    ck_assert_str_eq(a, b);
    /*
     * The encoding is part of the on-disk and wire format: this value may
     * only change together with the encoding's version tag.
     */
    ck_assert_str_eq(a, "ca52a91a3bc0136c47245e4782af0abb");
}
END_TEST

START_TEST(test_id_each_field)
{
    char base[33], other[33];

    id_hex("pb", "key", "e1", 0, MIB, base);
    id_hex("pc", "key", "e1", 0, MIB, other);
    ck_assert_str_ne(base, other);
    id_hex("pb", "kex", "e1", 0, MIB, other);
    ck_assert_str_ne(base, other);
    id_hex("pb", "key", "e2", 0, MIB, other);
    ck_assert_str_ne(base, other);
    id_hex("pb", "key", "e1", 1, MIB, other);
    ck_assert_str_ne(base, other);
    id_hex("pb", "key", "e1", 0, 2 * MIB, other);
    ck_assert_str_ne(base, other);
}
END_TEST

START_TEST(test_id_unambiguous)
{
    char a[33], b[33];

    /* Moving bytes between fields changes the id. */
    id_hex("ab", "c", "e", 0, MIB, a);
    id_hex("a", "bc", "e", 0, MIB, b);
    ck_assert_str_ne(a, b);
    id_hex("", "key", "etag", 0, MIB, a);
    id_hex("key", "", "etag", 0, MIB, b);
    ck_assert_str_ne(a, b);
    id_hex("pb", "k", "", 0, MIB, a);
    id_hex("pb", "", "k", 0, MIB, b);
    ck_assert_str_ne(a, b);
    /* NULL is "". */
    id_hex(NULL, "k", NULL, 0, MIB, a);
    id_hex("", "k", "", 0, MIB, b);
    ck_assert_str_eq(a, b);
}
END_TEST

START_TEST(test_id_long_key)
{
    char *key = malloc(5000);
    char a[33], b[33];

    memset(key, 'k', 4999);
    key[4999] = '\0';
    id_hex("pb", key, "e", 0, MIB, a);
    key[4998] = 'j';
    id_hex("pb", key, "e", 0, MIB, b);
    ck_assert_str_ne(a, b);
    free(key);
}
END_TEST

START_TEST(test_hex_round_trip)
{
    struct chunk_id id, back;
    char hex[33];
    uint64_t i;

    for (i = 0; i < 100; i++) {
        chunk_id_make(&id, "pb", "key", "etag", i, MIB);
        chunk_id_hex(&id, hex);
        ck_assert_uint_eq(strlen(hex), 32);
        ck_assert_int_eq(chunk_id_parse(hex, &back), 0);
        ck_assert(chunk_id_eq(&id, &back));
    }
    ck_assert_int_eq(chunk_id_parse("000102030405060708090A0B0C0D0E0F", &back),
                     0);
    for (i = 0; i < 16; i++)
        ck_assert_uint_eq(back.b[i], i);
}
END_TEST

START_TEST(test_hex_rejects)
{
    static const char *const bad[] = {
        "",
        "0",
        "000102030405060708090a0b0c0d0e0",
        "000102030405060708090a0b0c0d0e0f0",
        "000102030405060708090a0b0c0d0e0g",
        " 00102030405060708090a0b0c0d0e0f",
        "000102030405060708090a0b0c0d0e0f\n",
        "0x0102030405060708090a0b0c0d0e0f",
    };
    struct chunk_id id, orig;
    size_t i;

    memset(&id, 0x5a, sizeof(id));
    orig = id;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(chunk_id_parse(bad[i], &id), -EINVAL);
        ck_assert(chunk_id_eq(&id, &orig));
    }
    ck_assert_int_eq(chunk_id_parse(NULL, &id), -EINVAL);
}
END_TEST

static Suite *chunk_suite(void)
{
    Suite *s = suite_create("chunk");
    TCase *tc;

    tc = tcase_create("maths");
    tcase_add_loop_test(tc, test_maths_table, 0,
                        sizeof(maths_cases) / sizeof(maths_cases[0]));
    tcase_add_test(tc, test_index_of);
    tcase_add_test(tc, test_lengths_sum_to_size);
    tcase_add_test(tc, test_huge_sizes);
    tcase_add_test(tc, test_size_valid);
    suite_add_tcase(s, tc);

    tc = tcase_create("id");
    tcase_add_test(tc, test_id_stable);
    tcase_add_test(tc, test_id_each_field);
    tcase_add_test(tc, test_id_unambiguous);
    tcase_add_test(tc, test_id_long_key);
    tcase_add_test(tc, test_hex_round_trip);
    tcase_add_test(tc, test_hex_rejects);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(chunk_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
