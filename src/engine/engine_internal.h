/*
 * Internal interface shared by the engine's modules (submit, queue, prices,
 * templates): helpers one module offers the others, never part of the public
 * contract. Append new declarations at the end; several engineers share it.
 */
#ifndef TIA_ENGINE_INTERNAL_H
#define TIA_ENGINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <tokyoia/engine.h>

/*
 * The price of the model of agent agent_id (USD per 1,000 tokens, in
 * micro-dollars), for the cost of a completion that reports tokens but no cost.
 * *found is 0 (and *usd_per_1k_micros 0) when the agent is unknown or its model
 * has no price. Runs inside the caller's transaction, if any.
 */
int tia__price_for_agent(tia_store *s, const char *agent_id, int64_t *usd_per_1k_micros,
                         int *found, tia_error *err);

/* Longest task key of a submitted workflow (keys are not stored; 100 like task_type). */
#define TIA__TASK_KEY_MAX 100

/*
 * The dependency graph of a workflow's task specs in compressed rows: the
 * dependencies of task i are the task indices dep[start[i] .. start[i + 1]).
 */
typedef struct tia__task_graph {
    size_t n;
    size_t *start; /* n + 1 entries */
    size_t *dep;
} tia__task_graph;

/*
 * Checks the keys (non-empty, at most TIA__TASK_KEY_MAX characters, unique) and
 * every depends_on (a key of the same list, not the task itself, not repeated,
 * at most TIA_TASK_DEPS_MAX) and that the graph has no cycle (Kahn's
 * algorithm), then builds g. TIA_EINVAL with a message naming the JSON-like
 * path ("tasks[2].depends_on[0]: unknown key 'bild'"), or TIA_ENOMEM. Shared by
 * submit and templates so that both refuse the same graphs in the same words.
 */
int tia__task_graph_build(const tia_task_spec *t, size_t n, tia__task_graph *g, tia_error *err);

/* Frees what tia__task_graph_build allocated (g itself is the caller's); NULL is fine. */
void tia__task_graph_free(tia__task_graph *g);

/* ------------------------------------------------------------------------- */
/* The queue half (queue.c, finish.c, control.c)                             */
/* ------------------------------------------------------------------------- */

#include "store/db.h"

/* SQL pieces of the queue statements: a task's duration from started_at to now. */
#define TIA__PG_DURATION                                                                           \
    "LEAST(round((" TIA_PG_US("statement_timestamp()") " - " TIA_PG_US(                            \
        "started_at") ") / 1000.0), 2147483647)::int"
#define TIA__LITE_DURATION                                                                         \
    "MIN(CAST(round((" TIA_SQLITE_NOW " - started_at) / 1000.0) AS INTEGER), 2147483647)"
/* Membership in an id set passed as parameter n (see tia__idset). */
#define TIA__PG_IN(n) "= ANY ($" #n "::uuid[])"
#define TIA__LITE_IN(n) "IN (SELECT value FROM json_each(?" #n "))"

/*
 * A set of ids (canonical UUIDs) as one statement parameter: a uuid[] literal
 * "{a,b}" on PostgreSQL, a JSON array on SQLite; used with TIA__PG_IN /
 * TIA__LITE_IN. Out of memory is remembered and reported by tia__idset_param.
 */
typedef struct tia__idset {
    char *buf;     /* the ids, comma-separated */
    char *wrapped; /* the last parameter text made */
    size_t len, cap, n;
    int pg, oom;
} tia__idset;

void tia__idset_init(tia__idset *set, tia_store *s);
void tia__idset_add(tia__idset *set, const char *uuid); /* NULL and "" are skipped */
/* *p refers to memory of set, valid until the next call or tia__idset_free. */
int tia__idset_param(tia__idset *set, tia__param *p, tia_error *err);
void tia__idset_free(tia__idset *set);

/* Every row of a query as text cells (NULL cells read as ""). */
typedef struct tia__table {
    size_t rows, cols;
    char **cells;
} tia__table;

int tia__table_query(tia_store *s, const tia__sql *q, const tia__param *p, int n, int cols,
                     tia__table *out, tia_error *err);
const char *tia__table_at(const tia__table *t, size_t row, size_t col);
int64_t tia__table_int(const tia__table *t, size_t row, size_t col);
void tia__table_free(tia__table *t);

/* Checks the (task, worker, attempt) of a lease; key gets the task id lowercased. */
int tia__check_lease_args(const char *task_id, const char *worker_id, int64_t attempt,
                          char key[TIA_UUID_BUF], tia_error *err);

/*
 * After a lease-checked UPDATE matched no row: TIA_ENOTFOUND for an unknown task,
 * else TIA_ECONFLICT "lease lost" with the task's current state.
 */
int tia__lease_lost(tia_store *s, const char *task_id, tia_error *err);

/*
 * tia_engine_fail in its own transaction; only_expired also requires the lease
 * to have expired on the database clock (the reaper's race with a heartbeat).
 */
int tia__engine_fail_attempt(tia_store *s, const char *task_id, const char *worker_id,
                             int64_t attempt, const char *error_message, int retryable,
                             int only_expired, tia_error *err);

/*
 * Runs body(s, ctx, err) in a transaction: committed when it returns 0, rolled
 * back otherwise, and run again (a few times) when the database aborted it
 * with TIA_ECONFLICT (a PostgreSQL deadlock between two transactions).
 */
int tia__engine_txn(tia_store *s, int (*body)(tia_store *s, void *ctx, tia_error *err), void *ctx,
                    tia_error *err);

/*
 * Inside the caller's transaction, after task_id has become failed or
 * cancelled: its pending dependents (transitively) and pending subtasks are
 * cancelled, a failed subtask fails its parent, and its workflow fails (a
 * failure) or ends when nothing is left to run (a cancellation).
 */
int tia__engine_ended_badly(tia_store *s, const char *task_id, tia_error *err);

/*
 * Inside the caller's transaction: each workflow of set that is pending or
 * running and has no pending or running task left ends, completed when every
 * task completed, else failed (a task failed) or cancelled.
 */
int tia__engine_settle_workflows(tia_store *s, tia__idset *set, tia_error *err);

/* ------------------------------------------------------------------------- */
/* Wake-ups (notify.c): NOTIFY on PostgreSQL, in-process signals on SQLite    */
/* ------------------------------------------------------------------------- */

/* The PostgreSQL channel; the payload of each notification is an agent id. */
#define TIA__READY_CHANNEL "tokyoia_ready"

/* What the ids given to tia__wake_ready are. */
typedef enum tia__ready_scope {
    TIA__READY_TASKS = 0,  /* tasks */
    TIA__READY_DEPENDENTS, /* tasks whose dependents may have become ready */
    TIA__READY_WORKFLOWS,  /* workflows whose tasks may be ready */
    TIA__READY_CHILDREN    /* tasks whose subtasks may be ready */
} tia__ready_scope;

/*
 * Inside the caller's transaction, once per kind of change: the agents of the
 * tasks (of scope over ids) that are ready now (pending, no dependency left,
 * run_after passed) are woken. PostgreSQL: one statement that sends NOTIFY
 * tokyoia_ready, '<agent_id>' per distinct agent, delivered at COMMIT.
 * SQLite: the agents are remembered for tia__wake_flush (nothing at all when
 * no waiter is open in this process). Nothing when ids is empty.
 */
int tia__wake_ready(tia_store *s, tia__ready_scope scope, tia__idset *ids, tia_error *err);
int tia__wake_ready_one(tia_store *s, tia__ready_scope scope, const char *id, tia_error *err);

/*
 * After the transaction ended (committed: 1 after a COMMIT, 0 after a
 * rollback): SQLite signals the waiters of this process on the same database
 * whose agents were remembered, each once; PostgreSQL has nothing to do.
 */
void tia__wake_flush(tia_store *s, int committed);

/*
 * A waiter: wakes when work of its agents becomes ready on s's database.
 * PostgreSQL: a connection of its own that LISTENs (store/listen.h); SQLite: a
 * registration in this process (writers of other processes are not seen:
 * keep polling as a backstop). It does not use s after tia__waiter_open.
 */
typedef struct tia__waiter tia__waiter;

int tia__waiter_open(tia_store *s, const char *const *agent_ids, size_t n, tia__waiter **out,
                     tia_error *err);
/* The descriptor to poll for POLLIN (-1 while the LISTEN connection is down). */
int tia__waiter_fd(const tia__waiter *w);
/*
 * Reads what arrived without blocking: how many wake-ups named its agents
 * (0: none, or only other agents'), or a TIA_E* code. With a descriptor of -1,
 * tries to reconnect (and answers 1 when it did: wake-ups may have been lost).
 */
int tia__waiter_drain(tia__waiter *w, tia_error *err);
/* Waits up to timeout_ms for a wake-up of its agents: as drain, 0 on timeout. */
int tia__waiter_wait(tia__waiter *w, int64_t timeout_ms, tia_error *err);
/*
 * On s: milliseconds until the first ready task of the waiter's agents that is
 * waiting for its run_after (a retry's backoff) is due, -1 when there is none.
 */
int tia__waiter_next_due(tia__waiter *w, tia_store *s, int64_t *ms, tia_error *err);
/* NULL is accepted. */
void tia__waiter_free(tia__waiter *w);

#endif
