/*
 * The workflows table. The library writes a workflow's identity, description and
 * status; the database triggers own its counters, so no statement here names
 * them. Status changes follow tia_run_transition_ok and take their timestamps
 * from the database clock inside the UPDATE (one clock, one instant for every
 * timestamp of a change). The change is conditional on the status that was read,
 * so two racing writers cannot both move the same workflow. Lists are keyset
 * pages, newest first, so rows inserted between pages never shift a page.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/workflows.h>

#include "core/validate.h"
#include "core/vec.h"
#include "store/cursor.h"
#include "store/db.h"
#include "store/records.h"

static const tia__sql sql_insert = {
    "workflow.insert",
    "INSERT INTO workflows (id, name, description, workflow_type, initiator, metadata) "
    "VALUES ($1::uuid, $2, $3, $4, $5, $6::jsonb)",
    "INSERT INTO workflows (id, name, description, workflow_type, initiator, metadata) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
};

/* PG_WORKFLOW_COLS statements are read in binary format (records.h). */
static const tia__sql sql_get = {
    .name = "workflow.get",
    .pg = PG_WORKFLOW_COLS "WHERE id = $1::uuid",
    .sqlite = LITE_WORKFLOW_COLS "WHERE id = ?1",
    .binary = 1,
};

/*
 * Every filter is optional: a NULL parameter switches its condition off. On
 * PostgreSQL the order names workflows.id: a bare "id" would be the id::text
 * output column, sorted as text under the database's collation, while the keyset
 * condition compares uuids.
 */
static const tia__sql sql_list = {
    "workflow.list",
    PG_WORKFLOW_COLS "WHERE ($1::text IS NULL OR status = $1) "
                     "AND ($2::text IS NULL OR workflow_type = $2) "
                     "AND ($3::int8 IS NULL OR created_at >= " TIA_PG_TS(
                         3) ") "
                            "AND ($4::int8 IS NULL OR created_at < " TIA_PG_TS(
                                4) ") "
                                   "AND ($5::int8 IS NULL OR (created_at, id) < (" TIA_PG_TS(
                                       5) ", $6::uuid)) "
                                          "ORDER BY created_at DESC, workflows.id DESC LIMIT $7::int8",
    LITE_WORKFLOW_COLS "WHERE (?1 IS NULL OR status = ?1) "
                       "AND (?2 IS NULL OR workflow_type = ?2) "
                       "AND (?3 IS NULL OR created_at >= ?3) "
                       "AND (?4 IS NULL OR created_at < ?4) "
                       "AND (?5 IS NULL OR (created_at, id) < (?5, ?6)) "
                       "ORDER BY created_at DESC, id DESC LIMIT ?7",
    .binary = 1,
};

static const tia__sql sql_status = {
    "workflow.status",
    "SELECT status FROM workflows WHERE id = $1::uuid",
    "SELECT status FROM workflows WHERE id = ?1",
};

/*
 * $3 is the new status, $2 the one it was read in. duration_ms of a completed
 * workflow is left to the seed's trigger; failed and cancelled ones get it here,
 * rounded to the nearest millisecond as the trigger rounds, and capped to the
 * column's INTEGER range as the trigger is since PostgreSQL 0015 / SQLite 0014.
 */
static const tia__sql sql_set_status = {
    "workflow.set_status",
    "UPDATE workflows SET status = $3::text, "
    "started_at = CASE WHEN $3::text = 'running' THEN statement_timestamp() ELSE started_at END, "
    "completed_at = CASE WHEN $3::text IN ('completed', 'failed', 'cancelled') "
    "THEN statement_timestamp() ELSE completed_at END, "
    "duration_ms = CASE WHEN $3::text IN ('failed', 'cancelled') AND started_at IS NOT NULL "
    "THEN LEAST(round(extract(epoch from (statement_timestamp() - started_at)) * 1000), "
    "2147483647)::int "
    "ELSE duration_ms END "
    "WHERE id = $1::uuid AND status = $2::text",
    "UPDATE workflows SET status = ?3, "
    "started_at = CASE WHEN ?3 = 'running' THEN " TIA_SQLITE_NOW " ELSE started_at END, "
    "completed_at = CASE WHEN ?3 IN ('completed', 'failed', 'cancelled') "
    "THEN " TIA_SQLITE_NOW " ELSE completed_at END, "
    "duration_ms = CASE WHEN ?3 IN ('failed', 'cancelled') AND started_at IS NOT NULL "
    "THEN MIN(CAST(round((" TIA_SQLITE_NOW " - started_at) / 1000.0) AS INTEGER), 2147483647) "
    "ELSE duration_ms END "
    "WHERE id = ?1 AND status = ?2",
};

static const tia__sql sql_delete = {
    "workflow.delete",
    "DELETE FROM workflows WHERE id = $1::uuid",
    "DELETE FROM workflows WHERE id = ?1",
};

void tia_workflow_free(tia_workflow *w)
{
    if (w == NULL)
        return;
    free(w->name);
    free(w->description);
    free(w->workflow_type);
    free(w->initiator);
    free(w->metadata);
    free(w);
}

void tia_workflow_list_free(struct tia_workflow_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        tia_workflow_free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
    l->next_cursor[0] = '\0';
}

/* Decodes the current row (PG_WORKFLOW_COLS / LITE_WORKFLOW_COLS) into a new workflow. */
int tia__workflow_from_row(tia__rows *r, tia_workflow **out, tia_error *err)
{
    int oom = 0, rc = 0;
    tia_workflow *w = calloc(1, sizeof *w);
    if (w == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory reading a workflow");
    const char *id = tia__col_text(r, 0);
    snprintf(w->id, sizeof w->id, "%s", id ? id : "");
    w->name = tia__col_dup(r, 1, &oom);
    w->description = tia__col_dup(r, 2, &oom);
    w->workflow_type = tia__col_dup(r, 4, &oom);
    w->initiator = tia__col_dup(r, 5, &oom);
    w->total_tasks = tia__col_int(r, 6);
    w->completed_tasks = tia__col_int(r, 7);
    w->failed_tasks = tia__col_int(r, 8);
    w->started_at = tia__col_time(r, 9);
    w->completed_at = tia__col_time(r, 10);
    w->duration_ms = tia__col_isnull(r, 11) ? -1 : tia__col_int(r, 11);
    w->total_tokens_used = tia__col_int(r, 12);
    w->total_cost_micros = tia__col_cost(r, 13);
    w->created_at = tia__col_time(r, 14);
    w->updated_at = tia__col_time(r, 15);
    w->metadata = tia__col_dup(r, 16, &oom);
    if (oom)
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading a workflow");
    else if (tia_run_status_parse(tia__col_text(r, 3), &w->status) != 0)
        rc =
            tia_error_set(err, TIA_EDB, "workflow %s has an unknown status in the database", w->id);
    if (rc != 0) {
        tia_workflow_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

static int check_new(const tia_workflow_new *w, tia_error *err)
{
    int rc;
    if (w == NULL)
        return tia_error_set(err, TIA_EINVAL, "workflow is required");
    if ((rc = tia__check_text(err, "name", w->name, TIA_WORKFLOW_NAME_MAX, 1)) != 0 ||
        (rc = tia__check_text(err, "description", w->description, 0, 0)) != 0 ||
        (rc = tia__check_text(err, "workflow_type", w->workflow_type, TIA_WORKFLOW_TYPE_MAX, 0)) !=
            0 ||
        (rc = tia__check_text(err, "initiator", w->initiator, TIA_INITIATOR_MAX, 0)) != 0 ||
        (rc = tia__check_json(err, "metadata", w->metadata, 0)) != 0)
        return rc;
    return 0;
}

int tia_workflow_create(tia_store *s, const tia_workflow_new *w, char id_out[TIA_UUID_BUF],
                        tia_error *err)
{
    if (id_out != NULL)
        id_out[0] = '\0';
    int rc = check_new(w, err);
    if (rc != 0)
        return rc;
    char id[TIA_UUID_BUF];
    tia__store_uuid7(s, id);
    tia__param v[6] = {tia__p_text(id),
                       tia__p_text(w->name),
                       tia__p_text(w->description),
                       tia__p_text(w->workflow_type),
                       tia__p_text(w->initiator),
                       tia__p_text(w->metadata ? w->metadata : "{}")};
    if ((rc = tia__db_exec(s, &sql_insert, v, 6, NULL, err)) != 0)
        return rc;
    if (id_out != NULL)
        memcpy(id_out, id, TIA_UUID_BUF);
    return 0;
}

int tia_workflow_get(tia_store *s, const char *id, tia_workflow **out, tia_error *err)
{
    *out = NULL;
    char key[TIA_UUID_BUF];
    int rc = tia__check_uuid(err, "workflow id", id, 1, key);
    if (rc != 0)
        return rc;
    tia__rows *r = NULL;
    tia__param v = tia__p_text(key);
    if ((rc = tia__db_query(s, &sql_get, &v, 1, &r, err)) != 0)
        goto done;
    rc = tia__rows_next(r, err);
    if (rc == 0)
        rc = tia_error_set(err, TIA_ENOTFOUND, "workflow %s not found", key);
    else if (rc > 0)
        rc = tia__workflow_from_row(r, out, err);
done:
    tia__rows_free(r);
    return rc;
}

/* The bound values of a page query; after_id holds the cursor's id. */
typedef struct list_args {
    tia__param v[7];
    char after_id[TIA_UUID_BUF];
    size_t limit;
} list_args;

static int list_args_init(const tia_workflow_filter *f, list_args *a, tia_error *err)
{
    const char *status = NULL;
    tia_time_us after = TIA_TIME_NONE;
    int rc;
    if (f->status != NULL && (status = tia_run_status_name(*f->status)) == NULL)
        return tia_error_set(err, TIA_EINVAL, "status %d is not a workflow status",
                             (int)*f->status);
    if ((rc = tia__check_text(err, "workflow_type", f->workflow_type, TIA_WORKFLOW_TYPE_MAX, 0)) ||
        (rc = tia__check_limit(err, f->limit, &a->limit)))
        return rc;
    a->after_id[0] = '\0';
    if (f->cursor != NULL && f->cursor[0] != '\0' &&
        (rc = tia__cursor_decode(f->cursor, &after, a->after_id, err)) != 0)
        return rc;
    a->v[0] = tia__p_text(status);
    a->v[1] = tia__p_text(f->workflow_type);
    a->v[2] = tia__p_time(f->created_after);
    a->v[3] = tia__p_time(f->created_before);
    a->v[4] = tia__p_time(after);
    a->v[5] = tia__p_text(after == TIA_TIME_NONE ? NULL : a->after_id);
    /* One row more than the page tells whether another page follows. */
    a->v[6] = tia__p_int((int64_t)a->limit + 1);
    return 0;
}

int tia_workflow_list(tia_store *s, const tia_workflow_filter *f, struct tia_workflow_list *out,
                      tia_error *err)
{
    out->n = 0;
    out->items = NULL;
    out->next_cursor[0] = '\0';
    static const tia_workflow_filter none = {NULL, NULL, TIA_TIME_NONE, TIA_TIME_NONE, 0, NULL};
    list_args a;
    tia__rows *r = NULL;
    size_t cap = 0;
    int more = 0;
    int rc = list_args_init(f ? f : &none, &a, err);
    if (rc != 0 || (rc = tia__db_read(s, &sql_list, a.v, 7, &r, err)) != 0)
        goto done;
    while ((rc = tia__rows_next(r, err)) > 0) {
        if (out->n == a.limit) {
            more = 1;
            continue; /* step to the end so the backend reports errors, if any */
        }
        tia_workflow *w = NULL;
        if ((rc = tia__workflow_from_row(r, &w, err)) != 0)
            goto done;
        if (tia__vec_push((void ***)&out->items, &out->n, &cap, w) != 0) {
            tia_workflow_free(w);
            rc = tia_error_set(err, TIA_ENOMEM, "out of memory listing workflows");
            goto done;
        }
    }
    if (rc == 0 && more) {
        const tia_workflow *last = out->items[out->n - 1];
        tia__cursor_encode(last->created_at, last->id, out->next_cursor);
    }
done:
    tia__rows_free(r);
    if (rc < 0)
        tia_workflow_list_free(out);
    return rc < 0 ? rc : 0;
}

/* Reads a workflow's status; TIA_ENOTFOUND when it does not exist. */
static int read_status(tia_store *s, const char *id, tia_run_status *out, tia_error *err)
{
    tia__rows *r = NULL;
    tia__param v = tia__p_text(id);
    int rc = tia__db_query(s, &sql_status, &v, 1, &r, err);
    if (rc != 0)
        goto done;
    rc = tia__rows_next(r, err);
    if (rc == 0)
        rc = tia_error_set(err, TIA_ENOTFOUND, "workflow %s not found", id);
    else if (rc > 0 && tia_run_status_parse(tia__col_text(r, 0), out) != 0)
        rc = tia_error_set(err, TIA_EDB, "workflow %s has an unknown status in the database", id);
    else if (rc > 0)
        rc = 0;
done:
    tia__rows_free(r);
    return rc;
}

int tia_workflow_set_status(tia_store *s, const char *id, tia_run_status to, tia_error *err)
{
    char key[TIA_UUID_BUF];
    tia_run_status from;
    int64_t changed = 0;
    int rc = tia__check_uuid(err, "workflow id", id, 1, key);
    if (rc != 0)
        return rc;
    if (tia_run_status_name(to) == NULL)
        return tia_error_set(err, TIA_EINVAL, "status %d is not a workflow status", (int)to);
    if ((rc = read_status(s, key, &from, err)) != 0)
        return rc;
    if (!tia_run_transition_ok(from, to))
        return tia_error_set(err, TIA_ECONFLICT, "workflow %s: illegal transition %s -> %s", key,
                             tia_run_status_name(from), tia_run_status_name(to));
    tia__param v[3] = {tia__p_text(key), tia__p_text(tia_run_status_name(from)),
                       tia__p_text(tia_run_status_name(to))};
    if ((rc = tia__db_exec(s, &sql_set_status, v, 3, &changed, err)) != 0)
        return rc;
    if (changed > 0)
        return 0;
    /* Someone changed or deleted the row between the read and the update. */
    tia_run_status now;
    if ((rc = read_status(s, key, &now, err)) != 0)
        return rc;
    return tia_error_set(err, TIA_ECONFLICT,
                         "workflow %s changed concurrently: it is now %s, not %s; nothing written",
                         key, tia_run_status_name(now), tia_run_status_name(from));
}

int tia_workflow_delete(tia_store *s, const char *id, tia_error *err)
{
    char key[TIA_UUID_BUF];
    int64_t changed = 0;
    int rc = tia__check_uuid(err, "workflow id", id, 1, key);
    if (rc != 0)
        return rc;
    tia__param v = tia__p_text(key);
    rc = tia__db_exec(s, &sql_delete, &v, 1, &changed, err);
    /* agent_tasks.parent_task_id has no ON DELETE rule: a task outside the workflow blocks it. */
    if (rc == TIA_ENOTFOUND)
        return tia_error_set(err, TIA_ECONFLICT,
                             "workflow %s cannot be deleted: a task outside it has one of its "
                             "tasks as parent; delete or re-parent that task first",
                             key);
    if (rc == 0 && changed == 0)
        rc = tia_error_set(err, TIA_ENOTFOUND, "workflow %s not found", key);
    return rc;
}
