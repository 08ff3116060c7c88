/*
 * The agent_metrics table: time-series points per agent (latency, tokens, cost,
 * success_rate, error_rate or any custom type), and queries that bucket them by
 * minute, hour or day.
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

/* One bucket; p50 and p95 interpolate linearly (PostgreSQL percentile_cont). */
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

/* Buckets the points in [from, to). At most 100,000 buckets per query. */
int tia_metric_query_series(tia_store *s, const tia_metric_query *q, tia_metric_series *out,
                            tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
