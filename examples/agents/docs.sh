#!/bin/sh
# Sakura (sakura-004), Documentation Specialist: docs and specifications.
. "$(dirname "$0")/lib.sh"
work
case "$TASK_TYPE" in
documentation)
    result "API and review findings documented" 1900 900 ;;
specification | architecture_docs)
    result "Specification written from the design and the test plan" 2000 1000 ;;
*)
    result "Documented" 1000 500 ;;
esac
