/*
 * Registry API tests of shared reads (src/api/share.c) through a real server on
 * both backends, with crowds of concurrent clients: identical reads get the same
 * answer and some are shared (the tokyoia_http_shared_reads_total counter), and
 * none with --shared-reads off; a task created and acknowledged is in the very
 * next read of its agent's tasks while a crowd reads the same page; a session
 * revoked through the library is refused on the very next read while a crowd
 * reads with the same token; every member of a shared answer is logged with its
 * user and counted by the rate limit on its own. On PostgreSQL, where a table
 * lock can hold a read while others wait for it: a client that goes away while
 * its read waits holds nobody up, and a server that stops while reads wait
 * stops cleanly.
 *
 * The crowd's threads use libcurl directly and record what they saw; only the
 * main thread asserts (cmocka's failures jump, which a thread cannot).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include <tokyoia/sessions.h>

#include "api/api.h"
#include "api_test.h"

#define HOUR_US INT64_C(3600000000)
#define CROWD 12

typedef struct crowd {
    tia_api_fixture *f;
    const char *path;
    pthread_mutex_t lock;
    char token[TIA_TOKEN_BUF]; /* what the crowd sends now (under lock) */
    atomic_int stop;
    atomic_long requests;
    atomic_long failures; /* transport errors */
    int per_thread;       /* > 0: each thread sends this many and stops */
    const char *expect;   /* non-NULL: every 200 body must equal it */
    atomic_long mismatches, ok200, other;
    pthread_t th[CROWD];
} crowd;

static void *crowd_thread(void *arg)
{
    crowd *c = arg;
    char url[512], auth[256];
    snprintf(url, sizeof url, "%s%s", c->f->base, c->path);
    CURL *cu = curl_easy_init(); /* one handle: its connection is kept alive */
    if (cu == NULL) {
        atomic_fetch_add(&c->failures, 1);
        return NULL;
    }
    for (int i = 0; !atomic_load(&c->stop) && (c->per_thread == 0 || i < c->per_thread); i++) {
        tia_http_buf s = {0};
        pthread_mutex_lock(&c->lock);
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
        pthread_mutex_unlock(&c->lock);
        struct curl_slist *h = curl_slist_append(NULL, auth);
        curl_easy_setopt(cu, CURLOPT_URL, url);
        curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(cu, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, tia_http_buf_append);
        curl_easy_setopt(cu, CURLOPT_WRITEDATA, &s);
        long status = 0;
        if (curl_easy_perform(cu) != CURLE_OK) {
            atomic_fetch_add(&c->failures, 1);
        } else {
            curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
            if (status == 200) {
                atomic_fetch_add(&c->ok200, 1);
                if (c->expect && (s.p == NULL || strcmp(s.p, c->expect) != 0))
                    atomic_fetch_add(&c->mismatches, 1);
            } else {
                atomic_fetch_add(&c->other, 1);
            }
        }
        atomic_fetch_add(&c->requests, 1);
        curl_slist_free_all(h);
        free(s.p);
    }
    curl_easy_cleanup(cu);
    return NULL;
}

static crowd *running; /* the crowd of a test that failed midway: stopped by teardown */

/*
 * The one crowd of a test, zeroed. Static, not a test's local: a test that
 * fails midway leaves its crowd's threads to teardown, whose calls would
 * reuse the failed test's stack.
 */
static crowd *crowd_new(void)
{
    static crowd the_crowd;
    memset(&the_crowd, 0, sizeof the_crowd);
    return &the_crowd;
}

static void crowd_start(crowd *c, tia_api_fixture *f, const char *path, const char *token)
{
    running = c;
    c->f = f;
    c->path = path;
    pthread_mutex_init(&c->lock, NULL);
    snprintf(c->token, sizeof c->token, "%s", token);
    for (int i = 0; i < CROWD; i++)
        assert_int_equal(pthread_create(&c->th[i], NULL, crowd_thread, c), 0);
}

/* Stops the crowd's threads (after the sends they were told to make, if any). */
static void crowd_join(crowd *c)
{
    if (c->per_thread == 0)
        atomic_store(&c->stop, 1);
    for (int i = 0; i < CROWD; i++)
        pthread_join(c->th[i], NULL);
    pthread_mutex_destroy(&c->lock);
    running = NULL;
}

static void crowd_stop(crowd *c)
{
    crowd_join(c);
    assert_int_equal(atomic_load(&c->failures), 0);
}

static void crowd_set_token(crowd *c, const char *token)
{
    pthread_mutex_lock(&c->lock);
    snprintf(c->token, sizeof c->token, "%s", token);
    pthread_mutex_unlock(&c->lock);
}

/* Waits (up to 30 s) until the crowd has sent n more requests than at the call. */
static void crowd_wait(crowd *c, long n)
{
    long from = atomic_load(&c->requests);
    for (int i = 0; i < 30000 && atomic_load(&c->requests) < from + n; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_true(atomic_load(&c->requests) >= from + n);
}

static long shared_count(tia_api_fixture *f)
{
    tia_http_resp r;
    tia_http(f, "GET", "/metrics", NULL, NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    const char *p = strstr(r.body, "\ntokyoia_http_shared_reads_total ");
    assert_non_null(p);
    long n = strtol(p + strlen("\ntokyoia_http_shared_reads_total "), NULL, 10);
    tia_http_resp_free(&r);
    return n;
}

static char *body_of(tia_api_fixture *f, const char *path)
{
    tia_http_resp r;
    tia_http(f, "GET", path, NULL, NULL, &r);
    TIA_ASSERT_STATUS(&r, 200);
    char *b = strdup(r.body);
    tia_http_resp_free(&r);
    return b;
}

static int start_with(void **state, const tia_server_config *cfg)
{
    tia_api_fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    tia_api_start(f, cfg);
    *state = f;
    return 0;
}

static FILE *access_log;

static int setup_default(void **state)
{
    access_log = tmpfile();
    tia_server_config cfg = {.threads = CROWD + 2, .db_pool = 4, .access_log = access_log};
    return start_with(state, &cfg);
}

static int setup_off(void **state)
{
    tia_server_config cfg = {.threads = CROWD + 2, .db_pool = 4, .no_shared_reads = 1};
    return start_with(state, &cfg);
}

static int setup_limited(void **state)
{
    tia_server_config cfg = {
        .threads = CROWD + 2, .db_pool = 4, .rate_limit = 0.5, .rate_burst = 30};
    return start_with(state, &cfg);
}

static PGconn *lock_conn; /* holds a table lock; a failed test's is dropped by teardown */

static int teardown(void **state)
{
    if (lock_conn != NULL)
        PQfinish(lock_conn); /* first: a read it holds can end, and the server stop */
    lock_conn = NULL;
    if (running != NULL) {
        atomic_store(&running->stop, 1);
        crowd_join(running);
    }
    tia_api_teardown(state);
    if (access_log != NULL)
        fclose(access_log);
    access_log = NULL;
    return 0;
}

/*
 * A crowd reading /api/v1/stats gets one and the same answer each time, some
 * requests are answered from another's read, and the access log names the user
 * of every one of them.
 */
static void test_crowd_shares(void **state)
{
    tia_api_fixture *f = *state;
    char *want = body_of(f, "/api/v1/stats");
    long shared = 0;
    for (int round = 0; round < 20 && shared == 0; round++) {
        crowd *c = crowd_new();
        c->per_thread = 25;
        c->expect = want;
        crowd_start(c, f, "/api/v1/stats", f->token);
        crowd_stop(c);
        assert_int_equal(atomic_load(&c->other), 0);
        assert_int_equal(atomic_load(&c->mismatches), 0);
        assert_int_equal(atomic_load(&c->ok200), CROWD * 25);
        shared = shared_count(f);
    }
    if (shared == 0)
        fail_msg("20 rounds of %d concurrent clients, and no read was shared", CROWD);
    free(want);

    fflush(access_log);
    rewind(access_log);
    char line[4096];
    long lines = 0;
    while (fgets(line, sizeof line, access_log)) {
        if (strstr(line, "\"route\":\"/api/v1/stats\"") == NULL)
            continue;
        lines++;
        if (strstr(line, "\"user\":\"tester\"") == NULL)
            fail_msg("an access log line without its user: %s", line);
    }
    assert_true(lines >= CROWD * 25);
}

/* With shared reads off, the same crowd shares nothing. */
static void test_off_shares_nothing(void **state)
{
    tia_api_fixture *f = *state;
    char *want = body_of(f, "/api/v1/stats");
    crowd *c = crowd_new();
    c->per_thread = 25;
    c->expect = want;
    crowd_start(c, f, "/api/v1/stats", f->token);
    crowd_stop(c);
    assert_int_equal(atomic_load(&c->ok200), CROWD * 25);
    assert_int_equal(atomic_load(&c->mismatches), 0);
    assert_int_equal(shared_count(f), 0);
    free(want);
}

/*
 * While a crowd reads akira-001's newest tasks, a task created (201) is in the
 * very next read of the same page by the same token: a read never takes an
 * answer that was being read when it arrived.
 */
static void test_acknowledged_write_is_read(void **state)
{
    tia_api_fixture *f = *state;
    const char *path = "/api/v1/agents/akira-001/tasks?limit=3";
    crowd *c = crowd_new();
    crowd_start(c, f, path, f->token);
    crowd_wait(c, 50);
    /* 30 rounds at least, and until some reads were shared (at most 600). */
    for (int i = 0; i < 30 || (shared_count(f) == 0 && i < 600); i++) {
        char body[200];
        snprintf(body, sizeof body,
                 "{\"agent_id\": \"akira-001\", \"task_type\": \"t\", \"description\": \"fresh "
                 "%d\"}",
                 i);
        json_t *t = tia_api_callf(f, "POST", "/api/v1/tasks", 201, "%s", body);
        const char *id = tia_json_str(t, "id");
        assert_non_null(id);
        json_t *page = tia_api_callf(f, "GET", path, 200, NULL);
        json_t *items = json_object_get(page, "items");
        int found = 0;
        for (size_t k = 0; k < json_array_size(items); k++)
            found |= strcmp(tia_json_str(json_array_get(items, k), "id"), id) == 0;
        if (!found)
            fail_msg("round %d: task %s acknowledged, missing from the next read: %s", i, id,
                     json_dumps(page, JSON_COMPACT));
        json_decref(page);
        json_decref(t);
    }
    crowd_stop(c);
    /* Else the crowd never overlapped, and the rounds above proved nothing. */
    assert_true(shared_count(f) > 0);
}

/*
 * While a crowd reads with a token, the session is revoked through the library
 * (as the CLI or another server would): the very next read with that token is
 * refused, though identical reads with it are in flight.
 */
static void test_revoked_refused_next(void **state)
{
    tia_api_fixture *f = *state;
    tia_error err = {0};
    char tok[TIA_TOKEN_BUF], id[TIA_UUID_BUF];
    tia_session_new n = {"alice", NULL, NULL, HOUR_US};
    TIA_OK_OR_FAIL(tia_session_create(f->store, &n, tok, id, &err), &err);
    crowd *c = crowd_new();
    crowd_start(c, f, "/api/v1/stats", tok);
    for (int round = 0; round < 10; round++) {
        crowd_wait(c, 30);
        TIA_OK_OR_FAIL(tia_session_revoke(f->store, id, &err), &err);
        tia_http_opts o = {.token = tok};
        tia_http_resp r;
        tia_http(f, "GET", "/api/v1/stats", NULL, &o, &r);
        if (r.status != 401)
            fail_msg("round %d: a revoked session read with status %ld: %s", round, r.status,
                     r.body);
        tia_assert_api_error(&r, 401, "unauthorized");
        tia_http_resp_free(&r);
        /* The next round's session, for the crowd and for us. */
        TIA_OK_OR_FAIL(tia_session_create(f->store, &n, tok, id, &err), &err);
        crowd_set_token(c, tok);
    }
    crowd_stop(c);
}

/*
 * The rate limit counts each member of a shared answer: a crowd of one token
 * sending 96 reads through a bucket of 30 (0.5/s) gets at most 30 answers (and
 * one more per 2 s passed), the rest 429. The first 30 come while the crowd
 * overlaps, so some of them are shared; rounds (each with a new session, so a
 * full bucket) go on until some were.
 */
static void test_rate_limit_per_member(void **state)
{
    tia_api_fixture *f = *state;
    tia_error err = {0};
    for (int round = 0; round < 20 && (round == 0 || shared_count(f) == 0); round++) {
        char tok[TIA_TOKEN_BUF];
        tia_session_new n = {"alice", NULL, NULL, HOUR_US};
        TIA_OK_OR_FAIL(tia_session_create(f->store, &n, tok, NULL, &err), &err);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        crowd *c = crowd_new();
        c->per_thread = 8;
        crowd_start(c, f, "/api/v1/stats", tok);
        crowd_stop(c);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        long allowed = 30 + (long)(secs * 0.5);
        if (atomic_load(&c->ok200) > allowed)
            fail_msg("%ld answers in %.2f s through a bucket of 30 at 0.5/s (at most %ld)",
                     atomic_load(&c->ok200), secs, allowed);
        assert_int_equal(atomic_load(&c->ok200) + atomic_load(&c->other), CROWD * 8);
    }
    assert_true(shared_count(f) > 0);
}

/* ---- a client that goes away while its read waits ---- */

typedef struct lone {
    tia_api_fixture *f;
    const char *path;
    atomic_int abort; /* set: the client closes its connection */
    long status;      /* 0: no answer */
    pthread_t th;
} lone;

static int lone_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&((lone *)ud)->abort) ? 1 : 0;
}

static void *lone_thread(void *arg)
{
    lone *l = arg;
    char url[512], auth[256];
    snprintf(url, sizeof url, "%s%s", l->f->base, l->path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", l->f->token);
    CURL *cu = curl_easy_init();
    if (cu == NULL)
        return NULL;
    struct curl_slist *h = curl_slist_append(NULL, auth);
    tia_http_buf s = {0};
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, tia_http_buf_append);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, lone_progress);
    curl_easy_setopt(cu, CURLOPT_XFERINFODATA, l);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 20L); /* a read left waiting fails, not hangs */
    if (curl_easy_perform(cu) == CURLE_OK)
        curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &l->status);
    free(s.p);
    curl_slist_free_all(h);
    curl_easy_cleanup(cu);
    return NULL;
}

/*
 * Waits (up to 10 s) until the server has n requests in flight, parked of them
 * waiting for a shared read. Not through /metrics: that reads the database,
 * which the test holds.
 */
static void wait_in_flight(tia_api_fixture *f, int n, int parked)
{
    for (int i = 0; i < 1000; i++) {
        if (tia__server_in_flight(f->srv) == n && tia__server_parked(f->srv) == parked)
            return;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("requests in flight: %d, parked %d; want %d and %d", tia__server_in_flight(f->srv),
             tia__server_parked(f->srv), n, parked);
}

/*
 * Holds agent_tasks with a table lock (lock_conn, in a transaction) and lines
 * up three reads of one page: a leads and waits for the lock, b waits for a to
 * lead the next batch, c joins b's batch. Returns the locking connection.
 */
static PGconn *line_up(tia_api_fixture *f, lone *a, lone *b, lone *c)
{
    static const char path[] = "/api/v1/agents/akira-001/tasks?limit=5";
    PGconn *pg = lock_conn = PQconnectdb(tia_test_url(f->store));
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PQclear(PQexec(pg, "BEGIN"));
    PGresult *r = PQexec(pg, "LOCK TABLE agent_tasks IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    lone *l[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        *l[i] = (lone){.f = f, .path = path};
        assert_int_equal(pthread_create(&l[i]->th, NULL, lone_thread, l[i]), 0);
        wait_in_flight(f, i + 1, i); /* parked: b, then b and c */
    }
    return pg;
}

/*
 * On PostgreSQL (where a table lock holds a read): a reads and holds the key;
 * b waits to lead the next batch and c joins it; b's client goes away while it
 * waits. Once a ends, c must still be answered (by itself, b's batch having no
 * leader any more), and the server must be left with nothing in flight. SQLite
 * in WAL mode lets nothing hold a read, so there is no way to line them up.
 */
static void test_client_gone_while_waiting(void **state)
{
    tia_api_fixture *f = *state;
    if (!tia_test_is_pg())
        skip();
    static lone a, b, c; /* static: see crowd_new */
    PGconn *pg = line_up(f, &a, &b, &c);
    atomic_store(&b.abort, 1);
    assert_int_equal(pthread_join(b.th, NULL), 0);
    assert_int_equal(b.status, 0); /* b went away unanswered */

    PQclear(PQexec(pg, "COMMIT"));
    PQfinish(pg);
    lock_conn = NULL;
    assert_int_equal(pthread_join(a.th, NULL), 0);
    assert_int_equal(pthread_join(c.th, NULL), 0);
    assert_int_equal(a.status, 200);
    assert_int_equal(c.status, 200);
    wait_in_flight(f, 0, 0);
    /* And the key is free: the next read is answered. */
    char *again = body_of(f, a.path);
    free(again);
}

static int setup_short_grace(void **state)
{
    tia_server_config cfg = {.threads = CROWD + 2, .db_pool = 4, .shutdown_grace_ms = 300};
    return start_with(state, &cfg);
}

static void *unlock_later(void *arg)
{
    struct timespec ts = {1, 500 * 1000 * 1000};
    nanosleep(&ts, NULL);
    PQclear(PQexec(arg, "COMMIT"));
    return NULL;
}

/*
 * The server stops while reads wait for a slow one (held by a table lock past
 * the grace): the waiting ones must not stay suspended, which libmicrohttpd
 * refuses at stop (it aborts the process). The stop returns once the slow read
 * ends, and every client gets an answer or a closed connection.
 */
static void test_stop_while_waiting(void **state)
{
    tia_api_fixture *f = *state;
    if (!tia_test_is_pg())
        skip();
    static lone a, b, c; /* static: see crowd_new */
    PGconn *pg = line_up(f, &a, &b, &c);

    pthread_t unlocker;
    assert_int_equal(pthread_create(&unlocker, NULL, unlock_later, pg), 0);
    int left = tia_server_shutdown(f->srv); /* the grace (300 ms) ends before the lock */
    f->srv = NULL;
    assert_int_equal(pthread_join(unlocker, NULL), 0);
    assert_true(left >= 1);
    assert_int_equal(pthread_join(a.th, NULL), 0);
    assert_int_equal(pthread_join(b.th, NULL), 0);
    assert_int_equal(pthread_join(c.th, NULL), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crowd_shares, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_off_shares_nothing, setup_off, teardown),
        cmocka_unit_test_setup_teardown(test_acknowledged_write_is_read, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_revoked_refused_next, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_per_member, setup_limited, teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_while_waiting, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_stop_while_waiting, setup_short_grace, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
