/*
 * The agent_tasks table: one unit of work for one agent, optionally inside a
 * workflow and under a parent task. Status moves pending -> running -> completed |
 * failed | cancelled (pending -> cancelled too); every move sets its timestamps.
 */
#ifndef TOKYOIA_TASKS_H
#define TOKYOIA_TASKS_H

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tia_task {
    char id[TIA_UUID_BUF];
    char *agent_id;
    char workflow_id[TIA_UUID_BUF]; /* "" when NULL */
    char *task_type;
    char *description;
    tia_run_status status;
    char *input_data;    /* JSON text, NULL when NULL */
    char *output_data;   /* JSON text, NULL when NULL */
    char *error_message; /* NULL when NULL */
    tia_time_us started_at;   /* TIA_TIME_NONE when NULL */
    tia_time_us completed_at; /* TIA_TIME_NONE when NULL */
    int64_t duration_ms;      /* -1 when NULL */
    int64_t tokens_used;
    int64_t cost_micros; /* cost_usd in micro-dollars */
    int64_t retry_count;
    char parent_task_id[TIA_UUID_BUF]; /* "" when NULL */
    tia_time_us created_at;
    char *metadata; /* JSON text */
} tia_task;

/*
 * Frees a task that the library returned, with its strings: they live in the
 * task's one allocation, so never free or replace them one by one. NULL is a no-op.
 */
void tia_task_free(tia_task *t);

/*
 * A struct tag, not a typedef: tia_task_list is also the name of the function
 * below, and C puts typedef and function names in one namespace (as with struct
 * stat and stat()).
 */
struct tia_task_list {
    size_t n;
    tia_task **items;
    char next_cursor[TIA_CURSOR_BUF]; /* "" on the last page */
};

void tia_task_list_free(struct tia_task_list *l);

typedef struct tia_task_new {
    const char *agent_id;       /* required, must exist */
    const char *workflow_id;    /* NULL for none, must exist */
    const char *task_type;      /* required, <= 100 characters */
    const char *description;    /* required */
    const char *input_data;     /* JSON, NULL for NULL */
    const char *parent_task_id; /* NULL for none, must exist */
    const char *metadata;       /* JSON, NULL for {} */
} tia_task_new;

/*
 * Creates a pending task; its new UUIDv7 goes to id_out (may be NULL).
 * TIA_EINVAL (bad field), TIA_ENOTFOUND (unknown agent, workflow or parent, named
 * in the message).
 */
int tia_task_create(tia_store *s, const tia_task_new *t, char id_out[TIA_UUID_BUF],
                    tia_error *err);

/*
 * Creates n tasks in one transaction, all or none; ids_out (may be NULL) receives
 * n ids. The first bad item's index is in the message.
 */
int tia_task_create_batch(tia_store *s, const tia_task_new *items, size_t n,
                          char (*ids_out)[TIA_UUID_BUF], tia_error *err);

int tia_task_get(tia_store *s, const char *id, tia_task **out, tia_error *err);

typedef struct tia_task_filter {
    const char *agent_id;         /* NULL: any */
    const char *workflow_id;      /* NULL: any */
    const tia_run_status *status; /* NULL: any */
    size_t limit;                 /* 1..TIA_PAGE_MAX; 0 means 50 */
    const char *cursor;           /* NULL or "" for the first page */
} tia_task_filter;

/*
 * Lists tasks newest first (created_at, then id, descending), by pages: pass
 * out->next_cursor back as filter->cursor for the next page. Pages neither skip
 * nor repeat rows, even when tasks are created between calls. TIA_EINVAL for a
 * bad filter, cursor or limit.
 */
int tia_task_list(tia_store *s, const tia_task_filter *f, struct tia_task_list *out,
                  tia_error *err);

/* What a task reports when it ends; any member may be left NULL / 0. */
typedef struct tia_task_result {
    const char *output_data;   /* JSON */
    const char *error_message;
    int64_t tokens_used;       /* >= 0 */
    int64_t cost_micros;       /* >= 0, <= TIA_COST_MAX_MICROS */
} tia_task_result;

/*
 * Moves a task to `to`. running sets started_at; a final status sets
 * completed_at and duration_ms (from started_at, when the task ran) and writes
 * result (may be NULL). TIA_ENOTFOUND; TIA_ECONFLICT for an illegal transition or
 * a concurrent change; TIA_EINVAL for a bad result. Nothing is written on error.
 */
int tia_task_transition(tia_store *s, const char *id, tia_run_status to,
                        const tia_task_result *result, tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
