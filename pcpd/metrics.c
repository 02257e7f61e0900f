/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: Prometheus text for /metrics (metrics.h).
 */
#include "pcpd/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "pcpd/hot.h"
#include "pcpd/flight.h"
#include "pcpd/pcpd.h"
#include "pcpd/pool.h"

static const uint64_t pcpd_lat_ms[PCPD_LAT_BUCKETS] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000};

static const char *const pcpd_ep_names[PCPD_EP_MAX] = {
    "chunk", "meta", "warmup", "metrics", "status", "other"};

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void pcpd_metrics_latency(struct pcpd *pd, uint64_t ns)
{
    uint64_t ms = ns / 1000000;
    int i;

    for (i = 0; i < PCPD_LAT_BUCKETS && ms >= pcpd_lat_ms[i]; i++)
        ;
    PCPD_COUNT(pd, lat_bucket[i], 1);
    PCPD_COUNT(pd, lat_sum_us, ns / 1000);
    PCPD_COUNT(pd, lat_count, 1);
}

static void pcpd_metric(struct buf *b, const char *name, const char *type,
                        const char *help, uint64_t v)
{
    buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help,
                name, type, name, v);
}

static void pcpd_metrics_tiers(struct pcpd *pd, struct buf *b)
{
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"pcpd_tier_hits_total", "counter", "chunk reads served by a tier"},
        {"pcpd_tier_bytes_served_total", "counter", "bytes sent from a tier"},
        {"pcpd_tier_used_bytes", "gauge", "bytes of chunk files in a tier"},
        {"pcpd_tier_capacity_bytes", "gauge", "capacity of a tier"},
        {"pcpd_tier_chunks", "gauge", "chunks stored in a tier"},
        {"pcpd_tier_evictions_total", "counter", "chunks evicted from a tier"},
        {"pcpd_tier_corrupt_total", "counter",
         "corrupt chunk files found (removed, refetched)"},
        {"pcpd_tier_put_failures_total", "counter", "chunk writes that failed"},
        {"pcpd_tier_promotions_total", "counter",
         "chunks copied up into a tier"},
        {"pcpd_tier_demotions_total", "counter",
         "chunks moved down into a tier"},
    };
    struct store_stats st;
    size_t i, k;
    uint64_t v = 0;

    for (k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
        buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help,
                    m[k].name, m[k].type);
        for (i = 0; i < pd->tiers.n; i++) {
            struct pcpd_tier *t = &pd->tiers.v[i];

            store_get_stats(t->store, &st);
            switch (k) {
            case 0:
                v = LOAD(t->hits);
                break;
            case 1:
                v = LOAD(t->hit_bytes);
                break;
            case 2:
                v = st.used_bytes;
                break;
            case 3:
                v = st.capacity;
                break;
            case 4:
                v = st.chunks;
                break;
            case 5:
                v = st.evictions;
                break;
            case 6:
                v = st.corrupt;
                break;
            case 7:
                v = st.put_failures;
                break;
            case 8:
                v = LOAD(t->promotions);
                break;
            case 9:
                v = LOAD(t->demotions);
                break;
            }
            buf_appendf(b, "%s{tier=\"%s\"} %" PRIu64 "\n", m[k].name, t->name,
                        v);
        }
    }
}

static void pcpd_metrics_latency_render(struct pcpd *pd, struct buf *b)
{
    uint64_t cum = 0;
    int i;

    buf_appendf(b, "# HELP pcpd_backend_get_seconds latency of backend chunk "
                   "GETs\n# TYPE pcpd_backend_get_seconds histogram\n");
    for (i = 0; i < PCPD_LAT_BUCKETS; i++) {
        cum += LOAD(pd->metrics.lat_bucket[i]);
        buf_appendf(b,
                    "pcpd_backend_get_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                    (double)pcpd_lat_ms[i] / 1000.0, cum);
    }
    cum += LOAD(pd->metrics.lat_bucket[PCPD_LAT_BUCKETS]);
    buf_appendf(b,
                "pcpd_backend_get_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                "pcpd_backend_get_seconds_sum %.6f\n"
                "pcpd_backend_get_seconds_count %" PRIu64 "\n",
                cum, (double)LOAD(pd->metrics.lat_sum_us) / 1e6,
                LOAD(pd->metrics.lat_count));
}

/* A label value: backslash, double quote and newline escaped. */
static void pcpd_metrics_label(struct buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            buf_appendf(b, "\\%c", *v);
        else if (*v == '\n')
            buf_append_str(b, "\\n");
        else
            buf_append_byte(b, *v);
    }
}

static void pcpd_metrics_hot(struct pcpd *pd, struct buf *b)
{
    size_t k = (size_t)pd->cfg->hot_k, n, i;
    struct pcpd_hot_item *v = xcalloc(k, sizeof(*v));
    char hex[CHUNK_ID_HEX_LEN + 1];

    n = pcpd_hot_top(pd->hot, v, k, NULL);
    buf_appendf(b, "# HELP pcpd_hot_chunk_requests requests of the hottest "
                   "chunks (space-saving top-K; an upper bound)\n"
                   "# TYPE pcpd_hot_chunk_requests gauge\n");
    for (i = 0; i < n; i++) {
        chunk_id_hex(&v[i].id, hex);
        buf_appendf(b, "pcpd_hot_chunk_requests{chunk=\"%s\",name=\"", hex);
        pcpd_metrics_label(b, v[i].label);
        buf_appendf(b, "\"} %" PRIu64 "\n", v[i].count);
    }
    free(v);
}

size_t pcpd_pbstat_slot(struct pcpd *pd, const char *pbucket)
{
    size_t i;

    for (i = 0; i < PCPD_PB_SLOTS; i++) {
        if (!__atomic_load_n(&pd->pbstats[i].used, __ATOMIC_ACQUIRE))
            break;
        if (strcmp(pd->pbstats[i].name, pbucket) == 0)
            return i;
    }
    pthread_mutex_lock(&pd->pbstats_lock);
    for (i = 0; i < PCPD_PB_SLOTS - 1; i++) {
        struct pcpd_pbstat *s = &pd->pbstats[i];

        if (s->used && strcmp(s->name, pbucket) == 0)
            break;
        if (!s->used) {
            snprintf(s->name, sizeof(s->name), "%s", pbucket);
            __atomic_store_n(&s->used, true, __ATOMIC_RELEASE);
            break;
        }
    }
    if (i == PCPD_PB_SLOTS - 1 && !pd->pbstats[i].used) {
        snprintf(pd->pbstats[i].name, sizeof(pd->pbstats[i].name), "*");
        __atomic_store_n(&pd->pbstats[i].used, true, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&pd->pbstats_lock);
    return i;
}

int pcpd_metrics_render(struct pcpd *pd, struct buf *b)
{
    struct pcpd_metrics *m = &pd->metrics;
    struct pcpd_flights_stats fs;
    int i;

    buf_appendf(b, "# HELP pcpd_requests_total HTTP requests by endpoint\n"
                   "# TYPE pcpd_requests_total counter\n");
    for (i = 0; i < PCPD_EP_MAX; i++)
        buf_appendf(b, "pcpd_requests_total{endpoint=\"%s\"} %" PRIu64 "\n",
                    pcpd_ep_names[i], LOAD(m->requests[i]));
    buf_appendf(b, "# HELP pcpd_responses_total HTTP responses by status "
                   "class\n# TYPE pcpd_responses_total counter\n");
    for (i = 1; i < 6; i++)
        buf_appendf(b, "pcpd_responses_total{code=\"%dxx\"} %" PRIu64 "\n", i,
                    LOAD(m->responses[i]));
    pcpd_metric(b, "pcpd_chunk_hits_total", "counter",
                "chunk requests served from a tier", LOAD(m->chunk_hits));
    pcpd_metric(b, "pcpd_chunk_misses_total", "counter",
                "chunk requests that started a backend GET",
                LOAD(m->chunk_misses));
    pcpd_metric(b, "pcpd_chunk_joins_total", "counter",
                "chunk requests that shared a backend GET in flight",
                LOAD(m->chunk_joins));
    pcpd_metric(b, "pcpd_bytes_served_miss_total", "counter",
                "bytes sent from chunks being fetched",
                LOAD(m->bytes_served_miss));
    pcpd_metric(b, "pcpd_backend_gets_total", "counter",
                "chunk GETs sent to backends", LOAD(m->backend_gets));
    pcpd_metric(b, "pcpd_backend_errors_total", "counter",
                "backend chunk GETs that failed", LOAD(m->backend_errors));
    pcpd_metric(b, "pcpd_backend_bytes_total", "counter",
                "chunk bytes received from backends", LOAD(m->backend_bytes));
    pcpd_metric(b, "pcpd_etag_mismatch_total", "counter",
                "backend GETs refused because the object changed",
                LOAD(m->etag_mismatch));
    pcpd_metric(b, "pcpd_flight_refused_total", "counter",
                "misses refused because flight_mem was used up",
                LOAD(m->flight_refused));
    pcpd_metric(b, "pcpd_cache_put_failures_total", "counter",
                "fetched chunks that could not be stored (still served)",
                LOAD(m->cache_put_failures));
    pcpd_metric(b, "pcpd_aborted_streams_total", "counter",
                "replies cut short because the backend fetch failed",
                LOAD(m->aborted_streams));
    pcpd_metric(b, "pcpd_meta_errors_total", "counter",
                "metadata proxy requests that failed", LOAD(m->meta_errors));
    pcpd_metric(b, "pcpd_write_cached_chunks_total", "counter",
                "chunks cached from puts and multipart parts through the node",
                LOAD(m->write_cached));
    pcpd_metric(b, "pcpd_warmup_chunks_total", "counter",
                "chunks fetched and stored by warmups", LOAD(m->warmup_chunks));
    pcpd_metric(b, "pcpd_auth_denied_total", "counter",
                "requests refused for a missing, bad or too narrow token",
                LOAD(m->auth_denied));
    pcpd_metric(b, "pcpd_pms_errors_total", "counter",
                "requests to pmsd that failed", LOAD(m->pms_errors));
    pcpd_metric(b, "pcpd_config_updates_total", "counter",
                "route tables taken from pmsd", LOAD(m->config_updates));
    pcpd_metrics_latency_render(pd, b);
    pcpd_flights_get_stats(pd->flights, &fs);
    pcpd_metric(b, "pcpd_inflight_requests", "gauge",
                "HTTP requests being served",
                (uint64_t)__atomic_load_n(&pd->inflight, __ATOMIC_RELAXED));
    pcpd_metric(b, "pcpd_flights", "gauge", "chunks being fetched", fs.flights);
    pcpd_metric(b, "pcpd_flight_bytes", "gauge",
                "memory of chunks being fetched", fs.mem);
    pcpd_metric(b, "pcpd_pool_pending", "gauge", "disk jobs queued or running",
                pcpd_pool_pending(pd->pool));
    pcpd_metrics_tiers(pd, b);
    pcpd_metrics_hot(pd, b);
    return b->len >= b->max ? -EMSGSIZE : 0;
}
