/* SPDX-License-Identifier: MIT */
/*
 * meta.c: the metadata proxy, /v1/meta/{pbucket}[/{key}] (meta.h).
 *
 * DESIGN
 * The handler parses and checks the request on the worker loop, copies
 * what the S3 call needs (key, query, body, user metadata) into a struct
 * pcpd_meta and queues it on the metadata pool. The pool thread makes one
 * blocking S3 call on the node's metadata client for the routed backend
 * (its engine runs on its own thread, so no worker loop ever waits on
 * S3), caches what was written, and builds the JSON reply; the completion
 * sends it on the worker loop. A client that goes away meanwhile only
 * loses its reply (pcpd_defer).
 *
 * Caching writes: a small put's chunks get their final ids at once (the
 * PUT returns the ETag). A part's chunks are stored under provisional ids,
 * chunk_id_make(pbucket, key, "upload:<upload id>", index, chunk_size),
 * and remembered in the uploads table; the complete that goes through
 * this node copies them to their final ids, keeping only chunks whose part
 * is in the completed list with the same ETag (and a short chunk only from
 * the last part). Staged chunks are ordinary cache entries: if the upload
 * is forgotten they simply age out.
 */
#include "pcpd/meta.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/s3.h"
#include "pcpd/http.h"
#include "pcpd/pcpd.h"
#include "pcpd/pool.h"
#include "pcpd/request.h"

/* ---- Staged multipart chunks ----------------------------------------- */

struct pcpd_staged {
    uint64_t index;
    uint64_t len;
    int part;
    char etag[PCPD_ETAG_MAX + 3]; /* of the part, as S3 returned it */
};

struct pcpd_upload {
    char *upload_id, *pbucket, *key; /* owned */
    uint64_t chunk_size;
    struct pcpd_staged *v; /* owned array */
    size_t n;
    uint64_t seq; /* age: smaller is older */
    struct pcpd_upload *next;
};

struct pcpd_uploads {
    pthread_mutex_t lock;
    struct pcpd_upload *head; /* lock */
    size_t n;                 /* lock */
    uint64_t seq;             /* lock */
};

struct pcpd_uploads *pcpd_uploads_new(void)
{
    struct pcpd_uploads *u = xcalloc(1, sizeof(*u));

    pthread_mutex_init(&u->lock, NULL);
    return u;
}

static void pcpd_upload_free(struct pcpd_upload *up)
{
    if (!up)
        return;
    free(up->upload_id);
    free(up->pbucket);
    free(up->key);
    free(up->v);
    free(up);
}

void pcpd_uploads_free(struct pcpd_uploads *u)
{
    struct pcpd_upload *up, *next;

    if (!u)
        return;
    for (up = u->head; up; up = next) {
        next = up->next;
        pcpd_upload_free(up);
    }
    pthread_mutex_destroy(&u->lock);
    free(u);
}

/* Takes the upload out of the table: the caller owns it (NULL if none). */
static struct pcpd_upload *pcpd_uploads_take(struct pcpd_uploads *u,
                                             const char *upload_id)
{
    struct pcpd_upload **pp, *up = NULL;

    pthread_mutex_lock(&u->lock);
    for (pp = &u->head; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->upload_id, upload_id) == 0) {
            up = *pp;
            *pp = up->next;
            u->n--;
            break;
        }
    }
    pthread_mutex_unlock(&u->lock);
    return up;
}

/* Records a staged chunk (replacing one of the same index). */
static void pcpd_uploads_add(struct pcpd_uploads *u, const char *upload_id,
                             const char *pbucket, const char *key,
                             uint64_t chunk_size, const struct pcpd_staged *c)
{
    struct pcpd_upload *up, **pp, **oldest;
    size_t i;

    pthread_mutex_lock(&u->lock);
    for (up = u->head; up; up = up->next) {
        if (strcmp(up->upload_id, upload_id) == 0)
            break;
    }
    if (up && up->chunk_size != chunk_size)
        goto out; /* parts must agree on the chunk size */
    if (!up) {
        if (u->n >= PCPD_UPLOADS_MAX) {
            oldest = &u->head;
            for (pp = &u->head; *pp; pp = &(*pp)->next) {
                if ((*pp)->seq < (*oldest)->seq)
                    oldest = pp;
            }
            up = *oldest;
            *oldest = up->next;
            pcpd_upload_free(up);
            u->n--;
        }
        up = xcalloc(1, sizeof(*up));
        up->upload_id = xstrdup(upload_id);
        up->pbucket = xstrdup(pbucket);
        up->key = xstrdup(key);
        up->chunk_size = chunk_size;
        up->next = u->head;
        u->head = up;
        u->n++;
    }
    up->seq = ++u->seq;
    for (i = 0; i < up->n; i++) {
        if (up->v[i].index == c->index)
            break;
    }
    if (i == up->n) {
        up->v = xrealloc(up->v, (up->n + 1) * sizeof(*up->v));
        up->n++;
    }
    up->v[i] = *c;
out:
    pthread_mutex_unlock(&u->lock);
}

static void pcpd_staged_id(struct chunk_id *id, const char *pbucket,
                           const char *key, const char *upload_id,
                           uint64_t index, uint64_t chunk_size)
{
    char tag[PCPD_ETAG_MAX + 16];

    snprintf(tag, sizeof(tag), "upload:%s", upload_id);
    chunk_id_make(id, pbucket, key, tag, index, chunk_size);
}

/* ---- A proxied request ------------------------------------------------ */

enum pcpd_meta_op {
    PCPD_META_HEAD,
    PCPD_META_LIST,
    PCPD_META_PUT,
    PCPD_META_DELETE,
    PCPD_META_COPY,
    PCPD_META_MPU_CREATE,
    PCPD_META_MPU_PART,
    PCPD_META_MPU_COMPLETE,
    PCPD_META_MPU_ABORT,
};

/* One request; the loop fills it, the pool runs it, the loop answers. */
struct pcpd_meta {
    struct pcpd_worker *w;
    struct pcpd_defer defer;
    enum pcpd_meta_op op;
    bool head_method; /* HEAD: the answer is headers only */
    char pbucket[PCPD_NAME_MAX + 1];
    char *key;          /* owned; NULL for a list */
    const char *bucket; /* borrowed from the slot */
    size_t backend;     /* the backend's slot (pcpd.h) */
    struct evkeyvalq q; /* the query, decoded */
    uint8_t *body;      /* owned request body */
    size_t body_len;
    struct sigv4_kv *meta; /* owned array; strings owned */
    size_t nmeta;
    char *content_type;  /* owned or NULL */
    char *storage_class; /* owned or NULL */
    uint64_t chunk_size; /* for caching what is written */
    char **foreign;      /* owned: a list's route prefixes below its prefix
                            that go to other backends */
    size_t nforeign;
    /* Results (pool thread, read by the loop after the completion). */
    int rc;
    int status;
    char msg[512];
    json_t *reply;
    struct s3_object_meta om;
};

static void pcpd_meta_free(struct pcpd_meta *m)
{
    size_t i;

    free(m->key);
    evhttp_clear_headers(&m->q);
    free(m->body);
    for (i = 0; i < m->nmeta; i++) {
        free((char *)m->meta[i].name);
        free((char *)m->meta[i].value);
    }
    free(m->meta);
    free(m->content_type);
    free(m->storage_class);
    for (i = 0; i < m->nforeign; i++)
        free(m->foreign[i]);
    free(m->foreign);
    json_decref(m->reply);
    s3_object_meta_fini(&m->om);
    free(m);
}

static const char *pcpd_meta_q(struct pcpd_meta *m, const char *name)
{
    return evhttp_find_header(&m->q, name);
}

static void pcpd_meta_fail(struct pcpd_meta *m, int rc,
                           const struct s3_error *e)
{
    m->rc = rc;
    if (e)
        s3_error_format(e, m->msg, sizeof(m->msg));
}

static struct s3_client *pcpd_meta_client(struct pcpd_meta *m)
{
    return pcpd_slot_meta_client(m->w->pd, m->backend);
}

static struct s3_put_opts pcpd_meta_put_opts(struct pcpd_meta *m)
{
    struct s3_put_opts o = {0};

    o.meta = m->meta;
    o.nmeta = m->nmeta;
    o.content_type = m->content_type;
    o.storage_class = m->storage_class;
    return o;
}

/* Stores the chunks of data (bytes [off, off + len) of the object). */
static size_t pcpd_meta_cache(struct pcpd *pd, const struct pcpd_meta *m,
                              const char *etag, const uint8_t *data, size_t len)
{
    struct chunk_id id;
    uint64_t i, n = (len + m->chunk_size - 1) / m->chunk_size, clen;
    size_t cached = 0;

    for (i = 0; i < n; i++) {
        clen = len - i * m->chunk_size;
        if (clen > m->chunk_size)
            clen = m->chunk_size;
        chunk_id_make(&id, m->pbucket, m->key, etag, i, m->chunk_size);
        if (pcpd_tiers_put(&pd->tiers, 0, &id, data + i * m->chunk_size,
                           (size_t)clen) == 0)
            cached++;
    }
    PCPD_COUNT(pd, write_cached, cached);
    return cached;
}

static void pcpd_meta_head(struct pcpd_meta *m)
{
    struct s3_error e;
    json_t *user;
    size_t i;
    int rc;

    rc = s3_head(pcpd_meta_client(m), m->bucket, m->key, &m->om, &e);
    if (rc < 0) {
        pcpd_meta_fail(m, rc, &e);
        return;
    }
    user = json_object();
    for (i = 0; i < m->om.nuser; i++)
        json_object_set_new(user, m->om.user[i].name,
                            json_string(m->om.user[i].value));
    m->reply =
        json_pack("{s:s, s:I, s:s, s:I, s:s, s:s, s:o}", "key", m->key, "size",
                  (json_int_t)m->om.size, "etag", m->om.etag, "mtime",
                  (json_int_t)m->om.mtime, "content_type", m->om.content_type,
                  "storage_class", m->om.storage_class, "meta", user);
}

/* True when s lies below one of the list's foreign routes. */
static bool pcpd_meta_is_foreign(const struct pcpd_meta *m, const char *s)
{
    size_t i;

    for (i = 0; i < m->nforeign; i++) {
        if (strncmp(s, m->foreign[i], strlen(m->foreign[i])) == 0)
            return true;
    }
    return false;
}

/*
 * A pbucket's listing where routes below the prefix go to other backends
 * (prefix "" with a route "a/" to another bucket): what this backend
 * holds below those routes is hidden (reads would go elsewhere), and each
 * route shows as the common prefix it starts (P + "a/"), on the first page,
 * so the directory tree shows every route. Without a delimiter nothing is
 * added: a recursive listing covers one backend (docs/protocol.md).
 */
static void pcpd_meta_list_merge(struct pcpd_meta *m, json_t *objs,
                                 json_t *prefixes)
{
    const char *prefix = pcpd_meta_q(m, "prefix");
    const char *delim = pcpd_meta_q(m, "delimiter");
    size_t plen = prefix ? strlen(prefix) : 0, i, k;
    json_t *v;

    for (i = json_array_size(objs); i-- > 0;) {
        v = json_object_get(json_array_get(objs, i), "key");
        if (pcpd_meta_is_foreign(m, json_string_value(v)))
            json_array_remove(objs, i);
    }
    for (i = json_array_size(prefixes); i-- > 0;) {
        if (pcpd_meta_is_foreign(
                m, json_string_value(json_array_get(prefixes, i))))
            json_array_remove(prefixes, i);
    }
    if (!delim || !*delim || pcpd_meta_q(m, "continuation") ||
        pcpd_meta_q(m, "start_after"))
        return;
    for (i = 0; i < m->nforeign; i++) {
        const char *rest = m->foreign[i] + plen, *d = strstr(rest, delim);
        char *p;
        bool dup = false;

        if (!d)
            continue; /* "logs" without a delimiter: not a directory */
        p = xasprintf("%s%.*s", prefix ? prefix : "",
                      (int)(d - rest + (ptrdiff_t)strlen(delim)), rest);
        for (k = 0; k < json_array_size(prefixes) && !dup; k++)
            dup =
                strcmp(json_string_value(json_array_get(prefixes, k)), p) == 0;
        if (!dup)
            json_array_append_new(prefixes, json_string(p));
        free(p);
    }
}

static void pcpd_meta_list(struct pcpd_meta *m)
{
    struct s3_list_opts o = {0};
    struct s3_list_result r = {0};
    struct s3_error e;
    const char *mk = pcpd_meta_q(m, "max_keys");
    json_t *objs, *prefixes;
    int64_t v;
    size_t i;
    int rc;

    o.prefix = pcpd_meta_q(m, "prefix");
    o.delimiter = pcpd_meta_q(m, "delimiter");
    o.start_after = pcpd_meta_q(m, "start_after");
    o.continuation = pcpd_meta_q(m, "continuation");
    if (mk) {
        if (config_parse_int(mk, 1, 1000, &v) < 0) {
            m->rc = -EINVAL;
            snprintf(m->msg, sizeof(m->msg), "max_keys: 1..1000");
            return;
        }
        o.max_keys = (int)v;
    }
    rc = s3_list(pcpd_meta_client(m), m->bucket, &o, &r, &e);
    if (rc < 0) {
        pcpd_meta_fail(m, rc, &e);
        return;
    }
    objs = json_array();
    for (i = 0; i < r.nobjects; i++)
        json_array_append_new(
            objs,
            json_pack("{s:s, s:I, s:s, s:I, s:s?}", "key", r.objects[i].key,
                      "size", (json_int_t)r.objects[i].size, "etag",
                      r.objects[i].etag ? r.objects[i].etag : "", "mtime",
                      (json_int_t)r.objects[i].mtime, "storage_class",
                      r.objects[i].storage_class));
    prefixes = json_array();
    for (i = 0; i < r.nprefixes; i++)
        json_array_append_new(prefixes, json_string(r.prefixes[i]));
    if (m->nforeign)
        pcpd_meta_list_merge(m, objs, prefixes);
    m->reply =
        json_pack("{s:o, s:o, s:b, s:s?}", "objects", objs, "prefixes",
                  prefixes, "truncated", r.truncated, "next", r.next_token);
    s3_list_result_fini(&r);
}

static void pcpd_meta_put(struct pcpd_meta *m)
{
    struct s3_body b = {.kind = S3_BODY_MEM};
    struct s3_put_opts o = pcpd_meta_put_opts(m);
    struct s3_error e;
    char *etag = NULL;
    size_t cached = 0;
    int rc;

    b.data = m->body;
    b.len = m->body_len;
    rc = s3_put(pcpd_meta_client(m), m->bucket, m->key, &b, &o, &etag, &e);
    if (rc < 0) {
        pcpd_meta_fail(m, rc, &e);
        return;
    }
    if (etag && m->chunk_size && m->body_len > 0)
        cached = pcpd_meta_cache(m->w->pd, m, etag, m->body, m->body_len);
    m->reply = json_pack("{s:s, s:I}", "etag", etag ? etag : "", "cached",
                         (json_int_t)cached);
    free(etag);
}

static void pcpd_meta_delete(struct pcpd_meta *m)
{
    struct s3_error e;
    int rc;

    rc = s3_delete(pcpd_meta_client(m), m->bucket, m->key, &e);
    if (rc < 0)
        pcpd_meta_fail(m, rc, &e);
    else
        m->status = 204;
}

static void pcpd_meta_copy(struct pcpd_meta *m)
{
    struct s3_put_opts o = pcpd_meta_put_opts(m);
    const char *how = pcpd_meta_q(m, "metadata");
    bool replace = how && strcmp(how, "replace") == 0;
    struct s3_error e;
    char *etag = NULL;
    int rc;

    rc = s3_copy(pcpd_meta_client(m), m->bucket, pcpd_meta_q(m, "copy_from"),
                 m->bucket, m->key, replace ? &o : NULL,
                 pcpd_meta_q(m, "if_match"), &etag, &e);
    if (rc < 0) {
        pcpd_meta_fail(m, rc, &e);
        return;
    }
    m->reply = json_pack("{s:s}", "etag", etag ? etag : "");
    free(etag);
}

static void pcpd_meta_mpu_create(struct pcpd_meta *m)
{
    struct s3_put_opts o = pcpd_meta_put_opts(m);
    struct s3_error e;
    char *id = NULL;
    int rc;

    rc = s3_mpu_create(pcpd_meta_client(m), m->bucket, m->key, &o, &id, &e);
    if (rc < 0) {
        pcpd_meta_fail(m, rc, &e);
        return;
    }
    m->reply = json_pack("{s:s}", "upload_id", id);
    free(id);
}

/* Stages the chunks of a part uploaded at byte `off` of the object. */
static size_t pcpd_meta_stage(struct pcpd_meta *m, int part, uint64_t off,
                              const char *etag)
{
    struct pcpd *pd = m->w->pd;
    const char *upload_id = pcpd_meta_q(m, "upload_id");
    uint64_t cs = m->chunk_size, i, n, clen;
    struct pcpd_staged c;
    struct chunk_id id;
    size_t staged = 0;

    if (off % cs != 0 || strlen(etag) >= sizeof(c.etag))
        return 0; /* parts not on chunk boundaries are not cached */
    n = (m->body_len + cs - 1) / cs;
    for (i = 0; i < n; i++) {
        clen = m->body_len - i * cs;
        if (clen > cs)
            clen = cs;
        memset(&c, 0, sizeof(c));
        c.index = off / cs + i;
        c.len = clen;
        c.part = part;
        snprintf(c.etag, sizeof(c.etag), "%s", etag);
        pcpd_staged_id(&id, m->pbucket, m->key, upload_id, c.index, cs);
        if (pcpd_tiers_put(&pd->tiers, 0, &id, m->body + i * cs, (size_t)clen) <
            0)
            continue;
        pcpd_uploads_add(pd->uploads, upload_id, m->pbucket, m->key, cs, &c);
        staged++;
    }
    return staged;
}

static void pcpd_meta_mpu_part(struct pcpd_meta *m)
{
    struct s3_body b = {.kind = S3_BODY_MEM};
    const char *po = pcpd_meta_q(m, "offset");
    struct s3_error e;
    char *etag = NULL;
    int64_t part, off = -1;
    size_t staged = 0;
    int rc;

    if (config_parse_int(pcpd_meta_q(m, "part"), 1, S3_MAX_PARTS, &part) < 0 ||
        (po && config_parse_int(po, 0, INT64_MAX, &off) < 0)) {
        m->rc = -EINVAL;
        snprintf(m->msg, sizeof(m->msg), "part: 1..10000; offset: bytes");
        return;
    }
    b.data = m->body;
    b.len = m->body_len;
    rc = s3_mpu_upload_part(pcpd_meta_client(m), m->bucket, m->key,
                            pcpd_meta_q(m, "upload_id"), (int)part, &b, &etag,
                            &e);
    if (rc < 0) {
        pcpd_meta_fail(m, rc, &e);
        return;
    }
    if (etag && off >= 0 && m->chunk_size && m->body_len > 0)
        staged = pcpd_meta_stage(m, (int)part, (uint64_t)off, etag);
    m->reply = json_pack("{s:s, s:I}", "etag", etag ? etag : "", "staged",
                         (json_int_t)staged);
    free(etag);
}

/* ETags compared without their quotes. */
static bool pcpd_meta_etag_same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la >= 2 && a[0] == '"' && a[la - 1] == '"') {
        a++;
        la -= 2;
    }
    if (lb >= 2 && b[0] == '"' && b[lb - 1] == '"') {
        b++;
        lb -= 2;
    }
    return la == lb && memcmp(a, b, la) == 0;
}

/* Copies the staged chunks of a completed upload to their final ids. */
static size_t pcpd_meta_finalize(struct pcpd_meta *m, struct pcpd_upload *up,
                                 const struct s3_part *parts, size_t nparts,
                                 const char *etag)
{
    struct pcpd *pd = m->w->pd;
    uint8_t *data = xmalloc(up->chunk_size);
    struct chunk_id sid, fid;
    int last = 0;
    size_t i, k, t, done = 0;
    ssize_t n;

    for (k = 0; k < nparts; k++)
        last = parts[k].number > last ? parts[k].number : last;
    for (i = 0; i < up->n; i++) {
        struct pcpd_staged *c = &up->v[i];

        pcpd_staged_id(&sid, up->pbucket, up->key, up->upload_id, c->index,
                       up->chunk_size);
        for (k = 0; k < nparts; k++) {
            if (parts[k].number == c->part)
                break;
        }
        n = -ENOENT;
        /* Only bytes the object really has: the part was completed with
         * this ETag, and a short chunk must be the object's last. */
        if (k < nparts && pcpd_meta_etag_same(parts[k].etag, c->etag) &&
            (c->len == up->chunk_size || c->part == last)) {
            for (t = 0; t < pd->tiers.n && n < 0; t++)
                n = store_read(pd->tiers.v[t].store, &sid, data, c->len, 0);
        }
        if (n == (ssize_t)c->len) {
            chunk_id_make(&fid, up->pbucket, up->key, etag, c->index,
                          up->chunk_size);
            if (pcpd_tiers_put(&pd->tiers, 0, &fid, data, (size_t)c->len) == 0)
                done++;
        }
        for (t = 0; t < pd->tiers.n; t++)
            store_remove(pd->tiers.v[t].store, &sid);
    }
    free(data);
    PCPD_COUNT(pd, write_cached, done);
    return done;
}

/* The complete body: {"parts": [{"part": 1, "etag": "..."}, ...]}. */
static int pcpd_meta_parts(struct pcpd_meta *m, json_t **root,
                           struct s3_part **out, size_t *nout)
{
    json_error_t je;
    json_t *arr, *it;
    struct s3_part *v;
    json_int_t num;
    const char *etag;
    size_t i, n;

    *root = json_loadb((const char *)m->body, m->body_len, 0, &je);
    arr = *root ? json_object_get(*root, "parts") : NULL;
    n = json_is_array(arr) ? json_array_size(arr) : 0;
    if (n == 0 || n > S3_MAX_PARTS) {
        snprintf(m->msg, sizeof(m->msg),
                 "expected {\"parts\": [{\"part\": N, \"etag\": E}, ...]}");
        return -EINVAL;
    }
    v = xcalloc(n, sizeof(*v));
    json_array_foreach(arr, i, it)
    {
        if (json_unpack(it, "{s:I, s:s}", "part", &num, "etag", &etag) < 0 ||
            num < 1 || num > S3_MAX_PARTS) {
            free(v);
            snprintf(m->msg, sizeof(m->msg), "part %zu: bad part or etag", i);
            return -EINVAL;
        }
        v[i].number = (int)num;
        v[i].etag = etag;
    }
    *out = v;
    *nout = n;
    return 0;
}

static void pcpd_meta_mpu_complete(struct pcpd_meta *m)
{
    const char *upload_id = pcpd_meta_q(m, "upload_id");
    struct pcpd_upload *up;
    struct s3_part *parts = NULL;
    struct s3_error e;
    json_t *root = NULL;
    char *etag = NULL;
    size_t nparts = 0, cached = 0;
    int rc;

    rc = pcpd_meta_parts(m, &root, &parts, &nparts);
    if (rc < 0) {
        m->rc = rc;
        goto out;
    }
    rc = s3_mpu_complete(pcpd_meta_client(m), m->bucket, m->key, upload_id,
                         parts, nparts, &etag, &e);
    if (rc < 0) {
        pcpd_meta_fail(m, rc, &e);
        goto out;
    }
    up = pcpd_uploads_take(m->w->pd->uploads, upload_id);
    if (up && etag && strcmp(up->pbucket, m->pbucket) == 0 &&
        strcmp(up->key, m->key) == 0)
        cached = pcpd_meta_finalize(m, up, parts, nparts, etag);
    pcpd_upload_free(up);
    m->reply = json_pack("{s:s, s:I}", "etag", etag ? etag : "", "cached",
                         (json_int_t)cached);
out:
    free(parts);
    json_decref(root);
    free(etag);
}

static void pcpd_meta_mpu_abort(struct pcpd_meta *m)
{
    struct pcpd *pd = m->w->pd;
    const char *upload_id = pcpd_meta_q(m, "upload_id");
    struct pcpd_upload *up;
    struct chunk_id sid;
    struct s3_error e;
    size_t i, t;
    int rc;

    rc = s3_mpu_abort(pcpd_meta_client(m), m->bucket, m->key, upload_id, &e);
    up = pcpd_uploads_take(pd->uploads, upload_id);
    for (i = 0; up && i < up->n; i++) {
        pcpd_staged_id(&sid, up->pbucket, up->key, up->upload_id,
                       up->v[i].index, up->chunk_size);
        for (t = 0; t < pd->tiers.n; t++)
            store_remove(pd->tiers.v[t].store, &sid);
    }
    pcpd_upload_free(up);
    if (rc < 0)
        pcpd_meta_fail(m, rc, &e);
    else
        m->status = 204;
}

/* The pool thread: one S3 call (and its caching). */
static void pcpd_meta_job(void *arg)
{
    struct pcpd_meta *m = arg;

    switch (m->op) {
    case PCPD_META_HEAD:
        pcpd_meta_head(m);
        break;
    case PCPD_META_LIST:
        pcpd_meta_list(m);
        break;
    case PCPD_META_PUT:
        pcpd_meta_put(m);
        break;
    case PCPD_META_DELETE:
        pcpd_meta_delete(m);
        break;
    case PCPD_META_COPY:
        pcpd_meta_copy(m);
        break;
    case PCPD_META_MPU_CREATE:
        pcpd_meta_mpu_create(m);
        break;
    case PCPD_META_MPU_PART:
        pcpd_meta_mpu_part(m);
        break;
    case PCPD_META_MPU_COMPLETE:
        pcpd_meta_mpu_complete(m);
        break;
    case PCPD_META_MPU_ABORT:
        pcpd_meta_mpu_abort(m);
        break;
    }
}

/* ---- Replies (worker loop) -------------------------------------------- */

static void pcpd_meta_reply_head(struct pcpd_meta *m,
                                 struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char v[64], name[160], date[64];
    struct tm tm;
    size_t i;

    snprintf(v, sizeof(v), "%" PRId64, m->om.size);
    evhttp_add_header(h, "Content-Length", v);
    evhttp_add_header(h, "X-Pcache-Size", v);
    evhttp_add_header(h, "ETag", m->om.etag);
    if (gmtime_r(&m->om.mtime, &tm) &&
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm))
        evhttp_add_header(h, "Last-Modified", date);
    if (m->om.content_type[0])
        evhttp_add_header(h, "Content-Type", m->om.content_type);
    for (i = 0; i < m->om.nuser; i++) {
        snprintf(name, sizeof(name), "X-Amz-Meta-%s", m->om.user[i].name);
        evhttp_add_header(h, name, m->om.user[i].value);
    }
    evhttp_send_reply(req, 200, "OK", NULL);
    pcpd_http_done(m->w->pd, 200);
}

static void pcpd_meta_done_cb(void *arg)
{
    struct pcpd_meta *m = arg;
    struct pcpd *pd = m->w->pd;
    struct evhttp_request *req = m->defer.req;
    const char *code;
    int status;

    if (!pcpd_defer_end(pd, &m->defer))
        goto out;
    if (m->rc < 0) {
        PCPD_COUNT(pd, meta_errors, 1);
        status = pcpd_http_status(m->rc, &code);
        pcpd_http_error(pd, req, status, code,
                        m->msg[0] ? m->msg : strerror(-m->rc));
    } else if (m->status == 204) {
        evhttp_send_reply(req, 204, "No Content", NULL);
        pcpd_http_done(pd, 204);
    } else if (m->op == PCPD_META_HEAD && m->head_method) {
        pcpd_meta_reply_head(m, req);
    } else {
        pcpd_http_json(pd, req, 200, m->reply);
        m->reply = NULL;
    }
out:
    pcpd_meta_free(m);
}

/* ---- The handler ------------------------------------------------------ */

/*
 * A copy of query where a bare "name" (as in S3's "?uploads") becomes
 * "name=", which libevent's query parser insists on. The caller frees.
 */
static char *pcpd_meta_query_fix(const char *query)
{
    struct buf b;
    const char *p = query, *amp;
    size_t n;

    buf_init(&b, 4 * strlen(query) + 16);
    while (*p) {
        amp = strchr(p, '&');
        n = amp ? (size_t)(amp - p) : strlen(p);
        buf_append(&b, p, n);
        if (n > 0 && !memchr(p, '=', n))
            buf_append_byte(&b, '=');
        if (!amp)
            break;
        buf_append_byte(&b, '&');
        p = amp + 1;
    }
    return buf_steal(&b);
}

/* The operation named by method and query; -EINVAL when none. */
static int pcpd_meta_pick_op(struct pcpd_meta *m, enum evhttp_cmd_type cmd)
{
    bool upload = pcpd_meta_q(m, "upload_id") != NULL;

    if (!m->key)
        return cmd == EVHTTP_REQ_GET ? PCPD_META_LIST : -EINVAL;
    switch (cmd) {
    case EVHTTP_REQ_HEAD:
        m->head_method = true;
        return PCPD_META_HEAD;
    case EVHTTP_REQ_GET:
        return PCPD_META_HEAD;
    case EVHTTP_REQ_PUT:
        if (upload)
            return pcpd_meta_q(m, "part") ? PCPD_META_MPU_PART : -EINVAL;
        return pcpd_meta_q(m, "copy_from") ? PCPD_META_COPY : PCPD_META_PUT;
    case EVHTTP_REQ_POST:
        if (upload)
            return PCPD_META_MPU_COMPLETE;
        return pcpd_meta_q(m, "uploads") ? PCPD_META_MPU_CREATE : -EINVAL;
    case EVHTTP_REQ_DELETE:
        return upload ? PCPD_META_MPU_ABORT : PCPD_META_DELETE;
    default:
        return -EINVAL;
    }
}

static const char *const pcpd_meta_auth_ops[] = {
    [PCPD_META_HEAD] = "read",       [PCPD_META_LIST] = "list",
    [PCPD_META_PUT] = "write",       [PCPD_META_DELETE] = "delete",
    [PCPD_META_COPY] = "write",      [PCPD_META_MPU_CREATE] = "write",
    [PCPD_META_MPU_PART] = "write",  [PCPD_META_MPU_COMPLETE] = "write",
    [PCPD_META_MPU_ABORT] = "write",
};

/* The auth hook for m: a list is checked on its prefix, a copy also for
 * reading its source. 0, or <0 when the hook answered. */
static int pcpd_meta_auth(struct pcpd_meta *m, struct evhttp_request *req)
{
    struct pcpd *pd = m->w->pd;
    const char *key = m->key ? m->key : "", *v;

    if (m->op == PCPD_META_LIST)
        key = (v = pcpd_meta_q(m, "prefix")) ? v : "";
    if (pcpd_auth_check(pd, req, m->pbucket, key, pcpd_meta_auth_ops[m->op]) <
        0)
        return -EACCES;
    v = pcpd_meta_q(m, "copy_from");
    if (m->op == PCPD_META_COPY && v &&
        pcpd_auth_check(pd, req, m->pbucket, v, "read") < 0)
        return -EACCES;
    return 0;
}

/* User metadata, Content-Type and storage class from request headers. */
static void pcpd_meta_headers(struct pcpd_meta *m, struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyval *kv;
    char *name;
    size_t i;

    TAILQ_FOREACH(kv, in, next)
    {
        if (strncasecmp(kv->key, "x-amz-meta-", 11) == 0 && kv->key[11]) {
            name = xstrdup(kv->key + 11);
            for (i = 0; name[i]; i++)
                name[i] = (char)(name[i] >= 'A' && name[i] <= 'Z'
                                     ? name[i] - 'A' + 'a'
                                     : name[i]);
            m->meta = xrealloc(m->meta, (m->nmeta + 1) * sizeof(*m->meta));
            m->meta[m->nmeta].name = name;
            m->meta[m->nmeta].value = xstrdup(kv->value);
            m->nmeta++;
        } else if (strcasecmp(kv->key, "content-type") == 0) {
            free(m->content_type);
            m->content_type = xstrdup(kv->value);
        } else if (strcasecmp(kv->key, "x-amz-storage-class") == 0) {
            free(m->storage_class);
            m->storage_class = xstrdup(kv->value);
        }
    }
}

/* Remembers the routes of pb below prefix that go elsewhere than rt. */
static void pcpd_meta_find_foreign(struct pcpd_meta *m,
                                   const struct pcpd_pbucket *pb,
                                   const struct pcpd_route *rt,
                                   const char *prefix)
{
    size_t i, plen = strlen(prefix);

    for (i = 0; i < pb->nroutes; i++) {
        const struct pcpd_route *r = &pb->routes[i];

        if (r->slot == rt->slot || strlen(r->prefix) <= plen ||
            strncmp(r->prefix, prefix, plen) != 0)
            continue;
        m->foreign =
            xrealloc(m->foreign, (m->nforeign + 1) * sizeof(*m->foreign));
        m->foreign[m->nforeign++] = xstrdup(r->prefix);
    }
}

/* Checks the query values an operation needs. 0 or -EINVAL with msg. */
static int pcpd_meta_check(struct pcpd_meta *m, char *msg, size_t msglen)
{
    const struct pcpd_pbucket *pb = NULL;
    const struct pcpd_route *rt, *src;
    const char *v = pcpd_meta_q(m, "upload_id"), *cs;
    const struct pcpd_routes *tbl = pcpd_routes_current(m->w->pd);
    const char *key;
    int64_t n;

    /* A list goes where its prefix routes; routes below the prefix to
     * other backends are merged in by pcpd_meta_list_merge. */
    key = m->op == PCPD_META_LIST ? pcpd_meta_q(m, "prefix") : m->key;
    rt = pcpd_routes_find(tbl, m->pbucket, key ? key : "", &pb);
    if (!pb || !rt) {
        snprintf(msg, msglen,
                 pb ? "no route of the pbucket matches the key"
                    : "unknown pbucket");
        return -ENOENT;
    }
    if (m->op == PCPD_META_LIST)
        pcpd_meta_find_foreign(m, pb, rt, key ? key : "");
    m->backend = rt->slot;
    m->bucket = pcpd_slot_bucket(m->w->pd, rt->slot);
    if (!pcpd_slot_meta_client(m->w->pd, rt->slot)) {
        snprintf(msg, msglen, "the backend's settings are refused");
        return -EIO;
    }
    if (v && (!*v || strlen(v) > 1024)) {
        snprintf(msg, msglen, "bad upload_id");
        return -EINVAL;
    }
    m->chunk_size = pb->chunk_size ? pb->chunk_size : CHUNK_SIZE_DEFAULT;
    cs = pcpd_meta_q(m, "chunk_size");
    if (cs && (config_parse_int(cs, 1, CHUNK_SIZE_MAX, &n) < 0 ||
               !chunk_size_valid((uint64_t)n) ||
               (pb->chunk_size && (uint64_t)n != pb->chunk_size))) {
        snprintf(msg, msglen, "bad chunk_size");
        return -EINVAL;
    }
    if (cs)
        m->chunk_size = (uint64_t)n;
    if (m->op == PCPD_META_COPY) {
        v = pcpd_meta_q(m, "copy_from");
        if (!pcpd_request_key_ok(v, strlen(v))) {
            snprintf(msg, msglen, "bad copy_from key");
            return -EINVAL;
        }
        src = pcpd_routes_find(tbl, m->pbucket, v, &pb);
        if (!src || src->slot != rt->slot) {
            snprintf(msg, msglen, "copy_from routes to another backend");
            return -EINVAL;
        }
    }
    return 0;
}

void pcpd_meta_handle(struct pcpd_worker *w, struct evhttp_request *req,
                      const char *path)
{
    struct pcpd *pd = w->pd;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = evhttp_uri_get_query(uri), *code;
    struct pcpd_meta *m = xcalloc(1, sizeof(*m));
    struct evbuffer *in;
    char msg[256] = "", *fixed;
    int rc, op;

    m->w = w;
    TAILQ_INIT(&m->q);
    rc = pcpd_request_parse_object(path, m->pbucket, &m->key, msg, sizeof(msg));
    if (rc == 0 && query) {
        fixed = pcpd_meta_query_fix(query);
        if (evhttp_parse_query_str(fixed, &m->q) < 0) {
            rc = -EINVAL;
            snprintf(msg, sizeof(msg), "bad query string");
        }
        free(fixed);
    }
    if (rc < 0)
        goto fail;
    op = pcpd_meta_pick_op(m, evhttp_request_get_command(req));
    if (op < 0) {
        pcpd_http_error(pd, req, 405, "MethodNotAllowed",
                        "see docs/protocol.md for the /v1/meta/ operations");
        goto out;
    }
    m->op = (enum pcpd_meta_op)op;
    /* Before the routes are looked at: without a token, a caller learns
     * nothing, not even whether the pbucket exists. */
    if (pcpd_meta_auth(m, req) < 0)
        goto out;
    rc = pcpd_meta_check(m, msg, sizeof(msg));
    if (rc < 0)
        goto fail;
    pcpd_meta_headers(m, req);
    in = evhttp_request_get_input_buffer(req);
    m->body_len = evbuffer_get_length(in);
    m->body = xmalloc(m->body_len ? m->body_len : 1);
    evbuffer_remove(in, m->body, m->body_len);
    pcpd_defer_begin(&m->defer, req);
    if (pcpd_pool_submit(pd->meta_pool, pcpd_meta_job, pcpd_meta_done_cb, m,
                         w->base) == 0)
        return;
    pcpd_defer_end(pd, &m->defer);
    pcpd_http_error(pd, req, 503, "SlowDown", "too many metadata requests");
    goto out;
fail:
    if (rc == -ENOENT)
        pcpd_http_error(pd, req, 404, "NoSuchPbucket", msg);
    else {
        int status = pcpd_http_status(rc, &code);

        pcpd_http_error(pd, req, status, code, msg);
    }
out:
    pcpd_meta_free(m);
}
