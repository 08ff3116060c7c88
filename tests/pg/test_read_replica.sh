#!/usr/bin/env bash
# Read replicas (issue 5), against a real streaming replica. The test starts its own
# throwaway primary (pg-test-cluster.sh), makes a replica of it with
# `pg_basebackup -R` into another temporary directory, starts that on another port
# and waits until it streams. Both servers log every statement with the client's
# application_name first (log_statement=all, log_line_prefix '%a|'): tokyoia's
# primary connection is "tokyoia", its replica connection "tokyoia-read". The
# routing is read from those logs, between marks:
#   - CLI (--read-url and DATABASE_READ_URL): lists and statistics reach the
#     replica and not the primary; writes reach the primary and not the replica;
#     SQLite with a read URL is refused with a clear message and leaves no file;
#   - the replica stopped: the same reads answered, by the primary, with one
#     warning for a command of many reads; back: the replica serves again;
#   - serve: reads at the replica, session checks and writes at the primary,
#     the read after a write in the same request at the primary; a revocation
#     takes effect at once while the replica has not replayed it (replay paused),
#     and a replica lagging past --max-replica-lag is not used; stopped, every
#     request is answered with one warning in all, a read that failed on it
#     re-run on the primary; back, used again by itself; /metrics and /health
#     tell which connection served.
set -u

BIN=${TIA_BIN:?TIA_BIN must name the tokyoia binary}
SRC=${TIA_SOURCE_DIR:?TIA_SOURCE_DIR must name the source tree}
. "$SRC/tests/support/serve.sh"
unset DATABASE_URL DATABASE_READ_URL
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tia-replica.XXXXXX")
STATE=$TMP/pg.state
RDIR=
SERVER=

bindir=${TIA_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
  [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null
  if [ -n "$RDIR" ] && [ -d "$RDIR/data" ]; then
    as_owner "$bindir/pg_ctl" -D "$RDIR/data" -m immediate -w stop >/dev/null 2>&1
  fi
  [ -n "$RDIR" ] && rm -rf "$RDIR"
  "$SRC/scripts/pg-test-cluster.sh" stop "$STATE" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [ -f "$TMP/serve.err" ] && { echo "--- server stderr:" >&2; tail -n 20 "$TMP/serve.err" >&2; }
  [ -f "$TMP/cmd.err" ] && { echo "--- last command's stderr:" >&2; cat "$TMP/cmd.err" >&2; }
  exit 1
}

LOGOPTS="-c log_statement=all -c log_line_prefix='%a|'"

# ---- the primary, and a streaming replica made from it ----
TIA_PG_EXTRA_OPTS="$LOGOPTS -c wal_level=replica -c max_wal_senders=4" \
  "$SRC/scripts/pg-test-cluster.sh" start "$STATE" >/dev/null || fail "cannot start the primary"
PDIR=$(cat "$STATE.dir")
PLOG=$PDIR/server.log
ADMIN=$(cat "$STATE")

RDIR=$(mktemp -d "${TMPDIR:-/tmp}/tia-replica-standby.XXXXXX")
chmod 700 "$RDIR"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$RDIR"
RLOG=$RDIR/server.log
as_owner "$bindir/pg_basebackup" -h "$PDIR" -p 5432 -U postgres -D "$RDIR/data" -R -X stream \
  -c fast >"$TMP/basebackup.log" 2>&1 || { cat "$TMP/basebackup.log" >&2; fail "pg_basebackup"; }
ROPTS="-c listen_addresses='' -k $RDIR -p 5433 -c fsync=off -c max_connections=200 $LOGOPTS"
replica_up() {
  as_owner "$bindir/pg_ctl" -D "$RDIR/data" -l "$RLOG" -o "$ROPTS" -w -t 60 start \
    >"$TMP/replica-ctl.log" 2>&1 || { cat "$TMP/replica-ctl.log" "$RLOG" >&2; fail "the replica did not start"; }
  wait_streaming
}
replica_down() {
  as_owner "$bindir/pg_ctl" -D "$RDIR/data" -m fast -w stop >/dev/null || fail "cannot stop the replica"
}
RADMIN="host=$RDIR port=5433 user=postgres dbname=postgres"
psqlv() { psql "$1" -qXtA -v ON_ERROR_STOP=1 -c "$2"; }

# Until the primary sees its replica streaming (at most 30 s).
wait_streaming() {
  for _ in $(seq 300); do
    [ "$(psqlv "$ADMIN" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ] &&
      return 0
    sleep 0.1
  done
  fail "the replica is not streaming"
}
# Until the replica has replayed everything the primary has written so far.
# The insert position, not pg_current_wal_lsn(): the test cluster runs with
# synchronous_commit off, so a commit can return before its record is written out,
# and the write position may still lie before it.
wait_replayed() {
  local lsn
  lsn=$(psqlv "$ADMIN" "SELECT pg_current_wal_insert_lsn()")
  for _ in $(seq 300); do
    [ "$(psqlv "$RADMIN" "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && return 0
    sleep 0.1
  done
  fail "the replica did not replay up to $lsn"
}
replica_up
[ "$(psqlv "$RADMIN" "SELECT pg_is_in_recovery()")" = t ] || fail "the replica is not in recovery"

psqlv "$ADMIN" "CREATE DATABASE replica_test" >/dev/null || fail "cannot create the database"
DB="host=$PDIR port=5432 user=postgres dbname=replica_test"
RDB="host=$RDIR port=5433 user=postgres dbname=replica_test"
"$BIN" --db "$DB" init >/dev/null 2>"$TMP/cmd.err" || fail "init"
wait_replayed

# ---- reading the logs between marks ----
mark() {
  PMARK=$(stat -c %s "$PLOG")
  RMARK=$(stat -c %s "$RLOG")
}
since() { # LOGFILE MARK: what the server logged since the mark
  tail -c +$(($2 + 1)) "$1"
}
# at primary|replica APP REGEX: the server logged REGEX from application APP since the mark
at() {
  local f m
  if [ "$1" = primary ]; then f=$PLOG m=$PMARK; else f=$RLOG m=$RMARK; fi
  since "$f" "$m" | grep -E "^$2\|" | grep -Eq -- "$3"
}
# Statements as the servers log them.
S_STATS='ROUND\(100\.0 \* t\.completed'            # tia_stats_agents
S_TOTALS='r\.deps_pending = 0'                      # tia_stats_totals
S_WINDOW="FROM agent_tasks WHERE agent_id = \\\$1 AND status = 'completed'" # window stats
S_AGENTS='updated_at, metadata FROM agents ?(WHERE status = \$1)?$' # tia_agent_list
S_TASKS='FROM agent_tasks WHERE .*ORDER BY created_at DESC LIMIT' # tia_task_list
S_WORKFLOWS='FROM workflows WHERE \(\$1::text IS NULL OR status' # tia_workflow_list
S_INTERACTIONS='FROM agent_interactions i (JOIN|WHERE)'        # interaction list
S_SESSION='FROM user_sessions WHERE session_token'               # session check
S_WRITE='INSERT INTO agent_tasks'

# routed CMD...: the command succeeds; its reads REGEX ($ROUTED) reach the replica, not the primary
routed() {
  mark
  "$BIN" --db "$DB" --read-url "$RDB" "$@" >"$TMP/out" 2>"$TMP/cmd.err" || fail "$* exited $?"
  at replica tokyoia-read "$ROUTED" || fail "'$*': no $ROUTED on the replica"
  at primary tokyoia "$ROUTED" && fail "'$*': $ROUTED on the primary"
  [ -s "$TMP/cmd.err" ] && fail "'$*' said something on stderr"
  return 0
}

# ---- the CLI, replica up ----
mark
"$BIN" --db "$DB" --read-url "$RDB" --json tasks add --agent akira-001 --type replica_test \
  --description one >"$TMP/task.json" 2>"$TMP/cmd.err" || fail "tasks add"
TASK=$(sed -n 's/.*"id": *"\([0-9a-f-]*\)".*/\1/p' "$TMP/task.json" | head -n 1)
[ -n "$TASK" ] || fail "tasks add printed no id"
at primary tokyoia "$S_WRITE" || fail "the write did not reach the primary"
at replica tokyoia-read "INSERT|UPDATE|DELETE" && fail "a write reached the replica"
wait_replayed

ROUTED=$S_STATS routed --json stats
"$BIN" --db "$DB" --json stats >"$TMP/primary.out" 2>/dev/null || fail "stats on the primary"
cmp -s "$TMP/out" "$TMP/primary.out" ||
  fail "stats from the replica differ from the primary's: $(diff "$TMP/out" "$TMP/primary.out" | head -n 20)"
grep -q '"total_tasks": 1' "$TMP/out" || fail "stats from the replica miss the new task"
ROUTED=$S_TASKS routed tasks list --agent akira-001
grep -q "$TASK" "$TMP/out" || fail "tasks list from the replica misses task $TASK"
ROUTED=$S_AGENTS routed agents list
ROUTED=$S_WORKFLOWS routed workflows list
ROUTED=$S_WINDOW routed stats --window 24h
# The get of one task stays on the primary (read-your-own-write for whoever just made it).
mark
"$BIN" --db "$DB" --read-url "$RDB" tasks show "$TASK" >/dev/null 2>"$TMP/cmd.err" || fail "tasks show"
at replica tokyoia-read "FROM agent_tasks" && fail "tasks show read the replica"
# DATABASE_READ_URL does what --read-url does.
mark
DATABASE_READ_URL=$RDB "$BIN" --db "$DB" agents list >/dev/null 2>"$TMP/cmd.err" || fail "agents list (env)"
at replica tokyoia-read "$S_AGENTS" || fail "DATABASE_READ_URL: agents list did not reach the replica"
at primary tokyoia "$S_AGENTS" && fail "DATABASE_READ_URL: agents list reached the primary"

# SQLite with a read URL: refused, clearly, and no database file left behind.
"$BIN" --db "$TMP/lite.db" --read-url "$RDB" agents list >/dev/null 2>"$TMP/cmd.err"
rc=$?
[ "$rc" = 3 ] || fail "SQLite with --read-url exited $rc, not 3"
grep -q "read replicas need PostgreSQL" "$TMP/cmd.err" || fail "SQLite with --read-url: unclear message"
[ -e "$TMP/lite.db" ] && fail "SQLite with --read-url left $TMP/lite.db behind"
rm -f "$TMP/cmd.err"

# ---- the CLI, replica stopped: answered by the primary, one warning ----
replica_down
mark
"$BIN" --db "$DB" --read-url "$RDB" --json stats --window 24h >"$TMP/out" 2>"$TMP/down.err" ||
  fail "stats --window with the replica down exited $?"
"$BIN" --db "$DB" --json stats --window 24h >"$TMP/primary.out" 2>/dev/null || fail "stats on the primary"
cmp -s "$TMP/out" "$TMP/primary.out" || fail "stats with the replica down differ from the primary's"
at primary tokyoia "$S_STATS" || fail "replica down: the stats did not come from the primary"
n=$(grep -c "warning: read replica unavailable" "$TMP/down.err")
[ "$n" = 1 ] || fail "replica down: $n warnings for one command, not 1: $(cat "$TMP/down.err")"
[ "$(wc -l <"$TMP/down.err")" = 1 ] || fail "replica down: more on stderr than the warning: $(cat "$TMP/down.err")"

# ---- back ----
replica_up
wait_replayed
ROUTED=$S_STATS routed stats

# ---- serve ----
tia_serve_start "$DB" --read-url "$RDB" --max-replica-lag 1s --replica-retry 1s --threads 2
TOKEN=$(tia_token "$DB" replica-a) || exit 1
TOKEN_B=$(tia_token "$DB" replica-b) || exit 1
wait_replayed
api() { # METHOD PATH [BODY] [TOKEN]: prints the status, the body into $TMP/body
  local tok=${4:-$TOKEN}
  curl -s -m 10 -o "$TMP/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $tok" \
    -H 'Content-Type: application/json' ${3:+-d "$3"} "$URL$2"
}

mark
code=$(api GET /api/v1/agents) || fail "curl"
[ "$code" = 200 ] || fail "GET /api/v1/agents: $code"
at replica tokyoia-read "$S_AGENTS" || fail "serve: the agents list did not reach the replica"
at primary tokyoia "$S_AGENTS" && fail "serve: the agents list reached the primary"
at primary tokyoia "$S_SESSION" || fail "serve: the session check did not reach the primary"
at replica tokyoia-read "user_sessions" && fail "serve: the replica was asked about sessions"

mark
code=$(api GET /api/v1/dashboard/overview)
[ "$code" = 200 ] || fail "GET /api/v1/dashboard/overview: $code"
at replica tokyoia-read "$S_TOTALS" || fail "serve: the overview's totals did not reach the replica"
at replica tokyoia-read "$S_WINDOW" || fail "serve: the overview's window stats did not reach the replica"
at primary tokyoia "$S_TOTALS|$S_WINDOW" && fail "serve: the overview read the primary"

mark
code=$(api POST /api/v1/tasks '{"agent_id":"yuki-002","task_type":"replica_test","description":"two"}')
[ "$code" = 201 ] || fail "POST /api/v1/tasks: $code"
at primary tokyoia "$S_WRITE" || fail "serve: the write did not reach the primary"

# A workflow submitted and answered with its interactions: that list, after the
# write in the same request, is read on the primary.
mark
code=$(api POST /api/v1/workflows '{"name":"replica","tasks":[{"key":"a","agent_id":"akira-001","task_type":"t","description":"d"}]}')
[ "$code" = 201 ] || fail "POST /api/v1/workflows: $code $(cat "$TMP/body")"
at primary tokyoia "$S_INTERACTIONS" || fail "serve: the submit's read-back did not reach the primary"
at replica tokyoia-read "$S_INTERACTIONS" && fail "serve: the submit's read-back went to the replica"
WF=$(sed -n 's/^{"id": *"\([0-9a-f-]*\)".*/\1/p' "$TMP/body")
[ -n "$WF" ] || WF=$(grep -o '"id": *"[0-9a-f-]*"' "$TMP/body" | head -n 1 | sed 's/.*"\([0-9a-f-]*\)"$/\1/')
wait_replayed
sleep 0.6 # past the lag check interval (half of 1 s)
mark
code=$(api GET "/api/v1/workflows/$WF")
[ "$code" = 200 ] || fail "GET /api/v1/workflows/$WF: $code"
# One answer from one server: the workflow and its tasks are a get (primary), so its
# interactions are read there too, not on a replica that may lag behind them.
at primary tokyoia "$S_INTERACTIONS" || fail "serve: a plain GET's interactions did not reach the primary"
at replica tokyoia-read "$S_INTERACTIONS" && fail "serve: a plain GET's interactions went to the replica"

# Revocation while the replica has not replayed it: refused at once (sessions are
# checked on the primary); the replica, now behind, is not used for reads.
psqlv "$RDB" "SELECT pg_wal_replay_pause()" >/dev/null || fail "pg_wal_replay_pause"
SID=$("$BIN" --db "$DB" --json sessions list --user replica-a | grep -o '"id": *"[0-9a-f-]*"' |
  head -n 1 | sed 's/.*"\([0-9a-f-]*\)"$/\1/')
[ -n "$SID" ] || fail "no session id for replica-a"
"$BIN" --db "$DB" sessions revoke "$SID" >/dev/null 2>"$TMP/cmd.err" || fail "sessions revoke"
[ "$(psqlv "$RDB" "SELECT status FROM user_sessions WHERE id = '$SID'")" = active ] ||
  fail "the paused replica already has the revocation: the check below would prove nothing"
code=$(api GET /api/v1/agents)
[ "$code" = 401 ] || fail "a revoked session got $code, not 401, at once"
sleep 1.8 # the replica's last replayed commit is now more than 1 s old
# A lag must be seen twice, 0.2 s apart, before the replica is left: let both of
# the server's connections see it twice.
for _ in 1 2 3 4; do api GET /api/v1/agents "" "$TOKEN_B" >/dev/null; done
sleep 0.3
for _ in 1 2 3 4; do api GET /api/v1/agents "" "$TOKEN_B" >/dev/null; done
mark
code=$(api GET /api/v1/agents "" "$TOKEN_B")
[ "$code" = 200 ] || fail "GET /api/v1/agents (replica lagging): $code"
at primary tokyoia "$S_AGENTS" || fail "replica lagging: the agents list did not come from the primary"
at replica tokyoia-read "$S_AGENTS" && fail "replica lagging: the agents list came from the lagging replica"
grep -q "warning: read replica .* behind the primary" "$TMP/serve.err" ||
  fail "replica lagging: no warning"
api GET /health >/dev/null
grep -q '"state": *"lagging"' "$TMP/body" || fail "/health while lagging: $(cat "$TMP/body")"
psqlv "$RDB" "SELECT pg_wal_replay_resume()" >/dev/null || fail "pg_wal_replay_resume"
wait_replayed
sleep 0.6
for _ in 1 2 3 4; do api GET /api/v1/agents "" "$TOKEN_B" >/dev/null; done
mark
code=$(api GET /api/v1/agents "" "$TOKEN_B")
at replica tokyoia-read "$S_AGENTS" || fail "caught up: the agents list did not return to the replica"

# Replica stopped: every request answered (by the primary), one warning in all.
# A server that checks the lag only every 5 s (the bound is 60 s), so that the
# first read after the stop is tried on the replica and falls back, rather than
# a lag check finding the replica gone first.
tia_serve_stop
tia_serve_start "$DB" --read-url "$RDB" --max-replica-lag 60s --replica-retry 1s --threads 2
code=$(api GET /api/v1/agents "" "$TOKEN_B")
[ "$code" = 200 ] || fail "GET /api/v1/agents on the second server: $code"
replica_down
mark
for i in $(seq 12); do
  code=$(api GET /api/v1/agents "" "$TOKEN_B")
  [ "$code" = 200 ] || fail "GET /api/v1/agents #$i with the replica down: $code"
done
at primary tokyoia "$S_AGENTS" || fail "replica down: the agents list did not come from the primary"
n=$(grep -c "warning: read replica unavailable" "$TMP/serve.err")
[ "$n" = 1 ] || fail "replica down: $n warnings from the server, not 1"
code=$(api GET /health)
[ "$code" = 200 ] || fail "/health with the replica down: $code"
grep -q '"state": *"down"' "$TMP/body" || fail "/health with the replica down: $(cat "$TMP/body")"
curl -s -m 10 "$URL/metrics" >"$TMP/metrics" || fail "/metrics"
fb=$(sed -n 's/^tokyoia_db_replica_fallbacks_total \([0-9]*\)$/\1/p' "$TMP/metrics")
[ -n "$fb" ] && [ "$fb" -ge 1 ] || fail "/metrics: fallbacks '$fb' after a read failed on the replica"
grep -q '^tokyoia_db_replica_up 0$' "$TMP/metrics" || fail "/metrics: replica not down"

# Back: used again by itself after the retry interval (1 s).
replica_up
wait_replayed
sleep 1.2
for _ in 1 2 3 4; do api GET /api/v1/agents "" "$TOKEN_B" >/dev/null; done
mark
code=$(api GET /api/v1/agents "" "$TOKEN_B")
[ "$code" = 200 ] || fail "GET /api/v1/agents after the replica came back: $code"
at replica tokyoia-read "$S_AGENTS" || fail "replica back: the agents list did not return to the replica"
grep -q "note: read replica up" "$TMP/serve.err" || fail "replica back: no note from the server"
curl -s -m 10 "$URL/metrics" >"$TMP/metrics" || fail "/metrics"
rr=$(sed -n 's/^tokyoia_db_reads_total{target="replica"} \([0-9]*\)$/\1/p' "$TMP/metrics")
rp=$(sed -n 's/^tokyoia_db_reads_total{target="primary"} \([0-9]*\)$/\1/p' "$TMP/metrics")
[ -n "$rr" ] && [ "$rr" -ge 6 ] || fail "/metrics: reads by the replica '$rr', not at least the 6 made with it up"
[ -n "$rp" ] && [ "$rp" -ge 12 ] || fail "/metrics: reads by the primary '$rp', not at least the 12 with the replica down"
grep -q '^tokyoia_db_replica_up 1$' "$TMP/metrics" || fail "/metrics: replica not up again"
code=$(api GET /health)
grep -q '"state": *"up"' "$TMP/body" || fail "/health after the replica came back: $(cat "$TMP/body")"

tia_serve_stop
echo "ok: reads at the replica, writes and session checks at the primary (CLI and serve);" \
  "lagging and stopped replica: answered by the primary with one warning; back: used again" \
  "(replica reads $rr, primary reads $rp over the server's pool)"
