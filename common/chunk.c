/* SPDX-License-Identifier: MIT */
/*
 * chunk.c: chunk ids and chunk maths (see chunk.h, docs/internals/chunk.md).
 */
#include "common/chunk.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/mem.h"

/*
 * The encoding starts with a tag naming its version: changing the
 * encoding means changing the tag, so old and new ids never collide by
 * construction.
 */
static const char chunk_id_tag[8] = {'p', 'c', 'c', 'h', 'i', 'd', '0', '1'};

/* Encodings up to this size are built on the stack. */
#define CHUNK_ID_STACK 2048

static uint8_t *chunk_put_u64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 8;
}

static uint8_t *chunk_put_str(uint8_t *p, const char *s, size_t len)
{
    p = chunk_put_u64(p, len);
    if (len > 0)
        memcpy(p, s, len);
    return p + len;
}

void chunk_id_make(struct chunk_id *out, const char *pbucket, const char *key,
                   const char *etag, uint64_t index, uint64_t chunk_size)
{
    uint8_t stack[CHUNK_ID_STACK];
    uint8_t *enc = stack, *p;
    size_t lp = pbucket ? strlen(pbucket) : 0;
    size_t lk = key ? strlen(key) : 0;
    size_t le = etag ? strlen(etag) : 0;
    size_t total = sizeof(chunk_id_tag) + 5 * 8 + lp + lk + le;
    XXH128_canonical_t canon;

    /* S3 keys are at most 1 KiB, so the heap is for odd callers only. */
    if (total > sizeof(stack))
        enc = xmalloc(total);
    memcpy(enc, chunk_id_tag, sizeof(chunk_id_tag));
    p = enc + sizeof(chunk_id_tag);
    p = chunk_put_str(p, pbucket, lp);
    p = chunk_put_str(p, key, lk);
    p = chunk_put_str(p, etag, le);
    p = chunk_put_u64(p, index);
    p = chunk_put_u64(p, chunk_size);
    assert((size_t)(p - enc) == total);
    XXH128_canonicalFromHash(&canon, XXH3_128bits(enc, total));
    memcpy(out->b, canon.digest, sizeof(out->b));
    if (enc != stack)
        free(enc);
}

void chunk_id_hex(const struct chunk_id *id, char out[CHUNK_ID_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < sizeof(id->b); i++) {
        out[2 * i] = digits[id->b[i] >> 4];
        out[2 * i + 1] = digits[id->b[i] & 0xf];
    }
    out[CHUNK_ID_HEX_LEN] = '\0';
}

static int chunk_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int chunk_id_parse(const char *hex, struct chunk_id *out)
{
    struct chunk_id id;
    size_t i;
    int hi, lo;

    if (!hex)
        return -EINVAL;
    for (i = 0; i < sizeof(id.b); i++) {
        /* A NUL stops at hi, so this never reads past the string. */
        hi = chunk_hexval(hex[2 * i]);
        if (hi < 0)
            return -EINVAL;
        lo = chunk_hexval(hex[2 * i + 1]);
        if (lo < 0)
            return -EINVAL;
        id.b[i] = (uint8_t)(hi << 4 | lo);
    }
    if (hex[CHUNK_ID_HEX_LEN] != '\0')
        return -EINVAL;
    *out = id;
    return 0;
}

bool chunk_id_eq(const struct chunk_id *a, const struct chunk_id *b)
{
    return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

uint64_t chunk_index_of(uint64_t off, uint64_t chunk_size)
{
    assert(chunk_size > 0);
    return off / chunk_size;
}

uint64_t chunk_count(uint64_t object_size, uint64_t chunk_size)
{
    assert(chunk_size > 0);
    /* Written so that sizes near UINT64_MAX do not overflow. */
    return object_size / chunk_size + (object_size % chunk_size != 0);
}

uint64_t chunk_len(uint64_t index, uint64_t chunk_size, uint64_t object_size)
{
    uint64_t start;

    if (index >= chunk_count(object_size, chunk_size))
        return 0;
    /* index < count, so start < object_size: no overflow. */
    start = index * chunk_size;
    return object_size - start < chunk_size ? object_size - start : chunk_size;
}

uint64_t chunk_offset(uint64_t index, uint64_t chunk_size)
{
    return index * chunk_size;
}

bool chunk_size_valid(uint64_t chunk_size)
{
    return chunk_size >= CHUNK_SIZE_MIN && chunk_size <= CHUNK_SIZE_MAX &&
           chunk_size % CHUNK_SIZE_ALIGN == 0;
}
