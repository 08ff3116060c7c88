/*
 * The statement cache (store/backend.h) on the backend named by
 * TIA_TEST_BACKEND: a connection that has met more statements than the cache
 * holds still runs every one of them, reads and writes, the new ones
 * unprepared, and keeps running the ones it prepared first. On PostgreSQL a
 * guard queued ahead of a statement that does not fit the cache still runs
 * first and still stops it when it fails.
 */
#include <stdlib.h>
#include <string.h>

#include "tia_test.h"

#include "store/backend.h"

/* More distinct statements than the cache holds. */
#define N_STMTS (TIA__STMT_CACHE + 40)

static const tia__sql sql_add_one = {
    "test.add_one",
    "SELECT $1::int + 1",
    "SELECT ?1 + 1",
};

static const tia__sql sql_insert = {
    "test.insert",
    "INSERT INTO cache_test (v) VALUES ($1::int)",
    "INSERT INTO cache_test (v) VALUES (?1)",
};

/* Fails (division by zero) when its parameter is 0. */
static const tia__sql sql_check = {
    "test.check",
    "SELECT 1 / $1::int",
    "SELECT 1 / ?1",
};

/* N_STMTS copies of q: the cache tells statements apart by their address. */
static tia__sql *copies(const tia__sql *q)
{
    tia__sql *qs = calloc(N_STMTS, sizeof *qs);
    assert_non_null(qs);
    for (int i = 0; i < N_STMTS; i++)
        qs[i] = *q;
    return qs;
}

/* Runs q with v and returns the one integer it reads. */
static int64_t read_int(tia_store *s, const tia__sql *q, int64_t v)
{
    tia_error err = {0};
    tia__rows *r = NULL;
    tia__param p = tia__p_int(v);
    TIA_OK_OR_FAIL(tia__db_read(s, q, &p, 1, &r, &err), &err);
    assert_int_equal(tia__rows_next(r, &err), 1);
    int64_t got = tia__col_int(r, 0);
    assert_int_equal(tia__rows_next(r, &err), 0);
    tia__rows_free(r);
    return got;
}

static void test_reads_past_the_cache(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia__sql *qs = copies(&sql_add_one);
    /* Twice over: the first pass fills the cache, the second finds it full. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < N_STMTS; i++)
            assert_int_equal(read_int(s, &qs[i], i), i + 1);
    /* Statements that share no text with the ones above still run. */
    assert_int_equal(read_int(s, &sql_check, 4), 0);
    free(qs);
    tia_test_close(s);
}

static void test_writes_past_the_cache(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_test_exec(s, "CREATE TABLE cache_test (v integer)",
                                 "CREATE TABLE cache_test (v integer)", &err),
                   &err);
    tia__sql *qs = copies(&sql_insert);
    for (int i = 0; i < N_STMTS; i++) {
        tia__param p = tia__p_int(i);
        int64_t changed = 0;
        TIA_OK_OR_FAIL(tia__db_exec(s, &qs[i], &p, 1, &changed, &err), &err);
        assert_int_equal(changed, 1);
    }
    /* In a transaction too, where the unprepared ones must not end it. */
    TIA_OK_OR_FAIL(tia__db_begin(s, &err), &err);
    for (int i = 0; i < N_STMTS; i++) {
        tia__param p = tia__p_int(N_STMTS + i);
        TIA_OK_OR_FAIL(tia__db_exec(s, &qs[i], &p, 1, NULL, &err), &err);
    }
    TIA_OK_OR_FAIL(tia__db_commit(s, &err), &err);
    /* Every row once: 0 .. 2 * N_STMTS - 1. */
    int64_t rows = 2 * N_STMTS;
    assert_int_equal(
        tia_test_int(s, "SELECT count(*) FROM cache_test", "SELECT count(*) FROM cache_test"),
        rows);
    assert_int_equal(
        tia_test_int(s, "SELECT sum(v) FROM cache_test", "SELECT sum(v) FROM cache_test"),
        rows * (rows - 1) / 2);
    free(qs);
    tia_test_close(s);
}

static void test_guard_past_the_cache(void **state)
{
    (void)state;
    if (!tia_test_is_pg())
        return; /* SQLite queues no guard (test_db_guard) */
    tia_store *s = tia_test_open();
    tia_error err = {0};
    tia__sql *qs = copies(&sql_add_one);
    for (int i = 0; i < TIA__STMT_CACHE; i++)
        assert_int_equal(read_int(s, &qs[i], i), i + 1);

    /* A passing guard, then a read that does not fit: both run, the guard first. */
    tia__guard g = {0};
    g.q = &sql_check;
    g.params[0] = tia__p_int(1);
    g.n = 1;
    TIA_OK_OR_FAIL(tia__db_guard(s, &g, &err), &err);
    assert_int_equal(read_int(s, &qs[TIA__STMT_CACHE], 7), 8);
    assert_int_equal(g.done, 1);
    TIA_OK_OR_FAIL(tia__db_guard_finish(s, &g, &err), &err);
    assert_int_equal(tia__rows_next(g.rows, &err), 1);
    assert_int_equal(tia__col_int(g.rows, 0), 1);
    tia__rows_free(g.rows);

    /* A failing guard: the read that does not fit is refused, unrun. */
    tia__guard bad = {0};
    bad.q = &sql_check;
    bad.params[0] = tia__p_int(0);
    bad.n = 1;
    TIA_OK_OR_FAIL(tia__db_guard(s, &bad, &err), &err);
    tia__rows *r = NULL;
    tia__param p = tia__p_int(1);
    TIA_ASSERT_RC(tia__db_read(s, &qs[TIA__STMT_CACHE + 1], &p, 1, &r, &err), TIA_EAUTH, &err);
    assert_null(r);
    assert_int_not_equal(tia__db_guard_finish(s, &bad, &err), 0);
    assert_null(bad.rows);

    /* The connection goes on as before. */
    assert_int_equal(read_int(s, &qs[0], 41), 42);
    assert_int_equal(read_int(s, &qs[N_STMTS - 1], 41), 42);
    free(qs);
    tia_test_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_past_the_cache),
        cmocka_unit_test(test_writes_past_the_cache),
        cmocka_unit_test(test_guard_past_the_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
