#!/bin/sh
# Nothing from outside data reaches the terminal raw: the -p reply (piped and on a terminal, and
# its bytes with --raw), and messages that quote paths, tensor names, JSON strings and tokenizer
# entries. Inputs that are not regular files are refused before they are read, and a missing -i
# image or --script file is reported before the model is looked for. The demo model says plain words.
. "$(dirname "$0")/lib.sh"

ESC=$(printf '\033')
BEL=$(printf '\007')

# no_controls FILE: FILE holds no byte of C0 but \n and \t, no DEL, no C1 (UTF-8 C2 80-9F) and no
# bidi control (U+202A-202E, U+2066-2069, U+200E, U+200F)
no_controls() {
    python3 - "$1" <<'EOF'
import re, sys
data = open(sys.argv[1], "rb").read()
bad = re.search(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\x8e\x8f\xaa-\xae]|\xe2\x81[\xa6-\xa9]", data)
if bad:
    print("control bytes at %d: %r" % (bad.start(), data[max(0, bad.start() - 10):bad.end() + 10]))
sys.exit(1 if bad else 0)
EOF
}

# --- the -p reply: a model steered to say an OSC title change, then C1 and bidi controls
python3 "$SRCDIR/tests/steermodel.py" "$MODEL" "$WORK/osc" 1b 5d 30 3b 70 77 6e 65 64 07 || exit 99
python3 "$SRCDIR/tests/steermodel.py" "$MODEL" "$WORK/c1" e280 ae c2 9b || exit 99

run -m "$WORK/osc" -p hi -n 10 --repeat-penalty 2
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "^[]0;pwned^G" ] && no_controls "$WORK/out"
ok $? "-p: an escape sequence in the reply is shown as ^[]0;pwned^G"
run -m "$WORK/osc" -p hi -n 10 --repeat-penalty 2 --raw
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "${ESC}]0;pwned${BEL}" ]
ok $? "-p --raw: the reply's bytes as generated"
run -m "$WORK/c1" -p hi -n 4 --repeat-penalty 2
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "<U+202E><U+009B>" ] && no_controls "$WORK/out"
ok $? "-p: bidi override and C1 CSI, each split over two tokens, are shown as <U+XXXX>"

# on a terminal: what the terminal receives from the reply holds no control byte but CR LF
python3 "$SRCDIR/tests/ptyrun.py" --out "$WORK/pty" -- "$IMP_CHAT" -m "$WORK/osc" -p hi -n 10 \
    --repeat-penalty 2 --backend cpu
rc=$?
grep -a 'pwned' "$WORK/pty" | tr -d '\r' >"$WORK/pty.reply"
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/pty.reply")" = "^[]0;pwned^G" ] && no_controls "$WORK/pty.reply"
ok $? "-p on a terminal: the reply reaches it escaped"

# --script and piped lines: the same sanitizer for each reply, --raw keeps the bytes
printf 'hi\n' >"$WORK/hi.txt"
run -m "$WORK/osc" --script "$WORK/hi.txt" -n 10 --repeat-penalty 2
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "^[]0;pwned^G" ] && no_controls "$WORK/out"
ok $? "--script: an escape sequence in the reply is shown as ^[]0;pwned^G"
run -m "$WORK/osc" --script "$WORK/hi.txt" -n 10 --repeat-penalty 2 --raw
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "${ESC}]0;pwned${BEL}" ]
ok $? "--script --raw: the reply's bytes as generated"
HOME="$WORK" XDG_DATA_HOME="$WORK" "$IMP_CHAT" -m "$WORK/c1" -n 4 --repeat-penalty 2 --backend cpu \
    <"$WORK/hi.txt" >"$WORK/out" 2>"$WORK/err"
rc=$?
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "<U+202E><U+009B>" ] && no_controls "$WORK/out"
ok $? "piped lines: bidi override and C1 CSI in the reply are shown as <U+XXXX>"
python3 "$SRCDIR/tests/ptyrun.py" --out "$WORK/pty" -- "$IMP_CHAT" -m "$WORK/osc" \
    --script "$WORK/hi.txt" -n 10 --repeat-penalty 2 --backend cpu
rc=$?
grep -a 'pwned' "$WORK/pty" | tr -d '\r' >"$WORK/pty.reply"
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/pty.reply")" = "^[]0;pwned^G" ] && no_controls "$WORK/pty.reply"
ok $? "--script on a terminal: the reply reaches it escaped"

# --- messages that quote outside data
mkdir -p "$WORK/dir${ESC}]0;x${BEL}"
run -m "$WORK/dir${ESC}]0;x${BEL}" -p hi
[ "$rc" -eq 1 ] && grep -q 'dir^\[\]0;x^G' "$WORK/err" && no_controls "$WORK/err"
ok $? "a model folder name with controls is quoted escaped"
run -m "$MODEL" -i "$WORK/photo${ESC}[2J$(printf '\302\233')31m.png" -p hi
[ "$rc" -eq 1 ] && grep -q 'photo^\[\[2J<U+009B>31m.png: No such file' "$WORK/err" && no_controls "$WORK/err"
ok $? "an image name with ESC and C1 is quoted escaped"

HOME="$WORK" XDG_DATA_HOME="$WORK" HF_HOME="$WORK" IMP_CHAT_MODEL="$WORK/env${ESC}[2J" \
    "$IMP_CHAT" --list-models >"$WORK/out" 2>"$WORK/err" </dev/null
grep -q "env^\[\[2J" "$WORK/out" && no_controls "$WORK/out"
ok $? "--list-models quotes a place escaped"

# model files whose names and strings hold controls (JSON \u escapes)
copy_model() {
    rm -rf "$WORK/m" && mkdir -p "$WORK/m" && for f in "$MODEL"/*; do ln -s "$f" "$WORK/m/"; done
}
copy_model
rm "$WORK/m/model.safetensors.index.json"
printf '{"weight_map": {"evil\\u001b]52;c;aGk=\\u0007": "sub/\\u001b[2J\\u202e.safetensors"}}' \
    >"$WORK/m/model.safetensors.index.json"
run -m "$WORK/m" -p hi
[ "$rc" -eq 1 ] && grep -q 'entry for evil^\[\]52;c;aGk=^G names "sub/^\[\[2J<U+202E>.safetensors"' "$WORK/err" &&
    no_controls "$WORK/err"
ok $? "a tensor name and a file name from the index are quoted escaped"

copy_model
rm "$WORK/m/added_tokens.json"
printf '{"\\u001b[31m<evil>\\u009b": "x"}' >"$WORK/m/added_tokens.json"
run -m "$WORK/m" -p hi
[ "$rc" -eq 1 ] && grep -q '"^\[\[31m<evil><U+009B>": value is not an integer' "$WORK/err" &&
    no_controls "$WORK/err"
ok $? "a tokenizer entry is quoted escaped"

copy_model
rm "$WORK/m/model-00002-of-00002.safetensors"
python3 - "$MODEL/model-00002-of-00002.safetensors" "$WORK/m/model-00002-of-00002.safetensors" <<'EOF'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
header["x\x1b[2J"] = {"dtype": "Q\x1b]0;t\x07", "shape": [1], "data_offsets": [0, 2]}
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + data[8 + n:])
EOF
run -m "$WORK/m" -p hi
[ "$rc" -eq 1 ] && grep -q 'unknown dtype "Q^\[\]0;t^G" for tensor x^\[\[2J' "$WORK/err" &&
    no_controls "$WORK/err"
ok $? "a safetensors header's tensor name and dtype are quoted escaped"

# --- files that are not regular files, refused before they are read (a FIFO would block)
mkfifo "$WORK/fifo" || exit 99
refused() { # WHAT PATTERN ARGS...: refused quickly (status 1, 2 for --config), with the file named
    what=$1 pattern=$2
    shift 2
    timeout 20 "$IMP_CHAT" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
    rc=$?
    { [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ]; } && grep -q "$pattern" "$WORK/err"
    ok $? "$what is refused (status $rc)"
}
refused "a FIFO as -i image" "fifo: a named pipe (FIFO), not a regular file (the image given with -i)" \
    -m "$MODEL" -i "$WORK/fifo" -p hi
refused "/dev/zero as -i image" "/dev/zero: a character device, not a regular file" \
    -m "$MODEL" -i /dev/zero -p hi
refused "a FIFO as --script" "fifo: a named pipe (FIFO), not a regular file (the script given with --script)" \
    -m "$MODEL" --script "$WORK/fifo"
refused "a folder as --script" "$WORK: a directory, not a regular file" -m "$MODEL" --script "$WORK"
refused "a FIFO as --config" "fifo: a named pipe (FIFO), not a regular file (config file)" \
    --config "$WORK/fifo" -m "$MODEL" -p hi
for name in config.json vocab.json model-00001-of-00002.safetensors model.safetensors.index.json; do
    copy_model
    rm "$WORK/m/$name" && mkfifo "$WORK/m/$name"
    refused "a FIFO as $name" "$name: a named pipe (FIFO), not a regular file" -m "$WORK/m" -p hi
done
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$WORK/sock"
refused "a socket as -i image" "sock: a socket, not a regular file" -m "$MODEL" -i "$WORK/sock" -p hi

# --- a missing -i image or --script file is reported before the model is looked for
empty="$WORK/home"
mkdir -p "$empty"
HOME="$empty" XDG_DATA_HOME="$empty" HF_HOME="$empty" IMP_CHAT_MODEL= \
    "$IMP_CHAT" -i "$WORK/missing.png" -p hi >"$WORK/out" 2>"$WORK/err" </dev/null
rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ] &&
    grep -q "missing.png: No such file or directory (the image given with -i)" "$WORK/err"
ok $? "-i missing.png is reported first, without a model lookup"
run -m "$MODEL" --script "$WORK/missing.txt"
[ "$rc" -eq 1 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ] && grep -q "missing.txt: No such file" "$WORK/err"
ok $? "--script missing.txt is reported before the model is loaded"

# --- the demo model says only plain words (the list in src/chat/demo.c)
grep -o '"[a-z]*"' "$SRCDIR/src/chat/demo.c" | tr -d '"' >"$WORK/words"
run --demo -p "say something" -n 60 --temp 1.5 --seed 3
tr ' .,' '\n\n\n' <"$WORK/out" | grep -v '^$' | sort -u >"$WORK/said"
[ "$rc" -eq 0 ] && [ "$(wc -l <"$WORK/said")" -gt 5 ] && ! grep -vxF -f "$WORK/words" "$WORK/said"
ok $? "the demo model's reply is made of the plain-word list"

finish
