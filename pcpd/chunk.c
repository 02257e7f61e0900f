/* SPDX-License-Identifier: MIT */
/*
 * chunk.c: GET /v1/chunk/<pbucket>/<key>?etag=&index=&chunk_size=
 *
 * DESIGN
 * A hit is answered at once: the fastest tier with a good copy of the
 * range gives a file descriptor, and the range goes out with
 * evbuffer_add_file (sendfile: no byte is copied in user space). Tier-0
 * files stay open in the worker's file cache (fdcache.h) with the blocks
 * verified through them, so a repeated hit costs one fstat, and hashes
 * only blocks not verified since the file last changed
 * (docs/internals/hit-cache.md).
 *
 * A miss joins the chunk's flight (flight.h), starting it when it is the
 * first: one ranged GET with If-Match on this worker's S3 client for the
 * routed backend, streamed into the flight's buffer. Every request on
 * the flight, on any worker, is a struct pcpd_creq whose waiter event is
 * activated as bytes arrive; it then sends what it has not sent yet by
 * reference into the flight's buffer. A whole-chunk reply starts with the
 * first bytes (chunked encoding: the chunk's length is only known at the
 * end); a ranged reply starts once its range is in memory. When the GET
 * ends, a pool job writes the chunk into the fastest tier, and only then
 * does the flight leave the table, so no request can miss the chunk in
 * both places and start a second GET.
 *
 * A request is in one of three states, set only by pcpd_creq_set_state():
 * WAITING (nothing sent), STREAMING (headers sent), DONE (answered or
 * dropped; freed).
 */
#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "common/s3.h"
#include "pcpd/fdcache.h"
#include "pcpd/flight.h"
#include "pcpd/hot.h"
#include "pcpd/http.h"
#include "pcpd/pcpd.h"
#include "pcpd/pool.h"
#include "pcpd/request.h"

enum pcpd_creq_state {
    PCPD_CREQ_WAITING,
    PCPD_CREQ_STREAMING,
    PCPD_CREQ_DONE,
};

static const char *const pcpd_creq_state_names[] = {"waiting", "streaming",
                                                    "done"};

/* One chunk request served from a flight. Owned by its worker's loop. */
struct pcpd_creq {
    struct pcpd_worker *w;
    size_t pb; /* pbstats slot */
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    struct pcpd_flight *flight; /* a reference */
    struct pcpd_flight_waiter waiter;
    struct pcpd_range range;
    bool ranged;
    bool joined;   /* another request started the flight */
    bool closed;   /* the connection went away */
    bool aborting; /* we are closing the connection ourselves */
    enum pcpd_creq_state state;
    uint64_t sent; /* next byte of the chunk to send */
    uint64_t end;  /* end of the reply's bytes; UINT64_MAX until known */
    int status;
};

/* One backend GET; owned by the worker that started it. */
struct pcpd_fetch {
    struct pcpd_worker *w;
    size_t pb;                  /* pbstats slot */
    struct pcpd_flight *flight; /* a reference */
    struct s3_sink sink;
    char etag[PCPD_ETAG_MAX + 3];
    uint64_t t0;
};

static void pcpd_creq_set_state(struct pcpd_creq *c, enum pcpd_creq_state s)
{
    /* Forward only: WAITING -> STREAMING -> DONE, or WAITING -> DONE. */
    assert(s > c->state);
    log_debug(LOG_SUB_HTTP, "chunk: request %p: %s -> %s", (void *)c,
              pcpd_creq_state_names[c->state], pcpd_creq_state_names[s]);
    c->state = s;
}

/* ---- Replies ---------------------------------------------------------- */

static void pcpd_chunk_headers(struct evhttp_request *req, const char *cache,
                               const char *tier, const struct chunk_id *id)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char hex[CHUNK_ID_HEX_LEN + 1];

    chunk_id_hex(id, hex);
    evhttp_add_header(h, "Content-Type", "application/octet-stream");
    evhttp_add_header(h, "X-Pcache-Cache", cache);
    evhttp_add_header(h, "X-Pcache-Tier", tier);
    evhttp_add_header(h, "X-Pcache-Chunk", hex);
    evhttp_add_header(h, "Accept-Ranges", "bytes");
}

static void pcpd_content_range(struct evhttp_request *req, uint64_t off,
                               uint64_t n, int64_t total)
{
    char v[96];

    if (total >= 0)
        snprintf(v, sizeof(v), "bytes %" PRIu64 "-%" PRIu64 "/%" PRId64, off,
                 off + n - 1, total);
    else
        snprintf(v, sizeof(v), "bytes %" PRIu64 "-%" PRIu64 "/*", off,
                 off + n - 1);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Range",
                      v);
}

static void pcpd_reply_416(struct pcpd *pd, struct evhttp_request *req,
                           uint64_t len)
{
    char v[64];

    snprintf(v, sizeof(v), "bytes */%" PRIu64, len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Range",
                      v);
    pcpd_http_error(pd, req, 416, "InvalidRange",
                    "the range is outside the chunk");
}

static void pcpd_reply_rc(struct pcpd *pd, struct evhttp_request *req, int rc,
                          const char *msg)
{
    const char *code;
    int status = pcpd_http_status(rc, &code);

    pcpd_http_error(pd, req, status, code, msg && *msg ? msg : strerror(-rc));
}

/* ---- Hits -------------------------------------------------------------- */

/* Replies of at least this many bytes have their blocks checked on the
 * disk pool, so a worker never hashes a whole chunk between two sends. */
#define PCPD_VERIFY_ON_POOL (1u << 20)

/* A hit found in a tier: what to send, and from where. */
struct pcpd_hit {
    struct pcpd_worker *w;
    size_t pb;                 /* pbstats slot */
    struct pcpd_defer defer;   /* while the pool checks the blocks */
    struct pcpd_chunk_ref ref; /* owned: for a refetch after -EIO */
    struct chunk_id id;
    bool ranged;
    struct pcpd_range range;
    int fd; /* owned */
    uint64_t data_off, len, off, n;
    size_t tier;
    int rc;                  /* of the pool's check */
    bool have_st;            /* st and checked are set (tier 0 only) */
    struct stat st;          /* of fd, before its blocks were checked */
    struct timespec checked; /* realtime of st */
};

static void pcpd_chunk_lookup(struct pcpd_worker *w, struct evhttp_request *req,
                              struct pcpd_chunk_ref *ref,
                              const struct chunk_id *id, bool ranged,
                              const struct pcpd_range *range);

/* A copy up of a chunk read often on a slower tier (a pool job). */
struct pcpd_promote {
    struct pcpd *pd;
    struct chunk_id id;
    size_t tier;
};

static void pcpd_promote_job(void *arg)
{
    struct pcpd_promote *p = arg;

    pcpd_tiers_promote(&p->pd->tiers, p->tier, &p->id);
    __atomic_sub_fetch(&p->pd->jobs, 1, __ATOMIC_RELAXED);
    free(p);
}

static void pcpd_chunk_maybe_promote(struct pcpd *pd, size_t tier,
                                     const struct chunk_id *id)
{
    struct pcpd_promote *p;

    if (tier == 0 || !pcpd_tiers_want_promote(&pd->tiers, tier, id,
                                              (uint32_t)pd->cfg->promote_hits))
        return;
    p = xcalloc(1, sizeof(*p));
    p->pd = pd;
    p->id = *id;
    p->tier = tier;
    __atomic_add_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
    if (pcpd_pool_submit(pd->pool, pcpd_promote_job, NULL, p, NULL) < 0) {
        /* The pool is full: the next hits will ask again. */
        pcpd_tiers_promote_cancel(&pd->tiers, id);
        __atomic_sub_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
        free(p);
    }
}

/* Sends bytes [off, off + n) of a hit's data, from e's file (borrowed:
 * the reply takes a reference to its segment) or else from fd (handed to
 * the reply). */
static void pcpd_hit_reply(struct pcpd_worker *w, struct evhttp_request *req,
                           size_t pb, size_t tier, const struct chunk_id *id,
                           bool ranged, struct pcpd_fdc_entry *e, int fd,
                           uint64_t data_off, uint64_t len, uint64_t off,
                           uint64_t n)
{
    struct pcpd *pd = w->pd;
    int status = ranged ? 206 : 200;
    struct evbuffer *b;
    int rc = 0;

    if (ranged)
        pcpd_content_range(req, off, n, (int64_t)len);
    pcpd_chunk_headers(req, "hit", pd->tiers.v[tier].name, id);
    b = evbuffer_new();
    if (e) {
        if (n > 0)
            rc = evbuffer_add_file_segment(
                b, e->seg, (ev_off_t)(data_off + off), (ev_off_t)n);
    } else if (n == 0) {
        close(fd);
    } else {
        /* evbuffer_add_file closes fd on failure too. */
        rc = evbuffer_add_file(b, fd, (ev_off_t)(data_off + off), (ev_off_t)n);
    }
    if (rc < 0) {
        evbuffer_free(b);
        pcpd_http_error(pd, req, 500, "InternalError", "cannot send the file");
        return;
    }
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Partial Content", b);
    evbuffer_free(b);
    PCPD_COUNT(pd, chunk_hits, 1);
    __atomic_add_fetch(&pd->tiers.v[tier].hit_bytes, n, __ATOMIC_RELAXED);
    PCPD_PB_COUNT(pd, pb, served, n);
    pcpd_http_done(pd, status);
    pcpd_chunk_maybe_promote(pd, tier, id);
}

/* Sends the hit (its fd handed to the reply, or to the worker's file
 * cache) and frees h. */
static void pcpd_hit_send(struct pcpd_hit *h, struct evhttp_request *req)
{
    struct pcpd_fdc_entry *e = NULL;

    if (h->tier == 0 && h->have_st)
        e = pcpd_fdc_insert(h->w->fdc, &h->id, h->fd, h->data_off, h->len,
                            &h->st, &h->checked, h->off, h->n, monotime_ms());
    pcpd_hit_reply(h->w, req, h->pb, h->tier, &h->id, h->ranged, e,
                   e ? -1 : h->fd, h->data_off, h->len, h->off, h->n);
    pcpd_chunk_ref_fini(&h->ref);
    free(h);
}

static void pcpd_hit_verify_job(void *arg)
{
    struct pcpd_hit *h = arg;

    h->rc = store_verify_fd(h->w->pd->tiers.v[h->tier].store, &h->id, h->fd,
                            h->off, h->n);
}

static void pcpd_hit_verify_done_cb(void *arg)
{
    struct pcpd_hit *h = arg;
    struct evhttp_request *req = h->defer.req;

    if (!pcpd_defer_end(h->w->pd, &h->defer)) {
        close(h->fd);
        pcpd_chunk_ref_fini(&h->ref);
        free(h);
        return;
    }
    if (h->rc == 0) {
        pcpd_hit_send(h, req);
        return;
    }
    /* The copy was bad and is gone: look again (another tier, else the
     * backend), as if the request had just come in. */
    close(h->fd);
    pcpd_chunk_lookup(h->w, req, &h->ref, &h->id, h->ranged, &h->range);
    pcpd_chunk_ref_fini(&h->ref);
    free(h);
}

/*
 * A hit from the worker's file cache (fdcache.h): no open, no header read,
 * no hashing of blocks already verified since the file last changed.
 * 0 when answered; -ENOENT when the cache cannot answer (the entry is
 * dropped if stale; nothing sent).
 */
static int pcpd_chunk_hit_cached(struct pcpd_worker *w,
                                 struct evhttp_request *req, size_t pb,
                                 const struct chunk_id *id, bool ranged,
                                 const struct pcpd_range *range)
{
    struct pcpd *pd = w->pd;
    struct pcpd_fdc_entry *e = pcpd_fdc_find(w->fdc, id);
    uint64_t now, off = 0, n, doff, len;
    struct stat st;
    int fd, rc;

    if (!e)
        return -ENOENT;
    now = monotime_ms();
    if (!pcpd_fdc_valid(e, now))
        goto stale;
    if (now - e->touched_ms >= PCPD_FDC_TOUCH_MS) {
        /* Tell the store's eviction policy about the hits (at most once a
         * second), and check the store still has this very file. */
        rc = store_open_range(pd->tiers.v[0].store, id, UINT64_MAX, 0, &fd,
                              &doff, &len);
        if (rc < 0)
            goto stale;
        rc = fstat(fd, &st);
        close(fd);
        if (rc < 0 || !pcpd_fdc_same(e, &st))
            goto stale;
        e->touched_ms = now;
    }
    n = e->len;
    if (ranged && pcpd_range_resolve(range, e->len, &off, &n) < 0) {
        pcpd_reply_416(pd, req, e->len);
        return 0;
    }
    if (!pcpd_fdc_verified(e, off, n)) {
        if (n >= PCPD_VERIFY_ON_POOL)
            goto stale; /* the slow path checks it on the pool */
        rc = store_verify_fd(pd->tiers.v[0].store, id, e->fd, off, n);
        if (rc < 0)
            goto stale; /* -EIO: the store dropped the chunk */
        pcpd_fdc_mark(e, off, n);
    }
    __atomic_add_fetch(&pd->tiers.v[0].hits, 1, __ATOMIC_RELAXED);
    pcpd_hit_reply(w, req, pb, 0, id, ranged, e, -1, e->data_off, e->len, off,
                   n);
    return 0;
stale:
    pcpd_fdc_drop(w->fdc, e);
    return -ENOENT;
}

/*
 * Serves the chunk from a tier if one has it. 0 when answered (or handed
 * to the pool to be checked, then answered), -ENOENT on a miss (nothing
 * sent). ref is taken over (moved) only when the pool gets the request.
 */
static int pcpd_chunk_hit(struct pcpd_worker *w, struct evhttp_request *req,
                          struct pcpd_chunk_ref *ref, const struct chunk_id *id,
                          bool ranged, const struct pcpd_range *range)
{
    struct pcpd *pd = w->pd;
    size_t pb = pcpd_pbstat_slot(pd, ref->pbucket);
    struct pcpd_hit *h;
    int rc;

    if (pcpd_chunk_hit_cached(w, req, pb, id, ranged, range) == 0)
        return 0;
    /* Opened unchecked (header and size only): the file's identity is
     * taken before its blocks are checked, so the file cache never trusts
     * a block checked before the file changed. */
    h = xcalloc(1, sizeof(*h));
    rc = pcpd_tiers_open_range(&pd->tiers, id, 0, 0, &h->fd, &h->data_off,
                               &h->len, &h->tier);
    if (rc < 0) {
        free(h);
        return rc;
    }
    h->w = w;
    h->pb = pb;
    h->id = *id;
    h->ranged = ranged;
    if (ranged)
        h->range = *range;
    h->n = h->len;
    if (ranged && pcpd_range_resolve(range, h->len, &h->off, &h->n) < 0) {
        close(h->fd);
        pcpd_reply_416(pd, req, h->len);
        free(h);
        return 0;
    }
    if (h->tier == 0 && fstat(h->fd, &h->st) == 0 &&
        clock_gettime(CLOCK_REALTIME, &h->checked) == 0)
        h->have_st = true;
    if (h->n >= PCPD_VERIFY_ON_POOL) {
        h->ref = *ref;
        pcpd_defer_begin(&h->defer, req);
        if (pcpd_pool_submit(pd->pool, pcpd_hit_verify_job,
                             pcpd_hit_verify_done_cb, h, w->base) == 0) {
            memset(ref, 0, sizeof(*ref));
            return 0;
        }
        memset(&h->ref, 0, sizeof(h->ref));
        pcpd_defer_end(pd, &h->defer);
    }
    /* A small range, or the pool is full: check here. */
    rc = store_verify_fd(pd->tiers.v[h->tier].store, id, h->fd, h->off, h->n);
    if (rc < 0) {
        close(h->fd);
        free(h);
        /* -EIO: that copy is gone, look again; else serve it as a miss. */
        return rc == -EIO ? pcpd_chunk_hit(w, req, ref, id, ranged, range)
                          : -ENOENT;
    }
    pcpd_hit_send(h, req);
    return 0;
}

/* ---- Fetch (the worker that started the flight) ----------------------- */

static int pcpd_fetch_sink_cb(const void *data, size_t len, void *arg)
{
    struct pcpd_fetch *ft = arg;

    PCPD_COUNT(ft->w->pd, backend_bytes, len);
    PCPD_PB_COUNT(ft->w->pd, ft->pb, fetched, len);
    return pcpd_flight_append(ft->flight, data, len);
}

/* The flight's work is over: out of the table, our reference dropped. */
static void pcpd_fetch_release(struct pcpd *pd, struct pcpd_flight *f)
{
    pcpd_flights_remove(pd->flights, f);
    pcpd_flight_unref(f);
    __atomic_sub_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
}

static void pcpd_fetch_put_job(void *arg)
{
    struct pcpd_fetch *ft = arg;
    struct pcpd_flight *f = ft->flight;

    f->put_rc = pcpd_tiers_put(&ft->w->pd->tiers, f->tier, &f->id, f->data,
                               f->received);
}

static void pcpd_fetch_put_done_cb(void *arg)
{
    struct pcpd_fetch *ft = arg;
    struct pcpd *pd = ft->w->pd;

    if (ft->flight->put_rc < 0)
        PCPD_COUNT(pd, cache_put_failures, 1);
    pcpd_fetch_release(pd, ft->flight);
    free(ft);
}

/* ETags compared without their quotes (radosgw drops them in places). */
static bool pcpd_etag_same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la >= 2 && a[0] == '"' && a[la - 1] == '"') {
        a++;
        la -= 2;
    }
    if (lb >= 2 && b[0] == '"' && b[lb - 1] == '"') {
        b++;
        lb -= 2;
    }
    return la == lb && memcmp(a, b, la) == 0;
}

static void pcpd_fetch_done_cb(struct s3_req *sreq, int rc, void *arg)
{
    struct pcpd_fetch *ft = arg;
    struct pcpd *pd = ft->w->pd;
    struct pcpd_flight *f = ft->flight;
    const struct s3_object_meta *m = sreq ? s3_req_meta(sreq) : NULL;
    char msg[512] = "";

    pcpd_metrics_latency(pd, monotime_ns() - ft->t0);
    /* s3rver ignores If-Match: check the ETag the answer carries too. */
    if (rc == 0 && m && m->etag[0] && !pcpd_etag_same(m->etag, ft->etag)) {
        rc = -ESTALE;
        snprintf(msg, sizeof(msg), "object changed: ETag is now %s", m->etag);
    }
    if (rc < 0) {
        PCPD_COUNT(pd, backend_errors, 1);
        if (rc == -ESTALE)
            PCPD_COUNT(pd, etag_mismatch, 1);
        if (!msg[0] && sreq)
            s3_error_format(s3_req_error(sreq), msg, sizeof(msg));
        log_info("chunk %s: backend GET failed: %s", f->key, msg);
    }
    pcpd_flight_finish(f, rc, msg);
    if (rc == 0 &&
        pcpd_pool_submit(pd->pool, pcpd_fetch_put_job, pcpd_fetch_put_done_cb,
                         ft, ft->w->base) == 0)
        return;
    if (rc == 0)
        PCPD_COUNT(pd, cache_put_failures, 1);
    pcpd_fetch_release(pd, f);
    free(ft);
}

static void pcpd_fetch_start(struct pcpd_worker *w, struct pcpd_flight *f,
                             const struct pcpd_chunk_ref *ref,
                             struct s3_client *client, size_t slot)
{
    struct pcpd *pd = w->pd;
    struct pcpd_fetch *ft = xcalloc(1, sizeof(*ft));

    ft->w = w;
    ft->pb = pcpd_pbstat_slot(pd, ref->pbucket);
    ft->flight = f; /* the caller's reference, handed over */
    if (ref->etag[0] == '"')
        snprintf(ft->etag, sizeof(ft->etag), "%s", ref->etag);
    else
        snprintf(ft->etag, sizeof(ft->etag), "\"%s\"", ref->etag);
    ft->sink.kind = S3_SINK_CB;
    ft->sink.cb = pcpd_fetch_sink_cb;
    ft->sink.cb_arg = ft;
    ft->t0 = monotime_ns();
    f->key = xasprintf("%s/%s#%" PRIu64, ref->pbucket, ref->key, ref->index);
    f->tier = 0;
    __atomic_add_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
    PCPD_COUNT(pd, backend_gets, 1);
    s3_get_start(client, pcpd_slot_bucket(pd, slot), ref->key,
                 ref->index * ref->chunk_size, ref->chunk_size, ft->etag,
                 &ft->sink, pcpd_fetch_done_cb, ft);
}

/* ---- Requests waiting on a flight ------------------------------------- */

static void pcpd_creq_unref_cb(const void *data, size_t len, void *arg)
{
    pcpd_flight_unref(arg);
}

/* Ends c: the reply is complete or the connection is gone. */
static void pcpd_creq_finish(struct pcpd_creq *c)
{
    pcpd_flight_unwatch(c->flight, &c->waiter);
    event_free(c->waiter.ev);
    if (!c->closed && !c->aborting && c->conn)
        evhttp_connection_set_closecb(c->conn, NULL, NULL);
    pcpd_flight_unref(c->flight);
    pcpd_creq_set_state(c, PCPD_CREQ_DONE);
    free(c);
}

static void pcpd_creq_close_cb(struct evhttp_connection *conn, void *arg)
{
    struct pcpd_creq *c = arg;

    if (c->aborting)
        return;
    c->closed = true;
    /* Finish on our own event, not inside evhttp's teardown. */
    event_active(c->waiter.ev, EV_READ, 0);
}

static void pcpd_creq_send(struct pcpd_creq *c, size_t received)
{
    struct pcpd_flight *f = c->flight;
    uint64_t upto = received < c->end ? received : c->end;
    struct evbuffer *b;

    if (upto <= c->sent)
        return;
    b = evbuffer_new();
    pcpd_flight_ref(f);
    evbuffer_add_reference(b, f->data + c->sent, (size_t)(upto - c->sent),
                           pcpd_creq_unref_cb, f);
    PCPD_COUNT(c->w->pd, bytes_served_miss, upto - c->sent);
    PCPD_PB_COUNT(c->w->pd, c->pb, served, upto - c->sent);
    c->sent = upto;
    evhttp_send_reply_chunk(c->req, b);
    evbuffer_free(b);
}

/*
 * Starts the reply once enough is known. Returns false while waiting; true
 * once headers went out or the request was answered (state says which).
 */
static bool pcpd_creq_start(struct pcpd_creq *c, enum pcpd_flight_state st,
                            size_t received)
{
    struct pcpd *pd = c->w->pd;
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    uint64_t off = 0, n;
    char v[32];

    if (c->ranged) {
        if (st == PCPD_FLIGHT_DONE) {
            if (pcpd_range_resolve(&c->range, received, &off, &n) < 0) {
                evhttp_connection_set_closecb(c->conn, NULL, NULL);
                pcpd_reply_416(pd, c->req, received);
                return true;
            }
        } else if (!c->range.suffix && c->range.last != UINT64_MAX &&
                   received > c->range.last) {
            off = c->range.first;
            n = c->range.last - c->range.first + 1;
        } else {
            return false;
        }
        pcpd_content_range(c->req, off, n,
                           st == PCPD_FLIGHT_DONE ? (int64_t)received : -1);
        c->end = off + n;
        c->status = 206;
    } else {
        /* Over TLS a whole chunk goes out in one piece once it is in:
         * libevent 2.1's OpenSSL bufferevent runs its write callback
         * deferred, so a streamed reply's evhttp_send_reply_end can take
         * an "all written" from before its last pieces were added, and
         * evhttp then stops writing the tail (test_cluster_tls.py). */
        if (st != PCPD_FLIGHT_DONE && (received == 0 || pd->tls_ctx))
            return false;
        c->status = 200;
        c->end = st == PCPD_FLIGHT_DONE ? received : UINT64_MAX;
    }
    if (c->end != UINT64_MAX) {
        snprintf(v, sizeof(v), "%" PRIu64, c->end - off);
        evhttp_add_header(h, "Content-Length", v);
    }
    pcpd_chunk_headers(c->req, c->joined ? "join" : "miss", "backend",
                       &c->flight->id);
    c->sent = off;
    evhttp_send_reply_start(c->req, c->status,
                            c->status == 200 ? "OK" : "Partial Content");
    pcpd_creq_set_state(c, PCPD_CREQ_STREAMING);
    return true;
}

/* The fetch failed after bytes went out: the client must see a cut. */
static void pcpd_creq_abort(struct pcpd_creq *c)
{
    PCPD_COUNT(c->w->pd, aborted_streams, 1);
    c->aborting = true;
    /* Frees the connection and c->req with it. */
    evhttp_connection_free(c->conn);
}

static void pcpd_creq_progress_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pcpd_creq *c = arg;
    struct pcpd *pd = c->w->pd;
    enum pcpd_flight_state st;
    size_t received;
    char msg[256];
    int rc;

    if (c->closed) {
        /* evhttp detached the request from the dead connection. */
        evhttp_request_free(c->req);
        pcpd_http_done(pd, 499);
        pcpd_creq_finish(c);
        return;
    }
    pcpd_flight_peek(c->flight, &st, &received, &rc, msg, sizeof(msg));
    if (st == PCPD_FLIGHT_FAILED) {
        if (c->state == PCPD_CREQ_WAITING) {
            evhttp_connection_set_closecb(c->conn, NULL, NULL);
            pcpd_reply_rc(pd, c->req, rc, msg);
        } else {
            pcpd_creq_abort(c);
            pcpd_http_done(pd, 502);
        }
        pcpd_creq_finish(c);
        return;
    }
    if (c->state == PCPD_CREQ_WAITING) {
        if (!pcpd_creq_start(c, st, received))
            return;
        if (c->state != PCPD_CREQ_STREAMING) {
            pcpd_creq_finish(c); /* answered with an error */
            return;
        }
    }
    if (st == PCPD_FLIGHT_DONE && c->end == UINT64_MAX)
        c->end = received;
    pcpd_creq_send(c, received);
    if (c->sent == c->end) {
        evhttp_connection_set_closecb(c->conn, NULL, NULL);
        evhttp_send_reply_end(c->req);
        pcpd_http_done(pd, c->status);
        pcpd_creq_finish(c);
    }
}

/* Attaches the request to flight f (a reference handed over). */
static void pcpd_creq_wait(struct pcpd_worker *w, struct evhttp_request *req,
                           size_t pb, struct pcpd_flight *f, bool joined,
                           bool ranged, const struct pcpd_range *range)
{
    struct pcpd_creq *c = xcalloc(1, sizeof(*c));

    c->w = w;
    c->pb = pb;
    c->req = req;
    c->conn = evhttp_request_get_connection(req);
    c->flight = f;
    c->joined = joined;
    c->ranged = ranged;
    if (ranged)
        c->range = *range;
    c->end = UINT64_MAX;
    c->state = PCPD_CREQ_WAITING;
    c->waiter.ev = event_new(w->base, -1, 0, pcpd_creq_progress_cb, c);
    evhttp_connection_set_closecb(c->conn, pcpd_creq_close_cb, c);
    pcpd_flight_watch(f, &c->waiter);
}

/* ---- The handler ------------------------------------------------------ */

/* A miss: join or start the chunk's flight. */
static void pcpd_chunk_miss(struct pcpd_worker *w, struct evhttp_request *req,
                            struct pcpd_chunk_ref *ref,
                            const struct chunk_id *id, bool ranged,
                            const struct pcpd_range *range)
{
    struct pcpd *pd = w->pd;
    const struct pcpd_pbucket *pb = NULL;
    const struct pcpd_route *rt;
    struct pcpd_flight *f;
    struct s3_client *client;
    bool created;

    rt = pcpd_routes_find(pcpd_routes_current(pd), ref->pbucket, ref->key, &pb);
    if (!pb) {
        pcpd_http_error(pd, req, 404, "NoSuchPbucket", "unknown pbucket");
        return;
    }
    if (!rt) {
        pcpd_http_error(pd, req, 404, "NoRoute",
                        "no route of the pbucket matches the key");
        return;
    }
    if (pb->chunk_size && pb->chunk_size != ref->chunk_size) {
        pcpd_http_error(pd, req, 400, "BadChunkSize",
                        "chunk_size differs from the pbucket's");
        return;
    }
    client = pcpd_worker_client(w, rt->slot);
    if (!client) {
        pcpd_http_error(pd, req, 502, "BackendError",
                        "the backend's settings are refused (see the log)");
        return;
    }
    f = pcpd_flights_join(pd->flights, id, ref->chunk_size, &created);
    if (!f) {
        PCPD_COUNT(pd, flight_refused, 1);
        pcpd_http_error(pd, req, 503, "SlowDown",
                        "too many chunks being fetched");
        return;
    }
    if (created && pcpd_tiers_have(&pd->tiers, id)) {
        /* Stored by a flight that left the table after our lookup. */
        pcpd_flight_finish(f, -EAGAIN, NULL);
        pcpd_flights_remove(pd->flights, f);
        pcpd_flight_unref(f);
        if (pcpd_chunk_hit(w, req, ref, id, ranged, range) == 0)
            return;
        pcpd_http_error(pd, req, 503, "SlowDown", "chunk evicted; retry");
        return;
    }
    if (created) {
        PCPD_COUNT(pd, chunk_misses, 1);
        pcpd_flight_ref(f);
        pcpd_fetch_start(w, f, ref, client, rt->slot);
    } else {
        PCPD_COUNT(pd, chunk_joins, 1);
    }
    pcpd_creq_wait(w, req, pcpd_pbstat_slot(w->pd, ref->pbucket), f, !created,
                   ranged, range);
}

void pcpd_chunk_handle(struct pcpd_worker *w, struct evhttp_request *req,
                       const char *path)
{
    struct pcpd *pd = w->pd;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *rh;
    struct pcpd_chunk_ref ref = {{0}};
    struct pcpd_range range;
    struct chunk_id id;
    bool ranged = false;
    char msg[128];
    int rc;

    rc = pcpd_request_parse_chunk(path, evhttp_uri_get_query(uri), &ref, msg,
                                  sizeof(msg));
    if (rc < 0) {
        pcpd_http_error(pd, req, 400, "BadRequest", msg);
        return;
    }
    rh = evhttp_find_header(evhttp_request_get_input_headers(req), "Range");
    if (rh) {
        if (pcpd_request_parse_range(rh, &range) < 0) {
            pcpd_http_error(pd, req, 400, "BadRange",
                            "expected one range: bytes=a-b, a- or -n");
            goto out;
        }
        if (!range.suffix && range.first >= ref.chunk_size) {
            pcpd_reply_416(pd, req, ref.chunk_size);
            goto out;
        }
        ranged = true;
    }
    if (pcpd_auth_check(pd, req, ref.pbucket, ref.key, "read") < 0)
        goto out;
    chunk_id_make(&id, ref.pbucket, ref.key, ref.etag, ref.index,
                  ref.chunk_size);
    pcpd_hot_add(pd->hot, &id, ref.pbucket, ref.key, ref.index);
    pcpd_chunk_lookup(w, req, &ref, &id, ranged, ranged ? &range : NULL);
out:
    pcpd_chunk_ref_fini(&ref);
}

/* A hit if a tier has the chunk (and it is young enough), else a miss. */
static void pcpd_chunk_lookup(struct pcpd_worker *w, struct evhttp_request *req,
                              struct pcpd_chunk_ref *ref,
                              const struct chunk_id *id, bool ranged,
                              const struct pcpd_range *range)
{
    struct pcpd *pd = w->pd;
    const struct pcpd_pbucket *pb = NULL;
    const struct pcpd_route *rt;

    rt = pcpd_routes_find(pcpd_routes_current(pd), ref->pbucket, ref->key, &pb);
    if (!pb) {
        /* Also for chunks a tier still has: a pbucket pmsd deleted is
         * gone at once, not when its chunks age out. */
        pcpd_http_error(pd, req, 404, "NoSuchPbucket", "unknown pbucket");
        return;
    }
    if (rt && rt->ttl_ms)
        pcpd_tiers_expire(&pd->tiers, id, rt->ttl_ms);
    if (pcpd_chunk_hit(w, req, ref, id, ranged, range) == 0)
        return;
    pcpd_chunk_miss(w, req, ref, id, ranged, range);
}
