/* Helpers of the fuzz targets: see fuzz_support.h. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_support.h"

static char dir[256];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_dir(void)
{
    if (dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tia_fuzz_tmpdir(void)
{
    if (dir[0])
        return dir;
    /* scripts/fuzz.sh points TIA_FUZZ_TMP at a directory it removes, even after a crash. */
    const char *base = getenv("TIA_FUZZ_TMP");
    if (base == NULL || *base == '\0')
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/tia-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("tia fuzz: mkdtemp");
        exit(1);
    }
    atexit(rm_dir);
    return dir;
}

char *tia_fuzz_cstr(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL) {
        fputs("tia fuzz: out of memory\n", stderr);
        exit(1);
    }
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

void tia_fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tia fuzz: invariant broken: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* "a+b%41" -> "a bA", as libmicrohttpd treats a query argument. */
static void decode_arg(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '+')
            *p = ' ';
    tia__unescape(s);
}

static void split_query(char *q, tia_fuzz_req *r)
{
    while (q && *q && r->req.n_query < TIA_FUZZ_KV) {
        char *amp = strchr(q, '&');
        if (amp)
            *amp = '\0';
        if (*q) {
            char *eq = strchr(q, '=');
            if (eq) {
                *eq = '\0';
                decode_arg(eq + 1);
            }
            decode_arg(q);
            r->query[r->req.n_query].key = q;
            r->query[r->req.n_query].value = eq ? eq + 1 : NULL;
            r->req.n_query++;
        }
        q = amp ? amp + 1 : NULL;
    }
}

void tia_fuzz_req_parse(const uint8_t *data, size_t size, tia_fuzz_req *r)
{
    memset(r, 0, sizeof *r);
    r->buf = tia_fuzz_cstr(data, size);
    r->req.query = r->query;
    r->req.headers = r->headers;
    /* The head ends at the first empty line; the rest, NULs and all, is the body. */
    char *end = strstr(r->buf, "\n\n");
    if (end) {
        *end = '\0';
        r->req.body = end + 2;
        r->req.body_len = size - (size_t)(end + 2 - r->buf);
    }
    char *line = r->buf;
    char *next = strchr(line, '\n');
    if (next)
        *next++ = '\0';
    line[strcspn(line, "\r")] = '\0';
    /* The request line: METHOD SP target. */
    char *sp = strchr(line, ' ');
    char *target = line + strlen(line); /* none: "", a malformed path */
    if (sp) {
        *sp = '\0';
        target = sp + 1;
    }
    r->req.method = line;
    char *q = strchr(target, '?');
    if (q)
        *q++ = '\0';
    r->target = tia_fuzz_cstr((const uint8_t *)target, strlen(target));
    r->req.target = r->target;
    tia__unescape(target);
    r->req.path = target;
    split_query(q, r);
    /* Headers: "Name: value", leading blanks of the value dropped. */
    for (line = next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line[strcspn(line, "\r")] = '\0';
        char *colon = strchr(line, ':');
        if (colon == NULL || colon == line || r->req.n_headers == TIA_FUZZ_KV)
            continue;
        *colon++ = '\0';
        colon += strspn(colon, " \t");
        r->headers[r->req.n_headers].key = line;
        r->headers[r->req.n_headers].value = colon;
        r->req.n_headers++;
    }
}

void tia_fuzz_req_free(tia_fuzz_req *r)
{
    free(r->buf);
    free(r->target);
    r->buf = r->target = NULL;
}
