/*
 * The bulk loader (see bulk.h). History is laid out on one time line from
 * now - days to now, oldest first, so that created_at indexes grow at their right
 * edge as UUIDv7 keys do. Workflows run their seed steps one after another, each
 * step the child of the one before; a step that fails cancels the rest; anything
 * that would end after `now` is still running or pending. Standalone tasks fill
 * the remaining count. Every timestamp is a whole millisecond, so duration_ms is
 * exactly completed_at - started_at.
 *
 * Rows go out through a "sink" per table: on PostgreSQL a JSON array that one
 * INSERT ... SELECT FROM json_to_recordset($1::json) writes per batch (one
 * parameter, one round trip, one run of the statement-level counter triggers);
 * on SQLite a prepared single-row insert, which in a large transaction is
 * SQLite's fastest path. The same parameter array feeds both.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/bulk.h"
#include "store/db.h"

#define US_PER_MS INT64_C(1000)
#define US_PER_DAY (INT64_C(86400) * 1000000)
#define PG_TASK_BATCH 5000    /* task rows per statement and transaction */
#define PG_METRIC_BATCH 10000 /* metric rows per statement and transaction */
#define LITE_BATCH 50000      /* rows per SQLite transaction */
#define MAX_STEPS 5

/* ------------------------------------------------------------------------ */
/* Random numbers: splitmix64, small and good enough for synthetic data.    */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static int64_t rng_below(rng *r, int64_t n)
{
    return n > 0 ? (int64_t)(rng_next(r) % (uint64_t)n) : 0;
}

/* Uniform in [0, 1). */
static double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Log-normal around `median` (Box-Muller): long right tails, like real latencies. */
static double rng_lognormal(rng *r, double median, double sigma)
{
    double u1 = 1.0 - rng_unit(r), u2 = rng_unit(r);
    double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    return median * exp(sigma * z);
}

/* ------------------------------------------------------------------------ */
/* The seed system: agents, the steps of the four workflow types, prices.   */

enum { AKIRA, YUKI, HIRO, SAKURA, KENJI, N_AGENTS };
static const char *const agent_ids[N_AGENTS] = {"akira-001", "yuki-002", "hiro-003", "sakura-004",
                                                "kenji-005"};
/* Share of standalone tasks per agent, in percent. */
static const int agent_weight[N_AGENTS] = {25, 25, 20, 15, 15};
/* Median latency of each agent's calls, ms (metric points). */
static const double agent_latency_ms[N_AGENTS] = {2400, 1800, 900, 2100, 3200};

typedef struct task_kind {
    const char *type;
    int agent;
    double median_s; /* typical run time */
    int tokens;      /* typical tokens of a completed run */
    const char *verb;
} task_kind;

static const task_kind kinds[] = {
    {"security_audit", AKIRA, 45, 8000, "Security audit of"},
    {"code_review", AKIRA, 30, 6000, "Code review of"},
    {"unit_tests", YUKI, 60, 5000, "Unit tests for"},
    {"ci_cd", HIRO, 120, 1500, "CI/CD pipeline for"},
    {"documentation", SAKURA, 40, 7000, "Documentation update for"},
    {"architecture", KENJI, 90, 12000, "Architecture design for"},
    {"test_planning", YUKI, 35, 4000, "Test plan for"},
    {"specification", SAKURA, 50, 6000, "Specification of"},
    {"kubernetes", HIRO, 150, 2000, "Kubernetes rollout of"},
    {"monitoring", HIRO, 20, 1000, "Monitoring setup for"},
    {"microservices", KENJI, 100, 10000, "Service decomposition of"},
    {"infrastructure", HIRO, 180, 2500, "Infrastructure plan for"},
    {"testing", YUKI, 70, 5000, "Test strategy for"},
    {"architecture_docs", SAKURA, 60, 9000, "Architecture docs for"},
};
#define N_KINDS ((int)(sizeof kinds / sizeof kinds[0]))

typedef struct wf_type {
    const char *type;
    const char *title;
    int weight; /* percent of workflows */
    int nsteps;
    int steps[MAX_STEPS]; /* indexes into kinds */
} wf_type;

static const wf_type wf_types[] = {
    {"code_review", "Code review", 40, 5, {0, 1, 2, 3, 4}},
    {"feature_development", "Feature development", 25, 3, {5, 6, 7}},
    {"deployment", "Deployment", 20, 3, {8, 9, 4}},
    {"architecture", "Architecture review", 15, 4, {10, 11, 12, 13}},
};
#define N_WF_TYPES ((int)(sizeof wf_types / sizeof wf_types[0]))

/* USD per 1,000 tokens from the seed, as micro-dollars per token. */
static const struct {
    const char *model;
    int64_t micros_per_token;
} prices[] = {
    {"openai-o3", 30},        {"o3-mini", 15}, {"claude-opus-4.1", 15}, {"claude-sonnet-4.5", 8},
    {"gemini-3.0-ultra", 10}, {"grok-4", 12},  {"llama-4-405b", 0},
};

static const char *const repos[] = {"payments-service", "auth-gateway",  "web-dashboard",
                                    "mobile-app",       "data-pipeline", "registry-api",
                                    "billing-engine",   "search-indexer"};
#define N_REPOS ((int)(sizeof repos / sizeof repos[0]))

static const char *const failures[] = {
    "Model rate limit exceeded (429)", "Timed out after 300 s",     "Test suite failed: 3 failures",
    "Context window exceeded",         "Upstream API returned 503", "Invalid tool call output",
};
#define N_FAILURES ((int)(sizeof failures / sizeof failures[0]))

/* ------------------------------------------------------------------------ */
/* Statements.                                                              */

/* SQL reads best laid out by hand. */
/* clang-format off */

/* A recordset column (int8 microseconds) as a timestamptz. */
#define PG_RTS(col) "('epoch'::timestamptz + r." col " * interval '1 microsecond')"

static const tia__sql sql_wf_row = {
    "bulk.workflow",
    NULL,
    "INSERT INTO workflows (id, name, description, status, workflow_type, initiator, started_at, "
    "completed_at, duration_ms, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
};
static const tia__sql sql_wf_batch = {
    "bulk.workflows",
    "INSERT INTO workflows (id, name, description, status, workflow_type, initiator, started_at, "
    "completed_at, duration_ms, created_at, updated_at) "
    "SELECT r.id, r.name, r.description, r.status, r.workflow_type, r.initiator, "
    PG_RTS("started_at") ", " PG_RTS("completed_at") ", r.duration_ms, " PG_RTS("created_at")
    ", " PG_RTS("updated_at") " FROM json_to_recordset($1::json) AS r(id uuid, name text, "
    "description text, status text, workflow_type text, initiator text, started_at int8, "
    "completed_at int8, duration_ms int, created_at int8, updated_at int8)",
    NULL,
};
static const char *const wf_keys[] = {"id",         "name",         "description", "status",
                                      "workflow_type", "initiator", "started_at",  "completed_at",
                                      "duration_ms", "created_at",  "updated_at"};

static const tia__sql sql_task_row = {
    "bulk.task",
    NULL,
    "INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, status, "
    "input_data, output_data, error_message, started_at, completed_at, duration_ms, "
    "tokens_used, cost_usd_micros, retry_count, parent_task_id, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
};
static const tia__sql sql_task_batch = {
    "bulk.tasks",
    "INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description, status, "
    "input_data, output_data, error_message, started_at, completed_at, duration_ms, "
    "tokens_used, cost_usd, retry_count, parent_task_id, created_at) "
    "SELECT r.id, r.agent_id, r.workflow_id, r.task_type, r.description, r.status, "
    "r.input_data::jsonb, r.output_data::jsonb, r.error_message, " PG_RTS("started_at") ", "
    PG_RTS("completed_at") ", r.duration_ms, r.tokens_used, r.cost_micros / 1000000.0, "
    "r.retry_count, r.parent_task_id, " PG_RTS("created_at")
    " FROM json_to_recordset($1::json) AS r(id uuid, agent_id text, workflow_id uuid, "
    "task_type text, description text, status text, input_data text, output_data text, "
    "error_message text, started_at int8, completed_at int8, duration_ms int, tokens_used int, "
    "cost_micros int8, retry_count int, parent_task_id uuid, created_at int8)",
    NULL,
};
static const char *const task_keys[] = {
    "id",          "agent_id",   "workflow_id",  "task_type",     "description", "status",
    "input_data",  "output_data", "error_message", "started_at",  "completed_at", "duration_ms",
    "tokens_used", "cost_micros", "retry_count", "parent_task_id", "created_at"};

static const tia__sql sql_inter_row = {
    "bulk.interaction",
    NULL,
    "INSERT INTO agent_interactions (id, workflow_id, from_agent_id, to_agent_id, "
    "interaction_type, message, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};
static const tia__sql sql_inter_batch = {
    "bulk.interactions",
    "INSERT INTO agent_interactions (id, workflow_id, from_agent_id, to_agent_id, "
    "interaction_type, message, payload, created_at) "
    "SELECT r.id, r.workflow_id, r.from_agent_id, r.to_agent_id, r.interaction_type, r.message, "
    "r.payload::jsonb, " PG_RTS("created_at") " FROM json_to_recordset($1::json) AS r(id uuid, "
    "workflow_id uuid, from_agent_id text, to_agent_id text, interaction_type text, message "
    "text, payload text, created_at int8)",
    NULL,
};
static const char *const inter_keys[] = {"id",      "workflow_id", "from_agent_id",
                                         "to_agent_id", "interaction_type", "message",
                                         "payload", "created_at"};

static const tia__sql sql_metric_row = {
    "bulk.metric",
    NULL,
    "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value, metric_unit, "
    "recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
};
static const tia__sql sql_metric_batch = {
    "bulk.metrics",
    "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value, metric_unit, "
    "recorded_at) SELECT r.id, r.agent_id, r.metric_type, r.metric_value, r.metric_unit, "
    PG_RTS("recorded_at") " FROM json_to_recordset($1::json) AS r(id uuid, agent_id text, "
    "metric_type text, metric_value float8, metric_unit text, recorded_at int8)",
    NULL,
};
static const char *const metric_keys[] = {"id",           "agent_id",    "metric_type",
                                          "metric_value", "metric_unit", "recorded_at"};

static const tia__sql sql_agent_model = {
    "bulk.agent_model",
    "SELECT model FROM agents WHERE id = $1",
    "SELECT model FROM agents WHERE id = ?1",
};
/* clang-format on */

/* ------------------------------------------------------------------------ */
/* Sinks: one per table, rows buffered as JSON (PostgreSQL) or run at once. */

typedef struct bulk_table {
    const tia__sql *row;   /* SQLite */
    const tia__sql *batch; /* PostgreSQL */
    const char *const *keys;
    int ncols;
} bulk_table;

#define TABLE(prefix)                                                                              \
    {                                                                                              \
        &sql_##prefix##_row, &sql_##prefix##_batch, prefix##_keys,                                 \
            (int)(sizeof prefix##_keys / sizeof prefix##_keys[0])                                  \
    }
static const bulk_table t_wf = TABLE(wf);
static const bulk_table t_task = TABLE(task);
static const bulk_table t_inter = TABLE(inter);
static const bulk_table t_metric = TABLE(metric);

typedef struct sink {
    const bulk_table *t;
    char *buf;
    size_t len, cap;
    int64_t buffered; /* rows in buf */
    int64_t written;  /* rows sent to the database */
} sink;

static int sink_reserve(sink *k, size_t more)
{
    if (k->len + more + 2 <= k->cap)
        return 0;
    size_t cap = k->cap ? k->cap : 1 << 20;
    while (cap < k->len + more + 2)
        cap *= 2;
    char *grown = realloc(k->buf, cap);
    if (grown == NULL)
        return -1;
    k->buf = grown;
    k->cap = cap;
    return 0;
}

static int sink_put(sink *k, const char *s, size_t n)
{
    if (sink_reserve(k, n) != 0)
        return -1;
    memcpy(k->buf + k->len, s, n);
    k->len += n;
    return 0;
}

/* A JSON string literal; the generated texts are ASCII, but escape them properly anyway. */
static int sink_put_string(sink *k, const char *s)
{
    if (sink_reserve(k, strlen(s) * 6 + 2) != 0)
        return -1;
    char *o = k->buf + k->len;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    k->len = (size_t)(o - k->buf);
    return 0;
}

static int sink_put_value(sink *k, const tia__param *p)
{
    char num[40];
    switch (p->type) {
    case TIA__P_TEXT: return sink_put_string(k, p->s);
    case TIA__P_INT:
    case TIA__P_COST: snprintf(num, sizeof num, "%" PRId64, p->i); break;
    case TIA__P_DOUBLE: snprintf(num, sizeof num, "%.17g", p->d); break;
    case TIA__P_BOOL: snprintf(num, sizeof num, "%s", p->i ? "true" : "false"); break;
    case TIA__P_NULL:
    default: snprintf(num, sizeof num, "null"); break;
    }
    return sink_put(k, num, strlen(num));
}

static int sink_append_json(sink *k, const tia__param *p)
{
    if (sink_put(k, k->buffered ? ",{" : "[{", 2) != 0)
        return -1;
    for (int i = 0; i < k->t->ncols; i++) {
        const char *key = k->t->keys[i];
        if ((i > 0 && sink_put(k, ",", 1) != 0) || sink_put(k, "\"", 1) != 0 ||
            sink_put(k, key, strlen(key)) != 0 || sink_put(k, "\":", 2) != 0 ||
            sink_put_value(k, &p[i]) != 0)
            return -1;
    }
    return sink_put(k, "}", 1);
}

static int sink_add(tia_store *s, sink *k, const tia__param *p, tia_error *err)
{
    if (tia_store_backend(s) == TIA_BACKEND_SQLITE) {
        int rc = tia__db_exec(s, k->t->row, p, k->t->ncols, NULL, err);
        if (rc == 0)
            k->written++;
        return rc;
    }
    if (sink_append_json(k, p) != 0)
        return tia_error_set(err, TIA_ENOMEM, "out of memory buffering %s", k->t->batch->name);
    k->buffered++;
    return 0;
}

static int sink_flush(tia_store *s, sink *k, tia_error *err)
{
    if (k->buffered == 0)
        return 0;
    if (sink_put(k, "]", 1) != 0)
        return tia_error_set(err, TIA_ENOMEM, "out of memory buffering %s", k->t->batch->name);
    k->buf[k->len] = '\0';
    tia__param p = tia__p_text(k->buf);
    int rc = tia__db_exec(s, k->t->batch, &p, 1, NULL, err);
    if (rc == 0)
        k->written += k->buffered;
    k->len = 0;
    k->buffered = 0;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The loader: time line, transactions, progress.                           */

typedef struct loader {
    tia_store *s;
    const tia__bulk_spec *spec;
    rng r;
    tia_time_us start, now;
    int64_t price[N_AGENTS]; /* micro-dollars per token */
    sink sinks[3];           /* in the order they are flushed (foreign keys) */
    int nsinks;
    int in_txn;
    int64_t txn_rows, batch;
    const char *phase;
    int64_t done, total;
    char last_standalone[TIA_UUID_BUF]; /* "" until one exists */
    tia_error *err;
} loader;

static int check_spec(const tia__bulk_spec *sp, tia_error *err)
{
    if (sp->tasks < 0)
        return tia_error_set(err, TIA_EINVAL, "tasks must be >= 0 (got %" PRId64 ")", sp->tasks);
    if (sp->metrics < 0)
        return tia_error_set(err, TIA_EINVAL, "metrics must be >= 0 (got %" PRId64 ")",
                             sp->metrics);
    if (sp->workflows < -1)
        return tia_error_set(err, TIA_EINVAL, "workflows must be >= 0 (got %" PRId64 ")",
                             sp->workflows);
    if (sp->days < 1 || sp->days > 3650)
        return tia_error_set(err, TIA_EINVAL, "days must be 1..3650 (got %d)", sp->days);
    return 0;
}

static void loader_init(loader *L, tia_store *s, const tia__bulk_spec *sp, uint64_t stream,
                        tia_error *err)
{
    memset(L, 0, sizeof *L);
    L->s = s;
    L->spec = sp;
    L->r.s = sp->seed ^ stream;
    L->now = sp->now > 0 ? sp->now : tia_now_us();
    L->now -= L->now % US_PER_MS;
    L->start = L->now - (int64_t)sp->days * US_PER_DAY;
    L->err = err;
}

static void loader_free(loader *L)
{
    if (L->in_txn)
        tia__db_rollback(L->s);
    for (int i = 0; i < L->nsinks; i++)
        free(L->sinks[i].buf);
}

/* Flushes every sink, commits, and (unless last) opens the next transaction. */
static int commit_batch(loader *L, int last)
{
    int rc = 0;
    for (int i = 0; i < L->nsinks && rc == 0; i++)
        rc = sink_flush(L->s, &L->sinks[i], L->err);
    if (rc == 0)
        rc = tia__db_commit(L->s, L->err);
    L->in_txn = 0;
    if (rc != 0)
        return rc;
    L->txn_rows = 0;
    if (L->spec->progress != NULL)
        L->spec->progress(L->spec->progress_ctx, L->phase, L->done, L->total);
    if (!last) {
        if ((rc = tia__db_begin(L->s, L->err)) != 0)
            return rc;
        L->in_txn = 1;
    }
    return 0;
}

static int maybe_commit(loader *L)
{
    return L->txn_rows >= L->batch ? commit_batch(L, 0) : 0;
}

/* A point of the time line: item k of n, evenly spread with jitter, whole ms. */
static tia_time_us timeline_at(loader *L, int64_t k, int64_t n)
{
    double f = ((double)k + rng_unit(&L->r)) / (double)n;
    tia_time_us t = L->start + (int64_t)(f * (double)(L->now - L->start));
    t -= t % US_PER_MS;
    return t < L->now ? t : L->now;
}

static int load_prices(loader *L)
{
    for (int a = 0; a < N_AGENTS; a++) {
        tia__param p = tia__p_text(agent_ids[a]);
        tia__rows *r = NULL;
        int rc = tia__db_query(L->s, &sql_agent_model, &p, 1, &r, L->err);
        if (rc != 0)
            return rc;
        rc = tia__rows_next(r, L->err);
        const char *model = rc > 0 ? tia__col_text(r, 0) : NULL;
        L->price[a] = 0;
        for (size_t i = 0; model != NULL && i < sizeof prices / sizeof prices[0]; i++)
            if (strcmp(prices[i].model, model) == 0)
                L->price[a] = prices[i].micros_per_token;
        tia__rows_free(r);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return tia_error_set(L->err, TIA_ENOTFOUND,
                                 "agent '%s' (one of the five seed agents) does not exist",
                                 agent_ids[a]);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Tasks.                                                                   */

typedef enum outcome {
    OUT_COMPLETED,
    OUT_FAILED,
    OUT_CANCEL_RUNNING,
    OUT_CANCEL_PENDING,
    OUT_RUNNING,
    OUT_PENDING
} outcome;

typedef struct task_row {
    char id[TIA_UUID_BUF];
    const task_kind *kind;
    const char *workflow_id; /* NULL for none */
    const char *parent_id;   /* NULL for none */
    int repo, number;
    tia_run_status status;
    tia_time_us created, started, completed;
    int64_t duration_ms, tokens, cost, retries;
    const char *error;
} task_row;

/*
 * Most runs end well; pending and running only happen in the last week (older
 * work has long been picked up), so they come out as "a few".
 */
static outcome roll_outcome(loader *L, tia_time_us created)
{
    double u = rng_unit(&L->r);
    outcome o = u < 0.88   ? OUT_COMPLETED
                : u < 0.96 ? OUT_FAILED
                : u < 0.98 ? OUT_CANCEL_RUNNING
                : u < 0.99 ? OUT_RUNNING
                           : OUT_PENDING;
    if ((o == OUT_RUNNING || o == OUT_PENDING) && created < L->now - 7 * US_PER_DAY)
        o = OUT_COMPLETED;
    return o;
}

/* Plays a task from `ready` (when it could start) to its outcome, never past now. */
static void play_task(loader *L, task_row *t, tia_time_us ready, outcome out)
{
    t->status = TIA_PENDING;
    t->started = t->completed = TIA_TIME_NONE;
    t->duration_ms = -1;
    t->tokens = t->cost = t->retries = 0;
    t->error = NULL;
    if (out == OUT_PENDING)
        return;
    if (out == OUT_CANCEL_PENDING) {
        t->status = TIA_CANCELLED;
        t->completed = ready;
        return;
    }
    tia_time_us start = ready + (int64_t)rng_lognormal(&L->r, 1500, 1.0) * US_PER_MS;
    if (start > L->now)
        return;
    t->started = start;
    double ms = rng_lognormal(&L->r, t->kind->median_s * 1000.0, 0.6);
    if (out == OUT_FAILED || out == OUT_CANCEL_RUNNING)
        ms *= 0.1 + 0.8 * rng_unit(&L->r);
    int64_t dur = ms < 50 ? 50 : ms > 3.6e6 ? 3600000 : (int64_t)ms;
    if (out == OUT_RUNNING || start + dur * US_PER_MS > L->now) {
        t->status = TIA_RUNNING;
        return;
    }
    t->completed = start + dur * US_PER_MS;
    t->duration_ms = dur;
    if (out == OUT_CANCEL_RUNNING) {
        t->status = TIA_CANCELLED;
        return;
    }
    double tok = rng_lognormal(&L->r, t->kind->tokens, 0.5);
    tok = tok < 50 ? 50 : tok > 200000 ? 200000 : tok;
    double u = rng_unit(&L->r);
    if (out == OUT_FAILED) {
        t->status = TIA_FAILED;
        tok *= 0.05 + 0.45 * u;
        t->retries = rng_below(&L->r, 4);
        t->error = failures[rng_below(&L->r, N_FAILURES)];
    } else {
        t->status = TIA_COMPLETED;
        t->retries = u < 0.08 ? 1 : u < 0.10 ? 2 : 0;
    }
    t->tokens = (int64_t)tok;
    t->cost = t->tokens * L->price[t->kind->agent];
}

static int emit_task(loader *L, const task_row *t)
{
    char desc[160], input[160], output[96];
    snprintf(desc, sizeof desc, "%s %s #%d", t->kind->verb, repos[t->repo], t->number);
    snprintf(input, sizeof input, "{\"repository\":\"tokyo-ia/%s\",\"ref\":%d,\"priority\":%d}",
             repos[t->repo], t->number, t->number % 3);
    snprintf(output, sizeof output, "{\"result\":\"ok\",\"findings\":%d,\"tokens\":%" PRId64 "}",
             t->number % 7, t->tokens);
    tia__param p[17] = {
        tia__p_text(t->id),
        tia__p_text(agent_ids[t->kind->agent]),
        tia__p_text(t->workflow_id),
        tia__p_text(t->kind->type),
        tia__p_text(desc),
        tia__p_text(tia_run_status_name(t->status)),
        tia__p_text(input),
        tia__p_text(t->status == TIA_COMPLETED ? output : NULL),
        tia__p_text(t->error),
        tia__p_time(t->started),
        tia__p_time(t->completed),
        t->duration_ms >= 0 ? tia__p_int(t->duration_ms) : tia__p_null(),
        tia__p_int(t->tokens),
        tia__p_cost(t->cost),
        tia__p_int(t->retries),
        tia__p_text(t->parent_id),
        tia__p_time(t->created),
    };
    L->txn_rows++;
    L->done++;
    return sink_add(L->s, &L->sinks[1], p, L->err);
}

static void task_init(loader *L, task_row *t, const task_kind *k, tia_time_us created)
{
    memset(t, 0, sizeof *t);
    tia__store_uuid7(L->s, t->id);
    t->kind = k;
    t->created = created;
    t->repo = (int)rng_below(&L->r, N_REPOS);
    t->number = 1 + (int)rng_below(&L->r, 9999);
}

/* A task outside any workflow; one in twenty is a follow-up of the one before. */
static int gen_standalone(loader *L, tia_time_us created)
{
    int64_t w = rng_below(&L->r, 100);
    int agent = 0;
    while (agent < N_AGENTS - 1 && w >= agent_weight[agent])
        w -= agent_weight[agent++];
    int n = 0, pick = -1;
    for (int i = 0; i < N_KINDS; i++)
        if (kinds[i].agent == agent && rng_below(&L->r, ++n) == 0)
            pick = i;
    task_row t;
    task_init(L, &t, &kinds[pick], created);
    if (L->last_standalone[0] != '\0' && rng_below(&L->r, 20) == 0)
        t.parent_id = L->last_standalone;
    play_task(L, &t, created, roll_outcome(L, created));
    int rc = emit_task(L, &t);
    memcpy(L->last_standalone, t.id, sizeof t.id);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Workflows and their interactions.                                        */

static int emit_interaction(loader *L, const char *wf_id, const task_row *from, const task_row *to,
                            const char *type, tia_time_us at)
{
    char id[TIA_UUID_BUF], msg[160], payload[120];
    tia__store_uuid7(L->s, id);
    snprintf(msg, sizeof msg, "%s: %s -> %s", type, from->kind->type, to->kind->type);
    snprintf(payload, sizeof payload, "{\"from_task\":\"%s\",\"to_task\":\"%s\"}", from->id,
             to->id);
    tia__param p[8] = {
        tia__p_text(id),
        tia__p_text(wf_id),
        tia__p_text(agent_ids[from->kind->agent]),
        tia__p_text(agent_ids[to->kind->agent]),
        tia__p_text(type),
        tia__p_text(msg),
        tia__p_text(payload),
        tia__p_time(at),
    };
    return sink_add(L->s, &L->sinks[2], p, L->err);
}

/* Handoffs between consecutive steps that ran, feedback on a failure, a final review. */
static int emit_interactions(loader *L, const char *wf_id, const wf_type *wt, const task_row *st,
                             int n, tia_run_status status)
{
    int rc = 0;
    const char *pass = strcmp(wt->type, "architecture") == 0 ? "collaboration" : "handoff";
    for (int k = 1; k < n && rc == 0 && st[k].started != TIA_TIME_NONE; k++) {
        if (st[k].kind->agent != st[k - 1].kind->agent)
            rc = emit_interaction(L, wf_id, &st[k - 1], &st[k], pass, st[k - 1].completed);
        if (rc == 0 && st[k].status == TIA_FAILED && st[k].kind->agent != st[k - 1].kind->agent)
            rc = emit_interaction(L, wf_id, &st[k], &st[k - 1], "feedback", st[k].completed);
    }
    if (rc == 0 && status == TIA_COMPLETED && n >= 3 && st[n - 1].kind->agent != st[0].kind->agent)
        rc = emit_interaction(L, wf_id, &st[n - 1], &st[0], "review", st[n - 1].completed);
    return rc;
}

/* The outcome the step `k` of a workflow heads for, given how the steps before ended. */
static outcome step_outcome(outcome wo, int k, int at, int stopped, tia_run_status stop)
{
    if (stopped)
        return stop == TIA_FAILED || stop == TIA_CANCELLED ? OUT_CANCEL_PENDING : OUT_PENDING;
    if (wo == OUT_PENDING)
        return OUT_PENDING;
    if (wo == OUT_COMPLETED || k < at)
        return OUT_COMPLETED;
    return wo;
}

/* Runs the steps in order; returns the workflow's status. */
static tia_run_status play_steps(loader *L, const wf_type *wt, const char *wf_id,
                                 tia_time_us created, task_row *st, int n)
{
    outcome wo = roll_outcome(L, created);
    int at = (int)rng_below(&L->r, n);
    int stopped = 0;
    tia_run_status stop = TIA_COMPLETED;
    tia_time_us ready = created + 200 * US_PER_MS;
    int repo = (int)rng_below(&L->r, N_REPOS), number = 1 + (int)rng_below(&L->r, 9999);
    for (int k = 0; k < n; k++) {
        task_row *t = &st[k];
        task_init(L, t, &kinds[wt->steps[k]], created + k * US_PER_MS);
        t->repo = repo;
        t->number = number;
        t->workflow_id = wf_id;
        t->parent_id = k > 0 ? st[k - 1].id : NULL;
        play_task(L, t, ready, step_outcome(wo, k, at, stopped, stop));
        if (!stopped && t->status != TIA_COMPLETED) {
            stopped = 1;
            stop = t->status;
        }
        if (t->completed != TIA_TIME_NONE)
            ready = t->completed;
    }
    if (n == 0 || (stop == TIA_PENDING && st[0].status == TIA_PENDING))
        return TIA_PENDING;
    return stop == TIA_PENDING ? TIA_RUNNING : stop;
}

static int emit_workflow(loader *L, const char *id, const wf_type *wt, int number, int repo,
                         tia_run_status status, tia_time_us created, const task_row *st, int n)
{
    char name[160], desc[200], initiator[32];
    snprintf(name, sizeof name, "%s: %s #%d", wt->title, repos[repo], number);
    snprintf(desc, sizeof desc, "%s of tokyo-ia/%s, %d steps", wt->title, repos[repo], n);
    int64_t who = rng_below(&L->r, 4);
    snprintf(initiator, sizeof initiator, "%s", who == 0 ? "github-bot" : "ci-pipeline");
    if (who >= 2)
        snprintf(initiator, sizeof initiator, "user-%03d", (int)rng_below(&L->r, 50));
    tia_time_us started = n > 0 ? st[0].started : TIA_TIME_NONE, completed = TIA_TIME_NONE;
    if (status == TIA_COMPLETED || status == TIA_FAILED || status == TIA_CANCELLED)
        for (int k = 0; k < n; k++)
            if (st[k].completed != TIA_TIME_NONE && st[k].completed > completed)
                completed = st[k].completed;
    int64_t dur = -1;
    if (started != TIA_TIME_NONE && completed != TIA_TIME_NONE)
        dur = (completed - started) / US_PER_MS;
    tia_time_us updated = completed != TIA_TIME_NONE ? completed
                          : started != TIA_TIME_NONE ? started
                                                     : created;
    tia__param p[11] = {
        tia__p_text(id),
        tia__p_text(name),
        tia__p_text(desc),
        tia__p_text(tia_run_status_name(status)),
        tia__p_text(wt->type),
        tia__p_text(initiator),
        tia__p_time(started),
        tia__p_time(completed),
        dur >= 0 ? tia__p_int(dur) : tia__p_null(),
        tia__p_time(created),
        tia__p_time(updated),
    };
    return sink_add(L->s, &L->sinks[0], p, L->err);
}

static int gen_workflow(loader *L, const wf_type *wt, int n, tia_time_us created)
{
    char id[TIA_UUID_BUF];
    task_row st[MAX_STEPS];
    tia__store_uuid7(L->s, id);
    tia_run_status status = play_steps(L, wt, id, created, st, n);
    int number = n > 0 ? st[0].number : 1 + (int)rng_below(&L->r, 9999);
    int repo = n > 0 ? st[0].repo : (int)rng_below(&L->r, N_REPOS);
    int rc = emit_workflow(L, id, wt, number, repo, status, created, st, n);
    for (int k = 0; k < n && rc == 0; k++)
        rc = emit_task(L, &st[k]);
    if (rc == 0)
        rc = emit_interactions(L, id, wt, st, n, status);
    return rc;
}

/*
 * Chooses every workflow's type up front (steps[i] = its number of tasks), so that
 * the standalone count is known; when the workflows' steps exceed the task count,
 * the newest workflows lose steps (down to none: a pending workflow).
 */
static int plan_workflows(loader *L, int64_t nwf, unsigned char **types, unsigned char **steps,
                          int64_t *in_workflows)
{
    *types = malloc(nwf > 0 ? (size_t)nwf : 1);
    *steps = malloc(nwf > 0 ? (size_t)nwf : 1);
    if (*types == NULL || *steps == NULL)
        return tia_error_set(L->err, TIA_ENOMEM, "out of memory planning %" PRId64 " workflows",
                             nwf);
    int64_t total = 0;
    for (int64_t i = 0; i < nwf; i++) {
        int64_t w = rng_below(&L->r, 100);
        int ty = 0;
        while (ty < N_WF_TYPES - 1 && w >= wf_types[ty].weight)
            w -= wf_types[ty++].weight;
        (*types)[i] = (unsigned char)ty;
        (*steps)[i] = (unsigned char)wf_types[ty].nsteps;
        total += wf_types[ty].nsteps;
    }
    for (int64_t i = nwf - 1; i >= 0 && total > L->spec->tasks; i--) {
        int64_t cut = total - L->spec->tasks < (*steps)[i] ? total - L->spec->tasks : (*steps)[i];
        (*steps)[i] = (unsigned char)((*steps)[i] - cut);
        total -= cut;
    }
    *in_workflows = total;
    return 0;
}

static int run_timeline(loader *L, int64_t nwf, const unsigned char *types,
                        const unsigned char *steps, int64_t standalone)
{
    int64_t wleft = nwf, sleft = standalone, n = nwf + standalone;
    for (int64_t k = 0; k < n; k++) {
        tia_time_us t = timeline_at(L, k, n);
        int rc;
        if (rng_below(&L->r, wleft + sleft) < wleft) {
            int64_t i = nwf - wleft--;
            rc = gen_workflow(L, &wf_types[types[i]], steps[i], t);
        } else {
            sleft--;
            rc = gen_standalone(L, t);
        }
        if (rc == 0)
            rc = maybe_commit(L);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int begin_load(loader *L, const char *phase, int64_t total, int64_t pg_batch)
{
    L->phase = phase;
    L->total = total;
    L->batch = tia_store_backend(L->s) == TIA_BACKEND_POSTGRES ? pg_batch : LITE_BATCH;
    int rc = tia__db_begin(L->s, L->err);
    if (rc == 0)
        L->in_txn = 1;
    return rc;
}

int tia__bulk_load_tasks(tia_store *s, const tia__bulk_spec *spec, tia__bulk_counts *out,
                         tia_error *err)
{
    loader L;
    unsigned char *types = NULL, *steps = NULL;
    int rc = check_spec(spec, err);
    if (rc != 0)
        return rc;
    loader_init(&L, s, spec, UINT64_C(0x7461736b73), err);
    L.sinks[0].t = &t_wf;
    L.sinks[1].t = &t_task;
    L.sinks[2].t = &t_inter;
    L.nsinks = 3;
    int64_t nwf = spec->workflows >= 0 ? spec->workflows : spec->tasks / 5, in_wf = 0;
    if ((rc = load_prices(&L)) != 0 || (rc = plan_workflows(&L, nwf, &types, &steps, &in_wf)) != 0)
        goto done;
    if ((rc = begin_load(&L, "tasks", spec->tasks, PG_TASK_BATCH)) != 0)
        goto done;
    rc = run_timeline(&L, nwf, types, steps, spec->tasks - in_wf);
    if (rc == 0)
        rc = commit_batch(&L, 1);
done:
    if (out != NULL) {
        out->workflows = L.sinks[0].written;
        out->tasks = L.sinks[1].written;
        out->interactions = L.sinks[2].written;
    }
    loader_free(&L);
    free(types);
    free(steps);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Metrics.                                                                 */

static int gen_metric(loader *L, tia_time_us at)
{
    static const char *const types[] = {"latency", "tokens", "cost", "success_rate", "error_rate"};
    static const char *const units[] = {"ms", "tokens", "usd", "percent", "percent"};
    int a = (int)rng_below(&L->r, N_AGENTS), ty = (int)rng_below(&L->r, 5);
    double v;
    switch (ty) {
    case 0: v = rng_lognormal(&L->r, agent_latency_ms[a], 0.5); break;
    case 1: v = floor(rng_lognormal(&L->r, 4000, 0.6)); break;
    case 2: v = floor(rng_lognormal(&L->r, 4000, 0.6)) * (double)L->price[a] / 1e6; break;
    case 3: v = 100.0 - fmin(100.0, rng_lognormal(&L->r, 3, 0.8)); break;
    default: v = fmin(100.0, rng_lognormal(&L->r, 2.5, 0.8)); break;
    }
    char id[TIA_UUID_BUF];
    tia__store_uuid7(L->s, id);
    tia__param p[6] = {
        tia__p_text(id),        tia__p_text(agent_ids[a]),
        tia__p_text(types[ty]), tia__p_double(round(v * 1000.0) / 1000.0),
        tia__p_text(units[ty]), tia__p_time(at),
    };
    L->txn_rows++;
    L->done++;
    return sink_add(L->s, &L->sinks[0], p, L->err);
}

int tia__bulk_load_metrics(tia_store *s, const tia__bulk_spec *spec, tia__bulk_counts *out,
                           tia_error *err)
{
    loader L;
    int rc = check_spec(spec, err);
    if (rc != 0)
        return rc;
    loader_init(&L, s, spec, UINT64_C(0x6d657472696373), err);
    L.sinks[0].t = &t_metric;
    L.nsinks = 1;
    if ((rc = load_prices(&L)) != 0 ||
        (rc = begin_load(&L, "metrics", spec->metrics, PG_METRIC_BATCH)) != 0)
        goto done;
    for (int64_t i = 0; i < spec->metrics && rc == 0; i++) {
        rc = gen_metric(&L, timeline_at(&L, i, spec->metrics));
        if (rc == 0)
            rc = maybe_commit(&L);
    }
    if (rc == 0)
        rc = commit_batch(&L, 1);
done:
    if (out != NULL)
        out->metrics = L.sinks[0].written;
    loader_free(&L);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Counters, recomputed.                                                    */

/*
 * The agents' counters keep counting archived tasks (migration 0013 / SQLite
 * 0011), which are no longer in agent_tasks: an agent's recomputation is its hot
 * tasks plus its archived_task_totals row (completed, failed, tokens, cost, and
 * the archived tasks that are neither, which count as one of pending, running or
 * cancelled). The archive keeps no completed-only durations, so the average
 * latency of an agent with archived completed tasks is checked against its
 * agent_task_totals row rather than recomputed, and counted apart. Workflows move
 * with all of their tasks: theirs are recomputed from agent_tasks alone.
 */
/* clang-format off */
static const tia__sql sql_check = {
    "bulk.check_counters",
    "WITH t AS (SELECT agent_id, "
    "count(*) FILTER (WHERE status = 'pending') AS pending, "
    "count(*) FILTER (WHERE status = 'running') AS running, "
    "count(*) FILTER (WHERE status = 'completed') AS completed, "
    "count(*) FILTER (WHERE status = 'failed') AS failed, "
    "count(*) FILTER (WHERE status = 'cancelled') AS cancelled, "
    "sum(tokens_used) AS tokens, sum(cost_usd) AS cost, "
    "avg(duration_ms) FILTER (WHERE status = 'completed') AS latency "
    "FROM agent_tasks GROUP BY agent_id), "
    "c AS (SELECT a.total_tasks_completed AS done, a.total_tokens_used AS tok, "
    "a.average_latency_ms AS lat, a.success_rate AS rate, x.agent_id AS xid, "
    "x.pending, x.running, x.completed, x.failed, x.cancelled, x.tokens, x.cost_usd, "
    "CASE WHEN x.completed_duration_n = 0 THEN 0::float8 "
    "ELSE x.completed_duration_sum::float8 / x.completed_duration_n END AS xl, "
    "COALESCE(t.pending, 0) AS tp, COALESCE(t.running, 0) AS tr, "
    "COALESCE(t.completed, 0) + COALESCE(z.completed, 0) AS tc, "
    "COALESCE(t.failed, 0) + COALESCE(z.failed, 0) AS tf, COALESCE(t.cancelled, 0) AS tx, "
    "COALESCE(z.tasks - z.completed - z.failed, 0) AS zo, COALESCE(z.completed, 0) AS zc, "
    "COALESCE(t.tokens, 0) + COALESCE(z.tokens, 0) AS tt, "
    "COALESCE(t.cost, 0) + COALESCE(z.cost_usd, 0) AS tcost, "
    "COALESCE(t.latency, 0)::float8 AS tl "
    "FROM agents a LEFT JOIN agent_task_totals x ON x.agent_id = a.id "
    "LEFT JOIN t ON t.agent_id = a.id LEFT JOIN archived_task_totals z ON z.agent_id = a.id) "
    "SELECT count(*), count(*) FILTER (WHERE xid IS NULL OR done IS DISTINCT FROM tc "
    "OR tok IS DISTINCT FROM tt OR completed <> tc OR failed <> tf "
    "OR pending + running + cancelled <> tp + tr + tx + zo "
    "OR (zo = 0 AND (pending <> tp OR running <> tr OR cancelled <> tx)) "
    "OR tokens <> tt OR cost_usd <> tcost "
    "OR COALESCE(abs(lat - CASE WHEN zc = 0 THEN tl ELSE xl END) "
    "> 1e-6 * greatest(1, CASE WHEN zc = 0 THEN tl ELSE xl END), true) "
    "OR COALESCE(abs(rate - CASE WHEN tc + tf = 0 THEN 100 "
    "ELSE 100.0 * tc / (tc + tf) END::float8) > 1e-9, true)), "
    "(SELECT count(*) FROM workflows), "
    "(SELECT count(*) FROM workflows w LEFT JOIN (SELECT workflow_id, count(*) AS n, "
    "count(*) FILTER (WHERE status = 'completed') AS c, "
    "count(*) FILTER (WHERE status = 'failed') AS f, sum(tokens_used) AS tok, "
    "sum(cost_usd) AS cost FROM agent_tasks WHERE workflow_id IS NOT NULL "
    "GROUP BY workflow_id) s ON s.workflow_id = w.id "
    "WHERE w.total_tasks IS DISTINCT FROM COALESCE(s.n, 0) "
    "OR w.completed_tasks IS DISTINCT FROM COALESCE(s.c, 0) "
    "OR w.failed_tasks IS DISTINCT FROM COALESCE(s.f, 0) "
    "OR w.total_tokens_used IS DISTINCT FROM COALESCE(s.tok, 0) "
    "OR w.total_cost_usd IS DISTINCT FROM COALESCE(s.cost, 0)), "
    "count(*) FILTER (WHERE zc > 0) "
    "FROM c",
    "WITH t AS (SELECT agent_id, "
    "count(*) FILTER (WHERE status = 'pending') AS pending, "
    "count(*) FILTER (WHERE status = 'running') AS running, "
    "count(*) FILTER (WHERE status = 'completed') AS completed, "
    "count(*) FILTER (WHERE status = 'failed') AS failed, "
    "count(*) FILTER (WHERE status = 'cancelled') AS cancelled, "
    "sum(tokens_used) AS tokens, sum(cost_usd_micros) AS cost, "
    "avg(duration_ms) FILTER (WHERE status = 'completed') AS latency "
    "FROM agent_tasks GROUP BY agent_id), "
    "c AS (SELECT a.total_tasks_completed AS done, a.total_tokens_used AS tok, "
    "a.average_latency_ms AS lat, a.success_rate AS rate, x.agent_id AS xid, "
    "x.pending, x.running, x.completed, x.failed, x.cancelled, x.tokens, x.cost_usd_micros, "
    "CASE WHEN x.completed_duration_n = 0 THEN 0.0 "
    "ELSE CAST(x.completed_duration_sum AS REAL) / x.completed_duration_n END AS xl, "
    "COALESCE(t.pending, 0) AS tp, COALESCE(t.running, 0) AS tr, "
    "COALESCE(t.completed, 0) + COALESCE(z.completed, 0) AS tc, "
    "COALESCE(t.failed, 0) + COALESCE(z.failed, 0) AS tf, COALESCE(t.cancelled, 0) AS tx, "
    "COALESCE(z.tasks - z.completed - z.failed, 0) AS zo, COALESCE(z.completed, 0) AS zc, "
    "COALESCE(t.tokens, 0) + COALESCE(z.tokens, 0) AS tt, "
    "COALESCE(t.cost, 0) + COALESCE(z.cost_usd_micros, 0) AS tcost, "
    "COALESCE(t.latency, 0.0) AS tl "
    "FROM agents a LEFT JOIN agent_task_totals x ON x.agent_id = a.id "
    "LEFT JOIN t ON t.agent_id = a.id LEFT JOIN archived_task_totals z ON z.agent_id = a.id) "
    "SELECT count(*), count(*) FILTER (WHERE xid IS NULL OR done IS NOT tc "
    "OR tok IS NOT tt OR completed <> tc OR failed <> tf "
    "OR pending + running + cancelled <> tp + tr + tx + zo "
    "OR (zo = 0 AND (pending <> tp OR running <> tr OR cancelled <> tx)) "
    "OR tokens <> tt OR cost_usd_micros <> tcost "
    "OR COALESCE(abs(lat - CASE WHEN zc = 0 THEN tl ELSE xl END) "
    "> 1e-6 * max(1, CASE WHEN zc = 0 THEN tl ELSE xl END), 1) "
    "OR COALESCE(abs(rate - CASE WHEN tc + tf = 0 THEN 100.0 "
    "ELSE 100.0 * tc / (tc + tf) END) > 1e-9, 1)), "
    "(SELECT count(*) FROM workflows), "
    "(SELECT count(*) FROM workflows w LEFT JOIN (SELECT workflow_id, count(*) AS n, "
    "count(*) FILTER (WHERE status = 'completed') AS c, "
    "count(*) FILTER (WHERE status = 'failed') AS f, sum(tokens_used) AS tok, "
    "sum(cost_usd_micros) AS cost FROM agent_tasks WHERE workflow_id IS NOT NULL "
    "GROUP BY workflow_id) s ON s.workflow_id = w.id "
    "WHERE w.total_tasks IS NOT COALESCE(s.n, 0) "
    "OR w.completed_tasks IS NOT COALESCE(s.c, 0) "
    "OR w.failed_tasks IS NOT COALESCE(s.f, 0) "
    "OR w.total_tokens_used IS NOT COALESCE(s.tok, 0) "
    "OR w.total_cost_usd_micros IS NOT COALESCE(s.cost, 0)), "
    "count(*) FILTER (WHERE zc > 0) "
    "FROM c",
};
/* clang-format on */

int tia__bulk_check_counters(tia_store *s, tia__bulk_check *out, tia_error *err)
{
    memset(out, 0, sizeof *out);
    tia__rows *r = NULL;
    int rc = tia__db_query(s, &sql_check, NULL, 0, &r, err);
    if (rc != 0)
        return rc;
    rc = tia__rows_next(r, err);
    if (rc > 0) {
        out->agents = tia__col_int(r, 0);
        out->agents_bad = tia__col_int(r, 1);
        out->workflows = tia__col_int(r, 2);
        out->workflows_bad = tia__col_int(r, 3);
        out->agents_archived = tia__col_int(r, 4);
        rc = 0;
    } else if (rc == 0) {
        rc = tia_error_set(err, TIA_EDB, "bulk.check_counters returned no row");
    }
    tia__rows_free(r);
    return rc;
}
