/* SPDX-License-Identifier: MIT */
/*
 * writer.h: the write path: a file's contents staged in a local file and
 * uploaded on flush.
 *
 * A file open for writing gets one writer, shared by all its handles. The
 * staging file is an anonymous (O_TMPFILE) file in the cache directory, so
 * random writes, holes, truncation and appends are plain file operations.
 * An existing object opened without O_TRUNC is filled in lazily: a chunk
 * of the old contents is copied into the staging file (through the read
 * path and its cache) only before something reads it or partly overwrites
 * it, and all missing chunks are filled only when the file is uploaded.
 *
 * writer_flush() uploads a dirty file: one PUT when small, a parallel
 * multipart upload when large (common/s3_transfer.c). It returns 0 only
 * once the object is in S3.
 *
 * Locking: each writer has its own mutex; every function takes it.
 */
#ifndef PCACHEFS_WRITER_H
#define PCACHEFS_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct fs;
struct writer;

/*
 * Starts staging the object key whose current version is etag and size
 * bytes long (size 0 and etag NULL for a new file). Returns NULL with *rc
 * set (-ENOSPC, -EIO, ... from the staging directory).
 */
struct writer *writer_new(struct fs *fs, const char *key, const char *etag,
                          uint64_t size, int *rc);
/* One more reference (for a caller that uses w after dropping the inode's
 * lock, while a release may drop the inode's); returns w. */
struct writer *writer_ref(struct writer *w);
/* Drops a reference; the last one frees. NULL is a no-op. */
void writer_free(struct writer *w);

ssize_t writer_read(struct writer *w, char *buf, size_t len, uint64_t off);
ssize_t writer_write(struct writer *w, const char *buf, size_t len,
                     uint64_t off);
int writer_truncate(struct writer *w, uint64_t size);
/* Copies every missing chunk in (the file no longer needs its object). */
int writer_fill_all(struct writer *w);
uint64_t writer_size(struct writer *w);
bool writer_dirty(struct writer *w);
/* The attributes a streaming upload starts with (mode, owner, time). */
void writer_set_attr(struct writer *w, const struct stat *st);
/*
 * Marks the file as needing an upload (new file, metadata change). Takes
 * no lock, so it may be called under the inode's lock.
 */
void writer_mark_dirty(struct writer *w);

/*
 * Uploads the staged contents as key with the attributes in st (mode,
 * owner, mtime as s3fs metadata) when dirty. On success the staging file
 * becomes the base of later writes and etag (128 bytes) gets the new ETag.
 * Returns 0 (also when clean), or -errno (-EIO, -ENOSPC, -EACCES, ...).
 */
int writer_flush(struct writer *w, const char *key, const struct stat *st,
                 char *etag);

#endif
