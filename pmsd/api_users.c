/* SPDX-License-Identifier: MIT */
/*
 * api_users.c: users, their keys and policies; token issuance; the public
 * key, status and metrics endpoints (pmsd.h).
 *
 * A secret key is generated here, stored in the state, and shown once: in
 * the reply that created it. Listings give access keys only.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "pmsd/pmsd.h"
#include "pmsd/store.h"

static const char *pmsd_body_str(struct pmsd_req *r, const char *field)
{
    const char *n = json_string_value(json_object_get(r->body, field));

    if (!n)
        snprintf(r->err.msg, sizeof(r->err.msg), "'%s' is required", field);
    return n;
}

static int pmsd_no(struct pmsd_req *r, const char *what, const char *name)
{
    snprintf(r->err.msg, sizeof(r->err.msg), "no %s '%.64s'", what, name);
    return -ENOENT;
}

/* The body without "name" (the put functions refuse unknown fields). */
static json_t *pmsd_body_fields(struct pmsd_req *r)
{
    json_t *b =
        json_is_object(r->body) ? json_deep_copy(r->body) : json_object();

    json_object_del(b, "name");
    return b;
}

int pmsd_api_users(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    const char *name;
    json_t *arr, *u, *snap, *b;
    int rc;

    if (r->method == EVHTTP_REQ_GET) {
        arr = json_array();
        json_object_foreach(pd->state.users, name, u)
            json_array_append_new(arr, pmsd_user_public(name, u));
        pmsd_reply_json(pd, r->req, 200, json_pack("{s:o}", "users", arr));
        return 0;
    }
    if (!(name = pmsd_body_str(r, "name")))
        return -EINVAL;
    snap = pmsd_snapshot(pd);
    b = pmsd_body_fields(r);
    rc = pmsd_user_put(&pd->state, name, b, true, (int64_t)time(NULL), &r->err);
    json_decref(b);
    rc = pmsd_commit(r, snap, rc, "user.create", name);
    if (rc < 0)
        return rc;
    pmsd_reply_json(
        pd, r->req, 201,
        pmsd_user_public(name, json_object_get(pd->state.users, name)));
    return 0;
}

int pmsd_api_user(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    const char *name = r->arg[0];
    json_t *u = json_object_get(pd->state.users, name), *snap;
    int rc;

    if (r->method == EVHTTP_REQ_GET) {
        if (!u)
            return pmsd_no(r, "user", name);
        pmsd_reply_json(pd, r->req, 200, pmsd_user_public(name, u));
        return 0;
    }
    snap = pmsd_snapshot(pd);
    if (r->method == EVHTTP_REQ_PUT) {
        rc = pmsd_user_put(&pd->state, name, r->body, false, 0, &r->err);
        rc = pmsd_commit(r, snap, rc, "user.update", name);
    } else {
        rc = pmsd_user_delete(&pd->state, name, &r->err);
        rc = pmsd_commit(r, snap, rc, "user.delete", name);
    }
    if (rc < 0)
        return rc;
    u = json_object_get(pd->state.users, name);
    pmsd_reply_json(pd, r->req, 200,
                    u ? pmsd_user_public(name, u)
                      : json_pack("{s:s}", "deleted", name));
    return 0;
}

int pmsd_api_user_keys(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    const char *name = r->arg[0];
    json_t *u = json_object_get(pd->state.users, name), *snap;
    char ak[32], sk[64];
    int rc;

    if (r->method == EVHTTP_REQ_GET) {
        if (!u)
            return pmsd_no(r, "user", name);
        snap = pmsd_user_public(name, u);
        pmsd_reply_json(
            pd, r->req, 200,
            json_pack("{s:O}", "keys", json_object_get(snap, "keys")));
        json_decref(snap);
        return 0;
    }
    pmsd_auth_new_key(ak, sk);
    snap = pmsd_snapshot(pd);
    rc = pmsd_user_add_key(&pd->state, name, ak, sk, (int64_t)time(NULL),
                           &r->err);
    rc = pmsd_commit(r, snap, rc, "key.create", name);
    if (rc < 0)
        return rc;
    pmsd_reply_json(pd, r->req, 201,
                    json_pack("{s:s, s:s, s:s}", "user", name, "access_key", ak,
                              "secret_key", sk));
    return 0;
}

int pmsd_api_user_key(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    json_t *snap = pmsd_snapshot(pd);
    int rc;

    rc = pmsd_user_delete_key(&pd->state, r->arg[0], r->arg[1], &r->err);
    rc = pmsd_commit(r, snap, rc, "key.delete", r->arg[1]);
    if (rc < 0)
        return rc;
    pmsd_reply_json(pd, r->req, 200, json_pack("{s:s}", "deleted", r->arg[1]));
    return 0;
}

static json_t *pmsd_policy_json(const char *name, const json_t *p)
{
    json_t *o = json_deep_copy(p);

    json_object_set_new(o, "name", json_string(name));
    return o;
}

int pmsd_api_policies(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    const char *name;
    json_t *arr, *p, *snap, *b;
    int rc;

    if (r->method == EVHTTP_REQ_GET) {
        arr = json_array();
        json_object_foreach(pd->state.policies, name, p)
            json_array_append_new(arr, pmsd_policy_json(name, p));
        pmsd_reply_json(pd, r->req, 200, json_pack("{s:o}", "policies", arr));
        return 0;
    }
    if (!(name = pmsd_body_str(r, "name")))
        return -EINVAL;
    snap = pmsd_snapshot(pd);
    b = pmsd_body_fields(r);
    rc = pmsd_policy_put(&pd->state, name, b, true, &r->err);
    json_decref(b);
    rc = pmsd_commit(r, snap, rc, "policy.create", name);
    if (rc < 0)
        return rc;
    pmsd_reply_json(
        pd, r->req, 201,
        pmsd_policy_json(name, json_object_get(pd->state.policies, name)));
    return 0;
}

int pmsd_api_policy(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    const char *name = r->arg[0];
    json_t *p = json_object_get(pd->state.policies, name), *snap;
    int rc;

    if (r->method == EVHTTP_REQ_GET) {
        if (!p)
            return pmsd_no(r, "policy", name);
        pmsd_reply_json(pd, r->req, 200, pmsd_policy_json(name, p));
        return 0;
    }
    snap = pmsd_snapshot(pd);
    if (r->method == EVHTTP_REQ_PUT) {
        rc = pmsd_policy_put(&pd->state, name, r->body, false, &r->err);
        rc = pmsd_commit(r, snap, rc, "policy.update", name);
    } else {
        rc = pmsd_policy_delete(&pd->state, name, &r->err);
        rc = pmsd_commit(r, snap, rc, "policy.delete", name);
    }
    if (rc < 0)
        return rc;
    p = json_object_get(pd->state.policies, name);
    pmsd_reply_json(pd, r->req, 200,
                    p ? pmsd_policy_json(name, p)
                      : json_pack("{s:s}", "deleted", name));
    return 0;
}

static json_t *pmsd_scopes_json(const struct token *t)
{
    json_t *arr = json_array(), *acts;
    unsigned b;
    size_t i;

    for (i = 0; i < t->nscopes; i++) {
        acts = json_array();
        for (b = 1; b & TOKEN_ACT_ALL; b <<= 1) {
            if (t->scopes[i].actions & b)
                json_array_append_new(acts, json_string(token_action_name(b)));
        }
        json_array_append_new(arr,
                              json_pack("{s:o, s:s}", "actions", acts,
                                        "resource", t->scopes[i].resource));
    }
    return arr;
}

/* POST /v1/token (signed): a token for the caller's current scopes.
 * Optional body {"ttl": seconds}, at most token_ttl. */
int pmsd_api_token(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    int64_t now = (int64_t)time(NULL);
    int64_t ttl = (int64_t)(pd->cfg->token_ttl_ms / 1000);
    json_t *jt = json_object_get(r->body, "ttl");
    struct buf out;
    int rc;

    if (jt && (!json_is_integer(jt) || json_integer_value(jt) < 1)) {
        snprintf(r->err.msg, sizeof(r->err.msg), "ttl: positive seconds");
        return -EINVAL;
    }
    if (jt && json_integer_value(jt) < ttl)
        ttl = json_integer_value(jt);
    r->tok.issued_at = now;
    r->tok.expires_at = now + ttl;
    buf_init(&out, TOKEN_MAX_LEN);
    rc = token_sign(&r->tok, pd->key, &out);
    pmsd_audit(pd, r, "token.issue", r->tok.subject, rc);
    if (rc < 0) {
        buf_free(&out);
        return rc;
    }
    pd->n.tokens_issued++;
    pmsd_reply_json(pd, r->req, 200,
                    json_pack("{s:s, s:s, s:I, s:I, s:o}", "token",
                              buf_str(&out), "user", r->tok.subject,
                              "issued_at", (json_int_t)now, "expires_at",
                              (json_int_t)(now + ttl), "scopes",
                              pmsd_scopes_json(&r->tok)));
    buf_free(&out);
    return 0;
}

int pmsd_api_whoami(struct pmsd_req *r)
{
    pmsd_reply_json(r->pd, r->req, 200,
                    json_pack("{s:s, s:I, s:o}", "user", r->tok.subject,
                              "expires_at", (json_int_t)r->tok.expires_at,
                              "scopes", pmsd_scopes_json(&r->tok)));
    return 0;
}

int pmsd_api_pubkey(struct pmsd_req *r)
{
    uint8_t raw[TOKEN_KEY_RAW];
    struct buf pem, b64;

    buf_init(&pem, 4096);
    buf_init(&b64, 128);
    token_key_public_raw(r->pd->key, raw);
    token_b64url_encode(raw, sizeof(raw), &b64);
    token_key_public_pem(r->pd->key, &pem);
    pmsd_reply_json(r->pd, r->req, 200,
                    json_pack("{s:s, s:s, s:s, s:s}", "alg", "Ed25519", "kid",
                              r->pd->kid, "public_key", buf_str(&b64), "pem",
                              buf_str(&pem)));
    buf_free(&pem);
    buf_free(&b64);
    return 0;
}

int pmsd_api_status(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    struct pmsd_state *st = &pd->state;

    pmsd_reply_json(
        pd, r->req, 200,
        json_pack("{s:s, s:s, s:I, s:I, s:{s:I, s:I}, s:I, s:I, s:I, s:I, "
                  "s:I, s:s, s:s}",
                  "service", "pmsd", "version", PCACHE_VERSION, "uptime_s",
                  (json_int_t)((monotime_ms() - pd->start_ms) / 1000), "epoch",
                  (json_int_t)st->epoch, "nodes", "live",
                  (json_int_t)pmsd_nodes_live(st), "total",
                  (json_int_t)st->nnodes, "backends",
                  (json_int_t)json_object_size(st->backends), "pbuckets",
                  (json_int_t)json_object_size(st->pbuckets), "users",
                  (json_int_t)json_object_size(st->users), "policies",
                  (json_int_t)json_object_size(st->policies), "waiters",
                  (json_int_t)pd->nwaiters, "store", pmsd_store_name(pd->store),
                  "kid", pd->kid));
    return 0;
}

int pmsd_api_metrics(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    struct evbuffer *b = evbuffer_new();
    int c;

    evbuffer_add_printf(b,
                        "# TYPE pmsd_requests_total counter\n"
                        "pmsd_requests_total %llu\n"
                        "# TYPE pmsd_responses_total counter\n",
                        (unsigned long long)pd->n.requests);
    for (c = 1; c <= 5; c++)
        evbuffer_add_printf(b, "pmsd_responses_total{code=\"%dxx\"} %llu\n", c,
                            (unsigned long long)pd->n.responses[c]);
    evbuffer_add_printf(
        b,
        "# TYPE pmsd_tokens_issued_total counter\n"
        "pmsd_tokens_issued_total %llu\n"
        "# TYPE pmsd_auth_failures_total counter\n"
        "pmsd_auth_failures_total %llu\n"
        "# TYPE pmsd_denied_total counter\n"
        "pmsd_denied_total %llu\n"
        "# TYPE pmsd_state_saves_total counter\n"
        "pmsd_state_saves_total %llu\n"
        "# TYPE pmsd_state_save_failures_total counter\n"
        "pmsd_state_save_failures_total %llu\n"
        "# TYPE pmsd_nodes_expired_total counter\n"
        "pmsd_nodes_expired_total %llu\n"
        "# TYPE pmsd_epoch gauge\npmsd_epoch %llu\n"
        "# TYPE pmsd_nodes_live gauge\npmsd_nodes_live %zu\n"
        "# TYPE pmsd_nodes gauge\npmsd_nodes %zu\n"
        "# TYPE pmsd_waiters gauge\npmsd_waiters %zu\n",
        (unsigned long long)pd->n.tokens_issued,
        (unsigned long long)pd->n.auth_failures,
        (unsigned long long)pd->n.denied, (unsigned long long)pd->n.saves,
        (unsigned long long)pd->n.save_failures,
        (unsigned long long)pd->n.expired_nodes,
        (unsigned long long)pd->state.epoch, pmsd_nodes_live(&pd->state),
        pd->state.nnodes, pd->nwaiters);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(r->req, 200, "OK", b);
    evbuffer_free(b);
    pd->n.responses[2]++;
    return 0;
}
