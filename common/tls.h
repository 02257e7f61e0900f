/* SPDX-License-Identifier: MIT */
/*
 * tls.h: optional TLS on a daemon's evhttp listener (pmsd and pcpd:
 * tls_cert, tls_key). The server context is loaded once at startup; every
 * accepted connection then gets an OpenSSL bufferevent in accepting mode,
 * so evhttp speaks HTTPS and nothing else changes. TLS 1.2 or later.
 *
 * Bytes only reach SSL_write from memory: an evbuffer chain that is a
 * sendfile segment (EVBUFFER_FLAG_DRAINS_TO_FD on the buffer it was
 * added to) must never be moved into a TLS connection's output.
 *
 * Threads: the context is built before any loop runs and freed after the
 * last connection is gone; tls_accept_bev may run on several loops at
 * once (an SSL_CTX is safe to share once set up).
 *
 * Built into libpcache_tls, which only the daemons link: the client does
 * not need libevent_openssl.
 */
#ifndef PCACHE_TLS_H
#define PCACHE_TLS_H

#include <stddef.h>

struct bufferevent;
struct event_base;

/*
 * Loads cert (PEM chain) and key (PEM) into a server context (*ctx; free
 * with tls_server_free). 0, or -EINVAL with err filled (a file that
 * cannot be read or parsed, a key that does not match the certificate).
 */
int tls_server_new(const char *cert, const char *key, void **ctx, char *err,
                   size_t errlen);

/*
 * A server-side OpenSSL bufferevent for one accepted connection of ctx,
 * without a socket yet (evhttp sets it), closing it when freed; NULL on
 * failure (evhttp then drops the connection). Its signature is evhttp's
 * connection hook's: evhttp_set_bevcb(http, tls_accept_bev, ctx).
 */
struct bufferevent *tls_accept_bev(struct event_base *base, void *ctx);

void tls_server_free(void *ctx);

#endif
