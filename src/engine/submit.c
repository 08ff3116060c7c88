/*
 * Submitting work to the engine: a workflow with its task graph, or a single
 * task. Everything is validated before anything is written (fields as the store
 * checks them, the graph by graph.c, the agents by one query), then written in
 * one transaction: the workflow, every task with deps_pending = its number of
 * dependencies (so the ready ones are exactly those with none), and the
 * task_dependencies rows. Both backends get a chunk of rows per statement, a
 * JSON array expanded by jsonb_to_recordset or json_each: on PostgreSQL that
 * keeps a 10,000-task workflow to a dozen round trips; on SQLite, in-process,
 * it is about CPU: every single-row INSERT into agent_tasks (row triggers, a
 * CHECK, FOREIGN KEYs) runs with a statement journal that copies each page it
 * changes, and past 64 KiB in a transaction that journal is a temporary file
 * written page by page, about half of the cost of a task's INSERT. On PostgreSQL
 * the wake-up of the ready tasks' agents is sent before the task rows are
 * written, so that nothing runs between the insert's counter trigger, which
 * row-locks the agents' totals, and the COMMIT that releases them.
 *
 * Idempotency: a key already used returns the first id with *created = 0. Two
 * submitters racing with one key both pass the lookup on PostgreSQL; the unique
 * index refuses the second, which rolls back and returns the first's id. SQLite
 * cannot race: BEGIN IMMEDIATE serialises writers before the lookup.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <tokyoia/engine.h>

#include "core/validate.h"
#include "engine/engine_internal.h"
#include "store/db.h"

/* Rows per batch statement (jsonb_to_recordset, json_each). */
#define TASK_CHUNK 1000
#define DEP_CHUNK 5000
#define DEFAULT_MAX_RETRIES 3

static const tia__sql sql_wf_insert = {
    "engine.workflow_insert",
    "INSERT INTO workflows (id, name, description, workflow_type, initiator, metadata, "
    "idempotency_key) VALUES ($1::uuid, $2, $3, $4, $5, COALESCE($6::jsonb, '{}'::jsonb), $7)",
    "INSERT INTO workflows (id, name, description, workflow_type, initiator, metadata, "
    "idempotency_key) VALUES (?1, ?2, ?3, ?4, ?5, COALESCE(?6, '{}'), ?7)",
};

static const tia__sql sql_wf_by_key = {
    "engine.workflow_by_key",
    "SELECT id FROM workflows WHERE idempotency_key = $1",
    "SELECT id FROM workflows WHERE idempotency_key = ?1",
};

static const tia__sql sql_task_by_key = {
    "engine.task_by_key",
    "SELECT id FROM agent_tasks WHERE idempotency_key = $1",
    "SELECT id FROM agent_tasks WHERE idempotency_key = ?1",
};

static const tia__sql sql_wf_status = {
    "engine.workflow_status",
    "SELECT status FROM workflows WHERE id = $1::uuid",
    "SELECT status FROM workflows WHERE id = ?1",
};

/* The first agent of a JSON array of ids that does not exist, in array order. */
static const tia__sql sql_missing_agent = {
    "engine.missing_agent",
    "SELECT x.v FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS x(v, i) "
    "WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = x.v) ORDER BY x.i LIMIT 1",
    "SELECT j.value FROM json_each(?1) AS j "
    "WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = j.value) ORDER BY j.key LIMIT 1",
};

#define TASK_INSERT_COLS                                                                           \
    "id, agent_id, workflow_id, task_type, description, input_data, metadata, priority, "          \
    "max_retries, timeout_ms, deps_pending, idempotency_key"

static const tia__sql sql_task_insert = {
    "engine.task_insert",
    "INSERT INTO agent_tasks (" TASK_INSERT_COLS ") VALUES ($1::uuid, $2, $3::uuid, $4, $5, "
    "$6::jsonb, COALESCE($7::jsonb, '{}'::jsonb), $8::int, $9::int, $10::int, $11::int, $12)",
    "INSERT INTO agent_tasks (" TASK_INSERT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
    "COALESCE(?7, '{}'), ?8, ?9, ?10, ?11, ?12)",
};

/*
 * One chunk of tasks as a JSON array of objects, in array order (SQLite's
 * json_each reads the array in order, so the rows and their triggers run in
 * the order of the workflow's tasks, as single-row inserts did).
 */
/* clang-format off */
#define LITE_FIELD(f) "json_extract(value, '$." f "')"
static const tia__sql sql_task_insert_json = {
    "engine.task_insert_batch",
    "INSERT INTO agent_tasks (" TASK_INSERT_COLS ") SELECT x.id, x.agent_id, x.workflow_id, "
    "x.task_type, x.description, x.input_data::jsonb, COALESCE(x.metadata::jsonb, '{}'::jsonb), "
    "x.priority, x.max_retries, x.timeout_ms, x.deps_pending, NULL "
    "FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, agent_id text, workflow_id uuid, "
    "task_type text, description text, input_data text, metadata text, priority int, "
    "max_retries int, timeout_ms int, deps_pending int)",
    "INSERT INTO agent_tasks (" TASK_INSERT_COLS ") SELECT " LITE_FIELD("id") ", "
    LITE_FIELD("agent_id") ", " LITE_FIELD("workflow_id") ", " LITE_FIELD("task_type") ", "
    LITE_FIELD("description") ", " LITE_FIELD("input_data") ", "
    "COALESCE(" LITE_FIELD("metadata") ", '{}'), " LITE_FIELD("priority") ", "
    LITE_FIELD("max_retries") ", " LITE_FIELD("timeout_ms") ", " LITE_FIELD("deps_pending") ", "
    "NULL FROM json_each(?1)",
};
/* clang-format on */

/* One chunk of dependencies as a JSON array of [task, depends_on]. */
static const tia__sql sql_dep_insert_json = {
    "engine.dependency_insert_batch",
    "INSERT INTO task_dependencies (task_id, depends_on) SELECT (x->>0)::uuid, (x->>1)::uuid "
    "FROM jsonb_array_elements($1::jsonb) AS x",
    "INSERT INTO task_dependencies (task_id, depends_on) SELECT json_extract(value, '$[0]'), "
    "json_extract(value, '$[1]') FROM json_each(?1)",
};

/*
 * PostgreSQL: a wake-up (NOTIFY, delivered at COMMIT) for each agent of a JSON
 * array. A submission knows which of its tasks are ready, those without
 * dependencies (run_after defaults to the transaction's start), so it names
 * their agents itself, before it inserts the tasks, instead of asking the
 * database afterwards as tia__wake_ready does: that query ran after the
 * insert's counter trigger had row-locked the agents' totals, and every claim
 * and completion of those agents waits for those locks until this COMMIT.
 */
static const tia__sql sql_notify_agents = {
    "engine.notify_agents",
    "SELECT pg_notify('" TIA__READY_CHANNEL "', a) FROM jsonb_array_elements_text($1::jsonb) AS a",
    NULL,
};

/* The fields of one task spec, as the store checks them; prefix names it ("tasks[3]."). */
static int check_task(const tia_task_spec *t, const char *prefix, tia_error *err)
{
    char f[6][64];
    static const char *const names[6] = {"agent_id",   "task_type", "description",
                                         "input_data", "metadata",  "max_retries"};
    for (int i = 0; i < 6; i++)
        snprintf(f[i], sizeof f[i], "%s%s", prefix, names[i]);
    int rc;
    if ((rc = tia__check_text(err, f[0], t->agent_id, TIA_AGENT_ID_MAX, 1)) != 0 ||
        (rc = tia__check_text(err, f[1], t->task_type, TIA_TASK_TYPE_MAX, 1)) != 0 ||
        (rc = tia__check_text(err, f[2], t->description, 0, 1)) != 0 ||
        (rc = tia__check_json(err, f[3], t->input_data, 0)) != 0 ||
        (rc = tia__check_json(err, f[4], t->metadata, 0)) != 0)
        return rc;
    if (t->max_retries < -1 || t->max_retries > 100)
        return tia_error_set(err, TIA_EINVAL, "%s must be between 0 and 100 (or -1 for %d)", f[5],
                             DEFAULT_MAX_RETRIES);
    if (t->timeout_ms < 0 || t->timeout_ms > INT32_MAX)
        return tia_error_set(err, TIA_EINVAL, "%stimeout_ms must be between 0 (none) and %d",
                             prefix, INT32_MAX);
    return 0;
}

/* NULL is no key; "" is refused, or every empty key would name the first submission. */
static int check_key(const char *key, tia_error *err)
{
    if (key != NULL && *key == '\0')
        return tia_error_set(err, TIA_EINVAL, "idempotency_key must not be empty");
    return tia__check_text(err, "idempotency_key", key, TIA_IDEMPOTENCY_KEY_MAX, 0);
}

static int check_workflow(const tia_workflow_spec *w, tia_error *err)
{
    int rc;
    if (w == NULL)
        return tia_error_set(err, TIA_EINVAL, "workflow spec is required");
    if ((rc = tia__check_text(err, "name", w->name, TIA_WORKFLOW_NAME_MAX, 1)) != 0 ||
        (rc = tia__check_text(err, "description", w->description, 0, 0)) != 0 ||
        (rc = tia__check_text(err, "workflow_type", w->workflow_type, TIA_WORKFLOW_TYPE_MAX, 0)) !=
            0 ||
        (rc = tia__check_text(err, "initiator", w->initiator, TIA_INITIATOR_MAX, 0)) != 0 ||
        (rc = tia__check_json(err, "metadata", w->metadata, 0)) != 0 ||
        (rc = check_key(w->idempotency_key, err)) != 0)
        return rc;
    if (w->n_tasks == 0 || w->n_tasks > TIA_WORKFLOW_TASKS_MAX || w->tasks == NULL)
        return tia_error_set(err, TIA_EINVAL, "tasks: a workflow has 1 to %d tasks, not %zu",
                             TIA_WORKFLOW_TASKS_MAX, w->tasks ? w->n_tasks : 0);
    for (size_t i = 0; i < w->n_tasks; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "tasks[%zu].", i);
        if ((rc = check_task(&w->tasks[i], prefix, err)) != 0)
            return rc;
    }
    return 0;
}

/* The id of the row a used idempotency key names into id; 1 found, 0 not, < 0 error. */
static int find_by_key(tia_store *s, const tia__sql *q, const char *key, char id[TIA_UUID_BUF],
                       tia_error *err)
{
    tia__rows *r = NULL;
    tia__param p = tia__p_text(key);
    int rc = tia__db_query(s, q, &p, 1, &r, err);
    if (rc == 0 && (rc = tia__rows_next(r, err)) > 0)
        snprintf(id, TIA_UUID_BUF, "%s", tia__col_text(r, 0));
    tia__rows_free(r);
    return rc;
}

/*
 * Refuses tasks naming an unknown agent: one query over the distinct agents, in
 * order of first use, so the message names the first task that uses it.
 */
static int check_agents(tia_store *s, const tia_task_spec *t, size_t n, int in_workflow,
                        tia_error *err)
{
    int rc = 0;
    char *text = NULL;
    tia__rows *r = NULL;
    json_t *seen = json_object(), *arr = json_array();
    for (size_t i = 0; rc == 0 && seen && arr && i < n; i++)
        if (json_object_get(seen, t[i].agent_id) == NULL &&
            (json_object_set_new(seen, t[i].agent_id, json_integer((json_int_t)i)) != 0 ||
             json_array_append_new(arr, json_string(t[i].agent_id)) != 0))
            rc = -1;
    if (rc != 0 || !seen || !arr || (text = json_dumps(arr, JSON_COMPACT)) == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory checking agents");
        goto done;
    }
    tia__param p = tia__p_text(text);
    if ((rc = tia__db_query(s, &sql_missing_agent, &p, 1, &r, err)) != 0)
        goto done;
    if ((rc = tia__rows_next(r, err)) > 0) {
        const char *id = tia__col_text(r, 0);
        long long first = json_integer_value(json_object_get(seen, id));
        if (in_workflow)
            rc = tia_error_set(err, TIA_ENOTFOUND, "tasks[%lld].agent_id: unknown agent '%.60s'",
                               first, id);
        else
            rc = tia_error_set(err, TIA_ENOTFOUND, "unknown agent '%.60s'", id);
    }
done:
    tia__rows_free(r);
    free(text);
    json_decref(seen);
    json_decref(arr);
    return rc;
}

/*
 * PostgreSQL: wakes the agents of the tasks of t (n of them) that are ready
 * when inserted, each once: those g gives no dependency (every task when g is
 * NULL, a task submitted alone).
 */
static int notify_ready_agents(tia_store *s, const tia_task_spec *t, size_t n,
                               const tia__task_graph *g, tia_error *err)
{
    int rc = 0, oom = 0;
    char *text = NULL;
    json_t *seen = json_object(), *arr = json_array();
    for (size_t i = 0; !oom && seen && arr && i < n; i++) {
        if (g != NULL && g->start[i + 1] != g->start[i])
            continue;
        if (json_object_get(seen, t[i].agent_id) == NULL &&
            (json_object_set_new(seen, t[i].agent_id, json_true()) != 0 ||
             json_array_append_new(arr, json_string(t[i].agent_id)) != 0))
            oom = 1;
    }
    if (oom || !seen || !arr || (text = json_dumps(arr, JSON_COMPACT)) == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory listing the agents to wake");
        goto done;
    }
    if (json_array_size(arr) > 0) {
        tia__param p = tia__p_text(text);
        rc = tia__db_exec(s, &sql_notify_agents, &p, 1, NULL, err);
    }
done:
    free(text);
    json_decref(seen);
    json_decref(arr);
    return rc;
}

static int max_retries_of(const tia_task_spec *t)
{
    return t->max_retries < 0 ? DEFAULT_MAX_RETRIES : t->max_retries;
}

/* One task row with its bound parameters (a task submitted alone). */
static int insert_task_row(tia_store *s, const tia_task_spec *t, const char *id, const char *wf,
                           int64_t deps, const char *key, tia_error *err)
{
    tia__param p[12] = {
        tia__p_text(id),
        tia__p_text(t->agent_id),
        tia__p_text(wf),
        tia__p_text(t->task_type),
        tia__p_text(t->description),
        tia__p_text(t->input_data),
        tia__p_text(t->metadata),
        tia__p_int(t->priority),
        tia__p_int(max_retries_of(t)),
        t->timeout_ms > 0 ? tia__p_int(t->timeout_ms) : tia__p_null(),
        tia__p_int(deps),
        tia__p_text(key),
    };
    return tia__db_exec(s, &sql_task_insert, p, 12, NULL, err);
}

/* Runs a batch statement over arr (stolen); TIA_ENOMEM when arr is NULL. */
static int exec_json(tia_store *s, const tia__sql *q, json_t *arr, tia_error *err)
{
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (text == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory building a batch (%s)", q->name);
    tia__param p = tia__p_text(text);
    int rc = tia__db_exec(s, q, &p, 1, NULL, err);
    free(text);
    return rc;
}

/* Tasks [from, to) in one statement. */
static int insert_task_chunk(tia_store *s, const tia_workflow_spec *w, const tia__task_graph *g,
                             const char (*ids)[TIA_UUID_BUF], const char *wf, size_t from,
                             size_t to, tia_error *err)
{
    json_t *arr = json_array();
    for (size_t i = from; arr != NULL && i < to; i++) {
        const tia_task_spec *t = &w->tasks[i];
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:i, s:i, s:o, s:I}", "id", ids[i],
                      "agent_id", t->agent_id, "workflow_id", wf, "task_type", t->task_type,
                      "description", t->description, "input_data", t->input_data, "metadata",
                      t->metadata, "priority", t->priority, "max_retries", max_retries_of(t),
                      "timeout_ms", t->timeout_ms > 0 ? json_integer(t->timeout_ms) : json_null(),
                      "deps_pending", (json_int_t)(g->start[i + 1] - g->start[i]));
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return exec_json(s, &sql_task_insert_json, arr, err);
}

/* Dependency rows [from, to) of g (edge indices) in one statement. */
static int insert_dep_chunk(tia_store *s, const tia__task_graph *g, const size_t *owner,
                            const char (*ids)[TIA_UUID_BUF], size_t from, size_t to, tia_error *err)
{
    json_t *arr = json_array();
    for (size_t k = from; arr != NULL && k < to; k++) {
        json_t *pair = json_pack("[s, s]", ids[owner[k]], ids[g->dep[k]]);
        if (pair == NULL || json_array_append_new(arr, pair) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return exec_json(s, &sql_dep_insert_json, arr, err);
}

/* Every task and dependency of w, inside the caller's transaction. */
static int insert_graph(tia_store *s, const tia_workflow_spec *w, const tia__task_graph *g,
                        const char (*ids)[TIA_UUID_BUF], const char *wf, tia_error *err)
{
    int rc = 0;
    size_t n = w->n_tasks, m = g->start[n];
    size_t *owner = malloc((m ? m : 1) * sizeof *owner); /* the task of each edge */
    if (owner == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory for %zu dependencies", m);
    for (size_t i = 0; i < n; i++)
        for (size_t k = g->start[i]; k < g->start[i + 1]; k++)
            owner[k] = i;
    for (size_t i = 0; rc == 0 && i < n; i += TASK_CHUNK)
        rc = insert_task_chunk(s, w, g, ids, wf, i, i + TASK_CHUNK < n ? i + TASK_CHUNK : n, err);
    for (size_t k = 0; rc == 0 && k < m; k += DEP_CHUNK)
        rc = insert_dep_chunk(s, g, owner, ids, k, k + DEP_CHUNK < m ? k + DEP_CHUNK : m, err);
    free(owner);
    return rc;
}

static int insert_workflow_row(tia_store *s, const tia_workflow_spec *w, const char *id,
                               tia_error *err)
{
    tia__param p[7] = {
        tia__p_text(id),
        tia__p_text(w->name),
        tia__p_text(w->description),
        tia__p_text(w->workflow_type),
        tia__p_text(w->initiator),
        tia__p_text(w->metadata),
        tia__p_text(w->idempotency_key),
    };
    return tia__db_exec(s, &sql_wf_insert, p, 7, NULL, err);
}

/* What one submission writes, given to the shared transaction runner. */
typedef struct submit_job {
    const tia__sql *by_key; /* the idempotency lookup */
    const char *key;        /* NULL: none */
    char *id;               /* the new row's id (set before), or the first one's */
    int (*write)(tia_store *s, const struct submit_job *j, tia_error *err);
    const tia_workflow_spec *wf; /* for tia_engine_submit */
    const tia__task_graph *g;
    const char (*task_ids)[TIA_UUID_BUF];
    const tia_task_spec *task; /* for tia_engine_submit_task */
    const char *workflow_id;
} submit_job;

/*
 * One transaction: the idempotency lookup, then the job's writes. A unique
 * violation on the key (a racing submitter committed first) rolls back and
 * returns the first row. *created says which happened.
 */
static int run_submit(tia_store *s, submit_job *j, int *created, tia_error *err)
{
    int rc = tia__db_begin(s, err);
    *created = 0;
    if (rc != 0)
        return rc;
    if (j->key != NULL && (rc = find_by_key(s, j->by_key, j->key, j->id, err)) != 0) {
        tia__db_rollback(s);
        return rc < 0 ? rc : 0; /* found: the first submission's id is in j->id */
    }
    rc = j->write(s, j, err);
    /* Idle workers of the ready tasks' agents wake at the commit (PostgreSQL: see write). */
    if (rc == 0 && tia_store_backend(s) != TIA_BACKEND_POSTGRES)
        rc = tia__wake_ready_one(s, j->wf ? TIA__READY_WORKFLOWS : TIA__READY_TASKS, j->id, err);
    if (rc == 0)
        rc = tia__db_commit(s, err);
    tia__wake_flush(s, rc == 0);
    if (rc == 0) {
        *created = 1;
        return 0;
    }
    tia__db_rollback(s);
    if (rc == TIA_ECONFLICT && j->key != NULL) {
        tia_error again = {0};
        int found = find_by_key(s, j->by_key, j->key, j->id, &again);
        if (found > 0)
            return 0;
    }
    return rc;
}

static int write_workflow(tia_store *s, const submit_job *j, tia_error *err)
{
    int rc = check_agents(s, j->wf->tasks, j->wf->n_tasks, 1, err);
    if (rc == 0)
        rc = insert_workflow_row(s, j->wf, j->id, err);
    if (rc == 0 && tia_store_backend(s) == TIA_BACKEND_POSTGRES)
        rc = notify_ready_agents(s, j->wf->tasks, j->wf->n_tasks, j->g, err);
    if (rc == 0)
        rc = insert_graph(s, j->wf, j->g, j->task_ids, j->id, err);
    return rc;
}

int tia_engine_submit(tia_store *s, const tia_workflow_spec *spec, char wf_id_out[TIA_UUID_BUF],
                      char (*task_ids_out)[TIA_UUID_BUF], int *created, tia_error *err)
{
    tia__task_graph g = {0};
    char(*ids)[TIA_UUID_BUF] = NULL;
    char id[TIA_UUID_BUF];
    int made = 0;
    int rc = check_workflow(spec, err);
    if (rc != 0)
        goto done;
    if ((rc = tia__task_graph_build(spec->tasks, spec->n_tasks, &g, err)) != 0)
        goto done;
    if ((ids = calloc(spec->n_tasks, sizeof *ids)) == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory for %zu task ids", spec->n_tasks);
        goto done;
    }
    tia__store_uuid7(s, id);
    for (size_t i = 0; i < spec->n_tasks; i++)
        tia__store_uuid7(s, ids[i]);
    submit_job j = {.by_key = &sql_wf_by_key,
                    .key = spec->idempotency_key,
                    .id = id,
                    .write = write_workflow,
                    .wf = spec,
                    .g = &g,
                    .task_ids = (const char(*)[TIA_UUID_BUF])ids};
    if ((rc = run_submit(s, &j, &made, err)) != 0)
        goto done;
    if (wf_id_out != NULL)
        memcpy(wf_id_out, id, TIA_UUID_BUF);
    if (made && task_ids_out != NULL)
        memcpy(task_ids_out, ids, spec->n_tasks * sizeof *ids);
done:
    if (created != NULL)
        *created = made;
    tia__task_graph_free(&g);
    free(ids);
    return rc;
}

/* A task may join a workflow that exists and has not ended. */
static int check_target_workflow(tia_store *s, const char *wf, tia_error *err)
{
    tia__rows *r = NULL;
    tia__param p = tia__p_text(wf);
    int rc = tia__db_query(s, &sql_wf_status, &p, 1, &r, err);
    if (rc == 0 && (rc = tia__rows_next(r, err)) == 0)
        rc = tia_error_set(err, TIA_ENOTFOUND, "unknown workflow '%s'", wf);
    else if (rc > 0) {
        const char *st = tia__col_text(r, 0);
        rc = 0;
        if (st != NULL && strcmp(st, "pending") != 0 && strcmp(st, "running") != 0)
            rc = tia_error_set(err, TIA_ECONFLICT, "workflow %s has ended (%s): no task joins it",
                               wf, st);
    }
    tia__rows_free(r);
    return rc;
}

static int write_task(tia_store *s, const submit_job *j, tia_error *err)
{
    int rc = check_agents(s, j->task, 1, 0, err);
    if (rc == 0 && j->workflow_id != NULL)
        rc = check_target_workflow(s, j->workflow_id, err);
    if (rc == 0 && tia_store_backend(s) == TIA_BACKEND_POSTGRES)
        rc = notify_ready_agents(s, j->task, 1, NULL, err);
    if (rc == 0)
        rc = insert_task_row(s, j->task, j->id, j->workflow_id, 0, j->key, err);
    return rc;
}

int tia_engine_submit_task(tia_store *s, const tia_task_spec *spec, const char *workflow_id,
                           const char *idempotency_key, char id_out[TIA_UUID_BUF], int *created,
                           tia_error *err)
{
    char wf[TIA_UUID_BUF], id[TIA_UUID_BUF];
    int made = 0, rc;
    if (spec == NULL)
        rc = tia_error_set(err, TIA_EINVAL, "task spec is required");
    else if ((rc = check_task(spec, "", err)) == 0 &&
             (rc = tia__check_uuid(err, "workflow_id", workflow_id, 0, wf)) == 0 &&
             (rc = check_key(idempotency_key, err)) == 0 && spec->n_depends_on > 0)
        rc = tia_error_set(err, TIA_EINVAL,
                           "depends_on: a task submitted alone has no dependencies; submit a "
                           "workflow");
    if (rc != 0)
        goto done;
    tia__store_uuid7(s, id);
    submit_job j = {.by_key = &sql_task_by_key,
                    .key = idempotency_key,
                    .id = id,
                    .write = write_task,
                    .task = spec,
                    .workflow_id = workflow_id ? wf : NULL};
    if ((rc = run_submit(s, &j, &made, err)) == 0 && id_out != NULL)
        memcpy(id_out, id, TIA_UUID_BUF);
done:
    if (created != NULL)
        *created = made;
    return rc;
}
