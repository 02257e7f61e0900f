/* SPDX-License-Identifier: MIT */
/*
 * status_page.c: pmsd's status page, GET / (an HTML page, no JavaScript).
 *
 * Built on the loop from what pmsd already holds: the membership (nodes,
 * liveness, last heartbeat, registered tiers), the pbuckets, and what
 * each node reported in the optional "stats" member of its last
 * heartbeat (docs/protocol.md): chunk hits and misses, bytes served and
 * fetched from S3 per pbucket, tier usage, hot chunks. A node that sends
 * no stats shows its registered tiers and dashes. The page refreshes
 * itself every 5 s (<meta http-equiv="refresh">).
 *
 * Everything from the network is escaped, and every number is read with
 * a type check, so a node cannot break the page with odd stats.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/monotime.h"
#include "pmsd/pmsd.h"
#include "pmsd/store.h"

#define PMSD_STATUS_HOT_MAX 10

static void pmsd_status_esc(struct evbuffer *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            evbuffer_add(b, "&lt;", 4);
            break;
        case '>':
            evbuffer_add(b, "&gt;", 4);
            break;
        case '&':
            evbuffer_add(b, "&amp;", 5);
            break;
        case '"':
            evbuffer_add(b, "&quot;", 6);
            break;
        case '\'':
            evbuffer_add(b, "&#39;", 5);
            break;
        default:
            evbuffer_add(b, s, 1);
        }
    }
}

/* A non-negative integer member of o, or 0. */
static uint64_t pmsd_status_u64(const json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);

    if (json_is_integer(v) && json_integer_value(v) > 0)
        return (uint64_t)json_integer_value(v);
    if (json_is_real(v) && json_real_value(v) > 0)
        return (uint64_t)json_real_value(v);
    return 0;
}

static const char *pmsd_status_size(uint64_t v, char *out, size_t len)
{
    static const char units[] = "BKMGTPE";
    double d = (double)v;
    int u = 0;

    while (d >= 1024 && u < 6) {
        d /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%" PRIu64 " B", v);
    else
        snprintf(out, len, "%.1f %ciB", d, units[u]);
    return out;
}

static void pmsd_status_bar(struct evbuffer *b, uint64_t used, uint64_t cap)
{
    double pct = cap ? 100.0 * (double)used / (double)cap : 0;
    char u[24], c[24];

    if (pct > 100)
        pct = 100;
    evbuffer_add_printf(
        b,
        "<div class=bar><div class=fill style=\"width:%.1f%%\"></div></div>"
        " %s / %s (%.0f%%)",
        pct, pmsd_status_size(used, u, sizeof(u)),
        pmsd_status_size(cap, c, sizeof(c)), pct);
}

static const char pmsd_status_head[] =
    "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
    "<meta http-equiv=refresh content=5>"
    "<title>pcachefs cluster status</title><style>"
    "body{font:14px/1.4 sans-serif;margin:24px;color:#222}"
    "h1{font-size:20px}h2{font-size:16px;margin-top:28px}"
    "table{border-collapse:collapse}"
    "th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left;"
    "vertical-align:top}th{background:#f4f4f4}"
    ".live{color:#0a0;font-weight:bold}.down{color:#c00;font-weight:bold}"
    ".bar{display:inline-block;width:160px;height:10px;background:#eee;"
    "border:1px solid #bbb;vertical-align:middle}"
    ".fill{height:100%;background:#4a8}.num{text-align:right}"
    ".muted{color:#888}.tn{display:inline-block;min-width:3em}"
    "</style></head><body>\n";

static void pmsd_status_summary(struct pmsd *pd, struct evbuffer *b)
{
    struct pmsd_state *st = &pd->state;

    evbuffer_add_printf(
        b,
        "<h1>pcachefs cluster status</h1>\n<p>pmsd %s, up "
        "%llu s, epoch %llu, store ",
        PCACHE_VERSION,
        (unsigned long long)((monotime_ms() - pd->start_ms) / 1000),
        (unsigned long long)st->epoch);
    pmsd_status_esc(b, pmsd_store_name(pd->store));
    evbuffer_add_printf(b,
                        ". <b>%zu</b> of %zu nodes live, %zu pbuckets, %zu "
                        "backends.</p>\n",
                        pmsd_nodes_live(st), st->nnodes,
                        json_object_size(st->pbuckets),
                        json_object_size(st->backends));
}

/* The tiers of a node: reported usage when there is some, else the
 * registered capacities. */
static void pmsd_status_tiers(struct evbuffer *b, const struct pmsd_node *n,
                              const json_t *stats)
{
    json_t *tiers = json_object_get(stats, "tiers"), *t;
    size_t i;

    if (!json_is_array(tiers))
        tiers = n->tiers;
    json_array_foreach(tiers, i, t)
    {
        if (i >= 16)
            break;
        evbuffer_add(b, "<span class=tn>", 15);
        pmsd_status_esc(b, json_string_value(json_object_get(t, "name")));
        evbuffer_add(b, "</span>", 7);
        pmsd_status_bar(b, pmsd_status_u64(t, "used"),
                        pmsd_status_u64(t, "capacity"));
        evbuffer_add(b, "<br>", 4);
    }
}

static void pmsd_status_node_row(struct pmsd *pd, struct evbuffer *b,
                                 const struct pmsd_node *n, uint64_t now)
{
    json_t *rep = json_object_get(pd->node_stats, n->id);
    json_t *stats = json_object_get(rep, "stats");
    uint64_t hits = pmsd_status_u64(stats, "chunk_hits");
    uint64_t req = hits + pmsd_status_u64(stats, "chunk_misses") +
                   pmsd_status_u64(stats, "chunk_joins");
    char s1[24], s2[24];

    evbuffer_add(b, "<tr class=node><td>", 19);
    pmsd_status_esc(b, n->id);
    evbuffer_add(b, "</td><td>", 9);
    pmsd_status_esc(b, n->address);
    evbuffer_add(b, "</td><td>", 9);
    pmsd_status_esc(b, n->zone);
    evbuffer_add_printf(b, "</td><td class=%s>%s</td><td class=num>%.1f s</td>",
                        n->live ? "live" : "down", n->live ? "live" : "expired",
                        (double)(now - n->last_seen_ms) / 1000.0);
    evbuffer_add(b, "<td>", 4);
    pmsd_status_tiers(b, n, stats);
    if (!stats) {
        evbuffer_add_printf(b, "</td><td class=muted colspan=3>no stats "
                               "reported</td></tr>\n");
        return;
    }
    evbuffer_add_printf(
        b,
        "</td><td class=num>%.1f%% <span class=muted>(%" PRIu64 " of %" PRIu64
        ")</span></td>"
        "<td class=num>%s</td><td class=num>%s</td></tr>\n",
        req ? 100.0 * (double)hits / (double)req : 0.0, hits, req,
        pmsd_status_size(pmsd_status_u64(stats, "bytes_served"), s1,
                         sizeof(s1)),
        pmsd_status_size(pmsd_status_u64(stats, "backend_bytes"), s2,
                         sizeof(s2)));
}

static void pmsd_status_nodes(struct pmsd *pd, struct evbuffer *b)
{
    uint64_t now = monotime_ms();
    size_t i;

    evbuffer_add_printf(
        b, "<h2>Nodes</h2>\n<table id=nodes><tr><th>id</th><th>address</th>"
           "<th>zone</th><th>health</th><th>last heartbeat</th><th>tiers "
           "(used / capacity)</th><th>hit ratio</th><th>bytes served</th>"
           "<th>fetched from S3</th></tr>\n");
    for (i = 0; i < pd->state.nnodes; i++)
        pmsd_status_node_row(pd, b, &pd->state.nodes[i], now);
    if (pd->state.nnodes == 0)
        evbuffer_add_printf(b, "<tr><td colspan=9 class=muted>no node has "
                               "registered</td></tr>\n");
    evbuffer_add_printf(b, "</table>\n");
}

/* Sums the pbuckets' bytes over the nodes' reports. */
static void pmsd_status_pbuckets(struct pmsd *pd, struct evbuffer *b)
{
    const char *name;
    json_t *pb;
    char s1[24], s2[24], s3[24];

    evbuffer_add_printf(
        b, "<h2>Pbuckets</h2>\n<table id=pbuckets><tr><th>pbucket</th>"
           "<th>bytes served</th><th>fetched from S3</th><th>egress "
           "avoided</th></tr>\n");
    json_object_foreach(pd->state.pbuckets, name, pb)
    {
        uint64_t served = 0, fetched = 0;
        const char *id;
        json_t *rep;

        json_object_foreach(pd->node_stats, id, rep)
        {
            json_t *p = json_object_get(
                json_object_get(json_object_get(rep, "stats"), "pbuckets"),
                name);

            served += pmsd_status_u64(p, "bytes_served");
            fetched += pmsd_status_u64(p, "backend_bytes");
        }
        evbuffer_add(b, "<tr><td>", 8);
        pmsd_status_esc(b, name);
        evbuffer_add_printf(
            b,
            "</td><td class=num>%s</td><td class=num>%s</td>"
            "<td class=num>%s</td></tr>\n",
            pmsd_status_size(served, s1, sizeof(s1)),
            pmsd_status_size(fetched, s2, sizeof(s2)),
            pmsd_status_size(served > fetched ? served - fetched : 0, s3,
                             sizeof(s3)));
    }
    evbuffer_add_printf(b, "</table>\n");
}

struct pmsd_status_hot_item {
    const char *name; /* borrowed from a report */
    uint64_t count;
};

static int pmsd_status_hot_cmp(const void *a, const void *b)
{
    const struct pmsd_status_hot_item *x = a, *y = b;

    return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

/* The hottest chunks over every node's report; one chunk asked on
 * several nodes counts once, with the sum of its requests. */
static void pmsd_status_hot(struct pmsd *pd, struct evbuffer *b)
{
    struct pmsd_status_hot_item v[16 * PMSD_STATUS_HOT_MAX];
    size_t n = 0, i, k;
    const char *id, *name;
    json_t *rep, *h;

    json_object_foreach(pd->node_stats, id, rep)
    {
        json_array_foreach(
            json_object_get(json_object_get(rep, "stats"), "hot"), i, h)
        {
            name = json_string_value(json_object_get(h, "name"));
            if (i >= PMSD_STATUS_HOT_MAX || !name)
                continue;
            for (k = 0; k < n && strcmp(v[k].name, name) != 0; k++)
                ;
            if (k == n && n == sizeof(v) / sizeof(v[0]))
                continue;
            if (k == n)
                v[n++] = (struct pmsd_status_hot_item){name, 0};
            v[k].count += pmsd_status_u64(h, "count");
        }
    }
    if (n)
        qsort(v, n, sizeof(v[0]), pmsd_status_hot_cmp);
    evbuffer_add_printf(b, "<h2>Hot chunks</h2>\n<table id=hot><tr><th>chunk"
                           "</th><th>requests</th></tr>\n");
    for (i = 0; i < n && i < PMSD_STATUS_HOT_MAX; i++) {
        evbuffer_add(b, "<tr><td>", 8);
        pmsd_status_esc(b, v[i].name);
        evbuffer_add_printf(b, "</td><td class=num>%" PRIu64 "</td></tr>\n",
                            v[i].count);
    }
    if (n == 0)
        evbuffer_add_printf(b, "<tr><td colspan=2 class=muted>none reported"
                               "</td></tr>\n");
    evbuffer_add_printf(b, "</table>\n");
}

int pmsd_status_page(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    struct evbuffer *b = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    evbuffer_add(b, pmsd_status_head, sizeof(pmsd_status_head) - 1);
    pmsd_status_summary(pd, b);
    pmsd_status_nodes(pd, b);
    pmsd_status_pbuckets(pd, b);
    pmsd_status_hot(pd, b);
    evbuffer_add_printf(b, "<p class=muted>JSON: <a href=\"/v1/status\">"
                           "/v1/status</a>, metrics: <a href=\"/metrics\">"
                           "/metrics</a></p>\n</body></html>\n");
    evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(r->req, 200, NULL, b);
    evbuffer_free(b);
    pd->n.responses[2]++;
    return 0;
}

void pmsd_status_node_report(struct pmsd *pd, const char *id,
                             const json_t *body)
{
    json_t *stats = json_object_get(body, "stats");

    /* optional and advisory: anything but an object is ignored */
    if (!json_is_object(stats))
        return;
    if (!pd->node_stats)
        pd->node_stats = json_object();
    json_object_set_new(pd->node_stats, id,
                        json_pack("{s:O, s:I}", "stats", stats, "at_ms",
                                  (json_int_t)monotime_ms()));
}

void pmsd_status_node_forget(struct pmsd *pd, const char *id)
{
    if (pd->node_stats)
        json_object_del(pd->node_stats, id);
}
