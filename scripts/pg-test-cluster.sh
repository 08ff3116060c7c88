#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster for the tests.
#   scripts/pg-test-cluster.sh start STATE_FILE   -> writes the libpq conninfo to STATE_FILE
#   scripts/pg-test-cluster.sh stop STATE_FILE    -> stops the cluster and removes its directory
#   scripts/pg-test-cluster.sh down STATE_FILE fast|immediate -> stops the server, keeps its data
#   scripts/pg-test-cluster.sh up STATE_FILE      -> starts it again with the same options
# The cluster lives in a new directory under ${TMPDIR:-/tmp}, listens on a Unix socket in
# that directory only (no TCP port to collide with), and trusts local connections. initdb
# refuses to run as root, so as root the server runs as the `postgres` user that Debian's
# postgresql package creates. Exits non-zero, with the server log, when it cannot start.
# Environment: TIA_PG_DURABLE=1 keeps the durable defaults (fsync, synchronous_commit,
# full_page_writes); TIA_PG_EXTRA_OPTS adds server options ("-c work_mem=64MB").
set -euo pipefail

cmd=${1:?usage: pg-test-cluster.sh start|stop STATE_FILE}
state=${2:?usage: pg-test-cluster.sh start|stop STATE_FILE}

bindir=${TIA_PG_BINDIR:-}
if [ -z "$bindir" ]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "pg-test-cluster: no PostgreSQL server binaries found (install package postgresql)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
start)
  if [ -f "$state.dir" ] && [ -d "$(cat "$state.dir")" ]; then
    "$0" stop "$state" || true
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/tia-pg.XXXXXX")
  chmod 700 "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$dir"
  fi
  echo "$dir" > "$state.dir"
  if ! as_owner "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
      > "$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    echo "pg-test-cluster: initdb failed" >&2
    exit 1
  fi
  opts="-c listen_addresses='' -k $dir -p 5432"
  # TIA_PG_DURABLE=1 (the benchmarks) keeps fsync, synchronous_commit and
  # full_page_writes at their durable defaults; tests trade them for speed.
  if [ "${TIA_PG_DURABLE:-0}" != 1 ]; then
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  opts="$opts -c max_connections=200 -c shared_buffers=256MB ${TIA_PG_EXTRA_OPTS:-}"
  echo "$opts" > "$dir/opts"
  if ! as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w -t 60 start \
      > "$dir/pg_ctl.log" 2>&1; then
    cat "$dir/pg_ctl.log" "$dir/server.log" >&2 || true
    echo "pg-test-cluster: the server did not start" >&2
    exit 1
  fi
  echo "host=$dir port=5432 user=postgres dbname=postgres" > "$state"
  echo "pg-test-cluster: started in $dir"
  ;;
stop)
  if [ -f "$state.dir" ]; then
    dir=$(cat "$state.dir")
    if [ -d "$dir/data" ]; then
      as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop > /dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    rm -f "$state.dir" "$state"
  fi
  ;;
down)
  # The fault tests: a fast or immediate shutdown, the data kept for `up`.
  mode=${3:-fast}
  dir=$(cat "$state.dir")
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m "$mode" -w stop > /dev/null
  ;;
up)
  dir=$(cat "$state.dir")
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$(cat "$dir/opts")" -w -t 60 \
    start > "$dir/pg_ctl.log" 2>&1 || { cat "$dir/pg_ctl.log" >&2; exit 1; }
  ;;
*)
  echo "usage: pg-test-cluster.sh start|stop|down|up STATE_FILE" >&2
  exit 2
  ;;
esac
