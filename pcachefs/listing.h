/* SPDX-License-Identifier: MIT */
/*
 * listing.h: directory listings, from ListObjectsV2 with a '/' delimiter.
 *
 * A listing is one directory's complete set of names, each a file (an
 * object) or a directory (a common prefix or a "name/" marker), with the
 * size, time and ETag the listing gave. Entries are sorted by name and
 * unique, whatever order the server sent them in; a name that is both an
 * object and a prefix is listed once, as a directory. A listing is
 * immutable once fetched: callers share it read-only under the owning
 * inode's lock, and replace it whole.
 */
#ifndef PCACHEFS_LISTING_H
#define PCACHEFS_LISTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct fs;

struct listing_entry {
    char *name;   /* owned */
    mode_t type;  /* S_IFREG or S_IFDIR */
    int64_t size; /* objects only */
    time_t mtime; /* objects only */
    char *etag;   /* owned; objects only, else NULL */
};

struct listing {
    struct listing_entry *entries; /* owned, sorted by name */
    size_t count;
    bool has_marker;     /* the "dir/" marker object exists */
    uint64_t fetched_ms; /* monotonic time of the fetch */
};

/*
 * Lists directory path ("" is the root) completely, following
 * continuation tokens. Returns 0 with *out set (owned by the caller),
 * -EFBIG when the directory has more than max entries (0: a large built-in
 * limit), or -errno from the S3 client.
 */
int listing_fetch(struct fs *fs, const char *path, size_t max,
                  struct listing **out);
void listing_free(struct listing *l);
/* The entry called name, borrowed from l, or NULL. */
const struct listing_entry *listing_find(const struct listing *l,
                                         const char *name);
/* True when name can be a file name (no '/', not "." or "..", <= 255). */
bool listing_name_ok(const char *name, size_t len);

#endif
