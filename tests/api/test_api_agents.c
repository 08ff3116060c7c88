/*
 * Registry API tests of the agent routes, through a real server on both
 * backends: create, get, list, partial update, status and delete with every
 * error status they can answer; an agent's agent_stats row and windowed
 * statistics, and /api/v1/stats, checked against values this test works out
 * from the tasks it writes (some inside the window, some outside); recent tasks
 * by cursor pages (no row skipped or repeated, even with a task created between
 * pages); the bucketed metrics of an agent against buckets computed here; and
 * model prices (list, set, bad input).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokyoia/agents.h>
#include <tokyoia/interactions.h>
#include <tokyoia/metrics.h>
#include <tokyoia/tasks.h>

#include "api_test.h"

#define HOUR_US INT64_C(3600000000)
#define MIN_US INT64_C(60000000)

/* One request with the fixture's token. */
static void req(tia_api_fixture *f, const char *method, const char *path, const char *body,
                tia_http_resp *r)
{
    tia_http(f, method, path, body, NULL, r);
}

/* A request that must answer the /api/v1 error (status, code); the response is freed. */
static void expect_error(tia_api_fixture *f, const char *method, const char *path, const char *body,
                         int status, const char *code)
{
    tia_http_resp r;
    req(f, method, path, body, &r);
    if (r.status != status)
        fail_msg("%s %s %s: status %ld, want %d; body: %s", method, path, body ? body : "",
                 r.status, status, r.body);
    tia_assert_api_error(&r, status, code);
    tia_http_resp_free(&r);
}

static json_t *items_of(const tia_http_resp *r)
{
    json_t *items = json_object_get(r->json, "items");
    if (!json_is_array(items))
        fail_msg("no items array in %s", r->body);
    return items;
}

static const json_t *find_by(const json_t *items, const char *key, const char *value)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *v = tia_json_str(it, key);
        if (v && strcmp(v, value) == 0)
            return it;
    }
    return NULL;
}

static void assert_json_text(const json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    if (got == NULL || !json_equal((json_t *)got, want)) {
        char *g = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        fail_msg("JSON %s, want %s", g ? g : "(none)", want_text);
    }
    json_decref(want);
}

static void assert_cost(const json_t *o, const char *key, int64_t micros)
{
    char want[32];
    tia_cost_format(micros, want, sizeof want);
    const char *got = tia_json_str(o, key);
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s: got %s, want \"%s\"", key, got ? got : "(not a string)", want);
}

static void assert_header(const tia_http_resp *r, const char *name, const char *want)
{
    char *v = tia_http_header(r, name);
    if (v == NULL || strcmp(v, want) != 0)
        fail_msg("header %s: got %s, want %s", name, v ? v : "(none)", want);
    free(v);
}

/* ---- CRUD ---- */

static void test_list_and_get(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    req(f, "GET", "/api/v1/agents", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    json_t *items = items_of(&r);
    assert_int_equal(json_array_size(items), 5);
    assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
    const json_t *akira = find_by(items, "id", "akira-001");
    assert_non_null(akira);
    assert_string_equal(tia_json_str(akira, "name"), "Akira");
    assert_string_equal(tia_json_str(akira, "status"), "active");
    assert_true(json_is_array(json_object_get(akira, "specialties")));
    tia_http_resp_free(&r);

    req(f, "GET", "/api/v1/agents?status=active", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), 5);
    tia_http_resp_free(&r);

    /* An empty list is [], not null. */
    req(f, "GET", "/api/v1/agents?status=maintenance", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), 0);
    tia_http_resp_free(&r);

    expect_error(f, "GET", "/api/v1/agents?status=sleeping", NULL, 400, "bad_request");

    req(f, "GET", "/api/v1/agents/yuki-002", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "id"), "yuki-002");
    assert_string_equal(tia_json_str(r.json, "name"), "Yuki");
    tia_http_resp_free(&r);

    expect_error(f, "GET", "/api/v1/agents/nobody-999", NULL, 404, "not_found");
    /*
     * An id no agent can have (51 characters, or not UTF-8) is as unknown on every
     * route of an agent: 404, not the 422 or 400 of a bad body or query.
     */
    static const char *const impossible[] = {
        "/api/v1/agents/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "/api/v1/agents/%FF"};
    for (size_t i = 0; i < 2; i++) {
        char p[160];
        expect_error(f, "GET", impossible[i], NULL, 404, "not_found");
        expect_error(f, "PATCH", impossible[i], "{\"name\": \"N\"}", 404, "not_found");
        expect_error(f, "DELETE", impossible[i], NULL, 404, "not_found");
        snprintf(p, sizeof p, "%s/status", impossible[i]);
        expect_error(f, "PUT", p, "{\"status\": \"active\"}", 404, "not_found");
        snprintf(p, sizeof p, "%s/tasks", impossible[i]);
        expect_error(f, "GET", p, NULL, 404, "not_found");
        snprintf(p, sizeof p, "%s/stats", impossible[i]);
        expect_error(f, "GET", p, NULL, 404, "not_found");
        snprintf(p, sizeof p, "%s/metrics?metric_type=latency", impossible[i]);
        expect_error(f, "GET", p, NULL, 404, "not_found");
    }
    /* A method the path does not have: 405 with Allow. */
    req(f, "POST", "/api/v1/agents/yuki-002", "{}", &r);
    tia_assert_api_error(&r, 405, "method_not_allowed");
    char *allow = tia_http_header(&r, "Allow");
    assert_non_null(allow);
    assert_non_null(strstr(allow, "PATCH"));
    free(allow);
    tia_http_resp_free(&r);
}

static void test_create(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    const char *body = "{\"id\": \"zed-006\", \"name\": \"Zed\", \"role\": \"Idler\", "
                       "\"model\": \"m-1\", \"specialties\": [\"naps\", \"tea\"], "
                       "\"backstory\": \"Sleeps.\", \"personality_emoji\": \"\\ud83e\\udd8a\", "
                       "\"status\": \"inactive\", \"metadata\": {\"k\": [1, 2]}}";
    req(f, "POST", "/api/v1/agents", body, &r);
    TIA_ASSERT_STATUS(&r, 201);
    assert_header(&r, "Location", "/api/v1/agents/zed-006");
    assert_string_equal(tia_json_str(r.json, "id"), "zed-006");
    assert_string_equal(tia_json_str(r.json, "name"), "Zed");
    assert_string_equal(tia_json_str(r.json, "role"), "Idler");
    assert_string_equal(tia_json_str(r.json, "model"), "m-1");
    assert_string_equal(tia_json_str(r.json, "backstory"), "Sleeps.");
    assert_string_equal(tia_json_str(r.json, "personality_emoji"), "\xf0\x9f\xa6\x8a");
    assert_string_equal(tia_json_str(r.json, "status"), "inactive");
    assert_json_text(json_object_get(r.json, "specialties"), "[\"naps\", \"tea\"]");
    assert_json_text(json_object_get(r.json, "metadata"), "{\"k\": [1, 2]}");
    assert_int_equal(tia_json_int(r.json, "total_tasks_completed"), 0);
    assert_non_null(tia_json_str(r.json, "created_at"));
    tia_http_resp_free(&r);

    /* Stored: the library reads back what the answer said. */
    tia_agent *a = NULL;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_agent_get(f->store, "zed-006", &a, &err), &err);
    assert_string_equal(a->role, "Idler");
    assert_int_equal(a->status, TIA_AGENT_INACTIVE);
    assert_int_equal(a->n_specialties, 2);
    tia_agent_free(a);

    /* The minimum: optional members take their defaults. */
    req(f, "POST", "/api/v1/agents",
        "{\"id\": \"min-007\", \"name\": \"Min\", \"role\": \"r\", \"model\": \"m\"}", &r);
    TIA_ASSERT_STATUS(&r, 201);
    assert_string_equal(tia_json_str(r.json, "status"), "active");
    assert_true(json_is_null(json_object_get(r.json, "backstory")));
    assert_json_text(json_object_get(r.json, "specialties"), "[]");
    assert_json_text(json_object_get(r.json, "metadata"), "{}");
    tia_http_resp_free(&r);

    /* An id that is not URL-safe is percent-encoded in Location. */
    req(f, "POST", "/api/v1/agents",
        "{\"id\": \"a b/c\", \"name\": \"Odd\", \"role\": \"r\", \"model\": \"m\"}", &r);
    TIA_ASSERT_STATUS(&r, 201);
    assert_header(&r, "Location", "/api/v1/agents/a%20b%2Fc");
    tia_http_resp_free(&r);

    /* 409: the id is taken. */
    expect_error(f, "POST", "/api/v1/agents",
                 "{\"id\": \"zed-006\", \"name\": \"Z\", \"role\": \"r\", \"model\": \"m\"}", 409,
                 "conflict");
    expect_error(f, "POST", "/api/v1/agents",
                 "{\"id\": \"akira-001\", \"name\": \"Z\", \"role\": \"r\", \"model\": \"m\"}", 409,
                 "conflict");

    /* 422: a member missing, of the wrong type, unknown, or refused by the library. */
    static const char *const bad[] = {
        "{\"name\": \"N\", \"role\": \"r\", \"model\": \"m\"}",
        "{\"id\": \"x-1\", \"role\": \"r\", \"model\": \"m\"}",
        "{\"id\": \"x-1\", \"name\": \"N\", \"model\": \"m\"}",
        "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\"}",
        "{\"id\": \"x-1\", \"name\": null, \"role\": \"r\", \"model\": \"m\"}",
        "{\"id\": 7, \"name\": \"N\", \"role\": \"r\", \"model\": \"m\"}",
        "{\"id\": \"x-1\", \"name\": [\"N\"], \"role\": \"r\", \"model\": \"m\"}",
        "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\", \"specialties\": "
        "\"a\"}",
        "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\", \"specialties\": "
        "[1]}",
        "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\", \"status\": "
        "\"asleep\"}",
        "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\", \"status\": 1}",
        "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\", \"metadata\": "
        "[1]}",
        "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\", \"backstory\": "
        "5}",
        "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\", \"colour\": "
        "\"red\"}",
        "{\"id\": \"\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\"}",
        /* 51 characters: one over the column. */
        "{\"id\": \"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijk\", \"name\": \"N\", "
        "\"role\": \"r\", \"model\": \"m\"}",
        "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\", "
        "\"personality_emoji\": \"abcdefghijk\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(f, "POST", "/api/v1/agents", bad[i], 422, "invalid");
    assert_int_equal(
        tia_test_int(f->store, "SELECT count(*) FROM agents", "SELECT count(*) FROM agents"), 8);

    /* 400: not JSON, not an object, or no body; 415: not JSON by type. */
    expect_error(f, "POST", "/api/v1/agents", "{\"id\": ", 400, "bad_request");
    expect_error(f, "POST", "/api/v1/agents", "[1, 2]", 400, "bad_request");
    expect_error(f, "POST", "/api/v1/agents", NULL, 415, "unsupported_media_type");
    tia_http_opts o = {.content_type = "text/plain"};
    tia_http(f, "POST", "/api/v1/agents",
             "{\"id\": \"t-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\"}", &o, &r);
    tia_assert_api_error(&r, 415, "unsupported_media_type");
    tia_http_resp_free(&r);
}

static void test_update_status_delete(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    req(f, "POST", "/api/v1/agents",
        "{\"id\": \"zed-006\", \"name\": \"Zed\", \"role\": \"Idler\", \"model\": \"m\", "
        "\"backstory\": \"Once.\", \"personality_emoji\": \"z\", \"specialties\": [\"a\"], "
        "\"metadata\": {\"v\": 1}}",
        &r);
    TIA_ASSERT_STATUS(&r, 201);
    tia_http_resp_free(&r);

    /* Only the members given change; null clears backstory. */
    req(f, "PATCH", "/api/v1/agents/zed-006",
        "{\"name\": \"Zed II\", \"backstory\": null, \"specialties\": [\"b\", \"c\"], "
        "\"metadata\": {\"v\": 2}}",
        &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "name"), "Zed II");
    assert_string_equal(tia_json_str(r.json, "role"), "Idler");
    assert_string_equal(tia_json_str(r.json, "model"), "m");
    assert_string_equal(tia_json_str(r.json, "personality_emoji"), "z");
    assert_true(json_is_null(json_object_get(r.json, "backstory")));
    assert_json_text(json_object_get(r.json, "specialties"), "[\"b\", \"c\"]");
    assert_json_text(json_object_get(r.json, "metadata"), "{\"v\": 2}");
    tia_http_resp_free(&r);

    req(f, "PATCH", "/api/v1/agents/zed-006",
        "{\"role\": \"Sleeper\", \"model\": \"m-2\", \"status\": \"maintenance\", "
        "\"personality_emoji\": null}",
        &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "name"), "Zed II");
    assert_string_equal(tia_json_str(r.json, "role"), "Sleeper");
    assert_string_equal(tia_json_str(r.json, "model"), "m-2");
    assert_string_equal(tia_json_str(r.json, "status"), "maintenance");
    assert_true(json_is_null(json_object_get(r.json, "personality_emoji")));
    tia_http_resp_free(&r);

    tia_agent *a = NULL;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_agent_get(f->store, "zed-006", &a, &err), &err);
    assert_string_equal(a->name, "Zed II");
    assert_null(a->backstory);
    assert_int_equal(a->status, TIA_AGENT_MAINTENANCE);
    tia_agent_free(a);

    expect_error(f, "PATCH", "/api/v1/agents/zed-006", "{}", 422, "invalid");
    expect_error(f, "PATCH", "/api/v1/agents/zed-006", "{\"name\": null}", 422, "invalid");
    expect_error(f, "PATCH", "/api/v1/agents/zed-006", "{\"name\": 3}", 422, "invalid");
    expect_error(f, "PATCH", "/api/v1/agents/zed-006", "{\"name\": \"\"}", 422, "invalid");
    expect_error(f, "PATCH", "/api/v1/agents/zed-006", "{\"specialties\": null}", 422, "invalid");
    expect_error(f, "PATCH", "/api/v1/agents/zed-006", "{\"backstory\": 1}", 422, "invalid");
    expect_error(f, "PATCH", "/api/v1/agents/zed-006", "{\"metadata\": \"x\"}", 422, "invalid");
    expect_error(f, "PATCH", "/api/v1/agents/zed-006", "{\"status\": \"gone\"}", 422, "invalid");
    expect_error(f, "PATCH", "/api/v1/agents/zed-006", "{\"id\": \"zed-007\"}", 422, "invalid");
    expect_error(f, "PATCH", "/api/v1/agents/zed-006", "{\"name\": ", 400, "bad_request");
    expect_error(f, "PATCH", "/api/v1/agents/nobody-9", "{\"name\": \"N\"}", 404, "not_found");

    /* Status. */
    req(f, "PUT", "/api/v1/agents/zed-006/status", "{\"status\": \"inactive\"}", &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "status"), "inactive");
    assert_string_equal(tia_json_str(r.json, "id"), "zed-006");
    tia_http_resp_free(&r);
    req(f, "GET", "/api/v1/agents?status=inactive", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), 1);
    assert_non_null(find_by(items_of(&r), "id", "zed-006"));
    tia_http_resp_free(&r);
    expect_error(f, "PUT", "/api/v1/agents/zed-006/status", "{\"status\": \"asleep\"}", 422,
                 "invalid");
    expect_error(f, "PUT", "/api/v1/agents/zed-006/status", "{}", 422, "invalid");
    expect_error(f, "PUT", "/api/v1/agents/zed-006/status", "{\"status\": 1}", 422, "invalid");
    expect_error(f, "PUT", "/api/v1/agents/zed-006/status",
                 "{\"status\": \"active\", \"why\": \"x\"}", 422, "invalid");
    expect_error(f, "PUT", "/api/v1/agents/nobody-9/status", "{\"status\": \"active\"}", 404,
                 "not_found");

    /* Delete: 204 without a body, then gone. */
    req(f, "DELETE", "/api/v1/agents/zed-006", NULL, &r);
    TIA_ASSERT_STATUS(&r, 204);
    assert_int_equal(r.body_len, 0);
    tia_http_resp_free(&r);
    expect_error(f, "GET", "/api/v1/agents/zed-006", NULL, 404, "not_found");
    expect_error(f, "DELETE", "/api/v1/agents/zed-006", NULL, 404, "not_found");

    /* 409: an interaction names the agent (no ON DELETE rule in the seed). */
    tia_interaction_new in = {NULL, "akira-001", "yuki-002", "handoff", "over to you", NULL};
    TIA_OK_OR_FAIL(tia_interaction_record(f->store, &in, NULL, &err), &err);
    expect_error(f, "DELETE", "/api/v1/agents/yuki-002", NULL, 409, "conflict");
    req(f, "GET", "/api/v1/agents/yuki-002", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    tia_http_resp_free(&r);
}

/* ---- statistics ---- */

typedef struct raw_task {
    const char *agent;
    const char *status;
    int64_t duration_ms; /* < 0: NULL */
    int64_t tokens;
    int64_t cost_micros;
    int64_t age_us; /* created that long ago (0: now) */
} raw_task;

/* Inserts a task by raw SQL, so that its duration and age are what the test says. */
static void add_raw(tia_store *s, const raw_task *t)
{
    char dur[32] = "NULL", cost[32], pg[700], lite[700];
    char pg_created[96] = "", lite_created[160] = "";
    if (t->duration_ms >= 0)
        snprintf(dur, sizeof dur, "%lld", (long long)t->duration_ms);
    tia_cost_format(t->cost_micros, cost, sizeof cost);
    if (t->age_us > 0) {
        snprintf(pg_created, sizeof pg_created, ", now() - interval '%lld microseconds'",
                 (long long)t->age_us);
        snprintf(lite_created, sizeof lite_created, ", " TIA_SQLITE_NOW " - %lld",
                 (long long)t->age_us);
    }
    const char *created_col = t->age_us > 0 ? ", created_at" : "";
    snprintf(pg, sizeof pg,
             "INSERT INTO agent_tasks (agent_id, task_type, description, status, duration_ms, "
             "tokens_used, cost_usd%s) VALUES ('%s', 't', 'd', '%s', %s, %lld, %s%s)",
             created_col, t->agent, t->status, dur, (long long)t->tokens, cost, pg_created);
    snprintf(lite, sizeof lite,
             "INSERT INTO agent_tasks (agent_id, task_type, description, status, duration_ms, "
             "tokens_used, cost_usd_micros%s) VALUES ('%s', 't', 'd', '%s', %s, %lld, %lld%s)",
             created_col, t->agent, t->status, dur, (long long)t->tokens, (long long)t->cost_micros,
             lite_created);
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_test_exec(s, pg, lite, &err), &err);
}

typedef struct expect_stats {
    int64_t total, completed, failed, tokens, cost;
    double avg_duration, success_rate;
} expect_stats;

typedef struct expect_window {
    int64_t total, tokens, cost;
    double avg_latency;
} expect_window;

/* agent_stats of agent worked out from the tasks: over all of them. */
static expect_stats stats_of(const raw_task *t, size_t n, const char *agent)
{
    expect_stats e = {0};
    int64_t dur_sum = 0, dur_n = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t[i].agent, agent) != 0)
            continue;
        e.total++;
        e.completed += strcmp(t[i].status, "completed") == 0;
        e.failed += strcmp(t[i].status, "failed") == 0;
        e.tokens += t[i].tokens;
        e.cost += t[i].cost_micros;
        if (t[i].duration_ms >= 0) {
            dur_sum += t[i].duration_ms;
            dur_n++;
        }
    }
    e.avg_duration = dur_n ? (double)dur_sum / (double)dur_n : 0.0;
    e.success_rate =
        e.total ? round((double)e.completed * 100.0 / (double)e.total * 100.0) / 100.0 : 100.0;
    return e;
}

/* The seed's window query worked out: completed tasks created within window_us. */
static expect_window window_of(const raw_task *t, size_t n, const char *agent, int64_t window_us)
{
    expect_window e = {0};
    int64_t dur_sum = 0, dur_n = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t[i].agent, agent) != 0 || strcmp(t[i].status, "completed") != 0 ||
            t[i].age_us >= window_us)
            continue;
        e.total++;
        e.tokens += t[i].tokens;
        e.cost += t[i].cost_micros;
        if (t[i].duration_ms >= 0) {
            dur_sum += t[i].duration_ms;
            dur_n++;
        }
    }
    e.avg_latency = dur_n ? (double)dur_sum / (double)dur_n : 0.0;
    return e;
}

static void check_stats(const json_t *o, const expect_stats *e)
{
    assert_int_equal(tia_json_int(o, "total_tasks"), e->total);
    assert_int_equal(tia_json_int(o, "completed_tasks"), e->completed);
    assert_int_equal(tia_json_int(o, "failed_tasks"), e->failed);
    assert_int_equal(tia_json_int(o, "total_tokens"), e->tokens);
    assert_cost(o, "total_cost", e->cost);
    tia_assert_near(tia_json_num(o, "avg_duration_ms"), e->avg_duration, "avg_duration_ms");
    tia_assert_near(tia_json_num(o, "success_rate"), e->success_rate, "success_rate");
}

static void check_window(const json_t *o, const expect_window *e, int64_t window_us)
{
    json_t *w = json_object_get(o, "window");
    if (!json_is_object(w))
        fail_msg("no window object");
    assert_int_equal(tia_json_int(w, "total_tasks"), e->total);
    assert_int_equal(tia_json_int(w, "total_tokens"), e->tokens);
    assert_cost(w, "total_cost", e->cost);
    tia_assert_near(tia_json_num(w, "avg_latency_ms"), e->avg_latency, "avg_latency_ms");
    assert_int_equal(tia_json_int(w, "window_ms"), window_us / 1000);
}

static const raw_task stats_tasks[] = {
    {"st-001", "completed", 100, 10, 1000, 1 * HOUR_US},
    {"st-001", "completed", 300, 20, 2500, 2 * HOUR_US},
    {"st-001", "completed", 700, 40, 4000, 48 * HOUR_US},   /* outside 24h, inside 72h */
    {"st-001", "completed", 1100, 80, 8000, 100 * HOUR_US}, /* outside both */
    {"st-001", "completed", -1, 5, 5, 3 * HOUR_US},         /* no duration */
    {"st-001", "failed", 50, 7, 100, 1 * HOUR_US},
    {"st-001", "pending", -1, 0, 0, 0},
    {"st-001", "running", -1, 0, 0, 0},
    {"st-001", "cancelled", 20, 1, 1, 5 * HOUR_US},
    {"akira-001", "completed", 900, 11, 123456, 1 * HOUR_US},
    {"akira-001", "failed", 90, 3, 7, 1 * HOUR_US},
};
#define N_STATS_TASKS (sizeof stats_tasks / sizeof stats_tasks[0])

static void test_agent_stats(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    req(f, "POST", "/api/v1/agents",
        "{\"id\": \"st-001\", \"name\": \"Stat\", \"role\": \"Counter\", \"model\": \"m\"}", &r);
    TIA_ASSERT_STATUS(&r, 201);
    tia_http_resp_free(&r);

    /* No tasks yet: zeros and a 100% success rate, as the view says. */
    req(f, "GET", "/api/v1/agents/st-001/stats", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    expect_stats none = stats_of(stats_tasks, 0, "st-001");
    check_stats(r.json, &none);
    tia_http_resp_free(&r);

    for (size_t i = 0; i < N_STATS_TASKS; i++)
        add_raw(f->store, &stats_tasks[i]);

    expect_stats e = stats_of(stats_tasks, N_STATS_TASKS, "st-001");
    req(f, "GET", "/api/v1/agents/st-001/stats", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "id"), "st-001");
    assert_string_equal(tia_json_str(r.json, "name"), "Stat");
    assert_string_equal(tia_json_str(r.json, "role"), "Counter");
    assert_string_equal(tia_json_str(r.json, "status"), "active");
    check_stats(r.json, &e);
    assert_null(json_object_get(r.json, "window"));
    tia_http_resp_free(&r);

    static const struct {
        const char *arg;
        int64_t us;
    } windows[] = {
        {"24h", 24 * HOUR_US}, {"72h", 72 * HOUR_US}, {"30m", 30 * MIN_US}, {"7d", 168 * HOUR_US}};
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/api/v1/agents/st-001/stats?window=%s", windows[i].arg);
        req(f, "GET", path, NULL, &r);
        TIA_ASSERT_STATUS(&r, 200);
        check_stats(r.json, &e);
        expect_window w = window_of(stats_tasks, N_STATS_TASKS, "st-001", windows[i].us);
        check_window(r.json, &w, windows[i].us);
        tia_http_resp_free(&r);
    }
    /* The 24h window saw 2 of the completed tasks with a duration and one without. */
    assert_int_equal(window_of(stats_tasks, N_STATS_TASKS, "st-001", 24 * HOUR_US).total, 3);

    expect_error(f, "GET", "/api/v1/agents/st-001/stats?window=soon", NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/agents/st-001/stats?window=0s", NULL, 400, "bad_request");
    /* At most 100 years (36,525 days), the same on both backends: PostgreSQL's NOW() -
     * window leaves its range past about 6,700 years, and answered 422 there. */
    req(f, "GET", "/api/v1/agents/st-001/stats?window=36525d", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    tia_http_resp_free(&r);
    expect_error(f, "GET", "/api/v1/agents/st-001/stats?window=36526d", NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/stats?window=106751991d", NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/agents/nobody-9/stats", NULL, 404, "not_found");
    expect_error(f, "GET", "/api/v1/agents/nobody-9/stats?window=24h", NULL, 404, "not_found");

    /* Every agent. */
    req(f, "GET", "/api/v1/stats", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    json_t *items = items_of(&r);
    assert_int_equal(json_array_size(items), 6);
    assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
    static const char *const ids[] = {"akira-001",  "hiro-003", "kenji-005",
                                      "sakura-004", "st-001",   "yuki-002"};
    for (size_t i = 0; i < 6; i++) {
        const json_t *o = find_by(items, "id", ids[i]);
        if (o == NULL)
            fail_msg("%s missing from /api/v1/stats", ids[i]);
        expect_stats ei = stats_of(stats_tasks, N_STATS_TASKS, ids[i]);
        check_stats(o, &ei);
        assert_null(json_object_get(o, "window"));
    }
    tia_http_resp_free(&r);

    req(f, "GET", "/api/v1/stats?window=24h", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    items = items_of(&r);
    assert_int_equal(json_array_size(items), 6);
    for (size_t i = 0; i < 6; i++) {
        const json_t *o = find_by(items, "id", ids[i]);
        assert_non_null(o);
        expect_stats ei = stats_of(stats_tasks, N_STATS_TASKS, ids[i]);
        check_stats(o, &ei);
        expect_window w = window_of(stats_tasks, N_STATS_TASKS, ids[i], 24 * HOUR_US);
        check_window(o, &w, 24 * HOUR_US);
    }
    tia_http_resp_free(&r);
    expect_error(f, "GET", "/api/v1/stats?window=-1h", NULL, 400, "bad_request");
}

/* ---- recent tasks ---- */

static void create_task(tia_store *s, const char *agent, const char *type, char id[TIA_UUID_BUF])
{
    tia_error err = {0};
    tia_task_new n = {agent, NULL, type, "a task", NULL, NULL, NULL};
    TIA_OK_OR_FAIL(tia_task_create(s, &n, id, &err), &err);
}

/* Pages through path (which has ?limit=...) collecting ids; returns the count. */
static size_t collect(tia_api_fixture *f, const char *path, char ids[][TIA_UUID_BUF], size_t max,
                      size_t want_pages)
{
    char next[TIA_CURSOR_BUF * 3 + 1] = "";
    size_t n = 0, pages = 0;
    for (;;) {
        char url[512];
        snprintf(url, sizeof url, "%s%s%s", path, next[0] ? "&cursor=" : "", next);
        tia_http_resp r;
        req(f, "GET", url, NULL, &r);
        TIA_ASSERT_STATUS(&r, 200);
        json_t *items = items_of(&r);
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            assert_true(n < max);
            snprintf(ids[n++], TIA_UUID_BUF, "%s", tia_json_str(it, "id"));
        }
        pages++;
        json_t *nc = json_object_get(r.json, "next_cursor");
        if (json_is_null(nc)) {
            tia_http_resp_free(&r);
            break;
        }
        assert_true(json_is_string(nc));
        /* Cursors are opaque; escape what a query string cannot carry as is. */
        char *esc = next;
        for (const char *p = json_string_value(nc); *p; p++) {
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '-' || *p == '_' || *p == '.' || *p == '~')
                *esc++ = *p;
            else
                esc += sprintf(esc, "%%%02X", (unsigned char)*p);
        }
        *esc = '\0';
        tia_http_resp_free(&r);
        assert_true(pages < 100);
    }
    if (want_pages)
        assert_int_equal(pages, want_pages);
    return n;
}

static void test_recent_tasks(void **state)
{
    tia_api_fixture *f = *state;
    tia_error err = {0};
    char ids[8][TIA_UUID_BUF];
    for (int i = 0; i < 7; i++)
        create_task(f->store, "hiro-003", "review", ids[i]);
    char other[TIA_UUID_BUF];
    create_task(f->store, "akira-001", "review", other);
    /* ids[1] and ids[4] complete, ids[2] runs. */
    tia_task_result res = {"{\"ok\": true}", NULL, 12, 340};
    TIA_OK_OR_FAIL(tia_task_transition(f->store, ids[1], TIA_RUNNING, NULL, &err), &err);
    TIA_OK_OR_FAIL(tia_task_transition(f->store, ids[1], TIA_COMPLETED, &res, &err), &err);
    TIA_OK_OR_FAIL(tia_task_transition(f->store, ids[4], TIA_RUNNING, NULL, &err), &err);
    TIA_OK_OR_FAIL(tia_task_transition(f->store, ids[4], TIA_COMPLETED, &res, &err), &err);
    TIA_OK_OR_FAIL(tia_task_transition(f->store, ids[2], TIA_RUNNING, NULL, &err), &err);

    /* All of them, newest first, in pages of 3: 3 + 3 + 1. */
    char got[16][TIA_UUID_BUF];
    size_t n = collect(f, "/api/v1/agents/hiro-003/tasks?limit=3", got, 16, 3);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(got[i], ids[6 - i]);

    /* The default page holds them all; the record is the task's JSON. */
    tia_http_resp r;
    req(f, "GET", "/api/v1/agents/hiro-003/tasks", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    json_t *items = items_of(&r);
    assert_int_equal(json_array_size(items), 7);
    assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
    const json_t *t1 = find_by(items, "id", ids[1]);
    assert_non_null(t1);
    assert_string_equal(tia_json_str(t1, "status"), "completed");
    assert_string_equal(tia_json_str(t1, "agent_id"), "hiro-003");
    assert_string_equal(tia_json_str(t1, "cost_usd"), "0.000340");
    assert_int_equal(tia_json_int(t1, "tokens_used"), 12);
    assert_json_text(json_object_get(t1, "output_data"), "{\"ok\": true}");
    tia_http_resp_free(&r);

    /* By status. */
    n = collect(f, "/api/v1/agents/hiro-003/tasks?status=completed&limit=1", got, 16, 2);
    assert_int_equal(n, 2);
    assert_string_equal(got[0], ids[4]);
    assert_string_equal(got[1], ids[1]);
    n = collect(f, "/api/v1/agents/hiro-003/tasks?status=running", got, 16, 1);
    assert_int_equal(n, 1);
    assert_string_equal(got[0], ids[2]);
    n = collect(f, "/api/v1/agents/hiro-003/tasks?status=failed", got, 16, 1);
    assert_int_equal(n, 0);

    /* A task created between pages neither shifts nor repeats the next page. */
    req(f, "GET", "/api/v1/agents/hiro-003/tasks?limit=4", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), 4);
    const char *cur = tia_json_str(r.json, "next_cursor");
    assert_non_null(cur);
    char cursor[TIA_CURSOR_BUF * 3 + 1], *esc = cursor;
    for (const char *p = cur; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            *esc++ = *p;
        else
            esc += sprintf(esc, "%%%02X", (unsigned char)*p);
    }
    *esc = '\0';
    tia_http_resp_free(&r);
    char newer[TIA_UUID_BUF];
    create_task(f->store, "hiro-003", "review", newer);
    char path[512];
    snprintf(path, sizeof path, "/api/v1/agents/hiro-003/tasks?limit=4&cursor=%s", cursor);
    req(f, "GET", path, NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    items = items_of(&r);
    assert_int_equal(json_array_size(items), 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(tia_json_str(json_array_get(items, i), "id"), ids[2 - i]);
    assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
    tia_http_resp_free(&r);

    /* An agent without tasks: an empty list, not 404. */
    req(f, "GET", "/api/v1/agents/kenji-005/tasks", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), 0);
    assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
    tia_http_resp_free(&r);

    expect_error(f, "GET", "/api/v1/agents/nobody-9/tasks", NULL, 404, "not_found");
    expect_error(f, "GET", "/api/v1/agents/hiro-003/tasks?limit=0", NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/agents/hiro-003/tasks?limit=1001", NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/agents/hiro-003/tasks?limit=ten", NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/agents/hiro-003/tasks?status=done", NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/agents/hiro-003/tasks?cursor=not-a-cursor", NULL, 400,
                 "bad_request");
}

/* ---- bucketed metrics of an agent ---- */

static void record(tia_store *s, const char *agent, const char *type, double v, int64_t at)
{
    tia_error err = {0};
    tia_metric_new m = {agent, type, v, "ms", at, NULL};
    TIA_OK_OR_FAIL(tia_metric_record(s, &m, NULL, &err), &err);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* percentile_cont over sorted v[0..n). */
static double pct(const double *v, size_t n, double p)
{
    double pos = p * (double)(n - 1);
    size_t lo = (size_t)floor(pos), hi = (size_t)ceil(pos);
    return v[lo] + (v[hi] - v[lo]) * (pos - (double)lo);
}

static void check_bucket(const json_t *b, int64_t start, const double *vals, size_t n)
{
    double v[16], sum = 0;
    memcpy(v, vals, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_double);
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    char want_start[40];
    tia_time_format(start, want_start, sizeof want_start);
    tia_time_us got_start;
    assert_int_equal(tia_time_parse(tia_json_str(b, "start"), &got_start), 0);
    if (got_start != start)
        fail_msg("bucket start %s, want %s", tia_json_str(b, "start"), want_start);
    assert_int_equal(tia_json_int(b, "count"), (int64_t)n);
    tia_assert_near(tia_json_num(b, "avg"), sum / (double)n, "avg");
    tia_assert_near(tia_json_num(b, "min"), v[0], "min");
    tia_assert_near(tia_json_num(b, "max"), v[n - 1], "max");
    tia_assert_near(tia_json_num(b, "p50"), pct(v, n, 0.5), "p50");
    tia_assert_near(tia_json_num(b, "p95"), pct(v, n, 0.95), "p95");
}

static void test_agent_metrics(void **state)
{
    tia_api_fixture *f = *state;
    int64_t now = tia_now_us();
    /* The whole hour that began three hours ago, and the hour after it. */
    int64_t h0 = now / HOUR_US * HOUR_US - 3 * HOUR_US, h1 = h0 + HOUR_US;
    static const double in_h0[] = {30, 10, 20, 40, 1000};
    static const double in_h1[] = {7.5};
    static const int64_t at_h0[] = {1, 5, 17, 42, 59};
    for (size_t i = 0; i < 5; i++)
        record(f->store, "sakura-004", "latency", in_h0[i], h0 + at_h0[i] * MIN_US);
    record(f->store, "sakura-004", "latency", in_h1[0], h1 + 30 * MIN_US);
    /* Not counted: another type, another agent, and a point 3 days ago. */
    record(f->store, "sakura-004", "tokens", 99999, h0 + MIN_US);
    record(f->store, "akira-001", "latency", 55555, h0 + MIN_US);
    record(f->store, "sakura-004", "latency", 77777, now - 72 * HOUR_US);

    char from[40], to[40], path[256];
    tia_time_format(h0, from, sizeof from);
    tia_time_format(h1 + HOUR_US, to, sizeof to);
    snprintf(path, sizeof path,
             "/api/v1/agents/sakura-004/metrics?metric_type=latency&bucket=hour&from=%s&to=%s",
             from, to);
    tia_http_resp r;
    req(f, "GET", path, NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "agent_id"), "sakura-004");
    assert_string_equal(tia_json_str(r.json, "metric_type"), "latency");
    assert_string_equal(tia_json_str(r.json, "bucket"), "hour");
    json_t *items = items_of(&r);
    assert_int_equal(json_array_size(items), 2);
    check_bucket(json_array_get(items, 0), h0, in_h0, 5);
    check_bucket(json_array_get(items, 1), h1, in_h1, 1);
    tia_http_resp_free(&r);

    /* The defaults: hourly buckets over the last 24 hours (the 3-day-old point is out). */
    req(f, "GET", "/api/v1/agents/sakura-004/metrics?metric_type=latency", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "bucket"), "hour");
    items = items_of(&r);
    assert_int_equal(json_array_size(items), 2);
    check_bucket(json_array_get(items, 0), h0, in_h0, 5);
    tia_http_resp_free(&r);

    /* Minute buckets over h0's first 20 minutes: three points, each alone. */
    tia_time_format(h0 + 20 * MIN_US, to, sizeof to);
    snprintf(path, sizeof path,
             "/api/v1/agents/sakura-004/metrics?metric_type=latency&bucket=minute&from=%s&to=%s",
             from, to);
    req(f, "GET", path, NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    items = items_of(&r);
    assert_int_equal(json_array_size(items), 3);
    for (size_t i = 0; i < 3; i++)
        check_bucket(json_array_get(items, i), h0 + at_h0[i] * MIN_US, &in_h0[i], 1);
    tia_http_resp_free(&r);

    /* An agent without points: no buckets. */
    req(f, "GET", "/api/v1/agents/kenji-005/metrics?metric_type=latency", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), 0);
    tia_http_resp_free(&r);

    expect_error(f, "GET", "/api/v1/agents/sakura-004/metrics", NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/agents/sakura-004/metrics?metric_type=latency&bucket=week",
                 NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/agents/sakura-004/metrics?metric_type=latency&from=yesterday",
                 NULL, 400, "bad_request");
    expect_error(f, "GET",
                 "/api/v1/agents/sakura-004/metrics?metric_type=latency&from=2026-02-01T00:00:00Z"
                 "&to=2026-01-01T00:00:00Z",
                 NULL, 400, "bad_request");
    expect_error(f, "GET", "/api/v1/agents/nobody-9/metrics?metric_type=latency", NULL, 404,
                 "not_found");
}

/* ---- prices ---- */

static void test_prices(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    req(f, "GET", "/api/v1/prices", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    size_t before = json_array_size(items_of(&r));
    assert_null(find_by(items_of(&r), "model", "res1-model"));
    tia_http_resp_free(&r);

    /* A decimal string, then a number: both exact. */
    req(f, "PUT", "/api/v1/prices/res1-model", "{\"usd_per_1k_tokens\": \"0.03\"}", &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "model"), "res1-model");
    assert_string_equal(tia_json_str(r.json, "usd_per_1k_tokens"), "0.030000");
    assert_non_null(tia_json_str(r.json, "updated_at"));
    tia_http_resp_free(&r);
    req(f, "PUT", "/api/v1/prices/res1-model", "{\"usd_per_1k_tokens\": 0.015}", &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "usd_per_1k_tokens"), "0.015000");
    tia_http_resp_free(&r);

    req(f, "GET", "/api/v1/prices", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), before + 1);
    const json_t *p = find_by(items_of(&r), "model", "res1-model");
    assert_non_null(p);
    assert_string_equal(tia_json_str(p, "usd_per_1k_tokens"), "0.015000");
    assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
    tia_http_resp_free(&r);

    static const char *const bad[] = {
        "{}",
        "{\"usd_per_1k_tokens\": null}",
        "{\"usd_per_1k_tokens\": -0.01}",
        "{\"usd_per_1k_tokens\": \"-1\"}",
        "{\"usd_per_1k_tokens\": \"cheap\"}",
        "{\"usd_per_1k_tokens\": \"0.0000001\"}",
        "{\"usd_per_1k_tokens\": true}",
        "{\"usd_per_1k_tokens\": 0.01, \"currency\": \"EUR\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(f, "PUT", "/api/v1/prices/res1-model", bad[i], 422, "invalid");
    /* 101 characters of model name: one over the column. */
    char path[256] = "/api/v1/prices/";
    for (int i = 0; i < 101; i++)
        strcat(path, "m");
    expect_error(f, "PUT", path, "{\"usd_per_1k_tokens\": 0.01}", 422, "invalid");
    expect_error(f, "PUT", "/api/v1/prices/res1-model", "{\"usd_per_1k_tokens\": ", 400,
                 "bad_request");
    expect_error(f, "DELETE", "/api/v1/prices/res1-model", NULL, 405, "method_not_allowed");

    /* Nothing above changed the price. */
    req(f, "GET", "/api/v1/prices", NULL, &r);
    p = find_by(items_of(&r), "model", "res1-model");
    assert_string_equal(tia_json_str(p, "usd_per_1k_tokens"), "0.015000");
    tia_http_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_and_get, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_create, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_update_status_delete, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_agent_stats, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_recent_tasks, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_agent_metrics, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_prices, tia_api_setup, tia_api_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
