/*
 * `tokyoia run TEMPLATE`: submits a workflow from a template (built-in or a JSON
 * file) through the engine, and with --follow watches it until it ends. The
 * follower only reads: workers (tokyoia worker, or the demo's in-process ones)
 * do the work, so following from another terminal shows exactly what a
 * follower in the same process would. It polls rather than listening because
 * both backends and any number of workers must be visible the same way.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tokyoia/engine.h>
#include <tokyoia/interactions.h>
#include <tokyoia/tasks.h>
#include <tokyoia/workflows.h>

#include "cli/cli.h"

#define FOLLOW_POLL_NS 200000000L
#define BAR_WIDTH 30

/* ---- following ---- */

typedef struct follower {
    const tia_cli_opts *opts;
    int tty;
    int bar_shown;
    json_t *seen;          /* task id -> last status name */
    int64_t n_completed;   /* completions already said */
    size_t n_interactions; /* handoffs already said */
} follower;

static int is_final(tia_run_status st)
{
    return st == TIA_COMPLETED || st == TIA_FAILED || st == TIA_CANCELLED;
}

/* Prints a line above the progress bar (erasing the bar first on a terminal). */
static void say_line(follower *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say_line(follower *f, const char *fmt, ...)
{
    if (f->opts->json)
        return;
    if (f->tty && f->bar_shown)
        fputs("\r\033[K", stdout);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    f->bar_shown = 0;
    fflush(stdout);
}

static void draw_bar(follower *f, const tia_workflow *w, int64_t running)
{
    if (f->opts->json || !f->tty)
        return;
    int64_t total = w->total_tasks > 0 ? w->total_tasks : 1;
    int64_t done = w->completed_tasks + w->failed_tasks;
    int fill = (int)(done * BAR_WIDTH / total);
    char bar[BAR_WIDTH + 1], cost[32];
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[BAR_WIDTH] = '\0';
    tia_cost_format(w->total_cost_micros, cost, sizeof cost);
    printf("\r\033[K[%s] %" PRId64 "/%" PRId64 " done, %" PRId64 " running, %" PRId64
           " tokens, $%s",
           bar, done, w->total_tasks, running, w->total_tokens_used, cost);
    fflush(stdout);
    f->bar_shown = 1;
}

/* Says each task whose status changed; *running gets how many run. */
static int follow_tasks(tia_store *s, follower *f, const tia_workflow *w, int64_t *running,
                        tia_error *err)
{
    char cursor[TIA_CURSOR_BUF] = "";
    int rc = 0;
    *running = 0;
    do {
        tia_task_filter flt = {NULL, w->id, NULL, TIA_PAGE_MAX, cursor};
        struct tia_task_list l = {0};
        rc = tia_task_list(s, &flt, &l, err);
        for (size_t i = 0; rc == 0 && i < l.n; i++) {
            const tia_task *t = l.items[l.n - 1 - i]; /* oldest first on a page */
            const char *st = tia_run_status_name(t->status);
            const char *before = json_string_value(json_object_get(f->seen, t->id));
            *running += t->status == TIA_RUNNING;
            if (before != NULL ? strcmp(before, st) == 0 : t->status == TIA_PENDING)
                continue;
            json_object_set_new(f->seen, t->id, json_string(st));
            f->n_completed += t->status == TIA_COMPLETED;
            say_line(f, "task %s (%s) %s (%" PRId64 "/%" PRId64 ")%s%s", t->task_type, t->agent_id,
                     st, f->n_completed, w->total_tasks,
                     t->error_message && t->status != TIA_COMPLETED ? ": " : "",
                     t->error_message && t->status != TIA_COMPLETED ? t->error_message : "");
        }
        snprintf(cursor, sizeof cursor, "%s", rc == 0 ? l.next_cursor : "");
        tia_task_list_free(&l);
    } while (rc == 0 && cursor[0]);
    return rc;
}

static int follow_handoffs(tia_store *s, follower *f, const char *id, tia_error *err)
{
    tia_interaction_list l = {0};
    int rc = tia_interaction_list_for_workflow(s, id, &l, err);
    for (size_t i = f->n_interactions; rc == 0 && i < l.n; i++)
        say_line(f, "%s %s -> %s", l.items[i].interaction_type, l.items[i].from_agent_id,
                 l.items[i].to_agent_id);
    if (rc == 0)
        f->n_interactions = l.n;
    tia_interaction_list_free(&l);
    return rc;
}

static json_t *summary_json(const tia_workflow *w)
{
    json_t *o = json_object();
    int64_t dur = w->duration_ms;
    if (dur < 0 && w->started_at != TIA_TIME_NONE)
        dur =
            ((w->completed_at != TIA_TIME_NONE ? w->completed_at : tia_now_us()) - w->started_at) /
            1000;
    tia__jstr(o, "workflow_id", w->id);
    tia__jstr(o, "name", w->name);
    tia__jstr(o, "status", tia_run_status_name(w->status));
    tia__jint(o, "total_tasks", w->total_tasks);
    tia__jint(o, "completed_tasks", w->completed_tasks);
    tia__jint(o, "failed_tasks", w->failed_tasks);
    tia__jint(o, "total_tokens_used", w->total_tokens_used);
    tia__jcost(o, "total_cost_usd", w->total_cost_micros);
    if (dur >= 0)
        tia__jint(o, "duration_ms", dur);
    else
        json_object_set_new(o, "duration_ms", json_null());
    return o;
}

/* One look at the workflow; *ended is set when it has ended, *summary replaced. */
static int follow_once(tia_store *s, follower *f, const char *id, int *ended, json_t **summary,
                       tia_error *err)
{
    tia_workflow *w = NULL;
    int64_t running = 0;
    int rc = tia_workflow_get(s, id, &w, err);
    if (rc == 0)
        rc = follow_tasks(s, f, w, &running, err);
    if (rc == 0)
        rc = follow_handoffs(s, f, id, err);
    if (rc == 0) {
        *ended = is_final(w->status);
        draw_bar(f, w, running);
        json_decref(*summary);
        *summary = summary_json(w);
    }
    tia_workflow_free(w);
    return rc;
}

int tia_cli_follow(tia_store *s, const tia_cli_opts *opts, const char *workflow_id,
                   int64_t timeout_us, json_t **summary, tia_error *err)
{
    follower f = {opts, isatty(STDOUT_FILENO), 0, json_object(), 0, 0};
    tia_time_us deadline = timeout_us > 0 ? tia_now_us() + timeout_us : TIA_TIME_NONE;
    int ended = 0, rc = 0;
    json_t *last = NULL;
    while ((rc = follow_once(s, &f, workflow_id, &ended, &last, err)) == 0 && !ended &&
           (deadline == TIA_TIME_NONE || tia_now_us() < deadline)) {
        struct timespec ts = {0, FOLLOW_POLL_NS};
        nanosleep(&ts, NULL);
    }
    if (f.bar_shown)
        putchar('\n');
    fflush(stdout);
    json_decref(f.seen);
    if (rc == 0 && summary != NULL)
        *summary = json_incref(last);
    json_decref(last);
    return rc;
}

/* ---- tokyoia run ---- */

typedef struct run_args {
    tia_cli_pos pos;
    const char *input, *templates, *key;
    int64_t timeout;
    int follow;
} run_args;

static const char *const task_cols[] = {"key", "id", "agent_id", "task_type"};
static const tia_cli_cols run_task_cols = {TIA_CLI_N(task_cols), task_cols};
static const tia_cli_nested run_nested[] = {{"tasks", &run_task_cols}};

/* The submitted workflow as printed without --follow. */
static json_t *submitted_json(const char *wf, int created, const tia_workflow_spec *spec,
                              char (*ids)[TIA_UUID_BUF])
{
    json_t *o = json_object(), *tasks = json_array();
    tia__jstr(o, "workflow_id", wf);
    json_object_set_new(o, "created", json_boolean(created));
    tia__jstr(o, "name", spec->name);
    for (size_t i = 0; created && i < spec->n_tasks; i++) {
        json_t *t = json_object();
        tia__jstr(t, "key", spec->tasks[i].key);
        tia__jstr(t, "id", ids[i]);
        tia__jstr(t, "agent_id", spec->tasks[i].agent_id);
        tia__jstr(t, "task_type", spec->tasks[i].task_type);
        json_array_append_new(tasks, t);
    }
    json_object_set_new(o, "tasks", tasks);
    return o;
}

/* Loads the template and submits it; *out gets what was submitted. */
static int submit(tia_store *s, const run_args *a, char wf[TIA_UUID_BUF], json_t **out,
                  tia_error *err)
{
    tia_template *t = NULL;
    tia_workflow_spec spec = {0};
    char(*ids)[TIA_UUID_BUF] = NULL;
    int created = 0;
    int rc = tia_template_load(a->pos.v[0], a->templates, &t, err);
    if (rc == 0)
        rc = tia_template_spec(t, a->input, &spec, err);
    if (rc == 0 && (ids = calloc(spec.n_tasks ? spec.n_tasks : 1, sizeof *ids)) == NULL)
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory");
    if (rc == 0) {
        spec.idempotency_key = a->key;
        rc = tia_engine_submit(s, &spec, wf, ids, &created, err);
    }
    if (rc == 0)
        *out = submitted_json(wf, created, &spec, ids);
    free(ids);
    tia_template_free(t);
    return rc;
}

static int print_summary(const tia_cli_opts *opts, json_t *summary)
{
    const char *st = json_string_value(json_object_get(summary, "status"));
    int ok = st != NULL && strcmp(st, "completed") == 0;
    if (!opts->json)
        printf("\nWorkflow %s:\n", st ? st : "?");
    int rc = tia_cli_print_object(opts, summary, NULL, 0);
    return rc != 0 ? rc : ok ? TIA_EXIT_OK : TIA_EXIT_ERROR;
}

static int run_main(tia_store *s, const run_args *a, const tia_cli_opts *opts)
{
    tia_error err = {0};
    char wf[TIA_UUID_BUF];
    json_t *submitted = NULL, *summary = NULL;
    int rc = submit(s, a, wf, &submitted, &err);
    if (rc != 0)
        return tia_cli_fail(rc, &err);
    if (!a->follow)
        return tia_cli_print_object(opts, submitted, run_nested, TIA_CLI_N(run_nested));
    tia_cli_say(opts,
                "Workflow %s (%s) submitted%s; following it (Ctrl-C stops following, not "
                "the workflow).",
                wf, json_string_value(json_object_get(submitted, "name")),
                json_is_true(json_object_get(submitted, "created")) ? "" : " before (same key)");
    json_decref(submitted);
    rc = tia_cli_follow(s, opts, wf, a->timeout, &summary, &err);
    if (rc != 0)
        return tia_cli_fail(rc, &err);
    const char *st = json_string_value(json_object_get(summary, "status"));
    if (st && strcmp(st, "completed") && strcmp(st, "failed") && strcmp(st, "cancelled"))
        fprintf(stderr,
                "tokyoia: workflow %s has not ended within the timeout (are workers "
                "running for its agents?)\n",
                wf);
    return print_summary(opts, summary);
}

int tia_cli_run_template(int argc, char **argv, const tia_cli_opts *opts)
{
    run_args a = {0};
    const tia_cli_opt o[] = {
        {"--input", TIA_OPT_STR, &a.input, 0, "JSON",
         "a JSON object given to every task under \"input\"", NULL},
        {"--templates", TIA_OPT_STR, &a.templates, 0, "DIR",
         "look for DIR/TEMPLATE.json first (a file wins over a built-in)", NULL},
        {"--idempotency-key", TIA_OPT_STR, &a.key, 0, "K",
         "submit once: a repeat with the same key returns the first workflow", NULL},
        {"--follow", TIA_OPT_FLAG, &a.follow, 0, NULL,
         "show progress until the workflow ends, then a summary (exit 1 unless completed)", NULL},
        {"--timeout", TIA_OPT_DURATION, &a.timeout, 0, "DURATION",
         "with --follow: give up following after this long (exit 1)", NULL},
    };
    tia_cli_parse_spec spec = {"run", "TEMPLATE",
                               "Submits a workflow from a template: built-in (code_review, "
                               "feature_development, deployment, architecture) or "
                               "DIR/TEMPLATE.json. Workers ('tokyoia worker') run its tasks.",
                               o, TIA_CLI_N(o)};
    int rc = tia_cli_parse(&spec, argc, argv, &a.pos);
    if (rc >= 0)
        return rc;
    tia_store *s = NULL;
    if ((rc = tia_cli_open(opts, TIA_CLI_MIGRATED, &s)) != 0)
        return rc;
    rc = run_main(s, &a, opts);
    tia_store_close(s);
    return rc;
}
