/* SPDX-License-Identifier: MIT */
/*
 * http.c: pmsd's HTTP edge: the route table, the dispatcher (parse the
 * path, the query and the JSON body, authenticate, check the role), the
 * one errno -> status table, and the reply helpers.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmap.h"
#include "common/log.h"
#include "common/mem.h"
#include "pmsd/pmsd.h"

/* Who may call a route, checked before the handler runs. */
enum pmsd_role {
    PMSD_ROLE_NONE,   /* anyone */
    PMSD_ROLE_ANY,    /* any valid credentials */
    PMSD_ROLE_ADMIN,  /* admin on "*" */
    PMSD_ROLE_NODE,   /* node on "*" */
    PMSD_ROLE_SIGNED, /* a signed request, not a token (/v1/token) */
};

struct pmsd_route {
    const char *pattern; /* '{}' is one path segment argument */
    int methods;         /* EVHTTP_REQ_* allowed */
    enum pmsd_role role;
    int (*handler)(struct pmsd_req *r);
};

#define GET    EVHTTP_REQ_GET
#define POST   EVHTTP_REQ_POST
#define PUT    EVHTTP_REQ_PUT
#define DELETE EVHTTP_REQ_DELETE

/* Roles finer than this table (node or admin, a pbucket reader) are
 * checked by the handler. */
static const struct pmsd_route pmsd_routes[] = {
    {"/v1/nodes", GET | POST, PMSD_ROLE_ANY, NULL},
    {"/v1/nodes/{}", DELETE, PMSD_ROLE_ANY, pmsd_api_node_delete},
    {"/v1/nodes/{}/heartbeat", PUT | POST, PMSD_ROLE_NODE,
     pmsd_api_node_heartbeat},
    {"/v1/node/config", GET, PMSD_ROLE_NODE, pmsd_api_node_config},
    {"/v1/backends", GET | POST, PMSD_ROLE_ADMIN, pmsd_api_backends},
    {"/v1/backends/{}", GET | PUT | DELETE, PMSD_ROLE_ADMIN, pmsd_api_backend},
    {"/v1/pbuckets", GET | POST, PMSD_ROLE_ANY, pmsd_api_pbuckets},
    {"/v1/pbuckets/{}", GET | PUT | DELETE, PMSD_ROLE_ANY, pmsd_api_pbucket},
    {"/v1/pbuckets/{}/route", GET, PMSD_ROLE_ANY, pmsd_api_pbucket_route},
    {"/v1/users", GET | POST, PMSD_ROLE_ADMIN, pmsd_api_users},
    {"/v1/users/{}", GET | PUT | DELETE, PMSD_ROLE_ADMIN, pmsd_api_user},
    {"/v1/users/{}/keys", GET | POST, PMSD_ROLE_ADMIN, pmsd_api_user_keys},
    {"/v1/users/{}/keys/{}", DELETE, PMSD_ROLE_ADMIN, pmsd_api_user_key},
    {"/v1/policies", GET | POST, PMSD_ROLE_ADMIN, pmsd_api_policies},
    {"/v1/policies/{}", GET | PUT | DELETE, PMSD_ROLE_ADMIN, pmsd_api_policy},
    {"/v1/token", POST, PMSD_ROLE_SIGNED, pmsd_api_token},
    {"/v1/whoami", GET, PMSD_ROLE_ANY, pmsd_api_whoami},
    {"/v1/pubkey", GET, PMSD_ROLE_NONE, pmsd_api_pubkey},
    {"/v1/status", GET, PMSD_ROLE_NONE, pmsd_api_status},
    {"/metrics", GET, PMSD_ROLE_NONE, pmsd_api_metrics},
    {"/", GET, PMSD_ROLE_NONE, pmsd_status_page},
};

static const struct errmap pmsd_http_errors[] = {
    {EINVAL, 400, "BadRequest"},
    {EACCES, 401, "Unauthorized"},
    {EKEYEXPIRED, 401, "TokenExpired"},
    {EPERM, 403, "Forbidden"},
    {ENOENT, 404, "NotFound"},
    {EOPNOTSUPP, 405, "MethodNotAllowed"},
    {EEXIST, 409, "Exists"},
    {EBUSY, 409, "InUse"},
    {EMSGSIZE, 413, "TooLarge"},
    {E2BIG, 413, "TooMany"},
    {EAGAIN, 503, "SlowDown"},
    {EIO, 500, "StateNotSaved"},
};

int pmsd_http_status(int rc, const char **code)
{
    return errmap_status(pmsd_http_errors,
                         sizeof(pmsd_http_errors) / sizeof(pmsd_http_errors[0]),
                         rc, 500, "InternalError", code);
}

void pmsd_reply_json(struct pmsd *pd, struct evhttp_request *req, int status,
                     json_t *j)
{
    struct evbuffer *b = evbuffer_new();
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    evbuffer_add_printf(b, "%s\n", text ? text : "{}");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
                      "no-store");
    evhttp_send_reply(req, status, NULL, b);
    evbuffer_free(b);
    free(text);
    json_decref(j);
    if (status / 100 >= 1 && status / 100 <= 5)
        pd->n.responses[status / 100]++;
}

void pmsd_reply_error(struct pmsd *pd, struct evhttp_request *req, int rc,
                      const char *msg)
{
    const char *code;
    int status = pmsd_http_status(rc, &code);

    if (rc == -EACCES || rc == -EKEYEXPIRED)
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "WWW-Authenticate", "Bearer realm=\"pmsd\"");
    pmsd_reply_json(pd, req, status,
                    json_pack("{s:s, s:s}", "error", code, "message",
                              msg && msg[0] ? msg : strerror(-rc)));
}

const char *pmsd_query(const struct pmsd_req *r, const char *name)
{
    return r->query ? evhttp_find_header(r->query, name) : NULL;
}

const char *pmsd_who(const struct pmsd_req *r)
{
    return r->authed && r->tok.subject ? r->tok.subject : "-";
}

/* Matches path against pattern; fills r->arg (decoded). 1 on a match. */
static int pmsd_route_match(const char *pattern, const char *path,
                            struct pmsd_req *r)
{
    const char *p = pattern, *s = path, *end;
    int nargs = 0;

    while (*p && *s) {
        if (strncmp(p, "{}", 2) == 0) {
            end = strchr(s, '/');
            if (!end)
                end = s + strlen(s);
            if (end == s || nargs == 2)
                goto no;
            {
                char *raw = xstrndup(s, (size_t)(end - s));
                r->arg[nargs++] = evhttp_uridecode(raw, 0, NULL);
                free(raw);
            }
            s = end;
            p += 2;
            continue;
        }
        if (*p != *s)
            goto no;
        p++;
        s++;
    }
    if (*p == '\0' && *s == '\0')
        return 1;
no:
    while (nargs > 0) {
        free(r->arg[--nargs]);
        r->arg[nargs] = NULL;
    }
    return 0;
}

/* Reads the JSON body, if any, capped by max_body_size (evhttp enforces
 * it too). 0, -EMSGSIZE or -EINVAL. */
static int pmsd_read_body(struct pmsd_req *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t n = evbuffer_get_length(in);
    json_error_t jerr;
    char *data;

    if (n == 0)
        return 0;
    if (n > r->pd->cfg->max_body_size)
        return -EMSGSIZE;
    data = xmalloc(n);
    evbuffer_remove(in, data, n);
    r->body = json_loadb(data, n, JSON_REJECT_DUPLICATES, &jerr);
    free(data);
    if (!r->body) {
        snprintf(r->err.msg, sizeof(r->err.msg),
                 "malformed JSON: %s (line "
                 "%d)",
                 jerr.text, jerr.line);
        return -EINVAL;
    }
    return 0;
}

static int pmsd_role_check(struct pmsd_req *r, enum pmsd_role role,
                           bool signed_req)
{
    int rc;

    if (role == PMSD_ROLE_NONE)
        return 0;
    rc = pmsd_auth(r);
    if (rc == -ENOENT) {
        snprintf(r->err.msg, sizeof(r->err.msg),
                 "credentials required (Authorization header)");
        rc = -EACCES;
    }
    if (rc < 0) {
        r->pd->n.auth_failures++;
        return rc;
    }
    if (role == PMSD_ROLE_SIGNED && !signed_req) {
        snprintf(r->err.msg, sizeof(r->err.msg),
                 "tokens are issued for signed requests only");
        return -EACCES;
    }
    if ((role == PMSD_ROLE_ADMIN &&
         !token_allows_global(&r->tok, TOKEN_ACT_ADMIN)) ||
        (role == PMSD_ROLE_NODE &&
         !token_allows_global(&r->tok, TOKEN_ACT_NODE))) {
        snprintf(r->err.msg, sizeof(r->err.msg), "%s may not do this",
                 pmsd_who(r));
        r->pd->n.denied++;
        log_info("denied: %s from %s: %s %s", pmsd_who(r), r->peer,
                 role == PMSD_ROLE_ADMIN ? "admin" : "node", r->path);
        return -EPERM;
    }
    return 0;
}

static void pmsd_req_fini(struct pmsd_req *r)
{
    free(r->arg[0]);
    free(r->arg[1]);
    if (r->query) {
        evhttp_clear_headers(r->query);
        free(r->query);
    }
    json_decref(r->body);
    token_fini(&r->tok);
}

/* GET and POST /v1/nodes share a path but not a role. */
static int pmsd_nodes_root(struct pmsd_req *r)
{
    return r->method == EVHTTP_REQ_GET ? pmsd_api_nodes_list(r)
                                       : pmsd_api_node_register(r);
}

static int pmsd_dispatch(struct pmsd_req *r, const char *auth_hdr)
{
    const struct pmsd_route *rt = NULL;
    size_t i;
    int rc;

    for (i = 0; i < sizeof(pmsd_routes) / sizeof(pmsd_routes[0]); i++) {
        if (pmsd_route_match(pmsd_routes[i].pattern, r->path, r)) {
            rt = &pmsd_routes[i];
            break;
        }
    }
    if (!rt) {
        snprintf(r->err.msg, sizeof(r->err.msg), "no such endpoint");
        return -ENOENT;
    }
    if (!(rt->methods & r->method)) {
        snprintf(r->err.msg, sizeof(r->err.msg), "method not allowed here");
        return -EOPNOTSUPP;
    }
    rc = pmsd_read_body(r);
    if (rc == 0)
        rc = pmsd_role_check(
            r, rt->role,
            auth_hdr && strncmp(auth_hdr, "PCACHE-HMAC-SHA256 ", 19) == 0);
    if (rc == 0 && rt->handler == NULL && r->method == EVHTTP_REQ_POST &&
        !token_allows_global(&r->tok, TOKEN_ACT_NODE)) {
        snprintf(r->err.msg, sizeof(r->err.msg),
                 "registering needs the "
                 "node action");
        rc = -EPERM;
    }
    if (rc < 0 && rt->handler == pmsd_api_token) {
        /* Refused token requests are audited too, by access key. */
        const char *cred = auth_hdr ? strstr(auth_hdr, "Credential=") : NULL;
        char ak[72] = "";
        if (cred)
            snprintf(ak, sizeof(ak), "%.*s", (int)strcspn(cred + 11, ", "),
                     cred + 11);
        pmsd_audit(r->pd, r, "token.issue", ak, rc);
    }
    if (rc < 0)
        return rc;
    return rt->handler ? rt->handler(r) : pmsd_nodes_root(r);
}

static void pmsd_http_dispatch_cb(struct evhttp_request *req, void *arg)
{
    struct pmsd *pd = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *q, *auth;
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct pmsd_req r;
    char *host = NULL;
    ev_uint16_t port = 0;
    int rc;

    memset(&r, 0, sizeof(r));
    r.pd = pd;
    r.req = req;
    r.method = (int)evhttp_request_get_command(req);
    token_init(&r.tok);
    pd->n.requests++;
    if (conn) {
        evhttp_connection_get_peer(conn, &host, &port);
        snprintf(r.peer, sizeof(r.peer), "%s:%u", host ? host : "?", port);
    }
    r.path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!r.path) {
        pmsd_reply_error(pd, req, -EINVAL, "unparsable URI");
        return;
    }
    q = evhttp_uri_get_query(uri);
    r.query = xcalloc(1, sizeof(*r.query));
    r.query->tqh_first = NULL;
    r.query->tqh_last = &r.query->tqh_first;
    if (q && evhttp_parse_query_str(q, r.query) < 0) {
        pmsd_reply_error(pd, req, -EINVAL, "unparsable query");
        pmsd_req_fini(&r);
        return;
    }
    log_debug(LOG_SUB_HTTP, "http: %s %s", r.peer, evhttp_request_get_uri(req));
    auth = evhttp_find_header(evhttp_request_get_input_headers(req),
                              "Authorization");
    rc = pmsd_dispatch(&r, auth);
    if (rc < 0)
        pmsd_reply_error(pd, req, rc, r.err.msg);
    pmsd_req_fini(&r);
}

void pmsd_http_setup(struct pmsd *pd)
{
    const struct pmsd_config *cfg = pd->cfg;
    struct timeval tv = {(time_t)(cfg->http_timeout_ms / 1000),
                         (suseconds_t)(cfg->http_timeout_ms % 1000) * 1000};

    evhttp_set_max_headers_size(pd->http, (ev_ssize_t)cfg->max_header_size);
    evhttp_set_max_body_size(pd->http, (ev_ssize_t)cfg->max_body_size);
    evhttp_set_timeout_tv(pd->http, &tv);
    /* Every method libevent knows reaches the dispatcher, which answers
     * 405 where a route does not take it. */
    evhttp_set_allowed_methods(
        pd->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                      EVHTTP_REQ_POST | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                      EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                      EVHTTP_REQ_CONNECT);
    evhttp_set_default_content_type(pd->http, "application/json");
    evhttp_set_gencb(pd->http, pmsd_http_dispatch_cb, pd);
}
