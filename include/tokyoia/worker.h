/*
 * The worker runtime: the process side of the engine's task queue. A worker
 * claims ready tasks of its agents (up to `concurrency` at a time), runs each one
 * in a thread through an executor, keeps its lease alive with heartbeats, and
 * reports the result with the lease's fencing token (attempt), so that a late
 * result of a task that was taken back is refused rather than counted twice.
 * Two executors come with it: a command (a child process that reads the task as
 * JSON on stdin and prints its result as JSON on stdout) and an
 * OpenAI-compatible chat-completions endpoint. See docs/engine.md.
 *
 * Threads: the store given to tia_worker_new is used only by the thread that
 * calls tia_worker_run; executors run in threads of their own and never touch
 * it. tia_worker_stop may be called from any thread or a signal handler.
 */
#ifndef TOKYOIA_WORKER_H
#define TOKYOIA_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include <tokyoia/agents.h>
#include <tokyoia/engine.h>
#include <tokyoia/error.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIA_WORKER_CONCURRENCY_MAX 256
/* Defaults of tia_worker_config (milliseconds). */
#define TIA_WORKER_LEASE_MS 30000
#define TIA_WORKER_POLL_MS 1000
#define TIA_WORKER_DRAIN_MS 30000
/* The command executor: largest stdout accepted, stderr kept for the error. */
#define TIA_EXEC_STDOUT_MAX (4 * 1024 * 1024)
#define TIA_EXEC_STDERR_TAIL 2048
/* Between SIGTERM and SIGKILL when a command is stopped. */
#define TIA_EXEC_KILL_GRACE_MS 5000
/* The LLM executor's request timeout when the task has none. */
#define TIA_EXEC_LLM_TIMEOUT_MS 120000

/* Why the runtime asks a running executor to stop. */
typedef enum tia_stop_reason {
    TIA_STOP_NONE = 0,
    TIA_STOP_CANCEL,     /* cancellation requested: the task ends cancelled */
    TIA_STOP_LEASE_LOST, /* the task was taken back: its result will be refused */
    TIA_STOP_SHUTDOWN    /* the worker is stopping: the task is released for a retry */
} tia_stop_reason;

/* The runtime's side of a running job (opaque). */
typedef struct tia_job_ctl tia_job_ctl;

/* A claimed task handed to an executor; everything is borrowed for the call. */
typedef struct tia_job {
    const tia_claim *claim;
    const tia_agent *agent; /* the task's agent, NULL when unknown */
    const char *worker_id;
    tia_job_ctl *ctl; /* NULL: the job is never asked to stop */
} tia_job;

/*
 * Whether the runtime asks this job to stop, and why. Executors poll it (every
 * 50 ms or so) while they wait. Thread-safe.
 */
tia_stop_reason tia_job_stop(const tia_job *job);

/* What an executor reports for one job. */
typedef struct tia_exec_result {
    int ok;                /* 1: the task completed */
    int retryable;         /* when !ok: 1 for a transient failure (retried while retries last) */
    char *output_data;     /* when ok: JSON text or NULL; malloc'd */
    char *error_message;   /* when !ok: malloc'd (NULL: "failed") */
    int64_t tokens_used;   /* -1: not reported (input + output, or 0) */
    int64_t input_tokens;  /* -1: not reported */
    int64_t output_tokens; /* -1: not reported */
    int64_t cost_micros;   /* -1: computed from model_prices */
} tia_exec_result;

/* Sets r to "failed, nothing reported" (every count -1). */
void tia_exec_result_init(tia_exec_result *r);
/* Frees the texts and re-initialises r; NULL is accepted. */
void tia_exec_result_clear(tia_exec_result *r);

/*
 * An executor runs one job, in a thread of the runtime, and fills *out (already
 * initialised). Returns 0, or a TIA_E* code with err set when it could not run
 * the job at all (the runtime then fails the attempt as retryable with err's
 * message). ctx is the executor's configuration.
 */
typedef int (*tia_exec_fn)(void *ctx, const tia_job *job, tia_exec_result *out, tia_error *err);

/*
 * The command executor (ctx: const tia_cmd_config *). Starts argv in a process
 * group of its own with the task as JSON on stdin ({id, agent_id, workflow_id,
 * task_type, description, input_data, attempt}) and TIA_TASK_ID, TIA_AGENT_ID,
 * TIA_WORKFLOW_ID, TIA_TASK_TYPE, TIA_ATTEMPT and TIA_WORKER_ID in its
 * environment. Exit 0: stdout is the output_data (empty: none; invalid JSON or
 * more than stdout_max bytes: final failure), whose members tokens_used,
 * input_tokens, output_tokens and cost_usd (if present) are the accounting.
 * Non-zero exit or death by a signal: retryable failure with the last
 * TIA_EXEC_STDERR_TAIL bytes of stderr. Past the task's timeout, or when the
 * runtime asks it to stop: SIGTERM to the group, SIGKILL after kill_grace_ms;
 * a timeout is a retryable failure "timed out after Xs".
 */
typedef struct tia_cmd_config {
    const char *const *argv; /* NULL-terminated; argv[0] is searched in PATH */
    size_t stdout_max;       /* 0: TIA_EXEC_STDOUT_MAX */
    int64_t kill_grace_ms;   /* 0: TIA_EXEC_KILL_GRACE_MS */
} tia_cmd_config;

int tia_exec_cmd(void *ctx, const tia_job *job, tia_exec_result *out, tia_error *err);

/*
 * The LLM executor (ctx: const tia_llm_config *): POST {url}/chat/completions (or
 * url itself when it ends with /chat/completions) with a system message built
 * from the agent (name, role, backstory, specialties) and a user message from the
 * task (type, description, input_data); Bearer api_key. output_data is
 * {"content", "model", "finish_reason"}, tokens from usage. Timeouts, connection
 * errors, HTTP 429 and 5xx are retryable failures; other HTTP errors are final,
 * with the error message of the response body.
 */
typedef struct tia_llm_config {
    const char *url;            /* required: http(s)://host[:port][/v1] */
    const char *model;          /* NULL: the agent's model */
    const char *api_key;        /* NULL: $TOKYOIA_LLM_API_KEY, else $OPENAI_API_KEY, else none */
    int64_t timeout_ms;         /* when the task has no timeout; 0: TIA_EXEC_LLM_TIMEOUT_MS */
    int64_t connect_timeout_ms; /* 0: 10000 */
} tia_llm_config;

int tia_exec_llm(void *ctx, const tia_job *job, tia_exec_result *out, tia_error *err);

/* What a worker reports as it goes (for logs and progress). */
typedef enum tia_worker_event_kind {
    TIA_WORKER_CLAIMED = 0,
    TIA_WORKER_COMPLETED,
    TIA_WORKER_FAILED,    /* will_retry says whether it goes back to pending */
    TIA_WORKER_CANCELLED, /* stopped on request; the task ends cancelled */
    TIA_WORKER_RELEASED,  /* handed back unfinished at shutdown (a retryable failure) */
    TIA_WORKER_LOST,      /* the lease was lost; the result was not counted */
    TIA_WORKER_DRAINING,  /* stop requested: no more claims */
    TIA_WORKER_ERROR      /* a database call failed; message says which */
} tia_worker_event_kind;

typedef struct tia_worker_event {
    tia_worker_event_kind kind;
    const char *task_id; /* NULL for DRAINING and some ERRORs */
    const char *agent_id;
    const char *task_type;
    int64_t attempt;
    int64_t duration_ms; /* COMPLETED, FAILED: time in the executor */
    int64_t tokens_used; /* COMPLETED: as reported, -1 when not */
    int will_retry;      /* FAILED */
    const char *message; /* FAILED, CANCELLED, RELEASED, LOST, ERROR */
} tia_worker_event;

typedef struct tia_worker_config {
    const char *const *agent_ids; /* 1.. agents whose tasks it claims; must exist */
    size_t n_agents;
    const char *worker_id; /* NULL: "<host>:<pid>:<random>"; <= TIA_WORKER_ID_MAX */
    int concurrency;       /* tasks at a time, 1..TIA_WORKER_CONCURRENCY_MAX; 0: 1 */
    int64_t lease_ms;      /* 1 s .. 1 h; 0: TIA_WORKER_LEASE_MS; heartbeat every third */
    int64_t poll_ms;       /* the backstop between claims when idle, 10 ms .. 1 h; 0:
                              TIA_WORKER_POLL_MS. New work wakes an idle worker at once
                              (LISTEN/NOTIFY on PostgreSQL; on SQLite, writers in the
                              same process only), and a retry when its backoff ends */
    int64_t drain_ms;      /* after a stop, how long running tasks may finish before
                              they are released; 0: TIA_WORKER_DRAIN_MS */
    int64_t reap_ms;       /* take back expired leases of any worker this often;
                              0: every lease_ms; < 0: never */
    int once;              /* return once nothing is ready and nothing runs */
    tia_exec_fn exec;      /* required */
    void *exec_ctx;
    /* Called from tia_worker_run's thread; may be NULL. */
    void (*on_event)(void *ctx, const tia_worker_event *ev);
    void *event_ctx;
} tia_worker_config;

typedef struct tia_worker tia_worker;

typedef struct tia_worker_stats {
    int64_t claimed, completed, failed, cancelled, released, lost;
} tia_worker_stats;

/*
 * Creates a worker on s (borrowed; it must outlive the worker). The agents are
 * read once here (TIA_ENOTFOUND names a missing one); the configuration is
 * checked (TIA_EINVAL names the field). cfg's strings are copied.
 */
int tia_worker_new(tia_store *s, const tia_worker_config *cfg, tia_worker **out, tia_error *err);

/*
 * Runs until stopped (after the drain) or, with once, until idle. Returns 0, or
 * the TIA_E* code of a database error that persisted (after its running tasks
 * were stopped and joined). Call it once per worker.
 */
int tia_worker_run(tia_worker *w, tia_error *err);

/*
 * Asks the worker to stop: the first call drains (no more claims; running tasks
 * finish within drain_ms or are released), a second one releases them at once.
 * Async-signal-safe; may be called before tia_worker_run.
 */
void tia_worker_stop(tia_worker *w);

const char *tia_worker_id(const tia_worker *w);
/* What the worker did so far; from tia_worker_run's thread or after it returned. */
void tia_worker_stats_get(const tia_worker *w, tia_worker_stats *out);

/* Frees a worker that is not running; NULL is accepted. */
void tia_worker_free(tia_worker *w);

#ifdef __cplusplus
}
#endif
#endif
