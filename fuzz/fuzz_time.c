/*
 * Fuzz target: the parsers of times, durations and dollar amounts
 * (src/core/timeparse.c, src/core/types.c) behind query arguments (?since=,
 * ?window=), body members (cost, timeout) and CLI options. Each text is given
 * to all three. An accepted value must survive a round trip through its
 * formatter (times and costs), a duration must be positive, and a refusal must
 * leave the output untouched, as the contracts in types.h say.
 */
#include <stdlib.h>
#include <string.h>

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define UNTOUCHED INT64_C(0x5a5a5a5a5a5a5a5a)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = tia_fuzz_cstr(data, size);

    tia_time_us t = UNTOUCHED;
    if (tia_time_parse(text, &t) == 0) {
        char buf[64];
        tia_time_us t2 = UNTOUCHED;
        tia_time_format(t, buf, sizeof buf);
        if (t != TIA_TIME_NONE && buf[0] != '\0') {
            TIA_FUZZ_CHECK(tia_time_parse(buf, &t2) == 0, "formatted time '%s' of '%s' refused",
                           buf, text);
            TIA_FUZZ_CHECK(t2 == t, "time '%s' round trip: %lld != %lld", text, (long long)t2,
                           (long long)t);
        }
    } else {
        TIA_FUZZ_CHECK(t == UNTOUCHED, "refused time '%s' changed the output", text);
    }

    int64_t d = UNTOUCHED;
    if (tia_duration_parse(text, &d) == 0)
        TIA_FUZZ_CHECK(d > 0, "duration '%s' accepted as %lld", text, (long long)d);
    else
        TIA_FUZZ_CHECK(d == UNTOUCHED, "refused duration '%s' changed the output", text);

    int64_t cost = UNTOUCHED;
    if (tia_cost_parse(text, &cost) == 0) {
        char buf[64];
        int64_t cost2 = UNTOUCHED;
        TIA_FUZZ_CHECK(cost >= 0, "cost '%s' accepted as %lld", text, (long long)cost);
        tia_cost_format(cost, buf, sizeof buf);
        TIA_FUZZ_CHECK(tia_cost_parse(buf, &cost2) == 0 && cost2 == cost,
                       "cost '%s' round trip through '%s'", text, buf);
    } else {
        TIA_FUZZ_CHECK(cost == UNTOUCHED, "refused cost '%s' changed the output", text);
    }
    free(text);
    return 0;
}
