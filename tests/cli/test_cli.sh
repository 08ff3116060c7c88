#!/usr/bin/env bash
# Tests of the tokyoia command line on the backend named by TIA_TEST_BACKEND
# (sqlite: a file in a temporary directory; pg: a new database in the cluster whose
# admin conninfo is in $TIA_TEST_PG_STATE, dropped at the end). Covers init and
# migrations, every command group with --json, every exit code, that refused input
# writes nothing, the demo run twice and --help everywhere. Stops at the first
# failed check and says what failed.
set -u

BIN=${TIA_BIN:?TIA_BIN must name the tokyoia binary}
BACKEND=${TIA_TEST_BACKEND:-sqlite}
unset DATABASE_URL
# The system python3 starts much faster than a version manager's shim.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tia-cli.XXXXXX")
OUT=$TMP/out
ERR=$TMP/err
PGNAME=
ADMIN=

cleanup() {
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
  exit 1
}

# A new empty database; its URL goes to $DB.
new_db() {
  if [ "$BACKEND" = pg ]; then
    ADMIN=$(cat "${TIA_TEST_PG_STATE:?TIA_TEST_PG_STATE must name the cluster state file}")
    PGNAME=tia_cli_$$_$RANDOM
    psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PGNAME" >/dev/null ||
      fail "cannot create database $PGNAME"
    DB=$(printf '%s' "$ADMIN" | sed "s/dbname=[^ ]*/dbname=$PGNAME/")
  else
    DB=$TMP/cli.db
  fi
}

# Raw SQL on the test database (first column of each row).
sql() {
  if [ "$BACKEND" = pg ]; then
    psql "$DB" -qXtA -v ON_ERROR_STOP=1 -c "$1"
  else
    sqlite3 "$DB" "$1"
  fi
}

# Runs tokyoia on the test database: stdout in $OUT, stderr in $ERR, status in $RC.
t() {
  "$BIN" --db "$DB" "$@" >"$OUT" 2>"$ERR"
  RC=$?
}

# expect CODE ARGS...: runs tokyoia and checks its exit code; an error must leave
# stdout empty and say one line "tokyoia: ..." on stderr.
expect() {
  local want=$1
  shift
  t "$@"
  [ "$RC" = "$want" ] || fail "tokyoia $*: exit $RC, want $want"
  if [ "$want" != 0 ]; then
    [ ! -s "$OUT" ] || fail "tokyoia $*: failed (exit $RC) but wrote to stdout"
    [ "$(wc -l <"$ERR")" = 1 ] || fail "tokyoia $*: error is not exactly one line"
    grep -q '^tokyoia: ' "$ERR" || fail "tokyoia $*: error does not start with 'tokyoia: '"
  fi
}

ok() { expect 0 "$@"; }

# j EXPR: evaluates a Python expression over the JSON document in $OUT (as d).
j() {
  "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$OUT" "$1" ||
    fail "stdout is not the JSON expected by: $1"
}

# same WHAT GOT WANT
same() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

counts() {
  sql "SELECT 'agents=' || (SELECT count(*) FROM agents) || ' workflows=' ||
    (SELECT count(*) FROM workflows) || ' tasks=' || (SELECT count(*) FROM agent_tasks) ||
    ' metrics=' || (SELECT count(*) FROM agent_metrics) || ' interactions=' ||
    (SELECT count(*) FROM agent_interactions) || ' sessions=' ||
    (SELECT count(*) FROM user_sessions) || ' agent_updates=' ||
    (SELECT max(updated_at) FROM agents)" || fail "cannot count rows"
}

# refused CODE ARGS...: the command fails with CODE and changes no row.
refused() {
  local before
  before=$(counts)
  expect "$@"
  same "rows after 'tokyoia ${*:2}'" "$(counts)" "$before"
}

new_db

echo "# not migrated yet: exit 8, nothing created"
expect 8 agents list
if [ "$BACKEND" = sqlite ]; then
  [ ! -e "$DB" ] || fail "a refused command left $DB behind"
  grep -q "tokyoia init" "$ERR" || fail "a missing database: the message does not say to run init"
  # A refused command never removes a file another process is creating: it made
  # one and removed it after its refusal, deleting a concurrent init's database
  # (8 runs of 15 before the fix).
  RACE=$TMP/race.db
  for i in 1 2 3 4 5 6 7 8 9 10; do
    rm -f "$RACE" "$RACE-wal" "$RACE-shm"
    "$BIN" --db "$RACE" agents list >/dev/null 2>&1 &
    "$BIN" --db "$RACE" init >/dev/null 2>&1 || fail "init beside a refused command (run $i)"
    wait
    "$BIN" --db "$RACE" agents list >/dev/null 2>&1 ||
      fail "the database init made is gone after a concurrent refused command (run $i)"
  done
  # Nor does the server make an empty file to refuse it.
  "$BIN" --db "$TMP/none.db" serve --listen 127.0.0.1:0 --no-auth >/dev/null 2>"$ERR"
  same "serve on a missing database" "$?" 8
  [ ! -e "$TMP/none.db" ] || fail "a refused serve left $TMP/none.db behind"
fi

echo "# init, migrate, migrate status"
ok init
grep -q 'Applied migration 0001_initial_schema' "$OUT" || fail "init does not say what it applied"
ok --json init
same "init --json applies nothing the second time" "$(j 'len(d["applied"])')" 0
ok migrate
grep -q 'up to date' "$OUT" || fail "migrate on a migrated database does not say up to date"
ok migrate status --json
MIGDIR="${TIA_SOURCE_DIR:?}/db/migrations/$([ "$BACKEND" = pg ] && echo postgres || echo sqlite)"
same "migrations listed" "$(j 'len(d)')" "$(ls "$MIGDIR"/[0-9][0-9][0-9][0-9]_*.sql | wc -l)"
same "all applied" "$(j 'all(m["applied"] and m["flags"] == "" for m in d)')" True
same "checksum prefix" "$(j 'len(d[0]["checksum"])')" 12
ok migrate status
head -n 1 "$OUT" | grep -q $'^version\tname\tapplied\tapplied_at\tchecksum\tflags$' ||
  fail "migrate status header"

echo "# agents"
ok --json agents list
same "seed agents" "$(j 'sorted(a["id"] for a in d)')" \
  "['akira-001', 'hiro-003', 'kenji-005', 'sakura-004', 'yuki-002']"
ok agents
same "TSV lines (header + 5)" "$(wc -l <"$OUT")" 6
head -n 1 "$OUT" | grep -q $'^id\tpersonality_emoji\tname\t' || fail "agents TSV header"
ok agents add --id miko-006 --name Miko --role 'Data Steward' --model grok-4 \
  --specialty data --specialty privacy --emoji '🦊' --metadata '{"team":"data"}' --json
same "added agent" "$(j 'd["id"], d["specialties"], d["metadata"]["team"], d["status"]')" \
  "('miko-006', ['data', 'privacy'], 'data', 'active')"
ok agents show miko-006 --json
same "shown agent" "$(j 'd["name"], d["personality_emoji"], d["model"]')" "('Miko', '🦊', 'grok-4')"
ok --json agents update miko-006 --name 'Miko II' --backstory 'Keeps the data clean.'
same "updated agent" "$(j 'd["name"], d["backstory"], d["role"]')" \
  "('Miko II', 'Keeps the data clean.', 'Data Steward')"
ok --json agents status miko-006 maintenance
same "agent status" "$(j 'd["status"]')" maintenance
ok --json agents list --status maintenance
same "agents in maintenance" "$(j '[a["id"] for a in d]')" "['miko-006']"
ok --json agents delete miko-006
same "deleted" "$(j 'd["deleted"]')" miko-006
expect 4 agents show miko-006

echo "# workflows, tasks, interactions"
ok --json workflows add --name 'Review PR 42' --type code_review --initiator alice \
  --description 'a test' --metadata '{"pr":42}'
WF=$(j 'd["id"]')
same "new workflow" "$(j 'd["status"], d["workflow_type"], d["metadata"]["pr"]')" \
  "('pending', 'code_review', 42)"
ok --json workflows status "$WF" running
same "workflow running" "$(j 'd["status"], d["started_at"] is not None')" "('running', True)"
ok --json tasks add --agent akira-001 --type security_audit --description 'audit it' \
  --workflow "$WF" --input '{"files":3}'
T1=$(j 'd["id"]')
same "new task" "$(j 'd["status"], d["workflow_id"], d["input_data"]["files"]')" \
  "('pending', '$WF', 3)"
ok --json tasks add --agent yuki-002 --type unit_tests --description 'test it' \
  --workflow "$WF" --parent "$T1"
T2=$(j 'd["id"]')
same "parent" "$(j 'd["parent_task_id"]')" "$T1"
ok --json tasks update "$T1" --status running
same "task running" "$(j 'd["status"], d["started_at"] is not None')" "('running', True)"
ok --json tasks update "$T1" --status completed --tokens 1500 --cost 0.0225 --output '{"ok":true}'
same "task completed" "$(j 'd["status"], d["tokens_used"], d["cost_usd"], d["output_data"]')" \
  "('completed', 1500, '0.022500', {'ok': True})"
ok --json tasks show "$T1"
same "task shown" "$(j 'd["id"], d["agent_id"], d["duration_ms"] is not None')" \
  "('$T1', 'akira-001', True)"
ok --json tasks list --workflow "$WF"
same "tasks of the workflow, newest first" "$(j '[t["id"] for t in d]')" "['$T2', '$T1']"
ok --json tasks list --agent akira-001 --status completed
same "completed tasks of akira" "$(j '[t["id"] for t in d]')" "['$T1']"
ok --json tasks list --workflow "$WF" --limit 1
same "one per page" "$(j 'len(d)')" 1
CURSOR=$(sed -n 's/.*--cursor \([^ ]*\)$/\1/p' "$ERR")
[ -n "$CURSOR" ] || fail "tasks list --limit 1 does not give the next cursor"
ok --json tasks list --workflow "$WF" --limit 1 --cursor "$CURSOR"
same "second page" "$(j '[t["id"] for t in d]')" "['$T1']"
ok --json interactions add --from akira-001 --to yuki-002 --type handoff --workflow "$WF" \
  --message 'over to you' --payload '{"n":1}'
ok --json interactions list --workflow "$WF"
same "interactions" "$(j '[(i["from_agent_name"], i["to_agent_name"], i["message"]) for i in d]')" \
  "[('Akira', 'Yuki', 'over to you')]"
ok --json workflows show "$WF"
same "workflow with tasks" \
  "$(j 'd["total_tasks"], d["completed_tasks"], d["total_tokens_used"], d["total_cost_usd"]')" \
  "(2, 1, 1500, '0.022500')"
same "workflow tasks in order" "$(j '[t["id"] for t in d["tasks"]]')" "['$T1', '$T2']"
same "workflow interactions" "$(j 'len(d["interactions"])')" 1
ok workflows show "$WF"
grep -q $'^total_cost_usd\t0.022500$' "$OUT" || fail "workflows show TSV has no total_cost_usd line"
ok --json workflows list --type code_review --since 1h
same "recent code_review workflows" "$(j '[w["id"] for w in d]')" "['$WF']"
ok --json workflows list --after 2000-01-01T00:00:00Z --status running
same "workflows after 2000" "$(j '[w["id"] for w in d]')" "['$WF']"
ok --json workflows list --after 2999-01-01
same "workflows after 2999" "$(j 'len(d)')" 0
ok --json workflows add --name 'Throwaway'
WF2=$(j 'd["id"]')
ok --json workflows delete "$WF2"
expect 4 workflows show "$WF2"

echo "# metrics"
for v in 100 200 300; do
  ok --json metrics record --agent hiro-003 --type latency --value "$v" --unit ms \
    --context '{"src":"cli"}'
done
ok --json metrics list --agent hiro-003 --type latency --limit 2
same "newest metric points" "$(j 'len(d), d[0]["metric_unit"], d[0]["context"]["src"]')" "(2, 'ms', 'cli')"
ok --json metrics query --type latency --agent hiro-003 --since 1h --bucket day
same "bucketed series" "$(j 'sum(b["count"] for b in d), d[0]["min"], d[0]["max"], d[0]["avg"]')" \
  "(3, 100.0, 300.0, 200.0)"

echo "# sessions"
ok --json sessions create --user alice --ttl 1h --ip 10.0.0.1 --device '{"os":"linux"}'
TOKEN=$(j 'd["token"]')
SID=$(j 'd["id"]')
same "token shape" "$(j 'd["token"].startswith("tia_") and len(d["token"]) == 68')" True
ok --json sessions validate "$TOKEN"
same "validated session" "$(j 'd["id"], d["user_id"], d["status"]')" "('$SID', 'alice', 'active')"
ok --json sessions list --user alice
same "alice's sessions" "$(j '[s["id"] for s in d]')" "['$SID']"
grep -q "$TOKEN" "$OUT" && fail "sessions list shows the token"
ok --json sessions revoke "$SID"
expect 6 sessions validate "$TOKEN"
expect 6 sessions validate "tia_$(printf '%064d' 0)"
expect 5 sessions revoke "$SID"
ok --json sessions expire
same "expired count" "$(j 'd["expired"]')" 0

echo "# stats"
ok --json stats --window 1h
same "stats of akira" \
  "$(j '[(a["completed_tasks"], a["total_tokens"], a["total_cost"], a["window_tasks"]) for a in d if a["id"] == "akira-001"]')" \
  "[(1, 1500, '0.022500', 1)]"

echo "# exit 2: usage"
refused 2 frobnicate
refused 2 agents frob
refused 2 agents add --id x --name X --role r --model m --bogus 1
refused 2 agents add --id x --name X --role r
refused 2 agents add --id x --name X --role r --model
refused 2 tasks list --limit abc
refused 2 tasks list --limit 0
refused 2 tasks update "$T2" --status running --tokens 1.5
refused 2 tasks update "$T2" --status sideways
refused 2 metrics record --agent akira-001 --type latency --value 12abc
refused 2 workflows list --since yesterday
refused 2 workflows list --after 2020-13-01
refused 2 agents show
refused 2 agents show a b
refused 2 interactions
refused 2 serve --shared-reads maybe
refused 2 serve --auth sometimes
# A flag given a value is refused, not dropped (maintain --dry-run=1 ran for real).
refused 2 maintain --dry-run=1
grep -q 'takes no value' "$ERR" || fail "--dry-run=1: unclear message"
refused 2 serve --no-auth=yes
# An IPv6 address without brackets is a usage error that says how to write it.
refused 2 serve --listen ::1
grep -q '\[::1\]:8080' "$ERR" || fail "--listen ::1: the message does not show the brackets"
# A refused maintain stores none of its settings.
refused 2 maintain --retention 5d --batch 99999999
t maintain settings
grep -q "^metric_retention	90d\$" "$OUT" || fail "a refused maintain stored --retention"
refused 2 --db
# An empty --db (an unset variable) is not the default database.
refused 2 --db "" agents list
refused 2 --read-url= agents list
"$BIN" >"$OUT" 2>"$ERR"
same "no command" "$?" 2

echo "# exit 3: invalid input, nothing written"
refused 3 agents add --id bad-json --name X --role r --model m --metadata '{bad'
refused 3 agents add --id long-name --name "$(printf 'n%.0s' $(seq 101))" --role r --model m
refused 3 workflows add --name "$(printf 'w%.0s' $(seq 201))"
refused 3 tasks add --agent akira-001 --type t --description d --input '[1,'
refused 3 metrics record --agent akira-001 --type latency --value nan
refused 3 metrics record --agent akira-001 --type latency --value inf
refused 3 sessions create --user alice --ip 999.1.1.1
# NaN passed the server's rate check and crashed it at the first request.
refused 3 serve --listen 127.0.0.1:0 --no-auth --rate-limit nan
refused 3 serve --listen 127.0.0.1:0 --no-auth --rate-limit inf
refused 3 interactions add --from akira-001 --to yuki-002 --type gossip
refused 3 workflows show not-a-uuid
refused 3 tasks list --limit 100000

echo "# exit 4: not found"
refused 4 tasks add --agent nobody-999 --type t --description d
refused 4 tasks add --agent akira-001 --type t --description d --workflow 01890000-0000-7000-8000-000000000000
refused 4 metrics record --agent nobody-999 --type latency --value 1
refused 4 agents show nobody-999
refused 4 agents update nobody-999 --name X
refused 4 workflows show 01890000-0000-7000-8000-000000000000
refused 4 tasks update 01890000-0000-7000-8000-000000000000 --status running
grep -q 'nobody-999' <(t tasks add --agent nobody-999 --type t --description d; cat "$ERR") ||
  fail "unknown agent not named in the message"

echo "# exit 5: conflicts"
refused 5 tasks update "$T1" --status running
refused 5 tasks update "$T2" --status completed
refused 5 workflows status "$WF" pending
refused 5 agents add --id akira-001 --name A --role r --model m
refused 5 agents delete akira-001

echo "# exit 7: unreachable database"
"$BIN" --db 'host=/nonexistent dbname=x' agents list >"$OUT" 2>"$ERR"
same "unreachable PostgreSQL" "$?" 7
[ "$(wc -l <"$ERR")" = 1 ] || fail "unreachable: error is not one line"
"$BIN" --db "$TMP/no/such/dir/x.db" init >"$OUT" 2>"$ERR"
same "unopenable SQLite file" "$?" 7

echo "# DATABASE_URL and global options after the command"
DATABASE_URL=$DB "$BIN" agents show akira-001 --json >"$OUT" 2>"$ERR" || fail "DATABASE_URL"
same "agent via DATABASE_URL" "$(j 'd["id"]')" akira-001

echo "# demo, twice"
before=$(sql "SELECT count(*) FROM workflows")
ok demo
grep -q 'up to date' "$OUT" || fail "demo does not say the migrations are up to date"
grep -q 'handoff akira-001 -> yuki-002' "$OUT" || fail "demo does not show the handoff"
ok --json demo
same "demo workflow" \
  "$(j 'd["workflow"]["workflow_type"], d["workflow"]["status"], d["workflow"]["total_tasks"], d["workflow"]["completed_tasks"], d["workflow"]["total_tokens_used"], d["workflow"]["total_cost_usd"]')" \
  "('code_review', 'completed', 5, 5, 18000, '0.298000')"
same "demo tasks" "$(j '[(t["agent_id"], t["task_type"], t["status"], t["cost_usd"]) for t in d["workflow"]["tasks"]]')" \
  "[('akira-001', 'security_audit', 'completed', '0.063000'), ('akira-001', 'code_review', 'completed', '0.054000'), ('yuki-002', 'unit_tests', 'completed', '0.153000'), ('hiro-003', 'ci_cd', 'completed', '0.000000'), ('sakura-004', 'documentation', 'completed', '0.028000')]"
same "demo handoffs" "$(j '[(i["from_agent_id"], i["to_agent_id"], i["interaction_type"]) for i in d["workflow"]["interactions"]]')" \
  "[('akira-001', 'yuki-002', 'handoff'), ('yuki-002', 'hiro-003', 'handoff'), ('hiro-003', 'sakura-004', 'handoff')]"
same "demo stats grow" \
  "$(j '[a["completed_tasks"] for a in d["agents_after"] if a["id"] == "sakura-004"][0] - [a["completed_tasks"] for a in d["agents_before"] if a["id"] == "sakura-004"][0]')" 1
same "two demo workflows" "$(sql "SELECT count(*) FROM workflows")" "$((before + 2))"
# --serve is read as serve --listen is, before any work.
refused 2 demo --serve 127.0.0.1:junk
PORT=junk expect 2 demo --serve ''
# --json --serve: one JSON document on stdout, with where the server is and its token.
"$BIN" --db "$DB" --json demo --serve 127.0.0.1:0 >"$TMP/demo.out" 2>"$TMP/demo.err" &
DEMO=$!
for _ in $(seq 300); do grep -q 'Still serving' "$TMP/demo.err" && break; sleep 0.1; done
grep -q 'Still serving' "$TMP/demo.err" || { kill $DEMO; fail "demo --serve never said it serves"; }
cp "$TMP/demo.out" "$OUT"
URL=$(j 'd["server"]["url"]')
DTOKEN=$(j 'd["server"]["token"]')
same "demo --json --serve workflow" "$(j 'd["workflow"]["status"]')" completed
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $DTOKEN" "$URL/api/v1/agents")
kill -TERM $DEMO
wait $DEMO
same "demo --serve stops on SIGTERM" "$?" 0
same "the demo server with its token" "$code" 200
if [ "$BACKEND" = sqlite ]; then
  mkdir "$TMP/cwd"
  (cd "$TMP/cwd" && "$BIN" demo >"$OUT" 2>"$ERR") || fail "demo on the default ./tokyoia.db"
  [ -s "$TMP/cwd/tokyoia.db" ] || fail "demo did not create ./tokyoia.db"
  grep -q 'Applied migration 0003' "$OUT" || fail "demo on a new database does not say it migrated"
fi

echo "# table output on a terminal"
if command -v script >/dev/null 2>&1; then
  # Wide characters the old hand-made table missed (U+2615, U+2705, U+1FA84).
  ok agents add --id wide-1 --name $'Caf\u00e9 \u2615' --role r --model m --emoji $'\u2705'
  ok agents add --id wide-2 --name wand --role r --model m --emoji $'\U0001FA84'
  script -qec "'$BIN' --db '$DB' agents list" /dev/null >"$OUT" 2>"$ERR" || fail "agents list on a tty"
  tr -d '\r' <"$OUT" >"$TMP/tty"
  ok agents delete wide-1
  ok agents delete wide-2
  grep -q $'\t' "$TMP/tty" && fail "the terminal table has tabs"
  sed -n 2p "$TMP/tty" | grep -q '^----------  ' || fail "no underline under the table header"
  # Every row is as wide as the header (emoji count two columns).
  "$PY" - "$TMP/tty" <<'EOF' || fail "table rows are not aligned"
import sys, unicodedata
def width(s):
    w = 0
    for i, c in enumerate(s):
        if c in '\ufe0f\u200d':
            w += 1 if i and unicodedata.east_asian_width(s[i-1]) not in 'WF' else 0
            continue
        w += 2 if unicodedata.east_asian_width(c) in 'WF' else 1
    return w
lines = [l.rstrip('\n') for l in open(sys.argv[1], encoding='utf-8') if l.strip()]
cols = [i for i, ch in enumerate(lines[1]) if ch == '-' and (i == 0 or lines[1][i-1] == ' ')]
name_col = cols[2]
for l in lines[2:]:
    # the name column starts at the same display column on every row
    parts = l.split()
    pos = width(l[:l.index(parts[2])])
    if pos != name_col:
        sys.exit(f"row {l!r}: name at column {pos}, header at {name_col}")
EOF
fi

echo "# exit 8: a changed migration"
SUM=$(sql "SELECT checksum FROM schema_migrations WHERE version = 1")
sql "UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1" >/dev/null
expect 8 migrate
expect 8 agents list
ok --json migrate status
same "flag CHANGED" "$(j 'd[0]["flags"]')" CHANGED
sql "UPDATE schema_migrations SET checksum = '$SUM' WHERE version = 1" >/dev/null
sql "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')" >/dev/null
expect 8 migrate
ok --json migrate status
same "flag UNKNOWN" "$(j 'd[-1]["version"], d[-1]["flags"]')" "(9999, 'UNKNOWN')"
sql "DELETE FROM schema_migrations WHERE version = 9999" >/dev/null
ok migrate

echo "# -h as an option's value is that value, not a request for help"
ok agents add --id dash-h --name -h --role r --model m
ok --json agents show dash-h
same "agent named -h" "$(j 'd["name"]')" "-h"
ok agents delete dash-h
expect 4 agents show -- -h

echo "# an empty --emoji or --backstory is none, on add as on update"
ok agents add --id empty-1 --name E --role r --model m --emoji '' --backstory ''
ok --json agents show empty-1
same "empty emoji and backstory on add" "$(j 'd["personality_emoji"], d["backstory"]')" "(None, None)"
ok agents delete empty-1

echo "# control characters in values do not reach the terminal"
ok agents add --id ctl-1 --name $'evil\e[2J\x7fend\xc2\x9b' --role r --model m
ok agents show ctl-1
grep -q 'evil\\x1b\[2J\\x7fend\\u009b' "$OUT" || fail "control characters not escaped: $(cat -v "$OUT")"
! grep -q $'\e' "$OUT" || fail "an ESC reached the output"
ok agents delete ctl-1

echo "# output that cannot be written is an error, said once"
if [ -w /dev/full ]; then
  "$BIN" --db "$DB" --json tasks list --limit 1000 >/dev/full 2>"$ERR"
  same "tasks list into a full device" "$?" 1
  grep -q '^tokyoia: cannot write the output' "$ERR" || fail "a lost output is not said"
  "$BIN" --db "$DB" init >/dev/full 2>"$ERR"
  same "init into a full device" "$?" 1
else
  fail "/dev/full is not writable here"
fi
# Started with stdout closed, the first descriptor opened (PostgreSQL's socket)
# took fd 1 and the output went into the connection: now it goes nowhere.
"$BIN" --db "$DB" --json agents list >&- 2>"$ERR"
same "agents list with stdout closed" "$?" 0

echo "# --help everywhere exits 0"
for cmd in "" init migrate "migrate up" "migrate status" agents "agents list" "agents show" \
  "agents add" "agents update" "agents status" "agents delete" workflows "workflows list" \
  "workflows show" "workflows add" "workflows status" "workflows delete" tasks "tasks list" \
  "tasks show" "tasks add" "tasks update" metrics "metrics list" "metrics record" \
  "metrics query" interactions "interactions list" "interactions add" sessions \
  "sessions create" "sessions list" "sessions validate" "sessions revoke" "sessions expire" \
  stats demo; do
  # shellcheck disable=SC2086
  "$BIN" $cmd --help >"$OUT" 2>"$ERR" || fail "tokyoia $cmd --help exits non-zero"
  grep -q '^Usage: tokyoia' "$OUT" || fail "tokyoia $cmd --help prints no usage"
done
"$BIN" --help >"$OUT" 2>"$ERR"
grep -q '^  8  schema' "$OUT" || fail "--help does not list the exit codes"
"$BIN" --version >"$OUT" 2>"$ERR" || fail "--version"
grep -q '^tokyoia [0-9]' "$OUT" || fail "--version output"

echo "PASS: tokyoia CLI on $BACKEND"
