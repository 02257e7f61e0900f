/* SPDX-License-Identifier: MIT */
/*
 * sigv4.h: AWS Signature Version 4, for S3 requests.
 *
 * Pure functions: no I/O, no clock (the caller passes the time), no global
 * state, so the unit tests can check them against AWS's worked examples and
 * against botocore's signer.
 *
 * The caller gives the canonical URI already encoded the S3 way (each path
 * segment URI-encoded once, '/' kept, nothing normalised: "//" and "." stay
 * as they are) and the query parameters and headers raw; this module
 * encodes, sorts, trims and folds them as the specification says.
 */
#ifndef PCACHE_SIGV4_H
#define PCACHE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/buf.h"

#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_EMPTY_SHA256                                                     \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_MAX_EXPIRES 604800 /* seven days, S3's limit for presigning */

/* One query parameter or header; both strings borrowed, value may be "". */
struct sigv4_kv {
    const char *name;
    const char *value;
};

struct sigv4_params {
    const char *method;           /* "GET", "PUT", ... */
    const char *path;             /* canonical URI, encoded (see above) */
    const struct sigv4_kv *query; /* raw, unencoded; any order */
    size_t nquery;
    const struct sigv4_kv *headers; /* headers to sign, raw; must include
                                       "host"; any order and case; a name
                                       given twice is joined with ',' */
    size_t nheaders;
    const char *payload_hash; /* lowercase hex SHA-256 of the body, or
                                 SIGV4_UNSIGNED_PAYLOAD */
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL or "" when none; presign adds it as
                                  X-Amz-Security-Token (header signing
                                  expects the caller to pass the
                                  x-amz-security-token header itself) */
    const char *region;        /* "us-east-1" */
    const char *service;       /* "s3" */
    time_t now;                /* request time, UTC seconds */
};

/*
 * Appends the value of the Authorization header
 * ("AWS4-HMAC-SHA256 Credential=.../s3/aws4_request, SignedHeaders=...,
 * Signature=<64 hex>") to out. The request must also carry the headers
 * x-amz-date (sigv4_format_date of p->now) and x-amz-content-sha256, and
 * both should be among p->headers.
 * Returns 0, -EINVAL (missing field, no host header) or -EMSGSIZE (out full).
 */
int sigv4_authorization(const struct sigv4_params *p, struct buf *out);

/*
 * Presigned URL query: appends to out the complete query string to put
 * after '?' (the caller's own parameters plus X-Amz-Algorithm,
 * X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders,
 * [X-Amz-Security-Token,] and X-Amz-Signature last), every name and value
 * encoded. p->payload_hash is normally SIGV4_UNSIGNED_PAYLOAD here.
 * expires is in seconds, 1..SIGV4_MAX_EXPIRES.
 * Returns 0, -EINVAL or -EMSGSIZE.
 */
int sigv4_presign(const struct sigv4_params *p, unsigned expires,
                  struct buf *out);

/* Appends the canonical request (for tests and debug logs). */
int sigv4_canonical_request(const struct sigv4_params *p, struct buf *out);

/* "20130524T000000Z" into out (at least 17 bytes). */
void sigv4_format_date(time_t t, char out[17]);

/* Lowercase hex SHA-256 of data into out (65 bytes with the NUL). */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/*
 * URI-encodes s (len bytes) the SigV4 way: unreserved characters
 * A-Z a-z 0-9 - . _ ~ stay, every other byte becomes %XX (uppercase hex);
 * '/' stays when keep_slash is true. Appends to out; 0 or -EMSGSIZE.
 */
int sigv4_uri_encode(struct buf *out, const char *s, size_t len,
                     bool keep_slash);

#endif
