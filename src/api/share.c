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
 * All state sits behind one mutex, with a condition variable per batch (so an
 * answer wakes only who waits for it): the live batches are a few per key, and
 * a server has a few dozen requests in flight.
 */
#include <pthread.h>
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
    tia__shared_answer ans;
} batch;

struct tia__sharing {
    pthread_mutex_t lock;
    batch *live; /* gathering, running, or done and still read */
    uint64_t shared;
    int waiting; /* requests blocked in tia__share_enter */
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

void tia__shared_answer_clear(tia__shared_answer *a)
{
    free(a->text);
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

tia__share_role tia__share_enter(tia__sharing *sh, const char *key, size_t n, tia__share **out)
{
    *out = NULL;
    uint64_t h = fnv1a64(key, n);
    pthread_mutex_lock(&sh->lock);
    batch *b = gathering(sh, h, key, n);
    if (b != NULL) { /* a batch not started yet: its answer will be read after now */
        b->refs++;
        b->members++;
        sh->waiting++;
        while (!b->done)
            pthread_cond_wait(&b->done_cond, &sh->lock);
        sh->waiting--;
        sh->shared++;
        pthread_mutex_unlock(&sh->lock);
        *out = (tia__share *)b;
        return TIA__SHARE_MEMBER;
    }
    batch *nb = calloc(1, sizeof *nb);
    char *k = nb ? malloc(n) : NULL;
    if (k == NULL) {
        pthread_mutex_unlock(&sh->lock);
        free(nb);
        return TIA__SHARE_ALONE; /* out of memory: answer alone */
    }
    memcpy(k, key, n);
    nb->key = k;
    nb->key_len = n;
    nb->hash = h;
    nb->refs = 1;
    pthread_cond_init(&nb->done_cond, NULL);
    nb->next = sh->live;
    sh->live = nb;
    /* Gather the requests that come while the running ones run; lead them once one ends. */
    batch *prev;
    while ((prev = running_full(sh, h, key, n)) != NULL) {
        prev->refs++;
        sh->waiting++;
        while (!prev->done)
            pthread_cond_wait(&prev->done_cond, &sh->lock);
        sh->waiting--;
        unref(sh, prev);
    }
    nb->running = 1;
    pthread_mutex_unlock(&sh->lock);
    *out = (tia__share *)nb;
    return TIA__SHARE_LEADER;
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

void tia__share_publish(tia__sharing *sh, tia__share *s, tia__shared_answer *ans)
{
    batch *b = (batch *)s;
    pthread_mutex_lock(&sh->lock);
    b->ans = *ans;
    memset(ans, 0, sizeof *ans);
    b->done = 1;
    pthread_cond_broadcast(&b->done_cond);
    unref(sh, b);
    pthread_mutex_unlock(&sh->lock);
}

void tia__share_leave(tia__sharing *sh, tia__share *s)
{
    pthread_mutex_lock(&sh->lock);
    unref(sh, (batch *)s);
    pthread_mutex_unlock(&sh->lock);
}
