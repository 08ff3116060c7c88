/*
 * bench_store: what libtokyoia costs over the database itself, measured in one run
 * on one database. Two figures:
 *
 *  a) task inserts per second through tia_task_create (one row per call,
 *     autocommit) beside the very INSERT statement tasks.c runs, sent through raw
 *     libpq (PQexecPrepared) or raw sqlite3 (a prepared statement), with the same
 *     parameters and the same UUIDv7 ids. Rounds alternate which side goes first,
 *     so that drift (WAL growth, checkpoints, a neighbour's load) hits both.
 *  b) latency of the seed's query patterns through the library beside the seed's
 *     own SQL run directly on the same database (prepared, every value of every
 *     row read), runs interleaved the same way; median, p95 and p99.
 *
 * The raw side opens its own connection with the settings the library uses
 * (SQLite: WAL, synchronous=FULL, foreign keys), so the comparison is of the code
 * between the caller and the database, not of configuration.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include <tokyoia/agents.h>
#include <tokyoia/interactions.h>
#include <tokyoia/stats.h>
#include <tokyoia/store.h>
#include <tokyoia/tasks.h>
#include <tokyoia/workflows.h>

#include "core/uuid.h"

#define N_AGENTS 5
#define N_SAMPLES 200      /* workflows the workflow patterns rotate through */
#define SLOW_BUDGET_S 20.0 /* time one slow pattern may take per side */

static const char *const agents[N_AGENTS] = {"akira-001", "yuki-002", "hiro-003", "sakura-004",
                                             "kenji-005"};

/* The INSERT of tia_task_create (src/store/tasks.c, sql_insert): keep them identical. */
#define INSERT_PG                                                                                  \
    "INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, input_data, "     \
    "parent_task_id, metadata) VALUES ($1::uuid, $2, $3::uuid, $4, $5, $6::jsonb, $7::uuid, "      \
    "COALESCE($8::jsonb, '{}'::jsonb))"
#define INSERT_LITE                                                                                \
    "INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, input_data, "     \
    "parent_task_id, metadata) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, COALESCE(?8, '{}'))"

/* ------------------------------------------------------------------------ */
/* Options, output, clock.                                                  */

typedef struct options {
    const char *db;
    const char *out;
    int inserts; /* per side per round */
    int rounds;
    int runs; /* per query pattern and side */
    const char *only; /* run only the patterns whose name contains this, NULL: all */
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

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, msg);
    exit(1);
}

/* ------------------------------------------------------------------------ */
/* The raw side: libpq or sqlite3, nothing else.                            */

typedef struct raw {
    tia_backend backend;
    PGconn *pg;
    sqlite3 *lite;
    int nstmts;
} raw;

typedef struct raw_stmt {
    raw *r;
    char name[16];
    sqlite3_stmt *st;
    int nparams;
} raw_stmt;

/* The SQLite path of a URL, read as tia_store_open reads it. */
static const char *lite_path(const char *url)
{
    const char *p = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
    return strncmp(p, "//", 2) == 0 ? p + 2 : p;
}

static void raw_open(raw *r, tia_backend b, const char *url)
{
    memset(r, 0, sizeof *r);
    r->backend = b;
    if (b == TIA_BACKEND_POSTGRES) {
        r->pg = PQconnectdb(url);
        if (PQstatus(r->pg) != CONNECTION_OK)
            die("raw connect", PQerrorMessage(r->pg));
        PQsetClientEncoding(r->pg, "UTF8");
        return;
    }
    if (sqlite3_open_v2(lite_path(url), &r->lite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        die("raw open", sqlite3_errmsg(r->lite));
    sqlite3_busy_timeout(r->lite, 5000);
    char *msg = NULL;
    if (sqlite3_exec(r->lite,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                     "PRAGMA foreign_keys = ON;",
                     NULL, NULL, &msg) != SQLITE_OK)
        die("raw pragmas", msg);
}

static void raw_prepare(raw *r, raw_stmt *st, const char *pg_sql, const char *lite_sql, int nparams)
{
    memset(st, 0, sizeof *st);
    st->r = r;
    st->nparams = nparams;
    if (r->backend == TIA_BACKEND_POSTGRES) {
        snprintf(st->name, sizeof st->name, "raw_%d", r->nstmts++);
        PGresult *res = PQprepare(r->pg, st->name, pg_sql, nparams, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            die(pg_sql, PQerrorMessage(r->pg));
        PQclear(res);
    } else if (sqlite3_prepare_v3(r->lite, lite_sql, -1, SQLITE_PREPARE_PERSISTENT, &st->st,
                                  NULL) != SQLITE_OK) {
        die(lite_sql, sqlite3_errmsg(r->lite));
    }
}

static volatile size_t touched; /* keeps the reads of every value from being optimised out */

/* Runs a statement with text parameters (NULL for NULL), reading every value. */
static int64_t raw_run(raw_stmt *st, const char *const *params)
{
    int64_t rows = 0;
    if (st->r->backend == TIA_BACKEND_POSTGRES) {
        PGresult *res = PQexecPrepared(st->r->pg, st->name, st->nparams, params, NULL, NULL, 0);
        ExecStatusType s = PQresultStatus(res);
        if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
            die(st->name, PQerrorMessage(st->r->pg));
        rows = PQntuples(res);
        int cols = PQnfields(res);
        for (int i = 0; i < rows; i++)
            for (int c = 0; c < cols; c++)
                touched += (size_t)PQgetlength(res, i, c) + (size_t)*PQgetvalue(res, i, c);
        PQclear(res);
        return rows;
    }
    for (int i = 0; i < st->nparams; i++)
        sqlite3_bind_text(st->st, i + 1, params[i], -1, SQLITE_STATIC);
    /*
     * sqlite3 hands out pointers that die at the next step, so a client that uses
     * the answer copies its text values, as libpq does for every PostgreSQL result
     * and as the library does into its records: the raw side copies them too.
     */
    int rc;
    char *kept[4096];
    size_t nkept = 0;
    while ((rc = sqlite3_step(st->st)) == SQLITE_ROW) {
        rows++;
        for (int c = 0, n = sqlite3_column_count(st->st); c < n; c++) {
            switch (sqlite3_column_type(st->st, c)) {
            case SQLITE_INTEGER: touched += (size_t)sqlite3_column_int64(st->st, c); break;
            case SQLITE_FLOAT: touched += (size_t)sqlite3_column_double(st->st, c); break;
            case SQLITE_NULL: break;
            default: {
                const unsigned char *t = sqlite3_column_text(st->st, c);
                size_t len = (size_t)sqlite3_column_bytes(st->st, c);
                char *copy = malloc(len + 1);
                if (copy == NULL)
                    die("raw copy", "out of memory");
                memcpy(copy, t, len + 1);
                touched += len;
                if (nkept < sizeof kept / sizeof kept[0])
                    kept[nkept++] = copy;
                else
                    free(copy);
                break;
            }
            }
        }
    }
    for (size_t k = 0; k < nkept; k++)
        free(kept[k]);
    if (rc != SQLITE_DONE)
        die(sqlite3_sql(st->st), sqlite3_errmsg(st->r->lite));
    sqlite3_reset(st->st);
    sqlite3_clear_bindings(st->st);
    return rows;
}

/* One value of a one-row query, as int64. */
static int64_t raw_int(raw *r, const char *sql)
{
    raw_stmt st;
    raw_prepare(r, &st, sql, sql, 0);
    int64_t v = 0;
    if (r->backend == TIA_BACKEND_POSTGRES) {
        PGresult *res = PQexecPrepared(r->pg, st.name, 0, NULL, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
            die(sql, PQerrorMessage(r->pg));
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    } else {
        if (sqlite3_step(st.st) != SQLITE_ROW)
            die(sql, sqlite3_errmsg(r->lite));
        v = sqlite3_column_int64(st.st, 0);
        sqlite3_finalize(st.st);
    }
    return v;
}

/* Ids of up to n workflows that have tasks and interactions, in random order. */
static int sample_workflows(raw *r, char ids[][TIA_UUID_BUF], int n)
{
    static const char *const sql =
        "SELECT w.id FROM workflows w WHERE w.total_tasks > 0 AND EXISTS (SELECT 1 FROM "
        "agent_interactions i WHERE i.workflow_id = w.id) ORDER BY random() LIMIT 200";
    int got = 0;
    if (r->backend == TIA_BACKEND_POSTGRES) {
        PGresult *res = PQexec(r->pg, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            die(sql, PQerrorMessage(r->pg));
        for (; got < n && got < PQntuples(res); got++)
            snprintf(ids[got], TIA_UUID_BUF, "%s", PQgetvalue(res, got, 0));
        PQclear(res);
        return got;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->lite, sql, -1, &st, NULL) != SQLITE_OK)
        die(sql, sqlite3_errmsg(r->lite));
    while (got < n && sqlite3_step(st) == SQLITE_ROW)
        snprintf(ids[got++], TIA_UUID_BUF, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return got;
}

static void raw_close(raw *r)
{
    PQfinish(r->pg);
    sqlite3_close_v2(r->lite);
}

/* ------------------------------------------------------------------------ */
/* a) Inserts.                                                              */

typedef struct bench {
    options o;
    tia_store *s;
    raw r;
    char wf[N_SAMPLES][TIA_UUID_BUF];
    int n_wf;
} bench;

static void check(int rc, const tia_error *err, const char *what)
{
    if (rc != 0)
        die(what, err->message);
}

/* Inserts n tasks one by one; returns the seconds taken. */
static double insert_lib(bench *b, int n, int round)
{
    tia_error err = {0};
    char desc[64], input[64], id[TIA_UUID_BUF];
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        snprintf(desc, sizeof desc, "bench insert %d.%d", round, i);
        snprintf(input, sizeof input, "{\"round\":%d,\"i\":%d}", round, i);
        tia_task_new t = {agents[i % N_AGENTS], NULL, "bench", desc, input, NULL, NULL};
        check(tia_task_create(b->s, &t, id, &err), &err, "tia_task_create");
    }
    return now_s() - t0;
}

static double insert_raw(bench *b, raw_stmt *st, tia__uuid_gen *g, int n, int round)
{
    char desc[64], input[64], id[TIA_UUID_BUF];
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        tia__uuid7(g, id);
        snprintf(desc, sizeof desc, "bench insert %d.%d", round, i);
        snprintf(input, sizeof input, "{\"round\":%d,\"i\":%d}", round, i);
        const char *p[8] = {id, agents[i % N_AGENTS], NULL, "bench", desc, input, NULL, NULL};
        raw_run(st, p);
    }
    (void)b;
    return now_s() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v and returns its q-quantile (nearest rank). */
static double quantile(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int k = (int)(q * n + 0.999999) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

/*
 * Rounds of n rows per side, the first side alternating. The ratio is given over
 * all rows and as the median of the rounds' ratios, which a burst of a
 * neighbour's load in one round cannot move.
 */
static void bench_inserts(bench *b)
{
    raw_stmt st;
    raw_prepare(&b->r, &st, INSERT_PG, INSERT_LITE, 8);
    tia__uuid_gen g = {0};
    double lib = 0, rawt = 0, *ratios = calloc((size_t)b->o.rounds, sizeof *ratios);
    if (ratios == NULL)
        die("bench", "out of memory");
    insert_lib(b, 20, -1); /* warm up: statements prepared, pages cached */
    insert_raw(b, &st, &g, 20, -1);
    for (int r = 0; r < b->o.rounds; r++) {
        double l, w;
        if (r % 2 == 0) {
            l = insert_lib(b, b->o.inserts, r);
            w = insert_raw(b, &st, &g, b->o.inserts, r);
        } else {
            w = insert_raw(b, &st, &g, b->o.inserts, r);
            l = insert_lib(b, b->o.inserts, r);
        }
        lib += l;
        rawt += w;
        ratios[r] = w / l;
    }
    double n = (double)b->o.inserts * b->o.rounds;
    say("\na) Task inserts, one row per call, autocommit (%d rounds x %d rows per side, "
        "interleaved)\n",
        b->o.rounds, b->o.inserts);
    say("   %-40s %8.0f rows/s\n", "tia_task_create", n / lib);
    say("   %-40s %8.0f rows/s\n",
        b->r.backend == TIA_BACKEND_POSTGRES ? "same INSERT, raw libpq PQexecPrepared"
                                             : "same INSERT, raw sqlite3 prepared",
        n / rawt);
    double ratio = rawt / lib, med = quantile(ratios, b->o.rounds, 0.5);
    say("   ratio library/raw: %.3f over all rows, %.3f median of rounds (target >= 0.90: %s)\n",
        ratio, med, med >= 0.90 ? "met" : "MISSED");
    free(ratios);
    if (b->r.backend == TIA_BACKEND_SQLITE)
        sqlite3_finalize(st.st);
}

/* ------------------------------------------------------------------------ */
/* b) Query patterns.                                                       */

typedef struct pattern {
    const char *name;
    void (*lib)(bench *b, int i);  /* run i through the library */
    const char *pg_sql, *lite_sql; /* the seed's SQL */
    int nparams;                   /* 1: run i's agent or workflow id */
    int by_workflow;               /* the parameter is a workflow id */
} pattern;

static void lib_active(bench *b, int i)
{
    (void)i;
    tia_agent_status st = TIA_AGENT_ACTIVE;
    struct tia_agent_list l = {0};
    tia_error err = {0};
    check(tia_agent_list(b->s, &st, &l, &err), &err, "tia_agent_list");
    tia_agent_list_free(&l);
}

static void lib_window(bench *b, int i)
{
    tia_agent_window_stats w;
    tia_error err = {0};
    check(tia_stats_agent_window(b->s, agents[i % N_AGENTS], INT64_C(86400000000), &w, &err), &err,
          "tia_stats_agent_window");
}

static void lib_recent(bench *b, int i)
{
    tia_task_filter f = {agents[i % N_AGENTS], NULL, NULL, 20, NULL};
    struct tia_task_list l = {0};
    tia_error err = {0};
    check(tia_task_list(b->s, &f, &l, &err), &err, "tia_task_list");
    tia_task_list_free(&l);
}

static void lib_workflow(bench *b, int i)
{
    const char *id = b->wf[i % b->n_wf];
    tia_workflow *w = NULL;
    struct tia_task_list l = {0};
    tia_error err = {0};
    check(tia_workflow_get_with_tasks(b->s, id, &w, &l, &err), &err, "tia_workflow_get_with_tasks");
    tia_task_list_free(&l);
    tia_workflow_free(w);
}

static void lib_interactions(bench *b, int i)
{
    tia_interaction_list l = {0};
    tia_error err = {0};
    check(tia_interaction_list_for_workflow(b->s, b->wf[i % b->n_wf], &l, &err), &err,
          "tia_interaction_list_for_workflow");
    tia_interaction_list_free(&l);
}

static void lib_agent_stats(bench *b, int i)
{
    (void)i;
    tia_agent_stats_list l = {0};
    tia_error err = {0};
    check(tia_stats_agents(b->s, &l, &err), &err, "tia_stats_agents");
    tia_agent_stats_list_free(&l);
}

static const pattern patterns[] = {
    {"active agents", lib_active, "SELECT * FROM agents WHERE status = 'active'",
     "SELECT * FROM agents WHERE status = 'active'", 0, 0},
    {"agent statistics, 24h", lib_window,
     "SELECT agent_id, COUNT(*) as total_tasks, AVG(duration_ms) as avg_latency, "
     "SUM(tokens_used) as total_tokens, SUM(cost_usd) as total_cost FROM agent_tasks "
     "WHERE agent_id = $1 AND status = 'completed' AND created_at > NOW() - INTERVAL '24 hours' "
     "GROUP BY agent_id",
     "SELECT agent_id, COUNT(*) as total_tasks, AVG(duration_ms) as avg_latency, "
     "SUM(tokens_used) as total_tokens, SUM(cost_usd) as total_cost FROM agent_tasks "
     "WHERE agent_id = ?1 AND status = 'completed' AND created_at > "
     "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) - 86400000000 "
     "GROUP BY agent_id",
     1, 0},
    {"recent tasks of an agent (20)", lib_recent,
     "SELECT * FROM agent_tasks WHERE agent_id = $1 ORDER BY created_at DESC LIMIT 20",
     "SELECT * FROM agent_tasks WHERE agent_id = ?1 ORDER BY created_at DESC LIMIT 20", 1, 0},
    {"workflow with its tasks", lib_workflow,
     "SELECT w.*, json_agg(t.*) as tasks FROM workflows w LEFT JOIN agent_tasks t "
     "ON w.id = t.workflow_id WHERE w.id = $1 GROUP BY w.id",
     "SELECT w.*, t.* FROM workflows w LEFT JOIN agent_tasks t ON w.id = t.workflow_id "
     "WHERE w.id = ?1",
     1, 1},
    {"interactions of a workflow", lib_interactions,
     "SELECT ai.*, a1.name as from_agent, a2.name as to_agent FROM agent_interactions ai "
     "JOIN agents a1 ON ai.from_agent_id = a1.id JOIN agents a2 ON ai.to_agent_id = a2.id "
     "WHERE workflow_id = $1 ORDER BY created_at",
     "SELECT ai.*, a1.name as from_agent, a2.name as to_agent FROM agent_interactions ai "
     "JOIN agents a1 ON ai.from_agent_id = a1.id JOIN agents a2 ON ai.to_agent_id = a2.id "
     "WHERE workflow_id = ?1 ORDER BY created_at",
     1, 1},
    {"agent_stats, all agents", lib_agent_stats, "SELECT * FROM agent_stats",
     "SELECT * FROM agent_stats", 0, 0},
};
#define N_PATTERNS ((int)(sizeof patterns / sizeof patterns[0]))

static double time_lib(bench *b, const pattern *p, int i)
{
    double t0 = now_s();
    p->lib(b, i);
    return now_s() - t0;
}

static double time_raw(bench *b, const pattern *p, raw_stmt *st, int i)
{
    const char *param = p->by_workflow ? b->wf[i % b->n_wf] : agents[i % N_AGENTS];
    double t0 = now_s();
    raw_run(st, &param);
    (void)b;
    return now_s() - t0;
}

static void bench_pattern(bench *b, const pattern *p, double *lib, double *rawv)
{
    raw_stmt st;
    raw_prepare(&b->r, &st, p->pg_sql, p->lite_sql, p->nparams);
    /* Warm up both sides; a slow pattern gets fewer runs, at least 21. */
    double first = time_lib(b, p, 0) + time_raw(b, p, &st, 0);
    int runs = b->o.runs;
    if (first * runs > 2 * SLOW_BUDGET_S)
        runs = (int)(2 * SLOW_BUDGET_S / first) < 21 ? 21 : (int)(2 * SLOW_BUDGET_S / first);
    for (int i = 0; i < runs; i++) {
        if (i % 2 == 0) {
            lib[i] = time_lib(b, p, i);
            rawv[i] = time_raw(b, p, &st, i);
        } else {
            rawv[i] = time_raw(b, p, &st, i);
            lib[i] = time_lib(b, p, i);
        }
    }
    /*
     * The paired differences (each run's library call minus the seed's call made
     * beside it): their median, and a distribution-free 95 % interval for it (the
     * order statistics k and n - 1 - k). An interval that holds 0 is a tie that
     * this machine's noise cannot split; one above 0, a library that is slower.
     */
    double *d = malloc((size_t)runs * sizeof *d);
    if (d == NULL)
        die("bench", "out of memory");
    for (int i = 0; i < runs; i++)
        d[i] = (lib[i] - rawv[i]) * 1e6;
    qsort(d, (size_t)runs, sizeof *d, cmp_double);
    int k = (int)floor((runs - 1.96 * sqrt((double)runs)) / 2);
    k = k < 0 ? 0 : k;
    double dm = d[runs / 2], dlo = d[k], dhi = d[runs - 1 - k];
    free(d);
    double lm = quantile(lib, runs, 0.5) * 1e3, lp = quantile(lib, runs, 0.95) * 1e3;
    double l99 = quantile(lib, runs, 0.99) * 1e3;
    double rm = quantile(rawv, runs, 0.5) * 1e3, rp = quantile(rawv, runs, 0.95) * 1e3;
    double r99 = quantile(rawv, runs, 0.99) * 1e3;
    say("   %-30s %5d %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %9.1fx %+8.1f [%+.1f, %+.1f] %s\n",
        p->name, runs, lm, lp, l99, rm, rp, r99, rm / lm, dm, dlo, dhi,
        lm <= rm ? "" : "SLOWER");
    if (b->r.backend == TIA_BACKEND_SQLITE)
        sqlite3_finalize(st.st);
}

static void bench_queries(bench *b)
{
    double *lib = calloc((size_t)b->o.runs, sizeof *lib);
    double *rawv = calloc((size_t)b->o.runs, sizeof *rawv);
    if (lib == NULL || rawv == NULL)
        die("bench", "out of memory");
    b->n_wf = sample_workflows(&b->r, b->wf, N_SAMPLES);
    if (b->n_wf == 0)
        die("bench", "no workflow with tasks and interactions: run `tokyoia generate` first");
    say("\nb) Seed query patterns: library vs the seed's SQL run directly (ms; speedup = seed "
        "median / library median;\n   lib-seed: median of the paired differences in us, with "
        "its 95 %% interval)\n");
    say("   %-30s %5s %10s %10s %10s %10s %10s %10s %10s %8s\n", "pattern", "runs", "lib med",
        "lib p95", "lib p99", "seed med", "seed p95", "seed p99", "speedup", "lib-seed");
    for (int i = 0; i < N_PATTERNS; i++)
        if (b->o.only == NULL || strstr(patterns[i].name, b->o.only) != NULL)
            bench_pattern(b, &patterns[i], lib, rawv);
    free(lib);
    free(rawv);
}

/* ------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr, "usage: bench_store --db URL [--inserts N=250, 0: none] [--rounds R=20] "
                    "[--runs Q=200] [--only PATTERN] [--out FILE]\n"
                    "Measures libtokyoia against raw libpq/sqlite3 on a database loaded with "
                    "`tokyoia generate`.\n");
    exit(2);
}

static options parse(int argc, char **argv)
{
    options o = {NULL, NULL, 250, 20, 200, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            usage();
        if (strcmp(a, "--db") == 0)
            o.db = v;
        else if (strcmp(a, "--out") == 0)
            o.out = v;
        else if (strcmp(a, "--inserts") == 0)
            o.inserts = atoi(v);
        else if (strcmp(a, "--rounds") == 0)
            o.rounds = atoi(v);
        else if (strcmp(a, "--runs") == 0)
            o.runs = atoi(v);
        else if (strcmp(a, "--only") == 0) /* e.g. "--only agents": while working on one */
            o.only = v;
        else
            usage();
        i++;
    }
    if (o.db == NULL || o.inserts < 0 || o.rounds < 1 || o.runs < 21)
        usage();
    return o;
}

static void header(bench *b)
{
    char date[64];
    time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
    say("bench_store on %s, %s, %ld cores\n", tia_backend_name(b->r.backend), date,
        sysconf(_SC_NPROCESSORS_ONLN));
    say("database: %" PRId64 " tasks, %" PRId64 " workflows, %" PRId64 " interactions, %" PRId64
        " metrics\n",
        raw_int(&b->r, "SELECT count(*) FROM agent_tasks"),
        raw_int(&b->r, "SELECT count(*) FROM workflows"),
        raw_int(&b->r, "SELECT count(*) FROM agent_interactions"),
        raw_int(&b->r, "SELECT count(*) FROM agent_metrics"));
}

int main(int argc, char **argv)
{
    static bench b;
    b.o = parse(argc, argv);
    tia_error err = {0};
    check(tia_store_open(b.o.db, NULL, &b.s, &err), &err, "tia_store_open");
    raw_open(&b.r, tia_store_backend(b.s), b.o.db);
    if (b.o.out != NULL && (out_file = fopen(b.o.out, "w")) == NULL)
        die(b.o.out, "cannot write");
    header(&b);
    bench_queries(&b);
    if (b.o.inserts > 0) /* --inserts 0: the query patterns only (a scale run) */
        bench_inserts(&b);
    if (out_file != NULL)
        fclose(out_file);
    raw_close(&b.r);
    tia_store_close(b.s);
    return 0;
}
