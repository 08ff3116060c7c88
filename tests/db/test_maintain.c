/*
 * Tests of tia_maintain_run and its settings on the backend named by
 * TIA_TEST_BACKEND: the settings' defaults, checks and persistence; retention
 * (whole partitions dropped on PostgreSQL, batched deletes on SQLite) that
 * removes only expired points and nothing newer, keeps the rollups of what it
 * removed and never removes hours not yet rolled up; sessions past their expiry
 * marked expired and old ended ones purged, recent ones kept; a second run
 * doing nothing; a dry run changing nothing while reporting what a real run
 * does; and on PostgreSQL partitions created ahead at the granularity set, so
 * that future points land in range partitions, not the default one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tia_test.h"

#include <tokyoia/maintain.h>
#include <tokyoia/metrics.h>
#include <tokyoia/sessions.h>

#define SEC INT64_C(1000000)
#define HOUR (3600 * SEC)
#define DAY (24 * HOUR)

static int64_t count_sql(tia_store *s, const char *pg, const char *lite)
{
    return tia_test_int(s, pg, lite);
}

static int64_t points(tia_store *s)
{
    return count_sql(s, "SELECT count(*) FROM agent_metrics", "SELECT count(*) FROM agent_metrics");
}

/* Points recorded at or after t (microseconds). */
static int64_t points_since(tia_store *s, tia_time_us t)
{
    char pg[200], lite[200];
    snprintf(pg, sizeof pg,
             "SELECT count(*) FROM agent_metrics WHERE recorded_at >= 'epoch'::timestamptz + "
             "%lld * interval '1 microsecond'",
             (long long)t);
    snprintf(lite, sizeof lite, "SELECT count(*) FROM agent_metrics WHERE recorded_at >= %lld",
             (long long)t);
    return count_sql(s, pg, lite);
}

static void run(tia_store *s, tia_time_us now, int dry, int64_t batch, tia_maintain_report *rep)
{
    tia_error err = {0};
    tia_maintain_options o = {0};
    o.now = now;
    o.dry_run = dry;
    o.batch = batch;
    TIA_OK_OR_FAIL(tia_maintain_run(s, &o, rep, &err), &err);
}

static void test_settings(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    tia_maintain_settings st;
    TIA_OK_OR_FAIL(tia_maintain_settings_get(s, &st, &err), &err);
    assert_string_equal(st.partition, "month");
    assert_int_equal(st.partition_ahead_us, 30 * DAY);
    assert_int_equal(st.retention_us, 90 * DAY);
    assert_int_equal(st.rollup_retention_us, 400 * DAY);
    assert_int_equal(st.session_purge_us, 30 * DAY);

    TIA_OK_OR_FAIL(tia_maintain_setting_set(s, TIA_SETTING_PARTITION, "day", &err), &err);
    TIA_OK_OR_FAIL(tia_maintain_setting_set(s, TIA_SETTING_RETENTION, "7d", &err), &err);
    TIA_OK_OR_FAIL(tia_maintain_setting_set(s, TIA_SETTING_RETENTION, "14d", &err), &err);
    TIA_OK_OR_FAIL(tia_maintain_setting_set(s, TIA_SETTING_SESSION_PURGE, "36h", &err), &err);
    /* Refused, and nothing stored. */
    assert_int_equal(tia_maintain_setting_set(s, TIA_SETTING_PARTITION, "week", &err), TIA_EINVAL);
    assert_int_equal(tia_maintain_setting_set(s, TIA_SETTING_RETENTION, "10m", &err), TIA_EINVAL);
    assert_int_equal(tia_maintain_setting_set(s, TIA_SETTING_RETENTION, "soon", &err), TIA_EINVAL);
    assert_int_equal(tia_maintain_setting_set(s, TIA_SETTING_RETENTION, NULL, &err), TIA_EINVAL);
    assert_int_equal(tia_maintain_setting_set(s, "retention", "7d", &err), TIA_EINVAL);
    assert_int_equal(count_sql(s, "SELECT count(*) FROM tokyoia_settings",
                               "SELECT count(*) FROM tokyoia_settings"),
                     3);

    /* Several at once: all or none. */
    const char *keys[] = {TIA_SETTING_SESSION_PURGE, TIA_SETTING_RETENTION};
    const char *bad[] = {"48h", "5x"};
    assert_int_equal(tia_maintain_settings_set(s, keys, bad, 2, &err), TIA_EINVAL);
    TIA_OK_OR_FAIL(tia_maintain_settings_get(s, &st, &err), &err);
    assert_int_equal(st.session_purge_us, 36 * HOUR); /* the good one was not stored either */
    /* Rollups never expire before the raw points they cover, however it is asked. */
    assert_int_equal(tia_maintain_setting_set(s, TIA_SETTING_ROLLUP_RETENTION, "7d", &err),
                     TIA_EINVAL);
    assert_non_null(strstr(err.message, TIA_SETTING_ROLLUP_RETENTION));
    const char *both[] = {TIA_SETTING_RETENTION, TIA_SETTING_ROLLUP_RETENTION};
    const char *longer_raw[] = {"30d", "20d"}, *ok[] = {"14d", "20d"};
    assert_int_equal(tia_maintain_settings_set(s, both, longer_raw, 2, &err), TIA_EINVAL);
    TIA_OK_OR_FAIL(tia_maintain_settings_set(s, both, ok, 2, &err), &err);
    assert_int_equal(tia_maintain_setting_set(s, TIA_SETTING_RETENTION, "21d", &err), TIA_EINVAL);
    TIA_OK_OR_FAIL(tia_maintain_setting_set(s, TIA_SETTING_ROLLUP_RETENTION, "400d", &err), &err);
    assert_int_equal(count_sql(s, "SELECT count(*) FROM tokyoia_settings",
                               "SELECT count(*) FROM tokyoia_settings"),
                     4);

    /* Another connection sees them: they live in the database. */
    tia_store *t = tia_test_reopen(s);
    TIA_OK_OR_FAIL(tia_maintain_settings_get(t, &st, &err), &err);
    assert_string_equal(st.partition, "day");
    assert_int_equal(st.retention_us, 14 * DAY);
    assert_int_equal(st.session_purge_us, 36 * HOUR);
    assert_int_equal(st.partition_ahead_us, 30 * DAY);
    tia_store_close(t);

    /* A bad value written behind the library's back is reported, not used. */
    TIA_OK_OR_FAIL(tia_test_exec(s, "UPDATE tokyoia_settings SET value = 'x' WHERE key = "
                                    "'metric_retention'",
                                 "UPDATE tokyoia_settings SET value = 'x' WHERE key = "
                                 "'metric_retention'",
                                 &err),
                   &err);
    assert_int_equal(tia_maintain_settings_get(s, &st, &err), TIA_EINVAL);
    assert_non_null(strstr(err.message, "metric_retention"));
    /* ... and can be replaced through the library. */
    TIA_OK_OR_FAIL(tia_maintain_setting_set(s, TIA_SETTING_RETENTION, "30d", &err), &err);
    TIA_OK_OR_FAIL(tia_maintain_settings_get(s, &st, &err), &err);
    assert_int_equal(st.retention_us, 30 * DAY);
    tia_test_close(s);
}

/* PostgreSQL: partitions back to from, so that old points land in range partitions. */
static void partitions_from(tia_store *s, tia_time_us from)
{
    tia_error err = {0};
    char pg[256];
    snprintf(pg, sizeof pg,
             "SELECT count(*) FROM tia_metric_partitions_ensure('epoch'::timestamptz + %lld * "
             "interval '1 microsecond', now())",
             (long long)from);
    TIA_OK_OR_FAIL(tia_test_exec(s, pg, "SELECT 1", &err), &err);
}

/* PostgreSQL: partitions that end at or before t. */
static int64_t partitions_ending_by(tia_store *s, tia_time_us t)
{
    char pg[256];
    snprintf(pg, sizeof pg,
             "SELECT count(*) FROM tia_metric_partitions WHERE range_end <= 'epoch'::timestamptz "
             "+ %lld * interval '1 microsecond'",
             (long long)t);
    return tia_test_int(s, pg, NULL);
}

/* Points of two agents every 6 hours from now - 150 days to now - 1 hour. */
static int64_t load_history(tia_store *s, tia_time_us now)
{
    tia_error err = {0};
    static tia_metric_new batch[2 * 600];
    size_t n = 0;
    for (tia_time_us t = now - 150 * DAY; t < now - HOUR; t += 6 * HOUR) {
        tia_metric_new a = {"akira-001", "latency", (double)(t % 1000) + 1, NULL, t, NULL};
        tia_metric_new b = {"hiro-003", "tokens", 42, NULL, t + 17 * SEC, NULL};
        batch[n++] = a;
        batch[n++] = b;
    }
    TIA_OK_OR_FAIL(tia_metric_record_batch(s, batch, n, &err), &err);
    return (int64_t)n;
}

static void test_retention(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    tia_time_us now = (tia_now_us() / HOUR) * HOUR + 30 * 60 * SEC;
    tia_time_us cutoff = now - 90 * DAY;
    if (tia_test_is_pg())
        partitions_from(s, now - 160 * DAY);
    int64_t total = load_history(s, now);
    int64_t newer = points_since(s, cutoff);
    assert_true(newer < total);

    /*
     * The series of the oldest week, before anything is removed; whole hours, as
     * the rollups keep whole hours (metrics.h: partial hours at the edges of a
     * range come from raw points).
     */
    tia_time_us from = ((now - 150 * DAY) / HOUR + 1) * HOUR;
    tia_metric_query q = {"akira-001", "latency", from, from + 7 * DAY, TIA_BUCKET_DAY};
    tia_metric_series before = {0}, after = {0};
    TIA_OK_OR_FAIL(tia_metric_query_series(s, &q, &before, &err), &err);
    assert_true(before.n == 7 || before.n == 8);

    tia_maintain_report rep;
    run(s, now, 0, 7, &rep); /* batches of 7 rows: many transactions on SQLite */
    assert_int_equal(rep.rollup.rolled_until, now - 30 * 60 * SEC);
    /* Nothing at or after the cutoff is lost. */
    assert_int_equal(points_since(s, cutoff), newer);
    if (tia_test_is_pg()) {
        /* Whole partitions before the cutoff are gone (150 days back: at least two months). */
        assert_true(rep.partitions_dropped >= 2);
        assert_int_equal(partitions_ending_by(s, cutoff), 0);
        /* What is left before the cutoff lies in the partition that holds the cutoff. */
        char pg[400];
        snprintf(pg, sizeof pg,
                 "SELECT count(*) FROM agent_metrics WHERE recorded_at < (SELECT range_start FROM "
                 "tia_metric_partitions WHERE range_end > 'epoch'::timestamptz + %lld * "
                 "interval '1 microsecond' ORDER BY range_start LIMIT 1)",
                 (long long)cutoff);
        assert_int_equal(tia_test_int(s, pg, NULL), 0);
    } else {
        /* Exactly the expired points are gone, in batches. */
        assert_int_equal(points(s), newer);
        assert_int_equal(rep.points_deleted, total - newer);
    }
    /* The rollups of the removed points remain: the old week's series is unchanged. */
    TIA_OK_OR_FAIL(tia_metric_query_series(s, &q, &after, &err), &err);
    assert_int_equal(after.n, before.n);
    for (size_t i = 0; i < after.n; i++) {
        assert_int_equal(after.items[i].start, before.items[i].start);
        assert_int_equal(after.items[i].count, before.items[i].count);
        assert_true(after.items[i].max == before.items[i].max);
    }
    tia_metric_series_free(&before);
    tia_metric_series_free(&after);
    if (tia_test_is_pg()) {
        /* A partition detached by an interrupted run is dropped by the next one. */
        TIA_OK_OR_FAIL(tia_test_exec(s,
                                     "CREATE TABLE agent_metrics_p19990101 (LIKE agent_metrics)",
                                     NULL, &err),
                       &err);
        run(s, now, 0, 7, &rep);
        assert_int_equal(count_sql(s,
                                   "SELECT count(*) FROM pg_class WHERE relname = "
                                   "'agent_metrics_p19990101'",
                                   NULL),
                         0);
    }

    /* Idempotent: a second run finds nothing to do. */
    int64_t left = points(s);
    run(s, now, 0, 7, &rep);
    assert_int_equal(rep.partitions_created, 0);
    assert_int_equal(rep.partitions_dropped, 0);
    assert_int_equal(rep.points_deleted, 0);
    assert_int_equal(rep.rollup.hours_rolled, 0);
    assert_int_equal(rep.rollup.rows_written, 0);
    assert_int_equal(points(s), left);
    tia_test_close(s);
}

/*
 * A dry run reports what a run does and keeps nothing. On PostgreSQL, points not
 * yet rolled up are never removed: with a writer from before the rollup
 * boundary still open, the rollup does not advance and the partitions past the
 * retention that it does not cover are kept.
 */
/*
 * A rollup_retention shorter than metric_retention stored behind the library's
 * back (tia_maintain_settings_set refuses it): maintain still keeps the rollups
 * of every hour whose raw points it keeps, so a week of the raw window reads the
 * same after the run. Fails while rollups are deleted by rollup_retention alone
 * (the series then read those hours as empty).
 */
static void test_rollups_outlive_raw_points(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    tia_time_us now = (tia_now_us() / HOUR) * HOUR + 30 * 60 * SEC;
    if (tia_test_is_pg())
        partitions_from(s, now - 160 * DAY);
    load_history(s, now);
    TIA_OK_OR_FAIL(tia_test_exec(s,
                                 "INSERT INTO tokyoia_settings (key, value) VALUES "
                                 "('rollup_retention', '2d')",
                                 "INSERT INTO tokyoia_settings (key, value) VALUES "
                                 "('rollup_retention', '2d')",
                                 &err),
                   &err);
    tia_time_us from = ((now - 30 * DAY) / HOUR + 1) * HOUR;
    tia_metric_query q = {"akira-001", "latency", from, from + 7 * DAY, TIA_BUCKET_DAY};
    tia_metric_series before = {0}, after = {0};
    TIA_OK_OR_FAIL(tia_metric_query_series(s, &q, &before, &err), &err);
    assert_true(before.n >= 7);
    tia_maintain_report rep;
    run(s, now, 0, 0, &rep);
    TIA_OK_OR_FAIL(tia_metric_query_series(s, &q, &after, &err), &err);
    assert_int_equal(after.n, before.n);
    for (size_t i = 0; i < after.n; i++) {
        assert_int_equal(after.items[i].start, before.items[i].start);
        assert_int_equal(after.items[i].count, before.items[i].count);
    }
    tia_metric_series_free(&before);
    tia_metric_series_free(&after);
    tia_test_close(s);
}

static void test_dry_run_and_unrolled_kept(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    tia_time_us now = (tia_now_us() / HOUR) * HOUR;
    if (tia_test_is_pg())
        partitions_from(s, now - 160 * DAY);
    int64_t total = load_history(s, now);
    tia_rollup_options ro = {0};
    ro.now = now - 120 * DAY;
    tia_rollup_result rr;
    TIA_OK_OR_FAIL(tia_metric_rollup(s, &ro, &rr, &err), &err);
    tia_time_us rolled = now - 120 * DAY - HOUR;
    assert_int_equal(rr.rolled_until, rolled);
    const char *pg_rolled = "SELECT " TIA_PG_US("rolled_until") " FROM metric_rollup_state";
    const char *lite_rolled = "SELECT rolled_until FROM metric_rollup_state";

    tia_maintain_report dry, rep, pend;
    memset(&pend, 0, sizeof pend);
    run(s, now, 1, 0, &dry);
    assert_true(dry.rollup.hours_rolled > 0);
    assert_int_equal(points(s), total);
    assert_int_equal(count_sql(s, pg_rolled, lite_rolled), rolled);

    if (tia_test_is_pg()) {
        int64_t unrolled = points_since(s, rolled);
        tia_store *w = tia_test_reopen(s);
        TIA_OK_OR_FAIL(tia__db_begin(w, &err), &err);
        /* Any write gives it a transaction id; this one locks nothing maintain needs. */
        tia_session_new sn = {"pending-writer", NULL, NULL, 0};
        char token[TIA_TOKEN_BUF];
        TIA_OK_OR_FAIL(tia_session_create(w, &sn, token, NULL, &err), &err);
        tia_maintain_options o = {0};
        o.now = now;
        o.wait_us = 300 * 1000;
        TIA_OK_OR_FAIL(tia_maintain_run(s, &o, &pend, &err), &err);
        assert_int_equal(pend.rollup.writers_pending, 1);
        assert_int_equal(pend.rollup.hours_rolled, 0);
        assert_true(pend.partitions_kept >= 1);
        assert_int_equal(partitions_ending_by(s, rolled), 0);
        assert_int_equal(points_since(s, rolled), unrolled);
        tia__db_rollback(w);
        tia_store_close(w);
        assert_int_equal(count_sql(s, pg_rolled, lite_rolled), rolled);
    }
    /* Now a real run does what the dry run said. */
    run(s, now, 0, 0, &rep);
    assert_int_equal(rep.rollup.hours_rolled, dry.rollup.hours_rolled);
    assert_int_equal(rep.points_deleted, dry.points_deleted);
    assert_int_equal(rep.partitions_dropped + pend.partitions_dropped, dry.partitions_dropped);
    assert_int_equal(rep.partitions_kept, 0);
    assert_int_equal(count_sql(s, pg_rolled, lite_rolled), now - HOUR);
    tia_test_close(s);
}

static void test_sessions(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    const char *users[] = {"active-later", "expired-now", "expired-long-ago", "revoked-recent",
                           "revoked-long-ago", "never-expires"};
    char ids[6][TIA_UUID_BUF];
    for (int i = 0; i < 6; i++) {
        tia_session_new n = {users[i], NULL, NULL, i == 5 ? 0 : DAY};
        char token[TIA_TOKEN_BUF];
        TIA_OK_OR_FAIL(tia_session_create(s, &n, token, ids[i], &err), &err);
    }
    TIA_OK_OR_FAIL(tia_session_revoke(s, ids[3], &err), &err);
    TIA_OK_OR_FAIL(tia_session_revoke(s, ids[4], &err), &err);
    /* Move the clocks of some sessions into the past. */
    TIA_OK_OR_FAIL(
        tia_test_exec(s,
                      "UPDATE user_sessions SET expires_at = now() - interval '1 hour' "
                      "WHERE user_id = 'expired-now';"
                      "UPDATE user_sessions SET expires_at = now() - interval '40 days', "
                      "last_activity_at = now() - interval '41 days' "
                      "WHERE user_id = 'expired-long-ago';"
                      "UPDATE user_sessions SET last_activity_at = now() - interval '60 days' "
                      "WHERE user_id = 'revoked-long-ago'",
                      "UPDATE user_sessions SET expires_at = expires_at - 86400000000 - 3600000000 "
                      "WHERE user_id = 'expired-now';"
                      "UPDATE user_sessions SET expires_at = expires_at - 41 * 86400000000, "
                      "last_activity_at = last_activity_at - 41 * 86400000000 "
                      "WHERE user_id = 'expired-long-ago';"
                      "UPDATE user_sessions SET last_activity_at = last_activity_at - 60 * "
                      "86400000000 WHERE user_id = 'revoked-long-ago'",
                      &err),
        &err);
    tia_maintain_report rep;
    run(s, 0, 0, 1, &rep);
    assert_int_equal(rep.sessions_expired, 2); /* expired-now and expired-long-ago */
    assert_int_equal(rep.sessions_purged, 2);  /* expired-long-ago and revoked-long-ago */
    const char *pg_left = "SELECT string_agg(user_id || ':' || status, ',' ORDER BY user_id) "
                          "FROM user_sessions";
    const char *lite_left = "SELECT group_concat(user_id || ':' || status, ',') FROM (SELECT * "
                            "FROM user_sessions ORDER BY user_id)";
    char *left = tia_test_text(s, pg_left, lite_left);
    assert_string_equal(left, "active-later:active,expired-now:expired,never-expires:active,"
                              "revoked-recent:revoked");
    free(left);
    run(s, 0, 0, 1, &rep);
    assert_int_equal(rep.sessions_expired, 0);
    assert_int_equal(rep.sessions_purged, 0);
    tia_test_close(s);
}

/* PostgreSQL: partitions ahead at the granularity set; future points land in them. */
static void test_partitions_ahead(void **state)
{
    (void)state;
    if (!tia_test_is_pg())
        return; /* SQLite has no partitions: nothing of this applies */
    tia_store *s = tia_test_open();
    tia_error err = {0};
    int64_t months = count_sql(s, "SELECT count(*) FROM tia_metric_partitions", NULL);
    assert_true(months >= 4); /* 90 days back and 30 ahead, by month, made by the migration */
    TIA_OK_OR_FAIL(tia_maintain_setting_set(s, TIA_SETTING_PARTITION, "day", &err), &err);
    TIA_OK_OR_FAIL(tia_maintain_setting_set(s, TIA_SETTING_PARTITION_AHEAD, "120d", &err), &err);
    tia_maintain_report rep;
    run(s, 0, 0, 0, &rep);
    assert_true(rep.partitions_created > 0);
    /* The new ones are days, after the months, and reach 120 days ahead without a gap. */
    assert_int_equal(count_sql(s,
                               "SELECT count(*) FROM tia_metric_partitions WHERE range_end - "
                               "range_start = interval '1 day'",
                               NULL),
                     rep.partitions_created);
    assert_int_equal(count_sql(s,
                               "SELECT count(*) FROM tia_metric_partitions p WHERE range_start > "
                               "(SELECT min(range_start) FROM tia_metric_partitions) AND NOT "
                               "EXISTS (SELECT 1 FROM tia_metric_partitions q WHERE q.range_end = "
                               "p.range_start)",
                               NULL),
                     0);
    assert_int_equal(count_sql(s,
                               "SELECT (max(range_end) >= now() + interval '120 days')::int "
                               "FROM tia_metric_partitions",
                               NULL),
                     1);
    /* Every partition has the seed's index. */
    assert_int_equal(count_sql(s,
                               "SELECT count(*) FROM pg_inherits WHERE inhparent = "
                               "'idx_metrics_agent_type_time'::regclass",
                               NULL),
                     count_sql(s, "SELECT count(*) FROM tia_metric_partitions", NULL) + 1);
    /* A point 100 days ahead goes to a day partition; one in 2090 to the default one. */
    tia_time_us t = tia_now_us() + 100 * DAY;
    tia_metric_new p[2] = {{"akira-001", "latency", 1, NULL, t, NULL},
                           {"akira-001", "latency", 2, NULL, INT64_C(3786912000) * SEC, NULL}};
    TIA_OK_OR_FAIL(tia_metric_record_batch(s, p, 2, &err), &err);
    assert_int_equal(count_sql(s,
                               "SELECT count(*) FROM agent_metrics WHERE tableoid = "
                               "'agent_metrics_default'::regclass",
                               NULL),
                     1);
    /* Idempotent. */
    run(s, 0, 0, 0, &rep);
    assert_int_equal(rep.partitions_created, 0);
    tia_test_close(s);
}

/* PostgreSQL: a stray row in the default partition moves to its own partition. */
static void test_strays_move(void **state)
{
    (void)state;
    if (!tia_test_is_pg())
        return; /* SQLite has no partitions: nothing of this applies */
    tia_store *s = tia_test_open();
    tia_error err = {0};
    tia_time_us t = tia_now_us() + 200 * DAY; /* past the migration's 30 days ahead */
    tia_metric_new p = {"akira-001", "latency", 1, NULL, t, NULL};
    TIA_OK_OR_FAIL(tia_metric_record(s, &p, NULL, &err), &err);
    assert_int_equal(count_sql(s, "SELECT count(*) FROM agent_metrics_default", NULL), 1);
    tia_maintain_report rep;
    run(s, 0, 0, 0, &rep);
    assert_int_equal(rep.strays_moved, 1);
    assert_int_equal(count_sql(s, "SELECT count(*) FROM agent_metrics_default", NULL), 0);
    assert_int_equal(points(s), 1);
    tia_test_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_rollups_outlive_raw_points),
        cmocka_unit_test(test_dry_run_and_unrolled_kept),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_partitions_ahead),
        cmocka_unit_test(test_strays_move),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
