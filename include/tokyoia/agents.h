/*
 * The agents table: the AI agents that tasks are handed to. Agent ids are chosen by
 * the user ("akira-001"); everything else follows the seed schema.
 */
#ifndef TOKYOIA_AGENTS_H
#define TOKYOIA_AGENTS_H

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tia_agent {
    char *id;
    char *name;
    char *role;
    char *model;
    char **specialties; /* n_specialties strings */
    size_t n_specialties;
    char *backstory;         /* NULL when not set */
    char *personality_emoji; /* NULL when not set */
    tia_agent_status status;
    int64_t total_tasks_completed;
    int64_t total_tokens_used;
    double average_latency_ms;
    double success_rate;
    tia_time_us created_at;
    tia_time_us updated_at;
    char *metadata; /* JSON text */
} tia_agent;

/*
 * Frees an agent returned by the library; NULL is accepted. The agent and its
 * strings are one allocation: free or replace none of its fields on their own.
 */
void tia_agent_free(tia_agent *a);

/*
 * A struct tag, not a typedef: tia_agent_list is also the name of the function
 * below, and C puts typedef and function names in one namespace (as with struct
 * stat and stat()).
 */
struct tia_agent_list {
    size_t n;
    tia_agent **items;
};

/* Frees the items and resets the list to empty; NULL is accepted. */
void tia_agent_list_free(struct tia_agent_list *l);

/* Input of tia_agent_create; the strings are borrowed for the call. */
typedef struct tia_agent_new {
    const char *id;    /* required, 1..50 characters */
    const char *name;  /* required, <= 100 */
    const char *role;  /* required, <= 200 */
    const char *model; /* required, <= 100 */
    const char *const *specialties; /* n_specialties strings (0 allowed) */
    size_t n_specialties;
    const char *backstory;         /* NULL for none */
    const char *personality_emoji; /* NULL for none, <= 10 */
    tia_agent_status status;       /* TIA_AGENT_ACTIVE by default (0) */
    const char *metadata;          /* JSON; NULL for {} */
} tia_agent_new;

/* Creates an agent. TIA_EINVAL (bad field), TIA_ECONFLICT (id taken). */
int tia_agent_create(tia_store *s, const tia_agent_new *a, tia_error *err);

/* Fetches one agent into *out (free with tia_agent_free). TIA_ENOTFOUND. */
int tia_agent_get(tia_store *s, const char *id, tia_agent **out, tia_error *err);

/* Lists agents by id, all of them when status is NULL. *out is overwritten. */
int tia_agent_list(tia_store *s, const tia_agent_status *status, struct tia_agent_list *out,
                   tia_error *err);

/* Fields of tia_agent_update that are set. */
enum {
    TIA_AGENT_SET_NAME = 1 << 0,
    TIA_AGENT_SET_ROLE = 1 << 1,
    TIA_AGENT_SET_MODEL = 1 << 2,
    TIA_AGENT_SET_SPECIALTIES = 1 << 3,
    TIA_AGENT_SET_BACKSTORY = 1 << 4,
    TIA_AGENT_SET_EMOJI = 1 << 5,
    TIA_AGENT_SET_STATUS = 1 << 6,
    TIA_AGENT_SET_METADATA = 1 << 7
};

/*
 * A partial update: only the members named in `fields` are written. A struct
 * tag, not a typedef, for the same reason as struct tia_agent_list.
 */
struct tia_agent_update {
    unsigned fields;
    const char *name;
    const char *role;
    const char *model;
    const char *const *specialties;
    size_t n_specialties;
    const char *backstory;         /* NULL clears */
    const char *personality_emoji; /* NULL clears */
    tia_agent_status status;
    const char *metadata;          /* JSON, NULL means {} */
};

/* Updates an agent. TIA_ENOTFOUND, TIA_EINVAL (bad field or no field set). */
int tia_agent_update(tia_store *s, const char *id, const struct tia_agent_update *u,
                     tia_error *err);

/* Sets the status. TIA_ENOTFOUND, TIA_EINVAL. */
int tia_agent_set_status(tia_store *s, const char *id, tia_agent_status status, tia_error *err);

/*
 * Deletes an agent with its tasks, metrics and totals (ON DELETE CASCADE).
 * TIA_ENOTFOUND; TIA_ECONFLICT when interactions name the agent or another
 * agent's task has one of its tasks as parent (the seed gives those keys no
 * ON DELETE rule).
 */
int tia_agent_delete(tia_store *s, const char *id, tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
