/*
 * The table each backend (pg.c, sqlite.c) fills in, and the store handle that
 * holds it. Only store.c, replica.c and the two backends include this, and, for
 * tia__store_conn alone, src/ops/backup*.c and tests/db/test_backup.c.
 */
#ifndef TIA_STORE_BACKEND_H
#define TIA_STORE_BACKEND_H

#include "core/uuid.h"
#include "store/db.h"

typedef struct tia__backend_ops {
    int (*query)(tia_store *s, const tia__sql *q, const tia__param *p, int n, tia__rows **out,
                 tia_error *err);
    int (*exec_script)(tia_store *s, const char *sql, tia_error *err);
    int (*rows_next)(tia__rows *r, tia_error *err);
    int (*col_isnull)(tia__rows *r, int col);
    const char *(*col_text)(tia__rows *r, int col);
    /* tia__col_texts with the column base applied: cols[i] + base (db.h). */
    size_t (*col_texts)(tia__rows *r, int base, const int *cols, int n, const char **text,
                        size_t *len);
    void (*col_uuid)(tia__rows *r, int col, char out[TIA_UUID_BUF]); /* tia__col_uuid */
    int64_t (*col_int)(tia__rows *r, int col);
    double (*col_double)(tia__rows *r, int col);
    int64_t (*col_cost)(tia__rows *r, int col);
    int64_t (*col_time)(tia__rows *r, int col); /* TIA_TIME_NONE for NULL */
    int64_t (*rows_changes)(tia__rows *r);
    void (*rows_free)(tia__rows *r);
    void (*close)(tia_store *s);
} tia__backend_ops;

/*
 * Every backend's rows struct starts with this header, so that store.c can
 * dispatch and apply the column base (tia__rows_set_base) without knowing it.
 */
typedef struct tia__rows_head {
    tia_store *store;
    int base;
} tia__rows_head;

/*
 * Statements prepared on this connection, looked up by the tia__sql's address.
 * Room for every cached statement of the library (about 350, 160 of them the
 * task lists' page sizes and filters) with some to spare. A statement met when
 * the cache is full still runs, unprepared (parsed and planned at that call, as
 * an uncached one): a long-lived connection that has served every kind of
 * request must not start refusing new ones.
 */
#define TIA__STMT_CACHE 512

struct tia_store {
    tia_backend backend;
    const tia__backend_ops *ops;
    void *conn; /* PGconn * or sqlite3 * */
    const tia__sql *stmt_keys[TIA__STMT_CACHE];
    void *stmt_vals[TIA__STMT_CACHE]; /* sqlite3_stmt *, or the PG name's index */
    int n_stmts;
    int in_txn;
    int pinned; /* routed reads stay on the primary (tia_store_read_primary) */
    tia__uuid_gen uuid;
    struct tia__replica *replica; /* the read replica (replica.c), NULL without one */
};

/*
 * Opens a PostgreSQL connection. read_only: the replica's connection (replica.c),
 * with application_name tokyoia-read and every transaction read-only, so that a
 * read URL that names a primary by mistake still cannot be written through.
 */
int tia__pg_open(tia_store *s, const char *conninfo, const tia_store_options *o, int read_only,
                 tia_error *err);
/* 1 when conninfo parses as libpq connection parameters; else 0 with libpq's message in err. */
int tia__pg_conninfo_ok(const char *conninfo, tia_error *err);
int tia__sqlite_open(tia_store *s, const char *path, const tia_store_options *o, tia_error *err);

/*
 * The backend's own connection (PGconn * or sqlite3 *, by tia_store_backend), for
 * the operations that must reach past db.h: backups read its connection
 * parameters or its file name, and SQLite's backup API writes through it.
 */
void *tia__store_conn(tia_store *s);

/* Index of q in the statement cache, or -1. */
int tia__stmt_find(const tia_store *s, const tia__sql *q);

/* 1 when url names a PostgreSQL database (URL or libpq key=value), else 0 (SQLite). */
int tia__url_is_postgres(const char *url);

/*
 * replica.c: the read replica of a PostgreSQL store. check refuses (TIA_EINVAL)
 * a read URL for a SQLite database, or one that is not a PostgreSQL URL, before
 * anything is opened; open then connects o->read_url for s.
 */
int tia__replica_check(tia_backend primary, const tia_store_options *o, tia_error *err);
int tia__replica_open(tia_store *s, const tia_store_options *o, tia_error *err);
void tia__replica_close(tia_store *s);

/* A uuid column's text into out, "" for NULL, cut at a uuid's length (the backends' col_uuid). */
void tia__copy_uuid_text(const char *v, char out[TIA_UUID_BUF]);

#endif
