/* SPDX-License-Identifier: MIT */
/*
 * s3_error.h: what went wrong with one S3 request, and the one mapping
 * from that to an errno.
 *
 * An errno cannot say "the server answered 403 SignatureDoesNotMatch with
 * request id X". The S3 client fills a struct s3_error owned by the caller
 * where the failure happens (HTTP status, S3 error code, message, request
 * id, libcurl code), and s3_error_to_errno() is the only place that turns
 * it into the -errno the rest of the code base returns (docs/errors.md).
 */
#ifndef PCACHE_S3_ERROR_H
#define PCACHE_S3_ERROR_H

#include <stdbool.h>
#include <stddef.h>

struct s3_error {
    int status;           /* HTTP status; 0 when no response arrived */
    int curl_code;        /* CURLcode of the transfer; 0 when it completed */
    int attempts;         /* how many times the request was sent */
    char code[64];        /* S3 error Code ("NoSuchKey"), or "" */
    char message[256];    /* S3 Message or libcurl's error text, or "" */
    char request_id[128]; /* x-amz-request-id / RequestId, or "" */
};

void s3_error_clear(struct s3_error *e);
/* Sets code and message (either may be NULL) and the status. */
void s3_error_set(struct s3_error *e, int status, const char *code,
                  const char *message);

/*
 * Maps the failure to a positive errno:
 *   NoSuchKey, NoSuchBucket, NoSuchUpload, 404   -> ENOENT
 *   AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId,
 *   RequestTimeTooSkewed, 401, 403               -> EACCES
 *   PreconditionFailed, 412                      -> ESTALE (object changed)
 *   InvalidRange, 416                            -> ERANGE
 *   409 (without a more precise code)            -> EBUSY
 *   SlowDown, 503, 429                           -> EAGAIN
 *   EntityTooLarge                               -> EFBIG
 *   BucketNotEmpty                               -> ENOTEMPTY
 *   BucketAlreadyExists(OwnedByYou)              -> EEXIST
 *   NotImplemented, 501                          -> ENOTSUP
 *   QuotaExceeded                                -> EDQUOT
 *   other 4xx                                    -> EINVAL
 *   other 5xx                                    -> EIO
 *   timeouts                                     -> ETIMEDOUT
 *   connection refused / reset / DNS             -> ECONNREFUSED / ECONNRESET
 *                                                   / EHOSTUNREACH
 * Returns 0 only when e describes a success.
 */
int s3_error_to_errno(const struct s3_error *e);

/*
 * True for failures a retry may cure: 5xx except 501, 429, SlowDown,
 * RequestTimeout, InternalError, Throttling, and connection errors
 * (timeout, refused, reset, nothing received, TLS handshake). A DNS
 * failure, a rejected certificate or our own abort is not transient.
 */
bool s3_error_is_transient(const struct s3_error *e);

/*
 * Formats "GET key: AccessDenied (HTTP 403): message [request id ...]"
 * style text into out (always NUL-terminated); returns out.
 */
const char *s3_error_format(const struct s3_error *e, char *out, size_t size);

#endif
