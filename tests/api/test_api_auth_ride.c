/*
 * Registry API tests of the token check that travels with a read's first
 * statement (auth.c; store/db.h guards on PostgreSQL, the plain check on
 * SQLite), through a real server on both backends: reads answer with a good
 * token; a session revoked or expired through the library (as another process
 * would) is refused on the very next read, and the refusal carries the reason;
 * the token's verdict comes before the handler's own answer (an unknown agent or
 * a bad query string with a bad token is 401, not 404 or 400), and a refused
 * read answers no data; the session routes, which need the session inside the
 * handler, still see it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokyoia/sessions.h>

#include "api_test.h"

#define HOUR_US INT64_C(3600000000)

static void lib_session(tia_api_fixture *f, const char *user, int64_t ttl_us,
                        char token[TIA_TOKEN_BUF], char id[TIA_UUID_BUF])
{
    tia_error err = {0};
    tia_session_new n = {user, NULL, NULL, ttl_us};
    TIA_OK_OR_FAIL(tia_session_create(f->store, &n, token, id, &err), &err);
}

static void get(tia_api_fixture *f, const char *token, const char *path, tia_http_resp *r)
{
    tia_http_opts o = {.token = token};
    tia_http(f, "GET", path, NULL, &o, r);
}

/* 401 with the given message, and nothing of the data in the body. */
static void expect_refused(tia_api_fixture *f, const char *token, const char *path,
                           const char *message)
{
    tia_http_resp r;
    get(f, token, path, &r);
    if (r.status != 401)
        fail_msg("GET %s: status %ld, want 401; body: %s", path, r.status, r.body);
    tia_assert_api_error(&r, 401, "unauthorized");
    json_t *err = json_object_get(r.json, "error");
    if (strcmp(tia_json_str(err, "message"), message) != 0)
        fail_msg("GET %s: message '%s', want '%s'", path, tia_json_str(err, "message"), message);
    assert_null(json_object_get(r.json, "items"));
    assert_null(strstr(r.body, "akira-001"));
    tia_http_resp_free(&r);
}

static void expect_status(tia_api_fixture *f, const char *token, const char *path, long want)
{
    tia_http_resp r;
    get(f, token, path, &r);
    if (r.status != want)
        fail_msg("GET %s: status %ld, want %ld; body: %s", path, r.status, want, r.body);
    tia_http_resp_free(&r);
}

static char *session_status(tia_api_fixture *f, const char *id)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT status FROM user_sessions WHERE id = '%s'", id);
    return tia_test_text(f->store, sql, sql);
}

static const char *const reads[] = {
    "/api/v1/stats",
    "/api/v1/agents/akira-001/tasks?limit=2",
    "/api/v1/agents",
    "/api/agents", /* the original API's shape */
};

static void test_good_token_reads(void **state)
{
    tia_api_fixture *f = *state;
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    lib_session(f, "alice", HOUR_US, tok, id);
    for (int round = 0; round < 3; round++) /* the same connections, again and again */
        for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
            expect_status(f, tok, reads[i], 200);
    tia_http_resp r;
    get(f, tok, "/api/v1/stats", &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_true(json_array_size(json_object_get(r.json, "items")) >= 5);
    tia_http_resp_free(&r);
}

static void test_refused_on_next_read(void **state)
{
    tia_api_fixture *f = *state;
    tia_error err = {0};
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    lib_session(f, "alice", HOUR_US, tok, id);
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        if (i > 0)
            lib_session(f, "alice", HOUR_US, tok, id);
        expect_status(f, tok, "/api/v1/stats", 200);
        expect_status(f, tok, reads[i], 200);
        /* Revoked by the library, as another server or the CLI would: the very next read. */
        TIA_OK_OR_FAIL(tia_session_revoke(f->store, id, &err), &err);
        if (strncmp(reads[i], "/api/v1", 7) == 0)
            expect_refused(f, tok, reads[i], "session revoked");
        else
            expect_status(f, tok, reads[i], 401);
    }

    /* Expired by the database's clock: refused and marked expired. */
    lib_session(f, "bob", 1000, tok, id);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    expect_refused(f, tok, "/api/v1/stats", "session expired");
    char *st = session_status(f, id);
    assert_non_null(st);
    assert_string_equal(st, "expired");
    free(st);

    /* Unknown. */
    expect_refused(f, "tia_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                   "/api/v1/agents/akira-001/tasks?limit=2", "unknown session");
}

static void test_verdict_first(void **state)
{
    tia_api_fixture *f = *state;
    const char *bad = "tia_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    /* What the handler would answer with a good token... */
    expect_status(f, NULL, "/api/v1/agents/nobody-9/tasks", 404);
    expect_status(f, NULL, "/api/v1/agents/akira-001/tasks?limit=abc", 400);
    expect_status(f, NULL, "/api/v1/agents/nobody-9", 404);
    /* ...is not what a bad token gets. */
    expect_refused(f, bad, "/api/v1/agents/nobody-9/tasks", "unknown session");
    expect_refused(f, bad, "/api/v1/agents/akira-001/tasks?limit=abc", "unknown session");
    expect_refused(f, bad, "/api/v1/agents/nobody-9", "unknown session");
    /* And the good token still works after the refusals, on the same pool. */
    expect_status(f, NULL, "/api/v1/stats", 200);
}

static void test_session_routes_see_session(void **state)
{
    tia_api_fixture *f = *state;
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    lib_session(f, "carol", HOUR_US, tok, id);
    tia_http_resp r;
    get(f, tok, "/api/v1/sessions/current", &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "id"), id);
    assert_string_equal(tia_json_str(r.json, "user_id"), "carol");
    tia_http_resp_free(&r);
    /* Listing one's own sessions is allowed, another user's is not (403, not 401). */
    expect_status(f, tok, "/api/v1/sessions?user_id=carol", 200);
    expect_status(f, tok, "/api/v1/sessions?user_id=tester", 403);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_token_reads, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_refused_on_next_read, tia_api_setup,
                                        tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_verdict_first, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_session_routes_see_session, tia_api_setup,
                                        tia_api_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
