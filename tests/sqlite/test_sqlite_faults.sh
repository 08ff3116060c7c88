#!/usr/bin/env bash
# SQLite under two faults (issue 7), through `tokyoia serve`:
#   - the database file locked by another process (an open write transaction of
#     the sqlite3 shell): writes wait out the busy timeout, then get 503 with
#     Retry-After; reads keep working; writes work again once the lock is gone;
#   - the disk full (the database on a 4 MB tmpfs; mounting one needs root, as CI
#     runs): writes get 507 insufficient_storage and write nothing; reads keep
#     working; after the filesystem grows, writes work again.
# After both, PRAGMA integrity_check passes and the counters equal a recount.
set -u

BIN=${TIA_BIN:?TIA_BIN must name the tokyoia binary}
. "${TIA_SOURCE_DIR:?TIA_SOURCE_DIR must name the source tree}/tests/support/serve.sh"
unset DATABASE_URL
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tia-litefault.XXXXXX")
MNT=$TMP/mnt
SERVER=
LOCKER=

cleanup() {
  [ -n "$LOCKER" ] && kill "$LOCKER" 2>/dev/null
  [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null
  sleep 0.2
  mountpoint -q "$MNT" && umount "$MNT"
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [ -f "$TMP/serve.err" ] && { echo "--- server stderr:" >&2; tail -n 20 "$TMP/serve.err" >&2; }
  exit 1
}

mkdir -p "$MNT"
mount -t tmpfs -o size=4m tmpfs "$MNT" || fail "cannot mount a 4 MB tmpfs (this test needs root)"
DB=$MNT/faults.db
"$BIN" --db "$DB" init >/dev/null 2>"$TMP/init.err" || fail "init: $(cat "$TMP/init.err")"
TOKEN=$(tia_token "$DB" fault-test) || exit 1
tia_serve_start "$DB"

# post DESCRIPTION_BYTES -> "status retry-after error-code"
post() {
  head -c "$1" /dev/zero | tr '\0' x >"$TMP/desc"
  printf '{"key":"t","agent_id":"hiro-003","task_type":"fault_test","description":"%s"}' \
    "$(cat "$TMP/desc")" >"$TMP/body"
  local code
  code=$(curl -s -m 30 -o "$TMP/resp" -D "$TMP/hdr" -w '%{http_code}' \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data-binary @"$TMP/body" "$URL/api/v1/tasks")
  local ra ec
  ra=$(tr -d '\r' <"$TMP/hdr" | sed -n 's/^[Rr]etry-[Aa]fter: *//p')
  ec=$(sed -n 's/.*"code":"\([a-z_]*\)".*/\1/p' "$TMP/resp")
  echo "$code ${ra:--} ${ec:--}"
}
get_ok() {
  [ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    "$URL/api/v1/agents/hiro-003")" = 200 ] || fail "a read failed: $1"
}
count() { sqlite3 "$DB" "SELECT count(*) FROM agent_tasks WHERE task_type = 'fault_test'"; }

# ---- locked by another process ----
read -r code _ _ <<<"$(post 100)"
[ "$code" = 201 ] || fail "a first write: $code"
(echo "BEGIN IMMEDIATE; UPDATE agents SET role = role WHERE id = 'kenji-005';"; sleep 8; echo "COMMIT;") |
  sqlite3 "$DB" &
LOCKER=$!
sleep 0.5
before=$(count)
get_ok "while another process holds the write lock"
read -r code ra ec <<<"$(post 100)"
[ "$code" = 503 ] || fail "a write while the database is locked: $code, want 503"
[ "$ra" != - ] || fail "503 without Retry-After"
[ "$ec" = unavailable ] || fail "error code $ec, want unavailable"
[ "$(count)" = "$before" ] || fail "the refused write wrote something"
wait "$LOCKER"
LOCKER=
read -r code _ _ <<<"$(post 100)"
[ "$code" = 201 ] || fail "a write after the lock was released: $code"

# ---- disk full ----
full=
for i in $(seq 60); do
  read -r code ra ec <<<"$(post 200000)"
  case $code in
    201) ;;
    507) full=$i; break ;;
    *) fail "write $i on a filling disk: $code ($ec)" ;;
  esac
done
[ -n "$full" ] || fail "the 4 MB disk never filled"
[ "$ec" = insufficient_storage ] || fail "error code $ec, want insufficient_storage"
n_full=$(count)
get_ok "with the disk full"
read -r code _ ec <<<"$(post 200000)"
[ "$code" = 507 ] || fail "a second write on the full disk: $code"
[ "$(count)" = "$n_full" ] || fail "a refused write on the full disk wrote something"
mount -o remount,size=64m "$MNT" || fail "cannot grow the tmpfs"
read -r code _ _ <<<"$(post 200000)"
[ "$code" = 201 ] || fail "a write after the disk grew: $code"

tia_serve_stop
[ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check failed"
sql() { sqlite3 "$DB" "$1"; }
bad=$(tia_counters_off sql)
[ "$bad" = 0 ] || fail "counters differ from a recount"
echo "ok: locked: 503 with Retry-After, nothing written; full after $((full - 1)) writes of 200 KB:" \
  "507, nothing written, reads served; both recovered; integrity_check ok"
