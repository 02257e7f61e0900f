/* SPDX-License-Identifier: MIT */
/*
 * config.h: pmsd's settings: one struct, one table (pmsd_config_table),
 * filled from defaults, then a config file (--config), then the command
 * line (-o name=value and the long options). Errors name the file and
 * line (or the option), the text and the reason.
 *
 * Owner: main.c builds it at startup; read-only afterwards.
 */
#ifndef PMSD_CONFIG_H
#define PMSD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

struct pmsd_config {
    char *listen;           /* "127.0.0.1:7070" */
    char *state_dir;        /* key, state file, admin credentials, audit log */
    char *store;            /* "file" or "etcd://host:port,..." */
    char *etcd_key;         /* the etcd key holding the state document */
    uint64_t store_poll_ms; /* etcd: how often to look for others' changes */
    uint64_t heartbeat_interval_ms; /* told to nodes */
    uint64_t heartbeat_expiry_ms;   /* a node not heard from this long
                                       leaves the live set */
    uint64_t tick_ms;               /* the housekeeping timer */
    uint64_t token_ttl_ms;          /* lifetime of issued tokens */
    uint64_t auth_skew_ms;          /* accepted clock skew of signed
                                       requests (and nonce memory) */
    uint64_t longpoll_max_ms;       /* longest ?timeout= of a long-poll */
    int64_t max_waiters;            /* long-polls parked at once */
    uint64_t max_body_size;
    uint64_t max_header_size;
    uint64_t http_timeout_ms;
    char *audit_log; /* NULL: STATE_DIR/audit.log */
    char *log_file;  /* NULL: stderr */
    char *log_level;
    char *debug;
    char *tls_cert; /* PEM chain; with tls_key, the listener is HTTPS */
    char *tls_key;
    bool init_admin; /* --init-admin: create an admin key and exit */
};

extern const struct config_entry pmsd_config_table[];

void pmsd_config_init(struct pmsd_config *c);
void pmsd_config_fini(struct pmsd_config *c);
/*
 * Parses argv into c (initialised by the caller). Returns 0, 1 when
 * --help or --version was printed (exit 0), or -EINVAL with err filled.
 */
int pmsd_config_parse(struct pmsd_config *c, int argc, char **argv,
                      struct config_error *err);

#endif
