/* SPDX-License-Identifier: MIT */
/*
 * inode.c: the inode table (see inode.h).
 *
 * Two chained hash tables over the same inodes, one keyed by number and
 * one by path, grown by doubling. Renames and unlinks rehash the paths
 * they touch; a directory rename walks every inode (rare, and bounded by
 * what the kernel holds).
 */
#include "pcachefs/inode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "common/mem.h"
#include "pcachefs/listing.h"
#include "pcachefs/writer.h"

struct inode_table {
    pthread_mutex_t lock;
    struct inode **by_ino;  /* nbuckets chains via next_ino */
    struct inode **by_path; /* nbuckets chains via next_path */
    size_t nbuckets;        /* power of two */
    size_t count;
    fuse_ino_t next_ino;
};

static size_t inode_hash_ino(const struct inode_table *t, fuse_ino_t ino)
{
    return (size_t)(XXH3_64bits(&ino, sizeof(ino)) & (t->nbuckets - 1));
}

static size_t inode_hash_path(const struct inode_table *t, const char *path)
{
    return (size_t)(XXH3_64bits(path, strlen(path)) & (t->nbuckets - 1));
}

static void do_inode_link_path(struct inode_table *t, struct inode *in)
{
    size_t h = inode_hash_path(t, in->path);

    in->next_path = t->by_path[h];
    t->by_path[h] = in;
}

static void do_inode_unlink_path(struct inode_table *t, struct inode *in)
{
    struct inode **pp;

    if (!in->path)
        return;
    for (pp = &t->by_path[inode_hash_path(t, in->path)]; *pp;
         pp = &(*pp)->next_path) {
        if (*pp == in) {
            *pp = in->next_path;
            break;
        }
    }
    in->next_path = NULL;
}

static void do_inode_link_ino(struct inode_table *t, struct inode *in)
{
    size_t h = inode_hash_ino(t, in->ino);

    in->next_ino = t->by_ino[h];
    t->by_ino[h] = in;
}

static void do_inode_grow(struct inode_table *t)
{
    struct inode **old = t->by_ino;
    size_t i, n = t->nbuckets;

    t->nbuckets *= 2;
    t->by_ino = xcalloc(t->nbuckets, sizeof(*t->by_ino));
    free(t->by_path);
    t->by_path = xcalloc(t->nbuckets, sizeof(*t->by_path));
    for (i = 0; i < n; i++) {
        struct inode *in = old[i], *next;

        for (; in; in = next) {
            next = in->next_ino;
            do_inode_link_ino(t, in);
            if (in->path)
                do_inode_link_path(t, in);
        }
    }
    free(old);
}

static struct inode *inode_alloc(fuse_ino_t ino, const char *path, mode_t type)
{
    struct inode *in = xcalloc(1, sizeof(*in));

    in->ino = ino;
    in->path = xstrdup(path);
    pthread_mutex_init(&in->lock, NULL);
    pthread_cond_init(&in->listing_cond, NULL);
    in->attr.st_ino = ino;
    in->attr.st_mode = type;
    in->attr.st_nlink = S_ISDIR(type) ? 2 : 1;
    return in;
}

static void inode_free(struct inode *in)
{
    writer_free(in->writer);
    listing_free(in->listing);
    free(in->link_target);
    free(in->path);
    pthread_cond_destroy(&in->listing_cond);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

struct inode_table *inode_table_new(void)
{
    struct inode_table *t = xcalloc(1, sizeof(*t));
    struct inode *root;

    pthread_mutex_init(&t->lock, NULL);
    t->nbuckets = 1024;
    t->by_ino = xcalloc(t->nbuckets, sizeof(*t->by_ino));
    t->by_path = xcalloc(t->nbuckets, sizeof(*t->by_path));
    t->next_ino = FUSE_ROOT_ID + 1;
    root = inode_alloc(FUSE_ROOT_ID, "", S_IFDIR | 0755);
    root->nlookup = 1; /* the kernel never forgets the root */
    root->attr.st_mtime = root->attr.st_ctime = root->attr.st_atime =
        time(NULL);
    root->meta_known = true;
    do_inode_link_ino(t, root);
    do_inode_link_path(t, root);
    t->count = 1;
    return t;
}

void inode_table_free(struct inode_table *t)
{
    size_t i;

    if (!t)
        return;
    for (i = 0; i < t->nbuckets; i++) {
        struct inode *in = t->by_ino[i], *next;

        for (; in; in = next) {
            next = in->next_ino;
            inode_free(in);
        }
    }
    free(t->by_ino);
    free(t->by_path);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static struct inode *do_inode_by_ino(struct inode_table *t, fuse_ino_t ino)
{
    struct inode *in = t->by_ino[inode_hash_ino(t, ino)];

    while (in && in->ino != ino)
        in = in->next_ino;
    return in;
}

static struct inode *do_inode_by_path(struct inode_table *t, const char *path)
{
    struct inode *in = t->by_path[inode_hash_path(t, path)];

    while (in && strcmp(in->path, path) != 0)
        in = in->next_path;
    return in;
}

struct inode *inode_get(struct inode_table *t, fuse_ino_t ino)
{
    struct inode *in;

    pthread_mutex_lock(&t->lock);
    in = do_inode_by_ino(t, ino);
    if (in)
        in->refs++;
    pthread_mutex_unlock(&t->lock);
    return in;
}

struct inode *inode_find(struct inode_table *t, const char *path)
{
    struct inode *in;

    pthread_mutex_lock(&t->lock);
    in = do_inode_by_path(t, path);
    if (in)
        in->refs++;
    pthread_mutex_unlock(&t->lock);
    return in;
}

struct inode *inode_obtain(struct inode_table *t, const char *path, mode_t type)
{
    struct inode *in;

    pthread_mutex_lock(&t->lock);
    in = do_inode_by_path(t, path);
    if (in && (in->attr.st_mode & S_IFMT) != (type & S_IFMT)) {
        /* Another kind of object now: a new inode, so the kernel never
         * sees one inode number change type. */
        do_inode_unlink_path(t, in);
        free(in->path);
        in->path = NULL;
        in = NULL;
    }
    if (!in) {
        if (t->count >= t->nbuckets)
            do_inode_grow(t);
        in = inode_alloc(t->next_ino++, path, type & S_IFMT);
        do_inode_link_ino(t, in);
        do_inode_link_path(t, in);
        t->count++;
    }
    in->refs++;
    pthread_mutex_unlock(&t->lock);
    return in;
}

static void do_inode_maybe_free(struct inode_table *t, struct inode *in)
{
    struct inode **pp;

    if (in->refs || in->nlookup || in->ino == FUSE_ROOT_ID)
        return;
    do_inode_unlink_path(t, in);
    for (pp = &t->by_ino[inode_hash_ino(t, in->ino)]; *pp;
         pp = &(*pp)->next_ino) {
        if (*pp == in) {
            *pp = in->next_ino;
            break;
        }
    }
    t->count--;
    inode_free(in);
}

void inode_put(struct inode_table *t, struct inode *in)
{
    if (!in)
        return;
    pthread_mutex_lock(&t->lock);
    in->refs--;
    do_inode_maybe_free(t, in);
    pthread_mutex_unlock(&t->lock);
}

void inode_lookup_inc(struct inode_table *t, struct inode *in)
{
    pthread_mutex_lock(&t->lock);
    in->nlookup++;
    pthread_mutex_unlock(&t->lock);
}

void inode_forget(struct inode_table *t, fuse_ino_t ino, uint64_t n)
{
    struct inode *in;

    pthread_mutex_lock(&t->lock);
    in = do_inode_by_ino(t, ino);
    if (in && ino != FUSE_ROOT_ID) {
        in->nlookup = n > in->nlookup ? 0 : in->nlookup - n;
        do_inode_maybe_free(t, in);
    }
    pthread_mutex_unlock(&t->lock);
}

char *inode_path(struct inode_table *t, struct inode *in)
{
    char *p;

    pthread_mutex_lock(&t->lock);
    p = in->path ? xstrdup(in->path) : NULL;
    pthread_mutex_unlock(&t->lock);
    return p;
}

char *inode_join(const char *dir, const char *name)
{
    return *dir ? xasprintf("%s/%s", dir, name) : xstrdup(name);
}

/* True when path is below dir ("a/b" is below "a"). */
static bool inode_is_below(const char *path, const char *dir, size_t dlen)
{
    return strncmp(path, dir, dlen) == 0 && path[dlen] == '/';
}

void inode_rename(struct inode_table *t, const char *from, const char *to)
{
    size_t flen = strlen(from), i;
    struct inode *in;

    pthread_mutex_lock(&t->lock);
    in = do_inode_by_path(t, to);
    if (in) {
        do_inode_unlink_path(t, in);
        free(in->path);
        in->path = NULL;
    }
    for (i = 0; i < t->nbuckets; i++) {
        for (in = t->by_ino[i]; in; in = in->next_ino) {
            char *np;

            if (!in->path || !(strcmp(in->path, from) == 0 ||
                               inode_is_below(in->path, from, flen)))
                continue;
            np = xasprintf("%s%s", to, in->path + flen);
            do_inode_unlink_path(t, in);
            free(in->path);
            in->path = np;
            do_inode_link_path(t, in);
        }
    }
    pthread_mutex_unlock(&t->lock);
}

void inode_unlink(struct inode_table *t, const char *path)
{
    struct inode *in;

    pthread_mutex_lock(&t->lock);
    in = do_inode_by_path(t, path);
    if (in && in->ino != FUSE_ROOT_ID) {
        do_inode_unlink_path(t, in);
        free(in->path);
        in->path = NULL;
    }
    pthread_mutex_unlock(&t->lock);
}

void inode_each_child(struct inode_table *t, const char *dir,
                      void (*fn)(struct inode *in, void *arg), void *arg)
{
    size_t dlen = strlen(dir), i;
    struct inode *in;

    pthread_mutex_lock(&t->lock);
    for (i = 0; i < t->nbuckets; i++) {
        for (in = t->by_ino[i]; in; in = in->next_ino) {
            const char *rest;

            if (!in->path || in->ino == FUSE_ROOT_ID)
                continue;
            if (dlen && !inode_is_below(in->path, dir, dlen))
                continue;
            rest = in->path + (dlen ? dlen + 1 : 0);
            if (!strchr(rest, '/'))
                fn(in, arg);
        }
    }
    pthread_mutex_unlock(&t->lock);
}
