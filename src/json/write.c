/*
 * The JSON text writer (see write.h): appends to one buffer that doubles as it
 * grows. What needs JSON's encoding rules (escaping text, printing reals) goes
 * through jansson; the writer only decides where the commas and brackets go.
 */
#include "json/write.h"

#include "core/validate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JW_MIN_CAP 4096

/* Room for n more bytes (and a '\n' and a NUL at the end, for tia__jw_take). */
static int reserve(tia__jw *w, size_t n)
{
    if (w->oom)
        return -1;
    if (w->len + n + 2 <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : JW_MIN_CAP;
    while (cap < w->len + n + 2) {
        if (cap > SIZE_MAX / 2)
            goto fail;
        cap *= 2;
    }
    char *p = realloc(w->p, cap);
    if (p == NULL)
        goto fail;
    w->p = p;
    w->cap = cap;
    return 0;
fail:
    w->oom = 1;
    return -1;
}

static void put(tia__jw *w, const char *s, size_t n)
{
    if (reserve(w, n) == 0) {
        memcpy(w->p + w->len, s, n);
        w->len += n;
    }
}

static void put_char(tia__jw *w, char ch)
{
    if (reserve(w, 1) == 0)
        w->p[w->len++] = ch;
}

/*
 * Starts a value or a member: a comma first when something came before it in
 * its container. A value or container written sets w->comma; opening a container
 * and writing a member's name clear it.
 */
static void value(tia__jw *w)
{
    if (w->comma)
        put_char(w, ',');
    w->comma = 1;
}

static void open_container(tia__jw *w, char bracket)
{
    value(w);
    put_char(w, bracket);
    w->comma = 0;
}

static void close_container(tia__jw *w, char bracket)
{
    put_char(w, bracket);
    w->comma = 1;
}

void tia__jw_obj(tia__jw *w)
{
    open_container(w, '{');
}

void tia__jw_end_obj(tia__jw *w)
{
    close_container(w, '}');
}

void tia__jw_arr(tia__jw *w)
{
    open_container(w, '[');
}

void tia__jw_end_arr(tia__jw *w)
{
    close_container(w, ']');
}

void tia__jw_keyn(tia__jw *w, const char *key, size_t n)
{
    /* One reservation for the comma, the quotes, the name and the colon. */
    if (reserve(w, n + 4) != 0)
        return;
    char *p = w->p + w->len;
    if (w->comma)
        *p++ = ',';
    *p++ = '"';
    memcpy(p, key, n);
    p += n;
    *p++ = '"';
    *p++ = ':';
    w->len = (size_t)(p - w->p);
    w->comma = 0; /* the member's value follows without one */
}

void tia__jw_key(tia__jw *w, const char *key)
{
    tia__jw_keyn(w, key, strlen(key));
}

void tia__jw_null(tia__jw *w)
{
    value(w);
    put(w, "null", 4);
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    tia__jw *w = data;
    put(w, buf, size);
    return w->oom ? -1 : 0;
}

/* jansson prints v (and drops the reference); NULL (refused text, no memory): null. */
static void dump(tia__jw *w, json_t *v)
{
    if (v == NULL) {
        put(w, "null", 4);
        return;
    }
    if (json_dump_callback(v, dump_cb, w, TIA__JSON_DUMP_FLAGS) != 0)
        w->oom = 1;
    json_decref(v);
}

/* 1 for the bytes JSON's encoding would change or that need a check: controls,
   '"', '\\', DEL and every byte of a multi-byte UTF-8 sequence. */
static const unsigned char not_plain[256] = {
    [0 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x7f ... 0xff] = 1,
};

/* Printable ASCII without '"' or '\\': text that JSON's encoding leaves as it is. */
static int plain(const char *s, size_t *len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    for (; u[i]; i++)
        if (not_plain[u[i]])
            return 0;
    *len = i;
    return 1;
}

/* n bytes of plain text (see plain) as a JSON string, with one reservation. */
static void put_quoted(tia__jw *w, const char *v, size_t n)
{
    value(w);
    if (reserve(w, n + 2) != 0)
        return;
    char *p = w->p + w->len;
    *p++ = '"';
    memcpy(p, v, n);
    p[n] = '"';
    w->len += n + 2;
}

void tia__jw_str(tia__jw *w, const char *v)
{
    size_t n;
    if (v == NULL)
        tia__jw_null(w);
    else if (plain(v, &n))
        put_quoted(w, v, n);
    else {
        value(w);
        dump(w, json_string(v)); /* NULL for text that is not UTF-8: null */
    }
}

void tia__jw_int(tia__jw *w, int64_t v)
{
    /* By hand, not snprintf: a task page prints a hundred of them. */
    char buf[24], *end = buf + sizeof buf, *p = end;
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + m % 10);
        m /= 10;
    } while (m > 0);
    if (v < 0)
        *--p = '-';
    value(w);
    put(w, p, (size_t)(end - p));
}

/*
 * A real as jansson prints it with JSON_REAL_PRECISION(15) ("%.15g", then ".0"
 * when the text has neither '.' nor 'e'), without printf's multi-precision
 * digits for the values an answer holds (averages, rates: 1e-4 <= |v| < 1e15).
 * v is scaled by an exact power of ten to r in [1e14, 1e15), one correctly
 * rounded product. Below 2^52 every k + 1/2 is a double and rounding is
 * monotonic, so r is on the same side of each half as the exact product: r's
 * nearest integer is the 15 digits printf would give, unless r is a half
 * exactly (a tie, or a product rounded onto one), which jansson decides.
 * Zero is "0.0" (or "-0.0"), as jansson prints it. Anything else (exponents,
 * NaN and infinities: null) goes to jansson.
 * tests/unit/test_json_write.c compares the two on random values and ties.
 */
static int fast_real(double v, char out[32], size_t *len)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                                 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
    double a = v < 0 ? -v : v;
    if (a == 0) { /* an agent with no task yet: zero durations and rates */
        *len = signbit(v) ? 4 : 3;
        memcpy(out, signbit(v) ? "-0.0" : "0.0", *len);
        return 1;
    }
    if (!(a >= 1e-4 && a < 1e15))
        return 0;
    int e = 14; /* a's decimal exponent: 10^e <= a < 10^(e+1), or one less when a is near 10^e */
    while (e > -4 && a < (e >= 0 ? p10[e] : 1.0 / p10[-e]))
        e--;
    double r = a * p10[14 - e], fl = floor(r), frac = r - fl;
    if (frac == 0.5)
        return 0;
    uint64_t m = (uint64_t)fl + (frac > 0.5);
    if (m < 100000000000000u || m >= 1000000000000000u)
        return 0; /* the exponent was off by one */
    char dg[15];
    for (int i = 14; i >= 0; i--, m /= 10)
        dg[i] = (char)('0' + m % 10);
    int last = 14; /* the last digit printed: trailing zeros of the fraction go */
    while (last > e && last > 0 && dg[last] == '0')
        last--;
    size_t n = 0;
    if (v < 0)
        out[n++] = '-';
    if (e >= 0) {
        memcpy(out + n, dg, (size_t)e + 1);
        n += (size_t)e + 1;
        if (last > e) {
            out[n++] = '.';
            memcpy(out + n, dg + e + 1, (size_t)(last - e));
            n += (size_t)(last - e);
        } else {
            memcpy(out + n, ".0", 2);
            n += 2;
        }
    } else {
        out[n++] = '0';
        out[n++] = '.';
        for (int z = -1; z > e; z--)
            out[n++] = '0';
        memcpy(out + n, dg, (size_t)last + 1);
        n += (size_t)last + 1;
    }
    *len = n;
    return 1;
}

void tia__jw_real(tia__jw *w, double v)
{
    char buf[32];
    size_t n;
    if (!fast_real(v, buf, &n)) {
        tia__jw_value(w, json_real(v)); /* NULL for NaN and infinities: null */
        return;
    }
    value(w);
    put(w, buf, n);
}

void tia__jw_time(tia__jw *w, tia_time_us t)
{
    if (t == TIA_TIME_NONE) {
        tia__jw_null(w);
        return;
    }
    char buf[40];
    tia_time_format(t, buf, sizeof buf);
    put_quoted(w, buf, strlen(buf)); /* digits and "-:.TZ": plain */
}

void tia__jw_cost(tia__jw *w, int64_t micros)
{
    char buf[32];
    tia_cost_format(micros, buf, sizeof buf);
    put_quoted(w, buf, strlen(buf)); /* digits, '-' and '.': plain */
}

void tia__jw_rawjson(tia__jw *w, const char *json_text)
{
    if (json_text == NULL) {
        tia__jw_null(w);
        return;
    }
    size_t n = 0;
    int high = 0, control = 0;
    for (; json_text[n]; n++) {
        unsigned char b = (unsigned char)json_text[n];
        control |= b < 0x20;
        high |= b >= 0x80;
    }
    /*
     * A control byte: layout (a newline, a tab) or, from an older SQLite
     * json_valid, one unescaped inside a string. Bytes that are not UTF-8: SQLite's
     * json_valid does not check the encoding, and a row written by another tool
     * may hold them. jansson re-encodes the first, and shows the others as text,
     * or null when no JSON string can hold them, as the jansson trees do.
     */
    if (control || (high && tia__utf8_chars(json_text, n) < 0)) {
        json_t *v = json_loads(json_text, JSON_DECODE_ANY, NULL);
        value(w);
        dump(w, v ? v : json_string(json_text));
        return;
    }
    value(w);
    put(w, json_text, n);
}

void tia__jw_value(tia__jw *w, json_t *v)
{
    value(w);
    dump(w, v);
}

char *tia__jw_take(tia__jw *w, size_t *len)
{
    char *p = NULL;
    *len = 0;
    if (reserve(w, 0) == 0) { /* also gives an empty writer its buffer */
        w->p[w->len] = '\n';
        w->p[w->len + 1] = '\0';
        *len = w->len + 1;
        p = w->p;
        w->p = NULL;
    }
    tia__jw_free(w);
    return p;
}

void tia__jw_free(tia__jw *w)
{
    free(w->p);
    *w = (tia__jw){0};
}
