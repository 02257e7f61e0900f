/* SPDX-License-Identifier: MIT */
/*
 * inode.h: the mount's inode table.
 *
 * FUSE's low-level API names files by inode number; S3 names them by key.
 * The table maps both ways: ino -> struct inode and path -> struct inode,
 * where a path is relative to the mount root ("" is the root, "a/b" a
 * file or directory below it, no leading or trailing slash).
 *
 * Lifetime: an inode lives while the kernel holds lookups on it (nlookup,
 * dropped by forget) or the file system holds references (refs: open
 * handles and operations in progress). inode_get()/inode_find() return a
 * reference that the caller drops with inode_put().
 *
 * Locking: the table's mutex guards the two maps and every inode's
 * nlookup, refs and path. Each inode's own mutex guards its attributes
 * and the state under it. Order: an inode's lock may be taken while
 * holding no table lock, and the table lock may be taken while holding an
 * inode lock, never the other way round (docs/internals/threads.md).
 */
#ifndef PCACHEFS_INODE_H
#define PCACHEFS_INODE_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

struct writer;
struct listing;

struct inode {
    fuse_ino_t ino; /* fixed at creation */
    /* Guarded by the table lock. */
    uint64_t nlookup;
    unsigned refs;
    char *path;             /* owned; NULL once unlinked */
    struct inode *next_ino; /* hash chains */
    struct inode *next_path;

    /* Guarded by lock. */
    pthread_mutex_t lock;
    struct stat attr;        /* st_ino == ino */
    char etag[128];          /* of the object the attributes describe */
    uint64_t attr_until_ms;  /* monotonic: attributes trusted until */
    bool meta_known;         /* mode/owner/times came from the object */
    bool implicit_dir;       /* a directory with no marker object */
    unsigned open_handles;   /* open file handles */
    unsigned open_writers;   /* of which open for writing */
    struct writer *writer;   /* staged contents while open for writing */
    char *link_target;       /* owned, symlinks */
    struct listing *listing; /* directories: cached listing, owned */
    bool listing_busy;       /* a fetch is running: wait on listing_cond */
    pthread_cond_t listing_cond;
    uint64_t listing_refused_ms; /* too large for lookups, as of then */
    char open_etag[128];         /* ETag at the last open, for keep_cache */
};

struct inode_table;

/* Creates the table with the root inode (FUSE_ROOT_ID, path ""). */
struct inode_table *inode_table_new(void);
void inode_table_free(struct inode_table *t);

/* Returns a reference to inode ino, or NULL. */
struct inode *inode_get(struct inode_table *t, fuse_ino_t ino);
/* Returns a reference to the inode of path, or NULL. */
struct inode *inode_find(struct inode_table *t, const char *path);
/*
 * Returns a reference to the inode of path, creating it with the given
 * file type (S_IFREG, S_IFDIR, S_IFLNK) when there is none. An existing
 * inode of another type is replaced: the old one loses its path (the
 * object changed kind behind our back).
 */
struct inode *inode_obtain(struct inode_table *t, const char *path,
                           mode_t type);
/* Drops a reference; frees the inode when nothing holds it. */
void inode_put(struct inode_table *t, struct inode *in);

/* Counts one kernel lookup (the caller is replying an entry). */
void inode_lookup_inc(struct inode_table *t, struct inode *in);
/* Drops n kernel lookups of ino (forget). */
void inode_forget(struct inode_table *t, fuse_ino_t ino, uint64_t n);

/* Copies the path into a new string owned by the caller; NULL if gone. */
char *inode_path(struct inode_table *t, struct inode *in);
/* Joins a directory path and a name into a new string. */
char *inode_join(const char *dir, const char *name);

/*
 * Moves path `from` (and, for a directory, every path below it) to `to`.
 * An inode already at `to` loses its path.
 */
void inode_rename(struct inode_table *t, const char *from, const char *to);
/* Detaches the inode at path from its path (unlink, rmdir). */
void inode_unlink(struct inode_table *t, const char *path);

/* Calls fn for every inode whose path is directly inside dir; fn runs
 * with the table lock held and must not call back into the table. */
void inode_each_child(struct inode_table *t, const char *dir,
                      void (*fn)(struct inode *in, void *arg), void *arg);

#endif
