/*
 * Conformance tests of workflow and task submission, on both backends: a DAG is
 * written with the right deps_pending and task_dependencies rows; cycles,
 * unknown or duplicate keys, unknown agents and bad fields are refused with a
 * message naming them and nothing written; idempotency keys return the first
 * workflow (also to two threads racing with one key); the 10,000-task limit
 * holds exactly; every built-in template submits.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tia_test.h"

#include <tokyoia/engine.h>

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

/* The same SQL on both backends, formatted (ids are UUIDs the library made). */
static int64_t q_int(tia_store *s, const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return tia_test_int(s, sql, sql);
}

static void assert_nothing_written(tia_store *s)
{
    assert_int_equal(q_int(s, "SELECT count(*) FROM workflows"), 0);
    assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks"), 0);
    assert_int_equal(q_int(s, "SELECT count(*) FROM task_dependencies"), 0);
}

#define TASK(k, agent, ...)                                                                        \
    {                                                                                              \
        .key = (k), .agent_id = (agent), .task_type = (k), .description = "do " k,                 \
        .max_retries = -1, __VA_ARGS__                                                             \
    }
#define DEPS(...)                                                                                  \
    .depends_on = (const char *const[]){__VA_ARGS__},                                              \
    .n_depends_on = sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)

static tia_workflow_spec wf(const tia_task_spec *tasks, size_t n)
{
    return (tia_workflow_spec){.name = "wf", .tasks = tasks, .n_tasks = n};
}

static int dep_exists(tia_store *s, const char *task, const char *on)
{
    return (int)q_int(s,
                      "SELECT count(*) FROM task_dependencies WHERE task_id = '%s' AND "
                      "depends_on = '%s'",
                      task, on);
}

static void test_dag_accepted(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_task_spec tasks[] = {
        TASK("audit", "akira-001", .priority = 7, .timeout_ms = 60000,
             .input_data = "{\"repo\": \"x\"}", .metadata = "{\"m\": 1}"),
        TASK("review", "akira-001"),
        TASK("tests", "yuki-002", DEPS("review")),
        TASK("ci", "hiro-003", DEPS("tests")),
        TASK("docs", "sakura-004", DEPS("audit", "review", "tests", "ci")),
    };
    tasks[1].max_retries = 0; /* not the default */
    tia_workflow_spec w = wf(tasks, 5);
    w.description = "a review";
    w.workflow_type = "code_review";
    w.initiator = "ci-bot";
    char id[TIA_UUID_BUF], ids[5][TIA_UUID_BUF];
    int created = -1;
    TIA_OK_OR_FAIL(tia_engine_submit(s, &w, id, ids, &created, &err), &err);
    assert_int_equal(created, 1);
    assert_int_equal(q_int(s,
                           "SELECT count(*) FROM workflows WHERE id = '%s' AND status = "
                           "'pending' AND name = 'wf' AND workflow_type = 'code_review' AND "
                           "initiator = 'ci-bot' AND total_tasks = 5",
                           id),
                     1);
    static const int want_deps[5] = {0, 0, 1, 1, 4};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(q_int(s, "SELECT deps_pending FROM agent_tasks WHERE id = '%s'", ids[i]),
                         want_deps[i]);
        assert_int_equal(q_int(s,
                               "SELECT count(*) FROM agent_tasks WHERE id = '%s' AND "
                               "workflow_id = '%s' AND status = 'pending' AND attempt = 0",
                               ids[i], id),
                         1);
    }
    assert_int_equal(q_int(s, "SELECT count(*) FROM task_dependencies"), 6);
    assert_int_equal(dep_exists(s, ids[2], ids[1]), 1);
    assert_int_equal(dep_exists(s, ids[3], ids[2]), 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(dep_exists(s, ids[4], ids[i]), 1);
    /* fields: priority, max_retries (default 3 and explicit 0), timeout_ms, input */
    assert_int_equal(q_int(s, "SELECT priority FROM agent_tasks WHERE id = '%s'", ids[0]), 7);
    assert_int_equal(q_int(s, "SELECT max_retries FROM agent_tasks WHERE id = '%s'", ids[0]), 3);
    assert_int_equal(q_int(s, "SELECT max_retries FROM agent_tasks WHERE id = '%s'", ids[1]), 0);
    assert_int_equal(q_int(s, "SELECT timeout_ms FROM agent_tasks WHERE id = '%s'", ids[0]), 60000);
    assert_int_equal(q_int(s,
                           "SELECT count(*) FROM agent_tasks WHERE id = '%s' AND "
                           "timeout_ms IS NULL",
                           ids[1]),
                     1);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT input_data FROM agent_tasks WHERE id = '%s'", ids[0]);
    char *input = tia_test_text(s, sql, sql);
    assert_non_null(strstr(input, "\"repo\""));
    free(input);
    /* ready work: the two tasks without dependencies, through the claim index's predicate */
    assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks WHERE status = 'pending' AND "
                              "deps_pending = 0"),
                     2);
}

static void assert_refused(tia_store *s, const tia_task_spec *tasks, size_t n, int code,
                           const char *message)
{
    tia_error err = {0};
    char id[TIA_UUID_BUF] = "";
    int created = -1;
    tia_workflow_spec w = wf(tasks, n);
    TIA_ASSERT_RC(tia_engine_submit(s, &w, id, NULL, &created, &err), code, &err);
    assert_string_equal(err.message, message);
    assert_int_equal(created, 0);
    assert_nothing_written(s);
}

static void test_cycles_refused(void **state)
{
    tia_store *s = *state;
    const tia_task_spec two[] = {TASK("a", "akira-001", DEPS("b")),
                                 TASK("b", "akira-001", DEPS("a"))};
    assert_refused(s, two, 2, TIA_EINVAL,
                   "tasks[0].depends_on: dependency cycle 'a' -> 'b' -> 'a'");
    const tia_task_spec three[] = {
        TASK("start", "akira-001"), TASK("a", "akira-001", DEPS("start", "c")),
        TASK("b", "akira-001", DEPS("a")), TASK("c", "akira-001", DEPS("b"))};
    assert_refused(s, three, 4, TIA_EINVAL,
                   "tasks[1].depends_on: dependency cycle 'a' -> 'c' -> 'b' -> 'a'");
    const tia_task_spec self[] = {TASK("a", "akira-001"), TASK("b", "akira-001", DEPS("a", "b"))};
    assert_refused(s, self, 2, TIA_EINVAL, "tasks[1].depends_on[1]: task 'b' depends on itself");
}

static void test_keys_refused(void **state)
{
    tia_store *s = *state;
    const tia_task_spec unknown[] = {TASK("build", "hiro-003"),
                                     TASK("test", "yuki-002", DEPS("bild"))};
    assert_refused(s, unknown, 2, TIA_EINVAL, "tasks[1].depends_on[0]: unknown key 'bild'");
    const tia_task_spec dup[] = {TASK("a", "akira-001"), TASK("b", "akira-001"),
                                 TASK("a", "yuki-002")};
    assert_refused(s, dup, 3, TIA_EINVAL, "tasks[2].key: duplicate key 'a' (also tasks[0].key)");
    tia_task_spec empty[] = {TASK("a", "akira-001")};
    empty[0].key = "";
    assert_refused(s, empty, 1, TIA_EINVAL, "tasks[0].key must not be empty");
    tia_task_spec none[] = {TASK("a", "akira-001")};
    none[0].key = NULL;
    assert_refused(s, none, 1, TIA_EINVAL, "tasks[0].key is required");
    const tia_task_spec twice[] = {TASK("a", "akira-001"), TASK("b", "akira-001", DEPS("a", "a"))};
    assert_refused(s, twice, 2, TIA_EINVAL, "tasks[1].depends_on[1]: 'a' is listed twice");
}

static void test_unknown_agent(void **state)
{
    tia_store *s = *state;
    const tia_task_spec tasks[] = {TASK("a", "akira-001"), TASK("b", "akira-001"),
                                   TASK("c", "ghost-999"), TASK("d", "ghost-999"),
                                   TASK("e", "nobody-000")};
    assert_refused(s, tasks, 5, TIA_ENOTFOUND, "tasks[2].agent_id: unknown agent 'ghost-999'");
}

static void test_bad_fields(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_task_spec t[] = {TASK("a", "akira-001"), TASK("b", "akira-001", DEPS("a"))};
    tia_workflow_spec w = wf(t, 2);

    w.name = NULL;
    TIA_ASSERT_RC(tia_engine_submit(s, &w, NULL, NULL, NULL, &err), TIA_EINVAL, &err);
    assert_string_equal(err.message, "name is required");
    w.name = "wf";
    w.n_tasks = 0;
    TIA_ASSERT_RC(tia_engine_submit(s, &w, NULL, NULL, NULL, &err), TIA_EINVAL, &err);
    assert_string_equal(err.message, "tasks: a workflow has 1 to 10000 tasks, not 0");
    w.n_tasks = 2;
    t[1].max_retries = 101;
    TIA_ASSERT_RC(tia_engine_submit(s, &w, NULL, NULL, NULL, &err), TIA_EINVAL, &err);
    assert_string_equal(err.message,
                        "tasks[1].max_retries must be between 0 and 100 (or -1 for 3)");
    t[1].max_retries = -1;
    t[1].timeout_ms = -5;
    TIA_ASSERT_RC(tia_engine_submit(s, &w, NULL, NULL, NULL, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "tasks[1].timeout_ms"));
    t[1].timeout_ms = 0;
    t[0].input_data = "{nope";
    TIA_ASSERT_RC(tia_engine_submit(s, &w, NULL, NULL, NULL, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "tasks[0].input_data is not valid JSON"));
    t[0].input_data = NULL;
    t[0].task_type = NULL;
    TIA_ASSERT_RC(tia_engine_submit(s, &w, NULL, NULL, NULL, &err), TIA_EINVAL, &err);
    assert_string_equal(err.message, "tasks[0].task_type is required");
    t[0].task_type = "a";
    char key[202];
    memset(key, 'k', 201);
    key[201] = '\0';
    w.idempotency_key = key;
    TIA_ASSERT_RC(tia_engine_submit(s, &w, NULL, NULL, NULL, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "idempotency_key is too long"));
    w.idempotency_key = NULL;
    w.metadata = "[";
    TIA_ASSERT_RC(tia_engine_submit(s, &w, NULL, NULL, NULL, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "metadata"));
    assert_nothing_written(s);
    w.metadata = NULL;
    TIA_OK_OR_FAIL(tia_engine_submit(s, &w, NULL, NULL, NULL, &err), &err);
}

static void test_idempotent(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    const tia_task_spec t[] = {TASK("a", "akira-001"), TASK("b", "yuki-002", DEPS("a"))};
    tia_workflow_spec w = wf(t, 2);
    w.idempotency_key = "pr-42";
    char first[TIA_UUID_BUF], again[TIA_UUID_BUF], ids[2][TIA_UUID_BUF];
    int created = -1;
    TIA_OK_OR_FAIL(tia_engine_submit(s, &w, first, ids, &created, &err), &err);
    assert_int_equal(created, 1);
    memset(ids, 0, sizeof ids);
    TIA_OK_OR_FAIL(tia_engine_submit(s, &w, again, ids, &created, &err), &err);
    assert_int_equal(created, 0);
    assert_string_equal(again, first);
    assert_string_equal(ids[0], ""); /* ids only when created */
    assert_int_equal(q_int(s, "SELECT count(*) FROM workflows"), 1);
    assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks"), 2);
    assert_int_equal(q_int(s, "SELECT count(*) FROM task_dependencies"), 1);
    /* another key is another workflow */
    w.idempotency_key = "pr-43";
    TIA_OK_OR_FAIL(tia_engine_submit(s, &w, again, NULL, &created, &err), &err);
    assert_int_equal(created, 1);
    assert_string_not_equal(again, first);

    /* single tasks too */
    const tia_task_spec one = TASK("x", "hiro-003");
    char t1[TIA_UUID_BUF], t2[TIA_UUID_BUF];
    TIA_OK_OR_FAIL(tia_engine_submit_task(s, &one, NULL, "job-1", t1, &created, &err), &err);
    assert_int_equal(created, 1);
    TIA_OK_OR_FAIL(tia_engine_submit_task(s, &one, NULL, "job-1", t2, &created, &err), &err);
    assert_int_equal(created, 0);
    assert_string_equal(t2, t1);
    assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks WHERE idempotency_key = 'job-1'"),
                     1);
}

typedef struct racer {
    tia_store *s;
    pthread_barrier_t *go;
    const char *key;
    char id[TIA_UUID_BUF];
    int created, rc;
    tia_error err;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    const tia_task_spec t[] = {TASK("a", "akira-001"), TASK("b", "yuki-002", DEPS("a"))};
    tia_workflow_spec w = wf(t, 2);
    w.idempotency_key = r->key;
    pthread_barrier_wait(r->go);
    r->rc = tia_engine_submit(r->s, &w, r->id, NULL, &r->created, &r->err);
    return NULL;
}

static void test_race(void **state)
{
    tia_store *s = *state;
    enum { ROUNDS = 10, THREADS = 2 };
    for (int round = 0; round < ROUNDS; round++) {
        char key[32];
        snprintf(key, sizeof key, "race-%d", round);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, THREADS);
        racer r[THREADS];
        pthread_t th[THREADS];
        for (int i = 0; i < THREADS; i++) {
            memset(&r[i], 0, sizeof r[i]);
            r[i].s = tia_test_reopen(s);
            r[i].go = &go;
            r[i].key = key;
            assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) {
            pthread_join(th[i], NULL);
            TIA_OK_OR_FAIL(r[i].rc, &r[i].err);
            tia_store_close(r[i].s);
        }
        pthread_barrier_destroy(&go);
        assert_string_equal(r[0].id, r[1].id);
        assert_int_equal(r[0].created + r[1].created, 1);
        assert_int_equal(
            q_int(s, "SELECT count(*) FROM workflows WHERE idempotency_key = '%s'", key), 1);
    }
    assert_int_equal(q_int(s, "SELECT count(*) FROM workflows"), ROUNDS);
    assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks"), 2 * ROUNDS);
}

/* n tasks in a chain (each depends on the one before), keys "t<i>". */
static int submit_chain(tia_store *s, size_t n, tia_error *err)
{
    tia_task_spec *t = calloc(n, sizeof *t);
    char(*keys)[24] = calloc(n, sizeof *keys);
    const char **prev = calloc(n, sizeof *prev);
    assert_true(t && keys && prev);
    static const char *const agents[] = {"akira-001", "yuki-002", "hiro-003", "sakura-004",
                                         "kenji-005"};
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "t%zu", i);
        t[i] = (tia_task_spec){.key = keys[i],
                               .agent_id = agents[i % 5],
                               .task_type = "step",
                               .description = "one step",
                               .max_retries = -1};
        if (i > 0) {
            prev[i] = keys[i - 1];
            t[i].depends_on = &prev[i];
            t[i].n_depends_on = 1;
        }
    }
    tia_workflow_spec w = wf(t, n);
    int created = 0;
    int rc = tia_engine_submit(s, &w, NULL, NULL, &created, err);
    free(t);
    free(keys);
    free(prev);
    return rc;
}

static void test_limit(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    TIA_ASSERT_RC(submit_chain(s, TIA_WORKFLOW_TASKS_MAX + 1, &err), TIA_EINVAL, &err);
    assert_string_equal(err.message, "tasks: a workflow has 1 to 10000 tasks, not 10001");
    assert_nothing_written(s);
    TIA_OK_OR_FAIL(submit_chain(s, TIA_WORKFLOW_TASKS_MAX, &err), &err);
    assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks"), 10000);
    assert_int_equal(q_int(s, "SELECT count(*) FROM task_dependencies"), 9999);
    assert_int_equal(q_int(s, "SELECT sum(deps_pending) FROM agent_tasks"), 9999);
    assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks WHERE deps_pending = 0"), 1);
    assert_int_equal(q_int(s, "SELECT total_tasks FROM workflows"), 10000);
}

static void test_templates_submit(void **state)
{
    tia_store *s = *state;
    const char *const *names = tia_template_builtins();
    static const int want_tasks[] = {5, 3, 3, 4}, want_deps[] = {6, 3, 3, 5};
    int total_tasks = 0, total_deps = 0;
    for (int i = 0; names[i] != NULL; i++) {
        tia_error err = {0};
        tia_template *t = NULL;
        tia_workflow_spec w;
        char id[TIA_UUID_BUF];
        int created = 0;
        TIA_OK_OR_FAIL(tia_template_load(names[i], NULL, &t, &err), &err);
        TIA_OK_OR_FAIL(tia_template_spec(t, "{\"pr\": 42}", &w, &err), &err);
        TIA_OK_OR_FAIL(tia_engine_submit(s, &w, id, NULL, &created, &err), &err);
        assert_int_equal(created, 1);
        tia_template_free(t);
        total_tasks += want_tasks[i];
        total_deps += want_deps[i];
        assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks WHERE workflow_id = '%s'", id),
                         want_tasks[i]);
        assert_int_equal(q_int(s,
                               "SELECT count(*) FROM workflows WHERE id = '%s' AND "
                               "workflow_type = '%s'",
                               id, names[i]),
                         1);
    }
    assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks"), total_tasks);
    assert_int_equal(q_int(s, "SELECT count(*) FROM task_dependencies"), total_deps);
    assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks WHERE input_data IS NULL"), 0);
}

static void test_submit_task(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_task_spec one = TASK("x", "hiro-003", .priority = 3);
    char id[TIA_UUID_BUF], wid[TIA_UUID_BUF];
    int created = -1;
    TIA_OK_OR_FAIL(tia_engine_submit_task(s, &one, NULL, NULL, id, &created, &err), &err);
    assert_int_equal(created, 1);
    assert_int_equal(q_int(s,
                           "SELECT count(*) FROM agent_tasks WHERE id = '%s' AND workflow_id "
                           "IS NULL AND priority = 3 AND deps_pending = 0 AND "
                           "idempotency_key IS NULL",
                           id),
                     1);
    /* into an existing workflow */
    const tia_task_spec t[] = {TASK("a", "akira-001")};
    tia_workflow_spec w = wf(t, 1);
    TIA_OK_OR_FAIL(tia_engine_submit(s, &w, wid, NULL, NULL, &err), &err);
    TIA_OK_OR_FAIL(tia_engine_submit_task(s, &one, wid, NULL, id, &created, &err), &err);
    assert_int_equal(q_int(s, "SELECT total_tasks FROM workflows WHERE id = '%s'", wid), 2);
    /* refusals, nothing written */
    int64_t before = q_int(s, "SELECT count(*) FROM agent_tasks");
    TIA_ASSERT_RC(tia_engine_submit_task(s, &one, "00000000-0000-7000-8000-000000000000", NULL, id,
                                         &created, &err),
                  TIA_ENOTFOUND, &err);
    assert_string_equal(err.message, "unknown workflow '00000000-0000-7000-8000-000000000000'");
    TIA_ASSERT_RC(tia_engine_submit_task(s, &one, "not-a-uuid", NULL, id, &created, &err),
                  TIA_EINVAL, &err);
    one.agent_id = "ghost-999";
    TIA_ASSERT_RC(tia_engine_submit_task(s, &one, NULL, NULL, id, &created, &err), TIA_ENOTFOUND,
                  &err);
    assert_string_equal(err.message, "unknown agent 'ghost-999'");
    one.agent_id = "hiro-003";
    const char *dep[] = {"a"};
    one.depends_on = dep;
    one.n_depends_on = 1;
    TIA_ASSERT_RC(tia_engine_submit_task(s, &one, wid, NULL, id, &created, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "depends_on"));
    one.n_depends_on = 0;
    TIA_OK_OR_FAIL(tia_test_exec(s, "UPDATE workflows SET status = 'cancelled'",
                                 "UPDATE workflows SET status = 'cancelled'", &err),
                   &err);
    TIA_ASSERT_RC(tia_engine_submit_task(s, &one, wid, NULL, id, &created, &err), TIA_ECONFLICT,
                  &err);
    assert_non_null(strstr(err.message, "has ended"));
    assert_int_equal(created, 0);
    assert_int_equal(q_int(s, "SELECT count(*) FROM agent_tasks"), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dag_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cycles_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_templates_submit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_task, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
