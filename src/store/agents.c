/*
 * The agents table. Every field is checked here before anything is written, so
 * that both backends refuse the same input with the same words. Specialties are
 * TEXT[] on PostgreSQL and a JSON array on SQLite: the library always sends a JSON
 * array built with jansson (PostgreSQL unpacks it in SQL, keeping the order) and
 * reads one back (array_to_json on PostgreSQL), so one code path serves both.
 * Creation and partial updates share one validator: a create is an update of
 * every field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <tokyoia/agents.h>

#include "core/validate.h"
#include "core/vec.h"
#include "store/db.h"

/* The update statement tests these bits in SQL; they must not move. */
_Static_assert(TIA_AGENT_SET_NAME == 1 && TIA_AGENT_SET_ROLE == 2 && TIA_AGENT_SET_MODEL == 4 &&
                   TIA_AGENT_SET_SPECIALTIES == 8 && TIA_AGENT_SET_BACKSTORY == 16 &&
                   TIA_AGENT_SET_EMOJI == 32 && TIA_AGENT_SET_STATUS == 64 &&
                   TIA_AGENT_SET_METADATA == 128,
               "agents.c's update SQL hard-codes the TIA_AGENT_SET_* bits");
#define AGENT_SET_ALL 0xffu

/* A JSON array of strings ($n) as a TEXT[] in its order. */
#define PG_TEXT_ARRAY(n)                                                                           \
    "ARRAY(SELECT e FROM jsonb_array_elements_text($" #n "::jsonb) WITH ORDINALITY AS t(e, i) "    \
    "ORDER BY i)"

/*
 * The same columns on both backends. PostgreSQL reads them in binary format
 * (tia__sql.binary): the timestamps come as the server stores them, the numbers
 * as bytes, with no text conversion on either side, the metadata as binary
 * jsonb. The specialties come packed, joined by TIA__ARRAY_SEP
 * (agents.specialties_packed, kept by triggers: PostgreSQL migration 0016,
 * SQLite 0007); on PostgreSQL, sending the TEXT[] itself cost the server more
 * than the rest of the row.
 */
#define AGENT_COLS                                                                                 \
    "SELECT id, name, role, model, specialties_packed, backstory, personality_emoji, status, "     \
    "total_tasks_completed, total_tokens_used, average_latency_ms, success_rate, created_at, "     \
    "updated_at, metadata FROM agents "

static const tia__sql sql_insert = {
    "agent.insert",
    "INSERT INTO agents (id, name, role, model, specialties, backstory, personality_emoji, "
    "status, metadata) VALUES ($1, $2, $3, $4, " PG_TEXT_ARRAY(5) ", $6, $7, $8, $9::jsonb)",
    "INSERT INTO agents (id, name, role, model, specialties, backstory, personality_emoji, "
    "status, metadata) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
};

static const tia__sql sql_get = {
    .name = "agent.get",
    .pg = AGENT_COLS "WHERE id = $1",
    .sqlite = AGENT_COLS "WHERE id = ?1",
    .binary = 1,
};

/* COLLATE "C" so that PostgreSQL orders ids byte-wise, as SQLite does. */
/*
 * Two statements rather than "$1 IS NULL OR status = $1", so each plan fits, and
 * no ORDER BY: there are a handful of agents, and sorting them by id in C
 * (id_before, byte order on both backends) costs less than a sort step in the
 * database.
 */
static const tia__sql sql_list_all = {
    .name = "agent.list",
    .pg = AGENT_COLS,
    .sqlite = AGENT_COLS,
    .binary = 1,
};

/* The seed's "active agents": the status as a literal, no parameter to send or bind. */
static const tia__sql sql_list_active = {
    .name = "agent.list_active",
    .pg = AGENT_COLS "WHERE status = 'active'",
    .sqlite = AGENT_COLS "WHERE +status = 'active'",
    .binary = 1,
};

static const tia__sql sql_list_status = {
    .name = "agent.list_status",
    .pg = AGENT_COLS "WHERE status = $1",
    /* "+status": a handful of agents are read faster by a scan than through
     * idx_agents_status. */
    .sqlite = AGENT_COLS "WHERE +status = ?1",
    .binary = 1,
};

static const tia__sql sql_update = {
    "agent.update",
    "UPDATE agents SET "
    "name = CASE WHEN ($2::int & 1) <> 0 THEN $3 ELSE name END, "
    "role = CASE WHEN ($2::int & 2) <> 0 THEN $4 ELSE role END, "
    "model = CASE WHEN ($2::int & 4) <> 0 THEN $5 ELSE model END, "
    "specialties = CASE WHEN ($2::int & 8) <> 0 THEN " PG_TEXT_ARRAY(
        6) " ELSE specialties END, "
           "backstory = CASE WHEN ($2::int & 16) <> 0 THEN $7 ELSE backstory END, "
           "personality_emoji = CASE WHEN ($2::int & 32) <> 0 THEN $8 ELSE personality_emoji END, "
           "status = CASE WHEN ($2::int & 64) <> 0 THEN $9 ELSE status END, "
           "metadata = CASE WHEN ($2::int & 128) <> 0 THEN $10::jsonb ELSE metadata END "
           "WHERE id = $1",
    "UPDATE agents SET "
    "name = CASE WHEN (?2 & 1) <> 0 THEN ?3 ELSE name END, "
    "role = CASE WHEN (?2 & 2) <> 0 THEN ?4 ELSE role END, "
    "model = CASE WHEN (?2 & 4) <> 0 THEN ?5 ELSE model END, "
    "specialties = CASE WHEN (?2 & 8) <> 0 THEN ?6 ELSE specialties END, "
    "backstory = CASE WHEN (?2 & 16) <> 0 THEN ?7 ELSE backstory END, "
    "personality_emoji = CASE WHEN (?2 & 32) <> 0 THEN ?8 ELSE personality_emoji END, "
    "status = CASE WHEN (?2 & 64) <> 0 THEN ?9 ELSE status END, "
    "metadata = CASE WHEN (?2 & 128) <> 0 THEN ?10 ELSE metadata END "
    "WHERE id = ?1",
};

static const tia__sql sql_delete = {
    "agent.delete",
    "DELETE FROM agents WHERE id = $1",
    "DELETE FROM agents WHERE id = ?1",
};

/* What keeps an agent from being deleted: rows whose keys have no ON DELETE rule. */
static const tia__sql sql_delete_blockers = {
    "agent.delete_blockers",
    "SELECT (SELECT count(*) FROM agent_interactions WHERE from_agent_id = $1 OR to_agent_id = "
    "$1), "
    "(SELECT count(*) FROM agent_tasks c JOIN agent_tasks p ON p.id = c.parent_task_id "
    "WHERE p.agent_id = $1 AND c.agent_id <> $1)",
    "SELECT (SELECT count(*) FROM agent_interactions WHERE from_agent_id = ?1 OR to_agent_id = "
    "?1), "
    "(SELECT count(*) FROM agent_tasks c JOIN agent_tasks p ON p.id = c.parent_task_id "
    "WHERE p.agent_id = ?1 AND c.agent_id <> ?1)",
};

void tia_agent_free(tia_agent *a)
{
    if (a == NULL)
        return;
    free(a); /* one block with its strings (agent_from_row) */
}

void tia_agent_list_free(struct tia_agent_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        tia_agent_free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int check_id(const char *id, tia_error *err)
{
    return tia__check_text(err, "agent id", id, TIA_AGENT_ID_MAX, 1);
}

static int check_specialties(const char *const *sp, size_t n, tia_error *err)
{
    if (n > 0 && sp == NULL)
        return tia_error_set(err, TIA_EINVAL, "specialties is NULL but n_specialties is %zu", n);
    for (size_t i = 0; i < n; i++) {
        char field[40];
        snprintf(field, sizeof field, "specialties[%zu]", i);
        int rc = tia__check_text(err, field, sp[i], 0, 1);
        if (rc != 0)
            return rc;
        for (const char *p = sp[i]; *p; p++)
            if ((unsigned char)*p < 0x20)
                return tia_error_set(err, TIA_EINVAL,
                                     "%s must not contain control characters", field);
    }
    return 0;
}

/* Checks the members of u that its mask names. */
static int check_update(const struct tia_agent_update *u, tia_error *err)
{
    unsigned f = u->fields;
    int rc = 0;
    if (f == 0)
        return tia_error_set(err, TIA_EINVAL, "agent update names no field to set");
    if ((f & ~AGENT_SET_ALL) != 0)
        return tia_error_set(err, TIA_EINVAL, "agent update names unknown fields (0x%x)",
                             f & ~AGENT_SET_ALL);
    if ((f & TIA_AGENT_SET_NAME) &&
        (rc = tia__check_text(err, "name", u->name, TIA_AGENT_NAME_MAX, 1)))
        return rc;
    if ((f & TIA_AGENT_SET_ROLE) &&
        (rc = tia__check_text(err, "role", u->role, TIA_AGENT_ROLE_MAX, 1)))
        return rc;
    if ((f & TIA_AGENT_SET_MODEL) &&
        (rc = tia__check_text(err, "model", u->model, TIA_AGENT_MODEL_MAX, 1)))
        return rc;
    if ((f & TIA_AGENT_SET_SPECIALTIES) &&
        (rc = check_specialties(u->specialties, u->n_specialties, err)))
        return rc;
    if ((f & TIA_AGENT_SET_BACKSTORY) &&
        (rc = tia__check_text(err, "backstory", u->backstory, 0, 0)))
        return rc;
    if ((f & TIA_AGENT_SET_EMOJI) &&
        (rc = tia__check_text(err, "personality_emoji", u->personality_emoji, TIA_AGENT_EMOJI_MAX,
                              0)))
        return rc;
    if ((f & TIA_AGENT_SET_STATUS) && tia_agent_status_name(u->status) == NULL)
        return tia_error_set(err, TIA_EINVAL, "status %d is not an agent status", (int)u->status);
    if ((f & TIA_AGENT_SET_METADATA) && (rc = tia__check_json(err, "metadata", u->metadata, 0)))
        return rc;
    return 0;
}

/* The specialties as JSON array text (malloc'd), or NULL when out of memory. */
static char *specialties_json(const char *const *sp, size_t n)
{
    json_t *arr = json_array();
    char *text = NULL;
    if (arr == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, json_string(sp[i])) != 0)
            goto done;
    text = json_dumps(arr, JSON_COMPACT);
done:
    json_decref(arr);
    return text;
}

/*
 * Specialties arrive packed: joined by U+001F (agents.specialties_packed,
 * PostgreSQL migration 0016, SQLite migration 0007), a character a specialty may
 * not contain (check_specialties). Splitting is then all a row needs: no JSON
 * parse and no array decoding per agent.
 */
#define SPECIALTY_SEP TIA__ARRAY_SEP

/*
 * The text columns of AGENT_COLS, read with one call: the
 * AGENT_NTEXT that are copied as they are, then the specialties (split below) and
 * the status (parsed).
 */
enum { AGENT_NTEXT = 7, AGENT_SPECIALTIES = AGENT_NTEXT, AGENT_STATUS, AGENT_NREAD };
static const int agent_text_cols[AGENT_NREAD] = {0, 1, 2, 3, 5, 6, 14, 4, 7};

/*
 * Decodes the current row (AGENT_COLS) into a new agent. The
 * agent is one allocation: the struct, then the specialties' pointers, then every
 * string, so that reading a list costs one malloc and one free per agent rather
 * than about fifteen of each (the active agents' list is one of the seed's query
 * patterns, a handful of rows whose decoding weighed as much as the query).
 * tia_agent_free frees the block.
 */
static int agent_from_row(tia__rows *r, tia_agent **out, tia_error *err)
{
    const char *text[AGENT_NREAD];
    size_t len[AGENT_NREAD], n_sp = 0;
    tia__col_texts(r, agent_text_cols, AGENT_NREAD, text, len);
    size_t total = 0;
    for (int i = 0; i < AGENT_NTEXT; i++)
        total += len[i];
    const char *sp = text[AGENT_SPECIALTIES];
    size_t sp_len = sp ? len[AGENT_SPECIALTIES] - 1 : 0;
    const char *sp_end = sp ? sp + sp_len : NULL;
    for (const char *q = sp; sp_len > 0 && (q = memchr(q, SPECIALTY_SEP, (size_t)(sp_end - q)));
         q++)
        n_sp++;
    n_sp += sp_len > 0;
    /* sizeof (tia_agent) is a multiple of its alignment, so the pointers that follow are aligned. */
    tia_agent *a = malloc(sizeof *a + n_sp * sizeof(char *) + total + sp_len + 1);
    if (a == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory reading an agent");
    memset(a, 0, sizeof *a);
    a->specialties = (char **)(a + 1);
    char **dst[AGENT_NTEXT] = {&a->id,        &a->name,
                               &a->role,      &a->model,
                               &a->backstory, &a->personality_emoji,
                               &a->metadata};
    char *p = tia__pack_texts((char *)(a->specialties + n_sp), text, len, dst, AGENT_NTEXT);
    if (sp_len > 0)
        memcpy(p, sp, sp_len);
    p[sp_len] = '\0';
    char *end = p + sp_len;
    for (size_t i = 0; i < n_sp; i++) {
        a->specialties[i] = p;
        char *sep = memchr(p, SPECIALTY_SEP, (size_t)(end - p));
        if (sep == NULL)
            break; /* the last one, ended by the NUL */
        *sep = '\0';
        p = sep + 1;
    }
    a->n_specialties = n_sp;
    a->total_tasks_completed = tia__col_int(r, 8);
    a->total_tokens_used = tia__col_int(r, 9);
    a->average_latency_ms = tia__col_double(r, 10);
    a->success_rate = tia__col_double(r, 11);
    a->created_at = tia__col_time(r, 12);
    a->updated_at = tia__col_time(r, 13);
    if (tia_agent_status_parse(text[AGENT_STATUS], &a->status) != 0) {
        int rc = tia_error_set(err, TIA_EDB, "agent %s has an unknown status in the database",
                               a->id ? a->id : "?");
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

/* The bound values of an insert or update; JSON texts are owned here. */
typedef struct agent_params {
    char *specialties; /* JSON array text, NULL when not set */
    const char *status;
    const char *metadata;
} agent_params;

static int prepare_params(const struct tia_agent_update *u, agent_params *p, tia_error *err)
{
    p->specialties = NULL;
    p->status = (u->fields & TIA_AGENT_SET_STATUS) ? tia_agent_status_name(u->status) : NULL;
    p->metadata = (u->fields & TIA_AGENT_SET_METADATA) ? (u->metadata ? u->metadata : "{}") : NULL;
    if (u->fields & TIA_AGENT_SET_SPECIALTIES) {
        p->specialties = specialties_json(u->specialties, u->n_specialties);
        if (p->specialties == NULL)
            return tia_error_set(err, TIA_ENOMEM, "out of memory encoding specialties");
    }
    return 0;
}

int tia_agent_create(tia_store *s, const tia_agent_new *a, tia_error *err)
{
    if (a == NULL)
        return tia_error_set(err, TIA_EINVAL, "agent is required");
    struct tia_agent_update u = {.fields = AGENT_SET_ALL,
                                 .name = a->name,
                                 .role = a->role,
                                 .model = a->model,
                                 .specialties = a->specialties,
                                 .n_specialties = a->n_specialties,
                                 .backstory = a->backstory,
                                 .personality_emoji = a->personality_emoji,
                                 .status = a->status,
                                 .metadata = a->metadata};
    agent_params p = {0};
    int rc = check_id(a->id, err);
    if (rc != 0 || (rc = check_update(&u, err)) != 0 || (rc = prepare_params(&u, &p, err)) != 0)
        goto done;
    tia__param v[9] = {tia__p_text(a->id),
                       tia__p_text(a->name),
                       tia__p_text(a->role),
                       tia__p_text(a->model),
                       tia__p_text(p.specialties),
                       tia__p_text(a->backstory),
                       tia__p_text(a->personality_emoji),
                       tia__p_text(p.status),
                       tia__p_text(p.metadata)};
    rc = tia__db_exec(s, &sql_insert, v, 9, NULL, err);
    if (rc == TIA_ECONFLICT)
        rc = tia_error_set(err, TIA_ECONFLICT, "agent id '%s' is already taken", a->id);
done:
    free(p.specialties);
    return rc;
}

int tia_agent_get(tia_store *s, const char *id, tia_agent **out, tia_error *err)
{
    *out = NULL;
    int rc = check_id(id, err);
    if (rc != 0)
        return rc;
    tia__rows *r = NULL;
    tia__param v = tia__p_text(id);
    if ((rc = tia__db_query(s, &sql_get, &v, 1, &r, err)) != 0)
        goto done;
    rc = tia__rows_next(r, err);
    if (rc == 0)
        rc = tia_error_set(err, TIA_ENOTFOUND, "agent '%s' not found", id);
    else if (rc > 0)
        rc = agent_from_row(r, out, err);
done:
    tia__rows_free(r);
    return rc;
}

static int id_before(const void *a, const void *b)
{
    return strcmp(((const tia_agent *)a)->id, ((const tia_agent *)b)->id) < 0;
}

int tia_agent_list(tia_store *s, const tia_agent_status *status, struct tia_agent_list *out,
                   tia_error *err)
{
    out->n = 0;
    out->items = NULL;
    const char *name = NULL;
    if (status != NULL && (name = tia_agent_status_name(*status)) == NULL)
        return tia_error_set(err, TIA_EINVAL, "status %d is not an agent status", (int)*status);
    tia__rows *r = NULL;
    size_t cap = 0;
    tia__param v = tia__p_text(name);
    int rc = name == NULL                   ? tia__db_read(s, &sql_list_all, NULL, 0, &r, err)
             : *status == TIA_AGENT_ACTIVE ? tia__db_read(s, &sql_list_active, NULL, 0, &r, err)
                                           : tia__db_read(s, &sql_list_status, &v, 1, &r, err);
    if (rc != 0)
        goto done;
    while ((rc = tia__rows_next(r, err)) > 0) {
        tia_agent *a = NULL;
        if ((rc = agent_from_row(r, &a, err)) != 0)
            goto done;
        if (tia__vec_push((void ***)&out->items, &out->n, &cap, a) != 0) {
            tia_agent_free(a);
            rc = tia_error_set(err, TIA_ENOMEM, "out of memory listing agents");
            goto done;
        }
    }
    /* By id: the rows mostly come in id order (the order of their inserts). */
    if (rc == 0)
        tia__vec_sort((void **)out->items, out->n, id_before);
done:
    tia__rows_free(r);
    if (rc < 0)
        tia_agent_list_free(out);
    return rc < 0 ? rc : 0;
}

int tia_agent_update(tia_store *s, const char *id, const struct tia_agent_update *u, tia_error *err)
{
    if (u == NULL)
        return tia_error_set(err, TIA_EINVAL, "agent update is required");
    agent_params p = {0};
    int64_t changed = 0;
    int rc = check_id(id, err);
    if (rc != 0 || (rc = check_update(u, err)) != 0 || (rc = prepare_params(u, &p, err)) != 0)
        goto done;
    tia__param v[10] = {tia__p_text(id),
                        tia__p_int(u->fields),
                        tia__p_text(u->fields & TIA_AGENT_SET_NAME ? u->name : NULL),
                        tia__p_text(u->fields & TIA_AGENT_SET_ROLE ? u->role : NULL),
                        tia__p_text(u->fields & TIA_AGENT_SET_MODEL ? u->model : NULL),
                        tia__p_text(p.specialties),
                        tia__p_text(u->fields & TIA_AGENT_SET_BACKSTORY ? u->backstory : NULL),
                        tia__p_text(u->fields & TIA_AGENT_SET_EMOJI ? u->personality_emoji : NULL),
                        tia__p_text(p.status),
                        tia__p_text(p.metadata)};
    if ((rc = tia__db_exec(s, &sql_update, v, 10, &changed, err)) != 0)
        goto done;
    if (changed == 0)
        rc = tia_error_set(err, TIA_ENOTFOUND, "agent '%s' not found", id);
done:
    free(p.specialties);
    return rc;
}

int tia_agent_set_status(tia_store *s, const char *id, tia_agent_status status, tia_error *err)
{
    struct tia_agent_update u = {0};
    u.fields = TIA_AGENT_SET_STATUS;
    u.status = status;
    return tia_agent_update(s, id, &u, err);
}

/* Turns the database's foreign key refusal into a message that says what to delete first. */
static int refused_delete(tia_store *s, const char *id, tia_error *err)
{
    char db_msg[TIA_ERROR_MSG_MAX];
    snprintf(db_msg, sizeof db_msg, "%s", err ? err->message : "");
    tia__param v = tia__p_text(id);
    tia__rows *r = NULL;
    int64_t interactions = -1, subtasks = -1;
    if (tia__db_query(s, &sql_delete_blockers, &v, 1, &r, NULL) == 0 &&
        tia__rows_next(r, NULL) > 0) {
        interactions = tia__col_int(r, 0);
        subtasks = tia__col_int(r, 1);
    }
    tia__rows_free(r);
    if (interactions < 0)
        return tia_error_set(err, TIA_ECONFLICT,
                             "agent '%s' is still referenced by interactions or by other agents' "
                             "subtasks; delete those first (%.300s)",
                             id, db_msg);
    return tia_error_set(err, TIA_ECONFLICT,
                         "agent '%s' cannot be deleted: %lld interaction(s) name it and %lld "
                         "task(s) of other agents have one of its tasks as parent (these keys "
                         "have no ON DELETE rule); delete those first",
                         id, (long long)interactions, (long long)subtasks);
}

int tia_agent_delete(tia_store *s, const char *id, tia_error *err)
{
    int rc = check_id(id, err);
    if (rc != 0)
        return rc;
    int64_t changed = 0;
    tia__param v = tia__p_text(id);
    rc = tia__db_exec(s, &sql_delete, &v, 1, &changed, err);
    /* The only foreign keys an agent delete can break are the NO ACTION ones. */
    if (rc == TIA_ENOTFOUND)
        return refused_delete(s, id, err);
    if (rc == 0 && changed == 0)
        rc = tia_error_set(err, TIA_ENOTFOUND, "agent '%s' not found", id);
    return rc;
}
