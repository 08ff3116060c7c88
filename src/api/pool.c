/*
 * A fixed pool of database connections for the request threads. A tia_store is
 * one connection for one thread at a time, so a request borrows one for its
 * duration and gives it back; a request that finds none free within the wait
 * is answered 503 rather than queued without bound. Every connection is opened
 * at start, so that a database that cannot be reached fails the start, not the
 * first requests.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"

struct tia__pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    tia_store **all;
    tia_store **idle; /* a stack of the free ones */
    int size, n_idle;
    atomic_ullong timeouts;
    tia_backend backend;
    char *url;
};

int tia__pool_open(const char *url, int size, tia__pool **out, tia_error *err)
{
    int rc = 0;
    tia__pool *p = calloc(1, sizeof *p);
    *out = NULL;
    if (p == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory");
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->freed, &ca);
    pthread_condattr_destroy(&ca);
    p->all = calloc((size_t)size, sizeof *p->all);
    p->idle = calloc((size_t)size, sizeof *p->idle);
    p->url = strdup(url);
    if (p->all == NULL || p->idle == NULL || p->url == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < size; i++) {
        if ((rc = tia_store_open(url, NULL, &p->all[i], err)) != 0)
            goto done;
        p->idle[p->n_idle++] = p->all[i];
        p->size++;
    }
    p->backend = tia_store_backend(p->all[0]);
    *out = p;
    p = NULL;
done:
    tia__pool_close(p);
    return rc;
}

tia_store *tia__pool_acquire(tia__pool *p, int wait_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    tia_store *s = NULL;
    pthread_mutex_lock(&p->lock);
    while (p->n_idle == 0) {
        if (wait_ms <= 0 || pthread_cond_timedwait(&p->freed, &p->lock, &deadline) == ETIMEDOUT)
            break;
    }
    if (p->n_idle > 0)
        s = p->idle[--p->n_idle];
    pthread_mutex_unlock(&p->lock);
    if (s == NULL)
        atomic_fetch_add(&p->timeouts, 1);
    return s;
}

void tia__pool_release(tia__pool *p, tia_store *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->idle[p->n_idle++] = s;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

int tia__pool_size(const tia__pool *p)
{
    return p->size;
}

int tia__pool_in_use(tia__pool *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->size - p->n_idle;
    pthread_mutex_unlock(&p->lock);
    return n;
}

uint64_t tia__pool_timeouts(tia__pool *p)
{
    return atomic_load(&p->timeouts);
}

tia_backend tia__pool_backend(const tia__pool *p)
{
    return p->backend;
}

const char *tia__pool_url(const tia__pool *p)
{
    return p->url;
}

void tia__pool_close(tia__pool *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < p->size; i++)
        tia_store_close(p->all[i]);
    free(p->all);
    free(p->idle);
    free(p->url);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
