/*
 * `tokyoia demo`, what `make run` runs: migrate the database, show the five
 * agents, then record one code_review workflow through the library exactly as a
 * real run would (tasks pending -> running -> completed with tokens and the cost
 * of each agent's model, a handoff between consecutive agents) and show the
 * result. Each run adds one more workflow.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <tokyoia/agents.h>
#include <tokyoia/interactions.h>
#include <tokyoia/tasks.h>
#include <tokyoia/workflows.h>

#include "cli/cli.h"

#define DAY_US INT64_C(86400000000)

/* Prices per 1,000 tokens in micro-dollars (seed README). */
static const struct {
    const char *model;
    int64_t micros_per_1k;
} prices[] = {
    {"openai-o3", 30000},        {"o3-mini", 15000},          {"claude-opus-4.1", 15000},
    {"claude-sonnet-4.5", 8000}, {"gemini-3.0-ultra", 10000}, {"grok-4", 12000},
    {"llama-4-405b", 0},
};

/* The code_review workflow type of the seed README. */
static const struct {
    const char *agent, *task_type, *description;
    int64_t tokens;
} steps[] = {
    {"akira-001", "security_audit", "Audit the session handling for injection and token leaks",
     4200},
    {"akira-001", "code_review", "Review the task claim path for races and error handling", 3600},
    {"yuki-002", "unit_tests", "Write unit tests for the reviewed code paths", 5100},
    {"hiro-003", "ci_cd", "Add the new tests to the CI pipeline and gate the merge", 2300},
    {"sakura-004", "documentation", "Document the reviewed API and the review findings", 2800},
};

static int64_t cost_of(const char *model, int64_t tokens)
{
    for (size_t i = 0; i < TIA_CLI_N(prices); i++)
        if (strcmp(prices[i].model, model) == 0)
            return tokens * prices[i].micros_per_1k / 1000;
    return 0; /* a model without a listed price costs nothing here */
}

/* Lets a little time pass so that the task has a duration. */
static void work_a_little(int64_t tokens)
{
    struct timespec ts = {0, (long)(tokens % 40 + 20) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One step: a task through pending -> running -> completed. */
static int run_step(tia_store *s, const char *wf, size_t i, tia_error *err)
{
    tia_agent *agent = NULL;
    char id[TIA_UUID_BUF], input[128], output[160];
    int rc = tia_agent_get(s, steps[i].agent, &agent, err);
    if (rc != 0)
        return rc;
    snprintf(input, sizeof input, "{\"repository\": \"tokyoia\", \"step\": %zu}", i + 1);
    tia_task_new t = {steps[i].agent, wf,  steps[i].task_type, steps[i].description, input,
                      NULL,           NULL};
    int64_t cost = cost_of(agent->model, steps[i].tokens);
    snprintf(output, sizeof output, "{\"summary\": \"%s done\", \"model\": \"%s\"}",
             steps[i].task_type, agent->model);
    tia_task_result r = {output, NULL, steps[i].tokens, cost};
    rc = tia_task_create(s, &t, id, err);
    if (rc == 0)
        rc = tia_task_transition(s, id, TIA_RUNNING, NULL, err);
    if (rc == 0) {
        work_a_little(steps[i].tokens);
        rc = tia_task_transition(s, id, TIA_COMPLETED, &r, err);
    }
    tia_agent_free(agent);
    return rc;
}

static int handoff(tia_store *s, const char *wf, size_t i, tia_error *err)
{
    char msg[160];
    snprintf(msg, sizeof msg, "%s finished, handing over for %s", steps[i - 1].task_type,
             steps[i].task_type);
    tia_interaction_new in = {wf, steps[i - 1].agent, steps[i].agent, "handoff", msg, NULL};
    return tia_interaction_record(s, &in, NULL, err);
}

/* Records the workflow; its id goes to wf. */
static int record_workflow(tia_store *s, const tia_cli_opts *opts, char wf[TIA_UUID_BUF],
                           tia_error *err)
{
    char now[40], name[96];
    tia_time_format(tia_now_us(), now, sizeof now);
    snprintf(name, sizeof name, "Code review (demo run %.19sZ)", now);
    tia_workflow_new w = {name, "Security audit, review, tests, CI and docs of one change",
                          "code_review", "tokyoia demo", "{\"source\": \"demo\"}"};
    int rc = tia_workflow_create(s, &w, wf, err);
    if (rc == 0)
        rc = tia_workflow_set_status(s, wf, TIA_RUNNING, err);
    tia_cli_say(opts, "\nRecording code_review workflow %s:", wf);
    for (size_t i = 0; rc == 0 && i < TIA_CLI_N(steps); i++) {
        if (i > 0 && strcmp(steps[i].agent, steps[i - 1].agent) != 0) {
            if ((rc = handoff(s, wf, i, err)) == 0)
                tia_cli_say(opts, "  handoff %s -> %s", steps[i - 1].agent, steps[i].agent);
        }
        if (rc == 0 && (rc = run_step(s, wf, i, err)) == 0)
            tia_cli_say(opts, "  %-10s %-15s completed, %lld tokens", steps[i].agent,
                        steps[i].task_type, (long long)steps[i].tokens);
    }
    if (rc == 0)
        rc = tia_workflow_set_status(s, wf, TIA_COMPLETED, err);
    return rc;
}

/* Prints the agents' stats (text mode) or keeps them under key (JSON mode). */
static int show_stats(tia_store *s, const tia_cli_opts *opts, json_t *doc, const char *key,
                      const char *title, tia_error *err)
{
    json_t *arr = NULL;
    int rc = tia_cli_stats_build(s, DAY_US, &arr, err);
    if (rc != 0)
        return rc;
    if (opts->json) {
        json_object_set_new(doc, key, arr);
        return 0;
    }
    printf("\n%s\n", title);
    if (tia_cli_print_list(opts, arr, tia_cli_stats_cols) != 0)
        return tia_error_set(err, TIA_EIO, "cannot write the agents' statistics");
    return 0;
}

static int demo(tia_store *s, const tia_cli_opts *opts, json_t *doc, tia_error *err)
{
    json_t *applied = NULL, *wf_json = NULL;
    char wf[TIA_UUID_BUF];
    int rc = tia_cli_apply_migrations(s, &applied, err);
    if (rc != 0)
        return rc;
    tia_cli_say_applied(opts, s, applied);
    json_object_set_new(doc, "migrations_applied", applied);
    if ((rc = show_stats(s, opts, doc, "agents_before", "Agents (stats; window: 24h):", err)))
        return rc;
    if ((rc = record_workflow(s, opts, wf, err)) != 0)
        return rc;
    if ((rc = tia_cli_workflow_build(s, wf, &wf_json, err)) != 0)
        return rc;
    if (opts->json) {
        json_object_set_new(doc, "workflow", wf_json);
    } else {
        printf("\nWorkflow %s:\n", wf);
        if (tia_cli_print_object(opts, wf_json, tia_cli_workflow_nested, 2) != 0)
            return tia_error_set(err, TIA_EIO, "cannot write the workflow");
    }
    return show_stats(s, opts, doc, "agents_after", "Agents after the run:", err);
}

int tia_cli_demo(int argc, char **argv, const tia_cli_opts *opts)
{
    tia_cli_parse_spec spec = {"demo", "",
                               "Opens the database (./tokyoia.db by default), applies the "
                               "migrations, shows the agents, records one code_review "
                               "workflow of five tasks and shows it with the agents' stats.",
                               NULL, 0};
    tia_cli_pos pos;
    int rc = tia_cli_parse(&spec, argc, argv, &pos);
    if (rc >= 0)
        return rc;
    tia_store *s = NULL;
    if ((rc = tia_cli_open(opts, 0, &s)) != 0)
        return rc;
    if (tia_store_backend(s) == TIA_BACKEND_SQLITE) /* a PostgreSQL URL may hold a password */
        tia_cli_say(opts, "tokyoia demo on SQLite %s", tia_store_default_url(opts->db_url));
    else
        tia_cli_say(opts, "tokyoia demo on PostgreSQL");
    tia_error err = {0};
    json_t *doc = json_object();
    int lrc = demo(s, opts, doc, &err);
    if (lrc != 0)
        rc = tia_cli_fail(lrc, &err);
    else if (opts->json)
        rc = tia_cli_print_object(opts, json_incref(doc), NULL, 0);
    json_decref(doc);
    tia_store_close(s);
    return rc;
}
