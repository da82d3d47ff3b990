#!/bin/sh
# The chat on the tiny fixture model inside a private, detached tmux server of fixed size: the
# screen text after start-up, /image, a reply, Ctrl-C, a resize, a full context and /quit;
# /drop, /undo and /edit, the input history across runs, and --resume.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/uilib.sh"
# each run's conversations and input history stay in this test's folder (the tmux server, started
# from here, passes them on)
XDG_DATA_HOME="$WORK/data" XDG_STATE_HOME="$WORK/state"
export XDG_DATA_HOME XDG_STATE_HOME

# wait_gone TEXT [SECONDS]: poll until TEXT is no longer on the screen.
wait_gone() {
    i=0
    limit=$(( ${2:-20} * 10 ))
    while [ $i -lt $limit ]; do
        screen >"$WORK/screen" 2>/dev/null
        grep -qF -- "$1" "$WORK/screen" || return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# --- the config file: a key binding, and a bad line reported with its file and line
mkdir -p "$WORK/config/imp-chat/themes"
printf 'bind C-t help\nbind C-q no-such-action\n' >"$WORK/config/imp-chat/config"
printf 'user = red\nnonsense = blue\n' >"$WORK/config/imp-chat/themes/bad.theme"

# --- start-up screen
start
wait_for "F1 help"; ok $? "start-up: the status line shows"
joined | grep -q "imp-chat .*on the cpu backend"; ok $? "start-up: the welcome names the backend"
grep -q "^>" "$WORK/screen"; ok $? "start-up: the input prompt"
grep -q "ctx 0/3072" "$WORK/screen"; ok $? "start-up: the context budget"
joined | grep -q 'imp-chat/config:2: bind: unknown action "no-such-action"'; ok $? "a bad binding names the config file and line"
tm send-keys -t 0 C-t
wait_for "commands and keys"; ok $? "a key bound in the config file works"
tm send-keys -t 0 q

# --- a question gets the fixture's greedy reply
type_line "/set max-tokens 12"
type_line "What is the capital of France?"
wait_for "agreed Purchaseppyhra GOODMANDesign Heroic seensis minedabbage"
ok $? "the text question gets the expected greedy reply"
wait_for "reused 0 new"; ok $? "the status line shows the turn's numbers"

# --- /image stages a preview in the tray, then goes with the next message
type_line "/image $IMAGES/grid384.png"
wait_for "729 positions"; ok $? "/image: the tray shows the cost"
grep -q "grid384.png" "$WORK/screen"; ok $? "/image: the tray shows the file name"
grep -q "384x384 px" "$WORK/screen"; ok $? "/image: the tray shows the pixel size"
grep -q "[▀▄█▌▐▖▗▘▝▚▞▙▛▜▟]" "$WORK/screen"; ok $? "/image: the preview is drawn with block symbols"
type_line "/image $WORK/no-such.png"
wait_for "no-such.png: No such file"; ok $? "a missing image is reported with the reason"
type_line "What is in the picture?"
wait_for "[1] grid384.png, 384x384, 729 positions"; ok $? "the image shows in the transcript with its caption"
wait_for "(1 image)"; ok $? "the context budget counts the image"

# --- /images, /show, F1 and /theme
type_line "/images"
wait_for "1: grid384.png, 384x384"; ok $? "/images lists the conversation's images"
type_line "/show 1"
wait_for "any key goes back to the chat"; ok $? "/show shows the image full-screen"
tm send-keys -t 0 x
wait_for "F1 help"; ok $? "a key leaves /show"
tm send-keys -t 0 F1
wait_for "commands and keys"; ok $? "F1 shows the help"
grep -q "/regen" "$WORK/screen" && grep -q "C-c" "$WORK/screen"; ok $? "the help lists commands and keys"
tm send-keys -t 0 q
type_line "/theme light"
wait_for "theme light"; ok $? "/theme switches the theme"
type_line "/theme bad"
wait_for "bad.theme:2:" && joined | grep -q 'bad.theme:2: unknown role "nonsense"'
ok $? "a theme file's mistake names the file and line"
type_line "/theme nope"
wait_for 'no theme "nope" (themes: bad, default, light, mono)'; ok $? "an unknown theme lists the themes"

# --- /copy puts the last reply on the clipboard with OSC 52 (tmux keeps it as a paste buffer)
tm set-option -s set-clipboard on
type_line "/copy"
wait_for "copied"; ok $? "/copy reports what it copied"
copied=$(tm show-buffer 2>/dev/null | head -c 24)
[ -n "$copied" ] && grep -qF -- "$copied" "$WORK/screen"; ok $? "/copy puts the last reply on the clipboard through OSC 52 ($copied)"

# --- a bracketed paste of several lines lands in the editor and sends nothing
printf 'first pasted line\nsecond pasted line\n/quit\n' >"$WORK/paste.txt"
tm load-buffer -b pasted "$WORK/paste.txt"
tm paste-buffer -p -b pasted -t 0
wait_for "  second pasted line"; ok $? "a paste keeps its lines in the editor"
grep -q "^> first pasted line" "$WORK/screen" && ! grep -q "EXITED" "$WORK/screen"
ok $? "the pasted /quit line did not run"
tm send-keys -t 0 C-c
sleep 0.3

# --- /quit restores the terminal
type_line "/quit"
wait_for "EXITED:0"; ok $? "/quit exits with status 0"
[ "$(tm display -p -t 0 '#{alternate_on}')" = "0" ]; ok $? "the alternate screen is left"
grep -q " icanon " "$WORK/stty.after" && grep -q " echo " "$WORK/stty.after"
ok $? "the terminal modes are restored (canonical input, echo)"

# --- Ctrl-C stops a slow reply; the partial reply stays, marked; Ctrl-C when idle does not quit
start --test-token-delay 400 -n 200
wait_for "F1 help"
type_line "Tell me a long story."
wait_for "replying"; ok $? "a slow reply is under way"
tm send-keys -t 0 -l "typing while it streams"
wait_for "· typing while it streams"; ok $? "typing works while a reply streams"
tm send-keys -t 0 C-u
sleep 1
tm send-keys -t 0 C-c
wait_for "imp  stopped"; ok $? "Ctrl-C stops the reply and marks it"
wait_for "F1 help"; ok $? "the chat is ready again"
tm send-keys -t 0 C-c
wait_for "Ctrl-D on an empty line"; ok $? "Ctrl-C at the prompt does not quit"

# --- a resize re-wraps the transcript
tm resize-window -t 0 -x 60 -y 20
sleep 0.5
screen >"$WORK/screen"
[ "$(LC_ALL=C.UTF-8 wc -L <"$WORK/screen")" -le 60 ]; ok $? "after a resize no line is wider than 60"
grep -q "Tell me a long story" "$WORK/screen" || grep -q "stopped" "$WORK/screen"
ok $? "after a resize the transcript is still shown"
tm send-keys -t 0 C-d
wait_for "EXITED:0"; ok $? "Ctrl-D on an empty line quits"

# --- a full context: asked first, then the oldest turn goes, and the transcript says so
start --ctx 90
wait_for "F1 help"
type_line "/set max-tokens 0"
# a message waits in the editor while a reply streams: each goes once the one before is done
send_done() { type_line "$1"; wait_gone "> $1"; wait_status "F1 help"; }
send_done "First question, a long one with many words in it."
send_done "Second one."
send_done "Third."
type_line "Describe everything you saw so far in great detail, please, with colours, shapes, positions and anything else that stands out."
wait_for "sending drops the oldest 1 exchange(s) (Enter sends"; ok $? "a message that does not fit asks first"
tm send-keys -t 0 Enter
wait_for "dropped the oldest 1 exchange(s)"; ok $? "the drop is told in the transcript"
wait_for "(dropped from the context)"; ok $? "the dropped turn is marked"
type_line "/image $IMAGES/grid384.png"
wait_for "cannot be sent: the message needs"; ok $? "staging an image that cannot fit warns at once"
type_line "And this?"
wait_status "the context holds 90"; ok $? "an image that cannot fit at all is refused with the numbers (on the status line)"
grep -q "^> And this?" "$WORK/screen"; ok $? "the refused message stays in the editor"
tm send-keys -t 0 C-u
type_line "/quit"
wait_for "EXITED:0"

# --- SIGTERM (and SIGHUP) leave cleanly with the terminal restored
start
wait_for "F1 help"
pid=$(chat_pid)
[ -n "$pid" ] && kill -TERM "$pid"
wait_for "EXITED:143"; ok $? "SIGTERM exits with status 143"
[ "$(tm display -p -t 0 '#{alternate_on}')" = "0" ]; ok $? "after SIGTERM the alternate screen is left"

# --- a crash signal: the handler restores the terminal, then the signal ends the program
start
wait_for "F1 help"
pid=$(chat_pid)
[ -n "$pid" ] && kill -SEGV "$pid"
wait_for "EXITED:139"; ok $? "SIGSEGV ends the program with its signal"
[ "$(tm display -p -t 0 '#{alternate_on}')" = "0" ]; ok $? "after SIGSEGV the alternate screen is left"
sleep 0.3
grep -q " icanon " "$WORK/stty.after" && grep -q " echo " "$WORK/stty.after"
ok $? "after SIGSEGV the terminal modes are restored"

# (a TERM without a terminfo entry gets the line mode: tests/test_linemode.sh)

# --- a bidi override in a file name is shown as text, never applied by the terminal (escape
# sequences cannot be typed: the editor drops control characters; test_transcript covers replies)
start
wait_for "F1 help"
bad="$WORK/bad$(printf '\342\200\256')evil.png"
cp "$IMAGES/not-an-image.png" "$bad"
type_line "/image $bad"
wait_for "bad<U+202E>evil.png"; ok $? "a bidi override in a file name shows as <U+202E>"
type_line "/quit"
wait_for "EXITED:0"

# --- /drop: the tray numbers the staged images; /undo and /edit take the last exchange back
start -n 4
wait_for "F1 help"
type_line "/image $IMAGES/grid384.png"
type_line "/image $IMAGES/logo.png"
wait_for "[2] logo.png"; ok $? "the tray numbers the staged images"
type_line "/drop 1"
wait_for "unstaged image 1"; ok $? "/drop says what it unstaged"
grep -q "\[1\] logo.png" "$WORK/screen" && ! grep -q "grid384" "$WORK/screen"
ok $? "after /drop 1 the tray holds the other image, numbered 1"
type_line "First question about the logo"
wait_for "reused 0 new"; ok $? "the message with the staged image is answered"
type_line "Second question"
wait_for "reused 7" && wait_status "F1 help"
type_line "/undo"
wait_for "took back the last exchange"; ok $? "/undo says so"
! grep -q "Second question" "$WORK/screen" && grep -q "First question about the logo" "$WORK/screen"
ok $? "/undo removes the last exchange from the transcript"
type_line "/edit"
wait_for "editing your last message"; ok $? "/edit puts the last message back in the editor"
grep -q "^> First question about the logo" "$WORK/screen"; ok $? "the editor holds the last message"
tm send-keys -t 0 C-u
type_line "Edited question"
wait_gone "First question about the logo" && wait_status "F1 help" && grep -q "you" "$WORK/screen" &&
    grep -q "Edited question" "$WORK/screen" && grep -q "logo.png, 500x500" "$WORK/screen"
ok $? "sending the edited message replaces the exchange, its image kept"
type_line "/images"
wait_for "1: logo.png, 500x500"; ok $? "/images after the edit"
type_line "/quit"
wait_for "EXITED:0"

# --- the input history is kept across runs; --resume shows the saved conversation
start -n 4 --resume
wait_for "F1 help"
wait_for "Edited question"; ok $? "--resume shows the last conversation"
joined | grep -q "loaded .*: 1 exchange(s)"; ok $? "--resume says what it loaded"
tm send-keys -t 0 Up
wait_for "> /quit"; ok $? "Up brings back the last line of the last run"
tm send-keys -t 0 Up Up
wait_for "> Edited question"; ok $? "and the message before it"
tm send-keys -t 0 C-u
type_line "/quit"
wait_for "EXITED:0"

# --- a killed chat loses at most the reply in progress; a hung-up one saves it as stopped
start -n 200 --test-token-delay 300
wait_for "F1 help"
type_line "/clear"
type_line "/set max-tokens 3"
type_line "Kept question"
wait_for "Kept question" && wait_status "F1 help"
type_line "/set max-tokens 200"
type_line "Interrupted question"
wait_for "replying"
pid=$(chat_pid)
[ -n "$pid" ] && kill -KILL "$pid"
wait_for "EXITED:137"; ok $? "SIGKILL in the middle of a reply"
start --test-token-delay 300 --resume
wait_for "loaded"
grep -q "Kept question" "$WORK/screen" && ! grep -q "Interrupted question" "$WORK/screen"
ok $? "after SIGKILL the finished exchanges are there, the reply in progress is lost"
tm send-keys -t 0 -l "Hung-up question"
tm send-keys -t 0 Enter
wait_for "replying"
sleep 1
pid=$(chat_pid)
[ -n "$pid" ] && kill -HUP "$pid"
wait_for "EXITED:129"; ok $? "SIGHUP exits with status 129"
start -n 4 --resume
wait_for "loaded" && wait_for "Hung-up question"
grep -q "stopped" "$WORK/screen"; ok $? "after SIGHUP the reply in progress is saved, marked stopped"
type_line "/quit"
wait_for "EXITED:0"

# --- control characters of a saved message are shown escaped
printf 'red \033[31mtext\n/save esc\n' >"$WORK/esc.txt"
XDG_DATA_HOME="$WORK/data" "$IMP_CHAT" -m "$MODEL" --backend cpu --script "$WORK/esc.txt" -n 2 >/dev/null 2>&1
start -n 4 --resume esc
wait_for "red ^[[31mtext"; ok $? "a control character of a saved message is shown as ^["
type_line "/quit"
wait_for "EXITED:0"

finish
