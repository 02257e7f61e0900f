/* SPDX-License-Identifier: MIT */
/*
 * ops.c: the FUSE low-level operations: the edge between the kernel and
 * the file system. Each operation resolves inodes, calls into the
 * metadata, read and write paths, and replies; errors come back as -errno
 * and leave here as fuse_reply_err(req, -rc) through ops_errno().
 *
 * Operations run on libfuse's worker threads and may block on S3
 * requests; the kernel's max_background and the loop's max_threads bound
 * how many run at once.
 */
#include "pcachefs/ops.h"
#include "pcachefs/ops_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "common/s3.h"
#include "common/token.h"
#include "pcachefs/cluster.h"
#include "pcachefs/fs.h"
#include "pcachefs/inode.h"
#include "pcachefs/listing.h"
#include "pcachefs/meta.h"
#include "pcachefs/remote.h"
#include "pcachefs/reader.h"
#include "pcachefs/writer.h"

/* An open file. */
struct handle {
    struct inode *in;      /* referenced */
    bool writing;          /* counted in in->open_writers */
    struct reader_file rf; /* the version opened, for reads */
};

/* An open directory: a snapshot of its entries. */
struct dir_handle {
    struct listing *l; /* owned */
    char *path;        /* owned */
};

struct fs *ops_fs(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* Errors applications understand; S3-specific ones become EIO. */
int ops_errno(int rc)
{
    switch (-rc) {
    case ENOENT:
    case EACCES:
    case EPERM:
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
    case ENAMETOOLONG:
    case EEXIST:
    case ENOTEMPTY:
    case EISDIR:
    case ENOTDIR:
    case EROFS:
    case EINVAL:
    case ENOTSUP:
    case ETIMEDOUT:
    case EXDEV:
    case ENOMEM:
        return -rc;
    default:
        return EIO;
    }
}

void ops_reply_err(fuse_req_t req, int rc)
{
    fuse_reply_err(req, ops_errno(rc));
}

double ops_sec(uint64_t ms)
{
    return (double)ms / 1000.0;
}

static bool ops_fresh(const struct inode *in)
{
    return monotime_ms() < in->attr_until_ms;
}

static void ops_now(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
}

/* Drops the cached listing of directory path (something changed in it). */
void ops_dir_changed(struct fs *fs, const char *path)
{
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    struct inode *d;

    if (slash)
        *slash = '\0';
    else
        dir[0] = '\0';
    d = inode_find(fs->inodes, dir);
    if (d) {
        pthread_mutex_lock(&d->lock);
        listing_free(d->listing);
        d->listing = NULL;
        pthread_mutex_unlock(&d->lock);
        inode_put(fs->inodes, d);
    }
    free(dir);
}

/* Sets an inode's attributes; the caller holds in->lock. */
void do_ops_set_attr(struct fs *fs, struct inode *in, const struct stat *st,
                     const char *etag, bool known)
{
    fuse_ino_t ino = in->ino;

    in->attr = *st;
    in->attr.st_ino = ino;
    if (etag)
        snprintf(in->etag, sizeof(in->etag), "%s", etag);
    in->meta_known = known;
    in->attr_until_ms = monotime_ms() + fs->conf.attr_timeout_ms;
}

/* The attributes to report, with a writer's size when one is open. */
static void ops_get_attr(struct inode *in, struct stat *st)
{
    pthread_mutex_lock(&in->lock);
    *st = in->attr;
    if (in->writer) {
        st->st_size = (off_t)writer_size(in->writer);
        st->st_blocks = (st->st_size + 511) / 512;
    }
    pthread_mutex_unlock(&in->lock);
}

/* Fills an entry for in and counts the lookup the reply gives the kernel. */
static void ops_fill_entry(struct fs *fs, struct inode *in,
                           struct fuse_entry_param *e)
{
    memset(e, 0, sizeof(*e));
    e->ino = in->ino;
    ops_get_attr(in, &e->attr);
    e->attr_timeout = ops_sec(fs->conf.attr_timeout_ms);
    e->entry_timeout = ops_sec(fs->conf.entry_timeout_ms);
    inode_lookup_inc(fs->inodes, in);
}

void ops_reply_entry(fuse_req_t req, struct fs *fs, struct inode *in)
{
    struct fuse_entry_param e;

    ops_fill_entry(fs, in, &e);
    if (fuse_reply_entry(req, &e) != 0)
        inode_forget(fs->inodes, in->ino, 1);
}

static void ops_reply_negative(fuse_req_t req, struct fs *fs)
{
    struct fuse_entry_param e;

    memset(&e, 0, sizeof(e));
    e.entry_timeout = ops_sec(fs->conf.negative_timeout_ms);
    fuse_reply_entry(req, &e);
}

/* Failures of the endpoint itself, where cached data may still serve. */
static bool ops_transport_error(int rc)
{
    return rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -ECONNRESET ||
           rc == -EHOSTUNREACH || rc == -EAGAIN || rc == -EIO;
}

/* --- resolving paths to objects -------------------------------------- */

/* Is there anything below dir_key? 1 yes, 0 no, -errno. */
int ops_has_children(struct fs *fs, const char *dir_key, bool *marker)
{
    struct s3_list_opts lo = {.prefix = dir_key, .max_keys = 2};
    struct s3_list_result r;
    size_t i;
    int rc, found = 0;

    *marker = false;
    rc = remote_list(&fs->remote, &lo, &r, NULL);
    if (rc)
        return rc;
    for (i = 0; i < r.nobjects; i++) {
        if (strcmp(r.objects[i].key, dir_key) == 0)
            *marker = true;
        else
            found = 1;
    }
    if (r.nprefixes > 0)
        found = 1;
    s3_list_result_fini(&r);
    return found;
}

/*
 * A directory's attributes: its marker's (dkey) when a HEAD finds it, else
 * an implicit directory's defaults. 0 or the HEAD's -errno.
 */
static int ops_dir_meta(struct fs *fs, const char *dkey, struct ops_found *f)
{
    struct s3_object_meta m;
    int rc;

    rc = remote_head(&fs->remote, dkey, &m, NULL);
    if (rc == 0) {
        meta_from_object(fs, &m, S_IFDIR, &f->st);
        s3_object_meta_fini(&m);
    } else if (rc == -ENOENT) {
        meta_implicit_dir(fs, &f->st);
        f->implicit = true;
        rc = 0;
    }
    return rc;
}

/*
 * ops_resolve for a name its directory's listing shows as a directory
 * (which wins over a file of the same name, as in listings): only its
 * marker's metadata is missing, one HEAD. 0 or -errno.
 */
static int ops_resolve_dir(struct fs *fs, const char *path, struct ops_found *f)
{
    char *dkey = fs_dir_key(fs, path);
    int rc;

    memset(f, 0, sizeof(*f));
    rc = ops_dir_meta(fs, dkey, f);
    free(dkey);
    return rc;
}

/*
 * Finds what path is in S3: an object (file or symlink), a directory
 * marker, or a prefix with objects below it. 0 or -ENOENT / -errno.
 */
int ops_resolve(struct fs *fs, const char *path, struct ops_found *f)
{
    char *key = fs_key(fs, path), *dkey = fs_dir_key(fs, path);
    struct s3_object_meta m;
    bool marker;
    int rc;

    memset(f, 0, sizeof(*f));
    rc = remote_head(&fs->remote, key, &m, NULL);
    if (rc == 0) {
        meta_from_object(fs, &m, S_IFREG, &f->st);
        snprintf(f->etag, sizeof(f->etag), "%s", m.etag);
        s3_object_meta_fini(&m);
        goto out;
    }
    if (rc != -ENOENT)
        goto out;
    rc = ops_has_children(fs, dkey, &marker);
    if (rc < 0)
        goto out;
    if (marker) {
        rc = ops_dir_meta(fs, dkey, f);
    } else if (rc == 1) {
        meta_implicit_dir(fs, &f->st);
        f->implicit = true;
        rc = 0;
    } else {
        rc = -ENOENT;
    }
out:
    free(key);
    free(dkey);
    return rc;
}

/*
 * Makes dir's cached listing fresh, fetching it when missing or stale;
 * one fetch per directory at a time, others wait for it. max bounds the
 * directories worth listing for a lookup (0: any size); a directory found
 * too large is not listed again for lookups for OPS_LIST_REFUSED_MS.
 * 0, -EFBIG or -errno.
 */
#define OPS_LOOKUP_LIST_MAX 10000
#define OPS_LIST_REFUSED_MS 60000
/* Stale files of a directory with fewer entries are revalidated by HEAD. */
#define OPS_LIST_REVALIDATE_MIN 4

static int ops_listing(struct fs *fs, struct inode *dir, const char *path,
                       bool force, size_t max)
{
    struct listing *l = NULL;
    int rc;

    pthread_mutex_lock(&dir->lock);
    while (dir->listing_busy)
        pthread_cond_wait(&dir->listing_cond, &dir->lock);
    if (!force && dir->listing &&
        monotime_ms() - dir->listing->fetched_ms < fs->conf.attr_timeout_ms) {
        pthread_mutex_unlock(&dir->lock);
        return 0;
    }
    if (max && dir->listing_refused_ms &&
        monotime_ms() - dir->listing_refused_ms < OPS_LIST_REFUSED_MS) {
        pthread_mutex_unlock(&dir->lock);
        return -EFBIG;
    }
    dir->listing_busy = true;
    pthread_mutex_unlock(&dir->lock);
    rc = listing_fetch(fs, path, max, &l);
    pthread_mutex_lock(&dir->lock);
    dir->listing_busy = false;
    if (rc == 0) {
        listing_free(dir->listing);
        dir->listing = l;
    } else if (rc == -EFBIG) {
        dir->listing_refused_ms = monotime_ms();
    }
    pthread_cond_broadcast(&dir->listing_cond);
    pthread_mutex_unlock(&dir->lock);
    return rc;
}

/*
 * Whether a stale file of directory d is better revalidated by a HEAD
 * than by listing d again. A LIST pays off by answering for every sibling
 * at once; a file (nearly) alone in its directory gets just what it needs
 * from a HEAD, which some servers answer far more cheaply (s3rver reads
 * one file for it, and every object of the bucket for a LIST).
 */
static bool ops_head_revalidates(struct inode *d)
{
    size_t n;

    pthread_mutex_lock(&d->lock);
    n = d->listing ? d->listing->count : 0;
    pthread_mutex_unlock(&d->lock);
    return n > 0 && n < OPS_LIST_REVALIDATE_MIN;
}

/* Applies a listing entry to its inode, keeping richer known metadata. */
static void ops_apply_entry(struct fs *fs, struct inode *in,
                            const struct listing_entry *e, uint64_t until)
{
    struct stat st;

    pthread_mutex_lock(&in->lock);
    if (in->writer) {
        pthread_mutex_unlock(&in->lock);
        return;
    }
    if (!(in->meta_known && e->etag && strcmp(in->etag, e->etag) == 0) &&
        !(e->type == S_IFDIR && in->meta_known)) {
        meta_from_listing(fs, e, &st);
        do_ops_set_attr(fs, in, &st, e->etag, false);
    }
    /* A listing vouches only for what it shows: not for metadata. */
    if (!in->meta_known && in->attr_until_ms < until)
        in->attr_until_ms = until;
    pthread_mutex_unlock(&in->lock);
}

/*
 * A listing says nothing of user metadata (mode, owner, mtime, symlinks).
 * In directories of up to dir_meta_max entries every object is looked at
 * with a HEAD when the directory is opened (in parallel), so s3fs's
 * attributes show; in larger ones objects are taken as plain files with
 * default attributes, so `ls -l` of a big dataset costs a few LISTs.
 */
#define OPS_HEAD_PARALLEL 32

/*
 * What we know of an entry's metadata: 1 this version's, from a HEAD and
 * still fresh (directories: ever); -1 known once but stale, so only a HEAD
 * can tell whether it changed (a chmod keeps the ETag); 0 nothing.
 */
static int ops_entry_state(struct fs *fs, const char *path,
                           const struct listing_entry *e)
{
    struct inode *in = inode_find(fs->inodes, path);
    int state = 0;

    if (in) {
        pthread_mutex_lock(&in->lock);
        if (in->meta_known && e->type == S_IFDIR && S_ISDIR(in->attr.st_mode))
            state = 1;
        else if (in->meta_known && e->type == S_IFREG && e->etag &&
                 !strcmp(in->etag, e->etag))
            state = ops_fresh(in) ? 1 : -1;
        pthread_mutex_unlock(&in->lock);
        inode_put(fs->inodes, in);
    }
    return state;
}

static bool ops_entry_needs_head(struct fs *fs, const char *path,
                                 const struct listing_entry *e, size_t count)
{
    int state = ops_entry_state(fs, path, e);

    return state < 0 || (state == 0 && count <= (size_t)fs->conf.dir_meta_max);
}

/*
 * The inode for path at this version. An inode is one version of a
 * file: when the object changed, the path gets a new inode, so the page
 * cache and the open handles of the old version never see new bytes.
 */
static struct inode *ops_obtain_version(struct fs *fs, const char *path,
                                        mode_t type, const char *etag,
                                        bool link_ok)
{
    struct inode *in = inode_find(fs->inodes, path);
    bool stale = false, keep = false;

    if (in) {
        pthread_mutex_lock(&in->lock);
        stale = !in->writer && in->etag[0] && etag && etag[0] &&
                !S_ISDIR(in->attr.st_mode) && strcmp(in->etag, etag) != 0;
        /* A listing cannot tell a symlink from a file: keep what a HEAD
         * of the same version told us. */
        keep = !stale && ((in->attr.st_mode & S_IFMT) == type ||
                          (link_ok && S_ISLNK(in->attr.st_mode)));
        pthread_mutex_unlock(&in->lock);
        if (keep)
            return in;
        inode_put(fs->inodes, in);
        if (stale)
            inode_unlink(fs->inodes, path);
    }
    return inode_obtain(fs->inodes, path, type);
}

/* The inode for a listing entry. */
static struct inode *ops_obtain_for_entry(struct fs *fs, const char *path,
                                          const struct listing_entry *e)
{
    return ops_obtain_version(fs, path, e->type, e->etag, e->type == S_IFREG);
}

/* Looks name up in a fresh cached listing: 1 found, 0 absent, -1 no
 * fresh listing. On 1, *in is a referenced inode. */
static int ops_lookup_cached(struct fs *fs, struct inode *parent,
                             const char *path, const char *name,
                             struct inode **in)
{
    const struct listing_entry *e;
    struct listing_entry copy;
    uint64_t until;
    size_t count;

    pthread_mutex_lock(&parent->lock);
    if (!parent->listing || monotime_ms() - parent->listing->fetched_ms >=
                                fs->conf.attr_timeout_ms) {
        pthread_mutex_unlock(&parent->lock);
        return -1;
    }
    e = listing_find(parent->listing, name);
    if (!e) {
        pthread_mutex_unlock(&parent->lock);
        return 0;
    }
    copy = *e;
    copy.name = xstrdup(e->name);
    copy.etag = e->etag ? xstrdup(e->etag) : NULL;
    until = parent->listing->fetched_ms + fs->conf.attr_timeout_ms;
    count = parent->listing->count;
    pthread_mutex_unlock(&parent->lock);
    if (ops_entry_needs_head(fs, path, &copy, count)) {
        free(copy.name);
        free(copy.etag);
        return -1;
    }
    *in = ops_obtain_for_entry(fs, path, &copy);
    ops_apply_entry(fs, *in, &copy, until);
    free(copy.name);
    free(copy.etag);
    return 1;
}

bool ops_name_ok(const char *name, int *rc)
{
    size_t n = strlen(name);

    if (n > 255) {
        *rc = -ENAMETOOLONG;
        return false;
    }
    if (!listing_name_ok(name, n)) {
        *rc = -EINVAL;
        return false;
    }
    return true;
}

int ops_may_change(struct fs *fs, const char *path, unsigned actions)
{
    char *key;
    bool ok = false;
    unsigned bit;

    if (fs->conf.read_only)
        return -EROFS;
    if (!fs->cluster)
        return 0;
    key = fs_key(fs, path);
    for (bit = 1; bit <= actions && !ok; bit <<= 1)
        ok = (actions & bit) && cluster_allows(fs->cluster, bit, key);
    free(key);
    return ok ? 0 : -EACCES;
}

int ops_child_path(struct fs *fs, struct inode *parent, const char *name,
                   char **dir, char **path)
{
    int rc = 0;

    *dir = *path = NULL;
    if (!parent || !(*dir = inode_path(fs->inodes, parent)))
        return -ENOENT;
    if (fs->conf.read_only)
        return -EROFS;
    if (!ops_name_ok(name, &rc))
        return rc;
    *path = inode_join(*dir, name);
    rc = ops_may_change(fs, *path, TOKEN_ACT_WRITE | TOKEN_ACT_DELETE);
    if (rc) {
        free(*path);
        *path = NULL;
    }
    return rc;
}

static int ops_refresh(struct fs *fs, struct inode *in);

/* The type a fresh listing of parent gives name, or 0. */
static mode_t ops_listed_type(struct fs *fs, struct inode *parent,
                              const char *name)
{
    const struct listing_entry *e;
    mode_t type = 0;

    pthread_mutex_lock(&parent->lock);
    if (parent->listing && monotime_ms() - parent->listing->fetched_ms <
                               fs->conf.attr_timeout_ms) {
        e = listing_find(parent->listing, name);
        type = e ? e->type : 0;
    }
    pthread_mutex_unlock(&parent->lock);
    return type;
}

/* Resolves parent/name to a referenced inode; 0 or -errno. */
int ops_find_child(struct fs *fs, struct inode *parent, const char *name,
                   struct inode **out)
{
    char *dir = inode_path(fs->inodes, parent), *path = NULL;
    struct ops_found f;
    struct inode *in;
    int rc = 0;

    *out = NULL;
    if (!dir)
        return -ENOENT;
    if (!ops_name_ok(name, &rc))
        goto out;
    path = inode_join(dir, name);
    in = inode_find(fs->inodes, path);
    if (in) {
        bool ok, file;

        pthread_mutex_lock(&in->lock);
        ok = in->writer || ops_fresh(in);
        file = S_ISREG(in->attr.st_mode);
        pthread_mutex_unlock(&in->lock);
        /* Same version (a HEAD says so), or changed or gone: then the
         * name is resolved afresh below. */
        if (!ok && file && ops_head_revalidates(parent)) {
            rc = ops_refresh(fs, in);
            ok = rc == 0;
            if (rc && ops_transport_error(rc)) {
                inode_put(fs->inodes, in);
                goto out;
            }
            rc = 0;
        }
        if (ok) {
            *out = in;
            goto out;
        }
        inode_put(fs->inodes, in);
    }
    rc = ops_lookup_cached(fs, parent, path, name, out);
    /* One LIST answers the lookups of a whole directory: far cheaper
     * than a HEAD per name when many files are opened. */
    if (rc < 0) {
        int lr = ops_listing(fs, parent, dir, false, OPS_LOOKUP_LIST_MAX);

        if (lr == 0)
            rc = ops_lookup_cached(fs, parent, path, name, out);
        else if (ops_transport_error(lr)) {
            rc = lr; /* S3 is unreachable: a HEAD would only wait again */
            goto out;
        }
    }
    if (rc >= 0) {
        rc = rc ? 0 : -ENOENT;
        goto out;
    }
    rc = ops_listed_type(fs, parent, name) == S_IFDIR
             ? ops_resolve_dir(fs, path, &f)
             : ops_resolve(fs, path, &f);
    if (rc)
        goto out;
    in = ops_obtain_version(fs, path, f.st.st_mode & S_IFMT, f.etag, false);
    pthread_mutex_lock(&in->lock);
    if (!in->writer) {
        do_ops_set_attr(fs, in, &f.st, f.etag, true);
        in->implicit_dir = f.implicit;
    }
    pthread_mutex_unlock(&in->lock);
    *out = in;
out:
    free(dir);
    free(path);
    return rc;
}

/* --- attributes ---------------------------------------------------------- */

static void ops_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = ops_fs(req);
    struct inode *p = inode_get(fs->inodes, parent), *in;
    int rc;

    if (!p) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    rc = ops_find_child(fs, p, name, &in);
    if (rc == -ENOENT)
        ops_reply_negative(req, fs);
    else if (rc)
        ops_reply_err(req, rc);
    else
        ops_reply_entry(req, fs, in);
    inode_put(fs->inodes, in);
    inode_put(fs->inodes, p);
}

static void ops_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    inode_forget(ops_fs(req)->inodes, ino, nlookup);
    fuse_reply_none(req);
}

static void ops_forget_multi(fuse_req_t req, size_t count,
                             struct fuse_forget_data *forgets)
{
    struct fs *fs = ops_fs(req);
    size_t i;

    for (i = 0; i < count; i++)
        inode_forget(fs->inodes, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

/*
 * Revalidates a file whose attributes came from a listing through its
 * directory's listing again (one LIST for all its files instead of a HEAD
 * each): 0 same version (trusted again), -ESTALE another version, 1 the
 * listing cannot tell (use a HEAD).
 */
static int ops_revalidate_listed(struct fs *fs, struct inode *in,
                                 const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
    const char *name = slash ? slash + 1 : path;
    const struct listing_entry *e;
    struct inode *d = inode_find(fs->inodes, dir);
    uint64_t until = 0;
    int rc = 1;

    if (d && !ops_head_revalidates(d) &&
        ops_listing(fs, d, dir, false, OPS_LOOKUP_LIST_MAX) == 0) {
        pthread_mutex_lock(&d->lock);
        e = d->listing ? listing_find(d->listing, name) : NULL;
        if (e && e->type == S_IFREG && e->etag) {
            pthread_mutex_lock(&in->lock);
            /* Metadata learnt from a HEAD is revalidated by a HEAD: a
             * chmod elsewhere keeps the ETag and shows only there. */
            if (in->meta_known) {
                pthread_mutex_unlock(&in->lock);
                pthread_mutex_unlock(&d->lock);
                goto out;
            }
            rc = strcmp(e->etag, in->etag) == 0 ? 0 : -ESTALE;
            until = d->listing->fetched_ms + fs->conf.attr_timeout_ms;
            if (rc == 0 && in->attr_until_ms < until)
                in->attr_until_ms = until;
            pthread_mutex_unlock(&in->lock);
        }
        pthread_mutex_unlock(&d->lock);
    }
out:
    inode_put(fs->inodes, d);
    free(dir);
    return rc;
}

/*
 * Re-reads a file's attributes from S3 when they are stale. Returns
 * -ESTALE when the object is now another version (or kind): the inode
 * keeps describing the old one, loses its path, and the kernel, told
 * ESTALE, looks the name up again and gets a new inode.
 */
static int ops_refresh(struct fs *fs, struct inode *in)
{
    struct s3_object_meta m;
    char *path, *key;
    struct stat st;
    bool need, same;
    int rc;

    pthread_mutex_lock(&in->lock);
    need = !in->writer && !ops_fresh(in) && !S_ISDIR(in->attr.st_mode);
    pthread_mutex_unlock(&in->lock);
    if (!need)
        return 0;
    path = inode_path(fs->inodes, in);
    if (!path)
        return 0; /* unlinked while open: what we have is all there is */
    rc = ops_revalidate_listed(fs, in, path);
    if (rc != 1) {
        if (rc == -ESTALE) {
            inode_unlink(fs->inodes, path);
            ops_dir_changed(fs, path);
        }
        free(path);
        return rc;
    }
    key = fs_key(fs, path);
    rc = remote_head(&fs->remote, key, &m, NULL);
    if (rc == 0) {
        meta_from_object(fs, &m, S_IFREG, &st);
        pthread_mutex_lock(&in->lock);
        same = (st.st_mode & S_IFMT) == (in->attr.st_mode & S_IFMT) &&
               (!in->etag[0] || strcmp(in->etag, m.etag) == 0);
        if (same)
            do_ops_set_attr(fs, in, &st, m.etag, true);
        pthread_mutex_unlock(&in->lock);
        s3_object_meta_fini(&m);
        if (!same) {
            inode_unlink(fs->inodes, path);
            ops_dir_changed(fs, path);
            rc = -ESTALE;
        }
    }
    free(key);
    free(path);
    return rc;
}

static void ops_getattr(fuse_req_t req, fuse_ino_t ino,
                        struct fuse_file_info *fi)
{
    struct fs *fs = ops_fs(req);
    struct inode *in = inode_get(fs->inodes, ino);
    struct stat st;
    int rc;

    if (!in) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    rc = ops_refresh(fs, in);
    /* fstat() of an open old version keeps its attributes; stat() of a
     * path is retried by the kernel after ESTALE with a fresh lookup. */
    if (rc == -ESTALE && fi)
        rc = 0;
    if (rc && ops_transport_error(rc))
        rc = 0; /* S3 unreachable: what we know is the best answer */
    if (rc) {
        fuse_reply_err(req, rc == -ESTALE ? ESTALE : ops_errno(rc));
    } else {
        ops_get_attr(in, &st);
        fuse_reply_attr(req, &st, ops_sec(fs->conf.attr_timeout_ms));
    }
    inode_put(fs->inodes, in);
}

/* Writes changed metadata of an object that is not open for writing. */
static int ops_store_meta(struct fs *fs, const char *path,
                          const struct stat *st, char *etag)
{
    char *key = S_ISDIR(st->st_mode) ? fs_dir_key(fs, path) : fs_key(fs, path);
    struct s3_object_meta m;
    struct meta_put mp;
    char *new_etag = NULL;
    int rc;

    meta_put_init(&mp, st);
    if (S_ISDIR(st->st_mode)) {
        /* A marker carries a directory's attributes; make one if needed. */
        struct s3_body none = {.kind = S3_BODY_NONE};
        rc = remote_put(&fs->remote, key, &none, &mp.opts, NULL, NULL);
        goto out;
    }
    rc = remote_head(&fs->remote, key, &m, NULL);
    if (rc)
        goto out;
    if (m.content_type[0])
        mp.opts.content_type = m.content_type;
    rc = remote_copy(&fs->remote, key, key, (uint64_t)m.size, &mp.opts, m.etag,
                     &new_etag, NULL);
    if (rc == 0 && new_etag)
        snprintf(etag, 128, "%s", new_etag);
    s3_object_meta_fini(&m);
out:
    free(new_etag);
    free(key);
    return rc;
}

static void ops_apply_setattr(fuse_req_t req, struct stat *st,
                              const struct stat *attr, int to_set)
{
    struct timespec now;

    ops_now(&now);
    if (to_set & FUSE_SET_ATTR_MODE)
        st->st_mode = (st->st_mode & S_IFMT) | (attr->st_mode & 07777);
    if (to_set & FUSE_SET_ATTR_UID)
        st->st_uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID)
        st->st_gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
        st->st_mtim = now;
    else if (to_set & FUSE_SET_ATTR_MTIME)
        st->st_mtim = attr->st_mtim;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW)
        st->st_atim = now;
    else if (to_set & FUSE_SET_ATTR_ATIME)
        st->st_atim = attr->st_atim;
    st->st_ctim = now;
    /* Stored times have whole seconds: say so now, not after a reload. */
    st->st_mtim.tv_nsec = 0;
    st->st_atim.tv_nsec = 0;
}

/* truncate(2) of a file nobody has open for writing. */
static int ops_truncate_closed(struct fs *fs, struct inode *in,
                               const char *path, uint64_t size)
{
    char *key = fs_key(fs, path);
    struct writer *w;
    struct stat st;
    char etag[128];
    int rc;

    pthread_mutex_lock(&in->lock);
    st = in->attr;
    snprintf(etag, sizeof(etag), "%s", in->etag);
    pthread_mutex_unlock(&in->lock);
    w = writer_new(fs, key, etag, (uint64_t)st.st_size, &rc);
    if (w) {
        rc = writer_truncate(w, size);
        st.st_size = (off_t)size;
        rc = rc ?: writer_flush(w, key, &st, etag);
        writer_free(w);
    }
    if (rc == 0) {
        pthread_mutex_lock(&in->lock);
        in->attr.st_size = (off_t)size;
        in->attr.st_blocks = ((off_t)size + 511) / 512;
        snprintf(in->etag, sizeof(in->etag), "%s", etag);
        pthread_mutex_unlock(&in->lock);
    }
    free(key);
    return rc;
}

static void ops_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                        int to_set, struct fuse_file_info *fi)
{
    struct fs *fs = ops_fs(req);
    struct inode *in = inode_get(fs->inodes, ino);
    char *path = NULL, etag[128] = "";
    struct writer *w;
    struct stat st;
    int rc = 0;

    if (!in) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    path = inode_path(fs->inodes, in);
    rc = path ? ops_may_change(fs, path, TOKEN_ACT_WRITE) : -ENOENT;
    if (rc)
        goto out;
    pthread_mutex_lock(&in->lock);
    w = in->writer;
    pthread_mutex_unlock(&in->lock);
    if (to_set & FUSE_SET_ATTR_SIZE) {
        if (w)
            rc = writer_truncate(w, (uint64_t)attr->st_size);
        else if (path)
            rc = ops_truncate_closed(fs, in, path, (uint64_t)attr->st_size);
        if (rc)
            goto out;
    }
    if (!(to_set & ~FUSE_SET_ATTR_SIZE))
        goto reply;
    pthread_mutex_lock(&in->lock);
    st = in->attr;
    ops_apply_setattr(req, &st, attr, to_set);
    if (in->writer) {
        /* The upload at close (or at release) carries them. Marked under
         * the inode lock, so a release detaching the writer sees it. */
        do_ops_set_attr(fs, in, &st, NULL, true);
        writer_mark_dirty(in->writer);
        pthread_mutex_unlock(&in->lock);
        goto reply;
    }
    pthread_mutex_unlock(&in->lock);
    if (path)
        rc = ops_store_meta(fs, path, &st, etag);
    if (rc)
        goto out;
    pthread_mutex_lock(&in->lock);
    st.st_size = in->attr.st_size;
    st.st_blocks = in->attr.st_blocks;
    do_ops_set_attr(fs, in, &st, etag[0] ? etag : NULL, true);
    pthread_mutex_unlock(&in->lock);
reply:
    ops_get_attr(in, &st);
    fuse_reply_attr(req, &st, ops_sec(fs->conf.attr_timeout_ms));
    free(path);
    inode_put(fs->inodes, in);
    return;
out:
    ops_reply_err(req, rc);
    free(path);
    inode_put(fs->inodes, in);
}

/* --- files --------------------------------------------------------------- */

/* Gives in a writer (or shares its existing one); in->lock held. */
static int do_ops_attach_writer(struct fs *fs, struct inode *in,
                                const char *path, bool truncate)
{
    char *key;
    int rc = 0;

    if (!in->writer) {
        key = fs_key(fs, path);
        in->writer = writer_new(fs, key, in->etag[0] ? in->etag : NULL,
                                (uint64_t)in->attr.st_size, &rc);
        free(key);
        if (!in->writer)
            return rc;
    }
    if (truncate && writer_size(in->writer) > 0) {
        rc = writer_truncate(in->writer, 0);
        in->attr.st_size = 0;
    }
    if (rc == 0) {
        in->open_writers++;
        writer_set_attr(in->writer, &in->attr);
    }
    return rc;
}

static struct handle *ops_handle_new(struct inode *in)
{
    struct handle *h = xcalloc(1, sizeof(*h));

    h->in = in;
    return h;
}

static void ops_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = ops_fs(req);
    struct inode *in = inode_get(fs->inodes, ino);
    bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
    char *path = NULL, *key = NULL;
    struct handle *h;
    int rc;

    if (!in) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    path = inode_path(fs->inodes, in);
    if (!path) {
        rc = -ENOENT;
        goto fail;
    }
    if (writing && (rc = ops_may_change(fs, path, TOKEN_ACT_WRITE)))
        goto fail;
    /* Close-to-open: a new open sees the latest version. */
    rc = ops_refresh(fs, in);
    if (rc && ops_transport_error(rc) && in->etag[0] && !writing) {
        log_warnx("%s: S3 unreachable, opening the cached version", path);
        rc = 0;
    }
    if (rc)
        goto fail;
    h = ops_handle_new(in);
    key = fs_key(fs, path);
    pthread_mutex_lock(&in->lock);
    if (writing)
        rc = do_ops_attach_writer(fs, in, path, fi->flags & O_TRUNC);
    h->writing = writing && rc == 0;
    if (rc == 0)
        in->open_handles++;
    reader_file_init(&h->rf, key, in->etag, (uint64_t)in->attr.st_size);
    /* A read-only handle of a version nobody writes may fill the kernel's
     * page cache with whole chunks. */
    if (fs->conf.page_fill && !writing && !in->writer && in->etag[0])
        h->rf.ino = in->ino;
    /* The page cache stays valid while the object is the same version. */
    fi->keep_cache = !writing && !in->writer && in->etag[0] &&
                     strcmp(in->open_etag, in->etag) == 0;
    if (!writing && !in->writer)
        snprintf(in->open_etag, sizeof(in->open_etag), "%s", in->etag);
    else
        in->open_etag[0] = '\0';
    pthread_mutex_unlock(&in->lock);
    if (rc) {
        reader_file_fini(&h->rf);
        free(h);
        goto fail;
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    free(path);
    free(key);
    if (fuse_reply_open(req, fi) != 0)
        log_debug(LOG_SUB_FUSE, "open reply interrupted");
    return; /* the handle keeps the inode reference */
fail:
    free(path);
    free(key);
    fuse_reply_err(req, rc == -ESTALE ? ESTALE : ops_errno(rc));
    inode_put(fs->inodes, in);
}

static void ops_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                       mode_t mode, struct fuse_file_info *fi)
{
    struct fs *fs = ops_fs(req);
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct inode *p = inode_get(fs->inodes, parent), *in = NULL;
    char *dir = NULL, *path = NULL, *key = NULL;
    struct fuse_entry_param e;
    struct handle *h;
    struct stat st;
    int rc = 0;

    rc = ops_child_path(fs, p, name, &dir, &path);
    if (rc) {
        ops_reply_err(req, rc);
        goto out;
    }
    in = inode_obtain(fs->inodes, path, S_IFREG);
    memset(&st, 0, sizeof(st));
    st.st_mode = S_IFREG | (mode & 07777 & ~ctx->umask);
    st.st_nlink = 1;
    st.st_uid = ctx->uid;
    st.st_gid = ctx->gid;
    st.st_blksize = 1 << 20;
    ops_now(&st.st_mtim);
    st.st_mtim.tv_nsec = 0;
    st.st_ctim = st.st_atim = st.st_mtim;
    pthread_mutex_lock(&in->lock);
    in->etag[0] = '\0';
    in->attr.st_size = 0;
    do_ops_set_attr(fs, in, &st, "", true);
    rc = do_ops_attach_writer(fs, in, path, true);
    if (rc == 0) {
        writer_mark_dirty(in->writer); /* an empty file still exists */
        in->open_handles++;
    }
    pthread_mutex_unlock(&in->lock);
    if (rc) {
        ops_reply_err(req, rc);
        goto out;
    }
    ops_dir_changed(fs, path);
    h = ops_handle_new(in);
    h->writing = true;
    key = fs_key(fs, path);
    reader_file_init(&h->rf, key, "", 0);
    fi->fh = (uint64_t)(uintptr_t)h;
    ops_fill_entry(fs, in, &e);
    if (fuse_reply_create(req, &e, fi) != 0)
        inode_forget(fs->inodes, in->ino, 1);
    in = NULL; /* the handle keeps the reference */
out:
    inode_put(fs->inodes, in);
    inode_put(fs->inodes, p);
    free(dir);
    free(path);
    free(key);
}

static void ops_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    struct fs *fs = ops_fs(req);
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    struct writer *w;
    char *buf = xmalloc(size ? size : 1);
    ssize_t n;

    pthread_mutex_lock(&h->in->lock);
    w = h->in->writer;
    pthread_mutex_unlock(&h->in->lock);
    /* A file being written is read from its staging copy. */
    if (w)
        n = writer_read(w, buf, size, (uint64_t)off);
    else
        n = reader_read(fs->reader, &h->rf, buf, size, (uint64_t)off);
    if (n < 0)
        ops_reply_err(req, (int)n);
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

static void ops_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                      size_t size, off_t off, struct fuse_file_info *fi)
{
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    struct inode *in = h->in;
    struct timespec now;
    ssize_t n;

    if (!h->writing || !in->writer) {
        fuse_reply_err(req, EBADF);
        return;
    }
    n = writer_write(in->writer, buf, size, (uint64_t)off);
    if (n < 0) {
        ops_reply_err(req, (int)n);
        return;
    }
    ops_now(&now);
    pthread_mutex_lock(&in->lock);
    in->attr.st_mtime = now.tv_sec;
    in->attr.st_ctime = now.tv_sec;
    pthread_mutex_unlock(&in->lock);
    fuse_reply_write(req, (size_t)n);
}

/* Uploads in's staged contents when dirty; 0 or -errno. */
int ops_flush_inode(struct fs *fs, struct inode *in)
{
    char *path = inode_path(fs->inodes, in), *key;
    char etag[128] = "";
    struct writer *w;
    struct stat st;
    int rc;

    pthread_mutex_lock(&in->lock);
    w = in->writer;
    st = in->attr;
    pthread_mutex_unlock(&in->lock);
    if (!w || !path) {
        free(path);
        return 0; /* nothing staged, or unlinked: nothing to upload */
    }
    if (!writer_dirty(w)) {
        free(path);
        return 0;
    }
    key = fs_key(fs, path);
    st.st_size = (off_t)writer_size(w);
    rc = writer_flush(w, key, &st, etag);
    if (rc == 0) {
        pthread_mutex_lock(&in->lock);
        in->attr.st_size = st.st_size;
        in->attr.st_blocks = (st.st_size + 511) / 512;
        snprintf(in->etag, sizeof(in->etag), "%s", etag);
        in->meta_known = true;
        in->attr_until_ms = monotime_ms() + fs->conf.attr_timeout_ms;
        pthread_mutex_unlock(&in->lock);
        ops_dir_changed(fs, path);
    }
    free(key);
    free(path);
    return rc;
}

static void ops_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    int rc = h->writing ? ops_flush_inode(ops_fs(req), h->in) : 0;

    fuse_reply_err(req, rc ? ops_errno(rc) : 0);
}

static void ops_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                      struct fuse_file_info *fi)
{
    ops_flush(req, ino, fi);
}

/* Uploads a writer already taken off its inode (release). */
static void ops_flush_detached(struct fs *fs, struct inode *in,
                               struct writer *w, struct stat *st)
{
    char *path = inode_path(fs->inodes, in), *key;
    char etag[128] = "";

    if (!path)
        return; /* unlinked: nothing to upload */
    key = fs_key(fs, path);
    st->st_size = (off_t)writer_size(w);
    if (writer_flush(w, key, st, etag) == 0) {
        pthread_mutex_lock(&in->lock);
        snprintf(in->etag, sizeof(in->etag), "%s", etag);
        pthread_mutex_unlock(&in->lock);
        ops_dir_changed(fs, path);
    } else {
        log_warnx("%s: upload at release failed, changes lost", path);
    }
    free(key);
    free(path);
}

static void ops_release(fuse_req_t req, fuse_ino_t ino,
                        struct fuse_file_info *fi)
{
    struct fs *fs = ops_fs(req);
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    struct inode *in = h->in;
    struct writer *w = NULL;
    struct stat st;
    int rc = 0;

    if (h->writing) {
        rc = ops_flush_inode(fs, in);
        if (rc)
            log_warnx("upload at close failed, changes lost: %s",
                      strerror(ops_errno(rc)));
    }
    pthread_mutex_lock(&in->lock);
    if (h->writing)
        in->open_writers--;
    /* The staged copy lives as long as any handle can see it. */
    if (--in->open_handles == 0) {
        w = in->writer;
        in->writer = NULL;
        st = in->attr;
    }
    pthread_mutex_unlock(&in->lock);
    /* A chmod or utimens that came after close() but before this release
     * marked it dirty: upload it before it goes. */
    if (w && writer_dirty(w))
        ops_flush_detached(fs, in, w, &st);
    writer_free(w);
    reader_file_fini(&h->rf);
    free(h);
    fuse_reply_err(req, 0);
    inode_put(fs->inodes, in);
}

/* --- directories --------------------------------------------------------- */

struct ops_local_ctx {
    struct listing *l;
    size_t cap;
};

/* Adds files created here but not uploaded yet to a listing snapshot. */
static void ops_add_local(struct inode *in, void *arg)
{
    struct ops_local_ctx *c = arg;
    const char *name = strrchr(in->path, '/');
    struct listing_entry *e;

    name = name ? name + 1 : in->path;
    if (!in->writer || listing_find(c->l, name))
        return;
    if (c->l->count == c->cap || c->cap == 0) {
        c->cap = (c->l->count + 1) * 2;
        c->l->entries =
            xrealloc(c->l->entries, c->cap * sizeof(*c->l->entries));
    }
    e = &c->l->entries[c->l->count++];
    memset(e, 0, sizeof(*e));
    e->name = xstrdup(name);
    e->type = S_IFREG;
}

static struct listing *ops_listing_copy(const struct listing *src)
{
    struct listing *l = xcalloc(1, sizeof(*l));
    size_t i;

    l->count = src->count;
    l->fetched_ms = src->fetched_ms;
    l->entries = xcalloc(src->count ? src->count : 1, sizeof(*l->entries));
    for (i = 0; i < src->count; i++) {
        l->entries[i] = src->entries[i];
        l->entries[i].name = xstrdup(src->entries[i].name);
        l->entries[i].etag =
            src->entries[i].etag ? xstrdup(src->entries[i].etag) : NULL;
    }
    return l;
}

/*
 * Records what a HEAD of a directory entry said: an object's metadata, a
 * directory marker's (m NULL: no marker, the directory is a prefix).
 */
static void ops_take_head(struct fs *fs, const char *path, mode_t type,
                          const struct s3_object_meta *m)
{
    struct inode *in;
    struct stat st;

    if (m)
        meta_from_object(fs, m, type, &st);
    else
        meta_implicit_dir(fs, &st);
    in = ops_obtain_version(fs, path, st.st_mode & S_IFMT,
                            m && type == S_IFREG ? m->etag : NULL, false);
    pthread_mutex_lock(&in->lock);
    if (!in->writer) {
        do_ops_set_attr(fs, in, &st, m && type == S_IFREG ? m->etag : NULL,
                        true);
        in->implicit_dir = type == S_IFDIR && !m;
    }
    pthread_mutex_unlock(&in->lock);
    inode_put(fs->inodes, in);
}

struct ops_head_slot {
    struct remote_req *req;
    char *path;
    mode_t type;
};

static void ops_head_reap(struct fs *fs, struct ops_head_slot *h)
{
    int rc;

    if (!h->req)
        return;
    rc = remote_req_wait(h->req);
    if (rc == 0)
        ops_take_head(fs, h->path, h->type, remote_req_meta(h->req));
    else if (rc == -ENOENT && h->type == S_IFDIR)
        ops_take_head(fs, h->path, S_IFDIR, NULL);
    remote_req_free(h->req);
    free(h->path);
    h->req = NULL;
    h->path = NULL;
}

/*
 * HEADs the objects and directory markers of a small directory whose
 * metadata we lack, many at once, so readdirplus gives real attributes.
 */
static void ops_head_entries(struct fs *fs, const char *dir,
                             const struct listing *l)
{
    struct ops_head_slot slots[OPS_HEAD_PARALLEL];
    size_t i, k, n = 0;

    if (l->count > (size_t)fs->conf.dir_meta_max)
        return;
    memset(slots, 0, sizeof(slots));
    for (i = 0; i < l->count; i++) {
        const struct listing_entry *e = &l->entries[i];
        char *path = inode_join(dir, e->name), *key;

        if (!ops_entry_needs_head(fs, path, e, l->count)) {
            free(path);
            continue;
        }
        k = n++ % OPS_HEAD_PARALLEL;
        ops_head_reap(fs, &slots[k]);
        key = e->type == S_IFDIR ? fs_dir_key(fs, path) : fs_key(fs, path);
        slots[k].req = remote_head_start(&fs->remote, key);
        slots[k].path = path;
        slots[k].type = e->type;
        free(key);
    }
    for (k = 0; k < OPS_HEAD_PARALLEL; k++)
        ops_head_reap(fs, &slots[k]);
}

static void ops_opendir(fuse_req_t req, fuse_ino_t ino,
                        struct fuse_file_info *fi)
{
    struct fs *fs = ops_fs(req);
    struct inode *in = inode_get(fs->inodes, ino);
    struct ops_local_ctx c = {0};
    struct dir_handle *d;
    char *path;
    int rc;

    if (!in) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    path = inode_path(fs->inodes, in);
    rc = path ? ops_listing(fs, in, path, false, 0) : -ENOENT;
    if (rc) {
        ops_reply_err(req, rc);
        free(path);
        inode_put(fs->inodes, in);
        return;
    }
    d = xcalloc(1, sizeof(*d));
    d->path = path;
    pthread_mutex_lock(&in->lock);
    d->l = ops_listing_copy(in->listing);
    pthread_mutex_unlock(&in->lock);
    ops_head_entries(fs, path, d->l);
    c.l = d->l;
    c.cap = d->l->count;
    inode_each_child(fs->inodes, path, ops_add_local, &c);
    fi->fh = (uint64_t)(uintptr_t)d;
    fi->cache_readdir = 0;
    fuse_reply_open(req, fi);
    inode_put(fs->inodes, in);
}

/* Adds one entry; returns its size in buf, or 0 when it did not fit. */
static size_t ops_add_dirent(fuse_req_t req, struct fs *fs,
                             struct dir_handle *d, char *buf, size_t rem,
                             size_t idx, bool plus)
{
    const struct listing_entry *e = &d->l->entries[idx - 2];
    struct fuse_entry_param ep;
    struct inode *in;
    char *path;
    size_t n;

    memset(&ep, 0, sizeof(ep));
    if (!plus) {
        ep.attr.st_mode = e->type;
        ep.attr.st_ino = 0xffffffff; /* readdir(3) skips d_ino 0 */
        return fuse_add_direntry(req, buf, rem, e->name, &ep.attr,
                                 (off_t)idx + 1);
    }
    path = inode_join(d->path, e->name);
    if (ops_entry_needs_head(fs, path, e, d->l->count)) {
        /* No attributes: the kernel will look it up (and we HEAD it). */
        free(path);
        ep.attr.st_mode = e->type;
        ep.attr.st_ino = 0xffffffff; /* readdir(3) skips d_ino 0 */
        return fuse_add_direntry_plus(req, buf, rem, e->name, &ep,
                                      (off_t)idx + 1);
    }
    in = ops_obtain_for_entry(fs, path, e);
    free(path);
    ops_apply_entry(fs, in, e, d->l->fetched_ms + fs->conf.attr_timeout_ms);
    ep.ino = in->ino;
    ops_get_attr(in, &ep.attr);
    ep.attr_timeout = ops_sec(fs->conf.attr_timeout_ms);
    ep.entry_timeout = ops_sec(fs->conf.entry_timeout_ms);
    n = fuse_add_direntry_plus(req, buf, rem, e->name, &ep, (off_t)idx + 1);
    if (n <= rem)
        inode_lookup_inc(fs->inodes, in); /* the kernel now holds it */
    inode_put(fs->inodes, in);
    return n;
}

static void ops_do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
                           off_t off, struct fuse_file_info *fi, bool plus)
{
    struct fs *fs = ops_fs(req);
    struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
    char *buf = xcalloc(1, size ? size : 1);
    size_t pos = 0, idx;

    for (idx = (size_t)off; idx < d->l->count + 2; idx++) {
        size_t n;

        if (idx < 2) {
            struct fuse_entry_param ep;

            memset(&ep, 0, sizeof(ep));
            ep.attr.st_mode = S_IFDIR;
            ep.attr.st_ino = idx == 0 ? ino : FUSE_ROOT_ID;
            n = plus ? fuse_add_direntry_plus(req, buf + pos, size - pos,
                                              idx ? ".." : ".", &ep,
                                              (off_t)idx + 1)
                     : fuse_add_direntry(req, buf + pos, size - pos,
                                         idx ? ".." : ".", &ep.attr,
                                         (off_t)idx + 1);
        } else {
            n = ops_add_dirent(req, fs, d, buf + pos, size - pos, idx, plus);
        }
        if (n > size - pos)
            break;
        pos += n;
    }
    fuse_reply_buf(req, buf, pos);
    free(buf);
}

static void ops_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
    ops_do_readdir(req, ino, size, off, fi, false);
}

static void ops_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
                            off_t off, struct fuse_file_info *fi)
{
    ops_do_readdir(req, ino, size, off, fi, true);
}

static void ops_releasedir(fuse_req_t req, fuse_ino_t ino,
                           struct fuse_file_info *fi)
{
    struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;

    listing_free(d->l);
    free(d->path);
    free(d);
    fuse_reply_err(req, 0);
}

static void ops_init(void *userdata, struct fuse_conn_info *conn)
{
    struct fs *fs = userdata;
    unsigned want = FUSE_CAP_ASYNC_READ | FUSE_CAP_READDIRPLUS |
                    FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_PARALLEL_DIROPS |
                    FUSE_CAP_ATOMIC_O_TRUNC;

    /*
     * With the write-back cache the kernel keeps its own size and times of
     * a regular file as long as it holds the inode, so an object changed
     * behind the mount would keep its old size: only on request, for
     * buckets nothing else writes. It turns small writes into 1 MiB ones.
     */
    if (fs->conf.writeback_cache)
        want |= FUSE_CAP_WRITEBACK_CACHE;
    conn->want |= want & conn->capable;
    /* Every readdir returns attributes: they come free with LIST. */
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    if (!fs->conf.writeback_cache)
        conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    conn->max_write = 1u << 20;
    conn->max_read = 1u << 20;
    conn->max_background = (unsigned)fs->conf.max_background;
    conn->congestion_threshold = conn->max_background * 3 / 4;
    conn->time_gran = 1000000000; /* times are stored in whole seconds */
}

static const struct fuse_lowlevel_ops ops = {
    .init = ops_init,
    .lookup = ops_lookup,
    .forget = ops_forget,
    .forget_multi = ops_forget_multi,
    .getattr = ops_getattr,
    .setattr = ops_setattr,
    .readlink = ops_readlink,
    .mknod = ops_mknod,
    .mkdir = ops_mkdir,
    .unlink = ops_unlink,
    .rmdir = ops_rmdir,
    .symlink = ops_symlink,
    .rename = ops_rename,
    .link = ops_link,
    .open = ops_open,
    .read = ops_read,
    .write = ops_write,
    .flush = ops_flush,
    .release = ops_release,
    .fsync = ops_fsync,
    .opendir = ops_opendir,
    .readdir = ops_readdir,
    .readdirplus = ops_readdirplus,
    .releasedir = ops_releasedir,
    .statfs = ops_statfs,
    .create = ops_create,
};

const struct fuse_lowlevel_ops *ops_table(void)
{
    return &ops;
}
