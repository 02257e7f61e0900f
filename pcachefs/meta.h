/* SPDX-License-Identifier: MIT */
/*
 * meta.h: file attributes <-> S3 object metadata, the s3fs way.
 *
 * s3fs keeps POSIX attributes in user metadata: x-amz-meta-mode (st_mode
 * in decimal, file type bits included), x-amz-meta-uid, x-amz-meta-gid
 * and x-amz-meta-mtime (seconds since the epoch). Directories are "dir/"
 * marker objects and symlinks are objects whose body is the target and
 * whose mode says S_IFLNK. Buckets written by s3fs read correctly here and
 * the other way round.
 *
 * Objects without that metadata (uploaded by other tools) get the mount's
 * defaults: owner = whoever mounted, 0644 files and 0755 directories, the
 * object's Last-Modified as mtime. uid=, gid= and umask= override what the
 * metadata says, as in s3fs.
 */
#ifndef PCACHEFS_META_H
#define PCACHEFS_META_H

#include <stdbool.h>
#include <sys/stat.h>

#include "common/s3.h"
#include "pcachefs/listing.h"

struct fs;

/* Storage for the x-amz-meta-* pairs of one write. */
struct meta_put {
    struct sigv4_kv kv[4];
    char val[4][32];
    struct s3_put_opts opts;
};

/*
 * Fills st from a HEAD (or GET) answer. type is the kind the caller
 * found the object as (S_IFREG for an object, S_IFDIR for a marker); a
 * mode that says S_IFLNK turns an S_IFREG into a symlink.
 */
void meta_from_object(const struct fs *fs, const struct s3_object_meta *m,
                      mode_t type, struct stat *st);
/* Fills st for a listing entry (no user metadata: defaults). */
void meta_from_listing(const struct fs *fs, const struct listing_entry *e,
                       struct stat *st);
/* Attributes of a directory that exists only as a prefix. */
void meta_implicit_dir(const struct fs *fs, struct stat *st);
/* Applies uid=, gid= and umask= to st. */
void meta_apply_overrides(const struct fs *fs, struct stat *st);
/* Builds the metadata of a write from st (mode, uid, gid, mtime). */
void meta_put_init(struct meta_put *mp, const struct stat *st);

#endif
