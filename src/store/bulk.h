/*
 * The bulk loader behind `tokyoia generate` and the benchmarks: realistic history
 * (workflows of the four seed types with their step tasks, standalone tasks,
 * interactions between the agents, metric points) written fast. PostgreSQL gets a
 * few thousand rows per statement (INSERT ... SELECT FROM json_to_recordset), SQLite
 * one prepared insert per row inside large transactions. The loader never writes a
 * counter: the triggers of migration 0002 keep them, and tia__bulk_check_counters
 * recomputes them to prove it.
 *
 * Each batch is its own transaction: an interrupted load keeps the batches already
 * committed (with true counters), not a partial batch.
 */
#ifndef TIA_STORE_BULK_H
#define TIA_STORE_BULK_H

#include <stdint.h>

#include <tokyoia/store.h>

/* Called after each committed batch; phase is "tasks" or "metrics". */
typedef void (*tia__bulk_progress_fn)(void *ctx, const char *phase, int64_t done, int64_t total);

typedef struct tia__bulk_spec {
    int64_t tasks;                  /* agent_tasks rows, >= 0 */
    int64_t metrics;                /* agent_metrics rows, >= 0 */
    int64_t workflows;              /* >= 0, or -1 for tasks / 5 */
    int days;                       /* history length, 1..3650 */
    uint64_t seed;                  /* same seed, same data (ids aside: they are fresh UUIDv7) */
    tia_time_us now;                /* end of the history; 0 for the current time */
    tia__bulk_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} tia__bulk_spec;

typedef struct tia__bulk_counts {
    int64_t workflows;
    int64_t tasks;
    int64_t interactions;
    int64_t metrics;
} tia__bulk_counts;

/*
 * Loads spec->workflows workflows with their step tasks, the remaining tasks as
 * standalone tasks (some with a parent), and the interactions of the workflows.
 * The five seed agents must exist (TIA_ENOTFOUND names a missing one). Costs follow
 * the seed price table by each agent's model. *out (may be NULL) gets the rows
 * written (metrics stays 0).
 */
int tia__bulk_load_tasks(tia_store *s, const tia__bulk_spec *spec, tia__bulk_counts *out,
                         tia_error *err);

/* Loads spec->metrics metric points (latency, tokens, cost, success_rate, error_rate). */
int tia__bulk_load_metrics(tia_store *s, const tia__bulk_spec *spec, tia__bulk_counts *out,
                           tia_error *err);

/* Result of recomputing every counter from agent_tasks and archived_task_totals. */
typedef struct tia__bulk_check {
    int64_t agents;          /* agents compared */
    int64_t agents_bad;      /* agents whose counters or totals row differ */
    int64_t agents_archived; /* agents with archived completed tasks: latency not recomputed */
    int64_t workflows;       /* workflows compared */
    int64_t workflows_bad;   /* workflows whose counters differ */
} tia__bulk_check;

/*
 * Recomputes agents' counters, agent_task_totals and workflows' counters from
 * agent_tasks, plus archived_task_totals for the agents' archived tasks, and
 * counts the rows that differ. The average latency of an agent with archived
 * completed tasks cannot be recomputed (the archive keeps no completed-only
 * durations): it is checked against its agent_task_totals row, and the agent
 * counted in agents_archived. Returns 0 when the comparison ran (whatever it
 * found); the caller reads *out.
 */
int tia__bulk_check_counters(tia_store *s, tia__bulk_check *out, tia_error *err);

#endif
