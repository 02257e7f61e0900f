/* SPDX-License-Identifier: MIT */
/*
 * pms.c: the node's pmsd client (pms.h).
 *
 * DESIGN
 * A small dedicated thread making blocking libcurl easy requests, rather
 * than a curl multi handle on a worker loop. The control plane is a
 * handful of small requests every heartbeat interval; nothing waits on
 * them but the thread itself. A dead pmsd costs a connect timeout per
 * attempt, which must never stall a worker that is streaming chunks, and
 * the sequence (key, then configuration, then registration; deregistration
 * at exit) reads top to bottom as straight-line code. The thread sleeps on
 * a condition variable, so SIGTERM (pcpd_pms_stop) and a request for a new
 * key (pcpd_pms_want_key, from a worker) wake it at once. It shares with
 * the workers only what the rest of pcpd already makes safe: the route
 * table is published with pcpd_routes_publish, the key with
 * pcpd_auth_set_key.
 */
#include "pcpd/pms.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/creds.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "common/token.h"
#include "pcpd/auth.h"
#include "pcpd/http.h"
#include "pcpd/pcpd.h"

#define PCPD_PMS_MAX_REPLY   (4u << 20) /* a node config with 256 pbuckets */
#define PCPD_PMS_RETRY_MS    1000       /* after a failure */
#define PCPD_PMS_INTERVAL_MS 5000       /* until pmsd says otherwise */
#define PCPD_PMS_MAX_ADDRS   16
#define PCPD_PMS_VERSION_LEN 128

struct pcpd_pms_peer {
    char *url;       /* owned: "http://host:port" */
    bool registered; /* pmsd knows us (as far as we know) */
    bool down;       /* the last request failed: log when it answers */
};

/* Owner: the pmsd thread, except lock, cond and the fields they guard. */
struct pcpd_pms {
    struct pcpd *pd; /* borrowed */
    const struct pcpd_config *cfg;
    struct pcpd_pms_peer peers[PCPD_PMS_MAX_ADDRS];
    size_t npeers;
    size_t cur; /* the peer that answered last: asked first */
    struct creds_source creds;
    bool creds_ok;
    char *node_id;
    char *address;
    CURL *curl;
    json_t *applied; /* {backends, pbuckets} of the table published */
    char version[PCPD_PMS_VERSION_LEN];
    uint64_t interval_ms;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;     /* under lock */
    bool want_key; /* under lock */
};

/* ---- One request ------------------------------------------------------ */

static size_t pcpd_pms_write_cb(char *data, size_t size, size_t n, void *arg)
{
    return buf_append(arg, data, size * n) == 0 ? size * n : 0;
}

/* "Authorization: PCACHE-HMAC-SHA256 ..." for method and path, or NULL. */
static char *pcpd_pms_auth_header(struct pcpd_pms *p, const char *method,
                                  const char *path)
{
    struct creds cr;

    if (creds_get(&p->creds, &cr) < 0)
        return NULL;
    return token_request_header(cr.access_key, cr.secret_key, method, path);
}

/*
 * method path (with query) at peer, body sent as JSON when given, signed
 * when sign. 0 with *status and *reply (parsed JSON or NULL; the caller's)
 * when pmsd answered, whatever the status; -EIO when it did not (logged
 * once per outage), -EMSGSIZE for an answer over the cap.
 */
static int pcpd_pms_call(struct pcpd_pms *p, struct pcpd_pms_peer *peer,
                         const char *method, const char *path,
                         const json_t *body, bool sign, long *status,
                         json_t **reply)
{
    char *url = xasprintf("%s%s", peer->url, path), *q, *auth = NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    struct buf resp;
    CURLcode cc;
    int rc = 0;

    buf_init(&resp, PCPD_PMS_MAX_REPLY);
    *reply = NULL;
    *status = 0;
    if (sign) {
        q = xstrdup(path);
        q[strcspn(q, "?")] = '\0'; /* the signature covers the path only */
        auth = pcpd_pms_auth_header(p, method, q);
        free(q);
        if (!auth) {
            log_warnx("pms: cannot sign a request: no key in %s",
                      p->cfg->pms_credfile);
            rc = -EINVAL;
            goto out;
        }
        hdrs = curl_slist_append(hdrs, auth);
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    curl_easy_reset(p->curl);
    curl_easy_setopt(p->curl, CURLOPT_URL, url);
    curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(p->curl, CURLOPT_HTTPGET, 1L);
    } else {
        /* An empty body still gets a Content-Length: 0. */
        curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, text ? text : "");
        curl_easy_setopt(p->curl, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, pcpd_pms_write_cb);
    curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(p->curl, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(
        p->curl, CURLOPT_CONNECTTIMEOUT_MS,
        (long)(p->cfg->pms_timeout_ms < 2000 ? p->cfg->pms_timeout_ms : 2000));
    curl_easy_setopt(p->curl, CURLOPT_TIMEOUT_MS, (long)p->cfg->pms_timeout_ms);
    if (p->cfg->pms_ca_file)
        curl_easy_setopt(p->curl, CURLOPT_CAINFO, p->cfg->pms_ca_file);
    cc = curl_easy_perform(p->curl);
    if (cc != CURLE_OK) {
        rc = cc == CURLE_WRITE_ERROR ? -EMSGSIZE : -EIO;
        PCPD_COUNT(p->pd, pms_errors, 1);
        if (!peer->down)
            log_warnx("pms: %s %s: %s", method, url,
                      cerr[0] ? cerr : curl_easy_strerror(cc));
        peer->down = true;
        goto out;
    }
    if (peer->down)
        log_notice("pms: %s answers again", peer->url);
    peer->down = false;
    curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, status);
    if (resp.len)
        *reply = json_loadb(resp.data, resp.len, 0, NULL);
    if (*status / 100 != 2) {
        PCPD_COUNT(p->pd, pms_errors, 1);
        log_info("pms: %s %s: %ld %.300s", method, url, *status,
                 resp.data ? resp.data : "");
    }
out:
    curl_slist_free_all(hdrs);
    buf_free(&resp);
    free(auth);
    free(text);
    free(url);
    return rc;
}

/* ---- Key, configuration, membership ------------------------------------ */

/* GET /v1/pubkey from the first peer that answers. 0 or -errno. */
static int pcpd_pms_fetch_key(struct pcpd_pms *p)
{
    struct token_key *key = NULL;
    const char *pem;
    char kid[TOKEN_KID_LEN + 1];
    json_t *j = NULL;
    size_t i, k;
    long status;

    for (i = 0; i < p->npeers; i++) {
        k = (p->cur + i) % p->npeers;
        if (pcpd_pms_call(p, &p->peers[k], "GET", "/v1/pubkey", NULL, false,
                          &status, &j) < 0)
            continue;
        pem = json_string_value(json_object_get(j, "pem"));
        if (status == 200 && pem &&
            token_key_from_pem(pem, strlen(pem), &key) == 0) {
            json_decref(j);
            p->cur = k;
            token_key_id(key, kid);
            log_notice("pms: pmsd's key is %s (from %s)", kid, p->peers[k].url);
            pcpd_auth_set_key(p->pd->auth, key);
            return 0;
        }
        log_warnx("pms: %s: no usable public key (%ld)", p->peers[k].url,
                  status);
        json_decref(j);
    }
    return -EIO;
}

/* Makes the table in cfg (a node config) the node's, unless it is the one
 * in use already. 0 or -errno. */
static int pcpd_pms_apply(struct pcpd_pms *p, json_t *cfg)
{
    json_t *now =
        json_pack("{s:O?, s:O?}", "backends", json_object_get(cfg, "backends"),
                  "pbuckets", json_object_get(cfg, "pbuckets"));
    struct pcpd_routes *r;
    char err[512] = "";
    int rc;

    if (p->applied && json_equal(p->applied, now)) {
        json_decref(now); /* users or policies changed: no new table */
        return 0;
    }
    r = xcalloc(1, sizeof(*r));
    pcpd_routes_init(r);
    rc = pcpd_routes_from_json(r, cfg, &p->cfg->s3, err, sizeof(err));
    if (rc == 0) {
        size_t nb = r->nbackends, np = r->npbuckets;

        rc = pcpd_routes_publish(p->pd, r, true, err, sizeof(err));
        r = NULL; /* published, or freed by the publish */
        if (rc == 0)
            log_notice("pms: configuration %s: %zu pbuckets, %zu backends",
                       p->version, np, nb);
    }
    if (r) {
        pcpd_routes_fini(r);
        free(r);
    }
    if (rc < 0) {
        log_warnx("pms: configuration %s refused: %s", p->version, err);
        json_decref(now);
        return rc;
    }
    PCPD_COUNT(p->pd, config_updates, 1);
    json_decref(p->applied);
    p->applied = now;
    return 0;
}

/* GET /v1/node/config from the first peer that answers. 0 or -errno. */
static int pcpd_pms_fetch_config(struct pcpd_pms *p)
{
    const char *v;
    json_t *j = NULL;
    size_t i, k;
    long status;
    int rc;

    for (i = 0; i < p->npeers; i++) {
        k = (p->cur + i) % p->npeers;
        if (pcpd_pms_call(p, &p->peers[k], "GET", "/v1/node/config", NULL, true,
                          &status, &j) < 0)
            continue;
        if (status != 200 || !json_is_object(j)) {
            if (status == 401 || status == 403)
                log_warnx("pms: %s refuses the node's key (%ld): does the "
                          "user of %s have the node action?",
                          p->peers[k].url, status, p->cfg->pms_credfile);
            json_decref(j);
            continue;
        }
        p->cur = k;
        v = json_string_value(json_object_get(j, "config_version"));
        snprintf(p->version, sizeof(p->version), "%s", v ? v : "?");
        rc = pcpd_pms_apply(p, j);
        json_decref(j);
        return rc;
    }
    return -EIO;
}

static void pcpd_pms_take_interval(struct pcpd_pms *p, const json_t *j)
{
    json_int_t ms =
        json_integer_value(json_object_get(j, "heartbeat_interval_ms"));

    if (ms >= 10 && ms <= 600000)
        p->interval_ms = (uint64_t)ms;
}

/* POST /v1/nodes. 0 or -errno. */
static int pcpd_pms_register(struct pcpd_pms *p, struct pcpd_pms_peer *peer)
{
    const struct pcpd_config *cfg = p->cfg;
    json_t *tiers = json_array(), *body, *j = NULL;
    long status;
    size_t i;
    int rc;

    for (i = 0; i < cfg->ntiers; i++)
        json_array_append_new(
            tiers, json_pack("{s:s, s:I}", "name", cfg->tiers[i].name,
                             "capacity", (json_int_t)cfg->tiers[i].capacity));
    body = json_pack("{s:s, s:s, s:o}", "id", p->node_id, "address", p->address,
                     "tiers", tiers);
    if (cfg->zone)
        json_object_set_new(body, "zone", json_string(cfg->zone));
    rc = pcpd_pms_call(p, peer, "POST", "/v1/nodes", body, true, &status, &j);
    json_decref(body);
    if (rc == 0 && status / 100 != 2)
        rc = -EPROTO;
    if (rc == 0) {
        pcpd_pms_take_interval(p, j);
        peer->registered = true;
        log_notice("pms: registered with %s as %s (%s), heartbeat every %llu "
                   "ms",
                   peer->url, p->node_id, p->address,
                   (unsigned long long)p->interval_ms);
    }
    json_decref(j);
    return rc;
}

/* PUT /v1/nodes/ID/heartbeat; registers again on 404. Sets *changed when
 * pmsd's configuration is not the one we have. 0 or -errno. */
static int pcpd_pms_heartbeat(struct pcpd_pms *p, struct pcpd_pms_peer *peer,
                              bool *changed)
{
    char *path, *id = curl_easy_escape(p->curl, p->node_id, 0);
    json_t *j = NULL, *report = pcpd_admin_report(p->pd);
    const char *v;
    long status;
    int rc;

    /* Each heartbeat carries the node's statistics (the status page). */
    path = xasprintf("/v1/nodes/%s/heartbeat", id);
    curl_free(id);
    rc = pcpd_pms_call(p, peer, "PUT", path, report, true, &status, &j);
    json_decref(report);
    free(path);
    if (rc == 0 && status == 404) {
        log_notice("pms: %s does not know this node: registering again",
                   peer->url);
        peer->registered = false;
        json_decref(j);
        return pcpd_pms_register(p, peer);
    }
    if (rc == 0 && status == 200) {
        pcpd_pms_take_interval(p, j);
        v = json_string_value(json_object_get(j, "config_version"));
        if (v && strcmp(v, p->version) != 0)
            *changed = true;
    }
    json_decref(j);
    return rc;
}

static void pcpd_pms_deregister(struct pcpd_pms *p)
{
    char *path, *id = curl_easy_escape(p->curl, p->node_id, 0);
    json_t *j;
    long status;
    size_t i;

    path = xasprintf("/v1/nodes/%s", id);
    curl_free(id);
    for (i = 0; i < p->npeers; i++) {
        if (!p->peers[i].registered)
            continue;
        if (pcpd_pms_call(p, &p->peers[i], "DELETE", path, NULL, true, &status,
                          &j) == 0 &&
            status / 100 == 2)
            log_notice("pms: deregistered from %s", p->peers[i].url);
        json_decref(j);
        p->peers[i].registered = false;
    }
    free(path);
}

/* ---- The thread --------------------------------------------------------- */

/* One round: key and configuration when needed, then every peer. Returns
 * true when everything answered. */
static bool pcpd_pms_round(struct pcpd_pms *p, bool want_key)
{
    bool ok = true, changed = false;
    size_t i;

    if ((want_key || !pcpd_auth_ready(p->pd->auth)) &&
        pcpd_pms_fetch_key(p) < 0)
        ok = false;
    if (!p->applied && pcpd_pms_fetch_config(p) < 0)
        return false; /* registered only once it can serve */
    for (i = 0; i < p->npeers; i++) {
        struct pcpd_pms_peer *peer = &p->peers[i];
        int rc = peer->registered ? pcpd_pms_heartbeat(p, peer, &changed)
                                  : pcpd_pms_register(p, peer);

        if (rc < 0)
            ok = false;
    }
    if (changed && pcpd_pms_fetch_config(p) < 0)
        ok = false;
    return ok;
}

/* Sleeps ms or until woken; returns false when told to stop. */
static bool pcpd_pms_sleep(struct pcpd_pms *p, uint64_t ms, bool *want_key)
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
    pthread_mutex_lock(&p->lock);
    while (!p->stop && !p->want_key &&
           pthread_cond_timedwait(&p->cond, &p->lock, &ts) == 0)
        ;
    go = !p->stop;
    *want_key = p->want_key;
    p->want_key = false;
    pthread_mutex_unlock(&p->lock);
    return go;
}

static void *pcpd_pms_main(void *arg)
{
    struct pcpd_pms *p = arg;
    bool want_key = false, ok;

    do {
        ok = pcpd_pms_round(p, want_key);
    } while (pcpd_pms_sleep(p,
                            ok ? p->interval_ms
                               : (p->interval_ms < PCPD_PMS_RETRY_MS
                                      ? p->interval_ms
                                      : PCPD_PMS_RETRY_MS),
                            &want_key));
    pcpd_pms_deregister(p);
    return NULL;
}

/* ---- Life cycle --------------------------------------------------------- */

static int pcpd_pms_parse_addrs(struct pcpd_pms *p, const char *list, char *err,
                                size_t errlen)
{
    char *copy = xstrdup(list), *save = NULL, *tok;
    int rc = 0;

    for (tok = strtok_r(copy, ", ", &save); tok && rc == 0;
         tok = strtok_r(NULL, ", ", &save)) {
        size_t n = strlen(tok);

        while (n && tok[n - 1] == '/')
            tok[--n] = '\0';
        if (p->npeers == PCPD_PMS_MAX_ADDRS || !strchr(tok, ':')) {
            snprintf(err, errlen,
                     "pms '%.200s': expected host:port[,host:port] (at most "
                     "%d)",
                     list, PCPD_PMS_MAX_ADDRS);
            rc = -EINVAL;
            break;
        }
        p->peers[p->npeers++].url =
            strstr(tok, "://")
                ? xstrdup(tok)
                : xasprintf("%s://%s", p->cfg->pms_ca_file ? "https" : "http",
                            tok);
    }
    if (rc == 0 && p->npeers == 0) {
        snprintf(err, errlen, "pms: no address");
        rc = -EINVAL;
    }
    free(copy);
    return rc;
}

/* The address registered with pmsd, which clients use as it is:
 * host:port, or https://host:port when the listener speaks TLS; an
 * advertise with a scheme is taken as given. */
static char *pcpd_pms_address(const struct pcpd_config *cfg)
{
    const char *a = cfg->advertise ? cfg->advertise : cfg->listen;

    if (cfg->tls_cert && !strstr(a, "://"))
        return xasprintf("https://%s", a);
    return xstrdup(a);
}

int pcpd_pms_new(struct pcpd *pd, struct pcpd_pms **out, char *err,
                 size_t errlen)
{
    struct pcpd_pms *p = xcalloc(1, sizeof(*p));
    const struct pcpd_config *cfg = pd->cfg;
    pthread_condattr_t ca;
    const char *scheme;
    char msg[256];
    int rc;

    p->pd = pd;
    p->cfg = cfg;
    p->interval_ms = PCPD_PMS_INTERVAL_MS;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    *out = p; /* pcpd_pms_free undoes a half-made one */
    rc = pcpd_pms_parse_addrs(p, cfg->pms, err, errlen);
    if (rc < 0)
        return rc;
    if (creds_source_init(&p->creds, NULL, NULL, NULL, cfg->pms_credfile, NULL,
                          msg, sizeof(msg)) < 0) {
        snprintf(err, errlen, "pms_credfile: %s", msg);
        return -EINVAL;
    }
    p->creds_ok = true;
    p->address = pcpd_pms_address(cfg);
    /* Node ids have no '/': the default is the address without scheme. */
    scheme = strstr(p->address, "://");
    p->node_id = xstrdup(cfg->node_id ? cfg->node_id
                         : scheme     ? scheme + 3
                                      : p->address);
    p->curl = curl_easy_init();
    if (!p->curl) {
        snprintf(err, errlen, "pms: cannot make a curl handle");
        return -ENOMEM;
    }
    return 0;
}

int pcpd_pms_start(struct pcpd_pms *p)
{
    if (pthread_create(&p->thread, NULL, pcpd_pms_main, p) != 0)
        return -EAGAIN;
    p->started = true;
    return 0;
}

void pcpd_pms_want_key(struct pcpd_pms *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->want_key = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

void pcpd_pms_stop(struct pcpd_pms *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

void pcpd_pms_join(struct pcpd_pms *p)
{
    if (!p)
        return;
    pcpd_pms_stop(p);
    if (p->started)
        pthread_join(p->thread, NULL);
    p->started = false;
}

void pcpd_pms_free(struct pcpd_pms *p)
{
    size_t i;

    if (!p)
        return;
    pcpd_pms_join(p);
    for (i = 0; i < p->npeers; i++)
        free(p->peers[i].url);
    if (p->creds_ok)
        creds_source_fini(&p->creds);
    if (p->curl)
        curl_easy_cleanup(p->curl);
    json_decref(p->applied);
    free(p->node_id);
    free(p->address);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
