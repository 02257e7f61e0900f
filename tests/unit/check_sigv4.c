/* SPDX-License-Identifier: MIT */
/*
 * check_sigv4.c: unit tests for common/sigv4.c.
 *
 * The signatures come from AWS's own worked examples in the S3 API
 * reference ("Signature Calculations for the Authorization Header" and
 * "Authenticating Requests: Using Query Parameters"), which use the example
 * credentials below and the time 20130524T000000Z. The canonicalisation
 * cases (encoding, sorting, trimming, repeated names) pin the rules that
 * tests/unit/sigv4_diff.py checks at random against botocore.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/sigv4.h"

#define AK       "AKIAIOSFODNN7EXAMPLE"
#define SK       "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define HOST     "examplebucket.s3.amazonaws.com"
#define T_EXAMPL ((time_t)1369353600) /* 20130524T000000Z */
#define SCOPE    AK "/20130524/us-east-1/s3/aws4_request"
#define PUT_BODY "Welcome to Amazon S3."
#define PUT_HASH                                                               \
    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"

#define MAXKV 8

/* A request in table form; kv lists end at the first NULL name. */
struct req {
    const char *method;
    const char *path;
    struct sigv4_kv query[MAXKV];
    struct sigv4_kv headers[MAXKV];
    const char *payload_hash;
};

static size_t kv_count(const struct sigv4_kv *kv)
{
    size_t n = 0;

    while (n < MAXKV && kv[n].name)
        n++;
    return n;
}

static struct sigv4_params params_of(const struct req *r)
{
    struct sigv4_params p = {
        .method = r->method,
        .path = r->path,
        .query = r->query,
        .nquery = kv_count(r->query),
        .headers = r->headers,
        .nheaders = kv_count(r->headers),
        .payload_hash = r->payload_hash,
        .access_key = AK,
        .secret_key = SK,
        .region = "us-east-1",
        .service = "s3",
        .now = T_EXAMPL,
    };
    return p;
}

/* Line `idx` (0-based) of the canonical request of r, into line. */
static void canonical_line(const struct req *r, int idx, char *line,
                           size_t size)
{
    struct sigv4_params p = params_of(r);
    struct buf b;
    const char *s, *e;

    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(sigv4_canonical_request(&p, &b), 0);
    s = buf_str(&b);
    while (idx-- > 0) {
        s = strchr(s, '\n');
        ck_assert_ptr_nonnull(s);
        s++;
    }
    e = strchr(s, '\n');
    if (!e)
        e = s + strlen(s);
    ck_assert_uint_lt((size_t)(e - s), size);
    memcpy(line, s, (size_t)(e - s));
    line[e - s] = '\0';
    buf_free(&b);
}

/* ---- AWS worked examples: Authorization header ---- */

struct aws_case {
    const char *name;
    struct req req;
    const char *creq_sha256; /* last line of AWS's StringToSign */
    const char *signed_headers;
    const char *signature;
};

static const struct aws_case aws_cases[] = {
    {"GET Object",
     {"GET",
      "/test.txt",
      {{NULL, NULL}},
      {{"Host", HOST},
       {"Range", "bytes=0-9"},
       {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
       {"x-amz-date", "20130524T000000Z"}},
      SIGV4_EMPTY_SHA256},
     "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
     "host;range;x-amz-content-sha256;x-amz-date",
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
    {"PUT Object",
     {"PUT",
      "/test%24file.text",
      {{NULL, NULL}},
      {{"Host", HOST},
       {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
       {"x-amz-date", "20130524T000000Z"},
       {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
       {"x-amz-content-sha256", PUT_HASH}},
      PUT_HASH},
     "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
     "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
    {"GET Bucket Lifecycle",
     {"GET",
      "/",
      {{"lifecycle", ""}},
      {{"Host", HOST},
       {"x-amz-date", "20130524T000000Z"},
       {"x-amz-content-sha256", SIGV4_EMPTY_SHA256}},
      SIGV4_EMPTY_SHA256},
     "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
     "host;x-amz-content-sha256;x-amz-date",
     "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
    {"Get Bucket (List Objects)",
     {"GET",
      "/",
      {{"prefix", "J"}, {"max-keys", "2"}},
      {{"Host", HOST},
       {"x-amz-date", "20130524T000000Z"},
       {"x-amz-content-sha256", SIGV4_EMPTY_SHA256}},
      SIGV4_EMPTY_SHA256},
     "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
     "host;x-amz-content-sha256;x-amz-date",
     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
};

START_TEST(test_aws_header_example)
{
    const struct aws_case *c = &aws_cases[_i];
    struct sigv4_params p = params_of(&c->req);
    char want[512], hash[65];
    struct buf b;

    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(sigv4_canonical_request(&p, &b), 0);
    sigv4_sha256_hex(b.data, b.len, hash);
    ck_assert_msg(!strcmp(hash, c->creq_sha256), "%s: canonical request\n%s",
                  c->name, buf_str(&b));

    buf_reset(&b);
    ck_assert_int_eq(sigv4_authorization(&p, &b), 0);
    snprintf(want, sizeof(want),
             "AWS4-HMAC-SHA256 Credential=" SCOPE
             ", SignedHeaders=%s, Signature=%s",
             c->signed_headers, c->signature);
    ck_assert_str_eq(buf_str(&b), want);
    buf_free(&b);
}
END_TEST

START_TEST(test_aws_get_object_canonical)
{
    struct sigv4_params p = params_of(&aws_cases[0].req);
    struct buf b;

    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(sigv4_canonical_request(&p, &b), 0);
    ck_assert_str_eq(
        buf_str(&b),
        "GET\n/test.txt\n\n"
        "host:" HOST "\n"
        "range:bytes=0-9\n"
        "x-amz-content-sha256:" SIGV4_EMPTY_SHA256 "\n"
        "x-amz-date:20130524T000000Z\n\n"
        "host;range;x-amz-content-sha256;x-amz-date\n" SIGV4_EMPTY_SHA256);
    buf_free(&b);
}
END_TEST

START_TEST(test_aws_put_body_hash)
{
    char hash[65];

    sigv4_sha256_hex(PUT_BODY, strlen(PUT_BODY), hash);
    ck_assert_str_eq(hash, PUT_HASH);
    sigv4_sha256_hex("", 0, hash);
    ck_assert_str_eq(hash, SIGV4_EMPTY_SHA256);
}
END_TEST

/* ---- presigned URLs ---- */

START_TEST(test_aws_presign_example)
{
    struct req r = {"GET",
                    "/test.txt",
                    {{NULL, NULL}},
                    {{"Host", HOST}},
                    SIGV4_UNSIGNED_PAYLOAD};
    struct sigv4_params p = params_of(&r);
    struct buf b;

    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(sigv4_presign(&p, 86400, &b), 0);
    ck_assert_str_eq(
        buf_str(&b),
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3"
        "%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
        "&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature="
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");

    /* A NULL payload hash means UNSIGNED-PAYLOAD when presigning. */
    p.payload_hash = NULL;
    buf_reset(&b);
    ck_assert_int_eq(sigv4_presign(&p, 86400, &b), 0);
    ck_assert_ptr_nonnull(strstr(buf_str(&b), "aeeed9bbccd4d02ee5c0109b86d8"));
    buf_free(&b);
}
END_TEST

START_TEST(test_presign_token_and_query)
{
    struct req r = {"PUT",
                    "/a%20b/c",
                    {{"uploadId", "x/y+z="}, {"partNumber", "7"}},
                    {{"host", HOST}, {"X-Amz-Meta-K", " v  w "}},
                    NULL};
    struct sigv4_params p = params_of(&r);
    const char *s;
    struct buf b;

    p.session_token = "tok/en+=";
    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(sigv4_presign(&p, 3600, &b), 0);
    s = buf_str(&b);
    /* Sorted, uppercase 'X' before lowercase names, signature last. */
    ck_assert_msg(!strncmp(s,
                           "X-Amz-Algorithm=AWS4-HMAC-SHA256"
                           "&X-Amz-Credential=" AK "%2F20130524%2Fus-east-1"
                           "%2Fs3%2Faws4_request"
                           "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=3600"
                           "&X-Amz-Security-Token=tok%2Fen%2B%3D"
                           "&X-Amz-SignedHeaders=host%3Bx-amz-meta-k"
                           "&partNumber=7&uploadId=x%2Fy%2Bz%3D"
                           "&X-Amz-Signature=",
                           strlen(s) - 64),
                  "%s", s);
    ck_assert_uint_eq(strspn(s + strlen(s) - 64, "0123456789abcdef"), 64);

    /* An empty token is no token. */
    p.session_token = "";
    buf_reset(&b);
    ck_assert_int_eq(sigv4_presign(&p, 3600, &b), 0);
    ck_assert_ptr_null(strstr(buf_str(&b), "Security-Token"));
    buf_free(&b);
}
END_TEST

static const unsigned bad_expires[] = {0, SIGV4_MAX_EXPIRES + 1};

START_TEST(test_presign_bad_expires)
{
    struct req r = {"GET", "/k", {{NULL, NULL}}, {{"host", HOST}}, NULL};
    struct sigv4_params p = params_of(&r);
    struct buf b;

    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(sigv4_presign(&p, bad_expires[_i], &b), -EINVAL);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(sigv4_presign(&p, SIGV4_MAX_EXPIRES, &b), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_presign_rejects_auth_params)
{
    struct req r = {
        "GET", "/k", {{"X-Amz-Signature", "forged"}}, {{"host", HOST}}, NULL};
    struct sigv4_params p = params_of(&r);
    struct buf b;

    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(sigv4_presign(&p, 60, &b), -EINVAL);
    buf_free(&b);
}
END_TEST

/* ---- URI encoding ---- */

static const struct {
    const char *in;
    bool keep_slash;
    const char *out;
} enc_cases[] = {
    {"", false, ""},
    {"AZaz09-._~", false, "AZaz09-._~"},
    {"a b", false, "a%20b"},
    {"a+b", false, "a%2Bb"},
    {"~user", false, "~user"},
    {"a/b/c", true, "a/b/c"},
    {"a/b/c", false, "a%2Fb%2Fc"},
    {"\xe2\x82\xac", false, "%E2%82%AC"},       /* euro sign */
    {"\xf0\x9f\x98\x80", true, "%F0%9F%98%80"}, /* emoji: four bytes */
    {"*", false, "%2A"},
    {"!'()", false, "%21%27%28%29"},
    {"%", false, "%25"},
    {"%2F", true, "%252F"}, /* never treats input as already encoded */
    {"=&?#", true, "%3D%26%3F%23"},
    {"a:b@c,d;e$", false, "a%3Ab%40c%2Cd%3Be%24"},
    {"\x01\x7f\xff", false, "%01%7F%FF"},
};

START_TEST(test_uri_encode)
{
    struct buf b;

    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(sigv4_uri_encode(&b, enc_cases[_i].in,
                                      strlen(enc_cases[_i].in),
                                      enc_cases[_i].keep_slash),
                     0);
    ck_assert_str_eq(buf_str(&b), enc_cases[_i].out);
    buf_free(&b);
}
END_TEST

START_TEST(test_uri_encode_binary_and_full)
{
    struct buf b;

    buf_init(&b, 5);
    /* An embedded NUL is a byte like any other. */
    ck_assert_int_eq(sigv4_uri_encode(&b, "a\0b", 3, false), 0);
    ck_assert_uint_eq(b.len, 5);
    ck_assert_int_eq(memcmp(b.data, "a%00b", 5), 0);
    /* Full: fails whole, the buffer keeps what it had. */
    buf_reset(&b);
    ck_assert_int_eq(buf_append_str(&b, "xy"), 0);
    ck_assert_int_eq(sigv4_uri_encode(&b, "a b", 3, false), -EMSGSIZE);
    ck_assert_str_eq(buf_str(&b), "xy");
    buf_free(&b);
}
END_TEST

/* ---- canonical query string ---- */

static const struct {
    struct sigv4_kv query[MAXKV];
    const char *want;
} query_cases[] = {
    {{{NULL, NULL}}, ""},
    {{{"uploads", ""}}, "uploads="},
    {{{"uploads", NULL}}, "uploads="},
    {{{"prefix", "J"}, {"max-keys", "2"}}, "max-keys=2&prefix=J"},
    /* Repeated names: sorted by value, both kept. */
    {{{"k", "b"}, {"k", "a"}, {"k", ""}}, "k=&k=a&k=b"},
    /* By name, then value: "a" < "a-b" although '=' > '-'. */
    {{{"a-b", "1"}, {"a", "2"}}, "a=2&a-b=1"},
    /* Sorted by the encoded bytes: "%20" < "%2B" < "A" < "a". */
    {{{"a", "x"}, {"A", "x"}, {"+", "x"}, {" ", "x"}}, "%20=x&%2B=x&A=x&a=x"},
    {{{"prefix", "dir/sub dir/"}, {"delimiter", "/"}},
     "delimiter=%2F&prefix=dir%2Fsub%20dir%2F"},
    {{{"k", "a=b&c"}, {"", "empty-name"}}, "=empty-name&k=a%3Db%26c"},
    {{{"v", "\xe2\x82\xac~*"}}, "v=%E2%82%AC~%2A"},
};

START_TEST(test_canonical_query)
{
    struct req r = {"GET", "/", {{NULL, NULL}}, {{"host", HOST}}, "x"};
    char line[256];

    memcpy(r.query, query_cases[_i].query, sizeof(r.query));
    canonical_line(&r, 2, line, sizeof(line));
    ck_assert_str_eq(line, query_cases[_i].want);
}
END_TEST

START_TEST(test_path_is_signed_verbatim)
{
    static const char *const paths[] = {
        "/", "/a//b/", "/./a/../b", "/a%2Fb", "/%E2%82%AC%20x", "//lead",
    };
    struct req r = {"GET", NULL, {{NULL, NULL}}, {{"host", HOST}}, "x"};
    char line[256];
    size_t i;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        r.path = paths[i];
        canonical_line(&r, 1, line, sizeof(line));
        ck_assert_str_eq(line, paths[i]);
    }
}
END_TEST

/* ---- canonical headers ---- */

static const struct {
    struct sigv4_kv headers[MAXKV];
    const char *canon; /* header lines, '\n'-joined, without the last */
    const char *signed_headers;
} header_cases[] = {
    {{{"Host", HOST}}, "host:" HOST, "host"},
    {{{"host", HOST}, {"X-Amz-Meta-A", "  lead and trail  "}},
     "host:" HOST "\nx-amz-meta-a:lead and trail",
     "host;x-amz-meta-a"},
    {{{"host", HOST}, {"x-amz-meta-a", "a   b \t c\t\td"}},
     "host:" HOST "\nx-amz-meta-a:a b c d",
     "host;x-amz-meta-a"},
    {{{"host", HOST}, {"x-amz-meta-e", ""}, {"x-amz-meta-f", " \t "}},
     "host:" HOST "\nx-amz-meta-e:\nx-amz-meta-f:",
     "host;x-amz-meta-e;x-amz-meta-f"},
    /* Repeated names (any case) joined with ',' in the order given. */
    {{{"X-Amz-Meta-D", " z "},
      {"host", HOST},
      {"x-amz-meta-d", "a  b"},
      {"X-AMZ-META-D", "m"}},
     "host:" HOST "\nx-amz-meta-d:z,a b,m",
     "host;x-amz-meta-d"},
    /* Sorted by lowercased name; quotes and commas inside values kept. */
    {{{"Zeta", "\"q, r\""}, {"host", HOST}, {"If-Match", "\"etag\""}},
     "host:" HOST "\nif-match:\"etag\"\nzeta:\"q, r\"",
     "host;if-match;zeta"},
};

START_TEST(test_canonical_headers)
{
    struct req r = {"GET", "/", {{NULL, NULL}}, {{NULL, NULL}}, "x"};
    struct sigv4_params p;
    char want[512];
    struct buf b;

    memcpy(r.headers, header_cases[_i].headers, sizeof(r.headers));
    p = params_of(&r);
    snprintf(want, sizeof(want), "GET\n/\n\n%s\n\n%s\nx",
             header_cases[_i].canon, header_cases[_i].signed_headers);
    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(sigv4_canonical_request(&p, &b), 0);
    ck_assert_str_eq(buf_str(&b), want);
    buf_free(&b);
}
END_TEST

/* ---- errors, limits and small helpers ---- */

enum field {
    F_NONE,
    F_METHOD,
    F_PATH,
    F_AK,
    F_SK,
    F_REGION,
    F_SERVICE,
    F_PAYLOAD,
};

static const struct {
    const char *why;
    enum field field; /* set to NULL */
    const char *path;
    struct sigv4_kv headers[MAXKV];
} einval_cases[] = {
    {"no host header", F_NONE, "/k", {{"x-amz-date", "20130524T000000Z"}}},
    {"no headers at all", F_NONE, "/k", {{NULL, NULL}}},
    {"no method", F_METHOD, "/k", {{"host", HOST}}},
    {"no path", F_PATH, "/k", {{"host", HOST}}},
    {"path without '/'", F_NONE, "k", {{"host", HOST}}},
    {"path not encoded", F_NONE, "/a b", {{"host", HOST}}},
    {"path with newline", F_NONE, "/a\nb", {{"host", HOST}}},
    {"no access key", F_AK, "/k", {{"host", HOST}}},
    {"no secret key", F_SK, "/k", {{"host", HOST}}},
    {"no region", F_REGION, "/k", {{"host", HOST}}},
    {"no service", F_SERVICE, "/k", {{"host", HOST}}},
    {"no payload hash", F_PAYLOAD, "/k", {{"host", HOST}}},
    {"header name with ':'", F_NONE, "/k", {{"host", HOST}, {"a:b", "v"}}},
    {"header name with space", F_NONE, "/k", {{"host", HOST}, {"a b", "v"}}},
    {"empty header name", F_NONE, "/k", {{"host", HOST}, {"", "v"}}},
    {"header value with CRLF", F_NONE, "/k", {{"host", HOST "\r\nx: y"}}},
};

START_TEST(test_einval)
{
    struct req r = {"GET",
                    einval_cases[_i].path,
                    {{NULL, NULL}},
                    {{NULL, NULL}},
                    SIGV4_EMPTY_SHA256};
    struct sigv4_params p;
    struct buf b;

    memcpy(r.headers, einval_cases[_i].headers, sizeof(r.headers));
    p = params_of(&r);
    switch (einval_cases[_i].field) {
    case F_METHOD:
        p.method = NULL;
        break;
    case F_PATH:
        p.path = NULL;
        break;
    case F_AK:
        p.access_key = "";
        break;
    case F_SK:
        p.secret_key = NULL;
        break;
    case F_REGION:
        p.region = NULL;
        break;
    case F_SERVICE:
        p.service = "";
        break;
    case F_PAYLOAD:
        p.payload_hash = NULL;
        break;
    case F_NONE:
        break;
    }
    buf_init(&b, BUF_UNLIMITED);
    ck_assert_msg(sigv4_authorization(&p, &b) == -EINVAL, "%s",
                  einval_cases[_i].why);
    ck_assert_msg(sigv4_canonical_request(&p, &b) == -EINVAL, "%s",
                  einval_cases[_i].why);
    if (einval_cases[_i].field != F_PAYLOAD)
        ck_assert_msg(sigv4_presign(&p, 60, &b) == -EINVAL, "%s",
                      einval_cases[_i].why);
    ck_assert_uint_eq(b.len, 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_emsgsize_leaves_buf)
{
    struct sigv4_params p = params_of(&aws_cases[0].req);
    struct buf b;
    size_t full;

    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(sigv4_authorization(&p, &b), 0);
    full = b.len;
    buf_free(&b);

    /* One byte short: fails, and what was there before stays. */
    buf_init(&b, full + 1);
    ck_assert_int_eq(buf_append_str(&b, "A:"), 0);
    ck_assert_int_eq(sigv4_authorization(&p, &b), -EMSGSIZE);
    ck_assert_str_eq(buf_str(&b), "A:");
    ck_assert_int_eq(sigv4_presign(&p, 60, &b), -EMSGSIZE);
    ck_assert_int_eq(sigv4_canonical_request(&p, &b), -EMSGSIZE);
    ck_assert_str_eq(buf_str(&b), "A:");
    buf_free(&b);

    buf_init(&b, full + 2);
    ck_assert_int_eq(buf_append_str(&b, "A:"), 0);
    ck_assert_int_eq(sigv4_authorization(&p, &b), 0);
    ck_assert_uint_eq(b.len, full + 2);
    buf_free(&b);
}
END_TEST

START_TEST(test_payload_hash_passed_through)
{
    struct req r = {
        "PUT", "/k", {{NULL, NULL}}, {{"host", HOST}}, SIGV4_UNSIGNED_PAYLOAD};
    char line[128];

    canonical_line(&r, 6, line, sizeof(line));
    ck_assert_str_eq(line, "UNSIGNED-PAYLOAD");
}
END_TEST

static const struct {
    time_t t;
    const char *want;
} date_cases[] = {
    {0, "19700101T000000Z"},
    {T_EXAMPL, "20130524T000000Z"},
    {951782400, "20000229T000000Z"},
    {4102444799, "20991231T235959Z"},
};

START_TEST(test_format_date)
{
    char out[17];

    sigv4_format_date(date_cases[_i].t, out);
    ck_assert_str_eq(out, date_cases[_i].want);
}
END_TEST

START_TEST(test_sha256_hex)
{
    char out[65];

    sigv4_sha256_hex("abc", 3, out);
    ck_assert_str_eq(
        out,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(test_date_rolls_scope)
{
    /* One second before midnight and at midnight sign different days. */
    struct req r = {"GET", "/", {{NULL, NULL}}, {{"host", HOST}}, "x"};
    struct sigv4_params p = params_of(&r);
    struct buf b;

    buf_init(&b, BUF_UNLIMITED);
    p.now = T_EXAMPL - 1;
    ck_assert_int_eq(sigv4_authorization(&p, &b), 0);
    ck_assert_ptr_nonnull(strstr(buf_str(&b), "/20130523/us-east-1/s3/"));
    buf_reset(&b);
    p.now = T_EXAMPL;
    p.region = "eu-west-3";
    ck_assert_int_eq(sigv4_authorization(&p, &b), 0);
    ck_assert_ptr_nonnull(strstr(buf_str(&b), "/20130524/eu-west-3/s3/"));
    buf_free(&b);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *sigv4_suite(void)
{
    Suite *s = suite_create("sigv4");
    TCase *tc;

    tc = tcase_create("aws_examples");
    tcase_add_loop_test(tc, test_aws_header_example, 0, N(aws_cases));
    tcase_add_test(tc, test_aws_get_object_canonical);
    tcase_add_test(tc, test_aws_put_body_hash);
    tcase_add_test(tc, test_aws_presign_example);
    suite_add_tcase(s, tc);

    tc = tcase_create("presign");
    tcase_add_test(tc, test_presign_token_and_query);
    tcase_add_loop_test(tc, test_presign_bad_expires, 0, N(bad_expires));
    tcase_add_test(tc, test_presign_rejects_auth_params);
    suite_add_tcase(s, tc);

    tc = tcase_create("uri_encode");
    tcase_add_loop_test(tc, test_uri_encode, 0, N(enc_cases));
    tcase_add_test(tc, test_uri_encode_binary_and_full);
    suite_add_tcase(s, tc);

    tc = tcase_create("canonical_query");
    tcase_add_loop_test(tc, test_canonical_query, 0, N(query_cases));
    tcase_add_test(tc, test_path_is_signed_verbatim);
    suite_add_tcase(s, tc);

    tc = tcase_create("canonical_headers");
    tcase_add_loop_test(tc, test_canonical_headers, 0, N(header_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_loop_test(tc, test_einval, 0, N(einval_cases));
    tcase_add_test(tc, test_emsgsize_leaves_buf);
    suite_add_tcase(s, tc);

    tc = tcase_create("helpers");
    tcase_add_test(tc, test_payload_hash_passed_through);
    tcase_add_loop_test(tc, test_format_date, 0, N(date_cases));
    tcase_add_test(tc, test_sha256_hex);
    tcase_add_test(tc, test_date_rolls_scope);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sigv4_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
