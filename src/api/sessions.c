/*
 * Routes of the Registry API for sessions: login (a new session and its token,
 * shown this once: the database keeps only its hash), the caller's own sessions,
 * the current session, logout, and revocation. A caller acts for its own user;
 * an admin (or a server with auth off) for anyone. The session's ip_address is
 * the connection's address, not anything the client claims, and device_info is
 * what the client says about itself, else its User-Agent.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

#define DAY_US (INT64_C(86400) * 1000000)

static const char *const login_members[] = {"user_id", "ttl", "ttl_ms", "device_info", NULL};

/*
 * The caller's session, for the routes that are about it. Without one: with auth
 * off there is no current session (404); otherwise the request was an anonymous
 * read of a public-read server, and sessions are never public (401).
 */
static int need_session(tia__call *c)
{
    if (c->session)
        return 0;
    if (c->api->cfg.auth == TIA_AUTH_OFF)
        tia__fail(c, MHD_HTTP_NOT_FOUND, "not_found",
                  "there is no current session: authentication is off");
    else
        tia__fail(c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                  "this request needs a session token (Authorization: Bearer <token>)");
    return -1;
}

/* 401 for an anonymous caller of a public-read server; 0 otherwise. */
static int no_anonymous(tia__call *c)
{
    if (c->session == NULL && c->api->cfg.auth != TIA_AUTH_OFF)
        return need_session(c);
    return 0;
}

/* The lifetime from "ttl" ("24h") or "ttl_ms" (an integer); 24 hours by default. */
static int body_ttl(tia__call *c, int64_t *ttl_us)
{
    const char *text = NULL;
    int64_t ms = -1;
    *ttl_us = DAY_US;
    if (tia__body_str(c, "ttl", 0, &text) != 0 || tia__body_int(c, "ttl_ms", 0, -1, &ms) != 0)
        return -1;
    int has_ms = json_object_get(c->body, "ttl_ms") != NULL &&
                 !json_is_null(json_object_get(c->body, "ttl_ms"));
    if (text && has_ms) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "give ttl or ttl_ms, not both");
        return -1;
    }
    if (text && tia_duration_parse(text, ttl_us) != 0) {
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                  "ttl must be a duration such as 24h, 30m or 7d");
        return -1;
    }
    if (has_ms) {
        if (ms < 1 || ms > INT64_MAX / 1000) {
            tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                      "ttl_ms must be a positive integer");
            return -1;
        }
        *ttl_us = ms * 1000;
    }
    return 0;
}

/* device_info from the body (an object), else {"user_agent": <User-Agent>}, else NULL. */
static int device_info(tia__call *c, char **out)
{
    json_t *v = json_object_get(c->body, "device_info");
    *out = NULL;
    if (v && !json_is_null(v)) {
        if (!json_is_object(v)) {
            tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                      "device_info must be an object");
            return -1;
        }
        return tia__body_json_text(c, "device_info", out);
    }
    const char *ua = tia__value(c, MHD_HEADER_KIND, "User-Agent");
    if (ua == NULL)
        return 0;
    /* json_string refuses invalid UTF-8: such a User-Agent is simply not recorded. */
    json_t *o = json_pack("{s:s}", "user_agent", ua);
    if (o)
        *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return 0;
}

/* POST /api/v1/sessions {"user_id", "ttl" | "ttl_ms", "device_info"} -> 201 */
static void sessions_login(tia__call *c)
{
    tia_session_new n = {0};
    char *device = NULL;
    char token[TIA_TOKEN_BUF] = "", id[TIA_UUID_BUF];
    tia_session *got = NULL;
    tia_error err = {0};
    int rc;
    if (tia__body_only(c, login_members) != 0 ||
        tia__body_str(c, "user_id", c->session == NULL, &n.user_id) != 0 ||
        body_ttl(c, &n.ttl_us) != 0)
        goto done;
    if (n.user_id == NULL)
        n.user_id = c->session->user_id;
    if (!tia__may_act_for(c, n.user_id)) {
        tia__fail(c, MHD_HTTP_FORBIDDEN, "forbidden",
                  "only an admin may create a session for another user");
        goto done;
    }
    if (device_info(c, &device) != 0)
        goto done;
    n.device_info = device;
    n.ip_address = strcmp(c->client_ip, "unknown") != 0 ? c->client_ip : NULL;
    tia_store *s = tia__store(c);
    if (s == NULL)
        goto done;
    if ((rc = tia_session_create(s, &n, token, id, &err)) != 0 ||
        (rc = tia_session_get(s, id, &got, &err)) != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    snprintf(c->location, sizeof c->location, "/api/v1/sessions/%s", id);
    tia__reply(c, MHD_HTTP_CREATED,
               json_pack("{s:s,s:o}", "token", token, "session", tia__json_session(got)));
done:
    /* The token lives only in the answer. */
    memset(token, 0, sizeof token);
    tia_session_free(got);
    free(device);
}

/* GET /api/v1/sessions[?user_id=]: the caller's own; other users' for an admin. */
static void sessions_list(tia__call *c)
{
    struct tia_session_list l = {0};
    tia_error err = {0};
    const char *user = tia__query(c, "user_id");
    if (no_anonymous(c) != 0)
        return;
    if (user && !tia__may_act_for(c, user)) {
        tia__fail(c, MHD_HTTP_FORBIDDEN, "forbidden",
                  "only an admin may list another user's sessions");
        return;
    }
    if (user == NULL && c->session)
        user = c->session->user_id;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_session_list(s, user, &l, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(items, tia__json_session(l.items[i]));
    tia__reply(c, MHD_HTTP_OK, json_pack("{s:o,s:n}", "items", items, "next_cursor"));
done:
    tia_session_list_free(&l);
}

/* GET /api/v1/sessions/current */
static void sessions_current(tia__call *c)
{
    if (need_session(c) != 0)
        return;
    tia__reply(c, MHD_HTTP_OK, tia__json_session(c->session));
}

static void revoke_session(tia__call *c, const char *id)
{
    tia_error err = {0};
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_session_revoke(s, id, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    tia__reply(c, MHD_HTTP_NO_CONTENT, NULL);
}

/* DELETE /api/v1/sessions/current: logout. */
static void sessions_logout(tia__call *c)
{
    if (need_session(c) != 0)
        return;
    revoke_session(c, c->session->id);
}

/* DELETE /api/v1/sessions/{id}: revoke one's own session (an admin: anyone's). */
static void sessions_revoke(tia__call *c)
{
    const char *id;
    tia_session *target = NULL;
    tia_error err = {0};
    if (no_anonymous(c) != 0 || tia__param_uuid(c, 0, &id) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_session_get(s, id, &target, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    if (!tia__may_act_for(c, target->user_id)) {
        tia__fail(c, MHD_HTTP_FORBIDDEN, "forbidden", "this session belongs to another user");
        goto done;
    }
    revoke_session(c, id);
done:
    tia_session_free(target);
}

/* GET /api/v1/sessions/{id}: one of the caller's sessions (any, for an admin). */
static void sessions_get(tia__call *c)
{
    const char *id;
    tia_session *target = NULL;
    tia_error err = {0};
    if (no_anonymous(c) != 0 || tia__param_uuid(c, 0, &id) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_session_get(s, id, &target, &err);
    if (rc != 0)
        tia__fail_rc(c, rc, &err);
    else if (!tia__may_act_for(c, target->user_id))
        /* 404, not 403: whether another user's session exists is not the caller's to know. */
        tia__fail(c, MHD_HTTP_NOT_FOUND, "not_found", "no such session: %s", id);
    else
        tia__reply(c, MHD_HTTP_OK, tia__json_session(target));
    tia_session_free(target);
}

static const tia__route routes[] = {
    {"POST", "/api/v1/sessions", sessions_login, TIA__R_JSON,
     "Log in: create a session and return its token (shown once)"},
    {"GET", "/api/v1/sessions", sessions_list, 0,
     "The caller's sessions (an admin may pass ?user_id=)"},
    {"GET", "/api/v1/sessions/current", sessions_current, 0, "The caller's session"},
    {"DELETE", "/api/v1/sessions/current", sessions_logout, 0,
     "Log out: revoke the caller's session"},
    {"GET", "/api/v1/sessions/{id}", sessions_get, 0, "One of the caller's sessions"},
    {"DELETE", "/api/v1/sessions/{id}", sessions_revoke, 0, "Revoke a session (one's own)"},
};

const tia__route_table tia__routes_sessions = {routes, sizeof routes / sizeof routes[0]};
