#!/bin/sh
# Job control and signals in the chat, in tmux: a stop from outside (SIGSTOP, then the shell's
# cooked mode, then SIGCONT) and SIGTSTP from outside come back to raw mode and a working editor;
# SIGWINCH while a reply streams and while an image preview is drawn re-lays the screen; SIGHUP
# and SIGTERM leave; every way out leaves the terminal as it was found (`stty -g` before and after).
. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/uilib.sh"

pane_tty() { tm display -p -t 0 '#{pane_tty}'; }
input_cleared() { ! grep -qF "> still typing" "$WORK/screen"; }

# raw_mode_back: poll (10 s) until the pane's terminal is in the chat's raw mode again
raw_mode_back() {
    i=0
    while [ $i -lt 100 ]; do
        stty -a -F "$(pane_tty)" >"$WORK/stty.now" 2>&1
        grep -q -- " -icanon " "$WORK/stty.now" && grep -q -- " -echo " "$WORK/stty.now" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    cat "$WORK/stty.now" >&2
    return 1
}

# same_modes WHAT: the terminal's modes after the program equal those before it
same_modes() {
    i=0
    while [ ! -s "$WORK/stty.g.after" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    cmp -s "$WORK/stty.g.before" "$WORK/stty.g.after"
    ok $? "$1: the terminal's modes are as found (stty -g)"
}

# --- SIGSTOP from outside; meanwhile a shell puts the terminal in cooked mode; then SIGCONT
start
wait_for "F1 help"
pid=$(chat_pid)
raw_mode_back; ok $? "the chat runs in raw mode"
kill -STOP "$pid"
stty sane -F "$(pane_tty)"
kill -CONT "$pid"
raw_mode_back; ok $? "after SIGSTOP, cooked mode and SIGCONT: raw mode again"
tm send-keys -t 0 -l "still typing"
wait_for "> still typing"; ok $? "after SIGCONT the editor takes keys"
tm send-keys -t 0 C-u
# the chat reads ^U before the next stop: in the cooked mode a stop puts back, the terminal itself
# would take it as its line-kill character and the chat would never see it
wait_screen 10 "the input to be cleared" input_cleared

# --- SIGTSTP from outside, then SIGCONT
kill -TSTP "$pid"
sleep 0.5
kill -CONT "$pid"
raw_mode_back; ok $? "after SIGTSTP and SIGCONT: raw mode again"
tm send-keys -t 0 -l "and more"
wait_for "> and more"; ok $? "after SIGTSTP and SIGCONT the editor takes keys"
tm send-keys -t 0 C-u
type_line "/quit"
wait_for "EXITED:0"; ok $? "/quit after the stops: status 0"
same_modes "/quit after the stops"

# --- SIGWINCH while a reply streams
start --test-token-delay 200 -n 40
wait_for "F1 help"
type_line "tell me a story"
wait_status "replying"; ok $? "a reply streams"
tm resize-window -t 0 -x 50 -y 16
sleep 1
tm resize-window -t 0 -x 44 -y 14
wait_status "F1 help"
ok $? "the reply ends after resizes while it streamed"
[ "$(LC_ALL=C.UTF-8 wc -L <"$WORK/screen")" -le 44 ]; ok $? "after resizes in a reply no line is wider than 44"
[ "$(wc -l <"$WORK/screen")" -le 14 ]; ok $? "after resizes in a reply the screen has 14 rows"
grep -q "tell me a story" "$WORK/screen" || grep -q "^You" "$WORK/screen" || joined | grep -q "story"
ok $? "the transcript is still shown after the resizes"

# --- SIGWINCH while an image preview is drawn
tm resize-window -t 0 -x 100 -y 30
type_line "/image $IMAGES/grid384.png"
sleep 0.3
tm resize-window -t 0 -x 60 -y 20
wait_for "staged [1] grid384.png"; ok $? "the image is staged during a resize"
sleep 1
screen >"$WORK/screen"
[ "$(LC_ALL=C.UTF-8 wc -L <"$WORK/screen")" -le 60 ]; ok $? "after a resize while an image is drawn no line is wider than 60"
type_line "/quit"
wait_for "EXITED:0"
same_modes "/quit after resizes"

# --- SIGHUP and SIGTERM: leave, terminal as found
for sig in HUP TERM; do
    start
    wait_for "F1 help"
    kill -$sig "$(chat_pid)"
    wait_for "EXITED:" ; ok $? "SIG$sig ends the chat"
    grep -q "EXITED:1[24][39]" "$WORK/screen"; ok $? "SIG$sig: status 128 + signal"
    same_modes "SIG$sig"
done

finish
