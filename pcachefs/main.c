/* SPDX-License-Identifier: MIT */
/*
 * main.c: the pcachefs mount program.
 *
 *   pcachefs s3://BUCKET[/PREFIX] MOUNTPOINT [-f] [-d] [-o opt,...]
 *
 * Parses the options, checks that the bucket answers with the given
 * credentials (so a wrong key or a missing bucket is reported on the
 * terminal with a non-zero exit, before the mount detaches), mounts,
 * daemonizes, starts the S3 engine, the disk cache and the read path,
 * then runs libfuse's multithreaded loop until unmounted.
 */
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <fuse_opt.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/chunk.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/store.h"
#include "pcachefs/cluster.h"
#include "pcachefs/fs.h"
#include "pcachefs/inode.h"
#include "pcachefs/meta.h"
#include "pcachefs/ops.h"
#include "pcachefs/reader.h"

/*
 * The mount keeps fewer connections than pcpd: one sequential reader has
 * readahead / chunk_size GETs in flight and more streams cost more than
 * they bring (on s3rver, 1 GiB cold: 474 MB/s with 8, 321 MB/s with 16,
 * 239 MB/s with 64, the server's CPU per byte doubling).
 */
static const struct config_entry fs_table[] = {
    S3_CONFIG_ENTRIES_CONN(struct fs_conf, s3, "8"),
    {"credfile", CONFIG_STRING, offsetof(struct fs_conf, credfile), NULL, 0, 0,
     "credentials file (AWS or s3fs format, mode 0600); in cluster mode "
     "the pcache user's ACCESS_KEY:SECRET_KEY"},
    {"pms", CONFIG_STRING, offsetof(struct fs_conf, pms), NULL, 0, 0,
     "cluster mode: pmsd addresses, host:port[,host:port...]; the source "
     "is then PBUCKET[/PREFIX]"},
    {"pms_ca", CONFIG_STRING, offsetof(struct fs_conf, pms_ca), NULL, 0, 0,
     "cluster mode: CA file for pmsd and nodes over https"},
    {"node_timeout", CONFIG_DURATION, offsetof(struct fs_conf, node_timeout_ms),
     "10s", 1000, 600000,
     "cluster mode: a node that sends nothing this long has failed; the "
     "next node is tried"},
    {"profile", CONFIG_STRING, offsetof(struct fs_conf, profile), NULL, 0, 0,
     "profile in the credentials file"},
    {"access_key", CONFIG_STRING, offsetof(struct fs_conf, access_key), NULL, 0,
     0, "access key (prefer credfile)"},
    {"secret_key", CONFIG_STRING, offsetof(struct fs_conf, secret_key), NULL, 0,
     0, "secret key (prefer credfile)"},
    {"cache_dir", CONFIG_STRING, offsetof(struct fs_conf, cache_dir), NULL, 0,
     0, "disk cache directory (default /var/cache/pcachefs/<mount>)"},
    {"cache_size", CONFIG_SIZE, offsetof(struct fs_conf, cache_size), "10G", 0,
     0, "disk cache capacity (0: no disk cache)"},
    {"cache_direct", CONFIG_BOOL, offsetof(struct fs_conf, cache_direct), "yes",
     0, 0,
     "write the disk cache with O_DIRECT (much less CPU per chunk on "
     "ext4/xfs; no page cache kept for those files)"},
    {"chunk_size", CONFIG_SIZE, offsetof(struct fs_conf, chunk_size), "8M",
     CHUNK_SIZE_MIN, CHUNK_SIZE_MAX, "chunk size"},
    {"max_memory", CONFIG_SIZE, offsetof(struct fs_conf, max_memory), "512M",
     4 << 20, 0, "memory for chunk buffers and readahead"},
    {"readahead", CONFIG_SIZE, offsetof(struct fs_conf, readahead), "128M", 0,
     1ll << 30, "largest readahead window of a sequential reader"},
    {"attr_timeout", CONFIG_DURATION, offsetof(struct fs_conf, attr_timeout_ms),
     "1s", 0, 86400000, "how long attributes and listings are trusted"},
    {"entry_timeout", CONFIG_DURATION,
     offsetof(struct fs_conf, entry_timeout_ms), "1s", 0, 86400000,
     "how long names are trusted"},
    {"negative_timeout", CONFIG_DURATION,
     offsetof(struct fs_conf, negative_timeout_ms), "1s", 0, 86400000,
     "how long a missing name is trusted"},
    {"uid", CONFIG_INT, offsetof(struct fs_conf, uid), "-1", -1, UINT32_MAX,
     "owner of every file (default: from metadata)"},
    {"gid", CONFIG_INT, offsetof(struct fs_conf, gid), "-1", -1, UINT32_MAX,
     "group of every file (default: from metadata)"},
    {"umask", CONFIG_INT, offsetof(struct fs_conf, umask), "-1", -1, 0777,
     "permission bits to clear, octal (e.g. 022)"},
    {"dir_meta_max", CONFIG_INT, offsetof(struct fs_conf, dir_meta_max), "256",
     0, 1000000,
     "directories with at most this many entries show each object's "
     "metadata (one HEAD each, in parallel); larger ones list defaults"},
    {"page_fill", CONFIG_BOOL, offsetof(struct fs_conf, page_fill), "yes", 0, 0,
     "put whole fetched chunks into the kernel's page cache"},
    {"writeback_cache", CONFIG_BOOL, offsetof(struct fs_conf, writeback_cache),
     "no", 0, 0,
     "let the kernel gather writes in its page cache; only for buckets "
     "nothing else writes (sizes and times changed behind the mount are "
     "then not seen)"},
    {"max_threads", CONFIG_INT, offsetof(struct fs_conf, max_threads), "64", 2,
     1024, "FUSE worker threads"},
    {"max_background", CONFIG_INT, offsetof(struct fs_conf, max_background),
     "64", 1, 65535, "asynchronous kernel requests in flight"},
    {"upload_parallel", CONFIG_INT, offsetof(struct fs_conf, upload_parallel),
     "8", 1, 64, "multipart parts sent at once"},
    {"part_size", CONFIG_SIZE, offsetof(struct fs_conf, part_size), "8M",
     5 << 20, 5ll << 30, "multipart part size"},
    {"multipart_above", CONFIG_SIZE, offsetof(struct fs_conf, multipart_above),
     "16M", 0, 5ll << 30, "files larger than this upload in parts"},
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

/* Options meant for mount(8) and fstab only: accepted and dropped. */
static const char *const fs_fstab_only[] = {
    "_netdev",  "auto",  "noauto", "user",   "users",   "nouser",   "nofail",
    "defaults", "rw",    "exec",   "noexec", "suid",    "nosuid",   "dev",
    "nodev",    "async", "sync",   "atime",  "noatime", "relatime", NULL,
};

struct fs_args {
    struct fs *fs;
    char *source;
    int nonopts;
    struct config_error err;
    bool bad;
    bool in_pms; /* the last option was pms=: "host:port" ones follow */
};

static void fs_usage(const char *prog)
{
    printf("usage: %s s3://BUCKET[/PREFIX] MOUNTPOINT [options]\n"
           "       %s PBUCKET[/PREFIX] MOUNTPOINT -o pms=HOST:PORT,"
           "credfile=FILE [options]\n\n"
           "options:\n"
           "    -f                     stay in the foreground\n"
           "    -d                     foreground, with FUSE debug output\n"
           "    -o config=FILE         settings from a file (name = value),\n"
           "                           overridden by the other -o options\n"
           "    -o debug=s3,store,...  debug log for these subsystems\n"
           "    -o ro                  read-only mount\n"
           "    -o allow_other         let other users in\n"
           "    -h, --help             -V, --version\n\n"
           "settings (-o name=value):\n",
           prog, prog);
    config_print_help(fs_table, stdout);
    printf("\nFUSE options:\n");
    fuse_lowlevel_help();
}

static bool fs_is_fstab_only(const char *opt)
{
    const char *const *p;

    if (strncmp(opt, "x-", 2) == 0 || strncmp(opt, "comment=", 8) == 0)
        return true;
    for (p = fs_fstab_only; *p; p++) {
        if (strcmp(*p, opt) == 0)
            return true;
    }
    return false;
}

/*
 * -o config=FILE: settings from a file ("name = value", the same names as
 * the -o options, shared with pcmd --config), read before the command
 * line so that -o options override it. Names the mount does not know are
 * skipped (the file may carry pcmd's too).
 */
static int fs_load_config_option(struct fs *fs, int argc, char **argv)
{
    struct config_error err;
    int i;

    for (i = 1; i < argc; i++) {
        const char *o = argv[i], *c;
        char *path;
        size_t n;

        if (strncmp(o, "-o", 2) == 0)
            o = o[2] ? o + 2 : (i + 1 < argc ? argv[++i] : "");
        else
            continue;
        for (c = o; (c = strstr(c, "config=")); c++) {
            if (c != o && c[-1] != ',')
                continue;
            n = strcspn(c + 7, ",");
            path = xstrndup(c + 7, n);
            if (config_load_file(fs_table, &fs->conf, path, true, &err) < 0) {
                fprintf(stderr, "pcachefs: %s\n", err.text);
                free(path);
                return -EINVAL;
            }
            free(path);
        }
    }
    return 0;
}

/* "host:port" (or "[v6]:port"): one more pmsd address of a pms= list. */
static bool fs_is_host_port(const char *s)
{
    const char *colon = strrchr(s, ':');

    return colon && colon != s && colon[1] &&
           strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
           strcspn(s, "=,/ ") == strlen(s);
}

/* One -o option: ours (consumed), fstab-only (dropped) or libfuse's. */
static int fs_take_option(struct fs_args *a, const char *arg)
{
    char name[128];
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);

    bool more_pms = a->in_pms && !eq && fs_is_host_port(arg);

    a->in_pms = false;
    if (more_pms) {
        /* pms=h1:7070,h2:7070: libfuse split the list at the comma. */
        char *all = xasprintf("%s,%s", a->fs->conf.pms, arg);

        config_set(fs_table, &a->fs->conf, "pms", all, &a->err);
        free(all);
        a->in_pms = true;
        return 0;
    }
    if (fs_is_fstab_only(arg) || strncmp(arg, "config=", 7) == 0)
        return 0; /* config= was read before the rest */
    a->in_pms = strncmp(arg, "pms=", 4) == 0;
    if (strcmp(arg, "ro") == 0) {
        a->fs->conf.read_only = true;
        return 1; /* the kernel enforces it too */
    }
    if (strncmp(arg, "umask=", 6) == 0) {
        char *end;
        long v = strtol(arg + 6, &end, 8);

        if (!arg[6] || *end || v < 0 || v > 0777) {
            snprintf(a->err.text, sizeof(a->err.text),
                     "'%s': umask must be octal, 0 to 0777", arg);
            a->bad = true;
        }
        a->fs->conf.umask = v;
        return 0;
    }
    if (strncmp(arg, "debug=", 6) == 0) {
        if (log_enable_debug(arg + 6) < 0) {
            snprintf(a->err.text, sizeof(a->err.text),
                     "unknown debug subsystem in '%s'", arg);
            a->bad = true;
        }
        return 0;
    }
    if (n >= sizeof(name))
        return 1;
    memcpy(name, arg, n);
    name[n] = '\0';
    if (!config_find(fs_table, name))
        return 1;
    if (config_set(fs_table, &a->fs->conf, name, eq ? eq + 1 : NULL, &a->err) <
        0)
        a->bad = true;
    return 0;
}

static int fs_opt_proc(void *data, const char *arg, int key,
                       struct fuse_args *outargs)
{
    struct fs_args *a = data;

    if (key == FUSE_OPT_KEY_NONOPT) {
        if (a->nonopts++ == 0) {
            a->source = xstrdup(arg);
            return 0;
        }
        return 1; /* the mountpoint, for fuse_parse_cmdline */
    }
    if (key == FUSE_OPT_KEY_OPT)
        return fs_take_option(a, arg);
    return 1;
}

/*
 * s3://bucket/prefix (standalone) or pbucket/prefix (cluster mode, with
 * pms=) -> bucket and "prefix/" (or "").
 */
static int fs_parse_source(struct fs *fs, const char *src)
{
    const char *p, *slash;
    size_t plen;

    if (fs->conf.pms) {
        p = strncmp(src, "pcache://", 9) == 0 ? src + 9 : src;
        if (strstr(p, "://")) {
            fprintf(stderr,
                    "pcachefs: with pms= the source is PBUCKET[/PREFIX], "
                    "not '%s'\n",
                    src);
            return -EINVAL;
        }
    } else if (strncmp(src, "s3://", 5) != 0) {
        fprintf(stderr,
                "pcachefs: source '%s' must be s3://BUCKET[/PREFIX], or "
                "PBUCKET[/PREFIX] with -o pms=HOST:PORT (cluster mode)\n",
                src);
        return -EINVAL;
    } else {
        p = src + 5;
    }
    slash = strchr(p, '/');
    fs->bucket = slash ? xstrndup(p, (size_t)(slash - p)) : xstrdup(p);
    if (!*fs->bucket) {
        fprintf(stderr, "pcachefs: no bucket in '%s'\n", src);
        return -EINVAL;
    }
    p = slash ? slash + 1 : "";
    while (*p == '/')
        p++;
    plen = strlen(p);
    while (plen && p[plen - 1] == '/')
        plen--;
    fs->prefix = plen ? xasprintf("%.*s/", (int)plen, p) : xstrdup("");
    if (strstr(fs->prefix, "//") || strstr(fs->prefix, "/../") ||
        strncmp(fs->prefix, "../", 3) == 0) {
        fprintf(stderr, "pcachefs: bad prefix in '%s'\n", src);
        return -EINVAL;
    }
    return 0;
}

char *fs_key(const struct fs *fs, const char *path)
{
    return xasprintf("%s%s", fs->prefix, path);
}

char *fs_dir_key(const struct fs *fs, const char *path)
{
    return *path ? xasprintf("%s%s/", fs->prefix, path) : xstrdup(fs->prefix);
}

/* Connects and lists one key: proves endpoint, keys and bucket. */
static int fs_check_bucket(struct fs *fs)
{
    struct s3_list_opts lo = {.max_keys = 1};
    struct s3_list_result r;
    struct s3_error err;
    char msg[512], detail[768];
    struct s3_client *c;
    int rc;

    c = s3_client_new(&fs->conf.s3, &fs->creds, NULL, msg, sizeof(msg));
    if (!c) {
        fprintf(stderr, "pcachefs: %s\n", msg);
        return -EINVAL;
    }
    lo.prefix = *fs->prefix ? fs->prefix : NULL;
    rc = s3_list(c, fs->bucket, &lo, &r, &err);
    if (rc == 0)
        s3_list_result_fini(&r);
    else if (rc == -EACCES)
        fprintf(stderr,
                "pcachefs: access to bucket '%s' denied: wrong keys? "
                "(%s)\n",
                fs->bucket, s3_error_format(&err, detail, sizeof(detail)));
    else if (rc == -ENOENT)
        fprintf(stderr, "pcachefs: bucket '%s' does not exist at %s\n",
                fs->bucket, fs->conf.s3.endpoint);
    else
        fprintf(stderr, "pcachefs: cannot reach %s: %s\n", fs->conf.s3.endpoint,
                s3_error_format(&err, detail, sizeof(detail)));
    s3_client_free(c); /* joins its thread: fork() comes next */
    return rc;
}

static void fs_cluster_opts(const struct fs *fs, struct cluster_opts *co)
{
    memset(co, 0, sizeof(*co));
    co->pms = fs->conf.pms;
    co->credfile = fs->conf.credfile;
    co->ca_file = fs->conf.pms_ca;
    co->pbucket = fs->bucket;
    co->timeout_ms = fs->conf.s3.request_timeout_ms;
    co->stall_ms = fs->conf.node_timeout_ms;
}

/*
 * Cluster mode: gets a token, the pbucket and the node list (so wrong
 * keys, a missing pbucket or no pmsd are reported before the mount
 * detaches), and takes the pbucket's chunk size. Parts of uploads are
 * whole chunks, so the nodes cache what passes through them.
 */
static int fs_check_cluster(struct fs *fs)
{
    struct cluster_opts co;
    struct cluster *c;
    uint64_t cs;
    size_t n;
    char err[512];
    int rc;

    fs_cluster_opts(fs, &co);
    rc = cluster_new(&co, &c, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "pcachefs: %s\n", err);
        return rc;
    }
    cs = cluster_chunk_size(c);
    cluster_epoch(c, &n);
    if (n == 0)
        fprintf(stderr, "pcachefs: warning: no cache node is live yet\n");
    cluster_free(c); /* joins its threads: fork() comes next */
    fs->conf.chunk_size = cs;
    fs->conf.part_size = (fs->conf.part_size + cs - 1) / cs * cs;
    return 0;
}

static char *fs_default_cache_dir(const struct fs *fs)
{
    char *id = xasprintf("%s|%s|%s",
                         fs->conf.pms ? fs->conf.pms : fs->conf.s3.endpoint,
                         fs->bucket, fs->prefix);
    const char *home = getenv("HOME");
    char *dir;

    if (geteuid() == 0 || !home)
        dir = xasprintf("/var/cache/pcachefs/%s-%016llx", fs->bucket,
                        (unsigned long long)XXH3_64bits(id, strlen(id)));
    else
        dir = xasprintf("%s/.cache/pcachefs/%s-%016llx", home, fs->bucket,
                        (unsigned long long)XXH3_64bits(id, strlen(id)));
    free(id);
    return dir;
}

static int fs_mkdirs(const char *path)
{
    char *p = xstrdup(path), *s;
    int rc = 0;

    for (s = p + 1; *s && rc == 0; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            rc = -errno;
        *s = '/';
    }
    if (rc == 0 && mkdir(p, 0700) < 0 && errno != EEXIST)
        rc = -errno;
    free(p);
    return rc;
}

/* The disk cache and the staging directory; -errno on failure. */
static int fs_open_cache(struct fs *fs, int *lock_fd)
{
    struct store_opts so;
    char *lockp, err[512];
    int rc;

    if (!fs->conf.cache_dir)
        fs->conf.cache_dir = fs_default_cache_dir(fs);
    fs->staging_dir = xasprintf("%s/staging", fs->conf.cache_dir);
    rc = fs_mkdirs(fs->staging_dir);
    if (rc) {
        fprintf(stderr, "pcachefs: cache_dir %s: %s\n", fs->conf.cache_dir,
                strerror(-rc));
        return rc;
    }
    lockp = xasprintf("%s/lock", fs->conf.cache_dir);
    *lock_fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lockp);
    if (*lock_fd < 0 || flock(*lock_fd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "pcachefs: cache_dir %s is in use by another mount\n",
                fs->conf.cache_dir);
        return -EBUSY;
    }
    if (fs->conf.cache_size == 0)
        return 0;
    store_opts_init(&so);
    so.capacity = fs->conf.cache_size;
    so.direct = fs->conf.cache_direct;
    fs->store = store_open(fs->conf.cache_dir, &so, err, sizeof(err));
    if (!fs->store)
        fprintf(stderr, "pcachefs: disk cache off: %s\n", err);
    return 0;
}

static int fs_check_conf(struct fs *fs)
{
    const struct fs_conf *c = &fs->conf;

    if (!chunk_size_valid(c->chunk_size)) {
        fprintf(stderr, "pcachefs: chunk_size must be 1M..64M in 64K steps\n");
        return -EINVAL;
    }
    if (c->max_memory < 6 * c->chunk_size) {
        fprintf(stderr,
                "pcachefs: max_memory must hold at least 6 chunks "
                "(%llu bytes)\n",
                (unsigned long long)(6 * c->chunk_size));
        return -EINVAL;
    }
    return 0;
}

/* Raises the kernel's readahead for this mount (bdi of its device). */
static void fs_tune_readahead(const char *mountpoint, uint64_t bytes)
{
    char line[4096], real[PATH_MAX], path[128];
    FILE *f = fopen("/proc/self/mountinfo", "re");
    unsigned maj, min;
    bool found = false;

    if (!f || !realpath(mountpoint, real)) {
        if (f)
            fclose(f);
        return;
    }
    /* mountinfo: id parent major:minor root mountpoint ... */
    while (fgets(line, sizeof(line), f)) {
        char mp[4096];

        if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &maj, &min, mp) == 3 &&
            strcmp(mp, real) == 0)
            found = true;
    }
    fclose(f);
    if (!found)
        return;
    snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj,
             min);
    f = fopen(path, "we");
    if (f) {
        fprintf(f, "%llu", (unsigned long long)(bytes / 1024));
        fclose(f);
    }
}

static int fs_run(struct fs *fs, struct fuse_args *args,
                  struct fuse_cmdline_opts *o)
{
    struct fuse_loop_config *lc = NULL;
    struct fuse_session *se;
    char err[512];
    int rc = 1;

    se = fuse_session_new(args, ops_table(), sizeof(struct fuse_lowlevel_ops),
                          fs);
    if (!se)
        return 1;
    if (fuse_set_signal_handlers(se) != 0)
        goto out_session;
    if (fuse_session_mount(se, o->mountpoint) != 0)
        goto out_signals;
    fs->se = se;
    fuse_daemonize(o->foreground);
    if (!o->foreground)
        log_init("pcachefs", LOG_SINK_SYSLOG);
    if (fs->conf.pms) {
        struct cluster_opts co;

        fs_cluster_opts(fs, &co);
        cluster_new(&co, &fs->cluster, err, sizeof(err));
    } else {
        fs->s3 =
            s3_client_new(&fs->conf.s3, &fs->creds, NULL, err, sizeof(err));
    }
    fs->remote = (struct remote){
        .s3 = fs->s3,
        .bucket = fs->bucket,
        .cluster = fs->cluster,
        .part_size = fs->conf.part_size,
        .multipart_above = fs->conf.multipart_above,
        .parallel = (unsigned)fs->conf.upload_parallel,
    };
    fs->reader = fs->s3 || fs->cluster ? reader_new(fs) : NULL;
    if (!fs->reader) {
        log_errx("cannot start: %s",
                 fs->s3 || fs->cluster ? "reader thread" : err);
        goto out_unmount;
    }
    fs_tune_readahead(o->mountpoint, fs->conf.readahead > (16u << 20)
                                         ? 16u << 20
                                         : fs->conf.readahead);
    lc = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(lc, (unsigned)fs->conf.max_threads);
    fuse_loop_cfg_set_clone_fd(lc, o->clone_fd);
    log_notice("mounted %s%s/%s on %s", fs->cluster ? "" : "s3://", fs->bucket,
               fs->prefix, o->mountpoint);
    rc = o->singlethread ? fuse_session_loop(se) : fuse_session_loop_mt(se, lc);
    fuse_loop_cfg_destroy(lc);
out_unmount:
    fuse_session_unmount(se);
out_signals:
    fuse_remove_signal_handlers(se);
out_session:
    fuse_session_destroy(se);
    return rc ? 1 : 0;
}

static void fs_init_root(struct fs *fs)
{
    struct inode *root = inode_get(fs->inodes, FUSE_ROOT_ID);
    struct stat st;

    meta_implicit_dir(fs, &st);
    st.st_ino = FUSE_ROOT_ID;
    pthread_mutex_lock(&root->lock);
    root->attr = st;
    pthread_mutex_unlock(&root->lock);
    inode_put(fs->inodes, root);
}

static void fs_fini(struct fs *fs)
{
    reader_free(fs->reader);
    cluster_free(fs->cluster);
    s3_client_free(fs->s3);
    store_close(fs->store);
    inode_table_free(fs->inodes);
    creds_source_fini(&fs->creds);
    config_fini(fs_table, &fs->conf);
    free(fs->bucket);
    free(fs->prefix);
    free(fs->staging_dir);
}

static int fs_setup(struct fs *fs, struct fs_args *a, int *lock_fd)
{
    char err[512];

    if (a->bad) {
        fprintf(stderr, "pcachefs: %s\n", a->err.text);
        return -EINVAL;
    }
    if (!a->source || fs_parse_source(fs, a->source) < 0 ||
        fs_check_conf(fs) < 0)
        return -EINVAL;
    if (fs->conf.pms) {
        if (fs_check_cluster(fs) < 0)
            return -EIO;
        return fs_check_conf(fs) ?: fs_open_cache(fs, lock_fd);
    }
    if (!fs->conf.s3.endpoint) {
        fprintf(stderr, "pcachefs: no endpoint (-o endpoint=URL)\n");
        return -EINVAL;
    }
    if (creds_source_init(&fs->creds, fs->conf.access_key, fs->conf.secret_key,
                          NULL, fs->conf.credfile, fs->conf.profile, err,
                          sizeof(err)) < 0) {
        fprintf(stderr, "pcachefs: %s\n", err);
        return -EACCES;
    }
    if (fs_check_bucket(fs) < 0)
        return -EIO;
    return fs_open_cache(fs, lock_fd);
}

int main(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_cmdline_opts o;
    struct fs fs;
    struct fs_args a;
    int rc = 1, lock_fd = -1;

    /* Chunk buffers are large and short-lived: keep them out of malloc's
     * arenas (a fixed mmap threshold returns them to the system on free),
     * so the process's size follows max_memory. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_ARENA_MAX, 4);
    memset(&fs, 0, sizeof(fs));
    memset(&a, 0, sizeof(a));
    memset(&o, 0, sizeof(o));
    log_init("pcachefs", LOG_SINK_STDERR);
    config_init(fs_table, &fs.conf);
    fs.mount_time = time(NULL);
    fs.mount_uid = getuid();
    fs.mount_gid = getgid();
    fs.inodes = inode_table_new();
    a.fs = &fs;
    if (fs_load_config_option(&fs, argc, argv) < 0)
        goto out;
    if (fuse_opt_parse(&args, &a, NULL, fs_opt_proc) != 0 ||
        fuse_parse_cmdline(&args, &o) != 0)
        goto out;
    if (o.show_help) {
        fs_usage(argv[0]);
        rc = 0;
        goto out;
    }
    if (o.show_version) {
        printf("pcachefs %s (libfuse %s)\n", PCACHE_VERSION, fuse_pkgversion());
        rc = 0;
        goto out;
    }
    if (!o.mountpoint) {
        fprintf(stderr,
                "usage: %s s3://BUCKET[/PREFIX] MOUNTPOINT [options]"
                " (--help for more)\n",
                argv[0]);
        goto out;
    }
    fs.conf.foreground = o.foreground;
    if (fs_setup(&fs, &a, &lock_fd) < 0)
        goto out;
    fs_init_root(&fs);
    fuse_opt_add_arg(&args, "-omax_read=1048576");
    {
        char *fsname = xasprintf("-ofsname=%s%s/%s", fs.conf.pms ? "" : "s3://",
                                 fs.bucket, fs.prefix);
        /* fsname is a comma-separated option: commas in it must not split */
        fuse_opt_add_arg(&args, fsname);
        free(fsname);
    }
    rc = fs_run(&fs, &args, &o);
out:
    fs_fini(&fs);
    if (lock_fd >= 0)
        close(lock_fd);
    free(o.mountpoint);
    free(a.source);
    fuse_opt_free_args(&args);
    return rc;
}
