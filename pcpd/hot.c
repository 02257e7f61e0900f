/* SPDX-License-Identifier: MIT */
/*
 * hot.c: the space-saving top-K of requested chunks (hot.h).
 *
 * DESIGN
 * The entries live in one array; a chained hash table (bucket heads and
 * per-entry next links, as array indexes) finds a chunk's entry. Replacing
 * the smallest counter scans the array: K is small (32 by default), and
 * a scan of K integers is cheaper than keeping a heap in order on every
 * increment of a hot chunk.
 */
#include "pcpd/hot.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define PCPD_HOT_NONE UINT32_MAX

struct pcpd_hot {
    pthread_mutex_t lock;
    struct pcpd_hot_item *v; /* lock; k entries, n used */
    uint32_t *next;          /* lock; hash chain per entry */
    uint32_t *heads;         /* lock; nbuckets chain heads */
    size_t k, n, nbuckets;
    uint64_t total; /* lock */
};

struct pcpd_hot *pcpd_hot_new(size_t k)
{
    struct pcpd_hot *h = xcalloc(1, sizeof(*h));
    size_t i;

    if (k < 1)
        k = 1;
    pthread_mutex_init(&h->lock, NULL);
    h->k = k;
    h->v = xcalloc(k, sizeof(*h->v));
    h->next = xcalloc(k, sizeof(*h->next));
    for (h->nbuckets = 16; h->nbuckets < 2 * k; h->nbuckets *= 2)
        ;
    h->heads = xcalloc(h->nbuckets, sizeof(*h->heads));
    for (i = 0; i < h->nbuckets; i++)
        h->heads[i] = PCPD_HOT_NONE;
    return h;
}

void pcpd_hot_free(struct pcpd_hot *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->lock);
    free(h->v);
    free(h->next);
    free(h->heads);
    free(h);
}

static size_t pcpd_hot_bucket(const struct pcpd_hot *h,
                              const struct chunk_id *id)
{
    uint64_t x;

    /* Ids are uniform hashes already. */
    memcpy(&x, id->b, sizeof(x));
    return (size_t)x & (h->nbuckets - 1);
}

static void do_pcpd_hot_unchain(struct pcpd_hot *h, uint32_t e)
{
    uint32_t *pp = &h->heads[pcpd_hot_bucket(h, &h->v[e].id)];

    while (*pp != e)
        pp = &h->next[*pp];
    *pp = h->next[e];
}

static void do_pcpd_hot_chain(struct pcpd_hot *h, uint32_t e)
{
    size_t b = pcpd_hot_bucket(h, &h->v[e].id);

    h->next[e] = h->heads[b];
    h->heads[b] = e;
}

void pcpd_hot_add(struct pcpd_hot *h, const struct chunk_id *id,
                  const char *pbucket, const char *key, uint64_t index)
{
    uint32_t e, min;
    size_t i;

    pthread_mutex_lock(&h->lock);
    h->total++;
    for (e = h->heads[pcpd_hot_bucket(h, id)]; e != PCPD_HOT_NONE;
         e = h->next[e]) {
        if (chunk_id_eq(&h->v[e].id, id)) {
            h->v[e].count++;
            pthread_mutex_unlock(&h->lock);
            return;
        }
    }
    if (h->n < h->k) {
        e = (uint32_t)h->n++;
        h->v[e].count = 1;
        h->v[e].error = 0;
    } else {
        min = 0;
        for (i = 1; i < h->n; i++) {
            if (h->v[i].count < h->v[min].count)
                min = (uint32_t)i;
        }
        e = min;
        do_pcpd_hot_unchain(h, e);
        h->v[e].error = h->v[e].count;
        h->v[e].count++;
    }
    h->v[e].id = *id;
    snprintf(h->v[e].label, sizeof(h->v[e].label), "%s/%s#%" PRIu64, pbucket,
             key, index);
    do_pcpd_hot_chain(h, e);
    pthread_mutex_unlock(&h->lock);
}

static int pcpd_hot_cmp(const void *a, const void *b)
{
    const struct pcpd_hot_item *x = a, *y = b;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return memcmp(x->id.b, y->id.b, sizeof(x->id.b));
}

size_t pcpd_hot_top(struct pcpd_hot *h, struct pcpd_hot_item *out, size_t max,
                    uint64_t *total)
{
    struct pcpd_hot_item *all;
    size_t n;

    pthread_mutex_lock(&h->lock);
    n = h->n;
    all = xmalloc((n ? n : 1) * sizeof(*all));
    memcpy(all, h->v, n * sizeof(*all));
    if (total)
        *total = h->total;
    pthread_mutex_unlock(&h->lock);
    qsort(all, n, sizeof(*all), pcpd_hot_cmp);
    if (n > max)
        n = max;
    memcpy(out, all, n * sizeof(*out));
    free(all);
    return n;
}
