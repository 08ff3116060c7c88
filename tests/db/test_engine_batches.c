/*
 * Conformance tests of the engine's set-based writes, on both backends: a
 * workflow's tasks are inserted in chunks of rows per statement (a JSON array
 * expanded by jsonb_to_recordset or json_each), so a workflow larger than a
 * chunk must come back field for field as it was given, its dependencies
 * across chunk boundaries included; and claiming and completing those tasks in
 * batches must leave every counter (agents, agent_task_totals with its
 * durations, workflows, agent_task_hours) equal to a recomputation from
 * agent_tasks, which is what the counter triggers (SQLite 0013) promise.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tia_test.h"

#include <tokyoia/engine.h>
#include <tokyoia/tasks.h>

/* More than two chunks of submit.c's TASK_CHUNK (1000), not a multiple of it. */
#define N_TASKS 2037
#define N_AGENTS 5

static const char *const agents[N_AGENTS] = {"akira-001", "yuki-002", "hiro-003", "sakura-004",
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

static int64_t q_int(tia_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t q_int(tia_store *s, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return tia_test_int(s, sql, sql);
}

/* The fields of task i, varied so that every column takes several shapes. */
typedef struct spec_text {
    char key[16], type[48], desc[96], input[96], meta[48];
    char *deps[2];
} spec_text;

static void make_task(int i, spec_text *x, tia_task_spec *t)
{
    snprintf(x->key, sizeof x->key, "k%d", i);
    snprintf(x->type, sizeof x->type, i % 2 ? "\xe5\x9e\x8b-%d" : "type-%d", i);
    snprintf(x->desc, sizeof x->desc, "task %d: \"quoted\", back\\slash,\nnew line, \xe2\x9c\x93",
             i);
    snprintf(x->input, sizeof x->input,
             "{\"i\": %d, \"s\": \"a\\\"b\\\\c\\n\", \"u\": \"\\u00e9\"}", i);
    snprintf(x->meta, sizeof x->meta, "{\"m\": [%d, true, null]}", i);
    *t = (tia_task_spec){0};
    t->key = x->key;
    t->agent_id = agents[i % N_AGENTS];
    t->task_type = x->type;
    t->description = x->desc;
    t->input_data = i % 3 == 0 ? NULL : x->input;
    t->metadata = i % 4 == 0 ? NULL : x->meta;
    t->priority = i % 7 - 3;
    t->max_retries = i % 6 == 0 ? -1 : i % 5;
    t->timeout_ms = i % 4 == 1 ? 1000 + i : 0;
    /* Every tenth task waits for the two before it: 1000 waits for 998 and 999. */
    if (i % 10 == 0 && i > 0) {
        x->deps[0] = malloc(16);
        x->deps[1] = malloc(16);
        assert_non_null(x->deps[0]);
        assert_non_null(x->deps[1]);
        snprintf(x->deps[0], 16, "k%d", i - 1);
        snprintf(x->deps[1], 16, "k%d", i - 2);
        t->depends_on = (const char *const *)x->deps;
        t->n_depends_on = 2;
    }
}

static void assert_json_same(int i, const char *what, const char *got, const char *want)
{
    json_t *g = json_loads(got, JSON_DECODE_ANY, NULL);
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    if (g == NULL || w == NULL || !json_equal(g, w))
        fail_msg("task %d: %s is %s, want %s", i, what, got, want);
    json_decref(g);
    json_decref(w);
}

static void assert_task(tia_store *s, int i, const char *id, const char *wf, const tia_task_spec *t)
{
    tia_error err = {0};
    tia_task *got = NULL;
    TIA_OK_OR_FAIL(tia_task_get(s, id, &got, &err), &err);
    assert_string_equal(got->agent_id, t->agent_id);
    assert_string_equal(got->workflow_id, wf);
    assert_string_equal(got->task_type, t->task_type);
    assert_string_equal(got->description, t->description);
    assert_int_equal(got->status, TIA_PENDING);
    if (t->input_data == NULL) {
        if (got->input_data != NULL)
            fail_msg("task %d: input_data is %s, want NULL", i, got->input_data);
    } else {
        assert_non_null(got->input_data);
        assert_json_same(i, "input_data", got->input_data, t->input_data);
    }
    assert_json_same(i, "metadata", got->metadata, t->metadata ? t->metadata : "{}");
    tia_task_free(got);
    assert_int_equal(q_int(s,
                           "SELECT priority * 1000000 + max_retries * 1000 + deps_pending "
                           "FROM agent_tasks WHERE id = '%s'",
                           id),
                     (int64_t)t->priority * 1000000 +
                         (t->max_retries < 0 ? 3 : t->max_retries) * 1000 +
                         (int64_t)t->n_depends_on);
    assert_int_equal(
        q_int(s, "SELECT COALESCE(timeout_ms, -1) FROM agent_tasks WHERE id = '%s'", id),
        t->timeout_ms > 0 ? t->timeout_ms : -1);
}

/* Submits the N_TASKS workflow; ids gets the task ids, wf the workflow's. */
static void submit_big(tia_store *s, char wf[TIA_UUID_BUF], char (*ids)[TIA_UUID_BUF], spec_text *x,
                       tia_task_spec *t)
{
    tia_error err = {0};
    for (int i = 0; i < N_TASKS; i++)
        make_task(i, &x[i], &t[i]);
    tia_workflow_spec w = {.name = "big", .tasks = t, .n_tasks = N_TASKS};
    int created = 0;
    TIA_OK_OR_FAIL(tia_engine_submit(s, &w, wf, ids, &created, &err), &err);
    assert_int_equal(created, 1);
}

static void free_specs(spec_text *x)
{
    for (int i = 0; i < N_TASKS; i++) {
        free(x[i].deps[0]);
        free(x[i].deps[1]);
    }
}

static void test_big_workflow_rows(void **state)
{
    tia_store *s = *state;
    static spec_text x[N_TASKS];
    static tia_task_spec t[N_TASKS];
    static char ids[N_TASKS][TIA_UUID_BUF];
    char wf[TIA_UUID_BUF];
    memset(x, 0, sizeof x);
    submit_big(s, wf, ids, x, t);
    for (int i = 0; i < N_TASKS; i++)
        assert_task(s, i, ids[i], wf, &t[i]);
    /* Each dependency row, across the chunk boundaries too. */
    int64_t deps = 0;
    for (int i = 10; i < N_TASKS; i += 10) {
        for (int d = 1; d <= 2; d++)
            assert_int_equal(q_int(s,
                                   "SELECT count(*) FROM task_dependencies WHERE task_id = '%s' "
                                   "AND depends_on = '%s'",
                                   ids[i], ids[i - d]),
                             1);
        deps += 2;
    }
    assert_int_equal(q_int(s, "SELECT count(*) FROM task_dependencies"), deps);
    /* The counters of the insert: the workflow's total, each agent's pending. */
    assert_int_equal(q_int(s, "SELECT total_tasks FROM workflows WHERE id = '%s'", wf), N_TASKS);
    for (int a = 0; a < N_AGENTS; a++)
        assert_int_equal(
            q_int(s, "SELECT pending FROM agent_task_totals WHERE agent_id = '%s'", agents[a]),
            (N_TASKS - a + N_AGENTS - 1) / N_AGENTS);
    free_specs(x);
}

/* Rows whose stored counters differ from a recomputation from agent_tasks. */
#define BAD_COUNTERS(cost, wcost, hour)                                                            \
    "SELECT (SELECT count(*) FROM workflows w WHERE (w.total_tasks, w.completed_tasks, "           \
    "w.failed_tasks, w.total_tokens_used, w." wcost ") <> (SELECT count(*), "                      \
    "count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'), "    \
    "COALESCE(sum(tokens_used), 0), COALESCE(sum(" cost "), 0) FROM agent_tasks t "                \
    "WHERE t.workflow_id = w.id)) "                                                                \
    "+ (SELECT count(*) FROM agents a WHERE (a.total_tasks_completed, a.total_tokens_used) <> "    \
    "(SELECT count(*) FILTER (WHERE status = 'completed'), COALESCE(sum(tokens_used), 0) "         \
    "FROM agent_tasks t WHERE t.agent_id = a.id) OR abs(a.average_latency_ms - (SELECT "           \
    "COALESCE(avg(duration_ms) FILTER (WHERE status = 'completed'), 0) FROM agent_tasks t "        \
    "WHERE t.agent_id = a.id)) > 1e-6 OR abs(a.success_rate - (SELECT CASE WHEN count(*) "         \
    "FILTER (WHERE status IN ('completed', 'failed')) = 0 THEN 100 ELSE 100.0 * count(*) "         \
    "FILTER (WHERE status = 'completed') / count(*) FILTER (WHERE status IN ('completed', "        \
    "'failed')) END FROM agent_tasks t WHERE t.agent_id = a.id)) > 1e-6) "                         \
    "+ (SELECT count(*) FROM agent_task_totals x WHERE (x.pending, x.running, x.completed, "       \
    "x.failed, x.cancelled, x.tokens, x.duration_sum, x.duration_n, x.completed_duration_sum, "    \
    "x.completed_duration_n) <> (SELECT count(*) FILTER (WHERE status = 'pending'), "              \
    "count(*) FILTER (WHERE status = 'running'), count(*) FILTER (WHERE status = 'completed'), "   \
    "count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'cancelled'), "    \
    "COALESCE(sum(tokens_used), 0), COALESCE(sum(duration_ms), 0), count(duration_ms), "           \
    "COALESCE(sum(duration_ms) FILTER (WHERE status = 'completed'), 0), "                          \
    "count(duration_ms) FILTER (WHERE status = 'completed') "                                      \
    "FROM agent_tasks t WHERE t.agent_id = x.agent_id)) "                                          \
    "+ (SELECT count(*) FROM agent_task_hours h WHERE (h.completed, h.tokens, h.duration_sum, "    \
    "h.duration_n) <> (SELECT count(*), COALESCE(sum(tokens_used), 0), "                           \
    "COALESCE(sum(duration_ms), 0), count(duration_ms) FROM agent_tasks t "                        \
    "WHERE t.agent_id = h.agent_id AND t.status = 'completed' AND " hour "))"

#define PG_HOUR "date_bin('1 hour', t.created_at, TIMESTAMPTZ 'epoch') = h.hour"
#define LITE_HOUR "(t.created_at / 3600000000) * 3600000000 = h.hour"

static void assert_counters_exact(tia_store *s, const char *when)
{
    int64_t bad = tia_test_int(s, BAD_COUNTERS("cost_usd", "total_cost_usd", PG_HOUR),
                               BAD_COUNTERS("cost_usd_micros", "total_cost_usd_micros", LITE_HOUR));
    if (bad != 0)
        fail_msg("%s: %lld counter rows differ from a recomputation", when, (long long)bad);
}

/*
 * Every task claimed in batches of all five agents and completed in one batch
 * per claim (tokens reported, cost from the price), a few failed, the
 * counters compared with a recomputation after each phase.
 */
static void test_batches_keep_counters(void **state)
{
    tia_store *s = *state;
    static spec_text x[N_TASKS];
    static tia_task_spec t[N_TASKS];
    static char ids[N_TASKS][TIA_UUID_BUF];
    static tia_completion items[200];
    static int rcs[200];
    char wf[TIA_UUID_BUF];
    tia_error err = {0};
    memset(x, 0, sizeof x);
    submit_big(s, wf, ids, x, t);
    assert_counters_exact(s, "after the submission");
    int64_t done = 0, failed = 0;
    for (int round = 0; round < 100; round++) {
        struct tia_claim_list l = {0};
        TIA_OK_OR_FAIL(tia_engine_claim(s, agents, N_AGENTS, "w1", 200, 60000, &l, &err), &err);
        if (l.n == 0) { /* the rest waits for a task that failed: cancelled */
            tia_claim_list_free(&l);
            break;
        }
        if (round == 0)
            assert_counters_exact(s, "after a claim");
        size_t n = 0;
        for (size_t i = 0; i < l.n; i++) {
            if (i % 97 == 3) { /* not retryable: it fails for good, its dependents are cancelled */
                TIA_OK_OR_FAIL(tia_engine_fail(s, l.items[i].task->id, "w1", l.items[i].attempt,
                                               "broken", 0, &err),
                               &err);
                if (failed++ == 0)
                    assert_counters_exact(s, "after a failure");
                continue;
            }
            int64_t in = (int64_t)(i % 50), out = (int64_t)(i % 7);
            items[n++] = (tia_completion){l.items[i].task->id,
                                          "w1",
                                          l.items[i].attempt,
                                          "{\"ok\": true}",
                                          in + out,
                                          in,
                                          out,
                                          -1};
        }
        TIA_OK_OR_FAIL(tia_engine_complete_batch(s, items, n, rcs, &err), &err);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(rcs[i], 0);
        done += (int64_t)n;
        tia_claim_list_free(&l);
        if (round == 0)
            assert_counters_exact(s, "after a batch of completions");
    }
    assert_true(done > N_TASKS / 2);
    assert_true(failed > 0);
    assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks WHERE status = 'completed'"), done);
    assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks WHERE status = 'failed'"), failed);
    assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks WHERE status IN ('pending', "
                              "'running') AND deps_pending = 0"),
                     0);
    assert_counters_exact(s, "at the end");
    free_specs(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_big_workflow_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_keep_counters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
