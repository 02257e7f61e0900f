/* SPDX-License-Identifier: MIT */
/*
 * sigv4_tool.c: signs requests read as JSON lines, for the differential
 * test against botocore (tests/unit/sigv4_diff.py).
 *
 * Each input line is one object:
 *   {"method", "path" (encoded), "query": [[k, v], ...],
 *    "headers": [[k, v], ...], "payload_hash", "access_key", "secret_key",
 *    "session_token" (string or null), "region", "now" (unix seconds),
 *    "presign_expires" (0: header auth)}
 * and gives one output line: the Authorization header value, the presigned
 * query string, or "ERROR <errno>" when the library refuses the request.
 *
 * With --canonical the tool prints, instead, the canonical request of each
 * line as a JSON string (for the diff's failure report). For a presigned
 * request it rebuilds the X-Amz-* parameters the way the specification
 * says, since the library keeps that canonical request to itself.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/mem.h"
#include "common/sigv4.h"

/* One decoded input line; strings borrowed from the JSON tree. */
struct tool_req {
    struct sigv4_params p;
    struct sigv4_kv *query;
    struct sigv4_kv *headers;
    unsigned expires;
};

static const char *tool_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* [[k, v], ...] into a new array of sigv4_kv; -EINVAL when malformed. */
static int tool_pairs(json_t *arr, struct sigv4_kv **out, size_t *n)
{
    size_t i, len = json_is_array(arr) ? json_array_size(arr) : 0;
    struct sigv4_kv *kv = xcalloc(len ? len : 1, sizeof(*kv));

    for (i = 0; i < len; i++) {
        json_t *pair = json_array_get(arr, i);
        json_t *k = json_array_get(pair, 0), *v = json_array_get(pair, 1);

        if (!json_is_string(k) || !json_is_string(v)) {
            free(kv);
            return -EINVAL;
        }
        kv[i].name = json_string_value(k);
        kv[i].value = json_string_value(v);
    }
    *out = kv;
    *n = len;
    return 0;
}

static int tool_parse(json_t *j, struct tool_req *r)
{
    json_int_t expires =
        json_integer_value(json_object_get(j, "presign_expires"));
    int rc;

    memset(r, 0, sizeof(*r));
    if (!json_is_object(j))
        return -EINVAL;
    rc = tool_pairs(json_object_get(j, "query"), &r->query, &r->p.nquery);
    if (rc)
        return rc;
    rc = tool_pairs(json_object_get(j, "headers"), &r->headers, &r->p.nheaders);
    if (rc)
        return rc;
    r->p.query = r->query;
    r->p.headers = r->headers;
    r->p.method = tool_str(j, "method");
    r->p.path = tool_str(j, "path");
    r->p.payload_hash = tool_str(j, "payload_hash");
    r->p.access_key = tool_str(j, "access_key");
    r->p.secret_key = tool_str(j, "secret_key");
    r->p.session_token = tool_str(j, "session_token");
    r->p.region = tool_str(j, "region");
    r->p.service = "s3";
    r->p.now = (time_t)json_integer_value(json_object_get(j, "now"));
    if (expires < 0 || expires > 0xffffffffLL)
        return -EINVAL;
    r->expires = (unsigned)expires;
    return 0;
}

static int tool_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* SignedHeaders: the lowercased names, sorted, once each, ';'-joined. */
static void tool_signed_headers(const struct tool_req *r, struct buf *out)
{
    char **names = xcalloc(r->p.nheaders + 1, sizeof(*names));
    size_t i;
    char *c;

    for (i = 0; i < r->p.nheaders; i++) {
        names[i] = xstrdup(r->headers[i].name);
        for (c = names[i]; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
    }
    qsort(names, r->p.nheaders, sizeof(*names), tool_cmp_str);
    for (i = 0; i < r->p.nheaders; i++) {
        if (i && !strcmp(names[i], names[i - 1]))
            continue;
        buf_appendf(out, "%s%s", out->len ? ";" : "", names[i]);
    }
    for (i = 0; i < r->p.nheaders; i++)
        free(names[i]);
    free(names);
}

/* The canonical request the presigned URL of r is signed over. */
static int tool_presign_canonical(const struct tool_req *r, struct buf *out)
{
    struct sigv4_kv *q = xcalloc(r->p.nquery + 6, sizeof(*q));
    struct sigv4_params p = r->p;
    char date[17], expires[16], *cred;
    struct buf names;
    size_t n = r->p.nquery;
    int rc;

    buf_init(&names, BUF_UNLIMITED);
    tool_signed_headers(r, &names);
    sigv4_format_date(p.now, date);
    cred = xasprintf("%s/%.8s/%s/%s/aws4_request", p.access_key, date, p.region,
                     p.service);
    snprintf(expires, sizeof(expires), "%u", r->expires);
    memcpy(q, r->query, n * sizeof(*q));
    q[n++] = (struct sigv4_kv){"X-Amz-Algorithm", "AWS4-HMAC-SHA256"};
    q[n++] = (struct sigv4_kv){"X-Amz-Credential", cred};
    q[n++] = (struct sigv4_kv){"X-Amz-Date", date};
    q[n++] = (struct sigv4_kv){"X-Amz-Expires", expires};
    q[n++] = (struct sigv4_kv){"X-Amz-SignedHeaders", buf_str(&names)};
    if (p.session_token && *p.session_token)
        q[n++] = (struct sigv4_kv){"X-Amz-Security-Token", p.session_token};
    p.query = q;
    p.nquery = n;
    if (!p.payload_hash || !*p.payload_hash)
        p.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
    rc = sigv4_canonical_request(&p, out);
    free(cred);
    free(q);
    buf_free(&names);
    return rc;
}

/* Signs (or canonicalises) one line; the result goes to stdout. */
static void tool_line(const char *line, bool canonical)
{
    struct tool_req r;
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    struct buf out;
    int rc;

    buf_init(&out, BUF_UNLIMITED);
    rc = j ? tool_parse(j, &r) : -EINVAL;
    if (!rc && canonical)
        rc = r.expires ? tool_presign_canonical(&r, &out)
                       : sigv4_canonical_request(&r.p, &out);
    else if (!rc)
        rc = r.expires ? sigv4_presign(&r.p, r.expires, &out)
                       : sigv4_authorization(&r.p, &out);
    if (rc) {
        printf("ERROR %d\n", -rc);
    } else if (canonical) {
        json_t *s = json_stringn(out.data, out.len);
        char *txt = json_dumps(s, JSON_ENCODE_ANY);

        printf("%s\n", txt ? txt : "null");
        free(txt);
        json_decref(s);
    } else {
        printf("%s\n", buf_str(&out));
    }
    buf_free(&out);
    if (j) {
        free(r.query);
        free(r.headers);
        json_decref(j);
    }
}

int main(int argc, char **argv)
{
    bool canonical = argc > 1 && !strcmp(argv[1], "--canonical");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    if (argc > 2 || (argc == 2 && !canonical)) {
        fprintf(stderr, "usage: %s [--canonical] < requests.jsonl\n", argv[0]);
        return 2;
    }
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (n)
            tool_line(line, canonical);
    }
    free(line);
    return ferror(stdin) || fflush(stdout) ? 1 : 0;
}
