/* SPDX-License-Identifier: MIT */
/*
 * s3_error.c: S3 failures and their one mapping to errno (see s3_error.h).
 */
#include "common/s3_error.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* S3 error codes whose meaning is more precise than their HTTP status. */
static const struct {
    const char *code;
    int err;
} s3_error_codes[] = {
    {"NoSuchKey", ENOENT},
    {"NoSuchBucket", ENOENT},
    {"NoSuchUpload", ENOENT},
    {"NoSuchVersion", ENOENT},
    {"AccessDenied", EACCES},
    {"AllAccessDisabled", EACCES},
    {"SignatureDoesNotMatch", EACCES},
    {"InvalidAccessKeyId", EACCES},
    {"RequestTimeTooSkewed", EACCES},
    {"ExpiredToken", EACCES},
    {"InvalidToken", EACCES},
    {"AccountProblem", EACCES},
    {"PreconditionFailed", ESTALE},
    {"InvalidRange", ERANGE},
    {"SlowDown", EAGAIN},
    {"ServiceUnavailable", EAGAIN},
    {"Throttling", EAGAIN},
    {"RequestTimeout", EAGAIN},
    {"InternalError", EIO},
    {"EntityTooLarge", EFBIG},
    {"EntityTooSmall", EINVAL},
    {"BucketNotEmpty", ENOTEMPTY},
    {"BucketAlreadyExists", EEXIST},
    {"BucketAlreadyOwnedByYou", EEXIST},
    {"NotImplemented", ENOTSUP},
    {"QuotaExceeded", EDQUOT},
    {"InvalidPart", EINVAL},
    {"InvalidPartOrder", EINVAL},
    {"KeyTooLongError", ENAMETOOLONG},
};

void s3_error_clear(struct s3_error *e)
{
    memset(e, 0, sizeof(*e));
}

void s3_error_set(struct s3_error *e, int status, const char *code,
                  const char *message)
{
    e->status = status;
    snprintf(e->code, sizeof(e->code), "%s", code ? code : "");
    snprintf(e->message, sizeof(e->message), "%s", message ? message : "");
}

static int s3_error_curl_errno(int curl_code)
{
    switch (curl_code) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return EHOSTUNREACH;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2_STREAM:
        return ECONNRESET;
    case CURLE_WRITE_ERROR:
    case CURLE_READ_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
        return EIO;
    case CURLE_FILESIZE_EXCEEDED:
        return EMSGSIZE;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
        return EPROTO;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return EINVAL;
    default:
        return EIO;
    }
}

int s3_error_to_errno(const struct s3_error *e)
{
    size_t i;

    if (e->curl_code)
        return s3_error_curl_errno(e->curl_code);
    if (e->code[0]) {
        for (i = 0; i < sizeof(s3_error_codes) / sizeof(s3_error_codes[0]);
             i++) {
            if (strcmp(e->code, s3_error_codes[i].code) == 0)
                return s3_error_codes[i].err;
        }
    }
    if (e->status >= 200 && e->status < 300)
        return e->code[0] ? EIO : 0;
    switch (e->status) {
    case 0:
        return e->code[0] ? EIO : 0;
    case 401:
    case 403:
        return EACCES;
    case 404:
        return ENOENT;
    case 409:
        return EBUSY;
    case 412:
        return ESTALE;
    case 416:
        return ERANGE;
    case 429:
    case 503:
        return EAGAIN;
    case 501:
        return ENOTSUP;
    default:
        return e->status >= 500 ? EIO : EINVAL;
    }
}

bool s3_error_is_transient(const struct s3_error *e)
{
    if (e->curl_code) {
        switch (e->curl_code) {
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_COULDNT_CONNECT:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2_STREAM:
        case CURLE_SSL_CONNECT_ERROR:
            return true;
        default:
            return false;
        }
    }
    /* 501 NotImplemented is final: the server will never do it. */
    if ((e->status >= 500 && e->status != 501) || e->status == 429)
        return true;
    return strcmp(e->code, "SlowDown") == 0 ||
           strcmp(e->code, "RequestTimeout") == 0 ||
           strcmp(e->code, "InternalError") == 0 ||
           strcmp(e->code, "Throttling") == 0;
}

const char *s3_error_format(const struct s3_error *e, char *out, size_t size)
{
    int n;

    if (e->curl_code) {
        n = snprintf(out, size, "connection error: %s%s%s",
                     curl_easy_strerror((CURLcode)e->curl_code),
                     e->message[0] ? ": " : "", e->message);
    } else {
        n = snprintf(out, size, "%s (HTTP %d)%s%s",
                     e->code[0] ? e->code : "error", e->status,
                     e->message[0] ? ": " : "", e->message);
    }
    if (n >= 0 && (size_t)n < size && e->request_id[0])
        snprintf(out + n, size - (size_t)n, " [request id %s]", e->request_id);
    if (n >= 0 && (size_t)n < size && e->attempts > 1) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, " after %d attempts", e->attempts);
    }
    return out;
}
