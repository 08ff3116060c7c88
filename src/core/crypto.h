/*
 * Hashing and randomness for session tokens, through OpenSSL: SHA-256 as
 * lowercase hex, random tokens, and a constant-time comparison.
 */
#ifndef TIA_CORE_CRYPTO_H
#define TIA_CORE_CRYPTO_H

#include <stddef.h>

/* SHA-256 of data[0..len) as 64 lowercase hex characters and a NUL. 0 or -1. */
int tia__sha256_hex(const void *data, size_t len, char out[65]);

/* Fills buf with n cryptographically random bytes. 0 or -1. */
int tia__random_bytes(void *buf, size_t n);

/* 1 when a[0..n) equals b[0..n), in time independent of the contents. */
int tia__ct_equal(const void *a, const void *b, size_t n);

#endif
