/*
 * Operational routes: /health (the database answers), /ready (the server takes
 * work: not shutting down, a database connection free), /metrics (Prometheus)
 * and /api/v1/openapi.json.
 *
 * /metrics is the text format 0.0.4: the request counters of prom.c, the
 * server's gauges (in flight, uptime, database pool, reads by the connection that
 * served them when there is a read replica), and what the database
 * says per agent (tasks by status, queue depth, tokens and cost with the
 * agent's model) through tia_stats_totals. A scrape must answer even when the
 * database cannot: it waits at most a second for a connection, and then
 * reports tokyoia_database_up 0 without the per-agent part.
 */
#include <stdio.h>
#include <stdlib.h>

#include <tokyoia/stats.h>

#include "api/api.h"

#define METRICS_DB_WAIT_MS 1000

/*
 * GET /health: 200 {"status": "ok"} when a query on the primary succeeds, else
 * 503. With a read replica, "replica" tells its state and the routed reads so far
 * (a replica down is not unhealthy: the primary answers its reads).
 */
static void health(tia__call *c)
{
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    struct tia_agent_list l = {0};
    tia_error err = {0};
    tia_agent_status active = TIA_AGENT_ACTIVE;
    tia_store_read_primary(s, 1); /* the primary's health, not the replica's */
    int rc = tia_agent_list(s, &active, &l, &err);
    tia_agent_list_free(&l);
    if (rc != 0) {
        tia__fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "database: %s", err.message);
        return;
    }
    json_t *o = json_pack("{s:s,s:s}", "status", "ok", "database",
                          tia_backend_name(tia__pool_backend(c->api->pool)));
    tia_replica_status rs;
    tia__pool_replica_status(c->api->pool, &rs);
    if (o != NULL && rs.state != TIA_REPLICA_NONE)
        json_object_set_new(
            o, "replica",
            json_pack("{s:s,s:I,s:{s:I,s:I},s:I}", "state", tia_replica_state_name(rs.state),
                      "lag_ms", (json_int_t)rs.lag_ms, "reads", "replica",
                      (json_int_t)rs.reads_replica, "primary", (json_int_t)rs.reads_primary,
                      "fallbacks", (json_int_t)rs.fallbacks));
    tia__reply(c, MHD_HTTP_OK, o);
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

/* A label value with Prometheus' escapes (backslash, double quote, newline). */
static void put_value(FILE *f, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fputc('\\', f);
        if (*v == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*v, f);
    }
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void agent_sample(FILE *f, const char *name, const tia_agent_totals *t, const char *label,
                         const char *value)
{
    fprintf(f, "%s{agent=\"", name);
    put_value(f, t->id);
    if (label) {
        fprintf(f, "\",%s=\"", label);
        put_value(f, value);
    }
    fputs("\"} ", f);
}

/* The per-agent families, from the database. */
static void agent_metrics(FILE *f, const tia_agent_totals_list *l)
{
    static const char *const statuses[] = {"pending", "running", "completed", "failed",
                                           "cancelled"};
    family(f, "tokyoia_tasks", "gauge", "Tasks by agent and status (agent_task_totals).");
    for (size_t i = 0; i < l->n; i++) {
        const tia_agent_totals *t = &l->items[i];
        const int64_t v[] = {t->pending, t->running, t->completed, t->failed, t->cancelled};
        for (size_t k = 0; k < 5; k++) {
            agent_sample(f, "tokyoia_tasks", t, "status", statuses[k]);
            fprintf(f, "%lld\n", (long long)v[k]);
        }
    }
    family(f, "tokyoia_queue_depth", "gauge",
           "Pending tasks of the agent whose dependencies are done (its queue).");
    for (size_t i = 0; i < l->n; i++) {
        agent_sample(f, "tokyoia_queue_depth", &l->items[i], NULL, NULL);
        fprintf(f, "%lld\n", (long long)l->items[i].ready);
    }
    family(f, "tokyoia_agent_tokens", "gauge",
           "Tokens used by the agent's tasks, with the agent's current model.");
    for (size_t i = 0; i < l->n; i++) {
        agent_sample(f, "tokyoia_agent_tokens", &l->items[i], "model", l->items[i].model);
        fprintf(f, "%lld\n", (long long)l->items[i].tokens);
    }
    family(f, "tokyoia_agent_cost_usd", "gauge",
           "Cost of the agent's tasks in USD, with the agent's current model.");
    for (size_t i = 0; i < l->n; i++) {
        int64_t m = l->items[i].cost_micros;
        agent_sample(f, "tokyoia_agent_cost_usd", &l->items[i], "model", l->items[i].model);
        fprintf(f, "%s%lld.%06lld\n", m < 0 ? "-" : "", (long long)(m < 0 ? -m : m) / 1000000,
                (long long)(m < 0 ? -m : m) % 1000000);
    }
}

/* GET /metrics: Prometheus text format 0.0.4. */
static void metrics(tia__call *c)
{
    tia__api *api = c->api;
    char *text = NULL;
    size_t len = 0;
    tia_agent_totals_list totals = {0};
    tia_error err = {0};
    /* Read before this request borrows a connection, so that it counts only the others. */
    int pool_size = tia__pool_size(api->pool), in_use = tia__pool_in_use(api->pool);
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    tia__prom_write(api->prom, f);

    tia_time_us now = tia_now_us();
    family(f, "tokyoia_http_requests_in_flight", "gauge",
           "Requests being served, open event streams and this scrape included.");
    fprintf(f, "tokyoia_http_requests_in_flight %d\n", atomic_load(&api->in_flight));
    family(f, "tokyoia_start_time_seconds", "gauge", "When the server started (Unix time).");
    fprintf(f, "tokyoia_start_time_seconds %.6f\n", (double)api->started_at / 1e6);
    family(f, "tokyoia_uptime_seconds", "gauge", "Seconds since the server started.");
    fprintf(f, "tokyoia_uptime_seconds %.6f\n", (double)(now - api->started_at) / 1e6);
    family(f, "tokyoia_db_pool_size", "gauge", "Database connections in the server's pool.");
    fprintf(f, "tokyoia_db_pool_size %d\n", pool_size);
    family(f, "tokyoia_db_pool_in_use", "gauge",
           "Pool connections borrowed by requests (this scrape's own excluded).");
    fprintf(f, "tokyoia_db_pool_in_use %d\n", in_use);
    family(f, "tokyoia_db_pool_timeouts_total", "counter",
           "Requests that found no pool connection free in time.");
    fprintf(f, "tokyoia_db_pool_timeouts_total %llu\n",
            (unsigned long long)tia__pool_timeouts(api->pool));
    family(f, "tokyoia_http_shared_reads_total", "counter",
           "Reads answered with an identical read's answer, made after they arrived.");
    fprintf(f, "tokyoia_http_shared_reads_total %llu\n",
            (unsigned long long)(api->sharing ? tia__sharing_count(api->sharing) : 0));
    tia_replica_status rs;
    tia__pool_replica_status(api->pool, &rs);
    tia__prom_write_replica(f, &rs);

    if (c->store == NULL) {
        int wait =
            api->cfg.db_wait_ms < METRICS_DB_WAIT_MS ? api->cfg.db_wait_ms : METRICS_DB_WAIT_MS;
        c->store = tia__pool_acquire(api->pool, wait); /* the server gives it back */
    }
    int up = c->store != NULL && tia_stats_totals(c->store, &totals, &err) == 0;
    family(f, "tokyoia_database_up", "gauge",
           "1 when this scrape could read the database, else 0 (no per-agent metrics then).");
    fprintf(f, "tokyoia_database_up %d\n", up);
    if (up)
        agent_metrics(f, &totals);
    tia_agent_totals_list_free(&totals);

    if (ferror(f) | fclose(f)) {
        free(text);
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, text, free);
    if (r == NULL) {
        free(text);
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    tia__reply(c, MHD_HTTP_OK, NULL);
    c->response = r;
    c->bytes_out = len;
}

static const tia__route routes[] = {
    {"GET", "/health", health, TIA__R_OPEN | TIA__R_COMPAT, "Liveness: the database answers"},
    {"GET", "/ready", ready, TIA__R_OPEN, "Readiness: the server takes requests"},
    {"GET", "/metrics", metrics, TIA__R_OPEN, "Prometheus metrics (text format 0.0.4)"},
};

const tia__route_table tia__routes_ops = {routes, sizeof routes / sizeof routes[0]};
