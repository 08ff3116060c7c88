/* Keyset pagination cursors: see cursor.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/uuid.h"
#include "store/cursor.h"

void tia__cursor_encode(tia_time_us created, const char *id, char out[TIA_CURSOR_BUF])
{
    snprintf(out, TIA_CURSOR_BUF, "%" PRId64 ".%s", created, id);
}

int tia__cursor_decode(const char *text, tia_time_us *created, char id[TIA_UUID_BUF],
                       tia_error *err)
{
    const char *dot = text ? strchr(text, '.') : NULL;
    if (dot == NULL || dot == text || (size_t)(dot - text) > 20)
        goto bad;
    for (const char *p = text; p < dot; p++)
        if ((*p < '0' || *p > '9') && !(p == text && *p == '-'))
            goto bad;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end != dot || !tia__uuid_valid(dot + 1))
        goto bad;
    *created = (tia_time_us)v;
    tia__uuid_lower(dot + 1, id);
    return 0;
bad:
    return tia_error_set(err, TIA_EINVAL, "malformed cursor '%.60s': pass back next_cursor unchanged",
                         text ? text : "");
}
