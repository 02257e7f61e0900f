/* SPDX-License-Identifier: MIT */
/*
 * admin.c: GET /metrics (Prometheus text) and GET /v1/status (JSON).
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdlib.h>

#include "common/buf.h"
#include "common/monotime.h"
#include "common/mem.h"
#include "pcpd/flight.h"
#include "pcpd/hot.h"
#include "pcpd/warmup.h"
#include "pcpd/http.h"
#include "pcpd/pcpd.h"

void pcpd_admin_metrics(struct pcpd_worker *w, struct evhttp_request *req)
{
    struct pcpd *pd = w->pd;
    struct evbuffer *b;
    struct buf text;

    buf_init(&text, 4u << 20);
    pcpd_metrics_render(pd, &text);
    b = evbuffer_new();
    evbuffer_add(b, text.data ? text.data : "", text.len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
    buf_free(&text);
    pcpd_http_done(pd, 200);
}

static json_t *pcpd_admin_tiers(struct pcpd *pd)
{
    json_t *a = json_array();
    struct store_stats st;
    size_t i;

    for (i = 0; i < pd->tiers.n; i++) {
        struct pcpd_tier *t = &pd->tiers.v[i];

        store_get_stats(t->store, &st);
        json_array_append_new(
            a,
            json_pack(
                "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                "name", t->name, "dir", t->dir, "capacity",
                (json_int_t)st.capacity, "used", (json_int_t)st.used_bytes,
                "chunks", (json_int_t)st.chunks, "hits",
                (json_int_t)__atomic_load_n(&t->hits, __ATOMIC_RELAXED),
                "evictions", (json_int_t)st.evictions, "corrupt",
                (json_int_t)st.corrupt, "promotions",
                (json_int_t)__atomic_load_n(&t->promotions, __ATOMIC_RELAXED),
                "demotions",
                (json_int_t)__atomic_load_n(&t->demotions, __ATOMIC_RELAXED),
                "put_failures", (json_int_t)st.put_failures));
    }
    return a;
}

static json_t *pcpd_admin_hot(struct pcpd *pd)
{
    size_t k = (size_t)pd->cfg->hot_k, n, i;
    struct pcpd_hot_item *v = xcalloc(k, sizeof(*v));
    char hex[CHUNK_ID_HEX_LEN + 1];
    uint64_t total = 0;
    json_t *a = json_array();

    n = pcpd_hot_top(pd->hot, v, k, &total);
    for (i = 0; i < n; i++) {
        chunk_id_hex(&v[i].id, hex);
        json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:I}", "chunk", hex,
                                           "name", v[i].label, "count",
                                           (json_int_t)v[i].count, "error",
                                           (json_int_t)v[i].error));
    }
    free(v);
    return json_pack("{s:I, s:I, s:o}", "k", (json_int_t)k, "requests",
                     (json_int_t)total, "top", a);
}

void pcpd_admin_status(struct pcpd_worker *w, struct evhttp_request *req)
{
    struct pcpd *pd = w->pd;
    struct pcpd_flights_stats fs;
    struct evbuffer *b;
    json_t *j;
    char *text;

    pcpd_flights_get_stats(pd->flights, &fs);
    j = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:{s:I, s:I, s:I}}", "service",
        "pcpd", "version", PCACHE_VERSION, "state",
        __atomic_load_n(&pd->stopping, __ATOMIC_RELAXED) ? "stopping"
                                                         : "serving",
        "uptime_s", (json_int_t)((monotime_ms() - pd->start_ms) / 1000),
        "workers", (json_int_t)pd->nworkers, "inflight",
        (json_int_t)__atomic_load_n(&pd->inflight, __ATOMIC_RELAXED), "tiers",
        pcpd_admin_tiers(pd), "flights", "count", (json_int_t)fs.flights,
        "bytes", (json_int_t)fs.mem, "refused", (json_int_t)fs.refused);
    json_object_set_new(j, "hot", pcpd_admin_hot(pd));
    json_object_set_new(j, "warmups", pcpd_warmup_status(pd));
    text = json_dumps(j, JSON_INDENT(1));
    b = evbuffer_new();
    evbuffer_add_printf(b, "%s\n", text ? text : "{}");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
    free(text);
    json_decref(j);
    pcpd_http_done(pd, 200);
}

json_t *pcpd_admin_report(struct pcpd *pd)
{
    const struct pcpd_metrics *m = &pd->metrics;
    size_t k = (size_t)pd->cfg->hot_k, n, i;
    struct pcpd_hot_item *v = xcalloc(k ? k : 1, sizeof(*v));
    json_t *tiers = json_array(), *pbs = json_object(), *hot = json_array();
    uint64_t served = __atomic_load_n(&m->bytes_served_miss, __ATOMIC_RELAXED);
    struct store_stats st;

    for (i = 0; i < pd->tiers.n; i++) {
        struct pcpd_tier *t = &pd->tiers.v[i];

        store_get_stats(t->store, &st);
        served += __atomic_load_n(&t->hit_bytes, __ATOMIC_RELAXED);
        json_array_append_new(tiers,
                              json_pack("{s:s, s:I, s:I, s:I}", "name", t->name,
                                        "capacity", (json_int_t)st.capacity,
                                        "used", (json_int_t)st.used_bytes,
                                        "chunks", (json_int_t)st.chunks));
    }
    for (i = 0; i < PCPD_PB_SLOTS; i++) {
        const struct pcpd_pbstat *s = &pd->pbstats[i];

        if (!__atomic_load_n(&s->used, __ATOMIC_ACQUIRE))
            break;
        json_object_set_new(
            pbs, s->name,
            json_pack(
                "{s:I, s:I}", "bytes_served",
                (json_int_t)__atomic_load_n(&s->served, __ATOMIC_RELAXED),
                "backend_bytes",
                (json_int_t)__atomic_load_n(&s->fetched, __ATOMIC_RELAXED)));
    }
    n = pcpd_hot_top(pd->hot, v, k, NULL);
    for (i = 0; i < n && i < 10; i++)
        json_array_append_new(hot, json_pack("{s:s, s:I}", "name", v[i].label,
                                             "count", (json_int_t)v[i].count));
    free(v);
    return json_pack(
        "{s:{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}}", "stats", "chunk_hits",
        (json_int_t)__atomic_load_n(&m->chunk_hits, __ATOMIC_RELAXED),
        "chunk_misses",
        (json_int_t)__atomic_load_n(&m->chunk_misses, __ATOMIC_RELAXED),
        "chunk_joins",
        (json_int_t)__atomic_load_n(&m->chunk_joins, __ATOMIC_RELAXED),
        "bytes_served", (json_int_t)served, "backend_bytes",
        (json_int_t)__atomic_load_n(&m->backend_bytes, __ATOMIC_RELAXED),
        "tiers", tiers, "pbuckets", pbs, "hot", hot);
}
