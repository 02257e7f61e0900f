/* SPDX-License-Identifier: MIT */
/*
 * warmup.c: POST /v1/warmup, loading keys into the cache (warmup.h).
 *
 * DESIGN
 * A warmup is planned by one job on the warmup pool (list the prefix or
 * HEAD the keys, then one work item per chunk), then run by `parallel`
 * jobs that take items by an atomic index until none is left, so at most
 * `parallel` chunks of one warmup are fetched at a time. Each chunk goes
 * through the flight table like a client miss, so a client asking for it
 * meanwhile shares the GET instead of starting another. A warmup lives in
 * the node's list until it has finished and PCPD_WARMUP_KEEP newer ones
 * exist; only the last job of a warmup writes its final state, as its
 * last access, so the list may drop it any time after.
 */
#include "pcpd/warmup.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "common/placement.h"
#include "common/s3.h"
#include "pcpd/flight.h"
#include "pcpd/http.h"
#include "pcpd/pcpd.h"
#include "pcpd/pool.h"
#include "pcpd/request.h"

enum pcpd_warmup_state {
    PCPD_WARMUP_PLANNING,
    PCPD_WARMUP_RUNNING,
    PCPD_WARMUP_DONE,
    PCPD_WARMUP_FAILED,
};

static const char *const pcpd_warmup_state_names[] = {"planning", "running",
                                                      "done", "failed"};

/* One key to load: where it lives and which version. */
struct pcpd_warm_key {
    char *key;  /* owned */
    char *etag; /* owned, quotes included; NULL until known */
    uint64_t size;
    size_t backend; /* slot (pcpd.h) */
};

/* One chunk to load. */
struct pcpd_warm_item {
    uint32_t key; /* index into keys */
    uint64_t index;
};

struct pcpd_warmup {
    uint64_t id;
    struct pcpd *pd;
    char pbucket[PCPD_NAME_MAX + 1];
    char *prefix; /* owned, NULL for a key list */
    struct pcpd_warm_key *keys;
    size_t nkeys;
    struct pcpd_warm_item *items; /* set by the plan, then read-only */
    size_t nitems;
    uint64_t chunk_size;
    int parallel;
    /* Cluster-wide warmups: only the chunks this node owns among nodes. */
    struct placement owners;
    size_t self; /* index of this node in owners; SIZE_MAX: every chunk */
    double t0;
    /* Atomics: */
    size_t next; /* next item to take */
    int running; /* jobs still working */
    int state;   /* enum pcpd_warmup_state */
    uint64_t fetched, cached, failed, bytes, elapsed_ms;
    char msg[256];              /* written before state becomes FAILED */
    struct pcpd_warmup *next_w; /* the list's; ws->lock */
};

struct pcpd_warmups {
    pthread_mutex_t lock;
    struct pcpd_warmup *head; /* lock; newest first */
    uint64_t last_id;         /* lock */
};

#define LOAD(x)     __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define ADD(x, n)   __atomic_add_fetch(&(x), (n), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

static void pcpd_warmup_free(struct pcpd_warmup *w)
{
    size_t i;

    for (i = 0; i < w->nkeys; i++) {
        free(w->keys[i].key);
        free(w->keys[i].etag);
    }
    free(w->keys);
    free(w->items);
    free(w->prefix);
    placement_fini(&w->owners);
    free(w);
}

struct pcpd_warmups *pcpd_warmups_new(void)
{
    struct pcpd_warmups *ws = xcalloc(1, sizeof(*ws));

    pthread_mutex_init(&ws->lock, NULL);
    return ws;
}

void pcpd_warmups_free(struct pcpd_warmups *ws)
{
    struct pcpd_warmup *w, *next;

    if (!ws)
        return;
    for (w = ws->head; w; w = next) {
        next = w->next_w;
        pcpd_warmup_free(w);
    }
    pthread_mutex_destroy(&ws->lock);
    free(ws);
}

static bool pcpd_warmup_finished(struct pcpd_warmup *w)
{
    int st = LOAD(w->state);

    return (st == PCPD_WARMUP_DONE || st == PCPD_WARMUP_FAILED) &&
           LOAD(w->running) == 0;
}

/* Adds w, dropping finished warmups past the newest PCPD_WARMUP_KEEP. */
static void pcpd_warmups_add(struct pcpd_warmups *ws, struct pcpd_warmup *w)
{
    struct pcpd_warmup **pp, *old;
    size_t n = 0;

    pthread_mutex_lock(&ws->lock);
    w->id = ++ws->last_id;
    w->next_w = ws->head;
    ws->head = w;
    for (pp = &ws->head; *pp;) {
        if (++n > PCPD_WARMUP_KEEP && pcpd_warmup_finished(*pp)) {
            old = *pp;
            *pp = old->next_w;
            pcpd_warmup_free(old);
            continue;
        }
        pp = &(*pp)->next_w;
    }
    pthread_mutex_unlock(&ws->lock);
}

json_t *pcpd_warmup_status(struct pcpd *pd)
{
    struct pcpd_warmups *ws = pd->warmups;
    struct pcpd_warmup *w;
    json_t *a = json_array();
    uint64_t fetched, cached, failed;
    int st;

    pthread_mutex_lock(&ws->lock);
    for (w = ws->head; w; w = w->next_w) {
        st = LOAD(w->state);
        fetched = LOAD(w->fetched);
        cached = LOAD(w->cached);
        failed = LOAD(w->failed);
        json_array_append_new(
            a, json_pack(
                   "{s:I, s:s, s:s?, s:s, s:I, s:I, s:I, s:I, s:I, s:I, "
                   "s:I, s:I, s:s}",
                   "id", (json_int_t)w->id, "pbucket", w->pbucket, "prefix",
                   w->prefix, "state", pcpd_warmup_state_names[st], "keys",
                   (json_int_t)(st == PCPD_WARMUP_PLANNING ? 0 : w->nkeys),
                   "chunks",
                   (json_int_t)(st == PCPD_WARMUP_PLANNING ? 0 : w->nitems),
                   "done", (json_int_t)(fetched + cached + failed), "fetched",
                   (json_int_t)fetched, "cached", (json_int_t)cached, "failed",
                   (json_int_t)failed, "bytes", (json_int_t)LOAD(w->bytes),
                   "parallel", (json_int_t)w->parallel, "message",
                   st == PCPD_WARMUP_FAILED ? w->msg : ""));
    }
    pthread_mutex_unlock(&ws->lock);
    return a;
}

/* ---- Loading one chunk (warmup pool) ----------------------------------- */

static int pcpd_warmup_sink_cb(const void *data, size_t len, void *arg)
{
    return pcpd_flight_append(arg, data, len);
}

static bool pcpd_warmup_etag_same(const char *a, const char *b)
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

/* Fetches a chunk into flight f (ours to run) and stores it. 0 or -errno. */
static int pcpd_warmup_fetch(struct pcpd_warmup *w, struct pcpd_flight *f,
                             const struct pcpd_warm_key *k, uint64_t index)
{
    struct pcpd *pd = w->pd;
    struct s3_client *client = pcpd_slot_meta_client(pd, k->backend);
    struct s3_sink sink = {.kind = S3_SINK_CB};
    struct s3_object_meta om;
    struct s3_error e;
    uint64_t off = index * w->chunk_size, len = w->chunk_size;
    uint64_t t0 = monotime_ns();
    char msg[256] = "";
    int rc;

    if (len > k->size - off)
        len = k->size - off;
    sink.cb = pcpd_warmup_sink_cb;
    sink.cb_arg = f;
    s3_object_meta_init(&om);
    f->key = xasprintf("%s/%s#%" PRIu64, w->pbucket, k->key, index);
    PCPD_COUNT(pd, backend_gets, 1);
    rc = client ? s3_get(client, pcpd_slot_bucket(pd, k->backend), k->key, off,
                         len, k->etag, &sink, &om, &e)
                : -EIO;
    pcpd_metrics_latency(pd, monotime_ns() - t0);
    if (rc == 0 && om.etag[0] && !pcpd_warmup_etag_same(om.etag, k->etag))
        rc = -ESTALE;
    if (rc < 0) {
        PCPD_COUNT(pd, backend_errors, 1);
        s3_error_format(&e, msg, sizeof(msg));
        log_info("warmup %" PRIu64 ": %s: %s", w->id, f->key, msg);
    }
    s3_object_meta_fini(&om);
    PCPD_COUNT(pd, backend_bytes, f->received);
    pcpd_flight_finish(f, rc, msg);
    if (rc == 0) {
        rc = pcpd_tiers_put(&pd->tiers, 0, &f->id, f->data, f->received);
        if (rc < 0)
            PCPD_COUNT(pd, cache_put_failures, 1);
        else
            ADD(w->bytes, f->received);
    }
    return rc;
}

static void pcpd_warmup_item(struct pcpd_warmup *w,
                             const struct pcpd_warm_item *it)
{
    struct pcpd *pd = w->pd;
    const struct pcpd_warm_key *k = &w->keys[it->key];
    struct pcpd_flight *f;
    struct chunk_id id;
    bool created;
    int rc;

    chunk_id_make(&id, w->pbucket, k->key, k->etag, it->index, w->chunk_size);
    if (pcpd_tiers_have(&pd->tiers, &id)) {
        ADD(w->cached, 1);
        return;
    }
    f = pcpd_flights_join(pd->flights, &id, w->chunk_size, &created);
    if (!f) {
        ADD(w->failed, 1);
        return;
    }
    if (!created || pcpd_tiers_have(&pd->tiers, &id)) {
        /* A client's fetch has it, or it was stored meanwhile. */
        if (created) {
            pcpd_flight_finish(f, -EAGAIN, NULL);
            pcpd_flights_remove(pd->flights, f);
        }
        pcpd_flight_unref(f);
        ADD(w->cached, 1);
        return;
    }
    __atomic_add_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
    rc = pcpd_warmup_fetch(w, f, k, it->index);
    pcpd_flights_remove(pd->flights, f);
    pcpd_flight_unref(f);
    __atomic_sub_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
    if (rc < 0) {
        ADD(w->failed, 1);
    } else {
        ADD(w->fetched, 1);
        PCPD_COUNT(pd, warmup_chunks, 1);
    }
}

/* One of the `parallel` jobs of a warmup. */
static void pcpd_warmup_run_job(void *arg)
{
    struct pcpd_warmup *w = arg;
    struct pcpd *pd = w->pd;
    size_t i;

    for (;;) {
        if (__atomic_load_n(&pd->stopping, __ATOMIC_RELAXED))
            break;
        i = __atomic_fetch_add(&w->next, 1, __ATOMIC_RELAXED);
        if (i >= w->nitems)
            break;
        pcpd_warmup_item(w, &w->items[i]);
    }
    __atomic_sub_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
    /* The last job's last access to w. */
    if (__atomic_sub_fetch(&w->running, 1, __ATOMIC_ACQ_REL) == 0)
        STORE(w->state, PCPD_WARMUP_DONE);
}

/* ---- Planning (warmup pool) ------------------------------------------- */

static void pcpd_warmup_add_key(struct pcpd_warmup *w, const char *key,
                                const char *etag, uint64_t size, size_t backend)
{
    struct pcpd_warm_key *k;

    w->keys = xrealloc(w->keys, (w->nkeys + 1) * sizeof(*w->keys));
    k = &w->keys[w->nkeys++];
    k->key = xstrdup(key);
    k->etag = etag ? xstrdup(etag) : NULL;
    k->size = size;
    k->backend = backend;
}

/* Lists the prefix into keys (with sizes and ETags). 0 or -errno. */
static int pcpd_warmup_list(struct pcpd_warmup *w, size_t backend)
{
    struct pcpd *pd = w->pd;
    struct s3_list_opts o = {0};
    struct s3_list_result r;
    struct s3_error e;
    struct s3_client *client = pcpd_slot_meta_client(pd, backend);
    char *token = NULL;
    size_t i;
    int rc;

    if (!client) {
        snprintf(w->msg, sizeof(w->msg), "the backend's settings are refused");
        return -EIO;
    }
    o.prefix = w->prefix;
    do {
        memset(&r, 0, sizeof(r));
        o.continuation = token;
        rc = s3_list(client, pcpd_slot_bucket(pd, backend), &o, &r, &e);
        free(token);
        token = NULL;
        if (rc < 0) {
            s3_error_format(&e, w->msg, sizeof(w->msg));
            return rc;
        }
        for (i = 0; i < r.nobjects && w->nkeys < PCPD_WARMUP_MAX_KEYS; i++) {
            if (r.objects[i].size > 0 && r.objects[i].etag &&
                r.objects[i].etag[0] &&
                pcpd_request_key_ok(r.objects[i].key, strlen(r.objects[i].key)))
                pcpd_warmup_add_key(w, r.objects[i].key, r.objects[i].etag,
                                    (uint64_t)r.objects[i].size, backend);
        }
        if (r.truncated && r.next_token && w->nkeys < PCPD_WARMUP_MAX_KEYS)
            token = xstrdup(r.next_token);
        s3_list_result_fini(&r);
    } while (token);
    return 0;
}

/* HEADs each key of a key list for its size and ETag. */
static void pcpd_warmup_head_keys(struct pcpd_warmup *w)
{
    struct pcpd *pd = w->pd;
    struct s3_object_meta om;
    struct s3_error e;
    size_t i;

    for (i = 0; i < w->nkeys; i++) {
        struct pcpd_warm_key *k = &w->keys[i];

        s3_object_meta_init(&om);
        if (pcpd_slot_meta_client(pd, k->backend) &&
            s3_head(pcpd_slot_meta_client(pd, k->backend),
                    pcpd_slot_bucket(pd, k->backend), k->key, &om, &e) == 0 &&
            om.size > 0 && om.etag[0]) {
            k->etag = xstrdup(om.etag);
            k->size = (uint64_t)om.size;
        } else {
            ADD(w->failed, 1); /* a key that cannot be loaded */
        }
        s3_object_meta_fini(&om);
    }
}

/* Whether chunk index of k is this node's to load. */
static bool pcpd_warmup_mine(const struct pcpd_warmup *w,
                             const struct pcpd_warm_key *k, uint64_t index)
{
    struct chunk_id id;
    size_t owner;

    if (w->self == SIZE_MAX)
        return true;
    chunk_id_make(&id, w->pbucket, k->key, k->etag, index, w->chunk_size);
    return placement_rank_chunk(&w->owners, &id, &owner, 1) == 1 &&
           owner == w->self;
}

static void pcpd_warmup_plan_job(void *arg)
{
    struct pcpd_warmup *w = arg;
    struct pcpd *pd = w->pd;
    const struct pcpd_pbucket *pb = NULL;
    const struct pcpd_route *rt;
    uint64_t n, i, j;
    int k, started = 0;

    if (w->prefix) {
        rt = pcpd_routes_find(pcpd_routes_current(pd), w->pbucket, w->prefix,
                              &pb);
        if (!rt || pcpd_warmup_list(w, rt->slot) < 0)
            goto fail;
    } else {
        pcpd_warmup_head_keys(w);
    }
    for (i = 0; i < w->nkeys; i++) {
        if (!w->keys[i].etag)
            continue;
        n = (w->keys[i].size + w->chunk_size - 1) / w->chunk_size;
        for (j = 0; j < n && w->nitems < PCPD_WARMUP_MAX_CHUNKS; j++) {
            if (!pcpd_warmup_mine(w, &w->keys[i], j))
                continue;
            if (w->nitems % 1024 == 0)
                w->items =
                    xrealloc(w->items, (w->nitems + 1024) * sizeof(*w->items));
            w->items[w->nitems].key = (uint32_t)i;
            w->items[w->nitems++].index = j;
        }
    }
    /* This job holds one count of running until every job is queued, so
     * no job can see the count reach 0 before then. */
    STORE(w->running, 1);
    STORE(w->state, PCPD_WARMUP_RUNNING);
    for (k = 0; k < w->parallel; k++) {
        __atomic_add_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&w->running, 1, __ATOMIC_RELAXED);
        if (pcpd_pool_submit(pd->warmup_pool, pcpd_warmup_run_job, NULL, w,
                             NULL) == 0) {
            started++;
            continue;
        }
        __atomic_sub_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
        __atomic_sub_fetch(&w->running, 1, __ATOMIC_RELAXED);
    }
    if (started == 0) {
        /* No room in the queue: run the warmup on this thread. */
        __atomic_add_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&w->running, 1, __ATOMIC_RELAXED);
        pcpd_warmup_run_job(w);
    }
    __atomic_sub_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
    if (__atomic_sub_fetch(&w->running, 1, __ATOMIC_ACQ_REL) == 0)
        STORE(w->state, PCPD_WARMUP_DONE);
    return;
fail:
    if (!w->msg[0])
        snprintf(w->msg, sizeof(w->msg), "no route for the prefix");
    STORE(w->state, PCPD_WARMUP_FAILED);
    __atomic_sub_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
}

/* ---- The handler (worker loop) ---------------------------------------- */

/*
 * "nodes": [ids], "self": id: a warmup sent to every node of a cluster,
 * where each loads the chunks it owns by rendezvous hashing over nodes
 * (common/placement.h), as clients place their reads.
 */
static int pcpd_warmup_parse_owners(struct pcpd_warmup *w, json_t *j, char *msg,
                                    size_t msglen)
{
    json_t *nodes = json_object_get(j, "nodes"), *it;
    const char *self = json_string_value(json_object_get(j, "self"));
    const char **ids;
    size_t i, n = json_array_size(nodes);

    w->self = SIZE_MAX;
    if (!nodes && !self)
        return 0;
    if (!json_is_array(nodes) || n == 0 || n > 1024 || !self) {
        snprintf(msg, msglen,
                 "\"nodes\": [1..1024 ids] and \"self\" go "
                 "together");
        return -EINVAL;
    }
    ids = xcalloc(n, sizeof(*ids));
    json_array_foreach(nodes, i, it)
    {
        ids[i] = json_string_value(it);
        if (!ids[i] || !*ids[i]) {
            free(ids);
            snprintf(msg, msglen, "nodes[%zu]: not a node id", i);
            return -EINVAL;
        }
        if (strcmp(ids[i], self) == 0)
            w->self = i;
    }
    if (w->self == SIZE_MAX) {
        free(ids);
        snprintf(msg, msglen, "self is not in nodes");
        return -EINVAL;
    }
    placement_set(&w->owners, ids, n);
    free(ids);
    return 0;
}

/* Fills w from the JSON request. 0 or -EINVAL with msg. */
static int pcpd_warmup_parse(struct pcpd *pd, struct pcpd_warmup *w, json_t *j,
                             char *msg, size_t msglen)
{
    const struct pcpd_pbucket *pb = NULL;
    const struct pcpd_route *rt;
    json_t *keys = json_object_get(j, "keys"), *it;
    json_t *prefix = json_object_get(j, "prefix");
    const char *name = json_string_value(json_object_get(j, "pbucket"));
    json_int_t cs = json_integer_value(json_object_get(j, "chunk_size"));
    json_int_t par = json_integer_value(json_object_get(j, "parallel"));
    size_t i;

    if (!name || !pcpd_request_name_ok(name, strlen(name)) ||
        (!keys == !prefix) || (keys && !json_is_array(keys)) ||
        (prefix && !json_is_string(prefix))) {
        snprintf(msg, msglen,
                 "expected {\"pbucket\": P, \"keys\": [..]} or "
                 "{\"pbucket\": P, \"prefix\": S}");
        return -EINVAL;
    }
    snprintf(w->pbucket, sizeof(w->pbucket), "%s", name);
    pcpd_routes_find(pcpd_routes_current(pd), name, "", &pb);
    if (!pb) {
        snprintf(msg, msglen, "unknown pbucket");
        return -ENOENT;
    }
    w->chunk_size = cs ? (uint64_t)cs
                       : (pb->chunk_size ? pb->chunk_size : CHUNK_SIZE_DEFAULT);
    if (!chunk_size_valid(w->chunk_size) ||
        (pb->chunk_size && w->chunk_size != pb->chunk_size)) {
        snprintf(msg, msglen, "bad chunk_size");
        return -EINVAL;
    }
    w->parallel = par > 0 && par < pd->cfg->warmup_parallel
                      ? (int)par
                      : (int)pd->cfg->warmup_parallel;
    if (pcpd_warmup_parse_owners(w, j, msg, msglen) < 0)
        return -EINVAL;
    if (prefix) {
        w->prefix = xstrdup(json_string_value(prefix));
        return 0;
    }
    if (json_array_size(keys) == 0 ||
        json_array_size(keys) > PCPD_WARMUP_MAX_KEYS) {
        snprintf(msg, msglen, "keys: 1..%d keys", PCPD_WARMUP_MAX_KEYS);
        return -EINVAL;
    }
    json_array_foreach(keys, i, it)
    {
        const char *k = json_string_value(it);

        if (!k || !pcpd_request_key_ok(k, strlen(k))) {
            snprintf(msg, msglen, "keys[%zu]: not a valid key", i);
            return -EINVAL;
        }
        rt = pcpd_routes_find(pcpd_routes_current(pd), name, k, &pb);
        if (!rt) {
            snprintf(msg, msglen, "keys[%zu]: no route matches", i);
            return -EINVAL;
        }
        pcpd_warmup_add_key(w, k, NULL, 0, rt->slot);
    }
    return 0;
}

void pcpd_warmup_handle(struct pcpd_worker *w, struct evhttp_request *req)
{
    struct pcpd *pd = w->pd;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    struct pcpd_warmup *wu = NULL;
    json_error_t je;
    json_t *j = NULL;
    char msg[256] = "";
    const char *code;
    int rc;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        pcpd_http_error(pd, req, 405, "MethodNotAllowed", "warmup: POST");
        return;
    }
    j = json_loadb((const char *)evbuffer_pullup(in, -1),
                   evbuffer_get_length(in), 0, &je);
    if (!j) {
        pcpd_http_error(pd, req, 400, "BadRequest", "body: JSON expected");
        return;
    }
    wu = xcalloc(1, sizeof(*wu));
    wu->pd = pd;
    wu->t0 = monotime_sec();
    wu->self = SIZE_MAX;
    placement_init(&wu->owners);
    rc = pcpd_warmup_parse(pd, wu, j, msg, sizeof(msg));
    json_decref(j);
    if (rc == 0 && pcpd_auth_check(pd, req, wu->pbucket,
                                   wu->prefix ? wu->prefix : "", "read") < 0) {
        pcpd_warmup_free(wu); /* answered by the hook */
        return;
    }
    if (rc < 0) {
        pcpd_warmup_free(wu);
        if (rc == -ENOENT)
            pcpd_http_error(pd, req, 404, "NoSuchPbucket", msg);
        else {
            int status = pcpd_http_status(rc, &code);

            pcpd_http_error(pd, req, status, code, msg);
        }
        return;
    }
    pcpd_warmups_add(pd->warmups, wu);
    __atomic_add_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
    if (pcpd_pool_submit(pd->warmup_pool, pcpd_warmup_plan_job, NULL, wu,
                         NULL) < 0) {
        __atomic_sub_fetch(&pd->jobs, 1, __ATOMIC_RELAXED);
        snprintf(wu->msg, sizeof(wu->msg), "too many warmups");
        STORE(wu->state, PCPD_WARMUP_FAILED);
        pcpd_http_error(pd, req, 503, "SlowDown", "too many warmups");
        return;
    }
    pcpd_http_json(pd, req, 202,
                   json_pack("{s:I, s:s}", "id", (json_int_t)wu->id, "status",
                             "/v1/status"));
}
