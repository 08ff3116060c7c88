/*
 * `tokyoia workflows`: list (filtered, by pages), show (with its tasks and
 * interactions), add, status, delete and cancel (through the engine, which also
 * stops the workflow's tasks). The counters shown are the ones the
 * database keeps from the tasks.
 */
#include <stdio.h>

#include <tokyoia/engine.h>
#include <tokyoia/interactions.h>
#include <tokyoia/tasks.h>
#include <tokyoia/workflows.h>

#include "cli/cli.h"

static const char *const list_cols[] = {"id",
                                        "name",
                                        "workflow_type",
                                        "status",
                                        "total_tasks",
                                        "completed_tasks",
                                        "failed_tasks",
                                        "total_tokens_used",
                                        "total_cost_usd",
                                        "created_at"};

const tia_cli_nested tia_cli_workflow_nested[2] = {
    {"tasks", &tia_cli_task_cols},
    {"interactions", &tia_cli_interaction_cols},
};

/* Every task of the workflow, oldest first (the list pages newest first). */
static int tasks_json(tia_store *s, const char *id, json_t *arr, tia_error *err)
{
    char cursor[TIA_CURSOR_BUF] = "";
    int rc = 0;
    do {
        tia_task_filter f = {NULL, id, NULL, TIA_PAGE_MAX, cursor};
        struct tia_task_list l = {0};
        rc = tia_task_list(s, &f, &l, err);
        for (size_t i = 0; rc == 0 && i < l.n; i++)
            json_array_insert_new(arr, 0, tia__json_task(l.items[i]));
        snprintf(cursor, sizeof cursor, "%s", rc == 0 ? l.next_cursor : "");
        tia_task_list_free(&l);
    } while (rc == 0 && cursor[0]);
    return rc;
}

static int interactions_json(tia_store *s, const char *id, json_t *arr, tia_error *err)
{
    tia_interaction_list l = {0};
    int rc = tia_interaction_list_for_workflow(s, id, &l, err);
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        json_array_append_new(arr, tia__json_interaction(&l.items[i]));
    tia_interaction_list_free(&l);
    return rc;
}

int tia_cli_workflow_build(tia_store *s, const char *id, json_t **out, tia_error *err)
{
    tia_workflow *w = NULL;
    json_t *tasks = json_array(), *inter = json_array();
    *out = NULL;
    int rc = tia_workflow_get(s, id, &w, err);
    if (rc == 0)
        rc = tasks_json(s, id, tasks, err);
    if (rc == 0)
        rc = interactions_json(s, id, inter, err);
    if (rc == 0) {
        *out = tia__json_workflow(w);
        json_object_set(*out, "tasks", tasks);
        json_object_set(*out, "interactions", inter);
    }
    json_decref(tasks);
    json_decref(inter);
    tia_workflow_free(w);
    return rc;
}

typedef struct wf_args {
    tia_cli_pos pos;
    const char *name, *type, *initiator, *description, *metadata, *cursor;
    tia_run_status status;
    int64_t since, limit;
    tia_time_us after, before;
    int seen_status, seen_since, seen_after, seen_before;
} wf_args;

static int list_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    wf_args *a = ctx;
    tia_time_us after = a->seen_after ? a->after : TIA_TIME_NONE;
    if (a->seen_since && tia_now_us() - a->since > after)
        after = tia_now_us() - a->since; /* both given: the later bound holds */
    tia_workflow_filter f = {
        a->seen_status ? &a->status : NULL,         a->type,          after,
        a->seen_before ? a->before : TIA_TIME_NONE, (size_t)a->limit, a->cursor};
    struct tia_workflow_list l = {0};
    int rc = tia_workflow_list(s, &f, &l, err);
    if (rc == 0) {
        res->value = json_array();
        for (size_t i = 0; i < l.n; i++)
            json_array_append_new(res->value, tia__json_workflow(l.items[i]));
        res->cols = TIA_CLI_COLS(list_cols);
        snprintf(res->next_cursor, sizeof res->next_cursor, "%s", l.next_cursor);
    }
    tia_workflow_list_free(&l);
    return rc;
}

static int wf_list(int argc, char **argv, const tia_cli_opts *opts)
{
    wf_args a = {0};
    const tia_cli_opt o[] = {
        {"--status", TIA_OPT_RUN_STATUS, &a.status, 0, "S", "only workflows in this status",
         &a.seen_status},
        {"--type", TIA_OPT_STR, &a.type, 0, "T", "only workflows of this type", NULL},
        {"--since", TIA_OPT_DURATION, &a.since, 0, "DURATION", "created within this long (24h, 7d)",
         &a.seen_since},
        {"--after", TIA_OPT_TIME, &a.after, 0, "ISO", "created at or after this time",
         &a.seen_after},
        {"--before", TIA_OPT_TIME, &a.before, 0, "ISO", "created before this time", &a.seen_before},
        {"--limit", TIA_OPT_POSINT, &a.limit, 0, "N", "page size, 1..1000 (default 50)", NULL},
        {"--cursor", TIA_OPT_STR, &a.cursor, 0, "C", "the next page, as printed on stderr", NULL},
    };
    tia_cli_parse_spec spec = {"workflows list", "",
                               "Lists workflows, newest first, a page at a time.", o, TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, list_body, &a);
}

static int show_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    res->nested = tia_cli_workflow_nested;
    res->n_nested = 2;
    return tia_cli_workflow_build(s, ((wf_args *)ctx)->pos.v[0], &res->value, err);
}

static int wf_show(int argc, char **argv, const tia_cli_opts *opts)
{
    wf_args a = {0};
    tia_cli_parse_spec spec = {"workflows show", "ID",
                               "Shows a workflow with its tasks and interactions.", NULL, 0};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, show_body, &a);
}

static int result_workflow(tia_store *s, const char *id, tia_cli_result *res, tia_error *err)
{
    tia_workflow *w = NULL;
    int rc = tia_workflow_get(s, id, &w, err);
    if (rc == 0)
        res->value = tia__json_workflow(w);
    tia_workflow_free(w);
    return rc;
}

static int add_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    wf_args *a = ctx;
    tia_workflow_new n = {a->name, a->description, a->type, a->initiator, a->metadata};
    char id[TIA_UUID_BUF];
    int rc = tia_workflow_create(s, &n, id, err);
    return rc != 0 ? rc : result_workflow(s, id, res, err);
}

static int wf_add(int argc, char **argv, const tia_cli_opts *opts)
{
    wf_args a = {0};
    const tia_cli_opt o[] = {
        {"--name", TIA_OPT_STR, &a.name, 1, "N", "workflow name", NULL},
        {"--type", TIA_OPT_STR, &a.type, 0, "T", "workflow type (code_review, ...)", NULL},
        {"--initiator", TIA_OPT_STR, &a.initiator, 0, "I", "who started it", NULL},
        {"--description", TIA_OPT_STR, &a.description, 0, "D", "description", NULL},
        {"--metadata", TIA_OPT_STR, &a.metadata, 0, "JSON", "metadata object", NULL},
    };
    tia_cli_parse_spec spec = {"workflows add", "", "Creates a pending workflow.", o, TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, add_body, &a);
}

static int status_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    wf_args *a = ctx;
    int rc = tia_workflow_set_status(s, a->pos.v[0], a->status, err);
    return rc != 0 ? rc : result_workflow(s, a->pos.v[0], res, err);
}

static int wf_status(int argc, char **argv, const tia_cli_opts *opts)
{
    wf_args a = {0};
    tia_cli_parse_spec spec = {"workflows status",
                               "ID STATUS",
                               "Moves a workflow: pending -> running | cancelled, running -> "
                               "completed | failed | cancelled (exit 5 otherwise).",
                               NULL,
                               0,
                               {0, TIA_OPT_RUN_STATUS},
                               {NULL, &a.status}};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, status_body, &a);
}

static int delete_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    const char *id = ((wf_args *)ctx)->pos.v[0];
    int rc = tia_workflow_delete(s, id, err);
    if (rc == 0) {
        res->value = json_pack("{s:s}", "deleted", id);
        snprintf(res->message, sizeof res->message, "Deleted workflow %s.", id);
    }
    return rc;
}

static int wf_delete(int argc, char **argv, const tia_cli_opts *opts)
{
    wf_args a = {0};
    tia_cli_parse_spec spec = {"workflows delete", "ID",
                               "Deletes a workflow with its tasks and interactions.", NULL, 0};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, delete_body, &a);
}

static int cancel_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    const char *id = ((wf_args *)ctx)->pos.v[0];
    int rc = tia_engine_cancel_workflow(s, id, err);
    return rc != 0 ? rc : result_workflow(s, id, res, err);
}

static int wf_cancel(int argc, char **argv, const tia_cli_opts *opts)
{
    wf_args a = {0};
    tia_cli_parse_spec spec = {"workflows cancel", "ID",
                               "Cancels a workflow: its pending tasks at once, its running ones "
                               "at their worker's next heartbeat (exit 5 when it has ended).",
                               NULL, 0};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, cancel_body, &a);
}

int tia_cli_workflows(int argc, char **argv, const tia_cli_opts *opts)
{
    static const tia_cli_cmd cmds[] = {
        {"list", "", "list workflows", wf_list},
        {"show", "ID", "show a workflow with its tasks and interactions", wf_show},
        {"add", "", "create a workflow", wf_add},
        {"status", "ID STATUS", "move a workflow to a new status", wf_status},
        {"delete", "ID", "delete a workflow", wf_delete},
        {"cancel", "ID", "cancel a workflow and its tasks (engine)", wf_cancel},
    };
    return tia_cli_dispatch("workflows", "Manages multi-agent workflows.", cmds, TIA_CLI_N(cmds),
                            "list", argc, argv, opts);
}
