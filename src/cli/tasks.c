/*
 * `tokyoia tasks`: list, show, add and update. update is tia_task_transition, so
 * the state machine (and the counters the database keeps) stay the library's;
 * retry and cancel go through the engine, which also handles leases and
 * dependents.
 */
#include <stdio.h>

#include <tokyoia/engine.h>
#include <tokyoia/tasks.h>

#include "cli/cli.h"

static const char *const task_cols[] = {"id",          "agent_id",    "task_type",
                                        "status",      "tokens_used", "cost_usd",
                                        "duration_ms", "created_at",  "description"};
const tia_cli_cols tia_cli_task_cols = {TIA_CLI_N(task_cols), task_cols};

typedef struct task_args {
    tia_cli_pos pos;
    const char *agent, *workflow, *type, *description, *parent, *input, *metadata, *cursor;
    const char *output, *error;
    tia_run_status status;
    int64_t limit, tokens, cost;
    int seen_status;
} task_args;

static int result_task(tia_store *s, const char *id, tia_cli_result *res, tia_error *err)
{
    tia_task *t = NULL;
    int rc = tia_task_get(s, id, &t, err);
    if (rc == 0)
        res->value = tia__json_task(t);
    tia_task_free(t);
    return rc;
}

static int list_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    task_args *a = ctx;
    tia_task_filter f = {a->agent, a->workflow, a->seen_status ? &a->status : NULL,
                         (size_t)a->limit, a->cursor};
    struct tia_task_list l = {0};
    int rc = tia_task_list(s, &f, &l, err);
    if (rc == 0) {
        res->value = json_array();
        for (size_t i = 0; i < l.n; i++)
            json_array_append_new(res->value, tia__json_task(l.items[i]));
        res->cols = tia_cli_task_cols;
        snprintf(res->next_cursor, sizeof res->next_cursor, "%s", l.next_cursor);
    }
    tia_task_list_free(&l);
    return rc;
}

static int tasks_list(int argc, char **argv, const tia_cli_opts *opts)
{
    task_args a = {0};
    const tia_cli_opt o[] = {
        {"--agent", TIA_OPT_STR, &a.agent, 0, "A", "only tasks of this agent", NULL},
        {"--workflow", TIA_OPT_STR, &a.workflow, 0, "W", "only tasks of this workflow", NULL},
        {"--status", TIA_OPT_RUN_STATUS, &a.status, 0, "S",
         "only tasks in this status (pending, running, completed, failed, cancelled)",
         &a.seen_status},
        {"--limit", TIA_OPT_POSINT, &a.limit, 0, "N", "page size, 1..1000 (default 50)", NULL},
        {"--cursor", TIA_OPT_STR, &a.cursor, 0, "C", "the next page, as printed on stderr", NULL},
    };
    tia_cli_parse_spec spec = {"tasks list", "", "Lists tasks, newest first, a page at a time.", o,
                               TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, list_body, &a);
}

static int show_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    return result_task(s, ((task_args *)ctx)->pos.v[0], res, err);
}

static int tasks_show(int argc, char **argv, const tia_cli_opts *opts)
{
    task_args a = {0};
    tia_cli_parse_spec spec = {"tasks show", "ID", "Shows one task.", NULL, 0};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, show_body, &a);
}

static int add_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    task_args *a = ctx;
    tia_task_new n = {a->agent, a->workflow, a->type,    a->description,
                      a->input, a->parent,   a->metadata};
    char id[TIA_UUID_BUF];
    int rc = tia_task_create(s, &n, id, err);
    return rc != 0 ? rc : result_task(s, id, res, err);
}

static int tasks_add(int argc, char **argv, const tia_cli_opts *opts)
{
    task_args a = {0};
    const tia_cli_opt o[] = {
        {"--agent", TIA_OPT_STR, &a.agent, 1, "A", "the agent that does the task", NULL},
        {"--type", TIA_OPT_STR, &a.type, 1, "T", "task type (code_review, ...)", NULL},
        {"--description", TIA_OPT_STR, &a.description, 1, "D", "what to do", NULL},
        {"--workflow", TIA_OPT_STR, &a.workflow, 0, "W", "the workflow it belongs to", NULL},
        {"--parent", TIA_OPT_STR, &a.parent, 0, "P", "parent task id", NULL},
        {"--input", TIA_OPT_STR, &a.input, 0, "JSON", "input data", NULL},
        {"--metadata", TIA_OPT_STR, &a.metadata, 0, "JSON", "metadata object", NULL},
    };
    tia_cli_parse_spec spec = {"tasks add", "", "Creates a pending task.", o, TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, add_body, &a);
}

static int update_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    task_args *a = ctx;
    tia_task_result r = {a->output, a->error, a->tokens, a->cost};
    int rc = tia_task_transition(s, a->pos.v[0], a->status, &r, err);
    return rc != 0 ? rc : result_task(s, a->pos.v[0], res, err);
}

static int tasks_update(int argc, char **argv, const tia_cli_opts *opts)
{
    task_args a = {0};
    const tia_cli_opt o[] = {
        {"--status", TIA_OPT_RUN_STATUS, &a.status, 1, "S",
         "new status: running, completed, failed or cancelled", NULL},
        {"--output", TIA_OPT_STR, &a.output, 0, "JSON", "output data (final status)", NULL},
        {"--error", TIA_OPT_STR, &a.error, 0, "MSG", "error message (final status)", NULL},
        {"--tokens", TIA_OPT_INT, &a.tokens, 0, "N", "tokens used (final status)", NULL},
        {"--cost", TIA_OPT_COST, &a.cost, 0, "USD", "cost in dollars (final status)", NULL},
    };
    tia_cli_parse_spec spec = {"tasks update", "ID",
                               "Moves a task: pending -> running | cancelled, running -> "
                               "completed | failed | cancelled (exit 5 otherwise).",
                               o, TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, update_body, &a);
}

typedef int (*task_call)(tia_store *s, const char *id, tia_error *err);

/* retry and cancel: an engine call on the task, then the task as it is now. */
static int engine_body(tia_store *s, const char *id, task_call call, tia_cli_result *res,
                       tia_error *err)
{
    int rc = call(s, id, err);
    return rc != 0 ? rc : result_task(s, id, res, err);
}

static int retry_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    return engine_body(s, ((task_args *)ctx)->pos.v[0], tia_engine_retry_task, res, err);
}

static int cancel_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    return engine_body(s, ((task_args *)ctx)->pos.v[0], tia_engine_cancel_task, res, err);
}

static int tasks_retry(int argc, char **argv, const tia_cli_opts *opts)
{
    task_args a = {0};
    tia_cli_parse_spec spec = {"tasks retry", "ID",
                               "Puts a failed or cancelled task back to pending with a new retry "
                               "budget (exit 5 otherwise).",
                               NULL, 0};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, retry_body, &a);
}

static int tasks_cancel(int argc, char **argv, const tia_cli_opts *opts)
{
    task_args a = {0};
    tia_cli_parse_spec spec = {"tasks cancel", "ID",
                               "Cancels a task: a pending one at once, a running one at its "
                               "worker's next heartbeat.",
                               NULL, 0};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, cancel_body, &a);
}

int tia_cli_tasks(int argc, char **argv, const tia_cli_opts *opts)
{
    static const tia_cli_cmd cmds[] = {
        {"list", "", "list tasks", tasks_list},
        {"show", "ID", "show one task", tasks_show},
        {"add", "", "create a pending task", tasks_add},
        {"update", "ID", "move a task to a new status with its result", tasks_update},
        {"retry", "ID", "retry a failed or cancelled task (engine)", tasks_retry},
        {"cancel", "ID", "cancel a task (engine)", tasks_cancel},
    };
    return tia_cli_dispatch("tasks", "Manages agent tasks.", cmds, TIA_CLI_N(cmds), "list", argc,
                            argv, opts);
}
