/* SPDX-License-Identifier: MIT */
/*
 * state.c: pmsd's state and its validation rules (state.h).
 *
 * Objects arriving from the network are checked field by field against a
 * small schema table (pmsd_fields_check): unknown fields, wrong types and
 * over-long strings are refused, so nothing unchecked is ever stored.
 */
#include "pmsd/state.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/creds.h"
#include "common/mem.h"
#include "common/token.h"

enum pmsd_ftype { PF_STRING, PF_BOOL, PF_INT, PF_ARRAY };

struct pmsd_field {
    const char *name;
    enum pmsd_ftype type;
    bool required;
    size_t max; /* string length or array size */
};

static int pmsd_fail(struct pmsd_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int pmsd_fail(struct pmsd_error *err, int rc, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int pmsd_fields_check(const json_t *obj, const struct pmsd_field *f,
                             const char *what, struct pmsd_error *err)
{
    const char *k;
    json_t *v;
    size_t i;

    if (!json_is_object(obj))
        return pmsd_fail(err, -EINVAL, "%s: expected a JSON object", what);
    json_object_foreach((json_t *)obj, k, v)
    {
        for (i = 0; f[i].name && strcmp(f[i].name, k) != 0; i++)
            ;
        if (!f[i].name)
            return pmsd_fail(err, -EINVAL, "%s: unknown field '%.64s'", what,
                             k);
    }
    for (i = 0; f[i].name; i++) {
        v = json_object_get(obj, f[i].name);
        if (!v || json_is_null(v)) {
            if (f[i].required)
                return pmsd_fail(err, -EINVAL, "%s: '%s' is required", what,
                                 f[i].name);
            continue;
        }
        switch (f[i].type) {
        case PF_STRING:
            if (!json_is_string(v) || json_string_length(v) > f[i].max ||
                strlen(json_string_value(v)) != json_string_length(v))
                return pmsd_fail(err, -EINVAL,
                                 "%s: '%s' must be a string of at most %zu "
                                 "bytes",
                                 what, f[i].name, f[i].max);
            break;
        case PF_BOOL:
            if (!json_is_boolean(v))
                return pmsd_fail(err, -EINVAL, "%s: '%s' must be true/false",
                                 what, f[i].name);
            break;
        case PF_INT:
            if (!json_is_integer(v) || json_integer_value(v) < 0)
                return pmsd_fail(err, -EINVAL,
                                 "%s: '%s' must be a non-negative integer",
                                 what, f[i].name);
            break;
        case PF_ARRAY:
            if (!json_is_array(v) || json_array_size(v) > f[i].max)
                return pmsd_fail(err, -EINVAL,
                                 "%s: '%s' must be an array of at most %zu",
                                 what, f[i].name, f[i].max);
            break;
        }
    }
    return 0;
}

int pmsd_name_check(const char *name, bool mixed_case)
{
    size_t i, n = strlen(name);

    if (n == 0 || n > PMSD_NAME_MAX)
        return -EINVAL;
    for (i = 0; i < n; i++) {
        char c = name[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
            c == '_' || c == '-')
            continue;
        if (mixed_case && ((c >= 'A' && c <= 'Z') || c == '@'))
            continue;
        return -EINVAL;
    }
    return strcmp(name, ".") && strcmp(name, "..") ? 0 : -EINVAL;
}

void pmsd_state_init(struct pmsd_state *st)
{
    memset(st, 0, sizeof(*st));
    st->backends = json_object();
    st->pbuckets = json_object();
    st->users = json_object();
    st->policies = json_object();
}

static void pmsd_node_fini(struct pmsd_node *n)
{
    free(n->id);
    free(n->address);
    free(n->zone);
    json_decref(n->tiers);
}

void pmsd_state_fini(struct pmsd_state *st)
{
    size_t i;

    for (i = 0; i < st->nnodes; i++)
        pmsd_node_fini(&st->nodes[i]);
    free(st->nodes);
    json_decref(st->backends);
    json_decref(st->pbuckets);
    json_decref(st->users);
    json_decref(st->policies);
    memset(st, 0, sizeof(*st));
}

/* ---- membership -------------------------------------------------------- */

static const struct pmsd_field pmsd_node_fields[] = {
    {"id", PF_STRING, true, PMSD_NAME_MAX},
    {"address", PF_STRING, true, 255},
    {"zone", PF_STRING, false, PMSD_NAME_MAX},
    {"tiers", PF_ARRAY, false, PMSD_MAX_TIERS},
    {"registered_at", PF_INT, false, 0},
    {NULL, 0, false, 0},
};

static const struct pmsd_field pmsd_tier_fields[] = {
    {"name", PF_STRING, true, PMSD_NAME_MAX},
    {"capacity", PF_INT, true, 0},
    {"used", PF_INT, false, 0},
    {NULL, 0, false, 0},
};

static struct pmsd_node *pmsd_node_find(const struct pmsd_state *st,
                                        const char *id)
{
    size_t i;

    for (i = 0; i < st->nnodes; i++) {
        if (strcmp(st->nodes[i].id, id) == 0)
            return &st->nodes[i];
    }
    return NULL;
}

static int pmsd_node_check(const json_t *body, struct pmsd_error *err)
{
    const char *id, *addr, *colon;
    json_t *tiers, *t;
    size_t i;
    int rc = pmsd_fields_check(body, pmsd_node_fields, "node", err);

    if (rc < 0)
        return rc;
    id = json_string_value(json_object_get(body, "id"));
    addr = json_string_value(json_object_get(body, "address"));
    if (pmsd_name_check(id, true) < 0 && !strchr(id, ':'))
        return pmsd_fail(err, -EINVAL, "node: bad id '%.64s'", id);
    for (i = 0; id[i]; i++) {
        if (id[i] <= ' ' || id[i] == '/' || id[i] == 0x7f)
            return pmsd_fail(err, -EINVAL, "node: bad id '%.64s'", id);
    }
    /* Clients use the address as it is: a TLS node says https://. */
    if (strncmp(addr, "https://", 8) == 0)
        addr += 8;
    else if (strncmp(addr, "http://", 7) == 0)
        addr += 7;
    colon = strrchr(addr, ':');
    if (!colon || colon == addr || !colon[1] || strpbrk(addr, " /\t\r\n"))
        return pmsd_fail(err, -EINVAL,
                         "node: address must be [http(s)://]host:port");
    tiers = json_object_get(body, "tiers");
    json_array_foreach(tiers, i, t)
    {
        rc = pmsd_fields_check(t, pmsd_tier_fields, "node tier", err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool pmsd_str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

int pmsd_node_register(struct pmsd_state *st, const json_t *body, int64_t now,
                       uint64_t now_ms, bool *changed, struct pmsd_error *err)
{
    const char *id, *addr, *zone;
    json_t *tiers;
    struct pmsd_node *n;
    int rc = pmsd_node_check(body, err);

    *changed = false;
    if (rc < 0)
        return rc;
    id = json_string_value(json_object_get(body, "id"));
    addr = json_string_value(json_object_get(body, "address"));
    zone = json_string_value(json_object_get(body, "zone"));
    tiers = json_object_get(body, "tiers");
    tiers = tiers ? json_incref(tiers) : json_array();
    n = pmsd_node_find(st, id);
    if (!n) {
        if (st->nnodes >= PMSD_MAX_NODES) {
            json_decref(tiers);
            return pmsd_fail(err, -E2BIG, "too many nodes");
        }
        st->nodes = xrealloc(st->nodes, (st->nnodes + 1) * sizeof(*n));
        n = &st->nodes[st->nnodes++];
        memset(n, 0, sizeof(*n));
        n->id = xstrdup(id);
        n->registered_at = now;
        *changed = true;
    } else if (!n->live || !pmsd_str_eq(n->address, addr) ||
               !pmsd_str_eq(n->zone, zone) || !json_equal(n->tiers, tiers)) {
        *changed = true;
    }
    free(n->address);
    free(n->zone);
    json_decref(n->tiers);
    n->address = xstrdup(addr);
    n->zone = xstrdup(zone ? zone : "");
    n->tiers = json_deep_copy(tiers);
    json_decref(tiers);
    n->last_seen_ms = now_ms;
    n->live = true;
    if (*changed)
        st->epoch++;
    return 0;
}

int pmsd_node_heartbeat(struct pmsd_state *st, const char *id, uint64_t now_ms,
                        bool *changed)
{
    struct pmsd_node *n = pmsd_node_find(st, id);

    *changed = false;
    if (!n)
        return -ENOENT;
    n->last_seen_ms = now_ms;
    if (!n->live) {
        n->live = true;
        st->epoch++;
        *changed = true;
    }
    return 0;
}

int pmsd_node_remove(struct pmsd_state *st, const char *id)
{
    struct pmsd_node *n = pmsd_node_find(st, id);
    size_t i;

    if (!n)
        return -ENOENT;
    i = (size_t)(n - st->nodes);
    pmsd_node_fini(n);
    memmove(&st->nodes[i], &st->nodes[i + 1],
            (st->nnodes - i - 1) * sizeof(*n));
    st->nnodes--;
    st->epoch++;
    return 0;
}

size_t pmsd_nodes_expire(struct pmsd_state *st, uint64_t now_ms,
                         uint64_t expiry_ms)
{
    size_t i, n = 0;

    for (i = 0; i < st->nnodes; i++) {
        struct pmsd_node *nd = &st->nodes[i];
        if (nd->live && now_ms - nd->last_seen_ms >= expiry_ms) {
            nd->live = false;
            n++;
        }
    }
    if (n)
        st->epoch++;
    return n;
}

size_t pmsd_nodes_live(const struct pmsd_state *st)
{
    size_t i, n = 0;

    for (i = 0; i < st->nnodes; i++)
        n += st->nodes[i].live;
    return n;
}

static json_t *pmsd_node_json(const struct pmsd_node *n)
{
    return json_pack("{s:s, s:s, s:s, s:O, s:I}", "id", n->id, "address",
                     n->address, "zone", n->zone, "tiers", n->tiers,
                     "registered_at", (json_int_t)n->registered_at);
}

json_t *pmsd_nodes_json(const struct pmsd_state *st, bool all, uint64_t now_ms)
{
    json_t *arr = json_array(), *o;
    size_t i;

    for (i = 0; i < st->nnodes; i++) {
        const struct pmsd_node *n = &st->nodes[i];
        if (!n->live && !all)
            continue;
        o = pmsd_node_json(n);
        json_object_set_new(o, "live", json_boolean(n->live));
        json_object_set_new(
            o, "age_ms", json_integer((json_int_t)(now_ms - n->last_seen_ms)));
        json_array_append_new(arr, o);
    }
    return json_pack("{s:I, s:o}", "epoch", (json_int_t)st->epoch, "nodes",
                     arr);
}

/* ---- backends ---------------------------------------------------------- */

static const struct pmsd_field pmsd_backend_fields[] = {
    {"endpoint", PF_STRING, true, 1024},
    {"bucket", PF_STRING, true, 255},
    {"region", PF_STRING, false, 64},
    {"path_style", PF_BOOL, false, 0},
    {"access_key", PF_STRING, false, CREDS_MAX_KEY - 1},
    {"secret_key", PF_STRING, false, CREDS_MAX_KEY - 1},
    {"session_token", PF_STRING, false, 4095},
    {NULL, 0, false, 0},
};

static int pmsd_backend_check(const json_t *b, struct pmsd_error *err)
{
    const char *ep, *bucket;
    int rc = pmsd_fields_check(b, pmsd_backend_fields, "backend", err);

    if (rc < 0)
        return rc;
    ep = json_string_value(json_object_get(b, "endpoint"));
    bucket = json_string_value(json_object_get(b, "bucket"));
    if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)
        return pmsd_fail(err, -EINVAL,
                         "backend: endpoint must start with http:// or "
                         "https://");
    if (!bucket[0] || strpbrk(bucket, "/ \t\r\n?#"))
        return pmsd_fail(err, -EINVAL, "backend: bad bucket name");
    if (!json_object_get(b, "access_key") != !json_object_get(b, "secret_key"))
        return pmsd_fail(err, -EINVAL,
                         "backend: give both access_key and secret_key, or "
                         "neither");
    return 0;
}

/* Shared create/update: merge body over the old entry, check, store. */
typedef int (*pmsd_check_fn)(struct pmsd_state *st, const json_t *obj,
                             struct pmsd_error *err);

static int pmsd_entry_put(struct pmsd_state *st, json_t *coll, const char *what,
                          const char *name, const json_t *body, bool create,
                          bool mixed, pmsd_check_fn check,
                          struct pmsd_error *err)
{
    json_t *old = json_object_get(coll, name), *obj;
    int rc;

    if (pmsd_name_check(name, mixed) < 0)
        return pmsd_fail(err, -EINVAL, "%s: bad name '%.64s'", what, name);
    if (create && old)
        return pmsd_fail(err, -EEXIST, "%s '%s' exists", what, name);
    if (!create && !old)
        return pmsd_fail(err, -ENOENT, "no %s '%s'", what, name);
    if (create && json_object_size(coll) >= PMSD_MAX_ENTRIES)
        return pmsd_fail(err, -E2BIG, "too many %ss", what);
    if (!json_is_object(body))
        return pmsd_fail(err, -EINVAL, "%s: expected a JSON object", what);
    obj = old ? json_deep_copy(old) : json_object();
    json_object_update(obj, (json_t *)body);
    json_object_del(obj, "name");
    rc = check(st, obj, err);
    if (rc == 0)
        json_object_set(coll, name, obj);
    json_decref(obj);
    return rc;
}

static int pmsd_backend_check_cb(struct pmsd_state *st, const json_t *obj,
                                 struct pmsd_error *err)
{
    return pmsd_backend_check(obj, err);
}

int pmsd_backend_put(struct pmsd_state *st, const char *name,
                     const json_t *body, bool create, struct pmsd_error *err)
{
    return pmsd_entry_put(st, st->backends, "backend", name, body, create,
                          false, pmsd_backend_check_cb, err);
}

static bool pmsd_backend_used(const struct pmsd_state *st, const char *name,
                              const char **by)
{
    const char *pbn;
    json_t *pb, *r;
    size_t i;

    json_object_foreach(st->pbuckets, pbn, pb)
    {
        json_array_foreach(json_object_get(pb, "routes"), i, r)
        {
            if (strcmp(json_string_value(json_object_get(r, "backend")),
                       name) == 0) {
                *by = pbn;
                return true;
            }
        }
    }
    return false;
}

int pmsd_backend_delete(struct pmsd_state *st, const char *name,
                        struct pmsd_error *err)
{
    const char *by = NULL;

    if (!json_object_get(st->backends, name))
        return pmsd_fail(err, -ENOENT, "no backend '%.64s'", name);
    if (pmsd_backend_used(st, name, &by))
        return pmsd_fail(err, -EBUSY,
                         "backend '%s' is routed to by pbucket "
                         "'%s'",
                         name, by);
    json_object_del(st->backends, name);
    return 0;
}

json_t *pmsd_backend_public(const char *name, const json_t *b)
{
    json_t *o = json_deep_copy(b);

    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "has_secret",
                        json_boolean(json_object_get(b, "secret_key")));
    json_object_del(o, "secret_key");
    json_object_del(o, "session_token");
    if (!json_object_get(o, "region"))
        json_object_set_new(o, "region", json_string("us-east-1"));
    if (!json_object_get(o, "path_style"))
        json_object_set_new(o, "path_style", json_false());
    return o;
}

/* ---- pbuckets ---------------------------------------------------------- */

static const struct pmsd_field pmsd_pbucket_fields[] = {
    {"chunk_size", PF_INT, false, 0},
    {"routes", PF_ARRAY, false, PMSD_MAX_ROUTES},
    {"lifecycle", PF_ARRAY, false, PMSD_MAX_RULES},
    {NULL, 0, false, 0},
};

static const struct pmsd_field pmsd_route_fields[] = {
    {"prefix", PF_STRING, true, PMSD_MAX_PREFIX},
    {"backend", PF_STRING, true, PMSD_NAME_MAX},
    {NULL, 0, false, 0},
};

static const struct pmsd_field pmsd_rule_fields[] = {
    {"prefix", PF_STRING, true, PMSD_MAX_PREFIX},
    {"cache_ttl", PF_INT, false, 0},
    {"storage_class", PF_STRING, false, 32},
    {NULL, 0, false, 0},
};

/* Checks a routes or lifecycle array: fields, and each prefix once. */
static int pmsd_prefixes_check(const json_t *arr, const struct pmsd_field *f,
                               const char *what, struct pmsd_error *err)
{
    json_t *e, *e2;
    size_t i, j;
    int rc;

    json_array_foreach(arr, i, e)
    {
        rc = pmsd_fields_check(e, f, what, err);
        if (rc < 0)
            return rc;
        for (j = 0; j < i; j++) {
            e2 = json_array_get(arr, j);
            if (strcmp(json_string_value(json_object_get(e, "prefix")),
                       json_string_value(json_object_get(e2, "prefix"))) == 0)
                return pmsd_fail(
                    err, -EINVAL, "%s: prefix '%.200s' twice", what,
                    json_string_value(json_object_get(e, "prefix")));
        }
    }
    return 0;
}

static int pmsd_pbucket_check(struct pmsd_state *st, const json_t *pb,
                              struct pmsd_error *err)
{
    json_t *cs = json_object_get(pb, "chunk_size"), *r;
    json_t *routes = json_object_get(pb, "routes");
    json_t *rules = json_object_get(pb, "lifecycle");
    const char *sc;
    json_int_t v;
    size_t i, k;
    int rc = pmsd_fields_check(pb, pmsd_pbucket_fields, "pbucket", err);

    if (rc < 0)
        return rc;
    if (cs) {
        v = json_integer_value(cs);
        if (v < PMSD_MIN_CHUNK || v > PMSD_MAX_CHUNK || v % 65536)
            return pmsd_fail(err, -EINVAL,
                             "pbucket: chunk_size must be 1 MiB to 64 MiB, "
                             "a multiple of 64 KiB");
    } else {
        json_object_set_new((json_t *)pb, "chunk_size",
                            json_integer(PMSD_DEFAULT_CHUNK));
    }
    if (!routes)
        json_object_set_new((json_t *)pb, "routes", json_array());
    if (!rules)
        json_object_set_new((json_t *)pb, "lifecycle", json_array());
    if ((rc = pmsd_prefixes_check(routes, pmsd_route_fields, "route", err)) <
            0 ||
        (rc = pmsd_prefixes_check(rules, pmsd_rule_fields, "lifecycle rule",
                                  err)) < 0)
        return rc;
    json_array_foreach(routes, i, r)
    {
        const char *b = json_string_value(json_object_get(r, "backend"));
        if (!json_object_get(st->backends, b))
            return pmsd_fail(err, -EINVAL, "route: no backend '%.64s'", b);
    }
    json_array_foreach(rules, i, r)
    {
        sc = json_string_value(json_object_get(r, "storage_class"));
        for (k = 0; sc && sc[k]; k++) {
            if (!((sc[k] >= 'A' && sc[k] <= 'Z') || sc[k] == '_'))
                return pmsd_fail(err, -EINVAL,
                                 "lifecycle rule: storage_class is A-Z and _ "
                                 "(STANDARD_IA, GLACIER, ...)");
        }
    }
    return 0;
}

int pmsd_pbucket_put(struct pmsd_state *st, const char *name,
                     const json_t *body, bool create, struct pmsd_error *err)
{
    return pmsd_entry_put(st, st->pbuckets, "pbucket", name, body, create,
                          false, pmsd_pbucket_check, err);
}

int pmsd_pbucket_delete(struct pmsd_state *st, const char *name,
                        struct pmsd_error *err)
{
    if (!json_object_get(st->pbuckets, name))
        return pmsd_fail(err, -ENOENT, "no pbucket '%.64s'", name);
    json_object_del(st->pbuckets, name);
    return 0;
}

/* The element of arr whose "prefix" is the longest prefix of key. */
static const json_t *pmsd_longest_prefix(const json_t *arr, const char *key)
{
    const json_t *best = NULL, *e;
    size_t i, n, best_n = 0;

    json_array_foreach((json_t *)arr, i, e)
    {
        const char *p = json_string_value(json_object_get(e, "prefix"));
        n = strlen(p);
        if (strncmp(key, p, n) == 0 && (!best || n > best_n)) {
            best = e;
            best_n = n;
        }
    }
    return best;
}

const json_t *pmsd_pbucket_route(const struct pmsd_state *st,
                                 const char *pbucket, const char *key)
{
    json_t *pb = json_object_get(st->pbuckets, pbucket);

    return pb ? pmsd_longest_prefix(json_object_get(pb, "routes"), key) : NULL;
}

const json_t *pmsd_pbucket_rule(const struct pmsd_state *st,
                                const char *pbucket, const char *key)
{
    json_t *pb = json_object_get(st->pbuckets, pbucket);

    return pb ? pmsd_longest_prefix(json_object_get(pb, "lifecycle"), key)
              : NULL;
}

json_t *pmsd_pbucket_json(const char *name, const json_t *pb)
{
    json_t *o = json_deep_copy(pb);

    json_object_set_new(o, "name", json_string(name));
    return o;
}

/* ---- policies ---------------------------------------------------------- */

static const struct pmsd_field pmsd_policy_fields[] = {
    {"statements", PF_ARRAY, true, 64},
    {"description", PF_STRING, false, 256},
    {NULL, 0, false, 0},
};

static const struct pmsd_field pmsd_statement_fields[] = {
    {"actions", PF_ARRAY, true, 16},
    {"resources", PF_ARRAY, true, 64},
    {NULL, 0, false, 0},
};

static int pmsd_statement_check(const json_t *s, struct pmsd_error *err)
{
    json_t *v;
    size_t i;
    int rc = pmsd_fields_check(s, pmsd_statement_fields, "statement", err);

    if (rc < 0)
        return rc;
    if (!json_array_size(json_object_get(s, "actions")) ||
        !json_array_size(json_object_get(s, "resources")))
        return pmsd_fail(err, -EINVAL,
                         "statement: actions and resources must not be "
                         "empty");
    json_array_foreach(json_object_get(s, "actions"), i, v)
    {
        if (!json_is_string(v) || !token_action_parse(json_string_value(v)))
            return pmsd_fail(err, -EINVAL,
                             "statement: actions are read, list, write, "
                             "delete, admin, node or *");
    }
    json_array_foreach(json_object_get(s, "resources"), i, v)
    {
        if (!json_is_string(v) ||
            token_resource_check(json_string_value(v)) < 0)
            return pmsd_fail(err, -EINVAL,
                             "statement: a resource is \"*\", "
                             "\"pbucket/prefix*\" or \"pbucket/key\"");
    }
    return 0;
}

static int pmsd_policy_check(struct pmsd_state *st, const json_t *p,
                             struct pmsd_error *err)
{
    json_t *s;
    size_t i;
    int rc = pmsd_fields_check(p, pmsd_policy_fields, "policy", err);

    if (rc < 0)
        return rc;
    json_array_foreach(json_object_get(p, "statements"), i, s)
    {
        rc = pmsd_statement_check(s, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int pmsd_policy_put(struct pmsd_state *st, const char *name, const json_t *body,
                    bool create, struct pmsd_error *err)
{
    return pmsd_entry_put(st, st->policies, "policy", name, body, create, true,
                          pmsd_policy_check, err);
}

static bool pmsd_json_array_has(const json_t *arr, const char *s)
{
    json_t *v;
    size_t i;

    json_array_foreach((json_t *)arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

int pmsd_policy_delete(struct pmsd_state *st, const char *name,
                       struct pmsd_error *err)
{
    const char *un;
    json_t *u;

    if (!json_object_get(st->policies, name))
        return pmsd_fail(err, -ENOENT, "no policy '%.64s'", name);
    json_object_foreach(st->users, un, u)
    {
        if (pmsd_json_array_has(json_object_get(u, "policies"), name))
            return pmsd_fail(err, -EBUSY,
                             "policy '%s' is attached to user "
                             "'%s'",
                             name, un);
    }
    json_object_del(st->policies, name);
    return 0;
}

/* ---- users and keys ---------------------------------------------------- */

static const struct pmsd_field pmsd_user_fields[] = {
    {"policies", PF_ARRAY, false, 32},
    {"keys", PF_ARRAY, false, PMSD_MAX_KEYS},
    {"created", PF_INT, false, 0},
    {NULL, 0, false, 0},
};

static const struct pmsd_field pmsd_key_fields[] = {
    {"access_key", PF_STRING, true, 64},
    {"secret_key", PF_STRING, true, 128},
    {"created", PF_INT, false, 0},
    {NULL, 0, false, 0},
};

static int pmsd_user_check(struct pmsd_state *st, const json_t *u,
                           struct pmsd_error *err)
{
    json_t *v;
    size_t i;
    int rc = pmsd_fields_check(u, pmsd_user_fields, "user", err);

    if (rc < 0)
        return rc;
    if (!json_object_get(u, "policies"))
        json_object_set_new((json_t *)u, "policies", json_array());
    if (!json_object_get(u, "keys"))
        json_object_set_new((json_t *)u, "keys", json_array());
    json_array_foreach(json_object_get(u, "policies"), i, v)
    {
        if (!json_is_string(v) ||
            !json_object_get(st->policies, json_string_value(v)))
            return pmsd_fail(err, -EINVAL, "user: no policy '%.64s'",
                             json_is_string(v) ? json_string_value(v) : "?");
    }
    json_array_foreach(json_object_get(u, "keys"), i, v)
    {
        rc = pmsd_fields_check(v, pmsd_key_fields, "user key", err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int pmsd_user_put(struct pmsd_state *st, const char *name, const json_t *body,
                  bool create, int64_t now, struct pmsd_error *err)
{
    json_t *b;
    int rc;

    if (json_is_object(body) && json_object_get(body, "keys"))
        return pmsd_fail(err, -EINVAL,
                         "user: keys are created with POST "
                         "/v1/users/NAME/keys");
    b = json_is_object(body) ? json_deep_copy(body) : json_object();
    if (create)
        json_object_set_new(b, "created", json_integer(now));
    else
        json_object_del(b, "created");
    rc = json_is_object(body)
             ? pmsd_entry_put(st, st->users, "user", name, b, create, true,
                              pmsd_user_check, err)
             : pmsd_fail(err, -EINVAL, "user: expected a JSON object");
    json_decref(b);
    return rc;
}

int pmsd_user_delete(struct pmsd_state *st, const char *name,
                     struct pmsd_error *err)
{
    if (!json_object_get(st->users, name))
        return pmsd_fail(err, -ENOENT, "no user '%.64s'", name);
    json_object_del(st->users, name);
    return 0;
}

json_t *pmsd_user_public(const char *name, const json_t *u)
{
    json_t *keys = json_array(), *k;
    size_t i;

    json_array_foreach(json_object_get(u, "keys"), i, k)
    {
        json_array_append_new(keys, json_pack("{s:O, s:O}", "access_key",
                                              json_object_get(k, "access_key"),
                                              "created",
                                              json_object_get(k, "created")));
    }
    return json_pack("{s:s, s:O, s:o, s:O}", "name", name, "policies",
                     json_object_get(u, "policies"), "keys", keys, "created",
                     json_object_get(u, "created"));
}

int pmsd_key_find(const struct pmsd_state *st, const char *access_key,
                  const char **user, const char **secret)
{
    const char *un;
    json_t *u, *k;
    size_t i;

    json_object_foreach(st->users, un, u)
    {
        json_array_foreach(json_object_get(u, "keys"), i, k)
        {
            if (strcmp(json_string_value(json_object_get(k, "access_key")),
                       access_key) == 0) {
                *user = un;
                *secret = json_string_value(json_object_get(k, "secret_key"));
                return 0;
            }
        }
    }
    return -ENOENT;
}

int pmsd_user_add_key(struct pmsd_state *st, const char *name,
                      const char *access_key, const char *secret_key,
                      int64_t now, struct pmsd_error *err)
{
    json_t *u = json_object_get(st->users, name), *keys;
    const char *ou, *os;

    if (!u)
        return pmsd_fail(err, -ENOENT, "no user '%.64s'", name);
    keys = json_object_get(u, "keys");
    if (json_array_size(keys) >= PMSD_MAX_KEYS)
        return pmsd_fail(err, -E2BIG, "user '%s' has %d keys already", name,
                         PMSD_MAX_KEYS);
    if (pmsd_key_find(st, access_key, &ou, &os) == 0)
        return pmsd_fail(err, -EEXIST, "access key exists");
    json_array_append_new(keys, json_pack("{s:s, s:s, s:I}", "access_key",
                                          access_key, "secret_key", secret_key,
                                          "created", (json_int_t)now));
    return 0;
}

int pmsd_user_delete_key(struct pmsd_state *st, const char *name,
                         const char *access_key, struct pmsd_error *err)
{
    json_t *u = json_object_get(st->users, name), *keys, *k;
    size_t i;

    if (!u)
        return pmsd_fail(err, -ENOENT, "no user '%.64s'", name);
    keys = json_object_get(u, "keys");
    json_array_foreach(keys, i, k)
    {
        if (strcmp(json_string_value(json_object_get(k, "access_key")),
                   access_key) == 0) {
            json_array_remove(keys, i);
            return 0;
        }
    }
    return pmsd_fail(err, -ENOENT, "user '%s' has no key '%.64s'", name,
                     access_key);
}

/* Adds actions on res to t, merged with a scope on the same resource. */
static int pmsd_scope_merge(struct token *t, unsigned acts, const char *res)
{
    size_t i;

    for (i = 0; i < t->nscopes; i++) {
        if (strcmp(t->scopes[i].resource, res) == 0) {
            t->scopes[i].actions |= acts;
            return 0;
        }
    }
    return token_add_scope(t, acts, res);
}

int pmsd_user_scopes(const struct pmsd_state *st, const char *user,
                     struct token *t, struct pmsd_error *err)
{
    json_t *u = json_object_get(st->users, user), *pn, *s, *v;
    size_t i, j, k;
    unsigned acts;
    int rc;

    if (!u)
        return pmsd_fail(err, -ENOENT, "no user '%.64s'", user);
    json_array_foreach(json_object_get(u, "policies"), i, pn)
    {
        json_t *p = json_object_get(st->policies, json_string_value(pn));
        json_array_foreach(json_object_get(p, "statements"), j, s)
        {
            acts = 0;
            json_array_foreach(json_object_get(s, "actions"), k, v) acts |=
                token_action_parse(json_string_value(v));
            json_array_foreach(json_object_get(s, "resources"), k, v)
            {
                rc = pmsd_scope_merge(t, acts, json_string_value(v));
                if (rc < 0)
                    return pmsd_fail(err, rc,
                                     "user '%s': policies grant more than "
                                     "%d resources",
                                     user, TOKEN_MAX_SCOPES);
            }
        }
    }
    return 0;
}

/* ---- the whole document ------------------------------------------------ */

json_t *pmsd_state_to_json(const struct pmsd_state *st)
{
    json_t *nodes = json_array();
    size_t i;

    for (i = 0; i < st->nnodes; i++)
        json_array_append_new(nodes, pmsd_node_json(&st->nodes[i]));
    return json_pack("{s:i, s:I, s:o, s:O, s:O, s:O, s:O}", "version", 1,
                     "epoch", (json_int_t)st->epoch, "nodes", nodes, "backends",
                     st->backends, "pbuckets", st->pbuckets, "policies",
                     st->policies, "users", st->users);
}

/* Loads one collection through its put function, in a safe order. */
static int pmsd_load_coll(struct pmsd_state *st, const json_t *doc,
                          const char *field, int64_t now,
                          struct pmsd_error *err)
{
    json_t *coll = json_object_get(doc, field), *v;
    const char *name;
    int rc = 0;

    if (!coll)
        return 0;
    if (!json_is_object(coll))
        return pmsd_fail(err, -EINVAL, "'%s' must be an object", field);
    json_object_foreach(coll, name, v)
    {
        if (strcmp(field, "backends") == 0)
            rc = pmsd_backend_put(st, name, v, true, err);
        else if (strcmp(field, "pbuckets") == 0)
            rc = pmsd_pbucket_put(st, name, v, true, err);
        else if (strcmp(field, "policies") == 0)
            rc = pmsd_policy_put(st, name, v, true, err);
        else
            rc = pmsd_entry_put(st, st->users, "user", name, v, true, true,
                                pmsd_user_check, err);
        if (rc < 0)
            return rc;
    }
    (void)now;
    return 0;
}

int pmsd_state_from_json(struct pmsd_state *st, const json_t *doc,
                         uint64_t now_ms, struct pmsd_error *err)
{
    static const char *const order[] = {"backends", "pbuckets", "policies",
                                        "users"};
    json_t *nodes, *n, *e = json_object_get(doc, "epoch");
    json_int_t ver = json_integer_value(json_object_get(doc, "version"));
    bool changed;
    size_t i;
    int rc = 0;

    pmsd_state_fini(st);
    pmsd_state_init(st);
    if (!json_is_object(doc) || ver != 1)
        rc = pmsd_fail(err, -EINVAL, "state: not a version 1 document");
    for (i = 0; rc == 0 && i < 4; i++)
        rc = pmsd_load_coll(st, doc, order[i], 0, err);
    nodes = json_object_get(doc, "nodes");
    json_array_foreach(nodes, i, n)
    {
        if (rc == 0)
            rc = pmsd_node_register(
                st, n, json_integer_value(json_object_get(n, "registered_at")),
                now_ms, &changed, err);
    }
    if (rc == 0) {
        /* registration counted epochs; the stored value wins */
        st->epoch = json_is_integer(e) ? (uint64_t)json_integer_value(e) : 0;
        return 0;
    }
    pmsd_state_fini(st);
    pmsd_state_init(st);
    return rc;
}

int pmsd_state_load_config(struct pmsd_state *st, const json_t *doc,
                           struct pmsd_error *err)
{
    struct pmsd_state tmp;
    json_t *swap;
    int rc;

    pmsd_state_init(&tmp);
    rc = pmsd_state_from_json(&tmp, doc, 0, err);
    if (rc == 0) {
#define PMSD_SWAP(f)                                                           \
    swap = st->f;                                                              \
    st->f = tmp.f;                                                             \
    tmp.f = swap
        PMSD_SWAP(backends);
        PMSD_SWAP(pbuckets);
        PMSD_SWAP(users);
        PMSD_SWAP(policies);
#undef PMSD_SWAP
    }
    pmsd_state_fini(&tmp);
    return rc;
}
