/* SPDX-License-Identifier: MIT */
/*
 * tiers.c: a node's chunk stores, fastest first (tiers.h).
 */
#include "pcpd/tiers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "pcpd/config.h"

int pcpd_tiers_open(struct pcpd_tiers *t, const struct pcpd_config *cfg,
                    char *err, size_t errlen)
{
    struct store_opts o;
    size_t i;

    memset(t, 0, sizeof(*t));
    t->v = xcalloc(cfg->ntiers, sizeof(*t->v));
    for (i = 0; i < cfg->ntiers; i++) {
        store_opts_init(&o);
        o.capacity = cfg->tiers[i].capacity;
        o.high_pct = (unsigned)cfg->high_pct;
        o.low_pct = (unsigned)cfg->low_pct;
        o.fsync = cfg->fsync;
        o.policy = cfg->policy;
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
    return store_put(t->v[tier].store, id, data, len);
}
