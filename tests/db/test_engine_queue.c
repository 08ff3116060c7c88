/*
 * The engine's task queue, on both backends: the claim order (priority, then
 * age), readiness (dependencies, run_after), leases (heartbeat, reaping, the
 * fencing token refusing a late result), accounting on completion (tokens,
 * cost from model_prices or as given, metric points) and bad input refused with
 * nothing written.
 */
#include "engine_test_util.h"

#include <tokyoia/tasks.h>

#include "engine/engine_internal.h"

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

static int64_t metric_count(tia_store *s, const char *task_id)
{
    char pg[512], lite[512];
    snprintf(pg, sizeof pg, "SELECT count(*) FROM agent_metrics WHERE context->>'task_id' = '%s'",
             task_id);
    snprintf(lite, sizeof lite,
             "SELECT count(*) FROM agent_metrics WHERE json_extract(context, '$.task_id') = '%s'",
             task_id);
    return tia_test_int(s, pg, lite);
}

static void test_claim_order(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char ids[4][TIA_UUID_BUF];
    int prio[4] = {0, 5, 0, -1};
    for (int i = 0; i < 4; i++) {
        tia_task_spec t = spec_for(NULL, "akira-001", "review");
        t.priority = prio[i];
        t.timeout_ms = 1500 * (i + 1);
        t.max_retries = i;
        submit_one(s, &t, ids[i]);
    }
    /* Another agent's task is never handed to an akira worker. */
    tia_task_spec other = spec_for(NULL, "yuki-002", "tests");
    char other_id[TIA_UUID_BUF];
    submit_one(s, &other, other_id);

    struct tia_claim_list l;
    claim_agent(s, "akira-001", "w1", 10, &l);
    assert_int_equal(l.n, 4);
    const int want[4] = {1, 0, 2, 3}; /* priority 5, then the older of the two 0s */
    for (int i = 0; i < 4; i++) {
        const tia_claim *c = &l.items[i];
        assert_string_equal(c->task->id, ids[want[i]]);
        assert_int_equal(c->task->status, TIA_RUNNING);
        assert_true(c->task->started_at != TIA_TIME_NONE);
        assert_int_equal(c->attempt, 1);
        assert_int_equal(c->timeout_ms, 1500 * (want[i] + 1));
        assert_int_equal(c->max_retries, want[i]);
        assert_string_equal(c->agent_model, "claude-opus-4.1");
        assert_string_equal(c->task->agent_id, "akira-001");
    }
    tia_claim_list_free(&l);

    /* Nothing is left for akira: an empty claim is not an error. */
    claim_agent(s, "akira-001", "w2", 10, &l);
    assert_int_equal(l.n, 0);
    tia_claim_list_free(&l);

    /* Several agents in one claim. */
    const char *agents[2] = {"akira-001", "yuki-002"};
    TIA_OK_OR_FAIL(tia_engine_claim(s, agents, 2, "w3", 5, 60000, &l, &err), &err);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].task->id, other_id);
    assert_string_equal(l.items[0].agent_model, "openai-o3");
    tia_claim_list_free(&l);
    expect_status(s, ids[0], "running");
    assert_int_equal(task_int(s, ids[0], "attempt"), 1);
    char *worker = task_text(s, ids[1], "worker_id");
    assert_string_equal(worker, "w1");
    free(worker);
}

static void test_claim_bad_input(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    struct tia_claim_list l;
    const char *agents[1] = {"akira-001"};
    TIA_ASSERT_RC(tia_engine_claim(s, agents, 0, "w", 1, 60000, &l, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_engine_claim(s, agents, 1, NULL, 1, 60000, &l, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_engine_claim(s, agents, 1, "w", 0, 60000, &l, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_engine_claim(s, agents, 1, "w", 1001, 60000, &l, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_engine_claim(s, agents, 1, "w", 1, 999, &l, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_engine_claim(s, agents, 1, "w", 1, 3600001, &l, &err), TIA_EINVAL, &err);
    assert_int_equal(l.n, 0);
}

static void test_readiness(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    /* b depends on a: only a is ready. */
    tia_task_spec t[2] = {spec_for("a", "akira-001", "first"),
                          spec_for("b", "akira-001", "second")};
    const char *dep[1] = {"a"};
    t[1].depends_on = dep;
    t[1].n_depends_on = 1;
    tia_workflow_spec wf = {.name = "readiness", .tasks = t, .n_tasks = 2};
    char wf_id[TIA_UUID_BUF], ids[2][TIA_UUID_BUF];
    int created = 0;
    TIA_OK_OR_FAIL(tia_engine_submit(s, &wf, wf_id, ids, &created, &err), &err);

    /* run_after in the future hides a ready task too. */
    char pg[512], lite[512];
    snprintf(pg, sizeof pg,
             "UPDATE agent_tasks SET run_after = now() + interval '1 hour' WHERE id = '%s'",
             ids[0]);
    snprintf(lite, sizeof lite, "UPDATE agent_tasks SET run_after = %lld WHERE id = '%s'",
             (long long)(tia_now_us() + INT64_C(3600000000)), ids[0]);
    TIA_OK_OR_FAIL(tia_test_exec(s, pg, lite, &err), &err);
    struct tia_claim_list l;
    claim_agent(s, "akira-001", "w1", 10, &l);
    assert_int_equal(l.n, 0);
    tia_claim_list_free(&l);

    ready_now(s, ids[0]);
    claim_agent(s, "akira-001", "w1", 10, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].task->id, ids[0]);
    /* The first claim starts the workflow. */
    char wpg[512], wlite[512];
    snprintf(wpg, sizeof wpg,
             "SELECT count(*) FROM workflows WHERE id = '%s' AND status = 'running' "
             "AND started_at IS NOT NULL",
             wf_id);
    snprintf(wlite, sizeof wlite,
             "SELECT count(*) FROM workflows WHERE id = '%s' AND status = 'running' "
             "AND started_at IS NOT NULL",
             wf_id);
    assert_int_equal(tia_test_int(s, wpg, wlite), 1);
    tia_completion c = completion_of(&l.items[0], "w1", "{\"ok\":true}", 10);

    struct tia_claim_list none;
    claim_agent(s, "akira-001", "w1", 10, &none); /* b still waits for a */
    assert_int_equal(none.n, 0);
    tia_claim_list_free(&none);
    TIA_OK_OR_FAIL(tia_engine_complete(s, &c, &err), &err);
    tia_claim_list_free(&l);
    assert_int_equal(task_int(s, ids[1], "deps_pending"), 0);
    claim_agent(s, "akira-001", "w1", 10, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].task->id, ids[1]);
    tia_claim_list_free(&l);
}

static void test_heartbeat(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_task_spec t = spec_for(NULL, "akira-001", "review");
    char id[TIA_UUID_BUF];
    submit_one(s, &t, id);
    struct tia_claim_list l;
    const char *agents[1] = {"akira-001"};
    TIA_OK_OR_FAIL(tia_engine_claim(s, agents, 1, "w1", 1, 1000, &l, &err), &err);
    assert_int_equal(l.n, 1);
    int64_t attempt = l.items[0].attempt;
    tia_claim_list_free(&l);
    int64_t lease1 = task_time(s, id, "lease_expires_at");
    int64_t started = task_time(s, id, "started_at");
    assert_true(lease1 - started >= 999000 && lease1 - started <= 1001000);

    int cancel = -1;
    TIA_OK_OR_FAIL(tia_engine_heartbeat(s, id, "w1", attempt, 600000, &cancel, &err), &err);
    assert_int_equal(cancel, 0);
    int64_t lease2 = task_time(s, id, "lease_expires_at");
    assert_true(lease2 - lease1 >= 598000000);

    /* The wrong worker, attempt or task is refused; an unknown task is not found. */
    TIA_ASSERT_RC(tia_engine_heartbeat(s, id, "w2", attempt, 600000, NULL, &err), TIA_ECONFLICT,
                  &err);
    assert_non_null(strstr(err.message, "lease lost"));
    TIA_ASSERT_RC(tia_engine_heartbeat(s, id, "w1", attempt + 1, 600000, NULL, &err), TIA_ECONFLICT,
                  &err);
    TIA_ASSERT_RC(tia_engine_heartbeat(s, "01890000-0000-7000-8000-000000000000", "w1", 1, 600000,
                                       NULL, &err),
                  TIA_ENOTFOUND, &err);
    TIA_ASSERT_RC(tia_engine_heartbeat(s, id, "w1", attempt, 10, NULL, &err), TIA_EINVAL, &err);
    assert_int_equal(task_time(s, id, "lease_expires_at"), lease2);
}

static void expire_lease(tia_store *s, const char *id)
{
    char pg[512], lite[512];
    snprintf(pg, sizeof pg,
             "UPDATE agent_tasks SET lease_expires_at = now() - interval '1 second' "
             "WHERE id = '%s'",
             id);
    snprintf(lite, sizeof lite, "UPDATE agent_tasks SET lease_expires_at = %lld WHERE id = '%s'",
             (long long)(tia_now_us() - 1000000), id);
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_test_exec(s, pg, lite, &err), &err);
}

static void test_reap_and_late_results(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_task_spec t = spec_for(NULL, "akira-001", "review");
    char id[TIA_UUID_BUF], keep[TIA_UUID_BUF];
    submit_one(s, &t, id);
    submit_one(s, &t, keep);
    struct tia_claim_list l;
    claim_agent(s, "akira-001", "w1", 2, &l);
    assert_int_equal(l.n, 2);
    tia_completion late = completion_of(&l.items[0], "w1", "{\"late\":1}", 5);
    assert_string_equal(late.task_id, id);

    /* Only the expired lease is reaped; the other is left with its worker. */
    expire_lease(s, id);
    int64_t n = -1;
    TIA_OK_OR_FAIL(tia_engine_reap(s, &n, &err), &err);
    assert_int_equal(n, 1);
    expect_status(s, id, "pending");
    expect_status(s, keep, "running");
    assert_int_equal(task_int(s, id, "retry_count"), 1);
    char *msg = task_text(s, id, "error_message");
    assert_non_null(strstr(msg, "lease expired (worker w1 stopped heartbeating)"));
    free(msg);
    assert_int_equal(task_time(s, id, "lease_expires_at"), INT64_MIN);
    TIA_OK_OR_FAIL(tia_engine_reap(s, &n, &err), &err);
    assert_int_equal(n, 0);

    /* A second worker takes the task back: attempt 2. */
    ready_now(s, id);
    struct tia_claim_list l2;
    claim_agent(s, "akira-001", "w2", 1, &l2);
    assert_int_equal(l2.n, 1);
    assert_int_equal(l2.items[0].attempt, 2);
    tia_completion now = completion_of(&l2.items[0], "w2", "{\"now\":1}", 7);

    /* The first worker's late calls are all refused, and change nothing. */
    TIA_ASSERT_RC(tia_engine_complete(s, &late, &err), TIA_ECONFLICT, &err);
    TIA_ASSERT_RC(tia_engine_heartbeat(s, id, "w1", 1, 60000, NULL, &err), TIA_ECONFLICT, &err);
    TIA_ASSERT_RC(tia_engine_fail(s, id, "w1", 1, "boom", 0, &err), TIA_ECONFLICT, &err);
    expect_status(s, id, "running");
    TIA_OK_OR_FAIL(tia_engine_complete(s, &now, &err), &err);
    tia_task *task = NULL;
    TIA_OK_OR_FAIL(tia_task_get(s, id, &task, &err), &err);
    assert_non_null(strstr(task->output_data, "now"));
    assert_int_equal(task->tokens_used, 7);
    tia_task_free(task);
    /* ... and a completed task cannot be completed again. */
    TIA_ASSERT_RC(tia_engine_complete(s, &now, &err), TIA_ECONFLICT, &err);
    tia_claim_list_free(&l);
    tia_claim_list_free(&l2);
    assert_counters_agree(s);
}

static void test_cost_and_tokens(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char ids[4][TIA_UUID_BUF];
    for (int i = 0; i < 4; i++) {
        tia_task_spec t = spec_for(NULL, i == 3 ? "hiro-003" : "akira-001", "review");
        submit_one(s, &t, ids[i]);
    }
    const char *agents[2] = {"akira-001", "hiro-003"};
    struct tia_claim_list l;
    TIA_OK_OR_FAIL(tia_engine_claim(s, agents, 2, "w", 4, 60000, &l, &err), &err);
    assert_int_equal(l.n, 4);
    tia_completion c[4];
    for (size_t i = 0; i < 4; i++) {
        size_t j = 0;
        while (strcmp(l.items[j].task->id, ids[i]) != 0)
            j++;
        c[i] = completion_of(&l.items[j], "w", NULL, 1234);
    }
    c[1].cost_micros = 777; /* a reported cost is taken as given */
    c[2].tokens_used = -1;  /* the sum of the parts */
    c[2].input_tokens = 100;
    c[2].output_tokens = 23;
    c[3].tokens_used = 5000; /* llama-4-405b costs nothing */
    int rcs[4] = {1, 1, 1, 1};
    TIA_OK_OR_FAIL(tia_engine_complete_batch(s, c, 4, rcs, &err), &err);
    tia_claim_list_free(&l);
    for (int i = 0; i < 4; i++)
        assert_int_equal(rcs[i], 0);

    int64_t price = 0;
    int found = 0;
    TIA_OK_OR_FAIL(tia__price_for_agent(s, "akira-001", &price, &found, &err), &err);
    assert_int_equal(found, 1);
    assert_int_equal(price, 15000); /* claude-opus-4.1: 0.015 USD per 1k tokens */
    int64_t want[4] = {tia_price_cost(1234, price), 777, tia_price_cost(123, price), 0};
    assert_int_equal(want[0], 18510);
    for (int i = 0; i < 4; i++) {
        tia_task *t = NULL;
        TIA_OK_OR_FAIL(tia_task_get(s, ids[i], &t, &err), &err);
        assert_int_equal(t->cost_micros, want[i]);
        assert_int_equal(t->status, TIA_COMPLETED);
        assert_true(t->duration_ms >= 0);
        tia_task_free(t);
        assert_int_equal(metric_count(s, ids[i]), 3);
    }
    assert_int_equal(task_int(s, ids[2], "tokens_used"), 123);
    assert_int_equal(task_int(s, ids[2], "input_tokens"), 100);
    assert_int_equal(task_int(s, ids[2], "output_tokens"), 23);
    assert_int_equal(task_int(s, ids[0], "CASE WHEN input_tokens IS NULL THEN 1 ELSE 0 END"), 1);

    /* The cost point is in USD, the tokens point in tokens. */
    char pg[512], lite[512];
    snprintf(pg, sizeof pg,
             "SELECT round(metric_value * 1000000)::int8 FROM agent_metrics WHERE metric_type = "
             "'cost' AND metric_unit = 'USD' AND context->>'task_id' = '%s'",
             ids[0]);
    snprintf(lite, sizeof lite,
             "SELECT CAST(round(metric_value * 1000000) AS INTEGER) FROM agent_metrics WHERE "
             "metric_type = 'cost' AND metric_unit = 'USD' AND "
             "json_extract(context, '$.task_id') = '%s'",
             ids[0]);
    assert_int_equal(tia_test_int(s, pg, lite), 18510);
    snprintf(pg, sizeof pg,
             "SELECT metric_value::int8 FROM agent_metrics WHERE metric_type = 'tokens' "
             "AND context->>'task_id' = '%s'",
             ids[3]);
    snprintf(lite, sizeof lite,
             "SELECT CAST(metric_value AS INTEGER) FROM agent_metrics WHERE metric_type = "
             "'tokens' AND json_extract(context, '$.task_id') = '%s'",
             ids[3]);
    assert_int_equal(tia_test_int(s, pg, lite), 5000);
    assert_counters_agree(s);
}

static void test_bad_completion_writes_nothing(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_task_spec t = spec_for(NULL, "akira-001", "review");
    char id[TIA_UUID_BUF];
    submit_one(s, &t, id);
    struct tia_claim_list l;
    claim_agent(s, "akira-001", "w", 1, &l);
    char claimed[TIA_UUID_BUF];
    memcpy(claimed, l.items[0].task->id, TIA_UUID_BUF);
    tia_completion ok = completion_of(&l.items[0], "w", "{\"a\":1}", 10);
    ok.task_id = claimed;
    tia_claim_list_free(&l);

    tia_completion bad = ok;
    bad.tokens_used = -5;
    TIA_ASSERT_RC(tia_engine_complete(s, &bad, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "tokens_used"));
    bad = ok;
    bad.output_data = "{not json";
    TIA_ASSERT_RC(tia_engine_complete(s, &bad, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "output_data"));
    bad = ok;
    bad.cost_micros = -2;
    TIA_ASSERT_RC(tia_engine_complete(s, &bad, &err), TIA_EINVAL, &err);
    bad = ok;
    bad.tokens_used = 10;
    bad.input_tokens = 3;
    bad.output_tokens = 4;
    TIA_ASSERT_RC(tia_engine_complete(s, &bad, &err), TIA_EINVAL, &err);
    bad = ok;
    bad.task_id = "not-a-uuid";
    TIA_ASSERT_RC(tia_engine_complete(s, &bad, &err), TIA_EINVAL, &err);
    bad = ok;
    bad.attempt = 0;
    TIA_ASSERT_RC(tia_engine_complete(s, &bad, &err), TIA_EINVAL, &err);

    expect_status(s, id, "running");
    assert_int_equal(metric_count(s, id), 0);
    assert_int_equal(task_int(s, id, "tokens_used"), 0);
    assert_true(task_time(s, id, "lease_expires_at") != INT64_MIN);

    /* In a batch, a bad item is refused alone. */
    tia_completion items[3] = {bad, ok, ok};
    items[2].task_id = "01890000-0000-7000-8000-000000000000";
    int rcs[3] = {0, 1, 1};
    TIA_OK_OR_FAIL(tia_engine_complete_batch(s, items, 3, rcs, &err), &err);
    assert_int_equal(rcs[0], TIA_EINVAL);
    assert_int_equal(rcs[1], 0);
    assert_int_equal(rcs[2], TIA_ENOTFOUND);
    expect_status(s, id, "completed");
    assert_int_equal(metric_count(s, id), 3);
    assert_counters_agree(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claim_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readiness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reap_and_late_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_and_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_completion_writes_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
