/* SPDX-License-Identifier: MIT */
/*
 * errmap.c: -errno to an HTTP status and code (errmap.h).
 */
#include "common/errmap.h"

int errmap_status(const struct errmap *t, size_t n, int rc, int dflt_status,
                  const char *dflt_code, const char **code)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (-rc == t[i].err) {
            *code = t[i].code;
            return t[i].status;
        }
    }
    *code = dflt_code;
    return dflt_status;
}
