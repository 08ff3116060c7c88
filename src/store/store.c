/*
 * The store handle: choosing a backend from the URL, and the thin dispatch from
 * the internal statement interface (db.h) to the backend's table, with the
 * pinning of a handle that writes to the primary (its read replica is
 * replica.c). Everything that does not depend on the backend (parameter
 * constructors, timestamps, copies) lives here so that each backend stays small.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/backend.h"

const char *tia_backend_name(tia_backend b)
{
    return b == TIA_BACKEND_POSTGRES ? "postgresql" : "sqlite";
}

const char *tia_store_default_url(const char *url)
{
    if (url != NULL && *url != '\0')
        return url;
    const char *env = getenv("DATABASE_URL");
    if (env != NULL && *env != '\0')
        return env;
    return "./tokyoia.db";
}

const char *tia_store_default_read_url(const char *url)
{
    if (url != NULL && *url != '\0')
        return url;
    const char *env = getenv("DATABASE_READ_URL");
    return env != NULL && *env != '\0' ? env : NULL;
}

/* libpq takes URLs and "key=value" strings; anything else is a SQLite path. */
int tia__url_is_postgres(const char *url)
{
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return 1;
    const char *eq = strchr(url, '=');
    if (eq == NULL || eq == url)
        return 0;
    for (const char *p = url; p < eq; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '_' || *p == ' '))
            return 0;
    return strchr(url, '/') == NULL || strstr(url, "host=") != NULL ||
           strstr(url, "dbname=") != NULL;
}

int tia_store_open(const char *url, const tia_store_options *opts, tia_store **out,
                   tia_error *err)
{
    *out = NULL;
    url = tia_store_default_url(url);
    tia_store_options o = {5000, 10, NULL, 0, 0, NULL, NULL, 0};
    if (opts != NULL) {
        o = *opts;
        if (opts->busy_timeout_ms <= 0)
            o.busy_timeout_ms = 5000;
        if (opts->connect_timeout_s <= 0)
            o.connect_timeout_s = 10;
    }
    int replica = o.read_url != NULL && *o.read_url != '\0';
    tia_backend b = tia__url_is_postgres(url) ? TIA_BACKEND_POSTGRES : TIA_BACKEND_SQLITE;
    int rc = replica ? tia__replica_check(b, &o, err) : 0;
    if (rc != 0)
        return rc; /* before a SQLite file is created for nothing */
    tia_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory opening the store");
    if (b == TIA_BACKEND_POSTGRES) {
        s->backend = TIA_BACKEND_POSTGRES;
        rc = tia__pg_open(s, url, &o, 0, err);
    } else {
        s->backend = TIA_BACKEND_SQLITE;
        const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
        if (strncmp(path, "//", 2) == 0) /* sqlite:///abs/path */
            path += 2;
        if (*path == '\0') {
            free(s);
            return tia_error_set(err, TIA_EINVAL, "empty SQLite path in '%s'", url);
        }
        rc = tia__sqlite_open(s, path, &o, err);
    }
    if (rc != 0) {
        free(s);
        return rc;
    }
    if (replica && (rc = tia__replica_open(s, &o, err)) != 0) {
        tia_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void tia_store_close(tia_store *s)
{
    if (s == NULL)
        return;
    tia__replica_close(s);
    if (s->ops != NULL)
        s->ops->close(s);
    free(s);
}

tia_backend tia_store_backend(const tia_store *s) { return s->backend; }

void *tia__store_conn(tia_store *s) { return s->conn; }

void tia__store_uuid7(tia_store *s, char out[TIA_UUID_BUF]) { tia__uuid7(&s->uuid, out); }

int tia__stmt_find(const tia_store *s, const tia__sql *q)
{
    for (int i = 0; i < s->n_stmts; i++)
        if (s->stmt_keys[i] == q)
            return i;
    return -1;
}

tia__param tia__p_text(const char *v)
{
    tia__param p = {v ? TIA__P_TEXT : TIA__P_NULL, v, 0, 0};
    return p;
}
tia__param tia__p_int(int64_t i)
{
    tia__param p = {TIA__P_INT, NULL, i, 0};
    return p;
}
tia__param tia__p_double(double d)
{
    tia__param p = {TIA__P_DOUBLE, NULL, 0, d};
    return p;
}
tia__param tia__p_cost(int64_t micros)
{
    tia__param p = {TIA__P_COST, NULL, micros, 0};
    return p;
}
tia__param tia__p_bool(int b)
{
    tia__param p = {TIA__P_BOOL, NULL, b != 0, 0};
    return p;
}
tia__param tia__p_null(void)
{
    tia__param p = {TIA__P_NULL, NULL, 0, 0};
    return p;
}
tia__param tia__p_time(tia_time_us t)
{
    return t == TIA_TIME_NONE ? tia__p_null() : tia__p_int(t);
}

tia__param tia__p_ts(tia_time_us t)
{
    tia__param p = {TIA__P_TIME, NULL, t, 0};
    return t == TIA_TIME_NONE ? tia__p_null() : p;
}

/*
 * A statement that may write pins the handle to the primary, so that the routed
 * reads of the same command or request see what it wrote (tia_store_read_primary).
 * Anything that does not start with SELECT counts as a write: a WITH that only
 * reads pins needlessly, which costs a replica read, never a stale answer.
 */
static void pin_if_write(tia_store *s, const tia__sql *q)
{
    const char *t = q->pg;
    if (s->replica == NULL || s->pinned || q->keeps_reads || t == NULL)
        return;
    while (*t == ' ' || *t == '\n' || *t == '(')
        t++;
    if (strncasecmp(t, "SELECT", 6) != 0)
        s->pinned = 1;
}

void tia_store_read_primary(tia_store *s, int on) { s->pinned = on != 0; }

int tia__db_query(tia_store *s, const tia__sql *q, const tia__param *params, int n,
                  tia__rows **out, tia_error *err)
{
    *out = NULL;
    pin_if_write(s, q);
    return s->ops->query(s, q, params, n, out, err);
}

int tia__db_exec(tia_store *s, const tia__sql *q, const tia__param *params, int n,
                 int64_t *changes, tia_error *err)
{
    tia__rows *r = NULL;
    pin_if_write(s, q);
    int rc = s->ops->query(s, q, params, n, &r, err);
    if (rc != 0)
        return rc;
    while ((rc = s->ops->rows_next(r, err)) > 0)
        ;
    if (rc == 0 && changes != NULL)
        *changes = s->ops->rows_changes(r);
    s->ops->rows_free(r);
    return rc < 0 ? rc : 0;
}

/* Each tia__rows starts with a tia__rows_head: its store and column base. */
#define OPS(r) (((tia__rows_head *)(r))->store->ops)
#define COL(r, col) (((tia__rows_head *)(r))->base + (col))

void tia__rows_set_base(tia__rows *r, int base) { ((tia__rows_head *)r)->base = base; }
int tia__rows_next(tia__rows *r, tia_error *err) { return OPS(r)->rows_next(r, err); }
int tia__col_isnull(tia__rows *r, int col) { return OPS(r)->col_isnull(r, COL(r, col)); }
const char *tia__col_text(tia__rows *r, int col) { return OPS(r)->col_text(r, COL(r, col)); }
int64_t tia__col_int(tia__rows *r, int col) { return OPS(r)->col_int(r, COL(r, col)); }
double tia__col_double(tia__rows *r, int col) { return OPS(r)->col_double(r, COL(r, col)); }
int64_t tia__col_cost(tia__rows *r, int col) { return OPS(r)->col_cost(r, COL(r, col)); }

tia_time_us tia__col_time(tia__rows *r, int col)
{
    return OPS(r)->col_time(r, COL(r, col));
}

char *tia__col_dup(tia__rows *r, int col, int *oom)
{
    const char *t = OPS(r)->col_text(r, COL(r, col));
    if (t == NULL)
        return NULL;
    char *d = strdup(t);
    if (d == NULL)
        *oom = 1;
    return d;
}

size_t tia__col_texts(tia__rows *r, const int *cols, int n, const char **text, size_t *len)
{
    return OPS(r)->col_texts(r, COL(r, 0), cols, n, text, len);
}

char *tia__pack_texts(char *p, const char *const *text, const size_t *len, char **const *dst,
                      int n)
{
    for (int i = 0; i < n; i++) {
        if (text[i] == NULL)
            continue;
        memcpy(p, text[i], len[i]);
        *dst[i] = p;
        p += len[i];
    }
    return p;
}

void tia__col_uuid(tia__rows *r, int col, char out[TIA_UUID_BUF])
{
    OPS(r)->col_uuid(r, COL(r, col), out);
}

void tia__copy_uuid_text(const char *v, char out[TIA_UUID_BUF])
{
    size_t len = v ? strnlen(v, TIA_UUID_BUF - 1) : 0;
    memcpy(out, v ? v : "", len);
    out[len] = '\0';
}

void tia__rows_free(tia__rows *r)
{
    if (r != NULL)
        OPS(r)->rows_free(r);
}

static const tia__sql sql_begin = {"begin", "BEGIN", "BEGIN IMMEDIATE"};
static const tia__sql sql_commit = {"commit", "COMMIT", "COMMIT"};
static const tia__sql sql_rollback = {"rollback", "ROLLBACK", "ROLLBACK"};

int tia__db_begin(tia_store *s, tia_error *err)
{
    int rc = tia__db_exec(s, &sql_begin, NULL, 0, NULL, err);
    if (rc == 0)
        s->in_txn = 1;
    return rc;
}

int tia__db_commit(tia_store *s, tia_error *err)
{
    int rc = tia__db_exec(s, &sql_commit, NULL, 0, NULL, err);
    if (rc != 0)
        tia__db_rollback(s);
    s->in_txn = 0;
    return rc;
}

void tia__db_rollback(tia_store *s)
{
    tia_error ignored;
    (void)tia__db_exec(s, &sql_rollback, NULL, 0, NULL, &ignored);
    s->in_txn = 0;
}

int tia__db_exec_script(tia_store *s, const char *sql, tia_error *err)
{
    s->pinned = s->replica != NULL; /* migrations: writes */
    return s->ops->exec_script(s, sql, err);
}
