/*
 * `tokyoia generate`: loads realistic history into a migrated database for the
 * benchmarks (src/store/bulk.c does the work), then proves that the counters the
 * triggers kept equal a recomputation from the tasks. On PostgreSQL the metrics
 * load on a second connection in a second thread while the tasks load, so that
 * the server works on both at once; SQLite has one writer, so there they load
 * one after the other. Progress goes to stderr: one line rewritten in place on a
 * terminal, a plain line every tenth otherwise.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/bulk.h"

typedef struct progress {
    pthread_mutex_t lock;
    int tty;
    double t0;
    int64_t done[2], total[2]; /* tasks, metrics */
    int tenth[2];              /* last tenth printed (plain output) */
} progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_progress(void *ctx, const char *phase, int64_t done, int64_t total)
{
    progress *p = ctx;
    int i = strcmp(phase, "tasks") == 0 ? 0 : 1;
    pthread_mutex_lock(&p->lock);
    p->done[i] = done;
    p->total[i] = total;
    double el = now_s() - p->t0;
    if (p->tty) {
        fprintf(stderr,
                "\rgenerate: tasks %" PRId64 "/%" PRId64 ", metrics %" PRId64 "/%" PRId64
                ", %.0f s   ",
                p->done[0], p->total[0], p->done[1], p->total[1], el);
    } else {
        int tenth = total > 0 ? (int)(done * 10 / total) : 10;
        if (tenth > p->tenth[i]) {
            p->tenth[i] = tenth;
            fprintf(stderr, "generate: %s %" PRId64 "/%" PRId64 " (%d%%) after %.1f s\n", phase,
                    done, total, tenth * 10, el);
        }
    }
    fflush(stderr);
    pthread_mutex_unlock(&p->lock);
}

typedef struct metrics_job {
    const char *url;
    const tia__bulk_spec *spec;
    tia__bulk_counts counts;
    int rc;
    tia_error err;
} metrics_job;

static void *metrics_thread(void *arg)
{
    metrics_job *j = arg;
    tia_store *s = NULL;
    j->rc = tia_store_open(j->url, NULL, &s, &j->err);
    if (j->rc == 0)
        j->rc = tia__bulk_load_metrics(s, j->spec, &j->counts, &j->err);
    tia_store_close(s);
    return NULL;
}

/* Tasks on s; metrics on a second connection in parallel (PostgreSQL) or after. */
static int load(tia_store *s, const char *url, const tia__bulk_spec *spec, tia__bulk_counts *c,
                tia_error *err)
{
    metrics_job job = {url, spec, {0}, 0, {0}};
    pthread_t th;
    int parallel = tia_store_backend(s) == TIA_BACKEND_POSTGRES && spec->metrics > 0 &&
                   pthread_create(&th, NULL, metrics_thread, &job) == 0;
    int rc = tia__bulk_load_tasks(s, spec, c, err);
    if (parallel)
        pthread_join(th, NULL);
    else if (rc == 0 && spec->metrics > 0)
        job.rc = tia__bulk_load_metrics(s, spec, &job.counts, &job.err);
    c->metrics = job.counts.metrics;
    if (rc == 0 && job.rc != 0) {
        *err = job.err;
        rc = job.rc;
    }
    return rc;
}

static int report(const tia_cli_opts *opts, tia_store *s, const tia__bulk_counts *c, double secs)
{
    tia_error err = {0};
    tia__bulk_check chk;
    int rc = tia__bulk_check_counters(s, &chk, &err);
    if (rc != 0)
        return tia_cli_fail(rc, &err);
    int ok = chk.agents_bad == 0 && chk.workflows_bad == 0;
    if (opts->json) {
        printf("{\"backend\":\"%s\",\"workflows\":%" PRId64 ",\"tasks\":%" PRId64
               ",\"interactions\":%" PRId64 ",\"metrics\":%" PRId64 ",\"seconds\":%.3f,"
               "\"counters_ok\":%s,\"agents_bad\":%" PRId64 ",\"workflows_bad\":%" PRId64
               ",\"agents_latency_not_recomputed\":%" PRId64 "}\n",
               tia_backend_name(tia_store_backend(s)), c->workflows, c->tasks, c->interactions,
               c->metrics, secs, ok ? "true" : "false", chk.agents_bad, chk.workflows_bad,
               chk.agents_archived);
    } else {
        printf("generated on %s in %.1f s: %" PRId64 " workflows, %" PRId64
               " tasks (%.0f/s), %" PRId64 " interactions, %" PRId64 " metrics\n",
               tia_backend_name(tia_store_backend(s)), secs, c->workflows, c->tasks,
               secs > 0 ? (double)c->tasks / secs : 0.0, c->interactions, c->metrics);
        if (ok)
            printf("counters: OK (%" PRId64 " agents and %" PRId64
                   " workflows equal a recomputation from agent_tasks and "
                   "archived_task_totals)\n",
                   chk.agents, chk.workflows);
        else
            printf("counters: FAIL (%" PRId64 " of %" PRId64 " agents and %" PRId64 " of %" PRId64
                   " workflows differ from a recomputation)\n",
                   chk.agents_bad, chk.agents, chk.workflows_bad, chk.workflows);
        if (chk.agents_archived > 0)
            printf("counters: the average latency of %" PRId64
                   " agents with archived completed tasks is checked against their totals, "
                   "not recomputed\n",
                   chk.agents_archived);
    }
    if (fflush(stdout) != 0)
        return TIA_EXIT_ERROR;
    return ok ? TIA_EXIT_OK : TIA_EXIT_ERROR;
}

int tia_cli_generate(int argc, char **argv, const tia_cli_opts *opts)
{
    int64_t tasks = 0, metrics = 0, workflows = -1, days = 90, seed = 1;
    const tia_cli_opt o[] = {
        {"--tasks", TIA_OPT_INT, &tasks, 1, "N", "agent_tasks rows to write", NULL},
        {"--metrics", TIA_OPT_INT, &metrics, 1, "M", "agent_metrics rows to write", NULL},
        {"--workflows", TIA_OPT_INT, &workflows, 0, "W", "workflows (default N/5)", NULL},
        {"--days", TIA_OPT_POSINT, &days, 0, "D", "spread over the last D days (default 90)", NULL},
        {"--seed", TIA_OPT_INT, &seed, 0, "S", "random seed (default 1)", NULL},
    };
    tia_cli_parse_spec spec = {
        "generate",
        "",
        "Load realistic history (workflows of the four seed types, tasks of the five agents, "
        "interactions, metrics) into a migrated database, then check every counter.",
        o,
        TIA_CLI_N(o),
        {0},
        {0}};
    tia_cli_pos pos = {0};
    int rc = tia_cli_parse(&spec, argc, argv, &pos);
    if (rc >= 0)
        return rc;
    if (days > 3650)
        return tia_cli_usage_error("generate", "--days must be at most 3650");
    tia_store *s = NULL;
    if ((rc = tia_cli_open(opts, TIA_CLI_MIGRATED, &s)) != 0)
        return rc;
    progress pr = {PTHREAD_MUTEX_INITIALIZER, isatty(STDERR_FILENO), now_s(), {0}, {0}, {0}};
    pr.total[0] = tasks;
    pr.total[1] = metrics;
    tia__bulk_spec bs = {tasks, metrics, workflows, (int)days, (uint64_t)seed, 0, on_progress, &pr};
    tia__bulk_counts counts = {0};
    tia_error err = {0};
    int lrc = load(s, tia_store_default_url(opts->db_url), &bs, &counts, &err);
    double secs = now_s() - pr.t0;
    if (pr.tty)
        fputc('\n', stderr);
    rc = lrc != 0 ? tia_cli_fail(lrc, &err) : report(opts, s, &counts, secs);
    tia_store_close(s);
    return rc;
}
