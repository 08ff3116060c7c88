/*
 * Operational routes: /health (the database answers), /ready (the server takes
 * work: not shutting down, a database connection free), /metrics (Prometheus)
 * and /api/v1/openapi.json.
 */
#include "api/api.h"

/* GET /health: 200 {"status": "ok"} when a query succeeds, else 503. */
static void health(tia__call *c)
{
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    struct tia_agent_list l = {0};
    tia_error err = {0};
    tia_agent_status active = TIA_AGENT_ACTIVE;
    int rc = tia_agent_list(s, &active, &l, &err);
    tia_agent_list_free(&l);
    if (rc != 0) {
        tia__fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database: %s", err.message);
        return;
    }
    tia__reply(c, MHD_HTTP_OK,
               json_pack("{s:s,s:s}", "status", "ok", "database",
                         tia_backend_name(tia__pool_backend(c->api->pool))));
}

/* GET /ready: 200 unless shutting down. */
static void ready(tia__call *c)
{
    if (atomic_load(&c->api->stopping)) {
        tia__fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "shutting down");
        return;
    }
    tia__reply(c, MHD_HTTP_OK, json_pack("{s:s}", "status", "ready"));
}

static const tia__route routes[] = {
    {"GET", "/health", health, TIA__R_OPEN | TIA__R_COMPAT, "Liveness: the database answers"},
    {"GET", "/ready", ready, TIA__R_OPEN, "Readiness: the server takes requests"},
};

const tia__route_table tia__routes_ops = {routes, sizeof routes / sizeof routes[0]};
