/*
 * `tokyoia interactions`: record a handoff, collaboration, review or feedback
 * between two agents, and list a workflow's interactions in order.
 */
#include <stdio.h>

#include <tokyoia/interactions.h>

#include "cli/cli.h"

static const char *const cols[] = {"created_at", "from_agent_id", "to_agent_id", "interaction_type",
                                   "message"};
const tia_cli_cols tia_cli_interaction_cols = {TIA_CLI_N(cols), cols};

typedef struct inter_args {
    tia_cli_pos pos;
    const char *workflow, *from, *to, *type, *message, *payload;
} inter_args;

static int list_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    tia_interaction_list l = {0};
    int rc = tia_interaction_list_for_workflow(s, ((inter_args *)ctx)->workflow, &l, err);
    if (rc == 0) {
        res->value = json_array();
        for (size_t i = 0; i < l.n; i++)
            json_array_append_new(res->value, tia__json_interaction(&l.items[i]));
        res->cols = tia_cli_interaction_cols;
    }
    tia_interaction_list_free(&l);
    return rc;
}

static int inter_list(int argc, char **argv, const tia_cli_opts *opts)
{
    inter_args a = {0};
    const tia_cli_opt o[] = {
        {"--workflow", TIA_OPT_STR, &a.workflow, 1, "W", "the workflow", NULL},
    };
    tia_cli_parse_spec spec = {"interactions list", "",
                               "Lists a workflow's interactions in the order they happened.", o,
                               TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, list_body, &a);
}

static int add_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    inter_args *a = ctx;
    tia_interaction_new n = {a->workflow, a->from, a->to, a->type, a->message, a->payload};
    char id[TIA_UUID_BUF];
    int rc = tia_interaction_record(s, &n, id, err);
    if (rc == 0) {
        res->value = json_pack("{s:s}", "id", id);
        snprintf(res->message, sizeof res->message, "Recorded interaction %s.", id);
    }
    return rc;
}

static int inter_add(int argc, char **argv, const tia_cli_opts *opts)
{
    inter_args a = {0};
    const tia_cli_opt o[] = {
        {"--from", TIA_OPT_STR, &a.from, 1, "A", "agent handing over", NULL},
        {"--to", TIA_OPT_STR, &a.to, 1, "B", "agent receiving", NULL},
        {"--type", TIA_OPT_STR, &a.type, 1, "T", "handoff, collaboration, review or feedback",
         NULL},
        {"--workflow", TIA_OPT_STR, &a.workflow, 0, "W", "the workflow it belongs to", NULL},
        {"--message", TIA_OPT_STR, &a.message, 0, "M", "message", NULL},
        {"--payload", TIA_OPT_STR, &a.payload, 0, "JSON", "payload", NULL},
    };
    tia_cli_parse_spec spec = {"interactions add", "", "Records an interaction between agents.", o,
                               TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, add_body, &a);
}

int tia_cli_interactions(int argc, char **argv, const tia_cli_opts *opts)
{
    static const tia_cli_cmd cmds[] = {
        {"list", "", "list a workflow's interactions (--workflow W)", inter_list},
        {"add", "", "record an interaction", inter_add},
    };
    return tia_cli_dispatch("interactions", "Interactions between agents.", cmds, TIA_CLI_N(cmds),
                            NULL, argc, argv, opts);
}
