/*
 * Routes of the Registry API for tasks: create, get and list, and the worker
 * protocol (claim, heartbeat, complete, fail, spawn) with the operator's
 * cancel and retry, so that a worker written in any language can be an agent
 * over HTTP. Every route translates JSON to one engine or store call and the
 * result back; the engine owns the rules (leases, retries, counters). A lost
 * lease is 409, as is an action on a task in the wrong state.
 *
 * This file also holds the reading of a task spec from JSON, which the
 * workflow routes share (a workflow's "tasks" are specs of the same shape).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/engine.h>
#include <tokyoia/tasks.h>

#include "api/api.h"

#define DEFAULT_LEASE_MS 30000
#define SPAWN_MAX 1000
#define US_PER_MS 1000

/* ---- reading members of nested objects ---- */

/* An integer member of obj in [min, max]; dflt when absent or null. */
static int obj_int(tia__call *c, json_t *obj, const char *where, const char *key, int64_t min,
                   int64_t max, int64_t dflt, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                  "%s%s must be an integer in %lld..%lld", where, key, (long long)min,
                  (long long)max);
        return -1;
    }
    *out = (int64_t)json_integer_value(v);
    return 0;
}

/* A member of obj as JSON text (malloc'd; NULL when absent or null). */
static int obj_json_text(tia__call *c, json_t *obj, const char *key, char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    *out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (*out == NULL) {
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return -1;
    }
    return 0;
}

static int in_list(const char *key, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], key) == 0)
            return 1;
    return 0;
}

/* 422 for a member of obj in neither list (a typo must not be ignored). */
static int obj_only(tia__call *c, json_t *obj, const char *where, const char *const *allowed,
                    const char *const *extra)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (!in_list(key, allowed) && !in_list(key, extra)) {
            tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%sunknown member '%.64s'",
                      where, key);
            return -1;
        }
    }
    return 0;
}

/*
 * A duration given as text ("30s", under text_key) or milliseconds (ms_key),
 * not both; dflt when neither.
 */
static int obj_duration_ms(tia__call *c, json_t *obj, const char *where, const char *text_key,
                           const char *ms_key, int64_t dflt, int64_t *out)
{
    const char *text;
    int64_t ms, us;
    if (tia__obj_str(c, obj, where, text_key, 0, &text) != 0 ||
        obj_int(c, obj, where, ms_key, 1, INT32_MAX, -1, &ms) != 0)
        return -1;
    *out = dflt;
    if (text && ms >= 0) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s%s and %s%s exclude each other",
                  where, text_key, where, ms_key);
        return -1;
    }
    if (ms >= 0)
        *out = ms;
    if (text == NULL)
        return 0;
    if (tia_duration_parse(text, &us) != 0 || us < US_PER_MS || us / US_PER_MS > INT32_MAX) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                  "%s%s must be a duration such as \"30s\" or \"5m\" (1 ms or more)", where,
                  text_key);
        return -1;
    }
    *out = us / US_PER_MS;
    return 0;
}

static int body_bool(tia__call *c, const char *key, int dflt, int *out)
{
    json_t *v = json_object_get(c->body, key);
    *out = dflt;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* ---- task specs (shared) ---- */

static const char *const spec_members[] = {"key",        "agent_id",   "task_type",   "description",
                                           "input_data", "priority",   "max_retries", "timeout_ms",
                                           "timeout",    "depends_on", "metadata",    NULL};

void tia__task_spec_clear(tia_task_spec *t)
{
    if (t == NULL)
        return;
    free((void *)t->input_data);
    free((void *)t->metadata);
    free((void *)t->depends_on);
    memset(t, 0, sizeof *t);
}

static int spec_depends_on(tia__call *c, json_t *obj, const char *where, tia_task_spec *out)
{
    json_t *v = json_object_get(obj, "depends_on");
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > TIA_TASK_DEPS_MAX) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                  "%sdepends_on must be an array of at most %d keys", where, TIA_TASK_DEPS_MAX);
        return -1;
    }
    size_t n = json_array_size(v);
    const char **deps = calloc(n ? n : 1, sizeof *deps);
    if (deps == NULL) {
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *k = json_array_get(v, i);
        if (!json_is_string(k)) {
            free(deps);
            tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                      "%sdepends_on[%zu] must be a string", where, i);
            return -1;
        }
        deps[i] = json_string_value(k);
    }
    out->depends_on = deps;
    out->n_depends_on = n;
    return 0;
}

/*
 * Reads a task spec from obj (where prefixes messages: "tasks[2]."); members
 * in extra are allowed besides the spec's own and left to the caller. Strings
 * are borrowed from obj; the rest is freed by tia__task_spec_clear (also after
 * a failure, which has answered).
 */
int tia__task_spec_parse(tia__call *c, json_t *obj, const char *where, const char *const *extra,
                         tia_task_spec *out)
{
    int64_t priority, retries, timeout;
    char *input = NULL, *meta = NULL;
    memset(out, 0, sizeof *out);
    out->max_retries = -1;
    if (!json_is_object(obj)) {
        size_t n = strlen(where); /* "tasks[2]." names "tasks[2]" */
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%.*s must be a JSON object",
                  (int)(n ? n - 1 : strlen("the task")), n ? where : "the task");
        return -1;
    }
    if (obj_only(c, obj, where, spec_members, extra) != 0 ||
        tia__obj_str(c, obj, where, "key", 0, &out->key) != 0 ||
        tia__obj_str(c, obj, where, "agent_id", 1, &out->agent_id) != 0 ||
        tia__obj_str(c, obj, where, "task_type", 1, &out->task_type) != 0 ||
        tia__obj_str(c, obj, where, "description", 1, &out->description) != 0 ||
        obj_int(c, obj, where, "priority", INT32_MIN, INT32_MAX, 0, &priority) != 0 ||
        obj_int(c, obj, where, "max_retries", 0, 100, -1, &retries) != 0 ||
        obj_duration_ms(c, obj, where, "timeout", "timeout_ms", 0, &timeout) != 0 ||
        obj_json_text(c, obj, "input_data", &input) != 0)
        return -1;
    out->input_data = input;
    if (obj_json_text(c, obj, "metadata", &meta) != 0)
        return -1;
    out->metadata = meta;
    out->priority = (int)priority;
    out->max_retries = (int)retries;
    out->timeout_ms = timeout;
    return spec_depends_on(c, obj, where, out);
}

/* The Idempotency-Key header or the body's idempotency_key (they must agree). */
int tia__idempotency_key(tia__call *c, const char **out)
{
    const char *h = tia__value(c, MHD_HEADER_KIND, "Idempotency-Key");
    const char *b = NULL;
    if (c->body && tia__body_str(c, "idempotency_key", 0, &b) != 0)
        return -1;
    if (h && b && strcmp(h, b) != 0) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                  "the Idempotency-Key header and idempotency_key differ");
        return -1;
    }
    *out = h ? h : b;
    if (*out != NULL && **out == '\0') {
        /* Not "no key": every empty key would name the first submission. */
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                  "the Idempotency-Key must not be empty");
        return -1;
    }
    return 0;
}

/* ---- answers ---- */

/* A library refusal of a body: a reference to a missing row is a bad member (422). */
static void fail_body_rc(tia__call *c, int rc, const tia_error *err)
{
    if (rc == TIA_ENOTFOUND)
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s", err->message);
    else
        tia__fail_rc(c, rc, err);
}

/* Answers status with the task as it is now. */
static void reply_task(tia__call *c, tia_store *s, const char *id, int status)
{
    tia_task *t = NULL;
    tia_error err = {0};
    int rc = tia_task_get(s, id, &t, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    tia__reply(c, status, tia__json_task(t));
    tia_task_free(t);
}

/* ---- routes ---- */

static const char *const create_extra[] = {"workflow_id", "idempotency_key", NULL};

/* POST /api/v1/tasks: one task, alone or joining a running workflow. */
static void task_create(tia__call *c)
{
    tia_task_spec spec;
    const char *wf = NULL, *key = NULL;
    char id[TIA_UUID_BUF];
    int created = 0;
    tia_error err = {0};
    tia_store *s;
    if (tia__task_spec_parse(c, c->body, "", create_extra, &spec) != 0 ||
        tia__body_str(c, "workflow_id", 0, &wf) != 0 || tia__idempotency_key(c, &key) != 0)
        goto done;
    if ((s = tia__store(c)) == NULL)
        goto done;
    int rc = tia_engine_submit_task(s, &spec, wf, key, id, &created, &err);
    if (rc != 0) {
        fail_body_rc(c, rc, &err);
        goto done;
    }
    if (created)
        snprintf(c->location, sizeof c->location, "/api/v1/tasks/%s", id);
    reply_task(c, s, id, created ? MHD_HTTP_CREATED : MHD_HTTP_OK);
done:
    tia__task_spec_clear(&spec);
}

void tia__reply_task_page(tia__call *c, const struct tia_task_list *l)
{
    tia__jw w = {0};
    tia__jw_obj(&w);
    tia__jw_key(&w, "items");
    tia__jw_arr(&w);
    for (size_t i = 0; i < l->n; i++)
        tia__jw_task(&w, l->items[i]);
    tia__jw_end_arr(&w);
    tia__jw_key(&w, "next_cursor");
    tia__jw_str(&w, l->next_cursor[0] ? l->next_cursor : NULL);
    tia__jw_end_obj(&w);
    tia__reply_jw(c, MHD_HTTP_OK, &w);
}

/* GET /api/v1/tasks?agent_id=&workflow_id=&status=&limit=&cursor= */
static void task_list(tia__call *c)
{
    tia_task_filter f = {0};
    struct tia_task_list l = {0};
    tia_error err = {0};
    int has_status = 0, st = 0;
    tia_run_status status;
    if (tia__query_limit(c, 50, TIA_PAGE_MAX, &f.limit) != 0 ||
        tia__query_run_status(c, "status", &has_status, &st) != 0)
        return;
    status = (tia_run_status)st;
    f.status = has_status ? &status : NULL;
    f.agent_id = tia__query(c, "agent_id");
    f.workflow_id = tia__query(c, "workflow_id");
    f.cursor = tia__query(c, "cursor");
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_task_list(s, &f, &l, &err);
    if (rc == TIA_EINVAL) { /* a malformed filter or cursor is a bad query */
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", err.message);
        return;
    }
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    tia__reply_task_page(c, &l);
    tia_task_list_free(&l);
}

/* GET /api/v1/tasks/{id} */
static void task_get(tia__call *c)
{
    const char *id;
    if (tia__param_uuid(c, 0, &id) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s != NULL)
        reply_task(c, s, id, MHD_HTTP_OK);
}

static const char *const claim_members[] = {"agent_ids", "worker_id", "max",
                                            "lease",     "lease_ms",  NULL};

/* POST /api/v1/tasks/claim: up to max ready tasks of the agents, each to one worker. */
static void task_claim(tia__call *c)
{
    const char **agents = NULL;
    size_t n_agents = 0;
    const char *worker;
    int64_t max, lease_ms;
    struct tia_claim_list l = {0};
    tia_error err = {0};
    tia_store *s;
    if (tia__body_only(c, claim_members) != 0 ||
        tia__body_strv(c, "agent_ids", 1, &agents, &n_agents) != 0 ||
        tia__body_str(c, "worker_id", 1, &worker) != 0 ||
        obj_int(c, c->body, "", "max", 1, 1000, 1, &max) != 0 ||
        obj_duration_ms(c, c->body, "", "lease", "lease_ms", DEFAULT_LEASE_MS, &lease_ms) != 0)
        goto done;
    if ((s = tia__store(c)) == NULL)
        goto done;
    int rc = tia_engine_claim(s, agents, n_agents, worker, (size_t)max, lease_ms, &l, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < l.n; i++) {
        const tia_claim *k = &l.items[i];
        json_t *o = json_object();
        json_object_set_new(o, "task", tia__json_task(k->task));
        tia__jint(o, "attempt", k->attempt);
        tia__jint(o, "lease_ms", lease_ms);
        if (k->timeout_ms > 0)
            tia__jint(o, "timeout_ms", k->timeout_ms);
        else
            json_object_set_new(o, "timeout_ms", json_null());
        tia__jint(o, "max_retries", k->max_retries);
        tia__jstr(o, "agent_model", k->agent_model);
        json_array_append_new(items, o);
    }
    tia__reply(c, MHD_HTTP_OK, json_pack("{s:o}", "items", items));
done:
    tia_claim_list_free(&l);
    free(agents);
}

/* The worker_id and attempt every lease-holding call names (the engine checks their range). */
static int lease_args(tia__call *c, const char **worker, int64_t *attempt)
{
    if (tia__body_str(c, "worker_id", 1, worker) != 0 ||
        tia__body_int(c, "attempt", 1, 0, attempt) != 0)
        return -1;
    return 0;
}

static const char *const heartbeat_members[] = {"worker_id", "attempt", "lease", "lease_ms", NULL};

/* POST /api/v1/tasks/{id}/heartbeat -> {"cancel_requested": bool} */
static void task_heartbeat(tia__call *c)
{
    const char *id, *worker;
    int64_t attempt, lease_ms;
    int cancel = 0;
    tia_error err = {0};
    if (tia__param_uuid(c, 0, &id) != 0 || tia__body_only(c, heartbeat_members) != 0 ||
        lease_args(c, &worker, &attempt) != 0 ||
        obj_duration_ms(c, c->body, "", "lease", "lease_ms", DEFAULT_LEASE_MS, &lease_ms) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_engine_heartbeat(s, id, worker, attempt, lease_ms, &cancel, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    tia__reply(c, MHD_HTTP_OK, json_pack("{s:b}", "cancel_requested", cancel));
}

static const char *const complete_members[] = {
    "worker_id",    "attempt",       "output_data", "tokens_used",
    "input_tokens", "output_tokens", "cost_usd",    NULL};

/* POST /api/v1/tasks/{id}/complete */
static void task_complete(tia__call *c)
{
    tia_completion k = {0};
    char *output = NULL;
    tia_error err = {0};
    tia_store *s;
    if (tia__param_uuid(c, 0, &k.task_id) != 0 || tia__body_only(c, complete_members) != 0 ||
        lease_args(c, &k.worker_id, &k.attempt) != 0 ||
        obj_int(c, c->body, "", "tokens_used", 0, INT32_MAX, -1, &k.tokens_used) != 0 ||
        obj_int(c, c->body, "", "input_tokens", 0, INT32_MAX, -1, &k.input_tokens) != 0 ||
        obj_int(c, c->body, "", "output_tokens", 0, INT32_MAX, -1, &k.output_tokens) != 0 ||
        tia__body_cost(c, "cost_usd", 0, -1, &k.cost_micros) != 0 ||
        tia__body_json_text(c, "output_data", &output) != 0)
        goto done;
    k.output_data = output;
    if ((s = tia__store(c)) == NULL)
        goto done;
    int rc = tia_engine_complete(s, &k, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    reply_task(c, s, k.task_id, MHD_HTTP_OK);
done:
    free(output);
}

static const char *const fail_members[] = {"worker_id", "attempt", "error_message", "retryable",
                                           NULL};

/* POST /api/v1/tasks/{id}/fail: retried after a backoff when retryable and retries are left. */
static void task_fail(tia__call *c)
{
    const char *id, *worker, *msg;
    int64_t attempt;
    int retryable;
    tia_error err = {0};
    if (tia__param_uuid(c, 0, &id) != 0 || tia__body_only(c, fail_members) != 0 ||
        lease_args(c, &worker, &attempt) != 0 || tia__body_str(c, "error_message", 0, &msg) != 0 ||
        body_bool(c, "retryable", 1, &retryable) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_engine_fail(s, id, worker, attempt, msg, retryable, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    reply_task(c, s, id, MHD_HTTP_OK);
}

typedef int (*task_action)(tia_store *s, const char *id, tia_error *err);

/* An operator's action on a task, answered with the task as it is afterwards. */
static void act(tia__call *c, task_action fn)
{
    const char *id;
    tia_error err = {0};
    if (tia__param_uuid(c, 0, &id) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = fn(s, id, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    reply_task(c, s, id, MHD_HTTP_OK);
}

/* POST /api/v1/tasks/{id}/cancel: pending at once, running asked to stop. */
static void task_cancel(tia__call *c)
{
    act(c, tia_engine_cancel_task);
}

/* POST /api/v1/tasks/{id}/retry: a failed or cancelled task back to pending. */
static void task_retry(tia__call *c)
{
    act(c, tia_engine_retry_task);
}

static const char *const spawn_members[] = {"worker_id", "attempt", "tasks", NULL};

/* POST /api/v1/tasks/{id}/spawn: subtasks of a running task -> 201 {"items": [...]}. */
static void task_spawn(tia__call *c)
{
    const char *id, *worker;
    int64_t attempt;
    tia_task_spec *specs = NULL;
    char(*ids)[TIA_UUID_BUF] = NULL;
    size_t n = 0;
    tia_error err = {0};
    tia_task *parent = NULL;
    tia_store *s;
    if (tia__param_uuid(c, 0, &id) != 0 || tia__body_only(c, spawn_members) != 0 ||
        lease_args(c, &worker, &attempt) != 0)
        goto done;
    json_t *arr = json_object_get(c->body, "tasks");
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > SPAWN_MAX) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                  "tasks must be an array of 1..%d task specs", SPAWN_MAX);
        goto done;
    }
    n = json_array_size(arr);
    specs = calloc(n, sizeof *specs);
    ids = calloc(n, sizeof *ids);
    if (specs == NULL || ids == NULL) {
        tia__fail(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        char where[32];
        snprintf(where, sizeof where, "tasks[%zu].", i);
        if (tia__task_spec_parse(c, json_array_get(arr, i), where, NULL, &specs[i]) != 0)
            goto done;
    }
    if ((s = tia__store(c)) == NULL)
        goto done;
    /* The parent is the path's resource (404); an unknown agent in a spec is the body's (422). */
    int rc = tia_task_get(s, id, &parent, &err);
    if (rc == 0)
        rc = tia_engine_spawn(s, id, worker, attempt, specs, n, ids, &err);
    if (rc != 0) {
        if (parent)
            fail_body_rc(c, rc, &err);
        else
            tia__fail_rc(c, rc, &err);
        goto done;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n && rc == 0; i++) {
        tia_task *t = NULL;
        if ((rc = tia_task_get(s, ids[i], &t, &err)) == 0)
            json_array_append_new(items, tia__json_task(t));
        tia_task_free(t);
    }
    if (rc != 0) {
        json_decref(items);
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    tia__reply(c, MHD_HTTP_CREATED, json_pack("{s:o}", "items", items));
done:
    for (size_t i = 0; specs && i < n; i++)
        tia__task_spec_clear(&specs[i]);
    free(specs);
    free(ids);
    tia_task_free(parent);
}

static const tia__route routes[] = {
    {"POST", "/api/v1/tasks", task_create, TIA__R_JSON, "Create a task"},
    {"GET", "/api/v1/tasks", task_list, TIA__R_SHARED, "List tasks (filters, cursor pagination)"},
    {"POST", "/api/v1/tasks/claim", task_claim, TIA__R_JSON, "Claim ready tasks under a lease"},
    {"GET", "/api/v1/tasks/{id}", task_get, TIA__R_SHARED, "Get a task"},
    {"POST", "/api/v1/tasks/{id}/heartbeat", task_heartbeat, TIA__R_JSON, "Extend a lease"},
    {"POST", "/api/v1/tasks/{id}/complete", task_complete, TIA__R_JSON, "Complete a task"},
    {"POST", "/api/v1/tasks/{id}/fail", task_fail, TIA__R_JSON, "Fail an attempt"},
    {"POST", "/api/v1/tasks/{id}/cancel", task_cancel, 0, "Cancel a task"},
    {"POST", "/api/v1/tasks/{id}/retry", task_retry, 0, "Retry a failed or cancelled task"},
    {"POST", "/api/v1/tasks/{id}/spawn", task_spawn, TIA__R_JSON, "Spawn subtasks"},
};

const tia__route_table tia__routes_tasks = {routes, sizeof routes / sizeof routes[0]};
