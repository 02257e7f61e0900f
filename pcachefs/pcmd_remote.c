/* SPDX-License-Identifier: MIT */
/*
 * pcmd_remote.c: how pcmd's commands reach objects, whatever the mode.
 *
 * Each bucket a command names gets a struct remote (pcachefs/remote.h, the
 * layer the mount uses): in standalone mode the S3 client and the bucket;
 * in cluster mode (pms= set) a cluster client for the pbucket, which
 * proves the user's key to pmsd, follows the node list, reads chunks from
 * the nodes that own them and sends listings, uploads and deletes through
 * the nodes' metadata proxy. Commands above see the same calls in both
 * modes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "pcachefs/cluster.h"
#include "pcachefs/pcmd.h"

static int pcmd_remote_cluster(struct pcmd *p)
{
    /* one message, however many files a sync would have tried */
    if (!__atomic_exchange_n(&p->said_cluster, true, __ATOMIC_RELAXED))
        fprintf(stderr,
                "pcmd: this command talks to S3 itself: it needs "
                "endpoint= (standalone), not pms=%s\n",
                p->conf.pms ? p->conf.pms : "");
    return -ENOTSUP;
}

int pcmd_remote_need_s3(struct pcmd *p)
{
    return p->client ? 0 : pcmd_remote_cluster(p);
}

static struct remote *pcmd_remote_make(struct pcmd *p, const char *bucket)
{
    struct remote *re = xcalloc(1, sizeof(*re));
    struct s3_transfer_opts o;

    pcmd_transfer_opts(p, &o);
    re->bucket = xstrdup(bucket);
    re->s3 = p->client;
    re->part_size = o.part_size;
    re->multipart_above = o.multipart_above;
    re->parallel = o.parallel;
    if (p->conf.pms) { /* cluster mode, whatever the command */
        struct cluster_opts co = {
            .pms = p->conf.pms,
            .credfile = p->conf.credfile,
            .ca_file = p->conf.pms_ca,
            .pbucket = bucket,
            .timeout_ms = p->conf.s3.request_timeout_ms,
            .stall_ms = p->conf.node_timeout_ms,
            .threads = o.parallel > 16 ? o.parallel : 16,
        };
        char err[512];

        if (cluster_new(&co, &re->cluster, err, sizeof(err)) < 0) {
            fprintf(stderr, "pcmd: %s\n", err);
            free((char *)re->bucket);
            free(re);
            return NULL;
        }
        /* Parts are whole chunks, so the nodes cache what passes. */
        re->part_size = (re->part_size + cluster_chunk_size(re->cluster) - 1) /
                        cluster_chunk_size(re->cluster) *
                        cluster_chunk_size(re->cluster);
    }
    return re;
}

struct remote *pcmd_remote(struct pcmd *p, const char *bucket)
{
    struct remote *re = NULL;
    size_t i;

    pthread_mutex_lock(&p->remotes_lock);
    for (i = 0; i < PCMD_MAX_REMOTES && p->remotes[i]; i++) {
        if (strcmp(p->remotes[i]->bucket, bucket) == 0) {
            re = p->remotes[i];
            break;
        }
    }
    if (!re && i < PCMD_MAX_REMOTES) {
        re = pcmd_remote_make(p, bucket);
        p->remotes[i] = re;
    } else if (!re) {
        fprintf(stderr, "pcmd: more than %d buckets in one command\n",
                PCMD_MAX_REMOTES);
    }
    pthread_mutex_unlock(&p->remotes_lock);
    return re;
}

void pcmd_remote_close(struct pcmd *p)
{
    size_t i;

    for (i = 0; i < PCMD_MAX_REMOTES && p->remotes[i]; i++) {
        cluster_free(p->remotes[i]->cluster);
        free((char *)p->remotes[i]->bucket);
        free(p->remotes[i]);
        p->remotes[i] = NULL;
    }
}

int pcmd_remote_list(struct pcmd *p, const char *bucket, const char *prefix,
                     pcmd_list_cb cb, void *arg, struct s3_error *err)
{
    struct remote *re = pcmd_remote(p, bucket);
    struct s3_list_opts lo = {0};
    struct s3_list_result r;
    char *token = NULL;
    size_t i;
    int rc;

    if (!re)
        return -EIO;
    lo.prefix = prefix && *prefix ? prefix : NULL;
    do {
        lo.continuation = token;
        rc = remote_list(re, &lo, &r, err);
        free(token);
        token = NULL;
        if (rc)
            break;
        for (i = 0; i < r.nobjects && rc == 0; i++)
            rc = cb(&r.objects[i], arg);
        if (rc == 0 && r.truncated && r.next_token)
            token = xstrdup(r.next_token);
        s3_list_result_fini(&r);
    } while (token);
    return rc;
}

int pcmd_remote_get(struct pcmd *p, const char *bucket, const char *key,
                    uint64_t size, const char *etag, int fd,
                    struct s3_object_meta *meta, struct s3_error *err)
{
    struct remote *re = pcmd_remote(p, bucket);

    if (!re)
        return -EIO;
    return remote_download_fd(re, key, size, etag, fd, meta, err);
}

int pcmd_remote_put(struct pcmd *p, const char *bucket, const char *key, int fd,
                    uint64_t size, unsigned mode, time_t mtime,
                    struct s3_error *err)
{
    struct remote *re = pcmd_remote(p, bucket);
    struct sigv4_kv kv[2];
    struct s3_put_opts po = {.meta = kv, .nmeta = 2};
    char mode_s[16], mtime_s[24];

    if (!re)
        return -EIO;
    /* s3fs's conventions: the mount shows these mode and mtime */
    snprintf(mode_s, sizeof(mode_s), "%u", mode);
    snprintf(mtime_s, sizeof(mtime_s), "%" PRId64, (int64_t)mtime);
    kv[0] = (struct sigv4_kv){.name = "mode", .value = mode_s};
    kv[1] = (struct sigv4_kv){.name = "mtime", .value = mtime_s};
    return remote_upload_fd(re, key, fd, size, &po, NULL, err);
}

int pcmd_remote_delete(struct pcmd *p, const char *bucket,
                       const char *const *keys, size_t n, size_t *failed,
                       struct s3_error *err)
{
    struct remote *re = pcmd_remote(p, bucket);
    struct s3_delete_result dr;
    size_t off, batch;
    int rc = 0, one;

    *failed = 0;
    if (!re) {
        *failed = n;
        return -EIO;
    }
    for (off = 0; off < n; off += batch) {
        batch = n - off < S3_MAX_DELETE_BATCH ? n - off : S3_MAX_DELETE_BATCH;
        memset(&dr, 0, sizeof(dr));
        one = remote_delete_many(re, keys + off, batch, &dr, err);
        if (one) {
            *failed += batch;
            rc = one;
            continue;
        }
        *failed += dr.nerrors;
        if (dr.nerrors && rc == 0)
            rc = -EIO;
        s3_delete_result_fini(&dr);
    }
    return rc;
}
