/*
 * Fuzz target: how a request's URL is read, without a database: the server's
 * percent-decoding (tia__unescape), the route matcher (src/api/router.c) and
 * the query-argument readers of src/api/input.c (?limit=, ?status=,
 * ?window=, ?since=), the Accept-Encoding parser and the UUID check of path
 * parameters. The input is a request in fuzz_support.h's text form. Besides
 * crashes it checks the matcher's promises: a match has the method asked (or
 * GET for HEAD) and one non-empty, slash-free parameter per {name} of the
 * pattern; a 405 names the allowed methods; a refusal answers 400 or 404.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A call as the server would make it for r (no connection, no server). */
static void call_init(tia__call *c, const tia_fuzz_req *r, const tia__route *route)
{
    memset(c, 0, sizeof *c);
    c->req = &r->req;
    c->method = r->req.method;
    c->path = r->req.path;
    c->route = route;
}

static void call_check(tia__call *c, int rc, int refused_status)
{
    if (rc != 0)
        TIA_FUZZ_CHECK(c->answered && c->status == refused_status && c->reply != NULL,
                       "refused with status %d, wanted %d", c->status, refused_status);
    else
        TIA_FUZZ_CHECK(!c->answered, "accepted and answered %d", c->status);
    json_decref(c->reply);
}

static size_t count_params(const char *pattern)
{
    size_t n = 0;
    for (const char *p = pattern; (p = strchr(p, '{')) != NULL; p++)
        n++;
    return n;
}

/* Routed as the server routes: on the path as sent, up to '?' or '#'. */
static void check_route(const tia_fuzz_req *r, const tia__route **route_out)
{
    char buf[1024], allow[64], target[1024];
    snprintf(target, sizeof target, "%.*s", (int)strcspn(r->req.target, "?#"), r->req.target);
    size_t id = SIZE_MAX, n_params = 0, n_routes;
    const char *params[TIA__PARAMS_MAX];
    const tia__route *routes = tia__routes(&n_routes);
    tia__match m = tia__route_find(r->req.method, target, buf, sizeof buf, &id, params, &n_params,
                                   allow, sizeof allow);
    *route_out = NULL;
    if (m == TIA__MATCH_OK) {
        TIA_FUZZ_CHECK(id < n_routes, "route id %zu of %zu", id, n_routes);
        const tia__route *rt = &routes[id];
        const char *want = strcmp(r->req.method, "HEAD") == 0 ? "GET" : r->req.method;
        TIA_FUZZ_CHECK(strcmp(rt->method, want) == 0, "%s matched a %s route", want, rt->method);
        TIA_FUZZ_CHECK(n_params == count_params(rt->pattern), "%zu params for %s", n_params,
                       rt->pattern);
        for (size_t i = 0; i < n_params; i++)
            TIA_FUZZ_CHECK(params[i][0] != '\0' && strchr(params[i], '/') == NULL,
                           "param %zu '%s' of %s", i, params[i], rt->pattern);
        *route_out = rt;
    } else if (m == TIA__MATCH_METHOD) {
        TIA_FUZZ_CHECK(allow[0] != '\0', "405 without allowed methods");
    } else {
        TIA_FUZZ_CHECK(m == TIA__MATCH_NONE || m == TIA__MATCH_BAD_PATH, "match %d", (int)m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tia_fuzz_req r;
    tia__call c;
    const tia__route *route;

    /* The decoder on the raw text: never longer, never a NUL inside. */
    char *raw = tia_fuzz_cstr(data, size);
    size_t raw_len = strlen(raw);
    size_t n = tia__unescape(raw);
    TIA_FUZZ_CHECK(n <= raw_len && strlen(raw) == n, "unescape gave %zu of %zu", n, raw_len);
    free(raw);

    tia_fuzz_req_parse(data, size, &r);
    check_route(&r, &route);

    size_t limit;
    int present, st;
    int64_t v;
    const char *id;
    call_init(&c, &r, route);
    call_check(&c, tia__query_limit(&c, 50, 1000, &limit), 400);
    TIA_FUZZ_CHECK(c.answered || (limit >= 1 && limit <= 1000), "limit %zu", limit);
    call_init(&c, &r, route);
    call_check(&c, tia__query_run_status(&c, "status", &present, &st), 400);
    call_init(&c, &r, route);
    call_check(&c, tia__query_duration(&c, "window", 86400000000, &v), 400);
    TIA_FUZZ_CHECK(c.answered || v > 0, "window %lld", (long long)v);
    call_init(&c, &r, route);
    call_check(&c, tia__query_time(&c, "since", 0, &v), 400);
    call_init(&c, &r, route);
    (void)tia__accepts_gzip(&c);
    if (route != NULL) {
        char buf[1024], allow[64];
        size_t rid;
        call_init(&c, &r, route);
        tia__route_find(r.req.method, r.req.target, buf, sizeof buf, &rid, c.param, &c.n_params,
                        allow, sizeof allow);
        call_check(&c, tia__param_uuid(&c, 0, &id), 404);
    }
    tia_fuzz_req_free(&r);
    return 0;
}
