#!/bin/sh
# Every bad input gets one clear line on stderr naming what and where, exit status 1 in one-shot
# mode, no crash and nothing on stdout; in --script mode a bad /image is reported and the session
# goes on.
. "$(dirname "$0")/lib.sh"

# expect_error DESCRIPTION PATTERN ARGS...: one-shot fails cleanly with PATTERN on stderr.
expect_error() {
    desc=$1 pattern=$2
    shift 2
    run "$@"
    [ "$rc" -eq 1 ]; ok $? "$desc: exit status 1 (got $rc)"
    no_crash; ok $? "$desc: no crash"
    [ ! -s "$WORK/out" ]; ok $? "$desc: nothing on stdout"
    [ "$(errors_only | wc -l)" -eq 1 ] && errors_only | grep -q -- "$pattern"
    ok $? "$desc: one line on stderr matching '$pattern'"
}

expect_error "no model folder" "$WORK/nowhere: No such file or directory" -m "$WORK/nowhere" -p hi
: >"$WORK/plainfile"
expect_error "model path is a file" "not a folder" -m "$WORK/plainfile" -p hi
# no -m and no model anywhere (empty cache and store): the command that downloads it is named
HF_HUB_CACHE="$WORK/no-cache" XDG_DATA_HOME="$WORK/no-data" IMP_CHAT_MODEL= "$IMP_CHAT" -p hi \
    >"$WORK/out" 2>"$WORK/err" </dev/null
rc=$?
[ "$rc" -eq 1 ] && grep -q "download it with \`imp-chat --download\`" "$WORK/err"
ok $? "no -m at all"

# broken model folders, made from the fixture by tool_badmodel
bad() {
    kind=$1 pattern=$2
    "$TOOLDIR/tool_badmodel" "$kind" "$MODEL" "$WORK/$kind" || { ok 1 "tool_badmodel $kind"; return; }
    expect_error "model: $kind" "$pattern" -m "$WORK/$kind" -p hi -n 1
    rm -rf "$WORK/$kind"
}
bad missing-shard "model-00002-of-00002.safetensors: No such file or directory"
bad truncated-shard "model-0000[12]-of-00002.safetensors"
bad absurd-header "header"
bad bad-json-header "model-0000[12]-of-00002.safetensors.*JSON"
bad offset-out-of-range "tensor .*"
bad offset-mismatch "tensor .*"
bad overlap "overlap"
bad unknown-dtype "unknown dtype"
bad wrong-shape "has shape .* but .* was expected"
bad missing-tensor "is missing (expected shape"
bad no-config "config.json: No such file or directory"
bad config-missing-key "config.json: missing key"
bad bad-config-json "config.json"
bad no-vocab "vocab.json"
bad bad-vocab "vocab.json"
bad no-merges "merges.txt"
bad bad-merges "merges.txt"

# valid variants load and give the same greedy ids
for kind in single-file bf16 f32; do
    "$TOOLDIR/tool_badmodel" "$kind" "$MODEL" "$WORK/$kind"
    run -m "$WORK/$kind" -p "What is the capital of France?" -n 12 --print-ids
    if [ "$kind" = bf16 ]; then
        # bf16 rounding changes the weights: it must load and run, not match fp16 ids
        [ "$rc" -eq 0 ] && [ -s "$WORK/out" ]; ok $? "model: $kind loads and runs"
    else
        [ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "$(expected_ids text 0)" ]; ok $? "model: $kind gives the same ids"
    fi
    rm -rf "$WORK/$kind"
done

# bad images
mkdir -p "$WORK/adir"
: >"$WORK/empty.png"
# a PNG header claiming 20000 x 10 pixels
printf '\211PNG\r\n\032\n\000\000\000\015IHDR\000\000\116\040\000\000\000\012\010\002\000\000\000\000\000\000\000' >"$WORK/huge.png"
expect_error "image missing" "$WORK/missing.png.*No such file" -m "$MODEL" -i "$WORK/missing.png" -p hi
expect_error "image is a directory" "$WORK/adir" -m "$MODEL" -i "$WORK/adir" -p hi
expect_error "image not an image" "not-an-image.png" -m "$MODEL" -i "$IMAGES/not-an-image.png" -p hi
expect_error "image truncated" "truncated.jpg.*truncated" -m "$MODEL" -i "$IMAGES/truncated.jpg" -p hi
expect_error "image empty" "empty.png.*empty" -m "$MODEL" -i "$WORK/empty.png" -p hi
expect_error "image too large" "huge.png.*20000" -m "$MODEL" -i "$WORK/huge.png" -p hi
if [ "$(id -u)" -ne 0 ]; then
    cp "$IMAGES/chelsea.png" "$WORK/locked.png" && chmod 000 "$WORK/locked.png"
    expect_error "image unreadable" "locked.png.*Permission denied" -m "$MODEL" -i "$WORK/locked.png" -p hi
else
    echo "image unreadable: skipped (root reads every file)"
fi

# hostile image files: each refused quickly with one line naming the file
PIL="$IMAGES/pil"
for f in jpeg420.jpg jpegprog.jpg grey16.png gifalpha.gif bmp24.bmp tgarle.tga ppm8.ppm webplossy.webp webpanim.webp; do
    size=$(wc -c <"$PIL/$f")
    head -c $((size / 2)) "$PIL/$f" >"$WORK/half-$f"
    start=$(date +%s)
    expect_error "image cut in half ($f)" "half-$f: .*\(truncated\|corrupt\)" -m "$MODEL" -i "$WORK/half-$f" -p hi
    [ $(($(date +%s) - start)) -le 5 ]; ok $? "image cut in half ($f): refused within seconds"
done
# found by the image fuzz target: 103 bytes declaring 3855x3855 pixels
tga_fuzz="$FIXTURES/../fuzz/image/regress/tga-3855x3855-in-103-bytes.tga"
expect_error "TGA declaring 15 megapixels in 103 bytes" "tga-3855x3855-in-103-bytes.tga: truncated TGA" -m "$MODEL" -i "$tga_fuzz" -p hi
mkfifo "$WORK/pipe.png"
start=$(date +%s)
"$IMP_CHAT" -m "$MODEL" -i "$WORK/pipe.png" -p hi >"$WORK/out" 2>"$WORK/err" </dev/null &
pid=$!
( sleep 20; kill $pid 2>/dev/null ) &
watchdog=$!
wait $pid; rc=$?
kill $watchdog 2>/dev/null
[ "$rc" -eq 1 ] && [ $(($(date +%s) - start)) -le 10 ] && errors_only | grep -q "pipe.png: a named pipe (FIFO), not a regular file"
ok $? "image is a FIFO: refused without blocking"
LC_ALL=C awk 'BEGIN { srand(7); printf "U"; for (i = 1; i < 4096; i++) printf "%c", 1 + int(rand() * 255) }' >"$WORK/noise.png"
expect_error "image of random bytes" "noise.png: not an image in a supported format" -m "$MODEL" -i "$WORK/noise.png" -p hi
printf '#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n\002\002' >"$WORK/sky.hdr"
expect_error "Radiance HDR image" "sky.hdr: unsupported image format (Radiance HDR); supported formats: PNG, JPEG, WebP" -m "$MODEL" -i "$WORK/sky.hdr" -p hi
printf 'P6\n99999999999999999999 3\n255\n\001\002\003' >"$WORK/overflow.ppm"
expect_error "PNM header with an overflowing number" "overflow.ppm: PNM header with an absurd number" -m "$MODEL" -i "$WORK/overflow.ppm" -p hi
printf 'P6\n20000 20000\n255\n\001\002\003' >"$WORK/huge.ppm"
expect_error "PNM declaring 20000x20000" "huge.ppm: 20000x20000 is too large: at most 16384 a side and 64 megapixels" -m "$MODEL" -i "$WORK/huge.ppm" -p hi
hostile="$WORK/$(printf 'bad\033[2Jname\007.png')"
cp "$PIL/gifalpha.gif" "$hostile" && head -c 100 "$PIL/gifalpha.gif" >"$hostile"
expect_error "image with control bytes in its name" "bad^\[\[2Jname^G.png: truncated GIF" -m "$MODEL" -i "$hostile" -p hi
! grep -q "$(printf '\033')" "$WORK/err"; ok $? "image with control bytes in its name: no raw escape on stderr"

# a prompt longer than the context
yes "hello" | head -n 3200 | tr '\n' ' ' >"$WORK/long.txt"
"$IMP_CHAT" -m "$MODEL" -p - -n 1 <"$WORK/long.txt" >"$WORK/out" 2>"$WORK/err"; rc=$?
[ "$rc" -eq 1 ] && [ ! -s "$WORK/out" ] && errors_only | grep -q "positions but the context holds 3072"
ok $? "a prompt longer than the context is refused"
run -m "$MODEL" --context 700 -i "$IMAGES/chelsea.png" -p "What is this?"
[ "$rc" -eq 1 ] && errors_only | grep -q "729 of them for 1 image"; ok $? "an image that does not fit the context is refused"

# --script: a bad /image is reported with file and line; the session goes on
cat >"$WORK/s.txt" <<EOS
/image $WORK/missing.png
/image $IMAGES/truncated.jpg
/image $WORK/half-gifalpha.gif
What is the capital of France?
EOS
run -m "$MODEL" --script "$WORK/s.txt" -n 12 --print-ids
grep -q "s.txt:1: $WORK/missing.png" "$WORK/err"; ok $? "script: missing image reported with its line"
grep -q "s.txt:2: .*truncated.jpg" "$WORK/err"; ok $? "script: truncated image reported with its line"
grep -q "s.txt:3: .*half-gifalpha.gif: truncated GIF" "$WORK/err"; ok $? "script: truncated GIF reported with its line"
[ "$(cat "$WORK/out")" = "$(expected_ids text 0)" ]; ok $? "script: the session went on without the bad images"
no_crash; ok $? "script: no crash"

# hostile bytes in the prompt never crash anything
printf 'caf\303\251 \377\376 \033[2J \000 end' >"$WORK/hostile.txt"
"$IMP_CHAT" -m "$MODEL" -p - -n 4 --print-ids <"$WORK/hostile.txt" >"$WORK/out" 2>"$WORK/err"; rc=$?
[ "$rc" -eq 0 ] && no_crash; ok $? "invalid UTF-8 and escapes in a prompt"

finish
