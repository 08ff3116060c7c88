/*
 * The error table and the helpers that fill a tia_error. Messages are formatted
 * into the caller's fixed buffer so that reporting an error never allocates, and
 * are always valid UTF-8 (a message may be stored, as a task's error_message, or
 * sent in JSON).
 */
#include <stdarg.h>
#include <stdio.h>

#include <tokyoia/error.h>

#include "core/validate.h"

const char *tia_strerror(int code)
{
    switch (code) {
    case TIA_OK: return "ok";
    case TIA_EINVAL: return "invalid input";
    case TIA_ENOTFOUND: return "not found";
    case TIA_ECONFLICT: return "conflict";
    case TIA_ENOMEM: return "out of memory";
    case TIA_EDB: return "database error";
    case TIA_EIO: return "input/output error";
    case TIA_ECHECKSUM: return "migration checksum mismatch";
    case TIA_EAUTH: return "not authenticated";
    case TIA_EUNAVAIL: return "database unavailable";
    case TIA_EBUSY: return "database busy";
    case TIA_ESCHEMA: return "schema missing or newer than this binary";
    case TIA_EFULL: return "database or disk full";
    default: return "unknown error";
    }
}

void tia_error_clear(tia_error *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->message[0] = '\0';
}

int tia_error_set(tia_error *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* Cut to fit, or quoting bad input: still text that can be stored and sent. */
    tia__utf8_repair(err->message);
    return code;
}
