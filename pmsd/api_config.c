/* SPDX-License-Identifier: MIT */
/*
 * api_config.c: backends and pbuckets over HTTP, and the node's view of
 * them (pmsd.h).
 *
 * Backend credentials leave pmsd only in GET /v1/node/config, which needs
 * the node action: admins see that a backend has a secret, never the
 * secret; clients see pbuckets (routes name backends) and nothing of
 * backends.
 */
#include <errno.h>
#include <event2/http.h>
#include <string.h>

#include "common/mem.h"
#include "pmsd/pmsd.h"

/* May r see (or, with admin, change) pbucket name? */
static bool pmsd_pbucket_visible(const struct pmsd_req *r, const char *name)
{
    return token_allows_global(&r->tok, TOKEN_ACT_ADMIN) ||
           token_allows_global(&r->tok, TOKEN_ACT_NODE) ||
           token_allows_any(&r->tok, TOKEN_ACT_ALL, name);
}

static bool pmsd_pbucket_admin(const struct pmsd_req *r, const char *name)
{
    return token_allows_global(&r->tok, TOKEN_ACT_ADMIN) ||
           token_allows(&r->tok, TOKEN_ACT_ADMIN, name, "");
}

static int pmsd_denied(struct pmsd_req *r, const char *what)
{
    snprintf(r->err.msg, sizeof(r->err.msg), "%s may not %s", pmsd_who(r),
             what);
    r->pd->n.denied++;
    return -EPERM;
}

static const char *pmsd_body_name(struct pmsd_req *r)
{
    const char *n = json_string_value(json_object_get(r->body, "name"));

    if (!n)
        snprintf(r->err.msg, sizeof(r->err.msg), "'name' is required");
    return n;
}

int pmsd_api_backends(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    const char *name;
    json_t *arr, *b, *snap;
    int rc;

    if (r->method == EVHTTP_REQ_GET) {
        arr = json_array();
        json_object_foreach(pd->state.backends, name, b)
            json_array_append_new(arr, pmsd_backend_public(name, b));
        pmsd_reply_json(pd, r->req, 200, json_pack("{s:o}", "backends", arr));
        return 0;
    }
    if (!(name = pmsd_body_name(r)))
        return -EINVAL;
    snap = pmsd_snapshot(pd);
    rc = pmsd_backend_put(&pd->state, name, r->body, true, &r->err);
    rc = pmsd_commit(r, snap, rc, "backend.create", name);
    if (rc < 0)
        return rc;
    pmsd_reply_json(
        pd, r->req, 201,
        pmsd_backend_public(name, json_object_get(pd->state.backends, name)));
    return 0;
}

int pmsd_api_backend(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    const char *name = r->arg[0];
    json_t *b = json_object_get(pd->state.backends, name), *snap;
    int rc;

    if (r->method == EVHTTP_REQ_GET) {
        if (!b) {
            snprintf(r->err.msg, sizeof(r->err.msg), "no backend '%.64s'",
                     name);
            return -ENOENT;
        }
        pmsd_reply_json(pd, r->req, 200, pmsd_backend_public(name, b));
        return 0;
    }
    snap = pmsd_snapshot(pd);
    if (r->method == EVHTTP_REQ_PUT) {
        rc = pmsd_backend_put(&pd->state, name, r->body, false, &r->err);
        rc = pmsd_commit(r, snap, rc, "backend.update", name);
    } else {
        rc = pmsd_backend_delete(&pd->state, name, &r->err);
        rc = pmsd_commit(r, snap, rc, "backend.delete", name);
    }
    if (rc < 0)
        return rc;
    b = json_object_get(pd->state.backends, name);
    pmsd_reply_json(pd, r->req, 200,
                    b ? pmsd_backend_public(name, b)
                      : json_pack("{s:s}", "deleted", name));
    return 0;
}

int pmsd_api_pbuckets(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    const char *name;
    json_t *arr, *pb, *snap;
    int rc;

    if (r->method == EVHTTP_REQ_GET) {
        arr = json_array();
        json_object_foreach(pd->state.pbuckets, name, pb)
        {
            if (pmsd_pbucket_visible(r, name))
                json_array_append_new(arr, pmsd_pbucket_json(name, pb));
        }
        pmsd_reply_json(pd, r->req, 200, json_pack("{s:o}", "pbuckets", arr));
        return 0;
    }
    if (!(name = pmsd_body_name(r)))
        return -EINVAL;
    if (!token_allows_global(&r->tok, TOKEN_ACT_ADMIN))
        return pmsd_denied(r, "create pbuckets");
    snap = pmsd_snapshot(pd);
    rc = pmsd_pbucket_put(&pd->state, name, r->body, true, &r->err);
    rc = pmsd_commit(r, snap, rc, "pbucket.create", name);
    if (rc < 0)
        return rc;
    pmsd_reply_json(
        pd, r->req, 201,
        pmsd_pbucket_json(name, json_object_get(pd->state.pbuckets, name)));
    return 0;
}

int pmsd_api_pbucket(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    const char *name = r->arg[0];
    json_t *pb = json_object_get(pd->state.pbuckets, name), *snap;
    int rc;

    if (!pmsd_pbucket_visible(r, name)) {
        /* Unknown and forbidden look the same to an outsider. */
        snprintf(r->err.msg, sizeof(r->err.msg), "no pbucket '%.64s'", name);
        return pb ? pmsd_denied(r, "see this pbucket") : -ENOENT;
    }
    if (r->method == EVHTTP_REQ_GET) {
        if (!pb) {
            snprintf(r->err.msg, sizeof(r->err.msg), "no pbucket '%.64s'",
                     name);
            return -ENOENT;
        }
        pmsd_reply_json(pd, r->req, 200, pmsd_pbucket_json(name, pb));
        return 0;
    }
    if (!pmsd_pbucket_admin(r, name))
        return pmsd_denied(r, "change this pbucket");
    snap = pmsd_snapshot(pd);
    if (r->method == EVHTTP_REQ_PUT) {
        rc = pmsd_pbucket_put(&pd->state, name, r->body, false, &r->err);
        rc = pmsd_commit(r, snap, rc, "pbucket.update", name);
    } else {
        rc = pmsd_pbucket_delete(&pd->state, name, &r->err);
        rc = pmsd_commit(r, snap, rc, "pbucket.delete", name);
    }
    if (rc < 0)
        return rc;
    pb = json_object_get(pd->state.pbuckets, name);
    pmsd_reply_json(pd, r->req, 200,
                    pb ? pmsd_pbucket_json(name, pb)
                       : json_pack("{s:s}", "deleted", name));
    return 0;
}

/* GET /v1/pbuckets/NAME/route?key=K: which backend serves K, and the
 * lifecycle rule that applies. */
int pmsd_api_pbucket_route(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    const char *name = r->arg[0], *key = pmsd_query(r, "key");
    const json_t *route, *rule;
    json_t *j;

    if (!key)
        key = "";
    if (!json_object_get(pd->state.pbuckets, name) ||
        !pmsd_pbucket_visible(r, name)) {
        snprintf(r->err.msg, sizeof(r->err.msg), "no pbucket '%.64s'", name);
        return -ENOENT;
    }
    route = pmsd_pbucket_route(&pd->state, name, key);
    if (!route) {
        snprintf(r->err.msg, sizeof(r->err.msg), "no route for '%.200s'", key);
        return -ENOENT;
    }
    rule = pmsd_pbucket_rule(&pd->state, name, key);
    j = json_pack("{s:s, s:s, s:O, s:O}", "pbucket", name, "key", key, "prefix",
                  json_object_get(route, "prefix"), "backend",
                  json_object_get(route, "backend"));
    json_object_set_new(j, "rule", rule ? json_deep_copy(rule) : json_null());
    pmsd_reply_json(pd, r->req, 200, j);
    return 0;
}

/* GET /v1/node/config: everything a node needs to serve, credentials
 * included (node action only). */
int pmsd_api_node_config(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    json_t *j = json_pack(
        "{s:I, s:O, s:O, s:I, s:s}", "epoch", (json_int_t)pd->state.epoch,
        "backends", pd->state.backends, "pbuckets", pd->state.pbuckets,
        "heartbeat_interval_ms", (json_int_t)pd->cfg->heartbeat_interval_ms,
        "config_version", pd->config_version);

    pmsd_audit(pd, r, "node.config", "", 0);
    pmsd_reply_json(pd, r->req, 200, j);
    return 0;
}
