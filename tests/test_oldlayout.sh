#!/bin/sh
# The old checkpoint layout (fused Wqkv, transformer.* names, old config keys), built here from the
# fixture, gives the same features, logits and ids as the new one.
. "$(dirname "$0")/lib.sh"

"$TOOLDIR/tool_oldlayout" "$MODEL" "$WORK/old" >"$WORK/err" 2>&1; rc=$?
ok $rc "tool_oldlayout builds the old layout"
grep -q '"transformer.h.0.mixer.Wqkv.weight"' "$WORK/old/model.safetensors.index.json"; ok $? "the old layout has fused Wqkv"
grep -q '"n_embd"' "$WORK/old/config.json" && ! grep -q '"hidden_size": 80' "$WORK/old/config.json"
ok $? "the old layout's config uses the old keys"
MODEL_DIR="$WORK/old" "$TOOLDIR/test_model" >"$WORK/out" 2>"$WORK/err"; rc=$?
cat "$WORK/out"
ok $rc "every model check passes on the old layout"
run -m "$WORK/old" -p "What is the capital of France?" -n 12 --print-ids
[ "$(cat "$WORK/out")" = "$(expected_ids text 0)" ]; ok $? "one-shot on the old layout"
finish
