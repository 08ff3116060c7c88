/*
 * Database threads for shared reads' leaders (see dispatch() in server.c).
 *
 * A leader used to run its statements on the libmicrohttpd thread that read it,
 * which then blocked on PostgreSQL: every other connection of that thread waited,
 * and could not even join a batch, so the server needed as many HTTP threads as
 * connections in flight. Handed to one of these threads instead, the leader's
 * connection is suspended like its members', and the HTTP threads only ever read
 * requests and send answers.
 *
 * A FIFO behind one mutex: a server has a few dozen requests in flight, and a
 * job is a database round trip, far longer than the queue's lock.
 */
#include <pthread.h>
#include <stdlib.h>

#include "api/api.h"

struct tia__offload {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    tia__call *head, *tail;
    int stopping; /* the threads finish what is queued and end; pushes run at once */
    void (*run)(tia__call *c);
    size_t n_threads;
    pthread_t threads[];
};

static void *worker(void *arg)
{
    tia__offload *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        while (o->head == NULL && !o->stopping)
            pthread_cond_wait(&o->ready, &o->lock);
        tia__call *c = o->head;
        if (c == NULL)
            break; /* stopping, and nothing left to run */
        o->head = c->offload_next;
        if (o->head == NULL)
            o->tail = NULL;
        pthread_mutex_unlock(&o->lock);
        o->run(c); /* c belongs to libmicrohttpd again once this returns */
        pthread_mutex_lock(&o->lock);
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

int tia__offload_start(int n, void (*run)(tia__call *c), tia__offload **out)
{
    *out = NULL;
    if (n < 1)
        return TIA_EINVAL;
    tia__offload *o = calloc(1, sizeof *o + (size_t)n * sizeof(pthread_t));
    if (o == NULL)
        return TIA_ENOMEM;
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->ready, NULL);
    o->run = run;
    for (; o->n_threads < (size_t)n; o->n_threads++)
        if (pthread_create(&o->threads[o->n_threads], NULL, worker, o) != 0) {
            tia__offload_free(o);
            return TIA_ENOMEM;
        }
    *out = o;
    return 0;
}

void tia__offload_push(tia__offload *o, tia__call *c)
{
    c->offload_next = NULL;
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
    pthread_mutex_unlock(&o->lock);
    for (size_t i = 0; i < o->n_threads; i++)
        pthread_join(o->threads[i], NULL);
}

void tia__offload_free(tia__offload *o)
{
    if (o == NULL)
        return;
    tia__offload_stop(o);
    pthread_cond_destroy(&o->ready);
    pthread_mutex_destroy(&o->lock);
    free(o);
}
