/*
 * Fuzz target: the Registry API, every endpoint (/api/v1 and the original
 * paths), in-process. The input is one request in fuzz_support.h's text form;
 * it goes through tia__server_request, the same route, body limit, auth, rate
 * limit, JSON parsing and handler code as an HTTP request, over a scratch
 * SQLite database, with no socket.
 *
 * Two servers share the database: without an Authorization header (or
 * ?access_token=) the request goes to one with auth off, so that the fuzzer
 * reaches the handlers; with one, to one that requires tokens. So that the
 * fuzzer can name real records, the request text may use placeholders, replaced
 * before parsing: @token (a valid admin session token), @session (its id), @wf
 * (a workflow), @task (a pending task), @running (a task running for worker w1,
 * attempt 1), @agent (the agent fuzz-001).
 *
 * Checked besides crashes, leaks and sanitizer reports: the status is one of
 * the server's (no 500 for any input: a refusal is a 4xx), an error has a body,
 * and a JSON answer parses, with an "error" member when the status is an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tokyoia/server.h>
#include <tokyoia/sessions.h>
#include <tokyoia/store.h>

#include "api/api.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static tia_server *srv_open, *srv_auth;
static int verbose;
static char token[TIA_TOKEN_BUF], session_id[TIA_UUID_BUF], wf_id[TIA_UUID_BUF],
    task_id[TIA_UUID_BUF], running_id[TIA_UUID_BUF];

static void die_on(int rc, const tia_error *err, const char *what)
{
    TIA_FUZZ_CHECK(rc == 0, "%s: %s", what, err->message);
}

/* Sends a setup request to the auth-off server; the answer's "id" into id (may be NULL). */
static void setup_call(const char *method, const char *path, const char *body, int want,
                       char id[TIA_UUID_BUF])
{
    tia__kv ct = {"Content-Type", "application/json"};
    tia__request req = {.method = method,
                        .path = path,
                        .headers = &ct,
                        .n_headers = 1,
                        .body = body,
                        .body_len = body ? strlen(body) : 0};
    int status;
    char *text;
    size_t len;
    TIA_FUZZ_CHECK(tia__server_request(srv_open, &req, &status, &text, &len) == 0, "setup");
    TIA_FUZZ_CHECK(status == want, "setup %s %s: %d %s", method, path, status, text ? text : "");
    if (id) {
        json_t *j = json_loads(text, 0, NULL);
        const char *v = json_string_value(json_object_get(j, "id"));
        TIA_FUZZ_CHECK(v != NULL, "setup %s %s: no id in %s", method, path, text);
        snprintf(id, TIA_UUID_BUF, "%s", v);
        json_decref(j);
    }
    free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char db[512];
    static const char *const admins[] = {"fuzzer"};
    tia_error err = {0};
    snprintf(db, sizeof db, "%s/api.db", tia_fuzz_tmpdir());
    verbose = getenv("TIA_FUZZ_VERBOSE") != NULL;
    tia_server_config cfg = {0};
    cfg.db_url = db;
    cfg.threads = 1;
    cfg.db_pool = 1;
    cfg.db_wait_ms = 2000;
    cfg.auth = TIA_AUTH_OFF;
    cfg.admin_users = admins;
    cfg.n_admin_users = 1;
    cfg.migrate = 1;
    cfg.max_body = 64 * 1024; /* small, so that the fuzzer also meets the limit */
    die_on(tia__server_open(&cfg, &srv_open, &err), &err, "open the server");
    cfg.auth = TIA_AUTH_REQUIRED;
    cfg.migrate = 0;
    die_on(tia__server_open(&cfg, &srv_auth, &err), &err, "open the auth server");

    tia_store *s = NULL;
    die_on(tia_store_open(db, NULL, &s, &err), &err, "open the store");
    tia_session_new sn = {"fuzzer", NULL, NULL, 0};
    die_on(tia_session_create(s, &sn, token, session_id, &err), &err, "create a session");
    tia_store_close(s);

    setup_call(
        "POST", "/api/v1/agents",
        "{\"id\": \"fuzz-001\", \"name\": \"Fuzzer\", \"role\": \"tester\", \"model\": \"m\"}", 201,
        NULL);
    setup_call("POST", "/api/v1/workflows",
               "{\"name\": \"fuzz\", \"tasks\": [{\"key\": \"a\", \"agent_id\": \"fuzz-001\", "
               "\"task_type\": \"t\", \"description\": \"d\"}, {\"key\": \"b\", \"agent_id\": "
               "\"fuzz-001\", \"task_type\": \"t\", \"description\": \"d\", \"depends_on\": "
               "[\"a\"]}]}",
               201, wf_id);
    setup_call("POST", "/api/v1/tasks",
               "{\"agent_id\": \"fuzz-001\", \"task_type\": \"t\", \"description\": \"d\"}", 201,
               task_id);
    /* A running task: worker w1, attempt 1, a lease of an hour, on an agent of its own. */
    setup_call("POST", "/api/v1/agents",
               "{\"id\": \"fuzz-002\", \"name\": \"F\", \"role\": \"r\", \"model\": \"m\"}", 201,
               NULL);
    setup_call("POST", "/api/v1/tasks",
               "{\"agent_id\": \"fuzz-002\", \"task_type\": \"t\", \"description\": \"d\"}", 201,
               running_id);
    setup_call("POST", "/api/v1/tasks/claim",
               "{\"agent_ids\": [\"fuzz-002\"], \"worker_id\": \"w1\", \"lease\": \"1h\"}", 200,
               NULL);
    return 0;
}

/* data with the placeholders replaced (malloc'd, *n its length). */
static char *expand(const uint8_t *data, size_t size, size_t *n)
{
    static const char *const names[] = {"@token", "@session", "@wf", "@task", "@running", "@agent"};
    const char *values[] = {token, session_id, wf_id, task_id, running_id, "fuzz-001"};
    size_t cap = size * 8 + 64, len = 0; /* the longest value over the shortest name */
    char *out = malloc(cap);
    TIA_FUZZ_CHECK(out != NULL, "out of memory");
    for (size_t i = 0; i < size;) {
        size_t k;
        for (k = 0; k < 6; k++) {
            size_t nl = strlen(names[k]);
            if (size - i >= nl && memcmp(data + i, names[k], nl) == 0) {
                size_t vl = strlen(values[k]);
                memcpy(out + len, values[k], vl);
                len += vl;
                i += nl;
                break;
            }
        }
        if (k == 6)
            out[len++] = (char)data[i++];
    }
    *n = len;
    return out;
}

static int wants_auth(const tia_fuzz_req *r)
{
    for (size_t i = 0; i < r->req.n_headers; i++)
        if (strcasecmp(r->headers[i].key, "Authorization") == 0)
            return 1;
    for (size_t i = 0; i < r->req.n_query; i++)
        if (strcasecmp(r->query[i].key, "access_token") == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n;
    char *text = expand(data, size, &n);
    tia_fuzz_req r;
    tia_fuzz_req_parse((const uint8_t *)text, n, &r);
    free(text);
    int status;
    char *body;
    size_t len;
    int rc =
        tia__server_request(wants_auth(&r) ? srv_auth : srv_open, &r.req, &status, &body, &len);
    TIA_FUZZ_CHECK(rc == 0, "request failed: %d", rc);
    if (verbose) /* TIA_FUZZ_VERBOSE=1: what each input got, to check the seeds */
        fprintf(stderr, "%d %s %s %.200s", status, r.req.method, r.req.path, body ? body : "\n");
    TIA_FUZZ_CHECK(status >= 200 && status <= 599 && status != 500, "%s %s answered %d: %s",
                   r.req.method, r.req.path, status, body ? body : "");
    TIA_FUZZ_CHECK(status < 400 || body != NULL, "%s %s: %d without a body", r.req.method,
                   r.req.path, status);
    if (body != NULL) {
        json_error_t jerr;
        json_t *j = json_loadb(body, len, 0, &jerr);
        TIA_FUZZ_CHECK(j != NULL, "%s %s: answer is not JSON: %s", r.req.method, r.req.path,
                       jerr.text);
        TIA_FUZZ_CHECK(status < 400 || json_object_get(j, "error") != NULL,
                       "%s %s: %d without an error member", r.req.method, r.req.path, status);
        json_decref(j);
    }
    free(body);
    tia_fuzz_req_free(&r);
    return 0;
}
