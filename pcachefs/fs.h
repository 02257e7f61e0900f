/* SPDX-License-Identifier: MIT */
/*
 * fs.h: the state of one pcachefs mount, shared by the FUSE operations
 * (ops.c), the inode table (inode.c), metadata (meta.c), the read path
 * (reader.c) and the write path (writer.c).
 *
 * One struct fs per mount, built by main.c and handed to every FUSE
 * operation as the session's userdata; nothing here is global.
 */
#ifndef PCACHEFS_FS_H
#define PCACHEFS_FS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "common/config.h"
#include "common/creds.h"
#include "common/s3.h"
#include "pcachefs/remote.h"

struct cluster;
struct fuse_session;
struct inode_table;
struct reader;
struct store;

/* Settings of a mount: the -o options, one table in main.c. */
struct fs_conf {
    struct s3_config s3;
    char *credfile;
    char *pms;                /* cluster mode: pmsd addresses */
    char *pms_ca;             /* cluster mode: CA file for https pmsd */
    uint64_t node_timeout_ms; /* cluster mode: a silent node has failed */
    char *profile;
    char *access_key;
    char *secret_key;
    char *cache_dir;
    uint64_t cache_size;
    bool cache_direct; /* write chunk files with O_DIRECT */
    uint64_t chunk_size;
    uint64_t max_memory;
    uint64_t readahead; /* largest readahead window */
    uint64_t attr_timeout_ms;
    uint64_t entry_timeout_ms;
    uint64_t negative_timeout_ms;
    int64_t uid; /* -1: from metadata, else forced */
    int64_t gid;
    int64_t umask;        /* -1: none */
    int64_t dir_meta_max; /* HEAD every entry of smaller directories */
    int64_t max_threads;
    int64_t max_background;
    int64_t upload_parallel;
    uint64_t part_size;
    uint64_t multipart_above;
    bool page_fill;       /* push fetched chunks into the page cache */
    bool writeback_cache; /* FUSE_CAP_WRITEBACK_CACHE (opt-in) */
    bool read_only;
    bool foreground;
    char *debug;
};

struct fs {
    struct fs_conf conf;
    char *bucket;      /* owned */
    char *prefix;      /* owned, "" or "dir/sub/" */
    time_t mount_time; /* times of directories without a marker */
    uid_t mount_uid;   /* who mounted: default owner */
    gid_t mount_gid;
    struct creds_source creds;
    struct s3_client *s3;    /* standalone mode, else NULL */
    struct cluster *cluster; /* cluster mode (pms=), else NULL */
    struct remote remote;    /* objects, either mode (remote.h) */
    struct store *store;     /* NULL when the disk cache is off or failed */
    struct inode_table *inodes;
    struct reader *reader;
    char *staging_dir;       /* owned: cache_dir/staging */
    struct fuse_session *se; /* borrowed; set once mounted */
};

/* Object key of a path relative to the mount root ("" is the root). */
char *fs_key(const struct fs *fs, const char *path);
/* Directory prefix of a path: key + '/' ("" root -> prefix). */
char *fs_dir_key(const struct fs *fs, const char *path);

#endif
