/*
 * The agent_tasks table: creating tasks (one at a time on the hot path, or in
 * all-or-nothing batches), reading and listing them by keyset pages, and moving
 * them through the state machine. Counters are never written here: the triggers
 * of migration 0002 keep agents, workflows and agent_task_totals true from any
 * path, so this module only touches agent_tasks. A single create is one INSERT
 * and nothing else; only when the database reports a missing reference does it
 * spend extra queries finding out which one, to name it in the message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <tokyoia/tasks.h>

#include "core/validate.h"
#include "core/vec.h"
#include "store/cursor.h"
#include "store/db.h"
#include "store/records.h"

/* Tasks per jsonb_to_recordset statement in a PostgreSQL batch. */
#define BATCH_CHUNK 1000


/* duration_ms is an INTEGER column: a task that ran longer is capped, not refused. */
#define DURATION_MS_MAX "2147483647"


static const tia__sql sql_insert = {
    "task.insert",
    "INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, input_data, "
    "parent_task_id, metadata) VALUES ($1::uuid, $2, $3::uuid, $4, $5, $6::jsonb, $7::uuid, "
    "COALESCE($8::jsonb, '{}'::jsonb))",
    "INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, input_data, "
    "parent_task_id, metadata) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, COALESCE(?8, '{}'))",
};

/* PostgreSQL only: one chunk of a batch as a JSON array of objects, in one statement. */
static const tia__sql sql_insert_json = {
    "task.insert_batch",
    "INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, input_data, "
    "parent_task_id, metadata) SELECT x.id, x.agent_id, x.workflow_id, x.task_type, "
    "x.description, x.input_data::jsonb, x.parent_task_id, COALESCE(x.metadata::jsonb, "
    "'{}'::jsonb) FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, agent_id text, workflow_id "
    "uuid, task_type text, description text, input_data text, parent_task_id uuid, metadata "
    "text)",
    NULL,
};

static const tia__sql sql_agent_exists = {
    "task.agent_exists",
    "SELECT 1 FROM agents WHERE id = $1",
    "SELECT 1 FROM agents WHERE id = ?1",
};

static const tia__sql sql_workflow_exists = {
    "task.workflow_exists",
    "SELECT 1 FROM workflows WHERE id = $1::uuid",
    "SELECT 1 FROM workflows WHERE id = ?1",
};

static const tia__sql sql_status = {
    "task.status",
    "SELECT status FROM agent_tasks WHERE id = $1::uuid",
    "SELECT status FROM agent_tasks WHERE id = ?1",
};

/*
 * The task reads run in binary format on PostgreSQL (tia__sql.binary, COLS_PG_BIN):
 * the three timestamps of a task as the server stores them, where TIA_PG_US's
 * numeric arithmetic cost the server about 2 microseconds a value (the seed's text
 * output about 1), 60 for a page of 20.
 */
static const tia__sql sql_get = {
    .name = "task.get",
    .pg = "SELECT " COLS_PG_BIN " FROM agent_tasks WHERE id = $1::uuid",
    .sqlite = "SELECT " COLS_LITE " FROM agent_tasks WHERE id = ?1",
    .binary = 1,
};

/*
 * One statement per combination of filters, so that each has a plan that uses
 * its index (agent: idx_tasks_agent_created_id, 0006; agent and status:
 * idx_tasks_agent_status; workflow: idx_tasks_workflow; status: idx_tasks_status;
 * none: idx_tasks_created_at) instead of one catch-all "$n IS NULL OR" plan, and a
 * first-page variant without the keyset condition, so that the first page of an
 * agent is exactly the seed's "recent tasks" query. Parameters: (next pages) the
 * cursor's created_at and id, then the filters in the order agent, workflow,
 * status.
 *
 * Pages are in (created_at, id) order, newest first, but the cached statements
 * order by created_at alone, as the seed's query does, and tia_task_list orders
 * ties by id in C. With the library's planner costs (pg.c) both orders read an
 * agent's page from idx_tasks_agent_created_id; at PostgreSQL's default costs
 * (a URL that sets its own options), the id in the ORDER BY turned the plan into
 * an incremental sort over idx_tasks_created_at that reads and projects at least
 * 32 rows for a page of 20, about 20 microseconds more than the seed's query,
 * where ordering by created_at alone gets the seed's plan. That order is exact
 * whenever the row after the page is older than the page's last row; when the
 * two tie, a tie group crosses the page's edge and the page is read again with
 * the _exact statement, which orders by (created_at, id) and is not kept
 * prepared (it is rare: tasks created in one transaction share created_at).
 *
 * The row count is a literal, one of LIST_FETCH's sizes (the smallest that holds
 * the page and the extra row that tells whether a page follows; the rows past
 * that are never read). As a parameter, PostgreSQL prices a LIMIT $n at a tenth
 * of the rows the filter matches (20,000 for one agent at 1,000,000 tasks), so its
 * generic plan never looked cheaper than a custom one and the statement was
 * planned again at every call: 0.13 ms of planning for 0.1 ms of execution
 * (pg_stat_statements: 102 plans per 101 calls). With a literal it is planned
 * five times, then runs its generic plan, as the seed's LIMIT 20 does.
 */
#define BY_TIME "created_at DESC"
#define BY_TIME_ID "created_at DESC, id DESC"
#define LIST_SQL(cols, where, keyset, order, limit)                                                \
    "SELECT " cols " FROM agent_tasks WHERE " where keyset " ORDER BY " order " LIMIT " limit
#define PG_AG(n) "agent_id = $" #n
#define PG_WF(n) "workflow_id = $" #n "::uuid"
#define PG_ST(n) "status = $" #n
#define LI_AG(n) "agent_id = ?" #n
#define LI_WF(n) "workflow_id = ?" #n
#define LI_ST(n) "status = ?" #n
#define KEYSET_PG "(created_at, id) < ($1::timestamptz, $2::uuid)"
#define KEYSET_LI "(created_at, id) < (?1, ?2)"
/* Positional after the texts: uncached (1 for the _exact statements), keeps_reads, binary. */
#define FIRST(name, pgw, litew, lim, order, unc)                                                   \
    {name, LIST_SQL(COLS_PG_BIN, pgw, "", order, lim), LIST_SQL(COLS_LITE, litew, "", order, lim), \
     unc, 0, 1}
#define NEXT(name, pgw, litew, lim, order, unc)                                                    \
    {name, LIST_SQL(COLS_PG_BIN, pgw, KEYSET_PG, order, lim),                                      \
     LIST_SQL(COLS_LITE, litew, KEYSET_LI, order, lim), unc, 0, 1}
/* The eight filter combinations (none, a, w, aw, s, as, ws, aws) of one page size. */
#define LIST_FIRST8(lim, sfx, o, u)                                                                \
    {FIRST("task.list_first_" lim sfx, "TRUE", "1", lim, o, u),                                    \
     FIRST("task.list_first_a" lim sfx, PG_AG(1), LI_AG(1), lim, o, u),                            \
     FIRST("task.list_first_w" lim sfx, PG_WF(1), LI_WF(1), lim, o, u),                            \
     FIRST("task.list_first_aw" lim sfx, PG_AG(1) " AND " PG_WF(2), LI_AG(1) " AND " LI_WF(2),     \
           lim, o, u),                                                                             \
     FIRST("task.list_first_s" lim sfx, PG_ST(1), LI_ST(1), lim, o, u),                            \
     FIRST("task.list_first_as" lim sfx, PG_AG(1) " AND " PG_ST(2), LI_AG(1) " AND " LI_ST(2),     \
           lim, o, u),                                                                             \
     FIRST("task.list_first_ws" lim sfx, PG_WF(1) " AND " PG_ST(2), LI_WF(1) " AND " LI_ST(2),     \
           lim, o, u),                                                                             \
     FIRST("task.list_first_aws" lim sfx, PG_AG(1) " AND " PG_WF(2) " AND " PG_ST(3),              \
           LI_AG(1) " AND " LI_WF(2) " AND " LI_ST(3), lim, o, u)}
#define LIST_NEXT8(lim, sfx, o, u)                                                                 \
    {NEXT("task.list_next_" lim sfx, "", "", lim, o, u),                                           \
     NEXT("task.list_next_a" lim sfx, PG_AG(3) " AND ", LI_AG(3) " AND ", lim, o, u),              \
     NEXT("task.list_next_w" lim sfx, PG_WF(3) " AND ", LI_WF(3) " AND ", lim, o, u),              \
     NEXT("task.list_next_aw" lim sfx, PG_AG(3) " AND " PG_WF(4) " AND ",                          \
          LI_AG(3) " AND " LI_WF(4) " AND ", lim, o, u),                                           \
     NEXT("task.list_next_s" lim sfx, PG_ST(3) " AND ", LI_ST(3) " AND ", lim, o, u),              \
     NEXT("task.list_next_as" lim sfx, PG_AG(3) " AND " PG_ST(4) " AND ",                          \
          LI_AG(3) " AND " LI_ST(4) " AND ", lim, o, u),                                           \
     NEXT("task.list_next_ws" lim sfx, PG_WF(3) " AND " PG_ST(4) " AND ",                          \
          LI_WF(3) " AND " LI_ST(4) " AND ", lim, o, u),                                           \
     NEXT("task.list_next_aws" lim sfx, PG_AG(3) " AND " PG_WF(4) " AND " PG_ST(5) " AND ",        \
          LI_AG(3) " AND " LI_WF(4) " AND " LI_ST(5) " AND ", lim, o, u)}

/* Rows fetched per page size: page sizes 1, 5, 10, 20, 25, 50, 100, 200, 500, 1000 exactly. */
#define LIST_FETCH(X)                                                                              \
    X(2, "2") X(6, "6") X(11, "11") X(21, "21") X(26, "26") X(51, "51") X(101, "101")           \
    X(201, "201") X(501, "501") X(1001, "1001")
#define LIST_SIZE(n, lim) n,
#define LIST_F(n, lim) LIST_FIRST8(lim, "", BY_TIME, 0),
#define LIST_N(n, lim) LIST_NEXT8(lim, "", BY_TIME, 0),
#define LIST_FX(n, lim) LIST_FIRST8(lim, "_exact", BY_TIME_ID, 1),
#define LIST_NX(n, lim) LIST_NEXT8(lim, "_exact", BY_TIME_ID, 1),
static const size_t list_fetch[] = {LIST_FETCH(LIST_SIZE)};
#define LIST_BUCKETS (sizeof list_fetch / sizeof list_fetch[0])
static const tia__sql sql_list_first[][8] = {LIST_FETCH(LIST_F)};
static const tia__sql sql_list_next[][8] = {LIST_FETCH(LIST_N)};
static const tia__sql sql_list_first_exact[][8] = {LIST_FETCH(LIST_FX)};
static const tia__sql sql_list_next_exact[][8] = {LIST_FETCH(LIST_NX)};
_Static_assert(TIA_PAGE_MAX + 1 <= 1001, "the largest fetch size must hold a full page");

/*
 * The whole transition in one statement: the WHERE on the allowed previous
 * statuses makes it atomic against concurrent moves. Timestamps come from the
 * database clock, fixed for the statement on both backends, so completed_at -
 * started_at is exactly what duration_ms holds (rounded to the millisecond).
 * Parameters: 1 id, 2 new status, 3-4 allowed previous statuses, 5 sets
 * started_at, 6 is final, 7 output_data, 8 error_message, 9 tokens, 10 cost;
 * result members 7-10 keep the column when NULL.
 */
/* clang-format off */
#define PG_NOW_US TIA_PG_US("statement_timestamp()")
static const tia__sql sql_transition = {
    "task.transition",
    "UPDATE agent_tasks SET status = $2::text, "
    "started_at = CASE WHEN $5::bool THEN statement_timestamp() ELSE started_at END, "
    "completed_at = CASE WHEN $6::bool THEN statement_timestamp() ELSE completed_at END, "
    "duration_ms = CASE WHEN $6::bool AND started_at IS NOT NULL THEN "
        "LEAST(round((" PG_NOW_US " - " TIA_PG_US("started_at") ") / 1000.0), "
        DURATION_MS_MAX ")::int ELSE duration_ms END, "
    "output_data = COALESCE($7::jsonb, output_data), "
    "error_message = COALESCE($8::text, error_message), "
    "tokens_used = COALESCE($9::int, tokens_used), "
    "cost_usd = COALESCE($10::numeric, cost_usd) "
    "WHERE id = $1::uuid AND status IN ($3::text, $4::text)",
    "UPDATE agent_tasks SET status = ?2, "
    "started_at = CASE WHEN ?5 THEN " TIA_SQLITE_NOW " ELSE started_at END, "
    "completed_at = CASE WHEN ?6 THEN " TIA_SQLITE_NOW " ELSE completed_at END, "
    "duration_ms = CASE WHEN ?6 AND started_at IS NOT NULL THEN "
        "MIN(CAST(round((" TIA_SQLITE_NOW " - started_at) / 1000.0) AS INTEGER), "
        DURATION_MS_MAX ") ELSE duration_ms END, "
    "output_data = COALESCE(?7, output_data), "
    "error_message = COALESCE(?8, error_message), "
    "tokens_used = COALESCE(?9, tokens_used), "
    "cost_usd_micros = COALESCE(?10, cost_usd_micros) "
    "WHERE id = ?1 AND status IN (?3, ?4)",
};
/* clang-format on */

/* A validated tia_task_new with its UUIDs in canonical lowercase form. */
typedef struct checked_new {
    const tia_task_new *t;
    char workflow_id[TIA_UUID_BUF]; /* "" for none */
    char parent_id[TIA_UUID_BUF];   /* "" for none */
} checked_new;

static const char *or_null(const char *s)
{
    return s[0] ? s : NULL;
}

static int check_new(const tia_task_new *t, checked_new *c, tia_error *err)
{
    int rc;
    c->t = t;
    if (t == NULL)
        return tia_error_set(err, TIA_EINVAL, "task is required");
    if ((rc = tia__check_text(err, "agent_id", t->agent_id, TIA_AGENT_ID_MAX, 1)) != 0 ||
        (rc = tia__check_uuid(err, "workflow_id", t->workflow_id, 0, c->workflow_id)) != 0 ||
        (rc = tia__check_text(err, "task_type", t->task_type, TIA_TASK_TYPE_MAX, 1)) != 0 ||
        (rc = tia__check_text(err, "description", t->description, 0, 1)) != 0 ||
        (rc = tia__check_json(err, "input_data", t->input_data, 0)) != 0 ||
        (rc = tia__check_uuid(err, "parent_task_id", t->parent_task_id, 0, c->parent_id)) != 0 ||
        (rc = tia__check_json(err, "metadata", t->metadata, 0)) != 0)
        return rc;
    return 0;
}

/* 1 when the statement returns a row for v, 0 when not, < 0 on error. */
static int exists(tia_store *s, const tia__sql *q, const char *v, tia_error *err)
{
    tia__param p = tia__p_text(v);
    tia__rows *r = NULL;
    int rc = tia__db_query(s, q, &p, 1, &r, err);
    if (rc == 0)
        rc = tia__rows_next(r, err);
    tia__rows_free(r);
    return rc;
}

/*
 * After a foreign key failure: finds which reference of c is missing and says so
 * (prefix names the batch item). A batch cannot hold its own parents, since the
 * ids are generated here, so every reference must already exist. Returns
 * TIA_ENOTFOUND with the message, 0 when every reference exists (the failure was
 * another item's, or a concurrent delete), < 0 on error.
 */
static int name_missing(tia_store *s, const checked_new *c, const char *prefix, tia_error *err)
{
    int rc = exists(s, &sql_agent_exists, c->t->agent_id, err);
    if (rc == 0)
        return tia_error_set(err, TIA_ENOTFOUND, "%sunknown agent '%.60s'", prefix, c->t->agent_id);
    if (rc < 0)
        return rc;
    if (c->workflow_id[0]) {
        rc = exists(s, &sql_workflow_exists, c->workflow_id, err);
        if (rc == 0)
            return tia_error_set(err, TIA_ENOTFOUND, "%sunknown workflow '%s'", prefix,
                                 c->workflow_id);
        if (rc < 0)
            return rc;
    }
    if (c->parent_id[0]) {
        rc = exists(s, &sql_status, c->parent_id, err);
        if (rc == 0)
            return tia_error_set(err, TIA_ENOTFOUND, "%sunknown parent task '%s'", prefix,
                                 c->parent_id);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int insert_one(tia_store *s, const checked_new *c, const char *id, tia_error *err)
{
    const tia_task_new *t = c->t;
    tia__param p[8] = {
        tia__p_text(id),
        tia__p_text(t->agent_id),
        tia__p_text(or_null(c->workflow_id)),
        tia__p_text(t->task_type),
        tia__p_text(t->description),
        tia__p_text(t->input_data),
        tia__p_text(or_null(c->parent_id)),
        tia__p_text(t->metadata),
    };
    return tia__db_exec(s, &sql_insert, p, 8, NULL, err);
}

int tia_task_create(tia_store *s, const tia_task_new *t, char id_out[TIA_UUID_BUF], tia_error *err)
{
    checked_new c;
    char id[TIA_UUID_BUF];
    int rc = check_new(t, &c, err);
    if (rc != 0)
        return rc;
    tia__store_uuid7(s, id);
    rc = insert_one(s, &c, id, err);
    if (rc == TIA_ENOTFOUND) {
        int named = name_missing(s, &c, "", err);
        rc = named != 0 ? named : rc;
    }
    if (rc == 0 && id_out != NULL)
        memcpy(id_out, id, TIA_UUID_BUF);
    return rc;
}

/* Adds one item to a JSON array for jsonb_to_recordset; -1 when out of memory. */
static int append_json(json_t *arr, const checked_new *c, const char *id)
{
    const tia_task_new *t = c->t;
    json_t *o = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s?, s:s?, s:s?}", "id", id, "agent_id",
                          t->agent_id, "workflow_id", or_null(c->workflow_id), "task_type",
                          t->task_type, "description", t->description, "input_data", t->input_data,
                          "parent_task_id", or_null(c->parent_id), "metadata", t->metadata);
    return o == NULL ? -1 : json_array_append_new(arr, o);
}

/* PostgreSQL: inserts items [from, to) as one statement. */
static int insert_chunk_pg(tia_store *s, const checked_new *c, const char (*ids)[TIA_UUID_BUF],
                           size_t from, size_t to, tia_error *err)
{
    int rc = 0;
    char *text = NULL;
    json_t *arr = json_array();
    for (size_t i = from; arr != NULL && i < to; i++)
        if (append_json(arr, &c[i], ids[i]) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    if (arr == NULL || (text = json_dumps(arr, JSON_COMPACT)) == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory building a task batch");
        goto done;
    }
    tia__param p = tia__p_text(text);
    rc = tia__db_exec(s, &sql_insert_json, &p, 1, NULL, err);
done:
    free(text);
    json_decref(arr);
    return rc;
}

/* Inserts every item inside the caller's transaction, by chunks on PostgreSQL. */
static int insert_all(tia_store *s, const checked_new *c, const char (*ids)[TIA_UUID_BUF], size_t n,
                      tia_error *err)
{
    int rc = 0;
    int pg = tia_store_backend(s) == TIA_BACKEND_POSTGRES;
    for (size_t i = 0; rc == 0 && i < n; i += pg ? BATCH_CHUNK : 1) {
        if (pg)
            rc = insert_chunk_pg(s, c, ids, i, i + BATCH_CHUNK < n ? i + BATCH_CHUNK : n, err);
        else
            rc = insert_one(s, &c[i], ids[i], err);
    }
    return rc;
}

/* After a failed batch (rolled back): names the first item with a missing reference. */
static int name_missing_in_batch(tia_store *s, const checked_new *c, size_t n, tia_error *err)
{
    for (size_t i = 0; i < n; i++) {
        char prefix[40];
        snprintf(prefix, sizeof prefix, "item %zu: ", i);
        int rc = name_missing(s, &c[i], prefix, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Validates every item before anything is written; the message names the index. */
static int check_batch(const tia_task_new *items, size_t n, checked_new *c, tia_error *err)
{
    for (size_t i = 0; i < n; i++) {
        tia_error inner = {0};
        int rc = check_new(&items[i], &c[i], &inner);
        if (rc != 0)
            return tia_error_set(err, rc, "item %zu: %s", i, inner.message);
    }
    return 0;
}

int tia_task_create_batch(tia_store *s, const tia_task_new *items, size_t n,
                          char (*ids_out)[TIA_UUID_BUF], tia_error *err)
{
    int rc = 0;
    checked_new *c = NULL;
    char(*ids)[TIA_UUID_BUF] = NULL;
    if (n == 0)
        goto done;
    if (items == NULL) {
        rc = tia_error_set(err, TIA_EINVAL, "items is required");
        goto done;
    }
    c = calloc(n, sizeof *c);
    ids = calloc(n, sizeof *ids);
    if (c == NULL || ids == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory for a batch of %zu tasks", n);
        goto done;
    }
    if ((rc = check_batch(items, n, c, err)) != 0)
        goto done;
    for (size_t i = 0; i < n; i++)
        tia__store_uuid7(s, ids[i]);
    if ((rc = tia__db_begin(s, err)) != 0)
        goto done;
    rc = insert_all(s, c, (const char(*)[TIA_UUID_BUF])ids, n, err);
    if (rc == 0)
        rc = tia__db_commit(s, err);
    if (rc != 0)
        tia__db_rollback(s);
    if (rc == TIA_ENOTFOUND) {
        int named = name_missing_in_batch(s, c, n, err);
        rc = named != 0 ? named : rc;
    }
    if (rc == 0 && ids_out != NULL)
        memcpy(ids_out, ids, n * sizeof *ids);
done:
    free(c);
    free(ids);
    return rc;
}

void tia_task_free(tia_task *t)
{
    free(t); /* one block with its strings (tia__task_from_row) */
}

void tia_task_list_free(struct tia_task_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        tia_task_free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
    l->next_cursor[0] = '\0';
}

/*
 * Reads the current row (COLS_* order) into a new task. The task is one
 * allocation: the struct, then its seven strings, so that a page of tasks costs
 * one malloc and one free per task rather than eight of each (recent tasks is
 * one of the seed's query patterns: a page of twenty tasks whose copies weighed
 * as much as the query's work on the server). tia_task_free frees the block.
 */
int tia__task_from_row(tia__rows *r, tia_task **out, tia_error *err)
{
    enum { NTEXT = 7 };
    static const int cols[NTEXT] = {C_AGENT,  C_TYPE,  C_DESC,    C_INPUT,
                                    C_OUTPUT, C_ERROR, C_METADATA};
    const char *text[NTEXT];
    size_t len[NTEXT];
    size_t total = tia__col_texts(r, cols, NTEXT, text, len);
    tia_task *t = malloc(sizeof *t + total);
    if (t == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory reading a task");
    memset(t, 0, sizeof *t);
    char **dst[NTEXT] = {&t->agent_id,    &t->task_type,     &t->description, &t->input_data,
                         &t->output_data, &t->error_message, &t->metadata};
    tia__pack_texts((char *)(t + 1), text, len, dst, NTEXT);
    tia__col_uuid(r, C_ID, t->id);
    tia__col_uuid(r, C_WORKFLOW, t->workflow_id);
    tia__col_uuid(r, C_PARENT, t->parent_task_id);
    t->started_at = tia__col_time(r, C_STARTED);
    t->completed_at = tia__col_time(r, C_COMPLETED);
    t->duration_ms = tia__col_isnull(r, C_DURATION) ? -1 : tia__col_int(r, C_DURATION);
    t->tokens_used = tia__col_int(r, C_TOKENS);
    t->cost_micros = tia__col_cost(r, C_COST);
    t->retry_count = tia__col_int(r, C_RETRY);
    t->created_at = tia__col_time(r, C_CREATED);
    const char *status = tia__col_text(r, C_STATUS);
    if (tia_run_status_parse(status, &t->status) != 0) {
        int rc = tia_error_set(err, TIA_EDB, "task %s has status '%s', which is not a task status",
                               t->id, status ? status : "NULL");
        free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int tia_task_get(tia_store *s, const char *id, tia_task **out, tia_error *err)
{
    char key[TIA_UUID_BUF];
    tia__rows *r = NULL;
    *out = NULL;
    int rc = tia__check_uuid(err, "id", id, 1, key);
    if (rc != 0)
        goto done;
    tia__param p = tia__p_text(key);
    if ((rc = tia__db_query(s, &sql_get, &p, 1, &r, err)) != 0)
        goto done;
    rc = tia__rows_next(r, err);
    if (rc == 0)
        rc = tia_error_set(err, TIA_ENOTFOUND, "unknown task '%s'", key);
    else if (rc > 0)
        rc = tia__task_from_row(r, out, err);
done:
    tia__rows_free(r);
    return rc;
}

/* The checked filters of a list call and the statement that serves them. */
typedef struct list_query {
    tia__param p[6];
    int n;
    const tia__sql *q, *exact; /* by created_at; by (created_at, id) */
    size_t limit;
    char wf[TIA_UUID_BUF];
    char cursor_id[TIA_UUID_BUF];
} list_query;

static int prepare_list(const tia_task_filter *f, list_query *lq, tia_error *err)
{
    static const tia_task_filter none = {0};
    tia_time_us created = TIA_TIME_NONE;
    int rc;
    if (f == NULL)
        f = &none;
    if ((rc = tia__check_limit(err, f->limit, &lq->limit)) != 0 ||
        (rc = tia__check_text(err, "agent_id", f->agent_id, TIA_AGENT_ID_MAX, 0)) != 0 ||
        (rc = tia__check_uuid(err, "workflow_id", f->workflow_id, 0, lq->wf)) != 0)
        return rc;
    const char *status = f->status ? tia_run_status_name(*f->status) : NULL;
    if (f->status != NULL && status == NULL)
        return tia_error_set(err, TIA_EINVAL, "status %d is not a task status", (int)*f->status);
    int first = f->cursor == NULL || f->cursor[0] == '\0';
    if (!first && (rc = tia__cursor_decode(f->cursor, &created, lq->cursor_id, err)) != 0)
        return rc;
    /* The smallest fetch size that holds the page and one more row: does a page follow? */
    size_t bucket = 0;
    while (bucket + 1 < LIST_BUCKETS && list_fetch[bucket] < lq->limit + 1)
        bucket++;
    lq->n = 0;
    if (!first) {
        lq->p[lq->n++] = tia__p_ts(created);
        lq->p[lq->n++] = tia__p_text(lq->cursor_id);
    }
    int which = 0;
    if (f->agent_id != NULL) {
        lq->p[lq->n++] = tia__p_text(f->agent_id);
        which |= 1;
    }
    if (f->workflow_id != NULL) {
        lq->p[lq->n++] = tia__p_text(lq->wf);
        which |= 2;
    }
    if (status != NULL) {
        lq->p[lq->n++] = tia__p_text(status);
        which |= 4;
    }
    lq->q = first ? &sql_list_first[bucket][which] : &sql_list_next[bucket][which];
    lq->exact = first ? &sql_list_first_exact[bucket][which] : &sql_list_next_exact[bucket][which];
    return 0;
}

/* Newer first; within one created_at, the greater id first (the keyset order). */
static int newer(const void *pa, const void *pb)
{
    const tia_task *a = pa, *b = pb;
    return a->created_at != b->created_at ? a->created_at > b->created_at
                                          : strcmp(a->id, b->id) > 0;
}

/*
 * Reads one page with q into items (*n of them). *more says whether a row follows
 * the page; *tied whether that row has the created_at of the page's last one.
 */
static int read_page(tia_store *s, const list_query *lq, const tia__sql *q, void ***items,
                     size_t *n, int *more, int *tied, tia_error *err)
{
    tia__rows *r = NULL;
    size_t cap = 0;
    *more = *tied = 0;
    int rc = tia__db_read(s, q, lq->p, lq->n, &r, err);
    if (rc != 0)
        return rc;
    while ((rc = tia__rows_next(r, err)) > 0) {
        tia_task *t = NULL;
        if (*n == lq->limit) { /* the extra row: there is a next page */
            *more = 1;
            *tied = tia__col_time(r, C_CREATED) == ((tia_task *)(*items)[*n - 1])->created_at;
            rc = 0;
            break;
        }
        if ((rc = tia__task_from_row(r, &t, err)) != 0)
            break;
        if (tia__vec_push(items, n, &cap, t) != 0) {
            tia_task_free(t);
            rc = tia_error_set(err, TIA_ENOMEM, "out of memory listing tasks");
            break;
        }
    }
    tia__rows_free(r);
    return rc;
}

int tia_task_list(tia_store *s, const tia_task_filter *f, struct tia_task_list *out, tia_error *err)
{
    list_query lq;
    void **items = NULL;
    size_t n = 0;
    int more = 0, tied = 0;
    memset(out, 0, sizeof *out);
    int rc = prepare_list(f, &lq, err);
    if (rc != 0)
        goto done;
    rc = read_page(s, &lq, lq.q, &items, &n, &more, &tied, err);
    if (rc == 0 && tied) { /* a tie group crosses the page's edge: read it in full order */
        out->items = (tia_task **)items;
        out->n = n;
        tia_task_list_free(out);
        items = NULL;
        n = 0;
        rc = read_page(s, &lq, lq.exact, &items, &n, &more, &tied, err);
    }
    if (rc < 0)
        goto done;
    /* Ties in created_at come in any order: put them in id order (a page is
     * almost always in order already). */
    tia__vec_sort(items, n, newer);
    if (more) {
        const tia_task *last = items[n - 1];
        tia__cursor_encode(last->created_at, last->id, out->next_cursor);
    }
done:
    out->items = (tia_task **)items;
    out->n = n;
    if (rc < 0)
        tia_task_list_free(out);
    return rc < 0 ? rc : 0;
}

static int is_final(tia_run_status st)
{
    return st == TIA_COMPLETED || st == TIA_FAILED || st == TIA_CANCELLED;
}

/* The result is checked whole before anything is written. */
static int check_result(tia_run_status to, const tia_task_result *res, tia_error *err)
{
    int rc;
    if (res == NULL)
        return 0;
    if (!is_final(to) &&
        (res->output_data || res->error_message || res->tokens_used || res->cost_micros))
        return tia_error_set(err, TIA_EINVAL,
                             "a result is written only with a final status, "
                             "not with '%s'",
                             tia_run_status_name(to));
    if ((rc = tia__check_json(err, "output_data", res->output_data, 0)) != 0 ||
        (rc = tia__check_text(err, "error_message", res->error_message, 0, 0)) != 0 ||
        (rc = tia__check_range(err, "tokens_used", res->tokens_used, INT32_MAX)) != 0 ||
        (rc = tia__check_range(err, "cost_micros", res->cost_micros, TIA_COST_MAX_MICROS)) != 0)
        return rc;
    return 0;
}

/* Why a transition changed no row: the task is missing, the move illegal, or it raced. */
static int explain_no_change(tia_store *s, const char *id, tia_run_status to, tia_error *err)
{
    tia__param p = tia__p_text(id);
    tia__rows *r = NULL;
    tia_run_status cur;
    int rc = tia__db_query(s, &sql_status, &p, 1, &r, err);
    if (rc != 0)
        goto done;
    rc = tia__rows_next(r, err);
    if (rc == 0)
        rc = tia_error_set(err, TIA_ENOTFOUND, "unknown task '%s'", id);
    else if (rc > 0 && tia_run_status_parse(tia__col_text(r, 0), &cur) != 0)
        rc = tia_error_set(err, TIA_EDB, "task %s has no valid status", id);
    else if (rc > 0 && !tia_run_transition_ok(cur, to))
        rc = tia_error_set(err, TIA_ECONFLICT, "illegal transition %s -> %s for task %s",
                           tia_run_status_name(cur), tia_run_status_name(to), id);
    else if (rc > 0)
        rc = tia_error_set(err, TIA_ECONFLICT, "task %s changed concurrently; read it and retry",
                           id);
done:
    tia__rows_free(r);
    return rc;
}

int tia_task_transition(tia_store *s, const char *id, tia_run_status to,
                        const tia_task_result *result, tia_error *err)
{
    char key[TIA_UUID_BUF];
    int rc = tia__check_uuid(err, "id", id, 1, key);
    if (rc != 0)
        return rc;
    if (tia_run_status_name(to) == NULL)
        return tia_error_set(err, TIA_EINVAL, "status %d is not a task status", (int)to);
    if ((rc = check_result(to, result, err)) != 0)
        return rc;
    const char *from[2] = {NULL, NULL};
    int n_from = 0;
    for (int f = TIA_PENDING; f <= TIA_CANCELLED && n_from < 2; f++)
        if (tia_run_transition_ok((tia_run_status)f, to))
            from[n_from++] = tia_run_status_name((tia_run_status)f);
    if (n_from == 0) /* nothing may move to `to` (pending): say why for this task */
        return explain_no_change(s, key, to, err);
    int fin = is_final(to);
    int with_res = fin && result != NULL;
    tia__param p[10] = {
        tia__p_text(key),
        tia__p_text(tia_run_status_name(to)),
        tia__p_text(from[0]),
        tia__p_text(from[n_from - 1]),
        tia__p_bool(to == TIA_RUNNING),
        tia__p_bool(fin),
        tia__p_text(with_res ? result->output_data : NULL),
        tia__p_text(with_res ? result->error_message : NULL),
        with_res ? tia__p_int(result->tokens_used) : tia__p_null(),
        with_res ? tia__p_cost(result->cost_micros) : tia__p_null(),
    };
    int64_t changed = 0;
    if ((rc = tia__db_exec(s, &sql_transition, p, 10, &changed, err)) != 0)
        return rc;
    return changed == 1 ? 0 : explain_no_change(s, key, to, err);
}
