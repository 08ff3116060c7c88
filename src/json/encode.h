/*
 * The JSON form of every record of the library, shared by the CLI (--json and its
 * tables) and the HTTP API, so that both show the same field names and value
 * formats: the seed schema's column names, timestamps as RFC 3339 UTC text with
 * microseconds, money as exact decimal text ("0.015000"), JSON columns as JSON,
 * NULL as null. Each encoder returns a new reference (NULL only when out of memory).
 */
#ifndef TIA_JSON_ENCODE_H
#define TIA_JSON_ENCODE_H

#include <stdint.h>

#include <jansson.h>

#include <tokyoia/agents.h>
#include <tokyoia/engine.h>
#include <tokyoia/interactions.h>
#include <tokyoia/metrics.h>
#include <tokyoia/sessions.h>
#include <tokyoia/stats.h>
#include <tokyoia/tasks.h>
#include <tokyoia/workflows.h>

#include "json/write.h"

/* Member setters: NULL text and TIA_TIME_NONE become null. */
void tia__jstr(json_t *o, const char *key, const char *v);
void tia__jint(json_t *o, const char *key, int64_t v);
void tia__jreal(json_t *o, const char *key, double v);
void tia__jtime(json_t *o, const char *key, tia_time_us t);
void tia__jcost(json_t *o, const char *key, int64_t micros); /* decimal string */
void tia__jraw(json_t *o, const char *key, const char *json_text); /* parsed JSON */
void tia__jstrv(json_t *o, const char *key, char *const *v, size_t n);

json_t *tia__json_agent(const tia_agent *a);
json_t *tia__json_task(const tia_task *t);
json_t *tia__json_workflow(const tia_workflow *w);
json_t *tia__json_metric(const tia_metric *m);
json_t *tia__json_bucket(const tia_metric_bucket *b);
json_t *tia__json_interaction(const tia_interaction *in);
json_t *tia__json_session(const tia_session *s);
json_t *tia__json_price(const tia_price *p);
/* One agent_stats row with the columns of the seed's view. */
json_t *tia__json_agent_stats(const tia_agent_stats *st);
json_t *tia__json_window_stats(const tia_agent_window_stats *w);

/*
 * The same records as text, member for member as the trees above print (for long
 * answers: see write.h). The *_open ones leave the object open, for the caller
 * to add members and close it with tia__jw_end_obj.
 */
void tia__jw_task(tia__jw *w, const tia_task *t);
void tia__jw_workflow_open(tia__jw *w, const tia_workflow *wf);
void tia__jw_interaction(tia__jw *w, const tia_interaction *in);
void tia__jw_agent_stats_open(tia__jw *w, const tia_agent_stats *st);
void tia__jw_window_stats_open(tia__jw *w, const tia_agent_window_stats *ws);

#endif
