/* SPDX-License-Identifier: MIT */
/*
 * main.c: pcpd, the cache node. Parses the config, builds the node, runs
 * the workers, and on the main thread handles signals: SIGTERM/SIGINT stop
 * accepting and wait (at most shutdown_timeout) for requests in flight,
 * then exit 0; SIGHUP reopens the log.
 */
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "common/monotime.h"
#include "common/tls.h"
#include "pcpd/auth.h"
#include "pcpd/pcpd.h"
#include "pcpd/pms.h"

/* What the main loop's callbacks need. */
struct pcpd_main {
    struct pcpd *pd;
    const struct pcpd_config *cfg;
    struct event_base *base;
    struct event *drain_ev;
    uint64_t deadline_ms;
    bool forced; /* the bound passed with work still running */
};

static void pcpd_main_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pcpd_main *m = arg;
    struct timeval tv = {0, 50000};
    int64_t busy = pcpd_busy(m->pd);

    if (busy == 0) {
        event_base_loopbreak(m->base);
        return;
    }
    if (monotime_ms() >= m->deadline_ms) {
        log_warnx("shutdown: %lld requests and jobs still running after %llu "
                  "ms; exiting anyway",
                  (long long)busy,
                  (unsigned long long)m->cfg->shutdown_timeout_ms);
        m->forced = true;
        event_base_loopbreak(m->base);
        return;
    }
    evtimer_add(m->drain_ev, &tv);
}

static void pcpd_main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct pcpd_main *m = arg;

    if (sig == SIGHUP) {
        if (m->cfg->log_file && log_to_file(m->cfg->log_file) < 0)
            log_warn("cannot reopen %s", m->cfg->log_file);
        log_reopen();
        log_notice("SIGHUP: log reopened");
        return;
    }
    if (m->deadline_ms)
        return; /* already stopping */
    log_notice("signal %d: stop accepting, finishing requests in flight",
               (int)sig);
    /* Leave pmsd's list first, so clients stop sending here while the
     * requests in flight finish. */
    pcpd_pms_stop(m->pd->pms);
    pcpd_stop_accepting(m->pd);
    m->deadline_ms = monotime_ms() + m->cfg->shutdown_timeout_ms;
    pcpd_main_drain_cb(-1, 0, m);
}

static int pcpd_main_log_setup(const struct pcpd_config *cfg)
{
    enum log_level level;

    log_init("pcpd", LOG_SINK_STDERR);
    if (log_parse_level(cfg->log_level, &level) == 0)
        log_set_level(level);
    if (cfg->debug && log_enable_debug(cfg->debug) < 0) {
        fprintf(stderr, "pcpd: bad debug list '%s'\n", cfg->debug);
        return -EINVAL;
    }
    if (cfg->log_file && log_to_file(cfg->log_file) < 0) {
        fprintf(stderr, "pcpd: cannot open %s: %s\n", cfg->log_file,
                strerror(errno));
        return -EINVAL;
    }
    log_route_libevent();
    return 0;
}

/* --pms: tokens are required and the routes come from pmsd. */
static int pcpd_main_cluster(struct pcpd *pd, char *err, size_t errlen)
{
    pd->auth = pcpd_auth_new();
    return pcpd_pms_new(pd, &pd->pms, err, errlen) < 0 ? -EINVAL : 0;
}

/* Around pcpd_fini: the pmsd thread (which publishes route tables) ends
 * before the node's slots go; the key and the client's memory after the
 * workers, which use them to the end. */
static void pcpd_main_cluster_stop(struct pcpd *pd)
{
    pcpd_pms_join(pd->pms);
}

static void pcpd_main_cluster_free(struct pcpd *pd)
{
    pcpd_pms_free(pd->pms);
    pcpd_auth_free(pd->auth);
}

/* Builds and starts the node: workers (which accept with tls, a server
 * context or NULL), then the pmsd thread. 0 or -errno with err filled. */
static int pcpd_main_start(struct pcpd *pd, const struct pcpd_config *cfg,
                           struct pcpd_routes *routes, void *tls, char *err,
                           size_t errlen)
{
    int rc = pcpd_init(pd, cfg, routes, err, errlen);

    /* After pcpd_init, which clears pd; before the workers run. */
    pd->tls_ctx = tls;
    if (rc < 0)
        return rc;
    if (cfg->pms && (rc = pcpd_main_cluster(pd, err, errlen)) < 0)
        return rc;
    rc = pcpd_start(pd, err, errlen);
    if (rc < 0)
        return rc;
    if (pd->pms && pcpd_pms_start(pd->pms) < 0) {
        snprintf(err, errlen, "cannot start the pmsd thread");
        return -EAGAIN;
    }
    return 0;
}

/* Runs the main loop until a stop signal and the drain are over. */
static int pcpd_main_run(struct pcpd_main *m)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    struct event *sev[3] = {NULL};
    size_t i;

    m->base = event_base_new();
    if (!m->base)
        return -ENOMEM;
    for (i = 0; i < 3; i++) {
        sev[i] = evsignal_new(m->base, sigs[i], pcpd_main_signal_cb, m);
        event_add(sev[i], NULL);
    }
    m->drain_ev = evtimer_new(m->base, pcpd_main_drain_cb, m);
    event_base_loop(m->base, EVLOOP_NO_EXIT_ON_EMPTY);
    for (i = 0; i < 3; i++)
        event_free(sev[i]);
    event_free(m->drain_ev);
    event_base_free(m->base);
    return 0;
}

int main(int argc, char **argv)
{
    struct pcpd_config cfg;
    struct pcpd_routes routes;
    struct config_error cerr = {{0}};
    struct pcpd pd;
    struct pcpd_main m = {0};
    void *tls = NULL;
    char err[512] = "";
    int rc, status = 1;

    signal(SIGPIPE, SIG_IGN);
    pcpd_config_init(&cfg);
    pcpd_routes_init(&routes);
    rc = pcpd_config_parse(&cfg, &routes, argc, argv, &cerr);
    if (rc == 1) {
        status = 0;
        goto out_cfg;
    }
    if (rc == 0)
        rc = pcpd_routes_finish(&routes, &cfg.s3, &cerr);
    if (rc < 0) {
        fprintf(stderr, "pcpd: %s\n", cerr.text);
        goto out_cfg;
    }
    if (pcpd_main_log_setup(&cfg) < 0)
        goto out_cfg;
    if (evthread_use_pthreads() < 0) {
        log_errx("libevent has no pthreads support");
        goto out_cfg;
    }
    /* Before any thread: curl_global_init is not thread-safe. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Certificate and key first: a bad one stops pcpd before it opens
     * its tiers or registers anywhere. */
    if (cfg.tls_cert &&
        tls_server_new(cfg.tls_cert, cfg.tls_key, &tls, err, sizeof(err)) < 0) {
        log_errx("%s", err);
        goto out_cfg;
    }
    if (pcpd_main_start(&pd, &cfg, &routes, tls, err, sizeof(err)) < 0) {
        log_errx("%s", err);
        pcpd_main_cluster_stop(&pd);
        pcpd_fini(&pd);
        pcpd_main_cluster_free(&pd);
        goto out_cfg;
    }
    log_notice("pcpd %s: serving %s on %s with %zu workers, %zu tiers, %s",
               PCACHE_VERSION, tls ? "HTTPS" : "HTTP", cfg.listen, pd.nworkers,
               pd.tiers.n,
               cfg.pms ? "routes and tokens from pmsd"
                       : "routes from the config file");
    m.pd = &pd;
    m.cfg = &cfg;
    pcpd_main_run(&m);
    if (m.forced) {
        /* Requests still hold flights and connections: tearing down
         * under them is not worth the risk. The tiers are consistent. */
        _exit(0);
    }
    pcpd_main_cluster_stop(&pd);
    pcpd_fini(&pd);
    pcpd_main_cluster_free(&pd);
    log_notice("pcpd: stopped");
    status = 0;
out_cfg:
    tls_server_free(tls); /* after pcpd_fini: no connection uses it */
    pcpd_routes_fini(&routes);
    pcpd_config_fini(&cfg);
    curl_global_cleanup();
    return status;
}
