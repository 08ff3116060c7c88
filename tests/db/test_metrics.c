/*
 * Tests of the agent_metrics module on the backend named by TIA_TEST_BACKEND:
 * recording and listing points, refusing bad input without writing anything,
 * all-or-nothing batches at and past their size limit, and series bucketed by
 * minute, hour and day, checked against numbers worked out here (by hand for the
 * classic 1..10 case, and by a small reference for the rest) so that both
 * backends are held to the same answers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tia_test.h"

#include <tokyoia/metrics.h>

#define AKIRA "akira-001"
#define YUKI "yuki-002"
#define SEC INT64_C(1000000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
/* 2026-03-01T00:00:00Z, a UTC midnight. */
#define T0 (INT64_C(1772323200) * SEC)

static int64_t count_rows(tia_store *s)
{
    return tia_test_int(s, "SELECT count(*) FROM agent_metrics",
                        "SELECT count(*) FROM agent_metrics");
}

static tia_metric_new point(const char *agent, const char *type, double v, tia_time_us t)
{
    tia_metric_new m = {agent, type, v, NULL, t, NULL};
    return m;
}

static void assert_json_equal(const char *got, const char *want)
{
    json_t *g = json_loads(got, JSON_DECODE_ANY, NULL);
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    if (g == NULL || w == NULL || !json_equal(g, w))
        fail_msg("JSON differs: got %s, want %s", got, want);
    json_decref(g);
    json_decref(w);
}

static void test_record_and_list(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    char id1[TIA_UUID_BUF], id2[TIA_UUID_BUF], id3[TIA_UUID_BUF];
    tia_metric_new a = {AKIRA, "latency", 0.1, "ms", T0, "{\"model\": \"opus\", \"n\": [1, 2]}"};
    tia_metric_new b = {YUKI, "latency", 1.0 / 3.0, NULL, T0 + SEC, NULL};
    tia_metric_new c = {AKIRA, "tokens", -2.5e-300, "tok", 0, NULL}; /* 0: now */
    TIA_OK_OR_FAIL(tia_metric_record(s, &a, id1, &err), &err);
    TIA_OK_OR_FAIL(tia_metric_record(s, &b, id2, &err), &err);
    tia_time_us before = tia_now_us();
    TIA_OK_OR_FAIL(tia_metric_record(s, &c, id3, &err), &err);
    tia_time_us after = tia_now_us();
    assert_int_equal(count_rows(s), 3);

    struct tia_metric_list l = {0};
    TIA_OK_OR_FAIL(tia_metric_list(s, NULL, NULL, 0, &l, &err), &err);
    assert_int_equal(l.n, 3);
    /* Newest first: c (now), then b, then a. */
    assert_string_equal(l.items[0].id, id3);
    assert_string_equal(l.items[1].id, id2);
    assert_string_equal(l.items[2].id, id1);
    /* Recorded "now" by the database's clock, which is this machine's clock. */
    if (l.items[0].recorded_at < before - SEC || l.items[0].recorded_at > after + SEC)
        fail_msg("recorded_at %lld not within [%lld, %lld]", (long long)l.items[0].recorded_at,
                 (long long)before, (long long)after);
    assert_true(l.items[0].value == -2.5e-300);
    assert_string_equal(l.items[0].unit, "tok");
    assert_json_equal(l.items[0].context, "{}");
    assert_string_equal(l.items[1].agent_id, YUKI);
    assert_true(l.items[1].value == 1.0 / 3.0); /* exact round trip */
    assert_null(l.items[1].unit);
    assert_int_equal(l.items[1].recorded_at, T0 + SEC);
    assert_string_equal(l.items[2].agent_id, AKIRA);
    assert_string_equal(l.items[2].metric_type, "latency");
    assert_true(l.items[2].value == 0.1);
    assert_string_equal(l.items[2].unit, "ms");
    assert_int_equal(l.items[2].recorded_at, T0);
    assert_json_equal(l.items[2].context, a.context);
    tia_metric_list_free(&l);
    assert_null(l.items);

    TIA_OK_OR_FAIL(tia_metric_list(s, AKIRA, NULL, 0, &l, &err), &err);
    assert_int_equal(l.n, 2);
    tia_metric_list_free(&l);
    TIA_OK_OR_FAIL(tia_metric_list(s, AKIRA, "latency", 0, &l, &err), &err);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].id, id1);
    tia_metric_list_free(&l);
    TIA_OK_OR_FAIL(tia_metric_list(s, NULL, NULL, 1, &l, &err), &err);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].id, id3);
    tia_metric_list_free(&l);
    TIA_ASSERT_RC(tia_metric_list(s, NULL, NULL, TIA_PAGE_MAX + 1, &l, &err), TIA_EINVAL, &err);
    tia_metric_list_free(NULL);
    tia_test_close(s);
}

/* Records m, expecting want and a message containing words; nothing may be written. */
static void refuse(tia_store *s, const tia_metric_new *m, int want, const char *words)
{
    tia_error err = {0};
    char id[TIA_UUID_BUF];
    TIA_ASSERT_RC(tia_metric_record(s, m, id, &err), want, &err);
    if (strstr(err.message, words) == NULL)
        fail_msg("message '%s' does not mention '%s'", err.message, words);
    assert_int_equal(count_rows(s), 0);
}

static void test_record_refuses_bad_input(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    /* 49 ASCII characters and one two-byte character: 50 characters, 51 bytes. */
    char at_limit[64], over[64];
    memset(at_limit, 'a', 49);
    strcpy(at_limit + 49, "\xc3\xa9");
    strcpy(over, at_limit);
    strcat(over, "\xc3\xa9");

    tia_metric_new m = point("nobody-999", "latency", 1, T0);
    refuse(s, &m, TIA_ENOTFOUND, "unknown agent 'nobody-999'");
    m = point(AKIRA, "latency", NAN, T0);
    refuse(s, &m, TIA_EINVAL, "value");
    m = point(AKIRA, "latency", INFINITY, T0);
    refuse(s, &m, TIA_EINVAL, "value");
    m = point(AKIRA, "latency", -INFINITY, T0);
    refuse(s, &m, TIA_EINVAL, "value");
    m = point(AKIRA, over, 1, T0);
    refuse(s, &m, TIA_EINVAL, "metric_type is too long (51 characters");
    m = point(AKIRA, NULL, 1, T0);
    refuse(s, &m, TIA_EINVAL, "metric_type");
    m = point(NULL, "latency", 1, T0);
    refuse(s, &m, TIA_EINVAL, "agent_id");
    m = point(AKIRA, "latency", 1, T0);
    m.unit = "123456789012345678901";
    refuse(s, &m, TIA_EINVAL, "unit");
    m.unit = NULL;
    m.context = "{\"a\": 1,}";
    refuse(s, &m, TIA_EINVAL, "context is not valid JSON");
    refuse(s, NULL, TIA_EINVAL, "metric");

    /* At the limit in characters (but past it in bytes) is accepted and kept whole. */
    m = point(AKIRA, at_limit, 1, T0);
    TIA_OK_OR_FAIL(tia_metric_record(s, &m, NULL, &err), &err);
    struct tia_metric_list l = {0};
    TIA_OK_OR_FAIL(tia_metric_list(s, NULL, at_limit, 0, &l, &err), &err);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].metric_type, at_limit);
    tia_metric_list_free(&l);
    tia_test_close(s);
}

static tia_metric_new *make_batch(size_t n)
{
    tia_metric_new *items = calloc(n, sizeof *items);
    assert_non_null(items);
    for (size_t i = 0; i < n; i++)
        items[i] = point(i % 2 ? AKIRA : YUKI, "latency", 0.5 * (double)i, T0 + (int64_t)i * SEC);
    return items;
}

static void test_batch_all_or_nothing(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    tia_metric_new *items = make_batch(5);

    items[2].value = NAN; /* refused before anything is written */
    TIA_ASSERT_RC(tia_metric_record_batch(s, items, 5, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "items[2].value"));
    assert_int_equal(count_rows(s), 0);

    /* Refused by the database's foreign key after items 0..2 went in: all rolled back. */
    items[2].value = 1;
    items[3].agent_id = "ghost-404";
    TIA_ASSERT_RC(tia_metric_record_batch(s, items, 5, &err), TIA_ENOTFOUND, &err);
    assert_non_null(strstr(err.message, "unknown agent 'ghost-404'"));
    assert_int_equal(count_rows(s), 0);

    items[3].agent_id = AKIRA;
    items[1].context = "[1,";
    TIA_ASSERT_RC(tia_metric_record_batch(s, items, 5, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "items[1].context"));
    assert_int_equal(count_rows(s), 0);

    items[1].context = "{\"ok\": true}";
    TIA_OK_OR_FAIL(tia_metric_record_batch(s, items, 5, &err), &err);
    assert_int_equal(count_rows(s), 5);
    free(items);
    tia_test_close(s);
}

static void test_batch_limits(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    size_t n = TIA_METRIC_BATCH_MAX;
    tia_metric_new *items = make_batch(n + 1);

    TIA_ASSERT_RC(tia_metric_record_batch(s, items, 0, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_metric_record_batch(s, items, n + 1, &err), TIA_EINVAL, &err);
    assert_int_equal(count_rows(s), 0);
    /* A full batch whose last point the database refuses leaves nothing behind
     * (PostgreSQL sends it in several statements, so this needs the transaction). */
    items[n - 1].agent_id = "ghost-404";
    TIA_ASSERT_RC(tia_metric_record_batch(s, items, n, &err), TIA_ENOTFOUND, &err);
    assert_int_equal(count_rows(s), 0);
    items[n - 1].agent_id = AKIRA;
    TIA_OK_OR_FAIL(tia_metric_record_batch(s, items, n, &err), &err);
    assert_int_equal(count_rows(s), n);
    /* Every value and time arrived intact: sum of 0.5 * i, first and last instants. */
    int64_t twice_sum = tia_test_int(s, "SELECT (2 * sum(metric_value))::int8 FROM agent_metrics",
                                     "SELECT CAST(2 * sum(metric_value) AS INTEGER) FROM "
                                     "agent_metrics");
    assert_int_equal(twice_sum, (int64_t)(n * (n - 1) / 2));
    int64_t last = tia_test_int(s,
                                "SELECT (extract(epoch from max(recorded_at)) * 1000000)::int8 "
                                "FROM agent_metrics",
                                "SELECT max(recorded_at) FROM agent_metrics");
    assert_int_equal(last, T0 + (int64_t)(n - 1) * SEC);
    int64_t akira =
        tia_test_int(s, "SELECT count(*) FROM agent_metrics WHERE agent_id = 'akira-001'",
                     "SELECT count(*) FROM agent_metrics WHERE agent_id = 'akira-001'");
    assert_int_equal(akira, n / 2);
    free(items);
    tia_test_close(s);
}

/* ---- series ---------------------------------------------------------------- */

typedef struct sample {
    const char *agent;
    const char *type;
    tia_time_us t;
    double v;
} sample;

/* Values 1..10 in minute T0+10m at seconds 0..9 (value i+1 at second i), shuffled. */
static const int shuffled[10] = {7, 3, 10, 1, 5, 9, 2, 8, 6, 4};

static const sample extra[] = {
    {AKIRA, "latency", T0 + 11 * MIN, 4},            /* next minute, alone */
    {AKIRA, "latency", T0 + 2 * HOUR + 30 * MIN, 8}, /* 2..8 in one minute */
    {AKIRA, "latency", T0 + 2 * HOUR + 30 * MIN + 59 * SEC, 2},
    {AKIRA, "latency", T0 + 3 * HOUR, 0.1}, /* awkward binary fractions */
    {AKIRA, "latency", T0 + 3 * HOUR + SEC, 0.2},
    {AKIRA, "latency", T0 + 3 * HOUR + 2 * SEC, 0.7},
    {AKIRA, "latency", T0 + DAY + 5 * HOUR, 300}, /* the next UTC day */
    {AKIRA, "latency", T0 + DAY + 5 * HOUR + 1, 100},
    {AKIRA, "latency", T0 + DAY + 5 * HOUR + 2, 200},
    {AKIRA, "latency", T0 - 1, 50},                   /* 23:59:59.999999 the day before */
    {AKIRA, "latency", -1, 7},                        /* before 1970 */
    {YUKI, "latency", T0 + 10 * MIN + 5 * SEC, 1000}, /* another agent */
    {AKIRA, "tokens", T0 + 10 * MIN, 12345},          /* another type */
};

#define NSAMPLES (10 + sizeof extra / sizeof extra[0])

static void load_samples(tia_store *s, sample *all)
{
    tia_metric_new items[NSAMPLES];
    for (size_t i = 0; i < 10; i++) {
        int v = shuffled[i];
        all[i] = (sample){AKIRA, "latency", T0 + 10 * MIN + (v - 1) * SEC, v};
    }
    memcpy(all + 10, extra, sizeof extra);
    for (size_t i = 0; i < NSAMPLES; i++)
        items[i] = point(all[i].agent, all[i].type, all[i].v, all[i].t);
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_metric_record_batch(s, items, NSAMPLES, &err), &err);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The reference: the k-th smallest values at rank p * (n - 1), interpolated. */
static double ref_percentile(const double *sorted, size_t n, double p)
{
    double rank = p * (double)(n - 1);
    size_t i = (size_t)rank;
    if (i + 1 >= n)
        return sorted[n - 1];
    return sorted[i] + (rank - (double)i) * (sorted[i + 1] - sorted[i]);
}

static int64_t ref_floor(int64_t t, int64_t w)
{
    return t >= 0 ? t / w * w : -((-t + w - 1) / w) * w;
}

/* Expected series of q over samples, into out (at most NSAMPLES buckets). */
static size_t reference(const sample *all, const tia_metric_query *q, int64_t w,
                        tia_metric_bucket *out)
{
    size_t nb = 0;
    int64_t starts[NSAMPLES];
    for (size_t i = 0; i < NSAMPLES; i++) { /* distinct starts of the matching samples */
        const sample *x = &all[i];
        if (strcmp(x->type, q->metric_type) != 0 ||
            (q->agent_id && strcmp(x->agent, q->agent_id)) || x->t < q->from || x->t >= q->to)
            continue;
        int64_t b = ref_floor(x->t, w);
        size_t k = 0;
        while (k < nb && starts[k] != b)
            k++;
        if (k == nb)
            starts[nb++] = b;
    }
    for (size_t i = 1; i < nb; i++) /* insertion sort of a handful */
        for (size_t j = i; j > 0 && starts[j - 1] > starts[j]; j--) {
            int64_t t = starts[j];
            starts[j] = starts[j - 1];
            starts[j - 1] = t;
        }
    for (size_t k = 0; k < nb; k++) {
        double v[NSAMPLES], sum = 0;
        size_t n = 0;
        for (size_t i = 0; i < NSAMPLES; i++) {
            const sample *x = &all[i];
            if (strcmp(x->type, q->metric_type) == 0 &&
                (!q->agent_id || !strcmp(x->agent, q->agent_id)) && x->t >= q->from &&
                x->t < q->to && ref_floor(x->t, w) == starts[k])
                v[n++] = x->v;
        }
        qsort(v, n, sizeof *v, cmp_double);
        for (size_t i = 0; i < n; i++)
            sum += v[i];
        out[k] = (tia_metric_bucket){starts[k],
                                     (int64_t)n,
                                     sum / (double)n,
                                     v[0],
                                     v[n - 1],
                                     ref_percentile(v, n, 0.5),
                                     ref_percentile(v, n, 0.95)};
    }
    return nb;
}

static void assert_close(double got, double want, double rel, const char *what, size_t k)
{
    if (fabs(got - want) > rel * fmax(1.0, fabs(want)))
        fail_msg("bucket %zu %s: got %.17g, want %.17g", k, what, got, want);
}

/* Runs q and compares it with the reference; returns the series (caller frees). */
static tia_metric_series check_series(tia_store *s, const sample *all, const tia_metric_query *q)
{
    static const int64_t widths[] = {MIN, HOUR, DAY};
    tia_metric_bucket want[NSAMPLES];
    size_t n = reference(all, q, widths[q->bucket], want);
    tia_metric_series got = {0};
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_metric_query_series(s, q, &got, &err), &err);
    if (got.n != n)
        fail_msg("%s series: got %zu buckets, want %zu", tia_bucket_name(q->bucket), got.n, n);
    for (size_t k = 0; k < n; k++) {
        const tia_metric_bucket *g = &got.items[k], *w = &want[k];
        if (g->start != w->start || g->count != w->count)
            fail_msg("bucket %zu: got start %lld count %lld, want %lld and %lld", k,
                     (long long)g->start, (long long)g->count, (long long)w->start,
                     (long long)w->count);
        assert_int_equal(((g->start % widths[q->bucket]) + widths[q->bucket]) % widths[q->bucket],
                         0);
        assert_close(g->avg, w->avg, 1e-9, "avg", k);
        assert_close(g->min, w->min, 0, "min", k);
        assert_close(g->max, w->max, 0, "max", k);
        assert_close(g->p50, w->p50, 1e-12, "p50", k);
        assert_close(g->p95, w->p95, 1e-12, "p95", k);
    }
    return got;
}

static void test_series(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    sample all[NSAMPLES];
    load_samples(s, all);

    /* By minute over two days from a UTC midnight: T0 - 1 and 1969 are outside. */
    tia_metric_query q = {AKIRA, "latency", T0, T0 + 2 * DAY, TIA_BUCKET_MINUTE};
    tia_metric_series r = check_series(s, all, &q);
    assert_int_equal(r.n, 5);
    /* The classic case, by hand: values 1..10. */
    assert_int_equal(r.items[0].start, T0 + 10 * MIN);
    assert_int_equal(r.items[0].count, 10);
    assert_close(r.items[0].avg, 5.5, 1e-12, "avg", 0);
    assert_close(r.items[0].min, 1, 0, "min", 0);
    assert_close(r.items[0].max, 10, 0, "max", 0);
    assert_close(r.items[0].p50, 5.5, 1e-12, "p50", 0);
    assert_close(r.items[0].p95, 9.55, 1e-12, "p95", 0);
    /* A single point is every statistic; two points 2 and 8 interpolate. */
    assert_int_equal(r.items[1].start, T0 + 11 * MIN);
    assert_close(r.items[1].p95, 4, 0, "p95", 1);
    assert_int_equal(r.items[2].start, T0 + 2 * HOUR + 30 * MIN);
    assert_close(r.items[2].p50, 5, 1e-12, "p50", 2);
    assert_close(r.items[2].p95, 7.7, 1e-12, "p95", 2);
    /* 100, 200, 300: p95 at rank 1.9. */
    assert_int_equal(r.items[4].start, T0 + DAY + 5 * HOUR);
    assert_close(r.items[4].p95, 290, 1e-12, "p95", 4);
    tia_metric_series_free(&r);

    q.bucket = TIA_BUCKET_HOUR;
    r = check_series(s, all, &q);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.items[0].start, T0);
    assert_int_equal(r.items[0].count, 11);
    tia_metric_series_free(&r);

    q.bucket = TIA_BUCKET_DAY;
    q.from = T0 - DAY; /* now T0 - 1 falls in the previous day */
    r = check_series(s, all, &q);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.items[0].start, T0 - DAY);
    assert_int_equal(r.items[0].count, 1);
    assert_int_equal(r.items[1].start, T0);
    assert_int_equal(r.items[1].count, 16);
    tia_metric_series_free(&r);

    /* Every agent: Yuki's 1000 joins the busy minute. */
    q = (tia_metric_query){NULL, "latency", T0, T0 + 2 * DAY, TIA_BUCKET_MINUTE};
    r = check_series(s, all, &q);
    assert_int_equal(r.items[0].count, 11);
    assert_close(r.items[0].max, 1000, 0, "max", 0);
    tia_metric_series_free(&r);

    /* [from, to): from mid-bucket keeps the bucket's UTC start; to is excluded. */
    q = (tia_metric_query){AKIRA, "latency", T0 + 10 * MIN + 9 * SEC, T0 + 11 * MIN,
                           TIA_BUCKET_MINUTE};
    r = check_series(s, all, &q);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.items[0].start, T0 + 10 * MIN);
    assert_int_equal(r.items[0].count, 1);
    assert_close(r.items[0].avg, 10, 0, "avg", 0);
    tia_metric_series_free(&r);
    q.from = T0 + 11 * MIN;
    q.to = T0 + 11 * MIN + 1;
    r = check_series(s, all, &q);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.items[0].count, 1);
    tia_metric_series_free(&r);

    /* Before 1970: -1 µs lies in the day starting at -86400 s. */
    q = (tia_metric_query){AKIRA, "latency", -DAY, 0, TIA_BUCKET_DAY};
    r = check_series(s, all, &q);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.items[0].start, -DAY);
    tia_metric_series_free(&r);

    /* Nothing in range: an empty series. */
    q = (tia_metric_query){AKIRA, "latency", T0 + 5 * DAY, T0 + 6 * DAY, TIA_BUCKET_HOUR};
    r = check_series(s, all, &q);
    assert_int_equal(r.n, 0);
    tia_metric_series_free(&r);
    tia_test_close(s);
}

static void test_series_refusals(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    tia_metric_series r = {0};
    tia_metric_query q = {NULL, "latency", T0, T0, TIA_BUCKET_MINUTE};
    TIA_ASSERT_RC(tia_metric_query_series(s, &q, &r, &err), TIA_EINVAL, &err);
    q.to = T0 - 1;
    TIA_ASSERT_RC(tia_metric_query_series(s, &q, &r, &err), TIA_EINVAL, &err);
    /* Exactly 100,000 minute buckets pass; one more microsecond makes 100,001. */
    q.to = T0 + 100000 * MIN;
    TIA_OK_OR_FAIL(tia_metric_query_series(s, &q, &r, &err), &err);
    assert_int_equal(r.n, 0);
    q.to++;
    TIA_ASSERT_RC(tia_metric_query_series(s, &q, &r, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "100001"));
    q.to = T0 + HOUR;
    q.bucket = (tia_bucket)7;
    TIA_ASSERT_RC(tia_metric_query_series(s, &q, &r, &err), TIA_EINVAL, &err);
    q.bucket = TIA_BUCKET_DAY;
    q.metric_type = NULL;
    TIA_ASSERT_RC(tia_metric_query_series(s, &q, &r, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "metric_type"));
    q.metric_type = "latency";
    q.from = TIA_TIME_NONE;
    TIA_ASSERT_RC(tia_metric_query_series(s, &q, &r, &err), TIA_EINVAL, &err);
    tia_metric_series_free(&r);
    tia_metric_series_free(NULL);
    tia_test_close(s);
}

static void test_bucket_names(void **state)
{
    (void)state;
    const char *names[] = {"minute", "hour", "day"};
    for (int i = 0; i < 3; i++) {
        tia_bucket b = (tia_bucket)99;
        assert_int_equal(tia_bucket_parse(names[i], &b), 0);
        assert_int_equal(b, i);
        assert_string_equal(tia_bucket_name(b), names[i]);
    }
    tia_bucket b = TIA_BUCKET_HOUR;
    assert_int_equal(tia_bucket_parse("week", &b), TIA_EINVAL);
    assert_int_equal(tia_bucket_parse("Minute", &b), TIA_EINVAL);
    assert_int_equal(tia_bucket_parse(NULL, &b), TIA_EINVAL);
    assert_int_equal(b, TIA_BUCKET_HOUR);
    assert_null(tia_bucket_name((tia_bucket)3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_and_list),
        cmocka_unit_test(test_record_refuses_bad_input),
        cmocka_unit_test(test_batch_all_or_nothing),
        cmocka_unit_test(test_batch_limits),
        cmocka_unit_test(test_series),
        cmocka_unit_test(test_series_refusals),
        cmocka_unit_test(test_bucket_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
