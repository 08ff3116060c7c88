/*
 * `tokyoia demo`, what `make run` runs: migrate the database, show the agents,
 * then run one code_review workflow end to end through the engine exactly as
 * production would: submitted from the built-in template, its tasks claimed by
 * one in-process worker per agent (each with its own connection, as separate
 * processes would have), run by the example command workers of examples/agents
 * (falling back to a simulated in-process executor when they cannot be found),
 * followed live, then shown with the agents' statistics. Each run adds one
 * workflow.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tokyoia/engine.h>
#include <tokyoia/server.h>
#include <tokyoia/sessions.h>
#include <tokyoia/worker.h>

#include "cli/cli.h"

#define DAY_US INT64_C(86400000000)
#define DEMO_POLL_MS 100
#define DEMO_TIMEOUT_US INT64_C(300000000)

/* Which example script does each agent's work (examples/agents). */
static const struct {
    const char *agent, *script;
} scripts[] = {
    {"akira-001", "review.sh"}, {"yuki-002", "tests.sh"},      {"hiro-003", "ci.sh"},
    {"sakura-004", "docs.sh"},  {"kenji-005", "architect.sh"},
};

/* Tokens the simulated executor reports, as the example scripts do. */
static const struct {
    const char *task_type;
    int64_t input, output;
} sim_tokens[] = {
    {"security_audit", 3000, 1200}, {"code_review", 2600, 1000},  {"unit_tests", 3400, 1700},
    {"ci_cd", 1700, 600},           {"documentation", 1900, 900},
};

/* One in-process worker: its own connection, thread and executor. */
typedef struct demo_worker {
    tia_store *s;
    tia_worker *w;
    pthread_t thread;
    int started;
    char script[4096];
    const char *argv[3];
    tia_cmd_config cmd;
    int rc;
    tia_error err;
} demo_worker;

/* ---- finding the examples ---- */

/* a + b into out; 0, or -1 when it does not fit. */
static int join(char *out, size_t len, const char *a, const char *b)
{
    int n = snprintf(out, len, "%s%s", a, b);
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

static int has_scripts(const char *dir)
{
    char path[4096];
    return join(path, sizeof path, dir, "/agents/review.sh") == 0 && access(path, R_OK) == 0;
}

/* $TOKYOIA_EXAMPLES, next to the binary (build/../examples), or the source tree. */
static int find_examples(char *dir, size_t len)
{
    const char *env = getenv("TOKYOIA_EXAMPLES");
    if (env && *env) {
        snprintf(dir, len, "%s", env);
        return has_scripts(dir);
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        if (join(dir, len, exe, "/../examples") == 0 && has_scripts(dir))
            return 1;
        if (join(dir, len, exe, "/examples") == 0 && has_scripts(dir))
            return 1;
    }
    /* This file is <source>/src/cli/demo.c. */
    const char *f = __FILE__, *tail = strstr(f, "src/cli/demo.c");
    if (tail == NULL)
        return 0;
    snprintf(dir, len, "%.*sexamples", (int)(tail - f), f);
    return has_scripts(dir);
}

/* ---- the simulated executor ---- */

static int sim_exec(void *ctx, const tia_job *job, tia_exec_result *out, tia_error *err)
{
    (void)ctx, (void)err;
    const tia_task *t = job->claim->task;
    int64_t in = 1000, outp = 500;
    for (size_t i = 0; i < TIA_CLI_N(sim_tokens); i++)
        if (strcmp(sim_tokens[i].task_type, t->task_type) == 0) {
            in = sim_tokens[i].input;
            outp = sim_tokens[i].output;
        }
    struct timespec ts = {0, (long)((in + outp) % 40 + 20) * 1000000L};
    nanosleep(&ts, NULL); /* a little time, so that the task has a duration */
    json_t *o = json_pack("{s:s, s:s}", "summary", "simulated: the example workers were not found",
                          "task_type", t->task_type);
    out->output_data = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    out->ok = out->output_data != NULL;
    out->input_tokens = in;
    out->output_tokens = outp;
    return 0;
}

/* ---- workers ---- */

static void *worker_main(void *arg)
{
    demo_worker *d = arg;
    d->rc = tia_worker_run(d->w, &d->err);
    return NULL;
}

static const char *script_of(const char *agent)
{
    for (size_t i = 0; i < TIA_CLI_N(scripts); i++)
        if (strcmp(scripts[i].agent, agent) == 0)
            return scripts[i].script;
    return NULL;
}

/* Opens d's connection and starts its worker for agent. */
static int start_worker(demo_worker *d, const char *url, const char *agent, const char *examples,
                        tia_error *err)
{
    const char *script = script_of(agent);
    tia_worker_config cfg = {0};
    cfg.agent_ids = &agent;
    cfg.n_agents = 1;
    cfg.poll_ms = DEMO_POLL_MS;
    cfg.concurrency = 2; /* akira's audit and review run side by side */
    cfg.drain_ms = 5000;
    cfg.exec = sim_exec;
    char rel[64];
    snprintf(rel, sizeof rel, "/agents/%s", script ? script : "");
    if (examples != NULL && script != NULL &&
        join(d->script, sizeof d->script, examples, rel) == 0) {
        d->argv[0] = "sh";
        d->argv[1] = d->script;
        d->cmd.argv = d->argv;
        cfg.exec = tia_exec_cmd;
        cfg.exec_ctx = &d->cmd;
    }
    int rc = tia_store_open(url, NULL, &d->s, err);
    if (rc == 0)
        rc = tia_worker_new(d->s, &cfg, &d->w, err);
    if (rc == 0 && pthread_create(&d->thread, NULL, worker_main, d) != 0)
        rc = tia_error_set(err, TIA_EIO, "cannot start a worker thread");
    d->started = rc == 0;
    return rc;
}

static void stop_workers(demo_worker *ws, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ws[i].started)
            tia_worker_stop(ws[i].w);
    for (size_t i = 0; i < n; i++) {
        if (ws[i].started)
            pthread_join(ws[i].thread, NULL);
        tia_worker_free(ws[i].w);
        tia_store_close(ws[i].s);
    }
}

/* The distinct agents of a spec, in order of first use. */
static size_t spec_agents(const tia_workflow_spec *spec, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < spec->n_tasks; i++) {
        size_t j = 0;
        while (j < n && strcmp(out[j], spec->tasks[i].agent_id) != 0)
            j++;
        if (j == n && n < max)
            out[n++] = spec->tasks[i].agent_id;
    }
    return n;
}

/* ---- the run ---- */

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

/* Submits the code_review template; its id goes to wf, its agents to agents. */
static int submit(tia_store *s, const tia_cli_opts *opts, char wf[TIA_UUID_BUF],
                  const char **agents, size_t *n_agents, tia_template **t, tia_error *err)
{
    tia_workflow_spec spec = {0};
    int created = 0;
    char now[40], input[160];
    tia_time_format(tia_now_us(), now, sizeof now);
    snprintf(input, sizeof input,
             "{\"repository\": \"tokyoia\", \"change\": \"demo run %.19sZ\", \"source\": \"demo\"}",
             now);
    int rc = tia_template_load("code_review", NULL, t, err);
    if (rc == 0)
        rc = tia_template_spec(*t, input, &spec, err);
    if (rc == 0) {
        spec.initiator = "tokyoia demo";
        rc = tia_engine_submit(s, &spec, wf, NULL, &created, err);
    }
    if (rc == 0) {
        *n_agents = spec_agents(&spec, agents, TIA_CLI_N(scripts) * 4);
        tia_cli_say(opts,
                    "\nSubmitted code_review workflow %s (%zu tasks); one worker per agent:", wf,
                    spec.n_tasks);
    }
    return rc;
}

/* Runs the workflow with in-process workers and follows it; *status gets its end. */
static int run_workflow(tia_store *s, const tia_cli_opts *opts, json_t *doc, char wf[TIA_UUID_BUF],
                        tia_error *err)
{
    const char *agents[TIA_CLI_N(scripts) * 4];
    size_t n = 0;
    tia_template *t = NULL;
    char examples[4096];
    int found = find_examples(examples, sizeof examples);
    demo_worker ws[TIA_CLI_N(scripts) * 4];
    memset(ws, 0, sizeof ws);
    json_t *summary = NULL;
    int rc = submit(s, opts, wf, agents, &n, &t, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = start_worker(&ws[i], tia_store_default_url(opts->db_url), agents[i],
                          found ? examples : NULL, err);
        if (rc == 0)
            tia_cli_say(opts, "  %-10s %s", agents[i],
                        ws[i].cmd.argv ? ws[i].script : "(simulated)");
    }
    json_object_set_new(doc, "executor", json_string(found ? "command" : "simulated"));
    if (rc == 0) {
        tia_cli_say(opts, "%s", "");
        rc = tia_cli_follow(s, opts, wf, DEMO_TIMEOUT_US, &summary, err);
    }
    stop_workers(ws, n);
    tia_template_free(t);
    const char *st = json_string_value(json_object_get(summary, "status"));
    if (rc == 0 && (st == NULL || strcmp(st, "completed") != 0))
        rc = tia_error_set(err, TIA_EIO, "the demo workflow %s ended %s", wf, st ? st : "?");
    json_decref(summary);
    return rc;
}

/*
 * --serve: starts the Registry API on the demo's database before the workflow
 * runs, with a session token of user "demo" (an admin), and says how to call it.
 */
/* Where --serve listens (parsed before any work, as serve --listen is). */
typedef struct demo_listen {
    char host[64];
    int port;
} demo_listen;

static int start_server(tia_store *s, const tia_cli_opts *opts, const demo_listen *at, json_t *doc,
                        tia_server **srv, tia_error *err)
{
    static const char *const admins[] = {"demo"};
    char token[TIA_TOKEN_BUF];
    tia_session_new sn = {"demo", "{\"client\":\"tokyoia demo\"}", NULL, INT64_C(86400000000)};
    int rc = tia_session_create(s, &sn, token, NULL, err);
    if (rc != 0)
        return rc;
    tia_server_config cfg = {0};
    cfg.db_url = opts->db_url;
    cfg.listen_host = at->host;
    cfg.port = at->port;
    cfg.admin_users = admins;
    cfg.n_admin_users = 1;
    if ((rc = tia_server_start(&cfg, srv, err)) != 0)
        return rc;
    char url[128];
    snprintf(url, sizeof url, "http://%s%s%s:%d", strchr(at->host, ':') ? "[" : "", at->host,
             strchr(at->host, ':') ? "]" : "", tia_server_port(*srv));
    if (opts->json) { /* the document says where, and the token, shown only here */
        json_object_set_new(doc, "server",
                            json_pack("{s:s,s:s,s:s}", "url", url, "user", "demo", "token", token));
        return 0;
    }
    printf("\nRegistry API: %s  (docs/api.md)\n"
           "Token (user demo, valid 24h; shown only now):\n  %s\n"
           "Try:\n"
           "  curl -H 'Authorization: Bearer %s' %s/api/v1/stats\n"
           "  curl -H 'Authorization: Bearer %s' %s/api/v1/workflows\n"
           "  curl -N -H 'Authorization: Bearer %s' %s/api/v1/events\n",
           url, token, token, url, token, url, token, url);
    fflush(stdout);
    return 0;
}

static int demo(tia_store *s, const tia_cli_opts *opts, json_t *doc, const demo_listen *serve,
                tia_server **srv, tia_error *err)
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
    if (serve && (rc = start_server(s, opts, serve, doc, srv, err)) != 0)
        return rc;
    if ((rc = run_workflow(s, opts, doc, wf, err)) != 0)
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
    const char *serve = NULL;
    int serve_seen = 0;
    const tia_cli_opt o[] = {
        {"--serve", TIA_OPT_STR, &serve, 0, "HOST:PORT",
         "also serve the Registry API while the workflow runs, and after it until Ctrl-C "
         "(HOST:PORT, or '' for 127.0.0.1:$PORT, default 8080)",
         &serve_seen},
    };
    tia_cli_parse_spec spec = {"demo", "",
                               "Opens the database (./tokyoia.db by default), applies the "
                               "migrations, shows the agents, then runs one code_review "
                               "workflow end to end: submitted from the built-in template, run "
                               "by one worker per agent with the example command workers of "
                               "examples/agents ($TOKYOIA_EXAMPLES), followed live, and shown "
                               "with the agents' stats.",
                               o, TIA_CLI_N(o)};
    tia_cli_pos pos;
    int rc = tia_cli_parse(&spec, argc, argv, &pos);
    if (rc >= 0)
        return rc;
    demo_listen at = {"127.0.0.1", 8080};
    if (serve_seen && tia_cli_port_from_env(&at.port) != 0)
        return tia_cli_usage_error("demo", "PORT must be a port number (0..65535)");
    if (serve_seen && serve != NULL && *serve != '\0' &&
        tia_cli_parse_listen(serve, at.host, sizeof at.host, &at.port) != 0)
        return tia_cli_usage_error(
            "demo", "--serve: '%s' is not HOST:PORT (an IPv6 address in brackets: [::1]:8080)",
            serve);
    tia_store *s = NULL;
    if ((rc = tia_cli_open(opts, TIA_CLI_CREATE, &s)) != 0)
        return rc;
    if (tia_store_backend(s) == TIA_BACKEND_SQLITE) /* a PostgreSQL URL may hold a password */
        tia_cli_say(opts, "tokyoia demo on SQLite %s", tia_store_default_url(opts->db_url));
    else
        tia_cli_say(opts, "tokyoia demo on PostgreSQL");
    tia_error err = {0};
    json_t *doc = json_object();
    tia_server *srv = NULL;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (serve_seen) /* before any thread starts, so that only sigwait below takes them */
        pthread_sigmask(SIG_BLOCK, &set, NULL);
    int lrc = demo(s, opts, doc, serve_seen ? &at : NULL, &srv, &err);
    if (lrc != 0)
        rc = tia_cli_fail(lrc, &err);
    else if (opts->json)
        rc = tia_cli_print_object(opts, json_incref(doc), NULL, 0);
    if (lrc == 0 && srv) {
        /* Not on stdout under --json: the document there is complete. */
        fprintf(opts->json ? stderr : stdout, "\nStill serving the Registry API; Ctrl-C stops.\n");
        fflush(stdout);
        int sig = 0;
        sigwait(&set, &sig);
    }
    if (tia_server_shutdown(srv) > 0 && rc == 0)
        rc = TIA_EXIT_ERROR;
    json_decref(doc);
    tia_store_close(s);
    return rc;
}
