/* SPDX-License-Identifier: MIT */
/*
 * routes.c: pbucket -> backend routing from the config file (routes.h).
 */
#include "pcpd/routes.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/chunk.h"
#include "common/log.h"
#include "common/mem.h"

void pcpd_routes_init(struct pcpd_routes *r)
{
    memset(r, 0, sizeof(*r));
}

void pcpd_s3_config_copy(struct s3_config *dst, const struct s3_config *src)
{
    *dst = *src;
    dst->endpoint = src->endpoint ? xstrdup(src->endpoint) : NULL;
    dst->region = src->region ? xstrdup(src->region) : NULL;
    dst->ca_file = src->ca_file ? xstrdup(src->ca_file) : NULL;
}

void pcpd_s3_config_fini(struct s3_config *c)
{
    free(c->endpoint);
    free(c->region);
    free(c->ca_file);
    c->endpoint = c->region = c->ca_file = NULL;
}

static void routes_backend_fini(struct pcpd_backend *b)
{
    free(b->name);
    free(b->bucket);
    free(b->credfile);
    free(b->profile);
    free(b->endpoint);
    free(b->region);
    free(b->ident);
    pcpd_s3_config_fini(&b->s3);
    if (b->creds_ok)
        creds_source_fini(&b->creds);
    memset(b, 0, sizeof(*b));
}

static void routes_pbucket_fini(struct pcpd_pbucket *pb)
{
    size_t j;

    for (j = 0; j < pb->nroutes; j++) {
        free(pb->routes[j].prefix);
        free(pb->routes[j].bname);
    }
    free(pb->routes);
    free(pb->name);
    memset(pb, 0, sizeof(*pb));
}

void pcpd_routes_fini(struct pcpd_routes *r)
{
    size_t i;

    for (i = 0; i < r->nbackends; i++)
        routes_backend_fini(&r->backends[i]);
    for (i = 0; i < r->npbuckets; i++)
        routes_pbucket_fini(&r->pbuckets[i]);
    free(r->backends);
    free(r->pbuckets);
    memset(r, 0, sizeof(*r));
}

bool pcpd_routes_is_setting(const char *name)
{
    return strncmp(name, "backend.", 8) == 0 ||
           strncmp(name, "pbucket.", 8) == 0;
}

static bool routes_name_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > PCPD_NAME_MAX)
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.'))
            return false;
    }
    return true;
}

static struct pcpd_backend *routes_backend(struct pcpd_routes *r,
                                           const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < r->nbackends; i++) {
        if (strlen(r->backends[i].name) == n &&
            memcmp(r->backends[i].name, name, n) == 0)
            return &r->backends[i];
    }
    r->backends =
        xrealloc(r->backends, (r->nbackends + 1) * sizeof(*r->backends));
    memset(&r->backends[r->nbackends], 0, sizeof(*r->backends));
    r->backends[r->nbackends].name = xstrndup(name, n);
    r->backends[r->nbackends].path_style = -1;
    return &r->backends[r->nbackends++];
}

static struct pcpd_pbucket *routes_pbucket(struct pcpd_routes *r,
                                           const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < r->npbuckets; i++) {
        if (strlen(r->pbuckets[i].name) == n &&
            memcmp(r->pbuckets[i].name, name, n) == 0)
            return &r->pbuckets[i];
    }
    r->pbuckets =
        xrealloc(r->pbuckets, (r->npbuckets + 1) * sizeof(*r->pbuckets));
    memset(&r->pbuckets[r->npbuckets], 0, sizeof(*r->pbuckets));
    r->pbuckets[r->npbuckets].name = xstrndup(name, n);
    return &r->pbuckets[r->npbuckets++];
}

static void routes_set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = xstrdup(v);
}

static int routes_set_backend(struct pcpd_backend *b, const char *field,
                              const char *value, struct config_error *err)
{
    bool yes;

    if (strcmp(field, "endpoint") == 0)
        routes_set_str(&b->endpoint, value);
    else if (strcmp(field, "region") == 0)
        routes_set_str(&b->region, value);
    else if (strcmp(field, "bucket") == 0)
        routes_set_str(&b->bucket, value);
    else if (strcmp(field, "credfile") == 0)
        routes_set_str(&b->credfile, value);
    else if (strcmp(field, "profile") == 0)
        routes_set_str(&b->profile, value);
    else if (strcmp(field, "path_style") == 0) {
        if (config_parse_bool(value, &yes) < 0) {
            snprintf(err->text, sizeof(err->text),
                     "backend.%s.path_style = %s: expected yes or no", b->name,
                     value);
            return -EINVAL;
        }
        b->path_style = yes;
    } else {
        snprintf(err->text, sizeof(err->text), "unknown setting backend.%s.%s",
                 b->name, field);
        return -EINVAL;
    }
    return 0;
}

/* "PREFIX BACKEND [TTL]"; PREFIX may be "" (quoted). */
static int routes_add_route(struct pcpd_pbucket *pb, const char *value,
                            struct config_error *err)
{
    char *copy = xstrdup(value), *save = NULL, *prefix, *bname, *ttl;
    struct pcpd_route rt = {0};
    int rc = -EINVAL;

    prefix = strtok_r(copy, " \t", &save);
    bname = strtok_r(NULL, " \t", &save);
    ttl = strtok_r(NULL, " \t", &save);
    if (prefix && !bname) {
        /* One word: a backend for every key. */
        bname = prefix;
        prefix = "";
    }
    if (!bname || strtok_r(NULL, " \t", &save) ||
        !routes_name_ok(bname, strlen(bname)))
        goto bad;
    if (strcmp(prefix, "\"\"") == 0 || strcmp(prefix, "/") == 0)
        prefix = "";
    if (ttl && config_parse_duration(ttl, &rt.ttl_ms) < 0)
        goto bad;
    rt.prefix = xstrdup(prefix);
    rt.bname = xstrdup(bname);
    pb->routes = xrealloc(pb->routes, (pb->nroutes + 1) * sizeof(*pb->routes));
    pb->routes[pb->nroutes++] = rt;
    rc = 0;
    goto out;
bad:
    snprintf(err->text, sizeof(err->text),
             "pbucket.%s.route = '%.200s': expected 'PREFIX BACKEND [TTL]'",
             pb->name, value);
out:
    free(copy);
    return rc;
}

int pcpd_routes_set(struct pcpd_routes *r, const char *name, const char *value,
                    struct config_error *err)
{
    const char *rest = name + 8, *dot = strchr(rest, '.');

    if (!pcpd_routes_is_setting(name) || !dot ||
        !routes_name_ok(rest, (size_t)(dot - rest))) {
        snprintf(err->text, sizeof(err->text),
                 "'%.200s': expected backend.NAME.FIELD or pbucket.NAME.FIELD "
                 "(NAME: a-z 0-9 . _ -)",
                 name);
        return -EINVAL;
    }
    if (name[0] == 'b')
        return routes_set_backend(routes_backend(r, rest, (size_t)(dot - rest)),
                                  dot + 1, value, err);
    struct pcpd_pbucket *pb = routes_pbucket(r, rest, (size_t)(dot - rest));
    if (strcmp(dot + 1, "route") == 0)
        return routes_add_route(pb, value, err);
    if (strcmp(dot + 1, "chunk_size") == 0) {
        if (config_parse_size(value, &pb->chunk_size) < 0 ||
            (pb->chunk_size && !chunk_size_valid(pb->chunk_size))) {
            snprintf(err->text, sizeof(err->text),
                     "pbucket.%s.chunk_size = %s: expected 1M..64M, a "
                     "multiple of 64K",
                     pb->name, value);
            return -EINVAL;
        }
        return 0;
    }
    snprintf(err->text, sizeof(err->text), "unknown setting %.200s", name);
    return -EINVAL;
}

static int routes_finish_backend(struct pcpd_backend *b,
                                 const struct s3_config *def,
                                 struct config_error *err)
{
    char msg[256];

    pcpd_s3_config_copy(&b->s3, def);
    if (b->endpoint)
        routes_set_str(&b->s3.endpoint, b->endpoint);
    if (b->region)
        routes_set_str(&b->s3.region, b->region);
    if (b->path_style >= 0)
        b->s3.path_style = b->path_style;
    if (!b->s3.endpoint || !b->bucket) {
        snprintf(err->text, sizeof(err->text),
                 "backend %s: needs backend.%s.endpoint and backend.%s.bucket",
                 b->name, b->name, b->name);
        return -EINVAL;
    }
    if (creds_source_init(&b->creds, NULL, NULL, NULL, b->credfile, b->profile,
                          msg, sizeof(msg)) < 0) {
        snprintf(err->text, sizeof(err->text), "backend %s: %s", b->name, msg);
        return -EINVAL;
    }
    b->creds_ok = true;
    b->ident = xasprintf("file:%s", b->name);
    return 0;
}

int pcpd_routes_finish(struct pcpd_routes *r, const struct s3_config *def,
                       struct config_error *err)
{
    size_t i, j, k;
    int rc;

    for (i = 0; i < r->nbackends; i++) {
        rc = routes_finish_backend(&r->backends[i], def, err);
        if (rc < 0)
            return rc;
    }
    for (i = 0; i < r->npbuckets; i++) {
        struct pcpd_pbucket *pb = &r->pbuckets[i];

        if (pb->nroutes == 0) {
            snprintf(err->text, sizeof(err->text),
                     "pbucket %s: needs a pbucket.%s.route", pb->name,
                     pb->name);
            return -EINVAL;
        }
        for (j = 0; j < pb->nroutes; j++) {
            for (k = 0; k < r->nbackends; k++) {
                if (strcmp(r->backends[k].name, pb->routes[j].bname) == 0)
                    break;
            }
            if (k == r->nbackends) {
                snprintf(err->text, sizeof(err->text),
                         "pbucket %s: route to unknown backend %s", pb->name,
                         pb->routes[j].bname);
                return -EINVAL;
            }
            pb->routes[j].backend = k;
        }
    }
    return 0;
}

const struct pcpd_route *pcpd_routes_find(const struct pcpd_routes *r,
                                          const char *pbucket, const char *key,
                                          const struct pcpd_pbucket **pb)
{
    const struct pcpd_route *best = NULL;
    size_t i, j, n, best_len = 0;

    for (i = 0; i < r->npbuckets; i++) {
        if (strcmp(r->pbuckets[i].name, pbucket) == 0)
            break;
    }
    if (i == r->npbuckets)
        return NULL;
    *pb = &r->pbuckets[i];
    for (j = 0; j < r->pbuckets[i].nroutes; j++) {
        const struct pcpd_route *rt = &r->pbuckets[i].routes[j];

        n = strlen(rt->prefix);
        if (strncmp(key, rt->prefix, n) == 0 && (!best || n > best_len)) {
            best = rt;
            best_len = n;
        }
    }
    return best;
}

/* ---- The table pmsd hands out ----------------------------------------- */

/* The longest prefix of arr (of {"prefix", ...}) that key starts with. */
static const json_t *routes_json_longest(const json_t *arr, const char *key)
{
    const json_t *best = NULL, *it;
    size_t i, n, best_len = 0;

    json_array_foreach(arr, i, it)
    {
        const char *p = json_string_value(json_object_get(it, "prefix"));

        if (!p)
            continue;
        n = strlen(p);
        if (strncmp(key, p, n) == 0 && (!best || n > best_len)) {
            best = it;
            best_len = n;
        }
    }
    return best;
}

static int routes_json_backend(struct pcpd_backend *b, const char *name,
                               const json_t *j, const struct s3_config *def,
                               char *err, size_t errlen)
{
    const char *ep = json_string_value(json_object_get(j, "endpoint"));
    const char *bucket = json_string_value(json_object_get(j, "bucket"));
    const char *region = json_string_value(json_object_get(j, "region"));
    const json_t *ps = json_object_get(j, "path_style");
    char msg[256];

    if (!routes_name_ok(name, strlen(name)) || !ep || !bucket) {
        snprintf(err, errlen, "backend '%.64s': needs endpoint and bucket",
                 name);
        return -EINVAL;
    }
    b->name = xstrdup(name);
    b->bucket = xstrdup(bucket);
    pcpd_s3_config_copy(&b->s3, def);
    routes_set_str(&b->s3.endpoint, ep);
    if (region)
        routes_set_str(&b->s3.region, region);
    if (json_is_boolean(ps))
        b->s3.path_style = json_is_true(ps);
    if (creds_source_init(
            &b->creds, json_string_value(json_object_get(j, "access_key")),
            json_string_value(json_object_get(j, "secret_key")),
            json_string_value(json_object_get(j, "session_token")), NULL, NULL,
            msg, sizeof(msg)) < 0) {
        snprintf(err, errlen, "backend '%.64s': %s", name, msg);
        return -EINVAL;
    }
    b->creds_ok = true;
    /* Same name and same settings (keys included) = same clients: a
     * table replaced for an unrelated change keeps its connections. */
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    b->ident = xasprintf("pms:%s:%s", name, text ? text : "");
    free(text);
    return 0;
}

static size_t routes_backend_index(const struct pcpd_routes *r,
                                   const char *name)
{
    size_t k;

    for (k = 0; k < r->nbackends; k++) {
        if (strcmp(r->backends[k].name, name) == 0)
            return k;
    }
    return SIZE_MAX;
}

/* Adds one route per distinct prefix of routes and lifecycle: its backend
 * is the longest route prefix of it and its TTL the longest rule prefix of
 * it, so the longest match over the union answers both questions for any
 * key exactly as the two separate lookups would. */
static int routes_json_pbucket(struct pcpd_routes *r, struct pcpd_pbucket *pb,
                               const json_t *j, char *err, size_t errlen)
{
    const json_t *rts = json_object_get(j, "routes");
    const json_t *rules = json_object_get(j, "lifecycle");
    const json_t *lists[2] = {rts, rules}, *it, *rt, *rule;
    json_int_t cs = json_integer_value(json_object_get(j, "chunk_size"));
    size_t l, i, k;

    pb->chunk_size = cs > 0 ? (uint64_t)cs : 0;
    if (pb->chunk_size && !chunk_size_valid(pb->chunk_size)) {
        snprintf(err, errlen, "pbucket '%s': bad chunk_size", pb->name);
        return -EINVAL;
    }
    for (l = 0; l < 2; l++) {
        json_array_foreach(lists[l], i, it)
        {
            const char *p = json_string_value(json_object_get(it, "prefix"));

            if (!p)
                continue;
            for (k = 0; k < pb->nroutes; k++) {
                if (strcmp(pb->routes[k].prefix, p) == 0)
                    break;
            }
            rt = routes_json_longest(rts, p);
            if (k < pb->nroutes || !rt)
                continue; /* seen, or a rule no route covers */
            rule = routes_json_longest(rules, p);
            struct pcpd_route nr = {0};
            json_int_t ttl =
                json_integer_value(json_object_get(rule, "cache_ttl"));

            nr.prefix = xstrdup(p);
            nr.bname = xstrdup(json_string_value(json_object_get(rt, "backend"))
                                   ?: "");
            nr.backend = routes_backend_index(r, nr.bname);
            nr.ttl_ms = ttl > 0 ? (uint64_t)ttl * 1000 : 0;
            pb->routes =
                xrealloc(pb->routes, (pb->nroutes + 1) * sizeof(*pb->routes));
            pb->routes[pb->nroutes++] = nr;
            if (nr.backend == SIZE_MAX) {
                snprintf(err, errlen, "pbucket '%s': unknown backend '%.64s'",
                         pb->name, nr.bname);
                return -EINVAL;
            }
        }
    }
    return 0;
}

int pcpd_routes_from_json(struct pcpd_routes *r, const json_t *config,
                          const struct s3_config *def, char *err, size_t errlen)
{
    const json_t *backends = json_object_get(config, "backends");
    const json_t *pbuckets = json_object_get(config, "pbuckets");
    const char *name;
    const json_t *it;
    char msg[512];

    if (!json_is_object(backends) || !json_is_object(pbuckets)) {
        snprintf(err, errlen, "node config: expected backends and pbuckets");
        return -EINVAL;
    }
    /* One bad entry must not take the whole cluster's routes down: it is
     * left out (and logged); a pbucket routed to it goes with it. */
    r->backends = xcalloc(json_object_size(backends) + 1, sizeof(*r->backends));
    json_object_foreach((json_t *)backends, name, it)
    {
        struct pcpd_backend *b = &r->backends[r->nbackends];

        b->path_style = -1;
        if (routes_json_backend(b, name, it, def, msg, sizeof(msg)) < 0) {
            log_warnx("pmsd config: %s: left out", msg);
            routes_backend_fini(b);
            continue;
        }
        r->nbackends++;
    }
    r->pbuckets = xcalloc(json_object_size(pbuckets) + 1, sizeof(*r->pbuckets));
    json_object_foreach((json_t *)pbuckets, name, it)
    {
        struct pcpd_pbucket *pb = &r->pbuckets[r->npbuckets];

        pb->name = xstrdup(name);
        if (!routes_name_ok(name, strlen(name))) {
            log_warnx("pmsd config: pbucket '%.64s': bad name: left out", name);
            routes_pbucket_fini(pb);
            continue;
        }
        if (routes_json_pbucket(r, pb, it, msg, sizeof(msg)) < 0) {
            log_warnx("pmsd config: %s: left out", msg);
            routes_pbucket_fini(pb);
            continue;
        }
        r->npbuckets++;
    }
    return 0;
}
