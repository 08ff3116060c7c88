/*
 * Hourly metric rollups (agent_metric_rollups, migrations postgres/0012 and
 * sqlite/0010): the percentile sketch they carry, the series reader that combines
 * rolled hours with raw points, and the raw series that metrics.c computes. The
 * writer side (tia_metric_rollup) is public, in include/tokyoia/maintain.h.
 *
 * The sketch is a log-bucketed histogram after DDSketch (Masson, Rim, Lee, VLDB
 * 2019): a value v > 0 counts in bucket k = ceil(ln v / ln g) with
 * g = (1 + a) / (1 - a), a = TIA__SKETCH_ALPHA, and is estimated as
 * 2 g^k / (g + 1), within a relative error a of every value of the bucket.
 * Negative values use their own buckets ("n" keys), |v| < TIA__SKETCH_ZERO one
 * zero bucket. The database computes the keys when it rolls up; the text form is
 * "p<k>:<count>,n<k>:<count>,z:<count>" in any order. Sketches merge by adding
 * the counts of equal keys.
 */
#ifndef TIA_STORE_ROLLUP_H
#define TIA_STORE_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include <tokyoia/metrics.h>

#define TIA__SKETCH_ALPHA 0.01
#define TIA__SKETCH_ZERO 1e-9
#define TIA__HOUR_US INT64_C(3600000000)

typedef struct tia__sketch_entry {
    double rep; /* the bucket's estimate; orders the buckets */
    int64_t count;
} tia__sketch_entry;

typedef struct tia__sketch {
    size_t n, cap;
    tia__sketch_entry *e;
    int sorted; /* entries sorted by rep and merged */
} tia__sketch;

/* Adds count values v (finite). 0, or -1 when out of memory. */
int tia__sketch_add(tia__sketch *sk, double v, int64_t count);

/* Merges a sketch in text form. 0, -1 out of memory, -2 malformed text. */
int tia__sketch_add_text(tia__sketch *sk, const char *text);

/*
 * The p-quantile (0 <= p <= 1) with percentile_cont's interpolation between the
 * ranks floor and ceil of p * (n - 1), each estimated from its bucket; clamped to
 * [lo, hi] (the exact min and max). NAN when the sketch is empty.
 */
double tia__sketch_quantile(tia__sketch *sk, double p, double lo, double hi);

/* Total count. */
int64_t tia__sketch_count(const tia__sketch *sk);

void tia__sketch_reset(tia__sketch *sk);
void tia__sketch_free(tia__sketch *sk);

/* Bucket width in microseconds of b (0 for an unknown bucket). */
int64_t tia__bucket_width(tia_bucket b);

/*
 * The series of q (validated, width its bucket width) over [from, to) from raw
 * points only, exactly as before rollups existed (metrics.c).
 */
int tia__metric_series_raw(tia_store *s, const tia_metric_query *q, tia_time_us from,
                           tia_time_us to, int64_t width, tia_metric_series *out,
                           tia_error *err);

/*
 * The series of q (hour or day buckets): rollups for the rolled, clean hours of
 * the range, raw points for the rest (the hours at its edges that it covers only
 * in part, dirty hours, and everything from metric_rollup_state.rolled_until on).
 */
int tia__metric_series_rollup(tia_store *s, const tia_metric_query *q, int64_t width,
                              tia_metric_series *out, tia_error *err);

/* The distinct (agent_id, metric_type) pairs of agent_metrics. */
typedef struct tia__metric_pairs {
    size_t n;
    char **agent; /* n of each, malloc'd */
    char **type;
} tia__metric_pairs;

/*
 * Lists the pairs with one index seek each on idx_metrics_agent_type_time (a
 * loose index scan), not a scan of the points. Pairs appear in bounded number
 * (agents times metric types); at most 100,000 are read (TIA_ELIMIT beyond).
 */
int tia__metric_pairs_list(tia_store *s, tia__metric_pairs *out, tia_error *err);
void tia__metric_pairs_free(tia__metric_pairs *p);

/*
 * Recomputes the rollups of the hours in [lo, hi) (hour-aligned) from the raw
 * points: deletes every rollup row of the range, then inserts one row per pair
 * and hour that has points, one statement per pair (each reads the pair's points
 * of the range through idx_metrics_agent_type_time). Call it inside a
 * transaction; *rows (may be NULL) gets the rows inserted.
 */
int tia__rollup_range(tia_store *s, const tia__metric_pairs *pairs, tia_time_us lo,
                      tia_time_us hi, int64_t *rows, tia_error *err);

#endif
