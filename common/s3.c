/* SPDX-License-Identifier: MIT */
/*
 * s3.c: the S3 client's request layer: turns each S3 operation into a
 * signed HTTP request, runs it on the engine (s3_engine.c) and turns the
 * answer into results (see s3.h for the API and its contract).
 *
 * Addressing: path style puts the bucket in the path
 * (http://host/bucket/key), virtual-hosted style in the host name
 * (http://bucket.host/key). Keys are URI-encoded once, segment by segment,
 * '/' kept and nothing normalised, and curl is told not to touch the path
 * (CURLOPT_PATH_AS_IS), so the path signed is the path sent.
 */
#include "common/s3_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"

const struct config_entry s3_config_table[] = {
    S3_CONFIG_ENTRIES(struct s3_config_holder, cfg),
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

/* --- small pieces ------------------------------------------------------ */

void s3_kvlist_add(struct s3_kvlist *l, const char *name, const char *value)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n].name = xstrdup(name);
    l->v[l->n].value = xstrdup(value ? value : "");
    l->n++;
}

void s3_kvlist_fini(struct s3_kvlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        free((char *)l->v[i].name);
        free((char *)l->v[i].value);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

void s3_object_meta_init(struct s3_object_meta *m)
{
    memset(m, 0, sizeof(*m));
    m->size = -1;
}

void s3_object_meta_fini(struct s3_object_meta *m)
{
    size_t i;

    for (i = 0; i < m->nuser; i++) {
        free(m->user[i].name);
        free(m->user[i].value);
    }
    free(m->user);
    m->user = NULL;
    m->nuser = 0;
}

const char *s3_object_meta_get(const struct s3_object_meta *m, const char *name)
{
    size_t i;

    for (i = 0; i < m->nuser; i++) {
        if (strcasecmp(m->user[i].name, name) == 0)
            return m->user[i].value;
    }
    return NULL;
}

/* Header values must not smuggle a line break into the request. */
bool s3_header_value_ok(const char *v)
{
    for (; *v; v++) {
        if (*v == '\r' || *v == '\n' || *v == '\0')
            return false;
    }
    return true;
}

int s3_check_key(const char *key)
{
    size_t n;

    if (!key)
        return 0;
    n = strlen(key);
    if (n == 0)
        return -EINVAL;
    if (n > S3_MAX_KEY_LEN)
        return -ENAMETOOLONG;
    return 0;
}

/* --- requests --------------------------------------------------------- */

struct s3_req *s3_req_create(struct s3_client *c, const char *method,
                             const char *bucket, const char *key,
                             unsigned flags)
{
    struct s3_req *req = xcalloc(1, sizeof(*req));

    req->client = c;
    req->method = method;
    req->bucket = xstrdup(bucket);
    req->key = key ? xstrdup(key) : NULL;
    req->flags = flags;
    buf_init(&req->body_owned, S3_MAX_XML_BODY);
    buf_init(&req->resp,
             (flags & S3_REQ_XML) ? S3_MAX_XML_BODY : S3_MAX_ERROR_BODY);
    s3_object_meta_init(&req->meta);
    s3_error_clear(&req->err);
    backoff_init(&req->backoff, (uint32_t)c->cfg.retry_base_ms,
                 (uint32_t)c->cfg.retry_max_ms, monotime_ns() ^ (uintptr_t)req);
    pthread_mutex_init(&req->lock, NULL);
    pthread_cond_init(&req->cond, NULL);
    return req;
}

void s3_req_free(struct s3_req *req)
{
    if (!req)
        return;
    free(req->bucket);
    free(req->key);
    s3_kvlist_fini(&req->query);
    s3_kvlist_fini(&req->headers);
    buf_free(&req->body_owned);
    buf_free(&req->resp);
    s3_object_meta_fini(&req->meta);
    free(req->out_str);
    s3_list_result_fini(&req->list);
    s3_delete_result_fini(&req->del);
    s3_uploads_result_fini(&req->uploads);
    if (req->retry_ev)
        event_free(req->retry_ev);
    pthread_cond_destroy(&req->cond);
    pthread_mutex_destroy(&req->lock);
    free(req);
}

void s3_req_reset_results(struct s3_req *req)
{
    int attempts = req->err.attempts;

    s3_object_meta_fini(&req->meta);
    s3_object_meta_init(&req->meta);
    s3_error_clear(&req->err);
    req->err.attempts = attempts;
    buf_reset(&req->resp);
    req->errbuf[0] = '\0';
    req->body_pos = 0;
    req->http_status = 0;
    req->skip = 0;
    req->attempt_received = 0;
    if (req->sink.kind == S3_SINK_BUF && req->received)
        req->sink.buf->len -= req->received; /* drop a failed attempt */
    if (req->sink.kind != S3_SINK_CB)
        req->received = 0;
}

void s3_req_deliver(struct s3_req *req)
{
    if (req->cb) {
        req->cb(req, req->rc, req->cb_arg);
        s3_req_free(req);
        return;
    }
    pthread_mutex_lock(&req->lock);
    req->done = true;
    pthread_cond_signal(&req->cond);
    pthread_mutex_unlock(&req->lock);
}

int s3_req_wait(struct s3_req *req)
{
    pthread_mutex_lock(&req->lock);
    while (!req->done)
        pthread_cond_wait(&req->cond, &req->lock);
    pthread_mutex_unlock(&req->lock);
    return req->rc;
}

bool s3_req_done(struct s3_req *req)
{
    bool done;

    pthread_mutex_lock(&req->lock);
    done = req->done;
    pthread_mutex_unlock(&req->lock);
    return done;
}

const struct s3_error *s3_req_error(const struct s3_req *req)
{
    return &req->err;
}

const struct s3_object_meta *s3_req_meta(const struct s3_req *req)
{
    return &req->meta;
}

uint64_t s3_req_bytes(const struct s3_req *req)
{
    return req->received;
}

struct s3_req *s3_req_launch(struct s3_req *req, s3_done_cb cb, void *arg)
{
    req->cb = cb;
    req->cb_arg = arg;
    s3_engine_submit(req->client->engine, req);
    return cb ? NULL : req;
}

/* A request that failed before it was sent: delivered the same way. */
struct s3_req *s3_req_fail(struct s3_req *req, int rc, s3_done_cb cb, void *arg)
{
    req->rc = rc;
    req->cb = cb;
    req->cb_arg = arg;
    if (cb) {
        s3_req_deliver(req);
        return NULL;
    }
    req->done = true;
    return req;
}

int s3_req_execute(struct s3_req *req, struct s3_error *err)
{
    int rc;

    if (!req->done)
        s3_req_launch(req, NULL, NULL);
    rc = s3_req_wait(req);
    if (err)
        *err = req->err;
    return rc;
}

char *s3_req_take_str(struct s3_req *req)
{
    char *s = req->out_str;

    req->out_str = NULL;
    return s;
}

/* --- building and signing one attempt ------------------------------- */

static void s3_payload_hash(const struct s3_req *req, char out[65])
{
    const struct s3_config *cfg = &req->client->cfg;

    if (req->body.kind == S3_BODY_NONE || req->body.len == 0) {
        memcpy(out, SIGV4_EMPTY_SHA256, 65);
    } else if (req->body.kind == S3_BODY_MEM && cfg->sign_payload) {
        sigv4_sha256_hex(req->body.data, req->body.len, out);
    } else {
        snprintf(out, 65, "%s", SIGV4_UNSIGNED_PAYLOAD);
    }
}

/* Path and host of the request, per the addressing style. */
static int s3_req_path(const struct s3_req *req, struct buf *path,
                       struct buf *host)
{
    const struct s3_client *c = req->client;
    int rc;

    if (c->cfg.path_style) {
        rc = buf_append_str(host, c->authority);
        rc = rc ?: buf_append_byte(path, '/');
        rc = rc
                 ?: sigv4_uri_encode(path, req->bucket, strlen(req->bucket),
                                     false);
        if (req->key) {
            rc = rc ?: buf_append_byte(path, '/');
            rc = rc ?: sigv4_uri_encode(path, req->key, strlen(req->key), true);
        }
        return rc;
    }
    rc = buf_appendf(host, "%s.%s", req->bucket, c->authority);
    rc = rc ?: buf_append_byte(path, '/');
    if (req->key)
        rc = rc ?: sigv4_uri_encode(path, req->key, strlen(req->key), true);
    return rc;
}

static int s3_req_query(const struct s3_req *req, struct buf *url)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < req->query.n && rc == 0; i++) {
        const struct sigv4_kv *kv = &req->query.v[i];

        rc = buf_append_byte(url, i == 0 ? '?' : '&');
        rc = rc ?: sigv4_uri_encode(url, kv->name, strlen(kv->name), false);
        if (kv->value[0]) {
            rc = rc ?: buf_append_byte(url, '=');
            rc = rc
                     ?: sigv4_uri_encode(url, kv->value, strlen(kv->value),
                                         false);
        }
    }
    return rc;
}

static int s3_slist_add(struct curl_slist **l, const char *name,
                        const char *value)
{
    char *line = xasprintf("%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(*l, line);

    free(line);
    if (!n)
        return -ENOMEM;
    *l = n;
    return 0;
}

/* The headers every request signs, then the request's own. */
static size_t s3_req_sign_headers(const struct s3_req *req,
                                  struct sigv4_kv *out, const char *host,
                                  const char *date, const char *hash,
                                  const struct creds *cr)
{
    size_t n = 0, i;

    out[n++] = (struct sigv4_kv){"host", host};
    out[n++] = (struct sigv4_kv){"x-amz-date", date};
    out[n++] = (struct sigv4_kv){"x-amz-content-sha256", hash};
    if (cr->session_token[0])
        out[n++] = (struct sigv4_kv){"x-amz-security-token", cr->session_token};
    for (i = 0; i < req->headers.n; i++)
        out[n++] = req->headers.v[i];
    return n;
}

static int s3_req_headers(struct sigv4_kv *sh, size_t nsh, const char *auth,
                          struct curl_slist **headers)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < nsh && rc == 0; i++)
        rc = s3_slist_add(headers, sh[i].name, sh[i].value);
    rc = rc ?: s3_slist_add(headers, "Authorization", auth);
    /* No 100-continue round trip; no form content type on POST. */
    if (rc == 0 && !(*headers = curl_slist_append(*headers, "Expect:")))
        rc = -ENOMEM;
    if (rc == 0 && !(*headers = curl_slist_append(*headers, "Content-Type:")))
        rc = -ENOMEM;
    return rc;
}

int s3_req_build(struct s3_req *req, struct buf *url,
                 struct curl_slist **headers)
{
    struct s3_client *c = req->client;
    struct sigv4_kv *sh = NULL;
    struct buf path, host, auth;
    struct creds cr;
    char date[17], hash[65];
    struct sigv4_params p;
    size_t nsh;
    time_t now = time(NULL);
    int rc;

    buf_init(&path, 8192);
    buf_init(&host, 1024);
    buf_init(&auth, 1024);
    rc = creds_get(c->creds, &cr);
    if (rc)
        goto out;
    rc = s3_req_path(req, &path, &host);
    rc = rc
             ?: buf_appendf(url, "%s://%s%s", c->scheme, buf_str(&host),
                            buf_str(&path));
    rc = rc ?: s3_req_query(req, url);
    if (rc)
        goto out;
    sigv4_format_date(now, date);
    s3_payload_hash(req, hash);
    sh = xcalloc(req->headers.n + 4, sizeof(*sh));
    nsh = s3_req_sign_headers(req, sh, buf_str(&host), date, hash, &cr);
    p = (struct sigv4_params){
        .method = req->method,
        .path = buf_str(&path),
        .query = req->query.v,
        .nquery = req->query.n,
        .headers = sh,
        .nheaders = nsh,
        .payload_hash = hash,
        .access_key = cr.access_key,
        .secret_key = cr.secret_key,
        .region = c->cfg.region,
        .service = "s3",
        .now = now,
    };
    rc = sigv4_authorization(&p, &auth);
    rc = rc ?: s3_req_headers(sh, nsh, buf_str(&auth), headers);
out:
    explicit_bzero(&cr, sizeof(cr));
    free(sh);
    buf_free(&path);
    buf_free(&host);
    buf_free(&auth);
    return rc;
}

/* --- client ------------------------------------------------------------ */

static int s3_client_parse_endpoint(struct s3_client *c, char *err,
                                    size_t errlen)
{
    const char *ep = c->cfg.endpoint, *auth;
    size_t n;

    if (!ep || !*ep) {
        snprintf(err, errlen, "no S3 endpoint given (endpoint=URL)");
        return -EINVAL;
    }
    if (strncmp(ep, "http://", 7) == 0) {
        c->scheme = xstrdup("http");
        auth = ep + 7;
    } else if (strncmp(ep, "https://", 8) == 0) {
        c->scheme = xstrdup("https");
        auth = ep + 8;
    } else {
        snprintf(err, errlen,
                 "endpoint '%s' must start with http:// or https://", ep);
        return -EINVAL;
    }
    n = strcspn(auth, "/?#");
    if (n == 0 || auth[n + strspn(auth + n, "/")] != '\0') {
        snprintf(err, errlen,
                 "endpoint '%s' must be scheme://host[:port] with no path", ep);
        return -EINVAL;
    }
    c->authority = xstrndup(auth, n);
    c->base_url = xasprintf("%s://%s", c->scheme, c->authority);
    return 0;
}

static void s3_config_copy(struct s3_config *dst, const struct s3_config *src)
{
    *dst = *src;
    dst->endpoint = src->endpoint ? xstrdup(src->endpoint) : NULL;
    dst->region =
        xstrdup(src->region && *src->region ? src->region : "us-east-1");
    dst->ca_file = src->ca_file ? xstrdup(src->ca_file) : NULL;
}

static void *s3_client_thread(void *arg)
{
    struct s3_client *c = arg;

    event_base_loop(c->own_base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void s3_curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void s3_client_global_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    /* curl_global_init is not thread-safe: run it exactly once. */
    pthread_once(&once, s3_curl_init_once);
}

struct s3_client *s3_client_new(const struct s3_config *cfg,
                                struct creds_source *creds,
                                struct event_base *base, char *err,
                                size_t errlen)
{
    struct s3_client *c = xcalloc(1, sizeof(*c));

    s3_client_global_init();
    s3_config_copy(&c->cfg, cfg);
    c->creds = creds;
    if (s3_client_parse_endpoint(c, err, errlen) < 0)
        goto fail;
    if (!base) {
        c->own_base = event_base_new();
        if (!c->own_base) {
            snprintf(err, errlen, "event_base_new failed");
            goto fail;
        }
        base = c->own_base;
    }
    c->engine = s3_engine_new(c, base, err, errlen);
    if (!c->engine)
        goto fail;
    if (c->own_base) {
        if (pthread_create(&c->thread, NULL, s3_client_thread, c) != 0) {
            snprintf(err, errlen, "cannot start the S3 thread");
            goto fail;
        }
        c->own_thread = true;
    }
    return c;
fail:
    s3_client_free(c);
    return NULL;
}

void s3_client_free(struct s3_client *c)
{
    if (!c)
        return;
    if (c->own_thread) {
        s3_engine_stop(c->engine);
        pthread_join(c->thread, NULL);
    }
    s3_engine_free(c->engine);
    if (c->own_base)
        event_base_free(c->own_base);
    free(c->cfg.endpoint);
    free(c->cfg.region);
    free(c->cfg.ca_file);
    free(c->base_url);
    free(c->scheme);
    free(c->authority);
    free(c);
}

void s3_client_stats(struct s3_client *c, struct s3_stats *out)
{
    uint64_t *dst = (uint64_t *)out, *src = (uint64_t *)&c->stats;
    size_t i;

    for (i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

const struct s3_config *s3_client_config(const struct s3_client *c)
{
    return &c->cfg;
}

int s3_presign(struct s3_client *c, const char *method, const char *bucket,
               const char *key, unsigned expires, struct buf *url)
{
    struct s3_req *req = s3_req_create(c, method, bucket, key, 0);
    struct buf path, host, query;
    struct sigv4_kv sh[1];
    struct sigv4_params p;
    struct creds cr;
    time_t now = time(NULL);
    int rc;

    buf_init(&path, 8192);
    buf_init(&host, 1024);
    buf_init(&query, 16384);
    rc = s3_check_key(key);
    if (expires == 0 || expires > SIGV4_MAX_EXPIRES)
        rc = rc ?: -EINVAL;
    rc = rc ?: creds_get(c->creds, &cr);
    if (rc)
        goto out;
    rc = s3_req_path(req, &path, &host);
    if (rc)
        goto out;
    sh[0] = (struct sigv4_kv){"host", buf_str(&host)};
    p = (struct sigv4_params){
        .method = method,
        .path = buf_str(&path),
        .headers = sh,
        .nheaders = 1,
        .payload_hash = SIGV4_UNSIGNED_PAYLOAD,
        .access_key = cr.access_key,
        .secret_key = cr.secret_key,
        .session_token = cr.session_token,
        .region = c->cfg.region,
        .service = "s3",
        .now = now,
    };
    rc = sigv4_presign(&p, expires, &query);
    rc = rc
             ?: buf_appendf(url, "%s://%s%s?%s", c->scheme, buf_str(&host),
                            buf_str(&path), buf_str(&query));
    explicit_bzero(&cr, sizeof(cr));
out:
    buf_free(&path);
    buf_free(&host);
    buf_free(&query);
    s3_req_free(req);
    return rc;
}
