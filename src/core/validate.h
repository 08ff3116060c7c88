/*
 * Input checks shared by every store module. Each returns 0, or sets err to
 * TIA_EINVAL with a message naming the field and returns TIA_EINVAL, so that bad
 * input is refused before anything is written, with the same words on both
 * backends.
 */
#ifndef TIA_CORE_VALIDATE_H
#define TIA_CORE_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include <tokyoia/error.h>

/* Number of characters in valid UTF-8 s, or -1 when s is not valid UTF-8. */
long tia__utf8_chars(const char *s, size_t len);

/*
 * Makes the NUL-terminated s valid UTF-8 in place: a character cut short at the
 * end (a message cut to fit its buffer) is dropped, and any other byte that does
 * not start a valid character becomes '?'. Valid text is left as it is.
 */
void tia__utf8_repair(char *s);

/*
 * A text value: required means NULL is refused; max_chars 0 means no column limit
 * (TIA_TEXT_MAX bytes still applies). Empty strings are refused for required
 * fields too.
 */
int tia__check_text(tia_error *err, const char *field, const char *v, size_t max_chars,
                    int required);

/* A JSON document of any type; NULL passes unless required. */
int tia__check_json(tia_error *err, const char *field, const char *v, int required);

/* A UUID: NULL passes unless required; out (may be NULL) gets it lowercased. */
int tia__check_uuid(tia_error *err, const char *field, const char *v, int required,
                    char out[37]);

/* An IPv4/IPv6 address with an optional /prefix, canonicalised into out (64 bytes). */
int tia__check_inet(tia_error *err, const char *field, const char *v, char out[64]);

/* Finite double. */
int tia__check_finite(tia_error *err, const char *field, double v);

/* 0 <= v <= max. */
int tia__check_range(tia_error *err, const char *field, int64_t v, int64_t max);

/* limit 0 -> 50; 1..TIA_PAGE_MAX kept; anything else refused. */
int tia__check_limit(tia_error *err, size_t limit, size_t *out);

#endif
