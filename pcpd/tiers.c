/* SPDX-License-Identifier: MIT */
/*
 * tiers.c: a node's chunk stores, fastest first (tiers.h).
 */
#include "pcpd/tiers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "pcpd/config.h"

/* The eviction hook of every tier but the last: copy the victim down. */
static void pcpd_tiers_demote_cb(void *arg, const struct chunk_id *id,
                                 const void *data, size_t len, int64_t born)
{
    struct pcpd_tier *from = arg;
    struct pcpd_tier *to;

    if (from->index + 1 >= from->set->n)
        return; /* at open, before the next tier exists: just evict */
    to = &from->set->v[from->index + 1];
    if (store_put_at(to->store, id, data, len, born) == 0)
        __atomic_add_fetch(&to->demotions, 1, __ATOMIC_RELAXED);
}

int pcpd_tiers_open(struct pcpd_tiers *t, const struct pcpd_config *cfg,
                    char *err, size_t errlen)
{
    struct store_opts o;
    size_t i;

    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->v = xcalloc(cfg->ntiers, sizeof(*t->v));
    for (i = 0; i < cfg->ntiers; i++) {
        store_opts_init(&o);
        o.capacity = cfg->tiers[i].capacity;
        o.high_pct = (unsigned)cfg->high_pct;
        o.low_pct = (unsigned)cfg->low_pct;
        o.fsync = cfg->fsync;
        o.policy = cfg->policy;
        t->v[i].set = t;
        t->v[i].index = i;
        if (i + 1 < cfg->ntiers) {
            o.evict_cb = pcpd_tiers_demote_cb;
            o.evict_arg = &t->v[i];
        }
        t->v[i].store = store_open(cfg->tiers[i].dir, &o, err, errlen);
        if (!t->v[i].store) {
            pcpd_tiers_close(t);
            return -EINVAL;
        }
        t->v[i].name = xstrdup(cfg->tiers[i].name);
        t->v[i].dir = xstrdup(cfg->tiers[i].dir);
        t->n++;
    }
    return 0;
}

void pcpd_tiers_close(struct pcpd_tiers *t)
{
    size_t i;

    for (i = 0; i < t->n; i++) {
        store_close(t->v[i].store);
        free(t->v[i].name);
        free(t->v[i].dir);
    }
    free(t->v);
    pthread_mutex_destroy(&t->lock);
    memset(t, 0, sizeof(*t));
}

int pcpd_tiers_open_range(struct pcpd_tiers *t, const struct chunk_id *id,
                          uint64_t off, uint64_t len, int *fd,
                          uint64_t *data_off, uint64_t *chunk_len, size_t *tier)
{
    size_t i;
    int rc;

    for (i = 0; i < t->n; i++) {
        rc = store_open_range(t->v[i].store, id, off, len, fd, data_off,
                              chunk_len);
        if (rc == 0) {
            *tier = i;
            __atomic_add_fetch(&t->v[i].hits, 1, __ATOMIC_RELAXED);
            return 0;
        }
        /* -EIO: that copy was bad and is gone; a slower tier may still
         * have a good one. Other errors: try the next tier too. */
    }
    return -ENOENT;
}

int pcpd_tiers_put(struct pcpd_tiers *t, size_t tier, const struct chunk_id *id,
                   const void *data, size_t len)
{
    int rc = -ENOSPC;
    size_t i;

    for (i = tier; i < t->n; i++) {
        rc = store_put(t->v[i].store, id, data, len);
        if (rc == 0) {
            if (i != tier)
                __atomic_add_fetch(&t->v[i].fallbacks, 1, __ATOMIC_RELAXED);
            return 0;
        }
        if (rc == -EMSGSIZE)
            break;
    }
    return rc;
}

bool pcpd_tiers_have(struct pcpd_tiers *t, const struct chunk_id *id)
{
    size_t i;

    for (i = 0; i < t->n; i++) {
        if (store_contains(t->v[i].store, id, NULL))
            return true;
    }
    return false;
}

void pcpd_tiers_expire(struct pcpd_tiers *t, const struct chunk_id *id,
                       uint64_t ttl_ms)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        store_expire(t->v[i].store, id, ttl_ms);
}

bool pcpd_tiers_want_promote(struct pcpd_tiers *t, size_t tier,
                             const struct chunk_id *id, uint32_t min_hits)
{
    struct store_chunk_info ci;
    bool want = false;
    size_t i;

    if (tier == 0 || store_chunk_info(t->v[tier].store, id, &ci) < 0 ||
        ci.hits < min_hits || store_contains(t->v[0].store, id, NULL))
        return false;
    pthread_mutex_lock(&t->lock);
    for (i = 0; i < t->npromoting; i++) {
        if (chunk_id_eq(&t->promoting[i], id))
            break;
    }
    if (i == t->npromoting && t->npromoting < PCPD_TIERS_MAX_PROMOTING) {
        t->promoting[t->npromoting++] = *id;
        want = true;
    }
    pthread_mutex_unlock(&t->lock);
    return want;
}

void pcpd_tiers_promote_cancel(struct pcpd_tiers *t, const struct chunk_id *id)
{
    size_t i;

    pthread_mutex_lock(&t->lock);
    for (i = 0; i < t->npromoting; i++) {
        if (chunk_id_eq(&t->promoting[i], id)) {
            t->promoting[i] = t->promoting[--t->npromoting];
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
}

int pcpd_tiers_promote(struct pcpd_tiers *t, size_t from,
                       const struct chunk_id *id)
{
    struct store_chunk_info ci;
    uint8_t *data = NULL;
    ssize_t n;
    int rc;

    rc = store_chunk_info(t->v[from].store, id, &ci);
    if (rc < 0)
        goto out;
    data = xmalloc(ci.len ? ci.len : 1);
    /* store_read checks every block, so a bad copy is never moved up. */
    n = store_read(t->v[from].store, id, data, ci.len, 0);
    if (n < 0 || (uint64_t)n != ci.len) {
        rc = n < 0 ? (int)n : -EIO;
        goto out;
    }
    rc = store_put_at(t->v[0].store, id, data, ci.len, ci.born);
    if (rc == 0)
        __atomic_add_fetch(&t->v[0].promotions, 1, __ATOMIC_RELAXED);
out:
    free(data);
    pcpd_tiers_promote_cancel(t, id);
    return rc;
}
