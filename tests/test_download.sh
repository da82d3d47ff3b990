#!/bin/sh
# Finding and downloading the model, against a fake hub on 127.0.0.1 (tests/fakehub.py) that serves
# the tiny fixture model: the download (redirects, a connection dropped half-way and resumed with a
# Range request, verification), a one-shot run on the result, a Hugging Face cache snapshot made of
# symbolic links used in place, the download question, and each failure: no model, HTTP 401/403/404,
# 5xx/429 retries, no network, DNS failure, a wrong hash, a corrupt file, a failed write, disk full,
# Ctrl-C, servers that ignore or refuse Range.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null 2>&1 || { echo "python3 is missing: skipped"; exit 77; }
HERE=$(cd "$(dirname "$0")" && pwd)
FILES="added_tokens.json config.json merges.txt model-00001-of-00002.safetensors
model-00002-of-00002.safetensors model.safetensors.index.json special_tokens_map.json
tokenizer_config.json vocab.json"
SHARD1=model-00001-of-00002.safetensors
SHARD2=model-00002-of-00002.safetensors
PROMPT="What is the capital of France?"
WANT_IDS=$(expected_ids text 0)

# nothing from the machine running the tests may leak in
unset IMP_CHAT_MODEL HF_TOKEN HF_TOKEN_PATH http_proxy https_proxy HTTP_PROXY HTTPS_PROXY \
    ALL_PROXY all_proxy
export HF_HUB_CACHE="$WORK/hf" HF_HOME="$WORK/hfhome" XDG_DATA_HOME="$WORK/data" \
    XDG_CACHE_HOME="$WORK/cache"

python3 "$HERE/fakehub.py" --root "$MODEL" --port-file "$WORK/port" --log "$WORK/hub.log" &
hub=$!
trap 'kill $hub 2>/dev/null; rm -rf "$WORK"' EXIT
for i in $(seq 100); do
    [ -s "$WORK/port" ] && break
    sleep 0.1
done
[ -s "$WORK/port" ] || { echo "the fake hub did not start"; exit 99; }
: >"$WORK/hub.log"
export HF_ENDPOINT="http://127.0.0.1:$(cat "$WORK/port")"

# same_files DIR: DIR holds exactly the fixture's bytes, and no partial file
same_files() {
    for f in $FILES; do
        cmp -s "$MODEL/$f" "$1/$f" || return 1
    done
    ! ls "$1"/*.part >/dev/null 2>&1
}

# requests NUMBER: the hub log from line NUMBER on
requests() {
    sed -n "$1,\$p" "$WORK/hub.log"
}

# one_shot: a greedy one-shot reply without -m, compared with the fixture's ids
one_shot() {
    run "$@" -p "$PROMPT" -n 12 --print-ids
    [ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "$WANT_IDS" ]
}

# ---------------------------------------------------------------- nothing on the machine
run -p hi
[ "$rc" -eq 1 ] && grep -q "the model MILVLG/imp-v1-3b is not in the Hugging Face cache ($WORK/hf)" "$WORK/err" &&
    grep -q "download it with \`imp-chat --download\` (or add --yes" "$WORK/err"
ok $? "no model, stdin not a terminal: the error names the command to run"
[ ! -s "$WORK/hub.log" ]; ok $? "no model: nothing asked of the hub without consent"
run -m someone/not-here -p hi
[ "$rc" -eq 1 ] && grep -q "someone/not-here (-m) is not a folder, and the hub model someone/not-here" "$WORK/err" &&
    grep -q "imp-chat --download someone/not-here" "$WORK/err"
ok $? "-m with an unknown hub id names both readings"
run --list-models
[ "$rc" -eq 0 ] && grep -q "^store .*models: nothing there" "$WORK/out" &&
    grep -q "no complete copy of MILVLG/imp-v1-3b: \`imp-chat --download\` downloads it" "$WORK/out"
ok $? "--list-models on an empty machine"

# ---------------------------------------------------------------- download, resume, verify, use
STORE="$WORK/data/imp-chat/models/imp-v1-3b"
run --download
[ "$rc" -eq 0 ]; ok $? "--download exits 0 (got $rc)"
same_files "$STORE"; ok $? "--download: the files are the fixture's, no partial file left"
grep -q "/cdn/MILVLG--imp-v1-3b/[0-9a-f]*/$SHARD1 range=bytes=[1-9][0-9]*- status=206" "$WORK/hub.log"
ok $? "the dropped shard was resumed with a Range request (206)"
grep -q "connection lost: .*; resuming" "$WORK/err" && grep -q "\[8/9\] $SHARD1: .*resumed from" "$WORK/err"
ok $? "the drop and the resume are reported"
grep -q "resolve/[0-9a-f]*/$SHARD1 range=- status=302" "$WORK/hub.log"; ok $? "LFS files come through a redirect"
[ "$(grep -c '^imp-chat: \[[1-9]/9\]' "$WORK/err")" -eq 9 ]; ok $? "one line per file when stderr is not a terminal"
! grep -qE "README|\.gitattributes|\.py |generation_config|images/" "$WORK/hub.log"
ok $? "README, .gitattributes, code and images are not downloaded"
one_shot; ok $? "one-shot run on the downloaded model without -m gives the fixture's ids"
one_shot -m MILVLG/imp-v1-3b; ok $? "-m MILVLG/imp-v1-3b finds the downloaded model"
run --list-models
grep -q "^store  *$STORE: complete \[in use\]" "$WORK/out"; ok $? "--list-models shows the store copy in use"

n=$(($(wc -l <"$WORK/hub.log") + 1))
run --download
[ "$rc" -eq 0 ] && [ "$(grep -c 'already there and verified' "$WORK/err")" -eq 9 ] &&
    ! requests "$n" | grep -v "resolve/[0-9a-f]*/model.safetensors.index.json" | grep -q resolve
ok $? "a second --download verifies and fetches nothing (the index is read for the plan)"

# a corrupt existing file is downloaded again: same size, other bytes (SHA-256 and git blob id)
printf 'X' | dd of="$STORE/$SHARD2" bs=1 seek=1000 conv=notrunc 2>/dev/null
sed 's/"hidden_size"/"hidden_sizf"/' "$MODEL/config.json" >"$STORE/config.json"
head -c 100 "$MODEL/vocab.json" >"$STORE/vocab.json"
run --download
[ "$rc" -eq 0 ] && same_files "$STORE"; ok $? "corrupt files are downloaded again"
grep -q "$SHARD2 is already there but its SHA-256 is [0-9a-f]*, the hub says" "$WORK/err"
ok $? "a wrong SHA-256 is reported"
grep -q "config.json is already there but its git blob id is" "$WORK/err"; ok $? "a changed small file is reported"
grep -q "vocab.json is already there but its size is 100 bytes, the hub says 1042301" "$WORK/err"
ok $? "a truncated file is reported"

# ---------------------------------------------------------------- HTTP failures
run --download test/wrong-hash
[ "$rc" -eq 1 ] && grep -q "$SHARD2: its SHA-256 is [0-9a-f]*, the hub says [0-9a-f]* (the download was removed)" "$WORK/err"
ok $? "a file whose hash differs from the hub's listing fails"
[ ! -e "$WORK/data/imp-chat/models/test--wrong-hash/$SHARD2" ] &&
    ! ls "$WORK/data/imp-chat/models/test--wrong-hash/"*.part >/dev/null 2>&1
ok $? "the wrong-hash file is neither in place nor kept"

run --download test/gated
[ "$rc" -eq 1 ] && grep -q "HTTP 401 (.*): test/gated needs a Hugging Face token, which is missing (set HF_TOKEN)" "$WORK/err"
ok $? "401 without a token says the token is missing"
HF_TOKEN=wrong-token; export HF_TOKEN
run --download test/gated
[ "$rc" -eq 1 ] && grep -q "HTTP 403 (.*): HF_TOKEN lacks access to test/gated" "$WORK/err"
ok $? "403 with a token says it lacks access"
HF_TOKEN=secret-token
run --download test/gated
[ "$rc" -eq 0 ] && same_files "$WORK/data/imp-chat/models/test--gated"; ok $? "the right HF_TOKEN is sent"
unset HF_TOKEN
mkdir -p "$HF_HOME" && echo secret-token >"$HF_HOME/token"
run --download test/gated
[ "$rc" -eq 0 ]; ok $? "the token file in HF_HOME is used when HF_TOKEN is unset"
rm -f "$HF_HOME/token"

run --download test/nothere
[ "$rc" -eq 1 ] && grep -q "api/models/test/nothere/revision/main: HTTP 404 (Repository not found): not found" "$WORK/err"
ok $? "404 for an unknown model"
run --download MILVLG/imp-v1-3b@nobranch
[ "$rc" -eq 1 ] && grep -q "HTTP 404 (Invalid rev id: nobranch)" "$WORK/err"; ok $? "404 for an unknown revision"
run --download not-an-id
[ "$rc" -eq 2 ] && grep -q -- '--download: "not-an-id" is not a hub id' "$WORK/err"; ok $? "--download with a bad id is a usage error"

run --download test/flaky
[ "$rc" -eq 0 ] && grep -q "revision/main: HTTP 503 (Service temporarily unavailable); retrying in 1 s (1 of 5)" "$WORK/err" &&
    grep -q "config.json: HTTP 429; retrying in 1 s (1 of 5)" "$WORK/err"
ok $? "503 and 429 are retried with back-off"

# ---------------------------------------------------------------- no network
closed=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
XDG_DATA_HOME="$WORK/data-offline"
HF_ENDPOINT="http://127.0.0.1:$closed" IMP_CHAT_DOWNLOAD_RETRIES=0 "$IMP_CHAT" --yes -p hi \
    >"$WORK/out" 2>"$WORK/err" </dev/null
rc=$?
[ "$rc" -eq 1 ] && grep -q "is not on this machine, and the hub http://127.0.0.1:$closed cannot be reached" "$WORK/err" &&
    grep -q "imp-chat --demo\` shows the chat on a tiny model shipped with imp-chat, and \`imp-chat -m DIR\`" "$WORK/err"
ok $? "no network, --yes: says the hub cannot be reached, offers --demo and -m"

# the first run offline, on a terminal: no question, the answer at once (one try, no retries)
HF_ENDPOINT="http://127.0.0.1:$closed" python3 "$HERE/ptyrun.py" --out "$WORK/pty" -- "$IMP_CHAT" -p hi
rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot be reached" "$WORK/pty" && grep -q -- "--demo" "$WORK/pty" &&
    ! grep -q "\[y/N\]" "$WORK/pty"
ok $? "the first run offline on a terminal points at --demo and -m, asks nothing"
# a network that swallows packets: a server that accepts the connection and never answers the TLS
# handshake; the lookup gives up after its 3 s wait (the answer within 5 s is the point; the bound
# checked here is loose because the machine may be busy)
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(60)' "$WORK/holeport" &
hole=$!
for i in $(seq 50); do [ -s "$WORK/holeport" ] && break; sleep 0.1; done
start=$(date +%s)
HF_ENDPOINT="https://127.0.0.1:$(cat "$WORK/holeport")" python3 "$HERE/ptyrun.py" --out "$WORK/pty" -- \
    "$IMP_CHAT" -p hi
rc=$?
elapsed=$(($(date +%s) - start))
kill $hole 2>/dev/null
[ "$rc" -eq 1 ] && grep -q "cannot be reached: .*timed out" "$WORK/pty" && [ "$elapsed" -lt 15 ]
ok $? "the first run behind a silent network answers after the 3 s wait (took $elapsed s)"
HF_ENDPOINT="http://127.0.0.1:$closed" IMP_CHAT_DOWNLOAD_RETRIES=1 "$IMP_CHAT" --download \
    >"$WORK/out" 2>"$WORK/err" </dev/null
rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot connect .*; retrying in 1 s (1 of 1)" "$WORK/err" &&
    grep -q "cannot connect .*(gave up after retrying)" "$WORK/err"
ok $? "no network: retried, then given up"
HF_ENDPOINT="http://nohost.invalid" IMP_CHAT_DOWNLOAD_RETRIES=0 "$IMP_CHAT" --download \
    >"$WORK/out" 2>"$WORK/err" </dev/null
rc=$?
[ "$rc" -eq 1 ] && grep -q "nohost.invalid/api/models/MILVLG/imp-v1-3b/revision/main: cannot resolve the host name (no network, or a wrong HF_ENDPOINT?)" "$WORK/err"
ok $? "DNS failure: a clear message"
IMP_CHAT_DOWNLOAD_RETRIES=many "$IMP_CHAT" --download >"$WORK/out" 2>"$WORK/err" </dev/null
[ $? -eq 1 ] && grep -q "IMP_CHAT_DOWNLOAD_RETRIES=many: expected a number from 0 to 100" "$WORK/err"
ok $? "a bad IMP_CHAT_DOWNLOAD_RETRIES is refused"

# ---------------------------------------------------------------- --yes, write failures, Ctrl-C
XDG_DATA_HOME="$WORK/data-yes"
one_shot --yes; ok $? "--yes downloads without asking, then answers"
same_files "$WORK/data-yes/imp-chat/models/imp-v1-3b"; ok $? "--yes: the files are in the store"

# a write that fails part-way (file size limit; SIGXFSZ ignored so write returns EFBIG)
XDG_DATA_HOME="$WORK/data-full"
dest="$WORK/data-full/imp-chat/models/imp-v1-3b"
(ulimit -f 4000 && trap '' XFSZ && exec "$IMP_CHAT" --download) >"$WORK/out" 2>"$WORK/err" </dev/null
rc=$?
[ "$rc" -eq 1 ] && grep -q "$dest/$SHARD1\.[0-9a-f]*\.part: write failed: File too large" "$WORK/err"
ok $? "a failed write names the partial file and the error"
part=$(ls "$dest"/$SHARD1.*.part 2>/dev/null)
[ -s "$part" ] && [ ! -e "$dest/$SHARD1" ]; ok $? "after a failed write the partial file is kept"
run --download
[ "$rc" -eq 0 ] && grep -q "$SHARD1: .*resumed from" "$WORK/err" && same_files "$dest"
ok $? "the next --download resumes after the failed write"

# disk full: the partial file's name leads to /dev/full, where every write fails with ENOSPC
if [ -w /dev/full ]; then
    XDG_DATA_HOME="$WORK/data-nospace"
    dest="$WORK/data-nospace/imp-chat/models/imp-v1-3b"
    mkdir -p "$dest"
    ln -s /dev/full "$dest/$SHARD1.$(sha256sum "$MODEL/$SHARD1" | cut -c1-12).part"
    run --download
    [ "$rc" -eq 1 ] && grep -q "write failed: No space left on device (free some space, then run the same command again: it resumes from here)" "$WORK/err"
    ok $? "disk full: the message says to free space and run the command again"
else
    echo "disk full: skipped (no /dev/full)"
fi

XDG_DATA_HOME="$WORK/data-int"
dest="$WORK/data-int/imp-chat/models/test--slow"
"$IMP_CHAT" --download test/slow >"$WORK/out" 2>"$WORK/err" </dev/null &
pid=$!
for i in $(seq 200); do
    part=$(ls "$dest"/$SHARD1.*.part 2>/dev/null)
    [ -n "$part" ] && [ -s "$part" ] && break
    sleep 0.05
done
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ]; ok $? "Ctrl-C during a download: exit status 130 (got $rc)"
grep -q "download interrupted; the partial file $dest/$SHARD1\.[0-9a-f]*\.part is kept: run \`imp-chat --download test/slow\` (or this command) again to resume" "$WORK/err"
ok $? "Ctrl-C: one line saying how to resume"
[ -s "$part" ] && [ ! -e "$dest/$SHARD1" ]; ok $? "Ctrl-C: the partial file is kept, nothing in place"
n=$(($(wc -l <"$WORK/hub.log") + 1))
run --download test/slow
[ "$rc" -eq 0 ] && same_files "$dest"; ok $? "the download after Ctrl-C completes"
requests "$n" | grep -q "/cdn/test--slow/[0-9a-f]*/$SHARD1 range=bytes=[1-9][0-9]*- status=206"
ok $? "the download after Ctrl-C resumes the partial file with a Range request"

# servers that ignore Range (200: start over) or refuse it (416: start over)
for repo in norange range416; do
    XDG_DATA_HOME="$WORK/data-$repo"
    dest="$WORK/data-$repo/imp-chat/models/test--$repo"
    mkdir -p "$dest"
    head -c 1000 "$MODEL/$SHARD1" >"$dest/$SHARD1.$(sha256sum "$MODEL/$SHARD1" | cut -c1-12).part"
    run --download test/$repo
    [ "$rc" -eq 0 ] && same_files "$dest"; ok $? "test/$repo: a partial file is started over"
done
grep -q "/cdn/test--norange/[0-9a-f]*/$SHARD1 range=bytes=1000- status=200" "$WORK/hub.log"
ok $? "test/norange: the Range request was answered with the whole file"
grep -q "/cdn/test--range416/[0-9a-f]*/$SHARD1 range=bytes=1000- status=416" "$WORK/hub.log"
ok $? "test/range416: the Range request was refused"

# ---------------------------------------------------------------- the Hugging Face cache
XDG_DATA_HOME="$WORK/data-cache"
repo="$WORK/hf/models--MILVLG--imp-v1-3b"
good=1111111111111111111111111111111111111111
bad=2222222222222222222222222222222222222222
mkdir -p "$repo/blobs" "$repo/refs" "$repo/snapshots/$good" "$repo/snapshots/$bad"
for f in $FILES; do
    blob=$(sha256sum "$MODEL/$f" | cut -c1-64)
    cp "$MODEL/$f" "$repo/blobs/$blob"
    ln -s "../../blobs/$blob" "$repo/snapshots/$good/$f"
    [ "$f" = "$SHARD2" ] || ln -s "../../blobs/$blob" "$repo/snapshots/$bad/$f"
done
echo $good >"$repo/refs/main"
run --list-models
[ "$rc" -eq 0 ] && grep -q "^hf-cache  *$repo/snapshots/$good: complete (MILVLG/imp-v1-3b@main) \[in use\]" "$WORK/out"
ok $? "--list-models shows the cache snapshot in use"
grep -q "^hf-cache  *$repo/snapshots/$bad: incomplete: $SHARD2 missing" "$WORK/out"
ok $? "--list-models shows the incomplete snapshot and why"
n=$(($(wc -l <"$WORK/hub.log") + 1))
one_shot; ok $? "one-shot run on the cache snapshot (symbolic links) without -m"
[ ! -e "$WORK/data-cache/imp-chat" ]; ok $? "the cache snapshot is used in place (nothing copied)"
echo $bad >"$repo/refs/main"
run --list-models
grep -q "^hf-cache  *$repo/snapshots/$good: complete \[in use\]" "$WORK/out" &&
    grep -q "^hf-cache  *$repo/snapshots/$bad: incomplete: $SHARD2 missing (MILVLG/imp-v1-3b@main)" "$WORK/out"
ok $? "main names an incomplete snapshot: it is skipped for the complete one"
one_shot; ok $? "one-shot run with main naming an incomplete snapshot"
run --download
[ "$rc" -eq 0 ] && grep -q "MILVLG/imp-v1-3b is already in the Hugging Face cache: $repo/snapshots/$good" "$WORK/err"
ok $? "--download when the cache holds the model downloads nothing"
! requests "$n" | grep -q .; ok $? "the cache runs asked nothing of the hub"
rm -rf "$repo"

# ---------------------------------------------------------------- the question on a terminal
XDG_DATA_HOME="$WORK/data-ask"
dest="$WORK/data-ask/imp-chat/models/imp-v1-3b"
python3 "$HERE/ptyrun.py" --expect "[y/N]" --answer n --out "$WORK/pty" -- "$IMP_CHAT" -p hi
rc=$?
[ "$rc" -eq 1 ] && grep -q "download MILVLG/imp-v1-3b (19 MB) to $dest? \[y/N\]" "$WORK/pty" &&
    grep -q "not downloaded: \`imp-chat --download\` downloads it later" "$WORK/pty" && [ ! -e "$dest/$SHARD1" ]
ok $? "on a terminal the question states the size; 'n' downloads nothing"
python3 "$HERE/ptyrun.py" --expect "[y/N]" --answer y --out "$WORK/pty" -- \
    "$IMP_CHAT" -p "$PROMPT" -n 12 --print-ids
rc=$?
[ "$rc" -eq 0 ] && grep -q "$WANT_IDS" "$WORK/pty" && same_files "$dest"
ok $? "'y' downloads the model, then the prompt is answered"
grep -q "\[9/9\] $SHARD2 \[#*> *\]  *[0-9]*%" "$WORK/pty" && grep -q "$(printf '\r\033\\[K')imp-chat: \[9/9\]" "$WORK/pty"
ok $? "on a terminal a bar is drawn and erased before each finished file's line"

# Ctrl-C on a terminal: the bar is erased before the message, nothing is drawn after it
XDG_DATA_HOME="$WORK/data-ctrlc"
python3 "$HERE/ptyrun.py" --expect "[8/9] $SHARD1" --answer ^C --out "$WORK/pty" -- \
    "$IMP_CHAT" --download test/slow
rc=$?
tail -c 400 "$WORK/pty" | tr '\r' '\n' >"$WORK/pty.tail"
[ "$rc" -eq 130 ] && grep -q "$(printf '\033\\[K')imp-chat: download interrupted" "$WORK/pty" &&
    [ "$(tail -n 1 "$WORK/pty.tail")" = "" ] && grep -q "to resume$" "$WORK/pty.tail"
ok $? "Ctrl-C on a terminal leaves a clean line and exits with 130"

# ---------------------------------------------------------------- --demo
run --demo -p "$PROMPT" -n 12
[ "$rc" -eq 0 ] && [ -s "$WORK/out" ] && grep -q "demo mode: .*its replies are noise" "$WORK/err"
ok $? "--demo -p runs the tiny model with the banner"
run --demo -m "$MODEL"
[ "$rc" -eq 2 ] && grep -q -- "--demo cannot be combined with -m" "$WORK/err"; ok $? "--demo with -m is a usage error"
run --help
grep -q -- "--download \[ID\[@REV\]\]" "$WORK/out" && grep -q -- "--list-models" "$WORK/out" &&
    grep -q -- "--yes" "$WORK/out" && grep -q -- "--demo" "$WORK/out"
ok $? "--help lists the new options"

finish
