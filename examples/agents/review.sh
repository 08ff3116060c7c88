#!/bin/sh
# Akira (akira-001), Code Review Master: security audits and code reviews.
. "$(dirname "$0")/lib.sh"
work
case "$TASK_TYPE" in
security_audit)
    result "No injection or secret leak found; session tokens are hashed at rest" 3000 1200 \
        '["parameterised SQL everywhere", "tokens compared in constant time"]' ;;
code_review)
    result "Claim path reviewed: leases fenced by attempt, one transaction per write" 2600 1000 \
        '["consider batching completions under load"]' ;;
*)
    result "Reviewed" 1000 500 ;;
esac
