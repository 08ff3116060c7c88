/*
 * Hostile use of session tokens, beyond test_api_sessions.c (which covers the
 * missing, malformed, unknown, expired and revoked ones): a real token truncated,
 * extended by one character, with its case changed, with its prefix or a
 * character dropped; a logged-out token on every kind of route (reads, writes,
 * the event stream's ?access_token=); tokens in the wrong places (another header,
 * a cookie, the query of a route other than the event stream, a second
 * Authorization header, a different scheme spelling); another user's token
 * against one's sessions (reading one: 404, revoking one: 403, docs/api.md). And
 * the token is never shown again: not in the answer of any route, not in the
 * access log, and not in any column of any table of the database, as itself, as
 * hex or base64 of its text, or as base64 of the bytes its hex digits spell (the
 * database keeps only the SHA-256).
 */
#include "api_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/crypto.h"

static FILE *access_log;
static char log_path[64];

static int setup(void **state)
{
    static tia_api_fixture f;
    snprintf(log_path, sizeof log_path, "/tmp/tia-auth-log.XXXXXX");
    int fd = mkstemp(log_path);
    assert_true(fd >= 0);
    access_log = fdopen(fd, "w+");
    assert_non_null(access_log);
    tia_server_config cfg = {0};
    cfg.access_log = access_log;
    tia_api_start(&f, &cfg);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    tia_api_stop(*state);
    fclose(access_log);
    unlink(log_path);
    return 0;
}

static long status_of(tia_api_fixture *f, const char *token, const char *const *headers,
                      const char *method, const char *path, const char *body)
{
    tia_http_resp r;
    tia_http_opts o = {.token = token, .headers = headers};
    tia_http(f, method, path, body, &o, &r);
    long st = r.status;
    if (st == 401) {
        char *www = tia_http_header(&r, "WWW-Authenticate");
        if (www == NULL || strncmp(www, "Bearer", 6) != 0)
            fail_msg("401 without WWW-Authenticate: Bearer (%s %s)", method, path);
        free(www);
        if (strncmp(path, "/api/v1/", 8) == 0) /* the original API's errors are plain text */
            tia_assert_api_error(&r, 401, "unauthorized");
    }
    tia_http_resp_free(&r);
    return st;
}

static void expect_status(tia_api_fixture *f, const char *token, const char *const *headers,
                          const char *method, const char *path, const char *body, long want,
                          const char *what)
{
    long st = status_of(f, token, headers, method, path, body);
    if (st != want)
        fail_msg("%s: %s %s answered %ld, want %ld", what, method, path, st, want);
}

/* A new session of user through the library; its token and id. */
static void session(tia_api_fixture *f, const char *user, char tok[TIA_TOKEN_BUF],
                    char id[TIA_UUID_BUF])
{
    tia_error err = {0};
    tia_session_new n = {user, NULL, "127.0.0.1", 0};
    TIA_OK_OR_FAIL(tia_session_create(f->store, &n, tok, id, &err), &err);
}

static int64_t tasks(tia_api_fixture *f)
{
    return tia_test_int(f->store, "SELECT count(*) FROM agent_tasks",
                        "SELECT count(*) FROM agent_tasks");
}

static const char *const task_body =
    "{\"agent_id\": \"akira-001\", \"task_type\": \"t\", \"description\": \"d\"}";

/* ---- variations of a real token ---- */

static void test_token_variations(void **state)
{
    tia_api_fixture *f = *state;
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF], v[TIA_TOKEN_BUF + 8];
    session(f, "alice", tok, id);
    expect_status(f, tok, NULL, "GET", "/api/v1/agents", NULL, 200, "the real token");
    size_t n = strlen(tok);
    int64_t before = tasks(f);

    /* Truncated by one, by half, to its prefix. */
    static const size_t cuts[] = {1, 32, 64};
    for (size_t i = 0; i < 3; i++) {
        snprintf(v, sizeof v, "%.*s", (int)(n - cuts[i]), tok);
        expect_status(f, v, NULL, "GET", "/api/v1/agents", NULL, 401, "truncated");
        expect_status(f, v, NULL, "POST", "/api/v1/tasks", task_body, 401, "truncated");
    }
    /* Extended by one character, of each kind. */
    static const char *const ext[] = {"0", "a", "f", "g", "=", "%00"};
    for (size_t i = 0; i < 6; i++) {
        snprintf(v, sizeof v, "%s%s", tok, ext[i]);
        expect_status(f, v, NULL, "GET", "/api/v1/agents", NULL, 401, "extended");
        expect_status(f, v, NULL, "POST", "/api/v1/tasks", task_body, 401, "extended");
    }
    /* Case changed: the whole token, the prefix only, one hex digit. */
    snprintf(v, sizeof v, "%s", tok);
    for (char *p = v; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    expect_status(f, v, NULL, "GET", "/api/v1/agents", NULL, 401, "upper case");
    snprintf(v, sizeof v, "TIA_%s", tok + 4);
    expect_status(f, v, NULL, "GET", "/api/v1/agents", NULL, 401, "upper-case prefix");
    snprintf(v, sizeof v, "%s", tok);
    for (char *p = v + 4; *p; p++)
        if (*p >= 'a' && *p <= 'f') {
            *p = (char)(*p - 32);
            break;
        }
    expect_status(f, v, NULL, "GET", "/api/v1/agents", NULL, 401, "one digit in upper case");
    /* Without its prefix, with a character dropped from the middle, doubled. */
    expect_status(f, tok + 4, NULL, "GET", "/api/v1/agents", NULL, 401, "no prefix");
    snprintf(v, sizeof v, "%.*s%s", 20, tok, tok + 21);
    expect_status(f, v, NULL, "GET", "/api/v1/agents", NULL, 401, "a character dropped");
    /* Random tokens of the right form. */
    for (int i = 0; i < 20; i++) {
        char r[TIA_TOKEN_BUF] = "tia_";
        for (int k = 0; k < 64; k++)
            r[4 + k] = "0123456789abcdef"[rand() % 16];
        r[68] = '\0';
        expect_status(f, r, NULL, "GET", "/api/v1/agents", NULL, 401, "forged");
    }
    assert_int_equal(tasks(f), before);
    /* None of that hurt the real one. */
    expect_status(f, tok, NULL, "POST", "/api/v1/tasks", task_body, 201, "the real token after");
}

/* ---- after logout, everywhere ---- */

static void test_reuse_after_logout(void **state)
{
    tia_api_fixture *f = *state;
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF], path[256];
    session(f, "bob", tok, id);
    expect_status(f, tok, NULL, "DELETE", "/api/v1/sessions/current", NULL, 204, "logout");
    int64_t before = tasks(f);
    static const char *const reads[] = {
        "/api/v1/agents",
        "/api/v1/tasks",
        "/api/v1/workflows",
        "/api/v1/metrics",
        "/api/v1/stats",
        "/api/v1/prices",
        "/api/v1/sessions",
        "/api/v1/sessions/current",
        "/api/v1/templates",
        "/api/v1/dashboard/config",
        "/api/v1/dashboard/overview",
        "/api/agents",
        "/api/workflows",
        "/api/metrics",
    };
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
        expect_status(f, tok, NULL, "GET", reads[i], NULL, 401, "logged out");
    expect_status(f, tok, NULL, "POST", "/api/v1/tasks", task_body, 401, "logged out");
    expect_status(f, tok, NULL, "POST", "/api/tasks", task_body, 401, "logged out");
    expect_status(f, tok, NULL, "POST", "/api/v1/sessions", "{\"user_id\": \"bob\"}", 401,
                  "a new login with a logged-out token");
    expect_status(f, tok, NULL, "DELETE", "/api/v1/sessions/current", NULL, 401, "logout twice");
    /* The event stream takes ?access_token= (an EventSource sends no header). */
    snprintf(path, sizeof path, "/api/v1/events?access_token=%s", tok);
    expect_status(f, "", NULL, "GET", path, NULL, 401, "logged-out access_token");
    assert_int_equal(tasks(f), before);
    assert_int_equal(tia_test_int(f->store,
                                  "SELECT count(*) FROM user_sessions WHERE user_id = 'bob'",
                                  "SELECT count(*) FROM user_sessions WHERE user_id = 'bob'"),
                     1);
}

/* ---- the wrong places ---- */

static void test_wrong_places(void **state)
{
    tia_api_fixture *f = *state;
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF], h[256], h2[256], path[256];
    session(f, "carol", tok, id);
    int64_t before = tasks(f);
    /* Other headers than Authorization. */
    static const char *const names[] = {"X-Api-Key: %s",
                                        "X-Auth-Token: %s",
                                        "Cookie: token=%s",
                                        "Cookie: access_token=%s",
                                        "Proxy-Authorization: Bearer %s",
                                        "Authorization-Bearer: %s"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(h, sizeof h, names[i], tok);
        const char *hdrs[] = {h, NULL};
        expect_status(f, "", hdrs, "GET", "/api/v1/agents", NULL, 401, names[i]);
        expect_status(f, "", hdrs, "POST", "/api/v1/tasks", task_body, 401, names[i]);
    }
    /* The scheme misspelled or the token badly placed. */
    static const char *const forms[] = {"Authorization: %s",
                                        "Authorization: Bearer: %s",
                                        "Authorization: Bearer  %s",
                                        "Authorization: Token %s",
                                        "Authorization: Basic %s",
                                        "Authorization: Bearer\t%s",
                                        "Authorization: Bearer %s extra",
                                        "Authorization: Bearer \"%s\""};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        snprintf(h, sizeof h, forms[i], tok);
        const char *hdrs[] = {h, NULL};
        expect_status(f, "", hdrs, "GET", "/api/v1/agents", NULL, 401, forms[i]);
    }
    /* The scheme is case-insensitive (RFC 7235): "bearer" is the same scheme. */
    snprintf(h, sizeof h, "Authorization: bearer %s", tok);
    const char *lower[] = {h, NULL};
    expect_status(f, "", lower, "GET", "/api/v1/agents", NULL, 200, "lower-case scheme");
    /* Two Authorization headers, a bad one first: refused, whichever the server reads. */
    snprintf(h, sizeof h, "Authorization: Bearer tia_%064d", 0);
    snprintf(h2, sizeof h2, "Authorization: Bearer %s", tok);
    const char *two[] = {h, h2, NULL};
    long st = status_of(f, "", two, "GET", "/api/v1/agents", NULL);
    if (st != 401 && st != 400)
        fail_msg("two Authorization headers, the first forged: %ld", st);
    /* ?access_token= is for the event stream only. */
    static const char *const queries[] = {"/api/v1/agents?access_token=%s",
                                          "/api/v1/sessions/current?access_token=%s",
                                          "/api/agents?access_token=%s"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, queries[i], tok);
        expect_status(f, "", NULL, "GET", path, NULL, 401, "access_token off the event stream");
    }
    snprintf(path, sizeof path, "/api/v1/tasks?access_token=%s", tok);
    expect_status(f, "", NULL, "POST", path, task_body, 401, "access_token on a write");
    assert_int_equal(tasks(f), before);
}

/* ---- another user's token ---- */

static void test_other_users(void **state)
{
    tia_api_fixture *f = *state;
    char alice[TIA_TOKEN_BUF], alice_id[TIA_UUID_BUF], bob[TIA_TOKEN_BUF], bob_id[TIA_UUID_BUF];
    char path[128];
    session(f, "alice", alice, alice_id);
    session(f, "bob", bob, bob_id);
    snprintf(path, sizeof path, "/api/v1/sessions/%s", bob_id);
    /* Reading another's session: 404, the same as one that does not exist. */
    expect_status(f, alice, NULL, "GET", path, NULL, 404, "another user's session");
    expect_status(f, alice, NULL, "GET", "/api/v1/sessions/01890000-0000-7000-8000-000000000000",
                  NULL, 404, "no such session");
    /* Revoking another's session: 403, and it stays active. */
    expect_status(f, alice, NULL, "DELETE", path, NULL, 403, "revoking another user's session");
    expect_status(f, bob, NULL, "GET", "/api/v1/sessions/current", NULL, 200, "bob still in");
    /* Listing another's sessions, logging in as another: 403. */
    expect_status(f, alice, NULL, "GET", "/api/v1/sessions?user_id=bob", NULL, 403, "list bob's");
    expect_status(f, alice, NULL, "POST", "/api/v1/sessions", "{\"user_id\": \"bob\"}", 403,
                  "log in as bob");
    /* Alice's own list never shows bob's sessions. */
    tia_http_resp r;
    tia_http_opts o = {.token = alice};
    tia_http(f, "GET", "/api/v1/sessions", NULL, &o, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_null(strstr(r.body, bob_id));
    assert_null(strstr(r.body, "\"bob\""));
    tia_http_resp_free(&r);
    /* Logging out is one's own session only. */
    expect_status(f, alice, NULL, "DELETE", "/api/v1/sessions/current", NULL, 204, "alice out");
    expect_status(f, bob, NULL, "GET", "/api/v1/agents", NULL, 200, "bob unaffected");
}

/* ---- the token is never shown again ---- */

/* The forms a token could leak in: itself, its random part, hex and base64 of its
   text, base64 of the bytes its hex spells. */
static size_t leak_forms(const char *tok, char forms[][200])
{
    size_t n = 0;
    unsigned char raw[32];
    snprintf(forms[n++], 200, "%s", tok);
    snprintf(forms[n++], 200, "%s", tok + 4);
    char *hex = forms[n++];
    for (size_t i = 0; tok[i]; i++)
        sprintf(hex + 2 * i, "%02x", (unsigned char)tok[i]);
    EVP_EncodeBlock((unsigned char *)forms[n++], (const unsigned char *)tok, (int)strlen(tok));
    for (size_t i = 0; i < 32; i++) {
        unsigned v;
        sscanf(tok + 4 + 2 * i, "%2x", &v);
        raw[i] = (unsigned char)v;
    }
    EVP_EncodeBlock((unsigned char *)forms[n++], raw, 32);
    /* The same without its padding. */
    size_t len = strcspn(forms[n - 1], "=");
    memcpy(forms[n], forms[n - 1], len);
    forms[n][len] = '\0';
    n++;
    return n;
}

static void assert_no_leak(const char *where, const char *text, char forms[][200], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (text && strstr(text, forms[i]))
            fail_msg("a token (form %zu: %.20s...) appears in %s", i, forms[i], where);
}

static void test_token_never_shown(void **state)
{
    tia_api_fixture *f = *state;
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF], forms[2][8][200], path[256];
    size_t nf[2];
    /* A login through the API: its token is in its own answer, and nowhere after. */
    tia_http_resp r;
    tia_http(f, "POST", "/api/v1/sessions", "{\"user_id\": \"dave\", \"device_info\": {\"d\": 1}}",
             NULL, &r);
    TIA_ASSERT_STATUS(&r, 201);
    snprintf(tok, sizeof tok, "%s", tia_json_str(r.json, "token"));
    snprintf(id, sizeof id, "%s", tia_json_str(json_object_get(r.json, "session"), "id"));
    tia_http_resp_free(&r);
    nf[0] = leak_forms(tok, forms[0]);
    nf[1] = leak_forms(f->token, forms[1]);
    /* Some of everything, so that every route has something to show. */
    json_decref(tia_api_callf(f, "POST", "/api/v1/workflows", 201,
                              "{\"template\": \"code_review\", \"input\": {\"pr\": 1}}"));
    json_decref(tia_api_callf(f, "POST", "/api/v1/metrics", 201,
                              "{\"metrics\": [{\"agent_id\": \"akira-001\", \"metric_type\": "
                              "\"latency\", \"metric_value\": 5}]}"));
    /* Every GET route of the API, as dave and as the admin. */
    char wf[TIA_UUID_BUF], task[TIA_UUID_BUF];
    char *w = tia_test_text(f->store, "SELECT id::text FROM workflows LIMIT 1",
                            "SELECT id FROM workflows LIMIT 1");
    char *t = tia_test_text(f->store, "SELECT id::text FROM agent_tasks LIMIT 1",
                            "SELECT id FROM agent_tasks LIMIT 1");
    snprintf(wf, sizeof wf, "%s", w);
    snprintf(task, sizeof task, "%s", t);
    free(w);
    free(t);
    const char *const routes[] = {"/health",
                                  "/ready",
                                  "/metrics",
                                  "/api/v1/openapi.json",
                                  "/api/v1/agents",
                                  "/api/v1/agents/akira-001",
                                  "/api/v1/agents/akira-001/stats",
                                  "/api/v1/agents/akira-001/tasks",
                                  "/api/v1/agents/akira-001/metrics?metric_type=latency",
                                  "/api/v1/stats",
                                  "/api/v1/tasks",
                                  "/api/v1/workflows",
                                  "/api/v1/templates",
                                  "/api/v1/metrics",
                                  "/api/v1/metrics/series?metric_type=latency",
                                  "/api/v1/prices",
                                  "/api/v1/sessions",
                                  "/api/v1/sessions/current",
                                  "/api/v1/sessions?user_id=dave",
                                  "/api/v1/dashboard/config",
                                  "/api/v1/dashboard/overview",
                                  "/api/v1/dashboard/costs",
                                  "/api/agents",
                                  "/api/agents/akira-001",
                                  "/api/agents/akira-001/stats",
                                  "/api/agents/akira-001/tasks",
                                  "/api/workflows",
                                  "/api/metrics",
                                  "/",
                                  NULL};
    const char *tokens[] = {tok, f->token};
    size_t answers = 0;
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; routes[i]; i++) {
            tia_http_opts o = {.token = tokens[k]};
            tia_http(f, "GET", routes[i], NULL, &o, &r);
            if (r.status != 200)
                fail_msg("GET %s: %ld", routes[i], r.status);
            for (size_t j = 0; j < 2; j++) {
                assert_no_leak(routes[i], r.body, forms[j], nf[j]);
                assert_no_leak(routes[i], r.headers, forms[j], nf[j]);
            }
            tia_http_resp_free(&r);
            answers++;
        }
        const char *const with_ids[] = {"/api/v1/workflows/%s",
                                        "/api/v1/workflows/%s/interactions",
                                        "/api/v1/dashboard/workflows/%s/graph",
                                        "/api/workflows/%s",
                                        "/api/workflows/%s/tasks",
                                        "/api/v1/tasks/%s",
                                        "/api/v1/sessions/%s"};
        const char *ids[] = {wf, wf, wf, wf, wf, task, id};
        for (size_t i = 0; i < 7; i++) {
            snprintf(path, sizeof path, with_ids[i], ids[i]);
            tia_http_opts o = {.token = tokens[k]};
            tia_http(f, "GET", path, NULL, &o, &r);
            if (r.status != 200)
                fail_msg("GET %s: %ld", path, r.status);
            for (size_t j = 0; j < 2; j++)
                assert_no_leak(path, r.body, forms[j], nf[j]);
            tia_http_resp_free(&r);
            answers++;
        }
    }
    /* The event stream's ?access_token= (a wrong one, answered at once): the access log
       must not keep the query, which holds the real token as its prefix. */
    snprintf(path, sizeof path, "/api/v1/events?access_token=%sx", tok);
    expect_status(f, "", NULL, "GET", path, NULL, 401, "events with a wrong access_token");

    /* The access log: no token in any form, and the query is not recorded. */
    fflush(access_log);
    rewind(access_log);
    char line[8192];
    size_t lines = 0;
    while (fgets(line, sizeof line, access_log)) {
        for (size_t j = 0; j < 2; j++)
            assert_no_leak("the access log", line, forms[j], nf[j]);
        lines++;
    }
    assert_true(lines >= answers);

    /* A planted fake token, stored as base64 of its bytes (the least obvious form), that
       the scan below must find: it proves the scan can see a leak. */
    char fake[TIA_TOKEN_BUF] = "tia_", planted[8][200], body[512];
    for (int k = 0; k < 64; k++)
        fake[4 + k] = "0123456789abcdef"[(k * 7 + 3) % 16];
    fake[68] = '\0';
    size_t np = leak_forms(fake, planted);
    snprintf(body, sizeof body,
             "{\"id\": \"planted-1\", \"name\": \"n\", \"role\": \"r\", \"model\": \"m\", "
             "\"backstory\": \"x %s y\"}",
             planted[np - 1]);
    json_decref(tia_api_callf(f, "POST", "/api/v1/agents", 201, "%s", body));
    size_t planted_hits = 0;

    /* Every column of every table, as text. */
    const char *cols_pg =
        "SELECT table_name::text, column_name::text FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY 1, 2";
    const char *cols_sqlite =
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p "
        "WHERE m.type = 'table' ORDER BY 1, 2";
    tia__sql q = {"test.columns", cols_pg, cols_sqlite, 1};
    tia__rows *rows = NULL;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia__db_query(f->store, &q, NULL, 0, &rows, &err), &err);
    char(*cols)[2][128] = calloc(2000, sizeof *cols);
    size_t nc = 0;
    while (tia__rows_next(rows, &err) == 1 && nc < 2000) {
        snprintf(cols[nc][0], 128, "%s", tia__col_text(rows, 0));
        snprintf(cols[nc][1], 128, "%s", tia__col_text(rows, 1));
        nc++;
    }
    tia__rows_free(rows);
    assert_true(nc > 50);
    size_t values = 0;
    int saw_hash = 0;
    char hash[65];
    assert_int_equal(tia__sha256_hex(tok, strlen(tok), hash), 0);
    for (size_t i = 0; i < nc; i++) {
        char pg[512], sq[512];
        snprintf(pg, sizeof pg, "SELECT \"%s\"::text FROM \"%s\"", cols[i][1], cols[i][0]);
        snprintf(sq, sizeof sq, "SELECT CAST(\"%s\" AS TEXT) FROM \"%s\"", cols[i][1], cols[i][0]);
        tia__sql dump = {"test.dump", pg, sq, 1};
        TIA_OK_OR_FAIL(tia__db_query(f->store, &dump, NULL, 0, &rows, &err), &err);
        while (tia__rows_next(rows, &err) == 1) {
            const char *v = tia__col_text(rows, 0);
            char where[300];
            snprintf(where, sizeof where, "the database (%s.%s)", cols[i][0], cols[i][1]);
            for (size_t j = 0; j < 2; j++)
                assert_no_leak(where, v, forms[j], nf[j]);
            saw_hash |= v && strcmp(v, hash) == 0;
            for (size_t j = 0; j < np; j++)
                planted_hits += v && strstr(v, planted[j]) != NULL;
            values++;
        }
        tia__rows_free(rows);
    }
    free(cols);
    /* What it keeps instead: the SHA-256 (so the dump did reach the sessions). */
    assert_true(saw_hash);
    assert_true(planted_hits >= 1);
    printf("token scan: %zu answers of %zu routes, %zu access-log lines, %zu values in %zu "
           "columns; no token in any of 6 forms\n",
           answers, answers / 2, lines, values, nc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_variations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse_after_logout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_places, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_never_shown, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
