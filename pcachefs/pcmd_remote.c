/* SPDX-License-Identifier: MIT */
/*
 * pcmd_remote.c: how pcmd's commands reach objects, whatever the mode.
 *
 * Standalone mode calls the S3 client. Cluster mode (pms= set) will go
 * through the cache nodes: pmsd for a token and the node list, the
 * nodes' metadata proxy (/v1/meta/) for list, put and delete, and
 * /v1/chunk/ for reads, through the client library the mount uses for
 * the same job. Until that library exists every call here answers
 * -ENOTSUP in cluster mode, so the commands above need no change when it
 * comes: this file is the hook.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "pcachefs/pcmd.h"

static int pcmd_remote_cluster(struct pcmd *p)
{
    /* one message, however many files a sync would have tried */
    if (!__atomic_exchange_n(&p->said_cluster, true, __ATOMIC_RELAXED))
        fprintf(stderr,
                "pcmd: cluster mode (pms=%s) is not supported by "
                "pcmd yet; use endpoint= (standalone)\n",
                p->conf.pms ? p->conf.pms : "");
    return -ENOTSUP;
}

int pcmd_remote_need_s3(struct pcmd *p)
{
    return p->client ? 0 : pcmd_remote_cluster(p);
}

int pcmd_remote_list(struct pcmd *p, const char *bucket, const char *prefix,
                     pcmd_list_cb cb, void *arg, struct s3_error *err)
{
    struct s3_list_opts lo = {0};
    struct s3_list_result r;
    char *token = NULL;
    size_t i;
    int rc;

    if (p->mode == PCMD_MODE_CLUSTER)
        return pcmd_remote_cluster(p);
    lo.prefix = prefix && *prefix ? prefix : NULL;
    do {
        lo.continuation = token;
        rc = s3_list(p->client, bucket, &lo, &r, err);
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
    struct s3_sink sink = {.kind = S3_SINK_FD, .fd = fd};
    struct s3_transfer_opts o;

    if (p->mode == PCMD_MODE_CLUSTER)
        return pcmd_remote_cluster(p);
    pcmd_transfer_opts(p, &o);
    /* One GET for what fits in a part: no HEAD, no ranges. */
    if (size <= o.part_size) {
        s3_object_meta_init(meta);
        return s3_get(p->client, bucket, key, 0, UINT64_MAX,
                      etag && *etag ? etag : NULL, &sink, meta, err);
    }
    return s3_download_fd(p->client, bucket, key, fd, &o, meta, err);
}

int pcmd_remote_put(struct pcmd *p, const char *bucket, const char *key, int fd,
                    uint64_t size, unsigned mode, time_t mtime,
                    struct s3_error *err)
{
    struct s3_transfer_opts o;
    struct sigv4_kv kv[2];
    struct s3_put_opts po = {.meta = kv, .nmeta = 2};
    char mode_s[16], mtime_s[24];

    if (p->mode == PCMD_MODE_CLUSTER)
        return pcmd_remote_cluster(p);
    /* s3fs's conventions: the mount shows these mode and mtime */
    snprintf(mode_s, sizeof(mode_s), "%u", mode);
    snprintf(mtime_s, sizeof(mtime_s), "%" PRId64, (int64_t)mtime);
    kv[0] = (struct sigv4_kv){.name = "mode", .value = mode_s};
    kv[1] = (struct sigv4_kv){.name = "mtime", .value = mtime_s};
    pcmd_transfer_opts(p, &o);
    return s3_upload_fd(p->client, bucket, key, fd, size, &po, &o, NULL, err);
}

int pcmd_remote_delete(struct pcmd *p, const char *bucket,
                       const char *const *keys, size_t n, size_t *failed,
                       struct s3_error *err)
{
    struct s3_delete_result dr;
    size_t off, batch;
    int rc = 0, one;

    *failed = 0;
    if (p->mode == PCMD_MODE_CLUSTER) {
        *failed = n;
        return pcmd_remote_cluster(p);
    }
    for (off = 0; off < n; off += batch) {
        batch = n - off < S3_MAX_DELETE_BATCH ? n - off : S3_MAX_DELETE_BATCH;
        memset(&dr, 0, sizeof(dr));
        one = s3_delete_many(p->client, bucket, keys + off, batch, &dr, err);
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
