/* SPDX-License-Identifier: MIT */
/*
 * routes.h: which backend (real bucket) serves a key of a pbucket.
 *
 * A pbucket routes each key, by longest matching prefix, to a backend:
 * endpoint, region, bucket, addressing style and a credentials file. For
 * now the routes come from pcpd's config file:
 *
 *   backend.b1.endpoint   = http://127.0.0.1:9000
 *   backend.b1.bucket     = data
 *   backend.b1.region     = us-east-1        (default: the global region)
 *   backend.b1.path_style = yes              (default: the global one)
 *   backend.b1.credfile   = /etc/pcpd/b1.cred
 *   backend.b1.profile    = default
 *   pbucket.pb1.chunk_size = 8M              (0 or absent: any size)
 *   pbucket.pb1.route      = "" b1           (PREFIX BACKEND [TTL])
 *   pbucket.pb1.route      = logs/ b2 1h
 *
 * With pmsd (--pms), the table comes from GET /v1/node/config instead
 * (pcpd_routes_from_json) and is replaced whenever pmsd's configuration
 * changes; the config file's table is then unused.
 * This module is the one place that knows the table's shape. Keys are sent
 * to the backend unchanged.
 *
 * Threads: a table is built by one thread (main.c, or the pmsd thread,
 * pms.c) and published with pcpd_routes_publish (pcpd.h); read-only
 * afterwards (creds_source is thread-safe on its own).
 */
#ifndef PCPD_ROUTES_H
#define PCPD_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/creds.h"
#include "common/s3.h"

#define PCPD_NAME_MAX 63

struct pcpd_backend {
    char *name;   /* owned */
    char *bucket; /* owned */
    char *credfile, *profile;
    char *endpoint, *region; /* owned; NULL: the global setting */
    int path_style;          /* -1: the global setting */
    struct s3_config s3;     /* after pcpd_routes_finish; strings owned */
    struct creds_source creds;
    bool creds_ok;
    char *ident; /* owned: identity of the settings (slots, pcpd.h) */
    size_t slot; /* set when the table is published */
};

struct pcpd_route {
    char *prefix;    /* owned, "" matches every key */
    char *bname;     /* owned: backend name, resolved at finish */
    size_t backend;  /* index into routes->backends */
    uint64_t ttl_ms; /* cache TTL of chunks under the prefix; 0 none */
    size_t slot;     /* the backend's slot (pcpd.h), set when published */
};

struct pcpd_pbucket {
    char *name; /* owned */
    uint64_t chunk_size;
    struct pcpd_route *routes; /* owned array */
    size_t nroutes;
};

struct pcpd_routes {
    struct pcpd_backend *backends; /* owned array */
    size_t nbackends;
    struct pcpd_pbucket *pbuckets; /* owned array */
    size_t npbuckets;
    struct pcpd_routes *older; /* tables published before (pcpd.h) */
};

void pcpd_routes_init(struct pcpd_routes *r);
void pcpd_routes_fini(struct pcpd_routes *r);

/* True when name is a routes setting ("backend." or "pbucket."). */
bool pcpd_routes_is_setting(const char *name);
/* Sets one "backend.N.F" / "pbucket.N.F" value. 0 or -EINVAL (err). */
int pcpd_routes_set(struct pcpd_routes *r, const char *name, const char *value,
                    struct config_error *err);
/*
 * Resolves backend names and builds each backend's S3 settings over the
 * defaults in def (borrowed), loading its credentials. 0 or -EINVAL (err).
 */
int pcpd_routes_finish(struct pcpd_routes *r, const struct s3_config *def,
                       struct config_error *err);

/*
 * Builds r (initialised, empty) from pmsd's GET /v1/node/config answer
 * (borrowed): {"backends": {NAME: {endpoint, bucket, region, path_style,
 * access_key, secret_key, session_token}}, "pbuckets": {NAME: {chunk_size,
 * routes: [{prefix, backend}], lifecycle: [{prefix, cache_ttl}]}}}, over
 * the S3 defaults in def (borrowed). Lifecycle rules become the routes'
 * TTLs (both chosen by longest prefix, independently). A backend without
 * keys uses the node's own credentials (environment, ~/.aws). A backend
 * or pbucket that cannot be used is left out and logged. 0, or -EINVAL
 * (with err) when config is not a node config at all; fini r either way.
 */
struct json_t;
int pcpd_routes_from_json(struct pcpd_routes *r, const struct json_t *config,
                          const struct s3_config *def, char *err,
                          size_t errlen);

/*
 * The route of key in pbucket (longest prefix), borrowed, or NULL when
 * the pbucket is unknown or no prefix matches. *pb gets the pbucket.
 */
const struct pcpd_route *pcpd_routes_find(const struct pcpd_routes *r,
                                          const char *pbucket, const char *key,
                                          const struct pcpd_pbucket **pb);

/* Deep-copies an s3_config (strings duplicated) into dst. */
void pcpd_s3_config_copy(struct s3_config *dst, const struct s3_config *src);
void pcpd_s3_config_fini(struct s3_config *c);

#endif
