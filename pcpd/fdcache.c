/* SPDX-License-Identifier: MIT */
/*
 * fdcache.c: a worker's small LRU of open tier-0 chunk files (fdcache.h).
 */
#include "pcpd/fdcache.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "common/store.h"

struct pcpd_fdc {
    struct pcpd_fdc_entry *head, *tail; /* most recently used first */
    size_t n;
};

struct pcpd_fdc *pcpd_fdc_new(void)
{
    return xcalloc(1, sizeof(struct pcpd_fdc));
}

static void pcpd_fdc_unlink(struct pcpd_fdc *c, struct pcpd_fdc_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void pcpd_fdc_push(struct pcpd_fdc *c, struct pcpd_fdc_entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    else
        c->tail = e;
    c->head = e;
}

void pcpd_fdc_drop(struct pcpd_fdc *c, struct pcpd_fdc_entry *e)
{
    pcpd_fdc_unlink(c, e);
    c->n--;
    /* Replies still sending from the segment keep the file open. */
    evbuffer_file_segment_free(e->seg);
    free(e->bits);
    free(e);
}

void pcpd_fdc_free(struct pcpd_fdc *c)
{
    if (!c)
        return;
    while (c->head)
        pcpd_fdc_drop(c, c->head);
    free(c);
}

struct pcpd_fdc_entry *pcpd_fdc_find(struct pcpd_fdc *c,
                                     const struct chunk_id *id)
{
    struct pcpd_fdc_entry *e;

    for (e = c->head; e; e = e->next) {
        if (memcmp(e->id.b, id->b, sizeof(id->b)) == 0) {
            if (e != c->head) {
                pcpd_fdc_unlink(c, e);
                pcpd_fdc_push(c, e);
            }
            return e;
        }
    }
    return NULL;
}

static bool pcpd_ts_eq(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

bool pcpd_fdc_same(const struct pcpd_fdc_entry *e, const struct stat *st)
{
    return st->st_nlink > 0 && st->st_dev == e->dev && st->st_ino == e->ino &&
           st->st_size == e->size && pcpd_ts_eq(&st->st_mtim, &e->mtime) &&
           pcpd_ts_eq(&st->st_ctim, &e->ctime);
}

bool pcpd_fdc_valid(const struct pcpd_fdc_entry *e, uint64_t now_ms)
{
    struct stat st;

    if (now_ms - e->born_ms > PCPD_FDC_MAX_AGE_MS)
        return false;
    if (fstat(e->fd, &st) < 0)
        return false;
    return pcpd_fdc_same(e, &st);
}

bool pcpd_fdc_verified(const struct pcpd_fdc_entry *e, uint64_t off, uint64_t n)
{
    uint64_t b, last;

    if (n == 0 || off >= e->len)
        return true;
    if (n > e->len - off)
        n = e->len - off;
    last = (off + n - 1) / STORE_BLOCK_SIZE;
    for (b = off / STORE_BLOCK_SIZE; b <= last; b++) {
        if (!(e->bits[b / 64] & (1ull << (b % 64))))
            return false;
    }
    return true;
}

void pcpd_fdc_mark(struct pcpd_fdc_entry *e, uint64_t off, uint64_t n)
{
    uint64_t b, last;

    if (n == 0 || off >= e->len)
        return;
    if (n > e->len - off)
        n = e->len - off;
    last = (off + n - 1) / STORE_BLOCK_SIZE;
    for (b = off / STORE_BLOCK_SIZE; b <= last; b++)
        e->bits[b / 64] |= 1ull << (b % 64);
}

struct pcpd_fdc_entry *
pcpd_fdc_insert(struct pcpd_fdc *c, const struct chunk_id *id, int fd,
                uint64_t data_off, uint64_t len, const struct stat *st,
                const struct timespec *checked, uint64_t off, uint64_t n,
                uint64_t now_ms)
{
    struct pcpd_fdc_entry *e;
    long long age_ns;

    age_ns = (long long)(checked->tv_sec - st->st_ctim.tv_sec) * 1000000000ll +
             (checked->tv_nsec - st->st_ctim.tv_nsec);
    if (age_ns < PCPD_FDC_RACY_NS || st->st_nlink == 0 ||
        (uint64_t)st->st_size != data_off + len)
        return NULL;
    e = xcalloc(1, sizeof(*e));
    e->seg = evbuffer_file_segment_new(fd, 0, (ev_off_t)st->st_size,
                                       EVBUF_FS_CLOSE_ON_FREE);
    if (!e->seg) {
        free(e);
        return NULL;
    }
    e->id = *id;
    e->fd = fd;
    e->data_off = data_off;
    e->len = len;
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtime = st->st_mtim;
    e->ctime = st->st_ctim;
    e->born_ms = now_ms;
    e->touched_ms = now_ms;
    e->nblocks = (uint32_t)((len + STORE_BLOCK_SIZE - 1) / STORE_BLOCK_SIZE);
    e->bits = xcalloc((e->nblocks + 63) / 64 + 1, sizeof(uint64_t));
    pcpd_fdc_mark(e, off, n);
    {
        struct pcpd_fdc_entry *old = pcpd_fdc_find(c, id);

        if (old)
            pcpd_fdc_drop(c, old);
    }
    while (c->n >= PCPD_FDC_CAP)
        pcpd_fdc_drop(c, c->tail);
    pcpd_fdc_push(c, e);
    c->n++;
    return e;
}
