/* SPDX-License-Identifier: MIT */
/*
 * token.h: access tokens signed by pmsd, verified offline by nodes.
 *
 * A client proves its secret key to pmsd with a signed request (HMAC-SHA256
 * over method, path, timestamp and nonce: token_request_sign) and gets back
 * a short-lived token: who (subject), what (scopes: actions on resources),
 * when (issued-at, expiry), signed with pmsd's Ed25519 key. A node checks a
 * token with pmsd's public key alone (GET /v1/pubkey), without calling pmsd.
 *
 * Wire form: "pc1." BASE64URL(payload) "." BASE64URL(signature), where the
 * payload is compact JSON with sorted keys
 *   {"exp":..,"iat":..,"kid":"<16 hex>","scp":[{"act":["read"],
 *    "res":"pb1/data/\*"}],"sub":"alice","v":1}
 * and the signature is Ed25519 over everything before the second '.'.
 *
 * Resources: "*" is everything; a pattern ending in '*' matches every
 * "pbucket/key" starting with what precedes the '*' ("pb1/\*", "pb1/data/\*");
 * any other pattern matches one "pbucket/key" exactly, and a bare
 * "pbucket" (no '/') means the pbucket itself (key "").
 *
 * Pure functions (token_request_header aside: it reads the clock and the
 * random generator): no I/O, no clock (the caller passes now), no global
 * state. Thread-safe: a struct token_key may be shared by threads for
 * signing and verifying (OpenSSL keys are immutable once built).
 */
#ifndef PCACHE_TOKEN_H
#define PCACHE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define TOKEN_PREFIX     "pc1."
#define TOKEN_MAX_LEN    8192 /* whole token text; larger ones: -EMSGSIZE */
#define TOKEN_MAX_SCOPES 64
#define TOKEN_MAX_NAME   128 /* subject and resource pattern length */
#define TOKEN_KEY_RAW    32  /* Ed25519 public and private key bytes */
#define TOKEN_KID_LEN    16  /* hex digits of a key id */
/* Tokens issued this far in the future (clock skew) are refused. */
#define TOKEN_MAX_SKEW 300

/* Actions, a bit each. NODE is what cache nodes hold (register,
 * heartbeat, read backend credentials); clients never get it. */
enum token_action {
    TOKEN_ACT_READ = 1u << 0,
    TOKEN_ACT_LIST = 1u << 1,
    TOKEN_ACT_WRITE = 1u << 2,
    TOKEN_ACT_DELETE = 1u << 3,
    TOKEN_ACT_ADMIN = 1u << 4,
    TOKEN_ACT_NODE = 1u << 5,
    TOKEN_ACT_ALL = (1u << 6) - 1,
};

struct token_scope {
    unsigned actions; /* enum token_action bits */
    char *resource;   /* owned pattern, see above */
};

struct token {
    char *subject;               /* owned; the user name */
    int64_t issued_at;           /* unix seconds */
    int64_t expires_at;          /* unix seconds */
    char kid[TOKEN_KID_LEN + 1]; /* id of the signing key */
    struct token_scope *scopes;  /* owned array */
    size_t nscopes;
};

/* An Ed25519 key: private (can sign) or public only (can verify). */
struct token_key;

void token_init(struct token *t);
void token_fini(struct token *t);
/* Appends a scope (resource copied). 0 or -E2BIG past TOKEN_MAX_SCOPES,
 * -EINVAL for an empty or too long resource or no action. */
int token_add_scope(struct token *t, unsigned actions, const char *resource);

/*
 * Signs t with key (a private key) and appends the token text to out.
 * t->kid is ignored: the key's id is used. 0, -EINVAL (no subject, no
 * private key, expiry not after issue), -EMSGSIZE (longer than
 * TOKEN_MAX_LEN or out full), -EIO (OpenSSL failed).
 */
int token_sign(const struct token *t, const struct token_key *key,
               struct buf *out);

/*
 * Checks text against key (public or private) at time now and fills out
 * (token_init'ed by the caller; token_fini it in every case). Returns 0,
 * -EMSGSIZE (longer than TOKEN_MAX_LEN), -EINVAL (malformed), -EACCES
 * (bad signature or another key's token: forged) or -EKEYEXPIRED (expired,
 * or issued more than TOKEN_MAX_SKEW in the future). out is only
 * meaningful on 0.
 */
int token_verify(const char *text, const struct token_key *key, int64_t now,
                 struct token *out);

/*
 * Reads a token's payload without checking its signature or times: for a
 * client looking at the scopes of the token pmsd just gave it (to refuse
 * early what a node would refuse). Never a basis for granting anything.
 * 0, -EMSGSIZE or -EINVAL; token_fini out in every case.
 */
int token_peek(const char *text, struct token *out);

/* True when some scope of t grants action on pbucket/key ("" = the
 * pbucket itself). */
bool token_allows(const struct token *t, unsigned action, const char *pbucket,
                  const char *key);
/* True when some scope with one of actions could match something in
 * pbucket (a mount-time check: may this user see the pbucket at all). */
bool token_allows_any(const struct token *t, unsigned actions,
                      const char *pbucket);
/* True when some scope grants action on "*" (cluster-wide actions:
 * admin of users and backends, node). */
bool token_allows_global(const struct token *t, unsigned action);
/* The matching rule above, for one pattern. */
bool token_resource_match(const char *pattern, const char *pbucket,
                          const char *key);
/* Checks a pattern's syntax: 1-TOKEN_MAX_NAME printable bytes, '*' only
 * at the end. 0 or -EINVAL. */
int token_resource_check(const char *pattern);

/* "read" -> TOKEN_ACT_READ ("*" or "all": TOKEN_ACT_ALL); 0 for unknown. */
unsigned token_action_parse(const char *name);
/* The name of one action bit ("read"), NULL for anything else. */
const char *token_action_name(unsigned bit);

/*
 * Keys. Ownership: *out is the caller's, freed with token_key_free (NULL
 * is a no-op). Every function returns 0, -EINVAL (malformed input, wrong
 * key type) or -EIO (OpenSSL failed).
 */
int token_key_generate(struct token_key **out);
/* A PEM private key ("-----BEGIN PRIVATE KEY-----") or public key
 * ("-----BEGIN PUBLIC KEY-----"), Ed25519 only. */
int token_key_from_pem(const char *pem, size_t len, struct token_key **out);
int token_key_from_public_raw(const uint8_t raw[TOKEN_KEY_RAW],
                              struct token_key **out);
void token_key_free(struct token_key *k);
bool token_key_is_private(const struct token_key *k);
/* Appends the PEM text of the private key (-EINVAL for a public key). */
int token_key_private_pem(const struct token_key *k, struct buf *out);
int token_key_public_pem(const struct token_key *k, struct buf *out);
void token_key_public_raw(const struct token_key *k,
                          uint8_t raw[TOKEN_KEY_RAW]);
/* The key id: the first 8 bytes of SHA-256(raw public key), hex. */
void token_key_id(const struct token_key *k, char kid[TOKEN_KID_LEN + 1]);

/*
 * The request signature a client sends to prove its secret key:
 * lowercase hex HMAC-SHA256(secret, "PCACHE-HMAC-SHA256\n" method "\n"
 * path "\n" timestamp "\n" nonce). The secret never travels.
 * 0 or -EINVAL (empty or over-long field, newline in a field).
 */
int token_request_sign(const char *secret, const char *method, const char *path,
                       int64_t timestamp, const char *nonce, char out[65]);
/*
 * The whole request header "Authorization: PCACHE-HMAC-SHA256
 * Credential=AK, Timestamp=T, Nonce=N, Signature=S" for method and path
 * (without the query), signed now with a fresh random nonce; owned by the
 * caller, or NULL when signing failed.
 */
char *token_request_header(const char *access_key, const char *secret,
                           const char *method, const char *path);
/* Compares two strings in time independent of where they differ. */
bool token_str_equal(const char *a, const char *b);

/* Base64url without padding. Encode appends; decode appends the bytes and
 * fails with -EINVAL on any character outside the alphabet or a length
 * that cannot be base64 (buffer then unchanged), -EMSGSIZE when full. */
int token_b64url_encode(const void *data, size_t len, struct buf *out);
int token_b64url_decode(const char *text, size_t len, struct buf *out);

#endif
