/*
 * `tokyoia metrics`: list the newest points, record one, and query a time series
 * bucketed by minute, hour or day over a window ending now.
 */
#include <stdio.h>

#include <tokyoia/metrics.h>

#include "cli/cli.h"

static const char *const point_cols[] = {"recorded_at", "agent_id", "metric_type", "metric_value", "metric_unit"};
static const char *const bucket_cols[] = {"start", "count", "avg", "min", "max", "p50", "p95"};

typedef struct metric_args {
    tia_cli_pos pos;
    const char *agent, *type, *unit, *context;
    double value;
    int64_t limit, since;
    tia_time_us at;
    tia_bucket bucket;
    int seen_at;
} metric_args;

static int list_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    metric_args *a = ctx;
    struct tia_metric_list l = {0};
    int rc = tia_metric_list(s, a->agent, a->type, (size_t)a->limit, &l, err);
    if (rc == 0) {
        res->value = json_array();
        for (size_t i = 0; i < l.n; i++)
            json_array_append_new(res->value, tia__json_metric(&l.items[i]));
        res->cols = TIA_CLI_COLS(point_cols);
    }
    tia_metric_list_free(&l);
    return rc;
}

static int metrics_list(int argc, char **argv, const tia_cli_opts *opts)
{
    metric_args a = {0};
    const tia_cli_opt o[] = {
        {"--agent", TIA_OPT_STR, &a.agent, 0, "A", "only points of this agent", NULL},
        {"--type", TIA_OPT_STR, &a.type, 0, "T", "only points of this metric type", NULL},
        {"--limit", TIA_OPT_POSINT, &a.limit, 0, "N", "how many, 1..1000 (default 50)", NULL},
    };
    tia_cli_parse_spec spec = {"metrics list", "", "Lists the newest metric points.", o,
                               TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, list_body, &a);
}

static int record_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    metric_args *a = ctx;
    tia_metric_new m = {a->agent,  a->type, a->value, a->unit, a->seen_at ? a->at : TIA_TIME_NONE,
                        a->context};
    char id[TIA_UUID_BUF];
    int rc = tia_metric_record(s, &m, id, err);
    if (rc == 0) {
        res->value = json_pack("{s:s}", "id", id);
        snprintf(res->message, sizeof res->message, "Recorded metric %s.", id);
    }
    return rc;
}

static int metrics_record(int argc, char **argv, const tia_cli_opts *opts)
{
    metric_args a = {0};
    const tia_cli_opt o[] = {
        {"--agent", TIA_OPT_STR, &a.agent, 1, "A", "the agent", NULL},
        {"--type", TIA_OPT_STR, &a.type, 1, "T", "latency, tokens, cost, success_rate, ...", NULL},
        {"--value", TIA_OPT_DOUBLE, &a.value, 1, "V", "the value (finite)", NULL},
        {"--unit", TIA_OPT_STR, &a.unit, 0, "U", "unit (ms, tokens, usd, ...)", NULL},
        {"--context", TIA_OPT_STR, &a.context, 0, "JSON", "context object", NULL},
        {"--at", TIA_OPT_TIME, &a.at, 0, "ISO", "when it was measured (default now)", &a.seen_at},
    };
    tia_cli_parse_spec spec = {"metrics record", "", "Records one metric point.", o, TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, record_body, &a);
}

static int query_body(tia_store *s, void *ctx, tia_cli_result *res, tia_error *err)
{
    metric_args *a = ctx;
    tia_time_us now = tia_now_us();
    tia_metric_query q = {a->agent, a->type, now - a->since, now + 1, a->bucket};
    tia_metric_series ser = {0};
    int rc = tia_metric_query_series(s, &q, &ser, err);
    if (rc == 0) {
        res->value = json_array();
        for (size_t i = 0; i < ser.n; i++) {
            const tia_metric_bucket *b = &ser.items[i];
            json_t *o = json_object();
            tia__jtime(o, "start", b->start);
            tia__jint(o, "count", b->count);
            tia__jreal(o, "avg", b->avg);
            tia__jreal(o, "min", b->min);
            tia__jreal(o, "max", b->max);
            tia__jreal(o, "p50", b->p50);
            tia__jreal(o, "p95", b->p95);
            json_array_append_new(res->value, o);
        }
        res->cols = TIA_CLI_COLS(bucket_cols);
    }
    tia_metric_series_free(&ser);
    return rc;
}

static int metrics_query(int argc, char **argv, const tia_cli_opts *opts)
{
    metric_args a = {0};
    a.since = INT64_C(86400000000);
    a.bucket = TIA_BUCKET_HOUR;
    const tia_cli_opt o[] = {
        {"--type", TIA_OPT_STR, &a.type, 1, "T", "the metric type", NULL},
        {"--agent", TIA_OPT_STR, &a.agent, 0, "A", "one agent (default: all)", NULL},
        {"--since", TIA_OPT_DURATION, &a.since, 0, "DURATION", "window ending now (default 24h)",
         NULL},
        {"--bucket", TIA_OPT_BUCKET, &a.bucket, 0, "B", "minute, hour (default) or day", NULL},
    };
    tia_cli_parse_spec spec = {"metrics query", "",
                               "Buckets a metric over a window: count, avg, min, max, p50, p95 "
                               "per bucket (empty buckets omitted).",
                               o, TIA_CLI_N(o)};
    return tia_cli_run(&spec, argc, argv, &a.pos, opts, query_body, &a);
}

int tia_cli_metrics(int argc, char **argv, const tia_cli_opts *opts)
{
    static const tia_cli_cmd cmds[] = {
        {"list", "", "list the newest points", metrics_list},
        {"record", "", "record one point", metrics_record},
        {"query", "", "a bucketed time series", metrics_query},
    };
    return tia_cli_dispatch("metrics", "Agent metrics (time series).", cmds, TIA_CLI_N(cmds),
                            "list", argc, argv, opts);
}
