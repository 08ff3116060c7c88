/*
 * `tokyoia agents`: list, show, add, update, status and delete, each a thin
 * translation of its options into one tia_agent_* call.
 */
#include <stdio.h>
#include <string.h>

#include <tokyoia/agents.h>

#include "cli/cli.h"

static const char *const list_cols[] = {"id",
                                        "personality_emoji",
                                        "name",
                                        "role",
                                        "model",
                                        "status",
                                        "total_tasks_completed",
                                        "total_tokens_used",
                                        "success_rate"};

/* Every option of add and update; `status` and `seen` say what was given. */
typedef struct agent_args {
    tia_cli_pos pos;
    const char *id, *name, *role, *model, *backstory, *emoji, *metadata;
    tia_cli_strv specialties;
    tia_agent_status status;
    int seen_name, seen_role, seen_model, seen_spec, seen_backstory, seen_emoji, seen_status,
        seen_meta;
} agent_args;

/* Reads agent `id` back as the command's result. */
static int result_agent(tia_store *s, const char *id, tia_cli_result *res, tia_error *err)
{
    tia_agent *a = NULL;
    int rc = tia_agent_get(s, id, &a, err);
    if (rc == 0)
        res->value = tia__json_agent(a);
    tia_agent_free(a);
    return rc;
}

static int list_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    agent_args *a = ctx;
    struct tia_agent_list l = {0};
    int rc = tia_agent_list(s, a->seen_status ? &a->status : NULL, &l, err);
    if (rc == 0) {
        res->value = json_array();
        for (size_t i = 0; i < l.n; i++)
            json_array_append_new(res->value, tia__json_agent(l.items[i]));
        res->cols = TIA_CLI_COLS(list_cols);
    }
    tia_agent_list_free(&l);
    return rc;
}

static int agents_list(int argc, char **argv, const tia_cli_opts *opts)
{
    agent_args a = {0};
    const tia_cli_opt o[] = {{"--status", TIA_OPT_AGENT_STATUS, &a.status, 0, "S",
                              "only agents in this status (active, inactive, maintenance)",
                              &a.seen_status}};
    tia_cli_parse_spec spec = {"agents list", "", "Lists agents by id.", o, TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, list_body, &a);
}

static int show_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    return result_agent(s, ((agent_args *)ctx)->pos.v[0], res, err);
}

static int agents_show(int argc, char **argv, const tia_cli_opts *opts)
{
    agent_args a = {0};
    tia_cli_parse_spec spec = {"agents show", "ID", "Shows one agent.", NULL, 0};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, show_body, &a);
}

/* An empty --backstory or --emoji is none (NULL), on add as on update. */
static const char *empty_null(const char *v)
{
    return v && *v ? v : NULL;
}

static int add_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    agent_args *a = ctx;
    tia_agent_new n = {a->id,
                       a->name,
                       a->role,
                       a->model,
                       a->specialties.v,
                       a->specialties.n,
                       empty_null(a->backstory),
                       empty_null(a->emoji),
                       a->status,
                       a->metadata};
    int rc = tia_agent_create(s, &n, err);
    return rc != 0 ? rc : result_agent(s, a->id, res, err);
}

#define N_FIELD_OPTS 8

/*
 * The options add and update share, into o[N_FIELD_OPTS]; `required` marks those
 * add needs. An empty --backstory or --emoji is none on add and clears it on update.
 */
static void field_opts(agent_args *a, int required, tia_cli_opt *o)
{
    const tia_cli_opt opts[N_FIELD_OPTS] = {
        {"--name", TIA_OPT_STR, &a->name, required, "N", "display name", &a->seen_name},
        {"--role", TIA_OPT_STR, &a->role, required, "R", "role", &a->seen_role},
        {"--model", TIA_OPT_STR, &a->model, required, "M", "model", &a->seen_model},
        {"--specialty", TIA_OPT_MULTI, &a->specialties, 0, "X", "a specialty", &a->seen_spec},
        {"--backstory", TIA_OPT_STR, &a->backstory, 0, "T", "backstory", &a->seen_backstory},
        {"--emoji", TIA_OPT_STR, &a->emoji, 0, "E", "personality emoji", &a->seen_emoji},
        {"--status", TIA_OPT_AGENT_STATUS, &a->status, 0, "S", "active, inactive or maintenance",
         &a->seen_status},
        {"--metadata", TIA_OPT_STR, &a->metadata, 0, "JSON", "metadata object", &a->seen_meta},
    };
    memcpy(o, opts, sizeof opts);
}

static int agents_add(int argc, char **argv, const tia_cli_opts *opts)
{
    agent_args a = {0};
    tia_cli_opt o[N_FIELD_OPTS + 1] = {
        {"--id", TIA_OPT_STR, &a.id, 1, "ID", "agent id (akira-001)", NULL}};
    field_opts(&a, 1, o + 1);
    tia_cli_parse_spec spec = {"agents add", "", "Creates an agent.", o, TIA_CLI_N(o)};
    int rc = tia_cli_run(&spec, argc, argv, &a.pos, opts, add_body, &a);
    tia_cli_strv_free(&a.specialties);
    return rc;
}

static int update_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    agent_args *a = ctx;
    struct tia_agent_update u = {0};
    u.fields = (a->seen_name ? TIA_AGENT_SET_NAME : 0u) | (a->seen_role ? TIA_AGENT_SET_ROLE : 0u) |
               (a->seen_model ? TIA_AGENT_SET_MODEL : 0u) |
               (a->seen_spec ? TIA_AGENT_SET_SPECIALTIES : 0u) |
               (a->seen_backstory ? TIA_AGENT_SET_BACKSTORY : 0u) |
               (a->seen_emoji ? TIA_AGENT_SET_EMOJI : 0u) |
               (a->seen_status ? TIA_AGENT_SET_STATUS : 0u) |
               (a->seen_meta ? TIA_AGENT_SET_METADATA : 0u);
    u.name = a->name;
    u.role = a->role;
    u.model = a->model;
    u.specialties = a->specialties.v;
    u.n_specialties = a->specialties.n;
    u.backstory = empty_null(a->backstory);
    u.personality_emoji = empty_null(a->emoji);
    u.status = a->status;
    u.metadata = a->metadata;
    int rc = tia_agent_update(s, a->pos.v[0], &u, err);
    return rc != 0 ? rc : result_agent(s, a->pos.v[0], res, err);
}

static int agents_update(int argc, char **argv, const tia_cli_opts *opts)
{
    agent_args a = {0};
    tia_cli_opt o[N_FIELD_OPTS];
    field_opts(&a, 0, o);
    tia_cli_parse_spec spec = {"agents update", "ID",
                               "Changes the given fields of an agent; --specialty (repeated) "
                               "replaces the list, an empty --backstory or --emoji clears it.",
                               o, TIA_CLI_N(o)};
    int rc = tia_cli_run(&spec, argc, argv, &a.pos, opts, update_body, &a);
    tia_cli_strv_free(&a.specialties);
    return rc;
}

static int status_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    agent_args *a = ctx;
    int rc = tia_agent_set_status(s, a->pos.v[0], a->status, err);
    return rc != 0 ? rc : result_agent(s, a->pos.v[0], res, err);
}

static int agents_status(int argc, char **argv, const tia_cli_opts *opts)
{
    agent_args a = {0};
    tia_cli_parse_spec spec = {"agents status",
                               "ID STATUS",
                               "Sets an agent's status (active, inactive, maintenance).",
                               NULL,
                               0,
                               {0, TIA_OPT_AGENT_STATUS},
                               {NULL, &a.status}};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, status_body, &a);
}

static int delete_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    const char *id = ((agent_args *)ctx)->pos.v[0];
    int rc = tia_agent_delete(s, id, err);
    if (rc == 0) {
        res->value = json_pack("{s:s}", "deleted", id);
        snprintf(res->message, sizeof res->message, "Deleted agent %s.", id);
    }
    return rc;
}

static int agents_delete(int argc, char **argv, const tia_cli_opts *opts)
{
    agent_args a = {0};
    tia_cli_parse_spec spec = {"agents delete", "ID",
                               "Deletes an agent with its tasks and metrics (refused while "
                               "interactions name it).",
                               NULL, 0};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, delete_body, &a);
}

int tia_cli_agents(int argc, char **argv, const tia_cli_opts *opts)
{
    static const tia_cli_cmd cmds[] = {
        {"list", "", "list agents", agents_list},
        {"show", "ID", "show one agent", agents_show},
        {"add", "", "create an agent", agents_add},
        {"update", "ID", "change an agent's fields", agents_update},
        {"status", "ID STATUS", "set an agent's status", agents_status},
        {"delete", "ID", "delete an agent", agents_delete},
    };
    return tia_cli_dispatch("agents", "Manages the agents that tasks are handed to.", cmds,
                            TIA_CLI_N(cmds), "list", argc, argv, opts);
}
