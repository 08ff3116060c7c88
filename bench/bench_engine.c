/*
 * bench_engine: full task lifecycles per second through the engine (submit, claim,
 * complete with all its accounting: cost from the model's price, three metric
 * points, the counters of migration 0002, the workflow started and ended), beside
 * the same machine's raw durable single-row INSERT rate measured in the same run:
 *
 *  reference  PostgreSQL: 16 connections (threads), each INSERTing one row per
 *             autocommit statement through libpq, pgbench-style; SQLite: one
 *             connection, one INSERT per transaction (WAL, synchronous=FULL, the
 *             library's settings). Both into a simple bench_insert table.
 *  pre-submitted        N tasks (workflows of independent tasks across the five
 *             agents) submitted first, then claimed (up to B per claim) and
 *             completed (tia_engine_complete_batch) by W worker threads, each with
 *             its own tia_store; timed from the workers' start to the last
 *             completion. The submission's own rate is printed beside it.
 *  submission included  the same with K submitter threads submitting the N tasks
 *             while the W workers run; timed from the start to the last completion.
 *
 * Each row also gives the process's CPU time (user + system, all threads) per
 * lifecycle over the timed span: SQLite runs inside this process, so on SQLite
 * that is the whole cost of a lifecycle, a figure the disk's and the machine's
 * moods move far less than the rates (on PostgreSQL it is the client's share).
 *
 * Each run tags its tasks with its own task_type and is checked at the end: every
 * task completed, every workflow completed, and (once per database) every counter
 * equal to a recomputation from agent_tasks. Run it on a freshly migrated database.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include <tokyoia/engine.h>
#include <tokyoia/store.h>

#define N_AGENTS 5
#define REF_CONNS 16
#define LEASE_MS 600000
#define MAX_WORKER_COUNTS 8
#define MAX_THREADS 256

static const char *const agents[N_AGENTS] = {"akira-001", "yuki-002", "hiro-003", "sakura-004",
                                             "kenji-005"};

/* ------------------------------------------------------------------------ */
/* Options, output, clock.                                                  */

typedef struct options {
    const char *db;
    const char *out;
    int tasks;      /* per run */
    int batch;      /* tasks per claim */
    int wf_tasks;   /* tasks per submitted workflow */
    int submitters; /* threads submitting */
    double ref_seconds;
    int workers[MAX_WORKER_COUNTS];
    int n_workers;
} options;

static FILE *out_file;

/* Prints to stdout and to the results file. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (out_file != NULL) {
        va_start(ap, fmt);
        vfprintf(out_file, fmt, ap);
        va_end(ap);
    }
    fflush(stdout);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The process's CPU time (user + system, all threads) in seconds. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_engine: %s: %s\n", what, msg);
    exit(1);
}

static void check(int rc, const tia_error *err, const char *what)
{
    if (rc != 0)
        die(what, err->message);
}

static tia_store *open_store(const char *url)
{
    tia_store_options so = {60000, 10}; /* 16 SQLite writers may queue for a while */
    tia_store *s = NULL;
    tia_error err = {0};
    check(tia_store_open(url, &so, &s, &err), &err, "tia_store_open");
    return s;
}

static int is_pg(const char *url)
{
    tia_store *s = open_store(url);
    int pg = tia_store_backend(s) == TIA_BACKEND_POSTGRES;
    tia_store_close(s);
    return pg;
}

/* ------------------------------------------------------------------------ */
/* Raw connections: the reference and the checks, nothing of the library.   */

/* The SQLite path of a URL, read as tia_store_open reads it. */
static const char *lite_path(const char *url)
{
    const char *p = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
    return strncmp(p, "//", 2) == 0 ? p + 2 : p;
}

/* Notices ("table does not exist, skipping") are not results. */
static void pg_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static PGconn *pg_open(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        die("raw connect", PQerrorMessage(c));
    PQsetNoticeProcessor(c, pg_quiet, NULL);
    return c;
}

static void pg_run(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        die(sql, PQerrorMessage(c));
    PQclear(res);
}

/* The library's settings: WAL, synchronous=FULL. */
static sqlite3 *lite_open(const char *url)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    if (sqlite3_open_v2(lite_path(url), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        die("raw open", sqlite3_errmsg(db));
    sqlite3_busy_timeout(db, 60000);
    if (sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;", NULL, NULL,
                     &msg) != SQLITE_OK)
        die("raw pragmas", msg);
    return db;
}

static void lite_run(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        die(sql, msg);
}

/* One int64 of a one-row query (pg or lite text by backend). */
static int64_t raw_int(const char *url, int pg, const char *pg_sql, const char *lite_sql)
{
    int64_t v = 0;
    if (pg) {
        PGconn *c = pg_open(url);
        PGresult *res = PQexec(c, pg_sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
            die(pg_sql, PQerrorMessage(c));
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        PQfinish(c);
        return v;
    }
    sqlite3 *db = lite_open(url);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, lite_sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        die(lite_sql, sqlite3_errmsg(db));
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
    return v;
}

/* ------------------------------------------------------------------------ */
/* Reference: raw durable single-row INSERTs.                               */

#define REF_TABLE_PG "CREATE TABLE bench_insert (id bigserial PRIMARY KEY, payload text)"
#define REF_TABLE_LITE "CREATE TABLE bench_insert (id INTEGER PRIMARY KEY, payload TEXT)"
#define REF_INSERT_PG "INSERT INTO bench_insert (payload) VALUES ($1)"
#define REF_INSERT_LITE "INSERT INTO bench_insert (payload) VALUES (?1)"

typedef struct ref_conn {
    const char *url;
    double seconds;
    pthread_barrier_t *start;
    int64_t rows;
    double ended;
} ref_conn;

/* One PostgreSQL connection INSERTing autocommit rows until its time is up. */
static void *ref_pg_main(void *arg)
{
    ref_conn *rc = arg;
    PGconn *c = pg_open(rc->url);
    PGresult *res = PQprepare(c, "ins", REF_INSERT_PG, 1, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        die("prepare", PQerrorMessage(c));
    PQclear(res);
    pthread_barrier_wait(rc->start);
    double t0 = now_s();
    char payload[64];
    while (now_s() - t0 < rc->seconds) {
        snprintf(payload, sizeof payload, "reference row %" PRId64, rc->rows);
        const char *p[1] = {payload};
        res = PQexecPrepared(c, "ins", 1, p, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            die("reference insert", PQerrorMessage(c));
        PQclear(res);
        rc->rows++;
    }
    rc->ended = now_s();
    PQfinish(c);
    return NULL;
}

static double ref_pg(const options *o)
{
    PGconn *c = pg_open(o->db);
    pg_run(c, "DROP TABLE IF EXISTS bench_insert");
    pg_run(c, REF_TABLE_PG);
    pthread_t th[REF_CONNS];
    ref_conn rc[REF_CONNS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, REF_CONNS + 1);
    for (int i = 0; i < REF_CONNS; i++) {
        rc[i] = (ref_conn){o->db, o->ref_seconds, &start, 0, 0};
        if (pthread_create(&th[i], NULL, ref_pg_main, &rc[i]) != 0)
            die("pthread_create", "failed");
    }
    pthread_barrier_wait(&start);
    double t0 = now_s(), t1 = t0;
    int64_t rows = 0;
    for (int i = 0; i < REF_CONNS; i++) {
        pthread_join(th[i], NULL);
        rows += rc[i].rows;
        t1 = rc[i].ended > t1 ? rc[i].ended : t1;
    }
    pthread_barrier_destroy(&start);
    pg_run(c, "DROP TABLE bench_insert");
    PQfinish(c);
    return (double)rows / (t1 - t0);
}

static double ref_lite(const options *o)
{
    sqlite3 *db = lite_open(o->db);
    sqlite3_stmt *st = NULL;
    lite_run(db, "DROP TABLE IF EXISTS bench_insert");
    lite_run(db, REF_TABLE_LITE);
    if (sqlite3_prepare_v2(db, REF_INSERT_LITE, -1, &st, NULL) != SQLITE_OK)
        die("prepare", sqlite3_errmsg(db));
    int64_t rows = 0;
    char payload[64];
    double t0 = now_s();
    while (now_s() - t0 < o->ref_seconds) {
        snprintf(payload, sizeof payload, "reference row %" PRId64, rows);
        sqlite3_bind_text(st, 1, payload, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE)
            die("reference insert", sqlite3_errmsg(db));
        sqlite3_reset(st);
        rows++;
    }
    double t1 = now_s();
    sqlite3_finalize(st);
    lite_run(db, "DROP TABLE bench_insert");
    sqlite3_close_v2(db);
    return (double)rows / (t1 - t0);
}

/* ------------------------------------------------------------------------ */
/* Lifecycles: submitters and workers.                                      */

typedef struct run {
    const options *o;
    char tag[48];          /* task_type and workflow name of this run's tasks */
    int workers;
    atomic_int submitting; /* submitter threads still running */
    atomic_int next_wf;    /* next workflow number to submit */
    atomic_llong completed;
    atomic_llong batches;  /* completion batches */
    pthread_barrier_t *start;
} run;

typedef struct thread_arg {
    run *r;
    int index;
} thread_arg;

static char keys[TIA_WORKFLOW_TASKS_MAX][8];

/* Submits workflow number wf of the run: wf_tasks independent tasks across the agents. */
static void submit_workflow(tia_store *s, run *r, int wf, tia_task_spec *specs, int n)
{
    char input[48], wf_id[TIA_UUID_BUF];
    for (int k = 0; k < n; k++) {
        specs[k] = (tia_task_spec){0};
        specs[k].key = keys[k];
        specs[k].agent_id = agents[(wf + k) % N_AGENTS];
        specs[k].task_type = r->tag;
        specs[k].description = "a benchmark task";
        specs[k].max_retries = -1;
    }
    snprintf(input, sizeof input, "{\"workflow\":%d}", wf);
    specs[0].input_data = input;
    tia_workflow_spec w = {r->tag, "benchmark workflow", "bench", "bench_engine", NULL, NULL,
                           specs, (size_t)n};
    tia_error err = {0};
    int created = 0;
    check(tia_engine_submit(s, &w, wf_id, NULL, &created, &err), &err, "tia_engine_submit");
}

/* Takes workflow numbers until the run's tasks are all submitted. */
static void *submitter_main(void *arg)
{
    thread_arg *a = arg;
    run *r = a->r;
    int per = r->o->wf_tasks, n_wf = (r->o->tasks + per - 1) / per;
    tia_store *s = open_store(r->o->db);
    tia_task_spec *specs = calloc((size_t)per, sizeof *specs);
    if (specs == NULL)
        die("submitter", "out of memory");
    pthread_barrier_wait(r->start);
    for (int wf; (wf = atomic_fetch_add(&r->next_wf, 1)) < n_wf;) {
        int n = wf == n_wf - 1 ? r->o->tasks - wf * per : per;
        submit_workflow(s, r, wf, specs, n);
    }
    atomic_fetch_sub(&r->submitting, 1);
    free(specs);
    tia_store_close(s);
    return NULL;
}

/* Completes every claim of l in one batch, as a worker reports them. */
static void complete_claims(tia_store *s, const struct tia_claim_list *l, const char *worker,
                            tia_completion *items, int *rcs)
{
    tia_error err = {0};
    for (size_t i = 0; i < l->n; i++)
        items[i] = (tia_completion){l->items[i].task->id, worker, l->items[i].attempt,
                                    "{\"result\":\"done\"}", -1, 60, 40, -1};
    check(tia_engine_complete_batch(s, items, l->n, rcs, &err), &err,
          "tia_engine_complete_batch");
    for (size_t i = 0; i < l->n; i++)
        if (rcs[i] != 0)
            die("tia_engine_complete_batch", "an item was refused");
}

/*
 * Claims and completes until nothing is left: a claim that comes back empty ends
 * the worker once the submitters had all finished before it was made. Before
 * that, as a polling worker does, it backs off after an empty claim (1 ms
 * doubling to 16 ms) and lets work accumulate for 2 ms after a partial one,
 * rather than hammering the queue with claims of a few tasks each.
 */
static void *worker_main(void *arg)
{
    thread_arg *a = arg;
    run *r = a->r;
    char worker[32];
    snprintf(worker, sizeof worker, "bench-worker-%d", a->index);
    tia_store *s = open_store(r->o->db);
    tia_completion *items = calloc((size_t)r->o->batch, sizeof *items);
    int *rcs = calloc((size_t)r->o->batch, sizeof *rcs);
    if (items == NULL || rcs == NULL)
        die("worker", "out of memory");
    pthread_barrier_wait(r->start);
    for (useconds_t idle = 1000;;) {
        int done_submitting = atomic_load(&r->submitting) == 0;
        struct tia_claim_list l = {0};
        tia_error err = {0};
        check(tia_engine_claim(s, agents, N_AGENTS, worker, (size_t)r->o->batch, LEASE_MS, &l,
                               &err),
              &err, "tia_engine_claim");
        if (l.n == 0) {
            tia_claim_list_free(&l);
            if (done_submitting)
                break;
            usleep(idle);
            idle = idle < 16000 ? idle * 2 : idle;
            continue;
        }
        idle = 1000;
        complete_claims(s, &l, worker, items, rcs);
        atomic_fetch_add(&r->completed, (long long)l.n);
        atomic_fetch_add(&r->batches, 1);
        if (!done_submitting && l.n < (size_t)r->o->batch)
            usleep(2000);
        tia_claim_list_free(&l);
    }
    free(items);
    free(rcs);
    tia_store_close(s);
    return NULL;
}

/* Starts n threads of fn over r (indices from 0), all released by r->start. */
static void spawn(pthread_t *th, thread_arg *args, int n, void *(*fn)(void *), run *r)
{
    for (int i = 0; i < n; i++) {
        args[i] = (thread_arg){r, i};
        if (pthread_create(&th[i], NULL, fn, &args[i]) != 0)
            die("pthread_create", "failed");
    }
}

static void join_all(pthread_t *th, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

/*
 * Runs submitters (n_sub) and workers (n_work) together; returns the seconds
 * taken, and the process's CPU seconds over the same span in *cpu. SQLite runs
 * inside this process, so that CPU time is all of the database's work too: a
 * figure that the virtual disk's and the other loads' moods move far less than
 * the wall-clock rate.
 */
static double run_threads(run *r, int n_sub, int n_work, double *cpu)
{
    static pthread_t th[MAX_THREADS];
    static thread_arg args[MAX_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)(n_sub + n_work + 1));
    r->start = &start;
    atomic_store(&r->submitting, n_sub);
    spawn(th, args, n_sub, submitter_main, r);
    spawn(th + n_sub, args + n_sub, n_work, worker_main, r);
    pthread_barrier_wait(&start);
    double t0 = now_s(), c0 = cpu_s();
    join_all(th, n_sub + n_work);
    double t = now_s() - t0;
    *cpu = cpu_s() - c0;
    pthread_barrier_destroy(&start);
    r->start = NULL;
    return t;
}

/* Every task of the run completed, every workflow of it completed. */
static void check_run(const run *r, int pg)
{
    char a[256], b[256];
    snprintf(a, sizeof a, "SELECT count(*) FROM agent_tasks WHERE task_type = '%s' "
             "AND status = 'completed'", r->tag);
    int64_t done = raw_int(r->o->db, pg, a, a);
    snprintf(b, sizeof b, "SELECT count(*) FROM workflows WHERE name = '%s' "
             "AND status <> 'completed'", r->tag);
    int64_t open_wf = raw_int(r->o->db, pg, b, b);
    if (done != r->o->tasks || open_wf != 0 || atomic_load(&r->completed) != r->o->tasks) {
        fprintf(stderr, "bench_engine: %s: %" PRId64 " of %d tasks completed, %" PRId64
                " workflows not completed\n", r->tag, done, r->o->tasks, open_wf);
        exit(1);
    }
}

typedef struct figures {
    double ref;    /* reference rows/s */
    double target; /* ratio to reach */
} figures;

/*
 * One row of the table; submit_secs > 0 gives the untimed pre-submission's own
 * rate (and submit_cpu its CPU seconds). cpu: the process's CPU seconds over the
 * timed span.
 */
static void report(const run *r, const char *mode, double secs, double submit_secs, double cpu,
                   double submit_cpu, const figures *f)
{
    double rate = r->o->tasks / secs, ratio = rate / f->ref;
    double per_claim = (double)r->o->tasks / (double)atomic_load(&r->batches);
    char submit[48] = "";
    if (submit_secs > 0)
        snprintf(submit, sizeof submit, "%.0f (%.0f)", r->o->tasks / submit_secs,
                 submit_cpu / r->o->tasks * 1e6);
    say("   %-20s %7d %8.2f %12.0f %9.2fx %9.1f %12s %8.0f   %s\n", mode, r->workers, secs,
        rate, ratio, per_claim, submit, cpu / r->o->tasks * 1e6,
        ratio >= f->target ? "met" : "MISSED");
}

static void lifecycles(const options *o, int pg, const figures *f, int workers, int included)
{
    static int seq;
    run r = {0};
    r.o = o;
    r.workers = workers;
    snprintf(r.tag, sizeof r.tag, "bench-%d-%s-w%d", ++seq, included ? "sub" : "pre", workers);
    double secs, submit_secs = 0, cpu = 0, submit_cpu = 0;
    if (included) {
        secs = run_threads(&r, o->submitters, workers, &cpu);
    } else { /* the submission is not part of the lifecycle rate */
        submit_secs = run_threads(&r, o->submitters, 0, &submit_cpu);
        secs = run_threads(&r, 0, workers, &cpu);
    }
    check_run(&r, pg);
    report(&r, included ? "submission included" : "pre-submitted", secs, submit_secs, cpu,
           submit_cpu, f);
}

/* ------------------------------------------------------------------------ */
/* The counters, once, against a recomputation (as tests/db's helper).      */

#define EQ_COUNTERS_SQL(cost, wcost)                                                               \
    "SELECT (SELECT count(*) FROM workflows w WHERE (w.total_tasks, w.completed_tasks, "           \
    "w.failed_tasks, w.total_tokens_used, w." wcost ") <> (SELECT count(*), "                      \
    "count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'), "    \
    "COALESCE(sum(tokens_used), 0), COALESCE(sum(" cost "), 0) FROM agent_tasks t "                \
    "WHERE t.workflow_id = w.id)) "                                                                \
    "+ (SELECT count(*) FROM agents a WHERE (a.total_tasks_completed, a.total_tokens_used) <> "    \
    "(SELECT count(*) FILTER (WHERE status = 'completed'), COALESCE(sum(tokens_used), 0) "         \
    "FROM agent_tasks t WHERE t.agent_id = a.id)) "                                                \
    "+ (SELECT count(*) FROM agent_task_totals x WHERE (x.pending, x.running, x.completed, "       \
    "x.failed, x.cancelled, x.tokens) <> (SELECT count(*) FILTER (WHERE status = 'pending'), "     \
    "count(*) FILTER (WHERE status = 'running'), count(*) FILTER (WHERE status = 'completed'), "   \
    "count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'cancelled'), "    \
    "COALESCE(sum(tokens_used), 0) FROM agent_tasks t WHERE t.agent_id = x.agent_id))"

static void check_counters(const options *o, int pg)
{
    int64_t bad = raw_int(o->db, pg, EQ_COUNTERS_SQL("cost_usd", "total_cost_usd"),
                          EQ_COUNTERS_SQL("cost_usd_micros", "total_cost_usd_micros"));
    int64_t metrics = raw_int(o->db, pg, "SELECT count(*) FROM agent_metrics",
                              "SELECT count(*) FROM agent_metrics");
    say("   check: %" PRId64 " counter rows differ from a recomputation (%s); %" PRId64
        " metric points\n",
        bad, bad == 0 ? "OK" : "FAIL", metrics);
    if (bad != 0)
        exit(1);
}

/* ------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_engine --db URL [--tasks N=20000] [--batch B=100] [--workers 1,4,16]\n"
            "                    [--wf-tasks T=100] [--submitters K=2] [--ref-seconds S=10]\n"
            "                    [--out FILE]\n"
            "Lifecycles per second through the engine beside the raw durable INSERT rate,\n"
            "on a freshly migrated database.\n");
    exit(2);
}

static void parse_workers(options *o, const char *v)
{
    o->n_workers = 0;
    for (const char *p = v; *p && o->n_workers < MAX_WORKER_COUNTS;) {
        char *end;
        long w = strtol(p, &end, 10);
        if (end == p || w < 1 || w > MAX_THREADS / 2)
            usage();
        o->workers[o->n_workers++] = (int)w;
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0')
            usage();
    }
}

static options parse(int argc, char **argv)
{
    options o = {NULL, NULL, 20000, 100, 100, 2, 10.0, {1, 4, 16}, 3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            usage();
        if (strcmp(a, "--db") == 0)
            o.db = v;
        else if (strcmp(a, "--out") == 0)
            o.out = v;
        else if (strcmp(a, "--tasks") == 0)
            o.tasks = atoi(v);
        else if (strcmp(a, "--batch") == 0)
            o.batch = atoi(v);
        else if (strcmp(a, "--wf-tasks") == 0)
            o.wf_tasks = atoi(v);
        else if (strcmp(a, "--submitters") == 0)
            o.submitters = atoi(v);
        else if (strcmp(a, "--ref-seconds") == 0)
            o.ref_seconds = atof(v);
        else if (strcmp(a, "--workers") == 0)
            parse_workers(&o, v);
        else
            usage();
        i++;
    }
    if (o.db == NULL || o.tasks < 1 || o.batch < 1 || o.batch > 1000 || o.wf_tasks < 1 ||
        o.wf_tasks > TIA_WORKFLOW_TASKS_MAX || o.submitters < 1 ||
        o.submitters > MAX_THREADS / 2 || o.ref_seconds <= 0 || o.n_workers == 0)
        usage();
    return o;
}

int main(int argc, char **argv)
{
    options o = parse(argc, argv);
    if (o.out != NULL && (out_file = fopen(o.out, "w")) == NULL)
        die(o.out, "cannot write");
    for (int k = 0; k < TIA_WORKFLOW_TASKS_MAX; k++)
        snprintf(keys[k], sizeof keys[k], "t%d", k);
    int pg = is_pg(o.db);
    char date[64];
    time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
    say("bench_engine on %s, %s, %ld cores\n", pg ? "postgresql" : "sqlite", date,
        sysconf(_SC_NPROCESSORS_ONLN));
    say("%d tasks per run, in workflows of %d independent tasks across %d agents; "
        "claims of up to %d tasks (all five agents), completed in one batch; %d submitters\n",
        o.tasks, o.wf_tasks, N_AGENTS, o.batch, o.submitters);
    figures f = {pg ? ref_pg(&o) : ref_lite(&o), pg ? 2.0 : 0.5};
    say("\nreference: raw durable single-row INSERT, %s, %.0f s: %.0f rows/s\n",
        pg ? "16 connections, autocommit (pgbench-style)" : "one INSERT per transaction (WAL, "
                                                             "synchronous=FULL)",
        o.ref_seconds, f.ref);
    say("\nlifecycles (submit, claim, complete with all accounting); target >= %.1fx the "
        "INSERT rate\n",
        f.target);
    say("(cpu us: this process's user + system CPU time per lifecycle over the timed span;\n"
        " on SQLite that is the database's work too, on PostgreSQL only the client's;\n"
        " submit/s: the pre-submission's own rate, with its cpu us per task in parentheses)\n");
    say("   %-20s %7s %8s %12s %10s %9s %12s %8s   %s\n", "mode", "workers", "seconds",
        "lifecycles/s", "x INSERT", "per batch", "submit/s", "cpu us", "target");
    for (int i = 0; i < o.n_workers; i++)
        lifecycles(&o, pg, &f, o.workers[i], 0);
    for (int i = 0; i < o.n_workers; i++)
        lifecycles(&o, pg, &f, o.workers[i], 1);
    check_counters(&o, pg);
    if (out_file != NULL)
        fclose(out_file);
    return 0;
}
