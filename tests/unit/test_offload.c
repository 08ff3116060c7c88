/*
 * Unit tests of the database threads (src/api/offload.c), with no server: one
 * thread runs its calls in the order they were pushed; several threads run calls
 * at the same time; stopping runs what is queued before the threads end; a call
 * pushed once they are stopping runs at once on the pushing thread; a call
 * queued past its wait is expired instead of run. Steps are sequenced with a
 * gate and counters, not by sleeping.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "tia_test.h"

#include "api/api.h"

enum { MAX_CALLS = 16 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int gate_open;    /* calls marked to wait wait until this is set */
static int running;      /* calls inside run() now */
static int most_running; /* the most at once */
static int order[MAX_CALLS];
static int n_done;
static pthread_t ran_on[MAX_CALLS];

/* The call's number and whether it waits at the gate, in the fields run() reads. */
static tia__call calls[MAX_CALLS];

static int number_of(const tia__call *c)
{
    return (int)(c - calls);
}

static int expired[MAX_CALLS];
static int n_expired;
static pthread_t expired_on[MAX_CALLS];

static void expire(tia__call *c)
{
    pthread_mutex_lock(&lock);
    expired_on[number_of(c)] = pthread_self();
    expired[n_expired++] = number_of(c);
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

static void run(tia__call *c)
{
    pthread_mutex_lock(&lock);
    running++;
    if (running > most_running)
        most_running = running;
    pthread_cond_broadcast(&changed);
    while (c->offload_leader && !gate_open) /* offload_leader: "wait at the gate" */
        pthread_cond_wait(&changed, &lock);
    running--;
    ran_on[number_of(c)] = pthread_self();
    order[n_done++] = number_of(c);
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

/* Waits (up to 10 s) until *v reaches want. */
static void wait_for(const int *v, int want)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&lock);
    while (*v < want)
        if (pthread_cond_timedwait(&changed, &lock, &until) != 0)
            break;
    int got = *v;
    pthread_mutex_unlock(&lock);
    if (got < want)
        fail_msg("waited for %d, got %d", want, got);
}

static void open_gate(void)
{
    pthread_mutex_lock(&lock);
    gate_open = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

static int setup(void **state)
{
    (void)state;
    memset(calls, 0, sizeof calls);
    memset(order, 0, sizeof order);
    memset(expired, 0, sizeof expired);
    gate_open = running = most_running = n_done = n_expired = 0;
    return 0;
}

/* One thread: the calls run one at a time, in the order pushed. */
static void test_fifo(void **state)
{
    (void)state;
    tia__offload *o = NULL;
    assert_int_equal(tia__offload_start(1, 0, run, NULL, &o), 0);
    calls[0].offload_leader = 1; /* holds the thread while the others queue */
    tia__offload_push(o, &calls[0]);
    wait_for(&running, 1);
    for (int i = 1; i < 6; i++)
        tia__offload_push(o, &calls[i]);
    open_gate();
    wait_for(&n_done, 6);
    tia__offload_free(o);
    for (int i = 0; i < 6; i++)
        assert_int_equal(order[i], i);
    assert_int_equal(most_running, 1);
}

/* Several threads: a call waiting at the gate does not hold the others up. */
static void test_threads_run_at_once(void **state)
{
    (void)state;
    tia__offload *o = NULL;
    assert_int_equal(tia__offload_start(3, 0, run, NULL, &o), 0);
    for (int i = 0; i < 3; i++) {
        calls[i].offload_leader = 1;
        tia__offload_push(o, &calls[i]);
    }
    wait_for(&running, 3); /* all three inside run() at once */
    open_gate();
    wait_for(&n_done, 3);
    tia__offload_free(o);
    assert_int_equal(most_running, 3);
    assert_false(pthread_equal(ran_on[0], pthread_self()));
}

/*
 * Stopping runs what is queued before the threads end (a request handed over is
 * answered, never dropped), and a call pushed afterwards runs at once on the
 * thread that pushes it.
 */
static void test_stop_drains_then_runs_inline(void **state)
{
    (void)state;
    tia__offload *o = NULL;
    assert_int_equal(tia__offload_start(1, 0, run, NULL, &o), 0);
    calls[0].offload_leader = 1;
    tia__offload_push(o, &calls[0]);
    wait_for(&running, 1);
    tia__offload_push(o, &calls[1]);
    tia__offload_push(o, &calls[2]);
    open_gate(); /* stop below waits for all three */
    tia__offload_stop(o);
    assert_int_equal(n_done, 3);
    assert_int_equal(order[1], 1);
    assert_int_equal(order[2], 2);
    tia__offload_push(o, &calls[3]);
    assert_int_equal(n_done, 4); /* ran before push returned */
    assert_true(pthread_equal(ran_on[3], pthread_self()));
    tia__offload_stop(o); /* a second stop is harmless */
    tia__offload_free(o);
    tia__offload_free(NULL);
}

/*
 * A call still queued past its wait goes to expire() (the server's 503), in
 * order, off the busy database thread; a call that a free thread takes at once
 * runs as usual.
 */
static void test_expire_after_wait(void **state)
{
    (void)state;
    tia__offload *o = NULL;
    assert_int_equal(tia__offload_start(1, 100, run, expire, &o), 0);
    calls[0].offload_leader = 1; /* holds the only thread */
    tia__offload_push(o, &calls[0]);
    wait_for(&running, 1);
    tia__offload_push(o, &calls[1]);
    tia__offload_push(o, &calls[2]);
    wait_for(&n_expired, 2); /* about 100 ms later, the thread still held */
    assert_int_equal(n_done, 0);
    assert_int_equal(expired[0], 1);
    assert_int_equal(expired[1], 2);
    assert_false(pthread_equal(expired_on[1], pthread_self()));
    open_gate();
    wait_for(&n_done, 1);
    tia__offload_push(o, &calls[3]); /* a free thread: runs, is not expired */
    wait_for(&n_done, 2);
    tia__offload_free(o);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 3);
    assert_int_equal(n_expired, 2);
}

static void test_refuses_no_threads(void **state)
{
    (void)state;
    tia__offload *o = (tia__offload *)&o;
    assert_int_equal(tia__offload_start(0, 0, run, NULL, &o), TIA_EINVAL);
    assert_null(o);
    assert_int_equal(tia__offload_start(1, 100, run, NULL, &o), TIA_EINVAL); /* no expire() */
    assert_null(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_fifo, setup),
        cmocka_unit_test_setup(test_threads_run_at_once, setup),
        cmocka_unit_test_setup(test_stop_drains_then_runs_inline, setup),
        cmocka_unit_test_setup(test_expire_after_wait, setup),
        cmocka_unit_test_setup(test_refuses_no_threads, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
