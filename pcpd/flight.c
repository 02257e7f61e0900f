/* SPDX-License-Identifier: MIT */
/*
 * flight.c: the single-flight table of chunks being fetched (flight.h).
 *
 * DESIGN
 * The table is a list: flights live for one backend round trip plus one
 * disk write, so there are at most a few hundred, and a list under one
 * mutex is both simple and fast enough. The buffer is allocated once at
 * the chunk size and never moves, which is what lets readers on other
 * threads reference bytes in it without a lock: a byte below received is
 * never written again, and received is published under f->lock.
 */
#include "pcpd/flight.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

struct pcpd_flights {
    pthread_mutex_t lock;
    struct pcpd_flight *head; /* lock */
    uint64_t n;               /* lock */
    uint64_t mem;             /* lock */
    uint64_t max_mem;
    uint64_t refused; /* lock */
};

struct pcpd_flights *pcpd_flights_new(uint64_t max_mem)
{
    struct pcpd_flights *t = xcalloc(1, sizeof(*t));

    pthread_mutex_init(&t->lock, NULL);
    t->max_mem = max_mem;
    return t;
}

void pcpd_flights_free(struct pcpd_flights *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

struct pcpd_flight *pcpd_flights_join(struct pcpd_flights *t,
                                      const struct chunk_id *id, size_t cap,
                                      bool *created)
{
    struct pcpd_flight *f;

    pthread_mutex_lock(&t->lock);
    for (f = t->head; f; f = f->next) {
        if (chunk_id_eq(&f->id, id)) {
            pcpd_flight_ref(f);
            pthread_mutex_unlock(&t->lock);
            *created = false;
            return f;
        }
    }
    if (t->mem + cap > t->max_mem) {
        t->refused++;
        pthread_mutex_unlock(&t->lock);
        return NULL;
    }
    f = xcalloc(1, sizeof(*f));
    f->id = *id;
    f->cap = cap;
    /* Not zeroed: only bytes below received are ever read. */
    f->data = xmalloc(cap ? cap : 1);
    f->refs = 2; /* the table's and the caller's */
    f->table = t;
    f->in_table = true;
    pthread_mutex_init(&f->lock, NULL);
    f->state = PCPD_FLIGHT_RUNNING;
    f->next = t->head;
    t->head = f;
    t->n++;
    t->mem += cap;
    pthread_mutex_unlock(&t->lock);
    *created = true;
    return f;
}

void pcpd_flights_remove(struct pcpd_flights *t, struct pcpd_flight *f)
{
    struct pcpd_flight **pp;
    bool found = false;

    pthread_mutex_lock(&t->lock);
    for (pp = &t->head; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            f->next = NULL;
            f->in_table = false;
            t->n--;
            t->mem -= f->cap;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
    if (found)
        pcpd_flight_unref(f); /* the table's reference */
}

void pcpd_flights_get_stats(struct pcpd_flights *t,
                            struct pcpd_flights_stats *out)
{
    pthread_mutex_lock(&t->lock);
    out->flights = t->n;
    out->mem = t->mem;
    out->refused = t->refused;
    pthread_mutex_unlock(&t->lock);
}

void pcpd_flight_ref(struct pcpd_flight *f)
{
    __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
}

void pcpd_flight_unref(struct pcpd_flight *f)
{
    if (__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    pthread_mutex_destroy(&f->lock);
    free(f->data);
    free(f->key);
    free(f);
}

/* Wakes every waiter; f->lock held. */
static void do_pcpd_flight_wake(struct pcpd_flight *f)
{
    struct pcpd_flight_waiter *w;

    for (w = f->waiters; w; w = w->next)
        event_active(w->ev, EV_READ, 0);
}

int pcpd_flight_append(struct pcpd_flight *f, const void *data, size_t len)
{
    /* Only the fetcher writes received, so reading it unlocked is safe. */
    if (len > f->cap - f->received)
        return -EMSGSIZE;
    memcpy(f->data + f->received, data, len);
    pthread_mutex_lock(&f->lock);
    f->received += len;
    do_pcpd_flight_wake(f);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

void pcpd_flight_finish(struct pcpd_flight *f, int rc, const char *msg)
{
    pthread_mutex_lock(&f->lock);
    f->state = rc == 0 ? PCPD_FLIGHT_DONE : PCPD_FLIGHT_FAILED;
    f->rc = rc;
    if (msg)
        snprintf(f->msg, sizeof(f->msg), "%s", msg);
    do_pcpd_flight_wake(f);
    pthread_mutex_unlock(&f->lock);
}

void pcpd_flight_watch(struct pcpd_flight *f, struct pcpd_flight_waiter *w)
{
    pthread_mutex_lock(&f->lock);
    w->prev = NULL;
    w->next = f->waiters;
    if (f->waiters)
        f->waiters->prev = w;
    f->waiters = w;
    event_active(w->ev, EV_READ, 0);
    pthread_mutex_unlock(&f->lock);
}

void pcpd_flight_unwatch(struct pcpd_flight *f, struct pcpd_flight_waiter *w)
{
    pthread_mutex_lock(&f->lock);
    if (w->prev)
        w->prev->next = w->next;
    else
        f->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
    pthread_mutex_unlock(&f->lock);
}

void pcpd_flight_peek(struct pcpd_flight *f, enum pcpd_flight_state *state,
                      size_t *received, int *rc, char *msg, size_t msglen)
{
    pthread_mutex_lock(&f->lock);
    *state = f->state;
    *received = f->received;
    *rc = f->rc;
    if (msg && msglen)
        snprintf(msg, msglen, "%s", f->msg);
    pthread_mutex_unlock(&f->lock);
}
