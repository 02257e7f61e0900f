/* SPDX-License-Identifier: MIT */
/*
 * cluster_tool.c: drives pcachefs/cluster.c for the cluster integration
 * tests (tests/integration/test_cluster_client.py).
 *
 *   cluster_tool read PMS CREDFILE PBUCKET KEY ETAG SIZE OUT
 *     Reads the whole object through the nodes, every chunk queued at
 *     once, into OUT. Prints {"chunk_size", "nodes", "chunks", "ms"}.
 *   cluster_tool nodes PMS CREDFILE PBUCKET N SECONDS
 *     Waits until the node list has N nodes (long-poll), prints the
 *     seconds it took; exit 1 on timeout.
 *
 * Environment: CLUSTER_TOOL_TTL (token life asked for, seconds),
 * CLUSTER_TOOL_LOOPS (read the object this many times, default 1).
 * Exit 2 with "cluster_tool: MESSAGE (ERRNO)" when cluster_new fails.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/monotime.h"
#include "pcachefs/cluster.h"

struct tool_read {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t left;
    int rc;
};

static void tool_done_cb(int rc, size_t got, void *arg)
{
    struct tool_read *t = arg;

    pthread_mutex_lock(&t->lock);
    if (rc < 0 && t->rc == 0)
        t->rc = rc;
    t->left--;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

static int tool_read_all(struct cluster *c, const char *key, const char *etag,
                         uint64_t size, uint8_t *data)
{
    uint64_t cs = cluster_chunk_size(c), n = (size + cs - 1) / cs, i;
    struct tool_read t = {.left = n, .rc = 0};
    int rc = 0;

    pthread_mutex_init(&t.lock, NULL);
    pthread_cond_init(&t.cond, NULL);
    for (i = 0; i < n; i++) {
        struct cluster_chunk_ref ref = {
            key, etag, i, 0, size - i * cs < cs ? size - i * cs : cs};

        rc = cluster_get_start(c, &ref, data + i * cs, tool_done_cb, &t);
        if (rc < 0) {
            pthread_mutex_lock(&t.lock);
            t.left -= n - i;
            pthread_mutex_unlock(&t.lock);
            break;
        }
    }
    pthread_mutex_lock(&t.lock);
    while (t.left)
        pthread_cond_wait(&t.cond, &t.lock);
    pthread_mutex_unlock(&t.lock);
    pthread_cond_destroy(&t.cond);
    pthread_mutex_destroy(&t.lock);
    return rc ? rc : t.rc;
}

static int tool_read(struct cluster *c, char **argv)
{
    uint64_t size = strtoull(argv[5], NULL, 10), t0 = monotime_ms();
    const char *loops_env = getenv("CLUSTER_TOOL_LOOPS");
    int loops = loops_env ? atoi(loops_env) : 1, i, rc = 0;
    uint8_t *data = malloc(size ? size : 1);
    size_t nn;
    FILE *f;

    for (i = 0; i < loops && rc == 0; i++)
        rc = tool_read_all(c, argv[3], argv[4], size, data);
    if (rc < 0) {
        fprintf(stderr, "cluster_tool: read: %s\n", strerror(-rc));
        free(data);
        return 1;
    }
    f = fopen(argv[6], "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "cluster_tool: cannot write %s\n", argv[6]);
        free(data);
        return 1;
    }
    cluster_epoch(c, &nn);
    printf("{\"chunk_size\": %llu, \"nodes\": %zu, \"chunks\": %llu, "
           "\"ms\": %llu}\n",
           (unsigned long long)cluster_chunk_size(c), nn,
           (unsigned long long)((size + cluster_chunk_size(c) - 1) /
                                cluster_chunk_size(c)),
           (unsigned long long)(monotime_ms() - t0));
    free(data);
    return 0;
}

static int tool_nodes(struct cluster *c, char **argv)
{
    size_t want = strtoul(argv[3], NULL, 10), n = 0;
    uint64_t t0 = monotime_ms(), limit = strtoull(argv[4], NULL, 10) * 1000;

    for (;;) {
        cluster_epoch(c, &n);
        if (n == want)
            break;
        if (monotime_ms() - t0 > limit)
            return 1;
        usleep(10000);
    }
    printf("%.3f\n", (double)(monotime_ms() - t0) / 1000.0);
    return 0;
}

int main(int argc, char **argv)
{
    struct cluster_opts o = {0};
    struct cluster *c = NULL;
    const char *ttl = getenv("CLUSTER_TOOL_TTL");
    char err[512] = "";
    int rc;

    if (argc < 7 || (strcmp(argv[1], "read") == 0 && argc != 9) ||
        (strcmp(argv[1], "nodes") == 0 && argc != 7)) {
        fprintf(stderr, "usage: see tests/tools/cluster_tool.c\n");
        return 64;
    }
    log_init("cluster_tool", LOG_SINK_STDERR);
    o.pms = argv[2];
    o.credfile = argv[3];
    o.pbucket = argv[4];
    o.timeout_ms = 5000;
    o.threads = 8;
    o.ttl_s = ttl ? (unsigned)atoi(ttl) : 0;
    rc = cluster_new(&o, &c, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "cluster_tool: %s (%s)\n", err, strerror(-rc));
        return 2;
    }
    rc = strcmp(argv[1], "read") == 0 ? tool_read(c, argv + 2)
                                      : tool_nodes(c, argv + 2);
    cluster_free(c);
    return rc;
}
