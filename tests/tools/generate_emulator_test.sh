#!/usr/bin/env bash
# bin/generate --device emulator: the llama3 fixture compiled for sm_90
# (NVRTC kernels, launch plans, the kernels' CUDA source) runs through the
# CUDA executor on the CUDA emulator and prints the same greedy tokens as
# the cpu engine of the same fixture; the output says the device is
# emulated; --device on a cpu engine and an unknown device are refused.
set -euo pipefail
compile=tools/compile-model
generate=tools/generate
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
export KILN_EMULATOR_CACHE="$tmp/emulator-cache"
fail() { echo "FAIL: $*" >&2; exit 1; }

model=tests/fixtures/models/llama3/f32
tokenizer=tests/fixtures/tokenizers/bytes256/tokenizer.json
for target in sm_90 cpu; do
  "$compile" --model "$model" --out "$tmp/$target" --target "$target" --tokenizer "$tokenizer" \
    --max-seq 48 --buckets 8,16 2>"$tmp/compile-$target.log" || { cat "$tmp/compile-$target.log"; fail "compile $target"; }
done
ids() { python3 -c 'import json,sys; print(json.load(sys.stdin)["ids"])'; }
emulated=$("$generate" --engine "$tmp/sm_90" --device emulator --prompt "The quick brown fox" \
  --max-new-tokens 16 --json 2>"$tmp/emulated.err" | ids) || { cat "$tmp/emulated.err"; fail "emulated generate"; }
cpu=$("$generate" --engine "$tmp/cpu" --prompt "The quick brown fox" --max-new-tokens 16 --json | ids)
echo "emulator: $emulated"
echo "cpu:      $cpu"
[[ $emulated == "$cpu" ]] || fail "the emulated sm_90 engine gave $emulated, the cpu engine $cpu"
grep -q "emulated, not a GPU" "$tmp/emulated.err" || fail "the output does not say the device is emulated"

if "$generate" --engine "$tmp/cpu" --device emulator --prompt x 2>"$tmp/err1"; then fail "--device on a cpu engine"; fi
grep -q "applies to CUDA engines" "$tmp/err1" || { cat "$tmp/err1"; fail "unclear error for --device on a cpu engine"; }
if "$generate" --engine "$tmp/sm_90" --device tpu --prompt x 2>"$tmp/err2"; then fail "--device tpu"; fi
grep -q "must be gpu or emulator" "$tmp/err2" || { cat "$tmp/err2"; fail "unclear error for --device tpu"; }
echo PASS
