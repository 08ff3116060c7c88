/*
 * SQL injection and metacharacters through every string the Registry API takes:
 * each string of tests/data/injection.txt (and two long ones made here) is sent
 * in every string member of every /api/v1 and original-API route that stores
 * one, in query arguments and in path ids. A string that fits its column is
 * stored and read back literally, through the API and straight from the
 * database; one that does not (too long, not an id, not one of an enumeration)
 * is refused with a 4xx that writes nothing. Query arguments and path ids that
 * name nothing find nothing: a LIKE wildcard or a quote never widens a filter.
 * After it all, every table holds exactly the rows the accepted requests made
 * and a canary agent and workflow are untouched. The count of (field, string)
 * pairs tried is printed for docs/reliability.md.
 */
#include "api_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Column limits, in characters (include/tokyoia/types.h, engine.h). */
#include <tokyoia/engine.h>
#include <tokyoia/types.h>

static char **corpus;
static size_t n_corpus;
static size_t pairs;    /* (field, string) pairs tried */
static size_t accepted; /* of which stored and read back */
static size_t refused;  /* of which refused with a 4xx, nothing written */

/* Rows the accepted requests made, per table, on top of the baseline. */
enum { T_AGENTS, T_WORKFLOWS, T_TASKS, T_METRICS, T_INTERACTIONS, T_SESSIONS, T_PRICES, T_N };
static const char *const table_names[T_N] = {"agents",        "workflows",          "agent_tasks",
                                             "agent_metrics", "agent_interactions", "user_sessions",
                                             "model_prices"};
static int64_t want_rows[T_N];

/* ---- the corpus ---- */

static void corpus_add(char *s)
{
    corpus = realloc(corpus, (n_corpus + 1) * sizeof *corpus);
    assert_non_null(corpus);
    corpus[n_corpus++] = s;
}

static void load_corpus(void)
{
    const char *src = getenv("TIA_SOURCE_DIR");
    char path[4096], line[8192];
    snprintf(path, sizeof path, "%s/tests/data/injection.txt", src ? src : ".");
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        fail_msg("cannot open %s", path);
    while (fgets(line, sizeof line, fp)) {
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (n == 0 || strncmp(line, "## ", 3) == 0)
            continue;
        if (strncmp(line, "esc:", 4) == 0) {
            /* A JSON string body: decode it with jansson. */
            char quoted[8300];
            snprintf(quoted, sizeof quoted, "\"%s\"", line + 4);
            json_error_t je;
            json_t *j = json_loads(quoted, JSON_DECODE_ANY, &je);
            if (!json_is_string(j))
                fail_msg("bad esc: line %s: %s", line, je.text);
            corpus_add(strdup(json_string_value(j)));
            json_decref(j);
        } else {
            corpus_add(strdup(line));
        }
    }
    fclose(fp);
    /* Long ones: a repeated payload of 5,000 characters and one of 100 KB. */
    const char *unit = "'; DROP TABLE agents; -- ";
    for (size_t len = 5000; len <= 100000; len += 95000) {
        char *s = malloc(len + 1);
        assert_non_null(s);
        for (size_t i = 0; i < len; i++)
            s[i] = unit[i % strlen(unit)];
        s[len] = '\0';
        corpus_add(s);
    }
    assert_true(n_corpus >= 40);
}

/* ---- helpers ---- */

static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Percent-encodes s (everything but unreserved characters) into a malloc'd string. */
static char *pct(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = malloc(strlen(s) * 3 + 1), *w = o;
    assert_non_null(o);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *w++ = (char)*p;
        } else {
            *w++ = '%';
            *w++ = hex[*p >> 4];
            *w++ = hex[*p & 15];
        }
    }
    *w = '\0';
    return o;
}

/* Sends body (a JSON value, stolen; NULL for none); returns the answer's JSON (new ref). */
static json_t *call(tia_api_fixture *f, const char *token, const char *method, const char *path,
                    json_t *body, long *status)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    tia_http_resp r;
    tia_http_opts o = {.token = token};
    tia_http(f, method, path, text, &o, &r);
    *status = r.status;
    if (r.status >= 500)
        fail_msg("%s %.200s: status %ld (a string must never make a 5xx); body: %.300s", method,
                 path, r.status, r.body);
    json_t *j = json_incref(r.json);
    tia_http_resp_free(&r);
    free(text);
    json_decref(body);
    return j;
}

static int64_t count(tia_api_fixture *f, int t)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table_names[t]);
    return tia_test_int(f->store, sql, sql);
}

/* Asserts every table holds exactly the rows expected (what names the moment). */
static void assert_counts(tia_api_fixture *f, const char *what, const char *s)
{
    for (int t = 0; t < T_N; t++) {
        int64_t got = count(f, t);
        if (got != want_rows[t])
            fail_msg("%s with string [%.80s]: %s has %lld rows, want %lld", what, s, table_names[t],
                     (long long)got, (long long)want_rows[t]);
    }
}

/*
 * One text column straight from the database (bound parameter), malloc'd; NULL
 * when there is no row or the value is NULL.
 */
static char *db_text(tia_api_fixture *f, const char *pg, const char *sqlite, const char *param)
{
    tia__sql q = {"test.injection", pg, sqlite, 1};
    tia__param p = tia__p_text(param);
    tia__rows *rows = NULL;
    tia_error err = {0};
    char *out = NULL;
    int oom = 0;
    TIA_OK_OR_FAIL(tia__db_query(f->store, &q, &p, 1, &rows, &err), &err);
    int rc = tia__rows_next(rows, &err);
    if (rc < 0)
        fail_msg("%s: %s", pg, err.message);
    if (rc == 1)
        out = tia__col_dup(rows, 0, &oom);
    tia__rows_free(rows);
    return out;
}

/* Asserts the database text equals want. */
static void assert_db_text(tia_api_fixture *f, const char *pg, const char *sqlite,
                           const char *param, const char *want, const char *what)
{
    char *got = db_text(f, pg, sqlite, param);
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s: database has [%.120s], want [%.120s]", what, got ? got : "(none)", want);
    free(got);
}

/* Asserts the database JSON text parses to a value equal to want. */
static void assert_db_json(tia_api_fixture *f, const char *pg, const char *sqlite,
                           const char *param, const json_t *want, const char *what)
{
    char *got = db_text(f, pg, sqlite, param);
    json_t *j = got ? json_loads(got, JSON_DECODE_ANY, NULL) : NULL;
    if (j == NULL || !json_equal(j, (json_t *)want))
        fail_msg("%s: database has %.200s", what, got ? got : "(none)");
    json_decref(j);
    free(got);
}

static void assert_str_member(const json_t *o, const char *key, const char *want, const char *what)
{
    const char *got = tia_json_str(o, key);
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s: API answered %s = [%.120s], want [%.120s]", what, key, got ? got : "(none)",
                 want);
}

static void assert_json_member(const json_t *o, const char *key, const json_t *want,
                               const char *what)
{
    json_t *got = json_object_get(o, key);
    if (got == NULL || !json_equal(got, (json_t *)want)) {
        char *g = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
        fail_msg("%s: API answered %s = %.200s", what, key, g ? g : "(none)");
    }
}

/* A refusal: a 4xx, and no table changed. */
static void assert_refused(tia_api_fixture *f, long status, const char *what, const char *s)
{
    if (status < 400 || status >= 500)
        fail_msg("%s with string [%.80s] (%zu chars): status %ld, want a 4xx refusal", what, s,
                 chars(s), status);
    assert_counts(f, what, s);
    refused++;
}

/* The JSON value {"k": s, s: "v", "arr": [s]}: the string as a value, a key and an element. */
static json_t *json_with(const char *s)
{
    return json_pack("{s:s,s:s,s:[s]}", "k", s, s, "v", "arr", s);
}

static json_t *base_agent(const char *id)
{
    return json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name", "N", "role", "R", "model", "M");
}

/* ---- fixture ---- */

static int setup(void **state)
{
    static tia_api_fixture f;
    tia_api_start(&f, NULL);
    *state = &f;
    if (corpus == NULL)
        load_corpus();
    return 0;
}

static int teardown(void **state)
{
    tia_api_stop(*state);
    return 0;
}

/* Canary rows made before the corpus runs, checked after it. */
static char canary_wf[TIA_UUID_BUF];

static void make_canaries(tia_api_fixture *f)
{
    long st;
    json_t *j = call(f, NULL, "POST", "/api/v1/agents",
                     json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", "canary-001", "name", "Canary",
                               "role", "Sentinel", "model", "canary-model", "backstory", "tweet"),
                     &st);
    assert_int_equal(st, 201);
    json_decref(j);
    /* Agents the corpus's tasks, metrics and interactions belong to. */
    static const char *const helpers[] = {"inj-wa", "inj-wb", "inj-worker", "inj-m"};
    for (size_t i = 0; i < 4; i++) {
        j = call(f, NULL, "POST", "/api/v1/agents", base_agent(helpers[i]), &st);
        assert_int_equal(st, 201);
        json_decref(j);
    }
    j = tia_api_callf(
        f, "POST", "/api/v1/workflows", 201,
        "{\"name\": \"canary workflow\", \"description\": \"sentinel\", "
        "\"tasks\": [{\"key\": \"k\", \"agent_id\": \"canary-001\", \"task_type\": \"watch\", "
        "\"description\": \"stay\"}]}");
    snprintf(canary_wf, sizeof canary_wf, "%s", tia_json_str(j, "id"));
    json_decref(j);
    for (int t = 0; t < T_N; t++)
        want_rows[t] = count(f, t);
}

static void check_canaries(tia_api_fixture *f)
{
    long st;
    json_t *j = call(f, NULL, "GET", "/api/v1/agents/canary-001", NULL, &st);
    assert_int_equal(st, 200);
    assert_str_member(j, "name", "Canary", "canary");
    assert_str_member(j, "role", "Sentinel", "canary");
    assert_str_member(j, "model", "canary-model", "canary");
    assert_str_member(j, "backstory", "tweet", "canary");
    assert_str_member(j, "status", "active", "canary");
    json_decref(j);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/workflows/%s", canary_wf);
    j = call(f, NULL, "GET", path, NULL, &st);
    assert_int_equal(st, 200);
    assert_str_member(j, "name", "canary workflow", "canary");
    assert_str_member(j, "description", "sentinel", "canary");
    assert_int_equal(json_array_size(json_object_get(j, "tasks")), 1);
    json_decref(j);
    /* The seed's five agents are all still there. */
    assert_int_equal(tia_test_int(f->store,
                                  "SELECT count(*) FROM agents WHERE id IN ('akira-001', "
                                  "'yuki-002', 'hiro-003', 'sakura-004', 'kenji-005')",
                                  "SELECT count(*) FROM agents WHERE id IN ('akira-001', "
                                  "'yuki-002', 'hiro-003', 'sakura-004', 'kenji-005')"),
                     5);
    assert_counts(f, "after the corpus", "");
}

/* ---- read-only probes: query arguments and path ids that name nothing ---- */

/* A list answer with nothing in it: {"items": []} or a bare []. */
static int empty_list(const json_t *j)
{
    const json_t *items = json_is_array(j) ? j : json_object_get(j, "items");
    return json_is_array(items) && json_array_size(items) == 0;
}

static void probe_reads(tia_api_fixture *f, const char *s)
{
    char *e = pct(s);
    size_t cap = strlen(e) + 256;
    char *path = malloc(cap);
    long st;
    json_t *j;
    /* Path ids: nothing has these ids (404), or the path itself is refused (400). */
    static const char *const id_paths[] = {
        "/api/v1/agents/%s",
        "/api/v1/agents/%s/tasks",
        "/api/v1/agents/%s/stats",
        "/api/v1/tasks/%s",
        "/api/v1/workflows/%s",
        "/api/v1/sessions/%s",
        "/api/v1/workflows/%s/interactions",
        "/api/v1/dashboard/workflows/%s/graph",
        "/api/agents/%s",
        "/api/agents/%s/stats",
        "/api/agents/%s/tasks",
        "/api/workflows/%s",
        "/api/workflows/%s/tasks",
    };
    for (size_t i = 0; i < sizeof id_paths / sizeof id_paths[0]; i++) {
        snprintf(path, cap, id_paths[i], e);
        j = call(f, NULL, "GET", path, NULL, &st);
        /* 422: an id longer than its column is refused as such. */
        if (st != 404 && st != 400 && st != 422)
            fail_msg("GET %s: status %ld, want 404 (or 400/422 for a malformed id)", path, st);
        json_decref(j);
        pairs++;
    }
    /* Filters on free text: 200 and nothing found. */
    static const char *const free_filters[] = {
        "/api/v1/tasks?agent_id=%s",      "/api/v1/workflows?workflow_type=%s",
        "/api/v1/metrics?metric_type=%s", "/api/v1/metrics?agent_id=inj-m&metric_type=%s",
        "/api/metrics?metric_type=%s",
    };
    for (size_t i = 0; i < sizeof free_filters / sizeof free_filters[0]; i++) {
        snprintf(path, cap, free_filters[i], e);
        j = call(f, NULL, "GET", path, NULL, &st);
        if (!(st == 200 && empty_list(j)) && st != 400 && st != 404 && st != 422)
            fail_msg("GET %s: status %ld, want 200 with nothing found (or a 4xx)", path, st);
        json_decref(j);
        pairs++;
    }
    /* Filters whose value has a format: refused with 400 (or, for an agent, 404/422). */
    static const char *const format_filters[] = {
        "/api/v1/tasks?status=%s",
        "/api/v1/tasks?workflow_id=%s",
        "/api/v1/agents?status=%s",
        "/api/v1/workflows?cursor=%s",
        "/api/v1/tasks?cursor=%s",
        "/api/v1/stats?window=%s",
        "/api/v1/workflows?status=%s",
        "/api/v1/tasks?limit=%s",
        "/api/v1/metrics/series?metric_type=x&bucket=%s",
        "/api/v1/metrics?agent_id=%s",
        "/api/metrics?agent_id=%s",
        "/api/v1/sessions?user_id=%s",
        "/api/v1/dashboard/costs?from=%s",
    };
    for (size_t i = 0; i < sizeof format_filters / sizeof format_filters[0]; i++) {
        snprintf(path, cap, format_filters[i], e);
        j = call(f, NULL, "GET", path, NULL, &st);
        if (!(st == 200 && empty_list(j)) && st != 400 && st != 404 && st != 422)
            fail_msg("GET %s: status %ld, want a 4xx (or 200 with nothing found)", path, st);
        json_decref(j);
        pairs++;
    }
    /* Writes to ids that are not there: 4xx, nothing written. */
    static const char *const id_writes[][2] = {
        {"POST", "/api/v1/tasks/%s/cancel"},     {"POST", "/api/v1/tasks/%s/retry"},
        {"POST", "/api/v1/workflows/%s/cancel"}, {"DELETE", "/api/v1/agents/%s"},
        {"DELETE", "/api/v1/sessions/%s"},
    };
    for (size_t i = 0; i < sizeof id_writes / sizeof id_writes[0]; i++) {
        snprintf(path, cap, id_writes[i][1], e);
        j = call(f, NULL, id_writes[i][0], path, NULL, &st);
        assert_refused(f, st, path, s);
        json_decref(j);
        pairs++;
    }
    snprintf(path, cap, "/api/tasks/%s", e);
    j = call(f, NULL, "PUT", path, json_pack("{s:s}", "status", "completed"), &st);
    assert_refused(f, st, "PUT /api/tasks/{id}", s);
    json_decref(j);
    pairs++;
    free(path);
    free(e);
}

static void test_reads(void **state)
{
    tia_api_fixture *f = *state;
    make_canaries(f);
    for (size_t i = 0; i < n_corpus; i++)
        probe_reads(f, corpus[i]);
    check_canaries(f);
}

/* ---- agents ---- */

/* GET /api/v1/agents/{id} and the database's row for it, both with column col = want. */
static void check_agent_col(tia_api_fixture *f, const char *id, const char *col, const char *want)
{
    char *e = pct(id), path[4096], pg[128], what[160];
    long st;
    snprintf(path, sizeof path, "/api/v1/agents/%s", e);
    snprintf(what, sizeof what, "agent %s", col);
    json_t *j = call(f, NULL, "GET", path, NULL, &st);
    if (st != 200)
        fail_msg("GET %s: status %ld", path, st);
    assert_str_member(j, col, want, what);
    json_decref(j);
    snprintf(pg, sizeof pg, "SELECT %s FROM agents WHERE id = $1", col);
    char sq[128];
    snprintf(sq, sizeof sq, "SELECT %s FROM agents WHERE id = ?1", col);
    assert_db_text(f, pg, sq, id, want, what);
    free(e);
}

/* The id itself: created, read, patched and deleted by its (percent-encoded) path. */
static void probe_agent_id(tia_api_fixture *f, const char *s)
{
    long st;
    json_t *j;
    char *e = pct(s), *path = malloc(strlen(e) + 64);
    size_t n = chars(s);
    j = call(f, NULL, "POST", "/api/v1/agents", base_agent(s), &st);
    pairs++;
    if (n <= TIA_AGENT_ID_MAX) {
        if (st != 201)
            fail_msg("agent id [%s]: status %ld, want 201", s, st);
        assert_str_member(j, "id", s, "agent id");
        want_rows[T_AGENTS]++;
        check_agent_col(f, s, "id", s);
        sprintf(path, "/api/v1/agents/%s", e);
        json_decref(call(f, NULL, "PATCH", path, json_pack("{s:s}", "role", s), &st));
        if (st != 200)
            fail_msg("PATCH %s: status %ld", path, st);
        check_agent_col(f, s, "role", s);
        json_decref(call(f, NULL, "DELETE", path, NULL, &st));
        if (st != 204)
            fail_msg("DELETE %s: status %ld", path, st);
        want_rows[T_AGENTS]--;
        assert_counts(f, "agent deleted", s);
        accepted++;
    } else {
        assert_refused(f, st, "agent id", s);
    }
    json_decref(j);
    free(path);
    free(e);
}

static void probe_agents(tia_api_fixture *f, size_t i, const char *s)
{
    long st;
    json_t *j;
    char id[64], *e = pct(s), *path = malloc(strlen(e) + 64);
    size_t n = chars(s);

    /* Ids with a '/' have their own test (test_ids_with_slash). */
    if (strchr(s, '/') == NULL)
        probe_agent_id(f, s);

    /* Each text column, on create. */
    static const struct {
        const char *col;
        size_t max; /* 0: TEXT */
    } cols[] = {{"name", TIA_AGENT_NAME_MAX},
                {"role", TIA_AGENT_ROLE_MAX},
                {"model", TIA_AGENT_MODEL_MAX},
                {"backstory", 0},
                {"personality_emoji", TIA_AGENT_EMOJI_MAX}};
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
        json_t *b = base_agent("");
        snprintf(id, sizeof id, "inj-%zu-%zu", c, i);
        json_object_set_new(b, "id", json_string(id));
        json_object_set_new(b, cols[c].col, json_string(s));
        j = call(f, NULL, "POST", "/api/v1/agents", b, &st);
        pairs++;
        if (cols[c].max == 0 || n <= cols[c].max) {
            if (st != 201)
                fail_msg("agent %s [%.80s]: status %ld, want 201", cols[c].col, s, st);
            want_rows[T_AGENTS]++;
            assert_str_member(j, cols[c].col, s, cols[c].col);
            check_agent_col(f, id, cols[c].col, s);
            accepted++;
        } else {
            assert_refused(f, st, cols[c].col, s);
        }
        json_decref(j);
    }
    /* The same columns through PATCH, on the agent made for name above. */
    snprintf(id, sizeof id, "inj-0-%zu", i);
    snprintf(path, strlen(e) + 64, "/api/v1/agents/%s", id);
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
        if (chars(s) > TIA_AGENT_NAME_MAX && c == 0)
            break; /* that agent was refused: nothing to patch */
        j = call(f, NULL, "PATCH", path, json_pack("{s:s}", cols[c].col, s), &st);
        pairs++;
        if (cols[c].max == 0 || n <= cols[c].max) {
            if (st != 200)
                fail_msg("PATCH agent %s [%.80s]: status %ld, want 200", cols[c].col, s, st);
            check_agent_col(f, id, cols[c].col, s);
            accepted++;
        } else {
            assert_refused(f, st, cols[c].col, s);
        }
        json_decref(j);
    }
    /* metadata (JSON): the string as a value, a key and an element. */
    snprintf(id, sizeof id, "inj-md-%zu", i);
    json_t *b = base_agent(id);
    json_t *want_md = json_with(s);
    json_object_set(b, "metadata", want_md);
    j = call(f, NULL, "POST", "/api/v1/agents", b, &st);
    pairs++;
    if (st != 201)
        fail_msg("agent metadata [%.80s]: status %ld", s, st);
    want_rows[T_AGENTS]++;
    json_decref(j);
    snprintf(path, strlen(e) + 64, "/api/v1/agents/%s", id);
    j = call(f, NULL, "GET", path, NULL, &st);
    assert_json_member(j, "metadata", want_md, "agent metadata");
    assert_db_json(f, "SELECT metadata::text FROM agents WHERE id = $1",
                   "SELECT metadata FROM agents WHERE id = ?1", id, want_md, "agent metadata");
    accepted++;
    json_decref(j);
    json_decref(want_md);
    /* specialties (an array of text, packed by a control character on SQLite: control
       characters are refused in them, src/store/agents.c). */
    int has_control = 0;
    for (const char *p = s; *p; p++)
        has_control |= (unsigned char)*p < 0x20;
    snprintf(id, sizeof id, "inj-sp-%zu", i);
    b = base_agent(id);
    json_t *want_sp = json_pack("[s,s]", "plain", s);
    json_object_set(b, "specialties", want_sp);
    j = call(f, NULL, "POST", "/api/v1/agents", b, &st);
    pairs++;
    if (!has_control) {
        if (st != 201)
            fail_msg("agent specialties [%.80s]: status %ld", s, st);
        want_rows[T_AGENTS]++;
        json_decref(j);
        snprintf(path, strlen(e) + 64, "/api/v1/agents/%s", id);
        j = call(f, NULL, "GET", path, NULL, &st);
        assert_json_member(j, "specialties", want_sp, "specialties");
        accepted++;
    } else {
        assert_refused(f, st, "specialties with a control character", s);
    }
    json_decref(j);
    json_decref(want_sp);
    free(path);
    free(e);
}

static void test_agents(void **state)
{
    tia_api_fixture *f = *state;
    make_canaries(f);
    for (size_t i = 0; i < n_corpus; i++)
        probe_agents(f, i, corpus[i]);
    check_canaries(f);
}

/* ---- workflows ---- */

/* A task-list submission with one task; member key of the workflow (or of the task) = v. */
static json_t *wf_body(const char *key, json_t *v, int in_task)
{
    json_t *task = json_pack("{s:s,s:s,s:s,s:s}", "key", "k", "agent_id", "inj-wa", "task_type",
                             "t", "description", "d");
    json_t *b = json_pack("{s:s,s:[o]}", "name", "wf", "tasks", task);
    json_object_set_new(in_task ? task : b, key, v);
    return b;
}

static void probe_workflows(tia_api_fixture *f, const char *s)
{
    static const struct {
        const char *key;
        size_t max; /* 0: TEXT; SIZE_MAX: JSON */
        int in_task;
        const char *col; /* the column in the database (NULL: not read back there) */
    } fields[] = {
        {"name", TIA_WORKFLOW_NAME_MAX, 0, "name"},
        {"description", 0, 0, "description"},
        {"workflow_type", TIA_WORKFLOW_TYPE_MAX, 0, "workflow_type"},
        {"initiator", TIA_INITIATOR_MAX, 0, "initiator"},
        {"idempotency_key", TIA_IDEMPOTENCY_KEY_MAX, 0, "idempotency_key"},
        {"metadata", SIZE_MAX, 0, "metadata"},
        {"key", 100, 1, NULL},
        {"task_type", TIA_TASK_TYPE_MAX, 1, "task_type"},
        {"description", 0, 1, "description"},
        {"input_data", SIZE_MAX, 1, "input_data"},
        {"metadata", SIZE_MAX, 1, "metadata"},
    };
    size_t n = chars(s);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        int is_json = fields[i].max == SIZE_MAX;
        json_t *v = is_json ? json_with(s) : json_string(s);
        long st;
        json_t *j = call(f, NULL, "POST", "/api/v1/workflows",
                         wf_body(fields[i].key, json_incref(v), fields[i].in_task), &st);
        pairs++;
        char what[64];
        snprintf(what, sizeof what, "workflow %s%s", fields[i].in_task ? "task " : "",
                 fields[i].key);
        if (is_json || fields[i].max == 0 || n <= fields[i].max) {
            if (st != 201)
                fail_msg("%s [%.80s]: status %ld, want 201", what, s, st);
            want_rows[T_WORKFLOWS]++;
            want_rows[T_TASKS]++;
            char id[TIA_UUID_BUF], path[128];
            snprintf(id, sizeof id, "%s", tia_json_str(j, "id"));
            snprintf(path, sizeof path, "/api/v1/workflows/%s", id);
            json_t *g = call(f, NULL, "GET", path, NULL, &st);
            assert_int_equal(st, 200);
            json_t *task = json_array_get(json_object_get(g, "tasks"), 0);
            const json_t *holder = fields[i].in_task ? task : g;
            const char *col = fields[i].col;
            char pg[160], sq[160];
            if (fields[i].in_task) {
                snprintf(pg, sizeof pg, "SELECT %s%s FROM agent_tasks WHERE workflow_id = $1::uuid",
                         col ? col : "id", is_json ? "::text" : "");
                snprintf(sq, sizeof sq, "SELECT %s FROM agent_tasks WHERE workflow_id = ?1",
                         col ? col : "id");
            } else {
                snprintf(pg, sizeof pg, "SELECT %s%s FROM workflows WHERE id = $1::uuid", col,
                         is_json ? "::text" : "");
                snprintf(sq, sizeof sq, "SELECT %s FROM workflows WHERE id = ?1", col);
            }
            if (is_json) {
                assert_json_member(holder, fields[i].key, v, what);
                assert_db_json(f, pg, sq, id, v, what);
            } else if (col && strcmp(col, "idempotency_key") == 0) {
                /* Not in the record: a retry with the same key finds this workflow. */
                assert_db_text(f, pg, sq, id, s, what);
                json_t *again = call(f, NULL, "POST", "/api/v1/workflows",
                                     wf_body(fields[i].key, json_string(s), 0), &st);
                assert_int_equal(st, 200);
                assert_str_member(again, "id", id, "idempotent retry");
                json_decref(again);
            } else if (col) {
                assert_str_member(holder, fields[i].key, s, what);
                assert_db_text(f, pg, sq, id, s, what);
            }
            json_decref(g);
            assert_counts(f, what, s);
            accepted++;
        } else {
            assert_refused(f, st, what, s);
        }
        json_decref(j);
        json_decref(v);
    }
    /* A task key with a dependency on it: the key is matched literally. */
    if (n <= 100) {
        long st;
        json_t *b = json_pack("{s:s,s:[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:[s]}]}", "name", "deps",
                              "tasks", "key", s, "agent_id", "inj-wa", "task_type", "t",
                              "description", "first", "key", "second", "agent_id", "inj-wb",
                              "task_type", "t", "description", "second", "depends_on", s);
        json_t *j = call(f, NULL, "POST", "/api/v1/workflows", b, &st);
        pairs++;
        if (st != 201)
            fail_msg("depends_on [%.80s]: status %ld", s, st);
        want_rows[T_WORKFLOWS]++;
        want_rows[T_TASKS] += 2;
        char path[128];
        snprintf(path, sizeof path, "/api/v1/dashboard/workflows/%s/graph", tia_json_str(j, "id"));
        json_t *g = call(f, NULL, "GET", path, NULL, &st);
        assert_int_equal(st, 200);
        assert_int_equal(json_array_size(json_object_get(g, "edges")), 1);
        json_decref(g);
        json_decref(j);
        accepted++;
    }
}

static void test_workflows(void **state)
{
    tia_api_fixture *f = *state;
    make_canaries(f);
    for (size_t i = 0; i < n_corpus; i++)
        probe_workflows(f, corpus[i]);
    check_canaries(f);
}

/* ---- tasks: create, claim (worker id), complete (output), fail (error message) ---- */

static void task_path(char *out, size_t cap, const char *id, const char *verb)
{
    snprintf(out, cap, "/api/v1/tasks/%s%s%s", id, verb ? "/" : "", verb ? verb : "");
}

static void probe_tasks(tia_api_fixture *f, const char *s)
{
    size_t n = chars(s);
    long st;
    static const struct {
        const char *key;
        size_t max; /* 0: TEXT; SIZE_MAX: JSON */
    } fields[] = {{"task_type", TIA_TASK_TYPE_MAX},
                  {"description", 0},
                  {"input_data", SIZE_MAX},
                  {"metadata", SIZE_MAX},
                  {"idempotency_key", TIA_IDEMPOTENCY_KEY_MAX}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        int is_json = fields[i].max == SIZE_MAX;
        json_t *v = is_json ? json_with(s) : json_string(s);
        json_t *b =
            json_pack("{s:s,s:s,s:s}", "agent_id", "inj-wa", "task_type", "t", "description", "d");
        json_object_set(b, fields[i].key, v);
        json_t *j = call(f, NULL, "POST", "/api/v1/tasks", b, &st);
        pairs++;
        char what[64];
        snprintf(what, sizeof what, "task %s", fields[i].key);
        if (is_json || fields[i].max == 0 || n <= fields[i].max) {
            if (st != 201)
                fail_msg("%s [%.80s]: status %ld, want 201", what, s, st);
            want_rows[T_TASKS]++;
            const char *id = tia_json_str(j, "id");
            char path[128], pg[160], sq[160];
            task_path(path, sizeof path, id, NULL);
            json_t *g = call(f, NULL, "GET", path, NULL, &st);
            assert_int_equal(st, 200);
            snprintf(pg, sizeof pg, "SELECT %s%s FROM agent_tasks WHERE id = $1::uuid",
                     fields[i].key, is_json ? "::text" : "");
            snprintf(sq, sizeof sq, "SELECT %s FROM agent_tasks WHERE id = ?1", fields[i].key);
            if (is_json) {
                assert_json_member(g, fields[i].key, v, what);
                assert_db_json(f, pg, sq, id, v, what);
            } else {
                if (strcmp(fields[i].key, "idempotency_key") != 0)
                    assert_str_member(g, fields[i].key, s, what);
                assert_db_text(f, pg, sq, id, s, what);
            }
            json_decref(g);
            accepted++;
        } else {
            assert_refused(f, st, what, s);
        }
        json_decref(j);
        json_decref(v);
    }

    /* A worker id, an output and an error message, through a claim each. */
    for (int ending = 0; ending < 2; ending++) {
        json_t *j = call(f, NULL, "POST", "/api/v1/tasks",
                         json_pack("{s:s,s:s,s:s,s:i}", "agent_id", "inj-worker", "task_type", "t",
                                   "description", "d", "max_retries", 0),
                         &st);
        assert_int_equal(st, 201);
        want_rows[T_TASKS]++;
        char id[TIA_UUID_BUF], path[128];
        snprintf(id, sizeof id, "%s", tia_json_str(j, "id"));
        json_decref(j);
        int worker_ok = n <= TIA_WORKER_ID_MAX;
        const char *worker = worker_ok ? s : "w1";
        if (!worker_ok) {
            j = call(
                f, NULL, "POST", "/api/v1/tasks/claim",
                json_pack("{s:[s],s:s,s:i}", "agent_ids", "inj-worker", "worker_id", s, "max", 1),
                &st);
            pairs++;
            assert_refused(f, st, "claim worker_id", s);
            assert_db_text(f, "SELECT status FROM agent_tasks WHERE id = $1::uuid",
                           "SELECT status FROM agent_tasks WHERE id = ?1", id, "pending",
                           "unclaimed task");
            json_decref(j);
        }
        j = call(
            f, NULL, "POST", "/api/v1/tasks/claim",
            json_pack("{s:[s],s:s,s:i}", "agent_ids", "inj-worker", "worker_id", worker, "max", 1),
            &st);
        if (worker_ok)
            pairs++;
        assert_int_equal(st, 200);
        json_t *item = json_array_get(json_object_get(j, "items"), 0);
        if (item == NULL || strcmp(tia_json_str(json_object_get(item, "task"), "id"), id) != 0)
            fail_msg("claim by worker [%.80s] did not get task %s", worker, id);
        int64_t attempt = tia_json_int(item, "attempt");
        json_decref(j);
        assert_db_text(f, "SELECT worker_id FROM agent_tasks WHERE id = $1::uuid",
                       "SELECT worker_id FROM agent_tasks WHERE id = ?1", id, worker, "worker_id");
        if (worker_ok)
            accepted++;
        if (ending == 0) {
            json_t *out = json_with(s);
            task_path(path, sizeof path, id, "complete");
            j = call(f, NULL, "POST", path,
                     json_pack("{s:s,s:I,s:O}", "worker_id", worker, "attempt", (json_int_t)attempt,
                               "output_data", out),
                     &st);
            pairs++;
            if (st != 200)
                fail_msg("complete with output [%.80s]: status %ld", s, st);
            json_decref(j);
            task_path(path, sizeof path, id, NULL);
            j = call(f, NULL, "GET", path, NULL, &st);
            assert_json_member(j, "output_data", out, "output_data");
            assert_str_member(j, "status", "completed", "completed task");
            assert_db_json(f, "SELECT output_data::text FROM agent_tasks WHERE id = $1::uuid",
                           "SELECT output_data FROM agent_tasks WHERE id = ?1", id, out,
                           "output_data");
            json_decref(j);
            json_decref(out);
            want_rows[T_METRICS] = count(f, T_METRICS); /* the ending's own metrics */
        } else {
            task_path(path, sizeof path, id, "fail");
            j = call(f, NULL, "POST", path,
                     json_pack("{s:s,s:I,s:s,s:b}", "worker_id", worker, "attempt",
                               (json_int_t)attempt, "error_message", s, "retryable", 0),
                     &st);
            pairs++;
            if (st != 200)
                fail_msg("fail with message [%.80s]: status %ld", s, st);
            json_decref(j);
            task_path(path, sizeof path, id, NULL);
            j = call(f, NULL, "GET", path, NULL, &st);
            assert_str_member(j, "error_message", s, "error_message");
            assert_str_member(j, "status", "failed", "failed task");
            assert_db_text(f, "SELECT error_message FROM agent_tasks WHERE id = $1::uuid",
                           "SELECT error_message FROM agent_tasks WHERE id = ?1", id, s,
                           "error_message");
            json_decref(j);
            want_rows[T_METRICS] = count(f, T_METRICS); /* the ending's own metrics */
        }
        accepted++;
    }
    /* An ending records the task's metrics (latency, tokens): not this test's. */
    want_rows[T_METRICS] = count(f, T_METRICS);
    assert_counts(f, "tasks", s);
}

static void test_tasks(void **state)
{
    tia_api_fixture *f = *state;
    make_canaries(f);
    for (size_t i = 0; i < n_corpus; i++)
        probe_tasks(f, corpus[i]);
    check_canaries(f);
}

/* ---- metrics, interactions, sessions, prices ---- */

static void probe_metrics(tia_api_fixture *f, size_t idx, const char *s)
{
    size_t n = chars(s);
    long st;
    char type[32];
    snprintf(type, sizeof type, "inj-type-%zu", idx);
    /* metric_type: read back by filtering on it (a bound parameter, never a pattern). */
    json_t *j = call(f, NULL, "POST", "/api/v1/metrics",
                     json_pack("{s:[{s:s,s:s,s:f}]}", "metrics", "agent_id", "inj-m", "metric_type",
                               s, "metric_value", 1.5),
                     &st);
    pairs++;
    if (n <= TIA_METRIC_TYPE_MAX) {
        if (st != 201 && st != 200)
            fail_msg("metric_type [%.80s]: status %ld", s, st);
        want_rows[T_METRICS]++;
        char *e = pct(s), *path = malloc(strlen(e) + 128);
        sprintf(path, "/api/v1/metrics?agent_id=inj-m&metric_type=%s", e);
        json_t *g = call(f, NULL, "GET", path, NULL, &st);
        assert_int_equal(st, 200);
        json_t *items = json_object_get(g, "items");
        if (json_array_size(items) != 1)
            fail_msg("metric_type [%.80s]: %zu points found, want 1", s, json_array_size(items));
        assert_str_member(json_array_get(items, 0), "metric_type", s, "metric_type");
        json_decref(g);
        assert_db_text(f, "SELECT metric_type FROM agent_metrics WHERE metric_type = $1",
                       "SELECT metric_type FROM agent_metrics WHERE metric_type = ?1", s, s,
                       "metric_type");
        free(path);
        free(e);
        accepted++;
    } else {
        assert_refused(f, st, "metric_type", s);
    }
    json_decref(j);
    /* metric_unit and context, read back by a type of their own. */
    json_t *ctx = json_with(s);
    j = call(f, NULL, "POST", "/api/v1/metrics",
             json_pack("{s:[{s:s,s:s,s:f,s:s,s:O}]}", "metrics", "agent_id", "inj-m", "metric_type",
                       type, "metric_value", 2.5, "metric_unit", s, "context", ctx),
             &st);
    pairs += 2;
    if (n <= TIA_METRIC_UNIT_MAX) {
        if (st != 201 && st != 200)
            fail_msg("metric_unit [%.80s]: status %ld", s, st);
        want_rows[T_METRICS]++;
        char path[128];
        snprintf(path, sizeof path, "/api/v1/metrics?agent_id=inj-m&metric_type=%s", type);
        json_t *g = call(f, NULL, "GET", path, NULL, &st);
        json_t *p = json_array_get(json_object_get(g, "items"), 0);
        assert_str_member(p, "metric_unit", s, "metric_unit");
        assert_json_member(p, "context", ctx, "metric context");
        assert_db_text(f, "SELECT metric_unit FROM agent_metrics WHERE metric_type = $1",
                       "SELECT metric_unit FROM agent_metrics WHERE metric_type = ?1", type, s,
                       "metric_unit");
        assert_db_json(f, "SELECT context::text FROM agent_metrics WHERE metric_type = $1",
                       "SELECT context FROM agent_metrics WHERE metric_type = ?1", type, ctx,
                       "metric context");
        json_decref(g);
        accepted += 2;
    } else {
        /* The unit is too long: the context alone goes in, in a batch of two that is all
           or nothing (the second point is refused, so the first is not written either). */
        assert_refused(f, st, "metric_unit", s);
        json_decref(j);
        j = call(f, NULL, "POST", "/api/v1/metrics",
                 json_pack("{s:[{s:s,s:s,s:f,s:O},{s:s,s:s,s:f,s:s}]}", "metrics", "agent_id",
                           "inj-m", "metric_type", type, "metric_value", 2.5, "context", ctx,
                           "agent_id", "inj-m", "metric_type", type, "metric_value", 1.0,
                           "metric_unit", s),
                 &st);
        assert_refused(f, st, "metric batch with one bad unit", s);
    }
    json_decref(j);
    json_decref(ctx);
    /* agent_id: a reference, refused unless it names an agent (none of these do). */
    j = call(f, NULL, "POST", "/api/v1/metrics",
             json_pack("{s:[{s:s,s:s,s:f}]}", "metrics", "agent_id", s, "metric_type", "t",
                       "metric_value", 1.0),
             &st);
    pairs++;
    assert_refused(f, st, "metric agent_id", s);
    json_decref(j);
}

static void probe_interactions(tia_api_fixture *f, const char *wf, const char *s)
{
    long st;
    static const char *const keys[] = {"interaction_type", "message", "payload", "from_agent_id"};
    for (size_t i = 0; i < 4; i++) {
        json_t *b =
            json_pack("{s:s,s:s,s:s,s:s,s:s}", "workflow_id", wf, "from_agent_id", "inj-wa",
                      "to_agent_id", "inj-wb", "interaction_type", "handoff", "message", "m");
        json_t *v = i == 2 ? json_with(s) : json_string(s);
        json_object_set(b, keys[i], v);
        json_t *j = call(f, NULL, "POST", "/api/v1/interactions", b, &st);
        pairs++;
        /* interaction_type is one of four words and an agent id must name an agent. */
        int ok = i == 1 || i == 2;
        if (ok) {
            if (st != 201)
                fail_msg("interaction %s [%.80s]: status %ld", keys[i], s, st);
            want_rows[T_INTERACTIONS]++;
            const char *id = tia_json_str(j, "id");
            char path[128], pg[160], sq[160];
            snprintf(path, sizeof path, "/api/v1/workflows/%s/interactions", wf);
            json_t *g = call(f, NULL, "GET", path, NULL, &st);
            json_t *found = NULL, *it;
            size_t k;
            json_array_foreach(json_object_get(g, "items"), k,
                               it) if (strcmp(tia_json_str(it, "id"), id) == 0) found = it;
            if (found == NULL)
                fail_msg("interaction %s not listed", id);
            snprintf(pg, sizeof pg, "SELECT %s%s FROM agent_interactions WHERE id = $1::uuid",
                     keys[i], i == 2 ? "::text" : "");
            snprintf(sq, sizeof sq, "SELECT %s FROM agent_interactions WHERE id = ?1", keys[i]);
            if (i == 2) {
                assert_json_member(found, "payload", v, "payload");
                assert_db_json(f, pg, sq, id, v, "payload");
            } else {
                assert_str_member(found, "message", s, "message");
                assert_db_text(f, pg, sq, id, s, "message");
            }
            json_decref(g);
            accepted++;
        } else {
            assert_refused(f, st, keys[i], s);
        }
        json_decref(j);
        json_decref(v);
    }
}

static void probe_sessions(tia_api_fixture *f, const char *s)
{
    long st;
    size_t n = chars(s);
    json_t *dev = json_with(s);
    json_t *j = call(f, NULL, "POST", "/api/v1/sessions",
                     json_pack("{s:s,s:O}", "user_id", s, "device_info", dev), &st);
    pairs += 2;
    if (n <= TIA_USER_ID_MAX) {
        if (st != 201)
            fail_msg("login of user [%.80s]: status %ld", s, st);
        want_rows[T_SESSIONS]++;
        const char *token = tia_json_str(j, "token");
        assert_non_null(token);
        json_t *me = call(f, token, "GET", "/api/v1/sessions/current", NULL, &st);
        assert_int_equal(st, 200);
        assert_str_member(me, "user_id", s, "session user_id");
        assert_json_member(me, "device_info", dev, "device_info");
        assert_db_text(f, "SELECT user_id FROM user_sessions WHERE id = $1::uuid",
                       "SELECT user_id FROM user_sessions WHERE id = ?1", tia_json_str(me, "id"), s,
                       "session user_id");
        json_decref(me);
        /* Listed by user (the admin's filter): exactly this one. */
        char *e = pct(s), *path = malloc(strlen(e) + 64);
        sprintf(path, "/api/v1/sessions?user_id=%s", e);
        json_t *l = call(f, NULL, "GET", path, NULL, &st);
        assert_int_equal(st, 200);
        assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
        json_decref(l);
        free(path);
        free(e);
        accepted += 2;
    } else {
        assert_refused(f, st, "session user_id", s);
    }
    json_decref(j);
    json_decref(dev);
}

static void probe_prices(tia_api_fixture *f, const char *s)
{
    long st;
    char *e = pct(s), *path = malloc(strlen(e) + 64);
    sprintf(path, "/api/v1/prices/%s", e);
    json_t *j =
        call(f, NULL, "PUT", path, json_pack("{s:s}", "usd_per_1k_tokens", "0.012345"), &st);
    pairs++;
    if (chars(s) <= TIA_AGENT_MODEL_MAX) {
        if (st != 200 && st != 201)
            fail_msg("PUT price of model [%.80s]: status %ld", s, st);
        want_rows[T_PRICES]++;
        json_t *l = call(f, NULL, "GET", "/api/v1/prices", NULL, &st);
        json_t *it, *found = NULL;
        size_t k;
        json_array_foreach(json_object_get(l, "items"), k,
                           it) if (tia_json_str(it, "model") &&
                                   strcmp(tia_json_str(it, "model"), s) == 0) found = it;
        if (found == NULL)
            fail_msg("price of model [%.80s] not listed", s);
        json_decref(l);
        assert_db_text(f, "SELECT model FROM model_prices WHERE model = $1",
                       "SELECT model FROM model_prices WHERE model = ?1", s, s, "price model");
        accepted++;
    } else {
        assert_refused(f, st, "price model", s);
    }
    json_decref(j);
    free(path);
    free(e);
}

static void test_metrics_interactions_sessions_prices(void **state)
{
    tia_api_fixture *f = *state;
    make_canaries(f);
    for (size_t i = 0; i < n_corpus; i++) {
        probe_metrics(f, i, corpus[i]);
        probe_interactions(f, canary_wf, corpus[i]);
        probe_sessions(f, corpus[i]);
        if (strchr(corpus[i], '/') == NULL) /* see test_ids_with_slash */
            probe_prices(f, corpus[i]);
        assert_counts(f, "metrics, interactions, sessions, prices", corpus[i]);
    }
    check_canaries(f);
}

/*
 * Ids that hold a '/' (an agent "team/a", a model "meta-llama/Llama-3-70b"): the
 * API accepts them in bodies, so their records must be reachable by their
 * percent-encoded path ("%2F"), which must not split into two segments.
 */
static void test_ids_with_slash(void **state)
{
    tia_api_fixture *f = *state;
    make_canaries(f);
    size_t n = 0;
    for (size_t i = 0; i < n_corpus; i++) {
        if (strchr(corpus[i], '/') == NULL)
            continue;
        probe_agent_id(f, corpus[i]);
        probe_prices(f, corpus[i]);
        n++;
    }
    probe_agent_id(f, "team/a");
    probe_prices(f, "meta-llama/Llama-3-70b");
    assert_true(n >= 5);
    check_canaries(f);
}

/* ---- the original API ---- */

static void probe_compat(tia_api_fixture *f, const char *s)
{
    long st;
    size_t n = chars(s);
    /* POST /api/tasks: task_type, description, input_data. */
    static const struct {
        const char *key;
        size_t max;
    } tf[] = {{"task_type", TIA_TASK_TYPE_MAX}, {"description", 0}, {"input_data", SIZE_MAX}};
    for (size_t i = 0; i < 3; i++) {
        int is_json = tf[i].max == SIZE_MAX;
        json_t *v = is_json ? json_with(s) : json_string(s);
        json_t *b =
            json_pack("{s:s,s:s,s:s}", "agent_id", "inj-wa", "task_type", "t", "description", "d");
        json_object_set(b, tf[i].key, v);
        json_t *j = call(f, NULL, "POST", "/api/tasks", b, &st);
        pairs++;
        if (is_json || tf[i].max == 0 || n <= tf[i].max) {
            if (st != 201)
                fail_msg("POST /api/tasks %s [%.80s]: status %ld", tf[i].key, s, st);
            want_rows[T_TASKS]++;
            if (is_json)
                assert_json_member(j, tf[i].key, v, tf[i].key);
            else
                assert_str_member(j, tf[i].key, s, tf[i].key);
            accepted++;
            /* PUT: failed with the string as error_message, then read back. */
            char path[128];
            snprintf(path, sizeof path, "/api/tasks/%s", tia_json_str(j, "id"));
            if (i < 2) { /* started first: a pending task can be neither completed nor failed */
                json_decref(
                    call(f, NULL, "PUT", path, json_pack("{s:s}", "status", "running"), &st));
                assert_int_equal(st, 200);
            }
            if (i == 0) {
                json_t *u =
                    call(f, NULL, "PUT", path,
                         json_pack("{s:s,s:s}", "status", "failed", "error_message", s), &st);
                pairs++;
                assert_int_equal(st, 200);
                assert_str_member(u, "error_message", s, "compat error_message");
                json_decref(u);
                accepted++;
            } else if (i == 1) {
                json_t *out = json_with(s);
                json_t *u =
                    call(f, NULL, "PUT", path,
                         json_pack("{s:s,s:O}", "status", "completed", "output_data", out), &st);
                pairs++;
                assert_int_equal(st, 200);
                assert_json_member(u, "output_data", out, "compat output_data");
                json_decref(u);
                want_rows[T_METRICS] = count(f, T_METRICS); /* the completion's own metrics */
                json_decref(out);
                accepted++;
            }
        } else {
            assert_refused(f, st, tf[i].key, s);
        }
        json_decref(j);
        json_decref(v);
    }
    /* POST /api/workflows: name, description, workflow_type, initiator, metadata. */
    static const struct {
        const char *key;
        size_t max;
    } wf[] = {{"name", TIA_WORKFLOW_NAME_MAX},
              {"description", 0},
              {"workflow_type", TIA_WORKFLOW_TYPE_MAX},
              {"initiator", TIA_INITIATOR_MAX},
              {"metadata", SIZE_MAX}};
    for (size_t i = 0; i < 5; i++) {
        int is_json = wf[i].max == SIZE_MAX;
        json_t *v = is_json ? json_with(s) : json_string(s);
        json_t *b = json_pack("{s:s}", "name", "w");
        json_object_set(b, wf[i].key, v);
        json_t *j = call(f, NULL, "POST", "/api/workflows", b, &st);
        pairs++;
        if (is_json || wf[i].max == 0 || n <= wf[i].max) {
            if (st != 201)
                fail_msg("POST /api/workflows %s [%.80s]: status %ld", wf[i].key, s, st);
            want_rows[T_WORKFLOWS]++;
            char path[128];
            snprintf(path, sizeof path, "/api/workflows/%s", tia_json_str(j, "id"));
            json_t *g = call(f, NULL, "GET", path, NULL, &st);
            assert_int_equal(st, 200);
            if (is_json)
                assert_json_member(g, wf[i].key, v, wf[i].key);
            else
                assert_str_member(g, wf[i].key, s, wf[i].key);
            json_decref(g);
            accepted++;
        } else {
            assert_refused(f, st, wf[i].key, s);
        }
        json_decref(j);
        json_decref(v);
    }
    assert_counts(f, "original API", s);
}

static void test_compat(void **state)
{
    tia_api_fixture *f = *state;
    make_canaries(f);
    for (size_t i = 0; i < n_corpus; i++)
        probe_compat(f, corpus[i]);
    check_canaries(f);
}

/* Runs last: prints the figures for docs/reliability.md. */
static void test_report(void **state)
{
    (void)state;
    printf("injection: %zu strings, %zu (field, string) pairs tried: %zu stored and read back "
           "literally, %zu refused with a 4xx and nothing written, the rest looked up and "
           "found nothing\n",
           n_corpus, pairs, accepted, refused);
    assert_true(pairs > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workflows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_interactions_sessions_prices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_with_slash, setup, teardown),
        cmocka_unit_test(test_report),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (size_t i = 0; i < n_corpus; i++)
        free(corpus[i]);
    free(corpus);
    return rc;
}
