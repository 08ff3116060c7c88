/*
 * The internal interface every store module is written against, so that each
 * operation is written once for both backends. A statement is a tia__sql: one
 * text per dialect, prepared on first use and cached per connection. Parameters
 * are typed values the backend binds in its own way (PostgreSQL gets text,
 * SQLite native types); result columns are read through accessors that hide how
 * each backend returns them (money as NUMERIC text or integer micro-dollars).
 *
 * Dialect rules for the SQL texts: PostgreSQL uses $1..$n with casts
 * ($1::uuid, $2::jsonb); SQLite uses ?1..?n. Timestamps travel as int64
 * microseconds: PostgreSQL selects them with TIA_PG_US(col) (as they are in a
 * binary statement, tia__sql.binary) and takes them with TIA_PG_TS($n); SQLite
 * stores them as integers already. Money travels as micro-dollars (TIA__P_COST /
 * tia__col_cost).
 */
#ifndef TIA_STORE_DB_H
#define TIA_STORE_DB_H

#include <stdint.h>

#include <tokyoia/sessions.h>
#include <tokyoia/store.h>

/* PostgreSQL: a timestamptz column as int64 microseconds since the epoch. */
#define TIA_PG_US(col) "(extract(epoch from " col ") * 1000000)::int8"
/* PostgreSQL: parameter n (int64 microseconds) as a timestamptz. */
#define TIA_PG_TS(n) "('epoch'::timestamptz + $" #n "::int8 * interval '1 microsecond')"
/* SQLite: the current time in microseconds (SQLite's clock has millisecond resolution). */
#define TIA_SQLITE_NOW "(CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000)"

typedef struct tia__sql {
    const char *name; /* for messages: "task.insert" */
    const char *pg;
    const char *sqlite;
    int uncached; /* 1: run once, not kept in the statement cache (ad-hoc SQL) */
    /*
     * 1: a write that no routed read depends on (a session's last activity), so it
     * does not pin the handle to the primary (tia_store_read_primary).
     */
    int keeps_reads;
    /*
     * 1: PostgreSQL sends the rows in its binary format (pg.c), which spares the
     * server a text conversion per value: a timestamptz column is selected as it
     * is (no TIA_PG_US) and read with tia__col_time; integers and float8 are read
     * with tia__col_int / tia__col_double; uuid and jsonb columns are read as
     * text as they are (a binary uuid's text lives until the next read of its
     * column); no array column (its bytes are not text: the agents' specialties
     * are read packed, migration 0016); a NUMERIC column is read
     * with tia__col_cost (micro-units); every other column read as text
     * (tia__col_text, tia__col_dup) must be text on the server, so other types
     * are cast ::text, under an alias when an ORDER BY names the column. SQLite
     * ignores it.
     */
    int binary;
} tia__sql;

/*
 * What joins the elements of a packed array (agents.specialties_packed on both
 * backends): a character the library refuses inside an element.
 */
#define TIA__ARRAY_SEP '\x1f'

typedef enum tia__ptype {
    TIA__P_NULL = 0,
    TIA__P_TEXT,
    TIA__P_INT,
    TIA__P_DOUBLE,
    TIA__P_COST, /* int64 micro-dollars */
    TIA__P_BOOL,
    TIA__P_TIME /* int64 microseconds; PostgreSQL gets ISO-8601 text for $n::timestamptz */
} tia__ptype;

typedef struct tia__param {
    tia__ptype type;
    const char *s;
    int64_t i;
    double d;
} tia__param;

/* Parameter constructors. tia__p_text(NULL) is a NULL parameter. */
tia__param tia__p_text(const char *s);
tia__param tia__p_int(int64_t i);
tia__param tia__p_double(double d);
tia__param tia__p_cost(int64_t micros);
tia__param tia__p_bool(int b);
tia__param tia__p_null(void);
/* A timestamp as an int64 parameter (TIA_PG_TS): TIA_TIME_NONE becomes NULL. */
tia__param tia__p_time(tia_time_us t);
/*
 * A timestamp for "$n::timestamptz" on PostgreSQL (an int64 on SQLite). A constant
 * of the parameter's own type lets a generic plan compare it to an indexed column
 * directly, where TIA_PG_TS's arithmetic is evaluated again for every row.
 */
tia__param tia__p_ts(tia_time_us t);

typedef struct tia__rows tia__rows;

/*
 * Runs a statement (prepared once per connection) and returns its rows. The
 * rows must be freed before the same statement runs again on this store.
 * Errors are mapped: foreign key -> TIA_ENOTFOUND, CHECK / NOT NULL / bad value
 * -> TIA_EINVAL, unique -> TIA_ECONFLICT, lock -> TIA_EBUSY, missing table ->
 * TIA_ESCHEMA, lost connection -> TIA_EUNAVAIL; the message names the statement
 * and quotes the database.
 */
int tia__db_query(tia_store *s, const tia__sql *q, const tia__param *params, int n,
                  tia__rows **out, tia_error *err);

/*
 * The read routing, all of it: runs a read-only statement (a SELECT that no write
 * of the same call depends on) on the store's read replica when it has one that
 * is up, not lagging, and the handle is neither in a transaction nor pinned
 * (tia_store_read_primary; writes pin); otherwise on the primary. A replica that
 * fails the statement is marked down (one warning) and the statement runs again
 * on the primary, so the caller sees the primary's answer, never the replica's
 * error. The rows belong to whichever connection answered; use and free them as
 * tia__db_query's. The calls that use it are listed at tia_store_options.read_url.
 */
int tia__db_read(tia_store *s, const tia__sql *q, const tia__param *params, int n,
                 tia__rows **out, tia_error *err);

/* Runs a statement and discards its rows; *changes (may be NULL) gets the rows affected. */
int tia__db_exec(tia_store *s, const tia__sql *q, const tia__param *params, int n,
                 int64_t *changes, tia_error *err);

/* Steps: 1 with a row, 0 at the end, < 0 on error. */
int tia__rows_next(tia__rows *r, tia_error *err);
int tia__col_isnull(tia__rows *r, int col);
/* Text of a column, NULL when NULL; valid until the next step. */
const char *tia__col_text(tia__rows *r, int col);
int64_t tia__col_int(tia__rows *r, int col);    /* 0 when NULL */
double tia__col_double(tia__rows *r, int col);  /* 0 when NULL */
int64_t tia__col_cost(tia__rows *r, int col);   /* micro-dollars, 0 when NULL */
tia_time_us tia__col_time(tia__rows *r, int col); /* TIA_TIME_NONE when NULL */
/* malloc'd copy of the text, NULL when NULL (sets *oom when the copy fails). */
char *tia__col_dup(tia__rows *r, int col, int *oom);
/*
 * Records read as one allocation (agents, interactions, tasks): tia__col_texts
 * reads the n text columns cols[] into text[] and len[] (lengths with the NUL; 0
 * for NULL) and returns the bytes they need; tia__pack_texts copies them to p,
 * points *dst[i] at each copy (a NULL column leaves *dst[i] as it is) and returns
 * the end of what it wrote.
 */
size_t tia__col_texts(tia__rows *r, const int *cols, int n, const char **text, size_t *len);
char *tia__pack_texts(char *p, const char *const *text, const size_t *len, char **const *dst,
                      int n);
/* A uuid column's text into out; "" when NULL (text longer than a uuid is cut). */
void tia__col_uuid(tia__rows *r, int col, char out[TIA_UUID_BUF]);
void tia__rows_free(tia__rows *r);
/*
 * Makes column `base` the column 0 of every accessor from now on, so that one
 * record decoder serves a joined row whose record starts further right.
 */
void tia__rows_set_base(tia__rows *r, int base);

/*
 * A guard: a check that must pass before anything else runs on a store, sent to
 * PostgreSQL in the same round trip as the next statement when that statement
 * reads (libpq pipeline mode). What an authenticated read costs is then one
 * round trip, not two; the guard is not cached, it runs every time.
 *
 * The guard is a statement that fails (an SQL error) when its check does not
 * pass. Sent together with a read, the two run in one implicit transaction and
 * the server skips the read when the guard fails; sent before a statement that
 * does not read, or in a transaction, it runs alone first. Once the guard has
 * failed, every statement on the store fails with TIA_EAUTH without running,
 * until tia__db_guard_finish takes the verdict.
 */
typedef struct tia__guard {
    const tia__sql *q; /* set by the caller; a cached statement (not uncached) */
    tia__param params[2];
    int n;
    /* set when it has run: */
    int done;
    int rc;          /* 0, or the guard's failure as tia__db_query reports it */
    tia__rows *rows; /* its rows when rc == 0: the caller frees them */
    tia_error err;
} tia__guard;

/*
 * Queues g (which must stay valid until tia__db_guard_finish) to run with the
 * next statement on s. TIA_EINVAL, with nothing queued, when s cannot: SQLite
 * (no round trip to save), a transaction, a read replica (the read that would
 * carry the guard may go there), or a guard already queued; the caller then runs
 * its check itself.
 */
int tia__db_guard(tia_store *s, tia__guard *g, tia_error *err);

/*
 * Runs g now if no statement has carried it yet, unqueues it, and returns its
 * verdict: 0 (g->rows holds its rows), or g->rc with g->err copied to err.
 */
int tia__db_guard_finish(tia_store *s, tia__guard *g, tia_error *err);

/*
 * A session token checked as a guard (sessions.c): the same verdict as
 * tia_session_validate, with the lookup sent ahead of the request's first read.
 * begin refuses a malformed token (TIA_EAUTH) at once; otherwise it queues the
 * lookup (chk->queued = 1) or, where no guard can be queued, leaves the whole
 * check to end (chk->queued = 0). end gives tia_session_validate's answer: a
 * session that fails the quick check is looked at again by tia_session_validate
 * itself, which says why (unknown, revoked, expired) and marks an expired one.
 * token must stay valid until end.
 */
typedef struct tia__session_check {
    tia__guard guard;
    const char *token;
    char hash[65];
    int queued;
} tia__session_check;

int tia__session_check_begin(tia_store *s, const char *token, tia__session_check *chk,
                             tia_error *err);
int tia__session_check_end(tia_store *s, tia__session_check *chk, tia_session **out,
                           tia_error *err);

/* Transactions. begin is BEGIN IMMEDIATE on SQLite. rollback never fails loudly. */
int tia__db_begin(tia_store *s, tia_error *err);
int tia__db_commit(tia_store *s, tia_error *err);
void tia__db_rollback(tia_store *s);

/* Runs a script of several statements without parameters (migrations). */
int tia__db_exec_script(tia_store *s, const char *sql, tia_error *err);

/* Generates a UUIDv7 (lowercase text) from the store's generator. */
void tia__store_uuid7(tia_store *s, char out[TIA_UUID_BUF]);

#endif
