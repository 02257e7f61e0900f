/* SPDX-License-Identifier: MIT */
/*
 * auth.c: checking bearer tokens against pmsd's key (auth.h), and the
 * pcpd_auth_check hook of the HTTP edge (http.h).
 */
#include "pcpd/auth.h"

#include <errno.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "common/token.h"
#include "pcpd/http.h"
#include "pcpd/pcpd.h"
#include "pcpd/pms.h"

/* A token naming an unknown key asks pmsd at most this often. */
#define PCPD_AUTH_KEY_RETRY_MS 5000

struct pcpd_auth *pcpd_auth_new(void)
{
    struct pcpd_auth *a = xcalloc(1, sizeof(*a));

    pthread_rwlock_init(&a->lock, NULL);
    return a;
}

void pcpd_auth_free(struct pcpd_auth *a)
{
    if (!a)
        return;
    token_key_free(a->key);
    pthread_rwlock_destroy(&a->lock);
    free(a);
}

void pcpd_auth_set_key(struct pcpd_auth *a, struct token_key *key)
{
    struct token_key *old;

    pthread_rwlock_wrlock(&a->lock);
    old = a->key;
    a->key = key;
    pthread_rwlock_unlock(&a->lock);
    token_key_free(old);
}

bool pcpd_auth_ready(struct pcpd_auth *a)
{
    bool ready;

    pthread_rwlock_rdlock(&a->lock);
    ready = a->key != NULL;
    pthread_rwlock_unlock(&a->lock);
    return ready;
}

/* The key id a token claims, read without verifying it (only to decide
 * whether pmsd may have a new key). false when unreadable. */
static bool pcpd_auth_token_kid(const char *text, char kid[TOKEN_KID_LEN + 1])
{
    const char *p = text + strlen(TOKEN_PREFIX), *dot = strchr(p, '.');
    struct buf raw;
    json_t *j = NULL;
    const char *v;
    bool ok = false;

    if (!dot)
        return false;
    buf_init(&raw, TOKEN_MAX_LEN);
    if (token_b64url_decode(p, (size_t)(dot - p), &raw) == 0)
        j = json_loadb((const char *)raw.data, raw.len, 0, NULL);
    v = json_string_value(json_object_get(j, "kid"));
    if (v && strlen(v) == TOKEN_KID_LEN) {
        memcpy(kid, v, TOKEN_KID_LEN + 1);
        ok = true;
    }
    json_decref(j);
    buf_free(&raw);
    return ok;
}

/* A forged token, or one signed by a key we do not have yet. */
static void pcpd_auth_maybe_new_key(struct pcpd *pd, const char *text,
                                    const struct token_key *key)
{
    struct pcpd_auth *a = pd->auth;
    char claimed[TOKEN_KID_LEN + 1], ours[TOKEN_KID_LEN + 1];
    uint64_t now = monotime_ms(), last;

    if (!pcpd_auth_token_kid(text, claimed))
        return;
    token_key_id(key, ours);
    if (strcmp(claimed, ours) == 0)
        return; /* our key, bad signature: forged */
    last = __atomic_load_n(&a->want_ms, __ATOMIC_RELAXED);
    if (last && now - last < PCPD_AUTH_KEY_RETRY_MS)
        return;
    if (__atomic_compare_exchange_n(&a->want_ms, &last, now, false,
                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        log_notice("auth: a token names key %s, ours is %s: asking pmsd",
                   claimed, ours);
        pcpd_pms_want_key(pd->pms);
    }
}

static unsigned pcpd_auth_action(const char *op)
{
    unsigned a = token_action_parse(op);

    return a ? a : TOKEN_ACT_ADMIN; /* unknown: the strictest */
}

/* Verifies the bearer token of req for op on pbucket/key. 0, or -errno
 * with status, code and msg for the reply. */
static int pcpd_auth_verify(struct pcpd *pd, struct evhttp_request *req,
                            const char *pbucket, const char *key,
                            const char *op, int *status, const char **code,
                            char *msg, size_t msglen)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req),
                                       "Authorization");
    struct token t;
    int rc;

    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        *status = 401;
        *code = "Unauthorized";
        snprintf(msg, msglen, "a bearer token from pmsd is required");
        return -EACCES;
    }
    h += 7;
    while (*h == ' ')
        h++;
    token_init(&t);
    pthread_rwlock_rdlock(&pd->auth->lock);
    if (!pd->auth->key) {
        rc = -EAGAIN;
    } else {
        rc = token_verify(h, pd->auth->key, (int64_t)time(NULL), &t);
        if (rc == -EACCES)
            pcpd_auth_maybe_new_key(pd, h, pd->auth->key);
    }
    pthread_rwlock_unlock(&pd->auth->lock);
    *status = 401;
    *code = "Unauthorized";
    if (rc == -EAGAIN) {
        *status = 503;
        *code = "SlowDown";
        snprintf(msg, msglen, "the node has no key from pmsd yet: retry");
    } else if (rc == -EKEYEXPIRED) {
        *code = "TokenExpired";
        snprintf(msg, msglen, "the token expired: get a new one");
    } else if (rc == -EACCES) {
        snprintf(msg, msglen, "bad token signature or unknown key");
    } else if (rc < 0) {
        snprintf(msg, msglen, "malformed token");
    } else if (!token_allows(&t, pcpd_auth_action(op), pbucket, key)) {
        rc = -EPERM;
        *status = 403;
        *code = "Forbidden";
        snprintf(msg, msglen, "%.64s may not %s %.64s/%.200s", t.subject, op,
                 pbucket, key);
    }
    token_fini(&t);
    return rc;
}

int pcpd_auth_check(struct pcpd *pd, struct evhttp_request *req,
                    const char *pbucket, const char *key, const char *op)
{
    struct evhttp_connection *conn;
    const char *code = NULL;
    char msg[512], *peer = NULL;
    ev_uint16_t port = 0;
    int status = 0, rc;

    if (!pd->auth)
        return 0; /* no pmsd: the node trusts its network */
    rc = pcpd_auth_verify(pd, req, pbucket, key, op, &status, &code, msg,
                          sizeof(msg));
    if (rc == 0)
        return 0;
    PCPD_COUNT(pd, auth_denied, 1);
    conn = evhttp_request_get_connection(req);
    if (conn)
        evhttp_connection_get_peer(conn, &peer, &port);
    log_notice("auth: denied %s %.64s/%.200s from %s:%u: %d %s: %s", op,
               pbucket, key, peer ? peer : "?", (unsigned)port, status, code,
               msg);
    pcpd_http_error(pd, req, status, code, msg);
    return rc;
}
