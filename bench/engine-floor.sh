#!/usr/bin/env bash
# The floor under bench_engine's PostgreSQL figure (bench/README.md, "Engine"):
#   bench/engine-floor.sh BUILD_DIR [SECONDS=10]
# Starts a durable throwaway cluster (as bench/run.sh), migrates two databases with
# the build's `tokyoia migrate`, and measures with pgbench, one after the other:
#   - the reference of bench_engine: one autocommit INSERT per row into
#     bench_insert, 16 clients;
#   - the row work of a lifecycle and nothing else, in batches of 100 tasks per
#     transaction: the task row inserted, updated to running, updated to completed,
#     and its three metric points inserted, with triggers and foreign-key checks
#     off (session_replication_role = replica), so no counters, events, hours or
#     rollups, 2 and 4 clients; once with every index of agent_tasks, once with
#     only the seed's (the ones the engine added are dropped in that database).
# No engine can do less than this per lifecycle on this schema, so the floor's
# lifecycles per second, at full use of the machine, bound what bench_engine can
# reach. Prints each rate and its ratio to the INSERT rate; stops the cluster and
# removes everything it made, also on failure or Ctrl-C.
set -euo pipefail

build=${1:?usage: bench/engine-floor.sh BUILD_DIR [SECONDS]}
build=$(cd "$build" && pwd)
secs=${2:-10}
src=$(cd "$(dirname "$0")/.." && pwd)
bindir=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/pgbench" ]; then
  echo "bench/engine-floor.sh: pgbench not found (install package postgresql)" >&2
  exit 1
fi
[ -x "$build/tokyoia" ] || {
  echo "bench/engine-floor.sh: $build/tokyoia is missing: build first" >&2
  exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/tia-floor.XXXXXX")
chmod 755 "$work" # pgbench runs as this user, but psql and the server as postgres
state=$work/pg.state
cleanup() {
  "$src/scripts/pg-test-cluster.sh" stop "$state" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TIA_PG_DURABLE=1 TIA_PG_EXTRA_OPTS="-c max_wal_size=4GB" \
  "$src/scripts/pg-test-cluster.sh" start "$state" > /dev/null
admin=$(cat "$state")
host=$(sed 's/.*host=\([^ ]*\).*/\1/' <<< "$admin")
db_url() { echo "${admin/dbname=postgres/dbname=$1}"; }
for db in floor_all floor_seed; do
  "$bindir/psql" "$admin" -qX -c "CREATE DATABASE $db"
  "$build/tokyoia" --db "$(db_url $db)" migrate > /dev/null
done
# The indexes the seed's schema names (db/schema.sql's "Performance Indexes") and
# the primary key stay; the engine's own go.
"$bindir/psql" "$(db_url floor_seed)" -qX -v ON_ERROR_STOP=1 -c "
  DROP INDEX idx_tasks_idempotency_key, idx_tasks_lease, idx_tasks_agent_created_id,
             idx_tasks_ready, idx_tasks_workflow_open, idx_tasks_parent"
"$bindir/psql" "$(db_url floor_all)" -qX -c \
  "CREATE TABLE bench_insert (id bigserial PRIMARY KEY, payload text)"

cat > "$work/insert.sql" << 'EOF'
INSERT INTO bench_insert (payload) VALUES ('x');
EOF
# Ids are time-ordered (UUIDv7-like: milliseconds first), as the engine's are.
cat > "$work/lifecycle.sql" << 'EOF'
BEGIN;
CREATE TEMP TABLE IF NOT EXISTS batch (id uuid) ON COMMIT DELETE ROWS;
WITH ins AS (
  INSERT INTO agent_tasks (id, agent_id, task_type, description, status, input_data)
  SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
          || substr(md5(random()::text), 1, 20))::uuid,
         (ARRAY['akira-001', 'yuki-002', 'hiro-003', 'sakura-004', 'kenji-005'])[1 + g % 5],
         'floor', 'a floor task', 'pending', '{"n": 1}'::jsonb
  FROM generate_series(1, 100) g RETURNING id)
INSERT INTO batch SELECT id FROM ins;
UPDATE agent_tasks SET status = 'running', started_at = now(), worker_id = 'w',
       lease_expires_at = now() + interval '30 seconds'
 WHERE id = ANY (ARRAY(SELECT id FROM batch));
UPDATE agent_tasks SET status = 'completed', completed_at = now(), duration_ms = 5,
       tokens_used = 100, cost_usd = 0.001, output_data = '{"ok": true}'
 WHERE id = ANY (ARRAY(SELECT id FROM batch));
INSERT INTO agent_metrics (agent_id, metric_type, metric_value, metric_unit, recorded_at)
SELECT t.agent_id, m.k, 1.0, 'ms', now()
  FROM agent_tasks t CROSS JOIN (VALUES ('latency'), ('tokens'), ('cost')) m(k)
 WHERE t.id = ANY (ARRAY(SELECT id FROM batch));
COMMIT;
EOF

# pgbench's transactions per second; $1 database, $2 clients, $3 script, then options.
tps() {
  local db=$1 clients=$2 script=$3
  shift 3
  as_pg "$bindir/pgbench" -n -h "$host" -U postgres -f "$script" -c "$clients" -j 2 \
    -T "$secs" "$@" "$db" 2> "$work/pgbench.err" |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1 | grep . ||
    {
      cat "$work/pgbench.err" >&2
      exit 1
    }
}
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

echo "bench/engine-floor.sh: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), ${secs} s each"
ins=$(tps floor_all 16 "$work/insert.sql")
printf '   %-58s %9.0f rows/s\n' "INSERT reference (16 clients, autocommit)" "$ins"
for db in floor_all floor_seed; do
  "$bindir/psql" "$(db_url $db)" -qX -c "VACUUM ANALYZE"
  for c in 2 4; do
    t=$(PGOPTIONS="-c session_replication_role=replica" tps "$db" "$c" "$work/lifecycle.sql")
    label="row work of a lifecycle, $([ $db = floor_all ] && echo "all indexes" || echo "seed indexes only"), $c clients"
    awk -v l="$label" -v t="$t" -v i="$ins" \
      'BEGIN { printf "   %-58s %9.0f lifecycles/s  %.2fx INSERT\n", l, t * 100, t * 100 / i }'
  done
done
echo "bench/engine-floor.sh: done (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
