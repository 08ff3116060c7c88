/*
 * bench_retention: what rollups and partitions buy, measured on a database that
 * `tokyoia generate` loaded. Two figures:
 *
 *  a) a 7-day hourly series of one agent's latency through tia_metric_query_series,
 *     which reads the hourly rollups (after tia_metric_rollup has brought them up
 *     to date; its own time is printed too), beside the same series computed from
 *     the raw points (the library's raw path, the query the series ran before
 *     rollups existed). Runs alternate sides; median of each; target >= 10x.
 *     The two answers are compared (same buckets and counts) before timing.
 *  b) PostgreSQL: expiring one month of points by detaching and dropping its
 *     partition (as tokyoia maintain does) beside deleting the same rows from an
 *     unpartitioned table. Both run on copies made
 *     here, so that they remove exactly the same rows with the same indexes (the
 *     primary key and the seed's index): a partition-shaped copy of the month,
 *     attached to a scratch partitioned table, is detached and dropped; a plain
 *     copy of every point has the month's rows deleted. Each step is one
 *     transaction, commit included; the VACUUM that frees the deleted rows'
 *     space is timed and printed apart. Target >= 100x.
 *     --cold drops the copies' files from the operating system's page cache
 *     before each timed step, as for a month that nothing has read lately (needs
 *     to open the server's files: root or the server's user); --tablespace puts both copies in a tablespace,
 *     to measure them on another file system than the data directory's.
 *
 *   bench_retention --db URL [--runs N=21] [--agent ID] [--only series|drop]
 *                   [--cold] [--tablespace NAME] [--out FILE]
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include <tokyoia/maintain.h>
#include <tokyoia/metrics.h>
#include <tokyoia/store.h>

#include "store/rollup.h"

#define HOUR_US INT64_C(3600000000)

static FILE *out_file;
static int cold;                /* --cold */
static const char *tablespace;  /* --tablespace */

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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, int rc, const tia_error *err)
{
    fprintf(stderr, "bench_retention: %s: %s (%s)\n", what, err->message, tia_strerror(rc));
    exit(1);
}

/* (a) */
static void bench_series(tia_store *s, const char *agent, int runs)
{
    tia_error err = {0};
    tia_rollup_result rr;
    double t0 = now_s();
    int rc = tia_metric_rollup(s, NULL, &rr, &err);
    if (rc != 0)
        die("tia_metric_rollup", rc, &err);
    say("a) rollups brought up to date: %" PRId64 " hours, %" PRId64 " rows in %.2f s\n",
        rr.hours_rolled, rr.rows_written, now_s() - t0);

    tia_time_us to = tia_now_us();
    tia_metric_query q = {agent, "latency", to - 7 * 24 * HOUR_US, to, TIA_BUCKET_HOUR};
    tia_metric_series a = {0}, b = {0};
    if ((rc = tia_metric_query_series(s, &q, &a, &err)) != 0)
        die("series from rollups", rc, &err);
    if ((rc = tia__metric_series_raw(s, &q, q.from, q.to, HOUR_US, &b, &err)) != 0)
        die("series from raw points", rc, &err);
    int64_t points = 0;
    int same = a.n == b.n;
    for (size_t i = 0; same && i < a.n; i++) {
        same = a.items[i].start == b.items[i].start && a.items[i].count == b.items[i].count;
        points += b.items[i].count;
    }
    say("   7-day hourly series of %s latency: %zu buckets, %" PRId64
        " points; rollup and raw answers agree: %s\n",
        agent, a.n, points, same ? "yes" : "NO");
    tia_metric_series_free(&a);
    tia_metric_series_free(&b);

    double *tr = calloc((size_t)runs, sizeof *tr), *tw = calloc((size_t)runs, sizeof *tw);
    if (tr == NULL || tw == NULL) {
        fprintf(stderr, "bench_retention: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < runs; i++) {
        for (int side = 0; side < 2; side++) {
            int raw = (side + i) % 2; /* alternate which side goes first */
            tia_metric_series r = {0};
            double t = now_s();
            rc = raw ? tia__metric_series_raw(s, &q, q.from, q.to, HOUR_US, &r, &err)
                     : tia_metric_query_series(s, &q, &r, &err);
            t = now_s() - t;
            if (rc != 0)
                die("series", rc, &err);
            tia_metric_series_free(&r);
            (raw ? tw : tr)[i] = t * 1000;
        }
    }
    double mr = median(tr, runs), mw = median(tw, runs);
    say("   median of %d runs: rollups %.3f ms, raw points %.3f ms: %.1fx (target >= 10x: %s)\n",
        runs, mr, mw, mw / mr, mw / mr >= 10 ? "met" : "NOT met");
    free(tr);
    free(tw);
}

static PGresult *must(PGconn *c, const char *sql, ExecStatusType want)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != want) {
        fprintf(stderr, "bench_retention: %s\n  %s", sql, PQerrorMessage(c));
        exit(1);
    }
    return r;
}

static void run_sql(PGconn *c, const char *sql)
{
    PQclear(must(c, sql, PGRES_COMMAND_OK));
}

/* Drops one file's pages from the page cache; 0 when it does not exist. */
static long long evict_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0 && errno == ENOENT)
        return 0;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || fdatasync(fd) != 0 ||
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) {
        fprintf(stderr, "bench_retention: --cold: %s: %s (run as root or as the server's user)\n",
                path, strerror(errno));
        exit(1);
    }
    close(fd);
    return (long long)st.st_size;
}

/*
 * --cold: the two copies' files (tables, their indexes and TOAST, every fork and
 * segment) leave the operating system's page cache, as for a month that nothing
 * has read lately; the rest of the database stays as it was. Their pages in
 * PostgreSQL's own shared_buffers stay (the CHECKPOINT before wrote them out).
 */
static void evict_copies(PGconn *c)
{
    if (!cold)
        return;
    PGresult *r = must(c,
                       "WITH t AS (SELECT oid, reltoastrelid FROM pg_class WHERE relname IN "
                       "('bench_part_month', 'bench_flat') AND relnamespace = 'public'::regnamespace), "
                       "rels AS (SELECT oid FROM t UNION SELECT reltoastrelid FROM t WHERE reltoastrelid <> 0 "
                       "UNION SELECT indexrelid FROM pg_index WHERE indrelid IN "
                       "(SELECT oid FROM t UNION SELECT reltoastrelid FROM t)) "
                       "SELECT current_setting('data_directory') || '/' || pg_relation_filepath(oid) "
                       "FROM rels WHERE pg_relation_filepath(oid) IS NOT NULL",
                       PGRES_TUPLES_OK);
    long long bytes = 0;
    static const char *const forks[] = {"", "_fsm", "_vm"};
    for (int i = 0; i < PQntuples(r); i++) {
        for (size_t f = 0; f < sizeof forks / sizeof *forks; f++) {
            for (int seg = 0;; seg++) {
                char path[4096];
                if (seg == 0)
                    snprintf(path, sizeof path, "%s%s", PQgetvalue(r, i, 0), forks[f]);
                else
                    snprintf(path, sizeof path, "%s%s.%d", PQgetvalue(r, i, 0), forks[f], seg);
                long long n = evict_file(path);
                if (n == 0 && seg > 0)
                    break;
                bytes += n;
                if (n == 0)
                    break;
            }
        }
    }
    say("   --cold: %.0f MB of %d relations' files dropped from the page cache\n",
        (double)bytes / 1e6, PQntuples(r));
    PQclear(r);
}

/* --tablespace: every table and index created here goes to it. */
static void use_tablespace(PGconn *c)
{
    if (tablespace == NULL)
        return;
    char *id = PQescapeIdentifier(c, tablespace, strlen(tablespace));
    char sql[256];
    if (id == NULL || strlen(id) > 200) {
        fprintf(stderr, "bench_retention: bad tablespace name\n");
        exit(1);
    }
    snprintf(sql, sizeof sql, "SET default_tablespace = %s", id);
    PQfreemem(id);
    run_sql(c, sql);
    const char *v[1] = {tablespace};
    PGresult *r = PQexecParams(c,
                               "SELECT pg_tablespace_location(oid) FROM pg_tablespace "
                               "WHERE spcname = $1",
                               1, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "bench_retention: no tablespace %s\n", tablespace);
        exit(1);
    }
    say("   in tablespace %s (%s)\n", tablespace, PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* (b) */
static void bench_drop(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench_retention: %s", PQerrorMessage(c));
        exit(1);
    }
    /* The month partition with the most rows, wholly in the past. */
    PGresult *r = must(c,
                       "SELECT p.name, p.range_start, p.range_end, "
                       "(SELECT count(*) FROM agent_metrics m WHERE m.recorded_at >= p.range_start "
                       "AND m.recorded_at < p.range_end) AS n FROM tia_metric_partitions p "
                       "WHERE p.range_end <= now() ORDER BY n DESC LIMIT 1",
                       PGRES_TUPLES_OK);
    if (PQntuples(r) == 0) {
        fprintf(stderr, "bench_retention: no partition wholly in the past\n");
        exit(1);
    }
    char lo[64], hi[64], name[64];
    snprintf(name, sizeof name, "%s", PQgetvalue(r, 0, 0));
    snprintf(lo, sizeof lo, "%s", PQgetvalue(r, 0, 1));
    snprintf(hi, sizeof hi, "%s", PQgetvalue(r, 0, 2));
    long long month_rows = atoll(PQgetvalue(r, 0, 3));
    PQclear(r);
    r = must(c, "SELECT count(*) FROM agent_metrics", PGRES_TUPLES_OK);
    long long all_rows = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    say("b) expiring %s [%s, %s): %lld of %lld points%s\n", name, lo, hi, month_rows, all_rows,
        cold ? "; files dropped from the page cache before each step (--cold)" : "");
    use_tablespace(c);

    char sql[1024];
    run_sql(c, "DROP TABLE IF EXISTS bench_part_parent, bench_flat");
    run_sql(c, "CREATE TABLE bench_part_parent (LIKE agent_metrics INCLUDING DEFAULTS "
               "INCLUDING CONSTRAINTS) PARTITION BY RANGE (recorded_at)");
    run_sql(c, "ALTER TABLE bench_part_parent ADD PRIMARY KEY (id, recorded_at)");
    run_sql(c, "CREATE INDEX ON bench_part_parent (agent_id, metric_type, recorded_at DESC)");
    snprintf(sql, sizeof sql,
             "CREATE TABLE bench_part_month PARTITION OF bench_part_parent FOR VALUES FROM "
             "('%s') TO ('%s')",
             lo, hi);
    run_sql(c, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO bench_part_parent SELECT * FROM agent_metrics WHERE recorded_at >= '%s' "
             "AND recorded_at < '%s'",
             lo, hi);
    run_sql(c, sql);
    run_sql(c, "CREATE TABLE bench_flat (LIKE agent_metrics INCLUDING DEFAULTS INCLUDING "
               "CONSTRAINTS)");
    run_sql(c, "INSERT INTO bench_flat SELECT * FROM agent_metrics");
    run_sql(c, "ALTER TABLE bench_flat ADD PRIMARY KEY (id, recorded_at)");
    run_sql(c, "CREATE INDEX ON bench_flat (agent_id, metric_type, recorded_at DESC)");
    run_sql(c, "VACUUM ANALYZE bench_part_parent, bench_flat");
    run_sql(c, "CHECKPOINT");

    /* As tokyoia maintain does it: detach (the rows leave the table), then drop. */
    evict_copies(c);
    double t = now_s();
    run_sql(c, "BEGIN");
    run_sql(c, "ALTER TABLE bench_part_parent DETACH PARTITION bench_part_month");
    run_sql(c, "COMMIT");
    double t_detach = now_s() - t;
    t = now_s();
    run_sql(c, "BEGIN");
    run_sql(c, "DROP TABLE bench_part_month");
    double t_drop_stmt = now_s() - t;
    run_sql(c, "COMMIT");
    double t_drop = now_s() - t;
    run_sql(c, "CHECKPOINT");
    evict_copies(c);
    snprintf(sql, sizeof sql,
             "DELETE FROM bench_flat WHERE recorded_at >= '%s' AND recorded_at < '%s'", lo, hi);
    t = now_s();
    run_sql(c, "BEGIN");
    PGresult *d = must(c, sql, PGRES_COMMAND_OK);
    long long deleted = atoll(PQcmdTuples(d));
    PQclear(d);
    double t_delete_stmt = now_s() - t;
    run_sql(c, "COMMIT");
    double t_delete = now_s() - t;
    t = now_s();
    run_sql(c, "VACUUM bench_flat");
    double t_vacuum = now_s() - t;
    say("   partition: DETACH %.2f ms (commit included; the rows are gone), then DROP %.2f ms "
        "(statement %.2f ms, commit %.2f ms: the files' truncation)\n",
        t_detach * 1000, t_drop * 1000, t_drop_stmt * 1000, (t_drop - t_drop_stmt) * 1000);
    say("   DELETE of the same %lld rows: %.0f ms (statement %.0f ms, commit %.0f ms); the "
        "VACUUM that frees their space: %.0f ms more\n",
        deleted, t_delete * 1000, t_delete_stmt * 1000, (t_delete - t_delete_stmt) * 1000,
        t_vacuum * 1000);
    double whole = t_detach + t_drop;
    say("   DELETE / (DETACH + DROP): %.0fx (target >= 100x: %s); DELETE / DETACH: %.0fx; "
        "(DELETE + VACUUM) / (DETACH + DROP): %.0fx\n",
        t_delete / whole, t_delete / whole >= 100 ? "met" : "NOT met", t_delete / t_detach,
        (t_delete + t_vacuum) / whole);
    if (deleted != month_rows)
        say("   WARNING: deleted %lld rows, the partition held %lld\n", deleted, month_rows);
    run_sql(c, "DROP TABLE IF EXISTS bench_part_parent, bench_flat");
    PQfinish(c);
}

int main(int argc, char **argv)
{
    const char *db = NULL, *out = NULL, *agent = "akira-001", *only = "";
    int runs = 21;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--db") == 0 && v)
            db = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && v)
            out = argv[++i];
        else if (strcmp(argv[i], "--agent") == 0 && v)
            agent = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && v)
            only = argv[++i];
        else if (strcmp(argv[i], "--runs") == 0 && v)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--tablespace") == 0 && v)
            tablespace = argv[++i];
        else if (strcmp(argv[i], "--cold") == 0)
            cold = 1;
        else {
            fprintf(stderr, "usage: bench_retention --db URL [--runs N=21] [--agent ID] "
                            "[--only series|drop] [--cold] [--tablespace NAME] [--out FILE]\n");
            return 2;
        }
    }
    if (db == NULL || runs < 1 || runs > 100000) {
        fprintf(stderr, "usage: bench_retention --db URL [--runs N=21] [--agent ID] [--out FILE]\n");
        return 2;
    }
    if (out != NULL && (out_file = fopen(out, "w")) == NULL) {
        perror(out);
        return 1;
    }
    tia_store *s = NULL;
    tia_error err = {0};
    int rc = tia_store_open(db, NULL, &s, &err);
    if (rc != 0)
        die("open", rc, &err);
    say("bench_retention on %s\n", tia_backend_name(tia_store_backend(s)));
    if (strcmp(only, "drop") != 0)
        bench_series(s, agent, runs);
    int pg = tia_store_backend(s) == TIA_BACKEND_POSTGRES;
    tia_store_close(s);
    if (strcmp(only, "series") != 0 && pg)
        bench_drop(tia_store_default_url(db));
    else if (strcmp(only, "series") != 0)
        say("b) SQLite has no partitions: retention deletes in batches (tokyoia maintain)\n");
    if (out_file != NULL)
        fclose(out_file);
    return 0;
}
