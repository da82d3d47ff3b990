#!/bin/sh
# The command-line contract on the tiny fixture model: --tokenize, --preprocess, one-shot replies
# (text and ids, streamed), --dump-logits, multi-turn --script with the cache reused, sampling.
. "$(dirname "$0")/lib.sh"

# --tokenize
run -m "$MODEL" --tokenize "Hello  world"
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "15496 50286 6894" ]; ok $? "--tokenize Hello  world"
run -m "$MODEL" --tokenize "</s>USER: hi"
[ "$(cat "$WORK/out")" = "50295 29904 25 23105" ]; ok $? "--tokenize splits added tokens first"

# --version: the CUDA architectures compiled in, as configure recorded them in config.h
run --version
config_h="$TOOLDIR/../config.h"
sass=$(sed -n 's/^#define IMP_CUDA_SASS "\(.*\)"$/\1/p' "$config_h")
ptx=$(sed -n 's/^#define IMP_CUDA_PTX "\(.*\)"$/\1/p' "$config_h")
if ! grep -q '^#define HAVE_CUDA 1' "$config_h"; then
    want="CUDA: not built"
elif [ "$sass" = native ]; then
    want="CUDA: native (the build machine's GPU)"
else
    want="CUDA:$(for a in $sass; do printf ' sm_%s' "$a"; done)${ptx:+ + PTX compute_$ptx}"
fi
[ "$rc" -eq 0 ] && [ "$(sed -n 1p "$WORK/out")" = "imp-chat $(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$config_h")" ] &&
    [ "$(sed -n 2p "$WORK/out")" = "$want" ]
ok $? "--version names the version and the CUDA architectures ($want)"

# a weight beyond fp16's range runs on the CPU, which keeps F32 weights in fp32 (the CUDA backend
# refuses it: test_cuda.sh)
"$TOOLDIR/tool_badmodel" f32-overflow "$MODEL" "$WORK/overflow" >/dev/null
run -m "$WORK/overflow" --backend cpu -p "Hi" -n 2 --print-ids
[ "$rc" -eq 0 ] && [ "$(wc -w <"$WORK/out")" -eq 2 ] && [ ! -s "$WORK/err" ]
ok $? "--backend cpu runs a model with a weight beyond fp16's range"

# --preprocess: exactly PIL's 384x384 image, JPEG (libjpeg-turbo), EXIF orientation, WebP, GIF included
for name in chelsea logo camera grid384; do
    run --preprocess "$IMAGES/$name.png" --out "$WORK/$name.png"
    [ "$rc" -eq 0 ] && "$TOOLDIR/tool_compare" png "$WORK/$name.png" "$EXPECTED/$name.384.png" 0
    ok $? "--preprocess $name.png is exactly the expected 384x384 image"
done
run --preprocess "$IMAGES/rocket.jpg" --out "$WORK/rocket.png"
[ "$rc" -eq 0 ] && "$TOOLDIR/tool_compare" png "$WORK/rocket.png" "$EXPECTED/rocket.384.png" 0
ok $? "--preprocess rocket.jpg is exactly the expected 384x384 image"
for name in jpeg422.jpg exif6.jpg webplossy.webp gifalpha.gif; do
    run --preprocess "$IMAGES/pil/$name" --out "$WORK/$name.png"
    [ "$rc" -eq 0 ] && "$TOOLDIR/tool_compare" png "$WORK/$name.png" "$IMAGES/pil/$name.384.ref.png" 0
    ok $? "--preprocess $name is exactly PIL's 384x384 image"
done

# one-shot greedy ids and logits
run -m "$MODEL" --backend cpu -p "What is the capital of France?" -n 12 --print-ids \
    --dump-logits "$WORK/text.logits"
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "$(expected_ids text 0)" ]
ok $? "one-shot text case: greedy ids"
# 1e-3: the KV cache holds fp16 (see TOL_LOGITS in test_model.c)
"$TOOLDIR/tool_compare" floats "$WORK/text.logits" "$EXPECTED/text.turn0.logits.bin" 1e-3
ok $? "one-shot text case: --dump-logits within 1e-3"

run -m "$MODEL" --backend cpu -i "$IMAGES/chelsea.png" -p "What animal is in the picture?" -n 12 \
    --print-ids --dump-logits "$WORK/image.logits"
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "$(expected_ids image 0)" ]
ok $? "one-shot image case: greedy ids"
"$TOOLDIR/tool_compare" floats "$WORK/image.logits" "$EXPECTED/image.turn0.logits.bin" 1e-3
ok $? "one-shot image case: --dump-logits within 1e-3"

# text output: the decoded reply, leading space stripped, newline at the end
run -m "$MODEL" -p "What is the capital of France?" -n 12
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "agreed Purchaseppyhra GOODMANDesign Heroic seensis minedabbage" ]
ok $? "one-shot text reply"

# -p - reads the prompt from stdin
printf 'What is the capital of France?\n' | "$IMP_CHAT" -m "$MODEL" -p - -n 12 --print-ids >"$WORK/out" 2>"$WORK/err"
[ "$(cat "$WORK/out")" = "$(expected_ids text 0)" ]; ok $? "-p - reads the prompt from stdin"

# multi-turn through --script: same ids, and turn 2 runs only its new positions
cat >"$WORK/multi.txt" <<EOS
/image $IMAGES/chelsea.png
Describe the image.
What color is it?
EOS
run -m "$MODEL" --script "$WORK/multi.txt" -n 8 --print-ids --stats
printf '%s\n%s\n' "$(expected_ids multiturn 0)" "$(expected_ids multiturn 1)" >"$WORK/want"
[ "$rc" -eq 0 ] && cmp -s "$WORK/out" "$WORK/want"; ok $? "--script multi-turn greedy ids"
len0=$("$TOOLDIR/tool_compare" prompt-len "$EXPECTED/expected.json" multiturn 0)
len1=$("$TOOLDIR/tool_compare" prompt-len "$EXPECTED/expected.json" multiturn 1)
ids0=$(expected_ids multiturn 0)
ngen0=$(echo "$ids0" | wc -w)
last0=$(echo "$ids0" | awk '{print $NF}')
pending=1; [ "$last0" != 50295 ] && pending=2
turn1_pos=$((len0 - 1 + 729))
reused=$((turn1_pos + ngen0 - 1))
new=$((pending + len1))
grep "turn:" "$WORK/err" | sed -n 2p | grep -q "reused $reused positions, new $new positions"
ok $? "turn 2 reused $reused cached positions and ran only $new new ones"
grep "turn:" "$WORK/err" | sed -n 1p | grep -q "reused 0 positions, new $turn1_pos positions, 1 image(s) encoded"
ok $? "turn 1 ran its $turn1_pos positions"

# the same image twice in a session is encoded once
cat >"$WORK/twice.txt" <<EOS
/image $IMAGES/chelsea.png
Describe the image.
/clear
/image $IMAGES/chelsea.png
Describe the image.
EOS
run -m "$MODEL" --script "$WORK/twice.txt" -n 2 --print-ids --stats
grep "turn:" "$WORK/err" | sed -n 2p | grep -q "0 image(s) encoded"; ok $? "a cached image is not encoded again"

# sampling is deterministic for a seed
run -m "$MODEL" -p "Tell me a story." -n 10 --temp 0.8 --top-k 50 --top-p 0.9 --repeat-penalty 1.1 --seed 42 --print-ids
cp "$WORK/out" "$WORK/sample1"
run -m "$MODEL" -p "Tell me a story." -n 10 --temp 0.8 --top-k 50 --top-p 0.9 --repeat-penalty 1.1 --seed 42 --print-ids
[ "$rc" -eq 0 ] && [ -s "$WORK/out" ] && cmp -s "$WORK/out" "$WORK/sample1"; ok $? "same seed, same ids"

# /set and /system in scripts
cat >"$WORK/set.txt" <<EOS
/set max-tokens 3
Hello
/set temp 0.5
/set seed 9
/system You are terse.
Hello
/set bogus 1
EOS
run -m "$MODEL" --script "$WORK/set.txt" --print-ids
[ "$(sed -n 1p "$WORK/out" | wc -w)" -eq 3 ] || grep -q 50295 "$WORK/out"; ok $? "/set max-tokens limits the reply"
[ "$(wc -l <"$WORK/out")" -eq 2 ]; ok $? "two replies in the /set script"
grep -q 'set.txt:7: /set: unknown setting "bogus"' "$WORK/err"; ok $? "unknown /set names the file and line"
[ "$rc" -eq 1 ]; ok $? "a script with a failed line exits with status 1"

# /regen: greedy gives the same reply again, running no prompt positions
printf 'Hello there\n/regen\n' >"$WORK/regen.txt"
run -m "$MODEL" --script "$WORK/regen.txt" -n 6 --print-ids --stats
[ "$rc" -eq 0 ] && [ "$(wc -l <"$WORK/out")" -eq 2 ] && [ "$(sed -n 1p "$WORK/out")" = "$(sed -n 2p "$WORK/out")" ]
ok $? "/regen gives the same greedy reply"
grep "turn:" "$WORK/err" | sed -n 2p | grep -q "new 0 positions"; ok $? "/regen ran no prompt positions"

# a full context drops the oldest turns, says so, and the session goes on
cat >"$WORK/full.txt" <<EOS
/set max-tokens 0
First question, a long one with many words in it.
Second one.
Third.
/set max-tokens 3
Describe everything you saw so far in great detail, please, with colours, shapes, positions and anything else that stands out.
EOS
run -m "$MODEL" --script "$WORK/full.txt" --ctx 90 --print-ids
[ "$rc" -eq 0 ] && grep -q "context full: dropped the oldest 1 exchange(s) to make room" "$WORK/err"
ok $? "a full context drops the oldest turn with a notice"
[ "$(sed -n 4p "$WORK/out" | wc -w)" -ge 1 ]; ok $? "the message after the drop is answered"

# the config file: settings apply unless the command line gives them; problems are notices
mkdir -p "$WORK/cfg/imp-chat"
cat >"$WORK/cfg/imp-chat/config" <<EOS
# comment
max-tokens = 2
temp: 0.5
bogus-setting = 1
top-k = many
prompt = hi
EOS
XDG_CONFIG_HOME="$WORK/cfg" run -m "$MODEL" -p "Hello" --print-ids
[ "$rc" -eq 0 ] && [ "$(wc -w <"$WORK/out")" -le 2 ]; ok $? "config max-tokens applies"
grep -q 'config:3: unknown setting "temp:"' "$WORK/err" && grep -q 'config:4: unknown setting "bogus-setting"' "$WORK/err"
ok $? "unknown config settings name the file and line"
grep -q 'config:5: top-k: invalid value "many"' "$WORK/err"; ok $? "a bad config value names the file and line"
grep -q 'config:6: "prompt" cannot be set in the config file' "$WORK/err"; ok $? "one-shot options stay out of the config"
XDG_CONFIG_HOME="$WORK/cfg" run -m "$MODEL" -p "Hello" --print-ids -n 5
[ "$rc" -eq 0 ] && [ "$(wc -w <"$WORK/out")" -ge 3 ] || grep -q 50295 "$WORK/out"; ok $? "the command line wins over the config"
run -m "$MODEL" -p "Hello" --config "$WORK/no-such-config"
[ "$rc" -eq 2 ] && grep -q "no-such-config: No such file" "$WORK/err"; ok $? "a missing --config file is an error"

# usage errors: status 2 and a message naming the option
run -m "$MODEL" --temp abc -p hi
[ "$rc" -eq 2 ] && grep -q -- '--temp: invalid value "abc"' "$WORK/err"; ok $? "bad --temp is a usage error"
run --no-such-option
[ "$rc" -eq 2 ] && grep -q 'unknown option --no-such-option' "$WORK/err"; ok $? "unknown option"
run -m "$MODEL" --backend tpu -p hi
[ "$rc" -eq 2 ]; ok $? "unknown backend"
run --help
[ "$rc" -eq 0 ] && grep -q -- '--dump-logits' "$WORK/out"; ok $? "--help lists the options"

finish
