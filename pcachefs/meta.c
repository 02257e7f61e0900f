/* SPDX-License-Identifier: MIT */
/*
 * meta.c: s3fs-compatible attributes (see meta.h).
 */
#include "pcachefs/meta.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "pcachefs/fs.h"

#define META_BLOCK 512

static void meta_defaults(const struct fs *fs, mode_t type, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_mode = type | (type == S_IFDIR   ? 0755
                          : type == S_IFLNK ? 0777
                                            : 0644);
    st->st_nlink = type == S_IFDIR ? 2 : 1;
    st->st_uid = fs->mount_uid;
    st->st_gid = fs->mount_gid;
    st->st_blksize = 1 << 20;
}

static bool meta_number(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char tmp[32];
    const char *dot;

    if (!s)
        return false;
    /* Times may carry a fraction ("1700000000.123"); keep the seconds. */
    dot = strchr(s, '.');
    if (dot && (size_t)(dot - s) < sizeof(tmp)) {
        memcpy(tmp, s, (size_t)(dot - s));
        tmp[dot - s] = '\0';
        s = tmp;
    }
    return config_parse_int(s, min, max, out) == 0;
}

void meta_apply_overrides(const struct fs *fs, struct stat *st)
{
    if (fs->conf.uid >= 0)
        st->st_uid = (uid_t)fs->conf.uid;
    if (fs->conf.gid >= 0)
        st->st_gid = (gid_t)fs->conf.gid;
    if (fs->conf.umask >= 0 && !S_ISLNK(st->st_mode))
        st->st_mode &= ~(mode_t)fs->conf.umask;
}

static void meta_size(struct stat *st, int64_t size)
{
    st->st_size = size < 0 ? 0 : size;
    st->st_blocks = (st->st_size + META_BLOCK - 1) / META_BLOCK;
}

void meta_from_object(const struct fs *fs, const struct s3_object_meta *m,
                      mode_t type, struct stat *st)
{
    int64_t v;

    meta_defaults(fs, type, st);
    if (meta_number(s3_object_meta_get(m, "mode"), 0, 0177777, &v)) {
        mode_t ft = (mode_t)v & S_IFMT;

        /* Trust the type bits only where they fit what we found. */
        if (type == S_IFREG && ft == S_IFLNK)
            st->st_mode = S_IFLNK | ((mode_t)v & 07777);
        else
            st->st_mode = type | ((mode_t)v & 07777);
    }
    if (meta_number(s3_object_meta_get(m, "uid"), 0, UINT32_MAX, &v))
        st->st_uid = (uid_t)v;
    if (meta_number(s3_object_meta_get(m, "gid"), 0, UINT32_MAX, &v))
        st->st_gid = (gid_t)v;
    st->st_mtime = m->mtime;
    if (meta_number(s3_object_meta_get(m, "mtime"), 0, INT64_MAX, &v))
        st->st_mtime = (time_t)v;
    st->st_ctime = st->st_mtime;
    st->st_atime = st->st_mtime;
    if (!S_ISDIR(st->st_mode))
        meta_size(st, m->size);
    meta_apply_overrides(fs, st);
}

void meta_from_listing(const struct fs *fs, const struct listing_entry *e,
                       struct stat *st)
{
    meta_defaults(fs, e->type, st);
    if (e->type == S_IFDIR)
        st->st_mtime = st->st_ctime = st->st_atime = fs->mount_time;
    if (e->type == S_IFREG) {
        meta_size(st, e->size);
        st->st_mtime = e->mtime;
        st->st_ctime = e->mtime;
        st->st_atime = e->mtime;
    }
    meta_apply_overrides(fs, st);
}

void meta_implicit_dir(const struct fs *fs, struct stat *st)
{
    meta_defaults(fs, S_IFDIR, st);
    st->st_mtime = st->st_ctime = st->st_atime = fs->mount_time;
    meta_apply_overrides(fs, st);
}

void meta_put_init(struct meta_put *mp, const struct stat *st)
{
    static const char *const names[4] = {"mode", "uid", "gid", "mtime"};
    size_t i;

    snprintf(mp->val[0], sizeof(mp->val[0]), "%u", (unsigned)st->st_mode);
    snprintf(mp->val[1], sizeof(mp->val[1]), "%u", (unsigned)st->st_uid);
    snprintf(mp->val[2], sizeof(mp->val[2]), "%u", (unsigned)st->st_gid);
    snprintf(mp->val[3], sizeof(mp->val[3]), "%" PRId64, (int64_t)st->st_mtime);
    for (i = 0; i < 4; i++)
        mp->kv[i] = (struct sigv4_kv){names[i], mp->val[i]};
    mp->opts = (struct s3_put_opts){.meta = mp->kv, .nmeta = 4};
}
