/* SPDX-License-Identifier: MIT */
/*
 * config.c: pcpd's settings table, config file and command line (config.h).
 */
#include "pcpd/config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "pcpd/routes.h"

#define T struct pcpd_config
const struct config_entry pcpd_config_table[] = {
    {"listen", CONFIG_STRING, offsetof(T, listen), "127.0.0.1:7080", 0, 0,
     "address:port to serve HTTP on"},
    {"tls_cert", CONFIG_STRING, offsetof(T, tls_cert), NULL, 0, 0,
     "TLS certificate chain (PEM): serve HTTPS (needs tls_key)"},
    {"tls_key", CONFIG_STRING, offsetof(T, tls_key), NULL, 0, 0,
     "TLS private key (PEM) of tls_cert"},
    {"workers", CONFIG_INT, offsetof(T, workers), "2", 1, 256,
     "HTTP worker threads, one event loop each"},
    {"io_threads", CONFIG_INT, offsetof(T, io_threads), "2", 1, 256,
     "threads for disk writes, fsync and unlink"},
    {"http_timeout", CONFIG_DURATION, offsetof(T, http_timeout_ms), "30s", 100,
     3600000, "close a connection idle (not reading or sending) this long"},
    {"max_header_size", CONFIG_SIZE, offsetof(T, max_header_size), "16K", 1024,
     1 << 20, "largest request header block"},
    {"max_body_size", CONFIG_SIZE, offsetof(T, max_body_size), "64M", 1024,
     1ll << 32, "largest request body (part uploads, small puts)"},
    {"shutdown_timeout", CONFIG_DURATION, offsetof(T, shutdown_timeout_ms),
     "10s", 0, 3600000, "on SIGTERM, wait this long for requests in flight"},
    {"flight_mem", CONFIG_SIZE, offsetof(T, flight_mem), "1G", 1 << 20,
     1ll << 40, "memory for chunks being fetched from backends"},
    {"policy", CONFIG_STRING, offsetof(T, policy), "lru", 0, 0,
     "eviction policy: lru, lru2 or s3fifo"},
    {"high_pct", CONFIG_INT, offsetof(T, high_pct), "95", 1, 100,
     "a tier past this % of its capacity evicts (or demotes) ..."},
    {"low_pct", CONFIG_INT, offsetof(T, low_pct), "90", 1, 100,
     "... down to this %"},
    {"fsync", CONFIG_BOOL, offsetof(T, fsync), "no", 0, 0,
     "fsync each chunk file when it is written"},
    {"promote_hits", CONFIG_INT, offsetof(T, promote_hits), "2", 1, 1000000,
     "hits on a slower tier before a chunk is copied up"},
    {"hot_k", CONFIG_INT, offsetof(T, hot_k), "32", 1, 4096,
     "hot chunks reported in /v1/status"},
    {"meta_threads", CONFIG_INT, offsetof(T, meta_threads), "4", 1, 256,
     "threads for metadata proxy requests (head, list, put, multipart)"},
    {"warmup_parallel", CONFIG_INT, offsetof(T, warmup_parallel), "4", 1, 64,
     "chunks fetched at once by warmups, at most"},
    {"log_file", CONFIG_STRING, offsetof(T, log_file), NULL, 0, 0,
     "log to this file (reopened on SIGHUP); default stderr"},
    {"log_level", CONFIG_STRING, offsetof(T, log_level), "notice", 0, 0,
     "err, warn, notice, info or debug"},
    {"debug", CONFIG_STRING, offsetof(T, debug), NULL, 0, 0,
     "debug output for subsystems: s3,store,http,cache,all"},
    S3_CONFIG_ENTRIES(T, s3),
    {"pms", CONFIG_STRING, offsetof(T, pms), NULL, 0, 0,
     "pmsd addresses host:port[,host:port]: register, take routes from it, "
     "require tokens"},
    {"pms_credfile", CONFIG_STRING, offsetof(T, pms_credfile), NULL, 0, 0,
     "the node user's key for pmsd, one ACCESS_KEY:SECRET_KEY line (0600)"},
    {"pms_ca_file", CONFIG_STRING, offsetof(T, pms_ca_file), NULL, 0, 0,
     "CA bundle to verify https:// pmsd addresses"},
    {"pms_timeout", CONFIG_DURATION, offsetof(T, pms_timeout_ms), "5s", 100,
     600000, "longest request to pmsd"},
    {"node_id", CONFIG_STRING, offsetof(T, node_id), NULL, 0, 0,
     "id registered with pmsd (default: the advertised address)"},
    {"advertise", CONFIG_STRING, offsetof(T, advertise), NULL, 0, 0,
     "host:port clients reach this node at (default: listen); https:// "
     "is added with tls_cert"},
    {"zone", CONFIG_STRING, offsetof(T, zone), NULL, 0, 0,
     "zone (rack, room) registered with pmsd"},
    {NULL, 0, 0, NULL, 0, 0, NULL},
};
#undef T

void pcpd_config_init(struct pcpd_config *c)
{
    memset(c, 0, sizeof(*c));
    config_init(pcpd_config_table, c);
}

static void pcpd_tiers_clear(struct pcpd_config *c)
{
    size_t i;

    for (i = 0; i < c->ntiers; i++) {
        free(c->tiers[i].name);
        free(c->tiers[i].dir);
    }
    c->ntiers = 0;
}

void pcpd_config_fini(struct pcpd_config *c)
{
    pcpd_tiers_clear(c);
    config_fini(pcpd_config_table, c);
}

int pcpd_tier_parse(const char *text, struct pcpd_tier_spec *t,
                    struct config_error *err)
{
    const char *c1 = strchr(text, ':'), *c2 = strrchr(text, ':');
    uint64_t cap;
    size_t i;

    if (!c1 || c1 == c2 || c1 == text || c2 == c1 + 1 ||
        config_parse_size(c2 + 1, &cap) < 0 || cap == 0)
        goto bad;
    for (i = 0; text + i < c1; i++) {
        if (!((text[i] >= 'a' && text[i] <= 'z') ||
              (text[i] >= '0' && text[i] <= '9')))
            goto bad;
    }
    t->name = xstrndup(text, (size_t)(c1 - text));
    t->dir = xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
    t->capacity = cap;
    return 0;
bad:
    snprintf(err->text, sizeof(err->text),
             "tier '%.200s': expected NAME:DIR:CAPACITY, e.g. "
             "mem:/dev/shm/pcpd:4G",
             text);
    return -EINVAL;
}

static int pcpd_config_add_tier(struct pcpd_config *c, const char *text,
                                struct config_error *err)
{
    if (c->ntiers == PCPD_MAX_TIERS) {
        snprintf(err->text, sizeof(err->text), "more than %d tiers",
                 PCPD_MAX_TIERS);
        return -EINVAL;
    }
    if (pcpd_tier_parse(text, &c->tiers[c->ntiers], err) < 0)
        return -EINVAL;
    c->ntiers++;
    return 0;
}

/* One setting from a file or the command line, whatever its kind. */
static int pcpd_config_set(struct pcpd_config *c, struct pcpd_routes *r,
                           const char *name, const char *value,
                           struct config_error *err)
{
    if (strcmp(name, "tier") == 0)
        return value ? pcpd_config_add_tier(c, value, err) : -EINVAL;
    if (pcpd_routes_is_setting(name))
        return pcpd_routes_set(r, name, value ? value : "", err);
    return config_set(pcpd_config_table, c, name, value, err);
}

static int pcpd_config_load(struct pcpd_config *c, struct pcpd_routes *r,
                            const char *path, struct config_error *err)
{
    char line[4096], *name, *value, *eq, *s;
    unsigned lineno = 0;
    struct config_error e1;
    FILE *f = fopen(path, "re");
    int rc = 0;
    size_t n;

    if (!f) {
        snprintf(err->text, sizeof(err->text), "%.200s: %s", path,
                 strerror(errno));
        return -EINVAL;
    }
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        s = config_trim(line);
        if (*s == '#' || *s == ';' || *s == '\0')
            continue;
        eq = strchr(s, '=');
        if (!eq || eq == s) {
            snprintf(err->text, sizeof(err->text),
                     "%.200s:%u: expected 'name = value', got '%.200s'", path,
                     lineno, s);
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        name = config_trim(s);
        value = config_trim(eq + 1);
        n = strlen(value);
        if (n >= 2 && value[0] == '"' && value[n - 1] == '"' &&
            strncmp(name, "pbucket.", 8) != 0) {
            value[n - 1] = '\0';
            value++;
        }
        rc = pcpd_config_set(c, r, name, value, &e1);
        if (rc < 0) {
            snprintf(err->text, sizeof(err->text), "%.200s:%u: %.280s", path,
                     lineno, e1.text);
            break;
        }
    }
    fclose(f);
    return rc < 0 ? -EINVAL : 0;
}

static void pcpd_usage(FILE *out)
{
    fprintf(out,
            "usage: pcpd [--config FILE] [--listen ADDR:PORT] [--workers N]\n"
            "            [--tier NAME:DIR:CAPACITY]... [-o name=value,...]\n"
            "            [--debug s3,store,http] [--pms HOST:PORT,...]\n\n"
            "settings (config file 'name = value', or -o name=value):\n");
    config_print_help(pcpd_config_table, out);
    fprintf(out, "    tier = NAME:DIR:CAPACITY (repeatable, fastest first)\n"
                 "    backend.NAME.{endpoint,bucket,region,path_style,"
                 "credfile,profile}\n"
                 "    pbucket.NAME.route = PREFIX BACKEND [TTL]\n"
                 "    pbucket.NAME.chunk_size = SIZE\n");
}

static const struct option pcpd_long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"workers", required_argument, NULL, 'w'},
    {"tier", required_argument, NULL, 't'},
    {"debug", required_argument, NULL, 'd'},
    {"pms", required_argument, NULL, 'p'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* -o a=1,b=2: each through pcpd_config_set. */
static int pcpd_config_opts(struct pcpd_config *c, struct pcpd_routes *r,
                            const char *opts, struct config_error *err)
{
    char *copy = xstrdup(opts), *save = NULL, *tok, *eq;
    int rc = 0;

    for (tok = strtok_r(copy, ",", &save); tok && rc == 0;
         tok = strtok_r(NULL, ",", &save)) {
        eq = strchr(tok, '=');
        if (eq)
            *eq = '\0';
        rc = pcpd_config_set(c, r, tok, eq ? eq + 1 : NULL, err);
    }
    free(copy);
    return rc;
}

/* Both TLS files or neither; an advertise with a scheme must name what
 * the listener speaks, or clients could not talk to the node. */
static int pcpd_config_check_tls(const struct pcpd_config *c,
                                 struct config_error *err)
{
    const char *a = c->advertise;
    bool https;

    if (!c->tls_cert != !c->tls_key) {
        snprintf(err->text, sizeof(err->text),
                 "TLS needs both tls_cert and tls_key (%s is missing)",
                 c->tls_cert ? "tls_key" : "tls_cert");
        return -EINVAL;
    }
    if (!a || !strstr(a, "://"))
        return 0;
    https = strncmp(a, "https://", 8) == 0;
    if (!https && strncmp(a, "http://", 7) != 0) {
        snprintf(err->text, sizeof(err->text),
                 "advertise '%.200s': expected host:port, http://host:port "
                 "or https://host:port",
                 a);
        return -EINVAL;
    }
    if (https != (c->tls_cert != NULL)) {
        snprintf(err->text, sizeof(err->text),
                 "advertise '%.200s': the listener speaks %s", a,
                 c->tls_cert ? "HTTPS (tls_cert)" : "plain HTTP (no tls_cert)");
        return -EINVAL;
    }
    return 0;
}

int pcpd_config_parse(struct pcpd_config *c, struct pcpd_routes *r, int argc,
                      char **argv, struct config_error *err)
{
    struct pcpd_tier_spec cli_tiers[PCPD_MAX_TIERS];
    size_t ncli = 0, i;
    int opt, rc = 0;

    /* Pass 1: the config file, so the command line overrides it. */
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:h", pcpd_long_opts, NULL)) != -1) {
        if (opt == 'h') {
            pcpd_usage(stdout);
            return 1;
        }
        if (opt == 'V') {
            printf("pcpd %s\n", PCACHE_VERSION);
            return 1;
        }
        if (opt == '?') {
            snprintf(err->text, sizeof(err->text), "bad command line (--help)");
            return -EINVAL;
        }
        if (opt == 'c' && pcpd_config_load(c, r, optarg, err) < 0)
            return -EINVAL;
    }
    optind = 1;
    while (rc == 0 &&
           (opt = getopt_long(argc, argv, "o:h", pcpd_long_opts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            rc = config_set(pcpd_config_table, c, "listen", optarg, err);
            break;
        case 'w':
            rc = config_set(pcpd_config_table, c, "workers", optarg, err);
            break;
        case 'd':
            rc = config_set(pcpd_config_table, c, "debug", optarg, err);
            break;
        case 'p':
            rc = config_set(pcpd_config_table, c, "pms", optarg, err);
            break;
        case 'o':
            rc = pcpd_config_opts(c, r, optarg, err);
            break;
        case 't':
            if (ncli == PCPD_MAX_TIERS) {
                snprintf(err->text, sizeof(err->text), "more than %d tiers",
                         PCPD_MAX_TIERS);
                rc = -EINVAL;
            } else {
                rc = pcpd_tier_parse(optarg, &cli_tiers[ncli], err);
                if (rc == 0)
                    ncli++;
            }
            break;
        default:
            break;
        }
    }
    if (rc == 0 && optind < argc) {
        snprintf(err->text, sizeof(err->text), "unexpected argument '%.200s'",
                 argv[optind]);
        rc = -EINVAL;
    }
    if (rc == 0 && ncli > 0) {
        pcpd_tiers_clear(c);
        for (i = 0; i < ncli; i++)
            c->tiers[i] = cli_tiers[i];
        c->ntiers = ncli;
        ncli = 0;
    }
    for (i = 0; i < ncli; i++) {
        free(cli_tiers[i].name);
        free(cli_tiers[i].dir);
    }
    if (rc == 0 && c->ntiers == 0) {
        snprintf(err->text, sizeof(err->text),
                 "no tier: give --tier NAME:DIR:CAPACITY");
        rc = -EINVAL;
    }
    if (rc == 0 && c->pms && !c->pms_credfile) {
        snprintf(err->text, sizeof(err->text),
                 "pms needs pms_credfile (the node user's key)");
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = pcpd_config_check_tls(c, err);
    if (rc == 0 && c->low_pct > c->high_pct) {
        snprintf(err->text, sizeof(err->text), "low_pct > high_pct");
        rc = -EINVAL;
    }
    return rc < 0 ? -EINVAL : 0;
}
