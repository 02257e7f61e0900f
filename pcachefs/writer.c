/* SPDX-License-Identifier: MIT */
/*
 * writer.c: staged writes and uploads (see writer.h).
 *
 * DESIGN
 * present[] has one flag per chunk of the base object: set once the
 * staging file holds that chunk's base bytes (or bytes that replaced them
 * completely). The invariant is that a chunk is filled before any write
 * lands in part of it, so a present chunk is always complete. Truncation
 * lowers base_size: base bytes past it are dead and never filled in.
 */
#include "pcachefs/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/chunk.h"
#include "common/log.h"
#include "common/mem.h"
#include "pcachefs/remote.h"
#include "pcachefs/fs.h"
#include "pcachefs/meta.h"
#include "pcachefs/reader.h"
#include "pcachefs/stream.h"

struct writer {
    struct fs *fs;
    unsigned refs; /* atomic: the inode's, and borrowers' (writer_ref) */
    pthread_mutex_t lock;
    int fd;                  /* staging file */
    uint64_t size;           /* logical size of the file */
    uint64_t gen;            /* changes so far (atomic) */
    uint64_t clean_gen;      /* gen of the last upload (under lock) */
    struct reader_file base; /* the object we started from */
    uint64_t base_size;      /* base bytes still alive */
    bool *present;           /* per base chunk */
    uint64_t nchunks;
    struct stat attr;      /* attributes for a streaming upload */
    uint64_t stream_end;   /* end of the prefix written front to back */
    bool no_stream;        /* streaming ruled out for this file */
    struct stream *stream; /* upload running while writing, or NULL */
};

static int writer_open_staging(struct fs *fs)
{
    int fd = open(fs->staging_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
        /* No O_TMPFILE on this file system: a named file, unlinked. */
        char *path = xasprintf("%s/stage.XXXXXX", fs->staging_dir);

        fd = mkostemp(path, O_CLOEXEC);
        if (fd >= 0)
            unlink(path);
        free(path);
    }
    return fd < 0 ? -errno : fd;
}

struct writer *writer_new(struct fs *fs, const char *key, const char *etag,
                          uint64_t size, int *rc)
{
    struct writer *w;
    int fd = writer_open_staging(fs);

    if (fd < 0) {
        *rc = fd;
        log_warnx("cannot create a staging file in %s: %s", fs->staging_dir,
                  strerror(-fd));
        return NULL;
    }
    if (size && ftruncate(fd, (off_t)size) < 0) {
        *rc = -errno;
        close(fd);
        return NULL;
    }
    w = xcalloc(1, sizeof(*w));
    w->fs = fs;
    w->fd = fd;
    w->size = size;
    w->base_size = size;
    w->refs = 1;
    pthread_mutex_init(&w->lock, NULL);
    reader_file_init(&w->base, key, etag, size);
    w->nchunks = chunk_count(size, fs->conf.chunk_size);
    w->present = xcalloc(w->nchunks ? w->nchunks : 1, sizeof(bool));
    w->no_stream = size > 0; /* only files written from empty stream */
    *rc = 0;
    return w;
}

struct writer *writer_ref(struct writer *w)
{
    if (w)
        __atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED);
    return w;
}

void writer_free(struct writer *w)
{
    if (!w || __atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    stream_free(w->stream);
    close(w->fd);
    reader_file_fini(&w->base);
    free(w->present);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* Copies base chunk i into the staging file; the caller holds w->lock. */
static int do_writer_fill(struct writer *w, uint64_t i)
{
    uint64_t cs = w->fs->conf.chunk_size, off = i * cs, len;
    char *data;
    ssize_t n;
    int rc = 0;

    if (i >= w->nchunks || w->present[i])
        return 0;
    len = off < w->base_size ? w->base_size - off : 0;
    if (len > cs)
        len = cs;
    if (len > 0) {
        data = xmalloc(len);
        n = reader_read(w->fs->reader, &w->base, data, len, off);
        if (n >= 0 && (uint64_t)n != len)
            n = -EIO;
        if (n >= 0) {
            ssize_t put = pwrite(w->fd, data, len, (off_t)off);
            if (put != (ssize_t)len)
                n = put < 0 ? -errno : -EIO;
        }
        rc = n < 0 ? (int)n : 0;
        free(data);
    }
    if (rc == 0)
        w->present[i] = true;
    return rc;
}

/* Fills every chunk that [off, off+len) touches but does not cover. */
static int do_writer_prepare(struct writer *w, uint64_t off, uint64_t len,
                             bool for_write)
{
    uint64_t cs = w->fs->conf.chunk_size, i, end = off + len;
    int rc = 0;

    for (i = chunk_index_of(off, cs); i < w->nchunks && i * cs < end; i++) {
        uint64_t cstart = i * cs, cend = cstart + cs;

        if (w->present[i])
            continue;
        if (cend > w->base_size)
            cend = w->base_size;
        if (for_write && off <= cstart && end >= cend) {
            w->present[i] = true; /* wholly overwritten */
            continue;
        }
        rc = do_writer_fill(w, i);
        if (rc)
            break;
    }
    return rc;
}

ssize_t writer_read(struct writer *w, char *buf, size_t len, uint64_t off)
{
    ssize_t n;
    int rc;

    pthread_mutex_lock(&w->lock);
    if (off >= w->size) {
        pthread_mutex_unlock(&w->lock);
        return 0;
    }
    if (len > w->size - off)
        len = (size_t)(w->size - off);
    rc = do_writer_prepare(w, off, len, false);
    n = rc ? rc : pread(w->fd, buf, len, (off_t)off);
    if (n < 0 && !rc)
        n = -errno;
    pthread_mutex_unlock(&w->lock);
    return n;
}

/* Keeps a streaming upload going after a write; w->lock held. */
static void do_writer_stream(struct writer *w, uint64_t off, uint64_t n)
{
    const struct fs_conf *conf = &w->fs->conf;

    if (off == w->stream_end)
        w->stream_end += n;
    if (w->stream) {
        stream_touch(w->stream, off, n);
    } else if (!w->no_stream && w->stream_end > conf->multipart_above) {
        w->stream = stream_new(w->fs, w->fd, w->base.key, &w->attr);
        if (!w->stream)
            w->no_stream = true;
        else
            stream_touch(w->stream, 0, w->size);
    }
    if (w->stream)
        stream_advance(w->stream, w->stream_end);
}

void writer_set_attr(struct writer *w, const struct stat *st)
{
    pthread_mutex_lock(&w->lock);
    w->attr = *st;
    pthread_mutex_unlock(&w->lock);
}

ssize_t writer_write(struct writer *w, const char *buf, size_t len,
                     uint64_t off)
{
    ssize_t n;
    int rc;

    pthread_mutex_lock(&w->lock);
    rc = do_writer_prepare(w, off, len, true);
    n = rc ? rc : pwrite(w->fd, buf, len, (off_t)off);
    if (n < 0 && !rc)
        n = -errno;
    if (n > 0) {
        if (off + (uint64_t)n > w->size)
            w->size = off + (uint64_t)n;
        __atomic_add_fetch(&w->gen, 1, __ATOMIC_SEQ_CST);
        do_writer_stream(w, off, (uint64_t)n);
    }
    pthread_mutex_unlock(&w->lock);
    return n;
}

int writer_truncate(struct writer *w, uint64_t size)
{
    int rc = 0;

    pthread_mutex_lock(&w->lock);
    /* Base bytes past the new end are dead; a later fill of the chunk
     * holding the new end copies only what is below base_size. */
    if (size < w->base_size)
        w->base_size = size;
    if (size < w->stream_end) {
        /* Parts already sent hold bytes that are gone: start over. */
        stream_free(w->stream);
        w->stream = NULL;
        w->stream_end = size;
    }
    if (ftruncate(w->fd, (off_t)size) < 0)
        rc = -errno;
    if (rc == 0) {
        w->size = size;
        __atomic_add_fetch(&w->gen, 1, __ATOMIC_SEQ_CST);
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

static int do_writer_fill_all(struct writer *w)
{
    uint64_t i;
    int rc = 0;

    for (i = 0; i < w->nchunks && rc == 0; i++)
        rc = do_writer_fill(w, i);
    return rc;
}

int writer_fill_all(struct writer *w)
{
    int rc;

    pthread_mutex_lock(&w->lock);
    rc = do_writer_fill_all(w);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

uint64_t writer_size(struct writer *w)
{
    uint64_t size;

    pthread_mutex_lock(&w->lock);
    size = w->size;
    pthread_mutex_unlock(&w->lock);
    return size;
}

bool writer_dirty(struct writer *w)
{
    uint64_t clean;

    pthread_mutex_lock(&w->lock);
    clean = w->clean_gen;
    pthread_mutex_unlock(&w->lock);
    return __atomic_load_n(&w->gen, __ATOMIC_SEQ_CST) != clean;
}

void writer_mark_dirty(struct writer *w)
{
    /* Lock-free: callers may hold the inode lock while an upload holds
     * w->lock; a change made during an upload stays dirty after it. */
    __atomic_add_fetch(&w->gen, 1, __ATOMIC_SEQ_CST);
}

int writer_flush(struct writer *w, const char *key, const struct stat *st,
                 char *etag)
{
    const struct fs_conf *conf = &w->fs->conf;
    struct s3_error err = {0};
    struct meta_put mp;
    char *new_etag = NULL, msg[512];
    uint64_t start_gen;
    int rc;

    pthread_mutex_lock(&w->lock);
    start_gen = __atomic_load_n(&w->gen, __ATOMIC_SEQ_CST);
    if (start_gen == w->clean_gen) {
        pthread_mutex_unlock(&w->lock);
        return 0;
    }
    rc = do_writer_fill_all(w);
    if (rc)
        goto out;
    meta_put_init(&mp, st);
    rc = -EAGAIN;
    if (w->stream && w->size > conf->multipart_above)
        rc = stream_finish(w->stream, w->size, key, st, &new_etag, &err);
    stream_free(w->stream); /* aborts it unless it completed */
    w->stream = NULL;
    w->no_stream = true; /* what follows starts from an object */
    if (rc == -EAGAIN)
        rc = remote_upload_fd(&w->fs->remote, key, w->fd, w->size, &mp.opts,
                              &new_etag, &err);
    if (rc) {
        log_warnx("upload of %s failed: %s", key,
                  s3_error_format(&err, msg, sizeof(msg)));
        goto out;
    }
    /* The staging file is now the object: later writes start from it. */
    w->clean_gen = start_gen;
    w->base_size = w->size;
    free(w->present);
    w->nchunks = chunk_count(w->size, conf->chunk_size);
    w->present = xcalloc(w->nchunks ? w->nchunks : 1, sizeof(bool));
    memset(w->present, 1, w->nchunks * sizeof(bool));
    snprintf(w->base.etag, sizeof(w->base.etag), "%s",
             new_etag ? new_etag : "");
    w->base.size = w->size;
    free(w->base.key);
    w->base.key = xstrdup(key);
    snprintf(etag, 128, "%s", new_etag ? new_etag : "");
out:
    free(new_etag);
    pthread_mutex_unlock(&w->lock);
    return rc;
}
