#!/usr/bin/env bash
# Tests of running workflows from the command line on the backend named by
# TIA_TEST_BACKEND: `tokyoia run code_review --follow` completes with the example
# workers (examples/agents) running in the background as `tokyoia worker`
# processes, with the right summary, tokens and cost; a failing workflow makes
# `run --follow` exit 1; the idempotency key; SIGTERM drains the workers;
# `workflows cancel`, `tasks cancel`, `tasks retry` and `prices` with --json and
# their exit codes. Every background process is stopped at the end, and every
# wait is bounded. Stops at the first failed check and says what failed.
set -u

BIN=${TIA_BIN:?TIA_BIN must name the tokyoia binary}
SRC=${TIA_SOURCE_DIR:?TIA_SOURCE_DIR must name the source tree}
BACKEND=${TIA_TEST_BACKEND:-sqlite}
unset DATABASE_URL
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tia-run.XXXXXX")
OUT=$TMP/out
ERR=$TMP/err
PGNAME=
ADMIN=
PIDS=()
export TIA_EXAMPLE_DELAY=0.1

# Stops the background workers: SIGTERM, then SIGKILL after 10 s.
stop_workers() {
  local pid i
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  PIDS=()
}

cleanup() {
  stop_workers
  if [ -n "$PGNAME" ]; then
    psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS $PGNAME WITH (FORCE)" >/dev/null 2>&1
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  echo "--- stdout:" >&2
  head -c 3000 "$OUT" >&2 2>/dev/null
  echo "--- stderr:" >&2
  head -c 3000 "$ERR" >&2 2>/dev/null
  for f in "$TMP"/worker-*.log; do
    [ -f "$f" ] && { echo "--- $f:" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}

new_db() {
  if [ "$BACKEND" = pg ]; then
    ADMIN=$(cat "${TIA_TEST_PG_STATE:?TIA_TEST_PG_STATE must name the cluster state file}")
    PGNAME=tia_run_$$_$RANDOM
    psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PGNAME" >/dev/null ||
      fail "cannot create database $PGNAME"
    DB=$(printf '%s' "$ADMIN" | sed "s/dbname=[^ ]*/dbname=$PGNAME/")
  else
    DB=$TMP/run.db
  fi
}

# Runs tokyoia (at most 90 s): stdout in $OUT, stderr in $ERR, status in $RC.
t() {
  timeout 90 "$BIN" --db "$DB" "$@" >"$OUT" 2>"$ERR"
  RC=$?
}

ok() {
  t "$@"
  [ "$RC" = 0 ] || fail "tokyoia $*: exit $RC, want 0"
}

expect() {
  local want=$1
  shift
  t "$@"
  [ "$RC" = "$want" ] || fail "tokyoia $*: exit $RC, want $want"
}

# j EXPR: evaluates a Python expression over the JSON document in $OUT (as d).
j() {
  "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(($1))" "$OUT" ||
    fail "cannot evaluate $1"
}

same() {
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# worker AGENT ARGS...: a background `tokyoia worker` with its log in $TMP.
worker() {
  local agent=$1
  shift
  "$BIN" --db "$DB" worker --agent "$agent" --poll 100ms "$@" >"$TMP/worker-$agent.log" 2>&1 &
  PIDS+=($!)
}

start_example_workers() {
  worker akira-001 --concurrency 2 -- sh "$SRC/examples/agents/review.sh"
  worker yuki-002 -- sh "$SRC/examples/agents/tests.sh"
  worker hiro-003 -- sh "$SRC/examples/agents/ci.sh"
  worker sakura-004 -- sh "$SRC/examples/agents/docs.sh"
}

new_db
ok init

echo "# run code_review --follow with example workers"
start_example_workers
ok run code_review --input '{"pr": 42}' --follow --timeout 60s
grep -q '^task documentation (sakura-004) completed (5/5)$' "$OUT" ||
  fail "no progress line for the last task"
grep -q '^handoff akira-001 -> yuki-002$' "$OUT" || fail "no handoff line"
grep -q "^status	completed$" "$OUT" || fail "the summary does not say completed"
ok --json run code_review --input '{"pr": 43}' --follow --timeout 60s
same "summary" \
  "$(j 'd["status"], d["total_tasks"], d["completed_tasks"], d["failed_tasks"], d["total_tokens_used"], d["total_cost_usd"]')" \
  "('completed', 5, 5, 0, 18000, '0.298000')"
[ "$(j 'd["duration_ms"] >= 0')" = True ] || fail "no duration in the summary"
WF=$(j 'd["workflow_id"]')
ok --json workflows show "$WF"
same "input reaches the tasks" "$(j 'd["tasks"][0]["input_data"]["input"]["pr"]')" 43
same "output recorded" "$(j 'd["tasks"][0]["output_data"]["agent"]')" akira-001

echo "# idempotency key"
ok --json run code_review --idempotency-key pr-42
K1=$(j 'd["workflow_id"]')
same "first submit creates" "$(j 'd["created"]')" True
ok --json run code_review --idempotency-key pr-42
same "repeat returns the first" "$(j 'd["workflow_id"], d["created"]')" "('$K1', False)"
ok run code_review --idempotency-key pr-42 --follow --timeout 60s

echo "# a failing workflow: run --follow exits 1"
mkdir "$TMP/templates"
cat >"$TMP/templates/fragile.json" <<'EOF'
{"name": "fragile", "workflow_type": "architecture", "description": "fails",
 "tasks": [{"key": "design", "agent": "kenji-005", "task_type": "architecture",
            "description": "design it", "max_retries": 0}]}
EOF
worker kenji-005 -- sh -c 'cat >/dev/null; echo "no design today" >&2; exit 3'
expect 1 --json run fragile --templates "$TMP/templates" --follow --timeout 60s
same "failed summary" "$(j 'd["status"], d["failed_tasks"]')" "('failed', 1)"
FWF=$(j 'd["workflow_id"]')
ok --json tasks list --workflow "$FWF"
same "error message from stderr" "$(j 'd[0]["error_message"]')" "exit status 3: no design today"

echo "# SIGTERM drains the workers"
stop_workers
for f in "$TMP"/worker-*.log; do
  grep -q 'stopped: ' "$f" || fail "$f: the worker did not stop cleanly"
done

echo "# workflows cancel, tasks cancel and retry"
ok --json run code_review
WF=$(j 'd["workflow_id"]')
T0=$(j 'd["tasks"][0]["id"]')
T1=$(j 'd["tasks"][1]["id"]')
ok --json tasks cancel "$T0"
same "task cancelled" "$(j 'd["status"]')" cancelled
ok --json tasks retry "$T0"
same "task retried" "$(j 'd["status"]')" pending
expect 5 tasks retry "$T1"
ok --json workflows cancel "$WF"
same "workflow cancelled" "$(j 'd["status"]')" cancelled
ok --json tasks list --workflow "$WF"
same "its tasks cancelled" "$(j 'sorted(set(t["status"] for t in d))')" "['cancelled']"
expect 5 workflows cancel "$WF"
expect 4 workflows cancel 0190a000-0000-7000-8000-00000000dead
expect 4 tasks retry 0190a000-0000-7000-8000-00000000dead

echo "# prices"
ok --json prices
same "seeded price" "$(j '[p["usd_per_1k_tokens"] for p in d if p["model"] == "claude-opus-4.1"]')" "['0.015000']"
ok --json prices set my-model 0.02
same "price set" "$(j 'd["model"], d["usd_per_1k_tokens"]')" "('my-model', '0.020000')"
ok --json prices list
same "price listed" "$(j '[p["usd_per_1k_tokens"] for p in d if p["model"] == "my-model"]')" "['0.020000']"
expect 2 prices set my-model abc
expect 2 prices set my-model

echo "# usage errors"
expect 4 run no_such_template
expect 2 worker --agent akira-001
expect 2 worker --agent akira-001 --llm http://127.0.0.1:1 -- true
expect 4 worker --agent nobody-999 -- true
expect 3 run code_review --input '[1, 2]'
ok run --help
grep -q -- '--follow' "$OUT" || fail "run --help does not list --follow"
ok worker --help
grep -q -- '--concurrency' "$OUT" || fail "worker --help does not list --concurrency"

echo "ok"
