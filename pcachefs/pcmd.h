/* SPDX-License-Identifier: MIT */
/*
 * pcmd.h: what the files of pcmd, the command-line tool, share.
 *
 * pcmd.c parses the options and the config file, builds one struct pcmd
 * and hands it to a command: pcmd_obj.c (put, get, cat, stat, ls, rm, cp,
 * mb, rb, presign), pcmd_sync.c (sync), pcmd_node.c (stats, warmup).
 * Commands reach objects through pcmd_remote.c, the one place that knows
 * the mode: standalone (the S3 client) or cluster (pmsd and the cache
 * nodes, through the mount's pcachefs/remote.h and cluster.h).
 * pcmd_progress.c draws the progress bar.
 *
 * Threads: main owns struct pcmd; sync's workers share it read-only
 * except for the S3 client and the cluster clients, which are
 * thread-safe, and the table of remotes (under remotes_lock).
 */
#ifndef PCACHEFS_PCMD_H
#define PCACHEFS_PCMD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "common/creds.h"
#include "common/s3.h"
#include "common/s3_transfer.h"
#include "pcachefs/remote.h"

/* Exit status of pcmd; documented in --help and pcmd(1). */
#define PCMD_EXIT_OK    0
#define PCMD_EXIT_FAIL  1 /* the command failed, or some of its items did */
#define PCMD_EXIT_USAGE 2 /* bad command line or config file */

enum pcmd_mode {
    PCMD_MODE_STANDALONE, /* the S3 client talks to the endpoint */
    PCMD_MODE_CLUSTER,    /* pms= set: through pmsd and the nodes */
};

/* Settings: one table in pcmd.c, shared names with the mount's -o. */
struct pcmd_conf {
    struct s3_config s3;
    char *credfile;
    char *profile;
    char *access_key;
    char *secret_key;
    char *pms;    /* cluster mode: host:port,... of pmsd */
    char *pms_ca; /* cluster mode: CA file for https */
    uint64_t node_timeout_ms;
    uint64_t part_size;
    uint64_t md5_max; /* sync: hash local files up to this size */
    int64_t parallel; /* requests in flight per transfer */
    int64_t jobs;     /* sync: files in flight */
    bool recursive;
    bool long_list;
    bool human;
    bool delete_extra;
    bool dry_run;
    bool json;
    bool quiet;
    bool progress; /* set from isatty(2) unless forced */
    int64_t expires;
    char *method;
    char *node;  /* stats, warmup: a pcpd's base URL */
    char *token; /* bearer token for a node that checks them */
    uint64_t poll_ms;
    uint64_t chunk_size; /* warmup; 0: the node's */
    char *ignored[19];   /* mount-only names met in a shared config file */
};

#define PCMD_MAX_REMOTES 4 /* buckets one command may touch */

struct pcmd {
    struct pcmd_conf conf;
    enum pcmd_mode mode;
    struct creds_source creds;
    struct s3_client *client; /* standalone mode; NULL otherwise */
    bool said_cluster;        /* atomic: "not supported" was printed */
    pthread_mutex_t remotes_lock;
    struct remote *remotes[PCMD_MAX_REMOTES]; /* under remotes_lock */
};

struct pcmd_url {
    char *bucket;
    char *key; /* "" for the bucket itself */
};

/* s3://BUCKET[/KEY] -> u (owned strings); -EINVAL with a message. */
int pcmd_parse_url(const char *s, struct pcmd_url *u);
void pcmd_url_fini(struct pcmd_url *u);
/* Prints "pcmd: WHAT TARGET: reason (detail)"; returns PCMD_EXIT_FAIL. */
int pcmd_fail(const char *what, const char *target, int rc,
              const struct s3_error *err);
void pcmd_transfer_opts(const struct pcmd *p, struct s3_transfer_opts *o);
/* "1.5G"-style size into out (at least 16 bytes); raw bytes unless human. */
const char *pcmd_size_str(uint64_t v, bool human, char *out, size_t len);
/* Writes a JSON string (quoted, escaped) to f. */
void pcmd_json_str(FILE *f, const char *s);
/* Client-side S3 request counters as JSON members (no braces) or text. */
void pcmd_print_s3_stats(const struct pcmd *p, FILE *f, bool json);

/*
 * Remote objects, whatever the mode (pcmd_remote.c). Each returns 0 or
 * -errno, with err (may be NULL) filled.
 */
/* 0 when the S3 client is there (standalone), else -ENOTSUP, said once:
 * for what only S3 itself does (presign, mb, rb). */
int pcmd_remote_need_s3(struct pcmd *p);
/*
 * The bucket's remote: the S3 client's (standalone), or in cluster mode a
 * cluster client for the pbucket, connected on first use (token, node
 * list). NULL with a message on stderr when that fails. Owned by p.
 */
struct remote *pcmd_remote(struct pcmd *p, const char *bucket);
/* Closes every remote (the cluster clients' threads). */
void pcmd_remote_close(struct pcmd *p);
typedef int (*pcmd_list_cb)(const struct s3_object_info *o, void *arg);
/* Every object under prefix (no delimiter), page by page, in order. */
int pcmd_remote_list(struct pcmd *p, const char *bucket, const char *prefix,
                     pcmd_list_cb cb, void *arg, struct s3_error *err);
/* Downloads into fd; etag (may be NULL) is sent as If-Match. */
int pcmd_remote_get(struct pcmd *p, const char *bucket, const char *key,
                    uint64_t size, const char *etag, int fd,
                    struct s3_object_meta *meta, struct s3_error *err);
/* Uploads size bytes of fd with s3fs-style mode and mtime metadata. */
int pcmd_remote_put(struct pcmd *p, const char *bucket, const char *key, int fd,
                    uint64_t size, unsigned mode, time_t mtime,
                    struct s3_error *err);
/* Deletes keys in batches; *failed counts keys not deleted. */
int pcmd_remote_delete(struct pcmd *p, const char *bucket,
                       const char *const *keys, size_t n, size_t *failed,
                       struct s3_error *err);

/* Commands: argc/argv after the command name; return an exit status. */
int pcmd_cmd_put(struct pcmd *p, int argc, char **argv);
int pcmd_cmd_get(struct pcmd *p, int argc, char **argv);
int pcmd_cmd_cat(struct pcmd *p, int argc, char **argv);
int pcmd_cmd_stat(struct pcmd *p, int argc, char **argv);
int pcmd_cmd_ls(struct pcmd *p, int argc, char **argv);
int pcmd_cmd_rm(struct pcmd *p, int argc, char **argv);
int pcmd_cmd_cp(struct pcmd *p, int argc, char **argv);
int pcmd_cmd_mb(struct pcmd *p, int argc, char **argv);
int pcmd_cmd_rb(struct pcmd *p, int argc, char **argv);
int pcmd_cmd_presign(struct pcmd *p, int argc, char **argv);
int pcmd_cmd_sync(struct pcmd *p, int argc, char **argv);
int pcmd_cmd_stats(struct pcmd *p, int argc, char **argv);
int pcmd_cmd_warmup(struct pcmd *p, int argc, char **argv);

/*
 * Progress bar on stderr (pcmd_progress.c): a thread redraws one line
 * every 200 ms while enabled; counters are updated atomically by any
 * thread. A disabled progress does nothing at all.
 */
struct pcmd_progress {
    bool enabled;
    const char *what; /* "sync", "warmup": borrowed */
    const char *unit; /* "files" (default), "chunks": borrowed */
    uint64_t total_bytes, total_files;
    uint64_t done_bytes, done_files, failed_files; /* atomic */
    double t0;
    pthread_mutex_t lock; /* the terminal: bar and result lines */
    pthread_cond_t cond;  /* under lock: stop */
    bool stop;
    bool started;
    bool drawn; /* under lock: a bar is on the screen */
    pthread_t thread;
};

void pcmd_progress_start(struct pcmd_progress *pg, bool enabled,
                         const char *what, uint64_t files, uint64_t bytes);
void pcmd_progress_add(struct pcmd_progress *pg, uint64_t bytes, uint64_t files,
                       uint64_t failed);
/* Prints a result line on stdout, erasing the bar first (any thread). */
void pcmd_progress_printf(struct pcmd_progress *pg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pcmd_progress_stop(struct pcmd_progress *pg);
/* One line of the bar into out (also used by warmup's own counters). */
void pcmd_progress_format(const struct pcmd_progress *pg, char *out,
                          size_t len);

#endif
