/*
 * The bulk loader (src/store/bulk.c) on both backends: it writes exactly the rows
 * asked for, the counters the triggers keep equal a recomputation (and the
 * recomputation does notice a wrong counter), every task's status agrees with its
 * timestamps, duration and cost, and bad specs or a missing seed agent write
 * nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tia_test.h"

#include <tokyoia/archive.h>

#include "store/bulk.h"

#define N_TASKS 2000
#define N_METRICS 5000
#define DAYS 30

#define COUNT(s, from) tia_test_int((s), "SELECT count(*) FROM " from, "SELECT count(*) FROM " from)

/* Microseconds of a timestamp column: PostgreSQL converts, SQLite stores them. */
#define US(col) "(extract(epoch from " col ") * 1000000)::int8"

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

static tia__bulk_spec spec_of(int64_t tasks, int64_t metrics)
{
    tia__bulk_spec sp = {tasks, metrics, -1, DAYS, 42, 0, NULL, NULL};
    return sp;
}

static tia__bulk_counts load_ok(tia_store *s, const tia__bulk_spec *sp)
{
    tia__bulk_counts c = {0};
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia__bulk_load_tasks(s, sp, &c, &err), &err);
    TIA_OK_OR_FAIL(tia__bulk_load_metrics(s, sp, &c, &err), &err);
    return c;
}

static void test_row_counts(void **state)
{
    tia_store *s = *state;
    tia__bulk_spec sp = spec_of(N_TASKS, N_METRICS);
    tia__bulk_counts c = load_ok(s, &sp);
    assert_int_equal(c.tasks, N_TASKS);
    assert_int_equal(c.metrics, N_METRICS);
    assert_int_equal(c.workflows, N_TASKS / 5);
    assert_int_equal(COUNT(s, "agent_tasks"), N_TASKS);
    assert_int_equal(COUNT(s, "agent_metrics"), N_METRICS);
    assert_int_equal(COUNT(s, "workflows"), N_TASKS / 5);
    assert_int_equal(COUNT(s, "agent_interactions"), c.interactions);
    assert_true(c.interactions > N_TASKS / 5);
    /* Every agent has tasks and metric points; every metric type is there. */
    assert_int_equal(tia_test_int(s, "SELECT count(DISTINCT agent_id) FROM agent_tasks",
                                  "SELECT count(DISTINCT agent_id) FROM agent_tasks"),
                     5);
    assert_int_equal(tia_test_int(s, "SELECT count(DISTINCT metric_type) FROM agent_metrics",
                                  "SELECT count(DISTINCT metric_type) FROM agent_metrics"),
                     5);
    /* Four workflow types; workflows hold most tasks, some tasks stand alone. */
    assert_int_equal(tia_test_int(s, "SELECT count(DISTINCT workflow_type) FROM workflows",
                                  "SELECT count(DISTINCT workflow_type) FROM workflows"),
                     4);
    int64_t standalone = COUNT(s, "agent_tasks WHERE workflow_id IS NULL");
    assert_true(standalone > 0 && standalone < N_TASKS / 2);
    assert_true(COUNT(s, "agent_tasks WHERE parent_task_id IS NOT NULL") > N_TASKS / 4);
}

static void test_explicit_workflow_count(void **state)
{
    tia_store *s = *state;
    tia__bulk_spec sp = spec_of(100, 0);
    sp.workflows = 60; /* 60 workflows need ~237 steps: the newest lose theirs */
    tia__bulk_counts c = load_ok(s, &sp);
    assert_int_equal(c.workflows, 60);
    assert_int_equal(COUNT(s, "agent_tasks"), 100);
    assert_int_equal(COUNT(s, "agent_tasks WHERE workflow_id IS NULL"), 0);
    assert_true(COUNT(s, "workflows WHERE total_tasks = 0 AND status = 'pending'") > 0);
}

static void assert_counters_ok(tia_store *s, int64_t agents, int64_t workflows)
{
    tia__bulk_check chk;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia__bulk_check_counters(s, &chk, &err), &err);
    assert_int_equal(chk.agents, agents);
    assert_int_equal(chk.workflows, workflows);
    assert_int_equal(chk.agents_bad, 0);
    assert_int_equal(chk.workflows_bad, 0);
}

static void test_counters_equal_recomputation(void **state)
{
    tia_store *s = *state;
    tia__bulk_spec sp = spec_of(N_TASKS, N_METRICS);
    load_ok(s, &sp);
    assert_counters_ok(s, 5, N_TASKS / 5);
    /* The triggers did the work: the counters are not the defaults. */
    assert_int_equal(tia_test_int(s, "SELECT sum(total_tasks) FROM workflows",
                                  "SELECT sum(total_tasks) FROM workflows"),
                     COUNT(s, "agent_tasks WHERE workflow_id IS NOT NULL"));
    assert_int_equal(tia_test_int(s, "SELECT sum(total_tasks_completed) FROM agents",
                                  "SELECT sum(total_tasks_completed) FROM agents"),
                     COUNT(s, "agent_tasks WHERE status = 'completed'"));
    /* A second load on top keeps them true. */
    sp.seed = 7;
    load_ok(s, &sp);
    assert_counters_ok(s, 5, 2 * (N_TASKS / 5));
}

static void test_check_notices_wrong_counters(void **state)
{
    tia_store *s = *state;
    tia__bulk_spec sp = spec_of(300, 0);
    load_ok(s, &sp);
    tia_error err = {0};
    /* Bypass the triggers to break one agent and two workflows. */
    const char *agent = "UPDATE agents SET total_tokens_used = total_tokens_used + 1 "
                        "WHERE id = 'yuki-002'";
    TIA_OK_OR_FAIL(tia_test_exec(s, agent, agent, &err), &err);
    TIA_OK_OR_FAIL(tia_test_exec(s,
                                 "UPDATE workflows SET failed_tasks = failed_tasks + 1 WHERE id IN "
                                 "(SELECT id FROM workflows ORDER BY id LIMIT 2)",
                                 "UPDATE workflows SET failed_tasks = failed_tasks + 1 WHERE id IN "
                                 "(SELECT id FROM workflows ORDER BY id LIMIT 2)",
                                 &err),
                   &err);
    tia__bulk_check chk;
    TIA_OK_OR_FAIL(tia__bulk_check_counters(s, &chk, &err), &err);
    assert_int_equal(chk.agents_bad, 1);
    assert_int_equal(chk.workflows_bad, 2);
}

static void break_by_hand(tia_store *s, const char *sql)
{
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_test_exec(s, sql, sql, &err), &err);
}

/*
 * Archived tasks leave agent_tasks but stay in the agents' counters (migration
 * 0013): after an archive the check adds archived_task_totals and finds nothing
 * wrong (it found every agent wrong before), and it still finds a broken counter,
 * a broken totals row and a broken latency of an agent with archived tasks.
 */
static void test_check_counts_archived_tasks(void **state)
{
    tia_store *s = *state;
    tia__bulk_spec sp = spec_of(N_TASKS, 0);
    load_ok(s, &sp);
    int64_t workflows = COUNT(s, "workflows");
    tia_archive_options o = {.older_than_us = INT64_C(7) * 86400 * 1000000};
    tia_archive_result res;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_archive_run(s, &o, &res, &err), &err);
    assert_true(res.workflows > 0 && res.tasks > 0);
    assert_true(COUNT(s, "archived_task_totals WHERE completed > 0") > 0);

    tia__bulk_check chk;
    TIA_OK_OR_FAIL(tia__bulk_check_counters(s, &chk, &err), &err);
    assert_int_equal(chk.agents, 5);
    assert_int_equal(chk.agents_bad, 0);
    assert_int_equal(chk.workflows, workflows - res.workflows);
    assert_int_equal(chk.workflows_bad, 0);
    assert_int_equal(chk.agents_archived, COUNT(s, "archived_task_totals WHERE completed > 0"));

    break_by_hand(s, "UPDATE agents SET total_tasks_completed = total_tasks_completed - 1 "
                     "WHERE id = 'akira-001'");
    break_by_hand(s, "UPDATE agent_task_totals SET cancelled = cancelled + 1 "
                     "WHERE agent_id = 'yuki-002'");
    break_by_hand(s, "UPDATE agents SET average_latency_ms = average_latency_ms + 5 "
                     "WHERE id = 'hiro-003'");
    TIA_OK_OR_FAIL(tia__bulk_check_counters(s, &chk, &err), &err);
    assert_int_equal(chk.agents_bad, 3);
    assert_int_equal(chk.workflows_bad, 0);
}

/* Tasks breaking the rule in `where` (SQL per backend); must be none. */
static void assert_none(tia_store *s, const char *what, const char *pg_where,
                        const char *lite_where)
{
    char pg[1024], lite[1024];
    snprintf(pg, sizeof pg, "SELECT count(*) FROM agent_tasks WHERE %s", pg_where);
    snprintf(lite, sizeof lite, "SELECT count(*) FROM agent_tasks WHERE %s", lite_where);
    int64_t n = tia_test_int(s, pg, lite);
    if (n != 0)
        fail_msg("%" PRId64 " tasks break: %s", n, what);
}

static void test_tasks_respect_checks(void **state)
{
    tia_store *s = *state;
    tia__bulk_spec sp = spec_of(N_TASKS, 0);
    load_ok(s, &sp);
    assert_none(s, "completed/failed have started_at <= completed_at and an exact duration_ms",
                "status IN ('completed', 'failed') AND (started_at IS NULL OR completed_at IS NULL "
                "OR completed_at < started_at OR duration_ms IS NULL OR duration_ms * 1000 <> " US(
                    "completed_at") " - " US("started_at") ")",
                "status IN ('completed', 'failed') AND (started_at IS NULL OR completed_at IS NULL "
                "OR completed_at < started_at OR duration_ms IS NULL "
                "OR duration_ms * 1000 <> completed_at - started_at)");
    assert_none(s, "pending tasks have no timestamps, tokens or cost",
                "status = 'pending' AND (started_at IS NOT NULL OR completed_at IS NOT NULL OR "
                "duration_ms IS NOT NULL OR tokens_used <> 0 OR cost_usd <> 0)",
                "status = 'pending' AND (started_at IS NOT NULL OR completed_at IS NOT NULL OR "
                "duration_ms IS NOT NULL OR tokens_used <> 0 OR cost_usd_micros <> 0)");
    assert_none(s, "running tasks have started_at only",
                "status = 'running' AND (started_at IS NULL OR completed_at IS NOT NULL OR "
                "duration_ms IS NOT NULL)",
                "status = 'running' AND (started_at IS NULL OR completed_at IS NOT NULL OR "
                "duration_ms IS NOT NULL)");
    assert_none(s, "cancelled tasks have completed_at, and a duration only when they ran",
                "status = 'cancelled' AND (completed_at IS NULL OR (started_at IS NULL) <> "
                "(duration_ms IS NULL))",
                "status = 'cancelled' AND (completed_at IS NULL OR (started_at IS NULL) <> "
                "(duration_ms IS NULL))");
    assert_none(s, "tasks start after they are created, within the history",
                "started_at < created_at OR created_at < now() - interval '31 days' OR "
                "created_at > now()",
                "started_at < created_at OR created_at < " TIA_SQLITE_NOW " - 31 * 86400000000 "
                "OR created_at > " TIA_SQLITE_NOW);
    assert_none(s, "cost is tokens at the seed price of the agent's model",
                "cost_usd * 1000000 <> tokens_used * CASE agent_id WHEN 'akira-001' THEN 15 "
                "WHEN 'yuki-002' THEN 30 WHEN 'hiro-003' THEN 0 WHEN 'sakura-004' THEN 10 "
                "ELSE 30 END",
                "cost_usd_micros <> tokens_used * CASE agent_id WHEN 'akira-001' THEN 15 "
                "WHEN 'yuki-002' THEN 30 WHEN 'hiro-003' THEN 0 WHEN 'sakura-004' THEN 10 "
                "ELSE 30 END");
    assert_none(s, "a parent task is created no later than its child",
                "parent_task_id IS NOT NULL AND created_at < "
                "(SELECT p.created_at FROM agent_tasks p WHERE p.id = agent_tasks.parent_task_id)",
                "parent_task_id IS NOT NULL AND created_at < "
                "(SELECT p.created_at FROM agent_tasks p WHERE p.id = agent_tasks.parent_task_id)");
    /* Mostly completed, some failed. */
    int64_t completed = COUNT(s, "agent_tasks WHERE status = 'completed'");
    int64_t failed = COUNT(s, "agent_tasks WHERE status = 'failed'");
    assert_true(completed > N_TASKS * 7 / 10);
    assert_true(failed > 0 && failed < N_TASKS / 5);
    /* A completed workflow has every task completed. */
    assert_int_equal(COUNT(s, "workflows WHERE status = 'completed' AND "
                              "(completed_tasks <> total_tasks OR total_tasks = 0)"),
                     0);
}

static void test_bad_spec_writes_nothing(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia__bulk_spec sp = spec_of(-1, 10);
    TIA_ASSERT_RC(tia__bulk_load_tasks(s, &sp, NULL, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "tasks"));
    sp = spec_of(10, 10);
    sp.days = 0;
    TIA_ASSERT_RC(tia__bulk_load_metrics(s, &sp, NULL, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "days"));
    assert_int_equal(COUNT(s, "agent_tasks"), 0);
    assert_int_equal(COUNT(s, "agent_metrics"), 0);
}

static void test_missing_agent_writes_nothing(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    const char *del = "DELETE FROM agents WHERE id = 'kenji-005'";
    TIA_OK_OR_FAIL(tia_test_exec(s, del, del, &err), &err);
    tia__bulk_spec sp = spec_of(50, 50);
    TIA_ASSERT_RC(tia__bulk_load_tasks(s, &sp, NULL, &err), TIA_ENOTFOUND, &err);
    assert_non_null(strstr(err.message, "kenji-005"));
    TIA_ASSERT_RC(tia__bulk_load_metrics(s, &sp, NULL, &err), TIA_ENOTFOUND, &err);
    assert_int_equal(COUNT(s, "agent_tasks"), 0);
    assert_int_equal(COUNT(s, "workflows"), 0);
    assert_int_equal(COUNT(s, "agent_metrics"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_row_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explicit_workflow_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_equal_recomputation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_notices_wrong_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_counts_archived_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tasks_respect_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_spec_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_agent_writes_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
