/* SPDX-License-Identifier: MIT */
/*
 * chunk.h: chunk ids and chunk maths.
 *
 * A chunk is bytes [i * chunk_size, (i + 1) * chunk_size) of one object
 * version (the last chunk of an object may be shorter). Its id is a 128-bit
 * XXH3 hash of (pbucket, key, ETag, i, chunk_size), so a new version of an
 * object (new ETag) or a new chunk size gives new ids, and a cache can
 * never mix the bytes of two versions. The id is what the chunk store
 * files chunks under and what placement hashes on.
 *
 * Everything here is pure: no I/O, no state, safe from any thread. See
 * docs/internals/chunk.md.
 */
#ifndef PCACHE_CHUNK_H
#define PCACHE_CHUNK_H

#include <stdbool.h>
#include <stdint.h>

/* Chunk sizes a pbucket may use: 1 to 64 MiB, a multiple of 64 KiB. */
#define CHUNK_SIZE_MIN     (1u << 20)
#define CHUNK_SIZE_MAX     (64u << 20)
#define CHUNK_SIZE_DEFAULT (8u << 20)
#define CHUNK_SIZE_ALIGN   (64u << 10)

/* Length of an id in hex, without the NUL. */
#define CHUNK_ID_HEX_LEN 32

/* The id's bytes are XXH3-128's canonical (big-endian) form. */
struct chunk_id {
    uint8_t b[16];
};

/*
 * Computes the id of chunk `index` of the object version (pbucket, key,
 * etag) cut into chunk_size pieces. The strings are borrowed; NULL is the
 * same as "". The encoding is unambiguous (every string is length-prefixed,
 * integers are fixed-width little-endian), so no two different tuples
 * share an encoding. The etag is used as given (quotes included): callers
 * must pass it the same way every time.
 */
void chunk_id_make(struct chunk_id *out, const char *pbucket, const char *key,
                   const char *etag, uint64_t index, uint64_t chunk_size);
/* Writes the id as 32 lowercase hex digits and a NUL. */
void chunk_id_hex(const struct chunk_id *id, char out[CHUNK_ID_HEX_LEN + 1]);
/*
 * Parses exactly 32 hex digits (either case) followed by the end of the
 * string. 0, or -EINVAL (out unchanged).
 */
int chunk_id_parse(const char *hex, struct chunk_id *out);
bool chunk_id_eq(const struct chunk_id *a, const struct chunk_id *b);

/*
 * Chunk maths. chunk_size must not be 0 (asserted); callers check sizes
 * from config or the network with chunk_size_valid() first.
 */
/* Index of the chunk holding byte `off`. */
uint64_t chunk_index_of(uint64_t off, uint64_t chunk_size);
/* Number of chunks of an object of object_size bytes (0 for an empty one). */
uint64_t chunk_count(uint64_t object_size, uint64_t chunk_size);
/* Length of chunk `index`: chunk_size, less for the last, 0 past the end. */
uint64_t chunk_len(uint64_t index, uint64_t chunk_size, uint64_t object_size);
/* Offset of the first byte of chunk `index` (no overflow check). */
uint64_t chunk_offset(uint64_t index, uint64_t chunk_size);
/* CHUNK_SIZE_MIN..CHUNK_SIZE_MAX and a multiple of CHUNK_SIZE_ALIGN. */
bool chunk_size_valid(uint64_t chunk_size);

#endif
