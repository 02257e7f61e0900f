/* SPDX-License-Identifier: MIT */
/*
 * mem.c: allocation helpers that abort on exhaustion (see mem.h).
 */
#include "common/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mem_oom(size_t size)
{
    /* Not through log.c: formatting there may itself allocate. */
    fprintf(stderr, "pcachefs: out of memory allocating %zu bytes\n", size);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        mem_oom(size);
    return p;
}

void *xmalloc_aligned(size_t align, size_t size)
{
    void *p = NULL;

    if (posix_memalign(&p, align, size ? size : 1) != 0)
        mem_oom(size);
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        mem_oom(nmemb * size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        mem_oom(size);
    return p;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        mem_oom(strlen(s) + 1);
    return p;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        mem_oom(n + 1);
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        mem_oom(0);
    return p;
}
