/* SPDX-License-Identifier: MIT */
/*
 * store.h: where pmsd's state document lives.
 *
 * "file" (the default): STATE_DIR/state.json, written atomically: a
 * temporary file in the same directory (mode 0600), fsync, rename, fsync
 * of the directory. A crash leaves the old or the new document, never a
 * mix.
 *
 * "etcd://host:port,host:port": one etcd key (etcd_key) through etcd's v3
 * JSON gateway (POST /v3/kv/range, /v3/kv/txn) with libcurl; each
 * endpoint is tried in turn until one answers. Several pmsd may share
 * it: a save only succeeds over the revision this pmsd loaded last
 * (compare-and-swap), and pmsd_store_changed tells when another one
 * wrote, so the state can be read again.
 *
 * Calls block (bounded by short timeouts): the control plane's state is
 * small and changes rarely, and a change is only acknowledged once saved.
 *
 * Also here: the private-file helper the key and admin credentials use.
 */
#ifndef PMSD_STORE_H
#define PMSD_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define PMSD_STATE_MAX (64u << 20) /* largest state document */

struct pmsd_store;

/* Parses spec ("file" or "etcd://..."). 0 or -EINVAL (err filled). */
int pmsd_store_open(const char *spec, const char *state_dir,
                    const char *etcd_key, struct pmsd_store **out, char *err,
                    size_t errlen);
void pmsd_store_free(struct pmsd_store *s);
/* A short description for logs ("file /var/lib/pmsd/state.json"). */
const char *pmsd_store_name(const struct pmsd_store *s);
/* Loads the document into *doc (new reference). 0, -ENOENT (no state
 * yet), -EINVAL (unparsable), -EMSGSIZE, -EIO (unreachable). */
int pmsd_store_load(struct pmsd_store *s, json_t **doc, char *err,
                    size_t errlen);
/* Saves doc. 0, -EIO, or -ESTALE (etcd: another pmsd saved since our
 * last load; load again). */
int pmsd_store_save(struct pmsd_store *s, const json_t *doc, char *err,
                    size_t errlen);
/* Whether another pmsd changed the stored state since our last load or
 * save (always false for a file). 0 or -EIO. */
int pmsd_store_changed(struct pmsd_store *s, bool *changed, char *err,
                       size_t errlen);
/* True when several pmsd may share the store (etcd). */
bool pmsd_store_shared(const struct pmsd_store *s);
/*
 * etcd only: the value at etcd_key + suffix, created from mine (len
 * bytes) when absent; the first pmsd to create it wins and every other
 * one gets its value. *out (NUL-terminated, caller frees). 0 or -EIO.
 */
int pmsd_store_shared_blob(struct pmsd_store *s, const char *suffix,
                           const char *mine, size_t len, char **out,
                           size_t *outlen, char *err, size_t errlen);

/* Writes data to path atomically with mode 0600 (tmp, fsync, rename).
 * 0 or -errno. */
int pmsd_write_private(const char *path, const void *data, size_t len);
/* Reads a whole file of at most max bytes (NUL-terminated, caller
 * frees). 0, -errno, -EMSGSIZE. */
int pmsd_read_file(const char *path, size_t max, char **out, size_t *len);

#endif
