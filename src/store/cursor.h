/*
 * Keyset pagination cursors. A cursor names the last row of a page by its sort
 * key (created_at in microseconds, id); the next page starts strictly after it,
 * so rows inserted meanwhile never shift a page. The text is opaque to callers:
 * "<created_us>.<uuid>".
 */
#ifndef TIA_STORE_CURSOR_H
#define TIA_STORE_CURSOR_H

#include <tokyoia/error.h>
#include <tokyoia/types.h>

void tia__cursor_encode(tia_time_us created, const char *id, char out[TIA_CURSOR_BUF]);

/* Parses a cursor; TIA_EINVAL with a clear message when malformed. */
int tia__cursor_decode(const char *text, tia_time_us *created, char id[TIA_UUID_BUF],
                       tia_error *err);

#endif
