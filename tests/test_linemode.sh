#!/bin/sh
# A terminal the full-screen chat cannot draw on (TERM=dumb, TERM unset, a TERM without a terminfo
# entry here) gets the line mode: a one-line hint on how to fix TERM, a prompt, the terminal's own
# echo, streamed replies and the same commands; the terminal's modes are left as they were. Lines
# piped in without --script are read as a script and never wait for a terminal.
. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/uilib.sh"

ESC=$(printf '\033')

# line_mode TERM HINT: the chat under TERM says HINT, prompts, runs /help and a message, quits
line_mode() {
    TEST_TERM=$1 start -n 8
    wait_for_prompts 1 || { ok 1 "TERM=$1: a prompt"; return; }
    grep -q "$2" "$WORK/stderr" && grep -q "line mode: type a message" "$WORK/stderr"
    ok $? "TERM=$1: line mode with a hint ($2)"
    [ "$(tm display -p -t 0 '#{alternate_on}')" = "0" ]
    ok $? "TERM=$1: no alternate screen"
    type_line "/help"
    wait_for "/quit"; ok $? "TERM=$1: /help lists the commands"
    type_line "hello there"
    # the typed line (the terminal's echo) and the prompt after the reply
    wait_for "> hello there" && wait_for_prompts 3
    ok $? "TERM=$1: the message is echoed, the reply streams and the prompt comes back"
    type_line "/quit"
    wait_for "EXITED:0"; ok $? "TERM=$1: /quit leaves with status 0"
    sleep 0.3
    grep -q " icanon " "$WORK/stty.after" && grep -q " echo " "$WORK/stty.after"
    ok $? "TERM=$1: the terminal modes are as found"
    ! grep -q "$ESC" "$WORK/stderr"; ok $? "TERM=$1: no escape sequence on stderr"
}

# wait_for_prompts N: N lines starting with the prompt show (40 s)
wait_for_prompts() { wait_screen 40 "$1 prompts" prompts_shown "$1"; }
prompts_shown() { [ "$(grep -c '^>' "$WORK/screen")" -ge "$1" ]; }

line_mode dumb "TERM=dumb cannot move the cursor, so imp-chat runs in line mode"
line_mode unset "TERM is not set, so imp-chat runs in line mode"
line_mode xterm-no-such-terminal "TERM=xterm-no-such-terminal has no terminfo entry on this machine"

# a usable TERM still gets the full-screen chat
start
wait_for "F1 help"; ok $? "TERM=tmux-256color: the full-screen chat"
[ "$(tm display -p -t 0 '#{alternate_on}')" = "1" ]; ok $? "TERM=tmux-256color: the alternate screen"
type_line "/quit"
wait_for "EXITED:0"

# lines piped in without --script: read as a script, the chat's commands included
printf '/help\nhello\n' | timeout 60 "$IMP_CHAT" -m "$MODEL" --backend cpu -n 4 \
    >"$WORK/out" 2>"$WORK/err"
rc=$?
[ "$rc" -eq 0 ] && grep -q "^Commands" "$WORK/out" && [ "$(wc -l <"$WORK/out")" -gt 3 ]
ok $? "piped lines without --script run as a script (status $rc)"

finish
