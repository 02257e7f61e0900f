/* SPDX-License-Identifier: MIT */
/*
 * store.c: the state document in a file or in etcd (store.h).
 */
#include "pmsd/store.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/mem.h"

struct pmsd_store {
    bool etcd;
    char *path;       /* file: the state file */
    char **endpoints; /* etcd: "http://host:port", owned */
    size_t nendpoints;
    char *key;    /* etcd key */
    uint64_t rev; /* etcd: mod_revision of the state we hold */
    char name[256];
};

static int pmsd_fsync_dir(const char *path)
{
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    free(copy);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int pmsd_write_private(const char *path, const void *data, size_t len)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    const char *p = data;
    ssize_t n;
    int fd, rc = 0;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    while (len > 0 && rc == 0) {
        n = write(fd, p, len);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc == 0)
        rc = pmsd_fsync_dir(path);
    else
        unlink(tmp);
out:
    free(tmp);
    return rc;
}

int pmsd_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    struct stat st;
    char *data = NULL;
    ssize_t n;
    size_t got = 0;

    *out = NULL;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        rc = -EMSGSIZE;
        goto out;
    }
    data = xmalloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        n = read(fd, data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            goto out;
        }
        got += (size_t)n;
    }
    data[got] = '\0';
    *out = data;
    *len = got;
    data = NULL;
out:
    free(data);
    close(fd);
    return rc;
}

int pmsd_store_open(const char *spec, const char *state_dir,
                    const char *etcd_key, struct pmsd_store **out, char *err,
                    size_t errlen)
{
    struct pmsd_store *s = xcalloc(1, sizeof(*s));
    char *list, *tok, *save = NULL;

    *out = NULL;
    if (strcmp(spec, "file") == 0) {
        s->path = xasprintf("%s/state.json", state_dir);
        snprintf(s->name, sizeof(s->name), "file %.200s", s->path);
        *out = s;
        return 0;
    }
    if (strncmp(spec, "etcd://", 7) != 0 || !spec[7]) {
        snprintf(err, errlen,
                 "store '%.200s': expected file or etcd://HOST:PORT,...", spec);
        free(s);
        return -EINVAL;
    }
    s->etcd = true;
    s->key = xstrdup(etcd_key);
    list = xstrdup(spec + 7);
    for (tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        s->endpoints =
            xrealloc(s->endpoints, (s->nendpoints + 1) * sizeof(char *));
        s->endpoints[s->nendpoints++] = xasprintf("http://%s", tok);
    }
    free(list);
    snprintf(s->name, sizeof(s->name), "etcd %.200s key %.40s", spec + 7,
             etcd_key);
    *out = s;
    return 0;
}

void pmsd_store_free(struct pmsd_store *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->nendpoints; i++)
        free(s->endpoints[i]);
    free(s->endpoints);
    free(s->path);
    free(s->key);
    free(s);
}

const char *pmsd_store_name(const struct pmsd_store *s)
{
    return s->name;
}

/* ---- etcd v3 JSON gateway ---------------------------------------------- */

static char *pmsd_b64(const void *data, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

/* Standard base64 to bytes; -EINVAL. */
static int pmsd_unb64(const char *in, char **out, size_t *len)
{
    size_t n = strlen(in), pad = 0;
    unsigned char *o = xmalloc(n / 4 * 3 + 1);
    int r = EVP_DecodeBlock(o, (const unsigned char *)in, (int)n);

    if (r < 0 || n % 4) {
        free(o);
        return -EINVAL;
    }
    if (n >= 1 && in[n - 1] == '=')
        pad++;
    if (n >= 2 && in[n - 2] == '=')
        pad++;
    *len = (size_t)r - pad;
    o[*len] = '\0';
    *out = (char *)o;
    return 0;
}

static size_t pmsd_curl_write_cb(char *p, size_t size, size_t n, void *arg)
{
    return buf_append(arg, p, size * n) == 0 ? size * n : 0;
}

/* POSTs body to path on each endpoint in turn; reply in resp. */
static int pmsd_etcd_call(struct pmsd_store *s, const char *path,
                          const char *body, struct buf *resp, char *err,
                          size_t errlen)
{
    char cerr[CURL_ERROR_SIZE];
    long status = 0;
    size_t i;

    for (i = 0; i < s->nendpoints; i++) {
        CURL *c = curl_easy_init();
        char *url = xasprintf("%s%s", s->endpoints[i], path);
        CURLcode cc;

        buf_reset(resp);
        cerr[0] = '\0';
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, pmsd_curl_write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
        cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        free(url);
        if (cc == CURLE_OK && status == 200)
            return 0;
        snprintf(err, errlen, "etcd %s: %s (HTTP %ld)", s->endpoints[i],
                 cerr[0] ? cerr : curl_easy_strerror(cc), status);
    }
    return -EIO;
}

/* An int64 of the gateway's JSON: a string ("12") or, to be lenient, a
 * number; absent is 0 (proto3 leaves zero values out). */
static uint64_t pmsd_etcd_int(const json_t *v)
{
    if (json_is_string(v))
        return strtoull(json_string_value(v), NULL, 10);
    return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

/* Reads key: its value (caller frees; NULL with keys_only) and
 * mod_revision. -ENOENT when absent, -EIO, -EINVAL. */
static int pmsd_etcd_get(struct pmsd_store *s, const char *key, bool keys_only,
                         char **val, size_t *len, uint64_t *mod_rev, char *err,
                         size_t errlen)
{
    char *k64 = pmsd_b64(key, strlen(key)), *body;
    const char *v64;
    struct buf resp;
    json_t *r = NULL, *kv;
    int rc;

    if (val)
        *val = NULL;
    buf_init(&resp, PMSD_STATE_MAX * 2);
    body = xasprintf("{\"key\":\"%s\"%s}", k64,
                     keys_only ? ",\"keys_only\":true" : "");
    rc = pmsd_etcd_call(s, "/v3/kv/range", body, &resp, err, errlen);
    if (rc == 0) {
        r = json_loadb(buf_str(&resp), resp.len, 0, NULL);
        kv = json_array_get(json_object_get(r, "kvs"), 0);
        v64 = json_string_value(json_object_get(kv, "value"));
        if (!r)
            rc = -EINVAL;
        else if (!kv)
            rc = -ENOENT;
        else if (!keys_only && (!v64 || pmsd_unb64(v64, val, len) < 0))
            rc = -EINVAL;
        if (rc == 0)
            *mod_rev = pmsd_etcd_int(json_object_get(kv, "mod_revision"));
        if (rc == -EINVAL)
            snprintf(err, errlen, "etcd: unparsable reply for %.100s", key);
    }
    json_decref(r);
    free(body);
    free(k64);
    buf_free(&resp);
    return rc;
}

/*
 * Puts key = data if the key's revision is still expect (target "MOD",
 * or "CREATE" with 0 for "only if absent"). *new_rev gets the revision of
 * the write. -ESTALE when someone else wrote first, -EIO.
 */
static int pmsd_etcd_put_if(struct pmsd_store *s, const char *key,
                            const char *data, size_t len, const char *target,
                            uint64_t expect, uint64_t *new_rev, char *err,
                            size_t errlen)
{
    char *k64 = pmsd_b64(key, strlen(key)), *v64 = pmsd_b64(data, len);
    char *body =
        xasprintf("{\"compare\":[{\"key\":\"%s\",\"target\":\"%s\",\"result\":"
                  "\"EQUAL\",\"%s_revision\":\"%llu\"}],\"success\":[{"
                  "\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}]}",
                  k64, target, strcmp(target, "MOD") == 0 ? "mod" : "create",
                  (unsigned long long)expect, k64, v64);
    struct buf resp;
    json_t *r = NULL;
    int rc;

    buf_init(&resp, 1 << 20);
    rc = pmsd_etcd_call(s, "/v3/kv/txn", body, &resp, err, errlen);
    if (rc == 0) {
        r = json_loadb(buf_str(&resp), resp.len, 0, NULL);
        if (!json_is_true(json_object_get(r, "succeeded"))) {
            snprintf(err, errlen, "etcd: %.100s changed meanwhile", key);
            rc = -ESTALE;
        } else {
            *new_rev = pmsd_etcd_int(
                json_object_get(json_object_get(r, "header"), "revision"));
        }
    }
    json_decref(r);
    buf_free(&resp);
    free(body);
    free(v64);
    free(k64);
    return rc;
}

static int pmsd_etcd_load(struct pmsd_store *s, json_t **doc, char *err,
                          size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    uint64_t rev = 0;
    int rc = pmsd_etcd_get(s, s->key, false, &data, &len, &rev, err, errlen);

    if (rc == 0 && !(*doc = json_loadb(data, len, 0, NULL))) {
        snprintf(err, errlen, "etcd: unparsable state in %.100s", s->key);
        rc = -EINVAL;
    }
    if (rc == 0)
        s->rev = rev;
    free(data);
    return rc;
}

int pmsd_store_changed(struct pmsd_store *s, bool *changed, char *err,
                       size_t errlen)
{
    uint64_t rev = 0;
    int rc;

    *changed = false;
    if (!s->etcd)
        return 0;
    rc = pmsd_etcd_get(s, s->key, true, NULL, NULL, &rev, err, errlen);
    if (rc == -ENOENT)
        rc = 0;
    if (rc == 0)
        *changed = rev != s->rev;
    return rc;
}

bool pmsd_store_shared(const struct pmsd_store *s)
{
    return s->etcd;
}

int pmsd_store_shared_blob(struct pmsd_store *s, const char *suffix,
                           const char *mine, size_t len, char **out,
                           size_t *outlen, char *err, size_t errlen)
{
    char *key = xasprintf("%s%s", s->key, suffix);
    uint64_t rev = 0;
    int rc = pmsd_etcd_get(s, key, false, out, outlen, &rev, err, errlen);

    if (rc == -ENOENT) {
        rc =
            pmsd_etcd_put_if(s, key, mine, len, "CREATE", 0, &rev, err, errlen);
        if (rc == 0) {
            *out = xstrndup(mine, len);
            *outlen = len;
        } else if (rc == -ESTALE) { /* another pmsd was first: theirs */
            rc = pmsd_etcd_get(s, key, false, out, outlen, &rev, err, errlen);
        }
    }
    free(key);
    return rc;
}

/* ---- both -------------------------------------------------------------- */

int pmsd_store_load(struct pmsd_store *s, json_t **doc, char *err,
                    size_t errlen)
{
    json_error_t jerr;
    char *data = NULL;
    size_t len = 0;
    int rc;

    *doc = NULL;
    if (s->etcd)
        return pmsd_etcd_load(s, doc, err, errlen);
    rc = pmsd_read_file(s->path, PMSD_STATE_MAX, &data, &len);
    if (rc < 0) {
        snprintf(err, errlen, "%.200s: %s", s->path, strerror(-rc));
        return rc;
    }
    *doc = json_loadb(data, len, 0, &jerr);
    free(data);
    if (!*doc) {
        snprintf(err, errlen, "%.200s:%d: %s", s->path, jerr.line, jerr.text);
        return -EINVAL;
    }
    return 0;
}

int pmsd_store_save(struct pmsd_store *s, const json_t *doc, char *err,
                    size_t errlen)
{
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
    int rc;

    if (!text) {
        snprintf(err, errlen, "cannot serialise the state");
        return -EIO;
    }
    if (s->etcd) {
        /* Only over the revision we loaded: two pmsd never overwrite
         * each other's changes unseen. */
        rc = pmsd_etcd_put_if(s, s->key, text, strlen(text), "MOD", s->rev,
                              &s->rev, err, errlen);
    } else {
        rc = pmsd_write_private(s->path, text, strlen(text));
        if (rc < 0) {
            snprintf(err, errlen, "%.200s: %s", s->path, strerror(-rc));
            rc = -EIO;
        }
    }
    free(text);
    return rc;
}
