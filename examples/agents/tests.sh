#!/bin/sh
# Yuki (yuki-002), Test Engineering Specialist: tests and test plans.
. "$(dirname "$0")/lib.sh"
work
case "$TASK_TYPE" in
unit_tests)
    result "42 unit tests written for the reviewed paths; all pass" 3400 1700 \
        '["lease expiry", "retry backoff", "late completion refused"]' ;;
test_planning | testing)
    result "Test plan: unit, integration and end-to-end suites" 2400 1100 ;;
*)
    result "Tested" 1000 500 ;;
esac
