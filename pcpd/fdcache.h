/* SPDX-License-Identifier: MIT */
/*
 * fdcache.h: a worker's small LRU of open tier-0 chunk files, for hits.
 *
 * An entry keeps a chunk file open (as an evbuffer file segment, so a
 * reply sends from it with sendfile and no open(2) per hit), the data's
 * offset and length from its checked header, the file's identity when it
 * was checked (st_dev, st_ino, st_size, st_mtim, st_ctim) and a bitmap of
 * the 64 KiB blocks whose checksums have been verified through it.
 *
 * The rule (docs/internals/hit-cache.md): a block verified since the file
 * last changed need not be hashed again. Chunk files are immutable once
 * renamed into place, so a file that changed has another inode (replaced:
 * the old one has no link left) or another size, mtime or ctime (written
 * to in place, truncated, touched). Every use of an entry fstat()s the
 * descriptor and drops the entry when any of these differs or st_nlink is
 * 0 (removed, evicted, expired, replaced): the request then takes the
 * slow path, which checks the blocks again. An entry is also forgotten
 * PCPD_FDC_MAX_AGE_MS after its first check, and a file changed less than
 * PCPD_FDC_RACY_NS before it was checked is never cached (a write in the
 * same timestamp tick would not show).
 *
 * One per worker, used by that worker's thread only: no locks.
 */
#ifndef PCPD_FDCACHE_H
#define PCPD_FDCACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/chunk.h"

struct evbuffer_file_segment;

/* Files open per worker, at most. */
#define PCPD_FDC_CAP 64
/* Verified blocks are trusted this long, then hashed again. */
#define PCPD_FDC_MAX_AGE_MS 30000u
/* The store's LRU is told about hits on an entry this often, at most. */
#define PCPD_FDC_TOUCH_MS 1000u
/* A file whose ctime is this close to the check is not cached. */
#define PCPD_FDC_RACY_NS 1000000000ll

struct pcpd_fdc_entry {
    struct chunk_id id;
    struct evbuffer_file_segment *seg; /* owns fd */
    int fd;
    uint64_t data_off, len;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    uint64_t born_ms;    /* monotime of the first check */
    uint64_t touched_ms; /* monotime the store last saw a hit */
    uint32_t nblocks;
    uint64_t *bits; /* owned: verified blocks */
    struct pcpd_fdc_entry *prev, *next;
};

struct pcpd_fdc;

struct pcpd_fdc *pcpd_fdc_new(void);
/* Drops every entry; files stay open while replies still send from them. */
void pcpd_fdc_free(struct pcpd_fdc *c);

/* The entry of id, made most recently used, or NULL. */
struct pcpd_fdc_entry *pcpd_fdc_find(struct pcpd_fdc *c,
                                     const struct chunk_id *id);

/* True when e's file is still the one that was checked (see above). */
bool pcpd_fdc_valid(const struct pcpd_fdc_entry *e, uint64_t now_ms);

/* True when st (an fstat of the chunk's file) names e's file unchanged. */
bool pcpd_fdc_same(const struct pcpd_fdc_entry *e, const struct stat *st);

/* True when every block that data bytes [off, off + n) touch is verified. */
bool pcpd_fdc_verified(const struct pcpd_fdc_entry *e, uint64_t off,
                       uint64_t n);
/* Marks the blocks of [off, off + n) verified. */
void pcpd_fdc_mark(struct pcpd_fdc_entry *e, uint64_t off, uint64_t n);

void pcpd_fdc_drop(struct pcpd_fdc *c, struct pcpd_fdc_entry *e);

/*
 * Caches fd, open on the chunk file of id, whose fstat *before* its blocks
 * were checked is st (taken at realtime `checked`), with data bytes
 * [off, off + n) verified. Takes fd over and returns the entry; or NULL
 * (fd still the caller's) when the file changed too recently to be
 * trusted or the segment cannot be made. Replaces an entry of id.
 */
struct pcpd_fdc_entry *
pcpd_fdc_insert(struct pcpd_fdc *c, const struct chunk_id *id, int fd,
                uint64_t data_off, uint64_t len, const struct stat *st,
                const struct timespec *checked, uint64_t off, uint64_t n,
                uint64_t now_ms);

#endif
