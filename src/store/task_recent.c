/*
 * The first pages of several agents' tasks at once (tia_task_list_recent). The
 * API server answers the recent-tasks requests for different agents that wait
 * together with one call (api/share.c's groups): on PostgreSQL one statement
 * reads every agent's page, each with its own index scan, where one statement
 * per agent cost the server a round trip, a parse of the protocol messages, a
 * snapshot and an executor start each.
 *
 * Each page is read as tia_task_list reads a first page: by created_at alone,
 * one row more than the page, with the row count a literal (records.h,
 * TIA__LIST_FETCH). When that extra row ties with the page's last one, the
 * agent's page is read again alone with tia_task_list, which settles the tie by
 * id. SQLite runs in the process, with no round trip to save: there each page
 * is tia_task_list's.
 */
#include <stdlib.h>
#include <string.h>

#include <tokyoia/tasks.h>

#include "core/validate.h"
#include "core/vec.h"
#include "store/cursor.h"
#include "store/db.h"
#include "store/records.h"

/*
 * $1: the agent ids as a JSON array (bound as one parameter, whatever their
 * text); each row carries its agent's position in it (k, from 1), after the
 * task's columns.
 */
#define RECENT_SQL(rows, lim)                                                                      \
    {.name = "task.recent_" lim,                                                                   \
     .pg =                                                                                         \
         "SELECT t.*, a.k FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS a(id, k) "  \
         "CROSS JOIN LATERAL (SELECT " COLS_PG_BIN " FROM agent_tasks WHERE agent_id = a.id "      \
         "ORDER BY created_at DESC LIMIT " lim ") t",                                              \
     .binary = 1},
#define RECENT_ROWS(rows, lim) rows,
static const tia__sql sql_recent[] = {TIA__LIST_FETCH(RECENT_SQL)};
static const size_t recent_rows[] = {TIA__LIST_FETCH(RECENT_ROWS)};
#define RECENT_BUCKETS (sizeof recent_rows / sizeof recent_rows[0])
#define C_K (C_METADATA + 1)

static void free_all(struct tia_task_list *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tia_task_list_free(&out[i]);
}

/* Adds the current row to its agent's rows (caps: each list's capacity). */
static int take_row(tia__rows *r, size_t n, struct tia_task_list *out, size_t *caps, tia_error *err)
{
    int64_t k = tia__col_int(r, C_K);
    if (k < 1 || (uint64_t)k > n)
        return tia_error_set(err, TIA_EDB, "task.recent: a row of no agent asked for (%lld)",
                             (long long)k);
    struct tia_task_list *l = &out[k - 1];
    tia_task *t = NULL;
    int rc = tia__task_from_row(r, &t, err);
    if (rc != 0)
        return rc;
    if (tia__vec_push((void ***)&l->items, &l->n, &caps[k - 1], t) != 0) {
        tia_task_free(t);
        return tia_error_set(err, TIA_ENOMEM, "out of memory listing tasks");
    }
    return 0;
}

/*
 * Orders a page read with its extra row and cuts it to limit. Returns 1 when
 * the extra row ties with the page's last one (the page must be read again),
 * else 0.
 */
static int settle_page(struct tia_task_list *l, size_t limit)
{
    tia__vec_sort((void **)l->items, l->n, tia__task_newer);
    if (l->n <= limit)
        return 0;
    const tia_task *last = l->items[limit - 1], *extra = l->items[limit];
    if (extra->created_at == last->created_at)
        return 1;
    for (size_t i = limit; i < l->n; i++)
        tia_task_free(l->items[i]);
    l->n = limit;
    tia__cursor_encode(last->created_at, last->id, l->next_cursor);
    return 0;
}

/* Each agent's page read alone (SQLite; a page with a tie at its edge). */
static int read_alone(tia_store *s, const char *id, size_t limit, struct tia_task_list *l,
                      tia_error *err)
{
    tia_task_filter f = {id, NULL, NULL, limit, NULL};
    tia_task_list_free(l);
    return tia_task_list(s, &f, l, err);
}

int tia_task_list_recent(tia_store *s, const char *const *agent_ids, size_t n, size_t limit,
                         struct tia_task_list *out, tia_error *err)
{
    size_t lim, caps[TIA_RECENT_MAX] = {0}, bucket = 0;
    char *json = NULL;
    tia__rows *r = NULL;
    int rc = 0;
    if (n > TIA_RECENT_MAX)
        return tia_error_set(err, TIA_EINVAL, "at most %d agents at once, not %zu", TIA_RECENT_MAX,
                             n);
    memset(out, 0, n * sizeof *out);
    if ((rc = tia__check_limit(err, limit, &lim)) != 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = tia__check_text(err, "agent_id", agent_ids[i], TIA_AGENT_ID_MAX, 1)) != 0)
            return rc;
    if (n == 0)
        return 0;
    if (n == 1 || tia_store_backend(s) != TIA_BACKEND_POSTGRES) {
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = read_alone(s, agent_ids[i], lim, &out[i], err);
        goto done;
    }
    while (bucket + 1 < RECENT_BUCKETS && recent_rows[bucket] < lim + 1)
        bucket++;
    if ((json = tia__json_strings(agent_ids, n)) == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory listing tasks");
        goto done;
    }
    tia__param p = tia__p_text(json);
    if ((rc = tia__db_read(s, &sql_recent[bucket], &p, 1, &r, err)) != 0)
        goto done;
    while ((rc = tia__rows_next(r, err)) > 0)
        if ((rc = take_row(r, n, out, caps, err)) != 0)
            break;
    tia__rows_free(r);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (settle_page(&out[i], lim))
            rc = read_alone(s, agent_ids[i], lim, &out[i], err);
done:
    free(json);
    if (rc < 0)
        free_all(out, n);
    return rc < 0 ? rc : 0;
}
