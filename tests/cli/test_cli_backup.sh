#!/usr/bin/env bash
# Tests of `tokyoia backup` and `tokyoia restore` on the backend named by
# TIA_TEST_BACKEND (sqlite: files in a temporary directory; pg: new databases in
# the cluster whose admin conninfo is in $TIA_TEST_PG_STATE, dropped at the end).
# Covers a round trip (every row of the main tables and the stats identical,
# migrations recorded), the MB/s line and --json, progress lines off a terminal and
# a bar on one, refusals with their exit codes and nothing written (existing FILE,
# non-empty database, missing, foreign and damaged files, wrong backend), --force,
# and on PostgreSQL the plain SQL that `psql DBNAME < FILE` restores. Stops at the
# first failed check and says what failed.
set -u

BIN=${TIA_BIN:?TIA_BIN must name the tokyoia binary}
BACKEND=${TIA_TEST_BACKEND:-sqlite}
unset DATABASE_URL
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tia-cli-backup.XXXXXX")
OUT=$TMP/out
ERR=$TMP/err
PGNAMES=()
ADMIN=

cleanup() {
  for n in "${PGNAMES[@]}"; do
    psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS $n WITH (FORCE)" >/dev/null 2>&1
  done
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

# new_db NAME: a new empty database (no tables); its URL is printed.
new_db() {
  if [ "$BACKEND" = pg ]; then
    ADMIN=$(cat "${TIA_TEST_PG_STATE:?TIA_TEST_PG_STATE must name the cluster state file}")
    local name=tia_bk_$$_$1
    psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $name" >/dev/null ||
      fail "cannot create database $name"
    PGNAMES+=("$name")
    printf '%s' "$ADMIN" | sed "s/dbname=[^ ]*/dbname=$name/"
  else
    printf '%s' "$TMP/$1.db"
  fi
}

# sql DB QUERY: raw SQL, first column of each row.
sql() {
  if [ "$BACKEND" = pg ]; then
    psql "$1" -qXtA -v ON_ERROR_STOP=1 -c "$2"
  else
    sqlite3 "$1" "$2"
  fi
}

# t DB ARGS...: runs tokyoia on DB: stdout in $OUT, stderr in $ERR, status in $RC.
t() {
  local db=$1
  shift
  "$BIN" --db "$db" "$@" >"$OUT" 2>"$ERR"
  RC=$?
}

# expect CODE DB ARGS...: an error leaves stdout empty and says one line on stderr.
expect() {
  local want=$1
  shift
  t "$@"
  [ "$RC" = "$want" ] || fail "tokyoia ${*:2}: exit $RC, want $want"
  if [ "$want" != 0 ]; then
    [ ! -s "$OUT" ] || fail "tokyoia ${*:2}: failed (exit $RC) but wrote to stdout"
    [ "$(wc -l <"$ERR")" = 1 ] || fail "tokyoia ${*:2}: error is not exactly one line"
    grep -q '^tokyoia: ' "$ERR" || fail "tokyoia ${*:2}: error does not start with 'tokyoia: '"
  fi
}

ok() { expect 0 "$@"; }

j() {
  "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$OUT" "$1" ||
    fail "stdout is not the JSON expected by: $1"
}

same() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

# digest DB: a hash of every row of the tables and counters a backup must carry.
digest() {
  local tables="agents workflows agent_tasks agent_metrics agent_interactions user_sessions
    agent_task_totals task_dependencies model_prices schema_migrations" q=""
  for tb in $tables; do
    if [ "$BACKEND" = pg ]; then
      q+="${q:+ || ' ' || }(SELECT md5(COALESCE(string_agg(x::text, E'\\n' ORDER BY x::text), '')) FROM $tb x)"
    else
      q+="SELECT '$tb'; SELECT * FROM $tb ORDER BY 1; "
    fi
  done
  if [ "$BACKEND" = pg ]; then
    sql "$1" "SELECT $q" || fail "cannot digest $1"
  else
    sqlite3 "$1" "$q" | sha256sum || fail "cannot digest $1"
  fi
}

# refused CODE DB ARGS...: the command fails with CODE and changes no row of DB.
refused() {
  local before
  before=$(digest "$2")
  expect "$@"
  same "rows after 'tokyoia ${*:3}'" "$(digest "$2")" "$before"
}

stats_of() {
  t "$1" --json stats --window 3650d
  [ "$RC" = 0 ] || fail "stats on $1"
  "$PY" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))' "$OUT"
}

SRC=$(new_db src)
ok "$SRC" init
ok "$SRC" generate --tasks 400 --metrics 300 --seed 3
SRC_DIGEST=$(digest "$SRC")
SRC_STATS=$(stats_of "$SRC")
EXT=$([ "$BACKEND" = pg ] && echo dump || echo db)
FILE=$TMP/backup.$EXT

echo "# backup: the MB/s line, progress lines, the file"
ok "$SRC" backup "$FILE"
grep -Eq "^Backed up to $FILE \(.*\): [0-9.]+ MB in [0-9.]+ s, [0-9.]+ MB/s$" "$OUT" ||
  fail "backup does not end with its size, time and MB/s"
grep -q '^backup: ' "$ERR" || fail "no progress lines on stderr"
if [ "$BACKEND" = pg ]; then
  grep -q '^backup: public.agent_tasks (' "$ERR" || fail "pg_dump progress does not name tables"
else
  grep -q '^backup: 100% (' "$ERR" || fail "SQLite progress does not reach 100%"
fi
grep -q $'\r' "$ERR" && fail "a bar was drawn on a pipe"
[ -f "$FILE" ] || fail "no backup file"
same "backup file mode" "$(stat -c %a "$FILE")" 600
same "source unchanged by the backup" "$(digest "$SRC")" "$SRC_DIGEST"
SUM=$(sha256sum <"$FILE")

echo "# an existing FILE is refused (exit 5) and kept; --force replaces it"
expect 5 "$SRC" backup "$FILE"
grep -q 'already exists' "$ERR" || fail "refusal does not say the file exists"
same "existing file kept" "$(sha256sum <"$FILE")" "$SUM"
ok "$SRC" --json backup --force "$FILE"
same "json file" "$(j 'd["file"]')" "$FILE"
same "json bytes" "$(j 'd["bytes"]')" "$(stat -c %s "$FILE")"
same "json rate" "$(j 'd["mb_per_s"] > 0 and d["seconds"] > 0')" True
ls "$TMP" | grep -q '\.tmp-' && fail "a temporary file was left behind"

echo "# restore into an empty database: identical rows, stats and migrations"
DST=$(new_db dst)
ok "$DST" restore "$FILE"
grep -Eq "^Restored $FILE \(.*\): [0-9.]+ MB in [0-9.]+ s, [0-9.]+ MB/s$" "$OUT" ||
  fail "restore does not end with its size, time and MB/s"
grep -q '^restore: ' "$ERR" || fail "no restore progress lines"
same "restored rows" "$(digest "$DST")" "$SRC_DIGEST"
same "restored stats" "$(stats_of "$DST")" "$SRC_STATS"
ok "$DST" --json migrate status
same "migrations recorded" "$(j 'all(m["applied"] and m["flags"] == "" for m in d) and len(d) > 0')" True
ok "$DST" --json agents list
same "agents usable after restore" "$(j 'len(d)')" 5

echo "# into an initialised (empty) database"
INIT=$(new_db init)
ok "$INIT" init
ok "$INIT" restore "$FILE"
same "restored over init" "$(digest "$INIT")" "$SRC_DIGEST"

echo "# a database with rows is refused (exit 5), nothing written; --force replaces"
OTHER=$(new_db other)
ok "$OTHER" init
ok "$OTHER" tasks add --agent akira-001 --type review --description 'keep me'
refused 5 "$OTHER" restore "$FILE"
grep -q 'not empty (.*agent_tasks.*has rows)' "$ERR" || fail "refusal does not name the table"
grep -q -- '--force' "$ERR" || fail "refusal does not mention --force"
ok "$OTHER" restore --force "$FILE"
same "forced restore" "$(digest "$OTHER")" "$SRC_DIGEST"
refused 5 "$DST" restore "$FILE"

echo "# bad input: exit codes, one line, nothing written"
refused 4 "$INIT" restore "$TMP/missing.$EXT"
grep -q 'does not exist' "$ERR" || fail "missing file message"
printf 'just some text\n' >"$TMP/text.bak"
refused 3 "$INIT" restore "$TMP/text.bak"
grep -q 'not a tokyoia backup' "$ERR" || fail "not-a-backup message"
: >"$TMP/empty.bak"
refused 3 "$INIT" restore "$TMP/empty.bak"
refused 3 "$INIT" restore "$TMP"
sqlite3 "$TMP/foreign.db" "CREATE TABLE t (x); INSERT INTO t VALUES (1);"
refused 3 "$INIT" restore "$TMP/foreign.db"
head -c $(($(stat -c %s "$FILE") / 2)) "$FILE" >"$TMP/half.$EXT"
if [ "$BACKEND" = pg ]; then
  # pg_restore reads the TOC at the head of the file; the missing data fails the
  # single transaction, so nothing is written either way.
  before=$(digest "$INIT")
  t "$INIT" restore --force "$TMP/half.$EXT"
  [ "$RC" = 3 ] || [ "$RC" = 1 ] || fail "truncated archive: exit $RC, want 3 or 1"
  grep -q 'unchanged\|not a readable' "$ERR" || fail "truncated archive message"
  same "rows after a truncated archive" "$(digest "$INIT")" "$before"
  refused 3 "$INIT" restore --force "$TMP/foreign.db"
  grep -q 'SQLite backup' "$ERR" || fail "wrong-backend message"
else
  refused 3 "$INIT" restore --force "$TMP/half.$EXT"
  grep -q 'truncated' "$ERR" || fail "truncated file message"
  printf 'PGDMP\001\016\000junk' >"$TMP/fake.dump"
  refused 3 "$INIT" restore --force "$TMP/fake.dump"
  grep -q 'PostgreSQL backup' "$ERR" || fail "wrong-backend message"
  expect 3 "$SRC" backup --sql "$TMP/x.sql"
  [ ! -e "$TMP/x.sql" ] || fail "--sql on SQLite left a file"
  # Nothing to back up, and a refused restore into a new file: no file left behind.
  expect 4 "$TMP/nothing.db" backup "$TMP/nothing.bak"
  [ ! -e "$TMP/nothing.db" ] && [ ! -e "$TMP/nothing.bak" ] || fail "files left after exit 4"
  expect 3 "$TMP/new.db" restore "$TMP/text.bak"
  [ ! -e "$TMP/new.db" ] || fail "a refused restore left a new database file"
fi
expect 7 "$([ "$BACKEND" = pg ] && echo "host=/nonexistent dbname=x" || echo "$TMP/no/such/dir.db")" \
  backup "$TMP/unreachable.bak"
[ ! -e "$TMP/unreachable.bak" ] || fail "a backup of an unreachable database left a file"
expect 2 "$SRC" backup
expect 2 "$SRC" restore
expect 2 "$SRC" backup "$FILE" --bogus
t "$SRC" backup --help
[ "$RC" = 0 ] && grep -q -- '--sql' "$OUT" || fail "backup --help"
t "$SRC" restore --help
[ "$RC" = 0 ] && grep -q -- '--force' "$OUT" || fail "restore --help"

echo "# a progress bar on a terminal"
TTYLOG=$TMP/tty.log
script -qec "'$BIN' --db '$SRC' backup --force '$TMP/tty.$EXT'" "$TTYLOG" >/dev/null 2>&1 ||
  fail "backup under a terminal failed: $(cat "$TTYLOG")"
grep -q $'\r' "$TTYLOG" || fail "no bar redrawn in place on a terminal"
grep -q '\[#' "$TTYLOG" || fail "no bar on a terminal"
grep -q 'MB/s' "$TTYLOG" || fail "no MB/s on a terminal"

if [ "$BACKEND" = pg ]; then
  echo "# plain SQL: psql DBNAME < FILE, as the seed README restores, and tokyoia restore"
  ok "$SRC" backup --sql "$TMP/backup.sql"
  head -n 1 "$TMP/backup.sql" | grep -q '^-- tokyoia backup' || fail "plain SQL header"
  PSQLDB=$(new_db psql)
  psql "$PSQLDB" -qX -v ON_ERROR_STOP=1 <"$TMP/backup.sql" >/dev/null 2>"$ERR" ||
    fail "psql could not restore the plain SQL backup"
  same "psql-restored rows" "$(digest "$PSQLDB")" "$SRC_DIGEST"
  ok "$PSQLDB" --json migrate status
  same "migrations after psql" "$(j 'all(m["applied"] and m["flags"] == "" for m in d)')" True
  SQLDB=$(new_db sqlrestore)
  ok "$SQLDB" init
  ok "$SQLDB" restore "$TMP/backup.sql"
  same "restored plain SQL" "$(digest "$SQLDB")" "$SRC_DIGEST"
  same "stats after plain SQL" "$(stats_of "$SQLDB")" "$SRC_STATS"
  refused 5 "$SQLDB" restore "$TMP/backup.sql"
fi

echo "all checks passed"
