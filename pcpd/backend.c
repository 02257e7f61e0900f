/* SPDX-License-Identifier: MIT */
/*
 * backend.c: the route table in use and the backend slots behind it
 * (pcpd.h).
 *
 * DESIGN
 * A request looks the route table up once (an atomic pointer) and keeps
 * slot numbers, never table pointers, across threads and time: a slot
 * outlives every table, so a flight, a metadata job or an hours-long
 * warmup started under one table finishes with the same backend after
 * pmsd replaced it. Old tables are kept until exit instead of being
 * reference-counted: they change only when an admin changes backends or
 * pbuckets, a table is a few KiB, and no request path pays for a count.
 * Clients are per slot: one per worker loop, made on first use by that
 * worker (so only its thread ever touches it), and one with its own engine
 * thread for the pools.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/s3.h"
#include "pcpd/pcpd.h"

const struct pcpd_routes *pcpd_routes_current(struct pcpd *pd)
{
    return __atomic_load_n(&pd->routes, __ATOMIC_ACQUIRE);
}

/* The slot of b's settings, made if new. slot_lock held. */
static int do_pcpd_slot_find(struct pcpd *pd, const struct pcpd_backend *b,
                             size_t *slot)
{
    size_t i, n = __atomic_load_n(&pd->nslots, __ATOMIC_RELAXED);
    struct pcpd_slot *s;

    for (i = 0; i < n; i++) {
        if (strcmp(pd->slots[i].ident, b->ident) == 0) {
            *slot = i;
            return 0;
        }
    }
    if (n == PCPD_MAX_SLOTS)
        return -ENOSPC;
    s = &pd->slots[n];
    s->ident = xstrdup(b->ident);
    s->name = xstrdup(b->name);
    s->bucket = xstrdup(b->bucket);
    pcpd_s3_config_copy(&s->s3, &b->s3);
    s->creds = (struct creds_source *)&b->creds;
    __atomic_store_n(&pd->nslots, n + 1, __ATOMIC_RELEASE);
    *slot = n;
    return 0;
}

int pcpd_routes_publish(struct pcpd *pd, struct pcpd_routes *r, bool owned,
                        char *err, size_t errlen)
{
    size_t i, j;
    int rc = 0;

    pthread_mutex_lock(&pd->slot_lock);
    for (i = 0; i < r->nbackends && rc == 0; i++)
        rc = do_pcpd_slot_find(pd, &r->backends[i], &r->backends[i].slot);
    if (rc < 0) {
        pthread_mutex_unlock(&pd->slot_lock);
        snprintf(err, errlen,
                 "more than %d distinct backend settings since start: "
                 "restart the node",
                 PCPD_MAX_SLOTS);
        if (owned) {
            pcpd_routes_fini(r);
            free(r);
        }
        return rc;
    }
    for (i = 0; i < r->npbuckets; i++) {
        for (j = 0; j < r->pbuckets[i].nroutes; j++) {
            struct pcpd_route *rt = &r->pbuckets[i].routes[j];

            rt->slot = r->backends[rt->backend].slot;
        }
    }
    /* The old table is kept until pcpd_fini (see DESIGN); main.c's own
     * table is main.c's to free. */
    r->older = pd->routes_owned ? pd->routes : NULL;
    pd->routes_owned = owned;
    __atomic_store_n(&pd->routes, r, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&pd->slot_lock);
    return 0;
}

const char *pcpd_slot_bucket(struct pcpd *pd, size_t slot)
{
    return pd->slots[slot].bucket;
}

struct s3_client *pcpd_worker_client(struct pcpd_worker *w, size_t slot)
{
    struct pcpd_slot *s = &w->pd->slots[slot];
    char err[256];

    if (!w->clients[slot]) {
        w->clients[slot] =
            s3_client_new(&s->s3, s->creds, w->base, err, sizeof(err));
        if (!w->clients[slot])
            log_warnx("backend %s: %s", s->name, err);
    }
    return w->clients[slot];
}

struct s3_client *pcpd_slot_meta_client(struct pcpd *pd, size_t slot)
{
    struct pcpd_slot *s = &pd->slots[slot];
    struct s3_client *c = __atomic_load_n(&s->meta_client, __ATOMIC_ACQUIRE);
    char err[256];

    if (c)
        return c;
    pthread_mutex_lock(&pd->slot_lock);
    c = s->meta_client;
    if (!c) {
        c = s3_client_new(&s->s3, s->creds, NULL, err, sizeof(err));
        if (!c)
            log_warnx("backend %s: %s", s->name, err);
        __atomic_store_n(&s->meta_client, c, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&pd->slot_lock);
    return c;
}

void pcpd_slots_free(struct pcpd *pd)
{
    struct pcpd_routes *r, *older;
    size_t i;

    for (i = 0; i < pd->nslots; i++) {
        struct pcpd_slot *s = &pd->slots[i];

        s3_client_free(s->meta_client);
        free(s->ident);
        free(s->name);
        free(s->bucket);
        pcpd_s3_config_fini(&s->s3);
        memset(s, 0, sizeof(*s));
    }
    pd->nslots = 0;
    /* Now nothing borrows the tables' credentials. */
    for (r = pd->routes_owned ? pd->routes : NULL; r; r = older) {
        older = r->older;
        pcpd_routes_fini(r);
        free(r);
    }
    pd->routes = NULL;
}
