/*
 * `tokyoia stats`: the agent_stats row of every agent (from the counters the
 * database keeps) next to its statistics over a recent window (the seed's "agent
 * statistics" query), one row per agent.
 */
#include <string.h>

#include <tokyoia/agents.h>
#include <tokyoia/stats.h>

#include "cli/cli.h"

/* The table leaves out role, window_tokens and window_avg_latency_ms (in --json). */
static const char *const cols[] = {"id",
                                   "personality_emoji",
                                   "name",
                                   "status",
                                   "total_tasks",
                                   "completed_tasks",
                                   "failed_tasks",
                                   "total_tokens",
                                   "total_cost",
                                   "avg_duration_ms",
                                   "success_rate",
                                   "window_tasks",
                                   "window_cost_usd"};
const tia_cli_cols tia_cli_stats_cols = {TIA_CLI_N(cols), cols};

static json_t *stats_json(const tia_agent_stats *st, const tia_agent_window_stats *w,
                          const char *emoji)
{
    json_t *o = tia__json_agent_stats(st);
    tia__jstr(o, "personality_emoji", emoji);
    tia__jint(o, "window_tasks", w->total_tasks);
    tia__jint(o, "window_tokens", w->total_tokens);
    tia__jcost(o, "window_cost_usd", w->total_cost_micros);
    tia__jreal(o, "window_avg_latency_ms", w->avg_latency_ms);
    return o;
}

/* agent_stats has no emoji; the agents list has (both are by id). */
static const char *emoji_of(const struct tia_agent_list *agents, const char *id)
{
    for (size_t i = 0; i < agents->n; i++)
        if (strcmp(agents->items[i]->id, id) == 0)
            return agents->items[i]->personality_emoji;
    return NULL;
}

int tia_cli_stats_build(tia_store *s, int64_t window_us, json_t **out, tia_error *err)
{
    tia_agent_stats_list l = {0};
    struct tia_agent_list agents = {0};
    json_t *arr = json_array();
    *out = NULL;
    int rc = tia_stats_agents(s, &l, err);
    if (rc == 0)
        rc = tia_agent_list(s, NULL, &agents, err);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        tia_agent_window_stats w = {0};
        rc = tia_stats_agent_window(s, l.items[i].id, window_us, &w, err);
        if (rc == 0)
            json_array_append_new(arr,
                                  stats_json(&l.items[i], &w, emoji_of(&agents, l.items[i].id)));
    }
    if (rc == 0) {
        *out = arr;
        arr = NULL;
    }
    json_decref(arr);
    tia_agent_list_free(&agents);
    tia_agent_stats_list_free(&l);
    return rc;
}

typedef struct stats_args {
    tia_cli_pos pos;
    int64_t window;
} stats_args;

static int stats_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    res->cols = tia_cli_stats_cols;
    return tia_cli_stats_build(s, ((stats_args *)ctx)->window, &res->value, err);
}

int tia_cli_stats(int argc, char **argv, const tia_cli_opts *opts)
{
    stats_args a = {{0}, INT64_C(86400000000)};
    const tia_cli_opt o[] = {
        {"--window", TIA_OPT_DURATION, &a.window, 0, "DURATION",
         "the recent window of the window_* columns (default 24h)", NULL},
    };
    tia_cli_parse_spec spec = {"stats", "",
                               "Per agent: agent_stats over all its tasks, and its completed "
                               "tasks created within the window (window_*).",
                               o, TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, stats_body, &a);
}
