/*
 * The database threads (see dispatch() in server.c).
 *
 * A request used to run its statements on the libmicrohttpd thread that read it,
 * which then blocked on the database: every other connection of that thread
 * waited, and could not even join a shared read, so the server needed as many
 * HTTP threads as connections in flight. Handed to one of these threads instead,
 * the request's connection is suspended, and the HTTP threads only ever read
 * requests and send answers.
 *
 * A FIFO behind one mutex: a server has a few dozen requests in flight, and a
 * job is a database round trip, far longer than the queue's lock. A call that
 * waits in the queue longer than wait_ms is taken out by the watchdog thread and
 * handed to expire() instead (the server answers it 503), so that a database
 * that stalls turns into quick refusals rather than an ever longer queue.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "api/api.h"

struct tia__offload {
    pthread_mutex_t lock;
    pthread_cond_t ready;   /* workers: a call was queued, or stopping */
    pthread_cond_t changed; /* watchdog (CLOCK_MONOTONIC): the queue was empty, or stopping */
    tia__call *head, *tail;
    int stopping; /* the threads finish what is queued and end; pushes run at once */
    int wait_ms;  /* a call queued longer is expired; 0: never */
    void (*run)(tia__call *c);
    void (*expire)(tia__call *c);
    int has_watchdog;
    int watchdog_idle; /* it waits for a first call, with no deadline to wake at */
    pthread_t watchdog;
    size_t n_threads;
    pthread_t threads[];
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Under the lock: the head, taken off the queue. */
static tia__call *pop(tia__offload *o)
{
    tia__call *c = o->head;
    o->head = c->offload_next;
    if (o->head == NULL)
        o->tail = NULL;
    return c;
}

static void *worker(void *arg)
{
    tia__offload *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        while (o->head == NULL && !o->stopping)
            pthread_cond_wait(&o->ready, &o->lock);
        if (o->head == NULL)
            break; /* stopping, and nothing left to run */
        tia__call *c = pop(o);
        pthread_mutex_unlock(&o->lock);
        o->run(c); /* c belongs to libmicrohttpd again once this returns */
        pthread_mutex_lock(&o->lock);
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

/*
 * Sleeps until the head's deadline (the queue is in deadline order: one wait for
 * all), expires every call past it, and goes on. A worker that takes the head
 * meanwhile leaves it to wake at that deadline, find a later head (or none), and
 * sleep again: about one wake-up per --db-wait on a server that keeps up.
 */
static void *watchdog(void *arg)
{
    tia__offload *o = arg;
    pthread_mutex_lock(&o->lock);
    while (!o->stopping) {
        if (o->head == NULL) {
            o->watchdog_idle = 1;
            pthread_cond_wait(&o->changed, &o->lock);
            o->watchdog_idle = 0;
            continue;
        }
        int64_t now = mono_us(), due = o->head->offload_deadline;
        if (due > now) {
            struct timespec at = {(time_t)(due / 1000000), (long)(due % 1000000) * 1000};
            pthread_cond_timedwait(&o->changed, &o->lock, &at);
            continue;
        }
        tia__call *c = pop(o);
        pthread_mutex_unlock(&o->lock);
        o->expire(c); /* as run(): c is libmicrohttpd's again afterwards */
        pthread_mutex_lock(&o->lock);
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

int tia__offload_start(int n, int wait_ms, void (*run)(tia__call *c), void (*expire)(tia__call *c),
                       tia__offload **out)
{
    *out = NULL;
    if (n < 1 || wait_ms < 0 || (wait_ms > 0 && expire == NULL))
        return TIA_EINVAL;
    tia__offload *o = calloc(1, sizeof *o + (size_t)n * sizeof(pthread_t));
    if (o == NULL)
        return TIA_ENOMEM;
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->ready, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&o->changed, &attr);
    pthread_condattr_destroy(&attr);
    o->run = run;
    o->expire = expire;
    o->wait_ms = wait_ms;
    for (; o->n_threads < (size_t)n; o->n_threads++)
        if (pthread_create(&o->threads[o->n_threads], NULL, worker, o) != 0)
            goto fail;
    if (wait_ms > 0) {
        if (pthread_create(&o->watchdog, NULL, watchdog, o) != 0)
            goto fail;
        o->has_watchdog = 1;
    }
    *out = o;
    return 0;
fail:
    tia__offload_free(o);
    return TIA_ENOMEM;
}

void tia__offload_push(tia__offload *o, tia__call *c)
{
    c->offload_next = NULL;
    c->offload_deadline = mono_us() + (int64_t)o->wait_ms * 1000;
    pthread_mutex_lock(&o->lock);
    if (o->stopping) { /* the threads may have ended: the caller's runs it */
        pthread_mutex_unlock(&o->lock);
        o->run(c);
        return;
    }
    if (o->tail != NULL)
        o->tail->offload_next = c;
    else
        o->head = c;
    o->tail = c;
    /*
     * Only a watchdog with nothing to wake for needs the news: one that sleeps
     * until an earlier call's deadline wakes before this one's anyway (one wait
     * for all), so a busy server does not wake it at every request.
     */
    if (o->watchdog_idle)
        pthread_cond_signal(&o->changed);
    pthread_cond_signal(&o->ready);
    pthread_mutex_unlock(&o->lock);
}

void tia__offload_stop(tia__offload *o)
{
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->lock);
    int again = o->stopping;
    o->stopping = 1;
    if (again) { /* stopped before: the threads are joined */
        pthread_mutex_unlock(&o->lock);
        return;
    }
    pthread_cond_broadcast(&o->ready);
    pthread_cond_broadcast(&o->changed);
    pthread_mutex_unlock(&o->lock);
    for (size_t i = 0; i < o->n_threads; i++)
        pthread_join(o->threads[i], NULL);
    if (o->has_watchdog)
        pthread_join(o->watchdog, NULL);
}

void tia__offload_free(tia__offload *o)
{
    if (o == NULL)
        return;
    tia__offload_stop(o);
    pthread_cond_destroy(&o->changed);
    pthread_cond_destroy(&o->ready);
    pthread_mutex_destroy(&o->lock);
    free(o);
}
