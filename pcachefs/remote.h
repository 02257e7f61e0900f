/* SPDX-License-Identifier: MIT */
/*
 * remote.h: the object store as the mount and pcmd reach it: S3 itself
 * (standalone mode) or the cache nodes' metadata proxy and chunk service
 * (cluster mode; docs/protocol.md "Metadata proxy").
 *
 * The FUSE operations and pcmd's commands call these and never s3_* or
 * cluster_* for objects, so both modes share every operation. The calls take
 * and give the S3 client's types (struct s3_object_meta, s3_list_result,
 * s3_error), and return 0 or -errno as common/s3.h does; in cluster mode the
 * error is the node's (its code and message, the status it answered), mapped to
 * an errno by the same table (s3_error_to_errno), so a request the user's
 * policy denies is -EACCES. err may be NULL everywhere.
 *
 * Threads: any. Blocking, except the *_start calls, which return at once
 * and are waited for with remote_req_wait.
 */
#ifndef PCACHEFS_REMOTE_H
#define PCACHEFS_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/s3.h"

struct cluster;

/* One bucket (or pbucket) as reached in one mode; filled by the owner. */
struct remote {
    struct s3_client *s3;    /* standalone mode, or NULL */
    const char *bucket;      /* the bucket; in cluster mode the pbucket */
    struct cluster *cluster; /* cluster mode, or NULL */
    uint64_t part_size;      /* multipart uploads and downloads */
    uint64_t multipart_above;
    unsigned parallel; /* parts or chunks in flight for one transfer */
};

int remote_head(struct remote *re, const char *key, struct s3_object_meta *meta,
                struct s3_error *err);
int remote_list(struct remote *re, const struct s3_list_opts *opts,
                struct s3_list_result *out, struct s3_error *err);
/* The whole object (small: a symlink's target) appended to out. */
int remote_get_small(struct remote *re, const char *key, struct buf *out,
                     struct s3_error *err);
int remote_put(struct remote *re, const char *key, const struct s3_body *body,
               const struct s3_put_opts *opts, char **etag,
               struct s3_error *err);
int remote_delete(struct remote *re, const char *key, struct s3_error *err);
/* Deletes keys (at most S3_MAX_DELETE_BATCH); out lists what failed. */
int remote_delete_many(struct remote *re, const char *const *keys, size_t nkeys,
                       struct s3_delete_result *out, struct s3_error *err);
/*
 * Copies src to dst (any size). replace NULL keeps the metadata; if_match
 * (may be NULL) is the ETag src must still have.
 */
int remote_copy(struct remote *re, const char *src, const char *dst,
                uint64_t size, const struct s3_put_opts *replace,
                const char *if_match, char **etag, struct s3_error *err);
/*
 * Downloads the whole object into fd (from offset 0), size bytes when
 * size is known (else UINT64_MAX) and etag (may be NULL) the version
 * wanted: parallel ranged GETs, or in cluster mode parallel chunk reads
 * from the nodes. meta gets the object's metadata.
 */
int remote_download_fd(struct remote *re, const char *key, uint64_t size,
                       const char *etag, int fd, struct s3_object_meta *meta,
                       struct s3_error *err);
/* Uploads size bytes of fd (from 0): one PUT, or parallel multipart. */
int remote_upload_fd(struct remote *re, const char *key, int fd, uint64_t size,
                     const struct s3_put_opts *opts, char **etag,
                     struct s3_error *err);

int remote_mpu_create(struct remote *re, const char *key,
                      const struct s3_put_opts *opts, char **upload_id,
                      struct s3_error *err);
int remote_mpu_complete(struct remote *re, const char *key,
                        const char *upload_id, const struct s3_part *parts,
                        size_t nparts, char **etag, struct s3_error *err);
int remote_mpu_abort(struct remote *re, const char *key, const char *upload_id,
                     struct s3_error *err);

/* Requests in flight. */
struct remote_req;

struct remote_req *remote_head_start(struct remote *re, const char *key);
/* One part; offset is its place in the object (the nodes cache its chunks
 * when it falls on a chunk boundary). body is borrowed until the wait. */
struct remote_req *remote_part_start(struct remote *re, const char *key,
                                     const char *upload_id, int part,
                                     uint64_t offset,
                                     const struct s3_body *body);
/* Waits; 0 or -errno. */
int remote_req_wait(struct remote_req *r);
/* True once the request is done (remote_req_wait would not block). */
bool remote_req_done(struct remote_req *r);
/* After the wait: the HEAD's metadata, or the part's ETag in ->etag. */
const struct s3_object_meta *remote_req_meta(const struct remote_req *r);
const struct s3_error *remote_req_error(const struct remote_req *r);
/* Waits if needed, then frees. NULL is a no-op. */
void remote_req_free(struct remote_req *r);

#endif
