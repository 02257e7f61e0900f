/* SPDX-License-Identifier: MIT */
/*
 * s3_ops.c: the S3 operations, each a request description plus a function
 * that reads its answer (see s3.h). Building, signing and running requests
 * is s3.c's and s3_engine.c's job; this file only says what to send.
 */
#include "common/s3_int.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* --- answers ----------------------------------------------------------- */

static int s3_finish_etag_header(struct s3_req *req)
{
    if (!req->meta.etag[0])
        return 0; /* some servers omit it; callers cope with NULL */
    req->out_str = xstrdup(req->meta.etag);
    return 0;
}

static int s3_finish_etag_xml(struct s3_req *req)
{
    int rc =
        s3_xml_parse_etag_result(req->resp.data, req->resp.len, &req->out_str,
                                 &req->meta.mtime, &req->err);
    if (rc == -EIO) {
        int e = s3_error_to_errno(&req->err);
        return e ? -e : -EIO;
    }
    /* radosgw (16.2) sends the ETag of CopyObjectResult and CopyPartResult
     * without the quotes of its headers and listings: add them, so ETags
     * from every answer compare equal and work in If-Match. */
    if (rc == 0 && req->out_str && req->out_str[0] && req->out_str[0] != '"') {
        char *q = xasprintf("\"%s\"", req->out_str);

        free(req->out_str);
        req->out_str = q;
    }
    return rc;
}

static int s3_finish_initiate(struct s3_req *req)
{
    return s3_xml_parse_initiate(req->resp.data, req->resp.len, &req->out_str);
}

static int s3_finish_list(struct s3_req *req)
{
    return s3_xml_parse_list(req->resp.data, req->resp.len, &req->list);
}

static int s3_finish_delete(struct s3_req *req)
{
    return s3_xml_parse_delete(req->resp.data, req->resp.len, &req->del);
}

static int s3_finish_uploads(struct s3_req *req)
{
    return s3_xml_parse_uploads(req->resp.data, req->resp.len, &req->uploads);
}

/* --- request pieces ---------------------------------------------------- */

static int s3_add_put_opts(struct s3_req *req, const struct s3_put_opts *o)
{
    size_t i;

    if (!o)
        return 0;
    for (i = 0; i < o->nmeta; i++) {
        char name[256];

        if (!s3_header_value_ok(o->meta[i].value) ||
            strcspn(o->meta[i].name, " :\r\n\t") != strlen(o->meta[i].name))
            return -EINVAL;
        snprintf(name, sizeof(name), "x-amz-meta-%s", o->meta[i].name);
        s3_kvlist_add(&req->headers, name, o->meta[i].value);
    }
    if (o->content_type) {
        if (!s3_header_value_ok(o->content_type))
            return -EINVAL;
        s3_kvlist_add(&req->headers, "content-type", o->content_type);
    }
    if (o->storage_class) {
        if (!s3_header_value_ok(o->storage_class))
            return -EINVAL;
        s3_kvlist_add(&req->headers, "x-amz-storage-class", o->storage_class);
    }
    return 0;
}

static int s3_add_if_match(struct s3_req *req, const char *name,
                           const char *etag)
{
    if (!etag || !*etag)
        return 0;
    if (!s3_header_value_ok(etag))
        return -EINVAL;
    s3_kvlist_add(&req->headers, name, etag);
    return 0;
}

/* "x-amz-copy-source: /bucket/key", the key URI-encoded. */
static int s3_add_copy_source(struct s3_req *req, const char *bucket,
                              const char *key)
{
    struct buf v;
    int rc;

    buf_init(&v, 8192);
    rc = buf_append_byte(&v, '/');
    rc = rc ?: sigv4_uri_encode(&v, bucket, strlen(bucket), false);
    rc = rc ?: buf_append_byte(&v, '/');
    rc = rc ?: sigv4_uri_encode(&v, key, strlen(key), true);
    if (rc == 0)
        s3_kvlist_add(&req->headers, "x-amz-copy-source", buf_str(&v));
    buf_free(&v);
    return rc;
}

static void s3_set_body_owned(struct s3_req *req)
{
    req->body = (struct s3_body){
        .kind = S3_BODY_MEM,
        .data = req->body_owned.data,
        .len = req->body_owned.len,
    };
}

/* Content-MD5 (base64), which S3 requires on DeleteObjects. */
static void s3_add_content_md5(struct s3_req *req)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned char b64[64];
    unsigned int mdlen = 0;

    EVP_Digest(req->body.data, req->body.len, md, &mdlen, EVP_md5(), NULL);
    EVP_EncodeBlock(b64, md, (int)mdlen);
    s3_kvlist_add(&req->headers, "content-md5", (const char *)b64);
}

static void s3_add_part_query(struct s3_req *req, int part,
                              const char *upload_id)
{
    char num[16];

    snprintf(num, sizeof(num), "%d", part);
    s3_kvlist_add(&req->query, "partNumber", num);
    s3_kvlist_add(&req->query, "uploadId", upload_id);
}

static int s3_check_part(int part, const char *upload_id)
{
    if (part < 1 || part > S3_MAX_PARTS || !upload_id || !*upload_id)
        return -EINVAL;
    return 0;
}

/* --- asynchronous starts ----------------------------------------------- */

struct s3_req *s3_get_start(struct s3_client *c, const char *bucket,
                            const char *key, uint64_t off, uint64_t len,
                            const char *if_match, const struct s3_sink *sink,
                            s3_done_cb cb, void *arg)
{
    struct s3_req *req =
        s3_req_create(c, "GET", bucket, key, S3_REQ_IDEMPOTENT | S3_REQ_DATA);
    int rc = s3_check_key(key);

    if (sink)
        req->sink = *sink;
    if (len == 0)
        rc = rc ?: -EINVAL;
    if (rc == 0 && (off > 0 || len != UINT64_MAX)) {
        char range[64];

        if (len == UINT64_MAX)
            snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", off);
        else
            snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off,
                     off + len - 1);
        s3_kvlist_add(&req->headers, "range", range);
        req->has_range = true;
        req->range_off = off;
        req->range_len = len;
    }
    rc = rc ?: s3_add_if_match(req, "if-match", if_match);
    if (rc)
        return s3_req_fail(req, rc, cb, arg);
    return s3_req_launch(req, cb, arg);
}

struct s3_req *s3_put_start(struct s3_client *c, const char *bucket,
                            const char *key, const struct s3_body *body,
                            const struct s3_put_opts *opts, s3_done_cb cb,
                            void *arg)
{
    struct s3_req *req =
        s3_req_create(c, "PUT", bucket, key, S3_REQ_IDEMPOTENT | S3_REQ_DATA);
    int rc = s3_check_key(key);

    if (body)
        req->body = *body;
    if (req->body.len > S3_MAX_PUT_SIZE)
        rc = rc ?: -EFBIG;
    rc = rc ?: s3_add_put_opts(req, opts);
    req->finish = s3_finish_etag_header;
    if (rc)
        return s3_req_fail(req, rc, cb, arg);
    return s3_req_launch(req, cb, arg);
}

struct s3_req *s3_upload_part_start(struct s3_client *c, const char *bucket,
                                    const char *key, const char *upload_id,
                                    int part, const struct s3_body *body,
                                    s3_done_cb cb, void *arg)
{
    struct s3_req *req =
        s3_req_create(c, "PUT", bucket, key, S3_REQ_IDEMPOTENT | S3_REQ_DATA);
    int rc = s3_check_key(key);

    rc = rc ?: s3_check_part(part, upload_id);
    if (body)
        req->body = *body;
    if (req->body.len > S3_MAX_PART_SIZE)
        rc = rc ?: -EFBIG;
    if (rc == 0)
        s3_add_part_query(req, part, upload_id);
    req->finish = s3_finish_etag_header;
    if (rc)
        return s3_req_fail(req, rc, cb, arg);
    return s3_req_launch(req, cb, arg);
}

/* --- synchronous operations ------------------------------------------- */

/* Moves a request's metadata into the caller's struct. */
static void s3_take_meta(struct s3_req *req, struct s3_object_meta *meta)
{
    if (!meta)
        return;
    *meta = req->meta;
    s3_object_meta_init(&req->meta);
}

struct s3_req *s3_head_start(struct s3_client *c, const char *bucket,
                             const char *key, s3_done_cb cb, void *arg)
{
    struct s3_req *req =
        s3_req_create(c, "HEAD", bucket, key, S3_REQ_IDEMPOTENT);
    int rc = s3_check_key(key);

    if (rc)
        return s3_req_fail(req, rc, cb, arg);
    return s3_req_launch(req, cb, arg);
}

int s3_head(struct s3_client *c, const char *bucket, const char *key,
            struct s3_object_meta *meta, struct s3_error *err)
{
    struct s3_req *req = s3_head_start(c, bucket, key, NULL, NULL);
    int rc = s3_req_wait(req);

    if (meta)
        s3_object_meta_init(meta);
    if (err)
        *err = req->err;
    if (rc == 0)
        s3_take_meta(req, meta);
    s3_req_free(req);
    return rc;
}

int s3_get(struct s3_client *c, const char *bucket, const char *key,
           uint64_t off, uint64_t len, const char *if_match,
           const struct s3_sink *sink, struct s3_object_meta *meta,
           struct s3_error *err)
{
    struct s3_req *req;
    int rc;

    if (meta)
        s3_object_meta_init(meta);
    req = s3_get_start(c, bucket, key, off, len, if_match, sink, NULL, NULL);
    rc = s3_req_wait(req);
    if (err)
        *err = req->err;
    if (rc == 0)
        s3_take_meta(req, meta);
    s3_req_free(req);
    return rc;
}

static int s3_wait_str(struct s3_req *req, char **out, struct s3_error *err)
{
    int rc = s3_req_wait(req);

    if (err)
        *err = req->err;
    if (out)
        *out = rc == 0 ? s3_req_take_str(req) : NULL;
    s3_req_free(req);
    return rc;
}

int s3_put(struct s3_client *c, const char *bucket, const char *key,
           const struct s3_body *body, const struct s3_put_opts *opts,
           char **etag, struct s3_error *err)
{
    return s3_wait_str(s3_put_start(c, bucket, key, body, opts, NULL, NULL),
                       etag, err);
}

int s3_mpu_upload_part(struct s3_client *c, const char *bucket, const char *key,
                       const char *upload_id, int part,
                       const struct s3_body *body, char **etag,
                       struct s3_error *err)
{
    return s3_wait_str(
        s3_upload_part_start(c, bucket, key, upload_id, part, body, NULL, NULL),
        etag, err);
}

int s3_delete(struct s3_client *c, const char *bucket, const char *key,
              struct s3_error *err)
{
    struct s3_req *req =
        s3_req_create(c, "DELETE", bucket, key, S3_REQ_IDEMPOTENT);
    int rc = s3_check_key(key);

    if (rc)
        s3_req_fail(req, rc, NULL, NULL);
    rc = s3_req_execute(req, err);
    s3_req_free(req);
    return rc;
}

int s3_delete_many(struct s3_client *c, const char *bucket,
                   const char *const *keys, size_t nkeys,
                   struct s3_delete_result *out, struct s3_error *err)
{
    struct s3_req *req =
        s3_req_create(c, "POST", bucket, NULL, S3_REQ_IDEMPOTENT | S3_REQ_XML);
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (nkeys == 0 || nkeys > S3_MAX_DELETE_BATCH)
        rc = -EINVAL;
    s3_kvlist_add(&req->query, "delete", "");
    rc = rc ?: s3_xml_build_delete(&req->body_owned, keys, nkeys, false);
    s3_set_body_owned(req);
    if (rc == 0) {
        s3_add_content_md5(req);
        s3_kvlist_add(&req->headers, "content-type", "application/xml");
    }
    req->finish = s3_finish_delete;
    if (rc)
        s3_req_fail(req, rc, NULL, NULL);
    rc = s3_req_execute(req, err);
    if (rc == 0) {
        *out = req->del;
        memset(&req->del, 0, sizeof(req->del));
    }
    s3_req_free(req);
    return rc;
}

int s3_copy(struct s3_client *c, const char *src_bucket, const char *src_key,
            const char *dst_bucket, const char *dst_key,
            const struct s3_put_opts *replace, const char *if_match,
            char **etag, struct s3_error *err)
{
    struct s3_req *req = s3_req_create(c, "PUT", dst_bucket, dst_key,
                                       S3_REQ_IDEMPOTENT | S3_REQ_XML);
    int rc = s3_check_key(src_key);

    rc = rc ?: s3_check_key(dst_key);
    rc = rc ?: s3_add_copy_source(req, src_bucket, src_key);
    if (rc == 0)
        s3_kvlist_add(&req->headers, "x-amz-metadata-directive",
                      replace ? "REPLACE" : "COPY");
    rc = rc ?: s3_add_put_opts(req, replace);
    rc = rc ?: s3_add_if_match(req, "x-amz-copy-source-if-match", if_match);
    req->finish = s3_finish_etag_xml;
    if (rc)
        s3_req_fail(req, rc, NULL, NULL);
    return s3_wait_str(req->done ? req : s3_req_launch(req, NULL, NULL), etag,
                       err);
}

int s3_list(struct s3_client *c, const char *bucket,
            const struct s3_list_opts *o, struct s3_list_result *out,
            struct s3_error *err)
{
    struct s3_req *req =
        s3_req_create(c, "GET", bucket, NULL, S3_REQ_IDEMPOTENT | S3_REQ_XML);
    int rc;

    memset(out, 0, sizeof(*out));
    s3_kvlist_add(&req->query, "list-type", "2");
    /* Keys may hold characters XML 1.0 cannot carry; the parser decodes. */
    s3_kvlist_add(&req->query, "encoding-type", "url");
    if (o && o->prefix)
        s3_kvlist_add(&req->query, "prefix", o->prefix);
    if (o && o->delimiter)
        s3_kvlist_add(&req->query, "delimiter", o->delimiter);
    if (o && o->start_after)
        s3_kvlist_add(&req->query, "start-after", o->start_after);
    if (o && o->continuation)
        s3_kvlist_add(&req->query, "continuation-token", o->continuation);
    if (o && o->max_keys > 0) {
        char n[16];

        snprintf(n, sizeof(n), "%d", o->max_keys);
        s3_kvlist_add(&req->query, "max-keys", n);
    }
    req->finish = s3_finish_list;
    rc = s3_req_execute(req, err);
    if (rc == 0) {
        *out = req->list;
        memset(&req->list, 0, sizeof(req->list));
    }
    s3_req_free(req);
    return rc;
}

int s3_mpu_create(struct s3_client *c, const char *bucket, const char *key,
                  const struct s3_put_opts *opts, char **upload_id,
                  struct s3_error *err)
{
    /* Not idempotent: a retry after a lost answer leaves an orphan upload
     * behind, so only "did nothing" failures are retried (s3_engine.c). */
    struct s3_req *req = s3_req_create(c, "POST", bucket, key, S3_REQ_XML);
    int rc = s3_check_key(key);

    s3_kvlist_add(&req->query, "uploads", "");
    rc = rc ?: s3_add_put_opts(req, opts);
    req->finish = s3_finish_initiate;
    if (rc)
        s3_req_fail(req, rc, NULL, NULL);
    return s3_wait_str(req->done ? req : s3_req_launch(req, NULL, NULL),
                       upload_id, err);
}

int s3_mpu_upload_part_copy(struct s3_client *c, const char *bucket,
                            const char *key, const char *upload_id, int part,
                            const char *src_bucket, const char *src_key,
                            uint64_t off, uint64_t len, char **etag,
                            struct s3_error *err)
{
    struct s3_req *req =
        s3_req_create(c, "PUT", bucket, key, S3_REQ_IDEMPOTENT | S3_REQ_XML);
    char range[64];
    int rc = s3_check_key(key);

    rc = rc ?: s3_check_key(src_key);
    rc = rc ?: s3_check_part(part, upload_id);
    if (len == 0 || len > S3_MAX_PART_SIZE)
        rc = rc ?: -EINVAL;
    rc = rc ?: s3_add_copy_source(req, src_bucket, src_key);
    if (rc == 0) {
        snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off,
                 off + len - 1);
        s3_kvlist_add(&req->headers, "x-amz-copy-source-range", range);
        s3_add_part_query(req, part, upload_id);
    }
    req->finish = s3_finish_etag_xml;
    if (rc)
        s3_req_fail(req, rc, NULL, NULL);
    return s3_wait_str(req->done ? req : s3_req_launch(req, NULL, NULL), etag,
                       err);
}

int s3_mpu_complete(struct s3_client *c, const char *bucket, const char *key,
                    const char *upload_id, const struct s3_part *parts,
                    size_t nparts, char **etag, struct s3_error *err)
{
    struct s3_req *req = s3_req_create(c, "POST", bucket, key, S3_REQ_XML);
    int rc = s3_check_key(key);

    if (!upload_id || !*upload_id || nparts == 0 || nparts > S3_MAX_PARTS)
        rc = rc ?: -EINVAL;
    if (rc == 0)
        s3_kvlist_add(&req->query, "uploadId", upload_id);
    rc = rc ?: s3_xml_build_complete(&req->body_owned, parts, nparts);
    s3_set_body_owned(req);
    if (rc == 0)
        s3_kvlist_add(&req->headers, "content-type", "application/xml");
    req->finish = s3_finish_etag_xml;
    if (rc)
        s3_req_fail(req, rc, NULL, NULL);
    rc = s3_wait_str(req->done ? req : s3_req_launch(req, NULL, NULL), etag,
                     err);
    if (rc == 0 && etag && (!*etag || !**etag || strcmp(*etag, "\"\"") == 0)) {
        /* Some servers (radosgw) answer with an empty ETag: ask for it. */
        struct s3_object_meta m;

        free(*etag);
        *etag = NULL;
        if (s3_head(c, bucket, key, &m, NULL) == 0) {
            *etag = xstrdup(m.etag);
            s3_object_meta_fini(&m);
        }
    }
    return rc;
}

int s3_mpu_abort(struct s3_client *c, const char *bucket, const char *key,
                 const char *upload_id, struct s3_error *err)
{
    struct s3_req *req =
        s3_req_create(c, "DELETE", bucket, key, S3_REQ_IDEMPOTENT);
    int rc = s3_check_key(key);

    if (!upload_id || !*upload_id)
        rc = rc ?: -EINVAL;
    if (rc == 0)
        s3_kvlist_add(&req->query, "uploadId", upload_id);
    if (rc)
        s3_req_fail(req, rc, NULL, NULL);
    rc = s3_req_execute(req, err);
    /* A retried abort whose first attempt succeeded finds nothing left. */
    if (rc == -ENOENT && req->err.attempts > 1)
        rc = 0;
    s3_req_free(req);
    return rc;
}

int s3_mpu_list(struct s3_client *c, const char *bucket, const char *prefix,
                const char *key_marker, const char *upload_id_marker,
                struct s3_uploads_result *out, struct s3_error *err)
{
    struct s3_req *req =
        s3_req_create(c, "GET", bucket, NULL, S3_REQ_IDEMPOTENT | S3_REQ_XML);
    int rc;

    memset(out, 0, sizeof(*out));
    s3_kvlist_add(&req->query, "uploads", "");
    /* No encoding-type=url: radosgw (16.2) then URL-encodes the keys but
     * sends no <EncodingType>, so they cannot be told from keys that
     * really contain '%'. Uploads are listed rarely (cleanup). */
    if (prefix)
        s3_kvlist_add(&req->query, "prefix", prefix);
    if (key_marker)
        s3_kvlist_add(&req->query, "key-marker", key_marker);
    if (upload_id_marker)
        s3_kvlist_add(&req->query, "upload-id-marker", upload_id_marker);
    req->finish = s3_finish_uploads;
    rc = s3_req_execute(req, err);
    if (rc == 0) {
        *out = req->uploads;
        memset(&req->uploads, 0, sizeof(req->uploads));
    }
    s3_req_free(req);
    return rc;
}

static int s3_bucket_simple(struct s3_client *c, const char *method,
                            const char *bucket, struct s3_error *err)
{
    struct s3_req *req =
        s3_req_create(c, method, bucket, NULL, S3_REQ_IDEMPOTENT);
    int rc;

    if (strcmp(method, "PUT") == 0 && strcmp(c->cfg.region, "us-east-1")) {
        buf_appendf(&req->body_owned,
                    "<CreateBucketConfiguration><LocationConstraint>%s"
                    "</LocationConstraint></CreateBucketConfiguration>",
                    c->cfg.region);
        s3_set_body_owned(req);
    }
    rc = s3_req_execute(req, err);
    s3_req_free(req);
    return rc;
}

int s3_bucket_create(struct s3_client *c, const char *bucket,
                     struct s3_error *err)
{
    return s3_bucket_simple(c, "PUT", bucket, err);
}

int s3_bucket_delete(struct s3_client *c, const char *bucket,
                     struct s3_error *err)
{
    return s3_bucket_simple(c, "DELETE", bucket, err);
}

int s3_bucket_head(struct s3_client *c, const char *bucket,
                   struct s3_error *err)
{
    return s3_bucket_simple(c, "HEAD", bucket, err);
}
