/*
 * What the fuzz targets share: a scratch directory (under $TIA_FUZZ_TMP, else on
 * /dev/shm when there is one, so that SQLite's syncs cost nothing) removed at exit, NUL-terminated
 * copies of the input, and an abort with a message for a broken invariant
 * (libFuzzer reports an abort as a crash and keeps the input).
 */
#ifndef TIA_FUZZ_SUPPORT_H
#define TIA_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

/* The process's scratch directory, created on first use; exits on failure. */
const char *tia_fuzz_tmpdir(void);

/* data[0..n) as a NUL-terminated string (malloc'd; exits when out of memory). */
char *tia_fuzz_cstr(const uint8_t *data, size_t n);

/* Prints the broken invariant and aborts. */
void tia_fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * A request in the text form the API targets read (fuzz_api, fuzz_url):
 *
 *     METHOD /path?query
 *     Header-Name: value
 *     ...
 *     <empty line>
 *     body bytes
 *
 * The path is percent-decoded with the server's own tia__unescape and the query
 * split into arguments ('&', the first '=', '+' as a space, then decoded), as
 * libmicrohttpd does for a real request. At most TIA_FUZZ_KV of each.
 */
#define TIA_FUZZ_KV 32

typedef struct tia_fuzz_req {
    char *buf;    /* owned: the head's text, cut into the strings below, then the body */
    char *target; /* owned: the path as sent, before decoding (req.target) */
    tia__request req;
    tia__kv query[TIA_FUZZ_KV];
    tia__kv headers[TIA_FUZZ_KV];
} tia_fuzz_req;

void tia_fuzz_req_parse(const uint8_t *data, size_t size, tia_fuzz_req *out);
void tia_fuzz_req_free(tia_fuzz_req *r);

#define TIA_FUZZ_CHECK(cond, ...)                                                                  \
    do {                                                                                           \
        if (!(cond))                                                                               \
            tia_fuzz_fail(__VA_ARGS__);                                                            \
    } while (0)

#endif
