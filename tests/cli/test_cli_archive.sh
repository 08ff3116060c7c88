#!/usr/bin/env bash
# Tests of `tokyoia archive` and `tokyoia archive show` on the backend named by
# TIA_TEST_BACKEND (sqlite: files in a temporary directory; pg: a new database in
# the cluster whose admin conninfo is in $TIA_TEST_PG_STATE, dropped at the end).
# Covers bad input (no or a bad --older-than, a bad --batch, --append without
# --to, a bad or unknown workflow id, an existing file): a clear one-line error,
# its exit code, and no row changed; --dry-run (counts, moves nothing); a run
# into the archive tables (its result line and rates, progress lines off a
# terminal, a bar on one, --json), `stats` and agent_stats unchanged, show (table
# and --json), an idempotent re-run; and a run into a file, show --from, refusal
# of the existing file and --append. Stops at the first failed check.
set -u

BIN=${TIA_BIN:?TIA_BIN must name the tokyoia binary}
BACKEND=${TIA_TEST_BACKEND:-sqlite}
unset DATABASE_URL
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tia-cli-archive.XXXXXX")
OUT=$TMP/out
ERR=$TMP/err
PGNAME=
ADMIN=

cleanup() {
  [ -n "$PGNAME" ] && psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS $PGNAME WITH (FORCE)" >/dev/null 2>&1
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

if [ "$BACKEND" = pg ]; then
  ADMIN=$(cat "${TIA_TEST_PG_STATE:?TIA_TEST_PG_STATE must name the cluster state file}")
  PGNAME=tia_archive_$$
  psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PGNAME" >/dev/null ||
    fail "cannot create database $PGNAME"
  DB=$(printf '%s' "$ADMIN" | sed "s/dbname=[^ ]*/dbname=$PGNAME/")
else
  DB=$TMP/a.db
fi

sql() {
  if [ "$BACKEND" = pg ]; then
    psql "$DB" -qXtA -v ON_ERROR_STOP=1 -c "$1"
  else
    sqlite3 "$DB" "$1"
  fi
}

t() {
  "$BIN" --db "$DB" "$@" >"$OUT" 2>"$ERR"
  RC=$?
}

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

j() {
  "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$OUT" "$1" ||
    fail "stdout is not the JSON expected by: $1"
}

same() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

# digest: a hash of every row that archiving may move or count.
digest() {
  local tables="agents workflows agent_tasks agent_interactions agent_task_totals
    task_dependencies workflows_archive agent_tasks_archive agent_interactions_archive
    archived_task_totals" q=""
  for tb in $tables; do
    if [ "$BACKEND" = pg ]; then
      q+="${q:+ || ' ' || }(SELECT md5(COALESCE(string_agg(x::text, E'\\n' ORDER BY x::text), '')) FROM $tb x)"
    else
      q+="SELECT '$tb'; SELECT * FROM $tb ORDER BY 1; "
    fi
  done
  if [ "$BACKEND" = pg ]; then
    sql "SELECT $q" || fail "cannot digest"
  else
    sqlite3 "$DB" "$q" | sha256sum || fail "cannot digest"
  fi
}

# refused CODE ARGS...: the command fails with CODE, says why, and changes no row.
refused() {
  local before
  before=$(digest)
  expect "$@"
  same "rows after 'tokyoia ${*:2}'" "$(digest)" "$before"
}

stats_of() {
  t --json stats --window 3650d
  [ "$RC" = 0 ] || fail "stats"
  "$PY" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))' "$OUT"
}

view_of() { sql "SELECT * FROM agent_stats ORDER BY id"; }

ok init
ok generate --tasks 800 --metrics 0 --days 180 --seed 5
STATS=$(stats_of)
VIEW=$(view_of)
HOT=$(sql "SELECT count(*) FROM workflows")

echo "# bad input: exit codes, one line, nothing changed"
refused 2 archive
grep -q -- '--older-than' "$ERR" || fail "missing --older-than is not named"
refused 2 archive --older-than abc
grep -q 'duration' "$ERR" || fail "a bad duration is not called one"
refused 2 archive --older-than -5d
refused 2 archive --older-than 90d --batch 0
refused 2 archive --older-than 90d --batch 20000
refused 2 archive --older-than 90d --append
refused 2 archive --older-than 90d --bogus
# A flag given a value is refused: --dry-run=yes archived for real with the flag dropped.
refused 2 archive --older-than 90d --dry-run=yes
refused 2 archive --older-than 90d --to "$TMP/flag.jsonl.gz" --append=1
refused 2 archive show
refused 3 archive show not-a-uuid
refused 4 archive show 00000000-0000-4000-8000-000000000000
grep -q 'not in the archive' "$ERR" || fail "unknown workflow: unclear message"
HOTWF=$(sql "SELECT id FROM workflows ORDER BY id LIMIT 1")
refused 4 archive show "$HOTWF"
grep -q 'hot tables' "$ERR" || fail "a hot workflow: the message does not say it is hot"
refused 4 archive show "$HOTWF" --from "$TMP/missing.jsonl.gz"
t archive --help
[ "$RC" = 0 ] && grep -q -- '--older-than' "$OUT" && grep -q -- '--to' "$OUT" || fail "archive --help"
t --help
grep -q '^  archive ' "$OUT" || fail "tokyoia --help does not list archive"

echo "# --dry-run counts and moves nothing"
before=$(digest)
ok archive --older-than 90d --dry-run
grep -Eq '^Would archive [0-9]+ workflows \([0-9]+ tasks, [0-9]+ interactions\) completed before ' "$OUT" ||
  fail "dry run line"
N=$(sed -E 's/^Would archive ([0-9]+) .*/\1/' "$OUT")
[ "$N" -gt 10 ] || fail "only $N workflows are eligible"
same "rows after a dry run" "$(digest)" "$before"

echo "# into the archive tables: result line, progress, counters unchanged"
ok archive --older-than 90d --batch 25
grep -Eq "^Archived $N workflows \([0-9]+ tasks, [0-9]+ interactions\) completed before .* into archive tables in $(((N + 24) / 25)) batches, [0-9.]+ s: [0-9]+ workflows/s, [0-9]+ tasks/s$" "$OUT" ||
  fail "result line"
grep -q '^archive: 100% ' "$ERR" || fail "no progress lines on stderr"
same "hot workflows" "$(sql "SELECT count(*) FROM workflows")" "$((HOT - N))"
same "archived workflows" "$(sql "SELECT count(*) FROM workflows_archive")" "$N"
same "stats after archiving" "$(stats_of)" "$STATS"
same "agent_stats after archiving" "$(view_of)" "$VIEW"

echo "# show"
WF=$(sql "SELECT id FROM workflows_archive ORDER BY id LIMIT 1")
NT=$(sql "SELECT count(*) FROM agent_tasks_archive WHERE workflow_id = '$WF'")
ok archive show "$WF"
grep -q "^id	$WF\$" "$OUT" || fail "show: no id line"
grep -q '^archived_at	' "$OUT" || fail "show: no archived_at"
grep -q '^id	agent_id' "$OUT" || fail "show: no task table"
ok --json archive show "$WF"
same "show --json id" "$(j 'd["id"]')" "$WF"
same "show --json tasks" "$(j 'len(d["tasks"])')" "$NT"
same "show --json total_tasks" "$(j 'd["total_tasks"]')" "$NT"

echo "# a re-run moves nothing; --json"
ok --json archive --older-than 90d
same "re-run workflows" "$(j 'd["workflows"]')" 0
same "re-run destination" "$(j 'd["destination"]')" tables
same "stats after a re-run" "$(stats_of)" "$STATS"

echo "# into a file"
F=$TMP/old.jsonl.gz
ok archive --older-than 45d --to "$F"
M=$(sed -E 's/^Archived ([0-9]+) .*/\1/' "$OUT")
[ "$M" -gt 0 ] || fail "nothing archived to the file"
same "file lines" "$(zcat "$F" | wc -l)" "$((M + 1))"
same "file header" "$(zcat "$F" | head -n 1)" '{"format":"tokyoia-archive","version":1}'
FW=$(zcat "$F" | sed -n 2p | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
same "file workflow gone from the hot tables" "$(sql "SELECT count(*) FROM workflows WHERE id = '$FW'")" 0
ok --json archive show "$FW" --from "$F"
same "show --from id" "$(j 'd["id"]')" "$FW"
refused 4 archive show "$WF" --from "$F"
refused 5 archive --older-than 30d --to "$F"
grep -q -- '--append' "$ERR" || fail "existing file: --append is not suggested"
ok archive --older-than 30d --to "$F" --append
M2=$(sed -E 's/^Archived ([0-9]+) .*/\1/' "$OUT")
same "file lines after --append" "$(zcat "$F" | wc -l)" "$((M + M2 + 1))"
same "stats after the file" "$(stats_of)" "$STATS"
same "agent_stats after the file" "$(view_of)" "$VIEW"

echo "# a progress bar on a terminal"
TTYLOG=$TMP/tty.log
script -qec "'$BIN' --db '$DB' archive --older-than 1d --batch 5" "$TTYLOG" >/dev/null 2>&1 ||
  fail "archive under a terminal failed: $(cat "$TTYLOG")"
grep -q $'\r' "$TTYLOG" || fail "no bar redrawn in place on a terminal"
grep -q '\[#' "$TTYLOG" || fail "no bar on a terminal"
grep -q 'workflows/s' "$TTYLOG" || fail "no rate on a terminal"
same "stats after the terminal run" "$(stats_of)" "$STATS"

echo "ok"
