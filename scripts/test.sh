#!/bin/sh
# Install what is missing, build, and run the whole test suite; the last line is "N passed, N failed".
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
scripts/setup.sh "$@" || { echo "0 passed, 1 failed"; exit 1; }
make -j"$(nproc)" check
status=$?
log=test-suite.log
if [ -f "$log" ]; then
    # what a failing test printed, so a CI log says why without the build tree
    for trs in $(grep -lE '^:test-result: (FAIL|ERROR)' $(find . -name '*.trs') 2>/dev/null); do
        echo "=== ${trs%.trs}.log (last 80 lines)"
        tail -n 80 "${trs%.trs}.log"
    done
    pass=$(sed -n 's/^# PASS: *//p' "$log")
    fail=$(sed -n 's/^# FAIL: *//p' "$log")
    xfail=$(sed -n 's/^# XPASS: *//p;s/^# ERROR: *//p' "$log" | awk '{s+=$1} END {print s+0}')
    skip=$(sed -n 's/^# SKIP: *//p' "$log")
    echo "${pass:-0} passed, $(( ${fail:-0} + xfail )) failed, ${skip:-0} skipped"
else
    echo "0 passed, 1 failed"
fi
exit $status
