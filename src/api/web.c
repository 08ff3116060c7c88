/*
 * The dashboard: its page and assets (src/web and Debian's dygraphs, embedded at
 * build time by cmake/embed_dir.cmake), and the few read-only routes that give
 * it what the rest of the API does not: the server's dashboard settings, today's
 * totals and queue depths, spend per agent and per model over time, and the
 * dependency edges of a workflow's task graph.
 *
 * The page and assets are public (TIA__R_OPEN): they hold no data, and the page
 * must load to show its login. Each asset has an ETag (its SHA-256, computed at
 * build time) and is answered 304 on a matching If-None-Match; it is compressed
 * with gzip once, at its first request, and sent compressed to clients that
 * accept it. "no-cache" makes browsers revalidate, so a new binary's assets are
 * picked up at once while an unchanged asset costs one 304.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include <tokyoia/agents.h>
#include <tokyoia/metrics.h>
#include <tokyoia/stats.h>
#include <tokyoia/tasks.h>
#include <tokyoia/workflows.h>

#include "api/api.h"

/* The table cmake/embed_dir.cmake generates (the same layout is declared there). */
typedef struct tia__web_asset {
    const char *name;
    const char *type;
    const char *etag;
    const unsigned char *data;
    size_t len;
} tia__web_asset;

extern const tia__web_asset tia__web_assets[];
extern const size_t tia__web_assets_n;

#define ASSETS_MAX 64
#define DAY_US (INT64_C(86400) * 1000000)
#define AGENTS_MAX 200          /* agents charted by /dashboard/costs */
#define FAILED_SCAN_MAX 10000   /* failed tasks counted by /dashboard/overview */
#define EDGES_MAX TIA_WORKFLOW_EDGES_MAX /* edges answered by /dashboard/workflows/{id}/graph */

/* ---- assets ---- */

/* The gzip form of each asset, made at its first request (NULL: not smaller). */
static struct {
    int done;
    unsigned char *data;
    size_t len;
} gz[ASSETS_MAX];
static pthread_mutex_t gz_lock = PTHREAD_MUTEX_INITIALIZER;

/* Compresses asset i once; afterwards gz[i] is read without the lock. */
static void gzip_once(size_t i)
{
    const tia__web_asset *a = &tia__web_assets[i];
    pthread_mutex_lock(&gz_lock);
    if (!gz[i].done) {
        char *out;
        size_t n;
        /* A failure (or no gain) means: send it uncompressed. */
        if (tia__gzip(a->data, a->len, 9, &out, &n) == 0) {
            gz[i].data = (unsigned char *)out;
            gz[i].len = n;
        }
        gz[i].done = 1;
    }
    pthread_mutex_unlock(&gz_lock);
}

/* 1 when If-None-Match names etag (or is "*"). */
static int etag_matches(tia__call *c, const char *etag)
{
    const char *h = tia__value(c, MHD_HEADER_KIND, "If-None-Match");
    if (h == NULL)
        return 0;
    if (strcmp(h, "*") == 0)
        return 1;
    size_t n = strlen(etag);
    for (const char *p = strstr(h, etag); p; p = strstr(p + 1, etag))
        if ((p[n] == '\0' || p[n] == ',' || p[n] == ' ') && (p == h || p[-1] == ' ' ||
                                                              p[-1] == ',' || p[-1] == '/'))
            return 1;
    return 0;
}

static void serve_asset(tia__call *c, size_t i)
{
    const tia__web_asset *a = &tia__web_assets[i];
    const void *body = a->data;
    size_t len = a->len;
    int status = MHD_HTTP_OK, zipped = 0;
    if (etag_matches(c, a->etag)) {
        status = MHD_HTTP_NOT_MODIFIED;
        body = NULL;
        len = 0;
    } else if (tia__accepts_gzip(c)) {
        gzip_once(i);
        if (gz[i].data) {
            body = gz[i].data;
            len = gz[i].len;
            zipped = 1;
        }
    }
    /* The bytes are static (or kept for the process' life): MHD need not copy them. */
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    if (status == MHD_HTTP_OK)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
    if (zipped)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, a->etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (strncmp(a->type, "text/html", 9) == 0) {
        /*
         * Everything comes from this server; dygraphs sets style attributes, hence
         * 'unsafe-inline' for styles only. connect-src covers fetch and EventSource.
         */
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                                "frame-ancestors 'none'");
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    }
    tia__reply(c, status, NULL);
    c->response = r;
    c->bytes_out = len;
}

static int asset_index(const char *name)
{
    for (size_t i = 0; i < tia__web_assets_n && i < ASSETS_MAX; i++)
        if (strcmp(tia__web_assets[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* GET /: the dashboard's page. */
static void web_index(tia__call *c)
{
    int i = asset_index("index.html");
    if (i < 0) {
        tia__fail(c, MHD_HTTP_NOT_FOUND, "not_found", "this build has no dashboard");
        return;
    }
    serve_asset(c, (size_t)i);
}

/* GET /assets/{name} */
static void web_asset(tia__call *c)
{
    int i = asset_index(c->param[0]);
    if (i < 0 || strcmp(c->param[0], "index.html") == 0) {
        tia__fail(c, MHD_HTTP_NOT_FOUND, "not_found", "no asset '%.64s'", c->param[0]);
        return;
    }
    serve_asset(c, (size_t)i);
}

/* ---- data ---- */

static void jcost_usd(json_t *o, const char *key, double usd)
{
    tia__jcost(o, key, (int64_t)llround(usd * 1e6));
}

/* GET /api/v1/dashboard/config */
static void dashboard_config(tia__call *c)
{
    const tia_server_config *cfg = &c->api->cfg;
    static const char *const modes[] = {"required", "public-read", "off"};
    json_t *o = json_object();
    if (cfg->daily_budget_micros > 0)
        tia__jcost(o, "daily_budget_usd", cfg->daily_budget_micros);
    else
        json_object_set_new(o, "daily_budget_usd", json_null());
    tia__jstr(o, "auth", (unsigned)cfg->auth < 3 ? modes[cfg->auth] : "required");
    tia__reply(c, MHD_HTTP_OK, o);
}

/*
 * Failed tasks created at or after from, newest first through the task list's
 * pages, stopping at the first older one (at most FAILED_SCAN_MAX: *capped).
 */
static int count_failed(tia_store *s, int64_t from, int64_t *n, int *capped, tia_error *err)
{
    tia_run_status failed = TIA_FAILED;
    char cursor[TIA_CURSOR_BUF] = "";
    int rc = 0;
    *n = 0;
    *capped = 0;
    for (;;) {
        struct tia_task_list l = {0};
        tia_task_filter f = {.status = &failed, .limit = TIA_PAGE_MAX, .cursor = cursor};
        if ((rc = tia_task_list(s, &f, &l, err)) != 0)
            return rc;
        int more = l.next_cursor[0] != '\0';
        for (size_t i = 0; i < l.n; i++) {
            if (l.items[i]->created_at < from) {
                more = 0;
                break;
            }
            if (++*n >= FAILED_SCAN_MAX) {
                *capped = 1;
                more = 0;
                break;
            }
        }
        snprintf(cursor, sizeof cursor, "%s", l.next_cursor);
        tia_task_list_free(&l);
        if (!more)
            return 0;
    }
}

/*
 * GET /api/v1/dashboard/overview?from=: totals since from (default: the last
 * 24 hours; the page sends the viewer's midnight) and every agent's queue.
 */
static void dashboard_overview(tia__call *c)
{
    tia_agent_totals_list tot = {0};
    tia_error err = {0};
    int64_t now = tia_now_us(), from, failed = 0;
    int capped = 0, rc;
    json_t *o = NULL, *queues = NULL;
    if (tia__query_time(c, "from", now - DAY_US, &from) != 0)
        return;
    if (from >= now) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "from must be in the past");
        return;
    }
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    if ((rc = tia_stats_totals(s, &tot, &err)) != 0 ||
        (rc = count_failed(s, from, &failed, &capped, &err)) != 0)
        goto fail;
    int64_t tasks = 0, tokens = 0, cost = 0;
    queues = json_array();
    for (size_t i = 0; i < tot.n; i++) {
        const tia_agent_totals *t = &tot.items[i];
        tia_agent_window_stats w = {0};
        if ((rc = tia_stats_agent_window(s, t->id, now - from, &w, &err)) != 0)
            goto fail;
        tasks += w.total_tasks;
        tokens += w.total_tokens;
        cost += w.total_cost_micros;
        json_t *q = json_object();
        tia__jstr(q, "agent_id", t->id);
        tia__jstr(q, "model", t->model);
        tia__jint(q, "pending", t->pending);
        tia__jint(q, "ready", t->ready);
        tia__jint(q, "running", t->running);
        tia__jint(q, "completed", t->completed);
        tia__jint(q, "failed", t->failed);
        tia__jint(q, "cancelled", t->cancelled);
        tia__jint(q, "today_tasks", w.total_tasks);
        tia__jint(q, "today_tokens", w.total_tokens);
        tia__jcost(q, "today_cost_usd", w.total_cost_micros);
        json_array_append_new(queues, q);
    }
    o = json_object();
    tia__jtime(o, "from", from);
    tia__jtime(o, "to", now);
    json_t *totals = json_object();
    tia__jint(totals, "tasks_completed", tasks);
    tia__jint(totals, "tasks_failed", failed);
    json_object_set_new(totals, "tasks_failed_capped", json_boolean(capped));
    tia__jint(totals, "tokens", tokens);
    tia__jcost(totals, "cost_usd", cost);
    json_object_set_new(o, "totals", totals);
    json_object_set_new(o, "agents", queues);
    queues = NULL;
    tia__reply(c, MHD_HTTP_OK, o);
    goto done;
fail:
    tia__fail_rc(c, rc, &err);
done:
    json_decref(queues);
    tia_agent_totals_list_free(&tot);
}

/* One series' points: bucket start -> summed value (avg * count). */
typedef struct point {
    int64_t start;
    double cost, tokens;
} point;

typedef struct series {
    point *p;
    size_t n, cap;
} series;

/*
 * Appends a bucket's value; series_json merges those of one start. (Looking the
 * start up at each add made a series of n buckets cost n^2 / 2 comparisons: a
 * 60,000-minute range took 3.3 s where the same points as one agent's metric
 * series took 0.17.)
 */
static int series_add(series *sr, int64_t start, double cost, double tokens)
{
    if (sr->n == sr->cap) {
        size_t cap = sr->cap ? sr->cap * 2 : 32;
        point *p = realloc(sr->p, cap * sizeof *p);
        if (p == NULL)
            return TIA_ENOMEM;
        sr->p = p;
        sr->cap = cap;
    }
    sr->p[sr->n++] = (point){start, cost, tokens};
    return 0;
}

static int by_start(const void *a, const void *b)
{
    int64_t x = ((const point *)a)->start, y = ((const point *)b)->start;
    return (x > y) - (x < y);
}

static json_t *series_json(series *sr)
{
    if (sr->n > 1) {
        qsort(sr->p, sr->n, sizeof *sr->p, by_start);
        size_t k = 0; /* the buckets of one start, added up */
        for (size_t i = 1; i < sr->n; i++) {
            if (sr->p[i].start == sr->p[k].start) {
                sr->p[k].cost += sr->p[i].cost;
                sr->p[k].tokens += sr->p[i].tokens;
            } else {
                sr->p[++k] = sr->p[i];
            }
        }
        sr->n = k + 1;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < sr->n; i++) {
        json_t *o = json_object();
        tia__jtime(o, "start", sr->p[i].start);
        jcost_usd(o, "cost_usd", sr->p[i].cost);
        tia__jint(o, "tokens", (int64_t)llround(sr->p[i].tokens));
        json_array_append_new(a, o);
    }
    return a;
}

/* Adds agent's cost and tokens buckets of q's range to sr (and to total). */
/* The cost and tokens points of agent (NULL: every agent) in q's buckets, added to sr. */
static int agent_series(tia_store *s, tia_metric_query q, const char *agent, series *sr,
                        tia_error *err)
{
    static const char *const types[] = {"cost", "tokens"};
    q.agent_id = agent;
    for (int t = 0; t < 2; t++) {
        tia_metric_series out = {0};
        q.metric_type = types[t];
        int rc = tia_metric_query_series(s, &q, &out, err);
        for (size_t i = 0; rc == 0 && i < out.n; i++) {
            double v = out.items[i].avg * (double)out.items[i].count;
            rc = series_add(sr, out.items[i].start, t == 0 ? v : 0, t == 1 ? v : 0);
        }
        tia_metric_series_free(&out);
        if (rc != 0)
            return rc == TIA_ENOMEM ? tia_error_set(err, rc, "out of memory") : rc;
    }
    return 0;
}

/*
 * GET /api/v1/dashboard/costs?from=&to=&bucket=: spend and tokens per agent and
 * per model (the agent's current model, as /metrics counts it) in buckets, from
 * the cost and tokens points recorded when tasks complete. The total is every
 * agent's (one query over all of them); the per-agent and per-model series cover
 * the first AGENTS_MAX agents in id order, and agents_total says how many there
 * are, so that a page can say when it shows only some.
 */
static void dashboard_costs(tia__call *c)
{
    struct tia_agent_list agents = {0};
    tia_metric_query q = {0};
    tia_error err = {0};
    int64_t now = tia_now_us();
    const char *bucket = tia__query(c, "bucket");
    series *per = NULL, *models = NULL, total = {0};
    const char **model_names = NULL;
    size_t n_models = 0, n = 0;
    json_t *o = NULL;
    int rc = 0;
    if (tia_bucket_parse(bucket ? bucket : "hour", &q.bucket) != 0) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "bucket must be minute, hour or day");
        return;
    }
    if (tia__query_time(c, "to", now, &q.to) != 0 ||
        tia__query_time(c, "from", q.to - DAY_US, &q.from) != 0)
        return;
    if (q.from >= q.to) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "from must be before to");
        return;
    }
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    if ((rc = tia_agent_list(s, NULL, &agents, &err)) != 0)
        goto fail;
    n = agents.n < AGENTS_MAX ? agents.n : AGENTS_MAX;
    per = calloc(n + 1, sizeof *per);
    models = calloc(n + 1, sizeof *models);
    model_names = calloc(n + 1, sizeof *model_names);
    if (per == NULL || models == NULL || model_names == NULL) {
        rc = tia_error_set(&err, TIA_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const tia_agent *a = agents.items[i];
        if ((rc = agent_series(s, q, a->id, &per[i], &err)) != 0)
            goto fail;
        size_t m = 0;
        while (m < n_models && strcmp(model_names[m], a->model) != 0)
            m++;
        if (m == n_models)
            model_names[n_models++] = a->model;
        for (size_t k = 0; k < per[i].n && rc == 0; k++)
            rc = series_add(&models[m], per[i].p[k].start, per[i].p[k].cost, per[i].p[k].tokens);
        if (rc != 0) {
            rc = tia_error_set(&err, rc, "out of memory");
            goto fail;
        }
    }
    if ((rc = agent_series(s, q, NULL, &total, &err)) != 0)
        goto fail;
    o = json_object();
    tia__jstr(o, "bucket", tia_bucket_name(q.bucket));
    tia__jtime(o, "from", q.from);
    tia__jtime(o, "to", q.to);
    if (c->api->cfg.daily_budget_micros > 0)
        tia__jcost(o, "daily_budget_usd", c->api->cfg.daily_budget_micros);
    else
        json_object_set_new(o, "daily_budget_usd", json_null());
    json_t *ja = json_array(), *jm = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_object();
        tia__jstr(e, "agent_id", agents.items[i]->id);
        tia__jstr(e, "name", agents.items[i]->name);
        tia__jstr(e, "model", agents.items[i]->model);
        json_object_set_new(e, "points", series_json(&per[i]));
        json_array_append_new(ja, e);
    }
    for (size_t m = 0; m < n_models; m++) {
        json_t *e = json_object();
        tia__jstr(e, "model", model_names[m]);
        json_object_set_new(e, "points", series_json(&models[m]));
        json_array_append_new(jm, e);
    }
    json_object_set_new(o, "agents", ja);
    json_object_set_new(o, "agents_total", json_integer((json_int_t)agents.n));
    json_object_set_new(o, "models", jm);
    json_object_set_new(o, "total", series_json(&total));
    tia__reply(c, MHD_HTTP_OK, o);
    goto done;
fail:
    if (rc == TIA_EINVAL)
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", err.message);
    else
        tia__fail_rc(c, rc, &err);
done:
    for (size_t i = 0; per && i <= n; i++)
        free(per[i].p);
    for (size_t i = 0; models && i <= n; i++)
        free(models[i].p);
    free(per);
    free(models);
    free(model_names);
    free(total.p);
    tia_agent_list_free(&agents);
}

/* GET /api/v1/dashboard/workflows/{id}/graph: {"edges": [{task_id, depends_on}]} */
static void dashboard_graph(tia__call *c)
{
    const char *id;
    tia_workflow *w = NULL;
    struct tia_task_edge_list l = {0};
    tia_error err = {0};
    int rc;
    if (tia__param_uuid(c, 0, &id) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    if ((rc = tia_workflow_get(s, id, &w, &err)) != 0 ||
        (rc = tia_workflow_edges(s, id, EDGES_MAX, &l, &err)) != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    json_t *edges = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(edges, json_pack("{s:s,s:s}", "task_id", l.items[i].task_id,
                                               "depends_on", l.items[i].depends_on));
    tia__reply(c, MHD_HTTP_OK,
               json_pack("{s:s,s:o,s:b}", "workflow_id", id, "edges", edges, "truncated",
                         l.truncated));
done:
    tia_task_edge_list_free(&l);
    tia_workflow_free(w);
}

static const tia__route routes[] = {
    {"GET", "/", web_index, TIA__R_OPEN, "The dashboard (HTML)"},
    {"GET", "/assets/{name}", web_asset, TIA__R_OPEN, "The dashboard's scripts and styles"},
    {"GET", "/api/v1/dashboard/config", dashboard_config, 0,
     "The dashboard's settings: daily budget and auth mode"},
    {"GET", "/api/v1/dashboard/overview", dashboard_overview, 0,
     "Totals since ?from= and every agent's queue"},
    {"GET", "/api/v1/dashboard/costs", dashboard_costs, 0,
     "Spend and tokens per agent and per model over time"},
    {"GET", "/api/v1/dashboard/workflows/{id}/graph", dashboard_graph, 0,
     "The dependency edges of a workflow's tasks"},
};

const tia__route_table tia__routes_web = {routes, sizeof routes / sizeof routes[0]};
