#!/usr/bin/env bash
# Runs the libFuzzer targets of fuzz/ (built by `make fuzz` with clang, ASan and
# UBSan) for SECONDS each, JOBS at a time, on their committed seeds, and prints
# the executions of each. New corpus entries and crash inputs go to the build
# directory (BUILD/fuzz-runs/<target>/), never into the repository. Fails when a
# target crashes, leaks, trips a sanitizer or breaks one of its invariants; the
# input that did it is printed with the target's own message.
#
#   scripts/fuzz.sh BUILD SECONDS [JOBS] [TARGET...]    (targets: api url cursor ...)
set -euo pipefail

build=${1:?usage: scripts/fuzz.sh BUILD SECONDS [JOBS] [TARGET...]}
seconds=${2:?usage: scripts/fuzz.sh BUILD SECONDS [JOBS] [TARGET...]}
jobs=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(api url cursor time template args cli)

# The dictionary of each target (fuzz/<dict>.dict).
declare -A dict=([api]=api [url]=api [cli]=cli [args]=cli [template]=template [time]=time
                 [cursor]=time)

# Scratch files of the targets (their SQLite databases, template files): on
# /dev/shm when there is one, removed even when a target dies.
shm=/tmp
[ -w /dev/shm ] && shm=/dev/shm
export TIA_FUZZ_TMP
TIA_FUZZ_TMP=$(mktemp -d "$shm/tia-fuzz-run.XXXXXX")
trap 'rm -rf "$TIA_FUZZ_TMP"' EXIT

run_one() {
    local t=$1 out=$build/fuzz-runs/$1
    local exe=$build/fuzz/fuzz_$t
    mkdir -p "$out/corpus" "$out/artifacts"
    rm -f "$out/artifacts"/*
    local d=()
    [ -n "${dict[$t]:-}" ] && d=(-dict="$src/fuzz/${dict[$t]}.dict")
    # The first directory receives new entries; the committed seeds are only read.
    # -close_fd_mask=3: the targets' own output (tables, usage lines) is noise here;
    # libFuzzer and the sanitizers still report on a copy of stderr.
    local rc=0
    mkdir -p "$TIA_FUZZ_TMP/$t"
    TIA_FUZZ_TMP=$TIA_FUZZ_TMP/$t "$exe" -max_total_time="$seconds" -timeout=30 \
        -rss_limit_mb=2048 -close_fd_mask=3 -print_final_stats=1 "${d[@]}" \
        -artifact_prefix="$out/artifacts/" "$out/corpus" "$src/fuzz/corpus/$t" \
        > "$out/log" 2>&1 || rc=$?
    local runs
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 \2/p' "$out/log" | tail -1)
    local n=${runs% *} s=${runs#* }
    local corpus
    corpus=$(ls "$out/corpus" | wc -l)
    if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
        printf 'fuzz_%-9s %10s executions in %4s s (%6s/s), %5s corpus entries found so far: ok\n' \
            "$t" "$n" "$s" "$(( s > 0 ? n / s : n ))" "$corpus"
        return 0
    fi
    printf 'fuzz_%-9s FAILED (exit %s); log: %s\n' "$t" "$rc" "$out/log"
    grep -E 'ERROR|SUMMARY|runtime error|invariant|Test unit written' "$out/log" | head -20 | sed 's/^/    /'
    for a in "$out/artifacts"/*; do
        [ -e "$a" ] || continue
        echo "    input $a; replayed with its output:"
        TIA_FUZZ_TMP=$TIA_FUZZ_TMP/$t "$exe" "$a" 2>&1 | grep -E 'invariant|ERROR|runtime error' | head -5 \
            | sed 's/^/      /' || true
    done
    return 1
}
export -f run_one
export build src seconds
export DICT_SPEC
DICT_SPEC=$(declare -p dict)

echo "fuzzing ${targets[*]} for $seconds s each, $jobs at a time"
status=0
printf '%s\n' "${targets[@]}" |
    xargs -P "$jobs" -I{} bash -c 'eval "$DICT_SPEC"; run_one "$1"' _ {} || status=1
exit $status
