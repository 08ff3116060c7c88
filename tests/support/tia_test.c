/*
 * Fresh databases for tests on either backend, and raw SQL helpers. See tia_test.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "tia_test.h"

#define MAX_OPEN 64

typedef struct opened {
    tia_store *store;
    char *url;
    char *dir;    /* SQLite: temporary directory */
    char *dbname; /* PostgreSQL: database to drop */
} opened;

static opened open_dbs[MAX_OPEN];
static int db_counter;

int tia_test_is_pg(void)
{
    const char *b = getenv("TIA_TEST_BACKEND");
    return b != NULL && strcmp(b, "pg") == 0;
}

static char *read_pg_conninfo(void)
{
    const char *state = getenv("TIA_TEST_PG_STATE");
    if (state == NULL)
        fail_msg("TIA_TEST_PG_STATE is not set: PostgreSQL tests need the pg_cluster fixture");
    FILE *f = fopen(state, "r");
    if (f == NULL)
        fail_msg("cannot read %s: the test PostgreSQL cluster did not start", state);
    char line[512];
    if (fgets(line, sizeof line, f) == NULL) {
        fclose(f);
        fail_msg("%s is empty", state);
    }
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    return strdup(line);
}

/* Replaces "dbname=postgres" in the admin conninfo with another database. */
static char *conninfo_for(const char *admin, const char *dbname)
{
    const char *at = strstr(admin, "dbname=");
    size_t pre = at ? (size_t)(at - admin) : strlen(admin);
    size_t len = pre + strlen(dbname) + 16;
    char *out = malloc(len);
    snprintf(out, len, "%.*sdbname=%s", (int)pre, admin, dbname);
    return out;
}

static void pg_admin(const char *sql)
{
    char *admin = read_pg_conninfo();
    PGconn *c = PQconnectdb(admin);
    free(admin);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to the test cluster: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static opened *new_slot(void)
{
    for (int i = 0; i < MAX_OPEN; i++)
        if (open_dbs[i].url == NULL)
            return &open_dbs[i];
    fail_msg("too many test databases open");
    return NULL;
}

static opened *create_db(void)
{
    opened *o = new_slot();
    if (tia_test_is_pg()) {
        char name[64];
        snprintf(name, sizeof name, "tia_test_%d_%d", (int)getpid(), ++db_counter);
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
        pg_admin(sql);
        char *admin = read_pg_conninfo();
        o->url = conninfo_for(admin, name);
        free(admin);
        o->dbname = strdup(name);
    } else {
        char tmpl[] = "/tmp/tia-test-XXXXXX";
        if (mkdtemp(tmpl) == NULL)
            fail_msg("mkdtemp failed");
        o->dir = strdup(tmpl);
        size_t len = strlen(tmpl) + 16;
        o->url = malloc(len);
        snprintf(o->url, len, "%s/test.db", tmpl);
    }
    return o;
}

char *tia_test_new_db_url(void)
{
    opened *o = create_db();
    return strdup(o->url);
}

const tia_store_options *tia_test_store_options(void)
{
    static tia_store_options o;
    const char *ms = getenv("TIA_TEST_BUSY_TIMEOUT_MS");
    o.busy_timeout_ms = ms ? atoi(ms) : 0; /* 0: the library's default */
    return &o;
}

tia_store *tia_test_open(void)
{
    opened *o = create_db();
    tia_error err = {0};
    int rc = tia_store_open(o->url, tia_test_store_options(), &o->store, &err);
    if (rc != 0)
        fail_msg("tia_store_open(%s): %s", o->url, err.message);
    int applied = 0;
    rc = tia_store_migrate(o->store, &applied, &err);
    if (rc != 0)
        fail_msg("tia_store_migrate: %s", err.message);
    return o->store;
}

static opened *find(tia_store *s)
{
    for (int i = 0; i < MAX_OPEN; i++)
        if (open_dbs[i].store == s && s != NULL)
            return &open_dbs[i];
    return NULL;
}

const char *tia_test_url(tia_store *s)
{
    opened *o = find(s);
    return o ? o->url : NULL;
}

tia_store *tia_test_reopen(tia_store *s)
{
    opened *o = find(s);
    if (o == NULL)
        fail_msg("tia_test_reopen: unknown store");
    tia_store *other = NULL;
    tia_error err = {0};
    if (tia_store_open(o->url, tia_test_store_options(), &other, &err) != 0)
        fail_msg("reopen %s: %s", o->url, err.message);
    return other;
}

void tia_test_close(tia_store *s)
{
    opened *o = find(s);
    tia_store_close(s);
    if (o == NULL)
        return;
    if (o->dbname != NULL) {
        char sql[160];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", o->dbname);
        pg_admin(sql);
    } else if (o->dir != NULL) {
        char path[256];
        const char *suffix[] = {"", "-wal", "-shm", "-journal"};
        for (int i = 0; i < 4; i++) {
            snprintf(path, sizeof path, "%s%s", o->url, suffix[i]);
            unlink(path);
        }
        rmdir(o->dir);
    }
    free(o->url);
    free(o->dir);
    free(o->dbname);
    memset(o, 0, sizeof *o);
}

int tia_test_exec(tia_store *s, const char *pg_sql, const char *sqlite_sql, tia_error *err)
{
    return tia__db_exec_script(s, tia_test_is_pg() ? pg_sql : sqlite_sql, err);
}

static int first_row(tia_store *s, const tia__sql *q, tia__rows **r)
{
    tia_error err = {0};
    int rc = tia__db_query(s, q, NULL, 0, r, &err);
    if (rc != 0)
        fail_msg("%s: %s", tia_test_is_pg() ? q->pg : q->sqlite, err.message);
    rc = tia__rows_next(*r, &err);
    if (rc < 0)
        fail_msg("%s: %s", tia_test_is_pg() ? q->pg : q->sqlite, err.message);
    if (rc == 0)
        fail_msg("%s: no row", tia_test_is_pg() ? q->pg : q->sqlite);
    return 0;
}

int64_t tia_test_int(tia_store *s, const char *pg_sql, const char *sqlite_sql)
{
    tia__sql q = {"test.int", pg_sql, sqlite_sql, 1};
    tia__rows *r = NULL;
    first_row(s, &q, &r);
    int64_t v = tia__col_int(r, 0);
    tia__rows_free(r);
    return v;
}

char *tia_test_text(tia_store *s, const char *pg_sql, const char *sqlite_sql)
{
    tia__sql q = {"test.text", pg_sql, sqlite_sql, 1};
    tia__rows *r = NULL;
    first_row(s, &q, &r);
    const char *t = tia__col_text(r, 0);
    char *v = t ? strdup(t) : NULL;
    tia__rows_free(r);
    return v;
}
