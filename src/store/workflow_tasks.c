/*
 * A workflow with its tasks in one round trip: the seed's "Get workflow with
 * tasks" query pattern. The workflow's columns and each task's columns come side
 * by side in one joined row, decoded by the same decoders as the single-table
 * reads (the task decoder reads from column TIA__WORKFLOW_NCOLS on).
 */
#include <stdlib.h>
#include <string.h>

#include "core/validate.h"
#include "core/vec.h"
#include "store/records.h"

/*
 * No ORDER BY: a workflow's tasks are few, and sorting them in C (by_creation)
 * is cheaper than the sort step the database would add after its index scan.
 */
/* Binary rows on PostgreSQL (tia__sql.binary): no text conversion of the timestamps. */
static const tia__sql sql_with_tasks = {
    .name = "workflow.get_with_tasks",
    .pg = "SELECT * FROM (" PG_WORKFLOW_COLS "WHERE id = $1::uuid) w LEFT JOIN (SELECT " COLS_PG_BIN
          " FROM agent_tasks WHERE workflow_id = $1::uuid) t ON true",
    .sqlite = "SELECT * FROM (" LITE_WORKFLOW_COLS "WHERE id = ?1) w LEFT JOIN (SELECT " COLS_LITE
              " FROM agent_tasks WHERE workflow_id = ?1) t ON 1",
    .binary = 1,
};

/* Oldest first; the id breaks ties, as in every list of the store. */
static int by_creation(const void *a, const void *b)
{
    const tia_task *x = *(tia_task *const *)a, *y = *(tia_task *const *)b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Decodes one joined row: the workflow once, then the task when there is one. */
static int read_row(tia__rows *r, tia_workflow **wf, void ***items, size_t *n, size_t *cap,
                    tia_error *err)
{
    int rc = 0;
    tia__rows_set_base(r, 0);
    if (*wf == NULL && (rc = tia__workflow_from_row(r, wf, err)) != 0)
        return rc;
    tia__rows_set_base(r, TIA__WORKFLOW_NCOLS);
    if (tia__col_isnull(r, C_ID)) /* a workflow without tasks */
        return 0;
    tia_task *t = NULL;
    if ((rc = tia__task_from_row(r, &t, err)) != 0)
        return rc;
    if (tia__vec_push(items, n, cap, t) != 0) {
        tia_task_free(t);
        return tia_error_set(err, TIA_ENOMEM, "out of memory reading a workflow's tasks");
    }
    return 0;
}

int tia_workflow_get_with_tasks(tia_store *s, const char *id, tia_workflow **wf,
                                struct tia_task_list *tasks, tia_error *err)
{
    char key[TIA_UUID_BUF];
    tia__rows *r = NULL;
    void **items = NULL;
    size_t n = 0, cap = 0;
    *wf = NULL;
    tasks->n = 0;
    tasks->items = NULL;
    tasks->next_cursor[0] = '\0';
    int rc = tia__check_uuid(err, "workflow id", id, 1, key);
    if (rc != 0)
        return rc;
    tia__param p = tia__p_text(key);
    if ((rc = tia__db_query(s, &sql_with_tasks, &p, 1, &r, err)) != 0)
        goto done;
    while ((rc = tia__rows_next(r, err)) > 0)
        if ((rc = read_row(r, wf, &items, &n, &cap, err)) != 0)
            break;
    if (rc == 0 && *wf == NULL)
        rc = tia_error_set(err, TIA_ENOTFOUND, "workflow %s not found", key);
    if (rc == 0 && n > 1)
        qsort(items, n, sizeof *items, by_creation);
done:
    tia__rows_free(r);
    tasks->items = (tia_task **)items;
    tasks->n = n;
    if (rc < 0) {
        tia_workflow_free(*wf);
        *wf = NULL;
        tia_task_list_free(tasks);
    }
    return rc < 0 ? rc : 0;
}
