/*
 * Per-agent totals for monitoring (tia_stats_totals): what a Prometheus scrape
 * reads every few seconds, so it must cost little at a million tasks. Tasks by
 * status, tokens and cost come from agent_task_totals, which the counter
 * triggers of migration 0002 keep; the queue depth is a count per agent over
 * idx_tasks_ready, the partial index that holds only pending tasks whose
 * dependencies are done, so it reads the queue, not the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/stats.h>

#include "store/db.h"

/* clang-format off */
#define TOTALS_SQL(cost, ready_from)                                                               \
    "SELECT a.id, a.model, COALESCE(t.pending, 0), COALESCE(t.running, 0), "                       \
    "COALESCE(t.completed, 0), COALESCE(t.failed, 0), COALESCE(t.cancelled, 0), "                  \
    "(SELECT count(*) FROM " ready_from " WHERE r.agent_id = a.id AND r.status = 'pending' "       \
    "AND r.deps_pending = 0), COALESCE(t.tokens, 0), COALESCE(t." cost ", 0) "                     \
    "FROM agents a LEFT JOIN agent_task_totals t ON t.agent_id = a.id ORDER BY a.id"

static const tia__sql sql_totals = {
    "stats.totals",
    TOTALS_SQL("cost_usd", "agent_tasks r"),
    TOTALS_SQL("cost_usd_micros", "agent_tasks r INDEXED BY idx_tasks_ready"),
};
/* clang-format on */

void tia_agent_totals_list_free(tia_agent_totals_list *l)
{
    if (l == NULL)
        return;
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

int tia_stats_totals(tia_store *s, tia_agent_totals_list *out, tia_error *err)
{
    tia__rows *r = NULL;
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    int rc = tia__db_read(s, &sql_totals, NULL, 0, &r, err);
    if (rc != 0)
        goto done;
    while ((rc = tia__rows_next(r, err)) > 0) {
        if (out->n == cap) {
            size_t c = cap ? cap * 2 : 16;
            tia_agent_totals *grown = realloc(out->items, c * sizeof *grown);
            if (grown == NULL) {
                rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading agent totals");
                break;
            }
            out->items = grown;
            cap = c;
        }
        tia_agent_totals *t = &out->items[out->n++];
        memset(t, 0, sizeof *t);
        const char *id = tia__col_text(r, 0), *model = tia__col_text(r, 1);
        snprintf(t->id, sizeof t->id, "%s", id ? id : "");
        snprintf(t->model, sizeof t->model, "%s", model ? model : "");
        t->pending = tia__col_int(r, 2);
        t->running = tia__col_int(r, 3);
        t->completed = tia__col_int(r, 4);
        t->failed = tia__col_int(r, 5);
        t->cancelled = tia__col_int(r, 6);
        t->ready = tia__col_int(r, 7);
        t->tokens = tia__col_int(r, 8);
        t->cost_micros = tia__col_cost(r, 9);
    }
done:
    tia__rows_free(r);
    if (rc < 0)
        tia_agent_totals_list_free(out);
    return rc < 0 ? rc : 0;
}
