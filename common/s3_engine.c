/* SPDX-License-Identifier: MIT */
/*
 * s3_engine.c: runs S3 requests with libcurl's multi interface on a
 * libevent loop.
 *
 * DESIGN
 * The engine owns one CURLM and lives on one event_base. libcurl tells us
 * which sockets to watch (s3_engine_socket_cb) and when to call it back
 * (s3_engine_timer_cb); libevent watches them and calls
 * curl_multi_socket_action(), so any number of transfers progress on one
 * thread with no thread per request. Connections stay in the multi
 * handle's pool and are reused by later requests, whichever thread
 * submitted them.
 *
 * Other threads hand requests over through a mutex-protected queue and an
 * eventfd that wakes the loop. Each attempt is built and signed just
 * before it starts (a retry gets a fresh date and the current keys). When
 * a transfer ends, the engine classifies the result, retries a transient
 * failure after a backoff timer when that is safe, and otherwise delivers
 * the request to its waiter or callback.
 *
 * Threads: everything here runs on the loop's thread except
 * s3_engine_submit() and s3_engine_stop(), which only touch the queue
 * (under e->lock) and the eventfd.
 */
#include "common/s3_int.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"

struct s3_engine {
    struct s3_client *client;
    struct event_base *base; /* borrowed */
    CURLM *multi;
    struct event *timer_ev;
    struct event *wake_ev;
    int wake_fd;
    int active;           /* submitted and not yet delivered */
    pthread_mutex_t lock; /* guards the queue and stopping */
    struct s3_req *queue_head;
    struct s3_req *queue_tail;
    bool stopping;
};

/* One socket libcurl asked us to watch. */
struct s3_sock {
    struct s3_engine *engine;
    struct event *ev;
};

static void s3_engine_start(struct s3_engine *e, struct s3_req *req);

/* One request fewer in the engine; returns how many remain. */
static int s3_engine_release(struct s3_engine *e)
{
    return __atomic_sub_fetch(&e->active, 1, __ATOMIC_SEQ_CST);
}

static void s3_engine_check_done(struct s3_engine *e);

static void s3_engine_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct s3_engine *e = arg;
    int action = 0, running = 0;

    if (what & EV_READ)
        action |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        action |= CURL_CSELECT_OUT;
    curl_multi_socket_action(e->multi, fd, action, &running);
    s3_engine_check_done(e);
}

static int s3_engine_socket_cb(CURL *easy, curl_socket_t s, int what,
                               void *userp, void *socketp)
{
    struct s3_engine *e = userp;
    struct s3_sock *sk = socketp;
    short kind = EV_PERSIST;

    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            event_free(sk->ev);
            free(sk);
            curl_multi_assign(e->multi, s, NULL);
        }
        return 0;
    }
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    if (!sk) {
        sk = xcalloc(1, sizeof(*sk));
        sk->engine = e;
        sk->ev = event_new(e->base, s, kind, s3_engine_event_cb, e);
        curl_multi_assign(e->multi, s, sk);
    } else {
        event_del(sk->ev);
        event_assign(sk->ev, e->base, s, kind, s3_engine_event_cb, e);
    }
    event_add(sk->ev, NULL);
    return 0;
}

static void s3_engine_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct s3_engine *e = arg;
    int running = 0;

    curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    s3_engine_check_done(e);
}

static int s3_engine_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct s3_engine *e = userp;
    struct timeval tv;

    if (timeout_ms < 0) {
        evtimer_del(e->timer_ev);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(e->timer_ev, &tv);
    return 0;
}

/* --- transfer callbacks (engine thread, inside curl) ------------------- */

static size_t s3_engine_read_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct s3_req *req = arg;
    uint64_t left = req->body.len - req->body_pos;
    size_t want = size * nmemb;
    ssize_t got;

    if (want > left)
        want = (size_t)left;
    if (want == 0)
        return 0;
    if (req->body.kind == S3_BODY_MEM) {
        memcpy(ptr, (const char *)req->body.data + req->body_pos, want);
        got = (ssize_t)want;
    } else {
        got = pread(req->body.fd, ptr, want,
                    (off_t)(req->body.off + req->body_pos));
        if (got <= 0) {
            /* A staging file that shrinks under us is our bug or a full
             * disk; either way the upload must fail, not send zeros. */
            req->rc = got < 0 ? -errno : -EIO;
            return CURL_READFUNC_ABORT;
        }
    }
    req->body_pos += (uint64_t)got;
    s3_stat_add(req->client, bytes_out, (uint64_t)got);
    return (size_t)got;
}

static int s3_engine_seek_cb(void *arg, curl_off_t offset, int origin)
{
    struct s3_req *req = arg;

    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > req->body.len)
        return CURL_SEEKFUNC_FAIL;
    req->body_pos = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static char *s3_engine_trim(char *s, size_t *len)
{
    while (*len && (*s == ' ' || *s == '\t')) {
        s++;
        (*len)--;
    }
    while (*len && (s[*len - 1] == '\r' || s[*len - 1] == '\n' ||
                    s[*len - 1] == ' ' || s[*len - 1] == '\t'))
        (*len)--;
    return s;
}

static void s3_engine_copy_field(char *dst, size_t size, const char *v,
                                 size_t len)
{
    if (len >= size)
        len = size - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

#define S3_MAX_USER_META 64

static void s3_engine_user_meta(struct s3_object_meta *m, const char *name,
                                size_t nlen, const char *v, size_t vlen)
{
    size_t i;

    if (m->nuser >= S3_MAX_USER_META || nlen == 0)
        return;
    m->user = xrealloc(m->user, (m->nuser + 1) * sizeof(*m->user));
    m->user[m->nuser].name = xstrndup(name, nlen);
    for (i = 0; i < nlen; i++)
        m->user[m->nuser].name[i] =
            (char)tolower((unsigned char)m->user[m->nuser].name[i]);
    m->user[m->nuser].value = xstrndup(v, vlen);
    m->nuser++;
}

/* "bytes 0-9/443" -> 443 */
static int64_t s3_engine_range_total(const char *v, size_t len)
{
    const char *slash = memchr(v, '/', len);
    char tmp[32];

    if (!slash || (size_t)(v + len - slash - 1) >= sizeof(tmp))
        return -1;
    s3_engine_copy_field(tmp, sizeof(tmp), slash + 1,
                         (size_t)(v + len - slash - 1));
    return tmp[0] == '*' ? -1 : strtoll(tmp, NULL, 10);
}

static void s3_engine_header(struct s3_req *req, const char *name, size_t nlen,
                             char *v, size_t vlen)
{
    struct s3_object_meta *m = &req->meta;
    char tmp[64];

#define S3_IS(s) (nlen == sizeof(s) - 1 && strncasecmp(name, s, nlen) == 0)
    if (S3_IS("etag")) {
        s3_engine_copy_field(m->etag, sizeof(m->etag), v, vlen);
    } else if (S3_IS("content-length")) {
        s3_engine_copy_field(tmp, sizeof(tmp), v, vlen);
        if (m->size < 0)
            m->size = strtoll(tmp, NULL, 10);
    } else if (S3_IS("content-range")) {
        m->size = s3_engine_range_total(v, vlen);
    } else if (S3_IS("last-modified")) {
        char date[64];
        s3_engine_copy_field(date, sizeof(date), v, vlen);
        m->mtime = curl_getdate(date, NULL);
    } else if (S3_IS("content-type")) {
        s3_engine_copy_field(m->content_type, sizeof(m->content_type), v, vlen);
    } else if (S3_IS("x-amz-storage-class")) {
        s3_engine_copy_field(m->storage_class, sizeof(m->storage_class), v,
                             vlen);
    } else if (S3_IS("x-amz-version-id")) {
        s3_engine_copy_field(m->version_id, sizeof(m->version_id), v, vlen);
    } else if (S3_IS("x-amz-request-id")) {
        s3_engine_copy_field(req->err.request_id, sizeof(req->err.request_id),
                             v, vlen);
    } else if (nlen > 11 && strncasecmp(name, "x-amz-meta-", 11) == 0) {
        s3_engine_user_meta(m, name + 11, nlen - 11, v, vlen);
    }
#undef S3_IS
}

static size_t s3_engine_header_cb(char *buf, size_t size, size_t nmemb,
                                  void *arg)
{
    struct s3_req *req = arg;
    size_t len = size * nmemb, nlen, vlen;
    char *colon, *v;

    if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
        const char *sp = memchr(buf, ' ', len);
        /* A new status line (after 100 Continue): forget the old headers. */
        s3_object_meta_fini(&req->meta);
        s3_object_meta_init(&req->meta);
        req->http_status = sp ? strtol(sp + 1, NULL, 10) : 0;
        /* A 200 to a ranged GET is the whole object: drop what precedes
         * the range (the write callback stops after its end). */
        req->skip =
            req->http_status == 200 && req->has_range ? req->range_off : 0;
        return len;
    }
    colon = memchr(buf, ':', len);
    if (!colon)
        return len;
    nlen = (size_t)(colon - buf);
    vlen = len - nlen - 1;
    v = s3_engine_trim(colon + 1, &vlen);
    s3_engine_header(req, buf, nlen, v, vlen);
    return len;
}

static int s3_engine_sink(struct s3_req *req, const char *data, size_t len)
{
    struct s3_sink *s = &req->sink;
    ssize_t n;

    switch (s->kind) {
    case S3_SINK_DISCARD:
        return 0;
    case S3_SINK_BUF:
        return buf_append(s->buf, data, len);
    case S3_SINK_MEM:
        if (len > s->mem_len - req->received)
            return -EMSGSIZE;
        memcpy(s->mem + req->received, data, len);
        return 0;
    case S3_SINK_FD:
        while (len > 0) {
            n = pwrite(s->fd, data, len, (off_t)(s->off + req->received));
            if (n < 0)
                return errno == EINTR ? 0 : -errno;
            data += n;
            len -= (size_t)n;
            req->received += (uint64_t)n;
        }
        return 1; /* received already counted */
    case S3_SINK_CB:
        return s->cb(data, len, s->cb_arg);
    }
    return -EINVAL;
}

static size_t s3_engine_write_cb(char *ptr, size_t size, size_t nmemb,
                                 void *arg)
{
    struct s3_req *req = arg;
    size_t len = size * nmemb;
    const size_t total = len;
    int rc;

    req->attempt_received += len;
    if (req->http_status < 200 || req->http_status >= 300 ||
        (req->flags & S3_REQ_XML)) {
        if (buf_append(&req->resp, ptr, len) < 0) {
            req->rc = -EMSGSIZE;
            return 0;
        }
        return len;
    }
    if (req->skip) {
        /* The server ignored our Range and sent the whole object. */
        size_t drop = req->skip < len ? (size_t)req->skip : len;
        req->skip -= drop;
        ptr += drop;
        len -= drop;
    }
    if (req->has_range && req->range_len - req->received < len)
        len = (size_t)(req->range_len - req->received);
    if (len == 0)
        return total;
    rc = s3_engine_sink(req, ptr, len);
    if (rc < 0) {
        req->rc = rc;
        return 0;
    }
    if (rc == 0)
        req->received += len;
    s3_stat_add(req->client, bytes_in, len);
    return total;
}

/* --- attempts, retries, completion ------------------------------------ */

static bool s3_engine_may_retry(const struct s3_engine *e,
                                const struct s3_req *req)
{
    const struct s3_error *err = &req->err;

    if (req->rc)
        return false; /* our own failure: sink, body, size cap */
    if (err->attempts > e->client->cfg.max_retries)
        return false;
    if (!s3_error_is_transient(err))
        return false;
    if (req->sink.kind == S3_SINK_CB && req->received > 0)
        return false; /* bytes already streamed cannot be taken back */
    if (req->flags & S3_REQ_IDEMPOTENT)
        return true;
    /* Not idempotent: only when the server surely did nothing. */
    return err->curl_code == CURLE_COULDNT_CONNECT || err->status == 503 ||
           err->status == 429 || strcmp(err->code, "SlowDown") == 0;
}

static void s3_engine_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct s3_req *req = arg;

    s3_engine_start(req->client->engine, req);
}

static void s3_engine_classify(struct s3_req *req, CURLcode res)
{
    struct s3_error *err = &req->err;

    err->attempts++;
    if (req->rc)
        return;
    if (res != CURLE_OK) {
        err->curl_code = res;
        snprintf(err->message, sizeof(err->message), "%s",
                 req->errbuf[0] ? req->errbuf : curl_easy_strerror(res));
        return;
    }
    err->status = (int)req->http_status;
    if (req->http_status >= 300 || req->http_status < 200) {
        if (req->resp.len == 0 ||
            s3_xml_parse_error(req->resp.data, req->resp.len, err) < 0) {
            /* HEAD answers carry no body: the status says it all. */
            if (req->http_status == 404)
                snprintf(err->code, sizeof(err->code), "%s",
                         req->key ? "NoSuchKey" : "NoSuchBucket");
        }
        return;
    }
    if (req->meta.size < 0 && req->http_status == 200 && !req->has_range)
        req->meta.size = (int64_t)req->attempt_received;
    if (req->finish)
        req->rc = req->finish(req);
}

static void s3_engine_done(struct s3_engine *e, struct s3_req *req,
                           CURLcode res)
{
    char msg[512];
    int rc;

    s3_engine_classify(req, res);
    rc = req->rc ? req->rc : -s3_error_to_errno(&req->err);
    if (rc && s3_engine_may_retry(e, req)) {
        uint32_t delay = backoff_next(&req->backoff);
        struct timeval tv = {delay / 1000, (delay % 1000) * 1000};

        log_debug(LOG_SUB_S3, "%s %s/%s: %s; retry in %u ms", req->method,
                  req->bucket, req->key ? req->key : "",
                  s3_error_format(&req->err, msg, sizeof(msg)), delay);
        s3_stat_add(e->client, retries, 1);
        if (!req->retry_ev)
            req->retry_ev = evtimer_new(e->base, s3_engine_retry_cb, req);
        evtimer_add(req->retry_ev, &tv);
        return;
    }
    req->rc = rc;
    if (rc) {
        s3_stat_add(e->client, failures, 1);
        log_debug(LOG_SUB_S3, "%s %s/%s failed: %s", req->method, req->bucket,
                  req->key ? req->key : "",
                  s3_error_format(&req->err, msg, sizeof(msg)));
    }
    s3_req_deliver(req);
    if (s3_engine_release(e) == 0 && e->stopping && e->client->own_thread)
        event_base_loopbreak(e->base);
}

static void s3_engine_release_easy(struct s3_engine *e, struct s3_req *req)
{
    if (req->easy) {
        curl_multi_remove_handle(e->multi, req->easy);
        curl_easy_cleanup(req->easy);
        req->easy = NULL;
    }
    curl_slist_free_all(req->hdr_list);
    req->hdr_list = NULL;
}

static void s3_engine_check_done(struct s3_engine *e)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(e->multi, &left))) {
        struct s3_req *req = NULL;
        CURLcode res = msg->data.result;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
        s3_engine_release_easy(e, req);
        s3_engine_done(e, req, res);
    }
}

static void s3_engine_count(struct s3_client *c, const char *method,
                            const struct s3_req *req)
{
    s3_stat_add(c, requests, 1);
    if (strcmp(method, "GET") == 0) {
        if (req->flags & S3_REQ_XML)
            s3_stat_add(c, lists, 1);
        else
            s3_stat_add(c, gets, 1);
    } else if (strcmp(method, "HEAD") == 0) {
        s3_stat_add(c, heads, 1);
    } else if (strcmp(method, "PUT") == 0) {
        s3_stat_add(c, puts, 1);
    } else if (strcmp(method, "POST") == 0) {
        s3_stat_add(c, posts, 1);
    } else if (strcmp(method, "DELETE") == 0) {
        s3_stat_add(c, deletes, 1);
    }
}

static void s3_engine_set_method(CURL *h, struct s3_req *req)
{
    const char *m = req->method;

    if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)req->body.len);
    } else if (strcmp(m, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)req->body.len);
    } else if (strcmp(m, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    }
    if (req->body.kind != S3_BODY_NONE || strcmp(m, "PUT") == 0 ||
        strcmp(m, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_READFUNCTION, s3_engine_read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, req);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, s3_engine_seek_cb);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, req);
    }
}

static void s3_engine_set_limits(CURL *h, const struct s3_config *cfg,
                                 const struct s3_req *req)
{
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)cfg->connect_timeout_ms);
    /* Bulk transfers may take long but must keep moving; everything else
     * has a hard deadline. Either way no request waits forever. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                     (long)((cfg->stall_timeout_ms + 999) / 1000));
    if (!(req->flags & S3_REQ_DATA))
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg->request_timeout_ms);
    if (cfg->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
    if (!cfg->tls_verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

static int s3_engine_setup(struct s3_req *req, CURL *h)
{
    struct s3_config *cfg = &req->client->cfg;
    struct buf url;
    int rc;

    buf_init(&url, 16384);
    rc = s3_req_build(req, &url, &req->hdr_list);
    if (rc)
        goto out;
    curl_easy_setopt(h, CURLOPT_URL, buf_str(&url));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, req->hdr_list);
    curl_easy_setopt(h, CURLOPT_PRIVATE, req);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, s3_engine_header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, req);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s3_engine_write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    s3_engine_set_method(h, req);
    s3_engine_set_limits(h, cfg, req);
out:
    buf_free(&url);
    return rc;
}

static void s3_engine_start(struct s3_engine *e, struct s3_req *req)
{
    CURL *h;
    int rc;

    s3_req_reset_results(req);
    h = curl_easy_init();
    if (!h) {
        req->rc = -ENOMEM;
        goto fail;
    }
    req->easy = h;
    rc = s3_engine_setup(req, h);
    if (rc) {
        req->rc = rc;
        goto fail;
    }
    s3_engine_count(e->client, req->method, req);
    if (curl_multi_add_handle(e->multi, h) != CURLM_OK) {
        req->rc = -EIO;
        goto fail;
    }
    return;
fail:
    s3_engine_release_easy(e, req);
    req->err.attempts++;
    s3_engine_release(e);
    s3_stat_add(e->client, failures, 1);
    s3_req_deliver(req);
}

static void s3_engine_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct s3_engine *e = arg;
    struct s3_req *list, *next;
    uint64_t v;
    bool stopping;

    if (read(e->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_warn("s3 engine: eventfd read");
    pthread_mutex_lock(&e->lock);
    list = e->queue_head;
    e->queue_head = e->queue_tail = NULL;
    stopping = e->stopping;
    pthread_mutex_unlock(&e->lock);
    for (; list; list = next) {
        next = list->next;
        list->next = NULL;
        s3_engine_start(e, list);
    }
    if (stopping && __atomic_load_n(&e->active, __ATOMIC_SEQ_CST) == 0 &&
        e->client->own_thread)
        event_base_loopbreak(e->base);
}

static void s3_engine_wake(struct s3_engine *e)
{
    uint64_t one = 1;

    if (write(e->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("s3 engine: eventfd write");
}

void s3_engine_submit(struct s3_engine *e, struct s3_req *req)
{
    /* Counted before the loop can see it, so active never goes below 0. */
    __atomic_add_fetch(&e->active, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&e->lock);
    req->next = NULL;
    if (e->queue_tail)
        e->queue_tail->next = req;
    else
        e->queue_head = req;
    e->queue_tail = req;
    pthread_mutex_unlock(&e->lock);
    s3_engine_wake(e);
}

void s3_engine_stop(struct s3_engine *e)
{
    pthread_mutex_lock(&e->lock);
    e->stopping = true;
    pthread_mutex_unlock(&e->lock);
    s3_engine_wake(e);
}

struct s3_engine *s3_engine_new(struct s3_client *c, struct event_base *base,
                                char *err, size_t errlen)
{
    struct s3_engine *e = xcalloc(1, sizeof(*e));

    e->client = c;
    e->base = base;
    pthread_mutex_init(&e->lock, NULL);
    e->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    e->multi = curl_multi_init();
    if (e->wake_fd < 0 || !e->multi) {
        snprintf(err, errlen, "cannot set up the S3 engine: %s",
                 e->wake_fd < 0 ? strerror(errno) : "curl_multi_init failed");
        s3_engine_free(e);
        return NULL;
    }
    e->timer_ev = evtimer_new(base, s3_engine_timeout_cb, e);
    e->wake_ev =
        event_new(base, e->wake_fd, EV_READ | EV_PERSIST, s3_engine_wake_cb, e);
    event_add(e->wake_ev, NULL);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, s3_engine_socket_cb);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, s3_engine_timer_cb);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long)c->cfg.max_connections);
    curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS,
                      (long)c->cfg.max_connections);
    return e;
}

void s3_engine_free(struct s3_engine *e)
{
    struct s3_req *req, *next;

    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    req = e->queue_head;
    e->queue_head = e->queue_tail = NULL;
    pthread_mutex_unlock(&e->lock);
    for (; req; req = next) {
        next = req->next;
        req->rc = -ECANCELED;
        s3_req_deliver(req);
    }
    if (e->wake_ev)
        event_free(e->wake_ev);
    if (e->timer_ev)
        event_free(e->timer_ev);
    if (e->multi)
        curl_multi_cleanup(e->multi);
    if (e->wake_fd >= 0)
        close(e->wake_fd);
    pthread_mutex_destroy(&e->lock);
    free(e);
}
