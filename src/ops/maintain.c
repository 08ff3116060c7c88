/*
 * tia_maintain_run and the settings in tokyoia_settings (include/tokyoia/
 * maintain.h). The steps run in an order that never loses data: partitions are
 * created before anything else, rollups are brought up to date before raw points
 * are removed, and only points of hours already rolled up are removed (a
 * partition is dropped only when it ends before rolled_until), so the series of
 * an expired range still come from the rollups. Deleting steps work in bounded
 * batches, one transaction each, so writers wait at most one batch. On
 * PostgreSQL partition DDL goes through the functions of migration 0011; the
 * only SQL text built here is DROP TABLE of a partition name read from the
 * catalog and checked against the agent_metrics_pYYYYMMDD pattern first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/maintain.h>

#include "ops/maintain_int.h"
#include "store/db.h"
#include "store/rollup.h"

#define DEFAULT_BATCH 5000
#define DURATION_MAX_US (INT64_C(100) * 366 * 24 * TIA__HOUR_US)
#define STRAY_HORIZON_US (INT64_C(366) * 24 * TIA__HOUR_US) /* strays get partitions up to a year ahead */

/* clang-format off */
static const tia__sql sql_settings = {
    "settings.list",
    "SELECT key, value FROM tokyoia_settings",
    "SELECT key, value FROM tokyoia_settings",
};

static const tia__sql sql_setting_set = {
    "settings.set",
    "INSERT INTO tokyoia_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE "
    "SET value = EXCLUDED.value, updated_at = CURRENT_TIMESTAMP",
    "INSERT INTO tokyoia_settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE "
    "SET value = excluded.value, updated_at = " TIA_SQLITE_NOW,
};

static const tia__sql sql_ensure = {
    "maintain.ensure",
    "SELECT name FROM tia_metric_partitions_ensure($1::timestamptz, $2::timestamptz) AS name",
    NULL,
};

/* Units of the default partition's rows that belong in a range partition. */
static const tia__sql sql_stray_units = {
    "maintain.stray_units",
    "SELECT DISTINCT " TIA_PG_US("date_trunc(COALESCE((SELECT value FROM tokyoia_settings "
    "WHERE key = 'metric_partition'), 'month'), recorded_at, 'UTC')") " AS u "
    "FROM agent_metrics_default WHERE recorded_at >= $1::timestamptz "
    "AND recorded_at < $2::timestamptz ORDER BY u LIMIT 1000",
    NULL,
};

static const tia__sql sql_default_count = {
    "maintain.default_count",
    "SELECT count(*) FROM agent_metrics_default",
    NULL,
};

static const tia__sql sql_partitions_past = {
    "maintain.partitions_past",
    "SELECT name, " TIA_PG_US("range_start") ", " TIA_PG_US("range_end")
    " FROM tia_metric_partitions WHERE range_end <= $1::timestamptz ORDER BY range_start",
    NULL,
};

/* Plain tables named as partitions: detached by a run interrupted before its drop. */
static const tia__sql sql_detached = {
    "maintain.detached",
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND NOT c.relispartition "
    "AND c.relname ~ '^agent_metrics_p[0-9]{8}$' ORDER BY 1",
    NULL,
};

static const tia__sql sql_delete_strays = {
    "maintain.delete_strays",
    "DELETE FROM agent_metrics_default WHERE ctid = ANY (ARRAY(SELECT ctid FROM "
    "agent_metrics_default WHERE recorded_at < $1::timestamptz LIMIT $2::int8))",
    NULL,
};

/* SQLite: one pair's expired points, a batch at a time, through the seed's index. */
static const tia__sql sql_delete_points = {
    "maintain.delete_points",
    NULL,
    "DELETE FROM agent_metrics WHERE rowid IN (SELECT rowid FROM agent_metrics "
    "WHERE agent_id = ?1 AND metric_type = ?2 AND recorded_at < ?3 LIMIT ?4)",
};

static const tia__sql sql_delete_rollups = {
    "maintain.delete_rollups",
    "DELETE FROM agent_metric_rollups WHERE bucket_start < $1::timestamptz",
    "DELETE FROM agent_metric_rollups WHERE bucket_start < ?1",
};

static const tia__sql sql_expire_sessions = {
    "maintain.expire_sessions",
    "UPDATE user_sessions SET status = 'expired' WHERE status = 'active' "
    "AND expires_at <= $1::timestamptz",
    "UPDATE user_sessions SET status = 'expired' WHERE status = 'active' AND expires_at <= ?1",
};

/*
 * A session ended at its expiry when it expired, at its last activity when it
 * was revoked (revocation ends activity; no column records its time).
 */
static const tia__sql sql_purge_sessions = {
    "maintain.purge_sessions",
    "DELETE FROM user_sessions WHERE id = ANY (ARRAY(SELECT id FROM user_sessions "
    "WHERE status IN ('expired', 'revoked') AND CASE WHEN status = 'expired' "
    "AND expires_at IS NOT NULL THEN expires_at ELSE COALESCE(last_activity_at, started_at) END "
    "< $1::timestamptz LIMIT $2::int8))",
    "DELETE FROM user_sessions WHERE id IN (SELECT id FROM user_sessions "
    "WHERE status IN ('expired', 'revoked') AND CASE WHEN status = 'expired' "
    "AND expires_at IS NOT NULL THEN expires_at ELSE COALESCE(last_activity_at, started_at) END "
    "< ?1 LIMIT ?2)",
};

/*
 * PostgreSQL: partition DDL waits at most this long for a lock, so that a long
 * transaction makes a step give up (and the next run retry) rather than queue
 * every writer behind the waiting DDL.
 */
static const tia__sql sql_lock_timeout = {
    "maintain.lock_timeout",
    "SET LOCAL lock_timeout = '5s'",
    NULL,
};

static const tia__sql sql_rolled_until = {
    "maintain.rolled_until",
    "SELECT " TIA_PG_US("rolled_until") " FROM metric_rollup_state WHERE id = 1",
    "SELECT rolled_until FROM metric_rollup_state WHERE id = 1",
};
/* clang-format on */

/* ---- settings ---- */

typedef struct setting_def {
    const char *key;
    const char *dflt;
} setting_def;

static const setting_def defs[] = {
    {TIA_SETTING_PARTITION, "month"},        {TIA_SETTING_PARTITION_AHEAD, "30d"},
    {TIA_SETTING_RETENTION, "90d"},          {TIA_SETTING_ROLLUP_RETENTION, "400d"},
    {TIA_SETTING_SESSION_PURGE, "30d"},
};

static int known_key(const char *key)
{
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (strcmp(defs[i].key, key) == 0)
            return 1;
    return 0;
}

/* Checks value for key and stores it in *st (which may be NULL). */
static int apply(tia_maintain_settings *st, const char *key, const char *value, tia_error *err)
{
    if (value == NULL)
        return tia_error_set(err, TIA_EINVAL, "a value for %s is required", key);
    if (strcmp(key, TIA_SETTING_PARTITION) == 0) {
        if (strcmp(value, "month") != 0 && strcmp(value, "day") != 0)
            return tia_error_set(err, TIA_EINVAL, "%s must be 'month' or 'day', not '%.40s'",
                                 key, value);
        if (st != NULL)
            snprintf(st->partition, sizeof st->partition, "%s", value);
        return 0;
    }
    int64_t us = 0;
    if (tia_duration_parse(value, &us) != 0 || us < TIA__HOUR_US || us > DURATION_MAX_US)
        return tia_error_set(err, TIA_EINVAL,
                             "%s must be a duration from 1h to 100 years (\"90d\"), not '%.40s'",
                             key, value);
    if (st == NULL)
        return 0;
    if (strcmp(key, TIA_SETTING_PARTITION_AHEAD) == 0)
        st->partition_ahead_us = us;
    else if (strcmp(key, TIA_SETTING_RETENTION) == 0)
        st->retention_us = us;
    else if (strcmp(key, TIA_SETTING_ROLLUP_RETENTION) == 0)
        st->rollup_retention_us = us;
    else
        st->session_purge_us = us;
    return 0;
}

/* The settings; strict: a bad stored value is an error, else it keeps its default. */
static int settings_read(tia_store *s, int strict, tia_maintain_settings *out, tia_error *err)
{
    tia_maintain_settings st;
    memset(&st, 0, sizeof st);
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        (void)apply(&st, defs[i].key, defs[i].dflt, NULL);
    tia__rows *r = NULL;
    int rc = tia__db_query(s, &sql_settings, NULL, 0, &r, err);
    while (rc >= 0 && (rc = tia__rows_next(r, err)) > 0) {
        const char *key = tia__col_text(r, 0);
        if (key == NULL || !known_key(key))
            continue; /* a setting of a newer tokyoia */
        if ((rc = apply(&st, key, tia__col_text(r, 1), err)) != 0) {
            if (!strict) {
                rc = 1; /* keep going: the row loop wants a positive code */
                continue;
            }
            char msg[TIA_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err ? err->message : "");
            rc = tia_error_set(err, TIA_EINVAL, "tokyoia_settings: %s", msg);
            break;
        }
    }
    tia__rows_free(r);
    if (rc < 0)
        return rc;
    *out = st;
    return 0;
}

int tia_maintain_settings_get(tia_store *s, tia_maintain_settings *out, tia_error *err)
{
    return settings_read(s, 1, out, err);
}

int tia_maintain_settings_set(tia_store *s, const char *const *keys, const char *const *values,
                              size_t n, tia_error *err)
{
    tia_maintain_settings st;
    int rc = tia__db_begin(s, err);
    if (rc != 0)
        return rc;
    /* Checked against what is stored (a bad stored value being replaced is not
     * held against it), in the transaction that changes it. */
    if ((rc = settings_read(s, 0, &st, err)) != 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (keys[i] == NULL || !known_key(keys[i])) {
            rc = tia_error_set(err, TIA_EINVAL, "unknown setting '%.64s'",
                               keys[i] ? keys[i] : "(null)");
            goto done;
        }
        if ((rc = apply(&st, keys[i], values[i], err)) != 0)
            goto done;
    }
    /*
     * The series read every hour before the rollups' high-water mark from the
     * rollups: one dropped while its raw points remain would read as no data.
     */
    if (st.rollup_retention_us < st.retention_us) {
        rc = tia_error_set(err, TIA_EINVAL,
                           "%s must be at least %s (rollups are read for every hour they cover)",
                           TIA_SETTING_ROLLUP_RETENTION, TIA_SETTING_RETENTION);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        tia__param p[2] = {tia__p_text(keys[i]), tia__p_text(values[i])};
        if ((rc = tia__db_exec(s, &sql_setting_set, p, 2, NULL, err)) != 0)
            goto done;
    }
    rc = tia__db_commit(s, err);
    return rc;
done:
    tia__db_rollback(s);
    return rc;
}

int tia_maintain_setting_set(tia_store *s, const char *key, const char *value, tia_error *err)
{
    return tia_maintain_settings_set(s, &key, &value, 1, err);
}

/* ---- the run ---- */

typedef struct run {
    tia_store *s;
    const tia_maintain_options *o;
    int pg;
    int outer; /* a dry run's transaction is open */
    tia_time_us now;
    int64_t batch;
    tia_maintain_report *rep;
    tia_error *err;
} run;

static void say(run *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(run *m, const char *fmt, ...)
{
    if (m->o->log == NULL)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    m->o->log(m->o->ctx, line);
}

static void progress(run *m, const char *phase, int64_t done, int64_t total)
{
    if (m->o->progress != NULL)
        m->o->progress(m->o->ctx, phase, done, total);
}

static void day_of(tia_time_us t, char out[16])
{
    char buf[40];
    tia_time_format(t, buf, sizeof buf);
    snprintf(out, 16, "%.10s", buf);
}

static int64_t one_int(tia_store *s, const tia__sql *q, const tia__param *p, int n, int *rc,
                       tia_error *err)
{
    tia__rows *r = NULL;
    int64_t v = 0;
    *rc = tia__db_query(s, q, p, n, &r, err);
    if (*rc == 0 && (*rc = tia__rows_next(r, err)) > 0) {
        v = tia__col_int(r, 0);
        *rc = 0;
    }
    tia__rows_free(r);
    if (*rc > 0)
        *rc = 0;
    return v;
}

/* Creates the partitions of [lo, hi) that are missing, saying each. */
static int ensure(run *m, tia_time_us lo, tia_time_us hi)
{
    tia__rows *r = NULL;
    tia__param p[2] = {tia__p_ts(lo), tia__p_ts(hi)};
    int64_t made = 0;
    int rc = tia__mt_begin(m->s, m->outer, m->err);
    if (rc != 0)
        return rc;
    if ((rc = tia__db_exec(m->s, &sql_lock_timeout, NULL, 0, NULL, m->err)) == 0)
        rc = tia__db_query(m->s, &sql_ensure, p, 2, &r, m->err);
    while (rc >= 0 && (rc = tia__rows_next(r, m->err)) > 0) {
        made++;
        say(m, "created partition %s", tia__col_text(r, 0));
    }
    tia__rows_free(r);
    rc = tia__mt_end(m->s, m->outer, rc < 0 ? rc : 0, m->err);
    if (rc == TIA_EBUSY && !m->outer) {
        /* Writes still succeed (the default partition takes them); retried next run. */
        say(m, "partitions: agent_metrics is locked by a long transaction, none created now");
        return 0;
    }
    if (rc == 0)
        m->rep->partitions_created += made;
    return rc;
}

/* PostgreSQL: partitions from the retention cutoff to now + ahead, and for strays. */
static int step_partitions(run *m)
{
    const tia_maintain_settings *st = &m->rep->settings;
    int rc = ensure(m, m->now - st->retention_us, m->now + st->partition_ahead_us);
    if (rc != 0)
        return rc;
    int64_t before = one_int(m->s, &sql_default_count, NULL, 0, &rc, m->err);
    if (rc != 0 || before == 0)
        return rc;
    /* Rows in the default partition within the retention and a year ahead. */
    tia__param p[2] = {tia__p_ts(m->now - st->retention_us), tia__p_ts(m->now + STRAY_HORIZON_US)};
    tia__rows *r = NULL;
    int64_t units[1000];
    size_t n = 0;
    rc = tia__db_query(m->s, &sql_stray_units, p, 2, &r, m->err);
    while (rc >= 0 && n < 1000 && (rc = tia__rows_next(r, m->err)) > 0)
        units[n++] = tia__col_time(r, 0);
    tia__rows_free(r);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = ensure(m, units[i], units[i] + 1)) != 0)
            return rc;
    int64_t after = one_int(m->s, &sql_default_count, NULL, 0, &rc, m->err);
    if (rc != 0)
        return rc;
    m->rep->strays_moved += before - after;
    if (before > after)
        say(m, "moved %lld row(s) from agent_metrics_default into their partitions",
            (long long)(before - after));
    if (after > 0)
        say(m, "agent_metrics_default holds %lld row(s) outside the partitions", (long long)after);
    return 0;
}

static int step_rollups(run *m)
{
    tia_rollup_options ro = {0};
    ro.now = m->now;
    ro.keep_after = m->now - m->rep->settings.retention_us;
    ro.wait_us = m->o->wait_us;
    ro.progress = m->o->progress;
    ro.ctx = m->o->ctx;
    tia_rollup_result *res = &m->rep->rollup;
    int rc = tia__rollup_run(m->s, &ro, m->outer, res, m->err);
    if (rc != 0)
        return rc;
    char day[16];
    if (res->hours_rolled > 0) {
        day_of(res->rolled_until, day);
        say(m, "rolled up %lld hour(s) of metrics (%lld rollup rows), now up to %s", 
            (long long)res->hours_rolled, (long long)res->rows_written, day);
    }
    if (res->dirty_recomputed > 0)
        say(m, "recomputed %lld hour(s) that late points had changed",
            (long long)res->dirty_recomputed);
    if (res->writers_pending)
        say(m, "rollups: writers older than the rollup boundary are still running; "
               "new hours wait for the next run");
    return 0;
}

static int rolled_until(run *m, tia_time_us *out)
{
    tia__rows *r = NULL;
    *out = TIA_TIME_NONE;
    int rc = tia__db_query(m->s, &sql_rolled_until, NULL, 0, &r, m->err);
    if (rc == 0 && (rc = tia__rows_next(r, m->err)) > 0) {
        *out = tia__col_time(r, 0);
        rc = 0;
    }
    tia__rows_free(r);
    return rc < 0 ? rc : 0;
}

/* agent_metrics_pYYYYMMDD, the only names this drops. */
static int partition_name_ok(const char *name)
{
    if (name == NULL || strlen(name) != 23 || strncmp(name, "agent_metrics_p", 15) != 0)
        return 0;
    for (int i = 15; i < 23; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    return 1;
}

/* Deletes with q (params p, the last one the batch size) until a batch comes short. */
static int delete_batches(run *m, const tia__sql *q, tia__param *p, int n, const char *phase,
                          int64_t *deleted)
{
    for (;;) {
        int64_t changes = 0;
        int rc = tia__mt_begin(m->s, m->outer, m->err);
        if (rc != 0)
            return rc;
        rc = tia__db_exec(m->s, q, p, n, &changes, m->err);
        if ((rc = tia__mt_end(m->s, m->outer, rc, m->err)) != 0)
            return rc;
        *deleted += changes;
        if (changes > 0)
            progress(m, phase, *deleted, 0);
        if (changes < m->batch)
            return 0;
    }
}

/* Drops a partition already detached (its name checked by partition_name_ok). */
static int drop_detached(run *m, const char *name)
{
    char sql[64];
    snprintf(sql, sizeof sql, "DROP TABLE %.23s", name);
    tia__sql drop = {"maintain.drop_partition", sql, NULL, 1};
    int rc = tia__mt_begin(m->s, m->outer, m->err);
    if (rc != 0)
        return rc;
    rc = tia__db_exec(m->s, &drop, NULL, 0, NULL, m->err);
    return tia__mt_end(m->s, m->outer, rc, m->err);
}

static int retention_pg(run *m, tia_time_us cutoff, tia_time_us limit)
{
    tia__rows *r = NULL;
    tia__param p = tia__p_ts(cutoff);
    char names[512][24];
    tia_time_us ends[512];
    size_t n = 0;
    int rc = tia__db_query(m->s, &sql_partitions_past, &p, 1, &r, m->err);
    while (rc >= 0 && n < 512 && (rc = tia__rows_next(r, m->err)) > 0) {
        const char *name = tia__col_text(r, 0);
        if (!partition_name_ok(name))
            continue; /* not one of ours: left alone */
        snprintf(names[n], sizeof names[n], "%s", name);
        ends[n++] = tia__col_time(r, 2);
    }
    tia__rows_free(r);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (ends[i] > limit) {
            m->rep->partitions_kept++;
            say(m, "kept partition %s: past the retention but not yet rolled up", names[i]);
            continue;
        }
        /*
         * Detached first, in a transaction of its own: the ACCESS EXCLUSIVE lock
         * on agent_metrics lasts only for that catalog change. The drop, whose
         * commit truncates the files (most of its time), then locks only the
         * detached table, so writers never wait for it.
         */
        char sql[80];
        snprintf(sql, sizeof sql, "ALTER TABLE agent_metrics DETACH PARTITION %.23s", names[i]);
        tia__sql detach = {"maintain.detach_partition", sql, NULL, 1};
        if ((rc = tia__mt_begin(m->s, m->outer, m->err)) != 0)
            return rc;
        if ((rc = tia__db_exec(m->s, &sql_lock_timeout, NULL, 0, NULL, m->err)) == 0)
            rc = tia__db_exec(m->s, &detach, NULL, 0, NULL, m->err);
        rc = tia__mt_end(m->s, m->outer, rc, m->err);
        if (rc == TIA_EBUSY && !m->outer) {
            m->rep->partitions_kept++;
            say(m, "kept partition %s: locked by a long transaction, dropped next run",
                names[i]);
            continue;
        }
        if (rc != 0 || (rc = drop_detached(m, names[i])) != 0)
            return rc;
        m->rep->partitions_dropped++;
        say(m, "dropped partition %s", names[i]);
        progress(m, "partitions", (int64_t)i + 1, (int64_t)n);
    }
    /* Tables an interrupted run detached but did not drop. */
    r = NULL;
    n = 0;
    rc = tia__db_query(m->s, &sql_detached, NULL, 0, &r, m->err);
    while (rc >= 0 && n < 512 && (rc = tia__rows_next(r, m->err)) > 0)
        if (partition_name_ok(tia__col_text(r, 0)))
            snprintf(names[n++], sizeof names[0], "%s", tia__col_text(r, 0));
    tia__rows_free(r);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = drop_detached(m, names[i])) != 0)
            return rc;
        say(m, "dropped %s, detached by an interrupted run", names[i]);
    }
    /* Stray rows of the default partition expire as rows. */
    int64_t deleted = 0;
    tia__param d[2] = {tia__p_ts(limit < cutoff ? limit : cutoff), tia__p_int(m->batch)};
    if ((rc = delete_batches(m, &sql_delete_strays, d, 2, "expired strays", &deleted)) != 0)
        return rc;
    m->rep->points_deleted += deleted;
    if (deleted > 0)
        say(m, "deleted %lld expired row(s) from agent_metrics_default", (long long)deleted);
    return 0;
}

static int retention_sqlite(run *m, tia_time_us cutoff)
{
    tia__metric_pairs pairs = {0, NULL, NULL};
    int64_t deleted = 0;
    int rc = tia__metric_pairs_list(m->s, &pairs, m->err);
    for (size_t i = 0; rc == 0 && i < pairs.n; i++) {
        tia__param p[4] = {tia__p_text(pairs.agent[i]), tia__p_text(pairs.type[i]),
                           tia__p_ts(cutoff), tia__p_int(m->batch)};
        rc = delete_batches(m, &sql_delete_points, p, 4, "expired points", &deleted);
    }
    tia__metric_pairs_free(&pairs);
    m->rep->points_deleted += deleted;
    if (rc == 0 && deleted > 0) {
        char day[16];
        day_of(cutoff, day);
        say(m, "deleted %lld metric point(s) recorded before %s", (long long)deleted, day);
    }
    return rc;
}

/* Raw points past the retention, only where the rollups cover them. */
static int step_retention(run *m)
{
    tia_time_us cutoff = m->now - m->rep->settings.retention_us, limit = TIA_TIME_NONE;
    int rc = rolled_until(m, &limit);
    if (rc != 0)
        return rc;
    if (limit == TIA_TIME_NONE) {
        say(m, "retention: nothing is rolled up yet, no point is removed");
        return 0;
    }
    if (m->pg)
        return retention_pg(m, cutoff, limit);
    return retention_sqlite(m, limit < cutoff ? limit : cutoff);
}

static int step_rollup_retention(run *m)
{
    int64_t n = 0;
    /* Never the rollups of hours whose raw points are kept (settings stored by hand). */
    const tia_maintain_settings *st = &m->rep->settings;
    int64_t keep =
        st->rollup_retention_us > st->retention_us ? st->rollup_retention_us : st->retention_us;
    tia__param p = tia__p_ts(m->now - keep);
    int rc = tia__mt_begin(m->s, m->outer, m->err);
    if (rc != 0)
        return rc;
    rc = tia__db_exec(m->s, &sql_delete_rollups, &p, 1, &n, m->err);
    if ((rc = tia__mt_end(m->s, m->outer, rc, m->err)) != 0)
        return rc;
    m->rep->rollups_deleted = n;
    if (n > 0)
        say(m, "deleted %lld rollup row(s) past the rollup retention", (long long)n);
    return 0;
}

static int step_sessions(run *m)
{
    int64_t n = 0;
    tia__param p = tia__p_ts(m->now);
    int rc = tia__mt_begin(m->s, m->outer, m->err);
    if (rc != 0)
        return rc;
    rc = tia__db_exec(m->s, &sql_expire_sessions, &p, 1, &n, m->err);
    if ((rc = tia__mt_end(m->s, m->outer, rc, m->err)) != 0)
        return rc;
    m->rep->sessions_expired = n;
    if (n > 0)
        say(m, "marked %lld session(s) past their expiry expired", (long long)n);
    int64_t purged = 0;
    tia__param d[2] = {tia__p_ts(m->now - m->rep->settings.session_purge_us),
                       tia__p_int(m->batch)};
    if ((rc = delete_batches(m, &sql_purge_sessions, d, 2, "sessions", &purged)) != 0)
        return rc;
    m->rep->sessions_purged = purged;
    if (purged > 0)
        say(m, "purged %lld expired or revoked session(s)", (long long)purged);
    return 0;
}

int tia_maintain_run(tia_store *s, const tia_maintain_options *opt, tia_maintain_report *out,
                     tia_error *err)
{
    tia_maintain_options o;
    memset(&o, 0, sizeof o);
    if (opt != NULL)
        o = *opt;
    tia_maintain_report rep;
    memset(&rep, 0, sizeof rep);
    rep.rollup.rolled_until = TIA_TIME_NONE;
    if (o.batch < 0 || o.batch > TIA_MAINTAIN_BATCH_MAX)
        return tia_error_set(err, TIA_EINVAL, "batch must be 1 to %d (got %lld)",
                             TIA_MAINTAIN_BATCH_MAX, (long long)o.batch);
    run m = {s, &o, tia_store_backend(s) == TIA_BACKEND_POSTGRES, 0,
             o.now != 0 ? o.now : tia_now_us(), o.batch > 0 ? o.batch : DEFAULT_BATCH, &rep, err};
    int locked = 0;
    int rc = tia_maintain_settings_get(s, &rep.settings, err);
    if (rc != 0)
        goto done;
    if ((rc = tia__mt_lock(s, err)) != 0)
        goto done;
    locked = 1;
    if (o.dry_run) {
        if ((rc = tia__db_begin(s, err)) != 0)
            goto done;
        m.outer = 1;
    }
    if ((m.pg && (rc = step_partitions(&m)) != 0) || (rc = step_rollups(&m)) != 0 ||
        (rc = step_retention(&m)) != 0 || (rc = step_rollup_retention(&m)) != 0 ||
        (rc = step_sessions(&m)) != 0)
        goto done;
done:
    if (m.outer)
        tia__db_rollback(s);
    if (locked)
        tia__mt_unlock(s);
    if (out != NULL)
        *out = rep;
    return rc;
}
