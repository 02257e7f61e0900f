/* SPDX-License-Identifier: MIT */
/*
 * sigv4.c: AWS Signature Version 4 for S3 requests (see sigv4.h).
 *
 * The S3 client calls this to sign every request it sends, either with an
 * Authorization header or as a presigned URL. Everything here is a pure
 * function of struct sigv4_params: the caller passes the clock, nothing is
 * cached between calls, and nothing is logged (secrets pass through here).
 *
 * DESIGN: each public function builds the canonical pieces in scratch
 * buffers of its own (capped at SIGV4_SCRATCH_MAX), and appends to the
 * caller's buffer once, at the end, so a failed call leaves `out` exactly
 * as it was. The canonical request follows the S3 flavour of SigV4: the
 * path is signed as given (already encoded once, never normalised), query
 * names and values are encoded here and sorted by name then value, header
 * names are lowercased and sorted (stable, so repeated headers keep their
 * order when joined with ','), and header values are trimmed with inner
 * runs of blanks folded to one space.
 */
#include "common/sigv4.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/mem.h"

#define SIGV4_ALGORITHM  "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR "aws4_request"
#define SIGV4_SHA256_LEN 32
/* Largest canonical request (and any other scratch text) we will build. */
#define SIGV4_SCRATCH_MAX (1024 * 1024)
/* More query parameters or headers than this is a caller bug. */
#define SIGV4_MAX_ITEMS 4096

/* One query parameter or header once encoded or lowercased. */
struct sigv4_item {
    const char *name;  /* in a scratch buffer (query: encoded; header:
                          lowercased) */
    const char *value; /* query: encoded, in the scratch buffer;
                          header: the caller's raw value */
    size_t seq;        /* input position: makes the header sort stable */
    size_t name_off;   /* offsets into the scratch buffer, kept while it */
    size_t value_off;  /* may still move */
};

/* The authentication parameters a presigned URL adds to the query. */
struct sigv4_presign_extra {
    struct sigv4_kv kv[6];
    size_t n;
    char credential[512];
    char expires[16];
};

static bool sigv4_is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

static bool sigv4_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int sigv4_uri_encode(struct buf *out, const char *s, size_t len,
                     bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t need = 0, i;
    char *p;
    int rc;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        need += sigv4_is_unreserved(c) || (keep_slash && c == '/') ? 1 : 3;
    }
    /* Reserve first so a buffer that is too small is left untouched. */
    rc = buf_reserve(out, need);
    if (rc)
        return rc;
    p = out->data + out->len;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (sigv4_is_unreserved(c) || (keep_slash && c == '/')) {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }
    }
    out->len += need;
    out->data[out->len] = '\0';
    return 0;
}

static void sigv4_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

static int sigv4_sha256(const void *data, size_t len,
                        unsigned char md[SIGV4_SHA256_LEN])
{
    unsigned int mdlen = 0;

    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) ||
        mdlen != SIGV4_SHA256_LEN)
        return -EIO;
    return 0;
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SIGV4_SHA256_LEN];

    /* libcrypto cannot fail here unless it is broken; "" says so. */
    if (sigv4_sha256(data, len, md)) {
        out[0] = '\0';
        return;
    }
    sigv4_hex(md, sizeof(md), out);
}

static int sigv4_hmac(const void *key, size_t keylen, const void *msg,
                      size_t msglen, unsigned char md[SIGV4_SHA256_LEN])
{
    unsigned int mdlen = 0;

    if (keylen > INT_MAX)
        return -EINVAL;
    if (!HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, md, &mdlen) ||
        mdlen != SIGV4_SHA256_LEN)
        return -EIO;
    return 0;
}

/* "YYYYMMDDTHHMMSSZ"; -EINVAL when the year does not fit in four digits. */
static int sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;

    if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
        return -EINVAL;
    if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
        return -EINVAL;
    return 0;
}

void sigv4_format_date(time_t t, char out[17])
{
    if (sigv4_amz_date(t, out))
        out[0] = '\0';
}

static bool sigv4_nonempty(const char *s)
{
    return s && *s;
}

/* Bytes that would break the canonical request's line structure. */
static bool sigv4_has_ctl(const char *s, bool allow_tab)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c < 0x20 && !(allow_tab && c == '\t')) || c == 0x7f)
            return true;
    }
    return false;
}

/* A header name is a token: no blanks, controls, ':' or non-ASCII. */
static bool sigv4_valid_header_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c <= 0x20 || c >= 0x7f || c == ':')
            return false;
    }
    return true;
}

/* An encoded path: starts with '/', printable ASCII without spaces. */
static bool sigv4_valid_path(const char *s)
{
    if (*s != '/')
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c <= 0x20 || c >= 0x7f)
            return false;
    }
    return true;
}

static int sigv4_check_params(const struct sigv4_params *p)
{
    size_t i;

    if (!p || !sigv4_nonempty(p->method) || !p->path ||
        !sigv4_nonempty(p->access_key) || !p->secret_key ||
        !sigv4_nonempty(p->region) || !sigv4_nonempty(p->service))
        return -EINVAL;
    if (sigv4_has_ctl(p->method, false) || strchr(p->method, ' ') ||
        !sigv4_valid_path(p->path) || sigv4_has_ctl(p->access_key, false) ||
        strchr(p->region, '/') || strchr(p->service, '/') ||
        sigv4_has_ctl(p->region, false) || sigv4_has_ctl(p->service, false))
        return -EINVAL;
    if (p->nquery > SIGV4_MAX_ITEMS || p->nheaders > SIGV4_MAX_ITEMS ||
        (p->nquery && !p->query) || !p->nheaders || !p->headers)
        return -EINVAL;
    for (i = 0; i < p->nquery; i++)
        if (!p->query[i].name)
            return -EINVAL;
    for (i = 0; i < p->nheaders; i++) {
        const struct sigv4_kv *h = &p->headers[i];

        if (!h->name || !sigv4_valid_header_name(h->name) ||
            (h->value && sigv4_has_ctl(h->value, true)))
            return -EINVAL;
    }
    return 0;
}

static int sigv4_query_cmp(const void *a, const void *b)
{
    const struct sigv4_item *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : strcmp(x->value, y->value);
}

static int sigv4_header_cmp(const void *a, const void *b)
{
    const struct sigv4_item *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Encodes name and value into enc, each followed by a NUL. */
static int sigv4_encode_pair(struct buf *enc, const struct sigv4_kv *kv,
                             struct sigv4_item *item)
{
    const char *value = kv->value ? kv->value : "";
    int rc;

    item->name_off = enc->len;
    rc = sigv4_uri_encode(enc, kv->name, strlen(kv->name), false);
    if (!rc)
        rc = buf_append_byte(enc, '\0');
    item->value_off = enc->len;
    if (!rc)
        rc = sigv4_uri_encode(enc, value, strlen(value), false);
    if (!rc)
        rc = buf_append_byte(enc, '\0');
    return rc;
}

/*
 * Appends the canonical query string of p->query plus extra (the presign
 * parameters; may be empty): every name and value encoded, sorted by name
 * then value, "name=value" joined with '&'.
 */
static int sigv4_canonical_query(const struct sigv4_params *p,
                                 const struct sigv4_kv *extra, size_t nextra,
                                 struct buf *out)
{
    size_t n = p->nquery + nextra, i;
    struct sigv4_item *items = NULL;
    struct buf enc;
    int rc = 0;

    buf_init(&enc, SIGV4_SCRATCH_MAX);
    if (!n)
        goto out;
    items = xcalloc(n, sizeof(*items));
    for (i = 0; i < n && !rc; i++)
        rc = sigv4_encode_pair(
            &enc, i < p->nquery ? &p->query[i] : &extra[i - p->nquery],
            &items[i]);
    if (rc)
        goto out;
    /* enc no longer moves: now the offsets can become pointers. */
    for (i = 0; i < n; i++) {
        items[i].name = enc.data + items[i].name_off;
        items[i].value = enc.data + items[i].value_off;
    }
    qsort(items, n, sizeof(*items), sigv4_query_cmp);
    for (i = 0; i < n && !rc; i++)
        rc = buf_appendf(out, "%s%s=%s", i ? "&" : "", items[i].name,
                         items[i].value);
out:
    free(items);
    buf_free(&enc);
    return rc;
}

/* Appends value without leading/trailing blanks, inner runs as one ' '. */
static int sigv4_append_trimmed(struct buf *out, const char *v)
{
    const char *end;
    bool first = true;
    int rc = 0;

    while (*v && !rc) {
        while (sigv4_is_blank(*v))
            v++;
        if (!*v)
            break;
        for (end = v; *end && !sigv4_is_blank(*end); end++)
            ;
        if (!first)
            rc = buf_append_byte(out, ' ');
        if (!rc)
            rc = buf_append(out, v, (size_t)(end - v));
        first = false;
        v = end;
    }
    return rc;
}

static int sigv4_append_lower(struct buf *out, const char *s)
{
    int rc = 0;

    for (; *s && !rc; s++) {
        char c = *s;

        rc = buf_append_byte(out, c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    return rc ? rc : buf_append_byte(out, '\0');
}

/* Emits the canonical header lines of the sorted items, one per name. */
static int sigv4_emit_headers(const struct sigv4_item *items, size_t n,
                              struct buf *canon, struct buf *names)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < n && !rc; i++) {
        bool same = i > 0 && !strcmp(items[i].name, items[i - 1].name);

        if (same) {
            rc = buf_append_byte(canon, ',');
        } else {
            if (i > 0)
                rc = buf_append_byte(canon, '\n');
            if (!rc && names->len)
                rc = buf_append_byte(names, ';');
            if (!rc)
                rc = buf_append_str(names, items[i].name);
            if (!rc)
                rc = buf_appendf(canon, "%s:", items[i].name);
        }
        if (!rc)
            rc = sigv4_append_trimmed(canon, items[i].value);
    }
    if (!rc)
        rc = buf_append_byte(canon, '\n');
    return rc;
}

/*
 * Builds the canonical headers block (each line ending in '\n') into canon
 * and the SignedHeaders list into names. -EINVAL without a host header.
 */
static int sigv4_canonical_headers(const struct sigv4_params *p,
                                   struct buf *canon, struct buf *names)
{
    size_t n = p->nheaders, i;
    struct sigv4_item *items = NULL;
    bool have_host = false;
    struct buf low;
    int rc = 0;

    buf_init(&low, SIGV4_SCRATCH_MAX);
    items = xcalloc(n, sizeof(*items));
    for (i = 0; i < n && !rc; i++) {
        items[i].name_off = low.len;
        rc = sigv4_append_lower(&low, p->headers[i].name);
    }
    if (rc)
        goto out;
    for (i = 0; i < n; i++) {
        items[i].name = low.data + items[i].name_off;
        items[i].value = p->headers[i].value ? p->headers[i].value : "";
        items[i].seq = i;
        have_host = have_host || !strcmp(items[i].name, "host");
    }
    if (!have_host) {
        rc = -EINVAL;
        goto out;
    }
    qsort(items, n, sizeof(*items), sigv4_header_cmp);
    rc = sigv4_emit_headers(items, n, canon, names);
out:
    free(items);
    buf_free(&low);
    return rc;
}

/*
 * The canonical request of p, with extra query parameters (presign) and
 * the given payload hash, into out; the SignedHeaders list into names.
 */
static int sigv4_build_canonical(const struct sigv4_params *p,
                                 const struct sigv4_kv *extra, size_t nextra,
                                 const char *payload_hash, struct buf *out,
                                 struct buf *query, struct buf *names)
{
    struct buf headers;
    int rc;

    buf_init(&headers, SIGV4_SCRATCH_MAX);
    rc = sigv4_canonical_query(p, extra, nextra, query);
    if (!rc)
        rc = sigv4_canonical_headers(p, &headers, names);
    if (!rc)
        rc = buf_appendf(out, "%s\n%s\n%s\n%s\n%s\n%s", p->method, p->path,
                         buf_str(query), buf_str(&headers), buf_str(names),
                         payload_hash);
    buf_free(&headers);
    return rc;
}

/* The signing key: HMAC chain over date, region, service, terminator. */
static int sigv4_signing_key(const struct sigv4_params *p, const char *date8,
                             unsigned char key[SIGV4_SHA256_LEN])
{
    unsigned char k[SIGV4_SHA256_LEN];
    struct buf secret;
    int rc;

    buf_init(&secret, SIGV4_SCRATCH_MAX);
    rc = buf_appendf(&secret, "AWS4%s", p->secret_key);
    if (!rc)
        rc = sigv4_hmac(secret.data, secret.len, date8, 8, k);
    if (!rc)
        rc = sigv4_hmac(k, sizeof(k), p->region, strlen(p->region), key);
    if (!rc)
        rc = sigv4_hmac(key, SIGV4_SHA256_LEN, p->service, strlen(p->service),
                        k);
    if (!rc)
        rc = sigv4_hmac(k, sizeof(k), SIGV4_TERMINATOR,
                        strlen(SIGV4_TERMINATOR), key);
    OPENSSL_cleanse(k, sizeof(k));
    if (secret.data)
        OPENSSL_cleanse(secret.data, secret.cap);
    buf_free(&secret);
    return rc;
}

/* Signs the canonical request: sig gets 64 lowercase hex digits. */
static int sigv4_sign(const struct sigv4_params *p, const char *amz_date,
                      const struct buf *canonical, char sig[65])
{
    unsigned char key[SIGV4_SHA256_LEN], md[SIGV4_SHA256_LEN];
    char date8[9], creq_hash[65];
    struct buf sts;
    int rc;

    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    buf_init(&sts, SIGV4_SCRATCH_MAX);
    rc = sigv4_sha256(buf_str(canonical), canonical->len, md);
    if (!rc) {
        sigv4_hex(md, sizeof(md), creq_hash);
        rc = buf_appendf(&sts, "%s\n%s\n%s/%s/%s/%s\n%s", SIGV4_ALGORITHM,
                         amz_date, date8, p->region, p->service,
                         SIGV4_TERMINATOR, creq_hash);
    }
    if (!rc)
        rc = sigv4_signing_key(p, date8, key);
    if (!rc)
        rc = sigv4_hmac(key, sizeof(key), sts.data, sts.len, md);
    if (!rc)
        sigv4_hex(md, sizeof(md), sig);
    OPENSSL_cleanse(key, sizeof(key));
    buf_free(&sts);
    return rc;
}

int sigv4_canonical_request(const struct sigv4_params *p, struct buf *out)
{
    struct buf creq, query, names;
    int rc;

    rc = sigv4_check_params(p);
    if (rc)
        return rc;
    if (!sigv4_nonempty(p->payload_hash) ||
        sigv4_has_ctl(p->payload_hash, false))
        return -EINVAL;
    buf_init(&creq, SIGV4_SCRATCH_MAX);
    buf_init(&query, SIGV4_SCRATCH_MAX);
    buf_init(&names, SIGV4_SCRATCH_MAX);
    rc = sigv4_build_canonical(p, NULL, 0, p->payload_hash, &creq, &query,
                               &names);
    if (!rc)
        rc = buf_append(out, buf_str(&creq), creq.len);
    buf_free(&names);
    buf_free(&query);
    buf_free(&creq);
    return rc;
}

int sigv4_authorization(const struct sigv4_params *p, struct buf *out)
{
    struct buf creq, query, names, auth;
    char amz_date[17], sig[65];
    int rc;

    rc = sigv4_check_params(p);
    if (!rc && (!sigv4_nonempty(p->payload_hash) ||
                sigv4_has_ctl(p->payload_hash, false)))
        rc = -EINVAL;
    if (!rc)
        rc = sigv4_amz_date(p->now, amz_date);
    if (rc)
        return rc;
    buf_init(&creq, SIGV4_SCRATCH_MAX);
    buf_init(&query, SIGV4_SCRATCH_MAX);
    buf_init(&names, SIGV4_SCRATCH_MAX);
    buf_init(&auth, SIGV4_SCRATCH_MAX);
    rc = sigv4_build_canonical(p, NULL, 0, p->payload_hash, &creq, &query,
                               &names);
    if (!rc)
        rc = sigv4_sign(p, amz_date, &creq, sig);
    if (!rc)
        rc = buf_appendf(&auth,
                         SIGV4_ALGORITHM " Credential=%s/%.8s/%s/%s/"
                                         "%s, SignedHeaders=%s, Signature=%s",
                         p->access_key, amz_date, p->region, p->service,
                         SIGV4_TERMINATOR, buf_str(&names), sig);
    if (!rc)
        rc = buf_append(out, buf_str(&auth), auth.len);
    buf_free(&auth);
    buf_free(&names);
    buf_free(&query);
    buf_free(&creq);
    return rc;
}

static const char *const sigv4_presign_names[] = {
    "X-Amz-Algorithm", "X-Amz-Credential",    "X-Amz-Date",
    "X-Amz-Expires",   "X-Amz-SignedHeaders", "X-Amz-Security-Token",
    "X-Amz-Signature",
};
#define SIGV4_NPRESIGN_NAMES                                                   \
    (sizeof(sigv4_presign_names) / sizeof(sigv4_presign_names[0]))

/* The caller's query must not carry the parameters presigning adds. */
static bool sigv4_query_has_auth(const struct sigv4_params *p)
{
    size_t i, j;

    for (i = 0; i < p->nquery; i++)
        for (j = 0; j < SIGV4_NPRESIGN_NAMES; j++)
            if (!strcmp(p->query[i].name, sigv4_presign_names[j]))
                return true;
    return false;
}

/*
 * Fills the presign parameters. SignedHeaders has to be known before the
 * canonical request is built, so it is worked out here from p->headers on
 * its own (the canonical request computes the same list again).
 */
static int sigv4_presign_params(const struct sigv4_params *p,
                                const char *amz_date, unsigned expires,
                                struct buf *names,
                                struct sigv4_presign_extra *x)
{
    struct buf canon;
    int n, rc;

    buf_init(&canon, SIGV4_SCRATCH_MAX);
    rc = sigv4_canonical_headers(p, &canon, names);
    buf_free(&canon);
    if (rc)
        return rc;
    n = snprintf(x->credential, sizeof(x->credential), "%s/%.8s/%s/%s/%s",
                 p->access_key, amz_date, p->region, p->service,
                 SIGV4_TERMINATOR);
    if (n < 0 || (size_t)n >= sizeof(x->credential))
        return -EINVAL;
    snprintf(x->expires, sizeof(x->expires), "%u", expires);
    x->kv[0] = (struct sigv4_kv){"X-Amz-Algorithm", SIGV4_ALGORITHM};
    x->kv[1] = (struct sigv4_kv){"X-Amz-Credential", x->credential};
    x->kv[2] = (struct sigv4_kv){"X-Amz-Date", amz_date};
    x->kv[3] = (struct sigv4_kv){"X-Amz-Expires", x->expires};
    x->kv[4] = (struct sigv4_kv){"X-Amz-SignedHeaders", buf_str(names)};
    x->n = 5;
    if (sigv4_nonempty(p->session_token))
        x->kv[x->n++] =
            (struct sigv4_kv){"X-Amz-Security-Token", p->session_token};
    return 0;
}

int sigv4_presign(const struct sigv4_params *p, unsigned expires,
                  struct buf *out)
{
    struct buf creq, query, names, signed_names, url;
    struct sigv4_presign_extra extra;
    const char *payload_hash;
    char amz_date[17], sig[65];
    int rc;

    rc = sigv4_check_params(p);
    if (!rc &&
        (expires < 1 || expires > SIGV4_MAX_EXPIRES || sigv4_query_has_auth(p)))
        rc = -EINVAL;
    if (!rc)
        rc = sigv4_amz_date(p->now, amz_date);
    if (rc)
        return rc;
    /* The body of a presigned request is unknown when the URL is made. */
    payload_hash = sigv4_nonempty(p->payload_hash) ? p->payload_hash
                                                   : SIGV4_UNSIGNED_PAYLOAD;
    buf_init(&creq, SIGV4_SCRATCH_MAX);
    buf_init(&query, SIGV4_SCRATCH_MAX);
    buf_init(&names, SIGV4_SCRATCH_MAX);
    buf_init(&signed_names, SIGV4_SCRATCH_MAX);
    buf_init(&url, SIGV4_SCRATCH_MAX);
    rc = sigv4_presign_params(p, amz_date, expires, &names, &extra);
    if (!rc)
        rc = sigv4_build_canonical(p, extra.kv, extra.n, payload_hash, &creq,
                                   &query, &signed_names);
    if (!rc)
        rc = sigv4_sign(p, amz_date, &creq, sig);
    /* The canonical query is already a valid, encoded query string. */
    if (!rc)
        rc = buf_appendf(&url, "%s&X-Amz-Signature=%s", buf_str(&query), sig);
    if (!rc)
        rc = buf_append(out, buf_str(&url), url.len);
    buf_free(&url);
    buf_free(&signed_names);
    buf_free(&names);
    buf_free(&query);
    buf_free(&creq);
    return rc;
}
