/*
 * Helpers shared by the engine's queue tests (test_engine_queue, _flow and
 * _contention): submitting single tasks, claiming, completing, reading columns
 * by raw SQL, and recomputing every counter from agent_tasks. Static functions
 * in a header, so that each test executable stays one file plus this.
 */
#ifndef TIA_ENGINE_TEST_UTIL_H
#define TIA_ENGINE_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tia_test.h"

#include <tokyoia/engine.h>

/* Rows whose counters differ from a recomputation over agent_tasks (0 when all agree). */
#define EQ_COUNTERS_SQL(cost, wcost)                                                               \
    "SELECT (SELECT count(*) FROM workflows w WHERE (w.total_tasks, w.completed_tasks, "           \
    "w.failed_tasks, w.total_tokens_used, w." wcost ") <> (SELECT count(*), "                      \
    "count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'), "    \
    "COALESCE(sum(tokens_used), 0), COALESCE(sum(" cost "), 0) FROM agent_tasks t "                \
    "WHERE t.workflow_id = w.id)) "                                                                \
    "+ (SELECT count(*) FROM agents a WHERE (a.total_tasks_completed, a.total_tokens_used) <> "    \
    "(SELECT count(*) FILTER (WHERE status = 'completed'), COALESCE(sum(tokens_used), 0) "         \
    "FROM agent_tasks t WHERE t.agent_id = a.id)) "                                                \
    "+ (SELECT count(*) FROM agent_task_totals x WHERE (x.pending, x.running, x.completed, "       \
    "x.failed, x.cancelled, x.tokens) <> (SELECT count(*) FILTER (WHERE status = 'pending'), "     \
    "count(*) FILTER (WHERE status = 'running'), count(*) FILTER (WHERE status = 'completed'), "   \
    "count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'cancelled'), "    \
    "COALESCE(sum(tokens_used), 0) FROM agent_tasks t WHERE t.agent_id = x.agent_id))"

static inline void assert_counters_agree(tia_store *s)
{
    int64_t bad = tia_test_int(s, EQ_COUNTERS_SQL("cost_usd", "total_cost_usd"),
                               EQ_COUNTERS_SQL("cost_usd_micros", "total_cost_usd_micros"));
    assert_int_equal(bad, 0);
}

/* A task spec with defaults (no retry override, no dependencies). */
static inline tia_task_spec spec_for(const char *key, const char *agent, const char *type)
{
    tia_task_spec t = {0};
    t.key = key;
    t.agent_id = agent;
    t.task_type = type;
    t.description = "a test task";
    t.max_retries = -1;
    return t;
}

/* Submits a single task; returns its id in id. */
static inline void submit_one(tia_store *s, const tia_task_spec *spec, char id[TIA_UUID_BUF])
{
    tia_error err = {0};
    int created = 0;
    TIA_OK_OR_FAIL(tia_engine_submit_task(s, spec, NULL, NULL, id, &created, &err), &err);
    assert_int_equal(created, 1);
}

/* Claims up to max tasks of one agent for worker (lease 60 s). */
static inline void claim_agent(tia_store *s, const char *agent, const char *worker, size_t max,
                               struct tia_claim_list *out)
{
    tia_error err = {0};
    const char *agents[1] = {agent};
    TIA_OK_OR_FAIL(tia_engine_claim(s, agents, 1, worker, max, 60000, out, &err), &err);
}

static inline tia_completion completion_of(const tia_claim *c, const char *worker,
                                           const char *output, int64_t tokens)
{
    tia_completion k = {c->task->id, worker, c->attempt, output, tokens, -1, -1, -1};
    return k;
}

/* A column of one task by raw SQL, as int64 (col is the same on both backends). */
static inline int64_t task_int(tia_store *s, const char *id, const char *col)
{
    char pg[512], lite[512];
    snprintf(pg, sizeof pg, "SELECT (%s)::int8 FROM agent_tasks WHERE id = '%.36s'", col, id);
    snprintf(lite, sizeof lite, "SELECT %s FROM agent_tasks WHERE id = '%.36s'", col, id);
    return tia_test_int(s, pg, lite);
}

/* A task's text column by raw SQL (malloc'd, NULL for NULL). */
static inline char *task_text(tia_store *s, const char *id, const char *col)
{
    char pg[512], lite[512];
    snprintf(pg, sizeof pg, "SELECT (%s)::text FROM agent_tasks WHERE id = '%.36s'", col, id);
    snprintf(lite, sizeof lite, "SELECT %s FROM agent_tasks WHERE id = '%.36s'", col, id);
    return tia_test_text(s, pg, lite);
}

/* A timestamp column of a task in microseconds (INT64_MIN for NULL). */
static inline int64_t task_time(tia_store *s, const char *id, const char *col)
{
    char pg[512], lite[512];
    snprintf(pg, sizeof pg,
             "SELECT COALESCE((extract(epoch from %s) * 1000000)::int8, -9223372036854775807 - 1) "
             "FROM agent_tasks WHERE id = '%.36s'",
             col, id);
    snprintf(lite, sizeof lite,
             "SELECT COALESCE(%s, -9223372036854775807 - 1) FROM agent_tasks WHERE id = '%.36s'",
             col, id);
    return tia_test_int(s, pg, lite);
}

static inline void expect_status(tia_store *s, const char *id, const char *want)
{
    char *st = task_text(s, id, "status");
    assert_non_null(st);
    assert_string_equal(st, want);
    free(st);
}

/* Runs the same statement text on both backends. */
static inline void exec_both(tia_store *s, const char *sql)
{
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_test_exec(s, sql, sql, &err), &err);
}

/* Makes a pending task claimable now (skips its backoff). */
static inline void ready_now(tia_store *s, const char *id)
{
    char pg[512], lite[512];
    snprintf(pg, sizeof pg,
             "UPDATE agent_tasks SET run_after = now() - interval '1 second' WHERE id = '%.36s'",
             id);
    snprintf(lite, sizeof lite, "UPDATE agent_tasks SET run_after = 0 WHERE id = '%.36s'", id);
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_test_exec(s, pg, lite, &err), &err);
}

#endif
