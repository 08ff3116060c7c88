/*
 * Record -> JSON conversions (see encode.h). Field names are the columns of the
 * seed schema so that a client that knows the tables knows the JSON.
 */
#include "json/encode.h"

#include <string.h>

void tia__jstr(json_t *o, const char *key, const char *v)
{
    json_object_set_new(o, key, v ? json_string(v) : json_null());
}

void tia__jint(json_t *o, const char *key, int64_t v)
{
    json_object_set_new(o, key, json_integer((json_int_t)v));
}

void tia__jreal(json_t *o, const char *key, double v)
{
    json_object_set_new(o, key, json_real(v));
}

void tia__jtime(json_t *o, const char *key, tia_time_us t)
{
    char buf[40];
    tia_time_format(t, buf, sizeof buf);
    json_object_set_new(o, key, t == TIA_TIME_NONE ? json_null() : json_string(buf));
}

void tia__jcost(json_t *o, const char *key, int64_t micros)
{
    char buf[32];
    tia_cost_format(micros, buf, sizeof buf);
    json_object_set_new(o, key, json_string(buf));
}

void tia__jraw(json_t *o, const char *key, const char *json_text)
{
    json_t *v = json_text ? json_loads(json_text, JSON_DECODE_ANY, NULL) : json_null();
    /* The database CHECKs its JSON; text that still fails to parse is shown as is. */
    json_object_set_new(o, key, v ? v : json_string(json_text));
}

void tia__jstrv(json_t *o, const char *key, char *const *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(v[i]));
    json_object_set_new(o, key, arr);
}

static const char *empty_null(const char *v)
{
    return v && *v ? v : NULL;
}

static void jduration(json_t *o, const char *key, int64_t ms)
{
    if (ms >= 0)
        tia__jint(o, key, ms);
    else
        json_object_set_new(o, key, json_null());
}

json_t *tia__json_agent(const tia_agent *a)
{
    json_t *o = json_object();
    tia__jstr(o, "id", a->id);
    tia__jstr(o, "name", a->name);
    tia__jstr(o, "role", a->role);
    tia__jstr(o, "model", a->model);
    tia__jstrv(o, "specialties", a->specialties, a->n_specialties);
    tia__jstr(o, "backstory", a->backstory);
    tia__jstr(o, "personality_emoji", a->personality_emoji);
    tia__jstr(o, "status", tia_agent_status_name(a->status));
    tia__jint(o, "total_tasks_completed", a->total_tasks_completed);
    tia__jint(o, "total_tokens_used", a->total_tokens_used);
    tia__jreal(o, "average_latency_ms", a->average_latency_ms);
    tia__jreal(o, "success_rate", a->success_rate);
    tia__jtime(o, "created_at", a->created_at);
    tia__jtime(o, "updated_at", a->updated_at);
    tia__jraw(o, "metadata", a->metadata);
    return o;
}

json_t *tia__json_task(const tia_task *t)
{
    json_t *o = json_object();
    tia__jstr(o, "id", t->id);
    tia__jstr(o, "agent_id", t->agent_id);
    tia__jstr(o, "workflow_id", empty_null(t->workflow_id));
    tia__jstr(o, "task_type", t->task_type);
    tia__jstr(o, "description", t->description);
    tia__jstr(o, "status", tia_run_status_name(t->status));
    tia__jraw(o, "input_data", t->input_data);
    tia__jraw(o, "output_data", t->output_data);
    tia__jstr(o, "error_message", t->error_message);
    tia__jtime(o, "started_at", t->started_at);
    tia__jtime(o, "completed_at", t->completed_at);
    jduration(o, "duration_ms", t->duration_ms);
    tia__jint(o, "tokens_used", t->tokens_used);
    tia__jcost(o, "cost_usd", t->cost_micros);
    tia__jint(o, "retry_count", t->retry_count);
    tia__jstr(o, "parent_task_id", empty_null(t->parent_task_id));
    tia__jtime(o, "created_at", t->created_at);
    tia__jraw(o, "metadata", t->metadata);
    return o;
}

json_t *tia__json_workflow(const tia_workflow *w)
{
    json_t *o = json_object();
    tia__jstr(o, "id", w->id);
    tia__jstr(o, "name", w->name);
    tia__jstr(o, "description", w->description);
    tia__jstr(o, "status", tia_run_status_name(w->status));
    tia__jstr(o, "workflow_type", w->workflow_type);
    tia__jstr(o, "initiator", w->initiator);
    tia__jint(o, "total_tasks", w->total_tasks);
    tia__jint(o, "completed_tasks", w->completed_tasks);
    tia__jint(o, "failed_tasks", w->failed_tasks);
    tia__jtime(o, "started_at", w->started_at);
    tia__jtime(o, "completed_at", w->completed_at);
    jduration(o, "duration_ms", w->duration_ms);
    tia__jint(o, "total_tokens_used", w->total_tokens_used);
    tia__jcost(o, "total_cost_usd", w->total_cost_micros);
    tia__jtime(o, "created_at", w->created_at);
    tia__jtime(o, "updated_at", w->updated_at);
    tia__jraw(o, "metadata", w->metadata);
    return o;
}

json_t *tia__json_metric(const tia_metric *m)
{
    json_t *o = json_object();
    tia__jstr(o, "id", m->id);
    tia__jstr(o, "agent_id", m->agent_id);
    tia__jstr(o, "metric_type", m->metric_type);
    tia__jreal(o, "metric_value", m->value);
    tia__jstr(o, "metric_unit", m->unit);
    tia__jtime(o, "recorded_at", m->recorded_at);
    tia__jraw(o, "context", m->context);
    return o;
}

json_t *tia__json_bucket(const tia_metric_bucket *b)
{
    json_t *o = json_object();
    tia__jtime(o, "start", b->start);
    tia__jint(o, "count", b->count);
    tia__jreal(o, "avg", b->avg);
    tia__jreal(o, "min", b->min);
    tia__jreal(o, "max", b->max);
    tia__jreal(o, "p50", b->p50);
    tia__jreal(o, "p95", b->p95);
    return o;
}

json_t *tia__json_interaction(const tia_interaction *in)
{
    json_t *o = json_object();
    tia__jstr(o, "id", in->id);
    tia__jstr(o, "workflow_id", empty_null(in->workflow_id));
    tia__jstr(o, "from_agent_id", in->from_agent_id);
    tia__jstr(o, "to_agent_id", in->to_agent_id);
    tia__jstr(o, "from_agent_name", in->from_agent_name);
    tia__jstr(o, "to_agent_name", in->to_agent_name);
    tia__jstr(o, "interaction_type", in->interaction_type);
    tia__jstr(o, "message", in->message);
    tia__jraw(o, "payload", in->payload);
    tia__jtime(o, "created_at", in->created_at);
    return o;
}

json_t *tia__json_session(const tia_session *s)
{
    json_t *o = json_object();
    tia__jstr(o, "id", s->id);
    tia__jstr(o, "user_id", s->user_id);
    tia__jstr(o, "status", tia_session_status_name(s->status));
    tia__jraw(o, "device_info", s->device_info);
    tia__jstr(o, "ip_address", s->ip_address);
    tia__jtime(o, "started_at", s->started_at);
    tia__jtime(o, "last_activity_at", s->last_activity_at);
    tia__jtime(o, "expires_at", s->expires_at);
    return o;
}

json_t *tia__json_price(const tia_price *p)
{
    json_t *o = json_object();
    tia__jstr(o, "model", p->model);
    tia__jcost(o, "usd_per_1k_tokens", p->usd_per_1k_micros);
    tia__jtime(o, "updated_at", p->updated_at);
    return o;
}

json_t *tia__json_agent_stats(const tia_agent_stats *st)
{
    json_t *o = json_object();
    tia__jstr(o, "id", st->id);
    tia__jstr(o, "name", st->name);
    tia__jstr(o, "role", st->role);
    tia__jstr(o, "status", tia_agent_status_name(st->status));
    tia__jint(o, "total_tasks", st->total_tasks);
    tia__jint(o, "completed_tasks", st->completed_tasks);
    tia__jint(o, "failed_tasks", st->failed_tasks);
    tia__jint(o, "total_tokens", st->total_tokens);
    tia__jcost(o, "total_cost", st->total_cost_micros);
    tia__jreal(o, "avg_duration_ms", st->avg_duration_ms);
    tia__jreal(o, "success_rate", st->success_rate);
    return o;
}

json_t *tia__json_window_stats(const tia_agent_window_stats *w)
{
    json_t *o = json_object();
    tia__jint(o, "total_tasks", w->total_tasks);
    tia__jreal(o, "avg_latency_ms", w->avg_latency_ms);
    tia__jint(o, "total_tokens", w->total_tokens);
    tia__jcost(o, "total_cost", w->total_cost_micros);
    return o;
}
