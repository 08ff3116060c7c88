#!/usr/bin/env bash
# PostgreSQL restarted under load (issue 7): a fast shutdown, then an immediate
# one (a crash: recovery from the WAL), each leaving the database away for 2 s,
# while clients submit tasks with idempotency keys over HTTP and retry what got
# no 2xx. The cluster is this test's own, durable (fsync and synchronous_commit
# on), so that an immediate shutdown loses nothing committed. Checks:
#   - while the database is away the server answers 503 with Retry-After;
#   - it reconnects by itself: /health is 200 within 5 s of the database's return;
#   - every acknowledged submission is in the database, one task per key, and
#     the counters equal a recount.
set -u

BIN=${TIA_BIN:?TIA_BIN must name the tokyoia binary}
SRC=${TIA_SOURCE_DIR:?TIA_SOURCE_DIR must name the source tree}
. "$SRC/tests/support/serve.sh"
unset DATABASE_URL
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tia-pgrestart.XXXXXX")
STATE=$TMP/pg.state
SERVER=
LOADERS=()

cleanup() {
  for p in "${LOADERS[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null
  "$SRC/scripts/pg-test-cluster.sh" stop "$STATE" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [ -f "$TMP/serve.err" ] && { echo "--- server stderr:" >&2; tail -n 20 "$TMP/serve.err" >&2; }
  exit 1
}

now_ms() { date +%s%3N; }

TIA_PG_DURABLE=1 "$SRC/scripts/pg-test-cluster.sh" start "$STATE" >/dev/null ||
  fail "cannot start a PostgreSQL cluster"
ADMIN=$(cat "$STATE")
psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE restart_test" >/dev/null ||
  fail "cannot create the database"
DB=$(printf '%s' "$ADMIN" | sed "s/dbname=[^ ]*/dbname=restart_test/")
sql() { psql "$DB" -qXtA -v ON_ERROR_STOP=1 -c "$1"; }

"$BIN" --db "$DB" init >/dev/null 2>"$TMP/init.err" || fail "init: $(cat "$TMP/init.err")"
TOKEN=$(tia_token "$DB" restart-test) || exit 1
tia_serve_start "$DB" --db-wait 1s

# A client: keys c<n>-<i>, each retried (after Retry-After, or 0.2 s) until a 2xx;
# every attempt logged as "key status retry-after".
client() {
  local n=$1 i=0 code
  while [ ! -f "$TMP/stop" ]; do
    i=$((i + 1))
    while :; do
      code=$(curl -s -m 5 -o /dev/null -D "$TMP/h.$n" -w '%{http_code}' \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -H "Idempotency-Key: c$n-$i" \
        -d '{"key":"t","agent_id":"yuki-002","task_type":"restart_test","description":"load"}' \
        "$URL/api/v1/tasks")
      ra=$(tr -d '\r' <"$TMP/h.$n" | sed -n 's/^[Rr]etry-[Aa]fter: *//p')
      echo "c$n-$i $code ${ra:--}" >>"$TMP/log.$n"
      case $code in 2*) break ;; esac
      [ -f "$TMP/stop" ] && break
      sleep 0.2
    done
  done
}

for n in 1 2; do
  : >"$TMP/log.$n"
  client "$n" &
  LOADERS+=($!)
done

outage() { # MODE: database away for 2 s; prints the ms /health took to be 200 after it came back
  sleep 1.5
  "$SRC/scripts/pg-test-cluster.sh" down "$STATE" "$1" || fail "pg_ctl stop -m $1"
  sleep 0.5
  local h
  h=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$URL/health")
  [ "$h" = 503 ] || fail "/health answered $h while the database was down ($1)"
  sleep 1.5
  "$SRC/scripts/pg-test-cluster.sh" up "$STATE" || fail "the database did not come back"
  local t0 t1
  t0=$(now_ms)
  while :; do
    h=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$URL/health")
    [ "$h" = 200 ] && break
    [ $(($(now_ms) - t0)) -gt 5000 ] && fail "/health not 200 within 5 s of the database ($1): $h"
    sleep 0.05
  done
  t1=$(now_ms)
  echo $((t1 - t0))
}

fast_ms=$(outage fast) || exit 1
immediate_ms=$(outage immediate) || exit 1
sleep 1
touch "$TMP/stop"
for p in "${LOADERS[@]}"; do wait "$p" 2>/dev/null; done
LOADERS=()

cat "$TMP"/log.* >"$TMP/log"
n503=$(awk '$2 == 503' "$TMP/log" | wc -l)
[ "$n503" -gt 0 ] || fail "no request was answered 503 during the outages"
no_ra=$(awk '$2 == 503 && $3 == "-"' "$TMP/log" | wc -l)
[ "$no_ra" = 0 ] || fail "$no_ra 503 answer(s) without Retry-After"
other=$(awk '$2 !~ /^2/ && $2 != 503 && $2 != "000"' "$TMP/log" | cut -d' ' -f2 | sort | uniq -c | tr '\n' ' ')
[ -z "$other" ] || fail "unexpected statuses during the outages: $other"

# Every acknowledged key has exactly one task; nothing half-written.
awk '$2 ~ /^2/ {print $1}' "$TMP/log" | sort -u >"$TMP/acked"
sql "SELECT idempotency_key FROM agent_tasks WHERE task_type = 'restart_test'" | sort >"$TMP/in_db"
missing=$(comm -23 "$TMP/acked" "$TMP/in_db" | wc -l)
[ "$missing" = 0 ] || fail "$missing acknowledged submission(s) lost"
dups=$(sql "SELECT count(*) - count(DISTINCT idempotency_key) FROM agent_tasks WHERE task_type = 'restart_test'")
[ "$dups" = 0 ] || fail "$dups duplicate task(s) after retries"
bad=$(tia_counters_off sql)
[ "$bad" = 0 ] || fail "counters differ from a recount"

tia_serve_stop
echo "ok: healthy ${fast_ms} ms after a fast restart and ${immediate_ms} ms after an" \
  "immediate one; $n503 requests answered 503 with Retry-After;" \
  "$(wc -l <"$TMP/acked") acknowledged submissions all found, no duplicate"
