/* SPDX-License-Identifier: MIT */
/*
 * listing.c: whole-directory listings (see listing.h).
 */
#include "pcachefs/listing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "pcachefs/fs.h"
#include "pcachefs/remote.h"

/* s3fs marks some directories with a "name_$folder$" object. */
#define LISTING_FOLDER_SUFFIX "_$folder$"
/* A listing larger than this is refused rather than eating all memory. */
#define LISTING_MAX_ENTRIES (4u << 20)

bool listing_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > 255 || memchr(name, '/', len))
        return false;
    if ((len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    return true;
}

static int listing_cmp(const void *a, const void *b)
{
    const struct listing_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    /* Directories first, so deduplication keeps them. */
    return (y->type == S_IFDIR) - (x->type == S_IFDIR);
}

static void listing_add(struct listing *l, size_t *cap, const char *name,
                        size_t len, mode_t type, const struct s3_object_info *o)
{
    struct listing_entry *e;

    if (!listing_name_ok(name, len))
        return;
    if (l->count == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        l->entries = xrealloc(l->entries, *cap * sizeof(*l->entries));
    }
    e = &l->entries[l->count++];
    memset(e, 0, sizeof(*e));
    e->name = xstrndup(name, len);
    e->type = type;
    if (o && type == S_IFREG) {
        e->size = o->size;
        e->mtime = o->mtime;
        e->etag = o->etag ? xstrdup(o->etag) : NULL;
    }
}

static void listing_take_page(struct listing *l, size_t *cap,
                              const char *dir_key,
                              const struct s3_list_result *r)
{
    size_t dlen = strlen(dir_key), i, slen = strlen(LISTING_FOLDER_SUFFIX);

    for (i = 0; i < r->nobjects; i++) {
        const struct s3_object_info *o = &r->objects[i];
        const char *name = o->key + dlen;
        size_t n;

        if (strncmp(o->key, dir_key, dlen) != 0)
            continue;
        n = strlen(name);
        if (n == 0) {
            l->has_marker = true;
            continue;
        }
        if (n > slen && strcmp(name + n - slen, LISTING_FOLDER_SUFFIX) == 0)
            listing_add(l, cap, name, n - slen, S_IFDIR, NULL);
        else
            listing_add(l, cap, name, n, S_IFREG, o);
    }
    for (i = 0; i < r->nprefixes; i++) {
        const char *p = r->prefixes[i];
        size_t n;

        if (strncmp(p, dir_key, dlen) != 0)
            continue;
        n = strlen(p + dlen);
        if (n > 0 && p[dlen + n - 1] == '/')
            listing_add(l, cap, p + dlen, n - 1, S_IFDIR, NULL);
    }
}

static void listing_sort_unique(struct listing *l)
{
    size_t i, out = 0;

    if (l->count == 0)
        return;
    qsort(l->entries, l->count, sizeof(*l->entries), listing_cmp);
    for (i = 0; i < l->count; i++) {
        if (out > 0 &&
            strcmp(l->entries[out - 1].name, l->entries[i].name) == 0) {
            free(l->entries[i].name);
            free(l->entries[i].etag);
            continue;
        }
        l->entries[out++] = l->entries[i];
    }
    l->count = out;
}

int listing_fetch(struct fs *fs, const char *path, size_t max,
                  struct listing **out)
{
    struct listing *l = xcalloc(1, sizeof(*l));
    char *dir_key = fs_dir_key(fs, path), *token = NULL;
    struct s3_list_opts lo = {.prefix = dir_key, .delimiter = "/"};
    struct s3_list_result r;
    struct s3_error err;
    size_t cap = 0;
    int rc;

    if (!*dir_key)
        lo.prefix = NULL;
    do {
        lo.continuation = token;
        rc = remote_list(&fs->remote, &lo, &r, &err);
        free(token);
        token = NULL;
        if (rc)
            break;
        listing_take_page(l, &cap, dir_key, &r);
        if (r.truncated && r.next_token && *r.next_token)
            token = xstrdup(r.next_token);
        s3_list_result_fini(&r);
        if (max && l->count > max) {
            rc = -EFBIG; /* the caller asked for a small one only */
        } else if (l->count > LISTING_MAX_ENTRIES) {
            log_warnx("listing of '%s' passes %u entries; refusing", path,
                      LISTING_MAX_ENTRIES);
            rc = -EFBIG;
        }
    } while (token && rc == 0);
    free(token);
    free(dir_key);
    if (rc) {
        listing_free(l);
        return rc;
    }
    listing_sort_unique(l);
    l->fetched_ms = monotime_ms();
    *out = l;
    return 0;
}

void listing_free(struct listing *l)
{
    size_t i;

    if (!l)
        return;
    for (i = 0; i < l->count; i++) {
        free(l->entries[i].name);
        free(l->entries[i].etag);
    }
    free(l->entries);
    free(l);
}

const struct listing_entry *listing_find(const struct listing *l,
                                         const char *name)
{
    size_t lo = 0, hi = l->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->entries[mid].name, name);

        if (c == 0)
            return &l->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
