/* SPDX-License-Identifier: MIT */
/*
 * state.h: everything pmsd knows, and the rules that keep it valid.
 *
 * The state is membership (nodes and the epoch), backends, pbuckets,
 * users with their keys, and policies. Backends, pbuckets, users and
 * policies are held as jansson objects keyed by name, each one checked
 * against its schema before it gets in, so what is stored is always
 * valid and serialising it is one json_dumps. Nodes are C structs: they
 * carry monotonic heartbeat times that are not persisted.
 *
 * DESIGN: every mutation goes through a function here that validates the
 * input, checks references (a pbucket's routes name existing backends, a
 * user's policies exist) and refuses to delete what is still referenced.
 * These functions do no I/O and read no clock (times are passed in), so
 * check_pmsd_state exercises them without a daemon.
 *
 * Errors: 0 or -errno, with a message in struct pmsd_error: -EINVAL (bad
 * input), -ENOENT (no such name), -EEXIST (name taken), -EBUSY (still
 * referenced), -E2BIG (more entries than a cap allows).
 *
 * Threads: owned by pmsd's one loop thread.
 */
#ifndef PMSD_STATE_H
#define PMSD_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct token;

#define PMSD_NAME_MAX      63
#define PMSD_MAX_NODES     4096
#define PMSD_MAX_ENTRIES   4096 /* backends, pbuckets, users, policies */
#define PMSD_MAX_ROUTES    256
#define PMSD_MAX_RULES     256
#define PMSD_MAX_KEYS      16 /* access keys per user */
#define PMSD_MAX_TIERS     16
#define PMSD_MAX_PREFIX    1024
#define PMSD_MIN_CHUNK     (1ll << 20)
#define PMSD_MAX_CHUNK     (64ll << 20)
#define PMSD_DEFAULT_CHUNK (8ll << 20)

struct pmsd_error {
    char msg[256];
};

/* One cache node. */
struct pmsd_node {
    char *id;              /* owned */
    char *address;         /* owned, "host:port" */
    char *zone;            /* owned, may be "" */
    json_t *tiers;         /* owned: [{"name", "capacity"}] */
    int64_t registered_at; /* unix seconds */
    uint64_t last_seen_ms; /* monotonic; not persisted */
    bool live;
};

struct pmsd_state {
    uint64_t epoch;          /* changes with every membership change */
    struct pmsd_node *nodes; /* owned array */
    size_t nnodes;
    json_t *backends; /* owned; name -> backend object */
    json_t *pbuckets; /* owned; name -> pbucket object */
    json_t *users;    /* owned; name -> user object (keys with secrets) */
    json_t *policies; /* owned; name -> policy object */
};

void pmsd_state_init(struct pmsd_state *st);
void pmsd_state_fini(struct pmsd_state *st);

/*
 * The whole state as one JSON document (new reference), secrets
 * included: what the store writes. Nodes are listed without their
 * liveness; a loaded node starts live with last_seen_ms = now_ms, so a
 * restarted pmsd keeps its members until they miss their heartbeats.
 */
json_t *pmsd_state_to_json(const struct pmsd_state *st);
/* Replaces st (pmsd_state_init'ed) with doc, checking everything; on
 * failure st is left empty. 0 or -EINVAL. */
int pmsd_state_from_json(struct pmsd_state *st, const json_t *doc,
                         uint64_t now_ms, struct pmsd_error *err);

/* Replaces backends, pbuckets, users and policies with those of doc
 * (checked as pmsd_state_from_json does), keeping membership and the
 * epoch: what another pmsd sharing the store changed. On failure st is
 * unchanged. 0 or -EINVAL. */
int pmsd_state_load_config(struct pmsd_state *st, const json_t *doc,
                           struct pmsd_error *err);

/* Names of pbuckets and backends: 1-63 of a-z 0-9 . _ -. Users and
 * policies may also use A-Z and @. 0 or -EINVAL. */
int pmsd_name_check(const char *name, bool mixed_case);

/* ---- membership ---- */

/*
 * A node registers (or re-registers) with {"id", "address", "zone",
 * "tiers"}. The epoch changes when the node is new, was not live, or
 * changed address, zone or tiers. *changed says whether it did.
 */
int pmsd_node_register(struct pmsd_state *st, const json_t *body, int64_t now,
                       uint64_t now_ms, bool *changed, struct pmsd_error *err);
/* A heartbeat: -ENOENT for an unknown node (it must register again). A
 * node that had expired becomes live again (epoch changes). */
int pmsd_node_heartbeat(struct pmsd_state *st, const char *id, uint64_t now_ms,
                        bool *changed);
/* Removes a node. -ENOENT. The epoch changes. */
int pmsd_node_remove(struct pmsd_state *st, const char *id);
/* Marks nodes not seen for expiry_ms as not live; returns how many. The
 * epoch changes once when any did. */
size_t pmsd_nodes_expire(struct pmsd_state *st, uint64_t now_ms,
                         uint64_t expiry_ms);
/* {"epoch": N, "nodes": [{"id", "address", "zone", "tiers", "live",
 * "age_ms"}]} of the live nodes, or of all with all. New reference. */
json_t *pmsd_nodes_json(const struct pmsd_state *st, bool all, uint64_t now_ms);
size_t pmsd_nodes_live(const struct pmsd_state *st);

/* ---- backends and pbuckets ---- */

/*
 * Creates (create true; -EEXIST when taken) or updates (-ENOENT when
 * absent; fields in body replace the old ones, others are kept) a backend
 * {"endpoint", "bucket", "region", "path_style", "access_key",
 * "secret_key", "session_token"}.
 */
int pmsd_backend_put(struct pmsd_state *st, const char *name,
                     const json_t *body, bool create, struct pmsd_error *err);
/* -ENOENT, or -EBUSY while a pbucket routes to it. */
int pmsd_backend_delete(struct pmsd_state *st, const char *name,
                        struct pmsd_error *err);
/* A backend as clients and admins see it: "secret_key" and
 * "session_token" dropped, "has_secret" added. New reference. */
json_t *pmsd_backend_public(const char *name, const json_t *b);

/* A pbucket {"chunk_size", "routes": [{"prefix", "backend"}],
 * "lifecycle": [{"prefix", "cache_ttl", "storage_class"}]}, create or
 * update as for backends; every route's backend must exist. */
int pmsd_pbucket_put(struct pmsd_state *st, const char *name,
                     const json_t *body, bool create, struct pmsd_error *err);
int pmsd_pbucket_delete(struct pmsd_state *st, const char *name,
                        struct pmsd_error *err);
/* The route for key (longest matching prefix), borrowed, or NULL when the
 * pbucket is unknown or no prefix matches. */
const json_t *pmsd_pbucket_route(const struct pmsd_state *st,
                                 const char *pbucket, const char *key);
/* The lifecycle rule for key (longest prefix), borrowed, or NULL. */
const json_t *pmsd_pbucket_rule(const struct pmsd_state *st,
                                const char *pbucket, const char *key);
/* A pbucket with its name; new reference. */
json_t *pmsd_pbucket_json(const char *name, const json_t *pb);

/* ---- users, keys and policies ---- */

/* {"statements": [{"actions": ["read", ...], "resources": ["pb1/\*"]}]} */
int pmsd_policy_put(struct pmsd_state *st, const char *name, const json_t *body,
                    bool create, struct pmsd_error *err);
/* -ENOENT, or -EBUSY while a user has it. */
int pmsd_policy_delete(struct pmsd_state *st, const char *name,
                       struct pmsd_error *err);

/* {"policies": ["p1", ...]}: create or update; policies must exist. */
int pmsd_user_put(struct pmsd_state *st, const char *name, const json_t *body,
                  bool create, int64_t now, struct pmsd_error *err);
int pmsd_user_delete(struct pmsd_state *st, const char *name,
                     struct pmsd_error *err);
/* A user without secrets (keys listed by access key). New reference. */
json_t *pmsd_user_public(const char *name, const json_t *u);
/* Adds a key pair (generated by the caller). -ENOENT, -E2BIG. */
int pmsd_user_add_key(struct pmsd_state *st, const char *name,
                      const char *access_key, const char *secret_key,
                      int64_t now, struct pmsd_error *err);
int pmsd_user_delete_key(struct pmsd_state *st, const char *name,
                         const char *access_key, struct pmsd_error *err);
/* The user owning access_key and its secret (both borrowed), -ENOENT. */
int pmsd_key_find(const struct pmsd_state *st, const char *access_key,
                  const char **user, const char **secret);
/*
 * Adds to t (subject already set) the scopes the user's policies grant,
 * one per resource with the union of actions. -ENOENT (no user), -E2BIG
 * (more than TOKEN_MAX_SCOPES resources).
 */
int pmsd_user_scopes(const struct pmsd_state *st, const char *user,
                     struct token *t, struct pmsd_error *err);

#endif
