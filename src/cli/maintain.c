/*
 * `tokyoia maintain`: one housekeeping run (include/tokyoia/maintain.h does the
 * work), and `tokyoia maintain settings` to show the settings it uses. Options
 * that name a setting (--partition, --ahead, --retention, --rollup-retention,
 * --session-purge) store it in the database first, so that later runs, cron
 * jobs and other hosts keep it. Each action is a plain line on stdout as it
 * happens (collected into "actions" with --json); progress of long steps goes to
 * stderr, as a line redrawn in place on a terminal and otherwise as a plain line
 * at every tenth (every 5 seconds when the total is unknown).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tokyoia/maintain.h>

#include "cli/cli.h"

#define BAR_WIDTH 28

typedef struct mctx {
    const tia_cli_opts *opts;
    json_t *actions; /* --json */
    int tty, drawn, tenth;
    char phase[32];
    double last;
} mctx;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void clear_bar(mctx *m)
{
    if (m->tty && m->drawn)
        fputs("\r\033[K", stderr);
    m->drawn = 0;
}

static void on_log(void *ctx, const char *line)
{
    mctx *m = ctx;
    if (m->opts->json) {
        json_array_append_new(m->actions, json_string(line));
        return;
    }
    clear_bar(m);
    printf("%s\n", line);
    fflush(stdout);
}

static void on_progress(void *ctx, const char *phase, int64_t done, int64_t total)
{
    mctx *m = ctx;
    double t = now_s();
    int pct = total > 0 ? (int)(done * 100 / total) : -1;
    if (strcmp(phase, m->phase) != 0) {
        snprintf(m->phase, sizeof m->phase, "%s", phase);
        m->tenth = -1;
        m->last = 0;
    }
    if (m->tty) {
        if (t - m->last < 0.1 && !(total > 0 && done == total))
            return;
        m->last = t;
        if (pct >= 0) {
            char bar[BAR_WIDTH + 1];
            int fill = pct * BAR_WIDTH / 100;
            for (int i = 0; i < BAR_WIDTH; i++)
                bar[i] = i < fill ? '#' : '.';
            bar[BAR_WIDTH] = '\0';
            fprintf(stderr, "\r%-14s [%s] %3d%%  %" PRId64 "/%" PRId64 "\033[K", phase, bar, pct,
                    done, total);
        } else {
            fprintf(stderr, "\r%-14s %" PRId64 "\033[K", phase, done);
        }
        m->drawn = 1;
    } else if (pct >= 0) {
        if (pct / 10 <= m->tenth)
            return;
        m->tenth = pct / 10;
        fprintf(stderr, "%s: %d%% (%" PRId64 "/%" PRId64 ")\n", phase, m->tenth * 10, done, total);
    } else {
        if (t - m->last < 5.0)
            return;
        m->last = t;
        fprintf(stderr, "%s: %" PRId64 "\n", phase, done);
    }
    fflush(stderr);
}

static json_t *settings_json(const tia_maintain_settings *st)
{
    return json_pack("{s:s,s:I,s:I,s:I,s:I}", "metric_partition", st->partition,
                     "metric_partition_ahead_s", (json_int_t)(st->partition_ahead_us / 1000000),
                     "metric_retention_s", (json_int_t)(st->retention_us / 1000000),
                     "rollup_retention_s", (json_int_t)(st->rollup_retention_us / 1000000),
                     "session_purge_after_s", (json_int_t)(st->session_purge_us / 1000000));
}

/* "90d", "36h" or "5400s": the largest unit that divides the duration. */
static void fmt_duration(int64_t us, char out[32])
{
    int64_t s = us / 1000000;
    if (s % 86400 == 0)
        snprintf(out, 32, "%" PRId64 "d", s / 86400);
    else if (s % 3600 == 0)
        snprintf(out, 32, "%" PRId64 "h", s / 3600);
    else
        snprintf(out, 32, "%" PRId64 "s", s);
}

typedef struct run_args {
    tia_cli_pos pos;
    const char *partition, *ahead, *retention, *rollup_retention, *session_purge;
    int64_t batch;
    int dry_run;
} run_args;

/* Stores the settings given as options; 0 or a TIA_E* code. */
static int store_settings(tia_store *s, const run_args *a, tia_error *err)
{
    const struct {
        const char *key, *value;
    } set[] = {
        {TIA_SETTING_PARTITION, a->partition},
        {TIA_SETTING_PARTITION_AHEAD, a->ahead},
        {TIA_SETTING_RETENTION, a->retention},
        {TIA_SETTING_ROLLUP_RETENTION, a->rollup_retention},
        {TIA_SETTING_SESSION_PURGE, a->session_purge},
    };
    const char *keys[sizeof set / sizeof set[0]], *values[sizeof set / sizeof set[0]];
    size_t n = 0;
    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++) {
        if (set[i].value == NULL)
            continue;
        keys[n] = set[i].key;
        values[n++] = set[i].value;
    }
    /* All or none: a bad one must not leave the others stored. */
    return n == 0 ? 0 : tia_maintain_settings_set(s, keys, values, n, err);
}

static json_t *report_json(const tia_maintain_report *r, int dry_run)
{
    json_t *o = json_pack(
        "{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:b}}", "dry_run", dry_run,
        "partitions_created", (json_int_t)r->partitions_created, "partitions_dropped",
        (json_int_t)r->partitions_dropped, "partitions_kept", (json_int_t)r->partitions_kept,
        "strays_moved", (json_int_t)r->strays_moved, "points_deleted",
        (json_int_t)r->points_deleted, "rollups_deleted", (json_int_t)r->rollups_deleted,
        "sessions_expired", (json_int_t)r->sessions_expired, "sessions_purged",
        (json_int_t)r->sessions_purged, "rollup", "hours_rolled",
        (json_int_t)r->rollup.hours_rolled, "dirty_recomputed",
        (json_int_t)r->rollup.dirty_recomputed, "dirty_dropped",
        (json_int_t)r->rollup.dirty_dropped, "rows_written", (json_int_t)r->rollup.rows_written,
        "writers_pending", r->rollup.writers_pending);
    if (o == NULL)
        return NULL;
    json_t *ru = json_object_get(o, "rollup");
    if (r->rollup.rolled_until != TIA_TIME_NONE) {
        char t[40];
        tia_time_format(r->rollup.rolled_until, t, sizeof t);
        json_object_set_new(ru, "rolled_until", json_string(t));
    } else {
        json_object_set_new(ru, "rolled_until", json_null());
    }
    json_object_set_new(o, "settings", settings_json(&r->settings));
    return o;
}

static int maintain_run(int argc, char **argv, const tia_cli_opts *opts)
{
    run_args a = {0};
    const tia_cli_opt o[] = {
        {"--partition", TIA_OPT_STR, &a.partition, 0, "day|month",
         "PostgreSQL: granularity of the partitions created from now on (stored)", NULL},
        {"--ahead", TIA_OPT_STR, &a.ahead, 0, "DUR",
         "PostgreSQL: keep partitions this far ahead of now (stored; default 30d)", NULL},
        {"--retention", TIA_OPT_STR, &a.retention, 0, "DUR",
         "remove raw metric points older than this (stored; default 90d)", NULL},
        {"--rollup-retention", TIA_OPT_STR, &a.rollup_retention, 0, "DUR",
         "remove hourly rollups older than this (stored; default 400d)", NULL},
        {"--session-purge", TIA_OPT_STR, &a.session_purge, 0, "DUR",
         "delete expired or revoked sessions ended this long ago (stored; default 30d)", NULL},
        {"--batch", TIA_OPT_POSINT, &a.batch, 0, "N", "rows deleted per transaction (default 5000)",
         NULL},
        {"--dry-run", TIA_OPT_FLAG, &a.dry_run, 0, NULL,
         "say what a run would do, in one transaction rolled back at the end", NULL},
    };
    tia_cli_parse_spec spec = {
        "maintain", "",
        "One housekeeping run: creates metric partitions ahead (PostgreSQL), brings the hourly "
        "metric rollups up to date, removes raw metric points past the retention (dropping "
        "whole partitions on PostgreSQL, deleting in batches on SQLite; only hours already "
        "rolled up), removes rollups past their retention, marks sessions past their expiry "
        "expired and purges old expired or revoked sessions. Idempotent: run it from cron, "
        "hourly or daily. Options naming a setting store it first.",
        o, TIA_CLI_N(o)};
    int rc = tia_cli_parse(&spec, argc, argv, &a.pos);
    if (rc >= 0)
        return rc;
    /* Before any setting is stored: a refused run changes nothing. */
    if (a.batch > TIA_MAINTAIN_BATCH_MAX)
        return tia_cli_usage_error("maintain", "--batch must be at most %d",
                                   TIA_MAINTAIN_BATCH_MAX);
    if (a.dry_run && (a.partition || a.ahead || a.retention || a.rollup_retention ||
                      a.session_purge))
        return tia_cli_usage_error("maintain",
                                   "a dry run changes no setting: drop --dry-run to store them");
    tia_store *s = NULL;
    if ((rc = tia_cli_open(opts, TIA_CLI_MIGRATED, &s)) != 0)
        return rc;
    tia_error err = {0};
    mctx m = {opts, json_array(), isatty(STDERR_FILENO), 0, -1, "", 0};
    if (m.actions == NULL) {
        tia_store_close(s);
        return tia_cli_oom();
    }
    tia_maintain_options mo = {0};
    mo.dry_run = a.dry_run;
    mo.batch = a.batch;
    mo.log = on_log;
    mo.progress = on_progress;
    mo.ctx = &m;
    tia_maintain_report rep;
    int lrc = store_settings(s, &a, &err);
    if (lrc == 0 && a.dry_run && !opts->json)
        printf("dry run: nothing below is kept\n");
    if (lrc == 0)
        lrc = tia_maintain_run(s, &mo, &rep, &err);
    clear_bar(&m);
    if (lrc != 0) {
        rc = tia_cli_fail(lrc, &err);
    } else if (opts->json) {
        json_t *out = report_json(&rep, a.dry_run);
        if (out == NULL) {
            rc = tia_cli_oom();
        } else {
            json_object_set(out, "actions", m.actions);
            rc = tia_cli_print_object(opts, out, NULL, 0);
        }
    } else {
        if (json_array_size(m.actions) == 0 && rep.partitions_created == 0 &&
            rep.partitions_dropped == 0 && rep.points_deleted == 0 &&
            rep.rollup.hours_rolled == 0 && rep.rollup.dirty_recomputed == 0 &&
            rep.sessions_expired == 0 && rep.sessions_purged == 0)
            printf("nothing to do\n");
        printf("maintain: %" PRId64 " partition(s) created, %" PRId64 " dropped, %" PRId64
               " point(s) deleted, %" PRId64 " hour(s) rolled up, %" PRId64
               " session(s) expired, %" PRId64 " purged%s\n",
               rep.partitions_created, rep.partitions_dropped, rep.points_deleted,
               rep.rollup.hours_rolled, rep.sessions_expired, rep.sessions_purged,
               a.dry_run ? " (dry run: rolled back)" : "");
        rc = fflush(stdout) == 0 ? TIA_EXIT_OK : TIA_EXIT_ERROR;
    }
    json_decref(m.actions);
    tia_store_close(s);
    return rc;
}

static int settings_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    (void)ctx;
    tia_maintain_settings st;
    int rc = tia_maintain_settings_get(s, &st, err);
    if (rc != 0)
        return rc;
    char ahead[32], ret[32], rret[32], purge[32];
    fmt_duration(st.partition_ahead_us, ahead);
    fmt_duration(st.retention_us, ret);
    fmt_duration(st.rollup_retention_us, rret);
    fmt_duration(st.session_purge_us, purge);
    res->value = json_pack("{s:s,s:s,s:s,s:s,s:s}", TIA_SETTING_PARTITION, st.partition,
                           TIA_SETTING_PARTITION_AHEAD, ahead, TIA_SETTING_RETENTION, ret,
                           TIA_SETTING_ROLLUP_RETENTION, rret, TIA_SETTING_SESSION_PURGE, purge);
    return res->value == NULL ? tia_error_set(err, TIA_ENOMEM, "out of memory") : 0;
}

static int maintain_settings(int argc, char **argv, const tia_cli_opts *opts)
{
    tia_cli_pos pos;
    tia_cli_parse_spec spec = {"maintain settings", "",
                               "Shows the settings 'tokyoia maintain' uses (defaults for those "
                               "never set).",
                               NULL, 0};
    return tia_cli_run(&spec, argc, argv, &pos, opts, settings_body, NULL);
}

static const tia_cli_cmd cmds[] = {
    {"run", "", "one housekeeping run (the default; see 'tokyoia maintain run --help')",
     maintain_run},
    {"settings", "", "show the settings in use", maintain_settings},
};

int tia_cli_maintain(int argc, char **argv, const tia_cli_opts *opts)
{
    return tia_cli_dispatch("maintain",
                            "Metric partitions, rollups and retention, and session cleanup.",
                            cmds, TIA_CLI_N(cmds), "run", argc, argv, opts);
}
