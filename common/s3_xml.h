/* SPDX-License-Identifier: MIT */
/*
 * s3_xml.h: the XML documents of the S3 API, parsed with expat and built by
 * hand.
 *
 * Pure functions over bytes in memory: no I/O, so they are unit-tested on
 * captured and hand-written documents. Parsers are strict about structure
 * but ignore elements they do not know (servers add fields). Every string
 * a parser returns is owned by the result struct and freed by its _fini.
 * Inputs are bounded by the caller (struct buf max); a document that is
 * not well-formed XML gives -EPROTO.
 */
#ifndef PCACHE_S3_XML_H
#define PCACHE_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"
#include "common/s3_error.h"

/* One object of a listing. */
struct s3_object_info {
    char *key; /* owned, decoded (XML entities resolved) */
    int64_t size;
    char *etag;          /* owned, as sent, quotes included ("\"abc\"");
                            "" when the server sent none */
    time_t mtime;        /* LastModified, UTC seconds; 0 if absent */
    char *storage_class; /* owned, or NULL */
};

/* ListObjectsV2 result (ListBucketResult). */
struct s3_list_result {
    struct s3_object_info *objects; /* owned array of nobjects */
    size_t nobjects;
    char **prefixes; /* owned array of CommonPrefixes/Prefix values */
    size_t nprefixes;
    bool truncated;      /* IsTruncated */
    char *next_token;    /* NextContinuationToken, owned, or NULL */
    char *encoding_type; /* EncodingType, owned, or NULL ("url" means keys
                            and prefixes were URL-encoded; the parser has
                            already decoded them) */
};

/*
 * Parses a ListBucketResult. With EncodingType "url" the keys and common
 * prefixes are percent-decoded ('+' is a space). Returns 0, -EPROTO (not
 * XML, not a ListBucketResult, bad number, Contents without Key or Size),
 * never -ENOMEM (aborts).
 * On error *out is left empty (fini not needed, but harmless).
 */
int s3_xml_parse_list(const char *xml, size_t len, struct s3_list_result *out);
void s3_list_result_fini(struct s3_list_result *r);

/*
 * Parses an <Error> document into e (code, message, request id; status is
 * left alone). Code and message are always overwritten ("" when absent);
 * the request id only when the body has one, so a value taken from the
 * x-amz-request-id header survives. Returns 0 when an Error element was
 * found, -EPROTO when the body is not an S3 error document (e is then
 * unchanged).
 */
int s3_xml_parse_error(const char *xml, size_t len, struct s3_error *e);

/* InitiateMultipartUploadResult: *upload_id is owned by the caller. */
int s3_xml_parse_initiate(const char *xml, size_t len, char **upload_id);

/*
 * CompleteMultipartUploadResult or CopyObjectResult / CopyPartResult: the
 * ETag (owned, quotes kept) and, when present, LastModified (*mtime is left
 * alone when absent; mtime may be NULL). S3 may answer 200 with an <Error>
 * body for these: that gives -EIO with e filled (e may be NULL). On any
 * error *etag is NULL.
 */
int s3_xml_parse_etag_result(const char *xml, size_t len, char **etag,
                             time_t *mtime, struct s3_error *e);

/* DeleteObjects result. */
struct s3_delete_result {
    char **deleted; /* owned keys */
    size_t ndeleted;
    char **error_keys;  /* owned keys that failed */
    char **error_codes; /* owned S3 codes, parallel to error_keys */
    size_t nerrors;
};
int s3_xml_parse_delete(const char *xml, size_t len,
                        struct s3_delete_result *out);
void s3_delete_result_fini(struct s3_delete_result *r);

/* ListMultipartUploads result; with EncodingType "url" the keys and
 * next_key_marker are percent-decoded. */
struct s3_upload_info {
    char *key;       /* owned */
    char *upload_id; /* owned */
    time_t initiated;
};
struct s3_uploads_result {
    struct s3_upload_info *uploads; /* owned array */
    size_t nuploads;
    bool truncated;
    char *next_key_marker;       /* owned or NULL */
    char *next_upload_id_marker; /* owned or NULL */
};
int s3_xml_parse_uploads(const char *xml, size_t len,
                         struct s3_uploads_result *out);
void s3_uploads_result_fini(struct s3_uploads_result *r);

/* One part of a multipart upload, for the Complete request. */
struct s3_part {
    int number;       /* 1..10000 */
    const char *etag; /* borrowed, quotes included */
};

/*
 * Appends a CompleteMultipartUpload document; 0, -EMSGSIZE, or -EINVAL (no
 * parts, a number outside 1..10000, a NULL etag). Part order is the
 * caller's. On error out is unchanged.
 */
int s3_xml_build_complete(struct buf *out, const struct s3_part *parts,
                          size_t nparts);
/*
 * Appends a Delete document (Quiet when quiet); 0, -EMSGSIZE, or -EINVAL
 * (no keys, more than 1000, an empty key). On error out is unchanged.
 */
int s3_xml_build_delete(struct buf *out, const char *const *keys, size_t nkeys,
                        bool quiet);
/*
 * Appends s with &, <, >, ", ' and control characters (including tab, CR,
 * LF and DEL) escaped, the latter as &#xN;. 0 or -EMSGSIZE (out unchanged).
 */
int s3_xml_escape(struct buf *out, const char *s);

/*
 * Parses an ISO 8601 time ("2009-10-12T17:50:30.000Z", fraction optional,
 * "Z" or "+hh:mm") to UTC seconds; 0 or -EINVAL (*out unchanged).
 */
int s3_xml_parse_time(const char *s, time_t *out);

#endif
