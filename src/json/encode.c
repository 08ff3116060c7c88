/*
 * Record -> JSON conversions (see encode.h). Field names are the columns of the
 * seed schema so that a client that knows the tables knows the JSON.
 */
#include "json/encode.h"

#include <stddef.h>
#include <string.h>

void tia__jstr(json_t *o, const char *key, const char *v)
{
    json_t *s = v ? json_string(v) : NULL; /* NULL also for text that is not UTF-8 */
    json_object_set_new(o, key, s ? s : json_null());
}

void tia__jint(json_t *o, const char *key, int64_t v)
{
    json_object_set_new(o, key, json_integer((json_int_t)v));
}

void tia__jreal(json_t *o, const char *key, double v)
{
    json_t *r = json_real(v); /* NULL for NaN and the infinities */
    json_object_set_new(o, key, r ? r : json_null());
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
    /*
     * The database CHECKs its JSON; text that still fails to parse is shown as is,
     * or as null when it is not even UTF-8 (which SQLite's json_valid lets pass).
     */
    if (v == NULL)
        v = json_string(json_text);
    json_object_set_new(o, key, v ? v : json_null());
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

/*
 * The members of the records the API lists at length, described once: the jansson
 * tree (tia__json_*) and the text writer (tia__jw_*) both walk these tables, so the
 * two forms cannot drift apart.
 */
typedef enum {
    F_PSTR,      /* char *: NULL is null */
    F_ASTR,      /* char[]: always text */
    F_ASTR_OPT,  /* char[]: "" is null */
    F_INT,       /* int64_t */
    F_DURATION,  /* int64_t: negative is null */
    F_TIME,      /* tia_time_us: TIA_TIME_NONE is null */
    F_COST,      /* int64_t micro-dollars: decimal text */
    F_RAW,         /* char *: JSON text */
    F_REAL,        /* double */
    F_RUN_STATUS,  /* tia_run_status: its name */
    F_AGENT_STATUS /* tia_agent_status: its name */
} field_kind;

typedef struct {
    const char *key;
    size_t keylen;
    field_kind kind;
    size_t off;
} field;

/* A member named as its record's member, or with another name. */
#define FIELD_AS(type, member, name, kind)                                                         \
    {                                                                                              \
        name, sizeof(name) - 1, kind, offsetof(type, member)                                       \
    }
#define FIELD(type, member, kind) FIELD_AS(type, member, #member, kind)

static const field task_fields[] = {
    FIELD(tia_task, id, F_ASTR),
    FIELD(tia_task, agent_id, F_PSTR),
    FIELD(tia_task, workflow_id, F_ASTR_OPT),
    FIELD(tia_task, task_type, F_PSTR),
    FIELD(tia_task, description, F_PSTR),
    FIELD(tia_task, status, F_RUN_STATUS),
    FIELD(tia_task, input_data, F_RAW),
    FIELD(tia_task, output_data, F_RAW),
    FIELD(tia_task, error_message, F_PSTR),
    FIELD(tia_task, started_at, F_TIME),
    FIELD(tia_task, completed_at, F_TIME),
    FIELD(tia_task, duration_ms, F_DURATION),
    FIELD(tia_task, tokens_used, F_INT),
    FIELD_AS(tia_task, cost_micros, "cost_usd", F_COST),
    FIELD(tia_task, retry_count, F_INT),
    FIELD(tia_task, parent_task_id, F_ASTR_OPT),
    FIELD(tia_task, created_at, F_TIME),
    FIELD(tia_task, metadata, F_RAW),
};

static const field workflow_fields[] = {
    FIELD(tia_workflow, id, F_ASTR),
    FIELD(tia_workflow, name, F_PSTR),
    FIELD(tia_workflow, description, F_PSTR),
    FIELD(tia_workflow, status, F_RUN_STATUS),
    FIELD(tia_workflow, workflow_type, F_PSTR),
    FIELD(tia_workflow, initiator, F_PSTR),
    FIELD(tia_workflow, total_tasks, F_INT),
    FIELD(tia_workflow, completed_tasks, F_INT),
    FIELD(tia_workflow, failed_tasks, F_INT),
    FIELD(tia_workflow, started_at, F_TIME),
    FIELD(tia_workflow, completed_at, F_TIME),
    FIELD(tia_workflow, duration_ms, F_DURATION),
    FIELD(tia_workflow, total_tokens_used, F_INT),
    FIELD_AS(tia_workflow, total_cost_micros, "total_cost_usd", F_COST),
    FIELD(tia_workflow, created_at, F_TIME),
    FIELD(tia_workflow, updated_at, F_TIME),
    FIELD(tia_workflow, metadata, F_RAW),
};

static const field interaction_fields[] = {
    FIELD(tia_interaction, id, F_ASTR),
    FIELD(tia_interaction, workflow_id, F_ASTR_OPT),
    FIELD(tia_interaction, from_agent_id, F_PSTR),
    FIELD(tia_interaction, to_agent_id, F_PSTR),
    FIELD(tia_interaction, from_agent_name, F_PSTR),
    FIELD(tia_interaction, to_agent_name, F_PSTR),
    FIELD(tia_interaction, interaction_type, F_PSTR),
    FIELD(tia_interaction, message, F_PSTR),
    FIELD(tia_interaction, payload, F_RAW),
    FIELD(tia_interaction, created_at, F_TIME),
};

static const field agent_stats_fields[] = {
    FIELD(tia_agent_stats, id, F_ASTR),
    FIELD(tia_agent_stats, name, F_PSTR),
    FIELD(tia_agent_stats, role, F_PSTR),
    FIELD(tia_agent_stats, status, F_AGENT_STATUS),
    FIELD(tia_agent_stats, total_tasks, F_INT),
    FIELD(tia_agent_stats, completed_tasks, F_INT),
    FIELD(tia_agent_stats, failed_tasks, F_INT),
    FIELD(tia_agent_stats, total_tokens, F_INT),
    FIELD_AS(tia_agent_stats, total_cost_micros, "total_cost", F_COST),
    FIELD(tia_agent_stats, avg_duration_ms, F_REAL),
    FIELD(tia_agent_stats, success_rate, F_REAL),
};

static const field window_stats_fields[] = {
    FIELD(tia_agent_window_stats, total_tasks, F_INT),
    FIELD(tia_agent_window_stats, avg_latency_ms, F_REAL),
    FIELD(tia_agent_window_stats, total_tokens, F_INT),
    FIELD_AS(tia_agent_window_stats, total_cost_micros, "total_cost", F_COST),
};

#define AT(rec, f, type) (*(const type *)((const char *)(rec) + (f)->off))

static json_t *fields_tree(const void *rec, const field *fs, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        const field *f = &fs[i];
        switch (f->kind) {
        case F_PSTR: tia__jstr(o, f->key, AT(rec, f, char *)); break;
        case F_ASTR: tia__jstr(o, f->key, (const char *)rec + f->off); break;
        case F_ASTR_OPT: tia__jstr(o, f->key, empty_null((const char *)rec + f->off)); break;
        case F_INT: tia__jint(o, f->key, AT(rec, f, int64_t)); break;
        case F_DURATION: jduration(o, f->key, AT(rec, f, int64_t)); break;
        case F_TIME: tia__jtime(o, f->key, AT(rec, f, tia_time_us)); break;
        case F_COST: tia__jcost(o, f->key, AT(rec, f, int64_t)); break;
        case F_RAW: tia__jraw(o, f->key, AT(rec, f, char *)); break;
        case F_REAL: tia__jreal(o, f->key, AT(rec, f, double)); break;
        case F_RUN_STATUS:
            tia__jstr(o, f->key, tia_run_status_name(AT(rec, f, tia_run_status)));
            break;
        case F_AGENT_STATUS:
            tia__jstr(o, f->key, tia_agent_status_name(AT(rec, f, tia_agent_status)));
            break;
        }
    }
    return o;
}

/* The same members as fields_tree gives, written as text; the object stays open. */
static void fields_text(tia__jw *w, const void *rec, const field *fs, size_t n)
{
    tia__jw_obj(w);
    for (size_t i = 0; i < n; i++) {
        const field *f = &fs[i];
        tia__jw_keyn(w, f->key, f->keylen);
        switch (f->kind) {
        case F_PSTR: tia__jw_str(w, AT(rec, f, char *)); break;
        case F_ASTR: tia__jw_str(w, (const char *)rec + f->off); break;
        case F_ASTR_OPT: tia__jw_str(w, empty_null((const char *)rec + f->off)); break;
        case F_INT: tia__jw_int(w, AT(rec, f, int64_t)); break;
        case F_DURATION:
            if (AT(rec, f, int64_t) >= 0)
                tia__jw_int(w, AT(rec, f, int64_t));
            else
                tia__jw_null(w);
            break;
        case F_TIME: tia__jw_time(w, AT(rec, f, tia_time_us)); break;
        case F_COST: tia__jw_cost(w, AT(rec, f, int64_t)); break;
        case F_RAW: tia__jw_rawjson(w, AT(rec, f, char *)); break;
        case F_REAL: tia__jw_real(w, AT(rec, f, double)); break;
        case F_RUN_STATUS: tia__jw_str(w, tia_run_status_name(AT(rec, f, tia_run_status))); break;
        case F_AGENT_STATUS:
            tia__jw_str(w, tia_agent_status_name(AT(rec, f, tia_agent_status)));
            break;
        }
    }
}

#define N_FIELDS(a) (sizeof(a) / sizeof((a)[0]))

json_t *tia__json_task(const tia_task *t)
{
    return fields_tree(t, task_fields, N_FIELDS(task_fields));
}

json_t *tia__json_workflow(const tia_workflow *w)
{
    return fields_tree(w, workflow_fields, N_FIELDS(workflow_fields));
}

json_t *tia__json_interaction(const tia_interaction *in)
{
    return fields_tree(in, interaction_fields, N_FIELDS(interaction_fields));
}

void tia__jw_task(tia__jw *w, const tia_task *t)
{
    fields_text(w, t, task_fields, N_FIELDS(task_fields));
    tia__jw_end_obj(w);
}

void tia__jw_workflow_open(tia__jw *w, const tia_workflow *wf)
{
    fields_text(w, wf, workflow_fields, N_FIELDS(workflow_fields));
}

void tia__jw_interaction(tia__jw *w, const tia_interaction *in)
{
    fields_text(w, in, interaction_fields, N_FIELDS(interaction_fields));
    tia__jw_end_obj(w);
}

void tia__jw_agent_stats_open(tia__jw *w, const tia_agent_stats *st)
{
    fields_text(w, st, agent_stats_fields, N_FIELDS(agent_stats_fields));
}

void tia__jw_window_stats_open(tia__jw *w, const tia_agent_window_stats *ws)
{
    fields_text(w, ws, window_stats_fields, N_FIELDS(window_stats_fields));
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
    return fields_tree(st, agent_stats_fields, N_FIELDS(agent_stats_fields));
}

json_t *tia__json_window_stats(const tia_agent_window_stats *w)
{
    return fields_tree(w, window_stats_fields, N_FIELDS(window_stats_fields));
}
