/*
 * The seed's query patterns that aggregate: agent_stats for every agent (answered
 * from the counters the database keeps, not by scanning agent_tasks), and one
 * agent's statistics over a time window. The other patterns are in their tables'
 * headers: tia_agent_list (active agents), tia_task_list (recent tasks of an
 * agent), tia_workflow_get plus tia_task_list (a workflow with its tasks) and
 * tia_interaction_list_for_workflow.
 */
#ifndef TOKYOIA_STATS_H
#define TOKYOIA_STATS_H

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One row of the agent_stats view. */
typedef struct tia_agent_stats {
    char id[TIA_AGENT_ID_MAX * 4 + 1];
    char *name;
    char *role;
    tia_agent_status status;
    int64_t total_tasks;
    int64_t completed_tasks;
    int64_t failed_tasks;
    int64_t total_tokens;
    int64_t total_cost_micros;
    double avg_duration_ms; /* 0 when no task has a duration */
    double success_rate;    /* percent of tasks completed, 2 places; 100 with no tasks */
} tia_agent_stats;

typedef struct tia_agent_stats_list {
    size_t n;
    tia_agent_stats *items; /* by id */
} tia_agent_stats_list;

void tia_agent_stats_list_free(tia_agent_stats_list *l);

/* agent_stats for every agent, from agent_task_totals. */
int tia_stats_agents(tia_store *s, tia_agent_stats_list *out, tia_error *err);

/* The seed's "agent statistics" query over any window. */
typedef struct tia_agent_window_stats {
    int64_t total_tasks;     /* completed tasks created in the window */
    double avg_latency_ms;   /* mean duration_ms of those, 0 when none */
    int64_t total_tokens;
    int64_t total_cost_micros;
} tia_agent_window_stats;

/* The longest window: 100 years (of 365.25 days). PostgreSQL's NOW() - window
 * leaves its timestamp range past about 6,700 years; SQLite would not. */
#define TIA_STATS_WINDOW_MAX_US (INT64_C(3155760000) * 1000000)

/*
 * Completed tasks of agent_id created after now - window_us (the seed's
 * "created_at > NOW() - INTERVAL ..."; no upper bound, as in the seed).
 * TIA_ENOTFOUND for an unknown agent; TIA_EINVAL for window_us <= 0 or over
 * TIA_STATS_WINDOW_MAX_US.
 */
int tia_stats_agent_window(tia_store *s, const char *agent_id, int64_t window_us,
                           tia_agent_window_stats *out, tia_error *err);

/*
 * Per-agent totals for monitoring (the Prometheus endpoint): tasks by status
 * from agent_task_totals, the depth of the agent's queue, and tokens and cost
 * with the agent's current model. One row per agent.
 */
typedef struct tia_agent_totals {
    char id[TIA_AGENT_ID_MAX * 4 + 1];
    char model[TIA_AGENT_MODEL_MAX * 4 + 1];
    int64_t pending;
    int64_t running;
    int64_t completed;
    int64_t failed;
    int64_t cancelled;
    int64_t ready;  /* queue depth: pending tasks whose dependencies are done (including
                       those waiting out a retry backoff) */
    int64_t tokens; /* tokens_used of all its tasks */
    int64_t cost_micros;
} tia_agent_totals;

typedef struct tia_agent_totals_list {
    size_t n;
    tia_agent_totals *items; /* by id */
} tia_agent_totals_list;

void tia_agent_totals_list_free(tia_agent_totals_list *l);

/*
 * The totals of every agent (agent_task_totals, kept by the database's
 * triggers, plus a count over the ready-task index per agent). *out is
 * emptied first and must be freed with tia_agent_totals_list_free.
 */
int tia_stats_totals(tia_store *s, tia_agent_totals_list *out, tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
