/*
 * tia_metric_rollup: brings the hourly rollups of agent_metrics up to date
 * without slowing the writers. The insert path never touches the rollups; a
 * statement trigger marks an hour dirty when a point lands before
 * metric_rollup_state.late_before. A run therefore (1) moves late_before to the
 * last closed hour, so that from then on every point of the hours it is about to
 * roll is either seen by it or marks its hour, and on PostgreSQL waits until the
 * transactions that were writing before that move have ended (they may have
 * checked the old boundary); (2) recomputes the dirty hours before rolled_until,
 * clearing a mark only if no late point was added to it meanwhile (its count is
 * unchanged); (3) rolls the new hours a day per transaction, moving rolled_until
 * with each, so that series read rollups exactly for the hours that have them.
 * Rollup rows come from SQL (store/rollup.c), one statement per (agent, type)
 * pair, each reading that pair's points through the seed's index.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokyoia/maintain.h>

#include "ops/maintain_int.h"
#include "store/db.h"
#include "store/rollup.h"

#define DAY_US (24 * TIA__HOUR_US)
#define DEFAULT_GRACE_US INT64_C(60000000)
#define DEFAULT_WAIT_US INT64_C(30000000)
#define DIRTY_BATCH 24 /* dirty hours recomputed per transaction */

/* clang-format off */
static const tia__sql sql_state = {
    "rollup.state",
    "SELECT " TIA_PG_US("late_before") ", " TIA_PG_US("rolled_until")
    " FROM metric_rollup_state WHERE id = 1",
    "SELECT late_before, rolled_until FROM metric_rollup_state WHERE id = 1",
};

/* The first point, where the first rollup starts. */
static const tia__sql sql_first_point = {
    "rollup.first_point",
    "SELECT " TIA_PG_US("min(recorded_at)") " FROM agent_metrics",
    "SELECT min(recorded_at) FROM agent_metrics",
};

/* Moves late_before forward (never back); creates the row with rolled_until = $2. */
static const tia__sql sql_late_before = {
    "rollup.late_before",
    "INSERT INTO metric_rollup_state AS s (id, late_before, rolled_until) "
    "VALUES (1, $1::timestamptz, $2::timestamptz) ON CONFLICT (id) DO UPDATE "
    "SET late_before = GREATEST(s.late_before, EXCLUDED.late_before), "
    "rolled_until = COALESCE(s.rolled_until, EXCLUDED.rolled_until)",
    "INSERT INTO metric_rollup_state (id, late_before, rolled_until) VALUES (1, ?1, ?2) "
    "ON CONFLICT (id) DO UPDATE SET late_before = CASE WHEN late_before IS NULL "
    "OR late_before < excluded.late_before THEN excluded.late_before ELSE late_before END, "
    "rolled_until = COALESCE(rolled_until, excluded.rolled_until)",
};

static const tia__sql sql_set_rolled = {
    "rollup.set_rolled",
    "UPDATE metric_rollup_state SET rolled_until = $1::timestamptz "
    "WHERE id = 1 AND rolled_until < $1::timestamptz",
    "UPDATE metric_rollup_state SET rolled_until = ?1 WHERE id = 1 AND rolled_until < ?1",
};

/* PostgreSQL: transactions with an id below this one may still be running. */
static const tia__sql sql_xmax = {
    "rollup.xmax",
    "SELECT pg_snapshot_xmax(pg_current_snapshot())::text",
    "SELECT '0'",
};

static const tia__sql sql_xmin_past = {
    "rollup.xmin_past",
    "SELECT (pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8)::int",
    "SELECT 1",
};

static const tia__sql sql_dirty = {
    "rollup.dirty",
    "SELECT " TIA_PG_US("hour") ", marks FROM metric_rollup_dirty "
    "WHERE hour >= $1::timestamptz AND hour < $2::timestamptz ORDER BY hour LIMIT $3::int8",
    "SELECT hour, marks FROM metric_rollup_dirty WHERE hour >= ?1 AND hour < ?2 "
    "ORDER BY hour LIMIT ?3",
};

/*
 * PostgreSQL: one rollup or maintenance run at a time per database (two would
 * rewrite the same hours and collide on the rollups' key). SQLite's write lock
 * already serialises their transactions, which are idempotent.
 */
static const tia__sql sql_try_lock = {
    "rollup.try_lock",
    "SELECT pg_try_advisory_lock(727368002)::int",
    "SELECT 1",
};

static const tia__sql sql_unlock = {
    "rollup.unlock",
    "SELECT pg_advisory_unlock(727368002)",
    "SELECT 1",
};

static const tia__sql sql_clear_mark = {
    "rollup.clear_mark",
    "DELETE FROM metric_rollup_dirty WHERE hour = $1::timestamptz AND marks = $2::int8",
    "DELETE FROM metric_rollup_dirty WHERE hour = ?1 AND marks = ?2",
};
/* clang-format on */

typedef struct mark {
    tia_time_us hour;
    int64_t marks;
} mark;

static int64_t floor_hour(int64_t t)
{
    int64_t q = t / TIA__HOUR_US;
    if (t % TIA__HOUR_US != 0 && t < 0)
        q--;
    return q * TIA__HOUR_US;
}

int tia__mt_begin(tia_store *s, int outer, tia_error *err)
{
    return outer ? 0 : tia__db_begin(s, err);
}

int tia__mt_end(tia_store *s, int outer, int rc, tia_error *err)
{
    if (outer)
        return rc;
    if (rc != 0) {
        tia__db_rollback(s);
        return rc;
    }
    return tia__db_commit(s, err);
}

static int read_state(tia_store *s, tia_time_us *late, tia_time_us *rolled, tia_error *err)
{
    tia__rows *r = NULL;
    *late = *rolled = TIA_TIME_NONE;
    int rc = tia__db_query(s, &sql_state, NULL, 0, &r, err);
    if (rc == 0 && (rc = tia__rows_next(r, err)) > 0) {
        *late = tia__col_time(r, 0);
        *rolled = tia__col_time(r, 1);
        rc = 0;
    }
    tia__rows_free(r);
    return rc < 0 ? rc : 0;
}

static int first_point(tia_store *s, tia_time_us *out, tia_error *err)
{
    tia__rows *r = NULL;
    *out = TIA_TIME_NONE;
    int rc = tia__db_query(s, &sql_first_point, NULL, 0, &r, err);
    if (rc == 0 && (rc = tia__rows_next(r, err)) > 0) {
        *out = tia__col_time(r, 0);
        rc = 0;
    }
    tia__rows_free(r);
    return rc < 0 ? rc : 0;
}

/*
 * PostgreSQL: waits until every transaction that had an id when late_before
 * moved has ended. *done is 0 when wait_us passed first.
 */
static int wait_writers(tia_store *s, int64_t wait_us, int *done, tia_error *err)
{
    tia__rows *r = NULL;
    char xmax[32] = "";
    *done = 1;
    if (tia_store_backend(s) != TIA_BACKEND_POSTGRES)
        return 0;
    int rc = tia__db_query(s, &sql_xmax, NULL, 0, &r, err);
    if (rc == 0 && (rc = tia__rows_next(r, err)) > 0) {
        snprintf(xmax, sizeof xmax, "%s", tia__col_text(r, 0) ? tia__col_text(r, 0) : "0");
        rc = 0;
    }
    tia__rows_free(r);
    if (rc < 0)
        return rc;
    tia_time_us deadline = tia_now_us() + wait_us;
    for (;;) {
        tia__param p = tia__p_text(xmax);
        int past = 0;
        r = NULL;
        rc = tia__db_query(s, &sql_xmin_past, &p, 1, &r, err);
        if (rc == 0 && (rc = tia__rows_next(r, err)) > 0) {
            past = tia__col_int(r, 0) != 0;
            rc = 0;
        }
        tia__rows_free(r);
        if (rc < 0)
            return rc;
        if (past)
            return 0;
        if (tia_now_us() >= deadline) {
            *done = 0;
            return 0;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* The dirty marks of [lo, hi), at most max; *out malloc'd. */
static int read_marks(tia_store *s, tia_time_us lo, tia_time_us hi, int64_t max, mark **out,
                      size_t *n, tia_error *err)
{
    tia__rows *r = NULL;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    tia__param p[3] = {tia__p_ts(lo), tia__p_ts(hi), tia__p_int(max)};
    int rc = tia__db_query(s, &sql_dirty, p, 3, &r, err);
    while (rc >= 0 && (rc = tia__rows_next(r, err)) > 0) {
        if (*n == cap) {
            size_t c = cap ? cap * 2 : 32;
            mark *g = realloc(*out, c * sizeof *g);
            if (g == NULL) {
                rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading dirty hours");
                break;
            }
            *out = g;
            cap = c;
        }
        (*out)[*n].hour = tia__col_time(r, 0);
        (*out)[*n].marks = tia__col_int(r, 1);
        (*n)++;
    }
    tia__rows_free(r);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
        return rc;
    }
    return 0;
}

/*
 * Clears the marks read before a rollup whose transaction has committed, each
 * in its own statement and in time order: a mark a late point changed meanwhile
 * stays (its count differs), and the rollup never holds one mark while waiting
 * for another, so it cannot deadlock with the writers' trigger. Until a mark is
 * cleared, series read its hour from the raw points, which is right either way.
 */
static int clear_marks(tia_store *s, const mark *m, size_t n, tia_error *err)
{
    for (size_t i = 0; i < n; i++) {
        tia__param p[2] = {tia__p_ts(m[i].hour), tia__p_int(m[i].marks)};
        int rc = tia__db_exec(s, &sql_clear_mark, p, 2, NULL, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Step 2: the dirty hours before rolled, DIRTY_BATCH per transaction. */
static int redo_dirty(tia_store *s, const tia_rollup_options *o, int outer,
                      const tia__metric_pairs *pairs, tia_time_us rolled, tia_rollup_result *res,
                      tia_error *err)
{
    tia_time_us from = INT64_C(-62135596800000000); /* 0001-01-01: the earliest either backend prints */
    for (;;) {
        mark *m = NULL;
        size_t n = 0;
        int rc = read_marks(s, from, rolled, DIRTY_BATCH, &m, &n, err);
        if (rc != 0)
            return rc;
        if (n == 0)
            return 0;
        if ((rc = tia__mt_begin(s, outer, err)) == 0) {
            for (size_t i = 0; rc == 0 && i < n; i++) {
                if (o->keep_after != TIA_TIME_NONE && m[i].hour < o->keep_after) {
                    res->dirty_dropped++;
                    continue;
                }
                int64_t rows = 0;
                rc = tia__rollup_range(s, pairs, m[i].hour, m[i].hour + TIA__HOUR_US, &rows, err);
                res->rows_written += rows;
                res->dirty_recomputed++;
            }
            rc = tia__mt_end(s, outer, rc, err);
            if (rc == 0)
                rc = clear_marks(s, m, n, err);
        }
        from = m[n - 1].hour + 1;
        free(m);
        if (rc != 0)
            return rc;
        if (o->progress != NULL)
            o->progress(o->ctx, "dirty hours", res->dirty_recomputed + res->dirty_dropped, 0);
    }
}

/* Step 3: the hours [a, target), a day per transaction. */
static int roll_new(tia_store *s, const tia_rollup_options *o, int outer,
                    const tia__metric_pairs *pairs, tia_time_us a, tia_time_us target,
                    tia_rollup_result *res, tia_error *err)
{
    int64_t total = (target - a) / TIA__HOUR_US;
    while (a < target) {
        tia_time_us b = a + DAY_US < target ? a + DAY_US : target;
        mark *m = NULL;
        size_t n = 0;
        int64_t rows = 0;
        int rc = read_marks(s, a, b, 24 * 367, &m, &n, err);
        if (rc != 0)
            return rc;
        if ((rc = tia__mt_begin(s, outer, err)) == 0) {
            tia__param p = tia__p_ts(b);
            if ((rc = tia__rollup_range(s, pairs, a, b, &rows, err)) == 0)
                rc = tia__db_exec(s, &sql_set_rolled, &p, 1, NULL, err);
            rc = tia__mt_end(s, outer, rc, err);
            if (rc == 0)
                rc = clear_marks(s, m, n, err);
        }
        free(m);
        if (rc != 0)
            return rc;
        res->rows_written += rows;
        res->hours_rolled += (b - a) / TIA__HOUR_US;
        res->rolled_until = b;
        if (o->progress != NULL)
            o->progress(o->ctx, "rollups", res->hours_rolled, total);
        a = b;
    }
    return 0;
}

int tia__rollup_run(tia_store *s, const tia_rollup_options *opt, int outer, tia_rollup_result *out,
                    tia_error *err)
{
    tia_rollup_options o = {0};
    if (opt != NULL)
        o = *opt;
    if (o.keep_after == 0)
        o.keep_after = TIA_TIME_NONE;
    tia_rollup_result res = {0};
    res.rolled_until = TIA_TIME_NONE;
    tia__metric_pairs pairs = {0, NULL, NULL};
    tia_time_us now = o.now != 0 ? o.now : tia_now_us();
    int64_t grace = o.grace_us > 0 ? o.grace_us : DEFAULT_GRACE_US;
    int64_t wait = o.wait_us > 0 ? o.wait_us : DEFAULT_WAIT_US;
    tia_time_us target = floor_hour(now - grace);
    tia_time_us late = TIA_TIME_NONE, rolled = TIA_TIME_NONE;
    int done = 1;

    int rc = read_state(s, &late, &rolled, err);
    if (rc != 0)
        goto out;
    if (rolled == TIA_TIME_NONE) {
        tia_time_us first = TIA_TIME_NONE;
        if ((rc = first_point(s, &first, err)) != 0)
            goto out;
        rolled = first == TIA_TIME_NONE || floor_hour(first) > target ? target : floor_hour(first);
    }
    res.rolled_until = rolled;
    /* (1) Points of the hours about to be rolled must be seen or mark their hour. */
    if (late == TIA_TIME_NONE || late < target) {
        tia__param p[2] = {tia__p_ts(target), tia__p_ts(rolled)};
        if ((rc = tia__mt_begin(s, outer, err)) != 0)
            goto out;
        rc = tia__db_exec(s, &sql_late_before, p, 2, NULL, err);
        if ((rc = tia__mt_end(s, outer, rc, err)) != 0)
            goto out;
    }
    /*
     * Also when an earlier run moved late_before: it may have given up waiting
     * for the writers this wait is for.
     */
    if (!outer && rolled < target && (rc = wait_writers(s, wait, &done, err)) != 0)
        goto out;
    /* Every point committed so far that belongs to a pair is visible now. */
    if ((rc = tia__metric_pairs_list(s, &pairs, err)) != 0)
        goto out;
    /* (2) Late points in hours rolled before. */
    if ((rc = redo_dirty(s, &o, outer, &pairs, rolled, &res, err)) != 0)
        goto out;
    /* (3) New hours, unless writers from before the move are still running. */
    if (!done)
        res.writers_pending = 1;
    else if ((rc = roll_new(s, &o, outer, &pairs, rolled, target, &res, err)) != 0)
        goto out;
out:
    tia__metric_pairs_free(&pairs);
    if (out != NULL)
        *out = res;
    return rc;
}

int tia__mt_lock(tia_store *s, tia_error *err)
{
    tia__rows *r = NULL;
    int rc = tia__db_query(s, &sql_try_lock, NULL, 0, &r, err);
    if (rc == 0 && (rc = tia__rows_next(r, err)) > 0)
        rc = tia__col_int(r, 0) ? 0 : 1;
    tia__rows_free(r);
    if (rc < 0)
        return rc;
    if (rc > 0)
        return tia_error_set(err, TIA_EBUSY,
                             "another tokyoia maintain or metric rollup is running on this "
                             "database; try again when it ends");
    return 0;
}

void tia__mt_unlock(tia_store *s)
{
    tia_error ignored;
    (void)tia__db_exec(s, &sql_unlock, NULL, 0, NULL, &ignored);
}

int tia_metric_rollup(tia_store *s, const tia_rollup_options *o, tia_rollup_result *out,
                      tia_error *err)
{
    int rc = tia__mt_lock(s, err);
    if (rc != 0)
        return rc;
    rc = tia__rollup_run(s, o, 0, out, err);
    tia__mt_unlock(s);
    return rc;
}
