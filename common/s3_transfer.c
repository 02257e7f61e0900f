/* SPDX-License-Identifier: MIT */
/*
 * s3_transfer.c: parallel whole-object uploads and downloads (see
 * s3_transfer.h).
 *
 * Both directions keep a window of `parallel` asynchronous requests and
 * wait for the oldest before starting the next, so the number of requests
 * (and of buffers: bodies and sinks are the file itself) stays bounded.
 */
#include "common/s3_transfer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"

#define S3_TRANSFER_MAX_PARALLEL 64

void s3_transfer_opts_init(struct s3_transfer_opts *o)
{
    o->part_size = 8ull << 20;
    o->multipart_above = 16ull << 20;
    o->parallel = 8;
}

static unsigned s3_transfer_window(const struct s3_transfer_opts *o)
{
    if (o->parallel == 0)
        return 1;
    return o->parallel > S3_TRANSFER_MAX_PARALLEL ? S3_TRANSFER_MAX_PARALLEL
                                                  : o->parallel;
}

/* Part size that keeps the part count within S3's limit. */
static uint64_t s3_transfer_part_size(uint64_t size, uint64_t want)
{
    uint64_t part = want < S3_MIN_PART_SIZE ? S3_MIN_PART_SIZE : want;

    while ((size + part - 1) / part > S3_MAX_PARTS)
        part *= 2;
    return part;
}

/* Waits for the part in slot, records its etag; keeps the first error. */
static int s3_transfer_reap(struct s3_req **slot, char **etag, int rc,
                            struct s3_error *err)
{
    int r = s3_req_wait(*slot);

    if (r == 0) {
        const struct s3_object_meta *m = s3_req_meta(*slot);
        *etag = xstrdup(m->etag[0] ? m->etag : "\"\"");
    } else if (rc == 0 && err) {
        *err = *s3_req_error(*slot);
    }
    s3_req_free(*slot);
    *slot = NULL;
    return rc ? rc : r;
}

static int s3_upload_parts(struct s3_client *c, const char *bucket,
                           const char *key, const char *upload_id, int fd,
                           uint64_t size, uint64_t part_size, unsigned window,
                           char **etags, size_t nparts, struct s3_error *err)
{
    struct s3_req **slots = xcalloc(nparts, sizeof(*slots));
    size_t next = 0, oldest = 0;
    int rc = 0;

    while (oldest < nparts) {
        while (rc == 0 && next < nparts && next - oldest < window) {
            uint64_t off = next * part_size;
            struct s3_body body = {
                .kind = S3_BODY_FD,
                .fd = fd,
                .off = off,
                .len = size - off < part_size ? size - off : part_size,
            };
            slots[next] = s3_upload_part_start(
                c, bucket, key, upload_id, (int)next + 1, &body, NULL, NULL);
            next++;
        }
        if (!slots[oldest])
            break; /* never started: an earlier part failed */
        rc = s3_transfer_reap(&slots[oldest], &etags[oldest], rc, err);
        oldest++;
    }
    for (; oldest < next; oldest++) {
        if (slots[oldest])
            rc = s3_transfer_reap(&slots[oldest], &etags[oldest], rc, err);
    }
    free(slots);
    return rc;
}

static int s3_upload_multipart(struct s3_client *c, const char *bucket,
                               const char *key, int fd, uint64_t size,
                               const struct s3_put_opts *put,
                               const struct s3_transfer_opts *o, char **etag,
                               struct s3_error *err)
{
    uint64_t part_size = s3_transfer_part_size(size, o->part_size);
    size_t nparts = (size_t)((size + part_size - 1) / part_size), i;
    char **etags = xcalloc(nparts, sizeof(*etags));
    struct s3_part *parts = xcalloc(nparts, sizeof(*parts));
    char *upload_id = NULL;
    int rc;

    rc = s3_mpu_create(c, bucket, key, put, &upload_id, err);
    if (rc)
        goto out;
    rc = s3_upload_parts(c, bucket, key, upload_id, fd, size, part_size,
                         s3_transfer_window(o), etags, nparts, err);
    if (rc == 0) {
        for (i = 0; i < nparts; i++)
            parts[i] = (struct s3_part){(int)i + 1, etags[i]};
        rc = s3_mpu_complete(c, bucket, key, upload_id, parts, nparts, etag,
                             err);
    }
    if (rc) {
        /* Leave no parts behind: they cost storage and are invisible. */
        int r = s3_mpu_abort(c, bucket, key, upload_id, NULL);
        if (r)
            log_warnx("could not abort multipart upload %s of %s/%s: %s",
                      upload_id, bucket, key, strerror(-r));
    }
out:
    for (i = 0; i < nparts; i++)
        free(etags[i]);
    free(etags);
    free(parts);
    free(upload_id);
    return rc;
}

int s3_upload_fd(struct s3_client *c, const char *bucket, const char *key,
                 int fd, uint64_t size, const struct s3_put_opts *put,
                 const struct s3_transfer_opts *o, char **etag,
                 struct s3_error *err)
{
    struct s3_body body = {.kind = S3_BODY_FD, .fd = fd, .off = 0, .len = size};

    if (etag)
        *etag = NULL;
    if (size <= o->multipart_above && size <= S3_MAX_PUT_SIZE)
        return s3_put(c, bucket, key, &body, put, etag, err);
    return s3_upload_multipart(c, bucket, key, fd, size, put, o, etag, err);
}

int s3_download_fd(struct s3_client *c, const char *bucket, const char *key,
                   int fd, const struct s3_transfer_opts *o,
                   struct s3_object_meta *meta, struct s3_error *err)
{
    uint64_t part = o->part_size ? o->part_size : (8ull << 20), size;
    unsigned window = s3_transfer_window(o);
    struct s3_req *slots[S3_TRANSFER_MAX_PARALLEL] = {0};
    struct s3_object_meta m;
    uint64_t next = 0, oldest = 0, nparts;
    int rc;

    rc = s3_head(c, bucket, key, &m, err);
    if (rc)
        return rc;
    size = m.size < 0 ? 0 : (uint64_t)m.size;
    nparts = (size + part - 1) / part;
    if (ftruncate(fd, (off_t)size) < 0)
        rc = -errno;
    while (rc == 0 && oldest < nparts) {
        while (next < nparts && next - oldest < window) {
            uint64_t off = next * part;
            struct s3_sink sink = {.kind = S3_SINK_FD, .fd = fd, .off = off};
            slots[next % window] = s3_get_start(
                c, bucket, key, off, size - off < part ? size - off : part,
                m.etag, &sink, NULL, NULL);
            next++;
        }
        rc = s3_req_wait(slots[oldest % window]);
        if (rc && err)
            *err = *s3_req_error(slots[oldest % window]);
        s3_req_free(slots[oldest % window]);
        slots[oldest % window] = NULL;
        oldest++;
    }
    for (; oldest < next; oldest++) {
        s3_req_wait(slots[oldest % window]);
        s3_req_free(slots[oldest % window]);
    }
    if (meta && rc == 0)
        *meta = m;
    else
        s3_object_meta_fini(&m);
    return rc;
}
