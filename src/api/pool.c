/*
 * A fixed pool of database connections for the request threads. A tia_store is
 * one connection for one thread at a time, so a request borrows one for its
 * duration and gives it back; a request that finds none free within the wait
 * is answered 503 rather than queued without bound. Every connection is opened
 * at start, so that a database that cannot be reached fails the start, not the
 * first requests.
 *
 * With a read replica each store has its own replica connection and its own view
 * of the replica's health; the pool gathers what they report into one warning
 * per change (not one per connection) and sums their read counters for /metrics
 * and /health. A store given back is unpinned, so that the next request's reads
 * may go to the replica again.
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
    /* the replica, as the stores report it (under warn_lock) */
    pthread_mutex_t warn_lock;
    FILE *warnings;
    int retry_ms;
    tia_replica_state said; /* the last state reported by any store */
    tia_time_us said_at[4]; /* when each state was last written out */
};

static tia_time_us mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (tia_time_us)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * The stores' log hook. A change is written when the pool's view changes, and a
 * state at most once per retry interval, so that N connections finding the same
 * outage, or a replica that flaps, make one line and not N or one per request.
 * The first "up" of each store is no news.
 */
static void replica_log(void *arg, tia_replica_state from, tia_replica_state st,
                        const char *message)
{
    tia__pool *p = arg;
    (void)from; /* the pool's own view decides: stores change on their own schedules */
    pthread_mutex_lock(&p->warn_lock);
    tia_replica_state before = p->said;
    p->said = st;
    tia_time_us now = mono_us();
    int news = st != before && !(st == TIA_REPLICA_UP && before == TIA_REPLICA_NONE);
    if (news && p->said_at[st] != 0 && now - p->said_at[st] < (tia_time_us)p->retry_ms * 1000)
        news = 0;
    if (news && p->warnings != NULL) {
        p->said_at[st] = now;
        fprintf(p->warnings, "tokyoia: %s: %s\n", st == TIA_REPLICA_UP ? "note" : "warning",
                message);
        fflush(p->warnings);
    }
    pthread_mutex_unlock(&p->warn_lock);
}

int tia__pool_open(const tia_server_config *cfg, tia__pool **out, tia_error *err)
{
    int rc = 0;
    int size = cfg->db_pool;
    const char *url = tia_store_default_url(cfg->db_url);
    tia__pool *p = calloc(1, sizeof *p);
    *out = NULL;
    if (p == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory");
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->warn_lock, NULL);
    p->warnings = cfg->warnings;
    p->retry_ms = cfg->replica_retry_ms > 0 ? cfg->replica_retry_ms : 30000;
    tia_store_options so = {0};
    so.read_url = tia_store_default_read_url(cfg->db_read_url);
    so.max_replica_lag_ms = cfg->max_replica_lag_ms;
    so.replica_retry_ms = cfg->replica_retry_ms;
    so.log = replica_log;
    so.log_arg = p;
    /* Without --migrate the schema must be there already: no empty SQLite file is
     * made (and left behind) only to be refused by check_schema. */
    so.must_exist = !cfg->migrate;
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
        if ((rc = tia_store_open(url, &so, &p->all[i], err)) != 0) {
            if (rc == TIA_ENOTFOUND) {
                char what[sizeof err->message];
                snprintf(what, sizeof what, "%s", err->message);
                rc = tia_error_set(err, TIA_ESCHEMA,
                                   "%s: run 'tokyoia migrate' or start with --migrate", what);
            }
            goto done;
        }
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
    tia_store_read_primary(s, 0); /* the next request has written nothing yet */
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

void tia__pool_count_timeout(tia__pool *p)
{
    atomic_fetch_add(&p->timeouts, 1);
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

void tia__pool_replica_status(tia__pool *p, tia_replica_status *out)
{
    memset(out, 0, sizeof *out);
    out->lag_ms = -1;
    for (int i = 0; i < p->size; i++) {
        tia_replica_status one;
        tia_store_replica_status(p->all[i], &one); /* atomics: the store may be in use */
        out->reads_replica += one.reads_replica;
        out->reads_primary += one.reads_primary;
        out->fallbacks += one.fallbacks;
        if (one.lag_ms > out->lag_ms)
            out->lag_ms = one.lag_ms;
        if (one.state != TIA_REPLICA_NONE && out->state == TIA_REPLICA_NONE)
            out->state = TIA_REPLICA_UP;
    }
    if (out->state != TIA_REPLICA_NONE) {
        pthread_mutex_lock(&p->warn_lock);
        if (p->said != TIA_REPLICA_NONE)
            out->state = p->said;
        pthread_mutex_unlock(&p->warn_lock);
    }
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
    pthread_mutex_destroy(&p->warn_lock);
    free(p);
}
