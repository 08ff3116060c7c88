/*
 * Parsing of RFC 3339 / ISO-8601 timestamps ("2026-01-31", "2026-01-31T12:00:00.5Z",
 * "...+09:00") into microseconds since the epoch, for the CLI's options and the
 * API's query arguments.
 */
#include <stdint.h>
#include <time.h>

#include <tokyoia/error.h>
#include <tokyoia/types.h>

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z in seconds since the epoch. */
#define FIRST_S INT64_C(-62135596800)
#define LAST_S INT64_C(253402300799)

/* Reads exactly n digits at *p. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Optional ":SS" and ".ffffff" after HH:MM. */
static int parse_seconds(const char **p, struct tm *tm, int64_t *us)
{
    if (**p != ':')
        return 0;
    (*p)++;
    if (digits(p, 2, &tm->tm_sec) != 0 || tm->tm_sec > 60)
        return -1;
    if (**p != '.')
        return 0;
    (*p)++;
    int64_t scale = 100000;
    if (**p < '0' || **p > '9')
        return -1;
    for (; **p >= '0' && **p <= '9'; (*p)++, scale /= 10)
        *us += (**p - '0') * scale;
    return 0;
}

/* "Z", "+HH:MM", "+HHMM", "-HH:MM" or nothing (UTC); *off in seconds east. */
static int parse_zone(const char *p, int64_t *off)
{
    *off = 0;
    if (*p == '\0' || ((*p == 'Z' || *p == 'z') && p[1] == '\0'))
        return 0;
    if (*p != '+' && *p != '-')
        return -1;
    int sign = *p++ == '-' ? -1 : 1, hh, mm;
    if (digits(&p, 2, &hh) != 0 || hh > 23)
        return -1;
    if (*p == ':')
        p++;
    if (digits(&p, 2, &mm) != 0 || mm > 59 || *p != '\0')
        return -1;
    *off = sign * (hh * 3600 + mm * 60);
    return 0;
}

/* Days in month (1..12) of a proleptic Gregorian year. */
static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[month - 1] + (month == 2 && leap);
}

int tia_time_parse(const char *text, tia_time_us *out)
{
    struct tm tm = {0};
    int64_t us = 0, off = 0;
    const char *p = text;
    if (digits(&p, 4, &tm.tm_year) != 0 || *p++ != '-' || digits(&p, 2, &tm.tm_mon) != 0 ||
        *p++ != '-' || digits(&p, 2, &tm.tm_mday) != 0)
        return TIA_EINVAL;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > days_in_month(tm.tm_year, tm.tm_mon))
        return TIA_EINVAL; /* timegm would carry 2026-02-31 into March 3 */
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &tm.tm_hour) != 0 || tm.tm_hour > 23 || *p++ != ':' ||
            digits(&p, 2, &tm.tm_min) != 0 || tm.tm_min > 59 || parse_seconds(&p, &tm, &us) != 0)
            return TIA_EINVAL;
    }
    if (parse_zone(p, &off) != 0)
        return TIA_EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t sec = (int64_t)timegm(&tm) - off;
    /*
     * RFC 3339 writes four-digit years: a time an offset pushes out of years
     * 0001..9999 could not be written back (tia_time_format) as one we read.
     */
    if (sec < FIRST_S || sec > LAST_S)
        return TIA_EINVAL;
    *out = sec * 1000000 + us;
    return 0;
}
