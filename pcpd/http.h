/* SPDX-License-Identifier: MIT */
/*
 * http.h: pcpd's HTTP edge: the dispatcher that routes each request to
 * its handler, and the helpers every handler shares (error replies, the
 * one errno -> status table, request accounting).
 *
 * Threads: everything runs on the worker loop that owns the request.
 */
#ifndef PCPD_HTTP_H
#define PCPD_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "pcpd/metrics.h"

struct evhttp_request;
struct pcpd;
struct pcpd_worker;

/* Sets limits, timeouts and the dispatcher on the worker's evhttp. */
void pcpd_http_setup(struct pcpd_worker *w);

/* The HTTP status and error code for -errno rc (the one table). */
int pcpd_http_status(int rc, const char **code);

/*
 * Sends a JSON error reply {"error": code, "message": msg} and ends the
 * request's accounting (pcpd_http_done).
 */
void pcpd_http_error(struct pcpd *pd, struct evhttp_request *req, int status,
                     const char *code, const char *msg);
/* Counts a finished request's status and drops it from inflight. */
void pcpd_http_done(struct pcpd *pd, int status);

/*
 * Auth hook (auth.c): called for every chunk, metadata and warmup request
 * before any work, with the pbucket, key ("" when none; the prefix of a
 * list) and operation ("read", "write", "list", "delete"). Without pmsd it
 * allows everything. With pmsd the request needs a bearer token that
 * verifies with pmsd's key and grants op on pbucket/key. Returns 0 to
 * allow; otherwise the hook has logged the denial and answered the
 * request (401 Unauthorized or TokenExpired, 403 Forbidden, 503 while the
 * node has no key yet), and the caller must only clean up.
 */
int pcpd_auth_check(struct pcpd *pd, struct evhttp_request *req,
                    const char *pbucket, const char *key, const char *op);

/*
 * A request answered later, after work on another thread (the disk pool,
 * a metadata request): begin watches for the client going away; end
 * stops watching and returns true when the reply may be sent, or false
 * when the client left (the request is freed and counted as 499: send
 * nothing). Both on the request's worker loop.
 */
struct pcpd_defer {
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    bool closed;
};

void pcpd_defer_begin(struct pcpd_defer *d, struct evhttp_request *req);
bool pcpd_defer_end(struct pcpd *pd, struct pcpd_defer *d);

/* Sends a 200 JSON reply of j (a reference is taken over) and ends the
 * request's accounting. */
struct json_t;
void pcpd_http_json(struct pcpd *pd, struct evhttp_request *req, int status,
                    struct json_t *j);

/* Handlers (chunk.c, meta.c, warmup.c, admin.c). Each answers the request. */
void pcpd_chunk_handle(struct pcpd_worker *w, struct evhttp_request *req,
                       const char *path);
void pcpd_admin_metrics(struct pcpd_worker *w, struct evhttp_request *req);
void pcpd_admin_status(struct pcpd_worker *w, struct evhttp_request *req);
/* The statistics a heartbeat reports to pmsd ({"stats": ...}, the format
 * of docs/protocol.md), owned by the caller. Any thread. */
struct json_t;
struct json_t *pcpd_admin_report(struct pcpd *pd);
/* /v1/meta/{pbucket}[/{key}]: the metadata proxy (meta.c). */
void pcpd_meta_handle(struct pcpd_worker *w, struct evhttp_request *req,
                      const char *path);
/* POST /v1/warmup (warmup.c). */
void pcpd_warmup_handle(struct pcpd_worker *w, struct evhttp_request *req);

#endif
