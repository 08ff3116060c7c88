/*
 * Routes of the Registry API for agent metrics: batch ingest (1 to 10,000 points
 * in one transaction, all or none, every point checked member by member before
 * anything is written), the newest points, and the bucketed time-series query,
 * both for any agent (/api/v1/metrics/series) and for one agent
 * (/api/v1/agents/{id}/metrics, kept here so that both share one handler).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/metrics.h>

#include "api/api.h"

#define DAY_US (INT64_C(86400) * 1000000)

static const char *const batch_members[] = {"metrics", NULL};
static const char *const point_members[] = {"agent_id",    "metric_type", "metric_value", "metric_unit",
                                            "recorded_at", "context",     NULL};

/* Refuses a member of point i that is not a point member (typos are not ignored). */
static int point_only(tia__call *c, json_t *o, size_t i)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        int ok = 0;
        for (size_t k = 0; point_members[k] && !ok; k++)
            ok = strcmp(point_members[k], key) == 0;
        if (!ok) {
            tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                      "metrics[%zu]: unknown member '%.64s'", i, key);
            return -1;
        }
    }
    return 0;
}

/* Reads point i into *m (strings borrowed from the body, *context malloc'd). */
static int read_point(tia__call *c, json_t *o, size_t i, tia_metric_new *m, char **context)
{
    char where[40];
    const char *at = NULL;
    snprintf(where, sizeof where, "metrics[%zu].", i);
    *context = NULL;
    if (!json_is_object(o)) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "metrics[%zu] must be an object",
                  i);
        return -1;
    }
    if (point_only(c, o, i) != 0 || tia__obj_str(c, o, where, "agent_id", 1, &m->agent_id) != 0 ||
        tia__obj_str(c, o, where, "metric_type", 1, &m->metric_type) != 0 ||
        tia__obj_str(c, o, where, "metric_unit", 0, &m->unit) != 0 ||
        tia__obj_str(c, o, where, "recorded_at", 0, &at) != 0)
        return -1;
    json_t *v = json_object_get(o, "metric_value");
    if (v == NULL || json_is_null(v)) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%smetric_value is required", where);
        return -1;
    }
    /* JSON has no NaN or infinity; the check guards against any that slip through. */
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%smetric_value must be a finite number",
                  where);
        return -1;
    }
    m->value = json_number_value(v);
    m->recorded_at = TIA_TIME_NONE;
    if (at && tia_time_parse(at, &m->recorded_at) != 0) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                  "%srecorded_at must be an RFC 3339 time such as 2026-01-31T12:00:00Z", where);
        return -1;
    }
    json_t *ctx = json_object_get(o, "context");
    if (ctx && !json_is_null(ctx)) {
        if (!json_is_object(ctx)) {
            tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%scontext must be an object",
                      where);
            return -1;
        }
        if ((*context = json_dumps(ctx, JSON_COMPACT)) == NULL) {
            tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
            return -1;
        }
        m->context = *context;
    }
    return 0;
}

/* POST /api/v1/metrics {"metrics": [...]} -> 201 {"recorded": n} */
static void metrics_ingest(tia__call *c)
{
    tia_metric_new *items = NULL;
    char **contexts = NULL;
    size_t n = 0;
    tia_error err = {0};
    if (tia__body_only(c, batch_members) != 0)
        return;
    json_t *arr = json_object_get(c->body, "metrics");
    if (arr == NULL || json_is_null(arr)) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "metrics is required");
        return;
    }
    if (!json_is_array(arr)) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "metrics must be an array");
        return;
    }
    n = json_array_size(arr);
    if (n < 1 || n > TIA_METRIC_BATCH_MAX) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                  "metrics must hold 1 to %d points, not %zu", TIA_METRIC_BATCH_MAX, n);
        return;
    }
    items = calloc(n, sizeof *items);
    contexts = calloc(n, sizeof *contexts);
    if (items == NULL || contexts == NULL) {
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (read_point(c, json_array_get(arr, i), i, &items[i], &contexts[i]) != 0)
            goto done;
    tia_store *s = tia__store(c);
    if (s == NULL)
        goto done;
    int rc = tia_metric_record_batch(s, items, n, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    tia__reply(c, MHD_HTTP_CREATED, json_pack("{s:I}", "recorded", (json_int_t)n));
done:
    for (size_t i = 0; contexts && i < n; i++)
        free(contexts[i]);
    free(contexts);
    free(items);
}

/* GET /api/v1/metrics?agent_id=&metric_type=&limit=: the newest points. */
static void metrics_list(tia__call *c)
{
    struct tia_metric_list l = {0};
    tia_error err = {0};
    size_t limit;
    if (tia__query_limit(c, 50, TIA_PAGE_MAX, &limit) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_metric_list(s, tia__query(c, "agent_id"), tia__query(c, "metric_type"), limit, &l,
                             &err);
    if (rc == TIA_EINVAL) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", err.message);
        goto done;
    }
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(items, tia__json_metric(&l.items[i]));
    tia__reply(c, MHD_HTTP_OK, json_pack("{s:o,s:n}", "items", items, "next_cursor"));
done:
    tia_metric_list_free(&l);
}

/*
 * The series query of ?metric_type= (required), ?bucket= (minute, hour, day;
 * default hour), ?from= and ?to= (default the last 24 hours) for agent_id
 * (NULL: every agent). Everything in it comes from the query string, so the
 * library's refusals (to before from, too many buckets) are 400s.
 */
static void series(tia__call *c, const char *agent_id)
{
    tia_metric_series out = {0};
    tia_metric_query q = {0};
    tia_error err = {0};
    int64_t now = tia_now_us();
    const char *bucket = tia__query(c, "bucket");
    q.agent_id = agent_id;
    q.metric_type = tia__query(c, "metric_type");
    if (q.metric_type == NULL) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "metric_type is required");
        return;
    }
    if (tia_bucket_parse(bucket ? bucket : "hour", &q.bucket) != 0) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "bucket must be minute, hour or day");
        return;
    }
    if (tia__query_time(c, "to", now, &q.to) != 0 ||
        tia__query_time(c, "from", q.to - DAY_US, &q.from) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    if (agent_id) {
        tia_agent *a = NULL;
        int rc = tia_agent_get(s, agent_id, &a, &err);
        tia_agent_free(a);
        if (rc != 0) {
            tia__fail_rc(c, rc, &err);
            return;
        }
    }
    int rc = tia_metric_query_series(s, &q, &out, &err);
    if (rc == TIA_EINVAL) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", err.message);
        goto done;
    }
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    json_t *o = json_object();
    tia__jstr(o, "agent_id", agent_id);
    tia__jstr(o, "metric_type", q.metric_type);
    tia__jstr(o, "bucket", tia_bucket_name(q.bucket));
    tia__jtime(o, "from", q.from);
    tia__jtime(o, "to", q.to);
    json_t *items = json_array();
    for (size_t i = 0; i < out.n; i++)
        json_array_append_new(items, tia__json_bucket(&out.items[i]));
    json_object_set_new(o, "items", items);
    json_object_set_new(o, "next_cursor", json_null());
    tia__reply(c, MHD_HTTP_OK, o);
done:
    tia_metric_series_free(&out);
}

/* GET /api/v1/metrics/series?agent_id=&metric_type=&bucket=&from=&to= */
static void metrics_series(tia__call *c)
{
    series(c, tia__query(c, "agent_id"));
}

/* GET /api/v1/agents/{id}/metrics?metric_type=&bucket=&from=&to= */
static void agent_metrics(tia__call *c)
{
    series(c, c->param[0]);
}

static const tia__route routes[] = {
    {"POST", "/api/v1/metrics", metrics_ingest, TIA__R_JSON,
     "Record metric points (1..10000, all or none)"},
    {"GET", "/api/v1/metrics", metrics_list, TIA__R_SHARED,
     "The newest metric points (?agent_id=&metric_type=&limit=)"},
    {"GET", "/api/v1/metrics/series", metrics_series, TIA__R_SHARED,
     "Bucketed metric series (?agent_id=&metric_type=&bucket=&from=&to=)"},
    {"GET", "/api/v1/agents/{id}/metrics", agent_metrics, TIA__R_SHARED,
     "An agent's bucketed metric series (?metric_type=&bucket=&from=&to=)"},
};

const tia__route_table tia__routes_metrics = {routes, sizeof routes / sizeof routes[0]};
