# The chat in a private, detached tmux server of fixed size, for the screen tests (after lib.sh).
# start ARGS... runs imp-chat on the tiny model in a TEST_COLS x TEST_ROWS window (default 100x30)
# with TERM=$TEST_TERM (default tmux-256color; "unset" unsets it) and NO_COLOR=$TEST_NO_COLOR; the pane stays after
# the program exits ("EXITED:STATUS" shows), and $WORK/stty.after holds the terminal modes then
# ($WORK/stty.g.before and stty.g.after: `stty -g` before the program starts and after it ends).

command -v tmux >/dev/null 2>&1 || { echo "tmux is not installed: skipped"; exit 77; }

SOCK="$WORK/tmux.sock"
tm() { tmux -S "$SOCK" -f /dev/null "$@"; }
trap 'tm kill-server 2>/dev/null; rm -rf "$WORK"' EXIT

start() {
    tm kill-server 2>/dev/null
    # a server of its own each time: a new session must not reach the one still shutting down
    starts=$((${starts:-0} + 1))
    SOCK="$WORK/tmux$starts.sock"
    rm -f "$WORK/stty.after" "$WORK/stty.g.before" "$WORK/stty.g.after"
    sleep 0.2
    cat >"$WORK/run.sh" <<EOS
#!/bin/sh
# tmux sets TERM from its default-terminal option; the test chooses it here
TERM=\${TEST_TERM:-tmux-256color}; export TERM
[ "\$TERM" = unset ] && unset TERM
[ -n "\$TEST_NO_COLOR" ] && { NO_COLOR=\$TEST_NO_COLOR; export NO_COLOR; }
stty -g >"$WORK/stty.g.before" 2>&1
"$IMP_CHAT" -m "$MODEL" --backend cpu --threads 1 --image-mode symbols "\$@" 2>"$WORK/stderr"
echo "EXITED:\$?"
stty -g >"$WORK/stty.g.after" 2>&1
stty -a >"$WORK/stty.after" 2>&1
sleep 60
EOS
    chmod +x "$WORK/run.sh"
    tm new-session -d -x "${TEST_COLS:-100}" -y "${TEST_ROWS:-30}" \
        -e TEST_TERM="${TEST_TERM:-tmux-256color}" -e TEST_NO_COLOR="${TEST_NO_COLOR:-}" \
        -e LANG=C.UTF-8 -e LC_ALL=C.UTF-8 -e XDG_CONFIG_HOME="$WORK/config" "$WORK/run.sh" "$@"
}

screen() { tm capture-pane -p -t 0; }

# wait_screen SECONDS WHAT COMMAND...: poll the screen (into $WORK/screen) until COMMAND succeeds;
# 1 on time-out, with the screen on stderr after "--- screen while waiting for WHAT".
wait_screen() {
    limit=$(($1 * 10))
    what=$2
    shift 2
    i=0
    while [ $i -lt $limit ]; do
        screen >"$WORK/screen" 2>/dev/null
        "$@" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "--- screen while waiting for $what" >&2
    cat "$WORK/screen" >&2
    return 1
}

# wait_for TEXT [SECONDS]: poll the screen until TEXT shows (default 40 s: a loaded CI machine); 1 on time-out (screen in $WORK/screen).
wait_for() { wait_screen "${2:-40}" "$1" grep -qF -- "$1" "$WORK/screen"; }

# chat_pid: the process id of this test's imp-chat (the child of the pane's shell; make check runs
# other screen tests at the same time)
chat_pid() { pgrep -n -P "$(tm display -p -t 0 '#{pane_pid}')" -f -- "--image-mode symbols"; }

# wait_status [-E] TEXT [SECONDS]: poll until the status line (the last) shows TEXT (-E: an
# extended regular expression; default 40 s); 1 on time-out, with the screen on stderr.
wait_status() {
    status_mode=-F
    if [ "$1" = -E ]; then
        status_mode=-E
        shift
    fi
    wait_screen "${2:-40}" "the status: $1" status_shows "$1"
}
status_shows() { tail -n 1 "$WORK/screen" | grep -q "$status_mode" -- "$1"; }

# joined: the last screen as one line, so text that wrapped (long paths) can be matched
joined() { tr '\n' ' ' <"$WORK/screen" | tr -s ' '; }

type_line() { tm send-keys -t 0 -l -- "$1"; tm send-keys -t 0 Enter; }
