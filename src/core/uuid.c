/*
 * UUIDv7 generation and UUID text validation. Randomness comes from OpenSSL's
 * generator, drawn a block at a time per thread (getrandom(2) if it fails); the
 * millisecond counter makes ids of one generator monotonic even when the clock
 * stalls or steps back.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/crypto.h"
#include "core/uuid.h"

/*
 * Random bytes drawn from OpenSSL's generator a block at a time, per thread:
 * RAND_bytes costs about 8,000 instructions a call (its locks, a DRBG step, a
 * fork check), which was a tenth of a small API request's CPU when each one drew
 * the ten bytes of its request id alone. A fork empties the child's block
 * (pthread_atfork), so that parent and child never hand out the same bytes.
 */
#define RANDOM_BLOCK 320

static _Thread_local struct {
    unsigned char b[RANDOM_BLOCK];
    size_t used;
    int filled;
} pool;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void pool_forget(void)
{
    pool.filled = 0;
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, pool_forget);
}

static void kernel_random(unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r > 0)
            got += (size_t)r;
    }
}

static void fill_random(unsigned char *buf, size_t n)
{
    pthread_once(&atfork_once, register_atfork);
    if (!pool.filled || pool.used + n > sizeof pool.b) {
        /* OpenSSL's generator first, the kernel as the fallback. */
        if (tia__random_bytes(pool.b, sizeof pool.b) != 0)
            kernel_random(pool.b, sizeof pool.b);
        pool.used = 0;
        pool.filled = 1;
    }
    memcpy(buf, pool.b + pool.used, n);
    pool.used += n;
}

void tia__uuid7(tia__uuid_gen *g, char out[37])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    unsigned char rnd[10];
    fill_random(rnd, sizeof rnd);

    if (ms > g->last_ms) {
        g->last_ms = ms;
        g->seq = (uint16_t)(((rnd[0] << 8) | rnd[1]) & 0x3ff); /* leave room to count */
    } else if (++g->seq > 0xfff) {
        /* Counter exhausted (or clock went back): borrow the next millisecond. */
        g->last_ms++;
        g->seq = 0;
    }
    ms = g->last_ms;

    unsigned char b[16];
    b[0] = (unsigned char)(ms >> 40);
    b[1] = (unsigned char)(ms >> 32);
    b[2] = (unsigned char)(ms >> 24);
    b[3] = (unsigned char)(ms >> 16);
    b[4] = (unsigned char)(ms >> 8);
    b[5] = (unsigned char)ms;
    b[6] = (unsigned char)(0x70 | ((g->seq >> 8) & 0x0f));
    b[7] = (unsigned char)(g->seq & 0xff);
    memcpy(b + 8, rnd + 2, 8);
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    tia__uuid_format(b, out);
}

/* Two hex digits per byte value: a page of uuids is formatted a byte at a time. */
static const char hex_pairs[513] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

void tia__uuid_format(const unsigned char b[16], char out[37])
{
    /* Where each byte's two digits go, around the dashes at 8, 13, 18 and 23. */
    static const unsigned char at[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
    /* Unrolled: a page of tasks formats three uuids a row, and the loop's
     * bookkeeping cost as much as the copies. */
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        memcpy(out + at[i], hex_pairs + 2 * b[i], 2);
    out[8] = out[13] = out[18] = out[23] = '-';
    out[36] = '\0';
}

int tia__uuid_valid(const char *s)
{
    if (s == NULL)
        return 0;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!isxdigit((unsigned char)c)) {
            return 0;
        }
    }
    return s[36] == '\0';
}

void tia__uuid_lower(const char *s, char out[37])
{
    for (int i = 0; i < 36; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[36] = '\0';
}
