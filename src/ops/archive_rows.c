/*
 * The JSON document of an archived workflow: the workflow's fields in the form
 * `tokyoia workflows show --json` and the API give them (the same record
 * decoders and encoders), with archived_at, its tasks oldest first, its
 * interactions in order and its task dependencies. A batch's documents are read
 * with four statements (workflows, tasks, interactions, dependencies), each
 * ordered by workflow id, and merged here, so that a batch of 500 workflows
 * costs four round trips, not 2,000. The same code reads the hot tables (the
 * lines of a file, inside the batch's transaction) and the archive tables
 * (show), which have the same columns.
 */
#include <stdlib.h>
#include <string.h>

#include "json/encode.h"
#include "ops/archive_int.h"
#include "store/records.h"

/* The workflow columns of records.h (PG_WORKFLOW_COLS) without their FROM. */
#define AR_WF_PG                                                                                   \
    "SELECT id::text, name, description, status, workflow_type, initiator, total_tasks, "          \
    "completed_tasks, failed_tasks, " TIA_PG_US("started_at") ", " TIA_PG_US(                      \
        "completed_at") ", "                                                                       \
                        "duration_ms, total_tokens_used, total_cost_usd, " TIA_PG_US(              \
                            "created_at") ", " TIA_PG_US("updated_at") ", metadata::text, "
#define AR_WF_LITE                                                                                 \
    "SELECT id, name, description, status, workflow_type, initiator, total_tasks, "                \
    "completed_tasks, failed_tasks, started_at, completed_at, duration_ms, total_tokens_used, "    \
    "total_cost_usd_micros, created_at, updated_at, metadata, "
/*
 * The engine's columns of a task (migration 0005), after the record's: the
 * record and the API leave them out, but an archived task keeps them.
 */
#define ENGINE_PG                                                                                  \
    ", priority, max_retries, timeout_ms, " TIA_PG_US(                                             \
        "run_after") ", deps_pending, "                                                            \
                     "children_pending, awaiting_children::int, attempt, worker_id, " TIA_PG_US(   \
                         "lease_expires_at") ", cancel_requested::int, input_tokens, "             \
                                             "output_tokens, "                                     \
                                             "idempotency_key"
#define ENGINE_LITE                                                                                \
    ", priority, max_retries, timeout_ms, run_after, deps_pending, children_pending, "             \
    "awaiting_children, attempt, worker_id, lease_expires_at, cancel_requested, input_tokens, "    \
    "output_tokens, idempotency_key"
#define IN_PG(col) col " = ANY($1::uuid[])"
#define IN_LITE(col) col " IN (SELECT value FROM json_each(?1))"

#define AR_INTER_PG(tbl)                                                                           \
    "SELECT i.id, i.workflow_id, i.from_agent_id, i.to_agent_id, a1.name, a2.name, "               \
    "i.interaction_type, i.message, i.payload, " TIA_PG_US(                                        \
        "i.created_at") " FROM " tbl " i "                                                         \
                        "LEFT JOIN agents a1 ON a1.id = i.from_agent_id LEFT JOIN agents a2 ON "   \
                        "a2.id = "                                                                 \
                        "i.to_agent_id WHERE " IN_PG(                                              \
                            "i.workflow_id") " ORDER BY i.workflow_id, i.created_at, i.id"
#define AR_INTER_LITE(tbl)                                                                         \
    "SELECT i.id, i.workflow_id, i.from_agent_id, i.to_agent_id, a1.name, a2.name, "               \
    "i.interaction_type, i.message, i.payload, i.created_at FROM " tbl " i "                       \
    "LEFT JOIN agents a1 ON a1.id = i.from_agent_id LEFT JOIN agents a2 ON a2.id = "               \
    "i.to_agent_id WHERE " IN_LITE("i.workflow_id") " ORDER BY i.workflow_id, i.created_at, i.id"

#define AR_DEPS_PG(deps, tasks)                                                                    \
    "SELECT t.workflow_id, d.task_id, d.depends_on FROM " deps " d JOIN " tasks                    \
    " t ON t.id = d.task_id WHERE " IN_PG("t.workflow_id") " ORDER BY 1, 2, 3"
#define AR_DEPS_LITE(deps, tasks)                                                                  \
    "SELECT t.workflow_id, d.task_id, d.depends_on FROM " deps " d JOIN " tasks                    \
    " t ON t.id = d.task_id WHERE " IN_LITE("t.workflow_id") " ORDER BY 1, 2, 3"

/* [0]: the hot tables, [1]: the archive tables. */
static const tia__sql sql_wf[2] = {
    {"archive.doc_workflows",
     AR_WF_PG TIA_PG_US("now()") ", idempotency_key FROM workflows WHERE " IN_PG(
         "id") " ORDER BY id",
     AR_WF_LITE TIA_SQLITE_NOW
     ", idempotency_key FROM workflows WHERE " IN_LITE("id") " ORDER BY id"},
    {"archive.show_workflows",
     AR_WF_PG TIA_PG_US("archived_at") ", idempotency_key FROM workflows_archive WHERE " IN_PG(
         "id") " ORDER BY id",
     AR_WF_LITE
     "archived_at, idempotency_key FROM workflows_archive WHERE " IN_LITE("id") " ORDER BY id"},
};
static const tia__sql sql_tasks[2] = {
    {"archive.doc_tasks",
     "SELECT " COLS_PG ENGINE_PG
     " FROM agent_tasks WHERE " IN_PG("workflow_id") " ORDER BY workflow_id, created_at, id",
     "SELECT " COLS_LITE ENGINE_LITE
     " FROM agent_tasks WHERE " IN_LITE("workflow_id") " ORDER BY workflow_id, created_at, id"},
    {"archive.show_tasks",
     "SELECT " COLS_PG ENGINE_PG " FROM agent_tasks_archive WHERE " IN_PG(
         "workflow_id") " ORDER BY workflow_id, created_at, id",
     "SELECT " COLS_LITE ENGINE_LITE " FROM agent_tasks_archive WHERE " IN_LITE(
         "workflow_id") " ORDER BY workflow_id, created_at, id"},
};
static const tia__sql sql_inter[2] = {
    {"archive.doc_interactions", AR_INTER_PG("agent_interactions"),
     AR_INTER_LITE("agent_interactions")},
    {"archive.show_interactions", AR_INTER_PG("agent_interactions_archive"),
     AR_INTER_LITE("agent_interactions_archive")},
};
static const tia__sql sql_deps[2] = {
    {"archive.doc_dependencies", AR_DEPS_PG("task_dependencies", "agent_tasks"),
     AR_DEPS_LITE("task_dependencies", "agent_tasks")},
    {"archive.show_dependencies", AR_DEPS_PG("task_dependencies_archive", "agent_tasks_archive"),
     AR_DEPS_LITE("task_dependencies_archive", "agent_tasks_archive")},
};

int tia__ar_ids_param(tia_store *s, char (*ids)[TIA_UUID_BUF], size_t n, char **out, tia_error *err)
{
    int pg = tia_store_backend(s) == TIA_BACKEND_POSTGRES;
    char *p = malloc(n * (TIA_UUID_BUF + 3) + 3);
    *out = p;
    if (p == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory listing workflow ids");
    *p++ = pg ? '{' : '[';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        size_t len = strlen(ids[i]);
        if (!pg)
            *p++ = '"';
        memcpy(p, ids[i], len);
        p += len;
        if (!pg)
            *p++ = '"';
    }
    *p++ = pg ? '}' : ']';
    *p = '\0';
    return 0;
}

/* A result set read one row ahead, so that rows can be taken while they match. */
typedef struct cursor {
    tia__rows *r;
    int have; /* a current row */
} cursor;

static int cursor_open(tia_store *s, const tia__sql *q, const char *ids, cursor *c, tia_error *err)
{
    tia__param v = tia__p_text(ids);
    c->have = 0;
    int rc = tia__db_query(s, q, &v, 1, &c->r, err);
    if (rc == 0 && (rc = tia__rows_next(c->r, err)) > 0)
        c->have = 1;
    return rc < 0 ? rc : 0;
}

static int cursor_next(cursor *c, tia_error *err)
{
    int rc = tia__rows_next(c->r, err);
    c->have = rc > 0;
    return rc < 0 ? rc : 0;
}

/* Whether the current row's column col names workflow id (skipping any before it). */
static int cursor_at(cursor *c, int col, const char *id, int *rc, tia_error *err)
{
    while (c->have) {
        const char *w = tia__col_text(c->r, col);
        int cmp = w == NULL ? -1 : strcmp(w, id);
        if (cmp == 0)
            return 1;
        if (cmp > 0)
            return 0;
        if ((*rc = cursor_next(c, err)) != 0)
            return 0;
    }
    return 0;
}

static int oom(tia_error *err)
{
    return tia_error_set(err, TIA_ENOMEM, "out of memory building an archived workflow");
}

/* A nullable integer column as a JSON integer or null. */
static void jint_or_null(json_t *o, const char *key, tia__rows *r, int col)
{
    if (tia__col_isnull(r, col))
        json_object_set_new(o, key, json_null());
    else
        tia__jint(o, key, tia__col_int(r, col));
}

/* The engine's columns (ENGINE_PG / ENGINE_LITE) of the current task row. */
static void add_engine(tia__rows *r, json_t *o)
{
    int c = C_METADATA + 1;
    jint_or_null(o, "priority", r, c);
    jint_or_null(o, "max_retries", r, c + 1);
    jint_or_null(o, "timeout_ms", r, c + 2);
    tia__jtime(o, "run_after", tia__col_time(r, c + 3));
    jint_or_null(o, "deps_pending", r, c + 4);
    jint_or_null(o, "children_pending", r, c + 5);
    json_object_set_new(o, "awaiting_children", json_boolean(tia__col_int(r, c + 6) != 0));
    jint_or_null(o, "attempt", r, c + 7);
    tia__jstr(o, "worker_id", tia__col_text(r, c + 8));
    tia__jtime(o, "lease_expires_at", tia__col_time(r, c + 9));
    json_object_set_new(o, "cancel_requested", json_boolean(tia__col_int(r, c + 10) != 0));
    jint_or_null(o, "input_tokens", r, c + 11);
    jint_or_null(o, "output_tokens", r, c + 12);
    tia__jstr(o, "idempotency_key", tia__col_text(r, c + 13));
}

static int add_tasks(cursor *c, const char *id, json_t *arr, tia_error *err)
{
    int rc = 0;
    while (rc == 0 && cursor_at(c, C_WORKFLOW, id, &rc, err)) {
        tia_task *t = NULL;
        if ((rc = tia__task_from_row(c->r, &t, err)) != 0)
            break;
        json_t *o = tia__json_task(t);
        tia_task_free(t);
        if (o == NULL || json_array_append_new(arr, o) != 0)
            return oom(err);
        add_engine(c->r, o);
        rc = cursor_next(c, err);
    }
    return rc;
}

static int add_interactions(cursor *c, const char *id, json_t *arr, tia_error *err)
{
    int rc = 0;
    while (rc == 0 && cursor_at(c, 1, id, &rc, err)) {
        tia__rows *r = c->r;
        /* Borrowed column texts: the record is encoded before the next step. */
        tia_interaction it;
        memset(&it, 0, sizeof it);
        snprintf(it.id, sizeof it.id, "%s", tia__col_text(r, 0));
        snprintf(it.workflow_id, sizeof it.workflow_id, "%s", id);
        it.from_agent_id = (char *)tia__col_text(r, 2);
        it.to_agent_id = (char *)tia__col_text(r, 3);
        it.from_agent_name = (char *)tia__col_text(r, 4);
        it.to_agent_name = (char *)tia__col_text(r, 5);
        it.interaction_type = (char *)tia__col_text(r, 6);
        it.message = (char *)tia__col_text(r, 7);
        it.payload = (char *)tia__col_text(r, 8);
        it.created_at = tia__col_time(r, 9);
        json_t *o = tia__json_interaction(&it);
        if (o == NULL || json_array_append_new(arr, o) != 0)
            return oom(err);
        rc = cursor_next(c, err);
    }
    return rc;
}

static int add_deps(cursor *c, const char *id, json_t *arr, int64_t *n, tia_error *err)
{
    int rc = 0;
    while (rc == 0 && cursor_at(c, 0, id, &rc, err)) {
        json_t *o = json_object();
        if (o == NULL || json_array_append_new(arr, o) != 0)
            return oom(err);
        tia__jstr(o, "task_id", tia__col_text(c->r, 1));
        tia__jstr(o, "depends_on", tia__col_text(c->r, 2));
        (*n)++;
        rc = cursor_next(c, err);
    }
    return rc;
}

int tia__ar_documents(tia_store *s, int from_archive, const char *ids_param, tia__ar_doc_fn fn,
                      void *ctx, int64_t *dependencies, tia_error *err)
{
    int k = from_archive ? 1 : 0;
    cursor wf = {0}, tasks = {0}, inter = {0}, deps = {0};
    int64_t ndeps = 0;
    json_t *doc = NULL;
    int rc = cursor_open(s, &sql_wf[k], ids_param, &wf, err);
    if (rc == 0)
        rc = cursor_open(s, &sql_tasks[k], ids_param, &tasks, err);
    if (rc == 0)
        rc = cursor_open(s, &sql_inter[k], ids_param, &inter, err);
    if (rc == 0)
        rc = cursor_open(s, &sql_deps[k], ids_param, &deps, err);
    while (rc == 0 && wf.have) {
        tia_workflow *w = NULL;
        tia__rows_set_base(wf.r, 0);
        if ((rc = tia__workflow_from_row(wf.r, &w, err)) != 0)
            break;
        tia_time_us archived_at = tia__col_time(wf.r, TIA__WORKFLOW_NCOLS);
        doc = tia__json_workflow(w);
        json_t *t = json_array(), *i = json_array(), *d = json_array();
        if (doc != NULL) {
            tia__jtime(doc, "archived_at", archived_at);
            tia__jstr(doc, "idempotency_key", tia__col_text(wf.r, TIA__WORKFLOW_NCOLS + 1));
        }
        if (doc == NULL) {
            json_decref(t);
            json_decref(i);
            json_decref(d);
            tia_workflow_free(w);
            rc = oom(err);
            break;
        }
        if (json_object_set_new(doc, "tasks", t) != 0 ||
            json_object_set_new(doc, "interactions", i) != 0 ||
            json_object_set_new(doc, "dependencies", d) != 0) {
            tia_workflow_free(w);
            rc = oom(err);
            break;
        }
        if ((rc = add_tasks(&tasks, w->id, t, err)) == 0 &&
            (rc = add_interactions(&inter, w->id, i, err)) == 0 &&
            (rc = add_deps(&deps, w->id, d, &ndeps, err)) == 0)
            rc = fn(ctx, w->id, doc, err);
        tia_workflow_free(w);
        json_decref(doc);
        doc = NULL;
        if (rc == 0)
            rc = cursor_next(&wf, err);
    }
    json_decref(doc);
    tia__rows_free(wf.r);
    tia__rows_free(tasks.r);
    tia__rows_free(inter.r);
    tia__rows_free(deps.r);
    if (dependencies != NULL)
        *dependencies = ndeps;
    return rc;
}
