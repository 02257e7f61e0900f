/* SPDX-License-Identifier: MIT */
/*
 * reader.c: chunked reads with single-flight fetches, a bounded memory
 * cache and readahead (see reader.h).
 *
 * DESIGN
 * struct rchunk is one chunk in memory, keyed by its id (which includes
 * the object's ETag). It is FETCHING while its GET runs, then READY (or
 * FAILED, and dropped from the table so the next read tries again).
 * Everyone who needs it holds a reference: readers waiting for or copying
 * from it, the GET in flight, and the store queue. An unreferenced READY
 * chunk sits on an LRU list and is evicted when memory is needed.
 *
 * One mutex guards the table, the LRU, the memory count and the queues;
 * condition variables announce a chunk done, memory freed, and work for
 * each background thread. No I/O happens under the mutex: GETs run on the S3
 * engine, disk reads in the reading thread, disk writes in the store
 * thread.
 */
#include "pcachefs/reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/chunk.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "common/s3.h"
#include "common/store.h"
#include "pcachefs/cluster.h"
#include "pcachefs/inode.h"
#include "pcachefs/fs.h"

#define READER_BUCKETS 4096
#define READER_SPARES  4 /* freed chunk buffers kept for reuse */
#define READER_LOADERS 4 /* threads loading whole chunks from the store */
/* A load from the store that failed (c->loading tells it from a fetch). */
#define READER_ELOAD (-EIO)

enum rchunk_state {
    RCHUNK_FETCHING,
    RCHUNK_READY,
    RCHUNK_FAILED,
};

struct rchunk {
    struct chunk_id id;
    struct reader *reader;
    struct rchunk *hnext;    /* hash chain */
    struct rchunk *lru_prev; /* LRU, when unreferenced and READY */
    struct rchunk *lru_next;
    struct rchunk *qnext; /* store or load queue (never both) */
    unsigned refs;
    bool hashed;
    bool in_lru;
    bool pushed;  /* queued for the page cache once */
    bool loading; /* read whole from the store, not fetched */
    enum rchunk_state state;
    int rc;
    char *data; /* owned, len bytes */
    uint64_t len;
};

/* A FIFO of chunks for background threads (store writes, loads). */
struct rqueue {
    struct rchunk *head;
    struct rchunk *tail;
    size_t len;
    uint64_t bytes;
    pthread_cond_t cond; /* work, or stopping */
};

/* A chunk to copy into a kernel inode's page cache. */
struct rpush {
    struct rchunk *c; /* referenced */
    uint64_t ino;
    uint64_t off;
    struct rpush *next;
};

struct reader {
    struct fs *fs;
    pthread_mutex_t lock;
    /* Each waits for one thing, so a wakeup is rarely for nothing. */
    pthread_cond_t cond;      /* a chunk done (or failed), fetching 0 */
    pthread_cond_t mem_cond;  /* memory freed or made evictable */
    pthread_cond_t push_cond; /* the push queue: work, or stopping */
    struct rchunk *table[READER_BUCKETS];
    struct rchunk *lru_head; /* most recently used */
    struct rchunk *lru_tail;
    struct rqueue store_q; /* chunks to write to the store */
    struct rqueue load_q;  /* chunks to load from the store */
    uint64_t mem_used;
    unsigned fetching;
    bool stopping;
    uint64_t last_warn_ms; /* store thread: rate limit of warnings */
    pthread_t store_thread;
    struct rpush *push_head; /* chunks for the page cache */
    struct rpush *push_tail;
    size_t push_len;
    pthread_t push_thread;
    pthread_t load_threads[READER_LOADERS];
    unsigned nloaders; /* started */
    /* Buffers of freed chunks (chunk_size bytes), reused: a fresh one is
     * a fresh mapping, page-faulted and zeroed page by page. Not counted
     * in mem_used; at most READER_SPARES and an eighth of max_memory. */
    void *spare[READER_SPARES];
    size_t nspare;
    unsigned nseq; /* atomic: files with a readahead window */
    struct reader_stats stats;
};

/* --- table, LRU, memory and queues (caller holds r->lock) ------------- */

static void do_rqueue_push(struct rqueue *q, struct rchunk *c)
{
    c->qnext = NULL;
    if (q->tail)
        q->tail->qnext = c;
    else
        q->head = c;
    q->tail = c;
    q->len++;
    q->bytes += c->len;
    pthread_cond_signal(&q->cond);
}

/* The next chunk, waiting for one; NULL once stopping and empty. */
static struct rchunk *do_rqueue_pop(struct reader *r, struct rqueue *q)
{
    struct rchunk *c;

    while (!q->head && !r->stopping)
        pthread_cond_wait(&q->cond, &r->lock);
    c = q->head;
    if (!c)
        return NULL;
    q->head = c->qnext;
    if (!q->head)
        q->tail = NULL;
    q->len--;
    q->bytes -= c->len;
    return c;
}

static size_t reader_bucket(const struct chunk_id *id)
{
    uint64_t h;

    memcpy(&h, id->b, sizeof(h));
    return (size_t)(h % READER_BUCKETS);
}

static struct rchunk *do_reader_find(struct reader *r,
                                     const struct chunk_id *id)
{
    struct rchunk *c = r->table[reader_bucket(id)];

    while (c && !chunk_id_eq(&c->id, id))
        c = c->hnext;
    return c;
}

static void do_reader_unhash(struct reader *r, struct rchunk *c)
{
    struct rchunk **pp = &r->table[reader_bucket(&c->id)];

    if (!c->hashed)
        return;
    for (; *pp; pp = &(*pp)->hnext) {
        if (*pp == c) {
            *pp = c->hnext;
            break;
        }
    }
    c->hashed = false;
}

static void do_reader_lru_remove(struct reader *r, struct rchunk *c)
{
    if (!c->in_lru)
        return;
    if (c->lru_prev)
        c->lru_prev->lru_next = c->lru_next;
    else
        r->lru_head = c->lru_next;
    if (c->lru_next)
        c->lru_next->lru_prev = c->lru_prev;
    else
        r->lru_tail = c->lru_prev;
    c->lru_prev = c->lru_next = NULL;
    c->in_lru = false;
}

static void do_reader_lru_add(struct reader *r, struct rchunk *c)
{
    c->lru_prev = NULL;
    c->lru_next = r->lru_head;
    if (r->lru_head)
        r->lru_head->lru_prev = c;
    r->lru_head = c;
    if (!r->lru_tail)
        r->lru_tail = c;
    c->in_lru = true;
    /* An evictable chunk is memory a waiting reader can take. */
    pthread_cond_broadcast(&r->mem_cond);
}

static void do_reader_destroy(struct reader *r, struct rchunk *c)
{
    do_reader_lru_remove(r, c);
    do_reader_unhash(r, c);
    r->mem_used -= c->len;
    if (c->len == r->fs->conf.chunk_size && r->nspare < READER_SPARES &&
        (r->nspare + 1) * c->len <= r->fs->conf.max_memory / 8)
        r->spare[r->nspare++] = c->data;
    else
        free(c->data);
    free(c);
    pthread_cond_broadcast(&r->mem_cond);
}

static void do_reader_ref(struct reader *r, struct rchunk *c)
{
    c->refs++;
    do_reader_lru_remove(r, c);
}

static void do_reader_unref(struct reader *r, struct rchunk *c)
{
    if (--c->refs > 0)
        return;
    if (c->state == RCHUNK_READY && c->hashed)
        do_reader_lru_add(r, c);
    else if (c->state != RCHUNK_FETCHING)
        do_reader_destroy(r, c);
}

/* Forgets the queued page-cache pushes (they are only a nicety). */
static void do_reader_drop_pushes(struct reader *r)
{
    while (r->push_head) {
        struct rpush *p = r->push_head;

        r->push_head = p->next;
        do_reader_unref(r, p->c);
        free(p);
    }
    r->push_tail = NULL;
    r->push_len = 0;
}

/*
 * Makes room for len bytes. Evicts LRU chunks; when that is not enough a
 * prefetch gives up (false) and a demand read waits for memory to be
 * freed. One chunk is always allowed, so a read can never wait forever.
 */
static bool do_reader_reserve(struct reader *r, uint64_t len, bool prefetch)
{
    /* A quarter of max_memory is left for everything that is not a
     * chunk: FUSE request buffers, curl buffers, listings, inodes. */
    uint64_t max = r->fs->conf.max_memory - r->fs->conf.max_memory / 4;

    if (prefetch)
        max -= max / 4; /* leave a quarter for demand reads */
    while (r->mem_used + len > max) {
        if (r->lru_tail) {
            do_reader_destroy(r, r->lru_tail);
            continue;
        }
        if (prefetch)
            return false;
        if (r->mem_used == 0)
            break;
        /* Pushes may wait in the kernel for a page that a read holds while
         * it waits here for memory: give their chunks back first. */
        if (r->push_head) {
            do_reader_drop_pushes(r);
            continue;
        }
        pthread_cond_wait(&r->mem_cond, &r->lock);
    }
    r->mem_used += len;
    return true;
}

/* --- fetching ---------------------------------------------------------- */

/* A fetch ended (either mode): the chunk is ready or failed. */
static void reader_fetch_end(struct rchunk *c, int rc);

static void reader_fetch_done(struct s3_req *req, int rc, void *arg)
{
    struct rchunk *c = arg;
    char msg[512];

    if (rc == 0 && s3_req_bytes(req) != c->len)
        rc = -EIO; /* the object is shorter than its size said */
    if (rc && rc != -ESTALE)
        log_warnx("chunk fetch failed: %s",
                  s3_error_format(s3_req_error(req), msg, sizeof(msg)));
    reader_fetch_end(c, rc);
}

static void reader_cluster_done(int rc, size_t got, void *arg)
{
    struct rchunk *c = arg;

    if (rc == 0 && got != c->len)
        rc = -EIO;
    if (rc && rc != -ESTALE)
        log_warnx("chunk fetch from the cache nodes failed: %s", strerror(-rc));
    reader_fetch_end(c, rc);
}

static void reader_fetch_end(struct rchunk *c, int rc)
{
    struct reader *r = c->reader;

    if (rc == -ESTALE)
        log_warnx("object changed while being read (ETag mismatch)");
    pthread_mutex_lock(&r->lock);
    r->fetching--;
    c->rc = rc;
    c->state = rc ? RCHUNK_FAILED : RCHUNK_READY;
    if (rc) {
        do_reader_unhash(r, c);
    } else if (c->loading) {
        r->stats.store_loads++;
    } else if (r->fs->store &&
               r->store_q.bytes + c->len > r->fs->conf.max_memory / 4) {
        /* The disk cannot keep up: serving reads matters more than
         * caching this chunk, which a later read fetches again. */
        r->stats.store_skipped++;
    } else if (r->fs->store) {
        c->refs++;
        do_rqueue_push(&r->store_q, c);
    }
    pthread_cond_broadcast(&r->cond);
    do_reader_unref(r, c);
    pthread_mutex_unlock(&r->lock);
}

/*
 * A GET of several consecutive chunks for a sequential reader's
 * readahead (standalone mode): fewer, larger requests, which a server
 * spends less on per byte. The bytes arrive in order and each chunk is
 * handed to its readers as soon as it is whole.
 */
#define READER_RUN_MAX 4

struct rrun {
    struct rchunk *c[READER_RUN_MAX]; /* each with the GET's reference */
    size_t n;
    size_t done;  /* chunks complete */
    uint64_t got; /* bytes of c[done] so far */
};

static int reader_run_sink(const void *data, size_t len, void *arg)
{
    struct rrun *run = arg;
    const char *p = data;

    while (len > 0) {
        struct rchunk *c;
        size_t n;

        if (run->done == run->n)
            return -EIO; /* more than asked for */
        c = run->c[run->done];
        n = len < c->len - run->got ? len : (size_t)(c->len - run->got);
        memcpy(c->data + run->got, p, n);
        run->got += n;
        p += n;
        len -= n;
        if (run->got == c->len) {
            run->done++;
            run->got = 0;
            reader_fetch_end(c, 0);
        }
    }
    return 0;
}

static void reader_run_done(struct s3_req *req, int rc, void *arg)
{
    struct rrun *run = arg;
    char msg[512];
    size_t i;

    if (rc == 0 && run->done < run->n)
        rc = -EIO; /* the object is shorter than its size said */
    if (rc && rc != -ESTALE)
        log_warnx("chunk fetch failed: %s",
                  s3_error_format(s3_req_error(req), msg, sizeof(msg)));
    for (i = run->done; i < run->n; i++)
        reader_fetch_end(run->c[i], rc);
    free(run);
}

static void reader_run_start(struct reader *r, struct reader_file *f,
                             struct rchunk **c, size_t n, uint64_t first)
{
    struct s3_sink sink = {.kind = S3_SINK_CB, .cb = reader_run_sink};
    struct rrun *run;
    uint64_t len = 0;
    size_t i;

    if (n == 0)
        return;
    run = xcalloc(1, sizeof(*run));
    for (i = 0; i < n; i++) {
        run->c[i] = c[i];
        len += c[i]->len;
    }
    run->n = n;
    sink.cb_arg = run;
    s3_get_start(r->fs->s3, r->fs->bucket, f->key,
                 first * r->fs->conf.chunk_size, len, f->etag, &sink,
                 reader_run_done, run);
}

/*
 * Returns the chunk with a reference, starting its fetch when needed, or
 * NULL when a prefetch finds no memory or nothing to do. With claim (a
 * prefetch in standalone mode) a new chunk's fetch is not started: the
 * chunk goes to *claim, for reader_run_start. With load the chunk is read
 * whole from the disk store by a loader thread instead of fetched; a load
 * that fails ends the chunk with READER_ELOAD.
 */
static struct rchunk *reader_obtain(struct reader *r, struct reader_file *f,
                                    const struct chunk_id *id, uint64_t index,
                                    bool prefetch, bool load,
                                    struct rchunk **claim)
{
    uint64_t cs = r->fs->conf.chunk_size;
    uint64_t len = chunk_len(index, cs, f->size);
    struct s3_sink sink = {.kind = S3_SINK_MEM};
    struct rchunk *c;

    pthread_mutex_lock(&r->lock);
    c = do_reader_find(r, id);
    if (c) {
        if (!prefetch)
            do_reader_ref(r, c);
        pthread_mutex_unlock(&r->lock);
        return prefetch ? NULL : c;
    }
    if (!do_reader_reserve(r, len, prefetch)) {
        pthread_mutex_unlock(&r->lock);
        return NULL;
    }
    /* While we waited for memory someone may have started it. */
    c = do_reader_find(r, id);
    if (c) {
        r->mem_used -= len;
        if (!prefetch)
            do_reader_ref(r, c);
        pthread_mutex_unlock(&r->lock);
        return prefetch ? NULL : c;
    }
    c = xcalloc(1, sizeof(*c));
    c->id = *id;
    c->reader = r;
    c->len = len;
    /* Aligned, so the disk cache can write it with O_DIRECT. */
    if (len == cs && r->nspare > 0)
        c->data = r->spare[--r->nspare];
    else
        c->data = xmalloc_aligned(STORE_DIRECT_ALIGN, len);
    c->state = RCHUNK_FETCHING;
    c->refs = prefetch ? 1 : 2; /* the GET's (or load's), and the caller's */
    c->hashed = true;
    c->hnext = r->table[reader_bucket(id)];
    r->table[reader_bucket(id)] = c;
    r->fetching++;
    if (load) {
        c->loading = true;
        do_rqueue_push(&r->load_q, c);
        pthread_mutex_unlock(&r->lock);
        return prefetch ? NULL : c;
    }
    r->stats.fetches++;
    r->stats.fetch_bytes += len;
    if (prefetch)
        r->stats.prefetches++;
    pthread_mutex_unlock(&r->lock);

    if (r->fs->cluster) {
        struct cluster_chunk_ref ref = {
            .key = f->key, .etag = f->etag, .index = index, .len = len};

        if (cluster_get_start(r->fs->cluster, &ref, c->data,
                              reader_cluster_done, c) < 0)
            reader_cluster_done(-EIO, 0, c); /* queue full */
        return prefetch ? NULL : c;
    }
    if (claim) {
        *claim = c;
        return NULL;
    }
    sink.mem = c->data;
    sink.mem_len = len;
    s3_get_start(r->fs->s3, r->fs->bucket, f->key, index * cs, len, f->etag,
                 &sink, reader_fetch_done, c);
    return prefetch ? NULL : c;
}

static void reader_chunk_id(struct reader *r, struct reader_file *f,
                            uint64_t index, struct chunk_id *id)
{
    chunk_id_make(id, r->fs->bucket, f->key, f->etag, index,
                  r->fs->conf.chunk_size);
}

static bool reader_in_store(struct reader *r, const struct chunk_id *id)
{
    uint64_t len;

    return r->fs->store && store_contains(r->fs->store, id, &len);
}

#define READER_PUSH_MAX 8 /* chunks waiting for the page cache */

static void do_reader_queue_push(struct reader *r, struct rchunk *c,
                                 uint64_t ino, uint64_t off)
{
    struct rpush *p;

    c->pushed = true;
    if (r->push_len >= READER_PUSH_MAX)
        return; /* a nicety: never let it hold memory back */
    p = xcalloc(1, sizeof(*p));
    p->c = c;
    p->ino = ino;
    p->off = off;
    c->refs++;
    if (r->push_tail)
        r->push_tail->next = p;
    else
        r->push_head = p;
    r->push_tail = p;
    r->push_len++;
    pthread_cond_signal(&r->push_cond);
}

/* True when the inode is still one version with no local changes. */
static bool reader_push_safe(struct reader *r, uint64_t ino)
{
    struct inode *in = inode_get(r->fs->inodes, (fuse_ino_t)ino);
    bool ok = false;

    if (in) {
        pthread_mutex_lock(&in->lock);
        ok = !in->writer;
        pthread_mutex_unlock(&in->lock);
        inode_put(r->fs->inodes, in);
    }
    return ok;
}

static void *reader_push_main(void *arg)
{
    struct reader *r = arg;

    pthread_mutex_lock(&r->lock);
    for (;;) {
        struct rpush *p;

        while (!r->push_head && !r->stopping)
            pthread_cond_wait(&r->push_cond, &r->lock);
        p = r->push_head;
        if (!p)
            break;
        r->push_head = p->next;
        if (!r->push_head)
            r->push_tail = NULL;
        r->push_len--;
        pthread_mutex_unlock(&r->lock);
        if (reader_push_safe(r, p->ino)) {
            struct fuse_bufvec bv = FUSE_BUFVEC_INIT((size_t)p->c->len);

            bv.buf[0].mem = p->c->data;
            /* -ENOENT: the kernel forgot the inode; nothing to do. */
            if (fuse_lowlevel_notify_store(r->fs->se, (fuse_ino_t)p->ino,
                                           (off_t)p->off, &bv, 0) == 0)
                __atomic_add_fetch(&r->stats.pushed, 1, __ATOMIC_RELAXED);
        }
        pthread_mutex_lock(&r->lock);
        do_reader_unref(r, p->c);
        free(p);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/*
 * Copies [in_off, in_off+n) of chunk index into out. A sequential reader
 * takes a chunk the disk store holds whole into memory (a loader thread
 * reads it with one O_DIRECT request, as readahead does for the chunks
 * ahead); anyone else reads just the bytes asked for, through the page
 * cache, which suits small random reads.
 */
static int reader_copy_chunk(struct reader *r, struct reader_file *f,
                             uint64_t index, uint64_t in_off, char *out,
                             size_t n)
{
    bool whole =
        r->nloaders > 0 && __atomic_load_n(&f->seq, __ATOMIC_RELAXED) >= 1;
    struct chunk_id id;
    struct rchunk *c;
    unsigned loads = 0;
    ssize_t got;
    bool hit;
    int rc;

    reader_chunk_id(r, f, index, &id);
again:
    pthread_mutex_lock(&r->lock);
    c = do_reader_find(r, &id);
    if (c)
        do_reader_ref(r, c);
    pthread_mutex_unlock(&r->lock);
    hit = c != NULL;
    if (!c && whole && reader_in_store(r, &id)) {
        c = reader_obtain(r, f, &id, index, false, true, NULL);
    } else if (!c && r->fs->store) {
        got = store_read(r->fs->store, &id, out, n, in_off);
        if (got == (ssize_t)n) {
            __atomic_add_fetch(&r->stats.store_hits, 1, __ATOMIC_RELAXED);
            return 0;
        }
        /* Absent, corrupt (removed by the store) or short: fetch it. */
    }
    if (!c)
        c = reader_obtain(r, f, &id, index, false, false, NULL);
    else if (hit)
        __atomic_add_fetch(&r->stats.memory_hits, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&r->lock);
    while (c->state == RCHUNK_FETCHING)
        pthread_cond_wait(&r->cond, &r->lock);
    rc = c->state == RCHUNK_READY ? 0 : c->rc;
    if (rc && c->loading && loads++ < READER_LOADERS) {
        /* The store could not give it whole (and no longer has it): a
         * fetch this time. A load other reads started may still be in
         * flight, hence the bound. */
        do_reader_unref(r, c);
        pthread_mutex_unlock(&r->lock);
        whole = false;
        goto again;
    }
    /* Sequential readers get their pages from the kernel's readahead
     * anyway: pushing would copy every byte twice. */
    if (rc == 0 && f->ino && !c->pushed && r->fs->se &&
        __atomic_load_n(&f->seq, __ATOMIC_RELAXED) < 2)
        do_reader_queue_push(r, c, f->ino, index * r->fs->conf.chunk_size);
    pthread_mutex_unlock(&r->lock);
    if (rc == 0)
        memcpy(out, c->data + in_off, n);
    pthread_mutex_lock(&r->lock);
    do_reader_unref(r, c);
    pthread_mutex_unlock(&r->lock);
    return rc == -ESTALE ? -EIO : rc;
}

/*
 * The largest readahead window of one sequential reader: readahead, or
 * its share of the memory prefetches may use when several read at once. Windows
 * that together outgrow max_memory make chunks go before they are read, and
 * come back: 4 readers of 256 MiB files with 8 MiB chunks in 512 MiB fetched
 * each chunk twice.
 */
static uint64_t reader_window_max(struct reader *r)
{
    uint64_t cs = r->fs->conf.chunk_size, max = r->fs->conf.readahead;
    uint64_t budget = r->fs->conf.max_memory - r->fs->conf.max_memory / 4;
    unsigned n = __atomic_load_n(&r->nseq, __ATOMIC_RELAXED);
    uint64_t share;

    budget -= budget / 4; /* the prefetches' part (do_reader_reserve) */
    share = budget / (n ? n : 1);
    /* Less the chunk it reads and the one the kernel's own readahead
     * asks for next. */
    share = share > 3 * cs ? share - 2 * cs : cs;
    share -= share % cs;
    return share < max ? share : max;
}

/* Updates the sequential-read state; returns the range to prefetch. */
static void reader_plan_ahead(struct reader *r, struct reader_file *f,
                              uint64_t off, size_t size, uint64_t *from,
                              uint64_t *to)
{
    uint64_t cs = r->fs->conf.chunk_size, end = off + size;

    *from = *to = 0;
    pthread_mutex_lock(&f->lock);
    /* The kernel sends readahead requests in parallel, so a sequential
     * stream arrives slightly out of order: anything within a chunk of
     * the stream's head counts as sequential. */
    if (f->next_off > 0 && off + cs >= f->next_off && off <= f->next_off + cs) {
        f->seq++;
    } else if (off != f->next_off) {
        f->seq = 0;
        f->window = 0;
        f->ahead = 0;
        if (f->counted) {
            __atomic_sub_fetch(&r->nseq, 1, __ATOMIC_RELAXED);
            f->counted = NULL;
        }
    }
    if (end > f->next_off || f->seq == 0)
        f->next_off = end;
    if (f->seq >= 1 && r->fs->conf.readahead > 0) {
        uint64_t max, lo, hi;

        if (!f->counted) {
            f->counted = r;
            __atomic_add_fetch(&r->nseq, 1, __ATOMIC_RELAXED);
        }
        max = reader_window_max(r);
        f->window = f->window ? f->window * 2 : cs;
        if (f->window > max)
            f->window = max;
        lo = f->ahead > end ? f->ahead : end;
        hi = end + f->window;
        if (hi > f->size)
            hi = f->size;
        /*
         * The window is topped up a run of chunks at a time (one GET, which
         * costs a server less per byte than several): while more than half
         * of it is still ahead, a smaller top-up waits. Moving 1 MiB per
         * read, the window would otherwise grow a chunk per GET.
         */
        if (hi > lo && (hi - lo >= READER_RUN_MAX * cs || hi == f->size ||
                        f->ahead < end + f->window / 2)) {
            *from = lo;
            *to = hi;
            f->ahead = hi;
        }
    }
    pthread_mutex_unlock(&f->lock);
}

static void reader_prefetch(struct reader *r, struct reader_file *f,
                            uint64_t from, uint64_t to)
{
    uint64_t cs = r->fs->conf.chunk_size, i, first = 0;
    struct rchunk *run[READER_RUN_MAX], *c;
    size_t n = 0;

    if (from >= to)
        return;
    for (i = chunk_index_of(from, cs); i * cs < to; i++) {
        struct chunk_id id;

        reader_chunk_id(r, f, i, &id);
        c = NULL;
        if (!reader_in_store(r, &id))
            reader_obtain(r, f, &id, i, true, false,
                          r->fs->cluster ? NULL : &c);
        else if (r->nloaders > 0)
            reader_obtain(r, f, &id, i, true, true, NULL);
        /* Consecutive new chunks share a GET. */
        if (c && n > 0 && n < READER_RUN_MAX && i == first + n) {
            run[n++] = c;
            continue;
        }
        reader_run_start(r, f, run, n, first);
        n = 0;
        if (c) {
            run[n++] = c;
            first = i;
        }
    }
    reader_run_start(r, f, run, n, first);
}

ssize_t reader_read(struct reader *r, struct reader_file *f, char *out,
                    size_t size, uint64_t off)
{
    uint64_t cs = r->fs->conf.chunk_size, pos, end, from, to;
    int rc = 0;

    if (off >= f->size || size == 0)
        return 0;
    if (size > f->size - off)
        size = (size_t)(f->size - off);
    end = off + size;
    __atomic_add_fetch(&r->stats.reads, 1, __ATOMIC_RELAXED);
    reader_plan_ahead(r, f, off, size, &from, &to);
    reader_prefetch(r, f, from, to);
    for (pos = off; pos < end && rc == 0;) {
        uint64_t index = chunk_index_of(pos, cs);
        uint64_t in_off = pos - index * cs;
        uint64_t n = cs - in_off;

        if (n > end - pos)
            n = end - pos;
        rc = reader_copy_chunk(r, f, index, in_off, out + (pos - off),
                               (size_t)n);
        pos += n;
    }
    return rc ? rc : (ssize_t)size;
}

/* --- store loaders and writer ------------------------------------------ */

static void *reader_load_main(void *arg)
{
    struct reader *r = arg;
    struct rchunk *c;

    pthread_mutex_lock(&r->lock);
    while ((c = do_rqueue_pop(r, &r->load_q))) {
        ssize_t got;

        pthread_mutex_unlock(&r->lock);
        got = store_load(r->fs->store, &c->id, c->data, (size_t)c->len);
        /* A chunk the store cannot give whole (damaged, of another length,
         * or a failing disk) goes: readers fetch it again rather than
         * trying it again. */
        if (got != (ssize_t)c->len)
            store_remove(r->fs->store, &c->id);
        reader_fetch_end(c, got == (ssize_t)c->len ? 0 : READER_ELOAD);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static void *reader_store_main(void *arg)
{
    struct reader *r = arg;
    struct rchunk *c;

    pthread_mutex_lock(&r->lock);
    while ((c = do_rqueue_pop(r, &r->store_q))) {
        int rc;

        pthread_mutex_unlock(&r->lock);
        rc = store_put(r->fs->store, &c->id, c->data, (size_t)c->len);
        pthread_mutex_lock(&r->lock);
        if (rc == 0) {
            r->stats.store_puts++;
        } else {
            /* A full cache disk degrades to uncached reads, quietly. */
            r->stats.store_failures++;
            if (monotime_ms() - r->last_warn_ms > 60000) {
                r->last_warn_ms = monotime_ms();
                log_warnx("disk cache: cannot store chunk: %s (reads go on "
                          "uncached)",
                          strerror(-rc));
            }
        }
        do_reader_unref(r, c);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* Tells the background threads to finish their queues and end. */
static void reader_stop(struct reader *r)
{
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    pthread_cond_broadcast(&r->store_q.cond);
    pthread_cond_broadcast(&r->push_cond);
    pthread_cond_broadcast(&r->load_q.cond);
    pthread_mutex_unlock(&r->lock);
}

static void reader_destroy_sync(struct reader *r)
{
    pthread_cond_destroy(&r->cond);
    pthread_cond_destroy(&r->mem_cond);
    pthread_cond_destroy(&r->store_q.cond);
    pthread_cond_destroy(&r->push_cond);
    pthread_cond_destroy(&r->load_q.cond);
    pthread_mutex_destroy(&r->lock);
}

struct reader *reader_new(struct fs *fs)
{
    struct reader *r = xcalloc(1, sizeof(*r));

    r->fs = fs;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    pthread_cond_init(&r->mem_cond, NULL);
    pthread_cond_init(&r->store_q.cond, NULL);
    pthread_cond_init(&r->push_cond, NULL);
    pthread_cond_init(&r->load_q.cond, NULL);
    if (pthread_create(&r->store_thread, NULL, reader_store_main, r) != 0) {
        reader_destroy_sync(r);
        free(r);
        return NULL;
    }
    if (pthread_create(&r->push_thread, NULL, reader_push_main, r) != 0) {
        reader_stop(r);
        pthread_join(r->store_thread, NULL);
        reader_destroy_sync(r);
        free(r);
        return NULL;
    }
    /* Without loaders (or a store) chunks are read from the disk in
     * pieces, as asked. */
    while (fs->store && r->nloaders < READER_LOADERS &&
           pthread_create(&r->load_threads[r->nloaders], NULL, reader_load_main,
                          r) == 0)
        r->nloaders++;
    return r;
}

void reader_free(struct reader *r)
{
    size_t i;

    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    while (r->fetching > 0)
        pthread_cond_wait(&r->cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
    reader_stop(r);
    pthread_join(r->store_thread, NULL);
    pthread_join(r->push_thread, NULL);
    for (i = 0; i < r->nloaders; i++)
        pthread_join(r->load_threads[i], NULL);
    for (i = 0; i < READER_BUCKETS; i++) {
        while (r->table[i])
            do_reader_destroy(r, r->table[i]);
    }
    while (r->nspare > 0)
        free(r->spare[--r->nspare]);
    reader_destroy_sync(r);
    free(r);
}

void reader_file_init(struct reader_file *f, const char *key, const char *etag,
                      uint64_t size)
{
    memset(f, 0, sizeof(*f));
    f->key = xstrdup(key);
    snprintf(f->etag, sizeof(f->etag), "%s", etag ? etag : "");
    f->size = size;
    pthread_mutex_init(&f->lock, NULL);
}

void reader_file_fini(struct reader_file *f)
{
    if (f->counted)
        __atomic_sub_fetch(&f->counted->nseq, 1, __ATOMIC_RELAXED);
    f->counted = NULL;
    free(f->key);
    f->key = NULL;
    pthread_mutex_destroy(&f->lock);
}

void reader_get_stats(struct reader *r, struct reader_stats *out)
{
    pthread_mutex_lock(&r->lock);
    *out = r->stats;
    out->memory_used = r->mem_used;
    pthread_mutex_unlock(&r->lock);
}
