/*
 * Routes of the Registry API for workflows and templates: submit a workflow
 * from a built-in template or from a task list (once per idempotency key: a
 * replay answers 200 with the first workflow), list with filters and cursor
 * pagination, get with its tasks and interactions, cancel; and the names and
 * shapes of the built-in templates. Submission is one engine call, so a graph
 * with a cycle or an unknown agent is refused whole, with nothing written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/engine.h>
#include <tokyoia/interactions.h>
#include <tokyoia/tasks.h>
#include <tokyoia/workflows.h>

#include "api/api.h"

/* A library refusal of a body: a reference to a missing row is a bad member (422). */
static void fail_body_rc(tia__call *c, int rc, const tia_error *err)
{
    if (rc == TIA_ENOTFOUND)
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s", err->message);
    else
        tia__fail_rc(c, rc, err);
}

/*
 * A workflow with "tasks" (oldest first) and "interactions" (in order). All of it
 * from the primary: the workflow and its tasks are a get, which stays there, and
 * interactions read from a replica that lags could miss the handoffs of tasks the
 * answer shows completed.
 */
static int workflow_full(tia_store *s, const char *id, tia__jw *out, tia_error *err)
{
    tia_workflow *w = NULL;
    struct tia_task_list tasks = {0};
    tia_interaction_list in = {0};
    tia_store_read_primary(s, 1); /* the pool unpins the handle when it is given back */
    int rc = tia_workflow_get_with_tasks(s, id, &w, &tasks, err);
    if (rc == 0)
        rc = tia_interaction_list_for_workflow(s, id, &in, err);
    if (rc != 0)
        goto done;
    tia__jw_workflow_open(out, w);
    tia__jw_key(out, "tasks");
    tia__jw_arr(out);
    for (size_t i = 0; i < tasks.n; i++)
        tia__jw_task(out, tasks.items[i]);
    tia__jw_end_arr(out);
    tia__jw_key(out, "interactions");
    tia__jw_arr(out);
    for (size_t i = 0; i < in.n; i++)
        tia__jw_interaction(out, &in.items[i]);
    tia__jw_end_arr(out);
    tia__jw_end_obj(out);
done:
    tia_workflow_free(w);
    tia_task_list_free(&tasks);
    tia_interaction_list_free(&in);
    return rc;
}

static void reply_workflow(tia__call *c, tia_store *s, const char *id, int status)
{
    tia__jw w = {0};
    tia_error err = {0};
    int rc = workflow_full(s, id, &w, &err);
    if (rc != 0) {
        tia__jw_free(&w);
        tia__fail_rc(c, rc, &err);
    } else {
        tia__reply_jw(c, status, &w);
    }
}

/* ---- submit ---- */

static const char *const template_members[] = {"template",    "input",           "name",
                                               "description", "workflow_type",   "initiator",
                                               "metadata",    "idempotency_key", NULL};
static const char *const list_members[] = {
    "name",     "description", "workflow_type",   "initiator",
    "metadata", "tasks",       "idempotency_key", NULL};

/* What a submission owns until it is answered. */
typedef struct submission {
    tia_workflow_spec spec;
    tia_template *tmpl;
    tia_task_spec *tasks; /* from a task list */
    size_t n_tasks;
    char *input, *metadata;
} submission;

static void submission_free(submission *sub)
{
    for (size_t i = 0; sub->tasks && i < sub->n_tasks; i++)
        tia__task_spec_clear(&sub->tasks[i]);
    free(sub->tasks);
    tia_template_free(sub->tmpl);
    free(sub->input);
    free(sub->metadata);
}

/*
 * The workflow's metadata from a template: the caller's object (when given)
 * with "template" naming the template unless the caller set it.
 */
static int template_metadata(tia__call *c, const char *name, submission *sub)
{
    json_t *m = json_object_get(c->body, "metadata");
    json_t *copy;
    if (m == NULL || json_is_null(m))
        return 0; /* the template's own {"template": name} */
    if (!json_is_object(m)) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "metadata must be a JSON object");
        return -1;
    }
    copy = json_deep_copy(m);
    if (copy && json_object_get(copy, "template") == NULL)
        json_object_set_new(copy, "template", json_string(name));
    sub->metadata = copy ? json_dumps(copy, JSON_COMPACT) : NULL;
    json_decref(copy);
    if (sub->metadata == NULL) {
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return -1;
    }
    sub->spec.metadata = sub->metadata;
    return 0;
}

static int from_template(tia__call *c, const char *name, submission *sub)
{
    const char *wname, *desc, *type, *initiator;
    tia_error err = {0};
    if (tia__body_only(c, template_members) != 0 || tia__body_str(c, "name", 0, &wname) != 0 ||
        tia__body_str(c, "description", 0, &desc) != 0 ||
        tia__body_str(c, "workflow_type", 0, &type) != 0 ||
        tia__body_str(c, "initiator", 0, &initiator) != 0 ||
        tia__body_json_text(c, "input", &sub->input) != 0)
        return -1;
    /* Built-ins only: the server reads no template files on a client's behalf. */
    int rc = tia_template_load(name, NULL, &sub->tmpl, &err);
    if (rc == 0)
        rc = tia_template_spec(sub->tmpl, sub->input, &sub->spec, &err);
    if (rc != 0) {
        fail_body_rc(c, rc, &err);
        return -1;
    }
    if (wname)
        sub->spec.name = wname;
    if (desc)
        sub->spec.description = desc;
    if (type)
        sub->spec.workflow_type = type;
    if (initiator)
        sub->spec.initiator = initiator;
    return template_metadata(c, name, sub);
}

static int from_task_list(tia__call *c, submission *sub)
{
    tia_workflow_spec *w = &sub->spec;
    if (tia__body_only(c, list_members) != 0 || tia__body_str(c, "name", 1, &w->name) != 0 ||
        tia__body_str(c, "description", 0, &w->description) != 0 ||
        tia__body_str(c, "workflow_type", 0, &w->workflow_type) != 0 ||
        tia__body_str(c, "initiator", 0, &w->initiator) != 0 ||
        tia__body_json_text(c, "metadata", &sub->metadata) != 0)
        return -1;
    w->metadata = sub->metadata;
    json_t *arr = json_object_get(c->body, "tasks");
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > TIA_WORKFLOW_TASKS_MAX) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                  "tasks must be an array of 1..%d task specs (or give a template)",
                  TIA_WORKFLOW_TASKS_MAX);
        return -1;
    }
    size_t n = json_array_size(arr);
    sub->tasks = calloc(n, sizeof *sub->tasks);
    if (sub->tasks == NULL) {
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return -1;
    }
    sub->n_tasks = n;
    for (size_t i = 0; i < n; i++) {
        char where[32];
        snprintf(where, sizeof where, "tasks[%zu].", i);
        if (tia__task_spec_parse(c, json_array_get(arr, i), where, NULL, &sub->tasks[i]) != 0)
            return -1;
    }
    w->tasks = sub->tasks;
    w->n_tasks = n;
    return 0;
}

/* POST /api/v1/workflows: from {"template": ...} or {"name": ..., "tasks": [...]}. */
static void workflow_submit(tia__call *c)
{
    submission sub = {0};
    const char *tmpl, *key;
    char id[TIA_UUID_BUF];
    int created = 0;
    tia_error err = {0};
    tia_store *s;
    if (tia__body_str(c, "template", 0, &tmpl) != 0 || tia__idempotency_key(c, &key) != 0)
        goto done;
    if ((tmpl ? from_template(c, tmpl, &sub) : from_task_list(c, &sub)) != 0)
        goto done;
    sub.spec.idempotency_key = key;
    if (sub.spec.initiator == NULL && c->session != NULL)
        sub.spec.initiator = c->session->user_id; /* who asked, when we know */
    if ((s = tia__store(c)) == NULL)
        goto done;
    int rc = tia_engine_submit(s, &sub.spec, id, NULL, &created, &err);
    if (rc != 0) {
        fail_body_rc(c, rc, &err);
        goto done;
    }
    if (created)
        snprintf(c->location, sizeof c->location, "/api/v1/workflows/%s", id);
    reply_workflow(c, s, id, created ? MHD_HTTP_CREATED : MHD_HTTP_OK);
done:
    submission_free(&sub);
}

/* ---- read and cancel ---- */

/* GET /api/v1/workflows?status=&workflow_type=&created_after=&created_before=&limit=&cursor= */
static void workflow_list(tia__call *c)
{
    tia_workflow_filter f = {0};
    struct tia_workflow_list l = {0};
    tia_error err = {0};
    int has_status = 0, st = 0;
    int64_t after, before;
    tia_run_status status;
    if (tia__query_limit(c, 50, TIA_PAGE_MAX, &f.limit) != 0 ||
        tia__query_run_status(c, "status", &has_status, &st) != 0 ||
        tia__query_time(c, "created_after", TIA_TIME_NONE, &after) != 0 ||
        tia__query_time(c, "created_before", TIA_TIME_NONE, &before) != 0)
        return;
    status = (tia_run_status)st;
    f.status = has_status ? &status : NULL;
    f.workflow_type = tia__query(c, "workflow_type");
    f.created_after = after;
    f.created_before = before;
    f.cursor = tia__query(c, "cursor");
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_workflow_list(s, &f, &l, &err);
    if (rc == TIA_EINVAL) { /* a malformed filter or cursor is a bad query */
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", err.message);
        return;
    }
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(items, tia__json_workflow(l.items[i]));
    tia__reply(c, MHD_HTTP_OK,
               json_pack("{s:o,s:s?}", "items", items, "next_cursor",
                         l.next_cursor[0] ? l.next_cursor : NULL));
    tia_workflow_list_free(&l);
}

/* GET /api/v1/workflows/{id} */
static void workflow_get(tia__call *c)
{
    const char *id;
    if (tia__param_uuid(c, 0, &id) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s != NULL)
        reply_workflow(c, s, id, MHD_HTTP_OK);
}

/* POST /api/v1/workflows/{id}/cancel: 409 when it has ended. */
static void workflow_cancel(tia__call *c)
{
    const char *id;
    tia_error err = {0};
    if (tia__param_uuid(c, 0, &id) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_engine_cancel_workflow(s, id, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    reply_workflow(c, s, id, MHD_HTTP_OK);
}

/* ---- templates ---- */

/* GET /api/v1/templates: the names of the built-in templates (what "template" accepts). */
static void template_list(tia__call *c)
{
    json_t *items = json_array();
    for (const char *const *name = tia_template_builtins(); *name; name++)
        json_array_append_new(items, json_string(*name));
    tia__reply(c, MHD_HTTP_OK, json_pack("{s:o,s:n}", "items", items, "next_cursor"));
}

static const tia__route routes[] = {
    {"POST", "/api/v1/workflows", workflow_submit, TIA__R_JSON,
     "Submit a workflow from a template or a task list"},
    {"GET", "/api/v1/workflows", workflow_list, TIA__R_SHARED,
     "List workflows (filters, cursor pagination)"},
    {"GET", "/api/v1/workflows/{id}", workflow_get, TIA__R_SHARED,
     "Get a workflow with tasks and interactions"},
    {"POST", "/api/v1/workflows/{id}/cancel", workflow_cancel, 0, "Cancel a workflow"},
    {"GET", "/api/v1/templates", template_list, 0, "List the built-in workflow templates"},
};

const tia__route_table tia__routes_workflows = {routes, sizeof routes / sizeof routes[0]};
