/* SPDX-License-Identifier: MIT */
/*
 * buf.h: growable byte buffers with a hard maximum size.
 *
 * Every growable run of bytes in pcachefs (response bodies, XML, JSON,
 * canonical requests) lives in a struct buf. A buffer is created with the
 * largest size it may ever reach; an append that would pass it fails with
 * -EMSGSIZE and leaves the buffer unchanged, so a peer that sends too much
 * fails its own request instead of exhausting memory. The data is always
 * NUL-terminated (the terminator is not counted in len), so text can be
 * used as a C string directly.
 *
 * Ownership: the struct is the caller's storage (buf_init/buf_free); the
 * bytes it points to are owned by the buffer. Not thread-safe.
 */
#ifndef PCACHE_BUF_H
#define PCACHE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* bytes used, excluding the NUL terminator */
    size_t cap; /* bytes allocated */
    size_t max; /* largest len allowed */
};

#define BUF_UNLIMITED ((size_t)-1 / 2)

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* Drops the contents, keeps the allocation. */
void buf_reset(struct buf *b);
/* 0, or -EMSGSIZE when len would pass max (buffer unchanged). */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_append_byte(struct buf *b, char c);
int buf_appendf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vappendf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Makes room for n more bytes; 0 or -EMSGSIZE. */
int buf_reserve(struct buf *b, size_t n);
/* Returns the data as a C string ("" when empty); borrowed from b. */
const char *buf_str(const struct buf *b);
/* Hands the data to the caller (who frees it) and resets b. */
char *buf_steal(struct buf *b);

#endif
