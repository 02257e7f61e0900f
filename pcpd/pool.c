/* SPDX-License-Identifier: MIT */
/*
 * pool.c: the disk thread pool (pool.h).
 *
 * DESIGN
 * One mutex and condition variable guard a FIFO of jobs; threads take a
 * job, run it outside the lock, and post its completion to the job's
 * loop. Jobs hold nothing of the pool, so a completion may run after the
 * job's thread has taken the next one.
 */
#include "pcpd/pool.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/mem.h"

struct pcpd_pool_job {
    pcpd_pool_fn fn;
    pcpd_pool_done_cb done;
    void *arg;
    struct event_base *base;
    struct pcpd_pool_job *next;
};

struct pcpd_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct pcpd_pool_job *head, *tail; /* lock */
    size_t queued;                     /* lock */
    size_t running;                    /* lock */
    size_t max_jobs;
    bool stopping; /* lock */
    pthread_t *threads;
    size_t nthreads;
};

static void pcpd_pool_complete_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pcpd_pool_job *j = arg;

    j->done(j->arg);
    free(j);
}

static void *pcpd_pool_main(void *arg)
{
    struct pcpd_pool *p = arg;
    struct pcpd_pool_job *j;
    const struct timeval now = {0, 0};

    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cond, &p->lock);
        j = p->head;
        if (!j)
            break; /* stopping and drained */
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        p->running++;
        pthread_mutex_unlock(&p->lock);

        j->fn(j->arg);
        if (j->done) {
            if (event_base_once(j->base, -1, EV_TIMEOUT, pcpd_pool_complete_cb,
                                j, &now) < 0) {
                log_errx("pool: cannot post a completion; running it here");
                pcpd_pool_complete_cb(-1, 0, j);
            }
        } else {
            free(j);
        }

        pthread_mutex_lock(&p->lock);
        p->running--;
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct pcpd_pool *pcpd_pool_new(size_t nthreads, size_t max_jobs)
{
    struct pcpd_pool *p = xcalloc(1, sizeof(*p));
    size_t i;

    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->max_jobs = max_jobs;
    p->threads = xcalloc(nthreads, sizeof(*p->threads));
    for (i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, pcpd_pool_main, p) != 0) {
            log_err("pool: pthread_create");
            break;
        }
        p->nthreads++;
    }
    if (p->nthreads == 0) {
        pcpd_pool_free(p);
        return NULL;
    }
    return p;
}

void pcpd_pool_free(struct pcpd_pool *p)
{
    size_t i;

    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int pcpd_pool_submit(struct pcpd_pool *p, pcpd_pool_fn fn,
                     pcpd_pool_done_cb done, void *arg, struct event_base *base)
{
    struct pcpd_pool_job *j;

    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->queued >= p->max_jobs) {
        pthread_mutex_unlock(&p->lock);
        return -EAGAIN;
    }
    j = xcalloc(1, sizeof(*j));
    j->fn = fn;
    j->done = done;
    j->arg = arg;
    j->base = base;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

size_t pcpd_pool_pending(struct pcpd_pool *p)
{
    size_t n;

    pthread_mutex_lock(&p->lock);
    n = p->queued + p->running;
    pthread_mutex_unlock(&p->lock);
    return n;
}
