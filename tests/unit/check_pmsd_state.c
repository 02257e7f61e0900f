/* SPDX-License-Identifier: MIT */
/*
 * check_pmsd_state.c: unit tests for pmsd/state.c, the pure core of pmsd:
 * membership and the epoch, backend and pbucket validation, routing by
 * longest prefix, references that block deletes, policies turned into
 * token scopes, and the state document's round trip.
 *
 * Each test starts from a state with two backends, one pbucket, a policy
 * and a user (checked fixture).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/token.h"
#include "pmsd/state.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static struct pmsd_state st;
static struct pmsd_error err;

static json_t *js(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);

    ck_assert_ptr_nonnull(j);
    return j;
}

/* Runs put(text) and returns its rc, freeing the JSON. */
#define PUT(fn, name, text, create)                                            \
    ({                                                                         \
        json_t *j_ = js(text);                                                 \
        int rc_ = fn(&st, name, j_, create, &err);                             \
        json_decref(j_);                                                       \
        rc_;                                                                   \
    })

static void state_setup(void)
{
    json_t *u;

    pmsd_state_init(&st);
    ck_assert_int_eq(PUT(pmsd_backend_put, "b1",
                         "{\"endpoint\":\"http://127.0.0.1:9000\","
                         "\"bucket\":\"data\",\"access_key\":\"AK\","
                         "\"secret_key\":\"SK\"}",
                         true),
                     0);
    ck_assert_int_eq(PUT(pmsd_backend_put, "b2",
                         "{\"endpoint\":\"https://s3.example.com\","
                         "\"bucket\":\"logs\"}",
                         true),
                     0);
    ck_assert_int_eq(
        PUT(pmsd_pbucket_put, "pb1",
            "{\"routes\":[{\"prefix\":\"\",\"backend\":\"b1\"},"
            "{\"prefix\":\"logs/\",\"backend\":\"b2\"},"
            "{\"prefix\":\"logs/old/\",\"backend\":\"b1\"}],"
            "\"lifecycle\":[{\"prefix\":\"tmp/\",\"cache_ttl\":60}]}",
            true),
        0);
    ck_assert_int_eq(
        PUT(pmsd_policy_put, "ro",
            "{\"statements\":[{\"actions\":[\"read\",\"list\"],"
            "\"resources\":[\"pb1/*\",\"pb2/pub/*\"]},"
            "{\"actions\":[\"write\"],\"resources\":[\"pb1/*\"]}]}",
            true),
        0);
    u = js("{\"policies\":[\"ro\"]}");
    ck_assert_int_eq(pmsd_user_put(&st, "alice", u, true, 100, &err), 0);
    json_decref(u);
    ck_assert_int_eq(pmsd_user_add_key(&st, "alice", "PKA", "SA", 100, &err),
                     0);
}

static void state_teardown(void)
{
    pmsd_state_fini(&st);
}

/* ---- names -------------------------------------------------------------- */

START_TEST(test_names)
{
    static const struct {
        const char *name;
        bool mixed;
        int rc;
    } v[] = {
        {"pb1", false, 0},
        {"a.b_c-d", false, 0},
        {"", false, -EINVAL},
        {"PB", false, -EINVAL},
        {"PB@x", true, 0},
        {"a/b", true, -EINVAL},
        {"..", false, -EINVAL},
        {"a b", true, -EINVAL},
        {"0123456789012345678901234567890123456789012345678901234567890123",
         false, -EINVAL},
    };
    int i;

    for (i = 0; i < NELEM(v); i++)
        ck_assert_msg(pmsd_name_check(v[i].name, v[i].mixed) == v[i].rc, "%s",
                      v[i].name);
}
END_TEST

/* ---- membership --------------------------------------------------------- */

static int reg(const char *text, uint64_t now_ms, bool *changed)
{
    json_t *j = js(text);
    int rc = pmsd_node_register(&st, j, 1000, now_ms, changed, &err);

    json_decref(j);
    return rc;
}

START_TEST(test_membership_epoch)
{
    bool ch;
    json_t *list;

    ck_assert_uint_eq(st.epoch, 0);
    ck_assert_int_eq(reg("{\"id\":\"n1\",\"address\":\"h:1\"}", 0, &ch), 0);
    ck_assert(ch);
    ck_assert_uint_eq(st.epoch, 1);
    ck_assert_int_eq(reg("{\"id\":\"n1\",\"address\":\"h:1\"}", 10, &ch), 0);
    ck_assert(!ch);
    ck_assert_uint_eq(st.epoch, 1);
    ck_assert_int_eq(reg("{\"id\":\"n2\",\"address\":\"h:2\",\"zone\":\"a\","
                         "\"tiers\":[{\"name\":\"mem\",\"capacity\":5}]}",
                         20, &ch),
                     0);
    ck_assert_uint_eq(st.epoch, 2);
    /* n1 beats at 500; at 1100 with 1000 ms expiry only n2 is gone. */
    ck_assert_int_eq(pmsd_node_heartbeat(&st, "n1", 500, &ch), 0);
    ck_assert(!ch);
    ck_assert_uint_eq(pmsd_nodes_expire(&st, 1100, 1000), 1);
    ck_assert_uint_eq(st.epoch, 3);
    ck_assert_uint_eq(pmsd_nodes_expire(&st, 1200, 1000), 0);
    ck_assert_uint_eq(st.epoch, 3);
    ck_assert_uint_eq(pmsd_nodes_live(&st), 1);
    list = pmsd_nodes_json(&st, false, 1200);
    ck_assert_uint_eq(json_array_size(json_object_get(list, "nodes")), 1);
    json_decref(list);
    /* n2 comes back by heartbeat. */
    ck_assert_int_eq(pmsd_node_heartbeat(&st, "n2", 1300, &ch), 0);
    ck_assert(ch);
    ck_assert_uint_eq(st.epoch, 4);
    ck_assert_int_eq(pmsd_node_heartbeat(&st, "zz", 1300, &ch), -ENOENT);
    ck_assert_int_eq(pmsd_node_remove(&st, "n1"), 0);
    ck_assert_uint_eq(st.epoch, 5);
    ck_assert_int_eq(pmsd_node_remove(&st, "n1"), -ENOENT);
    ck_assert_uint_eq(st.nnodes, 1);
}
END_TEST

START_TEST(test_node_validation)
{
    static const char *const bad[] = {
        "{\"address\":\"h:1\"}",
        "{\"id\":\"n1\"}",
        "{\"id\":\"n1\",\"address\":\"nocolon\"}",
        "{\"id\":\"n/1\",\"address\":\"h:1\"}",
        "{\"id\":\"n1\",\"address\":\"h:1\",\"extra\":1}",
        "{\"id\":\"n1\",\"address\":\"h:1\",\"tiers\":[{\"name\":\"m\"}]}",
        "{\"id\":\"n1\",\"address\":\"h:1\",\"tiers\":{}}",
        "{\"id\":5,\"address\":\"h:1\"}",
        "[]",
    };
    bool ch;
    int i;

    for (i = 0; i < NELEM(bad); i++)
        ck_assert_msg(reg(bad[i], 0, &ch) == -EINVAL, "%s", bad[i]);
    ck_assert_uint_eq(st.nnodes, 0);
    ck_assert_uint_eq(st.epoch, 0);
}
END_TEST

/* A TLS node registers https://host:port, which clients use as it is. */
START_TEST(test_node_address_schemes)
{
    static const char *const good[] = {"h:1", "https://h:2", "http://h:3",
                                       "[::1]:4", "https://[::1]:5"};
    static const char *const bad[] = {
        "https://",      "https://h",          "https://:1", "ftp://h:1",
        "https://h:1/x", "https:/h:1",         "h:1/",       "https://h:",
        "https://h :1",  "http://https://h:1",
    };
    char text[128];
    bool ch;
    int i;

    for (i = 0; i < NELEM(good); i++) {
        snprintf(text, sizeof(text), "{\"id\":\"n%d\",\"address\":\"%s\"}", i,
                 good[i]);
        ck_assert_msg(reg(text, 0, &ch) == 0, "%s", good[i]);
        ck_assert_str_eq(st.nodes[i].address, good[i]);
    }
    for (i = 0; i < NELEM(bad); i++) {
        snprintf(text, sizeof(text), "{\"id\":\"b%d\",\"address\":\"%s\"}", i,
                 bad[i]);
        ck_assert_msg(reg(text, 0, &ch) == -EINVAL, "%s", bad[i]);
    }
    ck_assert_uint_eq(st.nnodes, NELEM(good));
}
END_TEST

/* ---- backends and pbuckets ---------------------------------------------- */

START_TEST(test_backend_rules)
{
    json_t *pub;

    ck_assert_int_eq(PUT(pmsd_backend_put, "b1", "{}", true), -EEXIST);
    ck_assert_int_eq(PUT(pmsd_backend_put, "bx",
                         "{\"endpoint\":\"ftp://x\",\"bucket\":\"b\"}", true),
                     -EINVAL);
    ck_assert_int_eq(PUT(pmsd_backend_put, "bx",
                         "{\"endpoint\":\"http://x\",\"bucket\":\"a/b\"}",
                         true),
                     -EINVAL);
    ck_assert_int_eq(PUT(pmsd_backend_put, "bx",
                         "{\"endpoint\":\"http://x\",\"bucket\":\"b\","
                         "\"access_key\":\"only\"}",
                         true),
                     -EINVAL);
    ck_assert_int_eq(PUT(pmsd_backend_put, "zz", "{\"region\":\"x\"}", false),
                     -ENOENT);
    ck_assert_int_eq(PUT(pmsd_backend_put, "b1", "{\"region\":\"eu\"}", false),
                     0);
    pub = pmsd_backend_public("b1", json_object_get(st.backends, "b1"));
    ck_assert_ptr_null(json_object_get(pub, "secret_key"));
    ck_assert(json_is_true(json_object_get(pub, "has_secret")));
    ck_assert_str_eq(json_string_value(json_object_get(pub, "region")), "eu");
    ck_assert_str_eq(json_string_value(json_object_get(pub, "bucket")), "data");
    json_decref(pub);
    ck_assert_int_eq(pmsd_backend_delete(&st, "b2", &err), -EBUSY);
    ck_assert(strstr(err.msg, "pb1") != NULL);
    ck_assert_int_eq(pmsd_pbucket_delete(&st, "pb1", &err), 0);
    ck_assert_int_eq(pmsd_backend_delete(&st, "b2", &err), 0);
    ck_assert_int_eq(pmsd_backend_delete(&st, "b2", &err), -ENOENT);
}
END_TEST

START_TEST(test_routes_longest_prefix)
{
    static const struct {
        const char *key, *backend, *prefix;
    } v[] = {
        {"", "b1", ""},
        {"a", "b1", ""},
        {"logs", "b1", ""},
        {"logs/", "b2", "logs/"},
        {"logs/x", "b2", "logs/"},
        {"logs/old", "b2", "logs/"},
        {"logs/old/y", "b1", "logs/old/"},
    };
    const json_t *r;
    int i;

    for (i = 0; i < NELEM(v); i++) {
        r = pmsd_pbucket_route(&st, "pb1", v[i].key);
        ck_assert_ptr_nonnull(r);
        ck_assert_str_eq(json_string_value(json_object_get(r, "backend")),
                         v[i].backend);
        ck_assert_str_eq(json_string_value(json_object_get(r, "prefix")),
                         v[i].prefix);
    }
    ck_assert_ptr_null(pmsd_pbucket_route(&st, "nope", "a"));
    ck_assert_ptr_nonnull(pmsd_pbucket_rule(&st, "pb1", "tmp/x"));
    ck_assert_ptr_null(pmsd_pbucket_rule(&st, "pb1", "x"));
    /* Without a "" route some keys have none. */
    ck_assert_int_eq(PUT(pmsd_pbucket_put, "pb2",
                         "{\"routes\":[{\"prefix\":\"a/\",\"backend\":"
                         "\"b1\"}]}",
                         true),
                     0);
    ck_assert_ptr_null(pmsd_pbucket_route(&st, "pb2", "b/x"));
}
END_TEST

START_TEST(test_pbucket_rules)
{
    static const char *const bad[] = {
        "{\"chunk_size\":1048575}",
        "{\"chunk_size\":67108865}",
        "{\"chunk_size\":1114113}", /* not a multiple of 64 KiB */
        "{\"chunk_size\":-1}",
        "{\"chunk_size\":\"8M\"}",
        "{\"routes\":[{\"prefix\":\"\",\"backend\":\"nope\"}]}",
        "{\"routes\":[{\"prefix\":\"a\",\"backend\":\"b1\"},"
        "{\"prefix\":\"a\",\"backend\":\"b2\"}]}",
        "{\"routes\":[{\"backend\":\"b1\"}]}",
        "{\"lifecycle\":[{\"prefix\":\"\",\"storage_class\":\"glacier\"}]}",
        "{\"lifecycle\":[{\"prefix\":\"\",\"cache_ttl\":-5}]}",
        "{\"unknown\":true}",
    };
    json_t *pb;
    int i;

    for (i = 0; i < NELEM(bad); i++) {
        ck_assert_msg(PUT(pmsd_pbucket_put, "pb1", bad[i], false) == -EINVAL,
                      "%s", bad[i]);
    }
    /* 17 * 64 KiB */
    ck_assert_int_eq(
        PUT(pmsd_pbucket_put, "pb1", "{\"chunk_size\":1114112}", false), 0);
    /* A failed update changed nothing; a good one keeps other fields. */
    pb = json_object_get(st.pbuckets, "pb1");
    ck_assert_int_eq(json_array_size(json_object_get(pb, "routes")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(pb, "chunk_size")),
                     1114112);
    ck_assert_int_eq(PUT(pmsd_pbucket_put, "new", "{}", true), 0);
    pb = json_object_get(st.pbuckets, "new");
    ck_assert_int_eq(json_integer_value(json_object_get(pb, "chunk_size")),
                     PMSD_DEFAULT_CHUNK);
    ck_assert_int_eq(PUT(pmsd_pbucket_put, "Bad", "{}", true), -EINVAL);
}
END_TEST

/* ---- users, policies, scopes -------------------------------------------- */

START_TEST(test_scopes_from_policies)
{
    struct token t;

    token_init(&t);
    t.subject = strdup("alice");
    ck_assert_int_eq(pmsd_user_scopes(&st, "alice", &t, &err), 0);
    /* pb1/\* merged from two statements. */
    ck_assert_uint_eq(t.nscopes, 2);
    ck_assert(token_allows(&t, TOKEN_ACT_WRITE, "pb1", "x"));
    ck_assert(token_allows(&t, TOKEN_ACT_LIST, "pb2", "pub/a"));
    ck_assert(!token_allows(&t, TOKEN_ACT_WRITE, "pb2", "pub/a"));
    ck_assert(!token_allows_global(&t, TOKEN_ACT_ADMIN));
    token_fini(&t);
    token_init(&t);
    ck_assert_int_eq(pmsd_user_scopes(&st, "bob", &t, &err), -ENOENT);
    token_fini(&t);
}
END_TEST

START_TEST(test_user_and_key_rules)
{
    const char *user, *secret;
    json_t *j, *pub;
    char ak[16], *text;
    int i;

    ck_assert_int_eq(pmsd_key_find(&st, "PKA", &user, &secret), 0);
    ck_assert_str_eq(user, "alice");
    ck_assert_str_eq(secret, "SA");
    ck_assert_int_eq(pmsd_key_find(&st, "PKB", &user, &secret), -ENOENT);
    ck_assert_int_eq(pmsd_user_add_key(&st, "alice", "PKA", "x", 1, &err),
                     -EEXIST);
    for (i = 1; i < PMSD_MAX_KEYS; i++) {
        snprintf(ak, sizeof(ak), "PK%d", i);
        ck_assert_int_eq(pmsd_user_add_key(&st, "alice", ak, "s", 1, &err), 0);
    }
    ck_assert_int_eq(pmsd_user_add_key(&st, "alice", "PKX", "s", 1, &err),
                     -E2BIG);
    pub = pmsd_user_public("alice", json_object_get(st.users, "alice"));
    text = json_dumps(pub, 0);
    ck_assert(strstr(text, "\"SA\"") == NULL);
    free(text);
    json_decref(pub);
    ck_assert_int_eq(pmsd_user_delete_key(&st, "alice", "PKA", &err), 0);
    ck_assert_int_eq(pmsd_key_find(&st, "PKA", &user, &secret), -ENOENT);
    ck_assert_int_eq(pmsd_policy_delete(&st, "ro", &err), -EBUSY);
    j = js("{\"policies\":[\"nope\"]}");
    ck_assert_int_eq(pmsd_user_put(&st, "alice", j, false, 0, &err), -EINVAL);
    json_decref(j);
    j = js("{\"keys\":[]}");
    ck_assert_int_eq(pmsd_user_put(&st, "carol", j, true, 0, &err), -EINVAL);
    json_decref(j);
    ck_assert_int_eq(pmsd_user_delete(&st, "alice", &err), 0);
    ck_assert_int_eq(pmsd_policy_delete(&st, "ro", &err), 0);
}
END_TEST

START_TEST(test_policy_rules)
{
    static const char *const bad[] = {
        "{}",
        "{\"statements\":[]}",
        "{\"statements\":[{\"actions\":[\"fly\"],\"resources\":[\"*\"]}]}",
        "{\"statements\":[{\"actions\":[\"read\"],\"resources\":[]}]}",
        "{\"statements\":[{\"actions\":[\"read\"],\"resources\":[\"a*b\"]}]}",
        "{\"statements\":[{\"actions\":[\"read\"],\"resources\":[5]}]}",
        "{\"statements\":[{\"actions\":\"read\",\"resources\":[\"*\"]}]}",
    };
    int i;

    /* "statements":[] is allowed (a policy granting nothing) */
    for (i = 0; i < NELEM(bad); i++) {
        int rc = PUT(pmsd_policy_put, "p", bad[i], true);
        if (i == 1) {
            ck_assert_int_eq(rc, 0);
            ck_assert_int_eq(pmsd_policy_delete(&st, "p", &err), 0);
            continue;
        }
        ck_assert_msg(rc == -EINVAL, "%s", bad[i]);
    }
}
END_TEST

/* ---- the document ------------------------------------------------------- */

START_TEST(test_roundtrip)
{
    struct pmsd_state st2;
    json_t *doc, *doc2;
    bool ch;

    ck_assert_int_eq(reg("{\"id\":\"n1\",\"address\":\"h:1\"}", 0, &ch), 0);
    doc = pmsd_state_to_json(&st);
    pmsd_state_init(&st2);
    ck_assert_int_eq(pmsd_state_from_json(&st2, doc, 5000, &err), 0);
    doc2 = pmsd_state_to_json(&st2);
    ck_assert(json_equal(doc, doc2));
    ck_assert_uint_eq(st2.epoch, st.epoch);
    ck_assert_uint_eq(st2.nnodes, 1);
    ck_assert(st2.nodes[0].live);
    ck_assert_uint_eq(st2.nodes[0].last_seen_ms, 5000);
    json_decref(doc);
    json_decref(doc2);
    pmsd_state_fini(&st2);
}
END_TEST

START_TEST(test_load_refuses_bad_documents)
{
    static const char *const bad[] = {
        "{}",
        "{\"version\":2}",
        "{\"version\":1,\"backends\":[]}",
        "{\"version\":1,\"pbuckets\":{\"p\":{\"routes\":[{\"prefix\":\"\","
        "\"backend\":\"missing\"}]}}}",
        "{\"version\":1,\"users\":{\"u\":{\"policies\":[\"missing\"]}}}",
        "{\"version\":1,\"nodes\":[{\"id\":\"n\"}]}",
    };
    struct pmsd_state st2;
    json_t *j;
    int i;

    pmsd_state_init(&st2);
    for (i = 0; i < NELEM(bad); i++) {
        j = js(bad[i]);
        ck_assert_msg(pmsd_state_from_json(&st2, j, 0, &err) == -EINVAL, "%s",
                      bad[i]);
        ck_assert_uint_eq(json_object_size(st2.backends), 0);
        json_decref(j);
    }
    j = js("{\"version\":1}");
    ck_assert_int_eq(pmsd_state_from_json(&st2, j, 0, &err), 0);
    json_decref(j);
    pmsd_state_fini(&st2);
}
END_TEST

START_TEST(test_load_config_keeps_membership)
{
    struct pmsd_state other;
    json_t *doc;
    bool ch;

    ck_assert_int_eq(reg("{\"id\":\"n1\",\"address\":\"h:1\"}", 0, &ch), 0);
    /* Another pmsd's state: no b2, no pb1, no nodes, epoch 99. */
    pmsd_state_init(&other);
    ck_assert_int_eq(pmsd_backend_put(&other, "bz",
                                      json_object_get(st.backends, "b1"), true,
                                      &err),
                     0);
    other.epoch = 99;
    doc = pmsd_state_to_json(&other);
    ck_assert_int_eq(pmsd_state_load_config(&st, doc, &err), 0);
    ck_assert_uint_eq(st.epoch, 1);
    ck_assert_uint_eq(st.nnodes, 1);
    ck_assert_ptr_nonnull(json_object_get(st.backends, "bz"));
    ck_assert_ptr_null(json_object_get(st.backends, "b1"));
    ck_assert_uint_eq(json_object_size(st.users), 0);
    json_decref(doc);
    /* A bad document changes nothing. */
    doc = js("{\"version\":1,\"pbuckets\":{\"p\":{\"routes\":[{"
             "\"prefix\":\"\",\"backend\":\"nope\"}]}}}");
    ck_assert_int_eq(pmsd_state_load_config(&st, doc, &err), -EINVAL);
    ck_assert_ptr_nonnull(json_object_get(st.backends, "bz"));
    json_decref(doc);
    pmsd_state_fini(&other);
}
END_TEST

static Suite *pmsd_state_suite(void)
{
    Suite *s = suite_create("pmsd_state");
    TCase *tc;

    tc = tcase_create("names");
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("membership");
    tcase_add_checked_fixture(tc, state_setup, state_teardown);
    tcase_add_test(tc, test_membership_epoch);
    tcase_add_test(tc, test_node_validation);
    tcase_add_test(tc, test_node_address_schemes);
    suite_add_tcase(s, tc);

    tc = tcase_create("config");
    tcase_add_checked_fixture(tc, state_setup, state_teardown);
    tcase_add_test(tc, test_backend_rules);
    tcase_add_test(tc, test_routes_longest_prefix);
    tcase_add_test(tc, test_pbucket_rules);
    suite_add_tcase(s, tc);

    tc = tcase_create("access");
    tcase_add_checked_fixture(tc, state_setup, state_teardown);
    tcase_add_test(tc, test_scopes_from_policies);
    tcase_add_test(tc, test_user_and_key_rules);
    tcase_add_test(tc, test_policy_rules);
    suite_add_tcase(s, tc);

    tc = tcase_create("document");
    tcase_add_checked_fixture(tc, state_setup, state_teardown);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_load_refuses_bad_documents);
    tcase_add_test(tc, test_load_config_keeps_membership);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pmsd_state_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
