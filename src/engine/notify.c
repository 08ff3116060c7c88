/*
 * Wake-ups for idle workers, so that a task is claimed moments after it
 * becomes ready rather than at the next poll; polling stays as a slow backstop.
 *
 * Writers: every transaction that makes tasks ready (submit, a completion
 * that readies dependents, a retry whose run_after has come, retry_task,
 * spawn; the reaper through the failure path) calls tia__wake_ready once per
 * kind of change, and the database says which of the tasks are ready now and
 * whose they are. On PostgreSQL that one statement sends NOTIFY tokyoia_ready
 * with each such agent id as payload (pg_notify, the id read from the row):
 * NOTIFY is transactional, so it reaches listeners only at COMMIT, once per
 * distinct (channel, payload) in the transaction, and never after a rollback.
 * On SQLite there is no NOTIFY: the agents are remembered for the store and
 * tia__wake_flush, after COMMIT, signals the waiters of this process that are
 * waiting on the same database file. A waiter in another process is not
 * signalled; its polling backstop finds the work (at most poll_ms late).
 *
 * Waiters (tia__waiter): PostgreSQL, a connection of their own that LISTENs
 * (store/listen.h); SQLite, an entry in the process-wide registry below. Both
 * give the caller a file descriptor to poll beside its own (the worker polls
 * its self-pipe too), which is why SQLite's signal is a byte in a pipe rather
 * than a condition variable: a condition variable cannot be waited on
 * together with a descriptor. A notification names an agent; a waiter counts
 * only those of its own agents, and the claim decides what it really gets, so
 * a stray or duplicate wake-up costs one empty claim and nothing else.
 *
 * The registry is global state, against the usual rule, because what it
 * connects is global: several stores of one process (a worker per thread, a
 * submitter, the API) open one SQLite file, and a writer must find the
 * waiters of every other store on that file. It is a mutex over two short
 * lists; a writer with no waiter in the process pays one atomic load.
 */
#define _GNU_SOURCE /* pipe2: O_CLOEXEC pipes without a race against fork */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/validate.h"
#include "engine/engine_internal.h"
#include "store/db.h"
#include "store/listen.h"

#define AGENTS_MAX 100

/* ------------------------------------------------------------------------- */
/* Statements                                                                */
/* ------------------------------------------------------------------------- */

/* clang-format off */
#define READY_WHERE_PG                                                                             \
    " AND status = 'pending' AND deps_pending = 0 AND run_after <= statement_timestamp()"
#define READY_WHERE_LITE                                                                           \
    " AND status = 'pending' AND deps_pending = 0 AND run_after <= " TIA_SQLITE_NOW
/* PostgreSQL notifies each agent once; SQLite returns the agents to the caller. */
#define READY_SQL(name, pg_cond, lite_cond)                                                        \
    {name,                                                                                         \
     "SELECT pg_notify('" TIA__READY_CHANNEL "', r.agent_id) FROM (SELECT DISTINCT agent_id "      \
     "FROM agent_tasks WHERE " pg_cond READY_WHERE_PG ") r",                                       \
     "SELECT DISTINCT agent_id FROM agent_tasks WHERE " lite_cond READY_WHERE_LITE}

/* Indexed by tia__ready_scope. */
static const tia__sql sql_ready[] = {
    READY_SQL("engine.wake_tasks", "id " TIA__PG_IN(1), "id " TIA__LITE_IN(1)),
    READY_SQL("engine.wake_dependents",
              "id IN (SELECT task_id FROM task_dependencies WHERE depends_on " TIA__PG_IN(1) ")",
              "id IN (SELECT task_id FROM task_dependencies WHERE depends_on "
              TIA__LITE_IN(1) ")"),
    READY_SQL("engine.wake_workflows", "workflow_id " TIA__PG_IN(1),
              "workflow_id " TIA__LITE_IN(1)),
    READY_SQL("engine.wake_children", "parent_task_id " TIA__PG_IN(1),
              "parent_task_id " TIA__LITE_IN(1)),
};

/* Milliseconds until the first task of the agents (JSON array 1) in backoff is due. */
static const tia__sql sql_next_due = {
    "engine.next_due",
    "SELECT ceil(extract(epoch FROM min(run_after) - statement_timestamp()) * 1000)::int8 "
    "FROM agent_tasks WHERE status = 'pending' AND deps_pending = 0 "
    "AND agent_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))) "
    "AND run_after > statement_timestamp()",
    "SELECT (min(run_after) - " TIA_SQLITE_NOW " + 999) / 1000 "
    "FROM agent_tasks INDEXED BY idx_tasks_ready WHERE status = 'pending' AND deps_pending = 0 "
    "AND agent_id IN (SELECT value FROM json_each(?1)) AND run_after > " TIA_SQLITE_NOW,
};
/* clang-format on */

static const tia__sql sql_db_file = {
    "engine.db_file",
    NULL,
    "SELECT file FROM pragma_database_list WHERE name = 'main'",
};

/* ------------------------------------------------------------------------- */
/* The SQLite registry                                                       */
/* ------------------------------------------------------------------------- */

struct tia__waiter {
    int pg;
    tia__listener *listener; /* PostgreSQL */
    int pipe[2];             /* SQLite: a byte per signalled transaction */
    char *path;              /* SQLite: the database file, the registry's key */
    char **agents;
    size_t n_agents;
    char *agents_json; /* for next_due */
    int matched;       /* PostgreSQL: matching notifications seen by the last drain */
    struct tia__waiter *next;
};

/* Agents a SQLite store's open transaction made ready, signalled at its flush. */
typedef struct pending {
    const tia_store *s;
    char *path;
    char **agents;
    size_t n, cap;
    struct pending *next;
} pending;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static tia__waiter *reg_waiters;
static pending *reg_pending;
static atomic_int reg_count; /* waiters registered: the writers' lock-free fast path */

static int has_agent(char *const *agents, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(agents[i], id) == 0)
            return 1;
    return 0;
}

static void pending_free(pending *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->agents[i]);
    free(p->agents);
    free(p->path);
    free(p);
}

/* The registry key of s's database: its file, or the store itself for an in-memory one. */
static int db_key(tia_store *s, char **out, tia_error *err)
{
    tia__table t;
    char mem[48];
    int rc = tia__table_query(s, &sql_db_file, NULL, 0, 1, &t, err);
    if (rc != 0)
        return rc;
    const char *file = t.rows ? tia__table_at(&t, 0, 0) : "";
    snprintf(mem, sizeof mem, "memory:%p", (void *)s);
    *out = strdup(file[0] ? file : mem);
    tia__table_free(&t);
    return *out ? 0 : tia_error_set(err, TIA_ENOMEM, "out of memory");
}

/* The pending entry of s (created), under reg_mu. */
static pending *pending_of(const tia_store *s, char **path)
{
    pending *p;
    for (p = reg_pending; p != NULL && p->s != s; p = p->next)
        ;
    if (p == NULL && (p = calloc(1, sizeof *p)) != NULL) {
        p->s = s;
        p->path = *path;
        *path = NULL;
        p->next = reg_pending;
        reg_pending = p;
    }
    return p;
}

/* Adds agent to p's list unless it is there; 0, or -1 out of memory. */
static int pending_add(pending *p, const char *agent)
{
    if (has_agent(p->agents, p->n, agent))
        return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        char **grown = realloc(p->agents, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        p->agents = grown;
        p->cap = cap;
    }
    if ((p->agents[p->n] = strdup(agent)) == NULL)
        return -1;
    p->n++;
    return 0;
}

/* Remembers the agents (column 0 of t) for s's flush. */
static int remember(tia_store *s, const tia__table *t, tia_error *err)
{
    char *path = NULL;
    int rc = db_key(s, &path, err), oom = 0;
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&reg_mu);
    pending *p = pending_of(s, &path);
    oom = p == NULL;
    for (size_t i = 0; !oom && i < t->rows; i++)
        oom = pending_add(p, tia__table_at(t, i, 0)) != 0;
    pthread_mutex_unlock(&reg_mu);
    free(path);
    return oom ? tia_error_set(err, TIA_ENOMEM, "out of memory remembering a wake-up") : 0;
}

void tia__wake_flush(tia_store *s, int committed)
{
    if (tia_store_backend(s) == TIA_BACKEND_POSTGRES)
        return; /* NOTIFY was delivered (or dropped) by the COMMIT itself */
    pthread_mutex_lock(&reg_mu);
    pending **link = &reg_pending;
    while (*link != NULL && (*link)->s != s)
        link = &(*link)->next;
    pending *p = *link;
    if (p != NULL)
        *link = p->next;
    for (tia__waiter *w = reg_waiters; p != NULL && committed && w != NULL; w = w->next) {
        if (strcmp(w->path, p->path) != 0)
            continue;
        for (size_t i = 0; i < p->n; i++)
            if (has_agent(w->agents, w->n_agents, p->agents[i])) {
                char c = 1;
                ssize_t n = write(w->pipe[1], &c, 1); /* a full pipe is already a wake-up */
                (void)n;
                break;
            }
    }
    pthread_mutex_unlock(&reg_mu);
    pending_free(p);
}

/* ------------------------------------------------------------------------- */
/* Writers                                                                   */
/* ------------------------------------------------------------------------- */

int tia__wake_ready(tia_store *s, tia__ready_scope scope, tia__idset *ids, tia_error *err)
{
    tia__param p;
    tia__table t;
    if (ids->n == 0)
        return 0;
    int pg = tia_store_backend(s) == TIA_BACKEND_POSTGRES;
    if (!pg && atomic_load(&reg_count) == 0)
        return 0; /* nobody in this process waits; other processes poll */
    int rc = tia__idset_param(ids, &p, err);
    if (rc != 0)
        return rc;
    if (pg)
        return tia__db_exec(s, &sql_ready[scope], &p, 1, NULL, err);
    if ((rc = tia__table_query(s, &sql_ready[scope], &p, 1, 1, &t, err)) != 0)
        return rc;
    if (t.rows > 0)
        rc = remember(s, &t, err);
    tia__table_free(&t);
    return rc;
}

int tia__wake_ready_one(tia_store *s, tia__ready_scope scope, const char *id, tia_error *err)
{
    tia__idset set;
    tia__idset_init(&set, s);
    tia__idset_add(&set, id);
    int rc = tia__wake_ready(s, scope, &set, err);
    tia__idset_free(&set);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Waiters                                                                   */
/* ------------------------------------------------------------------------- */

static int copy_agents(tia__waiter *w, const char *const *agent_ids, size_t n, tia_error *err)
{
    if (agent_ids == NULL || n == 0 || n > AGENTS_MAX)
        return tia_error_set(err, TIA_EINVAL, "agent_ids must name 1..%d agents", AGENTS_MAX);
    json_t *arr = json_array();
    w->agents = calloc(n, sizeof *w->agents);
    for (size_t i = 0; arr != NULL && w->agents != NULL && i < n; i++) {
        char field[32];
        snprintf(field, sizeof field, "agent_ids[%zu]", i);
        int rc = tia__check_text(err, field, agent_ids[i], TIA_AGENT_ID_MAX, 1);
        if (rc != 0) {
            json_decref(arr);
            return rc;
        }
        if ((w->agents[i] = strdup(agent_ids[i])) == NULL ||
            json_array_append_new(arr, json_string(agent_ids[i])) != 0)
            break;
        w->n_agents = i + 1;
    }
    if (arr != NULL && w->n_agents == n)
        w->agents_json = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return w->agents_json ? 0 : tia_error_set(err, TIA_ENOMEM, "out of memory");
}

/* SQLite: a pipe, registered under s's database file. */
static int register_lite(tia__waiter *w, tia_store *s, tia_error *err)
{
    int rc = db_key(s, &w->path, err);
    if (rc != 0)
        return rc;
    if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return tia_error_set(err, TIA_EIO, "cannot create a wake-up pipe: %s", strerror(errno));
    pthread_mutex_lock(&reg_mu);
    w->next = reg_waiters;
    reg_waiters = w;
    atomic_fetch_add(&reg_count, 1);
    pthread_mutex_unlock(&reg_mu);
    return 0;
}

int tia__waiter_open(tia_store *s, const char *const *agent_ids, size_t n, tia__waiter **out,
                     tia_error *err)
{
    *out = NULL;
    tia__waiter *w = calloc(1, sizeof *w);
    if (w == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory");
    w->pipe[0] = w->pipe[1] = -1;
    w->pg = tia_store_backend(s) == TIA_BACKEND_POSTGRES;
    int rc = copy_agents(w, agent_ids, n, err);
    if (rc == 0)
        rc = w->pg ? tia__listen_open(s, TIA__READY_CHANNEL, &w->listener, err)
                   : register_lite(w, s, err);
    if (rc != 0) {
        tia__waiter_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int tia__waiter_fd(const tia__waiter *w)
{
    return w->pg ? tia__listen_fd(w->listener) : w->pipe[0];
}

/* A notification's payload is an agent id; NULL means "some may have been lost". */
static void count_match(void *ctx, const char *payload)
{
    tia__waiter *w = ctx;
    if (payload == NULL || has_agent(w->agents, w->n_agents, payload))
        w->matched++;
}

int tia__waiter_drain(tia__waiter *w, tia_error *err)
{
    if (w->pg) {
        w->matched = 0;
        int rc = tia__listen_drain(w->listener, count_match, w, err);
        return rc < 0 ? rc : w->matched;
    }
    char buf[64];
    ssize_t got;
    int n = 0;
    while ((got = read(w->pipe[0], buf, sizeof buf)) > 0)
        n += (int)got;
    return n;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tia__waiter_wait(tia__waiter *w, int64_t timeout_ms, tia_error *err)
{
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        int fd = tia__waiter_fd(w);
        int64_t left = deadline - mono_ms();
        if (fd < 0) /* the LISTEN connection is down: drain reconnects */
            return tia__waiter_drain(w, err);
        struct pollfd p = {fd, POLLIN, 0};
        int ready = poll(&p, 1, left > 0 ? (int)(left < 60000 ? left : 60000) : 0);
        if (ready > 0) {
            int n = tia__waiter_drain(w, err);
            if (n != 0)
                return n;
        } else if (ready < 0 && errno != EINTR) {
            return tia_error_set(err, TIA_EIO, "poll: %s", strerror(errno));
        }
        if (left <= 0)
            return 0;
    }
}

int tia__waiter_next_due(tia__waiter *w, tia_store *s, int64_t *ms, tia_error *err)
{
    tia__table t;
    tia__param p = tia__p_text(w->agents_json);
    *ms = -1;
    int rc = tia__table_query(s, &sql_next_due, &p, 1, 1, &t, err);
    if (rc == 0 && t.rows > 0 && tia__table_at(&t, 0, 0)[0] != '\0') {
        int64_t v = tia__table_int(&t, 0, 0);
        *ms = v < 0 ? 0 : v;
    }
    tia__table_free(&t);
    return rc;
}

void tia__waiter_free(tia__waiter *w)
{
    if (w == NULL)
        return;
    if (w->path != NULL && w->pipe[0] >= 0) {
        pthread_mutex_lock(&reg_mu);
        for (tia__waiter **link = &reg_waiters; *link != NULL; link = &(*link)->next)
            if (*link == w) {
                *link = w->next;
                atomic_fetch_sub(&reg_count, 1);
                break;
            }
        pthread_mutex_unlock(&reg_mu);
    }
    tia__listen_close(w->listener);
    for (int i = 0; i < 2; i++)
        if (w->pipe[i] >= 0)
            close(w->pipe[i]);
    for (size_t i = 0; i < w->n_agents; i++)
        free(w->agents[i]);
    free(w->agents);
    free(w->agents_json);
    free(w->path);
    free(w);
}
