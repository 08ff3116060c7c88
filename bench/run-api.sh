#!/usr/bin/env bash
# The Registry API benchmark (bench/README.md, "Registry API over HTTP"):
#   bench/run-api.sh BUILD_DIR
# Starts a throwaway durable PostgreSQL cluster (as bench/run.sh), loads it with
# `tokyoia generate` (TIA_BENCH_TASKS tasks, default 1,000,000), starts `tokyoia
# serve` on a loopback port (and, for the reads, a second one with
# --shared-reads off), and for each workload runs the direct library calls
# (bench_api, 16 threads with a connection each) and the same work over HTTP (wrk,
# 16 connections), alternating, TIA_BENCH_API_ROUNDS times (default 10, of 3 s
# runs: each direct run a few seconds from its HTTP run, on a machine whose speed
# drifts within minutes); for the
# reads also the direct calls with the token checked as the server checks it
# (pipelined with the read: bench_api.c, auth_op), and HTTP with shared reads
# off (every request runs its own statements). Prints
# each side's rate, the ratio HTTP / direct, the floor (GET /ready: HTTP and wrk
# alone) with the ratio it allows at best, and the server's peak RSS (VmHWM).
# A read whose answers average under 200 bytes fails the run (an empty 200).
# Results: BUILD_DIR/bench/results-api.txt. Removes everything it made.
# Environment: TIA_BENCH_TASKS, TIA_BENCH_API_SECONDS (per run, default 3),
#   TIA_BENCH_API_ROUNDS, TIA_BENCH_API_CONNS (default 16),
#   TIA_BENCH_API_AUTH (required, default, or off).
set -euo pipefail

build=${1:?usage: bench/run-api.sh BUILD_DIR}
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
tasks=${TIA_BENCH_TASKS:-1000000}
secs=${TIA_BENCH_API_SECONDS:-3}
rounds=${TIA_BENCH_API_ROUNDS:-10}
conns=${TIA_BENCH_API_CONNS:-16}
auth=${TIA_BENCH_API_AUTH:-required}
for bin in "$build/tokyoia" "$build/bench/bench_api"; do
  [ -x "$bin" ] || { echo "bench/run-api.sh: $bin is missing: build bench_all first" >&2; exit 1; }
done
command -v wrk > /dev/null || { echo "bench/run-api.sh: wrk is missing (apt-get install wrk)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tia-bench-api.XXXXXX")
state=$work/pg.state
server_pid=
off_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2> /dev/null && wait "$server_pid" 2> /dev/null
  [ -n "$off_pid" ] && kill "$off_pid" 2> /dev/null && wait "$off_pid" 2> /dev/null
  "$src/scripts/pg-test-cluster.sh" stop "$state" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

out=$build/bench/results-api.txt
: > "$out"
say() { echo "$*" | tee -a "$out"; }
psql_bin=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2> /dev/null | sort -V | tail -n 1)

say "bench/run-api.sh: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $tasks tasks, ${secs}s runs, $conns connections, auth $auth"
TIA_PG_DURABLE=1 TIA_PG_EXTRA_OPTS="-c max_connections=200 -c max_wal_size=4GB" \
  "$src/scripts/pg-test-cluster.sh" start "$state"
admin=$(cat "$state")
"$psql_bin" "$admin" -qX -c "CREATE DATABASE tokyoia_bench"
db=${admin/dbname=postgres/dbname=tokyoia_bench}
"$build/tokyoia" --db "$db" migrate > /dev/null
echo "== loading $tasks tasks"
"$build/tokyoia" --db "$db" generate --tasks "$tasks" --metrics 100000 | tail -n 2
cycle_tasks=$((conns * secs * rounds * 400))
"$build/bench/bench_api" --db "$db" --prepare bench-http --tasks "$cycle_tasks"
"$build/bench/bench_api" --db "$db" --prepare bench-direct --tasks "$cycle_tasks"
# The create workload's agents (both sides): the seed agents' newest tasks stay
# the generated ones, so every round's recent-tasks reads read the same pages.
for i in 1 2 3 4 5; do
  "$build/bench/bench_api" --db "$db" --prepare "bench-new-$i" --tasks 0
done
"$psql_bin" "$db" -qX -c "VACUUM ANALYZE" > /dev/null
token=$("$build/tokyoia" --db "$db" --json sessions create --user bench --ttl 24h |
  sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "bench/run-api.sh: no token" >&2; exit 1; }
export TIA_TOKEN=$token

port=$((20000 + RANDOM % 20000))
port_off=$((port + 1))
# Two HTTP threads and a database thread per connection (session 13; until then
# --threads "$conns" --db-pool "$conns", the HTTP threads running the statements).
"$build/tokyoia" --db "$db" serve --listen "127.0.0.1:$port" --threads 2 \
  --db-threads "$conns" --auth "$auth" --access-log off > "$work/serve.log" 2>&1 &
server_pid=$!
"$build/tokyoia" --db "$db" serve --listen "127.0.0.1:$port_off" --threads 2 \
  --db-threads "$conns" --auth "$auth" --access-log off --shared-reads off > "$work/serve-off.log" 2>&1 &
off_pid=$!
for p in "$port" "$port_off"; do
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$p/health" > /dev/null 2>&1 && break
    sleep 0.1
  done
done
base=http://127.0.0.1:$port
base_off=http://127.0.0.1:$port_off

http_run() { # [--off] script [env...]; prints the rate, the failures and bytes per answer
  local url=$base
  if [ "$1" = --off ]; then url=$base_off; shift; fi
  local script=$1; shift
  env "$@" wrk -t2 -c"$conns" -d"${secs}s" -s "$src/bench/wrk/$script" "$url" 2>&1 |
    tee -a "$work/wrk.log" |
    sed -n 's/^wrk-result [a-z]*\/s \([0-9.]*\) non-20[01] \([0-9]*\)\( .*bytes\/request \([0-9]*\)\)\{0,1\}.*/\1 \2 \4/p'
}
direct_run() { # op [args]; prints the rate
  "$build/bench/bench_api" --db "$db" --threads "$conns" --seconds "$secs" --op "$@" |
    sed -n 's/^[a-z+]* ops\/s \([0-9.]*\).*/\1/p'
}

declare -A sum_http sum_direct sum_auth sum_off
sum_floor=0
workloads=(stats recent create cycle)
for r in $(seq "$rounds"); do
  # The floor: GET /ready, an answer without database or handler work, what HTTP
  # and wrk alone cost on these cores.
  f=$(http_run get.lua TIA_PATH=/ready)
  read -r frate ferr _ <<< "$f"
  [ -n "$frate" ] && [ "${ferr:-1}" = 0 ] || { say "round $r floor: failed ('$f')"; exit 1; }
  say "round $r floor (GET /ready): http $frate/s"
  sum_floor=$(awk -v a="$sum_floor" -v b="$frate" 'BEGIN{print a + b}')
  for w in "${workloads[@]}"; do
    case $w in
      stats) d=$(direct_run stats); h=$(http_run get.lua TIA_PATH=/api/v1/stats) ;;
      recent) d=$(direct_run recent); h=$(http_run get.lua "TIA_PATH=/api/v1/agents/{agent}/tasks?limit=20") ;;
      create) d=$(direct_run create); h=$(http_run post_task.lua) ;;
      cycle) d=$(direct_run cycle --agent bench-direct); h=$(http_run cycle.lua TIA_AGENT=bench-http) ;;
    esac
    read -r hrate herr hbytes <<< "$h"
    if [ -z "$d" ] || [ -z "$hrate" ] || [ "${herr:-1}" != 0 ]; then
      say "round $r $w: failed (direct '$d', http '$h'); wrk output in the log:"
      tail -n 20 "$work/wrk.log" | tee -a "$out"
      exit 1
    fi
    if [ "$w" = stats ] || [ "$w" = recent ]; then
      a=-
      if [ "$auth" != off ]; then # without tokens, the server checks none: nothing to compare
        a=$(direct_run "$w+auth")
        [ -n "$a" ] || { say "round $r $w+auth: failed"; exit 1; }
        sum_auth[$w]=$(awk -v a="${sum_auth[$w]:-0}" -v b="$a" 'BEGIN{print a + b}')
      fi
      case $w in
        stats) o=$(http_run --off get.lua TIA_PATH=/api/v1/stats) ;;
        recent) o=$(http_run --off get.lua "TIA_PATH=/api/v1/agents/{agent}/tasks?limit=20") ;;
      esac
      read -r orate oerr obytes <<< "$o"
      [ -n "$orate" ] && [ "${oerr:-1}" = 0 ] || { say "round $r $w, shared reads off: failed ('$o')"; exit 1; }
      for b in "$hbytes" "$obytes"; do
        [ "${b:-0}" -ge 200 ] || { say "round $r $w: answers of ${b:-?} bytes on average: empty?"; exit 1; }
      done
      sum_off[$w]=$(awk -v a="${sum_off[$w]:-0}" -v b="$orate" 'BEGIN{print a + b}')
      say "round $r $w: direct $d/s, direct with the token check $a/s, http $hrate/s ($hbytes bytes/answer), http with shared reads off $orate/s"
    else
      say "round $r $w: direct $d/s, http $hrate/s"
    fi
    sum_http[$w]=$(awk -v a="${sum_http[$w]:-0}" -v b="$hrate" 'BEGIN{print a + b}')
    sum_direct[$w]=$(awk -v a="${sum_direct[$w]:-0}" -v b="$d" 'BEGIN{print a + b}')
  done
done
hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$server_pid/status")
rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$server_pid/status")
say ""
# The ceiling: what HTTP / direct would be if a request cost the cores only the
# direct call plus the floor (no token check, no JSON, no handler): 1 / (1 + direct / floor).
say "| workload | direct library (ops/s) | direct + token check (ops/s) | HTTP (ops/s) | HTTP / direct | HTTP / direct + token check | HTTP, shared reads off (ops/s) | off / direct | ceiling: 1 / (1 + direct / floor) |"
say "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for w in "${workloads[@]}"; do
  say "$(awk -v w="$w" -v d="${sum_direct[$w]}" -v h="${sum_http[$w]}" -v a="${sum_auth[$w]:-}" -v r="$rounds" \
    -v o="${sum_off[$w]:-}" -v f="$sum_floor" \
    'BEGIN{c = 1 / (1 + d / f);
           ar = a == "" ? "-" : sprintf("%.0f", a / r); ah = a == "" ? "-" : sprintf("%.2f", h / a);
           orr = o == "" ? "-" : sprintf("%.0f", o / r); od = o == "" ? "-" : sprintf("%.2f", o / d);
           printf "| %s | %.0f | %s | %.0f | %.2f | %s | %s | %s | %.2f |", w, d / r, ar, h / r, h / d, ah, orr, od, c}')"
done
say ""
say "floor (GET /ready over HTTP, no database): $(awk -v f="$sum_floor" -v r="$rounds" 'BEGIN{printf "%.0f", f / r}') requests/s"
say ""
say "server peak RSS (VmHWM): $((hwm / 1024)) MB ($hwm kB); RSS at the end: $((rss / 1024)) MB"
kill -TERM "$server_pid"
wait "$server_pid" || say "server exit status $?"
server_pid=
kill -TERM "$off_pid"
wait "$off_pid" || say "server (shared reads off) exit status $?"
off_pid=
say "bench/run-api.sh: results in $out"
