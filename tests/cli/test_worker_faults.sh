#!/usr/bin/env bash
# A `tokyoia worker` process running a command whose child misbehaves (issue 7,
# workers), with `tokyoia serve` on the same database, on the backend named by
# TIA_TEST_BACKEND. Each fault is one task:
#   killed    the command kills itself with SIGKILL: failed as "killed by signal 9",
#             retryable (retried once, then failed)
#   hang      the command sleeps past the task's 1 s timeout: killed, "timed out
#             after 1s", retried once, then failed
#   badjson   the command prints invalid JSON: failed for good with a clear error
#   flood     100 MB on stdout: killed at the 4 MiB output limit, failed with a clear
#             error
#   noisy     100 MB on stderr, then valid JSON: completed (only stderr's tail is kept)
# After each fault the same worker process (same pid, same worker_id) claims and
# completes a plain task, its peak memory grows far less than what it was sent (the
# limits bound it), and the server's /health answers 200. tests/db/test_worker.c
# covers the executor alone; this is the whole process under the same faults.
set -u

BIN=${TIA_BIN:?TIA_BIN must name the tokyoia binary}
. "${TIA_SOURCE_DIR:?TIA_SOURCE_DIR must name the source tree}/tests/support/serve.sh"
BACKEND=${TIA_TEST_BACKEND:-sqlite}
unset DATABASE_URL
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tia-wfault.XXXXXX")
PGNAME=
ADMIN=
SERVER=
WORKER=

cleanup() {
  [ -n "$WORKER" ] && kill -9 "$WORKER" 2>/dev/null
  [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null
  if [ -n "$PGNAME" ]; then
    psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS $PGNAME WITH (FORCE)" >/dev/null 2>&1
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [ -f "$TMP/worker.err" ] && { echo "--- worker stderr:" >&2; tail -n 20 "$TMP/worker.err" >&2; }
  [ -f "$TMP/worker.out" ] && { echo "--- worker stdout:" >&2; tail -n 20 "$TMP/worker.out" >&2; }
  exit 1
}

if [ "$BACKEND" = pg ]; then
  ADMIN=$(cat "${TIA_TEST_PG_STATE:?TIA_TEST_PG_STATE must name the cluster state file}")
  PGNAME=tia_wfault_$$_$RANDOM
  psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PGNAME" >/dev/null ||
    fail "cannot create database $PGNAME"
  DB=$(printf '%s' "$ADMIN" | sed "s/dbname=[^ ]*/dbname=$PGNAME/")
else
  DB=$TMP/wfault.db
fi

sql() {
  if [ "$BACKEND" = pg ]; then
    psql "$DB" -qXtA -v ON_ERROR_STOP=1 -c "$1"
  else
    sqlite3 -cmd '.timeout 5000' "$DB" "$1"
  fi
}

"$BIN" --db "$DB" init >/dev/null 2>"$TMP/init.err" || fail "init: $(cat "$TMP/init.err")"
TOKEN=$(tia_token "$DB" wfault) || exit 1
tia_serve_start "$DB"

# The command: what it does is the task's type.
cat >"$TMP/fault.sh" <<'EOF'
#!/usr/bin/env bash
cat >/dev/null
case "$TIA_TASK_TYPE" in
  killed) kill -9 $$ ;;
  hang) sleep 30 ;;
  badjson) echo '{"verdict": "ok", ' ;;
  flood) head -c 100000000 /dev/zero | tr '\0' 'x' ;;
  noisy) head -c 100000000 /dev/zero | tr '\0' 'e' >&2; echo '{"noisy": true}' ;;
  *) echo '{"ok": true, "tokens_used": 7}' ;;
esac
EOF

health() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")
  [ "$code" = 200 ] || fail "the server's /health answered $code after $1"
}

# Submits a task of type $1 for akira-001 (max_retries $2, timeout 1s); prints its id.
submit() {
  local body id
  body=$(curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"agent_id\": \"akira-001\", \"task_type\": \"$1\", \"description\": \"fault $1\",
         \"max_retries\": $2, \"timeout\": \"1s\"}" "$URL/api/v1/tasks")
  id=$(printf '%s' "$body" | sed -n 's/.*"id": *"\([0-9a-f-]*\)".*/\1/p' | head -n 1)
  [ -n "$id" ] || fail "submitting a $1 task: $body"
  echo "$id"
}

# Waits (up to 60 s) until task $1 is completed or failed; prints its status.
wait_end() {
  local st
  for _ in $(seq 600); do
    st=$(sql "SELECT status FROM agent_tasks WHERE id = '$1'")
    case "$st" in completed | failed | cancelled) echo "$st"; return 0 ;; esac
    sleep 0.1
  done
  fail "task $1 did not end within 60 s (status $st)"
}

# Under ASan, freed buffers wait in its quarantine (256 MB by default) and count as
# resident: keep it small, and allow more growth (below).
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8" \
  "$BIN" --db "$DB" worker --agent akira-001 --lease 6s --poll 200ms --kill-grace 1s \
  --id fault-worker -- bash "$TMP/fault.sh" >"$TMP/worker.out" 2>"$TMP/worker.err" &
WORKER=$!
sleep 0.3
kill -0 "$WORKER" 2>/dev/null || { WORKER=; fail "the worker did not start"; }

# Checks the worker is alive and still completes a plain task, by itself.
still_works() {
  kill -0 "$WORKER" 2>/dev/null || fail "the worker process died after the $1 fault"
  local id st
  id=$(submit ok 0) || exit 1
  st=$(wait_end "$id") || exit 1
  [ "$st" = completed ] || fail "after the $1 fault, a plain task ended $st"
  [ "$(sql "SELECT worker_id FROM agent_tasks WHERE id = '$id'")" = fault-worker ] ||
    fail "after the $1 fault, the plain task was not run by the same worker"
  health "the $1 fault"
}

still_works start
# The worker's peak resident memory before the faults (kB).
peak() { awk '/^VmHWM:/ {print $2}' "/proc/$WORKER/status"; }
HWM0=$(peak)
[ -n "$HWM0" ] || fail "cannot read the worker's peak memory"

# fault type, retries, wanted status, wanted retry_count, a pattern of the error message
# (none: no error message)
check_fault() {
  local type=$1 retries=$2 want=$3 want_retries=$4 pattern=$5 id st msg rc
  id=$(submit "$type" "$retries") || exit 1
  st=$(wait_end "$id") || exit 1
  msg=$(sql "SELECT coalesce(error_message, '') FROM agent_tasks WHERE id = '$id'")
  rc=$(sql "SELECT retry_count FROM agent_tasks WHERE id = '$id'")
  [ "$st" = "$want" ] || fail "$type: task ended $st, want $want ($msg)"
  [ "$rc" = "$want_retries" ] || fail "$type: retry_count $rc, want $want_retries ($msg)"
  if [ "$pattern" = none ]; then
    [ -z "$msg" ] || fail "$type: unexpected error message '$msg'"
  else
    printf '%s\n' "$msg" | grep -Eq "$pattern" || fail "$type: error message '$msg' does not match /$pattern/"
  fi
  echo "$type: $st after $((rc + 1)) attempt(s): ${msg:0:100}"
  still_works "$type"
}

check_fault killed 1 failed 1 'killed by signal 9'
check_fault hang 1 failed 1 '^timed out after 1s'
check_fault badjson 3 failed 0 'not valid JSON'
check_fault flood 3 failed 0 'output exceeds 4194304 bytes'
check_fault noisy 0 completed 0 none
[ "$(sql "SELECT output_data FROM agent_tasks WHERE task_type = 'noisy'" | tr -d ' ')" = '{"noisy":true}' ] ||
  fail "noisy: output_data is not the command's JSON"

# Bounded memory: 200 MB went through the worker's pipes; its peak grew by far less
# (the 4 MiB stdout limit and the 2 KiB stderr tail).
HWM=$(peak)
GROWTH=$(((HWM - HWM0) / 1024))
echo "worker peak resident memory: $((HWM0 / 1024)) MiB before, $((HWM / 1024)) MiB after 200 MB of output"
LIMIT_MIB=40
ldd "$BIN" 2>/dev/null | grep -q libasan && LIMIT_MIB=80 # redzones, fake stacks
[ "$GROWTH" -lt "$LIMIT_MIB" ] || fail "the worker's peak memory grew by $GROWTH MiB (limit $LIMIT_MIB)"

# The server's counters still equal a recount, and the worker drains cleanly.
[ "$(tia_counters_off sql)" = 0 ] || fail "the counters differ from a recount of agent_tasks"
# SIGHUP (a closed terminal) drains as SIGTERM does: it ended the worker at once
# (exit 129), leaving its running commands behind as orphans.
kill -HUP "$WORKER"
wait "$WORKER" || fail "the worker did not drain and exit 0 on SIGHUP"
WORKER=
health "the worker's exit"
tia_serve_stop
echo "PASS: worker faults ($BACKEND)"
