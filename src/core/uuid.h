/*
 * UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter
 * that keeps ids from one generator strictly increasing within a millisecond, then
 * 62 random bits. Time-ordered keys keep inserts at the right edge of B-trees.
 */
#ifndef TIA_CORE_UUID_H
#define TIA_CORE_UUID_H

#include <stdint.h>

typedef struct tia__uuid_gen {
    uint64_t last_ms;
    uint16_t seq;
} tia__uuid_gen;

/* Writes a new lowercase UUIDv7 and its NUL into out (37 bytes). */
void tia__uuid7(tia__uuid_gen *g, char out[37]);

/* Writes the 16 bytes of a UUID (network order, as PostgreSQL's binary format
 * sends them) in lowercase 8-4-4-4-12 form and its NUL into out (37 bytes). */
void tia__uuid_format(const unsigned char b[16], char out[37]);

/* 1 when s is a UUID in 8-4-4-4-12 hex form (either case), else 0. */
int tia__uuid_valid(const char *s);

/* Copies s lowercased into out (37 bytes); s must be valid. */
void tia__uuid_lower(const char *s, char out[37]);

#endif
