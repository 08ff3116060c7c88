/*
 * The guards of store/db.h (a check sent ahead of the next statement, in the
 * same round trip when that statement reads) and the session check built on
 * them, on the backend named by TIA_TEST_BACKEND. On PostgreSQL: a guard travels
 * with the next read (the two share one implicit transaction, which only one
 * round trip gives); a failed guard makes the server skip the read (a sequence
 * the read would advance stays unused) and every later statement, or script,
 * fail with TIA_EAUTH unrun until the verdict is taken; a write waits for the
 * guard run alone; a guard that no statement carried runs at finish; none is
 * queued in a transaction or twice. On SQLite none is queued at all. On both, the session
 * check gives tia_session_validate's verdicts (good, unknown, revoked, expired
 * and marked so), and a revocation through another connection is refused at the
 * very next check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tia_test.h"

#include <tokyoia/sessions.h>

#define HOUR_US (INT64_C(3600) * 1000000)

/* Fails (division by zero) when its parameter is 0; says when its transaction began. */
static const tia__sql sql_check = {
    "test.check",
    "SELECT 1 / $1::int, transaction_timestamp()::text",
    "SELECT 1 / ?1, 'sqlite'",
};

static const tia__sql sql_when = {
    "test.when",
    "SELECT transaction_timestamp()::text",
    "SELECT 'sqlite'",
};

/* A read with a trace: it takes a number from a sequence. */
static const tia__sql sql_next = {
    "test.next",
    "SELECT nextval('guard_test_seq')",
    "SELECT 1",
};

static const tia__sql sql_insert = {
    "test.insert",
    "INSERT INTO guard_test (v) VALUES ($1::int)",
    "INSERT INTO guard_test (v) VALUES (?1)",
};

static void make_tables(tia_store *s)
{
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_test_exec(s, "CREATE TABLE guard_test (v integer)",
                                 "CREATE TABLE guard_test (v integer)", &err),
                   &err);
    if (tia_test_is_pg())
        TIA_OK_OR_FAIL(tia_test_exec(s, "CREATE SEQUENCE guard_test_seq", NULL, &err), &err);
}

static tia__guard check_guard(int pass)
{
    tia__guard g = {0};
    g.q = &sql_check;
    g.params[0] = tia__p_int(pass ? 1 : 0);
    g.n = 1;
    return g;
}

/* The single text of a one-row, one-column statement (malloc'd). */
static char *read_text(tia_store *s, const tia__sql *q, int *rc, tia_error *err)
{
    tia__rows *r = NULL;
    char *out = NULL;
    *rc = tia__db_read(s, q, NULL, 0, &r, err);
    if (*rc == 0 && tia__rows_next(r, err) > 0)
        out = strdup(tia__col_text(r, 0));
    tia__rows_free(r);
    return out;
}

/* Seen from another connection: was the sequence ever used, and how many rows were written. */
static int64_t seq_used(tia_store *other)
{
    return tia_test_int(other, "SELECT CASE WHEN is_called THEN 1 ELSE 0 END FROM guard_test_seq",
                        "SELECT 0");
}

static int64_t rows_written(tia_store *other)
{
    return tia_test_int(other, "SELECT count(*) FROM guard_test",
                        "SELECT count(*) FROM guard_test");
}

static void test_guard_rides_with_read(void **state)
{
    (void)state;
    if (!tia_test_is_pg())
        return; /* SQLite queues no guard: test_sqlite_queues_none */
    tia_store *s = tia_test_open();
    tia_error err = {0};
    int rc;
    tia__guard g = check_guard(1);
    TIA_OK_OR_FAIL(tia__db_guard(s, &g, &err), &err);
    char *when = read_text(s, &sql_when, &rc, &err);
    TIA_OK_OR_FAIL(rc, &err);
    assert_int_equal(g.done, 1); /* the read carried it */
    TIA_OK_OR_FAIL(tia__db_guard_finish(s, &g, &err), &err);
    assert_non_null(g.rows);
    assert_int_equal(tia__rows_next(g.rows, &err), 1);
    assert_int_equal(tia__col_int(g.rows, 0), 1);
    /* One implicit transaction: they went to the server together. */
    assert_string_equal(tia__col_text(g.rows, 1), when);
    tia__rows_free(g.rows);
    free(when);

    /* Without a guard the same two are two transactions: the check above can fail. */
    tia__rows *r = NULL;
    tia__param one = tia__p_int(1);
    TIA_OK_OR_FAIL(tia__db_query(s, &sql_check, &one, 1, &r, &err), &err);
    assert_int_equal(tia__rows_next(r, &err), 1);
    char *first = strdup(tia__col_text(r, 1));
    tia__rows_free(r);
    when = read_text(s, &sql_when, &rc, &err);
    TIA_OK_OR_FAIL(rc, &err);
    assert_string_not_equal(first, when);
    free(first);
    free(when);
    tia_test_close(s);
}

static void test_failed_guard_runs_nothing(void **state)
{
    (void)state;
    if (!tia_test_is_pg())
        return;
    tia_store *s = tia_test_open();
    make_tables(s);
    tia_store *other = tia_test_reopen(s);
    tia_error err = {0};
    int rc;
    tia__guard g = check_guard(0);
    TIA_OK_OR_FAIL(tia__db_guard(s, &g, &err), &err);
    /* The read went with the guard, and the server skipped it. */
    char *got = read_text(s, &sql_next, &rc, &err);
    assert_null(got);
    TIA_ASSERT_RC(rc, TIA_EAUTH, &err);
    assert_non_null(strstr(err.message, "test.check"));
    assert_int_equal(seq_used(other), 0);
    /* Nothing else runs either, reads or writes, until the verdict is taken. */
    got = read_text(s, &sql_next, &rc, &err);
    TIA_ASSERT_RC(rc, TIA_EAUTH, &err);
    tia__param v = tia__p_int(7);
    TIA_ASSERT_RC(tia__db_exec(s, &sql_insert, &v, 1, NULL, &err), TIA_EAUTH, &err);
    TIA_ASSERT_RC(tia__db_exec_script(s, "CREATE TABLE guard_script (v integer)", &err),
                  TIA_EAUTH, &err);
    assert_int_equal(seq_used(other), 0);
    assert_int_equal(rows_written(other), 0);
    assert_int_equal(tia_test_int(other,
                                  "SELECT count(*) FROM pg_tables WHERE tablename = 'guard_script'",
                                  NULL),
                     0);
    /* The verdict is the guard's own failure. */
    TIA_ASSERT_RC(tia__db_guard_finish(s, &g, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "division by zero"));
    assert_null(g.rows);
    /* Then the store works as before. */
    got = read_text(s, &sql_next, &rc, &err);
    TIA_OK_OR_FAIL(rc, &err);
    assert_string_equal(got, "1");
    free(got);
    TIA_OK_OR_FAIL(tia__db_exec(s, &sql_insert, &v, 1, NULL, &err), &err);
    assert_int_equal(rows_written(other), 1);
    tia_store_close(other);
    tia_test_close(s);
}

static void test_write_waits_for_guard(void **state)
{
    (void)state;
    if (!tia_test_is_pg())
        return;
    tia_store *s = tia_test_open();
    make_tables(s);
    tia_store *other = tia_test_reopen(s);
    tia_error err = {0};
    /* A write is not sent behind the guard: the guard runs alone first. */
    tia__guard g = check_guard(1);
    TIA_OK_OR_FAIL(tia__db_guard(s, &g, &err), &err);
    tia__param v = tia__p_int(1);
    TIA_OK_OR_FAIL(tia__db_exec(s, &sql_insert, &v, 1, NULL, &err), &err);
    TIA_OK_OR_FAIL(tia__db_guard_finish(s, &g, &err), &err);
    assert_int_equal(tia__rows_next(g.rows, &err), 1);
    char *guard_when = strdup(tia__col_text(g.rows, 1));
    tia__rows_free(g.rows);
    assert_int_equal(rows_written(other), 1);

    /* A failed guard stops the write. */
    g = check_guard(0);
    TIA_OK_OR_FAIL(tia__db_guard(s, &g, &err), &err);
    TIA_ASSERT_RC(tia__db_exec(s, &sql_insert, &v, 1, NULL, &err), TIA_EAUTH, &err);
    TIA_ASSERT_RC(tia__db_guard_finish(s, &g, &err), TIA_EINVAL, &err);
    assert_int_equal(rows_written(other), 1);

    /* A transaction's statements are not sent ahead of it either. */
    g = check_guard(1);
    TIA_OK_OR_FAIL(tia__db_guard(s, &g, &err), &err);
    TIA_OK_OR_FAIL(tia__db_begin(s, &err), &err);
    assert_int_equal(g.done, 1);
    TIA_OK_OR_FAIL(tia__db_exec(s, &sql_insert, &v, 1, NULL, &err), &err);
    TIA_OK_OR_FAIL(tia__db_commit(s, &err), &err);
    TIA_OK_OR_FAIL(tia__db_guard_finish(s, &g, &err), &err);
    assert_int_equal(tia__rows_next(g.rows, &err), 1);
    assert_string_not_equal(tia__col_text(g.rows, 1), guard_when);
    tia__rows_free(g.rows);
    free(guard_when);
    assert_int_equal(rows_written(other), 2);
    tia_store_close(other);
    tia_test_close(s);
}

static void test_guard_alone_and_refusals(void **state)
{
    (void)state;
    if (!tia_test_is_pg())
        return;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    /* No statement carried it: finish runs it. */
    tia__guard g = check_guard(1);
    TIA_OK_OR_FAIL(tia__db_guard(s, &g, &err), &err);
    assert_int_equal(g.done, 0);
    TIA_OK_OR_FAIL(tia__db_guard_finish(s, &g, &err), &err);
    assert_int_equal(g.done, 1);
    assert_int_equal(tia__rows_next(g.rows, &err), 1);
    assert_int_equal(tia__col_int(g.rows, 0), 1);
    tia__rows_free(g.rows);
    g = check_guard(0);
    TIA_OK_OR_FAIL(tia__db_guard(s, &g, &err), &err);
    TIA_ASSERT_RC(tia__db_guard_finish(s, &g, &err), TIA_EINVAL, &err);

    /* One at a time, and none in a transaction. */
    tia__guard a = check_guard(1), b = check_guard(1);
    TIA_OK_OR_FAIL(tia__db_guard(s, &a, &err), &err);
    TIA_ASSERT_RC(tia__db_guard(s, &b, &err), TIA_EINVAL, &err);
    TIA_OK_OR_FAIL(tia__db_guard_finish(s, &a, &err), &err);
    tia__rows_free(a.rows);
    TIA_ASSERT_RC(tia__db_guard_finish(s, &b, &err), TIA_EINVAL, &err); /* never queued */
    TIA_OK_OR_FAIL(tia__db_begin(s, &err), &err);
    TIA_ASSERT_RC(tia__db_guard(s, &b, &err), TIA_EINVAL, &err);
    tia__db_rollback(s);
    tia_test_close(s);
}

static void test_sqlite_queues_none(void **state)
{
    (void)state;
    if (tia_test_is_pg())
        return;
    tia_store *s = tia_test_open();
    make_tables(s);
    tia_error err = {0};
    tia__guard g = check_guard(0);
    TIA_ASSERT_RC(tia__db_guard(s, &g, &err), TIA_EINVAL, &err);
    /* Nothing queued: statements run as ever. */
    tia__param v = tia__p_int(1);
    TIA_OK_OR_FAIL(tia__db_exec(s, &sql_insert, &v, 1, NULL, &err), &err);
    assert_int_equal(rows_written(s), 1);
    tia_test_close(s);
}

static void new_session(tia_store *s, const char *user, int64_t ttl, char token[TIA_TOKEN_BUF],
                        char id[TIA_UUID_BUF])
{
    tia_error err = {0};
    tia_session_new n = {user, NULL, NULL, ttl};
    TIA_OK_OR_FAIL(tia_session_create(s, &n, token, id, &err), &err);
}

/* A session check around one read, as the server makes it; returns end's code. */
static int check_around_read(tia_store *s, const char *token, tia_session **out, int *read_rc,
                             tia_error *err)
{
    tia__session_check chk;
    *out = NULL;
    int rc = tia__session_check_begin(s, token, &chk, err);
    if (rc != 0)
        return rc;
    assert_int_equal(chk.queued, tia_test_is_pg());
    char *when = read_text(s, &sql_when, read_rc, err);
    free(when);
    return tia__session_check_end(s, &chk, out, err);
}

static void test_session_check(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_store *other = tia_test_reopen(s);
    tia_error err = {0};
    tia_session *sess = NULL;
    int read_rc = -1;
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    new_session(s, "alice", HOUR_US, tok, id);

    TIA_OK_OR_FAIL(check_around_read(s, tok, &sess, &read_rc, &err), &err);
    assert_int_equal(read_rc, 0);
    assert_non_null(sess);
    assert_string_equal(sess->id, id);
    assert_string_equal(sess->user_id, "alice");
    assert_int_equal(sess->status, TIA_SESSION_ACTIVE);
    tia_session_free(sess);

    /* Unknown: refused, and the read behind the check did not run. */
    char unknown[TIA_TOKEN_BUF];
    memcpy(unknown, tok, sizeof unknown);
    unknown[10] = unknown[10] == 'a' ? 'b' : 'a';
    TIA_ASSERT_RC(check_around_read(s, unknown, &sess, &read_rc, &err), TIA_EAUTH, &err);
    assert_string_equal(err.message, "unknown session");
    assert_null(sess);
    assert_int_equal(read_rc, tia_test_is_pg() ? TIA_EAUTH : 0);

    /* Revoked through another connection: refused at the very next check. */
    TIA_OK_OR_FAIL(tia_session_revoke(other, id, &err), &err);
    TIA_ASSERT_RC(check_around_read(s, tok, &sess, &read_rc, &err), TIA_EAUTH, &err);
    assert_string_equal(err.message, "session revoked");
    assert_int_equal(read_rc, tia_test_is_pg() ? TIA_EAUTH : 0);

    /* Expired by the database's clock: refused and marked. */
    char tok2[TIA_TOKEN_BUF], id2[TIA_UUID_BUF];
    new_session(s, "bob", 1000, tok2, id2);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    TIA_ASSERT_RC(check_around_read(s, tok2, &sess, &read_rc, &err), TIA_EAUTH, &err);
    assert_string_equal(err.message, "session expired");
    TIA_OK_OR_FAIL(tia_session_get(other, id2, &sess, &err), &err);
    assert_int_equal(sess->status, TIA_SESSION_EXPIRED);
    tia_session_free(sess);

    /* Malformed: refused before anything is queued; the store runs as ever. */
    tia__session_check chk;
    TIA_ASSERT_RC(tia__session_check_begin(s, "tia_abc", &chk, &err), TIA_EAUTH, &err);
    assert_int_equal(chk.queued, 0);
    char *when = read_text(s, &sql_when, &read_rc, &err);
    TIA_OK_OR_FAIL(read_rc, &err);
    free(when);
    tia_store_close(other);
    tia_test_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guard_rides_with_read),
        cmocka_unit_test(test_failed_guard_runs_nothing),
        cmocka_unit_test(test_write_waits_for_guard),
        cmocka_unit_test(test_guard_alone_and_refusals),
        cmocka_unit_test(test_sqlite_queues_none),
        cmocka_unit_test(test_session_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
