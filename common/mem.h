/* SPDX-License-Identifier: MIT */
/*
 * mem.h: allocation helpers that never return NULL.
 *
 * Memory exhaustion is not a condition pcachefs tries to survive request by
 * request: xmalloc() and friends log and abort. Sizes that come from the
 * network or from a file must be checked against a cap before they reach
 * these functions (see docs/errors.md).
 */
#ifndef PCACHE_MEM_H
#define PCACHE_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* size bytes at an address that is a multiple of align (a power of two,
 * at least sizeof(void *)); freed with free(). For O_DIRECT buffers. */
void *xmalloc_aligned(size_t align, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a newly allocated formatted string; the caller owns it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
