#!/usr/bin/env bash
# Measures how long a ready task waits for an idle worker (bench/README.md,
# "Wake-up latency"):
#   bench/run-wakeup.sh BUILD_DIR
# Starts a throwaway, durable PostgreSQL cluster (scripts/pg-test-cluster.sh with
# TIA_PG_DURABLE=1, as bench/run.sh does), migrates a database with `tokyoia
# migrate`, runs bench_wakeup on it, then on a SQLite file, and removes everything
# it made, also on failure or Ctrl-C. Results: BUILD_DIR/bench/results-wakeup.txt.
# Environment:
#   TIA_BENCH_WAKEUP_ARGS  bench_wakeup options ("--tasks 500 --workers 4 --interval-ms 20")
#   TIA_BENCH_ONLY         "postgresql" or "sqlite" to run one backend
set -euo pipefail

build=${1:?usage: bench/run-wakeup.sh BUILD_DIR}
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
only=${TIA_BENCH_ONLY:-}
read -r -a args <<< "${TIA_BENCH_WAKEUP_ARGS:-}"

for bin in "$build/tokyoia" "$build/bench/bench_wakeup"; do
  if [ ! -x "$bin" ]; then
    echo "bench/run-wakeup.sh: $bin is missing: build the bench_all target first" >&2
    exit 1
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/tia-bench-wake.XXXXXX")
state=$work/pg.state
cleanup() {
  "$src/scripts/pg-test-cluster.sh" stop "$state" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_bin=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2> /dev/null | sort -V | tail -n 1)
out=$build/bench/results-wakeup.txt
: > "$out"

run_backend() {
  local db=$1 backend=$2
  echo "== $backend: migrate, then bench_wakeup"
  "$build/tokyoia" --db "$db" migrate > /dev/null
  "$build/bench/bench_wakeup" --db "$db" "${args[@]}" | tee -a "$out"
}

echo "bench/run-wakeup.sh: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" |
  tee -a "$out"
if [ "$only" != sqlite ]; then
  TIA_PG_DURABLE=1 "$src/scripts/pg-test-cluster.sh" start "$state"
  admin=$(cat "$state")
  "$psql_bin" "$admin" -qX -c "CREATE DATABASE tokyoia_bench"
  run_backend "${admin/dbname=postgres/dbname=tokyoia_bench}" postgresql
  "$src/scripts/pg-test-cluster.sh" stop "$state"
fi
if [ "$only" != postgresql ]; then
  run_backend "$work/wakeup.db" sqlite
fi
echo "bench/run-wakeup.sh: results in $out"
