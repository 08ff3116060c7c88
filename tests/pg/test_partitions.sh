#!/usr/bin/env bash
# agent_metrics partitioned by time (migration 0011):
#   (a) the conversion keeps every row: a database at migration 0010 (the
#       migrations applied with psql and recorded in schema_migrations as the
#       runner records them, since `tokyoia migrate` has no target version) is
#       loaded with points over 400 days, two strays far in the past and future
#       and one with NULL recorded_at; `tokyoia migrate` then converts it, and
#       every row is still there, identical (the NULL one got a time);
#   (b) the table is partitioned, every partition (the default one too) carries
#       the seed's index idx_metrics_agent_type_time and the primary key;
#   (c) range queries prune: EXPLAIN of a one-day range names exactly one
#       partition, a range over two months two, and a generic plan of a
#       prepared range query (the library's way) removes subplans at run time.
# Environment (set by CTest): TIA_SOURCE_DIR, TIA_BIN, TIA_TEST_PG_STATE.
set -euo pipefail

: "${TIA_SOURCE_DIR:?}" "${TIA_BIN:?}" "${TIA_TEST_PG_STATE:?}"
admin=$(cat "$TIA_TEST_PG_STATE")
for kv in $admin; do
    case $kv in
        host=*) export PGHOST=${kv#host=} ;;
        port=*) export PGPORT=${kv#port=} ;;
        user=*) export PGUSER=${kv#user=} ;;
    esac
done
unset PGDATABASE

db=tia_partitions_$$
work=$(mktemp -d)
cleanup() {
    psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
q() { psql -X -v ON_ERROR_STOP=1 -qAt -d "$db" -c "$1"; }
check() { # what, got, want
    if [ "$2" = "$3" ]; then echo "ok: $1"; else fail "$1: got '$2', want '$3'"; fi
}

# (a) The schema as of migration 0010, recorded as the runner would.
createdb "$db"
q "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP)"
for f in "$TIA_SOURCE_DIR"/db/migrations/postgres/00{01..10}_*.sql; do
    psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$db" -f "$f" > /dev/null
    base=$(basename "$f" .sql)
    q "INSERT INTO schema_migrations (version, name, checksum) VALUES ($((10#${base%%_*})), '${base#*_}', '$(sha256sum "$f" | cut -d' ' -f1)')"
done
check "agent_metrics before the conversion is a plain table" \
    "$(q "SELECT relkind FROM pg_class WHERE relname = 'agent_metrics'")" "r"

q "INSERT INTO agent_metrics (agent_id, metric_type, metric_value, metric_unit, recorded_at, context)
   SELECT (ARRAY['akira-001','yuki-002','hiro-003','sakura-004','kenji-005'])[1 + g % 5],
          (ARRAY['latency','tokens','cost'])[1 + g % 3], g * 1.5, 'ms',
          now() - g * interval '2 hours 53 minutes', jsonb_build_object('g', g)
   FROM generate_series(1, 3300) g"
q "INSERT INTO agent_metrics (agent_id, metric_type, metric_value, recorded_at) VALUES
   ('akira-001', 'latency', 1, '2000-01-01T00:00:00Z'),
   ('akira-001', 'latency', 2, '2100-01-01T00:00:00Z'),
   ('akira-001', 'latency', 3, NULL)"
null_id=$(q "SELECT id FROM agent_metrics WHERE recorded_at IS NULL")
rows_sql="SELECT md5(string_agg(concat_ws('|', id, agent_id, metric_type, metric_value, metric_unit, recorded_at, context), ',' ORDER BY id)) FROM agent_metrics WHERE id <> '$null_id'"
before_count=$(q "SELECT count(*) FROM agent_metrics")
before_rows=$(q "$rows_sql")

if ! "$TIA_BIN" --db "${admin/dbname=postgres/dbname=$db}" migrate > "$work/migrate.out" 2>&1; then
    cat "$work/migrate.out" >&2
    fail "tokyoia migrate from 0010 failed"
fi
grep -q "0011_metric_partitions" "$work/migrate.out" || fail "0011 was not applied: $(cat "$work/migrate.out")"
check "row count kept" "$(q "SELECT count(*) FROM agent_metrics")" "$before_count"
check "every row identical" "$(q "$rows_sql" | sed 's/^$/none/')" "$before_rows"
check "the row without recorded_at got the time of the migration" \
    "$(q "SELECT count(*) FROM agent_metrics WHERE id = '$null_id' AND recorded_at > now() - interval '1 hour'")" "1"
check "the strays wait in the default partition" \
    "$(q "SELECT count(*) FROM agent_metrics_default")" "2"

# (b) Partitioned, with the seed's index and the primary key on every partition.
check "agent_metrics is partitioned by range" \
    "$(q "SELECT relkind::text || ':' || pg_get_partkeydef('agent_metrics'::regclass) FROM pg_class WHERE oid = 'agent_metrics'::regclass")" \
    "p:RANGE (recorded_at)"
parts=$(q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'agent_metrics'::regclass")
[ "$parts" -ge 15 ] || fail "expected partitions over 400 days of months, found $parts"
check "every partition has idx_metrics_agent_type_time" \
    "$(q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'idx_metrics_agent_type_time'::regclass")" "$parts"
check "every partition has the primary key" \
    "$(q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'agent_metrics_pkey'::regclass")" "$parts"
check "the primary key is (id, recorded_at)" \
    "$(q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'agent_metrics_pkey'")" \
    "PRIMARY KEY (id, recorded_at)"
check "no row outside a range partition but the strays" \
    "$(q "SELECT count(*) FROM agent_metrics m WHERE NOT EXISTS (SELECT 1 FROM tia_metric_partitions p WHERE m.recorded_at >= p.range_start AND m.recorded_at < p.range_end)")" "2"

# (c) Pruning. Two days of last month, and a range from last month into this one.
day_start=$(q "SELECT date_trunc('month', now(), 'UTC') - interval '1 month' + interval '3 days'")
plan=$(q "EXPLAIN (COSTS OFF) SELECT count(*) FROM agent_metrics WHERE agent_id = 'akira-001' AND metric_type = 'latency' AND recorded_at >= '$day_start' AND recorded_at < timestamptz '$day_start' + interval '1 day'")
echo "$plan" > "$work/plan1"
check "a one-day range reads one partition" "$(grep -o 'agent_metrics_p[0-9]*' "$work/plan1" | sort -u | wc -l)" "1"
grep -q agent_metrics_default "$work/plan1" && fail "the one-day plan reads the default partition: $plan"
plan=$(q "EXPLAIN (COSTS OFF) SELECT count(*) FROM agent_metrics WHERE recorded_at >= '$day_start' AND recorded_at < now()")
echo "$plan" > "$work/plan2"
check "a range over two months reads two partitions" "$(grep -o 'agent_metrics_p[0-9]*' "$work/plan2" | sort -u | wc -l)" "2"
generic=$(psql -X -v ON_ERROR_STOP=1 -qAt -d "$db" <<SQL
SET plan_cache_mode = force_generic_plan;
PREPARE r(timestamptz, timestamptz) AS SELECT count(*) FROM agent_metrics WHERE metric_type = 'latency' AND recorded_at >= \$1 AND recorded_at < \$2;
EXPLAIN (COSTS OFF) EXECUTE r('$day_start', timestamptz '$day_start' + interval '1 day');
SQL
)
echo "$generic" > "$work/plan3"
if grep -q "Subplans Removed: [1-9]" "$work/plan3"; then
    echo "ok: a generic plan prunes partitions at run time"
else
    fail "no run-time pruning in the generic plan: $generic"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all checks passed"
