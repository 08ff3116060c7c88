/*
 * Housekeeping of a tokyoia database, the library behind `tokyoia maintain`
 * (docs/operations.md, "Metric partitions, rollups and retention"): metric
 * partitions created ahead and dropped past the retention (PostgreSQL), expired
 * points deleted in bounded batches (SQLite), hourly metric rollups brought up
 * to date, sessions past their expiry marked expired and old ended sessions
 * purged. Its settings live in the database (table tokyoia_settings), so every
 * run and every host sees the same ones.
 */
#ifndef TOKYOIA_MAINTAIN_H
#define TOKYOIA_MAINTAIN_H

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The settings, by their key in tokyoia_settings, and their defaults. */
#define TIA_SETTING_PARTITION "metric_partition"              /* "month" (default) or "day" */
#define TIA_SETTING_PARTITION_AHEAD "metric_partition_ahead"  /* duration, default "30d" */
#define TIA_SETTING_RETENTION "metric_retention"              /* duration, default "90d" */
#define TIA_SETTING_ROLLUP_RETENTION "rollup_retention"       /* duration, default "400d" */
#define TIA_SETTING_SESSION_PURGE "session_purge_after"       /* duration, default "30d" */

typedef struct tia_maintain_settings {
    char partition[8];           /* "month" or "day": granularity of new partitions (PostgreSQL) */
    int64_t partition_ahead_us;  /* partitions exist at least this far past now (PostgreSQL) */
    int64_t retention_us;        /* raw metric points older than this are removed */
    int64_t rollup_retention_us; /* hourly rollups older than this are removed */
    int64_t session_purge_us;    /* expired or revoked sessions ended this long ago are deleted */
} tia_maintain_settings;

/* Reads the settings; those never set have their defaults. */
int tia_maintain_settings_get(tia_store *s, tia_maintain_settings *out, tia_error *err);

/*
 * Sets one setting (a key above) after checking its value: "month" or "day" for
 * metric_partition, a duration ("90d", "12h"; tia_duration_parse) of at least one
 * hour and at most 100 years for the others. TIA_EINVAL names what is wrong.
 */
int tia_maintain_setting_set(tia_store *s, const char *key, const char *value, tia_error *err);

/*
 * Sets n settings in one transaction: all of them, or none when one is refused
 * (each checked as tia_maintain_setting_set checks it). Either refuses a
 * rollup_retention shorter than metric_retention, as they would be stored: an
 * hour whose rollups are gone while its raw points remain would read as empty.
 */
int tia_maintain_settings_set(tia_store *s, const char *const *keys, const char *const *values,
                              size_t n, tia_error *err);

/* Progress of a long step: done of total units (total 0: unknown). */
typedef void (*tia_maintain_progress_fn)(void *ctx, const char *phase, int64_t done,
                                         int64_t total);
/* One line saying what was done ("dropped partition agent_metrics_p20260801 ..."). */
typedef void (*tia_maintain_log_fn)(void *ctx, const char *line);

typedef struct tia_rollup_options {
    tia_time_us now; /* 0: the current time */
    /*
     * Only hours that ended at least this long before now are rolled, so that
     * points being written at the end of an hour are not late; 0: 60 seconds.
     */
    int64_t grace_us;
    /* Dirty hours before this are not recomputed (their raw points are expiring). */
    tia_time_us keep_after;
    /*
     * PostgreSQL: how long to wait for transactions that were writing when the
     * late-point boundary moved (0: 30 seconds). Past it nothing new is rolled
     * this time (the result says so); the next run tries again.
     */
    int64_t wait_us;
    tia_maintain_progress_fn progress; /* may be NULL */
    void *ctx;
} tia_rollup_options;

typedef struct tia_rollup_result {
    int64_t hours_rolled;     /* hours newly rolled up */
    int64_t dirty_recomputed; /* dirty hours recomputed from their raw points */
    int64_t dirty_dropped;    /* dirty marks of expiring hours cleared without recomputing */
    int64_t rows_written;     /* rollup rows written */
    tia_time_us rolled_until; /* hours before this are rolled up; TIA_TIME_NONE: none */
    int writers_pending;      /* 1: older writers did not finish in time, nothing new rolled */
} tia_rollup_result;

/*
 * Rolls up the closed hours since the last rollup, and recomputes the hours that
 * late points made dirty (metrics.h describes the rollups and how series read
 * them). Safe to run beside writers. One rollup or maintenance run at a time per
 * database: TIA_EBUSY when another holds the lock (PostgreSQL; on SQLite runs
 * are serialised by the write lock and harmless). Idempotent: a run with nothing
 * new writes nothing. o may be NULL (defaults). Call it outside a transaction:
 * it commits in steps of at most a day of points.
 */
int tia_metric_rollup(tia_store *s, const tia_rollup_options *o, tia_rollup_result *out,
                      tia_error *err);

/* The largest tia_maintain_options.batch. */
#define TIA_MAINTAIN_BATCH_MAX 1000000

typedef struct tia_maintain_options {
    tia_time_us now; /* 0: the current time */
    /*
     * 1: do everything inside one transaction and roll it back, so that the
     * report says what a real run would do and nothing changes. It holds the
     * locks a real run takes for the whole run (on SQLite the write lock).
     */
    int dry_run;
    int64_t batch; /* rows deleted per transaction, 0..TIA_MAINTAIN_BATCH_MAX; 0: 5,000 */
    int64_t wait_us;                   /* as tia_rollup_options.wait_us */
    tia_maintain_progress_fn progress; /* may be NULL */
    tia_maintain_log_fn log;           /* may be NULL */
    void *ctx;                         /* for progress and log */
} tia_maintain_options;

typedef struct tia_maintain_report {
    int64_t partitions_created;  /* PostgreSQL */
    int64_t partitions_dropped;  /* PostgreSQL: wholly past the retention */
    int64_t partitions_kept;     /* PostgreSQL: past the retention but not yet rolled up */
    int64_t strays_moved;        /* PostgreSQL: rows moved out of the default partition */
    int64_t points_deleted;      /* rows deleted: SQLite's expired points, PostgreSQL's stray ones */
    int64_t rollups_deleted;     /* rollup rows past rollup_retention */
    int64_t sessions_expired;    /* active sessions past expires_at, now expired */
    int64_t sessions_purged;     /* expired or revoked sessions deleted */
    tia_rollup_result rollup;
    tia_maintain_settings settings; /* the settings the run used */
} tia_maintain_report;

/*
 * One maintenance run, in this order: partitions ahead (PostgreSQL), rollups,
 * retention (partition drops or batched deletes; only of hours already rolled
 * up), rollup retention, sessions. Each step commits on its own (except in a dry
 * run), so an interrupted run keeps what it finished and the next run completes
 * it. Idempotent: a second run right after the first does nothing. TIA_EBUSY
 * when another run (or tia_metric_rollup) is under way. o may be NULL.
 */
int tia_maintain_run(tia_store *s, const tia_maintain_options *o, tia_maintain_report *out,
                     tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
