/* SPDX-License-Identifier: MIT */
/*
 * config.c: pmsd's settings table and command line (config.h).
 */
#include "pmsd/config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define T struct pmsd_config
const struct config_entry pmsd_config_table[] = {
    {"listen", CONFIG_STRING, offsetof(T, listen), "127.0.0.1:7070", 0, 0,
     "address:port to serve HTTP on"},
    {"state_dir", CONFIG_STRING, offsetof(T, state_dir), "/var/lib/pmsd", 0, 0,
     "signing key, state file, admin credentials, audit log"},
    {"store", CONFIG_STRING, offsetof(T, store), "file", 0, 0,
     "where the state lives: file (STATE_DIR/state.json) or "
     "etcd://host:port,..."},
    {"etcd_key", CONFIG_STRING, offsetof(T, etcd_key), "/pcachefs/pmsd/state",
     0, 0, "etcd key of the state document"},
    {"store_poll", CONFIG_DURATION, offsetof(T, store_poll_ms), "1s", 100,
     600000, "etcd: how often to look for changes made by another pmsd"},
    {"heartbeat_interval", CONFIG_DURATION, offsetof(T, heartbeat_interval_ms),
     "5s", 100, 3600000, "how often nodes are told to heartbeat"},
    {"heartbeat_expiry", CONFIG_DURATION, offsetof(T, heartbeat_expiry_ms),
     "15s", 200, 86400000, "a node silent this long leaves the live set"},
    {"tick", CONFIG_DURATION, offsetof(T, tick_ms), "200ms", 10, 60000,
     "housekeeping timer: expiry, long-poll timeouts, nonce memory"},
    {"token_ttl", CONFIG_DURATION, offsetof(T, token_ttl_ms), "1h", 1000,
     86400000, "lifetime of issued tokens"},
    {"auth_skew", CONFIG_DURATION, offsetof(T, auth_skew_ms), "5m", 1000,
     3600000, "accepted clock skew of signed requests"},
    {"longpoll_max", CONFIG_DURATION, offsetof(T, longpoll_max_ms), "60s", 100,
     600000, "longest wait of GET /v1/nodes?wait_epoch="},
    {"max_waiters", CONFIG_INT, offsetof(T, max_waiters), "4096", 1, 1000000,
     "long-polls waiting at once; more get 503"},
    {"max_body_size", CONFIG_SIZE, offsetof(T, max_body_size), "1M", 1024,
     64 << 20, "largest request body"},
    {"max_header_size", CONFIG_SIZE, offsetof(T, max_header_size), "16K", 1024,
     1 << 20, "largest request header block"},
    {"http_timeout", CONFIG_DURATION, offsetof(T, http_timeout_ms), "30s", 100,
     3600000, "close a connection idle this long"},
    {"audit_log", CONFIG_STRING, offsetof(T, audit_log), NULL, 0, 0,
     "audit log file; default STATE_DIR/audit.log"},
    {"log_file", CONFIG_STRING, offsetof(T, log_file), NULL, 0, 0,
     "log to this file (reopened on SIGHUP); default stderr"},
    {"log_level", CONFIG_STRING, offsetof(T, log_level), "notice", 0, 0,
     "err, warn, notice, info or debug"},
    {"debug", CONFIG_STRING, offsetof(T, debug), NULL, 0, 0,
     "debug output for subsystems: http,cluster,all"},
    {"tls_cert", CONFIG_STRING, offsetof(T, tls_cert), NULL, 0, 0,
     "TLS certificate chain (PEM); serve HTTPS"},
    {"tls_key", CONFIG_STRING, offsetof(T, tls_key), NULL, 0, 0,
     "TLS private key (PEM) of tls_cert"},
    {NULL, 0, 0, NULL, 0, 0, NULL},
};
#undef T

void pmsd_config_init(struct pmsd_config *c)
{
    memset(c, 0, sizeof(*c));
    config_init(pmsd_config_table, c);
}

void pmsd_config_fini(struct pmsd_config *c)
{
    config_fini(pmsd_config_table, c);
}

static void pmsd_usage(FILE *out)
{
    fprintf(out,
            "usage: pmsd [--config FILE] [--listen ADDR:PORT] "
            "[--state-dir DIR]\n"
            "            [--store file|etcd://HOST:PORT,...] "
            "[-o name=value,...]\n"
            "            [--debug http,cluster] [--init-admin]\n\n"
            "  --init-admin  create an admin key, write it to "
            "STATE_DIR/admin.cred\n"
            "                (mode 0600), print it, and exit; run it while "
            "pmsd is stopped\n\n"
            "settings (config file 'name = value', or -o name=value):\n");
    config_print_help(pmsd_config_table, out);
}

static const struct option pmsd_long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"state-dir", required_argument, NULL, 's'},
    {"store", required_argument, NULL, 'S'},
    {"debug", required_argument, NULL, 'd'},
    {"init-admin", no_argument, NULL, 'I'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* First pass: --config, --help, --version and unknown options. */
static int pmsd_config_first(struct pmsd_config *c, int argc, char **argv,
                             struct config_error *err)
{
    int opt, rc = 0;

    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:h", pmsd_long_opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            pmsd_usage(stdout);
            return 1;
        case 'V':
            printf("pmsd %s\n", PCACHE_VERSION);
            return 1;
        case 'c':
            rc = config_load_file(pmsd_config_table, c, optarg, false, err);
            if (rc < 0 && err->text[0] == '\0')
                snprintf(err->text, sizeof(err->text), "%.200s: %s", optarg,
                         strerror(-rc));
            if (rc < 0)
                return -EINVAL;
            break;
        case '?':
            snprintf(err->text, sizeof(err->text),
                     "unknown or incomplete option '%.200s' (try --help)",
                     argv[optind - 1]);
            return -EINVAL;
        default:
            break;
        }
    }
    return 0;
}

int pmsd_config_parse(struct pmsd_config *c, int argc, char **argv,
                      struct config_error *err)
{
    int opt, rc = pmsd_config_first(c, argc, argv, err);

    if (rc != 0)
        return rc;
    optind = 1;
    while (rc == 0 &&
           (opt = getopt_long(argc, argv, "o:h", pmsd_long_opts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            rc = config_set(pmsd_config_table, c, "listen", optarg, err);
            break;
        case 's':
            rc = config_set(pmsd_config_table, c, "state_dir", optarg, err);
            break;
        case 'S':
            rc = config_set(pmsd_config_table, c, "store", optarg, err);
            break;
        case 'd':
            rc = config_set(pmsd_config_table, c, "debug", optarg, err);
            break;
        case 'o':
            rc = config_parse_opts(pmsd_config_table, c, optarg, false, NULL,
                                   err);
            break;
        case 'I':
            c->init_admin = true;
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
    if (rc == 0 && c->heartbeat_expiry_ms <= c->heartbeat_interval_ms) {
        snprintf(err->text, sizeof(err->text),
                 "heartbeat_expiry must be longer than heartbeat_interval");
        rc = -EINVAL;
    }
    return rc < 0 ? -EINVAL : 0;
}
