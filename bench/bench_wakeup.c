/*
 * bench_wakeup: how long a ready task waits for an idle worker. W workers
 * (tia_worker, each on a store of its own, in a thread of its own, all for
 * one agent, with the default 1 s poll as the backstop) sleep on their
 * wake-ups (LISTEN/NOTIFY on PostgreSQL, in-process signals on SQLite); a
 * submitter on another store submits single tasks one at a time at a modest
 * rate. Latency is from the return of tia_engine_submit_task (the COMMIT is
 * done) to the worker's CLAIMED event (the claim's COMMIT is done), both on
 * CLOCK_MONOTONIC in this one process; p50, p99 and max over the tasks.
 *
 *   bench_wakeup --db URL [--tasks 500] [--workers 4] [--interval-ms 20]
 *
 * The database must be migrated (bench/run-wakeup.sh does it).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokyoia/engine.h>
#include <tokyoia/store.h>
#include <tokyoia/worker.h>

#define AGENT "akira-001"
#define WORKERS_MAX 64

typedef struct options {
    const char *db;
    int tasks, workers, interval_ms;
} options;

/* One task: when its submit returned, when it was claimed. */
typedef struct sample {
    char id[TIA_UUID_BUF];
    int64_t submitted_us, claimed_us;
} sample;

/* What the workers' event callbacks record, shared by their threads. */
typedef struct claims {
    pthread_mutex_t mu;
    sample *seen; /* id and claimed_us, in claim order */
    int n, cap;
} claims;

typedef struct runner {
    tia_store *s;
    tia_worker *w;
    pthread_t thread;
    int rc;
    tia_error err;
} runner;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_us(int64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

static void on_event(void *ctx, const tia_worker_event *ev)
{
    claims *c = ctx;
    if (ev->kind == TIA_WORKER_ERROR)
        fprintf(stderr, "bench_wakeup: worker: %s\n", ev->message ? ev->message : "?");
    if (ev->kind != TIA_WORKER_CLAIMED)
        return;
    int64_t t = now_us();
    pthread_mutex_lock(&c->mu);
    if (c->n < c->cap) {
        snprintf(c->seen[c->n].id, TIA_UUID_BUF, "%s", ev->task_id);
        c->seen[c->n++].claimed_us = t;
    }
    pthread_mutex_unlock(&c->mu);
}

static int exec_nothing(void *ctx, const tia_job *job, tia_exec_result *out, tia_error *err)
{
    (void)ctx;
    (void)job;
    (void)err;
    out->ok = 1;
    return 0;
}

static void *run(void *arg)
{
    runner *r = arg;
    r->rc = tia_worker_run(r->w, &r->err);
    return NULL;
}

static int parse(int argc, char **argv, options *o)
{
    *o = (options){NULL, 500, 4, 20};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0)
            o->db = argv[i + 1];
        else if (strcmp(argv[i], "--tasks") == 0)
            o->tasks = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--workers") == 0)
            o->workers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--interval-ms") == 0)
            o->interval_ms = atoi(argv[i + 1]);
        else
            return -1;
    }
    if (argc % 2 == 0 || o->db == NULL || o->tasks < 1 || o->workers < 1 ||
        o->workers > WORKERS_MAX || o->interval_ms < 0)
        return -1;
    return 0;
}

static int start_workers(const options *o, claims *c, runner *r, char (*ids)[32])
{
    static const char *const agents[1] = {AGENT};
    for (int i = 0; i < o->workers; i++) {
        tia_error err = {0};
        snprintf(ids[i], 32, "bench-wake-%d", i);
        tia_worker_config cfg = {.agent_ids = agents,
                                 .n_agents = 1,
                                 .worker_id = ids[i],
                                 .reap_ms = -1,
                                 .exec = exec_nothing,
                                 .on_event = on_event,
                                 .event_ctx = c};
        if (tia_store_open(o->db, NULL, &r[i].s, &err) != 0 ||
            tia_worker_new(r[i].s, &cfg, &r[i].w, &err) != 0) {
            fprintf(stderr, "bench_wakeup: worker %d: %s\n", i, err.message);
            return -1;
        }
        if (pthread_create(&r[i].thread, NULL, run, &r[i]) != 0) {
            fprintf(stderr, "bench_wakeup: cannot start worker %d\n", i);
            tia_worker_free(r[i].w);
            r[i].w = NULL;
            return -1;
        }
    }
    return 0;
}

/* Submits the tasks one at a time, interval_ms apart. */
static int submit_all(const options *o, sample *sub, int64_t *submit_us)
{
    tia_store *s = NULL;
    tia_error err = {0};
    int rc = tia_store_open(o->db, NULL, &s, &err);
    tia_task_spec t = {.key = "t",
                       .agent_id = AGENT,
                       .task_type = "ping",
                       .description = "wake-up latency probe",
                       .max_retries = -1};
    for (int i = 0; rc == 0 && i < o->tasks; i++) {
        int created = 0;
        int64_t t0 = now_us();
        rc = tia_engine_submit_task(s, &t, NULL, NULL, sub[i].id, &created, &err);
        sub[i].submitted_us = now_us();
        submit_us[i] = sub[i].submitted_us - t0;
        sleep_us((int64_t)o->interval_ms * 1000);
    }
    if (rc != 0)
        fprintf(stderr, "bench_wakeup: submit: %s\n", err.message);
    tia_store_close(s);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile (nearest rank) of n sorted values. */
static int64_t pct(const int64_t *v, int n, double p)
{
    int k = (int)(p * n + 0.999999) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static void report(const options *o, const char *backend, int64_t *lat, int n, int early,
                   int64_t *submit_us)
{
    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    qsort(submit_us, (size_t)o->tasks, sizeof *submit_us, cmp_i64);
    printf("backend %s: %d tasks, %d idle workers, one submit every %d ms\n", backend, o->tasks,
           o->workers, o->interval_ms);
    printf("submit-commit -> claim (ms): p50 %.2f  p99 %.2f  max %.2f  (%d claimed before the "
           "submit call returned, counted as 0)\n",
           pct(lat, n, 0.50) / 1000.0, pct(lat, n, 0.99) / 1000.0, lat[n - 1] / 1000.0, early);
    printf("submit call itself (ms): p50 %.2f  p99 %.2f\n", pct(submit_us, o->tasks, 0.50) / 1000.0,
           pct(submit_us, o->tasks, 0.99) / 1000.0);
}

/* Matches claims to submits; returns how many latencies were written to lat. */
static int match(const options *o, const sample *sub, const claims *c, int64_t *lat, int *early)
{
    int n = 0;
    *early = 0;
    for (int i = 0; i < o->tasks; i++)
        for (int k = 0; k < c->n; k++)
            if (strcmp(sub[i].id, c->seen[k].id) == 0) {
                int64_t d = c->seen[k].claimed_us - sub[i].submitted_us;
                *early += d < 0;
                lat[n++] = d < 0 ? 0 : d;
                break;
            }
    return n;
}

int main(int argc, char **argv)
{
    options o;
    if (parse(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: bench_wakeup --db URL [--tasks N] [--workers W] "
                        "[--interval-ms I]\n");
        return 2;
    }
    claims c = {PTHREAD_MUTEX_INITIALIZER, calloc((size_t)o.tasks, sizeof(sample)), 0, o.tasks};
    sample *sub = calloc((size_t)o.tasks, sizeof *sub);
    int64_t *lat = calloc((size_t)o.tasks, sizeof *lat);
    int64_t *submit_us = calloc((size_t)o.tasks, sizeof *submit_us);
    runner r[WORKERS_MAX] = {0};
    char ids[WORKERS_MAX][32];
    int status = 1, early = 0;
    if (c.seen == NULL || sub == NULL || lat == NULL || submit_us == NULL)
        goto done;
    if (start_workers(&o, &c, r, ids) != 0)
        goto done;
    sleep_us(500000); /* every worker has claimed nothing and sleeps */
    if (submit_all(&o, sub, submit_us) != 0)
        goto done;
    for (int64_t t0 = now_us(); now_us() - t0 < 10000000;) {
        pthread_mutex_lock(&c.mu);
        int got = c.n;
        pthread_mutex_unlock(&c.mu);
        if (got >= o.tasks)
            break;
        sleep_us(10000);
    }
    int n = match(&o, sub, &c, lat, &early);
    if (n < o.tasks)
        fprintf(stderr, "bench_wakeup: only %d of %d tasks were claimed\n", n, o.tasks);
    else
        status = 0;
    if (n > 0)
        report(&o, tia_backend_name(tia_store_backend(r[0].s)), lat, n, early, submit_us);
done:
    for (int i = 0; i < o.workers && i < WORKERS_MAX; i++)
        if (r[i].w != NULL)
            tia_worker_stop(r[i].w);
    for (int i = 0; i < o.workers && i < WORKERS_MAX; i++) {
        if (r[i].w != NULL) {
            pthread_join(r[i].thread, NULL);
            if (r[i].rc != 0)
                fprintf(stderr, "bench_wakeup: worker %d: %s\n", i, r[i].err.message);
        }
        tia_worker_free(r[i].w);
        tia_store_close(r[i].s);
    }
    free(c.seen);
    free(sub);
    free(lat);
    free(submit_us);
    return status;
}
