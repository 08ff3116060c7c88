# Shared by the example agent workers (sourced, not run). A command worker reads
# the task as one JSON document on stdin and gets its fields in the environment
# (TIA_TASK_ID, TIA_AGENT_ID, TIA_WORKFLOW_ID, TIA_TASK_TYPE, TIA_ATTEMPT); it
# prints its result as one JSON document on stdout and exits 0. A non-zero exit
# is a failure that the engine retries; what it said on stderr becomes the
# task's error_message.
#
# Knobs for trying things out:
#   TIA_EXAMPLE_DELAY  seconds each task "works" (default 0.3; 0 for none)
#   TIA_EXAMPLE_FAIL   a task type that fails (exit 1) on its first attempt

# The task JSON, read once; its size stands in for the prompt's.
TASK_JSON=$(cat)
TASK_BYTES=$(printf '%s' "$TASK_JSON" | wc -c | tr -d ' ')
# Identifiers go into JSON below: keep only characters that need no escaping.
TASK_TYPE=$(printf '%s' "${TIA_TASK_TYPE:-unknown}" | tr -cd 'A-Za-z0-9_.-')
AGENT=$(printf '%s' "${TIA_AGENT_ID:-unknown}" | tr -cd 'A-Za-z0-9_.-')

# work: pretend to think for a while, or fail on request.
work() {
    if [ -n "${TIA_EXAMPLE_FAIL:-}" ] && [ "$TIA_EXAMPLE_FAIL" = "$TASK_TYPE" ] &&
        [ "${TIA_ATTEMPT:-1}" = 1 ]; then
        echo "$AGENT: $TASK_TYPE failed on attempt 1 (TIA_EXAMPLE_FAIL); a retry will pass" >&2
        exit 1
    fi
    delay=${TIA_EXAMPLE_DELAY:-0.3}
    [ "$delay" = 0 ] || sleep "$delay" 2>/dev/null || sleep 1
}

# result SUMMARY INPUT_TOKENS OUTPUT_TOKENS [FINDINGS_JSON_ARRAY]: prints the result.
# SUMMARY must be plain text without quotes or backslashes.
result() {
    printf '{"agent": "%s", "task_type": "%s", "summary": "%s", "findings": %s, ' \
        "$AGENT" "$TASK_TYPE" "$1" "${4:-[]}"
    printf '"input_bytes": %s, "input_tokens": %s, "output_tokens": %s, "tokens_used": %s}\n' \
        "$TASK_BYTES" "$2" "$3" "$(($2 + $3))"
}
