/*
 * Tests of the worker runtime and its executors on both backends: the command
 * executor with real child processes (the task on stdin and in the
 * environment, tokens from stdout, a non-zero exit with its stderr tail, a
 * timeout that kills the whole process group even when it ignores SIGTERM,
 * invalid JSON, megabytes of stdout), a failing command retried then failed
 * through the engine, heartbeats that keep a lease past its length, a
 * cancellation that stops a running command, a running task deleted under the
 * worker (lost, not a database error), the LLM executor against a fake
 * OpenAI-compatible endpoint (the request it sends; 200, 500, 429, a long message
 * in Japanese cut on a character, 400, a slow answer, no server, usage whose total
 * is not the sum of its parts), and `tokyoia worker` processes: drained by SIGTERM (finishing or
 * releasing what they hold), and killed by SIGKILL mid-task, after which the
 * reaper takes the task back, another worker completes it and the dead
 * worker's late completion is refused. Every wait is bounded and every child
 * process and thread started here is stopped before the test ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "tia_test.h"

#include "core/validate.h"
#include "fake_llm.h"

#include <tokyoia/agents.h>
#include <tokyoia/engine.h>
#include <tokyoia/tasks.h>
#include <tokyoia/worker.h>

extern char **environ;

#define AGENT "akira-001"

#define ASSERT_CONTAINS(hay, needle)                                                               \
    do {                                                                                           \
        const char *h_ = (hay);                                                                    \
        if (h_ == NULL || strstr(h_, (needle)) == NULL)                                            \
            fail_msg("'%s' does not contain '%s'", h_ ? h_ : "(null)", (needle));                  \
    } while (0)

static int setup(void **state)
{
    *state = tia_test_open();
    return 0;
}

static int teardown(void **state)
{
    tia_test_close(*state);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- executors called directly ---- */

/* A claim of a task that exists only in memory (the executors need no database). */
typedef struct fake_claim {
    tia_task task;
    tia_claim claim;
    tia_job job;
} fake_claim;

static void fake_init(fake_claim *f, int64_t timeout_ms)
{
    memset(f, 0, sizeof *f);
    snprintf(f->task.id, sizeof f->task.id, "0190a000-0000-7000-8000-000000000042");
    snprintf(f->task.workflow_id, sizeof f->task.workflow_id,
             "0190a000-0000-7000-8000-0000000000aa");
    f->task.agent_id = AGENT;
    f->task.task_type = "code_review";
    f->task.description = "Review the claim path";
    f->task.input_data = "{\"files\": 3}";
    f->claim.task = &f->task;
    f->claim.attempt = 2;
    f->claim.timeout_ms = timeout_ms;
    f->claim.max_retries = 3;
    f->job.claim = &f->claim;
    f->job.worker_id = "test-worker";
}

/* Runs `sh -c script` on f's task; returns the seconds it took. */
static double run_sh(fake_claim *f, const char *script, int64_t grace_ms, tia_exec_result *r)
{
    const char *argv[] = {"sh", "-c", script, NULL};
    tia_cmd_config cfg = {argv, 0, grace_ms};
    tia_error err = {0};
    tia_exec_result_init(r);
    int64_t t0 = now_ms();
    TIA_OK_OR_FAIL(tia_exec_cmd(&cfg, &f->job, r, &err), &err);
    return (double)(now_ms() - t0) / 1000.0;
}

static void cmd_success_reads_task_and_tokens(void **state)
{
    (void)state;
    fake_claim f;
    tia_exec_result r;
    fake_init(&f, 0);
    run_sh(&f,
           "printf '{\"stdin\": %s, \"env\": [\"%s\", \"%s\", \"%s\", \"%s\", \"%s\"], "
           "\"tokens_used\": 150, \"input_tokens\": 100, \"output_tokens\": 50, "
           "\"cost_usd\": 0.0025}' \"$(cat)\" \"$TIA_TASK_ID\" \"$TIA_AGENT_ID\" "
           "\"$TIA_WORKFLOW_ID\" \"$TIA_TASK_TYPE\" \"$TIA_ATTEMPT\"",
           0, &r);
    assert_int_equal(r.ok, 1);
    assert_int_equal(r.tokens_used, 150);
    assert_int_equal(r.input_tokens, 100);
    assert_int_equal(r.output_tokens, 50);
    assert_int_equal(r.cost_micros, 2500);
    json_t *out = json_loads(r.output_data, 0, NULL);
    assert_non_null(out);
    json_t *in = json_object_get(out, "stdin");
    assert_string_equal(json_string_value(json_object_get(in, "id")), f.task.id);
    assert_string_equal(json_string_value(json_object_get(in, "workflow_id")), f.task.workflow_id);
    assert_string_equal(json_string_value(json_object_get(in, "task_type")), "code_review");
    assert_string_equal(json_string_value(json_object_get(in, "description")),
                        "Review the claim path");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(in, "input_data"), "files")), 3);
    assert_int_equal(json_integer_value(json_object_get(in, "attempt")), 2);
    char *env = json_dumps(json_object_get(out, "env"), JSON_COMPACT);
    char want[256];
    snprintf(want, sizeof want, "[\"%s\",\"%s\",\"%s\",\"code_review\",\"2\"]", f.task.id, AGENT,
             f.task.workflow_id);
    assert_string_equal(env, want);
    free(env);
    json_decref(out);
    tia_exec_result_clear(&r);

    /* Nothing on stdout: completed without output or tokens. */
    run_sh(&f, "cat >/dev/null", 0, &r);
    assert_int_equal(r.ok, 1);
    assert_null(r.output_data);
    assert_int_equal(r.tokens_used, -1);
    tia_exec_result_clear(&r);

    /* A NUL byte first is output, and not JSON: it was taken for none. */
    run_sh(&f, "cat >/dev/null; printf '\\000this is not json'", 0, &r);
    assert_int_equal(r.ok, 0);
    ASSERT_CONTAINS(r.error_message, "not valid JSON");
    tia_exec_result_clear(&r);
}

/*
 * The worker's own secrets (the database URLs, libpq's password, the LLM key)
 * are not in the command's environment; the rest of it is.
 */
static void cmd_env_withholds_secrets(void **state)
{
    (void)state;
    fake_claim f;
    tia_exec_result r;
    fake_init(&f, 0);
    setenv("DATABASE_URL", "postgres://app:hunter2@db/prod", 1);
    setenv("DATABASE_READ_URL", "postgres://app:hunter2@replica/prod", 1);
    setenv("PGPASSWORD", "hunter2", 1);
    setenv("TOKYOIA_LLM_API_KEY", "sk-secret", 1);
    setenv("TIA_TEST_KEPT", "kept", 1);
    run_sh(&f,
           "cat >/dev/null; printf '[\"%s\", \"%s\", \"%s\", \"%s\", \"%s\"]' "
           "\"${DATABASE_URL-unset}\" \"${DATABASE_READ_URL-unset}\" \"${PGPASSWORD-unset}\" "
           "\"${TOKYOIA_LLM_API_KEY-unset}\" \"${TIA_TEST_KEPT-unset}\"",
           0, &r);
    unsetenv("DATABASE_URL");
    unsetenv("DATABASE_READ_URL");
    unsetenv("PGPASSWORD");
    unsetenv("TOKYOIA_LLM_API_KEY");
    unsetenv("TIA_TEST_KEPT");
    assert_int_equal(r.ok, 1);
    assert_string_equal(r.output_data, "[\"unset\",\"unset\",\"unset\",\"unset\",\"kept\"]");
    tia_exec_result_clear(&r);
}

static void cmd_nonzero_exit_keeps_stderr_tail(void **state)
{
    (void)state;
    fake_claim f;
    tia_exec_result r;
    fake_init(&f, 0);
    run_sh(&f, "echo 'first line' >&2; echo boom >&2; echo '{\"ignored\": 1}'; exit 3", 0, &r);
    assert_int_equal(r.ok, 0);
    assert_int_equal(r.retryable, 1);
    ASSERT_CONTAINS(r.error_message, "exit status 3");
    ASSERT_CONTAINS(r.error_message, "first line\nboom");
    tia_exec_result_clear(&r);

    /* 10 KB of stderr: only the last 2 KiB are kept, ending with the last words. */
    run_sh(&f,
           "i=0; while [ $i -lt 200 ]; do echo 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' "
           ">&2;"
           " i=$((i+1)); done; echo 'THE-END' >&2; exit 1",
           0, &r);
    assert_int_equal(r.ok, 0);
    ASSERT_CONTAINS(r.error_message, "THE-END");
    if (strlen(r.error_message) > TIA_EXEC_STDERR_TAIL + 64)
        fail_msg("error_message is %zu bytes, want at most the tail", strlen(r.error_message));
    tia_exec_result_clear(&r);
}

/*
 * 1 while any process of group pgid lives, after up to 3 s for the killed ones
 * to be reaped (a killed grandchild is a zombie until init reaps it).
 */
static int group_alive(pid_t pgid)
{
    for (int64_t end = now_ms() + 3000; now_ms() < end; sleep_ms(20))
        if (kill(-pgid, 0) != 0 && errno == ESRCH)
            return 0;
    return 1;
}

static pid_t read_pid(const char *path)
{
    FILE *fp = fopen(path, "r");
    long pid = 0;
    if (fp == NULL || fscanf(fp, "%ld", &pid) != 1)
        pid = 0;
    if (fp)
        fclose(fp);
    return (pid_t)pid;
}

static void cmd_timeout_kills_the_group(void **state)
{
    (void)state;
    fake_claim f;
    tia_exec_result r;
    char pidfile[] = "/tmp/tia-worker-pid.XXXXXX", script[256];
    int fd = mkstemp(pidfile);
    assert_true(fd >= 0);
    close(fd);
    fake_init(&f, 300);
    /* The shell and its sleep both ignore SIGTERM: only SIGKILL after the grace ends them. */
    snprintf(script, sizeof script, "echo $$ > %s; trap '' TERM; sleep 30; echo '{}'", pidfile);
    double secs = run_sh(&f, script, 300, &r);
    pid_t pgid = read_pid(pidfile);
    unlink(pidfile);
    if (pgid > 0 && group_alive(pgid)) {
        kill(-pgid, SIGKILL);
        fail_msg("process group %ld still alive after the timeout", (long)pgid);
    }
    assert_true(pgid > 0);
    assert_int_equal(r.ok, 0);
    assert_int_equal(r.retryable, 1);
    ASSERT_CONTAINS(r.error_message, "timed out after 0.3s");
    if (secs < 0.5 || secs > 5.0)
        fail_msg("the timed-out command took %.2fs, want 0.3s + the 0.3s grace", secs);
    tia_exec_result_clear(&r);
}

static void cmd_invalid_json_and_huge_output(void **state)
{
    (void)state;
    fake_claim f;
    tia_exec_result r;
    fake_init(&f, 0);
    run_sh(&f, "echo 'this is {not json'", 0, &r);
    assert_int_equal(r.ok, 0);
    assert_int_equal(r.retryable, 0);
    ASSERT_CONTAINS(r.error_message, "stdout is not valid JSON");
    tia_exec_result_clear(&r);

    run_sh(&f, "echo '{\"tokens_used\": \"many\"}'", 0, &r);
    assert_int_equal(r.ok, 0);
    ASSERT_CONTAINS(r.error_message, "tokens_used");
    tia_exec_result_clear(&r);

    /* 6 MB on stdout, more than the 4 MiB cap: refused, and the writer does not hang. */
    double secs = run_sh(&f, "head -c 6000000 /dev/zero | tr '\\0' a; sleep 30", 0, &r);
    assert_int_equal(r.ok, 0);
    assert_int_equal(r.retryable, 0);
    ASSERT_CONTAINS(r.error_message, "exceeds 4194304 bytes");
    if (secs > 10.0)
        fail_msg("refusing the output took %.1fs", secs);
    tia_exec_result_clear(&r);
}

/* ---- through the engine ---- */

static void submit_task(tia_store *s, const char *description, int max_retries, char id[37])
{
    tia_task_spec t = {0};
    t.key = "t";
    t.agent_id = AGENT;
    t.task_type = "code_review";
    t.description = description;
    t.max_retries = max_retries;
    int created = 0;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_engine_submit_task(s, &t, NULL, NULL, id, &created, &err), &err);
    assert_int_equal(created, 1);
}

static tia_run_status task_status(tia_store *s, const char *id)
{
    tia_task *t = NULL;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_task_get(s, id, &t, &err), &err);
    tia_run_status st = t->status;
    tia_task_free(t);
    return st;
}

/* Waits up to ms for the task to reach status; returns 1 when it did. */
static int wait_status(tia_store *s, const char *id, tia_run_status want, int ms)
{
    for (int64_t end = now_ms() + ms; now_ms() < end; sleep_ms(50))
        if (task_status(s, id) == want)
            return 1;
    return task_status(s, id) == want;
}

static int64_t task_int(tia_store *s, const char *id, const char *col)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT %s FROM agent_tasks WHERE id = '%s'", col, id);
    return tia_test_int(s, sql, sql);
}

/* An in-process worker on its own connection, in its own thread. */
typedef struct bg_worker {
    tia_store *s;
    tia_worker *w;
    pthread_t thread;
    tia_cmd_config cmd;
    int rc;
    tia_error err;
} bg_worker;

static void *bg_main(void *arg)
{
    bg_worker *b = arg;
    b->rc = tia_worker_run(b->w, &b->err);
    return NULL;
}

static void bg_start(bg_worker *b, tia_store *s, const char *const *argv, int64_t lease_ms)
{
    memset(b, 0, sizeof *b);
    b->s = tia_test_reopen(s);
    b->cmd.argv = argv;
    b->cmd.kill_grace_ms = 300;
    const char *agents[] = {AGENT};
    tia_worker_config cfg = {0};
    cfg.agent_ids = agents;
    cfg.n_agents = 1;
    cfg.worker_id = "bg-worker";
    cfg.poll_ms = 50;
    cfg.lease_ms = lease_ms;
    cfg.exec = tia_exec_cmd;
    cfg.exec_ctx = &b->cmd;
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_worker_new(b->s, &cfg, &b->w, &err), &err);
    assert_int_equal(pthread_create(&b->thread, NULL, bg_main, b), 0);
}

static void bg_stop(bg_worker *b, tia_worker_stats *st)
{
    tia_worker_stop(b->w);
    pthread_join(b->thread, NULL);
    TIA_OK_OR_FAIL(b->rc, &b->err);
    if (st)
        tia_worker_stats_get(b->w, st);
    tia_worker_free(b->w);
    tia_store_close(b->s);
}

static void engine_retries_then_fails(void **state)
{
    tia_store *s = *state;
    char id[37];
    submit_task(s, "fails every time", 1, id);
    const char *argv[] = {
        "sh", "-c", "cat >/dev/null; echo \"boom on attempt $TIA_ATTEMPT\" >&2; exit 7", NULL};
    bg_worker b;
    bg_start(&b, s, argv, 0);
    /* Two attempts, with a backoff of at most 1 s between them. */
    int ended = wait_status(s, id, TIA_FAILED, 15000);
    tia_worker_stats st;
    bg_stop(&b, &st);
    assert_true(ended);
    assert_int_equal(task_int(s, id, "attempt"), 2);
    assert_int_equal(task_int(s, id, "retry_count"), 1);
    assert_int_equal(st.claimed, 2);
    assert_int_equal(st.failed, 2);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT error_message FROM agent_tasks WHERE id = '%s'", id);
    char *msg = tia_test_text(s, sql, sql);
    ASSERT_CONTAINS(msg, "exit status 7: boom on attempt 2");
    free(msg);
}

static void heartbeats_keep_the_lease(void **state)
{
    tia_store *s = *state;
    char id[37];
    submit_task(s, "outlives its lease", 3, id);
    /* A 1 s lease and a 2.5 s task: only the heartbeats keep the reaper away. */
    const char *argv[] = {"sh", "-c", "cat >/dev/null; sleep 2.5; echo '{\"ok\": 1}'", NULL};
    bg_worker b;
    bg_start(&b, s, argv, 1000);
    tia_error err = {0};
    int64_t reclaimed = 0, n = 0;
    for (int64_t end = now_ms() + 15000; now_ms() < end && task_status(s, id) != TIA_COMPLETED;
         sleep_ms(100)) {
        TIA_OK_OR_FAIL(tia_engine_reap(s, &n, &err), &err);
        reclaimed += n;
    }
    tia_worker_stats st;
    bg_stop(&b, &st);
    assert_int_equal(reclaimed, 0);
    assert_int_equal(task_status(s, id), TIA_COMPLETED);
    assert_int_equal(task_int(s, id, "attempt"), 1);
    assert_int_equal(st.completed, 1);
}

/* A task whose command writes its process group's id to a file, then sleeps 30 s. */
typedef struct sleeper {
    char id[37];
    char pidfile[32];
    char script[200];
    const char *argv[4];
    bg_worker b;
    int running; /* it reached running within 10 s */
} sleeper;

static void sleeper_start(sleeper *z, tia_store *s, const char *what, int64_t lease_ms)
{
    snprintf(z->pidfile, sizeof z->pidfile, "/tmp/tia-worker-pid.XXXXXX");
    int fd = mkstemp(z->pidfile);
    assert_true(fd >= 0);
    close(fd);
    snprintf(z->script, sizeof z->script, "echo $$ > %s; sleep 30", z->pidfile);
    z->argv[0] = "sh";
    z->argv[1] = "-c";
    z->argv[2] = z->script;
    z->argv[3] = NULL;
    submit_task(s, what, 3, z->id);
    bg_start(&z->b, s, z->argv, lease_ms);
    z->running = wait_status(s, z->id, TIA_RUNNING, 10000);
}

/* Stops the worker (failing the test if it gave up) and says whether the command lives on. */
static int sleeper_stop(sleeper *z, tia_worker_stats *st)
{
    bg_stop(&z->b, st);
    pid_t pgid = read_pid(z->pidfile);
    unlink(z->pidfile);
    int alive = pgid > 0 && group_alive(pgid);
    if (alive)
        kill(-pgid, SIGKILL);
    return alive;
}

static void cancel_stops_a_running_task(void **state)
{
    tia_store *s = *state;
    sleeper z;
    sleeper_start(&z, s, "cancelled while it runs", 1500);
    tia_error err = {0};
    int rc = z.running ? tia_engine_cancel_task(s, z.id, &err) : TIA_EINVAL;
    /* Seen at the next heartbeat (every 0.5 s), the command stopped within its grace. */
    int cancelled = rc == 0 && wait_status(s, z.id, TIA_CANCELLED, 10000);
    tia_worker_stats st;
    int alive = sleeper_stop(&z, &st);
    assert_true(z.running);
    TIA_OK_OR_FAIL(rc, &err);
    assert_true(cancelled);
    assert_false(alive);
    assert_int_equal(st.cancelled, 1);
}

/*
 * A running task deleted under the worker (with its workflow, or by hand): its
 * lease went with it. The worker stops the command and counts the task lost, as
 * for a lease taken back, and goes on; it used to count every heartbeat as a
 * database error and give up after ten.
 */
static void deleted_task_is_lost(void **state)
{
    tia_store *s = *state;
    sleeper z;
    sleeper_start(&z, s, "deleted while it runs", 1000);
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM agent_tasks WHERE id = '%s'", z.id);
    tia_error err = {0};
    int rc = z.running ? tia_test_exec(s, sql, sql, &err) : TIA_EINVAL;
    /* Heartbeats every third of the 1 s lease: the command is stopped at the next. */
    pid_t pgid = read_pid(z.pidfile);
    for (int64_t end = now_ms() + 5000; now_ms() < end && pgid > 0 && group_alive(pgid);)
        sleep_ms(100);
    sleep_ms(1500); /* more heartbeats would come now, were the task still held */
    tia_worker_stats st;
    int alive = sleeper_stop(&z, &st);
    assert_true(z.running);
    TIA_OK_OR_FAIL(rc, &err);
    assert_int_equal(st.lost, 1);
    assert_false(alive);
}

/* ---- the LLM executor ---- */

static const char ok_body[] =
    "{\"id\": \"chatcmpl-1\", \"model\": \"claude-opus-4.1\", \"choices\": [{\"index\": 0, "
    "\"message\": {\"role\": \"assistant\", \"content\": \"Looks good: ship it\"}, "
    "\"finish_reason\": \"stop\"}], \"usage\": {\"prompt_tokens\": 120, \"completion_tokens\": 30, "
    "\"total_tokens\": 150}}";

typedef struct llm_env {
    tia_fake_llm *fake;
    tia_agent *agent;
    fake_claim f;
    tia_llm_config cfg;
} llm_env;

static void llm_setup(llm_env *e, tia_store *s, int64_t timeout_ms)
{
    tia_error err = {0};
    memset(e, 0, sizeof *e);
    e->fake = tia_fake_llm_start();
    TIA_OK_OR_FAIL(tia_agent_get(s, AGENT, &e->agent, &err), &err);
    fake_init(&e->f, timeout_ms);
    e->f.job.agent = e->agent;
    e->cfg.url = tia_fake_llm_url(e->fake);
}

static double llm_run(llm_env *e, unsigned status, const char *body, int delay_ms,
                      tia_exec_result *r)
{
    tia_error err = {0};
    tia_fake_llm_reply(e->fake, status, body, delay_ms);
    tia_exec_result_init(r);
    int64_t t0 = now_ms();
    TIA_OK_OR_FAIL(tia_exec_llm(&e->cfg, &e->f.job, r, &err), &err);
    return (double)(now_ms() - t0) / 1000.0;
}

static void llm_teardown(llm_env *e)
{
    tia_fake_llm_stop(e->fake);
    tia_agent_free(e->agent);
}

static void llm_success_sends_the_agent(void **state)
{
    llm_env e;
    tia_exec_result r;
    llm_setup(&e, *state, 0);
    setenv("TOKYOIA_LLM_API_KEY", "sk-test-123", 1);
    llm_run(&e, 200, ok_body, 0, &r);
    unsetenv("TOKYOIA_LLM_API_KEY");
    assert_int_equal(r.ok, 1);
    assert_string_equal(r.output_data, "{\"content\":\"Looks good: ship it\",\"model\":"
                                       "\"claude-opus-4.1\",\"finish_reason\":\"stop\"}");
    assert_int_equal(r.tokens_used, 150);
    assert_int_equal(r.input_tokens, 120);
    assert_int_equal(r.output_tokens, 30);
    char *path = tia_fake_llm_last(e.fake, "path"),
         *auth = tia_fake_llm_last(e.fake, "authorization");
    char *body = tia_fake_llm_last(e.fake, "body");
    assert_string_equal(path, "/v1/chat/completions");
    assert_string_equal(auth, "Bearer sk-test-123");
    json_t *req = json_loads(body, 0, NULL);
    assert_non_null(req);
    assert_string_equal(json_string_value(json_object_get(req, "model")), "claude-opus-4.1");
    json_t *msgs = json_object_get(req, "messages");
    const char *sys = json_string_value(json_object_get(json_array_get(msgs, 0), "content"));
    const char *user = json_string_value(json_object_get(json_array_get(msgs, 1), "content"));
    ASSERT_CONTAINS(sys, "Akira");
    ASSERT_CONTAINS(sys, e.agent->role);
    for (size_t i = 0; i < e.agent->n_specialties; i++)
        ASSERT_CONTAINS(sys, e.agent->specialties[i]);
    assert_true(e.agent->n_specialties > 0);
    ASSERT_CONTAINS(user, "Review the claim path");
    ASSERT_CONTAINS(user, "\"files\": 3");
    json_decref(req);
    free(path);
    free(auth);
    free(body);
    tia_exec_result_clear(&r);
    llm_teardown(&e);
}

static void llm_errors(void **state)
{
    llm_env e;
    tia_exec_result r;
    llm_setup(&e, *state, 500);
    e.cfg.api_key = "explicit-key";
    llm_run(&e, 500, "{\"error\": {\"message\": \"upstream exploded\"}}", 0, &r);
    assert_int_equal(r.ok, 0);
    assert_int_equal(r.retryable, 1);
    ASSERT_CONTAINS(r.error_message, "HTTP 500");
    ASSERT_CONTAINS(r.error_message, "upstream exploded");
    tia_exec_result_clear(&r);
    char *auth = tia_fake_llm_last(e.fake, "authorization");
    assert_string_equal(auth, "Bearer explicit-key");
    free(auth);

    llm_run(&e, 429, "{\"error\": {\"message\": \"rate limited\"}}", 0, &r);
    assert_int_equal(r.ok, 0);
    assert_int_equal(r.retryable, 1);
    ASSERT_CONTAINS(r.error_message, "HTTP 429");
    tia_exec_result_clear(&r);

    /* A message in Japanese longer than the executor keeps: cut on a character, so
     * that the engine takes it as the task's error_message. */
    char jp[4096] = "{\"error\": {\"message\": \"";
    for (int i = 0; i < 120; i++)
        strcat(jp, "レート制限");
    strcat(jp, "\"}}");
    llm_run(&e, 429, jp, 0, &r);
    assert_int_equal(r.ok, 0);
    ASSERT_CONTAINS(r.error_message, "HTTP 429");
    ASSERT_CONTAINS(r.error_message, "レート制限");
    assert_true(tia__utf8_chars(r.error_message, strlen(r.error_message)) > 0);
    tia_error verr = {0};
    TIA_OK_OR_FAIL(tia__check_text(&verr, "error_message", r.error_message, 0, 0), &verr);
    tia_exec_result_clear(&r);

    llm_run(&e, 400, "{\"error\": {\"message\": \"model 'x' does not exist\"}}", 0, &r);
    assert_int_equal(r.ok, 0);
    assert_int_equal(r.retryable, 0);
    ASSERT_CONTAINS(r.error_message, "model 'x' does not exist");
    tia_exec_result_clear(&r);

    /* Slower than the task's 500 ms timeout. */
    double secs = llm_run(&e, 200, ok_body, 3000, &r);
    assert_int_equal(r.ok, 0);
    assert_int_equal(r.retryable, 1);
    ASSERT_CONTAINS(r.error_message, "timed out after 0.5s");
    if (secs > 2.5)
        fail_msg("the timed-out request took %.2fs", secs);
    tia_exec_result_clear(&r);
    assert_int_equal(tia_fake_llm_count(e.fake), 5);
    llm_teardown(&e);

    /* Nobody listening: a retryable connection error. */
    llm_setup(&e, *state, 2000);
    e.cfg.url = "http://127.0.0.1:1/v1";
    llm_run(&e, 200, ok_body, 0, &r);
    assert_int_equal(r.ok, 0);
    assert_int_equal(r.retryable, 1);
    ASSERT_CONTAINS(r.error_message, "cannot reach http://127.0.0.1:1/v1/chat/completions");
    tia_exec_result_clear(&r);
    llm_teardown(&e);
}

/*
 * Usage whose total is not prompt + completion (reasoning tokens reported apart):
 * the answer is kept, the total believed and the rest counted as output, so that
 * the engine takes the completion. Fails while such an answer is refused.
 */
static void llm_usage_totals(void **state)
{
    llm_env e;
    tia_exec_result r;
    llm_setup(&e, *state, 0);
    static const char more[] =
        "{\"choices\": [{\"message\": {\"content\": \"done\"}}], \"usage\": "
        "{\"prompt_tokens\": 100, \"completion_tokens\": 20, \"total_tokens\": 220}}";
    llm_run(&e, 200, more, 0, &r);
    assert_int_equal(r.ok, 1);
    assert_int_equal(r.tokens_used, 220);
    assert_int_equal(r.input_tokens, 100);
    assert_int_equal(r.output_tokens, 120);
    tia_exec_result_clear(&r);
    static const char less[] =
        "{\"choices\": [{\"message\": {\"content\": \"done\"}}], \"usage\": "
        "{\"prompt_tokens\": 100, \"completion_tokens\": 20, \"total_tokens\": 50}}";
    llm_run(&e, 200, less, 0, &r);
    assert_int_equal(r.ok, 1);
    assert_int_equal(r.tokens_used, 120);
    assert_int_equal(r.input_tokens, 100);
    assert_int_equal(r.output_tokens, 20);
    tia_exec_result_clear(&r);
    /* A total between the prompt and the sum is less than the sum: the sum. */
    static const char between[] =
        "{\"choices\": [{\"message\": {\"content\": \"done\"}}], \"usage\": "
        "{\"prompt_tokens\": 100, \"completion_tokens\": 50, \"total_tokens\": 120}}";
    llm_run(&e, 200, between, 0, &r);
    assert_int_equal(r.ok, 1);
    assert_int_equal(r.tokens_used, 150);
    assert_int_equal(r.input_tokens, 100);
    assert_int_equal(r.output_tokens, 50);
    tia_exec_result_clear(&r);
    /* Counts no task can hold (a signed overflow before): the answer, no usage. */
    static const char *const absurd[] = {
        "{\"choices\": [{\"message\": {\"content\": \"done\"}}], \"usage\": "
        "{\"prompt_tokens\": 9223372036854775807, \"completion_tokens\": "
        "9223372036854775807, \"total_tokens\": 5}}",
        "{\"choices\": [{\"message\": {\"content\": \"done\"}}], \"usage\": "
        "{\"prompt_tokens\": 2000000000, \"completion_tokens\": 2000000000, "
        "\"total_tokens\": 4000000000}}",
        "{\"choices\": [{\"message\": {\"content\": \"done\"}}], \"usage\": "
        "{\"prompt_tokens\": 2000000000, \"completion_tokens\": 2000000000}}"};
    for (size_t i = 0; i < 3; i++) {
        llm_run(&e, 200, absurd[i], 0, &r);
        assert_int_equal(r.ok, 1);
        /* What the engine counts (the total, else the sum) is within its bound. */
        int64_t counted = r.tokens_used >= 0 ? r.tokens_used
                                             : (r.input_tokens > 0 ? r.input_tokens : 0) +
                                                   (r.output_tokens > 0 ? r.output_tokens : 0);
        assert_true(counted <= INT32_MAX);
        tia_exec_result_clear(&r);
    }
    llm_teardown(&e);
}

/* ---- tokyoia worker processes ---- */

typedef struct proc {
    pid_t pid;
    char log[64];
} proc;

/* Starts `tokyoia --db URL worker ARGS...` with its output in a log file. */
static void proc_start(proc *p, tia_store *s, const char *const *args)
{
    const char *bin = getenv("TIA_BIN");
    if (bin == NULL)
        fail_msg("TIA_BIN must name the tokyoia binary");
    const char *argv[32] = {bin, "--db", tia_test_url(s), "worker"};
    size_t n = 4;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(p->log, sizeof p->log, "/tmp/tia-worker-log.XXXXXX");
    int fd = mkstemp(p->log);
    assert_true(fd >= 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
    int rc = posix_spawn(&p->pid, bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd);
    assert_int_equal(rc, 0);
}

static void proc_dump(const proc *p)
{
    char buf[4096] = "";
    FILE *f = fopen(p->log, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    fprintf(stderr, "--- tokyoia worker output:\n%s---\n", buf);
}

/* Waits up to ms for the process to exit; returns its wait status, or -1 (then killed). */
static int proc_wait(proc *p, int ms)
{
    int status = 0;
    for (int64_t end = now_ms() + ms; now_ms() < end; sleep_ms(20))
        if (waitpid(p->pid, &status, WNOHANG) == p->pid)
            return status;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    return -1;
}

static void proc_end(proc *p)
{
    unlink(p->log);
}

/* Waits for the task to be running, failing (after killing p) when it is not. */
static void wait_running(tia_store *s, proc *p, const char *id)
{
    if (wait_status(s, id, TIA_RUNNING, 15000))
        return;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    proc_dump(p);
    proc_end(p);
    fail_msg("task %s was not claimed by the worker process", id);
}

static void sigterm_drains(void **state)
{
    tia_store *s = *state;
    char first[37], second[37];
    submit_task(s, "first", 0, first);
    submit_task(s, "second", 0, second);
    proc p;
    const char *args[] = {
        "--agent", AGENT,
        "--poll",  "100ms",
        "--",      "sh",
        "-c",      "cat >/dev/null; sleep 1; echo '{\"done\": true, \"tokens_used\": 10}'",
        NULL};
    proc_start(&p, s, args);
    wait_running(s, &p, first);
    kill(p.pid, SIGTERM);
    int status = proc_wait(&p, 15000);
    if (status != 0)
        proc_dump(&p);
    proc_end(&p);
    assert_int_equal(status, 0); /* exited 0 of its own accord */
    /* It finished what it held and claimed nothing more. */
    assert_int_equal(task_status(s, first), TIA_COMPLETED);
    assert_int_equal(task_int(s, first, "tokens_used"), 10);
    assert_int_equal(task_status(s, second), TIA_PENDING);
    assert_int_equal(task_int(s, second, "attempt"), 0);
}

static void sigterm_past_drain_releases(void **state)
{
    tia_store *s = *state;
    char id[37], pidfile[] = "/tmp/tia-worker-pid.XXXXXX", script[200];
    int fd = mkstemp(pidfile);
    assert_true(fd >= 0);
    close(fd);
    snprintf(script, sizeof script, "echo $$ > %s; sleep 30", pidfile);
    submit_task(s, "too slow to drain", 0, id);
    proc p;
    const char *args[] = {"--agent", AGENT, "--poll", "100ms", "--drain", "300ms", "--kill-grace",
                          "300ms",   "--",  "sh",     "-c",    script,    NULL};
    proc_start(&p, s, args);
    wait_running(s, &p, id);
    int64_t t0 = now_ms();
    kill(p.pid, SIGTERM);
    int status = proc_wait(&p, 15000);
    int64_t took = now_ms() - t0;
    pid_t pgid = read_pid(pidfile);
    unlink(pidfile);
    int alive = pgid > 0 && group_alive(pgid);
    if (alive)
        kill(-pgid, SIGKILL);
    if (status != 0)
        proc_dump(&p);
    proc_end(&p);
    assert_int_equal(status, 0);
    assert_false(alive);
    if (took > 8000)
        fail_msg("the drain took %lld ms", (long long)took);
    /* Handed back, not failed: pending again at once, with no retry used up (it
     * has none: max_retries 0), so the next worker takes it where it stood. */
    assert_int_equal(task_status(s, id), TIA_PENDING);
    assert_int_equal(task_int(s, id, "retry_count"), 0);
    assert_int_equal(task_int(s, id, "attempt"), 1);
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM agent_tasks WHERE id = '%s' AND run_after <= %s", id,
             tia_test_is_pg() ? "now()"
                              : "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)");
    assert_int_equal(tia_test_int(s, sql, sql), 1);
}

static void sigkill_mid_task_is_reaped(void **state)
{
    tia_store *s = *state;
    char id[37], pidfile[] = "/tmp/tia-worker-pid.XXXXXX", script[200];
    int fd = mkstemp(pidfile);
    assert_true(fd >= 0);
    close(fd);
    snprintf(script, sizeof script, "echo $$ > %s; sleep 30", pidfile);
    submit_task(s, "its worker dies", 3, id);
    proc p;
    const char *args[] = {"--agent", AGENT, "--id", "dead-worker", "--lease", "2s", "--poll",
                          "100ms",   "--",  "sh",   "-c",          script,    NULL};
    proc_start(&p, s, args);
    wait_running(s, &p, id);
    int64_t attempt = task_int(s, id, "attempt");
    kill(p.pid, SIGKILL);
    waitpid(p.pid, NULL, 0);
    proc_end(&p);
    /* The dead worker's command is an orphan now: end it (we started it). */
    for (int i = 0; i < 100 && read_pid(pidfile) == 0; i++)
        sleep_ms(20);
    pid_t pgid = read_pid(pidfile);
    unlink(pidfile);
    if (pgid > 0)
        kill(-pgid, SIGKILL);

    /* Nothing is reclaimed before the lease expires, then the reaper takes it back. */
    tia_error err = {0};
    int64_t reclaimed = 0;
    int64_t end = now_ms() + 10000;
    do {
        sleep_ms(100);
        TIA_OK_OR_FAIL(tia_engine_reap(s, &reclaimed, &err), &err);
    } while (reclaimed == 0 && now_ms() < end);
    assert_int_equal(reclaimed, 1);
    assert_int_equal(task_status(s, id), TIA_PENDING);

    /* Another worker completes it. */
    const char *argv[] = {"sh", "-c", "cat >/dev/null; echo '{\"by\": \"survivor\"}'", NULL};
    bg_worker b;
    bg_start(&b, s, argv, 0);
    int done = wait_status(s, id, TIA_COMPLETED, 15000);
    bg_stop(&b, NULL);
    assert_true(done);

    /* The dead worker's late result is refused. */
    tia_completion late = {id, "dead-worker", attempt, "{\"by\": \"ghost\"}", 5, -1, -1, -1};
    TIA_ASSERT_RC(tia_engine_complete(s, &late, &err), TIA_ECONFLICT, &err);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT output_data FROM agent_tasks WHERE id = '%s'", id);
    char *out = tia_test_text(s, sql, sql);
    ASSERT_CONTAINS(out, "survivor");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cmd_success_reads_task_and_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(cmd_env_withholds_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(cmd_nonzero_exit_keeps_stderr_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(cmd_timeout_kills_the_group, setup, teardown),
        cmocka_unit_test_setup_teardown(cmd_invalid_json_and_huge_output, setup, teardown),
        cmocka_unit_test_setup_teardown(engine_retries_then_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(heartbeats_keep_the_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_stops_a_running_task, setup, teardown),
        cmocka_unit_test_setup_teardown(llm_success_sends_the_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(llm_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(llm_usage_totals, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_task_is_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(sigterm_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(sigterm_past_drain_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(sigkill_mid_task_is_reaped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
