#!/bin/sh
# --weights on the command line: which mode runs (the CPU's default q8, the config file, the
# environment, the option), q8 and q4 replies end to end, and the bad inputs: an unknown mode, a
# mode on a backend without a device, NaN and infinite weights named with their tensor.
. "$(dirname "$0")/lib.sh"

PROMPT="What is the capital of France?"

# mode_of ARGS...: the weights mode imp-chat reports running (--stats), or "failed"
mode_of() {
    run --backend cpu --stats -p "$PROMPT" -n 1 --print-ids "$@"
    if [ "$rc" -ne 0 ]; then
        echo failed
        return
    fi
    sed -n 's/^imp-chat: the cpu backend runs \([a-z0-9]*\) weights$/\1/p' "$WORK/err"
}

# the test environment asks for f16 (IMP_CHAT_WEIGHTS); without it the CPU runs q8
saved=$IMP_CHAT_WEIGHTS
unset IMP_CHAT_WEIGHTS
[ "$(mode_of -m "$MODEL" --no-config)" = q8 ]; ok $? "the CPU runs q8 when not told"
mkdir -p "$WORK/conf/imp-chat"
echo "weights = q4" >"$WORK/conf/imp-chat/config"
[ "$(XDG_CONFIG_HOME="$WORK/conf" mode_of -m "$MODEL")" = q4 ]; ok $? "weights = q4 in the config file"
[ "$(XDG_CONFIG_HOME="$WORK/conf" mode_of -m "$MODEL" --weights f16)" = f16 ]
ok $? "--weights wins over the config file"
[ "$(IMP_CHAT_WEIGHTS=q4 mode_of -m "$MODEL" --no-config)" = q4 ]; ok $? "IMP_CHAT_WEIGHTS=q4"
echo "weights = q8" >"$WORK/conf/imp-chat/config"
[ "$(XDG_CONFIG_HOME="$WORK/conf" IMP_CHAT_WEIGHTS=q4 mode_of -m "$MODEL")" = q8 ]
ok $? "the config file wins over IMP_CHAT_WEIGHTS"
IMP_CHAT_WEIGHTS=$saved
export IMP_CHAT_WEIGHTS

# q4 answers end to end on every kernel level this CPU has, with the same ids (test_quant compares
# the levels' products one by one, q8 included)
first=
for level in portable avx2 avx512; do
    IMP_CPU_KERNELS=$level run -m "$MODEL" --backend cpu --weights q4 -p "$PROMPT" -n 8 --print-ids
    [ "$rc" -eq 0 ] && [ "$(wc -w <"$WORK/out")" -eq 8 ]
    ok $? "--weights q4 with IMP_CPU_KERNELS=$level: 8 ids"
    [ -z "$first" ] && first=$(cat "$WORK/out")
    [ "$(cat "$WORK/out")" = "$first" ]; ok $? "--weights q4: $level gives the portable kernels' ids"
done
IMP_CPU_KERNELS=sse run -m "$MODEL" --backend cpu -p "$PROMPT" -n 1 --print-ids
[ "$rc" -eq 0 ] && grep -q "^imp-chat: IMP_CPU_KERNELS: unknown value (expected portable, avx2 or avx512); ignored$" "$WORK/err"
ok $? "an unknown IMP_CPU_KERNELS is named and ignored"

# the old layout's fused Wqkv is quantized row view by row view: the same model as the new layout
"$TOOLDIR/tool_oldlayout" "$MODEL" "$WORK/old" >/dev/null 2>&1 || ok 1 "tool_oldlayout"
for mode in q4; do
    run -m "$MODEL" --backend cpu --weights $mode -p "$PROMPT" -n 8 --print-ids --dump-logits "$WORK/new.bin"
    cp "$WORK/out" "$WORK/new.ids"
    run -m "$WORK/old" --backend cpu --weights $mode -p "$PROMPT" -n 8 --print-ids --dump-logits "$WORK/old.bin"
    [ "$rc" -eq 0 ] && cmp -s "$WORK/out" "$WORK/new.ids" &&
        "$TOOLDIR/tool_compare" floats "$WORK/old.bin" "$WORK/new.bin" 1e-4 >/dev/null
    ok $? "--weights $mode: the old layout gives the new layout's ids and logits"
done

# an unknown mode: one line naming the option, status 2
run -m "$MODEL" --weights q5 -p "$PROMPT"
[ "$rc" -eq 2 ] && grep -q '^imp-chat: --weights: unknown mode "q5" (expected f16, q8 or q4)$' "$WORK/err"
ok $? "--weights q5 is a usage error"
IMP_CHAT_WEIGHTS=q9 run -m "$MODEL" -p "$PROMPT"
[ "$rc" -eq 2 ] && grep -q '^imp-chat: IMP_CHAT_WEIGHTS: unknown mode "q9"' "$WORK/err"
ok $? "IMP_CHAT_WEIGHTS=q9 is a usage error"

# every mode runs on CUDA too: without a device, --backend cuda --weights q4 fails for the device's
# reason alone, and auto runs q8 on the CPU saying why (test_cuda.sh runs them on a device)
run -m "$MODEL" --backend cuda --weights q4 -p "$PROMPT" -n 2 --print-ids
if [ "$rc" -eq 0 ]; then
    [ "$(wc -w <"$WORK/out")" -eq 2 ]; ok $? "--backend cuda --weights q4 runs"
elif grep -q "built without CUDA" "$WORK/err"; then
    [ "$rc" -eq 1 ]; ok $? "--backend cuda --weights q4 without CUDA: status 1"
else
    [ "$rc" -eq 1 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ] &&
        grep -q "^imp-chat: CUDA backend unavailable: " "$WORK/err" && ! grep -q "q4" "$WORK/err"
    ok $? "--backend cuda --weights q4 without a device: refused for the device, not the mode"
    run -m "$MODEL" --weights q8 -p "$PROMPT" -n 2 --print-ids
    [ "$rc" -eq 0 ] && grep -q "using the CPU backend: " "$WORK/err" && ! grep -q "q8" "$WORK/err"
    ok $? "--backend auto --weights q8 without a device: runs on the CPU and says why"
fi

# poison WHAT TENSOR ROW COLUMN VALUE: a copy of the fixture with one weight replaced
poison() {
    rm -rf "$WORK/$1" && cp -r "$MODEL" "$WORK/$1" || return 1
    python3 - "$WORK/$1" "$2" "$3" "$4" "$5" <<'PY'
import json, struct, sys
folder, name, row, col, value = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
index = json.load(open(folder + "/model.safetensors.index.json"))
path = folder + "/" + index["weight_map"][name]
with open(path, "r+b") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    entry = json.loads(f.read(n))[name]
    assert entry["dtype"] == "F16"
    f.seek(8 + n + entry["data_offsets"][0] + 2 * (row * entry["shape"][1] + col))
    f.write(struct.pack("<H", {"nan": 0x7e00, "inf": 0x7c00, "-inf": 0xfc00}[value]))
PY
}
poison nan model.layers.1.mlp.fc1.weight 5 7 nan || ok 1 "make the NaN model"
run -m "$WORK/nan" --backend cpu --weights q8 -p "$PROMPT"
[ "$rc" -eq 1 ] && [ ! -s "$WORK/out" ] && [ "$(errors_only | wc -l)" -eq 1 ] &&
    grep -q "^imp-chat: model-0000[12]-of-00002.safetensors: tensor model.layers.1.mlp.fc1.weight has a NaN weight at row 5, column 7 (cannot quantize it)$" "$WORK/err"
ok $? "a NaN weight is named with its tensor, row and column"
poison inf model.vision_tower.vision_tower.vision_model.encoder.layers.0.mlp.fc2.weight 0 100 -inf ||
    ok 1 "make the infinite model"
run -m "$WORK/inf" --backend cpu --weights q4 -p "$PROMPT"
[ "$rc" -eq 1 ] && grep -q "tensor model.vision_tower.vision_tower.vision_model.encoder.layers.0.mlp.fc2.weight has an infinite weight at row 0, column 100" "$WORK/err"
ok $? "an infinite weight in the vision tower is named (q4 holds the tower as q8)"
finish
