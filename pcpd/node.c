/* SPDX-License-Identifier: MIT */
/*
 * node.c: building, running and tearing down a node (pcpd.h).
 *
 * DESIGN
 * One listening socket, made here; each worker gets its own dup of it and
 * accepts on its own loop (evhttp_accept_socket_with_handle), so the
 * kernel spreads connections over the workers and a connection lives on
 * one thread for its whole life, as in memcached's thread.c. Stopping is
 * two steps driven by main.c: stop_ev makes a worker close its listener
 * (new connections are refused while requests in flight go on), exit_ev
 * makes it leave its loop once pcpd_busy() is 0 or the bound has passed.
 */
#include "pcpd/pcpd.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "common/s3.h"
#include "pcpd/fdcache.h"
#include "pcpd/flight.h"
#include "pcpd/hot.h"
#include "pcpd/http.h"
#include "pcpd/meta.h"
#include "pcpd/pool.h"
#include "pcpd/warmup.h"

/* Queued disk jobs at most (chunk writes, tier copies). */
#define PCPD_POOL_MAX_JOBS 1024

static int pcpd_listen(const char *addr, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char host[256];
    const char *colon = strrchr(addr, ':');
    int fd = -1, one = 1, rc;

    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host)) {
        snprintf(err, errlen, "listen '%s': expected HOST:PORT", addr);
        return -EINVAL;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "listen '%s': %s", addr, gai_strerror(rc));
        return -EINVAL;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        /* Inherited by accepted sockets: a reply's headers and the tail
         * of its body go out at once, not after the client's delayed
         * ACK (Nagle), which made one connection's hits wait up to 40 ms. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        rc = -errno;
        snprintf(err, errlen, "listen '%s': %s", addr, strerror(-rc));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return rc;
    }
    freeaddrinfo(ai);
    return fd;
}

static void pcpd_worker_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pcpd_worker *w = arg;

    if (w->bound) {
        evhttp_del_accept_socket(w->http, w->bound);
        w->bound = NULL;
    }
}

static void pcpd_worker_exit_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pcpd_worker *w = arg;

    event_base_loopbreak(w->base);
}

static void *pcpd_worker_main(void *arg)
{
    struct pcpd_worker *w = arg;

    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static int pcpd_worker_init(struct pcpd *pd, struct pcpd_worker *w, size_t i,
                            char *err, size_t errlen)
{
    const struct pcpd_routes *r = pcpd_routes_current(pd);
    size_t k;
    int fd;

    w->pd = pd;
    w->index = i;
    w->base = event_base_new();
    w->http = w->base ? evhttp_new(w->base) : NULL;
    if (!w->http) {
        snprintf(err, errlen, "worker %zu: cannot make an event loop", i);
        return -ENOMEM;
    }
    pcpd_http_setup(w);
    fd = fcntl(pd->listen_fd, F_DUPFD_CLOEXEC, 0);
    w->bound = fd >= 0 ? evhttp_accept_socket_with_handle(w->http, fd) : NULL;
    if (!w->bound) {
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "worker %zu: cannot accept on the socket", i);
        return -EIO;
    }
    w->stop_ev = event_new(w->base, -1, 0, pcpd_worker_stop_cb, w);
    w->exit_ev = event_new(w->base, -1, 0, pcpd_worker_exit_cb, w);
    w->fdc = pcpd_fdc_new();
    w->clients = xcalloc(PCPD_MAX_SLOTS, sizeof(*w->clients));
    /* The config file's backends now, so bad settings stop the start;
     * pmsd's are made on first use (pcpd_worker_client). */
    for (k = 0; k < r->nbackends; k++) {
        size_t slot = r->backends[k].slot;

        w->clients[slot] = s3_client_new(
            &pd->slots[slot].s3, pd->slots[slot].creds, w->base, err, errlen);
        if (!w->clients[slot])
            return -EINVAL;
    }
    return 0;
}

static void pcpd_worker_fini(struct pcpd *pd, struct pcpd_worker *w)
{
    size_t k;

    if (w->clients) {
        for (k = 0; k < PCPD_MAX_SLOTS; k++)
            s3_client_free(w->clients[k]);
        free(w->clients);
    }
    if (w->stop_ev)
        event_free(w->stop_ev);
    if (w->exit_ev)
        event_free(w->exit_ev);
    if (w->http)
        evhttp_free(w->http);
    pcpd_fdc_free(w->fdc);
    if (w->base)
        event_base_free(w->base);
}

int pcpd_init(struct pcpd *pd, const struct pcpd_config *cfg,
              struct pcpd_routes *routes, char *err, size_t errlen)
{
    size_t i;
    int rc;

    memset(pd, 0, sizeof(*pd));
    pd->cfg = cfg;
    pd->listen_fd = -1;
    pthread_mutex_init(&pd->slot_lock, NULL);
    pthread_mutex_init(&pd->pbstats_lock, NULL);
    rc = pcpd_routes_publish(pd, routes, false, err, errlen);
    if (rc < 0)
        return rc;
    pd->start_ms = monotime_ms();
    rc = pcpd_tiers_open(&pd->tiers, cfg, err, errlen);
    if (rc < 0)
        return rc;
    pd->flights = pcpd_flights_new(cfg->flight_mem);
    pd->hot = pcpd_hot_new((size_t)cfg->hot_k);
    pd->pool = pcpd_pool_new((size_t)cfg->io_threads, PCPD_POOL_MAX_JOBS);
    if (!pd->pool) {
        snprintf(err, errlen, "cannot start the disk pool");
        return -ENOMEM;
    }
    pd->meta_pool =
        pcpd_pool_new((size_t)cfg->meta_threads, PCPD_POOL_MAX_JOBS);
    pd->warmup_pool =
        pcpd_pool_new((size_t)cfg->warmup_parallel, PCPD_POOL_MAX_JOBS);
    if (!pd->meta_pool || !pd->warmup_pool) {
        snprintf(err, errlen, "cannot start the metadata and warmup pools");
        return -ENOMEM;
    }
    pd->uploads = pcpd_uploads_new();
    pd->warmups = pcpd_warmups_new();
    for (i = 0; i < routes->nbackends; i++) {
        if (!pcpd_slot_meta_client(pd, routes->backends[i].slot)) {
            snprintf(err, errlen, "backend %s: bad settings",
                     routes->backends[i].name);
            return -EINVAL;
        }
    }
    pd->listen_fd = pcpd_listen(cfg->listen, err, errlen);
    if (pd->listen_fd < 0)
        return pd->listen_fd;
    pd->nworkers = (size_t)cfg->workers;
    pd->workers = xcalloc(pd->nworkers, sizeof(*pd->workers));
    for (i = 0; i < pd->nworkers; i++) {
        rc = pcpd_worker_init(pd, &pd->workers[i], i, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int pcpd_start(struct pcpd *pd, char *err, size_t errlen)
{
    size_t i;

    for (i = 0; i < pd->nworkers; i++) {
        if (pthread_create(&pd->workers[i].thread, NULL, pcpd_worker_main,
                           &pd->workers[i]) != 0) {
            snprintf(err, errlen, "cannot start worker %zu", i);
            return -EAGAIN;
        }
        pd->workers[i].started = true;
    }
    return 0;
}

void pcpd_stop_accepting(struct pcpd *pd)
{
    size_t i;

    __atomic_store_n(&pd->stopping, true, __ATOMIC_RELAXED);
    for (i = 0; i < pd->nworkers; i++)
        event_active(pd->workers[i].stop_ev, EV_READ, 0);
}

int64_t pcpd_busy(struct pcpd *pd)
{
    return __atomic_load_n(&pd->inflight, __ATOMIC_RELAXED) +
           __atomic_load_n(&pd->jobs, __ATOMIC_RELAXED);
}

void pcpd_fini(struct pcpd *pd)
{
    size_t i;

    for (i = 0; i < pd->nworkers; i++) {
        if (pd->workers[i].started)
            event_active(pd->workers[i].exit_ev, EV_READ, 0);
    }
    for (i = 0; i < pd->nworkers; i++) {
        if (pd->workers[i].started)
            pthread_join(pd->workers[i].thread, NULL);
    }
    /* The pools may still post completions to the loops: drain them
     * first; metadata and warmup jobs need the metadata clients. */
    pcpd_pool_free(pd->warmup_pool);
    pcpd_pool_free(pd->meta_pool);
    pcpd_warmups_free(pd->warmups);
    pcpd_uploads_free(pd->uploads);
    pcpd_pool_free(pd->pool);
    for (i = 0; i < pd->nworkers; i++)
        pcpd_worker_fini(pd, &pd->workers[i]);
    free(pd->workers);
    pcpd_slots_free(pd);
    pthread_mutex_destroy(&pd->slot_lock);
    pthread_mutex_destroy(&pd->pbstats_lock);
    if (pd->listen_fd >= 0)
        close(pd->listen_fd);
    pcpd_flights_free(pd->flights);
    pcpd_hot_free(pd->hot);
    pcpd_tiers_close(&pd->tiers);
}
