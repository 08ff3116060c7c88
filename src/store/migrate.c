/*
 * The migration runner. Each embedded migration is applied in its own
 * transaction together with its row in schema_migrations, so a migration is
 * either wholly applied and recorded or not at all. Before applying anything, the
 * checksums of the applied migrations are compared with the embedded texts: a
 * changed text stops the run. On PostgreSQL an advisory lock serialises
 * concurrent runners; on SQLite BEGIN IMMEDIATE does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "store/db.h"
#include "store/migrations.h"

static const tia__sql sql_create = {
    "migrations.create",
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT "
    "NULL, checksum TEXT NOT NULL, applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT "
    "CURRENT_TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT "
    "NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL DEFAULT (" TIA_SQLITE_NOW "))",
};

static const tia__sql sql_table_exists = {
    "migrations.exists",
    "SELECT (to_regclass('schema_migrations') IS NOT NULL)::int",
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
};

static const tia__sql sql_applied = {
    "migrations.list",
    "SELECT version, name, checksum, " TIA_PG_US("applied_at") " FROM schema_migrations ORDER BY version",
    "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version",
};

static const tia__sql sql_lock = {
    "migrations.lock",
    "SELECT pg_advisory_xact_lock(727368001)",
    "SELECT 1",
};

static const tia__sql sql_is_applied = {
    "migrations.is_applied",
    "SELECT 1 FROM schema_migrations WHERE version = $1::int",
    "SELECT 1 FROM schema_migrations WHERE version = ?1",
};

static const tia__sql sql_record = {
    "migrations.record",
    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1::int, $2, $3)",
    "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, ?2, ?3)",
};

typedef struct recorded {
    int version;
    char name[64];
    char checksum[65];
    tia_time_us applied_at;
} recorded;

static void embedded(tia_store *s, const tia__migration **list, size_t *n)
{
    if (tia_store_backend(s) == TIA_BACKEND_POSTGRES) {
        *list = tia__migrations_postgres;
        *n = tia__n_migrations_postgres;
    } else {
        *list = tia__migrations_sqlite;
        *n = tia__n_migrations_sqlite;
    }
}

/*
 * Creates schema_migrations under the runners' lock: two runners creating it at
 * once would otherwise collide in PostgreSQL's catalog.
 */
static int create_table(tia_store *s, tia_error *err)
{
    int rc = tia__db_begin(s, err);
    if (rc != 0)
        return rc;
    if ((rc = tia__db_exec(s, &sql_lock, NULL, 0, NULL, err)) != 0 ||
        (rc = tia__db_exec(s, &sql_create, NULL, 0, NULL, err)) != 0) {
        tia__db_rollback(s);
        return rc;
    }
    return tia__db_commit(s, err);
}

static int table_exists(tia_store *s, int *exists, tia_error *err)
{
    tia__rows *r = NULL;
    int rc = tia__db_query(s, &sql_table_exists, NULL, 0, &r, err);
    if (rc != 0)
        return rc;
    rc = tia__rows_next(r, err);
    *exists = rc > 0 && tia__col_int(r, 0) != 0;
    tia__rows_free(r);
    return rc < 0 ? rc : 0;
}

/*
 * Reads schema_migrations into a malloc'd array. With create set, the table is
 * created when missing; without, a missing table reads as no migrations (so that
 * asking for the status writes nothing).
 */
static int read_recorded(tia_store *s, int create, recorded **out, size_t *n, tia_error *err)
{
    *out = NULL;
    *n = 0;
    int exists = 0;
    int rc = table_exists(s, &exists, err);
    if (rc != 0)
        return rc;
    if (!exists) {
        if (!create)
            return 0;
        if ((rc = create_table(s, err)) != 0)
            return rc;
    }
    tia__rows *r = NULL;
    if ((rc = tia__db_query(s, &sql_applied, NULL, 0, &r, err)) != 0)
        return rc;
    recorded *arr = NULL;
    size_t len = 0, cap = 0;
    while ((rc = tia__rows_next(r, err)) > 0) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            recorded *grown = realloc(arr, cap * sizeof *arr);
            if (grown == NULL) {
                rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading migrations");
                goto done;
            }
            arr = grown;
        }
        recorded *m = &arr[len++];
        m->version = (int)tia__col_int(r, 0);
        snprintf(m->name, sizeof m->name, "%s", tia__col_text(r, 1) ? tia__col_text(r, 1) : "");
        snprintf(m->checksum, sizeof m->checksum, "%s",
                 tia__col_text(r, 2) ? tia__col_text(r, 2) : "");
        m->applied_at = tia__col_time(r, 3);
    }
done:
    tia__rows_free(r);
    if (rc < 0) {
        free(arr);
        return rc;
    }
    *out = arr;
    *n = len;
    return 0;
}

static const recorded *find_recorded(const recorded *rec, size_t n, int version)
{
    for (size_t i = 0; i < n; i++)
        if (rec[i].version == version)
            return &rec[i];
    return NULL;
}

static int checksum_of(const tia__migration *m, char out[65], tia_error *err)
{
    if (tia__sha256_hex(m->sql, m->len, out) != 0)
        return tia_error_set(err, TIA_EDB, "cannot hash migration %04d", m->version);
    return 0;
}

/* Refuses changed or unknown applied migrations before anything is applied. */
static int verify(tia_store *s, const recorded *rec, size_t nrec, tia_error *err)
{
    const tia__migration *list;
    size_t n;
    embedded(s, &list, &n);
    for (size_t i = 0; i < nrec; i++) {
        const tia__migration *m = NULL;
        for (size_t j = 0; j < n; j++)
            if (list[j].version == rec[i].version)
                m = &list[j];
        if (m == NULL)
            return tia_error_set(err, TIA_ESCHEMA,
                                 "the database has migration %04d (%s), which this tokyoia does "
                                 "not know: it is newer than this binary",
                                 rec[i].version, rec[i].name);
        char sum[65];
        int rc = checksum_of(m, sum, err);
        if (rc != 0)
            return rc;
        if (strcmp(sum, rec[i].checksum) != 0)
            return tia_error_set(err, TIA_ECHECKSUM,
                                 "migration %04d_%s was applied with checksum %.12s..., but its "
                                 "text is now %.12s...: an applied migration must never be "
                                 "edited; add a new migration instead",
                                 m->version, m->name, rec[i].checksum, sum);
    }
    return 0;
}

static int apply_one(tia_store *s, const tia__migration *m, int *applied, tia_error *err)
{
    char sum[65];
    int rc = checksum_of(m, sum, err);
    if (rc != 0)
        return rc;
    if ((rc = tia__db_begin(s, err)) != 0)
        return rc;
    if ((rc = tia__db_exec(s, &sql_lock, NULL, 0, NULL, err)) != 0)
        goto fail;
    tia__param v = tia__p_int(m->version);
    tia__rows *r = NULL;
    if ((rc = tia__db_query(s, &sql_is_applied, &v, 1, &r, err)) != 0)
        goto fail;
    rc = tia__rows_next(r, err);
    tia__rows_free(r);
    if (rc < 0)
        goto fail;
    if (rc > 0) { /* another runner applied it while we waited for the lock */
        tia__db_rollback(s);
        return 0;
    }
    if ((rc = tia__db_exec_script(s, m->sql, err)) != 0) {
        char inner[TIA_ERROR_MSG_MAX];
        snprintf(inner, sizeof inner, "%s", err ? err->message : "");
        tia_error_set(err, rc, "migration %04d_%s failed: %.400s", m->version, m->name, inner);
        goto fail;
    }
    tia__param rec[3] = {tia__p_int(m->version), tia__p_text(m->name), tia__p_text(sum)};
    if ((rc = tia__db_exec(s, &sql_record, rec, 3, NULL, err)) != 0)
        goto fail;
    if ((rc = tia__db_commit(s, err)) != 0)
        return rc;
    (*applied)++;
    return 0;
fail:
    tia__db_rollback(s);
    return rc;
}

int tia_store_migrate(tia_store *s, int *applied, tia_error *err)
{
    int count = 0;
    recorded *rec = NULL;
    size_t nrec = 0;
    int rc = read_recorded(s, 1, &rec, &nrec, err);
    if (rc != 0)
        goto done;
    if ((rc = verify(s, rec, nrec, err)) != 0)
        goto done;
    const tia__migration *list;
    size_t n;
    embedded(s, &list, &n);
    for (size_t i = 0; i < n; i++) {
        if (find_recorded(rec, nrec, list[i].version) != NULL)
            continue;
        if ((rc = apply_one(s, &list[i], &count, err)) != 0)
            goto done;
    }
done:
    free(rec);
    if (applied != NULL)
        *applied = count;
    return rc;
}

int tia_store_migration_status(tia_store *s, tia_migration_status **items, size_t *n,
                               tia_error *err)
{
    *items = NULL;
    *n = 0;
    recorded *rec = NULL;
    size_t nrec = 0;
    tia_migration_status *out = NULL;
    int rc = read_recorded(s, 0, &rec, &nrec, err);
    if (rc != 0)
        goto done;
    const tia__migration *list;
    size_t nlist;
    embedded(s, &list, &nlist);
    out = calloc(nlist + nrec + 1, sizeof *out);
    if (out == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory");
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < nlist; i++) {
        tia_migration_status *m = &out[k++];
        m->version = list[i].version;
        snprintf(m->name, sizeof m->name, "%s", list[i].name);
        if ((rc = checksum_of(&list[i], m->checksum, err)) != 0)
            goto done;
        const recorded *r = find_recorded(rec, nrec, list[i].version);
        m->applied = r != NULL;
        m->applied_at = r ? r->applied_at : TIA_TIME_NONE;
        m->changed = r != NULL && strcmp(r->checksum, m->checksum) != 0;
    }
    for (size_t i = 0; i < nrec; i++) {
        int known = 0;
        for (size_t j = 0; j < nlist; j++)
            known |= list[j].version == rec[i].version;
        if (known)
            continue;
        tia_migration_status *m = &out[k++];
        m->version = rec[i].version;
        snprintf(m->name, sizeof m->name, "%s", rec[i].name);
        snprintf(m->checksum, sizeof m->checksum, "%s", rec[i].checksum);
        m->applied = 1;
        m->unknown = 1;
        m->applied_at = rec[i].applied_at;
    }
    *items = out;
    *n = k;
    out = NULL;
done:
    free(out);
    free(rec);
    return rc;
}
