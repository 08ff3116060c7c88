#!/usr/bin/env bash
# Backup and restore throughput (MB/s of the backup file) on a generated database:
#   bench/bench_backup.sh BUILD_DIR
# For each backend: a new database loaded with `tokyoia generate`, then `tokyoia
# backup` (PostgreSQL: custom format, then --sql too) and `tokyoia restore` into a
# new empty database, each timed by tokyoia itself (--json: bytes of the file /
# seconds of the whole operation). PostgreSQL runs on a throwaway durable cluster
# (scripts/pg-test-cluster.sh with TIA_PG_DURABLE=1), SQLite on files in a
# temporary directory (WAL, synchronous=FULL, as the library opens them); each file
# is restored and its row count checked against the source. Everything it makes is
# removed at the end, also on failure or Ctrl-C. Prints one line per measurement (the
# file's MB/s, and the database's size over the same seconds, since pg_dump's custom
# format is compressed) and writes them to BUILD_DIR/bench/results-backup.txt.
# Environment:
#   TIA_BENCH_TASKS    tasks to generate (default 1000000)
#   TIA_BENCH_METRICS  metric points to generate (default 3000000)
#   TIA_BENCH_ONLY     "postgresql" or "sqlite" to run one backend
set -euo pipefail

build=${1:?usage: bench/bench_backup.sh BUILD_DIR}
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
tasks=${TIA_BENCH_TASKS:-1000000}
metrics=${TIA_BENCH_METRICS:-3000000}
only=${TIA_BENCH_ONLY:-}
bin=$build/tokyoia
[ -x "$bin" ] || { echo "bench_backup.sh: $bin is missing: build first" >&2; exit 1; }
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3

work=$(mktemp -d "${TMPDIR:-/tmp}/tia-bench-backup.XXXXXX")
state=$work/pg.state
cleanup() {
  "$src/scripts/pg-test-cluster.sh" stop "$state" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$build/bench"
results=$build/bench/results-backup.txt
: > "$results"
psql_bin=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2> /dev/null | sort -V | tail -n 1)

# db_bytes BACKEND DB: the size of the database itself.
db_bytes() {
  if [ "$1" = postgresql ]; then
    "$psql_bin" "$2" -qXtA -c "SELECT pg_database_size(current_database())"
  else
    stat -c %s "$2"
  fi
}

# measure BACKEND WHAT DB DBSIZE ARGS...: runs tokyoia --json ARGS on DB and records
# the file's MB/s (what tokyoia prints) and the database's MB per second of it.
measure() {
  local backend=$1 what=$2 db=$3 size=$4
  shift 4
  "$bin" --db "$db" --json "$@" 2> "$work/progress.txt" > "$work/result.json"
  local line
  line=$("$py" -c 'import json,sys
d = json.load(open(sys.argv[1])); db = int(sys.argv[4]) / 1e6
print("%-10s %-18s file %8.1f MB %7.2f s %7.1f MB/s | database %8.1f MB %7.1f MB/s" % (
      sys.argv[2], sys.argv[3], d["bytes"] / 1e6, d["seconds"], d["mb_per_s"], db,
      db / d["seconds"]))' "$work/result.json" "$backend" "$what" "$size")
  echo "$line" | tee -a "$results"
}

count_tasks() {
  if [ "$1" = postgresql ]; then
    "$psql_bin" "$2" -qXtA -c "SELECT count(*) FROM agent_tasks"
  else
    sqlite3 "$2" "SELECT count(*) FROM agent_tasks"
  fi
}

# run BACKEND SOURCE_URL NEW_URL_FN: generate, back up, restore, check.
run() {
  local backend=$1 srcdb=$2
  echo "== $backend: generate $tasks tasks and $metrics metrics"
  "$bin" --db "$srcdb" init > /dev/null
  "$bin" --db "$srcdb" generate --tasks "$tasks" --metrics "$metrics" 2> /dev/null | head -n 1
  local want size
  want=$(count_tasks "$backend" "$srcdb")
  size=$(db_bytes "$backend" "$srcdb")
  local formats=(default)
  [ "$backend" = postgresql ] && formats+=(sql)
  for f in "${formats[@]}"; do
    local file=$work/backup-$backend-$f flag=()
    [ "$f" = sql ] && flag=(--sql)
    measure "$backend" "backup ($f)" "$srcdb" "$size" backup "${flag[@]}" "$file"
    local dst
    dst=$(new_db "$backend" "restore_$f")
    measure "$backend" "restore ($f)" "$dst" "$size" restore "$file"
    local got
    got=$(count_tasks "$backend" "$dst")
    [ "$got" = "$want" ] || { echo "restored $got tasks, want $want" >&2; exit 1; }
    drop_db "$backend" "$dst"
    rm -f "$file"
  done
}

new_db() {
  if [ "$1" = postgresql ]; then
    "$psql_bin" "$admin" -qX -c "CREATE DATABASE tokyoia_$2"
    echo "${admin/dbname=postgres/dbname=tokyoia_$2}"
  else
    echo "$work/$2.db"
  fi
}

drop_db() {
  if [ "$1" = postgresql ]; then
    "$psql_bin" "$admin" -qX -c "DROP DATABASE IF EXISTS ${2##*dbname=}"
  else
    rm -f "$2" "$2-wal" "$2-shm"
  fi
}

echo "bench_backup.sh: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), in $work"
echo "# $tasks tasks, $metrics metrics; MB = 10^6 bytes; file MB/s is what tokyoia prints" >> "$results"
if [ "$only" != sqlite ]; then
  TIA_PG_DURABLE=1 TIA_PG_EXTRA_OPTS="-c max_wal_size=4GB" \
    "$src/scripts/pg-test-cluster.sh" start "$state"
  admin=$(cat "$state")
  "$psql_bin" "$admin" -qX -c "CREATE DATABASE tokyoia_src"
  run postgresql "${admin/dbname=postgres/dbname=tokyoia_src}"
  "$src/scripts/pg-test-cluster.sh" stop "$state"
fi
if [ "$only" != postgresql ]; then
  run sqlite "$work/src.db"
fi
echo "== results in $results"
