/* SPDX-License-Identifier: MIT */
/*
 * pcmd_sync.c: pcmd sync, between s3://BUCKET/PREFIX/ and a directory,
 * either way.
 *
 * DESIGN. Both sides are listed in full (the bucket with ListObjectsV2
 * pages, the directory with a walk), sorted by relative path and merged
 * into a plan: copy, check, or delete. "Differs" is decided without
 * reading data where possible:
 *   - sizes differ: copy;
 *   - down: the local file's mtime is at least the object's
 *     Last-Modified (a finished download sets it so): same;
 *     up: the local mtime is at most Last-Modified: same;
 *   - otherwise, when the ETag is a plain MD5 (one PUT) and the file is
 *     at most md5_max, the file is hashed by a worker ("check"): equal
 *     means same (a download then only fixes the local mtime);
 *   - otherwise copy.
 * Uploads carry s3fs's x-amz-meta-mode and x-amz-meta-mtime, so the
 * mount shows the local file's mode and time.
 *
 * Resumable: a download is written to ".NAME.pcmd-PID.tmp" beside its
 * target and renamed only when complete, so an interrupted sync leaves
 * whole files or temporary ones, and the next run copies only the rest.
 * Temporaries of processes that are gone are removed by the next walk.
 * An upload is one PUT or a multipart upload that is aborted on failure;
 * either the object is there whole or not at all.
 *
 * Threads: the plan is made on the calling thread; -j workers take its
 * actions by an atomic index, each doing whole-file transfers (which have
 * their own parallel parts). Deletions run after every copy.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mem.h"
#include "common/monotime.h"
#include "pcachefs/pcmd.h"

#define PCMD_SYNC_TMP_TAG ".pcmd-"
#define PCMD_SYNC_MAX_ERR 256

struct pcmd_sync_entry {
    char *rel;  /* owned: path below the root / key without the prefix */
    char *etag; /* owned, remote only */
    uint64_t size;
    time_t mtime;
    unsigned mode; /* local only */
};

struct pcmd_sync_list {
    struct pcmd_sync_entry *v;
    size_t n, cap;
};

enum pcmd_sync_op {
    PCMD_SYNC_COPY,
    PCMD_SYNC_CHECK, /* hash the file; copy only when the MD5 differs */
    PCMD_SYNC_DELETE,
};

enum pcmd_sync_result {
    PCMD_SYNC_PENDING,
    PCMD_SYNC_COPIED,
    PCMD_SYNC_SAME,
    PCMD_SYNC_DELETED,
    PCMD_SYNC_FAILED,
};

struct pcmd_sync_action {
    enum pcmd_sync_op op;
    const struct pcmd_sync_entry *src; /* borrowed from a list */
    const struct pcmd_sync_entry *dst; /* NULL when absent */
    enum pcmd_sync_result result;      /* written by one worker */
    char *error;                       /* owned, on failure */
};

struct pcmd_sync {
    struct pcmd *p;
    bool down; /* S3 -> directory */
    char *bucket;
    char *prefix; /* "" or ending in '/' */
    char *dir;    /* without a trailing '/' */
    struct pcmd_sync_list remote, local;
    struct pcmd_sync_action *acts;
    size_t nacts, capacts;
    size_t next; /* atomic: the next action a worker takes */
    struct pcmd_progress pg;
    size_t skipped; /* remote keys with no file name, local non-files */
};

static void pcmd_sync_list_add(struct pcmd_sync_list *l, const char *rel,
                               const char *etag, uint64_t size, time_t mtime,
                               unsigned mode)
{
    struct pcmd_sync_entry *e;

    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    e = &l->v[l->n++];
    e->rel = xstrdup(rel);
    e->etag = etag ? xstrdup(etag) : NULL;
    e->size = size;
    e->mtime = mtime;
    e->mode = mode;
}

static void pcmd_sync_list_free(struct pcmd_sync_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        free(l->v[i].rel);
        free(l->v[i].etag);
    }
    free(l->v);
}

static int pcmd_sync_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pcmd_sync_entry *)a)->rel,
                  ((const struct pcmd_sync_entry *)b)->rel);
}

/* A key usable as a relative file path: no "", ".", ".." or "" segment. */
static bool pcmd_sync_rel_ok(const char *rel)
{
    const char *s = rel, *e;

    if (!*rel)
        return false;
    for (;;) {
        e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);

        if (n == 0 || (n == 1 && s[0] == '.') ||
            (n == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        if (!e)
            return true;
        s = e + 1;
    }
}

static int pcmd_sync_remote_cb(const struct s3_object_info *o, void *arg)
{
    struct pcmd_sync *s = arg;
    const char *rel = o->key + strlen(s->prefix);

    if (strncmp(o->key, s->prefix, strlen(s->prefix)) != 0)
        return 0;
    /* "dir/" markers are directories: nothing to copy */
    if (*rel && rel[strlen(rel) - 1] == '/')
        return 0;
    if (!pcmd_sync_rel_ok(rel)) {
        fprintf(stderr, "pcmd: sync: skipping key '%s': not a file name\n",
                o->key);
        s->skipped++;
        return 0;
    }
    pcmd_sync_list_add(&s->remote, rel, o->etag, (uint64_t)o->size, o->mtime,
                       0);
    return 0;
}

/* ".NAME.pcmd-PID.tmp": the PID, or 0 when name is no temporary of ours. */
static pid_t pcmd_sync_tmp_pid(const char *name)
{
    const char *tag = strstr(name, PCMD_SYNC_TMP_TAG);
    size_t n = strlen(name);
    char *end;
    long pid;

    if (name[0] != '.' || !tag || n < 5 || strcmp(name + n - 4, ".tmp") != 0)
        return 0;
    pid = strtol(tag + strlen(PCMD_SYNC_TMP_TAG), &end, 10);
    if (pid <= 0 || strcmp(end, ".tmp") != 0)
        return 0;
    return (pid_t)pid;
}

static void pcmd_sync_walk_entry(struct pcmd_sync *s, const char *rel,
                                 const char *name, const char *path);

/* Adds the regular files below dir/rel to s->local; 0 or -errno. */
static int pcmd_sync_walk(struct pcmd_sync *s, const char *rel)
{
    char *path = *rel ? xasprintf("%s/%s", s->dir, rel) : xstrdup(s->dir);
    struct dirent *d;
    DIR *dh = opendir(path);
    int rc = 0;

    if (!dh) {
        rc = -errno;
        fprintf(stderr, "pcmd: sync: %s: %s\n", path, strerror(errno));
        free(path);
        return rc;
    }
    while ((d = readdir(dh)) != NULL) {
        char *sub, *full;

        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        sub = *rel ? xasprintf("%s/%s", rel, d->d_name) : xstrdup(d->d_name);
        full = xasprintf("%s/%s", path, d->d_name);
        pcmd_sync_walk_entry(s, sub, d->d_name, full);
        free(sub);
        free(full);
    }
    closedir(dh);
    free(path);
    return rc;
}

static void pcmd_sync_walk_entry(struct pcmd_sync *s, const char *rel,
                                 const char *name, const char *path)
{
    struct stat st;
    pid_t pid = pcmd_sync_tmp_pid(name);

    if (pid) {
        /* a temporary of an interrupted sync: its writer is gone */
        if (!s->p->conf.dry_run && pid != getpid() && kill(pid, 0) < 0 &&
            errno == ESRCH)
            unlink(path);
        return;
    }
    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        pcmd_sync_walk(s, rel);
    } else if (S_ISREG(st.st_mode)) {
        pcmd_sync_list_add(&s->local, rel, NULL, (uint64_t)st.st_size,
                           st.st_mtime, st.st_mode);
    } else {
        s->skipped++; /* symlinks, sockets, ...: not synced */
    }
}

/* A plain MD5 ETag ("32 hex", no "-N" part) into hex[33]; else false. */
static bool pcmd_sync_etag_md5(const char *etag, char *hex)
{
    size_t n, i;

    if (!etag)
        return false;
    if (*etag == '"')
        etag++;
    n = strcspn(etag, "\"");
    if (n != 32)
        return false;
    for (i = 0; i < 32; i++) {
        char c = etag[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
              (c >= 'A' && c <= 'F')))
            return false;
        hex[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    hex[32] = '\0';
    return true;
}

static void pcmd_sync_plan_add(struct pcmd_sync *s, enum pcmd_sync_op op,
                               const struct pcmd_sync_entry *src,
                               const struct pcmd_sync_entry *dst)
{
    struct pcmd_sync_action *a;

    if (s->nacts == s->capacts) {
        s->capacts = s->capacts ? 2 * s->capacts : 1024;
        s->acts = xrealloc(s->acts, s->capacts * sizeof(*s->acts));
    }
    a = &s->acts[s->nacts++];
    memset(a, 0, sizeof(*a));
    a->op = op;
    a->src = src;
    a->dst = dst;
}

/* One file on both sides: same, copy, or check its MD5. */
static void pcmd_sync_compare(struct pcmd_sync *s,
                              const struct pcmd_sync_entry *src,
                              const struct pcmd_sync_entry *dst)
{
    const struct pcmd_sync_entry *r = s->down ? src : dst;
    const struct pcmd_sync_entry *l = s->down ? dst : src;
    char md5[33];

    if (src->size != dst->size) {
        pcmd_sync_plan_add(s, PCMD_SYNC_COPY, src, dst);
        return;
    }
    if (s->down ? l->mtime >= r->mtime : l->mtime <= r->mtime)
        return; /* same */
    if (l->size <= s->p->conf.md5_max && pcmd_sync_etag_md5(r->etag, md5))
        pcmd_sync_plan_add(s, PCMD_SYNC_CHECK, src, dst);
    else
        pcmd_sync_plan_add(s, PCMD_SYNC_COPY, src, dst);
}

/* Merges the sorted lists into s->acts; returns how many are the same. */
static size_t pcmd_sync_plan(struct pcmd_sync *s)
{
    struct pcmd_sync_list *src = s->down ? &s->remote : &s->local;
    struct pcmd_sync_list *dst = s->down ? &s->local : &s->remote;
    size_t i = 0, j = 0;

    if (src->n)
        qsort(src->v, src->n, sizeof(*src->v), pcmd_sync_entry_cmp);
    if (dst->n)
        qsort(dst->v, dst->n, sizeof(*dst->v), pcmd_sync_entry_cmp);
    while (i < src->n || j < dst->n) {
        int c = i == src->n   ? 1
                : j == dst->n ? -1
                              : strcmp(src->v[i].rel, dst->v[j].rel);

        if (c < 0) {
            pcmd_sync_plan_add(s, PCMD_SYNC_COPY, &src->v[i++], NULL);
        } else if (c > 0) {
            if (s->p->conf.delete_extra)
                pcmd_sync_plan_add(s, PCMD_SYNC_DELETE, &dst->v[j], NULL);
            j++;
        } else {
            pcmd_sync_compare(s, &src->v[i++], &dst->v[j++]);
        }
    }
    return src->n;
}

/* MD5 of a local file as 32 hex digits; 0 or -errno. */
static int pcmd_sync_file_md5(const char *path, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
    EVP_MD_CTX *ctx = NULL;
    unsigned mdlen = 0, i;
    ssize_t n;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL)) {
        rc = -ENOMEM;
        goto out;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        EVP_DigestUpdate(ctx, buf, (size_t)n);
    if (n < 0) {
        rc = -errno;
        goto out;
    }
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    for (i = 0; i < mdlen && i < 16; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
out:
    EVP_MD_CTX_free(ctx);
    close(fd);
    return rc;
}

/* mkdir -p of the directories above path (which is below s->dir). */
static int pcmd_sync_mkparents(const char *path, size_t root_len)
{
    char *p = xstrdup(path), *c;
    int rc = 0;

    for (c = p + root_len + 1; (c = strchr(c, '/')) != NULL; c++) {
        *c = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        *c = '/';
    }
    free(p);
    return rc;
}

static int pcmd_sync_download(struct pcmd_sync *s,
                              const struct pcmd_sync_entry *r, const char *path,
                              struct s3_error *err)
{
    struct s3_object_meta m;
    struct timespec ts[2];
    const char *base = strrchr(path, '/') + 1;
    char *key = xasprintf("%s%s", s->prefix, r->rel);
    char *tmp;
    int fd = -1, rc;

    /* keep the temporary's name within NAME_MAX */
    tmp = xasprintf("%.*s.%.200s" PCMD_SYNC_TMP_TAG "%d.tmp",
                    (int)(base - path), path, base, (int)getpid());
    rc = pcmd_sync_mkparents(path, strlen(s->dir));
    if (rc)
        goto out;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    s3_object_meta_init(&m);
    rc = pcmd_remote_get(s->p, s->bucket, key, r->size, r->etag, fd, &m, err);
    s3_object_meta_fini(&m);
    /* the object's Last-Modified: the next sync sees the file as same */
    ts[0].tv_sec = ts[1].tv_sec = r->mtime;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    if (rc == 0 && futimens(fd, ts) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    fd = -1;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
out:
    if (rc)
        unlink(tmp);
    free(tmp);
    free(key);
    return rc;
}

static int pcmd_sync_upload(struct pcmd_sync *s,
                            const struct pcmd_sync_entry *l, const char *path,
                            struct s3_error *err)
{
    char *key = xasprintf("%s%s", s->prefix, l->rel);
    struct stat st;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    rc = pcmd_remote_put(s->p, s->bucket, key, fd, (uint64_t)st.st_size,
                         st.st_mode, st.st_mtime, err);
out:
    if (fd >= 0)
        close(fd);
    free(key);
    return rc;
}

static void pcmd_sync_say(struct pcmd_sync *s, const struct pcmd_sync_action *a,
                          const char *path)
{
    const char *dry = s->p->conf.dry_run ? "(dry run) " : "";
    const char *rel = a->src->rel;

    if (s->p->conf.json || s->p->conf.quiet)
        return;
    if (a->op == PCMD_SYNC_DELETE && s->down)
        pcmd_progress_printf(&s->pg, "%sdelete %s\n", dry, path);
    else if (a->op == PCMD_SYNC_DELETE)
        pcmd_progress_printf(&s->pg, "%sdelete s3://%s/%s%s\n", dry, s->bucket,
                             s->prefix, rel);
    else if (s->down)
        pcmd_progress_printf(&s->pg, "%sdownload s3://%s/%s%s -> %s\n", dry,
                             s->bucket, s->prefix, rel, path);
    else
        pcmd_progress_printf(&s->pg, "%supload %s -> s3://%s/%s%s\n", dry, path,
                             s->bucket, s->prefix, rel);
}

/* A check whose MD5 matches: same (down: the local mtime is fixed). */
static bool pcmd_sync_same_md5(struct pcmd_sync *s,
                               const struct pcmd_sync_action *a,
                               const char *path)
{
    const struct pcmd_sync_entry *r = s->down ? a->src : a->dst;
    char want[33], have[33];
    struct timespec ts[2];

    if (!pcmd_sync_etag_md5(r->etag, want) ||
        pcmd_sync_file_md5(path, have) < 0 || strcmp(want, have) != 0)
        return false;
    if (s->down && !s->p->conf.dry_run) {
        ts[0].tv_sec = ts[1].tv_sec = r->mtime;
        ts[0].tv_nsec = ts[1].tv_nsec = 0;
        utimensat(AT_FDCWD, path, ts, 0);
    }
    return true;
}

static void pcmd_sync_do(struct pcmd_sync *s, struct pcmd_sync_action *a)
{
    char *path = xasprintf("%s/%s", s->dir, a->src->rel);
    struct s3_error err;
    char detail[512];
    int rc = 0;

    memset(&err, 0, sizeof(err));
    if (a->op == PCMD_SYNC_CHECK && pcmd_sync_same_md5(s, a, path)) {
        a->result = PCMD_SYNC_SAME;
        pcmd_progress_add(&s->pg, a->src->size, 1, 0);
        goto out;
    }
    pcmd_sync_say(s, a, path);
    if (!s->p->conf.dry_run)
        rc = s->down ? pcmd_sync_download(s, a->src, path, &err)
                     : pcmd_sync_upload(s, a->src, path, &err);
    if (rc) {
        a->result = PCMD_SYNC_FAILED;
        if (err.status || err.curl_code)
            a->error = xasprintf("%s (%s)", strerror(-rc),
                                 s3_error_format(&err, detail, sizeof(detail)));
        else
            a->error = xstrdup(strerror(-rc));
        pcmd_progress_printf(&s->pg, "%s", "");
        fprintf(stderr, "pcmd: sync %s: %s\n", a->src->rel, a->error);
    } else {
        a->result = PCMD_SYNC_COPIED;
    }
    pcmd_progress_add(&s->pg, a->src->size, 1, rc ? 1 : 0);
out:
    free(path);
}

static void *pcmd_sync_worker_cb(void *arg)
{
    struct pcmd_sync *s = arg;
    size_t i;

    while ((i = __atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED)) < s->nacts) {
        if (s->acts[i].op != PCMD_SYNC_DELETE)
            pcmd_sync_do(s, &s->acts[i]);
    }
    return NULL;
}

static void pcmd_sync_run_copies(struct pcmd_sync *s)
{
    size_t i, n = (size_t)s->p->conf.jobs, started = 0;
    pthread_t *t;

    if (n > s->nacts)
        n = s->nacts;
    t = xcalloc(n ? n : 1, sizeof(*t));
    for (i = 0; i < n; i++) {
        if (pthread_create(&t[i], NULL, pcmd_sync_worker_cb, s) != 0)
            break;
        started++;
    }
    if (started == 0)
        pcmd_sync_worker_cb(s); /* no thread to be had: do it here */
    for (i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    free(t);
}

static void pcmd_sync_run_deletes(struct pcmd_sync *s)
{
    const char **keys = xcalloc(s->nacts ? s->nacts : 1, sizeof(*keys));
    struct s3_error err;
    size_t i, n = 0, failed = 0;
    int rc;

    for (i = 0; i < s->nacts; i++) {
        struct pcmd_sync_action *a = &s->acts[i];
        char *path;

        if (a->op != PCMD_SYNC_DELETE)
            continue;
        path = xasprintf("%s/%s", s->dir, a->src->rel);
        pcmd_sync_say(s, a, path);
        a->result = PCMD_SYNC_DELETED;
        if (s->down && !s->p->conf.dry_run && unlink(path) < 0) {
            a->result = PCMD_SYNC_FAILED;
            a->error = xstrdup(strerror(errno));
        } else if (!s->down) {
            keys[n++] = xasprintf("%s%s", s->prefix, a->src->rel);
        }
        free(path);
    }
    if (n && !s->p->conf.dry_run) {
        rc = pcmd_remote_delete(s->p, s->bucket, keys, n, &failed, &err);
        if (rc)
            pcmd_fail("sync: delete in", s->bucket, rc, &err);
        /* which keys failed is not kept: all of the batch count */
        for (i = 0; failed && i < s->nacts; i++) {
            if (s->acts[i].op == PCMD_SYNC_DELETE) {
                s->acts[i].result = PCMD_SYNC_FAILED;
                failed--;
            }
        }
    }
    for (i = 0; i < n; i++)
        free((char *)keys[i]);
    free(keys);
}

static const char *const pcmd_sync_result_names[] = {
    "pending", "copied", "same", "deleted", "failed",
};

static void pcmd_sync_report_json(struct pcmd_sync *s, size_t nsrc,
                                  size_t *count, uint64_t bytes, double secs)
{
    size_t i;
    bool first = true;

    printf("{\"direction\": \"%s\", \"bucket\": ", s->down ? "down" : "up");
    pcmd_json_str(stdout, s->bucket);
    printf(", \"prefix\": ");
    pcmd_json_str(stdout, s->prefix);
    printf(", \"dir\": ");
    pcmd_json_str(stdout, s->dir);
    printf(",\n \"dry_run\": %s, \"source_files\": %zu, \"copied\": %zu, "
           "\"same\": %zu, \"deleted\": %zu, \"failed\": %zu, \"skipped\": "
           "%zu, \"bytes\": %" PRIu64 ", \"seconds\": %.3f,\n ",
           s->p->conf.dry_run ? "true" : "false", nsrc, count[PCMD_SYNC_COPIED],
           count[PCMD_SYNC_SAME], count[PCMD_SYNC_DELETED],
           count[PCMD_SYNC_FAILED], s->skipped, bytes, secs);
    pcmd_print_s3_stats(s->p, stdout, true);
    printf(",\n \"actions\": [");
    for (i = 0; i < s->nacts; i++) {
        const struct pcmd_sync_action *a = &s->acts[i];

        if (a->result == PCMD_SYNC_SAME)
            continue;
        printf("%s{\"op\": \"%s\", \"path\": ", first ? "" : ",\n  ",
               a->op == PCMD_SYNC_DELETE ? "delete"
               : s->down                 ? "download"
                                         : "upload");
        pcmd_json_str(stdout, a->src->rel);
        printf(", \"size\": %" PRIu64 ", \"result\": \"%s\"", a->src->size,
               pcmd_sync_result_names[a->result]);
        if (a->error) {
            printf(", \"error\": ");
            pcmd_json_str(stdout, a->error);
        }
        printf("}");
        first = false;
    }
    printf("]}\n");
}

/* Prints the summary; returns the exit status. */
static int pcmd_sync_report(struct pcmd_sync *s, size_t nsrc, double secs)
{
    size_t count[5] = {0}, i;
    uint64_t bytes = 0;
    char b[16], r[16];

    for (i = 0; i < s->nacts; i++) {
        count[s->acts[i].result]++;
        if (s->acts[i].result == PCMD_SYNC_COPIED)
            bytes += s->acts[i].src->size;
    }
    /* files planned as same never became actions */
    count[PCMD_SYNC_SAME] =
        nsrc - count[PCMD_SYNC_COPIED] - count[PCMD_SYNC_FAILED];
    for (i = 0; i < s->nacts; i++) {
        if (s->acts[i].op == PCMD_SYNC_DELETE &&
            s->acts[i].result == PCMD_SYNC_FAILED)
            count[PCMD_SYNC_SAME]++; /* a failed delete is no source file */
    }
    if (s->p->conf.json)
        pcmd_sync_report_json(s, nsrc, count, bytes, secs);
    else if (!s->p->conf.quiet)
        printf(
            "%ssync: %zu source files: %zu copied (%s), %zu up to date, "
            "%zu deleted, %zu failed in %.2f s (%s/s)\n",
            s->p->conf.dry_run ? "(dry run) " : "", nsrc,
            count[PCMD_SYNC_COPIED], pcmd_size_str(bytes, true, b, 16),
            count[PCMD_SYNC_SAME], count[PCMD_SYNC_DELETED],
            count[PCMD_SYNC_FAILED], secs,
            pcmd_size_str(secs > 0 ? (uint64_t)((double)bytes / secs) : bytes,
                          true, r, 16));
    return count[PCMD_SYNC_FAILED] ? PCMD_EXIT_FAIL : PCMD_EXIT_OK;
}

/* Which side is S3; fills bucket, prefix, dir. PCMD_EXIT_USAGE if bad. */
static int pcmd_sync_args(struct pcmd_sync *s, char **argv)
{
    bool a3 = strncmp(argv[0], "s3://", 5) == 0;
    bool b3 = strncmp(argv[1], "s3://", 5) == 0;
    const char *dir = a3 ? argv[1] : argv[0];
    struct pcmd_url u;
    size_t n;

    if (a3 == b3) {
        fprintf(stderr, "pcmd: sync: one side must be s3://BUCKET/PREFIX/, "
                        "the other a directory\n");
        return PCMD_EXIT_USAGE;
    }
    if (pcmd_parse_url(a3 ? argv[0] : argv[1], &u) < 0)
        return PCMD_EXIT_USAGE;
    s->down = a3;
    s->bucket = u.bucket;
    n = strlen(u.key);
    s->prefix = n && u.key[n - 1] != '/' ? xasprintf("%s/", u.key) : u.key;
    if (s->prefix != u.key)
        free(u.key);
    s->dir = xstrdup(*dir ? dir : ".");
    n = strlen(s->dir);
    while (n > 1 && s->dir[n - 1] == '/')
        s->dir[--n] = '\0';
    if (s->down && !s->p->conf.dry_run && mkdir(s->dir, 0755) < 0 &&
        errno != EEXIST) {
        fprintf(stderr, "pcmd: sync: %s: %s\n", s->dir, strerror(errno));
        return PCMD_EXIT_FAIL;
    }
    return 0;
}

static void pcmd_sync_fini(struct pcmd_sync *s)
{
    size_t i;

    for (i = 0; i < s->nacts; i++)
        free(s->acts[i].error);
    free(s->acts);
    pcmd_sync_list_free(&s->remote);
    pcmd_sync_list_free(&s->local);
    free(s->bucket);
    free(s->prefix);
    free(s->dir);
}

int pcmd_cmd_sync(struct pcmd *p, int argc, char **argv)
{
    struct pcmd_sync s = {.p = p};
    struct s3_error err;
    uint64_t files = 0, bytes = 0;
    size_t i, nsrc;
    double t0 = monotime_sec();
    int rc;

    if (argc != 2)
        return PCMD_EXIT_USAGE;
    rc = pcmd_sync_args(&s, argv);
    if (rc)
        goto out;
    memset(&err, 0, sizeof(err));
    rc = pcmd_remote_list(p, s.bucket, s.prefix, pcmd_sync_remote_cb, &s, &err);
    if (rc) {
        rc = pcmd_fail("sync: list", argv[s.down ? 0 : 1], rc, &err);
        goto out;
    }
    if (access(s.dir, F_OK) == 0 && pcmd_sync_walk(&s, "") < 0) {
        rc = s.down ? PCMD_EXIT_FAIL : PCMD_EXIT_USAGE;
        goto out;
    } else if (!s.down && access(s.dir, F_OK) < 0) {
        fprintf(stderr, "pcmd: sync: %s: %s\n", s.dir, strerror(errno));
        rc = PCMD_EXIT_USAGE;
        goto out;
    }
    nsrc = pcmd_sync_plan(&s);
    for (i = 0; i < s.nacts; i++) {
        if (s.acts[i].op != PCMD_SYNC_DELETE) {
            files++;
            bytes += s.acts[i].src->size;
        }
    }
    pcmd_progress_start(&s.pg, p->conf.progress && files, "sync", files, bytes);
    pcmd_sync_run_copies(&s);
    pcmd_sync_run_deletes(&s);
    pcmd_progress_stop(&s.pg);
    rc = pcmd_sync_report(&s, nsrc, monotime_sec() - t0);
out:
    pcmd_sync_fini(&s);
    return rc;
}
