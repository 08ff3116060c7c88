/*
 * Shared reads: identical reads (same route, same request target, same token)
 * that wait together get one answer, made by one of them, instead of each
 * running the same statements. Sixteen dashboards polling /api/v1/stats cost the
 * database one query per turn, not sixteen.
 *
 * Freshness is what a request answered alone gets: a request joins only a batch
 * whose leader has not started yet, so the answer is read after every member
 * arrived; a write acknowledged before a request arrives is in its answer, and a
 * session revoked before it arrives is refused (the token check runs with the
 * read). Per key at most SHARE_RUNNING batches run and one gathers: a request
 * that finds no batch gathering opens one, and leads it once fewer than
 * SHARE_RUNNING run.
 *
 * A request that must wait is parked (the server suspends its connection, so
 * it holds no thread) and woken when the batch it waits for is published; one
 * whose client goes away meanwhile is abandoned, and a batch whose leader is
 * abandoned ends unanswered, so that its members answer alone.
 *
 * All state sits behind one mutex, with a condition variable per batch (so an
 * answer wakes only who waits for it): the live batches are a few per key, and
 * a server has a few dozen requests in flight.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

/*
 * Batches of one key that may run at once. With 16 connections on two cores
 * (bench/README, session 9), two or three were no faster than one within the
 * machine's noise, and each more halves the batches and multiplies the
 * database's work: one, the cheapest for the database.
 */
#define SHARE_RUNNING 1

typedef struct batch {
    struct batch *next;
    uint64_t hash;
    size_t key_len;
    char *key;
    int running;              /* the leader has started: nobody joins any more */
    int done;                 /* the answer is published */
    int refs;                 /* the leader until it publishes, and each member until it leaves */
    int members;              /* requests that joined (final once running) */
    pthread_cond_t done_cond; /* broadcast once done: its members and the next leader wait */
    tia__share_waiter *waiters; /* parked ones waiting for it, woken once done */
    tia__shared_answer ans;
} batch;

struct tia__sharing {
    pthread_mutex_t lock;
    batch *live; /* gathering, running, or done and still read */
    uint64_t shared;
    int waiting; /* requests waiting, blocked or parked (tia__sharing_waiting) */
    int closing; /* tia__sharing_close: nobody waits any more */
};

int tia__sharing_new(tia__sharing **out)
{
    tia__sharing *sh = calloc(1, sizeof *sh);
    *out = sh;
    if (sh == NULL)
        return TIA_ENOMEM;
    pthread_mutex_init(&sh->lock, NULL);
    return 0;
}

tia__text *tia__text_new(char *p, size_t len)
{
    tia__text *t = malloc(sizeof *t);
    if (t == NULL)
        return NULL;
    atomic_init(&t->refs, 1);
    t->len = len;
    t->p = p;
    return t;
}

tia__text *tia__text_ref(tia__text *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void tia__text_unref(void *arg)
{
    tia__text *t = arg;
    /* acq_rel: the last one sees every other holder's reads done before it frees. */
    if (t == NULL || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(t->p);
    free(t);
}

void tia__shared_answer_clear(tia__shared_answer *a)
{
    tia__text_unref(a->text);
    free(a->user_id);
    memset(a, 0, sizeof *a);
}

static void batch_free(batch *b)
{
    tia__shared_answer_clear(&b->ans);
    pthread_cond_destroy(&b->done_cond);
    free(b->key);
    free(b);
}

void tia__sharing_free(tia__sharing *sh)
{
    if (sh == NULL)
        return;
    /* Every request has ended by now, so no batch is live. */
    while (sh->live) {
        batch *b = sh->live;
        sh->live = b->next;
        batch_free(b);
    }
    pthread_mutex_destroy(&sh->lock);
    free(sh);
}

int tia__sharing_waiting(tia__sharing *sh)
{
    pthread_mutex_lock(&sh->lock);
    int n = sh->waiting;
    pthread_mutex_unlock(&sh->lock);
    return n;
}

uint64_t tia__sharing_count(tia__sharing *sh)
{
    pthread_mutex_lock(&sh->lock);
    uint64_t n = sh->shared;
    pthread_mutex_unlock(&sh->lock);
    return n;
}

static uint64_t fnv1a64(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

/* The live batch of key that is gathering, or NULL. */
static batch *gathering(tia__sharing *sh, uint64_t h, const char *key, size_t n)
{
    for (batch *b = sh->live; b; b = b->next)
        if (!b->running && b->hash == h && b->key_len == n && memcmp(b->key, key, n) == 0)
            return b;
    return NULL;
}

/*
 * When key has SHARE_RUNNING batches running, the one that started first (it
 * is likely to end first); else NULL.
 */
static batch *running_full(tia__sharing *sh, uint64_t h, const char *key, size_t n)
{
    batch *oldest = NULL;
    int count = 0;
    for (batch *b = sh->live; b; b = b->next) /* newest first */
        if (b->running && !b->done && b->hash == h && b->key_len == n &&
            memcmp(b->key, key, n) == 0) {
            oldest = b;
            count++;
        }
    return count >= SHARE_RUNNING ? oldest : NULL;
}

static void unlink_free(tia__sharing *sh, batch *b)
{
    for (batch **p = &sh->live; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    batch_free(b);
}

/* Drops one reference (the lock held); the last one of a published batch frees it. */
static void unref(tia__sharing *sh, batch *b)
{
    if (--b->refs == 0 && b->done)
        unlink_free(sh, b);
}

/* Under the lock: a new batch of key, gathering, with its leader's reference. */
static batch *open_batch(tia__sharing *sh, uint64_t h, const char *key, size_t n)
{
    batch *nb = calloc(1, sizeof *nb);
    char *k = nb ? malloc(n) : NULL;
    if (k == NULL) {
        free(nb);
        return NULL;
    }
    memcpy(k, key, n);
    nb->key = k;
    nb->key_len = n;
    nb->hash = h;
    nb->refs = 1;
    pthread_cond_init(&nb->done_cond, NULL);
    nb->next = sh->live;
    sh->live = nb;
    return nb;
}

/*
 * Under the lock: where w stands. A member goes on once its batch is done; a
 * leader once no batch of its key runs (it waits for the oldest running one,
 * holding a reference to it). TIA__SHARE_WAIT: w->after is what it waits for.
 */
static tia__share_role step(tia__sharing *sh, tia__share_waiter *w)
{
    batch *b = (batch *)w->batch;
    if (w->member) {
        if (b->done) {
            sh->shared++;
            return TIA__SHARE_MEMBER;
        }
        if (!sh->closing)
            return TIA__SHARE_WAIT;
        unref(sh, b); /* the server stops: nobody waits any more */
        w->batch = NULL;
        w->member = 0;
        return TIA__SHARE_ALONE;
    }
    batch *prev = (batch *)w->after;
    if (prev != NULL) {
        if (!prev->done && !sh->closing)
            return TIA__SHARE_WAIT;
        unref(sh, prev);
        w->after = NULL;
    }
    if (!sh->closing && (prev = running_full(sh, b->hash, b->key, b->key_len)) != NULL) {
        prev->refs++;
        w->after = (tia__share *)prev;
        return TIA__SHARE_WAIT;
    }
    if (w->deferred)
        return TIA__SHARE_LEADER; /* running once tia__share_start says so */
    if (!w->yielded && !sh->closing) {
        /*
         * Before it starts, the leader gives its core away once: requests for
         * the same key that other threads are about to read join it now
         * instead of finding it running. With 16 connections over five
         * agents' recent tasks this halved the queries per request (0.65 to
         * 0.35) and gave 25-35% more answers per second; an idle server
         * yields to nobody and goes on at once.
         */
        w->yielded = 1;
        pthread_mutex_unlock(&sh->lock);
        sched_yield();
        pthread_mutex_lock(&sh->lock);
        return step(sh, w);
    }
    b->running = 1;
    return TIA__SHARE_LEADER;
}

/* Under the lock: the batch w waits on. */
static batch *awaited(tia__share_waiter *w)
{
    return (batch *)(w->member ? w->batch : w->after);
}

/* Under the lock: w waits for its batch; a parked one until publish wakes it. */
static tia__share_role wait_step(tia__sharing *sh, tia__share_waiter *w)
{
    tia__share_role role;
    while ((role = step(sh, w)) == TIA__SHARE_WAIT) {
        batch *on = awaited(w);
        sh->waiting++;
        if (w->park != NULL) {
            w->next = on->waiters;
            on->waiters = w;
            w->parked = 1;
            w->park(w->arg);
            return TIA__SHARE_WAIT;
        }
        pthread_cond_wait(&on->done_cond, &sh->lock);
        sh->waiting--;
    }
    return role;
}

tia__share_role tia__share_join(tia__sharing *sh, const char *key, size_t n, tia__share_waiter *w)
{
    w->batch = w->after = NULL;
    w->member = w->yielded = w->parked = 0; /* w->deferred is the caller's */
    w->next = NULL;
    uint64_t h = fnv1a64(key, n);
    pthread_mutex_lock(&sh->lock);
    batch *b = gathering(sh, h, key, n);
    if (b != NULL) { /* a batch not started yet: its answer will be read after now */
        b->refs++;
        b->members++;
        w->member = 1;
    } else if ((b = open_batch(sh, h, key, n)) == NULL) {
        pthread_mutex_unlock(&sh->lock);
        return TIA__SHARE_ALONE; /* out of memory: answer alone */
    }
    w->batch = (tia__share *)b;
    tia__share_role role = wait_step(sh, w);
    pthread_mutex_unlock(&sh->lock);
    return role;
}

void tia__share_start(tia__sharing *sh, tia__share *s)
{
    pthread_mutex_lock(&sh->lock);
    ((batch *)s)->running = 1;
    pthread_mutex_unlock(&sh->lock);
}

tia__share_role tia__share_continue(tia__sharing *sh, tia__share_waiter *w)
{
    pthread_mutex_lock(&sh->lock);
    tia__share_role role = wait_step(sh, w);
    pthread_mutex_unlock(&sh->lock);
    return role;
}

tia__share_role tia__share_enter(tia__sharing *sh, const char *key, size_t n, tia__share **out)
{
    tia__share_waiter w = {0};
    tia__share_role role = tia__share_join(sh, key, n, &w);
    *out = w.batch;
    return role;
}

int tia__share_members(tia__sharing *sh, const tia__share *s)
{
    pthread_mutex_lock(&sh->lock);
    int n = ((const batch *)s)->members;
    pthread_mutex_unlock(&sh->lock);
    return n;
}

const tia__shared_answer *tia__share_answer(const tia__share *s)
{
    return &((const batch *)s)->ans;
}

/*
 * Under the lock: whoever waits for b may take its next step. Blocked ones are
 * signalled; parked ones are taken off b's list and returned, for wake_list to
 * wake once the lock is released (each woken request takes the lock at once,
 * so waking them while holding it made them queue on it: 2.5 futex calls per
 * request on recent tasks).
 */
static tia__share_waiter *detach(tia__sharing *sh, batch *b)
{
    pthread_cond_broadcast(&b->done_cond);
    tia__share_waiter *list = b->waiters;
    for (tia__share_waiter *w = list; w != NULL; w = w->next) {
        sh->waiting--;
        w->parked = 0;
    }
    b->waiters = NULL;
    return list;
}

/*
 * Wakes a detached list. Its requests stay suspended until their wake (the
 * server's connections are not freed while suspended, and none is parked any
 * more when the server stops: tia__sharing_close), so each waiter is still in
 * place; it is read before its wake, after which its request may go on.
 */
static void wake_list(tia__share_waiter *w)
{
    while (w != NULL) {
        tia__share_waiter *next = w->next;
        void (*wake)(void *) = w->wake;
        void *arg = w->arg;
        wake(arg);
        w = next;
    }
}

/* Under the lock: b's answer is in; returns its parked waiters, to wake after the lock. */
static tia__share_waiter *finish(tia__sharing *sh, batch *b)
{
    b->done = 1;
    tia__share_waiter *woken = detach(sh, b);
    unref(sh, b);
    return woken;
}

void tia__share_publish(tia__sharing *sh, tia__share *s, tia__shared_answer *ans)
{
    batch *b = (batch *)s;
    pthread_mutex_lock(&sh->lock);
    b->ans = *ans;
    memset(ans, 0, sizeof *ans);
    tia__share_waiter *woken = finish(sh, b);
    pthread_mutex_unlock(&sh->lock);
    wake_list(woken);
}

void tia__sharing_close(tia__sharing *sh)
{
    pthread_mutex_lock(&sh->lock);
    sh->closing = 1;
    for (batch *b = sh->live; b != NULL; b = b->next)
        wake_list(detach(sh, b)); /* under the lock: the stop follows, see wake_list */
    pthread_mutex_unlock(&sh->lock);
}

void tia__share_abandon(tia__sharing *sh, tia__share_waiter *w)
{
    tia__share_waiter *woken = NULL;
    pthread_mutex_lock(&sh->lock);
    batch *on = awaited(w);
    if (w->parked) { /* still on its list: off it */
        for (tia__share_waiter **p = &on->waiters; *p; p = &(*p)->next)
            if (*p == w) {
                *p = w->next;
                break;
            }
        w->parked = 0;
        sh->waiting--;
    }
    batch *b = (batch *)w->batch;
    if (w->member) {
        unref(sh, b);
    } else {
        if (w->after != NULL)
            unref(sh, (batch *)w->after);
        /* Its members must not wait for a leader that is gone: no answer to
           share (ok = 0), so each of them answers alone; nobody joins it now. */
        b->running = 1;
        woken = finish(sh, b);
    }
    w->batch = w->after = NULL;
    pthread_mutex_unlock(&sh->lock);
    wake_list(woken);
}

void tia__share_leave(tia__sharing *sh, tia__share *s)
{
    pthread_mutex_lock(&sh->lock);
    unref(sh, (batch *)s);
    pthread_mutex_unlock(&sh->lock);
}
