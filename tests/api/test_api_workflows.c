/*
 * Registry API tests of the workflow, template and interaction routes, through
 * a real server on both backends: submission from a built-in template and from
 * a task list, an idempotency key replayed (200, the same workflow, nothing
 * new written), refusals that write nothing (a cycle, an unknown agent or
 * template, bad members), the list's filters and cursor pages (no row skipped
 * or repeated, even with a workflow created between pages), a workflow read
 * with its tasks and interactions, cancellation (409 once it has ended), and
 * every error status the routes answer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokyoia/engine.h>

#include "api_test.h"

static int64_t count(tia_api_fixture *f, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return tia_test_int(f->store, sql, sql);
}

/* A one-task workflow of type type; its id into id. */
static void submit_small(tia_api_fixture *f, const char *name, const char *type,
                         char id[TIA_UUID_BUF])
{
    json_t *w = tia_api_callf(f, "POST", "/api/v1/workflows", 201,
                      "{\"name\": \"%s\", \"workflow_type\": \"%s\", \"tasks\": [{\"key\": "
                      "\"k\", \"agent_id\": \"sakura-004\", \"task_type\": \"t\", "
                      "\"description\": \"d\"}]}",
                      name, type);
    snprintf(id, TIA_UUID_BUF, "%s", tia_json_str(w, "id"));
    json_decref(w);
}

/* ---- submit ---- */

static void test_submit_from_template(void **state)
{
    tia_api_fixture *f = *state;
    tia_http_resp r;
    tia_http(f, "POST", "/api/v1/workflows",
             "{\"template\": \"code_review\", \"input\": {\"pr\": 42}, \"name\": \"PR 42\", "
             "\"metadata\": {\"repo\": \"tokyoia\"}}",
             NULL, &r);
    TIA_ASSERT_STATUS(&r, 201);
    json_t *w = r.json;
    char want_loc[128];
    snprintf(want_loc, sizeof want_loc, "/api/v1/workflows/%s", tia_json_str(w, "id"));
    char *loc = tia_http_header(&r, "Location");
    assert_non_null(loc);
    assert_string_equal(loc, want_loc);
    free(loc);
    tia_assert_member(w, "name", "PR 42");
    tia_assert_member(w, "workflow_type", "code_review");
    tia_assert_member(w, "status", "pending");
    tia_assert_member(w, "initiator", "tester"); /* the session's user */
    tia_assert_member(json_object_get(w, "metadata"), "repo", "tokyoia");
    tia_assert_member(json_object_get(w, "metadata"), "template", "code_review");
    assert_int_equal(tia_json_int(w, "total_tasks"), 5);
    json_t *tasks = json_object_get(w, "tasks");
    assert_int_equal(json_array_size(tasks), 5);
    static const char *const agents[5] = {"akira-001", "akira-001", "yuki-002", "hiro-003",
                                          "sakura-004"};
    static const char *const types[5] = {"security_audit", "code_review", "unit_tests", "ci_cd",
                                         "documentation"};
    for (size_t i = 0; i < 5; i++) {
        json_t *t = json_array_get(tasks, i);
        tia_assert_member(t, "agent_id", agents[i]);
        tia_assert_member(t, "task_type", types[i]);
        tia_assert_member(t, "workflow_id", tia_json_str(w, "id"));
        assert_int_equal(tia_json_int(json_object_get(json_object_get(t, "input_data"), "input"), "pr"),
                         42);
    }
    assert_true(json_is_array(json_object_get(w, "interactions")));
    assert_int_equal(json_array_size(json_object_get(w, "interactions")), 0);
    json_t *got = tia_api_callf(f, "GET", want_loc, 200, NULL);
    assert_true(json_equal(got, w));
    json_decref(got);
    tia_http_resp_free(&r);

    /* The caller may name the workflow's type and description itself. */
    json_t *own = tia_api_callf(f, "POST", "/api/v1/workflows", 201,
                        "{\"template\": \"deployment\", \"workflow_type\": \"hotfix\", "
                        "\"description\": \"tonight\"}");
    tia_assert_member(own, "workflow_type", "hotfix");
    tia_assert_member(own, "description", "tonight");
    tia_assert_member(own, "name", "deployment");
    json_decref(own);

    /* Refusals of a template submission write nothing. */
    int64_t wf0 = count(f, "workflows"), t0 = count(f, "agent_tasks");
    tia_api_expect_error(f, "POST", "/api/v1/workflows", "{\"template\": \"no_such_template\"}", 422,
                 "invalid");
    tia_api_expect_error(f, "POST", "/api/v1/workflows", "{\"template\": \"code_review\", \"input\": [1]}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", "/api/v1/workflows", "{\"template\": \"code_review\", \"tasks\": []}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", "/api/v1/workflows",
                 "{\"template\": \"code_review\", \"metadata\": \"x\"}", 422, "invalid");
    tia_api_expect_error(f, "POST", "/api/v1/workflows", "{\"template\": 7}", 422, "invalid");
    assert_int_equal(count(f, "workflows"), wf0);
    assert_int_equal(count(f, "agent_tasks"), t0);
}

static void test_templates(void **state)
{
    tia_api_fixture *f = *state;
    json_t *l = tia_api_callf(f, "GET", "/api/v1/templates", 200, NULL);
    json_t *items = json_object_get(l, "items");
    const char *const *names = tia_template_builtins();
    size_t n = 0;
    while (names[n])
        n++;
    assert_int_equal(json_array_size(items), n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(json_string_value(json_array_get(items, i)), names[i]);
        /* Each name listed is one a submission accepts. */
        char body[128];
        snprintf(body, sizeof body, "{\"template\": \"%s\"}", names[i]);
        json_t *w = tia_api_callf(f, "POST", "/api/v1/workflows", 201, "%s", body);
        tia_assert_member(w, "workflow_type", names[i]);
        json_decref(w);
    }
    json_t *seed[] = {json_string("code_review"), json_string("feature_development"),
                      json_string("deployment"), json_string("architecture")};
    for (size_t i = 0; i < 4; i++) { /* the seed README's four workflow types */
        size_t k = 0;
        while (k < n && !json_equal(json_array_get(items, k), seed[i]))
            k++;
        assert_true(k < n);
        json_decref(seed[i]);
    }
    json_decref(l);
}

static void test_submit_task_list(void **state)
{
    tia_api_fixture *f = *state;
    json_t *w = tia_api_callf(
        f, "POST", "/api/v1/workflows", 201,
        "{\"name\": \"release 1.2\", \"description\": \"ship it\", \"workflow_type\": "
        "\"release\", \"initiator\": \"ci-bot\", \"metadata\": {\"version\": \"1.2\"}, "
        "\"tasks\": ["
        "{\"key\": \"build\", \"agent_id\": \"hiro-003\", \"task_type\": \"ci_cd\", "
        "\"description\": \"build\", \"priority\": 5, \"max_retries\": 2, \"timeout\": \"30m\", "
        "\"input_data\": {\"branch\": \"main\"}, \"metadata\": {\"stage\": 1}},"
        "{\"key\": \"notes\", \"agent_id\": \"sakura-004\", \"task_type\": \"documentation\", "
        "\"description\": \"notes\", \"depends_on\": [\"build\"], \"timeout_ms\": 900000}]}");
    tia_assert_member(w, "name", "release 1.2");
    tia_assert_member(w, "description", "ship it");
    tia_assert_member(w, "workflow_type", "release");
    tia_assert_member(w, "initiator", "ci-bot");
    tia_assert_member(json_object_get(w, "metadata"), "version", "1.2");
    json_t *tasks = json_object_get(w, "tasks");
    assert_int_equal(json_array_size(tasks), 2);
    json_t *build = json_array_get(tasks, 0), *notes = json_array_get(tasks, 1);
    tia_assert_member(build, "task_type", "ci_cd");
    tia_assert_member(json_object_get(build, "input_data"), "branch", "main");
    assert_int_equal(tia_json_int(json_object_get(build, "metadata"), "stage"), 1);
    tia_assert_member(notes, "task_type", "documentation");

    /* The first is claimable at once, the second only after it. */
    json_t *c = tia_api_callf(f, "POST", "/api/v1/tasks/claim", 200,
                      "{\"agent_ids\": [\"hiro-003\", \"sakura-004\"], \"worker_id\": \"w\", "
                      "\"max\": 10}");
    json_t *items = json_object_get(c, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    tia_assert_member(json_object_get(it, "task"), "id", tia_json_str(build, "id"));
    assert_int_equal(tia_json_int(it, "max_retries"), 2);
    assert_int_equal(tia_json_int(it, "timeout_ms"), 30 * 60 * 1000);
    json_decref(c);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/workflows/%s", tia_json_str(w, "id"));
    json_t *now = tia_api_callf(f, "GET", path, 200, NULL);
    tia_assert_member(now, "status", "running"); /* its first claim started it */
    json_decref(now);
    json_decref(w);
}

static void test_idempotency(void **state)
{
    tia_api_fixture *f = *state;
    static const char *const hdr[] = {"Idempotency-Key: deploy-2026-01-31", NULL};
    tia_http_opts o = {.headers = hdr};
    tia_http_resp r1, r2;
    const char *body = "{\"template\": \"deployment\", \"input\": {\"env\": \"prod\"}}";
    tia_http(f, "POST", "/api/v1/workflows", body, &o, &r1);
    TIA_ASSERT_STATUS(&r1, 201);
    int64_t wf0 = count(f, "workflows"), t0 = count(f, "agent_tasks");
    tia_http(f, "POST", "/api/v1/workflows", body, &o, &r2);
    TIA_ASSERT_STATUS(&r2, 200);
    assert_true(json_equal(r1.json, r2.json)); /* the same workflow, the same tasks */
    char *loc = tia_http_header(&r2, "Location");
    assert_null(loc); /* nothing was created */
    /* The key in the body names the same workflow, even with another body. */
    json_t *w = tia_api_callf(f, "POST", "/api/v1/workflows", 200,
                      "{\"name\": \"other\", \"idempotency_key\": \"deploy-2026-01-31\", "
                      "\"tasks\": [{\"key\": \"k\", \"agent_id\": \"hiro-003\", \"task_type\": "
                      "\"t\", \"description\": \"d\"}]}");
    tia_assert_member(w, "id", tia_json_str(r1.json, "id"));
    json_decref(w);
    assert_int_equal(count(f, "workflows"), wf0);
    assert_int_equal(count(f, "agent_tasks"), t0);
    /* Another key is another workflow; a header and a body that disagree are refused. */
    json_decref(tia_api_callf(f, "POST", "/api/v1/workflows", 201,
                      "{\"template\": \"deployment\", \"idempotency_key\": \"deploy-2\"}"));
    tia_http_resp r3;
    tia_http(f, "POST", "/api/v1/workflows",
             "{\"template\": \"deployment\", \"idempotency_key\": \"deploy-3\"}", &o, &r3);
    tia_assert_api_error(&r3, 422, "invalid");
    tia_http_resp_free(&r3);
    tia_http_resp_free(&r1);
    tia_http_resp_free(&r2);
}

static void test_refusals_write_nothing(void **state)
{
    tia_api_fixture *f = *state;
    int64_t wf0 = count(f, "workflows"), t0 = count(f, "agent_tasks");
    const char *p = "/api/v1/workflows";
#define TASK(key, agent, deps)                                                                     \
    "{\"key\": \"" key "\", \"agent_id\": \"" agent "\", \"task_type\": \"t\", \"description\": "  \
    "\"d\", \"depends_on\": " deps "}"
    /* A cycle. */
    tia_api_expect_error(f, "POST", p,
                 "{\"name\": \"cyc\", \"tasks\": [" TASK("a", "akira-001", "[\"b\"]") ", " TASK(
                     "b", "yuki-002", "[\"a\"]") "]}",
                 422, "invalid");
    /* An unknown agent (after a valid task). */
    tia_api_expect_error(f, "POST", p,
                 "{\"name\": \"ghost\", \"tasks\": [" TASK("a", "akira-001", "[]") ", " TASK(
                     "b", "ghost-404", "[\"a\"]") "]}",
                 422, "invalid");
    /* Unknown and repeated keys, a self-dependency. */
    tia_api_expect_error(f, "POST", p,
                 "{\"name\": \"x\", \"tasks\": [" TASK("a", "akira-001", "[\"bild\"]") "]}", 422,
                 "invalid");
    tia_api_expect_error(f, "POST", p,
                 "{\"name\": \"x\", \"tasks\": [" TASK("a", "akira-001",
                                                       "[]") ", " TASK("a", "yuki-002", "[]") "]}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", p,
                 "{\"name\": \"x\", \"tasks\": [" TASK("a", "akira-001", "[\"a\"]") "]}", 422,
                 "invalid");
    /* Bad shapes. */
    tia_api_expect_error(f, "POST", p, "{\"tasks\": [" TASK("a", "akira-001", "[]") "]}", 422, "invalid");
    tia_api_expect_error(f, "POST", p, "{\"name\": \"x\", \"tasks\": []}", 422, "invalid");
    tia_api_expect_error(f, "POST", p, "{\"name\": \"x\"}", 422, "invalid");
    tia_api_expect_error(f, "POST", p, "{\"name\": \"x\", \"tasks\": {}}", 422, "invalid");
    tia_api_expect_error(f, "POST", p, "{\"name\": \"x\", \"tasks\": [\"a\"]}", 422, "invalid");
    tia_api_expect_error(f, "POST", p,
                 "{\"name\": \"x\", \"tasks\": [" TASK("a", "akira-001", "\"b\"") "]}", 422,
                 "invalid");
    tia_api_expect_error(f, "POST", p,
                 "{\"name\": \"x\", \"tasks\": [{\"key\": \"a\", \"agent_id\": \"akira-001\", "
                 "\"task_type\": \"t\", \"description\": \"d\", \"dependson\": []}]}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", p,
                 "{\"name\": \"x\", \"typo\": 1, \"tasks\": [" TASK("a", "akira-001", "[]") "]}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", p, "{\"name\": 5, \"tasks\": [" TASK("a", "akira-001", "[]") "]}", 422,
                 "invalid");
    tia_api_expect_error(f, "POST", p, "{\"name\": \"x\", \"tasks\": [", 400, "bad_request");
#undef TASK
    assert_int_equal(count(f, "workflows"), wf0);
    assert_int_equal(count(f, "agent_tasks"), t0);
}

/* ---- list ---- */

static size_t walk(tia_api_fixture *f, const char *path, char ids[][TIA_UUID_BUF], size_t max,
                   int insert_between)
{
    char url[512], cursor[TIA_CURSOR_BUF] = "";
    size_t n = 0;
    int pages = 0;
    for (;;) {
        if (cursor[0])
            snprintf(url, sizeof url, "%s&cursor=%s", path, cursor);
        else
            snprintf(url, sizeof url, "%s", path);
        json_t *page = tia_api_callf(f, "GET", url, 200, NULL);
        json_t *items = json_object_get(page, "items");
        assert_true(json_is_array(items));
        for (size_t i = 0; i < json_array_size(items); i++) {
            assert_true(n < max);
            snprintf(ids[n++], TIA_UUID_BUF, "%s", tia_json_str(json_array_get(items, i), "id"));
        }
        json_t *next = json_object_get(page, "next_cursor");
        if (json_is_null(next)) {
            json_decref(page);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(page);
        if (insert_between && pages++ == 0) {
            char id[TIA_UUID_BUF];
            submit_small(f, "between", "alpha", id);
        }
    }
    return n;
}

static void test_list_filters_and_pages(void **state)
{
    tia_api_fixture *f = *state;
    enum { N = 7 };
    char made[N][TIA_UUID_BUF], got[N + 4][TIA_UUID_BUF];
    for (int i = 0; i < N; i++) {
        submit_small(f, "w", i % 2 ? "beta" : "alpha", made[i]);
        /* SQLite's clock counts milliseconds: apart, so that created_at orders them. */
        struct timespec ts = {0, 3 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }

    size_t n = walk(f, "/api/v1/workflows?limit=2", got, N + 4, 1);
    assert_int_equal(n, N);
    for (int i = 0; i < N; i++)
        assert_string_equal(got[i], made[N - 1 - i]);

    /* By type: alpha is made[0, 2, 4, 6] plus the one created between pages. */
    n = walk(f, "/api/v1/workflows?workflow_type=beta&limit=1", got, N + 4, 0);
    assert_int_equal(n, 3);
    assert_string_equal(got[0], made[5]);
    assert_string_equal(got[2], made[1]);
    n = walk(f, "/api/v1/workflows?workflow_type=alpha", got, N + 4, 0);
    assert_int_equal(n, 5);

    /* By status. */
    char path[256];
    snprintf(path, sizeof path, "/api/v1/workflows/%s/cancel", made[3]);
    json_decref(tia_api_callf(f, "POST", path, 200, NULL));
    n = walk(f, "/api/v1/workflows?status=cancelled", got, N + 4, 0);
    assert_int_equal(n, 1);
    assert_string_equal(got[0], made[3]);
    json_t *empty = tia_api_callf(f, "GET", "/api/v1/workflows?status=completed", 200, NULL);
    assert_true(json_is_array(json_object_get(empty, "items")));
    assert_int_equal(json_array_size(json_object_get(empty, "items")), 0);
    assert_true(json_is_null(json_object_get(empty, "next_cursor")));
    json_decref(empty);

    /* By creation time: after is inclusive, before exclusive. */
    snprintf(path, sizeof path, "/api/v1/workflows/%s", made[3]);
    json_t *w3 = tia_api_callf(f, "GET", path, 200, NULL);
    char at[64];
    snprintf(at, sizeof at, "%s", tia_json_str(w3, "created_at"));
    json_decref(w3);
    snprintf(path, sizeof path, "/api/v1/workflows?created_before=%s&limit=1000", at);
    n = walk(f, path, got, N + 4, 0);
    for (size_t i = 0; i < n; i++)
        for (int k = 3; k < N; k++)
            if (strcmp(got[i], made[k]) == 0)
                fail_msg("created_before=%s returned made[%d]", at, k);
    snprintf(path, sizeof path, "/api/v1/workflows?created_after=%s&workflow_type=beta", at);
    n = walk(f, path, got, N + 4, 0);
    assert_int_equal(n, 2); /* made[3] and made[5] */
    assert_string_equal(got[1], made[3]);

    tia_api_expect_error(f, "GET", "/api/v1/workflows?limit=0", NULL, 400, "bad_request");
    tia_api_expect_error(f, "GET", "/api/v1/workflows?limit=abc", NULL, 400, "bad_request");
    tia_api_expect_error(f, "GET", "/api/v1/workflows?status=paused", NULL, 400, "bad_request");
    tia_api_expect_error(f, "GET", "/api/v1/workflows?created_after=yesterday", NULL, 400, "bad_request");
    tia_api_expect_error(f, "GET", "/api/v1/workflows?created_before=2026-13-45", NULL, 400, "bad_request");
    tia_api_expect_error(f, "GET", "/api/v1/workflows?cursor=not-a-cursor", NULL, 400, "bad_request");
}

/* ---- get, cancel, interactions ---- */

static void test_get_with_tasks_and_interactions(void **state)
{
    tia_api_fixture *f = *state;
    json_t *w = tia_api_callf(f, "POST", "/api/v1/workflows", 201, "{\"template\": \"architecture\"}");
    char id[TIA_UUID_BUF], path[256], body[512];
    snprintf(id, sizeof id, "%s", tia_json_str(w, "id"));
    json_decref(w);

    /* Two interactions in the workflow, one outside any. */
    snprintf(body, sizeof body,
             "{\"workflow_id\": \"%s\", \"from_agent_id\": \"kenji-005\", \"to_agent_id\": "
             "\"hiro-003\", \"interaction_type\": \"collaboration\", \"message\": \"infra?\", "
             "\"payload\": {\"diagram\": \"v1\"}}",
             id);
    json_t *i1 = tia_api_callf(f, "POST", "/api/v1/interactions", 201, "%s", body);
    tia_assert_member(i1, "workflow_id", id);
    tia_assert_member(i1, "from_agent_name", "Kenji");
    tia_assert_member(i1, "to_agent_name", "Hiro");
    tia_assert_member(i1, "interaction_type", "collaboration");
    tia_assert_member(json_object_get(i1, "payload"), "diagram", "v1");
    assert_non_null(tia_json_str(i1, "created_at"));
    snprintf(body, sizeof body,
             "{\"workflow_id\": \"%s\", \"from_agent_id\": \"hiro-003\", \"to_agent_id\": "
             "\"kenji-005\", \"interaction_type\": \"feedback\"}",
             id);
    json_t *i2 = tia_api_callf(f, "POST", "/api/v1/interactions", 201, "%s", body);
    assert_true(json_is_null(json_object_get(i2, "message")));
    json_t *i3 = tia_api_callf(f, "POST", "/api/v1/interactions", 201,
                       "{\"from_agent_id\": \"yuki-002\", \"to_agent_id\": \"akira-001\", "
                       "\"interaction_type\": \"review\", \"message\": \"lgtm\"}");
    assert_true(json_is_null(json_object_get(i3, "workflow_id")));
    tia_assert_member(i3, "from_agent_name", "Yuki");
    tia_assert_member(i3, "to_agent_name", "Akira");
    tia_assert_member(i3, "message", "lgtm");

    snprintf(path, sizeof path, "/api/v1/workflows/%s", id);
    w = tia_api_callf(f, "GET", path, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(w, "tasks")), 4);
    json_t *in = json_object_get(w, "interactions");
    assert_int_equal(json_array_size(in), 2);
    assert_true(json_equal(json_array_get(in, 0), i1));
    assert_true(json_equal(json_array_get(in, 1), i2));
    json_decref(w);
    snprintf(path, sizeof path, "/api/v1/workflows/%s/interactions", id);
    json_t *l = tia_api_callf(f, "GET", path, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(l, "items")), 2);
    assert_true(json_equal(json_array_get(json_object_get(l, "items"), 0), i1));
    json_decref(l);
    json_decref(i1);
    json_decref(i2);
    json_decref(i3);

    /* Interaction refusals. */
    int64_t n0 = count(f, "agent_interactions");
    const char *p = "/api/v1/interactions";
    tia_api_expect_error(f, "POST", p,
                 "{\"from_agent_id\": \"ghost\", \"to_agent_id\": \"akira-001\", "
                 "\"interaction_type\": \"review\"}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", p,
                 "{\"from_agent_id\": \"yuki-002\", \"to_agent_id\": \"akira-001\", "
                 "\"interaction_type\": \"gossip\"}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", p, "{\"to_agent_id\": \"akira-001\", \"interaction_type\": \"review\"}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", p,
                 "{\"workflow_id\": \"01900000-0000-7000-8000-00000000ffff\", \"from_agent_id\": "
                 "\"yuki-002\", \"to_agent_id\": \"akira-001\", \"interaction_type\": \"review\"}",
                 422, "invalid");
    tia_api_expect_error(f, "POST", p,
                 "{\"from_agent_id\": \"yuki-002\", \"to_agent_id\": \"akira-001\", "
                 "\"interaction_type\": \"review\", \"note\": 1}",
                 422, "invalid");
    assert_int_equal(count(f, "agent_interactions"), n0);

    tia_api_expect_error(f, "GET", "/api/v1/workflows/01900000-0000-7000-8000-00000000ffff", NULL, 404,
                 "not_found");
    tia_api_expect_error(f, "GET", "/api/v1/workflows/12345", NULL, 404, "not_found");
    tia_api_expect_error(f, "GET", "/api/v1/workflows/01900000-0000-7000-8000-00000000ffff/interactions",
                 NULL, 404, "not_found");
    tia_api_expect_error(f, "GET", "/api/v1/workflows/bad/interactions", NULL, 404, "not_found");
    tia_api_expect_error(f, "DELETE", "/api/v1/templates", NULL, 405, "method_not_allowed");
}

static void test_cancel(void **state)
{
    tia_api_fixture *f = *state;
    json_t *w = tia_api_callf(f, "POST", "/api/v1/workflows", 201, "{\"template\": \"code_review\"}");
    char id[TIA_UUID_BUF], path[256], body[256];
    snprintf(id, sizeof id, "%s", tia_json_str(w, "id"));
    json_decref(w);
    /* One task running when the cancellation comes: it is asked to stop, the rest end now. */
    json_t *c = tia_api_callf(f, "POST", "/api/v1/tasks/claim", 200,
                      "{\"agent_ids\": [\"akira-001\"], \"worker_id\": \"w\"}");
    json_t *it = json_array_get(json_object_get(c, "items"), 0);
    char running[TIA_UUID_BUF];
    snprintf(running, sizeof running, "%s", tia_json_str(json_object_get(it, "task"), "id"));
    int64_t attempt = json_integer_value(json_object_get(it, "attempt"));
    json_decref(c);

    snprintf(path, sizeof path, "/api/v1/workflows/%s/cancel", id);
    w = tia_api_callf(f, "POST", path, 200, NULL);
    tia_assert_member(w, "status", "cancelled");
    json_t *tasks = json_object_get(w, "tasks");
    for (size_t i = 0; i < json_array_size(tasks); i++) {
        json_t *t = json_array_get(tasks, i);
        tia_assert_member(t, "status",
                      strcmp(tia_json_str(t, "id"), running) == 0 ? "running" : "cancelled");
    }
    json_decref(w);
    tia_api_expect_error(f, "POST", path, NULL, 409, "conflict");
    snprintf(path, sizeof path, "/api/v1/tasks/%s/heartbeat", running);
    snprintf(body, sizeof body, "{\"worker_id\": \"w\", \"attempt\": %lld}", (long long)attempt);
    json_t *hb = tia_api_callf(f, "POST", path, 200, "%s", body);
    assert_true(json_is_true(json_object_get(hb, "cancel_requested")));
    json_decref(hb);

    /* A workflow that completed cannot be cancelled either. */
    char done[TIA_UUID_BUF];
    submit_small(f, "done", "alpha", done);
    c = tia_api_callf(f, "POST", "/api/v1/tasks/claim", 200,
              "{\"agent_ids\": [\"sakura-004\"], \"worker_id\": \"w2\"}");
    it = json_array_get(json_object_get(c, "items"), 0);
    snprintf(path, sizeof path, "/api/v1/tasks/%s/complete",
             tia_json_str(json_object_get(it, "task"), "id"));
    snprintf(body, sizeof body, "{\"worker_id\": \"w2\", \"attempt\": %lld}",
             (long long)json_integer_value(json_object_get(it, "attempt")));
    json_decref(c);
    json_decref(tia_api_callf(f, "POST", path, 200, "%s", body));
    snprintf(path, sizeof path, "/api/v1/workflows/%s", done);
    w = tia_api_callf(f, "GET", path, 200, NULL);
    tia_assert_member(w, "status", "completed");
    json_decref(w);
    snprintf(path, sizeof path, "/api/v1/workflows/%s/cancel", done);
    tia_api_expect_error(f, "POST", path, NULL, 409, "conflict");

    tia_api_expect_error(f, "POST", "/api/v1/workflows/01900000-0000-7000-8000-00000000ffff/cancel", NULL,
                 404, "not_found");
    tia_api_expect_error(f, "POST", "/api/v1/workflows/nope/cancel", NULL, 404, "not_found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_submit_from_template, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_templates, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_submit_task_list, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_write_nothing, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_list_filters_and_pages, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_get_with_tasks_and_interactions, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, tia_api_setup, tia_api_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
