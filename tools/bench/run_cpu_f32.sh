#!/usr/bin/env bash
# f32 weights on the CPU, side by side in one run: SmolLM2-135M's GGUF
# dequantised to f32 (compile-model --dequantize) on Kiln's CPU backend with
# oneDNN taking the prefill products (its default when libdnnl2 is
# installed) and with Kiln's own f32 kernel (KILN_CPU_ONEDNN=0), against
# Transformers eager on the same GGUF dequantised to f32, each on 1 thread
# and every core. Prefill is where they differ: time to first token.
#
#   tools/bench/run_cpu_f32.sh [OUT_DIR]    (default /tmp/kiln-bench-cpu-f32; ~10 min on 2 cores)
#
# Needs Bazel and the reference venv (tools/reference/setup_venv.sh).
# KILN_SMOLLM2_GGUF points at the GGUF (default: the one
# tools/fetch_references.sh stores in third_party/references/smollm2/).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
. tools/bench/bench_env.sh  # KILN_COMMIT, wait_quiet, build_kiln_bench
out="${1:-/tmp/kiln-bench-cpu-f32}"
mkdir -p "$out"
ref_py="${KILN_REF_PYTHON:-$HOME/.cache/kiln-ref/bin/python}"
bench=tools/bench
workload=$bench/workloads/cpu_smollm2_f32.json
gguf="${KILN_SMOLLM2_GGUF:-third_party/references/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}"
[ -f "$gguf" ] || { echo "run_cpu_f32: no $gguf (run tools/fetch_references.sh)" >&2; exit 1; }

build_kiln_bench

engine="$out/smollm2-f32.engine"
rm -rf "$engine"
wait_quiet run_cpu_f32
KILN_CPU_THREADS=1 "$kiln_bench" --model "$gguf" --compile-model "$compile_model" \
  --compile-flags="--dequantize --max-seq 288 --buckets 16,64,256" --engine "$engine" \
  --workload $workload --model-name SmolLM2-135M-Instruct --out "$out/kiln_onednn_t1.json"
for threads in $(printf '%s\n' 1 "$(nproc)" | sort -un); do
  if [ "$threads" != 1 ]; then
    wait_quiet run_cpu_f32
    KILN_CPU_THREADS="$threads" "$kiln_bench" --engine "$engine" --workload $workload \
      --model-name SmolLM2-135M-Instruct --out "$out/kiln_onednn_t$threads.json"
  fi
  wait_quiet run_cpu_f32
  KILN_CPU_ONEDNN=0 KILN_CPU_THREADS="$threads" "$kiln_bench" --engine "$engine" --workload $workload \
    --model-name SmolLM2-135M-Instruct --out "$out/kiln_own_t$threads.json"
  wait_quiet run_cpu_f32
  "$ref_py" $bench/hf_bench.py --model "$(dirname "$gguf")" --gguf-file "$(basename "$gguf")" \
    --mode eager --threads "$threads" --workload $workload --kiln-result "$out/kiln_onednn_t1.json" \
    --model-name SmolLM2-135M-Instruct --out "$out/hf_eager_t$threads.json"
done

python3 $bench/report.py "$out"/kiln_onednn_t*.json "$out"/kiln_own_t*.json "$out"/hf_eager_t*.json \
  --out "$out/report.md"
cat "$out/report.md"
echo "run_cpu_f32: results in $out"
