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
struct pcpd_pms;
struct pcpd_auth;
struct pcpd_fdc;

/* Distinct backend settings a node can have used since it started. */
#define PCPD_MAX_SLOTS 128

/*
 * A slot: one backend's settings (endpoint, bucket, keys) and its clients.
 * Route tables come and go (pmsd), their backends map to slots by
 * identity, and slots stay until exit, so an index taken from any table
 * (a flight, a warmup, a metadata request) stays good however long the
 * work runs. Filled under pd->slot_lock before nslots counts it, then
 * read-only except meta_client, made once on first use (slot_lock).
 */
struct pcpd_slot {
    char *ident;                   /* owned: pcpd_backend.ident */
    char *name;                    /* owned: backend name, for logs */
    char *bucket;                  /* owned */
    struct s3_config s3;           /* owned strings */
    struct creds_source *creds;    /* borrowed from the table that made it */
    struct s3_client *meta_client; /* own engine thread; NULL until used */
};

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
    struct s3_client **clients;        /* PCPD_MAX_SLOTS, on base, made on
                                          first use by this thread */
    struct event *stop_ev;             /* stop accepting */
    struct event *exit_ev;             /* leave the loop */
    struct pcpd_fdc *fdc;              /* open tier-0 chunk files (hits) */
};

struct pcpd {
    const struct pcpd_config *cfg; /* borrowed */
    /* The route table in use: atomic pointer, read with
     * pcpd_routes_current(). Tables replaced by pmsd stay in its ->older
     * list until pcpd_fini, so a borrowed table never dies under a
     * request (they are small, and change only with admin actions). */
    struct pcpd_routes *routes;
    bool routes_owned; /* the first table is main.c's, the rest ours */
    pthread_mutex_t slot_lock;
    struct pcpd_slot slots[PCPD_MAX_SLOTS];
    size_t nslots;          /* atomic; slots below it are filled */
    struct pcpd_pms *pms;   /* NULL without --pms (pms.c) */
    struct pcpd_auth *auth; /* NULL without --pms: no tokens (auth.c) */
    struct pcpd_tiers tiers;
    struct pcpd_flights *flights;
    struct pcpd_pool *pool;
    struct pcpd_hot *hot;
    struct pcpd_pool *meta_pool;   /* blocking metadata requests */
    struct pcpd_pool *warmup_pool; /* warmup jobs */
    struct pcpd_uploads *uploads;  /* parts staged for multipart uploads */
    struct pcpd_warmups *warmups;
    struct pcpd_metrics metrics; /* atomics */
    struct pcpd_pbstat pbstats[PCPD_PB_SLOTS];
    pthread_mutex_t pbstats_lock; /* claiming a slot */
    struct pcpd_worker *workers;  /* owned array */
    size_t nworkers;
    int listen_fd;
    /* SSL_CTX of the listener when tls_cert is set (common/tls.h), else
     * NULL. main.c's: set before the workers start, freed after they
     * are gone; the workers read it for every connection they accept. */
    void *tls_ctx;
    int64_t inflight; /* atomic: HTTP requests not yet answered in full */
    int64_t jobs;     /* atomic: flights and tier copies not yet done */
    bool stopping;    /* atomic */
    uint64_t start_ms;
};

/* ---- Routes and backend slots (backend.c) ---- */

/* The route table in use (any thread); borrowed, valid until pcpd_fini. */
const struct pcpd_routes *pcpd_routes_current(struct pcpd *pd);
/*
 * Makes r (finished: pcpd_routes_finish or pcpd_routes_from_json) the
 * table in use: gives each backend its slot (a new one for new settings)
 * and sets the routes' slots. Takes r over when owned (freed in
 * pcpd_fini), else borrows it. Any thread, one publisher at a time.
 * 0, or -ENOSPC when the slots are used up (r is then freed if owned, and
 * the table in use stays).
 */
int pcpd_routes_publish(struct pcpd *pd, struct pcpd_routes *r, bool owned,
                        char *err, size_t errlen);
/* A slot's bucket name (any thread). */
const char *pcpd_slot_bucket(struct pcpd *pd, size_t slot);
/* The slot's client on w's loop, made on first use (w's thread only), or
 * NULL when the settings are refused (logged). */
struct s3_client *pcpd_worker_client(struct pcpd_worker *w, size_t slot);
/* The slot's client with its own engine thread, for blocking calls on the
 * pools (any thread), or NULL as above. */
struct s3_client *pcpd_slot_meta_client(struct pcpd *pd, size_t slot);
/* Frees every slot's clients and settings (pcpd_fini, workers stopped). */
void pcpd_slots_free(struct pcpd *pd);

/* Builds the node: tiers, pool, flights, listening socket, workers (not
 * yet running). 0 or -errno with err filled. */
int pcpd_init(struct pcpd *pd, const struct pcpd_config *cfg,
              struct pcpd_routes *routes, char *err, size_t errlen);
/* Starts the worker threads. 0 or -errno. */
int pcpd_start(struct pcpd *pd, char *err, size_t errlen);
/* Every worker stops accepting new connections (any thread). */
void pcpd_stop_accepting(struct pcpd *pd);
/* Requests and background jobs still running. */
int64_t pcpd_busy(struct pcpd *pd);
/* Stops and joins the workers, then frees everything. */
void pcpd_fini(struct pcpd *pd);

#endif
