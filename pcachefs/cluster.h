/* SPDX-License-Identifier: MIT */
/*
 * cluster.h: the client side of cluster mode: reading chunks from the
 * cache nodes that own them.
 *
 * cluster_new authenticates to pmsd with the user's access key / secret
 * key (a signed POST /v1/token; the secret never travels), checks the
 * pbucket (GET /v1/pbuckets/NAME: its chunk size) and loads the live node
 * list. A control thread then keeps the token fresh (a new one after two
 * thirds of its life) and long-polls the node list (GET /v1/nodes?
 * wait_epoch=), failing over across the pmsd addresses; when no pmsd
 * answers, the last list and token stay in use.
 *
 * A chunk read goes to the chunk's owner by rendezvous hashing of its id
 * over the live node ids (common/placement.h), then to the next nodes of
 * the placement when a node fails (connection refused, timeout, 5xx).
 * A node that failed goes to the end of every placement for a while
 * (CLUSTER_NODE_PENALTY_MS) and is retried after that. When no node
 * answers the read fails at once with -EIO. Reads run on a pool of fetch
 * threads (cluster_get_start) so a caller can have many in flight.
 *
 * Threads: everything may be called from any thread. Callbacks of
 * cluster_get_start run on a fetch thread and must not block long.
 * Locks: struct cluster.lock (token, node list, penalties, queue) is a
 * leaf; docs/internals/threads.md.
 */
#ifndef PCACHEFS_CLUSTER_H
#define PCACHEFS_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/chunk.h"

#define CLUSTER_NODE_PENALTY_MS 5000
#define CLUSTER_MAX_NODES       1024

struct cluster;

struct cluster_opts {
    const char *pms;      /* "host:port[,host:port]" or http(s):// URLs */
    const char *credfile; /* "ACCESS_KEY:SECRET_KEY", mode 0600 */
    const char *ca_file;  /* for https pmsd and nodes; NULL: system */
    const char *pbucket;  /* the pbucket mounted */
    uint64_t timeout_ms;  /* one request (0: 10 s) */
    uint64_t stall_ms;    /* a node sending nothing this long has failed
                             (0: 10 s) */
    unsigned threads;     /* fetch threads (0: 16) */
    unsigned ttl_s;       /* token life asked for (0: pmsd's maximum) */
};

/*
 * Connects: token, pbucket, node list; starts the threads. 0, or
 * -EACCES (pmsd refused the credentials, or the user may not use the
 * pbucket), -ENOENT (no such pbucket), -EHOSTUNREACH (no pmsd answered),
 * -EINVAL (bad options or credentials file), with a message in err fit
 * for the user. *out is the caller's, freed with cluster_free.
 */
int cluster_new(const struct cluster_opts *o, struct cluster **out, char *err,
                size_t errlen);
/* Stops the threads (fetches queued fail with -ECANCELED) and frees.
 * NULL is a no-op. */
void cluster_free(struct cluster *c);

/* The pbucket's chunk size (bytes). */
uint64_t cluster_chunk_size(const struct cluster *c);
/* The epoch and size of the node list in use. */
uint64_t cluster_epoch(struct cluster *c, size_t *nnodes);
/* Copies of the live nodes' ids and addresses ("host:port", or a URL
 * with its scheme), n of each; free both with cluster_strv_free. */
size_t cluster_nodes(struct cluster *c, char ***ids, char ***addrs);
void cluster_strv_free(char **v, size_t n);
/* Copies "Bearer <token>" into out (for metadata requests to nodes).
 * 0 or -ENOSPC. */
int cluster_bearer(struct cluster *c, char *out, size_t outlen);

/* One chunk read: bytes [off, off + len) of chunk index of the object
 * version (key, etag), where len <= the chunk's length. */
struct cluster_chunk_ref {
    const char *key;  /* borrowed until the callback */
    const char *etag; /* as S3 returns it, quotes included */
    uint64_t index;
    uint64_t off; /* inside the chunk */
    uint64_t len;
};

/* rc: 0 (got bytes in the buffer), -ESTALE (the object changed: re-read
 * its metadata), -ENOENT, -EACCES (the token does not allow it), -EIO (no
 * node answered), -ECANCELED (cluster_free). */
typedef void (*cluster_get_cb)(int rc, size_t got, void *arg);

/*
 * Queues a read of ref into buf (at least ref->len bytes, the caller's
 * until the callback) and returns at once; cb runs on a fetch thread.
 * ref's strings are copied. 0, or -EAGAIN when the queue is full
 * (cb is then not called).
 */
int cluster_get_start(struct cluster *c, const struct cluster_chunk_ref *ref,
                      void *buf, cluster_get_cb cb, void *arg);
/* The same, waiting: 0 with *got set, or a -errno as above. */
int cluster_get(struct cluster *c, const struct cluster_chunk_ref *ref,
                void *buf, size_t *got);

/*
 * A metadata or write request to a node (docs/protocol.md, "Metadata
 * proxy"). It goes to the node that owns key by rendezvous hashing (so one
 * key's requests, and the parts of one multipart upload, meet on one node)
 * and, when that node cannot be reached, to the next ones; a request that
 * may have reached a node is sent again only when retry is set.
 */
struct cluster_call {
    const char *method;         /* "GET", "PUT", "POST", "DELETE" */
    const char *key;            /* placement; NULL: any node */
    const char *path;           /* "/v1/meta/..." with its query, escaped */
    const char *const *headers; /* "Name: value", nheaders of them */
    size_t nheaders;
    /* The body: body_len bytes at body, or of body_fd from body_off. */
    const void *body;
    int body_fd; /* -1: none (body used) */
    uint64_t body_off;
    uint64_t body_len;
    bool retry; /* idempotent: safe to send to another node */
};

/* A node's answer: the status and the body (JSON), the caller's to free
 * with cluster_reply_fini. */
struct cluster_reply {
    long status;
    char *body; /* NUL-terminated, owned; may be "" */
    size_t len;
};

void cluster_reply_fini(struct cluster_reply *r);
/* "pb1" escaped for a URL path segment, owned by the caller. */
char *cluster_escape(const char *s);
/*
 * Whether the token allows action (TOKEN_ACT_*) on key of the pbucket: the
 * nodes decide, this only lets the mount refuse early (an open for
 * writing rather than the close) with EACCES.
 */
bool cluster_allows(struct cluster *c, unsigned action, const char *key);
/* The pbucket mounted. */
const char *cluster_pbucket(const struct cluster *c);

/*
 * Sends call, waiting. 0 with out filled (any status: a node answered),
 * or -EIO when no node answered (out is empty). A 401 (token expired
 * under a long stall) gets one new token and one more try.
 */
int cluster_call(struct cluster *c, const struct cluster_call *call,
                 struct cluster_reply *out);

/*
 * Runs fn(arg) on a fetch thread (for metadata requests a caller wants
 * many of in flight). 0, or -EAGAIN when the queue is full (fn is then
 * not called: the caller may run it itself).
 */
int cluster_run(struct cluster *c, void (*fn)(void *arg), void *arg);

/*
 * Pure part, for tests: the order in which nodes (ids[0..n)) are tried for
 * chunk id: placement order, then penalised nodes (penalised[i] true)
 * moved to the end in their placement order. Writes n indices.
 */
void cluster_order(const char *const *ids, const bool *penalised, size_t n,
                   const struct chunk_id *id, size_t *order);

#endif
