#!/bin/sh
# Editing by grapheme cluster in the chat, inside tmux (which joins ZWJ sequences itself): one
# arrow key steps over a family emoji, a flag or an accented letter; Backspace takes a cluster
# (an accent alone); the cursor tmux shows is where the text says it is, so nothing drifts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/uilib.sh"

FAMILY=$(printf '\360\237\221\250\342\200\215\360\237\221\251\342\200\215\360\237\221\247')
DRAWN=$(printf '\360\237\221\250\360\237\221\251\360\237\221\247')
FLAG=$(printf '\360\237\207\253\360\237\207\267')
ACUTE=$(printf 'e\314\201')

cursor() { tm display -p -t 0 '#{cursor_x}'; }
# input_is TEXT COLUMN WHAT: the input line shows "> TEXT" and tmux's cursor is in COLUMN
input_is() {
    sleep 0.3
    screen >"$WORK/screen"
    line=$(grep "^> " "$WORK/screen" | head -n 1)
    col=$(cursor)
    [ "$line" = "> $1" ] && [ "$col" -eq "$2" ]
    ok $? "$3 (input \"$line\", cursor $col, want \"> $1\" and $2)"
}

start
wait_for "F1 help" || { ok 1 "the chat starts"; finish; exit; }
tm send-keys -t 0 -l "a${FAMILY}b"
input_is "a${DRAWN}b" 10 "a family emoji is drawn as its three people, 6 columns"
tm send-keys -t 0 Left
input_is "a${DRAWN}b" 9 "Left steps over b"
tm send-keys -t 0 Left
input_is "a${DRAWN}b" 3 "one Left steps over the whole family"
tm send-keys -t 0 Right
input_is "a${DRAWN}b" 9 "one Right steps over it again"
tm send-keys -t 0 -l "X"
input_is "a${DRAWN}Xb" 10 "typing after the family lands after it"
tm send-keys -t 0 BSpace BSpace
input_is "ab" 3 "Backspace takes X, then the whole family"
tm send-keys -t 0 End C-u
tm send-keys -t 0 -l "${FLAG}x${ACUTE}"
input_is "${FLAG}x${ACUTE}" 6 "a flag and an accented e"
tm send-keys -t 0 BSpace
input_is "${FLAG}xe" 6 "Backspace takes the accent alone"
tm send-keys -t 0 Left Left
input_is "${FLAG}xe" 4 "two Lefts step over e and x"
tm send-keys -t 0 Left
input_is "${FLAG}xe" 2 "one Left steps over the flag's two letters"
tm send-keys -t 0 Home
input_is "${FLAG}xe" 2 "Home"
tm send-keys -t 0 Delete
input_is "xe" 2 "Delete takes the flag"
# a long line of families wraps without splitting one, and the cursor follows
tm send-keys -t 0 End C-u
i=0
while [ $i -lt 20 ]; do tm send-keys -t 0 -l "$FAMILY"; i=$((i + 1)); done
sleep 0.5
screen >"$WORK/screen"
grep -q "^> $DRAWN" "$WORK/screen" && [ "$(grep -c "$DRAWN" "$WORK/screen")" -ge 2 ]
ok $? "20 families wrap onto a second row, each whole"
tm send-keys -t 0 End C-u C-u
type_line "/quit"
wait_for "EXITED:0"

finish
