/*
 * Test support: fresh databases on the backend a test run is for, and raw SQL for
 * the tests that must reach past the library (CHECKs, triggers, recomputing
 * counters). The backend comes from TIA_TEST_BACKEND ("sqlite" or "pg"); for pg,
 * TIA_TEST_PG_STATE names the file where scripts/pg-test-cluster.sh wrote the
 * cluster's conninfo. Each fresh database is a new SQLite file in a new temporary
 * directory, or a new PostgreSQL database, migrated; it is removed on close.
 */
#ifndef TIA_TEST_H
#define TIA_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <tokyoia/store.h>

#include "store/db.h"

/* 1 on PostgreSQL. */
int tia_test_is_pg(void);

/* URL of a new, empty database (no migrations); malloc'd. Fails the test on error. */
char *tia_test_new_db_url(void);

/* Opens a new database with every migration applied. Fails the test on error. */
tia_store *tia_test_open(void);

/* Opens another connection to the database s was opened on (same URL). */
tia_store *tia_test_reopen(tia_store *s);

/* URL that s was opened with (valid until tia_test_close). */
const char *tia_test_url(tia_store *s);

/* Closes s and drops its database (other connections to it must be closed). */
void tia_test_close(tia_store *s);

/*
 * Options for every store a test opens: the library's defaults, but for a SQLite
 * busy timeout from $TIA_TEST_BUSY_TIMEOUT_MS when set (scripts/valgrind-tests.sh:
 * under valgrind a transaction can outlast the default 5 s).
 */
const tia_store_options *tia_test_store_options(void);

/* Runs raw SQL for this backend (pg or sqlite text); returns the tia code. */
int tia_test_exec(tia_store *s, const char *pg_sql, const char *sqlite_sql, tia_error *err);

/* First column of the first row as int64 (fails the test when there is no row). */
int64_t tia_test_int(tia_store *s, const char *pg_sql, const char *sqlite_sql);

/* First column of the first row as text, malloc'd (NULL for SQL NULL). */
char *tia_test_text(tia_store *s, const char *pg_sql, const char *sqlite_sql);

/* Asserts rc == want, printing both codes and the error message. */
#define TIA_ASSERT_RC(rc, want, err)                                                        \
    do {                                                                                    \
        int rc_ = (rc);                                                                     \
        if (rc_ != (want))                                                                  \
            fail_msg("%s: got %d (%s), want %d (%s): %s", #rc, rc_, tia_strerror(rc_),      \
                     (int)(want), tia_strerror(want), (err)->message);                     \
    } while (0)

#define TIA_OK_OR_FAIL(rc, err) TIA_ASSERT_RC(rc, 0, err)

#endif
