#!/bin/sh
# imp-bench on the tiny fixture model: every measurement is printed as JSON with the fields the
# manual names, the decode figures agree with each other, and bad option values are refused.
. "$(dirname "$0")/lib.sh"
: "${SRCDIR:=$(dirname "$0")/..}"
BENCH="$(dirname "$IMP_CHAT")/imp-bench"

# check_run MODE [ARGS...]: a run in MODE (the CPU's default, q8, when no --weights is given)
check_run() {
mode=$1
shift
"$BENCH" -m "$MODEL" --backend cpu --threads 2 --prompt-positions 40 --decode-positions 30,200 \
    --decode-tokens 3 "$@" >"$WORK/out" 2>"$WORK/err"
ok $? "imp-bench $* runs on the tiny model"

python3 - "$WORK/out" "$SRCDIR/man/imp-bench.1" "$mode" >"$WORK/check" 2>&1 <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
man = open(sys.argv[2]).read().replace("\\", "")
mode = sys.argv[3]
problems = []
names = [l["bench"] for l in lines]
want = ["memory_read_bandwidth", "load", "matmul", "matmul", "matmul", "vision", "prefill",
        "followup_first_token", "decode", "decode", "peak_rss"]
if names != want:
    problems.append("measurements %s, expected %s" % (names, want))
for l in lines:
    for key in l:
        if key not in man:
            problems.append("%s: field %s is not in imp-bench.1" % (l["bench"], key))
# prefill and the follow-up are engine turns: the follow-up runs its 20 ids after the reply's tail
prefill = [l for l in lines if l["bench"] == "prefill"][0]
follow = [l for l in lines if l["bench"] == "followup_first_token"][0]
if prefill["positions"] != 40 or prefill["images"] != 0 or follow["history"] != 40 or follow["new_positions"] not in (21, 22):
    problems.append("engine turns: prefill %s, follow-up %s" % (prefill, follow))
decode = [l for l in lines if l["bench"] == "decode"]
if [d["position"] for d in decode] != [30, 200]:
    problems.append("decode depths %s" % [d["position"] for d in decode])
for d in decode:
    # the figures are rounded to two decimals in the output
    ms = 1e3 / d["tokens_per_s"]
    if abs(ms - d["ms_per_token"]) > 0.01 * ms + 0.06:
        problems.append("decode %d: %.2f tokens/s is not %.1f ms" % (d["position"], d["tokens_per_s"], d["ms_per_token"]))
    rate = d["bytes_per_token"] * d["tokens_per_s"] / 1e9
    if abs(rate - d["GB_per_s"]) > 0.01 * rate + 0.01:
        problems.append("decode %d: GB/s %.2f, bytes over time %.2f" % (d["position"], d["GB_per_s"], rate))
    strict = d["GB_per_s"] / d["best_bandwidth_GB_per_s"]
    if abs(strict - d["fraction_of_best_bandwidth"]) > 0.011:
        problems.append("decode %d: fraction of the best bandwidth %.2f, expected %.3f" % (d["position"], d["fraction_of_best_bandwidth"], strict))
    if not 0 < d["bandwidth_GB_per_s"] <= d["best_bandwidth_GB_per_s"] + 0.01:
        problems.append("decode %d: paired bandwidth %.2f above the best %.2f" % (d["position"], d["bandwidth_GB_per_s"], d["best_bandwidth_GB_per_s"]))
    if not d["fraction_of_bandwidth"] > 0:
        problems.append("decode %d: fraction of bandwidth %s" % (d["position"], d["fraction_of_bandwidth"]))
# a deeper cache reads more: keys and values of 2 layers x 80 fp16 values per position
grow = decode[1]["bytes_per_token"] - decode[0]["bytes_per_token"]
if grow != 2 * 2 * 80 * 2 * 170:
    problems.append("bytes per token grew by %d from depth 30 to 200" % grow)
for l in lines:
    if l["bench"] != "memory_read_bandwidth" and (l.get("weights") != mode or l.get("backend") != "cpu"):
        problems.append("%s: weights %s on %s, expected %s on cpu" % (l["bench"], l.get("weights"), l.get("backend"), mode))
# the weights one token reads, as stored: 2 layers of q, k, v, dense (80 x 80), fc1 (320 x 80),
# fc2 (80 x 320) and lm_head (51200 x 80); quantized rows padded to 128 values, then fp16 scales,
# each part padded to 64 bytes
def stored(rows, cols):
    if mode == "f16":
        return rows * cols * 2
    blocks = (cols + 127) // 128 * 4
    values = rows * blocks * (32 if mode == "q8" else 16)
    return (values + 63) // 64 * 64 + (rows * blocks * 2 + 63) // 64 * 64
want_bytes = 2 * (4 * stored(80, 80) + stored(320, 80) + stored(80, 320)) + stored(51200, 80)
for d in decode:
    if d["weight_bytes_per_token"] != want_bytes:
        problems.append("decode %d: %d weight bytes a token, expected %d" % (d["position"], d["weight_bytes_per_token"], want_bytes))
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
ok $? "$mode: the JSON lines, their fields and the decode figures: $(head -3 "$WORK/check")"
}
check_run q8
check_run q4 --weights q4
check_run f16 --weights f16

# bad values: one line naming the option, status 2, nothing measured
for args in "--threads 0" "--decode-tokens x" "--decode-positions 100,abc" \
    "--decode-positions 1,2,3,4,5" "--prompt-positions 20" "--weights q5"; do
    # shellcheck disable=SC2086
    "$BENCH" -m "$MODEL" $args >"$WORK/out" 2>"$WORK/err"
    rc=$?
    opt=$(echo "$args" | sed 's/^--\([a-z-]*\).*/\1/')
    [ "$rc" -eq 2 ] && [ ! -s "$WORK/out" ] && grep -q "^imp-bench: $opt: " "$WORK/err"
    ok $? "imp-bench $args: refused with status 2 naming the option"
done
"$BENCH" -m "$WORK/no-such-model" >"$WORK/out" 2>"$WORK/err"
[ $? -eq 1 ] && grep -q "no-such-model" "$WORK/err"; ok $? "imp-bench -m on a missing folder: status 1 naming it"
finish
