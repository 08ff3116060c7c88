/*
 * The operational routes through a real server on both backends. /metrics is
 * parsed as Prometheus text format 0.0.4 by a strict reader (every line a
 * comment, a HELP/TYPE line or a well-formed sample; each family typed once,
 * before its samples, and contiguous; histograms cumulative with +Inf equal to
 * _count); request counters and latency histograms rise by exactly the
 * requests made; tasks by status, queue depth, tokens and cost per agent match
 * what SQL counts in agent_tasks. /health answers 200, and 503 when the
 * database is gone (PostgreSQL: the server's connections terminated; SQLite:
 * the table it reads renamed away by another connection), then 200 again once
 * it is back; /metrics keeps answering meanwhile. /ready answers 503 while the
 * server shuts down, on a connection still served during the grace period.
 */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../db/engine_test_util.h"
#include "api_test.h"

#define A "akira-001"
#define B "yuki-002"
#define WAIT_MS 15000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------- */
/* A strict reader of the Prometheus text format                             */
/* ------------------------------------------------------------------------- */

#define LABELS_MAX 8

typedef struct sample {
    char name[128];
    char *lk[LABELS_MAX], *lv[LABELS_MAX]; /* label names and unescaped values */
    size_t n_labels;
    double value;
} sample;

typedef struct family {
    char name[128];
    char type[16];
    int has_help, done; /* done: its samples ended (a family must be contiguous) */
} family;

typedef struct prom {
    sample *s;
    size_t n, cap;
    family *f;
    size_t n_f, cap_f;
} prom;

static void prom_free(prom *p)
{
    for (size_t i = 0; i < p->n; i++)
        for (size_t k = 0; k < p->s[i].n_labels; k++) {
            free(p->s[i].lk[k]);
            free(p->s[i].lv[k]);
        }
    free(p->s);
    free(p->f);
    memset(p, 0, sizeof *p);
}

static int name_ok(const char *s, size_t n, int colons)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colons && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

static family *fam_get(prom *p, const char *name, int create)
{
    for (size_t i = 0; i < p->n_f; i++)
        if (strcmp(p->f[i].name, name) == 0)
            return &p->f[i];
    if (!create)
        return NULL;
    if (p->n_f == p->cap_f) {
        p->cap_f = p->cap_f ? p->cap_f * 2 : 16;
        p->f = realloc(p->f, p->cap_f * sizeof *p->f);
        assert_non_null(p->f);
    }
    family *f = &p->f[p->n_f++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    return f;
}

/* The family a sample name belongs to (a histogram's _bucket, _sum and _count). */
static family *fam_of(prom *p, const char *name)
{
    family *f = fam_get(p, name, 0);
    if (f)
        return f;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(name), k = strlen(suffixes[i]);
        if (n > k && strcmp(name + n - k, suffixes[i]) == 0) {
            char base[128];
            snprintf(base, sizeof base, "%.*s", (int)(n - k), name);
            f = fam_get(p, base, 0);
            if (f && (strcmp(f->type, "histogram") == 0 || strcmp(f->type, "summary") == 0))
                return f;
        }
    }
    return NULL;
}

static double parse_value(const char *v, const char *line)
{
    if (strcmp(v, "+Inf") == 0)
        return INFINITY;
    if (strcmp(v, "-Inf") == 0)
        return -INFINITY;
    if (strcmp(v, "NaN") == 0)
        return NAN;
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end != '\0')
        fail_msg("bad sample value '%s' in: %s", v, line);
    return d;
}

/* Parses one sample line into p (fails the test on anything malformed). */
static void parse_sample(prom *p, const char *line, family **current)
{
    sample smp;
    memset(&smp, 0, sizeof smp);
    const char *c = line;
    size_t n = strcspn(c, "{ ");
    if (!name_ok(c, n, 1) || n >= sizeof smp.name)
        fail_msg("bad metric name in: %s", line);
    memcpy(smp.name, c, n);
    c += n;
    if (*c == '{') {
        c++;
        while (*c != '}') {
            size_t ln = strcspn(c, "=");
            if (!name_ok(c, ln, 0) || c[ln] != '=' || c[ln + 1] != '"')
                fail_msg("bad label in: %s", line);
            if (smp.n_labels == LABELS_MAX)
                fail_msg("too many labels in: %s", line);
            smp.lk[smp.n_labels] = strndup(c, ln);
            c += ln + 2;
            char *val = malloc(strlen(c) + 1);
            size_t k = 0;
            for (; *c && *c != '"'; c++) {
                if (*c == '\\') {
                    c++;
                    if (*c == 'n')
                        val[k++] = '\n';
                    else if (*c == '\\' || *c == '"')
                        val[k++] = *c;
                    else
                        fail_msg("bad escape in: %s", line);
                } else if (*c == '\n') {
                    fail_msg("raw newline in a label value: %s", line);
                } else {
                    val[k++] = *c;
                }
            }
            if (*c != '"')
                fail_msg("unterminated label value in: %s", line);
            val[k] = '\0';
            smp.lv[smp.n_labels++] = val;
            c++;
            for (size_t i = 0; i + 1 < smp.n_labels; i++)
                if (strcmp(smp.lk[i], smp.lk[smp.n_labels - 1]) == 0)
                    fail_msg("duplicate label in: %s", line);
            if (*c == ',')
                c++;
            else if (*c != '}')
                fail_msg("expected , or } in: %s", line);
        }
        c++;
    }
    if (*c != ' ')
        fail_msg("no space before the value in: %s", line);
    while (*c == ' ')
        c++;
    char v[64];
    size_t vn = strcspn(c, " ");
    if (vn == 0 || vn >= sizeof v)
        fail_msg("no value in: %s", line);
    memcpy(v, c, vn);
    v[vn] = '\0';
    smp.value = parse_value(v, line);
    c += vn;
    if (*c == ' ') { /* an optional timestamp: an integer */
        c++;
        if (*c == '-')
            c++;
        if (*c == '\0' || strspn(c, "0123456789") != strlen(c))
            fail_msg("bad timestamp in: %s", line);
    }
    family *f = fam_of(p, smp.name);
    if (f == NULL)
        fail_msg("sample of a family without # TYPE: %s", line);
    if (f->done)
        fail_msg("family %s is not contiguous: %s", f->name, line);
    if (*current && *current != f)
        (*current)->done = 1;
    *current = f;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 256;
        p->s = realloc(p->s, p->cap * sizeof *p->s);
        assert_non_null(p->s);
    }
    p->s[p->n++] = smp;
}

static void prom_parse(prom *p, const char *text)
{
    memset(p, 0, sizeof *p);
    family *current = NULL;
    char *copy = strdup(text), *save = NULL;
    size_t len = strlen(text);
    if (len == 0 || text[len - 1] != '\n')
        fail_msg("the exposition must end with a newline");
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            char kw[8], name[160], rest[512] = "";
            int k = sscanf(line, "# %7s %159s %511[^\n]", kw, name, rest);
            if (k >= 2 && (strcmp(kw, "HELP") == 0 || strcmp(kw, "TYPE") == 0)) {
                if (!name_ok(name, strlen(name), 1))
                    fail_msg("bad family name in: %s", line);
                family *f = fam_get(p, name, 1);
                if (strcmp(kw, "HELP") == 0) {
                    if (f->has_help++)
                        fail_msg("second HELP for %s", name);
                } else {
                    static const char *const types[] = {"counter", "gauge", "histogram", "summary",
                                                        "untyped"};
                    int ok = 0;
                    for (size_t i = 0; i < 5; i++)
                        ok |= strcmp(rest, types[i]) == 0;
                    if (!ok)
                        fail_msg("bad type in: %s", line);
                    if (f->type[0])
                        fail_msg("second TYPE for %s", name);
                    for (size_t i = 0; i < p->n; i++)
                        if (fam_of(p, p->s[i].name) == f)
                            fail_msg("TYPE after samples of %s", name);
                    snprintf(f->type, sizeof f->type, "%.15s", rest); /* one of the five names */
                }
            }
            continue;
        }
        parse_sample(p, line, &current);
    }
    free(copy);
}

static const char *label(const sample *s, const char *k)
{
    for (size_t i = 0; i < s->n_labels; i++)
        if (strcmp(s->lk[i], k) == 0)
            return s->lv[i];
    return NULL;
}

/* The sample name{kv...} (kv: name, value pairs, NULL-terminated): its index or -1. */
static long find(const prom *p, const char *name, const char *const *kv)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->s[i].name, name) != 0)
            continue;
        int ok = 1;
        for (size_t k = 0; kv && kv[k]; k += 2) {
            const char *v = label(&p->s[i], kv[k]);
            ok &= v != NULL && strcmp(v, kv[k + 1]) == 0;
        }
        if (ok)
            return (long)i;
    }
    return -1;
}

/* The value of name{kv...}; 0 when absent (a counter not yet seen). */
static double value_or0(const prom *p, const char *name, const char *const *kv)
{
    long i = find(p, name, kv);
    return i < 0 ? 0 : p->s[i].value;
}

static double value(const prom *p, const char *name, const char *const *kv)
{
    long i = find(p, name, kv);
    if (i < 0)
        fail_msg("no sample %s%s%s", name, kv ? " with " : "", kv ? kv[0] : "");
    return p->s[i].value;
}

static void assert_type(prom *p, const char *name, const char *type)
{
    family *f = fam_get(p, name, 0);
    if (f == NULL || strcmp(f->type, type) != 0)
        fail_msg("family %s: type %s, want %s", name, f ? f->type : "(missing)", type);
}

/* Every histogram series: le ascending, counts cumulative, +Inf == _count. */
static void check_histograms(prom *p, const char *name)
{
    char bucket[160], count[160];
    snprintf(bucket, sizeof bucket, "%s_bucket", name);
    snprintf(count, sizeof count, "%s_count", name);
    size_t series = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->s[i].name, count) != 0)
            continue;
        series++;
        const char *route = label(&p->s[i], "route"), *method = label(&p->s[i], "method");
        double prev_le = -INFINITY, prev = 0, inf = -1;
        for (size_t k = 0; k < p->n; k++) {
            const sample *b = &p->s[k];
            if (strcmp(b->name, bucket) != 0 || strcmp(label(b, "route"), route) != 0 ||
                strcmp(label(b, "method"), method) != 0)
                continue;
            double le = parse_value(label(b, "le"), "le");
            if (le <= prev_le || b->value < prev)
                fail_msg("%s %s %s: buckets not cumulative at le=%g", name, method, route, le);
            prev_le = le;
            prev = b->value;
            if (isinf(le))
                inf = b->value;
        }
        if (inf != p->s[i].value)
            fail_msg("%s %s %s: +Inf bucket %g, _count %g", name, method, route, inf,
                     p->s[i].value);
    }
    assert_true(series > 0);
}

/* GET /metrics, checked and parsed. */
static void scrape(tia_api_fixture *f, prom *p)
{
    tia_http_resp r;
    tia_http(f, "GET", "/metrics", NULL, NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    char *ct = tia_http_header(&r, "Content-Type");
    assert_non_null(ct);
    if (strncmp(ct, "text/plain; version=0.0.4", 25) != 0)
        fail_msg("Content-Type %s", ct);
    free(ct);
    prom_parse(p, r.body);
    tia_http_resp_free(&r);
}

/* ------------------------------------------------------------------------- */
/* Fixtures                                                                  */
/* ------------------------------------------------------------------------- */

/* One pool connection, so that /health meets the one a failure hit. */
static int setup_one_connection(void **state)
{
    tia_api_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tia_server_config cfg = {0};
    cfg.db_pool = 1;
    tia_api_start(f, &cfg);
    *state = f;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Tests                                                                     */
/* ------------------------------------------------------------------------- */

static void get_status(tia_api_fixture *f, const char *path, int want)
{
    tia_http_resp r;
    tia_http(f, "GET", path, NULL, NULL, &r);
    TIA_ASSERT_STATUS(&r, want);
    tia_http_resp_free(&r);
}

static void test_metrics_text(void **state)
{
    tia_api_fixture *f = *state;
    get_status(f, "/ready", 200);
    get_status(f, "/health", 200);
    prom p;
    scrape(f, &p);
    assert_type(&p, "tokyoia_http_requests_total", "counter");
    assert_type(&p, "tokyoia_http_request_duration_seconds", "histogram");
    assert_type(&p, "tokyoia_http_requests_in_flight", "gauge");
    assert_type(&p, "tokyoia_tasks", "gauge");
    assert_type(&p, "tokyoia_queue_depth", "gauge");
    assert_type(&p, "tokyoia_agent_tokens", "gauge");
    assert_type(&p, "tokyoia_agent_cost_usd", "gauge");
    assert_type(&p, "tokyoia_db_pool_size", "gauge");
    assert_type(&p, "tokyoia_db_pool_in_use", "gauge");
    assert_type(&p, "tokyoia_db_pool_timeouts_total", "counter");
    assert_type(&p, "tokyoia_uptime_seconds", "gauge");
    assert_type(&p, "tokyoia_database_up", "gauge");
    check_histograms(&p, "tokyoia_http_request_duration_seconds");
    assert_true(value(&p, "tokyoia_database_up", NULL) == 1);
    assert_true(value(&p, "tokyoia_db_pool_size", NULL) == 2); /* the fixture's pool */
    assert_true(value(&p, "tokyoia_db_pool_in_use", NULL) == 0);
    assert_true(value(&p, "tokyoia_http_requests_in_flight", NULL) >= 1); /* this scrape */
    assert_true(value(&p, "tokyoia_uptime_seconds", NULL) > 0);
    /* Every agent is listed, with every status. */
    int64_t agents =
        tia_test_int(f->store, "SELECT count(*) FROM agents", "SELECT count(*) FROM agents");
    size_t n = 0;
    for (size_t i = 0; i < p.n; i++)
        n += strcmp(p.s[i].name, "tokyoia_tasks") == 0;
    assert_int_equal(n, (size_t)agents * 5);
    prom_free(&p);
}

static void test_counters_rise(void **state)
{
    tia_api_fixture *f = *state;
    static const char *const ready_ok[] = {"route",  "/ready", "method", "GET",
                                           "status", "200",    NULL};
    static const char *const ready_series[] = {"route", "/ready", "method", "GET", NULL};
    static const char *const unmatched[] = {"route", "unmatched", "status", "404", NULL};
    static const char *const bad_events[] = {
        "route", "/api/v1/events", "method", "GET", "status", "400", NULL};
    prom p0, p1;
    scrape(f, &p0);
    double ready0 = value_or0(&p0, "tokyoia_http_requests_total", ready_ok);
    double hist0 = value_or0(&p0, "tokyoia_http_request_duration_seconds_count", ready_series);
    double sum0 = value_or0(&p0, "tokyoia_http_request_duration_seconds_sum", ready_series);
    double nf0 = value_or0(&p0, "tokyoia_http_requests_total", unmatched);
    double ev0 = value_or0(&p0, "tokyoia_http_requests_total", bad_events);
    prom_free(&p0);

    for (int i = 0; i < 3; i++)
        get_status(f, "/ready", 200);
    get_status(f, "/no/such/path", 404);
    get_status(f, "/nope", 404);
    get_status(f, "/api/v1/events?last_event_id=x", 400);

    /* Counted as each request completes, which may lag its answer a little. */
    int64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        scrape(f, &p1);
        if ((value_or0(&p1, "tokyoia_http_requests_total", ready_ok) >= ready0 + 3 &&
             value_or0(&p1, "tokyoia_http_requests_total", unmatched) >= nf0 + 2 &&
             value_or0(&p1, "tokyoia_http_requests_total", bad_events) >= ev0 + 1) ||
            now_ms() > deadline)
            break;
        prom_free(&p1);
        sleep_ms(20);
    }
    assert_true(value(&p1, "tokyoia_http_requests_total", ready_ok) == ready0 + 3);
    assert_true(value(&p1, "tokyoia_http_request_duration_seconds_count", ready_series) ==
                hist0 + 3);
    assert_true(value(&p1, "tokyoia_http_request_duration_seconds_sum", ready_series) > sum0);
    assert_true(value(&p1, "tokyoia_http_requests_total", unmatched) == nf0 + 2);
    assert_true(value(&p1, "tokyoia_http_requests_total", bad_events) == ev0 + 1);
    check_histograms(&p1, "tokyoia_http_request_duration_seconds");
    prom_free(&p1);
}

/* SQL's count of agent's tasks in status. */
static int64_t sql_count(tia_store *s, const char *agent, const char *status)
{
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM agent_tasks WHERE agent_id = '%s' AND status = '%s'", agent,
             status);
    return tia_test_int(s, q, q);
}

static void test_tasks_match_db(void **state)
{
    tia_api_fixture *f = *state;
    tia_error err = {0};
    char ids[4][TIA_UUID_BUF], wf[TIA_UUID_BUF];
    /* A: four tasks; two claimed, one completed with tokens and cost, one failed for
       good; one cancelled; one left pending. */
    for (int i = 0; i < 4; i++) {
        tia_task_spec spec = spec_for("k", A, "review");
        submit_one(f->store, &spec, ids[i]);
    }
    struct tia_claim_list cl = {0};
    claim_agent(f->store, A, "w", 2, &cl);
    assert_int_equal(cl.n, 2);
    tia_completion k = {cl.items[0].task->id, "w", cl.items[0].attempt, NULL, 1200, -1, -1, 18000};
    TIA_OK_OR_FAIL(tia_engine_complete(f->store, &k, &err), &err);
    TIA_OK_OR_FAIL(tia_engine_fail(f->store, cl.items[1].task->id, "w", cl.items[1].attempt,
                                   "broken", 0, &err),
                   &err);
    tia_claim_list_free(&cl);
    TIA_OK_OR_FAIL(tia_engine_cancel_task(f->store, ids[3], &err), &err);
    /* B: a workflow of two tasks, the second waiting for the first (not in the queue). */
    const char *deps[] = {"first"};
    tia_task_spec specs[2] = {spec_for("first", B, "t"), spec_for("second", B, "t")};
    specs[1].depends_on = deps;
    specs[1].n_depends_on = 1;
    tia_workflow_spec ws = {0};
    ws.name = "metrics";
    ws.tasks = specs;
    ws.n_tasks = 2;
    int created = 0;
    TIA_OK_OR_FAIL(tia_engine_submit(f->store, &ws, wf, NULL, &created, &err), &err);

    prom p;
    scrape(f, &p);
    static const char *const statuses[] = {"pending", "running", "completed", "failed",
                                           "cancelled"};
    const char *agents[] = {A, B, "hiro-003"};
    for (size_t a = 0; a < 3; a++)
        for (size_t i = 0; i < 5; i++) {
            const char *kv[] = {"agent", agents[a], "status", statuses[i], NULL};
            double got = value(&p, "tokyoia_tasks", kv);
            int64_t want = sql_count(f->store, agents[a], statuses[i]);
            if (got != (double)want)
                fail_msg("tokyoia_tasks{agent=%s,status=%s} = %g, SQL counts %lld", agents[a],
                         statuses[i], got, (long long)want);
        }
    /* Not all zero: the comparison above had something to compare. */
    assert_int_equal(sql_count(f->store, A, "completed"), 1);
    assert_int_equal(sql_count(f->store, A, "failed"), 1);
    assert_int_equal(sql_count(f->store, A, "cancelled"), 1);
    assert_int_equal(sql_count(f->store, B, "pending"), 2);

    for (size_t a = 0; a < 2; a++) {
        char q[512];
        const char *kv[] = {"agent", agents[a], NULL};
        snprintf(q, sizeof q,
                 "SELECT count(*) FROM agent_tasks WHERE agent_id = '%s' AND status = 'pending' "
                 "AND deps_pending = 0",
                 agents[a]);
        assert_int_equal((int64_t)value(&p, "tokyoia_queue_depth", kv),
                         tia_test_int(f->store, q, q));
        snprintf(q, sizeof q, "SELECT model FROM agents WHERE id = '%s'", agents[a]);
        char *model = tia_test_text(f->store, q, q);
        const char *km[] = {"agent", agents[a], "model", model, NULL};
        snprintf(q, sizeof q,
                 "SELECT COALESCE(sum(tokens_used), 0) FROM agent_tasks WHERE agent_id = '%s'",
                 agents[a]);
        assert_int_equal((int64_t)value(&p, "tokyoia_agent_tokens", km),
                         tia_test_int(f->store, q, q));
        char qp[256], ql[256];
        snprintf(qp, sizeof qp,
                 "SELECT (COALESCE(sum(cost_usd), 0) * 1000000)::int8 FROM agent_tasks "
                 "WHERE agent_id = '%s'",
                 agents[a]);
        snprintf(ql, sizeof ql,
                 "SELECT COALESCE(sum(cost_usd_micros), 0) FROM agent_tasks WHERE agent_id = '%s'",
                 agents[a]);
        assert_int_equal(llround(value(&p, "tokyoia_agent_cost_usd", km) * 1e6),
                         tia_test_int(f->store, qp, ql));
        free(model);
    }
    const char *ka[] = {"agent", A, NULL}, *kb[] = {"agent", B, NULL};
    assert_true(value(&p, "tokyoia_queue_depth", ka) == 1);
    assert_true(value(&p, "tokyoia_queue_depth", kb) == 1);
    const char *kt[] = {"agent", A, NULL};
    assert_true(value(&p, "tokyoia_agent_tokens", kt) == 1200);
    assert_true(fabs(value(&p, "tokyoia_agent_cost_usd", kt) - 0.018) < 1e-9);
    prom_free(&p);
}

static void test_health(void **state)
{
    tia_api_fixture *f = *state;
    tia_error err = {0};
    tia_http_resp r;
    tia_http(f, "GET", "/health", NULL, NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    assert_string_equal(tia_json_str(r.json, "status"), "ok");
    assert_string_equal(tia_json_str(r.json, "database"),
                        tia_test_is_pg() ? "postgresql" : "sqlite");
    tia_http_resp_free(&r);

    if (tia_test_is_pg()) {
        /* The server's connections terminated: 503 once, then 200 on a new connection. */
        TIA_OK_OR_FAIL(tia_test_exec(f->store,
                                     "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                                     "WHERE datname = current_database() "
                                     "AND pid <> pg_backend_pid()",
                                     NULL, &err),
                       &err);
        tia_http(f, "GET", "/health", NULL, NULL, &r);
    } else {
        /*
         * SQLite cannot lose its connection, and in WAL mode no other
         * connection can lock readers out; what the health query reads is
         * taken away instead (the agents table renamed by another connection),
         * and given back.
         */
        TIA_OK_OR_FAIL(
            tia_test_exec(f->store, NULL, "ALTER TABLE agents RENAME TO agents_away", &err), &err);
        tia_http(f, "GET", "/health", NULL, NULL, &r);
        prom p; /* /metrics still answers, without the database */
        scrape(f, &p);
        assert_true(value(&p, "tokyoia_database_up", NULL) == 0);
        assert_int_equal(find(&p, "tokyoia_tasks", NULL), -1);
        prom_free(&p);
        TIA_OK_OR_FAIL(
            tia_test_exec(f->store, NULL, "ALTER TABLE agents_away RENAME TO agents", &err), &err);
    }
    TIA_ASSERT_STATUS(&r, 503);
    assert_non_null(tia_json_str(r.json, "error")); /* the original API's error shape */
    tia_http_resp_free(&r);
    get_status(f, "/health", 200);
    prom p;
    scrape(f, &p);
    assert_true(value(&p, "tokyoia_database_up", NULL) == 1);
    prom_free(&p);
}

/* 1 when a new TCP connection to the server's port is refused (it stopped listening). */
static int refused(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    return rc != 0;
}

typedef struct bg_stop {
    tia_server *srv;
    pthread_t thread;
    int left;
} bg_stop;

static void *stop_main(void *arg)
{
    bg_stop *s = arg;
    s->left = tia_server_shutdown(s->srv);
    return NULL;
}

static long ready_on(CURL *cu)
{
    long status = 0;
    if (curl_easy_perform(cu) != CURLE_OK)
        return -1;
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/*
 * A request kept in flight without holding a server thread: its headers sent,
 * its two-byte body not yet. Returns the socket.
 */
static int slow_request_start(tia_api_fixture *f)
{
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: 2\r\n\r\n{",
                     f->token);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)f->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    return fd;
}

/* Sends the rest of the body and returns the answer's status. */
static int slow_request_finish(int fd)
{
    char buf[4096];
    size_t len = 0;
    assert_int_equal(send(fd, "}", 1, MSG_NOSIGNAL), 1);
    while (len + 1 < sizeof buf && memmem(buf, len, "\r\n", 2) == NULL) {
        ssize_t k = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    buf[len] = '\0';
    close(fd);
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        fail_msg("no HTTP answer: %s", buf);
    return status;
}

static void test_ready_during_shutdown(void **state)
{
    tia_api_fixture *f = *state;
    /* A kept-alive connection, opened before the shutdown. */
    char url[128];
    snprintf(url, sizeof url, "%s/ready", f->base);
    CURL *cu = curl_easy_init();
    FILE *null = fopen("/dev/null", "w");
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, null);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 30L);
    assert_int_equal(ready_on(cu), 200);

    /* A request in flight keeps the shutdown waiting. */
    int fd = slow_request_start(f);
    int64_t deadline = now_ms() + WAIT_MS;
    double in_flight = 0;
    while (in_flight < 2 && now_ms() < deadline) { /* it and the scrape, once it was read */
        prom p;
        scrape(f, &p);
        in_flight = value(&p, "tokyoia_http_requests_in_flight", NULL);
        prom_free(&p);
    }
    assert_true(in_flight >= 2);
    bg_stop st = {f->srv, 0, -1};
    assert_int_equal(pthread_create(&st.thread, NULL, stop_main, &st), 0);
    f->srv = NULL;
    deadline = now_ms() + WAIT_MS;
    while (!refused(f->port) && now_ms() < deadline)
        sleep_ms(5);
    assert_true(refused(f->port));

    /* Shutting down: not ready, on the connection that is still served. */
    assert_int_equal(ready_on(cu), 503);

    /* The request in flight completes (its body is missing members), then the shutdown. */
    assert_int_equal(slow_request_finish(fd), 422);
    pthread_join(st.thread, NULL);
    assert_int_equal(st.left, 0);
    curl_easy_cleanup(cu);
    fclose(null);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_text, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_counters_rise, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_tasks_match_db, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_health, setup_one_connection, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_ready_during_shutdown, tia_api_setup, tia_api_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
