/* SPDX-License-Identifier: MIT */
/*
 * s3_int.h: internals shared by the S3 client's request layer (s3.c) and
 * its engine (s3_engine.c). Not an API: nothing outside those two files
 * and their unit tests includes it.
 *
 * A request is built by s3.c on the caller's thread, then owned by the
 * engine thread from s3_engine_submit() until it completes; the caller
 * only touches it again after s3_req_wait() returns (or inside its
 * callback, which runs on the engine thread).
 */
#ifndef PCACHE_S3_INT_H
#define PCACHE_S3_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/backoff.h"
#include "common/s3.h"

struct curl_slist;
struct event;
struct s3_engine;

/* An owned list of name/value pairs (query parameters, headers). */
struct s3_kvlist {
    struct sigv4_kv *v; /* owned array; names and values owned */
    size_t n;
    size_t cap;
};

void s3_kvlist_add(struct s3_kvlist *l, const char *name, const char *value);
void s3_kvlist_fini(struct s3_kvlist *l);

enum s3_req_flag {
    S3_REQ_IDEMPOTENT = 1u << 0, /* any transient failure may be retried */
    S3_REQ_DATA = 1u << 1,       /* bulk transfer: stall timeout only */
    S3_REQ_XML = 1u << 2,        /* a 2xx body is an XML answer (resp) */
};

/* Turns a 2xx answer into the request's results; engine thread. */
typedef int (*s3_finish_fn)(struct s3_req *req);

struct s3_req {
    struct s3_client *client;
    /* What to send: set before submit, read-only afterwards. */
    const char *method; /* static string */
    char *bucket;       /* owned */
    char *key;          /* owned, NULL for bucket requests */
    struct s3_kvlist query;
    struct s3_kvlist headers; /* besides host, date, payload hash */
    struct s3_body body;      /* borrowed, or points into body_owned */
    struct buf body_owned;    /* bodies the client builds (XML) */
    struct s3_sink sink;
    bool has_range;
    uint64_t range_off;
    uint64_t range_len;
    unsigned flags; /* enum s3_req_flag */
    s3_finish_fn finish;

    /* Results: written by the engine thread, read after completion. */
    int rc;
    struct s3_error err;
    struct s3_object_meta meta;
    struct buf resp;   /* XML answer or error body */
    uint64_t received; /* body bytes handed to the sink */
    char *out_str;     /* etag / upload id, owned until taken */
    struct s3_list_result list;
    struct s3_delete_result del;
    struct s3_uploads_result uploads;

    /* Engine state, engine thread only. */
    void *easy; /* CURL * of the current attempt */
    struct curl_slist *hdr_list;
    char errbuf[256];          /* CURLOPT_ERRORBUFFER */
    uint64_t body_pos;         /* bytes of body sent this attempt */
    long http_status;          /* status of the answer being read */
    uint64_t skip;             /* bytes to drop: a 200 to a Range GET */
    uint64_t attempt_received; /* body bytes seen this attempt */
    struct backoff backoff;
    struct event *retry_ev;
    struct s3_req *next; /* submission queue link */

    /* Completion. */
    s3_done_cb cb;
    void *cb_arg;
    pthread_mutex_t lock; /* guards done */
    pthread_cond_t cond;
    bool done;
};

struct s3_client {
    struct s3_config cfg;       /* strings owned */
    struct creds_source *creds; /* borrowed */
    char *base_url;             /* "http://host:port", owned */
    char *scheme;               /* "http" or "https", owned */
    char *authority;            /* "host:port" as in the URL, owned */
    struct s3_engine *engine;
    struct s3_stats stats;       /* updated with __atomic builtins */
    struct event_base *own_base; /* when the client runs its own loop */
    pthread_t thread;
    bool own_thread;
};

/* Request lifecycle helpers of s3.c, used by the operations in s3_ops.c. */
struct s3_req *s3_req_create(struct s3_client *c, const char *method,
                             const char *bucket, const char *key,
                             unsigned flags);
/* Submits req; returns it (cb NULL) or NULL (cb owns the completion). */
struct s3_req *s3_req_launch(struct s3_req *req, s3_done_cb cb, void *arg);
/* Completes req with rc without sending it; returns it as launch does. */
struct s3_req *s3_req_fail(struct s3_req *req, int rc, s3_done_cb cb,
                           void *arg);
/* Submits req unless already failed, waits, copies the error out. */
int s3_req_execute(struct s3_req *req, struct s3_error *err);
/* Hands over the etag or upload id of a done request. */
char *s3_req_take_str(struct s3_req *req);
/* 0, -EINVAL (empty) or -ENAMETOOLONG; NULL (bucket request) is fine. */
int s3_check_key(const char *key);
/* False when v holds a CR or LF (header injection). */
bool s3_header_value_ok(const char *v);

/*
 * Builds one attempt: the URL and the signed header list, signed at the
 * current time with the current credentials. Engine thread. 0 or -errno.
 */
int s3_req_build(struct s3_req *req, struct buf *url,
                 struct curl_slist **headers);
/* Resets the per-attempt results before a retry. */
void s3_req_reset_results(struct s3_req *req);
/* Signals completion: runs the callback (and frees) or wakes the waiter. */
void s3_req_deliver(struct s3_req *req);

struct s3_engine *s3_engine_new(struct s3_client *c, struct event_base *base,
                                char *err, size_t errlen);
/* Stops taking requests, fails queued ones with -ECANCELED, frees. */
void s3_engine_free(struct s3_engine *e);
/* Hands req to the engine; any thread. */
void s3_engine_submit(struct s3_engine *e, struct s3_req *req);
/* Asks the engine's loop to exit (own-thread clients). Any thread. */
void s3_engine_stop(struct s3_engine *e);

#define s3_stat_add(c, field, n)                                               \
    __atomic_add_fetch(&(c)->stats.field, (n), __ATOMIC_RELAXED)

#endif
