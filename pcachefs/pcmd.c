/* SPDX-License-Identifier: MIT */
/*
 * pcmd.c: the pcachefs command-line tool.
 *
 * Talks to S3 through the same client library as the mount (standalone
 * mode): make and remove buckets, put, get, cat, stat, ls, rm, cp and
 * presign objects. Large objects move with parallel multipart uploads and
 * parallel ranged downloads (common/s3_transfer.c).
 *
 * Exit status: 0 success, 1 the operation failed, 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/creds.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "common/s3.h"
#include "common/s3_transfer.h"

#define PCMD_EXIT_FAIL  1
#define PCMD_EXIT_USAGE 2

struct pcmd_conf {
    struct s3_config s3;
    char *credfile;
    char *profile;
    char *access_key;
    char *secret_key;
    uint64_t part_size;
    int64_t parallel;
    bool recursive;
    bool long_list;
    int64_t expires;
    char *method;
};

static const struct config_entry pcmd_table[] = {
    S3_CONFIG_ENTRIES(struct pcmd_conf, s3),
    {"credfile", CONFIG_STRING, offsetof(struct pcmd_conf, credfile), NULL, 0,
     0, "credentials file (AWS or s3fs format, mode 0600)"},
    {"profile", CONFIG_STRING, offsetof(struct pcmd_conf, profile), NULL, 0, 0,
     "profile in the credentials file"},
    {"access_key", CONFIG_STRING, offsetof(struct pcmd_conf, access_key), NULL,
     0, 0, "access key (prefer credfile)"},
    {"secret_key", CONFIG_STRING, offsetof(struct pcmd_conf, secret_key), NULL,
     0, 0, "secret key (prefer credfile)"},
    {"part_size", CONFIG_SIZE, offsetof(struct pcmd_conf, part_size), "8M",
     5 << 20, 5ll << 30, "multipart part size"},
    {"parallel", CONFIG_INT, offsetof(struct pcmd_conf, parallel), "8", 1, 64,
     "requests in flight per transfer"},
    {"recursive", CONFIG_BOOL, offsetof(struct pcmd_conf, recursive), "no", 0,
     0, "ls: list every key below the prefix"},
    {"long", CONFIG_BOOL, offsetof(struct pcmd_conf, long_list), "no", 0, 0,
     "ls: sizes, times and ETags"},
    {"expires", CONFIG_INT, offsetof(struct pcmd_conf, expires), "3600", 1,
     SIGV4_MAX_EXPIRES, "presign: lifetime in seconds"},
    {"method", CONFIG_STRING, offsetof(struct pcmd_conf, method), "GET", 0, 0,
     "presign: HTTP method"},
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

struct pcmd {
    struct pcmd_conf conf;
    struct creds_source creds;
    struct s3_client *client;
};

struct pcmd_url {
    char *bucket;
    char *key; /* NULL or "" for the bucket itself */
};

static void pcmd_usage(FILE *out)
{
    fprintf(out, "usage: pcmd [options] COMMAND ARGS\n"
                 "commands:\n"
                 "  mb s3://BUCKET              create a bucket\n"
                 "  rb s3://BUCKET              remove an empty bucket\n"
                 "  put FILE s3://BUCKET/KEY    upload (multipart when large)\n"
                 "  get s3://BUCKET/KEY FILE    download (parallel ranges)\n"
                 "  cat s3://BUCKET/KEY         write an object to stdout\n"
                 "  stat s3://BUCKET/KEY        show an object's metadata\n"
                 "  ls s3://BUCKET[/PREFIX]     list (-r recursive, -l long)\n"
                 "  rm s3://BUCKET/KEY...       delete objects\n"
                 "  cp s3://B/K s3://B2/K2      server-side copy\n"
                 "  presign s3://BUCKET/KEY     print a presigned URL\n"
                 "options:\n"
                 "  -e, --endpoint URL   S3 endpoint (or PCACHE_ENDPOINT)\n"
                 "  -c, --credfile FILE  credentials file\n"
                 "  -r, --recursive      -l, --long\n"
                 "  -o NAME=VALUE[,...]  any setting below\n"
                 "  -d, --debug LIST     debug output (s3, all)\n"
                 "  -h, --help           -V, --version\n"
                 "settings:\n");
    config_print_help(pcmd_table, out);
}

static int pcmd_parse_url(const char *s, struct pcmd_url *u)
{
    const char *slash;

    memset(u, 0, sizeof(*u));
    if (strncmp(s, "s3://", 5) != 0 || s[5] == '\0' || s[5] == '/') {
        fprintf(stderr, "pcmd: '%s' is not an s3://BUCKET[/KEY] URL\n", s);
        return -EINVAL;
    }
    s += 5;
    slash = strchr(s, '/');
    u->bucket = slash ? xstrndup(s, (size_t)(slash - s)) : xstrdup(s);
    u->key = xstrdup(slash ? slash + 1 : "");
    return 0;
}

static void pcmd_url_fini(struct pcmd_url *u)
{
    free(u->bucket);
    free(u->key);
}

static int pcmd_fail(const char *what, const char *target, int rc,
                     const struct s3_error *err)
{
    char detail[768];

    if (err && (err->status || err->curl_code))
        fprintf(stderr, "pcmd: %s %s: %s (%s)\n", what, target, strerror(-rc),
                s3_error_format(err, detail, sizeof(detail)));
    else
        fprintf(stderr, "pcmd: %s %s: %s\n", what, target, strerror(-rc));
    return PCMD_EXIT_FAIL;
}

static void pcmd_transfer_opts(const struct pcmd *p, struct s3_transfer_opts *o)
{
    s3_transfer_opts_init(o);
    o->part_size = p->conf.part_size;
    o->multipart_above = 2 * p->conf.part_size;
    o->parallel = (unsigned)p->conf.parallel;
}

static int pcmd_put(struct pcmd *p, int argc, char **argv)
{
    struct s3_transfer_opts o;
    struct s3_error err;
    struct pcmd_url u;
    struct stat st;
    char *etag = NULL;
    double t0;
    int fd, rc;

    if (argc != 2 || pcmd_parse_url(argv[1], &u) < 0)
        return PCMD_EXIT_USAGE;
    fd = open(argv[0], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "pcmd: %s: %s\n", argv[0], strerror(errno));
        pcmd_url_fini(&u);
        return PCMD_EXIT_FAIL;
    }
    pcmd_transfer_opts(p, &o);
    t0 = monotime_sec();
    rc = s3_upload_fd(p->client, u.bucket, u.key, fd, (uint64_t)st.st_size,
                      NULL, &o, &etag, &err);
    close(fd);
    if (rc == 0)
        printf("put %s -> s3://%s/%s: %jd bytes in %.2f s, ETag %s\n", argv[0],
               u.bucket, u.key, (intmax_t)st.st_size, monotime_sec() - t0,
               etag ? etag : "-");
    else
        pcmd_fail("put", argv[1], rc, &err);
    free(etag);
    pcmd_url_fini(&u);
    return rc ? PCMD_EXIT_FAIL : 0;
}

static int pcmd_get(struct pcmd *p, int argc, char **argv)
{
    struct s3_transfer_opts o;
    struct s3_object_meta m;
    struct s3_error err;
    struct pcmd_url u;
    double t0;
    int fd, rc;

    if (argc != 2 || pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "pcmd: %s: %s\n", argv[1], strerror(errno));
        pcmd_url_fini(&u);
        return PCMD_EXIT_FAIL;
    }
    pcmd_transfer_opts(p, &o);
    t0 = monotime_sec();
    rc = s3_download_fd(p->client, u.bucket, u.key, fd, &o, &m, &err);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0) {
        printf("get s3://%s/%s -> %s: %" PRId64 " bytes in %.2f s, ETag %s\n",
               u.bucket, u.key, argv[1], m.size, monotime_sec() - t0, m.etag);
        s3_object_meta_fini(&m);
    } else {
        pcmd_fail("get", argv[0], rc, &err);
        unlink(argv[1]);
    }
    pcmd_url_fini(&u);
    return rc ? PCMD_EXIT_FAIL : 0;
}

static int pcmd_cat(struct pcmd *p, int argc, char **argv)
{
    struct s3_sink sink = {.kind = S3_SINK_FD, .fd = STDOUT_FILENO};
    struct s3_error err;
    struct pcmd_url u;
    int rc;

    if (argc != 1 || pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    /* pwrite needs a seekable stdout; a pipe takes the bytes in a buffer. */
    if (lseek(STDOUT_FILENO, 0, SEEK_CUR) < 0) {
        struct buf b;

        buf_init(&b, 1ull << 32);
        sink = (struct s3_sink){.kind = S3_SINK_BUF, .buf = &b};
        rc = s3_get(p->client, u.bucket, u.key, 0, UINT64_MAX, NULL, &sink,
                    NULL, &err);
        if (rc == 0 && fwrite(b.data ? b.data : "", 1, b.len, stdout) != b.len)
            rc = -EIO;
        buf_free(&b);
    } else {
        sink.off = (uint64_t)lseek(STDOUT_FILENO, 0, SEEK_CUR);
        rc = s3_get(p->client, u.bucket, u.key, 0, UINT64_MAX, NULL, &sink,
                    NULL, &err);
    }
    if (rc)
        pcmd_fail("cat", argv[0], rc, &err);
    pcmd_url_fini(&u);
    return rc ? PCMD_EXIT_FAIL : 0;
}

static int pcmd_stat(struct pcmd *p, int argc, char **argv)
{
    struct s3_object_meta m;
    struct s3_error err;
    struct pcmd_url u;
    char when[64];
    size_t i;
    int rc;

    if (argc != 1 || pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    rc = s3_head(p->client, u.bucket, u.key, &m, &err);
    if (rc) {
        pcmd_url_fini(&u);
        return pcmd_fail("stat", argv[0], rc, &err);
    }
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&m.mtime));
    printf("key:           %s\nsize:          %" PRId64 "\nETag:          %s\n"
           "last modified: %s\ncontent type:  %s\nstorage class: %s\n",
           u.key, m.size, m.etag, when, m.content_type,
           m.storage_class[0] ? m.storage_class : "STANDARD");
    for (i = 0; i < m.nuser; i++)
        printf("x-amz-meta-%s: %s\n", m.user[i].name, m.user[i].value);
    s3_object_meta_fini(&m);
    pcmd_url_fini(&u);
    return 0;
}

static void pcmd_ls_page(const struct pcmd *p, const struct s3_list_result *r)
{
    size_t i;

    for (i = 0; i < r->nprefixes; i++)
        printf(p->conf.long_list ? "%30s  %s\n" : "%.0s%s\n", "PRE",
               r->prefixes[i]);
    for (i = 0; i < r->nobjects; i++) {
        const struct s3_object_info *o = &r->objects[i];
        char when[32];

        if (!p->conf.long_list) {
            printf("%s\n", o->key);
            continue;
        }
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime(&o->mtime));
        printf("%s %12" PRId64 "  %s  %s\n", when, o->size,
               o->etag ? o->etag : "-", o->key);
    }
}

static int pcmd_ls(struct pcmd *p, int argc, char **argv)
{
    struct s3_list_result r;
    struct s3_list_opts lo = {0};
    struct s3_error err;
    struct pcmd_url u;
    char *token = NULL;
    int rc;

    if (argc != 1 || pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    lo.prefix = u.key[0] ? u.key : NULL;
    lo.delimiter = p->conf.recursive ? NULL : "/";
    do {
        lo.continuation = token;
        rc = s3_list(p->client, u.bucket, &lo, &r, &err);
        free(token);
        token = NULL;
        if (rc)
            break;
        pcmd_ls_page(p, &r);
        if (r.truncated && r.next_token)
            token = xstrdup(r.next_token);
        s3_list_result_fini(&r);
    } while (token);
    if (rc)
        pcmd_fail("ls", argv[0], rc, &err);
    pcmd_url_fini(&u);
    return rc ? PCMD_EXIT_FAIL : 0;
}

static int pcmd_rm(struct pcmd *p, int argc, char **argv)
{
    struct s3_error err;
    int i, failed = 0;

    if (argc < 1)
        return PCMD_EXIT_USAGE;
    for (i = 0; i < argc; i++) {
        struct pcmd_url u;
        int rc;

        if (pcmd_parse_url(argv[i], &u) < 0)
            return PCMD_EXIT_USAGE;
        rc = s3_delete(p->client, u.bucket, u.key, &err);
        if (rc)
            failed = pcmd_fail("rm", argv[i], rc, &err);
        pcmd_url_fini(&u);
    }
    return failed;
}

static int pcmd_cp(struct pcmd *p, int argc, char **argv)
{
    struct pcmd_url a, b;
    struct s3_error err;
    char *etag = NULL;
    int rc;

    if (argc != 2 || pcmd_parse_url(argv[0], &a) < 0)
        return PCMD_EXIT_USAGE;
    if (pcmd_parse_url(argv[1], &b) < 0) {
        pcmd_url_fini(&a);
        return PCMD_EXIT_USAGE;
    }
    rc = s3_copy(p->client, a.bucket, a.key, b.bucket, b.key, NULL, NULL, &etag,
                 &err);
    if (rc == 0)
        printf("copied %s -> %s, ETag %s\n", argv[0], argv[1],
               etag ? etag : "-");
    else
        pcmd_fail("cp", argv[0], rc, &err);
    free(etag);
    pcmd_url_fini(&a);
    pcmd_url_fini(&b);
    return rc ? PCMD_EXIT_FAIL : 0;
}

static int pcmd_bucket(struct pcmd *p, const char *cmd, int argc, char **argv)
{
    struct s3_error err;
    struct pcmd_url u;
    int rc;

    if (argc != 1 || pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    rc = strcmp(cmd, "mb") == 0 ? s3_bucket_create(p->client, u.bucket, &err)
                                : s3_bucket_delete(p->client, u.bucket, &err);
    if (rc)
        pcmd_fail(cmd, argv[0], rc, &err);
    pcmd_url_fini(&u);
    return rc ? PCMD_EXIT_FAIL : 0;
}

static int pcmd_presign(struct pcmd *p, int argc, char **argv)
{
    struct pcmd_url u;
    struct buf url;
    int rc;

    if (argc != 1 || pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    buf_init(&url, 65536);
    rc = s3_presign(p->client, p->conf.method, u.bucket, u.key,
                    (unsigned)p->conf.expires, &url);
    if (rc == 0)
        printf("%s\n", buf_str(&url));
    else
        pcmd_fail("presign", argv[0], rc, NULL);
    buf_free(&url);
    pcmd_url_fini(&u);
    return rc ? PCMD_EXIT_FAIL : 0;
}

static const struct {
    const char *name;
    int (*fn)(struct pcmd *p, int argc, char **argv);
} pcmd_commands[] = {
    {"put", pcmd_put},   {"get", pcmd_get},         {"cat", pcmd_cat},
    {"stat", pcmd_stat}, {"ls", pcmd_ls},           {"rm", pcmd_rm},
    {"cp", pcmd_cp},     {"presign", pcmd_presign},
};

static int pcmd_run(struct pcmd *p, const char *cmd, int argc, char **argv)
{
    size_t i;
    int rc;

    if (strcmp(cmd, "mb") == 0 || strcmp(cmd, "rb") == 0) {
        rc = pcmd_bucket(p, cmd, argc, argv);
        goto out;
    }
    for (i = 0; i < sizeof(pcmd_commands) / sizeof(pcmd_commands[0]); i++) {
        if (strcmp(cmd, pcmd_commands[i].name) == 0) {
            rc = pcmd_commands[i].fn(p, argc, argv);
            goto out;
        }
    }
    fprintf(stderr, "pcmd: unknown command '%s'\n", cmd);
    rc = PCMD_EXIT_USAGE;
out:
    if (rc == PCMD_EXIT_USAGE)
        fprintf(stderr, "pcmd: usage error; see 'pcmd --help'\n");
    return rc;
}

/* Parses options into p->conf; returns the index of the command or -1. */
static int pcmd_options(struct pcmd *p, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"credfile", required_argument, NULL, 'c'},
        {"recursive", no_argument, NULL, 'r'},
        {"long", no_argument, NULL, 'l'},
        {"debug", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct config_error cerr;
    int c, rc = 0;

    while ((c = getopt_long(argc, argv, "e:c:rlo:d:hV", longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'e':
            rc = config_set(pcmd_table, &p->conf, "endpoint", optarg, &cerr);
            break;
        case 'c':
            rc = config_set(pcmd_table, &p->conf, "credfile", optarg, &cerr);
            break;
        case 'r':
            p->conf.recursive = true;
            break;
        case 'l':
            p->conf.long_list = true;
            break;
        case 'o':
            rc = config_parse_opts(pcmd_table, &p->conf, optarg, false, NULL,
                                   &cerr);
            break;
        case 'd':
            rc = log_enable_debug(optarg);
            snprintf(cerr.text, sizeof(cerr.text), "bad debug list '%s'",
                     optarg);
            break;
        case 'h':
            pcmd_usage(stdout);
            exit(0);
        case 'V':
            printf("pcmd %s\n", PCACHE_VERSION);
            exit(0);
        default:
            return -1;
        }
        if (rc) {
            fprintf(stderr, "pcmd: %s\n", cerr.text);
            return -1;
        }
    }
    return optind < argc ? optind : -1;
}

static int pcmd_connect(struct pcmd *p)
{
    const char *env = getenv("PCACHE_ENDPOINT");
    char err[512];

    if (!p->conf.s3.endpoint && env && *env)
        p->conf.s3.endpoint = xstrdup(env);
    if (creds_source_init(&p->creds, p->conf.access_key, p->conf.secret_key,
                          NULL, p->conf.credfile, p->conf.profile, err,
                          sizeof(err)) < 0) {
        fprintf(stderr, "pcmd: %s\n", err);
        return -1;
    }
    p->client = s3_client_new(&p->conf.s3, &p->creds, NULL, err, sizeof(err));
    if (!p->client) {
        fprintf(stderr, "pcmd: %s\n", err);
        creds_source_fini(&p->creds);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct pcmd p;
    int cmd, rc;

    memset(&p, 0, sizeof(p));
    log_init("pcmd", LOG_SINK_STDERR);
    config_init(pcmd_table, &p.conf);
    cmd = pcmd_options(&p, argc, argv);
    if (cmd < 0) {
        pcmd_usage(stderr);
        config_fini(pcmd_table, &p.conf);
        return PCMD_EXIT_USAGE;
    }
    if (pcmd_connect(&p) < 0) {
        config_fini(pcmd_table, &p.conf);
        return PCMD_EXIT_FAIL;
    }
    rc = pcmd_run(&p, argv[cmd], argc - cmd - 1, argv + cmd + 1);
    s3_client_free(p.client);
    creds_source_fini(&p.creds);
    config_fini(pcmd_table, &p.conf);
    return rc;
}
