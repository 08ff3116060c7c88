/*
 * Backup and restore (include/tokyoia/backup.h), on both backends. The round
 * trip runs while a second thread keeps writing workflows and tasks through the
 * engine on its own connection, and proves that the restored database is exactly
 * the source as of the backup's snapshot: every row of every table (counters
 * included), the schema objects, the migrations. To know that snapshot, the writer
 * pauses at an operation boundary, the test records the whole source, and the
 * writer resumes only once the backup's snapshot is certainly taken: on SQLite at
 * the backup's first progress call (the contract says the snapshot is taken
 * before it), which then waits for the writer to commit more cycles while pages
 * are being copied; on PostgreSQL once pg_dump waits for a lock that the test
 * holds on a side table (pg_dump locks its tables after taking its snapshot), and
 * the lock is released only after the writer has committed more cycles. So
 * writes are committed in the middle of every backup, and none of them may be in
 * it. Then: restore into a database without tables and into one as `tokyoia init`
 * leaves it, refusal of a database with rows (nothing written) and --force,
 * plain SQL on PostgreSQL, and bad files of every kind.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "engine_test_util.h"
#include "store/backend.h"
#include "store/bulk.h"

#include <tokyoia/backup.h>
#include <tokyoia/sessions.h>

#define WAIT_S 60
#define CYCLES_DURING 3 /* writer cycles committed while a backup runs */

/* ---- the whole content of a database, as sorted text lines ---- */

typedef struct lines {
    char **v;
    size_t n, cap;
} lines;

static void add_line(lines *l, const char *a, const char *b)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        assert_non_null(l->v);
    }
    size_t len = strlen(a) + strlen(b) + 2;
    l->v[l->n] = malloc(len);
    assert_non_null(l->v[l->n]);
    snprintf(l->v[l->n++], len, "%s\t%s", a, b);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void lines_free(lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static PGresult *pg_q(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    return r;
}

static void pg_rows_of(PGconn *c, const char *label, const char *sql, lines *out)
{
    PGresult *r = pg_q(c, sql);
    for (int i = 0; i < PQntuples(r); i++)
        add_line(out, label, PQgetisnull(r, i, 0) ? "<null>" : PQgetvalue(r, i, 0));
    PQclear(r);
}

static void dump_pg(PGconn *c, lines *out)
{
    PGresult *t = pg_q(c, "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN "
                          "pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
                          "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND "
                          "n.nspname !~ '^pg_(toast|temp)' ORDER BY 1");
    for (int i = 0; i < PQntuples(t); i++) {
        const char *name = PQgetvalue(t, i, 0);
        char sql[512];
        add_line(out, "table", name);
        snprintf(sql, sizeof sql, "SELECT x::text FROM %s x", name);
        pg_rows_of(c, name, sql, out);
    }
    PQclear(t);
    /*
     * pg_dump writes index predicates and CHECKs as the server deparses them, and
     * they come back re-parsed with their casts elsewhere ("IN (...)" on a varchar
     * column); so those texts are compared without casts and parentheses.
     */
#define NORM(x) "regexp_replace(" x ", '::[a-z_ ]+(\\[\\])?|[()]', '', 'g')"
    pg_rows_of(c, "index",
               "SELECT " NORM("indexdef") " FROM pg_indexes WHERE schemaname = 'public'", out);
    pg_rows_of(c, "trigger",
               "SELECT tgrelid::regclass || ' ' || tgname || ' ' || pg_get_triggerdef(oid) "
               "FROM pg_trigger WHERE NOT tgisinternal",
               out);
    pg_rows_of(c, "constraint",
               "SELECT conrelid::regclass || ' ' || conname || ' ' || " NORM(
                   "pg_get_constraintdef(oid)") " FROM pg_constraint WHERE connamespace = "
                                                "'public'::regnamespace",
               out);
#undef NORM
    pg_rows_of(c, "function",
               "SELECT p.oid::regprocedure::text || ' ' || md5(p.prosrc) FROM pg_proc p "
               "WHERE p.pronamespace = 'public'::regnamespace",
               out);
    pg_rows_of(c, "view",
               "SELECT viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'",
               out);
}

static void dump_sqlite(sqlite3 *db, lines *out)
{
    sqlite3_stmt *t = NULL, *r = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT type, name, tbl_name, sql FROM sqlite_schema "
                                        "ORDER BY type, name",
                                        -1, &t, NULL),
                     SQLITE_OK);
    while (sqlite3_step(t) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(t, 0);
        const char *name = (const char *)sqlite3_column_text(t, 1);
        const char *sql = (const char *)sqlite3_column_text(t, 3);
        char head[512];
        snprintf(head, sizeof head, "%s %s %s", type, name,
                 (const char *)sqlite3_column_text(t, 2));
        add_line(out, head, sql ? sql : "<null>");
        if (strcmp(type, "table") != 0 || strncmp(name, "sqlite_", 7) == 0)
            continue;
        char *q = sqlite3_mprintf("SELECT * FROM \"%w\"", name);
        assert_int_equal(sqlite3_prepare_v2(db, q, -1, &r, NULL), SQLITE_OK);
        sqlite3_free(q);
        while (sqlite3_step(r) == SQLITE_ROW) {
            char row[16384];
            size_t used = 0;
            for (int i = 0; i < sqlite3_column_count(r) && used < sizeof row - 64; i++) {
                const char *v = (const char *)sqlite3_column_text(r, i);
                int w = snprintf(row + used, sizeof row - used, "%d:%s|", sqlite3_column_type(r, i),
                                 v ? v : "<null>");
                used += w > 0 ? (size_t)w : 0;
                if (used >= sizeof row)
                    used = sizeof row - 1;
            }
            add_line(out, name, row);
        }
        sqlite3_finalize(r);
    }
    sqlite3_finalize(t);
}

/* Every row of every table and the schema of the database of s, sorted. */
static void dump_all(tia_store *s, lines *out)
{
    memset(out, 0, sizeof *out);
    if (tia_test_is_pg())
        dump_pg(tia__store_conn(s), out);
    else
        dump_sqlite(tia__store_conn(s), out);
    qsort(out->v, out->n, sizeof *out->v, cmp_str);
}

/* Fails with the first line that differs. */
static void assert_same(const lines *got, const lines *want, const char *what)
{
    size_t i = 0;
    for (; i < got->n && i < want->n; i++)
        if (strcmp(got->v[i], want->v[i]) != 0)
            fail_msg("%s: line %zu differs:\n  got  %.300s\n  want %.300s", what, i, got->v[i],
                     want->v[i]);
    if (got->n != want->n)
        fail_msg("%s: %zu lines, want %zu (first extra: %.300s)", what, got->n, want->n,
                 got->n > want->n ? got->v[i] : want->v[i]);
}

static int64_t count_of(tia_store *s, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return tia_test_int(s, sql, sql);
}

/* Every migration recorded and unchanged (what `tokyoia migrate status` shows). */
static void assert_migrated(tia_store *s)
{
    tia_migration_status *st = NULL;
    size_t n = 0;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_store_migration_status(s, &st, &n, &err), &err);
    assert_true(n >= 8);
    for (size_t i = 0; i < n; i++) {
        if (!st[i].applied || st[i].changed || st[i].unknown)
            fail_msg("migration %04d_%s: applied %d changed %d unknown %d", st[i].version,
                     st[i].name, st[i].applied, st[i].changed, st[i].unknown);
    }
    free(st);
}

/* ---- the writer: workflows of two dependent tasks, claimed and completed ---- */

typedef struct writer {
    tia_store *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pause_req, paused, stop;
    long cycles; /* completed cycles: each commits several transactions */
    int rc;
    tia_error err;
} writer;

static const char *const agents5[] = {"akira-001", "yuki-002", "hiro-003", "sakura-004",
                                      "kenji-005"};

/* One cycle: submit, then claim and complete twice (any ready task of the agent). */
static int write_cycle(writer *w, long i, tia_error *err)
{
    const char *agent = agents5[i % 5];
    tia_task_spec t[2] = {spec_for("a", agent, "backup_test"), spec_for("b", agent, "backup_test")};
    const char *dep[1] = {"a"};
    t[1].depends_on = dep;
    t[1].n_depends_on = 1;
    tia_workflow_spec wf = {0};
    wf.name = "backup writer";
    wf.workflow_type = "code_review";
    wf.tasks = t;
    wf.n_tasks = 2;
    char wid[TIA_UUID_BUF];
    int created = 0;
    int rc = tia_engine_submit(w->s, &wf, wid, NULL, &created, err);
    for (int k = 0; rc == 0 && k < 2; k++) {
        struct tia_claim_list cl = {0};
        const char *ag[1] = {agent};
        rc = tia_engine_claim(w->s, ag, 1, "backup-writer", 1, 60000, &cl, err);
        for (size_t j = 0; rc == 0 && j < cl.n; j++) {
            tia_completion c =
                completion_of(&cl.items[j], "backup-writer", "{\"ok\":true}", 100 + i);
            rc = tia_engine_complete(w->s, &c, err);
        }
        tia_claim_list_free(&cl);
    }
    return rc;
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    for (long i = 0;; i++) {
        pthread_mutex_lock(&w->mu);
        while (w->pause_req && !w->stop) {
            w->paused = 1;
            pthread_cond_broadcast(&w->cv);
            pthread_cond_wait(&w->cv, &w->mu);
        }
        w->paused = 0;
        int stop = w->stop;
        pthread_mutex_unlock(&w->mu);
        if (stop)
            break;
        tia_error err = {0};
        int rc = write_cycle(w, i, &err);
        pthread_mutex_lock(&w->mu);
        if (rc != 0 && w->rc == 0) {
            w->rc = rc;
            w->err = err;
        }
        w->cycles++;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        if (rc != 0)
            break;
    }
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void timeout_at(struct timespec *ts, int seconds)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += seconds;
}

/* Waits (under w->mu) until cond holds; returns 0 on time-out or when the writer stopped. */
#define WAIT_UNTIL(w, cond)                                                                        \
    ({                                                                                             \
        struct timespec ts_;                                                                       \
        timeout_at(&ts_, WAIT_S);                                                                  \
        int ok_ = 1;                                                                               \
        while (!(cond) && ok_)                                                                     \
            ok_ = !(w)->stop && pthread_cond_timedwait(&(w)->cv, &(w)->mu, &ts_) == 0;             \
        ok_ && (cond);                                                                             \
    })

static int writer_pause(writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->pause_req = 1;
    pthread_cond_broadcast(&w->cv);
    int ok = WAIT_UNTIL(w, w->paused);
    pthread_mutex_unlock(&w->mu);
    return ok;
}

/* Resumes the writer and waits until it has committed n more cycles. */
static int writer_resume_for(writer *w, long n)
{
    pthread_mutex_lock(&w->mu);
    long target = w->cycles + n;
    w->pause_req = 0;
    pthread_cond_broadcast(&w->cv);
    int ok = WAIT_UNTIL(w, w->cycles >= target);
    pthread_mutex_unlock(&w->mu);
    return ok;
}

static long writer_cycles(writer *w)
{
    pthread_mutex_lock(&w->mu);
    long n = w->cycles;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* ---- the backup's side of the choreography ---- */

typedef struct choreo {
    writer *w;
    int resumed;   /* the writer was let go after the snapshot */
    int resume_ok; /* and committed CYCLES_DURING cycles */
    int64_t calls, last_done, last_total, went_back;
    PGconn *lock_conn; /* PostgreSQL: holds the side table's lock */
    PGconn *watch_conn;
    char dbname[128];
} choreo;

/* SQLite: the snapshot is taken before the first call; writes go on between steps. */
static void on_progress(void *ctx, const tia_backup_progress *p)
{
    choreo *c = ctx;
    c->calls++;
    if (p->done < c->last_done)
        c->went_back++;
    c->last_done = p->done;
    c->last_total = p->total;
    if (c->w != NULL && !c->resumed && !tia_test_is_pg()) {
        c->resumed = 1;
        c->resume_ok = writer_resume_for(c->w, CYCLES_DURING);
    }
}

/* PostgreSQL: once pg_dump waits for the side table's lock, its snapshot is taken. */
static void *pg_conductor(void *arg)
{
    choreo *c = arg;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tokyoia backup' "
             "AND datname = '%s' AND wait_event_type = 'Lock'",
             c->dbname);
    for (int i = 0; i < WAIT_S * 100; i++) {
        PGresult *r = PQexec(c->watch_conn, sql);
        int waiting = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) > 0;
        PQclear(r);
        if (waiting) {
            c->resumed = 1;
            c->resume_ok = writer_resume_for(c->w, CYCLES_DURING);
            break;
        }
        usleep(10000);
    }
    PQclear(PQexec(c->lock_conn, "COMMIT"));
    return NULL;
}

static PGconn *pg_connect_like(tia_store *s)
{
    PGconn *c = PQconnectdb(tia_test_url(s));
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    return c;
}

static void pg_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* ---- files ---- */

static char tmpdir[64];

/* A path in tmpdir, valid for the whole run (the buffers are never reused). */
static const char *tmp_path(const char *name)
{
    static char buf[128][512];
    static int k;
    if (k == 128)
        fail_msg("tmp_path: too many paths");
    char *p = buf[k++];
    if (snprintf(p, 512, "%s/%s", tmpdir, name) >= 512)
        fail_msg("path too long: %s", name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* The names in tmpdir, sorted and joined by spaces (no temporary file may linger). */
static void dir_listing(char *out, size_t n)
{
    lines l = {0};
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            add_line(&l, e->d_name, "");
    closedir(d);
    qsort(l.v, l.n, sizeof *l.v, cmp_str);
    out[0] = '\0';
    for (size_t i = 0; i < l.n; i++) {
        l.v[i][strlen(l.v[i]) - 1] = '\0'; /* the tab */
        strncat(out, l.v[i], n - strlen(out) - 2);
        strncat(out, " ", n - strlen(out) - 1);
    }
    lines_free(&l);
}

static void copy_prefix(const char *from, const char *to, int64_t n)
{
    FILE *f = fopen(from, "rb");
    assert_non_null(f);
    char *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    write_file(to, buf, (size_t)n);
    free(buf);
}

/* ---- the source database ---- */

static tia_store *make_source(void)
{
    tia_store *s = tia_test_open();
    tia_error err = {0};
    tia__bulk_spec spec = {0};
    spec.tasks = 1500;
    spec.metrics = 1000;
    spec.workflows = -1;
    spec.days = 30;
    spec.seed = 7;
    TIA_OK_OR_FAIL(tia__bulk_load_tasks(s, &spec, NULL, &err), &err);
    TIA_OK_OR_FAIL(tia__bulk_load_metrics(s, &spec, NULL, &err), &err);
    tia_session_new sn = {"alice", "{\"ua\":\"test\"}", "10.0.0.1", 3600000000LL};
    char token[TIA_TOKEN_BUF];
    TIA_OK_OR_FAIL(tia_session_create(s, &sn, token, NULL, &err), &err);
    /* The side table whose lock holds pg_dump just after its snapshot (PostgreSQL). */
    exec_both(s, "CREATE TABLE backup_probe (id INTEGER PRIMARY KEY, note TEXT)");
    exec_both(s, "INSERT INTO backup_probe VALUES (1, 'probe')");
    return s;
}

/* A target database with no table at all. */
static tia_store *open_bare(void)
{
    char *url = tia_test_new_db_url();
    tia_store *t = NULL;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_store_open(url, NULL, &t, &err), &err);
    free(url);
    return t;
}

/*
 * Backs up src to path while the writer writes, and returns in *snap the source as
 * of the backup's snapshot.
 */
static void backup_during_writes(tia_store *src, writer *w, const char *path, lines *snap)
{
    assert_true(writer_resume_for(w, 2));
    assert_true(writer_pause(w));
    dump_all(src, snap);
    long before = writer_cycles(w);

    choreo c = {0};
    c.w = w;
    pthread_t th;
    if (tia_test_is_pg()) {
        c.lock_conn = pg_connect_like(src);
        c.watch_conn = pg_connect_like(src);
        snprintf(c.dbname, sizeof c.dbname, "%s", PQdb(c.lock_conn));
        pg_ok(c.lock_conn, "BEGIN");
        pg_ok(c.lock_conn, "LOCK TABLE backup_probe IN ACCESS EXCLUSIVE MODE");
        assert_int_equal(pthread_create(&th, NULL, pg_conductor, &c), 0);
    }
    tia_backup_options o = {0};
    o.step_pages = 4; /* many steps, so that commits land between them */
    o.progress = on_progress;
    o.progress_ctx = &c;
    tia_backup_result res;
    tia_error err = {0};
    int rc = tia_backup(src, path, &o, &res, &err);
    if (tia_test_is_pg()) {
        pthread_join(th, NULL);
        PQfinish(c.lock_conn);
        PQfinish(c.watch_conn);
    }
    TIA_OK_OR_FAIL(rc, &err);
    assert_true(c.resumed);
    assert_true(c.resume_ok);
    /* Writes were committed while the backup ran. */
    assert_true(writer_cycles(w) >= before + CYCLES_DURING);
    assert_int_equal(c.went_back, 0);
    assert_true(c.calls >= 2);
    assert_int_equal(c.last_done, c.last_total);
    assert_true(c.last_total > 0);
    assert_int_equal(res.kind, tia_test_is_pg() ? TIA_BACKUP_PG_CUSTOM : TIA_BACKUP_SQLITE);
    assert_int_equal(res.bytes, file_size(path));
    assert_true(res.seconds > 0);
    tia_backup_kind kind;
    TIA_OK_OR_FAIL(tia_backup_identify(path, &kind, &err), &err);
    assert_int_equal(kind, res.kind);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void restore_ok(tia_store *t, const char *path, int force, const lines *want,
                       const char *what)
{
    tia_backup_options o = {0};
    o.force = force;
    tia_backup_result res;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_restore(t, path, &o, &res, &err), &err);
    assert_int_equal(res.bytes, file_size(path));
    lines got;
    dump_all(t, &got);
    assert_same(&got, want, what);
    lines_free(&got);
    assert_migrated(t);
    assert_counters_agree(t);
    int empty = 1;
    TIA_OK_OR_FAIL(tia_backup_target_empty(t, &empty, NULL, 0, &err), &err);
    assert_int_equal(empty, 0);
}

/* A restore refused with want: the database keeps every row it had. */
static void restore_refused(tia_store *t, const char *path, int force, int want, const char *what)
{
    lines before, after;
    dump_all(t, &before);
    tia_backup_options o = {0};
    o.force = force;
    tia_error err = {0};
    int rc = tia_restore(t, path, &o, NULL, &err);
    if (rc != want)
        fail_msg("%s: got %d (%s), want %d: %s", what, rc, tia_strerror(rc), want, err.message);
    assert_true(err.message[0] != '\0');
    dump_all(t, &after);
    assert_same(&after, &before, what);
    lines_free(&before);
    lines_free(&after);
}

static void test_round_trip_during_writes(void **state)
{
    (void)state;
    tia_store *src = make_source();
    writer w = {0};
    w.s = tia_test_reopen(src);
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    w.pause_req = 1;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);

    const char *file = tmp_path(tia_test_is_pg() ? "full.dump" : "full.db");
    lines snap;
    backup_during_writes(src, &w, file, &snap);

    /* A second backup at another moment, to restore with --force over the first. */
    lines snap2;
    const char *file2 = tmp_path(tia_test_is_pg() ? "later.dump" : "later.db");
    backup_during_writes(src, &w, file2, &snap2);

    pthread_mutex_lock(&w.mu);
    w.stop = 1;
    pthread_cond_broadcast(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(th, NULL);
    TIA_OK_OR_FAIL(w.rc, &w.err);
    tia_store_close(w.s);

    /* The source moved on: the snapshots are moments, not the end. */
    lines now;
    dump_all(src, &now);
    assert_true(now.n > snap2.n && snap2.n > snap.n);
    assert_counters_agree(src);

    /* Into a database without tables. */
    tia_store *bare = open_bare();
    int empty = 0;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_backup_target_empty(bare, &empty, NULL, 0, &err), &err);
    assert_int_equal(empty, 1);
    restore_ok(bare, file, 0, &snap, "restore into a database without tables");
    /* Not empty any more: refused, then replaced by the later backup with force. */
    restore_refused(bare, file2, 0, TIA_ECONFLICT, "restore over a restored database");
    restore_ok(bare, file2, 1, &snap2, "restore --force over the first restore");
    tia_test_close(bare);

    /* Into a database as `tokyoia init` leaves it: five seed agents, no task. */
    tia_store *init = tia_test_open();
    char why[200];
    TIA_OK_OR_FAIL(tia_backup_target_empty(init, &empty, why, sizeof why, &err), &err);
    assert_int_equal(empty, 1);
    restore_ok(init, file, 0, &snap, "restore into an initialised database");
    assert_int_equal(count_of(init, "agents"), 5);
    tia_test_close(init);

    /* PostgreSQL's plain SQL, from the source at rest. */
    if (tia_test_is_pg()) {
        const char *sqlf = tmp_path("full.sql");
        tia_backup_options o = {0};
        o.sql = 1;
        tia_backup_result res;
        TIA_OK_OR_FAIL(tia_backup(src, sqlf, &o, &res, &err), &err);
        assert_int_equal(res.kind, TIA_BACKUP_PG_SQL);
        tia_backup_kind kind;
        TIA_OK_OR_FAIL(tia_backup_identify(sqlf, &kind, &err), &err);
        assert_int_equal(kind, TIA_BACKUP_PG_SQL);
        tia_store *plain = tia_test_open();
        restore_ok(plain, sqlf, 0, &now, "restore of plain SQL");
        tia_test_close(plain);
        tia_store *plain2 = open_bare();
        restore_ok(plain2, sqlf, 0, &now, "restore of plain SQL into a database without tables");
        tia_test_close(plain2);
    }
    lines_free(&snap);
    lines_free(&snap2);
    lines_free(&now);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    tia_test_close(src);
}

static void test_non_empty_refused_and_force(void **state)
{
    (void)state;
    tia_store *src = make_source();
    const char *file = tmp_path("src.bak");
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_backup(src, file, NULL, NULL, &err), &err);
    lines want;
    dump_all(src, &want);

    /* One task makes a database non-empty. */
    tia_store *t = tia_test_open();
    tia_task_spec spec = spec_for("one", "akira-001", "review");
    char id[TIA_UUID_BUF];
    submit_one(t, &spec, id);
    int empty = 1;
    char why[200];
    TIA_OK_OR_FAIL(tia_backup_target_empty(t, &empty, why, sizeof why, &err), &err);
    assert_int_equal(empty, 0);
    assert_non_null(strstr(why, "agent_tasks"));
    restore_refused(t, file, 0, TIA_ECONFLICT, "restore into a database with a task");
    restore_ok(t, file, 1, &want, "restore --force over a database with a task");
    tia_test_close(t);

    /* So does an agent that is not one of the five seed agents. */
    tia_store *a = tia_test_open();
    TIA_OK_OR_FAIL(tia_test_exec(a,
                                 "INSERT INTO agents (id, name, role, model, specialties) VALUES "
                                 "('extra-006', 'Extra', 'Helper', 'openai-o3', '{}')",
                                 "INSERT INTO agents (id, name, role, model, specialties) VALUES "
                                 "('extra-006', 'Extra', 'Helper', 'openai-o3', '[]')",
                                 &err),
                   &err);
    TIA_OK_OR_FAIL(tia_backup_target_empty(a, &empty, why, sizeof why, &err), &err);
    assert_int_equal(empty, 0);
    assert_non_null(strstr(why, "agents"));
    restore_refused(a, file, 0, TIA_ECONFLICT, "restore into a database with a new agent");
    tia_test_close(a);

    /* And any other table with rows, even one tokyoia does not know. */
    tia_store *o = tia_test_open();
    exec_both(o, "CREATE TABLE notes (id INTEGER PRIMARY KEY)");
    TIA_OK_OR_FAIL(tia_backup_target_empty(o, &empty, why, sizeof why, &err), &err);
    assert_int_equal(empty, 1);
    exec_both(o, "INSERT INTO notes VALUES (1)");
    TIA_OK_OR_FAIL(tia_backup_target_empty(o, &empty, why, sizeof why, &err), &err);
    assert_int_equal(empty, 0);
    assert_non_null(strstr(why, "notes"));
    tia_test_close(o);

    /* Restoring a database over itself is refused (SQLite: the very file). */
    restore_refused(src, file, 0, TIA_ECONFLICT, "restore into the source");
    if (!tia_test_is_pg())
        restore_refused(src, tia_test_url(src), 1, TIA_EINVAL, "restore of the database itself");
    lines_free(&want);
    tia_test_close(src);
}

static void test_bad_files(void **state)
{
    (void)state;
    tia_store *src = make_source();
    tia_store *t = tia_test_open();
    tia_error err = {0};
    tia_backup_kind kind;
    const char *good = tmp_path("good.bak");
    TIA_OK_OR_FAIL(tia_backup(src, good, NULL, NULL, &err), &err);
    char listing[1024], after[1024];

    /* Backups: an existing FILE is refused and kept; --force replaces it. */
    const char *existing = tmp_path("existing.bak");
    write_file(existing, "keep me", 7);
    dir_listing(listing, sizeof listing);
    TIA_ASSERT_RC(tia_backup(src, existing, NULL, NULL, &err), TIA_ECONFLICT, &err);
    assert_non_null(strstr(err.message, "already exists"));
    assert_int_equal(file_size(existing), 7);
    dir_listing(after, sizeof after);
    assert_string_equal(after, listing);
    tia_backup_options force = {0};
    force.force = 1;
    TIA_OK_OR_FAIL(tia_backup(src, existing, &force, NULL, &err), &err);
    TIA_OK_OR_FAIL(tia_backup_identify(existing, &kind, &err), &err);
    assert_int_not_equal(kind, TIA_BACKUP_NONE);
    /* A directory that does not exist, a directory as FILE, no name: nothing created. */
    dir_listing(listing, sizeof listing);
    TIA_ASSERT_RC(tia_backup(src, tmp_path("missing/dir.bak"), NULL, NULL, &err), TIA_EIO, &err);
    TIA_ASSERT_RC(tia_backup(src, tmpdir, &force, NULL, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_backup(src, "", NULL, NULL, &err), TIA_EINVAL, &err);
    tia_backup_options sql = {0};
    sql.sql = 1;
    if (!tia_test_is_pg())
        TIA_ASSERT_RC(tia_backup(src, tmp_path("x.sql"), &sql, NULL, &err), TIA_EINVAL, &err);
    tia_backup_options bad_step = {0};
    bad_step.step_pages = -1;
    TIA_ASSERT_RC(tia_backup(src, tmp_path("y.bak"), &bad_step, NULL, &err), TIA_EINVAL, &err);
    dir_listing(after, sizeof after);
    assert_string_equal(after, listing);

    /* Restores: nothing is written into t by any of these. */
    TIA_ASSERT_RC(tia_backup_identify(tmp_path("nope.bak"), &kind, &err), TIA_ENOTFOUND, &err);
    assert_int_equal(kind, TIA_BACKUP_NONE);
    restore_refused(t, tmp_path("nope.bak"), 1, TIA_ENOTFOUND, "missing file");
    restore_refused(t, tmpdir, 1, TIA_EINVAL, "a directory");
    const char *empty = tmp_path("empty.bak");
    write_file(empty, "", 0);
    restore_refused(t, empty, 1, TIA_EINVAL, "an empty file");
    const char *text = tmp_path("text.bak");
    write_file(text, "hello, this is not a backup\n", 28);
    TIA_ASSERT_RC(tia_backup_identify(text, &kind, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "not a tokyoia backup"));
    restore_refused(t, text, 1, TIA_EINVAL, "a text file");
    const char *plain = tmp_path("plain.sql");
    write_file(plain, "-- PostgreSQL database dump\nSELECT 1;\n", 38);
    restore_refused(t, plain, 1, TIA_EINVAL, "SQL not written by tokyoia");

    /* A SQLite database that is not a tokyoia backup. */
    const char *other = tmp_path("other.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1);", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    TIA_OK_OR_FAIL(tia_backup_identify(other, &kind, &err), &err);
    assert_int_equal(kind, TIA_BACKUP_SQLITE);
    restore_refused(t, other, 1, TIA_EINVAL, "a SQLite database of something else");

    /* A backup of the other backend. */
    const char *fake_pg = tmp_path("fake.dump");
    write_file(fake_pg, "PGDMP\x01\x0e\x00garbage", 15);
    if (tia_test_is_pg()) {
        restore_refused(t, fake_pg, 1, TIA_EINVAL, "a damaged pg_dump archive");
        restore_refused(t, other, 1, TIA_EINVAL, "a SQLite file into PostgreSQL");
    } else {
        restore_refused(t, fake_pg, 1, TIA_EINVAL, "a PostgreSQL archive into SQLite");
        const char *sqlhead = tmp_path("head.sql");
        write_file(sqlhead, "-- tokyoia backup: plain SQL\n", 29);
        restore_refused(t, sqlhead, 1, TIA_EINVAL, "plain SQL into SQLite");
    }

    /* A truncated backup: refused before writing (SQLite), or rolled back (pg_restore). */
    const char *half = tmp_path("half.bak");
    copy_prefix(good, half, file_size(good) / 2);
    lines before, now;
    dump_all(t, &before);
    tia_backup_options o = {0};
    o.force = 1;
    int rc = tia_restore(t, half, &o, NULL, &err);
    if (tia_test_is_pg()) {
        if (rc != TIA_EINVAL && rc != TIA_EDB)
            fail_msg("truncated archive: got %d (%s): %s", rc, tia_strerror(rc), err.message);
    } else {
        TIA_ASSERT_RC(rc, TIA_EINVAL, &err);
        if (strstr(err.message, "truncated") == NULL)
            fail_msg("truncated backup refused with: %s", err.message);
    }
    dump_all(t, &now);
    assert_same(&now, &before, "after a truncated backup");
    lines_free(&before);
    lines_free(&now);

    /* The good backup still restores into t, which none of the above changed. */
    lines want;
    dump_all(src, &want);
    restore_ok(t, good, 0, &want, "the good backup after the bad ones");
    lines_free(&want);
    tia_test_close(t);
    tia_test_close(src);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tia-backup-XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char p[512];
        if (e->d_name[0] != '.' && snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name) < 512)
            unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_during_writes),
        cmocka_unit_test(test_non_empty_refused_and_force),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
