#!/bin/sh
# Long fuzz budget (issue #10): scripts/fuzz/run.sh TARGET [N] [run.py options]
#   TARGET: parser | rules | scap | decoder | config   (N defaults to 1,000,000)
# Needs atheris: pip install -e '.[fuzz]'.  Runs at the lowest CPU priority;
# crashing or hanging inputs land in build/fuzz/TARGET/crash-* / timeout-*.
# Replay saved inputs: scripts/fuzz/run.sh TARGET --replay FILE...
set -e
cd "$(dirname "$0")/../.."
if [ -z "$1" ]; then
    echo "usage: $0 TARGET [N] [--timeout S] [--replay FILE...]" >&2
    python3 tests/fuzz/run.py --list >&2
    exit 2
fi
exec nice -n 19 python3 tests/fuzz/run.py "$@"
