/* SPDX-License-Identifier: MIT */
/*
 * request.h: parsing what a client asks for: the chunk named by a
 * /v1/chunk/ URL and a Range header inside it.
 *
 * Pure functions (no I/O, no state), so tests/unit/check_pcpd_request.c
 * exercises them without a daemon. Every size that comes from the network
 * is checked against a cap here.
 */
#ifndef PCPD_REQUEST_H
#define PCPD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcpd/routes.h"

#define PCPD_ETAG_MAX  127
#define PCPD_INDEX_MAX (1ull << 32)

/* What a chunk request names. Strings owned (pcpd_chunk_ref_fini). */
struct pcpd_chunk_ref {
    char pbucket[PCPD_NAME_MAX + 1];
    char *key;  /* decoded */
    char *etag; /* as given (quotes included when the client sent them) */
    uint64_t index;
    uint64_t chunk_size;
};

void pcpd_chunk_ref_fini(struct pcpd_chunk_ref *r);

/*
 * Parses "<pbucket>/<key, URL-encoded>" (the path after /v1/chunk/) and
 * the query "etag=..&index=..&chunk_size=..". Returns 0, or -EINVAL /
 * -ENAMETOOLONG with a reason in msg: bad pbucket name, empty or too long
 * key, a NUL or control character, a "." or ".." segment, a missing or
 * bad parameter, an invalid chunk size. r is untouched on failure.
 */
int pcpd_request_parse_chunk(const char *path, const char *query,
                             struct pcpd_chunk_ref *r, char *msg,
                             size_t msglen);

/*
 * Parses "<pbucket>" or "<pbucket>/<key, URL-encoded>" (the path after
 * /v1/meta/). pbucket gets the name; *key a decoded copy (the caller
 * frees it) or NULL when the path names no key ("pb" or "pb/"). The key
 * obeys the rules of pcpd_request_parse_chunk(). 0, or -EINVAL /
 * -ENAMETOOLONG with a reason in msg (outputs untouched).
 */
int pcpd_request_parse_object(const char *path, char pbucket[PCPD_NAME_MAX + 1],
                              char **key, char *msg, size_t msglen);

/* True when a decoded key of len bytes is acceptable: 1..1024 bytes, no
 * control character, no "." or ".." segment. */
bool pcpd_request_key_ok(const char *key, size_t len);

/* A byte range within a chunk, as asked. */
struct pcpd_range {
    bool suffix;    /* bytes=-n: the last n bytes (n in last) */
    uint64_t first; /* bytes=a-b / a- */
    uint64_t last;  /* b, UINT64_MAX for a- */
};

/*
 * Parses one "bytes=a-b", "bytes=a-" or "bytes=-n" range. 0, or -EINVAL
 * for anything else (several ranges, other units, b < a, garbage).
 */
int pcpd_request_parse_range(const char *h, struct pcpd_range *r);

/*
 * Resolves r against a chunk of len bytes: [*off, *off + *n). 0, or
 * -ERANGE when nothing of the chunk is in the range.
 */
int pcpd_range_resolve(const struct pcpd_range *r, uint64_t len, uint64_t *off,
                       uint64_t *n);

/* True when s names a pbucket or backend: 1-63 of a-z 0-9 . _ - */
bool pcpd_request_name_ok(const char *s, size_t n);

#endif
