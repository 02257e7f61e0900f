/* SPDX-License-Identifier: MIT */
/*
 * metrics.h: the node's counters and their Prometheus text form.
 *
 * Counters are plain uint64_t updated with relaxed atomics from any
 * thread (PCPD_COUNT); the render reads each once, so a scrape is not a
 * snapshot of one instant but every value in it is exact.
 */
#ifndef PCPD_METRICS_H
#define PCPD_METRICS_H

#include <stdint.h>

#include "pcpd/config.h"

struct buf;
struct pcpd;

/* Backend GET latency buckets, in milliseconds (upper bounds). */
#define PCPD_LAT_BUCKETS 12

enum pcpd_endpoint {
    PCPD_EP_CHUNK,
    PCPD_EP_META,
    PCPD_EP_WARMUP,
    PCPD_EP_METRICS,
    PCPD_EP_STATUS,
    PCPD_EP_OTHER,
    PCPD_EP_MAX,
};

struct pcpd_metrics {
    uint64_t requests[PCPD_EP_MAX];
    uint64_t responses[6]; /* by status class: [2] = 2xx ... [5] = 5xx */
    uint64_t chunk_hits;
    uint64_t chunk_misses; /* started a backend GET */
    uint64_t chunk_joins;  /* shared a GET already in flight */
    uint64_t bytes_served_miss;
    uint64_t backend_gets;
    uint64_t backend_errors;
    uint64_t backend_bytes;
    uint64_t etag_mismatch;
    uint64_t flight_refused;
    uint64_t cache_put_failures;
    uint64_t aborted_streams; /* replies cut because the fetch failed */
    uint64_t meta_errors;     /* metadata proxy requests that failed */
    uint64_t write_cached;    /* chunks cached from puts and parts */
    uint64_t warmup_chunks;   /* chunks fetched by warmups */
    uint64_t auth_denied;     /* requests refused by pcpd_auth_check */
    uint64_t pms_errors;      /* pmsd requests that failed */
    uint64_t config_updates;  /* route tables taken from pmsd */
    uint64_t lat_bucket[PCPD_LAT_BUCKETS + 1]; /* +Inf last */
    uint64_t lat_sum_us;
    uint64_t lat_count;
};

/*
 * Bytes per pbucket, for the heartbeat's report (pmsd's status page:
 * egress avoided per pbucket). A slot is claimed for a pbucket name on
 * first use and kept (names are few); past PCPD_PB_SLOTS names, the last
 * slot counts every other pbucket ("*").
 */
#define PCPD_PB_SLOTS 64

struct pcpd_pbstat {
    char name[64];    /* set once under pbstats_lock, then read-only */
    bool used;        /* atomic (release after name is written) */
    uint64_t served;  /* atomic: chunk bytes sent to clients */
    uint64_t fetched; /* atomic: chunk bytes received from backends */
};

#define PCPD_COUNT(pd, field, n)                                               \
    __atomic_add_fetch(&(pd)->metrics.field, (n), __ATOMIC_RELAXED)

/* The pbstats slot of pbucket (claimed on first use); any thread. */
size_t pcpd_pbstat_slot(struct pcpd *pd, const char *pbucket);
#define PCPD_PB_COUNT(pd, slot, field, n)                                      \
    __atomic_add_fetch(&(pd)->pbstats[slot].field, (n), __ATOMIC_RELAXED)

/* Records one backend GET of ns nanoseconds. */
void pcpd_metrics_latency(struct pcpd *pd, uint64_t ns);
/* Appends the Prometheus text exposition. 0 or -EMSGSIZE. */
int pcpd_metrics_render(struct pcpd *pd, struct buf *out);

#endif
