/* SPDX-License-Identifier: MIT */
/*
 * check_token.c: unit tests for common/token.c: base64url, resource
 * matching, signing and verifying (good, forged, expired, wrong key,
 * wrong scope) and the request signature clients send to pmsd.
 *
 * One key pair is generated per test by a checked fixture.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/token.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define NOW      1700000000

static struct token_key *key;

static void key_setup(void)
{
    ck_assert_int_eq(token_key_generate(&key), 0);
}

static void key_teardown(void)
{
    token_key_free(key);
    key = NULL;
}

/* A token for alice: read+list on pb1/data/\*, write on pb2/x. */
static void sample(struct token *t)
{
    token_init(t);
    t->subject = strdup("alice");
    t->issued_at = NOW;
    t->expires_at = NOW + 600;
    ck_assert_int_eq(
        token_add_scope(t, TOKEN_ACT_READ | TOKEN_ACT_LIST, "pb1/data/*"), 0);
    ck_assert_int_eq(token_add_scope(t, TOKEN_ACT_WRITE, "pb2/x"), 0);
}

static char *signed_sample(void)
{
    struct token t;
    struct buf out;

    sample(&t);
    buf_init(&out, BUF_UNLIMITED);
    ck_assert_int_eq(token_sign(&t, key, &out), 0);
    token_fini(&t);
    return buf_steal(&out);
}

/* ---- base64url ---------------------------------------------------------- */

START_TEST(test_b64url_vectors)
{
    static const struct {
        const char *in, *out;
    } v[] = {
        {"", ""},
        {"f", "Zg"},
        {"fo", "Zm8"},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg"},
        {"fooba", "Zm9vYmE"},
        {"foobar", "Zm9vYmFy"},
        {"\xfb\xff", "-_8"},
    };
    struct buf b;
    int i;

    buf_init(&b, 1024);
    for (i = 0; i < NELEM(v); i++) {
        buf_reset(&b);
        ck_assert_int_eq(token_b64url_encode(v[i].in, strlen(v[i].in), &b), 0);
        ck_assert_str_eq(buf_str(&b), v[i].out);
        buf_reset(&b);
        ck_assert_int_eq(token_b64url_decode(v[i].out, strlen(v[i].out), &b),
                         0);
        ck_assert_uint_eq(b.len, strlen(v[i].in));
        ck_assert(memcmp(buf_str(&b), v[i].in, b.len) == 0);
    }
    buf_free(&b);
}
END_TEST

START_TEST(test_b64url_bad)
{
    static const char *const bad[] = {"Z",    "Zm9v=", "Zm+v",
                                      "Zm/v", "Zh",    "Zm9vYh"};
    struct buf b;
    int i;

    buf_init(&b, 1024);
    buf_append_str(&b, "keep");
    for (i = 0; i < NELEM(bad); i++) {
        ck_assert_int_eq(token_b64url_decode(bad[i], strlen(bad[i]), &b),
                         -EINVAL);
        ck_assert_str_eq(buf_str(&b), "keep");
    }
    buf_free(&b);
}
END_TEST

/* ---- resource matching -------------------------------------------------- */

START_TEST(test_resource_match)
{
    static const struct {
        const char *pattern, *pbucket, *key;
        bool match;
    } v[] = {
        {"*", "pb1", "", true},
        {"*", "pb1", "a/b", true},
        {"pb1/*", "pb1", "", true},
        {"pb1/*", "pb1", "a/b", true},
        {"pb1/*", "pb10", "a", false},
        {"pb1*", "pb10", "a", true},
        {"pb1/data/*", "pb1", "data/x", true},
        {"pb1/data/*", "pb1", "data/", true},
        {"pb1/data/*", "pb1", "data", false},
        {"pb1/data/*", "pb1", "dat", false},
        {"pb1/data/*", "pb1", "", false},
        {"pb1/data/*", "pb2", "data/x", false},
        {"pb1/data/*", "pb", "1/data/x", false},
        {"pb1", "pb1", "", true},
        {"pb1", "pb1", "x", false},
        {"pb1/x", "pb1", "x", true},
        {"pb1/x", "pb1", "xy", false},
        {"pb1/x", "pb1", "", false},
    };
    int i;

    for (i = 0; i < NELEM(v); i++) {
        ck_assert_msg(token_resource_match(v[i].pattern, v[i].pbucket,
                                           v[i].key) == v[i].match,
                      "%s on %s/%s", v[i].pattern, v[i].pbucket, v[i].key);
    }
}
END_TEST

START_TEST(test_resource_check)
{
    ck_assert_int_eq(token_resource_check("pb1/*"), 0);
    ck_assert_int_eq(token_resource_check("*"), 0);
    ck_assert_int_eq(token_resource_check(""), -EINVAL);
    ck_assert_int_eq(token_resource_check("pb1/*/x"), -EINVAL);
    ck_assert_int_eq(token_resource_check("pb1\n"), -EINVAL);
}
END_TEST

START_TEST(test_actions)
{
    ck_assert_uint_eq(token_action_parse("read"), TOKEN_ACT_READ);
    ck_assert_uint_eq(token_action_parse("node"), TOKEN_ACT_NODE);
    ck_assert_uint_eq(token_action_parse("*"), TOKEN_ACT_ALL);
    ck_assert_uint_eq(token_action_parse("Read"), 0);
    ck_assert_str_eq(token_action_name(TOKEN_ACT_DELETE), "delete");
    ck_assert_ptr_null(token_action_name(3));
}
END_TEST

START_TEST(test_allows)
{
    struct token t;

    sample(&t);
    ck_assert(token_allows(&t, TOKEN_ACT_READ, "pb1", "data/a"));
    ck_assert(token_allows(&t, TOKEN_ACT_LIST, "pb1", "data/"));
    ck_assert(!token_allows(&t, TOKEN_ACT_WRITE, "pb1", "data/a"));
    ck_assert(!token_allows(&t, TOKEN_ACT_READ, "pb1", "other"));
    ck_assert(token_allows(&t, TOKEN_ACT_WRITE, "pb2", "x"));
    ck_assert(!token_allows(&t, TOKEN_ACT_READ, "pb2", "x"));
    ck_assert(token_allows_any(&t, TOKEN_ACT_READ, "pb1"));
    ck_assert(!token_allows_any(&t, TOKEN_ACT_READ, "pb2"));
    ck_assert(!token_allows_any(&t, TOKEN_ACT_READ, "pb"));
    ck_assert(!token_allows_global(&t, TOKEN_ACT_ADMIN));
    ck_assert_int_eq(token_add_scope(&t, TOKEN_ACT_ADMIN, "*"), 0);
    ck_assert(token_allows_global(&t, TOKEN_ACT_ADMIN));
    ck_assert_int_eq(token_add_scope(&t, 0, "x"), -EINVAL);
    ck_assert_int_eq(token_add_scope(&t, 1u << 9, "x"), -EINVAL);
    token_fini(&t);
}
END_TEST

/* ---- sign and verify ---------------------------------------------------- */

START_TEST(test_roundtrip)
{
    char *text = signed_sample();
    struct token t;

    ck_assert(strncmp(text, TOKEN_PREFIX, 4) == 0);
    token_init(&t);
    ck_assert_int_eq(token_verify(text, key, NOW + 1, &t), 0);
    ck_assert_str_eq(t.subject, "alice");
    ck_assert_int_eq(t.issued_at, NOW);
    ck_assert_int_eq(t.expires_at, NOW + 600);
    ck_assert_uint_eq(t.nscopes, 2);
    ck_assert_str_eq(t.scopes[0].resource, "pb1/data/*");
    ck_assert_uint_eq(t.scopes[0].actions, TOKEN_ACT_READ | TOKEN_ACT_LIST);
    ck_assert(token_allows(&t, TOKEN_ACT_READ, "pb1", "data/f"));
    token_fini(&t);
    free(text);
}
END_TEST

START_TEST(test_expired)
{
    char *text = signed_sample();
    struct token t;

    token_init(&t);
    ck_assert_int_eq(token_verify(text, key, NOW + 600, &t), -EKEYEXPIRED);
    token_fini(&t);
    ck_assert_int_eq(token_verify(text, key, NOW - TOKEN_MAX_SKEW - 1, &t),
                     -EKEYEXPIRED);
    token_fini(&t);
    free(text);
}
END_TEST

/* token_peek reads the scopes whatever the clock or the signature. */
START_TEST(test_peek)
{
    char *text = signed_sample(), *dot = strrchr(text, '.');
    struct token t;

    token_init(&t);
    dot[1] = dot[1] == 'A' ? 'B' : 'A'; /* a broken signature */
    ck_assert_int_eq(token_peek(text, &t), 0);
    ck_assert_str_eq(t.subject, "alice");
    ck_assert(token_allows(&t, TOKEN_ACT_LIST, "pb1", "data/"));
    ck_assert(!token_allows(&t, TOKEN_ACT_WRITE, "pb1", "data/f"));
    ck_assert(token_allows(&t, TOKEN_ACT_WRITE, "pb2", "x"));
    token_fini(&t);
    token_init(&t);
    ck_assert_int_eq(token_peek("pc1.nodot", &t), -EINVAL);
    ck_assert_int_eq(token_peek("xx1.a.b", &t), -EINVAL);
    ck_assert_int_eq(token_peek("pc1.!!!.sig", &t), -EINVAL);
    token_fini(&t);
    free(text);
}
END_TEST

START_TEST(test_forged)
{
    char *text = signed_sample(), *dot = strrchr(text, '.'), *copy;
    struct token_key *other = NULL;
    struct token t, evil;
    struct buf b;
    size_t i;

    token_init(&t);
    /* Any flipped character of payload or signature. */
    for (i = 4; i < strlen(text); i += 7) {
        if (text[i] == '.')
            continue;
        copy = strdup(text);
        copy[i] = copy[i] == 'A' ? 'B' : 'A';
        ck_assert_int_lt(token_verify(copy, key, NOW + 1, &t), 0);
        token_fini(&t);
        free(copy);
    }
    /* Someone else's key signs a token with more scope. */
    ck_assert_int_eq(token_key_generate(&other), 0);
    sample(&evil);
    token_add_scope(&evil, TOKEN_ACT_ALL, "*");
    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(token_sign(&evil, other, &b), 0);
    ck_assert_int_eq(token_verify(buf_str(&b), key, NOW + 1, &t), -EACCES);
    token_fini(&t);
    /* Their payload with our signature. */
    {
        char *their = strdup(buf_str(&b));
        *strrchr(their, '.') = '\0';
        buf_reset(&b);
        buf_appendf(&b, "%s%s", their, dot);
        free(their);
    }
    ck_assert_int_eq(token_verify(buf_str(&b), key, NOW + 1, &t), -EACCES);
    token_fini(&t);
    /* Malformed forms. */
    ck_assert_int_eq(token_verify("", key, NOW, &t), -EINVAL);
    ck_assert_int_eq(token_verify("pc1.abc", key, NOW, &t), -EINVAL);
    ck_assert_int_eq(token_verify("pc2.a.b", key, NOW, &t), -EINVAL);
    ck_assert_int_eq(token_verify("pc1.a.b.c", key, NOW, &t), -EINVAL);
    ck_assert_int_eq(token_verify("pc1..", key, NOW, &t), -EACCES);
    buf_reset(&b);
    for (i = 0; i < TOKEN_MAX_LEN + 1; i++)
        buf_append_byte(&b, 'A');
    ck_assert_int_eq(token_verify(buf_str(&b), key, NOW, &t), -EMSGSIZE);
    token_fini(&t);
    token_fini(&evil);
    token_key_free(other);
    buf_free(&b);
    free(text);
}
END_TEST

START_TEST(test_pubkey_only)
{
    uint8_t raw[TOKEN_KEY_RAW];
    struct token_key *pub = NULL, *pub2 = NULL, *priv2 = NULL;
    char kid1[TOKEN_KID_LEN + 1], kid2[TOKEN_KID_LEN + 1];
    char *text = signed_sample();
    struct token t;
    struct buf pem;

    token_key_public_raw(key, raw);
    ck_assert_int_eq(token_key_from_public_raw(raw, &pub), 0);
    ck_assert(!token_key_is_private(pub));
    token_init(&t);
    ck_assert_int_eq(token_verify(text, pub, NOW + 1, &t), 0);
    token_fini(&t);
    /* A public key cannot sign. */
    sample(&t);
    buf_init(&pem, BUF_UNLIMITED);
    ck_assert_int_eq(token_sign(&t, pub, &pem), -EINVAL);
    token_fini(&t);
    /* PEM round trips, private and public. */
    ck_assert_int_eq(token_key_public_pem(key, &pem), 0);
    ck_assert_int_eq(token_key_from_pem(pem.data, pem.len, &pub2), 0);
    token_key_id(key, kid1);
    token_key_id(pub2, kid2);
    ck_assert_str_eq(kid1, kid2);
    buf_reset(&pem);
    ck_assert_int_eq(token_key_private_pem(key, &pem), 0);
    ck_assert_int_eq(token_key_from_pem(pem.data, pem.len, &priv2), 0);
    ck_assert(token_key_is_private(priv2));
    token_key_id(priv2, kid2);
    ck_assert_str_eq(kid1, kid2);
    ck_assert_int_eq(token_key_private_pem(pub, &pem), -EINVAL);
    token_key_free(pub2);
    ck_assert_int_eq(token_key_from_pem("junk", 4, &pub2), -EINVAL);
    ck_assert_ptr_null(pub2);
    token_key_free(pub);
    token_key_free(priv2);
    buf_free(&pem);
    free(text);
}
END_TEST

START_TEST(test_sign_refuses)
{
    struct token t;
    struct buf b;

    buf_init(&b, BUF_UNLIMITED);
    sample(&t);
    t.expires_at = t.issued_at;
    ck_assert_int_eq(token_sign(&t, key, &b), -EINVAL);
    token_fini(&t);
    token_init(&t);
    t.expires_at = 1;
    ck_assert_int_eq(token_sign(&t, key, &b), -EINVAL);
    ck_assert_uint_eq(b.len, 0);
    token_fini(&t);
    buf_free(&b);
}
END_TEST

/* ---- request signatures ------------------------------------------------- */

START_TEST(test_request_sign)
{
    char a[65], b[65];

    /* Same inputs, same signature; any field changed, another one. */
    ck_assert_int_eq(
        token_request_sign("s3cret", "POST", "/v1/token", NOW, "n1", a), 0);
    ck_assert_int_eq(strlen(a), 64);
    ck_assert_int_eq(
        token_request_sign("s3cret", "POST", "/v1/token", NOW, "n1", b), 0);
    ck_assert(token_str_equal(a, b));
    token_request_sign("s3cret", "POST", "/v1/token", NOW, "n2", b);
    ck_assert(!token_str_equal(a, b));
    token_request_sign("s3cret", "POST", "/v1/token", NOW + 1, "n1", b);
    ck_assert(!token_str_equal(a, b));
    token_request_sign("s3creT", "POST", "/v1/token", NOW, "n1", b);
    ck_assert(!token_str_equal(a, b));
    ck_assert_int_eq(token_request_sign("s", "GET", "/p\n", NOW, "n", b),
                     -EINVAL);
    ck_assert_int_eq(token_request_sign("", "GET", "/p", NOW, "n", b), -EINVAL);
    ck_assert(!token_str_equal("abc", "ab"));
    /* HMAC-SHA256("key", "PCACHE-HMAC-SHA256\nGET\n/\n0\nn"), computed
     * independently with python's hmac module. */
    token_request_sign("key", "GET", "/", 0, "n", a);
    ck_assert_str_eq(
        a, "83cb1137965f8668f19fad8954d4f43c3ea077b7956c640be99d77dfb9dc2e0f");
}
END_TEST

static Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc;

    tc = tcase_create("base64url");
    tcase_add_test(tc, test_b64url_vectors);
    tcase_add_test(tc, test_b64url_bad);
    suite_add_tcase(s, tc);

    tc = tcase_create("scope");
    tcase_add_test(tc, test_resource_match);
    tcase_add_test(tc, test_resource_check);
    tcase_add_test(tc, test_actions);
    tcase_add_test(tc, test_allows);
    suite_add_tcase(s, tc);

    tc = tcase_create("sign");
    tcase_add_checked_fixture(tc, key_setup, key_teardown);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_expired);
    tcase_add_test(tc, test_peek);
    tcase_add_test(tc, test_forged);
    tcase_add_test(tc, test_pubkey_only);
    tcase_add_test(tc, test_sign_refuses);
    suite_add_tcase(s, tc);

    tc = tcase_create("request");
    tcase_add_test(tc, test_request_sign);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(token_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
