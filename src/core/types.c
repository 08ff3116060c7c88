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
    /* The first letter first: a row's status is parsed with one strcmp, not one
     * per name before it. */
    for (int i = 0; i < n; i++)
        if (tab[i][0] == name[0] && strcmp(tab[i], name) == 0)
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

/* Writes v's last n decimal digits, zero-padded, ending just before end. */
static void put_digits(char *end, uint64_t v, int n)
{
    while (n-- > 0) {
        *--end = (char)('0' + v % 10);
        v /= 10;
    }
}

/*
 * The proleptic Gregorian date of a day counted from 1970-01-01 (days may be
 * negative), by eras of 400 years (146,097 days each). gmtime_r would do, but
 * glibc takes its time-zone lock at every call, UTC included, and the API formats
 * dozens of timestamps per answer on all its threads at once.
 */
static void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    days += 719468; /* from 0000-03-01: a year starting in March ends with Feb 29 */
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);                       /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                                    /* March = 0 */
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void tia_time_format(tia_time_us t, char *buf, size_t len)
{
    if (len == 0)
        return;
    if (t == TIA_TIME_NONE) {
        buf[0] = '\0';
        return;
    }
    int64_t sec = t / 1000000, us = t % 1000000;
    if (us < 0) {
        us += 1000000;
        sec -= 1;
    }
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    if (year < 0 || year > 9999 || len < 28) {
        /* Four-digit years (strftime's %Y writes 555 for 0555, which no parser takes). */
        snprintf(buf, len, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%06" PRId64 "Z", year, month,
                 day, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), us);
        return;
    }
    memcpy(buf, "0000-00-00T00:00:00.000000Z", 28);
    put_digits(buf + 4, (uint64_t)year, 4);
    put_digits(buf + 7, month, 2);
    put_digits(buf + 10, day, 2);
    put_digits(buf + 13, (uint64_t)(rem / 3600), 2);
    put_digits(buf + 16, (uint64_t)(rem / 60 % 60), 2);
    put_digits(buf + 19, (uint64_t)(rem % 60), 2);
    put_digits(buf + 26, (uint64_t)us, 6);
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
    /* By hand, not snprintf: the API prints one per task of every page. */
    char tmp[32], *end = tmp + sizeof tmp, *p = end;
    uint64_t m = micros < 0 ? (uint64_t)0 - (uint64_t)micros : (uint64_t)micros;
    put_digits(end, m % 1000000u, 6);
    p -= 6;
    *--p = '.';
    uint64_t whole = m / 1000000u;
    do {
        *--p = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole > 0);
    if (micros < 0)
        *--p = '-';
    size_t n = (size_t)(end - p);
    if (len == 0)
        return;
    if (n >= len) /* cut, as snprintf would */
        n = len - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
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
