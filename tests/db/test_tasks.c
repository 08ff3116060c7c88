/*
 * Conformance tests of the tasks module on both backends: creating tasks (one
 * and in batches) and refusing every kind of bad input without writing
 * anything, the state machine with its timestamps and results, keyset pages
 * under every filter (no gaps or repeats, even with inserts between pages), and
 * the ON DELETE CASCADE from workflows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tia_test.h"

#include <tokyoia/tasks.h>

#define WF1 "0190a000-0000-7000-8000-000000000001"
#define WF2 "0190a000-0000-7000-8000-000000000002"
#define MISSING_UUID "0190a000-0000-7000-8000-00000000dead"

/* Fails unless err's message contains needle, printing both. */
#define ASSERT_MSG(err, needle)                                                                    \
    do {                                                                                           \
        if (strstr((err)->message, (needle)) == NULL)                                              \
            fail_msg("message '%s' does not contain '%s'", (err)->message, (needle));              \
    } while (0)

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

static void add_workflow(tia_store *s, const char *id)
{
    char sql[200];
    tia_error err = {0};
    snprintf(sql, sizeof sql, "INSERT INTO workflows (id, name) VALUES ('%s', 'wf %s')", id, id);
    TIA_OK_OR_FAIL(tia_test_exec(s, sql, sql, &err), &err);
}

static int64_t count_tasks(tia_store *s)
{
    const char *q = "SELECT COUNT(*) FROM agent_tasks";
    return tia_test_int(s, q, q);
}

static tia_task_new task_new(const char *agent, const char *wf, const char *parent)
{
    tia_task_new t = {0};
    t.agent_id = agent;
    t.workflow_id = wf;
    t.task_type = "code_review";
    t.description = "review the diff";
    t.parent_task_id = parent;
    return t;
}

static void create_ok(tia_store *s, const tia_task_new *t, char id[TIA_UUID_BUF])
{
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_task_create(s, t, id, &err), &err);
}

static tia_task *get_ok(tia_store *s, const char *id)
{
    tia_error err = {0};
    tia_task *t = NULL;
    TIA_OK_OR_FAIL(tia_task_get(s, id, &t, &err), &err);
    return t;
}

static void move_ok(tia_store *s, const char *id, tia_run_status to, const tia_task_result *r)
{
    tia_error err = {0};
    TIA_OK_OR_FAIL(tia_task_transition(s, id, to, r, &err), &err);
}

static void test_create_and_get(void **state)
{
    tia_store *s = *state;
    add_workflow(s, WF1);
    tia_time_us before = tia_now_us();
    char a[TIA_UUID_BUF], b[TIA_UUID_BUF];
    tia_task_new n = task_new("akira-001", NULL, NULL);
    create_ok(s, &n, a);
    assert_int_equal(a[14], '7'); /* UUIDv7 */

    tia_task *t = get_ok(s, a);
    assert_string_equal(t->id, a);
    assert_string_equal(t->agent_id, "akira-001");
    assert_string_equal(t->workflow_id, "");
    assert_string_equal(t->parent_task_id, "");
    assert_string_equal(t->task_type, "code_review");
    assert_string_equal(t->description, "review the diff");
    assert_int_equal(t->status, TIA_PENDING);
    assert_null(t->input_data);
    assert_null(t->output_data);
    assert_null(t->error_message);
    assert_string_equal(t->metadata, "{}");
    assert_true(t->started_at == TIA_TIME_NONE);
    assert_true(t->completed_at == TIA_TIME_NONE);
    assert_int_equal(t->duration_ms, -1);
    assert_int_equal(t->tokens_used, 0);
    assert_int_equal(t->cost_micros, 0);
    assert_int_equal(t->retry_count, 0);
    /* The database clock and ours agree within a second or so. */
    assert_in_range(t->created_at, before - 2000000, tia_now_us() + 2000000);
    tia_task_free(t);

    n = task_new("yuki-002", WF1, a);
    n.input_data = "{\"files\": [\"a.c\"]}";
    n.metadata = "{\"k\": \"v\"}";
    create_ok(s, &n, b);
    t = get_ok(s, b);
    assert_string_equal(t->workflow_id, WF1);
    assert_string_equal(t->parent_task_id, a);
    assert_string_equal(t->input_data, "{\"files\": [\"a.c\"]}");
    assert_string_equal(t->metadata, "{\"k\": \"v\"}");
    tia_task_free(t);

    /* Upper-case UUIDs are accepted and stored canonical. */
    char upper[TIA_UUID_BUF], c[TIA_UUID_BUF];
    for (size_t i = 0; i < sizeof upper; i++)
        upper[i] = (char)(WF1[i] >= 'a' && WF1[i] <= 'f' ? WF1[i] - 32 : WF1[i]);
    n = task_new("hiro-003", upper, NULL);
    create_ok(s, &n, c);
    t = get_ok(s, c);
    assert_string_equal(t->workflow_id, WF1);
    tia_task_free(t);

    tia_error err = {0};
    t = NULL;
    TIA_ASSERT_RC(tia_task_get(s, MISSING_UUID, &t, &err), TIA_ENOTFOUND, &err);
    assert_null(t);
    TIA_ASSERT_RC(tia_task_get(s, "nope", &t, &err), TIA_EINVAL, &err);
}

/* Creating n must fail with want, the message must contain needle, nothing written. */
static void refuse(tia_store *s, const tia_task_new *n, int want, const char *needle)
{
    tia_error err = {0};
    int64_t before = count_tasks(s);
    char id[TIA_UUID_BUF] = "unchanged";
    TIA_ASSERT_RC(tia_task_create(s, n, id, &err), want, &err);
    ASSERT_MSG(&err, needle);
    assert_string_equal(id, "unchanged");
    assert_int_equal(count_tasks(s), before);
}

static void test_create_unknown_references(void **state)
{
    tia_store *s = *state;
    add_workflow(s, WF1);
    tia_task_new n = task_new("nobody-999", NULL, NULL);
    refuse(s, &n, TIA_ENOTFOUND, "unknown agent 'nobody-999'");
    n = task_new("akira-001", MISSING_UUID, NULL);
    refuse(s, &n, TIA_ENOTFOUND, "unknown workflow '" MISSING_UUID "'");
    n = task_new("akira-001", WF1, MISSING_UUID);
    refuse(s, &n, TIA_ENOTFOUND, "unknown parent task '" MISSING_UUID "'");
    assert_int_equal(count_tasks(s), 0);
}

static void test_create_bad_input(void **state)
{
    tia_store *s = *state;
    /* 'é' is two bytes and one character: the limit counts characters. */
    char type[2 * (TIA_TASK_TYPE_MAX + 1) + 1] = "";
    for (int i = 0; i < TIA_TASK_TYPE_MAX + 1; i++)
        strcat(type, "\xc3\xa9");
    char agent[TIA_AGENT_ID_MAX + 2];
    memset(agent, 'a', sizeof agent - 1);
    agent[sizeof agent - 1] = '\0';

    tia_task_new n = task_new("akira-001", NULL, NULL);
    n.task_type = type;
    refuse(s, &n, TIA_EINVAL, "task_type");
    n = task_new(NULL, NULL, NULL);
    refuse(s, &n, TIA_EINVAL, "agent_id");
    n = task_new(agent, NULL, NULL);
    refuse(s, &n, TIA_EINVAL, "agent_id");
    n = task_new("akira-001", NULL, NULL);
    n.description = NULL;
    refuse(s, &n, TIA_EINVAL, "description");
    n = task_new("akira-001", NULL, NULL);
    n.task_type = "";
    refuse(s, &n, TIA_EINVAL, "task_type");
    n = task_new("akira-001", NULL, NULL);
    n.input_data = "{\"a\": ";
    refuse(s, &n, TIA_EINVAL, "input_data");
    n = task_new("akira-001", NULL, NULL);
    n.metadata = "not json";
    refuse(s, &n, TIA_EINVAL, "metadata");
    n = task_new("akira-001", "0190a000-0000-7000-8000", NULL);
    refuse(s, &n, TIA_EINVAL, "workflow_id");
    n = task_new("akira-001", NULL, "zz90a000-0000-7000-8000-000000000001");
    refuse(s, &n, TIA_EINVAL, "parent_task_id");
    n = task_new("akira-001", NULL, NULL);
    n.description = "bad \xff utf-8";
    refuse(s, &n, TIA_EINVAL, "description");
    refuse(s, NULL, TIA_EINVAL, "task");

    /* Exactly at the limit is accepted and stored as given. */
    type[2 * TIA_TASK_TYPE_MAX] = '\0';
    n = task_new("akira-001", NULL, NULL);
    n.task_type = type;
    char id[TIA_UUID_BUF];
    create_ok(s, &n, id);
    tia_task *t = get_ok(s, id);
    assert_string_equal(t->task_type, type);
    tia_task_free(t);
}

static void check_final(tia_store *s, const char *id, tia_run_status want, int ran)
{
    tia_task *t = get_ok(s, id);
    assert_int_equal(t->status, want);
    assert_true(t->completed_at != TIA_TIME_NONE);
    if (ran) {
        assert_true(t->started_at != TIA_TIME_NONE);
        assert_true(t->completed_at >= t->started_at);
        int64_t want_ms = (int64_t)llround((double)(t->completed_at - t->started_at) / 1000.0);
        assert_int_equal(t->duration_ms, want_ms);
        assert_true(t->duration_ms >= 4); /* we slept 5 ms; the clocks are ms-accurate */
    } else {
        assert_true(t->started_at == TIA_TIME_NONE);
        assert_int_equal(t->duration_ms, -1);
    }
    tia_task_free(t);
}

static void test_legal_transitions(void **state)
{
    tia_store *s = *state;
    const tia_run_status finals[] = {TIA_COMPLETED, TIA_FAILED, TIA_CANCELLED};
    for (int i = 0; i < 3; i++) {
        char id[TIA_UUID_BUF];
        tia_task_new n = task_new("kenji-005", NULL, NULL);
        create_ok(s, &n, id);
        move_ok(s, id, TIA_RUNNING, NULL);
        tia_task *t = get_ok(s, id);
        assert_int_equal(t->status, TIA_RUNNING);
        assert_true(t->started_at != TIA_TIME_NONE);
        assert_true(t->started_at >= t->created_at - 2000);
        assert_true(t->completed_at == TIA_TIME_NONE);
        assert_int_equal(t->duration_ms, -1);
        tia_task_free(t);
        usleep(5000);
        tia_task_result r = {"{\"ok\": true}", i == 1 ? "boom" : NULL, 1234 + i, 56789 + i};
        move_ok(s, id, finals[i], &r);
        check_final(s, id, finals[i], 1);
        t = get_ok(s, id);
        assert_string_equal(t->output_data, "{\"ok\": true}");
        if (i == 1)
            assert_string_equal(t->error_message, "boom");
        else
            assert_null(t->error_message);
        assert_int_equal(t->tokens_used, 1234 + i);
        assert_int_equal(t->cost_micros, 56789 + i);
        tia_task_free(t);
    }
    /* pending -> cancelled: no start, so no duration; a NULL result writes nothing. */
    char id[TIA_UUID_BUF];
    tia_task_new n = task_new("kenji-005", NULL, NULL);
    create_ok(s, &n, id);
    move_ok(s, id, TIA_CANCELLED, NULL);
    check_final(s, id, TIA_CANCELLED, 0);
    tia_task *t = get_ok(s, id);
    assert_null(t->output_data);
    assert_int_equal(t->tokens_used, 0);
    tia_task_free(t);
    /* The largest cost a DECIMAL(10,6) holds is accepted. */
    create_ok(s, &n, id);
    move_ok(s, id, TIA_RUNNING, NULL);
    tia_task_result big = {NULL, NULL, 0, TIA_COST_MAX_MICROS};
    move_ok(s, id, TIA_COMPLETED, &big);
    t = get_ok(s, id);
    assert_int_equal(t->cost_micros, TIA_COST_MAX_MICROS);
    tia_task_free(t);
}

/* The columns a refused transition must leave as they were. */
static void snapshot(tia_store *s, const char *id, char *buf, size_t len)
{
    tia_task *t = get_ok(s, id);
    snprintf(buf, len, "%d|%lld|%lld|%lld|%lld|%lld|%s|%s", (int)t->status,
             (long long)t->started_at, (long long)t->completed_at, (long long)t->duration_ms,
             (long long)t->tokens_used, (long long)t->cost_micros,
             t->output_data ? t->output_data : "-", t->error_message ? t->error_message : "-");
    tia_task_free(t);
}

static void refuse_move(tia_store *s, const char *id, tia_run_status to, const tia_task_result *r,
                        int want, const char *needle)
{
    char before[512], after[512];
    tia_error err = {0};
    snapshot(s, id, before, sizeof before);
    TIA_ASSERT_RC(tia_task_transition(s, id, to, r, &err), want, &err);
    ASSERT_MSG(&err, needle);
    snapshot(s, id, after, sizeof after);
    assert_string_equal(after, before);
}

static void test_illegal_transitions(void **state)
{
    tia_store *s = *state;
    char p[TIA_UUID_BUF], r[TIA_UUID_BUF], done[TIA_UUID_BUF], c[TIA_UUID_BUF];
    tia_task_new n = task_new("sakura-004", NULL, NULL);
    create_ok(s, &n, p);
    create_ok(s, &n, r);
    create_ok(s, &n, done);
    create_ok(s, &n, c);
    move_ok(s, r, TIA_RUNNING, NULL);
    move_ok(s, done, TIA_RUNNING, NULL);
    move_ok(s, done, TIA_COMPLETED, NULL);
    move_ok(s, c, TIA_CANCELLED, NULL);

    refuse_move(s, p, TIA_COMPLETED, NULL, TIA_ECONFLICT,
                "illegal transition pending -> completed");
    refuse_move(s, p, TIA_FAILED, NULL, TIA_ECONFLICT, "illegal transition pending -> failed");
    refuse_move(s, p, TIA_PENDING, NULL, TIA_ECONFLICT, "illegal transition pending -> pending");
    refuse_move(s, r, TIA_RUNNING, NULL, TIA_ECONFLICT, "illegal transition running -> running");
    refuse_move(s, r, TIA_PENDING, NULL, TIA_ECONFLICT, "illegal transition running -> pending");
    refuse_move(s, done, TIA_RUNNING, NULL, TIA_ECONFLICT, "completed -> running");
    refuse_move(s, done, TIA_CANCELLED, NULL, TIA_ECONFLICT, "completed -> cancelled");
    refuse_move(s, done, TIA_FAILED, NULL, TIA_ECONFLICT, "completed -> failed");
    refuse_move(s, c, TIA_RUNNING, NULL, TIA_ECONFLICT, "cancelled -> running");
    refuse_move(s, c, TIA_COMPLETED, NULL, TIA_ECONFLICT, "cancelled -> completed");
    refuse_move(s, r, (tia_run_status)42, NULL, TIA_EINVAL, "status 42");
    refuse_move(s, r, (tia_run_status)-1, NULL, TIA_EINVAL, "status -1");

    /* Bad results are refused before anything is written. */
    tia_task_result neg_tokens = {NULL, NULL, -1, 0};
    tia_task_result big_tokens = {NULL, NULL, INT64_C(2147483648), 0};
    tia_task_result neg_cost = {NULL, NULL, 0, -1};
    tia_task_result big_cost = {NULL, NULL, 0, TIA_COST_MAX_MICROS + 1};
    tia_task_result bad_json = {"{oops", NULL, 0, 0};
    tia_task_result bad_text = {NULL, "\xc0\xaf", 0, 0};
    refuse_move(s, r, TIA_COMPLETED, &neg_tokens, TIA_EINVAL, "tokens_used");
    refuse_move(s, r, TIA_COMPLETED, &big_tokens, TIA_EINVAL, "tokens_used");
    refuse_move(s, r, TIA_COMPLETED, &neg_cost, TIA_EINVAL, "cost");
    refuse_move(s, r, TIA_FAILED, &big_cost, TIA_EINVAL, "cost");
    refuse_move(s, r, TIA_COMPLETED, &bad_json, TIA_EINVAL, "output_data");
    refuse_move(s, r, TIA_FAILED, &bad_text, TIA_EINVAL, "error_message");
    /* A result belongs to a final status. */
    tia_task_result some = {NULL, NULL, 5, 0};
    refuse_move(s, p, TIA_RUNNING, &some, TIA_EINVAL, "final status");

    tia_error err = {0};
    TIA_ASSERT_RC(tia_task_transition(s, MISSING_UUID, TIA_RUNNING, NULL, &err), TIA_ENOTFOUND,
                  &err);
    ASSERT_MSG(&err, "unknown task");
    TIA_ASSERT_RC(tia_task_transition(s, MISSING_UUID, TIA_PENDING, NULL, &err), TIA_ENOTFOUND,
                  &err);
    TIA_ASSERT_RC(tia_task_transition(s, "x", TIA_RUNNING, NULL, &err), TIA_EINVAL, &err);
    ASSERT_MSG(&err, "id");
}

static void test_batch(void **state)
{
    tia_store *s = *state;
    add_workflow(s, WF1);
    char parent[TIA_UUID_BUF];
    tia_task_new one = task_new("akira-001", NULL, NULL);
    create_ok(s, &one, parent);

    enum { N = 1500 }; /* more than one PostgreSQL chunk */
    tia_task_new *items = calloc(N, sizeof *items);
    char(*ids)[TIA_UUID_BUF] = calloc(N, sizeof *ids);
    assert_non_null(items);
    assert_non_null(ids);
    for (int i = 0; i < N; i++)
        items[i] =
            task_new(i % 2 ? "yuki-002" : "hiro-003", i % 3 ? WF1 : NULL, i % 5 ? NULL : parent);
    tia_error err = {0};
    int64_t before = count_tasks(s);

    /* Bad items anywhere refuse the whole batch. */
    items[1234].input_data = "[1,";
    TIA_ASSERT_RC(tia_task_create_batch(s, items, N, ids, &err), TIA_EINVAL, &err);
    ASSERT_MSG(&err, "item 1234: input_data");
    items[1234].input_data = NULL;
    items[1300].agent_id = "ghost-000";
    TIA_ASSERT_RC(tia_task_create_batch(s, items, N, ids, &err), TIA_ENOTFOUND, &err);
    ASSERT_MSG(&err, "item 1300: unknown agent 'ghost-000'");
    items[1300].agent_id = "akira-001";
    items[2].workflow_id = MISSING_UUID;
    TIA_ASSERT_RC(tia_task_create_batch(s, items, N, ids, &err), TIA_ENOTFOUND, &err);
    ASSERT_MSG(&err, "item 2: unknown workflow");
    items[2].workflow_id = WF1;
    items[1499].parent_task_id = MISSING_UUID;
    TIA_ASSERT_RC(tia_task_create_batch(s, items, N, ids, &err), TIA_ENOTFOUND, &err);
    ASSERT_MSG(&err, "item 1499: unknown parent task");
    items[1499].parent_task_id = NULL;
    assert_int_equal(count_tasks(s), before);
    const char *wf_count = "SELECT total_tasks FROM workflows";
    assert_int_equal(tia_test_int(s, wf_count, wf_count), 0);

    TIA_OK_OR_FAIL(tia_task_create_batch(s, items, N, ids, &err), &err);
    assert_int_equal(count_tasks(s), before + N);
    for (int i = 0; i < N; i += 97) {
        tia_task *t = get_ok(s, ids[i]);
        assert_string_equal(t->agent_id, items[i].agent_id);
        assert_string_equal(t->workflow_id, items[i].workflow_id ? WF1 : "");
        assert_string_equal(t->parent_task_id, items[i].parent_task_id ? parent : "");
        tia_task_free(t);
    }
    for (int i = 1; i < N; i++)
        assert_true(strcmp(ids[i - 1], ids[i]) < 0);
    assert_int_equal(tia_test_int(s, wf_count, wf_count), N - (N + 2) / 3);
    TIA_OK_OR_FAIL(tia_task_create_batch(s, items, 0, NULL, &err), &err);
    free(items);
    free(ids);
}

/* Filter f for a page walk, with the equivalent SQL condition for counting. */
typedef struct walk_case {
    const char *agent;
    const char *wf;
    int status; /* -1: any */
} walk_case;

static int64_t count_matching(tia_store *s, const walk_case *w)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM agent_tasks WHERE (%d = 0 OR agent_id = '%s') AND "
             "(%d = 0 OR workflow_id = '%s') AND (%d = 0 OR status = '%s')",
             w->agent != NULL, w->agent ? w->agent : "", w->wf != NULL, w->wf ? w->wf : WF1,
             w->status >= 0, w->status >= 0 ? tia_run_status_name(w->status) : "");
    return tia_test_int(s, sql, sql);
}

static int matches(const tia_task *t, const walk_case *w)
{
    return (!w->agent || strcmp(t->agent_id, w->agent) == 0) &&
           (!w->wf || strcmp(t->workflow_id, w->wf) == 0) &&
           (w->status < 0 || (int)t->status == w->status);
}

/*
 * Walks every page of w with page size `limit`, creating a task (that matches
 * w) after each page when insert_between. Checks strict (created_at, id)
 * descending order across pages, that every item matches, and that the pages
 * hold exactly the rows that existed when the walk began.
 */
static void walk(tia_store *s, const walk_case *w, size_t limit, int insert_between)
{
    int64_t want = count_matching(s, w);
    tia_run_status st = w->status >= 0 ? (tia_run_status)w->status : TIA_PENDING;
    tia_task_filter f = {w->agent, w->wf, w->status >= 0 ? &st : NULL, limit, NULL};
    char cursor[TIA_CURSOR_BUF] = "";
    tia_time_us last_created = 0;
    char last_id[TIA_UUID_BUF] = "";
    int64_t seen = 0;
    int pages = 0;
    for (;;) {
        struct tia_task_list l;
        tia_error err = {0};
        f.cursor = cursor;
        TIA_OK_OR_FAIL(tia_task_list(s, &f, &l, &err), &err);
        assert_true(l.n <= limit);
        for (size_t i = 0; i < l.n; i++) {
            const tia_task *t = l.items[i];
            assert_true(matches(t, w));
            if (seen > 0 && !(t->created_at < last_created ||
                              (t->created_at == last_created && strcmp(t->id, last_id) < 0)))
                fail_msg("order broken at row %lld: %lld/%s after %lld/%s", (long long)seen,
                         (long long)t->created_at, t->id, (long long)last_created, last_id);
            last_created = t->created_at;
            snprintf(last_id, sizeof last_id, "%s", t->id);
            seen++;
        }
        pages++;
        snprintf(cursor, sizeof cursor, "%s", l.next_cursor);
        if (cursor[0] != '\0')
            assert_int_equal(l.n, limit);
        tia_task_list_free(&l);
        if (cursor[0] == '\0')
            break;
        if (insert_between) {
            tia_task_new n = task_new(w->agent ? w->agent : "akira-001", w->wf, NULL);
            char id[TIA_UUID_BUF];
            create_ok(s, &n, id);
        }
    }
    assert_int_equal(seen, want);
    assert_int_equal(pages, want / (int64_t)limit + 1 - (want > 0 && want % (int64_t)limit == 0));
}

static void fill_for_pages(tia_store *s)
{
    static const char *const agents[] = {"akira-001", "yuki-002", "hiro-003"};
    add_workflow(s, WF1);
    add_workflow(s, WF2);
    tia_task_new items[20];
    for (int round = 0; round < 15; round++) {
        char ids[20][TIA_UUID_BUF];
        for (int i = 0; i < 20; i++)
            items[i] = task_new(agents[(round + i) % 3],
                                i % 4 == 0 ? NULL : (i % 4 == 1 ? WF1 : WF2), NULL);
        tia_error err = {0};
        if (round % 2 == 0) { /* batches share created_at on PostgreSQL: ties by id */
            TIA_OK_OR_FAIL(tia_task_create_batch(s, items, 20, ids, &err), &err);
        } else {
            for (int i = 0; i < 20; i++)
                create_ok(s, &items[i], ids[i]);
        }
        for (int i = 0; i < 20; i += 3)
            move_ok(s, ids[i], TIA_RUNNING, NULL);
        for (int i = 0; i < 20; i += 6)
            move_ok(s, ids[i], i % 12 ? TIA_COMPLETED : TIA_FAILED, NULL);
    }
}

static void test_pagination(void **state)
{
    tia_store *s = *state;
    fill_for_pages(s);
    assert_int_equal(count_tasks(s), 300);
    const walk_case cases[] = {
        {NULL, NULL, -1},           {"yuki-002", NULL, -1},        {NULL, WF1, -1},
        {NULL, NULL, TIA_RUNNING},  {"hiro-003", WF2, -1},         {"akira-001", NULL, TIA_PENDING},
        {NULL, WF2, TIA_COMPLETED}, {"yuki-002", WF1, TIA_FAILED}, {"kenji-005", NULL, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        walk(s, &cases[i], 7, 0);
        walk(s, &cases[i], 50, 0);
    }
    walk(s, &cases[0], 7, 1);
    walk(s, &cases[1], 50, 1);
    walk(s, &cases[2], 7, 1);

    struct tia_task_list l;
    tia_error err = {0};
    tia_task_filter f = {0};
    TIA_OK_OR_FAIL(tia_task_list(s, &f, &l, &err), &err);
    assert_int_equal(l.n, 50); /* limit 0 means 50 */
    tia_task_list_free(&l);
    TIA_OK_OR_FAIL(tia_task_list(s, NULL, &l, &err), &err);
    assert_int_equal(l.n, 50);
    tia_task_list_free(&l);
    f.limit = TIA_PAGE_MAX + 1;
    TIA_ASSERT_RC(tia_task_list(s, &f, &l, &err), TIA_EINVAL, &err);
    ASSERT_MSG(&err, "limit");
    f.limit = 10;
    f.cursor = "garbage";
    TIA_ASSERT_RC(tia_task_list(s, &f, &l, &err), TIA_EINVAL, &err);
    ASSERT_MSG(&err, "cursor");
    f.cursor = NULL;
    f.workflow_id = "not-a-uuid";
    TIA_ASSERT_RC(tia_task_list(s, &f, &l, &err), TIA_EINVAL, &err);
    ASSERT_MSG(&err, "workflow_id");
    tia_run_status bad = (tia_run_status)42;
    f.workflow_id = NULL;
    f.status = &bad;
    TIA_ASSERT_RC(tia_task_list(s, &f, &l, &err), TIA_EINVAL, &err);
    ASSERT_MSG(&err, "status");
    assert_int_equal(l.n, 0);
    assert_null(l.items);
}

/*
 * Pages whose edges fall inside groups of tasks with one created_at (every page
 * size from 1 to 20 over groups of 13, 13 and 14): tia_task_list sees the tie at
 * the page's edge and reads the page again in (created_at, id) order. walk()
 * checks the order and that no task is lost or repeated. (Whether a page read by
 * created_at alone would be wrong depends on the plan; test_pagination's
 * batches, on both backends, fail without the second read.)
 */
static void test_pagination_ties(void **state)
{
    tia_store *s = *state;
    char ids[40][TIA_UUID_BUF];
    for (int i = 0; i < 40; i++) {
        tia_task_new n = task_new("kenji-005", NULL, NULL);
        create_ok(s, &n, ids[i]);
    }
    tia_error err = {0};
    /* Groups of 13, 13 and 14 tasks at three times, in creation order (ids rise). */
    TIA_OK_OR_FAIL(tia_test_exec(s,
                                 "UPDATE agent_tasks SET created_at = TIMESTAMPTZ "
                                 "'2026-01-01 00:00:00+00' + (((SELECT count(*) FROM agent_tasks "
                                 "b WHERE b.agent_id = agent_tasks.agent_id AND b.id < "
                                 "agent_tasks.id) / 13) * INTERVAL '1 second') "
                                 "WHERE agent_id = 'kenji-005'",
                                 "UPDATE agent_tasks SET created_at = 1767225600000000 + "
                                 "((SELECT count(*) FROM agent_tasks b WHERE b.agent_id = "
                                 "agent_tasks.agent_id AND b.id < agent_tasks.id) / 13) * "
                                 "1000000 WHERE agent_id = 'kenji-005'",
                                 &err),
                   &err);
    const walk_case w = {"kenji-005", NULL, -1};
    for (size_t limit = 1; limit <= 20; limit++)
        walk(s, &w, limit, 0);
    walk(s, &w, 50, 0);
    /* The first page: the newest group, greatest id first. */
    tia_task_filter f = {"kenji-005", NULL, NULL, 5, NULL};
    struct tia_task_list l;
    TIA_OK_OR_FAIL(tia_task_list(s, &f, &l, &err), &err);
    assert_int_equal(l.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(l.items[i]->id, ids[39 - i]);
    tia_task_list_free(&l);
}

static void test_workflow_delete_cascades(void **state)
{
    tia_store *s = *state;
    add_workflow(s, WF1);
    char in[3][TIA_UUID_BUF], out[TIA_UUID_BUF];
    tia_task_new n = task_new("akira-001", WF1, NULL);
    for (int i = 0; i < 3; i++)
        create_ok(s, &n, in[i]);
    n = task_new("akira-001", NULL, NULL);
    create_ok(s, &n, out);
    tia_error err = {0};
    const char *del = "DELETE FROM workflows WHERE id = '" WF1 "'";
    TIA_OK_OR_FAIL(tia_test_exec(s, del, del, &err), &err);
    for (int i = 0; i < 3; i++) {
        tia_task *t = NULL;
        TIA_ASSERT_RC(tia_task_get(s, in[i], &t, &err), TIA_ENOTFOUND, &err);
    }
    tia_task *t = get_ok(s, out);
    tia_task_free(t);
    assert_int_equal(count_tasks(s), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_unknown_references, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legal_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_illegal_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagination_ties, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workflow_delete_cascades, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
