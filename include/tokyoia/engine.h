/*
 * The engine: workflows submitted as task graphs, a durable task queue with
 * leases, retries, handoffs and accounting. See docs/engine.md for the life cycle.
 * Every function takes a store (one connection, one thread) and is one
 * transaction unless it says otherwise.
 */
#ifndef TOKYOIA_ENGINE_H
#define TOKYOIA_ENGINE_H

#include <tokyoia/error.h>
#include <tokyoia/tasks.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most tasks in one workflow, and dependencies of one task. */
#define TIA_WORKFLOW_TASKS_MAX 10000
#define TIA_TASK_DEPS_MAX 100
#define TIA_IDEMPOTENCY_KEY_MAX 200
#define TIA_WORKER_ID_MAX 200
/* Retry backoff: min(cap, base * 2^retry) with full jitter. */
#define TIA_BACKOFF_BASE_MS 1000
#define TIA_BACKOFF_CAP_MS 300000

/* One task of a workflow being submitted. */
typedef struct tia_task_spec {
    const char *key;         /* required: unique name in the workflow, for depends_on */
    const char *agent_id;    /* required, must exist */
    const char *task_type;   /* required */
    const char *description; /* required */
    const char *input_data;  /* JSON or NULL */
    int priority;            /* higher first; 0 by default */
    int max_retries;         /* 0..100; -1 means the default, 3 */
    int64_t timeout_ms;      /* > 0, or 0 for none */
    const char *const *depends_on; /* keys of tasks of the same workflow */
    size_t n_depends_on;
    const char *metadata; /* JSON or NULL */
} tia_task_spec;

typedef struct tia_workflow_spec {
    const char *name; /* required */
    const char *description;
    const char *workflow_type;
    const char *initiator;
    const char *metadata;        /* JSON or NULL */
    const char *idempotency_key; /* NULL: none */
    const tia_task_spec *tasks;  /* 1..TIA_WORKFLOW_TASKS_MAX */
    size_t n_tasks;
} tia_workflow_spec;

/*
 * Submits a workflow and its tasks in one transaction. Refused (TIA_EINVAL,
 * nothing written) for a cycle, an unknown or duplicate key, a bad field, an
 * unknown agent (TIA_ENOTFOUND). With an idempotency key already used, returns
 * the first workflow's id and *created = 0. task_ids_out (may be NULL) receives
 * the ids in the order of spec->tasks (only when created).
 */
int tia_engine_submit(tia_store *s, const tia_workflow_spec *spec, char wf_id_out[TIA_UUID_BUF],
                      char (*task_ids_out)[TIA_UUID_BUF], int *created, tia_error *err);

/* A single task outside any workflow (or inside an existing one), with a key. */
int tia_engine_submit_task(tia_store *s, const tia_task_spec *spec, const char *workflow_id,
                           const char *idempotency_key, char id_out[TIA_UUID_BUF], int *created,
                           tia_error *err);

/* A task handed to a worker: the task and the fencing token of its lease. */
typedef struct tia_claim {
    tia_task *task;
    int64_t attempt;
    int64_t timeout_ms;  /* 0: none */
    int64_t max_retries;
    char *agent_model;   /* the agent's model, for executors */
} tia_claim;

struct tia_claim_list {
    size_t n;
    tia_claim *items;
};

void tia_claim_list_free(struct tia_claim_list *l);

/*
 * Claims up to max (1..1000) ready tasks of the given agents (n_agents >= 1) for
 * worker_id, with a lease of lease_ms (1 s .. 1 h), by priority then age. Each
 * ready task goes to exactly one worker. *out may be empty.
 */
int tia_engine_claim(tia_store *s, const char *const *agent_ids, size_t n_agents,
                     const char *worker_id, size_t max, int64_t lease_ms,
                     struct tia_claim_list *out, tia_error *err);

/*
 * Extends a lease by lease_ms from now. *cancel (may be NULL) is set to 1 when a
 * cancellation was requested: the worker should stop and call tia_engine_fail
 * with retryable 0 (the task ends cancelled). TIA_ECONFLICT when the lease is lost.
 */
int tia_engine_heartbeat(tia_store *s, const char *task_id, const char *worker_id,
                         int64_t attempt, int64_t lease_ms, int *cancel, tia_error *err);

/* What a worker reports at the end of a task. */
typedef struct tia_completion {
    const char *task_id;
    const char *worker_id;
    int64_t attempt;
    const char *output_data; /* JSON or NULL */
    int64_t tokens_used;     /* -1: input_tokens + output_tokens (or 0) */
    int64_t input_tokens;    /* -1: not reported */
    int64_t output_tokens;   /* -1: not reported */
    int64_t cost_micros;     /* -1: computed from model_prices */
} tia_completion;

/* Completes one task (see docs/engine.md for everything it does). */
int tia_engine_complete(tia_store *s, const tia_completion *c, tia_error *err);

/*
 * Completes n tasks in one transaction; rcs[i] receives each one's code (a lost
 * lease refuses that item only). Returns 0 unless the transaction failed.
 */
int tia_engine_complete_batch(tia_store *s, const tia_completion *items, size_t n, int *rcs,
                              tia_error *err);

/*
 * Ends an attempt with an error. retryable and retries left: back to pending after
 * a backoff; otherwise the task fails for good, its dependents are cancelled and
 * its workflow fails. A task whose cancellation was requested ends cancelled.
 */
int tia_engine_fail(tia_store *s, const char *task_id, const char *worker_id, int64_t attempt,
                    const char *error_message, int retryable, tia_error *err);

/*
 * Hands an attempt back unfinished (a worker that shuts down): the task is
 * pending again at once, with no retry counted and none needed (max_retries 0
 * too), message as its error_message until the next attempt. A task whose
 * cancellation was requested ends cancelled. TIA_ECONFLICT as tia_engine_fail.
 */
int tia_engine_release(tia_store *s, const char *task_id, const char *worker_id, int64_t attempt,
                       const char *message, tia_error *err);

/* Takes back running tasks whose lease expired (as a retryable failure). */
int tia_engine_reap(tia_store *s, int64_t *reclaimed, tia_error *err);

/*
 * Cancels a workflow: pending tasks cancelled at once, running ones asked to stop
 * (cancel_requested); the workflow is cancelled. TIA_ECONFLICT when it has ended.
 */
int tia_engine_cancel_workflow(tia_store *s, const char *workflow_id, tia_error *err);

/* Cancels one task (pending: at once; running: requested). */
int tia_engine_cancel_task(tia_store *s, const char *task_id, tia_error *err);

/*
 * Puts a failed or cancelled task back to pending with its retry budget renewed
 * (and its workflow back to running if it had failed). TIA_ECONFLICT otherwise.
 */
int tia_engine_retry_task(tia_store *s, const char *task_id, tia_error *err);

/*
 * A running task spawns subtasks (fan-out); the parent completes only after they
 * all finish (fan-in). ids_out (may be NULL) receives n ids. The lease must be held.
 */
int tia_engine_spawn(tia_store *s, const char *parent_id, const char *worker_id, int64_t attempt,
                     const tia_task_spec *specs, size_t n, char (*ids_out)[TIA_UUID_BUF],
                     tia_error *err);

/* Model prices (USD per 1,000 tokens, as micro-dollars). */
typedef struct tia_price {
    char model[TIA_AGENT_MODEL_MAX * 4 + 1];
    int64_t usd_per_1k_micros;
    tia_time_us updated_at;
} tia_price;

struct tia_price_list {
    size_t n;
    tia_price *items;
};

void tia_price_list_free(struct tia_price_list *l);
int tia_price_list(tia_store *s, struct tia_price_list *out, tia_error *err);
/* Sets (creates or updates) a model's price. */
int tia_price_set(tia_store *s, const char *model, int64_t usd_per_1k_micros, tia_error *err);

/* Cost of tokens at a price, rounded half up to the micro-dollar. */
int64_t tia_price_cost(int64_t tokens, int64_t usd_per_1k_micros);

/* Built-in templates: the seed README's workflow types, and JSON files. */
typedef struct tia_template tia_template;

/*
 * Loads a template by name: a built-in one (code_review, feature_development,
 * deployment, architecture) or dir/NAME.json when dir is not NULL (a file wins
 * over a built-in of the same name). Validation errors name the file and field.
 */
int tia_template_load(const char *name, const char *dir, tia_template **out, tia_error *err);

/* Parses a template from JSON text (origin names it in messages). */
int tia_template_parse(const char *json, const char *origin, tia_template **out, tia_error *err);

void tia_template_free(tia_template *t);

/* Names of the built-in templates, NULL-terminated. */
const char *const *tia_template_builtins(void);

/*
 * The workflow spec of a template, with input (JSON object or NULL) merged into
 * every task's input_data under "input". Valid while t lives.
 */
int tia_template_spec(tia_template *t, const char *input, tia_workflow_spec *out, tia_error *err);

/*
 * A status change reported by a client that runs a task itself, without a
 * lease (the original Registry API's PUT /api/tasks/{id}).
 */
typedef struct tia_task_status_change {
    tia_run_status to;         /* running, completed, failed or cancelled */
    const char *output_data;   /* completed: JSON or NULL */
    const char *error_message; /* failed, cancelled: NULL for "failed" / "cancelled" */
    int64_t tokens_used;       /* completed, failed: -1 when not reported */
    int64_t cost_micros;       /* completed: -1 to compute it from model_prices;
                                  failed: -1 when not reported */
} tia_task_status_change;

/* The worker id of tasks started by tia_engine_set_task_status. */
#define TIA_EXTERNAL_WORKER "external"

/*
 * Moves task_id through the engine's state machine as a worker's report would:
 * running claims that one pending task (its dependencies done; no lease expiry,
 * worker TIA_EXTERNAL_WORKER) and starts its workflow; completed is
 * tia_engine_complete on the lease the running task holds; failed ends a
 * running task for good (no retry) and cancelled ends a pending or running one
 * at once, each followed by what tia_engine_fail does after a final failure
 * (dependents and subtasks cancelled, the workflow failed or settled).
 * TIA_ENOTFOUND; TIA_ECONFLICT for an illegal transition (nothing written);
 * TIA_EINVAL for a bad field or a move to pending.
 */
int tia_engine_set_task_status(tia_store *s, const char *task_id,
                               const tia_task_status_change *c, tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
