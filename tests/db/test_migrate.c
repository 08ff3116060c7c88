/*
 * The migration runner on both backends: a new database gets every migration of
 * db/migrations/<backend>/, each recorded with the SHA-256 of its file (computed
 * here from the files in the source tree, independently of the embedded copies);
 * a second run applies nothing; a changed checksum or a migration unknown to this
 * binary stops the run before anything is applied; an unmigrated database is
 * reported as such; and two runners racing on one new database both succeed with
 * each migration applied once.
 */
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tokyoia/agents.h>

#include "core/crypto.h"
#include "tia_test.h"

#define MAX_MIGRATIONS 64

/* A migration file of the source tree. */
typedef struct mig_file {
    int version;
    char name[64];     /* without the number and .sql */
    char checksum[65]; /* SHA-256 hex of the file's bytes */
} mig_file;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t got = fread(buf + *len, 1, cap - *len, f);
        *len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    return buf;
}

/* Lists $TIA_SOURCE_DIR/db/migrations/<backend>/NNNN_name.sql in order; returns the count. */
static size_t source_migrations(mig_file out[MAX_MIGRATIONS])
{
    const char *src = getenv("TIA_SOURCE_DIR");
    if (src == NULL)
        fail_msg("TIA_SOURCE_DIR is not set");
    char pattern[1024];
    snprintf(pattern, sizeof pattern, "%s/db/migrations/%s/[0-9][0-9][0-9][0-9]_*.sql", src,
             tia_test_is_pg() ? "postgres" : "sqlite");
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0)
        fail_msg("no migrations match %s", pattern);
    size_t n = g.gl_pathc;
    assert_true(n > 0 && n <= MAX_MIGRATIONS);
    for (size_t i = 0; i < n; i++) { /* glob sorts */
        const char *base = strrchr(g.gl_pathv[i], '/') + 1;
        out[i].version = atoi(base);
        snprintf(out[i].name, sizeof out[i].name, "%.*s",
                 (int)(strlen(base) - strlen("0000_") - strlen(".sql")), base + strlen("0000_"));
        size_t len;
        char *text = read_file(g.gl_pathv[i], &len);
        assert_int_equal(tia__sha256_hex(text, len, out[i].checksum), 0);
        free(text);
    }
    globfree(&g);
    return n;
}

static tia_store *open_url(const char *url)
{
    tia_store *s = NULL;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_store_open(url, tia_test_store_options(), &s, &err), &err);
    return s;
}

/* Removes a SQLite database made by tia_test_new_db_url (the helpers only drop
 * databases they opened themselves); a PostgreSQL one dies with the test cluster. */
static void remove_new_db(char *url)
{
    if (!tia_test_is_pg()) {
        const char *suffix[] = {"", "-wal", "-shm", "-journal"};
        char path[1024];
        for (int i = 0; i < 4; i++) {
            snprintf(path, sizeof path, "%s%s", url, suffix[i]);
            unlink(path);
        }
        char *slash = strrchr(url, '/');
        if (slash != NULL) {
            *slash = '\0';
            rmdir(url);
        }
    }
    free(url);
}

static int64_t n_recorded(tia_store *s)
{
    return tia_test_int(s, "SELECT count(*) FROM schema_migrations",
                        "SELECT count(*) FROM schema_migrations");
}

static const tia__sql sql_recorded = {
    "test.recorded", "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
    "SELECT version, name, checksum FROM schema_migrations ORDER BY version"};

/* schema_migrations holds exactly the files, with their names and checksums. */
static void assert_recorded_as_files(tia_store *s, const mig_file *files, size_t n)
{
    tia__rows *r = NULL;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia__db_query(s, &sql_recorded, NULL, 0, &r, &err), &err);
    size_t i = 0;
    int rc;
    while ((rc = tia__rows_next(r, &err)) > 0) {
        if (i >= n)
            fail_msg("schema_migrations has a row for %lld beyond the %zu files",
                     (long long)tia__col_int(r, 0), n);
        assert_int_equal(tia__col_int(r, 0), files[i].version);
        assert_string_equal(tia__col_text(r, 1), files[i].name);
        assert_string_equal(tia__col_text(r, 2), files[i].checksum);
        i++;
    }
    tia__rows_free(r);
    assert_int_equal(rc, 0);
    assert_int_equal(i, n);
}

static void test_new_database_gets_every_migration(void **state)
{
    (void)state;
    mig_file files[MAX_MIGRATIONS];
    size_t n = source_migrations(files);
    assert_true(n >= 3);
    char *url = tia_test_new_db_url();
    tia_store *s = open_url(url);
    tia_error err = {0};
    int applied = -1;
    TIA_OK_OR_FAIL(tia_store_migrate(s, &applied, &err), &err);
    assert_int_equal(applied, n);
    assert_recorded_as_files(s, files, n);

    applied = -1;
    TIA_OK_OR_FAIL(tia_store_migrate(s, &applied, &err), &err);
    assert_int_equal(applied, 0);
    assert_int_equal(n_recorded(s), n);

    tia_migration_status *st = NULL;
    size_t nst = 0;
    TIA_OK_OR_FAIL(tia_store_migration_status(s, &st, &nst, &err), &err);
    assert_int_equal(nst, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(st[i].version, files[i].version);
        assert_string_equal(st[i].name, files[i].name);
        assert_string_equal(st[i].checksum, files[i].checksum);
        assert_int_equal(st[i].applied, 1);
        assert_int_equal(st[i].changed, 0);
        assert_int_equal(st[i].unknown, 0);
        assert_true(st[i].applied_at != TIA_TIME_NONE);
    }
    free(st);
    tia_store_close(s);
    remove_new_db(url);
}

/*
 * tia_store_options.must_exist: a SQLite file that is not there is TIA_ENOTFOUND
 * and is not created; in a directory that is not there either, TIA_EUNAVAIL (an
 * unreachable database, as when creating it fails); an existing file opens.
 */
static void test_must_exist(void **state)
{
    (void)state;
    char dir[] = "/tmp/tia-must-exist.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], deep[256];
    snprintf(path, sizeof path, "%s/none.db", dir);
    snprintf(deep, sizeof deep, "%s/no/such/dir.db", dir);
    tia_store_options o = {0};
    o.must_exist = 1;
    tia_store *s = NULL;
    tia_error err = {0};
    assert_int_equal(tia_store_open(path, &o, &s, &err), TIA_ENOTFOUND);
    assert_null(s);
    assert_non_null(strstr(err.message, path));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(tia_store_open(deep, &o, &s, &err), TIA_EUNAVAIL);
    o.must_exist = 0;
    TIA_OK_OR_FAIL(tia_store_open(path, &o, &s, &err), &err);
    tia_store_close(s);
    o.must_exist = 1;
    TIA_OK_OR_FAIL(tia_store_open(path, &o, &s, &err), &err);
    tia_store_close(s);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char f[300];
        snprintf(f, sizeof f, "%s%s", path, suffix[i]);
        unlink(f);
    }
    assert_int_equal(rmdir(dir), 0);
}

static void test_changed_checksum_refused(void **state)
{
    (void)state;
    mig_file files[MAX_MIGRATIONS];
    size_t n = source_migrations(files);
    tia_store *s = tia_test_open();
    tia_error err = {0};
    /* 0002 was edited after it was applied, and 0003 is (seemingly) pending: the run
     * must stop before applying 0003. */
    TIA_OK_OR_FAIL(
        tia_test_exec(s,
                      "UPDATE schema_migrations SET checksum = repeat('0', 64) "
                      "WHERE version = 2; DELETE FROM schema_migrations WHERE version = 3",
                      "UPDATE schema_migrations SET checksum = hex(zeroblob(32)) "
                      "WHERE version = 2; "
                      "DELETE FROM schema_migrations WHERE version = 3",
                      &err),
        &err);
    int applied = -1;
    int rc = tia_store_migrate(s, &applied, &err);
    TIA_ASSERT_RC(rc, TIA_ECHECKSUM, &err);
    if (strstr(err.message, "0002_counters") == NULL)
        fail_msg("the message does not name 0002_counters: %s", err.message);
    assert_int_equal(applied, 0);
    assert_int_equal(n_recorded(s), n - 1);

    tia_migration_status *st = NULL;
    size_t nst = 0;
    TIA_OK_OR_FAIL(tia_store_migration_status(s, &st, &nst, &err), &err);
    assert_int_equal(nst, n);
    for (size_t i = 0; i < nst; i++) {
        assert_int_equal(st[i].changed, st[i].version == 2);
        assert_int_equal(st[i].applied, st[i].version != 3);
        assert_string_equal(st[i].checksum, files[i].checksum);
    }
    free(st);
    tia_test_close(s);
}

static void test_unknown_migration_refused(void **state)
{
    (void)state;
    mig_file files[MAX_MIGRATIONS];
    size_t n = source_migrations(files);
    tia_store *s = tia_test_open();
    tia_error err = {0};
    const char *sql = "INSERT INTO schema_migrations (version, name, checksum) "
                      "VALUES (9999, 'from_the_future', 'abc')";
    TIA_OK_OR_FAIL(tia_test_exec(s, sql, sql, &err), &err);
    int applied = -1;
    int rc = tia_store_migrate(s, &applied, &err);
    TIA_ASSERT_RC(rc, TIA_ESCHEMA, &err);
    if (strstr(err.message, "9999") == NULL)
        fail_msg("the message does not name 9999: %s", err.message);
    assert_int_equal(applied, 0);

    tia_migration_status *st = NULL;
    size_t nst = 0;
    TIA_OK_OR_FAIL(tia_store_migration_status(s, &st, &nst, &err), &err);
    assert_int_equal(nst, n + 1);
    assert_int_equal(st[n].version, 9999);
    assert_string_equal(st[n].name, "from_the_future");
    assert_int_equal(st[n].unknown, 1);
    assert_int_equal(st[n].applied, 1);
    free(st);
    tia_test_close(s);
}

/* Before migrate, an operation fails with TIA_ESCHEMA, telling to migrate. */
static void test_unmigrated_database_refused(void **state)
{
    (void)state;
    char *url = tia_test_new_db_url();
    tia_store *s = open_url(url);
    tia_agent *a = NULL;
    tia_error err = {0};
    int rc = tia_agent_get(s, "akira-001", &a, &err);
    TIA_ASSERT_RC(rc, TIA_ESCHEMA, &err);
    assert_null(a);
    if (strstr(err.message, "migrate") == NULL)
        fail_msg("the message does not say to migrate: %s", err.message);
    tia_store_close(s);
    remove_new_db(url);
}

typedef struct racer {
    const char *url;
    pthread_barrier_t *start;
    int rc, applied;
    tia_error err;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    tia_store *s = NULL;
    r->rc = tia_store_open(r->url, tia_test_store_options(), &s, &r->err);
    pthread_barrier_wait(r->start);
    if (r->rc == 0)
        r->rc = tia_store_migrate(s, &r->applied, &r->err);
    tia_store_close(s);
    return NULL;
}

static void test_concurrent_migrate(void **state)
{
    (void)state;
    mig_file files[MAX_MIGRATIONS];
    size_t n = source_migrations(files);
    for (int round = 0; round < 5; round++) {
        char *url = tia_test_new_db_url();
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, 2);
        racer racers[2] = {{url, &start, 0, 0, {0}}, {url, &start, 0, 0, {0}}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, race, &racers[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < 2; i++) {
            if (racers[i].rc != 0) {
                remove_new_db(url);
                fail_msg("round %d, runner %d: got %d (%s): %s", round, i, racers[i].rc,
                         tia_strerror(racers[i].rc), racers[i].err.message);
            }
        }
        assert_int_equal(racers[0].applied + racers[1].applied, n);

        tia_store *s = open_url(url);
        assert_recorded_as_files(s, files, n);
        /* 0001 ran once: the five agents, not ten or a conflict. */
        assert_int_equal(
            tia_test_int(s, "SELECT count(*) FROM agents", "SELECT count(*) FROM agents"), 5);
        tia_store_close(s);
        remove_new_db(url);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_database_gets_every_migration),
        cmocka_unit_test(test_must_exist),
        cmocka_unit_test(test_changed_checksum_refused),
        cmocka_unit_test(test_unknown_migration_refused),
        cmocka_unit_test(test_unmigrated_database_refused),
        cmocka_unit_test(test_concurrent_migrate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
