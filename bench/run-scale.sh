#!/usr/bin/env bash
# The scale run of issue 5 (bench/README.md, "Scale"): a PostgreSQL database of
# TIA_SCALE_TASKS tasks (default 10,000,000) and TIA_SCALE_METRICS metric points
# (default 30,000,000), then
#   1. bytes per task, per metric point and per table (pg_total_relation_size),
#   2. p50/p95/p99 of every seed query pattern, library beside the seed's SQL
#      (bench_store --inserts 0),
#   3. the 7-day hourly series from the rollups beside raw points, and expiring a
#      month of points by dropping its partition beside DELETE (bench_retention),
#      with the copies in the page cache, then again with their files dropped from
#      it first (--cold: as root, which can open the server's files), and both again in a tablespace on another file
#      system when TIA_SCALE_TABLESPACE_DIR names an empty directory there,
#   4. with TIA_SCALE_BACKUP=1, tokyoia backup and restore (custom format) in MB/s.
# Results: BUILD_DIR/bench/results-scale.txt.
#
#   bench/run-scale.sh BUILD_DIR
#   TIA_SCALE_DB='host=... dbname=...' bench/run-scale.sh BUILD_DIR   # an existing,
#       already loaded database: no cluster is started, nothing is loaded or dropped;
#       TIA_SCALE_ADMIN (a conninfo on the same server with CREATEDB) lets step 4
#       restore into a new database tokyoia_restored
#
# Loading 10M tasks and 30M points takes about an hour on 2 cores and about 20 GB.
set -euo pipefail

build=${1:?usage: bench/run-scale.sh BUILD_DIR}
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
tasks=${TIA_SCALE_TASKS:-10000000}
metrics=${TIA_SCALE_METRICS:-30000000}
out="$build/bench/results-scale.txt"

for bin in "$build/tokyoia" "$build/bench/bench_store" "$build/bench/bench_retention"; do
  if [ ! -x "$bin" ]; then
    echo "bench/run-scale.sh: $bin is missing: build the bench_all target first" >&2
    exit 1
  fi
done
psql_bin=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2> /dev/null | sort -V | tail -n 1)

work=$(mktemp -d "${TMPDIR:-/tmp}/tia-scale.XXXXXX")
state=$work/pg.state
cleanup() {
  [ -n "${TIA_SCALE_DB:-}" ] || "$src/scripts/pg-test-cluster.sh" stop "$state" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "$@" | tee -a "$out"; }
: > "$out"
say "bench/run-scale.sh: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

admin=${TIA_SCALE_ADMIN:-}
if [ -n "${TIA_SCALE_DB:-}" ]; then
  db=$TIA_SCALE_DB
  "$build/tokyoia" --db "$db" migrate | tee -a "$out"
else
  TIA_PG_DURABLE=1 TIA_PG_EXTRA_OPTS="-c max_wal_size=8GB" \
    "$src/scripts/pg-test-cluster.sh" start "$state"
  admin=$(cat "$state")
  "$psql_bin" "$admin" -qX -c "CREATE DATABASE tokyoia_scale"
  db=${admin/dbname=postgres/dbname=tokyoia_scale}
  "$build/tokyoia" --db "$db" migrate
  say "== generate $tasks tasks and $metrics metric points"
  "$build/tokyoia" --db "$db" generate --tasks "$tasks" --metrics "$metrics" 2>&1 | tail -n 3 | tee -a "$out"
fi
"$build/tokyoia" --db "$db" maintain | tee -a "$out"
"$psql_bin" "$db" -qX -c "VACUUM ANALYZE" > /dev/null

say ""
say "== 1. sizes"
"$psql_bin" "$db" -X -v ON_ERROR_STOP=1 <<'SQL' | tee -a "$out"
WITH t AS (
  SELECT c.relname, pg_total_relation_size(c.oid) AS total
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
), parts AS (
  -- a partitioned table's size is the sum of its partitions'
  SELECT i.inhparent::regclass::text AS relname, sum(pg_total_relation_size(i.inhrelid)) AS total
  FROM pg_inherits i GROUP BY 1
)
SELECT t.relname AS "table", pg_size_pretty(COALESCE(p.total, 0) + t.total) AS size,
       COALESCE(p.total, 0) + t.total AS bytes
FROM t LEFT JOIN parts p ON p.relname = t.relname
ORDER BY 3 DESC LIMIT 12;

SELECT (SELECT count(*) FROM agent_tasks) AS tasks,
       (SELECT count(*) FROM agent_metrics) AS metric_points,
       pg_size_pretty(pg_database_size(current_database())) AS database;

SELECT round(pg_total_relation_size('agent_tasks') / NULLIF((SELECT count(*) FROM agent_tasks), 0)::numeric)
         AS bytes_per_task_row_and_indexes,
       round((SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits
              WHERE inhparent = 'agent_metrics'::regclass)
             / NULLIF((SELECT count(*) FROM agent_metrics), 0)::numeric) AS bytes_per_metric_point,
       round((pg_database_size(current_database()) / NULLIF((SELECT count(*) FROM agent_tasks), 0)::numeric))
         AS database_bytes_per_task;
SQL

say ""
say "== 2. seed query patterns (bench_store --inserts 0)"
"$build/bench/bench_store" --db "$db" --inserts 0 --runs "${TIA_SCALE_RUNS:-300}" --out "$work/store.txt" > /dev/null
cat "$work/store.txt" >> "$out"
cat "$work/store.txt"

say ""
say "== 3. rollups and partitions (bench_retention)"
retention() {
  "$build/bench/bench_retention" --db "$db" --out "$work/ret.txt" "$@" > /dev/null
  cat "$work/ret.txt" >> "$out"
  cat "$work/ret.txt"
}
datadir=$("$psql_bin" "$db" -qXAt -c "SHOW data_directory" 2> /dev/null || true)
[ -n "$datadir" ] && say "data directory on: $(findmnt -n -o SOURCE,FSTYPE,OPTIONS -T "$datadir" || true)"
retention
if [ "$(id -u)" = 0 ]; then
  retention --only drop --cold
else
  say "(not root: the --cold run, which opens the server's files, is left out)"
fi
if [ -n "${TIA_SCALE_TABLESPACE_DIR:-}" ]; then
  # The server writes there: as root, the directory goes to the postgres user.
  [ "$(id -u)" = 0 ] && chown postgres: "$TIA_SCALE_TABLESPACE_DIR"
  "$psql_bin" "$db" -qX -v ON_ERROR_STOP=1 -v dir="$TIA_SCALE_TABLESPACE_DIR" <<'SQL'
DROP TABLESPACE IF EXISTS tia_bench_ts;
CREATE TABLESPACE tia_bench_ts LOCATION :'dir';
SQL
  say "tablespace tia_bench_ts on: $(findmnt -n -o SOURCE,FSTYPE,OPTIONS -T "$TIA_SCALE_TABLESPACE_DIR" || true)"
  retention --only drop --tablespace tia_bench_ts
  [ "$(id -u)" = 0 ] && retention --only drop --tablespace tia_bench_ts --cold
  "$psql_bin" "$db" -qX -c "DROP TABLESPACE tia_bench_ts"
fi

if [ "${TIA_SCALE_BACKUP:-0}" = 1 ]; then
  say ""
  say "== 4. backup and restore"
  "$build/tokyoia" --db "$db" backup "$work/scale.dump" | tee -a "$out"
  if [ -n "$admin" ]; then
    "$psql_bin" "$admin" -qX -c "DROP DATABASE IF EXISTS tokyoia_restored" -c "CREATE DATABASE tokyoia_restored"
    "$build/tokyoia" --db "${admin/dbname=postgres/dbname=tokyoia_restored}" restore "$work/scale.dump" | tee -a "$out"
  fi
fi
say ""
say "bench/run-scale.sh: done, load average $(cut -d' ' -f1-3 /proc/loadavg); results in $out"
