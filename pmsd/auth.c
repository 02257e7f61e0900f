/* SPDX-License-Identifier: MIT */
/*
 * auth.c: who is calling: bearer tokens and signed requests (pmsd.h).
 *
 * A signed request carries
 *   Authorization: PCACHE-HMAC-SHA256 Credential=AK, Timestamp=T,
 *                  Nonce=N, Signature=HEX
 * where HEX is token_request_sign(secret, method, path, T, N). pmsd looks
 * the secret up by access key, recomputes the signature, and refuses a
 * timestamp outside auth_skew or a nonce it saw within that window
 * (replays). The user's policies, as they are now, become the scopes.
 */
#include <errno.h>
#include <event2/http.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "pmsd/pmsd.h"

#define PMSD_MAX_NONCES 200000

/* Copies the value of "Name=value" from a comma-separated list. */
static bool pmsd_auth_field(const char *hdr, const char *name, char *out,
                            size_t outlen)
{
    size_t n = strlen(name), len;
    const char *p = hdr;

    while ((p = strstr(p, name)) != NULL) {
        bool start = p == hdr || p[-1] == ' ' || p[-1] == ',';
        if (start && p[n] == '=') {
            p += n + 1;
            len = strcspn(p, ", ");
            if (len == 0 || len >= outlen)
                return false;
            memcpy(out, p, len);
            out[len] = '\0';
            return true;
        }
        p += n;
    }
    return false;
}

static const char *pmsd_method_name(int method)
{
    static const struct {
        int m;
        const char *name;
    } names[] = {
        {EVHTTP_REQ_GET, "GET"},         {EVHTTP_REQ_PUT, "PUT"},
        {EVHTTP_REQ_POST, "POST"},       {EVHTTP_REQ_DELETE, "DELETE"},
        {EVHTTP_REQ_HEAD, "HEAD"},       {EVHTTP_REQ_PATCH, "PATCH"},
        {EVHTTP_REQ_OPTIONS, "OPTIONS"}, {EVHTTP_REQ_TRACE, "TRACE"},
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].m == method)
            return names[i].name;
    }
    return "CONNECT";
}

/* Remembers ak:nonce for twice the skew window; -EACCES for a replay,
 * -EAGAIN when the memory is full. */
static int pmsd_auth_nonce(struct pmsd_req *r, const char *ak,
                           const char *nonce, uint64_t skew_ms)
{
    struct pmsd *pd = r->pd;
    char *key = xasprintf("%s:%s", ak, nonce);
    int rc = 0;

    if (json_object_get(pd->nonces, key)) {
        snprintf(r->err.msg, sizeof(r->err.msg), "nonce used before");
        rc = -EACCES;
    } else if (json_object_size(pd->nonces) >= PMSD_MAX_NONCES) {
        rc = -EAGAIN;
    } else {
        json_object_set_new(
            pd->nonces, key,
            json_integer((json_int_t)(monotime_ms() + 2 * skew_ms)));
    }
    free(key);
    return rc;
}

static int pmsd_auth_signed(struct pmsd_req *r, const char *hdr)
{
    struct pmsd *pd = r->pd;
    char ak[72], ts[24], nonce[136], sig[72], want[65], *end;
    const char *user, *secret;
    int64_t t, now = (int64_t)time(NULL);
    int64_t skew = (int64_t)(pd->cfg->auth_skew_ms / 1000);
    int rc;

    if (!pmsd_auth_field(hdr, "Credential", ak, sizeof(ak)) ||
        !pmsd_auth_field(hdr, "Timestamp", ts, sizeof(ts)) ||
        !pmsd_auth_field(hdr, "Nonce", nonce, sizeof(nonce)) ||
        !pmsd_auth_field(hdr, "Signature", sig, sizeof(sig))) {
        snprintf(r->err.msg, sizeof(r->err.msg),
                 "malformed PCACHE-HMAC-SHA256 authorization");
        return -EACCES;
    }
    t = strtoll(ts, &end, 10);
    if (*end || t < now - skew || t > now + skew) {
        snprintf(r->err.msg, sizeof(r->err.msg),
                 "request timestamp too far from pmsd's clock");
        return -EACCES;
    }
    if (pmsd_key_find(&pd->state, ak, &user, &secret) < 0 ||
        token_request_sign(secret, pmsd_method_name(r->method), r->path, t,
                           nonce, want) < 0 ||
        !token_str_equal(want, sig)) {
        snprintf(r->err.msg, sizeof(r->err.msg),
                 "unknown access key or bad signature");
        log_info("auth: bad signature for key %s from %s", ak, r->peer);
        return -EACCES;
    }
    rc = pmsd_auth_nonce(r, ak, nonce, pd->cfg->auth_skew_ms);
    if (rc < 0)
        return rc;
    r->tok.subject = xstrdup(user);
    r->tok.issued_at = now;
    r->tok.expires_at = now + 1;
    rc = pmsd_user_scopes(&pd->state, user, &r->tok, &r->err);
    if (rc < 0)
        return rc;
    r->authed = true;
    return 0;
}

int pmsd_auth(struct pmsd_req *r)
{
    const char *hdr = evhttp_find_header(
        evhttp_request_get_input_headers(r->req), "Authorization");
    int rc;

    if (!hdr)
        return -ENOENT;
    if (strncmp(hdr, "PCACHE-HMAC-SHA256 ", 19) == 0)
        return pmsd_auth_signed(r, hdr + 19);
    if (strncmp(hdr, "Bearer ", 7) != 0) {
        snprintf(r->err.msg, sizeof(r->err.msg),
                 "Authorization: Bearer TOKEN or PCACHE-HMAC-SHA256");
        return -EACCES;
    }
    rc = token_verify(hdr + 7, r->pd->key, (int64_t)time(NULL), &r->tok);
    if (rc == -EKEYEXPIRED) {
        snprintf(r->err.msg, sizeof(r->err.msg), "token expired");
        return rc;
    }
    if (rc < 0) {
        snprintf(r->err.msg, sizeof(r->err.msg), "invalid token");
        log_info("auth: invalid token from %s", r->peer);
        return -EACCES;
    }
    r->authed = true;
    return 0;
}

void pmsd_auth_sweep(struct pmsd *pd, uint64_t now_ms)
{
    const char *k;
    json_t *v;
    void *tmp;

    json_object_foreach_safe(pd->nonces, tmp, k, v)
    {
        if ((uint64_t)json_integer_value(v) <= now_ms)
            json_object_del(pd->nonces, k);
    }
}

void pmsd_auth_new_key(char ak[32], char sk[64])
{
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char rnd[48];
    struct buf b;
    size_t i;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        /* No entropy is a broken system, not a bad request. */
        fprintf(stderr, "pmsd: RAND_bytes failed\n");
        abort();
    }
    ak[0] = 'P';
    ak[1] = 'K';
    for (i = 0; i < 18; i++)
        ak[2 + i] = b32[rnd[i] & 31];
    ak[20] = '\0';
    buf_init(&b, 64);
    token_b64url_encode(rnd + 18, 30, &b);
    snprintf(sk, 64, "%s", buf_str(&b));
    buf_free(&b);
}
