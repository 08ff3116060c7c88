/*
 * Conformance tests of the interactions module, run on both backends: recording
 * with and without a workflow, the per-workflow list in the order things happened
 * with both agents' names, and every bad input (refused with a message naming
 * the field or the missing row, nothing written).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tia_test.h"

#include <tokyoia/interactions.h>
#include <tokyoia/workflows.h>

#define COUNT(s)                                                                                   \
    tia_test_int((s), "SELECT count(*) FROM agent_interactions",                                   \
                 "SELECT count(*) FROM agent_interactions")

static int setup(void **state)
{
    *state = tia_test_open();
    return 0;
}

static int teardown(void **state)
{
    tia_test_close(*state);
    return 0;
}

static void new_workflow(tia_store *s, char id[TIA_UUID_BUF])
{
    tia_error err = {0};
    tia_workflow_new w = {.name = "code review", .workflow_type = "code_review"};
    TIA_OK_OR_FAIL(tia_workflow_create(s, &w, id, &err), &err);
}

static void assert_json_equal(const char *got, const char *want)
{
    json_t *g = json_loads(got, JSON_DECODE_ANY, NULL);
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    if (g == NULL || w == NULL || !json_equal(g, w))
        fail_msg("JSON differs: got %s, want %s", got ? got : "(null)", want);
    json_decref(g);
    json_decref(w);
}

static void test_record_and_list(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char wf[TIA_UUID_BUF], other[TIA_UUID_BUF];
    new_workflow(s, wf);
    new_workflow(s, other);
    tia_interaction_new steps[] = {
        {wf, "akira-001", "yuki-002", "handoff", "tests next", "{\"files\": [\"a.c\", \"b.c\"]}"},
        {wf, "yuki-002", "akira-001", "feedback", NULL, NULL},
        {other, "hiro-003", "sakura-004", "collaboration", "elsewhere", NULL},
        {wf, "kenji-005", "hiro-003", "review", "\xe4\xbe\x8d ok", "[1, 2.5, null]"},
        {NULL, "sakura-004", "kenji-005", "collaboration", "no workflow", "{}"},
    };
    char ids[5][TIA_UUID_BUF];
    for (int i = 0; i < 5; i++) {
        TIA_OK_OR_FAIL(tia_interaction_record(s, &steps[i], ids[i], &err), &err);
        assert_int_equal(ids[i][14], '7');
    }
    assert_int_equal(COUNT(s), 5);

    tia_interaction_list l;
    TIA_OK_OR_FAIL(tia_interaction_list_for_workflow(s, wf, &l, &err), &err);
    assert_int_equal(l.n, 3);
    const int want[3] = {0, 1, 3};
    const char *from_names[3] = {"Akira", "Yuki", "Kenji"};
    const char *to_names[3] = {"Yuki", "Akira", "Hiro"};
    for (int i = 0; i < 3; i++) {
        const tia_interaction *it = &l.items[i];
        const tia_interaction_new *n = &steps[want[i]];
        assert_string_equal(it->id, ids[want[i]]);
        assert_string_equal(it->workflow_id, wf);
        assert_string_equal(it->from_agent_id, n->from_agent_id);
        assert_string_equal(it->to_agent_id, n->to_agent_id);
        assert_string_equal(it->from_agent_name, from_names[i]);
        assert_string_equal(it->to_agent_name, to_names[i]);
        assert_string_equal(it->interaction_type, n->interaction_type);
        if (n->message == NULL)
            assert_null(it->message);
        else
            assert_string_equal(it->message, n->message);
        if (n->payload == NULL)
            assert_null(it->payload);
        else
            assert_json_equal(it->payload, n->payload);
        assert_true(it->created_at != TIA_TIME_NONE);
        if (i > 0 && it->created_at < l.items[i - 1].created_at)
            fail_msg("interaction %d is older than the one before it", i);
    }
    tia_interaction_list_free(&l);
    assert_int_equal(l.n, 0);
    assert_null(l.items);
    tia_interaction_list_free(NULL);

    /* Interactions of the same instant keep the order of their (time-ordered) ids. */
    const char *same = "UPDATE agent_interactions SET created_at = "
                       "(SELECT min(created_at) FROM agent_interactions)";
    TIA_OK_OR_FAIL(tia_test_exec(s, same, same, &err), &err);
    TIA_OK_OR_FAIL(tia_interaction_list_for_workflow(s, wf, &l, &err), &err);
    assert_int_equal(l.n, 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(l.items[i].id, ids[want[i]]);
    tia_interaction_list_free(&l);

    /* Upper-case workflow ids name the same workflow. */
    char upper[TIA_UUID_BUF];
    for (int i = 0; i < TIA_UUID_BUF; i++)
        upper[i] = (char)((other[i] >= 'a' && other[i] <= 'f') ? other[i] - 32 : other[i]);
    TIA_OK_OR_FAIL(tia_interaction_list_for_workflow(s, upper, &l, &err), &err);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].workflow_id, other);
    assert_string_equal(l.items[0].from_agent_name, "Hiro");
    assert_string_equal(l.items[0].to_agent_name, "Sakura");
    tia_interaction_list_free(&l);

    tia_interaction_new again = {.workflow_id = upper,
                                 .from_agent_id = "akira-001",
                                 .to_agent_id = "akira-001",
                                 .interaction_type = "review"};
    TIA_OK_OR_FAIL(tia_interaction_record(s, &again, NULL, &err), &err);
    assert_int_equal(tia_test_int(s,
                                  "SELECT count(*) FROM agent_interactions i JOIN workflows w ON "
                                  "w.id = i.workflow_id WHERE w.name = 'code review'",
                                  "SELECT count(*) FROM agent_interactions i JOIN workflows w ON "
                                  "w.id = i.workflow_id WHERE w.name = 'code review'"),
                     5);
}

static void test_list_empty_unknown_and_malformed(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char wf[TIA_UUID_BUF];
    new_workflow(s, wf);
    tia_interaction_list l;
    TIA_OK_OR_FAIL(tia_interaction_list_for_workflow(s, wf, &l, &err), &err);
    assert_int_equal(l.n, 0);
    tia_interaction_list_free(&l);
    TIA_ASSERT_RC(
        tia_interaction_list_for_workflow(s, "0190f000-0000-7000-8000-000000000000", &l, &err),
        TIA_ENOTFOUND, &err);
    assert_non_null(strstr(err.message, "workflow"));
    assert_int_equal(l.n, 0);
    TIA_ASSERT_RC(tia_interaction_list_for_workflow(s, "0190f000", &l, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_interaction_list_for_workflow(s, NULL, &l, &err), TIA_EINVAL, &err);
}

static void test_record_refuses_bad_input(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char wf[TIA_UUID_BUF];
    new_workflow(s, wf);
    char from51[TIA_AGENT_ID_MAX + 2];
    memset(from51, 'a', TIA_AGENT_ID_MAX + 1);
    from51[TIA_AGENT_ID_MAX + 1] = '\0';
    struct {
        tia_interaction_new in;
        int rc;
        const char *words;
    } cases[] = {
        {{wf, "akira-001", "yuki-002", "chat", NULL, NULL}, TIA_EINVAL, "interaction_type"},
        {{wf, "akira-001", "yuki-002", "Handoff", NULL, NULL}, TIA_EINVAL, "interaction_type"},
        {{wf, "akira-001", "yuki-002", NULL, NULL, NULL}, TIA_EINVAL, "interaction_type"},
        {{wf, NULL, "yuki-002", "handoff", NULL, NULL}, TIA_EINVAL, "from_agent_id"},
        {{wf, from51, "yuki-002", "handoff", NULL, NULL}, TIA_EINVAL, "from_agent_id"},
        {{wf, "akira-001", "", "handoff", NULL, NULL}, TIA_EINVAL, "to_agent_id"},
        {{wf, "akira-001", "yuki-\xff", "handoff", NULL, NULL}, TIA_EINVAL, "to_agent_id"},
        {{"not-a-uuid", "akira-001", "yuki-002", "handoff", NULL, NULL}, TIA_EINVAL, "workflow_id"},
        {{wf, "akira-001", "yuki-002", "handoff", "\xe4\xbe", NULL}, TIA_EINVAL, "message"},
        {{wf, "akira-001", "yuki-002", "handoff", NULL, "{\"a\" 1}"}, TIA_EINVAL, "payload"},
        {{wf, "nobody-999", "yuki-002", "handoff", NULL, NULL},
         TIA_ENOTFOUND,
         "from agent 'nobody-999'"},
        {{wf, "akira-001", "nobody-999", "handoff", NULL, NULL},
         TIA_ENOTFOUND,
         "to agent 'nobody-999'"},
        {{"0190f000-0000-7000-8000-000000000000", "akira-001", "yuki-002", "handoff", NULL, NULL},
         TIA_ENOTFOUND,
         "workflow 0190f000-0000-7000-8000-000000000000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char id[TIA_UUID_BUF] = "x";
        tia_error_clear(&err);
        int rc = tia_interaction_record(s, &cases[i].in, id, &err);
        if (rc != cases[i].rc)
            fail_msg("case %zu: got %d (%s), want %d", i, rc, err.message, cases[i].rc);
        if (strstr(err.message, cases[i].words) == NULL)
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.message, cases[i].words);
        assert_string_equal(id, "");
        assert_int_equal(COUNT(s), 0);
    }
    TIA_ASSERT_RC(tia_interaction_record(s, NULL, NULL, &err), TIA_EINVAL, &err);
    assert_int_equal(COUNT(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_empty_unknown_and_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_refuses_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
