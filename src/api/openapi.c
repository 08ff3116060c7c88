/*
 * GET /api/v1/openapi.json: the OpenAPI 3 document of every route
 * (docs/openapi.json, embedded at build time). A test checks that its paths and
 * methods and the route table are the same set, both ways.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

extern const char tia__openapi_json[];
extern const size_t tia__openapi_json_len;

static void openapi(tia__call *c)
{
    json_error_t jerr;
    json_t *doc = json_loadb(tia__openapi_json, tia__openapi_json_len, 0, &jerr);
    if (doc == NULL) {
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "the embedded document is broken");
        return;
    }
    tia__reply(c, MHD_HTTP_OK, doc);
}

static const tia__route routes[] = {
    {"GET", "/api/v1/openapi.json", openapi, TIA__R_OPEN, "This API's OpenAPI 3 document"},
};

const tia__route_table tia__routes_openapi = {routes, sizeof routes / sizeof routes[0]};
