#!/bin/sh
# Colors on every kind of terminal, read back from tmux (capture-pane -e): on the 8-color TERMs
# (xterm, screen, tmux, linux) only colors 0-7 and every role readable; with 256 colors the
# theme's own; with NO_COLOR no color at all but the attributes. The chat shows a notice, a
# reply, a staged image, an error and the help on each.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/uilib.sh"

# check NAME MODE TEXT...: the screen, read back with its attributes, passes cellstyle.py within
# 10 seconds (a loaded machine may still be drawing what the last wait_for did not wait for)
check() {
    name=$1 mode=$2
    shift 2
    tries=0
    while :; do
        tm capture-pane -e -p -t 0 >"$WORK/cells"
        python3 "$SRCDIR/tests/cellstyle.py" "$WORK/cells" "$mode" "$@" >"$WORK/cellstyle" && break
        tries=$((tries + 1))
        [ $tries -ge 50 ] && break
        sleep 0.2
    done
    [ $tries -lt 50 ]
    status=$?
    [ $status -ne 0 ] && sed 's/\x1b\[[0-9;:]*m//g' "$WORK/cells" | sed 's/^/  screen: /' >&2
    ok $status "$name: $(tr '\n' ';' <"$WORK/cellstyle")"
}

# session TERM MODE: the chat's screens on TERM (TEST_NO_COLOR from the caller)
session() {
    what="TERM=$1${TEST_NO_COLOR:+ NO_COLOR}"
    TEST_ROWS=60 TEST_TERM=$1 start
    wait_for "F1 help" || { ok 1 "$what: the chat starts"; return; }
    check "$what: start-up" "$2" "imp-chat 0.1.0" "F1 help" ">"
    type_line "/set max-tokens 4"
    type_line "/image $IMAGES/grid384.png"
    wait_for "729 positions"
    type_line "hello"
    wait_for "(1 image)"
    type_line "/image $IMAGES/chelsea.png"
    wait_for "chelsea.png"
    type_line "/nonsense"
    wait_for "unknown command"
    check "$what: chat" "$2" "unknown command" "[1] grid384.png" "chelsea.png" "you" "imp"
    type_line "/help" # F1's sequence differs between these TERMs and tmux's own
    wait_for "commands and keys"
    check "$what: help" "$2" "/retry" "C-c"
    tm send-keys -t 0 q
    wait_for "F1 help"
    type_line "/quit"
    wait_for "EXITED:0"
}

for term in xterm screen tmux linux; do
    session "$term" 8
done
session xterm-256color 256
TEST_NO_COLOR=1 session xterm-256color mono
TEST_NO_COLOR=1 session xterm mono

finish
