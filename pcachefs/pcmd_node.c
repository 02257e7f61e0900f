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
#include "common/token.h"
#include "pcachefs/cluster.h"
#include "pcachefs/pcmd.h"

#define PCMD_NODE_MAX_BODY (16u << 20)

static size_t pcmd_node_write_cb(char *data, size_t size, size_t n, void *arg)
{
    return buf_append(arg, data, size * n) == 0 ? size * n : 0;
}

/* A node to talk to: its base URL and the bearer token (may be NULL). */
struct pcmd_node {
    const char *base;
    const char *token;
};

/* --node URL with --token (or PCACHE_TOKEN). */
static struct pcmd_node pcmd_node_of(const struct pcmd *p)
{
    return (struct pcmd_node){
        .base = p->conf.node,
        .token = p->conf.token ? p->conf.token : getenv("PCACHE_TOKEN"),
    };
}

/*
 * One request to the node: method on node+path, an optional JSON body,
 * the answer's body into out. Returns the HTTP status, or -errno.
 */
static long pcmd_node_http(const struct pcmd_node *nd, const char *method,
                           const char *path, const char *body, struct buf *out)
{
    const char *base = nd->base, *token = nd->token;
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
static json_t *pcmd_node_get_json(const struct pcmd_node *nd, const char *path)
{
    struct buf b;
    json_error_t je;
    json_t *j = NULL;
    long st;

    buf_init(&b, PCMD_NODE_MAX_BODY);
    st = pcmd_node_http(nd, "GET", path, NULL, &b);
    if (st == 200)
        j = json_loadb(b.data ? b.data : "", b.len, 0, &je);
    if (st > 0 && !j)
        fprintf(stderr, "pcmd: %s%s: HTTP %ld, %s\n", nd->base, path, st,
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

static void pcmd_node_stats_text(const char *base, json_t *st,
                                 const struct pcmd_node_stats *s)
{
    double req = s->hits + s->misses + s->joins;
    char a[16], b[16], c[16];
    json_t *t;
    size_t i;
    bool h = true;

    printf("node %s: %s %s, up %" JSON_INTEGER_FORMAT " s\n", base,
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

/* The JSON form of one node's statistics, owned. */
static json_t *pcmd_node_stats_json(const char *base, json_t *st,
                                    const struct pcmd_node_stats *s)
{
    double req = s->hits + s->misses + s->joins;

    return json_pack(
        "{s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:O, s:O}", "node",
        base, "chunk_hits", s->hits, "chunk_misses", s->misses, "chunk_joins",
        s->joins, "hit_ratio", req > 0 ? s->hits / req : 0.0,
        "bytes_served_tiers", s->tier_bytes, "bytes_served_miss", s->miss_bytes,
        "backend_bytes", s->backend_bytes, "backend_gets", s->backend_gets,
        "warmup_chunks", s->warmup_chunks, "tiers",
        json_object_get(st, "tiers"), "hot", json_object_get(st, "hot"));
}

/* Status and metrics of one node: *st (owned) and s. 0 or an exit. */
static int pcmd_node_stats_get(const struct pcmd_node *nd, json_t **st,
                               struct pcmd_node_stats *s)
{
    struct buf m;
    long code;

    *st = pcmd_node_get_json(nd, "/v1/status");
    if (!*st)
        return PCMD_EXIT_FAIL;
    buf_init(&m, PCMD_NODE_MAX_BODY);
    code = pcmd_node_http(nd, "GET", "/metrics", NULL, &m);
    if (code != 200) {
        fprintf(stderr, "pcmd: %s/metrics: HTTP %ld\n", nd->base, code);
        json_decref(*st);
        *st = NULL;
        buf_free(&m);
        return PCMD_EXIT_FAIL;
    }
    pcmd_node_stats_read(buf_str(&m), s);
    buf_free(&m);
    return 0;
}

static int pcmd_node_stats(struct pcmd *p)
{
    struct pcmd_node nd = pcmd_node_of(p);
    struct pcmd_node_stats s;
    json_t *st, *out;

    if (pcmd_node_stats_get(&nd, &st, &s) != 0)
        return PCMD_EXIT_FAIL;
    if (p->conf.json) {
        out = pcmd_node_stats_json(nd.base, st, &s);
        json_dumpf(out, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
        printf("\n");
        json_decref(out);
    } else {
        pcmd_node_stats_text(nd.base, st, &s);
    }
    json_decref(st);
    return PCMD_EXIT_OK;
}

/*
 * Cluster mode: every live node's statistics and their sum. In JSON,
 * members "nodes" (one object each) and "cluster" (the sums) are added
 * to out. 0 or PCMD_EXIT_FAIL (some node did not answer).
 */
static int pcmd_cluster_stats(struct pcmd *p, const char *pbucket, json_t *out)
{
    struct remote *re = pcmd_remote(p, pbucket);
    char bearer[TOKEN_MAX_LEN + 16], **ids = NULL, **addrs = NULL, a[16], b[16];
    struct pcmd_node_stats s, sum = {0};
    json_t *arr = json_array(), *st;
    size_t n, i;
    double req;
    int rc = 0;

    if (!re || cluster_bearer(re->cluster, bearer, sizeof(bearer)) < 0) {
        json_decref(arr);
        return PCMD_EXIT_FAIL;
    }
    n = cluster_nodes(re->cluster, &ids, &addrs);
    for (i = 0; i < n; i++) {
        char *base = strstr(addrs[i], "://") ? xstrdup(addrs[i])
                                             : xasprintf("http://%s", addrs[i]);
        struct pcmd_node nd = {base, bearer + strlen("Bearer ")};

        if (pcmd_node_stats_get(&nd, &st, &s) != 0) {
            rc = PCMD_EXIT_FAIL;
            free(base);
            continue;
        }
        sum.hits += s.hits;
        sum.misses += s.misses;
        sum.joins += s.joins;
        sum.tier_bytes += s.tier_bytes;
        sum.miss_bytes += s.miss_bytes;
        sum.backend_bytes += s.backend_bytes;
        sum.backend_gets += s.backend_gets;
        sum.warmup_chunks += s.warmup_chunks;
        if (p->conf.json) {
            json_t *one = pcmd_node_stats_json(base, st, &s);

            json_object_set_new(one, "id", json_string(ids[i]));
            json_array_append_new(arr, one);
        } else {
            printf("\n");
            pcmd_node_stats_text(base, st, &s);
        }
        json_decref(st);
        free(base);
    }
    req = sum.hits + sum.misses + sum.joins;
    if (p->conf.json) {
        json_object_set_new(out, "nodes", arr);
        json_object_set_new(
            out, "cluster",
            json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "live_nodes",
                      (json_int_t)n, "chunk_hits", sum.hits, "chunk_misses",
                      sum.misses, "hit_ratio", req > 0 ? sum.hits / req : 0.0,
                      "bytes_served", sum.tier_bytes + sum.miss_bytes,
                      "backend_bytes", sum.backend_bytes, "backend_gets",
                      sum.backend_gets));
    } else {
        json_decref(arr);
        printf("\ncluster: %zu live nodes, hit ratio %.1f%% (%.0f of %.0f "
               "chunk requests); served %s, fetched from S3 %s\n",
               n, req > 0 ? 100.0 * sum.hits / req : 0.0, sum.hits, req,
               pcmd_size_str((uint64_t)(sum.tier_bytes + sum.miss_bytes), true,
                             a, 16),
               pcmd_size_str((uint64_t)sum.backend_bytes, true, b, 16));
    }
    cluster_strv_free(ids, n);
    cluster_strv_free(addrs, n);
    return rc;
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
    struct pcmd_url u = {0};
    char b1[16], b2[16], *text;
    bool cluster = p->mode == PCMD_MODE_CLUSTER;
    json_t *out;
    int rc = 0, rc2;

    if (argc > 1)
        return PCMD_EXIT_USAGE;
    if (p->conf.node)
        return argc ? PCMD_EXIT_USAGE : pcmd_node_stats(p);
    if (cluster && argc == 0) {
        fprintf(stderr, "pcmd: stats: name the pbucket: s3://PBUCKET\n");
        return PCMD_EXIT_USAGE;
    }
    if (argc == 1) {
        if (pcmd_parse_url(argv[0], &u) < 0)
            return PCMD_EXIT_USAGE;
        rc = pcmd_remote_list(p, u.bucket, u.key, pcmd_stats_cb, &a, &err);
        if (rc)
            pcmd_fail("stats", argv[0], rc, &err);
    }
    out = json_pack("{s:s, s:I, s:I, s:I}", "mode",
                    cluster ? "cluster" : "standalone", "objects",
                    (json_int_t)a.objects, "bytes", (json_int_t)a.bytes,
                    "largest", (json_int_t)a.largest);
    if (!p->conf.json && argc == 1)
        printf("%s: %" PRIu64 " objects, %s, largest %s\n", argv[0], a.objects,
               pcmd_size_str(a.bytes, p->conf.human, b1, 16),
               pcmd_size_str(a.largest, p->conf.human, b2, 16));
    if (cluster) {
        rc2 = pcmd_cluster_stats(p, u.bucket, out);
        rc = rc ?: rc2;
    }
    if (p->conf.json) {
        text = json_dumps(out, JSON_COMPACT);
        /* the S3 client's counters as the last member */
        printf("%.*s, ", (int)strlen(text) - 1, text);
        pcmd_print_s3_stats(p, stdout, true);
        printf("}\n");
        free(text);
    } else if (!cluster) {
        pcmd_print_s3_stats(p, stdout, false);
    }
    json_decref(out);
    pcmd_url_fini(&u);
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

/* One node's part of a warmup. */
struct pcmd_warm {
    struct pcmd_node nd;
    char *base; /* owned (cluster mode) */
    json_int_t id;
    json_t *last; /* owned: the last state seen */
    bool over;    /* done, failed or lost */
};

/* POSTs body to w's node; 0, or PCMD_EXIT_FAIL after a message. */
static int pcmd_warmup_post(struct pcmd_warm *w, const char *body,
                            const char *what)
{
    json_t *ans = NULL;
    json_error_t je;
    struct buf b;
    long st;

    buf_init(&b, PCMD_NODE_MAX_BODY);
    st = pcmd_node_http(&w->nd, "POST", "/v1/warmup", body, &b);
    if (st == 202)
        ans = json_loadb(b.data ? b.data : "", b.len, 0, &je);
    if (!ans || !json_is_integer(json_object_get(ans, "id"))) {
        if (st > 0)
            fprintf(stderr, "pcmd: warmup %s on %s: HTTP %ld %s\n", what,
                    w->nd.base, st, buf_str(&b));
        json_decref(ans);
        buf_free(&b);
        return PCMD_EXIT_FAIL;
    }
    w->id = json_integer_value(json_object_get(ans, "id"));
    json_decref(ans);
    buf_free(&b);
    return 0;
}

/* Polls w's node once; sets w->over when its warmup has ended. */
static void pcmd_warmup_poll(struct pcmd_warm *w)
{
    json_t *st = pcmd_node_get_json(&w->nd, "/v1/status"), *found;
    const char *state;

    found = st ? pcmd_warmup_find(st, w->id) : NULL;
    if (!found) {
        if (st)
            fprintf(stderr,
                    "pcmd: warmup %" JSON_INTEGER_FORMAT
                    " is gone from %s's status\n",
                    w->id, w->nd.base);
        w->over = true;
        json_decref(st);
        return;
    }
    json_decref(w->last);
    w->last = json_incref(found);
    json_decref(st);
    state = json_string_value(json_object_get(w->last, "state"));
    w->over =
        state && (strcmp(state, "done") == 0 || strcmp(state, "failed") == 0);
}

/*
 * Follows every node's warmup until all have ended, showing the sums on
 * the progress bar. Returns their sum: one state object, owned.
 */
static json_t *pcmd_warmup_follow(struct pcmd *p, struct pcmd_warm *ws,
                                  size_t n, struct pcmd_progress *pg)
{
    static const char *const sums[] = {"chunks", "done",   "fetched",
                                       "cached", "failed", "bytes"};
    uint64_t tot[6], keys;
    bool all, ok;
    json_t *sum;
    size_t i, k;

    for (;;) {
        all = ok = true;
        keys = 0;
        memset(tot, 0, sizeof(tot));
        for (i = 0; i < n; i++) {
            if (!ws[i].over)
                pcmd_warmup_poll(&ws[i]);
            all = all && ws[i].over;
            if (!ws[i].last) {
                ok = false;
                continue;
            }
            for (k = 0; k < 6; k++)
                tot[k] += pcmd_json_u64(ws[i].last, sums[k]);
            /* every node lists the same keys */
            if (pcmd_json_u64(ws[i].last, "keys") > keys)
                keys = pcmd_json_u64(ws[i].last, "keys");
            ok = ok &&
                 strcmp(json_string_value(json_object_get(ws[i].last, "state"))
                            ?: "",
                        "done") == 0;
        }
        __atomic_store_n(&pg->total_files, tot[0], __ATOMIC_RELAXED);
        __atomic_store_n(&pg->done_files, tot[1], __ATOMIC_RELAXED);
        __atomic_store_n(&pg->done_bytes, tot[5], __ATOMIC_RELAXED);
        __atomic_store_n(&pg->failed_files, tot[4], __ATOMIC_RELAXED);
        if (all)
            break;
        usleep((useconds_t)p->conf.poll_ms * 1000);
    }
    if (n == 1 && ws[0].last)
        return json_incref(ws[0].last);
    sum = json_pack("{s:s, s:I, s:I}", "state", ok ? "done" : "failed", "nodes",
                    (json_int_t)n, "keys", (json_int_t)keys);
    for (k = 0; k < 6; k++)
        json_object_set_new(sum, sums[k], json_integer((json_int_t)tot[k]));
    return sum;
}

static int pcmd_warmup_report(struct pcmd *p, json_t *w, double secs)
{
    const char *state = json_string_value(json_object_get(w, "state"));
    bool ok =
        state && strcmp(state, "done") == 0 && pcmd_json_u64(w, "failed") == 0;
    char b[16], who[48];

    if (json_is_integer(json_object_get(w, "id")))
        snprintf(who, sizeof(who), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(w, "id")));
    else
        snprintf(who, sizeof(who), "on %" PRIu64 " nodes",
                 pcmd_json_u64(w, "nodes"));
    if (p->conf.json) {
        json_object_set_new(w, "seconds", json_real(secs));
        json_dumpf(w, stdout, JSON_SORT_KEYS);
        printf("\n");
    } else if (!p->conf.quiet) {
        printf("warmup %s: %s: %" PRIu64 " keys, %" PRIu64 " chunks: %" PRIu64
               " fetched (%s), %" PRIu64 " already cached, %" PRIu64
               " failed in %.2f s%s%s\n",
               who, state ? state : "?", pcmd_json_u64(w, "keys"),
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

/*
 * Cluster mode: the live nodes of the pbucket, each told the whole list
 * so that it loads only the chunks it owns. *out owned; 0 or an exit.
 */
static int pcmd_warmup_nodes(struct pcmd *p, const char *pbucket,
                             struct pcmd_warm **out, size_t *n, char **token,
                             json_t *req)
{
    struct remote *re = pcmd_remote(p, pbucket);
    char bearer[TOKEN_MAX_LEN + 16], **ids = NULL, **addrs = NULL;
    json_t *list;
    size_t i;

    *out = NULL;
    *n = 0;
    if (!re)
        return PCMD_EXIT_FAIL;
    *n = cluster_nodes(re->cluster, &ids, &addrs);
    if (*n == 0 || cluster_bearer(re->cluster, bearer, sizeof(bearer)) < 0) {
        fprintf(stderr, "pcmd: warmup: no live cache node\n");
        cluster_strv_free(ids, *n);
        cluster_strv_free(addrs, *n);
        return PCMD_EXIT_FAIL;
    }
    *token = xstrdup(bearer + strlen("Bearer "));
    list = json_array();
    *out = xcalloc(*n, sizeof(**out));
    for (i = 0; i < *n; i++) {
        json_array_append_new(list, json_string(ids[i]));
        (*out)[i].base = strstr(addrs[i], "://")
                             ? xstrdup(addrs[i])
                             : xasprintf("http://%s", addrs[i]);
        (*out)[i].nd = (struct pcmd_node){(*out)[i].base, *token};
    }
    json_object_set_new(req, "nodes", list);
    cluster_strv_free(ids, *n);
    cluster_strv_free(addrs, *n);
    return 0;
}

int pcmd_cmd_warmup(struct pcmd *p, int argc, char **argv)
{
    struct pcmd_progress pg;
    struct pcmd_warm *ws = NULL;
    struct pcmd_url u;
    json_t *req, *w = NULL;
    char *body = NULL, *token = NULL;
    double t0 = monotime_sec();
    size_t n = 0, i;
    int rc = PCMD_EXIT_FAIL;

    if (argc != 1)
        return PCMD_EXIT_USAGE;
    if (!p->conf.node && !p->conf.pms) {
        fprintf(stderr, "pcmd: warmup: give the node (--node URL) or the "
                        "cluster (--pms)\n");
        return PCMD_EXIT_USAGE;
    }
    if (pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    req = json_pack("{s:s, s:s}", "pbucket", u.bucket, "prefix", u.key);
    if (p->conf.chunk_size)
        json_object_set_new(req, "chunk_size",
                            json_integer((json_int_t)p->conf.chunk_size));
    if (p->conf.node) {
        n = 1;
        ws = xcalloc(1, sizeof(*ws));
        ws->nd = pcmd_node_of(p);
    } else if (pcmd_warmup_nodes(p, u.bucket, &ws, &n, &token, req) != 0) {
        goto out;
    }
    for (i = 0; i < n; i++) {
        json_t *nodes = json_object_get(req, "nodes");

        if (nodes) /* cluster mode: node i loads what it owns */
            json_object_set(req, "self", json_array_get(nodes, i));
        free(body);
        body = json_dumps(req, JSON_COMPACT);
        if (pcmd_warmup_post(&ws[i], body, argv[0]) != 0)
            goto out; /* those started go on server side */
    }
    pcmd_progress_start(&pg, p->conf.progress, "warmup", 0, 0);
    pg.unit = "chunks";
    w = pcmd_warmup_follow(p, ws, n, &pg);
    pcmd_progress_stop(&pg);
    rc = pcmd_warmup_report(p, w, monotime_sec() - t0);
out:
    for (i = 0; ws && i < n; i++) {
        json_decref(ws[i].last);
        free(ws[i].base);
    }
    free(ws);
    free(token);
    json_decref(w);
    json_decref(req);
    free(body);
    pcmd_url_fini(&u);
    return rc;
}
