/* SPDX-License-Identifier: MIT */
/*
 * pcachectl.c: the admin CLI of a pcachefs cluster. Every command is one
 * or two HTTP requests to pmsd (docs/protocol.md, "pmsd"), each signed
 * with the admin's secret key (PCACHE-HMAC-SHA256: the secret never
 * travels). Output is a table for people, or the server's JSON with
 * --json for scripts.
 *
 * Exit status: 0 done, 1 the request failed (the server's message is
 * printed), 2 usage error.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/creds.h"
#include "common/mem.h"
#include "common/token.h"

#define CTL_MAX_REPLY (16u << 20)
#define CTL_MAX_LIST  64

struct ctl {
    char *pms;      /* "host:port,host:port" */
    char *credfile; /* NULL: no credentials (status, pubkey) */
    char *cacert;   /* set: HTTPS, servers verified against this CA file */
    bool json;
    struct creds creds;
    bool have_creds;
    /* subcommand options */
    const char *endpoint, *bucket, *region, *access_key, *secret_key;
    const char *session_token, *chunk_size;
    int path_style; /* -1 unset */
    bool all;
    long ttl;
    const char *routes[CTL_MAX_LIST], *cache_ttls[CTL_MAX_LIST];
    const char *classes[CTL_MAX_LIST], *policies[CTL_MAX_LIST];
    const char *allows[CTL_MAX_LIST];
    size_t nroutes, ncache_ttls, nclasses, npolicies, nallows;
};

static void ctl_usage(FILE *out)
{
    fprintf(
        out,
        "usage: pcachectl [--pms HOST:PORT,...] [--credfile FILE] [--json]\n"
        "                 [--cacert FILE (HTTPS)] COMMAND\n\n"
        "  status | pubkey | whoami | token [--ttl SECONDS]\n"
        "  node list [--all] | node rm ID\n"
        "  backend list | show NAME | rm NAME\n"
        "  backend add|set NAME --endpoint URL --bucket B [--region R]\n"
        "        [--path-style|--no-path-style] [--access-key AK "
        "--secret-key SK]\n"
        "        [--session-token T]\n"
        "  pbucket list | show NAME | rm NAME\n"
        "  pbucket add|set NAME [--chunk-size SIZE] [--route "
        "PREFIX=BACKEND]...\n"
        "        [--cache-ttl PREFIX=DURATION]... [--storage-class "
        "PREFIX=CLASS]...\n"
        "  route list PBUCKET | add PBUCKET PREFIX BACKEND | rm PBUCKET "
        "PREFIX\n"
        "  route get PBUCKET KEY\n"
        "  user list | show NAME | rm NAME | add|set NAME [--policy P]...\n"
        "  key list USER | create USER | rm USER ACCESS_KEY\n"
        "  policy list | show NAME | rm NAME\n"
        "  policy add|set NAME --allow ACTION[,ACTION]:RESOURCE...\n"
        "        (actions: read list write delete admin node *; resources: "
        "*,\n"
        "         PBUCKET/PREFIX*, PBUCKET/KEY)\n\n"
        "environment: PCACHE_PMS (default 127.0.0.1:7070), "
        "PCACHE_CREDFILE, PCACHE_CACERT\n");
}

/* ---- HTTP ------------------------------------------------------------- */

static size_t ctl_write_cb(char *p, size_t size, size_t n, void *arg)
{
    return buf_append(arg, p, size * n) == 0 ? size * n : 0;
}

static char *ctl_auth_header(struct ctl *c, const char *method,
                             const char *path)
{
    return token_request_header(c->creds.access_key, c->creds.secret_key,
                                method, path);
}

/* One attempt at one pmsd: the reply in resp, the status in *status.
 * Returns curl's result. */
static CURLcode ctl_perform(struct ctl *c, const char *host, const char *method,
                            const char *path, const char *query,
                            const char *text, struct buf *resp, long *status,
                            char *cerr)
{
    char *url = xasprintf("%s://%s%s%s%s", c->cacert ? "https" : "http", host,
                          path, query ? "?" : "", query ? query : "");
    char *auth = c->have_creds ? ctl_auth_header(c, method, path) : NULL;
    struct curl_slist *hdrs =
        curl_slist_append(NULL, "Content-Type: application/json");
    CURL *h = curl_easy_init();
    CURLcode cc;

    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    buf_reset(resp);
    cerr[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (c->cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (text)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ctl_write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    cc = curl_easy_perform(h);
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(auth);
    free(url);
    return cc;
}

/*
 * One request to the first pmsd that answers (the others are tried when
 * one cannot be reached); a 503 (another pmsd changed the state just
 * before) is retried twice. *reply gets the parsed JSON (new reference)
 * on 2xx. 0, or 1 after printing why.
 */
static int ctl_request(struct ctl *c, const char *method, const char *path,
                       const char *query, json_t *body, json_t **reply)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    char *list, *save, *host, cerr[CURL_ERROR_SIZE] = "";
    CURLcode cc = CURLE_COULDNT_CONNECT;
    long status = 0;
    struct buf resp;
    json_t *j = NULL;
    int attempt, rc = 1;

    buf_init(&resp, CTL_MAX_REPLY);
    *reply = NULL;
    for (attempt = 0; attempt < 3; attempt++) {
        list = xstrdup(c->pms);
        save = NULL;
        for (host = strtok_r(list, ",", &save); host;
             host = strtok_r(NULL, ",", &save)) {
            cc = ctl_perform(c, host, method, path, query, text, &resp, &status,
                             cerr);
            if (cc == CURLE_OK)
                break; /* an answer, good or bad: no failover */
        }
        free(list);
        if (cc != CURLE_OK || status != 503)
            break;
    }
    if (cc != CURLE_OK) {
        fprintf(stderr, "pcachectl: no pmsd answered (%s): %s\n", c->pms,
                cerr[0] ? cerr : curl_easy_strerror(cc));
        goto out;
    }
    j = json_loadb(buf_str(&resp), resp.len, 0, NULL);
    if (status / 100 != 2) {
        fprintf(stderr, "pcachectl: %ld %s: %s\n", status,
                json_string_value(json_object_get(j, "error")) ?: "Error",
                json_string_value(json_object_get(j, "message"))
                    ?: buf_str(&resp));
        goto out;
    }
    if (!j) {
        fprintf(stderr, "pcachectl: pmsd sent a reply that is not JSON\n");
        goto out;
    }
    *reply = j;
    j = NULL;
    rc = 0;
out:
    json_decref(j);
    buf_free(&resp);
    free(text);
    return rc;
}

/* fmt with each "%s" replaced by the next argument, URL-escaped. */
static char *ctl_path(const char *fmt, const char *a, const char *b)
{
    const char *args[2] = {a, b}, *p;
    struct buf out;
    int n = 0;

    buf_init(&out, 1 << 16);
    for (p = fmt; *p; p++) {
        if (p[0] == '%' && p[1] == 's' && n < 2) {
            char *e = curl_easy_escape(NULL, args[n++], 0);
            buf_append_str(&out, e ? e : "");
            curl_free(e);
            p++;
            continue;
        }
        buf_append_byte(&out, *p);
    }
    return buf_steal(&out);
}

/* ---- output ----------------------------------------------------------- */

/* A cell's text: strings as is, numbers, yes/no, lists joined by ','. */
static char *ctl_cell(const json_t *v)
{
    struct buf b;
    json_t *e;
    size_t i;

    buf_init(&b, 1 << 20);
    if (json_is_string(v) && json_string_length(v) == 0)
        buf_append_str(&b, "\"\""); /* keeps table columns apart */
    else if (json_is_string(v))
        buf_append_str(&b, json_string_value(v));
    else if (json_is_integer(v))
        buf_appendf(&b, "%lld", (long long)json_integer_value(v));
    else if (json_is_boolean(v))
        buf_append_str(&b, json_is_true(v) ? "yes" : "no");
    else if (json_is_array(v)) {
        json_array_foreach((json_t *)v, i, e)
        {
            char *s = ctl_cell(e);
            buf_appendf(&b, "%s%s", i ? "," : "", s);
            free(s);
        }
    } else if (json_is_object(v)) {
        /* routes, rules, tiers, scopes: their telling fields */
        const char *k;
        json_t *x;
        bool first = true;
        json_object_foreach((json_t *)v, k, x)
        {
            char *s = ctl_cell(x);
            buf_appendf(&b, "%s%s", first ? "" : ":", s);
            first = false;
            free(s);
        }
    }
    if (buf_str(&b)[0] == '\0' && !json_is_string(v))
        buf_append_str(&b, "-");
    return buf_steal(&b) ?: xstrdup("");
}

/* Prints rows (objects) as a table of the given fields. */
static void ctl_table(const json_t *rows, const char *const *fields,
                      const char *const *heads)
{
    size_t nf, i, r, w[16] = {0}, nrows = json_array_size(rows);
    char ***cells;

    for (nf = 0; fields[nf]; nf++)
        w[nf] = strlen(heads[nf]);
    cells = xcalloc(nrows + 1, sizeof(char **));
    for (r = 0; r < nrows; r++) {
        cells[r] = xcalloc(nf, sizeof(char *));
        for (i = 0; i < nf; i++) {
            cells[r][i] =
                ctl_cell(json_object_get(json_array_get(rows, r), fields[i]));
            if (strlen(cells[r][i]) > w[i])
                w[i] = strlen(cells[r][i]);
        }
    }
    for (i = 0; i < nf; i++)
        printf("%-*s%s", i + 1 < nf ? (int)w[i] : 0, heads[i],
               i + 1 < nf ? "  " : "\n");
    for (r = 0; r < nrows; r++) {
        for (i = 0; i < nf; i++) {
            printf("%-*s%s", i + 1 < nf ? (int)w[i] : 0, cells[r][i],
                   i + 1 < nf ? "  " : "\n");
            free(cells[r][i]);
        }
        free(cells[r]);
    }
    free(cells);
}

/* One object as "field: value" lines. */
static void ctl_show(const json_t *o)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)o, k, v)
    {
        char *s = ctl_cell(v);
        printf("%-14s %s\n", k, s);
        free(s);
    }
}

static int ctl_print(struct ctl *c, json_t *reply, const char *list_field,
                     const char *const *fields, const char *const *heads)
{
    if (c->json) {
        char *t = json_dumps(reply, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", t);
        free(t);
    } else if (list_field) {
        ctl_table(json_object_get(reply, list_field), fields, heads);
    } else {
        ctl_show(reply);
    }
    json_decref(reply);
    return 0;
}

/* ---- bodies ----------------------------------------------------------- */

/* "PREFIX=VALUE" (the prefix may be empty). */
static int ctl_split(const char *s, char **prefix, const char **value)
{
    const char *eq = strrchr(s, '=');

    if (!eq) {
        fprintf(stderr, "pcachectl: expected PREFIX=VALUE, got '%s'\n", s);
        return 2;
    }
    *prefix = xstrndup(s, (size_t)(eq - s));
    *value = eq + 1;
    return 0;
}

static json_t *ctl_rule(json_t *rules, const char *prefix)
{
    json_t *r;
    size_t i;

    json_array_foreach(rules, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "prefix")), prefix) ==
            0)
            return r;
    }
    r = json_pack("{s:s}", "prefix", prefix);
    json_array_append_new(rules, r);
    return r;
}

static int ctl_pbucket_body(struct ctl *c, json_t *body)
{
    json_t *routes = json_array(), *rules = json_array();
    const char *v;
    char *prefix;
    uint64_t n;
    size_t i;
    int rc = 0;

    if (c->chunk_size) {
        if (config_parse_size(c->chunk_size, &n) < 0) {
            fprintf(stderr, "pcachectl: bad --chunk-size\n");
            rc = 2;
        }
        json_object_set_new(body, "chunk_size", json_integer((json_int_t)n));
    }
    for (i = 0; rc == 0 && i < c->nroutes; i++) {
        if ((rc = ctl_split(c->routes[i], &prefix, &v)) == 0) {
            json_array_append_new(routes, json_pack("{s:s, s:s}", "prefix",
                                                    prefix, "backend", v));
            free(prefix);
        }
    }
    for (i = 0; rc == 0 && i < c->ncache_ttls; i++) {
        if ((rc = ctl_split(c->cache_ttls[i], &prefix, &v)) == 0) {
            if (config_parse_duration(v, &n) < 0) {
                fprintf(stderr, "pcachectl: bad duration '%s'\n", v);
                rc = 2;
            }
            json_object_set_new(ctl_rule(rules, prefix), "cache_ttl",
                                json_integer((json_int_t)(n / 1000)));
            free(prefix);
        }
    }
    for (i = 0; rc == 0 && i < c->nclasses; i++) {
        if ((rc = ctl_split(c->classes[i], &prefix, &v)) == 0) {
            json_object_set_new(ctl_rule(rules, prefix), "storage_class",
                                json_string(v));
            free(prefix);
        }
    }
    if (c->nroutes)
        json_object_set(body, "routes", routes);
    if (c->ncache_ttls || c->nclasses)
        json_object_set(body, "lifecycle", rules);
    json_decref(routes);
    json_decref(rules);
    return rc;
}

static void ctl_backend_body(struct ctl *c, json_t *body)
{
    if (c->endpoint)
        json_object_set_new(body, "endpoint", json_string(c->endpoint));
    if (c->bucket)
        json_object_set_new(body, "bucket", json_string(c->bucket));
    if (c->region)
        json_object_set_new(body, "region", json_string(c->region));
    if (c->path_style >= 0)
        json_object_set_new(body, "path_style", json_boolean(c->path_style));
    if (c->access_key)
        json_object_set_new(body, "access_key", json_string(c->access_key));
    if (c->secret_key)
        json_object_set_new(body, "secret_key", json_string(c->secret_key));
    if (c->session_token)
        json_object_set_new(body, "session_token",
                            json_string(c->session_token));
}

/* "read,list:pb1/data/\*" -> {"actions": [...], "resources": [...]} */
static int ctl_policy_body(struct ctl *c, json_t *body)
{
    json_t *st = json_array();
    size_t i;

    for (i = 0; i < c->nallows; i++) {
        const char *colon = strchr(c->allows[i], ':');
        char *acts, *tok, *save = NULL;
        json_t *a = json_array();

        if (!colon || !colon[1]) {
            fprintf(stderr, "pcachectl: --allow ACTIONS:RESOURCE, got '%s'\n",
                    c->allows[i]);
            json_decref(a);
            json_decref(st);
            return 2;
        }
        acts = xstrndup(c->allows[i], (size_t)(colon - c->allows[i]));
        for (tok = strtok_r(acts, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save))
            json_array_append_new(a, json_string(tok));
        free(acts);
        json_array_append_new(st, json_pack("{s:o, s:[s]}", "actions", a,
                                            "resources", colon + 1));
    }
    json_object_set_new(body, "statements", st);
    return 0;
}

static void ctl_policies_body(struct ctl *c, json_t *body)
{
    json_t *p = json_array();
    size_t i;

    for (i = 0; i < c->npolicies; i++)
        json_array_append_new(p, json_string(c->policies[i]));
    json_object_set_new(body, "policies", p);
}

/* ---- commands --------------------------------------------------------- */

static const char *const ctl_node_f[] = {"id",    "address", "zone", "live",
                                         "tiers", "age_ms",  NULL};
static const char *const ctl_node_h[] = {"ID",    "ADDRESS", "ZONE", "LIVE",
                                         "TIERS", "AGE_MS",  NULL};
static const char *const ctl_backend_f[] = {
    "name", "endpoint", "bucket", "region", "path_style", "access_key", NULL};
static const char *const ctl_backend_h[] = {
    "NAME", "ENDPOINT", "BUCKET", "REGION", "PATH_STYLE", "ACCESS_KEY", NULL};
static const char *const ctl_pbucket_f[] = {"name", "chunk_size", "routes",
                                            "lifecycle", NULL};
static const char *const ctl_pbucket_h[] = {"NAME", "CHUNK_SIZE", "ROUTES",
                                            "LIFECYCLE", NULL};
static const char *const ctl_route_f[] = {"prefix", "backend", NULL};
static const char *const ctl_route_h[] = {"PREFIX", "BACKEND", NULL};
static const char *const ctl_user_f[] = {"name", "policies", "keys", NULL};
static const char *const ctl_user_h[] = {"NAME", "POLICIES", "KEYS", NULL};
static const char *const ctl_key_f[] = {"access_key", "created", NULL};
static const char *const ctl_key_h[] = {"ACCESS_KEY", "CREATED", NULL};
static const char *const ctl_policy_f[] = {"name", "statements", NULL};
static const char *const ctl_policy_h[] = {"NAME", "STATEMENTS", NULL};

/* GET path and print: a list (field) or one object. */
static int ctl_get(struct ctl *c, char *path, const char *query,
                   const char *field, const char *const *f,
                   const char *const *h)
{
    json_t *reply;
    int rc = ctl_request(c, "GET", path, query, NULL, &reply);

    free(path);
    return rc ? rc : ctl_print(c, reply, field, f, h);
}

static int ctl_send(struct ctl *c, const char *method, char *path, json_t *body)
{
    json_t *reply;
    int rc = ctl_request(c, method, path, NULL, body, &reply);

    free(path);
    json_decref(body);
    return rc ? rc : ctl_print(c, reply, NULL, NULL, NULL);
}

/* A simple CRUD family: list / show / rm / add / set. */
static int ctl_crud(struct ctl *c, const char *coll, const char *verb,
                    const char *name, json_t *body, const char *const *f,
                    const char *const *h)
{
    char *base = xasprintf("/v1/%s", coll), *one;
    int rc = 2;

    one = xasprintf("/v1/%s/%%s", coll); /* ctl_path fills the %s */
    if (strcmp(verb, "list") == 0) {
        json_decref(body);
        rc = ctl_get(c, xstrdup(base), NULL, coll, f, h);
    } else if (!name) {
        fprintf(stderr, "pcachectl: %s %s needs a name\n", coll, verb);
        json_decref(body);
    } else if (strcmp(verb, "show") == 0) {
        json_decref(body);
        rc = ctl_get(c, ctl_path(one, name, NULL), NULL, NULL, NULL, NULL);
    } else if (strcmp(verb, "rm") == 0) {
        json_decref(body);
        rc = ctl_send(c, "DELETE", ctl_path(one, name, NULL), NULL);
    } else if (strcmp(verb, "add") == 0) {
        json_object_set_new(body, "name", json_string(name));
        rc = ctl_send(c, "POST", xstrdup(base), body);
    } else if (strcmp(verb, "set") == 0) {
        rc = ctl_send(c, "PUT", ctl_path(one, name, NULL), body);
    } else {
        fprintf(stderr, "pcachectl: unknown %s command '%s'\n", coll, verb);
        json_decref(body);
    }
    free(one);
    free(base);
    return rc;
}

/* route add/rm: read the pbucket, change its routes, write it back. */
static int ctl_route_edit(struct ctl *c, const char *pb, const char *prefix,
                          const char *backend)
{
    char *path = ctl_path("/v1/pbuckets/%s", pb, NULL);
    json_t *reply, *routes, *r, *body;
    size_t i;
    bool found = false;
    int rc = ctl_request(c, "GET", path, NULL, NULL, &reply);

    if (rc) {
        free(path);
        return rc;
    }
    routes = json_object_get(reply, "routes");
    json_array_foreach(routes, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "prefix")), prefix) ==
            0) {
            found = true;
            break;
        }
    }
    if (found)
        json_array_remove(routes, i);
    if (backend)
        json_array_append_new(routes, json_pack("{s:s, s:s}", "prefix", prefix,
                                                "backend", backend));
    else if (!found) {
        fprintf(stderr, "pcachectl: pbucket %s has no route '%s'\n", pb,
                prefix);
        json_decref(reply);
        free(path);
        return 1;
    }
    body = json_pack("{s:O}", "routes", routes);
    json_decref(reply);
    return ctl_send(c, "PUT", path, body);
}

static int ctl_route(struct ctl *c, int argc, char **argv)
{
    char *q, *esc;
    int rc;

    if (argc >= 2 && strcmp(argv[0], "list") == 0) {
        json_t *reply;
        char *path = ctl_path("/v1/pbuckets/%s", argv[1], NULL);
        rc = ctl_request(c, "GET", path, NULL, NULL, &reply);
        free(path);
        if (rc)
            return rc;
        if (!c->json) {
            json_t *routes = json_incref(json_object_get(reply, "routes"));
            json_decref(reply);
            reply = json_pack("{s:o}", "routes", routes);
        }
        return ctl_print(c, reply, "routes", ctl_route_f, ctl_route_h);
    }
    if (argc == 4 && strcmp(argv[0], "add") == 0)
        return ctl_route_edit(c, argv[1], argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[0], "rm") == 0)
        return ctl_route_edit(c, argv[1], argv[2], NULL);
    if (argc == 3 && strcmp(argv[0], "get") == 0) {
        esc = curl_easy_escape(NULL, argv[2], 0);
        q = xasprintf("key=%s", esc);
        curl_free(esc);
        rc = ctl_get(c, ctl_path("/v1/pbuckets/%s/route", argv[1], NULL), q,
                     NULL, NULL, NULL);
        free(q);
        return rc;
    }
    ctl_usage(stderr);
    return 2;
}

static int ctl_key(struct ctl *c, int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[0], "list") == 0)
        return ctl_get(c, ctl_path("/v1/users/%s/keys", argv[1], NULL), NULL,
                       "keys", ctl_key_f, ctl_key_h);
    if (argc == 2 && strcmp(argv[0], "create") == 0)
        return ctl_send(c, "POST", ctl_path("/v1/users/%s/keys", argv[1], NULL),
                        NULL);
    if (argc == 3 && strcmp(argv[0], "rm") == 0)
        return ctl_send(c, "DELETE",
                        ctl_path("/v1/users/%s/keys/%s", argv[1], argv[2]),
                        NULL);
    ctl_usage(stderr);
    return 2;
}

static int ctl_token(struct ctl *c)
{
    json_t *body =
        c->ttl > 0 ? json_pack("{s:I}", "ttl", (json_int_t)c->ttl) : NULL;
    json_t *reply;
    int rc = ctl_request(c, "POST", "/v1/token", NULL, body, &reply);

    json_decref(body);
    if (rc)
        return rc;
    if (c->json)
        return ctl_print(c, reply, NULL, NULL, NULL);
    printf("%s\n", json_string_value(json_object_get(reply, "token")));
    json_decref(reply);
    return 0;
}

static int ctl_dispatch(struct ctl *c, int argc, char **argv)
{
    const char *cmd = argv[0], *verb = argc > 1 ? argv[1] : "list";
    const char *name = argc > 2 ? argv[2] : NULL;
    json_t *body = json_object();
    int rc;

    if (strcmp(cmd, "status") == 0 || strcmp(cmd, "pubkey") == 0 ||
        strcmp(cmd, "whoami") == 0) {
        json_decref(body);
        return ctl_get(c, xasprintf("/v1/%s", cmd), NULL, NULL, NULL, NULL);
    }
    if (strcmp(cmd, "token") == 0) {
        json_decref(body);
        return ctl_token(c);
    }
    if (strcmp(cmd, "node") == 0 || strcmp(cmd, "nodes") == 0) {
        json_decref(body);
        if (strcmp(verb, "list") == 0)
            return ctl_get(c, xstrdup("/v1/nodes"), c->all ? "all=1" : NULL,
                           "nodes", ctl_node_f, ctl_node_h);
        if (strcmp(verb, "rm") == 0 && name)
            return ctl_send(c, "DELETE", ctl_path("/v1/nodes/%s", name, NULL),
                            NULL);
        ctl_usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "backend") == 0) {
        ctl_backend_body(c, body);
        return ctl_crud(c, "backends", verb, name, body, ctl_backend_f,
                        ctl_backend_h);
    }
    if (strcmp(cmd, "pbucket") == 0) {
        rc = ctl_pbucket_body(c, body);
        if (rc) {
            json_decref(body);
            return rc;
        }
        return ctl_crud(c, "pbuckets", verb, name, body, ctl_pbucket_f,
                        ctl_pbucket_h);
    }
    if (strcmp(cmd, "user") == 0) {
        if (c->npolicies || strcmp(verb, "add") == 0)
            ctl_policies_body(c, body);
        return ctl_crud(c, "users", verb, name, body, ctl_user_f, ctl_user_h);
    }
    if (strcmp(cmd, "policy") == 0) {
        if (c->nallows && (rc = ctl_policy_body(c, body)) != 0) {
            json_decref(body);
            return rc;
        }
        return ctl_crud(c, "policies", verb, name, body, ctl_policy_f,
                        ctl_policy_h);
    }
    json_decref(body);
    if (strcmp(cmd, "route") == 0)
        return ctl_route(c, argc - 1, argv + 1);
    if (strcmp(cmd, "key") == 0)
        return ctl_key(c, argc - 1, argv + 1);
    fprintf(stderr, "pcachectl: unknown command '%s'\n", cmd);
    ctl_usage(stderr);
    return 2;
}

enum {
    OPT_PMS = 256,
    OPT_CREDFILE,
    OPT_JSON,
    OPT_ENDPOINT,
    OPT_BUCKET,
    OPT_REGION,
    OPT_PATH,
    OPT_NOPATH,
    OPT_AK,
    OPT_SK,
    OPT_ST,
    OPT_CHUNK,
    OPT_ROUTE,
    OPT_CTTL,
    OPT_CLASS,
    OPT_POLICY,
    OPT_ALLOW,
    OPT_ALL,
    OPT_TTL,
    OPT_CACERT,
};

static const struct option ctl_opts[] = {
    {"pms", required_argument, NULL, OPT_PMS},
    {"credfile", required_argument, NULL, OPT_CREDFILE},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"json", no_argument, NULL, OPT_JSON},
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"bucket", required_argument, NULL, OPT_BUCKET},
    {"region", required_argument, NULL, OPT_REGION},
    {"path-style", no_argument, NULL, OPT_PATH},
    {"no-path-style", no_argument, NULL, OPT_NOPATH},
    {"access-key", required_argument, NULL, OPT_AK},
    {"secret-key", required_argument, NULL, OPT_SK},
    {"session-token", required_argument, NULL, OPT_ST},
    {"chunk-size", required_argument, NULL, OPT_CHUNK},
    {"route", required_argument, NULL, OPT_ROUTE},
    {"cache-ttl", required_argument, NULL, OPT_CTTL},
    {"storage-class", required_argument, NULL, OPT_CLASS},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"allow", required_argument, NULL, OPT_ALLOW},
    {"all", no_argument, NULL, OPT_ALL},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int ctl_push(const char **list, size_t *n, const char *v)
{
    if (*n >= CTL_MAX_LIST) {
        fprintf(stderr, "pcachectl: more than %d of one option\n",
                CTL_MAX_LIST);
        return 2;
    }
    list[(*n)++] = v;
    return 0;
}

static int ctl_parse(struct ctl *c, int argc, char **argv)
{
    int opt, rc = 0;

    while (rc == 0 &&
           (opt = getopt_long(argc, argv, "h", ctl_opts, NULL)) != -1) {
        switch (opt) {
        case OPT_PMS:
            c->pms = optarg;
            break;
        case OPT_CREDFILE:
            c->credfile = optarg;
            break;
        case OPT_CACERT:
            c->cacert = optarg;
            break;
        case OPT_JSON:
            c->json = true;
            break;
        case OPT_ENDPOINT:
            c->endpoint = optarg;
            break;
        case OPT_BUCKET:
            c->bucket = optarg;
            break;
        case OPT_REGION:
            c->region = optarg;
            break;
        case OPT_PATH:
            c->path_style = 1;
            break;
        case OPT_NOPATH:
            c->path_style = 0;
            break;
        case OPT_AK:
            c->access_key = optarg;
            break;
        case OPT_SK:
            c->secret_key = optarg;
            break;
        case OPT_ST:
            c->session_token = optarg;
            break;
        case OPT_CHUNK:
            c->chunk_size = optarg;
            break;
        case OPT_ROUTE:
            rc = ctl_push(c->routes, &c->nroutes, optarg);
            break;
        case OPT_CTTL:
            rc = ctl_push(c->cache_ttls, &c->ncache_ttls, optarg);
            break;
        case OPT_CLASS:
            rc = ctl_push(c->classes, &c->nclasses, optarg);
            break;
        case OPT_POLICY:
            rc = ctl_push(c->policies, &c->npolicies, optarg);
            break;
        case OPT_ALLOW:
            rc = ctl_push(c->allows, &c->nallows, optarg);
            break;
        case OPT_ALL:
            c->all = true;
            break;
        case OPT_TTL:
            c->ttl = strtol(optarg, NULL, 10);
            break;
        case 'h':
            ctl_usage(stdout);
            return 1;
        default:
            ctl_usage(stderr);
            return 2;
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    struct ctl c = {0};
    char err[256] = "";
    int rc;

    c.path_style = -1;
    c.pms = getenv("PCACHE_PMS");
    c.credfile = getenv("PCACHE_CREDFILE");
    c.cacert = getenv("PCACHE_CACERT");
    rc = ctl_parse(&c, argc, argv);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (optind >= argc) {
        ctl_usage(stderr);
        return 2;
    }
    if (!c.pms || !c.pms[0])
        c.pms = "127.0.0.1:7070";
    if (c.credfile) {
        if (creds_load_file(c.credfile, NULL, &c.creds, err, sizeof(err)) < 0) {
            fprintf(stderr, "pcachectl: %s\n", err);
            return 1;
        }
        c.have_creds = true;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = ctl_dispatch(&c, argc - optind, argv + optind);
    curl_global_cleanup();
    return rc;
}
