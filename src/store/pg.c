/*
 * The PostgreSQL backend, through libpq. Statements are prepared once per
 * connection (named tia_<slot>) and run with text parameters; results are read in
 * text format, or in binary format for a statement that asks for it
 * (tia__sql.binary: the hot reads of small answers, where turning every
 * timestamp, integer and float into text and back was a measurable share of the
 * call), and the column accessors read either by the column's format and type.
 * A broken connection is reset before the next statement, which forgets the
 * prepared statements, so the cache is cleared with it.
 */
#include <endian.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-events.h>
#include <libpq-fe.h>

#include "store/backend.h"

#define PG_MAX_PARAMS 64

/* Type OIDs of the binary columns read as numbers (PostgreSQL's pg_type.dat). */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_VARCHAR 1043
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_TIMESTAMPTZ 1184
#define OID_UUID 2950
#define OID_NUMERIC 1700
#define OID_JSONB 3802
/* The version byte that starts a binary jsonb value; the JSON text follows it. */
#define JSONB_BINARY_VERSION 1
/* PostgreSQL counts timestamps in microseconds from 2000-01-01, the library from 1970. */
#define PG_EPOCH_US INT64_C(946684800000000)

typedef struct pg_rows {
    tia__rows_head head; /* first: see backend.h */
    PGresult *res;
    int row;
    int nrows;
    int nfields;
    /* The text of binary uuid columns, one slot per column (see pg_col_text). */
    char (*uuid_text)[TIA_UUID_BUF];
    /* Each column's type when it came in binary format, 0 when in text: read once
     * per result rather than asked of libpq at every value. */
    Oid btype[];
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

/* "tia_N", the server-side name of statement slot N (by hand: this runs at every call). */
static void stmt_name(int slot, char name[24])
{
    char digits[12];
    int n = 0;
    unsigned v = (unsigned)slot;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    memcpy(name, "tia_", 4);
    for (int i = 0; i < n; i++)
        name[4 + i] = digits[n - 1 - i];
    name[4 + n] = '\0';
}

/*
 * The slot of q's prepared statement, preparing it on first use: 0, or 1 when the
 * cache is full (the caller runs q unprepared), or a TIA_E* code.
 */
static int prepare(tia_store *s, const tia__sql *q, int nparams, int *slot, tia_error *err)
{
    int i = tia__stmt_find(s, q);
    if (i >= 0) {
        *slot = i;
        return 0;
    }
    if (s->n_stmts >= TIA__STMT_CACHE)
        return 1;
    i = s->n_stmts;
    char name[24];
    stmt_name(i, name);
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

/* The parameters as libpq's text values; bufs holds the formatted numbers and times. */
static void text_values(const tia__param *p, int n, char bufs[][32], const char **values)
{
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
}

/* Turns a statement's result into rows, or its error into a TIA_E* code; res is taken. */
static int take_result(tia_store *s, const tia__sql *q, PGresult *res, tia__rows **out,
                       tia_error *err)
{
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        int rc = pg_error(s, q, res, err);
        PQclear(res);
        return rc;
    }
    int nf = PQnfields(res);
    /* One block: the rows, the column types, then, for a binary statement (the only
     * kind that can hold a binary uuid), a text slot per column. */
    size_t types = (size_t)(nf > 0 ? nf : 0) * sizeof(Oid);
    size_t slots = q->binary ? (size_t)(nf > 0 ? nf : 0) * TIA_UUID_BUF : 0;
    pg_rows *r = malloc(sizeof *r + types + slots);
    if (r == NULL) {
        PQclear(res);
        return tia_error_set(err, TIA_ENOMEM, "out of memory reading %s", q->name);
    }
    r->head.store = s;
    r->head.base = 0;
    r->res = res;
    r->row = -1;
    r->nrows = PQntuples(res);
    r->nfields = nf;
    r->uuid_text = slots > 0 ? (char(*)[TIA_UUID_BUF])((char *)r->btype + types) : NULL;
    /* A binary statement asks for every column in binary (resultFormat 1). */
    for (int c = 0; c < nf; c++)
        r->btype[c] = q->binary ? PQftype(res, c) : 0;
    *out = (tia__rows *)r;
    return 0;
}

/* The statement as it runs without a guard: prepared once, one round trip. */
static int plain_query(tia_store *s, const tia__sql *q, const tia__param *p, int n,
                       tia__rows **out, tia_error *err)
{
    if (n > PG_MAX_PARAMS)
        return tia_error_set(err, TIA_EINVAL, "%s: too many parameters", q->name);
    int rc = ensure_connected(s, err);
    if (rc != 0)
        return rc;
    int slot = -1, adhoc = q->uncached;
    if (!adhoc && (rc = prepare(s, q, n, &slot, err)) != 0) {
        if (rc < 0)
            return rc;
        adhoc = 1; /* the cache is full */
    }

    char bufs[PG_MAX_PARAMS][32];
    const char *values[PG_MAX_PARAMS];
    text_values(p, n, bufs, values);
    PGresult *res;
    if (adhoc) {
        res = PQexecParams(conn_of(s), q->pg, n, NULL, values, NULL, NULL, q->binary ? 1 : 0);
    } else {
        char name[24];
        stmt_name(slot, name);
        res = PQexecPrepared(conn_of(s), name, n, values, NULL, NULL, q->binary ? 1 : 0);
    }
    return take_result(s, q, res, out, err);
}

/* ---- guards (db.h): a check sent in the same round trip as the next read ---- */

/*
 * The guard pending on a connection is libpq instance data of this (otherwise
 * idle) event procedure: it stays with the PGconn, the only state of a
 * connection this file owns, and needs no field in the store handle.
 */
static int guard_event(PGEventId id, void *info, void *arg)
{
    (void)id;
    (void)info;
    (void)arg;
    return 1;
}

static tia__guard *guard_of(tia_store *s)
{
    return s->conn ? PQinstanceData(conn_of(s), guard_event) : NULL;
}

static void guard_detach(tia_store *s)
{
    PQsetInstanceData(conn_of(s), guard_event, NULL);
}

/* Runs the guard alone (no read came to carry it). */
static void guard_run(tia_store *s, tia__guard *g)
{
    g->rc = plain_query(s, g->q, g->params, g->n, &g->rows, &g->err);
    g->done = 1;
}

static int guard_refusal(const tia__guard *g, const tia__sql *q, tia_error *err)
{
    return tia_error_set(err, TIA_EAUTH, "%s not run: the check %s failed", q->name, g->q->name);
}

/*
 * 1 when q may travel in one round trip behind the guard: a cached statement that
 * reads (the text starts with SELECT, as store.c's routing judges) outside a
 * transaction. The guard and q then form one implicit transaction, so a failed
 * guard makes the server skip q: it never runs, not even as a read.
 */
static int rides_with_guard(const tia_store *s, const tia__sql *q, int n)
{
    const char *t = q->pg;
    if (s->in_txn || q->uncached || t == NULL || n > PG_MAX_PARAMS)
        return 0;
    while (*t == ' ' || *t == '\n' || *t == '(')
        t++;
    return strncasecmp(t, "SELECT", 6) == 0;
}

/* Reads one statement's result in pipeline mode (the first result; the rest dropped). */
static PGresult *pipeline_result(PGconn *c)
{
    PGresult *first = NULL, *r;
    while ((r = PQgetResult(c)) != NULL) {
        if (first == NULL)
            first = r;
        else
            PQclear(r);
    }
    return first;
}

/*
 * The guard and q in one round trip (libpq pipeline mode): both are sent with
 * one Sync, the guard's result is read first, then q's, which the server skipped
 * (PGRES_PIPELINE_ABORTED) when the guard failed.
 */
static int query_with_guard(tia_store *s, tia__guard *g, const tia__sql *q, const tia__param *p,
                            int n, tia__rows **out, tia_error *err)
{
    PGconn *c = conn_of(s);
    int gslot = -1, qslot = -1, rc;
    if ((rc = ensure_connected(s, &g->err)) < 0 ||
        (rc = prepare(s, g->q, g->n, &gslot, &g->err)) < 0) {
        /* The guard cannot run, so it has failed; q must not run either. */
        g->rc = rc;
        g->done = 1;
        return guard_refusal(g, q, err);
    }
    if (rc == 0 && (rc = prepare(s, q, n, &qslot, err)) < 0) {
        /* q cannot run: its error stands, once the guard has had its turn. */
        guard_run(s, g);
        return g->rc != 0 ? guard_refusal(g, q, err) : rc;
    }
    if (rc > 0) {
        /* The cache is full: the two go one after the other, unprepared. */
        guard_run(s, g);
        return g->rc != 0 ? guard_refusal(g, q, err) : plain_query(s, q, p, n, out, err);
    }
    char gbufs[PG_MAX_PARAMS][32], qbufs[PG_MAX_PARAMS][32], gname[24], qname[24];
    const char *gvals[PG_MAX_PARAMS], *qvals[PG_MAX_PARAMS];
    text_values(g->params, g->n, gbufs, gvals);
    text_values(p, n, qbufs, qvals);
    stmt_name(gslot, gname);
    stmt_name(qslot, qname);
    if (!PQenterPipelineMode(c)) {
        guard_run(s, g);
        return g->rc != 0 ? guard_refusal(g, q, err) : plain_query(s, q, p, n, out, err);
    }
    int sent = PQsendQueryPrepared(c, gname, g->n, gvals, NULL, NULL, g->q->binary ? 1 : 0) &&
               PQsendQueryPrepared(c, qname, n, qvals, NULL, NULL, q->binary ? 1 : 0) &&
               PQpipelineSync(c);
    PGresult *gres = pipeline_result(c);
    PGresult *qres = sent ? pipeline_result(c) : NULL;
    PGresult *sync = sent ? PQgetResult(c) : NULL;
    if (sync != NULL && PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
        PQclear(sync); /* out of step: the connection cannot be trusted */
        sync = NULL;
    }
    if (sync == NULL || !PQexitPipelineMode(c)) {
        /* A lost connection (or one out of step): reset before the next statement. */
        if (PQstatus(c) == CONNECTION_OK)
            PQreset(c);
        s->n_stmts = 0;
    }
    PQclear(sync);
    g->done = 1;
    g->rc = gres ? take_result(s, g->q, gres, &g->rows, &g->err)
                 : tia_error_set(&g->err, TIA_EUNAVAIL, "%s: connection to PostgreSQL lost",
                                 g->q->name);
    if (g->rc != 0) {
        PQclear(qres);
        return guard_refusal(g, q, err);
    }
    if (qres == NULL)
        return tia_error_set(err, TIA_EUNAVAIL, "%s: connection to PostgreSQL lost", q->name);
    return take_result(s, q, qres, out, err);
}

int tia__db_guard(tia_store *s, tia__guard *g, tia_error *err)
{
    g->done = 0;
    g->rc = 0;
    g->rows = NULL;
    memset(&g->err, 0, sizeof g->err);
    if (s->backend != TIA_BACKEND_POSTGRES)
        return tia_error_set(err, TIA_EINVAL, "%s: only PostgreSQL runs a guard ahead", g->q->name);
    /* With a read replica, the read that would carry the guard goes elsewhere. */
    if (s->in_txn || s->replica != NULL || g->n > (int)(sizeof g->params / sizeof g->params[0]) ||
        guard_of(s) != NULL)
        return tia_error_set(err, TIA_EINVAL, "%s: cannot run a guard ahead here", g->q->name);
    if (!PQsetInstanceData(conn_of(s), guard_event, g))
        return tia_error_set(err, TIA_EINVAL, "%s: cannot run a guard ahead here", g->q->name);
    return 0;
}

int tia__db_guard_finish(tia_store *s, tia__guard *g, tia_error *err)
{
    if (guard_of(s) == g) {
        guard_detach(s);
        if (!g->done)
            guard_run(s, g);
    }
    if (!g->done)
        return tia_error_set(err, TIA_EINVAL, "%s: not a guard of this store", g->q->name);
    if (g->rc != 0 && err != NULL)
        *err = g->err;
    return g->rc;
}

/*
 * Every statement: a pending guard runs first, in the same round trip when the
 * statement is a read, alone otherwise; after a failed guard nothing runs until
 * the caller has taken its verdict (tia__db_guard_finish).
 */
static int pg_query(tia_store *s, const tia__sql *q, const tia__param *p, int n,
                    tia__rows **out, tia_error *err)
{
    tia__guard *g = guard_of(s);
    if (g == NULL)
        return plain_query(s, q, p, n, out, err);
    if (g->done)
        return g->rc != 0 ? guard_refusal(g, q, err) : plain_query(s, q, p, n, out, err);
    if (rides_with_guard(s, q, n))
        return query_with_guard(s, g, q, p, n, out, err);
    guard_run(s, g);
    return g->rc != 0 ? guard_refusal(g, q, err) : plain_query(s, q, p, n, out, err);
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

/*
 * A column as text and its length (without the NUL). Binary jsonb is its JSON
 * text behind a version byte; a binary uuid is 16 bytes, written out in the
 * column's slot, where it lives until the next read of that column (every caller
 * copies it at once). NULL for NULL. v is the column's value as PQgetvalue
 * gives it. A binary statement reads no array: its bytes are not text (the
 * agents' specialties are read packed, migration 0016).
 */
static const char *col_text_len(pg_rows *r, int col, const char *v, size_t *text_len)
{
    /* libpq gives NULL as an empty string: only an empty value needs the question. */
    if (v[0] == '\0' && PQgetisnull(r->res, r->row, col))
        return NULL;
    Oid t = col < r->nfields ? r->btype[col] : 0;
    if (t == OID_JSONB && v[0] == JSONB_BINARY_VERSION)
        v++;
    else if (t == OID_UUID && r->uuid_text != NULL && PQgetlength(r->res, r->row, col) == 16) {
        tia__uuid_format((const unsigned char *)v, r->uuid_text[col]);
        *text_len = TIA_UUID_BUF - 1;
        return r->uuid_text[col];
    }
    /* A strlen costs less than asking libpq for the length (its bounds checks). */
    *text_len = strlen(v);
    return v;
}

static const char *pg_col_text(tia__rows *rr, int col)
{
    pg_rows *r = (pg_rows *)rr;
    size_t len;
    return col_text_len(r, col, PQgetvalue(r->res, r->row, col), &len);
}

/*
 * The record decoders' reads (tia__col_texts): one call for all the columns of a
 * row, and the common case, text in either format, without leaving the loop.
 */
static size_t pg_col_texts(tia__rows *rr, int base, const int *cols, int n, const char **text,
                           size_t *len)
{
    pg_rows *r = (pg_rows *)rr;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int col = base + cols[i];
        const char *v = PQgetvalue(r->res, r->row, col);
        Oid t = col < r->nfields ? r->btype[col] : 0;
        if (t == 0 || t == OID_TEXT || t == OID_VARCHAR) {
            /* libpq gives NULL as an empty string: only an empty value needs the question. */
            text[i] = v[0] == '\0' && PQgetisnull(r->res, r->row, col) ? NULL : v;
            len[i] = text[i] ? strlen(v) + 1 : 0;
        } else {
            text[i] = col_text_len(r, col, v, &len[i]);
            len[i] = text[i] ? len[i] + 1 : 0;
        }
        total += len[i];
    }
    return total;
}

/*
 * A binary uuid straight into out, without the column's slot and a copy: a page
 * of tasks reads three per row. Other forms go through their text.
 */
static void pg_col_uuid(tia__rows *rr, int col, char out[TIA_UUID_BUF])
{
    pg_rows *r = (pg_rows *)rr;
    if (col < r->nfields && r->btype[col] == OID_UUID) {
        int len = PQgetlength(r->res, r->row, col);
        if (len == 16) {
            tia__uuid_format((const unsigned char *)PQgetvalue(r->res, r->row, col), out);
            return;
        }
        if (len == 0) { /* NULL: no binary uuid is empty */
            out[0] = '\0';
            return;
        }
    }
    size_t len;
    tia__copy_uuid_text(col_text_len(r, col, PQgetvalue(r->res, r->row, col), &len), out);
}

/*
 * A binary number column of len bytes (len > 0): *is_int says which of *i and *d
 * holds it. Returns 0 for a column that is not one of these types (a text
 * column: read as text).
 */
static int bin_number(const pg_rows *r, int col, int len, int64_t *i, double *d, int *is_int)
{
    const char *v = PQgetvalue(r->res, r->row, col);
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    *is_int = 1;
    switch (r->btype[col]) {
    case OID_BOOL: *i = len == 1 && v[0] != 0; return 1;
    case OID_INT2:
        *i = len == 2 ? (memcpy(&u16, v, 2), (int16_t)be16toh(u16)) : 0;
        return 1;
    case OID_INT4:
        *i = len == 4 ? (memcpy(&u32, v, 4), (int32_t)be32toh(u32)) : 0;
        return 1;
    case OID_INT8:
        *i = len == 8 ? (memcpy(&u64, v, 8), (int64_t)be64toh(u64)) : 0;
        return 1;
    case OID_TIMESTAMPTZ:
        *i = len == 8 ? (memcpy(&u64, v, 8), (int64_t)be64toh(u64)) : 0;
        /* 'infinity' and '-infinity' are the int64 extremes: kept, not shifted. */
        if (*i != INT64_MAX && *i != INT64_MIN)
            *i += PG_EPOCH_US;
        return 1;
    case OID_FLOAT4: {
        u32 = 0;
        if (len == 4) {
            memcpy(&u32, v, 4);
            u32 = be32toh(u32);
        }
        float f;
        memcpy(&f, &u32, sizeof f);
        *d = f;
        *is_int = 0;
        return 1;
    }
    case OID_FLOAT8:
        u64 = 0;
        if (len == 8) {
            memcpy(&u64, v, 8);
            u64 = be64toh(u64);
        }
        memcpy(d, &u64, sizeof *d);
        *is_int = 0;
        return 1;
    default: return 0;
    }
}

/*
 * Reads a number column: 1 with the value, 0 for NULL. A binary column's length
 * tells NULL (0: no binary number is empty) without asking libpq twice.
 */
static int number(pg_rows *r, int col, int64_t *i, double *d, int *is_int)
{
    if (col < r->nfields && r->btype[col] != 0) {
        int len = PQgetlength(r->res, r->row, col);
        if (len == 0 && PQgetisnull(r->res, r->row, col))
            return 0;
        if (len > 0 && bin_number(r, col, len, i, d, is_int))
            return 1;
    } else if (PQgetisnull(r->res, r->row, col)) {
        return 0;
    }
    *is_int = 1;
    *i = strtoll(PQgetvalue(r->res, r->row, col), NULL, 10);
    *d = (double)*i;
    return 1;
}

/* A number column as an integer; if_null when NULL (number() tells it by the length). */
static int64_t integer_or(tia__rows *rr, int col, int64_t if_null)
{
    int64_t i = 0;
    double d = 0;
    int is_int = 1;
    if (!number((pg_rows *)rr, col, &i, &d, &is_int))
        return if_null;
    return is_int ? i : (int64_t)d;
}

/*
 * The 8 bytes of a binary column of an 8-byte type (int8, float8, timestamptz) as
 * a host integer: 1, or 0 for NULL (the only empty value of these types), or -1
 * when the column is not of type oid (number() then reads it). The fast path of
 * the typed reads: two libpq questions and a byte swap, where a page of tasks
 * reads about twenty such values per row.
 */
static int bin8(pg_rows *r, int col, Oid oid, uint64_t *out)
{
    if (col >= r->nfields || r->btype[col] != oid)
        return -1;
    int len = PQgetlength(r->res, r->row, col);
    if (len != 8)
        return len == 0 ? 0 : -1;
    memcpy(out, PQgetvalue(r->res, r->row, col), 8);
    *out = be64toh(*out);
    return 1;
}

static int64_t pg_col_int(tia__rows *rr, int col)
{
    pg_rows *r = (pg_rows *)rr;
    if (col < r->nfields && r->btype[col] == OID_INT4) { /* most counters are integer */
        int len = PQgetlength(r->res, r->row, col);
        uint32_t u;
        if (len == 4) {
            memcpy(&u, PQgetvalue(r->res, r->row, col), 4);
            return (int32_t)be32toh(u);
        }
        if (len == 0)
            return 0; /* NULL */
    }
    uint64_t u;
    int got = bin8(r, col, OID_INT8, &u);
    if (got >= 0)
        return got ? (int64_t)u : 0;
    return integer_or(rr, col, 0);
}

static double pg_col_double(tia__rows *rr, int col)
{
    pg_rows *r = (pg_rows *)rr;
    int64_t i = 0;
    double d = 0;
    int is_int = 1;
    uint64_t u;
    int got = bin8(r, col, OID_FLOAT8, &u);
    if (got >= 0) {
        memcpy(&d, &u, sizeof d);
        return got ? d : 0.0;
    }
    if (!(col < r->nfields && r->btype[col] != 0)) { /* text: keep its precision */
        if (PQgetisnull(r->res, r->row, col))
            return 0.0;
        return strtod(PQgetvalue(r->res, r->row, col), NULL);
    }
    if (!number(r, col, &i, &d, &is_int))
        return 0.0;
    return is_int ? (double)i : d;
}

/* One libpq question less than asking for NULL first. */
static int64_t pg_col_time(tia__rows *rr, int col)
{
    uint64_t u;
    int got = bin8((pg_rows *)rr, col, OID_TIMESTAMPTZ, &u);
    if (got == 0)
        return TIA_TIME_NONE;
    if (got > 0) {
        int64_t t = (int64_t)u;
        /* 'infinity' and '-infinity' are the int64 extremes: kept, not shifted (as number()). */
        return t == INT64_MAX || t == INT64_MIN ? t : t + PG_EPOCH_US;
    }
    return integer_or(rr, col, TIA_TIME_NONE);
}

/*
 * A binary NUMERIC (numeric_send: the count of base-10000 digits, the weight of
 * the first, the sign, the display scale, then the digits) in micro-units, with
 * the text form's rounding (half away from zero past the sixth decimal). NaN and
 * infinities: 0; beyond int64: its limit. Sets *ok to 0 when malformed.
 */
static int64_t numeric_micros(const char *v, int len, int *ok)
{
    *ok = 0;
    if (len < 8)
        return 0;
    uint16_t h[4];
    memcpy(h, v, sizeof h);
    int ndigits = (int16_t)be16toh(h[0]), weight = (int16_t)be16toh(h[1]);
    uint16_t sign = be16toh(h[2]);
    if (ndigits < 0 || len != 8 + 2 * ndigits)
        return 0;
    *ok = 1;
    if (sign != 0x0000 && sign != 0x4000)
        return 0; /* NaN, Infinity, -Infinity */
    /* Each digit d at base-10000 exponent e is d * 10^(4e + 6) micro-units. */
    unsigned __int128 m = 0;
    int round_up = 0;
    for (int i = 0; i < ndigits; i++) {
        uint16_t d16;
        memcpy(&d16, v + 8 + 2 * i, 2);
        uint64_t d = be16toh(d16);
        int e = weight - i;
        if (e > 3) { /* 10^22 micro-units and more: past the limit */
            m = (unsigned __int128)INT64_MAX;
            break;
        }
        if (e >= 0) {
            uint64_t scale = 1000000;
            for (int k = 0; k < e; k++)
                scale *= 10000;
            m += (unsigned __int128)d * scale;
        } else if (e == -1) {
            m += d * 100;
        } else if (e == -2) {
            m += d / 100;
            round_up = d % 100 >= 50;
        }
    }
    m += (unsigned)round_up;
    if (m > (unsigned __int128)INT64_MAX)
        m = (unsigned __int128)INT64_MAX;
    return sign == 0x4000 ? -(int64_t)m : (int64_t)m;
}

static int64_t pg_col_cost(tia__rows *rr, int col)
{
    pg_rows *r = (pg_rows *)rr;
    if (col < r->nfields && r->btype[col] == OID_NUMERIC) {
        int len = PQgetlength(r->res, r->row, col), ok = 0;
        if (len == 0 && PQgetisnull(r->res, r->row, col))
            return 0;
        int64_t v = numeric_micros(PQgetvalue(r->res, r->row, col), len, &ok);
        if (ok)
            return v;
    }
    const char *t = pg_col_text(rr, col);
    int64_t v = 0;
    if (t != NULL && tia_cost_parse(t, &v) != 0) {
        /* A sum may carry more than 6 decimals; round half away from zero. */
        double d = strtod(t, NULL) * 1e6;
        v = (int64_t)(d < 0 ? d - 0.5 : d + 0.5);
    }
    return v;
}

/* Asked only after writes: a read's rows are not counted from the command tag. */
static int64_t pg_rows_changes(tia__rows *rr)
{
    const char *ct = PQcmdTuples(((pg_rows *)rr)->res);
    return (ct && *ct) ? strtoll(ct, NULL, 10) : 0;
}

static void pg_rows_free(tia__rows *rr)
{
    pg_rows *r = (pg_rows *)rr;
    PQclear(r->res);
    free(r);
}

static int pg_exec_script(tia_store *s, const char *sql, tia_error *err)
{
    /* A script never carries a guard: it waits for the guard run alone, as a write. */
    tia__guard *g = guard_of(s);
    if (g != NULL && !g->done)
        guard_run(s, g);
    if (g != NULL && g->rc != 0)
        return tia_error_set(err, TIA_EAUTH, "script not run: the check %s failed", g->q->name);
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
    .query = pg_query,
    .exec_script = pg_exec_script,
    .rows_next = pg_rows_next,
    .col_isnull = pg_col_isnull,
    .col_text = pg_col_text,
    .col_texts = pg_col_texts,
    .col_uuid = pg_col_uuid,
    .col_int = pg_col_int,
    .col_double = pg_col_double,
    .col_cost = pg_col_cost,
    .col_time = pg_col_time,
    .rows_changes = pg_rows_changes,
    .rows_free = pg_rows_free,
    .close = pg_close,
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
     * default random_page_cost (4) models spinning disks: with it an agent's page of
     * tasks is read by scanning idx_tasks_created_at and filtering out the other
     * agents' rows, work that grows as the agent's share of the tasks shrinks; with
     * 1.1, the usual value for SSDs and cached data, it reads the page's rows from
     * idx_tasks_agent_created_id, whatever the agent (docs/architecture.md). The
     * replica's own
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
    if (!PQregisterEventProc(c, guard_event, "tokyoia guard", NULL)) {
        PQfinish(c);
        return tia_error_set(err, TIA_ENOMEM, "out of memory connecting to PostgreSQL");
    }
    s->conn = c;
    s->ops = &pg_ops;
    return 0;
}
