/*
 * Routes of the Registry API for agents and their statistics: list, get, create,
 * partial update, status and delete of agents; an agent's agent_stats row
 * (optionally with the seed's windowed statistics), the same for every agent at
 * /api/v1/stats, and an agent's recent tasks by cursor pages. The handlers only
 * translate between JSON and the library: the library checks lengths, formats
 * and references, and its refusals become 422/404/409 through tia__fail_rc.
 * (The agent's bucketed metrics route lives in metrics.c, beside the series
 * query it shares.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/stats.h>
#include <tokyoia/tasks.h>

#include "api/api.h"

/* Members an agent may be created with; update takes the same but id. */
static const char *const create_members[] = {
    "id",     "name",     "role", "model", "specialties", "backstory", "personality_emoji",
    "status", "metadata", NULL};
static const char *const update_members[] = {"name",        "role",      "model",
                                             "specialties", "backstory", "personality_emoji",
                                             "status",      "metadata",  NULL};
static const char *const status_members[] = {"status", NULL};

/* {"items": items, "next_cursor": next or null}; steals items. */
static json_t *page(json_t *items, const char *next)
{
    json_t *o = json_object();
    json_object_set_new(o, "items", items);
    json_object_set_new(o, "next_cursor", next && *next ? json_string(next) : json_null());
    return o;
}

/*
 * Location of an agent: its id percent-encoded (ids are free text). An id whose
 * encoding does not fit the header buffer gets no Location rather than a wrong one.
 */
static void set_location(tia__call *c, const char *id)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *prefix = "/api/v1/agents/";
    size_t n = strlen(prefix), cap = sizeof c->location;
    memcpy(c->location, prefix, n + 1);
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        if (n + (plain ? 1 : 3) >= cap) {
            c->location[0] = '\0';
            return;
        }
        if (plain) {
            c->location[n++] = (char)*p;
        } else {
            c->location[n++] = '%';
            c->location[n++] = hex[*p >> 4];
            c->location[n++] = hex[*p & 15];
        }
    }
    c->location[n] = '\0';
}

/* Answers 200 (or status) with the agent as stored now. */
static void reply_agent(tia__call *c, tia_store *s, const char *id, int status)
{
    tia_agent *a = NULL;
    tia_error err = {0};
    int rc = tia_agent_get(s, id, &a, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    tia__reply(c, status, tia__json_agent(a));
    tia_agent_free(a);
}

/* An agent status named by the body member "status"; 422 for anything else. */
static int body_status(tia__call *c, int required, int *present, tia_agent_status *out)
{
    const char *v = NULL;
    *present = 0;
    if (tia__body_str(c, "status", required, &v) != 0)
        return -1;
    if (v == NULL)
        return 0;
    if (tia_agent_status_parse(v, out) != 0) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                  "status must be one of active, inactive, maintenance");
        return -1;
    }
    *present = 1;
    return 0;
}

/* The "metadata" member as JSON text: an object, or absent/null (*out NULL). */
static int body_metadata(tia__call *c, char **out)
{
    json_t *v = json_object_get(c->body, "metadata");
    *out = NULL;
    if (v != NULL && !json_is_null(v) && !json_is_object(v)) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "metadata must be an object");
        return -1;
    }
    return tia__body_json_text(c, "metadata", out);
}

/* A member that, when present, must be a string or null (null clears it). */
static int body_nullable_str(tia__call *c, const char *key, int *present, const char **out)
{
    json_t *v = json_object_get(c->body, key);
    *present = v != NULL;
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s must be a string or null", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* GET /api/v1/agents?status= */
static void agents_list(tia__call *c)
{
    struct tia_agent_list l = {0};
    tia_error err = {0};
    tia_agent_status st;
    const char *sv = tia__query(c, "status");
    if (sv && tia_agent_status_parse(sv, &st) != 0) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request",
                  "status must be one of active, inactive, maintenance");
        return;
    }
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_agent_list(s, sv ? &st : NULL, &l, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(items, tia__json_agent(l.items[i]));
    tia__reply(c, MHD_HTTP_OK, page(items, NULL));
done:
    tia_agent_list_free(&l);
}

/* POST /api/v1/agents */
static void agents_create(tia__call *c)
{
    tia_agent_new a = {0};
    const char **spec = NULL;
    char *metadata = NULL;
    int has_status = 0;
    tia_error err = {0};
    if (tia__body_only(c, create_members) != 0 || tia__body_str(c, "id", 1, &a.id) != 0 ||
        tia__body_str(c, "name", 1, &a.name) != 0 || tia__body_str(c, "role", 1, &a.role) != 0 ||
        tia__body_str(c, "model", 1, &a.model) != 0 ||
        tia__body_strv(c, "specialties", 0, &spec, &a.n_specialties) != 0 ||
        tia__body_str(c, "backstory", 0, &a.backstory) != 0 ||
        tia__body_str(c, "personality_emoji", 0, &a.personality_emoji) != 0 ||
        body_status(c, 0, &has_status, &a.status) != 0 || body_metadata(c, &metadata) != 0)
        goto done;
    a.specialties = spec;
    a.metadata = metadata;
    tia_store *s = tia__store(c);
    if (s == NULL)
        goto done;
    int rc = tia_agent_create(s, &a, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    set_location(c, a.id);
    reply_agent(c, s, a.id, MHD_HTTP_CREATED);
done:
    free(spec);
    free(metadata);
}

/* GET /api/v1/agents/{id} */
static void agents_get(tia__call *c)
{
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    reply_agent(c, s, c->param[0], MHD_HTTP_OK);
}

/* PATCH /api/v1/agents/{id}: only the members present are written. */
static void agents_update(tia__call *c)
{
    struct tia_agent_update u = {0};
    const char **spec = NULL;
    char *metadata = NULL;
    int present;
    tia_error err = {0};
    if (tia__body_only(c, update_members) != 0)
        goto done;
    static const struct {
        const char *key;
        unsigned flag;
    } required_text[] = {
        {"name", TIA_AGENT_SET_NAME}, {"role", TIA_AGENT_SET_ROLE}, {"model", TIA_AGENT_SET_MODEL}};
    const char **dst[] = {&u.name, &u.role, &u.model};
    for (size_t i = 0; i < 3; i++) {
        if (json_object_get(c->body, required_text[i].key) == NULL)
            continue;
        /* Present means set: null is as wrong as a number here. */
        if (tia__body_str(c, required_text[i].key, 1, dst[i]) != 0)
            goto done;
        u.fields |= required_text[i].flag;
    }
    if (json_object_get(c->body, "specialties")) {
        if (tia__body_strv(c, "specialties", 1, &spec, &u.n_specialties) != 0)
            goto done;
        u.specialties = spec;
        u.fields |= TIA_AGENT_SET_SPECIALTIES;
    }
    if (body_nullable_str(c, "backstory", &present, &u.backstory) != 0)
        goto done;
    if (present)
        u.fields |= TIA_AGENT_SET_BACKSTORY;
    if (body_nullable_str(c, "personality_emoji", &present, &u.personality_emoji) != 0)
        goto done;
    if (present)
        u.fields |= TIA_AGENT_SET_EMOJI;
    if (body_status(c, 0, &present, &u.status) != 0)
        goto done;
    if (present)
        u.fields |= TIA_AGENT_SET_STATUS;
    if (json_object_get(c->body, "metadata")) {
        if (body_metadata(c, &metadata) != 0)
            goto done;
        u.metadata = metadata;
        u.fields |= TIA_AGENT_SET_METADATA;
    }
    tia_store *s = tia__store(c);
    if (s == NULL)
        goto done;
    int rc = tia_agent_update(s, c->param[0], &u, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    reply_agent(c, s, c->param[0], MHD_HTTP_OK);
done:
    free(spec);
    free(metadata);
}

/* PUT /api/v1/agents/{id}/status {"status": "..."} */
static void agents_set_status(tia__call *c)
{
    tia_agent_status st;
    int present;
    tia_error err = {0};
    if (tia__body_only(c, status_members) != 0 || body_status(c, 1, &present, &st) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_agent_set_status(s, c->param[0], st, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    reply_agent(c, s, c->param[0], MHD_HTTP_OK);
}

/* DELETE /api/v1/agents/{id} */
static void agents_delete(tia__call *c)
{
    tia_error err = {0};
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_agent_delete(s, c->param[0], &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    tia__reply(c, MHD_HTTP_NO_CONTENT, NULL);
}

/* ---- statistics ---- */

/* ?window=: *present 0 when absent; 400 for a bad duration. */
static int query_window(tia__call *c, int *present, int64_t *window_us)
{
    *present = tia__query(c, "window") != NULL;
    if (tia__query_duration(c, "window", 0, window_us) != 0)
        return -1;
    if (*window_us > TIA_STATS_WINDOW_MAX_US) {
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "window must be at most 100 years");
        return -1;
    }
    return 0;
}

/*
 * One agent_stats row as JSON text into w, with "window" (the seed's statistics
 * over the last window_us, and the window itself in ms) when asked for.
 */
static int stats_text(tia_store *s, const tia_agent_stats *st, int windowed, int64_t window_us,
                      tia__jw *w, tia_error *err)
{
    tia_agent_window_stats ws = {0};
    if (windowed) {
        int rc = tia_stats_agent_window(s, st->id, window_us, &ws, err);
        if (rc != 0)
            return rc;
    }
    tia__jw_agent_stats_open(w, st);
    if (windowed) {
        tia__jw_key(w, "window");
        tia__jw_window_stats_open(w, &ws);
        tia__jw_key(w, "window_ms");
        tia__jw_int(w, window_us / 1000);
        tia__jw_end_obj(w);
    }
    tia__jw_end_obj(w);
    return 0;
}

/* GET /api/v1/agents/{id}/stats[?window=24h] */
static void agent_stats(tia__call *c)
{
    tia_agent_stats_list l = {0};
    tia_error err = {0};
    tia__jw w = {0};
    int windowed, rc;
    int64_t window_us;
    if (query_window(c, &windowed, &window_us) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    /* agent_stats comes from one counters row per agent: a handful of rows. */
    if ((rc = tia_stats_agents(s, &l, &err)) != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    const tia_agent_stats *st = NULL;
    for (size_t i = 0; i < l.n && st == NULL; i++)
        if (strcmp(l.items[i].id, c->param[0]) == 0)
            st = &l.items[i];
    if (st == NULL) {
        tia__fail(c, MHD_HTTP_NOT_FOUND, "not_found", "no agent '%.64s'", c->param[0]);
        goto done;
    }
    if ((rc = stats_text(s, st, windowed, window_us, &w, &err)) != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    tia__reply_jw(c, MHD_HTTP_OK, &w);
done:
    tia__jw_free(&w);
    tia_agent_stats_list_free(&l);
}

/* GET /api/v1/stats[?window=24h]: every agent's row. */
static void stats_all(tia__call *c)
{
    tia_agent_stats_list l = {0};
    tia_error err = {0};
    tia__jw w = {0};
    int windowed, rc;
    int64_t window_us;
    if (query_window(c, &windowed, &window_us) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    if ((rc = tia_stats_agents(s, &l, &err)) != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    tia__jw_obj(&w);
    tia__jw_key(&w, "items");
    tia__jw_arr(&w);
    for (size_t i = 0; i < l.n; i++) {
        if ((rc = stats_text(s, &l.items[i], windowed, window_us, &w, &err)) != 0) {
            tia__fail_rc(c, rc, &err);
            goto done;
        }
    }
    tia__jw_end_arr(&w);
    tia__jw_key(&w, "next_cursor");
    tia__jw_null(&w);
    tia__jw_end_obj(&w);
    tia__reply_jw(c, MHD_HTTP_OK, &w);
done:
    tia__jw_free(&w);
    tia_agent_stats_list_free(&l);
}

/* GET /api/v1/agents/{id}/tasks?limit=&status=&cursor=: newest first. */
static void agent_tasks(tia__call *c)
{
    struct tia_task_list l = {0};
    tia_task_filter f = {0};
    tia_error err = {0};
    int has_status, st, rc;
    tia_run_status status;
    if (tia__query_limit(c, 50, TIA_PAGE_MAX, &f.limit) != 0 ||
        tia__query_run_status(c, "status", &has_status, &st) != 0)
        return;
    status = (tia_run_status)st;
    f.agent_id = c->param[0];
    f.status = has_status ? &status : NULL;
    f.cursor = tia__query(c, "cursor");
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    rc = tia_task_list(s, &f, &l, &err);
    if (rc == TIA_EINVAL) {
        /* The filter comes from the query string: a bad cursor is a bad request. */
        tia__fail(c, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", err.message);
        goto done;
    }
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    if (l.n == 0) {
        /* An empty page may mean no such agent; only then is it worth a lookup. */
        tia_agent *a = NULL;
        rc = tia_agent_get(s, c->param[0], &a, &err);
        tia_agent_free(a);
        if (rc != 0) {
            tia__fail_rc(c, rc, &err);
            goto done;
        }
    }
    tia__reply_task_page(c, &l);
done:
    tia_task_list_free(&l);
}

static const tia__route routes[] = {
    {"GET", "/api/v1/agents", agents_list, TIA__R_SHARED, "List agents (?status=)"},
    {"POST", "/api/v1/agents", agents_create, TIA__R_JSON, "Create an agent"},
    {"GET", "/api/v1/agents/{id}", agents_get, TIA__R_SHARED, "Get an agent"},
    {"PATCH", "/api/v1/agents/{id}", agents_update, TIA__R_JSON, "Update an agent (partial)"},
    {"DELETE", "/api/v1/agents/{id}", agents_delete, 0, "Delete an agent"},
    {"PUT", "/api/v1/agents/{id}/status", agents_set_status, TIA__R_JSON, "Set an agent's status"},
    {"GET", "/api/v1/agents/{id}/stats", agent_stats, TIA__R_SHARED,
     "An agent's agent_stats row (?window= adds windowed statistics)"},
    {"GET", "/api/v1/agents/{id}/tasks", agent_tasks, TIA__R_SHARED,
     "An agent's recent tasks, newest first (?limit=&status=&cursor=)"},
    {"GET", "/api/v1/stats", stats_all, TIA__R_SHARED,
     "agent_stats of every agent (?window= adds windowed statistics)"},
};

const tia__route_table tia__routes_agents = {routes, sizeof routes / sizeof routes[0]};
