/*
 * Registry API tests of the metric routes, through a real server on both
 * backends: batch ingest (stored as sent, all or none: a batch with one bad
 * point writes nothing), the batch limits (10,000 points taken, 10,001 refused),
 * every kind of bad input (wrong types, missing members, unknown members, NaN
 * and infinities, which JSON cannot carry), the newest-points list, and the
 * bucketed series for every agent and for one, against buckets worked out here.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/agents.h>
#include <tokyoia/metrics.h>

#include "api_test.h"

#define HOUR_US INT64_C(3600000000)
#define MIN_US INT64_C(60000000)
#define DAY_US (24 * HOUR_US)

static void req(tia_api_fixture *f, const char *method, const char *path, const char *body,
                tia_http_resp *r)
{
    tia_http(f, method, path, body, NULL, r);
}

static void expect_error(tia_api_fixture *f, const char *method, const char *path, const char *body,
                         int status, const char *code)
{
    tia_http_resp r;
    req(f, method, path, body, &r);
    if (r.status != status)
        fail_msg("%s %s %.300s: status %ld, want %d; body: %s", method, path, body ? body : "",
                 r.status, status, r.body);
    tia_assert_api_error(&r, status, code);
    tia_http_resp_free(&r);
}

static int64_t count_metrics(tia_api_fixture *f)
{
    return tia_test_int(f->store, "SELECT count(*) FROM agent_metrics",
                        "SELECT count(*) FROM agent_metrics");
}

static json_t *items_of(const tia_http_resp *r)
{
    json_t *items = json_object_get(r->json, "items");
    if (!json_is_array(items))
        fail_msg("no items array in %s", r->body);
    return items;
}

static void test_ingest_and_list(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    const char *body =
        "{\"metrics\": ["
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"latency\", \"metric_value\": 120.5, "
        "\"metric_unit\": \"ms\", \"recorded_at\": \"2026-01-31T12:00:00Z\", \"context\": {\"run\": 1}},"
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"latency\", \"metric_value\": 80, "
        "\"recorded_at\": \"2026-01-31T21:30:00+09:00\"},"
        "{\"agent_id\": \"yuki-002\", \"metric_type\": \"tokens\", \"metric_value\": -3.25e2, "
        "\"metric_unit\": null, \"context\": null}"
        "]}";
    req(f, "POST", "/api/v1/metrics", body, &r);
    TIA_ASSERT_STATUS(&r, 201);
    assert_int_equal(json_integer_value(json_object_get(r.json, "recorded")), 3);
    tia_http_resp_free(&r);
    assert_int_equal(count_metrics(f), 3);

    /* Newest first: the yuki point (now), then 12:30Z (21:30+09:00), then 12:00Z. */
    req(f, "GET", "/api/v1/metrics", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    json_t *items = items_of(&r);
    assert_int_equal(json_array_size(items), 3);
    assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
    json_t *m0 = json_array_get(items, 0), *m1 = json_array_get(items, 1),
           *m2 = json_array_get(items, 2);
    assert_string_equal(tia_json_str(m0, "agent_id"), "yuki-002");
    assert_string_equal(tia_json_str(m0, "metric_type"), "tokens");
    tia_assert_near(tia_json_num(m0, "metric_value"), -325.0, "value");
    assert_true(json_is_null(json_object_get(m0, "metric_unit")));
    tia_time_us at;
    assert_int_equal(tia_time_parse(tia_json_str(m1, "recorded_at"), &at), 0);
    tia_time_us want;
    assert_int_equal(tia_time_parse("2026-01-31T12:30:00Z", &want), 0);
    assert_int_equal(at, want);
    tia_assert_near(tia_json_num(m1, "metric_value"), 80.0, "value");
    tia_assert_near(tia_json_num(m2, "metric_value"), 120.5, "value");
    assert_string_equal(tia_json_str(m2, "metric_unit"), "ms");
    json_t *ctx = json_pack("{s:i}", "run", 1);
    assert_true(json_equal(json_object_get(m2, "context"), ctx));
    json_decref(ctx);
    assert_non_null(tia_json_str(m2, "id"));
    tia_http_resp_free(&r);

    req(f, "GET", "/api/v1/metrics?agent_id=akira-001", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), 2);
    tia_http_resp_free(&r);
    req(f, "GET", "/api/v1/metrics?agent_id=akira-001&metric_type=tokens", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), 0);
    tia_http_resp_free(&r);
    req(f, "GET", "/api/v1/metrics?metric_type=latency&limit=1", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    items = items_of(&r);
    assert_int_equal(json_array_size(items), 1);
    tia_assert_near(tia_json_num(json_array_get(items, 0), "metric_value"), 80.0, "value");
    tia_http_resp_free(&r);

    expect_error(f, "GET", "/api/v1/metrics?limit=0", NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/metrics?limit=1001", NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/metrics?limit=-5", NULL, 400, "bad_request");
    expect_error(f, "DELETE", "/api/v1/metrics", NULL, 405, "method_not_allowed");
}

/* {"metrics": [n copies of point]}, malloc'd. */
static char *batch_of(const char *point, size_t n)
{
    size_t len = strlen(point);
    char *s = malloc(16 + n * (len + 1) + 4);
    assert_non_null(s);
    char *p = s + sprintf(s, "{\"metrics\": [");
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, point, len);
        p += len;
    }
    strcpy(p, "]}");
    return s;
}

static void test_limits(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    const char *point = "{\"agent_id\":\"hiro-003\",\"metric_type\":\"m\",\"metric_value\":1}";
    char *body = batch_of(point, TIA_METRIC_BATCH_MAX + 1);
    expect_error(f, "POST", "/api/v1/metrics", body, 422, "invalid");
    free(body);
    assert_int_equal(count_metrics(f), 0);

    expect_error(f, "POST", "/api/v1/metrics", "{\"metrics\": []}", 422, "invalid");

    body = batch_of(point, TIA_METRIC_BATCH_MAX);
    req(f, "POST", "/api/v1/metrics", body, &r);
    free(body);
    TIA_ASSERT_STATUS(&r, 201);
    assert_int_equal(json_integer_value(json_object_get(r.json, "recorded")), TIA_METRIC_BATCH_MAX);
    tia_http_resp_free(&r);
    assert_int_equal(count_metrics(f), TIA_METRIC_BATCH_MAX);
}

static void test_all_or_none(void **state)
{
    tia_api_fixture *f = *state;
    /* The last point names an unknown agent: the first two are not written either. */
    expect_error(f, "POST", "/api/v1/metrics",
                 "{\"metrics\": ["
                 "{\"agent_id\": \"akira-001\", \"metric_type\": \"latency\", \"metric_value\": 1},"
                 "{\"agent_id\": \"yuki-002\", \"metric_type\": \"latency\", \"metric_value\": 2},"
                 "{\"agent_id\": \"nobody-9\", \"metric_type\": \"latency\", \"metric_value\": 3}]}",
                 404, "not_found");
    assert_int_equal(count_metrics(f), 0);
    /* Refused by the library (too long a type) in the middle of the batch. */
    expect_error(f, "POST", "/api/v1/metrics",
                 "{\"metrics\": ["
                 "{\"agent_id\": \"akira-001\", \"metric_type\": \"latency\", \"metric_value\": 1},"
                 "{\"agent_id\": \"akira-001\", \"metric_type\": "
                 "\"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijk\", \"metric_value\": 2},"
                 "{\"agent_id\": \"akira-001\", \"metric_type\": \"latency\", \"metric_value\": 3}]}",
                 422, "invalid");
    assert_int_equal(count_metrics(f), 0);
    /* Refused by the API (a wrong type) in the last point. */
    expect_error(f, "POST", "/api/v1/metrics",
                 "{\"metrics\": ["
                 "{\"agent_id\": \"akira-001\", \"metric_type\": \"latency\", \"metric_value\": 1},"
                 "{\"agent_id\": \"akira-001\", \"metric_type\": \"latency\", \"metric_value\": \"2\"}]}",
                 422, "invalid");
    assert_int_equal(count_metrics(f), 0);
}

static void test_bad_input(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    /* 422: the message names the point and the member. */
    req(f, "POST", "/api/v1/metrics",
        "{\"metrics\": [{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": 1}, "
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": [1]}]}",
        &r);
    tia_assert_api_error(&r, 422, "invalid");
    const char *msg = tia_json_str(json_object_get(r.json, "error"), "message");
    if (strstr(msg, "metrics[1].metric_value") == NULL)
        fail_msg("message does not name metrics[1].metric_value: %s", msg);
    tia_http_resp_free(&r);

    static const char *const bad_points[] = {
        /* wrong types */
        "{\"agent_id\": 1, \"metric_type\": \"l\", \"metric_value\": 1}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": [\"l\"], \"metric_value\": 1}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": \"12\"}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": true}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": {}}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": 1, \"metric_unit\": 5}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": 1, \"recorded_at\": 5}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": 1, \"recorded_at\": "
        "\"yesterday\"}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": 1, \"context\": \"x\"}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": 1, \"context\": [1]}",
        /* NaN-like values as text */
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": \"NaN\"}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": \"Infinity\"}",
        /* missing members */
        "{\"metric_type\": \"l\", \"metric_value\": 1}",
        "{\"agent_id\": \"akira-001\", \"metric_value\": 1}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\"}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": null}",
        "{\"agent_id\": null, \"metric_type\": \"l\", \"metric_value\": 1}",
        /* unknown member, empty type, too long a unit */
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": 1, \"units\": \"ms\"}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"\", \"metric_value\": 1}",
        "{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": 1, \"metric_unit\": "
        "\"abcdefghijabcdefghijk\"}",
        /* not an object */
        "\"point\"",
        "[1]",
        "null",
    };
    for (size_t i = 0; i < sizeof bad_points / sizeof bad_points[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, "{\"metrics\": [%s]}", bad_points[i]);
        expect_error(f, "POST", "/api/v1/metrics", body, 422, "invalid");
    }
    static const char *const bad_batches[] = {
        "{}",
        "{\"metrics\": null}",
        "{\"metrics\": {\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": 1}}",
        "{\"metrics\": \"many\"}",
        "{\"metrics\": [], \"extra\": 1}",
        "{\"points\": [{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": 1}]}",
    };
    for (size_t i = 0; i < sizeof bad_batches / sizeof bad_batches[0]; i++)
        expect_error(f, "POST", "/api/v1/metrics", bad_batches[i], 422, "invalid");

    /* NaN, infinities and overflowing numbers are not JSON: 400 before any handler. */
    static const char *const not_json[] = {
        "{\"metrics\": [{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": NaN}]}",
        "{\"metrics\": [{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": "
        "Infinity}]}",
        "{\"metrics\": [{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": "
        "-Infinity}]}",
        "{\"metrics\": [{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": 1e999}]}",
        "{\"metrics\": [{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": "
        "-1e400}]}",
        "{\"metrics\": [{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": 1,}]}",
        "{\"metrics\": [",
        "[]",
    };
    for (size_t i = 0; i < sizeof not_json / sizeof not_json[0]; i++)
        expect_error(f, "POST", "/api/v1/metrics", not_json[i], 400, "bad_request");
    tia_http_opts o = {.content_type = "text/csv"};
    tia_http(f, "POST", "/api/v1/metrics", "akira-001,l,1", &o, &r);
    tia_assert_api_error(&r, 415, "unsupported_media_type");
    tia_http_resp_free(&r);

    assert_int_equal(count_metrics(f), 0);

    /* The extremes of a double are fine. */
    req(f, "POST", "/api/v1/metrics",
        "{\"metrics\": [{\"agent_id\": \"akira-001\", \"metric_type\": \"l\", \"metric_value\": "
        "1.7976931348623157e308}, {\"agent_id\": \"akira-001\", \"metric_type\": \"l\", "
        "\"metric_value\": -2.2250738585072014e-308}]}",
        &r);
    TIA_ASSERT_STATUS(&r, 201);
    tia_http_resp_free(&r);
    assert_int_equal(count_metrics(f), 2);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
    double pos = p * (double)(n - 1);
    size_t lo = (size_t)floor(pos), hi = (size_t)ceil(pos);
    return v[lo] + (v[hi] - v[lo]) * (pos - (double)lo);
}

static void check_bucket(const json_t *b, int64_t start, const double *vals, size_t n)
{
    double v[32], sum = 0;
    assert_true(n <= 32);
    memcpy(v, vals, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_double);
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    tia_time_us got;
    assert_int_equal(tia_time_parse(tia_json_str(b, "start"), &got), 0);
    assert_int_equal(got, start);
    assert_int_equal(json_integer_value(json_object_get(b, "count")), (json_int_t)n);
    tia_assert_near(tia_json_num(b, "avg"), sum / (double)n, "avg");
    tia_assert_near(tia_json_num(b, "min"), v[0], "min");
    tia_assert_near(tia_json_num(b, "max"), v[n - 1], "max");
    tia_assert_near(tia_json_num(b, "p50"), pct(v, n, 0.5), "p50");
    tia_assert_near(tia_json_num(b, "p95"), pct(v, n, 0.95), "p95");
}

static void test_series(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    /* Two days, by the API itself; day 0 has points of two agents. */
    int64_t d0 = tia_now_us() / DAY_US * DAY_US - 3 * DAY_US, d1 = d0 + DAY_US;
    static const struct {
        const char *agent;
        int day;
        int64_t offset_min;
        double value;
    } pts[] = {
        {"akira-001", 0, 10, 5},   {"akira-001", 0, 70, 15}, {"yuki-002", 0, 75, 100},
        {"yuki-002", 0, 600, 1},   {"akira-001", 1, 0, 42},  {"akira-001", 1, 1439, 8},
        {"yuki-002", 1, 720, 9.5},
    };
    size_t n = sizeof pts / sizeof pts[0];
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char at[40];
        tia_time_format((pts[i].day ? d1 : d0) + pts[i].offset_min * MIN_US, at, sizeof at);
        json_array_append_new(arr, json_pack("{s:s,s:s,s:f,s:s}", "agent_id", pts[i].agent,
                                             "metric_type", "latency", "metric_value", pts[i].value,
                                             "recorded_at", at));
    }
    /* Another type on the same days: never in a latency series. */
    json_array_append_new(arr, json_pack("{s:s,s:s,s:f}", "agent_id", "akira-001", "metric_type",
                                         "cost", "metric_value", 1e6));
    json_t *doc = json_pack("{s:o}", "metrics", arr);
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    req(f, "POST", "/api/v1/metrics", body, &r);
    free(body);
    TIA_ASSERT_STATUS(&r, 201);
    tia_http_resp_free(&r);

    char from[40], to[40], path[256];
    tia_time_format(d0, from, sizeof from);
    tia_time_format(d1 + DAY_US, to, sizeof to);

    /* Every agent, by day. */
    snprintf(path, sizeof path,
             "/api/v1/metrics/series?metric_type=latency&bucket=day&from=%s&to=%s", from, to);
    req(f, "GET", path, NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_true(json_is_null(json_object_get(r.json, "agent_id")));
    assert_string_equal(tia_json_str(r.json, "bucket"), "day");
    json_t *items = items_of(&r);
    assert_int_equal(json_array_size(items), 2);
    for (int day = 0; day < 2; day++) {
        double v[8];
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (pts[i].day == day)
                v[k++] = pts[i].value;
        check_bucket(json_array_get(items, (size_t)day), day ? d1 : d0, v, k);
    }
    tia_http_resp_free(&r);

    /* One agent, by hour, over day 0: buckets at 00:00 and 01:00 only. */
    tia_time_format(d1, to, sizeof to);
    snprintf(path, sizeof path,
             "/api/v1/metrics/series?agent_id=akira-001&metric_type=latency&bucket=hour&from=%s"
             "&to=%s",
             from, to);
    req(f, "GET", path, NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "agent_id"), "akira-001");
    items = items_of(&r);
    assert_int_equal(json_array_size(items), 2);
    double a0[] = {5}, a1[] = {15};
    check_bucket(json_array_get(items, 0), d0, a0, 1);
    check_bucket(json_array_get(items, 1), d0 + HOUR_US, a1, 1);
    tia_http_resp_free(&r);

    /* The same through the agent's own route. */
    snprintf(path, sizeof path,
             "/api/v1/agents/akira-001/metrics?metric_type=latency&bucket=hour&from=%s&to=%s", from,
             to);
    req(f, "GET", path, NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), 2);
    tia_http_resp_free(&r);

    /* Nothing of that type: no buckets. */
    req(f, "GET", "/api/v1/metrics/series?metric_type=nothing", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), 0);
    tia_http_resp_free(&r);

    expect_error(f, "GET", "/api/v1/metrics/series", NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/metrics/series?metric_type=latency&bucket=fortnight", NULL, 400,
                 "bad_request");
    expect_error(f, "GET", "/api/v1/metrics/series?metric_type=latency&to=tomorrow", NULL, 400,
                 "bad_request");
    expect_error(f, "GET",
                 "/api/v1/metrics/series?metric_type=latency&from=2026-01-02&to=2026-01-01", NULL,
                 400, "bad_request");
    expect_error(f, "GET",
                 "/api/v1/metrics/series?metric_type=latency&from=2026-01-01&to=2026-01-01", NULL,
                 400, "bad_request");
    /* 100 days of minutes: more than 100,000 buckets. */
    expect_error(f, "GET",
                 "/api/v1/metrics/series?metric_type=latency&bucket=minute&from=2026-01-01"
                 "&to=2026-04-11",
                 NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/metrics/series?metric_type=latency&agent_id=nobody-9", NULL,
                 404, "not_found");
    expect_error(f, "POST", "/api/v1/metrics/series", "{}", 405, "method_not_allowed");
}

/* The member of the point of series a (an array of {start, cost_usd, tokens}) at start. */
static const json_t *point_at(const json_t *a, const char *start)
{
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *p = json_array_get(a, i);
        if (strcmp(json_string_value(json_object_get(p, "start")), start) == 0)
            return p;
    }
    fail_msg("no point at %s", start);
    return NULL;
}

/*
 * GET /api/v1/dashboard/costs adds up each bucket's cost and tokens per agent and
 * in total, one point per bucket, in order (series_add appends, series_json sorts
 * and merges).
 */
static void test_dashboard_costs(void **state)
{
    tia_api_fixture *f = *state;
    tia_error err = {0};
    int64_t h0 = tia_now_us() / DAY_US * DAY_US - 2 * DAY_US, min = 60 * INT64_C(1000000);
    tia_metric_new pts[] = {
        {"akira-001", "cost", 1.5, "usd", h0 + 10 * min, NULL},
        {"akira-001", "cost", 0.5, "usd", h0 + 20 * min, NULL},
        {"akira-001", "tokens", 100, NULL, h0 + 5 * min, NULL},
        {"akira-001", "cost", 1.0, "usd", h0 + 61 * min, NULL},
        {"yuki-002", "cost", 0.25, "usd", h0 + 30 * min, NULL},
        {"yuki-002", "tokens", 50, NULL, h0 + 30 * min, NULL},
    };
    TIA_OK_OR_FAIL(tia_metric_record_batch(f->store, pts, sizeof pts / sizeof pts[0], &err), &err);
    char from[40], to[40], path[200], t0[40], t1[40];
    tia_time_format(h0, from, sizeof from);
    tia_time_format(h0 + 120 * min, to, sizeof to);
    snprintf(path, sizeof path, "/api/v1/dashboard/costs?bucket=hour&from=%s&to=%s", from, to);
    json_t *o = tia_api_callf(f, "GET", path, 200, NULL);
    tia_time_format(h0, t0, sizeof t0);
    tia_time_format(h0 + 60 * min, t1, sizeof t1);
    const json_t *total = json_object_get(o, "total");
    assert_int_equal(json_array_size(total), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(total, 0), "start")), t0);
    const json_t *p = point_at(total, t0);
    assert_string_equal(json_string_value(json_object_get(p, "cost_usd")), "2.250000");
    assert_int_equal(json_integer_value(json_object_get(p, "tokens")), 150);
    p = point_at(total, t1);
    assert_string_equal(json_string_value(json_object_get(p, "cost_usd")), "1.000000");
    assert_int_equal(json_integer_value(json_object_get(p, "tokens")), 0);
    const json_t *agents = json_object_get(o, "agents");
    for (size_t i = 0; i < json_array_size(agents); i++) {
        const json_t *a = json_array_get(agents, i);
        const json_t *ap = json_object_get(a, "points");
        if (strcmp(json_string_value(json_object_get(a, "agent_id")), "akira-001") == 0) {
            assert_int_equal(json_array_size(ap), 2);
            p = point_at(ap, t0);
            assert_string_equal(json_string_value(json_object_get(p, "cost_usd")), "2.000000");
            assert_int_equal(json_integer_value(json_object_get(p, "tokens")), 100);
        } else if (strcmp(json_string_value(json_object_get(a, "agent_id")), "yuki-002") == 0) {
            assert_int_equal(json_array_size(ap), 1);
            p = point_at(ap, t0);
            assert_string_equal(json_string_value(json_object_get(p, "cost_usd")), "0.250000");
            assert_int_equal(json_integer_value(json_object_get(p, "tokens")), 50);
        }
    }
    json_decref(o);
}

/*
 * With more agents than the page charts one by one (200), the total still counts
 * every agent's spend, and agents_total says how many there are: the total left
 * out every agent past the 200th in id order.
 */
static void test_dashboard_costs_counts_every_agent(void **state)
{
    tia_api_fixture *f = *state;
    tia_error err = {0};
    for (int i = 1; i <= 200; i++) {
        char id[16];
        snprintf(id, sizeof id, "pad-%03d", i);
        tia_agent_new a = {.id = id, .name = "pad", .role = "r", .model = "m"};
        TIA_OK_OR_FAIL(tia_agent_create(f->store, &a, &err), &err);
    }
    tia_agent_new last = {.id = "zz-last", .name = "last", .role = "r", .model = "m"};
    TIA_OK_OR_FAIL(tia_agent_create(f->store, &last, &err), &err);
    int64_t h0 = tia_now_us() / DAY_US * DAY_US - DAY_US, min = 60 * INT64_C(1000000);
    tia_metric_new pts[] = {
        {"akira-001", "cost", 0.75, "usd", h0 + 10 * min, NULL},
        {"zz-last", "cost", 5.0, "usd", h0 + 20 * min, NULL},
    };
    TIA_OK_OR_FAIL(tia_metric_record_batch(f->store, pts, 2, &err), &err);
    char from[40], to[40], path[200];
    tia_time_format(h0, from, sizeof from);
    tia_time_format(h0 + 60 * min, to, sizeof to);
    snprintf(path, sizeof path, "/api/v1/dashboard/costs?bucket=hour&from=%s&to=%s", from, to);
    json_t *o = tia_api_callf(f, "GET", path, 200, NULL);
    const json_t *total = json_object_get(o, "total");
    assert_int_equal(json_array_size(total), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(total, 0), "cost_usd")),
                        "5.750000");
    assert_int_equal(json_array_size(json_object_get(o, "agents")), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "agents_total")), 206);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ingest_and_list, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_limits, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_all_or_none, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_series, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_dashboard_costs, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_dashboard_costs_counts_every_agent, tia_api_setup,
                                        tia_api_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
