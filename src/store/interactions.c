/*
 * The agent_interactions table: who handed what to whom. Recording relies on the
 * foreign keys to refuse unknown agents and workflows (no check-then-insert race);
 * only when the database refuses does a second query find out which reference
 * was missing, so that the message can name it. Listing is the seed's
 * "agent interactions in a workflow" query, run as one statement from the
 * workflow outward so that an unknown workflow and an empty one are told apart
 * in the same snapshot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokyoia/interactions.h>

#include "core/validate.h"
#include "store/db.h"

static const char *const interaction_types[] = {"handoff", "collaboration", "review", "feedback"};

static const tia__sql sql_insert = {
    "interaction.insert",
    "INSERT INTO agent_interactions (id, workflow_id, from_agent_id, to_agent_id, "
    "interaction_type, message, payload) VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7::jsonb)",
    "INSERT INTO agent_interactions (id, workflow_id, from_agent_id, to_agent_id, "
    "interaction_type, message, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
};

/* 1 or 0 for each reference of an interaction: from agent, to agent, workflow. */
static const tia__sql sql_refs = {
    "interaction.refs",
    "SELECT EXISTS (SELECT 1 FROM agents WHERE id = $1)::int, "
    "EXISTS (SELECT 1 FROM agents WHERE id = $2)::int, "
    "($3::uuid IS NULL OR EXISTS (SELECT 1 FROM workflows WHERE id = $3::uuid))::int",
    "SELECT EXISTS (SELECT 1 FROM agents WHERE id = ?1), "
    "EXISTS (SELECT 1 FROM agents WHERE id = ?2), "
    "(?3 IS NULL OR EXISTS (SELECT 1 FROM workflows WHERE id = ?3))",
};

/* One row with NULL interaction columns for a workflow without interactions. */
/*
 * The seed's "agent interactions in a workflow" query. The order (created_at,
 * then id) is made in C (by_time): a workflow has few interactions, and sorting
 * them there costs less than the database's sort step. Only an empty answer
 * needs sql_workflow_exists, to tell a quiet workflow from an unknown one. The
 * rows come in binary format on PostgreSQL (tia__sql.binary): created_at, the
 * uuids and the payload as the server stores them, no text conversion. On
 * PostgreSQL the agents' names are looked up by key for each row (both agents
 * exist: foreign keys): with the connections' random_page_cost of 1.1 (pg.c) the
 * seed's two joins were planned as a hash join and a Memoize, about 10 us slower
 * than these lookups on a workflow's few rows (bench/README.md, session 7).
 */
static const tia__sql sql_list = {
    .name = "interaction.list_for_workflow",
    .pg = "SELECT i.id, i.workflow_id, i.from_agent_id, i.to_agent_id, "
          "(SELECT a.name FROM agents a WHERE a.id = i.from_agent_id), "
          "(SELECT a.name FROM agents a WHERE a.id = i.to_agent_id), "
          "i.interaction_type, i.message, i.payload, i.created_at "
          "FROM agent_interactions i WHERE i.workflow_id = $1::uuid",
    .sqlite = "SELECT i.id, i.workflow_id, i.from_agent_id, i.to_agent_id, a1.name, a2.name, "
              "i.interaction_type, i.message, i.payload, i.created_at "
              "FROM agent_interactions i JOIN agents a1 ON i.from_agent_id = a1.id "
              "JOIN agents a2 ON i.to_agent_id = a2.id "
              "WHERE i.workflow_id = ?1",
    .binary = 1,
};

static const tia__sql sql_workflow_exists = {
    "interaction.workflow_exists",
    "SELECT 1 FROM workflows WHERE id = $1::uuid",
    "SELECT 1 FROM workflows WHERE id = ?1",
};

static int by_time(const void *a, const void *b)
{
    const tia_interaction *x = a, *y = b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* An interaction's strings are one block that starts at from_agent_id (interaction_from_row). */
static void interaction_clear(tia_interaction *it) { free(it->from_agent_id); }

void tia_interaction_list_free(tia_interaction_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        interaction_clear(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int check_type(const char *type, tia_error *err)
{
    int rc = tia__check_text(err, "interaction_type", type, TIA_INTERACTION_TYPE_MAX, 1);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < sizeof interaction_types / sizeof interaction_types[0]; i++)
        if (strcmp(type, interaction_types[i]) == 0)
            return 0;
    return tia_error_set(err, TIA_EINVAL,
                         "interaction_type '%.50s' is not one of handoff, collaboration, review, "
                         "feedback",
                         type);
}

static int check_new(const tia_interaction_new *in, char workflow_id[TIA_UUID_BUF], tia_error *err)
{
    int rc;
    if (in == NULL)
        return tia_error_set(err, TIA_EINVAL, "interaction is required");
    if ((rc = tia__check_uuid(err, "workflow_id", in->workflow_id, 0, workflow_id)) != 0 ||
        (rc = tia__check_text(err, "from_agent_id", in->from_agent_id, TIA_AGENT_ID_MAX, 1)) != 0 ||
        (rc = tia__check_text(err, "to_agent_id", in->to_agent_id, TIA_AGENT_ID_MAX, 1)) != 0 ||
        (rc = check_type(in->interaction_type, err)) != 0 ||
        (rc = tia__check_text(err, "message", in->message, 0, 0)) != 0 ||
        (rc = tia__check_json(err, "payload", in->payload, 0)) != 0)
        return rc;
    return 0;
}

/* After a foreign key refusal: names the reference that does not exist. */
static int missing_reference(tia_store *s, const tia_interaction_new *in, const char *workflow_id,
                             tia_error *err)
{
    char db_msg[TIA_ERROR_MSG_MAX];
    snprintf(db_msg, sizeof db_msg, "%s", err ? err->message : "");
    tia__param v[3] = {tia__p_text(in->from_agent_id), tia__p_text(in->to_agent_id),
                       tia__p_text(workflow_id[0] ? workflow_id : NULL)};
    tia__rows *r = NULL;
    int rc = tia_error_set(err, TIA_ENOTFOUND, "%.400s", db_msg);
    if (tia__db_query(s, &sql_refs, v, 3, &r, NULL) == 0 && tia__rows_next(r, NULL) > 0) {
        if (tia__col_int(r, 0) == 0)
            rc = tia_error_set(err, TIA_ENOTFOUND, "from agent '%s' not found", in->from_agent_id);
        else if (tia__col_int(r, 1) == 0)
            rc = tia_error_set(err, TIA_ENOTFOUND, "to agent '%s' not found", in->to_agent_id);
        else if (tia__col_int(r, 2) == 0)
            rc = tia_error_set(err, TIA_ENOTFOUND, "workflow %s not found", workflow_id);
    }
    tia__rows_free(r);
    return rc;
}

int tia_interaction_record(tia_store *s, const tia_interaction_new *in, char id_out[TIA_UUID_BUF],
                           tia_error *err)
{
    char workflow_id[TIA_UUID_BUF] = "";
    if (id_out != NULL)
        id_out[0] = '\0';
    int rc = check_new(in, workflow_id, err);
    if (rc != 0)
        return rc;
    char id[TIA_UUID_BUF];
    tia__store_uuid7(s, id);
    tia__param v[7] = {tia__p_text(id),
                       tia__p_text(workflow_id[0] ? workflow_id : NULL),
                       tia__p_text(in->from_agent_id),
                       tia__p_text(in->to_agent_id),
                       tia__p_text(in->interaction_type),
                       tia__p_text(in->message),
                       tia__p_text(in->payload)};
    rc = tia__db_exec(s, &sql_insert, v, 7, NULL, err);
    if (rc == TIA_ENOTFOUND)
        return missing_reference(s, in, workflow_id, err);
    if (rc == 0 && id_out != NULL)
        memcpy(id_out, id, TIA_UUID_BUF);
    return rc;
}

/*
 * Decodes the current row of sql_list into *it. Its seven strings are copied into
 * one allocation that from_agent_id (NOT NULL) opens, so that an interaction
 * costs one malloc and one free, not seven of each: the seed's "interactions of
 * a workflow" answer is a few rows, whose copies weighed as much as the query.
 */
static int interaction_from_row(tia__rows *r, tia_interaction *it, tia_error *err)
{
    enum { NTEXT = 7 };
    static const int cols[NTEXT] = {2, 3, 4, 5, 6, 7, 8};
    const char *text[NTEXT];
    size_t len[NTEXT];
    memset(it, 0, sizeof *it);
    size_t total = tia__col_texts(r, cols, NTEXT, text, len);
    if (text[0] == NULL) /* the column is NOT NULL: the block must start somewhere */
        return tia_error_set(err, TIA_EDB, "an interaction has no from_agent_id");
    char *p = malloc(total);
    if (p == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory reading interactions");
    char **dst[NTEXT] = {&it->from_agent_id,   &it->to_agent_id, &it->from_agent_name,
                         &it->to_agent_name,   &it->interaction_type, &it->message,
                         &it->payload};
    tia__pack_texts(p, text, len, dst, NTEXT);
    tia__col_uuid(r, 0, it->id);
    tia__col_uuid(r, 1, it->workflow_id);
    it->created_at = tia__col_time(r, 9);
    return 0;
}

/* Makes room for one more item in l (capacity *cap). */
static int grow(tia_interaction_list *l, size_t *cap, tia_error *err)
{
    if (l->n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    tia_interaction *items = realloc(l->items, c * sizeof *items);
    if (items == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory listing interactions");
    l->items = items;
    *cap = c;
    return 0;
}

int tia_interaction_list_for_workflow(tia_store *s, const char *workflow_id,
                                      tia_interaction_list *out, tia_error *err)
{
    out->n = 0;
    out->items = NULL;
    char key[TIA_UUID_BUF];
    int rc = tia__check_uuid(err, "workflow id", workflow_id, 1, key);
    if (rc != 0)
        return rc;
    tia__rows *r = NULL;
    size_t cap = 0;
    tia__param v = tia__p_text(key);
    if ((rc = tia__db_read(s, &sql_list, &v, 1, &r, err)) != 0)
        goto done;
    while ((rc = tia__rows_next(r, err)) > 0) {
        if ((rc = grow(out, &cap, err)) != 0 ||
            (rc = interaction_from_row(r, &out->items[out->n], err)) != 0)
            goto done;
        out->n++;
    }
    if (rc == 0 && out->n > 1)
        qsort(out->items, out->n, sizeof *out->items, by_time);
    if (rc == 0 && out->n == 0) {
        tia__rows_free(r);
        r = NULL;
        if ((rc = tia__db_read(s, &sql_workflow_exists, &v, 1, &r, err)) == 0 &&
            (rc = tia__rows_next(r, err)) == 0)
            rc = tia_error_set(err, TIA_ENOTFOUND, "workflow %s not found", key);
    }
done:
    tia__rows_free(r);
    if (rc < 0)
        tia_interaction_list_free(out);
    return rc < 0 ? rc : 0;
}
