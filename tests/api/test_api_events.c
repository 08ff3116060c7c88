/*
 * GET /api/v1/events (Server-Sent Events) through a real server on both
 * backends, read by a libcurl client on a thread of its own: a task created,
 * claimed and completed through the API arrives as pending, running, completed
 * with increasing ids; the same through the library on another connection
 * arrives too on PostgreSQL (NOTIFY), and on SQLite the store's commit hook
 * that the server's pool uses reports committed changes only; filters by
 * workflow and by agent pass exactly the matching events; Last-Event-ID (header
 * or ?last_event_id=) delivers exactly the events missed while disconnected, a
 * stale id gets "event: reset", as does a lost LISTEN connection on
 * PostgreSQL; malformed parameters are 400; a workflow of 150 tasks (more than
 * one PostgreSQL notification holds) arrives whole, each task once; and a
 * shutdown ends every open stream cleanly with nothing left in flight.
 */
#define _GNU_SOURCE /* strcasestr */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "../db/engine_test_util.h"
#include "api_test.h"

#include <tokyoia/sessions.h>
#include "store/events.h"
#include "store/listen.h"

#define A "akira-001"
#define B "yuki-002"
#define WAIT_MS 15000 /* generous: the sanitizer build is slow */
#define EV_MAX 512

/* ------------------------------------------------------------------------- */
/* An SSE client on a thread                                                 */
/* ------------------------------------------------------------------------- */

typedef struct sse_event {
    unsigned long long id;
    char event[32];
    json_t *data;
} sse_event;

typedef struct sse {
    char url[512];
    char auth[256];
    char extra[256]; /* one more header line, or "" */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    char line[4096];
    size_t line_len;
    char cur_id[32], cur_event[32];
    char *cur_data;
    sse_event ev[EV_MAX];
    size_t n_ev;
    int opened; /* the server's first comment arrived */
    int done;
    CURLcode rc;
    long status;
    char *headers;
    size_t headers_len;
    atomic_int stop;
} sse;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Under mu: one complete line of the stream (without its newline). */
static void sse_line(sse *s, const char *l)
{
    if (*l == '\0') { /* dispatch */
        if (s->cur_data != NULL && s->n_ev < EV_MAX) {
            sse_event *e = &s->ev[s->n_ev++];
            e->id = strtoull(s->cur_id, NULL, 10);
            snprintf(e->event, sizeof e->event, "%s", s->cur_event[0] ? s->cur_event : "message");
            e->data = json_loads(s->cur_data, 0, NULL);
        }
        free(s->cur_data);
        s->cur_data = NULL;
        s->cur_event[0] = '\0';
        return;
    }
    if (*l == ':') {
        s->opened = 1;
        return;
    }
    const char *colon = strchr(l, ':');
    size_t fl = colon ? (size_t)(colon - l) : strlen(l);
    const char *v = colon ? colon + 1 : "";
    if (*v == ' ')
        v++;
    if (fl == 2 && strncmp(l, "id", 2) == 0) {
        snprintf(s->cur_id, sizeof s->cur_id, "%s", v);
    } else if (fl == 5 && strncmp(l, "event", 5) == 0) {
        snprintf(s->cur_event, sizeof s->cur_event, "%s", v);
    } else if (fl == 4 && strncmp(l, "data", 4) == 0) {
        size_t old = s->cur_data ? strlen(s->cur_data) : 0;
        char *d = realloc(s->cur_data, old + strlen(v) + 2);
        if (d == NULL)
            return;
        if (old)
            d[old++] = '\n';
        strcpy(d + old, v);
        s->cur_data = d;
    }
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    sse *s = ud;
    size_t n = size * nmemb;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            s->line[s->line_len] = '\0';
            sse_line(s, s->line);
            s->line_len = 0;
        } else if (s->line_len + 1 < sizeof s->line) {
            s->line[s->line_len++] = p[i];
        }
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    sse *s = ud;
    size_t n = size * nmemb;
    pthread_mutex_lock(&s->mu);
    char *h = realloc(s->headers, s->headers_len + n + 1);
    if (h != NULL) {
        memcpy(h + s->headers_len, p, n);
        s->headers_len += n;
        h[s->headers_len] = '\0';
        s->headers = h;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Called by curl at least once a second: aborts the transfer when asked to. */
static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&((sse *)ud)->stop);
}

static void *sse_main(void *arg)
{
    sse *s = arg;
    struct curl_slist *hdrs = curl_slist_append(NULL, s->auth);
    if (s->extra[0])
        hdrs = curl_slist_append(hdrs, s->extra);
    CURL *cu = curl_easy_init();
    curl_easy_setopt(cu, CURLOPT_URL, s->url);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(cu, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(cu, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 120L);
    CURLcode rc = curl_easy_perform(cu);
    long status = 0;
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(cu);
    curl_slist_free_all(hdrs);
    pthread_mutex_lock(&s->mu);
    s->rc = rc;
    s->status = status;
    s->done = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Waits on s->cv until ms from now; 0 on timeout. */
static int sse_wait(sse *s, int64_t deadline)
{
    int64_t left = deadline - now_ms();
    if (left <= 0)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    return 1;
}

/*
 * Opens GET /api/v1/events<query> with an optional extra header line and waits
 * until the server's first comment arrived (the stream is registered then).
 */
static sse *sse_open_as(tia_api_fixture *f, const char *token, const char *query, const char *extra)
{
    sse *s = calloc(1, sizeof *s);
    assert_non_null(s);
    snprintf(s->url, sizeof s->url, "%s/api/v1/events%s", f->base, query);
    snprintf(s->auth, sizeof s->auth, "Authorization: Bearer %s", token);
    snprintf(s->extra, sizeof s->extra, "%s", extra ? extra : "");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    assert_int_equal(pthread_create(&s->thread, NULL, sse_main, s), 0);
    int64_t deadline = now_ms() + WAIT_MS;
    pthread_mutex_lock(&s->mu);
    while (!s->opened && !s->done && sse_wait(s, deadline)) {
    }
    int opened = s->opened, done = s->done;
    long status = s->status;
    pthread_mutex_unlock(&s->mu);
    if (!opened)
        fail_msg("stream %s did not open (done %d, status %ld)", s->url, done, status);
    return s;
}

static sse *sse_open(tia_api_fixture *f, const char *query, const char *extra)
{
    return sse_open_as(f, f->token, query, extra);
}

static void sse_close(sse *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->n_ev; i++)
        json_decref(s->ev[i].data);
    free(s->cur_data);
    free(s->headers);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *v = tia_json_str(o, key);
    return v ? v : "";
}

/* 1 when e is the change (kind, id, status); NULLs match anything. */
static int ev_is(const sse_event *e, const char *kind, const char *id, const char *status)
{
    if (strcmp(e->event, kind ? kind : e->event) != 0 || e->data == NULL)
        return 0;
    if (kind && strcmp(jstr(e->data, "kind"), kind) != 0)
        return 0;
    if (id && strcmp(jstr(e->data, "id"), id) != 0)
        return 0;
    return status == NULL || strcmp(jstr(e->data, "status"), status) == 0;
}

/* Waits until an event (kind, id, status) arrived; returns its index. */
static size_t sse_expect(sse *s, const char *kind, const char *id, const char *status)
{
    int64_t deadline = now_ms() + WAIT_MS;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        for (size_t i = 0; i < s->n_ev; i++)
            if (ev_is(&s->ev[i], kind, id, status)) {
                pthread_mutex_unlock(&s->mu);
                return i;
            }
        if (s->done || !sse_wait(s, deadline))
            break;
    }
    size_t n = s->n_ev;
    int done = s->done;
    pthread_mutex_unlock(&s->mu);
    fail_msg("no %s event %s %s on %s (%zu events, ended %d)", kind ? kind : "any", id ? id : "",
             status ? status : "", s->url, n, done);
    return 0;
}

/* Waits until the stream has at least n events. */
static void sse_expect_n(sse *s, size_t n)
{
    int64_t deadline = now_ms() + WAIT_MS;
    pthread_mutex_lock(&s->mu);
    while (s->n_ev < n && !s->done && sse_wait(s, deadline)) {
    }
    size_t got = s->n_ev;
    pthread_mutex_unlock(&s->mu);
    if (got < n)
        fail_msg("%zu events on %s, want at least %zu", got, s->url, n);
}

/* The number of events so far (the client thread may still add). */
static size_t sse_count(sse *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n_ev;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ------------------------------------------------------------------------- */
/* HTTP helpers                                                              */
/* ------------------------------------------------------------------------- */

static void api_create_task(tia_api_fixture *f, const char *agent, char id[TIA_UUID_BUF])
{
    json_t *t =
        tia_api_callf(f, "POST", "/api/v1/tasks", 201,
              "{\"agent_id\": \"%s\", \"task_type\": \"review\", \"description\": \"d\"}", agent);
    snprintf(id, TIA_UUID_BUF, "%s", jstr(t, "id"));
    json_decref(t);
}

/* Claims up to max tasks of agent over HTTP; ids and attempts of what was claimed. */
static size_t api_claim(tia_api_fixture *f, const char *agent, int max, char (*ids)[TIA_UUID_BUF],
                        int64_t *attempts)
{
    json_t *r = tia_api_callf(f, "POST", "/api/v1/tasks/claim", 200,
                      "{\"agent_ids\": [\"%s\"], \"worker_id\": \"w1\", \"max\": %d}", agent, max);
    json_t *items = json_object_get(r, "items");
    size_t n = json_array_size(items);
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        snprintf(ids[i], TIA_UUID_BUF, "%s", jstr(json_object_get(it, "task"), "id"));
        attempts[i] = json_integer_value(json_object_get(it, "attempt"));
    }
    json_decref(r);
    return n;
}

static void api_complete(tia_api_fixture *f, const char *id, int64_t attempt)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/tasks/%s/complete", id);
    json_decref(tia_api_callf(f, "POST", path, 200,
                      "{\"worker_id\": \"w1\", \"attempt\": %lld, \"tokens_used\": 10}",
                      (long long)attempt));
}

/* ------------------------------------------------------------------------- */
/* Tests                                                                     */
/* ------------------------------------------------------------------------- */

/* The events of one task on s, in order, must be exactly the statuses given. */
static void assert_task_history(sse *s, const char *id, const char *agent,
                                const char *const *statuses, size_t n)
{
    size_t k = 0;
    unsigned long long prev = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_ev; i++) {
        sse_event *e = &s->ev[i];
        if (e->id <= prev)
            fail_msg("event ids not increasing: %llu after %llu", e->id, prev);
        prev = e->id;
        if (!ev_is(e, "task", id, NULL))
            continue;
        if (k == n)
            fail_msg("task %s: more events than %zu", id, n);
        const char *st = jstr(e->data, "status");
        if (strcmp(st, statuses[k]) != 0)
            fail_msg("task %s: event %zu is %s, want %s", id, k, st, statuses[k]);
        if (strcmp(jstr(e->data, "agent_id"), agent) != 0)
            fail_msg("task %s: agent_id %s, want %s", id, jstr(e->data, "agent_id"), agent);
        if (!json_is_null(json_object_get(e->data, "workflow_id")))
            fail_msg("task %s: workflow_id should be null", id);
        k++;
    }
    pthread_mutex_unlock(&s->mu);
    assert_int_equal(k, n);
}

static void test_api_lifecycle(void **state)
{
    tia_api_fixture *f = *state;
    static const char *const history[] = {"pending", "running", "completed"};
    sse *s = sse_open(f, "", NULL);
    assert_non_null(strcasestr(s->headers, "Content-Type: text/event-stream"));
    assert_non_null(strcasestr(s->headers, "Cache-Control: no-store"));

    char id[TIA_UUID_BUF], got[4][TIA_UUID_BUF];
    int64_t attempt[4];
    api_create_task(f, A, id);
    assert_int_equal(api_claim(f, A, 1, got, attempt), 1);
    assert_string_equal(got[0], id);
    api_complete(f, id, attempt[0]);
    sse_expect(s, "task", id, "completed");
    assert_task_history(s, id, A, history, 3);
    sse_close(s);
}

/* SQLite: the payloads a connection's commit hook hands over. */
typedef struct hook_log {
    json_t *payloads; /* array of parsed arrays, or null for "lost" */
    int released;
} hook_log;

static void hook_fn(void *ctx, const char *json)
{
    hook_log *h = ctx;
    json_array_append_new(h->payloads, json ? json_loads(json, 0, NULL) : json_null());
}

static void hook_release(void *ctx)
{
    ((hook_log *)ctx)->released++;
}

/* 1 when one of the logged payloads holds (id, status). */
static int hook_saw(const hook_log *h, const char *id, const char *status)
{
    size_t i, j;
    json_t *p, *e;
    json_array_foreach(h->payloads, i, p) json_array_foreach(p, j, e)
    {
        if (strcmp(jstr(e, "id"), id) == 0 && strcmp(jstr(e, "status"), status) == 0 &&
            strcmp(jstr(e, "kind"), "task") == 0)
            return 1;
    }
    return 0;
}

static void test_library_writes(void **state)
{
    tia_api_fixture *f = *state;
    tia_error err = {0};
    char id[TIA_UUID_BUF], sql[512], sql2[512];
    tia_task_spec spec = spec_for("k", A, "review");
    hook_log log = {json_array(), 0};

    if (tia_test_is_pg()) {
        /* Another connection's writes reach the stream through NOTIFY. */
        static const char *const history[] = {"pending", "running", "completed"};
        assert_int_equal(tia__store_events_attach(f->store, hook_fn, hook_release, &log, &err),
                         TIA_EINVAL);
        sse *s = sse_open(f, "", NULL);
        submit_one(f->store, &spec, id);
        struct tia_claim_list cl = {0};
        claim_agent(f->store, A, "w-lib", 1, &cl);
        assert_int_equal(cl.n, 1);
        assert_string_equal(cl.items[0].task->id, id);
        tia_completion k = completion_of(&cl.items[0], "w-lib", NULL, 5);
        TIA_OK_OR_FAIL(tia_engine_complete(f->store, &k, &err), &err);
        tia_claim_list_free(&cl);
        sse_expect(s, "task", id, "completed");

        /* A rolled-back change is never heard; the next committed one is. */
        char other[TIA_UUID_BUF];
        submit_one(f->store, &spec, other);
        snprintf(sql, sizeof sql,
                 "BEGIN; UPDATE agent_tasks SET status = 'cancelled' WHERE id = '%s'; ROLLBACK;",
                 other);
        TIA_OK_OR_FAIL(tia_test_exec(f->store, sql, sql, &err), &err);
        TIA_OK_OR_FAIL(tia_engine_cancel_task(f->store, other, &err), &err);
        size_t at = sse_expect(s, "task", other, "cancelled");
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < at; i++)
            if (ev_is(&s->ev[i], "task", other, "cancelled"))
                fail_msg("a rolled-back change was sent");
        pthread_mutex_unlock(&s->mu);
        assert_task_history(s, id, A, history, 3);
        sse_close(s);
    } else {
        /*
         * SQLite has no NOTIFY: the server hears the commits of its own pool's
         * connections, each attached as here. Committed changes are handed over
         * at COMMIT, rolled-back ones never, and closing the connection
         * releases the receiver.
         */
        tia_store *s2 = tia_test_reopen(f->store);
        TIA_OK_OR_FAIL(tia__store_events_attach(s2, hook_fn, hook_release, &log, &err), &err);
        submit_one(s2, &spec, id);
        assert_true(hook_saw(&log, id, "pending"));
        struct tia_claim_list cl = {0};
        claim_agent(s2, A, "w-lib", 1, &cl);
        assert_int_equal(cl.n, 1);
        tia_completion k = completion_of(&cl.items[0], "w-lib", NULL, 5);
        TIA_OK_OR_FAIL(tia_engine_complete(s2, &k, &err), &err);
        tia_claim_list_free(&cl);
        assert_true(hook_saw(&log, id, "running"));
        assert_true(hook_saw(&log, id, "completed"));

        char other[TIA_UUID_BUF];
        submit_one(s2, &spec, other);
        size_t before = json_array_size(log.payloads);
        snprintf(sql, sizeof sql,
                 "BEGIN IMMEDIATE; UPDATE agent_tasks SET status = 'cancelled' WHERE id = '%s'; "
                 "ROLLBACK;",
                 other);
        TIA_OK_OR_FAIL(tia_test_exec(s2, sql, sql, &err), &err);
        assert_int_equal(json_array_size(log.payloads), before);
        /* A heartbeat-like update that changes no status is not an event. */
        snprintf(sql2, sizeof sql2, "UPDATE agent_tasks SET priority = 7 WHERE id = '%s';", other);
        TIA_OK_OR_FAIL(tia_test_exec(s2, sql2, sql2, &err), &err);
        assert_int_equal(json_array_size(log.payloads), before);
        TIA_OK_OR_FAIL(tia_engine_cancel_task(s2, other, &err), &err);
        assert_true(hook_saw(&log, other, "cancelled"));
        assert_int_equal(log.released, 0);
        tia_store_close(s2);
        assert_int_equal(log.released, 1);
    }
    json_decref(log.payloads);
}

/* Every event of s so far satisfies the filter; returns how many there are. */
static void count_payload(void *ctx, const char *payload)
{
    (void)payload;
    ++*(int *)ctx;
}

/* Drains l for about ms milliseconds; the notifications heard. */
static int heard(tia__listener *l, int ms)
{
    int n = 0;
    tia_error err = {0};
    for (int i = 0; i < ms / 10; i++) {
        assert_true(tia__listen_drain(l, count_payload, &n, &err) >= 0);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return n;
}

/*
 * PostgreSQL: writers send nothing while no server watches (migration 0010);
 * a server with an open stream registers, and then they do. SQLite: events are
 * in-process, and the calls do nothing.
 */
static void test_notify_only_while_watched(void **state)
{
    tia_api_fixture *f = *state;
    tia_error err = {0};
    char id[TIA_UUID_BUF];
    tia_task_spec spec = spec_for("k", A, "review");
    if (!tia_test_is_pg()) {
        TIA_OK_OR_FAIL(tia__events_watch(f->store, "x", 60, &err), &err);
        TIA_OK_OR_FAIL(tia__events_unwatch(f->store, "x", &err), &err);
        return;
    }
    tia__listener *l = NULL;
    TIA_OK_OR_FAIL(tia__listen_open(f->store, TIA__EVENTS_CHANNEL, &l, &err), &err);
    assert_int_equal(tia_test_int(f->store, "SELECT count(*) FROM event_watchers", NULL), 0);
    submit_one(f->store, &spec, id);
    assert_int_equal(heard(l, 300), 0);
    /* A stream makes the server register; the same write is now heard. */
    sse *s = sse_open(f, "", NULL);
    assert_int_equal(tia_test_int(f->store, "SELECT count(*) FROM event_watchers", NULL), 1);
    submit_one(f->store, &spec, id);
    sse_expect(s, "task", id, "pending");
    assert_true(heard(l, 300) >= 1);
    sse_close(s);
    /* A watcher past its expiry counts for nothing. */
    TIA_OK_OR_FAIL(tia_test_exec(f->store, "UPDATE event_watchers SET expires_at = now() - "
                                           "interval '1 second'", NULL, &err), &err);
    submit_one(f->store, &spec, id);
    assert_int_equal(heard(l, 300), 0);
    tia__listen_close(l);
}

static size_t assert_all(sse *s, const char *workflow_id, const char *agent_id)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n_ev;
    for (size_t i = 0; i < n; i++) {
        json_t *d = s->ev[i].data;
        if (strcmp(s->ev[i].event, "reset") == 0)
            fail_msg("unexpected reset");
        if (workflow_id && strcmp(jstr(d, "workflow_id"), workflow_id) != 0)
            fail_msg("event %llu of workflow %s on a stream of workflow %s", s->ev[i].id,
                     jstr(d, "workflow_id"), workflow_id);
        if (agent_id && strcmp(jstr(d, "agent_id"), agent_id) != 0)
            fail_msg("event %llu of agent %s on a stream of agent %s", s->ev[i].id,
                     jstr(d, "agent_id"), agent_id);
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void test_filters(void **state)
{
    tia_api_fixture *f = *state;
    char path[160], q[160], got[8][TIA_UUID_BUF];
    int64_t attempts[8];
    /* Workflow W: one task of A, one of B. */
    json_t *w = tia_api_callf(f, "POST", "/api/v1/workflows", 201,
                      "{\"name\": \"w\", \"tasks\": [{\"key\": \"a\", \"agent_id\": \"%s\", "
                      "\"task_type\": \"t\", \"description\": \"d\"}, {\"key\": \"b\", "
                      "\"agent_id\": \"%s\", \"task_type\": \"t\", \"description\": \"d\"}]}",
                      A, B);
    char wf[TIA_UUID_BUF], wf_a[TIA_UUID_BUF] = "";
    snprintf(wf, sizeof wf, "%s", jstr(w, "id"));
    json_t *tasks = json_object_get(w, "tasks");
    for (size_t i = 0; i < json_array_size(tasks); i++)
        if (strcmp(jstr(json_array_get(tasks, i), "agent_id"), A) == 0)
            snprintf(wf_a, sizeof wf_a, "%s", jstr(json_array_get(tasks, i), "id"));
    json_decref(w);
    assert_true(wf_a[0] != '\0');

    sse *all = sse_open(f, "", NULL);
    snprintf(q, sizeof q, "?workflow_id=%s", wf);
    sse *by_wf = sse_open(f, q, NULL);
    sse *by_b = sse_open(f, "?agent_id=" B, NULL);
    sse *both = NULL;
    snprintf(q, sizeof q, "?workflow_id=%s&agent_id=" A, wf);
    both = sse_open(f, q, NULL);

    /* A task of A outside W, then both of A's tasks claimed, then a task of B outside W. */
    char lone_a[TIA_UUID_BUF], lone_b[TIA_UUID_BUF];
    api_create_task(f, A, lone_a);
    size_t n = api_claim(f, A, 8, got, attempts);
    assert_int_equal(n, 2);
    api_create_task(f, B, lone_b);
    for (size_t i = 0; i < n; i++)
        if (strcmp(got[i], wf_a) == 0)
            api_complete(f, wf_a, attempts[i]);
    /* The last change: W cancelled (its pending task of B with it). */
    snprintf(path, sizeof path, "/api/v1/workflows/%s/cancel", wf);
    json_decref(tia_api_callf(f, "POST", path, 200, NULL));

    /* The unfiltered stream sees everything, so the filters had something to drop. */
    sse_expect(all, "task", lone_a, "running");
    sse_expect(all, "task", lone_b, "pending");
    sse_expect(all, "task", wf_a, "completed");
    sse_expect(all, "workflow", wf, "cancelled");

    /* Each filtered stream got its last matching change, hence all before it. */
    sse_expect(by_wf, "workflow", wf, "cancelled");
    sse_expect(by_wf, "task", wf_a, "running");
    sse_expect(by_wf, "task", wf_a, "completed");
    size_t n_wf = assert_all(by_wf, wf, NULL);

    sse_expect(by_b, "task", lone_b, "pending");
    sse_expect(by_b, "task", NULL, "cancelled"); /* W's task of B */
    size_t n_b = assert_all(by_b, NULL, B);

    sse_expect(both, "task", wf_a, "completed");
    size_t n_both = assert_all(both, wf, A);
    assert_int_equal(n_both, 2); /* running, completed */
    assert_true(n_wf > n_both);
    assert_true(n_b >= 2);
    sse_close(all);
    sse_close(by_wf);
    sse_close(by_b);
    sse_close(both);
}

static void test_resume(void **state)
{
    tia_api_fixture *f = *state;
    char t1[TIA_UUID_BUF], t2[TIA_UUID_BUF], t3[TIA_UUID_BUF], t4[TIA_UUID_BUF], hdr[96], q[96];
    sse *s1 = sse_open(f, "", NULL);
    api_create_task(f, A, t1);
    size_t i1 = sse_expect(s1, "task", t1, "pending");
    unsigned long long seen = s1->ev[i1].id;
    sse_close(s1);

    /* Missed while disconnected. */
    api_create_task(f, A, t2);
    api_create_task(f, B, t3);

    snprintf(hdr, sizeof hdr, "Last-Event-ID: %llu", seen);
    sse *s2 = sse_open(f, "", hdr);
    sse_expect_n(s2, 2);
    api_create_task(f, A, t4);
    sse_expect(s2, "task", t4, "pending");
    const char *want[] = {t2, t3, t4};
    pthread_mutex_lock(&s2->mu);
    size_t n = s2->n_ev;
    unsigned long long ids[3] = {0};
    for (size_t i = 0; i < n && i < 3; i++) {
        if (!ev_is(&s2->ev[i], "task", want[i], "pending"))
            fail_msg("resumed event %zu is %s %s, want task %s", i, s2->ev[i].event,
                     jstr(s2->ev[i].data, "id"), want[i]);
        ids[i] = s2->ev[i].id;
    }
    pthread_mutex_unlock(&s2->mu);
    assert_int_equal(n, 3);
    assert_true(ids[0] > seen && ids[1] > ids[0] && ids[2] > ids[1]);
    sse_close(s2);

    /* The same with ?last_event_id=: from t3 on. */
    snprintf(q, sizeof q, "?last_event_id=%llu", ids[0]);
    sse *s3 = sse_open(f, q, NULL);
    sse_expect_n(s3, 2);
    assert_true(ev_is(&s3->ev[0], "task", t3, "pending"));
    assert_true(ev_is(&s3->ev[1], "task", t4, "pending"));
    assert_int_equal(s3->ev[0].id, ids[1]);
    sse_close(s3);

    /* The newest id: nothing is owed, the stream waits for what comes next. */
    snprintf(hdr, sizeof hdr, "Last-Event-ID: %llu", ids[2]);
    sse *s4 = sse_open(f, "", hdr);
    char t5[TIA_UUID_BUF];
    api_create_task(f, B, t5);
    sse_expect(s4, "task", t5, "pending");
    assert_int_equal(sse_count(s4), 1);
    sse_close(s4);
}

static void test_reset_and_errors(void **state)
{
    tia_api_fixture *f = *state;
    char t[TIA_UUID_BUF];
    /* An id the hub no longer has (or never had): reset first, then live events. */
    sse *s = sse_open(f, "", "Last-Event-ID: 1");
    size_t r = sse_expect(s, "reset", NULL, NULL);
    assert_int_equal(r, 0);
    assert_string_equal(jstr(s->ev[0].data, "kind"), "reset");
    api_create_task(f, A, t);
    size_t i = sse_expect(s, "task", t, "pending");
    assert_true(s->ev[i].id > s->ev[0].id);

    if (tia_test_is_pg()) {
        /* The LISTEN connection lost: notifications may have been missed, so a reset. */
        tia_error err = {0};
        TIA_OK_OR_FAIL(tia_test_exec(f->store,
                                     "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                                     "WHERE datname = current_database() "
                                     "AND query = 'LISTEN \"tokyoia_events\"'",
                                     NULL, &err),
                       &err);
        int64_t deadline = now_ms() + WAIT_MS;
        size_t resets = 0;
        while (now_ms() < deadline) {
            pthread_mutex_lock(&s->mu);
            resets = 0;
            for (size_t k = 0; k < s->n_ev; k++)
                resets += strcmp(s->ev[k].event, "reset") == 0;
            pthread_mutex_unlock(&s->mu);
            if (resets == 2)
                break;
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        assert_int_equal(resets, 2);
        /* Listening again: later changes still arrive. */
        char t2[TIA_UUID_BUF];
        api_create_task(f, A, t2);
        sse_expect(s, "task", t2, "pending");
    }
    sse_close(s);

    /* Malformed parameters. */
    static const char *const bad[] = {"/api/v1/events?last_event_id=abc",
                                      "/api/v1/events?last_event_id=-1",
                                      "/api/v1/events?last_event_id=123456789012345678901234",
                                      "/api/v1/events?workflow_id=not-a-uuid"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tia_http_resp resp;
        tia_http(f, "GET", bad[k], NULL, NULL, &resp);
        tia_assert_api_error(&resp, 400, "bad_request");
        tia_http_resp_free(&resp);
    }
    /* A token is required. */
    tia_http_opts none = {.token = ""};
    tia_http_resp resp;
    tia_http(f, "GET", "/api/v1/events", NULL, &none, &resp);
    tia_assert_api_error(&resp, 401, "unauthorized");
    tia_http_resp_free(&resp);
}

/*
 * One statement inserting many tasks: on PostgreSQL their events exceed one
 * notification's 8000 bytes, so the trigger splits them; every one arrives.
 */
static void test_batch(void **state)
{
    tia_api_fixture *f = *state;
    enum { N = 150 };
    size_t cap = 64 + N * 128, len = 0;
    char *body = malloc(cap);
    assert_non_null(body);
    len += (size_t)snprintf(body + len, cap - len, "{\"name\": \"batch\", \"tasks\": [");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(body + len, cap - len,
                                "%s{\"key\": \"t%d\", \"agent_id\": \"%s\", "
                                "\"task_type\": \"t\", \"description\": \"d\"}",
                                i ? ", " : "", i, i % 2 ? A : B);
    snprintf(body + len, cap - len, "]}");
    sse *s = sse_open(f, "", NULL);
    tia_http_resp r;
    tia_http(f, "POST", "/api/v1/workflows", body, NULL, &r);
    free(body);
    TIA_ASSERT_STATUS(&r, 201);
    json_t *tasks = json_object_get(r.json, "tasks");
    assert_int_equal(json_array_size(tasks), N);
    for (size_t i = 0; i < N; i++) {
        const char *id = jstr(json_array_get(tasks, i), "id");
        size_t at = sse_expect(s, "task", id, "pending");
        pthread_mutex_lock(&s->mu);
        for (size_t k = at + 1; k < s->n_ev; k++)
            if (ev_is(&s->ev[k], "task", id, "pending"))
                fail_msg("task %s announced twice", id);
        pthread_mutex_unlock(&s->mu);
    }
    sse_expect(s, "workflow", jstr(r.json, "id"), NULL);
    tia_http_resp_free(&r);
    sse_close(s);
}

/*
 * A stream opened with a session that is then revoked ends within the hub's
 * session check (5 s), as a complete response; a stream of another session
 * goes on. Fails while a token is checked only when its stream opens.
 */
static void test_revoked_session_ends_stream(void **state)
{
    tia_api_fixture *f = *state;
    tia_error err = {0};
    char token[TIA_TOKEN_BUF], sid[TIA_UUID_BUF], t[TIA_UUID_BUF];
    tia_session_new n = {"stream-user", NULL, NULL, 3600 * INT64_C(1000000)};
    TIA_OK_OR_FAIL(tia_session_create(f->store, &n, token, sid, &err), &err);
    sse *mine = sse_open_as(f, token, "", NULL);
    sse *other = sse_open(f, "", NULL);
    TIA_OK_OR_FAIL(tia_session_revoke(f->store, sid, &err), &err);
    int64_t t0 = now_ms(), deadline = t0 + 8000;
    pthread_mutex_lock(&mine->mu);
    while (!mine->done && sse_wait(mine, deadline)) {
    }
    int done = mine->done;
    CURLcode rc = mine->rc;
    pthread_mutex_unlock(&mine->mu);
    if (!done)
        fail_msg("the stream of a revoked session still ran after 8 s");
    if (rc != CURLE_OK)
        fail_msg("the stream ended with %s", curl_easy_strerror(rc));
    /* The other session's stream still gets events. */
    api_create_task(f, A, t);
    sse_expect(other, "task", t, "pending");
    sse_close(mine);
    sse_close(other);
}

static void test_shutdown_ends_streams(void **state)
{
    tia_api_fixture *f = *state;
    char t[TIA_UUID_BUF];
    sse *s1 = sse_open(f, "", NULL);
    sse *s2 = sse_open(f, "?agent_id=" B, NULL);
    api_create_task(f, A, t);
    sse_expect(s1, "task", t, "pending");

    int64_t t0 = now_ms();
    int left = tia_server_shutdown(f->srv);
    f->srv = NULL;
    assert_int_equal(left, 0);
    assert_true(now_ms() - t0 < 5000);

    /* Both responses ended as a complete chunked body, not a cut connection. */
    sse *ss[2] = {s1, s2};
    for (int k = 0; k < 2; k++) {
        int64_t deadline = now_ms() + WAIT_MS;
        pthread_mutex_lock(&ss[k]->mu);
        while (!ss[k]->done && sse_wait(ss[k], deadline)) {
        }
        int done = ss[k]->done;
        CURLcode rc = ss[k]->rc;
        long status = ss[k]->status;
        pthread_mutex_unlock(&ss[k]->mu);
        assert_true(done);
        if (rc != CURLE_OK)
            fail_msg("stream %d ended with %s", k, curl_easy_strerror(rc));
        assert_int_equal(status, 200);
    }
    sse_close(s1);
    sse_close(s2);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_api_lifecycle, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_library_writes, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_notify_only_while_watched, tia_api_setup,
                                        tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_filters, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_resume, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_reset_and_errors, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_batch, tia_api_setup, tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_revoked_session_ends_stream, tia_api_setup,
                                        tia_api_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_ends_streams, tia_api_setup,
                                        tia_api_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
