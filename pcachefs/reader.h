/* SPDX-License-Identifier: MIT */
/*
 * reader.h: the read path: chunks from memory, the disk cache or S3.
 *
 * A read is split into chunks (fs->conf.chunk_size). Each chunk is looked
 * for in the in-memory chunk table (chunks being fetched and recently
 * fetched ones), then in the disk store, and is otherwise fetched with one
 * ranged GET carrying If-Match on the ETag the file was opened with: a
 * changed object is never read as a mix of two versions. Concurrent reads
 * of one missing chunk share one GET. Fetched chunks are written to the
 * disk store by a background thread.
 *
 * Memory: chunk buffers are bounded by three quarters of max_memory (the
 * rest is for request buffers and metadata). Demand reads wait for
 * memory when it is all in use; readahead is skipped instead, so prefetch
 * slows down under pressure and never grows the process.
 *
 * Page cache: a chunk fetched for a handle that names its kernel inode is
 * pushed whole into that inode's page cache (fuse_lowlevel_notify_store,
 * from a thread of its own so it never waits on a read it would block),
 * so later reads anywhere in the chunk never reach user space.
 *
 * Readahead: a handle that reads sequentially gets a window of chunks
 * fetched ahead of it, doubling with each sequential read up to
 * conf.readahead; a random read resets it, so random readers pay nothing.
 */
#ifndef PCACHEFS_READER_H
#define PCACHEFS_READER_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

struct fs;
struct reader;

/* One open version of an object: what a file handle reads. */
struct reader_file {
    char *key; /* owned */
    char etag[128];
    uint64_t size;
    uint64_t ino;           /* kernel inode whose page cache fetched chunks
                               may fill (one version, no writer), or 0 */
    pthread_mutex_t lock;   /* guards the readahead state below */
    uint64_t next_off;      /* where a sequential reader reads next */
    unsigned seq;           /* sequential reads in a row */
    uint64_t window;        /* current readahead window, bytes */
    uint64_t ahead;         /* prefetched up to this offset */
    struct reader *counted; /* while counted among sequential readers */
};

struct reader_stats {
    uint64_t reads;
    uint64_t memory_hits; /* chunks served from memory */
    uint64_t store_hits;  /* chunks served from the disk cache */
    uint64_t store_loads; /* chunks read whole from it into memory */
    uint64_t fetches;     /* GETs started */
    uint64_t fetch_bytes;
    uint64_t prefetches; /* of which readahead */
    uint64_t store_puts;
    uint64_t store_failures;
    uint64_t store_skipped; /* not cached: the disk was behind */
    uint64_t pushed;        /* chunks put into the kernel's page cache */
    uint64_t memory_used;
};

/* Starts the store writer, page-cache and store loader threads. NULL only
 * on thread creation failure. */
struct reader *reader_new(struct fs *fs);
/* Waits for fetches in flight and the store queue, then frees. */
void reader_free(struct reader *r);

void reader_file_init(struct reader_file *f, const char *key, const char *etag,
                      uint64_t size);
void reader_file_fini(struct reader_file *f);

/*
 * Reads up to size bytes at off into out (clamped to f->size). Returns
 * the byte count or -errno: -EIO when S3 fails or the object changed since
 * the open (ETag mismatch), -ETIMEDOUT, -EACCES, ...
 */
ssize_t reader_read(struct reader *r, struct reader_file *f, char *out,
                    size_t size, uint64_t off);

void reader_get_stats(struct reader *r, struct reader_stats *out);

#endif
