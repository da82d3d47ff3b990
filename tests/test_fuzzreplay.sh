#!/bin/sh
# The fuzz targets' seeds and every kept crash or hang input (tests/fuzz/TARGET/seeds and
# regress), fed through the same target code in the normal build (tests/fuzzreplay). A target
# that crashes, aborts on a broken check (FUZZ_CHECK) or takes too long on one file fails the test;
# so does a target without seeds or a dictionary.
: "${SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TOOLDIR:=$(pwd)/tests}"
: "${FIXTURES:=$SRCDIR/tests/fixtures}"
export FIXTURES

REPLAY=$TOOLDIR/fuzzreplay
fail=0
ntargets=0
for dir in "$SRCDIR"/tests/fuzz/*/; do
    target=$(basename "$dir")
    ntargets=$((ntargets + 1))
    if [ ! -f "$dir/$target.dict" ]; then
        echo "FAIL $target: no dictionary $target.dict"
        fail=1
    fi
    set --
    for f in "$dir"seeds/* "$dir"regress/*; do
        [ -f "$f" ] && set -- "$@" "$f"
    done
    if [ ! -d "$dir/seeds" ] || [ $# -eq 0 ]; then
        echo "FAIL $target: no seed inputs"
        fail=1
        continue
    fi
    # all at once; after a failure one at a time, to name the input
    if ! timeout 120 "$REPLAY" "$target" "$@" >/dev/null 2>"$TOOLDIR/fuzzreplay.err"; then
        for f in "$@"; do
            if ! timeout 30 "$REPLAY" "$target" "$f" >/dev/null 2>"$TOOLDIR/fuzzreplay.err"; then
                echo "FAIL $target: $(basename "$(dirname "$f")")/$(basename "$f")"
                sed -n '1,20p' "$TOOLDIR/fuzzreplay.err"
            fi
        done
        fail=1
        continue
    fi
    echo "ok $target: $# inputs"
done
rm -f "$TOOLDIR/fuzzreplay.err"
if [ "$ntargets" -lt 9 ]; then
    echo "FAIL: $ntargets fuzz targets found, expected 9"
    fail=1
fi
exit $fail
