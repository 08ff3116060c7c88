/*
 * Hourly metric rollups: the DDSketch-style percentile sketch (rollup.h), the
 * statements that recompute an hour range's rollups from the raw points, and
 * the hour/day series reader. The reader splits the range in two: the buckets
 * that touch a rolled hour (before metric_rollup_state.rolled_until) are built
 * from rollup rows, with raw points for the parts of them no clean rollup covers
 * (hours the range covers only in part, dirty hours, the un-rolled tail of the
 * last such bucket); the buckets after that are the raw series of metrics.c,
 * computed by the database as before. A 7-day hourly series thus reads 168
 * rollup rows per agent and only the points of the un-rolled tail. A bucket
 * built from a rollup has exact count, avg, min and max, and p50/p95 from the
 * merged sketch; a bucket of raw points only is exact throughout.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/rollup.h"

#define PAIRS_MAX 100000
#define TAIL_INLINE_US (6 * TIA__HOUR_US) /* an un-rolled tail up to this long is read as points */

/* clang-format off: SQL reads best laid out by hand. */

/* ln((1 + a) / (1 - a)) with a = 0.01, the sketch's log base, in each dialect. */
#define PG_LN_GAMMA "ln(1.01::float8 / 0.99::float8)"
#define SQLITE_LN_GAMMA "ln(1.01 / 0.99)"
/*
 * A value's bucket as an integer that orders the buckets as their values: 0 for
 * the zero bucket, k + 2^32 for positive bucket k, -(k + 2^32) for negative
 * bucket k (|k| stays far below 2^32 for any double). The text form is derived
 * from it, and sorting by it writes each sketch in value order, which lets the
 * reader skip sorting a bucket made of one rollup row.
 */
#define PG_ORD(v)                                                                              \
    "CASE WHEN abs(" v ") < 1e-9::float8 THEN 0::int8 WHEN " v " > 0 THEN ceil(ln(" v ") / "    \
    PG_LN_GAMMA ")::int8 + 4294967296 ELSE -(ceil(ln(-" v ") / " PG_LN_GAMMA                   \
    ")::int8 + 4294967296) END"
#define SQLITE_ORD(v)                                                                          \
    "CASE WHEN abs(" v ") < 1e-9 THEN 0 WHEN " v " > 0 THEN CAST(ceil(ln(" v ") / "             \
    SQLITE_LN_GAMMA ") AS INTEGER) + 4294967296 ELSE -(CAST(ceil(ln(-" v ") / "                 \
    SQLITE_LN_GAMMA ") AS INTEGER) + 4294967296) END"
/* "p<k>:<c>", "n<k>:<c>" or "z:<c>" from an ORD value o and a count c. */
#define PG_ENTRY(o, c)                                                                         \
    "CASE WHEN " o " = 0 THEN 'z' WHEN " o " > 0 THEN 'p' || (" o " - 4294967296) "             \
    "ELSE 'n' || (-" o " - 4294967296) END || ':' || " c
#define SQLITE_ENTRY PG_ENTRY
#define SQLITE_HOUR(t) "(" t " - ((" t " % 3600000000) + 3600000000) % 3600000000)"

/*
 * The distinct pairs by a loose index scan: each step seeks the first entry of
 * idx_metrics_agent_type_time after the previous pair.
 */
static const tia__sql sql_pairs = {
    "rollup.pairs",
    "WITH RECURSIVE p AS ("
    " (SELECT agent_id, metric_type FROM agent_metrics ORDER BY agent_id, metric_type LIMIT 1)"
    " UNION ALL SELECT n.agent_id, n.metric_type FROM p, LATERAL ("
    "  SELECT m.agent_id, m.metric_type FROM agent_metrics m"
    "  WHERE (m.agent_id, m.metric_type) > (p.agent_id, p.metric_type)"
    "  ORDER BY m.agent_id, m.metric_type LIMIT 1) n)"
    " SELECT agent_id, metric_type FROM p LIMIT 100001",
    "WITH RECURSIVE p(agent_id, metric_type) AS ("
    " SELECT * FROM (SELECT agent_id, metric_type FROM agent_metrics"
    "  ORDER BY agent_id, metric_type LIMIT 1)"
    " UNION ALL SELECT m.agent_id, m.metric_type FROM p, agent_metrics m"
    "  WHERE m.rowid = (SELECT rowid FROM agent_metrics"
    "   WHERE (agent_id, metric_type) > (p.agent_id, p.metric_type)"
    "   ORDER BY agent_id, metric_type LIMIT 1))"
    " SELECT agent_id, metric_type FROM p LIMIT 100001",
};

static const tia__sql sql_clear = {
    "rollup.clear",
    "DELETE FROM agent_metric_rollups WHERE bucket_start >= $1::timestamptz "
    "AND bucket_start < $2::timestamptz",
    "DELETE FROM agent_metric_rollups WHERE bucket_start >= ?1 AND bucket_start < ?2",
};

/* One pair's hours of [$3, $4): count, sum, min, max and the sketch's keys. */
static const tia__sql sql_rollup_pair = {
    "rollup.pair",
    "WITH pts AS MATERIALIZED (SELECT date_trunc('hour', recorded_at, 'UTC') AS h, "
    "  metric_value AS v FROM agent_metrics WHERE agent_id = $1 AND metric_type = $2 "
    "  AND recorded_at >= $3::timestamptz AND recorded_at < $4::timestamptz), "
    "agg AS (SELECT h, count(*) AS c, sum(v) AS s, min(v) AS lo, max(v) AS hi FROM pts GROUP BY h), "
    "keys AS (SELECT h, " PG_ORD("v") " AS o, count(*) AS c FROM pts GROUP BY 1, 2), "
    "sk AS (SELECT h, string_agg(" PG_ENTRY("o", "c") ", ',' ORDER BY o) AS sketch "
    "FROM keys GROUP BY h) "
    "INSERT INTO agent_metric_rollups (agent_id, metric_type, bucket_start, count, sum, min, max, "
    "sketch) SELECT $1, $2, agg.h, agg.c, agg.s, agg.lo, agg.hi, sk.sketch "
    "FROM agg JOIN sk USING (h)",
    "INSERT INTO agent_metric_rollups (agent_id, metric_type, bucket_start, count, sum, min, max, "
    "sketch) SELECT ?1, ?2, a.h, a.c, a.s, a.lo, a.hi, k.sketch FROM "
    "(SELECT " SQLITE_HOUR("recorded_at") " AS h, count(*) AS c, sum(metric_value) AS s, "
    "  min(metric_value) AS lo, max(metric_value) AS hi FROM agent_metrics "
    "  WHERE agent_id = ?1 AND metric_type = ?2 AND recorded_at >= ?3 AND recorded_at < ?4 "
    "  GROUP BY 1) a "
    "JOIN (SELECT h, group_concat(" SQLITE_ENTRY("o", "c") ", ',') AS sketch FROM "
    "  (SELECT " SQLITE_HOUR("recorded_at") " AS h, " SQLITE_ORD("metric_value") " AS o, "
    "   count(*) AS c FROM agent_metrics WHERE agent_id = ?1 AND metric_type = ?2 "
    "   AND recorded_at >= ?3 AND recorded_at < ?4 GROUP BY 1, 2 ORDER BY 1, 2) GROUP BY h) k "
    "ON k.h = a.h",
};

static const tia__sql sql_rolled_until = {
    "rollup.rolled_until",
    "SELECT " TIA_PG_US("rolled_until") " FROM metric_rollup_state WHERE id = 1",
    "SELECT rolled_until FROM metric_rollup_state WHERE id = 1",
};

static const tia__sql sql_dirty_in = {
    "rollup.dirty_in",
    "SELECT " TIA_PG_US("hour") " FROM metric_rollup_dirty WHERE hour >= $1::timestamptz "
    "AND hour < $2::timestamptz ORDER BY hour LIMIT 1000000",
    "SELECT hour FROM metric_rollup_dirty WHERE hour >= ?1 AND hour < ?2 ORDER BY hour "
    "LIMIT 1000000",
};

/*
 * Rollup rows and raw values of one agent, or of every agent. Two texts, not one
 * with "($2 IS NULL OR agent_id = $2)": a generic plan of that cannot use the
 * indexes that lead with agent_id, and would scan whole partitions.
 */
static const tia__sql sql_rollup_rows_agent = {
    "rollup.rows_agent",
    "SELECT " TIA_PG_US("bucket_start") ", count, sum, min, max, sketch "
    "FROM agent_metric_rollups WHERE agent_id = $2 AND metric_type = $1 "
    "AND bucket_start >= $3::timestamptz AND bucket_start < $4::timestamptz",
    "SELECT bucket_start, count, sum, min, max, sketch FROM agent_metric_rollups "
    "WHERE agent_id = ?2 AND metric_type = ?1 AND bucket_start >= ?3 AND bucket_start < ?4",
};

static const tia__sql sql_rollup_rows_all = {
    "rollup.rows_all",
    "SELECT " TIA_PG_US("bucket_start") ", count, sum, min, max, sketch "
    "FROM agent_metric_rollups WHERE metric_type = $1 "
    "AND bucket_start >= $2::timestamptz AND bucket_start < $3::timestamptz",
    "SELECT bucket_start, count, sum, min, max, sketch FROM agent_metric_rollups "
    "WHERE metric_type = ?1 AND bucket_start >= ?2 AND bucket_start < ?3",
};

static const tia__sql sql_raw_values_agent = {
    "rollup.raw_values_agent",
    "SELECT " TIA_PG_US("recorded_at") ", metric_value FROM agent_metrics WHERE agent_id = $2 "
    "AND metric_type = $1 AND recorded_at >= $3::timestamptz AND recorded_at < $4::timestamptz",
    "SELECT recorded_at, metric_value FROM agent_metrics WHERE agent_id = ?2 "
    "AND metric_type = ?1 AND recorded_at >= ?3 AND recorded_at < ?4",
};

static const tia__sql sql_raw_values_all = {
    "rollup.raw_values_all",
    "SELECT " TIA_PG_US("recorded_at") ", metric_value FROM agent_metrics WHERE metric_type = $1 "
    "AND recorded_at >= $2::timestamptz AND recorded_at < $3::timestamptz",
    "SELECT recorded_at, metric_value FROM agent_metrics WHERE metric_type = ?1 "
    "AND recorded_at >= ?2 AND recorded_at < ?3",
};
/*
 * Two ranges in one statement: the partial hour at the start of a series and its
 * un-rolled tail. Planning a statement over a partitioned table costs about a
 * millisecond on PostgreSQL, as much as reading both ranges, so one statement
 * instead of two is most of what is left to save.
 */
static const tia__sql sql_raw_values2_agent = {
    "rollup.raw_values2_agent",
    "SELECT " TIA_PG_US("recorded_at") ", metric_value FROM agent_metrics WHERE agent_id = $2 "
    "AND metric_type = $1 AND ((recorded_at >= $3::timestamptz AND recorded_at < $4::timestamptz) "
    "OR (recorded_at >= $5::timestamptz AND recorded_at < $6::timestamptz))",
    "SELECT recorded_at, metric_value FROM agent_metrics WHERE agent_id = ?2 "
    "AND metric_type = ?1 AND recorded_at >= ?3 AND recorded_at < ?4 UNION ALL "
    "SELECT recorded_at, metric_value FROM agent_metrics WHERE agent_id = ?2 "
    "AND metric_type = ?1 AND recorded_at >= ?5 AND recorded_at < ?6",
};

static const tia__sql sql_raw_values2_all = {
    "rollup.raw_values2_all",
    "SELECT " TIA_PG_US("recorded_at") ", metric_value FROM agent_metrics WHERE metric_type = $1 "
    "AND ((recorded_at >= $2::timestamptz AND recorded_at < $3::timestamptz) "
    "OR (recorded_at >= $4::timestamptz AND recorded_at < $5::timestamptz))",
    "SELECT recorded_at, metric_value FROM agent_metrics WHERE metric_type = ?1 "
    "AND recorded_at >= ?2 AND recorded_at < ?3 UNION ALL "
    "SELECT recorded_at, metric_value FROM agent_metrics WHERE metric_type = ?1 "
    "AND recorded_at >= ?4 AND recorded_at < ?5",
};
/* clang-format on */

/* ---- the sketch ---- */

static double ln_gamma(void)
{
    return log((1.0 + TIA__SKETCH_ALPHA) / (1.0 - TIA__SKETCH_ALPHA));
}

/* The estimate of bucket k on the positive side: 2 g^k / (g + 1). */
static double rep_of(long long k)
{
    double g = (1.0 + TIA__SKETCH_ALPHA) / (1.0 - TIA__SKETCH_ALPHA);
    return 2.0 * exp((double)k * ln_gamma()) / (g + 1.0);
}

static int push(tia__sketch *sk, double rep, int64_t count)
{
    if (sk->n == sk->cap) {
        size_t c = sk->cap ? sk->cap * 2 : 64;
        tia__sketch_entry *g = realloc(sk->e, c * sizeof *g);
        if (g == NULL)
            return -1;
        sk->e = g;
        sk->cap = c;
    }
    sk->e[sk->n].rep = rep;
    sk->e[sk->n].count = count;
    sk->n++;
    sk->sorted = 0;
    return 0;
}

int tia__sketch_add(tia__sketch *sk, double v, int64_t count)
{
    double a = fabs(v);
    if (a < TIA__SKETCH_ZERO)
        return push(sk, 0.0, count);
    double r = rep_of((long long)ceil(log(a) / ln_gamma()));
    return push(sk, v > 0 ? r : -r, count);
}

int tia__sketch_add_text(tia__sketch *sk, const char *text)
{
    const char *p = text;
    while (p != NULL && *p != '\0') {
        char cls = *p++;
        long long k = 0;
        char *end;
        if (cls == 'p' || cls == 'n') {
            k = strtoll(p, &end, 10);
            if (end == p)
                return -2;
            p = end;
        } else if (cls != 'z') {
            return -2;
        }
        if (*p++ != ':')
            return -2;
        long long c = strtoll(p, &end, 10);
        if (end == p || c <= 0)
            return -2;
        p = end;
        double rep = cls == 'z' ? 0.0 : cls == 'p' ? rep_of(k) : -rep_of(k);
        if (push(sk, rep, c) != 0)
            return -1;
        if (*p == ',')
            p++;
        else if (*p != '\0')
            return -2;
    }
    return 0;
}

static int by_rep(const void *a, const void *b)
{
    double x = ((const tia__sketch_entry *)a)->rep, y = ((const tia__sketch_entry *)b)->rep;
    return (x > y) - (x < y);
}

/* Sorts the entries by estimate and merges equal ones (equal keys give equal doubles). */
static void normalise(tia__sketch *sk)
{
    if (sk->sorted)
        return;
    int in_order = 1; /* one rollup row's sketch is written in value order */
    for (size_t i = 1; in_order && i < sk->n; i++)
        in_order = sk->e[i - 1].rep <= sk->e[i].rep;
    if (!in_order && sk->n > 1)
        qsort(sk->e, sk->n, sizeof *sk->e, by_rep);
    size_t w = 0;
    for (size_t i = 0; i < sk->n; i++) {
        if (w > 0 && sk->e[w - 1].rep == sk->e[i].rep)
            sk->e[w - 1].count += sk->e[i].count;
        else
            sk->e[w++] = sk->e[i];
    }
    sk->n = w;
    sk->sorted = 1;
}

int64_t tia__sketch_count(const tia__sketch *sk)
{
    int64_t n = 0;
    for (size_t i = 0; i < sk->n; i++)
        n += sk->e[i].count;
    return n;
}

/* The estimate of the value of rank r (0-based) of the sorted sketch. */
static double at_rank(const tia__sketch *sk, int64_t r)
{
    int64_t seen = 0;
    for (size_t i = 0; i < sk->n; i++) {
        seen += sk->e[i].count;
        if (r < seen)
            return sk->e[i].rep;
    }
    return sk->e[sk->n - 1].rep;
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

double tia__sketch_quantile(tia__sketch *sk, double p, double lo, double hi)
{
    normalise(sk);
    int64_t n = tia__sketch_count(sk);
    if (n == 0)
        return NAN;
    double pos = p * (double)(n - 1);
    double f = floor(pos), c = ceil(pos);
    double first = clamp(at_rank(sk, (int64_t)f), lo, hi);
    if (f == c)
        return first;
    double second = clamp(at_rank(sk, (int64_t)c), lo, hi);
    return first + (pos - f) * (second - first);
}

void tia__sketch_reset(tia__sketch *sk)
{
    sk->n = 0;
    sk->sorted = 0;
}

void tia__sketch_free(tia__sketch *sk)
{
    if (sk == NULL)
        return;
    free(sk->e);
    sk->e = NULL;
    sk->n = sk->cap = 0;
}

/* ---- pairs and the rollup statements ---- */

void tia__metric_pairs_free(tia__metric_pairs *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->agent[i]);
        free(p->type[i]);
    }
    free(p->agent);
    free(p->type);
    p->agent = p->type = NULL;
    p->n = 0;
}

int tia__metric_pairs_list(tia_store *s, tia__metric_pairs *out, tia_error *err)
{
    tia__metric_pairs l = {0, NULL, NULL};
    size_t cap = 0;
    tia__rows *r = NULL;
    int rc = tia__db_query(s, &sql_pairs, NULL, 0, &r, err);
    if (rc != 0)
        goto done;
    while ((rc = tia__rows_next(r, err)) > 0) {
        if (l.n == PAIRS_MAX) {
            rc = tia_error_set(err, TIA_EINVAL,
                               "agent_metrics has more than %d (agent, metric type) pairs",
                               PAIRS_MAX);
            goto done;
        }
        if (l.n == cap) {
            size_t c = cap ? cap * 2 : 32;
            char **a = realloc(l.agent, c * sizeof *a);
            if (a != NULL)
                l.agent = a;
            char **t = realloc(l.type, c * sizeof *t);
            if (t != NULL)
                l.type = t;
            if (a == NULL || t == NULL)
                goto oom;
            cap = c;
        }
        int oom = 0;
        l.agent[l.n] = tia__col_dup(r, 0, &oom);
        l.type[l.n] = tia__col_dup(r, 1, &oom);
        l.n++;
        if (oom)
            goto oom;
    }
    if (rc == 0) {
        *out = l;
        l.n = 0;
        l.agent = l.type = NULL;
    }
    goto done;
oom:
    rc = tia_error_set(err, TIA_ENOMEM, "out of memory listing metric pairs");
done:
    tia__rows_free(r);
    tia__metric_pairs_free(&l);
    return rc;
}

int tia__rollup_range(tia_store *s, const tia__metric_pairs *pairs, tia_time_us lo,
                      tia_time_us hi, int64_t *rows, tia_error *err)
{
    int64_t total = 0;
    tia__param b[2] = {tia__p_ts(lo), tia__p_ts(hi)};
    int rc = tia__db_exec(s, &sql_clear, b, 2, NULL, err);
    for (size_t i = 0; rc == 0 && i < pairs->n; i++) {
        int64_t n = 0;
        tia__param p[4] = {tia__p_text(pairs->agent[i]), tia__p_text(pairs->type[i]),
                           tia__p_ts(lo), tia__p_ts(hi)};
        rc = tia__db_exec(s, &sql_rollup_pair, p, 4, &n, err);
        total += n;
    }
    if (rows != NULL)
        *rows = total;
    return rc;
}

/* ---- the series reader ---- */

int64_t tia__bucket_width(tia_bucket b)
{
    switch (b) {
    case TIA_BUCKET_MINUTE: return INT64_C(60000000);
    case TIA_BUCKET_HOUR: return TIA__HOUR_US;
    case TIA_BUCKET_DAY: return 24 * TIA__HOUR_US;
    }
    return 0;
}

static int64_t floor_to(int64_t t, int64_t w)
{
    int64_t q = t / w;
    if (t % w != 0 && t < 0)
        q--;
    return q * w;
}

static int64_t ceil_to(int64_t t, int64_t w)
{
    int64_t f = floor_to(t, w);
    return f == t ? t : f + w;
}

/* One output bucket of the mixed part while it is being gathered. */
typedef struct acc {
    int64_t count;
    double sum, min, max;
    int rolled; /* has a rollup row: p50/p95 come from the sketch */
    tia__sketch sk;
    double *v; /* raw values */
    size_t nv, vcap;
} acc;

static void acc_fold(acc *a, int64_t count, double sum, double min, double max)
{
    if (a->count == 0 || min < a->min)
        a->min = min;
    if (a->count == 0 || max > a->max)
        a->max = max;
    a->count += count;
    a->sum += sum;
}

static int acc_value(acc *a, double v)
{
    if (a->nv == a->vcap) {
        size_t c = a->vcap ? a->vcap * 2 : 16;
        double *g = realloc(a->v, c * sizeof *g);
        if (g == NULL)
            return -1;
        a->v = g;
        a->vcap = c;
    }
    a->v[a->nv++] = v;
    acc_fold(a, 1, v, v, v);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* percentile_cont over sorted v[0..n), as metrics.c computes it for SQLite. */
static double pct_cont(const double *v, size_t n, double p)
{
    double pos = p * (double)(n - 1);
    double lo = floor(pos), hi = ceil(pos);
    double first = v[(size_t)lo];
    if (lo == hi)
        return first;
    return first + (pos - lo) * (v[(size_t)hi] - first);
}

/* The finished bucket of a; -1 when out of memory. */
static int acc_bucket(acc *a, tia_time_us start, tia_metric_bucket *out)
{
    out->start = start;
    out->count = a->count;
    out->min = a->min;
    out->max = a->max;
    if (a->nv > 1)
        qsort(a->v, a->nv, sizeof *a->v, cmp_double);
    if (!a->rolled) {
        /* Raw points only: exact, summed in value order as the SQLite series does. */
        double sum = 0;
        for (size_t i = 0; i < a->nv; i++)
            sum += a->v[i];
        out->avg = sum / (double)a->nv;
        out->p50 = pct_cont(a->v, a->nv, 0.5);
        out->p95 = pct_cont(a->v, a->nv, 0.95);
        return 0;
    }
    for (size_t i = 0; i < a->nv; i++)
        if (tia__sketch_add(&a->sk, a->v[i], 1) != 0)
            return -1;
    out->avg = a->sum / (double)a->count;
    out->p50 = tia__sketch_quantile(&a->sk, 0.5, a->min, a->max);
    out->p95 = tia__sketch_quantile(&a->sk, 0.95, a->min, a->max);
    return 0;
}

static int is_dirty(const int64_t *d, size_t n, int64_t h)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d[mid] == h)
            return 1;
        if (d[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* rolled_until, TIA_TIME_NONE when nothing is rolled (or the table is missing). */
static int read_rolled_until(tia_store *s, tia_time_us *out, tia_error *err)
{
    tia__rows *r = NULL;
    *out = TIA_TIME_NONE;
    int rc = tia__db_read(s, &sql_rolled_until, NULL, 0, &r, err);
    if (rc == TIA_ESCHEMA) /* a database migrated before the rollups: raw points only */
        return 0;
    if (rc == 0 && (rc = tia__rows_next(r, err)) > 0) {
        *out = tia__col_time(r, 0);
        rc = 0;
    }
    tia__rows_free(r);
    return rc < 0 ? rc : 0;
}

static int read_dirty(tia_store *s, tia_time_us lo, tia_time_us hi, int64_t **out, size_t *n,
                      tia_error *err)
{
    tia__rows *r = NULL;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    tia__param p[2] = {tia__p_ts(lo), tia__p_ts(hi)};
    int rc = tia__db_read(s, &sql_dirty_in, p, 2, &r, err);
    while (rc >= 0 && (rc = tia__rows_next(r, err)) > 0) {
        if (*n == cap) {
            size_t c = cap ? cap * 2 : 16;
            int64_t *g = realloc(*out, c * sizeof *g);
            if (g == NULL) {
                rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading dirty hours");
                break;
            }
            *out = g;
            cap = c;
        }
        (*out)[(*n)++] = tia__col_time(r, 0);
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

/* Runs the agent's or every agent's variant of a range query over [a, b). */
static int select_range(tia_store *s, const tia_metric_query *q, const tia__sql *one,
                        const tia__sql *all, tia_time_us a, tia_time_us b, tia__rows **r,
                        tia_error *err)
{
    if (q->agent_id != NULL) {
        tia__param p[4] = {tia__p_text(q->metric_type), tia__p_text(q->agent_id), tia__p_ts(a),
                           tia__p_ts(b)};
        return tia__db_read(s, one, p, 4, r, err);
    }
    tia__param p[3] = {tia__p_text(q->metric_type), tia__p_ts(a), tia__p_ts(b)};
    return tia__db_read(s, all, p, 3, r, err);
}

/*
 * Adds the raw points of [a, b) and [c, d) (either may be empty) to the
 * accumulators of buckets starting at first.
 */
static int gather_raw(tia_store *s, const tia_metric_query *q, tia_time_us a, tia_time_us b,
                      tia_time_us c, tia_time_us d, int64_t width, tia_time_us first, acc *accs,
                      size_t nacc, tia_error *err)
{
    tia__rows *r = NULL;
    int rc;
    if (a >= b && c >= d)
        return 0;
    if (a >= b || c >= d) {
        if (a >= b) {
            a = c;
            b = d;
        }
        rc = select_range(s, q, &sql_raw_values_agent, &sql_raw_values_all, a, b, &r, err);
    } else if (q->agent_id != NULL) {
        tia__param p[6] = {tia__p_text(q->metric_type), tia__p_text(q->agent_id), tia__p_ts(a),
                           tia__p_ts(b), tia__p_ts(c), tia__p_ts(d)};
        rc = tia__db_read(s, &sql_raw_values2_agent, p, 6, &r, err);
    } else {
        tia__param p[5] = {tia__p_text(q->metric_type), tia__p_ts(a), tia__p_ts(b), tia__p_ts(c),
                           tia__p_ts(d)};
        rc = tia__db_read(s, &sql_raw_values2_all, p, 5, &r, err);
    }
    while (rc >= 0 && (rc = tia__rows_next(r, err)) > 0) {
        int64_t i = (floor_to(tia__col_time(r, 0), width) - first) / width;
        if (i < 0 || (size_t)i >= nacc)
            continue; /* cannot happen: [a, b) lies within the buckets */
        if (acc_value(&accs[i], tia__col_double(r, 1)) != 0)
            rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading a series");
    }
    tia__rows_free(r);
    return rc < 0 ? rc : 0;
}

/* Adds the clean rollup rows of [a, b) to the accumulators. */
static int gather_rollups(tia_store *s, const tia_metric_query *q, tia_time_us a, tia_time_us b,
                          const int64_t *dirty, size_t ndirty, int64_t width, tia_time_us first,
                          acc *accs, size_t nacc, tia_error *err)
{
    tia__rows *r = NULL;
    int rc = select_range(s, q, &sql_rollup_rows_agent, &sql_rollup_rows_all, a, b, &r, err);
    while (rc >= 0 && (rc = tia__rows_next(r, err)) > 0) {
        tia_time_us h = tia__col_time(r, 0);
        if (is_dirty(dirty, ndirty, h))
            continue; /* read from the raw points instead */
        int64_t i = (floor_to(h, width) - first) / width;
        if (i < 0 || (size_t)i >= nacc)
            continue;
        acc *x = &accs[i];
        acc_fold(x, tia__col_int(r, 1), tia__col_double(r, 2), tia__col_double(r, 3),
                 tia__col_double(r, 4));
        x->rolled = 1;
        int src = tia__sketch_add_text(&x->sk, tia__col_text(r, 5));
        if (src == -1)
            rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading a series");
        else if (src != 0)
            rc = tia_error_set(err, TIA_EDB, "malformed rollup sketch at %lld",
                               (long long)h);
    }
    tia__rows_free(r);
    return rc < 0 ? rc : 0;
}

static int append(tia_metric_series *out, size_t *cap, const tia_metric_bucket *b, size_t n)
{
    if (out->n + n > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < out->n + n)
            c *= 2;
        tia_metric_bucket *g = realloc(out->items, c * sizeof *g);
        if (g == NULL)
            return -1;
        out->items = g;
        *cap = c;
    }
    memcpy(out->items + out->n, b, n * sizeof *b);
    out->n += n;
    return 0;
}

int tia__metric_series_rollup(tia_store *s, const tia_metric_query *q, int64_t width,
                              tia_metric_series *out, tia_error *err)
{
    out->n = 0;
    out->items = NULL;
    tia_time_us rolled = TIA_TIME_NONE;
    int64_t *dirty = NULL;
    size_t ndirty = 0, nacc = 0, cap = 0;
    acc *accs = NULL;
    tia_metric_series res = {0, NULL}, tail = {0, NULL};
    int rc = read_rolled_until(s, &rolled, err);
    if (rc != 0)
        return rc;
    /* R = [ra, rb): the whole hours of the range that are rolled up. */
    tia_time_us ra = ceil_to(q->from, TIA__HOUR_US), rb = floor_to(q->to, TIA__HOUR_US);
    if (rolled != TIA_TIME_NONE && rolled < rb)
        rb = rolled;
    if (rolled == TIA_TIME_NONE || ra >= rb)
        return tia__metric_series_raw(s, q, q->from, q->to, width, out, err);

    /*
     * The mixed part: the buckets that touch R, and the un-rolled tail too when
     * it is short (the usual case: since the last rollup), so that its few points
     * come with the partial hour at the start in one statement; a long tail (no
     * rollup for days) is aggregated by the database instead.
     */
    tia_time_us first = floor_to(q->from, width);
    tia_time_us mend = ceil_to(rb, width);
    if (q->to - rb <= TAIL_INLINE_US || mend > q->to)
        mend = q->to;
    nacc = (size_t)((ceil_to(mend, width) - first) / width);
    accs = calloc(nacc, sizeof *accs);
    if (accs == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading a series");
        goto done;
    }
    if ((rc = read_dirty(s, ra, rb, &dirty, &ndirty, err)) != 0 ||
        (rc = gather_rollups(s, q, ra, rb, dirty, ndirty, width, first, accs, nacc, err)) != 0 ||
        (rc = gather_raw(s, q, q->from, ra, rb, mend, width, first, accs, nacc, err)) != 0)
        goto done;
    for (size_t i = 0; i < ndirty; i++)
        if ((rc = gather_raw(s, q, dirty[i], dirty[i] + TIA__HOUR_US, 0, 0, width, first, accs,
                             nacc, err)) != 0)
            goto done;
    for (size_t i = 0; i < nacc; i++) {
        if (accs[i].count == 0)
            continue;
        tia_metric_bucket b;
        if (acc_bucket(&accs[i], first + (int64_t)i * width, &b) != 0 ||
            append(&res, &cap, &b, 1) != 0)
            goto oom;
    }
    /* The buckets after the mixed part: raw points, aggregated by the database. */
    if (mend < q->to) {
        if ((rc = tia__metric_series_raw(s, q, mend, q->to, width, &tail, err)) != 0)
            goto done;
        if (tail.n > 0 && append(&res, &cap, tail.items, tail.n) != 0)
            goto oom;
    }
    *out = res;
    res.items = NULL;
    res.n = 0;
    goto done;
oom:
    rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading a series");
done:
    for (size_t i = 0; accs != NULL && i < nacc; i++) {
        tia__sketch_free(&accs[i].sk);
        free(accs[i].v);
    }
    free(accs);
    free(dirty);
    tia_metric_series_free(&tail);
    tia_metric_series_free(&res);
    return rc;
}
