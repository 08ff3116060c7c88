/*
 * The counters conformance test, on both backends. The seed schema carries
 * counters (agents.total_tasks_completed, total_tokens_used, average_latency_ms,
 * success_rate; workflows.total_tasks, completed_tasks, failed_tasks,
 * total_tokens_used, total_cost_usd) and migration 0002 adds agent_task_totals;
 * triggers keep them all true from any path. This test runs a long seeded
 * random mix of library calls and raw SQL (status, tokens, cost, agent and
 * workflow changes that bypass the state machine, single and multi-row updates
 * and deletes, cascades from workflows and agents), then recomputes every
 * counter from agent_tasks and compares. The seed is printed, and can be set
 * with TIA_TEST_SEED to replay a failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tia_test.h"

#include <tokyoia/tasks.h>

#define N_OPS 3000
#define CHECK_EVERY 1000
#define MAX_TASKS 8192
#define MAX_AGENTS 64
#define MAX_WORKFLOWS 256

typedef struct world {
    tia_store *s;
    unsigned long long seed;
    uint64_t rng;
    int op;
    char tasks[MAX_TASKS][TIA_UUID_BUF];
    int n_tasks;
    char agents[MAX_AGENTS][32];
    int n_agents;
    char workflows[MAX_WORKFLOWS][TIA_UUID_BUF];
    int n_workflows;
    int next_name; /* for new agent and workflow names */
    int done[4];   /* successful library creates, transitions, raw updates, raw deletes */
} world;

static uint32_t rnd(world *w, uint32_t n)
{
    w->rng = w->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(w->rng >> 33) % n;
}

static const char *any_task(world *w)
{
    return w->n_tasks ? w->tasks[rnd(w, w->n_tasks)] : NULL;
}
static const char *any_agent(world *w)
{
    return w->agents[rnd(w, w->n_agents)];
}
static const char *any_workflow(world *w)
{
    return w->n_workflows ? w->workflows[rnd(w, w->n_workflows)] : NULL;
}

static void remember_task(world *w, const char *id)
{
    int slot = w->n_tasks < MAX_TASKS ? w->n_tasks++ : (int)rnd(w, MAX_TASKS);
    memcpy(w->tasks[slot], id, TIA_UUID_BUF);
}

/* Fails unless a library call ended in an outcome the random mix can cause. */
static void expect_ok_or_expected(world *w, int rc, const tia_error *err, const char *what)
{
    if (rc != 0 && rc != TIA_ENOTFOUND && rc != TIA_ECONFLICT)
        fail_msg("seed %llu, op %d: %s: %d (%s): %s", w->seed, w->op, what, rc, tia_strerror(rc),
                 err->message);
}

/* Raw SQL; failures are expected (a parent task's NO ACTION key refuses deletes). */
static int raw(world *w, const char *pg, const char *lite)
{
    tia_error err = {0};
    return tia_test_exec(w->s, pg, lite ? lite : pg, &err);
}

static tia_task_new random_new(world *w)
{
    tia_task_new n = {0};
    n.agent_id = rnd(w, 50) ? any_agent(w) : "ghost-000";
    n.workflow_id = rnd(w, 2) ? any_workflow(w) : NULL;
    n.task_type = "mix";
    n.description = "random task";
    n.parent_task_id = rnd(w, 10) == 0 ? any_task(w) : NULL;
    return n;
}

static void op_create(world *w)
{
    tia_task_new n = random_new(w);
    char id[TIA_UUID_BUF];
    tia_error err = {0};
    int rc = tia_task_create(w->s, &n, id, &err);
    expect_ok_or_expected(w, rc, &err, "create");
    if (rc == 0) {
        remember_task(w, id);
        w->done[0]++;
    }
}

static void op_batch(world *w)
{
    tia_task_new items[10];
    char ids[10][TIA_UUID_BUF];
    size_t n = 1 + rnd(w, 10);
    for (size_t i = 0; i < n; i++)
        items[i] = random_new(w);
    tia_error err = {0};
    int rc = tia_task_create_batch(w->s, items, n, ids, &err);
    expect_ok_or_expected(w, rc, &err, "batch");
    for (size_t i = 0; rc == 0 && i < n; i++)
        remember_task(w, ids[i]);
}

static void op_transition(world *w)
{
    /* Mostly recent tasks, which are still pending or running, so that most moves succeed. */
    if (w->n_tasks == 0)
        return;
    const char *id = rnd(w, 4)
                         ? w->tasks[w->n_tasks - 1 - (int)rnd(w, w->n_tasks < 20 ? w->n_tasks : 20)]
                         : any_task(w);
    tia_run_status to = (tia_run_status)(rnd(w, 3) ? rnd(w, 5) : TIA_RUNNING);
    tia_task_result r = {NULL, NULL, rnd(w, 5000), rnd(w, 200000)};
    tia_error err = {0};
    int final = to == TIA_COMPLETED || to == TIA_FAILED || to == TIA_CANCELLED;
    int rc = tia_task_transition(w->s, id, to, final && rnd(w, 4) ? &r : NULL, &err);
    expect_ok_or_expected(w, rc, &err, "transition");
    w->done[1] += rc == 0;
}

static void op_raw_update(world *w)
{
    static const char *const statuses[] = {"pending", "running", "completed", "failed",
                                           "cancelled"};
    const char *id = any_task(w);
    const char *wf = any_workflow(w);
    char pg[400], lite[400], wf_text[64] = "NULL";
    if (id == NULL)
        return;
    if (wf != NULL && rnd(w, 3))
        snprintf(wf_text, sizeof wf_text, "'%s'", wf);
    unsigned tokens = rnd(w, 5000), cost = rnd(w, 200000), dur = rnd(w, 100000);
    const char *st = statuses[rnd(w, 5)];
    switch (rnd(w, 8)) {
    case 0:
        snprintf(pg, sizeof pg, "UPDATE agent_tasks SET status = '%s' WHERE id = '%s'", st, id);
        break;
    case 1:
        snprintf(pg, sizeof pg, "UPDATE agent_tasks SET tokens_used = %u WHERE id = '%s'", tokens,
                 id);
        break;
    case 2:
        snprintf(pg, sizeof pg, "UPDATE agent_tasks SET agent_id = '%s' WHERE id = '%s'",
                 any_agent(w), id);
        break;
    case 3:
        snprintf(pg, sizeof pg, "UPDATE agent_tasks SET workflow_id = %s WHERE id = '%s'", wf_text,
                 id);
        break;
    case 4:
        snprintf(pg, sizeof pg, "UPDATE agent_tasks SET duration_ms = %s WHERE id = '%s'",
                 rnd(w, 4) ? "duration_ms + 13" : "NULL", id);
        break;
    case 5: /* many rows at once: one statement-level trigger run on PostgreSQL */
        snprintf(pg, sizeof pg,
                 "UPDATE agent_tasks SET tokens_used = tokens_used + 1, "
                 "status = '%s', duration_ms = COALESCE(duration_ms, %u) WHERE agent_id = '%s' "
                 "AND tokens_used %% 3 = 0",
                 st, dur, any_agent(w));
        break;
    case 6:
        snprintf(pg, sizeof pg,
                 "UPDATE agent_tasks SET agent_id = '%s', workflow_id = %s, "
                 "status = '%s', duration_ms = %u WHERE id = '%s'",
                 any_agent(w), wf_text, st, dur, id);
        break;
    default: /* cost: the only column named differently on the two backends */
        snprintf(pg, sizeof pg, "UPDATE agent_tasks SET cost_usd = %u / 1000000.0 WHERE id = '%s'",
                 cost, id);
        snprintf(lite, sizeof lite, "UPDATE agent_tasks SET cost_usd_micros = %u WHERE id = '%s'",
                 cost, id);
        w->done[2] += raw(w, pg, lite) == 0;
        return;
    }
    w->done[2] += raw(w, pg, NULL) == 0;
}

static void op_raw_delete(world *w)
{
    char sql[200];
    const char *id = any_task(w);
    if (id == NULL)
        return;
    if (rnd(w, 5))
        snprintf(sql, sizeof sql, "DELETE FROM agent_tasks WHERE id = '%s'", id);
    else
        snprintf(sql, sizeof sql,
                 "DELETE FROM agent_tasks WHERE agent_id = '%s' AND status = "
                 "'cancelled' AND id NOT IN (SELECT parent_task_id FROM agent_tasks WHERE "
                 "parent_task_id IS NOT NULL)",
                 any_agent(w));
    w->done[3] += raw(w, sql, NULL) == 0;
}

static void op_workflow(world *w)
{
    char sql[200];
    if (w->n_workflows < MAX_WORKFLOWS && (w->n_workflows < 3 || rnd(w, 3))) {
        char *id = w->workflows[w->n_workflows];
        snprintf(id, TIA_UUID_BUF, "%08x-0000-4000-8000-000000000000", (unsigned)++w->next_name);
        snprintf(sql, sizeof sql, "INSERT INTO workflows (id, name) VALUES ('%s', 'wf')", id);
        if (raw(w, sql, NULL) == 0)
            w->n_workflows++;
        return;
    }
    int k = (int)rnd(w, w->n_workflows);
    snprintf(sql, sizeof sql, "DELETE FROM workflows WHERE id = '%s'", w->workflows[k]);
    if (raw(w, sql, NULL) == 0)
        memcpy(w->workflows[k], w->workflows[--w->n_workflows], TIA_UUID_BUF);
}

static void op_agent(world *w)
{
    char pg[300], lite[300];
    if (w->n_agents < MAX_AGENTS && (w->n_agents < 4 || rnd(w, 2))) {
        char *id = w->agents[w->n_agents];
        snprintf(id, 32, "bot-%d", ++w->next_name);
        const char *fmt = "INSERT INTO agents (id, name, role, model, specialties) VALUES "
                          "('%s', 'Bot', 'tester', 'none', %s)";
        snprintf(pg, sizeof pg, fmt, id, "ARRAY['x']");
        snprintf(lite, sizeof lite, fmt, id, "'[\"x\"]'");
        if (raw(w, pg, lite) == 0)
            w->n_agents++;
        return;
    }
    int k = (int)rnd(w, w->n_agents);
    snprintf(pg, sizeof pg, "DELETE FROM agents WHERE id = '%s'", w->agents[k]);
    if (raw(w, pg, NULL) == 0)
        memcpy(w->agents[k], w->agents[--w->n_agents], 32);
}

/* Runs a query of (key, stored, recomputed, stored, recomputed, ...) and compares each pair. */
static void compare_pairs(world *w, const char *pg, const char *lite, const char *const *names,
                          int npairs)
{
    tia__sql q = {"test.recompute", pg, lite, 1};
    tia__rows *r = NULL;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia__db_query(w->s, &q, NULL, 0, &r, &err), &err);
    int rc, rows = 0;
    while ((rc = tia__rows_next(r, &err)) > 0) {
        rows++;
        for (int k = 0; k < npairs; k++) {
            double stored = tia__col_double(r, 1 + 2 * k), want = tia__col_double(r, 2 + 2 * k);
            if (tia__col_isnull(r, 1 + 2 * k) || fabs(stored - want) > 1e-6 * fmax(1.0, fabs(want)))
                fail_msg("seed %llu, after op %d: %s of %s: stored %.17g, recomputed %.17g",
                         w->seed, w->op, names[k], tia__col_text(r, 0), stored, want);
        }
    }
    TIA_OK_OR_FAIL(rc, &err);
    tia__rows_free(r);
    if (rows == 0)
        fail_msg("seed %llu: no rows to compare for %s", w->seed, names[0]);
}

#define C(st) "COUNT(t.id) FILTER (WHERE t.status = '" st "')"

static void check_agents(world *w)
{
    static const char *const names[] = {"agents.total_tasks_completed", "agents.total_tokens_used",
                                        "agents.average_latency_ms", "agents.success_rate"};
    const char *q = "SELECT a.id, a.total_tasks_completed, " C(
        "completed") ", a.total_tokens_used, "
                     "COALESCE(SUM(t.tokens_used), 0), a.average_latency_ms, "
                     "COALESCE(AVG(t.duration_ms) FILTER (WHERE t.status = 'completed'), 0), "
                     "a.success_rate, "
                     "CASE WHEN " C("completed") " + " C(
                         "failed") " = 0 THEN 100 "
                                   "ELSE 100.0 * " C("completed") " / (" C("completed") " + " C(
                                       "failed") ") END "
                                                 "FROM agents a LEFT JOIN agent_tasks t ON "
                                                 "t.agent_id = a.id GROUP BY a.id ORDER BY a.id";
    compare_pairs(w, q, q, names, 4);
}

#define WORKFLOWS_SQL(total_cost, cost)                                                            \
    "SELECT w.id, w.total_tasks, COUNT(t.id), w.completed_tasks, " C(                              \
        "completed") ", "                                                                          \
                     "w.failed_tasks, " C(                                                         \
                         "failed") ", w.total_tokens_used, COALESCE(SUM(t.tokens_used), 0), "      \
                                   "w." total_cost ", COALESCE(SUM(t." cost                        \
                                   "), 0) FROM workflows w "                                       \
                                   "LEFT JOIN agent_tasks t ON t.workflow_id = w.id GROUP BY "     \
                                   "w.id ORDER BY w.id"

static void check_workflows(world *w)
{
    static const char *const names[] = {"workflows.total_tasks", "workflows.completed_tasks",
                                        "workflows.failed_tasks", "workflows.total_tokens_used",
                                        "workflows.total_cost_usd"};
    if (w->n_workflows == 0)
        return;
    compare_pairs(w, WORKFLOWS_SQL("total_cost_usd", "cost_usd"),
                  WORKFLOWS_SQL("total_cost_usd_micros", "cost_usd_micros"), names, 5);
}

#define TOTALS_SQL(cost)                                                                           \
    "SELECT x.agent_id, x.pending, " C("pending") ", x.running, " C(                               \
        "running") ", "                                                                            \
                   "x.completed, " C("completed") ", x.failed, " C("failed") ", x.cancelled, " C(  \
                       "cancelled") ", x.tokens, COALESCE(SUM(t.tokens_used), 0), x." cost ", "    \
                                    "COALESCE(SUM(t." cost                                         \
                                    "), 0), x.duration_sum, COALESCE(SUM(t.duration_ms), 0), "     \
                                    "x.duration_n, COUNT(t.duration_ms), "                         \
                                    "x.completed_duration_sum, "                                   \
                                    "COALESCE(SUM(t.duration_ms) FILTER (WHERE t.status = "        \
                                    "'completed'), 0), "                                           \
                                    "x.completed_duration_n, COUNT(t.duration_ms) FILTER (WHERE "  \
                                    "t.status = 'completed') "                                     \
                                    "FROM agent_task_totals x LEFT JOIN agent_tasks t ON "         \
                                    "t.agent_id = x.agent_id "                                     \
                                    "GROUP BY x.agent_id ORDER BY x.agent_id"

static void check_totals(world *w)
{
    static const char *const names[] = {"totals.pending",
                                        "totals.running",
                                        "totals.completed",
                                        "totals.failed",
                                        "totals.cancelled",
                                        "totals.tokens",
                                        "totals.cost",
                                        "totals.duration_sum",
                                        "totals.duration_n",
                                        "totals.completed_duration_sum",
                                        "totals.completed_duration_n"};
    compare_pairs(w, TOTALS_SQL("cost_usd"), TOTALS_SQL("cost_usd_micros"), names, 11);
    /* One totals row per agent, no more, no less. */
    const char *q = "SELECT COUNT(*) FROM agents a WHERE NOT EXISTS "
                    "(SELECT 1 FROM agent_task_totals x WHERE x.agent_id = a.id)";
    if (tia_test_int(w->s, q, q) != 0)
        fail_msg("seed %llu, after op %d: an agent has no agent_task_totals row", w->seed, w->op);
    const char *q2 =
        "SELECT (SELECT COUNT(*) FROM agent_task_totals) - (SELECT COUNT(*) FROM agents)";
    if (tia_test_int(w->s, q2, q2) != 0)
        fail_msg("seed %llu, after op %d: agent_task_totals has rows of no agent", w->seed, w->op);
}

static void check_all(world *w)
{
    check_agents(w);
    check_workflows(w);
    check_totals(w);
}

static void run_one(world *w)
{
    uint32_t k = rnd(w, 100);
    if (k < 30)
        op_create(w);
    else if (k < 55)
        op_transition(w);
    else if (k < 60)
        op_batch(w);
    else if (k < 76)
        op_raw_update(w);
    else if (k < 84)
        op_raw_delete(w);
    else if (k < 92)
        op_workflow(w);
    else
        op_agent(w);
}

/*
 * Puts one task in every status through the library, so that the final
 * comparison covers every status whatever the random mix left behind.
 */
static void one_task_per_status(world *w)
{
    static const tia_run_status path[][3] = {
        {TIA_PENDING}, {TIA_RUNNING}, {TIA_RUNNING, TIA_COMPLETED},
        {TIA_RUNNING, TIA_FAILED}, {TIA_CANCELLED}};
    static const int steps[] = {0, 1, 2, 2, 1};
    for (int i = 0; i < 5; i++) {
        tia_error err = {0};
        char id[TIA_UUID_BUF];
        tia_task_new t = {.agent_id = any_agent(w), .task_type = "final", .description = "d"};
        TIA_OK_OR_FAIL(tia_task_create(w->s, &t, id, &err), &err);
        for (int k = 0; k < steps[i]; k++) {
            tia_task_result r = {.tokens_used = 10 + i, .cost_micros = 100 + i};
            int final = path[i][k] != TIA_RUNNING;
            TIA_OK_OR_FAIL(tia_task_transition(w->s, id, path[i][k], final ? &r : NULL, &err),
                           &err);
        }
    }
}

static void test_counters_random_mix(void **state)
{
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->s = *state;
    const char *env = getenv("TIA_TEST_SEED");
    w->seed = env ? strtoull(env, NULL, 10) : (unsigned long long)time(NULL);
    w->rng = w->seed;
    print_message("counters: seed %llu (set TIA_TEST_SEED to replay)\n", w->seed);
    static const char *const seeded[] = {"akira-001", "yuki-002", "hiro-003", "sakura-004",
                                         "kenji-005"};
    for (int i = 0; i < 5; i++)
        snprintf(w->agents[w->n_agents++], 32, "%s", seeded[i]);
    for (w->op = 1; w->op <= N_OPS; w->op++) {
        run_one(w);
        if (w->op % CHECK_EVERY == 0)
            check_all(w);
    }
    print_message("counters: %d creates, %d transitions, %d raw updates, %d raw deletes, "
                  "%d agents, %d workflows live\n",
                  w->done[0], w->done[1], w->done[2], w->done[3], w->n_agents, w->n_workflows);
    /* The mix must really have exercised every path, or the comparison proves little. */
    for (int i = 0; i < 4; i++)
        if (w->done[i] < 50)
            fail_msg("seed %llu: only %d operations of kind %d succeeded", w->seed, w->done[i], i);
    one_task_per_status(w);
    check_all(w);
    const char *busy = "SELECT COUNT(DISTINCT status) FROM agent_tasks";
    assert_int_equal(tia_test_int(w->s, busy, busy), 5);
    free(w);
}

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counters_random_mix, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
