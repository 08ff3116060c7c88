# Shell helpers for tests that run `tokyoia serve` as a process (sourced, not run):
# the fault tests of tests/cli, tests/pg and tests/sqlite. Each function fails the
# test through the caller's `fail` function. Expects $BIN (the tokyoia binary) and
# $TMP (the test's temporary directory); sets $SERVER, $PORT and $URL.

# Starts `tokyoia serve` on a free loopback port over $1, with any further options;
# returns once it listens.
tia_serve_start() {
  local db=$1
  shift
  # Removed here, not only truncated by the redirection below: that runs in the
  # background child, and until it does, the loop below could read the port of
  # the server started before this one.
  rm -f "$TMP/serve.out" "$TMP/serve.err"
  "$BIN" --db "$db" serve --listen 127.0.0.1:0 --access-log off "$@" \
    >"$TMP/serve.out" 2>"$TMP/serve.err" &
  SERVER=$!
  PORT=
  for _ in $(seq 200); do
    PORT=$(sed -n 's/.*serving http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/serve.out")
    [ -n "$PORT" ] && break
    sleep 0.05
  done
  [ -n "$PORT" ] || fail "the server did not start"
  URL=http://127.0.0.1:$PORT
}

# SIGTERM to the server; fails unless it exits 0 (a graceful shutdown).
tia_serve_stop() {
  kill -TERM "$SERVER"
  wait "$SERVER" || fail "the server did not exit 0 on SIGTERM"
  SERVER=
}

# Prints a new session token of user $2 on database $1.
tia_token() {
  local t
  t=$("$BIN" --db "$1" --json sessions create --user "$2" --ttl 2h |
    sed -n 's/.*"token": *"\(tia_[0-9a-f]*\)".*/\1/p')
  [ -n "$t" ] || fail "tokyoia sessions create gave no token"
  echo "$t"
}

# The number of agents whose pending count differs from a recount of agent_tasks;
# $1 runs SQL (the test's own sql function).
tia_counters_off() {
  "$1" "SELECT count(*) FROM agent_task_totals t WHERE
    t.pending <> (SELECT count(*) FROM agent_tasks a WHERE a.agent_id = t.agent_id AND a.status = 'pending')
    OR t.running <> (SELECT count(*) FROM agent_tasks a WHERE a.agent_id = t.agent_id AND a.status = 'running')
    OR t.completed <> (SELECT count(*) FROM agent_tasks a WHERE a.agent_id = t.agent_id AND a.status = 'completed')
    OR t.tokens <> (SELECT coalesce(sum(tokens_used), 0) FROM agent_tasks a WHERE a.agent_id = t.agent_id)"
}
