/*
 * Workflow templates: a workflow's task graph written as JSON (format in
 * docs/templates.md), loaded from a directory or from the four built-ins of the
 * seed README (code_review, feature_development, deployment, architecture).
 * The built-ins are JSON text in this file and go through tia_template_parse
 * like any file, so there is one code path and one set of rules. Parsing refuses
 * anything doubtful (unknown fields, wrong types, duplicate members, bad graphs)
 * with the origin and the JSON path in the message, so that a typo in a template
 * is found when it is loaded, not when a task fails at 3 a.m.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <tokyoia/engine.h>

#include "core/validate.h"
#include "engine/engine_internal.h"

/* Largest template file or text, in bytes. */
#define TEMPLATE_MAX (1024 * 1024)
/* Longest template name (the file is NAME.json). */
#define NAME_MAX_LEN 64
/* The longest JSON path a message names: "tasks[9999].depends_on[99]" and a field. */
#define PATH_BUF 96

/* clang-format off */
static const char builtin_code_review[] =
    "{\"name\": \"code_review\", \"workflow_type\": \"code_review\","
    " \"description\": \"Review a change: security audit and code review in parallel, then unit"
    " tests, CI/CD, and documentation of it all.\","
    " \"tasks\": ["
    "  {\"key\": \"security_audit\", \"agent\": \"akira-001\", \"task_type\": \"security_audit\","
    "   \"description\": \"Audit the change for security flaws: injection, authentication, secrets,"
    " unsafe dependencies.\", \"priority\": 1, \"timeout\": \"15m\"},"
    "  {\"key\": \"code_review\", \"agent\": \"akira-001\", \"task_type\": \"code_review\","
    "   \"description\": \"Review the change for correctness, performance, architecture and code"
    " quality.\", \"timeout\": \"15m\"},"
    "  {\"key\": \"unit_tests\", \"agent\": \"yuki-002\", \"task_type\": \"unit_tests\","
    "   \"description\": \"Write and run unit tests for the reviewed change.\", \"timeout\": \"20m\","
    "   \"depends_on\": [\"code_review\"]},"
    "  {\"key\": \"ci_cd\", \"agent\": \"hiro-003\", \"task_type\": \"ci_cd\","
    "   \"description\": \"Run the change and its tests through the CI/CD pipeline.\","
    "   \"timeout\": \"30m\", \"depends_on\": [\"unit_tests\"]},"
    "  {\"key\": \"documentation\", \"agent\": \"sakura-004\", \"task_type\": \"documentation\","
    "   \"description\": \"Document the change and summarise the audit, review, tests and pipeline"
    " results.\", \"timeout\": \"15m\","
    "   \"depends_on\": [\"security_audit\", \"code_review\", \"unit_tests\", \"ci_cd\"]}]}";

static const char builtin_feature_development[] =
    "{\"name\": \"feature_development\", \"workflow_type\": \"feature_development\","
    " \"description\": \"Design a feature: architecture first, then the test plan, then the"
    " specification that brings both together.\","
    " \"tasks\": ["
    "  {\"key\": \"architecture\", \"agent\": \"kenji-005\", \"task_type\": \"architecture\","
    "   \"description\": \"Design the feature's architecture: components, interfaces, data flow"
    " and trade-offs.\", \"timeout\": \"20m\"},"
    "  {\"key\": \"test_planning\", \"agent\": \"yuki-002\", \"task_type\": \"test_planning\","
    "   \"description\": \"Plan unit, integration and end-to-end tests for the designed feature.\","
    "   \"timeout\": \"15m\", \"depends_on\": [\"architecture\"]},"
    "  {\"key\": \"specification\", \"agent\": \"sakura-004\", \"task_type\": \"specification\","
    "   \"description\": \"Write the feature specification from the architecture and the test"
    " plan.\", \"timeout\": \"15m\", \"depends_on\": [\"architecture\", \"test_planning\"]}]}";

static const char builtin_deployment[] =
    "{\"name\": \"deployment\", \"workflow_type\": \"deployment\","
    " \"description\": \"Deploy a service: Kubernetes rollout, then monitoring, then the"
    " runbook.\","
    " \"tasks\": ["
    "  {\"key\": \"kubernetes\", \"agent\": \"hiro-003\", \"task_type\": \"kubernetes\","
    "   \"description\": \"Prepare and roll out the Kubernetes manifests of the service.\","
    "   \"priority\": 1, \"timeout\": \"30m\"},"
    "  {\"key\": \"monitoring\", \"agent\": \"hiro-003\", \"task_type\": \"monitoring\","
    "   \"description\": \"Set up dashboards, alerts and SLOs for the deployed service.\","
    "   \"timeout\": \"20m\", \"depends_on\": [\"kubernetes\"]},"
    "  {\"key\": \"documentation\", \"agent\": \"sakura-004\", \"task_type\": \"documentation\","
    "   \"description\": \"Write the deployment runbook: rollout, monitoring and rollback.\","
    "   \"timeout\": \"15m\", \"depends_on\": [\"kubernetes\", \"monitoring\"]}]}";

static const char builtin_architecture[] =
    "{\"name\": \"architecture\", \"workflow_type\": \"architecture\","
    " \"description\": \"Design a system: microservice decomposition, then infrastructure and"
    " testing strategy in parallel, then the architecture documents.\","
    " \"tasks\": ["
    "  {\"key\": \"microservices\", \"agent\": \"kenji-005\", \"task_type\": \"microservices\","
    "   \"description\": \"Decompose the system into microservices with their contracts and data"
    " ownership.\", \"timeout\": \"20m\"},"
    "  {\"key\": \"infrastructure\", \"agent\": \"hiro-003\", \"task_type\": \"infrastructure\","
    "   \"description\": \"Design the infrastructure the services run on: clusters, networking,"
    " storage, reliability.\", \"timeout\": \"20m\", \"depends_on\": [\"microservices\"]},"
    "  {\"key\": \"testing\", \"agent\": \"yuki-002\", \"task_type\": \"testing\","
    "   \"description\": \"Define the testing strategy across services: contract, integration and"
    " end-to-end tests.\", \"timeout\": \"15m\", \"depends_on\": [\"microservices\"]},"
    "  {\"key\": \"architecture_docs\", \"agent\": \"sakura-004\","
    "   \"task_type\": \"architecture_docs\","
    "   \"description\": \"Write the architecture documents and diagrams from the design, the"
    " infrastructure and the testing strategy.\", \"timeout\": \"15m\","
    "   \"depends_on\": [\"microservices\", \"infrastructure\", \"testing\"]}]}";
/* clang-format on */

static const char *const builtin_names[] = {"code_review", "feature_development", "deployment",
                                            "architecture", NULL};
static const char *const builtin_texts[] = {builtin_code_review, builtin_feature_development,
                                            builtin_deployment, builtin_architecture};

static const char *const top_fields[] = {"name", "workflow_type", "description", "tasks", NULL};
static const char *const task_fields[] = {"key",        "agent",       "task_type", "description",
                                          "priority",   "max_retries", "timeout",   "timeout_ms",
                                          "depends_on", "input",       NULL};

struct tia_template {
    json_t *root; /* the parsed document: owns every string the specs point to */
    const char *name;
    const char *workflow_type;
    const char *description;
    size_t n;
    tia_task_spec *specs; /* n tasks, strings borrowed from root */
    const char **deps;    /* every depends_on, each task's slice in a row */
    json_t **inputs;      /* n: each task's "input" object in root, or NULL */
    char **merged;        /* n: input_data of the last tia_template_spec */
    char *metadata;       /* {"template": name} */
};

const char *const *tia_template_builtins(void)
{
    return builtin_names;
}

static void free_merged(tia_template *t)
{
    for (size_t i = 0; t->merged != NULL && i < t->n; i++) {
        free(t->merged[i]);
        t->merged[i] = NULL;
        t->specs[i].input_data = NULL;
    }
}

void tia_template_free(tia_template *t)
{
    if (t == NULL)
        return;
    free_merged(t);
    free(t->merged);
    free(t->inputs);
    free(t->deps);
    free(t->specs);
    free(t->metadata);
    json_decref(t->root);
    free(t);
}

/* TIA_EINVAL with a formatted message (the origin is added by the caller). */
static int bad(tia_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(tia_error *e, const char *fmt, ...)
{
    char msg[TIA_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tia_error_set(e, TIA_EINVAL, "%s", msg);
}

/* Refuses members of obj (at path, "" for the top) that are not in allowed. */
static int check_fields(json_t *obj, const char *path, const char *const *allowed, tia_error *e)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], k) != 0)
            i++;
        if (allowed[i] == NULL)
            return bad(e, "%s%sunknown field '%.60s'", path, *path ? ": " : "", k);
    }
    return 0;
}

static void member_path(char out[PATH_BUF], const char *path, const char *field)
{
    snprintf(out, PATH_BUF, "%s%s%s", path, *path ? "." : "", field);
}

/* The string member field of obj into *out (NULL when absent and not required). */
static int get_text(json_t *obj, const char *path, const char *field, size_t max_chars,
                    int required, const char **out, tia_error *e)
{
    char where[PATH_BUF];
    member_path(where, path, field);
    json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (v == NULL)
        return required ? bad(e, "%s is required", where) : 0;
    if (!json_is_string(v))
        return bad(e, "%s must be a string", where);
    int rc = tia__check_text(e, where, json_string_value(v), max_chars, required);
    if (rc == 0)
        *out = json_string_value(v);
    return rc;
}

/* The integer member field of obj into *out, min..max; *out untouched when absent. */
static int get_int(json_t *obj, const char *path, const char *field, int64_t min, int64_t max,
                   int64_t *out, tia_error *e)
{
    char where[PATH_BUF];
    member_path(where, path, field);
    json_t *v = json_object_get(obj, field);
    if (v == NULL)
        return 0;
    if (!json_is_integer(v))
        return bad(e, "%s must be an integer", where);
    json_int_t i = json_integer_value(v);
    if (i < min || i > max)
        return bad(e, "%s must be between %lld and %lld", where, (long long)min, (long long)max);
    *out = i;
    return 0;
}

/* "timeout" (a duration such as "5m") or "timeout_ms" (an integer), not both. */
static int get_timeout(json_t *obj, const char *path, int64_t *ms, tia_error *e)
{
    json_t *v = json_object_get(obj, "timeout");
    *ms = 0;
    if (v == NULL)
        return get_int(obj, path, "timeout_ms", 1, INT32_MAX, ms, e);
    if (json_object_get(obj, "timeout_ms") != NULL)
        return bad(e, "%s: timeout and timeout_ms are exclusive", path);
    int64_t us = 0;
    if (!json_is_string(v) || tia_duration_parse(json_string_value(v), &us) != 0)
        return bad(e, "%s.timeout must be a duration such as \"90s\", \"5m\" or \"1h30m\"", path);
    if (us < 1000 || us / 1000 > INT32_MAX)
        return bad(e, "%s.timeout must be between 1ms and %dms", path, INT32_MAX);
    *ms = us / 1000;
    return 0;
}

/* depends_on: an array of strings whose pointers go to deps (the graph is checked later). */
static int get_deps(json_t *obj, const char *path, const char **deps, size_t *n, tia_error *e)
{
    json_t *v = json_object_get(obj, "depends_on");
    *n = 0;
    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return bad(e, "%s.depends_on must be an array of keys", path);
    if (json_array_size(v) > TIA_TASK_DEPS_MAX)
        return bad(e, "%s.depends_on has %zu keys, at most %d", path, json_array_size(v),
                   TIA_TASK_DEPS_MAX);
    for (size_t j = 0; j < json_array_size(v); j++) {
        json_t *d = json_array_get(v, j);
        if (!json_is_string(d))
            return bad(e, "%s.depends_on[%zu] must be a string", path, j);
        deps[j] = json_string_value(d);
    }
    *n = json_array_size(v);
    return 0;
}

/* Task i of the document into t->specs[i]; its dependencies go to deps. */
static int parse_task(tia_template *t, size_t i, json_t *obj, const char **deps, tia_error *e)
{
    char path[PATH_BUF];
    tia_task_spec *s = &t->specs[i];
    int64_t priority = 0, retries = -1;
    int rc;
    snprintf(path, sizeof path, "tasks[%zu]", i);
    if (!json_is_object(obj))
        return bad(e, "%s must be an object", path);
    if ((rc = check_fields(obj, path, task_fields, e)) != 0 ||
        (rc = get_text(obj, path, "key", TIA__TASK_KEY_MAX, 1, &s->key, e)) != 0 ||
        (rc = get_text(obj, path, "agent", TIA_AGENT_ID_MAX, 1, &s->agent_id, e)) != 0 ||
        (rc = get_text(obj, path, "task_type", TIA_TASK_TYPE_MAX, 1, &s->task_type, e)) != 0 ||
        (rc = get_text(obj, path, "description", 0, 1, &s->description, e)) != 0 ||
        (rc = get_int(obj, path, "priority", INT32_MIN, INT32_MAX, &priority, e)) != 0 ||
        (rc = get_int(obj, path, "max_retries", 0, 100, &retries, e)) != 0 ||
        (rc = get_timeout(obj, path, &s->timeout_ms, e)) != 0 ||
        (rc = get_deps(obj, path, deps, &s->n_depends_on, e)) != 0)
        return rc;
    s->priority = (int)priority;
    s->max_retries = (int)retries;
    s->depends_on = deps;
    json_t *in = json_object_get(obj, "input");
    if (in != NULL && !json_is_object(in))
        return bad(e, "%s.input must be an object", path);
    t->inputs[i] = in;
    return 0;
}

/* The tasks array: 1..TIA_WORKFLOW_TASKS_MAX objects, then their graph. */
static int parse_tasks(tia_template *t, json_t *arr, tia_error *e)
{
    if (arr == NULL)
        return bad(e, "tasks is required");
    if (!json_is_array(arr))
        return bad(e, "tasks must be an array");
    size_t n = json_array_size(arr), total = 0;
    if (n == 0 || n > TIA_WORKFLOW_TASKS_MAX)
        return bad(e, "tasks has %zu tasks, must have 1 to %d", n, TIA_WORKFLOW_TASKS_MAX);
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_object_get(json_array_get(arr, i), "depends_on");
        total += json_is_array(d) ? json_array_size(d) : 0;
    }
    t->n = n;
    t->specs = calloc(n, sizeof *t->specs);
    t->deps = calloc(total ? total : 1, sizeof *t->deps);
    t->inputs = calloc(n, sizeof *t->inputs);
    t->merged = calloc(n, sizeof *t->merged);
    if (t->specs == NULL || t->deps == NULL || t->inputs == NULL || t->merged == NULL)
        return tia_error_set(e, TIA_ENOMEM, "out of memory for %zu tasks", n);
    int rc = 0;
    for (size_t i = 0, used = 0; rc == 0 && i < n; used += t->specs[i++].n_depends_on)
        rc = parse_task(t, i, json_array_get(arr, i), t->deps + used, e);
    tia__task_graph g;
    if (rc == 0 && (rc = tia__task_graph_build(t->specs, n, &g, e)) == 0)
        tia__task_graph_free(&g);
    return rc;
}

/* The whole document into t; messages without the origin. */
static int parse_doc(tia_template *t, const char *json, tia_error *e)
{
    json_error_t jerr;
    size_t len = strlen(json);
    if (len > TEMPLATE_MAX)
        return bad(e, "larger than %d bytes (%zu)", TEMPLATE_MAX, len);
    t->root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (t->root == NULL)
        return bad(e, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    if (!json_is_object(t->root))
        return bad(e, "a template must be a JSON object");
    int rc;
    if ((rc = check_fields(t->root, "", top_fields, e)) != 0 ||
        (rc = get_text(t->root, "", "name", TIA_WORKFLOW_NAME_MAX, 1, &t->name, e)) != 0 ||
        (rc = get_text(t->root, "", "workflow_type", TIA_WORKFLOW_TYPE_MAX, 0, &t->workflow_type,
                       e)) != 0 ||
        (rc = get_text(t->root, "", "description", 0, 0, &t->description, e)) != 0 ||
        (rc = parse_tasks(t, json_object_get(t->root, "tasks"), e)) != 0)
        return rc;
    json_t *meta = json_pack("{s:s}", "template", t->name);
    t->metadata = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    if (t->metadata == NULL)
        return tia_error_set(e, TIA_ENOMEM, "out of memory");
    return 0;
}

int tia_template_parse(const char *json, const char *origin, tia_template **out, tia_error *err)
{
    tia_error e = {0};
    int rc;
    *out = NULL;
    if (origin == NULL)
        origin = "template";
    if (json == NULL)
        return tia_error_set(err, TIA_EINVAL, "%s: no JSON text", origin);
    tia_template *t = calloc(1, sizeof *t);
    if (t == NULL)
        return tia_error_set(err, TIA_ENOMEM, "%s: out of memory", origin);
    rc = parse_doc(t, json, &e);
    if (rc != 0) {
        tia_template_free(t);
        return tia_error_set(err, rc, "%s: %s", origin, e.message);
    }
    *out = t;
    return 0;
}

/* [a-z0-9_-]{1,64}: a name that cannot leave the directory or surprise a shell. */
static int check_name(const char *name, tia_error *err)
{
    size_t len = name ? strlen(name) : 0;
    int ok = len >= 1 && len <= NAME_MAX_LEN;
    for (size_t i = 0; ok && i < len; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    }
    if (!ok)
        return tia_error_set(err, TIA_EINVAL,
                             "template name '%.80s' must be 1 to %d of a-z, 0-9, '_' and '-'",
                             name ? name : "(null)", NAME_MAX_LEN);
    return 0;
}

/* Reads path (at most TEMPLATE_MAX bytes) into *text; *text stays NULL when it does not exist. */
static int read_file(const char *path, char **text, tia_error *err)
{
    int rc = 0;
    char *buf = NULL;
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return errno == ENOENT ? 0 : tia_error_set(err, TIA_EIO, "%s: %s", path, strerror(errno));
    if ((buf = malloc(TEMPLATE_MAX + 2)) == NULL) {
        rc = tia_error_set(err, TIA_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t len = fread(buf, 1, TEMPLATE_MAX + 1, f);
    if (ferror(f))
        rc = tia_error_set(err, TIA_EIO, "%s: %s", path, strerror(errno));
    else if (len > TEMPLATE_MAX)
        rc = tia_error_set(err, TIA_EINVAL, "%s: larger than %d bytes", path, TEMPLATE_MAX);
    else if (memchr(buf, '\0', len) != NULL)
        rc = tia_error_set(err, TIA_EINVAL, "%s: contains a NUL byte", path);
    if (rc != 0)
        goto done;
    buf[len] = '\0';
    *text = buf;
    buf = NULL;
done:
    free(buf);
    fclose(f);
    return rc;
}

int tia_template_load(const char *name, const char *dir, tia_template **out, tia_error *err)
{
    *out = NULL;
    int rc = check_name(name, err);
    if (rc != 0)
        return rc;
    if (dir != NULL) {
        char path[4096];
        char *text = NULL;
        if ((size_t)snprintf(path, sizeof path, "%s/%s.json", dir, name) >= sizeof path)
            return tia_error_set(err, TIA_EINVAL, "template directory path is too long");
        if ((rc = read_file(path, &text, err)) != 0)
            return rc;
        if (text != NULL) {
            rc = tia_template_parse(text, path, out, err);
            free(text);
            return rc;
        }
    }
    for (size_t i = 0; builtin_names[i] != NULL; i++)
        if (strcmp(builtin_names[i], name) == 0)
            return tia_template_parse(builtin_texts[i], builtin_names[i], out, err);
    if (dir != NULL)
        return tia_error_set(err, TIA_ENOTFOUND,
                             "unknown template '%s': no %s/%s.json and no built-in of that name",
                             name, dir, name);
    return tia_error_set(err, TIA_ENOTFOUND, "unknown template '%s'", name);
}

/*
 * Task i's input_data: its own input object with the caller's object under
 * "input" (merged into the template's own "input" object when it has one,
 * the caller winning member by member). NULL when there is neither.
 */
static int merge_input(tia_template *t, size_t i, json_t *in, char **out)
{
    json_t *own = t->inputs[i];
    *out = NULL;
    if (own == NULL && in == NULL)
        return 0;
    json_t *obj = own ? json_deep_copy(own) : json_object();
    int rc = obj == NULL ? -1 : 0;
    if (rc == 0 && in != NULL) {
        json_t *prev = json_object_get(obj, "input");
        if (json_is_object(prev))
            rc = json_object_update(prev, in);
        else
            rc = json_object_set(obj, "input", in);
    }
    if (rc == 0 && (*out = json_dumps(obj, JSON_COMPACT)) == NULL)
        rc = -1;
    json_decref(obj);
    return rc;
}

int tia_template_spec(tia_template *t, const char *input, tia_workflow_spec *out, tia_error *err)
{
    json_t *in = NULL;
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (t == NULL)
        return tia_error_set(err, TIA_EINVAL, "template is required");
    if ((rc = tia__check_json(err, "input", input, 0)) != 0)
        return rc;
    if (input != NULL)
        in = json_loads(input, JSON_REJECT_DUPLICATES, NULL);
    if (input != NULL && !json_is_object(in)) {
        rc = tia_error_set(err, TIA_EINVAL,
                           "input must be a JSON object (without repeated members)");
        goto done;
    }
    free_merged(t);
    for (size_t i = 0; i < t->n; i++) {
        if (merge_input(t, i, in, &t->merged[i]) != 0) {
            rc = tia_error_set(err, TIA_ENOMEM, "out of memory merging the input of tasks[%zu]", i);
            goto done;
        }
        t->specs[i].input_data = t->merged[i];
    }
    out->name = t->name;
    out->description = t->description;
    out->workflow_type = t->workflow_type;
    out->metadata = t->metadata;
    out->tasks = t->specs;
    out->n_tasks = t->n;
done:
    json_decref(in);
    return rc;
}
