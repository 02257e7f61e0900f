/* SPDX-License-Identifier: MIT */
/*
 * pcmd_obj.c: pcmd's object and bucket commands: put, get, cat, stat, ls,
 * rm, cp, mb, rb, presign.
 *
 * Large objects move with parallel multipart uploads and parallel ranged
 * downloads (common/s3_transfer.c). ls and rm -r walk listings through
 * pcmd_remote.c; the single-object commands use the S3 client directly
 * and say so in cluster mode (pcmd_remote_need_s3).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"
#include "common/monotime.h"
#include "common/s3.h"
#include "common/s3_transfer.h"
#include "pcachefs/pcmd.h"

int pcmd_cmd_put(struct pcmd *p, int argc, char **argv)
{
    struct s3_transfer_opts o;
    struct s3_error err;
    struct pcmd_url u;
    struct stat st;
    char *etag = NULL;
    double t0;
    int fd, rc;

    if (pcmd_remote_need_s3(p) < 0)
        return PCMD_EXIT_FAIL;

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

int pcmd_cmd_get(struct pcmd *p, int argc, char **argv)
{
    struct s3_transfer_opts o;
    struct s3_object_meta m;
    struct s3_error err;
    struct pcmd_url u;
    double t0;
    int fd, rc;

    if (pcmd_remote_need_s3(p) < 0)
        return PCMD_EXIT_FAIL;

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

int pcmd_cmd_cat(struct pcmd *p, int argc, char **argv)
{
    struct s3_sink sink = {.kind = S3_SINK_FD, .fd = STDOUT_FILENO};
    struct s3_error err;
    struct pcmd_url u;
    int rc;

    if (pcmd_remote_need_s3(p) < 0)
        return PCMD_EXIT_FAIL;

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

int pcmd_cmd_stat(struct pcmd *p, int argc, char **argv)
{
    struct s3_object_meta m;
    struct s3_error err;
    struct pcmd_url u;
    char when[64];
    size_t i;
    int rc;

    if (pcmd_remote_need_s3(p) < 0)
        return PCMD_EXIT_FAIL;

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

int pcmd_cmd_cp(struct pcmd *p, int argc, char **argv)
{
    struct pcmd_url a, b;
    struct s3_error err;
    char *etag = NULL;
    int rc;

    if (pcmd_remote_need_s3(p) < 0)
        return PCMD_EXIT_FAIL;

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

int pcmd_cmd_presign(struct pcmd *p, int argc, char **argv)
{
    struct pcmd_url u;
    struct buf url;
    int rc;

    if (pcmd_remote_need_s3(p) < 0)
        return PCMD_EXIT_FAIL;

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

static void pcmd_ls_object(const struct pcmd *p, const struct s3_object_info *o,
                           bool *first)
{
    char when[32], size[32];

    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime(&o->mtime));
    if (p->conf.json) {
        printf("%s{\"key\": ", *first ? "" : ",\n ");
        pcmd_json_str(stdout, o->key);
        printf(", \"size\": %" PRId64 ", \"etag\": ", o->size);
        pcmd_json_str(stdout, o->etag);
        printf(", \"mtime\": %jd}", (intmax_t)o->mtime);
    } else if (p->conf.long_list) {
        printf(
            "%s %12s  %s  %s\n", when,
            pcmd_size_str((uint64_t)o->size, p->conf.human, size, sizeof(size)),
            o->etag && *o->etag ? o->etag : "-", o->key);
    } else {
        printf("%s\n", o->key);
    }
    *first = false;
}

static void pcmd_ls_page(const struct pcmd *p, const struct s3_list_result *r,
                         bool *first)
{
    size_t i;

    for (i = 0; i < r->nprefixes; i++) {
        if (p->conf.json) {
            printf("%s{\"prefix\": ", *first ? "" : ",\n ");
            pcmd_json_str(stdout, r->prefixes[i]);
            printf("}");
            *first = false;
        } else {
            printf(p->conf.long_list ? "%30s  %s\n" : "%.0s%s\n", "PRE",
                   r->prefixes[i]);
        }
    }
    for (i = 0; i < r->nobjects; i++)
        pcmd_ls_object(p, &r->objects[i], first);
}

int pcmd_cmd_ls(struct pcmd *p, int argc, char **argv)
{
    struct s3_list_result r;
    struct s3_list_opts lo = {0};
    struct s3_error err;
    struct pcmd_url u;
    char *token = NULL;
    bool first = true;
    int rc;

    if (argc != 1 || pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    if (pcmd_remote_need_s3(p) < 0) {
        pcmd_url_fini(&u);
        return PCMD_EXIT_FAIL;
    }
    lo.prefix = u.key[0] ? u.key : NULL;
    lo.delimiter = p->conf.recursive ? NULL : "/";
    if (p->conf.json)
        printf("{\"entries\": [");
    do {
        lo.continuation = token;
        rc = s3_list(p->client, u.bucket, &lo, &r, &err);
        free(token);
        token = NULL;
        if (rc)
            break;
        pcmd_ls_page(p, &r, &first);
        if (r.truncated && r.next_token)
            token = xstrdup(r.next_token);
        s3_list_result_fini(&r);
    } while (token);
    if (p->conf.json)
        printf("], \"ok\": %s}\n", rc ? "false" : "true");
    if (rc)
        pcmd_fail("ls", argv[0], rc, &err);
    pcmd_url_fini(&u);
    return rc ? PCMD_EXIT_FAIL : 0;
}

struct pcmd_rm_keys {
    char **keys;
    size_t n, cap;
};

static int pcmd_rm_collect_cb(const struct s3_object_info *o, void *arg)
{
    struct pcmd_rm_keys *k = arg;

    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 256;
        k->keys = xrealloc(k->keys, k->cap * sizeof(*k->keys));
    }
    k->keys[k->n++] = xstrdup(o->key);
    return 0;
}

/* rm -r s3://B/PREFIX: every key below the prefix, in batches. */
static int pcmd_rm_prefix(struct pcmd *p, const char *arg, size_t *nkeys)
{
    struct pcmd_rm_keys k = {0};
    struct s3_error err;
    struct pcmd_url u;
    size_t i, failed = 0;
    int rc;

    if (pcmd_parse_url(arg, &u) < 0)
        return PCMD_EXIT_USAGE;
    rc = pcmd_remote_list(p, u.bucket, u.key, pcmd_rm_collect_cb, &k, &err);
    if (rc == 0 && p->conf.dry_run) {
        for (i = 0; i < k.n; i++)
            printf("(dry run) delete s3://%s/%s\n", u.bucket, k.keys[i]);
    } else if (rc == 0) {
        rc = pcmd_remote_delete(p, u.bucket, (const char *const *)k.keys, k.n,
                                &failed, &err);
    }
    if (rc)
        pcmd_fail("rm", arg, rc, &err);
    else if (!p->conf.quiet && !p->conf.dry_run && !p->conf.json)
        printf("deleted %zu of %zu keys under %s\n", k.n - failed, k.n, arg);
    *nkeys += k.n - failed;
    for (i = 0; i < k.n; i++)
        free(k.keys[i]);
    free(k.keys);
    pcmd_url_fini(&u);
    return rc ? PCMD_EXIT_FAIL : 0;
}

int pcmd_cmd_rm(struct pcmd *p, int argc, char **argv)
{
    struct s3_error err;
    size_t deleted = 0;
    int i, failed = 0;

    if (argc < 1)
        return PCMD_EXIT_USAGE;
    for (i = 0; i < argc; i++) {
        struct pcmd_url u;
        int rc;

        if (p->conf.recursive) {
            rc = pcmd_rm_prefix(p, argv[i], &deleted);
            if (rc == PCMD_EXIT_USAGE)
                return rc;
            failed |= rc;
            continue;
        }
        if (pcmd_parse_url(argv[i], &u) < 0)
            return PCMD_EXIT_USAGE;
        if (p->conf.dry_run) {
            printf("(dry run) delete %s\n", argv[i]);
            pcmd_url_fini(&u);
            continue;
        }
        rc = pcmd_remote_need_s3(p);
        if (rc == 0)
            rc = s3_delete(p->client, u.bucket, u.key, &err);
        if (rc)
            failed = pcmd_fail("rm", argv[i], rc, &err);
        else
            deleted++;
        pcmd_url_fini(&u);
    }
    if (p->conf.json)
        printf("{\"deleted\": %zu, \"ok\": %s}\n", deleted,
               failed ? "false" : "true");
    return failed;
}

static int pcmd_bucket(struct pcmd *p, const char *cmd, int argc, char **argv)
{
    struct s3_error err;
    struct pcmd_url u;
    int rc;

    if (argc != 1 || pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    rc = pcmd_remote_need_s3(p);
    if (rc == 0)
        rc = strcmp(cmd, "mb") == 0
                 ? s3_bucket_create(p->client, u.bucket, &err)
                 : s3_bucket_delete(p->client, u.bucket, &err);
    if (rc)
        pcmd_fail(cmd, argv[0], rc, &err);
    pcmd_url_fini(&u);
    return rc ? PCMD_EXIT_FAIL : 0;
}

int pcmd_cmd_mb(struct pcmd *p, int argc, char **argv)
{
    return pcmd_bucket(p, "mb", argc, argv);
}

int pcmd_cmd_rb(struct pcmd *p, int argc, char **argv)
{
    return pcmd_bucket(p, "rb", argc, argv);
}
