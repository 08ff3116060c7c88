/*
 * The queue half of the engine: claiming ready tasks under a lease, extending
 * leases, and reaping the tasks of workers that stopped heartbeating. Every
 * lease is measured on the database clock (statement_timestamp() on PostgreSQL,
 * the SQLite clock in the same process), never on a worker's, so that workers
 * with skewed clocks agree on when a lease ends. The attempt counter is the
 * fencing token: a worker names (task, worker, attempt) and every write checks
 * all three in the UPDATE's WHERE, so a late result from an attempt that lost
 * its lease matches no row and is refused.
 *
 * This file also holds the small helpers the queue files share (id sets as one
 * statement parameter, whole results as text tables, the "lease lost" answer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <tokyoia/engine.h>

#include "core/validate.h"
#include "engine/engine_internal.h"
#include "store/db.h"
#include "store/records.h"

#define CLAIM_MAX 1000
#define AGENTS_MAX 100
#define LEASE_MIN_MS 1000
#define LEASE_MAX_MS 3600000
/* Expired leases taken back per reaper query. */
#define REAP_CHUNK 500

/* ------------------------------------------------------------------------- */
/* Id sets and text tables                                                   */
/* ------------------------------------------------------------------------- */

void tia__idset_init(tia__idset *set, tia_store *s)
{
    memset(set, 0, sizeof *set);
    set->pg = tia_store_backend(s) == TIA_BACKEND_POSTGRES;
}

static void idset_append(tia__idset *set, const char *text, size_t len)
{
    if (set->oom)
        return;
    if (set->len + len + 2 > set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 256;
        while (cap < set->len + len + 2)
            cap *= 2;
        char *grown = realloc(set->buf, cap);
        if (grown == NULL) {
            set->oom = 1;
            return;
        }
        set->buf = grown;
        set->cap = cap;
    }
    memcpy(set->buf + set->len, text, len);
    set->len += len;
    set->buf[set->len] = '\0';
}

/* Ids are canonical UUIDs (checked or read from the database), so no quoting is needed. */
void tia__idset_add(tia__idset *set, const char *uuid)
{
    if (uuid == NULL || uuid[0] == '\0')
        return;
    idset_append(set, set->n ? "," : "", set->n ? 1 : 0);
    if (!set->pg)
        idset_append(set, "\"", 1);
    idset_append(set, uuid, strlen(uuid));
    if (!set->pg)
        idset_append(set, "\"", 1);
    set->n++;
}

int tia__idset_param(tia__idset *set, tia__param *p, tia_error *err)
{
    if (set->oom)
        return tia_error_set(err, TIA_ENOMEM, "out of memory building a set of ids");
    /* Wrapped once, when the parameter is made: "{a,b}" or ["a","b"]. */
    size_t len = set->len;
    char *buf = malloc(len + 3);
    if (buf == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory building a set of ids");
    buf[0] = set->pg ? '{' : '[';
    if (len)
        memcpy(buf + 1, set->buf, len);
    buf[len + 1] = set->pg ? '}' : ']';
    buf[len + 2] = '\0';
    free(set->wrapped);
    set->wrapped = buf;
    *p = tia__p_text(buf);
    return 0;
}

void tia__idset_free(tia__idset *set)
{
    if (set == NULL)
        return;
    free(set->buf);
    free(set->wrapped);
    memset(set, 0, sizeof *set);
}

int tia__table_query(tia_store *s, const tia__sql *q, const tia__param *p, int n, int cols,
                     tia__table *out, tia_error *err)
{
    tia__rows *r = NULL;
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    out->cols = (size_t)cols;
    int rc = tia__db_query(s, q, p, n, &r, err);
    while (rc == 0 && (rc = tia__rows_next(r, err)) > 0) {
        rc = 0;
        if ((out->rows + 1) * out->cols > cap) {
            size_t c = cap ? cap * 2 : out->cols * 16;
            char **grown = realloc(out->cells, c * sizeof *grown);
            if (grown == NULL) {
                rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading %s", q->name);
                break;
            }
            out->cells = grown;
            cap = c;
        }
        int oom = 0;
        char **row = out->cells + out->rows * out->cols;
        for (int c = 0; c < cols; c++)
            row[c] = tia__col_dup(r, c, &oom);
        out->rows++;
        if (oom)
            rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading %s", q->name);
    }
    tia__rows_free(r);
    if (rc < 0)
        tia__table_free(out);
    return rc < 0 ? rc : 0;
}

const char *tia__table_at(const tia__table *t, size_t row, size_t col)
{
    const char *v = t->cells[row * t->cols + col];
    return v ? v : "";
}

int64_t tia__table_int(const tia__table *t, size_t row, size_t col)
{
    return strtoll(tia__table_at(t, row, col), NULL, 10);
}

void tia__table_free(tia__table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; t->cells && i < t->rows * t->cols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------------- */
/* Lease checks                                                              */
/* ------------------------------------------------------------------------- */

static const tia__sql sql_lease_state = {
    "engine.lease_state",
    "SELECT status, attempt, COALESCE(worker_id, ''), awaiting_children::int FROM agent_tasks "
    "WHERE id = $1::uuid",
    "SELECT status, attempt, COALESCE(worker_id, ''), awaiting_children FROM agent_tasks "
    "WHERE id = ?1",
};

int tia__lease_lost(tia_store *s, const char *task_id, tia_error *err)
{
    tia__table t;
    tia__param p = tia__p_text(task_id);
    int rc = tia__table_query(s, &sql_lease_state, &p, 1, 4, &t, err);
    if (rc != 0)
        return rc;
    if (t.rows == 0)
        rc = tia_error_set(err, TIA_ENOTFOUND, "unknown task '%s'", task_id);
    else
        rc = tia_error_set(err, TIA_ECONFLICT,
                           "lease lost: task %s is %s%s, attempt %lld, worker '%.60s'", task_id,
                           tia__table_at(&t, 0, 0),
                           tia__table_int(&t, 0, 3) ? " (awaiting subtasks)" : "",
                           (long long)tia__table_int(&t, 0, 1), tia__table_at(&t, 0, 2));
    tia__table_free(&t);
    return rc;
}

int tia__check_lease_args(const char *task_id, const char *worker_id, int64_t attempt,
                          char key[TIA_UUID_BUF], tia_error *err)
{
    int rc;
    if ((rc = tia__check_uuid(err, "task_id", task_id, 1, key)) != 0 ||
        (rc = tia__check_text(err, "worker_id", worker_id, TIA_WORKER_ID_MAX, 1)) != 0)
        return rc;
    if (attempt < 1 || attempt > INT32_MAX)
        return tia_error_set(err, TIA_EINVAL, "attempt %lld is out of range (1..%d)",
                             (long long)attempt, INT32_MAX);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Claim                                                                     */
/* ------------------------------------------------------------------------- */

/* The task columns of a claim, then attempt, timeout, max_retries, model, workflow status. */
#define CLAIM_COLS_PG                                                                              \
    "u.id, u.agent_id, u.workflow_id, u.task_type, u.description, u.status, u.input_data, "        \
    "u.output_data, u.error_message, " TIA_PG_US("u.started_at") ", " TIA_PG_US(                   \
        "u.completed_at") ", u.duration_ms, u.tokens_used, u.cost_usd, u.retry_count, "            \
                          "u.parent_task_id, " TIA_PG_US("u.created_at") ", u.metadata, "          \
                                                                         "u.attempt, "             \
                                                                         "u.timeout_ms, "          \
                                                                         "u.max_retries, "         \
                                                                         "a.model, w.status"
#define CLAIM_COLS_LITE                                                                            \
    "u.id, u.agent_id, u.workflow_id, u.task_type, u.description, u.status, u.input_data, "        \
    "u.output_data, u.error_message, u.started_at, u.completed_at, u.duration_ms, "                \
    "u.tokens_used, u.cost_usd_micros, u.retry_count, u.parent_task_id, u.created_at, "            \
    "u.metadata, u.attempt, u.timeout_ms, u.max_retries, a.model, w.status"

/* The claim's columns: a task in the store's order (records.h), then these. */
enum { C_ATTEMPT = C_METADATA + 1, C_TIMEOUT, C_MAX_RETRIES, C_MODEL, C_WF_STATUS };

/*
 * PostgreSQL: the whole claim in one statement. SKIP LOCKED hands each ready row
 * to exactly one claimer without waiting. One agent: an ordered scan of
 * idx_tasks_ready (which ends in id, so it reads only the rows it takes).
 * Several: "agent_id = ANY (...)" would read and sort every ready task of every
 * agent at each claim, so the claim reads each agent's first max ready tasks
 * (one ordered scan per agent, unlocked), keeps the best max of them, counts
 * how many each agent has among those, and then takes exactly that many from
 * each agent in order with SKIP LOCKED: no row is locked that is not claimed.
 * A row locked by another claim meanwhile is skipped for the agent's next one.
 * Parameters: 1 agent (or JSON array of agents), 2 worker, 3 max, 4 lease ms.
 */
/* clang-format off */
#define READY_PG(agent, limit, lock)                                                               \
    "SELECT id, priority, created_at FROM agent_tasks WHERE status = 'pending' "                   \
    "AND deps_pending = 0 AND agent_id = " agent " AND run_after <= statement_timestamp() "         \
    "ORDER BY priority DESC, created_at, id LIMIT " limit lock
#define CLAIM_PG(ready)                                                                            \
    "WITH c AS (" ready "), "                                                                      \
    "u AS (UPDATE agent_tasks t SET status = 'running', started_at = statement_timestamp(), "      \
    "worker_id = $2::text, attempt = t.attempt + 1, cancel_requested = false, "                    \
    "lease_expires_at = statement_timestamp() + $4::int8 * interval '1 millisecond' "              \
    "FROM c WHERE t.id = c.id RETURNING t.*) "                                                     \
    "SELECT " CLAIM_COLS_PG " FROM u JOIN agents a ON a.id = u.agent_id "                          \
    "LEFT JOIN workflows w ON w.id = u.workflow_id "                                               \
    "ORDER BY u.priority DESC, u.created_at, u.id"
#define SKIP_LOCKED " FOR UPDATE SKIP LOCKED"

static const tia__sql sql_claim_one_pg = {
    "engine.claim", CLAIM_PG(READY_PG("$1::text", "$3::int8", SKIP_LOCKED)), NULL,
};
static const tia__sql sql_claim_many_pg = {
    "engine.claim_agents",
    CLAIM_PG("WITH a AS (SELECT DISTINCT jsonb_array_elements_text($1::jsonb) AS agent), "
             "best AS (SELECT a.agent FROM a CROSS JOIN LATERAL ("
             READY_PG("a.agent", "$3::int8", "") ") r "
             "ORDER BY r.priority DESC, r.created_at, r.id LIMIT $3::int8), "
             "q AS (SELECT agent, count(*) AS n FROM best GROUP BY agent) "
             "SELECT l.id FROM q CROSS JOIN LATERAL ("
             READY_PG("q.agent", "q.n", SKIP_LOCKED) ") l"),
    NULL,
};

/*
 * PostgreSQL, for the rest of the claim's transaction: no plan that sorts when
 * one reads idx_tasks_ready in order. A queue's statistics are stale by nature
 * (a burst of submissions is not analysed yet, so the planner believes almost
 * nothing is pending), and then a scan of idx_tasks_status or
 * idx_tasks_agent_status followed by a sort looks as cheap as the ordered scan,
 * while it reads every ready task of the agent at each claim. Sorting what the
 * claim returned stays possible (no other plan exists). JIT off: disable_cost
 * puts the estimate far above jit_above_cost, and compiling a plan costs
 * hundreds of milliseconds, a hundred times the claim itself.
 *
 * The claim's plan is also kept (a generic plan, made once per connection):
 * with the default plan_cache_mode its estimate never beat the custom plans'
 * and the statement was planned again at every claim, 1.2 ms each, more than
 * a tenth of a claim of 100. The generic plan does not know max, so without
 * sequential scans and hash joins off it took the claimed rows by a hash join
 * over a scan of the whole table; with them off it has exactly the shape of
 * the custom plans: index scans of idx_tasks_ready per agent, then the
 * primary key of agent_tasks, agents and workflows per claimed row.
 */
static const tia__sql sql_claim_plan_pg = {
    "engine.claim_plan",
    "SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true), "
    "set_config('plan_cache_mode', 'force_generic_plan', true), "
    "set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true)",
    NULL,
};

/*
 * SQLite, inside BEGIN IMMEDIATE: each agent's first max ready tasks in claim
 * order, an ordered scan of idx_tasks_ready that stops at max. One statement
 * over all the agents ("agent_id IN (...) ORDER BY ... LIMIT") read every ready
 * task of every agent and sorted them at each claim (10,000 rows for a claim
 * of 100 with 10,000 tasks queued); the best max of the agents' lists are
 * picked in C, then taken by primary key, then read back in claim order.
 */
static const tia__sql sql_ready_lite = {
    "engine.ready_agent",
    NULL,
    "SELECT id, priority, created_at FROM agent_tasks INDEXED BY idx_tasks_ready "
    "WHERE agent_id = ?1 AND status = 'pending' AND deps_pending = 0 "
    "AND run_after <= " TIA_SQLITE_NOW " ORDER BY priority DESC, created_at, id LIMIT ?2",
};

/* Parameters: 1 the chosen ids (JSON array), 2 worker, 3 unused, 4 lease ms. */
static const tia__sql sql_claim_lite = {
    "engine.claim",
    NULL,
    "UPDATE agent_tasks SET status = 'running', started_at = " TIA_SQLITE_NOW ", "
    "worker_id = ?2, attempt = attempt + 1, cancel_requested = 0, "
    "lease_expires_at = " TIA_SQLITE_NOW " + ?4 * 1000 "
    "WHERE id " TIA__LITE_IN(1) " AND status = 'pending' AND deps_pending = 0 RETURNING id",
};

static const tia__sql sql_claimed_lite = {
    "engine.claimed",
    NULL,
    "SELECT " CLAIM_COLS_LITE " FROM agent_tasks u JOIN agents a ON a.id = u.agent_id "
    "LEFT JOIN workflows w ON w.id = u.workflow_id WHERE u.id " TIA__LITE_IN(1) " "
    "ORDER BY u.priority DESC, u.created_at, u.id",
};

/* The first claim in a workflow starts it. Parameter 1: the workflows read as pending. */
static const tia__sql sql_start_workflows = {
    "engine.start_workflows",
    "UPDATE workflows SET status = 'running', started_at = statement_timestamp() "
    "WHERE id " TIA__PG_IN(1) " AND status = 'pending'",
    "UPDATE workflows SET status = 'running', started_at = " TIA_SQLITE_NOW " "
    "WHERE id " TIA__LITE_IN(1) " AND +status = 'pending'",
};
/* clang-format on */

void tia_claim_list_free(struct tia_claim_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        tia_task_free(l->items[i].task);
        free(l->items[i].agent_model);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/*
 * Reads one claimed row into c (the task through the store's own decoder); its
 * workflow goes to wfs when it has not started.
 */
static int read_claim(tia__rows *r, tia_claim *c, tia__idset *wfs, tia_error *err)
{
    int oom = 0;
    int rc = tia__task_from_row(r, &c->task, err);
    if (rc != 0)
        return rc;
    c->attempt = tia__col_int(r, C_ATTEMPT);
    c->timeout_ms = tia__col_int(r, C_TIMEOUT);
    c->max_retries = tia__col_int(r, C_MAX_RETRIES);
    c->agent_model = tia__col_dup(r, C_MODEL, &oom);
    const char *wst = tia__col_text(r, C_WF_STATUS);
    if (wst != NULL && strcmp(wst, "pending") == 0)
        tia__idset_add(wfs, c->task->workflow_id);
    if (oom)
        return tia_error_set(err, TIA_ENOMEM, "out of memory reading a claimed task");
    return 0;
}

/* Reads every claimed row into out, adding the workflows still pending to wfs. */
static int read_claims(tia__rows *r, size_t max, struct tia_claim_list *out, tia__idset *wfs,
                       tia_error *err)
{
    int rc;
    out->items = calloc(max, sizeof *out->items);
    if (out->items == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory for %zu claims", max);
    while ((rc = tia__rows_next(r, err)) > 0 && out->n < max) {
        tia_claim *c = &out->items[out->n++];
        if ((rc = read_claim(r, c, wfs, err)) != 0)
            return rc;
    }
    return rc < 0 ? rc : 0;
}

/* A ready task found by sql_ready_lite. */
typedef struct ready_lite {
    char id[TIA_UUID_BUF];
    int64_t priority, created_at;
} ready_lite;

/* Claim order: priority descending, then age, then id (as SQLite compares text). */
static int ready_cmp(const void *a, const void *b)
{
    const ready_lite *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* SQLite: the best max ready tasks of the agents (each agent once) into chosen. */
static int choose_lite(tia_store *s, const char *const *agents, size_t n_agents, size_t max,
                       tia__idset *chosen, tia_error *err)
{
    ready_lite *c = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (size_t a = 0; rc == 0 && a < n_agents; a++) {
        size_t seen = 0;
        while (seen < a && strcmp(agents[seen], agents[a]) != 0)
            seen++;
        if (seen < a)
            continue; /* named twice */
        tia__table t;
        tia__param p[2] = {tia__p_text(agents[a]), tia__p_int((int64_t)max)};
        if ((rc = tia__table_query(s, &sql_ready_lite, p, 2, 3, &t, err)) != 0)
            break;
        if (n + t.rows > cap) {
            size_t grown_cap = cap ? cap * 2 : max * 2;
            while (grown_cap < n + t.rows)
                grown_cap *= 2;
            ready_lite *grown = realloc(c, grown_cap * sizeof *grown);
            if (grown == NULL)
                rc = tia_error_set(err, TIA_ENOMEM, "out of memory choosing tasks to claim");
            else {
                c = grown;
                cap = grown_cap;
            }
        }
        for (size_t i = 0; rc == 0 && i < t.rows; i++, n++) {
            snprintf(c[n].id, sizeof c[n].id, "%s", tia__table_at(&t, i, 0));
            c[n].priority = tia__table_int(&t, i, 1);
            c[n].created_at = tia__table_int(&t, i, 2);
        }
        tia__table_free(&t);
    }
    if (rc == 0 && n > 0)
        qsort(c, n, sizeof *c, ready_cmp);
    for (size_t i = 0; rc == 0 && i < n && i < max; i++)
        tia__idset_add(chosen, c[i].id);
    free(c);
    return rc;
}

/* SQLite: the chosen tasks taken (each still ready: one writer, so always), as a set. */
static int claim_ids_lite(tia_store *s, const char *const *agents, size_t n_agents,
                          const tia__param *p, size_t max, tia__idset *set, tia_error *err)
{
    tia__table t = {0};
    tia__idset chosen;
    tia__param q[4] = {p[0], p[1], p[2], p[3]};
    tia__idset_init(&chosen, s);
    int rc = choose_lite(s, agents, n_agents, max, &chosen, err);
    if (rc == 0 && chosen.n > 0 && (rc = tia__idset_param(&chosen, &q[0], err)) == 0)
        rc = tia__table_query(s, &sql_claim_lite, q, 4, 1, &t, err);
    for (size_t i = 0; rc == 0 && i < t.rows; i++)
        tia__idset_add(set, tia__table_at(&t, i, 0));
    tia__table_free(&t);
    tia__idset_free(&chosen);
    return rc;
}

static int claim_txn(tia_store *s, const char *const *agents, size_t n_agents, const tia__param *p,
                     size_t max, struct tia_claim_list *out, tia_error *err)
{
    tia__idset taken, wfs;
    tia__rows *r = NULL;
    tia__param ids;
    int rc = 0;
    tia__idset_init(&taken, s);
    tia__idset_init(&wfs, s);
    if (wfs.pg) {
        const tia__sql *q = n_agents > 1 ? &sql_claim_many_pg : &sql_claim_one_pg;
        if ((rc = tia__db_exec(s, &sql_claim_plan_pg, NULL, 0, NULL, err)) == 0)
            rc = tia__db_query(s, q, p, 4, &r, err);
    } else if ((rc = claim_ids_lite(s, agents, n_agents, p, max, &taken, err)) == 0 &&
               taken.n > 0 && (rc = tia__idset_param(&taken, &ids, err)) == 0) {
        rc = tia__db_query(s, &sql_claimed_lite, &ids, 1, &r, err);
    }
    if (rc == 0 && r != NULL)
        rc = read_claims(r, max, out, &wfs, err);
    tia__rows_free(r);
    /* A workflow another claim started meanwhile is left alone by the status check. */
    if (rc == 0 && wfs.n > 0 && (rc = tia__idset_param(&wfs, &ids, err)) == 0)
        rc = tia__db_exec(s, &sql_start_workflows, &ids, 1, NULL, err);
    tia__idset_free(&taken);
    tia__idset_free(&wfs);
    return rc;
}

/*
 * The agents as the first parameter: the id itself for one agent on PostgreSQL
 * (an exact-match scan of idx_tasks_ready), else a JSON array of ids (*json).
 */
static int agents_param(tia_store *s, const char *const *agent_ids, size_t n, char **json,
                        tia_error *err)
{
    int rc;
    *json = NULL;
    if (agent_ids == NULL || n == 0 || n > AGENTS_MAX)
        return tia_error_set(err, TIA_EINVAL, "agent_ids must name 1..%d agents", AGENTS_MAX);
    for (size_t i = 0; i < n; i++) {
        char field[32];
        snprintf(field, sizeof field, "agent_ids[%zu]", i);
        if ((rc = tia__check_text(err, field, agent_ids[i], TIA_AGENT_ID_MAX, 1)) != 0)
            return rc;
    }
    if (n == 1 && tia_store_backend(s) == TIA_BACKEND_POSTGRES)
        return 0;
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        if (json_array_append_new(arr, json_string(agent_ids[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    if (arr != NULL)
        *json = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return *json ? 0 : tia_error_set(err, TIA_ENOMEM, "out of memory listing agents");
}

int tia_engine_claim(tia_store *s, const char *const *agent_ids, size_t n_agents,
                     const char *worker_id, size_t max, int64_t lease_ms,
                     struct tia_claim_list *out, tia_error *err)
{
    char *agents_json = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = agents_param(s, agent_ids, n_agents, &agents_json, err)) != 0 ||
        (rc = tia__check_text(err, "worker_id", worker_id, TIA_WORKER_ID_MAX, 1)) != 0)
        goto done;
    if (max < 1 || max > CLAIM_MAX || lease_ms < LEASE_MIN_MS || lease_ms > LEASE_MAX_MS) {
        rc = tia_error_set(err, TIA_EINVAL,
                           "max must be 1..%d and lease_ms %d..%d (got %zu and %lld)", CLAIM_MAX,
                           LEASE_MIN_MS, LEASE_MAX_MS, max, (long long)lease_ms);
        goto done;
    }
    tia__param p[4] = {tia__p_text(agents_json ? agents_json : agent_ids[0]),
                       tia__p_text(worker_id), tia__p_int((int64_t)max), tia__p_int(lease_ms)};
    if ((rc = tia__db_begin(s, err)) != 0)
        goto done;
    rc = claim_txn(s, agent_ids, n_agents, p, max, out, err);
    if (rc == 0)
        rc = tia__db_commit(s, err);
    else
        tia__db_rollback(s);
done:
    free(agents_json);
    if (rc != 0)
        tia_claim_list_free(out);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Heartbeat                                                                 */
/* ------------------------------------------------------------------------- */

/* clang-format off */
static const tia__sql sql_heartbeat = {
    "engine.heartbeat",
    "UPDATE agent_tasks SET lease_expires_at = statement_timestamp() + $4::int8 * interval "
    "'1 millisecond' WHERE id = $1::uuid AND worker_id = $2::text AND attempt = $3::int8 "
    "AND status = 'running' AND NOT awaiting_children RETURNING cancel_requested::int",
    "UPDATE agent_tasks SET lease_expires_at = " TIA_SQLITE_NOW " + ?4 * 1000 "
    "WHERE id = ?1 AND worker_id = ?2 AND attempt = ?3 AND status = 'running' "
    "AND NOT awaiting_children RETURNING cancel_requested",
};
/* clang-format on */

int tia_engine_heartbeat(tia_store *s, const char *task_id, const char *worker_id, int64_t attempt,
                         int64_t lease_ms, int *cancel, tia_error *err)
{
    char key[TIA_UUID_BUF];
    tia__table t = {0};
    int rc = tia__check_lease_args(task_id, worker_id, attempt, key, err);
    if (rc != 0)
        return rc;
    if (lease_ms < LEASE_MIN_MS || lease_ms > LEASE_MAX_MS)
        return tia_error_set(err, TIA_EINVAL, "lease_ms must be %d..%d (got %lld)", LEASE_MIN_MS,
                             LEASE_MAX_MS, (long long)lease_ms);
    tia__param p[4] = {tia__p_text(key), tia__p_text(worker_id), tia__p_int(attempt),
                       tia__p_int(lease_ms)};
    if ((rc = tia__table_query(s, &sql_heartbeat, p, 4, 1, &t, err)) != 0)
        return rc;
    if (t.rows == 0)
        rc = tia__lease_lost(s, key, err);
    else if (cancel != NULL)
        *cancel = tia__table_int(&t, 0, 0) != 0;
    tia__table_free(&t);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Reaper                                                                    */
/* ------------------------------------------------------------------------- */

static const tia__sql sql_expired = {
    "engine.expired",
    "SELECT id, worker_id, attempt FROM agent_tasks WHERE status = 'running' "
    "AND lease_expires_at < statement_timestamp() AND NOT awaiting_children "
    "ORDER BY lease_expires_at LIMIT $1::int8",
    "SELECT id, worker_id, attempt FROM agent_tasks INDEXED BY idx_tasks_lease "
    "WHERE status = 'running' AND lease_expires_at < " TIA_SQLITE_NOW " AND NOT awaiting_children "
    "ORDER BY lease_expires_at LIMIT ?1",
};

/*
 * Each expired task is failed in its own short transaction, with the lease expiry
 * checked again in the UPDATE: a worker that heartbeats between the query and the
 * failure keeps its task, and two reapers never take the same attempt twice.
 */
int tia_engine_reap(tia_store *s, int64_t *reclaimed, tia_error *err)
{
    int64_t n = 0;
    int rc = 0;
    size_t got;
    do {
        tia__table t;
        tia__param p = tia__p_int(REAP_CHUNK);
        if ((rc = tia__table_query(s, &sql_expired, &p, 1, 3, &t, err)) != 0)
            break;
        got = t.rows;
        for (size_t i = 0; rc == 0 && i < t.rows; i++) {
            char msg[TIA_WORKER_ID_MAX * 4 + 64];
            snprintf(msg, sizeof msg, "lease expired (worker %s stopped heartbeating)",
                     tia__table_at(&t, i, 1));
            rc = tia__engine_fail_attempt(s, tia__table_at(&t, i, 0), tia__table_at(&t, i, 1),
                                          tia__table_int(&t, i, 2), msg, 1, 1, err);
            if (rc == 0)
                n++;
            else if (rc == TIA_ECONFLICT || rc == TIA_ENOTFOUND)
                rc = 0; /* heartbeated, finished or reaped meanwhile */
        }
        tia__table_free(&t);
    } while (rc == 0 && got == REAP_CHUNK);
    if (reclaimed != NULL)
        *reclaimed = n;
    if (rc == 0)
        tia_error_clear(err);
    return rc;
}
