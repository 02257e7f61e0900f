/* SPDX-License-Identifier: MIT */
/*
 * s3_xml.c: parsers and builders for the XML documents of the S3 API (see
 * s3_xml.h and docs/internals/s3_xml.md).
 *
 * DESIGN: one small engine drives expat for every document. Expat runs with
 * namespace processing, so a name arrives as "URI<sep>local" and the engine
 * keeps only the local part; the local name is mapped to a closed enum
 * (anything unknown is EL_OTHER and ignored, subtree included). The engine
 * keeps the path of open elements, so a handler can tell <Contents><Key>
 * from a <Key> anywhere else, and collects the character data of known
 * elements into a capped struct buf. A document type supplies the root
 * elements it accepts and two callbacks that fill its result; the first
 * error a callback reports stops expat and becomes the return value, and
 * anything expat rejects is -EPROTO. DOCTYPE and entity declarations stop
 * the parser at once, so no entity can be declared, internal or external.
 */
#include "common/s3_xml.h"

#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"

/* Expat joins namespace URI and local name with this; it cannot occur in
 * either (XML 1.0 forbids control characters there). */
#define S3_XML_NS_SEP '\x01'
/* Elements deeper than this are ignored; S3 documents use four levels. */
#define S3_XML_MAX_DEPTH 16
/* Largest text of one element: keys are 1 KiB, messages a few hundred. */
#define S3_XML_TEXT_MAX (64 * 1024)
/* XML_Parse() takes an int length: feed big documents in slices. */
#define S3_XML_SLICE    (1 << 30)
#define S3_XML_DECL     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3_XML_NS       "http://s3.amazonaws.com/doc/2006-03-01/"
#define S3_XML_MAX_PART 10000
#define S3_XML_MAX_DEL  1000

/* The element names any document below cares about. */
enum s3_xml_el {
    EL_OTHER,
    EL_LIST_BUCKET_RESULT,
    EL_CONTENTS,
    EL_KEY,
    EL_SIZE,
    EL_ETAG,
    EL_LAST_MODIFIED,
    EL_STORAGE_CLASS,
    EL_COMMON_PREFIXES,
    EL_PREFIX,
    EL_IS_TRUNCATED,
    EL_NEXT_CONTINUATION_TOKEN,
    EL_ENCODING_TYPE,
    EL_ERROR,
    EL_CODE,
    EL_MESSAGE,
    EL_REQUEST_ID,
    EL_INITIATE_RESULT,
    EL_UPLOAD_ID,
    EL_COMPLETE_RESULT,
    EL_COPY_OBJECT_RESULT,
    EL_COPY_PART_RESULT,
    EL_DELETE_RESULT,
    EL_DELETED,
    EL_UPLOADS_RESULT,
    EL_UPLOAD,
    EL_INITIATED,
    EL_NEXT_KEY_MARKER,
    EL_NEXT_UPLOAD_ID_MARKER,
    EL_COUNT,
};

static const char *const s3_xml_el_names[EL_COUNT] = {
    [EL_OTHER] = "",
    [EL_LIST_BUCKET_RESULT] = "ListBucketResult",
    [EL_CONTENTS] = "Contents",
    [EL_KEY] = "Key",
    [EL_SIZE] = "Size",
    [EL_ETAG] = "ETag",
    [EL_LAST_MODIFIED] = "LastModified",
    [EL_STORAGE_CLASS] = "StorageClass",
    [EL_COMMON_PREFIXES] = "CommonPrefixes",
    [EL_PREFIX] = "Prefix",
    [EL_IS_TRUNCATED] = "IsTruncated",
    [EL_NEXT_CONTINUATION_TOKEN] = "NextContinuationToken",
    [EL_ENCODING_TYPE] = "EncodingType",
    [EL_ERROR] = "Error",
    [EL_CODE] = "Code",
    [EL_MESSAGE] = "Message",
    [EL_REQUEST_ID] = "RequestId",
    [EL_INITIATE_RESULT] = "InitiateMultipartUploadResult",
    [EL_UPLOAD_ID] = "UploadId",
    [EL_COMPLETE_RESULT] = "CompleteMultipartUploadResult",
    [EL_COPY_OBJECT_RESULT] = "CopyObjectResult",
    [EL_COPY_PART_RESULT] = "CopyPartResult",
    [EL_DELETE_RESULT] = "DeleteResult",
    [EL_DELETED] = "Deleted",
    [EL_UPLOADS_RESULT] = "ListMultipartUploadsResult",
    [EL_UPLOAD] = "Upload",
    [EL_INITIATED] = "Initiated",
    [EL_NEXT_KEY_MARKER] = "NextKeyMarker",
    [EL_NEXT_UPLOAD_ID_MARKER] = "NextUploadIdMarker",
};

struct s3_xml_ctx;

/* One document type: accepted roots (EL_OTHER-terminated) and callbacks. */
struct s3_xml_doc {
    enum s3_xml_el roots[5];
    int (*start)(struct s3_xml_ctx *c, enum s3_xml_el el);
    int (*end)(struct s3_xml_ctx *c, enum s3_xml_el el);
};

/* One parse; lives on the stack of s3_xml_run(). */
struct s3_xml_ctx {
    XML_Parser parser;
    const struct s3_xml_doc *doc;
    void *state;  /* the document's parse state, borrowed */
    int rc;       /* first failure; 0 while all is well */
    size_t depth; /* open elements, including those past the path */
    enum s3_xml_el path[S3_XML_MAX_DEPTH];
    bool collect; /* the innermost open element is a known one */
    struct buf text;
};

static enum s3_xml_el s3_xml_lookup(const char *name)
{
    const char *local = strrchr(name, S3_XML_NS_SEP);
    int i;

    local = local ? local + 1 : name;
    for (i = 1; i < EL_COUNT; i++)
        if (strcmp(local, s3_xml_el_names[i]) == 0)
            return (enum s3_xml_el)i;
    return EL_OTHER;
}

static void s3_xml_fail(struct s3_xml_ctx *c, int rc)
{
    if (rc && !c->rc) {
        c->rc = rc;
        XML_StopParser(c->parser, XML_FALSE);
    }
}

/* The innermost open element, as far as the path goes. */
static enum s3_xml_el s3_xml_cur(const struct s3_xml_ctx *c)
{
    if (c->depth == 0 || c->depth > S3_XML_MAX_DEPTH)
        return EL_OTHER;
    return c->path[c->depth - 1];
}

/* True when the innermost element is a direct child of the root. */
static bool s3_xml_top(const struct s3_xml_ctx *c)
{
    return c->depth == 2;
}

/* True when the innermost element is a grandchild of the root, under a
 * child named parent. */
static bool s3_xml_under(const struct s3_xml_ctx *c, enum s3_xml_el parent)
{
    return c->depth == 3 && c->path[1] == parent;
}

static const char *s3_xml_text(const struct s3_xml_ctx *c)
{
    return buf_str(&c->text);
}

static bool s3_xml_is_root(const struct s3_xml_doc *doc, enum s3_xml_el el)
{
    const enum s3_xml_el *r;

    for (r = doc->roots; *r != EL_OTHER; r++)
        if (*r == el)
            return true;
    return false;
}

static void s3_xml_start_cb(void *ud, const XML_Char *name,
                            const XML_Char **attrs)
{
    struct s3_xml_ctx *c = ud;
    enum s3_xml_el el = s3_xml_lookup(name);

    if (c->rc)
        return;
    if (c->depth == 0 && !s3_xml_is_root(c->doc, el)) {
        s3_xml_fail(c, -EPROTO);
        return;
    }
    if (c->depth < S3_XML_MAX_DEPTH)
        c->path[c->depth] = el;
    c->depth++;
    el = s3_xml_cur(c);
    buf_reset(&c->text);
    c->collect = el != EL_OTHER;
    if (el != EL_OTHER && c->doc->start)
        s3_xml_fail(c, c->doc->start(c, el));
}

static void s3_xml_end_cb(void *ud, const XML_Char *name)
{
    struct s3_xml_ctx *c = ud;
    enum s3_xml_el el = s3_xml_cur(c);

    if (c->rc)
        return;
    if (el != EL_OTHER)
        s3_xml_fail(c, c->doc->end(c, el));
    c->depth--;
    /* Text after a child closes is mixed content: no value of ours. */
    c->collect = false;
}

static void s3_xml_text_cb(void *ud, const XML_Char *s, int len)
{
    struct s3_xml_ctx *c = ud;

    if (c->rc || !c->collect)
        return;
    if (buf_append(&c->text, s, (size_t)len) != 0)
        s3_xml_fail(c, -EPROTO);
}

static void s3_xml_doctype_cb(void *ud, const XML_Char *name,
                              const XML_Char *sysid, const XML_Char *pubid,
                              int has_internal_subset)
{
    /* S3 never sends a DTD; one here can only be an entity attack. */
    s3_xml_fail(ud, -EPROTO);
}

static void s3_xml_entity_cb(void *ud, const XML_Char *name, int is_param,
                             const XML_Char *value, int value_len,
                             const XML_Char *base, const XML_Char *sysid,
                             const XML_Char *pubid, const XML_Char *notation)
{
    s3_xml_fail(ud, -EPROTO);
}

static int s3_xml_ext_entity_cb(XML_Parser p, const XML_Char *context,
                                const XML_Char *base, const XML_Char *sysid,
                                const XML_Char *pubid)
{
    return XML_STATUS_ERROR;
}

static XML_Parser s3_xml_parser_new(struct s3_xml_ctx *c)
{
    /* Expat allocates through our helpers: OOM aborts as everywhere. */
    static const XML_Memory_Handling_Suite mem = {xmalloc, xrealloc, free};
    static const XML_Char sep = S3_XML_NS_SEP;
    XML_Parser p = XML_ParserCreate_MM(NULL, &mem, &sep);

    if (!p) {
        log_errx("s3_xml: cannot create an XML parser");
        abort();
    }
    XML_SetUserData(p, c);
    XML_SetElementHandler(p, s3_xml_start_cb, s3_xml_end_cb);
    XML_SetCharacterDataHandler(p, s3_xml_text_cb);
    XML_SetStartDoctypeDeclHandler(p, s3_xml_doctype_cb);
    XML_SetEntityDeclHandler(p, s3_xml_entity_cb);
    XML_SetExternalEntityRefHandler(p, s3_xml_ext_entity_cb);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
    return p;
}

/*
 * Parses xml as the document type doc, calling its callbacks with state.
 * Returns 0, the first error of a callback, or -EPROTO.
 */
static int s3_xml_run(const struct s3_xml_doc *doc, void *state,
                      const char *xml, size_t len)
{
    struct s3_xml_ctx c;
    enum XML_Status st = XML_STATUS_OK;
    int rc;

    memset(&c, 0, sizeof(c));
    c.doc = doc;
    c.state = state;
    buf_init(&c.text, S3_XML_TEXT_MAX);
    /* S3 may send blanks before the declaration to keep a slow
     * CompleteMultipartUpload alive; expat wants the declaration first. */
    while (len &&
           (*xml == ' ' || *xml == '\t' || *xml == '\r' || *xml == '\n')) {
        xml++;
        len--;
    }
    c.parser = s3_xml_parser_new(&c);
    do {
        size_t n = len > S3_XML_SLICE ? S3_XML_SLICE : len;

        st = XML_Parse(c.parser, xml, (int)n, n == len);
        xml += n;
        len -= n;
    } while (st == XML_STATUS_OK && len);
    rc = c.rc;
    if (!rc && st != XML_STATUS_OK)
        rc = -EPROTO;
    if (rc && !c.rc)
        log_debug(LOG_SUB_S3, "s3_xml: line %lu: %s",
                  (unsigned long)XML_GetCurrentLineNumber(c.parser),
                  XML_ErrorString(XML_GetErrorCode(c.parser)));
    XML_ParserFree(c.parser);
    buf_free(&c.text);
    return rc;
}

/* ---- values --------------------------------------------------------- */

/* Stores a copy of the current text in *dst; a second value is an error. */
static int s3_xml_take_str(const struct s3_xml_ctx *c, char **dst)
{
    if (*dst)
        return -EPROTO;
    *dst = xstrdup(s3_xml_text(c));
    return 0;
}

static int s3_xml_take_int64(const struct s3_xml_ctx *c, int64_t *out)
{
    const char *s = s3_xml_text(c);
    int64_t v = 0;

    if (!*s)
        return -EPROTO;
    for (; *s; s++) {
        int d = *s - '0';

        if (d < 0 || d > 9 || v > (INT64_MAX - d) / 10)
            return -EPROTO;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int s3_xml_take_bool(const struct s3_xml_ctx *c, bool *out)
{
    const char *s = s3_xml_text(c);

    if (strcmp(s, "true") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0)
        *out = false;
    else
        return -EPROTO;
    return 0;
}

static int s3_xml_take_time(const struct s3_xml_ctx *c, time_t *out)
{
    return s3_xml_parse_time(s3_xml_text(c), out) ? -EPROTO : 0;
}

static int s3_xml_hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/*
 * Decodes an EncodingType=url value in place: %XX is a byte and '+' a
 * space (S3 form-encodes, so a real '+' arrives as %2B). A bad escape, or
 * one that decodes to NUL, is -EPROTO.
 */
static int s3_xml_url_decode(char *s)
{
    const char *r = s;
    char *w = s;

    if (!s)
        return 0;
    while (*r) {
        if (*r == '+') {
            *w++ = ' ';
            r++;
        } else if (*r == '%') {
            int hi = s3_xml_hexval(r[1]);
            int lo = hi < 0 ? -1 : s3_xml_hexval(r[2]);

            if (lo < 0 || (hi == 0 && lo == 0))
                return -EPROTO;
            *w++ = (char)(hi << 4 | lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return 0;
}

static bool s3_xml_is_url(const char *encoding_type)
{
    return encoding_type && strcmp(encoding_type, "url") == 0;
}

/* Makes room for element n of an array of *cap elements of size elsize. */
static void *s3_xml_grow(void *arr, size_t n, size_t *cap, size_t elsize)
{
    if (n < *cap)
        return arr;
    *cap = *cap ? *cap * 2 : 16;
    return xrealloc(arr, *cap * elsize);
}

/* ---- ListBucketResult ----------------------------------------------- */

struct s3_xml_list_state {
    struct s3_list_result *r;
    size_t objects_cap;
    size_t prefixes_cap;
    bool have_size; /* of the open Contents */
};

static int s3_xml_list_start(struct s3_xml_ctx *c, enum s3_xml_el el)
{
    struct s3_xml_list_state *st = c->state;
    struct s3_list_result *r = st->r;

    if (s3_xml_top(c) && el == EL_CONTENTS) {
        r->objects = s3_xml_grow(r->objects, r->nobjects, &st->objects_cap,
                                 sizeof(*r->objects));
        memset(&r->objects[r->nobjects++], 0, sizeof(*r->objects));
        st->have_size = false;
    }
    return 0;
}

static int s3_xml_list_object_end(struct s3_xml_ctx *c, enum s3_xml_el el)
{
    struct s3_xml_list_state *st = c->state;
    struct s3_object_info *o = &st->r->objects[st->r->nobjects - 1];

    switch (el) {
    case EL_KEY:
        return s3_xml_take_str(c, &o->key);
    case EL_SIZE:
        if (st->have_size)
            return -EPROTO;
        st->have_size = true;
        return s3_xml_take_int64(c, &o->size);
    case EL_ETAG:
        return s3_xml_take_str(c, &o->etag);
    case EL_LAST_MODIFIED:
        return s3_xml_take_time(c, &o->mtime);
    case EL_STORAGE_CLASS:
        return s3_xml_take_str(c, &o->storage_class);
    default:
        return 0;
    }
}

/* The whole page is read: EncodingType may come after the keys. */
static int s3_xml_list_finish(struct s3_list_result *r)
{
    size_t i;
    int rc = 0;

    if (!s3_xml_is_url(r->encoding_type))
        return 0;
    for (i = 0; i < r->nobjects && !rc; i++)
        rc = s3_xml_url_decode(r->objects[i].key);
    for (i = 0; i < r->nprefixes && !rc; i++)
        rc = s3_xml_url_decode(r->prefixes[i]);
    return rc;
}

static int s3_xml_list_end(struct s3_xml_ctx *c, enum s3_xml_el el)
{
    struct s3_xml_list_state *st = c->state;
    struct s3_list_result *r = st->r;

    if (s3_xml_under(c, EL_CONTENTS))
        return s3_xml_list_object_end(c, el);
    if (s3_xml_under(c, EL_COMMON_PREFIXES) && el == EL_PREFIX) {
        r->prefixes = s3_xml_grow(r->prefixes, r->nprefixes, &st->prefixes_cap,
                                  sizeof(*r->prefixes));
        r->prefixes[r->nprefixes++] = xstrdup(s3_xml_text(c));
        return 0;
    }
    if (c->depth == 1)
        return s3_xml_list_finish(r);
    if (!s3_xml_top(c))
        return 0;
    switch (el) {
    case EL_CONTENTS: {
        struct s3_object_info *o = &r->objects[r->nobjects - 1];

        if (!o->key || !st->have_size)
            return -EPROTO;
        if (!o->etag)
            o->etag = xstrdup("");
        return 0;
    }
    case EL_IS_TRUNCATED:
        return s3_xml_take_bool(c, &r->truncated);
    case EL_NEXT_CONTINUATION_TOKEN:
        return s3_xml_take_str(c, &r->next_token);
    case EL_ENCODING_TYPE:
        return s3_xml_take_str(c, &r->encoding_type);
    default:
        return 0;
    }
}

static const struct s3_xml_doc s3_xml_list_doc = {
    .roots = {EL_LIST_BUCKET_RESULT, EL_OTHER},
    .start = s3_xml_list_start,
    .end = s3_xml_list_end,
};

int s3_xml_parse_list(const char *xml, size_t len, struct s3_list_result *out)
{
    struct s3_xml_list_state st = {.r = out};
    int rc;

    memset(out, 0, sizeof(*out));
    rc = s3_xml_run(&s3_xml_list_doc, &st, xml, len);
    if (rc)
        s3_list_result_fini(out);
    return rc;
}

void s3_list_result_fini(struct s3_list_result *r)
{
    size_t i;

    for (i = 0; i < r->nobjects; i++) {
        free(r->objects[i].key);
        free(r->objects[i].etag);
        free(r->objects[i].storage_class);
    }
    free(r->objects);
    for (i = 0; i < r->nprefixes; i++)
        free(r->prefixes[i]);
    free(r->prefixes);
    free(r->next_token);
    free(r->encoding_type);
    memset(r, 0, sizeof(*r));
}

/* ---- Error ---------------------------------------------------------- */

/* What an <Error> said; copied into the caller's s3_error on success. */
struct s3_xml_err_state {
    struct s3_error e; /* only code, message, request_id are used */
    bool have_request_id;
};

/* Handles the children of an <Error> root. */
static int s3_xml_err_end(struct s3_xml_ctx *c, enum s3_xml_el el,
                          struct s3_xml_err_state *st)
{
    const char *t = s3_xml_text(c);

    if (!s3_xml_top(c))
        return 0;
    switch (el) {
    case EL_CODE:
        snprintf(st->e.code, sizeof(st->e.code), "%s", t);
        break;
    case EL_MESSAGE:
        snprintf(st->e.message, sizeof(st->e.message), "%s", t);
        break;
    case EL_REQUEST_ID:
        snprintf(st->e.request_id, sizeof(st->e.request_id), "%s", t);
        st->have_request_id = true;
        break;
    default:
        break;
    }
    return 0;
}

/* Code and message always; the request id only when the body has one, so
 * the x-amz-request-id header the caller may have stored survives. */
static void s3_xml_err_apply(const struct s3_xml_err_state *st,
                             struct s3_error *e)
{
    snprintf(e->code, sizeof(e->code), "%s", st->e.code);
    snprintf(e->message, sizeof(e->message), "%s", st->e.message);
    if (st->have_request_id)
        snprintf(e->request_id, sizeof(e->request_id), "%s", st->e.request_id);
}

static int s3_xml_error_end(struct s3_xml_ctx *c, enum s3_xml_el el)
{
    return s3_xml_err_end(c, el, c->state);
}

static const struct s3_xml_doc s3_xml_error_doc = {
    .roots = {EL_ERROR, EL_OTHER},
    .end = s3_xml_error_end,
};

int s3_xml_parse_error(const char *xml, size_t len, struct s3_error *e)
{
    struct s3_xml_err_state st;
    int rc;

    memset(&st, 0, sizeof(st));
    rc = s3_xml_run(&s3_xml_error_doc, &st, xml, len);
    if (rc == 0)
        s3_xml_err_apply(&st, e);
    return rc;
}

/* ---- InitiateMultipartUploadResult ---------------------------------- */

static int s3_xml_initiate_end(struct s3_xml_ctx *c, enum s3_xml_el el)
{
    char **upload_id = c->state;

    if (s3_xml_top(c) && el == EL_UPLOAD_ID)
        return s3_xml_take_str(c, upload_id);
    if (c->depth == 1 && !*upload_id)
        return -EPROTO;
    return 0;
}

static const struct s3_xml_doc s3_xml_initiate_doc = {
    .roots = {EL_INITIATE_RESULT, EL_OTHER},
    .end = s3_xml_initiate_end,
};

int s3_xml_parse_initiate(const char *xml, size_t len, char **upload_id)
{
    char *id = NULL;
    int rc;

    *upload_id = NULL;
    rc = s3_xml_run(&s3_xml_initiate_doc, &id, xml, len);
    if (rc == 0)
        *upload_id = id;
    else
        free(id);
    return rc;
}

/* ---- Complete / CopyObject / CopyPart results ----------------------- */

struct s3_xml_etag_state {
    bool is_error; /* the root is <Error> */
    char *etag;
    time_t mtime;
    bool have_mtime;
    struct s3_xml_err_state err;
};

static int s3_xml_etag_start(struct s3_xml_ctx *c, enum s3_xml_el el)
{
    struct s3_xml_etag_state *st = c->state;

    if (c->depth == 1)
        st->is_error = el == EL_ERROR;
    return 0;
}

static int s3_xml_etag_end(struct s3_xml_ctx *c, enum s3_xml_el el)
{
    struct s3_xml_etag_state *st = c->state;

    if (st->is_error)
        return s3_xml_err_end(c, el, &st->err);
    if (c->depth == 1)
        return st->etag ? 0 : -EPROTO;
    if (!s3_xml_top(c))
        return 0;
    if (el == EL_ETAG)
        return s3_xml_take_str(c, &st->etag);
    if (el == EL_LAST_MODIFIED) {
        st->have_mtime = true;
        return s3_xml_take_time(c, &st->mtime);
    }
    return 0;
}

static const struct s3_xml_doc s3_xml_etag_doc = {
    .roots = {EL_COMPLETE_RESULT, EL_COPY_OBJECT_RESULT, EL_COPY_PART_RESULT,
              EL_ERROR, EL_OTHER},
    .start = s3_xml_etag_start,
    .end = s3_xml_etag_end,
};

int s3_xml_parse_etag_result(const char *xml, size_t len, char **etag,
                             time_t *mtime, struct s3_error *e)
{
    struct s3_xml_etag_state st;
    int rc;

    memset(&st, 0, sizeof(st));
    *etag = NULL;
    rc = s3_xml_run(&s3_xml_etag_doc, &st, xml, len);
    if (rc == 0 && st.is_error) {
        if (e)
            s3_xml_err_apply(&st.err, e);
        rc = -EIO;
    }
    if (rc == 0) {
        *etag = st.etag;
        st.etag = NULL;
        /* Left alone when absent: a header may have set it. */
        if (mtime && st.have_mtime)
            *mtime = st.mtime;
    }
    free(st.etag);
    return rc;
}

/* ---- DeleteResult --------------------------------------------------- */

struct s3_xml_delete_state {
    struct s3_delete_result *r;
    size_t deleted_cap;
    size_t errors_cap;
    char *key;  /* of the open Deleted or Error, owned */
    char *code; /* of the open Error, owned */
};

static int s3_xml_delete_push_error(struct s3_xml_delete_state *st)
{
    struct s3_delete_result *r = st->r;

    /* Two parallel arrays, one capacity. */
    if (r->nerrors == st->errors_cap) {
        st->errors_cap = st->errors_cap ? st->errors_cap * 2 : 16;
        r->error_keys =
            xrealloc(r->error_keys, st->errors_cap * sizeof(*r->error_keys));
        r->error_codes =
            xrealloc(r->error_codes, st->errors_cap * sizeof(*r->error_codes));
    }
    r->error_keys[r->nerrors] = st->key;
    r->error_codes[r->nerrors] = st->code ? st->code : xstrdup("");
    r->nerrors++;
    st->key = NULL;
    st->code = NULL;
    return 0;
}

static int s3_xml_delete_end(struct s3_xml_ctx *c, enum s3_xml_el el)
{
    struct s3_xml_delete_state *st = c->state;
    struct s3_delete_result *r = st->r;

    if ((s3_xml_under(c, EL_DELETED) || s3_xml_under(c, EL_ERROR)) &&
        el == EL_KEY)
        return s3_xml_take_str(c, &st->key);
    if (s3_xml_under(c, EL_ERROR) && el == EL_CODE)
        return s3_xml_take_str(c, &st->code);
    if (!s3_xml_top(c) || (el != EL_DELETED && el != EL_ERROR))
        return 0;
    if (!st->key)
        return -EPROTO;
    if (el == EL_ERROR)
        return s3_xml_delete_push_error(st);
    r->deleted = s3_xml_grow(r->deleted, r->ndeleted, &st->deleted_cap,
                             sizeof(*r->deleted));
    r->deleted[r->ndeleted++] = st->key;
    st->key = NULL;
    return 0;
}

static const struct s3_xml_doc s3_xml_delete_doc = {
    .roots = {EL_DELETE_RESULT, EL_OTHER},
    .end = s3_xml_delete_end,
};

int s3_xml_parse_delete(const char *xml, size_t len,
                        struct s3_delete_result *out)
{
    struct s3_xml_delete_state st = {.r = out};
    int rc;

    memset(out, 0, sizeof(*out));
    rc = s3_xml_run(&s3_xml_delete_doc, &st, xml, len);
    free(st.key);
    free(st.code);
    if (rc)
        s3_delete_result_fini(out);
    return rc;
}

void s3_delete_result_fini(struct s3_delete_result *r)
{
    size_t i;

    for (i = 0; i < r->ndeleted; i++)
        free(r->deleted[i]);
    free(r->deleted);
    for (i = 0; i < r->nerrors; i++) {
        free(r->error_keys[i]);
        free(r->error_codes[i]);
    }
    free(r->error_keys);
    free(r->error_codes);
    memset(r, 0, sizeof(*r));
}

/* ---- ListMultipartUploadsResult ------------------------------------- */

struct s3_xml_uploads_state {
    struct s3_uploads_result *r;
    size_t cap;
    char *encoding_type; /* owned */
};

static int s3_xml_uploads_start(struct s3_xml_ctx *c, enum s3_xml_el el)
{
    struct s3_xml_uploads_state *st = c->state;
    struct s3_uploads_result *r = st->r;

    if (s3_xml_top(c) && el == EL_UPLOAD) {
        r->uploads =
            s3_xml_grow(r->uploads, r->nuploads, &st->cap, sizeof(*r->uploads));
        memset(&r->uploads[r->nuploads++], 0, sizeof(*r->uploads));
    }
    return 0;
}

static int s3_xml_uploads_finish(struct s3_xml_uploads_state *st)
{
    struct s3_uploads_result *r = st->r;
    size_t i;
    int rc;

    if (!s3_xml_is_url(st->encoding_type))
        return 0;
    rc = s3_xml_url_decode(r->next_key_marker);
    for (i = 0; i < r->nuploads && !rc; i++)
        rc = s3_xml_url_decode(r->uploads[i].key);
    return rc;
}

/* The children of the open <Upload>. */
static int s3_xml_upload_end(struct s3_xml_ctx *c, enum s3_xml_el el)
{
    struct s3_uploads_result *r = ((struct s3_xml_uploads_state *)c->state)->r;
    struct s3_upload_info *u = &r->uploads[r->nuploads - 1];

    switch (el) {
    case EL_KEY:
        return s3_xml_take_str(c, &u->key);
    case EL_UPLOAD_ID:
        return s3_xml_take_str(c, &u->upload_id);
    case EL_INITIATED:
        return s3_xml_take_time(c, &u->initiated);
    default:
        return 0;
    }
}

static int s3_xml_uploads_end(struct s3_xml_ctx *c, enum s3_xml_el el)
{
    struct s3_xml_uploads_state *st = c->state;
    struct s3_uploads_result *r = st->r;
    const struct s3_upload_info *u;

    if (s3_xml_under(c, EL_UPLOAD))
        return s3_xml_upload_end(c, el);
    if (c->depth == 1)
        return s3_xml_uploads_finish(st);
    if (!s3_xml_top(c))
        return 0;
    switch (el) {
    case EL_UPLOAD:
        u = &r->uploads[r->nuploads - 1];
        return u->key && u->upload_id ? 0 : -EPROTO;
    case EL_IS_TRUNCATED:
        return s3_xml_take_bool(c, &r->truncated);
    case EL_NEXT_KEY_MARKER:
        return s3_xml_take_str(c, &r->next_key_marker);
    case EL_NEXT_UPLOAD_ID_MARKER:
        return s3_xml_take_str(c, &r->next_upload_id_marker);
    case EL_ENCODING_TYPE:
        return s3_xml_take_str(c, &st->encoding_type);
    default:
        return 0;
    }
}

static const struct s3_xml_doc s3_xml_uploads_doc = {
    .roots = {EL_UPLOADS_RESULT, EL_OTHER},
    .start = s3_xml_uploads_start,
    .end = s3_xml_uploads_end,
};

int s3_xml_parse_uploads(const char *xml, size_t len,
                         struct s3_uploads_result *out)
{
    struct s3_xml_uploads_state st = {.r = out};
    int rc;

    memset(out, 0, sizeof(*out));
    rc = s3_xml_run(&s3_xml_uploads_doc, &st, xml, len);
    free(st.encoding_type);
    if (rc)
        s3_uploads_result_fini(out);
    return rc;
}

void s3_uploads_result_fini(struct s3_uploads_result *r)
{
    size_t i;

    for (i = 0; i < r->nuploads; i++) {
        free(r->uploads[i].key);
        free(r->uploads[i].upload_id);
    }
    free(r->uploads);
    free(r->next_key_marker);
    free(r->next_upload_id_marker);
    memset(r, 0, sizeof(*r));
}

/* ---- builders ------------------------------------------------------- */

/* Drops what was appended after mark, so a failed build leaves out as it
 * was (struct buf has no truncate of its own). */
static void s3_xml_truncate(struct buf *out, size_t mark)
{
    out->len = mark;
    if (out->data)
        out->data[mark] = '\0';
}

/* The entity for ch, or NULL when ch goes out as itself. */
static const char *s3_xml_entity(unsigned char ch)
{
    switch (ch) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&apos;";
    default:
        return NULL;
    }
}

int s3_xml_escape(struct buf *out, const char *s)
{
    size_t mark = out->len;
    const char *run = s;
    int rc = 0;

    for (; *s && !rc; s++) {
        unsigned char ch = (unsigned char)*s;
        const char *ent = s3_xml_entity(ch);

        if (!ent && ch >= 0x20 && ch != 0x7f)
            continue;
        rc = buf_append(out, run, (size_t)(s - run));
        if (!rc && ent)
            rc = buf_append_str(out, ent);
        else if (!rc)
            rc = buf_appendf(out, "&#x%X;", ch);
        run = s + 1;
    }
    if (!rc)
        rc = buf_append_str(out, run);
    if (rc)
        s3_xml_truncate(out, mark);
    return rc;
}

static int s3_xml_check_parts(const struct s3_part *parts, size_t nparts)
{
    size_t i;

    if (nparts == 0 || nparts > S3_XML_MAX_PART)
        return -EINVAL;
    for (i = 0; i < nparts; i++)
        if (parts[i].number < 1 || parts[i].number > S3_XML_MAX_PART ||
            !parts[i].etag)
            return -EINVAL;
    return 0;
}

int s3_xml_build_complete(struct buf *out, const struct s3_part *parts,
                          size_t nparts)
{
    size_t mark = out->len;
    size_t i;
    int rc = s3_xml_check_parts(parts, nparts);

    if (rc)
        return rc;
    rc = buf_append_str(out, S3_XML_DECL
                        "<CompleteMultipartUpload xmlns=\"" S3_XML_NS "\">");
    for (i = 0; i < nparts && !rc; i++) {
        rc = buf_appendf(out, "<Part><PartNumber>%d</PartNumber><ETag>",
                         parts[i].number);
        if (!rc)
            rc = s3_xml_escape(out, parts[i].etag);
        if (!rc)
            rc = buf_append_str(out, "</ETag></Part>");
    }
    if (!rc)
        rc = buf_append_str(out, "</CompleteMultipartUpload>");
    if (rc)
        s3_xml_truncate(out, mark);
    return rc;
}

int s3_xml_build_delete(struct buf *out, const char *const *keys, size_t nkeys,
                        bool quiet)
{
    size_t mark = out->len;
    size_t i;
    int rc;

    if (nkeys == 0 || nkeys > S3_XML_MAX_DEL)
        return -EINVAL;
    for (i = 0; i < nkeys; i++)
        if (!keys[i] || !*keys[i])
            return -EINVAL;
    rc = buf_append_str(out, S3_XML_DECL "<Delete xmlns=\"" S3_XML_NS "\">");
    if (!rc && quiet)
        rc = buf_append_str(out, "<Quiet>true</Quiet>");
    for (i = 0; i < nkeys && !rc; i++) {
        rc = buf_append_str(out, "<Object><Key>");
        if (!rc)
            rc = s3_xml_escape(out, keys[i]);
        if (!rc)
            rc = buf_append_str(out, "</Key></Object>");
    }
    if (!rc)
        rc = buf_append_str(out, "</Delete>");
    if (rc)
        s3_xml_truncate(out, mark);
    return rc;
}

/* ---- time ----------------------------------------------------------- */

/* Reads exactly n decimal digits. */
static bool s3_xml_digits(const char *s, int n, int *out)
{
    int v = 0;
    int i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int s3_xml_mdays(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : days[month - 1];
}

/* Parses "Z" or "+hh:mm" / "-hh:mm" into seconds east of UTC. */
static bool s3_xml_zone(const char *s, long *off)
{
    int hh, mm;

    if (strcmp(s, "Z") == 0) {
        *off = 0;
        return true;
    }
    if ((s[0] != '+' && s[0] != '-') || !s3_xml_digits(s + 1, 2, &hh) ||
        s[3] != ':' || !s3_xml_digits(s + 4, 2, &mm) || s[6] != '\0' ||
        hh > 23 || mm > 59)
        return false;
    *off = (hh * 3600L + mm * 60L) * (s[0] == '-' ? -1 : 1);
    return true;
}

int s3_xml_parse_time(const char *s, time_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, sec;
    long off;
    const char *p;

    if (!s3_xml_digits(s, 4, &y) || s[4] != '-' ||
        !s3_xml_digits(s + 5, 2, &mo) || s[7] != '-' ||
        !s3_xml_digits(s + 8, 2, &d) || s[10] != 'T' ||
        !s3_xml_digits(s + 11, 2, &h) || s[13] != ':' ||
        !s3_xml_digits(s + 14, 2, &mi) || s[16] != ':' ||
        !s3_xml_digits(s + 17, 2, &sec))
        return -EINVAL;
    p = s + 19;
    if (*p == '.') {
        if (p[1] < '0' || p[1] > '9')
            return -EINVAL;
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    }
    if (!s3_xml_zone(p, &off))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > s3_xml_mdays(y, mo) || h > 23 ||
        mi > 59 || sec > 60)
        return -EINVAL;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = timegm(&tm) - off;
    return 0;
}
