#!/bin/sh
# imp-bench on the tiny fixture model: every measurement is printed as JSON with the fields the
# manual names, the decode figures agree with each other, and bad option values are refused.
. "$(dirname "$0")/lib.sh"
: "${SRCDIR:=$(dirname "$0")/..}"
BENCH="$(dirname "$IMP_CHAT")/imp-bench"

"$BENCH" -m "$MODEL" --backend cpu --threads 2 --prompt-positions 40 --decode-positions 30,200 \
    --decode-tokens 3 >"$WORK/out" 2>"$WORK/err"
ok $? "imp-bench runs on the tiny model"

python3 - "$WORK/out" "$SRCDIR/man/imp-bench.1" >"$WORK/check" 2>&1 <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
man = open(sys.argv[2]).read().replace("\\", "")
problems = []
names = [l["bench"] for l in lines]
want = ["load", "memory_read_bandwidth", "matmul", "matmul", "matmul", "vision", "prefill",
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
# a deeper cache reads more: keys and values of 2 layers x 80 floats per position
grow = decode[1]["bytes_per_token"] - decode[0]["bytes_per_token"]
if grow != 2 * 2 * 80 * 4 * 170:
    problems.append("bytes per token grew by %d from depth 30 to 200" % grow)
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
ok $? "the JSON lines, their fields and the decode figures: $(head -3 "$WORK/check")"

# bad values: one line naming the option, status 2, nothing measured
for args in "--threads 0" "--decode-tokens x" "--decode-positions 100,abc" \
    "--decode-positions 1,2,3,4,5" "--prompt-positions 20"; do
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
