#!/bin/sh
# The conversation layer through --script on the tiny fixture model: every command, autosave and
# --resume, export, and every bad input to /save and /load (one message naming the file, the
# conversation unchanged, no existing file damaged, nothing half-written left behind).
. "$(dirname "$0")/lib.sh"

DATA="$WORK/data"
SESS="$DATA/imp-chat/sessions"
export XDG_DATA_HOME="$DATA" XDG_STATE_HOME="$WORK/state"

# chat SCRIPT-TEXT ARGS...: run the lines (printf-style escapes allowed) as a script, ids out.
chat() {
    printf "$1" >"$WORK/script.txt"
    shift
    run -m "$MODEL" --backend cpu --script "$WORK/script.txt" -n 6 --print-ids "$@"
}
line() { sed -n "$1p" "$WORK/out"; }
# no_leftovers DIR: no temporary file of an atomic write is left in DIR
no_leftovers() { ! ls -A "$1" 2>/dev/null | grep -q '^\.'; }

# --- a reference conversation, and the same with every reading command in between
chat 'Hello there\nWhat next?\n' --no-autosave
cp "$WORK/out" "$WORK/ref"
[ "$rc" -eq 0 ] && [ "$(wc -l <"$WORK/ref")" -eq 2 ]; ok $? "two replies"
chat 'Hello there\n/set\n/system\n/stats\n/help\n/sessions\n/images\n/theme\n/copy\nWhat next?\n' --no-autosave
[ "$rc" -eq 0 ] && [ "$(line 1)" = "$(sed -n 1p "$WORK/ref")" ] &&
    [ "$(tail -n 1 "$WORK/out")" = "$(sed -n 2p "$WORK/ref")" ]
ok $? "commands that only show things change nothing"
grep -q '^max-tokens 6$' "$WORK/out" && grep -q '^temp 0 (greedy)$' "$WORK/out" &&
    grep -q '^seed [0-9]* (from the clock)$' "$WORK/out"; ok $? "/set alone prints every setting"
grep -q '^A chat between a curious user' "$WORK/out"; ok $? "/system alone prints the system prompt"
grep -q '^Last turn: reused 0 positions.*Image cache: 0 image(s)' "$WORK/out"; ok $? "/stats"
grep -q '^  /undo ' "$WORK/out" && grep -q '(also /regen)' "$WORK/out"; ok $? "/help lists the commands"
grep -q '^No saved sessions in ' "$WORK/out"; ok $? "/sessions with none"
grep -q '^No images yet' "$WORK/out"; ok $? "/images with none"
grep -q '^themes: .*default' "$WORK/out"; ok $? "/theme lists the themes"
[ "$(grep -c . "$WORK/out")" -ge 10 ]; ok $? "/copy writes the last reply to stdout in a script"

# --- /quit ends the script there; /system TEXT starts over with the new prompt
chat 'Hello there\n/quit\nWhat next?\n' --no-autosave
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "$(sed -n 1p "$WORK/ref")" ]; ok $? "/quit: the lines after it do not run"
chat 'Hello there\n/system Be terse.\n/system\n/images\n' --no-autosave
[ "$(line 2)" = "Be terse." ]; ok $? "/system TEXT replaces the prompt (/system shows it)"

# --- /show with no images, unknown commands, arguments where none are taken
chat '/show 1\n/undo now\n/bogus\n/drop 1\n/retry\n/undo\n/edit x\n/export x.md\n' --no-autosave
[ "$rc" -eq 1 ] && [ ! -s "$WORK/out" ]; ok $? "failing commands: status 1, nothing on stdout"
grep -q 'script.txt:1: /show: there are no images yet' "$WORK/err"; ok $? "/show N with no images says there are none"
grep -q 'script.txt:2: /undo takes no arguments' "$WORK/err"; ok $? "arguments where none are taken"
grep -q 'script.txt:3: unknown command "/bogus"' "$WORK/err"; ok $? "an unknown command"
grep -q 'script.txt:4: /drop: no image is staged' "$WORK/err"; ok $? "/drop with nothing staged"
grep -q 'script.txt:5: /retry: no message to reply to yet' "$WORK/err" &&
    grep -q 'script.txt:6: /undo: nothing to take back' "$WORK/err" &&
    grep -q 'script.txt:7: /edit: no message to edit yet' "$WORK/err" &&
    grep -q 'script.txt:8: /export: nothing to export yet' "$WORK/err"
ok $? "/retry, /undo, /edit and /export before any exchange"
[ "$(errors_only | wc -l)" -eq 8 ]; ok $? "one stderr line per failing command"

# --- /undo, /retry (/regen), /edit: the cache is cut back and the replies are the same
chat 'Hello there\nWrong question\n/undo\nWhat next?\n/retry\n/regen\n/edit What next?\n' --no-autosave --stats
[ "$(line 1)" = "$(sed -n 1p "$WORK/ref")" ] && [ "$(line 3)" = "$(sed -n 2p "$WORK/ref")" ] &&
    [ "$(line 4)" = "$(line 3)" ] && [ "$(line 5)" = "$(line 3)" ] && [ "$(line 6)" = "$(line 3)" ]
ok $? "/undo, then the same message, /retry, /regen and /edit give the reference reply"
used1=$(grep "turn:" "$WORK/err" | sed -n 1p | sed 's/.*, \([0-9]*\) of .*/\1/')
reused=$(grep "turn:" "$WORK/err" | sed -n 3p | sed 's/.*reused \([0-9]*\) positions.*/\1/')
[ -n "$used1" ] && [ "$((used1))" -gt "$((reused))" ] && [ "$((used1 - reused))" -le 2 ]
ok $? "after /undo the next turn reuses the first turn's cache ($reused of $used1 positions)"
grep "turn:" "$WORK/err" | sed -n 4p | grep -q "new 0 positions"; ok $? "/retry runs no prompt position"

# --- images: staged twice is one, numbers, /drop, /images after /clear, a refused turn unstages
chat "/image $IMAGES/chelsea.png\n/image $IMAGES/chelsea.png\n/image $IMAGES/logo.png\n/images\n/drop 2\n/images\n/show 1\nLook.\n/clear\n/image $IMAGES/grid384.png\n/images\n" --no-autosave
grep -q 'chelsea.png is already staged as image 1' "$WORK/err" &&
    [ "$(grep -c 'already staged' "$WORK/err")" -eq 1 ]; ok $? "the same file staged twice is merged, said once"
grep -q '^2: logo.png, 500x500 (staged' "$WORK/out"; ok $? "/images numbers the staged images"
[ "$(grep -c 'logo.png' "$WORK/out")" -eq 1 ]; ok $? "/drop 2 unstages the second image"
grep -q '^image 1: .*chelsea.png$' "$WORK/out"; ok $? "/show N in a script names the image's file"
tail -n 2 "$WORK/out" | grep -q '^1: grid384.png, 384x384 (staged'; ok $? "/images after /clear lists only the new conversation, from 1"
chat "/image $IMAGES/grid384.png\nhi\n/images\nhi\n" --ctx 700 --no-autosave
grep -q 'the 1 staged image(s) cannot be sent: the message needs .* but the context holds 700' "$WORK/err"
ok $? "staging past the room left warns at once"
grep -q 'script.txt:2: .*context holds 700 (the 1 staged image(s) were unstaged)' "$WORK/err" &&
    grep -q '^No images yet' "$WORK/out" && [ "$(wc -l <"$WORK/out")" -eq 2 ]
ok $? "a refused turn leaves no images staged, and the next message goes"

# --- the reply limit: max-tokens past the room left is clipped and said; never past the context
chat '/set max-tokens 500\nTell me everything.\n' --ctx 80 --no-autosave --stats
grep -q 'the reply was limited to [0-9]* tokens (max-tokens is 500)' "$WORK/err"; ok $? "max-tokens past the room left is said"
grep -q 'turn: .*, 80 of 80 positions used' "$WORK/err" || grep -q '(end of reply)' "$WORK/err"
ok $? "the context is filled exactly, never past it"
! grep -q ' 8[1-9] of 80 positions' "$WORK/err"; ok $? "no position count past the context"

# --- /set does not restart the random stream unless the seed is set
chat '/set temp 0.9\nTell me a story.\nGo on.\n' --seed 5 --no-autosave
cp "$WORK/out" "$WORK/sampled"
chat '/set temp 0.9\nTell me a story.\n/set top-k 0\n/set max-tokens 6\nGo on.\n' --seed 5 --no-autosave
cmp -s "$WORK/out" "$WORK/sampled"; ok $? "/set of other settings leaves the random stream where it was"
chat '/set temp 0.9\nTell me a story.\n/clear\n/set seed 5\nTell me a story.\n' --seed 5 --no-autosave
[ "$(line 1)" = "$(line 2)" ] && [ "$(line 1)" = "$(sed -n 1p "$WORK/sampled")" ]
ok $? "/set seed restarts it (the same seed, the same draws)"

# --- autosave, /save, /sessions, /load, --resume: the next greedy reply is the same, id for id
chat "/image $IMAGES/chelsea.png\nDescribe the image.\nWhat color is it?\nAnd the background?\n" --no-autosave
cp "$WORK/out" "$WORK/three"
chat "/image $IMAGES/chelsea.png\nDescribe the image.\nWhat color is it?\n/save mine\n/sessions\n"
[ "$rc" -eq 0 ] && [ -f "$SESS/mine.json" ] && [ "$(ls "$SESS"/*.json | wc -l)" -eq 1 ] &&
    grep -q "saved to $SESS/mine.json" "$WORK/err"; ok $? "/save NAME renames the autosaved session"
grep -q '^\* mine  .*2 exchange(s)  "Describe the image."' "$WORK/out"; ok $? "/sessions lists it, marked as the current one"
sha=$(sha256sum "$IMAGES/chelsea.png" | cut -c1-64)
cmp -s "$SESS/images/$sha" "$IMAGES/chelsea.png"; ok $? "the image is stored once by its SHA-256"
grep -q '"format":"imp-chat-session","version":1' "$SESS/mine.json" && grep -q "\"sha256\":\"$sha\"" "$SESS/mine.json"
ok $? "the session file names its format and version and refers to the image by hash"
cp "$IMAGES/chelsea.png" "$WORK/moved.png"
chat 'And the background?\n' --resume mine --stats --no-autosave
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "$(sed -n 3p "$WORK/three")" ]
ok $? "--resume NAME: the next greedy reply is the one the first process would have given"
grep -q "loaded $SESS/mine.json: 2 exchange(s)" "$WORK/err"; ok $? "--resume says what it loaded"
# on a terminal, putting a long conversation back in the cache shows its progress
printf 'And the background?\n' >"$WORK/bg.txt"
python3 "$(dirname "$0")/ptyrun.py" --out "$WORK/pty" -- "$IMP_CHAT" -m "$MODEL" --backend cpu \
    --script "$WORK/bg.txt" --resume mine --no-autosave -n 2 >/dev/null 2>&1
grep -q 'putting the conversation back in the cache: 0 of [0-9]* positions' "$WORK/pty"
ok $? "the rebuild after --resume shows its progress on a terminal"
sed 's/"name":"imp-tiny-dev"/"name":"another-model"/' "$SESS/mine.json" >"$SESS/zother.json"
touch -d '+1 minute' "$SESS/zother.json"
chat 'And the background?\n' --resume --no-autosave
[ "$(cat "$WORK/out")" = "$(sed -n 3p "$WORK/three")" ] && grep -q "loaded $SESS/mine.json" "$WORK/err"
ok $? "--resume alone takes the newest session of this model"
rm -f "$SESS/zother.json"
chat "/load $SESS/mine.json\nAnd the background?\n/undo\n/undo\n/retry\n" --no-autosave
[ "$(line 1)" = "$(sed -n 3p "$WORK/three")" ] && [ "$(line 2)" = "$(sed -n 1p "$WORK/three")" ]
ok $? "/load PATH; /retry after two /undo gives the first reply again"

# --- /export: Markdown with the images copied beside it
chat "/load mine\n/export $WORK/conv.md\n" --no-autosave
[ "$rc" -eq 0 ] && grep -q '^## You$' "$WORK/conv.md" && grep -q '^Describe the image.$' "$WORK/conv.md" &&
    grep -q '^!\[chelsea.png\](conv-images/1-chelsea.png)$' "$WORK/conv.md"
ok $? "/export writes each message with its role and the image as a link"
cmp -s "$WORK/conv-images/1-chelsea.png" "$IMAGES/chelsea.png"; ok $? "the image is copied beside the export"
[ "$(grep -c '^## imp-tiny-dev$' "$WORK/conv.md")" -eq 2 ]; ok $? "the replies are there, as written"

# --- control bytes in a message: stored escaped, shown escaped in the export
chat "$(printf 'red \033[31mtext\n/save esc\n/export %s/esc.md\n' "$WORK")" --no-autosave
grep -qi 'red \\u001b\[31mtext' "$SESS/esc.json" && ! grep -q "$(printf '\033')" "$SESS/esc.json"
ok $? "a control byte is stored escaped in the session file"
grep -q '^red ^\[\[31mtext$' "$WORK/esc.md" && ! grep -q "$(printf '\033')" "$WORK/esc.md"
ok $? "a control byte is shown escaped in the export"

# --- bad session files: one message naming the file; the conversation goes on unchanged
good="$SESS/mine.json"
head -c 300 "$good" >"$WORK/truncated.json"
sed 's/"imp-chat-session"/"other-format"/' "$good" >"$WORK/format.json"
sed 's/"version":1/"version":7/' "$good" >"$WORK/future.json"
sed 's/"name":"imp-tiny-dev","hidden":80/"name":"MILVLG\/Imp-v1-3b","hidden":2560/' "$good" >"$WORK/othermodel.json"
python3 -c 'import sys; open(sys.argv[1], "w").write("{\"format\":\"imp-chat-session\",\"version\":1,\"system\":\"" + "x" * (50 << 20) + "\"}")' "$WORK/huge.json"
mkdir -p "$WORK/blobless/imp-chat/sessions"
cp "$good" "$WORK/blobless/imp-chat/sessions/noblob.json"
mkfifo "$WORK/fifo.json"
cp "$good" "$WORK/good.before"
chat "Hello there\n/load $WORK/truncated.json\n/load $WORK/format.json\n/load $WORK/future.json\n/load $WORK/othermodel.json\n/load $WORK/huge.json\n/load $WORK/fifo.json\n/load $WORK\n/load nosuch\nWhat next?\n" --no-autosave
[ "$rc" -eq 1 ] && cmp -s "$WORK/out" "$WORK/ref"; ok $? "after every failed /load the conversation goes on unchanged"
grep -q "script.txt:2: $WORK/truncated.json: not valid JSON (line 1, column" "$WORK/err"; ok $? "truncated JSON"
grep -q "script.txt:3: $WORK/format.json: not an imp-chat session (format \"other-format\"" "$WORK/err"; ok $? "a wrong format name"
grep -q "script.txt:4: $WORK/future.json: version 7 was written by a newer imp-chat (this one reads version 1)" "$WORK/err"; ok $? "a future version"
grep -q "script.txt:5: $WORK/othermodel.json: the session was made with MILVLG/Imp-v1-3b (hidden 2560, 2 layers), but this model is imp-tiny-dev (hidden 80, 2 layers)" "$WORK/err"
ok $? "a session of a different model names both"
grep -q "script.txt:6: $WORK/huge.json: 50.0 MB, more than the 32 MB such a file may be" "$WORK/err"; ok $? "a 50 MB string"
grep -q "script.txt:7: $WORK/fifo.json: a named pipe (FIFO), not a regular file" "$WORK/err"; ok $? "a FIFO is refused without being opened"
grep -q "script.txt:8: $WORK: a directory, not a regular file" "$WORK/err" && grep -q "script.txt:9: $SESS/nosuch.json: No such file" "$WORK/err"
ok $? "a folder, a missing name"
[ "$(errors_only | wc -l)" -eq 8 ]; ok $? "one line per bad file"
XDG_DATA_HOME="$WORK/blobless" chat '/load noblob\nHello there\n' --no-autosave
grep -q "script.txt:1: .*noblob.json: image chelsea.png is missing from the image store ($WORK/blobless/imp-chat/sessions/images/$sha)" "$WORK/err" &&
    [ "$(cat "$WORK/out")" = "$(sed -n 1p "$WORK/ref")" ]; ok $? "a missing image blob"
cmp -s "$good" "$WORK/good.before"; ok $? "loading never changes the file loaded"

# --- /save that cannot be done: a missing folder, a folder, a full disk, a read-only folder
chat "Hello there\n/save $WORK/no/such/dir/x.json\n/save $WORK\n/save .hidden\nWhat next?\n" --no-autosave
[ "$rc" -eq 1 ] && cmp -s "$WORK/out" "$WORK/ref"; ok $? "after a failed /save the conversation goes on"
grep -q "script.txt:2: $WORK/no/such/dir/x.json: cannot write in $WORK/no/such/dir: No such file" "$WORK/err"; ok $? "/save into a missing folder names the file"
grep -q "script.txt:3: $WORK: not a regular file" "$WORK/err"; ok $? "/save onto a folder"
grep -q 'script.txt:4: /save: ".hidden" is not a session name' "$WORK/err"; ok $? "/save with a bad name"
printf 'Hello there\n/save mine\n' >"$WORK/full.txt"
(ulimit -f 1 && trap '' XFSZ && exec "$IMP_CHAT" -m "$MODEL" --backend cpu --script "$WORK/full.txt" -n 40 --print-ids) >"$WORK/out" 2>"$WORK/err" </dev/null
rc=$?
[ "$rc" -eq 1 ] && grep -q "full.txt:2: $SESS/mine.json: cannot write: File too large" "$WORK/err"; ok $? "/save on a full disk names the file"
grep -q "autosave failed: .*File too large" "$WORK/err"; ok $? "a failed autosave is said"
cmp -s "$good" "$WORK/good.before"; ok $? "a full disk leaves the existing session file as it was"
no_leftovers "$SESS"; ok $? "a full disk leaves no temporary file behind"
mkdir -p "$WORK/ro" && chmod 555 "$WORK/ro"
as_user=""
[ "$(id -u)" -eq 0 ] && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null &&
    as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"
if [ "$(id -u)" -ne 0 ] || [ -n "$as_user" ]; then
    printf 'Hello there\n/save %s/ro/x.json\nWhat next?\n' "$WORK" >"$WORK/ro.txt"
    chmod 644 "$WORK/ro.txt"
    $as_user "$IMP_CHAT" -m "$MODEL" --backend cpu --script "$WORK/ro.txt" -n 6 --print-ids --no-autosave >"$WORK/out" 2>"$WORK/err" </dev/null
    rc=$?
    [ "$rc" -eq 1 ] && grep -q "ro.txt:2: $WORK/ro/x.json: cannot write in $WORK/ro: Permission denied" "$WORK/err" &&
        cmp -s "$WORK/out" "$WORK/ref"; ok $? "/save into a read-only folder names the file; the conversation goes on"
    [ -z "$(ls -A "$WORK/ro")" ]; ok $? "nothing is left in the read-only folder"
else
    echo "read-only folder: skipped (root, and setpriv cannot change user here)"
fi

# --- config notices are shown when stdin is not a terminal
mkdir -p "$WORK/cfg/imp-chat"
printf 'bogus-setting = 1\n' >"$WORK/cfg/imp-chat/config"
printf 'Hello there\n' | XDG_CONFIG_HOME="$WORK/cfg" "$IMP_CHAT" -m "$MODEL" --backend cpu -n 6 --print-ids --no-autosave >"$WORK/out" 2>"$WORK/err"
grep -q 'config:1: unknown setting "bogus-setting"' "$WORK/err" && [ "$(cat "$WORK/out")" = "$(sed -n 1p "$WORK/ref")" ]
ok $? "config notices are shown when stdin is not a terminal"

# --- --resume with nothing saved starts a new conversation, saying so
XDG_DATA_HOME="$WORK/empty" chat 'Hello there\n' --resume --no-autosave
[ "$rc" -eq 0 ] && grep -q 'no saved conversation to resume in ' "$WORK/err" &&
    [ "$(cat "$WORK/out")" = "$(sed -n 1p "$WORK/ref")" ]; ok $? "--resume with nothing saved"
chat 'Hello there\n' --resume no-such-session
[ "$rc" -eq 1 ] && grep -q "no-such-session.json: No such file or directory (--resume)" "$WORK/err" && [ ! -s "$WORK/out" ]
ok $? "--resume NAME that does not exist is an error"

finish
