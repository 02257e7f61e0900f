/* SPDX-License-Identifier: MIT */
/*
 * flight.h: chunks being fetched from a backend, shared by every request
 * that wants them (single flight), across all worker threads.
 *
 * A flight holds one chunk's bytes in one buffer allocated at full chunk
 * size, filled in order by the fetch on the worker that started it. Bytes
 * [0, received) never change once written, so readers on other threads
 * send them without copying (evbuffer_add_reference with a flight
 * reference). Each request waiting on a flight registers a waiter, an
 * event on its own loop, which the flight activates (event_active) when
 * bytes arrive or the fetch ends.
 *
 * A flight stays in the table from the first miss until its chunk is in
 * a tier (or the fetch failed), so a request arriving meanwhile joins it
 * instead of starting a second backend GET.
 *
 * Memory is bounded: the table refuses a new flight (-EAGAIN) when the
 * buffers of all flights would pass max_mem.
 *
 * Locks: table->lock, then flight->lock, then libevent's base locks
 * (event_active). Refcounts are atomic: pcpd_flight_unref() may run on any
 * thread (an evbuffer cleanup, a pool completion).
 */
#ifndef PCPD_FLIGHT_H
#define PCPD_FLIGHT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/chunk.h"
#include "common/s3.h"

struct event;
struct pcpd_flights;

enum pcpd_flight_state {
    PCPD_FLIGHT_RUNNING,
    PCPD_FLIGHT_DONE,   /* every byte of the chunk is in data */
    PCPD_FLIGHT_FAILED, /* rc says why; data may hold a prefix */
};

/* A request waiting on a flight; owned by the request. */
struct pcpd_flight_waiter {
    struct event *ev; /* on the waiter's loop; activated on progress */
    struct pcpd_flight_waiter *next, *prev; /* flight->lock */
};

struct pcpd_flight {
    struct chunk_id id;         /* fixed */
    uint8_t *data;              /* owned, cap bytes */
    size_t cap;                 /* fixed */
    int refs;                   /* atomic */
    struct pcpd_flights *table; /* fixed */
    struct pcpd_flight *next;   /* table->lock */
    bool in_table;              /* table->lock */

    pthread_mutex_t lock;
    size_t received;                    /* lock; written by the fetcher */
    enum pcpd_flight_state state;       /* lock */
    int rc;                             /* lock; -errno when FAILED */
    char msg[256];                      /* lock; detail of a failure */
    struct pcpd_flight_waiter *waiters; /* lock */

    /* The fetcher's own fields: only its loop touches them. */
    struct s3_sink sink;
    uint64_t t0_ns;
    char *key;   /* owned: for logs */
    size_t tier; /* where the chunk goes */
    int put_rc;
};

struct pcpd_flights_stats {
    uint64_t flights; /* in the table now */
    uint64_t mem;     /* bytes of their buffers */
    uint64_t refused; /* refused for memory */
};

struct pcpd_flights *pcpd_flights_new(uint64_t max_mem);
/* The table must be empty. NULL: no-op. */
void pcpd_flights_free(struct pcpd_flights *t);

/*
 * The flight of id: an existing one (*created false), or a new RUNNING one
 * with a cap-byte buffer (*created true: the caller starts the fetch).
 * Returns a reference the caller must drop, or NULL when a new flight
 * would pass the memory bound.
 */
struct pcpd_flight *pcpd_flights_join(struct pcpd_flights *t,
                                      const struct chunk_id *id, size_t cap,
                                      bool *created);
/* Takes f out of the table (no-op when already out); later misses start
 * a new flight. Does not drop a reference. */
void pcpd_flights_remove(struct pcpd_flights *t, struct pcpd_flight *f);
void pcpd_flights_get_stats(struct pcpd_flights *t,
                            struct pcpd_flights_stats *out);

void pcpd_flight_ref(struct pcpd_flight *f);
/* Drops a reference; the last one frees the flight. Any thread. */
void pcpd_flight_unref(struct pcpd_flight *f);

/*
 * Fetcher side. append copies len bytes at received (0, or -EMSGSIZE past
 * cap) and wakes the waiters; finish sets DONE (rc 0) or FAILED and wakes
 * them. msg may be NULL.
 */
int pcpd_flight_append(struct pcpd_flight *f, const void *data, size_t len);
void pcpd_flight_finish(struct pcpd_flight *f, int rc, const char *msg);

/* Waiter side, on the waiter's loop. watch activates w->ev once at once,
 * so the waiter looks at the flight's current state. */
void pcpd_flight_watch(struct pcpd_flight *f, struct pcpd_flight_waiter *w);
void pcpd_flight_unwatch(struct pcpd_flight *f, struct pcpd_flight_waiter *w);
/* A consistent view: state, received and rc (msg copied if non-NULL). */
void pcpd_flight_peek(struct pcpd_flight *f, enum pcpd_flight_state *state,
                      size_t *received, int *rc, char *msg, size_t msglen);

#endif
