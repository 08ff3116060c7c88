/*
 * The workflows table: multi-agent runs. Their counters (total/completed/failed
 * tasks, tokens, cost) are kept by the database from the tasks; this interface
 * never writes them.
 */
#ifndef TOKYOIA_WORKFLOWS_H
#define TOKYOIA_WORKFLOWS_H

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tia_workflow {
    char id[TIA_UUID_BUF];
    char *name;
    char *description;   /* NULL when not set */
    tia_run_status status;
    char *workflow_type; /* NULL when not set */
    char *initiator;     /* NULL when not set */
    int64_t total_tasks;
    int64_t completed_tasks;
    int64_t failed_tasks;
    tia_time_us started_at;   /* TIA_TIME_NONE when NULL */
    tia_time_us completed_at; /* TIA_TIME_NONE when NULL */
    int64_t duration_ms;      /* -1 when NULL */
    int64_t total_tokens_used;
    int64_t total_cost_micros; /* total_cost_usd in micro-dollars */
    tia_time_us created_at;
    tia_time_us updated_at;
    char *metadata; /* JSON text */
} tia_workflow;

void tia_workflow_free(tia_workflow *w);

/*
 * A struct tag, not a typedef: tia_workflow_list is also the name of the function
 * below, and C puts typedef and function names in one namespace (as with struct
 * stat and stat()).
 */
struct tia_workflow_list {
    size_t n;
    tia_workflow **items;
    char next_cursor[TIA_CURSOR_BUF]; /* "" on the last page */
};

void tia_workflow_list_free(struct tia_workflow_list *l);

typedef struct tia_workflow_new {
    const char *name;          /* required, <= 200 characters */
    const char *description;   /* NULL for none */
    const char *workflow_type; /* NULL for none, <= 100 */
    const char *initiator;     /* NULL for none, <= 100 */
    const char *metadata;      /* JSON; NULL for {} */
} tia_workflow_new;

/* Creates a pending workflow; its new UUIDv7 goes to id_out (may be NULL). */
int tia_workflow_create(tia_store *s, const tia_workflow_new *w, char id_out[TIA_UUID_BUF],
                        tia_error *err);

/* TIA_ENOTFOUND, TIA_EINVAL (malformed id). Free *out with tia_workflow_free. */
int tia_workflow_get(tia_store *s, const char *id, tia_workflow **out, tia_error *err);

typedef struct tia_workflow_filter {
    const tia_run_status *status; /* NULL: any */
    const char *workflow_type;    /* NULL: any */
    tia_time_us created_after;    /* inclusive; TIA_TIME_NONE: unbounded */
    tia_time_us created_before;   /* exclusive; TIA_TIME_NONE: unbounded */
    size_t limit;                 /* 1..TIA_PAGE_MAX; 0 means 50 */
    const char *cursor;           /* NULL or "" for the first page */
} tia_workflow_filter;

/*
 * Lists workflows newest first (created_at, then id, descending), one page at a
 * time: pass out->next_cursor back as filter->cursor for the next page. Pages
 * neither skip nor repeat rows. TIA_EINVAL for a bad cursor or limit.
 */
int tia_workflow_list(tia_store *s, const tia_workflow_filter *f, struct tia_workflow_list *out,
                      tia_error *err);

/*
 * Moves a workflow to `to` (see tia_run_transition_ok): running sets started_at,
 * a final status sets completed_at and duration_ms. TIA_ENOTFOUND; TIA_ECONFLICT
 * for an illegal transition (nothing written).
 */
int tia_workflow_set_status(tia_store *s, const char *id, tia_run_status to, tia_error *err);

/*
 * Deletes a workflow with its tasks and interactions (cascade). TIA_ENOTFOUND;
 * TIA_ECONFLICT when a task outside the workflow has one of its tasks as parent
 * (agent_tasks.parent_task_id has no ON DELETE rule).
 */
int tia_workflow_delete(tia_store *s, const char *id, tia_error *err);

struct tia_task_list;

/*
 * A workflow with all its tasks, oldest task first, in one round trip (the seed's
 * "workflow with tasks" query). *wf is freed with tia_workflow_free, tasks with
 * tia_task_list_free (next_cursor is always ""). TIA_ENOTFOUND, TIA_EINVAL.
 */
int tia_workflow_get_with_tasks(tia_store *s, const char *id, tia_workflow **wf,
                                struct tia_task_list *tasks, tia_error *err);

/* Most edges tia_workflow_edges returns at once. */
#define TIA_WORKFLOW_EDGES_MAX 100000

/* One dependency: task_id runs after depends_on (both of the same workflow). */
typedef struct tia_task_edge {
    char task_id[TIA_UUID_BUF];
    char depends_on[TIA_UUID_BUF];
} tia_task_edge;

struct tia_task_edge_list {
    size_t n;
    tia_task_edge *items; /* by task_id, then depends_on */
    int truncated;        /* 1 when there were more than max */
};

void tia_task_edge_list_free(struct tia_task_edge_list *l);

/*
 * The dependency edges between a workflow's tasks (as submitted with
 * depends_on), at most max (1..TIA_WORKFLOW_EDGES_MAX). An unknown workflow has
 * none. TIA_EINVAL for a malformed id or max.
 */
int tia_workflow_edges(tia_store *s, const char *workflow_id, size_t max,
                       struct tia_task_edge_list *out, tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
