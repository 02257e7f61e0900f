/* SPDX-License-Identifier: MIT */
/*
 * remote.h: the object store as the mount reaches it: S3 itself
 * (standalone mode, fs->s3) or the cache nodes' metadata proxy (cluster
 * mode, fs->cluster; docs/protocol.md "Metadata proxy").
 *
 * The FUSE operations call these and never s3_* or cluster_* directly, so
 * both modes share every operation. The calls take and give the S3
 * client's types (struct s3_object_meta, s3_list_result, s3_error), and
 * return 0 or -errno as common/s3.h does; in cluster mode the error is the
 * node's (its code and message, the status it answered), mapped to an
 * errno by the same table (s3_error_to_errno), so a request the user's
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

struct fs;

int remote_head(struct fs *fs, const char *key, struct s3_object_meta *meta,
                struct s3_error *err);
int remote_list(struct fs *fs, const struct s3_list_opts *opts,
                struct s3_list_result *out, struct s3_error *err);
/* The whole object (small: a symlink's target) appended to out. */
int remote_get_small(struct fs *fs, const char *key, struct buf *out,
                     struct s3_error *err);
int remote_put(struct fs *fs, const char *key, const struct s3_body *body,
               const struct s3_put_opts *opts, char **etag,
               struct s3_error *err);
int remote_delete(struct fs *fs, const char *key, struct s3_error *err);
/* Deletes keys (at most S3_MAX_DELETE_BATCH); out lists what failed. */
int remote_delete_many(struct fs *fs, const char *const *keys, size_t nkeys,
                       struct s3_delete_result *out, struct s3_error *err);
/*
 * Copies src to dst (any size). replace NULL keeps the metadata; if_match
 * (may be NULL) is the ETag src must still have.
 */
int remote_copy(struct fs *fs, const char *src, const char *dst, uint64_t size,
                const struct s3_put_opts *replace, const char *if_match,
                char **etag, struct s3_error *err);
/* Uploads size bytes of fd (from 0): one PUT, or parallel multipart. */
int remote_upload_fd(struct fs *fs, const char *key, int fd, uint64_t size,
                     const struct s3_put_opts *opts, char **etag,
                     struct s3_error *err);

int remote_mpu_create(struct fs *fs, const char *key,
                      const struct s3_put_opts *opts, char **upload_id,
                      struct s3_error *err);
int remote_mpu_complete(struct fs *fs, const char *key, const char *upload_id,
                        const struct s3_part *parts, size_t nparts, char **etag,
                        struct s3_error *err);
int remote_mpu_abort(struct fs *fs, const char *key, const char *upload_id,
                     struct s3_error *err);

/* Requests in flight. */
struct remote_req;

struct remote_req *remote_head_start(struct fs *fs, const char *key);
/* One part; offset is its place in the object (the nodes cache its chunks
 * when it falls on a chunk boundary). body is borrowed until the wait. */
struct remote_req *remote_part_start(struct fs *fs, const char *key,
                                     const char *upload_id, int part,
                                     uint64_t offset,
                                     const struct s3_body *body);
/* Waits; 0 or -errno. */
int remote_req_wait(struct remote_req *r);
/* After the wait: the HEAD's metadata, or the part's ETag in ->etag. */
const struct s3_object_meta *remote_req_meta(const struct remote_req *r);
const struct s3_error *remote_req_error(const struct remote_req *r);
/* Waits if needed, then frees. NULL is a no-op. */
void remote_req_free(struct remote_req *r);

#endif
