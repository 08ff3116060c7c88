/*
 * The original Registry API's paths, replayed as its clients call them: auth
 * off (no token), bodies often without a Content-Type, both backends. Checks
 * the seed schema's field names exactly, costs as JSON numbers, 201 on create,
 * bare arrays that are [] when empty, {"error": "..."} bodies, 404 for a PUT
 * on an unknown task, a PUT that goes through the engine's state machine
 * (counters, dependents and the workflow's end as for a worker; illegal moves
 * 409), and SQL metacharacters and Unicode stored literally and read back
 * byte for byte.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include <tokyoia/agents.h>
#include <tokyoia/tasks.h>

#include "../db/engine_test_util.h"
#include "api_test.h"

static int setup(void **state)
{
    tia_api_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tia_server_config cfg = {0};
    cfg.auth = TIA_AUTH_OFF; /* a trusted network, where the original clients send no token */
    tia_api_start(f, &cfg);
    *state = f;
    return 0;
}

/*
 * A request as an original client sends it: no Authorization, and a body
 * without any Content-Type (curl's own is suppressed). Returns the JSON answer
 * after checking the status.
 */
static json_t *bare(tia_api_fixture *f, const char *method, const char *path, const char *body,
                    long want)
{
    char url[2048];
    tia_http_buf b = {0};
    long status = 0;
    struct curl_slist *h = NULL;
    snprintf(url, sizeof url, "%s%s", f->base, path);
    CURL *cu = curl_easy_init();
    assert_non_null(cu);
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, tia_http_buf_append);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
    h = curl_slist_append(h, "Content-Type:");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
    if (body) {
        curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    CURLcode cc = curl_easy_perform(cu);
    if (cc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(cc));
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(cu);
    json_t *j = b.p ? json_loadb(b.p, b.n, JSON_DECODE_ANY, NULL) : NULL;
    if (status != want)
        fail_msg("%s %s %s: status %ld, want %ld; body: %s", method, path, body ? body : "", status,
                 want, b.p ? b.p : "");
    free(b.p);
    return j;
}

/* The same with a Content-Type: application/json (and still no token). */
static json_t *typed(tia_api_fixture *f, const char *method, const char *path, const char *body,
                     long want)
{
    tia_http_resp r;
    tia_http_opts o = {.token = ""};
    tia_http(f, method, path, body, &o, &r);
    if (r.status != want)
        fail_msg("%s %s %s: status %ld, want %ld; body: %s", method, path, body ? body : "",
                 r.status, want, r.body);
    json_t *j = json_incref(r.json);
    tia_http_resp_free(&r);
    return j;
}

/* An error of the original API: status, and a body that is exactly {"error": "<text>"}. */
static void expect_error(tia_api_fixture *f, const char *method, const char *path, const char *body,
                         long status)
{
    json_t *j = bare(f, method, path, body, status);
    if (!json_is_object(j) || json_object_size(j) != 1 ||
        !json_is_string(json_object_get(j, "error")) ||
        json_string_length(json_object_get(j, "error")) == 0)
        fail_msg("%s %s: not an {\"error\": \"...\"} body", method, path);
    json_decref(j);
}

/* Asserts that o has exactly the members in keys (NULL-terminated). */
static void assert_keys(const json_t *o, const char *const *keys)
{
    size_t n = 0;
    assert_true(json_is_object(o));
    for (; keys[n]; n++)
        if (json_object_get(o, keys[n]) == NULL)
            fail_msg("member %s is missing", keys[n]);
    if (json_object_size(o) != n) {
        char *text = json_dumps(o, JSON_COMPACT);
        fail_msg("%zu members, want %zu: %s", json_object_size(o), n, text ? text : "");
    }
}

static const char *const task_keys[] = {
    "id",          "agent_id",    "workflow_id",   "task_type",      "description",  "status",
    "input_data",  "output_data", "error_message", "started_at",     "completed_at", "duration_ms",
    "tokens_used", "cost_usd",    "retry_count",   "parent_task_id", "created_at",   "metadata",
    NULL};
static const char *const workflow_keys[] = {"id",
                                            "name",
                                            "description",
                                            "status",
                                            "workflow_type",
                                            "initiator",
                                            "total_tasks",
                                            "completed_tasks",
                                            "failed_tasks",
                                            "started_at",
                                            "completed_at",
                                            "duration_ms",
                                            "total_tokens_used",
                                            "total_cost_usd",
                                            "created_at",
                                            "updated_at",
                                            "metadata",
                                            NULL};
static const char *const agent_keys[] = {"id",
                                         "name",
                                         "role",
                                         "model",
                                         "specialties",
                                         "backstory",
                                         "personality_emoji",
                                         "status",
                                         "total_tasks_completed",
                                         "total_tokens_used",
                                         "average_latency_ms",
                                         "success_rate",
                                         "created_at",
                                         "updated_at",
                                         "metadata",
                                         NULL};
static const char *const stats_keys[] = {"id",           "name",
                                         "role",         "status",
                                         "total_tasks",  "completed_tasks",
                                         "failed_tasks", "total_tokens",
                                         "total_cost",   "avg_duration_ms",
                                         "success_rate", NULL};
static const char *const metric_keys[] = {
    "id", "agent_id", "metric_type", "metric_value", "metric_unit", "recorded_at", "context", NULL};

/* A cost member: a JSON number (not text) equal to want. */
static void assert_cost_number(const json_t *o, const char *key, double want)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("%s is not a JSON number", key);
    if (json_number_value(v) != want)
        fail_msg("%s is %.9g, want %.9g", key, json_number_value(v), want);
}

/* POST /api/tasks as an original client; returns the task's id into id. */
static void create_task(tia_api_fixture *f, const char *agent, const char *workflow,
                        char id[TIA_UUID_BUF])
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"agent_id\": \"%s\", \"workflow_id\": \"%s\", \"task_type\": \"code_review\", "
             "\"description\": \"Review PR 42\", \"input_data\": {\"pr\": 42}}",
             agent, workflow ? workflow : "");
    json_t *t = bare(f, "POST", "/api/tasks", body, 201);
    assert_keys(t, task_keys);
    snprintf(id, TIA_UUID_BUF, "%s", tia_json_str(t, "id"));
    json_decref(t);
}

/* PUT /api/tasks/{id} with body; returns the answer (want must match). */
static json_t *put(tia_api_fixture *f, const char *id, const char *body, long want)
{
    char path[128];
    snprintf(path, sizeof path, "/api/tasks/%s", id);
    return bare(f, "PUT", path, body, want);
}

static json_t *get_path(tia_api_fixture *f, const char *fmt, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, fmt, id);
    return bare(f, "GET", path, NULL, 200);
}

/* ---- agents ---- */

/* POST /api/v1/agents with an Origin header (NULL: none); returns the status. */
static long post_agent_from(tia_api_fixture *f, const char *id, const char *origin)
{
    char body[200], hdr[300];
    snprintf(body, sizeof body,
             "{\"id\": \"%s\", \"name\": \"n\", \"role\": \"r\", "
             "\"model\": \"m\"}",
             id);
    snprintf(hdr, sizeof hdr, "Origin: %s", origin ? origin : "");
    const char *headers[] = {hdr, NULL};
    tia_http_opts o = {.token = "", .headers = origin ? headers : NULL};
    tia_http_resp r;
    tia_http(f, "POST", "/api/v1/agents", body, &o, &r);
    long status = r.status;
    tia_http_resp_free(&r);
    return status;
}

/*
 * Without tokens, a write that a browser sends from another site's page (its
 * Origin is not this server) is refused with 403 and writes nothing: any page
 * the operator opened could otherwise cancel or retry work. The server's own
 * pages, and clients that send no Origin, write as before; reads from anywhere
 * are answered.
 */
static void test_foreign_origin_write_refused(void **state)
{
    tia_api_fixture *f = *state;
    assert_int_equal(post_agent_from(f, "evil-001", "https://evil.example"), 403);
    assert_int_equal(post_agent_from(f, "evil-002", "null"), 403);
    tia_agent *a = NULL;
    tia_error err = {0};
    assert_int_equal(tia_agent_get(f->store, "evil-001", &a, &err), TIA_ENOTFOUND);
    assert_int_equal(tia_agent_get(f->store, "evil-002", &a, &err), TIA_ENOTFOUND);
    assert_int_equal(post_agent_from(f, "own-001", f->base), 201);
    assert_int_equal(post_agent_from(f, "cli-001", NULL), 201);
    const char *headers[] = {"Origin: https://evil.example", NULL};
    tia_http_opts o = {.token = "", .headers = headers};
    tia_http_resp r;
    tia_http(f, "GET", "/api/v1/agents/own-001", NULL, &o, &r);
    assert_int_equal(r.status, 200);
    tia_http_resp_free(&r);
}

static void test_agents(void **state)
{
    tia_api_fixture *f = *state;
    json_t *l = bare(f, "GET", "/api/agents", NULL, 200);
    assert_true(json_is_array(l));
    assert_int_equal(json_array_size(l), 5);
    for (size_t i = 0; i < 5; i++)
        assert_keys(json_array_get(l, i), agent_keys);
    tia_assert_member(json_array_get(l, 0), "id", "akira-001");
    json_decref(l);

    json_t *a = bare(f, "GET", "/api/agents/yuki-002", NULL, 200);
    assert_keys(a, agent_keys);
    tia_assert_member(a, "model", "openai-o3");
    json_decref(a);
    expect_error(f, "GET", "/api/agents/nobody-999", NULL, 404);
    expect_error(f, "GET",
                 "/api/agents/an-id-much-longer-than-the-fifty-characters-of-the-column", NULL,
                 404);

    json_t *st = bare(f, "GET", "/api/agents/akira-001/stats", NULL, 200);
    assert_keys(st, stats_keys);
    assert_int_equal(tia_json_int(st, "total_tasks"), 0);
    assert_cost_number(st, "total_cost", 0.0);
    assert_cost_number(st, "success_rate", 100.0);
    json_decref(st);
    expect_error(f, "GET", "/api/agents/nobody-999/stats", NULL, 404);

    /* Recent tasks: [] when there are none, then the newest first, limited. */
    json_t *none = bare(f, "GET", "/api/agents/kenji-005/tasks", NULL, 200);
    assert_true(json_is_array(none));
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);
    char ids[3][TIA_UUID_BUF];
    for (int i = 0; i < 3; i++)
        create_task(f, "kenji-005", NULL, ids[i]);
    json_t *two = bare(f, "GET", "/api/agents/kenji-005/tasks?limit=2", NULL, 200);
    assert_int_equal(json_array_size(two), 2);
    tia_assert_member(json_array_get(two, 0), "id", ids[2]);
    tia_assert_member(json_array_get(two, 1), "id", ids[1]);
    assert_keys(json_array_get(two, 0), task_keys);
    json_decref(two);
    expect_error(f, "GET", "/api/agents/nobody-999/tasks", NULL, 404);
    expect_error(f, "GET", "/api/agents/%E4%BE%8D%E4%BE%8D%E4%BE%8D/tasks", NULL, 404);
    expect_error(f, "GET", "/api/agents/kenji-005/tasks?limit=0", NULL, 400);
    expect_error(f, "GET", "/api/agents/kenji-005/tasks?limit=many", NULL, 400);
}

/* ---- the original clients' life cycle ---- */

static void test_client_replay(void **state)
{
    tia_api_fixture *f = *state;
    json_t *w = bare(f, "POST", "/api/workflows",
                     "{\"name\": \"Review PR 42\", \"description\": \"nightly\", "
                     "\"workflow_type\": \"code_review\", \"initiator\": \"cron\", "
                     "\"metadata\": {\"pr\": 42}}",
                     201);
    assert_keys(w, workflow_keys);
    tia_assert_member(w, "status", "pending");
    tia_assert_member(w, "initiator", "cron");
    assert_cost_number(w, "total_cost_usd", 0.0);
    char wf[TIA_UUID_BUF];
    snprintf(wf, sizeof wf, "%s", tia_json_str(w, "id"));
    json_decref(w);

    char t1[TIA_UUID_BUF], t2[TIA_UUID_BUF];
    create_task(f, "akira-001", wf, t1);
    create_task(f, "yuki-002", wf, t2);
    json_t *t = get_path(f, "/api/workflows/%s/tasks", wf);
    assert_int_equal(json_array_size(t), 2);
    tia_assert_member(json_array_get(t, 0), "id", t1);
    tia_assert_member(json_array_get(t, 0), "workflow_id", wf);
    assert_cost_number(json_array_get(t, 0), "cost_usd", 0.0);
    json_decref(t);

    /* running, then completed with tokens and cost; an empty error_message as Go sends it. */
    t = put(f, t1, "{\"status\": \"running\"}", 200);
    assert_keys(t, task_keys);
    tia_assert_member(t, "status", "running");
    assert_non_null(tia_json_str(t, "started_at"));
    json_decref(t);
    w = get_path(f, "/api/workflows/%s", wf);
    tia_assert_member(w, "status", "running");
    json_decref(w);
    t = typed(f, "PUT", "/api/tasks/x", "{\"status\": \"running\"}", 404);
    json_decref(t);
    char path[128];
    snprintf(path, sizeof path, "/api/tasks/%s", t1);
    t = typed(f, "PUT", path,
              "{\"status\": \"completed\", \"output_data\": {\"verdict\": \"approve\"}, "
              "\"error_message\": \"\", \"tokens_used\": 1200, \"cost_usd\": 0.018}",
              200);
    assert_keys(t, task_keys);
    tia_assert_member(t, "status", "completed");
    assert_int_equal(tia_json_int(t, "tokens_used"), 1200);
    assert_cost_number(t, "cost_usd", 0.018);
    tia_assert_member(json_object_get(t, "output_data"), "verdict", "approve");
    assert_true(json_is_null(json_object_get(t, "error_message")));
    assert_true(tia_json_int(t, "duration_ms") >= 0);
    json_decref(t);

    /* The counters, right afterwards. */
    w = get_path(f, "/api/workflows/%s", wf);
    tia_assert_member(w, "status", "running"); /* yuki's task is still pending */
    assert_int_equal(tia_json_int(w, "total_tasks"), 2);
    assert_int_equal(tia_json_int(w, "completed_tasks"), 1);
    assert_int_equal(tia_json_int(w, "total_tokens_used"), 1200);
    assert_cost_number(w, "total_cost_usd", 0.018);
    json_decref(w);
    json_t *a = bare(f, "GET", "/api/agents/akira-001", NULL, 200);
    assert_int_equal(tia_json_int(a, "total_tasks_completed"), 1);
    assert_int_equal(tia_json_int(a, "total_tokens_used"), 1200);
    json_decref(a);
    json_t *st = bare(f, "GET", "/api/agents/akira-001/stats", NULL, 200);
    assert_int_equal(tia_json_int(st, "completed_tasks"), 1);
    assert_int_equal(tia_json_int(st, "total_tokens"), 1200);
    assert_cost_number(st, "total_cost", 0.018);
    json_decref(st);

    /* The metric points the completion recorded, with the seed's column names. */
    json_t *m =
        bare(f, "GET", "/api/metrics?agent_id=akira-001&metric_type=tokens&limit=5", NULL, 200);
    assert_int_equal(json_array_size(m), 1);
    assert_keys(json_array_get(m, 0), metric_keys);
    assert_cost_number(json_array_get(m, 0), "metric_value", 1200.0);
    tia_assert_member(json_array_get(m, 0), "metric_unit", "tokens");
    json_decref(m);
    m = bare(f, "GET", "/api/metrics?agent_id=akira-001", NULL, 200);
    assert_int_equal(json_array_size(m), 3); /* latency, tokens, cost */
    json_decref(m);
    m = bare(f, "GET", "/api/metrics?agent_id=kenji-005", NULL, 200);
    assert_true(json_is_array(m));
    assert_int_equal(json_array_size(m), 0);
    json_decref(m);
    expect_error(f, "GET", "/api/metrics?limit=0", NULL, 400);

    /* The second task fails: the workflow fails, failed_tasks counts it. */
    json_decref(put(f, t2, "{\"status\": \"running\"}", 200));
    t = put(f, t2,
            "{\"status\": \"failed\", \"error_message\": \"tests crashed\", \"tokens_used\": 40, "
            "\"cost_usd\": \"0.0012\"}",
            200);
    tia_assert_member(t, "status", "failed");
    tia_assert_member(t, "error_message", "tests crashed");
    assert_int_equal(tia_json_int(t, "tokens_used"), 40);
    assert_cost_number(t, "cost_usd", 0.0012);
    json_decref(t);
    w = get_path(f, "/api/workflows/%s", wf);
    tia_assert_member(w, "status", "failed");
    assert_int_equal(tia_json_int(w, "failed_tasks"), 1);
    assert_int_equal(tia_json_int(w, "total_tokens_used"), 1240);
    assert_cost_number(w, "total_cost_usd", 0.0192);
    json_decref(w);

    json_t *l = bare(f, "GET", "/api/workflows?limit=10", NULL, 200);
    assert_int_equal(json_array_size(l), 1);
    assert_keys(json_array_get(l, 0), workflow_keys);
    json_decref(l);
    expect_error(f, "GET", "/api/workflows?limit=100000", NULL, 400);
    assert_counters_agree(f->store);
}

/* ---- PUT through the state machine ---- */

static void test_put_state_machine(void **state)
{
    tia_api_fixture *f = *state;
    char id[TIA_UUID_BUF];
    create_task(f, "hiro-003", NULL, id);
    expect_error(f, "PUT", "/api/tasks/01900000-0000-7000-8000-00000000ffff",
                 "{\"status\": \"completed\"}", 404);
    expect_error(f, "PUT", "/api/tasks/not-a-task", "{\"status\": \"completed\"}", 404);
    char path[128];
    snprintf(path, sizeof path, "/api/tasks/%s", id);
    /* pending -> completed skips running: refused, nothing written. */
    expect_error(f, "PUT", path, "{\"status\": \"completed\", \"tokens_used\": 5}", 409);
    expect_error(f, "PUT", path, "{\"status\": \"failed\"}", 409);
    expect_status(f->store, id, "pending");
    assert_int_equal(task_int(f->store, id, "tokens_used"), 0);
    expect_error(f, "PUT", path, "{\"status\": \"pending\"}", 422);
    expect_error(f, "PUT", path, "{\"status\": \"done\"}", 422);
    expect_error(f, "PUT", path, "{\"tokens_used\": 5}", 422);
    expect_error(f, "PUT", path, "{\"status\": \"running\", \"tokens_used\": \"many\"}", 422);
    expect_error(f, "PUT", path, "{\"status\": \"completed\", \"cost_usd\": -1}", 422);
    expect_error(f, "PUT", path, "{\"status\": ", 400);
    json_decref(put(f, id, "{\"status\": \"running\"}", 200));
    expect_error(f, "PUT", path, "{\"status\": \"running\"}", 409);
    json_t *t =
        put(f, id, "{\"status\": \"cancelled\", \"error_message\": \"no longer needed\"}", 200);
    tia_assert_member(t, "status", "cancelled");
    tia_assert_member(t, "error_message", "no longer needed");
    json_decref(t);
    expect_error(f, "PUT", path, "{\"status\": \"completed\"}", 409);
    expect_error(f, "PUT", path, "{\"status\": \"cancelled\"}", 409);

    /* Dependents: a task waiting for another cannot start; the completion readies it. */
    json_t *w = typed(f, "POST", "/api/v1/workflows",
                      "{\"name\": \"chain\", \"tasks\": [{\"key\": \"a\", \"agent_id\": "
                      "\"akira-001\", \"task_type\": \"code_review\", \"description\": \"a\"}, "
                      "{\"key\": \"b\", \"agent_id\": \"yuki-002\", \"task_type\": "
                      "\"unit_tests\", \"description\": \"b\", \"depends_on\": [\"a\"]}]}",
                      201);
    char wf[TIA_UUID_BUF], a[TIA_UUID_BUF], b[TIA_UUID_BUF];
    snprintf(wf, sizeof wf, "%s", tia_json_str(w, "id"));
    snprintf(a, sizeof a, "%s", tia_json_str(json_array_get(json_object_get(w, "tasks"), 0), "id"));
    snprintf(b, sizeof b, "%s", tia_json_str(json_array_get(json_object_get(w, "tasks"), 1), "id"));
    json_decref(w);
    snprintf(path, sizeof path, "/api/tasks/%s", b);
    expect_error(f, "PUT", path, "{\"status\": \"running\"}", 409);
    json_decref(put(f, a, "{\"status\": \"running\"}", 200));
    json_decref(put(f, a, "{\"status\": \"completed\", \"output_data\": {\"ok\": true}}", 200));
    assert_int_equal(task_int(f->store, b, "deps_pending"), 0);
    t = get_path(f, "/api/workflows/%s/tasks", wf);
    json_t *bt = json_array_get(t, 1);
    tia_assert_member(bt, "id", b);
    json_t *up = json_object_get(json_object_get(json_object_get(bt, "input_data"), "upstream"),
                                 "code_review");
    tia_assert_member(up, "task_id", a); /* the output passed along, as for a worker's completion */
    json_decref(t);
    assert_int_equal(tia_test_int(f->store,
                                  "SELECT count(*) FROM agent_interactions WHERE "
                                  "interaction_type = 'handoff'",
                                  "SELECT count(*) FROM agent_interactions WHERE "
                                  "interaction_type = 'handoff'"),
                     1);
    json_decref(put(f, b, "{\"status\": \"running\"}", 200));
    json_decref(put(f, b, "{\"status\": \"completed\", \"tokens_used\": 10}", 200));
    w = get_path(f, "/api/workflows/%s", wf);
    tia_assert_member(w, "status", "completed");
    assert_int_equal(tia_json_int(w, "completed_tasks"), 2);
    json_decref(w);

    /* A failure cancels the dependents and fails the workflow. */
    w = typed(f, "POST", "/api/v1/workflows",
              "{\"name\": \"chain2\", \"tasks\": [{\"key\": \"a\", \"agent_id\": "
              "\"akira-001\", \"task_type\": \"t\", \"description\": \"a\"}, "
              "{\"key\": \"b\", \"agent_id\": \"yuki-002\", \"task_type\": \"t\", "
              "\"description\": \"b\", \"depends_on\": [\"a\"]}]}",
              201);
    snprintf(wf, sizeof wf, "%s", tia_json_str(w, "id"));
    snprintf(a, sizeof a, "%s", tia_json_str(json_array_get(json_object_get(w, "tasks"), 0), "id"));
    snprintf(b, sizeof b, "%s", tia_json_str(json_array_get(json_object_get(w, "tasks"), 1), "id"));
    json_decref(w);
    json_decref(put(f, a, "{\"status\": \"running\"}", 200));
    json_decref(put(f, a, "{\"status\": \"failed\", \"error_message\": \"\"}", 200));
    expect_status(f->store, a, "failed");
    expect_status(f->store, b, "cancelled");
    w = get_path(f, "/api/workflows/%s", wf);
    tia_assert_member(w, "status", "failed");
    json_decref(w);

    /* A task a worker holds: the PUT completes it on the worker's lease, which is then lost. */
    char held[TIA_UUID_BUF];
    create_task(f, "sakura-004", NULL, held);
    json_t *c = typed(f, "POST", "/api/v1/tasks/claim",
                      "{\"agent_ids\": [\"sakura-004\"], \"worker_id\": \"w\"}", 200);
    json_t *it = json_array_get(json_object_get(c, "items"), 0);
    tia_assert_member(json_object_get(it, "task"), "id", held);
    json_decref(c);
    t = put(f, held, "{\"status\": \"completed\", \"tokens_used\": 3}", 200);
    tia_assert_member(t, "status", "completed");
    json_decref(t);
    char body[128];
    snprintf(path, sizeof path, "/api/v1/tasks/%s/complete", held);
    snprintf(body, sizeof body, "{\"worker_id\": \"w\", \"attempt\": 1}");
    json_decref(typed(f, "POST", path, body, 409));
    assert_counters_agree(f->store);
}

/* ---- bodies, errors, literal text ---- */

static void test_errors_and_literals(void **state)
{
    tia_api_fixture *f = *state;
    int64_t n0 = tia_test_int(f->store, "SELECT count(*) FROM agent_tasks",
                              "SELECT count(*) FROM agent_tasks");
    expect_error(f, "POST", "/api/tasks", "{\"task_type\": \"t\", \"description\": \"d\"}", 422);
    expect_error(f, "POST", "/api/tasks",
                 "{\"agent_id\": \"ghost-1\", \"task_type\": \"t\", \"description\": \"d\"}", 422);
    expect_error(f, "POST", "/api/tasks",
                 "{\"agent_id\": \"akira-001\", \"workflow_id\": \"01900000-0000-7000-8000-"
                 "00000000ffff\", \"task_type\": \"t\", \"description\": \"d\"}",
                 422);
    expect_error(f, "POST", "/api/tasks",
                 "{\"agent_id\": \"akira-001\", \"task_type\": 7, \"description\": \"d\"}", 422);
    expect_error(f, "POST", "/api/tasks", "{not json", 400);
    expect_error(f, "POST", "/api/workflows", "{\"description\": \"no name\"}", 422);
    expect_error(f, "GET", "/api/workflows/01900000-0000-7000-8000-00000000ffff", NULL, 404);
    expect_error(f, "GET", "/api/workflows/01900000-0000-7000-8000-00000000ffff/tasks", NULL, 404);
    expect_error(f, "GET", "/api/workflows/42/tasks", NULL, 404);
    assert_int_equal(tia_test_int(f->store, "SELECT count(*) FROM agent_tasks",
                                  "SELECT count(*) FROM agent_tasks"),
                     n0);

    /* Members the original clients marshal but this API does not use are tolerated. */
    json_t *t = typed(f, "POST", "/api/tasks",
                      "{\"id\": \"\", \"agent_id\": \"akira-001\", \"workflow_id\": \"\", "
                      "\"task_type\": \"t\", \"description\": \"d\", \"input_data\": null, "
                      "\"status\": \"\"}",
                      201);
    assert_true(json_is_null(json_object_get(t, "workflow_id")));
    assert_true(json_is_null(json_object_get(t, "input_data")));
    tia_assert_member(t, "status", "pending");
    json_decref(t);

    /* SQL metacharacters and Unicode, stored literally and read back byte for byte. */
    const char *nasty_name = "x'); DROP TABLE workflows; -- \xe4\xbe\x8d \"q\" \\ %_";
    const char *nasty_desc = "Robert'); DROP TABLE agent_tasks;-- \xe2\x9d\x84\xef\xb8\x8f "
                             "\xf0\x9f\x8c\xb8 ' OR '1'='1 ; SELECT * FROM user_sessions";
    json_t *wb = json_pack("{s:s, s:s, s:{s:s}}", "name", nasty_name, "workflow_type",
                           "' OR 1=1 --", "metadata", "note", "\xf0\x9f\x9b\xa1\xef\xb8\x8f';--");
    char *wtext = json_dumps(wb, JSON_COMPACT);
    json_t *w = bare(f, "POST", "/api/workflows", wtext, 201);
    free(wtext);
    char wf[TIA_UUID_BUF];
    snprintf(wf, sizeof wf, "%s", tia_json_str(w, "id"));
    tia_assert_member(w, "name", nasty_name);
    tia_assert_member(w, "workflow_type", "' OR 1=1 --");
    assert_true(json_equal(json_object_get(w, "metadata"), json_object_get(wb, "metadata")));
    json_decref(w);

    json_t *tb =
        json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:[s, s]}}", "agent_id", "akira-001", "workflow_id",
                  wf, "task_type", "x' OR '1'='1", "description", nasty_desc, "input_data", "q",
                  "'; DELETE FROM agents; --", "list", "\xe4\xbe\x8d", "%00");
    char *ttext = json_dumps(tb, JSON_COMPACT);
    t = bare(f, "POST", "/api/tasks", ttext, 201);
    free(ttext);
    char id[TIA_UUID_BUF];
    snprintf(id, sizeof id, "%s", tia_json_str(t, "id"));
    json_decref(t);
    json_t *back = get_path(f, "/api/workflows/%s/tasks", wf);
    assert_int_equal(json_array_size(back), 1);
    t = json_array_get(back, 0);
    tia_assert_member(t, "task_type", "x' OR '1'='1");
    tia_assert_member(t, "description", nasty_desc);
    assert_true(json_equal(json_object_get(t, "input_data"), json_object_get(tb, "input_data")));
    json_decref(back);
    w = get_path(f, "/api/workflows/%s", wf);
    tia_assert_member(w, "name", nasty_name);
    json_decref(w);
    /* The library reads the same bytes, and every table is still there. */
    tia_task *lt = NULL;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_task_get(f->store, id, &lt, &err), &err);
    assert_string_equal(lt->description, nasty_desc);
    tia_task_free(lt);
    assert_int_equal(
        tia_test_int(f->store, "SELECT count(*) FROM agents", "SELECT count(*) FROM agents"), 5);
    json_decref(wb);
    json_decref(tb);

    /* A completion's output with the same text comes back identical through PUT. */
    json_decref(put(f, id, "{\"status\": \"running\"}", 200));
    json_t *ob = json_pack("{s:s, s:{s:s}, s:s}", "status", "completed", "output_data", "sql",
                           "'; DROP TABLE agents; --\xe2\x9d\x84\xef\xb8\x8f", "error_message", "");
    char *otext = json_dumps(ob, JSON_COMPACT);
    t = put(f, id, otext, 200);
    free(otext);
    assert_true(json_equal(json_object_get(t, "output_data"), json_object_get(ob, "output_data")));
    json_decref(t);
    json_decref(ob);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agents, setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_client_replay, setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_put_state_machine, setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_errors_and_literals, setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_origin_write_refused, setup, tia_api_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
