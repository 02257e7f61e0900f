/* SPDX-License-Identifier: MIT */
/*
 * check_s3_client.c: the S3 client (common/s3*.c) against real servers on
 * 127.0.0.1.
 *
 *   check_s3_client functional   s3rver (S3RVER_URL, S3RVER_KEY,
 *                                S3RVER_SECRET): every operation, a 200 MiB
 *                                multipart object, 5,000 keys, awkward
 *                                keys, and faults injected by
 *                                tests/harness/faultproxy.py
 *   check_s3_client auth         radosgw (RGW_URL, RGW_KEY, RGW_SECRET),
 *                                which checks SigV4: the same operations,
 *                                presigned URLs, wrong keys, If-Match,
 *                                credential files
 *
 * scripts/test.sh starts both servers and exports their addresses; without
 * them the program exits 77 (meson: skipped). Each test makes its own
 * bucket with a random name and empties and deletes it when it passes (a
 * failing test leaves it behind for a look; the servers are throw-away).
 * PCACHE_TEST_DEBUG=1 turns on the client's debug log.
 */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/creds.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "common/s3.h"
#include "common/s3_transfer.h"

#ifndef PCACHE_SOURCE_ROOT
#define PCACHE_SOURCE_ROOT "."
#endif

#define MIB      (1024u * 1024u)
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* --- the server under test (set in main, read-only in the tests) ------- */

static struct {
    bool auth;       /* radosgw: signatures are checked */
    const char *url; /* endpoint */
    const char *key;
    const char *secret;
    const char *harness; /* tests/harness */
    const char *tmpdir;
} srv;

/* --- per-test fixture: a client and a fresh bucket -------------------- */

struct it_client {
    struct creds_source creds;
    struct s3_client *c;
};

static struct {
    struct it_client ic;
    struct s3_client *c; /* == ic.c */
    char bucket[64];
} fx;

struct it_opts {
    int retries;
    uint64_t stall_ms;
    uint64_t request_ms;
    uint64_t retry_base_ms;
    uint64_t retry_max_ms;
};

static const char *fmt_err(const struct s3_error *e)
{
    static char out[512];

    return s3_error_format(e, out, sizeof(out));
}

/* Fails the test with the S3 detail when rc is not 0. */
#define ck_s3(rc, err, what)                                                   \
    do {                                                                       \
        int ck_rc_ = (rc);                                                     \
        ck_assert_msg(ck_rc_ == 0, "%s: %s: %s", (what), strerror(-ck_rc_),    \
                      fmt_err(err));                                           \
    } while (0)

static void set_cfg(struct s3_config_holder *h, const char *name,
                    const char *value)
{
    struct config_error ce;

    ck_assert_msg(config_set(s3_config_table, h, name, value, &ce) == 0,
                  "config %s=%s: %s", name, value, ce.text);
}

static void it_client_init(struct it_client *ic, const char *url,
                           const char *key, const char *secret,
                           const struct it_opts *o)
{
    struct s3_config_holder h;
    char err[512], num[32];

    config_init(s3_config_table, &h);
    set_cfg(&h, "endpoint", url);
    set_cfg(&h, "connect_timeout", "5s");
    set_cfg(&h, "request_timeout", "30s");
    set_cfg(&h, "retries", "2");
    set_cfg(&h, "retry_base", "20ms");
    set_cfg(&h, "retry_max", "200ms");
    if (o) {
        snprintf(num, sizeof(num), "%d", o->retries);
        set_cfg(&h, "retries", num);
        snprintf(num, sizeof(num), "%" PRIu64 "ms", o->stall_ms);
        set_cfg(&h, "stall_timeout", num);
        snprintf(num, sizeof(num), "%" PRIu64 "ms", o->request_ms);
        set_cfg(&h, "request_timeout", num);
        snprintf(num, sizeof(num), "%" PRIu64 "ms", o->retry_base_ms);
        set_cfg(&h, "retry_base", num);
        snprintf(num, sizeof(num), "%" PRIu64 "ms", o->retry_max_ms);
        set_cfg(&h, "retry_max", num);
    }
    ck_assert_int_eq(creds_source_init(&ic->creds, key, secret, NULL, NULL,
                                       NULL, err, sizeof(err)),
                     0);
    ic->c = s3_client_new(&h.cfg, &ic->creds, NULL, err, sizeof(err));
    ck_assert_msg(ic->c != NULL, "s3_client_new: %s", err);
    config_fini(s3_config_table, &h);
}

static void it_client_fini(struct it_client *ic)
{
    s3_client_free(ic->c);
    ic->c = NULL;
    creds_source_fini(&ic->creds);
}

static void random_bytes(void *p, size_t n)
{
    unsigned char *b = p;

    while (n > 0) {
        ssize_t got = getrandom(b, n, 0);

        ck_assert(got > 0);
        b += got;
        n -= (size_t)got;
    }
}

static void random_name(char *out, size_t size, const char *prefix)
{
    unsigned char r[8];

    random_bytes(r, sizeof(r));
    snprintf(out, size, "%s%02x%02x%02x%02x%02x%02x%02x%02x", prefix, r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
}

/* Deterministic fast filler (splitmix64): big test data need not be
 * cryptographic, only incompressible and different at every offset. */
static void fill_pattern(void *p, size_t n, uint64_t seed)
{
    unsigned char *b = p;
    uint64_t x = seed;

    while (n > 0) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ull);
        size_t k = n < 8 ? n : 8;

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        memcpy(b, &z, k);
        b += k;
        n -= k;
    }
}

/* Deletes every object and upload in bucket, then the bucket. */
static void bucket_purge(struct s3_client *c, const char *bucket)
{
    struct s3_error err;
    int rc;

    for (;;) {
        struct s3_list_result lr;
        struct s3_delete_result dr;
        const char **keys;
        size_t i;

        rc = s3_list(c, bucket, NULL, &lr, &err);
        ck_s3(rc, &err, "purge: list");
        if (lr.nobjects == 0) {
            s3_list_result_fini(&lr);
            break;
        }
        keys = xcalloc(lr.nobjects, sizeof(*keys));
        for (i = 0; i < lr.nobjects; i++)
            keys[i] = lr.objects[i].key;
        rc = s3_delete_many(c, bucket, keys, lr.nobjects, &dr, &err);
        ck_s3(rc, &err, "purge: delete_many");
        ck_assert_uint_eq(dr.nerrors, 0);
        s3_delete_result_fini(&dr);
        free(keys);
        s3_list_result_fini(&lr);
    }
    for (;;) {
        struct s3_uploads_result ur;
        size_t i;

        /* s3rver implements neither ListMultipartUploads nor abort */
        if (s3_mpu_list(c, bucket, NULL, NULL, NULL, &ur, &err) != 0)
            break;
        for (i = 0; i < ur.nuploads; i++) {
            rc = s3_mpu_abort(c, bucket, ur.uploads[i].key,
                              ur.uploads[i].upload_id, &err);
            ck_s3(rc, &err, "purge: abort");
        }
        i = ur.nuploads;
        s3_uploads_result_fini(&ur);
        if (i == 0)
            break;
    }
    rc = s3_bucket_delete(c, bucket, &err);
    ck_s3(rc, &err, "purge: delete bucket");
}

static void fx_setup(void)
{
    struct s3_error err;

    memset(&fx, 0, sizeof(fx));
    it_client_init(&fx.ic, srv.url, srv.key, srv.secret, NULL);
    fx.c = fx.ic.c;
    random_name(fx.bucket, sizeof(fx.bucket), "pct-");
    ck_s3(s3_bucket_create(fx.c, fx.bucket, &err), &err, "create bucket");
}

static void fx_teardown(void)
{
    bucket_purge(fx.c, fx.bucket);
    it_client_fini(&fx.ic);
}

/* --- small helpers ----------------------------------------------------- */

static char *put_mem(struct s3_client *c, const char *bucket, const char *key,
                     const void *data, size_t len, const struct s3_put_opts *po)
{
    struct s3_body body = {.kind = S3_BODY_MEM, .data = data, .len = len};
    struct s3_error err;
    char *etag = NULL;

    ck_s3(s3_put(c, bucket, key, &body, po, &etag, &err), &err, key);
    ck_assert_msg(etag && etag[0] == '"', "PUT %s: no ETag", key);
    return etag;
}

static void put_str(const char *key, const char *s)
{
    free(put_mem(fx.c, fx.bucket, key, s, strlen(s), NULL));
}

/* GET [off, off+len) into a fresh buf; returns the rc. */
static int get_buf(struct s3_client *c, const char *bucket, const char *key,
                   uint64_t off, uint64_t len, const char *if_match,
                   struct buf *out, struct s3_object_meta *meta,
                   struct s3_error *err)
{
    struct s3_sink sink = {.kind = S3_SINK_BUF, .buf = out};

    buf_init(out, 64 * MIB);
    return s3_get(c, bucket, key, off, len, if_match, &sink, meta, err);
}

static void expect_body(const char *key, const void *want, size_t len)
{
    struct s3_error err;
    struct buf b;

    ck_s3(get_buf(fx.c, fx.bucket, key, 0, UINT64_MAX, NULL, &b, NULL, &err),
          &err, key);
    ck_assert_uint_eq(b.len, len);
    ck_assert_msg(len == 0 || memcmp(b.data, want, len) == 0,
                  "GET %s: wrong bytes", key);
    buf_free(&b);
}

static bool is_hex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!strchr("0123456789abcdef", s[i]))
            return false;
    }
    return true;
}

/* "\"<32 hex>-N\"": the ETag of a multipart upload of N parts. */
static bool is_multipart_etag(const char *etag, int nparts)
{
    char tail[24];
    size_t n = strlen(etag);

    snprintf(tail, sizeof(tail), "-%d\"", nparts);
    return n == 34 + strlen(tail) - 1 && etag[0] == '"' &&
           is_hex(etag + 1, 32) && strcmp(etag + 33, tail) == 0;
}

static bool is_md5_etag(const char *etag)
{
    return strlen(etag) == 34 && etag[0] == '"' && etag[33] == '"' &&
           is_hex(etag + 1, 32);
}

static void stats_of(struct s3_stats *st)
{
    s3_client_stats(fx.c, st);
}

/* --- ops: put, head, get --------------------------------------------- */

START_TEST(test_put_head_get)
{
    static const struct sigv4_kv meta[] = {
        {"mode", "33188"},
        {"uid", "1000"},
        {"Mixed-Case", "value with spaces"},
    };
    /* radosgw's default placement knows only STANDARD */
    const char *sclass = srv.auth ? "STANDARD" : "STANDARD_IA";
    struct s3_put_opts po = {.meta = meta,
                             .nmeta = NELEM(meta),
                             .content_type = "text/x-pcache",
                             .storage_class = sclass};
    const size_t size = MIB + 17;
    char *data = xmalloc(size), *etag, *etag2;
    struct s3_object_meta m;
    struct s3_error err;
    struct s3_stats st0, st1;
    struct buf b;
    static const struct {
        uint64_t off, len;
    } ranges[] = {
        {0, 1}, {1000, 5000}, {MIB + 16, 1}, {MIB - 3, 20}, {7, MIB + 10},
    };
    size_t i;

    stats_of(&st0);
    random_bytes(data, size);
    etag = put_mem(fx.c, fx.bucket, "obj", data, size, &po);
    ck_assert(is_md5_etag(etag));

    ck_s3(s3_head(fx.c, fx.bucket, "obj", &m, &err), &err, "HEAD");
    ck_assert_int_eq(m.size, (int64_t)size);
    ck_assert_str_eq(m.etag, etag);
    ck_assert_str_eq(m.content_type, "text/x-pcache");
    ck_assert_ptr_nonnull(s3_object_meta_get(&m, "mode"));
    ck_assert_str_eq(s3_object_meta_get(&m, "mode"), "33188");
    ck_assert_str_eq(s3_object_meta_get(&m, "uid"), "1000");
    ck_assert_str_eq(s3_object_meta_get(&m, "mixed-case"), "value with spaces");
    /* S3 leaves the header out for STANDARD */
    if (m.storage_class[0] || !srv.auth)
        ck_assert_str_eq(m.storage_class, sclass);
    ck_assert(m.mtime > time(NULL) - 3600 && m.mtime < time(NULL) + 3600);
    s3_object_meta_fini(&m);

    /* whole object, with its metadata */
    ck_s3(get_buf(fx.c, fx.bucket, "obj", 0, UINT64_MAX, NULL, &b, &m, &err),
          &err, "GET");
    ck_assert_uint_eq(b.len, size);
    ck_assert(memcmp(b.data, data, size) == 0);
    ck_assert_int_eq(m.size, (int64_t)size);
    ck_assert_str_eq(m.etag, etag);
    ck_assert_str_eq(s3_object_meta_get(&m, "uid"), "1000");
    s3_object_meta_fini(&m);
    buf_free(&b);

    /* ranges, one past the end (S3 clamps it) */
    for (i = 0; i < NELEM(ranges); i++) {
        uint64_t off = ranges[i].off, want = ranges[i].len;

        if (off + want > size)
            want = size - off;
        ck_s3(get_buf(fx.c, fx.bucket, "obj", off, ranges[i].len, etag, &b, &m,
                      &err),
              &err, "ranged GET");
        ck_assert_uint_eq(b.len, want);
        ck_assert(memcmp(b.data, data + off, want) == 0);
        ck_assert_int_eq(m.size, (int64_t)size); /* from Content-Range */
        s3_object_meta_fini(&m);
        buf_free(&b);
    }
    /* open-ended range into a fixed buffer */
    {
        char tail[100];
        struct s3_sink sink = {
            .kind = S3_SINK_MEM, .mem = tail, .mem_len = sizeof(tail)};
        struct s3_req *r = s3_get_start(fx.c, fx.bucket, "obj", size - 40,
                                        UINT64_MAX, NULL, &sink, NULL, NULL);

        ck_s3(s3_req_wait(r), s3_req_error(r), "GET tail");
        ck_assert_uint_eq(s3_req_bytes(r), 40);
        ck_assert(memcmp(tail, data + size - 40, 40) == 0);
        s3_req_free(r);
    }
    /* a range starting at the end */
    ck_assert_int_eq(
        get_buf(fx.c, fx.bucket, "obj", size, 10, NULL, &b, NULL, &err),
        -ERANGE);
    ck_assert_int_eq(err.status, 416);
    buf_free(&b);

    /* overwrite: new bytes, new ETag */
    data[0] ^= 0xff;
    etag2 = put_mem(fx.c, fx.bucket, "obj", data, size, NULL);
    ck_assert_str_ne(etag, etag2);
    expect_body("obj", data, size);

    /* empty object */
    free(put_mem(fx.c, fx.bucket, "empty", "", 0, NULL));
    ck_s3(s3_head(fx.c, fx.bucket, "empty", &m, &err), &err, "HEAD empty");
    ck_assert_int_eq(m.size, 0);
    ck_assert_str_eq(m.etag, "\"d41d8cd98f00b204e9800998ecf8427e\"");
    s3_object_meta_fini(&m);
    expect_body("empty", "", 0);

    /* what is not there */
    ck_assert_int_eq(s3_head(fx.c, fx.bucket, "missing", &m, &err), -ENOENT);
    ck_assert_int_eq(err.status, 404);
    ck_assert_int_eq(get_buf(fx.c, fx.bucket, "missing", 0, UINT64_MAX, NULL,
                             &b, NULL, &err),
                     -ENOENT);
    ck_assert_str_eq(err.code, "NoSuchKey");
    buf_free(&b);
    ck_s3(s3_bucket_head(fx.c, fx.bucket, &err), &err, "HEAD bucket");
    ck_assert_int_eq(s3_bucket_head(fx.c, "pct-no-such-bucket-x", &err),
                     -ENOENT);
    ck_assert_int_eq(get_buf(fx.c, "pct-no-such-bucket-x", "k", 0, UINT64_MAX,
                             NULL, &b, NULL, &err),
                     -ENOENT);
    ck_assert_str_eq(err.code, "NoSuchBucket");
    buf_free(&b);

    /* the counters saw all of it, and nothing was retried */
    stats_of(&st1);
    ck_assert_uint_eq(st1.puts - st0.puts, 3);
    ck_assert_uint_eq(st1.heads - st0.heads, 5); /* bucket HEADs too */
    ck_assert_uint_ge(st1.gets - st0.gets, 2 + NELEM(ranges) + 4);
    ck_assert_uint_eq(st1.retries, st0.retries);
    ck_assert_uint_eq(st1.failures - st0.failures, 5);
    ck_assert_uint_ge(st1.bytes_out - st0.bytes_out, 2 * size);
    ck_assert_uint_ge(st1.bytes_in - st0.bytes_in, 2 * size);
    free(etag);
    free(etag2);
    free(data);
}
END_TEST

/* --- ops: delete, delete_many ---------------------------------------- */

START_TEST(test_delete)
{
    struct s3_object_meta m;
    struct s3_error err;
    struct s3_stats st0, st1;

    stats_of(&st0);
    put_str("doomed", "bye");
    ck_s3(s3_delete(fx.c, fx.bucket, "doomed", &err), &err, "DELETE");
    ck_assert_int_eq(s3_head(fx.c, fx.bucket, "doomed", &m, &err), -ENOENT);
    /* deleting what is not there succeeds, as in S3 */
    ck_s3(s3_delete(fx.c, fx.bucket, "doomed", &err), &err, "DELETE again");
    ck_assert_int_eq(s3_delete(fx.c, fx.bucket, "", &err), -EINVAL);
    stats_of(&st1);
    ck_assert_uint_eq(st1.deletes - st0.deletes, 2);
}
END_TEST

START_TEST(test_delete_many)
{
    char *keys[40];
    const char *ckeys[41];
    struct s3_delete_result dr;
    struct s3_list_result lr;
    struct s3_error err;
    size_t i;

    for (i = 0; i < NELEM(keys); i++) {
        keys[i] = xasprintf("dm/%02zu%s", i, i % 3 ? "" : " & <odd> 'key'");
        put_str(keys[i], keys[i]);
        ckeys[i] = keys[i];
    }
    ckeys[NELEM(keys)] = "dm/not-there";
    ck_s3(s3_delete_many(fx.c, fx.bucket, ckeys, NELEM(ckeys), &dr, &err), &err,
          "delete_many");
    ck_assert_uint_eq(dr.nerrors, 0);
    /* S3 reports a missing key as deleted too */
    ck_assert_uint_ge(dr.ndeleted, NELEM(keys));
    for (i = 0; i < NELEM(keys); i++) {
        size_t j;
        bool found = false;

        for (j = 0; j < dr.ndeleted; j++)
            found |= strcmp(dr.deleted[j], keys[i]) == 0;
        ck_assert_msg(found, "%s not reported deleted", keys[i]);
    }
    s3_delete_result_fini(&dr);
    ck_s3(s3_list(fx.c, fx.bucket, NULL, &lr, &err), &err, "list");
    ck_assert_uint_eq(lr.nobjects, 0);
    s3_list_result_fini(&lr);
    ck_assert_int_eq(s3_delete_many(fx.c, fx.bucket, ckeys, 0, &dr, &err),
                     -EINVAL);
    for (i = 0; i < NELEM(keys); i++)
        free(keys[i]);
}
END_TEST

/* --- ops: copy ------------------------------------------------------- */

START_TEST(test_copy)
{
    static const struct sigv4_kv src_meta[] = {{"color", "blue"},
                                               {"mode", "420"}};
    static const struct sigv4_kv new_meta[] = {{"color", "red"}};
    struct s3_put_opts src_po = {.meta = src_meta,
                                 .nmeta = NELEM(src_meta),
                                 .content_type = "text/x-src"};
    struct s3_put_opts new_po = {.meta = new_meta,
                                 .nmeta = NELEM(new_meta),
                                 .content_type = "application/x-new"};
    const char *body = "the object to copy, some bytes of it";
    char *src_etag, *etag = NULL, *etag2 = NULL, *stale;
    struct s3_object_meta m;
    struct s3_error err;
    int rc;

    stale = put_mem(fx.c, fx.bucket, "src", "old", 3, &src_po);
    src_etag = put_mem(fx.c, fx.bucket, "src", body, strlen(body), &src_po);

    /* COPY: bytes and metadata come along */
    ck_s3(s3_copy(fx.c, fx.bucket, "src", fx.bucket, "dst-copy", NULL, NULL,
                  &etag, &err),
          &err, "copy COPY");
    ck_assert_ptr_nonnull(etag);
    ck_assert_str_eq(etag, src_etag);
    ck_s3(s3_head(fx.c, fx.bucket, "dst-copy", &m, &err), &err, "HEAD");
    ck_assert_str_eq(s3_object_meta_get(&m, "color"), "blue");
    ck_assert_str_eq(s3_object_meta_get(&m, "mode"), "420");
    ck_assert_str_eq(m.content_type, "text/x-src");
    ck_assert_int_eq(m.size, (int64_t)strlen(body));
    s3_object_meta_fini(&m);
    expect_body("dst-copy", body, strlen(body));

    /* REPLACE: same bytes, only the new metadata */
    ck_s3(s3_copy(fx.c, fx.bucket, "src", fx.bucket, "dst-replace", &new_po,
                  src_etag, &etag2, &err),
          &err, "copy REPLACE");
    ck_s3(s3_head(fx.c, fx.bucket, "dst-replace", &m, &err), &err, "HEAD");
    ck_assert_str_eq(s3_object_meta_get(&m, "color"), "red");
    ck_assert_ptr_null(s3_object_meta_get(&m, "mode"));
    ck_assert_str_eq(m.content_type, "application/x-new");
    s3_object_meta_fini(&m);
    expect_body("dst-replace", body, strlen(body));

    /* onto itself with REPLACE: how chmod updates metadata */
    free(etag2);
    ck_s3(s3_copy(fx.c, fx.bucket, "src", fx.bucket, "src", &new_po, NULL,
                  &etag2, &err),
          &err, "copy onto itself");
    ck_s3(s3_head(fx.c, fx.bucket, "src", &m, &err), &err, "HEAD");
    ck_assert_str_eq(s3_object_meta_get(&m, "color"), "red");
    s3_object_meta_fini(&m);
    expect_body("src", body, strlen(body));

    free(etag2);
    etag2 = NULL;
    ck_assert_int_eq(s3_copy(fx.c, fx.bucket, "no-such-src", fx.bucket, "x",
                             NULL, NULL, &etag2, &err),
                     -ENOENT);
    ck_assert_ptr_null(etag2);
    /* s3rver ignores x-amz-copy-source-if-match */
    rc = s3_copy(fx.c, fx.bucket, "src", fx.bucket, "dst-stale", NULL, stale,
                 &etag2, &err);
    /* radosgw 16.2 reads x-amz-copy-if-match, not the x-amz-copy-source-
     * if-match of the S3 API, and s3rver neither: both copy anyway */
    if (rc == 0)
        fprintf(stderr, "note: the server ignored "
                        "x-amz-copy-source-if-match\n");
    else
        ck_assert_msg(rc == -ESTALE && !strcmp(err.code, "PreconditionFailed"),
                      "stale copy: %d %s", rc, fmt_err(&err));
    free(etag2);
    free(etag);
    free(src_etag);
    free(stale);
}
END_TEST

/* --- ops: list ------------------------------------------------------- */

static const char *const list_keys[] = {
    "a/1", "a/2", "a/b/3", "a/b/4", "b/5", "c",
};

static void expect_list(const struct s3_list_opts *o, const char *objects,
                        const char *prefixes)
{
    struct s3_list_result lr;
    struct s3_error err;
    struct buf got_o, got_p;
    size_t i;

    ck_s3(s3_list(fx.c, fx.bucket, o, &lr, &err), &err, "list");
    buf_init(&got_o, BUF_UNLIMITED);
    buf_init(&got_p, BUF_UNLIMITED);
    for (i = 0; i < lr.nobjects; i++)
        buf_appendf(&got_o, "%s%s", i ? " " : "", lr.objects[i].key);
    for (i = 0; i < lr.nprefixes; i++)
        buf_appendf(&got_p, "%s%s", i ? " " : "", lr.prefixes[i]);
    ck_assert_str_eq(buf_str(&got_o), objects);
    ck_assert_str_eq(buf_str(&got_p), prefixes);
    ck_assert(!lr.truncated);
    buf_free(&got_o);
    buf_free(&got_p);
    s3_list_result_fini(&lr);
}

START_TEST(test_list)
{
    struct s3_list_opts o;
    struct s3_list_result lr;
    struct s3_error err;
    struct buf all;
    char *token = NULL;
    size_t i, pages = 0;

    for (i = 0; i < NELEM(list_keys); i++)
        put_str(list_keys[i], list_keys[i]);

    ck_s3(s3_list(fx.c, fx.bucket, NULL, &lr, &err), &err, "list");
    ck_assert_uint_eq(lr.nobjects, NELEM(list_keys));
    for (i = 0; i < lr.nobjects; i++) {
        ck_assert_str_eq(lr.objects[i].key, list_keys[i]);
        ck_assert_int_eq(lr.objects[i].size, (int64_t)strlen(list_keys[i]));
        ck_assert(is_md5_etag(lr.objects[i].etag));
        ck_assert(lr.objects[i].mtime > time(NULL) - 3600);
    }
    s3_list_result_fini(&lr);

    o = (struct s3_list_opts){.prefix = "a/"};
    expect_list(&o, "a/1 a/2 a/b/3 a/b/4", "");
    o = (struct s3_list_opts){.prefix = "a/", .delimiter = "/"};
    expect_list(&o, "a/1 a/2", "a/b/");
    o = (struct s3_list_opts){.delimiter = "/"};
    expect_list(&o, "c", "a/ b/");
    o = (struct s3_list_opts){.start_after = "a/b/3"};
    expect_list(&o, "a/b/4 b/5 c", "");
    o = (struct s3_list_opts){.prefix = "a/", .start_after = "a/1"};
    expect_list(&o, "a/2 a/b/3 a/b/4", "");
    o = (struct s3_list_opts){.prefix = "nothing/"};
    expect_list(&o, "", "");

    /* pages of 2, continued by token */
    buf_init(&all, BUF_UNLIMITED);
    do {
        o = (struct s3_list_opts){.max_keys = 2, .continuation = token};
        ck_s3(s3_list(fx.c, fx.bucket, &o, &lr, &err), &err, "list page");
        ck_assert_uint_le(lr.nobjects, 2);
        for (i = 0; i < lr.nobjects; i++)
            buf_appendf(&all, "%s ", lr.objects[i].key);
        free(token);
        token = lr.next_token ? xstrdup(lr.next_token) : NULL;
        ck_assert(lr.truncated == (token != NULL));
        pages++;
        s3_list_result_fini(&lr);
    } while (token && pages < 10);
    ck_assert_str_eq(buf_str(&all), "a/1 a/2 a/b/3 a/b/4 b/5 c ");
    ck_assert_uint_eq(pages, 3);
    buf_free(&all);
}
END_TEST

START_TEST(test_max_keys)
{
    struct s3_list_opts o = {.max_keys = 3, .delimiter = "/"};
    struct s3_list_result lr;
    struct s3_error err;
    char key[32];
    int i;

    for (i = 0; i < 7; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        put_str(key, key);
    }
    put_str("p/x", "x");
    put_str("q/y", "y");
    /* 9 entries: 7 keys and 2 common prefixes, all counted by max-keys */
    ck_s3(s3_list(fx.c, fx.bucket, &o, &lr, &err), &err, "list");
    ck_assert_uint_eq(lr.nobjects + lr.nprefixes, 3);
    ck_assert(lr.truncated);
    ck_assert_ptr_nonnull(lr.next_token);
    o.continuation = xstrdup(lr.next_token);
    s3_list_result_fini(&lr);
    ck_s3(s3_list(fx.c, fx.bucket, &o, &lr, &err), &err, "list 2");
    ck_assert_uint_eq(lr.nobjects + lr.nprefixes, 3);
    free((char *)o.continuation);
    o.continuation = lr.truncated ? xstrdup(lr.next_token) : NULL;
    ck_assert(lr.truncated);
    s3_list_result_fini(&lr);
    ck_s3(s3_list(fx.c, fx.bucket, &o, &lr, &err), &err, "list 3");
    ck_assert_uint_eq(lr.nobjects + lr.nprefixes, 3);
    ck_assert_uint_eq(lr.nprefixes, 2);
    ck_assert(!lr.truncated);
    free((char *)o.continuation);
    s3_list_result_fini(&lr);

    o = (struct s3_list_opts){.max_keys = 1};
    ck_s3(s3_list(fx.c, fx.bucket, &o, &lr, &err), &err, "list max 1");
    ck_assert_uint_eq(lr.nobjects, 1);
    ck_assert_str_eq(lr.objects[0].key, "k0");
    ck_assert(lr.truncated);
    s3_list_result_fini(&lr);
}
END_TEST

/* --- ops: multipart -------------------------------------------------- */

static bool upload_listed(const char *key, const char *upload_id)
{
    struct s3_uploads_result ur;
    struct s3_error err;
    bool found = false;
    size_t i;

    ck_s3(s3_mpu_list(fx.c, fx.bucket, key, NULL, NULL, &ur, &err), &err,
          "list uploads");
    for (i = 0; i < ur.nuploads; i++) {
        found |= strcmp(ur.uploads[i].key, key) == 0 &&
                 strcmp(ur.uploads[i].upload_id, upload_id) == 0;
    }
    s3_uploads_result_fini(&ur);
    return found;
}

/*
 * One multipart upload of key: part 1 uploaded, part 2 copied from src
 * (radosgw; s3rver does not implement UploadPartCopy, so there it is
 * uploaded), part 3 small. Returns the expected bytes (*len).
 */
static char *mpu_roundtrip(const char *key, const char *src,
                           const char *src_data, size_t *len)
{
    static const struct sigv4_kv meta[] = {{"mode", "33261"}};
    struct s3_put_opts po = {.meta = meta,
                             .nmeta = NELEM(meta),
                             .content_type = "application/x-mpu"};
    const size_t p1 = 5 * MIB, p2 = 5 * MIB, p3 = 1234;
    char *want = xmalloc(p1 + p2 + p3), *id = NULL, *etags[3] = {0};
    char *etag = NULL;
    struct s3_part parts[3];
    struct s3_body body;
    struct s3_object_meta m;
    struct s3_error err;
    int rc, i;

    random_bytes(want, p1);
    memcpy(want + p1, src_data + 1000, p2);
    random_bytes(want + p1 + p2, p3);

    ck_s3(s3_mpu_create(fx.c, fx.bucket, key, &po, &id, &err), &err, "create");
    ck_assert_ptr_nonnull(id);
    if (srv.auth)
        ck_assert(upload_listed(key, id));
    body = (struct s3_body){.kind = S3_BODY_MEM, .data = want, .len = p1};
    ck_s3(
        s3_mpu_upload_part(fx.c, fx.bucket, key, id, 1, &body, &etags[0], &err),
        &err, "upload part 1");
    rc = s3_mpu_upload_part_copy(fx.c, fx.bucket, key, id, 2, fx.bucket, src,
                                 1000, p2, &etags[1], &err);
    if (!srv.auth && rc == -ENOTSUP) {
        ck_assert_str_eq(err.code, "NotImplemented");
        body =
            (struct s3_body){.kind = S3_BODY_MEM, .data = want + p1, .len = p2};
        rc = s3_mpu_upload_part(fx.c, fx.bucket, key, id, 2, &body, &etags[1],
                                &err);
    }
    ck_s3(rc, &err, "upload part 2 (copy)");
    body = (struct s3_body){
        .kind = S3_BODY_MEM, .data = want + p1 + p2, .len = p3};
    ck_s3(
        s3_mpu_upload_part(fx.c, fx.bucket, key, id, 3, &body, &etags[2], &err),
        &err, "upload part 3");
    for (i = 0; i < 3; i++) {
        ck_assert(is_md5_etag(etags[i]));
        parts[i] = (struct s3_part){i + 1, etags[i]};
    }
    ck_s3(s3_mpu_complete(fx.c, fx.bucket, key, id, parts, 3, &etag, &err),
          &err, "complete");
    ck_assert_ptr_nonnull(etag);
    /* s3rver gives the MD5 of the whole object instead of "md5-N" */
    if (srv.auth)
        ck_assert_msg(is_multipart_etag(etag, 3), "ETag %s", etag);
    if (srv.auth)
        ck_assert(!upload_listed(key, id));
    ck_s3(s3_head(fx.c, fx.bucket, key, &m, &err), &err, "HEAD");
    ck_assert_int_eq(m.size, (int64_t)(p1 + p2 + p3));
    ck_assert_str_eq(m.etag, etag);
    ck_assert_str_eq(s3_object_meta_get(&m, "mode"), "33261");
    ck_assert_str_eq(m.content_type, "application/x-mpu");
    s3_object_meta_fini(&m);
    expect_body(key, want, p1 + p2 + p3);
    for (i = 0; i < 3; i++)
        free(etags[i]);
    free(etag);
    free(id);
    *len = p1 + p2 + p3;
    return want;
}

START_TEST(test_multipart)
{
    const size_t src_len = 6 * MIB;
    char *src = xmalloc(src_len), *id = NULL, *etag = NULL, *want, *fe = NULL;
    struct s3_body body = {.kind = S3_BODY_MEM, .data = "x", .len = 1};
    struct s3_part part;
    struct s3_error err;
    struct s3_stats st0, st1;
    size_t len;
    int rc;

    random_bytes(src, src_len);
    free(put_mem(fx.c, fx.bucket, "mpu-src", src, src_len, NULL));
    if (!srv.auth) {
        struct s3_uploads_result ur;

        /* s3rver 3.7.1 does not list uploads */
        ck_assert_int_eq(
            s3_mpu_list(fx.c, fx.bucket, NULL, NULL, NULL, &ur, &err),
            -ENOTSUP);
        ck_assert_str_eq(err.code, "NotImplemented");
    }
    stats_of(&st0);
    want = mpu_roundtrip("mpu/object", "mpu-src", src, &len);
    stats_of(&st1);
    ck_assert_uint_eq(st1.posts - st0.posts, 2); /* create, complete */
    ck_assert_uint_ge(st1.bytes_out - st0.bytes_out, 5 * MIB + 1234);
    free(want);

    /* an aborted upload is gone */
    ck_s3(s3_mpu_create(fx.c, fx.bucket, "mpu/aborted", NULL, &id, &err), &err,
          "create");
    ck_s3(s3_mpu_upload_part(fx.c, fx.bucket, "mpu/aborted", id, 1, &body,
                             &etag, &err),
          &err, "upload part");
    part = (struct s3_part){1, etag};
    rc = s3_mpu_abort(fx.c, fx.bucket, "mpu/aborted", id, &err);
    if (srv.auth) {
        ck_s3(rc, &err, "abort");
        ck_assert(!upload_listed("mpu/aborted", id));
        rc = s3_mpu_complete(fx.c, fx.bucket, "mpu/aborted", id, &part, 1, &fe,
                             &err);
        /* S3: NoSuchUpload; radosgw 16.2: 500 InternalError "This
         * multipart completion is already in progress" (not retried: a
         * complete is not idempotent) */
        ck_assert_msg((rc == -ENOENT && !strcmp(err.code, "NoSuchUpload")) ||
                          (rc == -EIO && !strcmp(err.code, "InternalError")),
                      "complete after abort: %d %s", rc, fmt_err(&err));
        ck_assert_int_eq(err.attempts, 1);
        ck_assert_ptr_null(fe);
        ck_assert_int_eq(s3_mpu_abort(fx.c, fx.bucket, "mpu/aborted", id, &err),
                         -ENOENT);
    } else {
        /* s3rver answers DELETE ?uploadId with MethodNotAllowed */
        ck_assert_int_eq(rc, -EINVAL);
        ck_assert_str_eq(err.code, "MethodNotAllowed");
    }
    free(etag);
    etag = NULL;
    free(id);
    id = NULL;

    /* completing with a part the server does not have (s3rver 3.7.1 dies
     * of an unhandled ENOENT on that) */
    if (srv.auth) {
        ck_s3(s3_mpu_create(fx.c, fx.bucket, "mpu/bad", NULL, &id, &err), &err,
              "create");
        part = (struct s3_part){1, "\"0123456789abcdef0123456789abcdef\""};
        rc = s3_mpu_complete(fx.c, fx.bucket, "mpu/bad", id, &part, 1, &etag,
                             &err);
        ck_assert_int_eq(rc, -EINVAL);
        ck_assert_str_eq(err.code, "InvalidPart");
        ck_s3(s3_mpu_abort(fx.c, fx.bucket, "mpu/bad", id, &err), &err,
              "abort");
    }
    ck_assert_ptr_null(etag);
    free(id);
    free(src);
}
END_TEST

/* s3_upload_fd and s3_download_fd on a file of a few parts. */
START_TEST(test_transfer_small)
{
    const size_t size = 12 * MIB + 5;
    char *data = xmalloc(size), *etag = NULL, path[4096];
    struct s3_transfer_opts to;
    struct s3_object_meta m;
    struct s3_error err;
    struct s3_stats st0, st1;
    struct stat sb;
    int fd, fd2;

    random_bytes(data, size);
    snprintf(path, sizeof(path), "%s/pct-xfer-XXXXXX", srv.tmpdir);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(pwrite(fd, data, size, 0), (ssize_t)size);
    s3_transfer_opts_init(&to);
    to.part_size = 5 * MIB;
    to.multipart_above = 6 * MIB;
    to.parallel = 3;
    stats_of(&st0);
    ck_s3(
        s3_upload_fd(fx.c, fx.bucket, "xfer", fd, size, NULL, &to, &etag, &err),
        &err, "upload_fd");
    stats_of(&st1);
    ck_assert_uint_eq(st1.puts - st0.puts, 3);
    ck_assert_uint_eq(st1.posts - st0.posts, 2);
    if (srv.auth)
        ck_assert_msg(is_multipart_etag(etag, 3), "ETag %s", etag);
    expect_body("xfer", data, size);

    snprintf(path, sizeof(path), "%s/pct-xfer-XXXXXX", srv.tmpdir);
    fd2 = mkstemp(path);
    ck_assert_int_ge(fd2, 0);
    unlink(path);
    to.part_size = 1 * MIB;
    ck_s3(s3_download_fd(fx.c, fx.bucket, "xfer", fd2, &to, &m, &err), &err,
          "download_fd");
    ck_assert_str_eq(m.etag, etag);
    ck_assert_int_eq(m.size, (int64_t)size);
    s3_object_meta_fini(&m);
    ck_assert_int_eq(fstat(fd2, &sb), 0);
    ck_assert_int_eq(sb.st_size, (off_t)size);
    {
        char *back = xmalloc(size);

        ck_assert_int_eq(pread(fd2, back, size, 0), (ssize_t)size);
        ck_assert(memcmp(back, data, size) == 0);
        free(back);
    }
    /* small files go in one PUT */
    free(etag);
    etag = NULL;
    stats_of(&st0);
    ck_s3(s3_upload_fd(fx.c, fx.bucket, "xfer-small", fd, 1000, NULL, &to,
                       &etag, &err),
          &err, "upload_fd small");
    stats_of(&st1);
    ck_assert_uint_eq(st1.puts - st0.puts, 1);
    ck_assert_uint_eq(st1.posts - st0.posts, 0);
    ck_assert(is_md5_etag(etag));
    expect_body("xfer-small", data, 1000);
    close(fd);
    close(fd2);
    free(etag);
    free(data);
}
END_TEST

/* --- ops: awkward keys --------------------------------------------- */

static const char *const weird_keys[] = {
    "with space/and more spaces.txt",
    "plus+sign+key",
    "equals=and&ampersand",
    "tilde~key~",
    "unicodé/日本語/файл ✓",
    "double//slash",
    "percent%20literal%",
    "punct!*'();:@$,",
    "hash#question?x",
    "mixed sp+ace=eq&amp~t/é//end",
};

/* s3rver decodes x-amz-copy-source with decodeURI, which leaves the escapes
 * of ; / ? : @ & = + $ , # alone: copies of such keys find no source. */
static bool s3rver_copy_ok(const char *key)
{
    return srv.auth || strpbrk(key, ";?:@&=+$,#") == NULL;
}

/* s3rver 3.7.1 routes no path with "//" in it: a plain 404 */
static bool server_takes_key(const char *key)
{
    return srv.auth || strstr(key, "//") == NULL;
}

START_TEST(test_weird_keys)
{
    static const struct sigv4_kv meta[] = {{"k", "v"}};
    struct s3_put_opts po = {.meta = meta, .nmeta = 1};
    const char *key = weird_keys[_i];
    char *copy = xasprintf("%s.copy", key), *etag, *etag2 = NULL;
    const char *del[2] = {key, copy};
    struct s3_list_opts lo = {.prefix = key};
    struct s3_list_result lr;
    struct s3_delete_result dr;
    struct s3_object_meta m;
    struct s3_error err;
    struct buf b;

    if (!server_takes_key(key)) {
        struct s3_body body = {.kind = S3_BODY_MEM, .data = "x", .len = 1};

        ck_assert_int_eq(s3_put(fx.c, fx.bucket, key, &body, NULL, NULL, &err),
                         -ENOENT);
        free(copy);
        return;
    }
    etag = put_mem(fx.c, fx.bucket, key, key, strlen(key), &po);
    ck_s3(s3_head(fx.c, fx.bucket, key, &m, &err), &err, "HEAD");
    ck_assert_str_eq(m.etag, etag);
    ck_assert_str_eq(s3_object_meta_get(&m, "k"), "v");
    s3_object_meta_fini(&m);
    ck_s3(get_buf(fx.c, fx.bucket, key, 1, 3, etag, &b, NULL, &err), &err,
          "ranged GET");
    ck_assert_uint_eq(b.len, 3);
    ck_assert(memcmp(b.data, key + 1, 3) == 0);
    buf_free(&b);

    ck_s3(s3_list(fx.c, fx.bucket, &lo, &lr, &err), &err, "list prefix");
    ck_assert_uint_eq(lr.nobjects, 1);
    ck_assert_str_eq(lr.objects[0].key, key);
    s3_list_result_fini(&lr);

    if (s3rver_copy_ok(key)) {
        ck_s3(s3_copy(fx.c, fx.bucket, key, fx.bucket, copy, NULL, etag, &etag2,
                      &err),
              &err, "copy");
        expect_body(copy, key, strlen(key));
        lo = (struct s3_list_opts){.start_after = key};
        ck_s3(s3_list(fx.c, fx.bucket, &lo, &lr, &err), &err, "start-after");
        ck_assert_uint_eq(lr.nobjects, 1);
        ck_assert_str_eq(lr.objects[0].key, copy);
        s3_list_result_fini(&lr);
    }
    ck_s3(s3_delete_many(fx.c, fx.bucket, del, 2, &dr, &err), &err,
          "delete_many");
    ck_assert_uint_eq(dr.nerrors, 0);
    s3_delete_result_fini(&dr);
    ck_assert_int_eq(s3_head(fx.c, fx.bucket, key, &m, &err), -ENOENT);

    /* and a multipart upload under that name */
    {
        char *id = NULL, *pe = NULL, *fe = NULL;
        struct s3_body body = {
            .kind = S3_BODY_MEM, .data = key, .len = strlen(key)};
        struct s3_part part;

        ck_s3(s3_mpu_create(fx.c, fx.bucket, key, NULL, &id, &err), &err,
              "mpu create");
        if (srv.auth)
            ck_assert(upload_listed(key, id));
        ck_s3(s3_mpu_upload_part(fx.c, fx.bucket, key, id, 1, &body, &pe, &err),
              &err, "mpu part");
        part = (struct s3_part){1, pe};
        ck_s3(s3_mpu_complete(fx.c, fx.bucket, key, id, &part, 1, &fe, &err),
              &err, "mpu complete");
        expect_body(key, key, strlen(key));
        ck_s3(s3_delete(fx.c, fx.bucket, key, &err), &err, "delete");
        free(id);
        free(pe);
        free(fe);
    }
    free(etag);
    free(etag2);
    free(copy);
}
END_TEST

/* All awkward keys in one bucket: one listing gives each back once. */
START_TEST(test_weird_keys_listed)
{
    struct s3_list_result lr;
    struct s3_error err;
    size_t i, j, nkeys = 0;

    for (i = 0; i < NELEM(weird_keys); i++) {
        if (server_takes_key(weird_keys[i])) {
            put_str(weird_keys[i], weird_keys[i]);
            nkeys++;
        }
    }
    ck_s3(s3_list(fx.c, fx.bucket, NULL, &lr, &err), &err, "list");
    ck_assert_uint_eq(lr.nobjects, nkeys);
    for (i = 0; i < NELEM(weird_keys); i++) {
        size_t n = 0;

        if (!server_takes_key(weird_keys[i]))
            continue;
        for (j = 0; j < lr.nobjects; j++)
            n += strcmp(lr.objects[j].key, weird_keys[i]) == 0;
        ck_assert_msg(n == 1, "%s listed %zu times", weird_keys[i], n);
        expect_body(weird_keys[i], weird_keys[i], strlen(weird_keys[i]));
    }
    s3_list_result_fini(&lr);
}
END_TEST

/* --- functional: a 200 MiB object ----------------------------------- */

struct range_check {
    const char *data; /* the whole object */
    uint64_t off;
    uint64_t len;
    char *mem;
    struct s3_req *req;
};

START_TEST(test_big_object)
{
    const size_t size = 200 * MIB + 4321;
    enum { NRANGES = 256, WINDOW = 16 };
    struct range_check rg[NRANGES];
    char path[4096], *data, *etag = NULL, *back;
    struct s3_transfer_opts to;
    struct s3_object_meta m;
    struct s3_error err;
    struct s3_stats st0, st1;
    uint64_t t0, seed, want_in = 0;
    int fd, fd2;
    size_t i;

    random_bytes(&seed, sizeof(seed));
    data = xmalloc(size);
    fill_pattern(data, size, seed);
    snprintf(path, sizeof(path), "%s/pct-big-XXXXXX", srv.tmpdir);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(pwrite(fd, data, size, 0), (ssize_t)size);

    s3_transfer_opts_init(&to);
    to.part_size = 16 * MIB;
    to.parallel = 4;
    stats_of(&st0);
    t0 = monotime_ms();
    ck_s3(
        s3_upload_fd(fx.c, fx.bucket, "big", fd, size, NULL, &to, &etag, &err),
        &err, "upload_fd 200 MiB");
    stats_of(&st1);
    fprintf(stderr, "big: upload %zu bytes in %" PRIu64 " ms\n", size,
            monotime_ms() - t0);
    ck_assert_uint_eq(st1.puts - st0.puts, (size + 16 * MIB - 1) / (16 * MIB));
    ck_assert_uint_eq(st1.posts - st0.posts, 2);
    ck_assert_uint_ge(st1.bytes_out - st0.bytes_out, size);
    ck_assert_uint_eq(st1.retries - st0.retries, 0);
    ck_s3(s3_head(fx.c, fx.bucket, "big", &m, &err), &err, "HEAD");
    ck_assert_int_eq(m.size, (int64_t)size);
    ck_assert_str_eq(m.etag, etag);
    s3_object_meta_fini(&m);

    /* random ranges, WINDOW in flight, each checked byte for byte; the
     * first few hit the edges and the part boundaries */
    for (i = 0; i < NRANGES; i++) {
        uint64_t r[2];

        random_bytes(r, sizeof(r));
        rg[i].data = data;
        rg[i].len = 1 + r[1] % (i % 8 == 0 ? 4 * MIB : 64 * 1024);
        rg[i].off = r[0] % size;
        if (i == 0)
            rg[i].off = 0;
        if (i == 1)
            rg[i].off = size - 1;
        if (i >= 2 && i < 14)
            rg[i].off = (i - 1) * 16 * MIB - rg[i].len / 2;
        if (rg[i].off + rg[i].len > size)
            rg[i].len = size - rg[i].off;
        rg[i].mem = NULL;
        rg[i].req = NULL;
    }
    t0 = monotime_ms();
    stats_of(&st0);
    for (i = 0; i < NRANGES + WINDOW; i++) {
        if (i >= WINDOW) {
            struct range_check *d = &rg[i - WINDOW];

            ck_s3(s3_req_wait(d->req), s3_req_error(d->req), "ranged GET");
            ck_assert_uint_eq(s3_req_bytes(d->req), d->len);
            ck_assert_msg(memcmp(d->mem, data + d->off, d->len) == 0,
                          "range %" PRIu64 "+%" PRIu64 " differs", d->off,
                          d->len);
            s3_req_free(d->req);
            free(d->mem);
            want_in += d->len;
        }
        if (i < NRANGES) {
            struct range_check *s = &rg[i];
            struct s3_sink sink = {.kind = S3_SINK_MEM};

            s->mem = xmalloc(s->len);
            sink.mem = s->mem;
            sink.mem_len = s->len;
            s->req = s3_get_start(fx.c, fx.bucket, "big", s->off, s->len, etag,
                                  &sink, NULL, NULL);
        }
    }
    stats_of(&st1);
    fprintf(stderr, "big: %d ranges in %" PRIu64 " ms\n", NRANGES,
            monotime_ms() - t0);
    ck_assert_uint_eq(st1.gets - st0.gets, NRANGES);
    ck_assert_uint_eq(st1.bytes_in - st0.bytes_in, want_in);
    ck_assert_uint_eq(st1.failures - st0.failures, 0);

    /* the whole object through s3_download_fd */
    snprintf(path, sizeof(path), "%s/pct-big-XXXXXX", srv.tmpdir);
    fd2 = mkstemp(path);
    ck_assert_int_ge(fd2, 0);
    unlink(path);
    to.part_size = 8 * MIB;
    to.parallel = 8;
    t0 = monotime_ms();
    ck_s3(s3_download_fd(fx.c, fx.bucket, "big", fd2, &to, &m, &err), &err,
          "download_fd");
    fprintf(stderr, "big: download in %" PRIu64 " ms\n", monotime_ms() - t0);
    ck_assert_int_eq(m.size, (int64_t)size);
    s3_object_meta_fini(&m);
    back = xmalloc(16 * MIB);
    for (i = 0; i < size; i += 16 * MIB) {
        size_t n = size - i < 16 * MIB ? size - i : 16 * MIB;

        ck_assert_int_eq(pread(fd2, back, n, (off_t)i), (ssize_t)n);
        ck_assert_msg(memcmp(back, data + i, n) == 0,
                      "download differs in [%zu, %zu)", i, i + n);
    }
    ck_assert_int_eq(pread(fd2, back, 1, (off_t)size), 0);
    free(back);
    close(fd);
    close(fd2);
    free(etag);
    free(data);
}
END_TEST

/* --- functional: 5,000 keys ---------------------------------------- */

START_TEST(test_many_keys)
{
    enum { NKEYS = 5000, WINDOW = 64 };
    struct s3_req *slots[WINDOW] = {0};
    char **keys = xcalloc(NKEYS, sizeof(*keys));
    unsigned char *seen = xcalloc(NKEYS, 1);
    char *token = NULL;
    size_t i, pages = 0, total = 0;
    uint64_t t0 = monotime_ms();
    struct s3_error err;

    for (i = 0; i < NKEYS; i++) {
        struct s3_body body;
        struct s3_req **slot = &slots[i % WINDOW];

        /* a spread of names: several directories, some look alike */
        keys[i] =
            xasprintf("many/d%zu/%05zu-%s", i % 7, i, i % 2 ? "x" : "x y+z");
        if (*slot) {
            ck_s3(s3_req_wait(*slot), s3_req_error(*slot), "async PUT");
            s3_req_free(*slot);
        }
        body = (struct s3_body){
            .kind = S3_BODY_MEM, .data = keys[i], .len = strlen(keys[i])};
        *slot = s3_put_start(fx.c, fx.bucket, keys[i], &body, NULL, NULL, NULL);
    }
    for (i = 0; i < WINDOW; i++) {
        if (slots[i]) {
            ck_s3(s3_req_wait(slots[i]), s3_req_error(slots[i]), "async PUT");
            s3_req_free(slots[i]);
        }
    }
    fprintf(stderr, "many: %d PUTs in %" PRIu64 " ms\n", NKEYS,
            monotime_ms() - t0);

    t0 = monotime_ms();
    do {
        struct s3_list_opts o = {
            .prefix = "many/", .max_keys = 1000, .continuation = token};
        struct s3_list_result lr;

        ck_s3(s3_list(fx.c, fx.bucket, &o, &lr, &err), &err, "list page");
        ck_assert_uint_le(lr.nobjects, 1000);
        for (i = 0; i < lr.nobjects; i++) {
            unsigned long n;
            const char *p = strchr(lr.objects[i].key + 5, '/');

            ck_assert_ptr_nonnull(p);
            n = strtoul(p + 1, NULL, 10);
            ck_assert_uint_lt(n, NKEYS);
            ck_assert_str_eq(lr.objects[i].key, keys[n]);
            ck_assert_msg(!seen[n], "%s listed twice", keys[n]);
            ck_assert_int_eq(lr.objects[i].size, (int64_t)strlen(keys[n]));
            seen[n] = 1;
        }
        total += lr.nobjects;
        free(token);
        token = lr.truncated && lr.next_token ? xstrdup(lr.next_token) : NULL;
        ck_assert(lr.truncated == (token != NULL));
        pages++;
        s3_list_result_fini(&lr);
    } while (token && pages < 100);
    fprintf(stderr, "many: listed in %zu pages, %" PRIu64 " ms\n", pages,
            monotime_ms() - t0);
    ck_assert_uint_eq(total, NKEYS);
    ck_assert_uint_ge(pages, 5);
    for (i = 0; i < NKEYS; i++)
        ck_assert_msg(seen[i], "%s missing from the listing", keys[i]);

    /* the purge in the teardown deletes them in batches of 1000 */
    for (i = 0; i < NKEYS; i++)
        free(keys[i]);
    free(keys);
    free(seen);
}
END_TEST

/* --- functional: faults (tests/harness/faultproxy.py) --------------- */

struct fproxy {
    pid_t pid;
    int port;
    char url[64];
};

static struct {
    struct fproxy px;
    struct it_client pc; /* client through the proxy */
} ff;

/*
 * Starts faultproxy.py in front of upstream. It gets SIGTERM when this
 * process ends, however it ends: a failed check exits the test's process
 * without running the teardown, and a timeout kills it.
 */
static void fproxy_start(struct fproxy *p, const char *upstream)
{
    char script[4096], line[64];
    char *argv[] = {"/usr/bin/python3", script, "--upstream", (char *)upstream,
                    NULL};
    pid_t parent = getpid();
    struct pollfd pfd;
    size_t n = 0;
    int pipefd[2];

    snprintf(script, sizeof(script), "%s/faultproxy.py", srv.harness);
    ck_assert_msg(access(script, R_OK) == 0, "%s: %s", script, strerror(errno));
    ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
    p->pid = fork();
    ck_assert_int_ge(p->pid, 0);
    if (p->pid == 0) {
        /* async-signal-safe calls only: the S3 client's thread runs */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent ||
            dup2(pipefd[1], STDOUT_FILENO) < 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    /* its first line is the port */
    pfd = (struct pollfd){.fd = pipefd[0], .events = POLLIN};
    while (n < sizeof(line) - 1 && !memchr(line, '\n', n)) {
        ssize_t got;

        ck_assert_msg(poll(&pfd, 1, 10000) == 1, "faultproxy did not start");
        got = read(pipefd[0], line + n, sizeof(line) - 1 - n);
        ck_assert_msg(got > 0, "faultproxy exited at start");
        n += (size_t)got;
    }
    line[n] = '\0';
    close(pipefd[0]);
    p->port = atoi(line);
    ck_assert_int_gt(p->port, 0);
    snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d", p->port);
}

static void fproxy_stop(struct fproxy *p)
{
    int status;

    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    waitpid(p->pid, &status, 0);
    p->pid = 0;
}

static size_t fproxy_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    return buf_append(arg, ptr, size * nmemb) == 0 ? size * nmemb : 0;
}

/* GET path on the proxy's control interface; returns its JSON answer. */
static json_t *fproxy_get(const struct fproxy *p, const char *path)
{
    CURL *h = curl_easy_init();
    char url[512];
    struct buf b;
    long status = 0;
    json_t *j;

    buf_init(&b, MIB);
    snprintf(url, sizeof(url), "%s%s", p->url, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fproxy_write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    ck_assert_int_eq(status, 200);
    curl_easy_cleanup(h);
    j = json_loadb(b.data, b.len, 0, NULL);
    ck_assert_ptr_nonnull(j);
    buf_free(&b);
    return j;
}

static void fproxy_set(const struct fproxy *p, const char *query)
{
    char path[512];

    snprintf(path, sizeof(path), "/__fault?%s", query);
    json_decref(fproxy_get(p, path));
}

/* How many faults of mode the proxy injected since the last reset. */
static long fproxy_faults(const struct fproxy *p, const char *mode)
{
    json_t *j = fproxy_get(p, "/__stats?reset=1");
    long n = (long)json_integer_value(
        json_object_get(json_object_get(j, "faults"), mode));

    json_decref(j);
    return n;
}

static void ff_client(const struct it_opts *o)
{
    if (ff.pc.c)
        it_client_fini(&ff.pc);
    it_client_init(&ff.pc, ff.px.url, srv.key, srv.secret, o);
}

static void ff_setup(void)
{
    fx_setup();
    memset(&ff, 0, sizeof(ff));
    fproxy_start(&ff.px, srv.url);
}

static void ff_teardown(void)
{
    if (ff.pc.c)
        it_client_fini(&ff.pc);
    fproxy_stop(&ff.px);
    fx_teardown();
}

static bool errno_in(int rc, const int *set, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (rc == -set[i])
            return true;
    }
    return false;
}

#define DEADLINE_MS 15000

START_TEST(test_fault_cut_mid_body)
{
    static const int ok_errnos[] = {ECONNRESET, ETIMEDOUT, EIO};
    const struct it_opts o = {.retries = 1,
                              .stall_ms = 1000,
                              .request_ms = 2000,
                              .retry_base_ms = 50,
                              .retry_max_ms = 100};
    const size_t size = 2 * MIB;
    char *data = xmalloc(size);
    struct s3_error err;
    struct s3_stats st;
    struct buf b;
    uint64_t t0;
    int rc;

    random_bytes(data, size);
    free(put_mem(fx.c, fx.bucket, "cut", data, size, NULL));
    ff_client(&o);

    /* every GET is cut after 100,000 bytes: retried once, then an error */
    fproxy_set(&ff.px, "mode=cut&method=GET&bytes=100000");
    t0 = monotime_ms();
    rc =
        get_buf(ff.pc.c, fx.bucket, "cut", 0, UINT64_MAX, NULL, &b, NULL, &err);
    fprintf(stderr, "cut: rc %d (%s) in %" PRIu64 " ms: %s\n", rc,
            strerror(-rc), monotime_ms() - t0, fmt_err(&err));
    ck_assert_msg(errno_in(rc, ok_errnos, NELEM(ok_errnos)), "rc %d (%s)", rc,
                  strerror(-rc));
    ck_assert_uint_lt(monotime_ms() - t0, DEADLINE_MS);
    ck_assert_int_eq(err.attempts, 2);
    ck_assert_int_ne(err.curl_code, 0);
    buf_free(&b);
    ck_assert_int_eq(fproxy_faults(&ff.px, "cut"), 2);
    s3_client_stats(ff.pc.c, &st);
    ck_assert_uint_eq(st.retries, 1);
    ck_assert_uint_eq(st.failures, 1);

    /* a ranged GET cut mid-range: same story */
    t0 = monotime_ms();
    rc = get_buf(ff.pc.c, fx.bucket, "cut", 1000, MIB, NULL, &b, NULL, &err);
    ck_assert_msg(errno_in(rc, ok_errnos, NELEM(ok_errnos)), "rc %d", rc);
    ck_assert_uint_lt(monotime_ms() - t0, DEADLINE_MS);
    buf_free(&b);

    /* only the first attempt is cut: the retry succeeds unnoticed */
    fproxy_set(&ff.px, "mode=cut&method=GET&bytes=100000&count=1");
    ck_s3(
        get_buf(ff.pc.c, fx.bucket, "cut", 0, UINT64_MAX, NULL, &b, NULL, &err),
        &err, "GET after one cut");
    ck_assert_uint_eq(b.len, size);
    ck_assert(memcmp(b.data, data, size) == 0);
    ck_assert_int_eq(err.attempts, 2);
    buf_free(&b);

    /* TCP reset and a clean close before any answer */
    fproxy_set(&ff.px, "mode=reset");
    t0 = monotime_ms();
    rc = get_buf(ff.pc.c, fx.bucket, "cut", 0, 10, NULL, &b, NULL, &err);
    ck_assert_msg(rc == -ECONNRESET, "reset: rc %d (%s) %s", rc, strerror(-rc),
                  fmt_err(&err));
    ck_assert_uint_lt(monotime_ms() - t0, DEADLINE_MS);
    buf_free(&b);
    fproxy_set(&ff.px, "mode=close");
    rc = s3_head(ff.pc.c, fx.bucket, "cut", NULL, &err);
    ck_assert_msg(rc == -ECONNRESET, "close: rc %d (%s) %s", rc, strerror(-rc),
                  fmt_err(&err));

    /* and the same client works again once the server does */
    fproxy_set(&ff.px, "mode=pass");
    ck_s3(
        get_buf(ff.pc.c, fx.bucket, "cut", 0, UINT64_MAX, NULL, &b, NULL, &err),
        &err, "GET after the faults");
    ck_assert_uint_eq(b.len, size);
    buf_free(&b);
    free(data);
}
END_TEST

/* A streaming sink that got bytes cannot be retried: the error surfaces. */
static int count_sink_cb(const void *data, size_t len, void *arg)
{
    *(uint64_t *)arg += len;
    return 0;
}

START_TEST(test_fault_cut_streaming)
{
    const struct it_opts o = {.retries = 3,
                              .stall_ms = 1000,
                              .request_ms = 2000,
                              .retry_base_ms = 50,
                              .retry_max_ms = 100};
    const size_t size = MIB;
    char *data = xmalloc(size);
    uint64_t got = 0;
    struct s3_sink sink = {
        .kind = S3_SINK_CB, .cb = count_sink_cb, .cb_arg = &got};
    struct s3_error err;
    int rc;

    random_bytes(data, size);
    free(put_mem(fx.c, fx.bucket, "stream", data, size, NULL));
    ff_client(&o);
    fproxy_set(&ff.px, "mode=cut&method=GET&bytes=300000&count=1");
    rc = s3_get(ff.pc.c, fx.bucket, "stream", 0, UINT64_MAX, NULL, &sink, NULL,
                &err);
    ck_assert_int_eq(rc, -ECONNRESET);
    ck_assert_int_eq(err.attempts, 1);
    ck_assert_uint_gt(got, 0);
    ck_assert_uint_le(got, 300000);
    free(data);
}
END_TEST

START_TEST(test_fault_hang)
{
    static const int ok_errnos[] = {ETIMEDOUT, ECONNRESET, EIO};
    const struct it_opts o = {.retries = 1,
                              .stall_ms = 1000,
                              .request_ms = 1500,
                              .retry_base_ms = 50,
                              .retry_max_ms = 100};
    struct s3_body body = {.kind = S3_BODY_MEM, .data = "abc", .len = 3};
    struct s3_list_result lr;
    struct s3_error err;
    struct buf b;
    uint64_t t0, dt;
    int rc;

    put_str("hang", "some bytes");
    ff_client(&o);
    fproxy_set(&ff.px, "mode=hang");

    /* a data transfer: the stall timeout ends it */
    t0 = monotime_ms();
    rc = get_buf(ff.pc.c, fx.bucket, "hang", 0, UINT64_MAX, NULL, &b, NULL,
                 &err);
    dt = monotime_ms() - t0;
    fprintf(stderr, "hang GET: rc %d (%s) in %" PRIu64 " ms: %s\n", rc,
            strerror(-rc), dt, fmt_err(&err));
    ck_assert_msg(errno_in(rc, ok_errnos, NELEM(ok_errnos)), "rc %d", rc);
    ck_assert_uint_lt(dt, DEADLINE_MS);
    ck_assert_uint_ge(dt, 1500); /* two attempts of ~1 s stall */
    ck_assert_int_eq(err.attempts, 2);
    buf_free(&b);

    /* an upload */
    t0 = monotime_ms();
    rc = s3_put(ff.pc.c, fx.bucket, "hang-put", &body, NULL, NULL, &err);
    dt = monotime_ms() - t0;
    ck_assert_msg(errno_in(rc, ok_errnos, NELEM(ok_errnos)), "rc %d", rc);
    ck_assert_uint_lt(dt, DEADLINE_MS);

    /* metadata requests: the request timeout */
    t0 = monotime_ms();
    rc = s3_head(ff.pc.c, fx.bucket, "hang", NULL, &err);
    dt = monotime_ms() - t0;
    ck_assert_int_eq(rc, -ETIMEDOUT);
    ck_assert_uint_lt(dt, DEADLINE_MS);
    t0 = monotime_ms();
    rc = s3_list(ff.pc.c, fx.bucket, NULL, &lr, &err);
    ck_assert_int_eq(rc, -ETIMEDOUT);
    ck_assert_uint_lt(monotime_ms() - t0, DEADLINE_MS);

    fproxy_set(&ff.px, "mode=pass");
    ck_s3(s3_head(ff.pc.c, fx.bucket, "hang", NULL, &err), &err,
          "HEAD after the hang");
}
END_TEST

START_TEST(test_fault_503_storm)
{
    const struct it_opts o = {.retries = 5,
                              .stall_ms = 5000,
                              .request_ms = 5000,
                              .retry_base_ms = 10,
                              .retry_max_ms = 50};
    const struct it_opts o2 = {.retries = 2,
                               .stall_ms = 5000,
                               .request_ms = 5000,
                               .retry_base_ms = 10,
                               .retry_max_ms = 50};
    struct s3_body body = {.kind = S3_BODY_MEM, .data = "storm", .len = 5};
    struct s3_stats st0, st1;
    struct s3_error err;
    char *id = NULL;
    struct buf b;
    uint64_t t0;
    int rc;

    put_str("storm", "weather");
    ff_client(&o);

    /* 3 x 503 SlowDown, then through: nobody notices but the counters */
    fproxy_set(&ff.px, "mode=error&status=503&count=3");
    s3_client_stats(ff.pc.c, &st0);
    ck_s3(get_buf(ff.pc.c, fx.bucket, "storm", 0, UINT64_MAX, NULL, &b, NULL,
                  &err),
          &err, "GET through a 503 storm");
    ck_assert_str_eq(buf_str(&b), "weather");
    buf_free(&b);
    ck_assert_int_eq(err.attempts, 4);
    s3_client_stats(ff.pc.c, &st1);
    ck_assert_uint_eq(st1.retries - st0.retries, 3);
    ck_assert_uint_eq(st1.requests - st0.requests, 4);
    ck_assert_uint_eq(st1.gets - st0.gets, 4);
    ck_assert_uint_eq(st1.failures - st0.failures, 0);
    ck_assert_int_eq(fproxy_faults(&ff.px, "error"), 3);

    /* a PUT, a HEAD, and a not-idempotent POST (503: nothing was done) */
    fproxy_set(&ff.px, "mode=error&status=503&count=2");
    ck_s3(s3_put(ff.pc.c, fx.bucket, "storm-put", &body, NULL, NULL, &err),
          &err, "PUT through 503s");
    ck_assert_int_eq(err.attempts, 3);
    fproxy_set(&ff.px, "mode=error&status=503&count=2");
    ck_s3(s3_head(ff.pc.c, fx.bucket, "storm-put", NULL, &err), &err,
          "HEAD through 503s");
    fproxy_set(&ff.px, "mode=error&status=503&count=2&method=POST");
    ck_s3(s3_mpu_create(ff.pc.c, fx.bucket, "storm-mpu", NULL, &id, &err), &err,
          "create through 503s");
    ck_assert_int_eq(err.attempts, 3);
    free(id);
    id = NULL;

    /* 500 InternalError is transient too, for idempotent requests... */
    fproxy_set(&ff.px, "mode=error&status=500&count=2");
    ck_s3(s3_head(ff.pc.c, fx.bucket, "storm", NULL, &err), &err,
          "HEAD through 500s");
    ck_assert_int_eq(err.attempts, 3);
    /* ...but a POST that may have been done is not sent again */
    fproxy_set(&ff.px, "mode=error&status=500&count=1&method=POST");
    rc = s3_mpu_create(ff.pc.c, fx.bucket, "storm-mpu", NULL, &id, &err);
    ck_assert_int_eq(rc, -EIO);
    ck_assert_int_eq(err.attempts, 1);
    ck_assert_str_eq(err.code, "InternalError");
    ck_assert_ptr_null(id);

    /* a storm longer than the retries surfaces */
    ff_client(&o2);
    fproxy_set(&ff.px, "mode=error&status=503");
    s3_client_stats(ff.pc.c, &st0);
    t0 = monotime_ms();
    rc = get_buf(ff.pc.c, fx.bucket, "storm", 0, UINT64_MAX, NULL, &b, NULL,
                 &err);
    ck_assert_int_eq(rc, -EAGAIN);
    ck_assert_uint_lt(monotime_ms() - t0, DEADLINE_MS);
    ck_assert_int_eq(err.status, 503);
    ck_assert_str_eq(err.code, "SlowDown");
    ck_assert_str_eq(err.request_id, "faultproxy");
    ck_assert_int_eq(err.attempts, 3);
    buf_free(&b);
    s3_client_stats(ff.pc.c, &st1);
    ck_assert_uint_eq(st1.retries - st0.retries, 2);
    ck_assert_uint_eq(st1.failures - st0.failures, 1);
    fproxy_set(&ff.px, "mode=error&status=500");
    rc = s3_put(ff.pc.c, fx.bucket, "storm-put", &body, NULL, NULL, &err);
    ck_assert_int_eq(rc, -EIO);
    ck_assert_str_eq(err.code, "InternalError");
    ck_assert_int_eq(err.attempts, 3);
    /* since the first count: 2 + 2 + 2 + 2 + 1 + 3 + 3 */
    ck_assert_int_eq(fproxy_faults(&ff.px, "error"), 15);
    fproxy_set(&ff.px, "mode=pass");
    ck_s3(s3_head(ff.pc.c, fx.bucket, "storm", NULL, &err), &err,
          "HEAD after the storm");
}
END_TEST

/* --- auth: radosgw checks every signature ------------------------- */

static size_t presign_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    return buf_append(arg, ptr, size * nmemb) == 0 ? size * nmemb : 0;
}

struct presign_body {
    const char *data;
    size_t len, pos;
};

static size_t presign_read_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct presign_body *pb = arg;
    size_t n = size * nmemb;

    if (n > pb->len - pb->pos)
        n = pb->len - pb->pos;
    memcpy(ptr, pb->data + pb->pos, n);
    pb->pos += n;
    return n;
}

/* Fetches (or, with up, uploads to) a presigned URL; returns the status. */
static long presign_do(const char *url, struct presign_body *up,
                       struct buf *out)
{
    CURL *h = curl_easy_init();
    long status = 0;
    CURLcode res;

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, presign_write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (up) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, presign_read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, up);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up->len);
    }
    res = curl_easy_perform(h);
    ck_assert_msg(res == CURLE_OK, "%s: %s", url, curl_easy_strerror(res));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status;
}

START_TEST(test_presign)
{
    const char *keys[] = {"presigned/plain", weird_keys[9], weird_keys[4]};
    size_t i;

    for (i = 0; i < NELEM(keys); i++) {
        char body[256];
        struct presign_body pb;
        struct buf url, out;
        long status;

        snprintf(body, sizeof(body), "presigned body of %s", keys[i]);
        /* PUT through a presigned URL, read back with the client */
        buf_init(&url, 64 * 1024);
        ck_assert_int_eq(s3_presign(fx.c, "PUT", fx.bucket, keys[i], 300, &url),
                         0);
        pb = (struct presign_body){body, strlen(body), 0};
        buf_init(&out, MIB);
        status = presign_do(buf_str(&url), &pb, &out);
        ck_assert_msg(status == 200, "presigned PUT %s: HTTP %ld: %s", keys[i],
                      status, buf_str(&out));
        buf_free(&out);
        buf_free(&url);
        expect_body(keys[i], body, strlen(body));

        /* GET through a presigned URL */
        buf_init(&url, 64 * 1024);
        ck_assert_int_eq(s3_presign(fx.c, "GET", fx.bucket, keys[i], 60, &url),
                         0);
        buf_init(&out, MIB);
        status = presign_do(buf_str(&url), NULL, &out);
        ck_assert_msg(status == 200, "presigned GET %s: HTTP %ld: %s", keys[i],
                      status, buf_str(&out));
        ck_assert_str_eq(buf_str(&out), body);
        buf_free(&out);

        /* a tampered signature is refused */
        buf_free(&url);
    }
    {
        struct buf url, out;
        char *sig;

        buf_init(&url, 64 * 1024);
        ck_assert_int_eq(s3_presign(fx.c, "GET", fx.bucket, keys[0], 60, &url),
                         0);
        sig = strstr(url.data, "X-Amz-Signature=");
        ck_assert_ptr_nonnull(sig);
        sig += strlen("X-Amz-Signature=");
        *sig = *sig == '0' ? '1' : '0';
        buf_init(&out, MIB);
        ck_assert_int_eq(presign_do(buf_str(&url), NULL, &out), 403);
        ck_assert_ptr_nonnull(strstr(buf_str(&out), "SignatureDoesNotMatch"));
        buf_free(&out);
        buf_free(&url);
    }
    {
        struct buf url;

        buf_init(&url, 64 * 1024);
        ck_assert_int_eq(s3_presign(fx.c, "GET", fx.bucket, keys[0], 0, &url),
                         -EINVAL);
        ck_assert_int_eq(s3_presign(fx.c, "GET", fx.bucket, "", 60, &url),
                         -EINVAL);
        buf_free(&url);
    }
}
END_TEST

/* A client with bad keys: refused at once, never retried, never hung. */
static void expect_refused(const char *key, const char *secret,
                           const char *code1, const char *code2)
{
    struct it_client bad;
    struct s3_list_result lr;
    struct s3_body body = {.kind = S3_BODY_MEM, .data = "x", .len = 1};
    struct s3_error err;
    struct buf b;
    uint64_t t0 = monotime_ms();
    int rc;

    memset(&bad, 0, sizeof(bad));
    it_client_init(&bad, srv.url, key, secret, NULL);
    rc =
        get_buf(bad.c, fx.bucket, "there", 0, UINT64_MAX, NULL, &b, NULL, &err);
    ck_assert_int_eq(rc, -EACCES);
    ck_assert_int_eq(err.status, 403);
    ck_assert_msg(strcmp(err.code, code1) == 0 || strcmp(err.code, code2) == 0,
                  "code %s", err.code);
    ck_assert_int_eq(err.attempts, 1);
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
    ck_assert_int_eq(s3_head(bad.c, fx.bucket, "there", NULL, &err), -EACCES);
    ck_assert_int_eq(s3_list(bad.c, fx.bucket, NULL, &lr, &err), -EACCES);
    ck_assert_msg(strcmp(err.code, code1) == 0 || strcmp(err.code, code2) == 0,
                  "code %s", err.code);
    ck_assert_int_eq(s3_put(bad.c, fx.bucket, "bad", &body, NULL, NULL, &err),
                     -EACCES);
    ck_assert_uint_lt(monotime_ms() - t0, 5000);
    it_client_fini(&bad);
    /* nothing was written */
    ck_assert_int_eq(s3_head(fx.c, fx.bucket, "bad", NULL, &err), -ENOENT);
}

START_TEST(test_wrong_secret)
{
    char secret[CREDS_MAX_KEY];

    put_str("there", "here");
    snprintf(secret, sizeof(secret), "%s", srv.secret);
    secret[0] = secret[0] == 'A' ? 'B' : 'A';
    expect_refused(srv.key, secret, "SignatureDoesNotMatch", "AccessDenied");
}
END_TEST

START_TEST(test_unknown_key)
{
    put_str("there", "here");
    expect_refused("PCTNOSUCHKEY00000000", srv.secret, "InvalidAccessKeyId",
                   "AccessDenied");
}
END_TEST

START_TEST(test_if_match)
{
    char *v1, *v2;
    struct s3_error err;
    struct buf b;

    v1 = put_mem(fx.c, fx.bucket, "ver", "version one", 11, NULL);
    v2 = put_mem(fx.c, fx.bucket, "ver", "version two", 11, NULL);
    ck_assert_str_ne(v1, v2);
    ck_assert_int_eq(get_buf(fx.c, fx.bucket, "ver", 0, 7, v1, &b, NULL, &err),
                     -ESTALE);
    ck_assert_int_eq(err.status, 412);
    ck_assert_str_eq(err.code, "PreconditionFailed");
    ck_assert_int_eq(err.attempts, 1);
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
    ck_s3(get_buf(fx.c, fx.bucket, "ver", 8, 3, v2, &b, NULL, &err), &err,
          "GET with the current ETag");
    ck_assert_str_eq(buf_str(&b), "two");
    buf_free(&b);
    /* whole-object GET too */
    ck_assert_int_eq(
        get_buf(fx.c, fx.bucket, "ver", 0, UINT64_MAX, v1, &b, NULL, &err),
        -ESTALE);
    buf_free(&b);
    free(v1);
    free(v2);
}
END_TEST

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* A client whose keys come from path (profile may be NULL). */
static void credfile_client_ok(const char *path, const char *profile)
{
    struct s3_config_holder h;
    struct creds_source cs;
    struct s3_client *c;
    struct s3_list_result lr;
    struct s3_error err;
    char msg[512];

    ck_assert_msg(creds_source_init(&cs, NULL, NULL, NULL, path, profile, msg,
                                    sizeof(msg)) == 0,
                  "%s", msg);
    config_init(s3_config_table, &h);
    set_cfg(&h, "endpoint", srv.url);
    c = s3_client_new(&h.cfg, &cs, NULL, msg, sizeof(msg));
    ck_assert_ptr_nonnull(c);
    ck_s3(s3_list(c, fx.bucket, NULL, &lr, &err), &err, "list with credfile");
    ck_assert_uint_eq(lr.nobjects, 1);
    s3_list_result_fini(&lr);
    s3_client_free(c);
    config_fini(s3_config_table, &h);
    creds_source_fini(&cs);
}

START_TEST(test_credfile)
{
    char dir[4096], aws[4200], s3fs[4200], text[1024], msg[512];
    struct creds_source cs;
    int rc;

    put_str("one", "1");
    snprintf(dir, sizeof(dir), "%s/pct-cred-XXXXXX", srv.tmpdir);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(aws, sizeof(aws), "%s/credentials", dir);
    snprintf(s3fs, sizeof(s3fs), "%s/passwd-s3fs", dir);

    snprintf(text, sizeof(text),
             "# test keys\n[default]\naws_access_key_id = WRONG\n"
             "aws_secret_access_key = WRONG\n\n[profile pct]\n"
             "aws_access_key_id = %s\naws_secret_access_key = %s\n",
             srv.key, srv.secret);
    write_file(aws, text, 0600);
    credfile_client_ok(aws, "pct");
    snprintf(text, sizeof(text), "%s:%s\n", srv.key, srv.secret);
    write_file(s3fs, text, 0600);
    credfile_client_ok(s3fs, NULL);

    /* readable by others: refused, and the message says what to do (a
     * failed creds_source_init leaves nothing to free) */
    ck_assert_int_eq(chmod(s3fs, 0644), 0);
    rc = creds_source_init(&cs, NULL, NULL, NULL, s3fs, NULL, msg, sizeof(msg));
    ck_assert_int_eq(rc, -EACCES);
    ck_assert_ptr_nonnull(strstr(msg, "chmod 600"));
    ck_assert_int_eq(chmod(aws, 0640), 0);
    rc = creds_source_init(&cs, NULL, NULL, NULL, aws, "pct", msg, sizeof(msg));
    ck_assert_int_eq(rc, -EACCES);
    /* a missing profile */
    ck_assert_int_eq(chmod(aws, 0600), 0);
    rc =
        creds_source_init(&cs, NULL, NULL, NULL, aws, "nope", msg, sizeof(msg));
    ck_assert_int_eq(rc, -EINVAL);

    unlink(aws);
    unlink(s3fs);
    rmdir(dir);
}
END_TEST

/* --- suites ------------------------------------------------------------ */

static TCase *ops_tcase(void)
{
    TCase *tc = tcase_create("ops");

    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_put_head_get);
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_delete_many);
    tcase_add_test(tc, test_copy);
    tcase_add_test(tc, test_list);
    tcase_add_test(tc, test_max_keys);
    tcase_add_test(tc, test_multipart);
    tcase_add_test(tc, test_transfer_small);
    tcase_add_loop_test(tc, test_weird_keys, 0, NELEM(weird_keys));
    tcase_add_test(tc, test_weird_keys_listed);
    return tc;
}

static Suite *functional_suite(void)
{
    Suite *s = suite_create("s3-functional");
    TCase *tc;

    suite_add_tcase(s, ops_tcase());

    tc = tcase_create("volume");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_big_object);
    tcase_add_test(tc, test_many_keys);
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, ff_setup, ff_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fault_cut_mid_body);
    tcase_add_test(tc, test_fault_cut_streaming);
    tcase_add_test(tc, test_fault_hang);
    tcase_add_test(tc, test_fault_503_storm);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *auth_suite(void)
{
    Suite *s = suite_create("s3-auth");
    TCase *tc;

    suite_add_tcase(s, ops_tcase());

    tc = tcase_create("auth");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_presign);
    tcase_add_test(tc, test_wrong_secret);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_if_match);
    tcase_add_test(tc, test_credfile);
    suite_add_tcase(s, tc);
    return s;
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);

    return v && *v ? v : def;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : env_or("PCACHE_S3_TEST_MODE", "");
    const char *prefix;
    char var[64];
    SRunner *sr;
    int failed;

    if (strcmp(mode, "functional") == 0) {
        prefix = "S3RVER";
    } else if (strcmp(mode, "auth") == 0) {
        prefix = "RGW";
        srv.auth = true;
    } else {
        fprintf(stderr, "usage: %s functional|auth\n", argv[0]);
        return 2;
    }
    snprintf(var, sizeof(var), "%s_URL", prefix);
    srv.url = env_or(var, NULL);
    snprintf(var, sizeof(var), "%s_KEY", prefix);
    srv.key = env_or(var, NULL);
    snprintf(var, sizeof(var), "%s_SECRET", prefix);
    srv.secret = env_or(var, NULL);
    if (!srv.url || !srv.key || !srv.secret) {
        printf("SKIP: %s_URL, %s_KEY and %s_SECRET are not set: start the "
               "server with tests/harness/%s.sh (scripts/test.sh does)\n",
               prefix, prefix, prefix, srv.auth ? "rgw" : "s3rver");
        return 77;
    }
    srv.harness =
        env_or("PCACHE_TEST_HARNESS", PCACHE_SOURCE_ROOT "/tests/harness");
    srv.tmpdir = env_or("PCACHE_TEST_TMP", env_or("TMPDIR", "/tmp"));
    log_init("check_s3_client", LOG_SINK_STDERR);
    if (getenv("PCACHE_TEST_DEBUG"))
        log_enable_debug("s3");

    sr = srunner_create(srv.auth ? auth_suite() : functional_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
