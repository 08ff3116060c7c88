/*
 * Names of the status enums, the store's transition rule, and the small text
 * formats the library and the CLI share: timestamps, durations and money.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokyoia/error.h>
#include <tokyoia/types.h>

static const char *const agent_names[] = {"active", "inactive", "maintenance"};
static const char *const run_names[] = {"pending", "running", "completed", "failed", "cancelled"};
static const char *const session_names[] = {"active", "expired", "revoked"};

#define NAME_OF(tab, v) (((unsigned)(v) < sizeof tab / sizeof tab[0]) ? tab[(unsigned)(v)] : NULL)

const char *tia_agent_status_name(tia_agent_status s) { return NAME_OF(agent_names, s); }
const char *tia_run_status_name(tia_run_status s) { return NAME_OF(run_names, s); }
const char *tia_session_status_name(tia_session_status s) { return NAME_OF(session_names, s); }

static int find_name(const char *const *tab, int n, const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(tab[i], name) == 0)
            return i;
    return -1;
}

int tia_agent_status_parse(const char *name, tia_agent_status *out)
{
    int i = find_name(agent_names, 3, name);
    if (i < 0)
        return TIA_EINVAL;
    *out = (tia_agent_status)i;
    return 0;
}

int tia_run_status_parse(const char *name, tia_run_status *out)
{
    int i = find_name(run_names, 5, name);
    if (i < 0)
        return TIA_EINVAL;
    *out = (tia_run_status)i;
    return 0;
}

int tia_session_status_parse(const char *name, tia_session_status *out)
{
    int i = find_name(session_names, 3, name);
    if (i < 0)
        return TIA_EINVAL;
    *out = (tia_session_status)i;
    return 0;
}

int tia_run_transition_ok(tia_run_status from, tia_run_status to)
{
    switch (from) {
    case TIA_PENDING: return to == TIA_RUNNING || to == TIA_CANCELLED;
    case TIA_RUNNING: return to == TIA_COMPLETED || to == TIA_FAILED || to == TIA_CANCELLED;
    default: return 0;
    }
}

tia_time_us tia_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (tia_time_us)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void tia_time_format(tia_time_us t, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (t == TIA_TIME_NONE) {
        buf[0] = '\0';
        return;
    }
    time_t sec = (time_t)(t / 1000000);
    int64_t us = t % 1000000;
    if (us < 0) {
        us += 1000000;
        sec -= 1;
    }
    struct tm tm;
    gmtime_r(&sec, &tm);
    /* Four-digit years (strftime's %Y writes 555 for 0555, which no parser takes). */
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06" PRId64 "Z", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
}

int tia_duration_parse(const char *text, int64_t *out_us)
{
    if (text == NULL || *text == '\0')
        return TIA_EINVAL;
    const char *p = text;
    int64_t total = 0;
    while (*p) {
        if (*p < '0' || *p > '9')
            return TIA_EINVAL;
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v > INT64_MAX / 10 - 10)
                return TIA_EINVAL;
            v = v * 10 + (*p++ - '0');
        }
        int64_t unit;
        if (strncmp(p, "ms", 2) == 0) {
            unit = 1000;
            p += 2;
        } else if (*p == 's') {
            unit = 1000000;
            p++;
        } else if (*p == 'm') {
            unit = INT64_C(60000000);
            p++;
        } else if (*p == 'h') {
            unit = INT64_C(3600000000);
            p++;
        } else if (*p == 'd') {
            unit = INT64_C(86400000000);
            p++;
        } else {
            return TIA_EINVAL;
        }
        if (v > (INT64_MAX - total) / unit)
            return TIA_EINVAL;
        total += v * unit;
    }
    if (total <= 0)
        return TIA_EINVAL;
    *out_us = total;
    return 0;
}

void tia_cost_format(int64_t micros, char *buf, size_t len)
{
    const char *sign = micros < 0 ? "-" : "";
    uint64_t m = micros < 0 ? (uint64_t)0 - (uint64_t)micros : (uint64_t)micros;
    snprintf(buf, len, "%s%" PRIu64 ".%06" PRIu64, sign, m / 1000000u, m % 1000000u);
}

int tia_cost_parse(const char *text, int64_t *out_micros)
{
    if (text == NULL || *text == '\0')
        return TIA_EINVAL;
    /*
     * No sign: a cost is never negative, and "-0.000001" would otherwise come out
     * as -1, the "compute it from the prices" value of the engine's results.
     * (pg.c reads a negative sum through its own fallback.)
     */
    const char *p = text;
    int64_t whole = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (whole > (INT64_MAX / 1000000 - 10) / 10)
            return TIA_EINVAL;
        whole = whole * 10 + (*p++ - '0');
        digits++;
    }
    int64_t frac = 0;
    int fd = 0;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (fd == 6) {
                if (*p != '0') /* more precision than a DECIMAL(10,6) keeps */
                    return TIA_EINVAL;
                p++;
                continue;
            }
            frac = frac * 10 + (*p++ - '0');
            fd++;
        }
    }
    if (*p != '\0' || (digits == 0 && fd == 0))
        return TIA_EINVAL;
    for (; fd < 6; fd++)
        frac *= 10;
    int64_t v = whole * 1000000 + frac;
    *out_micros = v;
    return 0;
}
