/* SPDX-License-Identifier: MIT */
/*
 * pcmd_node.c: pcmd stats and pcmd warmup.
 *
 * stats without --node reports this client's side of S3: the listing of
 * a prefix (objects and bytes) and the requests it took. With --node URL
 * it reads a cache node's /v1/status and /metrics (docs/protocol.md): hit
 * ratio, bytes served from the tiers and fetched from S3, tier usage and
 * the hottest chunks. warmup asks a node to load a prefix into its cache
 * (POST /v1/warmup) and follows /v1/status until the warmup ends.
 *
 * In cluster mode both will take the node list from pmsd and ask every
 * node; today they talk to the one node given.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "pcachefs/pcmd.h"

#define PCMD_NODE_MAX_BODY (16u << 20)

static size_t pcmd_node_write_cb(char *data, size_t size, size_t n, void *arg)
{
    return buf_append(arg, data, size * n) == 0 ? size * n : 0;
}

/*
 * One request to the node: method on node+path, an optional JSON body,
 * the answer's body into out. Returns the HTTP status, or -errno.
 */
static long pcmd_node_http(const struct pcmd *p, const char *method,
                           const char *path, const char *body, struct buf *out)
{
    const char *base = p->conf.node;
    const char *token = p->conf.token ? p->conf.token : getenv("PCACHE_TOKEN");
    char *auth = NULL;
    struct curl_slist *hdr = NULL;
    char *url = xasprintf("%s%s", base, path);
    long status = 0;
    CURLcode cc;
    CURL *h = curl_easy_init();

    if (!h) {
        free(url);
        return -ENOMEM;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, pcmd_node_write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (token && *token) {
        /* a node with pms= checks tokens on /v1/warmup (from pmsd) */
        auth = xasprintf("Authorization: Bearer %s", token);
        hdr = curl_slist_append(hdr, auth);
    }
    if (body) {
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    cc = curl_easy_perform(h);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else
        fprintf(stderr, "pcmd: %s %s: %s\n", method, url,
                curl_easy_strerror(cc));
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    free(auth);
    free(url);
    return cc == CURLE_OK ? status : -EHOSTUNREACH;
}

/* GET node+path as JSON; NULL after a message. Owned by the caller. */
static json_t *pcmd_node_get_json(const struct pcmd *p, const char *path)
{
    struct buf b;
    json_error_t je;
    json_t *j = NULL;
    long st;

    buf_init(&b, PCMD_NODE_MAX_BODY);
    st = pcmd_node_http(p, "GET", path, NULL, &b);
    if (st == 200)
        j = json_loadb(b.data ? b.data : "", b.len, 0, &je);
    if (st > 0 && !j)
        fprintf(stderr, "pcmd: %s%s: HTTP %ld, %s\n", p->conf.node, path, st,
                st == 200 ? "not JSON" : buf_str(&b));
    buf_free(&b);
    return j;
}

/* Sum of the samples of one metric (any labels) in Prometheus text. */
static double pcmd_node_metric(const char *text, const char *name)
{
    size_t n = strlen(name);
    const char *l = text, *end, *v;
    double sum = 0;

    for (; *l; l = *end ? end + 1 : end) {
        end = strchrnul(l, '\n');
        if (strncmp(l, name, n) != 0 || (l[n] != ' ' && l[n] != '{'))
            continue;
        for (v = end; v > l && v[-1] != ' '; v--)
            ;
        sum += strtod(v, NULL);
    }
    return sum;
}

struct pcmd_node_stats {
    double hits, misses, joins, tier_bytes, miss_bytes, backend_bytes,
        backend_gets, warmup_chunks;
};

static void pcmd_node_stats_read(const char *m, struct pcmd_node_stats *s)
{
    s->hits = pcmd_node_metric(m, "pcpd_chunk_hits_total");
    s->misses = pcmd_node_metric(m, "pcpd_chunk_misses_total");
    s->joins = pcmd_node_metric(m, "pcpd_chunk_joins_total");
    s->tier_bytes = pcmd_node_metric(m, "pcpd_tier_bytes_served_total");
    s->miss_bytes = pcmd_node_metric(m, "pcpd_bytes_served_miss_total");
    s->backend_bytes = pcmd_node_metric(m, "pcpd_backend_bytes_total");
    s->backend_gets = pcmd_node_metric(m, "pcpd_backend_gets_total");
    s->warmup_chunks = pcmd_node_metric(m, "pcpd_warmup_chunks_total");
}

static void pcmd_node_stats_text(const struct pcmd *p, json_t *st,
                                 const struct pcmd_node_stats *s)
{
    double req = s->hits + s->misses + s->joins;
    char a[16], b[16], c[16];
    json_t *t;
    size_t i;
    bool h = true;

    printf("node %s: %s %s, up %" JSON_INTEGER_FORMAT " s\n", p->conf.node,
           json_string_value(json_object_get(st, "service")),
           json_string_value(json_object_get(st, "version")),
           json_integer_value(json_object_get(st, "uptime_s")));
    printf("chunk requests: %.0f: %.0f hits, %.0f misses, %.0f joined; "
           "hit ratio %.1f%%\n",
           req, s->hits, s->misses, s->joins,
           req > 0 ? 100.0 * s->hits / req : 0.0);
    printf("bytes served: %s from tiers, %s while fetching; fetched from "
           "S3: %s in %.0f GETs\n",
           pcmd_size_str((uint64_t)s->tier_bytes, h, a, 16),
           pcmd_size_str((uint64_t)s->miss_bytes, h, b, 16),
           pcmd_size_str((uint64_t)s->backend_bytes, h, c, 16),
           s->backend_gets);
    json_array_foreach(json_object_get(st, "tiers"), i, t)
    {
        uint64_t used =
            (uint64_t)json_integer_value(json_object_get(t, "used"));
        uint64_t cap =
            (uint64_t)json_integer_value(json_object_get(t, "capacity"));

        printf("tier %-8s %s of %s (%.1f%%), %" JSON_INTEGER_FORMAT
               " chunks, %" JSON_INTEGER_FORMAT " hits\n",
               json_string_value(json_object_get(t, "name")),
               pcmd_size_str(used, h, a, 16), pcmd_size_str(cap, h, b, 16),
               cap ? 100.0 * (double)used / (double)cap : 0.0,
               json_integer_value(json_object_get(t, "chunks")),
               json_integer_value(json_object_get(t, "hits")));
    }
    json_array_foreach(json_object_get(json_object_get(st, "hot"), "top"), i, t)
    {
        if (i >= 5)
            break;
        printf("hot %s: %" JSON_INTEGER_FORMAT " requests\n",
               json_string_value(json_object_get(t, "name")),
               json_integer_value(json_object_get(t, "count")));
    }
}

static int pcmd_node_stats(struct pcmd *p)
{
    struct pcmd_node_stats s;
    json_t *st, *out;
    struct buf m;
    long code;
    double req;

    st = pcmd_node_get_json(p, "/v1/status");
    if (!st)
        return PCMD_EXIT_FAIL;
    buf_init(&m, PCMD_NODE_MAX_BODY);
    code = pcmd_node_http(p, "GET", "/metrics", NULL, &m);
    if (code != 200) {
        fprintf(stderr, "pcmd: %s/metrics: HTTP %ld\n", p->conf.node, code);
        json_decref(st);
        buf_free(&m);
        return PCMD_EXIT_FAIL;
    }
    pcmd_node_stats_read(buf_str(&m), &s);
    buf_free(&m);
    req = s.hits + s.misses + s.joins;
    if (p->conf.json) {
        out = json_pack(
            "{s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:O, s:O}",
            "node", p->conf.node, "chunk_hits", s.hits, "chunk_misses",
            s.misses, "chunk_joins", s.joins, "hit_ratio",
            req > 0 ? s.hits / req : 0.0, "bytes_served_tiers", s.tier_bytes,
            "bytes_served_miss", s.miss_bytes, "backend_bytes", s.backend_bytes,
            "backend_gets", s.backend_gets, "warmup_chunks", s.warmup_chunks,
            "tiers", json_object_get(st, "tiers"), "hot",
            json_object_get(st, "hot"));
        json_dumpf(out, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
        printf("\n");
        json_decref(out);
    } else {
        pcmd_node_stats_text(p, st, &s);
    }
    json_decref(st);
    return PCMD_EXIT_OK;
}

struct pcmd_stats_acc {
    uint64_t objects, bytes, largest;
};

static int pcmd_stats_cb(const struct s3_object_info *o, void *arg)
{
    struct pcmd_stats_acc *a = arg;

    a->objects++;
    a->bytes += (uint64_t)o->size;
    if ((uint64_t)o->size > a->largest)
        a->largest = (uint64_t)o->size;
    return 0;
}

int pcmd_cmd_stats(struct pcmd *p, int argc, char **argv)
{
    struct pcmd_stats_acc a = {0};
    struct s3_error err;
    struct pcmd_url u;
    char b1[16], b2[16];
    int rc = 0;

    if (argc > 1)
        return PCMD_EXIT_USAGE;
    if (p->conf.node)
        return argc ? PCMD_EXIT_USAGE : pcmd_node_stats(p);
    if (argc == 1) {
        if (pcmd_parse_url(argv[0], &u) < 0)
            return PCMD_EXIT_USAGE;
        rc = pcmd_remote_list(p, u.bucket, u.key, pcmd_stats_cb, &a, &err);
        if (rc)
            pcmd_fail("stats", argv[0], rc, &err);
        pcmd_url_fini(&u);
    }
    if (p->conf.json) {
        printf("{\"mode\": \"standalone\", \"objects\": %" PRIu64
               ", \"bytes\": %" PRIu64 ", \"largest\": %" PRIu64 ", ",
               a.objects, a.bytes, a.largest);
        pcmd_print_s3_stats(p, stdout, true);
        printf("}\n");
    } else {
        if (argc == 1)
            printf("%s: %" PRIu64 " objects, %s, largest %s\n", argv[0],
                   a.objects, pcmd_size_str(a.bytes, p->conf.human, b1, 16),
                   pcmd_size_str(a.largest, p->conf.human, b2, 16));
        pcmd_print_s3_stats(p, stdout, false);
    }
    return rc ? PCMD_EXIT_FAIL : PCMD_EXIT_OK;
}

/* The warmup with this id in a /v1/status document, borrowed, or NULL. */
static json_t *pcmd_warmup_find(json_t *st, json_int_t id)
{
    json_t *w;
    size_t i;

    json_array_foreach(json_object_get(st, "warmups"), i, w)
    {
        if (json_integer_value(json_object_get(w, "id")) == id)
            return w;
    }
    return NULL;
}

static uint64_t pcmd_json_u64(json_t *o, const char *name)
{
    json_int_t v = json_integer_value(json_object_get(o, name));

    return v > 0 ? (uint64_t)v : 0;
}

/* Follows warmup id until it is done or failed; the last state, owned. */
static json_t *pcmd_warmup_follow(struct pcmd *p, json_int_t id,
                                  struct pcmd_progress *pg)
{
    json_t *st, *w = NULL;
    const char *state;

    for (;;) {
        st = pcmd_node_get_json(p, "/v1/status");
        if (!st)
            return NULL;
        w = pcmd_warmup_find(st, id);
        if (!w) {
            json_decref(st);
            fprintf(stderr,
                    "pcmd: warmup %" JSON_INTEGER_FORMAT
                    " is gone from the node's status\n",
                    id);
            return NULL;
        }
        json_incref(w);
        json_decref(st);
        __atomic_store_n(&pg->total_files, pcmd_json_u64(w, "chunks"),
                         __ATOMIC_RELAXED);
        __atomic_store_n(&pg->done_files, pcmd_json_u64(w, "done"),
                         __ATOMIC_RELAXED);
        __atomic_store_n(&pg->done_bytes, pcmd_json_u64(w, "bytes"),
                         __ATOMIC_RELAXED);
        __atomic_store_n(&pg->failed_files, pcmd_json_u64(w, "failed"),
                         __ATOMIC_RELAXED);
        state = json_string_value(json_object_get(w, "state"));
        if (state &&
            (strcmp(state, "done") == 0 || strcmp(state, "failed") == 0))
            return w;
        json_decref(w);
        usleep((useconds_t)p->conf.poll_ms * 1000);
    }
}

static int pcmd_warmup_report(struct pcmd *p, json_t *w, double secs)
{
    const char *state = json_string_value(json_object_get(w, "state"));
    bool ok =
        state && strcmp(state, "done") == 0 && pcmd_json_u64(w, "failed") == 0;
    char b[16];

    if (p->conf.json) {
        json_object_set_new(w, "seconds", json_real(secs));
        json_dumpf(w, stdout, JSON_SORT_KEYS);
        printf("\n");
    } else if (!p->conf.quiet) {
        printf("warmup %" JSON_INTEGER_FORMAT ": %s: %" PRIu64 " keys, %" PRIu64
               " chunks: %" PRIu64 " fetched (%s), %" PRIu64
               " already cached, %" PRIu64 " failed in %.2f s%s%s\n",
               json_integer_value(json_object_get(w, "id")),
               state ? state : "?", pcmd_json_u64(w, "keys"),
               pcmd_json_u64(w, "chunks"), pcmd_json_u64(w, "fetched"),
               pcmd_size_str(pcmd_json_u64(w, "bytes"), true, b, 16),
               pcmd_json_u64(w, "cached"), pcmd_json_u64(w, "failed"), secs,
               json_is_string(json_object_get(w, "message")) ? ": " : "",
               json_is_string(json_object_get(w, "message"))
                   ? json_string_value(json_object_get(w, "message"))
                   : "");
    }
    return ok ? PCMD_EXIT_OK : PCMD_EXIT_FAIL;
}

int pcmd_cmd_warmup(struct pcmd *p, int argc, char **argv)
{
    struct pcmd_progress pg;
    struct pcmd_url u;
    json_t *req, *ans = NULL, *w = NULL;
    json_error_t je;
    struct buf b;
    char *body;
    double t0 = monotime_sec();
    long st;
    int rc = PCMD_EXIT_FAIL;

    if (argc != 1)
        return PCMD_EXIT_USAGE;
    if (!p->conf.node) {
        fprintf(stderr, "pcmd: warmup: give the node: --node URL%s\n",
                p->conf.pms ? " (cluster mode: not yet)" : "");
        return PCMD_EXIT_USAGE;
    }
    if (pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    req = json_pack("{s:s, s:s}", "pbucket", u.bucket, "prefix", u.key);
    if (p->conf.chunk_size)
        json_object_set_new(req, "chunk_size",
                            json_integer((json_int_t)p->conf.chunk_size));
    body = json_dumps(req, JSON_COMPACT);
    buf_init(&b, PCMD_NODE_MAX_BODY);
    st = pcmd_node_http(p, "POST", "/v1/warmup", body, &b);
    if (st == 202)
        ans = json_loadb(b.data ? b.data : "", b.len, 0, &je);
    if (!ans || !json_is_integer(json_object_get(ans, "id"))) {
        if (st > 0)
            fprintf(stderr, "pcmd: warmup %s: HTTP %ld %s\n", argv[0], st,
                    buf_str(&b));
        goto out;
    }
    pcmd_progress_start(&pg, p->conf.progress, "warmup", 0, 0);
    pg.unit = "chunks";
    w = pcmd_warmup_follow(p, json_integer_value(json_object_get(ans, "id")),
                           &pg);
    pcmd_progress_stop(&pg);
    if (w)
        rc = pcmd_warmup_report(p, w, monotime_sec() - t0);
out:
    json_decref(w);
    json_decref(ans);
    json_decref(req);
    free(body);
    buf_free(&b);
    pcmd_url_fini(&u);
    return rc;
}
