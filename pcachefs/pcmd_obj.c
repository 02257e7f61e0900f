/* SPDX-License-Identifier: MIT */
/*
 * pcmd_obj.c: pcmd's object and bucket commands: put, get, cat, stat, ls,
 * rm, cp, mb, rb, presign.
 *
 * Objects go through the remote layer (pcmd_remote.c), in either mode:
 * large ones move with parallel multipart uploads and parallel ranged
 * downloads, or parallel chunk reads from the nodes. What only S3 itself
 * does (presign, mb, rb, a copy across buckets) needs standalone mode
 * (pcmd_remote_need_s3).
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
    struct s3_error err;
    struct remote *re;
    struct pcmd_url u;
    struct stat st;
    char *etag = NULL;
    double t0;
    int fd, rc;

    if (argc != 2 || pcmd_parse_url(argv[1], &u) < 0)
        return PCMD_EXIT_USAGE;
    if (!(re = pcmd_remote(p, u.bucket))) {
        pcmd_url_fini(&u);
        return PCMD_EXIT_FAIL;
    }
    fd = open(argv[0], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "pcmd: %s: %s\n", argv[0], strerror(errno));
        pcmd_url_fini(&u);
        return PCMD_EXIT_FAIL;
    }
    t0 = monotime_sec();
    rc = remote_upload_fd(re, u.key, fd, (uint64_t)st.st_size, NULL, &etag,
                          &err);
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
    struct s3_object_meta m;
    struct s3_error err;
    struct remote *re;
    struct pcmd_url u;
    double t0;
    int fd, rc;

    if (argc != 2 || pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    if (!(re = pcmd_remote(p, u.bucket))) {
        pcmd_url_fini(&u);
        return PCMD_EXIT_FAIL;
    }
    fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "pcmd: %s: %s\n", argv[1], strerror(errno));
        pcmd_url_fini(&u);
        return PCMD_EXIT_FAIL;
    }
    t0 = monotime_sec();
    /* The size is unknown: ranged GETs (standalone) learn it by a HEAD. */
    rc = remote_download_fd(re, u.key, UINT64_MAX, NULL, fd, &m, &err);
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

/* Copies fd from its start to stdout; 0 or -errno. */
static int pcmd_copy_out(int fd)
{
    char b[65536];
    ssize_t n;
    off_t off = 0;

    while ((n = pread(fd, b, sizeof(b), off)) > 0) {
        if (fwrite(b, 1, (size_t)n, stdout) != (size_t)n)
            return -EIO;
        off += n;
    }
    if (n < 0)
        return -errno;
    return fflush(stdout) == 0 ? 0 : -EIO;
}

int pcmd_cmd_cat(struct pcmd *p, int argc, char **argv)
{
    struct s3_object_meta m;
    struct s3_error err;
    struct remote *re;
    struct pcmd_url u;
    int rc, fd;

    if (argc != 1 || pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    if (!(re = pcmd_remote(p, u.bucket))) {
        pcmd_url_fini(&u);
        return PCMD_EXIT_FAIL;
    }
    /* Through an unnamed file in /tmp: downloads write in parallel at
     * offsets, and stdout may be a pipe. Memory stays bounded. */
    fd = open(P_tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "pcmd: %s: %s\n", P_tmpdir, strerror(errno));
        pcmd_url_fini(&u);
        return PCMD_EXIT_FAIL;
    }
    rc = remote_download_fd(re, u.key, UINT64_MAX, NULL, fd, &m, &err);
    if (rc == 0) {
        s3_object_meta_fini(&m);
        rc = pcmd_copy_out(fd);
        if (rc)
            s3_error_clear(&err);
    }
    close(fd);
    if (rc)
        pcmd_fail("cat", argv[0], rc, &err);
    pcmd_url_fini(&u);
    return rc ? PCMD_EXIT_FAIL : 0;
}

int pcmd_cmd_stat(struct pcmd *p, int argc, char **argv)
{
    struct s3_object_meta m;
    struct s3_error err = {0};
    struct remote *re;
    struct pcmd_url u;
    char when[64];
    size_t i;
    int rc;

    if (argc != 1 || pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    re = pcmd_remote(p, u.bucket);
    rc = re ? remote_head(re, u.key, &m, &err) : -EIO;
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
    struct s3_error err = {0};
    struct s3_object_meta m;
    struct remote *re;
    char *etag = NULL;
    int rc;

    if (argc != 2 || pcmd_parse_url(argv[0], &a) < 0)
        return PCMD_EXIT_USAGE;
    if (pcmd_parse_url(argv[1], &b) < 0) {
        pcmd_url_fini(&a);
        return PCMD_EXIT_USAGE;
    }
    /* Server-side: within one bucket through the remote layer (both modes,
     * any size); across buckets by S3 itself (standalone only). */
    re = pcmd_remote(p, a.bucket);
    if (!re)
        rc = -EIO;
    else if (strcmp(a.bucket, b.bucket) != 0)
        rc = pcmd_remote_need_s3(p)
                 ?: s3_copy(p->client, a.bucket, a.key, b.bucket, b.key, NULL,
                            NULL, &etag, &err);
    else if ((rc = remote_head(re, a.key, &m, &err)) == 0) {
        rc = remote_copy(re, a.key, b.key, (uint64_t)m.size, NULL, NULL, &etag,
                         &err);
        s3_object_meta_fini(&m);
    }
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
    struct remote *re;
    struct pcmd_url u;
    char *token = NULL;
    bool first = true;
    int rc;

    if (argc != 1 || pcmd_parse_url(argv[0], &u) < 0)
        return PCMD_EXIT_USAGE;
    if (!(re = pcmd_remote(p, u.bucket))) {
        pcmd_url_fini(&u);
        return PCMD_EXIT_FAIL;
    }
    lo.prefix = u.key[0] ? u.key : NULL;
    lo.delimiter = p->conf.recursive ? NULL : "/";
    if (p->conf.json)
        printf("{\"entries\": [");
    do {
        lo.continuation = token;
        rc = remote_list(re, &lo, &r, &err);
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
    struct s3_error err = {0};
    struct remote *re;
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
        re = pcmd_remote(p, u.bucket);
        rc = re ? remote_delete(re, u.key, &err) : -EIO;
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
