/*
 * The SQLite backend. One connection in WAL mode with foreign keys on, a busy
 * timeout, synchronous=FULL (a committed transaction survives power loss), and
 * statements prepared once with SQLITE_PREPARE_PERSISTENT. The SQL function
 * tia_sha256(text) is registered for the migration that hashes session tokens.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/crypto.h"
#include "store/backend.h"

typedef struct lite_rows {
    tia__rows_head head; /* first: see backend.h */
    sqlite3_stmt *st;
    const tia__sql *q;
    int adhoc; /* st is this run's own (uncached, or the cache was full): finalized at the end */
    int done;
    int64_t changes;
} lite_rows;

static sqlite3 *db_of(tia_store *s) { return (sqlite3 *)s->conn; }

static int lite_error(tia_store *s, const char *what, int rc, tia_error *err)
{
    const char *msg = sqlite3_errmsg(db_of(s));
    int ext = sqlite3_extended_errcode(db_of(s));
    int code = TIA_EDB;
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
            code = TIA_ENOTFOUND;
        else if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
            code = TIA_ECONFLICT;
        else
            code = TIA_EINVAL;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: code = TIA_EBUSY; break;
    case SQLITE_FULL: code = TIA_EFULL; break;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN: code = TIA_EIO; break;
    case SQLITE_NOMEM: code = TIA_ENOMEM; break;
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE: code = TIA_EINVAL; break;
    case SQLITE_ERROR:
        if (strncmp(msg, "no such table", 13) == 0 || strncmp(msg, "no such column", 14) == 0)
            code = TIA_ESCHEMA;
        break;
    default: break;
    }
    if (code == TIA_ESCHEMA)
        return tia_error_set(err, code, "%s: %s (run `tokyoia migrate`)", what, msg);
    return tia_error_set(err, code, "%s: %s", what, msg);
}

static int lite_query(tia_store *s, const tia__sql *q, const tia__param *p, int n,
                      tia__rows **out, tia_error *err)
{
    sqlite3_stmt *st;
    int i = q->uncached ? -1 : tia__stmt_find(s, q);
    /* Uncached, or new with the cache full (backend.h): prepared for this run only. */
    int adhoc = q->uncached || (i < 0 && s->n_stmts >= TIA__STMT_CACHE);
    if (adhoc) {
        int rc = sqlite3_prepare_v2(db_of(s), q->sqlite, -1, &st, NULL);
        if (rc != SQLITE_OK)
            return lite_error(s, q->name, rc, err);
    } else if (i >= 0) {
        st = s->stmt_vals[i];
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        int rc = sqlite3_prepare_v3(db_of(s), q->sqlite, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK)
            return lite_error(s, q->name, rc, err);
        s->stmt_keys[s->n_stmts] = q;
        s->stmt_vals[s->n_stmts] = st;
        s->n_stmts++;
    }
    for (int k = 0; k < n; k++) {
        int rc = SQLITE_OK;
        switch (p[k].type) {
        case TIA__P_NULL: rc = sqlite3_bind_null(st, k + 1); break;
        case TIA__P_TEXT: rc = sqlite3_bind_text(st, k + 1, p[k].s, -1, SQLITE_STATIC); break;
        case TIA__P_INT:
        case TIA__P_COST:
        case TIA__P_BOOL:
        case TIA__P_TIME: rc = sqlite3_bind_int64(st, k + 1, p[k].i); break;
        case TIA__P_DOUBLE: rc = sqlite3_bind_double(st, k + 1, p[k].d); break;
        }
        if (rc != SQLITE_OK) {
            rc = lite_error(s, q->name, rc, err);
            if (adhoc)
                sqlite3_finalize(st);
            return rc;
        }
    }
    lite_rows *r = malloc(sizeof *r);
    if (r == NULL) {
        if (adhoc)
            sqlite3_finalize(st);
        return tia_error_set(err, TIA_ENOMEM, "out of memory running %s", q->name);
    }
    r->head.store = s;
    r->head.base = 0;
    r->st = st;
    r->q = q;
    r->adhoc = adhoc;
    r->done = 0;
    r->changes = 0;
    *out = (tia__rows *)r;
    return 0;
}

static int lite_rows_next(tia__rows *rr, tia_error *err)
{
    lite_rows *r = (lite_rows *)rr;
    if (r->done)
        return 0;
    int rc = sqlite3_step(r->st);
    if (rc == SQLITE_ROW)
        return 1;
    r->done = 1;
    if (rc == SQLITE_DONE) {
        r->changes = sqlite3_changes64(db_of(r->head.store));
        return 0;
    }
    int code = lite_error(r->head.store, r->q->name, rc, err);
    if (!r->adhoc)
        sqlite3_reset(r->st);
    return code;
}

static int lite_col_isnull(tia__rows *rr, int col)
{
    return sqlite3_column_type(((lite_rows *)rr)->st, col) == SQLITE_NULL;
}

static const char *lite_col_text(tia__rows *rr, int col)
{
    return (const char *)sqlite3_column_text(((lite_rows *)rr)->st, col);
}

/* sqlite3_column_bytes after sqlite3_column_text: the text's length, without a strlen. */
static size_t lite_col_texts(tia__rows *rr, int base, const int *cols, int n, const char **text,
                             size_t *len)
{
    sqlite3_stmt *st = ((lite_rows *)rr)->st;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int col = base + cols[i];
        text[i] = (const char *)sqlite3_column_text(st, col);
        len[i] = text[i] ? (size_t)sqlite3_column_bytes(st, col) + 1 : 0;
        total += len[i];
    }
    return total;
}

static void lite_col_uuid(tia__rows *rr, int col, char out[TIA_UUID_BUF])
{
    tia__copy_uuid_text(lite_col_text(rr, col), out);
}

static int64_t lite_col_int(tia__rows *rr, int col)
{
    return sqlite3_column_int64(((lite_rows *)rr)->st, col);
}

static int64_t lite_col_time(tia__rows *rr, int col)
{
    sqlite3_stmt *st = ((lite_rows *)rr)->st;
    return sqlite3_column_type(st, col) == SQLITE_NULL ? TIA_TIME_NONE
                                                       : sqlite3_column_int64(st, col);
}

static double lite_col_double(tia__rows *rr, int col)
{
    return sqlite3_column_double(((lite_rows *)rr)->st, col);
}

static int64_t lite_rows_changes(tia__rows *rr) { return ((lite_rows *)rr)->changes; }

static void lite_rows_free(tia__rows *rr)
{
    lite_rows *r = (lite_rows *)rr;
    if (r->adhoc)
        sqlite3_finalize(r->st);
    else
        sqlite3_reset(r->st);
    free(r);
}

static int lite_exec_script(tia_store *s, const char *sql, tia_error *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db_of(s), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int code = lite_error(s, "script", rc, err);
        if (msg != NULL)
            tia_error_set(err, code, "script: %s", msg);
        sqlite3_free(msg);
        return code;
    }
    return 0;
}

static void lite_close(tia_store *s)
{
    for (int i = 0; i < s->n_stmts; i++)
        sqlite3_finalize(s->stmt_vals[i]);
    sqlite3_close_v2(db_of(s));
}

/* tia_sha256(text): lowercase hex SHA-256, used by migration 0003. */
static void fn_sha256(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    const unsigned char *t = sqlite3_value_text(argv[0]);
    int len = sqlite3_value_bytes(argv[0]);
    char hex[65];
    if (t == NULL || tia__sha256_hex(t, (size_t)len, hex) != 0) {
        sqlite3_result_error(ctx, "tia_sha256 failed", -1);
        return;
    }
    sqlite3_result_text(ctx, hex, 64, SQLITE_TRANSIENT);
}

/*
 * Switching a new file to WAL needs a moment of exclusive access, and SQLite does
 * not call the busy handler for it: when another connection is doing the same,
 * retry until the busy timeout.
 */
static int set_pragmas(sqlite3 *db, int busy_timeout_ms, char **msg)
{
    for (int waited = 0;; waited += 10) {
        int rc = sqlite3_exec(db,
                              "PRAGMA journal_mode = WAL;"
                              "PRAGMA synchronous = FULL;"
                              "PRAGMA foreign_keys = ON;",
                              NULL, NULL, msg);
        int base = rc & 0xff;
        if ((base != SQLITE_BUSY && base != SQLITE_LOCKED) || waited >= busy_timeout_ms)
            return rc;
        sqlite3_free(*msg);
        *msg = NULL;
        sqlite3_sleep(10);
    }
}

static const tia__backend_ops lite_ops = {
    .query = lite_query,
    .exec_script = lite_exec_script,
    .rows_next = lite_rows_next,
    .col_isnull = lite_col_isnull,
    .col_text = lite_col_text,
    .col_texts = lite_col_texts,
    .col_uuid = lite_col_uuid,
    .col_int = lite_col_int,
    .col_double = lite_col_double,
    .col_cost = lite_col_int, /* micro-dollars are stored as integers */
    .col_time = lite_col_time,
    .rows_changes = lite_rows_changes,
    .rows_free = lite_rows_free,
    .close = lite_close,
};

/*
 * Whether path names no file in a directory that exists: a database not made yet
 * (TIA_ENOTFOUND), where a missing directory is an unreachable one (TIA_EUNAVAIL,
 * as when creating it fails).
 */
static int missing_in_existing_dir(const char *path)
{
    if (access(path, F_OK) == 0 || errno != ENOENT)
        return 0;
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return 1; /* in the working directory */
    char dir[4096];
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof dir)
        return 0;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return access(dir, F_OK) == 0;
}

int tia__sqlite_open(tia_store *s, const char *path, const tia_store_options *o, tia_error *err)
{
    sqlite3 *db = NULL;
    int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (o->must_exist ? 0 : SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK && o->must_exist && missing_in_existing_dir(path)) {
        sqlite3_close_v2(db);
        return tia_error_set(err, TIA_ENOTFOUND, "there is no SQLite database at '%s'", path);
    }
    if (rc != SQLITE_OK) {
        tia_error_set(err, TIA_EUNAVAIL, "cannot open SQLite database '%s': %s", path,
                      db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return TIA_EUNAVAIL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, o->busy_timeout_ms);
    s->conn = db;
    s->ops = &lite_ops;
    char *msg = NULL;
    rc = set_pragmas(db, o->busy_timeout_ms, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(db, "tia_sha256", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                        NULL, fn_sha256, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        tia_error_set(err, TIA_EUNAVAIL, "cannot set up SQLite database '%s': %s", path,
                      msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_close_v2(db);
        s->conn = NULL;
        s->ops = NULL;
        return TIA_EUNAVAIL;
    }
    return 0;
}
