/*
 * bench_api: the direct-library side of the Registry API benchmark
 * (bench/run-api.sh), and the preparation it needs.
 *
 *   bench_api --db URL --prepare AGENT --tasks N
 *       creates agent AGENT (if missing) and N pending tasks of it, in batches,
 *       for the claim/complete cycles of either side.
 *   bench_api --db URL --op OP --threads T --seconds S [--agent A]
 *       runs OP in T threads, each with its own tia_store (as the server's pool
 *       gives each request its own connection), for S seconds, and prints
 *       "OP ops/s N". OPs are the very library calls the API's handlers make:
 *         stats   tia_stats_agents                       (GET /api/v1/stats)
 *         recent  tia_task_list(agent, limit 20)          (GET /api/v1/agents/{id}/tasks?limit=20)
 *         create  tia_engine_submit_task                  (POST /api/v1/tasks)
 *         cycle   tia_engine_claim(1) + tia_engine_complete (POST .../claim, .../complete)
 *       recent rotates over the five seed agents, create over bench-new-1..5
 *       (prepared like the cycle agents); cycle claims tasks of --agent.
 *       stats+auth and recent+auth also check the session token in $TIA_TOKEN the
 *       way the server does for every request (auth_op): the same database work,
 *       in the same round trips, as an authenticated HTTP request, without HTTP.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokyoia/agents.h>
#include <tokyoia/sessions.h>
#include <tokyoia/engine.h>
#include <tokyoia/stats.h>
#include <tokyoia/store.h>
#include <tokyoia/tasks.h>

#include "store/db.h"

#define MAX_THREADS 64

static const char *const seed_agents[] = {"akira-001", "yuki-002", "hiro-003", "sakura-004",
                                          "kenji-005"};
/*
 * The create workload's agents (bench/run-api.sh prepares them; so does
 * bench/wrk/post_task.lua use them): tasks created for the seed agents would
 * become those agents' newest, so that a later round's recent-tasks reads would
 * read the benchmark's own small tasks instead of the generated ones.
 */
static const char *const create_agents[] = {"bench-new-1", "bench-new-2", "bench-new-3",
                                            "bench-new-4", "bench-new-5"};

typedef struct opts {
    const char *db, *op, *agent, *prepare;
    int threads;
    double seconds;
    long tasks;
} opts;

typedef struct worker {
    const opts *o;
    int index;
    atomic_int *stop;
    uint64_t done;
    int failed;
    char error[TIA_ERROR_MSG_MAX];
} worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int one_op(tia_store *s, const opts *o, int index, uint64_t n, tia_error *err);

/*
 * "stats+auth": the token checked as the server checks it for every request
 * (src/api/auth.c): tia__session_check_begin queues the check on the connection,
 * the read that follows goes to PostgreSQL in the same round trip behind it, and
 * tia__session_check_end takes the verdict. Where the check cannot be queued (SQLite)
 * it runs first, on its own, as the server's does.
 */
static int auth_op(tia_store *s, const opts *o, int index, uint64_t n, tia_error *err)
{
    const char *token = getenv("TIA_TOKEN");
    tia__session_check chk;
    tia_session *sess = NULL;
    opts plain = *o;
    plain.op = strcmp(o->op, "stats+auth") == 0 ? "stats" : "recent";
    int rc = tia__session_check_begin(s, token ? token : "", &chk, err);
    if (rc != 0)
        return rc;
    if (!chk.queued) {
        rc = tia__session_check_end(s, &chk, &sess, err);
        tia_session_free(sess);
        return rc != 0 ? rc : one_op(s, &plain, index, n, err);
    }
    tia_error op_err = {0};
    int op_rc = one_op(s, &plain, index, n, &op_err);
    rc = tia__session_check_end(s, &chk, &sess, err);
    tia_session_free(sess);
    if (rc == 0 && op_rc != 0 && err != NULL)
        *err = op_err;
    return rc != 0 ? rc : op_rc;
}

static int one_op(tia_store *s, const opts *o, int index, uint64_t n, tia_error *err)
{
    if (strcmp(o->op, "stats+auth") == 0 || strcmp(o->op, "recent+auth") == 0)
        return auth_op(s, o, index, n, err);
    if (strcmp(o->op, "stats") == 0) {
        tia_agent_stats_list l = {0};
        int rc = tia_stats_agents(s, &l, err);
        tia_agent_stats_list_free(&l);
        return rc;
    }
    if (strcmp(o->op, "recent") == 0) {
        struct tia_task_list l = {0};
        tia_task_filter f = {seed_agents[(n + (uint64_t)index) % 5], NULL, NULL, 20, NULL};
        int rc = tia_task_list(s, &f, &l, err);
        tia_task_list_free(&l);
        return rc;
    }
    if (strcmp(o->op, "create") == 0) {
        const char *agent = create_agents[n % 5];
        tia_task_spec spec = {"t",         agent, "bench_api", "a task created by bench_api",
                              "{\"n\":1}", 0,     -1,          0,
                              NULL,        0,     NULL};
        char id[TIA_UUID_BUF];
        int created = 0;
        return tia_engine_submit_task(s, &spec, NULL, NULL, id, &created, err);
    }
    if (strcmp(o->op, "cycle") == 0) {
        struct tia_claim_list l = {0};
        const char *agents[1] = {o->agent};
        char wid[32];
        snprintf(wid, sizeof wid, "bench-direct-%d", index);
        int rc = tia_engine_claim(s, agents, 1, wid, 1, 60000, &l, err);
        if (rc == 0 && l.n == 0)
            rc = tia_error_set(err, TIA_ENOTFOUND, "no pending task left to claim");
        if (rc == 0) {
            tia_completion c = {l.items[0].task->id, wid, l.items[0].attempt, "{\"ok\":true}",
                                100, -1, -1, -1};
            rc = tia_engine_complete(s, &c, err);
        }
        tia_claim_list_free(&l);
        return rc;
    }
    return tia_error_set(err, TIA_EINVAL, "unknown op %s", o->op);
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    tia_store *s = NULL;
    tia_error err = {0};
    if (tia_store_open(w->o->db, NULL, &s, &err) != 0)
        goto fail;
    while (!atomic_load(w->stop)) {
        if (one_op(s, w->o, w->index, w->done, &err) != 0)
            goto fail;
        w->done++;
    }
    tia_store_close(s);
    return NULL;
fail:
    w->failed = 1;
    snprintf(w->error, sizeof w->error, "%s", err.message);
    atomic_store(w->stop, 1);
    tia_store_close(s);
    return NULL;
}

static int prepare(const opts *o)
{
    tia_store *s = NULL;
    tia_error err = {0};
    int rc = tia_store_open(o->db, NULL, &s, &err);
    tia_agent *a = NULL;
    if (rc == 0 && tia_agent_get(s, o->prepare, &a, &err) == TIA_ENOTFOUND) {
        tia_agent_new n = {o->prepare, "Bench", "benchmark agent", "llama-4-405b", NULL, 0, NULL,
                           NULL, TIA_AGENT_ACTIVE, NULL};
        rc = tia_agent_create(s, &n, &err);
    }
    tia_agent_free(a);
    enum { BATCH = 1000 };
    tia_task_new items[BATCH];
    for (int i = 0; i < BATCH; i++)
        items[i] = (tia_task_new){o->prepare, NULL, "bench_cycle", "a task for bench_api cycles",
                                  NULL, NULL, NULL};
    for (long done = 0; rc == 0 && done < o->tasks; done += BATCH) {
        size_t n = (size_t)(o->tasks - done < BATCH ? o->tasks - done : BATCH);
        rc = tia_task_create_batch(s, items, n, NULL, &err);
    }
    if (rc != 0)
        fprintf(stderr, "bench_api: prepare: %s\n", err.message);
    tia_store_close(s);
    return rc == 0 ? 0 : 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_api --db URL (--prepare AGENT --tasks N | --op "
                    "stats|recent|create|cycle|stats+auth|recent+auth [--threads T] [--seconds S] [--agent A])\n");
    return 2;
}

int main(int argc, char **argv)
{
    opts o = {NULL, NULL, NULL, NULL, 16, 10.0, 0};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0)
            o.db = argv[i + 1];
        else if (strcmp(argv[i], "--op") == 0)
            o.op = argv[i + 1];
        else if (strcmp(argv[i], "--agent") == 0)
            o.agent = argv[i + 1];
        else if (strcmp(argv[i], "--prepare") == 0)
            o.prepare = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0)
            o.threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            o.seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--tasks") == 0)
            o.tasks = atol(argv[i + 1]);
        else
            return usage();
    }
    if (o.db == NULL || (o.op == NULL) == (o.prepare == NULL) || o.threads < 1 ||
        o.threads > MAX_THREADS || o.seconds <= 0)
        return usage();
    if (o.prepare)
        return prepare(&o);
    if (strcmp(o.op, "cycle") == 0 && o.agent == NULL)
        return usage();
    atomic_int stop = 0;
    worker w[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    double t0 = now_s();
    for (int i = 0; i < o.threads; i++) {
        w[i] = (worker){&o, i, &stop, 0, 0, ""};
        pthread_create(&th[i], NULL, run_worker, &w[i]);
    }
    while (!atomic_load(&stop) && now_s() - t0 < o.seconds) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, 1);
    uint64_t total = 0;
    int failed = 0;
    for (int i = 0; i < o.threads; i++) {
        pthread_join(th[i], NULL);
        total += w[i].done;
        if (w[i].failed && !failed) {
            fprintf(stderr, "bench_api: %s: %s\n", o.op, w[i].error);
            failed = 1;
        }
    }
    double secs = now_s() - t0;
    printf("%s ops/s %.1f (%" PRIu64 " in %.2f s, %d threads)\n", o.op, (double)total / secs,
           total, secs, o.threads);
    return failed;
}
