/* SPDX-License-Identifier: MIT */
/*
 * pcpd.h: the cache node's context, shared by its modules.
 *
 * One struct pcpd holds everything a node has: settings and routes
 * (read-only once the workers run), the tiers, the flight table, the disk
 * pool, the counters and the workers. main.c builds it, runs it and tears
 * it down; nothing in pcpd is global, so tests could build two.
 *
 * Threads (docs/internals/threads.md): N workers, each owning an
 * event_base, an evhttp and its connections, and one S3 client per
 * backend on that base; a disk pool; a metadata pool, whose threads make
 * blocking S3 calls (head, list, put, copy, multipart) on clients that
 * run their own engine thread; a warmup pool; the main thread, which only
 * handles signals and the shutdown sequence.
 */
#ifndef PCPD_PCPD_H
#define PCPD_PCPD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcpd/config.h"
#include "pcpd/metrics.h"
#include "pcpd/routes.h"
#include "pcpd/tiers.h"

struct event;
struct event_base;
struct evhttp;
struct evhttp_bound_socket;
struct s3_client;
struct pcpd_flights;
struct pcpd_pool;
struct pcpd_hot;
struct pcpd_uploads;
struct pcpd_warmups;

/* One worker thread. Everything here is owned by its thread once it
 * runs, except the events main.c activates (stop_ev, exit_ev). */
struct pcpd_worker {
    struct pcpd *pd;
    size_t index;
    pthread_t thread;
    bool started;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound; /* NULL once it stopped accepting */
    struct s3_client **clients;        /* one per backend, on base */
    struct event *stop_ev;             /* stop accepting */
    struct event *exit_ev;             /* leave the loop */
};

struct pcpd {
    const struct pcpd_config *cfg;    /* borrowed */
    const struct pcpd_routes *routes; /* borrowed */
    struct pcpd_tiers tiers;
    struct pcpd_flights *flights;
    struct pcpd_pool *pool;
    struct pcpd_hot *hot;
    struct pcpd_pool *meta_pool;     /* blocking metadata requests */
    struct pcpd_pool *warmup_pool;   /* warmup jobs */
    struct s3_client **meta_clients; /* one per backend, own engine thread */
    struct pcpd_uploads *uploads;    /* parts staged for multipart uploads */
    struct pcpd_warmups *warmups;
    struct pcpd_metrics metrics; /* atomics */
    struct pcpd_worker *workers; /* owned array */
    size_t nworkers;
    int listen_fd;
    int64_t inflight; /* atomic: HTTP requests not yet answered in full */
    int64_t jobs;     /* atomic: flights and tier copies not yet done */
    bool stopping;    /* atomic */
    uint64_t start_ms;
};

/* Builds the node: tiers, pool, flights, listening socket, workers (not
 * yet running). 0 or -errno with err filled. */
int pcpd_init(struct pcpd *pd, const struct pcpd_config *cfg,
              const struct pcpd_routes *routes, char *err, size_t errlen);
/* Starts the worker threads. 0 or -errno. */
int pcpd_start(struct pcpd *pd, char *err, size_t errlen);
/* Every worker stops accepting new connections (any thread). */
void pcpd_stop_accepting(struct pcpd *pd);
/* Requests and background jobs still running. */
int64_t pcpd_busy(struct pcpd *pd);
/* Stops and joins the workers, then frees everything. */
void pcpd_fini(struct pcpd *pd);

#endif
