/*
 * Operator control of running work: cancelling a workflow or a task, retrying a
 * task that failed or was cancelled, and the fan-out of a running task into
 * subtasks. A running task cannot be stopped from here (its worker holds it), so
 * a cancellation of running work only sets cancel_requested, which the worker
 * sees at its next heartbeat; pending work is cancelled at once. Each call is
 * one transaction that writes the tasks before the workflow, the order in which
 * the counter triggers lock rows, so that it cannot deadlock with completions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/engine.h>

#include "core/validate.h"
#include "engine/engine_internal.h"
#include "store/db.h"

#define SPAWN_MAX 1000

/* clang-format off */
/* Pending tasks, and running ones whose worker is done (awaiting subtasks), end at once. */
#define STOP_NOW "(status = 'pending' OR (status = 'running' AND awaiting_children))"
#define PG_CANCEL_SET                                                                              \
    "status = CASE WHEN " STOP_NOW " THEN 'cancelled' ELSE status END, "                           \
    "completed_at = CASE WHEN " STOP_NOW " THEN statement_timestamp() ELSE completed_at END, "     \
    "duration_ms = CASE WHEN " STOP_NOW " AND started_at IS NOT NULL THEN " TIA__PG_DURATION " "   \
    "ELSE duration_ms END, "                                                                       \
    "error_message = CASE WHEN " STOP_NOW " THEN $2::text ELSE error_message END, "                \
    "cancel_requested = cancel_requested OR NOT " STOP_NOW ", "                                    \
    "awaiting_children = false, "                                                                  \
    "lease_expires_at = CASE WHEN " STOP_NOW " THEN NULL ELSE lease_expires_at END "
#define LITE_CANCEL_SET                                                                            \
    "status = CASE WHEN " STOP_NOW " THEN 'cancelled' ELSE status END, "                           \
    "completed_at = CASE WHEN " STOP_NOW " THEN " TIA_SQLITE_NOW " ELSE completed_at END, "        \
    "duration_ms = CASE WHEN " STOP_NOW " AND started_at IS NOT NULL THEN " TIA__LITE_DURATION " " \
    "ELSE duration_ms END, "                                                                       \
    "error_message = CASE WHEN " STOP_NOW " THEN ?2 ELSE error_message END, "                       \
    "cancel_requested = cancel_requested OR NOT " STOP_NOW ", "                                    \
    "awaiting_children = 0, "                                                                      \
    "lease_expires_at = CASE WHEN " STOP_NOW " THEN NULL ELSE lease_expires_at END "

static const tia__sql sql_cancel_wf_tasks = {
    "engine.cancel_workflow_tasks",
    "UPDATE agent_tasks SET " PG_CANCEL_SET
    "WHERE workflow_id = $1::uuid AND status IN ('pending', 'running')",
    "UPDATE agent_tasks SET " LITE_CANCEL_SET
    "WHERE workflow_id = ?1 AND status IN ('pending', 'running')",
};

static const tia__sql sql_cancel_wf = {
    "engine.cancel_workflow",
    "UPDATE workflows SET status = 'cancelled', completed_at = statement_timestamp(), "
    "duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE " TIA__PG_DURATION " END "
    "WHERE id = $1::uuid AND status IN ('pending', 'running') RETURNING id",
    "UPDATE workflows SET status = 'cancelled', completed_at = " TIA_SQLITE_NOW ", "
    "duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE " TIA__LITE_DURATION " END "
    "WHERE id = ?1 AND status IN ('pending', 'running') RETURNING id",
};

static const tia__sql sql_wf_status = {
    "engine.workflow_status",
    "SELECT status FROM workflows WHERE id = $1::uuid",
    "SELECT status FROM workflows WHERE id = ?1",
};

/* Returns the new status; a running task keeps running with cancel_requested. */
static const tia__sql sql_cancel_task = {
    "engine.cancel_task",
    "UPDATE agent_tasks SET " PG_CANCEL_SET
    "WHERE id = $1::uuid AND status IN ('pending', 'running') RETURNING status",
    "UPDATE agent_tasks SET " LITE_CANCEL_SET
    "WHERE id = ?1 AND status IN ('pending', 'running') RETURNING status",
};

static const tia__sql sql_task_status = {
    "engine.task_status",
    "SELECT status FROM agent_tasks WHERE id = $1::uuid",
    "SELECT status FROM agent_tasks WHERE id = ?1",
};

/*
 * Back to pending with the retry budget renewed. children_pending is recounted:
 * subtasks of the failed attempt that still run would otherwise be counted
 * against the next attempt's.
 */
#define RETRY_SET(now)                                                                             \
    "status = 'pending', retry_count = 0, run_after = " now ", error_message = NULL, "             \
    "started_at = NULL, completed_at = NULL, duration_ms = NULL, worker_id = NULL, "               \
    "lease_expires_at = NULL, cancel_requested = false, awaiting_children = false, "               \
    "children_pending = (SELECT count(*) FROM agent_tasks c WHERE c.parent_task_id = "             \
    "agent_tasks.id AND c.status IN ('pending', 'running')) "
static const tia__sql sql_retry = {
    "engine.retry_task",
    "UPDATE agent_tasks SET " RETRY_SET("statement_timestamp()")
    "WHERE id = $1::uuid AND status IN ('failed', 'cancelled') "
    "RETURNING task_type, COALESCE(workflow_id::text, '')",
    "UPDATE agent_tasks SET " RETRY_SET(TIA_SQLITE_NOW)
    "WHERE id = ?1 AND status IN ('failed', 'cancelled') "
    "RETURNING task_type, COALESCE(workflow_id, '')",
};

/*
 * Tasks downstream of task 1 that its end cancelled ("dependency <type> ...")
 * come back, but not one that another failed or cancelled dependency still
 * holds (outside what comes back), nor anything downstream of such a one: it
 * would wait for that dependency forever, and its workflow with it.
 */
#define REVIVE_SETS(first)                                                                         \
    "WITH RECURSIVE down(id) AS (SELECT task_id FROM task_dependencies WHERE depends_on = " first  \
    " UNION SELECT td.task_id FROM task_dependencies td JOIN down ON td.depends_on = down.id), "    \
    "held(id) AS (SELECT d.id FROM down d JOIN task_dependencies x ON x.task_id = d.id "           \
    "JOIN agent_tasks u ON u.id = x.depends_on WHERE u.status IN ('failed', 'cancelled') "         \
    "AND u.id <> " first " AND u.id NOT IN (SELECT id FROM down) "                                 \
    "UNION SELECT td.task_id FROM task_dependencies td JOIN held ON td.depends_on = held.id) "
static const tia__sql sql_revive_downstream = {
    "engine.revive_downstream",
    REVIVE_SETS("$1::uuid")
    "UPDATE agent_tasks SET status = 'pending', completed_at = NULL, error_message = NULL, "
    "run_after = statement_timestamp() WHERE id IN (SELECT id FROM down) "
    "AND id NOT IN (SELECT id FROM held) "
    "AND status = 'cancelled' AND error_message LIKE 'dependency %'",
    REVIVE_SETS("?1")
    "UPDATE agent_tasks SET status = 'pending', completed_at = NULL, error_message = NULL, "
    "run_after = " TIA_SQLITE_NOW " WHERE id IN (SELECT id FROM down) "
    "AND id NOT IN (SELECT id FROM held) "
    "AND status = 'cancelled' AND error_message LIKE 'dependency %'",
};

/*
 * A subtask that comes back counts again for its parent while the parent can
 * still wait for it (pending or running): a parent retried before it counted
 * only the subtasks then open, and would complete without this one.
 */
static const tia__sql sql_recount_parent = {
    "engine.recount_parent",
    "UPDATE agent_tasks SET children_pending = children_pending + 1 WHERE id = "
    "(SELECT parent_task_id FROM agent_tasks WHERE id = $1::uuid) "
    "AND status IN ('pending', 'running')",
    "UPDATE agent_tasks SET children_pending = children_pending + 1 WHERE id = "
    "(SELECT parent_task_id FROM agent_tasks WHERE id = ?1) AND status IN ('pending', 'running')",
};

static const tia__sql sql_reopen_wf = {
    "engine.reopen_workflow",
    "UPDATE workflows SET status = 'running', completed_at = NULL, duration_ms = NULL "
    "WHERE id = $1::uuid AND status IN ('failed', 'cancelled')",
    "UPDATE workflows SET status = 'running', completed_at = NULL, duration_ms = NULL "
    "WHERE id = ?1 AND status IN ('failed', 'cancelled')",
};

static const tia__sql sql_spawn_parent = {
    "engine.spawn_parent",
    "UPDATE agent_tasks SET children_pending = children_pending + $4::int "
    "WHERE id = $1::uuid AND worker_id = $2::text AND attempt = $3::int8 "
    "AND status = 'running' AND NOT awaiting_children "
    "RETURNING COALESCE(workflow_id::text, '')",
    "UPDATE agent_tasks SET children_pending = children_pending + ?4 "
    "WHERE id = ?1 AND worker_id = ?2 AND attempt = ?3 "
    "AND status = 'running' AND NOT awaiting_children RETURNING COALESCE(workflow_id, '')",
};

static const tia__sql sql_spawn_insert = {
    "engine.spawn_insert",
    "INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, input_data, "
    "parent_task_id, metadata, priority, max_retries, timeout_ms) VALUES ($1::uuid, $2, "
    "$3::uuid, $4, $5, $6::jsonb, $7::uuid, COALESCE($8::jsonb, '{}'::jsonb), $9::int, "
    "$10::int, $11::int)",
    "INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, input_data, "
    "parent_task_id, metadata, priority, max_retries, timeout_ms) VALUES (?1, ?2, ?3, ?4, ?5, "
    "?6, ?7, COALESCE(?8, '{}'), ?9, ?10, ?11)",
};
/* clang-format on */

/* After a conditional UPDATE matched nothing: unknown row, or one in the wrong state. */
static int not_in_state(tia_store *s, const tia__sql *q, const char *what, const char *id,
                        const char *wanted, tia_error *err)
{
    tia__table t;
    tia__param p = tia__p_text(id);
    int rc = tia__table_query(s, q, &p, 1, 1, &t, err);
    if (rc == 0 && t.rows == 0)
        rc = tia_error_set(err, TIA_ENOTFOUND, "unknown %s '%s'", what, id);
    else if (rc == 0)
        rc = tia_error_set(err, TIA_ECONFLICT, "%s %s is %s; only %s ones can be", what, id,
                           tia__table_at(&t, 0, 0), wanted);
    tia__table_free(&t);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Cancel                                                                    */
/* ------------------------------------------------------------------------- */

static int cancel_workflow_body(tia_store *s, void *ctx, tia_error *err)
{
    const char *id = ctx;
    tia__table t = {0};
    tia__param p[2] = {tia__p_text(id), tia__p_text("workflow cancelled")};
    int rc = tia__db_exec(s, &sql_cancel_wf_tasks, p, 2, NULL, err);
    if (rc == 0)
        rc = tia__table_query(s, &sql_cancel_wf, p, 1, 1, &t, err);
    if (rc == 0 && t.rows == 0)
        rc = not_in_state(s, &sql_wf_status, "workflow", id, "pending or running", err);
    tia__table_free(&t);
    return rc;
}

int tia_engine_cancel_workflow(tia_store *s, const char *workflow_id, tia_error *err)
{
    char key[TIA_UUID_BUF];
    int rc = tia__check_uuid(err, "workflow_id", workflow_id, 1, key);
    return rc != 0 ? rc : tia__engine_txn(s, cancel_workflow_body, key, err);
}

static int cancel_task_body(tia_store *s, void *ctx, tia_error *err)
{
    const char *id = ctx;
    tia__table t = {0};
    tia__param p[2] = {tia__p_text(id), tia__p_text("cancelled")};
    int rc = tia__table_query(s, &sql_cancel_task, p, 2, 1, &t, err);
    if (rc == 0 && t.rows == 0)
        rc = not_in_state(s, &sql_task_status, "task", id, "pending or running", err);
    else if (rc == 0 && strcmp(tia__table_at(&t, 0, 0), "cancelled") == 0)
        rc = tia__engine_ended_badly(s, id, err);
    tia__table_free(&t);
    return rc;
}

int tia_engine_cancel_task(tia_store *s, const char *task_id, tia_error *err)
{
    char key[TIA_UUID_BUF];
    int rc = tia__check_uuid(err, "task_id", task_id, 1, key);
    return rc != 0 ? rc : tia__engine_txn(s, cancel_task_body, key, err);
}

/* ------------------------------------------------------------------------- */
/* Retry                                                                     */
/* ------------------------------------------------------------------------- */

static int retry_body(tia_store *s, void *ctx, tia_error *err)
{
    const char *id = ctx;
    tia__table t = {0};
    tia__param p = tia__p_text(id);
    int rc = tia__table_query(s, &sql_retry, &p, 1, 2, &t, err);
    if (rc == 0 && t.rows == 0)
        rc = not_in_state(s, &sql_task_status, "task", id, "failed or cancelled", err);
    else if (rc == 0 && (rc = tia__db_exec(s, &sql_recount_parent, &p, 1, NULL, err)) == 0)
        rc = tia__db_exec(s, &sql_revive_downstream, &p, 1, NULL, err);
    if (rc == 0 && t.rows > 0 && tia__table_at(&t, 0, 1)[0]) {
        tia__param w = tia__p_text(tia__table_at(&t, 0, 1));
        rc = tia__db_exec(s, &sql_reopen_wf, &w, 1, NULL, err);
    }
    if (rc == 0) /* its agent wakes at the commit (revived dependents are not ready yet) */
        rc = tia__wake_ready_one(s, TIA__READY_TASKS, id, err);
    tia__table_free(&t);
    return rc;
}

int tia_engine_retry_task(tia_store *s, const char *task_id, tia_error *err)
{
    char key[TIA_UUID_BUF];
    int rc = tia__check_uuid(err, "task_id", task_id, 1, key);
    return rc != 0 ? rc : tia__engine_txn(s, retry_body, key, err);
}

/* ------------------------------------------------------------------------- */
/* Spawn                                                                     */
/* ------------------------------------------------------------------------- */

static int check_spawn_spec(const tia_task_spec *t, size_t i, tia_error *err)
{
    char f[48];
    int rc;
#define FIELD(name) (snprintf(f, sizeof f, "specs[%zu].%s", i, name), f)
    if ((rc = tia__check_text(err, FIELD("agent_id"), t->agent_id, TIA_AGENT_ID_MAX, 1)) != 0 ||
        (rc = tia__check_text(err, FIELD("task_type"), t->task_type, TIA_TASK_TYPE_MAX, 1)) != 0 ||
        (rc = tia__check_text(err, FIELD("description"), t->description, 0, 1)) != 0 ||
        (rc = tia__check_json(err, FIELD("input_data"), t->input_data, 0)) != 0 ||
        (rc = tia__check_json(err, FIELD("metadata"), t->metadata, 0)) != 0)
        return rc;
    if (t->max_retries < -1 || t->max_retries > 100)
        return tia_error_set(err, TIA_EINVAL, "%s %d is out of range (-1 or 0..100)",
                             FIELD("max_retries"), t->max_retries);
    if (t->timeout_ms < 0 || t->timeout_ms > INT32_MAX)
        return tia_error_set(err, TIA_EINVAL, "%s %lld is out of range (0..%d)",
                             FIELD("timeout_ms"), (long long)t->timeout_ms, INT32_MAX);
    if (t->n_depends_on != 0)
        return tia_error_set(err, TIA_EINVAL, "%s: a subtask cannot depend on other tasks",
                             FIELD("depends_on"));
#undef FIELD
    return 0;
}

typedef struct spawn {
    const char *parent, *worker;
    int64_t attempt;
    const tia_task_spec *specs;
    size_t n;
    char (*ids)[TIA_UUID_BUF];
} spawn;

static int insert_subtask(tia_store *s, const spawn *sp, size_t i, const char *wf, tia_error *err)
{
    const tia_task_spec *t = &sp->specs[i];
    tia__param p[11] = {
        tia__p_text(sp->ids[i]),
        tia__p_text(t->agent_id),
        tia__p_text(wf[0] ? wf : NULL),
        tia__p_text(t->task_type),
        tia__p_text(t->description),
        tia__p_text(t->input_data),
        tia__p_text(sp->parent),
        tia__p_text(t->metadata),
        tia__p_int(t->priority),
        tia__p_int(t->max_retries < 0 ? 3 : t->max_retries),
        t->timeout_ms > 0 ? tia__p_int(t->timeout_ms) : tia__p_null(),
    };
    int rc = tia__db_exec(s, &sql_spawn_insert, p, 11, NULL, err);
    if (rc == TIA_ENOTFOUND) /* the parent and its workflow are locked: it is the agent */
        rc = tia_error_set(err, TIA_ENOTFOUND, "specs[%zu]: unknown agent '%.60s'", i, t->agent_id);
    return rc;
}

static int spawn_body(tia_store *s, void *ctx, tia_error *err)
{
    spawn *sp = ctx;
    tia__table t = {0};
    tia__param p[4] = {tia__p_text(sp->parent), tia__p_text(sp->worker), tia__p_int(sp->attempt),
                       tia__p_int((int64_t)sp->n)};
    int rc = tia__table_query(s, &sql_spawn_parent, p, 4, 1, &t, err);
    if (rc == 0 && t.rows == 0)
        rc = tia__lease_lost(s, sp->parent, err);
    for (size_t i = 0; rc == 0 && i < sp->n; i++)
        rc = insert_subtask(s, sp, i, tia__table_at(&t, 0, 0), err);
    if (rc == 0) /* the subtasks' agents wake at the commit */
        rc = tia__wake_ready_one(s, TIA__READY_CHILDREN, sp->parent, err);
    tia__table_free(&t);
    return rc;
}

int tia_engine_spawn(tia_store *s, const char *parent_id, const char *worker_id, int64_t attempt,
                     const tia_task_spec *specs, size_t n, char (*ids_out)[TIA_UUID_BUF],
                     tia_error *err)
{
    char key[TIA_UUID_BUF];
    int rc = tia__check_lease_args(parent_id, worker_id, attempt, key, err);
    if (rc != 0)
        return rc;
    if (specs == NULL || n == 0 || n > SPAWN_MAX)
        return tia_error_set(err, TIA_EINVAL, "specs must hold 1..%d subtasks", SPAWN_MAX);
    for (size_t i = 0; i < n; i++)
        if ((rc = check_spawn_spec(&specs[i], i, err)) != 0)
            return rc;
    spawn sp = {key, worker_id, attempt, specs, n, calloc(n, TIA_UUID_BUF)};
    if (sp.ids == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory for %zu subtasks", n);
    for (size_t i = 0; i < n; i++)
        tia__store_uuid7(s, sp.ids[i]);
    rc = tia__engine_txn(s, spawn_body, &sp, err);
    if (rc == 0 && ids_out != NULL)
        memcpy(ids_out, sp.ids, n * TIA_UUID_BUF);
    free(sp.ids);
    return rc;
}
