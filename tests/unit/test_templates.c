/*
 * Unit tests of workflow templates (no database): every built-in parses into
 * the graph the seed README describes; files from a directory load and win over
 * a built-in; every validation error names the origin and the JSON path; names
 * that could leave the directory are refused; the caller's input is merged into
 * each task's input_data under "input".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tia_test.h"

#include <tokyoia/engine.h>

static const tia_task_spec *find_task(const tia_workflow_spec *w, const char *key)
{
    for (size_t i = 0; i < w->n_tasks; i++)
        if (strcmp(w->tasks[i].key, key) == 0)
            return &w->tasks[i];
    fail_msg("no task '%s'", key);
    return NULL;
}

/* The dependencies of a task joined with ',' (in order). */
static void deps_of(const tia_task_spec *t, char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; i < t->n_depends_on; i++) {
        strncat(buf, i ? "," : "", len - strlen(buf) - 1);
        strncat(buf, t->depends_on[i], len - strlen(buf) - 1);
    }
}

static void assert_task(const tia_workflow_spec *w, const char *key, const char *agent,
                        const char *deps)
{
    char got[256];
    const tia_task_spec *t = find_task(w, key);
    assert_string_equal(t->agent_id, agent);
    assert_string_equal(t->task_type, key);
    assert_true(strlen(t->description) > 10);
    deps_of(t, got, sizeof got);
    assert_string_equal(got, deps);
}

static tia_template *load_ok(const char *name, const char *dir)
{
    tia_error err = {0};
    tia_template *t = NULL;
    TIA_OK_OR_FAIL(tia_template_load(name, dir, &t, &err), &err);
    assert_non_null(t);
    return t;
}

static void test_builtins(void **state)
{
    (void)state;
    tia_error err = {0};
    const char *const *names = tia_template_builtins();
    const char *want[] = {"code_review", "feature_development", "deployment", "architecture"};
    size_t n = 0;
    for (; names[n] != NULL; n++)
        assert_string_equal(names[n], want[n]);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        tia_template *t = load_ok(names[i], NULL);
        tia_workflow_spec w;
        TIA_OK_OR_FAIL(tia_template_spec(t, NULL, &w, &err), &err);
        assert_string_equal(w.workflow_type, names[i]);
        assert_string_equal(w.name, names[i]);
        assert_non_null(w.description);
        assert_non_null(strstr(w.metadata, names[i]));
        for (size_t k = 0; k < w.n_tasks; k++) {
            assert_int_equal(w.tasks[k].max_retries, -1); /* the default */
            assert_true(w.tasks[k].timeout_ms >= 60000);
            assert_null(w.tasks[k].input_data);
        }
        tia_template_free(t);
    }
}

static void test_builtin_graphs(void **state)
{
    (void)state;
    tia_error err = {0};
    tia_workflow_spec w;
    tia_template *t = load_ok("code_review", NULL);
    TIA_OK_OR_FAIL(tia_template_spec(t, NULL, &w, &err), &err);
    assert_int_equal(w.n_tasks, 5);
    assert_task(&w, "security_audit", "akira-001", "");
    assert_task(&w, "code_review", "akira-001", "");
    assert_task(&w, "unit_tests", "yuki-002", "code_review");
    assert_task(&w, "ci_cd", "hiro-003", "unit_tests");
    assert_task(&w, "documentation", "sakura-004", "security_audit,code_review,unit_tests,ci_cd");
    assert_int_equal(find_task(&w, "security_audit")->timeout_ms, 15 * 60000);
    tia_template_free(t);

    t = load_ok("feature_development", NULL);
    TIA_OK_OR_FAIL(tia_template_spec(t, NULL, &w, &err), &err);
    assert_int_equal(w.n_tasks, 3);
    assert_task(&w, "architecture", "kenji-005", "");
    assert_task(&w, "test_planning", "yuki-002", "architecture");
    assert_task(&w, "specification", "sakura-004", "architecture,test_planning");
    tia_template_free(t);

    t = load_ok("deployment", NULL);
    TIA_OK_OR_FAIL(tia_template_spec(t, NULL, &w, &err), &err);
    assert_int_equal(w.n_tasks, 3);
    assert_task(&w, "kubernetes", "hiro-003", "");
    assert_task(&w, "monitoring", "hiro-003", "kubernetes");
    assert_task(&w, "documentation", "sakura-004", "kubernetes,monitoring");
    tia_template_free(t);

    t = load_ok("architecture", NULL);
    TIA_OK_OR_FAIL(tia_template_spec(t, NULL, &w, &err), &err);
    assert_int_equal(w.n_tasks, 4);
    assert_task(&w, "microservices", "kenji-005", "");
    assert_task(&w, "infrastructure", "hiro-003", "microservices");
    assert_task(&w, "testing", "yuki-002", "microservices");
    assert_task(&w, "architecture_docs", "sakura-004", "microservices,infrastructure,testing");
    tia_template_free(t);
    tia_template_free(NULL);
}

static char *make_dir(void)
{
    char tmpl[] = "/tmp/tia-templates-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void remove_file(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static const char release_json[] =
    "{\"name\": \"release\", \"workflow_type\": \"release\", \"description\": \"Ship it\","
    " \"tasks\": [{\"key\": \"build\", \"agent\": \"hiro-003\", \"task_type\": \"ci_cd\","
    " \"description\": \"Build\", \"priority\": 5, \"max_retries\": 0, \"timeout_ms\": 1234},"
    " {\"key\": \"notes\", \"agent\": \"sakura-004\", \"task_type\": \"documentation\","
    " \"description\": \"Release notes\", \"timeout\": \"1h30m\", \"depends_on\": [\"build\"],"
    " \"input\": {\"lang\": \"en\"}}]}";

static void test_file_templates(void **state)
{
    (void)state;
    tia_error err = {0};
    tia_template *t = NULL;
    tia_workflow_spec w;
    char *dir = make_dir();
    write_file(dir, "release.json", release_json);
    t = load_ok("release", dir);
    TIA_OK_OR_FAIL(tia_template_spec(t, NULL, &w, &err), &err);
    assert_string_equal(w.name, "release");
    assert_string_equal(w.description, "Ship it");
    assert_int_equal(w.n_tasks, 2);
    assert_int_equal(w.tasks[0].priority, 5);
    assert_int_equal(w.tasks[0].max_retries, 0);
    assert_int_equal(w.tasks[0].timeout_ms, 1234);
    assert_int_equal(w.tasks[1].timeout_ms, 90 * 60000);
    assert_string_equal(w.tasks[1].input_data, "{\"lang\":\"en\"}");
    tia_template_free(t);

    /* a file wins over the built-in of the same name */
    write_file(dir, "code_review.json", release_json);
    t = load_ok("code_review", dir);
    TIA_OK_OR_FAIL(tia_template_spec(t, NULL, &w, &err), &err);
    assert_int_equal(w.n_tasks, 2);
    tia_template_free(t);
    /* a directory without the file falls back to the built-in */
    t = load_ok("deployment", dir);
    TIA_OK_OR_FAIL(tia_template_spec(t, NULL, &w, &err), &err);
    assert_int_equal(w.n_tasks, 3);
    tia_template_free(t);

    TIA_ASSERT_RC(tia_template_load("nothing", dir, &t, &err), TIA_ENOTFOUND, &err);
    assert_non_null(strstr(err.message, "nothing"));
    assert_null(t);
    TIA_ASSERT_RC(tia_template_load("nothing", NULL, &t, &err), TIA_ENOTFOUND, &err);

    /* a file error names the file */
    write_file(dir, "broken.json", "{\"name\": \"b\", \"tasks\": [{\"key\": \"a\"}]}");
    TIA_ASSERT_RC(tia_template_load("broken", dir, &t, &err), TIA_EINVAL, &err);
    char want[600];
    snprintf(want, sizeof want, "%s/broken.json: tasks[0].agent is required", dir);
    assert_string_equal(err.message, want);

    /* larger than 1 MiB: refused before parsing */
    char *big = malloc(1024 * 1024 + 2);
    assert_non_null(big);
    memset(big, ' ', 1024 * 1024 + 1);
    big[1024 * 1024 + 1] = '\0';
    write_file(dir, "big.json", big);
    TIA_ASSERT_RC(tia_template_load("big", dir, &t, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "larger than"));
    TIA_ASSERT_RC(tia_template_parse(big, "big", &t, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "big: larger than"));
    free(big);

    remove_file(dir, "release.json");
    remove_file(dir, "code_review.json");
    remove_file(dir, "broken.json");
    remove_file(dir, "big.json");
    assert_int_equal(rmdir(dir), 0);
    free(dir);
}

static void test_names_refused(void **state)
{
    (void)state;
    tia_error err = {0};
    tia_template *t = NULL;
    const char *bad[] = {"../etc/passwd",
                         "a/b",
                         "..",
                         "",
                         "Code_Review",
                         "x.json",
                         "a b",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TIA_ASSERT_RC(tia_template_load(bad[i], "/tmp", &t, &err), TIA_EINVAL, &err);
        assert_non_null(strstr(err.message, "template name"));
        assert_null(t);
    }
    TIA_ASSERT_RC(tia_template_load(NULL, NULL, &t, &err), TIA_EINVAL, &err);
    /* 64 characters is the limit */
    TIA_ASSERT_RC(
        tia_template_load("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL,
                          &t, &err),
        TIA_ENOTFOUND, &err);
}

/* One task with the given extra members; "T" is the task, "B" a second one. */
#define ONE(extra)                                                                                 \
    "{\"name\": \"x\", \"tasks\": [{\"key\": \"a\", \"agent\": \"akira-001\", "                    \
    "\"task_type\": \"t\", \"description\": \"d\"" extra "}]}"
#define TWO(extra_a, extra_b)                                                                      \
    "{\"name\": \"x\", \"tasks\": [{\"key\": \"a\", \"agent\": \"akira-001\", \"task_type\": "     \
    "\"t\", \"description\": \"d\"" extra_a "}, {\"key\": \"b\", \"agent\": \"akira-001\", "       \
    "\"task_type\": \"t\", \"description\": \"d\"" extra_b "}]}"

static void test_validation_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *message; /* exact */
    } cases[] = {
        {"{\"name\": ", "templates/x.json: line 1 column 9: unexpected token near end of file"},
        {"[]", "templates/x.json: a template must be a JSON object"},
        {"{\"name\": \"x\", \"colour\": 1, \"tasks\": []}",
         "templates/x.json: unknown field 'colour'"},
        {"{\"tasks\": []}", "templates/x.json: name is required"},
        {"{\"name\": 7, \"tasks\": []}", "templates/x.json: name must be a string"},
        {"{\"name\": \"x\"}", "templates/x.json: tasks is required"},
        {"{\"name\": \"x\", \"tasks\": {}}", "templates/x.json: tasks must be an array"},
        {"{\"name\": \"x\", \"tasks\": []}",
         "templates/x.json: tasks has 0 tasks, must have 1 to 10000"},
        {"{\"name\": \"x\", \"tasks\": [3]}", "templates/x.json: tasks[0] must be an object"},
        {ONE(", \"agnet\": \"x\""), "templates/x.json: tasks[0]: unknown field 'agnet'"},
        {"{\"name\": \"x\", \"tasks\": [{\"key\": \"a\", \"agent\": 5}]}",
         "templates/x.json: tasks[0].agent must be a string"},
        {ONE(", \"priority\": \"high\""), "templates/x.json: tasks[0].priority must be an integer"},
        {ONE(", \"priority\": 1.5"), "templates/x.json: tasks[0].priority must be an integer"},
        {ONE(", \"max_retries\": 101"),
         "templates/x.json: tasks[0].max_retries must be between 0 and 100"},
        {ONE(", \"timeout\": \"soon\""),
         "templates/x.json: tasks[0].timeout must be a duration such as \"90s\", \"5m\" or "
         "\"1h30m\""},
        {ONE(", \"timeout\": \"5m\", \"timeout_ms\": 5"),
         "templates/x.json: tasks[0]: timeout and timeout_ms are exclusive"},
        {ONE(", \"timeout_ms\": 0"),
         "templates/x.json: tasks[0].timeout_ms must be between 1 and 2147483647"},
        {ONE(", \"depends_on\": \"b\""),
         "templates/x.json: tasks[0].depends_on must be an array of keys"},
        {ONE(", \"depends_on\": [1]"), "templates/x.json: tasks[0].depends_on[0] must be a string"},
        {ONE(", \"input\": [1]"), "templates/x.json: tasks[0].input must be an object"},
        {TWO("", ", \"depends_on\": [\"bild\"]"),
         "templates/x.json: tasks[1].depends_on[0]: unknown key 'bild'"},
        {TWO(", \"depends_on\": [\"a\"]", ""),
         "templates/x.json: tasks[0].depends_on[0]: task 'a' depends on itself"},
        {TWO("", ", \"depends_on\": [\"a\", \"a\"]"),
         "templates/x.json: tasks[1].depends_on[1]: 'a' is listed twice"},
        {TWO(", \"depends_on\": [\"b\"]", ", \"depends_on\": [\"a\"]"),
         "templates/x.json: tasks[0].depends_on: dependency cycle 'a' -> 'b' -> 'a'"},
        {"{\"name\": \"x\", \"tasks\": [{\"key\": \"a\", \"agent\": \"akira-001\", \"task_type\": "
         "\"t\", \"description\": \"d\"}, {\"key\": \"a\", \"agent\": \"akira-001\", "
         "\"task_type\": \"t\", \"description\": \"d\"}]}",
         "templates/x.json: tasks[1].key: duplicate key 'a' (also tasks[0].key)"},
        {"{\"name\": \"x\", \"name\": \"y\", \"tasks\": []}",
         "templates/x.json: line 1 column 20: duplicate object key near '\"name\"'"},
        {ONE(", \"task_type\": \"\""), NULL}, /* duplicate member: checked below by substring */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tia_error err = {0};
        tia_template *t = NULL;
        TIA_ASSERT_RC(tia_template_parse(cases[i].json, "templates/x.json", &t, &err), TIA_EINVAL,
                      &err);
        assert_null(t);
        if (cases[i].message != NULL)
            assert_string_equal(err.message, cases[i].message);
        else
            assert_non_null(strstr(err.message, "duplicate object key"));
    }
}

static void test_limits(void **state)
{
    (void)state;
    tia_error err = {0};
    tia_template *t = NULL;
    char key[102];
    memset(key, 'k', 101);
    key[101] = '\0';
    char json[512];
    snprintf(json, sizeof json,
             "{\"name\": \"x\", \"tasks\": [{\"key\": \"%s\", \"agent\": \"akira-001\", "
             "\"task_type\": \"t\", \"description\": \"d\"}]}",
             key);
    TIA_ASSERT_RC(tia_template_parse(json, "k.json", &t, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "k.json: tasks[0].key is too long"));

    /* a three-cycle, and a chain hanging off it, named in the cycle's order */
    TIA_ASSERT_RC(
        tia_template_parse(
            "{\"name\": \"x\", \"tasks\": ["
            "{\"key\": \"z\", \"agent\": \"a\", \"task_type\": \"t\", \"description\": \"d\","
            " \"depends_on\": [\"a\"]},"
            "{\"key\": \"a\", \"agent\": \"a\", \"task_type\": \"t\", \"description\": \"d\","
            " \"depends_on\": [\"c\"]},"
            "{\"key\": \"b\", \"agent\": \"a\", \"task_type\": \"t\", \"description\": \"d\","
            " \"depends_on\": [\"a\"]},"
            "{\"key\": \"c\", \"agent\": \"a\", \"task_type\": \"t\", \"description\": \"d\","
            " \"depends_on\": [\"b\"]}]}",
            NULL, &t, &err),
        TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "template: tasks["));
    assert_non_null(strstr(err.message, "dependency cycle"));
    assert_null(strstr(err.message, "'z'")); /* z waits on the cycle but is not in it */

    /* 10,000 tasks parse; 10,001 are refused */
    for (size_t n = 10000; n <= 10001; n++) {
        json_t *tasks = json_array();
        for (size_t i = 0; i < n; i++) {
            char k[24];
            snprintf(k, sizeof k, "t%zu", i);
            json_array_append_new(tasks,
                                  json_pack("{s:s, s:s, s:s, s:s}", "key", k, "agent", "akira-001",
                                            "task_type", "t", "description", "d"));
        }
        json_t *doc = json_pack("{s:s, s:o}", "name", "big", "tasks", tasks);
        char *text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        int rc = tia_template_parse(text, "big.json", &t, &err);
        free(text);
        if (n == 10000) {
            TIA_OK_OR_FAIL(rc, &err);
            tia_template_free(t);
        } else {
            TIA_ASSERT_RC(rc, TIA_EINVAL, &err);
            assert_string_equal(err.message,
                                "big.json: tasks has 10001 tasks, must have 1 to 10000");
        }
    }
}

static void test_input_merge(void **state)
{
    (void)state;
    tia_error err = {0};
    tia_template *t = NULL;
    tia_workflow_spec w;
    TIA_OK_OR_FAIL(tia_template_parse(TWO(", \"input\": {\"lang\": \"c\", \"input\": {\"a\": 1, "
                                          "\"b\": 1}}",
                                          ""),
                                      "merge", &t, &err),
                   &err);
    TIA_OK_OR_FAIL(tia_template_spec(t, "{\"b\": 2, \"repo\": \"tokyoia\"}", &w, &err), &err);
    /* the template's own fields stay; the caller's members win inside "input" */
    assert_string_equal(w.tasks[0].input_data,
                        "{\"lang\":\"c\",\"input\":{\"a\":1,\"b\":2,\"repo\":\"tokyoia\"}}");
    assert_string_equal(w.tasks[1].input_data, "{\"input\":{\"b\":2,\"repo\":\"tokyoia\"}}");
    /* a second call replaces the first's input */
    TIA_OK_OR_FAIL(tia_template_spec(t, NULL, &w, &err), &err);
    assert_string_equal(w.tasks[0].input_data, "{\"lang\":\"c\",\"input\":{\"a\":1,\"b\":1}}");
    assert_null(w.tasks[1].input_data);
    TIA_ASSERT_RC(tia_template_spec(t, "[1]", &w, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "input must be a JSON object"));
    TIA_ASSERT_RC(tia_template_spec(t, "{nope", &w, &err), TIA_EINVAL, &err);
    assert_non_null(strstr(err.message, "input"));
    tia_template_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins),          cmocka_unit_test(test_builtin_graphs),
        cmocka_unit_test(test_file_templates),    cmocka_unit_test(test_names_refused),
        cmocka_unit_test(test_validation_errors), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_input_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
