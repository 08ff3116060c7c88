#!/usr/bin/env bash
# SQL injection and metacharacters through the CLI's string arguments (issue 7),
# on the backend named by TIA_TEST_BACKEND: every string of tests/data/injection.txt
# (and two long ones) as agents add/update (id, name, role, model, backstory, emoji,
# specialty), agents show/delete by id, workflows add (name, type, initiator,
# description), tasks add (type, description) and update (error), metrics record
# (type, unit), interactions add (type, message), sessions create (user) and prices
# set (model). A string that fits is stored literally (read back from the database
# by a key the test chose) and exits 0; one that does not fit its column, or is no
# member of an enumeration, exits 3 and writes nothing. Afterwards the seed's agents
# and a canary agent are intact. Every string goes through the agents commands; the
# other commands get each string in a full run (TIA_INJECTION_FULL=1, ~2 minutes per
# backend) and a quarter of the corpus by default. JSON arguments are not sent the
# corpus here (the API test sends it inside JSON values; both reach the same checks).
set -u

BIN=${TIA_BIN:?TIA_BIN must name the tokyoia binary}
SRC=${TIA_SOURCE_DIR:?TIA_SOURCE_DIR must name the source tree}
BACKEND=${TIA_TEST_BACKEND:-sqlite}
unset DATABASE_URL
export LC_ALL=C.UTF-8 # ${#s} counts characters, as the columns do
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tia-cliinj.XXXXXX")
PGNAME=
ADMIN=

cleanup() {
  if [ -n "$PGNAME" ]; then
    psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS $PGNAME WITH (FORCE)" >/dev/null 2>&1
  fi
  rm -rf "$TMP"
  [ -n "${TMP2:-}" ] && rm -rf "$TMP2"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [ -s "$TMP/err" ] && { echo "--- last stderr:" >&2; head -c 600 "$TMP/err" >&2; echo >&2; }
  exit 1
}

if [ "$BACKEND" = pg ]; then
  ADMIN=$(cat "${TIA_TEST_PG_STATE:?TIA_TEST_PG_STATE must name the cluster state file}")
  PGNAME=tia_cliinj_$$_$RANDOM
  psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PGNAME" >/dev/null ||
    fail "cannot create database $PGNAME"
  DB=$(printf '%s' "$ADMIN" | sed "s/dbname=[^ ]*/dbname=$PGNAME/")
else
  # In memory when it can be: every write is a durable commit (an fsync).
  [ -d /dev/shm ] && [ -w /dev/shm ] && TMP2=$(mktemp -d /dev/shm/tia-cliinj.XXXXXX) || TMP2=$TMP
  DB=$TMP2/inj.db
fi

# Runs SQL; prints the value(s) raw. Through one psql or sqlite3 kept open (a psql
# start costs ~170 ms), each statement followed by a sentinel row.
if [ "$BACKEND" = pg ]; then
  coproc PSQL { psql "$DB" -qXtA 2>&1; }
else
  coproc PSQL { sqlite3 -cmd '.timeout 5000' "$DB" 2>&1; }
fi
sql() {
  printf '%s;\nSELECT '"'"'@@END@@'"'"';\n' "$1" >&"${PSQL[1]}"
  local out= line n=0
  while IFS= read -r -t 30 line <&"${PSQL[0]}"; do
    [ "$line" = @@END@@ ] && { printf '%s' "$out"; return 0; }
    [ $n = 0 ] && out=$line || out+=$'\n'$line
    n=$((n + 1))
  done
  echo "the SQL shell did not answer" >&2
  return 1
}
# The string as an SQL literal (the test's own queries; the CLI binds parameters).
lit() { printf "'%s'" "${1//\'/\'\'}"; }

"$BIN" --db "$DB" init >/dev/null 2>"$TMP/err" || fail "init"
"$BIN" --db "$DB" agents add --id canary-001 --name Canary --role Sentinel --model canary-model \
  >/dev/null 2>"$TMP/err" || fail "canary agent"
"$BIN" --db "$DB" agents add --id cli-upd --name n --role r --model m >/dev/null 2>"$TMP/err" ||
  fail "agent to update"

# ---- the corpus ----
CORPUS=()
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    '' | '## '*) continue ;;
    esc:*) CORPUS+=("$(printf '%b' "${line#esc:}")") ;; # bash's %b knows \t \n \r \uHHHH
    *) CORPUS+=("$line") ;;
  esac
done <"$SRC/tests/data/injection.txt"
unit="'; DROP TABLE agents; -- "
long=
while [ ${#long} -lt 5000 ]; do long+=$unit; done
CORPUS+=("${long:0:5000}")
while [ ${#long} -lt 100000 ]; do long+=$long; done
CORPUS+=("${long:0:100000}")
[ ${#CORPUS[@]} -ge 40 ] || fail "the corpus has ${#CORPUS[@]} strings"

FULL=${TIA_INJECTION_FULL:-0}
PAIRS=0
STORED=0
REFUSED=0

# Runs the CLI; sets RC.
cli() {
  "$BIN" --db "$DB" "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
}
# The id the CLI printed with --json.
printed_id() { sed -n 's/.*"id": *"\([0-9a-f-]*\)".*/\1/p' "$TMP/out" | head -n 1; }

# A byte below 0x20 in $1.
has_control() {
  local LC_ALL=C
  [[ $1 == *[$'\001'-$'\037']* ]]
}

# Read-backs are gathered per string and checked in one query (CHECKS: SQL
# expressions that are 1 when the value is stored literally; WHATS: their names).
CHECKS=()
WHATS=()
stored() { # $1 what, $2 table, $3 key condition, $4 column
  CHECKS+=("(SELECT CASE WHEN count(*) > 0 THEN 1 ELSE 0 END FROM $2 WHERE $3 AND $4 = $(lit "$S"))")
  WHATS+=("$1")
  PAIRS=$((PAIRS + 1))
  STORED=$((STORED + 1))
}
run_checks() {
  [ ${#CHECKS[@]} -gt 0 ] || return 0
  local q="SELECT ${CHECKS[0]}" k got want=1
  for ((k = 1; k < ${#CHECKS[@]}; k++)); do
    q+=" || ',' || ${CHECKS[k]}"
    want+=",1"
  done
  got=$(sql "$q") || fail "read-back query failed for [${S:0:80}]"
  if [ "$got" != "$want" ]; then
    IFS=, read -r -a parts <<<"$got"
    for ((k = 0; k < ${#CHECKS[@]}; k++)); do
      [ "${parts[k]}" = 1 ] || fail "${WHATS[k]} [${S:0:80}]: not stored literally"
    done
    fail "read-back of [${S:0:80}]: $got"
  fi
  CHECKS=()
  WHATS=()
}
# A refusal: exit 3 and table $2's row count unchanged (from $3).
refused() { # $1 what, $2 table, $3 count before
  PAIRS=$((PAIRS + 1))
  [ "$RC" = 3 ] || fail "$1 [${S:0:80}] ($N chars): exit $RC, want 3"
  [ "$(sql "SELECT count(*) FROM $2")" = "$3" ] || fail "$1 [${S:0:80}]: refused but written"
  REFUSED=$((REFUSED + 1))
}
accepted() { # $1 what
  [ "$RC" = 0 ] || fail "$1 [${S:0:80}] ($N chars): exit $RC, want 0"
}

# Agent options: option, column limit (0: none), column.
AGENT_OPTS=(name:100:name role:200:role model:100:model backstory:0:backstory
  emoji:10:personality_emoji)
WF_OPTS=(name:200:name type:100:workflow_type initiator:100:initiator description:0:description)

i=0
for S in "${CORPUS[@]}"; do
  i=$((i + 1))
  N=${#S}
  fits() { [ "$1" = 0 ] || [ "$N" -le "$1" ]; }

  # agents add --id S; update and delete it by that id (a lookup by the id each).
  fits 50 || before=$(sql "SELECT count(*) FROM agents")
  cli agents add --id "$S" --name n --role r --model m
  if fits 50; then
    accepted "agents add --id"
    # Positional arguments after "--", since a string may start with '-'.
    cli agents update --role "$S" -- "$S"
    accepted "agents update ID --role"
    stored "agents add --id, agents update ID --role" agents "id = $(lit "$S")" role
    run_checks
    cli agents delete -- "$S"
    accepted "agents delete"
    PAIRS=$((PAIRS + 1))
    CHECKS+=("(SELECT CASE WHEN count(*) = 0 THEN 1 ELSE 0 END FROM agents WHERE id = $(lit "$S"))")
    WHATS+=("agents delete ID (the row is gone)")
  else
    refused "agents add --id" agents "$before"
  fi

  # agents add and update: every option that fits in one call, each that does not alone.
  add=(--id "cli-a-$i")
  upd=()
  for opt in "${AGENT_OPTS[@]}"; do
    o=${opt%%:*} rest=${opt#*:}
    if fits "${rest%%:*}"; then
      add+=("--$o" "$S")
      upd+=("--$o" "$S")
    else
      case $o in name | role | model) add+=("--$o" x) ;; esac # required
    fi
  done
  has_control "$S" || add+=(--specialty plain --specialty "$S")
  cli agents add "${add[@]}"
  accepted "agents add (name, role, model, backstory, emoji, specialty)"
  cli agents update "${upd[@]}" -- cli-upd
  accepted "agents update"
  for opt in "${AGENT_OPTS[@]}"; do
    o=${opt%%:*} rest=${opt#*:}
    max=${rest%%:*} col=${rest#*:}
    if fits "$max"; then
      stored "agents add --$o" agents "id = 'cli-a-$i'" "$col"
      stored "agents update --$o" agents "id = 'cli-upd'" "$col"
    else
      before=$(sql "SELECT count(*) FROM agents")
      bad=(--id "cli-x-$i")
      for r in name role model; do [ "$r" = "$o" ] || bad+=("--$r" x); done
      cli agents add "${bad[@]}" "--$o" "$S"
      refused "agents add --$o" agents "$before"
      cli agents update "--$o" "$S" -- cli-upd
      refused "agents update --$o" agents "$before"
    fi
  done
  if has_control "$S"; then
    before=$(sql "SELECT count(*) FROM agents")
    cli agents add --id "cli-s-$i" --name n --role r --model m --specialty "$S"
    refused "agents add --specialty (a control character)" agents "$before"
  elif [ "$BACKEND" = pg ]; then
    stored "agents add --specialty" agents "id = 'cli-a-$i'" "specialties[2]"
  else
    stored "agents add --specialty" agents "id = 'cli-a-$i'" "json_extract(specialties, '\$[1]')"
  fi

  # The other commands: every string in a full run (TIA_INJECTION_FULL=1), else each
  # string to one family in turn (a process start costs ~50 ms; this keeps the test
  # under a minute while each command still gets a quarter of the corpus, spread
  # over all its kinds of string).
  fam=$((i % 4))
  if [ "$FULL" = 1 ] || [ $fam = 0 ]; then
  # workflows add: name, type, initiator, description.
  wf=()
  for opt in "${WF_OPTS[@]}"; do
    o=${opt%%:*} rest=${opt#*:}
    fits "${rest%%:*}" && wf+=("--$o" "$S")
  done
  fits 200 || wf+=(--name w)
  cli --json workflows add "${wf[@]}"
  accepted "workflows add"
  wid=$(printed_id)
  for opt in "${WF_OPTS[@]}"; do
    o=${opt%%:*} rest=${opt#*:}
    max=${rest%%:*} col=${rest#*:}
    if fits "$max"; then
      stored "workflows add --$o" workflows "id = '$wid'" "$col"
    else
      before=$(sql "SELECT count(*) FROM workflows")
      if [ "$o" = name ]; then cli workflows add --name "$S"; else cli workflows add --name w "--$o" "$S"; fi
      refused "workflows add --$o" workflows "$before"
    fi
  done

  # tasks add: type, description; tasks update: the error message of a failure.
  if fits 100; then
    cli --json tasks add --agent akira-001 --type "$S" --description "$S"
    accepted "tasks add"
    tid=$(printed_id)
    stored "tasks add --type" agent_tasks "id = '$tid'" task_type
  else
    before=$(sql "SELECT count(*) FROM agent_tasks")
    cli tasks add --agent akira-001 --type "$S" --description d
    refused "tasks add --type" agent_tasks "$before"
    cli --json tasks add --agent akira-001 --type t --description "$S"
    accepted "tasks add"
    tid=$(printed_id)
  fi
  stored "tasks add --description" agent_tasks "id = '$tid'" description
  cli tasks update "$tid" --status running
  accepted "tasks update --status running"
  cli tasks update "$tid" --status failed --error "$S"
  accepted "tasks update --error"
  stored "tasks update --error" agent_tasks "id = '$tid'" error_message

  fi
  if [ "$FULL" = 1 ] || [ $fam = 1 ]; then
  # metrics record: type and unit.
  if fits 20; then
    cli metrics record --agent akira-001 --type "$S" --value 1 --unit "$S"
    accepted "metrics record"
    stored "metrics record --type" agent_metrics "agent_id = 'akira-001'" metric_type
    stored "metrics record --unit" agent_metrics "metric_type = $(lit "$S")" metric_unit
  else
    before=$(sql "SELECT count(*) FROM agent_metrics")
    cli metrics record --agent akira-001 --type "cli-unit-$i" --value 1 --unit "$S"
    refused "metrics record --unit" agent_metrics "$before"
    cli metrics record --agent akira-001 --type "$S" --value 1
    if fits 50; then
      accepted "metrics record --type"
      stored "metrics record --type" agent_metrics "agent_id = 'akira-001'" metric_type
    else
      refused "metrics record --type" agent_metrics "$before"
    fi
  fi

  fi
  if [ "$FULL" = 1 ] || [ $fam = 2 ]; then
  # interactions add: the type is one of four words; the message is free text.
  before=$(sql "SELECT count(*) FROM agent_interactions")
  cli interactions add --from akira-001 --to yuki-002 --type "$S"
  refused "interactions add --type" agent_interactions "$before"
  cli --json interactions add --from akira-001 --to yuki-002 --type handoff --message "$S"
  accepted "interactions add --message"
  stored "interactions add --message" agent_interactions "id = '$(printed_id)'" message

  fi
  if [ "$FULL" = 1 ] || [ $fam = 3 ]; then
  # sessions create --user; prices set MODEL.
  fits 100 || before=$(sql "SELECT count(*) FROM user_sessions")
  cli sessions create --user "$S" --ttl 1h
  if fits 100; then
    accepted "sessions create --user"
    stored "sessions create --user" user_sessions "status = 'active'" user_id
  else
    refused "sessions create --user" user_sessions "$before"
  fi
  fits 100 || before=$(sql "SELECT count(*) FROM model_prices")
  cli prices set -- "$S" 0.01
  if fits 100; then
    accepted "prices set MODEL"
    stored "prices set MODEL" model_prices "1 = 1" model
  else
    refused "prices set MODEL" model_prices "$before"
  fi
  fi
  run_checks
done

# Intact: the seed's agents, the canary, every table readable.
[ "$(sql "SELECT count(*) FROM agents WHERE id IN ('akira-001', 'yuki-002', 'hiro-003', 'sakura-004', 'kenji-005')")" = 5 ] ||
  fail "a seed agent is gone"
[ "$(sql "SELECT name || '|' || role || '|' || model || '|' || status FROM agents WHERE id = 'canary-001'")" = \
  "Canary|Sentinel|canary-model|active" ] || fail "the canary agent changed"
for t in agents workflows agent_tasks agent_metrics agent_interactions user_sessions model_prices; do
  sql "SELECT count(*) FROM $t" >/dev/null || fail "table $t is unreadable"
done
echo "cli injection ($BACKEND, full=$FULL): ${#CORPUS[@]} strings, $PAIRS (argument, string) pairs: $STORED stored literally, $REFUSED refused with exit 3"
echo "PASS"
