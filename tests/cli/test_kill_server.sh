#!/usr/bin/env bash
# The server killed with SIGKILL in the middle of a load of task submissions and
# claim/complete cycles over HTTP (issue 7, first promise), on the backend named
# by TIA_TEST_BACKEND. After a restart on the same database:
#   - every submission that got a 2xx is in the database, and every completion
#     that got a 200 left its task completed;
#   - nothing is half-written: every agent's counters equal a recount of
#     agent_tasks (and on SQLite, PRAGMA integrity_check passes);
#   - clients retrying every key they sent (answered or not) create no
#     duplicate: one task per idempotency key.
# Prints what was in flight at the kill and what was acknowledged.
set -u

BIN=${TIA_BIN:?TIA_BIN must name the tokyoia binary}
. "${TIA_SOURCE_DIR:?TIA_SOURCE_DIR must name the source tree}/tests/support/serve.sh"
BACKEND=${TIA_TEST_BACKEND:-sqlite}
unset DATABASE_URL
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tia-kill.XXXXXX")
PGNAME=
ADMIN=
SERVER=
LOADERS=()

cleanup() {
  for p in "${LOADERS[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null
  if [ -n "$PGNAME" ]; then
    psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS $PGNAME WITH (FORCE)" >/dev/null 2>&1
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [ -f "$TMP/serve.err" ] && { echo "--- server stderr:" >&2; tail -n 20 "$TMP/serve.err" >&2; }
  exit 1
}

if [ "$BACKEND" = pg ]; then
  ADMIN=$(cat "${TIA_TEST_PG_STATE:?TIA_TEST_PG_STATE must name the cluster state file}")
  PGNAME=tia_kill_$$_$RANDOM
  psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PGNAME" >/dev/null ||
    fail "cannot create database $PGNAME"
  DB=$(printf '%s' "$ADMIN" | sed "s/dbname=[^ ]*/dbname=$PGNAME/")
else
  DB=$TMP/kill.db
fi

sql() {
  if [ "$BACKEND" = pg ]; then
    psql "$DB" -qXtA -v ON_ERROR_STOP=1 -c "$1"
  else
    sqlite3 "$DB" "$1"
  fi
}

"$BIN" --db "$DB" init >/dev/null 2>"$TMP/init.err" || fail "init: $(cat "$TMP/init.err")"
TOKEN=$(tia_token "$DB" kill-test) || exit 1
start_server() { tia_serve_start "$DB"; }

post() { # PATH BODY [KEY] -> prints "STATUS BODY" on one line
  local key=${3:-}
  curl -s -m 10 -w '\n%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' ${key:+-H "Idempotency-Key: $key"} \
    -d "$2" "http://127.0.0.1:$PORT$1" 2>/dev/null | tr -d '\r' | awk '{l[NR] = $0} END {print l[NR] " " l[1]}'
}

# A submitter: keys s<n>-<i>, one line "key status" each, until the server is gone.
submitter() {
  local n=$1 i=0 out
  while :; do
    i=$((i + 1))
    out=$(post /api/v1/tasks \
      '{"key":"t","agent_id":"akira-001","task_type":"kill_test","description":"load"}' "s$n-$i")
    echo "s$n-$i ${out%% *}" >>"$TMP/sent.$n"
    case ${out%% *} in 2*) ;; *) return ;; esac
  done
}

# A worker over HTTP: claim one, complete it; "task status" per completion.
worker() {
  local out id attempt
  while :; do
    out=$(post /api/v1/tasks/claim '{"agent_ids":["akira-001"],"worker_id":"kw","max":1,"lease":"60s"}')
    case ${out%% *} in 200) ;; *) return ;; esac
    id=$(printf '%s' "$out" | sed -n 's/.*"task":{"id":"\([0-9a-f-]*\)".*/\1/p')
    attempt=$(printf '%s' "$out" | sed -n 's/.*"attempt":\([0-9]*\).*/\1/p')
    [ -n "$id" ] || { sleep 0.02; continue; }
    out=$(post "/api/v1/tasks/$id/complete" "{\"worker_id\":\"kw\",\"attempt\":$attempt,\"tokens_used\":10}")
    echo "$id ${out%% *}" >>"$TMP/completed"
    case ${out%% *} in 200) ;; *) return ;; esac
  done
}

start_server
: >"$TMP/completed"
for n in 1 2 3; do
  : >"$TMP/sent.$n"
  submitter "$n" &
  LOADERS+=($!)
done
worker &
LOADERS+=($!)
sleep 3
acked_before=$(cat "$TMP"/sent.* | grep -c ' 2')
[ "$acked_before" -gt 20 ] || fail "the load did not get going ($acked_before acknowledged)"
kill -9 "$SERVER"
wait "$SERVER" 2>/dev/null
SERVER=
for p in "${LOADERS[@]}"; do wait "$p" 2>/dev/null; done
LOADERS=()

cat "$TMP"/sent.* >"$TMP/sent"
acked=$(grep -c ' 2' "$TMP/sent")
unanswered=$(grep -vc ' 2' "$TMP/sent")
completed_acked=$(grep -c ' 200$' "$TMP/completed")
echo "killed with $unanswered submission(s) unanswered; $acked submissions and" \
  "$completed_acked completions acknowledged"

start_server
# Every acknowledged submission is there.
sql "SELECT idempotency_key FROM agent_tasks WHERE task_type = 'kill_test'" | sort >"$TMP/in_db"
grep ' 2' "$TMP/sent" | cut -d' ' -f1 | sort >"$TMP/acked"
missing=$(comm -23 "$TMP/acked" "$TMP/in_db" | wc -l)
[ "$missing" = 0 ] || fail "$missing acknowledged submission(s) lost: $(comm -23 "$TMP/acked" "$TMP/in_db" | head -3)"
# Every acknowledged completion left its task completed.
while read -r id code; do
  [ "$code" = 200 ] || continue
  st=$(sql "SELECT status FROM agent_tasks WHERE id = '$id'")
  [ "$st" = completed ] || fail "task $id was acknowledged completed but is '$st'"
done <"$TMP/completed"
# Nothing half-written: the counters equal a recount.
bad=$(tia_counters_off sql)
[ "$bad" = 0 ] || fail "$bad agent(s) whose counters differ from a recount"
agent_done=$(sql "SELECT total_tasks_completed FROM agents WHERE id = 'akira-001'")
recount=$(sql "SELECT count(*) FROM agent_tasks WHERE agent_id = 'akira-001' AND status = 'completed'")
[ "$agent_done" = "$recount" ] || fail "agents.total_tasks_completed $agent_done, recount $recount"
if [ "$BACKEND" = sqlite ]; then
  [ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check failed"
fi
# Clients retry every key they sent: no duplicates, and every key now has its task.
while read -r key code; do
  out=$(post /api/v1/tasks \
    '{"key":"t","agent_id":"akira-001","task_type":"kill_test","description":"load"}' "$key")
  case ${out%% *} in 200 | 201) ;; *) fail "retry of $key: ${out%% *}" ;; esac
  if [ "${code:0:1}" = 2 ] && [ "${out%% *}" != 200 ]; then
    fail "retry of acknowledged $key created a new task (${out%% *})"
  fi
done <"$TMP/sent"
keys=$(wc -l <"$TMP/sent")
rows=$(sql "SELECT count(*) FROM agent_tasks WHERE task_type = 'kill_test'")
distinct=$(sql "SELECT count(DISTINCT idempotency_key) FROM agent_tasks WHERE task_type = 'kill_test'")
[ "$rows" = "$keys" ] && [ "$distinct" = "$keys" ] ||
  fail "$keys keys sent, $rows tasks, $distinct distinct keys after the retries"
tia_serve_stop
echo "ok: $acked acknowledged submissions all found, $completed_acked completions kept," \
  "$keys keys retried without a duplicate"
