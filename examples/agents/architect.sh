#!/bin/sh
# Kenji (kenji-005), Architecture Visionary: designs.
. "$(dirname "$0")/lib.sh"
work
case "$TASK_TYPE" in
architecture | microservices)
    result "Design: components, interfaces and data flow, with trade-offs" 3500 1500 ;;
*)
    result "Designed" 1000 500 ;;
esac
