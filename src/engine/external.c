/*
 * Status changes that come from outside the queue: a client that runs a task
 * itself and reports "running", "completed", "failed" or "cancelled" for it by
 * id, as the original Registry API's PUT /api/tasks/{id} does. Such a client
 * holds no lease, so this file gives it the same path a worker's report takes:
 * starting a task is a claim of that one task (the workflow starts with it),
 * completion is tia_engine_complete on the task's own lease, and a failure or a
 * cancellation ends the task and then runs tia__engine_ended_badly, which
 * cancels its dependents and subtasks and fails or settles its workflow. The
 * counters follow by the triggers, as for every other path.
 *
 * A task started here gets no lease expiry: nobody heartbeats for it, and the
 * reaper must not hand it to a worker while its client still runs it. A
 * cancellation or failure reported here ends a running task at once (the
 * reporter says it has stopped); a worker that held it finds its lease lost at
 * its next heartbeat.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/engine.h>

#include "core/validate.h"
#include "engine/engine_internal.h"
#include "store/db.h"

#define TOKENS_MAX INT64_C(2147483647)

/* clang-format off */
/* A claim of one named task: the same columns as a claim sets, without a lease expiry. */
static const tia__sql sql_start = {
    "engine.external_start",
    "UPDATE agent_tasks SET status = 'running', started_at = statement_timestamp(), "
    "worker_id = $2::text, attempt = attempt + 1, cancel_requested = false, "
    "lease_expires_at = NULL WHERE id = $1::uuid AND status = 'pending' AND deps_pending = 0 "
    "RETURNING COALESCE(workflow_id::text, '')",
    "UPDATE agent_tasks SET status = 'running', started_at = " TIA_SQLITE_NOW ", "
    "worker_id = ?2, attempt = attempt + 1, cancel_requested = 0, "
    "lease_expires_at = NULL WHERE id = ?1 AND status = 'pending' AND deps_pending = 0 "
    "RETURNING COALESCE(workflow_id, '')",
};

/* The first task to start in a workflow starts it (as a claim does). */
static const tia__sql sql_start_workflow = {
    "engine.external_start_workflow",
    "UPDATE workflows SET status = 'running', started_at = statement_timestamp() "
    "WHERE id = $1::uuid AND status = 'pending'",
    "UPDATE workflows SET status = 'running', started_at = " TIA_SQLITE_NOW " "
    "WHERE id = ?1 AND status = 'pending'",
};

/* What a status change needs to know of a task. */
enum { S_STATUS, S_WORKER, S_ATTEMPT, S_AWAITING, S_DEPS, S_COLS };
static const tia__sql sql_state = {
    "engine.external_state",
    "SELECT status, COALESCE(worker_id, ''), attempt, awaiting_children::int, deps_pending "
    "FROM agent_tasks WHERE id = $1::uuid",
    "SELECT status, COALESCE(worker_id, ''), attempt, awaiting_children, deps_pending "
    "FROM agent_tasks WHERE id = ?1",
};

/*
 * A running task that no worker claimed (moved by tia_task_transition) gets a
 * lease holder, so that the completion can name one like any other.
 */
static const tia__sql sql_adopt = {
    "engine.external_adopt",
    "UPDATE agent_tasks SET worker_id = $2::text, attempt = attempt + 1, lease_expires_at = NULL "
    "WHERE id = $1::uuid AND status = 'running' AND worker_id IS NULL "
    "AND NOT awaiting_children RETURNING attempt",
    "UPDATE agent_tasks SET worker_id = ?2, attempt = attempt + 1, lease_expires_at = NULL "
    "WHERE id = ?1 AND status = 'running' AND worker_id IS NULL "
    "AND NOT awaiting_children RETURNING attempt",
};

/*
 * A final failure reported from outside: the row as tia_engine_fail leaves it
 * without a retry (cancelled when a cancellation was requested), with the
 * tokens and cost the reporter spent. Parameters: 1 id, 2 message, 3 tokens or
 * NULL, 4 cost or NULL.
 */
static const tia__sql sql_fail = {
    "engine.external_fail",
    "UPDATE agent_tasks SET status = CASE WHEN cancel_requested THEN 'cancelled' "
    "ELSE 'failed' END, error_message = $2::text, "
    "tokens_used = COALESCE($3::int8, tokens_used), "
    "cost_usd = COALESCE($4::numeric, cost_usd), completed_at = statement_timestamp(), "
    "duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE " TIA__PG_DURATION " END, "
    "awaiting_children = false, lease_expires_at = NULL "
    "WHERE id = $1::uuid AND status = 'running' RETURNING status",
    "UPDATE agent_tasks SET status = CASE WHEN cancel_requested THEN 'cancelled' "
    "ELSE 'failed' END, error_message = ?2, "
    "tokens_used = COALESCE(?3, tokens_used), "
    "cost_usd_micros = COALESCE(?4, cost_usd_micros), completed_at = " TIA_SQLITE_NOW ", "
    "duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE " TIA__LITE_DURATION " END, "
    "awaiting_children = 0, lease_expires_at = NULL "
    "WHERE id = ?1 AND status = 'running' RETURNING status",
};

/* A cancellation reported from outside ends a pending or running task at once. */
static const tia__sql sql_cancel = {
    "engine.external_cancel",
    "UPDATE agent_tasks SET status = 'cancelled', error_message = $2::text, "
    "completed_at = statement_timestamp(), "
    "duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE " TIA__PG_DURATION " END, "
    "awaiting_children = false, lease_expires_at = NULL "
    "WHERE id = $1::uuid AND status IN ('pending', 'running') RETURNING status",
    "UPDATE agent_tasks SET status = 'cancelled', error_message = ?2, "
    "completed_at = " TIA_SQLITE_NOW ", "
    "duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE " TIA__LITE_DURATION " END, "
    "awaiting_children = 0, lease_expires_at = NULL "
    "WHERE id = ?1 AND status IN ('pending', 'running') RETURNING status",
};
/* clang-format on */

typedef struct change {
    char id[TIA_UUID_BUF];
    const tia_task_status_change *c;
} change;

/* The task's state row into t (one row), or TIA_ENOTFOUND. */
static int read_state(tia_store *s, const char *id, tia__table *t, tia_error *err)
{
    tia__param p = tia__p_text(id);
    int rc = tia__table_query(s, &sql_state, &p, 1, S_COLS, t, err);
    if (rc == 0 && t->rows == 0) {
        tia__table_free(t);
        rc = tia_error_set(err, TIA_ENOTFOUND, "unknown task '%s'", id);
    }
    return rc;
}

/* Why a conditional UPDATE of the task matched nothing. */
static int refused(tia_store *s, const char *id, tia_run_status to, tia_error *err)
{
    tia__table t = {0};
    int rc = read_state(s, id, &t, err);
    if (rc != 0)
        return rc;
    const char *st = tia__table_at(&t, 0, S_STATUS);
    if (to == TIA_RUNNING && strcmp(st, "pending") == 0 && tia__table_int(&t, 0, S_DEPS) > 0)
        rc = tia_error_set(err, TIA_ECONFLICT,
                           "task %s waits for %lld unfinished dependencies; it cannot start yet",
                           id, (long long)tia__table_int(&t, 0, S_DEPS));
    else if (to == TIA_COMPLETED && tia__table_int(&t, 0, S_AWAITING))
        rc = tia_error_set(err, TIA_ECONFLICT,
                           "task %s was completed by its worker and awaits its subtasks", id);
    else
        rc = tia_error_set(err, TIA_ECONFLICT, "illegal transition %s -> %s for task %s", st,
                           tia_run_status_name(to), id);
    tia__table_free(&t);
    return rc;
}

static int start_body(tia_store *s, void *ctx, tia_error *err)
{
    const change *ch = ctx;
    tia__table t = {0};
    tia__param p[2] = {tia__p_text(ch->id), tia__p_text(TIA_EXTERNAL_WORKER)};
    int rc = tia__table_query(s, &sql_start, p, 2, 1, &t, err);
    if (rc == 0 && t.rows == 0)
        rc = refused(s, ch->id, TIA_RUNNING, err);
    else if (rc == 0 && tia__table_at(&t, 0, 0)[0]) {
        tia__param w = tia__p_text(tia__table_at(&t, 0, 0));
        rc = tia__db_exec(s, &sql_start_workflow, &w, 1, NULL, err);
    }
    tia__table_free(&t);
    return rc;
}

/* A failure or cancellation: the row, then everything that follows a bad end. */
static int end_body(tia_store *s, void *ctx, tia_error *err)
{
    const change *ch = ctx;
    const tia_task_status_change *c = ch->c;
    tia__table t = {0};
    int rc;
    if (c->to == TIA_FAILED) {
        tia__param p[4] = {
            tia__p_text(ch->id),
            tia__p_text(c->error_message ? c->error_message : "failed"),
            c->tokens_used >= 0 ? tia__p_int(c->tokens_used) : tia__p_null(),
            c->cost_micros >= 0 ? tia__p_cost(c->cost_micros) : tia__p_null(),
        };
        rc = tia__table_query(s, &sql_fail, p, 4, 1, &t, err);
    } else {
        tia__param p[2] = {tia__p_text(ch->id),
                           tia__p_text(c->error_message ? c->error_message : "cancelled")};
        rc = tia__table_query(s, &sql_cancel, p, 2, 1, &t, err);
    }
    if (rc == 0 && t.rows == 0)
        rc = refused(s, ch->id, c->to, err);
    else if (rc == 0)
        rc = tia__engine_ended_badly(s, ch->id, err);
    tia__table_free(&t);
    return rc;
}

/* Completion through tia_engine_complete, on the lease the task holds. */
static int complete(tia_store *s, const change *ch, tia_error *err)
{
    tia__table t = {0};
    tia_completion k = {0};
    char worker[TIA_WORKER_ID_MAX * 4 + 1];
    int rc = read_state(s, ch->id, &t, err);
    if (rc != 0)
        return rc;
    int running = strcmp(tia__table_at(&t, 0, S_STATUS), "running") == 0 &&
                  !tia__table_int(&t, 0, S_AWAITING);
    k.attempt = tia__table_int(&t, 0, S_ATTEMPT);
    snprintf(worker, sizeof worker, "%s", tia__table_at(&t, 0, S_WORKER));
    tia__table_free(&t);
    if (!running) {
        rc = refused(s, ch->id, TIA_COMPLETED, err);
        goto done;
    }
    if (worker[0] == '\0') {
        tia__param p[2] = {tia__p_text(ch->id), tia__p_text(TIA_EXTERNAL_WORKER)};
        if ((rc = tia__table_query(s, &sql_adopt, p, 2, 1, &t, err)) != 0)
            goto done;
        if (t.rows == 0) {
            rc = refused(s, ch->id, TIA_COMPLETED, err);
            goto done;
        }
        k.attempt = tia__table_int(&t, 0, 0);
        snprintf(worker, sizeof worker, "%s", TIA_EXTERNAL_WORKER);
    }
    k.task_id = ch->id;
    k.worker_id = worker;
    k.output_data = ch->c->output_data;
    k.tokens_used = ch->c->tokens_used;
    k.input_tokens = -1;
    k.output_tokens = -1;
    k.cost_micros = ch->c->cost_micros;
    rc = tia_engine_complete(s, &k, err);
done:
    tia__table_free(&t);
    return rc;
}

int tia_engine_set_task_status(tia_store *s, const char *task_id, const tia_task_status_change *c,
                               tia_error *err)
{
    change ch = {{0}, c};
    int rc = tia__check_uuid(err, "task_id", task_id, 1, ch.id);
    if (rc != 0)
        return rc;
    if (c == NULL)
        return tia_error_set(err, TIA_EINVAL, "status change is required");
    if (c->to == TIA_PENDING || tia_run_status_name(c->to) == NULL)
        return tia_error_set(err, TIA_EINVAL,
                             "status must be running, completed, failed or cancelled "
                             "(a task goes back to pending only by a retry)");
    if ((rc = tia__check_json(err, "output_data", c->output_data, 0)) != 0 ||
        (rc = tia__check_text(err, "error_message", c->error_message, 0, 0)) != 0)
        return rc;
    if (c->tokens_used < -1 || c->tokens_used > TOKENS_MAX)
        return tia_error_set(err, TIA_EINVAL, "tokens_used %lld is out of range (0..%lld)",
                             (long long)c->tokens_used, (long long)TOKENS_MAX);
    if (c->cost_micros < -1 || c->cost_micros > TIA_COST_MAX_MICROS)
        return tia_error_set(err, TIA_EINVAL, "cost_micros %lld is out of range (0..%lld)",
                             (long long)c->cost_micros, (long long)TIA_COST_MAX_MICROS);
    switch (c->to) {
    case TIA_RUNNING: return tia__engine_txn(s, start_body, &ch, err);
    case TIA_COMPLETED: return complete(s, &ch, err);
    default: return tia__engine_txn(s, end_body, &ch, err);
    }
}
