#!/usr/bin/env bash
# A task's lease is measured on the database's clock, not the worker's (issue 7,
# clock). Workers run under libfaketime (Debian's faketime) with their clock an
# hour ahead or behind the database's:
#   1. a worker an hour ahead claims a task with a 3 s lease: lease_expires_at is
#      the database's now() + 3 s (not an hour later), and renewals keep it so;
#   2. not early: while that worker heartbeats a 7 s task, a second worker whose
#      clock is an hour ahead (to which the lease would look long expired if its
#      own clock counted) does not take the task back: it completes on attempt 1;
#   3. not late: a worker an hour behind claims a task and is killed with SIGKILL;
#      a second worker, also an hour behind (to which the lease would look an hour
#      from expiring), takes it back within the lease plus a few seconds and
#      completes it on attempt 2.
# PostgreSQL only: on SQLite the database is a file and "its clock" is the clock of
# whichever process runs the statement (processes sharing a SQLite file share a
# host, hence a clock).
set -u

BIN=${TIA_BIN:?TIA_BIN must name the tokyoia binary}
unset DATABASE_URL
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tia-clock.XXXXXX")
ADMIN=$(cat "${TIA_TEST_PG_STATE:?TIA_TEST_PG_STATE must name the cluster state file}")
PGNAME=tia_clock_$$_$RANDOM
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS $PGNAME WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$TMP"/*.err "$TMP"/*.out; do
    [ -s "$f" ] && { echo "--- $f:" >&2; tail -n 10 "$f" >&2; }
  done
  exit 1
}

FTLIB=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -n 1)
[ -n "$FTLIB" ] || fail "libfaketime is not installed (scripts/deps.sh installs faketime)"
psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PGNAME" >/dev/null ||
  fail "cannot create database $PGNAME"
DB=$(printf '%s' "$ADMIN" | sed "s/dbname=[^ ]*/dbname=$PGNAME/")
sql() { psql "$DB" -qXtA -v ON_ERROR_STOP=1 -c "$1"; }

"$BIN" --db "$DB" init >/dev/null 2>"$TMP/init.err" || fail "init: $(cat "$TMP/init.err")"

# The skew really is there: the faked clock is an hour off the database's.
skew=$(( $(LD_PRELOAD=$FTLIB FAKETIME=+1h date +%s) - $(sql "SELECT extract(epoch FROM now())::int8") ))
[ "$skew" -ge 3500 ] && [ "$skew" -le 3700 ] || fail "faketime +1h gave a skew of $skew s"

# The command: sleeps as long as the task's description says, then succeeds.
cat >"$TMP/work.sh" <<'EOF'
#!/usr/bin/env bash
secs=$(sed -n 's/.*"description": *"sleep \([0-9]*\)".*/\1/p')
sleep "${secs:-0}"
echo '{"done": true}'
EOF

# A worker for agent $1 with its clock at $2 ("+1h", "-1h"), id $3, lease $4. The
# library is preloaded directly (not through the faketime wrapper, which forks) so
# that $! is the worker itself; monotonic clocks stay real. Under ASan the preload
# comes before its runtime, which it would otherwise refuse.
start_worker() {
  LD_PRELOAD=$FTLIB FAKETIME="$2" FAKETIME_DONT_FAKE_MONOTONIC=1 \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
    "$BIN" --db "$DB" worker --agent "$1" --lease "$4" --poll 200ms --id "$3" \
    -- bash "$TMP/work.sh" >"$TMP/$3.out" 2>"$TMP/$3.err" &
  PIDS+=($!)
  LAST=$!
}

add_task() {
  local id
  id=$("$BIN" --db "$DB" --json tasks add --agent "$1" --type clock --description "$2" |
    sed -n 's/.*"id": *"\([0-9a-f-]*\)".*/\1/p' | head -n 1)
  [ -n "$id" ] || fail "tasks add gave no id"
  echo "$id"
}

# Waits up to $2 tenths of a second for SQL $1 to print "t".
wait_for() {
  for _ in $(seq "$2"); do
    [ "$(sql "$1")" = t ] && return 0
    sleep 0.1
  done
  return 1
}

# ---- 1 and 2: an hour ahead; the lease is the database's now() + 3 s ----
T1=$(add_task akira-001 "sleep 7") || exit 1
start_worker akira-001 +1h ahead-1 3s
A=$LAST
wait_for "SELECT status = 'running' FROM agent_tasks WHERE id = '$T1'" 100 ||
  fail "the worker an hour ahead did not claim the task"
for i in 1 2 3 4; do
  # Seconds from the database's now() to the lease's end: within (0, 3], never ~3600.
  left=$(sql "SELECT round(extract(epoch FROM lease_expires_at - now()) * 1000)::int8
              FROM agent_tasks WHERE id = '$T1' AND status = 'running'")
  [ -n "$left" ] || break
  echo "lease check $i: expires ${left} ms after the database's now()"
  [ "$left" -gt 0 ] && [ "$left" -le 3000 ] ||
    fail "lease_expires_at is $left ms after the database's now(), want 0..3000 (the worker's clock is an hour ahead)"
  sleep 1.2
done
# A second worker an hour ahead, for the same agent: it must not reap the lease early.
start_worker akira-001 +1h ahead-2 3s
B=$LAST
wait_for "SELECT status = 'completed' FROM agent_tasks WHERE id = '$T1'" 200 ||
  fail "the 7 s task did not complete (status $(sql "SELECT status FROM agent_tasks WHERE id = '$T1'"))"
[ "$(sql "SELECT retry_count || ' ' || worker_id FROM agent_tasks WHERE id = '$T1'")" = "0 ahead-1" ] ||
  fail "the task was taken back early: $(sql "SELECT retry_count, worker_id, error_message FROM agent_tasks WHERE id = '$T1'")"
echo "not early: the 7 s task under a 3 s lease completed on attempt 1 by ahead-1, beside ahead-2"
kill -TERM "$A" "$B"
wait "$A" "$B" 2>/dev/null

# ---- 3: an hour behind; a dead worker's lease is taken back on time ----
T2=$(add_task yuki-002 "sleep 30") || exit 1
start_worker yuki-002 -1h behind-1 3s
C=$LAST
wait_for "SELECT status = 'running' FROM agent_tasks WHERE id = '$T2'" 100 ||
  fail "the worker an hour behind did not claim the task"
left=$(sql "SELECT round(extract(epoch FROM lease_expires_at - now()) * 1000)::int8 FROM agent_tasks WHERE id = '$T2'")
[ "$left" -gt 0 ] && [ "$left" -le 3000 ] ||
  fail "lease_expires_at is $left ms after the database's now() (the worker's clock is an hour behind)"
KIDS=$(pgrep -P "$C") # its command, in a process group of its own
kill -9 "$C"
for k in $KIDS; do kill -9 -- "-$k" 2>/dev/null; done
killed_at=$(date +%s%3N)
# Rewrite the task so that the next attempt is short (the description is the command's).
sql "UPDATE agent_tasks SET description = 'sleep 0' WHERE id = '$T2'" >/dev/null
start_worker yuki-002 -1h behind-2 3s
wait_for "SELECT status = 'completed' FROM agent_tasks WHERE id = '$T2'" 150 ||
  fail "the dead worker's task was not taken back within 15 s (status $(sql "SELECT status || ' ' || coalesce(worker_id, '') FROM agent_tasks WHERE id = '$T2'"))"
took=$(( $(date +%s%3N) - killed_at ))
[ "$(sql "SELECT retry_count || ' ' || worker_id FROM agent_tasks WHERE id = '$T2'")" = "1 behind-2" ] ||
  fail "unexpected attempt/worker: $(sql "SELECT retry_count, worker_id FROM agent_tasks WHERE id = '$T2'")"
echo "not late: taken back and completed $took ms after the kill (lease 3 s, both workers an hour behind)"
echo "PASS: leases on the database's clock"
