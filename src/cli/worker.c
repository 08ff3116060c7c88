/*
 * `tokyoia worker`: runs an agent's tasks, either through a command (everything
 * after "--", which reads the task as JSON on stdin and prints its result as
 * JSON) or through an OpenAI-compatible endpoint (--llm URL). SIGTERM or Ctrl-C
 * drains: no more claims, running tasks finish (within --drain) or are handed
 * back; a second one hands them back at once. The signal handler only calls
 * tia_worker_stop, which is async-signal-safe; the worker it stops is kept in a
 * file-scope pointer because a handler has no other way to find it.
 */
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <tokyoia/worker.h>

#include "cli/cli.h"

static tia_worker *volatile signalled_worker;

static void on_signal(int sig)
{
    (void)sig;
    tia_worker_stop(signalled_worker);
}

/*
 * The signals that stop the worker by draining: it hands its running tasks back
 * and kills their commands. SIGHUP (a closed terminal or session) and SIGQUIT
 * ended it at once before, leaving its commands running as orphans while their
 * tasks' leases ran out and another worker took them: the work done twice.
 */
static const int stop_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
#define N_STOP_SIGNALS (sizeof stop_signals / sizeof stop_signals[0])

static void install_handlers(struct sigaction old[N_STOP_SIGNALS])
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < N_STOP_SIGNALS; i++)
        sigaction(stop_signals[i], &sa, &old[i]);
}

typedef struct worker_args {
    tia_cli_pos pos;
    tia_cli_strv agents;
    const char *llm, *model, *id;
    int64_t concurrency, lease, poll, drain, grace;
    int once;
    const char *const *command; /* after "--", NULL-terminated */
} worker_args;

/* ---- events ---- */

static void on_event(void *ctx, const tia_worker_event *ev)
{
    const tia_cli_opts *opts = ctx;
    if (opts->json)
        return;
    switch (ev->kind) {
    case TIA_WORKER_CLAIMED:
        printf("claimed   %s %s (%s) attempt %" PRId64 "\n", ev->task_id, ev->task_type,
               ev->agent_id, ev->attempt);
        break;
    case TIA_WORKER_COMPLETED:
        printf("completed %s %s in %.1fs, %" PRId64 " tokens\n", ev->task_id, ev->task_type,
               (double)ev->duration_ms / 1000.0, ev->tokens_used < 0 ? 0 : ev->tokens_used);
        break;
    case TIA_WORKER_FAILED:
        printf("failed    %s %s attempt %" PRId64 " (%s): %s\n", ev->task_id, ev->task_type,
               ev->attempt, ev->will_retry ? "will retry" : "final", ev->message);
        break;
    case TIA_WORKER_CANCELLED:
    case TIA_WORKER_RELEASED:
    case TIA_WORKER_LOST:
        printf("%-9s %s %s: %s\n",
               ev->kind == TIA_WORKER_CANCELLED  ? "cancelled"
               : ev->kind == TIA_WORKER_RELEASED ? "released"
                                                 : "lost",
               ev->task_id, ev->task_type, ev->message);
        break;
    case TIA_WORKER_DRAINING:
        printf("draining: no more claims; waiting for running tasks\n");
        break;
    case TIA_WORKER_ERROR: fprintf(stderr, "tokyoia: worker: %s\n", ev->message); break;
    }
    fflush(stdout);
}

static json_t *stats_json(const tia_worker *w)
{
    tia_worker_stats st;
    tia_worker_stats_get(w, &st);
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "worker_id", tia_worker_id(w),
                     "claimed", (json_int_t)st.claimed, "completed", (json_int_t)st.completed,
                     "failed", (json_int_t)st.failed, "cancelled", (json_int_t)st.cancelled,
                     "released", (json_int_t)st.released, "lost", (json_int_t)st.lost);
}

/* ---- running ---- */

static int run_worker(tia_store *s, const worker_args *a, const tia_cli_opts *opts)
{
    tia_error err = {0};
    tia_worker *w = NULL;
    tia_cmd_config cmd = {a->command, 0, a->grace / 1000};
    tia_llm_config llm = {a->llm, a->model, NULL, 0, 0};
    tia_worker_config cfg = {0};
    cfg.agent_ids = a->agents.v;
    cfg.n_agents = a->agents.n;
    cfg.worker_id = a->id;
    /* Out of range is the library's to refuse, with its message. */
    cfg.concurrency = a->concurrency > INT_MAX ? INT_MAX : (int)a->concurrency;
    cfg.lease_ms = a->lease / 1000;
    cfg.poll_ms = a->poll / 1000;
    cfg.drain_ms = a->drain / 1000;
    cfg.once = a->once;
    cfg.exec = a->llm ? tia_exec_llm : tia_exec_cmd;
    cfg.exec_ctx = a->llm ? (void *)&llm : (void *)&cmd;
    cfg.on_event = on_event;
    cfg.event_ctx = (void *)opts;
    int rc = tia_worker_new(s, &cfg, &w, &err);
    if (rc != 0)
        return tia_cli_fail(rc, &err);
    tia_cli_say(opts,
                "worker %s: %zu agent(s), concurrency %d, %s; Ctrl-C, SIGTERM or SIGHUP drains",
                tia_worker_id(w), a->agents.n, cfg.concurrency ? cfg.concurrency : 1,
                a->llm ? a->llm : a->command[0]);
    fflush(stdout);
    struct sigaction old[N_STOP_SIGNALS];
    signalled_worker = w;
    install_handlers(old);
    rc = tia_worker_run(w, &err);
    for (size_t i = 0; i < N_STOP_SIGNALS; i++)
        sigaction(stop_signals[i], &old[i], NULL);
    signalled_worker = NULL;
    int code = rc != 0 ? tia_cli_fail(rc, &err) : 0;
    json_t *st = stats_json(w);
    if (code == 0 && opts->json)
        code = tia_cli_print_object(opts, json_incref(st), NULL, 0);
    else if (code == 0)
        tia_cli_say(opts,
                    "worker %s stopped: %" JSON_INTEGER_FORMAT " completed, %" JSON_INTEGER_FORMAT
                    " failed, %" JSON_INTEGER_FORMAT " released",
                    tia_worker_id(w), json_integer_value(json_object_get(st, "completed")),
                    json_integer_value(json_object_get(st, "failed")),
                    json_integer_value(json_object_get(st, "released")));
    json_decref(st);
    tia_worker_free(w);
    return code;
}

/* Splits argv at "--": the command after it, NULL-terminated in place. */
static void split_command(int *argc, char **argv, worker_args *a)
{
    for (int i = 1; i < *argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            a->command = (const char *const *)&argv[i + 1];
            argv[i] = NULL;
            *argc = i;
            return;
        }
}

static int check_mode(const worker_args *a)
{
    int has_cmd = a->command != NULL && a->command[0] != NULL;
    if (has_cmd == (a->llm != NULL))
        return tia_cli_usage_error("worker", "give either -- COMMAND ARGS... or --llm URL");
    if (a->model && !a->llm)
        return tia_cli_usage_error("worker", "--model goes with --llm");
    return -1;
}

int tia_cli_worker(int argc, char **argv, const tia_cli_opts *opts)
{
    worker_args a = {0};
    a.concurrency = 1;
    split_command(&argc, argv, &a);
    const tia_cli_opt o[] = {
        {"--agent", TIA_OPT_MULTI, &a.agents, 1, "ID", "claim this agent's tasks", NULL},
        {"--concurrency", TIA_OPT_POSINT, &a.concurrency, 0, "N",
         "tasks run at a time (default 1, at most 256)", NULL},
        {"--lease", TIA_OPT_DURATION, &a.lease, 0, "DURATION",
         "lease of a claimed task, renewed every third of it (default 30s)", NULL},
        {"--poll", TIA_OPT_DURATION, &a.poll, 0, "DURATION",
         "between claims when there is no work (default 1s)", NULL},
        {"--drain", TIA_OPT_DURATION, &a.drain, 0, "DURATION",
         "on SIGTERM, how long running tasks may finish before they are handed back "
         "(default 30s)",
         NULL},
        {"--kill-grace", TIA_OPT_DURATION, &a.grace, 0, "DURATION",
         "between SIGTERM and SIGKILL of a command that must stop (default 5s)", NULL},
        {"--id", TIA_OPT_STR, &a.id, 0, "ID", "worker id (default host:pid:random)", NULL},
        {"--once", TIA_OPT_FLAG, &a.once, 0, NULL, "exit when no task is ready and none is running",
         NULL},
        {"--llm", TIA_OPT_STR, &a.llm, 0, "URL",
         "an OpenAI-compatible endpoint instead of a command (key: $TOKYOIA_LLM_API_KEY or "
         "$OPENAI_API_KEY)",
         NULL},
        {"--model", TIA_OPT_STR, &a.model, 0, "M", "with --llm: the model (default: the agent's)",
         NULL},
    };
    tia_cli_parse_spec spec = {"worker", "",
                               "Runs the tasks of agents: 'tokyoia worker --agent ID -- COMMAND "
                               "ARGS...' (the task as JSON on stdin, the result as JSON on "
                               "stdout) or 'tokyoia worker --agent ID --llm URL [--model M]'.",
                               o, TIA_CLI_N(o)};
    int rc = tia_cli_parse(&spec, argc, argv, &a.pos);
    if (rc < 0)
        rc = check_mode(&a);
    if (rc < 0) {
        tia_store *s = NULL;
        if ((rc = tia_cli_open(opts, TIA_CLI_MIGRATED, &s)) == 0)
            rc = run_worker(s, &a, opts);
        tia_store_close(s);
    }
    tia_cli_strv_free(&a.agents);
    return rc;
}
