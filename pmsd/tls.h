/* SPDX-License-Identifier: MIT */
/*
 * tls.h: optional TLS on pmsd's listener (tls_cert, tls_key): every
 * connection gets an OpenSSL bufferevent in server mode, so evhttp speaks
 * HTTPS and nothing else changes. TLS 1.2 or later.
 *
 * Owner: the loop thread; built at startup, freed at teardown.
 */
#ifndef PMSD_TLS_H
#define PMSD_TLS_H

#include <stddef.h>

struct evhttp;

/* Loads cert (PEM chain) and key and installs the connection hook on
 * http. *ctx gets the context (free with pmsd_tls_free). 0 or -EINVAL with
 * err filled (unreadable files, key not matching the certificate). */
int pmsd_tls_setup(struct evhttp *http, const char *cert, const char *key,
                   void **ctx, char *err, size_t errlen);
void pmsd_tls_free(void *ctx);

#endif
