/*
 * Tests of the hourly metric rollups on the backend named by TIA_TEST_BACKEND:
 * the rollup rows equal a recomputation from the raw points (count, min and max
 * exactly, the sum to the last few bits of a double since the order of addition
 * differs); series read from the rollups agree with the same series computed
 * from the raw points (counts, min, max exactly, avg to rounding, p50/p95 within
 * the sketch's documented bound); they still answer once the raw points of the
 * rolled hours are gone (so they really read the rollups); late points mark
 * their hour dirty, show at once in series and are folded in by the next
 * rollup; a second rollup with nothing new writes nothing; rollups run beside
 * writers of late and current points lose none of them.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tia_test.h"

#include <tokyoia/maintain.h>
#include <tokyoia/metrics.h>

#include "store/rollup.h"

#define SEC INT64_C(1000000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

static const char *const agents[] = {"akira-001", "yuki-002"};
static const char *const types[] = {"latency", "delta"};

/* A fixed pseudo-random sequence (xorshift64*), so that a failure can be replayed. */
static uint64_t rng = 0x9e3779b97f4a7c15u;
static double next_unit(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0;
}

typedef struct pt {
    int agent, type;
    double v;
    tia_time_us t;
} pt;

typedef struct data {
    pt *p;
    size_t n;
    tia_time_us base; /* a UTC midnight 10 days ago */
} data;

/* A value for type k: latency spans four orders of magnitude; delta has both signs and zeros. */
static double value_for(int type)
{
    double u = next_unit();
    if (type == 0)
        return exp(u * 9.0) * 0.5; /* 0.5 .. 4000 */
    if (u < 0.1)
        return 0.0;
    return (u - 0.55) * 200.0;
}

/* Points over three days from base, a few per agent, type and hour, at odd seconds. */
static void load(tia_store *s, data *d)
{
    tia_error err = {0};
    tia_time_us now = tia_now_us();
    d->base = (now / DAY) * DAY - 10 * DAY;
    d->n = 0;
    d->p = calloc(4000, sizeof *d->p);
    assert_non_null(d->p);
    tia_metric_new batch[4000];
    for (int h = 0; h < 72; h++) {
        int k = 1 + (int)(next_unit() * 6); /* 1..6 points per agent and type */
        for (int a = 0; a < 2; a++)
            for (int ty = 0; ty < 2; ty++)
                for (int i = 0; i < k && d->n < 4000; i++) {
                    pt *p = &d->p[d->n];
                    p->agent = a;
                    p->type = ty;
                    p->v = value_for(ty);
                    p->t = d->base + h * HOUR + (int64_t)(next_unit() * 3599) * SEC + 1;
                    tia_metric_new m = {agents[a], types[ty], p->v, NULL, p->t, NULL};
                    batch[d->n++] = m;
                }
    }
    TIA_OK_OR_FAIL(tia_metric_record_batch(s, batch, d->n, &err), &err);
}

static void roll(tia_store *s, tia_time_us now, tia_rollup_result *res)
{
    tia_error err = {0};
    tia_rollup_options o = {0};
    o.now = now;
    o.grace_us = SEC;
    TIA_OK_OR_FAIL(tia_metric_rollup(s, &o, res, &err), &err);
}

static int close_rel(double got, double want, double rel)
{
    return fabs(got - want) <= rel * fmax(fabs(want), 1e-300) || got == want;
}

/*
 * The rollup rows equal count/sum/min/max recomputed from agent_metrics by SQL,
 * for the points before limit; and there is one row per (agent, type, hour) of
 * them, none for later hours.
 */
static void check_rows_against_raw(tia_store *s, tia_time_us limit)
{
    char pg[1500], lite[1500];
    /* Rows that differ: count, min or max not equal, or sum off by more than 1e-9 relative. */
    snprintf(pg, sizeof pg,
             "SELECT count(*) FROM (SELECT agent_id, metric_type, "
             "date_trunc('hour', recorded_at, 'UTC') AS h, count(*) AS c, sum(metric_value) AS s, "
             "min(metric_value) AS lo, max(metric_value) AS hi FROM agent_metrics "
             "WHERE recorded_at < 'epoch'::timestamptz + %lld * interval '1 microsecond' "
             "GROUP BY 1, 2, 3) x LEFT JOIN agent_metric_rollups r ON x.agent_id = r.agent_id "
             "AND x.metric_type = r.metric_type AND x.h = r.bucket_start "
             "WHERE r.count IS DISTINCT FROM x.c OR r.min IS DISTINCT FROM x.lo "
             "OR r.max IS DISTINCT FROM x.hi OR abs(r.sum - x.s) > 1e-9 * greatest(abs(x.s), 1e-300)",
             (long long)limit);
    snprintf(lite, sizeof lite,
             "SELECT count(*) FROM (SELECT agent_id, metric_type, recorded_at - ((recorded_at %% "
             "3600000000) + 3600000000) %% 3600000000 AS h, count(*) AS c, sum(metric_value) AS s, "
             "min(metric_value) AS lo, max(metric_value) AS hi FROM agent_metrics "
             "WHERE recorded_at < %lld GROUP BY 1, 2, 3) x "
             "LEFT JOIN agent_metric_rollups r ON x.agent_id = r.agent_id "
             "AND x.metric_type = r.metric_type AND x.h = r.bucket_start "
             "WHERE r.count IS NOT x.c OR r.min IS NOT x.lo OR r.max IS NOT x.hi "
             "OR abs(r.sum - x.s) > 1e-9 * max(abs(x.s), 1e-300)",
             (long long)limit);
    assert_int_equal(tia_test_int(s, pg, lite), 0);
    int64_t rows = tia_test_int(s, "SELECT count(*) FROM agent_metric_rollups",
                                "SELECT count(*) FROM agent_metric_rollups");
    snprintf(pg, sizeof pg,
             "SELECT count(*) FROM (SELECT DISTINCT agent_id, metric_type, "
             "date_trunc('hour', recorded_at, 'UTC') FROM agent_metrics "
             "WHERE recorded_at < 'epoch'::timestamptz + %lld * interval '1 microsecond') g",
             (long long)limit);
    snprintf(lite, sizeof lite,
             "SELECT count(*) FROM (SELECT DISTINCT agent_id, metric_type, recorded_at - "
             "((recorded_at %% 3600000000) + 3600000000) %% 3600000000 FROM agent_metrics "
             "WHERE recorded_at < %lld)",
             (long long)limit);
    assert_int_equal(rows, tia_test_int(s, pg, lite));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The bound of metrics.h for the p-quantile of sorted v[0..n). */
static double bound_for(const double *v, size_t n, double p)
{
    double pos = p * (double)(n - 1);
    double lo = fabs(v[(size_t)floor(pos)]), hi = fabs(v[(size_t)ceil(pos)]);
    return TIA__SKETCH_ALPHA * fmax(lo, hi) * (1 + 1e-9) + TIA__SKETCH_ZERO;
}

/*
 * Compares the series of q (which reads rollups) with the raw series, bucket by
 * bucket; the percentiles against the bound computed from d's points.
 */
static void compare_series(tia_store *s, const data *d, const tia_metric_query *q, int agent,
                           int type)
{
    tia_error err = {0};
    tia_metric_series got = {0}, raw = {0};
    int64_t width = tia__bucket_width(q->bucket);
    TIA_OK_OR_FAIL(tia_metric_query_series(s, q, &got, &err), &err);
    TIA_OK_OR_FAIL(tia__metric_series_raw(s, q, q->from, q->to, width, &raw, &err), &err);
    assert_true(raw.n > 0);
    assert_int_equal(got.n, raw.n);
    double *v = calloc(d->n, sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < got.n; i++) {
        tia_metric_bucket *g = &got.items[i], *r = &raw.items[i];
        assert_int_equal(g->start, r->start);
        assert_int_equal(g->count, r->count);
        if (g->min != r->min || g->max != r->max)
            fail_msg("bucket %zu: min/max %g/%g, raw %g/%g", i, g->min, g->max, r->min, r->max);
        if (!close_rel(g->avg, r->avg, 1e-9))
            fail_msg("bucket %zu: avg %.17g, raw %.17g", i, g->avg, r->avg);
        /* The exact values of the bucket, from the points this test wrote. */
        size_t n = 0;
        for (size_t j = 0; j < d->n; j++) {
            const pt *p = &d->p[j];
            if ((agent < 0 || p->agent == agent) && p->type == type && p->t >= q->from &&
                p->t < q->to && p->t - ((p->t % width) + width) % width == r->start)
                v[n++] = p->v;
        }
        assert_int_equal((int64_t)n, r->count);
        qsort(v, n, sizeof *v, cmp_double);
        if (fabs(g->p50 - r->p50) > bound_for(v, n, 0.5))
            fail_msg("bucket %zu (n=%zu): p50 %.17g, exact %.17g, bound %g", i, n, g->p50, r->p50,
                     bound_for(v, n, 0.5));
        if (fabs(g->p95 - r->p95) > bound_for(v, n, 0.95))
            fail_msg("bucket %zu (n=%zu): p95 %.17g, exact %.17g, bound %g", i, n, g->p95, r->p95,
                     bound_for(v, n, 0.95));
    }
    free(v);
    tia_metric_series_free(&got);
    tia_metric_series_free(&raw);
}

static void compare_all(tia_store *s, const data *d, tia_time_us from, tia_time_us to)
{
    for (int ty = 0; ty < 2; ty++) {
        for (int a = -1; a < 2; a++) {
            tia_metric_query q = {a < 0 ? NULL : agents[a], types[ty], from, to, TIA_BUCKET_HOUR};
            compare_series(s, d, &q, a, ty);
            q.bucket = TIA_BUCKET_DAY;
            compare_series(s, d, &q, a, ty);
        }
    }
}

static void test_rollups_equal_raw(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    data d;
    load(s, &d);
    tia_rollup_result res;
    /* Roll the first two days only: the third stays raw, the tail of the series. */
    roll(s, d.base + 2 * DAY + SEC, &res);
    assert_int_equal(res.writers_pending, 0);
    assert_int_equal(res.rolled_until, d.base + 2 * DAY);
    assert_int_equal(res.hours_rolled, 48);
    check_rows_against_raw(s, d.base + 2 * DAY);
    /* Ranges aligned and not: partial hours at both ends, a day bucket split by the tail. */
    compare_all(s, &d, d.base, d.base + 3 * DAY);
    compare_all(s, &d, d.base + 17 * MIN + 3 * SEC, d.base + 2 * DAY + 5 * HOUR + 7 * SEC);
    compare_all(s, &d, d.base + 5 * HOUR, d.base + 30 * HOUR);
    /* Then everything. */
    roll(s, d.base + 4 * DAY, &res);
    assert_int_equal(res.rolled_until, d.base + 4 * DAY - HOUR);
    check_rows_against_raw(s, d.base + 4 * DAY);
    compare_all(s, &d, d.base - DAY, d.base + 4 * DAY);
    free(d.p);
    tia_test_close(s);
}

/* Series over rolled hours answer from the rollups alone once the raw points are gone. */
static void test_series_from_rollups_only(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    data d;
    load(s, &d);
    tia_rollup_result res;
    roll(s, d.base + 3 * DAY + HOUR, &res);
    assert_int_equal(res.rolled_until, d.base + 3 * DAY);
    tia_metric_query q = {agents[0], "latency", d.base, d.base + 3 * DAY, TIA_BUCKET_HOUR};
    tia_metric_series before = {0}, after = {0};
    TIA_OK_OR_FAIL(tia_metric_query_series(s, &q, &before, &err), &err);
    assert_int_equal(before.n, 72);
    TIA_OK_OR_FAIL(tia_test_exec(s, "DELETE FROM agent_metrics", "DELETE FROM agent_metrics", &err),
                   &err);
    TIA_OK_OR_FAIL(tia_metric_query_series(s, &q, &after, &err), &err);
    assert_int_equal(after.n, before.n);
    for (size_t i = 0; i < after.n; i++) {
        assert_int_equal(after.items[i].start, before.items[i].start);
        assert_int_equal(after.items[i].count, before.items[i].count);
        assert_true(after.items[i].p95 == before.items[i].p95);
    }
    /* The raw series of the same range is empty now: the answer came from the rollups. */
    tia_metric_series raw = {0};
    TIA_OK_OR_FAIL(tia__metric_series_raw(s, &q, q.from, q.to, HOUR, &raw, &err), &err);
    assert_int_equal(raw.n, 0);
    tia_metric_series_free(&before);
    tia_metric_series_free(&after);
    free(d.p);
    tia_test_close(s);
}

static int64_t dirty_hours(tia_store *s)
{
    return tia_test_int(s, "SELECT count(*) FROM metric_rollup_dirty",
                        "SELECT count(*) FROM metric_rollup_dirty");
}

/* A late point marks its hour, shows in series at once, and the next rollup folds it in. */
static void test_late_points(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    data d;
    load(s, &d);
    tia_rollup_result res;
    roll(s, d.base + 3 * DAY + HOUR, &res);
    assert_int_equal(dirty_hours(s), 0);
    /* Points in the current (un-rolled) hour mark nothing: the hot path stays clean. */
    tia_metric_new now_pt = {agents[0], "latency", 5.0, NULL, 0, NULL};
    TIA_OK_OR_FAIL(tia_metric_record(s, &now_pt, NULL, &err), &err);
    assert_int_equal(dirty_hours(s), 0);

    tia_metric_query q = {agents[0], "latency", d.base, d.base + 3 * DAY, TIA_BUCKET_HOUR};
    tia_metric_series before = {0}, mid = {0}, after = {0};
    TIA_OK_OR_FAIL(tia_metric_query_series(s, &q, &before, &err), &err);
    /* Two late points in hour 5, one in hour 40 (a batch: one statement). */
    tia_metric_new late[3] = {
        {agents[0], "latency", 1e6, NULL, d.base + 5 * HOUR + 10 * SEC, NULL},
        {agents[0], "latency", 1e6, NULL, d.base + 5 * HOUR + 20 * SEC, NULL},
        {agents[0], "latency", 0.25, NULL, d.base + 40 * HOUR + 30 * SEC, NULL},
    };
    TIA_OK_OR_FAIL(tia_metric_record_batch(s, late, 3, &err), &err);
    assert_int_equal(dirty_hours(s), 2);
    assert_int_equal(tia_test_int(s, "SELECT max(marks) FROM metric_rollup_dirty",
                                  "SELECT max(marks) FROM metric_rollup_dirty"),
                     2);
    TIA_OK_OR_FAIL(tia_metric_query_series(s, &q, &mid, &err), &err);
    assert_int_equal(mid.n, before.n);
    assert_int_equal(mid.items[5].count, before.items[5].count + 2);
    assert_true(mid.items[5].max == 1e6);
    assert_int_equal(mid.items[40].count, before.items[40].count + 1);
    assert_true(mid.items[40].min == 0.25);

    roll(s, d.base + 3 * DAY + HOUR, &res);
    assert_int_equal(res.dirty_recomputed, 2);
    assert_int_equal(res.hours_rolled, 0);
    assert_int_equal(dirty_hours(s), 0);
    check_rows_against_raw(s, d.base + 3 * DAY);
    TIA_OK_OR_FAIL(tia_metric_query_series(s, &q, &after, &err), &err);
    assert_int_equal(after.items[5].count, mid.items[5].count);
    assert_true(after.items[5].max == 1e6);
    assert_int_equal(after.items[40].count, mid.items[40].count);
    tia_metric_series_free(&before);
    tia_metric_series_free(&mid);
    tia_metric_series_free(&after);
    free(d.p);
    tia_test_close(s);
}

/* A rollup with nothing new writes nothing and changes no row. */
static void test_rollup_idempotent(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    data d;
    load(s, &d);
    tia_rollup_result res;
    roll(s, d.base + 3 * DAY + HOUR, &res);
    assert_true(res.rows_written > 0);
    char *sum1 = tia_test_text(
        s, "SELECT string_agg(agent_id || metric_type || count || sketch, ',' ORDER BY 1) "
           "FROM (SELECT * FROM agent_metric_rollups ORDER BY agent_id, metric_type, bucket_start) r",
        "SELECT group_concat(agent_id || metric_type || count || sketch, ',') FROM (SELECT * "
        "FROM agent_metric_rollups ORDER BY agent_id, metric_type, bucket_start)");
    roll(s, d.base + 3 * DAY + HOUR, &res);
    assert_int_equal(res.rows_written, 0);
    assert_int_equal(res.hours_rolled, 0);
    assert_int_equal(res.dirty_recomputed, 0);
    char *sum2 = tia_test_text(
        s, "SELECT string_agg(agent_id || metric_type || count || sketch, ',' ORDER BY 1) "
           "FROM (SELECT * FROM agent_metric_rollups ORDER BY agent_id, metric_type, bucket_start) r",
        "SELECT group_concat(agent_id || metric_type || count || sketch, ',') FROM (SELECT * "
        "FROM agent_metric_rollups ORDER BY agent_id, metric_type, bucket_start)");
    assert_string_equal(sum1, sum2);
    free(sum1);
    free(sum2);
    free(d.p);
    tia_test_close(s);
}

/* The sketch alone: merging, the zero bucket, negatives, the bound on a wide spread. */
static void test_sketch(void **state)
{
    (void)state;
    tia__sketch a = {0}, b = {0};
    double v[2001];
    for (int i = 0; i <= 2000; i++) {
        v[i] = pow(10.0, (i - 1000) / 200.0); /* 1e-5 .. 1e5 */
        assert_int_equal(tia__sketch_add(i % 2 ? &a : &b, v[i], 1), 0);
    }
    assert_int_equal(tia__sketch_add_text(&a, "z:3,n10:2"), 0);
    assert_int_equal(tia__sketch_add_text(&a, "p1"), -2);
    assert_int_equal(tia__sketch_add_text(&a, "q1:2"), -2);
    assert_int_equal(tia__sketch_add_text(&a, "p1:0"), -2);
    /* b merged into a, entry by entry as the series merges rows. */
    for (size_t i = 0; i < b.n; i++)
        assert_int_equal(tia__sketch_add(&a, b.e[i].rep, b.e[i].count), 0);
    assert_int_equal(tia__sketch_count(&a), 2001 + 5);
    /* Sorted values: -(~1.2) x2, 0 x3, then v. */
    double all[2006];
    all[0] = all[1] = -pow((1.01 / 0.99), 10) * 2 / (1.01 / 0.99 + 1);
    all[2] = all[3] = all[4] = 0;
    memcpy(all + 5, v, sizeof v);
    for (double p = 0; p <= 1.0; p += 0.05) {
        double pos = p * 2005;
        double exact = all[(size_t)floor(pos)] +
                       (pos - floor(pos)) * (all[(size_t)ceil(pos)] - all[(size_t)floor(pos)]);
        double got = tia__sketch_quantile(&a, p, all[0], all[2005]);
        if (fabs(got - exact) > bound_for(all, 2006, p))
            fail_msg("p=%.2f: %.17g, exact %.17g", p, got, exact);
    }
    tia__sketch empty = {0};
    assert_true(isnan(tia__sketch_quantile(&empty, 0.5, 0, 1)));
    tia__sketch_free(&a);
    tia__sketch_free(&b);
}

typedef struct writer_ctx {
    tia_store *s;
    tia_time_us hour0; /* the current hour's start */
    volatile int stop;
    int64_t written;
    int rc;
} writer_ctx;

/*
 * Inserts batches of points spread over the last three hours (so some land in
 * hours being rolled or already rolled) until told to stop.
 */
static void *writer(void *arg)
{
    writer_ctx *w = arg;
    tia_error err = {0};
    int i = 0;
    while (!w->stop && w->rc == 0) {
        tia_metric_new b[8];
        for (int k = 0; k < 8; k++) {
            tia_time_us t = w->hour0 - 2 * HOUR + (int64_t)((i * 7919 + k * 104729) % 10800) * SEC;
            if (t > tia_now_us())
                t = 0; /* now */
            tia_metric_new m = {agents[k % 2], types[k % 2], (double)(i % 97) + k, NULL, t, NULL};
            b[k] = m;
        }
        w->rc = tia_metric_record_batch(w->s, b, 8, &err);
        if (w->rc == TIA_EBUSY)
            w->rc = 0; /* SQLite: the roller held the write lock past the busy timeout */
        else if (w->rc == 0)
            w->written += 8;
        i++;
        /* A pause, as between real requests: SQLite's lock is not fair to a waiter. */
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Rollups run beside writers; afterwards the rollups equal the raw points. */
static void test_rollup_beside_writers(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    writer_ctx w = {tia_test_reopen(s), (tia_now_us() / HOUR) * HOUR, 0, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer, &w), 0);
    tia_rollup_result res;
    tia_time_us until = TIA_TIME_NONE;
    for (int i = 0; i < 15; i++) {
        tia_rollup_options o = {0};
        o.grace_us = SEC;
        o.wait_us = 5 * SEC;
        int rc = tia_metric_rollup(s, &o, &res, &err);
        if (rc == TIA_EBUSY && !tia_test_is_pg())
            continue; /* SQLite: the writer kept the lock past the busy timeout; next round */
        TIA_OK_OR_FAIL(rc, &err);
        until = res.rolled_until;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    w.stop = 1;
    pthread_join(th, NULL);
    TIA_OK_OR_FAIL(w.rc, &err);
    assert_true(w.written > 0);
    assert_int_equal(until, w.hour0);
    /* The late points marked their hours; one more rollup folds them in. */
    tia_rollup_options o = {0};
    o.grace_us = SEC;
    TIA_OK_OR_FAIL(tia_metric_rollup(s, &o, &res, &err), &err);
    assert_int_equal(tia_test_int(s, "SELECT count(*) FROM metric_rollup_dirty",
                                  "SELECT count(*) FROM metric_rollup_dirty"),
                     0);
    check_rows_against_raw(s, res.rolled_until);
    tia_store_close(w.s);
    tia_test_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sketch),
        cmocka_unit_test(test_rollups_equal_raw),
        cmocka_unit_test(test_series_from_rollups_only),
        cmocka_unit_test(test_late_points),
        cmocka_unit_test(test_rollup_idempotent),
        cmocka_unit_test(test_rollup_beside_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
