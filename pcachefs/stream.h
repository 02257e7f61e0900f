/* SPDX-License-Identifier: MIT */
/*
 * stream.h: uploading a file while it is being written.
 *
 * A new file written front to back (cp, dd, a checkpoint writer) does not
 * have to wait for close() to start its upload: once its written prefix
 * passes the multipart threshold, a multipart upload starts and every
 * complete part is sent in the background while the application keeps
 * writing. close() then sends only the last part and completes, so the
 * object is in S3 about when the writing ends.
 *
 * Any later write into a part that was already sent marks it for sending
 * again (a generation count per part), so the object is always exactly
 * the staged file. What the upload cannot express (a changed key, more
 * than 10,000 parts) makes stream_finish() return -EAGAIN: the caller
 * aborts it and uploads the usual way.
 *
 * Owned by one writer and used under its lock.
 */
#ifndef PCACHEFS_STREAM_H
#define PCACHEFS_STREAM_H

#include <stdint.h>
#include <sys/stat.h>

#include "common/s3.h"

struct fs;
struct stream;

/*
 * Starts a multipart upload of key whose parts will be read from fd, with
 * the attributes in st as s3fs metadata. NULL when S3 refuses (the caller
 * then uploads at close as usual).
 */
struct stream *stream_new(struct fs *fs, int fd, const char *key,
                          const struct stat *st);
/* Aborts an unfinished upload (so no parts are left behind) and frees. */
void stream_free(struct stream *s);
/* Notes that [off, off+len) of the file changed. */
void stream_touch(struct stream *s, uint64_t off, uint64_t len);
/*
 * Sends the complete parts below ready (bytes known final for now) while
 * fewer than upload_parallel are in flight; never waits, so a writer is
 * not held to the upload's pace (what is not sent yet goes with a later
 * call or at finish). 0 or -errno (a failed part is sent again at finish).
 */
int stream_advance(struct stream *s, uint64_t ready);
/*
 * Finishes the upload for a file of size bytes now called key with the
 * attributes st: sends what is missing, completes, fixes the metadata if
 * the attributes changed since the start. etag gets the new ETag (owned
 * by the caller). -EAGAIN: cannot finish this way (aborted).
 */
int stream_finish(struct stream *s, uint64_t size, const char *key,
                  const struct stat *st, char **etag, struct s3_error *err);

#endif
