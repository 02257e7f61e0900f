/* SPDX-License-Identifier: MIT */
/*
 * config.h: pcpd's settings: one struct, one table (pcpd_config_table),
 * filled from defaults, then a config file, then the command line.
 *
 * Besides the "name = value" settings of the table, a config file and the
 * command line take lines that are not single values:
 *   tier = NAME:DIR:CAPACITY        (repeatable, fastest first)
 *   backend.NAME.FIELD = VALUE      (routes.h)
 *   pbucket.NAME.FIELD = VALUE      (routes.h)
 * Tiers given on the command line replace those of the file. Errors name
 * the file and line (or the option), the text and the reason.
 *
 * Owner: main.c builds it before any thread starts; read-only afterwards.
 */
#ifndef PCPD_CONFIG_H
#define PCPD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/s3.h"

struct pcpd_routes;

#define PCPD_MAX_TIERS 4

struct pcpd_tier_spec {
    char *name; /* owned: "mem", "ssd", ... */
    char *dir;  /* owned */
    uint64_t capacity;
};

struct pcpd_config {
    char *listen;   /* "127.0.0.1:7080" */
    char *tls_cert; /* PEM chain; with tls_key, HTTPS (tls.h) */
    char *tls_key;
    int64_t workers;          /* HTTP worker threads */
    int64_t io_threads;       /* disk pool threads */
    uint64_t http_timeout_ms; /* read/write idle timeout of a connection */
    uint64_t max_header_size;
    uint64_t max_body_size;
    uint64_t shutdown_timeout_ms;
    uint64_t flight_mem; /* bytes of chunks being fetched, at most */
    char *policy;        /* eviction policy of every tier */
    int64_t high_pct;
    int64_t low_pct;
    bool fsync;
    int64_t promote_hits;    /* hits on a slow tier before a copy-up */
    int64_t hot_k;           /* size of the hot-chunk top-K */
    int64_t meta_threads;    /* threads for metadata proxy requests */
    int64_t warmup_parallel; /* chunks fetched at once by warmups */
    char *log_file;          /* NULL: stderr */
    char *log_level;
    char *debug;         /* "s3,store,http" */
    struct s3_config s3; /* defaults for every backend */
    /* Cluster (pms.c): without pms the config file's routes are used and
     * requests need no token. */
    char *pms;               /* "host:port[,host:port]" or http(s):// URLs */
    char *pms_credfile;      /* "ACCESS_KEY:SECRET_KEY" of the node's user */
    char *pms_ca_file;       /* CA bundle for https:// pmsd */
    uint64_t pms_timeout_ms; /* one request to pmsd */
    char *node_id;           /* default: the advertised address */
    char *advertise;         /* host:port clients use; default: listen */
    char *zone;

    struct pcpd_tier_spec tiers[PCPD_MAX_TIERS];
    size_t ntiers;
};

extern const struct config_entry pcpd_config_table[];

void pcpd_config_init(struct pcpd_config *c);
void pcpd_config_fini(struct pcpd_config *c);

/*
 * Parses argv into c and routes (both initialised by the caller): first
 * --config FILE, then the command line over it. Returns 0, 1 when --help
 * or --version was printed (exit 0), or -EINVAL with err filled.
 */
int pcpd_config_parse(struct pcpd_config *c, struct pcpd_routes *routes,
                      int argc, char **argv, struct config_error *err);

/* Parses "NAME:DIR:SIZE" into t (owned strings). 0 or -EINVAL. */
int pcpd_tier_parse(const char *text, struct pcpd_tier_spec *t,
                    struct config_error *err);

#endif
