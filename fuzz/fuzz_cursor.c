/*
 * Fuzz target: the keyset pagination cursor parser (src/store/cursor.c), which
 * reads the ?cursor= of every list endpoint and the CLI's --cursor. Any text
 * must be either refused with TIA_EINVAL and a message, or accepted; an
 * accepted cursor must encode back to a cursor that decodes to the same key.
 */
#include <stdlib.h>
#include <string.h>

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#include "fuzz_support.h"
#include "store/cursor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = tia_fuzz_cstr(data, size);
    tia_time_us created = 0;
    char id[TIA_UUID_BUF];
    tia_error err = {0};
    int rc = tia__cursor_decode(text, &created, id, &err);
    if (rc != 0) {
        TIA_FUZZ_CHECK(rc == TIA_EINVAL && err.message[0], "refused with %d and no message", rc);
    } else {
        char again[TIA_CURSOR_BUF];
        tia_time_us created2 = 0;
        char id2[TIA_UUID_BUF];
        tia__cursor_encode(created, id, again);
        TIA_FUZZ_CHECK(tia__cursor_decode(again, &created2, id2, &err) == 0,
                       "re-encoded cursor '%s' refused", again);
        TIA_FUZZ_CHECK(created2 == created && strcmp(id, id2) == 0, "round trip changed '%s'",
                       again);
    }
    free(text);
    return 0;
}
