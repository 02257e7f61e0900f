/* SPDX-License-Identifier: MIT */
/*
 * auth.h: bearer tokens on a node that runs with pmsd.
 *
 * Every /v1/chunk and /v1/meta request (and warmups) carries
 * "Authorization: Bearer <token>", a token pmsd signed (common/token.h).
 * The node checks it offline with pmsd's public key, which the pmsd
 * thread (pms.c) fetches at start and again when a token names a key id
 * the node does not know (pmsd got a new key). pcpd_auth_check (http.h)
 * is the hook the handlers call.
 *
 * Threads: pcpd_auth_check runs on the workers; pcpd_auth_set_key on the
 * pmsd thread. The key sits behind a read-write lock held only while one
 * token is verified, so a new key replaces the old at once.
 */
#ifndef PCPD_AUTH_H
#define PCPD_AUTH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct token_key;

struct pcpd_auth {
    pthread_rwlock_t lock;
    struct token_key *key; /* owned, under lock; NULL until fetched */
    uint64_t want_ms;      /* atomic: when a new key was last asked for */
};

struct pcpd_auth *pcpd_auth_new(void);
/* NULL is a no-op. */
void pcpd_auth_free(struct pcpd_auth *a);
/* Replaces the key (taken over). Any thread. */
void pcpd_auth_set_key(struct pcpd_auth *a, struct token_key *key);
/* True once a key is known. */
bool pcpd_auth_ready(struct pcpd_auth *a);

#endif
