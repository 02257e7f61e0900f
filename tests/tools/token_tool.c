/* SPDX-License-Identifier: MIT */
/*
 * token_tool.c: checks pmsd's tokens the way a node will, for the pmsd
 * integration tests (tests/integration/test_pmsd_auth.py).
 *
 *   token_tool verify PUBKEY TOKEN [ACTION PBUCKET KEY]
 *     PUBKEY is the base64url raw key of GET /v1/pubkey ("public_key").
 *     Prints one JSON line: {"ok": true, "subject", "expires_at",
 *     "scopes", ["allowed": bool]} or {"ok": false, "error": "EACCES"}.
 *     Exit 0 when valid (and allowed, if asked), 1 otherwise.
 *   token_tool sign SECRET METHOD PATH TIMESTAMP NONCE
 *     Prints token_request_sign()'s hex signature.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/token.h"

static const char *tool_errname(int rc)
{
    switch (-rc) {
    case EACCES:
        return "EACCES";
    case EINVAL:
        return "EINVAL";
    case EKEYEXPIRED:
        return "EKEYEXPIRED";
    case EMSGSIZE:
        return "EMSGSIZE";
    default:
        return "EOTHER";
    }
}

static int tool_verify(int argc, char **argv)
{
    struct token_key *key = NULL;
    struct token t;
    struct buf raw;
    json_t *out, *scopes;
    size_t i;
    int rc, status = 1;

    buf_init(&raw, 64);
    token_init(&t);
    if (token_b64url_decode(argv[2], strlen(argv[2]), &raw) < 0 ||
        raw.len != TOKEN_KEY_RAW ||
        token_key_from_public_raw((const uint8_t *)raw.data, &key) < 0) {
        fprintf(stderr, "token_tool: bad public key\n");
        goto out;
    }
    rc = token_verify(argv[3], key, (int64_t)time(NULL), &t);
    if (rc < 0) {
        out = json_pack("{s:b, s:s}", "ok", 0, "error", tool_errname(rc));
    } else {
        scopes = json_array();
        for (i = 0; i < t.nscopes; i++)
            json_array_append_new(scopes,
                                  json_pack("{s:i, s:s}", "actions",
                                            (int)t.scopes[i].actions,
                                            "resource", t.scopes[i].resource));
        out =
            json_pack("{s:b, s:s, s:I, s:o}", "ok", 1, "subject", t.subject,
                      "expires_at", (json_int_t)t.expires_at, "scopes", scopes);
        status = 0;
        if (argc == 7) {
            bool ok =
                token_allows(&t, token_action_parse(argv[4]), argv[5], argv[6]);
            json_object_set_new(out, "allowed", json_boolean(ok));
            status = ok ? 0 : 1;
        }
    }
    {
        char *s = json_dumps(out, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
    }
    json_decref(out);
out:
    token_fini(&t);
    token_key_free(key);
    buf_free(&raw);
    return status;
}

int main(int argc, char **argv)
{
    char sig[65];

    if (argc >= 4 && strcmp(argv[1], "verify") == 0 && (argc == 4 || argc == 7))
        return tool_verify(argc, argv);
    if (argc == 7 && strcmp(argv[1], "sign") == 0) {
        if (token_request_sign(argv[2], argv[3], argv[4],
                               strtoll(argv[5], NULL, 10), argv[6], sig) < 0)
            return 1;
        printf("%s\n", sig);
        return 0;
    }
    fprintf(stderr, "usage: token_tool verify PUBKEY TOKEN [ACTION PBUCKET "
                    "KEY]\n       token_tool sign SECRET METHOD PATH TS "
                    "NONCE\n");
    return 2;
}
