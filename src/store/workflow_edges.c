/*
 * The dependency edges between a workflow's tasks (task_dependencies, written
 * by the engine at submission), for whoever draws the workflow's task graph.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/workflows.h>

#include "core/validate.h"
#include "store/db.h"

static const tia__sql sql_edges = {
    "workflow.edges",
    "SELECT d.task_id::text, d.depends_on::text FROM task_dependencies d "
    "JOIN agent_tasks t ON t.id = d.task_id WHERE t.workflow_id = $1::uuid "
    "ORDER BY 1, 2 LIMIT $2",
    "SELECT d.task_id, d.depends_on FROM task_dependencies d "
    "JOIN agent_tasks t ON t.id = d.task_id WHERE t.workflow_id = ?1 ORDER BY 1, 2 LIMIT ?2",
};

void tia_task_edge_list_free(struct tia_task_edge_list *l)
{
    if (l == NULL)
        return;
    free(l->items);
    memset(l, 0, sizeof *l);
}

int tia_workflow_edges(tia_store *s, const char *workflow_id, size_t max,
                       struct tia_task_edge_list *out, tia_error *err)
{
    tia__rows *rows = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    char key[TIA_UUID_BUF];
    /* Lowercased, as stored: SQLite compares the text, where PostgreSQL casts to uuid. */
    if ((rc = tia__check_uuid(err, "workflow_id", workflow_id, 1, key)) != 0)
        return rc;
    if (max < 1 || max > TIA_WORKFLOW_EDGES_MAX)
        return tia_error_set(err, TIA_EINVAL, "max must be 1..%d", TIA_WORKFLOW_EDGES_MAX);
    tia__param p[] = {tia__p_text(key), tia__p_int((int64_t)max + 1)};
    if ((rc = tia__db_query(s, &sql_edges, p, 2, &rows, err)) != 0)
        goto done;
    size_t cap = 0;
    while ((rc = tia__rows_next(rows, err)) == 1) {
        if (out->n == max) {
            out->truncated = 1;
            break;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            tia_task_edge *p2 = realloc(out->items, cap * sizeof *p2);
            if (p2 == NULL) {
                rc = tia_error_set(err, TIA_ENOMEM, "out of memory");
                goto done;
            }
            out->items = p2;
        }
        tia_task_edge *e = &out->items[out->n++];
        snprintf(e->task_id, sizeof e->task_id, "%s", tia__col_text(rows, 0));
        snprintf(e->depends_on, sizeof e->depends_on, "%s", tia__col_text(rows, 1));
    }
    if (rc > 0)
        rc = 0;
done:
    tia__rows_free(rows);
    if (rc != 0)
        tia_task_edge_list_free(out);
    return rc;
}
