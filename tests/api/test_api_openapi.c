/*
 * GET /api/v1/openapi.json and the route table describe the same API: every
 * route is in the document with its method, every operation of the document is a
 * route, and every {param} of a path is declared as a path parameter.
 */
#include "api_test.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"

static int setup(void **state)
{
    static tia_api_fixture f;
    tia_api_start(&f, NULL);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    tia_api_stop(*state);
    return 0;
}

static void lower(const char *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in[i] && i + 1 < len; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

static json_t *fetch(tia_api_fixture *f)
{
    tia_http_resp r;
    tia_http_opts o = {.token = ""}; /* the document is public */
    tia_http(f, "GET", "/api/v1/openapi.json", NULL, &o, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_non_null(r.json);
    json_t *doc = json_incref(r.json);
    tia_http_resp_free(&r);
    const char *v = tia_json_str(doc, "openapi");
    assert_non_null(v);
    assert_true(strncmp(v, "3.", 2) == 0);
    return doc;
}

static void test_every_route_is_documented(void **state)
{
    json_t *doc = fetch(*state);
    json_t *paths = json_object_get(doc, "paths");
    size_t n;
    const tia__route *routes = tia__routes(&n);
    assert_true(n > 40);
    for (size_t i = 0; i < n; i++) {
        char m[16];
        lower(routes[i].method, m, sizeof m);
        json_t *item = json_object_get(paths, routes[i].pattern);
        if (item == NULL || json_object_get(item, m) == NULL)
            fail_msg("route %s %s is not in the OpenAPI document", routes[i].method,
                     routes[i].pattern);
    }
    json_decref(doc);
}

static void test_every_operation_is_a_route(void **state)
{
    json_t *doc = fetch(*state);
    json_t *paths = json_object_get(doc, "paths");
    size_t n, ops = 0;
    const tia__route *routes = tia__routes(&n);
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item)
    {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op)
        {
            int found = 0;
            for (size_t i = 0; i < n && !found; i++) {
                char m[16];
                lower(routes[i].method, m, sizeof m);
                found = strcmp(m, method) == 0 && strcmp(routes[i].pattern, path) == 0;
            }
            if (!found)
                fail_msg("the document has %s %s, which is no route", method, path);
            if (json_object_size(json_object_get(op, "responses")) == 0)
                fail_msg("%s %s documents no response", method, path);
            ops++;
        }
    }
    assert_int_equal(ops, n);
    json_decref(doc);
}

static void test_path_parameters_declared(void **state)
{
    json_t *doc = fetch(*state);
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op)
        {
            for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{')) {
                char name[64];
                const char *end = strchr(p, '}');
                assert_non_null(end);
                snprintf(name, sizeof name, "%.*s", (int)(end - p - 1), p + 1);
                int declared = 0;
                size_t i;
                json_t *prm;
                json_array_foreach(json_object_get(op, "parameters"), i, prm)
                {
                    declared |= strcmp(tia_json_str(prm, "name"), name) == 0 &&
                                strcmp(tia_json_str(prm, "in"), "path") == 0;
                }
                if (!declared)
                    fail_msg("%s %s does not declare path parameter %s", method, path, name);
            }
        }
    }
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_is_documented),
        cmocka_unit_test(test_every_operation_is_a_route),
        cmocka_unit_test(test_path_parameters_declared),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
