#!/usr/bin/env bash
# The dashboard benchmark (issue 6):
#   bench/run-dashboard.sh BUILD_DIR
# Starts `tokyoia serve` on a loopback port over a fresh database (SQLite in a
# temporary directory; TIA_BENCH_DASH_BACKEND=pg uses a throwaway PostgreSQL
# cluster as the tests do), creates a session token, installs playwright-core
# (pinned, into BUILD_DIR/webtest, as the browser tests do) and runs
# bench/bench_dashboard.mjs in Debian's headless Chromium: time to first render
# and to interactive of the overview and of a workflow of 500 tasks, the bytes
# transferred, and the API calls each page makes, fetched from node in the same
# run. Results: BUILD_DIR/bench/results-dashboard.txt. Removes everything it made.
# Environment: TIA_BENCH_DASH_RUNS (page loads per page, default 15),
#   TIA_BENCH_DASH_TASKS (tasks of the big workflow, default 500).
set -euo pipefail

build=${1:?usage: bench/run-dashboard.sh BUILD_DIR}
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
backend=${TIA_BENCH_DASH_BACKEND:-sqlite}
pw_version=1.65.1
[ -x "$build/tokyoia" ] || { echo "bench/run-dashboard.sh: $build/tokyoia is missing" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "bench/run-dashboard.sh: chromium is missing (scripts/deps.sh)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tia-bench-dash.XXXXXX")
state=$work/pg.state
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2> /dev/null && wait "$server_pid" 2> /dev/null
  [ "$backend" = pg ] && "$src/scripts/pg-test-cluster.sh" stop "$state" > /dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pw=$build/webtest
if [ "$(node -p "try{require('$pw/node_modules/playwright-core/package.json').version}catch(e){''}")" != "$pw_version" ]; then
  npm install --prefix "$pw" --no-audit --no-fund --no-save "playwright-core@$pw_version" > "$work/npm.log" 2>&1 ||
    { cat "$work/npm.log" >&2; exit 1; }
fi

if [ "$backend" = pg ]; then
  "$src/scripts/pg-test-cluster.sh" start "$state" > /dev/null
  db=$(cat "$state")
else
  db=$work/bench.db
fi
"$build/tokyoia" --db "$db" init > /dev/null
token=$("$build/tokyoia" --db "$db" --json sessions create --user bench --ttl 2h | grep -o 'tia_[A-Za-z0-9_-]*')
"$build/tokyoia" --db "$db" serve --listen 127.0.0.1:0 --access-log off --daily-budget 25 \
  > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
url=
for _ in $(seq 1 100); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.out" || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/serve.err" >&2; exit 1; }

mkdir -p "$build/bench"
out=$build/bench/results-dashboard.txt
TIA_WEB_URL=$url TIA_WEB_TOKEN=$token TIA_WEB_PLAYWRIGHT=$pw TIA_BENCH_BACKEND=$backend \
  node "$src/bench/bench_dashboard.mjs" | tee "$out"
echo "results: $out"
