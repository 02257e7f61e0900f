/* SPDX-License-Identifier: MIT */
/*
 * meta.h: the metadata proxy (/v1/meta/...), for clients that hold no
 * backend credentials: head, list, small put, delete, copy and multipart
 * uploads, each sent by the node to the backend the pbucket routes the
 * key to. Data written through the node is cached on its way: a small put
 * at once (its ETag is known), a multipart part under a provisional id
 * until the upload completes through this node, when its chunks get their
 * final ids (the ETag of the completed object).
 *
 * Threads: the handler runs on a worker loop; the S3 call and any chunk
 * writes run on the metadata pool (blocking calls on the node's metadata
 * clients); the reply goes out on the worker loop. The staged-upload table
 * has its own lock, a leaf.
 */
#ifndef PCPD_META_H
#define PCPD_META_H

#include <stdint.h>

struct pcpd_uploads;

/* Multipart uploads whose parts are remembered for caching, at most; the
 * oldest is forgotten first (its staged chunks are then ordinary cache
 * entries that age out). */
#define PCPD_UPLOADS_MAX 256

struct pcpd_uploads *pcpd_uploads_new(void);
/* NULL: no-op. */
void pcpd_uploads_free(struct pcpd_uploads *u);

#endif
