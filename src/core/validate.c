/*
 * Input validation. UTF-8 is checked and counted here because PostgreSQL refuses
 * invalid UTF-8 and counts VARCHAR lengths in characters, and SQLite must behave
 * the same; JSON is parsed with jansson; addresses with inet_pton.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <tokyoia/types.h>

#include "core/uuid.h"
#include "core/validate.h"

long tia__utf8_chars(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;
    long n = 0;
    while (p < end) {
        unsigned c = *p;
        int extra;
        uint32_t cp;
        if (c < 0x80) {
            p++;
            n++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return -1;
        }
        if (end - p <= extra)
            return -1;
        for (int i = 1; i <= extra; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        p += extra + 1;
        n++;
    }
    return n;
}

void tia__utf8_repair(char *s)
{
    size_t len = strlen(s), i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80             ? 1
                   : (c & 0xe0) == 0xc0 ? 2
                   : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4
                                        : 0;
        if (k == 1 || (k > 1 && i + k <= len && tia__utf8_chars(s + i, k) == 1)) {
            i += k;
            continue;
        }
        if (k > 1 && i + k > len) {
            /* Cut short at the end, if what follows the lead byte is all continuation. */
            size_t j = i + 1;
            while (j < len && ((unsigned char)s[j] & 0xc0) == 0x80)
                j++;
            if (j == len) {
                s[i] = '\0';
                return;
            }
        }
        s[i++] = '?';
    }
}

int tia__check_text(tia_error *err, const char *field, const char *v, size_t max_chars,
                    int required)
{
    if (v == NULL) {
        if (required)
            return tia_error_set(err, TIA_EINVAL, "%s is required", field);
        return 0;
    }
    size_t len = strlen(v);
    if (required && len == 0)
        return tia_error_set(err, TIA_EINVAL, "%s must not be empty", field);
    if (len > TIA_TEXT_MAX)
        return tia_error_set(err, TIA_EINVAL, "%s is too long (%zu bytes, at most %d)", field, len,
                             TIA_TEXT_MAX);
    long chars = tia__utf8_chars(v, len);
    if (chars < 0)
        return tia_error_set(err, TIA_EINVAL, "%s is not valid UTF-8", field);
    if (max_chars > 0 && (size_t)chars > max_chars)
        return tia_error_set(err, TIA_EINVAL, "%s is too long (%ld characters, at most %zu)",
                             field, chars, max_chars);
    return 0;
}

/*
 * Nesting depth of v (a scalar 0, a container one more than its deepest member):
 * exact up to stop, and some value above stop for anything deeper, so that a
 * hostile value is not walked further than the answer needs.
 */
static size_t json_depth(json_t *v, size_t stop)
{
    size_t deepest = 0, d;
    if (!json_is_array(v) && !json_is_object(v))
        return 0;
    if (stop == 0)
        return 1;
    if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) if ((d = json_depth(m, stop - 1)) > deepest) deepest = d;
    } else {
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m) if ((d = json_depth(m, stop - 1)) > deepest) deepest = d;
    }
    return deepest + 1;
}

int tia__check_json(tia_error *err, const char *field, const char *v, int required)
{
    if (v == NULL) {
        if (required)
            return tia_error_set(err, TIA_EINVAL, "%s is required", field);
        return 0;
    }
    size_t len = strlen(v);
    if (len > TIA_TEXT_MAX)
        return tia_error_set(err, TIA_EINVAL, "%s is too long (%zu bytes, at most %d)", field, len,
                             TIA_TEXT_MAX);
    json_error_t je;
    json_t *doc = json_loadb(v, len, JSON_DECODE_ANY, &je);
    if (doc == NULL)
        return tia_error_set(err, TIA_EINVAL, "%s is not valid JSON: %s (at position %d)", field,
                             je.text, je.position);
    size_t depth = json_depth(doc, TIA_JSON_DEPTH_MAX);
    json_decref(doc);
    if (depth > TIA_JSON_DEPTH_MAX)
        return tia_error_set(err, TIA_EINVAL, "%s is nested too deeply (more than %d levels)",
                             field, TIA_JSON_DEPTH_MAX);
    return 0;
}

int tia__check_uuid(tia_error *err, const char *field, const char *v, int required,
                    char out[37])
{
    if (v == NULL) {
        if (required)
            return tia_error_set(err, TIA_EINVAL, "%s is required", field);
        if (out != NULL)
            out[0] = '\0';
        return 0;
    }
    if (!tia__uuid_valid(v))
        return tia_error_set(err, TIA_EINVAL, "%s is not a UUID: '%.40s'", field, v);
    if (out != NULL)
        tia__uuid_lower(v, out);
    return 0;
}

int tia__check_inet(tia_error *err, const char *field, const char *v, char out[64])
{
    char addr[64];
    size_t len = strlen(v);
    const char *slash = strchr(v, '/');
    size_t alen = slash ? (size_t)(slash - v) : len;
    if (alen == 0 || alen >= sizeof addr)
        goto bad;
    memcpy(addr, v, alen);
    addr[alen] = '\0';
    unsigned char bin[16];
    int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, addr, bin) != 1)
        goto bad;
    int maxbits = family == AF_INET6 ? 128 : 32;
    long prefix = maxbits;
    if (slash != NULL) {
        char *end = NULL;
        if (slash[1] < '0' || slash[1] > '9')
            goto bad;
        prefix = strtol(slash + 1, &end, 10);
        if (*end != '\0' || prefix < 0 || prefix > maxbits)
            goto bad;
    }
    char canon[INET6_ADDRSTRLEN];
    if (inet_ntop(family, bin, canon, sizeof canon) == NULL)
        goto bad;
    /* PostgreSQL's inet prints the prefix only when it is not the full width. */
    if (prefix == maxbits)
        snprintf(out, 64, "%s", canon);
    else
        snprintf(out, 64, "%s/%ld", canon, prefix);
    return 0;
bad:
    return tia_error_set(err, TIA_EINVAL, "%s is not an IP address: '%.60s'", field, v);
}

int tia__check_finite(tia_error *err, const char *field, double v)
{
    if (!isfinite(v))
        return tia_error_set(err, TIA_EINVAL, "%s must be a finite number", field);
    return 0;
}

int tia__check_range(tia_error *err, const char *field, int64_t v, int64_t max)
{
    if (v < 0)
        return tia_error_set(err, TIA_EINVAL, "%s must not be negative", field);
    if (v > max)
        return tia_error_set(err, TIA_EINVAL, "%s is too large", field);
    return 0;
}

int tia__check_limit(tia_error *err, size_t limit, size_t *out)
{
    if (limit == 0) {
        *out = 50;
        return 0;
    }
    if (limit > TIA_PAGE_MAX)
        return tia_error_set(err, TIA_EINVAL, "limit must be between 1 and %d", TIA_PAGE_MAX);
    *out = limit;
    return 0;
}
