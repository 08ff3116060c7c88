/*
 * The command executor (tia_exec_cmd in include/tokyoia/worker.h): any program
 * becomes an agent's worker by reading the task as JSON on stdin and printing its
 * result as JSON on stdout. The child runs in a process group of its own so that
 * a timeout or a cancellation stops everything it started (a shell's children
 * too, which would otherwise keep the stdout pipe open), and so that the
 * terminal's Ctrl-C reaches the worker, which drains, rather than its tasks.
 * stdin is a socket pair rather than a pipe so that writing to a child that
 * never reads it fails with EPIPE (MSG_NOSIGNAL) instead of raising SIGPIPE in a
 * library that must not touch the process's signal dispositions.
 */
#define _GNU_SOURCE /* pipe2, O_CLOEXEC pipes without a race against fork */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <tokyoia/worker.h>

extern char **environ;

/* After the command exits, how long to keep reading pipes that a process it left
 * behind holds open; then its group is killed and the pipes closed. */
#define AFTER_KILL_MS 1000
#define POLL_MS 50

typedef struct outbuf {
    char *p;
    size_t len, cap;
} outbuf;

typedef enum kill_why { KILL_NONE = 0, KILL_TIMEOUT, KILL_TOOBIG, KILL_STOP } kill_why;

/* One running child and what it has said so far. */
typedef struct child {
    pid_t pid;
    int in, out, err; /* parent ends; -1 once closed */
    const char *input;
    size_t input_len, input_off;
    outbuf stdout_buf;
    char tail[TIA_EXEC_STDERR_TAIL * 2];
    size_t tail_len;
    size_t stdout_max;
    int status, reaped;
    kill_why why;
    /* Monotonic ms of SIGTERM, SIGKILL and the leader's exit; 0: not yet. */
    int64_t term_at, kill_at, reaped_at;
    int64_t grace_ms;
} child;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int buf_add(outbuf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->p, cap);
        if (grown == NULL)
            return -1;
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static void fail_msg(tia_exec_result *out, int retryable, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_msg(tia_exec_result *out, int retryable, const char *fmt, ...)
{
    char msg[TIA_EXEC_STDERR_TAIL + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    out->ok = 0;
    out->retryable = retryable;
    free(out->error_message);
    out->error_message = strdup(msg);
}

/* ---- what the child gets ---- */

/* The task as the JSON document written to the child's stdin. */
static char *task_json(const tia_job *job)
{
    const tia_task *t = job->claim->task;
    json_t *input = t->input_data ? json_loads(t->input_data, JSON_DECODE_ANY, NULL) : NULL;
    json_t *o =
        json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:I}", "id", t->id, "agent_id", t->agent_id,
                  "workflow_id", t->workflow_id[0] ? json_string(t->workflow_id) : json_null(),
                  "task_type", t->task_type, "description", t->description, "input_data",
                  input ? input : json_null(), "attempt", (json_int_t)job->claim->attempt);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

static const char *const env_names[] = {"TIA_TASK_ID=",   "TIA_AGENT_ID=", "TIA_WORKFLOW_ID=",
                                        "TIA_TASK_TYPE=", "TIA_ATTEMPT=",  "TIA_WORKER_ID="};
#define N_ENV (sizeof env_names / sizeof env_names[0])

/*
 * The worker's own secrets, which its commands never need: the database's URLs
 * (a password in them), libpq's password and the LLM executor's key. A command
 * runs on task input and may print what it sees into its output.
 */
static const char *const withheld[] = {
    "DATABASE_URL=", "DATABASE_READ_URL=", "PGPASSWORD=", "TOKYOIA_LLM_API_KEY="};

/* 1 for a variable the child does not inherit: one of the task's, or withheld. */
static int is_ours(const char *entry)
{
    for (size_t i = 0; i < N_ENV; i++)
        if (strncmp(entry, env_names[i], strlen(env_names[i])) == 0)
            return 1;
    for (size_t i = 0; i < sizeof withheld / sizeof withheld[0]; i++)
        if (strncmp(entry, withheld[i], strlen(withheld[i])) == 0)
            return 1;
    return 0;
}

static void free_env(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* The process's environment, less the withheld secrets, with the task's variables replaced;
 * malloc'd. */
static char **task_env(const tia_job *job)
{
    const tia_task *t = job->claim->task;
    char attempt[24];
    snprintf(attempt, sizeof attempt, "%" PRId64, job->claim->attempt);
    const char *values[N_ENV] = {t->id,        t->agent_id, t->workflow_id,
                                 t->task_type, attempt,     job->worker_id ? job->worker_id : ""};
    size_t n = 0, k = 0;
    while (environ && environ[n])
        n++;
    char **env = calloc(n + N_ENV + 1, sizeof *env);
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!is_ours(environ[i]) && (env[k++] = strdup(environ[i])) == NULL)
            goto oom;
    for (size_t i = 0; i < N_ENV; i++) {
        size_t len = strlen(env_names[i]) + strlen(values[i]) + 1;
        if ((env[k] = malloc(len)) == NULL)
            goto oom;
        snprintf(env[k++], len, "%s%s", env_names[i], values[i]);
    }
    return env;
oom:
    free_env(env);
    return NULL;
}

/* ---- starting ---- */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Starts argv with the three pipes; fills c->pid and the parent ends. */
static int spawn_child(child *c, const tia_cmd_config *cfg, char **env, tia_error *err)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
    int rc = 0, prc = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
        pipe2(errp, O_CLOEXEC) != 0) {
        rc =
            tia_error_set(err, TIA_EIO, "cannot create pipes for the command: %s", strerror(errno));
        goto done;
    }
    posix_spawn_file_actions_adddup2(&fa, in[1], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGHUP);
    sigaddset(&dfl, SIGQUIT);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    prc = posix_spawnp(&c->pid, cfg->argv[0], &fa, &at, (char *const *)cfg->argv, env);
    if (prc != 0) {
        rc = tia_error_set(err, TIA_EIO, "cannot run '%s': %s", cfg->argv[0], strerror(prc));
        goto done;
    }
    c->in = in[0];
    c->out = out[0];
    c->err = errp[0];
    in[0] = out[0] = errp[0] = -1;
    fcntl(c->in, F_SETFL, O_NONBLOCK);
    fcntl(c->out, F_SETFL, O_NONBLOCK);
    fcntl(c->err, F_SETFL, O_NONBLOCK);
done:
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&out[i]);
        close_fd(&errp[i]);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc;
}

/* ---- running ---- */

static void feed_stdin(child *c)
{
    while (c->in >= 0 && c->input_off < c->input_len) {
        ssize_t n = send(c->in, c->input + c->input_off, c->input_len - c->input_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->input_off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            return;
        } else {
            close_fd(&c->in); /* the child does not read its stdin: fine */
            return;
        }
    }
    if (c->in >= 0) {
        shutdown(c->in, SHUT_WR); /* end of input */
        close_fd(&c->in);
    }
}

/* Keeps at least the last TIA_EXEC_STDERR_TAIL bytes of stderr (tail_text cuts). */
static void keep_tail(child *c, const char *p, size_t n)
{
    if (n >= TIA_EXEC_STDERR_TAIL) {
        memcpy(c->tail, p + n - TIA_EXEC_STDERR_TAIL, TIA_EXEC_STDERR_TAIL);
        c->tail_len = TIA_EXEC_STDERR_TAIL;
        return;
    }
    if (c->tail_len + n > sizeof c->tail) {
        size_t keep = TIA_EXEC_STDERR_TAIL - n;
        memmove(c->tail, c->tail + c->tail_len - keep, keep);
        c->tail_len = keep;
    }
    memcpy(c->tail + c->tail_len, p, n);
    c->tail_len += n;
}

/* The whole group: a shell's children are stopped with it. */
static void signal_group(child *c, int sig, int64_t now)
{
    kill(-c->pid, sig);
    if (sig == SIGKILL)
        c->kill_at = now;
    else
        c->term_at = now;
}

/* Stops the child's group: SIGTERM, then SIGKILL after the grace (at once for why). */
static void stop_child(child *c, kill_why why, int at_once, int64_t now)
{
    if (c->why == KILL_NONE)
        c->why = why;
    if (at_once && !c->kill_at)
        signal_group(c, SIGKILL, now);
    else if (!c->term_at && !c->kill_at)
        signal_group(c, SIGTERM, now);
}

/* Reads what is there on one pipe; closes it at end of file. */
static void drain_pipe(child *c, int *fd, int is_stdout, int64_t now)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(*fd, chunk, sizeof chunk);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            close_fd(fd);
            return;
        }
        if (n < 0)
            return;
        if (!is_stdout) {
            keep_tail(c, chunk, (size_t)n);
        } else if (c->why != KILL_TOOBIG) {
            if (c->stdout_buf.len + (size_t)n > c->stdout_max ||
                buf_add(&c->stdout_buf, chunk, (size_t)n) != 0)
                stop_child(c, KILL_TOOBIG, 1, now); /* refuse the rest, but keep reading */
        }
    }
}

static void check_deadlines(child *c, const tia_job *job, int64_t start, int64_t now)
{
    int64_t timeout = job->claim->timeout_ms;
    if (c->reaped) {
        /* The command is done; a process it left behind holds the pipes. */
        if (now - c->reaped_at >= AFTER_KILL_MS && (c->out >= 0 || c->err >= 0)) {
            signal_group(c, SIGKILL, now);
            close_fd(&c->out);
            close_fd(&c->err);
        }
        return;
    }
    if (timeout > 0 && now - start >= timeout)
        stop_child(c, KILL_TIMEOUT, 0, now);
    if (tia_job_stop(job) != TIA_STOP_NONE)
        stop_child(c, KILL_STOP, 0, now);
    if (c->term_at && !c->kill_at && now - c->term_at >= c->grace_ms)
        signal_group(c, SIGKILL, now);
}

/* Runs until the child is reaped and its pipes are closed. */
static void supervise(child *c, const tia_job *job)
{
    int64_t start = mono_ms();
    while (!c->reaped || c->out >= 0 || c->err >= 0) {
        struct pollfd p[3];
        int n = 0;
        if (c->in >= 0)
            p[n++] = (struct pollfd){c->in, POLLOUT, 0};
        if (c->out >= 0)
            p[n++] = (struct pollfd){c->out, POLLIN, 0};
        if (c->err >= 0)
            p[n++] = (struct pollfd){c->err, POLLIN, 0};
        poll(p, (nfds_t)n, POLL_MS);
        int64_t now = mono_ms();
        feed_stdin(c);
        if (c->out >= 0)
            drain_pipe(c, &c->out, 1, now);
        if (c->err >= 0)
            drain_pipe(c, &c->err, 0, now);
        if (!c->reaped && waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
            c->reaped = 1;
            c->reaped_at = now;
        }
        check_deadlines(c, job, start, now);
    }
    close_fd(&c->in);
}

/* ---- the outcome ---- */

/* The stderr tail as valid UTF-8 without NULs, trimmed; into dst. */
static void tail_text(const child *c, char *dst, size_t len)
{
    size_t o = 0;
    size_t i = c->tail_len > TIA_EXEC_STDERR_TAIL ? c->tail_len - TIA_EXEC_STDERR_TAIL : 0;
    const unsigned char *s = (const unsigned char *)c->tail;
    while (i < c->tail_len && (s[i] & 0xC0) == 0x80)
        i++; /* the cut may fall inside a character */
    while (i < c->tail_len && o + 4 < len) {
        unsigned char b = s[i];
        size_t k = b < 0x80             ? 1
                   : (b & 0xE0) == 0xC0 ? 2
                   : (b & 0xF0) == 0xE0 ? 3
                   : (b & 0xF8) == 0xF0 ? 4
                                        : 0;
        size_t j = 1;
        while (k > 1 && j < k && i + j < c->tail_len && (s[i + j] & 0xC0) == 0x80)
            j++;
        if (k == 0 || j != k || b == 0) {
            dst[o++] = '?';
            i++;
            continue;
        }
        memcpy(dst + o, s + i, k);
        o += k;
        i += k;
    }
    while (o > 0 && strchr(" \t\r\n", dst[o - 1]))
        o--;
    dst[o] = '\0';
}

/* "30s", "0.5s", "1.25s". */
static void format_seconds(int64_t ms, char *buf, size_t len)
{
    if (ms % 1000 == 0)
        snprintf(buf, len, "%" PRId64 "s", ms / 1000);
    else
        snprintf(buf, len, "%.3gs", (double)ms / 1000.0);
}

/* A non-negative integer member of the output, or -1 when absent. */
static int count_member(json_t *o, const char *key, int64_t *out, tia_exec_result *res)
{
    json_t *v = json_object_get(o, key);
    *out = -1;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        fail_msg(res, 0, "%s in the command's output must be a non-negative integer", key);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

/* cost_usd as a number or a decimal string, into micro-dollars. */
static int cost_member(json_t *o, int64_t *out, tia_exec_result *res)
{
    json_t *v = json_object_get(o, "cost_usd");
    *out = -1;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v) && tia_cost_parse(json_string_value(v), out) == 0)
        return 0;
    if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) < 1e4) {
        *out = (int64_t)(json_number_value(v) * 1e6 + 0.5);
        return 0;
    }
    fail_msg(res, 0, "cost_usd in the command's output must be a non-negative amount in USD");
    return -1;
}

/* Exit 0: stdout is the result. */
static void parse_output(const child *c, tia_exec_result *out)
{
    const char *p = c->stdout_buf.p ? c->stdout_buf.p : "";
    size_t len = c->stdout_buf.p ? c->stdout_buf.len : 0, blank = 0;
    /* Over the bytes read, not as a C string: a NUL first is output, not none. */
    while (blank < len &&
           (p[blank] == ' ' || p[blank] == '\t' || p[blank] == '\r' || p[blank] == '\n'))
        blank++;
    if (blank == len) {
        out->ok = 1; /* nothing printed: done, without output */
        return;
    }
    json_error_t je;
    json_t *doc = json_loadb(p, c->stdout_buf.len, JSON_DECODE_ANY, &je);
    if (doc == NULL) {
        fail_msg(out, 0, "the command's stdout is not valid JSON (line %d, column %d: %s)", je.line,
                 je.column, je.text);
        return;
    }
    if (json_is_object(doc) && (count_member(doc, "tokens_used", &out->tokens_used, out) != 0 ||
                                count_member(doc, "input_tokens", &out->input_tokens, out) != 0 ||
                                count_member(doc, "output_tokens", &out->output_tokens, out) != 0 ||
                                cost_member(doc, &out->cost_micros, out) != 0)) {
        json_decref(doc);
        return;
    }
    out->output_data = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (out->output_data == NULL)
        fail_msg(out, 1, "out of memory for the command's output");
    else
        out->ok = 1;
}

static void outcome(const child *c, const tia_job *job, size_t stdout_max, tia_exec_result *out)
{
    char tail[TIA_EXEC_STDERR_TAIL + 8], secs[32];
    tail_text(c, tail, sizeof tail);
    const char *sep = tail[0] ? ": " : " (nothing on stderr)";
    if (c->why == KILL_TOOBIG) {
        fail_msg(out, 0,
                 "the command's output exceeds %zu bytes (write large results elsewhere "
                 "and return a reference)",
                 stdout_max);
    } else if (c->why == KILL_TIMEOUT) {
        format_seconds(job->claim->timeout_ms, secs, sizeof secs);
        fail_msg(out, 1, "timed out after %s%s%s", secs, tail[0] ? ": " : "", tail);
    } else if (c->why == KILL_STOP) {
        fail_msg(out, 1, "stopped by the worker%s%s", tail[0] ? ": " : "", tail);
    } else if (WIFSIGNALED(c->status)) {
        fail_msg(out, 1, "killed by signal %d (%s)%s%s", WTERMSIG(c->status),
                 strsignal(WTERMSIG(c->status)), sep, tail);
    } else if (WEXITSTATUS(c->status) != 0) {
        fail_msg(out, 1, "exit status %d%s%s", WEXITSTATUS(c->status), sep, tail);
    } else {
        parse_output(c, out);
    }
}

int tia_exec_cmd(void *ctx, const tia_job *job, tia_exec_result *out, tia_error *err)
{
    const tia_cmd_config *cfg = ctx;
    child c = {0};
    c.pid = -1;
    c.in = c.out = c.err = -1;
    c.stdout_max = cfg->stdout_max ? cfg->stdout_max : TIA_EXEC_STDOUT_MAX;
    c.grace_ms = cfg->kill_grace_ms > 0 ? cfg->kill_grace_ms : TIA_EXEC_KILL_GRACE_MS;
    int rc = 0;
    char *input = NULL, **env = NULL;
    if (cfg->argv == NULL || cfg->argv[0] == NULL)
        return tia_error_set(err, TIA_EINVAL, "argv: a command is required");
    input = task_json(job);
    env = task_env(job);
    if (input == NULL || env == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "out of memory");
        goto done;
    }
    c.input = input;
    c.input_len = strlen(input);
    if ((rc = spawn_child(&c, cfg, env, err)) != 0)
        goto done;
    supervise(&c, job);
    outcome(&c, job, c.stdout_max, out);
done:
    free(c.stdout_buf.p);
    free(input);
    free_env(env);
    return rc;
}
