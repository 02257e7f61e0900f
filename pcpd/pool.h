/* SPDX-License-Identifier: MIT */
/*
 * pool.h: a small thread pool for blocking disk work (chunk writes, fsync,
 * unlink, copies between tiers), so no event loop ever blocks on a disk.
 *
 * A job is a function run on a pool thread, then a completion run on the
 * event loop that submitted it (posted with event_base_once, so the loop
 * needs libevent's pthreads support switched on). The queue is bounded:
 * a submit past it fails with -EAGAIN and the caller does without (a chunk
 * that cannot be queued for writing is still served, just not cached).
 *
 * Threads: pcpd_pool_submit() from any thread; pcpd_pool_free() from the
 * thread that made the pool, after every loop that may submit has
 * stopped. DESIGN follows nginx's ngx_thread_pool.c.
 */
#ifndef PCPD_POOL_H
#define PCPD_POOL_H

#include <stddef.h>

struct event_base;
struct pcpd_pool;

/* Runs on a pool thread. */
typedef void (*pcpd_pool_fn)(void *arg);
/* Runs on the submitting loop's thread once fn has returned. */
typedef void (*pcpd_pool_done_cb)(void *arg);

/* nthreads >= 1, max_jobs >= 1 queued (not running) jobs at most. */
struct pcpd_pool *pcpd_pool_new(size_t nthreads, size_t max_jobs);
/* Runs the queued jobs, joins the threads and frees. NULL: no-op. */
void pcpd_pool_free(struct pcpd_pool *p);

/*
 * Queues fn(arg) and then done(arg) on base (done may be NULL: nothing
 * runs after fn; base may then be NULL). 0, or -EAGAIN when the queue is
 * full or the pool is stopping (nothing runs; arg stays the caller's).
 */
int pcpd_pool_submit(struct pcpd_pool *p, pcpd_pool_fn fn,
                     pcpd_pool_done_cb done, void *arg,
                     struct event_base *base);

/* Jobs queued or running now (for /metrics). */
size_t pcpd_pool_pending(struct pcpd_pool *p);

#endif
