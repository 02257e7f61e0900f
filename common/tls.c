/* SPDX-License-Identifier: MIT */
/*
 * tls.c: HTTPS for evhttp listeners through libevent's OpenSSL
 * bufferevents (tls.h).
 */
#include "common/tls.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

/* The daemon runs without a terminal: an encrypted key fails to load
 * instead of OpenSSL prompting for its passphrase. */
static int tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    return -1;
}

/* OpenSSL's first queued error in words, or "" (clears the queue). */
static const char *tls_why(char *why, size_t n)
{
    unsigned long e = ERR_get_error();

    why[0] = '\0';
    if (e)
        ERR_error_string_n(e, why, n);
    ERR_clear_error();
    return why;
}

/* Says which file is missing or unreadable, in the words of errno, before
 * OpenSSL says it in its own. */
static int tls_readable(const char *what, const char *path, char *err,
                        size_t errlen)
{
    FILE *f = fopen(path, "re");

    if (!f) {
        snprintf(err, errlen, "TLS: cannot read the %s %s: %s", what, path,
                 strerror(errno));
        return -EINVAL;
    }
    fclose(f);
    return 0;
}

static EVP_PKEY *tls_load_key(const char *path, char *err, size_t errlen)
{
    BIO *b = BIO_new_file(path, "r");
    EVP_PKEY *k =
        b ? PEM_read_bio_PrivateKey(b, NULL, tls_no_passphrase, NULL) : NULL;
    char why[256];

    BIO_free(b);
    if (!k)
        snprintf(err, errlen,
                 "TLS: private key %s: not a PEM key without a passphrase "
                 "(%s)",
                 path, tls_why(why, sizeof(why)));
    return k;
}

/* Certificate and key into c. 0 or -EINVAL with err filled. */
static int tls_load(SSL_CTX *c, const char *cert, const char *key, char *err,
                    size_t errlen)
{
    EVP_PKEY *k = NULL;
    char why[256];
    int rc = -EINVAL;

    if (tls_readable("certificate", cert, err, errlen) < 0 ||
        tls_readable("private key", key, err, errlen) < 0)
        return -EINVAL;
    if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
        snprintf(err, errlen, "TLS: certificate %s: not a PEM chain (%s)", cert,
                 tls_why(why, sizeof(why)));
        return -EINVAL;
    }
    k = tls_load_key(key, err, errlen);
    if (!k)
        return -EINVAL;
    /* Checked here, so the message names the mistake: a key of another
     * certificate (SSL_CTX_use_PrivateKey would only say "mismatch"). */
    if (X509_check_private_key(SSL_CTX_get0_certificate(c), k) != 1) {
        ERR_clear_error();
        snprintf(err, errlen,
                 "TLS: private key %s does not match the certificate %s", key,
                 cert);
    } else if (SSL_CTX_use_PrivateKey(c, k) != 1 ||
               SSL_CTX_check_private_key(c) != 1) {
        snprintf(err, errlen, "TLS: %s / %s: %s", cert, key,
                 tls_why(why, sizeof(why)));
    } else {
        rc = 0;
    }
    EVP_PKEY_free(k);
    return rc;
}

int tls_server_new(const char *cert, const char *key, void **ctx, char *err,
                   size_t errlen)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    int rc;

    *ctx = NULL;
    if (!c) {
        ERR_clear_error();
        snprintf(err, errlen, "TLS: cannot create a context");
        return -EINVAL;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION);
    /* libevent retries a write that wanted more room with the same bytes,
     * possibly from a buffer that was rearranged in between. */
    SSL_CTX_set_mode(c, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    rc = tls_load(c, cert, key, err, errlen);
    if (rc < 0) {
        SSL_CTX_free(c);
        return rc;
    }
    *ctx = c;
    return 0;
}

struct bufferevent *tls_accept_bev(struct event_base *base, void *ctx)
{
    SSL *ssl = SSL_new(ctx);

    if (!ssl)
        return NULL;
    return bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

void tls_server_free(void *ctx)
{
    SSL_CTX_free(ctx);
}
