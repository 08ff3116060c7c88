/*
 * Unit tests of shared reads (src/api/share.c), with threads and no server: a
 * request joins only a batch that has not started, so a member's answer is the
 * one read after it arrived and never the one running when it came; a request
 * that finds its key running leads the next batch once the running one ends;
 * other keys never wait; an answer the leader does not share (ok = 0) tells the
 * members to answer alone; a crowd on a few keys gets each key's answer.
 * Steps are sequenced by waiting for tia__sharing_waiting to reach a count, not
 * by sleeping.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tia_test.h"

#include "api/api.h"

static tia__sharing *sh;

typedef struct entrant {
    const char *key;
    const char *answer; /* what it publishes when it leads */
    int ok;             /* shared_answer.ok when it leads */
    pthread_t th;
    tia__share_role role;
    char got[64]; /* the answer it ended with */
    int got_ok;
    int members; /* as a leader: its members, as tia__share_members counts them */
} entrant;

static void *enter_thread(void *arg)
{
    entrant *e = arg;
    tia__share *s = NULL;
    e->role = tia__share_enter(sh, e->key, strlen(e->key), &s);
    if (e->role == TIA__SHARE_MEMBER) {
        const tia__shared_answer *a = tia__share_answer(s);
        e->got_ok = a->ok;
        snprintf(e->got, sizeof e->got, "%s", a->text ? a->text : "");
        tia__share_leave(sh, s);
    } else if (e->role == TIA__SHARE_LEADER) {
        e->members = tia__share_members(sh, s);
        tia__shared_answer a = {0};
        a.ok = e->ok;
        a.text = strdup(e->answer);
        a.len = strlen(e->answer);
        a.status = 200;
        snprintf(e->got, sizeof e->got, "%s", e->answer);
        e->got_ok = e->ok;
        tia__share_publish(sh, s, &a);
    }
    return NULL;
}

static void start(entrant *e)
{
    assert_int_equal(pthread_create(&e->th, NULL, enter_thread, e), 0);
}

static void join(entrant *e)
{
    assert_int_equal(pthread_join(e->th, NULL), 0);
}

/* Waits (up to 10 s) until n requests are blocked in tia__share_enter. */
static void wait_waiting(int n)
{
    for (int i = 0; i < 10000; i++) {
        if (tia__sharing_waiting(sh) == n)
            return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    fail_msg("waiting: %d, want %d", tia__sharing_waiting(sh), n);
}

static int setup(void **state)
{
    (void)state;
    return tia__sharing_new(&sh);
}

static int teardown(void **state)
{
    (void)state;
    tia__sharing_free(sh);
    sh = NULL;
    return 0;
}

/* A lone request leads at once, and its answer is nobody else's. */
static void test_alone_leads(void **state)
{
    (void)state;
    entrant a = {"GET /x", "a", 1};
    start(&a);
    join(&a);
    assert_int_equal(a.role, TIA__SHARE_LEADER);
    assert_int_equal(a.members, 0);
    assert_int_equal(tia__sharing_count(sh), 0);
}

/*
 * A running (leader a), then b finds a running and opens the next batch; c and d
 * join b's batch, not a's: they arrived after a started, so a's answer may be
 * older than they are. b leads only once a has published.
 */
static void test_members_get_the_next_answer(void **state)
{
    (void)state;
    tia__share *sa = NULL;
    assert_int_equal(tia__share_enter(sh, "GET /x", 6, &sa), TIA__SHARE_LEADER);
    entrant b = {"GET /x", "b", 1}, c = {"GET /x", "c", 1}, d = {"GET /x", "d", 1};
    start(&b);
    wait_waiting(1); /* b waits for a */
    start(&c);
    start(&d);
    wait_waiting(3); /* c and d wait in b's batch */
    assert_int_equal(tia__share_members(sh, sa), 0); /* c and d are b's, not a's */
    tia__shared_answer ans = {0};
    ans.ok = 1;
    ans.text = strdup("a");
    ans.len = 1;
    tia__share_publish(sh, sa, &ans);
    assert_null(ans.text); /* taken */
    join(&b);
    join(&c);
    join(&d);
    assert_int_equal(b.role, TIA__SHARE_LEADER);
    assert_int_equal(b.members, 2);
    assert_int_equal(c.role, TIA__SHARE_MEMBER);
    assert_int_equal(d.role, TIA__SHARE_MEMBER);
    assert_string_equal(c.got, "b");
    assert_string_equal(d.got, "b");
    assert_int_equal(tia__sharing_count(sh), 2);
}

/* Another key neither waits for a running batch nor shares its answer. */
static void test_keys_apart(void **state)
{
    (void)state;
    tia__share *sa = NULL;
    assert_int_equal(tia__share_enter(sh, "GET /x\0tok1", 11, &sa), TIA__SHARE_LEADER);
    entrant other = {NULL, "y", 1};
    other.key = "GET /x"; /* the same target without the token: another key */
    start(&other);
    join(&other); /* did not wait for sa */
    assert_int_equal(other.role, TIA__SHARE_LEADER);
    assert_string_equal(other.got, "y");
    tia__shared_answer ans = {0};
    tia__share_publish(sh, sa, &ans);
    assert_int_equal(tia__sharing_count(sh), 0);
}

/* An answer not for sharing reaches the members as ok = 0: they answer alone. */
static void test_unshared_answer(void **state)
{
    (void)state;
    tia__share *sa = NULL;
    assert_int_equal(tia__share_enter(sh, "GET /z", 6, &sa), TIA__SHARE_LEADER);
    entrant b = {"GET /z", "b", 0}, c = {"GET /z", "c", 1};
    start(&b);
    wait_waiting(1);
    start(&c);
    wait_waiting(2);
    tia__shared_answer ans = {0};
    tia__share_publish(sh, sa, &ans);
    join(&b);
    join(&c);
    assert_int_equal(b.role, TIA__SHARE_LEADER);
    assert_int_equal(c.role, TIA__SHARE_MEMBER);
    assert_int_equal(c.got_ok, 0);
}

/* Many rounds of many threads on a few keys: every member gets a leader's answer. */
static void test_crowd(void **state)
{
    (void)state;
    enum { N = 64 };
    static entrant e[N];
    static char answers[N][16];
    static const char *const keys[] = {"GET /a", "GET /b", "GET /c"};
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i++) {
            snprintf(answers[i], sizeof answers[i], "%s#%d", keys[i % 3] + 4, i);
            e[i] = (entrant){keys[i % 3], answers[i], 1};
            start(&e[i]);
        }
        for (int i = 0; i < N; i++)
            join(&e[i]);
        for (int i = 0; i < N; i++) {
            assert_true(e[i].role == TIA__SHARE_LEADER || e[i].role == TIA__SHARE_MEMBER);
            /* The answer is for this key: "/a#..." for "GET /a". */
            assert_memory_equal(e[i].got, keys[i % 3] + 4, 2);
        }
    }
    assert_int_equal(tia__sharing_waiting(sh), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alone_leads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_members_get_the_next_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unshared_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crowd, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
