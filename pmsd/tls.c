/* SPDX-License-Identifier: MIT */
/*
 * tls.c: HTTPS for pmsd through libevent's OpenSSL bufferevents (tls.h).
 */
#include "pmsd/tls.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>

/* evhttp asks for one bufferevent per accepted connection. */
static struct bufferevent *pmsd_tls_bev_cb(struct event_base *base, void *arg)
{
    SSL *ssl = SSL_new(arg);

    if (!ssl)
        return NULL; /* evhttp drops the connection */
    return bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

int pmsd_tls_setup(struct evhttp *http, const char *cert, const char *key,
                   void **ctx, char *err, size_t errlen)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    char why[256] = "";

    *ctx = NULL;
    if (!c) {
        snprintf(err, errlen, "TLS: cannot create a context");
        return -EINVAL;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(c, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(c) != 1) {
        ERR_error_string_n(ERR_get_error(), why, sizeof(why));
        snprintf(err, errlen, "TLS: %s / %s: %s", cert, key, why);
        ERR_clear_error();
        SSL_CTX_free(c);
        return -EINVAL;
    }
    evhttp_set_bevcb(http, pmsd_tls_bev_cb, c);
    *ctx = c;
    return 0;
}

void pmsd_tls_free(void *ctx)
{
    SSL_CTX_free(ctx);
}
