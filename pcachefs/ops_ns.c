/* SPDX-License-Identifier: MIT */
/*
 * ops_ns.c: FUSE operations that change the namespace: mkdir, rmdir,
 * unlink, symlink, readlink, rename, plus link/mknod (refused) and statfs.
 *
 * S3 has no directories and no rename: a directory is a prefix (and maybe
 * a "dir/" marker object), and a rename is a server-side copy of every key
 * followed by deleting the originals, only once all copies exist.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/s3.h"
#include "common/token.h"
#include "pcachefs/fs.h"
#include "pcachefs/inode.h"
#include "pcachefs/listing.h"
#include "pcachefs/meta.h"
#include "pcachefs/remote.h"
#include "pcachefs/ops_int.h"
#include "pcachefs/writer.h"

#define OPS_DELETE_BATCH 1000

void ops_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct fs *fs = ops_fs(req);
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct inode *p = inode_get(fs->inodes, parent), *in = NULL;
    char *dir = NULL, *path = NULL;
    struct s3_body none = {.kind = S3_BODY_NONE};
    struct meta_put mp;
    struct stat st;
    char *key = NULL;
    int rc = 0;

    rc = ops_child_path(fs, p, name, &dir, &path);
    if (rc) {
        ops_reply_err(req, rc);
        goto out;
    }
    rc = ops_find_child(fs, p, name, &in);
    if (rc == 0) {
        ops_reply_err(req, -EEXIST);
        goto out;
    }
    memset(&st, 0, sizeof(st));
    st.st_mode = S_IFDIR | (mode & 07777 & ~ctx->umask);
    st.st_nlink = 2;
    st.st_uid = ctx->uid;
    st.st_gid = ctx->gid;
    st.st_mtime = st.st_ctime = st.st_atime = time(NULL);
    meta_put_init(&mp, &st);
    key = fs_dir_key(fs, path);
    rc = remote_put(&fs->remote, key, &none, &mp.opts, NULL, NULL);
    if (rc) {
        ops_reply_err(req, rc);
        goto out;
    }
    in = inode_obtain(fs->inodes, path, S_IFDIR);
    pthread_mutex_lock(&in->lock);
    do_ops_set_attr(fs, in, &st, NULL, true);
    in->implicit_dir = false;
    pthread_mutex_unlock(&in->lock);
    ops_dir_changed(fs, path);
    ops_reply_entry(req, fs, in);
out:
    inode_put(fs->inodes, in);
    inode_put(fs->inodes, p);
    free(dir);
    free(path);
    free(key);
}

struct ops_busy_ctx {
    bool busy;
};

static void ops_note_busy(struct inode *in, void *arg)
{
    if (in->writer)
        ((struct ops_busy_ctx *)arg)->busy = true;
}

void ops_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = ops_fs(req);
    struct inode *p = inode_get(fs->inodes, parent);
    char *dir = NULL, *path = NULL;
    struct ops_busy_ctx busy = {false};
    char *dkey = NULL;
    bool marker;
    int rc = 0;

    rc = ops_child_path(fs, p, name, &dir, &path);
    if (rc)
        goto out;
    dkey = fs_dir_key(fs, path);
    rc = ops_has_children(fs, dkey, &marker);
    inode_each_child(fs->inodes, path, ops_note_busy, &busy);
    if (rc == 1 || busy.busy) {
        rc = -ENOTEMPTY;
        goto out;
    }
    if (rc < 0)
        goto out;
    if (!marker) {
        struct ops_found f;
        /* Nothing below and no marker: does it exist at all? */
        rc = ops_resolve(fs, path, &f);
        if (rc == 0 && !S_ISDIR(f.st.st_mode))
            rc = -ENOTDIR;
        if (rc)
            goto out;
    }
    rc = marker ? remote_delete(&fs->remote, dkey, NULL) : 0;
    if (rc == 0) {
        inode_unlink(fs->inodes, path);
        ops_dir_changed(fs, path);
    }
out:
    fuse_reply_err(req, rc ? ops_errno(rc) : 0);
    inode_put(fs->inodes, p);
    free(dir);
    free(path);
    free(dkey);
}

/* --- namespace changes --------------------------------------------------- */

void ops_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = ops_fs(req);
    struct inode *p = inode_get(fs->inodes, parent), *in = NULL;
    char *dir = NULL, *path = NULL;
    char *key = NULL;
    struct writer *w;
    bool local_only = false;
    int rc = 0;

    rc = ops_child_path(fs, p, name, &dir, &path);
    if (rc)
        goto out;
    rc = ops_find_child(fs, p, name, &in);
    if (rc)
        goto out;
    if (S_ISDIR(in->attr.st_mode)) {
        rc = -EISDIR;
        goto out;
    }
    pthread_mutex_lock(&in->lock);
    local_only = !in->etag[0];
    if (in->open_handles > 0 && !in->writer) {
        /* Open readers must go on reading after the object is gone. */
        char *k = fs_key(fs, path);
        in->writer =
            writer_new(fs, k, in->etag, (uint64_t)in->attr.st_size, &rc);
        free(k);
    }
    /* A release may free the inode's writer meanwhile: hold our own. */
    w = in->open_handles > 0 ? writer_ref(in->writer) : NULL;
    pthread_mutex_unlock(&in->lock);
    if (w)
        rc = writer_fill_all(w);
    writer_free(w);
    if (rc)
        goto out;
    key = fs_key(fs, path);
    rc = remote_delete(&fs->remote, key, NULL);
    if (rc == -ENOENT && local_only)
        rc = 0;
    if (rc == 0) {
        inode_unlink(fs->inodes, path);
        ops_dir_changed(fs, path);
    }
out:
    fuse_reply_err(req, rc ? ops_errno(rc) : 0);
    inode_put(fs->inodes, in);
    inode_put(fs->inodes, p);
    free(dir);
    free(path);
    free(key);
}

void ops_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                 const char *name)
{
    struct fs *fs = ops_fs(req);
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct inode *p = inode_get(fs->inodes, parent), *in = NULL;
    char *dir = NULL, *path = NULL;
    struct s3_body body = {
        .kind = S3_BODY_MEM, .data = link, .len = strlen(link)};
    char *key = NULL, *etag = NULL;
    struct meta_put mp;
    struct stat st;
    int rc = 0;

    rc = ops_child_path(fs, p, name, &dir, &path);
    if (rc == 0 && strlen(link) >= OPS_MAX_LINK)
        rc = -ENAMETOOLONG;
    if (rc) {
        ops_reply_err(req, rc);
        goto out;
    }
    memset(&st, 0, sizeof(st));
    st.st_mode = S_IFLNK | 0777;
    st.st_nlink = 1;
    st.st_uid = ctx->uid;
    st.st_gid = ctx->gid;
    st.st_size = (off_t)body.len;
    st.st_mtime = st.st_ctime = st.st_atime = time(NULL);
    meta_put_init(&mp, &st);
    key = fs_key(fs, path);
    rc = remote_put(&fs->remote, key, &body, &mp.opts, &etag, NULL);
    if (rc) {
        ops_reply_err(req, rc);
        goto out;
    }
    in = inode_obtain(fs->inodes, path, S_IFLNK);
    pthread_mutex_lock(&in->lock);
    do_ops_set_attr(fs, in, &st, etag, true);
    free(in->link_target);
    in->link_target = xstrdup(link);
    pthread_mutex_unlock(&in->lock);
    ops_dir_changed(fs, path);
    ops_reply_entry(req, fs, in);
out:
    inode_put(fs->inodes, in);
    inode_put(fs->inodes, p);
    free(dir);
    free(path);
    free(key);
    free(etag);
}

void ops_readlink(fuse_req_t req, fuse_ino_t ino)
{
    struct fs *fs = ops_fs(req);
    struct inode *in = inode_get(fs->inodes, ino);
    char *path = NULL, *key = NULL, *target = NULL;
    struct buf b;
    int rc = 0;

    buf_init(&b, OPS_MAX_LINK);
    if (!in) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    pthread_mutex_lock(&in->lock);
    if (in->link_target)
        target = xstrdup(in->link_target);
    pthread_mutex_unlock(&in->lock);
    if (!target) {
        path = inode_path(fs->inodes, in);
        key = path ? fs_key(fs, path) : NULL;
        rc = key ? remote_get_small(&fs->remote, key, &b, NULL) : -ENOENT;
        if (rc == 0) {
            target = xstrdup(buf_str(&b));
            pthread_mutex_lock(&in->lock);
            free(in->link_target);
            in->link_target = xstrdup(target);
            pthread_mutex_unlock(&in->lock);
        }
    }
    if (rc)
        ops_reply_err(req, rc == -EMSGSIZE ? -ENAMETOOLONG : rc);
    else
        fuse_reply_readlink(req, target);
    buf_free(&b);
    free(target);
    free(path);
    free(key);
    inode_put(fs->inodes, in);
}

void ops_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
              const char *newname)
{
    /* S3 has no way for two keys to share one object. */
    fuse_reply_err(req, ENOTSUP);
}

void ops_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
               dev_t rdev)
{
    fuse_reply_err(req, S_ISREG(mode) ? ENOTSUP : EPERM);
}

void ops_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct statvfs sv;

    /* A bucket has no size limit: report plenty, as s3fs does. */
    memset(&sv, 0, sizeof(sv));
    sv.f_bsize = 1 << 20;
    sv.f_frsize = 1 << 20;
    sv.f_blocks = 1ull << 30;
    sv.f_bfree = 1ull << 30;
    sv.f_bavail = 1ull << 30;
    sv.f_files = 1ull << 40;
    sv.f_ffree = 1ull << 40;
    sv.f_favail = 1ull << 40;
    sv.f_namemax = 255;
    fuse_reply_statfs(req, &sv);
}

/* Copies one object to another key, multipart above S3's 5 GiB limit. */
static int ops_copy_object(struct fs *fs, const char *src, const char *dst,
                           uint64_t size)
{
    return remote_copy(&fs->remote, src, dst, size, NULL, NULL, NULL, NULL);
}

/* Renames every key below dir path from to path to, then deletes them. */
static int ops_rename_tree(struct fs *fs, const char *from, const char *to)
{
    char *fkey = fs_dir_key(fs, from), *tkey = fs_dir_key(fs, to);
    struct s3_list_opts lo = {.prefix = fkey};
    char **done = NULL, *token = NULL;
    size_t ndone = 0, cap = 0, i, flen = strlen(fkey);
    struct s3_list_result r;
    int rc;

    do {
        lo.continuation = token;
        rc = remote_list(&fs->remote, &lo, &r, NULL);
        free(token);
        token = NULL;
        for (i = 0; rc == 0 && i < r.nobjects; i++) {
            char *dst = xasprintf("%s%s", tkey, r.objects[i].key + flen);
            rc = ops_copy_object(fs, r.objects[i].key, dst,
                                 (uint64_t)r.objects[i].size);
            free(dst);
            if (ndone == cap) {
                cap = cap ? cap * 2 : 64;
                done = xrealloc(done, cap * sizeof(*done));
            }
            if (rc == 0)
                done[ndone++] = xstrdup(r.objects[i].key);
        }
        if (rc == 0 && r.truncated && r.next_token)
            token = xstrdup(r.next_token);
        if (rc == 0)
            s3_list_result_fini(&r);
    } while (token);
    /* Only once every copy exists are the originals removed. */
    for (i = 0; rc == 0 && i < ndone; i += OPS_DELETE_BATCH) {
        struct s3_delete_result dr;
        size_t cnt =
            ndone - i < OPS_DELETE_BATCH ? ndone - i : OPS_DELETE_BATCH;
        rc = remote_delete_many(&fs->remote, (const char *const *)done + i, cnt,
                                &dr, NULL);
        if (rc == 0 && dr.nerrors)
            rc = -EIO;
        if (rc == 0)
            s3_delete_result_fini(&dr);
    }
    for (i = 0; i < ndone; i++)
        free(done[i]);
    free(done);
    free(fkey);
    free(tkey);
    return rc;
}

/* Checks what stands at the target; 0 when the rename may go ahead. */
static int ops_rename_target(struct fs *fs, struct inode *np,
                             const char *newname, bool src_dir, unsigned flags,
                             bool *target_dir)
{
    struct inode *t = NULL;
    bool marker;
    char *dkey, *path;
    int rc = ops_find_child(fs, np, newname, &t);

    *target_dir = false;
    if (rc == -ENOENT)
        return 0;
    if (rc)
        return rc;
    if (flags & RENAME_NOREPLACE) {
        rc = -EEXIST;
    } else if (S_ISDIR(t->attr.st_mode)) {
        *target_dir = true;
        if (!src_dir) {
            rc = -EISDIR;
        } else {
            path = inode_path(fs->inodes, t);
            dkey = path ? fs_dir_key(fs, path) : NULL;
            rc = dkey ? ops_has_children(fs, dkey, &marker) : -ENOENT;
            rc = rc == 1 ? -ENOTEMPTY : rc;
            if (rc == 0 && marker)
                rc = remote_delete(&fs->remote, dkey, NULL);
            free(dkey);
            free(path);
        }
    } else if (src_dir) {
        rc = -ENOTDIR;
    }
    inode_put(fs->inodes, t);
    return rc;
}

static int ops_rename_file(struct fs *fs, struct inode *in, const char *from,
                           const char *to)
{
    char *src = fs_key(fs, from), *dst = fs_key(fs, to);
    struct writer *w;
    int rc = 0;

    pthread_mutex_lock(&in->lock);
    w = in->writer;
    pthread_mutex_unlock(&in->lock);
    if (w) {
        /* Staged bytes go up first; the copy then moves them. */
        rc = writer_fill_all(w);
        if (rc == 0 && writer_dirty(w))
            rc = ops_flush_inode(fs, in);
    }
    rc = rc ?: ops_copy_object(fs, src, dst, (uint64_t)in->attr.st_size);
    rc = rc ?: remote_delete(&fs->remote, src, NULL);
    free(src);
    free(dst);
    return rc;
}

void ops_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                fuse_ino_t newparent, const char *newname, unsigned int flags)
{
    struct fs *fs = ops_fs(req);
    struct inode *p = inode_get(fs->inodes, parent);
    struct inode *np = inode_get(fs->inodes, newparent), *in = NULL;
    char *dir = NULL, *ndir = NULL, *from = NULL, *to = NULL;
    bool is_dir, target_dir;
    int rc = 0;

    if (!p || !np || !(dir = inode_path(fs->inodes, p)) ||
        !(ndir = inode_path(fs->inodes, np))) {
        rc = -ENOENT;
        goto out;
    }
    if (fs->conf.read_only || (flags & RENAME_EXCHANGE)) {
        rc = fs->conf.read_only ? -EROFS : -EINVAL;
        goto out;
    }
    if (!ops_name_ok(newname, &rc))
        goto out;
    rc = ops_find_child(fs, p, name, &in);
    if (rc)
        goto out;
    from = inode_join(dir, name);
    to = inode_join(ndir, newname);
    is_dir = S_ISDIR(in->attr.st_mode);
    if (strcmp(from, to) == 0)
        goto out;
    if (is_dir && strncmp(to, from, strlen(from)) == 0 &&
        to[strlen(from)] == '/') {
        rc = -EINVAL; /* into itself */
        goto out;
    }
    rc = ops_may_change(fs, from, TOKEN_ACT_DELETE);
    rc = rc ?: ops_may_change(fs, to, TOKEN_ACT_WRITE);
    if (rc)
        goto out;
    rc = ops_rename_target(fs, np, newname, is_dir, flags, &target_dir);
    if (rc)
        goto out;
    rc = is_dir ? ops_rename_tree(fs, from, to)
                : ops_rename_file(fs, in, from, to);
    if (rc == 0) {
        inode_rename(fs->inodes, from, to);
        ops_dir_changed(fs, from);
        ops_dir_changed(fs, to);
    }
out:
    fuse_reply_err(req, rc ? ops_errno(rc) : 0);
    inode_put(fs->inodes, in);
    inode_put(fs->inodes, p);
    inode_put(fs->inodes, np);
    free(dir);
    free(ndir);
    free(from);
    free(to);
}
