/* SPDX-License-Identifier: MIT */
/*
 * ops_int.h: what the FUSE operations in ops.c (attributes, files,
 * directories) and ops_ns.c (namespace changes: mkdir, rmdir, unlink,
 * symlink, rename) share. Not used outside pcachefs/ops*.c.
 */
#ifndef PCACHEFS_OPS_INT_H
#define PCACHEFS_OPS_INT_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "pcachefs/listing.h"

struct fs;
struct inode;

/* Longest symlink target we store or read. */
#define OPS_MAX_LINK 4096

/* What a path is in S3 (ops_resolve). */
struct ops_found {
    struct stat st;
    char etag[128];
    bool implicit; /* directory without a marker */
};

struct fs *ops_fs(fuse_req_t req);
/* Maps -errno to an errno applications understand (S3 oddities -> EIO). */
int ops_errno(int rc);
void ops_reply_err(fuse_req_t req, int rc);
double ops_sec(uint64_t ms);
/* Drops the cached listing of the directory holding path. */
void ops_dir_changed(struct fs *fs, const char *path);
/* Sets attributes; the caller holds in->lock. etag may be NULL. */
void do_ops_set_attr(struct fs *fs, struct inode *in, const struct stat *st,
                     const char *etag, bool known);
/* Replies an entry and counts the kernel's lookup. */
void ops_reply_entry(fuse_req_t req, struct fs *fs, struct inode *in);
/* 1 when keys exist below dir_key (besides its marker), 0, or -errno. */
int ops_has_children(struct fs *fs, const char *dir_key, bool *marker);
/*
 * May path be changed? -EROFS on a read-only mount; in cluster mode
 * -EACCES unless the token allows one of actions (TOKEN_ACT_* bits) on
 * its key. 0 otherwise.
 */
int ops_may_change(struct fs *fs, const char *path, unsigned actions);
/* Finds what path is in S3; 0, -ENOENT or -errno. */
int ops_resolve(struct fs *fs, const char *path, struct ops_found *f);
/* False (with *rc set) for names that cannot be file names. */
bool ops_name_ok(const char *name, int *rc);
/*
 * For operations that change parent: its path and the child's (both owned
 * by the caller, also on failure). -ENOENT, -EROFS on a read-only mount,
 * -EINVAL or -ENAMETOOLONG for a bad name.
 */
int ops_child_path(struct fs *fs, struct inode *parent, const char *name,
                   char **dir, char **path);
/* parent/name as a referenced inode; 0 or -errno. */
int ops_find_child(struct fs *fs, struct inode *parent, const char *name,
                   struct inode **out);
/* Uploads in's staged contents when dirty; 0 or -errno. */
int ops_flush_inode(struct fs *fs, struct inode *in);

/* Namespace operations (ops_ns.c). */
void ops_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
               mode_t mode);
void ops_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void ops_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void ops_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                 const char *name);
void ops_readlink(fuse_req_t req, fuse_ino_t ino);
void ops_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
              const char *newname);
void ops_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
               dev_t rdev);
void ops_statfs(fuse_req_t req, fuse_ino_t ino);
void ops_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                fuse_ino_t newparent, const char *newname, unsigned int flags);

#endif
