/* SPDX-License-Identifier: MIT */
/*
 * store.c: the on-disk chunk store (see store.h, docs/internals/store.md).
 *
 * DESIGN
 * The store is an in-memory index over a directory of chunk files. The
 * index is a chained hash table of entries keyed by chunk id plus an
 * eviction policy (an LRU list behind struct store_policy_ops, so pcpd can
 * add others), all under one mutex, s->lock. The files are the truth: the
 * index is rebuilt from them at open, and nothing but the files is
 * persistent.
 *
 * Each id has at most one entry, in one of three states:
 *   LIVE     the file is at its final path; readers may use it; it is in
 *            the policy and may be evicted unless pinned.
 *   WRITING  a put owns the id and is writing the file under tmp/ and
 *            renaming it into place. Reads miss. Only the owner touches the
 *            final path.
 *   DYING    the file is being unlinked (eviction, remove, corruption).
 *            Reads miss; a put of the id waits until the entry is gone.
 * Keeping WRITING and DYING entries in the table makes every change of a
 * final path (rename in, unlink) the work of exactly one thread, so an
 * unlink done outside the lock can never remove a file a put just renamed
 * into place, while the lock is never held over file I/O.
 *
 * used counts the bytes of every file the store has or is making: LIVE
 * files, files being written (reserved before the write starts) and files
 * being unlinked (released only once unlink returns), so used <= capacity
 * is the on-disk truth at every instant, not only between operations.
 *
 * Readers pin an entry (pins++) for the length of one read. Eviction skips
 * pinned entries; remove and corruption do not wait for them: a reader
 * that opened the file keeps reading the unlinked inode, one that had not
 * yet opened it gets ENOENT and reports a miss. Pins also keep the entry's
 * memory alive: an entry leaves the table when its file is gone and is
 * freed by whoever drops the last pin.
 *
 * store_read() keeps recently read files open (the fd cache, see its
 * section): a LIVE entry may hold its open file and checked header in
 * e->of; it drops it on leaving LIVE, before the unlink, and the last
 * reference closes the descriptor outside the lock.
 */
#include "common/store.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "common/store_int.h"

/* ---- File format ---------------------------------------------------- */

/*
 * Header layout, all integers little-endian:
 *   0  magic "PCCHUNK1"       8  u32 version     12  u32 header size
 *   16 chunk id (16 bytes)    32 u64 data length
 *   40 u32 block size         44 u32 block count
 *   48 u64 XXH3-64 of the whole header with these 8 bytes zero
 *   56 u64 reserved (0)       64 u64 XXH3-64 of each data block
 * then zeros up to STORE_HDR_SIZE, where the data starts.
 */
#define STORE_MAGIC       "PCCHUNK1"
#define STORE_VERSION     1u
#define STORE_OFF_VERSION 8
#define STORE_OFF_HSIZE   12
#define STORE_OFF_ID      16
#define STORE_OFF_LEN     32
#define STORE_OFF_BSIZE   40
#define STORE_OFF_NBLOCKS 44
#define STORE_OFF_HSUM    48
#define STORE_OFF_SUMS    64
#define STORE_MAX_BLOCKS  (STORE_CHUNK_MAX / STORE_BLOCK_SIZE)

_Static_assert(STORE_OFF_SUMS + 8 * STORE_MAX_BLOCKS <= STORE_HDR_SIZE,
               "block sums must fit in the header");
_Static_assert(STORE_HDR_SIZE % 4096 == 0, "data must be page-aligned");

/* "ab/cd/" + 32 hex + NUL; "tmp/" + 32 hex + "." + 16 hex + NUL. */
#define STORE_PATH_MAX 64
/* store_open_chunk() verifies in reads of this many bytes. */
#define STORE_VERIFY_IO (16 * STORE_BLOCK_SIZE)
/* store_read() keeps at most this many chunk files open (the fd cache). */
#define STORE_FDC_MAX 64

/* What a valid header says. */
struct store_hdr {
    uint64_t len;
    uint32_t nblocks;
    const uint8_t *sums; /* borrowed from the header buffer */
};

/* Links of the fd cache's LRU list. */
struct store_olink {
    struct store_olink *prev;
    struct store_olink *next;
};

/*
 * An open chunk file and its checked header, shared by store_read() calls
 * (the fd cache). refs counts the cache's reference (while e points here)
 * and each read using it; the last one to drop it closes fd, outside
 * s->lock. Only fd, h and hdr are used without the lock, and they never
 * change once made.
 */
struct store_ofile {
    struct store_olink ol; /* fd LRU, while cached; s->lock */
    struct store_entry *e; /* the LIVE entry caching it, or NULL; s->lock */
    uint32_t refs;         /* s->lock */
    int fd;
    struct store_hdr h; /* sums point into hdr */
    uint8_t hdr[];      /* STORE_HDR_SIZE bytes */
};

/* ---- Index ---------------------------------------------------------- */

enum store_state {
    STORE_LIVE,
    STORE_WRITING,
    STORE_DYING,
};

/* Policy links; what they mean belongs to the policy. */
struct store_pnode {
    struct store_pnode *prev;
    struct store_pnode *next;
};

/* One chunk in the index. Every field is guarded by s->lock. */
struct store_entry {
    struct chunk_id id;
    struct store_entry *hnext; /* hash chain */
    struct store_entry *vnext; /* victim list of one eviction pass */
    struct store_pnode pn;     /* policy links, while LIVE */
    uint8_t pq;                /* policy: which queue pn is on */
    uint8_t freq;              /* policy: recent hits (s3fifo) */
    uint64_t len;              /* data bytes */
    uint64_t size;             /* file bytes counted in s->used */
    uint32_t pins;             /* readers using the file */
    uint32_t hits;             /* reads since it became LIVE */
    int64_t born;              /* first stored, seconds since the epoch */
    enum store_state state;
    bool in_table; /* false once the file is gone; freed at pins == 0 */
    struct store_ofile *of; /* cached open file, only while LIVE */
};

#define store_entry_of(p)                                                      \
    ((struct store_entry *)((char *)(p)-offsetof(struct store_entry, pn)))

struct store_policy;

/*
 * An eviction policy orders LIVE entries. The store calls these with
 * s->lock held: insert when a chunk becomes readable, touch on a hit,
 * remove when it stops being LIVE, and next_victim to walk candidates
 * best-to-evict first (after == NULL starts the walk; the store skips
 * pinned entries itself and removes the ones it picks after the walk
 * has moved past them).
 */
struct store_policy_ops {
    const char *name;
    void (*insert)(struct store_policy *p, struct store_entry *e);
    void (*touch)(struct store_policy *p, struct store_entry *e);
    void (*remove)(struct store_policy *p, struct store_entry *e);
    struct store_entry *(*next_victim)(struct store_policy *p,
                                       struct store_entry *after);
};

/* Ghost entries of s3fifo: table slots per ghost entry. */
#define STORE_GHOST_SLOTS 4

struct store_policy {
    const struct store_policy_ops *ops;
    struct store_pnode head; /* LRU: head.next is the most recent */
    /* lru2 and s3fifo: queue 0 (probation / small), queue 1 (protected /
     * main); head.next is the newest of each. */
    struct store_pnode q[2];
    uint64_t qn[2];     /* entries on each queue */
    int walk_pass;      /* s3fifo: which pass of a victim walk */
    uint64_t *ghost;    /* s3fifo: eviction sequence number per id slot */
    size_t nghost;      /* slots, a power of two */
    uint64_t ghost_seq; /* evictions from the small queue so far */
};

struct store {
    char *dir;     /* owned copy of the path, for messages */
    int dirfd;     /* the store directory; flock'ed while open */
    uint64_t high; /* watermarks in bytes */
    uint64_t low;
    uint64_t tmp_seed;
    uint64_t tmp_counter; /* atomic */
    bool no_direct;       /* atomic: the filesystem refused O_DIRECT */
    struct store_opts opts;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* an entry left the table or stopped WRITING */
    struct store_entry **buckets; /* s->lock */
    size_t nbuckets;              /* power of two */
    size_t nentries;              /* entries in the table, any state */
    struct store_policy policy;   /* s->lock */
    uint64_t live;                /* LIVE entries */
    uint64_t used;                /* see DESIGN */
    uint64_t writing_bytes;       /* reserved by puts in progress */
    uint64_t dying_bytes;         /* of files being unlinked */
    struct store_olink fdc;       /* fd cache: fdc.next most recent */
    size_t fdc_n;                 /* files in the fd cache */
    struct store_stats st;        /* counters only */
};

/* ---- LRU policy ----------------------------------------------------- */

static void store_lru_init(struct store_policy *p)
{
    p->head.prev = &p->head;
    p->head.next = &p->head;
}

static void store_lru_insert(struct store_policy *p, struct store_entry *e)
{
    e->pn.prev = &p->head;
    e->pn.next = p->head.next;
    p->head.next->prev = &e->pn;
    p->head.next = &e->pn;
}

static void store_lru_remove(struct store_policy *p, struct store_entry *e)
{
    (void)p;
    e->pn.prev->next = e->pn.next;
    e->pn.next->prev = e->pn.prev;
    e->pn.prev = e->pn.next = NULL;
}

static void store_lru_touch(struct store_policy *p, struct store_entry *e)
{
    store_lru_remove(p, e);
    store_lru_insert(p, e);
}

static struct store_entry *store_lru_next_victim(struct store_policy *p,
                                                 struct store_entry *after)
{
    struct store_pnode *n = after ? after->pn.prev : p->head.prev;

    return n == &p->head ? NULL : store_entry_of(n);
}

static const struct store_policy_ops store_lru_ops = {
    .name = "lru",
    .insert = store_lru_insert,
    .touch = store_lru_touch,
    .remove = store_lru_remove,
    .next_victim = store_lru_next_victim,
};

/* ---- Two-queue policies: lru2 and s3fifo ------------------------------ */

static uint64_t store_get_le64(const uint8_t *p);

static void store_q_init(struct store_policy *p)
{
    int i;

    for (i = 0; i < 2; i++) {
        p->q[i].prev = p->q[i].next = &p->q[i];
        p->qn[i] = 0;
    }
}

static void store_q_push(struct store_policy *p, struct store_entry *e, int q)
{
    struct store_pnode *h = &p->q[q];

    e->pq = (uint8_t)q;
    e->pn.prev = h;
    e->pn.next = h->next;
    h->next->prev = &e->pn;
    h->next = &e->pn;
    p->qn[q]++;
}

static void store_q_unlink(struct store_policy *p, struct store_entry *e)
{
    e->pn.prev->next = e->pn.next;
    e->pn.next->prev = e->pn.prev;
    e->pn.prev = e->pn.next = NULL;
    p->qn[e->pq]--;
}

/* The oldest entry of queue q, or NULL. */
static struct store_entry *store_q_tail(struct store_policy *p, int q)
{
    return p->q[q].prev == &p->q[q] ? NULL : store_entry_of(p->q[q].prev);
}

/* The entry older than e on e's queue, or NULL. */
static struct store_entry *store_q_older(struct store_policy *p,
                                         struct store_entry *e)
{
    return e->pn.prev == &p->q[e->pq] ? NULL : store_entry_of(e->pn.prev);
}

/*
 * lru2 (segmented LRU): new chunks enter the probation queue; a hit there
 * promotes to the protected queue, which holds at most 80 % of the
 * entries (its oldest fall back to probation). Victims come from the old
 * end of probation first, so a scan of one-time reads never pushes out
 * the chunks read twice.
 */
static void store_lru2_insert(struct store_policy *p, struct store_entry *e)
{
    store_q_push(p, e, 0);
}

static void store_lru2_touch(struct store_policy *p, struct store_entry *e)
{
    struct store_entry *old;

    store_q_unlink(p, e);
    store_q_push(p, e, 1);
    while (p->qn[1] > 4 * (p->qn[0] + p->qn[1]) / 5 &&
           (old = store_q_tail(p, 1)) != NULL) {
        store_q_unlink(p, old);
        store_q_push(p, old, 0);
    }
}

static void store_lru2_remove(struct store_policy *p, struct store_entry *e)
{
    store_q_unlink(p, e);
}

static struct store_entry *store_lru2_next_victim(struct store_policy *p,
                                                  struct store_entry *after)
{
    struct store_entry *e;

    if (!after)
        return (e = store_q_tail(p, 0)) ? e : store_q_tail(p, 1);
    e = store_q_older(p, after);
    if (!e && after->pq == 0)
        e = store_q_tail(p, 1);
    return e;
}

static const struct store_policy_ops store_lru2_ops = {
    .name = "lru2",
    .insert = store_lru2_insert,
    .touch = store_lru2_touch,
    .remove = store_lru2_remove,
    .next_victim = store_lru2_next_victim,
};

/*
 * s3fifo (Yang et al., SOSP'23): a small FIFO (queue 0, ~10 % of the
 * entries) takes new chunks; a chunk read again while in it moves to the
 * main FIFO (queue 1), one never read again is evicted early and leaves
 * a ghost; a new chunk whose ghost is recent goes straight to main. Main
 * is a FIFO with a 2-bit frequency: an entry with hits left is reinserted
 * (one hit spent) instead of evicted. The ghost set is a table of
 * eviction sequence numbers indexed by id hash, so membership is O(1)
 * and approximate; it remembers about as many ids as main holds.
 *
 * The store walks victims with next_victim; a walk starts by giving the
 * tails their second chances (the reinsertions above), then offers small
 * (when over its share) and main from the old end, passing entries that
 * still have hits, and in a second pass anything, so a walk can always
 * free enough.
 */
static size_t store_ghost_slot(const struct store_policy *p,
                               const struct chunk_id *id)
{
    return (size_t)store_get_le64(id->b) & (p->nghost - 1);
}

static bool store_ghost_has(struct store_policy *p, const struct chunk_id *id)
{
    uint64_t seq = p->ghost[store_ghost_slot(p, id)];
    uint64_t window = p->qn[1] > 64 ? p->qn[1] : 64;

    return seq != 0 && p->ghost_seq - seq < window;
}

static void store_s3fifo_insert(struct store_policy *p, struct store_entry *e)
{
    /* Keep about STORE_GHOST_SLOTS slots per entry; growing forgets the
     * ghosts, which only costs a few early evictions. */
    if (p->qn[0] + p->qn[1] >= p->nghost / STORE_GHOST_SLOTS) {
        free(p->ghost);
        p->nghost *= 2;
        p->ghost = xcalloc(p->nghost, sizeof(*p->ghost));
    }
    e->freq = 0;
    store_q_push(p, e, store_ghost_has(p, &e->id) ? 1 : 0);
}

static void store_s3fifo_touch(struct store_policy *p, struct store_entry *e)
{
    if (e->freq < 3)
        e->freq++;
}

static void store_s3fifo_remove(struct store_policy *p, struct store_entry *e)
{
    if (e->pq == 0 && e->freq == 0) {
        p->ghost[store_ghost_slot(p, &e->id)] = ++p->ghost_seq;
    }
    store_q_unlink(p, e);
}

static bool store_s3fifo_small_first(const struct store_policy *p)
{
    return p->qn[0] * 10 >= p->qn[0] + p->qn[1];
}

/* Second chances at the old ends, bounded by the queues' lengths. */
static void store_s3fifo_reshuffle(struct store_policy *p)
{
    struct store_entry *e;
    uint64_t n;

    for (n = p->qn[0]; n > 0 && (e = store_q_tail(p, 0)) && e->freq > 0; n--) {
        store_q_unlink(p, e);
        e->freq = 0;
        store_q_push(p, e, 1);
    }
    for (n = p->qn[1]; n > 0 && (e = store_q_tail(p, 1)) && e->freq > 0; n--) {
        store_q_unlink(p, e);
        e->freq--;
        store_q_push(p, e, 1);
    }
}

static struct store_entry *store_s3fifo_next_victim(struct store_policy *p,
                                                    struct store_entry *after)
{
    int first, q;
    struct store_entry *e;

    if (!after) {
        store_s3fifo_reshuffle(p);
        p->walk_pass = 0;
    }
    first = store_s3fifo_small_first(p) ? 0 : 1;
    for (;;) {
        if (!after) {
            q = first;
            e = store_q_tail(p, q);
        } else {
            q = after->pq;
            e = store_q_older(p, after);
        }
        while (e && p->walk_pass == 0 && e->freq > 0)
            e = store_q_older(p, e);
        if (e)
            return e;
        if (q == first) {
            /* The other queue, from its old end. */
            e = store_q_tail(p, 1 - first);
            while (e && p->walk_pass == 0 && e->freq > 0)
                e = store_q_older(p, e);
            if (e)
                return e;
        }
        if (p->walk_pass == 1)
            return NULL;
        p->walk_pass = 1;
        after = NULL;
    }
}

static const struct store_policy_ops store_s3fifo_ops = {
    .name = "s3fifo",
    .insert = store_s3fifo_insert,
    .touch = store_s3fifo_touch,
    .remove = store_s3fifo_remove,
    .next_victim = store_s3fifo_next_victim,
};

/* Picks the policy named in the options. 0 or -EINVAL. */
static int store_policy_init(struct store *s, char *err, size_t errlen)
{
    const char *name = s->opts.policy ? s->opts.policy : "lru";

    s->opts.policy = NULL; /* borrowed only for store_open() */
    if (strcmp(name, "lru") == 0) {
        s->policy.ops = &store_lru_ops;
        store_lru_init(&s->policy);
        return 0;
    }
    if (strcmp(name, "lru2") == 0 || strcmp(name, "s3fifo") == 0) {
        s->policy.ops = name[0] == 'l' ? &store_lru2_ops : &store_s3fifo_ops;
        store_q_init(&s->policy);
        s->policy.nghost = 1024;
        s->policy.ghost = xcalloc(s->policy.nghost, sizeof(uint64_t));
        return 0;
    }
    snprintf(err, errlen, "unknown eviction policy '%s' (lru, lru2, s3fifo)",
             name);
    return -EINVAL;
}

/* ---- Small helpers -------------------------------------------------- */

static void store_put_le32(uint8_t *p, uint32_t v)
{
    int i;

    for (i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void store_put_le64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t store_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t store_get_le64(const uint8_t *p)
{
    return (uint64_t)store_get_le32(p) | (uint64_t)store_get_le32(p + 4) << 32;
}

/* Writes "ab/cd/<hex>" into path. */
static void store_chunk_path(const struct chunk_id *id,
                             char path[STORE_PATH_MAX])
{
    char hex[CHUNK_ID_HEX_LEN + 1];

    chunk_id_hex(id, hex);
    snprintf(path, STORE_PATH_MAX, "%.2s/%.2s/%s", hex, hex + 2, hex);
}

/* pct % of v without overflow. */
static uint64_t store_pct(uint64_t v, unsigned pct)
{
    return v / 100 * pct + v % 100 * pct / 100;
}

static uint64_t store_file_size(uint64_t len)
{
    return STORE_HDR_SIZE + len;
}

/* 0, -EIO at end of file, or -errno. */
static int store_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    ssize_t n;

    while (len > 0) {
        n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Writes every byte of iov[0..cnt); 0 or -errno. Consumes iov. */
static int store_writev_all(int fd, struct iovec *iov, int cnt)
{
    ssize_t n;

    while (cnt > 0) {
        n = writev(fd, iov, cnt);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* ---- Header --------------------------------------------------------- */

static uint32_t store_nblocks(uint64_t len)
{
    return (uint32_t)((len + STORE_BLOCK_SIZE - 1) / STORE_BLOCK_SIZE);
}

/* Fills hdr (STORE_HDR_SIZE bytes) for data. */
static void store_hdr_build(uint8_t *hdr, const struct chunk_id *id,
                            const uint8_t *data, uint64_t len)
{
    uint32_t i, nblocks = store_nblocks(len);
    uint64_t blen;

    memset(hdr, 0, STORE_HDR_SIZE);
    memcpy(hdr, STORE_MAGIC, 8);
    store_put_le32(hdr + STORE_OFF_VERSION, STORE_VERSION);
    store_put_le32(hdr + STORE_OFF_HSIZE, STORE_HDR_SIZE);
    memcpy(hdr + STORE_OFF_ID, id->b, sizeof(id->b));
    store_put_le64(hdr + STORE_OFF_LEN, len);
    store_put_le32(hdr + STORE_OFF_BSIZE, STORE_BLOCK_SIZE);
    store_put_le32(hdr + STORE_OFF_NBLOCKS, nblocks);
    for (i = 0; i < nblocks; i++) {
        blen = len - (uint64_t)i * STORE_BLOCK_SIZE;
        if (blen > STORE_BLOCK_SIZE)
            blen = STORE_BLOCK_SIZE;
        store_put_le64(hdr + STORE_OFF_SUMS + 8 * i,
                       XXH3_64bits(data + (size_t)i * STORE_BLOCK_SIZE, blen));
    }
    store_put_le64(hdr + STORE_OFF_HSUM, XXH3_64bits(hdr, STORE_HDR_SIZE));
}

/*
 * Checks a header read from a file that should hold chunk `id`. hdr is
 * modified (the checksum field is zeroed to recompute it). 0 or -EIO.
 */
static int store_hdr_check(uint8_t *hdr, const struct chunk_id *id,
                           struct store_hdr *out)
{
    uint64_t sum = store_get_le64(hdr + STORE_OFF_HSUM);
    uint64_t len;

    store_put_le64(hdr + STORE_OFF_HSUM, 0);
    if (XXH3_64bits(hdr, STORE_HDR_SIZE) != sum)
        return -EIO;
    len = store_get_le64(hdr + STORE_OFF_LEN);
    if (memcmp(hdr, STORE_MAGIC, 8) != 0 ||
        store_get_le32(hdr + STORE_OFF_VERSION) != STORE_VERSION ||
        store_get_le32(hdr + STORE_OFF_HSIZE) != STORE_HDR_SIZE ||
        memcmp(hdr + STORE_OFF_ID, id->b, sizeof(id->b)) != 0 ||
        store_get_le32(hdr + STORE_OFF_BSIZE) != STORE_BLOCK_SIZE ||
        len > STORE_CHUNK_MAX ||
        store_get_le32(hdr + STORE_OFF_NBLOCKS) != store_nblocks(len))
        return -EIO;
    out->len = len;
    out->nblocks = store_nblocks(len);
    out->sums = hdr + STORE_OFF_SUMS;
    return 0;
}

static bool store_block_ok(const struct store_hdr *h, uint64_t block,
                           const uint8_t *data, uint64_t blen)
{
    return XXH3_64bits(data, blen) == store_get_le64(h->sums + 8 * block);
}

/* Opens the file of `id` and checks its header; *fd is the caller's. */
static int store_file_open(struct store *s, const struct chunk_id *id,
                           uint8_t *hdr, struct store_hdr *h, int *fd)
{
    char path[STORE_PATH_MAX];
    int rc, f;

    store_chunk_path(id, path);
    f = openat(s->dirfd, path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return -errno;
    rc = store_pread_all(f, hdr, STORE_HDR_SIZE, 0);
    if (rc == 0)
        rc = store_hdr_check(hdr, id, h);
    if (rc < 0) {
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}

/* ---- Hash table ----------------------------------------------------- */

static size_t store_hash(const struct chunk_id *id)
{
    /* Ids are already uniform hashes: any 8 bytes will do. */
    return (size_t)store_get_le64(id->b + 8);
}

static struct store_entry *do_store_lookup(struct store *s,
                                           const struct chunk_id *id)
{
    struct store_entry *e = s->buckets[store_hash(id) & (s->nbuckets - 1)];

    while (e && !chunk_id_eq(&e->id, id))
        e = e->hnext;
    return e;
}

static void do_store_grow(struct store *s)
{
    size_t n = s->nbuckets * 2, i, h;
    struct store_entry **b = xcalloc(n, sizeof(*b));
    struct store_entry *e, *next;

    for (i = 0; i < s->nbuckets; i++) {
        for (e = s->buckets[i]; e; e = next) {
            next = e->hnext;
            h = store_hash(&e->id) & (n - 1);
            e->hnext = b[h];
            b[h] = e;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

static struct store_entry *do_store_insert(struct store *s,
                                           const struct chunk_id *id,
                                           enum store_state state)
{
    struct store_entry *e = xcalloc(1, sizeof(*e));
    size_t h;

    if (s->nentries >= s->nbuckets)
        do_store_grow(s);
    e->id = *id;
    e->state = state;
    e->in_table = true;
    h = store_hash(id) & (s->nbuckets - 1);
    e->hnext = s->buckets[h];
    s->buckets[h] = e;
    s->nentries++;
    return e;
}

/* Takes e out of the table; frees it unless a reader still pins it. */
static void do_store_unlink_entry(struct store *s, struct store_entry *e)
{
    struct store_entry **pp =
        &s->buckets[store_hash(&e->id) & (s->nbuckets - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    s->nentries--;
    e->in_table = false;
    if (e->pins == 0)
        free(e);
    pthread_cond_broadcast(&s->cond);
}

/* ---- Entry life ----------------------------------------------------- */

/* WRITING -> LIVE: in the policy and counted. */
static void do_store_make_live(struct store *s, struct store_entry *e)
{
    e->state = STORE_LIVE;
    e->hits = 0;
    s->policy.ops->insert(&s->policy, e);
    s->live++;
}

/* LIVE -> DYING: the caller unlinks the file, then calls do_store_bury. */
static void do_store_doom(struct store *s, struct store_entry *e)
{
    assert(e->state == STORE_LIVE);
    s->policy.ops->remove(&s->policy, e);
    s->live--;
    e->state = STORE_DYING;
    s->dying_bytes += e->size;
}

static void store_unlink_file(struct store *s, const struct chunk_id *id)
{
    char path[STORE_PATH_MAX];

    store_chunk_path(id, path);
    if (unlinkat(s->dirfd, path, 0) < 0 && errno != ENOENT)
        log_warn("store %s: unlink %s", s->dir, path);
}

/* DYING, file gone: release its bytes and drop the entry. */
static void do_store_bury(struct store *s, struct store_entry *e)
{
    assert(e->state == STORE_DYING && !e->of);
    s->dying_bytes -= e->size;
    s->used -= e->size;
    do_store_unlink_entry(s, e);
}

/* ---- fd cache ------------------------------------------------------ */

/*
 * store_read() keeps the files of the STORE_FDC_MAX most recently read
 * chunks open, with their checked headers, so a hit costs only the data
 * preads. A LIVE entry holds its file in e->of; the file leaves the cache
 * when it is pushed out of the LRU or when the entry stops being LIVE
 * (before its file is unlinked), and is closed by whoever drops the last
 * reference, never under s->lock.
 */
#define store_ofile_of(l) ((struct store_ofile *)(void *)(l))

/* Opens and checks the file of id: a new ofile with one reference. */
static int store_ofile_open(struct store *s, const struct chunk_id *id,
                            struct store_ofile **out)
{
    struct store_ofile *of = xmalloc(sizeof(*of) + STORE_HDR_SIZE);
    int rc;

    rc = store_file_open(s, id, of->hdr, &of->h, &of->fd);
    if (rc < 0) {
        free(of);
        return rc;
    }
    of->ol.prev = of->ol.next = NULL;
    of->e = NULL;
    of->refs = 1;
    *out = of;
    return 0;
}

/* Closes and frees an ofile nobody references (NULL: no-op). No lock. */
static void store_ofile_close(struct store_ofile *of)
{
    if (!of)
        return;
    close(of->fd);
    free(of);
}

static void do_store_fdc_unlink(struct store *s, struct store_ofile *of)
{
    of->ol.prev->next = of->ol.next;
    of->ol.next->prev = of->ol.prev;
    of->ol.prev = of->ol.next = NULL;
    s->fdc_n--;
}

static void do_store_fdc_push(struct store *s, struct store_ofile *of)
{
    of->ol.prev = &s->fdc;
    of->ol.next = s->fdc.next;
    s->fdc.next->prev = &of->ol;
    s->fdc.next = &of->ol;
    s->fdc_n++;
}

/* Drops a reference: of when it was the last (the caller closes it once
 * unlocked), else NULL. */
static struct store_ofile *do_store_ofile_put(struct store_ofile *of)
{
    return --of->refs == 0 ? of : NULL;
}

/* Takes e's file out of the cache: NULL, or a file for the caller to
 * close once unlocked. */
static struct store_ofile *do_store_fdc_drop(struct store *s,
                                             struct store_entry *e)
{
    struct store_ofile *of = e->of;

    if (!of)
        return NULL;
    do_store_fdc_unlink(s, of);
    e->of = NULL;
    of->e = NULL;
    return do_store_ofile_put(of);
}

/* A new reference to e's cached file (now the most recent), or NULL. */
static struct store_ofile *do_store_fdc_get(struct store *s,
                                            struct store_entry *e)
{
    struct store_ofile *of = e->of;

    if (!of)
        return NULL;
    of->refs++;
    do_store_fdc_unlink(s, of);
    do_store_fdc_push(s, of);
    return of;
}

/*
 * Caches of, a file just opened and read for e, unless e is no longer
 * LIVE (its file may be another one by now) or already has one. Returns
 * NULL, or the least recent file pushed out, for the caller to close
 * once unlocked.
 */
static struct store_ofile *
do_store_fdc_add(struct store *s, struct store_entry *e, struct store_ofile *of)
{
    struct store_ofile *old;

    if (e->state != STORE_LIVE || e->of)
        return NULL;
    of->refs++;
    of->e = e;
    e->of = of;
    do_store_fdc_push(s, of);
    if (s->fdc_n <= STORE_FDC_MAX)
        return NULL;
    old = store_ofile_of(s->fdc.prev);
    return do_store_fdc_drop(s, old->e);
}

/* Unlinks a DYING entry's file outside the lock, then buries it. */
static void do_store_kill(struct store *s, struct store_entry *e)
{
    struct store_ofile *of = do_store_fdc_drop(s, e);
    struct chunk_id id = e->id;

    pthread_mutex_unlock(&s->lock);
    store_ofile_close(of);
    store_unlink_file(s, &id);
    pthread_mutex_lock(&s->lock);
    do_store_bury(s, e);
}

/*
 * Gives the caller (a put) ownership of id: a new WRITING entry. A LIVE
 * copy is removed first; a WRITING or DYING one is waited out. May drop
 * and retake s->lock.
 */
static struct store_entry *do_store_claim(struct store *s,
                                          const struct chunk_id *id)
{
    struct store_entry *e;

    for (;;) {
        e = do_store_lookup(s, id);
        if (!e)
            return do_store_insert(s, id, STORE_WRITING);
        if (e->state == STORE_LIVE) {
            do_store_doom(s, e);
            do_store_kill(s, e);
        } else {
            pthread_cond_wait(&s->cond, &s->lock);
        }
    }
}

/*
 * Picks unpinned victims, best first, until used + need would be at the
 * low watermark; marks them DYING and returns them chained on vnext.
 */
static struct store_entry *do_store_pick_victims(struct store *s, uint64_t need)
{
    const struct store_policy_ops *ops = s->policy.ops;
    struct store_entry *victims = NULL, *e, *next;
    uint64_t freed = 0;

    e = ops->next_victim(&s->policy, NULL);
    while (e && s->used - freed + need > s->low) {
        next = ops->next_victim(&s->policy, e);
        if (e->pins == 0) {
            do_store_doom(s, e);
            e->vnext = victims;
            victims = e;
            freed += e->size;
        }
        e = next;
    }
    return victims;
}

static int store_read_blocks(int fd, const struct store_hdr *h, uint8_t *buf,
                             uint64_t off, uint64_t len, uint8_t *scratch);

/*
 * Hands a victim's data to the eviction hook (no lock held). Its file is
 * still in place: only this thread buries a DYING entry. A bad file is
 * simply not handed on.
 */
static void store_evict_hook(struct store *s, const struct chunk_id *id,
                             int64_t born)
{
    uint8_t *mem = xmalloc(STORE_HDR_SIZE + STORE_BLOCK_SIZE), *data = NULL;
    struct store_hdr h;
    int fd = -1, rc;

    rc = store_file_open(s, id, mem, &h, &fd);
    if (rc < 0)
        goto out;
    data = xmalloc(h.len ? h.len : 1);
    rc = store_read_blocks(fd, &h, data, 0, h.len, mem + STORE_HDR_SIZE);
    if (rc == 0)
        s->opts.evict_cb(s->opts.evict_arg, id, data, (size_t)h.len, born);
out:
    if (fd >= 0)
        close(fd);
    free(data);
    free(mem);
}

/* Unlinks the victims outside the lock, then buries them. */
static void do_store_evict(struct store *s, struct store_entry *victims)
{
    struct store_entry *e, *next;
    struct store_ofile *of, *closing = NULL;
    uint64_t n = 0, bytes = 0;

    for (e = victims; e; e = e->vnext) {
        of = do_store_fdc_drop(s, e);
        if (of) {
            of->ol.next = closing ? &closing->ol : NULL;
            closing = of;
        }
    }
    pthread_mutex_unlock(&s->lock);
    for (of = closing; of; of = closing) {
        closing = of->ol.next ? store_ofile_of(of->ol.next) : NULL;
        store_ofile_close(of);
    }
    /* e cannot go away: only this thread buries a DYING entry. */
    for (e = victims; e; e = e->vnext) {
        if (s->opts.evict_cb)
            store_evict_hook(s, &e->id, e->born);
        store_unlink_file(s, &e->id);
    }
    pthread_mutex_lock(&s->lock);
    for (e = victims; e; e = next) {
        next = e->vnext;
        n++;
        bytes += e->size;
        do_store_bury(s, e);
    }
    s->st.evictions += n;
    s->st.evicted_bytes += bytes;
    log_debug(LOG_SUB_STORE, "store %s: evicted %llu chunks, %llu bytes",
              s->dir, (unsigned long long)n, (unsigned long long)bytes);
}

/*
 * Reserves need bytes of capacity for a put, evicting as the watermarks
 * say. 0 (used and writing_bytes now include need) or -ENOSPC. May drop
 * and retake s->lock.
 */
static int do_store_reserve(struct store *s, uint64_t need)
{
    struct store_entry *victims;
    bool reserved;

    if (need > s->opts.capacity)
        return -ENOSPC;
    for (;;) {
        reserved = false;
        if (s->used + need > s->high) {
            victims = do_store_pick_victims(s, need);
        } else {
            victims = NULL;
        }
        /* Take the room now, so no other put can take it meanwhile. */
        if (s->used + need <= s->opts.capacity) {
            s->used += need;
            s->writing_bytes += need;
            reserved = true;
        }
        if (victims)
            do_store_evict(s, victims);
        if (reserved)
            return 0;
        if (victims)
            continue;
        /* Nothing to evict: wait for others' unlinks and writes to end. */
        if (s->dying_bytes + s->writing_bytes == 0)
            return -ENOSPC;
        pthread_cond_wait(&s->cond, &s->lock);
    }
}

/* ---- Reads ---------------------------------------------------------- */

/*
 * Pins the LIVE entry of id, or counts a miss and returns NULL. With of,
 * *of gets a reference to the entry's cached open file, or NULL.
 */
static struct store_entry *store_pin(struct store *s, const struct chunk_id *id,
                                     struct store_ofile **of)
{
    struct store_entry *e;

    pthread_mutex_lock(&s->lock);
    e = do_store_lookup(s, id);
    if (e && e->state == STORE_LIVE) {
        e->pins++;
        if (e->hits < UINT32_MAX)
            e->hits++;
        s->policy.ops->touch(&s->policy, e);
        if (of)
            *of = do_store_fdc_get(s, e);
    } else {
        e = NULL;
        s->st.misses++;
    }
    pthread_mutex_unlock(&s->lock);
    return e;
}

/*
 * Drops the pin taken by store_pin, counting the outcome rc of the read.
 * On -EIO the chunk is removed, if it is still the entry that was read (a
 * put may have replaced it meanwhile: that file is not ours to judge).
 * of (may be NULL) is the reader's reference to the file it read, given
 * back here; fresh means the reader opened it itself, and a good one
 * joins the fd cache.
 */
static void store_unpin_of(struct store *s, struct store_entry *e, long rc,
                           struct store_ofile *of, bool fresh)
{
    struct store_ofile *close1 = NULL, *close2 = NULL;
    char hex[CHUNK_ID_HEX_LEN + 1];
    bool doomed = false;

    pthread_mutex_lock(&s->lock);
    if (of) {
        if (fresh && rc >= 0)
            close1 = do_store_fdc_add(s, e, of);
        close2 = do_store_ofile_put(of);
    }
    if (rc >= 0) {
        s->st.hits++;
    } else if (rc == -ENOENT) {
        s->st.misses++;
    } else if (rc == -EIO) {
        s->st.corrupt++;
        if (e->state == STORE_LIVE) {
            do_store_doom(s, e);
            doomed = true;
        }
    }
    e->pins--;
    if (doomed) {
        chunk_id_hex(&e->id, hex);
        log_warnx("store %s: chunk %s is corrupt, removed", s->dir, hex);
        do_store_kill(s, e);
    } else if (!e->in_table && e->pins == 0) {
        free(e);
    }
    pthread_mutex_unlock(&s->lock);
    store_ofile_close(close1);
    store_ofile_close(close2);
}

static void store_unpin(struct store *s, struct store_entry *e, long rc)
{
    store_unpin_of(s, e, rc, NULL, false);
}

/*
 * Reads [off, off + len) of the data (already clamped) into buf, checking
 * every block touched. Whole blocks go straight into buf and are checked
 * there; partial ones go through scratch (STORE_BLOCK_SIZE bytes; NULL:
 * allocated here when needed).
 */
static int store_read_blocks(int fd, const struct store_hdr *h, uint8_t *buf,
                             uint64_t off, uint64_t len, uint8_t *scratch)
{
    uint64_t pos = off, end = off + len, b, bstart, blen, k, n;
    uint8_t *mine = NULL;
    int rc = 0;

    while (pos < end) {
        b = pos / STORE_BLOCK_SIZE;
        bstart = b * STORE_BLOCK_SIZE;
        blen = h->len - bstart < STORE_BLOCK_SIZE ? h->len - bstart
                                                  : STORE_BLOCK_SIZE;
        if (pos == bstart && end >= bstart + blen) {
            /*
             * A run of whole blocks: one pread into the caller's buffer.
             * end <= h->len, and only the chunk's last block is short.
             */
            n = end - pos;
            if (end < h->len)
                n -= n % STORE_BLOCK_SIZE;
            rc =
                store_pread_all(fd, buf + (pos - off), n, STORE_HDR_SIZE + pos);
            if (rc < 0)
                break;
            for (k = 0; k < n; k += STORE_BLOCK_SIZE) {
                blen = n - k < STORE_BLOCK_SIZE ? n - k : STORE_BLOCK_SIZE;
                if (!store_block_ok(h, b + k / STORE_BLOCK_SIZE,
                                    buf + (pos - off) + k, blen)) {
                    rc = -EIO;
                    break;
                }
            }
            if (rc < 0)
                break;
            pos += n;
            continue;
        }
        if (!scratch)
            scratch = mine = xmalloc(STORE_BLOCK_SIZE);
        rc = store_pread_all(fd, scratch, blen, STORE_HDR_SIZE + bstart);
        if (rc < 0)
            break;
        if (!store_block_ok(h, b, scratch, blen)) {
            rc = -EIO;
            break;
        }
        n = (end < bstart + blen ? end : bstart + blen) - pos;
        memcpy(buf + (pos - off), scratch + (pos - bstart), n);
        pos += n;
    }
    free(mine);
    return rc;
}

ssize_t store_read(struct store *s, const struct chunk_id *id, void *buf,
                   size_t len, uint64_t off)
{
    struct store_ofile *of = NULL;
    struct store_entry *e;
    bool fresh = false;
    ssize_t rc;

    e = store_pin(s, id, &of);
    if (!e)
        return -ENOENT;
    if (!of) {
        /* Not in the fd cache: open and check the file (no lock held). */
        rc = store_ofile_open(s, id, &of);
        if (rc < 0)
            goto out;
        fresh = true;
    }
    if (off >= of->h.len) {
        rc = 0;
        goto out;
    }
    if (len > of->h.len - off)
        len = (size_t)(of->h.len - off);
    /* The header was checked when the file was opened; the data blocks
     * are checked on every read. */
    rc = store_read_blocks(of->fd, &of->h, buf, off, len, NULL);
    if (rc == 0)
        rc = (ssize_t)len;
out:
    store_unpin_of(s, e, rc, of, fresh);
    return rc;
}

static void store_no_direct(struct store *s)
{
    if (!__atomic_exchange_n(&s->no_direct, true, __ATOMIC_RELAXED))
        log_notice("store %s: the filesystem refuses O_DIRECT: buffered "
                   "reads and writes",
                   s->dir);
}

/* Clears (or sets) O_DIRECT on fd; 0 or -errno. */
static int store_set_direct(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT) < 0)
        return -errno;
    return 0;
}

/*
 * Reads the data of the chunk file open on fd into buf: with O_DIRECT
 * (direct: fd was opened so) the aligned part goes from the disk straight
 * into buf in one request and the tail, if any, through the page cache,
 * as store_write_direct wrote it. Then every block is checked.
 */
static int store_load_data(struct store *s, int fd, bool direct,
                           const struct store_hdr *h, uint8_t *buf)
{
    uint64_t aligned =
                 direct ? h->len & ~(uint64_t)(STORE_DIRECT_ALIGN - 1) : h->len,
             k, blen;
    int rc;

    rc = store_pread_all(fd, buf, aligned, STORE_HDR_SIZE);
    if (rc == -EINVAL && direct) {
        /* The open took O_DIRECT but the filesystem refuses the read. */
        store_no_direct(s);
        aligned = 0;
        rc = 0;
    }
    if (rc == 0 && aligned < h->len) {
        rc = direct ? store_set_direct(fd, false) : 0;
        rc = rc
                 ?: store_pread_all(fd, buf + aligned, h->len - aligned,
                                    STORE_HDR_SIZE + aligned);
    }
    for (k = 0; rc == 0 && k < h->len; k += STORE_BLOCK_SIZE) {
        blen = h->len - k < STORE_BLOCK_SIZE ? h->len - k : STORE_BLOCK_SIZE;
        if (!store_block_ok(h, k / STORE_BLOCK_SIZE, buf + k, blen))
            rc = -EIO;
    }
    return rc;
}

ssize_t store_load(struct store *s, const struct chunk_id *id, void *buf,
                   size_t cap)
{
    bool direct = s->opts.direct &&
                  !__atomic_load_n(&s->no_direct, __ATOMIC_RELAXED) &&
                  (uintptr_t)buf % STORE_DIRECT_ALIGN == 0;
    char path[STORE_PATH_MAX];
    struct store_entry *e;
    struct store_hdr h;
    uint8_t *hdr = NULL;
    ssize_t rc;
    int fd;

    e = store_pin(s, id, NULL);
    if (!e)
        return -ENOENT;
    store_chunk_path(id, path);
    fd = openat(s->dirfd, path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
    if (fd < 0 && direct && errno == EINVAL) {
        store_no_direct(s);
        direct = false;
        fd = openat(s->dirfd, path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    /* The header is read buffered: it is small and read again by every
     * piecewise read of the chunk. */
    hdr = xmalloc(STORE_HDR_SIZE);
    rc = direct ? store_set_direct(fd, false) : 0;
    rc = rc ?: store_pread_all(fd, hdr, STORE_HDR_SIZE, 0);
    rc = rc ?: store_hdr_check(hdr, id, &h);
    if (rc == 0 && h.len > cap)
        rc = -EMSGSIZE;
    if (rc == 0 && direct)
        rc = store_set_direct(fd, true);
    rc = rc ?: store_load_data(s, fd, direct, &h, buf);
    if (rc == 0)
        rc = (ssize_t)h.len;
    close(fd);
out:
    free(hdr);
    store_unpin(s, e, rc);
    return rc;
}

/* Checks every block of the file open on fd. 0, -EIO or -errno. */
static int store_verify_all(int fd, const struct store_hdr *h)
{
    uint8_t *io = xmalloc(STORE_VERIFY_IO);
    uint64_t pos = 0, n, k, blen;
    int rc = 0;

    while (pos < h->len) {
        n = h->len - pos < STORE_VERIFY_IO ? h->len - pos : STORE_VERIFY_IO;
        rc = store_pread_all(fd, io, n, STORE_HDR_SIZE + pos);
        if (rc < 0)
            goto out;
        for (k = 0; k < n; k += STORE_BLOCK_SIZE) {
            blen = n - k < STORE_BLOCK_SIZE ? n - k : STORE_BLOCK_SIZE;
            if (!store_block_ok(h, (pos + k) / STORE_BLOCK_SIZE, io + k,
                                blen)) {
                rc = -EIO;
                goto out;
            }
        }
        pos += n;
    }
out:
    free(io);
    return rc;
}

int store_open_chunk(struct store *s, const struct chunk_id *id, int *fd,
                     uint64_t *data_off, uint64_t *len)
{
    struct store_entry *e;
    struct store_hdr h;
    uint8_t *hdr = NULL;
    int rc, f = -1;

    e = store_pin(s, id, NULL);
    if (!e)
        return -ENOENT;
    hdr = xmalloc(STORE_HDR_SIZE);
    rc = store_file_open(s, id, hdr, &h, &f);
    if (rc < 0)
        goto out;
    rc = store_verify_all(f, &h);
    if (rc < 0)
        goto out;
    if (lseek(f, STORE_HDR_SIZE, SEEK_SET) < 0) {
        rc = -errno;
        goto out;
    }
    *fd = f;
    *data_off = STORE_HDR_SIZE;
    *len = h.len;
    f = -1;
out:
    if (f >= 0)
        close(f);
    free(hdr);
    store_unpin(s, e, rc);
    return rc;
}

/*
 * Checks the blocks that [off, off + len) of the data touches, through a
 * read-only mapping of just those blocks (no copy into user space). The
 * data starts page-aligned and blocks are whole pages, so the mapping
 * starts exactly at the first block. 0, -EIO or -errno.
 */
static int store_verify_span(int fd, const struct store_hdr *h, uint64_t off,
                             uint64_t len)
{
    uint64_t first = off / STORE_BLOCK_SIZE, end = off + len, last, span, b;
    uint64_t bstart, blen;
    uint8_t *map;
    int rc = 0;

    if (len == 0)
        return 0;
    last = (end - 1) / STORE_BLOCK_SIZE;
    span = (last + 1) * STORE_BLOCK_SIZE;
    if (span > h->len)
        span = h->len;
    span -= first * STORE_BLOCK_SIZE;
    map = mmap(NULL, span, PROT_READ, MAP_SHARED, fd,
               (off_t)(STORE_HDR_SIZE + first * STORE_BLOCK_SIZE));
    if (map == MAP_FAILED)
        return -errno;
    for (b = first; b <= last; b++) {
        bstart = (b - first) * STORE_BLOCK_SIZE;
        blen =
            span - bstart < STORE_BLOCK_SIZE ? span - bstart : STORE_BLOCK_SIZE;
        if (!store_block_ok(h, b, map + bstart, blen)) {
            rc = -EIO;
            break;
        }
    }
    munmap(map, span);
    return rc;
}

int store_open_range(struct store *s, const struct chunk_id *id, uint64_t off,
                     uint64_t len, int *fd, uint64_t *data_off,
                     uint64_t *chunk_len)
{
    struct store_entry *e;
    struct store_hdr h;
    struct stat st;
    uint8_t *hdr = NULL;
    int rc, f = -1;

    e = store_pin(s, id, NULL);
    if (!e)
        return -ENOENT;
    hdr = xmalloc(STORE_HDR_SIZE);
    rc = store_file_open(s, id, hdr, &h, &f);
    if (rc < 0)
        goto out;
    /* A truncated file would make the mapping fault: check its size. */
    if (fstat(f, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if ((uint64_t)st.st_size != store_file_size(h.len)) {
        rc = -EIO;
        goto out;
    }
    if (off < h.len) {
        if (len > h.len - off)
            len = h.len - off;
        rc = store_verify_span(f, &h, off, len);
        if (rc < 0)
            goto out;
    }
    *fd = f;
    *data_off = STORE_HDR_SIZE;
    *chunk_len = h.len;
    f = -1;
out:
    if (f >= 0)
        close(f);
    free(hdr);
    store_unpin(s, e, rc);
    return rc;
}

bool store_contains(struct store *s, const struct chunk_id *id, uint64_t *len)
{
    struct store_entry *e;
    bool found;

    pthread_mutex_lock(&s->lock);
    e = do_store_lookup(s, id);
    found = e && e->state == STORE_LIVE;
    if (found && len)
        *len = e->len;
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* ---- Writes --------------------------------------------------------- */

/* Makes "ab" and "ab/cd" for path "ab/cd/<hex>". 0 or -errno. */
static int store_make_fanout(struct store *s, const char *path)
{
    char d[8];

    snprintf(d, sizeof(d), "%.2s", path);
    if (mkdirat(s->dirfd, d, 0700) < 0 && errno != EEXIST)
        return -errno;
    snprintf(d, sizeof(d), "%.5s", path);
    if (mkdirat(s->dirfd, d, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* fsyncs the directory holding path ("ab/cd/..."), so the rename lasts. */
static int store_sync_dir(struct store *s, const char *path)
{
    char d[8];
    int fd, rc = 0;

    snprintf(d, sizeof(d), "%.5s", path);
    fd = openat(s->dirfd, d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/*
 * Header and data of a chunk file on an fd opened with O_DIRECT: the
 * header and the data's aligned part straight to the disk, the tail
 * (shorter than STORE_DIRECT_ALIGN) through the page cache. On a
 * filesystem that took the O_DIRECT open but refuses the write (EINVAL),
 * everything again, buffered. Writing through the page cache costs far
 * more CPU than the disk write on some machines (store.md, Cost), and a
 * cold read writes every chunk it fetches.
 */
static int store_write_direct(struct store *s, int fd, const uint8_t *hdr,
                              const void *data, size_t len)
{
    size_t aligned = len & ~(size_t)(STORE_DIRECT_ALIGN - 1);
    struct iovec iov[2] = {{(void *)hdr, STORE_HDR_SIZE},
                           {(void *)data, aligned}};
    int rc;

    rc = store_writev_all(fd, iov, 2);
    if (rc == -EINVAL) {
        store_no_direct(s);
        rc = store_set_direct(fd, false);
        if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
            rc = -errno;
        iov[0] = (struct iovec){(void *)hdr, STORE_HDR_SIZE};
        iov[1] = (struct iovec){(void *)data, len};
        return rc ?: store_writev_all(fd, iov, 2);
    }
    if (rc == 0 && aligned < len) {
        rc = store_set_direct(fd, false);
        iov[0] = (struct iovec){(uint8_t *)data + aligned, len - aligned};
        rc = rc ?: store_writev_all(fd, iov, 1);
    }
    return rc;
}

/*
 * Writes the chunk file under tmp/ and renames it to its final path. On
 * failure the temporary file is removed. 0 or -errno. No lock held.
 */
static int store_write_file(struct store *s, const struct chunk_id *id,
                            const void *data, size_t len, int64_t born)
{
    struct timespec times[2];
    char hex[CHUNK_ID_HEX_LEN + 1], tmp[STORE_PATH_MAX], path[STORE_PATH_MAX];
    uint8_t *hdr = xmalloc_aligned(STORE_DIRECT_ALIGN, STORE_HDR_SIZE);
    struct iovec iov[2];
    uint64_t n, suffix;
    int fd = -1, rc;
    bool made = false;
    /* O_DIRECT for the header and the aligned part of the data, the
     * unaligned tail (if any) buffered: see store_write_direct. */
    bool direct =
        s->opts.direct && !__atomic_load_n(&s->no_direct, __ATOMIC_RELAXED) &&
        len >= STORE_DIRECT_ALIGN && (uintptr_t)data % STORE_DIRECT_ALIGN == 0;

    store_hdr_build(hdr, id, data, len);
    chunk_id_hex(id, hex);
    store_chunk_path(id, path);
    n = __atomic_fetch_add(&s->tmp_counter, 1, __ATOMIC_RELAXED);
    suffix = XXH3_64bits_withSeed(&n, sizeof(n), s->tmp_seed);
    snprintf(tmp, sizeof(tmp), "tmp/%s.%016llx", hex,
             (unsigned long long)suffix);
    fd = openat(s->dirfd, tmp,
                O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
                    (direct ? O_DIRECT : 0),
                0600);
    if (fd < 0 && direct && errno == EINVAL) {
        store_no_direct(s);
        direct = false;
        fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                    0600);
    }
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    made = true;
#ifndef STORE_NO_FALLOC
    /*
     * One extent for the whole file up front: the write then only copies
     * into the page cache instead of reserving blocks page by page, which
     * measured ~25 % less CPU per 8 MiB put on ext4 (store.md, Cost). Not
     * supported: write as before.
     */
    if (len > 0 && fallocate(fd, 0, 0, (off_t)store_file_size(len)) < 0 &&
        errno != EOPNOTSUPP && errno != ENOSYS) {
        rc = -errno;
        goto out;
    }
#endif
    if (direct) {
        rc = store_write_direct(s, fd, hdr, data, len);
    } else {
        iov[0].iov_base = hdr;
        iov[0].iov_len = STORE_HDR_SIZE;
        iov[1].iov_base = (void *)data;
        iov[1].iov_len = len;
        rc = store_writev_all(fd, iov, len > 0 ? 2 : 1);
    }
    if (rc == 0) {
        /* The mtime is the chunk's age, kept across tiers and restarts. */
        times[0].tv_sec = times[1].tv_sec = (time_t)born;
        times[0].tv_nsec = times[1].tv_nsec = 0;
        if (futimens(fd, times) < 0)
            rc = -errno;
    }
    if (rc == 0 && s->opts.fsync && fsync(fd) < 0)
        rc = -errno;
    /* close() can report a delayed write error (NFS): it counts too. */
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    fd = -1;
    if (rc < 0)
        goto out;
    if (renameat(s->dirfd, tmp, s->dirfd, path) < 0) {
        rc = -errno;
        if (rc == -ENOENT) {
            rc = store_make_fanout(s, path);
            if (rc == 0 && renameat(s->dirfd, tmp, s->dirfd, path) < 0)
                rc = -errno;
        }
        if (rc < 0)
            goto out;
    }
    made = false;
    if (s->opts.fsync) {
        rc = store_sync_dir(s, path);
        /* The put fails, so the file must not outlive it. */
        if (rc < 0)
            unlinkat(s->dirfd, path, 0);
    }
out:
    if (fd >= 0)
        close(fd);
    if (made && unlinkat(s->dirfd, tmp, 0) < 0)
        log_warn("store %s: unlink %s", s->dir, tmp);
    if (rc < 0)
        log_warnx("store %s: put %s: %s", s->dir, hex, strerror(-rc));
    free(hdr);
    return rc;
}

int store_put(struct store *s, const struct chunk_id *id, const void *data,
              size_t len)
{
    return store_put_at(s, id, data, len, 0);
}

int store_put_at(struct store *s, const struct chunk_id *id, const void *data,
                 size_t len, int64_t born)
{
    uint64_t need = store_file_size(len);
    struct store_entry *e;
    int rc;

    if (len > STORE_CHUNK_MAX)
        return -EMSGSIZE;
    if (born <= 0)
        born = (int64_t)time(NULL);
    pthread_mutex_lock(&s->lock);
    e = do_store_claim(s, id);
    rc = do_store_reserve(s, need);
    if (rc < 0)
        goto fail;
    e->size = need;
    pthread_mutex_unlock(&s->lock);

    rc = store_write_file(s, id, data, len, born);

    pthread_mutex_lock(&s->lock);
    s->writing_bytes -= need;
    if (rc < 0) {
        s->used -= need;
        goto fail;
    }
    e->len = len;
    e->born = born;
    do_store_make_live(s, e);
    s->st.puts++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return 0;
fail:
    s->st.put_failures++;
    do_store_unlink_entry(s, e);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_remove(struct store *s, const struct chunk_id *id)
{
    struct store_entry *e;
    int rc = 0;

    pthread_mutex_lock(&s->lock);
    e = do_store_lookup(s, id);
    if (!e || e->state != STORE_LIVE) {
        rc = -ENOENT;
    } else {
        do_store_doom(s, e);
        do_store_kill(s, e);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_expire(struct store *s, const struct chunk_id *id,
                 uint64_t max_age_ms)
{
    struct store_entry *e;
    int64_t now = (int64_t)time(NULL);
    int rc = 0;

    pthread_mutex_lock(&s->lock);
    e = do_store_lookup(s, id);
    if (e && e->state == STORE_LIVE &&
        (uint64_t)(now > e->born ? now - e->born : 0) * 1000 >= max_age_ms) {
        do_store_doom(s, e);
        do_store_kill(s, e);
        rc = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_chunk_info(struct store *s, const struct chunk_id *id,
                     struct store_chunk_info *out)
{
    struct store_entry *e;
    int rc = -ENOENT;

    pthread_mutex_lock(&s->lock);
    e = do_store_lookup(s, id);
    if (e && e->state == STORE_LIVE) {
        out->len = e->len;
        out->hits = e->hits;
        out->born = e->born;
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_verify_fd(struct store *s, const struct chunk_id *id, int fd,
                    uint64_t off, uint64_t len)
{
    uint8_t *hdr = xmalloc(STORE_HDR_SIZE);
    struct store_entry *e;
    struct store_hdr h;
    char hex[CHUNK_ID_HEX_LEN + 1];
    int rc;

    rc = store_pread_all(fd, hdr, STORE_HDR_SIZE, 0);
    if (rc == 0)
        rc = store_hdr_check(hdr, id, &h);
    if (rc == 0 && off < h.len) {
        if (len > h.len - off)
            len = h.len - off;
        rc = store_verify_span(fd, &h, off, len);
    }
    free(hdr);
    if (rc != -EIO)
        return rc;
    pthread_mutex_lock(&s->lock);
    s->st.corrupt++;
    e = do_store_lookup(s, id);
    if (e && e->state == STORE_LIVE) {
        /* The file may have been replaced since fd was opened: its bytes
         * are the same chunk, so dropping it costs one refetch at most. */
        do_store_doom(s, e);
        chunk_id_hex(id, hex);
        log_warnx("store %s: chunk %s is corrupt, removed", s->dir, hex);
        do_store_kill(s, e);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void store_get_stats(struct store *s, struct store_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->st;
    out->chunks = s->live;
    out->used_bytes = s->used;
    out->capacity = s->opts.capacity;
    pthread_mutex_unlock(&s->lock);
}

/* ---- Open, scan, close ---------------------------------------------- */

void store_opts_init(struct store_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->capacity = 1ull << 30;
    o->high_pct = 95;
    o->low_pct = 90;
}

/* A chunk file found by the scan, for sorting by age. */
struct store_found {
    struct chunk_id id;
    uint64_t len;
    struct timespec mtime;
};

struct store_scan {
    struct store_found *v; /* owned */
    size_t n, cap;
    uint64_t corrupt;
};

/* Called for each name in a directory; dfd is that directory. */
typedef void store_each_cb(struct store *s, int dfd, const char *dirname,
                           const char *name, void *arg);

static bool store_is_hex2(const char *name)
{
    static const char digits[] = "0123456789abcdef";

    return name[0] && strchr(digits, name[0]) && name[1] &&
           strchr(digits, name[1]) && name[2] == '\0';
}

/*
 * Reads and checks the chunk file `name` in the fan-out directory dfd
 * (dirname "ab/cd"). 0 and *f filled for a good chunk, 1 for something
 * that is not a file (left alone), -EIO for a bad file, another -errno
 * when it could not be looked at (left alone too).
 */
static int store_scan_check(int dfd, const char *dirname, const char *name,
                            struct store_found *f)
{
    char hex[CHUNK_ID_HEX_LEN + 1];
    uint8_t *hdr = NULL;
    struct store_hdr h;
    struct stat st;
    int fd, rc;

    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ELOOP ? -EIO : -errno;
    rc = -EIO;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = 1;
        goto out;
    }
    /* The name must be a canonical (lowercase) id in its fan-out dir. */
    if (!S_ISREG(st.st_mode) || chunk_id_parse(name, &f->id) < 0)
        goto out;
    chunk_id_hex(&f->id, hex);
    if (strcmp(hex, name) != 0 || strncmp(hex, dirname, 2) != 0 ||
        strncmp(hex + 2, dirname + 3, 2) != 0)
        goto out;
    hdr = xmalloc(STORE_HDR_SIZE);
    if (store_pread_all(fd, hdr, STORE_HDR_SIZE, 0) < 0 ||
        store_hdr_check(hdr, &f->id, &h) < 0 ||
        (uint64_t)st.st_size != store_file_size(h.len))
        goto out;
    f->len = h.len;
    f->mtime = st.st_mtim;
    rc = 0;
out:
    close(fd);
    free(hdr);
    return rc;
}

/* Adds a good chunk file to the scan; removes a bad one. */
static void store_scan_file_cb(struct store *s, int dfd, const char *dirname,
                               const char *name, void *arg)
{
    struct store_scan *sc = arg;
    struct store_found f;
    int rc;

    rc = store_scan_check(dfd, dirname, name, &f);
    if (rc == 0) {
        if (sc->n == sc->cap) {
            sc->cap = sc->cap ? sc->cap * 2 : 256;
            sc->v = xrealloc(sc->v, sc->cap * sizeof(*sc->v));
        }
        sc->v[sc->n++] = f;
    } else if (rc == -EIO) {
        log_warnx("store %s: removing bad chunk file %s/%s", s->dir, dirname,
                  name);
        if (unlinkat(dfd, name, 0) < 0)
            log_warn("store %s: unlink %s/%s", s->dir, dirname, name);
        sc->corrupt++;
    } else if (rc < 0) {
        log_warnx("store %s: skipping %s/%s: %s", s->dir, dirname, name,
                  strerror(-rc));
    }
}

/* Calls fn for each name but . and .. in directory fd (closed here). */
static int store_each(int fd, store_each_cb *fn, struct store *s,
                      const char *dirname, void *arg)
{
    struct dirent *d;
    DIR *dir;

    dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return -errno;
    }
    while ((d = readdir(dir)) != NULL) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        fn(s, dirfd(dir), dirname, d->d_name, arg);
    }
    closedir(dir);
    return 0;
}

/* Level 2: "ab/cd". */
static void store_scan_sub_cb(struct store *s, int dfd, const char *dirname,
                              const char *name, void *arg)
{
    char sub[8];
    int fd;

    if (!store_is_hex2(name))
        return;
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    snprintf(sub, sizeof(sub), "%.2s/%.2s", dirname, name);
    if (store_each(fd, store_scan_file_cb, s, sub, arg) < 0)
        log_warn("store %s: scan %s", s->dir, sub);
}

/* Level 1: "ab". Other names in the store directory are left alone. */
static void store_scan_top_cb(struct store *s, int dfd, const char *dirname,
                              const char *name, void *arg)
{
    int fd;

    if (!store_is_hex2(name))
        return;
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    if (store_each(fd, store_scan_sub_cb, s, name, arg) < 0)
        log_warn("store %s: scan %s", s->dir, name);
}

static void store_tmp_cb(struct store *s, int dfd, const char *dirname,
                         const char *name, void *arg)
{
    if (unlinkat(dfd, name, 0) == 0)
        (*(uint64_t *)arg)++;
    else
        log_warn("store %s: unlink %s/%s", s->dir, dirname, name);
}

static int store_found_cmp(const void *a, const void *b)
{
    const struct store_found *x = a, *y = b;

    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return memcmp(x->id.b, y->id.b, sizeof(x->id.b));
}

/* Rebuilds the index from the files; oldest first in the policy. */
static int store_scan(struct store *s)
{
    struct store_scan sc = {0};
    struct store_entry *e;
    size_t i;
    int fd, rc;

    /* A separate descriptor: readdir moves the offset it shares. */
    fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    rc = store_each(fd, store_scan_top_cb, s, "", &sc);
    if (rc < 0)
        goto out;
    if (sc.n > 1)
        qsort(sc.v, sc.n, sizeof(*sc.v), store_found_cmp);
    pthread_mutex_lock(&s->lock);
    for (i = 0; i < sc.n; i++) {
        e = do_store_insert(s, &sc.v[i].id, STORE_WRITING);
        e->len = sc.v[i].len;
        e->born = (int64_t)sc.v[i].mtime.tv_sec;
        e->size = store_file_size(e->len);
        s->used += e->size;
        do_store_make_live(s, e);
    }
    s->st.corrupt += sc.corrupt;
    /* The capacity may have been lowered since the files were written. */
    if (s->used > s->opts.capacity)
        do_store_evict(s, do_store_pick_victims(s, 0));
    pthread_mutex_unlock(&s->lock);
out:
    free(sc.v);
    return rc;
}

/* Empties dir/tmp of files an earlier run left behind. */
static int store_clean_tmp(struct store *s, uint64_t *removed)
{
    int fd;

    if (mkdirat(s->dirfd, "tmp", 0700) < 0 && errno != EEXIST)
        return -errno;
    fd = openat(s->dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return store_each(fd, store_tmp_cb, s, "tmp", removed);
}

static int store_check_opts(const struct store_opts *o, char *err,
                            size_t errlen)
{
    if (o->capacity == 0 || o->high_pct == 0 || o->high_pct > 100 ||
        o->low_pct == 0 || o->low_pct > o->high_pct) {
        snprintf(err, errlen,
                 "bad store options: need capacity > 0 and "
                 "0 < low_pct <= high_pct <= 100");
        return -EINVAL;
    }
    return 0;
}

/* Opens (making it if needed) and locks the directory. */
static int store_open_dir(struct store *s, char *err, size_t errlen)
{
    const char *what = "mkdir";
    int rc;

    if (mkdir(s->dir, 0700) < 0 && errno != EEXIST)
        goto fail;
    what = "open";
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0)
        goto fail;
    what = "access";
    if (faccessat(s->dirfd, ".", R_OK | W_OK | X_OK, AT_EACCESS) < 0)
        goto fail;
    /* Two stores on one directory would delete each other's files. */
    if (flock(s->dirfd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            snprintf(err, errlen, "store %s: in use by another store", s->dir);
        else
            snprintf(err, errlen, "store %s: flock: %s", s->dir,
                     strerror(errno));
        return -EBUSY;
    }
    return 0;
fail:
    rc = -errno;
    snprintf(err, errlen, "store %s: %s: %s", s->dir, what, strerror(-rc));
    return rc;
}

struct store *store_open(const char *dir, const struct store_opts *o, char *err,
                         size_t errlen)
{
    struct store *s = xcalloc(1, sizeof(*s));
    uint64_t tmp_removed = 0;
    double t0 = monotime_sec();
    int rc;

    if (errlen == 0)
        err = NULL;
    s->dir = xstrdup(dir);
    s->dirfd = -1;
    if (o)
        s->opts = *o;
    else
        store_opts_init(&s->opts);
    s->high = store_pct(s->opts.capacity, s->opts.high_pct);
    s->low = store_pct(s->opts.capacity, s->opts.low_pct);
    s->nbuckets = 1024;
    s->buckets = xcalloc(s->nbuckets, sizeof(*s->buckets));
    s->fdc.prev = s->fdc.next = &s->fdc;
    rc = store_policy_init(s, err, errlen);
    if (rc < 0)
        goto fail;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (getrandom(&s->tmp_seed, sizeof(s->tmp_seed), GRND_NONBLOCK) !=
        sizeof(s->tmp_seed))
        s->tmp_seed = monotime_ns() ^ (uint64_t)getpid() << 32;

    rc = store_check_opts(&s->opts, err, errlen);
    if (rc == 0)
        rc = store_open_dir(s, err, errlen);
    if (rc < 0)
        goto fail;
    rc = store_clean_tmp(s, &tmp_removed);
    if (rc == 0)
        rc = store_scan(s);
    if (rc < 0) {
        snprintf(err, errlen, "store %s: %s", dir, strerror(-rc));
        goto fail;
    }
    log_info("store %s: %llu chunks, %llu bytes of %llu; removed %llu bad "
             "and %llu temporary files (%.2fs)",
             dir, (unsigned long long)s->live, (unsigned long long)s->used,
             (unsigned long long)s->opts.capacity,
             (unsigned long long)s->st.corrupt, (unsigned long long)tmp_removed,
             monotime_sec() - t0);
    return s;
fail:
    store_close(s);
    return NULL;
}

void store_close(struct store *s)
{
    struct store_entry *e, *next;
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->nbuckets; i++) {
        for (e = s->buckets[i]; e; e = next) {
            next = e->hnext;
            /* No call may be running, so nothing is pinned or in flight. */
            assert(e->pins == 0 && e->state == STORE_LIVE);
            if (e->of) {
                assert(e->of->refs == 1);
                store_ofile_close(e->of);
            }
            free(e);
        }
    }
    free(s->buckets);
    free(s->policy.ghost);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->dir);
    free(s);
}

/* ---- Policy simulator (store_int.h) ---------------------------------- */

struct store *store_policy_sim_new(const char *policy, size_t capacity)
{
    struct store *s = xcalloc(1, sizeof(*s));

    s->dir = xstrdup("(sim)");
    s->dirfd = -1;
    store_opts_init(&s->opts);
    s->opts.capacity = capacity;
    s->opts.policy = policy;
    s->nbuckets = 1024;
    s->buckets = xcalloc(s->nbuckets, sizeof(*s->buckets));
    s->fdc.prev = s->fdc.next = &s->fdc;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (store_policy_init(s, NULL, 0) < 0) {
        store_close(s);
        return NULL;
    }
    return s;
}

bool store_policy_sim_access(struct store *s, uint64_t key)
{
    struct chunk_id id;
    struct store_entry *e;

    memset(&id, 0, sizeof(id));
    store_put_le64(id.b, XXH3_64bits(&key, sizeof(key)));
    store_put_le64(id.b + 8, key);
    e = do_store_lookup(s, &id);
    if (e) {
        s->policy.ops->touch(&s->policy, e);
        return true;
    }
    while (s->live >= s->opts.capacity) {
        e = s->policy.ops->next_victim(&s->policy, NULL);
        do_store_doom(s, e);
        do_store_bury(s, e);
    }
    e = do_store_insert(s, &id, STORE_WRITING);
    e->size = e->len = 1;
    s->used++;
    do_store_make_live(s, e);
    return false;
}

void store_policy_sim_free(struct store *s)
{
    store_close(s);
}
