#!/usr/bin/env bash
# Runs the store, engine and server tests (tests/db and tests/api executables of a
# normal, non-sanitized build) under valgrind's memcheck, JOBS at a time, on SQLite
# (and on PostgreSQL too with TIA_VALGRIND_PG=1, in a throwaway cluster):
# a definite leak, an invalid read or write, or a use of uninitialised memory fails
# the run (exit 99 from valgrind), as does a failing test. Logs go to
# BUILD/valgrind/<test>[-pg].log. See docs/reliability.md, "Memory checks", for the
# choice of tests and the time it takes.
#
#   scripts/valgrind-tests.sh BUILD [JOBS] [TEST...]
set -euo pipefail

build=${1:?usage: scripts/valgrind-tests.sh BUILD [JOBS] [TEST...]}
jobs=${2:-2}
shift $(( $# < 2 ? $# : 2 ))
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)

# Every tests/db and tests/api executable but these:
#   test_engine_contention  runs itself again as worker processes through
#                           /proc/self/exe, which under valgrind is valgrind's own
#                           binary; the workers' code is what the other engine
#                           tests run in one process.
#   test_bulk, test_backup  load and copy tens of thousands of rows: 4 to 5 minutes
#                           each under valgrind for code (bulk loading, backup)
#                           that the ASan run of `make test` covers as well.
#   test_wakeup             asserts that a wake-up comes within 1 s: a promise about
#                           latency, which valgrind's 20-50x slowdown breaks (1.3 s
#                           measured); the waiter's code runs in the engine tests.
#   test_schema             tests the database's own CHECKs; under valgrind SQLite's
#                           floating point runs without x87 long doubles and finds
#                           'Infinity' BETWEEN -1.79e308 AND 1.79e308 true (check:
#                           `valgrind sqlite3` on that SELECT), a false failure.
# test_migrate, test_rollups and test_archive race writers for SQLite's write lock:
# valgrind runs one thread at a time, so a transaction can outlast the default 5 s
# busy timeout; the tests' stores get 120 s here (TIA_TEST_BUSY_TIMEOUT_MS).
skip=(test_engine_contention test_bulk test_backup test_wakeup test_schema)
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    for f in "$src"/tests/db/test_*.c "$src"/tests/api/test_*.c; do
        t=$(basename "$f" .c)
        [[ " ${skip[*]} " == *" $t "* ]] || tests+=("$t")
    done
fi

mkdir -p "$build/valgrind"
export TIA_SOURCE_DIR=$src TIA_BIN=$build/tokyoia TIA_PG_BINDIR_HINT=/usr/lib/postgresql
export TIA_TEST_BUSY_TIMEOUT_MS=120000
# test_api_limits submits a workflow of 10,000 tasks: minutes under valgrind.
export TIA_TEST_HTTP_TIMEOUT_S=900
runs=()
for t in "${tests[@]}"; do runs+=("$t sqlite"); done
if [ "${TIA_VALGRIND_PG:-0}" = 1 ]; then
    # PostgreSQL's own work is not under valgrind: these runs cost little CPU.
    export TIA_TEST_PG_STATE=$build/valgrind/pg.state
    "$src/scripts/pg-test-cluster.sh" start "$TIA_TEST_PG_STATE" > "$build/valgrind/pg.log" 2>&1
    trap '"$src/scripts/pg-test-cluster.sh" stop "$TIA_TEST_PG_STATE" >> "$build/valgrind/pg.log" 2>&1' EXIT
    for t in "${tests[@]}"; do runs+=("$t pg"); done
fi
export VG_OPTS="--leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
    --trace-children=no --num-callers=30 --suppressions=$src/scripts/valgrind.supp"
export build

run_one() {
    local t=$1 backend=$2 log=$build/valgrind/$1.log rc=0 took name=$1
    [ "$backend" = pg ] && log=$build/valgrind/$1-pg.log name=$1-pg
    # Wall-clock and CPU seconds: on a shared machine the CPU time is the steadier figure.
    # shellcheck disable=SC2086
    TIA_TEST_BACKEND=$backend /usr/bin/time -f '%e s wall, %U+%S s CPU' -o "$log.time" \
        valgrind $VG_OPTS "$build/tests/$t" > "$log" 2>&1 || rc=$?
    took=$(tail -1 "$log.time")
    if [ "$rc" -eq 0 ]; then
        printf 'valgrind %-26s ok    %s\n' "$name" "$took"
        return 0
    fi
    printf 'valgrind %-26s FAILED (exit %d%s), %s; log: %s\n' "$name" "$rc" \
        "$([ "$rc" -eq 99 ] && echo ': memory errors')" "$took" "$log"
    grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Mismatched|.*definitely lost)|FAILED|\[  ERROR' \
        "$log" | head -10 | sed 's/^/    /'
    return 1
}
export -f run_one

echo "valgrind memcheck on ${#runs[@]} test runs, $jobs at a time"
start=$(date +%s)
status=0
printf '%s\n' "${runs[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one $1' _ {} || status=1
echo "valgrind: $(( $(date +%s) - start )) s in all"
exit $status
