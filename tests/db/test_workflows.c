/*
 * Conformance tests of the workflows module, run on both backends: create/get
 * with defaults and every bad input (refused, nothing written), status changes
 * with their timestamps and duration_ms (the seed trigger's for completed, the
 * library's for failed and cancelled), illegal transitions, keyset pagination
 * with filters over a few hundred rows (each row exactly once, in order, also
 * when rows arrive between pages), and delete's cascade to tasks and interactions.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "tia_test.h"

#include <tokyoia/interactions.h>
#include <tokyoia/workflows.h>

#define COUNT(s, table)                                                                            \
    tia_test_int((s), "SELECT count(*) FROM " table, "SELECT count(*) FROM " table)

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

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *rep(const char *unit, size_t n)
{
    size_t len = strlen(unit);
    char *s = malloc(len * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * len, unit, len);
    s[len * n] = '\0';
    return s;
}

static void create(tia_store *s, const char *name, const char *type, char id[TIA_UUID_BUF])
{
    tia_error err = {0};
    tia_workflow_new w = {.name = name, .workflow_type = type};
    TIA_OK_OR_FAIL(tia_workflow_create(s, &w, id, &err), &err);
}

static tia_workflow *get(tia_store *s, const char *id)
{
    tia_error err = {0};
    tia_workflow *w = NULL;
    TIA_OK_OR_FAIL(tia_workflow_get(s, id, &w, &err), &err);
    return w;
}

static void test_create_and_get(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char id[TIA_UUID_BUF];
    tia_workflow_new n = {.name = "Review PR #42",
                          .description = "security first",
                          .workflow_type = "code_review",
                          .initiator = "ci-bot",
                          .metadata = "{\"pr\": 42}"};
    TIA_OK_OR_FAIL(tia_workflow_create(s, &n, id, &err), &err);
    assert_int_equal(strlen(id), 36);
    assert_int_equal(id[14], '7'); /* UUIDv7 from the library */
    tia_workflow *w = get(s, id);
    assert_string_equal(w->id, id);
    assert_string_equal(w->name, "Review PR #42");
    assert_string_equal(w->description, "security first");
    assert_string_equal(w->workflow_type, "code_review");
    assert_string_equal(w->initiator, "ci-bot");
    assert_int_equal(w->status, TIA_PENDING);
    assert_int_equal(w->total_tasks, 0);
    assert_int_equal(w->completed_tasks, 0);
    assert_int_equal(w->failed_tasks, 0);
    assert_int_equal(w->total_tokens_used, 0);
    assert_int_equal(w->total_cost_micros, 0);
    assert_true(w->started_at == TIA_TIME_NONE);
    assert_true(w->completed_at == TIA_TIME_NONE);
    assert_int_equal(w->duration_ms, -1);
    assert_int_equal(w->created_at, w->updated_at);
    json_t *meta = json_loads(w->metadata, 0, NULL);
    assert_non_null(meta);
    assert_int_equal(json_integer_value(json_object_get(meta, "pr")), 42);
    json_decref(meta);
    tia_workflow_free(w);

    /* Upper-case ids are the same id. */
    char upper[TIA_UUID_BUF];
    for (int i = 0; i < TIA_UUID_BUF; i++)
        upper[i] = (char)((id[i] >= 'a' && id[i] <= 'f') ? id[i] - 32 : id[i]);
    w = get(s, upper);
    assert_string_equal(w->id, id);
    tia_workflow_free(w);

    tia_workflow_new m = {.name = "bare"};
    TIA_OK_OR_FAIL(tia_workflow_create(s, &m, id, &err), &err);
    w = get(s, id);
    assert_null(w->description);
    assert_null(w->workflow_type);
    assert_null(w->initiator);
    assert_string_equal(w->metadata, "{}");
    tia_workflow_free(w);
    TIA_OK_OR_FAIL(tia_workflow_create(s, &m, NULL, &err), &err);
    assert_int_equal(COUNT(s, "workflows"), 3);
    tia_workflow_free(NULL);
    tia_workflow_list_free(NULL);
}

static void test_create_refuses_bad_input(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char *name201 = rep("\xe4\xbe\x8d", TIA_WORKFLOW_NAME_MAX + 1);
    char *type101 = rep("\xe4\xbe\x8d", TIA_WORKFLOW_TYPE_MAX + 1);
    char *init101 = rep("\xe4\xbe\x8d", TIA_INITIATOR_MAX + 1);
    struct {
        tia_workflow_new w;
        const char *field;
    } cases[] = {
        {{.name = NULL}, "name"},
        {{.name = ""}, "name"},
        {{.name = name201}, "name"},
        {{.name = "\xe4\xbe"}, "name"},
        {{.name = "ok", .description = "\xc3\x28"}, "description"},
        {{.name = "ok", .workflow_type = type101}, "workflow_type"},
        {{.name = "ok", .workflow_type = "\xfe"}, "workflow_type"},
        {{.name = "ok", .initiator = init101}, "initiator"},
        {{.name = "ok", .metadata = "{'single': 1}"}, "metadata"},
        {{.name = "ok", .metadata = ""}, "metadata"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char id[TIA_UUID_BUF] = "x";
        int rc = tia_workflow_create(s, &cases[i].w, id, &err);
        if (rc != TIA_EINVAL)
            fail_msg("case %zu: got %d (%s), want TIA_EINVAL", i, rc, err.message);
        if (strstr(err.message, cases[i].field) == NULL)
            fail_msg("case %zu: message '%s' does not name %s", i, err.message, cases[i].field);
        assert_string_equal(id, "");
        assert_int_equal(COUNT(s, "workflows"), 0);
    }
    TIA_ASSERT_RC(tia_workflow_create(s, NULL, NULL, &err), TIA_EINVAL, &err);
    free(name201);
    free(type101);
    free(init101);

    /* Exactly at the limits, in characters. */
    char *name = rep("\xe4\xbe\x8d", TIA_WORKFLOW_NAME_MAX);
    char *type = rep("\xe4\xbe\x8d", TIA_WORKFLOW_TYPE_MAX);
    char *init = rep("\xe4\xbe\x8d", TIA_INITIATOR_MAX);
    tia_workflow_new ok = {.name = name, .workflow_type = type, .initiator = init};
    char id[TIA_UUID_BUF];
    TIA_OK_OR_FAIL(tia_workflow_create(s, &ok, id, &err), &err);
    tia_workflow *w = get(s, id);
    assert_string_equal(w->name, name);
    assert_string_equal(w->workflow_type, type);
    assert_string_equal(w->initiator, init);
    tia_workflow_free(w);
    free(name);
    free(type);
    free(init);
}

static void test_get_errors(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    tia_workflow *w = NULL;
    TIA_ASSERT_RC(tia_workflow_get(s, "not-a-uuid", &w, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_workflow_get(s, "0190f000-0000-7000-8000-00000000000", &w, &err), TIA_EINVAL,
                  &err);
    TIA_ASSERT_RC(tia_workflow_get(s, NULL, &w, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(tia_workflow_get(s, "0190f000-0000-7000-8000-000000000000", &w, &err),
                  TIA_ENOTFOUND, &err);
    assert_null(w);
}

/* duration_ms as both the seed trigger and the library compute it. */
static void assert_duration(const tia_workflow *w)
{
    int64_t us = w->completed_at - w->started_at;
    int64_t want = (us + 500) / 1000; /* nearest ms, half away from zero (us >= 0) */
    if (w->duration_ms != want)
        fail_msg("duration_ms %lld, want %lld (completed_at - started_at = %lld us)",
                 (long long)w->duration_ms, (long long)want, (long long)us);
}

static void run_to(tia_store *s, tia_run_status final, int64_t min_ms)
{
    tia_error err = {0};
    char id[TIA_UUID_BUF];
    create(s, "lifecycle", NULL, id);
    tia_workflow *w0 = get(s, id);
    sleep_ms(5);
    TIA_OK_OR_FAIL(tia_workflow_set_status(s, id, TIA_RUNNING, &err), &err);
    tia_workflow *w1 = get(s, id);
    assert_int_equal(w1->status, TIA_RUNNING);
    assert_true(w1->started_at != TIA_TIME_NONE);
    assert_true(w1->completed_at == TIA_TIME_NONE);
    assert_int_equal(w1->duration_ms, -1);
    assert_true(w1->updated_at > w0->updated_at);
    sleep_ms(min_ms + 5);
    TIA_OK_OR_FAIL(tia_workflow_set_status(s, id, final, &err), &err);
    tia_workflow *w2 = get(s, id);
    assert_int_equal(w2->status, final);
    assert_int_equal(w2->started_at, w1->started_at);
    assert_true(w2->completed_at != TIA_TIME_NONE);
    assert_true(w2->completed_at > w2->started_at);
    assert_duration(w2);
    assert_true(w2->duration_ms >= min_ms);
    assert_true(w2->updated_at > w1->updated_at);
    tia_workflow_free(w0);
    tia_workflow_free(w1);
    tia_workflow_free(w2);
}

static void test_status_timestamps_and_duration(void **state)
{
    tia_store *s = *state;
    run_to(s, TIA_COMPLETED, 30); /* duration from the seed's trigger */
    run_to(s, TIA_FAILED, 30);    /* from the library */
    run_to(s, TIA_CANCELLED, 30);

    /* Cancelled before it ran: completed, but no start and so no duration. */
    tia_error err = {0};
    char id[TIA_UUID_BUF];
    create(s, "never ran", NULL, id);
    TIA_OK_OR_FAIL(tia_workflow_set_status(s, id, TIA_CANCELLED, &err), &err);
    tia_workflow *w = get(s, id);
    assert_int_equal(w->status, TIA_CANCELLED);
    assert_true(w->started_at == TIA_TIME_NONE);
    assert_true(w->completed_at != TIA_TIME_NONE);
    assert_int_equal(w->duration_ms, -1);
    tia_workflow_free(w);
}

/*
 * A workflow that ran 30 days, longer than duration_ms (an INTEGER of
 * milliseconds) holds: it still completes, fails or is cancelled, its duration
 * capped at 2147483647. The seed's trigger made completing it fail ("integer out
 * of range" on PostgreSQL, the column's CHECK on SQLite) before migration
 * PostgreSQL 0015 / SQLite 0014.
 */
static void test_duration_past_the_integer_range(void **state)
{
    tia_store *s = *state;
    const tia_run_status ends[] = {TIA_COMPLETED, TIA_FAILED, TIA_CANCELLED};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        tia_error err = {0};
        char id[TIA_UUID_BUF], sql[256];
        create(s, "a long one", NULL, id);
        TIA_OK_OR_FAIL(tia_workflow_set_status(s, id, TIA_RUNNING, &err), &err);
        snprintf(sql, sizeof sql,
                 tia_test_is_pg() ? "UPDATE workflows SET started_at = now() - interval '30 days' "
                                    "WHERE id = '%s'"
                                  : "UPDATE workflows SET started_at = started_at - 2592000000000 "
                                    "WHERE id = '%s'",
                 id);
        TIA_OK_OR_FAIL(tia_test_exec(s, sql, sql, &err), &err);
        TIA_OK_OR_FAIL(tia_workflow_set_status(s, id, ends[i], &err), &err);
        tia_workflow *w = get(s, id);
        assert_int_equal(w->status, ends[i]);
        assert_int_equal(w->duration_ms, 2147483647);
        tia_workflow_free(w);
    }
}

/* The counters belong to the database triggers; set_status leaves them alone. */
static void test_set_status_keeps_counters(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char id[TIA_UUID_BUF];
    create(s, "counted", NULL, id);
    const char *ins = "INSERT INTO agent_tasks (agent_id, workflow_id, task_type, description, "
                      "status, tokens_used) SELECT 'akira-001', id, 't', 'd', 'completed', 70 "
                      "FROM workflows WHERE name = 'counted'";
    TIA_OK_OR_FAIL(tia_test_exec(s, ins, ins, &err), &err);
    TIA_OK_OR_FAIL(tia_workflow_set_status(s, id, TIA_RUNNING, &err), &err);
    TIA_OK_OR_FAIL(tia_workflow_set_status(s, id, TIA_COMPLETED, &err), &err);
    tia_workflow *w = get(s, id);
    assert_int_equal(w->total_tasks, 1);
    assert_int_equal(w->completed_tasks, 1);
    assert_int_equal(w->total_tokens_used, 70);
    tia_workflow_free(w);
}

/* Moves a new workflow to `from` by legal steps. */
static void workflow_in(tia_store *s, tia_run_status from, char id[TIA_UUID_BUF])
{
    tia_error err = {0};
    create(s, "transitions", NULL, id);
    if (from == TIA_PENDING)
        return;
    if (from == TIA_CANCELLED) {
        TIA_OK_OR_FAIL(tia_workflow_set_status(s, id, TIA_CANCELLED, &err), &err);
        return;
    }
    TIA_OK_OR_FAIL(tia_workflow_set_status(s, id, TIA_RUNNING, &err), &err);
    if (from != TIA_RUNNING)
        TIA_OK_OR_FAIL(tia_workflow_set_status(s, id, from, &err), &err);
}

static void test_illegal_transitions_refused(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    for (int from = TIA_PENDING; from <= TIA_CANCELLED; from++) {
        for (int to = TIA_PENDING; to <= TIA_CANCELLED; to++) {
            if (tia_run_transition_ok((tia_run_status)from, (tia_run_status)to))
                continue;
            char id[TIA_UUID_BUF];
            workflow_in(s, (tia_run_status)from, id);
            tia_workflow *before = get(s, id);
            sleep_ms(2);
            TIA_ASSERT_RC(tia_workflow_set_status(s, id, (tia_run_status)to, &err), TIA_ECONFLICT,
                          &err);
            char want[80];
            snprintf(want, sizeof want, "illegal transition %s -> %s",
                     tia_run_status_name((tia_run_status)from),
                     tia_run_status_name((tia_run_status)to));
            if (strstr(err.message, want) == NULL)
                fail_msg("message '%s' lacks '%s'", err.message, want);
            tia_workflow *after = get(s, id);
            assert_int_equal(after->status, before->status);
            assert_int_equal(after->updated_at, before->updated_at);
            assert_int_equal(after->started_at, before->started_at);
            assert_int_equal(after->completed_at, before->completed_at);
            assert_int_equal(after->duration_ms, before->duration_ms);
            tia_workflow_free(before);
            tia_workflow_free(after);
        }
    }
    char id[TIA_UUID_BUF];
    create(s, "other errors", NULL, id);
    TIA_ASSERT_RC(tia_workflow_set_status(s, id, (tia_run_status)42, &err), TIA_EINVAL, &err);
    TIA_ASSERT_RC(
        tia_workflow_set_status(s, "0190f000-0000-7000-8000-000000000000", TIA_RUNNING, &err),
        TIA_ENOTFOUND, &err);
    TIA_ASSERT_RC(tia_workflow_set_status(s, "zz", TIA_RUNNING, &err), TIA_EINVAL, &err);
    assert_int_equal(tia_test_int(s,
                                  "SELECT count(*) FROM workflows WHERE status = 'pending' AND "
                                  "name = 'other errors'",
                                  "SELECT count(*) FROM workflows WHERE status = 'pending' AND "
                                  "name = 'other errors'"),
                     1);
}

typedef struct racer {
    tia_store *s;
    const char *id;
    int rc;
    tia_error err;
} racer;

static void *race_to_running(void *arg)
{
    racer *r = arg;
    r->rc = tia_workflow_set_status(r->s, r->id, TIA_RUNNING, &r->err);
    return NULL;
}

/*
 * Another connection cancels the workflow in a transaction that is still open
 * while set_status reads "pending"; its UPDATE waits for that transaction and
 * must then find the status changed, write nothing and say so.
 */
static void test_set_status_detects_concurrent_change(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char id[TIA_UUID_BUF];
    create(s, "raced", NULL, id);
    tia_store *other = tia_test_reopen(s);
    const char *pg_begin = "BEGIN; UPDATE workflows SET status = 'cancelled' WHERE name = 'raced'";
    const char *lite_begin =
        "BEGIN IMMEDIATE; UPDATE workflows SET status = 'cancelled' WHERE name = 'raced'";
    TIA_OK_OR_FAIL(tia_test_exec(other, pg_begin, lite_begin, &err), &err);
    racer r = {s, id, 0, {0}};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, race_to_running, &r), 0);
    sleep_ms(500); /* set_status has read "pending" and waits on the row */
    TIA_OK_OR_FAIL(tia_test_exec(other, "COMMIT", "COMMIT", &err), &err);
    assert_int_equal(pthread_join(t, NULL), 0);
    tia_store_close(other);
    TIA_ASSERT_RC(r.rc, TIA_ECONFLICT, &r.err);
    if (strstr(r.err.message, "changed concurrently") == NULL)
        fail_msg("message '%s' does not report the concurrent change", r.err.message);
    tia_workflow *w = get(s, id);
    assert_int_equal(w->status, TIA_CANCELLED);
    assert_true(w->started_at == TIA_TIME_NONE);
    tia_workflow_free(w);
}

/* A page walk: collects ids, checks (created_at, id) strictly descends. */
typedef struct walk {
    char (*ids)[TIA_UUID_BUF];
    size_t n;
    int pages;
} walk;

static int key_before(const tia_workflow *a, const tia_workflow *b)
{
    return a->created_at > b->created_at ||
           (a->created_at == b->created_at && strcmp(a->id, b->id) > 0);
}

/* Walks every page of f; between_pages (may be NULL) runs after the first page. */
static void walk_pages(tia_store *s, tia_workflow_filter f, walk *out,
                       void (*between_pages)(tia_store *))
{
    tia_error err = {0};
    char cursor[TIA_CURSOR_BUF] = "";
    tia_workflow last = {0};
    int have_last = 0;
    out->n = 0;
    out->pages = 0;
    for (;;) {
        struct tia_workflow_list l;
        f.cursor = cursor;
        TIA_OK_OR_FAIL(tia_workflow_list(s, &f, &l, &err), &err);
        out->pages++;
        for (size_t i = 0; i < l.n; i++) {
            const tia_workflow *w = l.items[i];
            if (have_last && !key_before(&last, w))
                fail_msg("page %d row %zu is out of order (%s after %s)", out->pages, i, w->id,
                         last.id);
            last.created_at = w->created_at;
            memcpy(last.id, w->id, TIA_UUID_BUF);
            have_last = 1;
            out->ids = realloc(out->ids, (out->n + 1) * sizeof *out->ids);
            assert_non_null(out->ids);
            memcpy(out->ids[out->n++], w->id, TIA_UUID_BUF);
        }
        size_t expect_full = f.limit ? f.limit : 50;
        if (l.next_cursor[0] != '\0')
            assert_int_equal(l.n, expect_full);
        memcpy(cursor, l.next_cursor, TIA_CURSOR_BUF);
        tia_workflow_list_free(&l);
        if (cursor[0] == '\0')
            break;
        if (out->pages == 1 && between_pages != NULL)
            between_pages(s);
    }
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Asserts that the walk saw exactly the ids of `want` (n of them), each once. */
static void assert_same_set(walk *w, char (*want)[TIA_UUID_BUF], size_t n)
{
    assert_int_equal(w->n, n);
    qsort(w->ids, w->n, TIA_UUID_BUF, cmp_id);
    qsort(want, n, TIA_UUID_BUF, cmp_id);
    for (size_t i = 0; i < n; i++)
        if (strcmp(w->ids[i], want[i]) != 0)
            fail_msg("row %zu: walked %s, want %s", i, w->ids[i], want[i]);
}

#define N_PAGED 237

/* Rows created by insert_more, in the order it created them. */
static char arrived[30][TIA_UUID_BUF];
static size_t n_arrived;

static void insert_more(tia_store *s)
{
    for (int i = 0; i < 15; i++)
        create(s, "arrived between pages", (i % 3 == 0) ? "deployment" : "code_review",
               arrived[n_arrived++]);
}

static void test_pagination(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    static char all[N_PAGED + 30][TIA_UUID_BUF], deploy[N_PAGED][TIA_UUID_BUF];
    static char running[N_PAGED][TIA_UUID_BUF];
    size_t n_deploy = 0, n_running = 0;
    n_arrived = 0;
    for (int i = 0; i < N_PAGED; i++) {
        int is_deploy = i % 3 == 0;
        create(s, "paged", is_deploy ? "deployment" : "code_review", all[i]);
        if (is_deploy)
            memcpy(deploy[n_deploy++], all[i], TIA_UUID_BUF);
        if (i % 7 == 0) {
            TIA_OK_OR_FAIL(tia_workflow_set_status(s, all[i], TIA_RUNNING, &err), &err);
            memcpy(running[n_running++], all[i], TIA_UUID_BUF);
        }
    }
    walk w = {0};
    tia_workflow_filter f = {
        .created_after = TIA_TIME_NONE, .created_before = TIA_TIME_NONE, .limit = 10};
    walk_pages(s, f, &w, NULL);
    assert_int_equal(w.pages, (N_PAGED + 9) / 10);
    assert_same_set(&w, all, N_PAGED);

    /* Rows that arrive between pages are newer than the cursor: no page shifts. */
    f.workflow_type = "deployment";
    walk_pages(s, f, &w, insert_more);
    assert_same_set(&w, deploy, n_deploy);
    f.workflow_type = NULL;
    size_t n_before = N_PAGED + n_arrived;
    for (size_t i = 0; i < n_arrived; i++)
        memcpy(all[N_PAGED + i], arrived[i], TIA_UUID_BUF);
    walk_pages(s, f, &w, insert_more);
    assert_same_set(&w, all, n_before);

    tia_run_status st = TIA_RUNNING;
    f.workflow_type = NULL;
    f.status = &st;
    f.limit = 3;
    walk_pages(s, f, &w, NULL);
    assert_same_set(&w, running, n_running);

    /* Default page size 50; one page of everything with the largest limit. */
    f.status = NULL;
    struct tia_workflow_list l;
    f.limit = 0;
    f.cursor = NULL;
    TIA_OK_OR_FAIL(tia_workflow_list(s, &f, &l, &err), &err);
    assert_int_equal(l.n, 50);
    assert_string_not_equal(l.next_cursor, "");
    tia_workflow_list_free(&l);
    assert_string_equal(l.next_cursor, "");
    f.limit = TIA_PAGE_MAX;
    TIA_OK_OR_FAIL(tia_workflow_list(s, &f, &l, &err), &err);
    assert_int_equal(l.n, COUNT(s, "workflows"));
    assert_string_equal(l.next_cursor, "");
    tia_workflow_list_free(&l);
    TIA_OK_OR_FAIL(tia_workflow_list(s, NULL, &l, &err), &err);
    assert_int_equal(l.n, 50);
    tia_workflow_list_free(&l);
    free(w.ids);
}

static void test_list_refuses_bad_filter(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    struct tia_workflow_list l;
    tia_workflow_filter f = {.created_after = TIA_TIME_NONE, .created_before = TIA_TIME_NONE};
    f.limit = TIA_PAGE_MAX + 1;
    TIA_ASSERT_RC(tia_workflow_list(s, &f, &l, &err), TIA_EINVAL, &err);
    f.limit = 10;
    const char *bad[] = {"garbage", "123", "12.not-a-uuid", ".0190f000-0000-7000-8000-000000000000",
                         "x1.0190f000-0000-7000-8000-000000000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f.cursor = bad[i];
        TIA_ASSERT_RC(tia_workflow_list(s, &f, &l, &err), TIA_EINVAL, &err);
        assert_int_equal(l.n, 0);
    }
    f.cursor = NULL;
    tia_run_status st = (tia_run_status)42;
    f.status = &st;
    TIA_ASSERT_RC(tia_workflow_list(s, &f, &l, &err), TIA_EINVAL, &err);
}

static void names_of(tia_store *s, tia_workflow_filter f, char *buf, size_t len)
{
    tia_error err = {0};
    struct tia_workflow_list l;
    TIA_OK_OR_FAIL(tia_workflow_list(s, &f, &l, &err), &err);
    buf[0] = '\0';
    for (size_t i = 0; i < l.n; i++)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? "," : "", l.items[i]->name);
    tia_workflow_list_free(&l);
}

#define SEC INT64_C(1000000)

static void test_list_time_filters(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    const char *names[] = {"t1", "t2", "t3", "t4", "t5"};
    char id[TIA_UUID_BUF];
    for (int i = 0; i < 5; i++)
        create(s, names[i], NULL, id);
    /* t<k> was created at k*1000 seconds after the epoch. */
    const char *pg = "UPDATE workflows SET created_at = 'epoch'::timestamptz + "
                     "(substr(name, 2)::int * 1000) * interval '1 second'";
    const char *lite = "UPDATE workflows SET created_at = CAST(substr(name, 2) AS INTEGER) * "
                       "1000 * 1000000";
    TIA_OK_OR_FAIL(tia_test_exec(s, pg, lite, &err), &err);
    char buf[64];
    tia_workflow_filter f = {.created_after = 2000 * SEC, .created_before = 4000 * SEC};
    names_of(s, f, buf, sizeof buf);
    assert_string_equal(buf, "t3,t2"); /* after inclusive, before exclusive */
    f.created_before = TIA_TIME_NONE;
    names_of(s, f, buf, sizeof buf);
    assert_string_equal(buf, "t5,t4,t3,t2");
    f.created_after = TIA_TIME_NONE;
    f.created_before = 3000 * SEC + 1;
    names_of(s, f, buf, sizeof buf);
    assert_string_equal(buf, "t3,t2,t1");
    f.created_after = 4000 * SEC + 1;
    f.created_before = TIA_TIME_NONE;
    names_of(s, f, buf, sizeof buf);
    assert_string_equal(buf, "t5");

    /* Pages within a time window. */
    f.created_after = 1000 * SEC;
    f.created_before = 5000 * SEC;
    f.limit = 1;
    walk w = {0};
    walk_pages(s, f, &w, NULL);
    assert_int_equal(w.n, 4);
    assert_int_equal(w.pages, 4);
    free(w.ids);
}

static void test_delete_cascades(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char id[TIA_UUID_BUF], keep[TIA_UUID_BUF];
    create(s, "cascade", NULL, id);
    create(s, "kept", NULL, keep);
    const char *ins = "INSERT INTO agent_tasks (agent_id, workflow_id, task_type, description) "
                      "SELECT 'akira-001', id, 't', 'd' FROM workflows;"
                      "INSERT INTO agent_tasks (agent_id, workflow_id, task_type, description) "
                      "SELECT 'yuki-002', id, 't', 'd' FROM workflows WHERE name = 'cascade';";
    TIA_OK_OR_FAIL(tia_test_exec(s, ins, ins, &err), &err);
    const char *wfs[] = {id, id, keep};
    for (int i = 0; i < 3; i++) {
        tia_interaction_new in = {.workflow_id = wfs[i],
                                  .from_agent_id = "akira-001",
                                  .to_agent_id = "yuki-002",
                                  .interaction_type = "review"};
        TIA_OK_OR_FAIL(tia_interaction_record(s, &in, NULL, &err), &err);
    }
    assert_int_equal(COUNT(s, "agent_tasks"), 3);
    assert_int_equal(COUNT(s, "agent_interactions"), 3);

    TIA_OK_OR_FAIL(tia_workflow_delete(s, id, &err), &err);
    assert_int_equal(COUNT(s, "workflows"), 1);
    assert_int_equal(COUNT(s, "agent_tasks"), 1);
    assert_int_equal(COUNT(s, "agent_interactions"), 1);
    tia_workflow *w = NULL;
    TIA_ASSERT_RC(tia_workflow_get(s, id, &w, &err), TIA_ENOTFOUND, &err);
    TIA_ASSERT_RC(tia_workflow_delete(s, id, &err), TIA_ENOTFOUND, &err);
    TIA_ASSERT_RC(tia_workflow_delete(s, "nope", &err), TIA_EINVAL, &err);
    assert_int_equal(COUNT(s, "workflows"), 1);
}

/* A task outside the workflow whose parent is inside it blocks the delete (no ON DELETE). */
static void test_delete_refused_by_outside_subtask(void **state)
{
    tia_store *s = *state;
    tia_error err = {0};
    char id[TIA_UUID_BUF];
    create(s, "parent workflow", NULL, id);
    const char *ins =
        "INSERT INTO agent_tasks (id, agent_id, workflow_id, task_type, description) "
        "SELECT '01900000-0000-7000-8000-000000000001', 'akira-001', id, 't', 'parent' "
        "FROM workflows WHERE name = 'parent workflow';"
        "INSERT INTO agent_tasks (agent_id, task_type, description, parent_task_id) VALUES "
        "('yuki-002', 't', 'outside', '01900000-0000-7000-8000-000000000001');";
    TIA_OK_OR_FAIL(tia_test_exec(s, ins, ins, &err), &err);
    TIA_ASSERT_RC(tia_workflow_delete(s, id, &err), TIA_ECONFLICT, &err);
    assert_non_null(strstr(err.message, "parent"));
    assert_int_equal(COUNT(s, "workflows"), 1);
    assert_int_equal(COUNT(s, "agent_tasks"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_refuses_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_timestamps_and_duration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duration_past_the_integer_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_status_keeps_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_illegal_transitions_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_status_detects_concurrent_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_refuses_bad_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_time_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_cascades, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_refused_by_outside_subtask, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
