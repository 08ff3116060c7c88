/*
 * The one printer of every command's result. Results arrive as jansson values so
 * that --json prints them unchanged as one document; otherwise the same values
 * become an aligned table on a terminal (widths in display columns, so that the
 * agents' emoji and CJK names line up) or tab-separated lines with a header for
 * scripts, with tabs, newlines and backslashes escaped as in PostgreSQL's COPY.
 */
#define _XOPEN_SOURCE 700 /* wcwidth */
#include <inttypes.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include <tokyoia/types.h>

#include "cli/cli.h"

#define JSON_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(15) | JSON_PRESERVE_ORDER)

/* ---- display width ---- */

static uint32_t utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c = s[0];
    int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (extra)
        c &= 0x3F >> extra;
    (*p)++;
    for (int i = 0; i < extra && (**p & 0xC0) == 0x80; i++)
        c = (c << 6) | (*(*p)++ & 0x3F);
    return c;
}

/*
 * Display columns of one code point, as the C library's Unicode tables give them
 * (wcwidth in the C.UTF-8 locale, set for this thread only while measuring):
 * 2 for wide and emoji characters, 0 for combining marks and joiners. A code
 * point it does not know (or with no UTF-8 locale at all) counts as 1.
 */
static int cp_width(uint32_t c, locale_t utf8)
{
    if (utf8 == (locale_t)0)
        return 1;
    int w = wcwidth((wchar_t)c);
    return w < 0 ? 1 : w;
}

size_t tia_cli_display_width(const char *s)
{
    static locale_t utf8 = (locale_t)0;
    static int tried;
    if (!tried) { /* the CLI measures on its main thread only */
        utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
        tried = 1;
    }
    locale_t was = utf8 != (locale_t)0 ? uselocale(utf8) : (locale_t)0;
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int cw = cp_width(utf8_next(&p), utf8);
        /* A text character turned emoji by VS16 (❄️) takes two columns. */
        if (cw == 1 && p[0] == 0xEF && p[1] == 0xB8 && p[2] == 0x8F)
            cw = 2;
        w += (size_t)cw;
    }
    if (was != (locale_t)0)
        uselocale(was);
    return w;
}

/* ---- cells ---- */

/*
 * Copies s with \t, \n, \r and \ escaped, and every other control character
 * (C0, DEL, and C1 as UTF-8) as \xNN or \u00NN, so that a value cannot drive
 * the terminal (clear it, recolour it, move the cursor): names and task texts
 * also arrive through the API. malloc'd.
 */
static char *escape(const char *s)
{
    char *out = malloc(strlen(s) * 4 + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *e = *p == '\t'   ? "\\t"
                        : *p == '\n' ? "\\n"
                        : *p == '\r' ? "\\r"
                        : *p == '\\' ? "\\\\"
                                     : NULL;
        if (e) {
            memcpy(o, e, 2);
            o += 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            o += sprintf(o, "\\x%02x", *p);
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            o += sprintf(o, "\\u%04x", p[1]); /* 6 bytes for 2: within 4 per byte */
            p++;
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    return out;
}

static int all_strings(const json_t *arr)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (!json_is_string(v)) return 0;
    return 1;
}

/* A JSON array of strings as "a,b,c", escaped. */
static char *join_strings(const json_t *arr)
{
    size_t len = 1, i;
    json_t *s;
    json_array_foreach(arr, i, s) len += strlen(json_string_value(s)) + 1;
    char *buf = malloc(len);
    if (buf == NULL)
        return NULL;
    buf[0] = '\0';
    json_array_foreach(arr, i, s)
    {
        if (i)
            strcat(buf, ",");
        strcat(buf, json_string_value(s));
    }
    char *out = escape(buf);
    free(buf);
    return out;
}

/* The text of one value in a cell; malloc'd, NULL when out of memory. */
static char *cell_text(const json_t *v)
{
    char buf[64];
    if (v == NULL || json_is_null(v))
        return strdup("");
    if (json_is_string(v))
        return escape(json_string_value(v));
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strdup(buf);
    }
    if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%.10g", json_real_value(v));
        return strdup(buf);
    }
    if (json_is_boolean(v))
        return strdup(json_is_true(v) ? "true" : "false");
    if (json_is_array(v) && all_strings(v))
        return join_strings(v);
    char *dump = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *out = dump ? escape(dump) : NULL;
    free(dump);
    return out;
}

/* ---- tables ---- */

typedef struct table {
    size_t ncol, nrow;
    const char *const *header;
    char **cells; /* nrow * ncol */
    int *right;   /* per column: numbers align right */
} table;

static void table_free(table *t)
{
    for (size_t i = 0; t->cells && i < t->nrow * t->ncol; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->right);
}

static void pad(size_t n)
{
    for (size_t i = 0; i < n; i++)
        putchar(' ');
}

static void print_row(const table *t, const char *const *row, const size_t *width)
{
    for (size_t c = 0; c < t->ncol; c++) {
        size_t gap = width[c] - tia_cli_display_width(row[c]);
        int last = c + 1 == t->ncol;
        if (t->right[c])
            pad(gap);
        fputs(row[c], stdout);
        if (!last && !t->right[c])
            pad(gap);
        if (!last)
            fputs("  ", stdout);
    }
    putchar('\n');
}

static void print_aligned(const table *t)
{
    size_t *width = calloc(t->ncol ? t->ncol : 1, sizeof *width);
    if (width == NULL)
        return;
    for (size_t c = 0; c < t->ncol; c++) {
        width[c] = tia_cli_display_width(t->header[c]);
        for (size_t r = 0; r < t->nrow; r++) {
            size_t w = tia_cli_display_width(t->cells[r * t->ncol + c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    print_row(t, t->header, width);
    for (size_t c = 0; c < t->ncol; c++) {
        for (size_t i = 0; i < width[c]; i++)
            putchar('-');
        fputs(c + 1 == t->ncol ? "\n" : "  ", stdout);
    }
    for (size_t r = 0; r < t->nrow; r++)
        print_row(t, (const char *const *)&t->cells[r * t->ncol], width);
    if (t->nrow == 0)
        puts("(none)");
    free(width);
}

static void print_tsv_row(const char *const *row, size_t ncol)
{
    for (size_t c = 0; c < ncol; c++)
        printf("%s%s", row[c], c + 1 == ncol ? "\n" : "\t");
}

static void print_table(const table *t)
{
    if (isatty(STDOUT_FILENO)) {
        print_aligned(t);
        return;
    }
    print_tsv_row(t->header, t->ncol);
    for (size_t r = 0; r < t->nrow; r++)
        print_tsv_row((const char *const *)&t->cells[r * t->ncol], t->ncol);
}

/* A string holding a decimal such as a cost ("0.063000") aligns like a number. */
static int is_decimal(const json_t *v)
{
    const char *s = json_string_value(v);
    if (s == NULL || *s == '\0')
        return 0;
    s += *s == '-';
    size_t digits = strspn(s, "0123456789");
    if (digits == 0)
        return 0;
    s += digits;
    return *s == '\0' || (*s == '.' && s[1] && s[1 + strspn(s + 1, "0123456789")] == '\0');
}

/* Fills t from an array of objects; 0 or -1 when out of memory. */
static int table_from(table *t, const json_t *arr, tia_cli_cols cols)
{
    t->ncol = cols.n;
    t->nrow = json_array_size(arr);
    t->header = cols.names;
    t->cells = calloc(t->nrow * t->ncol + 1, sizeof *t->cells);
    t->right = calloc(t->ncol + 1, sizeof *t->right);
    if (t->cells == NULL || t->right == NULL)
        return -1;
    for (size_t c = 0; c < t->ncol; c++) {
        int numeric = t->nrow > 0;
        for (size_t r = 0; r < t->nrow; r++) {
            const json_t *v = json_object_get(json_array_get(arr, r), cols.names[c]);
            numeric &= v == NULL || json_is_null(v) || json_is_number(v) || is_decimal(v);
            if ((t->cells[r * t->ncol + c] = cell_text(v)) == NULL)
                return -1;
        }
        t->right[c] = numeric;
    }
    return 0;
}

static int print_rows(const json_t *arr, tia_cli_cols cols)
{
    table t = {0};
    int rc = table_from(&t, arr, cols) == 0 ? 0 : tia_cli_oom();
    if (rc == 0)
        print_table(&t);
    table_free(&t);
    return rc;
}

static int print_json(json_t *v)
{
    char *text = json_dumps(v, JSON_FLAGS | JSON_ENCODE_ANY);
    if (text == NULL)
        return tia_cli_oom();
    puts(text);
    free(text);
    return 0;
}

int tia_cli_print_list(const tia_cli_opts *opts, json_t *arr, tia_cli_cols cols)
{
    if (arr == NULL)
        return tia_cli_oom();
    int rc = opts->json ? print_json(arr) : print_rows(arr, cols);
    json_decref(arr);
    return fflush(stdout) == 0 ? rc : TIA_EXIT_ERROR;
}

static int is_nested(const char *key, const tia_cli_nested *nested, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(nested[i].key, key) == 0)
            return 1;
    return 0;
}

/* "field value" rows of the members that are not nested tables. */
static int print_fields(const json_t *obj, const tia_cli_nested *nested, size_t n_nested)
{
    static const char *const kv[] = {"field", "value"};
    json_t *rows = json_array();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (!is_nested(key, nested, n_nested))
            json_array_append_new(rows, json_pack("{s:s,s:O}", "field", key, "value", v));
    }
    int rc = print_rows(rows, TIA_CLI_COLS(kv));
    json_decref(rows);
    return rc;
}

int tia_cli_print_object(const tia_cli_opts *opts, json_t *obj, const tia_cli_nested *nested,
                         size_t n_nested)
{
    if (obj == NULL)
        return tia_cli_oom();
    int rc = opts->json ? print_json(obj) : print_fields(obj, nested, n_nested);
    for (size_t i = 0; !opts->json && rc == 0 && i < n_nested; i++) {
        json_t *arr = json_object_get(obj, nested[i].key);
        printf("\n");
        if (isatty(STDOUT_FILENO))
            printf("%s (%zu):\n", nested[i].key, json_array_size(arr));
        rc = print_rows(arr, *nested[i].cols);
    }
    json_decref(obj);
    return fflush(stdout) == 0 ? rc : TIA_EXIT_ERROR;
}

void tia_cli_say(const tia_cli_opts *opts, const char *fmt, ...)
{
    if (opts->json)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

