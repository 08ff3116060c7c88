/*
 * Registry API tests of sessions and of authentication as a whole, through a
 * real server on both backends: missing, malformed, unknown, expired and revoked
 * tokens answered 401 in the /api/v1 error format; a session revoked through the
 * API or directly through the library refused on the very next request; login
 * showing its token once while the database holds only its hash (every column of
 * user_sessions read back as text); ip_address, device_info and
 * last_activity_at recorded; 403 for a non-admin acting for another user or
 * setting a price; the public-read and auth-off modes; and the per-token rate
 * limit (429 with Retry-After, other tokens unaffected).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokyoia/sessions.h>

#include "api_test.h"
#include "core/crypto.h"

#define HOUR_US INT64_C(3600000000)

static int start_with(void **state, const tia_server_config *cfg)
{
    tia_api_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tia_api_start(f, cfg);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return start_with(state, NULL);
}

static int setup_activity(void **state)
{
    tia_server_config cfg = {0};
    cfg.activity_interval_us = -1;
    return start_with(state, &cfg);
}

static int setup_public(void **state)
{
    tia_server_config cfg = {0};
    cfg.auth = TIA_AUTH_PUBLIC_READ;
    return start_with(state, &cfg);
}

static int setup_off(void **state)
{
    tia_server_config cfg = {0};
    cfg.auth = TIA_AUTH_OFF;
    return start_with(state, &cfg);
}

static int setup_rate(void **state)
{
    tia_server_config cfg = {0};
    cfg.rate_limit = 1;
    cfg.rate_burst = 2;
    return start_with(state, &cfg);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A request with token (NULL: the fixture's admin token, "": none). */
static void as(tia_api_fixture *f, const char *token, const char *method, const char *path,
               const char *body, tia_http_resp *r)
{
    tia_http_opts o = {.token = token};
    tia_http(f, method, path, body, &o, r);
}

/* A request that must answer status; for errors also the /api/v1 error code. */
static void expect(tia_api_fixture *f, const char *token, const char *method, const char *path,
                   const char *body, int status, const char *code)
{
    tia_http_resp r;
    as(f, token, method, path, body, &r);
    if (r.status != status)
        fail_msg("%s %s %s: status %ld, want %d; body: %s", method, path, body ? body : "",
                 r.status, status, r.body);
    if (code)
        tia_assert_api_error(&r, status, code);
    tia_http_resp_free(&r);
}

/* 401 in the /api/v1 format, with the Bearer challenge. */
static void expect_401(tia_api_fixture *f, const tia_http_opts *o, const char *method,
                       const char *path, const char *body)
{
    tia_http_resp r;
    tia_http(f, method, path, body, o, &r);
    if (r.status != 401)
        fail_msg("%s %s: status %ld, want 401; body: %s", method, path, r.status, r.body);
    tia_assert_api_error(&r, 401, "unauthorized");
    char *www = tia_http_header(&r, "WWW-Authenticate");
    if (www == NULL || strncmp(www, "Bearer", 6) != 0)
        fail_msg("WWW-Authenticate: %s", www ? www : "(none)");
    free(www);
    tia_http_resp_free(&r);
}

static void expect_401_token(tia_api_fixture *f, const char *token, const char *method,
                             const char *path)
{
    tia_http_opts o = {.token = token};
    expect_401(f, &o, method, path, NULL);
}

/* A session made by the library: token and id. */
static void lib_session(tia_api_fixture *f, const char *user, int64_t ttl_us,
                        char token[TIA_TOKEN_BUF], char id[TIA_UUID_BUF])
{
    tia_error err = {0};
    tia_session_new n = {user, NULL, NULL, ttl_us};
    TIA_OK_OR_FAIL(tia_session_create(f->store, &n, token, id, &err), &err);
}

/* POST /api/v1/sessions as `token` with body; on 201 copies the token and id. */
static void login(tia_api_fixture *f, const char *token, const char *body,
                  char tok_out[TIA_TOKEN_BUF], char id_out[TIA_UUID_BUF])
{
    tia_http_resp r;
    as(f, token, "POST", "/api/v1/sessions", body, &r);
    TIA_ASSERT_STATUS(&r, 201);
    const char *t = tia_json_str(r.json, "token");
    const char *id = tia_json_str(json_object_get(r.json, "session"), "id");
    assert_non_null(t);
    assert_non_null(id);
    snprintf(tok_out, TIA_TOKEN_BUF, "%s", t);
    snprintf(id_out, TIA_UUID_BUF, "%s", id);
    tia_http_resp_free(&r);
}

static char *session_status(tia_api_fixture *f, const char *id)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT status FROM user_sessions WHERE id = '%s'", id);
    return tia_test_text(f->store, sql, sql);
}

static void assert_session_status(tia_api_fixture *f, const char *id, const char *want)
{
    char *got = session_status(f, id);
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("session %s is %s, want %s", id, got ? got : "(none)", want);
    free(got);
}

static json_t *items_of(const tia_http_resp *r)
{
    json_t *items = json_object_get(r->json, "items");
    if (!json_is_array(items))
        fail_msg("no items array in %s", r->body);
    return items;
}

static int has_id(const json_t *items, const char *id)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *v = tia_json_str(it, "id");
        if (v && strcmp(v, id) == 0)
            return 1;
    }
    return 0;
}

/* ---- 401 ---- */

static void test_missing_malformed_unknown(void **state)
{
    tia_api_fixture *f = *state;
    /* No token, on every route of this suite's files, reads and writes. */
    static const char *const reads[] = {
        "/api/v1/agents",
        "/api/v1/agents/akira-001",
        "/api/v1/agents/akira-001/stats",
        "/api/v1/agents/akira-001/tasks",
        "/api/v1/agents/akira-001/metrics?metric_type=x",
        "/api/v1/stats",
        "/api/v1/metrics",
        "/api/v1/metrics/series?metric_type=x",
        "/api/v1/prices",
        "/api/v1/sessions",
        "/api/v1/sessions/current",
    };
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
        expect_401_token(f, "", "GET", reads[i]);
    tia_http_opts none = {.token = ""};
    expect_401(f, &none, "POST", "/api/v1/agents",
               "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\"}");
    expect_401(f, &none, "POST", "/api/v1/sessions", "{\"user_id\": \"tester\"}");
    expect_401(f, &none, "PUT", "/api/v1/prices/m", "{\"usd_per_1k_tokens\": 1}");
    expect_401(f, &none, "DELETE", "/api/v1/sessions/current", NULL);
    assert_int_equal(
        tia_test_int(f->store, "SELECT count(*) FROM agents", "SELECT count(*) FROM agents"), 5);

    /* Malformed Authorization headers. */
    char long_token[300] = "Authorization: Bearer tia_";
    for (int i = 0; i < 200; i++)
        strcat(long_token, "a");
    const char *const malformed[] = {
        "Authorization: Basic dGVzdGVyOnNlY3JldA==",
        "Authorization: Bearer",
        "Authorization: Bearer ",
        "Authorization: Token tia_0000000000000000000000000000000000000000000000000000000000000000",
        "Authorization: Bearer tia_abc",
        "Authorization: Bearer "
        "tia_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        "Authorization: Bearer 0000000000000000000000000000000000000000000000000000000000000000",
        "Authorization: Bearer tia_0000 0000",
        "Authorization: Bearer ' OR '1'='1",
        long_token,
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        const char *hdrs[] = {malformed[i], NULL};
        tia_http_opts o = {.token = "", .headers = hdrs};
        expect_401(f, &o, "GET", "/api/v1/agents", NULL);
    }

    /* Well-formed but unknown: a fresh token nobody was given, and the fixture's with
       one character changed. */
    expect_401_token(f, "tia_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                     "GET", "/api/v1/agents");
    char changed[TIA_TOKEN_BUF];
    memcpy(changed, f->token, sizeof changed);
    changed[10] = changed[10] == 'a' ? 'b' : 'a';
    expect_401_token(f, changed, "GET", "/api/v1/agents");
    /* The hash itself is not a token either. */
    char hash[65], as_token[TIA_TOKEN_BUF + 8];
    assert_int_equal(tia__sha256_hex(f->token, strlen(f->token), hash), 0);
    snprintf(as_token, sizeof as_token, "tia_%s", hash);
    expect_401_token(f, as_token, "GET", "/api/v1/agents");

    /* The open routes need none; the valid token still works after all that. */
    expect(f, "", "GET", "/health", NULL, 200, NULL);
    expect(f, NULL, "GET", "/api/v1/agents", NULL, 200, NULL);
}

static void test_expired(void **state)
{
    tia_api_fixture *f = *state;
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    /* Expires a millisecond after it starts. */
    lib_session(f, "alice", 1000, tok, id);
    sleep_ms(20);
    expect_401_token(f, tok, "GET", "/api/v1/agents");
    assert_session_status(f, id, "expired");

    /* A login with a short ttl works until it runs out, and not after. */
    char tok2[TIA_TOKEN_BUF], id2[TIA_UUID_BUF];
    login(f, NULL, "{\"user_id\": \"alice\", \"ttl_ms\": 1500}", tok2, id2);
    expect(f, tok2, "GET", "/api/v1/sessions/current", NULL, 200, NULL);
    sleep_ms(1600);
    expect_401_token(f, tok2, "GET", "/api/v1/sessions/current");
    assert_session_status(f, id2, "expired");
}

static void test_revoked(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF];

    /* Logout through the API: refused on the very next request. */
    login(f, NULL, "{\"user_id\": \"alice\"}", tok, id);
    as(f, tok, "GET", "/api/v1/sessions/current", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "user_id"), "alice");
    assert_string_equal(tia_json_str(r.json, "id"), id);
    assert_string_equal(tia_json_str(r.json, "status"), "active");
    tia_http_resp_free(&r);
    as(f, tok, "DELETE", "/api/v1/sessions/current", NULL, &r);
    TIA_ASSERT_STATUS(&r, 204);
    assert_int_equal(r.body_len, 0);
    tia_http_resp_free(&r);
    expect_401_token(f, tok, "GET", "/api/v1/agents");
    expect_401_token(f, tok, "DELETE", "/api/v1/sessions/current");
    assert_session_status(f, id, "revoked");

    /* Revoked directly through the library (as another server would). */
    login(f, NULL, "{\"user_id\": \"alice\"}", tok, id);
    expect(f, tok, "GET", "/api/v1/agents", NULL, 200, NULL);
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_session_revoke(f->store, id, &err), &err);
    expect_401_token(f, tok, "GET", "/api/v1/agents");

    /* Revoked by an admin through DELETE /api/v1/sessions/{id}. */
    login(f, NULL, "{\"user_id\": \"alice\"}", tok, id);
    expect(f, tok, "GET", "/api/v1/agents", NULL, 200, NULL);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/sessions/%s", id);
    expect(f, NULL, "DELETE", path, NULL, 204, NULL);
    expect_401_token(f, tok, "GET", "/api/v1/agents");
    /* 409: it is no longer active. */
    expect(f, NULL, "DELETE", path, NULL, 409, "conflict");

    /* A user revokes another session of their own. */
    char tok4[TIA_TOKEN_BUF], id4[TIA_UUID_BUF], tok5[TIA_TOKEN_BUF], id5[TIA_UUID_BUF];
    login(f, NULL, "{\"user_id\": \"alice\"}", tok4, id4);
    login(f, NULL, "{\"user_id\": \"alice\"}", tok5, id5);
    snprintf(path, sizeof path, "/api/v1/sessions/%s", id5);
    expect(f, tok4, "DELETE", path, NULL, 204, NULL);
    expect_401_token(f, tok5, "GET", "/api/v1/agents");
    expect(f, tok4, "GET", "/api/v1/agents", NULL, 200, NULL);

    /* 404: not a UUID, or no such session. */
    expect(f, NULL, "DELETE", "/api/v1/sessions/not-a-uuid", NULL, 404, "not_found");
    expect(f, NULL, "DELETE", "/api/v1/sessions/0190a0b0-c0d0-7000-8000-000000000000", NULL, 404,
           "not_found");
    /* 405: a session is read and revoked, never replaced. */
    expect(f, NULL, "PUT", path, "{}", 405, "method_not_allowed");
}

/* ---- login ---- */

static int is_token(const char *t)
{
    if (strlen(t) != 68 || strncmp(t, "tia_", 4) != 0)
        return 0;
    for (int i = 4; i < 68; i++)
        if (!isdigit((unsigned char)t[i]) && !(t[i] >= 'a' && t[i] <= 'f'))
            return 0;
    return 1;
}

/* Every column of the session's row, read back as text, holds neither the token nor its
   random part; session_token holds its SHA-256. */
static void assert_only_hash_stored(tia_api_fixture *f, const char *id, const char *token)
{
    char *cols =
        tia_test_text(f->store,
                      "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) FROM "
                      "information_schema.columns WHERE table_name = 'user_sessions' AND "
                      "table_schema = current_schema()",
                      "SELECT group_concat(name, ',') FROM pragma_table_info('user_sessions')");
    assert_non_null(cols);
    assert_non_null(strstr(cols, "session_token"));
    int seen = 0;
    for (char *save = NULL, *col = strtok_r(cols, ",", &save); col;
         col = strtok_r(NULL, ",", &save)) {
        char pg[300], lite[300];
        snprintf(pg, sizeof pg, "SELECT \"%s\"::text FROM user_sessions WHERE id = '%s'", col, id);
        snprintf(lite, sizeof lite,
                 "SELECT CAST(\"%s\" AS TEXT) FROM user_sessions WHERE id = '%s'", col, id);
        char *v = tia_test_text(f->store, pg, lite);
        if (v && (strstr(v, token) || strstr(v, token + 4)))
            fail_msg("column %s holds the token: %s", col, v);
        if (strcmp(col, "session_token") == 0) {
            char hash[65];
            assert_int_equal(tia__sha256_hex(token, strlen(token), hash), 0);
            assert_non_null(v);
            assert_string_equal(v, hash);
        }
        free(v);
        seen++;
    }
    assert_true(seen >= 9);
    free(cols);
    /* And no row at all, whichever session it is. */
    char pg[300], lite[700];
    snprintf(pg, sizeof pg, "SELECT count(*) FROM user_sessions u WHERE strpos(u::text, '%s') > 0",
             token + 4);
    snprintf(lite, sizeof lite,
             "SELECT count(*) FROM user_sessions WHERE instr(id || '|' || user_id || '|' || "
             "session_token || '|' || ifnull(device_info, '') || '|' || ifnull(ip_address, '') "
             "|| '|' || ifnull(started_at, '') || '|' || ifnull(last_activity_at, '') || '|' || "
             "ifnull(expires_at, '') || '|' || ifnull(status, ''), '%s') > 0",
             token + 4);
    assert_int_equal(tia_test_int(f->store, pg, lite), 0);
}

static void test_login(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    as(f, NULL, "POST", "/api/v1/sessions",
       "{\"user_id\": \"alice\", \"ttl\": \"1h\", \"device_info\": {\"os\": \"linux\", \"app\": "
       "[1, 2]}}",
       &r);
    TIA_ASSERT_STATUS(&r, 201);
    char token[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    const char *t = tia_json_str(r.json, "token");
    assert_non_null(t);
    if (!is_token(t))
        fail_msg("not a token: %s", t);
    snprintf(token, sizeof token, "%s", t);
    json_t *s = json_object_get(r.json, "session");
    snprintf(id, sizeof id, "%s", tia_json_str(s, "id"));
    char *loc = tia_http_header(&r, "Location");
    char want_loc[128];
    snprintf(want_loc, sizeof want_loc, "/api/v1/sessions/%s", id);
    assert_non_null(loc);
    assert_string_equal(loc, want_loc);
    free(loc);
    assert_string_equal(tia_json_str(s, "user_id"), "alice");
    assert_string_equal(tia_json_str(s, "status"), "active");
    assert_string_equal(tia_json_str(s, "ip_address"), "127.0.0.1");
    json_t *want_dev = json_pack("{s:s,s:[i,i]}", "os", "linux", "app", 1, 2);
    assert_true(json_equal(json_object_get(s, "device_info"), want_dev));
    json_decref(want_dev);
    tia_time_us started, expires;
    assert_int_equal(tia_time_parse(tia_json_str(s, "started_at"), &started), 0);
    assert_int_equal(tia_time_parse(tia_json_str(s, "expires_at"), &expires), 0);
    assert_int_equal(expires - started, HOUR_US);
    /* The record is the session, without the token or its hash. */
    assert_null(json_object_get(s, "token"));
    assert_null(json_object_get(s, "session_token"));
    tia_http_resp_free(&r);

    /* It works, and is never shown again. */
    as(f, token, "GET", "/api/v1/sessions/current", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "id"), id);
    assert_null(strstr(r.body, token + 4));
    tia_http_resp_free(&r);
    as(f, token, "GET", "/api/v1/sessions", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_true(has_id(items_of(&r), id));
    assert_null(strstr(r.body, token + 4));
    tia_http_resp_free(&r);
    as(f, NULL, "GET", "/api/v1/sessions?user_id=alice", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_null(strstr(r.body, token + 4));
    tia_http_resp_free(&r);

    /* The database holds its hash only. */
    assert_only_hash_stored(f, id, token);
    assert_only_hash_stored(f, id, token); /* (strtok_r left nothing behind) */

    /* Without user_id: the caller's own user; the default ttl is 24 hours; with no
       device_info, the User-Agent. */
    const char *ua[] = {"User-Agent: res1-test/1.0 (+probe)", NULL};
    tia_http_opts o = {.headers = ua};
    tia_http(f, "POST", "/api/v1/sessions", "{}", &o, &r);
    TIA_ASSERT_STATUS(&r, 201);
    s = json_object_get(r.json, "session");
    assert_string_equal(tia_json_str(s, "user_id"), "tester");
    assert_string_equal(tia_json_str(json_object_get(s, "device_info"), "user_agent"),
                        "res1-test/1.0 (+probe)");
    assert_int_equal(tia_time_parse(tia_json_str(s, "started_at"), &started), 0);
    assert_int_equal(tia_time_parse(tia_json_str(s, "expires_at"), &expires), 0);
    assert_int_equal(expires - started, 24 * HOUR_US);
    tia_http_resp_free(&r);
    /* No User-Agent and no device_info: null. */
    as(f, NULL, "POST", "/api/v1/sessions", "{\"ttl_ms\": 60000}", &r);
    TIA_ASSERT_STATUS(&r, 201);
    s = json_object_get(r.json, "session");
    assert_true(json_is_null(json_object_get(s, "device_info")));
    assert_int_equal(tia_time_parse(tia_json_str(s, "started_at"), &started), 0);
    assert_int_equal(tia_time_parse(tia_json_str(s, "expires_at"), &expires), 0);
    assert_int_equal(expires - started, INT64_C(60000000));
    tia_http_resp_free(&r);

    int64_t before = tia_test_int(f->store, "SELECT count(*) FROM user_sessions",
                                  "SELECT count(*) FROM user_sessions");
    static const char *const bad[] = {
        "{\"user_id\": 5}",
        "{\"user_id\": \"\"}",
        "{\"user_id\": [\"alice\"]}",
        "{\"ttl\": \"forever\"}",
        "{\"ttl\": \"-1h\"}",
        "{\"ttl\": 3600}",
        "{\"ttl_ms\": 0}",
        "{\"ttl_ms\": -5}",
        "{\"ttl_ms\": \"60000\"}",
        "{\"ttl_ms\": 9223372036854775807}",
        "{\"ttl\": \"1h\", \"ttl_ms\": 5}",
        "{\"device_info\": \"phone\"}",
        "{\"device_info\": [1]}",
        "{\"password\": \"hunter2\"}",
        /* 101 characters: one over the column */
        "{\"user_id\": \"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"
        "abcdefghijabcdefghijabcdefghijk\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect(f, NULL, "POST", "/api/v1/sessions", bad[i], 422, "invalid");
    expect(f, NULL, "POST", "/api/v1/sessions", "{\"user_id\": ", 400, "bad_request");
    expect(f, NULL, "POST", "/api/v1/sessions", NULL, 415, "unsupported_media_type");
    assert_int_equal(tia_test_int(f->store, "SELECT count(*) FROM user_sessions",
                                  "SELECT count(*) FROM user_sessions"),
                     before);
}

/* ---- activity ---- */

static tia_session *lib_get(tia_api_fixture *f, const char *id)
{
    tia_session *s = NULL;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_session_get(f->store, id, &s, &err), &err);
    return s;
}

static void test_activity_recorded(void **state)
{
    tia_api_fixture *f = *state;
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    lib_session(f, "bob", HOUR_US, tok, id);
    tia_session *s0 = lib_get(f, id);
    assert_int_equal(s0->last_activity_at, s0->started_at);
    assert_null(s0->ip_address);
    tia_time_us prev = s0->last_activity_at;
    tia_session_free(s0);
    /* Every request moves it (the server was started with activity_interval_us = -1). */
    for (int i = 0; i < 3; i++) {
        sleep_ms(30);
        expect(f, tok, "GET", "/api/v1/agents", NULL, 200, NULL);
        tia_session *s = lib_get(f, id);
        if (s->last_activity_at <= prev)
            fail_msg("request %d: last_activity_at %lld did not move past %lld", i,
                     (long long)s->last_activity_at, (long long)prev);
        prev = s->last_activity_at;
        tia_session_free(s);
    }
    /* A refused request (a 422 after authentication) is activity too. */
    sleep_ms(30);
    expect(f, tok, "PUT", "/api/v1/agents/akira-001/status", "{\"status\": \"x\"}", 422, "invalid");
    tia_session *s = lib_get(f, id);
    assert_true(s->last_activity_at > prev);
    tia_session_free(s);

    /* Login records the connection's address and the device. */
    char tok2[TIA_TOKEN_BUF], id2[TIA_UUID_BUF];
    login(f, tok, "{\"device_info\": {\"model\": \"Pixel 9\", \"os\": \"android 15\"}}", tok2, id2);
    s = lib_get(f, id2);
    assert_string_equal(s->user_id, "bob");
    assert_non_null(s->ip_address);
    assert_string_equal(s->ip_address, "127.0.0.1");
    json_t *got = json_loads(s->device_info, 0, NULL);
    json_t *want = json_pack("{s:s,s:s}", "model", "Pixel 9", "os", "android 15");
    assert_true(got && json_equal(got, want));
    json_decref(got);
    json_decref(want);
    tia_session_free(s);

    const char *ua[] = {"User-Agent: TokyoIA-Android/2.1", NULL};
    tia_http_opts o = {.token = tok, .headers = ua};
    tia_http_resp r;
    tia_http(f, "POST", "/api/v1/sessions", "{\"user_id\": \"bob\"}", &o, &r);
    TIA_ASSERT_STATUS(&r, 201);
    s = lib_get(f, tia_json_str(json_object_get(r.json, "session"), "id"));
    tia_http_resp_free(&r);
    got = json_loads(s->device_info, 0, NULL);
    want = json_pack("{s:s}", "user_agent", "TokyoIA-Android/2.1");
    assert_true(got && json_equal(got, want));
    json_decref(got);
    json_decref(want);
    assert_string_equal(s->ip_address, "127.0.0.1");
    tia_session_free(s);

    /* The current session shows the refreshed time. */
    sleep_ms(30);
    tia_time_us before = tia_now_us();
    tia_http(f, "GET", "/api/v1/sessions/current", NULL, &(tia_http_opts){.token = tok2}, &r);
    TIA_ASSERT_STATUS(&r, 200);
    tia_time_us shown;
    assert_int_equal(tia_time_parse(tia_json_str(r.json, "last_activity_at"), &shown), 0);
    /* The database's clock and ours agree to well under a second here. */
    assert_true(shown > before - 1000000);
    tia_http_resp_free(&r);
}

/* With the default interval (10 s), a request right after another leaves it alone. */
static void test_activity_throttled(void **state)
{
    tia_api_fixture *f = *state;
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    lib_session(f, "bob", HOUR_US, tok, id);
    sleep_ms(30);
    expect(f, tok, "GET", "/api/v1/agents", NULL, 200, NULL);
    expect(f, tok, "GET", "/api/v1/agents", NULL, 200, NULL);
    tia_session *s = lib_get(f, id);
    assert_int_equal(s->last_activity_at, s->started_at);
    tia_session_free(s);
}

/* ---- 403 ---- */

static void test_forbidden(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    char alice[TIA_TOKEN_BUF], alice_id[TIA_UUID_BUF], bob[TIA_TOKEN_BUF], bob_id[TIA_UUID_BUF];
    lib_session(f, "alice", HOUR_US, alice, alice_id);
    lib_session(f, "bob", HOUR_US, bob, bob_id);

    /* Logging in another user. */
    expect(f, alice, "POST", "/api/v1/sessions", "{\"user_id\": \"bob\"}", 403, "forbidden");
    assert_int_equal(tia_test_int(f->store,
                                  "SELECT count(*) FROM user_sessions WHERE user_id = 'bob'",
                                  "SELECT count(*) FROM user_sessions WHERE user_id = 'bob'"),
                     1);
    /* Oneself is fine, named or not. */
    char t2[TIA_TOKEN_BUF], id2[TIA_UUID_BUF], t3[TIA_TOKEN_BUF], id3[TIA_UUID_BUF];
    login(f, alice, "{\"user_id\": \"alice\"}", t2, id2);
    login(f, alice, "{}", t3, id3);

    /* Revoking another user's session. */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/sessions/%s", bob_id);
    expect(f, alice, "DELETE", path, NULL, 403, "forbidden");
    assert_session_status(f, bob_id, "active");
    expect(f, bob, "GET", "/api/v1/agents", NULL, 200, NULL);

    /* One session by id: one's own, yes; another user's is not even said to exist. */
    expect(f, bob, "GET", path, NULL, 200, NULL);
    expect(f, alice, "GET", path, NULL, 404, "not_found");
    expect(f, f->token, "GET", path, NULL, 200, NULL); /* an admin's */

    /* Reading another user's sessions. */
    expect(f, alice, "GET", "/api/v1/sessions?user_id=bob", NULL, 403, "forbidden");
    as(f, alice, "GET", "/api/v1/sessions", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    json_t *items = items_of(&r);
    assert_int_equal(json_array_size(items), 3);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) assert_string_equal(tia_json_str(it, "user_id"), "alice");
    assert_true(has_id(items, alice_id) && has_id(items, id2) && has_id(items, id3));
    tia_http_resp_free(&r);
    as(f, alice, "GET", "/api/v1/sessions?user_id=alice", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), 3);
    tia_http_resp_free(&r);

    /* Setting a price. */
    expect(f, alice, "PUT", "/api/v1/prices/res1-model", "{\"usd_per_1k_tokens\": 0.01}", 403,
           "forbidden");
    assert_int_equal(tia_test_int(f->store,
                                  "SELECT count(*) FROM model_prices WHERE model = 'res1-model'",
                                  "SELECT count(*) FROM model_prices WHERE model = 'res1-model'"),
                     0);
    /* Reading prices is not an admin's privilege. */
    expect(f, alice, "GET", "/api/v1/prices", NULL, 200, NULL);

    /* The admin may do all of it. */
    expect(f, NULL, "PUT", "/api/v1/prices/res1-model", "{\"usd_per_1k_tokens\": 0.01}", 200, NULL);
    as(f, NULL, "GET", "/api/v1/sessions?user_id=bob", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), 1);
    assert_true(has_id(items_of(&r), bob_id));
    tia_http_resp_free(&r);
    /* The admin's own list is the admin's. */
    as(f, NULL, "GET", "/api/v1/sessions", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    json_array_foreach(items_of(&r), i, it)
        assert_string_equal(tia_json_str(it, "user_id"), "tester");
    tia_http_resp_free(&r);
    char bt[TIA_TOKEN_BUF], bid[TIA_UUID_BUF];
    login(f, NULL, "{\"user_id\": \"bob\"}", bt, bid);
    expect(f, NULL, "DELETE", path, NULL, 204, NULL);
    expect_401_token(f, bob, "GET", "/api/v1/agents");
    expect(f, bt, "GET", "/api/v1/agents", NULL, 200, NULL);
}

/* ---- modes ---- */

static void test_public_read(void **state)
{
    tia_api_fixture *f = *state;
    static const char *const reads[] = {
        "/api/v1/agents",
        "/api/v1/agents/akira-001",
        "/api/v1/agents/akira-001/stats",
        "/api/v1/agents/akira-001/tasks",
        "/api/v1/stats",
        "/api/v1/metrics",
        "/api/v1/prices",
        "/api/v1/metrics/series?metric_type=x",
    };
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
        expect(f, "", "GET", reads[i], NULL, 200, NULL);
    expect(f, "", "HEAD", "/api/v1/agents", NULL, 200, NULL);

    tia_http_opts none = {.token = ""};
    expect_401(f, &none, "POST", "/api/v1/agents",
               "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\"}");
    expect_401(f, &none, "PATCH", "/api/v1/agents/akira-001", "{\"name\": \"A\"}");
    expect_401(f, &none, "PUT", "/api/v1/agents/akira-001/status", "{\"status\": \"inactive\"}");
    expect_401(f, &none, "DELETE", "/api/v1/agents/akira-001", NULL);
    expect_401(f, &none, "POST", "/api/v1/metrics", "{\"metrics\": []}");
    expect_401(f, &none, "PUT", "/api/v1/prices/m", "{\"usd_per_1k_tokens\": 1}");
    expect_401(f, &none, "POST", "/api/v1/sessions", "{\"user_id\": \"tester\"}");
    /* Sessions are never public, reads included. */
    expect_401(f, &none, "GET", "/api/v1/sessions", NULL);
    expect_401(f, &none, "GET", "/api/v1/sessions/current", NULL);
    /* A token that is given is checked, even on a read. */
    expect_401_token(f, "tia_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                     "GET", "/api/v1/agents");
    assert_int_equal(
        tia_test_int(f->store, "SELECT count(*) FROM agents", "SELECT count(*) FROM agents"), 5);

    /* With a token, writes go through. */
    expect(f, NULL, "POST", "/api/v1/agents",
           "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\"}", 201, NULL);
    expect(f, NULL, "GET", "/api/v1/sessions/current", NULL, 200, NULL);
    char alice[TIA_TOKEN_BUF], alice_id[TIA_UUID_BUF];
    lib_session(f, "alice", HOUR_US, alice, alice_id);
    expect(f, alice, "PUT", "/api/v1/prices/m", "{\"usd_per_1k_tokens\": 1}", 403, "forbidden");
}

static void test_auth_off(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    expect(f, "", "GET", "/api/v1/agents", NULL, 200, NULL);
    expect(f, "", "POST", "/api/v1/agents",
           "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\"}", 201, NULL);
    expect(f, "", "PUT", "/api/v1/prices/m", "{\"usd_per_1k_tokens\": 1}", 200, NULL);
    /* Tokens are not looked at: not even a bad one is refused. */
    expect(f, "tia_nonsense", "GET", "/api/v1/agents", NULL, 200, NULL);

    /* Sessions can still be made (for later, when auth is turned on). */
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    login(f, "", "{\"user_id\": \"carol\"}", tok, id);
    assert_true(is_token(tok));
    expect(f, "", "POST", "/api/v1/sessions", "{}", 422, "invalid");
    /* There is no current session. */
    expect(f, "", "GET", "/api/v1/sessions/current", NULL, 404, "not_found");
    expect(f, "", "DELETE", "/api/v1/sessions/current", NULL, 404, "not_found");
    /* The list is everyone's; ?user_id= narrows it. */
    as(f, "", "GET", "/api/v1/sessions", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_true(has_id(items_of(&r), id));
    assert_int_equal(json_array_size(items_of(&r)), 2); /* carol's and the fixture's */
    tia_http_resp_free(&r);
    as(f, "", "GET", "/api/v1/sessions?user_id=carol", NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_int_equal(json_array_size(items_of(&r)), 1);
    tia_http_resp_free(&r);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/sessions/%s", id);
    expect(f, "", "DELETE", path, NULL, 204, NULL);
    assert_session_status(f, id, "revoked");
}

/* ---- rate limit ---- */

static void test_rate_limit(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    /* A burst of 2 at 1 request per second: the third request at once is refused. */
    expect(f, NULL, "GET", "/api/v1/prices", NULL, 200, NULL);
    expect(f, NULL, "GET", "/api/v1/prices", NULL, 200, NULL);
    as(f, NULL, "GET", "/api/v1/prices", NULL, &r);
    tia_assert_api_error(&r, 429, "rate_limited");
    char *ra = tia_http_header(&r, "Retry-After");
    assert_non_null(ra);
    char *end;
    long wait = strtol(ra, &end, 10);
    if (*end || wait < 1 || wait > 2)
        fail_msg("Retry-After: %s", ra);
    free(ra);
    tia_http_resp_free(&r);
    /* Writes count against the same bucket. */
    expect(f, NULL, "POST", "/api/v1/agents",
           "{\"id\": \"x-1\", \"name\": \"N\", \"role\": \"r\", \"model\": \"m\"}", 429,
           "rate_limited");

    /* Another token (even of the same user) has its own bucket. */
    char other[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    lib_session(f, "tester", HOUR_US, other, id);
    expect(f, other, "GET", "/api/v1/prices", NULL, 200, NULL);
    expect(f, other, "GET", "/api/v1/agents", NULL, 200, NULL);

    /* After waiting as told, the first token is served again. */
    sleep_ms(wait * 1000 + 50);
    expect(f, NULL, "GET", "/api/v1/prices", NULL, 200, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_missing_malformed_unknown, setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_expired, setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_revoked, setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_login, setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_activity_recorded, setup_activity, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_activity_throttled, setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_forbidden, setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_public_read, setup_public, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_auth_off, setup_off, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup_rate, tia_api_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
