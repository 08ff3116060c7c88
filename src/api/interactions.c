/*
 * Routes of the Registry API for agent interactions (handoffs, collaboration,
 * reviews, feedback): record one, and list those of a workflow in the order
 * they happened, with both agents' names. The store has no "get one
 * interaction" call, so a recorded interaction is read back from its
 * workflow's list, or, outside any workflow, answered from what was recorded
 * and the agents' names.
 */
#include <stdlib.h>
#include <string.h>

#include <tokyoia/agents.h>
#include <tokyoia/interactions.h>

#include "api/api.h"

/* A library refusal of a body: a reference to a missing row is a bad member (422). */
static void fail_body_rc(tia__call *c, int rc, const tia_error *err)
{
    if (rc == TIA_ENOTFOUND)
        tia__fail(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s", err->message);
    else
        tia__fail_rc(c, rc, err);
}

/* The interaction id of workflow wf as recorded, into *out. */
static int read_back(tia_store *s, const char *wf, const char *id, json_t **out, tia_error *err)
{
    tia_interaction_list l = {0};
    int rc = tia_interaction_list_for_workflow(s, wf, &l, err);
    *out = NULL;
    for (size_t i = 0; rc == 0 && i < l.n && *out == NULL; i++)
        if (strcmp(l.items[i].id, id) == 0)
            *out = tia__json_interaction(&l.items[i]);
    if (rc == 0 && *out == NULL)
        rc = tia_error_set(err, TIA_ENOTFOUND, "interaction %s vanished", id);
    tia_interaction_list_free(&l);
    return rc;
}

/* An interaction outside any workflow, from what was recorded. */
static int built(tia_store *s, const tia_interaction_new *in, const char *id, json_t **out,
                 tia_error *err)
{
    tia_agent *from = NULL, *to = NULL;
    tia_interaction r = {0};
    int rc = tia_agent_get(s, in->from_agent_id, &from, err);
    if (rc == 0)
        rc = tia_agent_get(s, in->to_agent_id, &to, err);
    if (rc == 0) {
        memcpy(r.id, id, TIA_UUID_BUF);
        r.from_agent_id = from->id;
        r.to_agent_id = to->id;
        r.from_agent_name = from->name;
        r.to_agent_name = to->name;
        r.interaction_type = (char *)in->interaction_type;
        r.message = (char *)in->message;
        r.payload = (char *)in->payload;
        r.created_at = tia_now_us();
        *out = tia__json_interaction(&r);
    }
    tia_agent_free(from);
    tia_agent_free(to);
    return rc;
}

static const char *const members[] = {
    "workflow_id", "from_agent_id", "to_agent_id", "interaction_type", "message", "payload", NULL};

/* POST /api/v1/interactions -> 201 with the interaction and both agents' names. */
static void interaction_create(tia__call *c)
{
    tia_interaction_new in = {0};
    char *payload = NULL;
    char id[TIA_UUID_BUF];
    json_t *o = NULL;
    tia_error err = {0};
    tia_store *s;
    if (tia__body_only(c, members) != 0 ||
        tia__body_str(c, "workflow_id", 0, &in.workflow_id) != 0 ||
        tia__body_str(c, "from_agent_id", 1, &in.from_agent_id) != 0 ||
        tia__body_str(c, "to_agent_id", 1, &in.to_agent_id) != 0 ||
        tia__body_str(c, "interaction_type", 1, &in.interaction_type) != 0 ||
        tia__body_str(c, "message", 0, &in.message) != 0 ||
        tia__body_json_text(c, "payload", &payload) != 0)
        goto done;
    in.payload = payload;
    if ((s = tia__store(c)) == NULL)
        goto done;
    int rc = tia_interaction_record(s, &in, id, &err);
    if (rc != 0) {
        fail_body_rc(c, rc, &err);
        goto done;
    }
    rc = in.workflow_id ? read_back(s, in.workflow_id, id, &o, &err) : built(s, &in, id, &o, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        goto done;
    }
    tia__reply(c, MHD_HTTP_CREATED, o);
done:
    free(payload);
}

/* GET /api/v1/workflows/{id}/interactions */
static void interaction_list(tia__call *c)
{
    const char *wf;
    tia_interaction_list l = {0};
    tia_error err = {0};
    if (tia__param_uuid(c, 0, &wf) != 0)
        return;
    tia_store *s = tia__store(c);
    if (s == NULL)
        return;
    int rc = tia_interaction_list_for_workflow(s, wf, &l, &err);
    if (rc != 0) {
        tia__fail_rc(c, rc, &err);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(items, tia__json_interaction(&l.items[i]));
    tia__reply(c, MHD_HTTP_OK, json_pack("{s:o,s:n}", "items", items, "next_cursor"));
    tia_interaction_list_free(&l);
}

static const tia__route routes[] = {
    {"POST", "/api/v1/interactions", interaction_create, TIA__R_JSON,
     "Record an interaction between agents"},
    {"GET", "/api/v1/workflows/{id}/interactions", interaction_list, TIA__R_SHARED,
     "List a workflow's interactions"},
};

const tia__route_table tia__routes_interactions = {routes, sizeof routes / sizeof routes[0]};
