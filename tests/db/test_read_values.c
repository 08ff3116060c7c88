/*
 * Every value of the hot reads comes back exactly as the database holds it, on
 * both backends. On PostgreSQL these reads (agents, interactions, a workflow, a
 * workflow with its tasks, task get and list) take their rows in binary format
 * (tia__sql.binary): timestamps as stored, integers and doubles as bytes, the
 * other columns as text. This test writes awkward values with raw SQL (the first
 * and last microsecond of the years 0001 and 9999, either side of the Unix epoch,
 * doubles with no short decimal form, the widest integers and amounts, NULLs)
 * and checks each field of each read against the value it must be.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tia_test.h"

#include <tokyoia/agents.h>
#include <tokyoia/interactions.h>
#include <tokyoia/tasks.h>
#include <tokyoia/workflows.h>

/* Timestamps as PostgreSQL literals and as microseconds since 1970 (SQLite's storage). */
typedef struct stamp {
    const char *pg;
    int64_t us;
} stamp;

static const stamp T_FIRST = {"0001-01-01 00:00:00.000001+00", -INT64_C(62135596799999999)};
static const stamp T_LAST = {"9999-12-31 23:59:59.999999+00", INT64_C(253402300799999999)};
static const stamp T_BEFORE_EPOCH = {"1969-12-31 23:59:59.999999+00", -1};
static const stamp T_EPOCH = {"1970-01-01 00:00:00+00", 0};
static const stamp T_NOW = {"2026-11-23 05:06:07.123456+00", INT64_C(1795410367123456)};

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

/* Runs raw SQL, one text per dialect; fails the test when it fails. */
static void set_raw(tia_store *s, const char *pg_sql, const char *lite_sql)
{
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_test_exec(s, pg_sql, lite_sql, &err), &err);
}

/* "col = <timestamp>" for the backend the test runs on. */
static void ts_assign(char *buf, size_t n, const char *col, const stamp *t)
{
    if (tia_test_is_pg())
        snprintf(buf, n, "%s = '%s'::timestamptz", col, t->pg);
    else
        snprintf(buf, n, "%s = %lld", col, (long long)t->us);
}

static void update_ts(tia_store *s, const char *table, const char *col, const stamp *t,
                      const char *where)
{
    char set[160], sql[400];
    ts_assign(set, sizeof set, col, t);
    snprintf(sql, sizeof sql, "UPDATE %s SET %s WHERE %s", table, set, where);
    set_raw(s, sql, sql);
}

/*
 * A timestamp column of one row as the database holds it, read past the library
 * in text (extract on PostgreSQL): for the columns a trigger sets on every update.
 */
static int64_t raw_us(tia_store *s, const char *table, const char *col, const char *id)
{
    char pg[200], lite[200];
    snprintf(pg, sizeof pg, "SELECT (extract(epoch from %s) * 1000000)::int8 FROM %s WHERE id = '%s'",
             col, table, id);
    snprintf(lite, sizeof lite, "SELECT %s FROM %s WHERE id = '%s'", col, table, id);
    return tia_test_int(s, pg, lite);
}

static void test_agent_values(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    const char *sp[] = {"s\xc3\xa9" "curit\xc3\xa9", "x", "a,b \"c\" {d}"};
    tia_agent_new a = {.id = "edge-001",
                       .name = "Edge",
                       .role = "Values at the limits",
                       .model = "m",
                       .specialties = sp,
                       .n_specialties = 3,
                       .backstory = NULL,
                       .personality_emoji = "\xe4\xbe\x8d",
                       .status = TIA_AGENT_MAINTENANCE,
                       .metadata = "{\"k\": [1, 2]}"};
    TIA_OK_OR_FAIL(tia_agent_create(s, &a, &err), &err);
    tia_agent_new b = {.id = "edge-002", .name = "Bare", .role = "r", .model = "m",
                       .status = TIA_AGENT_MAINTENANCE};
    TIA_OK_OR_FAIL(tia_agent_create(s, &b, &err), &err);
    const char *counters = "UPDATE agents SET total_tasks_completed = 2147483647, "
                           "total_tokens_used = 9223372036854775807, "
                           "average_latency_ms = 0.1, success_rate = 123456.78901234567 "
                           "WHERE id = 'edge-001'";
    set_raw(s, counters, counters);
    update_ts(s, "agents", "created_at", &T_FIRST, "id = 'edge-001'");
    update_ts(s, "agents", "updated_at", &T_LAST, "id = 'edge-001'");
    update_ts(s, "agents", "created_at", &T_BEFORE_EPOCH, "id = 'edge-002'");
    update_ts(s, "agents", "updated_at", &T_EPOCH, "id = 'edge-002'");

    tia_agent *got = NULL;
    TIA_OK_OR_FAIL(tia_agent_get(s, "edge-001", &got, &err), &err);
    tia_agent_status st = TIA_AGENT_MAINTENANCE;
    struct tia_agent_list l = {0};
    TIA_OK_OR_FAIL(tia_agent_list(s, &st, &l, &err), &err);
    assert_int_equal(l.n, 2);
    const tia_agent *reads[2] = {got, l.items[0]};
    for (int i = 0; i < 2; i++) {
        const tia_agent *x = reads[i];
        assert_string_equal(x->id, "edge-001");
        assert_string_equal(x->name, "Edge");
        assert_string_equal(x->role, "Values at the limits");
        assert_string_equal(x->model, "m");
        assert_int_equal(x->n_specialties, 3);
        for (size_t k = 0; k < 3; k++)
            assert_string_equal(x->specialties[k], sp[k]);
        assert_null(x->backstory);
        assert_string_equal(x->personality_emoji, "\xe4\xbe\x8d");
        assert_int_equal(x->status, TIA_AGENT_MAINTENANCE);
        assert_int_equal(x->total_tasks_completed, 2147483647);
        assert_true(x->total_tokens_used == INT64_MAX);
        assert_true(x->average_latency_ms == 0.1);
        assert_true(x->success_rate == 123456.78901234567);
        assert_true(x->created_at == T_FIRST.us);
        assert_true(x->updated_at == raw_us(s, "agents", "updated_at", "edge-001"));
        assert_non_null(strstr(x->metadata, "\"k\""));
    }
    const tia_agent *bare = l.items[1];
    assert_string_equal(bare->id, "edge-002");
    assert_int_equal(bare->n_specialties, 0);
    assert_non_null(bare->specialties);
    assert_null(bare->backstory);
    assert_null(bare->personality_emoji);
    assert_true(bare->created_at == T_BEFORE_EPOCH.us);
    assert_true(bare->updated_at == raw_us(s, "agents", "updated_at", "edge-002"));
    tia_agent_free(got);
    tia_agent_list_free(&l);
}

/*
 * Specialties written past the library. The library reads them packed
 * (agents.specialties_packed, kept by triggers: PostgreSQL 0016, SQLite 0007):
 * on PostgreSQL NULL elements are left out and a two-dimensional array is read
 * in element order, as array_to_string packs them; an empty array is none. On
 * SQLite the JSON array of strings is what the schema allows.
 */
static void test_agent_specialty_arrays(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    static const struct {
        const char *id, *pg, *lite;
        size_t n;
        const char *want[4];
    } cases[] = {
        {"arr-001", "ARRAY['a', NULL, 'b']", "'[\"a\", \"b\"]'", 2, {"a", "b"}},
        {"arr-002",
         "'{{x,y},{z,\"w w\"}}'",
         "'[\"x\", \"y\", \"z\", \"w w\"]'",
         4,
         {"x", "y", "z", "w w"}},
        {"arr-003", "'{}'", "'[]'", 0, {NULL}},
        {"arr-004", "ARRAY[NULL, NULL]::text[]", "'[]'", 0, {NULL}},
        {"arr-005", "ARRAY['', 'c']", "'[\"\", \"c\"]'", 2, {"", "c"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tia_agent_new a = {.id = cases[i].id,
                           .name = "A",
                           .role = "r",
                           .model = "m",
                           .status = TIA_AGENT_INACTIVE};
        TIA_OK_OR_FAIL(tia_agent_create(s, &a, &err), &err);
        char pg[200], lite[200];
        snprintf(pg, sizeof pg, "UPDATE agents SET specialties = %s WHERE id = '%s'", cases[i].pg,
                 cases[i].id);
        snprintf(lite, sizeof lite, "UPDATE agents SET specialties = %s WHERE id = '%s'",
                 cases[i].lite, cases[i].id);
        set_raw(s, pg, lite);
    }
    tia_agent_status st = TIA_AGENT_INACTIVE;
    struct tia_agent_list l = {0};
    TIA_OK_OR_FAIL(tia_agent_list(s, &st, &l, &err), &err);
    assert_int_equal(l.n, sizeof cases / sizeof cases[0]);
    for (size_t i = 0; i < l.n; i++) {
        tia_agent *got = NULL;
        TIA_OK_OR_FAIL(tia_agent_get(s, cases[i].id, &got, &err), &err);
        const tia_agent *reads[2] = {got, l.items[i]};
        for (int k = 0; k < 2; k++) {
            assert_string_equal(reads[k]->id, cases[i].id);
            if (reads[k]->n_specialties != cases[i].n)
                fail_msg("%s: %zu specialties, want %zu", cases[i].id, reads[k]->n_specialties,
                         cases[i].n);
            for (size_t j = 0; j < cases[i].n; j++)
                assert_string_equal(reads[k]->specialties[j], cases[i].want[j]);
        }
        tia_agent_free(got);
    }
    tia_agent_list_free(&l);
}

/* Whether agent id reads back (get and list) with exactly the specialties want[0..n). */
static void assert_specialties(tia_store *s, const char *id, const char *const *want, size_t n)
{
    tia_error err = {0};
    tia_agent *got = NULL;
    TIA_OK_OR_FAIL(tia_agent_get(s, id, &got, &err), &err);
    struct tia_agent_list l = {0};
    TIA_OK_OR_FAIL(tia_agent_list(s, NULL, &l, &err), &err);
    const tia_agent *listed = NULL;
    for (size_t i = 0; i < l.n; i++)
        if (strcmp(l.items[i]->id, id) == 0)
            listed = l.items[i];
    assert_non_null(listed);
    const tia_agent *reads[2] = {got, listed};
    for (int k = 0; k < 2; k++) {
        if (reads[k]->n_specialties != n)
            fail_msg("%s: %zu specialties, want %zu", id, reads[k]->n_specialties, n);
        for (size_t j = 0; j < n; j++)
            assert_string_equal(reads[k]->specialties[j], want[j]);
    }
    tia_agent_free(got);
    tia_agent_list_free(&l);
}

/*
 * The packed specialties cannot disagree with the array: a packed text written by
 * hand is packed again from specialties, and an update of other columns (the
 * counters, at every task completion) leaves it as it was.
 */
static void test_packed_specialties_follow_the_array(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    const char *sp[] = {"review", "go"};
    tia_agent_new a = {.id = "pack-001",
                       .name = "P",
                       .role = "r",
                       .model = "m",
                       .specialties = sp,
                       .n_specialties = 2};
    TIA_OK_OR_FAIL(tia_agent_create(s, &a, &err), &err);
    assert_specialties(s, "pack-001", sp, 2);

    const char *forge = "UPDATE agents SET specialties_packed = 'forged' WHERE id = 'pack-001'";
    set_raw(s, forge, forge);
    assert_specialties(s, "pack-001", sp, 2);

    const char *counters = "UPDATE agents SET total_tasks_completed = 7 WHERE id = 'pack-001'";
    set_raw(s, counters, counters);
    assert_specialties(s, "pack-001", sp, 2);
    assert_int_equal(tia_test_int(s,
                                  "SELECT total_tasks_completed FROM agents WHERE id = 'pack-001'",
                                  "SELECT total_tasks_completed FROM agents WHERE id = 'pack-001'"),
                     7);

    const char *sp2[] = {"only"};
    struct tia_agent_update u = {
        .fields = TIA_AGENT_SET_SPECIALTIES, .specialties = sp2, .n_specialties = 1};
    TIA_OK_OR_FAIL(tia_agent_update(s, "pack-001", &u, &err), &err);
    assert_specialties(s, "pack-001", sp2, 1);
}

/*
 * PostgreSQL's migration 0016 run on a database that already has agents (as on
 * an upgrade): every agent's packed specialties are filled in, and no agent's
 * updated_at moves (the packing is not an update of the agent). The migration is
 * undone by hand and applied again. SQLite's 0007 does the same in its own way
 * and predates any release; this case is PostgreSQL's.
 */
static void test_packed_specialties_migration_on_existing_agents(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    if (!tia_test_is_pg()) {
        /* SQLite: the column exists from 0007 on; the seed agents read packed. */
        assert_int_equal(
            tia_test_int(s, "SELECT 0",
                         "SELECT count(*) FROM agents WHERE specialties_packed IS NULL"),
            0);
        return;
    }
    set_raw(s,
            "DROP TRIGGER agents_pack_specialties ON agents;"
            "ALTER TABLE agents DROP COLUMN specialties_packed;"
            "DROP FUNCTION pack_agent_specialties();"
            "DELETE FROM schema_migrations WHERE version = 16;"
            "ALTER TABLE agents DISABLE TRIGGER update_agents_updated_at;"
            "UPDATE agents SET updated_at = '2001-02-03 04:05:06.789012+00';"
            "ALTER TABLE agents ENABLE TRIGGER update_agents_updated_at",
            NULL);
    int applied = -1;
    TIA_OK_OR_FAIL(tia_store_migrate(s, &applied, &err), &err);
    assert_int_equal(applied, 1);
    assert_int_equal(
        tia_test_int(s,
                     "SELECT count(*) FROM agents WHERE specialties_packed IS DISTINCT "
                     "FROM array_to_string(specialties, chr(31))",
                     NULL),
        0);
    assert_int_equal(tia_test_int(s,
                                  "SELECT count(*) FROM agents WHERE updated_at <> "
                                  "'2001-02-03 04:05:06.789012+00'",
                                  NULL),
                     0);
    const char *akira[] = {"security", "performance", "architecture", "code-quality"};
    assert_specialties(s, "akira-001", akira, 4);
}

/*
 * PostgreSQL 0017 / SQLite 0016 on a database holding rows whose created_at was
 * set to NULL by hand (undone by hand and applied again): every such row gets
 * its started_at, else the migration's time; a workflow's updated_at stays; and
 * paging through the agent's tasks reaches every one of them exactly once, where
 * before the pages after the first left them out.
 */
static void test_created_at_migration_on_null_rows(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_agent_new ag = {.id = "page-001", .name = "P", .role = "r", .model = "m"};
    TIA_OK_OR_FAIL(tia_agent_create(s, &ag, &err), &err);
    char wf[TIA_UUID_BUF], ids[5][TIA_UUID_BUF];
    tia_workflow_new w = {.name = "w"};
    TIA_OK_OR_FAIL(tia_workflow_create(s, &w, wf, &err), &err);
    for (int i = 0; i < 5; i++) {
        tia_task_new t = {.agent_id = "page-001", .task_type = "t", .description = "d"};
        TIA_OK_OR_FAIL(tia_task_create(s, &t, ids[i], &err), &err);
    }
    TIA_OK_OR_FAIL(tia_task_transition(s, ids[1], TIA_RUNNING, NULL, &err), &err);
    int64_t started = raw_us(s, "agent_tasks", "started_at", ids[1]);
    int64_t before = raw_us(s, "agent_tasks", "created_at", ids[4]);

    char pg[1024], lite[1024];
    snprintf(pg, sizeof pg,
             "ALTER TABLE workflows ALTER COLUMN created_at DROP NOT NULL;"
             "ALTER TABLE agent_tasks ALTER COLUMN created_at DROP NOT NULL;"
             "DELETE FROM schema_migrations WHERE version = 17;"
             "UPDATE workflows SET created_at = NULL WHERE id = '%s';"
             "UPDATE agent_tasks SET created_at = NULL WHERE id IN ('%s', '%s')",
             wf, ids[1], ids[3]);
    snprintf(lite, sizeof lite,
             "DROP TRIGGER workflows_created_at_not_null_insert;"
             "DROP TRIGGER workflows_created_at_not_null_update;"
             "DROP TRIGGER agent_tasks_created_at_not_null_insert;"
             "DROP TRIGGER agent_tasks_created_at_not_null_update;"
             "DELETE FROM schema_migrations WHERE version = 16;"
             "UPDATE workflows SET created_at = NULL WHERE id = '%s';"
             "UPDATE agent_tasks SET created_at = NULL WHERE id IN ('%s', '%s')",
             wf, ids[1], ids[3]);
    set_raw(s, pg, lite);
    int64_t wf_updated = raw_us(s, "workflows", "updated_at", wf);
    int applied = -1;
    TIA_OK_OR_FAIL(tia_store_migrate(s, &applied, &err), &err);
    assert_int_equal(applied, 1);

    assert_true(raw_us(s, "agent_tasks", "created_at", ids[1]) == started);
    assert_true(raw_us(s, "agent_tasks", "created_at", ids[3]) >= before);
    assert_true(raw_us(s, "workflows", "created_at", wf) >= before);
    assert_true(raw_us(s, "workflows", "updated_at", wf) == wf_updated);

    int seen[5] = {0};
    char cursor[TIA_CURSOR_BUF] = "";
    for (int page = 0; page < 10; page++) {
        tia_task_filter f = {.agent_id = "page-001", .limit = 2, .cursor = cursor};
        struct tia_task_list l = {0};
        TIA_OK_OR_FAIL(tia_task_list(s, &f, &l, &err), &err);
        for (size_t i = 0; i < l.n; i++)
            for (int k = 0; k < 5; k++)
                seen[k] += strcmp(l.items[i]->id, ids[k]) == 0;
        snprintf(cursor, sizeof cursor, "%s", l.next_cursor);
        tia_task_list_free(&l);
        if (cursor[0] == '\0')
            break;
    }
    for (int k = 0; k < 5; k++)
        if (seen[k] != 1)
            fail_msg("task %d seen %d times while paging", k, seen[k]);
}

/*
 * NUMERIC amounts in binary (pg.c decodes numeric_send's base-10000 digits into
 * micro-units, as the task reads take cost_usd) against the values they must
 * be and against the same amounts read as text: rounding half away from zero
 * past the sixth decimal, signs, digits on both sides of the point, the int64
 * limit, NaN. PostgreSQL only: SQLite keeps amounts as integers.
 */
static const tia__sql sql_numeric_bin = {
    .name = "test.numeric_bin", .pg = "SELECT $1::numeric", .sqlite = "SELECT ?1", .binary = 1};
static const tia__sql sql_numeric_text = {
    .name = "test.numeric_text", .pg = "SELECT $1::numeric::text", .sqlite = "SELECT ?1"};

static int64_t read_cost(tia_store *s, const tia__sql *q, const char *amount)
{
    tia_error err = {0};
    tia__rows *r = NULL;
    tia__param p = tia__p_text(amount);
    TIA_OK_OR_FAIL(tia__db_read(s, q, &p, 1, &r, &err), &err);
    assert_int_equal(tia__rows_next(r, &err), 1);
    int64_t v = tia__col_cost(r, 0);
    tia__rows_free(r);
    return v;
}

static void test_numeric_costs(void **state)
{
    tia_store *s = *state;
    if (!tia_test_is_pg())
        skip();
    static const struct {
        const char *amount;
        int64_t micros;
        int text_too; /* the text path gives the same (not for NaN and the limit) */
    } cases[] = {
        {"0", 0, 1},
        {"0.000001", 1, 1},
        {"1", 1000000, 1},
        {"0.5", 500000, 1},
        {"10000", 10000000000, 1},
        {"1234.56789", 1234567890, 1},
        {"9999.999999", 9999999999, 1},
        {"-2.5", -2500000, 1},
        {"0.0000005", 1, 1},
        {"0.00000049", 0, 1},
        {"-0.0000005", -1, 1},
        {"0.00000000001", 0, 1},
        {"100000000", 100000000000000, 1},
        {"123456789012.123456", INT64_C(123456789012123456), 1},
        {"10000000000000", INT64_MAX, 0},
        {"NaN", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t bin = read_cost(s, &sql_numeric_bin, cases[i].amount);
        if (bin != cases[i].micros)
            fail_msg("%s: binary %lld, want %lld", cases[i].amount, (long long)bin,
                     (long long)cases[i].micros);
        if (cases[i].text_too) {
            int64_t text = read_cost(s, &sql_numeric_text, cases[i].amount);
            if (text != cases[i].micros)
                fail_msg("%s: text %lld, want %lld", cases[i].amount, (long long)text,
                         (long long)cases[i].micros);
        }
    }
}

/* Checks a task read against the values test_workflow_and_task_values wrote. */
static void check_task(const tia_task *t, const char *id, const char *wf)
{
    assert_string_equal(t->id, id);
    assert_string_equal(t->workflow_id, wf);
    assert_string_equal(t->parent_task_id, "");
    assert_string_equal(t->agent_id, "akira-001");
    assert_string_equal(t->task_type, "edge");
    assert_string_equal(t->description, "d\xc3\xa9j\xc3\xa0 vu");
    assert_null(t->input_data);
    assert_non_null(strstr(t->output_data, "\"deep\""));
    assert_null(t->error_message);
    assert_true(t->started_at == T_BEFORE_EPOCH.us);
    assert_true(t->completed_at == T_LAST.us);
    assert_true(t->created_at == T_NOW.us);
    assert_int_equal(t->duration_ms, 2147483647);
    assert_int_equal(t->tokens_used, 2147483647);
    assert_true(t->cost_micros == INT64_C(9999999999));
    assert_int_equal(t->retry_count, 7);
    assert_string_equal(t->metadata, "{}");
}

static void test_workflow_and_task_values(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char wf[TIA_UUID_BUF], id[TIA_UUID_BUF], where[96];
    tia_workflow_new w = {.name = "edge", .description = NULL, .workflow_type = "t"};
    TIA_OK_OR_FAIL(tia_workflow_create(s, &w, wf, &err), &err);
    tia_task_new t = {"akira-001", wf, "edge", "d\xc3\xa9j\xc3\xa0 vu", NULL, NULL, NULL};
    TIA_OK_OR_FAIL(tia_task_create(s, &t, id, &err), &err);

    snprintf(where, sizeof where, "id = '%s'", id);
    char pg[400], lite[400];
    snprintf(pg, sizeof pg,
             "UPDATE agent_tasks SET output_data = '{\"deep\": [1, {\"x\": null}]}', "
             "duration_ms = 2147483647, tokens_used = 2147483647, cost_usd = 9999.999999, "
             "retry_count = 7 WHERE %s",
             where);
    snprintf(lite, sizeof lite,
             "UPDATE agent_tasks SET output_data = '{\"deep\": [1, {\"x\": null}]}', "
             "duration_ms = 2147483647, tokens_used = 2147483647, cost_usd_micros = 9999999999, "
             "retry_count = 7 WHERE %s",
             where);
    set_raw(s, pg, lite);
    update_ts(s, "agent_tasks", "started_at", &T_BEFORE_EPOCH, where);
    update_ts(s, "agent_tasks", "completed_at", &T_LAST, where);
    update_ts(s, "agent_tasks", "created_at", &T_NOW, where);

    snprintf(where, sizeof where, "id = '%s'", wf);
    snprintf(pg, sizeof pg,
             "UPDATE workflows SET total_cost_usd = 0.000001, total_tokens_used = 2147483647, "
             "duration_ms = NULL WHERE %s",
             where);
    snprintf(lite, sizeof lite,
             "UPDATE workflows SET total_cost_usd_micros = 1, total_tokens_used = 2147483647, "
             "duration_ms = NULL WHERE %s",
             where);
    set_raw(s, pg, lite);
    update_ts(s, "workflows", "started_at", &T_FIRST, where);
    update_ts(s, "workflows", "created_at", &T_NOW, where);
    update_ts(s, "workflows", "updated_at", &T_LAST, where);

    tia_task *got = NULL;
    TIA_OK_OR_FAIL(tia_task_get(s, id, &got, &err), &err);
    check_task(got, id, wf);
    tia_task_free(got);

    tia_task_filter f = {.agent_id = "akira-001", .limit = 20};
    struct tia_task_list tl = {0};
    TIA_OK_OR_FAIL(tia_task_list(s, &f, &tl, &err), &err);
    assert_int_equal(tl.n, 1);
    check_task(tl.items[0], id, wf);
    tia_task_list_free(&tl);

    tia_workflow *wg = NULL, *ww = NULL;
    TIA_OK_OR_FAIL(tia_workflow_get(s, wf, &wg, &err), &err);
    TIA_OK_OR_FAIL(tia_workflow_get_with_tasks(s, wf, &ww, &tl, &err), &err);
    assert_int_equal(tl.n, 1);
    check_task(tl.items[0], id, wf);
    struct tia_workflow_list wl = {0};
    TIA_OK_OR_FAIL(tia_workflow_list(s, NULL, &wl, &err), &err);
    assert_int_equal(wl.n, 1);
    const tia_workflow *reads[3] = {wg, ww, wl.items[0]};
    for (int i = 0; i < 3; i++) {
        const tia_workflow *x = reads[i];
        assert_string_equal(x->id, wf);
        assert_string_equal(x->name, "edge");
        assert_null(x->description);
        assert_string_equal(x->workflow_type, "t");
        assert_int_equal(x->status, TIA_PENDING);
        assert_int_equal(x->total_tasks, 1);
        assert_true(x->total_tokens_used == 2147483647);
        assert_true(x->total_cost_micros == 1);
        assert_int_equal(x->duration_ms, -1);
        assert_true(x->started_at == T_FIRST.us);
        assert_true(x->completed_at == TIA_TIME_NONE);
        assert_true(x->created_at == T_NOW.us);
        assert_true(x->updated_at == raw_us(s, "workflows", "updated_at", wf));
        assert_string_equal(x->metadata, "{}");
    }
    tia_task_list_free(&tl);
    tia_workflow_free(wg);
    tia_workflow_free(ww);
    tia_workflow_list_free(&wl);
}

static void test_interaction_values(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char wf[TIA_UUID_BUF], ids[2][TIA_UUID_BUF], where[96];
    tia_workflow_new w = {.name = "edge"};
    TIA_OK_OR_FAIL(tia_workflow_create(s, &w, wf, &err), &err);
    tia_interaction_new in[2] = {
        {wf, "akira-001", "yuki-002", "handoff", NULL, NULL},
        {wf, "yuki-002", "yuki-002", "review", "\xe4\xbe\x8d", "{\"a\": [true, 1.5]}"},
    };
    for (int i = 0; i < 2; i++)
        TIA_OK_OR_FAIL(tia_interaction_record(s, &in[i], ids[i], &err), &err);
    snprintf(where, sizeof where, "id = '%s'", ids[0]);
    update_ts(s, "agent_interactions", "created_at", &T_LAST, where);
    snprintf(where, sizeof where, "id = '%s'", ids[1]);
    update_ts(s, "agent_interactions", "created_at", &T_FIRST, where);

    tia_interaction_list l = {0};
    TIA_OK_OR_FAIL(tia_interaction_list_for_workflow(s, wf, &l, &err), &err);
    assert_int_equal(l.n, 2);
    /* Oldest first: the second one now is. */
    const tia_interaction *a = &l.items[1], *b = &l.items[0];
    assert_string_equal(a->id, ids[0]);
    assert_string_equal(a->workflow_id, wf);
    assert_string_equal(a->from_agent_id, "akira-001");
    assert_string_equal(a->to_agent_id, "yuki-002");
    assert_string_equal(a->from_agent_name, "Akira");
    assert_string_equal(a->to_agent_name, "Yuki");
    assert_string_equal(a->interaction_type, "handoff");
    assert_null(a->message);
    assert_null(a->payload);
    assert_true(a->created_at == T_LAST.us);
    assert_string_equal(b->id, ids[1]);
    assert_string_equal(b->from_agent_name, "Yuki");
    assert_string_equal(b->to_agent_name, "Yuki");
    assert_string_equal(b->message, "\xe4\xbe\x8d");
    assert_non_null(strstr(b->payload, "1.5"));
    assert_true(b->created_at == T_FIRST.us);
    tia_interaction_list_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agent_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_specialty_arrays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_packed_specialties_follow_the_array, setup, teardown),
        cmocka_unit_test_setup_teardown(test_packed_specialties_migration_on_existing_agents, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_created_at_migration_on_null_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numeric_costs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workflow_and_task_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interaction_values, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
