/*
 * The schema itself, proved on both backends with raw SQL that goes around the
 * library: every CHECK, NOT NULL and foreign key refuses bad rows with the mapped
 * code and writes nothing; the ON DELETE rules cascade or refuse as in the seed;
 * the seed's two trigger functions, the agent_stats view, the five agents and the
 * indexes are there and mean what the seed says; and the counters of agents and
 * workflows follow raw writes to agent_tasks. Each test gets a fresh migrated
 * database. Statements differ per backend only where the types do (docs/schema.md):
 * TEXT[] vs a JSON array, DECIMAL vs *_micros, timestamptz vs integer µs.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tia_test.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* The same SQL text on both backends (fills the pg and sqlite slots). */
#define BOTH(sql) sql, sql

/* Fixed ids, so that raw SQL can name rows. */
#define W1 "10000000-0000-4000-8000-000000000001"
#define W2 "10000000-0000-4000-8000-000000000002"
#define T1 "20000000-0000-4000-8000-000000000001"
#define T2 "20000000-0000-4000-8000-000000000002"
#define T3 "20000000-0000-4000-8000-000000000003"
#define M1 "30000000-0000-4000-8000-000000000001"
#define I1 "40000000-0000-4000-8000-000000000001"
#define S1 "50000000-0000-4000-8000-000000000001"
#define NEWID "90000000-0000-4000-8000-000000000009" /* a row the statement tries to add */
#define NOID "80000000-0000-4000-8000-000000000008"  /* a row that does not exist */
#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* A text of n 'x' (PostgreSQL, SQLite). */
#define LONG_PG(n) "repeat('x', " #n ")"
#define LONG_LITE(n) "replace(hex(zeroblob(" #n ")), '00', 'x')"

#define ASSERT_NEAR(what, got, want)                                                               \
    do {                                                                                           \
        double g_ = (got), w_ = (want);                                                            \
        if (fabs(g_ - w_) > 1e-9)                                                                  \
            fail_msg("%s: got %.17g, want %.17g", (what), g_, w_);                                 \
    } while (0)

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

static void exec_ok(tia_store *s, const char *what, const char *pg, const char *lite)
{
    tia_error err = {0};
    int rc = tia_test_exec(s, pg, lite, &err);
    if (rc != 0)
        fail_msg("%s: got %d (%s), want 0: %s", what, rc, tia_strerror(rc), err.message);
}

/* Runs q and steps to its first row (fails the test when there is none). */
static tia__rows *row1(tia_store *s, const tia__sql *q, const tia__param *p, int n)
{
    tia__rows *r = NULL;
    tia_error err = {0};
    int rc = tia__db_query(s, q, p, n, &r, &err);
    if (rc != 0)
        fail_msg("%s: %s", q->name, err.message);
    rc = tia__rows_next(r, &err);
    if (rc <= 0) {
        tia__rows_free(r);
        fail_msg("%s: no row (%s)", q->name, err.message);
    }
    return r;
}

static void run_ok(tia_store *s, const tia__sql *q, const tia__param *p, int n)
{
    tia_error err = {0};
    int rc = tia__db_exec(s, q, p, n, NULL, &err);
    if (rc != 0)
        fail_msg("%s: got %d (%s), want 0: %s", q->name, rc, tia_strerror(rc), err.message);
}

/* Rows used by the refusal and ON DELETE tests: a workflow with one task of
 * akira, a metric, an interaction akira -> yuki and a session. */
static void seed_rows(tia_store *s)
{
    exec_ok(s, "seed rows",
            BOTH("INSERT INTO workflows (id, name) VALUES ('" W1 "', 'w1');"
                 "INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description) "
                 "VALUES ('" T1 "', 'akira-001', '" W1 "', 'review', 'd');"
                 "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value) "
                 "VALUES ('" M1 "', 'akira-001', 'latency', 12.5);"
                 "INSERT INTO agent_interactions (id, workflow_id, from_agent_id, to_agent_id, "
                 "interaction_type) VALUES ('" I1 "', '" W1
                 "', 'akira-001', 'yuki-002', 'handoff');"
                 "INSERT INTO user_sessions (id, user_id, session_token) "
                 "VALUES ('" S1 "', 'u1', '" HASH_A "');"));
}

/* ------------------------------------------------------------------------- */
/* Refusals                                                                   */
/* ------------------------------------------------------------------------- */

typedef struct refusal {
    const char *what;
    const char *probe; /* an integer query (both backends) that must not change */
    const char *pg;    /* NULL: the case does not apply on PostgreSQL */
    const char *lite;  /* NULL: the case does not apply on SQLite */
    int want;
} refusal;

static void expect_refused(tia_store *s, const refusal *c)
{
    if ((tia_test_is_pg() ? c->pg : c->lite) == NULL)
        return;
    int64_t before = tia_test_int(s, c->probe, c->probe);
    tia_error err = {0};
    int rc = tia_test_exec(s, c->pg, c->lite, &err);
    if (rc != c->want)
        fail_msg("%s: got %d (%s), want %d (%s): %s", c->what, rc, tia_strerror(rc), c->want,
                 tia_strerror(c->want), err.message);
    if (err.message[0] == '\0')
        fail_msg("%s: refused without a message", c->what);
    int64_t after = tia_test_int(s, c->probe, c->probe);
    if (after != before)
        fail_msg("%s: refused, but `%s` went from %lld to %lld", c->what, c->probe,
                 (long long)before, (long long)after);
}

static void expect_all_refused(tia_store *s, const refusal *cases, size_t n)
{
    seed_rows(s);
    for (size_t i = 0; i < n; i++)
        expect_refused(s, &cases[i]);
}

/* An INSERT of agent zed-006 with extra columns (specialties differ by type). */
#define INS_AGENT(cols, vals)                                                                      \
    "INSERT INTO agents (id, name, role, model, specialties" cols ") VALUES "                      \
    "('zed-006', 'Zed', 'r', 'm', ARRAY['x']" vals ")",                                            \
        "INSERT INTO agents (id, name, role, model, specialties" cols ") VALUES "                  \
        "('zed-006', 'Zed', 'r', 'm', '[\"x\"]'" vals ")"
#define INS_TASK(cols, vals)                                                                       \
    "INSERT INTO agent_tasks (id, agent_id, task_type, description" cols ") VALUES "               \
    "('" NEWID "', 'akira-001', 't', 'd'" vals ")"
#define INS_WORKFLOW(cols, vals)                                                                   \
    "INSERT INTO workflows (id, name" cols ") VALUES ('" NEWID "', 'w'" vals ")"
#define INS_METRIC(cols, vals)                                                                     \
    "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value" cols ") VALUES "          \
    "('" NEWID "', 'akira-001', 'latency', 1" vals ")"
#define INS_INTERACTION(cols, vals)                                                                \
    "INSERT INTO agent_interactions (id, from_agent_id, to_agent_id, interaction_type" cols        \
    ") VALUES ('" NEWID "', 'akira-001', 'yuki-002', 'review'" vals ")"
#define INS_SESSION(cols, vals)                                                                    \
    "INSERT INTO user_sessions (id, user_id, session_token" cols ") VALUES "                       \
    "('" NEWID "', 'u2', '" HASH_B "'" vals ")"

#define N_AGENTS "SELECT count(*) FROM agents"
#define N_WORKFLOWS "SELECT count(*) FROM workflows"
#define N_TASKS "SELECT count(*) FROM agent_tasks"
#define N_METRICS "SELECT count(*) FROM agent_metrics"
#define N_INTERACTIONS "SELECT count(*) FROM agent_interactions"
#define N_SESSIONS "SELECT count(*) FROM user_sessions"

static const refusal enum_cases[] = {
    {"agents.status insert", N_AGENTS, INS_AGENT(", status", ", 'sleeping'"), TIA_EINVAL},
    {"agents.status update", "SELECT count(*) FROM agents WHERE status = 'active'",
     BOTH("UPDATE agents SET status = 'sleeping' WHERE id = 'akira-001'"), TIA_EINVAL},
    {"workflows.status insert", N_WORKFLOWS, BOTH(INS_WORKFLOW(", status", ", 'paused'")),
     TIA_EINVAL},
    {"workflows.status update", "SELECT count(*) FROM workflows WHERE status = 'pending'",
     BOTH("UPDATE workflows SET status = 'paused' WHERE id = '" W1 "'"), TIA_EINVAL},
    {"agent_tasks.status insert", N_TASKS, BOTH(INS_TASK(", status", ", 'done'")), TIA_EINVAL},
    {"agent_tasks.status update", "SELECT count(*) FROM agent_tasks WHERE status = 'pending'",
     BOTH("UPDATE agent_tasks SET status = 'done' WHERE id = '" T1 "'"), TIA_EINVAL},
    {"user_sessions.status insert", N_SESSIONS, BOTH(INS_SESSION(", status", ", 'gone'")),
     TIA_EINVAL},
    {"user_sessions.status update", "SELECT count(*) FROM user_sessions WHERE status = 'active'",
     BOTH("UPDATE user_sessions SET status = 'gone' WHERE id = '" S1 "'"), TIA_EINVAL},
    {"agents.status empty", N_AGENTS, INS_AGENT(", status", ", ''"), TIA_EINVAL},
    {"agent_tasks.status wrong case", N_TASKS, BOTH(INS_TASK(", status", ", 'Completed'")),
     TIA_EINVAL},
};

static void test_enum_checks_refuse(void **state)
{
    expect_all_refused(*state, enum_cases, ARRAY_LEN(enum_cases));
}

/* The same columns take every value of their enum. */
static void test_enum_values_accepted(void **state)
{
    tia_store *s = *state;
    seed_rows(s);
    static const struct {
        const char *table, *id;
        const char *values[6];
    } enums[] = {
        {"agents", "akira-001", {"inactive", "maintenance", "active"}},
        {"workflows", W1, {"running", "completed", "failed", "cancelled", "pending"}},
        {"agent_tasks", T1, {"running", "completed", "failed", "cancelled", "pending"}},
        {"user_sessions", S1, {"expired", "revoked", "active"}},
    };
    for (size_t i = 0; i < ARRAY_LEN(enums); i++) {
        for (size_t k = 0; k < 6 && enums[i].values[k] != NULL; k++) {
            char sql[256];
            snprintf(sql, sizeof sql, "UPDATE %s SET status = '%s' WHERE id = '%s'", enums[i].table,
                     enums[i].values[k], enums[i].id);
            exec_ok(s, sql, sql, sql);
            char probe[256];
            snprintf(probe, sizeof probe,
                     "SELECT count(*) FROM %s WHERE id = '%s' AND status = '%s'", enums[i].table,
                     enums[i].id, enums[i].values[k]);
            assert_int_equal(tia_test_int(s, probe, probe), 1);
        }
    }
}

#define TOKENS_OF_T1 "SELECT tokens_used FROM agent_tasks WHERE id = '" T1 "'"
#define METRIC_OK "SELECT count(*) FROM agent_metrics WHERE metric_value = 12.5"

static const refusal checks_0002[] = {
    {"agent_tasks.tokens_used < 0", N_TASKS, BOTH(INS_TASK(", tokens_used", ", -1")), TIA_EINVAL},
    {"agent_tasks.tokens_used < 0 (update)", TOKENS_OF_T1,
     BOTH("UPDATE agent_tasks SET tokens_used = -1 WHERE id = '" T1 "'"), TIA_EINVAL},
    {"agent_tasks.cost < 0", N_TASKS, INS_TASK(", cost_usd", ", -0.000001"),
     INS_TASK(", cost_usd_micros", ", -1"), TIA_EINVAL},
    {"agent_tasks.cost < 0 (update)", "SELECT count(*) FROM agent_tasks WHERE cost_usd = 0",
     "UPDATE agent_tasks SET cost_usd = -0.5 WHERE id = '" T1 "'",
     "UPDATE agent_tasks SET cost_usd_micros = -500000 WHERE id = '" T1 "'", TIA_EINVAL},
    {"agent_tasks.retry_count < 0", N_TASKS, BOTH(INS_TASK(", retry_count", ", -1")), TIA_EINVAL},
    {"agent_tasks.retry_count < 0 (update)",
     "SELECT count(*) FROM agent_tasks WHERE retry_count = 0",
     BOTH("UPDATE agent_tasks SET retry_count = -1 WHERE id = '" T1 "'"), TIA_EINVAL},
    {"agent_tasks.duration_ms < 0", N_TASKS, BOTH(INS_TASK(", duration_ms", ", -1")), TIA_EINVAL},
    {"agent_tasks.duration_ms < 0 (update)",
     "SELECT count(*) FROM agent_tasks WHERE duration_ms IS NULL",
     BOTH("UPDATE agent_tasks SET duration_ms = -5 WHERE id = '" T1 "'"), TIA_EINVAL},
    {"workflows.total_tokens_used < 0", N_WORKFLOWS,
     BOTH(INS_WORKFLOW(", total_tokens_used", ", -1")), TIA_EINVAL},
    {"workflows.total_tokens_used < 0 (update)",
     "SELECT count(*) FROM workflows WHERE total_tokens_used = 0",
     BOTH("UPDATE workflows SET total_tokens_used = -1 WHERE id = '" W1 "'"), TIA_EINVAL},
    {"workflows.total_cost < 0", N_WORKFLOWS, INS_WORKFLOW(", total_cost_usd", ", -0.01"),
     INS_WORKFLOW(", total_cost_usd_micros", ", -10000"), TIA_EINVAL},
    {"workflows.total_cost < 0 (update)", "SELECT count(*) FROM workflows WHERE total_cost_usd = 0",
     "UPDATE workflows SET total_cost_usd = -1 WHERE id = '" W1 "'",
     "UPDATE workflows SET total_cost_usd_micros = -1 WHERE id = '" W1 "'", TIA_EINVAL},
    {"workflows.duration_ms < 0", N_WORKFLOWS, BOTH(INS_WORKFLOW(", duration_ms", ", -1")),
     TIA_EINVAL},
    {"workflows.duration_ms < 0 (update)",
     "SELECT count(*) FROM workflows WHERE duration_ms IS NULL",
     BOTH("UPDATE workflows SET duration_ms = -1 WHERE id = '" W1 "'"), TIA_EINVAL},
    /* NaN exists only on PostgreSQL: SQLite stores a NaN REAL as NULL (NOT NULL refuses it). */
    {"agent_metrics.metric_value NaN", N_METRICS,
     "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value) "
     "VALUES ('" NEWID "', 'akira-001', 'latency', 'NaN')",
     NULL, TIA_EINVAL},
    {"agent_metrics.metric_value +Infinity", N_METRICS,
     "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value) "
     "VALUES ('" NEWID "', 'akira-001', 'latency', 'Infinity')",
     "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value) "
     "VALUES ('" NEWID "', 'akira-001', 'latency', 9e999)",
     TIA_EINVAL},
    {"agent_metrics.metric_value -Infinity", N_METRICS,
     "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value) "
     "VALUES ('" NEWID "', 'akira-001', 'latency', '-Infinity')",
     "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value) "
     "VALUES ('" NEWID "', 'akira-001', 'latency', -9e999)",
     TIA_EINVAL},
    {"agent_metrics.metric_value +Infinity (update)", METRIC_OK,
     "UPDATE agent_metrics SET metric_value = 'Infinity' WHERE id = '" M1 "'",
     "UPDATE agent_metrics SET metric_value = 9e999 WHERE id = '" M1 "'", TIA_EINVAL},
    {"agent_metrics.metric_value NaN (update)", METRIC_OK,
     "UPDATE agent_metrics SET metric_value = 'NaN' WHERE id = '" M1 "'", NULL, TIA_EINVAL},
    {"agent_interactions.interaction_type", N_INTERACTIONS,
     BOTH("INSERT INTO agent_interactions (id, from_agent_id, to_agent_id, interaction_type) "
          "VALUES ('" NEWID "', 'akira-001', 'yuki-002', 'chat')"),
     TIA_EINVAL},
    {"agent_interactions.interaction_type (update)",
     "SELECT count(*) FROM agent_interactions WHERE interaction_type = 'handoff'",
     BOTH("UPDATE agent_interactions SET interaction_type = 'chat' WHERE id = '" I1 "'"),
     TIA_EINVAL},
};

static void test_checks_0002_refuse(void **state)
{
    expect_all_refused(*state, checks_0002, ARRAY_LEN(checks_0002));
}

/* The bounds of the 0002 CHECKs are allowed: zero, the largest finite double,
 * and each of the four interaction types. */
static void test_checks_0002_bounds_accepted(void **state)
{
    tia_store *s = *state;
    exec_ok(s, "zero tokens, cost, retries, duration",
            "INSERT INTO agent_tasks (id, agent_id, task_type, description, tokens_used, cost_usd, "
            "retry_count, duration_ms) VALUES ('" T1 "', 'akira-001', 't', 'd', 0, 0, 0, 0)",
            "INSERT INTO agent_tasks (id, agent_id, task_type, description, tokens_used, "
            "cost_usd_micros, retry_count, duration_ms) VALUES ('" T1 "', 'akira-001', 't', 'd', "
            "0, 0, 0, 0)");
    exec_ok(s, "zero workflow totals",
            BOTH("INSERT INTO workflows (id, name, total_tokens_used, duration_ms) "
                 "VALUES ('" W1 "', 'w', 0, 0)"));
    exec_ok(s, "largest finite metric",
            BOTH("INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES "
                 "('akira-001', 'big', 1.7976931348623157e308), "
                 "('akira-001', 'small', -1.7976931348623157e308)"));
    exec_ok(s, "the four interaction types",
            BOTH("INSERT INTO agent_interactions (from_agent_id, to_agent_id, interaction_type) "
                 "VALUES ('akira-001', 'yuki-002', 'handoff'), ('akira-001', 'yuki-002', "
                 "'collaboration'), ('akira-001', 'yuki-002', 'review'), "
                 "('akira-001', 'yuki-002', 'feedback')"));
    assert_int_equal(tia_test_int(s, BOTH(N_INTERACTIONS)), 4);
    assert_int_equal(tia_test_int(s, BOTH(N_METRICS)), 2);
}

#define TOKEN_A_KEPT "SELECT count(*) FROM user_sessions WHERE session_token = '" HASH_A "'"

static const refusal checks_0003[] = {
    {"session_token in clear", N_SESSIONS,
     BOTH("INSERT INTO user_sessions (user_id, session_token) VALUES ('u', 'plain-token')"),
     TIA_EINVAL},
    {"session_token upper-case hex", N_SESSIONS,
     BOTH("INSERT INTO user_sessions (user_id, session_token) VALUES ('u', "
          "'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')"),
     TIA_EINVAL},
    {"session_token 63 hex", N_SESSIONS,
     BOTH("INSERT INTO user_sessions (user_id, session_token) VALUES ('u', "
          "'ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc')"),
     TIA_EINVAL},
    {"session_token 65 hex", N_SESSIONS,
     BOTH("INSERT INTO user_sessions (user_id, session_token) VALUES ('u', "
          "'ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc')"),
     TIA_EINVAL},
    {"session_token not hex", N_SESSIONS,
     BOTH("INSERT INTO user_sessions (user_id, session_token) VALUES ('u', "
          "'gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg')"),
     TIA_EINVAL},
    {"session_token in clear (update)", TOKEN_A_KEPT,
     BOTH("UPDATE user_sessions SET session_token = 'secret' WHERE id = '" S1 "'"), TIA_EINVAL},
    {"session_token duplicate", N_SESSIONS,
     BOTH("INSERT INTO user_sessions (user_id, session_token) VALUES ('u', '" HASH_A "')"),
     TIA_ECONFLICT},
};

static void test_session_token_hash_check(void **state)
{
    tia_store *s = *state;
    expect_all_refused(s, checks_0003, ARRAY_LEN(checks_0003));
    exec_ok(s, "a 64-hex token",
            BOTH("INSERT INTO user_sessions (user_id, session_token) VALUES ('u', '" HASH_B "')"));
    assert_int_equal(tia_test_int(s, BOTH(N_SESSIONS)), 2);
}

/* UPDATE of table.col to n 'x' where the limit is n - 1; the probe counts rows
 * whose col is at least n characters long. */
#define TOO_LONG(table, col, n, where)                                                             \
    {                                                                                              \
        table "." col " longer than its VARCHAR",                                                  \
            "SELECT count(*) FROM " table " WHERE length(" col ") >= " #n,                         \
            "UPDATE " table " SET " col " = " LONG_PG(n) " WHERE " where,                          \
            "UPDATE " table " SET " col " = " LONG_LITE(n) " WHERE " where, TIA_EINVAL             \
    }

#define BAD_JSON "'{bad'"

/* Refused on both backends: PostgreSQL by the column types (VARCHAR(n), JSONB,
 * UUID, INET, INTEGER, DECIMAL(10,6)), SQLite by the CHECKs standing for them. */
static const refusal type_cases[] = {
    TOO_LONG("agents", "id", 51, "id = 'kenji-005'"),
    TOO_LONG("agents", "name", 101, "id = 'kenji-005'"),
    TOO_LONG("agents", "role", 201, "id = 'kenji-005'"),
    TOO_LONG("agents", "model", 101, "id = 'kenji-005'"),
    TOO_LONG("agents", "personality_emoji", 11, "id = 'kenji-005'"),
    TOO_LONG("workflows", "name", 201, "id = '" W1 "'"),
    TOO_LONG("workflows", "workflow_type", 101, "id = '" W1 "'"),
    TOO_LONG("workflows", "initiator", 101, "id = '" W1 "'"),
    TOO_LONG("agent_tasks", "task_type", 101, "id = '" T1 "'"),
    TOO_LONG("agent_metrics", "metric_type", 51, "id = '" M1 "'"),
    TOO_LONG("agent_metrics", "metric_unit", 21, "id = '" M1 "'"),
    TOO_LONG("user_sessions", "user_id", 101, "id = '" S1 "'"),
    {"eleven emoji characters", "SELECT count(*) FROM agents WHERE length(personality_emoji) > 10",
     "UPDATE agents SET personality_emoji = repeat('\xe4\xbe\x8d', 11) WHERE id = 'kenji-005'",
     "UPDATE agents SET personality_emoji = replace(hex(zeroblob(11)), '00', '\xe4\xbe\x8d') "
     "WHERE id = 'kenji-005'",
     TIA_EINVAL},
    {"agents.metadata not JSON", "SELECT count(*) FROM agents WHERE metadata = '{}'",
     BOTH("UPDATE agents SET metadata = " BAD_JSON " WHERE id = 'kenji-005'"), TIA_EINVAL},
    {"workflows.metadata not JSON", N_WORKFLOWS, BOTH(INS_WORKFLOW(", metadata", ", " BAD_JSON)),
     TIA_EINVAL},
    {"agent_tasks.input_data not JSON", N_TASKS, BOTH(INS_TASK(", input_data", ", " BAD_JSON)),
     TIA_EINVAL},
    {"agent_tasks.output_data not JSON", N_TASKS, BOTH(INS_TASK(", output_data", ", " BAD_JSON)),
     TIA_EINVAL},
    {"agent_tasks.metadata not JSON", N_TASKS, BOTH(INS_TASK(", metadata", ", " BAD_JSON)),
     TIA_EINVAL},
    {"agent_metrics.context not JSON", N_METRICS, BOTH(INS_METRIC(", context", ", " BAD_JSON)),
     TIA_EINVAL},
    {"agent_interactions.payload not JSON", N_INTERACTIONS,
     BOTH(INS_INTERACTION(", payload", ", " BAD_JSON)), TIA_EINVAL},
    {"user_sessions.device_info not JSON", N_SESSIONS,
     BOTH(INS_SESSION(", device_info", ", " BAD_JSON)), TIA_EINVAL},
    {"workflows.id not a UUID", N_WORKFLOWS,
     BOTH("INSERT INTO workflows (id, name) VALUES ('not-a-uuid', 'w')"), TIA_EINVAL},
    {"agent_tasks.workflow_id not a UUID", N_TASKS, BOTH(INS_TASK(", workflow_id", ", 'xyz'")),
     TIA_EINVAL},
    {"agent_tasks.parent_task_id not a UUID", N_TASKS,
     BOTH(INS_TASK(", parent_task_id", ", '1234'")), TIA_EINVAL},
    {"user_sessions.ip_address not an address", N_SESSIONS,
     BOTH(INS_SESSION(", ip_address", ", 'not-an-ip'")), TIA_EINVAL},
    {"agent_tasks.tokens_used beyond INTEGER", N_TASKS,
     BOTH(INS_TASK(", tokens_used", ", 2147483648")), TIA_EINVAL},
    {"agent_tasks.cost beyond DECIMAL(10,6)", N_TASKS, INS_TASK(", cost_usd", ", 10000"),
     INS_TASK(", cost_usd_micros", ", 10000000000"), TIA_EINVAL},
};

#define KENJI_SPECIALTIES                                                                          \
    "SELECT count(*) FROM agents WHERE specialties = "                                             \
    "'[\"system-design\",\"architecture\",\"design-patterns\",\"scalability\"]'"
#define UPPER_UUID "ABCDEF00-0000-4000-8000-000000000001"

/* SQLite only: what PostgreSQL's types accept but SQLite's TEXT must refuse to
 * keep the same meaning (canonical lower-case UUIDs; specialties a JSON array of
 * strings). */
static const refusal sqlite_cases[] = {
    {"workflows.id upper-case", N_WORKFLOWS, NULL,
     "INSERT INTO workflows (id, name) VALUES ('" UPPER_UUID "', 'w')", TIA_EINVAL},
    {"workflows.id without dashes", N_WORKFLOWS, NULL,
     "INSERT INTO workflows (id, name) VALUES ('abcdef00000040008000000000000001', 'w')",
     TIA_EINVAL},
    {"agent_tasks.id upper-case", N_TASKS, NULL,
     "INSERT INTO agent_tasks (id, agent_id, task_type, description) "
     "VALUES ('" UPPER_UUID "', 'akira-001', 't', 'd')",
     TIA_EINVAL},
    {"agent_metrics.id too short", N_METRICS, NULL,
     "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value) "
     "VALUES ('abc', 'akira-001', 'latency', 1)",
     TIA_EINVAL},
    {"specialties not JSON", KENJI_SPECIALTIES, NULL,
     "UPDATE agents SET specialties = '[bad' WHERE id = 'kenji-005'", TIA_EINVAL},
    {"specialties an object", KENJI_SPECIALTIES, NULL,
     "UPDATE agents SET specialties = '{\"a\":\"b\"}' WHERE id = 'kenji-005'", TIA_EINVAL},
    {"specialties a string", KENJI_SPECIALTIES, NULL,
     "UPDATE agents SET specialties = '\"security\"' WHERE id = 'kenji-005'", TIA_EINVAL},
    {"specialties with a number", KENJI_SPECIALTIES, NULL,
     "UPDATE agents SET specialties = '[\"a\",1]' WHERE id = 'kenji-005'", TIA_EINVAL},
    {"specialties insert with a null", N_AGENTS, NULL,
     "INSERT INTO agents (id, name, role, model, specialties) "
     "VALUES ('zed-006', 'Zed', 'r', 'm', '[\"a\",null]')",
     TIA_EINVAL},
    {"metric_value text", N_METRICS, NULL,
     "INSERT INTO agent_metrics (agent_id, metric_type, metric_value) "
     "VALUES ('akira-001', 'latency', 'fast')",
     TIA_EINVAL},
};

static void test_type_checks_refuse(void **state)
{
    expect_all_refused(*state, type_cases, ARRAY_LEN(type_cases));
}

static void test_sqlite_only_checks_refuse(void **state)
{
    expect_all_refused(*state, sqlite_cases, ARRAY_LEN(sqlite_cases));
}

/* The limits themselves are allowed, counted in characters on both backends. */
static void test_type_limits_accepted(void **state)
{
    tia_store *s = *state;
    seed_rows(s);
    exec_ok(
        s, "ten emoji characters (30 bytes)",
        "UPDATE agents SET personality_emoji = repeat('\xe4\xbe\x8d', 10), name = "
        "repeat('x', 100), role = repeat('x', 200) WHERE id = 'kenji-005'",
        "UPDATE agents SET personality_emoji = replace(hex(zeroblob(10)), '00', '\xe4\xbe\x8d'), "
        "name = replace(hex(zeroblob(100)), '00', 'x'), "
        "role = replace(hex(zeroblob(200)), '00', 'x') WHERE id = 'kenji-005'");
    assert_int_equal(tia_test_int(s, BOTH("SELECT length(personality_emoji) FROM agents "
                                          "WHERE id = 'kenji-005'")),
                     10);
    exec_ok(s, "a JSON array of strings, an address, a v4 UUID",
            "UPDATE agents SET specialties = ARRAY['a', 'b'] WHERE id = 'kenji-005';"
            "UPDATE user_sessions SET ip_address = '2001:db8::1' WHERE id = '" S1 "';"
            "INSERT INTO workflows (name) VALUES ('default id')",
            "UPDATE agents SET specialties = '[\"a\",\"b\"]' WHERE id = 'kenji-005';"
            "UPDATE user_sessions SET ip_address = '2001:db8::1' WHERE id = '" S1 "';"
            "INSERT INTO workflows (name) VALUES ('default id')");
    /* The default id of a row inserted by hand passes the UUID CHECK (SQLite). */
    assert_int_equal(tia_test_int(s, BOTH(N_WORKFLOWS)), 2);
}

static const refusal not_null_cases[] = {
    {"agents.id NULL", N_AGENTS,
     "INSERT INTO agents (id, name, role, model, specialties) "
     "VALUES (NULL, 'n', 'r', 'm', ARRAY['x'])",
     "INSERT INTO agents (id, name, role, model, specialties) "
     "VALUES (NULL, 'n', 'r', 'm', '[\"x\"]')",
     TIA_EINVAL},
    {"agents.name NULL", N_AGENTS,
     "INSERT INTO agents (id, name, role, model, specialties) "
     "VALUES ('zed-006', NULL, 'r', 'm', ARRAY['x'])",
     "INSERT INTO agents (id, name, role, model, specialties) "
     "VALUES ('zed-006', NULL, 'r', 'm', '[\"x\"]')",
     TIA_EINVAL},
    {"agents.role NULL", N_AGENTS, BOTH("UPDATE agents SET role = NULL WHERE id = 'akira-001'"),
     TIA_EINVAL},
    {"agents.model NULL", N_AGENTS, BOTH("UPDATE agents SET model = NULL WHERE id = 'akira-001'"),
     TIA_EINVAL},
    {"agents.specialties NULL", N_AGENTS,
     BOTH("INSERT INTO agents (id, name, role, model, specialties) "
          "VALUES ('zed-006', 'Zed', 'r', 'm', NULL)"),
     TIA_EINVAL},
    {"workflows.id NULL", N_WORKFLOWS, BOTH("INSERT INTO workflows (id, name) VALUES (NULL, 'w')"),
     TIA_EINVAL},
    {"workflows.name NULL", N_WORKFLOWS,
     BOTH("INSERT INTO workflows (id, name) VALUES ('" NEWID "', NULL)"), TIA_EINVAL},
    {"agent_tasks.agent_id NULL", N_TASKS,
     BOTH("INSERT INTO agent_tasks (agent_id, task_type, description) VALUES (NULL, 't', 'd')"),
     TIA_EINVAL},
    {"agent_tasks.task_type NULL", N_TASKS,
     BOTH("INSERT INTO agent_tasks (agent_id, task_type, description) "
          "VALUES ('akira-001', NULL, 'd')"),
     TIA_EINVAL},
    {"agent_tasks.description NULL", N_TASKS,
     BOTH("INSERT INTO agent_tasks (agent_id, task_type, description) "
          "VALUES ('akira-001', 't', NULL)"),
     TIA_EINVAL},
    {"agent_metrics.agent_id NULL", N_METRICS,
     BOTH("INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES (NULL, 'l', 1)"),
     TIA_EINVAL},
    {"agent_metrics.metric_type NULL", N_METRICS,
     BOTH("INSERT INTO agent_metrics (agent_id, metric_type, metric_value) "
          "VALUES ('akira-001', NULL, 1)"),
     TIA_EINVAL},
    {"agent_metrics.metric_value NULL", N_METRICS,
     BOTH("INSERT INTO agent_metrics (agent_id, metric_type, metric_value) "
          "VALUES ('akira-001', 'l', NULL)"),
     TIA_EINVAL},
    {"agent_interactions.from_agent_id NULL", N_INTERACTIONS,
     BOTH("INSERT INTO agent_interactions (from_agent_id, to_agent_id, interaction_type) "
          "VALUES (NULL, 'yuki-002', 'review')"),
     TIA_EINVAL},
    {"agent_interactions.to_agent_id NULL", N_INTERACTIONS,
     BOTH("INSERT INTO agent_interactions (from_agent_id, to_agent_id, interaction_type) "
          "VALUES ('akira-001', NULL, 'review')"),
     TIA_EINVAL},
    {"agent_interactions.interaction_type NULL", N_INTERACTIONS,
     BOTH("INSERT INTO agent_interactions (from_agent_id, to_agent_id, interaction_type) "
          "VALUES ('akira-001', 'yuki-002', NULL)"),
     TIA_EINVAL},
    {"user_sessions.user_id NULL", N_SESSIONS,
     BOTH("INSERT INTO user_sessions (user_id, session_token) VALUES (NULL, '" HASH_B "')"),
     TIA_EINVAL},
    {"user_sessions.session_token NULL", N_SESSIONS,
     BOTH("INSERT INTO user_sessions (user_id, session_token) VALUES ('u', NULL)"), TIA_EINVAL},
    /* 0004: the seed's status CHECKs let NULL through; NOT NULL closes that. */
    {"agents.status NULL (insert)", N_AGENTS,
     "INSERT INTO agents (id, name, role, model, specialties, status) "
     "VALUES ('zed-006', 'Zed', 'r', 'm', ARRAY['x'], NULL)",
     "INSERT INTO agents (id, name, role, model, specialties, status) "
     "VALUES ('zed-006', 'Zed', 'r', 'm', '[\"x\"]', NULL)",
     TIA_EINVAL},
    {"agents.status NULL (update)", "SELECT COUNT(*) FROM agents WHERE status IS NULL",
     BOTH("UPDATE agents SET status = NULL WHERE id = 'akira-001'"), TIA_EINVAL},
    {"workflows.status NULL (insert)", N_WORKFLOWS,
     BOTH("INSERT INTO workflows (id, name, status) VALUES ('" NEWID "', 'w', NULL)"), TIA_EINVAL},
    {"workflows.status NULL (update)", "SELECT COUNT(*) FROM workflows WHERE status IS NULL",
     BOTH("UPDATE workflows SET status = NULL"), TIA_EINVAL},
    {"agent_tasks.status NULL (insert)", N_TASKS,
     BOTH("INSERT INTO agent_tasks (agent_id, task_type, description, status) "
          "VALUES ('akira-001', 't', 'd', NULL)"),
     TIA_EINVAL},
    {"agent_tasks.status NULL (update)", "SELECT COUNT(*) FROM agent_tasks WHERE status IS NULL",
     BOTH("UPDATE agent_tasks SET status = NULL"), TIA_EINVAL},
    {"user_sessions.status NULL (insert)", N_SESSIONS,
     BOTH("INSERT INTO user_sessions (user_id, session_token, status) "
          "VALUES ('u', '" HASH_B "', NULL)"),
     TIA_EINVAL},
    {"user_sessions.status NULL (update)",
     "SELECT COUNT(*) FROM user_sessions WHERE status IS NULL",
     BOTH("UPDATE user_sessions SET status = NULL"), TIA_EINVAL},
    /* PostgreSQL 0017 / SQLite 0016: a row without created_at could not be paged to. */
    {"workflows.created_at NULL (insert)", N_WORKFLOWS,
     BOTH("INSERT INTO workflows (id, name, created_at) VALUES ('" NEWID "', 'w', NULL)"),
     TIA_EINVAL},
    {"workflows.created_at NULL (update)",
     "SELECT COUNT(*) FROM workflows WHERE created_at IS NULL",
     BOTH("UPDATE workflows SET created_at = NULL"), TIA_EINVAL},
    {"agent_tasks.created_at NULL (insert)", N_TASKS,
     BOTH("INSERT INTO agent_tasks (agent_id, task_type, description, created_at) "
          "VALUES ('akira-001', 't', 'd', NULL)"),
     TIA_EINVAL},
    {"agent_tasks.created_at NULL (update)",
     "SELECT COUNT(*) FROM agent_tasks WHERE created_at IS NULL",
     BOTH("UPDATE agent_tasks SET created_at = NULL"), TIA_EINVAL},
};

static void test_not_null_refuse(void **state)
{
    expect_all_refused(*state, not_null_cases, ARRAY_LEN(not_null_cases));
}

static const refusal fk_cases[] = {
    {"agent_tasks.agent_id unknown", N_TASKS,
     BOTH("INSERT INTO agent_tasks (agent_id, task_type, description) VALUES ('nobody', 't', 'd')"),
     TIA_ENOTFOUND},
    {"agent_tasks.agent_id unknown (update)",
     "SELECT count(*) FROM agent_tasks WHERE agent_id = 'akira-001'",
     BOTH("UPDATE agent_tasks SET agent_id = 'nobody' WHERE id = '" T1 "'"), TIA_ENOTFOUND},
    {"agent_tasks.workflow_id unknown", N_TASKS, BOTH(INS_TASK(", workflow_id", ", '" NOID "'")),
     TIA_ENOTFOUND},
    {"agent_tasks.parent_task_id unknown", N_TASKS,
     BOTH(INS_TASK(", parent_task_id", ", '" NOID "'")), TIA_ENOTFOUND},
    {"agent_metrics.agent_id unknown", N_METRICS,
     BOTH("INSERT INTO agent_metrics (agent_id, metric_type, metric_value) "
          "VALUES ('nobody', 'l', 1)"),
     TIA_ENOTFOUND},
    {"agent_interactions.workflow_id unknown", N_INTERACTIONS,
     BOTH(INS_INTERACTION(", workflow_id", ", '" NOID "'")), TIA_ENOTFOUND},
    {"agent_interactions.from_agent_id unknown", N_INTERACTIONS,
     BOTH("INSERT INTO agent_interactions (from_agent_id, to_agent_id, interaction_type) "
          "VALUES ('nobody', 'yuki-002', 'review')"),
     TIA_ENOTFOUND},
    {"agent_interactions.to_agent_id unknown", N_INTERACTIONS,
     BOTH("INSERT INTO agent_interactions (from_agent_id, to_agent_id, interaction_type) "
          "VALUES ('akira-001', 'nobody', 'review')"),
     TIA_ENOTFOUND},
    {"agent_task_totals.agent_id unknown", "SELECT count(*) FROM agent_task_totals",
     BOTH("INSERT INTO agent_task_totals (agent_id) VALUES ('nobody')"), TIA_ENOTFOUND},
};

static void test_foreign_keys_refuse(void **state)
{
    expect_all_refused(*state, fk_cases, ARRAY_LEN(fk_cases));
}

/* ------------------------------------------------------------------------- */
/* ON DELETE                                                                  */
/* ------------------------------------------------------------------------- */

typedef struct task_row {
    const char *agent;
    const char *status;
    int tokens;
    int64_t cost_micros;
    int duration_ms; /* -1: NULL */
} task_row;

static const tia__sql sql_insert_task = {
    "test.insert_task",
    "INSERT INTO agent_tasks (id, agent_id, workflow_id, parent_task_id, task_type, description, "
    "status, tokens_used, cost_usd, duration_ms) VALUES ($1::uuid, $2, $3::uuid, $4::uuid, 'test', "
    "'a test task', $5, $6::int, $7::numeric, $8::int)",
    "INSERT INTO agent_tasks (id, agent_id, workflow_id, parent_task_id, task_type, description, "
    "status, tokens_used, cost_usd_micros, duration_ms) VALUES (?1, ?2, ?3, ?4, 'test', "
    "'a test task', ?5, ?6, ?7, ?8)",
};

static tia__param p_duration(int ms)
{
    return ms < 0 ? tia__p_null() : tia__p_int(ms);
}

/* Inserts a task; id NULL means a new UUIDv7. */
static void insert_task(tia_store *s, const char *id, const char *workflow, const char *parent,
                        const task_row *t)
{
    char gen[TIA_UUID_BUF];
    if (id == NULL) {
        tia__store_uuid7(s, gen);
        id = gen;
    }
    tia__param p[8] = {tia__p_text(id),
                       tia__p_text(t->agent),
                       tia__p_text(workflow),
                       tia__p_text(parent),
                       tia__p_text(t->status),
                       tia__p_int(t->tokens),
                       tia__p_cost(t->cost_micros),
                       p_duration(t->duration_ms)};
    run_ok(s, &sql_insert_task, p, 8);
}

static int64_t count_where(tia_store *s, const char *table, const char *where)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s", table, where);
    return tia_test_int(s, sql, sql);
}

static void test_delete_agent_cascades(void **state)
{
    tia_store *s = *state;
    exec_ok(s, "workflow", BOTH("INSERT INTO workflows (id, name) VALUES ('" W1 "', 'w1')"));
    const task_row kenji = {"kenji-005", "completed", 10, 100, 5};
    const task_row yuki = {"yuki-002", "pending", 0, 0, -1};
    insert_task(s, T1, W1, NULL, &kenji);
    insert_task(s, T2, W1, T1, &kenji); /* parent and child both go */
    insert_task(s, T3, NULL, NULL, &kenji);
    insert_task(s, NULL, W1, NULL, &yuki);
    exec_ok(s, "metrics",
            BOTH("INSERT INTO agent_metrics (agent_id, metric_type, metric_value) VALUES "
                 "('kenji-005', 'latency', 1), ('kenji-005', 'tokens', 2), "
                 "('yuki-002', 'latency', 3)"));
    assert_int_equal(count_where(s, "agent_task_totals", "agent_id = 'kenji-005'"), 1);

    exec_ok(s, "delete kenji", BOTH("DELETE FROM agents WHERE id = 'kenji-005'"));

    assert_int_equal(count_where(s, "agents", "id = 'kenji-005'"), 0);
    assert_int_equal(count_where(s, "agent_tasks", "agent_id = 'kenji-005'"), 0);
    assert_int_equal(count_where(s, "agent_metrics", "agent_id = 'kenji-005'"), 0);
    assert_int_equal(count_where(s, "agent_task_totals", "agent_id = 'kenji-005'"), 0);
    /* The other agents' rows stay, and the workflow's counters follow the cascade. */
    assert_int_equal(count_where(s, "agent_tasks", "agent_id = 'yuki-002'"), 1);
    assert_int_equal(count_where(s, "agent_metrics", "agent_id = 'yuki-002'"), 1);
    assert_int_equal(count_where(s, "agent_task_totals", "1 = 1"), 4);
    assert_int_equal(count_where(s, "workflows",
                                 "id = '" W1 "' AND total_tasks = 1 AND "
                                 "completed_tasks = 0 AND total_tokens_used = 0"),
                     1);
}

static void test_delete_workflow_cascades(void **state)
{
    tia_store *s = *state;
    seed_rows(s); /* W1 with T1 (akira) and I1 */
    const task_row akira = {"akira-001", "completed", 7, 70, 1};
    insert_task(s, T2, W1, T1, &akira); /* a child in the same workflow */
    insert_task(s, T3, NULL, NULL, &akira);
    exec_ok(s, "another workflow",
            BOTH("INSERT INTO workflows (id, name) VALUES ('" W2 "', 'w2');"
                 "INSERT INTO agent_interactions (workflow_id, from_agent_id, to_agent_id, "
                 "interaction_type) VALUES ('" W2 "', 'yuki-002', 'akira-001', 'feedback')"));

    exec_ok(s, "delete W1", BOTH("DELETE FROM workflows WHERE id = '" W1 "'"));

    assert_int_equal(count_where(s, "agent_tasks", "workflow_id = '" W1 "'"), 0);
    assert_int_equal(count_where(s, "agent_interactions", "workflow_id = '" W1 "'"), 0);
    assert_int_equal(count_where(s, "agent_tasks", "id = '" T3 "'"), 1);
    assert_int_equal(count_where(s, "agent_interactions", "workflow_id = '" W2 "'"), 1);
    assert_int_equal(count_where(s, "agents", "id = 'akira-001' AND total_tokens_used = 7"), 1);
}

/* Foreign keys without an ON DELETE rule refuse the delete, and the whole
 * statement (with its cascades) is undone. */
static const refusal no_action_cases[] = {
    {"delete an agent that sent an interaction", N_TASKS,
     BOTH("DELETE FROM agents WHERE id = 'akira-001'"), TIA_ENOTFOUND},
    {"delete an agent that received an interaction", N_TASKS,
     BOTH("DELETE FROM agents WHERE id = 'yuki-002'"), TIA_ENOTFOUND},
    {"delete a parent task", N_TASKS, BOTH("DELETE FROM agent_tasks WHERE id = '" T1 "'"),
     TIA_ENOTFOUND},
    {"delete an agent whose task is another agent's parent", N_TASKS,
     BOTH("DELETE FROM agents WHERE id = 'hiro-003'"), TIA_ENOTFOUND},
};

static void test_delete_no_action_refuses(void **state)
{
    tia_store *s = *state;
    seed_rows(s); /* I1: akira -> yuki; T1 akira's */
    const task_row yuki = {"yuki-002", "pending", 0, 0, -1};
    const task_row hiro = {"hiro-003", "pending", 0, 0, -1};
    const task_row sakura = {"sakura-004", "pending", 0, 0, -1};
    insert_task(s, T2, W1, T1, &yuki); /* child of T1 */
    insert_task(s, T3, NULL, NULL, &hiro);
    insert_task(s, NULL, NULL, T3, &sakura); /* child of hiro's task */
    for (size_t i = 0; i < ARRAY_LEN(no_action_cases); i++)
        expect_refused(s, &no_action_cases[i]);
    assert_int_equal(tia_test_int(s, BOTH(N_AGENTS)), 5);
    assert_int_equal(tia_test_int(s, BOTH(N_METRICS)), 1);

    /* Without the child, the parent can go. */
    exec_ok(s, "delete the child, then the parent",
            BOTH("DELETE FROM agent_tasks WHERE id = '" T2 "';"
                 "DELETE FROM agent_tasks WHERE id = '" T1 "'"));
    assert_int_equal(count_where(s, "agent_tasks", "id IN ('" T1 "', '" T2 "')"), 0);
}

/* ------------------------------------------------------------------------- */
/* The seed's trigger functions                                               */
/* ------------------------------------------------------------------------- */

#define Y2000_US INT64_C(946684800000000)
#define Y2020_US INT64_C(1577836800000000)

static int64_t now_us(tia_store *s)
{
    return tia_test_int(s, "SELECT " TIA_PG_US("clock_timestamp()"), "SELECT " TIA_SQLITE_NOW);
}

typedef struct stamped_table {
    const char *name;
    tia__sql insert; /* $1 the id, $2 created_at = updated_at */
    tia__sql update; /* $1 the id */
    tia__sql read;   /* created_at, updated_at of $1 */
    const char *id, *other_id;
} stamped_table;

static const stamped_table stamped[] = {
    {"agents",
     {"test.agent_old",
      "INSERT INTO agents (id, name, role, model, specialties, created_at, updated_at) VALUES "
      "($1, 'Zed', 'r', 'm', ARRAY['x'], " TIA_PG_TS(2) ", " TIA_PG_TS(2) ")",
      "INSERT INTO agents (id, name, role, model, specialties, created_at, updated_at) VALUES "
      "(?1, 'Zed', 'r', 'm', '[\"x\"]', ?2, ?2)"},
     {"test.agent_touch", "UPDATE agents SET model = 'm2' WHERE id = $1",
      "UPDATE agents SET model = 'm2' WHERE id = ?1"},
     {"test.agent_stamps",
      "SELECT " TIA_PG_US("created_at") ", " TIA_PG_US("updated_at") " FROM agents WHERE id = $1",
      "SELECT created_at, updated_at FROM agents WHERE id = ?1"},
     "zed-006",
     "zed-007"},
    {"workflows",
     {"test.workflow_old",
      "INSERT INTO workflows (id, name, created_at, updated_at) VALUES "
      "($1::uuid, 'w', " TIA_PG_TS(2) ", " TIA_PG_TS(2) ")",
      "INSERT INTO workflows (id, name, created_at, updated_at) VALUES (?1, 'w', ?2, ?2)"},
     {"test.workflow_touch", "UPDATE workflows SET description = 'x' WHERE id = $1::uuid",
      "UPDATE workflows SET description = 'x' WHERE id = ?1"},
     {"test.workflow_stamps",
      "SELECT " TIA_PG_US("created_at") ", " TIA_PG_US(
          "updated_at") " FROM workflows WHERE id = $1::uuid",
      "SELECT created_at, updated_at FROM workflows WHERE id = ?1"},
     W1,
     W2},
};

static void read_stamps(tia_store *s, const stamped_table *t, const char *id, int64_t *created,
                        int64_t *updated)
{
    tia__param p = tia__p_text(id);
    tia__rows *r = row1(s, &t->read, &p, 1);
    *created = tia__col_int(r, 0);
    *updated = tia__col_int(r, 1);
    tia__rows_free(r);
}

static void test_updated_at_trigger(void **state)
{
    tia_store *s = *state;
    for (size_t i = 0; i < ARRAY_LEN(stamped); i++) {
        const stamped_table *t = &stamped[i];
        const char *ids[2] = {t->id, t->other_id};
        for (int k = 0; k < 2; k++) {
            tia__param p[2] = {tia__p_text(ids[k]), tia__p_int(Y2000_US)};
            run_ok(s, &t->insert, p, 2);
        }
        int64_t before = now_us(s);
        tia__param p = tia__p_text(t->id);
        run_ok(s, &t->update, &p, 1);
        int64_t after = now_us(s);

        int64_t created, updated;
        read_stamps(s, t, t->id, &created, &updated);
        if (updated < before - 1000 || updated > after + 1000)
            fail_msg("%s: updated_at %lld is not the time of the UPDATE [%lld, %lld]", t->name,
                     (long long)updated, (long long)before, (long long)after);
        assert_int_equal(created, Y2000_US);
        /* Only the updated row moves. */
        read_stamps(s, t, t->other_id, &created, &updated);
        assert_int_equal(updated, Y2000_US);
    }
}

typedef struct duration_case {
    const char *id;
    int has_start;
    int64_t completed_after_us; /* -1: completed_at NULL */
    const char *new_status;
    int preset; /* duration_ms before the UPDATE, -1: NULL */
    int want;   /* -1: NULL */
} duration_case;

#define T0_US INT64_C(1735689600000000) /* 2025-01-01 00:00:00 UTC */

static const tia__sql sql_duration_row = {
    "test.duration_row",
    "INSERT INTO workflows (id, name, status, started_at, completed_at, duration_ms) VALUES "
    "($1::uuid, 'w', 'running', " TIA_PG_TS(2) ", " TIA_PG_TS(3) ", $4::int)",
    "INSERT INTO workflows (id, name, status, started_at, completed_at, duration_ms) VALUES "
    "(?1, 'w', 'running', ?2, ?3, ?4)",
};
static const tia__sql sql_set_status = {"test.set_status",
                                        "UPDATE workflows SET status = $2 WHERE id = $1::uuid",
                                        "UPDATE workflows SET status = ?2 WHERE id = ?1"};
static const tia__sql sql_duration = {"test.duration",
                                      "SELECT duration_ms FROM workflows WHERE id = $1::uuid",
                                      "SELECT duration_ms FROM workflows WHERE id = ?1"};

static void test_workflow_duration_trigger(void **state)
{
    tia_store *s = *state;
    static const duration_case cases[] = {
        {"a0000000-0000-4000-8000-000000000001", 1, 1234400, "completed", -1, 1234},
        {"a0000000-0000-4000-8000-000000000002", 1, 1234600, "completed", -1, 1235},
        {"a0000000-0000-4000-8000-000000000003", 1, 1234500, "completed", -1, 1235},
        {"a0000000-0000-4000-8000-000000000004", 1, 172800000000, "completed", 7, 172800000},
        /* not completed: left alone */
        {"a0000000-0000-4000-8000-000000000005", 1, 1234400, "failed", 7, 7},
        {"a0000000-0000-4000-8000-000000000006", 1, 1234400, "cancelled", -1, -1},
        /* completed without started_at: left alone */
        {"a0000000-0000-4000-8000-000000000007", 0, 1234400, "completed", 7, 7},
        /* the seed's function computes completed_at - started_at, NULL without completed_at */
        {"a0000000-0000-4000-8000-000000000008", 1, -1, "completed", 7, -1},
        /* 30 days: past the INTEGER column, capped (PostgreSQL 0015, SQLite 0014) */
        {"a0000000-0000-4000-8000-000000000009", 1, INT64_C(2592000000000), "completed", -1,
         2147483647},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const duration_case *c = &cases[i];
        tia__param ins[4] = {tia__p_text(c->id), c->has_start ? tia__p_int(T0_US) : tia__p_null(),
                             c->completed_after_us < 0 ? tia__p_null()
                                                       : tia__p_int(T0_US + c->completed_after_us),
                             p_duration(c->preset)};
        run_ok(s, &sql_duration_row, ins, 4);
        tia__param upd[2] = {tia__p_text(c->id), tia__p_text(c->new_status)};
        run_ok(s, &sql_set_status, upd, 2);
        tia__param id = tia__p_text(c->id);
        tia__rows *r = row1(s, &sql_duration, &id, 1);
        int64_t got = tia__col_isnull(r, 0) ? -1 : tia__col_int(r, 0);
        tia__rows_free(r);
        if (got != c->want)
            fail_msg("case %zu (%s, start %d, end +%lld us): duration_ms %lld, want %d", i,
                     c->new_status, c->has_start, (long long)c->completed_after_us, (long long)got,
                     c->want);
    }
}

/* ------------------------------------------------------------------------- */
/* agent_stats                                                                */
/* ------------------------------------------------------------------------- */

static const task_row stats_tasks[] = {
    {"akira-001", "completed", 100, 1500, 1000}, {"akira-001", "completed", 200, 2000, 2000},
    {"akira-001", "completed", 300, 1, -1},      {"akira-001", "failed", 50, 500, 400},
    {"akira-001", "failed", 0, 0, -1},           {"akira-001", "pending", 0, 0, -1},
    {"akira-001", "cancelled", 5, 3, 7},         {"yuki-002", "failed", 10, 10, 5},
    {"hiro-003", "completed", 0, 0, 1},          {"hiro-003", "completed", 0, 0, 2},
    {"hiro-003", "running", 0, 0, -1},
};

typedef struct stats {
    int64_t total, completed, failed, tokens, cost_micros;
    double avg_duration, success_rate;
} stats;

/* What agent_stats must say for agent, computed here from stats_tasks. */
static stats expected_stats(const char *agent)
{
    stats e = {0};
    int64_t dur_sum = 0, dur_n = 0;
    for (size_t i = 0; i < ARRAY_LEN(stats_tasks); i++) {
        const task_row *t = &stats_tasks[i];
        if (strcmp(t->agent, agent) != 0)
            continue;
        e.total++;
        e.completed += strcmp(t->status, "completed") == 0;
        e.failed += strcmp(t->status, "failed") == 0;
        e.tokens += t->tokens;
        e.cost_micros += t->cost_micros;
        if (t->duration_ms >= 0) {
            dur_sum += t->duration_ms;
            dur_n++;
        }
    }
    e.avg_duration = dur_n ? (double)dur_sum / (double)dur_n : 0.0;
    e.success_rate =
        e.total ? round(10000.0 * (double)e.completed / (double)e.total) / 100.0 : 100.0;
    return e;
}

static const tia__sql sql_stats = {
    "test.agent_stats",
    "SELECT total_tasks, completed_tasks, failed_tasks, total_tokens, "
    "(total_cost * 1000000)::int8, avg_duration_ms, success_rate, name, role, status "
    "FROM agent_stats WHERE id = $1",
    "SELECT total_tasks, completed_tasks, failed_tasks, total_tokens, "
    "CAST(round(total_cost * 1000000) AS INTEGER), avg_duration_ms, success_rate, name, role, "
    "status "
    "FROM agent_stats WHERE id = ?1",
};

static void test_agent_stats_view(void **state)
{
    tia_store *s = *state;
    for (size_t i = 0; i < ARRAY_LEN(stats_tasks); i++)
        insert_task(s, NULL, NULL, NULL, &stats_tasks[i]);
    static const char *const agents[] = {"akira-001", "yuki-002", "hiro-003", "sakura-004",
                                         "kenji-005"};
    assert_int_equal(tia_test_int(s, BOTH("SELECT count(*) FROM agent_stats")), 5);
    for (size_t i = 0; i < ARRAY_LEN(agents); i++) {
        stats e = expected_stats(agents[i]);
        tia__param p = tia__p_text(agents[i]);
        tia__rows *r = row1(s, &sql_stats, &p, 1);
        stats g = {tia__col_int(r, 0),   tia__col_int(r, 1), tia__col_int(r, 2),
                   tia__col_int(r, 3),   tia__col_int(r, 4), tia__col_double(r, 5),
                   tia__col_double(r, 6)};
        char name[64];
        snprintf(name, sizeof name, "%s", tia__col_text(r, 7) ? tia__col_text(r, 7) : "");
        int active = tia__col_text(r, 9) && strcmp(tia__col_text(r, 9), "active") == 0;
        tia__rows_free(r);
        assert_int_equal(g.total, e.total);
        assert_int_equal(g.completed, e.completed);
        assert_int_equal(g.failed, e.failed);
        assert_int_equal(g.tokens, e.tokens);
        assert_int_equal(g.cost_micros, e.cost_micros);
        ASSERT_NEAR(agents[i], g.avg_duration, e.avg_duration);
        ASSERT_NEAR(agents[i], g.success_rate, e.success_rate);
        assert_true(name[0] != '\0');
        assert_true(active);
    }
    /* The hand computation itself, for the agent with every kind of task. */
    ASSERT_NEAR("akira success_rate", expected_stats("akira-001").success_rate, 42.86);
    ASSERT_NEAR("akira avg_duration_ms", expected_stats("akira-001").avg_duration, 851.75);
}

/* ------------------------------------------------------------------------- */
/* The five agents, the indexes                                               */
/* ------------------------------------------------------------------------- */

static const struct {
    const char *id, *name, *role, *model, *specialties, *emoji;
} seed_agents[] = {
    {"akira-001", "Akira", "Code Review Master", "claude-opus-4.1",
     "[\"security\",\"performance\",\"architecture\",\"code-quality\"]", "\xe4\xbe\x8d"},
    {"yuki-002", "Yuki", "Test Engineering Specialist", "openai-o3",
     "[\"unit-testing\",\"integration-testing\",\"e2e-testing\",\"test-automation\"]",
     "\xe2\x9d\x84\xef\xb8\x8f"},
    {"hiro-003", "Hiro", "SRE & DevOps Guardian", "llama-4-405b",
     "[\"kubernetes\",\"ci-cd\",\"monitoring\",\"infrastructure\",\"reliability\"]",
     "\xf0\x9f\x9b\xa1\xef\xb8\x8f"},
    {"sakura-004", "Sakura", "Documentation Artist", "gemini-3.0-ultra",
     "[\"technical-writing\",\"documentation\",\"diagrams\",\"api-docs\"]", "\xf0\x9f\x8c\xb8"},
    {"kenji-005", "Kenji", "Architecture Visionary", "openai-o3",
     "[\"system-design\",\"architecture\",\"design-patterns\",\"scalability\"]",
     "\xf0\x9f\x8f\x97\xef\xb8\x8f"},
};

static const tia__sql sql_agent_row = {
    "test.agent_row",
    "SELECT name, role, model, array_to_json(specialties)::text, personality_emoji, status, "
    "total_tasks_completed, total_tokens_used, success_rate FROM agents WHERE id = $1",
    "SELECT name, role, model, json(specialties), personality_emoji, status, "
    "total_tasks_completed, total_tokens_used, success_rate FROM agents WHERE id = ?1",
};

static void assert_col(tia__rows *r, int col, const char *id, const char *want)
{
    const char *got = tia__col_text(r, col);
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s column %d: got '%s', want '%s'", id, col, got ? got : "(null)", want);
}

static void test_five_agents(void **state)
{
    tia_store *s = *state;
    assert_int_equal(tia_test_int(s, BOTH(N_AGENTS)), ARRAY_LEN(seed_agents));
    for (size_t i = 0; i < ARRAY_LEN(seed_agents); i++) {
        tia__param p = tia__p_text(seed_agents[i].id);
        tia__rows *r = row1(s, &sql_agent_row, &p, 1);
        assert_col(r, 0, seed_agents[i].id, seed_agents[i].name);
        assert_col(r, 1, seed_agents[i].id, seed_agents[i].role);
        assert_col(r, 2, seed_agents[i].id, seed_agents[i].model);
        assert_col(r, 3, seed_agents[i].id, seed_agents[i].specialties);
        assert_col(r, 4, seed_agents[i].id, seed_agents[i].emoji);
        assert_col(r, 5, seed_agents[i].id, "active");
        assert_int_equal(tia__col_int(r, 6), 0);
        assert_int_equal(tia__col_int(r, 7), 0);
        ASSERT_NEAR(seed_agents[i].id, tia__col_double(r, 8), 100.0);
        tia__rows_free(r);
    }
}

static const tia__sql sql_index = {
    "test.index",
    "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexname = $1",
    "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
};

static void test_indexes(void **state)
{
    tia_store *s = *state;
    static const struct {
        const char *name, *table, *columns;
    } indexes[] = {
        {"idx_agents_status", "agents", "(status)"},
        {"idx_workflows_status", "workflows", "(status)"},
        {"idx_workflows_created_at", "workflows", "(created_at DESC)"},
        {"idx_workflows_type", "workflows", "(workflow_type)"},
        {"idx_tasks_agent_status", "agent_tasks", "(agent_id, status, created_at DESC)"},
        {"idx_tasks_workflow", "agent_tasks", "(workflow_id)"},
        {"idx_tasks_status", "agent_tasks", "(status)"},
        {"idx_tasks_created_at", "agent_tasks", "(created_at DESC)"},
        {"idx_metrics_agent_type_time", "agent_metrics",
         "(agent_id, metric_type, recorded_at DESC)"},
        {"idx_interactions_workflow", "agent_interactions", "(workflow_id)"},
        {"idx_interactions_agents", "agent_interactions", "(from_agent_id, to_agent_id)"},
        {"idx_tasks_agent_created_id", "agent_tasks", "(agent_id, created_at DESC, id DESC)"},
    };
    for (size_t i = 0; i < ARRAY_LEN(indexes); i++) {
        tia__param p = tia__p_text(indexes[i].name);
        tia__rows *r = row1(s, &sql_index, &p, 1);
        assert_col(r, 0, indexes[i].name, indexes[i].table);
        const char *def = tia__col_text(r, 1);
        if (def == NULL || strstr(def, indexes[i].columns) == NULL)
            fail_msg("%s: definition '%s' lacks %s", indexes[i].name, def ? def : "(null)",
                     indexes[i].columns);
        tia__rows_free(r);
    }
}

/* ------------------------------------------------------------------------- */
/* Counters follow raw writes                                                 */
/* ------------------------------------------------------------------------- */

static const tia__sql sql_agent_counters = {
    "test.agent_counters",
    "SELECT total_tasks_completed, total_tokens_used, average_latency_ms, success_rate "
    "FROM agents WHERE id = $1",
    "SELECT total_tasks_completed, total_tokens_used, average_latency_ms, success_rate "
    "FROM agents WHERE id = ?1",
};
static const tia__sql sql_workflow_counters = {
    "test.workflow_counters",
    "SELECT total_tasks, completed_tasks, failed_tasks, total_tokens_used, total_cost_usd "
    "FROM workflows WHERE id = $1::uuid",
    "SELECT total_tasks, completed_tasks, failed_tasks, total_tokens_used, total_cost_usd_micros "
    "FROM workflows WHERE id = ?1",
};
static const tia__sql sql_set_task = {
    "test.set_task",
    "UPDATE agent_tasks SET status = $2, tokens_used = $3::int, cost_usd = $4::numeric, "
    "duration_ms = $5::int WHERE id = $1::uuid",
    "UPDATE agent_tasks SET status = ?2, tokens_used = ?3, cost_usd_micros = ?4, "
    "duration_ms = ?5 WHERE id = ?1",
};

static void expect_agent(tia_store *s, const char *step, const char *id, int64_t completed,
                         int64_t tokens, double latency, double success)
{
    tia__param p = tia__p_text(id);
    tia__rows *r = row1(s, &sql_agent_counters, &p, 1);
    int64_t got_completed = tia__col_int(r, 0), got_tokens = tia__col_int(r, 1);
    double got_latency = tia__col_double(r, 2), got_success = tia__col_double(r, 3);
    tia__rows_free(r);
    if (got_completed != completed || got_tokens != tokens || fabs(got_latency - latency) > 1e-9 ||
        fabs(got_success - success) > 1e-9)
        fail_msg("%s: agent %s has completed %lld tokens %lld latency %g success %g; want "
                 "%lld %lld %g %g",
                 step, id, (long long)got_completed, (long long)got_tokens, got_latency,
                 got_success, (long long)completed, (long long)tokens, latency, success);
}

static void expect_workflow(tia_store *s, const char *step, const char *id, int64_t total,
                            int64_t completed, int64_t failed, int64_t tokens, int64_t cost)
{
    tia__param p = tia__p_text(id);
    tia__rows *r = row1(s, &sql_workflow_counters, &p, 1);
    int64_t got[5];
    for (int i = 0; i < 4; i++)
        got[i] = tia__col_int(r, i);
    got[4] = tia__col_cost(r, 4);
    tia__rows_free(r);
    int64_t want[5] = {total, completed, failed, tokens, cost};
    if (memcmp(got, want, sizeof got) != 0)
        fail_msg("%s: workflow %s has total %lld completed %lld failed %lld tokens %lld cost "
                 "%lld; want %lld %lld %lld %lld %lld",
                 step, id, (long long)got[0], (long long)got[1], (long long)got[2],
                 (long long)got[3], (long long)got[4], (long long)total, (long long)completed,
                 (long long)failed, (long long)tokens, (long long)cost);
}

static void set_task(tia_store *s, const char *id, const char *status, int tokens, int64_t cost,
                     int duration)
{
    tia__param p[5] = {tia__p_text(id), tia__p_text(status), tia__p_int(tokens), tia__p_cost(cost),
                       p_duration(duration)};
    run_ok(s, &sql_set_task, p, 5);
}

static void test_counters_follow_raw_sql(void **state)
{
    tia_store *s = *state;
    exec_ok(s, "workflows",
            BOTH("INSERT INTO workflows (id, name) VALUES ('" W1 "', 'w1'), ('" W2 "', 'w2')"));
    const task_row pending = {"akira-001", "pending", 0, 0, -1};
    insert_task(s, T1, W1, NULL, &pending);
    insert_task(s, T2, W1, NULL, &pending);
    expect_agent(s, "two pending", "akira-001", 0, 0, 0.0, 100.0);
    expect_workflow(s, "two pending", W1, 2, 0, 0, 0, 0);

    set_task(s, T1, "completed", 100, 1500, 1000);
    expect_agent(s, "T1 completed", "akira-001", 1, 100, 1000.0, 100.0);
    expect_workflow(s, "T1 completed", W1, 2, 1, 0, 100, 1500);

    set_task(s, T2, "failed", 50, 500, 3000); /* a failed task's duration is no latency */
    expect_agent(s, "T2 failed", "akira-001", 1, 150, 1000.0, 50.0);
    expect_workflow(s, "T2 failed", W1, 2, 1, 1, 150, 2000);

    const task_row yuki = {"yuki-002", "completed", 10, 7, 3000};
    insert_task(s, T3, W1, NULL, &yuki);
    expect_agent(s, "yuki's task", "yuki-002", 1, 10, 3000.0, 100.0);
    expect_workflow(s, "yuki's task", W1, 3, 2, 1, 160, 2007);

    exec_ok(s, "T2 to yuki",
            BOTH("UPDATE agent_tasks SET agent_id = 'yuki-002' WHERE id = '" T2 "'"));
    expect_agent(s, "T2 to yuki", "akira-001", 1, 100, 1000.0, 100.0);
    expect_agent(s, "T2 to yuki", "yuki-002", 1, 60, 3000.0, 50.0);

    exec_ok(s, "T2 to W2",
            BOTH("UPDATE agent_tasks SET workflow_id = '" W2 "' WHERE id = '" T2 "'"));
    expect_workflow(s, "T2 to W2", W1, 2, 2, 0, 110, 1507);
    expect_workflow(s, "T2 to W2", W2, 1, 0, 1, 50, 500);

    exec_ok(s, "delete T1", BOTH("DELETE FROM agent_tasks WHERE id = '" T1 "'"));
    expect_agent(s, "delete T1", "akira-001", 0, 0, 0.0, 100.0);
    expect_workflow(s, "delete T1", W1, 1, 1, 0, 10, 7);

    exec_ok(s, "two rows in one statement",
            BOTH("UPDATE agent_tasks SET status = 'completed', duration_ms = 500 "
                 "WHERE agent_id = 'yuki-002'"));
    expect_agent(s, "two rows", "yuki-002", 2, 60, 500.0, 100.0);
    expect_workflow(s, "two rows", W1, 1, 1, 0, 10, 7);
    expect_workflow(s, "two rows", W2, 1, 1, 0, 50, 500);

    exec_ok(s, "delete W1", BOTH("DELETE FROM workflows WHERE id = '" W1 "'"));
    expect_agent(s, "delete W1 (cascade)", "yuki-002", 1, 50, 500.0, 100.0);
    expect_workflow(s, "delete W1 (cascade)", W2, 1, 1, 0, 50, 500);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_enum_checks_refuse),
        T(test_enum_values_accepted),
        T(test_checks_0002_refuse),
        T(test_checks_0002_bounds_accepted),
        T(test_session_token_hash_check),
        T(test_type_checks_refuse),
        T(test_sqlite_only_checks_refuse),
        T(test_type_limits_accepted),
        T(test_not_null_refuse),
        T(test_foreign_keys_refuse),
        T(test_delete_agent_cascades),
        T(test_delete_workflow_cascades),
        T(test_delete_no_action_refuses),
        T(test_updated_at_trigger),
        T(test_workflow_duration_trigger),
        T(test_agent_stats_view),
        T(test_five_agents),
        T(test_indexes),
        T(test_counters_follow_raw_sql),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
