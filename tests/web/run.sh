#!/usr/bin/env bash
# Browser tests of the dashboard on the backend named by TIA_TEST_BACKEND (sqlite:
# a file in a temporary directory; pg: a new database in the cluster whose admin
# conninfo is in $TIA_TEST_PG_STATE, dropped at the end). Installs playwright-core
# (pinned) into $TIA_BUILD_DIR/webtest when it is not there, starts `tokyoia
# serve` on a free loopback port with a daily budget, creates a session token,
# runs tests/web/dashboard.test.mjs in Debian's headless Chromium, and stops the
# server. Screenshots go to $TIA_BUILD_DIR/web-screenshots/.
set -u

BIN=${TIA_BIN:?TIA_BIN must name the tokyoia binary}
SRC=${TIA_SOURCE_DIR:?TIA_SOURCE_DIR must name the source tree}
BUILD=${TIA_BUILD_DIR:?TIA_BUILD_DIR must name the build directory}
BACKEND=${TIA_TEST_BACKEND:-sqlite}
PLAYWRIGHT_VERSION=1.65.1
CHROMIUM=${TIA_CHROMIUM:-/usr/bin/chromium}
unset DATABASE_URL

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tia-web.XXXXXX")
PGNAME=
ADMIN=
SERVER=

cleanup() {
  if [ -n "$SERVER" ]; then
    kill -TERM "$SERVER" 2>/dev/null
    wait "$SERVER" 2>/dev/null
  fi
  if [ -n "$PGNAME" ]; then
    psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS $PGNAME WITH (FORCE)" >/dev/null 2>&1
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [ -f "$TMP/serve.err" ] && { echo "--- server stderr:" >&2; tail -n 30 "$TMP/serve.err" >&2; }
  exit 1
}

command -v node >/dev/null || fail "node is missing (scripts/deps.sh installs nodejs)"
[ -x "$CHROMIUM" ] || fail "$CHROMIUM is missing (scripts/deps.sh installs chromium)"

# playwright-core, at one exact version, installed once per build directory.
PW=$BUILD/webtest
if [ "$(node -p "try{require('$PW/node_modules/playwright-core/package.json').version}catch(e){''}" 2>/dev/null)" != "$PLAYWRIGHT_VERSION" ]; then
  mkdir -p "$PW"
  # Two tests (sqlite, pg) may get here at once: one installs, the other waits.
  (
    flock 9
    if [ "$(node -p "try{require('$PW/node_modules/playwright-core/package.json').version}catch(e){''}" 2>/dev/null)" != "$PLAYWRIGHT_VERSION" ]; then
      npm install --prefix "$PW" --no-audit --no-fund --no-save --save-exact \
        "playwright-core@$PLAYWRIGHT_VERSION" >"$TMP/npm.log" 2>&1 ||
        { cat "$TMP/npm.log" >&2; exit 1; }
    fi
  ) 9>"$PW/.lock" || fail "cannot install playwright-core@$PLAYWRIGHT_VERSION from the npm registry"
fi

# A new empty database.
if [ "$BACKEND" = pg ]; then
  ADMIN=$(cat "${TIA_TEST_PG_STATE:?TIA_TEST_PG_STATE must name the cluster state file}")
  PGNAME=tia_web_$$_$RANDOM
  psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PGNAME" >/dev/null ||
    fail "cannot create database $PGNAME"
  DB=$(printf '%s' "$ADMIN" | sed "s/dbname=[^ ]*/dbname=$PGNAME/")
else
  DB=$TMP/web.db
fi
"$BIN" --db "$DB" init >/dev/null 2>"$TMP/init.err" || { cat "$TMP/init.err" >&2; fail "tokyoia init"; }
TOKEN=$("$BIN" --db "$DB" --json sessions create --user web-test --ttl 2h 2>"$TMP/token.err" |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=s.match(/tia_[A-Za-z0-9_-]+/);console.log(m?m[0]:"")})')
[ -n "$TOKEN" ] || { cat "$TMP/token.err" >&2; fail "tokyoia sessions create gave no token"; }

# The server, on a port the kernel picks; it prints the URL once it listens.
BUDGET=0.01
"$BIN" --db "$DB" serve --listen 127.0.0.1:0 --daily-budget "$BUDGET" --access-log off \
  >"$TMP/serve.out" 2>"$TMP/serve.err" &
SERVER=$!
URL=
for _ in $(seq 1 100); do
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$TMP/serve.out" 2>/dev/null | head -n 1)
  [ -n "$URL" ] && break
  kill -0 "$SERVER" 2>/dev/null || fail "the server exited at start"
  sleep 0.1
done
[ -n "$URL" ] || fail "the server did not start listening within 10 s"

mkdir -p "$BUILD/web-screenshots"
TIA_WEB_URL=$URL TIA_WEB_TOKEN=$TOKEN TIA_WEB_DB=$DB TIA_WEB_BACKEND=$BACKEND \
TIA_WEB_BUDGET=$BUDGET TIA_WEB_SHOTS=$BUILD/web-screenshots TIA_WEB_PLAYWRIGHT=$PW \
TIA_CHROMIUM=$CHROMIUM \
  node --test --test-concurrency=1 "$SRC/tests/web/dashboard.test.mjs"
rc=$?
[ $rc = 0 ] || fail "the browser tests failed (exit $rc)"
kill -0 "$SERVER" 2>/dev/null || fail "the server died during the tests"
# A graceful stop must exit 0 (under ASan, a leak or an error makes it non-zero).
kill -TERM "$SERVER"
wait "$SERVER"
src=$?
SERVER=
[ $src = 0 ] || fail "the server exited $src on SIGTERM"
echo "web_dashboard_$BACKEND: the server stopped cleanly; screenshots in $BUILD/web-screenshots"
