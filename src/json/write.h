/*
 * JSON text written straight into one growing buffer, for the API's long answers
 * (lists of tasks, a workflow with its tasks and interactions). Building a jansson
 * tree for them cost most of a request's CPU: an object and a hash table per
 * record, a malloc per member and per key, and a json_loads of every JSON column
 * only to print it again. The writer appends the structure (literal keys, commas,
 * brackets) and the values: text through jansson's own string encoder unless it
 * is plain printable ASCII, numbers as jansson prints them, and JSON columns as the
 * database stored them (both backends keep only valid JSON there: jsonb, and
 * SQLite's json_valid CHECKs) unless they hold a control byte, which jansson then
 * re-encodes.
 *
 * Usage: tia__jw w = {0}; tia__jw_obj(&w); tia__jw_key(&w, "id"); tia__jw_str(&w, id);
 * ...; tia__jw_end_obj(&w); text = tia__jw_take(&w, &len) (NULL when out of memory,
 * which every call records instead of returning). Keys must be literals of plain
 * ASCII: they are written as they are.
 */
#ifndef TIA_JSON_WRITE_H
#define TIA_JSON_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <tokyoia/types.h>

typedef struct tia__jw {
    char *p;
    size_t len, cap;
    int oom;   /* an allocation failed: the text is lost, tia__jw_take gives NULL */
    int comma; /* the next member or element needs a comma before it */
} tia__jw;

void tia__jw_obj(tia__jw *w);     /* { */
void tia__jw_end_obj(tia__jw *w); /* } */
void tia__jw_arr(tia__jw *w);     /* [ */
void tia__jw_end_arr(tia__jw *w); /* ] */
/* A member's name (a literal, see above), with the comma before it when needed. */
void tia__jw_key(tia__jw *w, const char *key);
/* The same with the name's length given (a table's keys, measured at compile time). */
void tia__jw_keyn(tia__jw *w, const char *key, size_t n);

/* Values: as members (after tia__jw_key) or as array elements. */
void tia__jw_null(tia__jw *w);
void tia__jw_str(tia__jw *w, const char *v); /* NULL, or text that is not UTF-8: null */
void tia__jw_int(tia__jw *w, int64_t v);
/* As jansson prints json_real(v) with TIA__JSON_DUMP_FLAGS; NaN and infinities: null. */
void tia__jw_real(tia__jw *w, double v);
void tia__jw_time(tia__jw *w, tia_time_us t); /* TIA_TIME_NONE: null */
void tia__jw_cost(tia__jw *w, int64_t micros);
void tia__jw_rawjson(tia__jw *w, const char *json_text); /* a stored JSON column; NULL: null */
/* Any jansson value (steals the reference), printed as the API prints its trees. */
void tia__jw_value(tia__jw *w, json_t *v);

/*
 * The text written, with a '\n' after it and a NUL, malloc'd and handed to the
 * caller (*len excludes the NUL); NULL when out of memory. w is empty afterwards.
 */
char *tia__jw_take(tia__jw *w, size_t *len);
/* Frees what w holds (after an error, instead of tia__jw_take). */
void tia__jw_free(tia__jw *w);

/* The flags the API prints jansson trees with, for the text to match. */
#define TIA__JSON_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

#endif
