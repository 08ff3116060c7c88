/*
 * Archiving (include/tokyoia/archive.h), on both backends. On generated history
 * (180 days) and on hand-made cases: the eligible workflows leave the hot tables
 * with all their tasks, interactions and dependencies and are found whole in the
 * archive tables (or in the file); what is not eligible (running, a pending
 * task, a subtask or a dependent outside, newer than the cutoff, standalone
 * tasks) stays; the agents' counters, agent_task_totals, tia_stats_agents and
 * the seed's agent_stats view read exactly the same before and after; batches
 * are bounded; a re-run moves nothing; show finds archived workflows and says
 * why it finds none. File mode: the file round trip, a refused existing file, a
 * run that dies between writing and deleting (a trigger makes the deletes fail)
 * then a re-run that neither duplicates nor loses, an unfinished tail cut off, a
 * damaged file refused. And a run while another connection keeps writing
 * workflows for the same agents: no error on either side, no row lost, counters
 * exact.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "tia_test.h"

#include "store/bulk.h"

#include <tokyoia/archive.h>
#include <tokyoia/interactions.h>
#include <tokyoia/stats.h>
#include <tokyoia/tasks.h>
#include <tokyoia/workflows.h>

#define DAY_US (INT64_C(86400) * 1000000)
#define ANY_ERROR 1 /* archive(): any error will do */

/* ---- snapshots of everything that must not change ---- */

#define STATS_PG                                                                                   \
    "SELECT string_agg(concat_ws(',', id, name, role, status, total_tasks, completed_tasks, "      \
    "failed_tasks, total_tokens, total_cost, avg_duration_ms, success_rate), '|' ORDER BY id) "    \
    "FROM agent_stats"
#define STATS_LITE                                                                                 \
    "SELECT group_concat(x, '|') FROM (SELECT id || ',' || name || ',' || role || ',' || status "  \
    "|| ',' || total_tasks || ',' || completed_tasks || ',' || failed_tasks || ',' || "            \
    "total_tokens || ',' || total_cost || ',' || avg_duration_ms || ',' || success_rate AS x "     \
    "FROM agent_stats ORDER BY id)"
#define AGENTS_PG                                                                                  \
    "SELECT string_agg(concat_ws(',', id, total_tasks_completed, total_tokens_used, "              \
    "average_latency_ms, success_rate), '|' ORDER BY id) FROM agents"
#define AGENTS_LITE                                                                                \
    "SELECT group_concat(x, '|') FROM (SELECT id || ',' || total_tasks_completed || ',' || "       \
    "total_tokens_used || ',' || average_latency_ms || ',' || success_rate AS x FROM agents "      \
    "ORDER BY id)"
#define TOTALS_PG                                                                                  \
    "SELECT string_agg(concat_ws(',', agent_id, pending, running, completed, failed, cancelled, "  \
    "tokens, cost_usd, duration_sum, duration_n, completed_duration_sum, completed_duration_n), "  \
    "'|' ORDER BY agent_id) FROM agent_task_totals"
#define TOTALS_LITE                                                                                \
    "SELECT group_concat(x, '|') FROM (SELECT agent_id || ',' || pending || ',' || running || "    \
    "',' || completed || ',' || failed || ',' || cancelled || ',' || tokens || ',' || "            \
    "cost_usd_micros || ',' || duration_sum || ',' || duration_n || ',' || "                       \
    "completed_duration_sum || ',' || completed_duration_n AS x FROM agent_task_totals ORDER BY "  \
    "agent_id)"

typedef struct snapshot {
    char *stats, *agents, *totals;
    tia_agent_stats_list lib;
} snapshot;

static void take(tia_store *s, snapshot *sn)
{
    tia_error err = {0};
    sn->stats = tia_test_text(s, STATS_PG, STATS_LITE);
    sn->agents = tia_test_text(s, AGENTS_PG, AGENTS_LITE);
    sn->totals = tia_test_text(s, TOTALS_PG, TOTALS_LITE);
    TIA_OK_OR_FAIL(tia_stats_agents(s, &sn->lib, &err), &err);
}

static void drop(snapshot *sn)
{
    free(sn->stats);
    free(sn->agents);
    free(sn->totals);
    tia_agent_stats_list_free(&sn->lib);
}

/* Asserts that the counters, the view and tia_stats_agents read as in `before`. */
static void assert_same(tia_store *s, snapshot *before)
{
    snapshot now;
    take(s, &now);
    assert_string_equal(now.stats, before->stats);
    assert_string_equal(now.agents, before->agents);
    assert_string_equal(now.totals, before->totals);
    assert_int_equal(now.lib.n, before->lib.n);
    for (size_t i = 0; i < now.lib.n; i++) {
        const tia_agent_stats *a = &now.lib.items[i], *b = &before->lib.items[i];
        assert_string_equal(a->id, b->id);
        assert_int_equal(a->total_tasks, b->total_tasks);
        assert_int_equal(a->completed_tasks, b->completed_tasks);
        assert_int_equal(a->failed_tasks, b->failed_tasks);
        assert_int_equal(a->total_tokens, b->total_tokens);
        assert_int_equal(a->total_cost_micros, b->total_cost_micros);
        assert_true(a->avg_duration_ms == b->avg_duration_ms);
        assert_true(a->success_rate == b->success_rate);
    }
    drop(&now);
}

/* Rows of agent_task_totals that differ from a recount over hot plus archived tasks. */
#define RECOUNT(cost)                                                                              \
    "SELECT count(*) FROM agent_task_totals x WHERE (x.pending, x.running, x.completed, "          \
    "x.failed, x.cancelled, x.tokens, x." cost ", x.duration_sum, x.duration_n) <> (SELECT "       \
    "count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'running'), "     \
    "count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'), "    \
    "count(*) FILTER (WHERE status = 'cancelled'), COALESCE(sum(tokens_used), 0), "                \
    "COALESCE(sum(" cost "), 0), COALESCE(sum(duration_ms), 0), count(duration_ms) FROM (SELECT "  \
    "agent_id, status, tokens_used, " cost ", duration_ms FROM agent_tasks UNION ALL SELECT "      \
    "agent_id, status, tokens_used, " cost ", duration_ms FROM agent_tasks_archive) t WHERE "      \
    "t.agent_id = x.agent_id)"
/* Rows of archived_task_totals that differ from the archive table's tasks. */
#define ARCHIVED_RECOUNT(cost)                                                                     \
    "SELECT count(*) FROM archived_task_totals x WHERE (x.tasks, x.completed, x.failed, "          \
    "x.tokens, x." cost ", x.duration_sum, x.duration_n) <> (SELECT count(*), count(*) FILTER "    \
    "(WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'), "                    \
    "COALESCE(sum(tokens_used), 0), COALESCE(sum(" cost "), 0), COALESCE(sum(duration_ms), 0), "   \
    "count(duration_ms) FROM agent_tasks_archive t WHERE t.agent_id = x.agent_id)"

static void assert_recount(tia_store *s)
{
    assert_int_equal(tia_test_int(s, RECOUNT("cost_usd"), RECOUNT("cost_usd_micros")), 0);
    assert_int_equal(
        tia_test_int(s, ARCHIVED_RECOUNT("cost_usd"), ARCHIVED_RECOUNT("cost_usd_micros")), 0);
}

static int64_t count(tia_store *s, const char *table)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return tia_test_int(s, sql, sql);
}

static tia_store *generated(int64_t tasks)
{
    tia_store *s = tia_test_open();
    tia_error err = {0};
    tia__bulk_spec spec = {tasks, 0, -1, 180, 7, 0, NULL, NULL};
    tia__bulk_counts c;
    TIA_OK_OR_FAIL(tia__bulk_load_tasks(s, &spec, &c, &err), &err);
    return s;
}

static tia_archive_result archive(tia_store *s, int64_t older_than, int batch, const char *file,
                                  int append, int want)
{
    tia_archive_options o = {0};
    o.older_than_us = older_than;
    o.batch = batch;
    o.to_file = file;
    o.append = append;
    tia_archive_result r;
    tia_error err = {0};
    int rc = tia_archive_run(s, &o, &r, &err);
    if (want == ANY_ERROR) {
        if (rc == 0)
            fail_msg("tia_archive_run succeeded; an error was expected");
    } else {
        TIA_ASSERT_RC(rc, want, &err);
    }
    return r;
}

static tia_archive_result dry_run(tia_store *s, int64_t older_than)
{
    tia_archive_options o = {0};
    o.older_than_us = older_than;
    o.dry_run = 1;
    tia_archive_result r;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_archive_run(s, &o, &r, &err), &err);
    return r;
}

/* ---- tables ---- */

/* Every column of each hot table is in its archive table, at the same place. */
static void test_archive_columns(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    static const char *const pairs[][2] = {{"workflows", "workflows_archive"},
                                           {"agent_tasks", "agent_tasks_archive"},
                                           {"agent_interactions", "agent_interactions_archive"},
                                           {"task_dependencies", "task_dependencies_archive"}};
    for (size_t i = 0; i < 4; i++) {
        char pg[2][400], lite[2][400];
        for (int k = 0; k < 2; k++) {
            snprintf(pg[k], sizeof pg[k],
                     "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) FROM "
                     "information_schema.columns WHERE table_schema = current_schema() AND "
                     "table_name = '%s' AND column_name <> 'archived_at'",
                     pairs[i][k]);
            snprintf(lite[k], sizeof lite[k],
                     "SELECT group_concat(name, ',') FROM (SELECT name FROM "
                     "pragma_table_xinfo('%s') WHERE name <> 'archived_at' ORDER BY cid)",
                     pairs[i][k]);
        }
        char *hot = tia_test_text(s, pg[0], lite[0]), *arch = tia_test_text(s, pg[1], lite[1]);
        assert_non_null(hot);
        assert_non_null(arch);
        assert_string_equal(arch, hot);
        free(hot);
        free(arch);
    }
    tia_test_close(s);
}

static void test_archive_tables(void **state)
{
    (void)state;
    tia_store *s = generated(3000);
    int64_t older = 90 * DAY_US;
    int64_t wf0 = count(s, "workflows"), t0 = count(s, "agent_tasks"),
            i0 = count(s, "agent_interactions");
    tia_archive_result dry = dry_run(s, older);
    assert_true(dry.workflows > 50);
    assert_true(dry.workflows < wf0);
    /* a dry run moves nothing */
    assert_int_equal(count(s, "workflows"), wf0);
    assert_int_equal(count(s, "workflows_archive"), 0);
    snapshot before;
    take(s, &before);

    tia_archive_result r = archive(s, older, 37, NULL, 0, 0);
    assert_int_equal(r.workflows, dry.workflows);
    assert_int_equal(r.tasks, dry.tasks);
    assert_int_equal(r.interactions, dry.interactions);
    assert_int_equal(r.batches, (dry.workflows + 36) / 37);
    assert_int_equal(r.already_in_file, 0);

    /* gone from the hot tables, present in the archive, nothing else touched */
    assert_int_equal(count(s, "workflows"), wf0 - r.workflows);
    assert_int_equal(count(s, "agent_tasks"), t0 - r.tasks);
    assert_int_equal(count(s, "agent_interactions"), i0 - r.interactions);
    assert_int_equal(count(s, "workflows_archive"), r.workflows);
    assert_int_equal(count(s, "agent_tasks_archive"), r.tasks);
    assert_int_equal(count(s, "agent_interactions_archive"), r.interactions);
    /* no archived id is still hot; the tasks and interactions belong to archived workflows */
    assert_int_equal(tia_test_int(s,
                                  "SELECT count(*) FROM workflows_archive a JOIN workflows w ON "
                                  "w.id = a.id",
                                  "SELECT count(*) FROM workflows_archive a JOIN workflows w ON "
                                  "w.id = a.id"),
                     0);
    assert_int_equal(tia_test_int(s,
                                  "SELECT count(*) FROM agent_tasks_archive t WHERE NOT EXISTS "
                                  "(SELECT 1 FROM workflows_archive w WHERE w.id = t.workflow_id)",
                                  "SELECT count(*) FROM agent_tasks_archive t WHERE NOT EXISTS "
                                  "(SELECT 1 FROM workflows_archive w WHERE w.id = t.workflow_id)"),
                     0);
    /* the cutoff held: archived ones are older than it, finished ones left are newer */
    char pg[300], lite[300];
    snprintf(pg, sizeof pg,
             "SELECT count(*) FROM workflows_archive WHERE completed_at >= "
             "'epoch'::timestamptz + %lld * interval '1 microsecond' OR status NOT IN "
             "('completed', 'failed', 'cancelled')",
             (long long)r.cutoff);
    snprintf(lite, sizeof lite,
             "SELECT count(*) FROM workflows_archive WHERE completed_at >= %lld OR status NOT IN "
             "('completed', 'failed', 'cancelled')",
             (long long)r.cutoff);
    assert_int_equal(tia_test_int(s, pg, lite), 0);
    assert_int_equal(dry_run(s, older).workflows, 0);

    /* counters, totals, agent_stats and tia_stats_agents as before; a recount agrees */
    assert_same(s, &before);
    assert_recount(s);

    /* idempotent: a second run moves nothing and changes nothing */
    tia_archive_result again = archive(s, older, 37, NULL, 0, 0);
    assert_int_equal(again.workflows, 0);
    assert_int_equal(again.batches, 0);
    assert_int_equal(count(s, "workflows_archive"), r.workflows);
    assert_same(s, &before);

    /* a later cutoff moves more, still with the same answers */
    tia_archive_result more = archive(s, 30 * DAY_US, 0, NULL, 0, 0);
    assert_true(more.workflows > 0);
    assert_same(s, &before);
    assert_recount(s);
    drop(&before);
    tia_test_close(s);
}

/* ---- hand-made cases ---- */

typedef struct made {
    char wf[TIA_UUID_BUF];
    char task[3][TIA_UUID_BUF];
} made;

/* A workflow with three tasks of akira and yuki, the second a subtask of the first. */
static void make(tia_store *s, made *m, const char *name)
{
    tia_error err = {0};
    tia_workflow_new w = {name, NULL, "code_review", "test", NULL};
    TIA_OK_OR_FAIL(tia_workflow_create(s, &w, m->wf, &err), &err);
    TIA_OK_OR_FAIL(tia_workflow_set_status(s, m->wf, TIA_RUNNING, &err), &err);
    for (int i = 0; i < 3; i++) {
        tia_task_new t = {i == 1 ? "yuki-002" : "akira-001", m->wf, "code_review", "step", NULL,
                          i == 1 ? m->task[0] : NULL,        NULL};
        TIA_OK_OR_FAIL(tia_task_create(s, &t, m->task[i], &err), &err);
    }
    tia_interaction_new in = {m->wf, "akira-001", "yuki-002", "handoff", "over to you", NULL};
    TIA_OK_OR_FAIL(tia_interaction_record(s, &in, NULL, &err), &err);
}

static void finish_task(tia_store *s, const char *id, tia_run_status to, int64_t tokens)
{
    tia_error err = {0};
    tia_task_result res = {NULL, to == TIA_FAILED ? "boom" : NULL, tokens, tokens * 10};
    TIA_OK_OR_FAIL(tia_task_transition(s, id, TIA_RUNNING, NULL, &err), &err);
    TIA_OK_OR_FAIL(tia_task_transition(s, id, to, &res, &err), &err);
}

static void finish(tia_store *s, made *m, tia_run_status wf_status)
{
    tia_error err = {0};
    finish_task(s, m->task[0], TIA_COMPLETED, 100);
    finish_task(s, m->task[1], TIA_FAILED, 50);
    finish_task(s, m->task[2], TIA_COMPLETED, 70);
    TIA_OK_OR_FAIL(tia_workflow_set_status(s, m->wf, wf_status, &err), &err);
}

static void depend(tia_store *s, const char *task, const char *on)
{
    char sql[300];
    tia_error err = {0};
    snprintf(sql, sizeof sql,
             "INSERT INTO task_dependencies (task_id, depends_on) VALUES ('%s', '%s')", task, on);
    TIA_OK_OR_FAIL(tia_test_exec(s, sql, sql, &err), &err);
}

static int in_table(tia_store *s, const char *table, const char *id)
{
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE id = '%s'", table, id);
    return (int)tia_test_int(s, sql, sql);
}

static json_t *show(tia_store *s, const char *id, int want)
{
    char *text = NULL;
    tia_error err = {0};
    TIA_ASSERT_RC(tia_archive_show(s, id, &text, &err), want, &err);
    if (want != 0) {
        assert_null(text);
        return NULL;
    }
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(doc);
    return doc;
}

/* Asserts that object o has a member for every column of table (money under the seed's name). */
static void assert_has_columns(tia_store *s, const char *table, json_t *o)
{
    char pg[300], lite[300];
    snprintf(pg, sizeof pg,
             "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) FROM "
             "information_schema.columns WHERE table_schema = current_schema() AND table_name = "
             "'%s'",
             table);
    snprintf(lite, sizeof lite, "SELECT group_concat(name, ',') FROM pragma_table_xinfo('%s')",
             table);
    char *cols = tia_test_text(s, pg, lite);
    assert_non_null(cols);
    for (char *save = NULL, *c = strtok_r(cols, ",", &save); c != NULL;
         c = strtok_r(NULL, ",", &save)) {
        char name[100];
        snprintf(name, sizeof name, "%s", c);
        char *micros = strstr(name, "_micros");
        if (micros != NULL && micros[7] == '\0')
            *micros = '\0';
        if (json_object_get(o, name) == NULL)
            fail_msg("column %s.%s is not in the archived JSON", table, c);
    }
    free(cols);
}

static void test_archive_eligibility(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    made done, cancelled, running, open, parent, child, dep, dependent, internal;
    make(s, &done, "done");
    finish(s, &done, TIA_COMPLETED);
    make(s, &cancelled, "cancelled");
    finish(s, &cancelled, TIA_CANCELLED);
    make(s, &running, "running");
    finish(s, &running, TIA_FAILED);
    /* running: its status says running although every task ended */
    TIA_OK_OR_FAIL(
        tia_test_exec(s, "UPDATE workflows SET status = 'running' WHERE name = 'running'",
                      "UPDATE workflows SET status = 'running' WHERE name = 'running'", &err),
        &err);
    /* open: completed, but one task still pending */
    make(s, &open, "open");
    finish_task(s, open.task[0], TIA_COMPLETED, 1);
    finish_task(s, open.task[1], TIA_COMPLETED, 1);
    TIA_OK_OR_FAIL(tia_workflow_set_status(s, open.wf, TIA_COMPLETED, &err), &err);
    /* parent: finished, but a task of the running workflow `child` is its subtask */
    make(s, &parent, "parent");
    finish(s, &parent, TIA_COMPLETED);
    make(s, &child, "child");
    tia_task_new sub = {"hiro-003", child.wf, "deploy", "sub", NULL, parent.task[2], NULL};
    TIA_OK_OR_FAIL(tia_task_create(s, &sub, NULL, &err), &err);
    /* dep: finished, but a task of the running workflow `dependent` depends on it */
    make(s, &dep, "dep");
    finish(s, &dep, TIA_COMPLETED);
    make(s, &dependent, "dependent");
    depend(s, dependent.task[0], dep.task[0]);
    /* internal: finished, with a dependency inside it: moves, the edge with it */
    make(s, &internal, "internal");
    depend(s, internal.task[2], internal.task[0]);
    finish(s, &internal, TIA_COMPLETED);
    /* a standalone finished task */
    char lone[TIA_UUID_BUF];
    tia_task_new t = {"kenji-005", NULL, "design", "alone", NULL, NULL, NULL};
    TIA_OK_OR_FAIL(tia_task_create(s, &t, lone, &err), &err);
    finish_task(s, lone, TIA_COMPLETED, 5);
    /* too new for a 1-day cutoff: nothing moves */
    assert_int_equal(archive(s, DAY_US, 0, NULL, 0, 0).workflows, 0);

    char key_sql[200];
    snprintf(key_sql, sizeof key_sql,
             "UPDATE agent_tasks SET idempotency_key = 'key-1', priority = 7 WHERE id = '%s'",
             internal.task[2]);
    TIA_OK_OR_FAIL(tia_test_exec(s, key_sql, key_sql, &err), &err);
    snapshot before;
    take(s, &before);
    int64_t hot_tasks = count(s, "agent_tasks");
    tia_archive_result r = archive(s, 0, 2, NULL, 0, 0);
    assert_int_equal(r.workflows, 3); /* done, cancelled, internal */
    assert_int_equal(r.tasks, 9);
    assert_int_equal(r.interactions, 3);
    assert_int_equal(r.dependencies, 1);
    assert_int_equal(r.batches, 2);
    assert_int_equal(count(s, "agent_tasks"), hot_tasks - 9);
    const made *moved[] = {&done, &cancelled, &internal};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(in_table(s, "workflows", moved[i]->wf), 0);
        assert_int_equal(in_table(s, "workflows_archive", moved[i]->wf), 1);
        for (int k = 0; k < 3; k++) {
            assert_int_equal(in_table(s, "agent_tasks", moved[i]->task[k]), 0);
            assert_int_equal(in_table(s, "agent_tasks_archive", moved[i]->task[k]), 1);
        }
    }
    const made *stayed[] = {&running, &open, &parent, &child, &dep, &dependent};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(in_table(s, "workflows", stayed[i]->wf), 1);
        for (int k = 0; k < 3; k++)
            assert_int_equal(in_table(s, "agent_tasks", stayed[i]->task[k]), 1);
    }
    assert_int_equal(in_table(s, "agent_tasks", lone), 1);
    assert_int_equal(count(s, "task_dependencies"), 1); /* dependent's edge stays */
    assert_same(s, &before);
    assert_recount(s);

    /* show: the archived workflow whole */
    json_t *doc = show(s, internal.wf, 0);
    assert_string_equal(json_string_value(json_object_get(doc, "id")), internal.wf);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "internal");
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "completed");
    assert_int_equal(json_integer_value(json_object_get(doc, "total_tasks")), 3);
    assert_int_equal(json_integer_value(json_object_get(doc, "total_tokens_used")), 220);
    assert_non_null(json_string_value(json_object_get(doc, "archived_at")));
    json_t *tasks = json_object_get(doc, "tasks");
    assert_int_equal(json_array_size(tasks), 3);
    for (size_t k = 0; k < 3; k++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(tasks, k), "id")),
                            internal.task[k]);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(tasks, 1), "parent_task_id")),
        internal.task[0]);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(tasks, 1), "error_message")), "boom");
    /* the engine's columns too */
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(tasks, 2), "idempotency_key")), "key-1");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(tasks, 2), "priority")), 7);
    assert_has_columns(s, "agent_tasks", json_array_get(tasks, 0));
    json_t *in = json_object_get(doc, "interactions");
    assert_int_equal(json_array_size(in), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(in, 0), "message")),
                        "over to you");
    json_t *deps = json_object_get(doc, "dependencies");
    assert_int_equal(json_array_size(deps), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(deps, 0), "task_id")),
                        internal.task[2]);
    assert_string_equal(json_string_value(json_object_get(json_array_get(deps, 0), "depends_on")),
                        internal.task[0]);
    json_decref(doc);

    /* show: a hot workflow, an unknown one, not a UUID */
    char *text = NULL;
    TIA_ASSERT_RC(tia_archive_show(s, running.wf, &text, &err), TIA_ENOTFOUND, &err);
    assert_non_null(strstr(err.message, "hot tables"));
    show(s, "00000000-0000-4000-8000-000000000000", TIA_ENOTFOUND);
    show(s, "not-a-uuid", TIA_EINVAL);

    /* once `child` and `dependent` are gone, `parent` and `dep` may go too */
    TIA_OK_OR_FAIL(tia_workflow_delete(s, child.wf, &err), &err);
    TIA_OK_OR_FAIL(tia_workflow_delete(s, dependent.wf, &err), &err);
    drop(&before);
    take(s, &before); /* deletes count, as always */
    tia_archive_result r2 = archive(s, 0, 0, NULL, 0, 0);
    assert_int_equal(r2.workflows, 2);
    assert_int_equal(in_table(s, "workflows_archive", parent.wf), 1);
    assert_int_equal(in_table(s, "workflows_archive", dep.wf), 1);
    assert_int_equal(in_table(s, "workflows", running.wf), 1);
    assert_int_equal(in_table(s, "workflows", open.wf), 1);
    assert_same(s, &before);
    drop(&before);

    /* bad options */
    tia_archive_options o = {0};
    tia_archive_result rr;
    o.older_than_us = -1;
    TIA_ASSERT_RC(tia_archive_run(s, &o, &rr, &err), TIA_EINVAL, &err);
    o.older_than_us = 0;
    o.batch = TIA_ARCHIVE_BATCH_MAX + 1;
    TIA_ASSERT_RC(tia_archive_run(s, &o, &rr, &err), TIA_EINVAL, &err);
    tia_test_close(s);
}

/* ---- file mode ---- */

/* A new temporary directory's file name (the directory is left for rm_file). */
static char *temp_file(const char *name)
{
    char tmpl[] = "/tmp/tia-archive-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    size_t n = strlen(tmpl) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", tmpl, name);
    return p;
}

static void rm_file(char *path)
{
    unlink(path);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    rmdir(path);
    free(path);
}

/* The lines of a gzip file; *n gets their number. */
static char **read_lines(const char *path, size_t *n)
{
    gzFile g = gzopen(path, "rb");
    assert_non_null(g);
    size_t cap = 0;
    char **v = NULL;
    *n = 0;
    static char buf[4 << 20];
    while (gzgets(g, buf, sizeof buf) != NULL) {
        size_t len = strlen(buf);
        assert_true(len > 0 && buf[len - 1] == '\n');
        buf[len - 1] = '\0';
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            v = realloc(v, cap * sizeof *v);
            assert_non_null(v);
        }
        v[(*n)++] = strdup(buf);
    }
    int errnum = 0;
    gzerror(g, &errnum);
    assert_int_equal(errnum, 0);
    gzclose(g);
    return v;
}

static void free_lines(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Asserts that the file holds the header and then n distinct workflows; returns their ids. */
static char (*file_ids_dups(const char *path, size_t *n, int dups_ok))[TIA_UUID_BUF]
{
    size_t nl = 0;
    char **l = read_lines(path, &nl);
    assert_true(nl >= 1);
    assert_string_equal(l[0], "{\"format\":\"tokyoia-archive\",\"version\":1}");
    char(*ids)[TIA_UUID_BUF] = calloc(nl, TIA_UUID_BUF);
    assert_non_null(ids);
    for (size_t i = 1; i < nl; i++) {
        json_t *o = json_loads(l[i], 0, NULL);
        assert_non_null(o);
        snprintf(ids[i - 1], TIA_UUID_BUF, "%s", json_string_value(json_object_get(o, "id")));
        json_decref(o);
        for (size_t k = 0; k + 1 < i && !dups_ok; k++)
            if (strcmp(ids[k], ids[i - 1]) == 0)
                fail_msg("workflow %s is twice in %s", ids[k], path);
    }
    *n = nl - 1;
    free_lines(l, nl);
    return ids;
}

/* The ids of path's documents in order, each once. */
static char (*file_ids(const char *path, size_t *n))[TIA_UUID_BUF]
{
    return file_ids_dups(path, n, 0);
}

static void test_archive_file(void **state)
{
    (void)state;
    tia_store *s = generated(2000);
    tia_error err = {0};
    char *path = temp_file("old.jsonl.gz");
    int64_t older = 90 * DAY_US;
    tia_archive_result dry = dry_run(s, older);
    assert_true(dry.workflows > 20);
    /* the tasks of one eligible workflow, to compare with what the file gives back */
    char *wf = tia_test_text(
        s,
        "SELECT id::text FROM workflows WHERE status = 'completed' AND completed_at < now() - "
        "interval '120 days' ORDER BY id LIMIT 1",
        "SELECT id FROM workflows WHERE status = 'completed' AND completed_at < " TIA_SQLITE_NOW
        " - 120 * 86400000000 ORDER BY id LIMIT 1");
    assert_non_null(wf);
    tia_workflow *w = NULL;
    struct tia_task_list tl = {0};
    TIA_OK_OR_FAIL(tia_workflow_get_with_tasks(s, wf, &w, &tl, &err), &err);
    int64_t wf0 = count(s, "workflows");
    snapshot before;
    take(s, &before);

    tia_archive_result r = archive(s, older, 10, path, 0, 0);
    assert_int_equal(r.workflows, dry.workflows);
    assert_int_equal(r.tasks, dry.tasks);
    assert_int_equal(r.batches, (dry.workflows + 9) / 10);
    assert_int_equal(count(s, "workflows"), wf0 - r.workflows);
    assert_int_equal(count(s, "workflows_archive"), 0); /* the file, not the tables */
    assert_same(s, &before);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    size_t n = 0;
    char(*ids)[TIA_UUID_BUF] = file_ids(path, &n);
    assert_int_equal(n, r.workflows);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(in_table(s, "workflows", ids[i]), 0);
    free(ids);

    /* round trip: the workflow comes back with its tasks */
    char *text = NULL;
    TIA_OK_OR_FAIL(tia_archive_show_file(path, wf, &text, &err), &err);
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), w->name);
    assert_int_equal(json_integer_value(json_object_get(doc, "total_tokens_used")),
                     w->total_tokens_used);
    json_t *tasks = json_object_get(doc, "tasks");
    assert_int_equal(json_array_size(tasks), tl.n);
    for (size_t k = 0; k < tl.n; k++) {
        json_t *t = json_array_get(tasks, k);
        assert_string_equal(json_string_value(json_object_get(t, "id")), tl.items[k]->id);
        assert_int_equal(json_integer_value(json_object_get(t, "tokens_used")),
                         tl.items[k]->tokens_used);
        assert_string_equal(json_string_value(json_object_get(t, "agent_id")),
                            tl.items[k]->agent_id);
    }
    /* every column of every row is in the file, the engine's included */
    assert_has_columns(s, "workflows", doc);
    assert_has_columns(s, "agent_tasks", json_array_get(tasks, 0));
    json_t *inter = json_object_get(doc, "interactions");
    if (json_array_size(inter) > 0)
        assert_has_columns(s, "agent_interactions", json_array_get(inter, 0));
    json_decref(doc);
    tia_workflow_free(w);
    tia_task_list_free(&tl);
    TIA_ASSERT_RC(tia_archive_show_file(path, "00000000-0000-4000-8000-000000000000", &text, &err),
                  TIA_ENOTFOUND, &err);
    TIA_ASSERT_RC(tia_archive_show_file("/nonexistent/x.gz", wf, &text, &err), TIA_ENOTFOUND, &err);
    free(wf);

    /* an existing file without append: refused, nothing moved */
    int64_t hot = count(s, "workflows");
    archive(s, 30 * DAY_US, 0, path, 0, TIA_ECONFLICT);
    assert_int_equal(count(s, "workflows"), hot);
    /* with append: added, still no duplicate */
    tia_archive_result r2 = archive(s, 30 * DAY_US, 0, path, 1, 0);
    assert_true(r2.workflows > 0);
    ids = file_ids(path, &n);
    assert_int_equal(n, r.workflows + r2.workflows);
    free(ids);
    assert_same(s, &before);
    drop(&before);
    rm_file(path);
    tia_test_close(s);
}

#define FAIL_PG                                                                                    \
    "CREATE FUNCTION test_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE "         \
    "EXCEPTION 'test: deletes refused'; END $$; CREATE TRIGGER test_no_delete BEFORE DELETE ON "   \
    "workflows FOR EACH ROW EXECUTE FUNCTION test_no_delete()"
#define FAIL_LITE                                                                                  \
    "CREATE TRIGGER test_no_delete BEFORE DELETE ON workflows BEGIN SELECT RAISE(ABORT, 'test: "   \
    "deletes refused'); END"

/* Appends raw bytes to path. */
static void append_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_archive_file_recovery(void **state)
{
    (void)state;
    tia_store *s = generated(1500);
    tia_error err = {0};
    char *path = temp_file("a.jsonl.gz");
    int64_t older = 90 * DAY_US;
    int64_t eligible = dry_run(s, older).workflows, wf0 = count(s, "workflows");
    assert_true(eligible > 10);
    snapshot before;
    take(s, &before);

    /* The run dies between writing and deleting: its batch is in the file and in the database. */
    TIA_OK_OR_FAIL(tia_test_exec(s, FAIL_PG, FAIL_LITE, &err), &err);
    tia_archive_result r = archive(s, older, 4, path, 0, ANY_ERROR);
    assert_int_equal(r.workflows, 0);
    assert_int_equal(count(s, "workflows"), wf0);
    size_t n = 0;
    char(*first)[TIA_UUID_BUF] = file_ids(path, &n);
    assert_int_equal(n, 4);
    assert_same(s, &before);
    TIA_OK_OR_FAIL(tia_test_exec(s, "DROP TRIGGER test_no_delete ON workflows",
                                 "DROP TRIGGER test_no_delete", &err),
                   &err);
    /*
     * One of those workflows changes before the re-run: an interaction added. The
     * re-run must archive it as it is now, not delete it on the strength of the
     * older copy in the file (which lost the interaction).
     */
    tia_interaction_new late = {first[0], "akira-001",        "yuki-002",
                                "review", "late review note", NULL};
    char late_id[TIA_UUID_BUF];
    TIA_OK_OR_FAIL(tia_interaction_record(s, &late, late_id, &err), &err);

    /* An unfinished batch after it (a cut-off gzip member), as a crash mid-write leaves. */
    static const unsigned char partial[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00,
                                            0x00, 0x00, 0x03, 0x4b, 0x4c, 0x4a};
    append_bytes(path, partial, sizeof partial);

    /* The re-run finishes the job: no loss; the 4 are written again as they are now. */
    tia_archive_result r2 = archive(s, older, 4, path, 1, 0);
    assert_int_equal(r2.workflows, eligible);
    assert_int_equal(r2.already_in_file, 4);
    assert_int_equal(r2.repaired_bytes, sizeof partial);
    assert_int_equal(count(s, "workflows"), wf0 - eligible);
    char(*ids)[TIA_UUID_BUF] = file_ids_dups(path, &n, 1);
    assert_int_equal(n, eligible + 4);
    free(ids);
    assert_same(s, &before);
    char *doc = NULL;
    TIA_OK_OR_FAIL(tia_archive_show_file(path, first[0], &doc, &err), &err);
    if (strstr(doc, late_id) == NULL || strstr(doc, "late review note") == NULL)
        fail_msg("the archived workflow lost the interaction added before the re-run: %.300s", doc);
    free(doc);
    free(first);

    /* Damage before the end is refused, and the file is left as it was. */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    static const unsigned char junk16[16] = {0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
                                             0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55};
    assert_int_equal(fseek(f, st.st_size / 2, SEEK_SET), 0);
    assert_int_equal(fwrite(junk16, 1, sizeof junk16, f), sizeof junk16);
    assert_int_equal(fclose(f), 0);
    archive(s, 30 * DAY_US, 0, path, 1, TIA_EINVAL);
    struct stat st2;
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st2.st_size, st.st_size);
    assert_int_equal(count(s, "workflows"), wf0 - eligible);

    /* Not an archive file at all. */
    char *junk = temp_file("junk.gz");
    append_bytes(junk, "hello\n", 6);
    archive(s, 30 * DAY_US, 0, junk, 1, TIA_EINVAL);
    char *text = NULL;
    TIA_ASSERT_RC(tia_archive_show_file(junk, "00000000-0000-4000-8000-000000000000", &text, &err),
                  TIA_EINVAL, &err);
    assert_int_equal(count(s, "workflows"), wf0 - eligible);
    rm_file(junk);
    drop(&before);
    rm_file(path);
    tia_test_close(s);
}

/* ---- archiving while another connection writes ---- */

#define WRITER_WORKFLOWS 60

typedef struct writer {
    tia_store *s;
    made made[WRITER_WORKFLOWS];
    int done;
    int rc;
    char message[512];
} writer;

static void *write_loop(void *arg)
{
    writer *w = arg;
    tia_error err = {0};
    for (int i = 0; i < WRITER_WORKFLOWS && w->rc == 0; i++) {
        made *m = &w->made[i];
        tia_workflow_new nw = {"live", NULL, "code_review", "writer", NULL};
        int rc = tia_workflow_create(w->s, &nw, m->wf, &err);
        if (rc == 0)
            rc = tia_workflow_set_status(w->s, m->wf, TIA_RUNNING, &err);
        for (int k = 0; k < 3 && rc == 0; k++) {
            tia_task_new t = {
                k == 1 ? "yuki-002" : "akira-001", m->wf, "code_review", "live", NULL, NULL, NULL};
            rc = tia_task_create(w->s, &t, m->task[k], &err);
            tia_task_result res = {NULL, NULL, 10 + k, 100};
            if (rc == 0)
                rc = tia_task_transition(w->s, m->task[k], TIA_RUNNING, NULL, &err);
            if (rc == 0)
                rc = tia_task_transition(w->s, m->task[k], TIA_COMPLETED, &res, &err);
        }
        if (rc == 0)
            rc = tia_workflow_set_status(w->s, m->wf, TIA_COMPLETED, &err);
        if (rc != 0) {
            w->rc = rc;
            snprintf(w->message, sizeof w->message, "%s", err.message);
        }
        w->done = i + 1;
    }
    return NULL;
}

static void test_archive_while_writing(void **state)
{
    (void)state;
    tia_store *s = generated(3000);
    int64_t older = 30 * DAY_US;
    int64_t t0 = count(s, "agent_tasks"), eligible = dry_run(s, older).workflows;
    writer w;
    memset(&w, 0, sizeof w);
    w.s = tia_test_reopen(s);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, write_loop, &w), 0);
    /* small batches, so that the run spans many of the writer's statements */
    tia_archive_result r = archive(s, older, 5, NULL, 0, 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    if (w.rc != 0)
        fail_msg("the writer failed after %d workflows: %s", w.done, w.message);
    assert_int_equal(w.done, WRITER_WORKFLOWS);
    assert_int_equal(r.workflows, eligible);
    /* nothing lost: every task is hot or archived, every writer row is hot */
    assert_int_equal(count(s, "agent_tasks") + count(s, "agent_tasks_archive"),
                     t0 + 3 * WRITER_WORKFLOWS);
    for (int i = 0; i < WRITER_WORKFLOWS; i++) {
        assert_int_equal(in_table(s, "workflows", w.made[i].wf), 1);
        for (int k = 0; k < 3; k++)
            assert_int_equal(in_table(s, "agent_tasks", w.made[i].task[k]), 1);
    }
    /* the counters count every task, hot or archived, the writer's included */
    assert_recount(s);
    tia_store_close(w.s);
    tia_test_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_archive_columns),       cmocka_unit_test(test_archive_tables),
        cmocka_unit_test(test_archive_eligibility),   cmocka_unit_test(test_archive_file),
        cmocka_unit_test(test_archive_file_recovery), cmocka_unit_test(test_archive_while_writing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
