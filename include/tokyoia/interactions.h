/*
 * The agent_interactions table: handoffs, collaboration, reviews and feedback
 * between agents, usually inside a workflow.
 */
#ifndef TOKYOIA_INTERACTIONS_H
#define TOKYOIA_INTERACTIONS_H

#include <tokyoia/error.h>
#include <tokyoia/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tia_interaction_new {
    const char *workflow_id;      /* NULL for none, must exist */
    const char *from_agent_id;    /* required, must exist */
    const char *to_agent_id;      /* required, must exist */
    const char *interaction_type; /* handoff, collaboration, review or feedback */
    const char *message;          /* NULL for none */
    const char *payload;          /* JSON, NULL for NULL */
} tia_interaction_new;

int tia_interaction_record(tia_store *s, const tia_interaction_new *in, char id_out[TIA_UUID_BUF],
                           tia_error *err);

typedef struct tia_interaction {
    char id[TIA_UUID_BUF];
    char workflow_id[TIA_UUID_BUF]; /* "" when NULL */
    char *from_agent_id;
    char *to_agent_id;
    char *from_agent_name;
    char *to_agent_name;
    char *interaction_type;
    char *message; /* NULL when NULL */
    char *payload; /* JSON text, NULL when NULL */
    tia_time_us created_at;
} tia_interaction;

typedef struct tia_interaction_list {
    size_t n;
    tia_interaction *items;
} tia_interaction_list;

/*
 * Frees a list's items and empties it. Each item's strings are one allocation
 * (the block starts at from_agent_id): free or replace none of them on their own.
 */
void tia_interaction_list_free(tia_interaction_list *l);

/*
 * The interactions of a workflow in the order they happened, with both agents'
 * names (the seed's "agent interactions in a workflow" query). TIA_ENOTFOUND for
 * an unknown workflow.
 */
int tia_interaction_list_for_workflow(tia_store *s, const char *workflow_id,
                                      tia_interaction_list *out, tia_error *err);

#ifdef __cplusplus
}
#endif
#endif
