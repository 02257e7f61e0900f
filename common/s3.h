/* SPDX-License-Identifier: MIT */
/*
 * s3.h: the S3 client.
 *
 * One struct s3_client talks to one S3 endpoint with one set of
 * credentials. Every request runs on the client's engine: libcurl's multi
 * interface driven by a libevent loop, so hundreds of requests can be in
 * flight without a thread each, and connections are reused across
 * requests and across the threads that submit them. The loop is either
 * the client's own thread (s3_client_new with base NULL: the FUSE client,
 * tools) or the caller's event_base (pcpd).
 *
 * Two ways to run a request:
 *   - synchronous: s3_head(), s3_get(), ... block the calling thread until
 *     the request is done (any thread except the engine's own);
 *   - asynchronous: s3_*_start() returns a struct s3_req at once; either
 *     wait for it later with s3_req_wait() (start several, then wait for
 *     all: parallel chunk fetches) or give a callback, which runs on the
 *     engine's loop thread.
 *
 * Failures return -errno (see s3_error.h for the mapping) and, when the
 * caller passes a struct s3_error, the detail: HTTP status, S3 code,
 * message, request id. Transient failures (5xx, SlowDown, connection
 * errors, timeouts) are retried with exponential backoff and jitter, up to
 * max_retries, but only when a retry is safe: the request is idempotent or
 * the server said it did nothing, and no byte was handed to a streaming
 * callback yet. Each retry is signed anew.
 *
 * Lifetimes: strings passed in are copied unless marked borrowed; request
 * bodies (struct s3_body) and sinks (struct s3_sink) are borrowed until the
 * request completes. Results handed out (etags, upload ids, lists) are
 * owned by the caller.
 */
#ifndef PCACHE_S3_H
#define PCACHE_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/creds.h"
#include "common/s3_error.h"
#include "common/s3_xml.h"
#include "common/sigv4.h"

struct event_base;
struct s3_client;
struct s3_req;

#define S3_MAX_KEY_LEN      1024
#define S3_MAX_PARTS        10000
#define S3_MIN_PART_SIZE    (5ull << 20)
#define S3_MAX_PART_SIZE    (5ull << 30)
#define S3_MAX_PUT_SIZE     (5ull << 30)
#define S3_MAX_DELETE_BATCH 1000
#define S3_MAX_XML_BODY     (64u << 20) /* largest XML answer accepted */
#define S3_MAX_ERROR_BODY   (64u << 10)

/* Settings of one client; the config table below fills it. */
struct s3_config {
    char *endpoint;              /* http(s)://host[:port], owned */
    char *region;                /* owned */
    bool path_style;             /* else virtual-hosted (bucket.host) */
    uint64_t connect_timeout_ms; /* TCP + TLS connect */
    uint64_t request_timeout_ms; /* whole request, except data transfers */
    uint64_t stall_timeout_ms;   /* a data transfer with no progress */
    int64_t max_retries;         /* retries after the first attempt */
    uint64_t retry_base_ms;
    uint64_t retry_max_ms;
    int64_t max_connections; /* open connections to the endpoint */
    bool sign_payload;       /* SHA-256 of in-memory bodies, else
                                UNSIGNED-PAYLOAD */
    char *ca_file;           /* owned, NULL for the system store */
    bool tls_verify;
};

/*
 * Config table entries for a struct s3_config embedded as member m of the
 * binary's config struct T; put S3_CONFIG_ENTRIES(T, m) in its table.
 */
#define S3_CONFIG_ENTRIES(T, m) S3_CONFIG_ENTRIES_CONN(T, m, "64")
/* The same with another default for "connections". */
#define S3_CONFIG_ENTRIES_CONN(T, m, conns)                                    \
    {"endpoint",                                                               \
     CONFIG_STRING,                                                            \
     offsetof(T, m.endpoint),                                                  \
     NULL,                                                                     \
     0,                                                                        \
     0,                                                                        \
     "S3 endpoint URL, e.g. http://127.0.0.1:9000"},                           \
        {"region",                                                             \
         CONFIG_STRING,                                                        \
         offsetof(T, m.region),                                                \
         "us-east-1",                                                          \
         0,                                                                    \
         0,                                                                    \
         "S3 region used in signatures"},                                      \
        {"path_style",                                                         \
         CONFIG_BOOL,                                                          \
         offsetof(T, m.path_style),                                            \
         "yes",                                                                \
         0,                                                                    \
         0,                                                                    \
         "path-style URLs (no: bucket.host virtual-hosted style)"},            \
        {"connect_timeout",                                                    \
         CONFIG_DURATION,                                                      \
         offsetof(T, m.connect_timeout_ms),                                    \
         "5s",                                                                 \
         1,                                                                    \
         600000,                                                               \
         "TCP/TLS connect timeout"},                                           \
        {"request_timeout",                                                    \
         CONFIG_DURATION,                                                      \
         offsetof(T, m.request_timeout_ms),                                    \
         "60s",                                                                \
         1,                                                                    \
         86400000,                                                             \
         "timeout of a metadata request"},                                     \
        {"stall_timeout",                                                      \
         CONFIG_DURATION,                                                      \
         offsetof(T, m.stall_timeout_ms),                                      \
         "30s",                                                                \
         1000,                                                                 \
         86400000,                                                             \
         "abort a transfer that makes no progress"},                           \
        {"retries", CONFIG_INT, offsetof(T, m.max_retries),   "5",             \
         0,         100,        "retries of a failed request"},                \
        {"retry_base",                                                         \
         CONFIG_DURATION,                                                      \
         offsetof(T, m.retry_base_ms),                                         \
         "100ms",                                                              \
         1,                                                                    \
         600000,                                                               \
         "first retry delay"},                                                 \
        {"retry_max", CONFIG_DURATION, offsetof(T, m.retry_max_ms), "10s",     \
         1,           3600000,         "longest retry delay"},                 \
        {"connections",                                                        \
         CONFIG_INT,                                                           \
         offsetof(T, m.max_connections),                                       \
         conns,                                                                \
         1,                                                                    \
         4096,                                                                 \
         "connections to the endpoint"},                                       \
        {"sign_payload",                                                       \
         CONFIG_BOOL,                                                          \
         offsetof(T, m.sign_payload),                                          \
         "yes",                                                                \
         0,                                                                    \
         0,                                                                    \
         "sign the SHA-256 of in-memory request bodies"},                      \
        {"ca_file",                                                            \
         CONFIG_STRING,                                                        \
         offsetof(T, m.ca_file),                                               \
         NULL,                                                                 \
         0,                                                                    \
         0,                                                                    \
         "CA bundle for https endpoints"},                                     \
    {                                                                          \
        "tls_verify", CONFIG_BOOL, offsetof(T, m.tls_verify), "yes", 0, 0,     \
            "verify the endpoint's TLS certificate"                            \
    }

/*
 * The S3 entries alone, for a struct s3_config that is the whole config
 * (offsets are into struct s3_config_holder, whose first member it is).
 */
struct s3_config_holder {
    struct s3_config cfg;
};
extern const struct config_entry s3_config_table[];

/* Object metadata from HEAD or GET. */
struct s3_meta_kv {
    char *name;  /* owned, lowercase, without "x-amz-meta-" */
    char *value; /* owned */
};

struct s3_object_meta {
    int64_t size;   /* object size; -1 when unknown */
    char etag[128]; /* as sent, quotes included */
    time_t mtime;   /* Last-Modified */
    char content_type[128];
    char storage_class[32];
    char version_id[128];
    struct s3_meta_kv *user; /* owned array */
    size_t nuser;
};

void s3_object_meta_init(struct s3_object_meta *m);
void s3_object_meta_fini(struct s3_object_meta *m);
/* The user metadata value for name (without prefix), borrowed, or NULL. */
const char *s3_object_meta_get(const struct s3_object_meta *m,
                               const char *name);

/* A request body; borrowed until the request completes. */
enum s3_body_kind {
    S3_BODY_NONE,
    S3_BODY_MEM, /* data, len */
    S3_BODY_FD,  /* len bytes of fd from off (pread: fd's offset unused) */
};

struct s3_body {
    enum s3_body_kind kind;
    const void *data;
    int fd;
    uint64_t off;
    uint64_t len;
};

/*
 * Where a GET's body goes; borrowed until the request completes. A
 * callback sink gets the bytes as they arrive, on the engine thread; it
 * returns 0 to go on or -errno to abort the transfer.
 */
typedef int (*s3_sink_cb)(const void *data, size_t len, void *arg);

enum s3_sink_kind {
    S3_SINK_DISCARD,
    S3_SINK_BUF, /* appended to buf, whose max bounds it */
    S3_SINK_MEM, /* copied to mem[0..mem_len); more is -EMSGSIZE */
    S3_SINK_FD,  /* pwrite to fd from off */
    S3_SINK_CB,
};

struct s3_sink {
    enum s3_sink_kind kind;
    struct buf *buf;
    char *mem;
    size_t mem_len;
    int fd;
    uint64_t off;
    s3_sink_cb cb;
    void *cb_arg;
};

/* Options of writes that create an object. All borrowed. */
struct s3_put_opts {
    const struct sigv4_kv *meta; /* user metadata, names without prefix */
    size_t nmeta;
    const char *content_type;  /* NULL: none sent */
    const char *storage_class; /* NULL: the bucket's default */
};

/* ListObjectsV2 parameters. All borrowed, NULL for unset. */
struct s3_list_opts {
    const char *prefix;
    const char *delimiter;
    const char *start_after;
    const char *continuation;
    int max_keys; /* 0: the server's default (1000) */
};

/* Counters, updated atomically by the engine. */
struct s3_stats {
    uint64_t requests; /* attempts sent, retries included */
    uint64_t retries;
    uint64_t failures; /* requests that finished with an error */
    uint64_t gets, heads, puts, posts, deletes, lists;
    uint64_t bytes_in;  /* response body bytes */
    uint64_t bytes_out; /* request body bytes */
};

/*
 * Creates a client. cfg is copied. creds is borrowed and must outlive the
 * client (it is shared: several clients may use one source). base NULL
 * starts the client's own engine thread; otherwise the engine runs on base,
 * whose loop the caller runs. Returns NULL with err filled on bad settings
 * (no endpoint, bad URL).
 */
struct s3_client *s3_client_new(const struct s3_config *cfg,
                                struct creds_source *creds,
                                struct event_base *base, char *err,
                                size_t errlen);
/* Waits for requests in flight to finish, then frees. NULL is a no-op. */
void s3_client_free(struct s3_client *c);
void s3_client_stats(struct s3_client *c, struct s3_stats *out);
const struct s3_config *s3_client_config(const struct s3_client *c);

/*
 * Asynchronous requests. Each returns a request that is already submitted.
 * With cb NULL they return the request, and the caller must call
 * s3_req_wait() and then s3_req_free(). With a callback they return NULL:
 * the callback runs on the engine thread when the request is done (at once,
 * on the caller's thread, when the arguments are invalid), and the request
 * is freed when it returns.
 */
typedef void (*s3_done_cb)(struct s3_req *req, int rc, void *arg);

struct s3_req *s3_head_start(struct s3_client *c, const char *bucket,
                             const char *key, s3_done_cb cb, void *arg);
struct s3_req *s3_get_start(struct s3_client *c, const char *bucket,
                            const char *key, uint64_t off, uint64_t len,
                            const char *if_match, const struct s3_sink *sink,
                            s3_done_cb cb, void *arg);
struct s3_req *s3_put_start(struct s3_client *c, const char *bucket,
                            const char *key, const struct s3_body *body,
                            const struct s3_put_opts *opts, s3_done_cb cb,
                            void *arg);
struct s3_req *s3_upload_part_start(struct s3_client *c, const char *bucket,
                                    const char *key, const char *upload_id,
                                    int part, const struct s3_body *body,
                                    s3_done_cb cb, void *arg);

/* Blocks until req is done; returns its result (0 or -errno). */
int s3_req_wait(struct s3_req *req);
/* True once req is done (s3_req_wait would not block). */
bool s3_req_done(struct s3_req *req);
void s3_req_free(struct s3_req *req);
/* Results of a done request, borrowed from it. */
const struct s3_error *s3_req_error(const struct s3_req *req);
const struct s3_object_meta *s3_req_meta(const struct s3_req *req);
uint64_t s3_req_bytes(const struct s3_req *req); /* body bytes received */

/*
 * Synchronous operations. err may be NULL. Out-strings (etag, upload_id)
 * are owned by the caller and left NULL on failure.
 */
int s3_head(struct s3_client *c, const char *bucket, const char *key,
            struct s3_object_meta *meta, struct s3_error *err);
/*
 * Ranged GET of [off, off+len); len UINT64_MAX means to the end. if_match
 * may be NULL. meta may be NULL; it gets the object's metadata (size is
 * the whole object's, from Content-Range). Reading past the end of the
 * object gives -ERANGE.
 */
int s3_get(struct s3_client *c, const char *bucket, const char *key,
           uint64_t off, uint64_t len, const char *if_match,
           const struct s3_sink *sink, struct s3_object_meta *meta,
           struct s3_error *err);
int s3_put(struct s3_client *c, const char *bucket, const char *key,
           const struct s3_body *body, const struct s3_put_opts *opts,
           char **etag, struct s3_error *err);
int s3_delete(struct s3_client *c, const char *bucket, const char *key,
              struct s3_error *err);
/* Deletes up to S3_MAX_DELETE_BATCH keys in one request. */
int s3_delete_many(struct s3_client *c, const char *bucket,
                   const char *const *keys, size_t nkeys,
                   struct s3_delete_result *out, struct s3_error *err);
/*
 * Server-side copy. replace NULL copies the metadata (directive COPY);
 * otherwise the object gets replace's metadata (directive REPLACE).
 * if_match (may be NULL) is sent as x-amz-copy-source-if-match.
 */
int s3_copy(struct s3_client *c, const char *src_bucket, const char *src_key,
            const char *dst_bucket, const char *dst_key,
            const struct s3_put_opts *replace, const char *if_match,
            char **etag, struct s3_error *err);
int s3_list(struct s3_client *c, const char *bucket,
            const struct s3_list_opts *opts, struct s3_list_result *out,
            struct s3_error *err);

int s3_mpu_create(struct s3_client *c, const char *bucket, const char *key,
                  const struct s3_put_opts *opts, char **upload_id,
                  struct s3_error *err);
int s3_mpu_upload_part(struct s3_client *c, const char *bucket, const char *key,
                       const char *upload_id, int part,
                       const struct s3_body *body, char **etag,
                       struct s3_error *err);
/* Copies [off, off+len) of the source object into a part. */
int s3_mpu_upload_part_copy(struct s3_client *c, const char *bucket,
                            const char *key, const char *upload_id, int part,
                            const char *src_bucket, const char *src_key,
                            uint64_t off, uint64_t len, char **etag,
                            struct s3_error *err);
int s3_mpu_complete(struct s3_client *c, const char *bucket, const char *key,
                    const char *upload_id, const struct s3_part *parts,
                    size_t nparts, char **etag, struct s3_error *err);
int s3_mpu_abort(struct s3_client *c, const char *bucket, const char *key,
                 const char *upload_id, struct s3_error *err);
/* key_marker and upload_id_marker may be NULL. */
int s3_mpu_list(struct s3_client *c, const char *bucket, const char *prefix,
                const char *key_marker, const char *upload_id_marker,
                struct s3_uploads_result *out, struct s3_error *err);

int s3_bucket_create(struct s3_client *c, const char *bucket,
                     struct s3_error *err);
int s3_bucket_delete(struct s3_client *c, const char *bucket,
                     struct s3_error *err);
int s3_bucket_head(struct s3_client *c, const char *bucket,
                   struct s3_error *err);

/*
 * Appends a presigned URL for method ("GET", "PUT", ...) on bucket/key,
 * valid for expires seconds (1..SIGV4_MAX_EXPIRES), to url. Pure: no
 * request is made. Returns 0, -EINVAL or -EMSGSIZE.
 */
int s3_presign(struct s3_client *c, const char *method, const char *bucket,
               const char *key, unsigned expires, struct buf *url);

#endif
