/* SPDX-License-Identifier: MIT */
/*
 * cluster.c: cluster mode's client: token, node list, chunk reads from
 * the owner nodes with failover (cluster.h).
 *
 * DESIGN
 * Blocking libcurl easy handles on threads of our own: a control thread
 * (token refresh, long-poll of the node list) and a small fetch pool, each
 * fetch thread with its own handle so connections to the nodes are kept
 * alive. The FUSE client's ops may block (house style, point 27) and
 * chunk reads are large, so a thread per read in flight costs little
 * next to the transfer, and failover (try the next node of the placement)
 * stays straight-line code. The node list is an immutable, refcounted
 * snapshot with its placement built once; a fetch takes a reference, so a
 * list replaced meanwhile never changes under it.
 */
#include "pcachefs/cluster.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/creds.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "common/placement.h"
#include "common/token.h"

#define CL_MAX_PMS    16
#define CL_MAX_REPLY  (1u << 20)
#define CL_MAX_QUEUE  4096
#define CL_LONGPOLL_S 30
#define CL_RETRY_MS   1000
#define CL_TOKEN_MAX  TOKEN_MAX_LEN
#define CL_MAX_IDLE   32 /* idle curl handles kept for cluster_call */

/* A node list: immutable once published, refcounted (under c->lock). */
struct cl_nodes {
    unsigned refs;
    uint64_t epoch;
    size_t n;
    char **ids;    /* owned */
    char **addrs;  /* owned */
    uint64_t *bad; /* atomic: monotonic ms until which a node is penalised */
    struct placement pl;
};

struct cl_job {
    struct cl_job *next;
    void (*run)(void *arg); /* cluster_run; else a chunk read */
    char *key, *etag;       /* owned copies */
    uint64_t index, off, len;
    void *buf;
    cluster_get_cb cb;
    void *arg;
};

struct cluster {
    char *pms[CL_MAX_PMS]; /* owned base URLs */
    size_t npms;
    size_t cur; /* the pmsd that answered last */
    char *pbucket;
    char *ca_file;
    uint64_t timeout_ms;
    uint64_t stall_ms;
    unsigned ttl_s;
    uint64_t chunk_size;
    struct creds_source creds;
    bool creds_ok;

    pthread_mutex_t lock;
    pthread_cond_t cond;                  /* the control thread's sleep, stop */
    pthread_cond_t qcond;                 /* the queue, stop */
    char token[CL_TOKEN_MAX + 1];         /* under lock */
    int64_t token_iat, token_exp;         /* under lock */
    struct token scopes;                  /* under lock: the token's payload */
    char last_err[CURL_ERROR_SIZE + 256]; /* under lock: last failure */
    struct cl_nodes *nodes;               /* under lock; a reference */
    uint64_t epoch;                       /* atomic: the epoch of nodes */
    struct cl_job *qhead, *qtail;         /* under lock */
    size_t qlen;
    bool stop; /* under lock; read unlocked by curl progress callbacks */

    CURL *idle[CL_MAX_IDLE]; /* under lock: handles for cluster_call */
    size_t nidle;

    pthread_t control;
    bool control_started;
    pthread_t *fetchers;
    size_t nfetchers;
};

/* ---- Node lists --------------------------------------------------------- */

static void cl_nodes_free(struct cl_nodes *ns)
{
    size_t i;

    for (i = 0; i < ns->n; i++) {
        free(ns->ids[i]);
        free(ns->addrs[i]);
    }
    free(ns->ids);
    free(ns->addrs);
    free(ns->bad);
    placement_fini(&ns->pl);
    free(ns);
}

static struct cl_nodes *cl_nodes_get(struct cluster *c)
{
    struct cl_nodes *ns;

    pthread_mutex_lock(&c->lock);
    ns = c->nodes;
    if (ns)
        ns->refs++;
    pthread_mutex_unlock(&c->lock);
    return ns;
}

static void cl_nodes_put(struct cluster *c, struct cl_nodes *ns)
{
    bool last;

    if (!ns)
        return;
    pthread_mutex_lock(&c->lock);
    last = --ns->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (last)
        cl_nodes_free(ns);
}

/* Builds a list from GET /v1/nodes. NULL when malformed. */
static struct cl_nodes *cl_nodes_parse(const json_t *j)
{
    const json_t *arr = json_object_get(j, "nodes"), *it;
    struct cl_nodes *ns;
    size_t i;

    if (!json_is_array(arr) || json_array_size(arr) > CLUSTER_MAX_NODES ||
        !json_is_integer(json_object_get(j, "epoch")))
        return NULL;
    ns = xcalloc(1, sizeof(*ns));
    ns->refs = 1;
    ns->epoch = (uint64_t)json_integer_value(json_object_get(j, "epoch"));
    ns->ids = xcalloc(json_array_size(arr) + 1, sizeof(char *));
    ns->addrs = xcalloc(json_array_size(arr) + 1, sizeof(char *));
    ns->bad = xcalloc(json_array_size(arr) + 1, sizeof(uint64_t));
    placement_init(&ns->pl);
    json_array_foreach(arr, i, it)
    {
        const char *id = json_string_value(json_object_get(it, "id"));
        const char *addr = json_string_value(json_object_get(it, "address"));

        if (!id || !addr || json_is_false(json_object_get(it, "live")))
            continue;
        ns->ids[ns->n] = xstrdup(id);
        ns->addrs[ns->n++] = xstrdup(addr);
    }
    placement_set(&ns->pl, (const char *const *)ns->ids, ns->n);
    return ns;
}

/* Makes ns the list in use; penalties carry over by node id. */
static void cl_nodes_publish(struct cluster *c, struct cl_nodes *ns)
{
    struct cl_nodes *old;
    size_t i, k;

    pthread_mutex_lock(&c->lock);
    old = c->nodes;
    for (i = 0; old && i < ns->n; i++) {
        for (k = 0; k < old->n; k++) {
            if (strcmp(old->ids[k], ns->ids[i]) == 0)
                ns->bad[i] = __atomic_load_n(&old->bad[k], __ATOMIC_RELAXED);
        }
    }
    c->nodes = ns;
    __atomic_store_n(&c->epoch, ns->epoch, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&c->lock);
    if (!old || old->epoch != ns->epoch || old->n != ns->n)
        log_info("cluster: %zu live nodes (epoch %llu)", ns->n,
                 (unsigned long long)ns->epoch);
    cl_nodes_put(c, old);
}

static void cl_order(const struct placement *pl, const bool *penalised,
                     size_t n, const struct chunk_id *id, size_t *order)
{
    size_t *rank = xcalloc(n ? n : 1, sizeof(*rank)), i, k = 0;

    placement_rank_chunk(pl, id, rank, n);
    for (i = 0; i < n; i++) {
        if (!penalised[rank[i]])
            order[k++] = rank[i];
    }
    for (i = 0; i < n; i++) {
        if (penalised[rank[i]])
            order[k++] = rank[i];
    }
    free(rank);
}

void cluster_order(const char *const *ids, const bool *penalised, size_t n,
                   const struct chunk_id *id, size_t *order)
{
    struct placement pl;

    placement_init(&pl);
    placement_set(&pl, ids, n);
    cl_order(&pl, penalised, n, id, order);
    placement_fini(&pl);
}

/* ---- HTTP ---------------------------------------------------------------- */

struct cl_sink {
    struct buf *b; /* growable reply, or ... */
    uint8_t *mem;  /* ... a fixed buffer */
    size_t cap, got;
    bool overflow;
};

static size_t cl_write_cb(char *data, size_t size, size_t n, void *arg)
{
    struct cl_sink *s = arg;
    size_t len = size * n;

    if (s->b)
        return buf_append(s->b, data, len) == 0 ? len : 0;
    if (len > s->cap - s->got) {
        s->overflow = true;
        return 0;
    }
    memcpy(s->mem + s->got, data, len);
    s->got += len;
    return len;
}

/* What a transfer's progress callback checks. */
struct cl_xfer {
    struct cluster *c;
    const char *node; /* the node asked, or NULL (pmsd) */
    uint64_t epoch;   /* the node list's epoch when it was known live */
};

/* Whether node is still in the live list (a new epoch came). */
static bool cl_node_live(struct cluster *c, const char *node)
{
    bool live = false;
    size_t i;

    pthread_mutex_lock(&c->lock);
    for (i = 0; c->nodes && i < c->nodes->n && !live; i++)
        live = strcmp(c->nodes->ids[i], node) == 0;
    pthread_mutex_unlock(&c->lock);
    return live;
}

static int cl_progress_cb(void *arg, curl_off_t dt, curl_off_t dn,
                          curl_off_t ut, curl_off_t un)
{
    struct cl_xfer *x = arg;
    uint64_t epoch;

    /* Ends a parked long-poll at once on cluster_free. */
    if (__atomic_load_n(&x->c->stop, __ATOMIC_RELAXED))
        return 1;
    /* A node that left the live set (pmsd saw it miss its heartbeats:
     * dead, or cut off) is given up at once, not after the stall
     * timeout: the request goes to the next node. */
    epoch = __atomic_load_n(&x->c->epoch, __ATOMIC_ACQUIRE);
    if (x->node && epoch != x->epoch) {
        if (!cl_node_live(x->c, x->node)) {
            log_info("cluster: node %s left the live set: its request is "
                     "given up",
                     x->node);
            return 1;
        }
        x->epoch = epoch;
    }
    return 0;
}

/* A raw request body (cluster_call), fed to libcurl by cl_read_cb. */
struct cl_source {
    const struct cluster_call *call;
    uint64_t done;
    bool failed;
};

static size_t cl_read_cb(char *out, size_t size, size_t n, void *arg)
{
    struct cl_source *s = arg;
    uint64_t left = s->call->body_len - s->done;
    size_t want = size * n < left ? size * n : (size_t)left;
    ssize_t got;

    if (want == 0)
        return 0;
    if (s->call->body_fd < 0) {
        memcpy(out, (const char *)s->call->body + s->done, want);
        got = (ssize_t)want;
    } else {
        got = pread(s->call->body_fd, out, want,
                    (off_t)(s->call->body_off + s->done));
        if (got <= 0) {
            s->failed = true;
            return CURL_READFUNC_ABORT;
        }
    }
    s->done += (uint64_t)got;
    return (size_t)got;
}

/*
 * One request. json (may be NULL) is a JSON body; call (may be NULL) adds
 * its headers and raw body. 0 with *status (any status), -ECONNREFUSED
 * (nothing reached the server) or -EIO (no answer).
 */
static int cl_perform(struct cluster *c, CURL *h, const char *node,
                      const char *method, const char *url, const char *auth,
                      const char *range, const char *json,
                      const struct cluster_call *call, struct cl_sink *sink,
                      long *status, uint64_t timeout_ms)
{
    struct cl_source src = {.call = call};
    char ebuf[CURL_ERROR_SIZE] = "";
    struct cl_xfer x = {c, node, __atomic_load_n(&c->epoch, __ATOMIC_ACQUIRE)};
    struct curl_slist *hdrs = NULL;
    size_t i;
    CURLcode cc;

    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    if (range)
        hdrs = curl_slist_append(hdrs, range);
    if (json)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    for (i = 0; call && i < call->nheaders; i++)
        hdrs = curl_slist_append(hdrs, call->headers[i]);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (call && (call->body || call->body_fd >= 0)) {
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)call->body_len);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, cl_read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, &src);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json ? json : "");
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cl_write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cl_progress_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    /* A node cut off mid-transfer is given up after stall_ms. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                     (long)((c->stall_ms + 999) / 1000));
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    cc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    if (cc != CURLE_OK) {
        log_debug(LOG_SUB_CLUSTER, "cluster: %s %s: %s", method, url,
                  ebuf[0] ? ebuf : curl_easy_strerror(cc));
        pthread_mutex_lock(&c->lock);
        snprintf(c->last_err, sizeof(c->last_err), "%s: %s", url,
                 ebuf[0] ? ebuf : curl_easy_strerror(cc));
        pthread_mutex_unlock(&c->lock);
        return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST
                   ? -ECONNREFUSED
                   : -EIO;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

static char *cl_signed_header(struct cluster *c, const char *method,
                              const char *path)
{
    struct creds cr;

    if (creds_get(&c->creds, &cr) < 0)
        return NULL;
    return token_request_header(cr.access_key, cr.secret_key, method, path);
}

static char *cl_bearer_header(struct cluster *c)
{
    char *h;

    pthread_mutex_lock(&c->lock);
    h = xasprintf("Authorization: Bearer %s", c->token);
    pthread_mutex_unlock(&c->lock);
    return h;
}

/*
 * method path on the pmsd that answers, starting with the last good one:
 * signed with the key when sign, else with the token. 0 with *status and
 * *reply (the caller's), or -EHOSTUNREACH.
 */
static int cl_pms_call(struct cluster *c, CURL *h, const char *method,
                       const char *path, const char *body, bool sign,
                       uint64_t timeout_ms, long *status, json_t **reply)
{
    struct buf b;
    size_t i, k;
    int rc = -EHOSTUNREACH;

    *reply = NULL;
    for (i = 0; i < c->npms && !__atomic_load_n(&c->stop, __ATOMIC_RELAXED);
         i++) {
        char *url, *auth, *p = xstrdup(path);
        struct cl_sink sink = {.b = &b};

        k = (c->cur + i) % c->npms;
        p[strcspn(p, "?")] = '\0';
        auth = sign ? cl_signed_header(c, method, p) : cl_bearer_header(c);
        free(p);
        url = xasprintf("%s%s", c->pms[k], path);
        buf_init(&b, CL_MAX_REPLY);
        rc = auth ? cl_perform(c, h, NULL, method, url, auth, NULL, body, NULL,
                               &sink, status, timeout_ms)
                  : -EINVAL;
        if (rc == 0) {
            *reply = b.len ? json_loadb(b.data, b.len, 0, NULL) : NULL;
            c->cur = k;
        }
        buf_free(&b);
        free(url);
        free(auth);
        if (rc == 0 || rc == -EINVAL)
            return rc;
        rc = -EHOSTUNREACH;
    }
    return rc;
}

static const char *cl_msg(const json_t *j)
{
    const char *m = json_string_value(json_object_get(j, "message"));

    return m ? m : "no message";
}

/* ---- Token, pbucket, nodes ------------------------------------------- */

/* "no pmsd answers", with why the last attempt failed (e.g. a
 * certificate the CA file does not vouch for). */
static void cl_no_pmsd(struct cluster *c, char *err, size_t errlen)
{
    pthread_mutex_lock(&c->lock);
    snprintf(err, errlen, "no pmsd answers%s%s%s",
             c->last_err[0] ? " (last: " : "", c->last_err,
             c->last_err[0] ? ")" : "");
    pthread_mutex_unlock(&c->lock);
}

static int cl_token_fetch(struct cluster *c, CURL *h, char *err, size_t errlen)
{
    const char *tok;
    char body[64];
    json_t *j;
    long status = 0;
    int rc;

    snprintf(body, sizeof(body), "{\"ttl\": %u}", c->ttl_s);
    rc = cl_pms_call(c, h, "POST", "/v1/token", c->ttl_s ? body : NULL, true,
                     c->timeout_ms, &status, &j);
    if (rc == -EINVAL) {
        snprintf(err, errlen,
                 "cannot sign with the key in the credentials "
                 "file");
        return rc;
    }
    if (rc < 0) {
        cl_no_pmsd(c, err, errlen);
        return rc;
    }
    tok = json_string_value(json_object_get(j, "token"));
    if (status == 401 || status == 403) {
        snprintf(err, errlen, "pmsd refused the credentials: %s", cl_msg(j));
        rc = -EACCES;
    } else if (status != 200 || !tok || strlen(tok) > CL_TOKEN_MAX) {
        snprintf(err, errlen, "pmsd: POST /v1/token: %ld %s", status,
                 cl_msg(j));
        rc = -EIO;
    } else {
        struct token t, old;

        token_init(&t);
        if (token_peek(tok, &t) < 0)
            log_warnx("cluster: cannot read the scopes of the token");
        pthread_mutex_lock(&c->lock);
        snprintf(c->token, sizeof(c->token), "%s", tok);
        c->token_iat = json_integer_value(json_object_get(j, "issued_at"));
        c->token_exp = json_integer_value(json_object_get(j, "expires_at"));
        old = c->scopes;
        c->scopes = t;
        pthread_mutex_unlock(&c->lock);
        token_fini(&old);
    }
    json_decref(j);
    return rc;
}

static int cl_pbucket_fetch(struct cluster *c, CURL *h, char *err,
                            size_t errlen)
{
    char *esc = curl_easy_escape(h, c->pbucket, 0);
    char *path = xasprintf("/v1/pbuckets/%s", esc);
    json_int_t cs;
    json_t *j;
    long status = 0;
    int rc;

    curl_free(esc);
    rc =
        cl_pms_call(c, h, "GET", path, NULL, false, c->timeout_ms, &status, &j);
    free(path);
    if (rc < 0) {
        cl_no_pmsd(c, err, errlen);
        return rc;
    }
    cs = json_integer_value(json_object_get(j, "chunk_size"));
    if (status == 404) {
        snprintf(err, errlen, "no pbucket '%s'", c->pbucket);
        rc = -ENOENT;
    } else if (status == 401 || status == 403) {
        snprintf(err, errlen, "not allowed to use pbucket '%s': %s", c->pbucket,
                 cl_msg(j));
        rc = -EACCES;
    } else if (status != 200 || !chunk_size_valid((uint64_t)cs)) {
        snprintf(err, errlen, "pbucket '%s': %ld %s", c->pbucket, status,
                 cl_msg(j));
        rc = -EIO;
    } else {
        c->chunk_size = (uint64_t)cs;
    }
    json_decref(j);
    return rc;
}

/* GET /v1/nodes (a long-poll when wait_epoch is given). 0 or -errno. */
static int cl_nodes_fetch(struct cluster *c, CURL *h, const uint64_t *wait,
                          unsigned timeout_s)
{
    struct cl_nodes *ns;
    char path[96];
    json_t *j;
    long status = 0;
    int rc;

    if (wait)
        snprintf(path, sizeof(path), "/v1/nodes?wait_epoch=%llu&timeout=%u",
                 (unsigned long long)*wait, timeout_s);
    else
        snprintf(path, sizeof(path), "/v1/nodes");
    rc = cl_pms_call(c, h, "GET", path, NULL, false,
                     c->timeout_ms + (wait ? timeout_s * 1000ull : 0), &status,
                     &j);
    if (rc < 0)
        return rc;
    ns = status == 200 ? cl_nodes_parse(j) : NULL;
    json_decref(j);
    if (!ns)
        return status == 401 ? -EKEYEXPIRED : -EIO;
    cl_nodes_publish(c, ns);
    return 0;
}

/* ---- Control thread ------------------------------------------------------ */

static bool cl_token_due(struct cluster *c)
{
    int64_t now = (int64_t)time(NULL), due;

    pthread_mutex_lock(&c->lock);
    due = c->token_iat + (c->token_exp - c->token_iat) * 2 / 3;
    pthread_mutex_unlock(&c->lock);
    return now >= due;
}

/* Sleeps ms unless stopped; false when stopping. */
static bool cl_sleep(struct cluster *c, uint64_t ms)
{
    struct timespec ts;
    bool go;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->lock);
    while (!c->stop && pthread_cond_timedwait(&c->cond, &c->lock, &ts) == 0)
        ;
    go = !c->stop;
    pthread_mutex_unlock(&c->lock);
    return go;
}

static void *cl_control_main(void *arg)
{
    struct cluster *c = arg;
    CURL *h = curl_easy_init();
    char err[256];
    uint64_t epoch;
    int64_t left;
    size_t n;
    int rc;

    while (h && !__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
        if (cl_token_due(c) && cl_token_fetch(c, h, err, sizeof(err)) < 0) {
            log_warnx("cluster: token refresh: %s", err);
            if (!cl_sleep(c, CL_RETRY_MS))
                break;
            continue;
        }
        pthread_mutex_lock(&c->lock);
        left = c->token_iat + (c->token_exp - c->token_iat) * 2 / 3 -
               (int64_t)time(NULL);
        pthread_mutex_unlock(&c->lock);
        epoch = cluster_epoch(c, &n);
        /* Wake up in time for the next token refresh. */
        rc = cl_nodes_fetch(c, h, &epoch,
                            (unsigned)(left < 1               ? 1
                                       : left < CL_LONGPOLL_S ? left
                                                              : CL_LONGPOLL_S));
        if (rc == -EKEYEXPIRED) {
            pthread_mutex_lock(&c->lock);
            c->token_iat = c->token_exp = 0; /* refresh now */
            pthread_mutex_unlock(&c->lock);
        } else if (rc < 0 && !cl_sleep(c, CL_RETRY_MS)) {
            break;
        }
    }
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

/* ---- Fetches ------------------------------------------------------------- */

/* The path of a chunk GET (key escaped whole: pcpd takes %2F). */
static char *cl_chunk_path(CURL *h, const struct cluster *c,
                           const struct cl_job *j)
{
    char *pb = curl_easy_escape(h, c->pbucket, 0);
    char *key = curl_easy_escape(h, j->key, 0);
    char *etag = curl_easy_escape(h, j->etag, 0);
    char *p = xasprintf("/v1/chunk/%s/%s?etag=%s&index=%llu&chunk_size=%llu",
                        pb, key, etag, (unsigned long long)j->index,
                        (unsigned long long)c->chunk_size);

    curl_free(pb);
    curl_free(key);
    curl_free(etag);
    return p;
}

/* The URL of path on a node: its address as pmsd has it when that has a
 * scheme (a TLS node registers https://host:port), else http://. */
static char *cl_node_url(const char *addr, const char *path)
{
    return strstr(addr, "://") ? xasprintf("%s%s", addr, path)
                               : xasprintf("http://%s%s", addr, path);
}

/* One node: 0 (done), or -errno: -EAGAIN means "try the next node". */
static int cl_fetch_one(struct cluster *c, CURL *h, struct cl_job *j,
                        const char *node, const char *addr, const char *path,
                        size_t *got)
{
    char range[96], *url = cl_node_url(addr, path), *auth;
    struct cl_sink sink = {.mem = j->buf, .cap = j->len};
    long status = 0;
    int rc, tries;

    snprintf(range, sizeof(range), "Range: bytes=%llu-%llu",
             (unsigned long long)j->off,
             (unsigned long long)(j->off + j->len - 1));
    for (tries = 0; tries < 2; tries++) {
        sink.got = 0;
        auth = cl_bearer_header(c);
        rc = cl_perform(c, h, node, "GET", url, auth, range, NULL, NULL, &sink,
                        &status, c->timeout_ms);
        free(auth);
        if (rc == 0 && status == 401 && tries == 0) {
            char err[256];

            /* Expired under us (a long stall): one new token, once. */
            if (cl_token_fetch(c, h, err, sizeof(err)) == 0)
                continue;
        }
        break;
    }
    free(url);
    if (rc < 0 || status >= 500 || status == 0)
        return -EAGAIN; /* down, slow or failing: the next node */
    *got = sink.got;
    switch (status) {
    case 200:
    case 206:
        return sink.overflow ? -EIO : 0;
    case 412:
        return -ESTALE;
    case 404:
        return -ENOENT;
    case 401:
    case 403:
        return -EACCES;
    default:
        return -EIO;
    }
}

static int cl_fetch(struct cluster *c, CURL *h, struct cl_job *j, size_t *got)
{
    struct cl_nodes *ns = cl_nodes_get(c);
    struct chunk_id id;
    size_t *order = NULL, i, k;
    bool *pen = NULL;
    uint64_t now = monotime_ms();
    char *path;
    int rc = -EIO;

    if (!ns || ns->n == 0) {
        cl_nodes_put(c, ns);
        return -EIO;
    }
    chunk_id_make(&id, c->pbucket, j->key, j->etag, j->index, c->chunk_size);
    order = xcalloc(ns->n, sizeof(*order));
    pen = xcalloc(ns->n, sizeof(*pen));
    for (i = 0; i < ns->n; i++)
        pen[i] = __atomic_load_n(&ns->bad[i], __ATOMIC_RELAXED) > now;
    cl_order(&ns->pl, pen, ns->n, &id, order);
    path = cl_chunk_path(h, c, j);
    for (i = 0; i < ns->n; i++) {
        k = order[i];
        rc = cl_fetch_one(c, h, j, ns->ids[k], ns->addrs[k], path, got);
        if (rc != -EAGAIN)
            break;
        __atomic_store_n(&ns->bad[k], monotime_ms() + CLUSTER_NODE_PENALTY_MS,
                         __ATOMIC_RELAXED);
        log_info("cluster: node %s failed: trying the next one", ns->ids[k]);
        rc = -EIO;
    }
    free(path);
    free(order);
    free(pen);
    cl_nodes_put(c, ns);
    return rc;
}

static void *cl_fetch_main(void *arg)
{
    struct cluster *c = arg;
    CURL *h = curl_easy_init();
    struct cl_job *j;
    size_t got;
    int rc;

    for (;;) {
        pthread_mutex_lock(&c->lock);
        while (!c->qhead && !c->stop)
            pthread_cond_wait(&c->qcond, &c->lock);
        j = c->qhead;
        if (j) {
            c->qhead = j->next;
            if (!c->qhead)
                c->qtail = NULL;
            c->qlen--;
        }
        pthread_mutex_unlock(&c->lock);
        if (!j)
            break; /* stopping, queue drained */
        if (j->run) {
            j->run(j->arg);
            free(j);
            continue;
        }
        got = 0;
        rc = __atomic_load_n(&c->stop, __ATOMIC_RELAXED) ? -ECANCELED
             : h ? cl_fetch(c, h, j, &got)
                 : -ENOMEM;
        j->cb(rc, got, j->arg);
        free(j->key);
        free(j->etag);
        free(j);
    }
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

/* Queues j; -EAGAIN (j not taken) when the queue is full or stopping. */
static int cl_enqueue(struct cluster *c, struct cl_job *j)
{
    pthread_mutex_lock(&c->lock);
    if (c->qlen >= CL_MAX_QUEUE || c->stop) {
        pthread_mutex_unlock(&c->lock);
        return -EAGAIN;
    }
    if (c->qtail)
        c->qtail->next = j;
    else
        c->qhead = j;
    c->qtail = j;
    c->qlen++;
    pthread_cond_signal(&c->qcond);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int cluster_get_start(struct cluster *c, const struct cluster_chunk_ref *ref,
                      void *buf, cluster_get_cb cb, void *arg)
{
    struct cl_job *j;

    if (ref->len == 0 || ref->off + ref->len > c->chunk_size)
        return -EINVAL;
    j = xcalloc(1, sizeof(*j));
    j->key = xstrdup(ref->key);
    j->etag = xstrdup(ref->etag);
    j->index = ref->index;
    j->off = ref->off;
    j->len = ref->len;
    j->buf = buf;
    j->cb = cb;
    j->arg = arg;
    if (cl_enqueue(c, j) < 0) {
        free(j->key);
        free(j->etag);
        free(j);
        return -EAGAIN;
    }
    return 0;
}

int cluster_run(struct cluster *c, void (*fn)(void *arg), void *arg)
{
    struct cl_job *j = xcalloc(1, sizeof(*j));

    j->run = fn;
    j->arg = arg;
    if (cl_enqueue(c, j) < 0) {
        free(j);
        return -EAGAIN;
    }
    return 0;
}

/* ---- Metadata and writes through the nodes ------------------------------ */

static CURL *cl_handle_get(struct cluster *c)
{
    CURL *h = NULL;

    pthread_mutex_lock(&c->lock);
    if (c->nidle)
        h = c->idle[--c->nidle];
    pthread_mutex_unlock(&c->lock);
    return h ? h : curl_easy_init();
}

static void cl_handle_put(struct cluster *c, CURL *h)
{
    pthread_mutex_lock(&c->lock);
    if (c->nidle < CL_MAX_IDLE) {
        c->idle[c->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (h)
        curl_easy_cleanup(h);
}

void cluster_reply_fini(struct cluster_reply *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

char *cluster_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0), *out;

    if (!e)
        abort(); /* out of memory, as xmalloc */
    out = xstrdup(e);
    curl_free(e);
    return out;
}

bool cluster_allows(struct cluster *c, unsigned action, const char *key)
{
    bool ok;

    pthread_mutex_lock(&c->lock);
    ok = token_allows(&c->scopes, action, c->pbucket, key);
    pthread_mutex_unlock(&c->lock);
    return ok;
}

const char *cluster_pbucket(const struct cluster *c)
{
    return c->pbucket;
}

/* One node; 0 (answered, *status set) or -ECONNREFUSED / -EIO. */
static int cl_call_one(struct cluster *c, CURL *h, const char *addr,
                       const struct cluster_call *call, struct buf *b,
                       long *status)
{
    char *url = cl_node_url(addr, call->path), *auth;
    struct cl_sink sink = {.b = b};
    int rc, tries;

    for (tries = 0; tries < 2; tries++) {
        buf_reset(b);
        auth = cl_bearer_header(c);
        rc = cl_perform(c, h, NULL, call->method, url, auth, NULL, NULL, call,
                        &sink, status, c->timeout_ms);
        free(auth);
        if (rc == 0 && *status == 401 && tries == 0) {
            char err[256];

            if (cl_token_fetch(c, h, err, sizeof(err)) == 0)
                continue;
        }
        break;
    }
    free(url);
    return rc;
}

int cluster_call(struct cluster *c, const struct cluster_call *call,
                 struct cluster_reply *out)
{
    struct cl_nodes *ns = cl_nodes_get(c);
    CURL *h = NULL;
    struct chunk_id id;
    size_t *order = NULL, i, k;
    bool *pen = NULL, answered = false;
    uint64_t now = monotime_ms();
    struct buf b;
    long status = 0;
    int rc = -EIO;

    memset(out, 0, sizeof(*out));
    buf_init(&b, CL_MAX_REPLY);
    if (!ns || ns->n == 0 || !(h = cl_handle_get(c)))
        goto out;
    /* The placement of the key's first chunk of no version: one key's
     * metadata always meets the same node. */
    chunk_id_make(&id, c->pbucket, call->key ? call->key : "", "", 0,
                  c->chunk_size);
    order = xcalloc(ns->n, sizeof(*order));
    pen = xcalloc(ns->n, sizeof(*pen));
    for (i = 0; i < ns->n; i++)
        pen[i] = __atomic_load_n(&ns->bad[i], __ATOMIC_RELAXED) > now;
    cl_order(&ns->pl, pen, ns->n, &id, order);
    for (i = 0; i < ns->n; i++) {
        k = order[i];
        rc = cl_call_one(c, h, ns->addrs[k], call, &b, &status);
        if (rc == 0 && (status < 500 || !call->retry)) {
            answered = true;
            break;
        }
        if (rc == 0) {
            answered = true; /* a 5xx: keep it unless another node does
                                better */
        } else if (rc != -ECONNREFUSED && !call->retry) {
            break; /* it may have been done: do not send it twice */
        }
        __atomic_store_n(&ns->bad[k], monotime_ms() + CLUSTER_NODE_PENALTY_MS,
                         __ATOMIC_RELAXED);
        log_info("cluster: node %s failed a %s: trying the next one",
                 ns->ids[k], call->method);
    }
    if (answered) {
        out->status = status;
        out->len = b.len;
        out->body = xstrdup(b.len ? buf_str(&b) : "");
        rc = 0;
    } else {
        rc = -EIO;
    }
out:
    buf_free(&b);
    if (h)
        cl_handle_put(c, h);
    free(order);
    free(pen);
    cl_nodes_put(c, ns);
    return rc;
}

struct cl_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int rc;
    size_t got;
};

static void cl_wait_cb(int rc, size_t got, void *arg)
{
    struct cl_wait *w = arg;

    pthread_mutex_lock(&w->lock);
    w->rc = rc;
    w->got = got;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int cluster_get(struct cluster *c, const struct cluster_chunk_ref *ref,
                void *buf, size_t *got)
{
    struct cl_wait w = {.done = false};
    int rc;

    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    rc = cluster_get_start(c, ref, buf, cl_wait_cb, &w);
    if (rc == 0) {
        pthread_mutex_lock(&w.lock);
        while (!w.done)
            pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
        rc = w.rc;
        *got = w.got;
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    return rc;
}

/* ---- Life cycle -------------------------------------------------------- */

uint64_t cluster_chunk_size(const struct cluster *c)
{
    return c->chunk_size;
}

uint64_t cluster_epoch(struct cluster *c, size_t *nnodes)
{
    uint64_t e = 0;

    pthread_mutex_lock(&c->lock);
    *nnodes = c->nodes ? c->nodes->n : 0;
    if (c->nodes)
        e = c->nodes->epoch;
    pthread_mutex_unlock(&c->lock);
    return e;
}

int cluster_bearer(struct cluster *c, char *out, size_t outlen)
{
    int n;

    pthread_mutex_lock(&c->lock);
    n = snprintf(out, outlen, "Bearer %s", c->token);
    pthread_mutex_unlock(&c->lock);
    return n < 0 || (size_t)n >= outlen ? -ENOSPC : 0;
}

static int cl_parse_pms(struct cluster *c, const char *list, char *err,
                        size_t errlen)
{
    char *copy = xstrdup(list ? list : ""), *save = NULL, *tok;

    for (tok = strtok_r(copy, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        if (c->npms == CL_MAX_PMS || !strchr(tok, ':'))
            break;
        c->pms[c->npms++] =
            strstr(tok, "://")
                ? xstrdup(tok)
                : xasprintf("%s://%s", c->ca_file ? "https" : "http", tok);
    }
    free(copy);
    if (tok || c->npms == 0) {
        snprintf(err, errlen, "pms='%.200s': expected host:port[,host:port]",
                 list ? list : "");
        return -EINVAL;
    }
    return 0;
}

static int cl_start_threads(struct cluster *c, unsigned threads)
{
    size_t i;

    if (pthread_create(&c->control, NULL, cl_control_main, c) != 0)
        return -EAGAIN;
    c->control_started = true;
    c->fetchers = xcalloc(threads, sizeof(*c->fetchers));
    for (i = 0; i < threads; i++) {
        if (pthread_create(&c->fetchers[i], NULL, cl_fetch_main, c) != 0)
            return -EAGAIN;
        c->nfetchers++;
    }
    return 0;
}

int cluster_new(const struct cluster_opts *o, struct cluster **out, char *err,
                size_t errlen)
{
    struct cluster *c = xcalloc(1, sizeof(*c));
    pthread_condattr_t ca;
    char msg[256];
    CURL *h = NULL;
    int rc;

    *out = NULL;
    pthread_mutex_init(&c->lock, NULL);
    token_init(&c->scopes);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&c->qcond, NULL);
    c->pbucket = xstrdup(o->pbucket ? o->pbucket : "");
    c->ca_file = o->ca_file ? xstrdup(o->ca_file) : NULL;
    c->timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
    c->stall_ms = o->stall_ms ? o->stall_ms : 10000;
    c->ttl_s = o->ttl_s;
    rc = cl_parse_pms(c, o->pms, err, errlen);
    if (rc < 0)
        goto fail;
    if (!o->credfile ||
        creds_source_init(&c->creds, NULL, NULL, NULL, o->credfile, NULL, msg,
                          sizeof(msg)) < 0) {
        snprintf(err, errlen, "credfile: %s",
                 o->credfile ? msg : "needed with pms=");
        rc = -EINVAL;
        goto fail;
    }
    c->creds_ok = true;
    h = curl_easy_init();
    rc = h ? cl_token_fetch(c, h, err, errlen) : -ENOMEM;
    rc = rc ?: cl_pbucket_fetch(c, h, err, errlen);
    rc = rc ?: cl_nodes_fetch(c, h, NULL, 0);
    if (rc == -EIO)
        snprintf(err, errlen, "pmsd: cannot read the node list");
    rc = rc ?: cl_start_threads(c, o->threads ? o->threads : 16);
    if (rc < 0)
        goto fail;
    curl_easy_cleanup(h);
    *out = c;
    return 0;
fail:
    if (h)
        curl_easy_cleanup(h);
    cluster_free(c);
    return rc;
}

void cluster_free(struct cluster *c)
{
    size_t i;

    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    __atomic_store_n(&c->stop, true, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&c->cond);
    pthread_cond_broadcast(&c->qcond);
    pthread_mutex_unlock(&c->lock);
    if (c->control_started)
        pthread_join(c->control, NULL);
    for (i = 0; i < c->nfetchers; i++)
        pthread_join(c->fetchers[i], NULL);
    free(c->fetchers);
    for (i = 0; i < c->nidle; i++)
        curl_easy_cleanup(c->idle[i]);
    cl_nodes_put(c, c->nodes);
    for (i = 0; i < c->npms; i++)
        free(c->pms[i]);
    if (c->creds_ok)
        creds_source_fini(&c->creds);
    token_fini(&c->scopes);
    free(c->pbucket);
    free(c->ca_file);
    pthread_cond_destroy(&c->cond);
    pthread_cond_destroy(&c->qcond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

size_t cluster_nodes(struct cluster *c, char ***ids, char ***addrs)
{
    struct cl_nodes *ns = cl_nodes_get(c);
    size_t i, n = ns ? ns->n : 0;

    *ids = xcalloc(n + 1, sizeof(char *));
    *addrs = xcalloc(n + 1, sizeof(char *));
    for (i = 0; i < n; i++) {
        (*ids)[i] = xstrdup(ns->ids[i]);
        (*addrs)[i] = xstrdup(ns->addrs[i]);
    }
    cl_nodes_put(c, ns);
    return n;
}

void cluster_strv_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}
