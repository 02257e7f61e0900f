/* SPDX-License-Identifier: MIT */
/*
 * s3_transfer.h: whole-object transfers between a file descriptor and S3,
 * with many requests in flight.
 *
 * Uploads use one PUT up to the multipart threshold and a multipart upload
 * with parts sent in parallel above it; a failed multipart upload is
 * aborted so no parts are left behind. Downloads split the object into
 * ranged GETs carrying If-Match, so a download never mixes two versions.
 * Both block the calling thread; the requests run on the client's engine.
 */
#ifndef PCACHE_S3_TRANSFER_H
#define PCACHE_S3_TRANSFER_H

#include <stdint.h>

#include "common/s3.h"

struct s3_transfer_opts {
    uint64_t part_size;       /* multipart part / download range size */
    uint64_t multipart_above; /* objects larger than this go multipart */
    unsigned parallel;        /* requests in flight */
};

/* Fills defaults: 8 MiB parts, multipart above 16 MiB, 8 in flight. */
void s3_transfer_opts_init(struct s3_transfer_opts *o);

/*
 * Uploads size bytes of fd (from offset 0) as bucket/key. etag (may be
 * NULL) receives the new object's ETag, owned by the caller. Returns 0 or
 * -errno; err (may be NULL) gets the failing request's detail.
 */
int s3_upload_fd(struct s3_client *c, const char *bucket, const char *key,
                 int fd, uint64_t size, const struct s3_put_opts *put,
                 const struct s3_transfer_opts *o, char **etag,
                 struct s3_error *err);

/*
 * Downloads bucket/key into fd (from offset 0). meta (may be NULL) gets
 * the object's metadata; the object's size and ETag come from a HEAD, and
 * every range is fetched with If-Match on that ETag (-ESTALE if the object
 * changes meanwhile).
 */
int s3_download_fd(struct s3_client *c, const char *bucket, const char *key,
                   int fd, const struct s3_transfer_opts *o,
                   struct s3_object_meta *meta, struct s3_error *err);

#endif
