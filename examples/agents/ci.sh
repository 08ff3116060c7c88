#!/bin/sh
# Hiro (hiro-003), SRE & DevOps Guardian: pipelines and infrastructure.
. "$(dirname "$0")/lib.sh"
work
case "$TASK_TYPE" in
ci_cd)
    result "Pipeline green: build, tests on both backends, sanitizers" 1700 600 \
        '["merge gated on the new tests"]' ;;
kubernetes | monitoring | infrastructure)
    result "Manifests and alerts updated" 1500 700 ;;
*)
    result "Deployed" 1000 500 ;;
esac
