#!/bin/sh
# Layout at 40x12 and 80x24 in tmux: F1 and /help list each key once, wrap to the width and
# scroll; the tray says how many staged images do not fit ("+N more"); the status line counts the
# tokens of a reply and its rate while it streams; a long status message wraps; previews in the transcript scale to the
# terminal's height and width and are drawn again after a resize.
. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/uilib.sh"

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

    n=0
    for f in camera.png chelsea.png grid384.png logo.png rocket.jpg; do
        n=$((n + 1))
        type_line "/image $IMAGES/$f"
        # staged (the status says so), not only typed: the next line waits for it
        wait_for "staged [$n] $f" || break
    done
    wait_for "+$more more"; ok $? "${cols}x$rows: the tray says +$more more"
    [ "$(LC_ALL=C.UTF-8 wc -L <"$WORK/screen")" -le "$cols" ]; ok $? "${cols}x$rows: the tray fits the width"
    # each drop done before the next is typed; the next key then clears the status message
    for i in 5 4 3 2 1; do
        type_line "/drop $i"
        wait_for "unstaged image $i" || break
    done
    type_line "go on"
    wait_status -E "replying: [0-9]+ tokens?, [0-9.]+ tok/s"; ok $? "${cols}x$rows: the status line counts tokens while a reply streams"
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

# preview_box: "ROWSxCOLS" of the image preview right above the caption "[1] grid384.png" on the
# last screen (rows of block symbols, the widest of them)
preview_box() {
    python3 - "$WORK/screen" <<'PY'
import sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
cap = next((i for i, l in enumerate(lines) if "[1] grid384.png" in l), 0)
rows = []
for l in reversed(lines[:cap]):
    if not l.strip() or sum(ord(c) > 0x2000 for c in l) < len(l.strip()) / 2:
        break
    rows.append(l.rstrip())
print("%dx%d" % (len(rows), max((len(r) for r in rows), default=0)))
PY
}

layout 40 12 4
layout 80 24 3

# --- a status message longer than the line wraps instead of being cut
TEST_COLS=40 TEST_ROWS=12 start
wait_for "F1 help"
type_line "/image $IMAGES/grid384.png"
wait_for "your next message"; ok $? "40x12: a long status message wraps to its end"
[ "$(LC_ALL=C.UTF-8 wc -L <"$WORK/screen")" -le 40 ]; ok $? "40x12: the wrapped status fits the width"
grep -q "^>" "$WORK/screen"; ok $? "40x12: the input line stays above the wrapped status"
type_line "/quit"
wait_for "EXITED:0"

# --- previews scale to the terminal: about 2/3 of its height, within its width; redrawn on resize
TEST_COLS=40 TEST_ROWS=12 start -n 1
wait_for "F1 help"
type_line "/image $IMAGES/grid384.png"
wait_for "grid384.png"
type_line "look"
wait_status -E "F1 help.*ctx"
# the whole preview is in view at one of the scroll positions: the tallest seen is its size
best=0x0
for k in 1 2 3 4 5 6 7 8 9 10; do
    tm send-keys -t 0 S-Up
    sleep 0.3
    screen >"$WORK/screen"
    grep -qF "[1] grid384.png" "$WORK/screen" || continue
    box=$(preview_box)
    [ "${box%x*}" -gt "${best%x*}" ] && best=$box
done
box=$best
[ "${box%x*}" -le 6 ] && [ "${box%x*}" -ge 3 ] && [ "${box#*x}" -le 40 ]
echo "preview at 40x12: $box"
ok $? "40x12: the preview is $box (3 to 6 rows, within 40 columns)"
tm resize-window -t 0 -x 100 -y 40
sleep 1
tm send-keys -t 0 C-Home
sleep 1
screen >"$WORK/screen"
box=$(preview_box)
[ "${box%x*}" -ge 20 ] && [ "${box%x*}" -le 26 ] && [ "${box#*x}" -gt 45 ] && [ "${box#*x}" -le 100 ]
echo "preview at 100x40: $box"
ok $? "100x40 after a resize: the preview is $box (20 to 26 rows, wider than 45 columns)"
type_line "/quit"
wait_for "EXITED:0"

finish
