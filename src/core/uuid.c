/*
 * UUIDv7 generation and UUID text validation. Randomness comes from OpenSSL's
 * generator (getrandom(2) if it fails); the millisecond counter makes ids of one
 * generator monotonic even when the clock stalls or steps back.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/crypto.h"
#include "core/uuid.h"

static void fill_random(unsigned char *buf, size_t n)
{
    /*
     * OpenSSL's generator first: it draws from the kernel once per thread and
     * reseeds itself, where getrandom(2) was a system call per id (per request
     * in the API, for its request id). The kernel stays the fallback.
     */
    if (tia__random_bytes(buf, n) == 0)
        return;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r > 0)
            got += (size_t)r;
    }
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

    static const char hex[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
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
