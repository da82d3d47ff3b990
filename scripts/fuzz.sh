#!/bin/sh
# Run the libFuzzer targets of a --enable-fuzzing build, one after the other.
#   scripts/fuzz.sh [-t SECONDS] [TARGET...]      (default: 60 s each, every target)
# Run it from the build folder. Each target starts from its seeds (tests/fuzz/TARGET/seeds) with
# its dictionary; the corpus it grows is kept in fuzz-work/TARGET/corpus for the next run, and
# crash, timeout and leak inputs land in fuzz-work/TARGET/. The last status line of each run
# (executions and coverage) is printed; the exit status is 1 when any target found something.
set -u
seconds=60
if [ "${1:-}" = "-t" ]; then
    seconds=$2
    shift 2
fi
srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(pwd)
all="image safetensors shardindex config tokfiles tokenize session command text"
[ $# -gt 0 ] || set -- $all
FIXTURES=$srcdir/tests/fixtures
export FIXTURES

status=0
for target in "$@"; do
    bin=$builddir/tests/fuzz/fuzz_$target
    if [ ! -x "$bin" ]; then
        echo "fuzz.sh: $bin is missing: build with ./configure --enable-fuzzing && make" >&2
        exit 2
    fi
    work=$builddir/fuzz-work/$target
    mkdir -p "$work/corpus"
    log=$work/log
    # -timeout: one input taking longer is a hang (a legal picture near the size limit, such as a
    # GIF declaring a 12033x4139 screen in 46 bytes, takes 1 to 6 s under the sanitizers on a busy
    # 2-core machine: that is work, not a hang); -rss_limit_mb: a runaway allocation is a bug
    "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
        -dict="$srcdir/tests/fuzz/$target/$target.dict" -artifact_prefix="$work/" \
        -print_final_stats=1 "$work/corpus" "$srcdir/tests/fuzz/$target/seeds" >"$log" 2>&1
    rc=$?
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "$target: ${execs:-?} executions; last status: $last"
    if [ $rc -ne 0 ]; then
        echo "$target: FOUND SOMETHING (exit $rc); see $log and the files in $work/"
        grep -E 'ERROR:|SUMMARY:|fuzz check failed|Test unit written' "$log" | head -n 5
        status=1
    fi
done
exit $status
