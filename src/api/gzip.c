/*
 * gzip for answers (zlib): the dashboard's assets, compressed once, and JSON
 * answers over a kilobyte when the client's Accept-Encoding allows it (a
 * workflow with 500 tasks is ~460 KB of JSON and a tenth of that compressed).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "api/api.h"

int tia__gzip(const void *in, size_t n, int level, char **out, size_t *out_n)
{
    z_stream z = {0};
    uLong cap = compressBound((uLong)n) + 32;
    char *buf = malloc(cap);
    int rc = -1;
    *out = NULL;
    *out_n = 0;
    /* windowBits 15 + 16: a gzip header and trailer rather than zlib's. */
    if (buf == NULL || deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        goto done;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)cap;
    int zrc = deflate(&z, Z_FINISH);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    if (zrc != Z_STREAM_END || len >= n)
        goto done; /* not smaller: send it as it is */
    *out = buf;
    *out_n = len;
    buf = NULL;
    rc = 0;
done:
    free(buf);
    return rc;
}

int tia__accepts_gzip(tia__call *c)
{
    const char *h = tia__value(c, MHD_HEADER_KIND, "Accept-Encoding");
    if (h == NULL)
        return 0;
    for (const char *p = h; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t name = strcspn(p, ";,");
        while (name > 0 && p[name - 1] == ' ')
            name--;
        if ((name == 4 && strncasecmp(p, "gzip", 4) == 0) || (name == 1 && p[0] == '*')) {
            const char *q = memchr(p, ';', n);
            if (q == NULL)
                return 1;
            q++;
            while (*q == ' ')
                q++;
            if (strncmp(q, "q=", 2) != 0)
                return 1;
            return strtod(q + 2, NULL) > 0;
        }
        p += n;
    }
    return 0;
}
