/* SPDX-License-Identifier: MIT */
/*
 * errmap.h: -errno to an HTTP status and error code, through a table of
 * the daemon's own (pcpd and pmsd map the same errno differently: a
 * backend's EACCES is pcpd's 502, a caller's is pmsd's 401).
 */
#ifndef PCACHE_ERRMAP_H
#define PCACHE_ERRMAP_H

#include <stddef.h>

struct errmap {
    int err; /* positive errno */
    int status;
    const char *code;
};

/*
 * The entry of t[0..n) for -rc: its status, with *code set; else
 * dflt_status and dflt_code.
 */
int errmap_status(const struct errmap *t, size_t n, int rc, int dflt_status,
                  const char *dflt_code, const char **code);

#endif
