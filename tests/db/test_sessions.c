/*
 * Tests of the user_sessions module on the backend named by TIA_TEST_BACKEND:
 * the token's shape, that the database holds only its SHA-256 (read back with
 * raw SQL) and refuses a clear token written past the library, validation,
 * touch, revoke, expiry by the database clock, malformed tokens, and bad input
 * refused without writing anything.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "tia_test.h"

#include <tokyoia/sessions.h>

#include "core/crypto.h"
#include "core/uuid.h"

#define HOUR_US (INT64_C(3600) * 1000000)

static int64_t count_sessions(tia_store *s)
{
    return tia_test_int(s, "SELECT count(*) FROM user_sessions",
                        "SELECT count(*) FROM user_sessions");
}

static void create(tia_store *s, const char *user, int64_t ttl, char token[TIA_TOKEN_BUF],
                   char id[TIA_UUID_BUF])
{
    tia_error err = {0};
    tia_session_new n = {user, NULL, NULL, ttl};
    TIA_OK_OR_FAIL(tia_session_create(s, &n, token, id, &err), &err);
}

/* Runs raw SQL with the session id put in place of %s (ids are UUIDs, safe to splice). */
static void exec_with_id(tia_store *s, const char *pg, const char *lite, const char *id)
{
    char a[512], b[512];
    snprintf(a, sizeof a, pg, id);
    snprintf(b, sizeof b, lite, id);
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_test_exec(s, a, b, &err), &err);
}

static char *text_with_id(tia_store *s, const char *pg, const char *lite, const char *id)
{
    char a[512], b[512];
    snprintf(a, sizeof a, pg, id);
    snprintf(b, sizeof b, lite, id);
    return tia_test_text(s, a, b);
}

static char *status_of(tia_store *s, const char *id)
{
    return text_with_id(s, "SELECT status FROM user_sessions WHERE id = '%s'",
                        "SELECT status FROM user_sessions WHERE id = '%s'", id);
}

static void assert_status(tia_store *s, const char *id, const char *want)
{
    char *got = status_of(s, id);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_token_shape_and_only_hash_stored(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    char token[TIA_TOKEN_BUF], token2[TIA_TOKEN_BUF], id[TIA_UUID_BUF], id2[TIA_UUID_BUF];
    create(s, "alice", HOUR_US, token, id);
    create(s, "alice", HOUR_US, token2, id2);
    assert_int_equal(strlen(token), 68);
    assert_memory_equal(token, "tia_", 4);
    for (int i = 4; i < 68; i++)
        if (!isdigit((unsigned char)token[i]) && !(token[i] >= 'a' && token[i] <= 'f'))
            fail_msg("token character %d is '%c': %s", i, token[i], token);
    assert_true(tia__uuid_valid(id));
    assert_string_not_equal(token, token2);
    assert_string_not_equal(id, id2);

    char hash[65];
    assert_int_equal(tia__sha256_hex(token, strlen(token), hash), 0);
    char *stored = text_with_id(s, "SELECT session_token FROM user_sessions WHERE id = '%s'",
                                "SELECT session_token FROM user_sessions WHERE id = '%s'", id);
    assert_non_null(stored);
    assert_string_equal(stored, hash);
    free(stored);

    /* No column of any row holds the token, nor its random part alone. */
    char pg[512], lite[512];
    snprintf(pg, sizeof pg, "SELECT count(*) FROM user_sessions u WHERE strpos(u::text, '%s') > 0",
             token + 4);
    snprintf(lite, sizeof lite,
             "SELECT count(*) FROM user_sessions WHERE instr(id || '|' || user_id || '|' || "
             "session_token || '|' || ifnull(device_info, '') || '|' || ifnull(ip_address, '') "
             "|| '|' || ifnull(started_at, '') || '|' || ifnull(last_activity_at, '') || '|' || "
             "ifnull(expires_at, '') || '|' || ifnull(status, ''), '%s') > 0",
             token + 4);
    assert_int_equal(tia_test_int(s, pg, lite), 0);
    tia_test_close(s);
}

static void test_validate_get_list(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    char token[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    tia_session_new n = {"bob", "{\"os\": \"linux\", \"v\": [1, 2]}", "2001:0db8:0:0::1",
                         2 * HOUR_US};
    TIA_OK_OR_FAIL(tia_session_create(s, &n, token, id, &err), &err);

    tia_session *v = NULL;
    TIA_OK_OR_FAIL(tia_session_validate(s, token, &v, &err), &err);
    assert_non_null(v);
    assert_string_equal(v->id, id);
    assert_string_equal(v->user_id, "bob");
    assert_string_equal(v->ip_address, "2001:db8::1");
    json_t *got = json_loads(v->device_info, 0, NULL), *want = json_loads(n.device_info, 0, NULL);
    assert_true(got != NULL && want != NULL && json_equal(got, want));
    json_decref(got);
    json_decref(want);
    assert_int_equal(v->status, TIA_SESSION_ACTIVE);
    assert_int_equal(v->expires_at - v->started_at, 2 * HOUR_US);
    assert_int_equal(v->last_activity_at, v->started_at);
    TIA_OK_OR_FAIL(tia_session_validate(s, token, NULL, &err), &err);

    tia_session *g = NULL;
    TIA_OK_OR_FAIL(tia_session_get(s, id, &g, &err), &err);
    assert_string_equal(g->id, v->id);
    assert_int_equal(g->expires_at, v->expires_at);
    tia_session_free(g);
    tia_session_free(v);
    tia_session_free(NULL);

    /* ttl 0: never expires; an IPv4 with a prefix keeps it. */
    tia_session_new forever = {"bob", NULL, "10.1.2.3/24", 0};
    char id2[TIA_UUID_BUF];
    TIA_OK_OR_FAIL(tia_session_create(s, &forever, token, id2, &err), &err);
    TIA_OK_OR_FAIL(tia_session_get(s, id2, &g, &err), &err);
    assert_true(g->expires_at == TIA_TIME_NONE);
    assert_null(g->device_info);
    assert_string_equal(g->ip_address, "10.1.2.3/24");
    tia_session_free(g);

    char other[TIA_UUID_BUF], third[TIA_UUID_BUF];
    create(s, "carol", HOUR_US, token, other);
    create(s, "bob", HOUR_US, token, third);
    struct tia_session_list l = {0};
    TIA_OK_OR_FAIL(tia_session_list(s, "bob", &l, &err), &err);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0]->id, third); /* newest first */
    assert_string_equal(l.items[1]->id, id2);
    assert_string_equal(l.items[2]->id, id);
    tia_session_list_free(&l);
    TIA_OK_OR_FAIL(tia_session_list(s, NULL, &l, &err), &err);
    assert_int_equal(l.n, 4);
    tia_session_list_free(&l);
    TIA_OK_OR_FAIL(tia_session_list(s, "nobody", &l, &err), &err);
    assert_int_equal(l.n, 0);
    tia_session_list_free(&l);
    tia_session_list_free(NULL);

    TIA_ASSERT_RC(tia_session_get(s, "0190a000-0000-7000-8000-000000000000", &g, &err),
                  TIA_ENOTFOUND, &err);
    assert_null(g);
    TIA_ASSERT_RC(tia_session_get(s, "not-a-uuid", &g, &err), TIA_EINVAL, &err);
    tia_test_close(s);
}

static void test_touch(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    char token[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    create(s, "dave", HOUR_US, token, id);
    exec_with_id(s,
                 "UPDATE user_sessions SET last_activity_at = last_activity_at - interval '1 "
                 "hour' WHERE id = '%s'",
                 "UPDATE user_sessions SET last_activity_at = last_activity_at - 3600000000 "
                 "WHERE id = '%s'",
                 id);
    tia_session *before = NULL, *after = NULL;
    TIA_OK_OR_FAIL(tia_session_get(s, id, &before, &err), &err);
    TIA_OK_OR_FAIL(tia_session_touch(s, id, &err), &err);
    TIA_OK_OR_FAIL(tia_session_get(s, id, &after, &err), &err);
    if (after->last_activity_at < before->last_activity_at + HOUR_US - 1000)
        fail_msg("last_activity_at went from %lld to %lld, want at least an hour later",
                 (long long)before->last_activity_at, (long long)after->last_activity_at);
    assert_true(after->last_activity_at >= after->started_at);
    assert_int_equal(after->expires_at, before->expires_at);
    tia_session_free(before);
    tia_session_free(after);

    TIA_ASSERT_RC(tia_session_touch(s, "0190a000-0000-7000-8000-000000000000", &err), TIA_ENOTFOUND,
                  &err);
    TIA_ASSERT_RC(tia_session_touch(s, "nope", &err), TIA_EINVAL, &err);
    TIA_OK_OR_FAIL(tia_session_revoke(s, id, &err), &err);
    TIA_ASSERT_RC(tia_session_touch(s, id, &err), TIA_EAUTH, &err);
    assert_string_equal(err.message, "session revoked");
    tia_test_close(s);
}

static void test_revoke(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    char token[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    create(s, "erin", HOUR_US, token, id);
    TIA_OK_OR_FAIL(tia_session_validate(s, token, NULL, &err), &err);
    TIA_OK_OR_FAIL(tia_session_revoke(s, id, &err), &err);
    tia_session *v = (tia_session *)&v; /* must be reset to NULL on failure */
    TIA_ASSERT_RC(tia_session_validate(s, token, &v, &err), TIA_EAUTH, &err);
    assert_string_equal(err.message, "session revoked");
    assert_null(v);
    assert_status(s, id, "revoked");
    TIA_ASSERT_RC(tia_session_revoke(s, id, &err), TIA_ECONFLICT, &err);
    TIA_ASSERT_RC(tia_session_revoke(s, "0190a000-0000-7000-8000-000000000000", &err),
                  TIA_ENOTFOUND, &err);
    tia_test_close(s);
}

static void test_expiry(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    char t1[TIA_TOKEN_BUF], id1[TIA_UUID_BUF];
    create(s, "frank", 1000, t1, id1); /* 1 ms */
    sleep_ms(20);
    TIA_ASSERT_RC(tia_session_validate(s, t1, NULL, &err), TIA_EAUTH, &err);
    assert_string_equal(err.message, "session expired");
    assert_status(s, id1, "expired"); /* marked by validate itself */
    TIA_ASSERT_RC(tia_session_validate(s, t1, NULL, &err), TIA_EAUTH, &err);
    assert_string_equal(err.message, "session expired");
    TIA_ASSERT_RC(tia_session_touch(s, id1, &err), TIA_EAUTH, &err);
    TIA_ASSERT_RC(tia_session_revoke(s, id1, &err), TIA_ECONFLICT, &err);

    /* Sweep: two past their time, one with time left, one that never expires. */
    char t[4][TIA_TOKEN_BUF], id[4][TIA_UUID_BUF];
    create(s, "gina", HOUR_US, t[0], id[0]);
    create(s, "gina", HOUR_US, t[1], id[1]);
    create(s, "gina", HOUR_US, t[2], id[2]);
    create(s, "gina", 0, t[3], id[3]);
    for (int i = 0; i < 2; i++)
        exec_with_id(s,
                     "UPDATE user_sessions SET expires_at = CURRENT_TIMESTAMP - interval '1 "
                     "second' WHERE id = '%s'",
                     "UPDATE user_sessions SET expires_at = " TIA_SQLITE_NOW " - 1000000 "
                     "WHERE id = '%s'",
                     id[i]);
    int64_t n = -1;
    TIA_OK_OR_FAIL(tia_session_expire(s, &n, &err), &err);
    assert_int_equal(n, 2);
    assert_status(s, id[0], "expired");
    assert_status(s, id[1], "expired");
    assert_status(s, id[2], "active");
    assert_status(s, id[3], "active");
    TIA_OK_OR_FAIL(tia_session_expire(s, &n, &err), &err);
    assert_int_equal(n, 0);
    TIA_OK_OR_FAIL(tia_session_expire(s, NULL, &err), &err);
    TIA_ASSERT_RC(tia_session_validate(s, t[0], NULL, &err), TIA_EAUTH, &err);
    TIA_OK_OR_FAIL(tia_session_validate(s, t[2], NULL, &err), &err);
    TIA_OK_OR_FAIL(tia_session_validate(s, t[3], NULL, &err), &err);
    tia_test_close(s);
}

static void test_malformed_tokens(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    char token[TIA_TOKEN_BUF], id[TIA_UUID_BUF], bad[80];
    create(s, "hana", HOUR_US, token, id);

    snprintf(bad, sizeof bad, "%.67s", token); /* truncated */
    TIA_ASSERT_RC(tia_session_validate(s, bad, NULL, &err), TIA_EAUTH, &err);
    snprintf(bad, sizeof bad, "%s0", token); /* one too many */
    TIA_ASSERT_RC(tia_session_validate(s, bad, NULL, &err), TIA_EAUTH, &err);
    snprintf(bad, sizeof bad, "tib_%s", token + 4); /* wrong prefix */
    TIA_ASSERT_RC(tia_session_validate(s, bad, NULL, &err), TIA_EAUTH, &err);
    snprintf(bad, sizeof bad, "%s", token);
    for (char *p = bad + 4; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    if (strcmp(bad, token) == 0) /* all digits: astronomically unlikely */
        bad[4] = 'A';
    TIA_ASSERT_RC(tia_session_validate(s, bad, NULL, &err), TIA_EAUTH, &err); /* uppercase */
    assert_string_equal(err.message, "malformed session token");
    TIA_ASSERT_RC(tia_session_validate(s, "", NULL, &err), TIA_EAUTH, &err);
    TIA_ASSERT_RC(tia_session_validate(s, NULL, NULL, &err), TIA_EAUTH, &err);
    snprintf(bad, sizeof bad, "tia_%064d", 0); /* well formed, never issued */
    TIA_ASSERT_RC(tia_session_validate(s, bad, NULL, &err), TIA_EAUTH, &err);
    assert_string_equal(err.message, "unknown session");
    TIA_OK_OR_FAIL(tia_session_validate(s, token, NULL, &err), &err);

    /* Malformed tokens never reach the database: with the table gone they still get
     * TIA_EAUTH, while a well-formed token gets the database's error. */
    TIA_OK_OR_FAIL(tia_test_exec(s, "ALTER TABLE user_sessions RENAME TO user_sessions_away",
                                 "ALTER TABLE user_sessions RENAME TO user_sessions_away", &err),
                   &err);
    snprintf(bad, sizeof bad, "%.67s", token);
    TIA_ASSERT_RC(tia_session_validate(s, bad, NULL, &err), TIA_EAUTH, &err);
    assert_string_equal(err.message, "malformed session token");
    assert_int_not_equal(tia_session_validate(s, token, NULL, &err), TIA_EAUTH);
    tia_test_close(s);
}

/* Creates n, expecting TIA_EINVAL naming field, and that nothing was written. */
static void refuse(tia_store *s, tia_session_new n, const char *field)
{
    tia_error err = {0};
    char token[TIA_TOKEN_BUF] = "untouched", id[TIA_UUID_BUF];
    TIA_ASSERT_RC(tia_session_create(s, &n, token, id, &err), TIA_EINVAL, &err);
    if (strstr(err.message, field) == NULL)
        fail_msg("message '%s' does not name %s", err.message, field);
    assert_string_equal(token, "untouched");
    assert_int_equal(count_sessions(s), 0);
}

static void test_bad_input(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    char user[128];
    memset(user, 'u', 99);
    strcpy(user + 99, "\xe2\x9c\x93"); /* 100 characters, 102 bytes */

    refuse(s, (tia_session_new){"ivan", NULL, "300.1.2.3", 0}, "ip_address");
    refuse(s, (tia_session_new){"ivan", NULL, "10.0.0.1/33", 0}, "ip_address");
    refuse(s, (tia_session_new){"ivan", NULL, "localhost", 0}, "ip_address");
    refuse(s, (tia_session_new){"ivan", NULL, "", 0}, "ip_address");
    refuse(s, (tia_session_new){"ivan", "{\"a\":", NULL, 0}, "device_info");
    refuse(s, (tia_session_new){"ivan", NULL, NULL, -1}, "ttl_us");
    refuse(s, (tia_session_new){NULL, NULL, NULL, 0}, "user_id");
    refuse(s, (tia_session_new){"", NULL, NULL, 0}, "user_id");
    strcat(user, "x");
    refuse(s, (tia_session_new){user, NULL, NULL, 0}, "user_id");
    user[strlen(user) - 1] = '\0';

    char token[TIA_TOKEN_BUF];
    tia_session_new ok = {user, "[]", "::ffff:192.0.2.1", 0};
    TIA_OK_OR_FAIL(tia_session_create(s, &ok, token, NULL, &err), &err);
    tia_session *v = NULL;
    TIA_OK_OR_FAIL(tia_session_validate(s, token, &v, &err), &err);
    assert_string_equal(v->user_id, user);
    assert_string_equal(v->ip_address, "::ffff:192.0.2.1");
    tia_session_free(v);
    tia_test_close(s);
}

static void test_db_refuses_clear_token(void **state)
{
    (void)state;
    tia_store *s = tia_test_open();
    tia_error err = {0};
    char token[TIA_TOKEN_BUF], id[TIA_UUID_BUF], hash[65], pg[512], lite[512];
    create(s, "june", HOUR_US, token, id);
    assert_int_equal(count_sessions(s), 1);
    const char *ins = "INSERT INTO user_sessions (id, user_id, session_token) VALUES "
                      "('0190a000-0000-7000-8000-00000000000%d', 'mallory', '%s')";

    /* The clear token, an uppercase hash and a short one are all refused. */
    snprintf(pg, sizeof pg, ins, 1, token);
    assert_int_equal(tia_test_exec(s, pg, pg, &err), TIA_EINVAL);
    assert_non_null(strstr(err.message, "user_sessions_token_is_hash"));
    assert_int_equal(tia__sha256_hex("x", 1, hash), 0);
    for (char *p = hash; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    snprintf(pg, sizeof pg, ins, 2, hash);
    assert_int_equal(tia_test_exec(s, pg, pg, &err), TIA_EINVAL);
    snprintf(pg, sizeof pg, ins, 3, "abc123");
    assert_int_equal(tia_test_exec(s, pg, pg, &err), TIA_EINVAL);
    assert_int_equal(count_sessions(s), 1);
    /* Updating an existing row to a clear token is refused too. */
    snprintf(pg, sizeof pg, "UPDATE user_sessions SET session_token = '%s'", token);
    assert_int_equal(tia_test_exec(s, pg, pg, &err), TIA_EINVAL);

    /* A lowercase 64-hex hash goes in: the refusals were about the token's form. */
    assert_int_equal(tia__sha256_hex("x", 1, hash), 0);
    snprintf(lite, sizeof lite, ins, 4, hash);
    TIA_OK_OR_FAIL(tia_test_exec(s, lite, lite, &err), &err);
    assert_int_equal(count_sessions(s), 2);
    TIA_OK_OR_FAIL(tia_session_validate(s, token, NULL, &err), &err);
    tia_test_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_shape_and_only_hash_stored),
        cmocka_unit_test(test_validate_get_list),
        cmocka_unit_test(test_touch),
        cmocka_unit_test(test_revoke),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_malformed_tokens),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_db_refuses_clear_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
