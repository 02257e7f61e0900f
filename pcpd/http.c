/* SPDX-License-Identifier: MIT */
/*
 * http.c: the dispatcher and shared helpers of pcpd's HTTP edge (http.h).
 */
#include "pcpd/http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <jansson.h>
#include <string.h>

#include "common/errmap.h"
#include "common/log.h"
#include "common/tls.h"
#include "pcpd/pcpd.h"

static const struct errmap pcpd_http_errors[] = {
    {ENOENT, 404, "NoSuchKey"},
    {ESTALE, 412, "PreconditionFailed"},
    {ERANGE, 416, "InvalidRange"},
    {EINVAL, 400, "BadRequest"},
    {ENAMETOOLONG, 400, "KeyTooLong"},
    {EMSGSIZE, 413, "TooLarge"},
    {EACCES, 502, "BackendAccessDenied"},
    {EPERM, 403, "Forbidden"},
    {EAGAIN, 503, "SlowDown"},
    {ENOSPC, 503, "NoSpace"},
    {ETIMEDOUT, 504, "BackendTimeout"},
    {ECANCELED, 503, "ShuttingDown"},
};

int pcpd_http_status(int rc, const char **code)
{
    return errmap_status(pcpd_http_errors,
                         sizeof(pcpd_http_errors) / sizeof(pcpd_http_errors[0]),
                         rc, 502, "BackendError", code);
}

void pcpd_http_done(struct pcpd *pd, int status)
{
    int cls = status / 100;

    if (cls >= 1 && cls <= 5)
        PCPD_COUNT(pd, responses[cls], 1);
    __atomic_sub_fetch(&pd->inflight, 1, __ATOMIC_RELAXED);
}

void pcpd_http_error(struct pcpd *pd, struct evhttp_request *req, int status,
                     const char *code, const char *msg)
{
    struct evbuffer *b = evbuffer_new();
    json_t *j =
        json_pack("{s:s, s:s}", "error", code, "message", msg ? msg : "");
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    evbuffer_add_printf(b, "%s\n", text ? text : "{}");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, status, code, b);
    evbuffer_free(b);
    free(text);
    json_decref(j);
    pcpd_http_done(pd, status);
}

static void pcpd_defer_close_cb(struct evhttp_connection *conn, void *arg)
{
    struct pcpd_defer *d = arg;

    /* evhttp has detached the request from the dying connection. */
    d->closed = true;
}

void pcpd_defer_begin(struct pcpd_defer *d, struct evhttp_request *req)
{
    d->req = req;
    d->conn = evhttp_request_get_connection(req);
    d->closed = false;
    if (d->conn)
        evhttp_connection_set_closecb(d->conn, pcpd_defer_close_cb, d);
}

bool pcpd_defer_end(struct pcpd *pd, struct pcpd_defer *d)
{
    if (d->closed) {
        evhttp_request_free(d->req);
        pcpd_http_done(pd, 499);
        return false;
    }
    if (d->conn)
        evhttp_connection_set_closecb(d->conn, NULL, NULL);
    return true;
}

void pcpd_http_json(struct pcpd *pd, struct evhttp_request *req, int status,
                    json_t *j)
{
    struct evbuffer *b = evbuffer_new();
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    evbuffer_add_printf(b, "%s\n", text ? text : "{}");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Done", b);
    evbuffer_free(b);
    free(text);
    json_decref(j);
    pcpd_http_done(pd, status);
}

static void pcpd_http_dispatch_cb(struct evhttp_request *req, void *arg)
{
    struct pcpd_worker *w = arg;
    struct pcpd *pd = w->pd;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    __atomic_add_fetch(&pd->inflight, 1, __ATOMIC_RELAXED);
    if (!path) {
        PCPD_COUNT(pd, requests[PCPD_EP_OTHER], 1);
        pcpd_http_error(pd, req, 400, "BadRequest", "unparsable URI");
        return;
    }
    log_debug(LOG_SUB_HTTP, "http: worker %zu: %s", w->index,
              evhttp_request_get_uri(req));
    if (strncmp(path, "/v1/chunk/", 10) == 0) {
        PCPD_COUNT(pd, requests[PCPD_EP_CHUNK], 1);
        if (cmd != EVHTTP_REQ_GET) {
            pcpd_http_error(pd, req, 405, "MethodNotAllowed", "chunks: GET");
            return;
        }
        pcpd_chunk_handle(w, req, path + 10);
        return;
    }
    if (strncmp(path, "/v1/meta/", 9) == 0) {
        PCPD_COUNT(pd, requests[PCPD_EP_META], 1);
        pcpd_meta_handle(w, req, path + 9);
        return;
    }
    if (strcmp(path, "/v1/warmup") == 0) {
        PCPD_COUNT(pd, requests[PCPD_EP_WARMUP], 1);
        pcpd_warmup_handle(w, req);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        PCPD_COUNT(pd, requests[PCPD_EP_METRICS], 1);
        pcpd_admin_metrics(w, req);
        return;
    }
    if (strcmp(path, "/v1/status") == 0) {
        PCPD_COUNT(pd, requests[PCPD_EP_STATUS], 1);
        pcpd_admin_status(w, req);
        return;
    }
    PCPD_COUNT(pd, requests[PCPD_EP_OTHER], 1);
    pcpd_http_error(pd, req, 404, "NotFound", "no such endpoint");
}

/* libevent writes at most 16 KiB per write event by default, which
 * turns one 8 MiB sendfile into 512 trips round the loop. */
#define PCPD_HTTP_MAX_WRITE (4u << 20)

/*
 * One bufferevent per accepted connection: a plain socket one, or with
 * TLS an OpenSSL one in accepting mode. Replies reach it the same way
 * either way: a hit's file segment is added to a fresh reply buffer, not
 * to a socket's, so libevent maps the file (no sendfile chain, which
 * SSL_write could not read) and the bytes are encrypted from the mapping.
 * test_cluster_tls.py checks hits, ranged ones too, over TLS.
 */
static struct bufferevent *pcpd_http_bev_cb(struct event_base *base, void *arg)
{
    struct pcpd_worker *w = arg;
    void *tls = w->pd->tls_ctx;
    struct bufferevent *bev =
        tls ? tls_accept_bev(base, tls)
            : bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

    if (bev) {
        bufferevent_set_max_single_write(bev, PCPD_HTTP_MAX_WRITE);
        bufferevent_set_max_single_read(bev, 256u << 10);
    }
    return bev;
}

void pcpd_http_setup(struct pcpd_worker *w)
{
    const struct pcpd_config *cfg = w->pd->cfg;
    struct timeval tv = {(time_t)(cfg->http_timeout_ms / 1000),
                         (suseconds_t)(cfg->http_timeout_ms % 1000) * 1000};

    evhttp_set_max_headers_size(w->http, (ev_ssize_t)cfg->max_header_size);
    evhttp_set_max_body_size(w->http, (ev_ssize_t)cfg->max_body_size);
    /* Idle reads and writes: a slowloris or a client that stops reading
     * loses its connection, nothing else. */
    evhttp_set_timeout_tv(w->http, &tv);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_DELETE);
    evhttp_set_default_content_type(w->http, "application/octet-stream");
    evhttp_set_gencb(w->http, pcpd_http_dispatch_cb, w);
    evhttp_set_bevcb(w->http, pcpd_http_bev_cb, w);
}
