/* SPDX-License-Identifier: MIT */
/*
 * check_store.c: unit tests for common/store.c.
 *
 * Every test runs on a fresh directory from mkdtemp, removed afterwards.
 * Chunk contents are a pseudo-random stream seeded by a number, so any
 * reader can check any range. Files are damaged with plain syscalls to
 * stand for a bad disk. The concurrency test is meant to run under the
 * ASan/UBSan build too.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/chunk.h"
#include "common/monotime.h"
#include "common/mem.h"
#include "common/store.h"

#define KIB (1ull << 10)
#define MIB (1ull << 20)

static char tdir[64];
static char sdir[96]; /* the store directory, inside tdir */

/* ---- Helpers -------------------------------------------------------- */

static int rm_cb(const char *path, const struct stat *st, int flag,
                 struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(tdir, sizeof(tdir), "%s/check_store.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tdir));
    snprintf(sdir, sizeof(sdir), "%s/store", tdir);
}

static void teardown(void)
{
    nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* The contents of test chunk `seed`. */
static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1, v;
    size_t i;

    for (i = 0; i < len; i += 8) {
        v = rng_next(&x);
        memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
    }
}

static uint8_t *make_data(size_t len, uint64_t seed)
{
    uint8_t *p = malloc(len ? len : 1);

    ck_assert_ptr_nonnull(p);
    fill(p, len, seed);
    return p;
}

static struct chunk_id tid(uint64_t n)
{
    struct chunk_id id;

    chunk_id_make(&id, "pb", "test/object", "\"etag\"", n, 8 * MIB);
    return id;
}

static uint64_t fsize(uint64_t len)
{
    return STORE_HDR_SIZE + len;
}

static void chunk_file(const struct chunk_id *id, char *path, size_t n)
{
    char hex[33];

    chunk_id_hex(id, hex);
    snprintf(path, n, "%s/%.2s/%.2s/%s", sdir, hex, hex + 2, hex);
}

static struct store *open_cap(uint64_t cap, unsigned high, unsigned low)
{
    struct store_opts o;
    struct store *s;
    char err[256] = "";

    store_opts_init(&o);
    o.capacity = cap;
    o.high_pct = high;
    o.low_pct = low;
    s = store_open(sdir, &o, err, sizeof(err));
    ck_assert_msg(s != NULL, "store_open: %s", err);
    return s;
}

static void put_ok(struct store *s, uint64_t n, size_t len)
{
    struct chunk_id id = tid(n);
    uint8_t *d = make_data(len, n);

    ck_assert_int_eq(store_put(s, &id, d, len), 0);
    free(d);
}

/* Totals of the chunk files on disk (tmp/ and others left out). */
struct disk_totals {
    uint64_t files, bytes, tmp;
};

static struct disk_totals disk_walk_totals;

static int disk_cb(const char *path, const struct stat *st, int flag,
                   struct FTW *ftw)
{
    if (flag != FTW_F)
        return 0;
    if (strstr(path + strlen(sdir), "/tmp/")) {
        disk_walk_totals.tmp++;
    } else if (ftw->level == 3) {
        disk_walk_totals.files++;
        disk_walk_totals.bytes += (uint64_t)st->st_size;
    }
    return 0;
}

static struct disk_totals disk_totals(void)
{
    memset(&disk_walk_totals, 0, sizeof(disk_walk_totals));
    nftw(sdir, disk_cb, 16, FTW_PHYS);
    return disk_walk_totals;
}

static void assert_stats_match_disk(struct store *s)
{
    struct disk_totals d = disk_totals();
    struct store_stats st;

    store_get_stats(s, &st);
    ck_assert_uint_eq(st.chunks, d.files);
    ck_assert_uint_eq(st.used_bytes, d.bytes);
    ck_assert_uint_le(st.used_bytes, st.capacity);
    ck_assert_uint_eq(d.tmp, 0);
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* ---- Basics --------------------------------------------------------- */

START_TEST(test_round_trip)
{
    const size_t len = MIB + 12345; /* a short last block */
    struct chunk_id id = tid(1);
    uint8_t *d = make_data(len, 1), *got = malloc(len + 100);
    struct store_stats st;
    uint64_t x = 42, off, n, clen = 0;
    struct store *s = open_cap(64 * MIB, 95, 90);
    int i;

    ck_assert(!store_contains(s, &id, NULL));
    ck_assert_int_eq(store_read(s, &id, got, 10, 0), -ENOENT);
    ck_assert_int_eq(store_put(s, &id, d, len), 0);
    ck_assert(store_contains(s, &id, &clen));
    ck_assert_uint_eq(clen, len);

    /* Random ranges, most of them across block boundaries. */
    for (i = 0; i < 500; i++) {
        off = rng_next(&x) % (len + 10);
        n = rng_next(&x) % (i % 2 ? 300 * KIB : 70 * KIB);
        memset(got, 0, n);
        ssize_t r = store_read(s, &id, got, n, off);
        uint64_t want = off >= len ? 0 : (n < len - off ? n : len - off);
        ck_assert_int_eq(r, (ssize_t)want);
        ck_assert(memcmp(got, d + (off < len ? off : 0), want) == 0);
    }
    /* Exact block edges, the whole chunk, and past the end. */
    ck_assert_int_eq(store_read(s, &id, got, 64 * KIB, 64 * KIB), 64 * KIB);
    ck_assert(memcmp(got, d + 64 * KIB, 64 * KIB) == 0);
    ck_assert_int_eq(store_read(s, &id, got, 1, 64 * KIB - 1), 1);
    ck_assert_uint_eq(got[0], d[64 * KIB - 1]);
    ck_assert_int_eq(store_read(s, &id, got, len + 100, 0), (ssize_t)len);
    ck_assert(memcmp(got, d, len) == 0);
    ck_assert_int_eq(store_read(s, &id, got, 100, len), 0);
    ck_assert_int_eq(store_read(s, &id, got, 100, UINT64_MAX), 0);
    ck_assert_int_eq(store_read(s, &id, got, 0, 0), 0);

    store_get_stats(s, &st);
    ck_assert_uint_eq(st.chunks, 1);
    ck_assert_uint_eq(st.used_bytes, fsize(len));
    ck_assert_uint_eq(st.puts, 1);
    ck_assert_uint_eq(st.misses, 1);
    ck_assert_uint_eq(st.hits, 500 + 6);
    assert_stats_match_disk(s);
    store_close(s);
    free(d);
    free(got);
}
END_TEST

/*
 * O_DIRECT puts: an aligned buffer with an unaligned tail, an exact
 * multiple of the alignment, a buffer that is not aligned (written
 * buffered) and a chunk shorter than the alignment; all read back whole,
 * also after a reopen (the files are the same format).
 */
START_TEST(test_direct_puts)
{
    const size_t lens[] = {MIB + 12345, 2 * MIB, MIB + 7, 100};
    struct store_opts o;
    struct store *s;
    char err[256] = "";
    size_t i;

    for (int round = 0; round < 2; round++) {
        store_opts_init(&o);
        o.capacity = 64 * MIB;
        o.direct = true;
        s = store_open(sdir, &o, err, sizeof(err));
        ck_assert_msg(s != NULL, "store_open: %s", err);
        for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            struct chunk_id id = tid(100 + i);
            uint8_t *d = make_data(lens[i], 100 + i);
            uint8_t *buf = xmalloc_aligned(STORE_DIRECT_ALIGN, lens[i] + 1);
            uint8_t *src = i == 2 ? buf + 1 : buf; /* one unaligned */
            uint8_t *got = malloc(lens[i]);

            memcpy(src, d, lens[i]);
            if (round == 0)
                ck_assert_int_eq(store_put(s, &id, src, lens[i]), 0);
            ck_assert_int_eq(store_read(s, &id, got, lens[i], 0),
                             (ssize_t)lens[i]);
            ck_assert(memcmp(got, d, lens[i]) == 0);
            free(d);
            free(buf);
            free(got);
        }
        assert_stats_match_disk(s);
        store_close(s);
    }
}
END_TEST

/* store_load: whole chunks, direct or not, aligned tail or not. */
START_TEST(test_load_whole)
{
    const size_t lens[] = {2 * MIB, MIB + 12345, 100};
    struct store_opts o;
    struct store *s;
    char err[256] = "";
    size_t i;

    for (int direct = 0; direct < 2; direct++) {
        store_opts_init(&o);
        o.capacity = 64 * MIB;
        o.direct = direct;
        s = store_open(sdir, &o, err, sizeof(err));
        ck_assert_msg(s != NULL, "store_open: %s", err);
        for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            struct chunk_id id = tid(200 + i);
            uint8_t *d = make_data(lens[i], 200 + i);
            uint8_t *buf = xmalloc_aligned(STORE_DIRECT_ALIGN, 2 * MIB + 1);

            if (direct == 0)
                ck_assert_int_eq(store_put(s, &id, d, lens[i]), 0);
            ck_assert_int_eq(store_load(s, &id, buf, 2 * MIB),
                             (ssize_t)lens[i]);
            ck_assert(memcmp(buf, d, lens[i]) == 0);
            /* Unaligned buffers are read through the page cache. */
            memset(buf, 0, 2 * MIB + 1);
            ck_assert_int_eq(store_load(s, &id, buf + 1, 2 * MIB),
                             (ssize_t)lens[i]);
            ck_assert(memcmp(buf + 1, d, lens[i]) == 0);
            if (lens[i] > 100)
                ck_assert_int_eq(store_load(s, &id, buf, lens[i] - 1),
                                 -EMSGSIZE);
            free(d);
            free(buf);
        }
        assert_stats_match_disk(s);
        store_close(s);
    }
}
END_TEST

START_TEST(test_open_chunk)
{
    const size_t len = 3 * 64 * KIB + 1;
    struct chunk_id id = tid(2), other = tid(3);
    uint8_t *d = make_data(len, 2), *got = malloc(len);
    uint64_t off = 0, clen = 0;
    struct store *s = open_cap(64 * MIB, 95, 90);
    int fd = -1;

    ck_assert_int_eq(store_open_chunk(s, &other, &fd, &off, &clen), -ENOENT);
    ck_assert_int_eq(fd, -1);
    ck_assert_int_eq(store_put(s, &id, d, len), 0);
    ck_assert_int_eq(store_open_chunk(s, &id, &fd, &off, &clen), 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_uint_eq(off, STORE_HDR_SIZE);
    ck_assert_uint_eq(clen, len);
    ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), (off_t)off);
    /* The fd outlives removal of the chunk. */
    ck_assert_int_eq(store_remove(s, &id), 0);
    ck_assert_int_eq(pread(fd, got, len, (off_t)off), (ssize_t)len);
    ck_assert(memcmp(got, d, len) == 0);
    close(fd);
    store_close(s);
    free(d);
    free(got);
}
END_TEST

START_TEST(test_empty_and_too_big)
{
    struct chunk_id id = tid(4);
    uint8_t b[4];
    uint64_t clen = 99;
    struct store_stats st;
    struct store *s = open_cap(64 * MIB, 95, 90);

    ck_assert_int_eq(store_put(s, &id, "", 0), 0);
    ck_assert(store_contains(s, &id, &clen));
    ck_assert_uint_eq(clen, 0);
    ck_assert_int_eq(store_read(s, &id, b, sizeof(b), 0), 0);
    /* Never read: the size is refused first. */
    ck_assert_int_eq(store_put(s, &id, b, STORE_CHUNK_MAX + 1), -EMSGSIZE);
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.used_bytes, fsize(0));
    store_close(s);
}
END_TEST

START_TEST(test_replace_and_remove)
{
    struct chunk_id id = tid(5);
    uint8_t *a = make_data(200 * KIB, 50), *b = make_data(70 * KIB, 51);
    uint8_t got[80 * KIB];
    struct store_stats st;
    struct store *s = open_cap(64 * MIB, 95, 90);

    ck_assert_int_eq(store_put(s, &id, a, 200 * KIB), 0);
    ck_assert_int_eq(store_put(s, &id, b, 70 * KIB), 0);
    ck_assert_int_eq(store_read(s, &id, got, sizeof(got), 0), 70 * KIB);
    ck_assert(memcmp(got, b, 70 * KIB) == 0);
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.chunks, 1);
    ck_assert_uint_eq(st.used_bytes, fsize(70 * KIB));
    assert_stats_match_disk(s);

    ck_assert_int_eq(store_remove(s, &id), 0);
    ck_assert_int_eq(store_remove(s, &id), -ENOENT);
    ck_assert(!store_contains(s, &id, NULL));
    ck_assert_int_eq(store_read(s, &id, got, 10, 0), -ENOENT);
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.chunks, 0);
    ck_assert_uint_eq(st.used_bytes, 0);
    assert_stats_match_disk(s);
    store_close(s);
    free(a);
    free(b);
}
END_TEST

/* ---- fd cache ------------------------------------------------------- */

static void poke(const struct chunk_id *id, off_t off);

/* Open descriptors of this process (the count includes the one reading
 * /proc/self/fd, a constant). */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void read_check(struct store *s, uint64_t n, const uint8_t *want,
                       size_t len, uint64_t off, size_t count)
{
    struct chunk_id id = tid(n);
    uint8_t *got = malloc(count ? count : 1);
    size_t exp = off >= len ? 0 : (len - off < count ? len - off : count);

    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(store_read(s, &id, got, count, off), (ssize_t)exp);
    ck_assert(memcmp(got, want + (off < len ? off : len), exp) == 0);
    free(got);
}

START_TEST(test_fdcache_reads)
{
    const size_t len = 1 * MIB + 1000;
    uint8_t *a = make_data(len, 60), *b = make_data(len, 61);
    struct store *s = open_cap(64 * MIB, 95, 90);
    struct chunk_id id = tid(60);
    struct store_stats st;

    ck_assert_int_eq(store_put(s, &id, a, len), 0);
    /* Whole blocks, partial edges on either side, the short last block,
     * past the end: all through the cached file after the first. */
    read_check(s, 60, a, len, 0, 128 * KIB);
    read_check(s, 60, a, len, 128 * KIB, MIB);
    read_check(s, 60, a, len, 100, 3 * 64 * KIB);
    read_check(s, 60, a, len, 64 * KIB - 7, 64 * KIB + 14);
    read_check(s, 60, a, len, MIB - 5, 2000);
    read_check(s, 60, a, len, len, 10);
    /* A put with other bytes replaces the file: reads see the new one. */
    ck_assert_int_eq(store_put(s, &id, b, len), 0);
    read_check(s, 60, b, len, 0, MIB);
    read_check(s, 60, b, len, 65 * KIB, 70 * KIB);
    /* And a removed chunk misses, though its file was cached. */
    ck_assert_int_eq(store_remove(s, &id), 0);
    ck_assert_int_eq(store_read(s, &id, a, 10, 0), -ENOENT);
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.corrupt, 0);
    ck_assert_uint_eq(st.chunks, 0);
    assert_stats_match_disk(s);
    store_close(s);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_fdcache_corrupt)
{
    const size_t len = 300 * KIB;
    struct store *s = open_cap(64 * MIB, 95, 90);
    struct chunk_id id = tid(62);
    uint8_t *a = make_data(len, 62), got[64 * KIB];
    struct store_stats st;
    char path[256];
    int before;

    put_ok(s, 62, len);
    before = open_fds();
    read_check(s, 62, a, len, 0, len); /* now cached */
    ck_assert_int_eq(open_fds(), before + 1);
    /* Damage under the cached descriptor is still caught, block by block. */
    poke(&id, STORE_HDR_SIZE + 200 * KIB);
    read_check(s, 62, a, len, 0, 128 * KIB);
    ck_assert_int_eq(store_read(s, &id, got, 100, 200 * KIB), -EIO);
    chunk_file(&id, path, sizeof(path));
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(open_fds(), before); /* the cached file was closed */
    ck_assert_int_eq(store_read(s, &id, got, 10, 0), -ENOENT);
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.corrupt, 1);
    ck_assert_uint_eq(st.chunks, 0);
    /* A good copy put again is read normally. */
    put_ok(s, 62, len);
    read_check(s, 62, a, len, 10, len);
    assert_stats_match_disk(s);
    store_close(s);
    free(a);
}
END_TEST

START_TEST(test_fdcache_bounded_and_closed)
{
    const size_t len = 100 * KIB;
    uint8_t *a;
    struct store *s;
    int base, open0, i, n;

    base = open_fds();
    /* Room for ~150 chunks, so the 200 puts below evict too. */
    s = open_cap(150 * fsize(len), 100, 90);
    open0 = open_fds();
    for (i = 0; i < 200; i++) {
        put_ok(s, 1000 + (uint64_t)i, len);
        a = make_data(len, 1000 + (uint64_t)i);
        read_check(s, 1000 + (uint64_t)i, a, len, 0, len);
        free(a);
        n = open_fds() - open0;
        ck_assert_int_le(n, 64);
        ck_assert_int_ge(n, i < 64 ? i + 1 : 64);
    }
    assert_stats_match_disk(s);
    store_close(s);
    ck_assert_int_eq(open_fds(), base);
}
END_TEST

/* ---- Eviction ------------------------------------------------------- */

START_TEST(test_random_puts_stay_in_capacity)
{
    const uint64_t cap = 8 * MIB;
    struct store *s = open_cap(cap, 90, 70);
    struct store_stats st;
    uint64_t x = 7, n, len;
    uint8_t *buf = make_data(MIB, 99);
    struct chunk_id id;
    int i;

    for (i = 0; i < 1000; i++) {
        n = rng_next(&x) % 300;
        len = rng_next(&x) % MIB;
        id = tid(n);
        ck_assert_int_eq(store_put(s, &id, buf, len), 0);
        store_get_stats(s, &st);
        ck_assert_uint_le(st.used_bytes, cap);
        ck_assert(store_contains(s, &id, NULL));
    }
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.puts, 1000);
    ck_assert_uint_gt(st.evictions, 0);
    ck_assert_uint_eq(st.put_failures, 0);
    assert_stats_match_disk(s);
    store_close(s);
    free(buf);
}
END_TEST

START_TEST(test_lru_order)
{
    const size_t len = 256 * KIB;
    struct store *s = open_cap(10 * fsize(len), 100, 100);
    struct store_stats st;
    struct chunk_id id;
    uint8_t b[16];
    int i;

    for (i = 0; i < 10; i++)
        put_ok(s, i, len);
    /* Touch the two oldest; they must outlive the untouched ones. */
    id = tid(0);
    ck_assert_int_eq(store_read(s, &id, b, sizeof(b), 0), sizeof(b));
    id = tid(1);
    ck_assert_int_eq(store_read(s, &id, b, sizeof(b), 100), sizeof(b));
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.evictions, 0);
    put_ok(s, 10, len);
    put_ok(s, 11, len);
    for (i = 0; i < 12; i++) {
        id = tid(i);
        ck_assert_msg(store_contains(s, &id, NULL) == (i != 2 && i != 3),
                      "chunk %d", i);
    }
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.evictions, 2);
    ck_assert_uint_eq(st.evicted_bytes, 2 * fsize(len));
    ck_assert_uint_eq(st.used_bytes, 10 * fsize(len));
    assert_stats_match_disk(s);
    store_close(s);
}
END_TEST

START_TEST(test_watermarks)
{
    const size_t len = 256 * KIB;
    struct store *s = open_cap(10 * fsize(len), 90, 50);
    struct store_stats st;
    struct chunk_id id;
    int i;

    for (i = 0; i < 9; i++)
        put_ok(s, i, len);
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.evictions, 0);
    /* Past 90 %: evict the oldest until this put leaves the store at 50 %. */
    put_ok(s, 9, len);
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.evictions, 5);
    ck_assert_uint_eq(st.chunks, 5);
    for (i = 0; i < 10; i++) {
        id = tid(i);
        ck_assert(store_contains(s, &id, NULL) == (i >= 5));
    }
    store_close(s);
}
END_TEST

START_TEST(test_too_big_for_capacity)
{
    struct store *s = open_cap(MIB, 95, 90);
    uint8_t *d = make_data(MIB, 1);
    struct chunk_id id = tid(1);
    struct store_stats st;

    put_ok(s, 2, 100 * KIB);
    /* MiB of data plus the header cannot fit in a MiB. */
    ck_assert_int_eq(store_put(s, &id, d, MIB), -ENOSPC);
    ck_assert(!store_contains(s, &id, NULL));
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.put_failures, 1);
    ck_assert_uint_eq(st.chunks, 1);
    ck_assert_uint_eq(st.evictions, 0);
    assert_stats_match_disk(s);
    /* The largest chunk that fits does, evicting the other. */
    ck_assert_int_eq(store_put(s, &id, d, MIB - STORE_HDR_SIZE), 0);
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.used_bytes, MIB);
    ck_assert_uint_eq(st.chunks, 1);
    store_close(s);
    free(d);
}
END_TEST

START_TEST(test_write_failure)
{
    struct store *s = open_cap(64 * MIB, 95, 90);
    struct chunk_id id = tid(1);
    uint8_t *d = make_data(2 * MIB, 1);
    struct rlimit old, lim;
    struct store_stats st;

    put_ok(s, 2, 100 * KIB);
    /* A file size limit makes the write fail half-way, like a full disk. */
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = MIB;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    ck_assert_int_eq(store_put(s, &id, d, 2 * MIB), -EFBIG);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    ck_assert(!store_contains(s, &id, NULL));
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.put_failures, 1);
    ck_assert_uint_eq(st.chunks, 1);
    ck_assert_uint_eq(st.used_bytes, fsize(100 * KIB));
    assert_stats_match_disk(s);
    /* The store goes on working. */
    ck_assert_int_eq(store_put(s, &id, d, 2 * MIB), 0);
    assert_stats_match_disk(s);
    store_close(s);
    free(d);
}
END_TEST

/* ---- Restart -------------------------------------------------------- */

START_TEST(test_reopen)
{
    struct store *s = open_cap(64 * MIB, 95, 90);
    struct store_stats a, b;
    uint8_t *d, got[300 * KIB];
    struct chunk_id id;
    int i;

    for (i = 0; i < 20; i++)
        put_ok(s, i, (size_t)(i * 13 * KIB));
    store_get_stats(s, &a);
    store_close(s);
    s = open_cap(64 * MIB, 95, 90);
    store_get_stats(s, &b);
    ck_assert_uint_eq(b.chunks, 20);
    ck_assert_uint_eq(b.used_bytes, a.used_bytes);
    ck_assert_uint_eq(b.corrupt, 0);
    for (i = 0; i < 20; i++) {
        id = tid(i);
        d = make_data((size_t)(i * 13 * KIB), i);
        ck_assert_int_eq(store_read(s, &id, got, sizeof(got), 0), i * 13 * KIB);
        ck_assert(memcmp(got, d, (size_t)(i * 13 * KIB)) == 0);
        free(d);
    }
    assert_stats_match_disk(s);
    store_close(s);
}
END_TEST

static void set_mtime(uint64_t n, time_t t)
{
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    struct chunk_id id = tid(n);
    char path[256];

    chunk_file(&id, path, sizeof(path));
    ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

START_TEST(test_reopen_lru_from_mtime)
{
    const size_t len = 128 * KIB;
    struct store *s = open_cap(64 * MIB, 95, 90);
    static const int order[5] = {3, 1, 4, 0, 2}; /* oldest first */
    struct chunk_id id;
    int i;

    for (i = 0; i < 5; i++)
        put_ok(s, i, len);
    store_close(s);
    for (i = 0; i < 5; i++)
        set_mtime(order[i], 1000000 + i);
    /* Room for five; the sixth put evicts the oldest by mtime, then next. */
    s = open_cap(5 * fsize(len), 100, 100);
    put_ok(s, 5, len);
    id = tid(3);
    ck_assert(!store_contains(s, &id, NULL));
    id = tid(1);
    ck_assert(store_contains(s, &id, NULL));
    put_ok(s, 6, len);
    ck_assert(!store_contains(s, &id, NULL));
    id = tid(2);
    ck_assert(store_contains(s, &id, NULL));
    store_close(s);
    set_mtime(5, 2000000);
    set_mtime(6, 2000001);

    /* Reopened with less room: the oldest go at open, down to low. */
    s = open_cap(2 * fsize(len), 100, 50);
    for (i = 0; i < 7; i++) {
        id = tid(i);
        ck_assert_msg(store_contains(s, &id, NULL) == (i == 6), "chunk %d", i);
    }
    assert_stats_match_disk(s);
    store_close(s);
}
END_TEST

/* ---- Damage --------------------------------------------------------- */

static void poke(const struct chunk_id *id, off_t off)
{
    char path[256];
    uint8_t c;
    int fd;

    chunk_file(id, path, sizeof(path));
    fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, &c, 1, off), 1);
    c ^= 0x01;
    ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

START_TEST(test_corrupt_data)
{
    const size_t len = 300 * KIB;
    struct store *s = open_cap(64 * MIB, 95, 90);
    struct chunk_id id = tid(1);
    uint8_t got[300 * KIB];
    struct store_stats st;
    char path[256];

    put_ok(s, 1, len);
    poke(&id, STORE_HDR_SIZE + 100000); /* in block 1 */
    /* Block 0 is still good and is all this read touches. */
    ck_assert_int_eq(store_read(s, &id, got, 64 * KIB, 0), 64 * KIB);
    ck_assert_int_eq(store_read(s, &id, got, 10, 64 * KIB - 5), -EIO);
    chunk_file(&id, path, sizeof(path));
    ck_assert_int_eq(access(path, F_OK), -1);
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.corrupt, 1);
    ck_assert_uint_eq(st.chunks, 0);
    ck_assert_uint_eq(st.used_bytes, 0);
    ck_assert_int_eq(store_read(s, &id, got, 10, 0), -ENOENT);
    ck_assert(!store_contains(s, &id, NULL));
    store_close(s);
}
END_TEST

START_TEST(test_load_corrupt)
{
    const size_t len = 300 * KIB;
    struct store *s = open_cap(64 * MIB, 95, 90);
    struct chunk_id id = tid(1), other = tid(2);
    uint8_t *buf = xmalloc_aligned(STORE_DIRECT_ALIGN, len);
    struct store_stats st;
    char path[256];

    ck_assert_int_eq(store_load(s, &other, buf, len), -ENOENT);
    put_ok(s, 1, len);
    poke(&id, STORE_HDR_SIZE + len - 1); /* the very last byte */
    ck_assert_int_eq(store_load(s, &id, buf, len), -EIO);
    chunk_file(&id, path, sizeof(path));
    ck_assert_int_eq(access(path, F_OK), -1);
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.corrupt, 1);
    ck_assert_uint_eq(st.chunks, 0);
    ck_assert_int_eq(store_load(s, &id, buf, len), -ENOENT);
    free(buf);
    store_close(s);
}
END_TEST

START_TEST(test_corrupt_open_chunk_and_header)
{
    const size_t len = 300 * KIB;
    struct store *s = open_cap(64 * MIB, 95, 90);
    struct chunk_id a = tid(1), b = tid(2);
    uint64_t off = 0, clen = 0;
    struct store_stats st;
    uint8_t got[16];
    int fd = -1;

    put_ok(s, 1, len);
    put_ok(s, 2, len);
    poke(&a, STORE_HDR_SIZE + len - 1); /* the very last byte */
    ck_assert_int_eq(store_open_chunk(s, &a, &fd, &off, &clen), -EIO);
    ck_assert_int_eq(fd, -1);
    poke(&b, 40); /* the block size field of the header */
    ck_assert_int_eq(store_read(s, &b, got, sizeof(got), 0), -EIO);
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.corrupt, 2);
    ck_assert_uint_eq(st.chunks, 0);
    assert_stats_match_disk(s);
    store_close(s);
}
END_TEST

START_TEST(test_bad_files_dropped_at_open)
{
    struct store *s = open_cap(64 * MIB, 95, 90);
    struct chunk_id good = tid(1), trunc = tid(2), garbage = tid(3);
    struct store_stats st;
    char path[256], hex[33], *junk;
    uint8_t noise[20000];

    put_ok(s, 1, 100 * KIB);
    put_ok(s, 2, 100 * KIB);
    store_close(s);

    chunk_file(&trunc, path, sizeof(path));
    ck_assert_int_eq(truncate(path, STORE_HDR_SIZE + 50 * KIB), 0);
    /* A file with a good name in its place but no header. */
    chunk_id_hex(&garbage, hex);
    snprintf(path, sizeof(path), "%s/%.2s", sdir, hex);
    ck_assert_int_eq(mkdir(path, 0700) == 0 || errno == EEXIST, 1);
    snprintf(path, sizeof(path), "%s/%.2s/%.2s", sdir, hex, hex + 2);
    ck_assert_int_eq(mkdir(path, 0700) == 0 || errno == EEXIST, 1);
    chunk_file(&garbage, path, sizeof(path));
    fill(noise, sizeof(noise), 5);
    write_file(path, noise, sizeof(noise));
    /* A misnamed file in a fan-out directory. */
    chunk_id_hex(&good, hex);
    junk = NULL;
    ck_assert_int_gt(asprintf(&junk, "%s/%.2s/%.2s/junk", sdir, hex, hex + 2),
                     0);
    write_file(junk, "x", 1);
    free(junk);
    /* Something of the user's at the top is left alone. */
    snprintf(path, sizeof(path), "%s/README", sdir);
    write_file(path, "mine", 4);

    s = open_cap(64 * MIB, 95, 90);
    store_get_stats(s, &st);
    ck_assert_uint_eq(st.chunks, 1);
    ck_assert_uint_eq(st.corrupt, 3);
    ck_assert_uint_eq(st.used_bytes, fsize(100 * KIB));
    ck_assert(store_contains(s, &good, NULL));
    ck_assert(!store_contains(s, &trunc, NULL));
    ck_assert(!store_contains(s, &garbage, NULL));
    ck_assert_int_eq(access(path, F_OK), 0);
    assert_stats_match_disk(s);
    store_close(s);
}
END_TEST

START_TEST(test_stale_tmp_removed)
{
    struct store *s = open_cap(64 * MIB, 95, 90);
    struct disk_totals d;
    char path[256];

    put_ok(s, 1, 10 * KIB);
    store_close(s);
    snprintf(path, sizeof(path), "%s/tmp/0123.4567", sdir);
    write_file(path, "partial", 7);
    snprintf(path, sizeof(path), "%s/tmp/other", sdir);
    write_file(path, "x", 1);
    d = disk_totals();
    ck_assert_uint_eq(d.tmp, 2);
    s = open_cap(64 * MIB, 95, 90);
    d = disk_totals();
    ck_assert_uint_eq(d.tmp, 0);
    ck_assert_uint_eq(d.files, 1);
    assert_stats_match_disk(s);
    store_close(s);
}
END_TEST

START_TEST(test_open_errors)
{
    struct store_opts o;
    struct store *s, *s2;
    char err[256], path[128];

    /* Not a directory. */
    snprintf(path, sizeof(path), "%s/file", tdir);
    write_file(path, "x", 1);
    err[0] = '\0';
    ck_assert_ptr_null(store_open(path, NULL, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "Not a directory"));
    /* Missing parent. */
    snprintf(path, sizeof(path), "%s/no/such", tdir);
    ck_assert_ptr_null(store_open(path, NULL, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "No such file"));
    /* Bad options. */
    store_opts_init(&o);
    o.low_pct = 96;
    ck_assert_ptr_null(store_open(sdir, &o, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "low_pct"));
    o.low_pct = 90;
    o.capacity = 0;
    ck_assert_ptr_null(store_open(sdir, &o, NULL, 0));
    /* Made with 0700; one store per directory. */
    s = store_open(sdir, NULL, err, sizeof(err));
    ck_assert_ptr_nonnull(s);
    struct stat st;
    ck_assert_int_eq(stat(sdir, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    s2 = store_open(sdir, NULL, err, sizeof(err));
    ck_assert_ptr_null(s2);
    ck_assert_ptr_nonnull(strstr(err, "in use"));
    store_close(s);
    store_close(NULL);
}
END_TEST

/* ---- Threads -------------------------------------------------------- */

#define CONC_IDS     48
#define CONC_THREADS 4

struct conc {
    struct store *s;
    uint8_t *data[CONC_IDS];
    size_t len[CONC_IDS];
    double deadline;
    uint64_t cap;
};

struct conc_worker {
    pthread_t tid;
    struct conc *c;
    uint64_t seed;
    /* Outcomes, checked against the store's counters at the end. */
    uint64_t reads, hits, misses, puts, errors, over_cap;
    char first_error[128];
};

static void conc_error(struct conc_worker *w, const char *what, long rc)
{
    if (w->errors++ == 0)
        snprintf(w->first_error, sizeof(w->first_error), "%s: %ld", what, rc);
}

static void conc_read(struct conc_worker *w, uint64_t n, uint64_t r)
{
    struct chunk_id id = tid(n);
    size_t len = w->c->len[n];
    uint64_t off = r % (len + 1);
    size_t want = (size_t)((r >> 20) % (160 * KIB));
    uint8_t *buf = malloc(want ? want : 1);
    ssize_t rc;

    rc = store_read(w->c->s, &id, buf, want, off);
    w->reads++;
    if (rc == -ENOENT) {
        w->misses++;
    } else if (rc < 0) {
        conc_error(w, "read", rc);
    } else {
        w->hits++;
        if ((size_t)rc != (want < len - off ? want : len - off) ||
            memcmp(buf, w->c->data[n] + off, (size_t)rc) != 0)
            conc_error(w, "read contents", rc);
    }
    free(buf);
}

static void conc_open(struct conc_worker *w, uint64_t n)
{
    struct chunk_id id = tid(n);
    uint64_t off, len;
    uint8_t b[64];
    int fd, rc;

    rc = store_open_chunk(w->c->s, &id, &fd, &off, &len);
    w->reads++;
    if (rc == -ENOENT) {
        w->misses++;
        return;
    }
    if (rc < 0) {
        conc_error(w, "open_chunk", rc);
        return;
    }
    w->hits++;
    if (len != w->c->len[n] ||
        pread(fd, b, len < 64 ? len : 64, (off_t)off) !=
            (ssize_t)(len < 64 ? len : 64) ||
        memcmp(b, w->c->data[n], len < 64 ? len : 64) != 0)
        conc_error(w, "open_chunk contents", 0);
    close(fd);
}

static void *conc_main(void *arg)
{
    struct conc_worker *w = arg;
    struct conc *c = w->c;
    struct store_stats st;
    struct chunk_id id;
    uint64_t r, n;
    int rc;

    while (monotime_sec() < c->deadline) {
        r = rng_next(&w->seed);
        n = (r >> 8) % CONC_IDS;
        id = tid(n);
        switch (r % 20) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4:
        case 5:
            rc = store_put(c->s, &id, c->data[n], c->len[n]);
            if (rc < 0)
                conc_error(w, "put", rc);
            else
                w->puts++;
            break;
        case 6:
            rc = store_remove(c->s, &id);
            if (rc < 0 && rc != -ENOENT)
                conc_error(w, "remove", rc);
            break;
        case 7:
            (void)store_contains(c->s, &id, NULL);
            break;
        case 8:
            store_get_stats(c->s, &st);
            if (st.used_bytes > st.capacity)
                w->over_cap++;
            break;
        case 9:
            conc_open(w, n);
            break;
        default:
            conc_read(w, n, rng_next(&w->seed));
            break;
        }
    }
    return NULL;
}

START_TEST(test_concurrent)
{
    struct conc c;
    struct conc_worker w[CONC_THREADS];
    struct store_stats st;
    uint64_t reads = 0, hits = 0, misses = 0, puts = 0, evictions;
    uint8_t *buf = malloc(400 * KIB);
    struct chunk_id id;
    int i;

    c.cap = 16 * fsize(256 * KIB);
    c.s = open_cap(c.cap, 90, 75);
    for (i = 0; i < CONC_IDS; i++) {
        c.len[i] = (size_t)((i % 5) * 64 * KIB + (uint64_t)i * 7919 % 65536);
        c.data[i] = make_data(c.len[i], (uint64_t)i);
    }
    c.deadline = monotime_sec() + 2.0;
    for (i = 0; i < CONC_THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].c = &c;
        w[i].seed = 0x1234567ull * (uint64_t)(i + 1);
        ck_assert_int_eq(pthread_create(&w[i].tid, NULL, conc_main, &w[i]), 0);
    }
    for (i = 0; i < CONC_THREADS; i++) {
        pthread_join(w[i].tid, NULL);
        ck_assert_msg(w[i].errors == 0, "thread %d: %llu errors, first %s", i,
                      (unsigned long long)w[i].errors, w[i].first_error);
        ck_assert_uint_eq(w[i].over_cap, 0);
        reads += w[i].reads;
        hits += w[i].hits;
        misses += w[i].misses;
        puts += w[i].puts;
    }
    store_get_stats(c.s, &st);
    ck_assert_uint_gt(puts, 100);
    ck_assert_uint_eq(st.puts, puts);
    ck_assert_uint_eq(st.hits, hits);
    ck_assert_uint_eq(st.misses, misses);
    ck_assert_uint_eq(st.hits + st.misses, reads);
    ck_assert_uint_eq(st.corrupt, 0);
    ck_assert_uint_eq(st.put_failures, 0);
    ck_assert_uint_gt(st.evictions, 0);
    assert_stats_match_disk(c.s);
    /* Every chunk left is whole and right. */
    for (i = 0; i < CONC_IDS; i++) {
        id = tid((uint64_t)i);
        ssize_t rc = store_read(c.s, &id, buf, 400 * KIB, 0);
        ck_assert(rc == -ENOENT || rc == (ssize_t)c.len[i]);
        if (rc > 0)
            ck_assert(memcmp(buf, c.data[i], c.len[i]) == 0);
    }
    evictions = st.evictions;
    store_close(c.s);
    /* And the restart sees exactly what the index had. */
    c.s = open_cap(c.cap, 90, 75);
    store_get_stats(c.s, &st);
    ck_assert_uint_eq(st.corrupt, 0);
    assert_stats_match_disk(c.s);
    store_close(c.s);
    (void)evictions;
    for (i = 0; i < CONC_IDS; i++)
        free(c.data[i]);
    free(buf);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc;

    tc = tcase_create("basics");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_direct_puts);
    tcase_add_test(tc, test_load_whole);
    tcase_add_test(tc, test_open_chunk);
    tcase_add_test(tc, test_empty_and_too_big);
    tcase_add_test(tc, test_replace_and_remove);
    tcase_add_test(tc, test_fdcache_reads);
    tcase_add_test(tc, test_fdcache_bounded_and_closed);
    tcase_add_test(tc, test_open_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("eviction");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_random_puts_stay_in_capacity);
    tcase_add_test(tc, test_lru_order);
    tcase_add_test(tc, test_watermarks);
    tcase_add_test(tc, test_too_big_for_capacity);
    tcase_add_test(tc, test_write_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("restart");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_reopen);
    tcase_add_test(tc, test_reopen_lru_from_mtime);
    tcase_add_test(tc, test_stale_tmp_removed);
    suite_add_tcase(s, tc);

    tc = tcase_create("damage");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_corrupt_data);
    tcase_add_test(tc, test_load_corrupt);
    tcase_add_test(tc, test_corrupt_open_chunk_and_header);
    tcase_add_test(tc, test_bad_files_dropped_at_open);
    tcase_add_test(tc, test_fdcache_corrupt);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_concurrent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
