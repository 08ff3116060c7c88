/*
 * The PostgreSQL backend, through libpq. Statements are prepared once per
 * connection (named tia_<slot>) and run with text parameters; results are read in
 * text format. A broken connection is reset before the next statement, which
 * forgets the prepared statements, so the cache is cleared with it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/backend.h"

#define PG_MAX_PARAMS 64

typedef struct pg_rows {
    tia__rows_head head; /* first: see backend.h */
    PGresult *res;
    int row;
    int nrows;
    int64_t changes;
} pg_rows;

static PGconn *conn_of(tia_store *s) { return (PGconn *)s->conn; }

static void copy_message(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
    size_t len = strlen(dst);
    while (len > 0 && (dst[len - 1] == '\n' || dst[len - 1] == ' '))
        dst[--len] = '\0';
}

/* Maps a failed result to a TIA_E* code with the server's words. */
static int pg_error(tia_store *s, const tia__sql *q, PGresult *res, tia_error *err)
{
    char msg[384];
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    copy_message(msg, sizeof msg, primary ? primary : PQerrorMessage(conn_of(s)));
    const char *what = q ? q->name : "statement";
    if (PQstatus(conn_of(s)) != CONNECTION_OK)
        return tia_error_set(err, TIA_EUNAVAIL, "%s: connection to PostgreSQL lost: %s", what, msg);
    /*
     * No SQLSTATE: the error is libpq's own, and with a server that stopped
     * ("server closed the connection unexpectedly") the connection may still
     * read as OK until the next call finds it broken and resets it.
     */
    if (state == NULL)
        return tia_error_set(err, TIA_EUNAVAIL, "%s: connection to PostgreSQL lost: %s", what,
                             msg);
    int code = TIA_EDB;
    if (strcmp(state, "23503") == 0)
        code = TIA_ENOTFOUND;
    else if (strcmp(state, "23505") == 0 || strcmp(state, "40001") == 0 ||
             strcmp(state, "40P01") == 0)
        code = TIA_ECONFLICT;
    else if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
        code = TIA_EINVAL;
    else if (strcmp(state, "42P01") == 0 || strcmp(state, "42883") == 0)
        code = TIA_ESCHEMA;
    else if (strcmp(state, "53100") == 0)
        code = TIA_EFULL;
    else if (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0)
        code = TIA_EBUSY;
    else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        code = TIA_EUNAVAIL;
    if (code == TIA_ESCHEMA)
        return tia_error_set(err, code, "%s: %s (run `tokyoia migrate`)", what, msg);
    if (cons != NULL)
        return tia_error_set(err, code, "%s: %s (constraint %s)", what, msg, cons);
    return tia_error_set(err, code, "%s: %s [%s]", what, msg, state);
}

/* Resets a broken connection; prepared statements die with it. */
static int ensure_connected(tia_store *s, tia_error *err)
{
    if (PQstatus(conn_of(s)) == CONNECTION_OK)
        return 0;
    if (s->in_txn)
        return tia_error_set(err, TIA_EUNAVAIL, "connection to PostgreSQL lost in a transaction");
    PQreset(conn_of(s));
    s->n_stmts = 0;
    if (PQstatus(conn_of(s)) != CONNECTION_OK) {
        char msg[256];
        copy_message(msg, sizeof msg, PQerrorMessage(conn_of(s)));
        return tia_error_set(err, TIA_EUNAVAIL, "cannot reach PostgreSQL: %s", msg);
    }
    PQsetClientEncoding(conn_of(s), "UTF8");
    return 0;
}

static int prepare(tia_store *s, const tia__sql *q, int nparams, int *slot, tia_error *err)
{
    int i = tia__stmt_find(s, q);
    if (i >= 0) {
        *slot = i;
        return 0;
    }
    if (s->n_stmts >= TIA__STMT_CACHE)
        return tia_error_set(err, TIA_EDB, "statement cache full preparing %s", q->name);
    i = s->n_stmts;
    char name[24];
    snprintf(name, sizeof name, "tia_%d", i);
    PGresult *res = PQprepare(conn_of(s), name, q->pg, nparams, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        int rc = pg_error(s, q, res, err);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    s->stmt_keys[i] = q;
    s->n_stmts++;
    *slot = i;
    return 0;
}

static int pg_query(tia_store *s, const tia__sql *q, const tia__param *p, int n,
                    tia__rows **out, tia_error *err)
{
    if (n > PG_MAX_PARAMS)
        return tia_error_set(err, TIA_EINVAL, "%s: too many parameters", q->name);
    int rc = ensure_connected(s, err);
    if (rc != 0)
        return rc;
    int slot = -1;
    if (!q->uncached && (rc = prepare(s, q, n, &slot, err)) != 0)
        return rc;

    char bufs[PG_MAX_PARAMS][32];
    const char *values[PG_MAX_PARAMS];
    for (int i = 0; i < n; i++) {
        switch (p[i].type) {
        case TIA__P_NULL: values[i] = NULL; break;
        case TIA__P_TEXT: values[i] = p[i].s; break;
        case TIA__P_INT:
            snprintf(bufs[i], sizeof bufs[i], "%" PRId64, p[i].i);
            values[i] = bufs[i];
            break;
        case TIA__P_DOUBLE:
            snprintf(bufs[i], sizeof bufs[i], "%.17g", p[i].d);
            values[i] = bufs[i];
            break;
        case TIA__P_COST:
            tia_cost_format(p[i].i, bufs[i], sizeof bufs[i]);
            values[i] = bufs[i];
            break;
        case TIA__P_BOOL: values[i] = p[i].i ? "true" : "false"; break;
        case TIA__P_TIME:
            tia_time_format(p[i].i, bufs[i], sizeof bufs[i]);
            values[i] = bufs[i];
            break;
        }
    }
    PGresult *res;
    if (q->uncached) {
        res = PQexecParams(conn_of(s), q->pg, n, NULL, values, NULL, NULL, 0);
    } else {
        char name[24];
        snprintf(name, sizeof name, "tia_%d", slot);
        res = PQexecPrepared(conn_of(s), name, n, values, NULL, NULL, 0);
    }
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        rc = pg_error(s, q, res, err);
        PQclear(res);
        return rc;
    }
    pg_rows *r = malloc(sizeof *r);
    if (r == NULL) {
        PQclear(res);
        return tia_error_set(err, TIA_ENOMEM, "out of memory reading %s", q->name);
    }
    r->head.store = s;
    r->head.base = 0;
    r->res = res;
    r->row = -1;
    r->nrows = PQntuples(res);
    const char *ct = PQcmdTuples(res);
    r->changes = (ct && *ct) ? strtoll(ct, NULL, 10) : 0;
    *out = (tia__rows *)r;
    return 0;
}

static int pg_rows_next(tia__rows *rr, tia_error *err)
{
    (void)err;
    pg_rows *r = (pg_rows *)rr;
    if (r->row + 1 >= r->nrows) {
        r->row = r->nrows;
        return 0;
    }
    r->row++;
    return 1;
}

static int pg_col_isnull(tia__rows *rr, int col)
{
    pg_rows *r = (pg_rows *)rr;
    return PQgetisnull(r->res, r->row, col);
}

static const char *pg_col_text(tia__rows *rr, int col)
{
    pg_rows *r = (pg_rows *)rr;
    if (PQgetisnull(r->res, r->row, col))
        return NULL;
    return PQgetvalue(r->res, r->row, col);
}

static int64_t pg_col_int(tia__rows *rr, int col)
{
    const char *t = pg_col_text(rr, col);
    return t ? strtoll(t, NULL, 10) : 0;
}

static double pg_col_double(tia__rows *rr, int col)
{
    const char *t = pg_col_text(rr, col);
    return t ? strtod(t, NULL) : 0.0;
}

static int64_t pg_col_cost(tia__rows *rr, int col)
{
    const char *t = pg_col_text(rr, col);
    int64_t v = 0;
    if (t != NULL && tia_cost_parse(t, &v) != 0) {
        /* A sum may carry more than 6 decimals; round half away from zero. */
        double d = strtod(t, NULL) * 1e6;
        v = (int64_t)(d < 0 ? d - 0.5 : d + 0.5);
    }
    return v;
}

static int64_t pg_rows_changes(tia__rows *rr) { return ((pg_rows *)rr)->changes; }

static void pg_rows_free(tia__rows *rr)
{
    pg_rows *r = (pg_rows *)rr;
    PQclear(r->res);
    free(r);
}

static int pg_exec_script(tia_store *s, const char *sql, tia_error *err)
{
    int rc = ensure_connected(s, err);
    if (rc != 0)
        return rc;
    PGresult *res = PQexec(conn_of(s), sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rc = pg_error(s, NULL, res, err);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    return 0;
}

static void pg_close(tia_store *s) { PQfinish(conn_of(s)); }

static const tia__backend_ops pg_ops = {
    pg_query,      pg_exec_script, pg_rows_next, pg_col_isnull,   pg_col_text, pg_col_int,
    pg_col_double, pg_col_cost,    pg_rows_changes, pg_rows_free, pg_close,
};

/*
 * A library must not write to its caller's stderr, which libpq's default notice
 * processor does (CREATE TABLE IF NOT EXISTS says "already exists, skipping").
 */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int tia__pg_conninfo_ok(const char *conninfo, tia_error *err)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
    if (opts == NULL) {
        char text[256];
        copy_message(text, sizeof text, msg ? msg : "out of memory");
        PQfreemem(msg);
        tia_error_set(err, TIA_EINVAL, "%s", text);
        return 0;
    }
    PQconninfoFree(opts);
    return 1;
}

int tia__pg_open(tia_store *s, const char *conninfo, const tia_store_options *o, int read_only,
                 tia_error *err)
{
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", o->connect_timeout_s);
    /*
     * Later keywords win: the caller's URL may override our defaults. The planner's
     * default random_page_cost (4) models spinning disks and makes it prefer a
     * filtered scan plus a sort over the index made for our lists; 1.1 is the usual
     * value for SSDs and cached data (docs/architecture.md). The replica's own
     * application_name lets an operator tell its sessions apart (pg_stat_activity).
     */
    const char *keys[] = {"connect_timeout", "application_name", "options", "dbname", NULL};
    const char *vals[] = {
        timeout, read_only ? "tokyoia-read" : "tokyoia",
        read_only ? "-c random_page_cost=1.1 -c default_transaction_read_only=on"
                  : "-c random_page_cost=1.1",
        conninfo, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory connecting to PostgreSQL");
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[300];
        copy_message(msg, sizeof msg, PQerrorMessage(c));
        PQfinish(c);
        return tia_error_set(err, TIA_EUNAVAIL, "cannot connect to PostgreSQL: %s", msg);
    }
    if (PQsetClientEncoding(c, "UTF8") != 0) {
        PQfinish(c);
        return tia_error_set(err, TIA_EUNAVAIL, "PostgreSQL refused client encoding UTF8");
    }
    PQsetNoticeProcessor(c, ignore_notice, NULL);
    s->conn = c;
    s->ops = &pg_ops;
    return 0;
}
