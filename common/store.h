/* SPDX-License-Identifier: MIT */
/*
 * store.h: an on-disk chunk store: one directory of chunk files with a
 * capacity, an LRU eviction policy and per-block checksums.
 *
 * The standalone client keeps its chunks in one store; pcpd stacks several
 * (memory, SSD, HDD) as tiers. Each chunk is one file DIR/ab/cd/<id hex>:
 * a fixed STORE_HDR_SIZE-byte header (magic, id, length, an XXH3-64 of
 * every 64 KiB block of data and of the header itself) followed by the
 * data, so a data range can be sent straight from the file. Files are
 * written under DIR/tmp and renamed into place; a store that restarts
 * rebuilds its index from the files, so it starts warm.
 *
 * Capacity counts whole files (header + data): the bytes of all chunk files
 * in the store, including files being written and files being unlinked,
 * never pass it. A put that would pass the high watermark first evicts
 * least-recently-used chunks until the store is back at the low watermark.
 *
 * Threading: every function may be called from any thread at the same
 * time. One mutex guards the index; file I/O (reads, writes, fsync,
 * unlink) happens outside it. A chunk being read is pinned, and eviction
 * skips pinned chunks; store_remove() does not wait for readers (one that
 * has the file open keeps reading it, one that has not gets -ENOENT).
 * store_read() keeps the files of the 64 most recently read chunks open
 * (one descriptor each) with their checked headers. See
 * docs/internals/store.md.
 *
 * Errors: 0 or a byte count on success, -errno on failure. -ENOENT is a
 * miss. -EIO means the stored chunk was corrupt: the store has already
 * dropped it, and the caller fetches the chunk again from its source.
 */
#ifndef PCACHE_STORE_H
#define PCACHE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/chunk.h"

/* Bytes before the data in every chunk file (the data offset). */
#define STORE_HDR_SIZE 12288u
/* Alignment of buffers, offsets and lengths for O_DIRECT writes. */
#define STORE_DIRECT_ALIGN 4096u
/* Data is checksummed in blocks of this size. */
#define STORE_BLOCK_SIZE (64u << 10)
/* Largest chunk a store takes. */
#define STORE_CHUNK_MAX CHUNK_SIZE_MAX

struct store;

/*
 * Eviction hook (pcpd's demotion to the next tier): called for each chunk
 * the store evicts to make room, before its file is unlinked, with the
 * chunk's whole data read and checked (borrowed for the call) and the time
 * it was first stored (seconds since the epoch; keep it in the copy so TTLs
 * still count from the first fetch). Runs on the thread doing the put that
 * evicts, with no store lock held; it may call any function of another
 * store, never of this one. A corrupt victim is just evicted.
 */
typedef void (*store_evict_cb)(void *arg, const struct chunk_id *id,
                               const void *data, size_t len, int64_t born);

struct store_opts {
    uint64_t capacity;       /* bytes of chunk files (header + data) */
    unsigned high_pct;       /* a put past this % of capacity evicts ... */
    unsigned low_pct;        /* ... down to this % (0 < low <= high <= 100) */
    bool fsync;              /* fsync each file (and its directory) on put */
    bool direct;             /* write chunk files with O_DIRECT when the data is
                                STORE_DIRECT_ALIGN-aligned (see store_write_file);
                                a filesystem that refuses it gets buffered writes */
    const char *policy;      /* eviction policy: "lru" (NULL), "lru2", "s3fifo";
                                borrowed for the store_open() call only */
    store_evict_cb evict_cb; /* NULL: victims are just removed */
    void *evict_arg;         /* borrowed; passed to evict_cb */
};

struct store_stats {
    uint64_t chunks;        /* chunks stored and readable */
    uint64_t used_bytes;    /* file bytes counted against capacity */
    uint64_t capacity;      /* from the options */
    uint64_t hits;          /* reads and opens that found their chunk */
    uint64_t misses;        /* reads and opens that returned -ENOENT */
    uint64_t puts;          /* puts that stored a chunk */
    uint64_t evictions;     /* chunks evicted to make room */
    uint64_t evicted_bytes; /* file bytes of those chunks */
    uint64_t corrupt;       /* bad files found (at open or on read) */
    uint64_t put_failures;  /* puts that failed (no room, I/O error) */
};

/* Defaults: capacity 1 GiB, high 95 %, low 90 %, no fsync, buffered. */
void store_opts_init(struct store_opts *o);

/*
 * Opens the store in `dir` (borrowed), creating it with mode 0700 when
 * absent. Removes leftover temporary files, scans the chunk files and
 * checks each header (bad, truncated or misnamed files in the fan-out
 * directories are removed and counted as corrupt), and orders the chunks
 * for eviction by file mtime, oldest first. If the files pass the
 * capacity (it was lowered), the oldest are evicted down to the low
 * watermark. `o` is copied; NULL means the defaults. Returns the store,
 * or NULL with a message in err (errlen bytes, may be 0) when the options
 * are invalid or the directory cannot be used (not a directory, no
 * permission, ...). The caller owns the store and frees it with
 * store_close().
 */
struct store *store_open(const char *dir, const struct store_opts *o, char *err,
                         size_t errlen);
/*
 * Frees the index and closes the cached descriptors; the files stay. NULL
 * is a no-op. No other call on this
 * store may be running or start.
 */
void store_close(struct store *s);

/*
 * Copies bytes [off, off + len) of the chunk's data into buf (clamped to
 * the data's length; 0 at or past the end), checking the checksum of every
 * 64 KiB block the range touches, and marks the chunk recently used.
 * Returns the bytes copied, -ENOENT when the chunk is not stored, -EIO
 * when it is corrupt (the file is removed and `corrupt` counted), or
 * another -errno from the system (-EMFILE, ...). buf is borrowed.
 */
ssize_t store_read(struct store *s, const struct chunk_id *id, void *buf,
                   size_t len, uint64_t off);

/*
 * Reads the whole data of a chunk into buf (cap bytes; a chunk longer than
 * that is -EMSGSIZE), checking every block, and marks it recently used.
 * When the store writes with O_DIRECT and buf is STORE_DIRECT_ALIGN-
 * aligned, the data comes from the disk straight into buf in one request,
 * leaving no second copy in the page cache: the way for a sequential
 * reader that wants the chunk whole. Returns the data's length, or the
 * errors of store_read().
 */
ssize_t store_load(struct store *s, const struct chunk_id *id, void *buf,
                   size_t cap);

/*
 * Stores a whole chunk of len bytes (at most STORE_CHUNK_MAX), replacing
 * any stored copy. Evicts first when the store would pass its high
 * watermark. Returns 0 once the file is in place; -ENOSPC when the chunk
 * cannot fit even after eviction (nothing written); -EMSGSIZE when len is
 * too large; or the -errno of a failed write (-ENOSPC, -EDQUOT, -EIO, ...),
 * after which the temporary file is gone and the chunk is not stored.
 * While another put of the same id runs, this one waits for it. data is
 * borrowed.
 */
int store_put(struct store *s, const struct chunk_id *id, const void *data,
              size_t len);

/*
 * store_put() that keeps a chunk's age: the file's mtime (and so the age
 * seen by store_expire(), also after a restart) is `born` (seconds since
 * the epoch; 0: now). For copies between tiers.
 */
int store_put_at(struct store *s, const struct chunk_id *id, const void *data,
                 size_t len, int64_t born);

/*
 * Removes the chunk when it was first stored more than max_age_ms ago
 * (cache TTL). 1 when it was removed, 0 when it is young enough or absent.
 */
int store_expire(struct store *s, const struct chunk_id *id,
                 uint64_t max_age_ms);

/* What the index knows of one stored chunk. */
struct store_chunk_info {
    uint64_t len;  /* data bytes */
    uint32_t hits; /* reads since it was stored (or the store opened) */
    int64_t born;  /* first stored, seconds since the epoch */
};

/* 0 with *out filled, or -ENOENT when the chunk is not stored. No LRU or
 * counter change. */
int store_chunk_info(struct store *s, const struct chunk_id *id,
                     struct store_chunk_info *out);

/*
 * Checks the 64 KiB blocks of [off, off + len) of the data against the
 * header, through fd, a descriptor from store_open_range() (so it may run
 * later, on another thread: pcpd checks whole chunks on its disk pool).
 * 0; -EIO when a block is bad (the chunk is removed from the store and
 * counted as corrupt, as a failed read would); or another -errno.
 */
int store_verify_fd(struct store *s, const struct chunk_id *id, int fd,
                    uint64_t off, uint64_t len);

/* True when the chunk is stored; its data length goes to *len if non-NULL.
 * Does not touch the LRU order or the hit counters. */
bool store_contains(struct store *s, const struct chunk_id *id, uint64_t *len);

/* Removes a chunk. 0, or -ENOENT when it is not stored. */
int store_remove(struct store *s, const struct chunk_id *id);

/*
 * For zero-copy serving: checks the checksums of the whole chunk and
 * returns an open descriptor on its file, positioned at the data, with the
 * data's offset and length. The caller owns *fd and closes it; the data
 * stays readable through it even if the chunk is evicted meanwhile.
 * Marks the chunk recently used. 0, -ENOENT, -EIO (as store_read) or
 * another -errno; outputs are untouched on failure.
 */
int store_open_chunk(struct store *s, const struct chunk_id *id, int *fd,
                     uint64_t *data_off, uint64_t *len);

/*
 * Like store_open_chunk(), but checks only the 64 KiB blocks that bytes
 * [off, off + len) of the data touch (len UINT64_MAX: to the end), so a
 * small range of a large chunk costs one block of hashing. The file's
 * size is checked against its header, so a truncated file is -EIO too.
 * An off at or past the data's end checks nothing and succeeds: the
 * caller sees *chunk_len and refuses the range. Nothing is positioned:
 * the caller sends from *data_off + off. The caller owns *fd.
 */
int store_open_range(struct store *s, const struct chunk_id *id, uint64_t off,
                     uint64_t len, int *fd, uint64_t *data_off,
                     uint64_t *chunk_len);

/* A consistent snapshot of the counters. */
void store_get_stats(struct store *s, struct store_stats *out);

#endif
