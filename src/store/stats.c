/*
 * Aggregates over tasks. tia_stats_agents answers the agent_stats view from
 * agent_task_totals (kept by the triggers of migration 0002), so it costs one
 * row per agent instead of a scan of agent_tasks; its SQL repeats the view's
 * arithmetic on each backend (PostgreSQL: NUMERIC division then float8; SQLite:
 * REAL division) so that both give the view's numbers bit for bit. The window
 * statistics are the seed's "Get agent statistics" query with the window as a
 * parameter; idx_tasks_agent_status (agent_id, status, created_at DESC) serves it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/stats.h>

#include "core/validate.h"
#include "store/db.h"

/*
 * As the view: total = every task; AVG(duration_ms) is sum/count (PostgreSQL's
 * int8_avg divides NUMERICs; SQLite's avg divides doubles); success_rate is
 * ROUND(100.0 * completed / total, 2) over integers, 100.0 with no tasks. The
 * LEFT JOIN keeps an agent whose totals row is missing, as the view would.
 */
#define TOTAL "(t.pending + t.running + t.completed + t.failed + t.cancelled)"
#define RATE                                                                                       \
    "CASE WHEN COALESCE(" TOTAL ", 0) = 0 THEN 100.0 "                                             \
    "ELSE ROUND(100.0 * t.completed / " TOTAL ", 2) END"
#define AGENTS_SQL(cost, avg, rate)                                                                \
    "SELECT a.id, a.name, a.role, a.status, COALESCE(" TOTAL ", 0), COALESCE(t.completed, 0), "    \
    "COALESCE(t.failed, 0), COALESCE(t.tokens, 0), " cost ", "                                     \
    "CASE WHEN COALESCE(t.duration_n, 0) = 0 THEN 0.0 ELSE " avg " END, " rate " "                 \
    "FROM agents a LEFT JOIN agent_task_totals t ON t.agent_id = a.id ORDER BY a.id"

/*
 * Binary rows on PostgreSQL (tia__sql.binary): the counts and the average come
 * as bytes, not digits to parse, the cost as a binary NUMERIC (tia__col_cost);
 * the rounded rate becomes float8 on the server, the same conversion (the
 * NUMERIC's digits to the nearest double) the client made from its text.
 */
static const tia__sql sql_agents = {
    .name = "stats.agents",
    .pg = AGENTS_SQL("COALESCE(t.cost_usd, 0)", "(t.duration_sum::numeric / t.duration_n)::float8",
                     "(" RATE ")::float8"),
    .sqlite = AGENTS_SQL("COALESCE(t.cost_usd_micros, 0)",
                         "CAST(t.duration_sum AS REAL) / t.duration_n", RATE),
    .binary = 1,
};

/*
 * The seed's "Get agent statistics" query with the window as a parameter: the
 * completed tasks of the agent created after NOW() - window (no upper bound, as
 * in the seed: SQLite's default created_at is rounded to the millisecond and may
 * lie a fraction of one ahead of 'now'). The tasks before the first whole UTC
 * hour of the window are read from agent_tasks, the rest from agent_task_hours
 * (migrations PostgreSQL 0014, SQLite 0012), so the cost is one hour of the
 * agent's tasks at most, whatever the window. The average is the seed's AVG of
 * an integer column: numeric sum / count on PostgreSQL, REAL on SQLite. Only
 * when it finds no task does a second statement tell an idle agent from an
 * unknown one.
 */
#define PG_WINDOW_START "(NOW() - $2::int8 * interval '1 microsecond')"
#define PG_WINDOW_EDGE "(date_bin('1 hour', " PG_WINDOW_START ", TIMESTAMPTZ 'epoch') + interval '1 hour')"
#define LITE_WINDOW_START "(" TIA_SQLITE_NOW " - ?2)"
#define LITE_WINDOW_EDGE "((" LITE_WINDOW_START " / 3600000000 + 1) * 3600000000)"
static const tia__sql sql_window = {
    "stats.agent_window",
    "SELECT COALESCE(SUM(n), 0)::int8, CASE WHEN COALESCE(SUM(dn), 0) = 0 THEN 0::float8 "
    "ELSE (SUM(ds)::numeric / SUM(dn))::float8 END, COALESCE(SUM(tk), 0)::int8, "
    "COALESCE(SUM(c), 0) FROM ("
    "SELECT COUNT(*) AS n, SUM(duration_ms) AS ds, COUNT(duration_ms) AS dn, "
    "SUM(tokens_used) AS tk, SUM(cost_usd) AS c FROM agent_tasks WHERE agent_id = $1 "
    "AND status = 'completed' AND created_at > " PG_WINDOW_START " AND created_at < "
    PG_WINDOW_EDGE " UNION ALL "
    "SELECT SUM(completed), SUM(duration_sum), SUM(duration_n), SUM(tokens), SUM(cost_usd) "
    "FROM agent_task_hours WHERE agent_id = $1 AND hour >= " PG_WINDOW_EDGE ") w",
    "SELECT COALESCE(SUM(n), 0), CASE WHEN COALESCE(SUM(dn), 0) = 0 THEN 0.0 "
    "ELSE CAST(SUM(ds) AS REAL) / SUM(dn) END, COALESCE(SUM(tk), 0), COALESCE(SUM(c), 0) FROM ("
    "SELECT COUNT(*) AS n, SUM(duration_ms) AS ds, COUNT(duration_ms) AS dn, "
    "SUM(tokens_used) AS tk, SUM(cost_usd_micros) AS c FROM agent_tasks WHERE agent_id = ?1 "
    "AND status = 'completed' AND created_at > " LITE_WINDOW_START " AND created_at < "
    LITE_WINDOW_EDGE " UNION ALL "
    "SELECT SUM(completed), SUM(duration_sum), SUM(duration_n), SUM(tokens), "
    "SUM(cost_usd_micros) FROM agent_task_hours WHERE agent_id = ?1 AND hour >= "
    LITE_WINDOW_EDGE ")",
};

static const tia__sql sql_agent_exists = {
    "stats.agent_exists",
    "SELECT 1 FROM agents WHERE id = $1",
    "SELECT 1 FROM agents WHERE id = ?1",
};

/* 1 when the agent exists, 0 when not, < 0 on error. */
static int agent_exists(tia_store *s, const char *agent_id, tia_error *err)
{
    tia__rows *r = NULL;
    tia__param p = tia__p_text(agent_id);
    int rc = tia__db_read(s, &sql_agent_exists, &p, 1, &r, err);
    if (rc == 0)
        rc = tia__rows_next(r, err);
    tia__rows_free(r);
    return rc;
}

void tia_agent_stats_list_free(tia_agent_stats_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].name);
        free(l->items[i].role);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* Reads the current row of sql_agents into st. */
static int read_agent_stats(tia__rows *r, tia_agent_stats *st, tia_error *err)
{
    int oom = 0;
    const char *id = tia__col_text(r, 0);
    snprintf(st->id, sizeof st->id, "%s", id ? id : "");
    st->name = tia__col_dup(r, 1, &oom);
    st->role = tia__col_dup(r, 2, &oom);
    if (oom)
        return tia_error_set(err, TIA_ENOMEM, "out of memory reading agent stats");
    const char *status = tia__col_text(r, 3);
    if (tia_agent_status_parse(status, &st->status) != 0)
        return tia_error_set(err, TIA_EDB, "agent %s has status '%s', which is not an agent status",
                             st->id, status ? status : "NULL");
    st->total_tasks = tia__col_int(r, 4);
    st->completed_tasks = tia__col_int(r, 5);
    st->failed_tasks = tia__col_int(r, 6);
    st->total_tokens = tia__col_int(r, 7);
    st->total_cost_micros = tia__col_cost(r, 8);
    st->avg_duration_ms = tia__col_double(r, 9);
    st->success_rate = tia__col_double(r, 10);
    return 0;
}

int tia_stats_agents(tia_store *s, tia_agent_stats_list *out, tia_error *err)
{
    tia__rows *r = NULL;
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    int rc = tia__db_read(s, &sql_agents, NULL, 0, &r, err);
    if (rc != 0)
        goto done;
    while ((rc = tia__rows_next(r, err)) > 0) {
        if (out->n == cap) {
            size_t c = cap ? cap * 2 : 16;
            tia_agent_stats *grown = realloc(out->items, c * sizeof *grown);
            if (grown == NULL) {
                rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading agent stats");
                break;
            }
            out->items = grown;
            cap = c;
        }
        tia_agent_stats *st = &out->items[out->n++];
        memset(st, 0, sizeof *st);
        if ((rc = read_agent_stats(r, st, err)) != 0)
            break;
    }
done:
    tia__rows_free(r);
    if (rc < 0)
        tia_agent_stats_list_free(out);
    return rc < 0 ? rc : 0;
}

int tia_stats_agent_window(tia_store *s, const char *agent_id, int64_t window_us,
                           tia_agent_window_stats *out, tia_error *err)
{
    tia__rows *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = tia__check_text(err, "agent_id", agent_id, TIA_AGENT_ID_MAX, 1);
    if (rc != 0)
        goto done;
    if (window_us <= 0 || window_us > TIA_STATS_WINDOW_MAX_US) {
        rc = tia_error_set(err, TIA_EINVAL, "window must be positive and at most 100 years");
        goto done;
    }
    tia__param p[2] = {tia__p_text(agent_id), tia__p_int(window_us)};
    if ((rc = tia__db_read(s, &sql_window, p, 2, &r, err)) != 0)
        goto done;
    if ((rc = tia__rows_next(r, err)) <= 0) {
        if (rc == 0)
            rc = tia_error_set(err, TIA_EDB, "stats.agent_window returned no row");
        goto done;
    }
    out->total_tasks = tia__col_int(r, 0);
    out->avg_latency_ms = tia__col_double(r, 1);
    out->total_tokens = tia__col_int(r, 2);
    out->total_cost_micros = tia__col_cost(r, 3);
    rc = 0;
    if (out->total_tasks == 0) {
        tia__rows_free(r);
        r = NULL;
        if ((rc = agent_exists(s, agent_id, err)) == 0)
            rc = tia_error_set(err, TIA_ENOTFOUND, "unknown agent '%s'", agent_id);
        rc = rc > 0 ? 0 : rc;
    }
done:
    tia__rows_free(r);
    return rc;
}
