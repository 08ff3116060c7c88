/*
 * The agent_metrics table: recording points one at a time or in batches, listing
 * the newest, and bucketing a series by minute, hour or day. Every point is
 * validated before anything is written, so a batch is refused whole on the first
 * bad item. On PostgreSQL a batch travels as one JSON array per chunk expanded by
 * jsonb_to_recordset (one statement instead of one round trip per point), and the
 * series is aggregated in SQL with percentile_cont. SQLite has no percentile
 * aggregate, so it returns the values sorted by bucket and value and the same
 * aggregates are computed here with PostgreSQL's interpolation formula, which
 * makes both backends give the same numbers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <tokyoia/metrics.h>

#include "core/validate.h"
#include "store/db.h"
#include "store/rollup.h"

/* Points per jsonb_to_recordset statement: keeps each parameter to a few hundred KB. */
#define BATCH_CHUNK 2000
/* Most buckets one series query may span. */
#define SERIES_MAX_BUCKETS 100000

#define MINUTE_US INT64_C(60000000)

/* clang-format off: SQL reads best laid out by hand. */
static const tia__sql sql_insert = {
    "metric.insert",
    "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value, metric_unit, "
    "recorded_at, context) VALUES ($1::uuid, $2, $3, $4::float8, $5, "
    "COALESCE(" TIA_PG_TS(6) ", CURRENT_TIMESTAMP), COALESCE($7::jsonb, '{}'::jsonb))",
    "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value, metric_unit, "
    "recorded_at, context) VALUES (?1, ?2, ?3, ?4, ?5, COALESCE(?6, " TIA_SQLITE_NOW "), "
    "COALESCE(?7, '{}'))",
};

/* PostgreSQL only: one chunk of a batch as a JSON array of objects. */
static const tia__sql sql_insert_json = {
    "metric.insert_batch",
    "INSERT INTO agent_metrics (id, agent_id, metric_type, metric_value, metric_unit, "
    "recorded_at, context) SELECT x.id, x.agent_id, x.metric_type, x.metric_value, "
    "x.metric_unit, COALESCE('epoch'::timestamptz + x.recorded_at * interval '1 microsecond', "
    "CURRENT_TIMESTAMP), COALESCE(x.context::jsonb, '{}'::jsonb) "
    "FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, agent_id text, metric_type text, "
    "metric_value float8, metric_unit text, recorded_at int8, context text)",
    NULL,
};

static const tia__sql sql_agent_exists = {
    "metric.agent_exists",
    "SELECT 1 FROM agents WHERE id = $1",
    "SELECT 1 FROM agents WHERE id = ?1",
};

static const tia__sql sql_list = {
    "metric.list",
    "SELECT id, agent_id, metric_type, metric_value, metric_unit, " TIA_PG_US(
        "recorded_at") ", context FROM agent_metrics WHERE ($1::text IS NULL OR agent_id = "
                       "$1::text) "
                       "AND ($2::text IS NULL OR metric_type = $2::text) "
                       "ORDER BY recorded_at DESC NULLS LAST, id DESC LIMIT $3::int8",
    "SELECT id, agent_id, metric_type, metric_value, metric_unit, recorded_at, context "
    "FROM agent_metrics WHERE (?1 IS NULL OR agent_id = ?1) AND (?2 IS NULL OR metric_type = ?2) "
    "ORDER BY recorded_at DESC NULLS LAST, id DESC LIMIT ?3",
};

/*
 * Bucket start = floor(us / width) * width, written with a positive modulo so
 * that instants before 1970 fall in the right bucket too. Unix time has no leap
 * seconds, so multiples of a day in epoch microseconds are UTC midnights.
 */
#define PG_US "(" TIA_PG_US("recorded_at") ")"
static const tia__sql sql_series = {
    "metric.series",
    "SELECT b, count(*), avg(v), min(v), max(v), "
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY v), "
    "percentile_cont(0.95) WITHIN GROUP (ORDER BY v) "
    "FROM (SELECT " PG_US " - ((" PG_US " % $5::int8) + $5::int8) % $5::int8 AS b, "
    "metric_value AS v FROM agent_metrics WHERE metric_type = $1 "
    "AND ($2::text IS NULL OR agent_id = $2::text) "
    "AND recorded_at >= $3::timestamptz AND recorded_at < $4::timestamptz) t "
                                                                          "GROUP BY b ORDER BY b",
    "SELECT recorded_at - ((recorded_at % ?5) + ?5) % ?5 AS b, metric_value "
    "FROM agent_metrics WHERE metric_type = ?1 AND (?2 IS NULL OR agent_id = ?2) "
    "AND recorded_at >= ?3 AND recorded_at < ?4 ORDER BY b, metric_value",
};
/* clang-format on */

/* The name of a field in messages: "unit", or "items[3].unit" in a batch. */
static const char *field(char buf[48], long index, const char *name)
{
    if (index < 0)
        return name;
    snprintf(buf, 48, "items[%ld].%s", index, name);
    return buf;
}

/* Checks one point; index names the item of a batch (-1 for a single record). */
static int check_point(const tia_metric_new *m, long index, tia_error *err)
{
    char b[48];
    int rc;
    if (m == NULL)
        return tia_error_set(err, TIA_EINVAL, "%s is required", field(b, index, "metric"));
    if ((rc = tia__check_text(err, field(b, index, "agent_id"), m->agent_id, TIA_AGENT_ID_MAX,
                              1)) != 0 ||
        (rc = tia__check_text(err, field(b, index, "metric_type"), m->metric_type,
                              TIA_METRIC_TYPE_MAX, 1)) != 0 ||
        (rc = tia__check_finite(err, field(b, index, "value"), m->value)) != 0 ||
        (rc = tia__check_text(err, field(b, index, "unit"), m->unit, TIA_METRIC_UNIT_MAX, 0)) !=
            0 ||
        (rc = tia__check_json(err, field(b, index, "context"), m->context, 0)) != 0)
        return rc;
    return 0;
}

/* TIA_TIME_NONE and 0 both mean "now, by the database's clock". */
static tia_time_us when(const tia_metric_new *m)
{
    return m->recorded_at == 0 ? TIA_TIME_NONE : m->recorded_at;
}

/*
 * The foreign key says only that some agent is missing; this names the first
 * one, so that the caller learns which. Runs only after a failed insert.
 */
static int unknown_agent(tia_store *s, const tia_metric_new *items, size_t n, tia_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(items[i].agent_id, items[i - 1].agent_id) == 0)
            continue;
        tia__param p = tia__p_text(items[i].agent_id);
        tia__rows *r = NULL;
        int rc = tia__db_query(s, &sql_agent_exists, &p, 1, &r, err);
        if (rc == 0)
            rc = tia__rows_next(r, err);
        tia__rows_free(r);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return tia_error_set(err, TIA_ENOTFOUND, "unknown agent '%s'%s", items[i].agent_id,
                                 n > 1 ? " in the batch" : "");
    }
    return tia_error_set(err, TIA_ENOTFOUND, "unknown agent");
}

static int insert_one(tia_store *s, const tia_metric_new *m, char id[TIA_UUID_BUF], tia_error *err)
{
    tia__store_uuid7(s, id);
    tia__param p[7] = {
        tia__p_text(id),         tia__p_text(m->agent_id), tia__p_text(m->metric_type),
        tia__p_double(m->value), tia__p_text(m->unit),     tia__p_time(when(m)),
        tia__p_text(m->context)};
    return tia__db_exec(s, &sql_insert, p, 7, NULL, err);
}

int tia_metric_record(tia_store *s, const tia_metric_new *m, char id_out[TIA_UUID_BUF],
                      tia_error *err)
{
    char id[TIA_UUID_BUF];
    int rc = check_point(m, -1, err);
    if (rc != 0)
        return rc;
    rc = insert_one(s, m, id, err);
    if (rc == TIA_ENOTFOUND)
        return unknown_agent(s, m, 1, err);
    if (rc == 0 && id_out != NULL)
        memcpy(id_out, id, TIA_UUID_BUF);
    return rc;
}

/* Sets key to a string, or to JSON null for NULL. 0 or -1 when out of memory. */
static int put_text(json_t *o, const char *key, const char *v)
{
    return json_object_set_new(o, key, v ? json_string(v) : json_null());
}

/* One point as the object jsonb_to_recordset expands (context travels as text). */
static json_t *point_json(tia_store *s, const tia_metric_new *m)
{
    char id[TIA_UUID_BUF];
    tia__store_uuid7(s, id);
    json_t *o = json_object();
    tia_time_us t = when(m);
    if (o == NULL || put_text(o, "id", id) != 0 || put_text(o, "agent_id", m->agent_id) != 0 ||
        put_text(o, "metric_type", m->metric_type) != 0 ||
        json_object_set_new(o, "metric_value", json_real(m->value)) != 0 ||
        put_text(o, "metric_unit", m->unit) != 0 ||
        json_object_set_new(o, "recorded_at", t == TIA_TIME_NONE ? json_null() : json_integer(t)) !=
            0 ||
        put_text(o, "context", m->context) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* PostgreSQL: inserts items[0..n) with one statement. */
static int insert_chunk_pg(tia_store *s, const tia_metric_new *items, size_t n, tia_error *err)
{
    int rc = 0;
    char *text = NULL;
    json_t *arr = json_array();
    if (arr == NULL)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        json_t *o = point_json(s, &items[i]);
        if (o == NULL || json_array_append_new(arr, o) != 0)
            goto oom;
    }
    /* 17 significant digits: every double survives the trip through text exactly. */
    text = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (text == NULL)
        goto oom;
    tia__param p = tia__p_text(text);
    rc = tia__db_exec(s, &sql_insert_json, &p, 1, NULL, err);
    goto done;
oom:
    rc = tia_error_set(err, TIA_ENOMEM, "out of memory building a metric batch");
done:
    free(text);
    json_decref(arr);
    return rc;
}

static int insert_all(tia_store *s, const tia_metric_new *items, size_t n, tia_error *err)
{
    int pg = tia_store_backend(s) == TIA_BACKEND_POSTGRES;
    for (size_t i = 0; i < n;) {
        size_t k = pg ? (n - i < BATCH_CHUNK ? n - i : BATCH_CHUNK) : 1;
        char id[TIA_UUID_BUF];
        int rc = pg ? insert_chunk_pg(s, items + i, k, err) : insert_one(s, items + i, id, err);
        if (rc != 0)
            return rc;
        i += k;
    }
    return 0;
}

int tia_metric_record_batch(tia_store *s, const tia_metric_new *items, size_t n, tia_error *err)
{
    if (n == 0 || n > TIA_METRIC_BATCH_MAX)
        return tia_error_set(err, TIA_EINVAL, "a batch holds 1 to %d points, not %zu",
                             TIA_METRIC_BATCH_MAX, n);
    if (items == NULL)
        return tia_error_set(err, TIA_EINVAL, "items is required");
    for (size_t i = 0; i < n; i++) {
        int rc = check_point(&items[i], (long)i, err);
        if (rc != 0)
            return rc;
    }
    int rc = tia__db_begin(s, err);
    if (rc != 0)
        return rc;
    rc = insert_all(s, items, n, err);
    if (rc == 0)
        return tia__db_commit(s, err);
    tia__db_rollback(s);
    if (rc == TIA_ENOTFOUND)
        rc = unknown_agent(s, items, n, err);
    return rc;
}

static void metric_clear(tia_metric *m)
{
    free(m->agent_id);
    free(m->metric_type);
    free(m->unit);
    free(m->context);
}

void tia_metric_list_free(struct tia_metric_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        metric_clear(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* Reads the current row of sql_list into m; 0 or TIA_ENOMEM. */
static int read_metric(tia__rows *r, tia_metric *m, tia_error *err)
{
    int oom = 0;
    snprintf(m->id, sizeof m->id, "%s", tia__col_text(r, 0) ? tia__col_text(r, 0) : "");
    m->agent_id = tia__col_dup(r, 1, &oom);
    m->metric_type = tia__col_dup(r, 2, &oom);
    m->value = tia__col_double(r, 3);
    m->unit = tia__col_dup(r, 4, &oom);
    m->recorded_at = tia__col_time(r, 5);
    m->context = tia__col_dup(r, 6, &oom);
    if (oom)
        return tia_error_set(err, TIA_ENOMEM, "out of memory reading metrics");
    return 0;
}

int tia_metric_list(tia_store *s, const char *agent_id, const char *metric_type, size_t limit,
                    struct tia_metric_list *out, tia_error *err)
{
    out->n = 0;
    out->items = NULL;
    size_t lim;
    tia__rows *r = NULL;
    struct tia_metric_list l = {0, NULL};
    int rc;
    if ((rc = tia__check_limit(err, limit, &lim)) != 0 ||
        (rc = tia__check_text(err, "agent_id", agent_id, TIA_AGENT_ID_MAX, 0)) != 0 ||
        (rc = tia__check_text(err, "metric_type", metric_type, TIA_METRIC_TYPE_MAX, 0)) != 0)
        return rc;
    l.items = calloc(lim, sizeof *l.items);
    if (l.items == NULL)
        return tia_error_set(err, TIA_ENOMEM, "out of memory listing metrics");
    tia__param p[3] = {tia__p_text(agent_id), tia__p_text(metric_type), tia__p_int((int64_t)lim)};
    if ((rc = tia__db_read(s, &sql_list, p, 3, &r, err)) != 0)
        goto done;
    while (l.n < lim && (rc = tia__rows_next(r, err)) > 0) {
        /* Counted before reading so that a partly read item is freed too. */
        rc = read_metric(r, &l.items[l.n++], err);
        if (rc != 0)
            goto done;
    }
    if (rc >= 0) {
        rc = 0;
        *out = l;
        l.items = NULL;
        l.n = 0;
    }
done:
    tia__rows_free(r);
    tia_metric_list_free(&l);
    return rc;
}

static const char *const bucket_names[] = {"minute", "hour", "day"};

int tia_bucket_parse(const char *name, tia_bucket *out)
{
    for (size_t i = 0; name != NULL && i < sizeof bucket_names / sizeof *bucket_names; i++) {
        if (strcmp(name, bucket_names[i]) == 0) {
            *out = (tia_bucket)i;
            return 0;
        }
    }
    return TIA_EINVAL;
}

const char *tia_bucket_name(tia_bucket b)
{
    if ((unsigned)b >= sizeof bucket_names / sizeof *bucket_names)
        return NULL;
    return bucket_names[b];
}

static int64_t bucket_width(tia_bucket b)
{
    switch (b) {
    case TIA_BUCKET_MINUTE: return MINUTE_US;
    case TIA_BUCKET_HOUR: return 60 * MINUTE_US;
    case TIA_BUCKET_DAY: return 24 * 60 * MINUTE_US;
    }
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int check_query(const tia_metric_query *q, int64_t *width, tia_error *err)
{
    int rc;
    if (q == NULL)
        return tia_error_set(err, TIA_EINVAL, "query is required");
    if ((rc = tia__check_text(err, "metric_type", q->metric_type, TIA_METRIC_TYPE_MAX, 1)) != 0 ||
        (rc = tia__check_text(err, "agent_id", q->agent_id, TIA_AGENT_ID_MAX, 0)) != 0)
        return rc;
    if ((*width = bucket_width(q->bucket)) == 0)
        return tia_error_set(err, TIA_EINVAL, "bucket must be minute, hour or day (got %d)",
                             (int)q->bucket);
    if (q->from == TIA_TIME_NONE || q->to == TIA_TIME_NONE)
        return tia_error_set(err, TIA_EINVAL, "from and to are required");
    if (q->to <= q->from)
        return tia_error_set(err, TIA_EINVAL, "to must be after from");
    /* Counted on quotients, which cannot overflow whatever from and to are. */
    int64_t buckets = floor_div(q->to - 1, *width) - floor_div(q->from, *width) + 1;
    if (buckets > SERIES_MAX_BUCKETS)
        return tia_error_set(err, TIA_EINVAL,
                             "the range spans %lld %s buckets, at most %d per query",
                             (long long)buckets, bucket_names[q->bucket], SERIES_MAX_BUCKETS);
    return 0;
}

/*
 * PostgreSQL's percentile_cont on sorted v[0..n): linear interpolation between
 * the rows floor(p * (n - 1)) and ceil(p * (n - 1)), with the same arithmetic
 * so that both backends agree to the last bit.
 */
static double percentile_cont(const double *v, size_t n, double p)
{
    double pos = p * (double)(n - 1);
    double lo = floor(pos), hi = ceil(pos);
    double first = v[(size_t)lo];
    if (lo == hi)
        return first;
    double second = v[(size_t)hi];
    return first + (pos - lo) * (second - first);
}

/* One bucket from its sorted values (n > 0). */
static tia_metric_bucket aggregate(tia_time_us start, const double *v, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    tia_metric_bucket b = {start,
                           (int64_t)n,
                           sum / (double)n,
                           v[0],
                           v[n - 1],
                           percentile_cont(v, n, 0.5),
                           percentile_cont(v, n, 0.95)};
    return b;
}

/* A growable array of buckets or of doubles. */
static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need)
        c *= 2;
    void *g = realloc(*arr, c * elem);
    if (g == NULL)
        return -1;
    *arr = g;
    *cap = c;
    return 0;
}

static int push_bucket(tia_metric_series *out, size_t *cap, tia_metric_bucket b)
{
    if (grow((void **)&out->items, cap, out->n + 1, sizeof b) != 0)
        return -1;
    out->items[out->n++] = b;
    return 0;
}

/* PostgreSQL rows are the buckets already. */
static int read_series_pg(tia__rows *r, tia_metric_series *out, tia_error *err)
{
    size_t cap = 0;
    int rc;
    while ((rc = tia__rows_next(r, err)) > 0) {
        tia_metric_bucket b = {tia__col_int(r, 0),    tia__col_int(r, 1),    tia__col_double(r, 2),
                               tia__col_double(r, 3), tia__col_double(r, 4), tia__col_double(r, 5),
                               tia__col_double(r, 6)};
        if (push_bucket(out, &cap, b) != 0)
            return tia_error_set(err, TIA_ENOMEM, "out of memory reading a series");
    }
    return rc;
}

/* SQLite rows are (bucket, value) sorted by both: gather each bucket's values, then fold. */
static int read_series_sqlite(tia__rows *r, tia_metric_series *out, tia_error *err)
{
    size_t cap = 0, vcap = 0, nv = 0;
    double *v = NULL;
    tia_time_us cur = 0;
    int rc;
    while ((rc = tia__rows_next(r, err)) > 0) {
        tia_time_us b = tia__col_int(r, 0);
        if (nv > 0 && b != cur) {
            if (push_bucket(out, &cap, aggregate(cur, v, nv)) != 0)
                goto oom;
            nv = 0;
        }
        cur = b;
        if (grow((void **)&v, &vcap, nv + 1, sizeof *v) != 0)
            goto oom;
        v[nv++] = tia__col_double(r, 1);
    }
    if (rc == 0 && nv > 0 && push_bucket(out, &cap, aggregate(cur, v, nv)) != 0)
        goto oom;
    goto done;
oom:
    rc = tia_error_set(err, TIA_ENOMEM, "out of memory reading a series");
done:
    free(v);
    return rc;
}

void tia_metric_series_free(tia_metric_series *s)
{
    if (s == NULL)
        return;
    free(s->items);
    s->items = NULL;
    s->n = 0;
}

int tia__metric_series_raw(tia_store *s, const tia_metric_query *q, tia_time_us from,
                           tia_time_us to, int64_t width, tia_metric_series *out,
                           tia_error *err)
{
    out->n = 0;
    out->items = NULL;
    tia__rows *r = NULL;
    tia_metric_series res = {0, NULL};
    int rc;
    tia__param p[5] = {tia__p_text(q->metric_type), tia__p_text(q->agent_id), tia__p_ts(from),
                       tia__p_ts(to), tia__p_int(width)};
    if ((rc = tia__db_read(s, &sql_series, p, 5, &r, err)) != 0)
        goto done;
    rc = tia_store_backend(s) == TIA_BACKEND_POSTGRES ? read_series_pg(r, &res, err)
                                                      : read_series_sqlite(r, &res, err);
    if (rc >= 0) {
        rc = 0;
        *out = res;
        res.items = NULL;
    }
done:
    tia__rows_free(r);
    tia_metric_series_free(&res);
    return rc;
}

/*
 * Minute buckets read the raw points; hour and day buckets read the hourly
 * rollups where there are some (store/rollup.c), raw points elsewhere.
 */
int tia_metric_query_series(tia_store *s, const tia_metric_query *q, tia_metric_series *out,
                            tia_error *err)
{
    out->n = 0;
    out->items = NULL;
    int64_t width = 0;
    int rc = check_query(q, &width, err);
    if (rc != 0)
        return rc;
    if (q->bucket == TIA_BUCKET_MINUTE)
        return tia__metric_series_raw(s, q, q->from, q->to, width, out, err);
    return tia__metric_series_rollup(s, q, width, out, err);
}
