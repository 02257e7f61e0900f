/* SPDX-License-Identifier: MIT */
/*
 * main.c: pmsd, the metadata service. Parses the config, opens the state
 * (creating the signing key and the first admin key on first start),
 * serves HTTP on one event loop with one housekeeping timer, and tears
 * down in reverse on SIGTERM/SIGINT. SIGHUP reopens the log file.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "common/tls.h"
#include "pmsd/pmsd.h"
#include "pmsd/store.h"

#define PMSD_KEY_FILE   "ed25519.pem"
#define PMSD_ADMIN_FILE "admin.cred"

/* Opens (or, after rotation, reopens) the audit log. 0 or -EINVAL. */
static int pmsd_main_open_audit(struct pmsd *pd, char *err, size_t errlen)
{
    int fd =
        open(pd->audit_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", pd->audit_path, strerror(errno));
        return -EINVAL;
    }
    if (pd->audit_fd >= 0)
        close(pd->audit_fd);
    pd->audit_fd = fd;
    return 0;
}

static int pmsd_main_log_setup(const struct pmsd_config *cfg)
{
    enum log_level level;

    log_init("pmsd", LOG_SINK_STDERR);
    if (log_parse_level(cfg->log_level, &level) == 0)
        log_set_level(level);
    if (cfg->debug && log_enable_debug(cfg->debug) < 0) {
        fprintf(stderr, "pmsd: bad debug list '%s'\n", cfg->debug);
        return -EINVAL;
    }
    if (cfg->log_file && log_to_file(cfg->log_file) < 0) {
        fprintf(stderr, "pmsd: cannot open %s: %s\n", cfg->log_file,
                strerror(errno));
        return -EINVAL;
    }
    log_route_libevent();
    return 0;
}

/*
 * With a shared store every pmsd must sign with the same key, or a token
 * from one would be refused by nodes that fetched the other's public
 * key: the first pmsd puts its key into etcd, the others take it from
 * there (etcd already holds the backends' secrets; protect it alike).
 */
static int pmsd_main_shared_key(struct pmsd *pd, char *err, size_t errlen)
{
    struct token_key *shared = NULL;
    char *pem = NULL;
    size_t len = 0;
    struct buf mine;
    int rc;

    buf_init(&mine, 64 << 10);
    rc = token_key_private_pem(pd->key, &mine);
    if (rc == 0)
        rc = pmsd_store_shared_blob(pd->store, ".ed25519", mine.data, mine.len,
                                    &pem, &len, err, errlen);
    if (rc == 0 && (token_key_from_pem(pem, len, &shared) < 0 ||
                    !token_key_is_private(shared))) {
        snprintf(err, errlen,
                 "etcd: the shared signing key is not an "
                 "Ed25519 private key");
        rc = -EINVAL;
    }
    if (rc == 0) {
        token_key_free(pd->key);
        pd->key = shared;
        shared = NULL;
    }
    token_key_free(shared);
    free(pem);
    buf_free(&mine);
    return rc;
}

/* Loads STATE_DIR/ed25519.pem, or creates it (0600) on first start. */
static int pmsd_main_key(struct pmsd *pd, char *err, size_t errlen)
{
    char *path = xasprintf("%s/%s", pd->cfg->state_dir, PMSD_KEY_FILE);
    char *pem = NULL;
    size_t len = 0;
    struct buf b;
    struct stat st;
    int rc = pmsd_read_file(path, 64 << 10, &pem, &len);

    buf_init(&b, 64 << 10);
    if (rc == 0) {
        if (stat(path, &st) == 0 && (st.st_mode & 077))
            log_warnx("%s: readable by group or others; chmod 600", path);
        rc = token_key_from_pem(pem, len, &pd->key);
        if (rc < 0 || !token_key_is_private(pd->key))
            snprintf(err, errlen, "%s: not an Ed25519 private key", path);
        if (rc == 0 && !token_key_is_private(pd->key))
            rc = -EINVAL;
    } else if (rc == -ENOENT) {
        rc = token_key_generate(&pd->key);
        if (rc == 0)
            rc = token_key_private_pem(pd->key, &b);
        if (rc == 0)
            rc = pmsd_write_private(path, b.data, b.len);
        if (rc < 0)
            snprintf(err, errlen, "%s: cannot create: %s", path, strerror(-rc));
        else
            log_notice("created signing key %s", path);
    } else {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
    }
    if (rc == 0 && pmsd_store_shared(pd->store))
        rc = pmsd_main_shared_key(pd, err, errlen);
    if (rc == 0)
        token_key_id(pd->key, pd->kid);
    buf_free(&b);
    free(pem);
    free(path);
    return rc;
}

/*
 * Makes sure the "admin" policy and user exist, gives the user a new key
 * and writes it to STATE_DIR/admin.cred (0600, "ACCESS:SECRET", the s3fs
 * format that creds_load_file reads). The caller saves the state.
 */
static int pmsd_main_admin(struct pmsd *pd, char ak[32], char sk[64],
                           char **path, char *err, size_t errlen)
{
    struct pmsd_error e = {{0}};
    json_t *pol, *user;
    char *line;
    int rc = 0;

    *path = xasprintf("%s/%s", pd->cfg->state_dir, PMSD_ADMIN_FILE);
    if (!json_object_get(pd->state.policies, "admin")) {
        /* Everything but "node": backend secrets are for nodes only,
         * and an admin creates node users when they are needed. */
        pol = json_pack("{s:[{s:[s,s,s,s,s], s:[s]}]}", "statements", "actions",
                        "read", "list", "write", "delete", "admin", "resources",
                        "*");
        rc = pmsd_policy_put(&pd->state, "admin", pol, true, &e);
        json_decref(pol);
    }
    if (rc == 0 && !json_object_get(pd->state.users, "admin")) {
        user = json_pack("{s:[s]}", "policies", "admin");
        rc = pmsd_user_put(&pd->state, "admin", user, true, (int64_t)time(NULL),
                           &e);
        json_decref(user);
    }
    pmsd_auth_new_key(ak, sk);
    if (rc == 0)
        rc = pmsd_user_add_key(&pd->state, "admin", ak, sk, (int64_t)time(NULL),
                               &e);
    if (rc < 0) {
        snprintf(err, errlen, "admin: %s", e.msg);
        return rc;
    }
    line = xasprintf("%s:%s\n", ak, sk);
    rc = pmsd_write_private(*path, line, strlen(line));
    free(line);
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", *path, strerror(-rc));
    return rc;
}

/* Opens the store and loads the state; first start bootstraps an admin. */
static int pmsd_main_state(struct pmsd *pd, char *err, size_t errlen)
{
    const struct pmsd_config *cfg = pd->cfg;
    struct pmsd_error e = {{0}};
    json_t *doc = NULL;
    char ak[32], sk[64], *path = NULL;
    int rc;

    rc = pmsd_store_load(pd->store, &doc, err, errlen);
    if (rc == 0) {
        rc = pmsd_state_from_json(&pd->state, doc, monotime_ms(), &e);
        if (rc < 0)
            snprintf(err, errlen, "%s: %s", pmsd_store_name(pd->store), e.msg);
        json_decref(doc);
        if (rc < 0 || !cfg->init_admin)
            return rc;
    } else if (rc != -ENOENT) {
        return rc;
    }
    /* First start (or --init-admin): a key for the admin. */
    rc = pmsd_main_admin(pd, ak, sk, &path, err, errlen);
    if (rc == 0 && pmsd_save(pd) < 0) {
        snprintf(err, errlen, "cannot save the state to %s",
                 pmsd_store_name(pd->store));
        rc = -EIO;
    }
    if (rc == 0 && cfg->init_admin)
        printf("access_key=%s\nsecret_key=%s\ncredentials file: %s\n", ak, sk,
               path);
    else if (rc == 0)
        log_notice("first start: admin credentials written to %s", path);
    free(path);
    return rc;
}

struct pmsd_main {
    struct pmsd *pd;
    struct event_base *base;
};

static void pmsd_main_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    pmsd_housekeeping(arg);
}

static void pmsd_main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct pmsd_main *m = arg;

    if (sig == SIGHUP) {
        char err[256];
        if (m->pd->cfg->log_file && log_to_file(m->pd->cfg->log_file) < 0)
            log_warn("cannot reopen %s", m->pd->cfg->log_file);
        log_reopen();
        if (pmsd_main_open_audit(m->pd, err, sizeof(err)) < 0)
            log_warnx("audit: cannot reopen: %s", err); /* keeps the old */
        log_notice("SIGHUP: log and audit log reopened");
        return;
    }
    log_notice("signal %d: stopping", (int)sig);
    event_base_loopbreak(m->base);
}

static int pmsd_main_listen(struct pmsd *pd, char *err, size_t errlen)
{
    const char *addr = pd->cfg->listen, *colon = strrchr(addr, ':');
    char *host;
    long port;
    int rc = 0;

    if (!colon || (port = strtol(colon + 1, NULL, 10)) <= 0 || port > 65535) {
        snprintf(err, errlen, "listen '%s': expected ADDRESS:PORT", addr);
        return -EINVAL;
    }
    host = xstrndup(addr, (size_t)(colon - addr));
    if (!evhttp_bind_socket_with_handle(pd->http, host, (ev_uint16_t)port)) {
        snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
        rc = -EADDRINUSE;
    }
    free(host);
    return rc;
}

static int pmsd_main_init(struct pmsd *pd, const struct pmsd_config *cfg,
                          char *err, size_t errlen)
{
    int rc;

    memset(pd, 0, sizeof(*pd));
    pd->cfg = cfg;
    pd->audit_fd = -1;
    pd->start_ms = monotime_ms();
    pd->nonces = json_object();
    RAND_bytes((unsigned char *)&pd->boot_id, sizeof(pd->boot_id));
    pmsd_config_changed(pd);
    pmsd_state_init(&pd->state);
    if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", cfg->state_dir, strerror(errno));
        return -errno;
    }
    if ((rc = pmsd_store_open(cfg->store, cfg->state_dir, cfg->etcd_key,
                              &pd->store, err, errlen)) < 0 ||
        (rc = pmsd_main_key(pd, err, errlen)) < 0 ||
        (rc = pmsd_main_state(pd, err, errlen)) < 0)
        return rc;
    pd->audit_path = cfg->audit_log ? xstrdup(cfg->audit_log)
                                    : xasprintf("%s/audit.log", cfg->state_dir);
    return pmsd_main_open_audit(pd, err, errlen);
}

static void pmsd_main_fini(struct pmsd *pd)
{
    size_t i;

    for (i = 0; i < pd->nwaiters; i++)
        pmsd_reply_error(pd, pd->waiters[i].req, -EAGAIN, "shutting down");
    free(pd->waiters);
    if (pd->http)
        evhttp_free(pd->http);
    if (pd->tick_ev)
        event_free(pd->tick_ev);
    tls_server_free(pd->tls_ctx);
    if (pd->base)
        event_base_free(pd->base);
    if (pd->audit_fd >= 0)
        close(pd->audit_fd);
    free(pd->audit_path);
    pmsd_store_free(pd->store);
    pmsd_state_fini(&pd->state);
    token_key_free(pd->key);
    json_decref(pd->nonces);
    json_decref(pd->node_stats);
}

static int pmsd_main_run(struct pmsd *pd, char *err, size_t errlen)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    struct timeval tick = {(time_t)(pd->cfg->tick_ms / 1000),
                           (suseconds_t)(pd->cfg->tick_ms % 1000) * 1000};
    struct event *sev[3] = {NULL};
    struct pmsd_main m = {pd, NULL};
    size_t i;
    int rc;

    m.base = pd->base = event_base_new();
    pd->http = pd->base ? evhttp_new(pd->base) : NULL;
    if (!pd->http) {
        snprintf(err, errlen, "libevent: cannot create the loop");
        return -ENOMEM;
    }
    pmsd_http_setup(pd);
    if (pd->cfg->tls_cert) {
        rc = tls_server_new(pd->cfg->tls_cert, pd->cfg->tls_key, &pd->tls_ctx,
                            err, errlen);
        if (rc < 0)
            return rc;
        evhttp_set_bevcb(pd->http, tls_accept_bev, pd->tls_ctx);
    }
    rc = pmsd_main_listen(pd, err, errlen);
    if (rc < 0)
        return rc;
    pd->tick_ev = event_new(pd->base, -1, EV_PERSIST, pmsd_main_tick_cb, pd);
    event_add(pd->tick_ev, &tick);
    for (i = 0; i < 3; i++) {
        sev[i] = evsignal_new(pd->base, sigs[i], pmsd_main_signal_cb, &m);
        event_add(sev[i], NULL);
    }
    log_notice("pmsd %s: serving %s on %s, state in %s, key %s, epoch %llu",
               PCACHE_VERSION, pd->tls_ctx ? "HTTPS" : "HTTP", pd->cfg->listen,
               pmsd_store_name(pd->store), pd->kid,
               (unsigned long long)pd->state.epoch);
    event_base_dispatch(pd->base);
    for (i = 0; i < 3; i++)
        event_free(sev[i]);
    return 0;
}

int main(int argc, char **argv)
{
    struct pmsd_config cfg;
    struct config_error cerr = {{0}};
    struct pmsd pd;
    char err[512] = "";
    int rc, status = 1;

    signal(SIGPIPE, SIG_IGN);
    pmsd_config_init(&cfg);
    rc = pmsd_config_parse(&cfg, argc, argv, &cerr);
    if (rc == 1) {
        status = 0;
        goto out_cfg;
    }
    if (rc < 0) {
        fprintf(stderr, "pmsd: %s\n", cerr.text);
        goto out_cfg;
    }
    if (!cfg.tls_cert != !cfg.tls_key) {
        fprintf(stderr, "pmsd: TLS needs both tls_cert and tls_key\n");
        goto out_cfg;
    }
    if (pmsd_main_log_setup(&cfg) < 0)
        goto out_cfg;
    rc = pmsd_main_init(&pd, &cfg, err, sizeof(err));
    if (rc == 0 && !cfg.init_admin)
        rc = pmsd_main_run(&pd, err, sizeof(err));
    if (rc < 0)
        log_errx("%s", err);
    else
        status = 0;
    pmsd_main_fini(&pd);
    if (rc == 0 && !cfg.init_admin)
        log_notice("pmsd: stopped");
out_cfg:
    pmsd_config_fini(&cfg);
    return status;
}
