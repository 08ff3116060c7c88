/*
 * Registry API tests of the task routes, through a real server on both
 * backends: a worker speaking only HTTP (create, claim, heartbeat, complete
 * with tokens and cost, then the agent's and the workflow's counters at once),
 * failures retried and final, a lost lease refused with a stale attempt,
 * cancel and retry, fan-out with spawn, list filters and cursor pages that
 * neither skip nor repeat, exactly-once claims by two concurrent claimers, and
 * every error status the routes answer.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include <tokyoia/agents.h>
#include <tokyoia/engine.h>

#include "../db/engine_test_util.h"
#include "api_test.h"

/* POST /api/v1/tasks for agent with type; the new task's id into id. */
static void create_task(tia_api_fixture *f, const char *agent, const char *type, const char *extra,
                        char id[TIA_UUID_BUF])
{
    json_t *t = tia_api_callf(f, "POST", "/api/v1/tasks", 201,
                      "{\"agent_id\": \"%s\", \"task_type\": \"%s\", \"description\": \"d\"%s}",
                      agent, type, extra ? extra : "");
    snprintf(id, TIA_UUID_BUF, "%s", tia_json_str(t, "id"));
    tia_assert_member(t, "status", "pending");
    json_decref(t);
}

/* Claims for one agent; returns the items array (a new reference). */
static json_t *claim(tia_api_fixture *f, const char *agent, const char *worker, int max)
{
    json_t *r = tia_api_callf(f, "POST", "/api/v1/tasks/claim", 200,
                      "{\"agent_ids\": [\"%s\"], \"worker_id\": \"%s\", \"max\": %d, "
                      "\"lease\": \"30s\"}",
                      agent, worker, max);
    json_t *items = json_incref(json_object_get(r, "items"));
    json_decref(r);
    assert_true(json_is_array(items));
    return items;
}

/* Claims exactly one task of agent and checks it is want_id; returns its attempt. */
static int64_t claim_one(tia_api_fixture *f, const char *agent, const char *worker,
                         const char *want_id)
{
    json_t *items = claim(f, agent, worker, 1);
    assert_int_equal(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    tia_assert_member(json_object_get(it, "task"), "id", want_id);
    tia_assert_member(json_object_get(it, "task"), "status", "running");
    int64_t attempt = tia_json_int(it, "attempt");
    json_decref(items);
    return attempt;
}

static void get_agent(tia_api_fixture *f, const char *id, int64_t *done, int64_t *tokens)
{
    tia_agent *a = NULL;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_agent_get(f->store, id, &a, &err), &err);
    *done = a->total_tasks_completed;
    *tokens = a->total_tokens_used;
    tia_agent_free(a);
}

/* ---- the worker protocol ---- */

static void test_worker_over_http(void **state)
{
    tia_api_fixture *f = *state;
    int64_t done0, tokens0, done1, tokens1;
    get_agent(f, "akira-001", &done0, &tokens0);

    /* A two-task workflow; the second depends on the first. */
    json_t *wf =
        tia_api_callf(f, "POST", "/api/v1/workflows", 201,
              "{\"name\": \"http worker\", \"tasks\": ["
              "{\"key\": \"a\", \"agent_id\": \"akira-001\", \"task_type\": \"code_review\", "
              "\"description\": \"review\", \"timeout\": \"2m\"},"
              "{\"key\": \"b\", \"agent_id\": \"yuki-002\", \"task_type\": \"unit_tests\", "
              "\"description\": \"test\", \"depends_on\": [\"a\"]}]}");
    char wf_id[TIA_UUID_BUF], a_id[TIA_UUID_BUF], b_id[TIA_UUID_BUF];
    snprintf(wf_id, sizeof wf_id, "%s", tia_json_str(wf, "id"));
    json_t *tasks = json_object_get(wf, "tasks");
    assert_int_equal(json_array_size(tasks), 2);
    snprintf(a_id, sizeof a_id, "%s", tia_json_str(json_array_get(tasks, 0), "id"));
    snprintf(b_id, sizeof b_id, "%s", tia_json_str(json_array_get(tasks, 1), "id"));
    json_decref(wf);

    /* yuki's task waits for akira's: nothing to claim yet. */
    json_t *none = claim(f, "yuki-002", "w-yuki", 5);
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);

    json_t *items = claim(f, "akira-001", "w-akira", 5);
    assert_int_equal(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    tia_assert_member(json_object_get(it, "task"), "id", a_id);
    assert_int_equal(tia_json_int(it, "attempt"), 1);
    assert_int_equal(tia_json_int(it, "lease_ms"), 30000);
    assert_int_equal(tia_json_int(it, "timeout_ms"), 120000);
    assert_int_equal(tia_json_int(it, "max_retries"), 3);
    tia_assert_member(it, "agent_model", "claude-opus-4.1");
    json_decref(items);

    char path[256];
    snprintf(path, sizeof path, "/api/v1/tasks/%s/heartbeat", a_id);
    json_t *hb = tia_api_callf(f, "POST", path, 200,
                       "{\"worker_id\": \"w-akira\", \"attempt\": 1, \"lease_ms\": 60000}");
    assert_true(json_is_false(json_object_get(hb, "cancel_requested")));
    json_decref(hb);

    snprintf(path, sizeof path, "/api/v1/tasks/%s/complete", a_id);
    json_t *t = tia_api_callf(f, "POST", path, 200,
                      "{\"worker_id\": \"w-akira\", \"attempt\": 1, \"output_data\": "
                      "{\"findings\": 2}, \"tokens_used\": 1200, \"cost_usd\": 0.018}");
    tia_assert_member(t, "status", "completed");
    assert_int_equal(tia_json_int(t, "tokens_used"), 1200);
    tia_assert_member(t, "cost_usd", "0.018000");
    assert_int_equal(tia_json_int(json_object_get(t, "output_data"), "findings"), 2);
    json_decref(t);

    /* Right afterwards: the agent's counters and the workflow's. */
    get_agent(f, "akira-001", &done1, &tokens1);
    assert_int_equal(done1, done0 + 1);
    assert_int_equal(tokens1, tokens0 + 1200);
    snprintf(path, sizeof path, "/api/v1/workflows/%s", wf_id);
    wf = tia_api_callf(f, "GET", path, 200, NULL);
    tia_assert_member(wf, "status", "running");
    assert_int_equal(tia_json_int(wf, "total_tasks"), 2);
    assert_int_equal(tia_json_int(wf, "completed_tasks"), 1);
    assert_int_equal(tia_json_int(wf, "total_tokens_used"), 1200);
    tia_assert_member(wf, "total_cost_usd", "0.018000");
    /* The handoff to yuki was recorded. */
    json_t *in = json_object_get(wf, "interactions");
    assert_int_equal(json_array_size(in), 1);
    tia_assert_member(json_array_get(in, 0), "interaction_type", "handoff");
    json_decref(wf);

    /* The second task, reported with input and output tokens and a cost as text. */
    int64_t attempt = claim_one(f, "yuki-002", "w-yuki", b_id);
    snprintf(path, sizeof path, "/api/v1/tasks/%s/complete", b_id);
    char body[256];
    snprintf(body, sizeof body,
             "{\"worker_id\": \"w-yuki\", \"attempt\": %lld, \"input_tokens\": 300, "
             "\"output_tokens\": 200, \"cost_usd\": \"0.002\"}",
             (long long)attempt);
    t = tia_api_callf(f, "POST", path, 200, "%s", body);
    assert_int_equal(tia_json_int(t, "tokens_used"), 500);
    json_decref(t);
    snprintf(path, sizeof path, "/api/v1/workflows/%s", wf_id);
    wf = tia_api_callf(f, "GET", path, 200, NULL);
    tia_assert_member(wf, "status", "completed");
    assert_int_equal(tia_json_int(wf, "completed_tasks"), 2);
    assert_int_equal(tia_json_int(wf, "total_tokens_used"), 1700);
    tia_assert_member(wf, "total_cost_usd", "0.020000");
    json_decref(wf);
    assert_counters_agree(f->store);
}

static void test_fail_retryable_and_final(void **state)
{
    tia_api_fixture *f = *state;
    char id[TIA_UUID_BUF], path[256], body[256];
    create_task(f, "hiro-003", "ci_cd", ", \"max_retries\": 1", id);
    int64_t a1 = claim_one(f, "hiro-003", "w1", id);
    snprintf(path, sizeof path, "/api/v1/tasks/%s/fail", id);
    snprintf(body, sizeof body,
             "{\"worker_id\": \"w1\", \"attempt\": %lld, \"error_message\": \"flaky\", "
             "\"retryable\": true}",
             (long long)a1);
    json_t *t = tia_api_callf(f, "POST", path, 200, "%s", body);
    tia_assert_member(t, "status", "pending"); /* one retry left */
    assert_int_equal(tia_json_int(t, "retry_count"), 1);
    json_decref(t);

    ready_now(f->store, id);
    int64_t a2 = claim_one(f, "hiro-003", "w2", id);
    assert_int_equal(a2, a1 + 1);
    snprintf(body, sizeof body,
             "{\"worker_id\": \"w2\", \"attempt\": %lld, \"error_message\": \"still flaky\"}",
             (long long)a2);
    t = tia_api_callf(f, "POST", path, 200, "%s", body);
    tia_assert_member(t, "status", "failed"); /* retryable by default, but no retry left */
    tia_assert_member(t, "error_message", "still flaky");
    json_decref(t);

    /* A final failure fails at once, whatever the retries left. */
    char id2[TIA_UUID_BUF];
    create_task(f, "hiro-003", "ci_cd", NULL, id2);
    int64_t a = claim_one(f, "hiro-003", "w3", id2);
    snprintf(path, sizeof path, "/api/v1/tasks/%s/fail", id2);
    snprintf(body, sizeof body,
             "{\"worker_id\": \"w3\", \"attempt\": %lld, \"error_message\": \"bad input\", "
             "\"retryable\": false}",
             (long long)a);
    t = tia_api_callf(f, "POST", path, 200, "%s", body);
    tia_assert_member(t, "status", "failed");
    assert_int_equal(tia_json_int(t, "retry_count"), 0);
    json_decref(t);

    tia_api_expect_error(f, "POST", path, "{\"worker_id\": \"w3\", \"attempt\": 1, \"retryable\": \"no\"}",
                 422, "invalid");
    /* The task has ended: the same report again is a lost lease. */
    tia_api_expect_error(f, "POST", path, body, 409, "conflict");
    assert_counters_agree(f->store);
}

static void test_lost_lease(void **state)
{
    tia_api_fixture *f = *state;
    char id[TIA_UUID_BUF], path[256], body[256];
    create_task(f, "sakura-004", "documentation", NULL, id);
    int64_t a1 = claim_one(f, "sakura-004", "old", id);

    /* The lease expires; the reaper gives the task back, another worker takes it. */
    char pg[256], lite[256];
    snprintf(pg, sizeof pg,
             "UPDATE agent_tasks SET lease_expires_at = now() - interval '1 second' "
             "WHERE id = '%s'",
             id);
    snprintf(lite, sizeof lite, "UPDATE agent_tasks SET lease_expires_at = 0 WHERE id = '%s'", id);
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_test_exec(f->store, pg, lite, &err), &err);
    int64_t reaped = 0;
    TIA_OK_OR_FAIL(tia_engine_reap(f->store, &reaped, &err), &err);
    assert_int_equal(reaped, 1);
    ready_now(f->store, id);
    int64_t a2 = claim_one(f, "sakura-004", "new", id);
    assert_int_equal(a2, a1 + 1);

    /* The old worker's heartbeat and completion name a stale attempt: 409, nothing written. */
    snprintf(path, sizeof path, "/api/v1/tasks/%s/heartbeat", id);
    snprintf(body, sizeof body, "{\"worker_id\": \"old\", \"attempt\": %lld}", (long long)a1);
    tia_api_expect_error(f, "POST", path, body, 409, "conflict");
    snprintf(path, sizeof path, "/api/v1/tasks/%s/complete", id);
    snprintf(body, sizeof body,
             "{\"worker_id\": \"old\", \"attempt\": %lld, \"tokens_used\": 99, "
             "\"output_data\": \"late\"}",
             (long long)a1);
    tia_api_expect_error(f, "POST", path, body, 409, "conflict");
    /* The right attempt with the wrong worker is no better. */
    snprintf(body, sizeof body, "{\"worker_id\": \"old\", \"attempt\": %lld}", (long long)a2);
    tia_api_expect_error(f, "POST", path, body, 409, "conflict");
    snprintf(path, sizeof path, "/api/v1/tasks/%s", id);
    json_t *t = tia_api_callf(f, "GET", path, 200, NULL);
    tia_assert_member(t, "status", "running");
    assert_int_equal(tia_json_int(t, "tokens_used"), 0);
    json_decref(t);

    /* The new holder completes. */
    snprintf(path, sizeof path, "/api/v1/tasks/%s/complete", id);
    snprintf(body, sizeof body, "{\"worker_id\": \"new\", \"attempt\": %lld, \"tokens_used\": 7}",
             (long long)a2);
    t = tia_api_callf(f, "POST", path, 200, "%s", body);
    tia_assert_member(t, "status", "completed");
    assert_int_equal(tia_json_int(t, "tokens_used"), 7);
    json_decref(t);

    /* Unknown and malformed ids are 404; bad members 422. */
    tia_api_expect_error(f, "POST", "/api/v1/tasks/01900000-0000-7000-8000-00000000ffff/complete",
                 "{\"worker_id\": \"w\", \"attempt\": 1}", 404, "not_found");
    tia_api_expect_error(f, "POST", "/api/v1/tasks/01900000-0000-7000-8000-00000000ffff/fail",
                 "{\"worker_id\": \"w\", \"attempt\": 1}", 404, "not_found");
    tia_api_expect_error(f, "POST", "/api/v1/tasks/not-a-uuid/heartbeat",
                 "{\"worker_id\": \"w\", \"attempt\": 1}", 404, "not_found");
    tia_api_expect_error(f, "POST", path, "{\"worker_id\": \"new\"}", 422, "invalid");
    tia_api_expect_error(f, "POST", path, "{\"attempt\": 1}", 422, "invalid");
    tia_api_expect_error(f, "POST", path, "{\"worker_id\": \"new\", \"attempt\": 0}", 422, "invalid");
    tia_api_expect_error(f, "POST", path, "{\"worker_id\": \"new\", \"attempt\": 1, \"tokens\": 5}", 422,
                 "invalid");
    tia_api_expect_error(f, "POST", path, "{\"worker_id\": \"new\", \"attempt\": 1, \"cost_usd\": -0.5}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", path,
                 "{\"worker_id\": \"new\", \"attempt\": 1, \"tokens_used\": 5, "
                 "\"input_tokens\": 1, \"output_tokens\": 1}",
                 422, "invalid");
    snprintf(path, sizeof path, "/api/v1/tasks/%s/heartbeat", id);
    tia_api_expect_error(f, "POST", path, "{\"worker_id\": \"new\", \"attempt\": 1, \"lease\": \"soon\"}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", path, "{\"worker_id\": \"new\", \"attempt\": 1, \"lease_ms\": 10}", 422,
                 "invalid");
    tia_api_expect_error(f, "POST", path, "not json", 400, "bad_request");
}

static void test_cancel_and_retry(void **state)
{
    tia_api_fixture *f = *state;
    char id[TIA_UUID_BUF], path[256], body[256];
    create_task(f, "kenji-005", "architecture", NULL, id);
    snprintf(path, sizeof path, "/api/v1/tasks/%s/cancel", id);
    json_t *t = tia_api_callf(f, "POST", path, 200, NULL);
    tia_assert_member(t, "status", "cancelled");
    json_decref(t);
    tia_api_expect_error(f, "POST", path, NULL, 409, "conflict");

    snprintf(path, sizeof path, "/api/v1/tasks/%s/retry", id);
    t = tia_api_callf(f, "POST", path, 200, NULL);
    tia_assert_member(t, "status", "pending");
    json_decref(t);
    tia_api_expect_error(f, "POST", path, NULL, 409, "conflict"); /* pending: nothing to retry */

    /* A running task is asked to stop: its heartbeat says so, and its failure ends it cancelled. */
    int64_t a = claim_one(f, "kenji-005", "wk", id);
    snprintf(path, sizeof path, "/api/v1/tasks/%s/cancel", id);
    t = tia_api_callf(f, "POST", path, 200, NULL);
    tia_assert_member(t, "status", "running");
    json_decref(t);
    snprintf(path, sizeof path, "/api/v1/tasks/%s/heartbeat", id);
    snprintf(body, sizeof body, "{\"worker_id\": \"wk\", \"attempt\": %lld}", (long long)a);
    json_t *hb = tia_api_callf(f, "POST", path, 200, "%s", body);
    assert_true(json_is_true(json_object_get(hb, "cancel_requested")));
    json_decref(hb);
    snprintf(path, sizeof path, "/api/v1/tasks/%s/fail", id);
    snprintf(body, sizeof body,
             "{\"worker_id\": \"wk\", \"attempt\": %lld, \"error_message\": \"stopped\"}",
             (long long)a);
    t = tia_api_callf(f, "POST", path, 200, "%s", body);
    tia_assert_member(t, "status", "cancelled");
    json_decref(t);

    tia_api_expect_error(f, "POST", "/api/v1/tasks/01900000-0000-7000-8000-00000000ffff/cancel", NULL, 404,
                 "not_found");
    tia_api_expect_error(f, "POST", "/api/v1/tasks/01900000-0000-7000-8000-00000000ffff/retry", NULL, 404,
                 "not_found");
    tia_api_expect_error(f, "POST", "/api/v1/tasks/zzz/retry", NULL, 404, "not_found");
    assert_counters_agree(f->store);
}

static void test_spawn(void **state)
{
    tia_api_fixture *f = *state;
    char id[TIA_UUID_BUF], path[256], body[1024];
    create_task(f, "akira-001", "security_audit", NULL, id);
    int64_t a = claim_one(f, "akira-001", "wp", id);
    snprintf(path, sizeof path, "/api/v1/tasks/%s/spawn", id);
    int64_t tasks0 = tia_test_int(f->store, "SELECT count(*) FROM agent_tasks",
                                  "SELECT count(*) FROM agent_tasks");

    /* Refusals first, each writing nothing. */
    snprintf(body, sizeof body,
             "{\"worker_id\": \"wp\", \"attempt\": %lld, \"tasks\": [{\"agent_id\": "
             "\"yuki-002\", \"task_type\": \"t\", \"description\": \"d\"}, {\"agent_id\": "
             "\"nobody-999\", \"task_type\": \"t\", \"description\": \"d\"}]}",
             (long long)a);
    tia_api_expect_error(f, "POST", path, body, 422, "invalid");
    snprintf(body, sizeof body, "{\"worker_id\": \"wp\", \"attempt\": %lld, \"tasks\": []}",
             (long long)a);
    tia_api_expect_error(f, "POST", path, body, 422, "invalid");
    snprintf(body, sizeof body,
             "{\"worker_id\": \"wp\", \"attempt\": %lld, \"tasks\": [{\"agent_id\": "
             "\"yuki-002\", \"task_type\": \"t\"}]}",
             (long long)a);
    tia_api_expect_error(f, "POST", path, body, 422, "invalid");
    snprintf(body, sizeof body,
             "{\"worker_id\": \"other\", \"attempt\": %lld, \"tasks\": [{\"agent_id\": "
             "\"yuki-002\", \"task_type\": \"t\", \"description\": \"d\"}]}",
             (long long)a);
    tia_api_expect_error(f, "POST", path, body, 409, "conflict");
    tia_api_expect_error(f, "POST", "/api/v1/tasks/01900000-0000-7000-8000-00000000ffff/spawn",
                 "{\"worker_id\": \"wp\", \"attempt\": 1, \"tasks\": [{\"agent_id\": "
                 "\"yuki-002\", \"task_type\": \"t\", \"description\": \"d\"}]}",
                 404, "not_found");
    assert_int_equal(tia_test_int(f->store, "SELECT count(*) FROM agent_tasks",
                                  "SELECT count(*) FROM agent_tasks"),
                     tasks0);

    snprintf(body, sizeof body,
             "{\"worker_id\": \"wp\", \"attempt\": %lld, \"tasks\": ["
             "{\"agent_id\": \"yuki-002\", \"task_type\": \"fuzz\", \"description\": \"fuzz it\", "
             "\"input_data\": {\"target\": \"parser\"}},"
             "{\"agent_id\": \"yuki-002\", \"task_type\": \"bench\", \"description\": \"bench "
             "it\"}]}",
             (long long)a);
    json_t *r = tia_api_callf(f, "POST", path, 201, "%s", body);
    json_t *subs = json_object_get(r, "items");
    assert_int_equal(json_array_size(subs), 2);
    for (size_t i = 0; i < 2; i++)
        tia_assert_member(json_array_get(subs, i), "parent_task_id", id);
    tia_assert_member(json_object_get(json_array_get(subs, 0), "input_data"), "target", "parser");
    json_decref(r);

    /* The parent's worker is done; the parent completes with its last subtask. */
    snprintf(path, sizeof path, "/api/v1/tasks/%s/complete", id);
    snprintf(body, sizeof body, "{\"worker_id\": \"wp\", \"attempt\": %lld}", (long long)a);
    json_t *t = tia_api_callf(f, "POST", path, 200, "%s", body);
    tia_assert_member(t, "status", "running");
    json_decref(t);
    json_t *items = claim(f, "yuki-002", "wy", 10);
    assert_int_equal(json_array_size(items), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *it = json_array_get(items, i);
        const char *sid = tia_json_str(json_object_get(it, "task"), "id");
        snprintf(path, sizeof path, "/api/v1/tasks/%s/complete", sid);
        snprintf(body, sizeof body, "{\"worker_id\": \"wy\", \"attempt\": %lld}",
                 (long long)tia_json_int(it, "attempt"));
        json_decref(tia_api_callf(f, "POST", path, 200, "%s", body));
    }
    json_decref(items);
    snprintf(path, sizeof path, "/api/v1/tasks/%s", id);
    t = tia_api_callf(f, "GET", path, 200, NULL);
    tia_assert_member(t, "status", "completed");
    json_decref(t);
    assert_counters_agree(f->store);
}

/* ---- create, get, list ---- */

static void test_create_and_get(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    const char *body = "{\"agent_id\": \"akira-001\", \"task_type\": \"code_review\", "
                       "\"description\": \"Review PR 42\", \"input_data\": {\"pr\": 42}, "
                       "\"metadata\": {\"team\": \"core\"}, \"priority\": 5, "
                       "\"max_retries\": 2, \"timeout_ms\": 60000}";
    tia_http(f, "POST", "/api/v1/tasks", body, NULL, &r);
    TIA_ASSERT_STATUS(&r, 201);
    const char *id = tia_json_str(r.json, "id");
    assert_non_null(id);
    char *loc = tia_http_header(&r, "Location");
    char want[128];
    snprintf(want, sizeof want, "/api/v1/tasks/%s", id);
    assert_non_null(loc);
    assert_string_equal(loc, want);
    free(loc);
    tia_assert_member(r.json, "agent_id", "akira-001");
    assert_true(json_is_null(json_object_get(r.json, "workflow_id")));
    assert_int_equal(tia_json_int(json_object_get(r.json, "input_data"), "pr"), 42);
    tia_assert_member(json_object_get(r.json, "metadata"), "team", "core");
    tia_assert_member(r.json, "cost_usd", "0.000000");
    json_t *got = tia_api_callf(f, "GET", want, 200, NULL);
    assert_true(json_equal(got, r.json));
    json_decref(got);
    assert_int_equal(task_int(f->store, id, "priority"), 5);
    assert_int_equal(task_int(f->store, id, "max_retries"), 2);
    assert_int_equal(task_int(f->store, id, "timeout_ms"), 60000);
    tia_http_resp_free(&r);

    /* Idempotency: the header's key, then the body's; a replay is 200 with the same task. */
    static const char *const hdr[] = {"Idempotency-Key: task-key-1", NULL};
    tia_http_opts o = {.headers = hdr};
    const char *b2 = "{\"agent_id\": \"yuki-002\", \"task_type\": \"t\", \"description\": \"d\"}";
    tia_http(f, "POST", "/api/v1/tasks", b2, &o, &r);
    TIA_ASSERT_STATUS(&r, 201);
    char first[TIA_UUID_BUF];
    snprintf(first, sizeof first, "%s", tia_json_str(r.json, "id"));
    tia_http_resp_free(&r);
    int64_t n0 = tia_test_int(f->store, "SELECT count(*) FROM agent_tasks",
                              "SELECT count(*) FROM agent_tasks");
    tia_http(f, "POST", "/api/v1/tasks", b2, &o, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "id"), first);
    tia_http_resp_free(&r);
    json_t *again = tia_api_callf(f, "POST", "/api/v1/tasks", 200,
                          "{\"agent_id\": \"yuki-002\", \"task_type\": \"t\", \"description\": "
                          "\"d\", \"idempotency_key\": \"task-key-1\"}");
    tia_assert_member(again, "id", first);
    json_decref(again);
    assert_int_equal(tia_test_int(f->store, "SELECT count(*) FROM agent_tasks",
                                  "SELECT count(*) FROM agent_tasks"),
                     n0);
    tia_http(f, "POST", "/api/v1/tasks",
             "{\"agent_id\": \"yuki-002\", \"task_type\": \"t\", \"description\": \"d\", "
             "\"idempotency_key\": \"other\"}",
             &o, &r);
    tia_assert_api_error(&r, 422, "invalid");
    tia_http_resp_free(&r);
    /* An empty key is refused, not taken as a key every empty one would share. */
    static const char *const empty[] = {"Idempotency-Key;", NULL};
    tia_http_opts oe = {.headers = empty};
    tia_http(f, "POST", "/api/v1/tasks", b2, &oe, &r);
    tia_assert_api_error(&r, 422, "invalid");
    tia_http_resp_free(&r);
    tia_api_expect_error(f, "POST", "/api/v1/tasks",
                         "{\"agent_id\": \"yuki-002\", \"task_type\": \"t\", \"description\": "
                         "\"d\", \"idempotency_key\": \"\"}",
                         422, "invalid");
    assert_int_equal(tia_test_int(f->store, "SELECT count(*) FROM agent_tasks",
                                  "SELECT count(*) FROM agent_tasks"),
                     n0);

    /* Bad members: 422, nothing written. */
    tia_api_expect_error(f, "POST", "/api/v1/tasks", "{\"task_type\": \"t\", \"description\": \"d\"}", 422,
                 "invalid");
    tia_api_expect_error(f, "POST", "/api/v1/tasks",
                 "{\"agent_id\": \"nobody-999\", \"task_type\": \"t\", \"description\": \"d\"}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", "/api/v1/tasks",
                 "{\"agent_id\": \"akira-001\", \"task_type\": \"t\", \"description\": \"d\", "
                 "\"priorty\": 1}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", "/api/v1/tasks",
                 "{\"agent_id\": \"akira-001\", \"task_type\": \"t\", \"description\": \"d\", "
                 "\"priority\": \"high\"}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", "/api/v1/tasks",
                 "{\"agent_id\": \"akira-001\", \"task_type\": \"t\", \"description\": \"d\", "
                 "\"timeout\": \"1m\", \"timeout_ms\": 5}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", "/api/v1/tasks",
                 "{\"agent_id\": \"akira-001\", \"task_type\": \"t\", \"description\": \"d\", "
                 "\"max_retries\": 101}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", "/api/v1/tasks",
                 "{\"agent_id\": \"akira-001\", \"task_type\": \"t\", \"description\": \"d\", "
                 "\"workflow_id\": \"01900000-0000-7000-8000-00000000ffff\"}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", "/api/v1/tasks",
                 "{\"agent_id\": \"akira-001\", \"task_type\": \"t\", \"description\": \"d\", "
                 "\"depends_on\": [\"x\"]}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", "/api/v1/tasks", "[1, 2]", 400, "bad_request");
    assert_int_equal(tia_test_int(f->store, "SELECT count(*) FROM agent_tasks",
                                  "SELECT count(*) FROM agent_tasks"),
                     n0);

    /* A task may join a running workflow, not one that has ended (409). */
    json_t *wf = tia_api_callf(f, "POST", "/api/v1/workflows", 201,
                       "{\"name\": \"w\", \"tasks\": [{\"key\": \"k\", \"agent_id\": "
                       "\"sakura-004\", \"task_type\": \"t\", \"description\": \"d\"}]}");
    char wf_id[TIA_UUID_BUF], path[256];
    snprintf(wf_id, sizeof wf_id, "%s", tia_json_str(wf, "id"));
    json_decref(wf);
    char extra[128];
    snprintf(extra, sizeof extra, ", \"workflow_id\": \"%s\"", wf_id);
    char joined[TIA_UUID_BUF];
    create_task(f, "akira-001", "extra", extra, joined);
    snprintf(path, sizeof path, "/api/v1/workflows/%s/cancel", wf_id);
    json_decref(tia_api_callf(f, "POST", path, 200, NULL));
    char late[512];
    snprintf(late, sizeof late,
             "{\"agent_id\": \"akira-001\", \"task_type\": \"t\", \"description\": \"d\", "
             "\"workflow_id\": \"%s\"}",
             wf_id);
    tia_api_expect_error(f, "POST", "/api/v1/tasks", late, 409, "conflict");

    tia_api_expect_error(f, "GET", "/api/v1/tasks/01900000-0000-7000-8000-00000000ffff", NULL, 404,
                 "not_found");
    tia_api_expect_error(f, "GET", "/api/v1/tasks/42", NULL, 404, "not_found");
}

/* Walks every page of path (which ends in a query) and collects ids; returns how many. */
static size_t walk(tia_api_fixture *f, const char *path, char ids[][TIA_UUID_BUF], size_t max,
                   const char *insert_agent)
{
    char url[512], cursor[TIA_CURSOR_BUF] = "";
    size_t n = 0;
    int pages = 0;
    for (;;) {
        if (cursor[0])
            snprintf(url, sizeof url, "%s&cursor=%s", path, cursor);
        else
            snprintf(url, sizeof url, "%s", path);
        json_t *page = tia_api_callf(f, "GET", url, 200, NULL);
        json_t *items = json_object_get(page, "items");
        assert_true(json_is_array(items));
        for (size_t i = 0; i < json_array_size(items); i++) {
            assert_true(n < max);
            snprintf(ids[n++], TIA_UUID_BUF, "%s", tia_json_str(json_array_get(items, i), "id"));
        }
        json_t *next = json_object_get(page, "next_cursor");
        if (json_is_null(next)) {
            json_decref(page);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(page);
        /* A task created between pages must not shift the next page. */
        if (insert_agent && pages++ == 0) {
            char id[TIA_UUID_BUF];
            create_task(f, insert_agent, "between", NULL, id);
        }
    }
    return n;
}

static void test_list_filters_and_pages(void **state)
{
    tia_api_fixture *f = *state;
    enum { N = 7 };
    char made[N][TIA_UUID_BUF], got[N + 4][TIA_UUID_BUF], other[TIA_UUID_BUF];
    for (int i = 0; i < N; i++)
        create_task(f, "kenji-005", "design", NULL, made[i]);
    create_task(f, "hiro-003", "ops", NULL, other);

    size_t n = walk(f, "/api/v1/tasks?agent_id=kenji-005&limit=3", got, N + 4, "kenji-005");
    assert_int_equal(n, N);
    for (int i = 0; i < N; i++) /* newest first, each once */
        assert_string_equal(got[i], made[N - 1 - i]);

    /* Filters: status, and workflow. */
    int64_t a = claim_one(f, "hiro-003", "w", other);
    char path[256], body[128];
    snprintf(path, sizeof path, "/api/v1/tasks/%s/complete", other);
    snprintf(body, sizeof body, "{\"worker_id\": \"w\", \"attempt\": %lld}", (long long)a);
    json_decref(tia_api_callf(f, "POST", path, 200, "%s", body));
    json_t *page = tia_api_callf(f, "GET", "/api/v1/tasks?agent_id=hiro-003&status=completed", 200, NULL);
    json_t *items = json_object_get(page, "items");
    assert_int_equal(json_array_size(items), 1);
    tia_assert_member(json_array_get(items, 0), "id", other);
    assert_true(json_is_null(json_object_get(page, "next_cursor")));
    json_decref(page);
    page = tia_api_callf(f, "GET", "/api/v1/tasks?agent_id=hiro-003&status=failed", 200, NULL);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 0);
    assert_true(json_is_array(json_object_get(page, "items")));
    json_decref(page);

    json_t *wf = tia_api_callf(f, "POST", "/api/v1/workflows", 201,
                       "{\"name\": \"w\", \"tasks\": [{\"key\": \"k\", \"agent_id\": "
                       "\"kenji-005\", \"task_type\": \"t\", \"description\": \"d\"}]}");
    snprintf(path, sizeof path, "/api/v1/tasks?workflow_id=%s", tia_json_str(wf, "id"));
    page = tia_api_callf(f, "GET", path, 200, NULL);
    items = json_object_get(page, "items");
    assert_int_equal(json_array_size(items), 1);
    tia_assert_member(json_array_get(items, 0), "id",
                  tia_json_str(json_array_get(json_object_get(wf, "tasks"), 0), "id"));
    json_decref(page);
    json_decref(wf);

    tia_api_expect_error(f, "GET", "/api/v1/tasks?limit=0", NULL, 400, "bad_request");
    tia_api_expect_error(f, "GET", "/api/v1/tasks?limit=1001", NULL, 400, "bad_request");
    tia_api_expect_error(f, "GET", "/api/v1/tasks?status=done", NULL, 400, "bad_request");
    tia_api_expect_error(f, "GET", "/api/v1/tasks?cursor=garbage", NULL, 400, "bad_request");
    tia_api_expect_error(f, "GET", "/api/v1/tasks?workflow_id=nope", NULL, 400, "bad_request");
}

/* ---- claims ---- */

static void test_claim_errors(void **state)
{
    tia_api_fixture *f = *state;
    const char *p = "/api/v1/tasks/claim";
    tia_api_expect_error(f, "POST", p, "{\"worker_id\": \"w\"}", 422, "invalid");
    tia_api_expect_error(f, "POST", p, "{\"agent_ids\": [], \"worker_id\": \"w\"}", 422, "invalid");
    tia_api_expect_error(f, "POST", p, "{\"agent_ids\": \"akira-001\", \"worker_id\": \"w\"}", 422,
                 "invalid");
    tia_api_expect_error(f, "POST", p, "{\"agent_ids\": [\"akira-001\"]}", 422, "invalid");
    tia_api_expect_error(f, "POST", p, "{\"agent_ids\": [\"akira-001\"], \"worker_id\": \"w\", \"max\": 0}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", p,
                 "{\"agent_ids\": [\"akira-001\"], \"worker_id\": \"w\", \"lease\": \"500ms\"}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", p,
                 "{\"agent_ids\": [\"akira-001\"], \"worker_id\": \"w\", \"lease\": \"forever\"}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", p, "{\"agent_ids\": [\"akira-001\"], \"worker_id\": \"w\", \"x\": 1}",
                 422, "invalid");
    tia_api_expect_error(f, "GET", p, NULL, 404, "not_found"); /* GET /tasks/{id} with id "claim" */
    /* Auth is on: a worker without a token is refused before anything is claimed. */
    tia_http_resp r;
    tia_http_opts none = {.token = ""};
    tia_http(f, "POST", p, "{\"agent_ids\": [\"akira-001\"], \"worker_id\": \"w\"}", &none, &r);
    tia_assert_api_error(&r, 401, "unauthorized");
    tia_http_resp_free(&r);
    /* Nothing ready: an empty list, not null. */
    json_t *items = claim(f, "akira-001", "w", 10);
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
}

enum { CONC_TASKS = 40 };

typedef struct claimer {
    tia_api_fixture *f;
    const char *worker;
    char ids[CONC_TASKS][TIA_UUID_BUF];
    size_t n;
    int errors;
    char error[256];
} claimer;

/* Claims (3 at a time) and completes until nothing is left; only records, never asserts. */
static void *claim_loop(void *arg)
{
    claimer *k = arg;
    char body[256], path[128];
    snprintf(body, sizeof body,
             "{\"agent_ids\": [\"hiro-003\"], \"worker_id\": \"%s\", \"max\": 3}", k->worker);
    for (;;) {
        tia_http_resp r;
        tia_http(k->f, "POST", "/api/v1/tasks/claim", body, NULL, &r);
        json_t *items = r.json ? json_object_get(r.json, "items") : NULL;
        if (r.status != 200 || !json_is_array(items)) {
            k->errors++;
            snprintf(k->error, sizeof k->error, "claim: %ld %.200s", r.status, r.body);
            tia_http_resp_free(&r);
            break;
        }
        size_t got = json_array_size(items);
        for (size_t i = 0; i < got && k->n < CONC_TASKS; i++) {
            json_t *it = json_array_get(items, i);
            const char *id = tia_json_str(json_object_get(it, "task"), "id");
            snprintf(k->ids[k->n++], TIA_UUID_BUF, "%s", id ? id : "");
            char done[128];
            snprintf(path, sizeof path, "/api/v1/tasks/%s/complete", id ? id : "x");
            snprintf(done, sizeof done, "{\"worker_id\": \"%s\", \"attempt\": %lld}", k->worker,
                     (long long)json_integer_value(json_object_get(it, "attempt")));
            tia_http_resp c;
            tia_http(k->f, "POST", path, done, NULL, &c);
            if (c.status != 200) {
                k->errors++;
                snprintf(k->error, sizeof k->error, "complete: %ld %.200s", c.status, c.body);
            }
            tia_http_resp_free(&c);
        }
        tia_http_resp_free(&r);
        if (got == 0)
            break;
    }
    return NULL;
}

static void test_concurrent_claims(void **state)
{
    tia_api_fixture *f = *state;
    char made[CONC_TASKS][TIA_UUID_BUF];
    for (int i = 0; i < CONC_TASKS; i++)
        create_task(f, "hiro-003", "deploy", NULL, made[i]);
    claimer *k = calloc(2, sizeof *k);
    assert_non_null(k);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        k[i].f = f;
        k[i].worker = i == 0 ? "claimer-a" : "claimer-b";
        assert_int_equal(pthread_create(&th[i], NULL, claim_loop, &k[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++)
        if (k[i].errors)
            fail_msg("%s: %d error(s), last: %s", k[i].worker, k[i].errors, k[i].error);
    /* Every task claimed exactly once: the two lists together are the tasks, no repeats. */
    assert_int_equal(k[0].n + k[1].n, CONC_TASKS);
    for (int t = 0; t < CONC_TASKS; t++) {
        int seen = 0;
        for (int i = 0; i < 2; i++)
            for (size_t j = 0; j < k[i].n; j++)
                seen += strcmp(k[i].ids[j], made[t]) == 0;
        if (seen != 1)
            fail_msg("task %s claimed %d times", made[t], seen);
    }
    assert_int_equal(tia_test_int(f->store,
                                  "SELECT count(*) FROM agent_tasks WHERE status = 'completed' "
                                  "AND agent_id = 'hiro-003' AND attempt = 1",
                                  "SELECT count(*) FROM agent_tasks WHERE status = 'completed' "
                                  "AND agent_id = 'hiro-003' AND attempt = 1"),
                     CONC_TASKS);
    free(k);
    assert_counters_agree(f->store);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before the threads of test_concurrent_claims */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_worker_over_http, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_fail_retryable_and_final, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_lost_lease, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_retry, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_spawn, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_create_and_get, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_list_filters_and_pages, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_claim_errors, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_claims, tia_api_setup, tia_api_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
