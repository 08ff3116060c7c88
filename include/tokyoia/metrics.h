/*
 * The agent_metrics table: time-series points per agent (latency, tokens, cost,
 * success_rate, error_rate or any custom type), and queries that bucket them by
 * minute, hour or day (from hourly rollups where they exist).
 */
#ifndef TOKYOIA_METRICS_H
#define TOKYOIA_METRICS_H

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most points one tia_metric_record_batch call accepts. */
#define TIA_METRIC_BATCH_MAX 10000

typedef struct tia_metric_new {
    const char *agent_id;    /* required, must exist */
    const char *metric_type; /* required, <= 50 characters */
    double value;            /* finite */
    const char *unit;        /* NULL for none, <= 20 */
    tia_time_us recorded_at; /* TIA_TIME_NONE (or 0) for now */
    const char *context;     /* JSON, NULL for {} */
} tia_metric_new;

/* Records one point; its UUIDv7 goes to id_out (may be NULL). */
int tia_metric_record(tia_store *s, const tia_metric_new *m, char id_out[TIA_UUID_BUF],
                      tia_error *err);

/* Records n points (1..TIA_METRIC_BATCH_MAX) in one transaction, all or none. */
int tia_metric_record_batch(tia_store *s, const tia_metric_new *items, size_t n,
                            tia_error *err);

typedef struct tia_metric {
    char id[TIA_UUID_BUF];
    char *agent_id;
    char *metric_type;
    double value;
    char *unit; /* NULL when NULL */
    tia_time_us recorded_at;
    char *context; /* JSON text */
} tia_metric;

/*
 * A struct tag, not a typedef: tia_metric_list is also the name of the function
 * below, and C puts typedef and function names in one namespace (as with struct
 * stat and stat()).
 */
struct tia_metric_list {
    size_t n;
    tia_metric *items;
};

void tia_metric_list_free(struct tia_metric_list *l);

/*
 * The newest points (recorded_at descending), optionally of one agent and one
 * type (NULL: any); limit 1..TIA_PAGE_MAX, 0 means 50.
 */
int tia_metric_list(tia_store *s, const char *agent_id, const char *metric_type, size_t limit,
                    struct tia_metric_list *out, tia_error *err);

typedef enum tia_bucket { TIA_BUCKET_MINUTE = 0, TIA_BUCKET_HOUR, TIA_BUCKET_DAY } tia_bucket;

/* "minute", "hour", "day"; TIA_EINVAL otherwise. */
int tia_bucket_parse(const char *name, tia_bucket *out);
const char *tia_bucket_name(tia_bucket b);

typedef struct tia_metric_query {
    const char *agent_id;    /* NULL: every agent */
    const char *metric_type; /* required */
    tia_time_us from;        /* inclusive */
    tia_time_us to;          /* exclusive; must be > from */
    tia_bucket bucket;
} tia_metric_query;

/*
 * One bucket. count, avg, min and max are exact. p50 and p95 follow PostgreSQL's
 * percentile_cont (linear interpolation between the values of ranks
 * floor(p (n - 1)) and ceil(p (n - 1))): exactly for minute buckets and for hour
 * and day buckets of raw points only; approximately for a bucket that uses the
 * hourly rollups (see tia_metric_query_series), where each of the two ranks'
 * values is estimated from a log-bucketed sketch (after DDSketch, relative
 * accuracy a = 0.01): the result differs from the exact one by at most
 * a * max(|x_lo|, |x_hi|), x_lo and x_hi being the exact values of the two
 * ranks, plus 1e-9 (values with |v| < 1e-9 count as 0). For values of one sign
 * that is at most 1% of the exact percentile. Estimates never leave [min, max].
 */
typedef struct tia_metric_bucket {
    tia_time_us start; /* bucket start, UTC */
    int64_t count;
    double avg, min, max, p50, p95;
} tia_metric_bucket;

typedef struct tia_metric_series {
    size_t n;
    tia_metric_bucket *items; /* by start; empty buckets are omitted */
} tia_metric_series;

void tia_metric_series_free(tia_metric_series *s);

/*
 * Buckets the points in [from, to). At most 100,000 buckets per query. Minute
 * buckets read the raw points. Hour and day buckets read the hourly rollups
 * (agent_metric_rollups, kept by tia_metric_rollup in maintain.h) for the whole
 * hours of the range that are rolled up and not changed since by late points,
 * and the raw points for the rest: the partial hours at the edges of the range,
 * such changed hours, and everything after the last rollup. A range older than
 * the raw retention therefore still has series (from the rollups), but only for
 * whole hours: align from and to on hours there.
 */
int tia_metric_query_series(tia_store *s, const tia_metric_query *q, tia_metric_series *out,
                            tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
