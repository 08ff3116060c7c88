/*
 * Wake-ups of idle workers (src/engine/notify.c) on both backends: a waiter
 * is woken by a submit from another connection (PostgreSQL) or another store
 * of the same process (SQLite) long before its backstop; a completion that
 * makes a dependent ready wakes the dependent's agent, retry_task and spawn
 * wake theirs, a retry still in its backoff does not (and next_due says when
 * it will be due); a notification for another agent neither counts for a
 * waiter nor hands it work; one transaction is one wake-up per agent however
 * many tasks it readies (counted on a raw LISTEN connection on PostgreSQL);
 * and a tia_worker with a 5 s poll claims a submitted task within a second.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_test_util.h"

#include <tokyoia/worker.h>

#include "engine/engine_internal.h"
#include "store/listen.h"

#define A "akira-001"
#define B "yuki-002"
#define C "hiro-003"
/* The backstop the waiters would fall back to, and how much sooner they must wake. */
#define BACKSTOP_MS 5000
#define PROMPT_MS 1000

typedef struct fixture {
    tia_store *s;  /* the waiters' database */
    tia_store *s2; /* another connection (PostgreSQL) or store (SQLite): the writer */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->s = tia_test_open();
    f->s2 = tia_test_reopen(f->s);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tia_store_close(f->s2);
    tia_test_close(f->s);
    free(f);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static tia__waiter *open_waiter(tia_store *s, const char *agent)
{
    tia_error err = {0};
    tia__waiter *w = NULL;
    const char *agents[1] = {agent};
    TIA_OK_OR_FAIL(tia__waiter_open(s, agents, 1, &w, &err), &err);
    return w;
}

static int wait_for(tia__waiter *w, int64_t ms)
{
    tia_error err = {0};
    int n = tia__waiter_wait(w, ms, &err);
    if (n < 0)
        fail_msg("tia__waiter_wait: %d: %s", n, err.message);
    return n;
}

/* Waits for a wake-up that must come, and asserts it came well before the backstop. */
static void expect_prompt_wakeup(tia__waiter *w)
{
    int64_t t0 = now_ms();
    int n = wait_for(w, BACKSTOP_MS);
    int64_t took = now_ms() - t0;
    if (n < 1)
        fail_msg("no wake-up within %d ms (wait returned %d)", BACKSTOP_MS, n);
    if (took >= PROMPT_MS)
        fail_msg("woken after %lld ms, want < %d ms", (long long)took, PROMPT_MS);
}

static size_t claim_count(tia_store *s, const char *agent, const char *worker)
{
    struct tia_claim_list l = {0};
    claim_agent(s, agent, worker, 10, &l);
    size_t n = l.n;
    tia_claim_list_free(&l);
    return n;
}

/* ---- a submit from elsewhere wakes an idle waiter ---- */

typedef struct delayed_submit {
    tia_store *s;
    int delay_ms;
    const char *agent;
    char id[TIA_UUID_BUF];
    int rc;
} delayed_submit;

static void *submit_later(void *arg)
{
    delayed_submit *d = arg;
    tia_error err = {0};
    int created = 0;
    sleep_ms(d->delay_ms);
    tia_task_spec t = spec_for("t", d->agent, "review");
    d->rc = tia_engine_submit_task(d->s, &t, NULL, NULL, d->id, &created, &err);
    return NULL;
}

static void test_submit_wakes_idle_waiter(void **state)
{
    fixture *f = *state;
    tia__waiter *w = open_waiter(f->s, A);
    assert_int_equal(wait_for(w, 100), 0); /* idle: nothing to wake it */
    delayed_submit d = {f->s2, 200, A, {0}, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, submit_later, &d), 0);
    expect_prompt_wakeup(w);
    pthread_join(th, NULL);
    assert_int_equal(d.rc, 0);
    assert_int_equal(claim_count(f->s, A, "w1"), 1);
    tia__waiter_free(w);
}

/* ---- completions, retries and spawns wake the agent of what became ready ---- */

static void test_completion_wakes_dependent_agent(void **state)
{
    fixture *f = *state;
    tia_error err = {0};
    tia__waiter *wb = open_waiter(f->s, B);
    const char *deps[1] = {"build"};
    tia_task_spec t[2] = {spec_for("build", A, "build"), spec_for("test", B, "test")};
    t[1].depends_on = deps;
    t[1].n_depends_on = 1;
    tia_workflow_spec wf = {.name = "wake", .tasks = t, .n_tasks = 2};
    char wf_id[TIA_UUID_BUF], ids[2][TIA_UUID_BUF];
    int created = 0;
    TIA_OK_OR_FAIL(tia_engine_submit(f->s2, &wf, wf_id, ids, &created, &err), &err);
    assert_int_equal(wait_for(wb, 300), 0); /* only A's task is ready */

    struct tia_claim_list l = {0};
    claim_agent(f->s2, A, "wa", 1, &l);
    assert_int_equal(l.n, 1);
    tia_completion c = completion_of(&l.items[0], "wa", "{\"ok\":true}", 10);
    TIA_OK_OR_FAIL(tia_engine_complete(f->s2, &c, &err), &err);
    tia_claim_list_free(&l);
    expect_prompt_wakeup(wb);
    claim_agent(f->s, B, "wb", 1, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].task->id, ids[1]);
    tia_claim_list_free(&l);
    tia__waiter_free(wb);
}

static void test_retry_task_and_spawn_wake(void **state)
{
    fixture *f = *state;
    tia_error err = {0};
    char id[TIA_UUID_BUF];
    struct tia_claim_list l = {0};
    tia__waiter *wa = open_waiter(f->s, A), *wb = open_waiter(f->s, B);
    tia_task_spec t = spec_for("t", A, "review");
    t.max_retries = 0;
    submit_one(f->s2, &t, id);
    expect_prompt_wakeup(wa);
    claim_agent(f->s2, A, "wa", 1, &l);
    assert_int_equal(l.n, 1);
    TIA_OK_OR_FAIL(tia_engine_fail(f->s2, id, "wa", l.items[0].attempt, "no", 0, &err), &err);
    tia_claim_list_free(&l);
    expect_status(f->s, id, "failed");
    assert_int_equal(wait_for(wa, 200), 0);
    TIA_OK_OR_FAIL(tia_engine_retry_task(f->s2, id, &err), &err);
    expect_prompt_wakeup(wa);

    claim_agent(f->s2, A, "wa", 1, &l);
    assert_int_equal(l.n, 1);
    tia_task_spec sub = spec_for("sub", B, "lint");
    TIA_OK_OR_FAIL(tia_engine_spawn(f->s2, id, "wa", l.items[0].attempt, &sub, 1, NULL, &err),
                   &err);
    tia_claim_list_free(&l);
    expect_prompt_wakeup(wb);
    assert_int_equal(claim_count(f->s, B, "wb"), 1);
    tia__waiter_free(wa);
    tia__waiter_free(wb);
}

static void test_retry_in_backoff_does_not_wake(void **state)
{
    fixture *f = *state;
    tia_error err = {0};
    char id[TIA_UUID_BUF];
    struct tia_claim_list l = {0};
    tia__waiter *wa = open_waiter(f->s, A);
    tia_task_spec t = spec_for("t", A, "review");
    submit_one(f->s2, &t, id);
    expect_prompt_wakeup(wa);
    claim_agent(f->s2, A, "wa", 1, &l);
    assert_int_equal(l.n, 1);
    TIA_OK_OR_FAIL(tia_engine_fail(f->s2, id, "wa", l.items[0].attempt, "flaky", 1, &err), &err);
    tia_claim_list_free(&l);
    expect_status(f->s, id, "pending");
    /* The backoff is up to 1 s with full jitter: a zero draw makes it due at once. */
    int64_t in_backoff = tia_test_int(f->s, "SELECT (run_after > now())::int FROM agent_tasks",
                                      "SELECT run_after > " TIA_SQLITE_NOW " FROM agent_tasks");
    assert_int_equal(wait_for(wa, 200) > 0, !in_backoff);

    /* next_due says when the backoff ends; here, pushed 5 s away. */
    char pg[256], lite[256];
    snprintf(pg, sizeof pg, "UPDATE agent_tasks SET run_after = now() + interval '5 seconds'");
    snprintf(lite, sizeof lite, "UPDATE agent_tasks SET run_after = %s + 5000000", TIA_SQLITE_NOW);
    TIA_OK_OR_FAIL(tia_test_exec(f->s, pg, lite, &err), &err);
    int64_t due = -2;
    TIA_OK_OR_FAIL(tia__waiter_next_due(wa, f->s, &due, &err), &err);
    if (due < 4000 || due > 5000)
        fail_msg("next_due: %lld ms, want 4000..5000", (long long)due);
    ready_now(f->s, id);
    TIA_OK_OR_FAIL(tia__waiter_next_due(wa, f->s, &due, &err), &err);
    assert_int_equal(due, -1); /* ready now: nothing in backoff */
    tia__waiter_free(wa);
}

/* ---- another agent's notification ---- */

static void test_other_agents_work_is_not_handed_over(void **state)
{
    fixture *f = *state;
    char id[TIA_UUID_BUF];
    tia__waiter *wa = open_waiter(f->s, A), *wb = open_waiter(f->s, B);
    tia_task_spec t = spec_for("t", A, "review");
    submit_one(f->s2, &t, id);
    expect_prompt_wakeup(wa);               /* the wake-up was sent... */
    assert_int_equal(wait_for(wb, 300), 0); /* ...and B's waiter did not count it */
    assert_int_equal(claim_count(f->s, B, "wb"), 0);
    expect_status(f->s, id, "pending");
    tia__waiter_free(wa);
    tia__waiter_free(wb);
}

/* ---- one wake-up per transaction and agent ---- */

typedef struct note_count {
    int total, a, b, c;
} note_count;

static void count_note(void *ctx, const char *payload)
{
    note_count *n = ctx;
    n->total++;
    n->a += payload && strcmp(payload, A) == 0;
    n->b += payload && strcmp(payload, B) == 0;
    n->c += payload && strcmp(payload, C) == 0;
}

/* PostgreSQL: what a raw LISTEN connection received (waits 300 ms for it to arrive). */
static note_count listened(tia__listener *l)
{
    note_count n = {0};
    tia_error err = {0};
    if (l == NULL)
        return n;
    sleep_ms(300);
    int rc = tia__listen_drain(l, count_note, &n, &err);
    if (rc < 0)
        fail_msg("tia__listen_drain: %d: %s", rc, err.message);
    return n;
}

/* A waiter's wake-ups, all of them: the first, then whatever follows within 300 ms. */
static int wakeups(tia__waiter *w)
{
    int n = wait_for(w, BACKSTOP_MS);
    sleep_ms(300);
    tia_error err = {0};
    int more = tia__waiter_drain(w, &err);
    if (more < 0)
        fail_msg("tia__waiter_drain: %d: %s", more, err.message);
    return n + more;
}

static void test_one_wakeup_per_transaction(void **state)
{
    fixture *f = *state;
    tia_error err = {0};
    tia__listener *raw = NULL;
    if (tia_test_is_pg())
        TIA_OK_OR_FAIL(tia__listen_open(f->s, TIA__READY_CHANNEL, &raw, &err), &err);
    tia__waiter *wa = open_waiter(f->s, A), *wb = open_waiter(f->s, B), *wc = open_waiter(f->s, C);

    /* 20 ready tasks of A, 5 of B, 20 of C waiting for A's: one wake-up each for A and B. */
    enum { NA = 20, NB = 5, N = NA + NB + NA };
    tia_task_spec t[N];
    char keys[N][16];
    const char *deps[NA][1];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        t[i] = spec_for(keys[i], i < NA ? A : i < NA + NB ? B : C, "step");
        if (i >= NA + NB) {
            deps[i - NA - NB][0] = keys[i - NA - NB];
            t[i].depends_on = deps[i - NA - NB];
            t[i].n_depends_on = 1;
        }
    }
    tia_workflow_spec wf = {.name = "storm", .tasks = t, .n_tasks = N};
    char wf_id[TIA_UUID_BUF];
    int created = 0;
    TIA_OK_OR_FAIL(tia_engine_submit(f->s2, &wf, wf_id, NULL, &created, &err), &err);
    assert_int_equal(wakeups(wa), 1);
    assert_int_equal(wakeups(wb), 1);
    assert_int_equal(wait_for(wc, 0), 0);
    note_count n = listened(raw);
    if (raw != NULL) {
        assert_int_equal(n.total, 2);
        assert_int_equal(n.a, 1);
        assert_int_equal(n.b, 1);
    }

    /* One batch completes A's 20 tasks and readies C's 20: one wake-up, for C. */
    struct tia_claim_list l = {0};
    claim_agent(f->s2, A, "wa", NA, &l);
    assert_int_equal(l.n, NA);
    tia_completion c[NA];
    int rcs[NA];
    for (int i = 0; i < NA; i++)
        c[i] = completion_of(&l.items[i], "wa", NULL, 1);
    TIA_OK_OR_FAIL(tia_engine_complete_batch(f->s2, c, NA, rcs, &err), &err);
    tia_claim_list_free(&l);
    assert_int_equal(wakeups(wc), 1);
    assert_int_equal(wait_for(wa, 0), 0);
    n = listened(raw);
    if (raw != NULL) {
        assert_int_equal(n.total, 1);
        assert_int_equal(n.c, 1);
    }
    assert_int_equal(claim_count(f->s, C, "wc"), 10);
    tia__listen_close(raw);
    tia__waiter_free(wa);
    tia__waiter_free(wb);
    tia__waiter_free(wc);
}

/* ---- the worker runtime sleeps on its waiter ---- */

typedef struct exec_seen {
    atomic_llong at_ms; /* when the executor ran; 0 before */
} exec_seen;

static int record_exec(void *ctx, const tia_job *job, tia_exec_result *out, tia_error *err)
{
    (void)job;
    (void)err;
    exec_seen *e = ctx;
    atomic_store(&e->at_ms, now_ms());
    out->ok = 1;
    return 0;
}

typedef struct run_args {
    tia_worker *w;
    int rc;
} run_args;

static void *run_worker(void *arg)
{
    run_args *r = arg;
    tia_error err = {0};
    r->rc = tia_worker_run(r->w, &err);
    return NULL;
}

static void test_worker_claims_at_once(void **state)
{
    fixture *f = *state;
    tia_error err = {0};
    exec_seen seen = {0};
    const char *agents[1] = {A};
    tia_worker_config cfg = {.agent_ids = agents,
                             .n_agents = 1,
                             .worker_id = "waker",
                             .poll_ms = BACKSTOP_MS,
                             .reap_ms = -1,
                             .exec = record_exec,
                             .exec_ctx = &seen};
    tia_worker *w = NULL;
    TIA_OK_OR_FAIL(tia_worker_new(f->s, &cfg, &w, &err), &err);
    run_args r = {w, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_worker, &r), 0);
    sleep_ms(300); /* it claimed nothing and sleeps until the backstop */
    char id[TIA_UUID_BUF];
    tia_task_spec t = spec_for("t", A, "review");
    int64_t t0 = now_ms();
    submit_one(f->s2, &t, id);
    while (atomic_load(&seen.at_ms) == 0 && now_ms() - t0 < BACKSTOP_MS * 2)
        sleep_ms(5);
    int64_t took = atomic_load(&seen.at_ms) - t0;
    tia_worker_stop(w);
    pthread_join(th, NULL);
    assert_int_equal(r.rc, 0);
    tia_worker_free(w);
    if (atomic_load(&seen.at_ms) == 0 || took >= PROMPT_MS)
        fail_msg("the worker ran the task after %lld ms, want < %d ms", (long long)took, PROMPT_MS);
    expect_status(f->s2, id, "completed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_submit_wakes_idle_waiter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_completion_wakes_dependent_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_task_and_spawn_wake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_in_backoff_does_not_wake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_agents_work_is_not_handed_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_wakeup_per_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_claims_at_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
