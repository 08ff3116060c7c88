#!/usr/bin/env bash
# Runs the benchmarks (bench/README.md): `make bench` calls it as
#   bench/run.sh BUILD_DIR
# It starts a throwaway, durable PostgreSQL cluster (scripts/pg-test-cluster.sh with
# TIA_PG_DURABLE=1); the engine part migrates an empty database and runs
# bench_engine on it (lifecycles per second beside the raw INSERT rate); the store
# part creates and migrates another, loads it with `tokyoia generate`, settles it
# (VACUUM ANALYZE on PostgreSQL) and runs bench_store on it, pinned (see
# run_backend). Then the same on SQLite files. It prints the figures, and
# stops the cluster and removes everything it made, also on failure or Ctrl-C.
# Results: BUILD_DIR/bench/results-{engine-,}{postgresql,sqlite}.txt.
# Environment:
#   TIA_BENCH_TASKS        tasks to generate (default 1000000)
#   TIA_BENCH_METRICS      metric points to generate (default 3000000)
#   TIA_BENCH_ARGS         extra bench_store options ("--inserts 100 --rounds 4 --runs 50")
#   TIA_BENCH_ENGINE_ARGS  extra bench_engine options ("--tasks 5000 --workers 1,4")
#   TIA_BENCH_ONLY         "postgresql" or "sqlite" to run one backend
#   TIA_BENCH_PARTS        "engine", "store" or both (default "engine store")
#   TIA_BENCH_PIN          0 to leave bench_store and PostgreSQL unpinned (see below)
set -euo pipefail

build=${1:?usage: bench/run.sh BUILD_DIR}
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
tasks=${TIA_BENCH_TASKS:-1000000}
metrics=${TIA_BENCH_METRICS:-3000000}
only=${TIA_BENCH_ONLY:-}
parts=${TIA_BENCH_PARTS:-engine store}
pin=${TIA_BENCH_PIN:-1}
read -r -a bench_args <<< "${TIA_BENCH_ARGS:-}"
read -r -a engine_args <<< "${TIA_BENCH_ENGINE_ARGS:-}"

for bin in "$build/tokyoia" "$build/bench/bench_store" "$build/bench/bench_engine"; do
  if [ ! -x "$bin" ]; then
    echo "bench/run.sh: $bin is missing: build the bench_all target first" >&2
    exit 1
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/tia-bench.XXXXXX")
state=$work/pg.state
cleanup() {
  "$src/scripts/pg-test-cluster.sh" stop "$state" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_bin=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2> /dev/null | sort -V | tail -n 1)

has_part() { [[ " $parts " == *" $1 "* ]]; }

# Runs bench_engine on the empty database at $1 after migrating it; $2 names the backend.
run_engine() {
  local db=$1 backend=$2 out="$build/bench/results-engine-$2.txt"
  echo "== $backend: migrate, bench_engine"
  "$build/tokyoia" --db "$db" migrate
  "$build/bench/bench_engine" --db "$db" --out "$out" "${engine_args[@]}"
  echo "== $backend: results in $out"
}

# Loads $tasks/$metrics into the database at $1 and benchmarks it; $2 names the backend.
run_backend() {
  local db=$1 backend=$2 out="$build/bench/results-$2.txt"
  echo "== $backend: migrate, generate $tasks tasks and $metrics metrics"
  "$build/tokyoia" --db "$db" migrate
  "$build/tokyoia" --db "$db" generate --tasks "$tasks" --metrics "$metrics" | tee "$work/gen.txt"
  if [ "$backend" = postgresql ]; then
    # Settle the load first: otherwise autovacuum visits the new tables (and sets
    # their hint bits) while bench_store measures, on the same CPUs.
    echo "== $backend: VACUUM (ANALYZE) after the load"
    "$psql_bin" "$db" -qX -c "VACUUM (ANALYZE)"
  fi
  echo "== $backend: bench_store"
  # On PostgreSQL each side of bench_store has its own connection, so its own
  # server process, and the scheduler places each of them beside or away from
  # the client as it pleases: on 2 cores that alone moved a side's median by up
  # to 2x between runs of the same code. Pinned, the client runs on CPU 0 and
  # every server process on CPU 1, the same placement for both sides.
  local pinned=()
  if [ "$backend" = postgresql ] && [ "$pin" != 0 ] && [ "$(nproc)" -ge 2 ] &&
    command -v taskset > /dev/null; then
    local datadir
    datadir=$("$psql_bin" "$db" -qXAt -c "SHOW data_directory")
    taskset -a -p -c 1 "$(head -n 1 "$datadir/postmaster.pid")" > /dev/null
    pinned=(taskset -c 0)
    echo "   pinned: bench_store on CPU 0, PostgreSQL's processes on CPU 1"
  fi
  "${pinned[@]}" "$build/bench/bench_store" --db "$db" --out "$work/bench.txt" "${bench_args[@]}"
  { cat "$work/bench.txt"; echo; echo "generate:"; sed 's/^/   /' "$work/gen.txt"; } > "$out"
  echo "== $backend: results in $out"
}

echo "bench/run.sh: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), in $work"
if [ "$only" != sqlite ]; then
  TIA_PG_DURABLE=1 TIA_PG_EXTRA_OPTS="-c max_wal_size=4GB" \
    "$src/scripts/pg-test-cluster.sh" start "$state"
  admin=$(cat "$state")
  if has_part engine; then
    "$psql_bin" "$admin" -qX -c "CREATE DATABASE tokyoia_engine"
    run_engine "${admin/dbname=postgres/dbname=tokyoia_engine}" postgresql
  fi
  if has_part store; then
    "$psql_bin" "$admin" -qX -c "CREATE DATABASE tokyoia_bench"
    run_backend "${admin/dbname=postgres/dbname=tokyoia_bench}" postgresql
  fi
  "$src/scripts/pg-test-cluster.sh" stop "$state"
fi
if [ "$only" != postgresql ]; then
  if has_part engine; then
    run_engine "$work/engine.db" sqlite
  fi
  if has_part store; then
    run_backend "$work/bench.db" sqlite
  fi
fi
echo "bench/run.sh: done (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
