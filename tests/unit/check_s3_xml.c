/* SPDX-License-Identifier: MIT */
/*
 * check_s3_xml.c: unit tests for common/s3_xml.c.
 *
 * Documents are written the way S3 sends them (namespace, declaration,
 * Owner blocks and other fields the parsers must skip). Malformed and
 * hostile input goes through every parser; builders are checked byte for
 * byte and, where XML 1.0 allows it, read back with expat.
 */
#include <check.h>
#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/s3_xml.h"

#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define NS   " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static int parse_list_str(const char *xml, struct s3_list_result *r)
{
    return s3_xml_parse_list(xml, strlen(xml), r);
}

/* ---- ListBucketResult ----------------------------------------------- */

static const char list_page[] =
    DECL "<ListBucketResult" NS ">"
         "<Name>bucket</Name><Prefix>photos/</Prefix><KeyCount>2</KeyCount>"
         "<MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter>"
         "<IsTruncated>false</IsTruncated>"
         "<Contents>"
         "<Key>photos/2006/January/sample.jpg</Key>"
         "<LastModified>2009-10-12T17:50:30.000Z</LastModified>"
         "<ETag>&quot;bf1d737a4d46a19f3bced6905cc8b902&quot;</ETag>"
         "<ChecksumAlgorithm>CRC32</ChecksumAlgorithm>"
         "<Size>142863</Size>"
         "<Owner><ID>canonical-user-id</ID><DisplayName>me</DisplayName>"
         "<Key>not-a-key</Key></Owner>"
         "<StorageClass>STANDARD</StorageClass>"
         "</Contents>\n  "
         "<Contents>"
         "<Key>photos/empty</Key>"
         "<LastModified>2024-02-29T12:00:00Z</LastModified>"
         "<ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag>"
         "<Size>0</Size><StorageClass>GLACIER</StorageClass>"
         "</Contents>"
         "<CommonPrefixes><Prefix>photos/2006/</Prefix></CommonPrefixes>"
         "<CommonPrefixes><Prefix>photos/2007/</Prefix></CommonPrefixes>"
         "</ListBucketResult>";

START_TEST(test_list_page)
{
    struct s3_list_result r;

    ck_assert_int_eq(parse_list_str(list_page, &r), 0);
    ck_assert_uint_eq(r.nobjects, 2);
    ck_assert_str_eq(r.objects[0].key, "photos/2006/January/sample.jpg");
    ck_assert_int_eq(r.objects[0].size, 142863);
    ck_assert_str_eq(r.objects[0].etag, "\"bf1d737a4d46a19f3bced6905cc8b902\"");
    ck_assert_int_eq(r.objects[0].mtime, 1255369830);
    ck_assert_str_eq(r.objects[0].storage_class, "STANDARD");
    ck_assert_str_eq(r.objects[1].key, "photos/empty");
    ck_assert_int_eq(r.objects[1].size, 0);
    ck_assert_int_eq(r.objects[1].mtime, 1709208000);
    ck_assert_str_eq(r.objects[1].storage_class, "GLACIER");
    ck_assert_uint_eq(r.nprefixes, 2);
    ck_assert_str_eq(r.prefixes[0], "photos/2006/");
    ck_assert_str_eq(r.prefixes[1], "photos/2007/");
    ck_assert(!r.truncated);
    ck_assert_ptr_null(r.next_token);
    ck_assert_ptr_null(r.encoding_type);
    s3_list_result_fini(&r);
    s3_list_result_fini(&r); /* harmless twice */
}
END_TEST

START_TEST(test_list_truncated)
{
    static const char xml[] =
        DECL "<ListBucketResult" NS ">"
             "<Name>b</Name><Prefix></Prefix>"
             "<ContinuationToken>1ueGcxLPRx1Tr</ContinuationToken>"
             "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/"
             "wm/6/DbgyYw=</NextContinuationToken>"
             "<KeyCount>1</KeyCount><MaxKeys>1</MaxKeys>"
             "<IsTruncated>true</IsTruncated>"
             "<Contents><Key>a</Key><Size>1</Size><ETag>\"x\"</ETag>"
             "</Contents></ListBucketResult>";
    struct s3_list_result r;

    ck_assert_int_eq(parse_list_str(xml, &r), 0);
    ck_assert(r.truncated);
    ck_assert_str_eq(r.next_token,
                     "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm/6/DbgyYw=");
    ck_assert_uint_eq(r.nobjects, 1);
    ck_assert_int_eq(r.objects[0].mtime, 0); /* absent */
    ck_assert_ptr_null(r.objects[0].storage_class);
    s3_list_result_fini(&r);
}
END_TEST

/* Keys as S3 sends them without EncodingType, and what they mean. */
static const struct {
    const char *xml_key;
    const char *key;
} escaped_keys[] = {
    {"a&amp;b", "a&b"},
    {"&lt;tag&gt;", "<tag>"},
    {"line&#x0D;end", "line\rend"},
    {"tab&#9;and&#xA;nl", "tab\tand\nnl"},
    {"&quot;q&apos;", "\"q'"},
    {"caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80",
     "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80"},
    {"&#xE9;&#x1F600;", "\xc3\xa9\xf0\x9f\x98\x80"},
    {"<![CDATA[raw & <raw>]]>", "raw & <raw>"},
    {"100%20+x", "100%20+x"}, /* not decoded without EncodingType */
};

START_TEST(test_list_escaped_keys)
{
    struct s3_list_result r;
    struct buf b;

    buf_init(&b, BUF_UNLIMITED);
    buf_appendf(&b,
                "<ListBucketResult" NS "><Contents><Key>%s</Key>"
                "<Size>5</Size><ETag>\"e\"</ETag></Contents>"
                "</ListBucketResult>",
                escaped_keys[_i].xml_key);
    ck_assert_int_eq(s3_xml_parse_list(b.data, b.len, &r), 0);
    ck_assert_uint_eq(r.nobjects, 1);
    ck_assert_str_eq(r.objects[0].key, escaped_keys[_i].key);
    s3_list_result_fini(&r);
    buf_free(&b);
}
END_TEST

START_TEST(test_list_url_encoding)
{
    /* EncodingType comes after the keys, as S3 orders it. */
    static const char xml[] =
        "<ListBucketResult" NS "><Name>b</Name>"
        "<Contents><Key>my+file%20name%2B1.txt</Key><Size>3</Size>"
        "<ETag>\"e\"</ETag></Contents>"
        "<Contents><Key>caf%C3%A9%0D%26</Key><Size>4</Size>"
        "<ETag>\"e\"</ETag></Contents>"
        "<Prefix>dir%2F</Prefix>"
        "<CommonPrefixes><Prefix>a+b%2Fc/</Prefix></CommonPrefixes>"
        "<EncodingType>url</EncodingType>"
        "<IsTruncated>false</IsTruncated></ListBucketResult>";
    struct s3_list_result r;

    ck_assert_int_eq(parse_list_str(xml, &r), 0);
    ck_assert_str_eq(r.encoding_type, "url");
    ck_assert_uint_eq(r.nobjects, 2);
    ck_assert_str_eq(r.objects[0].key, "my file name+1.txt");
    ck_assert_str_eq(r.objects[1].key, "caf\xc3\xa9\r&");
    ck_assert_uint_eq(r.nprefixes, 1);
    ck_assert_str_eq(r.prefixes[0], "a b/c/");
    s3_list_result_fini(&r);
}
END_TEST

START_TEST(test_list_url_bad_escape)
{
    static const char *const keys[] = {"a%2", "a%zz", "%", "a%00b"};
    struct s3_list_result r;
    struct buf b;
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        buf_init(&b, BUF_UNLIMITED);
        buf_appendf(&b,
                    "<ListBucketResult><Contents><Key>%s</Key>"
                    "<Size>1</Size></Contents>"
                    "<EncodingType>url</EncodingType>"
                    "</ListBucketResult>",
                    keys[i]);
        ck_assert_int_eq(s3_xml_parse_list(b.data, b.len, &r), -EPROTO);
        ck_assert_uint_eq(r.nobjects, 0);
        ck_assert_ptr_null(r.objects);
        buf_free(&b);
    }
}
END_TEST

START_TEST(test_list_empty)
{
    static const char *const docs[] = {
        DECL "<ListBucketResult" NS "><Name>b</Name><Prefix>none/</Prefix>"
             "<KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
             "<IsTruncated>false</IsTruncated></ListBucketResult>",
        "<ListBucketResult/>",
        ("<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/"
         "2006-03-01/\"></s3:ListBucketResult>"),
    };
    struct s3_list_result r;
    size_t i;

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        ck_assert_int_eq(parse_list_str(docs[i], &r), 0);
        ck_assert_uint_eq(r.nobjects, 0);
        ck_assert_uint_eq(r.nprefixes, 0);
        ck_assert(!r.truncated);
        s3_list_result_fini(&r);
    }
}
END_TEST

START_TEST(test_list_nesting)
{
    /* Keys and prefixes only count in their own parents; unknown
     * elements, deep nesting, comments and PIs are skipped. */
    static const char xml[] =
        "<ListBucketResult" NS "><Key>stray</Key><Size>x</Size>"
        "<!-- comment --><?pi data?>"
        "<Prefix>top</Prefix>"
        "<Unknown><Contents><Key>nested</Key></Contents>"
        "<a><b><c><d><e><f><g><h><i><j><k><l><m><n><o><p><q><r><Key>deep"
        "</Key></r></q></p></o></n></m></l></k></j></i></h></g></f></e>"
        "</d></c></b></a></Unknown>"
        "<Contents><Extra><Key>inner</Key></Extra><Key>real</Key>"
        "<Size>9</Size><ETag>\"e\"</ETag></Contents>"
        "<CommonPrefixes><Other>zz</Other></CommonPrefixes>"
        "</ListBucketResult>";
    struct s3_list_result r;

    ck_assert_int_eq(parse_list_str(xml, &r), 0);
    ck_assert_uint_eq(r.nobjects, 1);
    ck_assert_str_eq(r.objects[0].key, "real");
    ck_assert_int_eq(r.objects[0].size, 9);
    ck_assert_uint_eq(r.nprefixes, 0);
    s3_list_result_fini(&r);
}
END_TEST

START_TEST(test_list_no_etag)
{
    static const char xml[] = "<ListBucketResult><Contents><Key>k</Key>"
                              "<Size>1</Size></Contents></ListBucketResult>";
    struct s3_list_result r;

    ck_assert_int_eq(parse_list_str(xml, &r), 0);
    ck_assert_str_eq(r.objects[0].etag, "");
    s3_list_result_fini(&r);
}
END_TEST

/* Structurally wrong ListBucketResult documents. */
static const char *const bad_lists[] = {
    "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
    "</ListBucketResult>",
    "<ListBucketResult><Contents><Key>k</Key><Size>12a</Size></Contents>"
    "</ListBucketResult>",
    "<ListBucketResult><Contents><Key>k</Key><Size></Size></Contents>"
    "</ListBucketResult>",
    "<ListBucketResult><Contents><Key>k</Key><Size> 1</Size></Contents>"
    "</ListBucketResult>",
    "<ListBucketResult><Contents><Key>k</Key>"
    "<Size>9223372036854775808</Size></Contents></ListBucketResult>",
    "<ListBucketResult><Contents><Size>1</Size></Contents>"
    "</ListBucketResult>",
    "<ListBucketResult><Contents><Key>k</Key></Contents>"
    "</ListBucketResult>",
    "<ListBucketResult><Contents><Key>k</Key><Key>k2</Key><Size>1</Size>"
    "</Contents></ListBucketResult>",
    "<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
    "<ListBucketResult><Contents><Key>k</Key><Size>1</Size>"
    "<LastModified>yesterday</LastModified></Contents></ListBucketResult>",
    "<ListBucketResult><NextContinuationToken>a</NextContinuationToken>"
    "<NextContinuationToken>b</NextContinuationToken></ListBucketResult>",
};

START_TEST(test_list_bad)
{
    struct s3_list_result r;

    ck_assert_int_eq(parse_list_str(bad_lists[_i], &r), -EPROTO);
    ck_assert_uint_eq(r.nobjects, 0);
    ck_assert_ptr_null(r.objects);
    ck_assert_ptr_null(r.next_token);
}
END_TEST

START_TEST(test_list_big_int)
{
    static const char xml[] =
        "<ListBucketResult><Contents><Key>k</Key>"
        "<Size>9223372036854775807</Size></Contents></ListBucketResult>";
    struct s3_list_result r;

    ck_assert_int_eq(parse_list_str(xml, &r), 0);
    ck_assert_int_eq(r.objects[0].size, INT64_MAX);
    s3_list_result_fini(&r);
}
END_TEST

START_TEST(test_list_5000)
{
    struct s3_list_result r;
    struct buf b;
    int i;

    buf_init(&b, BUF_UNLIMITED);
    buf_append_str(&b, DECL "<ListBucketResult" NS "><Name>big</Name>"
                            "<IsTruncated>true</IsTruncated>");
    for (i = 0; i < 5000; i++)
        buf_appendf(&b,
                    "<Contents><Key>dir/file-%05d&amp;</Key>"
                    "<LastModified>2009-10-12T17:50:%02d.000Z"
                    "</LastModified><ETag>\"%032x\"</ETag>"
                    "<Size>%d</Size><StorageClass>STANDARD"
                    "</StorageClass></Contents>\n",
                    i, i % 60, i, i * 7);
    buf_append_str(&b, "<NextContinuationToken>tok</NextContinuationToken>"
                       "</ListBucketResult>");
    ck_assert_int_eq(s3_xml_parse_list(b.data, b.len, &r), 0);
    ck_assert_uint_eq(r.nobjects, 5000);
    ck_assert_str_eq(r.objects[0].key, "dir/file-00000&");
    ck_assert_str_eq(r.objects[2500].key, "dir/file-02500&");
    ck_assert_int_eq(r.objects[2500].size, 17500);
    ck_assert_str_eq(r.objects[2500].etag,
                     "\"000000000000000000000000000009c4\"");
    ck_assert_int_eq(r.objects[2500].mtime, 1255369800 + 2500 % 60);
    ck_assert_str_eq(r.objects[4999].key, "dir/file-04999&");
    ck_assert_int_eq(r.objects[4999].size, 4999 * 7);
    ck_assert(r.truncated);
    ck_assert_str_eq(r.next_token, "tok");
    s3_list_result_fini(&r);
    buf_free(&b);
}
END_TEST

/* ---- Error ---------------------------------------------------------- */

static const struct {
    const char *xml;
    const char *code;
    const char *message;
    const char *request_id;
} error_docs[] = {
    {DECL "<Error><Code>NoSuchKey</Code>"
          "<Message>The specified key does not exist.</Message>"
          "<Key>a/b</Key><RequestId>4442587FB7D0A2F9</RequestId>"
          "<HostId>eftixk72aD6Ap51TnqcoF8eFidJG9Z/2mkiDFu8yU9AS1ed4OpIszj7UD"
          "NEHGran</HostId></Error>",
     "NoSuchKey", "The specified key does not exist.", "4442587FB7D0A2F9"},
    {DECL
     "<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
     "<RequestId>656c76696e6727732072657175657374</RequestId>"
     "<HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId>"
     "</Error>",
     "AccessDenied", "Access Denied", "656c76696e6727732072657175657374"},
    {"<Error><Code>SignatureDoesNotMatch</Code><Message>The request "
     "signature we calculated does not match the signature you provided. "
     "Check your key and signing method.</Message>"
     "<AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId>"
     "<StringToSign>AWS4-HMAC-SHA256\n20130524T000000Z</StringToSign>"
     "<CanonicalRequest>GET\n/\n</CanonicalRequest>"
     "<RequestId>0A49CE4060975EAC</RequestId><HostId>h</HostId></Error>",
     "SignatureDoesNotMatch",
     "The request signature we calculated does not match the signature you "
     "provided. Check your key and signing method.",
     "0A49CE4060975EAC"},
    {"<Error" NS "><Code>SlowDown</Code><Message>a &amp; b</Message>"
     "</Error>",
     "SlowDown", "a & b", "from-header"},
    {"<Error/>", "", "", "from-header"},
};

START_TEST(test_error_docs)
{
    struct s3_error e;
    const char *xml = error_docs[_i].xml;

    memset(&e, 0, sizeof(e));
    e.status = 404;
    snprintf(e.code, sizeof(e.code), "stale");
    snprintf(e.request_id, sizeof(e.request_id), "from-header");
    ck_assert_int_eq(s3_xml_parse_error(xml, strlen(xml), &e), 0);
    ck_assert_int_eq(e.status, 404);
    ck_assert_str_eq(e.code, error_docs[_i].code);
    ck_assert_str_eq(e.message, error_docs[_i].message);
    ck_assert_str_eq(e.request_id, error_docs[_i].request_id);
}
END_TEST

START_TEST(test_error_not_error)
{
    static const char *const docs[] = {
        "", "<html><body>502 Bad Gateway</body></html>", "Service Unavailable",
        "<Error><Code>x</Code>", list_page};
    struct s3_error e;
    size_t i;

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        memset(&e, 0, sizeof(e));
        snprintf(e.code, sizeof(e.code), "keep");
        ck_assert_int_eq(s3_xml_parse_error(docs[i], strlen(docs[i]), &e),
                         -EPROTO);
        ck_assert_str_eq(e.code, "keep");
        ck_assert_str_eq(e.message, "");
    }
}
END_TEST

START_TEST(test_error_long_fields_truncated)
{
    struct s3_error e;
    struct buf b;
    int i;

    buf_init(&b, BUF_UNLIMITED);
    buf_append_str(&b, "<Error><Code>");
    for (i = 0; i < 100; i++)
        buf_append_str(&b, "C");
    buf_append_str(&b, "</Code><Message>");
    for (i = 0; i < 1000; i++)
        buf_append_str(&b, "m");
    buf_append_str(&b, "</Message></Error>");
    memset(&e, 0, sizeof(e));
    ck_assert_int_eq(s3_xml_parse_error(b.data, b.len, &e), 0);
    ck_assert_uint_eq(strlen(e.code), sizeof(e.code) - 1);
    ck_assert_uint_eq(strlen(e.message), sizeof(e.message) - 1);
    buf_free(&b);
}
END_TEST

/* ---- Initiate / Complete / Copy ------------------------------------- */

START_TEST(test_initiate)
{
    static const char ok[] =
        DECL "<InitiateMultipartUploadResult" NS "><Bucket>b</Bucket>"
             "<Key>big.bin</Key><UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS"
             "1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
             "</InitiateMultipartUploadResult>";
    static const char none[] = "<InitiateMultipartUploadResult><Key>k</Key>"
                               "</InitiateMultipartUploadResult>";
    static const char err[] = "<Error><Code>AccessDenied</Code></Error>";
    char *id = (char *)1;

    ck_assert_int_eq(s3_xml_parse_initiate(ok, strlen(ok), &id), 0);
    ck_assert_str_eq(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIH"
                         "VwbG9hZA");
    free(id);
    ck_assert_int_eq(s3_xml_parse_initiate(none, strlen(none), &id), -EPROTO);
    ck_assert_ptr_null(id);
    ck_assert_int_eq(s3_xml_parse_initiate(err, strlen(err), &id), -EPROTO);
    ck_assert_ptr_null(id);
}
END_TEST

static const struct {
    const char *xml;
    const char *etag;
    time_t mtime;
} etag_docs[] = {
    {DECL "<CompleteMultipartUploadResult" NS ">"
          "<Location>https://b.s3.amazonaws.com/big.bin</Location>"
          "<Bucket>b</Bucket><Key>big.bin</Key>"
          "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
          "</CompleteMultipartUploadResult>",
     "\"3858f62230ac3c915f300c664312c11f-9\"", -1},
    /* S3's keep-alive blanks before the declaration. */
    {"  \n \n" DECL "\n   \n<CompleteMultipartUploadResult>"
     "<ETag>&quot;abc-2&quot;</ETag></CompleteMultipartUploadResult>",
     "\"abc-2\"", -1},
    {DECL "<CopyObjectResult" NS ">"
          "<LastModified>2009-10-12T17:50:30.000Z</LastModified>"
          "<ETag>\"9b2cf535f27731c974343645a3985328\"</ETag>"
          "</CopyObjectResult>",
     "\"9b2cf535f27731c974343645a3985328\"", 1255369830},
    {"<CopyPartResult><ETag>\"p1\"</ETag>"
     "<LastModified>1999-12-31T23:59:59Z</LastModified></CopyPartResult>",
     "\"p1\"", 946684799},
};

START_TEST(test_etag_result)
{
    const char *xml = etag_docs[_i].xml;
    struct s3_error e;
    char *etag = NULL;
    time_t mtime = -1;

    memset(&e, 0, sizeof(e));
    ck_assert_int_eq(
        s3_xml_parse_etag_result(xml, strlen(xml), &etag, &mtime, &e), 0);
    ck_assert_str_eq(etag, etag_docs[_i].etag);
    ck_assert_int_eq(mtime, etag_docs[_i].mtime);
    ck_assert_str_eq(e.code, "");
    free(etag);
    /* mtime and e are optional */
    ck_assert_int_eq(
        s3_xml_parse_etag_result(xml, strlen(xml), &etag, NULL, NULL), 0);
    free(etag);
}
END_TEST

static const char *const etag_errors[] = {
    /* Complete answered 200 with an error body after keep-alive blanks. */
    DECL "\n  \n  <Error><Code>InternalError</Code>"
         "<Message>We encountered an internal error. Please try again."
         "</Message><RequestId>656c76696e6727732072657175657374</RequestId>"
         "<HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7</HostId></Error>",
    /* CopyObject answered 200 with an error body. */
    "<Error" NS "><Code>InternalError</Code><Message>We encountered an "
    "internal error. Please try again.</Message>"
    "<RequestId>656c76696e6727732072657175657374</RequestId></Error>",
};

START_TEST(test_etag_200_error)
{
    const char *xml = etag_errors[_i];
    struct s3_error e;
    char *etag = (char *)1;
    time_t mtime = 7;

    memset(&e, 0, sizeof(e));
    e.status = 200;
    ck_assert_int_eq(
        s3_xml_parse_etag_result(xml, strlen(xml), &etag, &mtime, &e), -EIO);
    ck_assert_ptr_null(etag);
    ck_assert_int_eq(mtime, 7);
    ck_assert_int_eq(e.status, 200);
    ck_assert_str_eq(e.code, "InternalError");
    ck_assert_str_eq(e.message,
                     "We encountered an internal error. Please try again.");
    ck_assert_str_eq(e.request_id, "656c76696e6727732072657175657374");
    ck_assert_int_eq(
        s3_xml_parse_etag_result(xml, strlen(xml), &etag, NULL, NULL), -EIO);
    ck_assert_ptr_null(etag);
}
END_TEST

START_TEST(test_etag_bad)
{
    static const char *const docs[] = {
        "<CompleteMultipartUploadResult><Key>k</Key>"
        "</CompleteMultipartUploadResult>",
        "<CopyObjectResult><ETag>\"a\"</ETag><ETag>\"b\"</ETag>"
        "</CopyObjectResult>",
        "<CopyObjectResult><ETag>\"a\"</ETag><LastModified>x</LastModified>"
        "</CopyObjectResult>",
        "<ListBucketResult><ETag>\"a\"</ETag></ListBucketResult>",
        "<CopyObjectResult><ETag>\"a\"</ETag>",
    };
    char *etag = (char *)1;
    size_t i;

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        ck_assert_int_eq(s3_xml_parse_etag_result(docs[i], strlen(docs[i]),
                                                  &etag, NULL, NULL),
                         -EPROTO);
        ck_assert_ptr_null(etag);
    }
}
END_TEST

/* ---- DeleteResult --------------------------------------------------- */

START_TEST(test_delete_mixed)
{
    static const char xml[] =
        DECL "<DeleteResult" NS ">"
             "<Deleted><Key>sample1.txt</Key></Deleted>"
             "<Error><Key>sample2.txt</Key><Code>AccessDenied</Code>"
             "<Message>Access Denied</Message></Error>"
             "<Deleted><Key>a &amp; b</Key><DeleteMarker>true</DeleteMarker>"
             "<DeleteMarkerVersionId>v1</DeleteMarkerVersionId></Deleted>"
             "<Error><Key>no-code</Key></Error>"
             "<Error><Key>k3</Key><VersionId>v</VersionId>"
             "<Code>InternalError</Code></Error>"
             "</DeleteResult>";
    struct s3_delete_result r;

    ck_assert_int_eq(s3_xml_parse_delete(xml, strlen(xml), &r), 0);
    ck_assert_uint_eq(r.ndeleted, 2);
    ck_assert_str_eq(r.deleted[0], "sample1.txt");
    ck_assert_str_eq(r.deleted[1], "a & b");
    ck_assert_uint_eq(r.nerrors, 3);
    ck_assert_str_eq(r.error_keys[0], "sample2.txt");
    ck_assert_str_eq(r.error_codes[0], "AccessDenied");
    ck_assert_str_eq(r.error_keys[1], "no-code");
    ck_assert_str_eq(r.error_codes[1], "");
    ck_assert_str_eq(r.error_keys[2], "k3");
    ck_assert_str_eq(r.error_codes[2], "InternalError");
    s3_delete_result_fini(&r);
}
END_TEST

START_TEST(test_delete_quiet_and_bad)
{
    static const char quiet[] = "<DeleteResult" NS "/>";
    static const char *const bad[] = {
        "<DeleteResult><Deleted></Deleted></DeleteResult>",
        "<DeleteResult><Error><Code>AccessDenied</Code></Error>"
        "</DeleteResult>",
        "<DeleteResult><Deleted><Key>a</Key><Key>b</Key></Deleted>"
        "</DeleteResult>",
        "<DeleteResult><Deleted><Key>a</Key></Deleted><Deleted><Key>b"
        "</Key>",
        "<Error><Code>MalformedXML</Code></Error>",
    };
    struct s3_delete_result r;
    size_t i;

    ck_assert_int_eq(s3_xml_parse_delete(quiet, strlen(quiet), &r), 0);
    ck_assert_uint_eq(r.ndeleted + r.nerrors, 0);
    s3_delete_result_fini(&r);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(s3_xml_parse_delete(bad[i], strlen(bad[i]), &r),
                         -EPROTO);
        ck_assert_uint_eq(r.ndeleted + r.nerrors, 0);
        ck_assert_ptr_null(r.deleted);
    }
}
END_TEST

/* ---- ListMultipartUploadsResult ------------------------------------- */

START_TEST(test_uploads)
{
    static const char xml[] =
        DECL "<ListMultipartUploadsResult" NS ">"
             "<Bucket>b</Bucket><KeyMarker></KeyMarker>"
             "<UploadIdMarker></UploadIdMarker>"
             "<NextKeyMarker>my-movie.m2ts</NextKeyMarker>"
             "<NextUploadIdMarker>YW55IGlkZWEgd2h5IGVsdmluZydzIHVwbG9hZCBmYW"
             "lsZWQ</NextUploadIdMarker><MaxUploads>3</MaxUploads>"
             "<IsTruncated>true</IsTruncated>"
             "<Upload><Key>my-divisor</Key>"
             "<UploadId>XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW5nIG11Y2ggbHVjaw"
             "</UploadId><Initiator><ID>arn:aws:iam::111122223333:user/"
             "user1</ID><DisplayName>u</DisplayName></Initiator>"
             "<Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078e"
             "fc7c6caea54ba06a</ID><DisplayName>o</DisplayName></Owner>"
             "<StorageClass>STANDARD</StorageClass>"
             "<Initiated>2010-11-10T20:48:33.000Z</Initiated></Upload>"
             "<Upload><Key>my-movie.m2ts</Key><UploadId>VXBsb2FkIElE</UploadId>"
             "<Initiated>2010-11-10T20:48:33Z</Initiated></Upload>"
             "<Upload><Key>no-time</Key><UploadId>u3</UploadId></Upload>"
             "</ListMultipartUploadsResult>";
    struct s3_uploads_result r;

    ck_assert_int_eq(s3_xml_parse_uploads(xml, strlen(xml), &r), 0);
    ck_assert_uint_eq(r.nuploads, 3);
    ck_assert_str_eq(r.uploads[0].key, "my-divisor");
    ck_assert_str_eq(r.uploads[0].upload_id,
                     "XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW5nIG11Y2ggbHVjaw");
    ck_assert_int_eq(r.uploads[0].initiated, 1289422113);
    ck_assert_int_eq(r.uploads[1].initiated, 1289422113);
    ck_assert_str_eq(r.uploads[1].upload_id, "VXBsb2FkIElE");
    ck_assert_int_eq(r.uploads[2].initiated, 0);
    ck_assert(r.truncated);
    ck_assert_str_eq(r.next_key_marker, "my-movie.m2ts");
    ck_assert_str_eq(r.next_upload_id_marker,
                     "YW55IGlkZWEgd2h5IGVsdmluZydzIHVwbG9hZCBmYWlsZWQ");
    s3_uploads_result_fini(&r);
}
END_TEST

START_TEST(test_uploads_url_and_bad)
{
    static const char url[] =
        "<ListMultipartUploadsResult><EncodingType>url</EncodingType>"
        "<NextKeyMarker>a%2Bb+c</NextKeyMarker><IsTruncated>false"
        "</IsTruncated><Upload><Key>x+y%26z</Key><UploadId>u</UploadId>"
        "</Upload></ListMultipartUploadsResult>";
    static const char *const bad[] = {
        "<ListMultipartUploadsResult><Upload><Key>k</Key></Upload>"
        "</ListMultipartUploadsResult>",
        "<ListMultipartUploadsResult><Upload><UploadId>u</UploadId>"
        "</Upload></ListMultipartUploadsResult>",
        "<ListMultipartUploadsResult><Upload><Key>k</Key><UploadId>u"
        "</UploadId><Initiated>2010-11-10</Initiated></Upload>"
        "</ListMultipartUploadsResult>",
        "<ListMultipartUploadsResult><IsTruncated>1</IsTruncated>"
        "</ListMultipartUploadsResult>",
    };
    struct s3_uploads_result r;
    size_t i;

    ck_assert_int_eq(s3_xml_parse_uploads(url, strlen(url), &r), 0);
    ck_assert_str_eq(r.next_key_marker, "a+b c");
    ck_assert_str_eq(r.uploads[0].key, "x y&z");
    ck_assert_ptr_null(r.next_upload_id_marker);
    ck_assert(!r.truncated);
    s3_uploads_result_fini(&r);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(s3_xml_parse_uploads(bad[i], strlen(bad[i]), &r),
                         -EPROTO);
        ck_assert_uint_eq(r.nuploads, 0);
        ck_assert_ptr_null(r.uploads);
    }
}
END_TEST

/* ---- malformed and hostile input, through every parser -------------- */

static const char *const hostile[] = {
    "",
    "   ",
    "not xml at all",
    "{\"json\": true}",
    "<ListBucketResult><Contents><Key>k</Key>",
    "<ListBucketResult><Contents></ListBucketResult>",
    "<ListBucketResult>&undefined;</ListBucketResult>",
    "<ListBucketResult><Key>&#x1;</Key></ListBucketResult>",
    "<ListBucketResult></ListBucketResult><ListBucketResult/>",
    "<x:ListBucketResult></x:ListBucketResult>", /* unbound prefix */
    "<WrongRoot><Contents><Key>k</Key><Size>1</Size></Contents></WrongRoot>",
    "<!DOCTYPE ListBucketResult [<!ENTITY e \"boom\">]>"
    "<ListBucketResult><Prefix>&e;</Prefix></ListBucketResult>",
    "<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
    "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
    "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"
    "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
    "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">]>"
    "<ListBucketResult><Prefix>&lol4;</Prefix></ListBucketResult>",
    "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
    "<ListBucketResult><Prefix>&x;</Prefix></ListBucketResult>",
    "<!DOCTYPE ListBucketResult SYSTEM \"http://example.com/x.dtd\">"
    "<ListBucketResult/>",
};

START_TEST(test_hostile_all_parsers)
{
    const char *xml = hostile[_i];
    size_t len = strlen(xml);
    struct s3_list_result lr;
    struct s3_delete_result dr;
    struct s3_uploads_result ur;
    struct s3_error e;
    char *s = (char *)1;

    memset(&e, 0, sizeof(e));
    ck_assert_int_eq(s3_xml_parse_list(xml, len, &lr), -EPROTO);
    ck_assert_uint_eq(lr.nobjects + lr.nprefixes, 0);
    ck_assert_int_eq(s3_xml_parse_error(xml, len, &e), -EPROTO);
    ck_assert_str_eq(e.code, "");
    ck_assert_int_eq(s3_xml_parse_initiate(xml, len, &s), -EPROTO);
    ck_assert_ptr_null(s);
    s = (char *)1;
    ck_assert_int_eq(s3_xml_parse_etag_result(xml, len, &s, NULL, &e), -EPROTO);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(s3_xml_parse_delete(xml, len, &dr), -EPROTO);
    ck_assert_int_eq(s3_xml_parse_uploads(xml, len, &ur), -EPROTO);
}
END_TEST

START_TEST(test_truncated_everywhere)
{
    /* Every proper prefix of a valid page is rejected. */
    size_t len = strlen(list_page);
    struct s3_list_result r;
    size_t n;

    for (n = 0; n < len; n++)
        ck_assert_int_eq(s3_xml_parse_list(list_page, n, &r), -EPROTO);
    ck_assert_int_eq(s3_xml_parse_list(list_page, len, &r), 0);
    s3_list_result_fini(&r);
}
END_TEST

START_TEST(test_embedded_nul)
{
    static const char xml[] = "<ListBucketResult><Prefix>a\0b</Prefix>"
                              "</ListBucketResult>";
    struct s3_list_result r;

    ck_assert_int_eq(s3_xml_parse_list(xml, sizeof(xml) - 1, &r), -EPROTO);
}
END_TEST

START_TEST(test_huge_text)
{
    /* A value past the text cap fails the document, not the process. */
    struct s3_list_result r;
    struct buf b;
    int i;

    buf_init(&b, BUF_UNLIMITED);
    buf_append_str(&b, "<ListBucketResult><Contents><Key>");
    for (i = 0; i < 100 * 1024; i++)
        buf_append_byte(&b, 'k');
    buf_append_str(&b, "</Key><Size>1</Size></Contents></ListBucketResult>");
    ck_assert_int_eq(s3_xml_parse_list(b.data, b.len, &r), -EPROTO);
    buf_free(&b);
}
END_TEST

/* ---- builders ------------------------------------------------------- */

static const struct {
    const char *in;
    const char *out;
} escapes[] = {
    {"", ""},
    {"plain/key.txt", "plain/key.txt"},
    {"a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&apos;f"},
    {"cr\rlf\ntab\t", "cr&#xD;lf&#xA;tab&#x9;"},
    {"\x01\x1f\x7f", "&#x1;&#x1F;&#x7F;"},
    {"caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80"},
    {"&amp;", "&amp;amp;"},
};

START_TEST(test_escape)
{
    struct buf b;

    buf_init(&b, BUF_UNLIMITED);
    buf_append_str(&b, "[");
    ck_assert_int_eq(s3_xml_escape(&b, escapes[_i].in), 0);
    ck_assert_str_eq(buf_str(&b) + 1, escapes[_i].out);
    buf_free(&b);
}
END_TEST

START_TEST(test_escape_overflow_unchanged)
{
    struct buf b;

    buf_init(&b, 10);
    buf_append_str(&b, "abc");
    ck_assert_int_eq(s3_xml_escape(&b, "&&&"), -EMSGSIZE);
    ck_assert_str_eq(buf_str(&b), "abc");
    ck_assert_uint_eq(b.len, 3);
    ck_assert_int_eq(s3_xml_escape(&b, "1234567"), 0);
    ck_assert_str_eq(buf_str(&b), "abc1234567");
    buf_free(&b);
}
END_TEST

/* Collects the text of every <Key> with expat, to read builders back. */
struct key_reader {
    struct buf cur;
    char *keys[8];
    int nkeys;
    int in_key;
};

static void reader_start(void *ud, const XML_Char *name, const XML_Char **a)
{
    struct key_reader *kr = ud;

    if (strcmp(name, "Key") == 0) {
        kr->in_key = 1;
        buf_reset(&kr->cur);
    }
}

static void reader_end(void *ud, const XML_Char *name)
{
    struct key_reader *kr = ud;

    if (strcmp(name, "Key") == 0 && kr->nkeys < 8) {
        kr->keys[kr->nkeys++] = strdup(buf_str(&kr->cur));
        kr->in_key = 0;
    }
}

static void reader_text(void *ud, const XML_Char *s, int len)
{
    struct key_reader *kr = ud;

    if (kr->in_key)
        buf_append(&kr->cur, s, (size_t)len);
}

static void read_keys(const struct buf *doc, struct key_reader *kr)
{
    XML_Parser p = XML_ParserCreate(NULL);

    memset(kr, 0, sizeof(*kr));
    buf_init(&kr->cur, BUF_UNLIMITED);
    XML_SetUserData(p, kr);
    XML_SetElementHandler(p, reader_start, reader_end);
    XML_SetCharacterDataHandler(p, reader_text);
    ck_assert_int_eq(XML_Parse(p, doc->data, (int)doc->len, 1), XML_STATUS_OK);
    XML_ParserFree(p);
    buf_free(&kr->cur);
}

START_TEST(test_build_delete_roundtrip)
{
    static const char *const keys[] = {
        "a&b", "<dir>/\"q\"'s",    "line\r\nbreak\ttab", "caf\xc3\xa9 x+y%20",
        "]]>", " lead and trail ",
    };
    static const size_t nkeys = sizeof(keys) / sizeof(keys[0]);
    struct key_reader kr;
    struct buf b;
    size_t i;

    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(s3_xml_build_delete(&b, keys, nkeys, true), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "<Quiet>true</Quiet>"));
    ck_assert_ptr_nonnull(
        strstr(b.data, "<Object><Key>line&#xD;&#xA;break&#x9;tab</Key>"
                       "</Object>"));
    ck_assert_ptr_nonnull(strstr(b.data, "<Key>]]&gt;</Key>"));
    read_keys(&b, &kr);
    ck_assert_int_eq(kr.nkeys, (int)nkeys);
    for (i = 0; i < nkeys; i++) {
        ck_assert_str_eq(kr.keys[i], keys[i]);
        free(kr.keys[i]);
    }
    buf_free(&b);
}
END_TEST

START_TEST(test_build_delete_exact)
{
    static const char *const keys[] = {"k1", "a\x01<b"};
    struct buf b;

    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(s3_xml_build_delete(&b, keys, 2, false), 0);
    ck_assert_str_eq(buf_str(&b), DECL "<Delete" NS ">"
                                       "<Object><Key>k1</Key></Object>"
                                       "<Object><Key>a&#x1;&lt;b</Key></Object>"
                                       "</Delete>");
    buf_free(&b);
}
END_TEST

START_TEST(test_build_complete)
{
    static const struct s3_part parts[] = {
        {1, "\"a54357aff0632cce46d942af68356b38\""},
        {2, "\"0c78aef83f66abc1fa1e8477f296d394\""},
        {10000, "\"acbd18db4cc2f85cedef654fccc4a4d8\""},
    };
    struct buf b;

    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(s3_xml_build_complete(&b, parts, 3), 0);
    ck_assert_str_eq(
        buf_str(&b),
        DECL "<CompleteMultipartUpload" NS ">"
             "<Part><PartNumber>1</PartNumber>"
             "<ETag>&quot;a54357aff0632cce46d942af68356b38&quot;</ETag></Part>"
             "<Part><PartNumber>2</PartNumber>"
             "<ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;</ETag></Part>"
             "<Part><PartNumber>10000</PartNumber>"
             "<ETag>&quot;acbd18db4cc2f85cedef654fccc4a4d8&quot;</ETag></Part>"
             "</CompleteMultipartUpload>");
    buf_free(&b);
}
END_TEST

START_TEST(test_build_errors_leave_buf)
{
    static const struct s3_part zero[] = {{0, "\"e\""}};
    static const struct s3_part big[] = {{10001, "\"e\""}};
    static const struct s3_part noetag[] = {{1, NULL}};
    static const struct s3_part ok[] = {{1, "\"e\""}, {2, "\"f\""}};
    static const char *const keys[] = {"abc", "def"};
    static const char *const empty[] = {""};
    struct buf b;

    buf_init(&b, 64);
    buf_append_str(&b, "keep");
    ck_assert_int_eq(s3_xml_build_complete(&b, zero, 1), -EINVAL);
    ck_assert_int_eq(s3_xml_build_complete(&b, big, 1), -EINVAL);
    ck_assert_int_eq(s3_xml_build_complete(&b, noetag, 1), -EINVAL);
    ck_assert_int_eq(s3_xml_build_complete(&b, ok, 0), -EINVAL);
    ck_assert_int_eq(s3_xml_build_delete(&b, keys, 0, true), -EINVAL);
    ck_assert_int_eq(s3_xml_build_delete(&b, empty, 1, true), -EINVAL);
    ck_assert_int_eq(s3_xml_build_complete(&b, ok, 2), -EMSGSIZE);
    ck_assert_int_eq(s3_xml_build_delete(&b, keys, 2, true), -EMSGSIZE);
    ck_assert_str_eq(buf_str(&b), "keep");
    ck_assert_uint_eq(b.len, 4);
    buf_free(&b);
}
END_TEST

/* ---- time ----------------------------------------------------------- */

static const struct {
    const char *s;
    int rc;
    time_t t;
} times[] = {
    {"2009-10-12T17:50:30.000Z", 0, 1255369830},
    {"2009-10-12T17:50:30Z", 0, 1255369830},
    {"2009-10-12T17:50:30.123456789Z", 0, 1255369830},
    {"2009-10-12T19:50:30+02:00", 0, 1255369830},
    {"2009-10-12T12:20:30.5-05:30", 0, 1255369830},
    {"1970-01-01T00:00:00Z", 0, 0},
    {"1999-12-31T23:59:59Z", 0, 946684799},
    {"2024-02-29T12:00:00.000Z", 0, 1709208000},
    {"2038-01-19T03:14:08Z", 0, 2147483648LL},
    {"2100-03-01T00:00:00Z", 0, 4107542400LL},
    {"", -EINVAL, 0},
    {"2009-10-12", -EINVAL, 0},
    {"2009-10-12T17:50:30", -EINVAL, 0},
    {"2009-10-12 17:50:30Z", -EINVAL, 0},
    {"2009-10-12T17:50:30.Z", -EINVAL, 0},
    {"2009-10-12T17:50:30.000Zx", -EINVAL, 0},
    {"2009-10-12T17:50:30.000z", -EINVAL, 0},
    {"2009-13-12T17:50:30Z", -EINVAL, 0},
    {"2009-00-12T17:50:30Z", -EINVAL, 0},
    {"2023-02-29T00:00:00Z", -EINVAL, 0},
    {"2100-02-29T00:00:00Z", -EINVAL, 0},
    {"2009-04-31T00:00:00Z", -EINVAL, 0},
    {"2009-10-12T24:00:00Z", -EINVAL, 0},
    {"2009-10-12T17:60:00Z", -EINVAL, 0},
    {"2009-10-12T17:50:30+2:00", -EINVAL, 0},
    {"20091012T175030Z", -EINVAL, 0},
    {"Mon, 12 Oct 2009 17:50:30 GMT", -EINVAL, 0},
    {" 2009-10-12T17:50:30Z", -EINVAL, 0},
};

START_TEST(test_time)
{
    time_t t = 12345;

    ck_assert_int_eq(s3_xml_parse_time(times[_i].s, &t), times[_i].rc);
    if (times[_i].rc == 0)
        ck_assert_int_eq(t, times[_i].t);
    else
        ck_assert_int_eq(t, 12345);
}
END_TEST

/* ---- suite ---------------------------------------------------------- */

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *s3_xml_suite(void)
{
    Suite *s = suite_create("s3_xml");
    TCase *tc;

    tc = tcase_create("list");
    tcase_add_test(tc, test_list_page);
    tcase_add_test(tc, test_list_truncated);
    tcase_add_loop_test(tc, test_list_escaped_keys, 0, NELEM(escaped_keys));
    tcase_add_test(tc, test_list_url_encoding);
    tcase_add_test(tc, test_list_url_bad_escape);
    tcase_add_test(tc, test_list_empty);
    tcase_add_test(tc, test_list_nesting);
    tcase_add_test(tc, test_list_no_etag);
    tcase_add_loop_test(tc, test_list_bad, 0, NELEM(bad_lists));
    tcase_add_test(tc, test_list_big_int);
    tcase_add_test(tc, test_list_5000);
    suite_add_tcase(s, tc);

    tc = tcase_create("error");
    tcase_add_loop_test(tc, test_error_docs, 0, NELEM(error_docs));
    tcase_add_test(tc, test_error_not_error);
    tcase_add_test(tc, test_error_long_fields_truncated);
    suite_add_tcase(s, tc);

    tc = tcase_create("multipart_copy");
    tcase_add_test(tc, test_initiate);
    tcase_add_loop_test(tc, test_etag_result, 0, NELEM(etag_docs));
    tcase_add_loop_test(tc, test_etag_200_error, 0, NELEM(etag_errors));
    tcase_add_test(tc, test_etag_bad);
    tcase_add_test(tc, test_uploads);
    tcase_add_test(tc, test_uploads_url_and_bad);
    suite_add_tcase(s, tc);

    tc = tcase_create("delete");
    tcase_add_test(tc, test_delete_mixed);
    tcase_add_test(tc, test_delete_quiet_and_bad);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_loop_test(tc, test_hostile_all_parsers, 0, NELEM(hostile));
    tcase_add_test(tc, test_truncated_everywhere);
    tcase_add_test(tc, test_embedded_nul);
    tcase_add_test(tc, test_huge_text);
    suite_add_tcase(s, tc);

    tc = tcase_create("build");
    tcase_add_loop_test(tc, test_escape, 0, NELEM(escapes));
    tcase_add_test(tc, test_escape_overflow_unchanged);
    tcase_add_test(tc, test_build_delete_roundtrip);
    tcase_add_test(tc, test_build_delete_exact);
    tcase_add_test(tc, test_build_complete);
    tcase_add_test(tc, test_build_errors_leave_buf);
    suite_add_tcase(s, tc);

    tc = tcase_create("time");
    tcase_add_loop_test(tc, test_time, 0, NELEM(times));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(s3_xml_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
