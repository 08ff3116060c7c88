/*
 * The worker runtime (include/tokyoia/worker.h). One coordinating thread, the
 * caller of tia_worker_run, owns the store: it claims, heartbeats, reports and
 * reaps. Each claimed task runs in a slot thread that only calls the executor,
 * so that a slow executor never delays another task's heartbeat, and the store
 * (one connection, one thread) is never shared. Slot threads and
 * tia_worker_stop (which may run in a signal handler) wake the coordinator
 * through a self-pipe; new work wakes it through a waiter (notify.c: LISTEN
 * on PostgreSQL, in-process signals on SQLite), polled beside the pipe; it
 * otherwise sleeps until the next poll (the backstop, and the end of a
 * retry's backoff), heartbeat, reap or drain deadline.
 */
#define _GNU_SOURCE /* pipe2, O_CLOEXEC pipes without a race against fork */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tokyoia/worker.h>

#include "core/crypto.h"
#include "core/validate.h"
#include "engine/engine_internal.h"

/* Consecutive failed database calls after which the worker gives up. */
#define DB_ERRORS_MAX 10

struct tia_job_ctl {
    atomic_int stop; /* tia_stop_reason */
};

typedef struct slot {
    struct tia_worker *w;
    int busy;
    pthread_t thread;
    tia_claim claim; /* owns task and agent_model */
    tia_job job;
    tia_job_ctl ctl;
    tia_exec_result res;
    tia_error exec_err;
    int exec_rc;
    atomic_int done;
    int64_t started_ms, next_hb_ms;
} slot;

struct tia_worker {
    tia_store *s;
    char **agent_ids;
    tia_agent **agents;
    size_t n_agents;
    char id[TIA_WORKER_ID_MAX * 4 + 1];
    int concurrency, once;
    int64_t lease_ms, hb_ms, poll_ms, drain_ms, reap_ms;
    tia_exec_fn exec;
    void *exec_ctx;
    void (*on_event)(void *ctx, const tia_worker_event *ev);
    void *event_ctx;
    slot *slots;
    int wake[2];
    tia__waiter *waiter; /* during tia_worker_run; NULL: polling only */
    atomic_int stop_requests;
    tia_worker_stats stats;
};

/* The coordinator's state during one tia_worker_run. */
typedef struct run_state {
    int draining;
    int64_t drain_deadline, next_poll, next_reap;
    int64_t next_listen; /* when to try again to reach a waiter that failed */
    int db_errors;
    int fatal_rc;
    tia_error fatal;
} run_state;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- jobs and results ---- */

tia_stop_reason tia_job_stop(const tia_job *job)
{
    if (job == NULL || job->ctl == NULL)
        return TIA_STOP_NONE;
    return (tia_stop_reason)atomic_load(&job->ctl->stop);
}

/* A lost lease overrides any other reason; the others only replace "none". */
static void set_stop(tia_job_ctl *ctl, tia_stop_reason why)
{
    int none = TIA_STOP_NONE;
    if (why == TIA_STOP_LEASE_LOST)
        atomic_store(&ctl->stop, why);
    else
        atomic_compare_exchange_strong(&ctl->stop, &none, (int)why);
}

void tia_exec_result_init(tia_exec_result *r)
{
    memset(r, 0, sizeof *r);
    r->tokens_used = r->input_tokens = r->output_tokens = r->cost_micros = -1;
}

void tia_exec_result_clear(tia_exec_result *r)
{
    if (r == NULL)
        return;
    free(r->output_data);
    free(r->error_message);
    tia_exec_result_init(r);
}

/* ---- creation ---- */

static void wake(tia_worker *w)
{
    char c = 1;
    ssize_t n = write(w->wake[1], &c, 1); /* a full pipe is already a wake-up */
    (void)n;
}

void tia_worker_stop(tia_worker *w)
{
    if (w == NULL)
        return;
    atomic_fetch_add(&w->stop_requests, 1);
    wake(w);
}

const char *tia_worker_id(const tia_worker *w)
{
    return w->id;
}

void tia_worker_stats_get(const tia_worker *w, tia_worker_stats *out)
{
    *out = w->stats;
}

void tia_worker_free(tia_worker *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n_agents; i++) {
        free(w->agent_ids[i]);
        tia_agent_free(w->agents[i]);
    }
    free(w->agent_ids);
    free(w->agents);
    free(w->slots);
    if (w->wake[0] >= 0)
        close(w->wake[0]);
    if (w->wake[1] >= 0)
        close(w->wake[1]);
    free(w);
}

/* "host:pid:random", unique enough to tell workers apart in agent_tasks.worker_id. */
static void default_id(char *buf, size_t len)
{
    char host[64] = "localhost";
    unsigned char rnd[3] = {0};
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    tia__random_bytes(rnd, sizeof rnd);
    snprintf(buf, len, "%s:%ld:%02x%02x%02x", host, (long)getpid(), rnd[0], rnd[1], rnd[2]);
}

/* Fills the defaults and refuses what is out of range, naming the field. */
static int check_config(const tia_worker_config *c, tia_worker *w, tia_error *err)
{
    if (c->n_agents == 0 || c->agent_ids == NULL)
        return tia_error_set(err, TIA_EINVAL, "agent_ids: at least one agent is required");
    if (c->exec == NULL)
        return tia_error_set(err, TIA_EINVAL, "exec: an executor is required");
    w->concurrency = c->concurrency ? c->concurrency : 1;
    w->lease_ms = c->lease_ms ? c->lease_ms : TIA_WORKER_LEASE_MS;
    w->poll_ms = c->poll_ms ? c->poll_ms : TIA_WORKER_POLL_MS;
    w->drain_ms = c->drain_ms ? c->drain_ms : TIA_WORKER_DRAIN_MS;
    w->reap_ms = c->reap_ms ? c->reap_ms : w->lease_ms;
    if (w->concurrency < 1 || w->concurrency > TIA_WORKER_CONCURRENCY_MAX)
        return tia_error_set(err, TIA_EINVAL, "concurrency: %d is not within 1..%d", w->concurrency,
                             TIA_WORKER_CONCURRENCY_MAX);
    if (w->lease_ms < 1000 || w->lease_ms > 3600000)
        return tia_error_set(err, TIA_EINVAL, "lease: %lld ms is not within 1 s .. 1 h",
                             (long long)w->lease_ms);
    if (w->poll_ms < 10 || w->poll_ms > 3600000)
        return tia_error_set(err, TIA_EINVAL, "poll: %lld ms is not within 10 ms .. 1 h",
                             (long long)w->poll_ms);
    if (w->drain_ms < 0)
        return tia_error_set(err, TIA_EINVAL, "drain: must not be negative");
    if (c->worker_id != NULL) {
        int rc = tia__check_text(err, "worker_id", c->worker_id, TIA_WORKER_ID_MAX, 1);
        if (rc != 0)
            return rc;
        snprintf(w->id, sizeof w->id, "%s", c->worker_id);
    } else {
        default_id(w->id, sizeof w->id);
    }
    /* A third of the lease leaves two heartbeats' slack before the reaper may act. */
    w->hb_ms = w->lease_ms / 3;
    w->once = c->once;
    w->exec = c->exec;
    w->exec_ctx = c->exec_ctx;
    w->on_event = c->on_event;
    w->event_ctx = c->event_ctx;
    return 0;
}

static int load_agents(tia_worker *w, const tia_worker_config *c, tia_error *err)
{
    w->agent_ids = calloc(c->n_agents, sizeof *w->agent_ids);
    w->agents = calloc(c->n_agents, sizeof *w->agents);
    if (w->agent_ids == NULL || w->agents == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n_agents; i++) {
        if (c->agent_ids[i] == NULL)
            return tia_error_set(err, TIA_EINVAL, "agent_ids: entry %zu is NULL", i);
        int rc = tia_agent_get(w->s, c->agent_ids[i], &w->agents[i], err);
        w->n_agents = i + 1;
        if (rc != 0)
            return rc;
        if ((w->agent_ids[i] = strdup(c->agent_ids[i])) == NULL)
            return tia_error_set(err, TIA_ENOMEM, "out of memory");
    }
    return 0;
}

int tia_worker_new(tia_store *s, const tia_worker_config *cfg, tia_worker **out, tia_error *err)
{
    int rc = 0;
    tia_worker *w = calloc(1, sizeof *w);
    *out = NULL;
    if (w == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory");
    w->s = s;
    w->wake[0] = w->wake[1] = -1;
    if ((rc = check_config(cfg, w, err)) != 0 || (rc = load_agents(w, cfg, err)) != 0)
        goto done;
    w->slots = calloc((size_t)w->concurrency, sizeof *w->slots);
    if (w->slots == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory");
        goto done;
    }
    if (pipe2(w->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        rc = tia_error_set(err, TIA_EIO, "cannot create the worker's wake-up pipe: %s",
                           strerror(errno));
        goto done;
    }
    for (int i = 0; i < w->concurrency; i++)
        w->slots[i].w = w;
    *out = w;
    w = NULL;
done:
    tia_worker_free(w);
    return rc;
}

/* ---- events ---- */

static void emit_task(tia_worker *w, const slot *sl, tia_worker_event_kind kind,
                      const char *message, int will_retry)
{
    if (w->on_event == NULL)
        return;
    const tia_task *t = sl->claim.task;
    tia_worker_event ev = {kind,
                           t->id,
                           t->agent_id,
                           t->task_type,
                           sl->claim.attempt,
                           mono_ms() - sl->started_ms,
                           sl->res.tokens_used,
                           will_retry,
                           message};
    w->on_event(w->event_ctx, &ev);
}

static void emit(tia_worker *w, tia_worker_event_kind kind, const char *message)
{
    if (w->on_event == NULL)
        return;
    tia_worker_event ev = {kind, NULL, NULL, NULL, 0, 0, -1, 0, message};
    w->on_event(w->event_ctx, &ev);
}

/*
 * A call on a held task's attempt (heartbeat, complete, fail): a task that is gone
 * (deleted with its workflow or agent, TIA_ENOTFOUND) has taken its lease with it,
 * as one taken back has (TIA_ECONFLICT): the work is no longer this worker's, and
 * nothing is wrong with the database.
 */
static int held_rc(int rc)
{
    return rc == TIA_ENOTFOUND ? TIA_ECONFLICT : rc;
}

/*
 * Counts a database call's outcome: errors other than a lost lease are said as
 * an event, and too many in a row (or one that retrying cannot fix) become fatal.
 */
static void db_outcome(tia_worker *w, run_state *st, int rc, const tia_error *err)
{
    if (rc == 0 || rc == TIA_ECONFLICT) {
        st->db_errors = 0;
        return;
    }
    emit(w, TIA_WORKER_ERROR, err->message);
    int hopeless = rc == TIA_ESCHEMA || rc == TIA_ENOMEM || rc == TIA_EINVAL;
    if ((hopeless || ++st->db_errors >= DB_ERRORS_MAX) && st->fatal_rc == 0) {
        st->fatal_rc = rc;
        st->fatal = *err;
    }
}

/* ---- slots ---- */

static void *slot_main(void *arg)
{
    slot *sl = arg;
    sl->exec_rc = sl->w->exec(sl->w->exec_ctx, &sl->job, &sl->res, &sl->exec_err);
    atomic_store(&sl->done, 1);
    wake(sl->w);
    return NULL;
}

static const tia_agent *find_agent(const tia_worker *w, const char *id)
{
    for (size_t i = 0; i < w->n_agents; i++)
        if (strcmp(w->agents[i]->id, id) == 0)
            return w->agents[i];
    return NULL;
}

/* Starts a thread with the termination signals blocked, so that they reach the
 * coordinator (or the process) and never interrupt an executor's system calls. */
static int spawn_thread(slot *sl)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGQUIT);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int prc = pthread_create(&sl->thread, NULL, slot_main, sl);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return prc;
}

static void slot_release(slot *sl)
{
    tia_task_free(sl->claim.task);
    free(sl->claim.agent_model);
    memset(&sl->claim, 0, sizeof sl->claim);
    tia_exec_result_clear(&sl->res);
    sl->busy = 0;
}

/* Fails an attempt; the event says whether it goes back to pending. */
static void report_failure(tia_worker *w, run_state *st, slot *sl, const char *msg, int retryable,
                           tia_worker_event_kind kind)
{
    tia_error err = {0};
    const tia_claim *c = &sl->claim;
    /* Whatever the executor said (cut to fit, or bytes from a command): valid text. */
    char *text = strdup(msg);
    if (text != NULL)
        tia__utf8_repair(text);
    const char *m = text ? text : "failed";
    /* Handed back at shutdown: pending again at once, with no retry used up. */
    int rc =
        held_rc(kind == TIA_WORKER_RELEASED
                    ? tia_engine_release(w->s, c->task->id, w->id, c->attempt, m, &err)
                    : tia_engine_fail(w->s, c->task->id, w->id, c->attempt, m, retryable, &err));
    free(text);
    db_outcome(w, st, rc, &err);
    if (rc == TIA_ECONFLICT) {
        w->stats.lost++;
        emit_task(w, sl, TIA_WORKER_LOST, err.message, 0);
        return;
    }
    if (rc != 0)
        return;
    int will_retry =
        retryable && kind == TIA_WORKER_FAILED && c->task->retry_count < c->max_retries;
    if (kind == TIA_WORKER_CANCELLED)
        w->stats.cancelled++;
    else if (kind == TIA_WORKER_RELEASED)
        w->stats.released++;
    else
        w->stats.failed++;
    emit_task(w, sl, kind, msg, will_retry);
}

static void report_success(tia_worker *w, run_state *st, slot *sl)
{
    tia_error err = {0};
    const tia_exec_result *r = &sl->res;
    tia_completion c = {sl->claim.task->id, w->id,           sl->claim.attempt, r->output_data,
                        r->tokens_used,     r->input_tokens, r->output_tokens,  r->cost_micros};
    int rc = held_rc(tia_engine_complete(w->s, &c, &err));
    if (rc == TIA_EINVAL) {
        /* The result itself was refused (too large, bad JSON...): retrying the
         * same work would produce the same result, so the task fails for good. */
        char msg[TIA_ERROR_MSG_MAX + 32];
        snprintf(msg, sizeof msg, "result refused: %s", err.message);
        report_failure(w, st, sl, msg, 0, TIA_WORKER_FAILED);
        return;
    }
    db_outcome(w, st, rc, &err);
    if (rc == TIA_ECONFLICT) {
        w->stats.lost++;
        emit_task(w, sl, TIA_WORKER_LOST, err.message, 0);
    } else if (rc == 0) {
        w->stats.completed++;
        emit_task(w, sl, TIA_WORKER_COMPLETED, NULL, 0);
    }
}

/* Reports a finished slot's outcome with its lease's fencing token. */
static void report(tia_worker *w, run_state *st, slot *sl)
{
    tia_stop_reason why = (tia_stop_reason)atomic_load(&sl->ctl.stop);
    const tia_exec_result *r = &sl->res;
    if (why == TIA_STOP_LEASE_LOST) {
        w->stats.lost++;
        emit_task(w, sl, TIA_WORKER_LOST, "lease lost: the task was taken back", 0);
    } else if (sl->exec_rc != 0) {
        const char *m = sl->exec_err.message[0] ? sl->exec_err.message : "executor failed";
        report_failure(w, st, sl, m, 1, TIA_WORKER_FAILED);
    } else if (r->ok) {
        report_success(w, st, sl);
    } else if (why == TIA_STOP_CANCEL) {
        report_failure(w, st, sl, "cancelled on request", 0, TIA_WORKER_CANCELLED);
    } else if (why == TIA_STOP_SHUTDOWN) {
        report_failure(w, st, sl, "released: the worker shut down before the task finished", 1,
                       TIA_WORKER_RELEASED);
    } else {
        report_failure(w, st, sl, r->error_message ? r->error_message : "failed", r->retryable,
                       TIA_WORKER_FAILED);
    }
}

/* Takes ownership of c's task and model and starts its thread. */
static void start_slot(tia_worker *w, run_state *st, slot *sl, tia_claim *c)
{
    sl->claim = *c;
    c->task = NULL;
    c->agent_model = NULL;
    sl->job = (tia_job){&sl->claim, find_agent(w, sl->claim.task->agent_id), w->id, &sl->ctl};
    atomic_store(&sl->ctl.stop, TIA_STOP_NONE);
    atomic_store(&sl->done, 0);
    tia_exec_result_init(&sl->res);
    tia_error_clear(&sl->exec_err);
    sl->exec_rc = 0;
    sl->started_ms = mono_ms();
    sl->next_hb_ms = sl->started_ms + w->hb_ms;
    w->stats.claimed++;
    emit_task(w, sl, TIA_WORKER_CLAIMED, NULL, 0);
    int prc = spawn_thread(sl);
    if (prc != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "cannot start a thread for the task: %s", strerror(prc));
        report_failure(w, st, sl, msg, 1, TIA_WORKER_FAILED);
        slot_release(sl);
        return;
    }
    sl->busy = 1;
}

static int active_slots(const tia_worker *w)
{
    int n = 0;
    for (int i = 0; i < w->concurrency; i++)
        n += w->slots[i].busy;
    return n;
}

static slot *free_slot(tia_worker *w)
{
    for (int i = 0; i < w->concurrency; i++)
        if (!w->slots[i].busy)
            return &w->slots[i];
    return NULL;
}

/* ---- the coordinator ---- */

/* Joins and reports every finished slot; returns how many finished. */
static int collect(tia_worker *w, run_state *st)
{
    int n = 0;
    for (int i = 0; i < w->concurrency; i++) {
        slot *sl = &w->slots[i];
        if (!sl->busy || !atomic_load(&sl->done))
            continue;
        pthread_join(sl->thread, NULL);
        report(w, st, sl);
        slot_release(sl);
        n++;
    }
    return n;
}

static void heartbeats(tia_worker *w, run_state *st, int64_t now)
{
    for (int i = 0; i < w->concurrency; i++) {
        slot *sl = &w->slots[i];
        if (!sl->busy || atomic_load(&sl->done) || now < sl->next_hb_ms)
            continue;
        if (atomic_load(&sl->ctl.stop) == TIA_STOP_LEASE_LOST) {
            sl->next_hb_ms = now + w->hb_ms; /* nothing to renew; just wait for it */
            continue;
        }
        tia_error err = {0};
        int cancel = 0;
        int rc = held_rc(tia_engine_heartbeat(w->s, sl->claim.task->id, w->id, sl->claim.attempt,
                                              w->lease_ms, &cancel, &err));
        db_outcome(w, st, rc, &err);
        if (rc == TIA_ECONFLICT)
            set_stop(&sl->ctl, TIA_STOP_LEASE_LOST);
        else if (rc == 0 && cancel)
            set_stop(&sl->ctl, TIA_STOP_CANCEL);
        /* After a failed heartbeat, try again soon: the lease is running out. */
        sl->next_hb_ms = now + (rc == 0 ? w->hb_ms : w->hb_ms / 4 + 1);
    }
}

/* Claims up to the free slots; returns how many were claimed, or -1 on error. */
static int claim(tia_worker *w, run_state *st)
{
    int want = w->concurrency - active_slots(w);
    struct tia_claim_list l = {0};
    tia_error err = {0};
    int rc = tia_engine_claim(w->s, (const char *const *)w->agent_ids, w->n_agents, w->id,
                              (size_t)want, w->lease_ms, &l, &err);
    db_outcome(w, st, rc, &err);
    size_t got = rc == 0 ? l.n : 0;
    for (size_t i = 0; i < got; i++) {
        slot *sl = free_slot(w);
        if (sl != NULL)
            start_slot(w, st, sl, &l.items[i]);
    }
    tia_claim_list_free(&l);
    return rc == 0 ? (int)got : -1;
}

static void check_stop(tia_worker *w, run_state *st, int64_t now)
{
    int req = atomic_load(&w->stop_requests);
    if ((req >= 1 || st->fatal_rc) && !st->draining) {
        st->draining = 1;
        st->drain_deadline = now + w->drain_ms;
        emit(w, TIA_WORKER_DRAINING, st->fatal_rc ? st->fatal.message : NULL);
    }
    if (!st->draining || (req < 2 && now < st->drain_deadline && !st->fatal_rc))
        return;
    for (int i = 0; i < w->concurrency; i++)
        if (w->slots[i].busy)
            set_stop(&w->slots[i].ctl, TIA_STOP_SHUTDOWN);
}

static void maybe_reap(tia_worker *w, run_state *st, int64_t now)
{
    if (w->reap_ms < 0 || now < st->next_reap || st->draining)
        return;
    tia_error err = {0};
    int64_t n = 0;
    db_outcome(w, st, tia_engine_reap(w->s, &n, &err), &err);
    st->next_reap = now + w->reap_ms;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* ---- wake-ups ---- */

/*
 * Opens the waiter before a claim, so that nothing made ready after that claim
 * goes unannounced. Without one (it failed) the worker polls, and tries again
 * a poll interval later.
 */
static void open_waiter(tia_worker *w, run_state *st, int64_t now)
{
    tia_error err = {0};
    if (w->waiter != NULL || now < st->next_listen)
        return;
    int rc = tia__waiter_open(w->s, (const char *const *)w->agent_ids, w->n_agents, &w->waiter,
                              &err);
    if (rc != 0) {
        char msg[TIA_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof msg, "no wake-ups, polling every %lld ms: %s",
                 (long long)w->poll_ms, err.message);
        emit(w, TIA_WORKER_ERROR, msg);
        st->next_listen = now + w->poll_ms;
    }
}

/* Reads the waiter: work of our agents was announced, so claim at once. */
static void read_waiter(tia_worker *w, run_state *st, int64_t now)
{
    tia_error err = {0};
    int n = tia__waiter_drain(w->waiter, &err);
    if (n < 0) {
        char msg[TIA_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof msg, "wake-ups lost, polling every %lld ms: %s",
                 (long long)w->poll_ms, err.message);
        emit(w, TIA_WORKER_ERROR, msg);
        tia__waiter_free(w->waiter);
        w->waiter = NULL;
        st->next_listen = now + w->poll_ms;
    }
    if (n != 0)
        st->next_poll = now; /* lost wake-ups may have hidden work: look too */
}

/* After a claim found nothing: the backstop, or sooner when a retry's backoff ends. */
static int64_t idle_ms(tia_worker *w, run_state *st)
{
    tia_error err = {0};
    int64_t due = -1;
    if (w->waiter == NULL)
        return w->poll_ms;
    int rc = tia__waiter_next_due(w->waiter, w->s, &due, &err);
    db_outcome(w, st, rc, &err);
    return rc == 0 && due >= 0 ? min64(w->poll_ms, due) : w->poll_ms;
}

/* Sleeps until a slot, a stop or new work wakes us, or the next deadline. */
static void wait_for_work(tia_worker *w, run_state *st, int64_t now)
{
    int64_t until = now + w->poll_ms;
    if (!st->draining && free_slot(w) != NULL)
        until = min64(until, st->next_poll);
    if (st->draining)
        until = min64(until, st->drain_deadline);
    else if (w->reap_ms >= 0)
        until = min64(until, st->next_reap);
    for (int i = 0; i < w->concurrency; i++)
        if (w->slots[i].busy)
            until = min64(until, w->slots[i].next_hb_ms);
    int64_t ms = until - now;
    /* poll() skips a negative descriptor: a LISTEN connection that is down */
    struct pollfd p[2] = {{w->wake[0], POLLIN, 0},
                          {w->waiter ? tia__waiter_fd(w->waiter) : -1, POLLIN, 0}};
    if (ms > 0 && poll(p, 2, (int)min64(ms, 60000)) > 0 && p[0].revents) {
        char buf[64];
        while (read(w->wake[0], buf, sizeof buf) > 0)
            ;
    }
    if (w->waiter != NULL && (p[1].fd < 0 || p[1].revents))
        read_waiter(w, st, mono_ms());
}

/* One turn of the loop; returns 1 when the run is over. */
static int turn(tia_worker *w, run_state *st)
{
    int64_t now = mono_ms();
    check_stop(w, st, now);
    if (collect(w, st) > 0)
        st->next_poll = now; /* a slot is free: look for more work at once */
    heartbeats(w, st, now);
    if (st->draining) {
        if (active_slots(w) == 0)
            return 1;
    } else if (now >= st->next_poll && free_slot(w) != NULL) {
        open_waiter(w, st, now);
        int got = claim(w, st);
        if (got == 0 && w->once && active_slots(w) == 0)
            return 1;
        /* A full batch may mean more is waiting; otherwise wait for a wake-up. */
        if (got > 0 && free_slot(w) == NULL)
            st->next_poll = now;
        else
            st->next_poll = now + (got == 0 ? idle_ms(w, st) : w->poll_ms);
    }
    maybe_reap(w, st, now);
    wait_for_work(w, st, mono_ms());
    return 0;
}

int tia_worker_run(tia_worker *w, tia_error *err)
{
    run_state st = {0};
    st.next_poll = mono_ms();
    st.next_reap = st.next_poll;
    while (!turn(w, &st))
        ;
    tia__waiter_free(w->waiter);
    w->waiter = NULL;
    if (st.fatal_rc != 0) {
        if (err != NULL)
            *err = st.fatal;
        return st.fatal_rc;
    }
    return 0;
}
