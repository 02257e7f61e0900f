/* SPDX-License-Identifier: MIT */
/*
 * token.c: pmsd's signed access tokens and the request signature clients
 * use to get them (token.h).
 *
 * DESIGN: the payload is JSON rather than a packed binary form so that a
 * token can be read with base64 -d and jq when debugging; it is encoded
 * with sorted keys, so the bytes signed are reproducible. Only what is
 * signed is trusted: the payload is parsed after the signature checked.
 */
#include "common/token.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/mem.h"
#include "common/sigv4.h"

#define TOKEN_SIG_LEN 64

struct token_key {
    EVP_PKEY *pkey; /* owned */
    bool priv;
};

static const char *const token_action_names[] = {
    "read", "list", "write", "delete", "admin", "node",
};
#define TOKEN_NACTIONS (sizeof(token_action_names) / sizeof(char *))

void token_init(struct token *t)
{
    memset(t, 0, sizeof(*t));
}

void token_fini(struct token *t)
{
    size_t i;

    for (i = 0; i < t->nscopes; i++)
        free(t->scopes[i].resource);
    free(t->scopes);
    free(t->subject);
    token_init(t);
}

int token_resource_check(const char *pattern)
{
    size_t i, n = strlen(pattern);

    if (n == 0 || n > TOKEN_MAX_NAME)
        return -EINVAL;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)pattern[i];
        if (c < 0x20 || c == 0x7f || (c == '*' && i != n - 1))
            return -EINVAL;
    }
    return 0;
}

int token_add_scope(struct token *t, unsigned actions, const char *resource)
{
    if ((actions & TOKEN_ACT_ALL) == 0 || (actions & ~TOKEN_ACT_ALL) ||
        token_resource_check(resource) < 0)
        return -EINVAL;
    if (t->nscopes >= TOKEN_MAX_SCOPES)
        return -E2BIG;
    t->scopes =
        xrealloc(t->scopes, (t->nscopes + 1) * sizeof(struct token_scope));
    t->scopes[t->nscopes].actions = actions;
    t->scopes[t->nscopes].resource = xstrdup(resource);
    t->nscopes++;
    return 0;
}

unsigned token_action_parse(const char *name)
{
    size_t i;

    if (strcmp(name, "*") == 0 || strcmp(name, "all") == 0)
        return TOKEN_ACT_ALL;
    for (i = 0; i < TOKEN_NACTIONS; i++) {
        if (strcmp(name, token_action_names[i]) == 0)
            return 1u << i;
    }
    return 0;
}

const char *token_action_name(unsigned bit)
{
    size_t i;

    for (i = 0; i < TOKEN_NACTIONS; i++) {
        if (bit == 1u << i)
            return token_action_names[i];
    }
    return NULL;
}

/* ---- matching ---------------------------------------------------------- */

bool token_resource_match(const char *pattern, const char *pbucket,
                          const char *key)
{
    size_t plen = strlen(pattern), blen = strlen(pbucket);

    if (strcmp(pattern, "*") == 0)
        return true;
    if (plen > 0 && pattern[plen - 1] == '*') {
        /* Prefix of "pbucket/key", compared in two pieces. */
        size_t n = plen - 1;
        if (n <= blen)
            return strncmp(pattern, pbucket, n) == 0;
        if (strncmp(pattern, pbucket, blen) != 0 || pattern[blen] != '/')
            return false;
        return strncmp(pattern + blen + 1, key, n - blen - 1) == 0;
    }
    if (!strchr(pattern, '/'))
        return key[0] == '\0' && strcmp(pattern, pbucket) == 0;
    return strncmp(pattern, pbucket, blen) == 0 && pattern[blen] == '/' &&
           strcmp(pattern + blen + 1, key) == 0;
}

bool token_allows(const struct token *t, unsigned action, const char *pbucket,
                  const char *key)
{
    size_t i;

    for (i = 0; i < t->nscopes; i++) {
        if ((t->scopes[i].actions & action) == action &&
            token_resource_match(t->scopes[i].resource, pbucket, key))
            return true;
    }
    return false;
}

bool token_allows_any(const struct token *t, unsigned actions,
                      const char *pbucket)
{
    size_t i, blen = strlen(pbucket);

    for (i = 0; i < t->nscopes; i++) {
        const char *r = t->scopes[i].resource;
        size_t rlen = strlen(r);

        if (!(t->scopes[i].actions & actions))
            continue;
        if (token_resource_match(r, pbucket, ""))
            return true;
        /* "pb1/data/\*" or "pb1/file": something inside pb1. */
        if (rlen > blen && strncmp(r, pbucket, blen) == 0 && r[blen] == '/')
            return true;
    }
    return false;
}

bool token_allows_global(const struct token *t, unsigned action)
{
    size_t i;

    for (i = 0; i < t->nscopes; i++) {
        if ((t->scopes[i].actions & action) == action &&
            strcmp(t->scopes[i].resource, "*") == 0)
            return true;
    }
    return false;
}

/* ---- base64url --------------------------------------------------------- */

static const char token_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int token_b64url_encode(const void *data, size_t len, struct buf *out)
{
    const unsigned char *p = data;
    char q[4];
    size_t i;
    int rc = len ? buf_reserve(out, (len + 2) / 3 * 4) : 0;

    for (i = 0; rc == 0 && i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t n = len - i >= 3 ? 4 : len - i + 1;

        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        q[0] = token_b64_alphabet[(v >> 18) & 63];
        q[1] = token_b64_alphabet[(v >> 12) & 63];
        q[2] = token_b64_alphabet[(v >> 6) & 63];
        q[3] = token_b64_alphabet[v & 63];
        rc = buf_append(out, q, n);
    }
    return rc;
}

static int token_b64_value(char c)
{
    const char *p = c ? strchr(token_b64_alphabet, c) : NULL;

    return p ? (int)(p - token_b64_alphabet) : -1;
}

int token_b64url_decode(const char *text, size_t len, struct buf *out)
{
    size_t i, start = out->len;
    uint32_t v = 0;
    int bits = 0, d, rc = 0;

    if (len % 4 == 1)
        return -EINVAL;
    for (i = 0; i < len && rc == 0; i++) {
        d = token_b64_value(text[i]);
        if (d < 0) {
            rc = -EINVAL;
            break;
        }
        v = (v << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            rc = buf_append_byte(out, (char)((v >> bits) & 0xff));
        }
    }
    /* Leftover bits must be zero, or two texts decode the same. */
    if (rc == 0 && (v & ((1u << bits) - 1)) != 0)
        rc = -EINVAL;
    if (rc < 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

/* ---- keys -------------------------------------------------------------- */

static struct token_key *token_key_wrap(EVP_PKEY *pkey, bool priv)
{
    struct token_key *k = xcalloc(1, sizeof(*k));

    k->pkey = pkey;
    k->priv = priv;
    return k;
}

int token_key_generate(struct token_key **out)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

    *out = NULL;
    if (!pkey)
        return -EIO;
    *out = token_key_wrap(pkey, true);
    return 0;
}

int token_key_from_pem(const char *pem, size_t len, struct token_key **out)
{
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    bool priv = strstr(pem, "PRIVATE KEY") != NULL;
    int rc = -EINVAL;

    *out = NULL;
    if (len > INT_MAX)
        return -EINVAL;
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return -EIO;
    pkey = priv ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (!pkey || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519)
        goto out;
    *out = token_key_wrap(pkey, priv);
    pkey = NULL;
    rc = 0;
out:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return rc;
}

int token_key_from_public_raw(const uint8_t raw[TOKEN_KEY_RAW],
                              struct token_key **out)
{
    EVP_PKEY *pkey =
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, TOKEN_KEY_RAW);

    *out = NULL;
    if (!pkey)
        return -EINVAL;
    *out = token_key_wrap(pkey, false);
    return 0;
}

void token_key_free(struct token_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

bool token_key_is_private(const struct token_key *k)
{
    return k->priv;
}

static int token_key_pem(const struct token_key *k, bool priv, struct buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    int rc = -EIO;

    if (!bio)
        return -EIO;
    if (priv ? PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL)
             : PEM_write_bio_PUBKEY(bio, k->pkey)) {
        n = BIO_get_mem_data(bio, &data);
        rc = n > 0 ? buf_append(out, data, (size_t)n) : -EIO;
    }
    BIO_free(bio);
    return rc;
}

int token_key_private_pem(const struct token_key *k, struct buf *out)
{
    return k->priv ? token_key_pem(k, true, out) : -EINVAL;
}

int token_key_public_pem(const struct token_key *k, struct buf *out)
{
    return token_key_pem(k, false, out);
}

void token_key_public_raw(const struct token_key *k, uint8_t raw[TOKEN_KEY_RAW])
{
    size_t n = TOKEN_KEY_RAW;

    memset(raw, 0, TOKEN_KEY_RAW);
    EVP_PKEY_get_raw_public_key(k->pkey, raw, &n);
}

void token_key_id(const struct token_key *k, char kid[TOKEN_KID_LEN + 1])
{
    uint8_t raw[TOKEN_KEY_RAW];
    char hex[65];

    token_key_public_raw(k, raw);
    sigv4_sha256_hex(raw, sizeof(raw), hex);
    memcpy(kid, hex, TOKEN_KID_LEN);
    kid[TOKEN_KID_LEN] = '\0';
}

/* ---- tokens ------------------------------------------------------------ */

static json_t *token_payload(const struct token *t, const char *kid)
{
    json_t *scp = json_array(), *act, *p;
    size_t i, b;

    for (i = 0; i < t->nscopes; i++) {
        act = json_array();
        for (b = 0; b < TOKEN_NACTIONS; b++) {
            if (t->scopes[i].actions & (1u << b))
                json_array_append_new(act, json_string(token_action_names[b]));
        }
        json_array_append_new(scp, json_pack("{s:o, s:s}", "act", act, "res",
                                             t->scopes[i].resource));
    }
    p = json_pack("{s:i, s:s, s:s, s:I, s:I, s:o}", "v", 1, "kid", kid, "sub",
                  t->subject, "iat", (json_int_t)t->issued_at, "exp",
                  (json_int_t)t->expires_at, "scp", scp);
    return p;
}

int token_sign(const struct token *t, const struct token_key *key,
               struct buf *out)
{
    char kid[TOKEN_KID_LEN + 1], *text = NULL;
    unsigned char sig[TOKEN_SIG_LEN];
    size_t siglen = sizeof(sig), start = out->len;
    EVP_MD_CTX *ctx = NULL;
    json_t *p = NULL;
    struct buf tok;
    int rc = -EINVAL;

    buf_init(&tok, TOKEN_MAX_LEN);
    if (!t->subject || !t->subject[0] || !key->priv ||
        t->expires_at <= t->issued_at)
        goto out;
    token_key_id(key, kid);
    p = token_payload(t, kid);
    text = p ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!text) {
        rc = -EINVAL; /* a subject that is not UTF-8 */
        goto out;
    }
    if ((rc = buf_append_str(&tok, TOKEN_PREFIX)) < 0 ||
        (rc = token_b64url_encode(text, strlen(text), &tok)) < 0)
        goto out;
    rc = -EIO;
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) != 1 ||
        EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)tok.data,
                       tok.len) != 1)
        goto out;
    if ((rc = buf_append_byte(&tok, '.')) < 0 ||
        (rc = token_b64url_encode(sig, siglen, &tok)) < 0 ||
        (rc = buf_append(out, tok.data, tok.len)) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0 && out->data) {
        out->len = start;
        out->data[start] = '\0';
    }
    EVP_MD_CTX_free(ctx);
    free(text);
    json_decref(p);
    buf_free(&tok);
    return rc;
}

static int token_check_sig(const char *signed_part, size_t n, const char *sig64,
                           const struct token_key *key)
{
    EVP_MD_CTX *ctx = NULL;
    struct buf sig;
    int rc = -EACCES;

    buf_init(&sig, 128);
    if (token_b64url_decode(sig64, strlen(sig64), &sig) < 0 ||
        sig.len != TOKEN_SIG_LEN)
        goto out;
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) != 1)
        goto out;
    if (EVP_DigestVerify(ctx, (const unsigned char *)sig.data, sig.len,
                         (const unsigned char *)signed_part, n) == 1)
        rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    buf_free(&sig);
    return rc;
}

/* Fills out from the (verified) payload object. 0 or -EINVAL. */
static int token_parse_payload(json_t *p, struct token *out)
{
    json_t *scp = json_object_get(p, "scp"), *s, *a;
    json_int_t v = 0, iat = 0, exp = 0;
    const char *sub = NULL, *kid = NULL, *res;
    unsigned acts, bit;
    size_t i, j;

    if (json_unpack(p, "{s:I, s:s, s:s, s:I, s:I, s:o}", "v", &v, "kid", &kid,
                    "sub", &sub, "iat", &iat, "exp", &exp, "scp", &scp) < 0 ||
        v != 1 || strlen(kid) != TOKEN_KID_LEN || !json_is_array(scp) ||
        !sub[0] || strlen(sub) > TOKEN_MAX_NAME)
        return -EINVAL;
    out->subject = xstrdup(sub);
    memcpy(out->kid, kid, TOKEN_KID_LEN + 1);
    out->issued_at = iat;
    out->expires_at = exp;
    json_array_foreach(scp, i, s)
    {
        res = json_string_value(json_object_get(s, "res"));
        a = json_object_get(s, "act");
        acts = 0;
        if (!res || !json_is_array(a))
            return -EINVAL;
        for (j = 0; j < json_array_size(a); j++) {
            const char *name = json_string_value(json_array_get(a, j));
            bit = name ? token_action_parse(name) : 0;
            if (!bit)
                return -EINVAL;
            acts |= bit;
        }
        if (token_add_scope(out, acts, res) < 0)
            return -EINVAL;
    }
    return 0;
}

/* Splits text at its dot; the payload's end, or NULL when malformed. */
static const char *token_split(const char *text, int *rc)
{
    size_t n = strlen(text), plen = strlen(TOKEN_PREFIX);
    const char *dot;

    *rc = n > TOKEN_MAX_LEN ? -EMSGSIZE : -EINVAL;
    if (n > TOKEN_MAX_LEN || strncmp(text, TOKEN_PREFIX, plen) != 0)
        return NULL;
    dot = strchr(text + plen, '.');
    if (!dot || strchr(dot + 1, '.'))
        return NULL;
    *rc = 0;
    return dot;
}

static int token_decode(const char *text, const char *dot, struct token *out)
{
    size_t plen = strlen(TOKEN_PREFIX);
    struct buf payload;
    json_t *p = NULL;
    int rc;

    buf_init(&payload, TOKEN_MAX_LEN);
    rc =
        token_b64url_decode(text + plen, (size_t)(dot - text) - plen, &payload);
    if (rc == 0) {
        p = json_loadb(payload.data ? payload.data : "", payload.len, 0, NULL);
        rc = p && json_is_object(p) ? token_parse_payload(p, out) : -EINVAL;
    }
    json_decref(p);
    buf_free(&payload);
    return rc;
}

int token_verify(const char *text, const struct token_key *key, int64_t now,
                 struct token *out)
{
    char kid[TOKEN_KID_LEN + 1];
    const char *dot;
    int rc;

    dot = token_split(text, &rc);
    if (!dot)
        return rc;
    rc = token_check_sig(text, (size_t)(dot - text), dot + 1, key);
    rc = rc ?: token_decode(text, dot, out);
    if (rc == 0) {
        token_key_id(key, kid);
        if (strcmp(kid, out->kid) != 0)
            rc = -EACCES; /* our key verified it: cannot happen honestly */
        else if (now >= out->expires_at ||
                 out->issued_at > now + TOKEN_MAX_SKEW)
            rc = -EKEYEXPIRED;
    }
    return rc;
}

int token_peek(const char *text, struct token *out)
{
    const char *dot;
    int rc;

    dot = token_split(text, &rc);
    return dot ? token_decode(text, dot, out) : rc;
}

/* ---- request signatures ------------------------------------------------ */

static bool token_field_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;

    return n > 0 && n <= max && !strchr(s, '\n');
}

int token_request_sign(const char *secret, const char *method, const char *path,
                       int64_t timestamp, const char *nonce, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;
    char *msg;
    int rc = -EINVAL;

    if (!token_field_ok(secret, 1024) || !token_field_ok(method, 16) ||
        !token_field_ok(path, 4096) || !token_field_ok(nonce, 128))
        return -EINVAL;
    msg = xasprintf("PCACHE-HMAC-SHA256\n%s\n%s\n%lld\n%s", method, path,
                    (long long)timestamp, nonce);
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret),
             (const unsigned char *)msg, strlen(msg), md, &mdlen) &&
        mdlen == 32) {
        for (i = 0; i < mdlen; i++) {
            out[2 * i] = hex[md[i] >> 4];
            out[2 * i + 1] = hex[md[i] & 15];
        }
        out[64] = '\0';
        rc = 0;
    }
    free(msg);
    return rc;
}

char *token_request_header(const char *access_key, const char *secret,
                           const char *method, const char *path)
{
    unsigned char rnd[12];
    char sig[65], nonce[2 * sizeof(rnd) + 1];
    int64_t now = (int64_t)time(NULL);
    size_t i;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return NULL;
    for (i = 0; i < sizeof(rnd); i++)
        snprintf(nonce + 2 * i, 3, "%02x", rnd[i]);
    if (token_request_sign(secret, method, path, now, nonce, sig) < 0)
        return NULL;
    return xasprintf("Authorization: PCACHE-HMAC-SHA256 Credential=%s, "
                     "Timestamp=%lld, Nonce=%s, Signature=%s",
                     access_key, (long long)now, nonce, sig);
}

bool token_str_equal(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b), i;
    unsigned char d = na != nb;

    for (i = 0; i < na && i < nb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}
