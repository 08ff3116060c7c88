/*
 * `tokyoia archive --older-than 90d [--to FILE [--append]] [--batch N] [--dry-run]`
 * and `tokyoia archive show WORKFLOW_ID [--from FILE]` (the library's
 * include/tokyoia/archive.h does the work). Progress goes to stderr after every
 * batch: a bar redrawn in place when stderr is a terminal, otherwise a plain
 * line at every tenth of the eligible workflows, so that logs stay short. The
 * result, with the rates in workflows and tasks per second, goes to stdout.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tokyoia/archive.h>

#include "cli/cli.h"

#define BAR_WIDTH 28

int tia_cli_archive(int argc, char **argv, const tia_cli_opts *opts);

static const char *const dep_names[] = {"task_id", "depends_on"};
static const tia_cli_cols dep_cols = {2, dep_names};

typedef struct meter {
    int tty;
    int drawn; /* a bar is on the terminal line */
    int tenth; /* last tenth printed (plain lines) */
    double last_draw;
} meter;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_progress(void *ctx, const tia_archive_progress *p)
{
    meter *m = ctx;
    int pct = p->total_workflows > 0 ? (int)(p->workflows * 100 / p->total_workflows) : 100;
    if (pct > 100)
        pct = 100;
    if (m->tty) {
        double t = now_s();
        if (t - m->last_draw < 0.1 && pct < 100)
            return;
        m->last_draw = t;
        char bar[BAR_WIDTH + 1];
        int fill = pct * BAR_WIDTH / 100;
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        fprintf(stderr,
                "\rarchive [%s] %3d%%  %" PRId64 "/%" PRId64 " workflows, %" PRId64 " tasks\033[K",
                bar, pct, p->workflows, p->total_workflows, p->tasks);
        m->drawn = 1;
    } else {
        int tenth = pct / 10;
        if (tenth > m->tenth) {
            m->tenth = tenth;
            fprintf(stderr,
                    "archive: %d%% (%" PRId64 "/%" PRId64 " workflows, %" PRId64 " tasks, %" PRId64
                    " batches)\n",
                    pct, p->workflows, p->total_workflows, p->tasks, p->batches);
        }
    }
    fflush(stderr);
}

static void meter_end(meter *m)
{
    if (m->tty && m->drawn)
        fputs("\r\033[K", stderr);
    m->drawn = 0;
}

static int print_result(const tia_cli_opts *opts, const tia_archive_options *ao,
                        const tia_archive_result *r)
{
    char cutoff[40];
    tia_time_format(r->cutoff, cutoff, sizeof cutoff);
    double wps = r->seconds > 0 ? (double)r->workflows / r->seconds : 0.0;
    double tps = r->seconds > 0 ? (double)r->tasks / r->seconds : 0.0;
    const char *dest = ao->to_file != NULL ? ao->to_file : "archive tables";
    if (opts->json) {
        json_t *o = json_pack(
            "{s:b,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f}", "dry_run", ao->dry_run,
            "cutoff", cutoff, "destination", ao->to_file != NULL ? ao->to_file : "tables",
            "workflows", (json_int_t)r->workflows, "tasks", (json_int_t)r->tasks, "interactions",
            (json_int_t)r->interactions, "dependencies", (json_int_t)r->dependencies, "batches",
            (json_int_t)r->batches, "already_in_file", (json_int_t)r->already_in_file,
            "repaired_bytes", (json_int_t)r->repaired_bytes, "seconds", r->seconds,
            "workflows_per_s", wps, "tasks_per_s", tps);
        if (o == NULL)
            return tia_cli_oom();
        return tia_cli_print_object(opts, o, NULL, 0);
    }
    if (ao->dry_run) {
        printf("Would archive %" PRId64 " workflows (%" PRId64 " tasks, %" PRId64
               " interactions) completed before %s into %s\n",
               r->workflows, r->tasks, r->interactions, cutoff, dest);
    } else {
        printf("Archived %" PRId64 " workflows (%" PRId64 " tasks, %" PRId64
               " interactions) completed before %s into %s in %" PRId64
               " batches, %.2f s: %.0f workflows/s, %.0f tasks/s\n",
               r->workflows, r->tasks, r->interactions, cutoff, dest, r->batches, r->seconds, wps,
               tps);
        if (r->already_in_file > 0)
            printf("%" PRId64 " of them were in %s already (an interrupted run): written "
                   "again as they are now ('archive show' reads the last copy)\n",
                   r->already_in_file, dest);
        if (r->repaired_bytes > 0)
            printf("cut off an unfinished last batch of %" PRId64 " bytes from %s (its rows "
                   "were still in the database)\n",
                   r->repaired_bytes, dest);
    }
    return fflush(stdout) == 0 ? TIA_EXIT_OK : TIA_EXIT_ERROR;
}

static int archive_run(int argc, char **argv, const tia_cli_opts *opts)
{
    tia_archive_options ao = {0};
    int64_t older = 0, batch = TIA_ARCHIVE_BATCH_DEFAULT;
    const tia_cli_opt o[] = {
        {"--older-than", TIA_OPT_DURATION, &older, 1, "DURATION",
         "archive workflows completed longer ago than this (90d, 12h)", NULL},
        {"--to", TIA_OPT_STR, &ao.to_file, 0, "FILE",
         "write them to this gzip-compressed JSON-lines file instead of the archive tables", NULL},
        {"--append", TIA_OPT_FLAG, &ao.append, 0, NULL,
         "add to FILE when it exists (also finishes an interrupted run)", NULL},
        {"--batch", TIA_OPT_POSINT, &batch, 0, "N",
         "workflows per transaction, 1..10000 (default 500)", NULL},
        {"--dry-run", TIA_OPT_FLAG, &ao.dry_run, 0, NULL, "count what would move, move nothing",
         NULL},
    };
    tia_cli_parse_spec spec = {
        "archive", "",
        "Moves finished workflows (completed, failed, cancelled) completed before the cutoff, "
        "with their tasks, interactions and task dependencies, out of the hot tables in short "
        "transactions: into the archive tables, or with --to into a file. Agents' counters "
        "and agent_stats do not change. Workflows with a pending or running task stay; tasks "
        "without a workflow are never archived. 'tokyoia archive show WORKFLOW_ID [--from "
        "FILE]' shows an archived workflow.",
        o, TIA_CLI_N(o)};
    tia_cli_pos pos;
    int rc = tia_cli_parse(&spec, argc, argv, &pos);
    if (rc >= 0)
        return rc;
    if (batch > TIA_ARCHIVE_BATCH_MAX)
        return tia_cli_usage_error("archive", "--batch must be at most %d", TIA_ARCHIVE_BATCH_MAX);
    if (ao.append && ao.to_file == NULL)
        return tia_cli_usage_error("archive", "--append needs --to FILE");
    ao.older_than_us = older;
    ao.batch = (int)batch;
    tia_store *s = NULL;
    if ((rc = tia_cli_open(opts, TIA_CLI_MIGRATED, &s)) != 0)
        return rc;
    meter m = {isatty(STDERR_FILENO), 0, -1, 0};
    if (!ao.dry_run) {
        ao.progress = on_progress;
        ao.progress_ctx = &m;
    }
    tia_error err = {0};
    tia_archive_result res;
    int lrc = tia_archive_run(s, &ao, &res, &err);
    meter_end(&m);
    if (lrc != 0) {
        rc = tia_cli_fail(lrc, &err);
        if (res.workflows > 0)
            fprintf(stderr,
                    "tokyoia: %" PRId64 " workflows were archived before the error; run "
                    "again to go on\n",
                    res.workflows);
    } else {
        rc = print_result(opts, &ao, &res);
    }
    tia_store_close(s);
    return rc;
}

static int archive_show(int argc, char **argv, const tia_cli_opts *opts)
{
    const char *from = NULL;
    const tia_cli_opt o[] = {
        {"--from", TIA_OPT_STR, &from, 0, "FILE",
         "look in this archive file (written by --to) instead of the archive tables", NULL},
    };
    tia_cli_parse_spec spec = {"archive show", "WORKFLOW_ID",
                               "Shows an archived workflow with its tasks and interactions, from "
                               "the archive tables or from an archive file.",
                               o, TIA_CLI_N(o)};
    tia_cli_pos pos;
    int rc = tia_cli_parse(&spec, argc, argv, &pos);
    if (rc >= 0)
        return rc;
    tia_error err = {0};
    char *text = NULL;
    int lrc;
    if (from != NULL) {
        lrc = tia_archive_show_file(from, pos.v[0], &text, &err);
    } else {
        tia_store *s = NULL;
        if ((rc = tia_cli_open(opts, TIA_CLI_MIGRATED, &s)) != 0)
            return rc;
        lrc = tia_archive_show(s, pos.v[0], &text, &err);
        tia_store_close(s);
    }
    if (lrc != 0)
        return tia_cli_fail(lrc, &err);
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    if (doc == NULL)
        return tia_cli_oom();
    /* The tables of `workflows show`, then the task dependencies. */
    const tia_cli_nested nested[3] = {
        tia_cli_workflow_nested[0], tia_cli_workflow_nested[1], {"dependencies", &dep_cols}};
    return tia_cli_print_object(opts, doc, nested, 3);
}

int tia_cli_archive(int argc, char **argv, const tia_cli_opts *opts)
{
    if (argc >= 2 && strcmp(argv[1], "show") == 0)
        return archive_show(argc - 1, argv + 1, opts);
    return archive_run(argc, argv, opts);
}
