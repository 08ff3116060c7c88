/*
 * The end of a task's attempt: completion (one or a batch), failure with retry
 * and backoff, and everything that follows in the same transaction: cost from
 * the model's price, agent_metrics points, dependents made ready with the
 * upstream output merged into their input and a handoff recorded, the parent of
 * a subtask completed (fan-in) or failed, the dependents of a failed task
 * cancelled, and the workflow ended. The counters are never written here: the
 * triggers of migration 0002 follow every task row.
 *
 * A batch of completions is set-based: one UPDATE over the whole batch (a JSON
 * array expanded by jsonb_to_recordset or json_each), one INSERT of its metric
 * points, one workflow check; per-task work happens only for tasks that have
 * dependents or a parent. A lost lease refuses only its item. PostgreSQL may
 * abort a transaction on a deadlock between completions that share dependents
 * or a parent; the whole transaction is then run again (a few times).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <tokyoia/engine.h>

#include "core/crypto.h"
#include "core/validate.h"
#include "engine/engine_internal.h"
#include "store/db.h"

#define XSTR(x) STR(x)
#define STR(x) #x

/* Times a transaction is tried when the database aborts it (deadlock). */
#define TXN_TRIES 3
#define TOKENS_MAX INT64_C(2147483647)

/* ------------------------------------------------------------------------- */
/* Statements                                                                */
/* ------------------------------------------------------------------------- */

/* Columns every "task ended" statement returns, in this order. */
enum { E_ID, E_STATUS, E_WORKFLOW, E_PARENT, E_HAS_DEPS, E_COLS };

/* clang-format off */
#define PG_ENDED_COLS(t)                                                                           \
    t ".id, " t ".status, COALESCE(" t ".workflow_id::text, ''), "                                 \
    "COALESCE(" t ".parent_task_id::text, ''), "                                                   \
    "EXISTS (SELECT 1 FROM task_dependencies d WHERE d.depends_on = " t ".id)::int"
#define LITE_ENDED_COLS(t)                                                                         \
    t ".id, " t ".status, COALESCE(" t ".workflow_id, ''), COALESCE(" t ".parent_task_id, ''), "   \
    "EXISTS (SELECT 1 FROM task_dependencies d WHERE d.depends_on = " t ".id)"

/*
 * The task rows of a batch of completions. A task with unfinished subtasks
 * keeps running, awaiting them, with its lease cleared. Parameter 1: a JSON
 * array of {id, worker_id, attempt, output (JSON text), tokens, in_tok, out_tok,
 * cost (micro-dollars or null)}; on PostgreSQL also m1, m2, m3: the ids of the
 * item's latency, tokens and cost points, which the same statement inserts for
 * each row it completes (one statement less per batch, and the points are
 * written before the counter triggers lock the agents' totals: those locks are
 * held to the COMMIT and every claim and completion of the agent waits for them).
 * The points' context is built once per task, by the UPDATE's RETURNING, not
 * once per point.
 * x is MATERIALIZED and the status compared to its column want, so that each
 * item is found by primary key: with the constant 'running' the planner may
 * pick a bitmap scan of the partial index idx_tasks_lease, which holds every
 * dead running version of a busy queue until the next vacuum.
 */
#define PG_COMPLETE_UPDATE                                                                         \
    "UPDATE agent_tasks t SET "                                                                    \
    "status = CASE WHEN t.children_pending > 0 THEN 'running' ELSE 'completed' END, "              \
    "awaiting_children = t.children_pending > 0, "                                                 \
    "output_data = x.output::jsonb, tokens_used = x.tokens, "                                      \
    "input_tokens = x.in_tok, output_tokens = x.out_tok, "                                         \
    "cost_usd = COALESCE(x.cost / 1000000.0, LEAST(round(x.tokens * COALESCE((SELECT "             \
    "p.usd_per_1k_tokens FROM agents a JOIN model_prices p ON p.model = a.model "                  \
    "WHERE a.id = t.agent_id), 0) / 1000.0, 6), 9999.999999)), "                                   \
    "completed_at = CASE WHEN t.children_pending > 0 THEN NULL ELSE statement_timestamp() END, "   \
    "duration_ms = CASE WHEN t.children_pending > 0 OR t.started_at IS NULL THEN NULL "            \
    "ELSE " TIA__PG_DURATION " END, "                                                              \
    "lease_expires_at = NULL "                                                                     \
    "FROM x WHERE t.id = x.id AND t.worker_id = x.worker_id AND t.attempt = x.attempt "            \
    "AND t.status = x.want AND NOT t.awaiting_children "                                           \
    "RETURNING t.id, t.status, t.workflow_id, t.parent_task_id, t.agent_id, "                      \
    "t.duration_ms, t.tokens_used, t.cost_usd, x.m1, x.m2, x.m3, "                                 \
    "jsonb_build_object('task_id', t.id, 'workflow_id', t.workflow_id, 'task_type', "              \
    "t.task_type, 'status', t.status, 'attempt', t.attempt) AS context"
#define PG_COMPLETE_METRICS                                                                        \
    "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value, metric_unit, context) "   \
    "SELECT v.id, u.agent_id, v.type, v.value, v.unit, u.context "                                 \
    "FROM u CROSS JOIN LATERAL (VALUES "                                                           \
    "(u.m1, 'latency', COALESCE(u.duration_ms, 0)::float8, 'ms'), "                                \
    "(u.m2, 'tokens', u.tokens_used::float8, 'tokens'), "                                          \
    "(u.m3, 'cost', u.cost_usd::float8, 'USD')) AS v(id, type, value, unit) "                      \
    "WHERE u.status = 'completed'"
static const tia__sql sql_complete = {
    "engine.complete",
    "WITH x AS MATERIALIZED (SELECT *, 'running'::varchar AS want FROM jsonb_to_recordset("
    "$1::jsonb) AS x(id uuid, worker_id text, attempt int8, output text, tokens int8, "
    "in_tok int8, out_tok int8, cost int8, m1 uuid, m2 uuid, m3 uuid)), "
    "u AS (" PG_COMPLETE_UPDATE "), m AS (" PG_COMPLETE_METRICS ") "
    "SELECT u.id, u.status, COALESCE(u.workflow_id::text, ''), "
    "COALESCE(u.parent_task_id::text, ''), "
    "EXISTS (SELECT 1 FROM task_dependencies d WHERE d.depends_on = u.id)::int FROM u",
    "UPDATE agent_tasks SET "
    "status = CASE WHEN children_pending > 0 THEN 'running' ELSE 'completed' END, "
    "awaiting_children = children_pending > 0, "
    "output_data = x.output, tokens_used = x.tokens, "
    "input_tokens = x.in_tok, output_tokens = x.out_tok, "
    "cost_usd_micros = COALESCE(x.cost, MIN((x.tokens * COALESCE((SELECT p.usd_per_1k_micros "
    "FROM agents a JOIN model_prices p ON p.model = a.model WHERE a.id = agent_tasks.agent_id), "
    "0) + 500) / 1000, 9999999999)), "
    "completed_at = CASE WHEN children_pending > 0 THEN NULL ELSE " TIA_SQLITE_NOW " END, "
    "duration_ms = CASE WHEN children_pending > 0 OR started_at IS NULL THEN NULL "
    "ELSE " TIA__LITE_DURATION " END, "
    "lease_expires_at = NULL "
    "FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.worker_id') "
    "AS worker_id, json_extract(value, '$.attempt') AS attempt, json_extract(value, "
    "'$.output') AS output, json_extract(value, '$.tokens') AS tokens, json_extract(value, "
    "'$.in_tok') AS in_tok, json_extract(value, '$.out_tok') AS out_tok, json_extract(value, "
    "'$.cost') AS cost FROM json_each(?1)) AS x "
    "WHERE agent_tasks.id = x.id AND agent_tasks.worker_id = x.worker_id "
    "AND agent_tasks.attempt = x.attempt AND +status = 'running' AND NOT awaiting_children "
    "RETURNING " LITE_ENDED_COLS("agent_tasks"),
};

/*
 * Metric points of ended tasks. Parameter 1: a JSON array of {id (the point's),
 * task, type (latency, tokens or cost)}.
 */
#define METRIC_VALUE(cost)                                                                         \
    "CASE x.type WHEN 'latency' THEN COALESCE(t.duration_ms, 0) WHEN 'tokens' "                    \
    "THEN t.tokens_used ELSE " cost " END"
#define METRIC_UNIT "CASE x.type WHEN 'latency' THEN 'ms' WHEN 'tokens' THEN 'tokens' ELSE 'USD' END"
static const tia__sql sql_metrics = {
    "engine.metrics",
    "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value, metric_unit, context) "
    "SELECT x.id, t.agent_id, x.type, (" METRIC_VALUE("t.cost_usd") ")::float8, " METRIC_UNIT ", "
    "jsonb_build_object('task_id', t.id, 'workflow_id', t.workflow_id, 'task_type', "
    "t.task_type, 'status', t.status, 'attempt', t.attempt) "
    "FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, task uuid, type text) "
    "JOIN agent_tasks t ON t.id = x.task",
    "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value, metric_unit, context) "
    "SELECT x.id, t.agent_id, x.type, " METRIC_VALUE("t.cost_usd_micros / 1000000.0") ", "
    METRIC_UNIT ", json_object('task_id', t.id, 'workflow_id', t.workflow_id, 'task_type', "
    "t.task_type, 'status', t.status, 'attempt', t.attempt) "
    "FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.task') AS task, "
    "json_extract(value, '$.type') AS type FROM json_each(?1)) AS x "
    "JOIN agent_tasks t ON t.id = x.task",
};

/* One dependency fewer for each dependent of the tasks of set 1; locks them. */
enum { D_ID, D_AGENT, D_STATUS, D_TYPE, D_INPUT, D_DEPS, D_COLS };
static const tia__sql sql_deps_done = {
    "engine.deps_done",
    "UPDATE agent_tasks d SET deps_pending = d.deps_pending - g.n "
    "FROM (SELECT task_id, count(*)::int AS n FROM task_dependencies "
    "WHERE depends_on " TIA__PG_IN(1) " GROUP BY task_id) g WHERE d.id = g.task_id "
    "RETURNING d.id, d.agent_id, d.status, d.task_type, d.input_data, d.deps_pending",
    "UPDATE agent_tasks SET deps_pending = deps_pending - g.n "
    "FROM (SELECT task_id, count(*) AS n FROM task_dependencies "
    "WHERE depends_on " TIA__LITE_IN(1) " GROUP BY task_id) AS g "
    "WHERE agent_tasks.id = g.task_id "
    "RETURNING id, agent_id, status, task_type, input_data, deps_pending",
};

/* The edges from the tasks of set 1 to their dependents, with what passes along them. */
enum { G_TO, G_FROM, G_AGENT, G_TYPE, G_OUTPUT, G_WORKFLOW, G_COLS };
static const tia__sql sql_edges = {
    "engine.edges",
    "SELECT td.task_id, c.id, c.agent_id, c.task_type, c.output_data, c.workflow_id "
    "FROM task_dependencies td JOIN agent_tasks c ON c.id = td.depends_on "
    "WHERE td.depends_on " TIA__PG_IN(1) " ORDER BY td.task_id, c.id",
    "SELECT td.task_id, c.id, c.agent_id, c.task_type, c.output_data, c.workflow_id "
    "FROM task_dependencies td JOIN agent_tasks c ON c.id = td.depends_on "
    "WHERE td.depends_on " TIA__LITE_IN(1) " ORDER BY td.task_id, c.id",
};

static const tia__sql sql_set_input = {
    "engine.set_input",
    "UPDATE agent_tasks SET input_data = $2::jsonb WHERE id = $1::uuid",
    "UPDATE agent_tasks SET input_data = ?2 WHERE id = ?1",
};

static const tia__sql sql_handoff = {
    "engine.handoff",
    "INSERT INTO agent_interactions (id, workflow_id, from_agent_id, to_agent_id, "
    "interaction_type, message, payload) VALUES ($1::uuid, $2::uuid, $3, $4, 'handoff', $5, "
    "$6::jsonb)",
    "INSERT INTO agent_interactions (id, workflow_id, from_agent_id, to_agent_id, "
    "interaction_type, message, payload) VALUES (?1, ?2, ?3, ?4, 'handoff', ?5, ?6)",
};

/*
 * One subtask fewer for the parents of the tasks of set 1; a parent awaiting
 * exactly those completes. A parent that has ended is left alone: it counts its
 * subtasks no more (a retry of it counts them again), and a subtask retried
 * after it ended must not take its count below zero. Returns the E_ columns,
 * then children_pending.
 */
#define PARENT_READY(p)                                                                       \
    p "awaiting_children AND " p "status = 'running' AND " p "children_pending = g.n"
static const tia__sql sql_parents = {
    "engine.parents",
    "UPDATE agent_tasks p SET children_pending = p.children_pending - g.n, "
    "status = CASE WHEN " PARENT_READY("p.") " THEN 'completed' ELSE p.status END, "
    "awaiting_children = CASE WHEN " PARENT_READY("p.") " THEN false "
    "ELSE p.awaiting_children END, "
    "completed_at = CASE WHEN " PARENT_READY("p.") " THEN statement_timestamp() "
    "ELSE p.completed_at END, "
    "duration_ms = CASE WHEN " PARENT_READY("p.") " AND p.started_at IS NOT NULL "
    "THEN " TIA__PG_DURATION " ELSE p.duration_ms END "
    "FROM (SELECT parent_task_id AS pid, count(*)::int AS n FROM agent_tasks "
    "WHERE id " TIA__PG_IN(1) " AND parent_task_id IS NOT NULL GROUP BY parent_task_id) g "
    "WHERE p.id = g.pid AND p.status IN ('pending', 'running') "
    "RETURNING " PG_ENDED_COLS("p") ", p.children_pending",
    "UPDATE agent_tasks SET children_pending = children_pending - g.n, "
    "status = CASE WHEN " PARENT_READY("") " THEN 'completed' ELSE status END, "
    "awaiting_children = CASE WHEN " PARENT_READY("") " THEN 0 ELSE awaiting_children END, "
    "completed_at = CASE WHEN " PARENT_READY("") " THEN " TIA_SQLITE_NOW " "
    "ELSE completed_at END, "
    "duration_ms = CASE WHEN " PARENT_READY("") " AND started_at IS NOT NULL "
    "THEN " TIA__LITE_DURATION " ELSE duration_ms END "
    "FROM (SELECT parent_task_id AS pid, count(*) AS n FROM agent_tasks "
    "WHERE id " TIA__LITE_IN(1) " AND parent_task_id IS NOT NULL GROUP BY parent_task_id) AS g "
    "WHERE agent_tasks.id = g.pid AND agent_tasks.status IN ('pending', 'running') "
    "RETURNING " LITE_ENDED_COLS("agent_tasks") ", children_pending",
};

/*
 * The workflows of set 1 that have nothing left to run end: completed when every
 * task completed, else failed or cancelled. "Every task completed" is read from
 * the counters the triggers keep (one row, no scan), and is tried first; only a
 * workflow that cannot complete that way is searched for pending or running
 * tasks. duration_ms of a completed workflow is the seed trigger's.
 */
#define SETTLE_STATUS                                                                              \
    "CASE WHEN completed_tasks = total_tasks THEN 'completed' WHEN failed_tasks > 0 "              \
    "THEN 'failed' ELSE 'cancelled' END"
#define NOTHING_LEFT(t)                                                                            \
    "(completed_tasks = total_tasks OR NOT EXISTS (SELECT 1 FROM agent_tasks t "                  \
    "WHERE t.workflow_id = " t ".id AND t.status IN ('pending', 'running')))"
static const tia__sql sql_settle = {
    "engine.settle_workflows",
    "UPDATE workflows w SET status = " SETTLE_STATUS ", completed_at = statement_timestamp(), "
    "duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE " TIA__PG_DURATION " END "
    "WHERE w.id " TIA__PG_IN(1) " AND w.status IN ('pending', 'running') AND " NOTHING_LEFT("w"),
    "UPDATE workflows SET status = " SETTLE_STATUS ", completed_at = " TIA_SQLITE_NOW ", "
    "duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE " TIA__LITE_DURATION " END "
    "WHERE id " TIA__LITE_IN(1) " AND +status IN ('pending', 'running') "
    "AND " NOTHING_LEFT("workflows"),
};

static const tia__sql sql_workflow_fail = {
    "engine.workflow_fail",
    "UPDATE workflows SET status = 'failed', completed_at = statement_timestamp(), "
    "duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE " TIA__PG_DURATION " END "
    "WHERE id = $1::uuid AND status IN ('pending', 'running')",
    "UPDATE workflows SET status = 'failed', completed_at = " TIA_SQLITE_NOW ", "
    "duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE " TIA__LITE_DURATION " END "
    "WHERE id = ?1 AND status IN ('pending', 'running')",
};

/*
 * A worker's failure. Parameters: 1 id, 2 worker, 3 attempt, 4 message,
 * 5 retryable, 6 jitter in [0, 1), 7 only when the lease expired, 8 a release
 * (tia_engine_release: back to pending at once, no retry counted, whatever the
 * retries left).
 */
#define PG_RETRY                                                                                   \
    "(NOT cancel_requested AND (($5::bool AND retry_count < max_retries) OR $8::bool))"
#define LITE_RETRY "(NOT cancel_requested AND ((?5 AND retry_count < max_retries) OR ?8))"
#define FAIL_SET(retry, release, now, dur, backoff)                                                \
    "status = CASE WHEN cancel_requested THEN 'cancelled' WHEN " retry " THEN 'pending' "          \
    "ELSE 'failed' END, "                                                                          \
    "retry_count = retry_count + CASE WHEN " retry " AND NOT " release " THEN 1 ELSE 0 END, "      \
    "run_after = CASE WHEN NOT " retry " THEN run_after WHEN " release " THEN " now " ELSE "       \
    backoff " END, "                                                                               \
    "started_at = CASE WHEN " retry " THEN NULL ELSE started_at END, "                             \
    "completed_at = CASE WHEN " retry " THEN NULL ELSE " now " END, "                              \
    "duration_ms = CASE WHEN " retry " OR started_at IS NULL THEN NULL ELSE " dur " END, "         \
    "worker_id = CASE WHEN " retry " THEN NULL ELSE worker_id END, lease_expires_at = NULL "
#define BACKOFF_MS(shift, least)                                                                   \
    least "(" XSTR(TIA_BACKOFF_CAP_MS) ", " XSTR(TIA_BACKOFF_BASE_MS) " * (" shift "))"
static const tia__sql sql_fail = {
    "engine.fail",
    "UPDATE agent_tasks SET error_message = $4::text, "
    FAIL_SET(PG_RETRY, "$8::bool", "statement_timestamp()", TIA__PG_DURATION,
             "statement_timestamp() + floor($6::float8 * " BACKOFF_MS(
                 "1::int8 << LEAST(retry_count, 20)", "LEAST") ") * interval '1 millisecond'")
    "WHERE id = $1::uuid AND worker_id = $2::text AND attempt = $3::int8 "
    "AND status = 'running' AND NOT awaiting_children "
    "AND (NOT $7::bool OR lease_expires_at < statement_timestamp()) RETURNING status",
    "UPDATE agent_tasks SET error_message = ?4, "
    FAIL_SET(LITE_RETRY, "?8", TIA_SQLITE_NOW, TIA__LITE_DURATION,
             TIA_SQLITE_NOW " + 1000 * CAST(?6 * " BACKOFF_MS(
                 "1 << MIN(retry_count, 20)", "MIN") " AS INTEGER)")
    "WHERE id = ?1 AND worker_id = ?2 AND attempt = ?3 "
    "AND status = 'running' AND NOT awaiting_children "
    "AND (NOT ?7 OR lease_expires_at < " TIA_SQLITE_NOW ") RETURNING status",
};

/* What tia__engine_ended_badly needs of a task. */
static const tia__sql sql_ended_row = {
    "engine.ended_row",
    "SELECT status, task_type, COALESCE(workflow_id::text, ''), "
    "COALESCE(parent_task_id::text, ''), (duration_ms IS NOT NULL)::int "
    "FROM agent_tasks WHERE id = $1::uuid",
    "SELECT status, task_type, COALESCE(workflow_id, ''), COALESCE(parent_task_id, ''), "
    "duration_ms IS NOT NULL FROM agent_tasks WHERE id = ?1",
};

/* Pending tasks downstream of task 1 (transitively) are cancelled with message 2. */
static const tia__sql sql_cancel_downstream = {
    "engine.cancel_downstream",
    "WITH RECURSIVE down(id) AS (SELECT task_id FROM task_dependencies WHERE depends_on = "
    "$1::uuid UNION SELECT td.task_id FROM task_dependencies td JOIN down "
    "ON td.depends_on = down.id) "
    "UPDATE agent_tasks SET status = 'cancelled', completed_at = statement_timestamp(), "
    "error_message = $2::text WHERE id IN (SELECT id FROM down) AND status = 'pending'",
    "WITH RECURSIVE down(id) AS (SELECT task_id FROM task_dependencies WHERE depends_on = ?1 "
    "UNION SELECT td.task_id FROM task_dependencies td JOIN down "
    "ON td.depends_on = down.id) "
    "UPDATE agent_tasks SET status = 'cancelled', completed_at = " TIA_SQLITE_NOW ", "
    "error_message = ?2 WHERE id IN (SELECT id FROM down) AND status = 'pending'",
};

/* The subtasks of a task that ended badly: pending ones cancelled, running ones asked to stop. */
static const tia__sql sql_stop_children = {
    "engine.stop_children",
    "UPDATE agent_tasks SET status = CASE WHEN status = 'pending' THEN 'cancelled' "
    "ELSE status END, completed_at = CASE WHEN status = 'pending' THEN statement_timestamp() "
    "ELSE completed_at END, error_message = CASE WHEN status = 'pending' THEN $2::text "
    "ELSE error_message END, cancel_requested = (status = 'running') "
    "WHERE parent_task_id = $1::uuid AND status IN ('pending', 'running')",
    "UPDATE agent_tasks SET status = CASE WHEN status = 'pending' THEN 'cancelled' "
    "ELSE status END, completed_at = CASE WHEN status = 'pending' THEN " TIA_SQLITE_NOW " "
    "ELSE completed_at END, error_message = CASE WHEN status = 'pending' THEN ?2 "
    "ELSE error_message END, cancel_requested = (status = 'running') "
    "WHERE parent_task_id = ?1 AND status IN ('pending', 'running')",
};

/* A parent whose subtask ended badly fails (or ends cancelled, when that was asked). */
static const tia__sql sql_fail_parent = {
    "engine.fail_parent",
    "UPDATE agent_tasks SET status = CASE WHEN cancel_requested THEN 'cancelled' "
    "ELSE 'failed' END, completed_at = statement_timestamp(), "
    "duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE " TIA__PG_DURATION " END, "
    "error_message = $2::text, awaiting_children = false, lease_expires_at = NULL "
    "WHERE id = $1::uuid AND status = 'running' RETURNING id",
    "UPDATE agent_tasks SET status = CASE WHEN cancel_requested THEN 'cancelled' "
    "ELSE 'failed' END, completed_at = " TIA_SQLITE_NOW ", "
    "duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE " TIA__LITE_DURATION " END, "
    "error_message = ?2, awaiting_children = 0, lease_expires_at = NULL "
    "WHERE id = ?1 AND status = 'running' RETURNING id",
};
/* clang-format on */

/* ------------------------------------------------------------------------- */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------- */

static const char *cell(const tia__table *t, size_t row, size_t col)
{
    return t->cells[row * t->cols + col];
}

/* Runs q with one JSON parameter built from doc (consumed). */
static int exec_json(tia_store *s, const tia__sql *q, json_t *doc, tia__table *out, int cols,
                     tia_error *err)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory building %s", q->name);
    tia__param p = tia__p_text(text);
    int rc =
        out ? tia__table_query(s, q, &p, 1, cols, out, err) : tia__db_exec(s, q, &p, 1, NULL, err);
    free(text);
    return rc;
}

/* Runs q over an id set (nothing when empty). */
static int exec_set(tia_store *s, const tia__sql *q, tia__idset *set, tia__table *out, int cols,
                    tia_error *err)
{
    tia__param p;
    if (out)
        memset(out, 0, sizeof *out);
    if (set->n == 0)
        return 0;
    int rc = tia__idset_param(set, &p, err);
    if (rc != 0)
        return rc;
    return out ? tia__table_query(s, q, &p, 1, cols, out, err)
               : tia__db_exec(s, q, &p, 1, NULL, err);
}

/* Metric points (one per type) for each task id. */
static int record_metrics(tia_store *s, const char *const *ids, size_t n, const char *const *types,
                          size_t n_types, tia_error *err)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        for (size_t k = 0; arr != NULL && k < n_types; k++) {
            char id[TIA_UUID_BUF];
            tia__store_uuid7(s, id);
            if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "id", id, "task", ids[i],
                                                     "type", types[k])) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
    if (n == 0) {
        json_decref(arr);
        return 0;
    }
    return exec_json(s, &sql_metrics, arr, NULL, 0, err);
}

int tia__engine_txn(tia_store *s, int (*body)(tia_store *s, void *ctx, tia_error *err), void *ctx,
                    tia_error *err)
{
    int rc = TIA_ECONFLICT;
    for (int tries = 0; rc == TIA_ECONFLICT && tries < TXN_TRIES; tries++) {
        if ((rc = tia__db_begin(s, err)) != 0)
            return rc;
        rc = body(s, ctx, err);
        if (rc == 0)
            rc = tia__db_commit(s, err);
        else
            tia__db_rollback(s);
    }
    tia__wake_flush(s, rc == 0); /* SQLite's waiters learn of ready work after the COMMIT */
    return rc;
}

/* ------------------------------------------------------------------------- */
/* After completion                                                          */
/* ------------------------------------------------------------------------- */

/*
 * Merges the outputs of the edges [from, to) into a dependent's input_data under
 * "upstream".<task_type> = {task_id, output}. A non-object input is kept under
 * "input". *out is malloc'd.
 */
/* Whether v (an upstream entry) is the one of task id. */
static int entry_of(const json_t *v, const char *id)
{
    const char *t = json_string_value(json_object_get(v, "task_id"));
    return t != NULL && strcmp(t, id) == 0;
}

/*
 * Puts item (taken), the output of dependency id of task type, under
 * up[type]: alone, as it always was when no other dependency has that type;
 * with two or more of one type (two reviews feeding one summary), as an array of
 * their entries in the order they completed, so that none overwrites another
 * (the second used to replace the first). The same task again replaces its own
 * entry. 0, or -1 when out of memory.
 */
static int up_put(json_t *up, const char *type, const char *id, json_t *item)
{
    if (item == NULL)
        return -1;
    json_t *cur = json_object_get(up, type);
    if (cur == NULL || (json_is_object(cur) && entry_of(cur, id)))
        return json_object_set_new(up, type, item);
    if (json_is_array(cur)) {
        for (size_t k = 0; k < json_array_size(cur); k++)
            if (entry_of(json_array_get(cur, k), id))
                return json_array_set_new(cur, k, item);
        return json_array_append_new(cur, item);
    }
    json_t *both = json_pack("[O, o]", cur, item);
    return both == NULL ? -1 : json_object_set_new(up, type, both);
}

static int merge_upstream(const char *input, const tia__table *e, size_t from, size_t to,
                          char **out, tia_error *err)
{
    json_t *doc = input ? json_loads(input, JSON_DECODE_ANY, NULL) : json_object();
    if (doc != NULL && !json_is_object(doc)) {
        json_t *wrap = json_object();
        if (wrap != NULL)
            json_object_set_new(wrap, "input", doc);
        doc = wrap;
    }
    json_t *up = doc ? json_object_get(doc, "upstream") : NULL;
    if (doc != NULL && !json_is_object(up)) {
        up = json_object();
        json_object_set_new(doc, "upstream", up);
    }
    for (size_t i = from; up != NULL && i < to; i++) {
        const char *output = cell(e, i, G_OUTPUT);
        json_t *o = output ? json_loads(output, JSON_DECODE_ANY, NULL) : json_null();
        const char *type = tia__table_at(e, i, G_TYPE), *from_id = tia__table_at(e, i, G_FROM);
        json_t *item = json_pack("{s:s, s:o?}", "task_id", from_id, "output", o);
        if (up_put(up, type, from_id, item) != 0) {
            json_decref(doc);
            return tia_error_set(err, TIA_ENOMEM, "out of memory merging upstream outputs");
        }
    }
    *out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return *out ? 0 : tia_error_set(err, TIA_ENOMEM, "out of memory merging upstream outputs");
}

static int record_handoff(tia_store *s, const tia__table *e, size_t i, const char *to_agent,
                          const char *to_id, const char *to_type, tia_error *err)
{
    char id[TIA_UUID_BUF], msg[512];
    char *payload = NULL;
    json_t *o = json_pack("{s:s, s:s}", "from_task", tia__table_at(e, i, G_FROM), "to_task", to_id);
    if (o != NULL)
        payload = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (payload == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory recording a handoff");
    snprintf(msg, sizeof msg, "%s hands %s over to %s", tia__table_at(e, i, G_AGENT),
             tia__table_at(e, i, G_TYPE), to_type);
    tia__store_uuid7(s, id);
    const char *wf = tia__table_at(e, i, G_WORKFLOW);
    tia__param p[6] = {tia__p_text(id),
                       tia__p_text(wf[0] ? wf : NULL),
                       tia__p_text(tia__table_at(e, i, G_AGENT)),
                       tia__p_text(to_agent),
                       tia__p_text(msg),
                       tia__p_text(payload)};
    int rc = tia__db_exec(s, &sql_handoff, p, 6, NULL, err);
    free(payload);
    return rc;
}

/*
 * The dependents of the tasks of set: one dependency fewer, the outputs merged
 * into their input (as each dependency completes, so that a task has them all
 * when it becomes ready), and a handoff from each finished task of another
 * agent whose completion made its dependent ready.
 */
static int pass_to_dependents(tia_store *s, tia__idset *set, tia_error *err)
{
    tia__table d = {0}, e = {0};
    int rc = exec_set(s, &sql_deps_done, set, &d, D_COLS, err);
    if (rc == 0)
        rc = exec_set(s, &sql_edges, set, &e, G_COLS, err);
    for (size_t i = 0; rc == 0 && i < d.rows; i++) {
        const char *id = tia__table_at(&d, i, D_ID), *status = tia__table_at(&d, i, D_STATUS);
        int pending = strcmp(status, "pending") == 0;
        int ready = pending && tia__table_int(&d, i, D_DEPS) == 0;
        size_t from = 0, to;
        while (from < e.rows && strcmp(tia__table_at(&e, from, G_TO), id) != 0)
            from++;
        for (to = from; to < e.rows && strcmp(tia__table_at(&e, to, G_TO), id) == 0; to++) {
            int other_agent =
                strcmp(tia__table_at(&e, to, G_AGENT), tia__table_at(&d, i, D_AGENT)) != 0;
            if (rc == 0 && other_agent && ready)
                rc = record_handoff(s, &e, to, tia__table_at(&d, i, D_AGENT), id,
                                    tia__table_at(&d, i, D_TYPE), err);
        }
        if (rc != 0 || (!pending && strcmp(status, "cancelled") != 0))
            continue;
        char *input = NULL;
        if ((rc = merge_upstream(cell(&d, i, D_INPUT), &e, from, to, &input, err)) == 0) {
            tia__param p[2] = {tia__p_text(id), tia__p_text(input)};
            rc = tia__db_exec(s, &sql_set_input, p, 2, NULL, err);
        }
        free(input);
    }
    if (rc == 0) /* the agents of the dependents that became ready wake at the commit */
        rc = tia__wake_ready(s, TIA__READY_DEPENDENTS, set, err);
    tia__table_free(&d);
    tia__table_free(&e);
    return rc;
}

static const char *const completion_metrics[] = {"latency", "tokens", "cost"};

/*
 * Everything that follows the completion of the tasks of t (E_ columns; only rows
 * whose status is completed count): metrics (unless recorded already, as the
 * PostgreSQL completion does), dependents, parents, and again for each parent
 * that completes in turn. Their workflows are added to wfs.
 */
static int after_completed(tia_store *s, tia__table *t, int metrics_done, tia__idset *wfs,
                           tia_error *err)
{
    int rc = 0;
    while (rc == 0 && t->rows > 0) {
        tia__idset with_deps, with_parent;
        const char **ids = calloc(t->rows, sizeof *ids);
        size_t n = 0;
        tia__idset_init(&with_deps, s);
        tia__idset_init(&with_parent, s);
        if (ids == NULL)
            rc = tia_error_set(err, TIA_ENOMEM, "out of memory finishing tasks");
        for (size_t i = 0; rc == 0 && i < t->rows; i++) {
            if (strcmp(tia__table_at(t, i, E_STATUS), "completed") != 0)
                continue;
            if (t->cols > E_COLS && tia__table_int(t, i, E_COLS) != 0)
                continue; /* a parent with subtasks still to finish */
            ids[n++] = tia__table_at(t, i, E_ID);
            tia__idset_add(wfs, tia__table_at(t, i, E_WORKFLOW));
            if (tia__table_int(t, i, E_HAS_DEPS))
                tia__idset_add(&with_deps, tia__table_at(t, i, E_ID));
            if (tia__table_at(t, i, E_PARENT)[0])
                tia__idset_add(&with_parent, tia__table_at(t, i, E_ID));
        }
        if (rc == 0 && !metrics_done)
            rc = record_metrics(s, ids, n, completion_metrics, 3, err);
        metrics_done = 0; /* the parents completed below have none yet */
        if (rc == 0)
            rc = pass_to_dependents(s, &with_deps, err);
        free(ids);
        tia__table_free(t);
        if (rc == 0)
            rc = exec_set(s, &sql_parents, &with_parent, t, E_COLS + 1, err);
        tia__idset_free(&with_deps);
        tia__idset_free(&with_parent);
    }
    return rc;
}

int tia__engine_settle_workflows(tia_store *s, tia__idset *set, tia_error *err)
{
    return exec_set(s, &sql_settle, set, NULL, 0, err);
}

/* ------------------------------------------------------------------------- */
/* Completion                                                                */
/* ------------------------------------------------------------------------- */

/* A checked completion. */
typedef struct checked {
    char id[TIA_UUID_BUF];
    int64_t tokens;
    int rc; /* 0 while the item is still in the running */
} checked;

static int check_count(tia_error *err, const char *field, int64_t v)
{
    if (v < -1 || v > TOKENS_MAX)
        return tia_error_set(err, TIA_EINVAL, "%s %lld is out of range (-1 or 0..%lld)", field,
                             (long long)v, (long long)TOKENS_MAX);
    return 0;
}

static int check_completion(const tia_completion *c, checked *k, tia_error *err)
{
    int rc;
    if (c == NULL)
        return tia_error_set(err, TIA_EINVAL, "completion is required");
    if ((rc = tia__check_lease_args(c->task_id, c->worker_id, c->attempt, k->id, err)) != 0 ||
        (rc = tia__check_json(err, "output_data", c->output_data, 0)) != 0 ||
        (rc = check_count(err, "tokens_used", c->tokens_used)) != 0 ||
        (rc = check_count(err, "input_tokens", c->input_tokens)) != 0 ||
        (rc = check_count(err, "output_tokens", c->output_tokens)) != 0)
        return rc;
    if (c->cost_micros < -1 || c->cost_micros > TIA_COST_MAX_MICROS)
        return tia_error_set(err, TIA_EINVAL, "cost_micros %lld is out of range (-1 or 0..%lld)",
                             (long long)c->cost_micros, (long long)TIA_COST_MAX_MICROS);
    int64_t sum =
        (c->input_tokens > 0 ? c->input_tokens : 0) + (c->output_tokens > 0 ? c->output_tokens : 0);
    if (c->tokens_used >= 0 && c->input_tokens >= 0 && c->output_tokens >= 0 &&
        c->tokens_used != sum)
        return tia_error_set(err, TIA_EINVAL,
                             "tokens_used %lld is not input_tokens + output_tokens (%lld)",
                             (long long)c->tokens_used, (long long)sum);
    k->tokens = c->tokens_used >= 0 ? c->tokens_used : sum;
    if (k->tokens > TOKENS_MAX)
        return tia_error_set(err, TIA_EINVAL, "input_tokens + output_tokens is too large");
    return 0;
}

/* One item of sql_complete's parameter; PostgreSQL also gets its metric points' ids. */
static json_t *completion_json(tia_store *s, const tia_completion *c, const checked *k)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:s?, s:I}", "id", k->id, "worker_id", c->worker_id,
                          "attempt", (json_int_t)c->attempt, "output", c->output_data, "tokens",
                          (json_int_t)k->tokens);
    if (o == NULL)
        return NULL;
    if (c->input_tokens >= 0)
        json_object_set_new(o, "in_tok", json_integer(c->input_tokens));
    if (c->output_tokens >= 0)
        json_object_set_new(o, "out_tok", json_integer(c->output_tokens));
    if (c->cost_micros >= 0)
        json_object_set_new(o, "cost", json_integer(c->cost_micros));
    for (int m = 0; tia_store_backend(s) == TIA_BACKEND_POSTGRES && m < 3; m++) {
        static const char *const names[3] = {"m1", "m2", "m3"};
        char id[TIA_UUID_BUF];
        tia__store_uuid7(s, id);
        json_object_set_new(o, names[m], json_string(id));
    }
    return o;
}

typedef struct batch {
    const tia_completion *items;
    size_t n;
    checked *k;
    int *rcs;
    tia_error first; /* the first item's error */
} batch;

static void item_failed(batch *b, size_t i, int rc, const tia_error *e)
{
    b->rcs[i] = rc;
    if (b->first.code == 0)
        tia_error_set(&b->first, rc, "%s", e->message);
}

/* Items the UPDATE did not take: unknown task or lost lease, each told apart. */
static int refuse_missed(tia_store *s, batch *b, const tia__table *t, tia_error *err)
{
    int rc = 0;
    char *taken = calloc(t->rows + 1, 1); /* each returned row answers one item */
    if (taken == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory checking completions");
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        if (b->k[i].rc != 0)
            continue;
        size_t r = 0;
        while (r < t->rows && (taken[r] || strcmp(tia__table_at(t, r, E_ID), b->k[i].id) != 0))
            r++;
        if (r < t->rows) {
            taken[r] = 1;
            continue;
        }
        tia_error e = {0};
        int item = tia__lease_lost(s, b->k[i].id, &e);
        if (item != TIA_ECONFLICT && item != TIA_ENOTFOUND)
            rc = tia_error_set(err, item, "%s", e.message);
        else
            item_failed(b, i, item, &e);
    }
    free(taken);
    return rc;
}

static int complete_body(tia_store *s, void *ctx, tia_error *err)
{
    batch *b = ctx;
    tia__table t = {0};
    tia__idset wfs;
    json_t *arr = json_array();
    b->first.code = 0;
    for (size_t i = 0; arr != NULL && i < b->n; i++) {
        b->rcs[i] = b->k[i].rc;
        if (b->k[i].rc == 0 &&
            json_array_append_new(arr, completion_json(s, &b->items[i], &b->k[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    tia__idset_init(&wfs, s);
    int rc = exec_json(s, &sql_complete, arr, &t, E_COLS, err);
    if (rc == 0)
        rc = refuse_missed(s, b, &t, err);
    if (rc == 0)
        rc = after_completed(s, &t, wfs.pg, &wfs, err);
    if (rc == 0)
        rc = tia__engine_settle_workflows(s, &wfs, err);
    tia__table_free(&t);
    tia__idset_free(&wfs);
    return rc;
}

int tia_engine_complete_batch(tia_store *s, const tia_completion *items, size_t n, int *rcs,
                              tia_error *err)
{
    batch b = {items, n, NULL, rcs, {0}};
    size_t valid = 0;
    if (n == 0)
        return 0;
    if (items == NULL || rcs == NULL)
        return tia_error_set(err, TIA_EINVAL, "items and rcs are required");
    b.k = calloc(n, sizeof *b.k);
    if (b.k == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory for %zu completions", n);
    for (size_t i = 0; i < n; i++) {
        tia_error e = {0}, named = {0};
        b.k[i].rc = check_completion(&items[i], &b.k[i], &e);
        if (b.k[i].rc != 0) {
            if (n > 1) /* the message names the item */
                tia_error_set(&named, b.k[i].rc, "items[%zu]: %.400s", i, e.message);
            item_failed(&b, i, b.k[i].rc, n > 1 ? &named : &e);
        } else {
            valid++;
        }
    }
    tia_error first = b.first;
    int rc = valid ? tia__engine_txn(s, complete_body, &b, err) : 0;
    if (first.code != 0 && b.first.code == 0)
        b.first = first;
    if (rc == 0 && b.first.code != 0 && err != NULL)
        *err = b.first;
    for (size_t i = 0; rc != 0 && i < n; i++)
        rcs[i] = rc; /* nothing was written */
    free(b.k);
    return rc;
}

int tia_engine_complete(tia_store *s, const tia_completion *c, tia_error *err)
{
    int item = 0;
    if (c == NULL)
        return tia_error_set(err, TIA_EINVAL, "completion is required");
    int rc = tia_engine_complete_batch(s, c, 1, &item, err);
    return rc != 0 ? rc : item;
}

/* ------------------------------------------------------------------------- */
/* Failure                                                                   */
/* ------------------------------------------------------------------------- */

static const char *const failure_metrics[] = {"latency"};

int tia__engine_ended_badly(tia_store *s, const char *task_id, tia_error *err)
{
    tia__table t = {0}, parent = {0};
    char msg[160];
    tia__param p[2];
    p[0] = tia__p_text(task_id);
    int rc = tia__table_query(s, &sql_ended_row, p, 1, 5, &t, err);
    if (rc != 0 || t.rows == 0)
        goto done;
    const char *status = tia__table_at(&t, 0, 0), *type = tia__table_at(&t, 0, 1);
    const char *wf = tia__table_at(&t, 0, 2), *parent_id = tia__table_at(&t, 0, 3);
    int failed = strcmp(status, "failed") == 0;
    if (!failed && strcmp(status, "cancelled") != 0)
        goto done;
    snprintf(msg, sizeof msg, "dependency %.100s %s", type, status);
    p[1] = tia__p_text(msg);
    if ((rc = tia__db_exec(s, &sql_cancel_downstream, p, 2, NULL, err)) != 0)
        goto done;
    snprintf(msg, sizeof msg, "parent task %.100s %s", type, status);
    if ((rc = tia__db_exec(s, &sql_stop_children, p, 2, NULL, err)) != 0)
        goto done;
    if (failed && tia__table_int(&t, 0, 4) &&
        (rc = record_metrics(s, &task_id, 1, failure_metrics, 1, err)) != 0)
        goto done;
    if (parent_id[0]) {
        snprintf(msg, sizeof msg, "subtask %.100s %s", type, status);
        tia__param pp[2] = {tia__p_text(parent_id), tia__p_text(msg)};
        if ((rc = tia__table_query(s, &sql_fail_parent, pp, 2, 1, &parent, err)) != 0)
            goto done;
        if (parent.rows > 0 && (rc = tia__engine_ended_badly(s, parent_id, err)) != 0)
            goto done;
    }
    if (wf[0] && failed) {
        tia__param w = tia__p_text(wf);
        rc = tia__db_exec(s, &sql_workflow_fail, &w, 1, NULL, err);
    } else if (wf[0]) {
        tia__idset set;
        tia__idset_init(&set, s);
        tia__idset_add(&set, wf);
        rc = tia__engine_settle_workflows(s, &set, err);
        tia__idset_free(&set);
    }
done:
    tia__table_free(&t);
    tia__table_free(&parent);
    return rc;
}

typedef struct failure {
    const char *id, *worker_id, *message;
    int64_t attempt;
    int retryable, only_expired, release;
    double jitter;
    int item; /* the outcome for the caller: 0, TIA_ENOTFOUND or TIA_ECONFLICT */
    tia_error item_err;
} failure;

static int fail_body(tia_store *s, void *ctx, tia_error *err)
{
    failure *f = ctx;
    tia__table t = {0};
    tia__param p[8] = {tia__p_text(f->id),           tia__p_text(f->worker_id),
                       tia__p_int(f->attempt),       tia__p_text(f->message),
                       tia__p_bool(f->retryable),    tia__p_double(f->jitter),
                       tia__p_bool(f->only_expired), tia__p_bool(f->release)};
    f->item = 0;
    int rc = tia__table_query(s, &sql_fail, p, 8, 1, &t, err);
    if (rc == 0 && t.rows == 0) {
        f->item = tia__lease_lost(s, f->id, &f->item_err);
        if (f->item != TIA_ECONFLICT && f->item != TIA_ENOTFOUND)
            rc = tia_error_set(err, f->item, "%s", f->item_err.message);
    } else if (rc == 0 && strcmp(tia__table_at(&t, 0, 0), "pending") != 0) {
        rc = tia__engine_ended_badly(s, f->id, err);
    } else if (rc == 0) { /* a retry wakes its agent only when it has no backoff to wait */
        rc = tia__wake_ready_one(s, TIA__READY_TASKS, f->id, err);
    }
    tia__table_free(&t);
    return rc;
}

/* A uniform double in [0, 1) for full jitter. */
static double jitter(void)
{
    uint64_t r = 0;
    if (tia__random_bytes(&r, sizeof r) != 0)
        return 0.5;
    return (double)(r >> 11) / 9007199254740992.0;
}

static int fail_attempt(tia_store *s, const char *task_id, const char *worker_id, int64_t attempt,
                        const char *error_message, int retryable, int only_expired, int release,
                        tia_error *err)
{
    char key[TIA_UUID_BUF];
    int rc = tia__check_lease_args(task_id, worker_id, attempt, key, err);
    if (rc != 0 || (rc = tia__check_text(err, "error_message", error_message, 0, 0)) != 0)
        return rc;
    failure f = {key,          worker_id,      error_message,
                 attempt,      retryable != 0, only_expired != 0,
                 release != 0, jitter(),       0,
                 {0}};
    rc = tia__engine_txn(s, fail_body, &f, err);
    if (rc == 0 && f.item != 0)
        return tia_error_set(err, f.item, "%s", f.item_err.message);
    return rc;
}

int tia__engine_fail_attempt(tia_store *s, const char *task_id, const char *worker_id,
                             int64_t attempt, const char *error_message, int retryable,
                             int only_expired, tia_error *err)
{
    return fail_attempt(s, task_id, worker_id, attempt, error_message, retryable, only_expired, 0,
                        err);
}

int tia_engine_release(tia_store *s, const char *task_id, const char *worker_id, int64_t attempt,
                       const char *message, tia_error *err)
{
    return fail_attempt(s, task_id, worker_id, attempt, message, 1, 0, 1, err);
}

int tia_engine_fail(tia_store *s, const char *task_id, const char *worker_id, int64_t attempt,
                    const char *error_message, int retryable, tia_error *err)
{
    return tia__engine_fail_attempt(s, task_id, worker_id, attempt, error_message, retryable, 0,
                                    err);
}
