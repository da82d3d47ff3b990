# Shared helpers for the shell tests: counting checks, running imp-chat, scratch folders.
# Expects FIXTURES, IMP_CHAT, TOOLDIR and TMPROOT from the test environment (Makefile.am).

: "${FIXTURES:=$(dirname "$0")/fixtures}"
: "${IMP_CHAT:=./imp-chat}"
: "${TOOLDIR:=./tests}"
: "${TMPROOT:=/tmp/imp-chat-tests}"
MODEL="$FIXTURES/imp-tiny"
IMAGES="$FIXTURES/images"
EXPECTED="$FIXTURES/expected"
checks=0
failures=0

WORK="$TMPROOT/$(basename "$0" .sh).$$"
rm -rf "$WORK" && mkdir -p "$WORK" || exit 99
trap 'rm -rf "$WORK"' EXIT

# ok CONDITION-STATUS MESSAGE: count a check; print MESSAGE when it failed.
ok() {
    checks=$((checks + 1))
    if [ "$1" -ne 0 ]; then
        failures=$((failures + 1))
        echo "FAIL: $2" >&2
        [ -s "$WORK/err" ] && sed 's/^/  stderr: /' "$WORK/err" | head -5 >&2
    fi
}

# run ARGS...: run imp-chat with stdout in $WORK/out, stderr in $WORK/err, status in $rc.
run() {
    "$IMP_CHAT" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
    rc=$?
}

# expected_ids CASE TURN: the greedy ids of a fixture case, space separated.
expected_ids() {
    "$TOOLDIR/tool_compare" ids "$EXPECTED/expected.json" "$1" "$2"
}

# errors_only: stderr lines other than the note about which backend runs.
errors_only() {
    grep -v 'using the CPU backend' "$WORK/err"
}

# no_crash: stderr holds no sanitizer report and the status is not a signal.
no_crash() {
    ! grep -qE 'AddressSanitizer|runtime error|LeakSanitizer|Segmentation|core dumped' "$WORK/err" && [ "$rc" -lt 128 ]
}

finish() {
    echo "$(basename "$0"): $checks checks, $failures failed"
    [ "$failures" -eq 0 ]
}
