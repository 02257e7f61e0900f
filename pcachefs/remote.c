/* SPDX-License-Identifier: MIT */
/*
 * remote.c: the object store behind a mount: S3, or the cache nodes
 * (remote.h).
 *
 * DESIGN
 * Each call is one branch: standalone goes straight to common/s3.h;
 * cluster mode builds the node request of docs/protocol.md ("Metadata
 * proxy"), sends it with cluster_call (the key's owner node first, the
 * next ones when it cannot be reached) and turns the JSON answer back
 * into the S3 client's types. A node's error becomes a struct s3_error
 * (status, code, message), so errno mapping and messages are the same in
 * both modes.
 *
 * Writes in cluster mode carry the pbucket's chunk size, and parts their
 * offset, so the nodes keep what passes through them as chunks of the new
 * version: reading back what was just written is a cache hit.
 */
#include "pcachefs/remote.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/chunk.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/s3_transfer.h"
#include "pcachefs/cluster.h"

/* Largest body sent to a node in one request (pcpd's max_body_size is
 * 64M by default). */
#define RM_MAX_BODY (32ull << 20)
#define RM_MAX_HDRS 64

/* ---- Cluster mode: requests --------------------------------------------- */

/* "/v1/meta/PB[/KEY]" with query appended as is (may be NULL). */
static char *rm_path(const struct remote *re, const char *key,
                     const char *query)
{
    char *pb = cluster_escape(cluster_pbucket(re->cluster));
    char *k = key ? cluster_escape(key) : NULL;
    char *p = xasprintf("/v1/meta/%s%s%s%s%s", pb, k ? "/" : "", k ? k : "",
                        query ? "?" : "", query ? query : "");

    free(pb);
    free(k);
    return p;
}

/* Header lines for an object's metadata, Content-Type and storage class;
 * owned strings in hdrs[0..return). */
static size_t rm_put_headers(const struct s3_put_opts *o, char **hdrs)
{
    size_t n = 0, i;

    if (!o)
        return 0;
    for (i = 0; i < o->nmeta && n < RM_MAX_HDRS - 2; i++)
        hdrs[n++] =
            xasprintf("X-Amz-Meta-%s: %s", o->meta[i].name, o->meta[i].value);
    if (o->content_type)
        hdrs[n++] = xasprintf("Content-Type: %s", o->content_type);
    if (o->storage_class)
        hdrs[n++] = xasprintf("X-Amz-Storage-Class: %s", o->storage_class);
    return n;
}

static void rm_free_headers(char **hdrs, size_t n)
{
    while (n)
        free(hdrs[--n]);
}

/*
 * The node's answer as an errno; on failure err gets the node's status,
 * code and message. 0 for a 2xx.
 */
static int rm_status(const struct cluster_reply *r, const char *what,
                     struct s3_error *err)
{
    struct s3_error local;
    json_t *j;

    if (!err)
        err = &local;
    s3_error_clear(err);
    if (r->status >= 200 && r->status < 300)
        return 0;
    j = json_loads(r->body ? r->body : "", 0, NULL);
    s3_error_set(err, (int)r->status,
                 json_string_value(json_object_get(j, "error")),
                 json_string_value(json_object_get(j, "message")));
    json_decref(j);
    if (r->status == 401 || r->status == 403)
        log_info("cluster: %s: denied by the node (%ld %s)", what, r->status,
                 err->code);
    return -s3_error_to_errno(err);
}

/*
 * Sends a request; 0 with *reply (JSON, the caller's; NULL when the body
 * was empty or not wanted) or -errno with err filled.
 */
static int rm_call(struct remote *re, struct cluster_call *call, json_t **reply,
                   struct s3_error *err)
{
    struct cluster_reply r;
    int rc;

    if (reply)
        *reply = NULL;
    rc = cluster_call(re->cluster, call, &r);
    if (rc < 0) {
        if (err) {
            s3_error_clear(err);
            s3_error_set(err, 0, "NoNode", "no cache node answered");
        }
        return -EIO;
    }
    rc = rm_status(&r, call->path, err);
    if (rc == 0 && reply && r.len) {
        *reply = json_loadb(r.body, r.len, 0, NULL);
        if (!*reply) {
            if (err)
                s3_error_set(err, (int)r.status, "BadReply",
                             "a node answered with invalid JSON");
            rc = -EIO;
        }
    }
    cluster_reply_fini(&r);
    return rc;
}

/* The string field name of reply, owned copy, or NULL. */
static char *rm_str(const json_t *reply, const char *name)
{
    const char *v = json_string_value(json_object_get(reply, name));

    return v && *v ? xstrdup(v) : NULL;
}

/*
 * rm_call for an answer {"etag": E}: *etag (may be NULL: not wanted) gets
 * an owned copy. With need, an answer without one is -EIO.
 */
static int rm_call_etag(struct remote *re, struct cluster_call *call,
                        char **etag, bool need, struct s3_error *err)
{
    char *e = NULL;
    json_t *j;
    int rc;

    if (etag)
        *etag = NULL;
    rc = rm_call(re, call, &j, err);
    if (rc == 0 && !(e = rm_str(j, "etag")) && need)
        rc = -EIO;
    json_decref(j);
    if (rc == 0 && etag)
        *etag = e;
    else
        free(e);
    return rc;
}

static void rm_call_init(struct cluster_call *call, const char *method,
                         const char *key, const char *path, bool retry)
{
    memset(call, 0, sizeof(*call));
    call->method = method;
    call->key = key;
    call->path = path;
    call->body_fd = -1;
    call->retry = retry;
}

static void rm_call_body(struct cluster_call *call, const struct s3_body *b)
{
    if (!b || b->kind == S3_BODY_NONE) {
        call->body = "";
        call->body_len = 0;
    } else if (b->kind == S3_BODY_MEM) {
        call->body = b->data ? b->data : "";
        call->body_len = b->len;
    } else {
        call->body_fd = b->fd;
        call->body_off = b->off;
        call->body_len = b->len;
    }
}

/* ---- Cluster mode: operations ------------------------------------------- */

static void rm_meta_take(const json_t *j, struct s3_object_meta *m)
{
    const json_t *user = json_object_get(j, "meta"), *v;
    const char *name;
    size_t n = 0;

    m->size = (int64_t)json_integer_value(json_object_get(j, "size"));
    m->mtime = (time_t)json_integer_value(json_object_get(j, "mtime"));
    snprintf(m->etag, sizeof(m->etag), "%s",
             json_string_value(json_object_get(j, "etag")) ?: "");
    snprintf(m->content_type, sizeof(m->content_type), "%s",
             json_string_value(json_object_get(j, "content_type")) ?: "");
    snprintf(m->storage_class, sizeof(m->storage_class), "%s",
             json_string_value(json_object_get(j, "storage_class")) ?: "");
    if (!json_is_object(user) || json_object_size(user) == 0)
        return;
    m->user = xcalloc(json_object_size(user), sizeof(*m->user));
    json_object_foreach((json_t *)user, name, v)
    {
        char *lower = xstrdup(name), *p;

        if (!json_is_string(v)) {
            free(lower);
            continue;
        }
        for (p = lower; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        m->user[n].name = lower;
        m->user[n++].value = xstrdup(json_string_value(v));
    }
    m->nuser = n;
}

static int rm_head(struct remote *re, const char *key, struct s3_object_meta *m,
                   struct s3_error *err)
{
    char *path = rm_path(re, key, NULL);
    struct cluster_call call;
    json_t *j;
    int rc;

    s3_object_meta_init(m);
    rm_call_init(&call, "GET", key, path, true);
    rc = rm_call(re, &call, &j, err);
    if (rc == 0 && !j)
        rc = -EIO;
    if (rc == 0)
        rm_meta_take(j, m);
    json_decref(j);
    free(path);
    return rc;
}

/* Appends "&name=escaped value" when value is set. */
static void rm_query(struct buf *q, const char *name, const char *value)
{
    char *e;

    if (!value)
        return;
    e = cluster_escape(value);
    buf_appendf(q, "%s%s=%s", q->len ? "&" : "", name, e);
    free(e);
}

static int rm_list(struct remote *re, const struct s3_list_opts *o,
                   struct s3_list_result *out, struct s3_error *err)
{
    const json_t *objs, *pfx, *it;
    struct cluster_call call;
    struct buf q;
    char *path, num[16];
    json_t *j;
    size_t i;
    int rc;

    memset(out, 0, sizeof(*out));
    buf_init(&q, 16384);
    rm_query(&q, "prefix", o->prefix);
    rm_query(&q, "delimiter", o->delimiter);
    rm_query(&q, "start_after", o->start_after);
    rm_query(&q, "continuation", o->continuation);
    snprintf(num, sizeof(num), "%d", o->max_keys);
    rm_query(&q, "max_keys", o->max_keys > 0 ? num : NULL);
    path = rm_path(re, NULL, q.len ? buf_str(&q) : NULL);
    buf_free(&q);
    rm_call_init(&call, "GET", o->prefix ? o->prefix : "", path, true);
    rc = rm_call(re, &call, &j, err);
    free(path);
    objs = json_object_get(j, "objects");
    pfx = json_object_get(j, "prefixes");
    if (rc == 0 && (!json_is_array(objs) || !json_is_array(pfx)))
        rc = -EIO;
    if (rc) {
        json_decref(j);
        return rc;
    }
    out->objects = xcalloc(json_array_size(objs) + 1, sizeof(*out->objects));
    json_array_foreach(objs, i, it)
    {
        struct s3_object_info *oi = &out->objects[out->nobjects];
        const char *k = json_string_value(json_object_get(it, "key"));

        if (!k)
            continue;
        oi->key = xstrdup(k);
        oi->size = (int64_t)json_integer_value(json_object_get(it, "size"));
        oi->etag =
            xstrdup(json_string_value(json_object_get(it, "etag")) ?: "");
        oi->mtime = (time_t)json_integer_value(json_object_get(it, "mtime"));
        oi->storage_class = rm_str(it, "storage_class");
        out->nobjects++;
    }
    out->prefixes = xcalloc(json_array_size(pfx) + 1, sizeof(char *));
    json_array_foreach(pfx, i, it)
    {
        if (json_is_string(it))
            out->prefixes[out->nprefixes++] = xstrdup(json_string_value(it));
    }
    out->truncated = json_is_true(json_object_get(j, "truncated"));
    out->next_token = rm_str(j, "next");
    json_decref(j);
    return 0;
}

static int rm_get_small(struct remote *re, const char *key, struct buf *out,
                        struct s3_error *err)
{
    struct cluster_chunk_ref ref = {.key = key};
    struct s3_object_meta m;
    size_t got = 0;
    int rc;

    rc = rm_head(re, key, &m, err);
    if (rc == 0 && (m.size < 0 || (uint64_t)m.size > out->max ||
                    (uint64_t)m.size > cluster_chunk_size(re->cluster)))
        rc = -EMSGSIZE;
    if (rc == 0 && m.size > 0) {
        ref.etag = m.etag;
        ref.len = (uint64_t)m.size;
        rc = buf_reserve(out, (size_t)m.size + 1);
        rc = rc ?: cluster_get(re->cluster, &ref, out->data + out->len, &got);
        if (rc == 0 && got != (size_t)m.size)
            rc = -EIO;
        if (rc == 0) {
            out->len += got;
            out->data[out->len] = '\0';
        }
    }
    s3_object_meta_fini(&m);
    return rc;
}

static int rm_put(struct remote *re, const char *key,
                  const struct s3_body *body, const struct s3_put_opts *o,
                  char **etag, struct s3_error *err)
{
    char *hdrs[RM_MAX_HDRS], query[48], *path;
    size_t nh = rm_put_headers(o, hdrs);
    struct cluster_call call;
    int rc;

    snprintf(query, sizeof(query), "chunk_size=%" PRIu64,
             cluster_chunk_size(re->cluster));
    path = rm_path(re, key, query);
    rm_call_init(&call, "PUT", key, path, true);
    call.headers = (const char *const *)hdrs;
    call.nheaders = nh;
    rm_call_body(&call, body);
    rc = rm_call_etag(re, &call, etag, false, err);
    rm_free_headers(hdrs, nh);
    free(path);
    return rc;
}

static int rm_delete(struct remote *re, const char *key, struct s3_error *err)
{
    char *path = rm_path(re, key, NULL);
    struct cluster_call call;
    int rc;

    rm_call_init(&call, "DELETE", key, path, true);
    rc = rm_call(re, &call, NULL, err);
    free(path);
    return rc;
}

static int rm_copy(struct remote *re, const char *src, const char *dst,
                   const struct s3_put_opts *replace, const char *if_match,
                   char **etag, struct s3_error *err)
{
    char *hdrs[RM_MAX_HDRS], *path;
    size_t nh = rm_put_headers(replace, hdrs);
    struct cluster_call call;
    struct buf q;
    int rc;

    buf_init(&q, 16384);
    rm_query(&q, "copy_from", src);
    rm_query(&q, "metadata", replace ? "replace" : NULL);
    rm_query(&q, "if_match", if_match);
    path = rm_path(re, dst, buf_str(&q));
    buf_free(&q);
    rm_call_init(&call, "PUT", dst, path, true);
    call.headers = (const char *const *)hdrs;
    call.nheaders = nh;
    rc = rm_call_etag(re, &call, etag, false, err);
    rm_free_headers(hdrs, nh);
    free(path);
    return rc;
}

static int rm_mpu_create(struct remote *re, const char *key,
                         const struct s3_put_opts *o, char **upload_id,
                         struct s3_error *err)
{
    char *hdrs[RM_MAX_HDRS], *path = rm_path(re, key, "uploads");
    size_t nh = rm_put_headers(o, hdrs);
    struct cluster_call call;
    json_t *j;
    int rc;

    *upload_id = NULL;
    rm_call_init(&call, "POST", key, path, false);
    call.headers = (const char *const *)hdrs;
    call.nheaders = nh;
    rc = rm_call(re, &call, &j, err);
    if (rc == 0 && !(*upload_id = rm_str(j, "upload_id")))
        rc = -EIO;
    json_decref(j);
    rm_free_headers(hdrs, nh);
    free(path);
    return rc;
}

/* "upload_id=U" escaped, owned. */
static char *rm_upload_query(const char *upload_id)
{
    char *e = cluster_escape(upload_id), *q = xasprintf("upload_id=%s", e);

    free(e);
    return q;
}

static int rm_part(struct remote *re, const char *key, const char *upload_id,
                   int part, uint64_t offset, const struct s3_body *body,
                   char **etag, struct s3_error *err)
{
    uint64_t cs = cluster_chunk_size(re->cluster);
    char *uq = rm_upload_query(upload_id), *q, *path;
    struct cluster_call call;
    int rc;

    if (offset % cs == 0)
        q = xasprintf("%s&part=%d&offset=%" PRIu64 "&chunk_size=%" PRIu64, uq,
                      part, offset, cs);
    else
        q = xasprintf("%s&part=%d", uq, part);
    path = rm_path(re, key, q);
    rm_call_init(&call, "PUT", key, path, true);
    rm_call_body(&call, body);
    rc = rm_call_etag(re, &call, etag, true, err);
    free(path);
    free(q);
    free(uq);
    return rc;
}

static int rm_mpu_complete(struct remote *re, const char *key,
                           const char *upload_id, const struct s3_part *parts,
                           size_t nparts, char **etag, struct s3_error *err)
{
    char *uq = rm_upload_query(upload_id), *path = rm_path(re, key, uq);
    const char *hdr = "Content-Type: application/json";
    json_t *doc = json_object(), *arr = json_array();
    struct cluster_call call;
    char *body;
    size_t i;
    int rc;

    for (i = 0; i < nparts; i++)
        json_array_append_new(arr,
                              json_pack("{s:i, s:s}", "part", parts[i].number,
                                        "etag", parts[i].etag));
    json_object_set_new(doc, "parts", arr);
    body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!body)
        abort(); /* out of memory, as xmalloc */
    rm_call_init(&call, "POST", key, path, false);
    call.headers = &hdr;
    call.nheaders = 1;
    call.body = body;
    call.body_len = strlen(body);
    rc = rm_call_etag(re, &call, etag, false, err);
    free(body);
    free(path);
    free(uq);
    return rc;
}

static int rm_mpu_abort(struct remote *re, const char *key,
                        const char *upload_id, struct s3_error *err)
{
    char *uq = rm_upload_query(upload_id), *path = rm_path(re, key, uq);
    struct cluster_call call;
    int rc;

    rm_call_init(&call, "DELETE", key, path, true);
    rc = rm_call(re, &call, NULL, err);
    free(path);
    free(uq);
    return rc;
}

/* ---- Requests in flight -------------------------------------------------- */

enum rm_kind { RM_HEAD, RM_PART };

struct remote_req {
    struct remote *re;
    struct s3_req *s3; /* standalone */
    /* Cluster mode: run on a fetch thread (cluster_run). */
    enum rm_kind kind;
    char *key, *upload_id;
    int part;
    uint64_t offset;
    struct s3_body body;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int rc;
    struct s3_object_meta meta;
    struct s3_error err;
};

static void rm_req_run(void *arg)
{
    struct remote_req *r = arg;
    char *etag = NULL;
    int rc;

    if (r->kind == RM_HEAD) {
        rc = rm_head(r->re, r->key, &r->meta, &r->err);
    } else {
        rc = rm_part(r->re, r->key, r->upload_id, r->part, r->offset, &r->body,
                     &etag, &r->err);
        snprintf(r->meta.etag, sizeof(r->meta.etag), "%s", etag ? etag : "");
        free(etag);
    }
    pthread_mutex_lock(&r->lock);
    r->rc = rc;
    r->done = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static struct remote_req *rm_req_new(struct remote *re, enum rm_kind kind,
                                     const char *key)
{
    struct remote_req *r = xcalloc(1, sizeof(*r));

    r->re = re;
    r->kind = kind;
    r->key = xstrdup(key);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    s3_object_meta_init(&r->meta);
    return r;
}

static struct remote_req *rm_req_submit(struct remote_req *r)
{
    if (cluster_run(r->re->cluster, rm_req_run, r) < 0)
        rm_req_run(r); /* queue full: here and now */
    return r;
}

struct remote_req *remote_head_start(struct remote *re, const char *key)
{
    struct remote_req *r;

    if (!re->cluster) {
        r = xcalloc(1, sizeof(*r));
        r->re = re;
        r->s3 = s3_head_start(re->s3, re->bucket, key, NULL, NULL);
        return r;
    }
    return rm_req_submit(rm_req_new(re, RM_HEAD, key));
}

struct remote_req *remote_part_start(struct remote *re, const char *key,
                                     const char *upload_id, int part,
                                     uint64_t offset,
                                     const struct s3_body *body)
{
    struct remote_req *r;

    if (!re->cluster) {
        r = xcalloc(1, sizeof(*r));
        r->re = re;
        r->s3 = s3_upload_part_start(re->s3, re->bucket, key, upload_id, part,
                                     body, NULL, NULL);
        return r;
    }
    r = rm_req_new(re, RM_PART, key);
    r->upload_id = xstrdup(upload_id);
    r->part = part;
    r->offset = offset;
    r->body = *body;
    return rm_req_submit(r);
}

int remote_req_wait(struct remote_req *r)
{
    int rc;

    if (r->s3)
        return s3_req_wait(r->s3);
    pthread_mutex_lock(&r->lock);
    while (!r->done)
        pthread_cond_wait(&r->cond, &r->lock);
    rc = r->rc;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

bool remote_req_done(struct remote_req *r)
{
    bool done;

    if (r->s3)
        return s3_req_done(r->s3);
    pthread_mutex_lock(&r->lock);
    done = r->done;
    pthread_mutex_unlock(&r->lock);
    return done;
}

const struct s3_object_meta *remote_req_meta(const struct remote_req *r)
{
    return r->s3 ? s3_req_meta(r->s3) : &r->meta;
}

const struct s3_error *remote_req_error(const struct remote_req *r)
{
    return r->s3 ? s3_req_error(r->s3) : &r->err;
}

void remote_req_free(struct remote_req *r)
{
    if (!r)
        return;
    if (r->s3) {
        s3_req_free(r->s3);
        free(r);
        return;
    }
    remote_req_wait(r);
    s3_object_meta_fini(&r->meta);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r->key);
    free(r->upload_id);
    free(r);
}

/* ---- Cluster mode: whole uploads --------------------------------------- */

/* Parallel multipart upload of fd through the nodes. */
static int rm_upload_parts(struct remote *re, const char *key, int fd,
                           uint64_t size, const struct s3_put_opts *o,
                           char **etag, struct s3_error *err)
{
    uint64_t cs = cluster_chunk_size(re->cluster);
    uint64_t ps = re->part_size;
    size_t n, i, window = re->parallel, k;
    struct remote_req **reqs;
    struct s3_body *bodies;
    struct s3_part *parts;
    char **etags, *upload = NULL;
    int rc, rc2;

    /* Parts on chunk boundaries (cached by the node), within a body. */
    ps = (ps + cs - 1) / cs * cs;
    if (ps > RM_MAX_BODY)
        ps = RM_MAX_BODY / cs * cs;
    while ((size + ps - 1) / ps > S3_MAX_PARTS)
        ps *= 2;
    n = (size_t)((size + ps - 1) / ps);
    rc = rm_mpu_create(re, key, o, &upload, err);
    if (rc)
        return rc;
    reqs = xcalloc(n, sizeof(*reqs));
    bodies = xcalloc(n, sizeof(*bodies));
    parts = xcalloc(n, sizeof(*parts));
    etags = xcalloc(n, sizeof(*etags));
    if (window == 0)
        window = 4;
    for (i = 0; i < n; i++) {
        uint64_t off = i * ps;

        if (i >= window) {
            k = i - window;
            rc2 = remote_req_wait(reqs[k]);
            if (rc2 && !rc) {
                rc = rc2;
                if (err)
                    *err = *remote_req_error(reqs[k]);
            }
        }
        if (rc)
            break;
        bodies[i] = (struct s3_body){.kind = S3_BODY_FD,
                                     .fd = fd,
                                     .off = off,
                                     .len = size - off < ps ? size - off : ps};
        reqs[i] =
            remote_part_start(re, key, upload, (int)i + 1, off, &bodies[i]);
    }
    for (i = 0; i < n; i++) {
        if (!reqs[i])
            continue;
        rc2 = remote_req_wait(reqs[i]);
        if (rc2 && !rc) {
            rc = rc2;
            if (err)
                *err = *remote_req_error(reqs[i]);
        }
        etags[i] = xstrdup(remote_req_meta(reqs[i])->etag);
        parts[i] = (struct s3_part){(int)i + 1, etags[i]};
        remote_req_free(reqs[i]);
    }
    if (rc == 0)
        rc = rm_mpu_complete(re, key, upload, parts, n, etag, err);
    else
        rm_mpu_abort(re, key, upload, NULL);
    for (i = 0; i < n; i++)
        free(etags[i]);
    free(etags);
    free(parts);
    free(bodies);
    free(reqs);
    free(upload);
    return rc;
}

/* ---- Cluster mode: whole downloads -------------------------------------- */

/* One buffer of a download: chunk index, read by a fetch thread. */
struct rm_slot {
    struct rm_download *dl;
    uint8_t *buf;
    uint64_t index, len;
    size_t got;
    int rc;
    bool busy, done;
};

struct rm_download {
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

static void rm_slot_done(int rc, size_t got, void *arg)
{
    struct rm_slot *sl = arg;

    pthread_mutex_lock(&sl->dl->lock);
    sl->rc = rc;
    sl->got = got;
    sl->done = true;
    pthread_cond_broadcast(&sl->dl->cond);
    pthread_mutex_unlock(&sl->dl->lock);
}

static void rm_slot_start(struct remote *re, const char *key, const char *etag,
                          struct rm_slot *sl)
{
    struct cluster_chunk_ref ref = {
        .key = key, .etag = etag, .index = sl->index, .len = sl->len};

    sl->busy = true;
    sl->done = false;
    if (cluster_get_start(re->cluster, &ref, sl->buf, rm_slot_done, sl) < 0)
        rm_slot_done(-EAGAIN, 0, sl);
}

/* Chunk by chunk from the owner nodes, window chunks in flight. */
static int rm_download(struct remote *re, const char *key, uint64_t size,
                       const char *etag, int fd, struct s3_object_meta *meta,
                       struct s3_error *err)
{
    uint64_t cs = cluster_chunk_size(re->cluster), n, next = 0;
    size_t window = re->parallel ? re->parallel : 8, k;
    struct rm_download dl;
    struct rm_slot *slots;
    int rc;

    rc = rm_head(re, key, meta, err);
    if (rc)
        return rc;
    if ((etag && *etag && strcmp(etag, meta->etag) != 0) ||
        (size != UINT64_MAX && size != (uint64_t)meta->size))
        return -ESTALE; /* changed since it was listed */
    size = (uint64_t)meta->size;
    n = chunk_count(size, cs);
    if (window > n)
        window = (size_t)n;
    pthread_mutex_init(&dl.lock, NULL);
    pthread_cond_init(&dl.cond, NULL);
    slots = xcalloc(window ? window : 1, sizeof(*slots));
    for (k = 0; k < window; k++) {
        slots[k].dl = &dl;
        slots[k].buf = xmalloc(cs);
    }
    for (k = 0; k < window && next < n; k++, next++) {
        slots[k].index = next;
        slots[k].len = chunk_len(next, cs, size);
        rm_slot_start(re, key, meta->etag, &slots[k]);
    }
    /* Round robin: slot k holds chunks k, k + window, ... in order. */
    for (k = 0; window && rc == 0; k = (k + 1) % window) {
        struct rm_slot *sl = &slots[k];

        if (!sl->busy)
            break; /* every chunk is written */
        pthread_mutex_lock(&dl.lock);
        while (!sl->done)
            pthread_cond_wait(&dl.cond, &dl.lock);
        pthread_mutex_unlock(&dl.lock);
        sl->busy = false;
        rc = sl->rc;
        if (rc == 0 && sl->got != sl->len)
            rc = -EIO;
        if (rc == 0 && pwrite(fd, sl->buf, sl->len, (off_t)(sl->index * cs)) !=
                           (ssize_t)sl->len)
            rc = -errno ?: -EIO;
        if (rc == 0 && next < n) {
            sl->index = next;
            sl->len = chunk_len(next++, cs, size);
            rm_slot_start(re, key, meta->etag, sl);
        }
    }
    for (k = 0; k < window; k++) { /* wait for what is still in flight */
        pthread_mutex_lock(&dl.lock);
        while (slots[k].busy && !slots[k].done)
            pthread_cond_wait(&dl.cond, &dl.lock);
        pthread_mutex_unlock(&dl.lock);
        free(slots[k].buf);
    }
    free(slots);
    pthread_cond_destroy(&dl.cond);
    pthread_mutex_destroy(&dl.lock);
    if (rc == 0 && ftruncate(fd, (off_t)size) < 0)
        rc = -errno;
    if (rc && rc != -ESTALE && err) {
        s3_error_clear(err);
        s3_error_set(err, 0, "ChunkRead", strerror(-rc));
    }
    return rc;
}

/* ---- The calls ---------------------------------------------------------- */

int remote_head(struct remote *re, const char *key, struct s3_object_meta *meta,
                struct s3_error *err)
{
    if (re->cluster)
        return rm_head(re, key, meta, err);
    return s3_head(re->s3, re->bucket, key, meta, err);
}

int remote_list(struct remote *re, const struct s3_list_opts *opts,
                struct s3_list_result *out, struct s3_error *err)
{
    if (re->cluster)
        return rm_list(re, opts, out, err);
    return s3_list(re->s3, re->bucket, opts, out, err);
}

int remote_get_small(struct remote *re, const char *key, struct buf *out,
                     struct s3_error *err)
{
    struct s3_sink sink = {.kind = S3_SINK_BUF, .buf = out};

    if (re->cluster)
        return rm_get_small(re, key, out, err);
    return s3_get(re->s3, re->bucket, key, 0, UINT64_MAX, NULL, &sink, NULL,
                  err);
}

int remote_put(struct remote *re, const char *key, const struct s3_body *body,
               const struct s3_put_opts *opts, char **etag,
               struct s3_error *err)
{
    if (re->cluster)
        return rm_put(re, key, body, opts, etag, err);
    return s3_put(re->s3, re->bucket, key, body, opts, etag, err);
}

int remote_delete(struct remote *re, const char *key, struct s3_error *err)
{
    if (re->cluster)
        return rm_delete(re, key, err);
    return s3_delete(re->s3, re->bucket, key, err);
}

int remote_delete_many(struct remote *re, const char *const *keys, size_t nkeys,
                       struct s3_delete_result *out, struct s3_error *err)
{
    size_t i;
    int rc;

    if (!re->cluster)
        return s3_delete_many(re->s3, re->bucket, keys, nkeys, out, err);
    memset(out, 0, sizeof(*out));
    out->deleted = xcalloc(nkeys + 1, sizeof(char *));
    out->error_keys = xcalloc(nkeys + 1, sizeof(char *));
    out->error_codes = xcalloc(nkeys + 1, sizeof(char *));
    for (i = 0; i < nkeys; i++) {
        struct s3_error e;

        rc = rm_delete(re, keys[i], &e);
        if (rc == 0 || rc == -ENOENT) {
            out->deleted[out->ndeleted++] = xstrdup(keys[i]);
            continue;
        }
        out->error_keys[out->nerrors] = xstrdup(keys[i]);
        out->error_codes[out->nerrors++] = xstrdup(e.code[0] ? e.code : "EIO");
        if (err)
            *err = e;
    }
    return 0;
}

int remote_copy(struct remote *re, const char *src, const char *dst,
                uint64_t size, const struct s3_put_opts *replace,
                const char *if_match, char **etag, struct s3_error *err)
{
    const uint64_t part = 1ull << 30;
    struct s3_object_meta m;
    struct s3_put_opts po = {0};
    struct sigv4_kv *kv = NULL;
    struct s3_part *parts = NULL;
    char **etags = NULL, *upload = NULL;
    size_t n = 0, i;
    int rc;

    if (re->cluster) /* the node copies whole objects (CopyObject) */
        return rm_copy(re, src, dst, replace, if_match, etag, err);
    if (size <= S3_MAX_PUT_SIZE)
        return s3_copy(re->s3, re->bucket, src, re->bucket, dst, replace,
                       if_match, etag, err);
    /* Larger than one CopyObject: a multipart copy, metadata carried. */
    rc = s3_head(re->s3, re->bucket, src, &m, err);
    if (rc)
        return rc;
    kv = xcalloc(m.nuser + 1, sizeof(*kv));
    for (i = 0; i < m.nuser; i++)
        kv[i] = (struct sigv4_kv){m.user[i].name, m.user[i].value};
    po.meta = kv;
    po.nmeta = m.nuser;
    po.content_type = m.content_type[0] ? m.content_type : NULL;
    rc = s3_mpu_create(re->s3, re->bucket, dst, replace ? replace : &po,
                       &upload, err);
    n = (size_t)((size + part - 1) / part);
    etags = xcalloc(n, sizeof(*etags));
    parts = xcalloc(n, sizeof(*parts));
    for (i = 0; i < n && rc == 0; i++) {
        uint64_t off = i * part, len = size - off < part ? size - off : part;
        rc =
            s3_mpu_upload_part_copy(re->s3, re->bucket, dst, upload, (int)i + 1,
                                    re->bucket, src, off, len, &etags[i], err);
        parts[i] = (struct s3_part){(int)i + 1, etags[i]};
    }
    if (rc == 0)
        rc = s3_mpu_complete(re->s3, re->bucket, dst, upload, parts, n, etag,
                             err);
    else if (upload)
        s3_mpu_abort(re->s3, re->bucket, dst, upload, NULL);
    for (i = 0; i < n; i++)
        free(etags[i]);
    free(etags);
    free(parts);
    free(upload);
    free(kv);
    s3_object_meta_fini(&m);
    return rc;
}

int remote_download_fd(struct remote *re, const char *key, uint64_t size,
                       const char *etag, int fd, struct s3_object_meta *meta,
                       struct s3_error *err)
{
    struct s3_sink sink = {.kind = S3_SINK_FD, .fd = fd};
    struct s3_transfer_opts o;

    if (re->cluster)
        return rm_download(re, key, size, etag, fd, meta, err);
    s3_transfer_opts_init(&o);
    o.part_size = re->part_size;
    o.parallel = re->parallel;
    /* One GET for what fits in a part: no HEAD, no ranges. */
    if (size <= o.part_size) {
        s3_object_meta_init(meta);
        return s3_get(re->s3, re->bucket, key, 0, UINT64_MAX,
                      etag && *etag ? etag : NULL, &sink, meta, err);
    }
    return s3_download_fd(re->s3, re->bucket, key, fd, &o, meta, err);
}

int remote_upload_fd(struct remote *re, const char *key, int fd, uint64_t size,
                     const struct s3_put_opts *opts, char **etag,
                     struct s3_error *err)
{
    struct s3_transfer_opts o;
    struct s3_body body = {.kind = S3_BODY_FD, .fd = fd, .len = size};

    if (re->cluster) {
        if (size <= re->multipart_above && size <= RM_MAX_BODY)
            return rm_put(re, key, &body, opts, etag, err);
        return rm_upload_parts(re, key, fd, size, opts, etag, err);
    }
    s3_transfer_opts_init(&o);
    o.part_size = re->part_size;
    o.multipart_above = re->multipart_above;
    o.parallel = (unsigned)re->parallel;
    return s3_upload_fd(re->s3, re->bucket, key, fd, size, opts, &o, etag, err);
}

int remote_mpu_create(struct remote *re, const char *key,
                      const struct s3_put_opts *opts, char **upload_id,
                      struct s3_error *err)
{
    if (re->cluster)
        return rm_mpu_create(re, key, opts, upload_id, err);
    return s3_mpu_create(re->s3, re->bucket, key, opts, upload_id, err);
}

int remote_mpu_complete(struct remote *re, const char *key,
                        const char *upload_id, const struct s3_part *parts,
                        size_t nparts, char **etag, struct s3_error *err)
{
    if (re->cluster)
        return rm_mpu_complete(re, key, upload_id, parts, nparts, etag, err);
    return s3_mpu_complete(re->s3, re->bucket, key, upload_id, parts, nparts,
                           etag, err);
}

int remote_mpu_abort(struct remote *re, const char *key, const char *upload_id,
                     struct s3_error *err)
{
    if (re->cluster)
        return rm_mpu_abort(re, key, upload_id, err);
    return s3_mpu_abort(re->s3, re->bucket, key, upload_id, err);
}
