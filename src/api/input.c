/*
 * Reading a request: query arguments and members of the JSON body, each checked
 * for its type and answered with a message that names it when it is wrong
 * (400 for a malformed query, 422 for a body member of the wrong type or
 * missing). Values are only borrowed from the request; the library checks the
 * rest (lengths, formats, references) and its refusals become 422 or 404.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/uuid.h"

const char *tia__query(tia__call *c, const char *name)
{
    return tia__value(c, MHD_GET_ARGUMENT_KIND, name);
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int tia__query_limit(tia__call *c, size_t dflt, size_t max, size_t *out)
{
    const char *v = tia__query(c, "limit");
    uint64_t n;
    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    if (parse_u64(v, &n) != 0 || n < 1 || n > max) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "limit must be an integer in 1..%zu",
                  max);
        return -1;
    }
    *out = (size_t)n;
    return 0;
}

int tia__query_run_status(tia__call *c, const char *name, int *present, int *out)
{
    const char *v = tia__query(c, name);
    tia_run_status st;
    *present = v != NULL;
    if (v == NULL)
        return 0;
    if (tia_run_status_parse(v, &st) != 0) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request",
                  "%s must be one of pending, running, completed, failed, cancelled", name);
        return -1;
    }
    *out = (int)st;
    return 0;
}

int tia__query_duration(tia__call *c, const char *name, int64_t dflt, int64_t *out)
{
    const char *v = tia__query(c, name);
    *out = dflt;
    if (v == NULL)
        return 0;
    if (tia_duration_parse(v, out) != 0) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request",
                  "%s must be a duration such as 24h, 30m or 7d", name);
        return -1;
    }
    return 0;
}

int tia__query_time(tia__call *c, const char *name, int64_t dflt, int64_t *out)
{
    const char *v = tia__query(c, name);
    *out = dflt;
    if (v == NULL)
        return 0;
    if (tia_time_parse(v, out) != 0) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request",
                  "%s must be an RFC 3339 time such as 2026-01-31T12:00:00Z", name);
        return -1;
    }
    return 0;
}

/* ---- body ---- */

static json_t *member(tia__call *c, json_t *obj, const char *where, const char *key,
                      int required, int *err)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    *err = 0;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s%s is required",
                      where ? where : "", key);
            *err = 1;
        }
        return NULL;
    }
    return v;
}

int tia__obj_str(tia__call *c, json_t *obj, const char *where, const char *key, int required,
                 const char **out)
{
    int e;
    json_t *v = member(c, obj, where, key, required, &e);
    *out = NULL;
    if (e)
        return -1;
    if (v == NULL)
        return 0;
    if (!json_is_string(v)) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s%s must be a string",
                  where ? where : "", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int tia__body_str(tia__call *c, const char *key, int required, const char **out)
{
    return tia__obj_str(c, c->body, NULL, key, required, out);
}

int tia__body_int(tia__call *c, const char *key, int required, int64_t dflt, int64_t *out)
{
    int e;
    json_t *v = member(c, c->body, NULL, key, required, &e);
    *out = dflt;
    if (e)
        return -1;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v)) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s must be an integer", key);
        return -1;
    }
    *out = (int64_t)json_integer_value(v);
    return 0;
}

int tia__body_number(tia__call *c, const char *key, int required, double dflt, double *out)
{
    int e;
    json_t *v = member(c, c->body, NULL, key, required, &e);
    *out = dflt;
    if (e)
        return -1;
    if (v == NULL)
        return 0;
    if (!json_is_number(v)) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s must be a number", key);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

int tia__body_cost(tia__call *c, const char *key, int required, int64_t dflt, int64_t *out)
{
    int e;
    json_t *v = member(c, c->body, NULL, key, required, &e);
    *out = dflt;
    if (e)
        return -1;
    if (v == NULL)
        return 0;
    if (json_is_string(v)) {
        if (tia_cost_parse(json_string_value(v), out) == 0)
            return 0;
    } else if (json_is_number(v)) {
        double d = json_number_value(v);
        if (isfinite(d) && d >= 0 && d * 1e6 <= (double)TIA_COST_MAX_MICROS) {
            *out = (int64_t)llround(d * 1e6);
            return 0;
        }
    }
    tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
              "%s must be a dollar amount such as 0.015 (at most 6 decimals, not negative)", key);
    return -1;
}

int tia__body_json_text(tia__call *c, const char *key, char **out)
{
    json_t *v = c->body ? json_object_get(c->body, key) : NULL;
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    *out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (*out == NULL) {
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return -1;
    }
    return 0;
}

int tia__body_strv(tia__call *c, const char *key, int required, const char ***out, size_t *n)
{
    int e;
    json_t *v = member(c, c->body, NULL, key, required, &e);
    *out = NULL;
    *n = 0;
    if (e)
        return -1;
    if (v == NULL)
        return 0;
    if (!json_is_array(v)) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s must be an array of strings",
                  key);
        return -1;
    }
    size_t len = json_array_size(v);
    const char **arr = calloc(len ? len : 1, sizeof *arr);
    if (arr == NULL) {
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) {
            free(arr);
            tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                      "%s[%zu] must be a string", key, i);
            return -1;
        }
        arr[i] = json_string_value(s);
    }
    *out = arr;
    *n = len;
    return 0;
}

int tia__body_only(tia__call *c, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(c->body, key, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok) {
            tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "unknown member '%.64s'", key);
            return -1;
        }
    }
    return 0;
}

int tia__param_uuid(tia__call *c, size_t i, const char **out)
{
    *out = i < c->n_params ? c->param[i] : NULL;
    if (*out == NULL || !tia__uuid_valid(*out)) {
        tia__fail(c, MHD_HTTP_NOT_FOUND, "not_found", "no such id: %.64s", *out ? *out : "");
        return -1;
    }
    return 0;
}
