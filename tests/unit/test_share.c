/*
 * Unit tests of shared reads (src/api/share.c), with threads and no server: a
 * request joins only a batch that has not started, so a member's answer is the
 * one read after it arrived and never the one running when it came; a request
 * that finds its key running leads the next batch once the running one ends;
 * other keys never wait; an answer the leader does not share (ok = 0) tells the
 * members to answer alone; a crowd on a few keys gets each key's answer; a
 * parked request (park and wake instead of blocking) goes the same way.
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

/* A shared text of s (one reference). */
static tia__text *text_of(const char *s)
{
    char *p = strdup(s);
    assert_non_null(p);
    tia__text *t = tia__text_new(p, strlen(s));
    assert_non_null(t);
    return t;
}

static void *enter_thread(void *arg)
{
    entrant *e = arg;
    tia__share *s = NULL;
    e->role = tia__share_enter(sh, e->key, strlen(e->key), &s);
    if (e->role == TIA__SHARE_MEMBER) {
        const tia__shared_answer *a = tia__share_answer(s);
        e->got_ok = a->ok;
        snprintf(e->got, sizeof e->got, "%s", a->text ? a->text->p : "");
        tia__share_leave(sh, s);
    } else if (e->role == TIA__SHARE_LEADER) {
        e->members = tia__share_members(sh, s);
        tia__shared_answer a = {0};
        a.ok = e->ok;
        a.text = text_of(e->answer);
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
    ans.text = text_of("a");
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

/*
 * A deferred leader (queued for a database thread in the server) leads at once
 * but keeps its batch open: b joins it until tia__share_start; c, arriving after
 * the start, opens the next batch and waits for this one to end.
 */
static void test_deferred_start(void **state)
{
    (void)state;
    tia__share_waiter w = {0};
    w.deferred = 1;
    assert_int_equal(tia__share_join(sh, "GET /d", 6, &w), TIA__SHARE_LEADER);
    entrant b = {"GET /d", "b", 1}, c = {"GET /d", "c", 1};
    start(&b);
    wait_waiting(1); /* b waits: as a member of the leader's batch */
    int before_start = tia__share_members(sh, w.batch);
    tia__share_start(sh, w.batch);
    start(&c);
    wait_waiting(2); /* c waits for the started batch, in a batch of its own */
    int after_start = tia__share_members(sh, w.batch);
    tia__shared_answer ans = {0};
    ans.ok = 1;
    ans.text = text_of("d");
    tia__share_publish(sh, w.batch, &ans);
    join(&b); /* every thread has ended before anything is asserted */
    join(&c);
    assert_int_equal(before_start, 1);
    assert_int_equal(after_start, 1);
    assert_int_equal(b.role, TIA__SHARE_MEMBER);
    assert_string_equal(b.got, "d");
    assert_int_equal(c.role, TIA__SHARE_LEADER);
    assert_int_equal(c.members, 0);
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

/* A parked request's park and wake calls (as a server's suspend and resume). */
typedef struct tally {
    int parks;
    int wakes;
} tally;

static void park(void *arg)
{
    ((tally *)arg)->parks++;
}

static void wake(void *arg)
{
    tally *t = arg;
    assert_true(t->wakes < t->parks); /* never woken but after its park */
    t->wakes++;
}

static tia__share_role join_parked(const char *key, tia__share_waiter *w, tally *t)
{
    *w = (tia__share_waiter){.park = park, .wake = wake, .arg = t};
    return tia__share_join(sh, key, strlen(key), w);
}

/*
 * Four parked requests for key: w[0] leads at once, w[1] waits to lead the next
 * batch, w[2] and w[3] join that batch as its members.
 */
static void line_up(const char *key, tia__share_waiter *const *w, tally *const *t)
{
    assert_int_equal(join_parked(key, w[0], t[0]), TIA__SHARE_LEADER);
    for (int i = 1; i < 4; i++)
        assert_int_equal(join_parked(key, w[i], t[i]), TIA__SHARE_WAIT);
    assert_int_equal(tia__share_members(sh, w[0]->batch), 0);
}

static void publish_text(tia__share *s, const char *text)
{
    tia__shared_answer ans = {0};
    ans.ok = 1;
    ans.text = text_of(text);
    ans.status = 200;
    tia__share_publish(sh, s, &ans);
}

/*
 * With park set nothing blocks, so one thread plays every request: a waits for
 * nobody; b finds a running, is parked, and is woken by a's answer to lead; c
 * joins b's batch, is parked, is not woken by a's answer, and gets b's.
 */
static void test_parked(void **state)
{
    (void)state;
    tia__share_waiter wa, wb, wc;
    tally ta = {0}, tb = {0}, tc = {0};
    assert_int_equal(join_parked("GET /p", &wa, &ta), TIA__SHARE_LEADER);
    assert_int_equal(join_parked("GET /p", &wb, &tb), TIA__SHARE_WAIT);
    assert_int_equal(join_parked("GET /p", &wc, &tc), TIA__SHARE_WAIT);
    assert_int_equal(ta.parks, 0);
    assert_int_equal(tb.parks, 1);
    assert_int_equal(tc.parks, 1);
    assert_int_equal(tia__sharing_waiting(sh), 2);
    assert_int_equal(tia__share_members(sh, wa.batch), 0); /* c is b's */

    publish_text(wa.batch, "a");
    assert_int_equal(tb.wakes, 1);
    assert_int_equal(tc.wakes, 0); /* a's answer is older than c */
    assert_int_equal(tia__sharing_waiting(sh), 1);
    assert_int_equal(tia__share_continue(sh, &wb), TIA__SHARE_LEADER);
    assert_int_equal(tia__share_members(sh, wb.batch), 1);

    /* A request that comes now finds b running: it waits for the batch after b. */
    tia__share_waiter wd;
    tally td = {0};
    assert_int_equal(join_parked("GET /p", &wd, &td), TIA__SHARE_WAIT);

    publish_text(wb.batch, "b");
    assert_int_equal(tc.wakes, 1);
    assert_int_equal(td.wakes, 1);
    assert_int_equal(tia__share_continue(sh, &wc), TIA__SHARE_MEMBER);
    assert_string_equal(tia__share_answer(wc.batch)->text->p, "b");
    tia__share_leave(sh, wc.batch);
    assert_int_equal(tia__share_continue(sh, &wd), TIA__SHARE_LEADER);
    publish_text(wd.batch, "d");
    assert_int_equal(tia__sharing_waiting(sh), 0);
    assert_int_equal(tia__sharing_count(sh), 1);
    assert_int_equal(tb.parks + tc.parks + td.parks, 3); /* each parked once */
}

/*
 * The answer's text is one copy for the leader and every member: each holds a
 * reference (as their responses do), and it outlives the batch until the last
 * one lets go (ASan sees a use after free or a leak otherwise).
 */
static void test_text_shared(void **state)
{
    (void)state;
    tia__share_waiter wa, wb, wc, wd;
    tally ta = {0}, tb = {0}, tc = {0}, td = {0};
    line_up("GET /t", (tia__share_waiter *[]){&wa, &wb, &wc, &wd}, (tally *[]){&ta, &tb, &tc, &td});
    publish_text(wa.batch, "first");
    assert_int_equal(tia__share_continue(sh, &wb), TIA__SHARE_LEADER);
    assert_int_equal(tia__share_members(sh, wb.batch), 2);

    tia__text *leader = text_of("shared");
    tia__shared_answer a = {.ok = 1, .status = 200, .text = tia__text_ref(leader)};
    tia__share_publish(sh, wb.batch, &a);
    assert_null(a.text); /* taken by the batch */
    assert_int_equal(tia__share_continue(sh, &wc), TIA__SHARE_MEMBER);
    assert_int_equal(tia__share_continue(sh, &wd), TIA__SHARE_MEMBER);
    tia__text *c = tia__text_ref(tia__share_answer(wc.batch)->text);
    tia__text *d = tia__text_ref(tia__share_answer(wd.batch)->text);
    assert_ptr_equal(c, leader); /* no copies */
    assert_ptr_equal(d->p, leader->p);
    tia__share_leave(sh, wc.batch);
    tia__share_leave(sh, wd.batch); /* the last member: the batch goes */
    assert_int_equal(atomic_load(&leader->refs), 3);
    tia__text_unref(leader);
    tia__text_unref(c);
    assert_string_equal(d->p, "shared");
    assert_int_equal(d->len, 6);
    tia__text_unref(d); /* the last reference frees it */
    tia__text_unref(NULL);
}

/*
 * A parked request whose client goes away is abandoned: a member just leaves;
 * a leader-to-be ends its batch unanswered (ok = 0) so that its member, woken,
 * answers alone instead of waiting for nobody; nothing is left waiting.
 */
static void test_abandoned(void **state)
{
    (void)state;
    tia__share_waiter wa, wb, wc, wd;
    tally ta = {0}, tb = {0}, tc = {0}, td = {0};
    line_up("GET /q", (tia__share_waiter *[]){&wa, &wb, &wc, &wd}, (tally *[]){&ta, &tb, &tc, &td});
    assert_int_equal(tia__sharing_waiting(sh), 3);

    tia__share_abandon(sh, &wd); /* d's client left while parked */
    assert_int_equal(tia__sharing_waiting(sh), 2);
    assert_int_equal(td.wakes, 0);

    publish_text(wa.batch, "a"); /* wakes b, whose client left before it went on */
    assert_int_equal(tb.wakes, 1);
    assert_int_equal(tc.wakes, 0);
    tia__share_abandon(sh, &wb);
    assert_int_equal(tc.wakes, 1); /* b's batch ended without an answer */
    assert_int_equal(tia__share_continue(sh, &wc), TIA__SHARE_MEMBER);
    assert_int_equal(tia__share_answer(wc.batch)->ok, 0); /* answer alone */
    tia__share_leave(sh, wc.batch);
    assert_int_equal(tia__sharing_waiting(sh), 0);

    /* The key is free again: the next request leads at once. */
    tia__share_waiter we;
    tally te = {0};
    assert_int_equal(join_parked("GET /q", &we, &te), TIA__SHARE_LEADER);
    publish_text(we.batch, "e");
}

/*
 * tia__sharing_close (the server stops): parked requests are woken, a member
 * whose answer is not in answers alone, a leader-to-be starts though the batch
 * before it still runs, and a thread blocked in tia__share_enter goes on too.
 */
static void test_close(void **state)
{
    (void)state;
    tia__share_waiter wa, wb, wc;
    tally ta = {0}, tb = {0}, tc = {0};
    assert_int_equal(join_parked("GET /s", &wa, &ta), TIA__SHARE_LEADER);
    assert_int_equal(join_parked("GET /s", &wb, &tb), TIA__SHARE_WAIT);
    assert_int_equal(join_parked("GET /s", &wc, &tc), TIA__SHARE_WAIT);
    entrant d = {"GET /s", "d", 1}; /* blocked, not parked: joins b's batch */
    start(&d);
    wait_waiting(3);

    tia__sharing_close(sh);
    assert_int_equal(tb.wakes, 1);
    assert_int_equal(tc.wakes, 1);
    join(&d);
    assert_int_equal(d.role, TIA__SHARE_ALONE);
    assert_int_equal(tia__share_continue(sh, &wc), TIA__SHARE_ALONE);
    assert_int_equal(tia__share_continue(sh, &wb), TIA__SHARE_LEADER);
    assert_int_equal(tia__sharing_waiting(sh), 0);
    /* Nobody waits from now on. */
    tia__share_waiter we;
    tally te = {0};
    assert_int_equal(join_parked("GET /s", &we, &te), TIA__SHARE_LEADER);
    publish_text(wa.batch, "a");
    publish_text(wb.batch, "b");
    publish_text(we.batch, "e");
    assert_int_equal(te.parks, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alone_leads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_members_get_the_next_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unshared_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crowd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandoned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
