/* SPDX-License-Identifier: MIT */
/*
 * pmsd.h: the metadata service's context, shared by its modules.
 *
 * DESIGN: pmsd is one thread, one event loop, one housekeeping timer (as
 * redis's serverCron): the timer expires nodes that missed their
 * heartbeats, answers long-polls whose wait is over and forgets old
 * request nonces. Every request is handled to completion on the loop,
 * except long-polls, which are parked in the waiter list until the epoch
 * changes or their deadline passes. The state is small (control plane),
 * so every change is saved synchronously before the reply: a reply that
 * says "done" means the change is on disk (or in etcd).
 *
 * Nothing here is global: main.c builds one struct pmsd and passes it.
 * Owner: the loop thread, for every field.
 */
#ifndef PMSD_PMSD_H
#define PMSD_PMSD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/token.h"
#include "pmsd/config.h"
#include "pmsd/state.h"

struct event;
struct event_base;
struct evhttp;
struct evhttp_request;
struct pmsd_store;
struct evkeyvalq;

/* A parked long-poll (GET /v1/nodes?wait_epoch=N). */
struct pmsd_waiter {
    struct evhttp_request *req; /* owned by libevent until we reply */
    uint64_t deadline_ms;
    bool all; /* ?all=1: include nodes that are not live */
};

struct pmsd_counters {
    uint64_t requests;
    uint64_t responses[6]; /* by status class, [2] = 2xx */
    uint64_t tokens_issued;
    uint64_t auth_failures;
    uint64_t denied;
    uint64_t saves;
    uint64_t save_failures;
    uint64_t expired_nodes;
};

struct pmsd {
    const struct pmsd_config *cfg; /* borrowed */
    struct event_base *base;
    struct evhttp *http;
    struct event *tick_ev;
    void *tls_ctx; /* SSL_CTX when TLS is on */
    struct pmsd_state state;
    struct pmsd_store *store;
    struct token_key *key; /* the signing key */
    char kid[TOKEN_KID_LEN + 1];
    char *audit_path; /* owned */
    int audit_fd;
    struct pmsd_waiter *waiters; /* owned array */
    size_t nwaiters;
    json_t *nonces; /* "ak:nonce" -> expiry (monotonic ms) */
    uint64_t start_ms;
    /* "<boot id>-<n>": changes with every change of backends, pbuckets,
     * users or policies (and at every start), so a node re-reads
     * /v1/node/config when its heartbeat reply shows another one. */
    char config_version[40];
    uint32_t boot_id;
    uint64_t config_gen;
    uint64_t last_nonce_sweep_ms;
    uint64_t last_store_poll_ms;
    struct pmsd_counters n;
    /* id -> {"stats": the optional "stats" of the node's last heartbeat,
     * "at_ms"}; advisory, for the status page only, not persisted. NULL
     * until a node reports. Owned. */
    json_t *node_stats;
};

/* ---- http.c: the edge ---- */

/* One request being handled: what the dispatcher parsed for the handler. */
struct pmsd_req {
    struct pmsd *pd;
    struct evhttp_request *req;
    int method;              /* enum evhttp_cmd_type */
    const char *path;        /* borrowed from the URI */
    char *arg[2];            /* owned: decoded {name} path segments */
    struct evkeyvalq *query; /* owned */
    json_t *body;            /* owned: parsed JSON body, NULL when none */
    bool authed;
    struct token tok; /* the caller's identity and scopes when authed */
    char peer[80];    /* "ip:port" */
    struct pmsd_error err;
};

#define PMSD_PARKED 1 /* a handler kept the request (long-poll) */

/* Sets limits and the dispatcher on pd->http. */
void pmsd_http_setup(struct pmsd *pd);
/* The status and code for -errno rc (the one table). */
int pmsd_http_status(int rc, const char **code);
/* Replies with JSON (steals j) and status; counts it. */
void pmsd_reply_json(struct pmsd *pd, struct evhttp_request *req, int status,
                     json_t *j);
/* Replies {"error": code, "message": msg} for rc. */
void pmsd_reply_error(struct pmsd *pd, struct evhttp_request *req, int rc,
                      const char *msg);
/* A query parameter of r, borrowed, or NULL. */
const char *pmsd_query(const struct pmsd_req *r, const char *name);
/* Who made the request, for logs and the audit: the token's subject. */
const char *pmsd_who(const struct pmsd_req *r);

/* ---- handlers: 0 replied, PMSD_PARKED, or -errno (dispatcher replies
 * with r->err.msg) ---- */
int pmsd_api_nodes_list(struct pmsd_req *r);
int pmsd_api_node_register(struct pmsd_req *r);
int pmsd_api_node_heartbeat(struct pmsd_req *r);
int pmsd_api_node_delete(struct pmsd_req *r);
int pmsd_api_node_config(struct pmsd_req *r);
int pmsd_api_backends(struct pmsd_req *r);
int pmsd_api_backend(struct pmsd_req *r);
int pmsd_api_pbuckets(struct pmsd_req *r);
int pmsd_api_pbucket(struct pmsd_req *r);
int pmsd_api_pbucket_route(struct pmsd_req *r);
int pmsd_api_users(struct pmsd_req *r);
int pmsd_api_user(struct pmsd_req *r);
int pmsd_api_user_keys(struct pmsd_req *r);
int pmsd_api_user_key(struct pmsd_req *r);
int pmsd_api_policies(struct pmsd_req *r);
int pmsd_api_policy(struct pmsd_req *r);
int pmsd_api_token(struct pmsd_req *r);
int pmsd_api_pubkey(struct pmsd_req *r);
int pmsd_api_status(struct pmsd_req *r);
int pmsd_api_metrics(struct pmsd_req *r);
int pmsd_api_whoami(struct pmsd_req *r);

/* ---- status_page.c ---- */

/* GET /: the HTML status page. */
int pmsd_status_page(struct pmsd_req *r);
/* Keeps body's optional "stats" object (a heartbeat's) for node id;
 * anything else is ignored. body is borrowed. */
void pmsd_status_node_report(struct pmsd *pd, const char *id,
                             const json_t *body);
/* Drops what node id reported (it deregistered). */
void pmsd_status_node_forget(struct pmsd *pd, const char *id);

/* ---- auth.c ---- */

/*
 * Authenticates r from its Authorization header: "Bearer TOKEN" (checked
 * with pmsd's key) or "PCACHE-HMAC-SHA256 Credential=AK, Timestamp=T,
 * Nonce=N, Signature=HEX" (the user's current policies become the
 * scopes). 0 with r->authed set, -ENOENT without a header, -EACCES (bad
 * credentials), -EKEYEXPIRED, -EAGAIN (nonce memory full).
 */
int pmsd_auth(struct pmsd_req *r);
/* Forgets nonces older than the skew window. */
void pmsd_auth_sweep(struct pmsd *pd, uint64_t now_ms);
/* Random access key ("PK" + 18 base32) and secret (40 base64url). */
void pmsd_auth_new_key(char ak[32], char sk[64]);

/* ---- nodes.c (membership housekeeping) ---- */

/* Answers parked long-polls: all of them when the epoch changed, else
 * those past their deadline. */
void pmsd_waiters_run(struct pmsd *pd, bool changed);
/* The housekeeping tick: expiry, waiters, nonces. */
void pmsd_housekeeping(struct pmsd *pd);

/* ---- persist.c ---- */

/* Saves the state. 0, -EIO (logged, counted) or -ESTALE (another pmsd
 * saved first; the shared state has been read again). */
int pmsd_save(struct pmsd *pd);
/* Marks a configuration change (config_version). */
void pmsd_config_changed(struct pmsd *pd);
/* Shared store: reads the state again when another pmsd changed it. */
void pmsd_store_poll(struct pmsd *pd);
/* The state before a change (new reference), for pmsd_commit. */
json_t *pmsd_snapshot(struct pmsd *pd);
/*
 * Ends a change: rc is the mutation's result. On 0 the state is saved; a
 * failed save restores snap and gives -EIO. The outcome is audited as
 * action on target. Steals snap. Returns the final rc.
 */
int pmsd_commit(struct pmsd_req *r, json_t *snap, int rc, const char *action,
                const char *target);
/* Appends one audit line: who (from where) did what to what, and result. */
void pmsd_audit(struct pmsd *pd, const struct pmsd_req *r, const char *action,
                const char *target, int rc);

#endif
