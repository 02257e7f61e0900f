/* SPDX-License-Identifier: MIT */
/*
 * request.c: parsing chunk URLs and ranges (request.h).
 */
#include "pcpd/request.h"

#include <errno.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/chunk.h"
#include "common/config.h"
#include "common/mem.h"
#include "common/s3.h"

void pcpd_chunk_ref_fini(struct pcpd_chunk_ref *r)
{
    free(r->key);
    free(r->etag);
    r->key = r->etag = NULL;
}

bool pcpd_request_name_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > PCPD_NAME_MAX)
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* No control characters, no "." or ".." segment. */
static bool pcpd_key_ok(const char *k, size_t len)
{
    const char *seg = k, *end = k + len, *slash;
    size_t i, n;

    for (i = 0; i < len; i++) {
        if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f)
            return false;
    }
    while (seg <= end) {
        slash = memchr(seg, '/', (size_t)(end - seg));
        n = (size_t)((slash ? slash : end) - seg);
        if ((n == 1 && seg[0] == '.') ||
            (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (!slash)
            break;
        seg = slash + 1;
    }
    return true;
}

static bool pcpd_etag_ok(const char *e)
{
    size_t i, n = strlen(e);

    if (n == 0 || n > PCPD_ETAG_MAX)
        return false;
    for (i = 0; i < n; i++) {
        if ((unsigned char)e[i] <= 0x20 || (unsigned char)e[i] >= 0x7f)
            return false;
    }
    return true;
}

static int pcpd_parse_query(const char *query, struct pcpd_chunk_ref *r,
                            char *msg, size_t msglen)
{
    struct evkeyvalq q;
    const char *etag, *index, *cs;
    int64_t v;
    int rc = -EINVAL;

    TAILQ_INIT(&q);
    if (!query || evhttp_parse_query_str(query, &q) < 0) {
        snprintf(msg, msglen, "bad query string");
        goto out;
    }
    etag = evhttp_find_header(&q, "etag");
    index = evhttp_find_header(&q, "index");
    cs = evhttp_find_header(&q, "chunk_size");
    if (!etag || !pcpd_etag_ok(etag)) {
        snprintf(msg, msglen, "missing or bad etag");
        goto out;
    }
    if (!index || config_parse_int(index, 0, (int64_t)PCPD_INDEX_MAX, &v) < 0) {
        snprintf(msg, msglen, "missing or bad index");
        goto out;
    }
    r->index = (uint64_t)v;
    if (!cs || config_parse_int(cs, 1, CHUNK_SIZE_MAX, &v) < 0 ||
        !chunk_size_valid((uint64_t)v)) {
        snprintf(
            msg, msglen,
            "missing or bad chunk_size (1 MiB..64 MiB, multiple of 64 KiB)");
        goto out;
    }
    r->chunk_size = (uint64_t)v;
    r->etag = xstrdup(etag);
    rc = 0;
out:
    evhttp_clear_headers(&q);
    return rc;
}

bool pcpd_request_key_ok(const char *key, size_t len)
{
    return len > 0 && len <= S3_MAX_KEY_LEN && strlen(key) == len &&
           pcpd_key_ok(key, len);
}

/* Decodes and checks the key part of a path. 0 or -errno with msg. */
static int pcpd_request_key(const char *enc, char **out, char *msg,
                            size_t msglen)
{
    size_t klen = 0;
    char *key = NULL;
    int rc = -EINVAL;

    if (strlen(enc) > 3 * S3_MAX_KEY_LEN) {
        rc = -ENAMETOOLONG;
        snprintf(msg, msglen, "key too long");
        goto out;
    }
    key = evhttp_uridecode(enc, 0, &klen);
    if (!key || klen == 0 || strlen(key) != klen) {
        snprintf(msg, msglen, "empty key or NUL in key");
        goto out;
    }
    if (klen > S3_MAX_KEY_LEN) {
        rc = -ENAMETOOLONG;
        snprintf(msg, msglen, "key too long");
        goto out;
    }
    if (!pcpd_key_ok(key, klen)) {
        snprintf(msg, msglen, "control character or '.'/'..' segment in key");
        goto out;
    }
    *out = key;
    key = NULL;
    rc = 0;
out:
    free(key);
    return rc;
}

int pcpd_request_parse_object(const char *path, char pbucket[PCPD_NAME_MAX + 1],
                              char **key, char *msg, size_t msglen)
{
    const char *slash = strchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : strlen(path);
    char *k = NULL;
    int rc;

    if (!pcpd_request_name_ok(path, n)) {
        snprintf(msg, msglen, "expected <pbucket>[/<key>]");
        return -EINVAL;
    }
    if (slash && slash[1]) {
        rc = pcpd_request_key(slash + 1, &k, msg, msglen);
        if (rc < 0)
            return rc;
    }
    memcpy(pbucket, path, n);
    pbucket[n] = '\0';
    *key = k;
    return 0;
}

int pcpd_request_parse_chunk(const char *path, const char *query,
                             struct pcpd_chunk_ref *r, char *msg, size_t msglen)
{
    struct pcpd_chunk_ref t = {{0}};
    const char *slash = strchr(path, '/');
    char *key = NULL;
    int rc = -EINVAL;

    if (!slash || !pcpd_request_name_ok(path, (size_t)(slash - path))) {
        snprintf(msg, msglen, "expected /v1/chunk/<pbucket>/<key>");
        goto out;
    }
    memcpy(t.pbucket, path, (size_t)(slash - path));
    rc = pcpd_request_key(slash + 1, &key, msg, msglen);
    if (rc < 0)
        goto out;
    rc = pcpd_parse_query(query, &t, msg, msglen);
    if (rc < 0)
        goto out;
    t.key = key;
    key = NULL;
    *r = t;
out:
    free(key);
    return rc;
}

/* A decimal number of at most 19 digits from *p; advances *p. */
static int pcpd_range_num(const char **p, uint64_t *out)
{
    uint64_t v = 0;
    int n = 0;

    while (**p >= '0' && **p <= '9') {
        if (++n > 19)
            return -EINVAL;
        v = v * 10 + (uint64_t)(**p - '0');
        (*p)++;
    }
    if (n == 0)
        return -EINVAL;
    *out = v;
    return 0;
}

int pcpd_request_parse_range(const char *h, struct pcpd_range *r)
{
    const char *p = h;
    struct pcpd_range t = {0};

    if (strncmp(p, "bytes=", 6) != 0)
        return -EINVAL;
    p += 6;
    if (*p == '-') {
        p++;
        t.suffix = true;
        if (pcpd_range_num(&p, &t.last) < 0 || *p)
            return -EINVAL;
        *r = t;
        return 0;
    }
    if (pcpd_range_num(&p, &t.first) < 0 || *p != '-')
        return -EINVAL;
    p++;
    if (*p == '\0') {
        t.last = UINT64_MAX;
    } else if (pcpd_range_num(&p, &t.last) < 0 || *p || t.last < t.first) {
        return -EINVAL;
    }
    *r = t;
    return 0;
}

int pcpd_range_resolve(const struct pcpd_range *r, uint64_t len, uint64_t *off,
                       uint64_t *n)
{
    if (r->suffix) {
        if (r->last == 0 || len == 0)
            return -ERANGE;
        *n = r->last < len ? r->last : len;
        *off = len - *n;
        return 0;
    }
    if (r->first >= len)
        return -ERANGE;
    *off = r->first;
    *n = (r->last >= len ? len - 1 : r->last) - r->first + 1;
    return 0;
}
