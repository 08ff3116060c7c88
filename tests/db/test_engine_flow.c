/*
 * Workflows running through the engine, on both backends: a DAG (the
 * code_review template) run to the end in dependency order with its handoffs
 * and upstream outputs; retries with a growing backoff and then a final failure
 * that cancels the dependents and fails the workflow; cancellation of a
 * workflow and of a task; manual retry; fan-out and fan-in through subtasks.
 * After each, the counters must equal a recomputation from agent_tasks.
 */
#include <math.h>

#include "engine_test_util.h"

#include <jansson.h>

#include <tokyoia/tasks.h>
#include <tokyoia/workflows.h>

static const char *const all_agents[5] = {"akira-001", "yuki-002", "hiro-003", "sakura-004",
                                          "kenji-005"};

static int setup(void **state)
{
    *state = tia_test_open();
    return 0;
}

static int teardown(void **state)
{
    tia_test_close(*state);
    return 0;
}

static tia_workflow *get_workflow(tia_store *s, const char *id)
{
    tia_error err = {0};
    tia_workflow *w = NULL;
    TIA_OK_OR_FAIL(tia_workflow_get(s, id, &w, &err), &err);
    return w;
}

/* Claims what is ready for any agent. */
static void claim_any(tia_store *s, const char *worker, struct tia_claim_list *l)
{
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_engine_claim(s, all_agents, 5, worker, 100, 60000, l, &err), &err);
}

static void complete_claim(tia_store *s, const tia_claim *c, const char *worker, int64_t tokens)
{
    tia_error err = {0};
    char out[200];
    snprintf(out, sizeof out, "{\"done_by\": \"%s\", \"n\": [1, null, true]}", c->task->task_type);
    tia_completion k = completion_of(c, worker, out, tokens);
    TIA_OK_OR_FAIL(tia_engine_complete(s, &k, &err), &err);
}

static int64_t count_where(tia_store *s, const char *table, const char *cond)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s", table, cond);
    return tia_test_int(s, sql, sql);
}

static void test_dag_runs_in_order(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_template *tpl = NULL;
    tia_workflow_spec spec;
    TIA_OK_OR_FAIL(tia_template_load("code_review", NULL, &tpl, &err), &err);
    TIA_OK_OR_FAIL(tia_template_spec(tpl, "{\"pr\": 42}", &spec, &err), &err);
    char wf[TIA_UUID_BUF], ids[5][TIA_UUID_BUF];
    int created = 0;
    assert_int_equal(spec.n_tasks, 5);
    TIA_OK_OR_FAIL(tia_engine_submit(s, &spec, wf, ids, &created, &err), &err);

    /* Its dependency edges, the same whichever case the id is written in. */
    struct tia_task_edge_list edges = {0};
    TIA_OK_OR_FAIL(tia_workflow_edges(s, wf, 100, &edges, &err), &err);
    size_t n_edges = edges.n;
    assert_true(n_edges >= 4);
    tia_task_edge_list_free(&edges);
    char upper[TIA_UUID_BUF];
    for (int i = 0; i < TIA_UUID_BUF; i++)
        upper[i] = (char)((wf[i] >= 'a' && wf[i] <= 'f') ? wf[i] - 32 : wf[i]);
    TIA_OK_OR_FAIL(tia_workflow_edges(s, upper, 100, &edges, &err), &err);
    assert_int_equal(edges.n, n_edges);
    tia_task_edge_list_free(&edges);

    /* Run rounds: claim everything ready, complete it, until nothing is left. */
    char order[5][40];
    int n_done = 0, rounds = 0;
    char *doc_input = NULL;
    while (n_done < 5 && rounds++ < 10) {
        struct tia_claim_list l;
        claim_any(s, "w", &l);
        assert_true(l.n > 0);
        for (size_t i = 0; i < l.n; i++) {
            if (strcmp(l.items[i].task->task_type, "documentation") == 0)
                doc_input = strdup(l.items[i].task->input_data);
            snprintf(order[n_done++], sizeof order[0], "%s", l.items[i].task->task_type);
            complete_claim(s, &l.items[i], "w", 10);
        }
        tia_claim_list_free(&l);
    }
    assert_int_equal(n_done, 5);
    /* Rounds follow the graph: {security_audit, code_review}, unit_tests, ci_cd, documentation. */
    assert_string_equal(order[2], "unit_tests");
    assert_string_equal(order[3], "ci_cd");
    assert_string_equal(order[4], "documentation");

    /* The documentation task received every upstream output, and the template's input. */
    assert_non_null(doc_input);
    json_t *in = json_loads(doc_input, 0, NULL);
    assert_non_null(in);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(in, "input"), "pr")), 42);
    json_t *up = json_object_get(in, "upstream");
    assert_int_equal(json_object_size(up), 4);
    json_t *ci = json_object_get(up, "ci_cd");
    assert_string_equal(json_string_value(json_object_get(ci, "task_id")), ids[3]);
    json_t *out = json_object_get(ci, "output");
    assert_string_equal(json_string_value(json_object_get(out, "done_by")), "ci_cd");
    assert_true(json_is_null(json_array_get(json_object_get(out, "n"), 1)));
    json_decref(in);
    free(doc_input);

    /*
     * A handoff when a task of another agent becomes ready: code_review (akira)
     * readies unit_tests (yuki), which readies ci_cd (hiro), which readies
     * documentation (sakura), the last of its four dependencies.
     */
    char cond[200];
    snprintf(cond, sizeof cond, "workflow_id = '%.36s' AND interaction_type = 'handoff'", wf);
    assert_int_equal(count_where(s, "agent_interactions", cond), 3);
    snprintf(cond, sizeof cond,
             "workflow_id = '%.36s' AND from_agent_id = 'hiro-003' AND to_agent_id = 'sakura-004'",
             wf);
    assert_int_equal(count_where(s, "agent_interactions", cond), 1);
    snprintf(cond, sizeof cond,
             "workflow_id = '%.36s' AND from_agent_id = 'yuki-002' AND to_agent_id = 'hiro-003'",
             wf);
    assert_int_equal(count_where(s, "agent_interactions", cond), 1);
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT payload FROM agent_interactions WHERE workflow_id = '%.36s' "
             "AND to_agent_id = 'hiro-003'",
             wf);
    char *payload = tia_test_text(s, sql, sql);
    json_t *pl = json_loads(payload, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(pl, "from_task")), ids[2]);
    assert_string_equal(json_string_value(json_object_get(pl, "to_task")), ids[3]);
    json_decref(pl);
    free(payload);

    tia_workflow *w = get_workflow(s, wf);
    assert_int_equal(w->status, TIA_COMPLETED);
    assert_int_equal(w->total_tasks, 5);
    assert_int_equal(w->completed_tasks, 5);
    assert_int_equal(w->total_tokens_used, 50);
    assert_true(w->started_at != TIA_TIME_NONE && w->completed_at >= w->started_at);
    assert_int_equal(w->duration_ms, llround((w->completed_at - w->started_at) / 1000.0));
    tia_workflow_free(w);
    assert_counters_agree(s);
    tia_template_free(tpl);
}

/*
 * Fails the claimed task c (retryable) and returns the backoff it got, in ms,
 * checking it against [0, bound]. The database clock is this machine's, read to
 * the millisecond, so the failure happened between t0 and t1 of ours.
 */
static int64_t fail_and_measure(tia_store *s, const tia_claim *c, const char *worker, int64_t bound)
{
    tia_error err = {0};
    int64_t t0 = tia_now_us();
    TIA_OK_OR_FAIL(tia_engine_fail(s, c->task->id, worker, c->attempt, "flaky", 1, &err), &err);
    int64_t t1 = tia_now_us();
    int64_t run_after = task_time(s, c->task->id, "run_after");
    if (run_after < t0 - 2000 || run_after > t1 + bound * 1000 + 2000)
        fail_msg("run_after %lld outside [%lld, %lld + %lld ms]", (long long)run_after,
                 (long long)t0, (long long)t1, (long long)bound);
    return (run_after - t0) / 1000;
}

static void test_backoff_grows(void **state)
{
    tia_store *s = *state;
    enum { N = 30, LEVELS = 4 };
    char ids[N][TIA_UUID_BUF];
    for (int i = 0; i < N; i++) {
        tia_task_spec t = spec_for(NULL, "yuki-002", "flaky");
        t.max_retries = 10;
        submit_one(s, &t, ids[i]);
    }
    double mean[LEVELS];
    for (int k = 0; k < LEVELS; k++) {
        struct tia_claim_list l;
        claim_agent(s, "yuki-002", "w", N, &l);
        assert_int_equal(l.n, N);
        int64_t sum = 0, bound = TIA_BACKOFF_BASE_MS << k;
        for (size_t i = 0; i < l.n; i++) {
            sum += fail_and_measure(s, &l.items[i], "w", bound);
            assert_int_equal(task_int(s, l.items[i].task->id, "retry_count"), k + 1);
            expect_status(s, l.items[i].task->id, "pending");
        }
        tia_claim_list_free(&l);
        mean[k] = (double)sum / N;
        /* A task is claimable exactly when its backoff has ended. */
        int64_t tc0 = tia_now_us();
        claim_agent(s, "yuki-002", "w", N, &l);
        int64_t tc1 = tia_now_us();
        for (int i = 0; i < N; i++) {
            int claimed = 0;
            for (size_t j = 0; j < l.n; j++)
                claimed |= strcmp(l.items[j].task->id, ids[i]) == 0;
            int64_t run_after = task_time(s, ids[i], "run_after");
            if (claimed ? run_after > tc1 + 2000 : run_after <= tc0 - 2000)
                fail_msg("task %d %s with run_after %lld, claim between %lld and %lld", i,
                         claimed ? "claimed" : "not claimed", (long long)run_after, (long long)tc0,
                         (long long)tc1);
        }
        for (size_t i = 0; i < l.n; i++) { /* put them back as they were */
            tia_error err = {0};
            TIA_OK_OR_FAIL(
                tia_engine_fail(s, l.items[i].task->id, "w", l.items[i].attempt, "undo", 1, &err),
                &err);
            char sql[160];
            snprintf(sql, sizeof sql,
                     "UPDATE agent_tasks SET retry_count = retry_count - 1 WHERE id = '%.36s'",
                     l.items[i].task->id);
            exec_both(s, sql);
        }
        tia_claim_list_free(&l);
        for (int i = 0; i < N; i++)
            ready_now(s, ids[i]);
    }
    /* Full jitter over a doubling bound: the mean delay doubles level after level. */
    for (int k = 1; k < LEVELS; k++)
        if (!(mean[k] > mean[k - 1]))
            fail_msg("mean backoff at retry %d (%.0f ms) not above retry %d (%.0f ms)", k, mean[k],
                     k - 1, mean[k - 1]);
    assert_true(mean[LEVELS - 1] > 1000.0);
    assert_counters_agree(s);
}

/* a -> b -> c, plus d independent; a fails for good after its retries. */
static void submit_chain(tia_store *s, char wf[TIA_UUID_BUF], char ids[4][TIA_UUID_BUF],
                         int max_retries)
{
    tia_error err = {0};
    tia_task_spec t[4] = {spec_for("a", "akira-001", "build"), spec_for("b", "yuki-002", "test"),
                          spec_for("c", "hiro-003", "deploy"), spec_for("d", "kenji-005", "plan")};
    const char *dep_a[1] = {"a"}, *dep_b[1] = {"b"};
    t[0].max_retries = max_retries;
    t[1].depends_on = dep_a;
    t[1].n_depends_on = 1;
    t[2].depends_on = dep_b;
    t[2].n_depends_on = 1;
    tia_workflow_spec w = {.name = "chain", .tasks = t, .n_tasks = 4};
    int created = 0;
    TIA_OK_OR_FAIL(tia_engine_submit(s, &w, wf, ids, &created, &err), &err);
}

static void test_retries_then_failure(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char wf[TIA_UUID_BUF], ids[4][TIA_UUID_BUF];
    submit_chain(s, wf, ids, 2);
    for (int attempt = 1; attempt <= 3; attempt++) {
        struct tia_claim_list l;
        claim_agent(s, "akira-001", "w", 1, &l);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.items[0].attempt, attempt);
        TIA_OK_OR_FAIL(tia_engine_fail(s, ids[0], "w", attempt, "compiler crashed", 1, &err), &err);
        tia_claim_list_free(&l);
        if (attempt < 3) {
            expect_status(s, ids[0], "pending");
            assert_true(task_time(s, ids[0], "started_at") == INT64_MIN);
            ready_now(s, ids[0]);
        }
    }
    /* Retries exhausted: failed for good, dependents cancelled, the workflow failed. */
    expect_status(s, ids[0], "failed");
    assert_int_equal(task_int(s, ids[0], "retry_count"), 2);
    char *msg = task_text(s, ids[0], "error_message");
    assert_string_equal(msg, "compiler crashed");
    free(msg);
    assert_true(task_int(s, ids[0], "duration_ms") >= 0);
    expect_status(s, ids[1], "cancelled");
    expect_status(s, ids[2], "cancelled");
    expect_status(s, ids[3], "pending"); /* independent of a */
    msg = task_text(s, ids[2], "error_message");
    assert_string_equal(msg, "dependency build failed");
    free(msg);
    tia_workflow *w = get_workflow(s, wf);
    assert_int_equal(w->status, TIA_FAILED);
    assert_int_equal(w->failed_tasks, 1);
    assert_true(w->completed_at != TIA_TIME_NONE && w->duration_ms >= 0);
    tia_workflow_free(w);
    char cond[200];
    snprintf(cond, sizeof cond,
             "agent_id = 'akira-001' AND metric_type = 'latency' AND metric_unit = 'ms'");
    assert_int_equal(count_where(s, "agent_metrics", cond), 1);
    assert_counters_agree(s);

    /* A non-retryable failure ends at once, whatever the budget. */
    tia_task_spec t = spec_for(NULL, "sakura-004", "docs");
    char one[TIA_UUID_BUF];
    submit_one(s, &t, one);
    struct tia_claim_list l;
    claim_agent(s, "sakura-004", "w", 1, &l);
    TIA_OK_OR_FAIL(tia_engine_fail(s, one, "w", 1, "bad input", 0, &err), &err);
    tia_claim_list_free(&l);
    expect_status(s, one, "failed");
    assert_int_equal(task_int(s, one, "retry_count"), 0);

    /* retry_task: the task and the dependents its failure cancelled come back. */
    TIA_OK_OR_FAIL(tia_engine_retry_task(s, ids[0], &err), &err);
    expect_status(s, ids[0], "pending");
    assert_int_equal(task_int(s, ids[0], "retry_count"), 0);
    assert_int_equal(task_int(s, ids[0], "CASE WHEN error_message IS NULL THEN 1 ELSE 0 END"), 1);
    expect_status(s, ids[1], "pending");
    expect_status(s, ids[2], "pending");
    assert_int_equal(task_int(s, ids[2], "deps_pending"), 1);
    w = get_workflow(s, wf);
    assert_int_equal(w->status, TIA_RUNNING);
    assert_true(w->completed_at == TIA_TIME_NONE);
    tia_workflow_free(w);
    TIA_ASSERT_RC(tia_engine_retry_task(s, ids[3], &err), TIA_ECONFLICT, &err);
    TIA_ASSERT_RC(tia_engine_retry_task(s, "01890000-0000-7000-8000-000000000000", &err),
                  TIA_ENOTFOUND, &err);

    /* Now it runs to the end. */
    for (int round = 0; round < 4; round++) {
        claim_any(s, "w", &l);
        for (size_t i = 0; i < l.n; i++)
            complete_claim(s, &l.items[i], "w", 3);
        tia_claim_list_free(&l);
    }
    w = get_workflow(s, wf);
    assert_int_equal(w->status, TIA_COMPLETED);
    assert_int_equal(w->completed_tasks, 4);
    assert_int_equal(w->failed_tasks, 0);
    tia_workflow_free(w);
    assert_counters_agree(s);
}

static void test_cancellation(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char wf[TIA_UUID_BUF], ids[4][TIA_UUID_BUF];
    submit_chain(s, wf, ids, 3);
    struct tia_claim_list l;
    claim_agent(s, "akira-001", "w", 1, &l); /* a runs */
    assert_int_equal(l.n, 1);
    TIA_OK_OR_FAIL(tia_engine_cancel_workflow(s, wf, &err), &err);
    expect_status(s, ids[0], "running");
    assert_int_equal(task_int(s, ids[0], "CASE WHEN cancel_requested THEN 1 ELSE 0 END"), 1);
    for (int i = 1; i < 4; i++)
        expect_status(s, ids[i], "cancelled");
    tia_workflow *w = get_workflow(s, wf);
    assert_int_equal(w->status, TIA_CANCELLED);
    assert_true(w->completed_at != TIA_TIME_NONE);
    tia_workflow_free(w);
    TIA_ASSERT_RC(tia_engine_cancel_workflow(s, wf, &err), TIA_ECONFLICT, &err);
    TIA_ASSERT_RC(tia_engine_cancel_workflow(s, "01890000-0000-7000-8000-000000000000", &err),
                  TIA_ENOTFOUND, &err);

    /* The worker sees the request at its heartbeat; its failure ends the task cancelled. */
    int cancel = 0;
    TIA_OK_OR_FAIL(tia_engine_heartbeat(s, ids[0], "w", 1, 60000, &cancel, &err), &err);
    assert_int_equal(cancel, 1);
    TIA_OK_OR_FAIL(tia_engine_fail(s, ids[0], "w", 1, "stopped", 1, &err), &err);
    tia_claim_list_free(&l);
    expect_status(s, ids[0], "cancelled");
    assert_int_equal(task_int(s, ids[0], "retry_count"), 0);

    /* cancel_task: pending at once (with its dependents), running on request. */
    char wf2[TIA_UUID_BUF], t2[4][TIA_UUID_BUF];
    submit_chain(s, wf2, t2, 3);
    claim_agent(s, "kenji-005", "w", 1, &l); /* d runs */
    TIA_OK_OR_FAIL(tia_engine_cancel_task(s, t2[0], &err), &err);
    expect_status(s, t2[0], "cancelled");
    expect_status(s, t2[1], "cancelled");
    expect_status(s, t2[2], "cancelled");
    TIA_OK_OR_FAIL(tia_engine_cancel_task(s, t2[3], &err), &err);
    expect_status(s, t2[3], "running");
    TIA_OK_OR_FAIL(tia_engine_heartbeat(s, t2[3], "w", 1, 60000, &cancel, &err), &err);
    assert_int_equal(cancel, 1);
    /* A worker that finishes anyway completes it; then nothing is left: the workflow ends. */
    complete_claim(s, &l.items[0], "w", 1);
    tia_claim_list_free(&l);
    expect_status(s, t2[3], "completed");
    w = get_workflow(s, wf2);
    assert_int_equal(w->status, TIA_CANCELLED);
    tia_workflow_free(w);
    TIA_ASSERT_RC(tia_engine_cancel_task(s, t2[3], &err), TIA_ECONFLICT, &err);
    assert_counters_agree(s);
}

/* Claims agent's one ready task as worker and fails it for good. */
static void fail_one(tia_store *s, const char *agent, const char *worker, const char *id)
{
    tia_error err = {0};
    struct tia_claim_list l;
    claim_agent(s, agent, worker, 1, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].task->id, id);
    TIA_OK_OR_FAIL(tia_engine_fail(s, id, worker, l.items[0].attempt, "broke", 0, &err), &err);
    tia_claim_list_free(&l);
}

/* Claims agent's one ready task as worker and completes it. */
static void complete_one(tia_store *s, const char *agent, const char *worker, const char *id)
{
    struct tia_claim_list l;
    claim_agent(s, agent, worker, 1, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].task->id, id);
    complete_claim(s, &l.items[0], worker, 1);
    tia_claim_list_free(&l);
}

/*
 * d depends on a and b, which both fail. Retrying a brings a back but not d,
 * which b still holds: once a completes, the workflow settles (failed) instead
 * of waiting for d forever. Retrying b then brings d back, and the workflow
 * completes. Fails while a retry revives every dependent its task's end
 * cancelled.
 */
static void test_retry_one_of_two_failed_dependencies(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_task_spec t[3] = {spec_for("a", "akira-001", "build"), spec_for("b", "yuki-002", "test"),
                          spec_for("d", "kenji-005", "ship")};
    const char *deps[2] = {"a", "b"};
    t[2].depends_on = deps;
    t[2].n_depends_on = 2;
    tia_workflow_spec spec = {.name = "two deps", .tasks = t, .n_tasks = 3};
    char wf[TIA_UUID_BUF], ids[3][TIA_UUID_BUF];
    int created = 0;
    TIA_OK_OR_FAIL(tia_engine_submit(s, &spec, wf, ids, &created, &err), &err);
    fail_one(s, "akira-001", "wa", ids[0]);
    fail_one(s, "yuki-002", "wb", ids[1]);
    expect_status(s, ids[2], "cancelled");

    TIA_OK_OR_FAIL(tia_engine_retry_task(s, ids[0], &err), &err);
    expect_status(s, ids[0], "pending");
    expect_status(s, ids[2], "cancelled"); /* b still holds it */
    complete_one(s, "akira-001", "wa", ids[0]);
    tia_workflow *w = get_workflow(s, wf);
    assert_int_equal(w->status, TIA_FAILED); /* settled: nothing is left to run */
    tia_workflow_free(w);

    TIA_OK_OR_FAIL(tia_engine_retry_task(s, ids[1], &err), &err);
    expect_status(s, ids[2], "pending");
    complete_one(s, "yuki-002", "wb", ids[1]);
    complete_one(s, "kenji-005", "wd", ids[2]);
    w = get_workflow(s, wf);
    assert_int_equal(w->status, TIA_COMPLETED);
    tia_workflow_free(w);
    assert_counters_agree(s);
}

/*
 * Two dependencies of one task_type (two reviews) feeding one task: its input
 * holds both outputs, as an array under upstream.<task_type>, where the second
 * used to overwrite the first. A type with one dependency keeps its object.
 */
static void test_fan_in_of_one_type(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_task_spec t[4] = {spec_for("r1", "akira-001", "review"),
                          spec_for("r2", "yuki-002", "review"), spec_for("d", "hiro-003", "design"),
                          spec_for("sum", "sakura-004", "summary")};
    const char *deps[3] = {"r1", "r2", "d"};
    t[3].depends_on = deps;
    t[3].n_depends_on = 3;
    tia_workflow_spec spec = {.name = "two reviews", .tasks = t, .n_tasks = 4};
    char wf[TIA_UUID_BUF], ids[4][TIA_UUID_BUF];
    int created = 0;
    TIA_OK_OR_FAIL(tia_engine_submit(s, &spec, wf, ids, &created, &err), &err);
    complete_one(s, "akira-001", "w1", ids[0]);
    complete_one(s, "yuki-002", "w2", ids[1]);
    complete_one(s, "hiro-003", "w3", ids[2]);
    struct tia_claim_list l;
    claim_agent(s, "sakura-004", "w4", 1, &l);
    assert_int_equal(l.n, 1);
    json_t *in = json_loads(l.items[0].task->input_data, 0, NULL);
    assert_non_null(in);
    json_t *up = json_object_get(in, "upstream");
    json_t *reviews = json_object_get(up, "review");
    assert_true(json_is_array(reviews));
    assert_int_equal(json_array_size(reviews), 2);
    int seen[2] = {0, 0};
    for (size_t k = 0; k < 2; k++) {
        json_t *e = json_array_get(reviews, k);
        const char *id = json_string_value(json_object_get(e, "task_id"));
        for (int j = 0; j < 2; j++)
            seen[j] += strcmp(id, ids[j]) == 0;
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(e, "output"), "done_by")), "review");
    }
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
    json_t *design = json_object_get(up, "design");
    assert_true(json_is_object(design));
    assert_string_equal(json_string_value(json_object_get(design, "task_id")), ids[2]);
    json_decref(in);
    complete_claim(s, &l.items[0], "w4", 1);
    tia_claim_list_free(&l);
    tia_workflow *w = get_workflow(s, wf);
    assert_int_equal(w->status, TIA_COMPLETED);
    tia_workflow_free(w);
}

static void test_fan_out_fan_in(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_task_spec t[2] = {spec_for("p", "kenji-005", "design"),
                          spec_for("q", "sakura-004", "write_up")};
    const char *dep[1] = {"p"};
    t[1].depends_on = dep;
    t[1].n_depends_on = 1;
    tia_workflow_spec spec = {.name = "fan", .tasks = t, .n_tasks = 2};
    char wf[TIA_UUID_BUF], ids[2][TIA_UUID_BUF];
    int created = 0;
    TIA_OK_OR_FAIL(tia_engine_submit(s, &spec, wf, ids, &created, &err), &err);

    struct tia_claim_list lp, lc, none;
    claim_agent(s, "kenji-005", "wp", 1, &lp);
    assert_int_equal(lp.n, 1);
    tia_task_spec sub[3] = {spec_for(NULL, "yuki-002", "part"), spec_for(NULL, "yuki-002", "part"),
                            spec_for(NULL, "yuki-002", "part")};
    char kids[3][TIA_UUID_BUF];
    TIA_ASSERT_RC(tia_engine_spawn(s, ids[0], "other", 1, sub, 3, kids, &err), TIA_ECONFLICT, &err);
    TIA_OK_OR_FAIL(tia_engine_spawn(s, ids[0], "wp", 1, sub, 3, kids, &err), &err);
    assert_int_equal(task_int(s, ids[0], "children_pending"), 3);
    char *parent = task_text(s, kids[1], "parent_task_id");
    assert_string_equal(parent, ids[0]);
    free(parent);

    /* The parent's worker is done, but the parent waits for its subtasks. */
    complete_claim(s, &lp.items[0], "wp", 100);
    expect_status(s, ids[0], "running");
    assert_int_equal(task_int(s, ids[0], "CASE WHEN awaiting_children THEN 1 ELSE 0 END"), 1);
    TIA_ASSERT_RC(tia_engine_spawn(s, ids[0], "wp", 1, sub, 1, NULL, &err), TIA_ECONFLICT, &err);
    claim_agent(s, "sakura-004", "wq", 1, &none);
    assert_int_equal(none.n, 0);
    tia_claim_list_free(&none);

    claim_agent(s, "yuki-002", "wc", 3, &lc);
    assert_int_equal(lc.n, 3);
    complete_claim(s, &lc.items[0], "wc", 1);
    complete_claim(s, &lc.items[1], "wc", 1);
    expect_status(s, ids[0], "running");
    complete_claim(s, &lc.items[2], "wc", 1);
    tia_claim_list_free(&lc);
    /* The last subtask completes the parent, which makes q ready. */
    expect_status(s, ids[0], "completed");
    assert_int_equal(task_int(s, ids[0], "children_pending"), 0);
    assert_true(task_int(s, ids[0], "duration_ms") >= 0);
    assert_int_equal(task_int(s, ids[0], "tokens_used"), 100);
    claim_agent(s, "sakura-004", "wq", 1, &none);
    assert_int_equal(none.n, 1);
    complete_claim(s, &none.items[0], "wq", 1);
    tia_claim_list_free(&none);
    tia_claim_list_free(&lp);

    tia_workflow *w = get_workflow(s, wf);
    assert_int_equal(w->status, TIA_COMPLETED);
    assert_int_equal(w->total_tasks, 5);
    assert_int_equal(w->completed_tasks, 5);
    assert_int_equal(w->total_tokens_used, 104);
    tia_workflow_free(w);
    assert_counters_agree(s);
}

static void test_failed_subtask_fails_parent(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_task_spec t[2] = {spec_for("p", "kenji-005", "design"),
                          spec_for("q", "sakura-004", "write_up")};
    const char *dep[1] = {"p"};
    t[1].depends_on = dep;
    t[1].n_depends_on = 1;
    tia_workflow_spec spec = {.name = "fan-fail", .tasks = t, .n_tasks = 2};
    char wf[TIA_UUID_BUF], ids[2][TIA_UUID_BUF];
    int created = 0;
    TIA_OK_OR_FAIL(tia_engine_submit(s, &spec, wf, ids, &created, &err), &err);
    struct tia_claim_list lp, lc;
    claim_agent(s, "kenji-005", "wp", 1, &lp);
    tia_task_spec sub[2] = {spec_for(NULL, "yuki-002", "part"), spec_for(NULL, "hiro-003", "part")};
    sub[0].max_retries = 0;
    char kids[2][TIA_UUID_BUF];
    TIA_OK_OR_FAIL(tia_engine_spawn(s, ids[0], "wp", 1, sub, 2, kids, &err), &err);
    complete_claim(s, &lp.items[0], "wp", 1);
    tia_claim_list_free(&lp);
    claim_agent(s, "yuki-002", "wc", 1, &lc);
    TIA_OK_OR_FAIL(tia_engine_fail(s, kids[0], "wc", 1, "segfault", 1, &err), &err);
    tia_claim_list_free(&lc);

    expect_status(s, kids[0], "failed");
    expect_status(s, kids[1], "cancelled"); /* its sibling will never be needed */
    expect_status(s, ids[0], "failed");
    char *msg = task_text(s, ids[0], "error_message");
    assert_string_equal(msg, "subtask part failed");
    free(msg);
    expect_status(s, ids[1], "cancelled");
    tia_workflow *w = get_workflow(s, wf);
    assert_int_equal(w->status, TIA_FAILED);
    assert_int_equal(w->failed_tasks, 2);
    tia_workflow_free(w);
    assert_counters_agree(s);

    /*
     * The parent retried (it counts no open subtask then), then the failed
     * subtask: the parent waits for it again instead of completing at once, and
     * the subtask's completion completes the parent. It used to complete first,
     * and the subtask's completion was then refused (children_pending below 0).
     */
    TIA_OK_OR_FAIL(tia_engine_retry_task(s, ids[0], &err), &err);
    assert_int_equal(task_int(s, ids[0], "children_pending"), 0);
    TIA_OK_OR_FAIL(tia_engine_retry_task(s, kids[0], &err), &err);
    assert_int_equal(task_int(s, ids[0], "children_pending"), 1);
    complete_one(s, "kenji-005", "wp", ids[0]);
    expect_status(s, ids[0], "running"); /* awaiting its subtask */
    complete_one(s, "yuki-002", "wc", kids[0]);
    expect_status(s, ids[0], "completed");
    assert_int_equal(task_int(s, ids[0], "children_pending"), 0);
    assert_counters_agree(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dag_runs_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backoff_grows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_then_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancellation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_one_of_two_failed_dependencies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fan_in_of_one_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fan_out_fan_in, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_subtask_fails_parent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
