/*
 * The original Registry API, at its own paths (/api/agents, /api/tasks,
 * /api/workflows, /api/metrics), for the clients that already call it: the
 * same field names (the seed schema's columns: metric_value, metric_unit, the
 * agent_stats view's total_cost), money as JSON numbers as those clients
 * decode it, lists as bare JSON arrays, 201 on create, and errors as
 * {"error": "..."} (the router's TIA__R_COMPAT flag). The original's bugs are
 * fixed: an empty list is [], never null; PUT on an unknown task is 404; and a
 * PUT moves the task through the engine's state machine
 * (tia_engine_set_task_status), so counters, dependents and the workflow's end
 * follow exactly as for a worker's report, and an illegal move is 409.
 *
 * Those clients may send no Content-Type and marshal whole structs, so bodies
 * here tolerate members they do not use, and an empty workflow_id means none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/agents.h>
#include <tokyoia/engine.h>
#include <tokyoia/metrics.h>
#include <tokyoia/stats.h>
#include <tokyoia/tasks.h>
#include <tokyoia/workflows.h>

#include "api/api.h"

#define DEFAULT_LIMIT 50

/* ---- the original's JSON: the encoders' records with its names and number costs ---- */

static void cost_number(json_t *o, const char *key, int64_t micros)
{
    json_object_set_new(o, key, json_real((double)micros / 1e6));
}

static json_t *compat_task(const tia_task *t)
{
    json_t *o = tia__json_task(t);
    cost_number(o, "cost_usd", t->cost_micros);
    return o;
}

static json_t *compat_workflow(const tia_workflow *w)
{
    json_t *o = tia__json_workflow(w);
    cost_number(o, "total_cost_usd", w->total_cost_micros);
    return o;
}

static json_t *compat_stats(const tia_agent_stats *st)
{
    json_t *o = tia__json_agent_stats(st);
    cost_number(o, "total_cost", st->total_cost_micros);
    return o;
}

/* A library refusal of a body: a reference to a missing row is a bad member (422). */
static void fail_body_rc(tia__call *c, int rc, const tia_error *err)
{
    if (rc == TIA_ENOTFOUND)
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s", err->message);
    else
        tia__fail_rc(c, rc, err);
}

/*
 * An agent named by the path: a malformed id (too long, not UTF-8) names no
 * agent either, so it is 404 like an unknown one.
 */
static int path_agent(tia_store *s, const char *id, tia_agent **out, tia_error *err)
{
    int rc = tia_agent_get(s, id, out, err);
    if (rc == TIA_EINVAL)
        rc = tia_error_set(err, TIA_ENOTFOUND, "no such agent: %.60s", id);
    return rc;
}

/* ?limit= of the original (1..1000, 50 by default). */
static int limit_of(tia__call *c, size_t *out)
{
    return tia__query_limit(c, DEFAULT_LIMIT, TIA_PAGE_MAX, out);
}

/* ---- agents ---- */

/* GET /api/agents */
static void agents_list(tia__call *c)
{
    struct tia_agent_list l = {0};
    tia_error err = {0};
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_agent_list(s, NULL, &l, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, tia__json_agent(l.items[i]));
    tia__reply(c, MHD_HTTP_OK, arr);
    tia_agent_list_free(&l);
}

/* GET /api/agents/{id} */
static void agent_get(tia__call *c)
{
    tia_agent *a = NULL;
    tia_error err = {0};
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = path_agent(s, c->param[0], &a, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    tia__reply(c, MHD_HTTP_OK, tia__json_agent(a));
    tia_agent_free(a);
}

/* GET /api/agents/{id}/stats: the agent's agent_stats row. */
static void agent_stats(tia__call *c)
{
    tia_agent_stats_list l = {0};
    tia_error err = {0};
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_stats_agents(s, &l, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    json_t *o = NULL;
    for (size_t i = 0; i < l.n && o == NULL; i++)
        if (strcmp(l.items[i].id, c->param[0]) == 0)
            o = compat_stats(&l.items[i]);
    if (o)
        tia__reply(c, MHD_HTTP_OK, o);
    else
        tia__fail(c, MHD_HTTP_NOT_FOUND, "not_found", "unknown agent '%.60s'", c->param[0]);
    tia_agent_stats_list_free(&l);
}

/* Answers a task list as a bare array. */
static void reply_tasks(tia__call *c, const struct tia_task_list *l)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(arr, compat_task(l->items[i]));
    tia__reply(c, MHD_HTTP_OK, arr);
}

/* GET /api/agents/{id}/tasks?limit=: the agent's recent tasks, newest first. */
static void agent_tasks(tia__call *c)
{
    tia_task_filter f = {0};
    struct tia_task_list l = {0};
    tia_agent *a = NULL;
    tia_error err = {0};
    if (limit_of(c, &f.limit) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    f.agent_id = c->param[0];
    int rc = path_agent(s, f.agent_id, &a, &err); /* an unknown agent is 404, not [] */
    if (rc == 0)
        rc = tia_task_list(s, &f, &l, &err);
    if (rc != 0)
        tia__fail_rc(c, rc, &err);
    else
        reply_tasks(c, &l);
    tia_agent_free(a);
    tia_task_list_free(&l);
}

/* ---- tasks ---- */

/* An optional string member; "" (a marshalled empty field) means absent. */
static int opt_str(tia__call *c, const char *key, const char **out)
{
    if (tia__body_str(c, key, 0, out) != 0)
        return -1;
    if (*out && (*out)[0] == '\0')
        *out = NULL;
    return 0;
}

/* POST /api/tasks {agent_id, workflow_id, task_type, description, input_data} -> 201 */
static void task_create(tia__call *c)
{
    tia_task_spec spec = {0};
    const char *wf;
    char *input = NULL, *meta = NULL;
    char id[TIA_UUID_BUF];
    tia_task *t = NULL;
    tia_error err = {0};
    tia_store *s;
    spec.max_retries = -1;
    if (tia__body_str(c, "agent_id", 1, &spec.agent_id) != 0 ||
        tia__body_str(c, "task_type", 1, &spec.task_type) != 0 ||
        tia__body_str(c, "description", 1, &spec.description) != 0 ||
        opt_str(c, "workflow_id", &wf) != 0 || tia__body_json_text(c, "input_data", &input) != 0 ||
        tia__body_json_text(c, "metadata", &meta) != 0)
        goto done;
    spec.input_data = input;
    spec.metadata = meta;
    if ((s = tia__store(c)) == NULL)
        goto done;
    int rc = tia_engine_submit_task(s, &spec, wf, NULL, id, NULL, &err);
    if (rc == 0)
        rc = tia_task_get(s, id, &t, &err);
    if (rc != 0) {
        fail_body_rc(c, rc, &err);
        goto done;
    }
    snprintf(c->location, sizeof c->location, "/api/v1/tasks/%s", id);
    tia__reply(c, MHD_HTTP_CREATED, compat_task(t));
done:
    tia_task_free(t);
    free(input);
    free(meta);
}

/*
 * PUT /api/tasks/{id} {status, output_data, error_message, tokens_used,
 * cost_usd}: a status change through the engine; the result members count
 * where the status uses them (the original clients send them all).
 */
static void task_update(tia__call *c)
{
    const char *id, *status, *msg;
    tia_task_status_change ch = {0};
    char *output = NULL;
    int64_t tokens, cost;
    tia_run_status to;
    tia_task *t = NULL;
    tia_error err = {0};
    tia_store *s;
    if (tia__param_uuid(c, 0, &id) != 0 || tia__body_str(c, "status", 1, &status) != 0 ||
        opt_str(c, "error_message", &msg) != 0 ||
        tia__body_int(c, "tokens_used", 0, -1, &tokens) != 0 ||
        tia__body_cost(c, "cost_usd", 0, -1, &cost) != 0 ||
        tia__body_json_text(c, "output_data", &output) != 0)
        goto done;
    if (tia_run_status_parse(status, &to) != 0 || to == TIA_PENDING) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                  "status must be one of running, completed, failed, cancelled");
        goto done;
    }
    ch.to = to;
    ch.tokens_used = -1;
    ch.cost_micros = -1;
    if (to == TIA_COMPLETED) {
        ch.output_data = output;
        ch.tokens_used = tokens;
        ch.cost_micros = cost;
    } else if (to == TIA_FAILED) {
        ch.error_message = msg;
        ch.tokens_used = tokens;
        ch.cost_micros = cost;
    } else if (to == TIA_CANCELLED) {
        ch.error_message = msg;
    }
    if ((s = tia__store(c)) == NULL)
        goto done;
    int rc = tia_engine_set_task_status(s, id, &ch, &err);
    if (rc == 0)
        rc = tia_task_get(s, id, &t, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    tia__reply(c, MHD_HTTP_OK, compat_task(t));
done:
    tia_task_free(t);
    free(output);
}

/* ---- workflows ---- */

/* GET /api/workflows?limit=: newest first. */
static void workflows_list(tia__call *c)
{
    tia_workflow_filter f = {0};
    struct tia_workflow_list l = {0};
    tia_error err = {0};
    if (limit_of(c, &f.limit) != 0)
        return;
    f.created_after = f.created_before = TIA_TIME_NONE;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_workflow_list(s, &f, &l, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, compat_workflow(l.items[i]));
    tia__reply(c, MHD_HTTP_OK, arr);
    tia_workflow_list_free(&l);
}

/* POST /api/workflows {name, description, workflow_type, initiator, metadata} -> 201 */
static void workflow_create(tia__call *c)
{
    tia_workflow_new w = {0};
    char *meta = NULL;
    char id[TIA_UUID_BUF];
    tia_workflow *got = NULL;
    tia_error err = {0};
    tia_store *s;
    if (tia__body_str(c, "name", 1, &w.name) != 0 ||
        tia__body_str(c, "description", 0, &w.description) != 0 ||
        tia__body_str(c, "workflow_type", 0, &w.workflow_type) != 0 ||
        tia__body_str(c, "initiator", 0, &w.initiator) != 0 ||
        tia__body_json_text(c, "metadata", &meta) != 0)
        goto done;
    w.metadata = meta;
    if ((s = tia__store(c)) == NULL)
        goto done;
    int rc = tia_workflow_create(s, &w, id, &err);
    if (rc == 0)
        rc = tia_workflow_get(s, id, &got, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    snprintf(c->location, sizeof c->location, "/api/workflows/%s", id);
    tia__reply(c, MHD_HTTP_CREATED, compat_workflow(got));
done:
    tia_workflow_free(got);
    free(meta);
}

/* GET /api/workflows/{id} */
static void workflow_get(tia__call *c)
{
    const char *id;
    tia_workflow *w = NULL;
    tia_error err = {0};
    if (tia__param_uuid(c, 0, &id) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_workflow_get(s, id, &w, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    tia__reply(c, MHD_HTTP_OK, compat_workflow(w));
    tia_workflow_free(w);
}

/* GET /api/workflows/{id}/tasks: oldest first. */
static void workflow_tasks(tia__call *c)
{
    const char *id;
    tia_workflow *w = NULL;
    struct tia_task_list l = {0};
    tia_error err = {0};
    if (tia__param_uuid(c, 0, &id) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_workflow_get_with_tasks(s, id, &w, &l, &err);
    if (rc != 0)
        tia__fail_rc(c, rc, &err);
    else
        reply_tasks(c, &l);
    tia_workflow_free(w);
    tia_task_list_free(&l);
}

/* ---- metrics ---- */

/* GET /api/metrics?agent_id=&metric_type=&limit=: the newest points. */
static void metrics_list(tia__call *c)
{
    struct tia_metric_list l = {0};
    size_t limit;
    tia_error err = {0};
    if (limit_of(c, &limit) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_metric_list(s, tia__query(c, "agent_id"), tia__query(c, "metric_type"), limit, &l,
                             &err);
    if (rc == TIA_EINVAL) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", err.message);
        return;
    }
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, tia__json_metric(&l.items[i]));
    tia__reply(c, MHD_HTTP_OK, arr);
    tia_metric_list_free(&l);
}

#define COMPAT TIA__R_COMPAT
static const tia__route routes[] = {
    {"GET", "/api/agents", agents_list, COMPAT | TIA__R_SHARED, "Original API: list agents"},
    {"GET", "/api/agents/{id}", agent_get, COMPAT | TIA__R_SHARED, "Original API: get an agent"},
    {"GET", "/api/agents/{id}/stats", agent_stats, COMPAT | TIA__R_SHARED,
     "Original API: an agent's stats"},
    {"GET", "/api/agents/{id}/tasks", agent_tasks, COMPAT | TIA__R_SHARED,
     "Original API: an agent's tasks"},
    {"POST", "/api/tasks", task_create, COMPAT | TIA__R_JSON, "Original API: create a task"},
    {"PUT", "/api/tasks/{id}", task_update, COMPAT | TIA__R_JSON,
     "Original API: change a task's status"},
    {"GET", "/api/workflows", workflows_list, COMPAT | TIA__R_SHARED,
     "Original API: list workflows"},
    {"POST", "/api/workflows", workflow_create, COMPAT | TIA__R_JSON,
     "Original API: create a workflow"},
    {"GET", "/api/workflows/{id}", workflow_get, COMPAT | TIA__R_SHARED,
     "Original API: get a workflow"},
    {"GET", "/api/workflows/{id}/tasks", workflow_tasks, COMPAT | TIA__R_SHARED,
     "Original API: a workflow's tasks"},
    {"GET", "/api/metrics", metrics_list, COMPAT | TIA__R_SHARED,
     "Original API: recent metric points"},
};

const tia__route_table tia__routes_compat = {routes, sizeof routes / sizeof routes[0]};
