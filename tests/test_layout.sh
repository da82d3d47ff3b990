#!/bin/sh
# Layout at 40x12 and 80x24 in tmux: F1 and /help list each key once, wrap to the width and
# scroll; the tray says how many staged images do not fit ("+N more"); the status line counts the
# tokens of a reply and its rate while it streams.
. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/uilib.sh"

# wait_status TEXT: poll until the status line (the last) shows TEXT (40 s).
wait_status() {
    i=0
    while [ $i -lt 400 ]; do
        screen >"$WORK/screen" 2>/dev/null
        tail -n 1 "$WORK/screen" | grep -qE -- "$1" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "--- screen while waiting for the status: $1" >&2
    cat "$WORK/screen" >&2
    return 1
}

# help_pages KEYS...: open the help with KEYS, page through it to the end; all pages in $WORK/help
help_pages() {
    "$@"
    wait_for "commands and keys" || return 1
    : >"$WORK/help"
    last=
    n=0
    while [ $n -lt 40 ]; do
        screen >"$WORK/page"
        cat "$WORK/page" >>"$WORK/help"
        [ "$(cat "$WORK/page")" = "$last" ] && break
        last=$(cat "$WORK/page")
        tm send-keys -t 0 PageDown
        sleep 0.3
        n=$((n + 1))
    done
    tm send-keys -t 0 Escape
    wait_for "F1 help"
}

layout() {
    cols=$1 rows=$2 more=$3
    TEST_COLS=$cols TEST_ROWS=$rows start --test-token-delay 150 -n 40
    wait_for "F1 help"
    help_pages tm send-keys -t 0 F1; ok $? "${cols}x$rows: F1 opens the help and it pages"
    [ "$(LC_ALL=C.UTF-8 wc -L <"$WORK/help")" -le "$cols" ]; ok $? "${cols}x$rows: no help line is wider than the screen"
    for word in /image /regen /quit "Backspace, C-h" "C-w, M-Backspace" "(suspend)" "(redraw)"; do
        grep -qF -- "$word" "$WORK/help" || { echo "help lacks $word" >&2; false; } || break
    done
    ok $? "${cols}x$rows: the help reaches its last entries, commands and keys"
    ! grep -E "Backspace.*Backspace" "$WORK/help"; ok $? "${cols}x$rows: each key is listed once"
    grep -q "Tab completes paths" "$WORK/help" || tr '\n' ' ' <"$WORK/help" | tr -s ' ' | grep -q "(Tab completes paths)"
    ok $? "${cols}x$rows: a command's help is wrapped, not cut"
    help_pages type_line "/help"; ok $? "${cols}x$rows: /help opens the same help"

    for f in camera.png chelsea.png grid384.png logo.png rocket.jpg; do
        type_line "/image $IMAGES/$f"
        wait_for "$f" || break
    done
    wait_for "+$more more"; ok $? "${cols}x$rows: the tray says +$more more"
    [ "$(LC_ALL=C.UTF-8 wc -L <"$WORK/screen")" -le "$cols" ]; ok $? "${cols}x$rows: the tray fits the width"
    for i in 1 2 3 4 5; do type_line "/drop 1"; done
    type_line "go on"
    wait_status "replying: [0-9]+ tokens?, [0-9.]+ tok/s"; ok $? "${cols}x$rows: the status line counts tokens while a reply streams"
    first=$(tail -n 1 "$WORK/screen" | grep -oE "[0-9]+ tokens?" | grep -oE "[0-9]+")
    sleep 1.5
    screen >"$WORK/screen"
    later=$(tail -n 1 "$WORK/screen" | grep -oE "replying: [0-9]+" | grep -oE "[0-9]+")
    [ -n "$later" ] && [ "$later" -gt "$first" ]; ok $? "${cols}x$rows: the count goes up ($first, then $later)"
    tm send-keys -t 0 C-c
    wait_status "F1 help"
    type_line "/quit"
    wait_for "EXITED:0"; ok $? "${cols}x$rows: /quit"
}

layout 40 12 4
layout 80 24 3

finish
