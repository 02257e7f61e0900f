/* SPDX-License-Identifier: MIT */
/*
 * stream.c: multipart uploads that run while a file is written (see
 * stream.h).
 */
#include "pcachefs/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "pcachefs/fs.h"
#include "pcachefs/meta.h"
#include "pcachefs/remote.h"

struct stream_part {
    struct remote_req *req; /* in flight, or NULL */
    char *etag;             /* sent and answered, or NULL */
    unsigned gen;           /* writes into this part so far */
    unsigned gen_sent;      /* gen when the part was sent */
};

struct stream {
    struct fs *fs;
    int fd;
    char *key;
    char *upload_id;
    struct stat st; /* attributes the upload was created with */
    uint64_t part_size;
    struct stream_part *parts;
    size_t nparts; /* allocated */
    unsigned inflight;
};

struct stream *stream_new(struct fs *fs, int fd, const char *key,
                          const struct stat *st)
{
    struct stream *s = xcalloc(1, sizeof(*s));
    struct meta_put mp;
    int rc;

    meta_put_init(&mp, st);
    rc = remote_mpu_create(&fs->remote, key, &mp.opts, &s->upload_id, NULL);
    if (rc) {
        log_debug(LOG_SUB_S3, "no streaming upload for %s: %s", key,
                  strerror(-rc));
        free(s);
        return NULL;
    }
    s->fs = fs;
    s->fd = fd;
    s->key = xstrdup(key);
    s->st = *st;
    s->part_size = fs->conf.part_size;
    return s;
}

static void stream_grow(struct stream *s, size_t n)
{
    if (n <= s->nparts)
        return;
    s->parts = xrealloc(s->parts, n * sizeof(*s->parts));
    memset(s->parts + s->nparts, 0, (n - s->nparts) * sizeof(*s->parts));
    s->nparts = n;
}

/* Waits for part k's request and records the answer. */
static int stream_reap(struct stream *s, size_t k)
{
    struct stream_part *p = &s->parts[k];
    int rc;

    if (!p->req)
        return 0;
    rc = remote_req_wait(p->req);
    free(p->etag);
    p->etag = NULL;
    if (rc == 0 && remote_req_meta(p->req)->etag[0])
        p->etag = xstrdup(remote_req_meta(p->req)->etag);
    else if (rc == 0)
        rc = -EIO;
    remote_req_free(p->req);
    p->req = NULL;
    s->inflight--;
    return rc;
}

static void stream_send(struct stream *s, size_t k, uint64_t size)
{
    struct stream_part *p = &s->parts[k];
    uint64_t off = k * s->part_size;
    struct s3_body body = {
        .kind = S3_BODY_FD,
        .fd = s->fd,
        .off = off,
        .len = size - off < s->part_size ? size - off : s->part_size,
    };

    free(p->etag);
    p->etag = NULL;
    p->gen_sent = p->gen;
    p->req = remote_part_start(&s->fs->remote, s->key, s->upload_id, (int)k + 1,
                               off, &body);
    s->inflight++;
}

/* Records the answers of the requests that are done, without waiting. */
static void stream_reap_done(struct stream *s)
{
    size_t k;

    for (k = 0; k < s->nparts && s->inflight > 0; k++) {
        if (s->parts[k].req && remote_req_done(s->parts[k].req))
            stream_reap(s, k);
    }
}

/* Makes room for one more request: waits for the oldest in flight. */
static void stream_wait_slot(struct stream *s)
{
    size_t k;

    if (s->inflight < (unsigned)s->fs->conf.upload_parallel)
        return;
    for (k = 0; k < s->nparts; k++) {
        if (s->parts[k].req) {
            stream_reap(s, k);
            return;
        }
    }
}

void stream_touch(struct stream *s, uint64_t off, uint64_t len)
{
    size_t k, last;

    if (len == 0)
        return;
    last = (size_t)((off + len - 1) / s->part_size);
    stream_grow(s, last + 1);
    for (k = (size_t)(off / s->part_size); k <= last; k++)
        s->parts[k].gen++;
}

static bool stream_current(const struct stream_part *p)
{
    return (p->etag || p->req) && p->gen_sent == p->gen;
}

int stream_advance(struct stream *s, uint64_t ready)
{
    size_t k, full = (size_t)(ready / s->part_size);

    if (full > S3_MAX_PARTS)
        full = S3_MAX_PARTS;
    stream_grow(s, full);
    stream_reap_done(s);
    for (k = 0; k < full; k++) {
        if (stream_current(&s->parts[k]))
            continue;
        /* Never wait here: the writer would go at the upload's pace. The
         * parts are in the staging file; the next write sends them when
         * requests finish, and stream_finish sends what is left. */
        if (s->inflight >= (unsigned)s->fs->conf.upload_parallel)
            break;
        if (s->parts[k].req)
            stream_reap(s, k); /* an older send of this part */
        stream_send(s, k, ready);
    }
    return 0;
}

/* Sends every part that is not current for a file of size bytes. */
static int stream_send_rest(struct stream *s, size_t nparts, uint64_t size)
{
    size_t k;
    int rc = 0;

    stream_grow(s, nparts);
    for (k = 0; k < nparts; k++) {
        struct stream_part *p = &s->parts[k];
        bool last_partial = k == nparts - 1 && size % s->part_size;

        if (stream_current(p) && !last_partial)
            continue;
        stream_wait_slot(s);
        if (p->req)
            stream_reap(s, k);
        stream_send(s, k, size);
    }
    for (k = 0; k < nparts; k++) {
        int r = stream_reap(s, k);

        if (r == 0 && !s->parts[k].etag) {
            /* Failed earlier in the background: one more try now. */
            stream_send(s, k, size);
            r = stream_reap(s, k);
        }
        rc = rc ? rc : r;
    }
    return rc;
}

/* Rewrites the metadata when the attributes changed during the upload. */
static void stream_fix_meta(struct stream *s, uint64_t size,
                            const struct stat *st, char **etag)
{
    struct meta_put mp;
    char *fixed = NULL;
    long dt = (long)(st->st_mtime - s->st.st_mtime);

    if (st->st_mode == s->st.st_mode && st->st_uid == s->st.st_uid &&
        st->st_gid == s->st.st_gid && dt >= -1 && dt <= 1)
        return;
    if (size > S3_MAX_PUT_SIZE) {
        log_warnx("%s: attributes changed while uploading; too large to "
                  "rewrite them",
                  s->key);
        return;
    }
    meta_put_init(&mp, st);
    if (remote_copy(&s->fs->remote, s->key, s->key, size, &mp.opts, NULL,
                    &fixed, NULL) == 0 &&
        fixed) {
        free(*etag);
        *etag = fixed;
    }
}

int stream_finish(struct stream *s, uint64_t size, const char *key,
                  const struct stat *st, char **etag, struct s3_error *err)
{
    size_t nparts = (size_t)((size + s->part_size - 1) / s->part_size), k;
    struct s3_part *parts;
    int rc;

    *etag = NULL;
    if (strcmp(key, s->key) != 0 || nparts == 0 || nparts > S3_MAX_PARTS)
        return -EAGAIN;
    rc = stream_send_rest(s, nparts, size);
    if (rc)
        return rc;
    parts = xcalloc(nparts, sizeof(*parts));
    for (k = 0; k < nparts; k++)
        parts[k] = (struct s3_part){(int)k + 1, s->parts[k].etag};
    rc = remote_mpu_complete(&s->fs->remote, s->key, s->upload_id, parts,
                             nparts, etag, err);
    free(parts);
    if (rc == 0) {
        free(s->upload_id);
        s->upload_id = NULL; /* completed: nothing to abort */
        stream_fix_meta(s, size, st, etag);
    }
    return rc;
}

void stream_free(struct stream *s)
{
    size_t k;

    if (!s)
        return;
    for (k = 0; k < s->nparts; k++) {
        if (s->parts[k].req)
            stream_reap(s, k);
        free(s->parts[k].etag);
    }
    if (s->upload_id &&
        remote_mpu_abort(&s->fs->remote, s->key, s->upload_id, NULL))
        log_warnx("could not abort upload %s of %s", s->upload_id, s->key);
    free(s->upload_id);
    free(s->key);
    free(s->parts);
    free(s);
}
