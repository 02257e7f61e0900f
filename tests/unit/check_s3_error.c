/* SPDX-License-Identifier: MIT */
/*
 * check_s3_error.c: unit tests for common/s3_error.c.
 *
 * The errno mapping and the transient classification are one table each:
 * S3 error codes, bare HTTP statuses and libcurl codes, with the rule that
 * a transfer failure outranks the status and a precise S3 code outranks
 * its status. The formatter is checked for its fields and for truncation.
 */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/s3_error.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static struct s3_error make_error(int status, const char *code, int curl)
{
    struct s3_error e;

    s3_error_clear(&e);
    s3_error_set(&e, status, code, NULL);
    e.curl_code = curl;
    return e;
}

/* ---- s3_error_to_errno ---------------------------------------------- */

static const struct {
    int status;
    const char *code;
    int curl;
    int err;
} errno_cases[] = {
    /* success */
    {0, NULL, CURLE_OK, 0},
    {200, NULL, CURLE_OK, 0},
    {204, NULL, CURLE_OK, 0},
    {206, NULL, CURLE_OK, 0},
    /* S3 codes */
    {404, "NoSuchKey", 0, ENOENT},
    {404, "NoSuchBucket", 0, ENOENT},
    {404, "NoSuchUpload", 0, ENOENT},
    {404, "NoSuchVersion", 0, ENOENT},
    {403, "AccessDenied", 0, EACCES},
    {403, "AllAccessDisabled", 0, EACCES},
    {403, "SignatureDoesNotMatch", 0, EACCES},
    {403, "InvalidAccessKeyId", 0, EACCES},
    {403, "RequestTimeTooSkewed", 0, EACCES},
    {400, "ExpiredToken", 0, EACCES},
    {400, "InvalidToken", 0, EACCES},
    {403, "AccountProblem", 0, EACCES},
    {412, "PreconditionFailed", 0, ESTALE},
    {416, "InvalidRange", 0, ERANGE},
    {503, "SlowDown", 0, EAGAIN},
    {503, "ServiceUnavailable", 0, EAGAIN},
    {400, "Throttling", 0, EAGAIN},
    {400, "RequestTimeout", 0, EAGAIN},
    {500, "InternalError", 0, EIO},
    {400, "EntityTooLarge", 0, EFBIG},
    {400, "EntityTooSmall", 0, EINVAL},
    {409, "BucketNotEmpty", 0, ENOTEMPTY},
    {409, "BucketAlreadyExists", 0, EEXIST},
    {409, "BucketAlreadyOwnedByYou", 0, EEXIST},
    {501, "NotImplemented", 0, ENOTSUP},
    {403, "QuotaExceeded", 0, EDQUOT},
    {400, "InvalidPart", 0, EINVAL},
    {400, "InvalidPartOrder", 0, EINVAL},
    {400, "KeyTooLongError", 0, ENAMETOOLONG},
    /* the code decides, whatever the status says */
    {200, "InternalError", 0, EIO},
    {0, "NoSuchKey", 0, ENOENT},
    {400, "NoSuchKey", 0, ENOENT},
    /* unknown codes fall back to the status; codes are case-sensitive */
    {400, "SomethingNew", 0, EINVAL},
    {404, "SomethingNew", 0, ENOENT},
    {409, "OperationAborted", 0, EBUSY},
    {500, "SomethingNew", 0, EIO},
    {503, "SomethingNew", 0, EAGAIN},
    {403, "nosuchkey", 0, EACCES},
    {200, "SomethingNew", 0, EIO}, /* a 200 carrying an error */
    {0, "SomethingNew", 0, EIO},
    {301, "PermanentRedirect", 0, EINVAL},
    /* statuses alone (HEAD answers have no body) */
    {301, NULL, 0, EINVAL},
    {400, NULL, 0, EINVAL},
    {401, NULL, 0, EACCES},
    {403, NULL, 0, EACCES},
    {404, NULL, 0, ENOENT},
    {405, NULL, 0, EINVAL},
    {409, NULL, 0, EBUSY},
    {411, NULL, 0, EINVAL},
    {412, NULL, 0, ESTALE},
    {416, NULL, 0, ERANGE},
    {429, NULL, 0, EAGAIN},
    {500, NULL, 0, EIO},
    {501, NULL, 0, ENOTSUP},
    {502, NULL, 0, EIO},
    {503, NULL, 0, EAGAIN},
    {504, NULL, 0, EIO},
    {599, NULL, 0, EIO},
    /* libcurl codes */
    {0, NULL, CURLE_OPERATION_TIMEDOUT, ETIMEDOUT},
    {0, NULL, CURLE_COULDNT_CONNECT, ECONNREFUSED},
    {0, NULL, CURLE_COULDNT_RESOLVE_HOST, EHOSTUNREACH},
    {0, NULL, CURLE_COULDNT_RESOLVE_PROXY, EHOSTUNREACH},
    {0, NULL, CURLE_RECV_ERROR, ECONNRESET},
    {0, NULL, CURLE_SEND_ERROR, ECONNRESET},
    {0, NULL, CURLE_GOT_NOTHING, ECONNRESET},
    {0, NULL, CURLE_PARTIAL_FILE, ECONNRESET},
    {0, NULL, CURLE_HTTP2_STREAM, ECONNRESET},
    {0, NULL, CURLE_WRITE_ERROR, EIO},
    {0, NULL, CURLE_READ_ERROR, EIO},
    {0, NULL, CURLE_ABORTED_BY_CALLBACK, EIO},
    {0, NULL, CURLE_FILESIZE_EXCEEDED, EMSGSIZE},
    {0, NULL, CURLE_PEER_FAILED_VERIFICATION, EPROTO},
    {0, NULL, CURLE_SSL_CONNECT_ERROR, EPROTO},
    {0, NULL, CURLE_SSL_CACERT_BADFILE, EPROTO},
    {0, NULL, CURLE_URL_MALFORMAT, EINVAL},
    {0, NULL, CURLE_UNSUPPORTED_PROTOCOL, EINVAL},
    {0, NULL, CURLE_OUT_OF_MEMORY, EIO},
    {0, NULL, CURLE_TOO_MANY_REDIRECTS, EIO},
    /* a transfer failure outranks whatever status arrived before it */
    {200, NULL, CURLE_RECV_ERROR, ECONNRESET},
    {404, "NoSuchKey", CURLE_OPERATION_TIMEDOUT, ETIMEDOUT},
};

START_TEST(test_to_errno)
{
    struct s3_error e = make_error(errno_cases[_i].status, errno_cases[_i].code,
                                   errno_cases[_i].curl);

    ck_assert_msg(s3_error_to_errno(&e) == errno_cases[_i].err,
                  "status %d code '%s' curl %d: got %s, want %s", e.status,
                  e.code, e.curl_code, strerror(s3_error_to_errno(&e)),
                  strerror(errno_cases[_i].err));
}
END_TEST

/* ---- s3_error_is_transient ------------------------------------------ */

static const struct {
    int status;
    const char *code;
    int curl;
    bool transient;
} transient_cases[] = {
    {0, NULL, 0, false},
    {200, NULL, 0, false},
    {206, NULL, 0, false},
    {500, NULL, 0, true},
    {502, NULL, 0, true},
    {503, NULL, 0, true},
    {504, NULL, 0, true},
    {501, NULL, 0, false},
    {501, "NotImplemented", 0, false},
    {429, NULL, 0, true},
    {400, NULL, 0, false},
    {401, NULL, 0, false},
    {403, NULL, 0, false},
    {404, NULL, 0, false},
    {409, NULL, 0, false},
    {412, NULL, 0, false},
    {416, NULL, 0, false},
    {503, "SlowDown", 0, true},
    {400, "SlowDown", 0, true},
    {400, "RequestTimeout", 0, true},
    {400, "Throttling", 0, true},
    {200, "InternalError", 0, true}, /* Complete/Copy failing after 200 */
    {500, "InternalError", 0, true},
    {403, "AccessDenied", 0, false},
    {403, "SignatureDoesNotMatch", 0, false},
    {404, "NoSuchKey", 0, false},
    {412, "PreconditionFailed", 0, false},
    {200, "SomethingNew", 0, false},
    {0, NULL, CURLE_OPERATION_TIMEDOUT, true},
    {0, NULL, CURLE_COULDNT_CONNECT, true},
    {0, NULL, CURLE_RECV_ERROR, true},
    {0, NULL, CURLE_SEND_ERROR, true},
    {0, NULL, CURLE_GOT_NOTHING, true},
    {0, NULL, CURLE_PARTIAL_FILE, true},
    {0, NULL, CURLE_HTTP2_STREAM, true},
    {0, NULL, CURLE_SSL_CONNECT_ERROR, true},
    {0, NULL, CURLE_COULDNT_RESOLVE_HOST, false},
    {0, NULL, CURLE_PEER_FAILED_VERIFICATION, false},
    {0, NULL, CURLE_URL_MALFORMAT, false},
    {0, NULL, CURLE_WRITE_ERROR, false},
    {0, NULL, CURLE_ABORTED_BY_CALLBACK, false},
    {0, NULL, CURLE_FILESIZE_EXCEEDED, false},
    /* the curl code decides, not a 5xx that arrived before it failed */
    {503, NULL, CURLE_WRITE_ERROR, false},
};

START_TEST(test_transient)
{
    struct s3_error e =
        make_error(transient_cases[_i].status, transient_cases[_i].code,
                   transient_cases[_i].curl);

    ck_assert_msg(s3_error_is_transient(&e) == transient_cases[_i].transient,
                  "status %d code '%s' curl %d", e.status, e.code, e.curl_code);
    /* whatever may be retried is a failure */
    if (transient_cases[_i].transient)
        ck_assert_int_ne(s3_error_to_errno(&e), 0);
}
END_TEST

/* ---- set, clear ----------------------------------------------------- */

START_TEST(test_set_and_clear)
{
    char longer[300];
    struct s3_error e;

    memset(&e, 0x5a, sizeof(e));
    s3_error_clear(&e);
    ck_assert_int_eq(e.status, 0);
    ck_assert_int_eq(e.curl_code, 0);
    ck_assert_int_eq(e.attempts, 0);
    ck_assert_str_eq(e.code, "");
    ck_assert_str_eq(e.message, "");
    ck_assert_str_eq(e.request_id, "");
    ck_assert_int_eq(s3_error_to_errno(&e), 0);

    s3_error_set(&e, 404, "NoSuchKey", "The key does not exist");
    ck_assert_int_eq(e.status, 404);
    ck_assert_str_eq(e.code, "NoSuchKey");
    ck_assert_str_eq(e.message, "The key does not exist");
    s3_error_set(&e, 500, NULL, NULL);
    ck_assert_int_eq(e.status, 500);
    ck_assert_str_eq(e.code, "");
    ck_assert_str_eq(e.message, "");

    /* too long: truncated, still terminated */
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    s3_error_set(&e, 400, longer, longer);
    ck_assert_uint_eq(strlen(e.code), sizeof(e.code) - 1);
    ck_assert_uint_eq(strlen(e.message), sizeof(e.message) - 1);
}
END_TEST

/* ---- s3_error_format ------------------------------------------------ */

static const struct {
    int status;
    const char *code, *message, *request_id;
    int curl, attempts;
    const char *want[5]; /* substrings, NULL-terminated */
    const char *absent;  /* must not appear, or NULL */
} format_cases[] = {
    {403,
     "AccessDenied",
     "Access Denied",
     "4442587FB7D0A2F9",
     0,
     3,
     {"AccessDenied", "HTTP 403", "Access Denied",
      "request id 4442587FB7D0A2F9", "after 3 attempts"},
     NULL},
    {500, NULL, NULL, NULL, 0, 1, {"error", "HTTP 500", NULL}, "attempts"},
    {404,
     "NoSuchKey",
     NULL,
     "REQ1",
     0,
     0,
     {"NoSuchKey (HTTP 404) [request id REQ1]", NULL},
     "attempts"},
    {0,
     NULL,
     "Operation timed out after 5000 milliseconds",
     NULL,
     CURLE_OPERATION_TIMEDOUT,
     6,
     {"connection error", "Operation timed out after 5000", "6 attempts", NULL},
     "HTTP"},
    {0,
     NULL,
     NULL,
     NULL,
     CURLE_COULDNT_CONNECT,
     2,
     {"connection error", "2 attempts", NULL},
     NULL},
};

START_TEST(test_format)
{
    char out[512];
    struct s3_error e = make_error(
        format_cases[_i].status, format_cases[_i].code, format_cases[_i].curl);
    const char *s;
    int i;

    s3_error_set(&e, format_cases[_i].status, format_cases[_i].code,
                 format_cases[_i].message);
    e.attempts = format_cases[_i].attempts;
    if (format_cases[_i].request_id)
        strcpy(e.request_id, format_cases[_i].request_id);
    s = s3_error_format(&e, out, sizeof(out));
    ck_assert_ptr_eq(s, out);
    for (i = 0; i < (int)(sizeof(format_cases[_i].want) /
                          sizeof(format_cases[_i].want[0])) &&
                format_cases[_i].want[i];
         i++)
        ck_assert_msg(strstr(out, format_cases[_i].want[i]), "'%s' lacks '%s'",
                      out, format_cases[_i].want[i]);
    if (format_cases[_i].absent)
        ck_assert_msg(!strstr(out, format_cases[_i].absent), "'%s' has '%s'",
                      out, format_cases[_i].absent);
    if (e.curl_code)
        ck_assert_ptr_nonnull(
            strstr(out, curl_easy_strerror((CURLcode)e.curl_code)));
}
END_TEST

START_TEST(test_format_truncates)
{
    char full[512], out[512];
    struct s3_error e;
    size_t len, size;

    s3_error_clear(&e);
    s3_error_set(&e, 503, "SlowDown", "Please reduce your request rate.");
    strcpy(e.request_id, "0123456789ABCDEF");
    e.attempts = 12;
    s3_error_format(&e, full, sizeof(full));
    len = strlen(full);
    ck_assert_ptr_nonnull(strstr(full, "after 12 attempts"));
    /* every size: a terminated prefix of the full text, nothing past it */
    for (size = 1; size <= len + 1; size++) {
        memset(out, '#', sizeof(out));
        s3_error_format(&e, out, size);
        ck_assert_uint_eq(strlen(out), size - 1);
        ck_assert_int_eq(strncmp(out, full, size - 1), 0);
        ck_assert_int_eq(out[size], '#');
    }
}
END_TEST

static Suite *s3_error_suite(void)
{
    Suite *s = suite_create("s3_error");
    TCase *tc;

    tc = tcase_create("errno");
    tcase_add_loop_test(tc, test_to_errno, 0, NELEM(errno_cases));
    tcase_add_test(tc, test_set_and_clear);
    suite_add_tcase(s, tc);

    tc = tcase_create("transient");
    tcase_add_loop_test(tc, test_transient, 0, NELEM(transient_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_add_loop_test(tc, test_format, 0, NELEM(format_cases));
    tcase_add_test(tc, test_format_truncates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(s3_error_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
