/*
 * Conformance tests of the stats module on both backends: tia_stats_agents
 * against values worked out by hand for a small known data set, and against the
 * agent_stats view itself (read with raw SQL) after a seeded mix of library and
 * raw writes, bit for bit; the window statistics against the seed's query run
 * directly, with tasks inside and outside the window.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tia_test.h"

#include <tokyoia/stats.h>
#include <tokyoia/tasks.h>

#define HOUR_US INT64_C(3600000000)

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

/*
 * Inserts a task by raw SQL. duration_ms < 0 is NULL; age_us > 0 sets
 * created_at that long before now (0 keeps the default).
 */
static void add_raw(tia_store *s, const char *agent, const char *status, int64_t duration_ms,
                    int64_t tokens, int64_t cost_micros, int64_t age_us)
{
    char dur[32] = "NULL", cost[32], pg[600], lite[600];
    char pg_created[96] = "", lite_created[160] = "";
    if (duration_ms >= 0)
        snprintf(dur, sizeof dur, "%lld", (long long)duration_ms);
    tia_cost_format(cost_micros, cost, sizeof cost);
    if (age_us > 0) {
        snprintf(pg_created, sizeof pg_created, ", now() - interval '%lld microseconds'",
                 (long long)age_us);
        snprintf(lite_created, sizeof lite_created, ", " TIA_SQLITE_NOW " - %lld",
                 (long long)age_us);
    }
    const char *created_col = age_us > 0 ? ", created_at" : "";
    snprintf(pg, sizeof pg,
             "INSERT INTO agent_tasks (agent_id, task_type, description, status, duration_ms, "
             "tokens_used, cost_usd%s) VALUES ('%s', 't', 'd', '%s', %s, %lld, %s%s)",
             created_col, agent, status, dur, (long long)tokens, cost, pg_created);
    snprintf(lite, sizeof lite,
             "INSERT INTO agent_tasks (agent_id, task_type, description, status, duration_ms, "
             "tokens_used, cost_usd_micros%s) VALUES ('%s', 't', 'd', '%s', %s, %lld, %lld%s)",
             created_col, agent, status, dur, (long long)tokens, (long long)cost_micros,
             lite_created);
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_test_exec(s, pg, lite, &err), &err);
}

static const tia_agent_stats *find(const tia_agent_stats_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].id, id) == 0)
            return &l->items[i];
    fail_msg("agent %s is not in the stats", id);
    return NULL;
}

static void assert_double_near(double got, double want, const char *what)
{
    if (fabs(got - want) > 1e-9 * fmax(1.0, fabs(want)))
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

static void check_agent(const tia_agent_stats *a, int64_t total, int64_t completed, int64_t failed,
                        int64_t tokens, int64_t cost, double avg, double rate)
{
    assert_int_equal(a->total_tasks, total);
    assert_int_equal(a->completed_tasks, completed);
    assert_int_equal(a->failed_tasks, failed);
    assert_int_equal(a->total_tokens, tokens);
    assert_int_equal(a->total_cost_micros, cost);
    assert_double_near(a->avg_duration_ms, avg, a->id);
    assert_double_near(a->success_rate, rate, a->id);
}

static void test_known_values(void **state)
{
    tia_store *s = *state;
    add_raw(s, "yuki-002", "completed", 100, 10, 1000, 0);
    add_raw(s, "yuki-002", "completed", 200, 20, 2000, 0);
    add_raw(s, "yuki-002", "completed", 400, 30, 3500, 0);
    add_raw(s, "yuki-002", "failed", -1, 5, 100, 0);
    add_raw(s, "yuki-002", "pending", -1, 0, 0, 0);
    add_raw(s, "hiro-003", "completed", 10, 1, 1, 0);
    add_raw(s, "hiro-003", "completed", 20, 2, 2, 0);
    add_raw(s, "hiro-003", "failed", 31, 3, 3, 0);
    const char *new_agent = "INSERT INTO agents (id, name, role, model, specialties) VALUES "
                            "('zed-006', 'Zed', 'Idler', 'none', %s)";
    char pg[200], lite[200];
    snprintf(pg, sizeof pg, new_agent, "ARRAY['x']");
    snprintf(lite, sizeof lite, new_agent, "'[\"x\"]'");
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_test_exec(s, pg, lite, &err), &err);

    tia_agent_stats_list l;
    TIA_OK_OR_FAIL(tia_stats_agents(s, &l, &err), &err);
    assert_int_equal(l.n, 6);
    for (size_t i = 1; i < l.n; i++)
        assert_true(strcmp(l.items[i - 1].id, l.items[i].id) < 0);
    const tia_agent_stats *y = find(&l, "yuki-002");
    assert_string_equal(y->name, "Yuki");
    assert_string_equal(y->role, "Test Engineering Specialist");
    assert_int_equal(y->status, TIA_AGENT_ACTIVE);
    /* 3 of 5 completed; the mean is over the 3 tasks that have a duration. */
    check_agent(y, 5, 3, 1, 65, 6600, 700.0 / 3.0, 60.0);
    /* 2 of 3: 66.666... rounded to 2 places; 61/3 ms. */
    check_agent(find(&l, "hiro-003"), 3, 2, 1, 6, 6, 61.0 / 3.0, 66.67);
    check_agent(find(&l, "kenji-005"), 0, 0, 0, 0, 0, 0.0, 100.0);
    check_agent(find(&l, "zed-006"), 0, 0, 0, 0, 0, 0.0, 100.0);
    assert_string_equal(find(&l, "zed-006")->name, "Zed");
    tia_agent_stats_list_free(&l);
    tia_agent_stats_list_free(&l); /* idempotent */
}

/* A small deterministic generator, so that a failure can be replayed. */
static uint64_t rng_state = 20260101;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33) % n;
}

/* A mix of library creates and transitions, raw inserts, updates and deletes. */
static void make_mix(tia_store *s)
{
    static const char *const agents[] = {"akira-001", "yuki-002", "hiro-003", "sakura-004"};
    static const tia_run_status finals[] = {TIA_COMPLETED, TIA_FAILED, TIA_CANCELLED};
    static const char *const statuses[] = {"pending", "running", "completed", "failed",
                                           "cancelled"};
    tia_error err = {0};
    for (int i = 0; i < 120; i++) {
        char id[TIA_UUID_BUF];
        tia_task_new n = {agents[rnd(4)], NULL, "t", "d", NULL, NULL, NULL};
        TIA_OK_OR_FAIL(tia_task_create(s, &n, id, &err), &err);
        if (rnd(3) == 0)
            continue;
        TIA_OK_OR_FAIL(tia_task_transition(s, id, TIA_RUNNING, NULL, &err), &err);
        tia_task_result r = {NULL, NULL, rnd(5000), rnd(200000)};
        if (rnd(4) != 0)
            TIA_OK_OR_FAIL(tia_task_transition(s, id, finals[rnd(3)], &r, &err), &err);
    }
    for (int i = 0; i < 120; i++)
        add_raw(s, agents[rnd(4)], statuses[rnd(5)], rnd(3) ? (int64_t)rnd(100000) : -1, rnd(9000),
                rnd(1000000), 0);
    const char *upd = "UPDATE agent_tasks SET duration_ms = duration_ms + 7, status = 'failed' "
                      "WHERE tokens_used % 7 = 0";
    TIA_OK_OR_FAIL(tia_test_exec(s, upd, upd, &err), &err);
    const char *del = "DELETE FROM agent_tasks WHERE tokens_used % 11 = 0";
    TIA_OK_OR_FAIL(tia_test_exec(s, del, del, &err), &err);
}

static const tia__sql sql_view = {
    "test.view",
    "SELECT id, name, role, status, total_tasks, completed_tasks, failed_tasks, total_tokens, "
    "total_cost, avg_duration_ms, success_rate FROM agent_stats ORDER BY id",
    "SELECT id, name, role, status, total_tasks, completed_tasks, failed_tasks, total_tokens, "
    "CAST(round(total_cost * 1000000) AS INTEGER), avg_duration_ms, success_rate "
    "FROM agent_stats ORDER BY id",
    1,
};

/* Compares one library row with the view's current row, doubles bit for bit. */
static void compare_row(const tia_agent_stats *a, tia__rows *r)
{
    assert_string_equal(a->id, tia__col_text(r, 0));
    assert_string_equal(a->name, tia__col_text(r, 1));
    assert_string_equal(a->role, tia__col_text(r, 2));
    assert_string_equal(tia_agent_status_name(a->status), tia__col_text(r, 3));
    assert_int_equal(a->total_tasks, tia__col_int(r, 4));
    assert_int_equal(a->completed_tasks, tia__col_int(r, 5));
    assert_int_equal(a->failed_tasks, tia__col_int(r, 6));
    assert_int_equal(a->total_tokens, tia__col_int(r, 7));
    assert_int_equal(a->total_cost_micros, tia__col_cost(r, 8));
    double avg = tia__col_double(r, 9), rate = tia__col_double(r, 10);
    if (memcmp(&a->avg_duration_ms, &avg, sizeof avg) != 0)
        fail_msg("%s avg_duration_ms: got %.17g, view %.17g (%s)", a->id, a->avg_duration_ms, avg,
                 tia__col_text(r, 9));
    if (memcmp(&a->success_rate, &rate, sizeof rate) != 0)
        fail_msg("%s success_rate: got %.17g, view %.17g (%s)", a->id, a->success_rate, rate,
                 tia__col_text(r, 10));
}

static void assert_equals_view(tia_store *s)
{
    tia_error err = {0};
    tia_agent_stats_list l;
    TIA_OK_OR_FAIL(tia_stats_agents(s, &l, &err), &err);
    tia__rows *r = NULL;
    TIA_OK_OR_FAIL(tia__db_query(s, &sql_view, NULL, 0, &r, &err), &err);
    size_t i = 0;
    int rc;
    while ((rc = tia__rows_next(r, &err)) > 0) {
        if (i >= l.n)
            fail_msg("the view has more than %zu rows", l.n);
        compare_row(&l.items[i++], r);
    }
    TIA_OK_OR_FAIL(rc, &err);
    assert_int_equal(i, l.n);
    tia__rows_free(r);
    tia_agent_stats_list_free(&l);
}

static void test_equals_view(void **state)
{
    tia_store *s = *state;
    assert_equals_view(s); /* no tasks at all */
    make_mix(s);
    const char *some = "SELECT COUNT(DISTINCT agent_id) FROM agent_tasks";
    assert_int_equal(tia_test_int(s, some, some), 4); /* kenji-005 has none */
    assert_equals_view(s);
}

/* The seed's "Get agent statistics" query for a 24-hour window, run directly. */
static const tia__sql sql_seed_24h = {
    "test.seed_window",
    "SELECT agent_id, COUNT(*) as total_tasks, AVG(duration_ms) as avg_latency, "
    "SUM(tokens_used) as total_tokens, SUM(cost_usd) as total_cost FROM agent_tasks "
    "WHERE agent_id = 'akira-001' AND status = 'completed' "
    "AND created_at > NOW() - INTERVAL '24 hours' GROUP BY agent_id",
    "SELECT agent_id, COUNT(*) as total_tasks, AVG(duration_ms) as avg_latency, "
    "SUM(tokens_used) as total_tokens, SUM(cost_usd_micros) as total_cost FROM agent_tasks "
    "WHERE agent_id = 'akira-001' AND status = 'completed' "
    "AND created_at > " TIA_SQLITE_NOW " - 86400000000 GROUP BY agent_id",
    1,
};

static tia_agent_window_stats window(tia_store *s, const char *agent, int64_t us)
{
    tia_agent_window_stats w;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_stats_agent_window(s, agent, us, &w, &err), &err);
    return w;
}

static void test_window(void **state)
{
    tia_store *s = *state;
    add_raw(s, "akira-001", "completed", 100, 10, 1000, 1 * HOUR_US);
    add_raw(s, "akira-001", "completed", 251, 20, 2500, 23 * HOUR_US);
    add_raw(s, "akira-001", "completed", 1000, 40, 4000, 25 * HOUR_US);
    add_raw(s, "akira-001", "completed", 5000, 80, 8000, 48 * HOUR_US);
    add_raw(s, "akira-001", "failed", 7, 1, 1, 1 * HOUR_US);
    add_raw(s, "akira-001", "pending", -1, 0, 0, 2 * HOUR_US);
    add_raw(s, "yuki-002", "completed", 9, 9, 9, 1 * HOUR_US);

    tia_agent_window_stats w = window(s, "akira-001", 24 * HOUR_US);
    assert_int_equal(w.total_tasks, 2);
    assert_double_near(w.avg_latency_ms, 175.5, "avg 24h");
    assert_int_equal(w.total_tokens, 30);
    assert_int_equal(w.total_cost_micros, 3500);

    tia_error err = {0};
    tia__rows *r = NULL;
    TIA_OK_OR_FAIL(tia__db_query(s, &sql_seed_24h, NULL, 0, &r, &err), &err);
    assert_int_equal(tia__rows_next(r, &err), 1);
    assert_string_equal(tia__col_text(r, 0), "akira-001");
    assert_int_equal(w.total_tasks, tia__col_int(r, 1));
    double seed_avg = tia__col_double(r, 2);
    if (memcmp(&w.avg_latency_ms, &seed_avg, sizeof seed_avg) != 0)
        fail_msg("avg: got %.17g, seed query %.17g", w.avg_latency_ms, seed_avg);
    assert_int_equal(w.total_tokens, tia__col_int(r, 3));
    assert_int_equal(w.total_cost_micros, tia__col_cost(r, 4));
    tia__rows_free(r);

    w = window(s, "akira-001", 30 * HOUR_US);
    assert_int_equal(w.total_tasks, 3);
    assert_int_equal(w.total_tokens, 70);
    assert_double_near(w.avg_latency_ms, 1351.0 / 3.0, "avg 30h");
    w = window(s, "akira-001", 72 * HOUR_US);
    assert_int_equal(w.total_tasks, 4);
    assert_int_equal(w.total_cost_micros, 15500);
    w = window(s, "akira-001", 30 * 60 * INT64_C(1000000)); /* 30 minutes: none */
    assert_int_equal(w.total_tasks, 0);
    assert_double_near(w.avg_latency_ms, 0.0, "avg empty");
    assert_int_equal(w.total_tokens, 0);
    assert_int_equal(w.total_cost_micros, 0);
    w = window(s, "kenji-005", 24 * HOUR_US);
    assert_int_equal(w.total_tasks, 0);

    TIA_ASSERT_RC(tia_stats_agent_window(s, "ghost-000", HOUR_US, &w, &err), TIA_ENOTFOUND, &err);
    if (strstr(err.message, "ghost-000") == NULL)
        fail_msg("message '%s' does not name the agent", err.message);
    TIA_ASSERT_RC(tia_stats_agent_window(s, "akira-001", 0, &w, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_stats_agent_window(s, "akira-001", -5, &w, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_stats_agent_window(s, NULL, HOUR_US, &w, &err), TIA_EINVAL, &err);
}

/* The seed's window query with the window as a parameter (1: agent, 2: microseconds). */
static const tia__sql sql_seed_window = {
    "test.seed_window_n",
    "SELECT COUNT(*), COALESCE(AVG(duration_ms), 0)::float8, COALESCE(SUM(tokens_used), 0), "
    "COALESCE(SUM(cost_usd), 0) FROM agent_tasks WHERE agent_id = $1 AND status = 'completed' "
    "AND created_at > NOW() - $2::int8 * interval '1 microsecond'",
    "SELECT COUNT(*), COALESCE(AVG(duration_ms), 0.0), COALESCE(SUM(tokens_used), 0), "
    "COALESCE(SUM(cost_usd_micros), 0) FROM agent_tasks WHERE agent_id = ?1 "
    "AND status = 'completed' AND created_at > " TIA_SQLITE_NOW " - ?2",
    1,
};

/* agent_task_hours rows that differ from a recomputation from agent_tasks (both ways). */
#define HOURS_RECOMPUTED(hour, cost)                                                               \
    "SELECT agent_id, " hour " AS hour, COUNT(*) AS completed, COALESCE(SUM(tokens_used), 0) "   \
    "AS tokens, COALESCE(SUM(" cost "), 0) AS cost, COALESCE(SUM(duration_ms), 0) AS dsum, "      \
    "COUNT(duration_ms) AS dn FROM agent_tasks WHERE status = 'completed' GROUP BY 1, 2"
#define HOURS_STORED(cost)                                                                         \
    "SELECT agent_id, hour, completed, tokens, " cost ", duration_sum, duration_n "               \
    "FROM agent_task_hours WHERE (completed, tokens, " cost ", duration_sum, duration_n) "        \
    "<> (0, 0, 0, 0, 0)"
static const char *hours_diff_pg =
    "SELECT COUNT(*) FROM ((" HOURS_RECOMPUTED("date_bin('1 hour', created_at, TIMESTAMPTZ "
                                               "'epoch')", "cost_usd") " EXCEPT " HOURS_STORED(
        "cost_usd") ") UNION ALL (" HOURS_STORED("cost_usd") " EXCEPT " HOURS_RECOMPUTED(
        "date_bin('1 hour', created_at, TIMESTAMPTZ 'epoch')", "cost_usd") ")) d";
static const char *hours_diff_lite =
    "SELECT COUNT(*) FROM (SELECT * FROM (" HOURS_RECOMPUTED(
        "(created_at / 3600000000) * 3600000000", "cost_usd_micros") " EXCEPT " HOURS_STORED(
        "cost_usd_micros") ") UNION ALL SELECT * FROM (" HOURS_STORED("cost_usd_micros") " EXCEPT "
        HOURS_RECOMPUTED("(created_at / 3600000000) * 3600000000", "cost_usd_micros") "))";

static void assert_window_equals_seed(tia_store *s, const char *agent, int64_t us)
{
    tia_error err = {0};
    tia_agent_window_stats w;
    TIA_OK_OR_FAIL(tia_stats_agent_window(s, agent, us, &w, &err), &err);
    tia__rows *r = NULL;
    tia__param p[2] = {tia__p_text(agent), tia__p_int(us)};
    TIA_OK_OR_FAIL(tia__db_query(s, &sql_seed_window, p, 2, &r, &err), &err);
    assert_int_equal(tia__rows_next(r, &err), 1);
    double seed_avg = tia__col_double(r, 1);
    if (w.total_tasks != tia__col_int(r, 0) || w.total_tokens != tia__col_int(r, 2) ||
        w.total_cost_micros != tia__col_cost(r, 3) ||
        memcmp(&w.avg_latency_ms, &seed_avg, sizeof seed_avg) != 0)
        fail_msg("%s over %lld us: library %lld tasks, avg %.17g, %lld tokens, %lld micros; "
                 "seed query %lld, %.17g, %lld, %lld",
                 agent, (long long)us, (long long)w.total_tasks, w.avg_latency_ms,
                 (long long)w.total_tokens, (long long)w.total_cost_micros,
                 (long long)tia__col_int(r, 0), seed_avg, (long long)tia__col_int(r, 2),
                 (long long)tia__col_cost(r, 3));
    tia__rows_free(r);
}

/*
 * The hourly totals of 0014/0012 behind the window statistics: after a random
 * mix of inserts across ten days, status changes, result changes, moved
 * created_at and deletes, every hour row equals a recomputation from
 * agent_tasks, and every window (minutes to weeks, on and off hour boundaries)
 * equals the seed's query bit for bit.
 */
static void test_window_hours(void **state)
{
    tia_store *s = *state;
    static const char *agents[] = {"akira-001", "yuki-002", "hiro-003"};
    static const char *statuses[] = {"completed", "completed", "completed", "failed", "running",
                                     "pending"};
    srand(20261123);
    for (int i = 0; i < 400; i++) {
        int64_t age = (int64_t)(rand() % (10 * 24 * 60)) * 60 * INT64_C(1000000) +
                      rand() % 1000000 + 1;
        int64_t dur = rand() % 7 == 0 ? -1 : rand() % 100000;
        add_raw(s, agents[rand() % 3], statuses[rand() % 6], dur, rand() % 5000,
                rand() % 2000000, age);
    }
    tia_error err = {0};
    /* Completions, un-completions, new results, moved creation times, deletes. */
    TIA_OK_OR_FAIL(tia_test_exec(s,
                                 "UPDATE agent_tasks SET status = 'completed', duration_ms = 77, "
                                 "tokens_used = 5, cost_usd = 0.25 WHERE status = 'running'",
                                 "UPDATE agent_tasks SET status = 'completed', duration_ms = 77, "
                                 "tokens_used = 5, cost_usd_micros = 250000 "
                                 "WHERE status = 'running'", &err), &err);
    TIA_OK_OR_FAIL(tia_test_exec(s,
                                 "UPDATE agent_tasks SET tokens_used = tokens_used + 3, "
                                 "cost_usd = cost_usd + 0.000001 WHERE duration_ms % 5 = 0",
                                 "UPDATE agent_tasks SET tokens_used = tokens_used + 3, "
                                 "cost_usd_micros = cost_usd_micros + 1 WHERE duration_ms % 5 = 0",
                                 &err), &err);
    TIA_OK_OR_FAIL(tia_test_exec(s,
                                 "UPDATE agent_tasks SET created_at = created_at - interval "
                                 "'37 minutes' WHERE tokens_used % 3 = 0",
                                 "UPDATE agent_tasks SET created_at = created_at - 2220000000 "
                                 "WHERE tokens_used % 3 = 0", &err), &err);
    TIA_OK_OR_FAIL(tia_test_exec(s,
                                 "UPDATE agent_tasks SET status = 'failed' WHERE status = "
                                 "'completed' AND tokens_used % 11 = 0",
                                 "UPDATE agent_tasks SET status = 'failed' WHERE status = "
                                 "'completed' AND tokens_used % 11 = 0", &err), &err);
    TIA_OK_OR_FAIL(tia_test_exec(s, "DELETE FROM agent_tasks WHERE tokens_used % 13 = 0",
                                 "DELETE FROM agent_tasks WHERE tokens_used % 13 = 0", &err),
                   &err);
    assert_true(tia_test_int(s, "SELECT COUNT(*) FROM agent_task_hours",
                             "SELECT COUNT(*) FROM agent_task_hours") > 50);
    assert_int_equal(tia_test_int(s, hours_diff_pg, hours_diff_lite), 0);

    static const int64_t minutes[] = {1, 30, 59, 60, 61, 90, 24 * 60, 24 * 60 + 17, 3 * 24 * 60,
                                      7 * 24 * 60, 11 * 24 * 60};
    for (size_t a = 0; a < 3; a++)
        for (size_t m = 0; m < sizeof minutes / sizeof minutes[0]; m++)
            assert_window_equals_seed(s, agents[a], minutes[m] * 60 * INT64_C(1000000));
    for (int i = 0; i < 40; i++)
        assert_window_equals_seed(s, agents[i % 3],
                                  (int64_t)(rand() % (12 * 24 * 3600)) * INT64_C(1000000) +
                                      rand() % 1000000 + 1);

    /* Deleting an agent cascades to its tasks and its hours without an error. */
    TIA_OK_OR_FAIL(tia_test_exec(s, "DELETE FROM agents WHERE id = 'hiro-003'",
                                 "DELETE FROM agents WHERE id = 'hiro-003'", &err), &err);
    assert_int_equal(tia_test_int(s, "SELECT COUNT(*) FROM agent_task_hours WHERE agent_id = "
                                     "'hiro-003'",
                                  "SELECT COUNT(*) FROM agent_task_hours WHERE agent_id = "
                                  "'hiro-003'"), 0);
    assert_int_equal(tia_test_int(s, hours_diff_pg, hours_diff_lite), 0);
    /* TRUNCATE (PostgreSQL) empties them too. */
    if (tia_test_is_pg()) {
        TIA_OK_OR_FAIL(tia_test_exec(s, "TRUNCATE agent_tasks CASCADE", NULL, &err), &err);
        assert_int_equal(tia_test_int(s, "SELECT COUNT(*) FROM agent_task_hours", NULL), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equals_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_hours, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
