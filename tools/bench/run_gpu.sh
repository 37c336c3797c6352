#!/usr/bin/env bash
# The GPU benchmark in one script, for the GPU host (docs/GPU_RECIPE.md),
# inside 5 minutes. UNVERIFIED: written on a machine without a GPU; no step
# below has run on an H100/H200 yet.
#
#   tools/bench/run_gpu.sh [OUT_DIR]       (default: $OUT, else ./bench-gpu-results)
#
# Steps, each under `timeout`, all within KILN_BENCH_BUDGET_S (default 280 s):
#   probe      gpu-probe (bundled by tools/gpu/bundle.sh): card, driver and the
#              device copy bandwidth, the roofline denominator
#   models     random-weight checkpoints at real shapes, initialised on the GPU
#              in bf16 (make_random_models.py): Llama-3.2-1B and Mistral-7B
#   hf-eager   Transformers eager, gpu_shapes workload, Llama-3.2-1B, batch 1/4/16
#   hf-compile static cache + torch.compile(mode="reduce-overhead") (CUDA
#              graphs), batch 1 only (each batch size compiles anew)
#   hf-7b      Transformers eager on Mistral-7B, batch 1
#   kiln-compile  the bundled compile-model --target sm_90 (bf16) on the
#              Llama-3.2-1B-shape checkpoint (NVRTC kernels for the card)
#   hf-greedy, kiln-greedy  32 greedy tokens of 4 prompts from Transformers
#              bf16 (hf_greedy_trace.py) and from the engine
#              (kiln-greedy-parity), judged by the real-model rule: on the
#              first difference each token is in the other's top-5
#   kiln       the bundled kiln-bench --target sm_90 on that engine, batch-1
#              cases of the workload (batched CUDA runs are not wired yet),
#              the roofline against gpu-probe's measured copy bandwidth
#   report     report.py and plot.py over whatever ran
#
# The host has no network: it needs a Python with CUDA torch, transformers
# and safetensors (KILN_GPU_PYTHON, default python3); without one the
# Transformers steps report FAIL and the rest still runs. Prompt ids come
# from the workload's rule (tools/bench/workload.h) with the byte-level
# tokenizer the random models carry, so Kiln runs the same ids later.
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
out="${1:-${OUT:-$PWD/bench-gpu-results}}"
mkdir -p "$out"
py="${KILN_GPU_PYTHON:-python3}"
cache="${KILN_BENCH_CACHE:-/tmp/kiln-bench-models}"
bench=tools/bench
budget_s="${KILN_BENCH_BUDGET_S:-280}"
start_s=$(date +%s)
export KILN_COMMIT="${KILN_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}"
summary=()

# step NAME LIMIT_S COMMAND...: runs under timeout (never past the budget),
# logs to $out/NAME.log, records ok / FAIL / TIMEOUT / NOT RUN.
step() {
  local name="$1" limit="$2"
  shift 2
  local left=$((budget_s - ($(date +%s) - start_s)))
  ((limit > left)) && limit=$left
  if ((limit <= 0)); then
    summary+=("$name: NOT RUN (budget spent)")
    return
  fi
  echo "=== $name (limit ${limit}s) ==="
  timeout -k 3 "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  tail -5 "$out/$name.log"
  case "$rc" in
    0) summary+=("$name: ok") ;;
    124 | 137) summary+=("$name: TIMEOUT after ${limit}s") ;;
    *) summary+=("$name: FAIL (exit $rc)") ;;
  esac
}

probe="${KILN_GPU_BUNDLE:-$repo/gpu-bundle}/gpu-probe"
if [ -x "$probe" ]; then
  step probe 40 "$probe" --json "$out/probe.json"
else
  summary+=("probe: NOT RUN (no $probe; run tools/gpu/bundle.sh on the build machine)")
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory --format=csv >"$out/nvidia-smi.csv" 2>&1

step models 90 "$py" $bench/make_random_models.py --models llama-3.2-1b,mistral-7b --dtype bfloat16 \
  --device cuda --cache "$cache"

m1="$cache/llama-3.2-1b-bfloat16" m7="$cache/mistral-7b-bfloat16"
step hf-eager 60 "$py" $bench/hf_bench.py --model "$m1" --device cuda --dtype bfloat16 --mode eager \
  --workload $bench/workloads/gpu_shapes.json --reps 2 --model-name Llama-3.2-1B-shape --out "$out/hf_eager_1b.json"
step hf-compile 90 "$py" $bench/hf_bench.py --model "$m1" --device cuda --dtype bfloat16 --mode compile \
  --max-batch 1 --workload $bench/workloads/gpu_shapes.json --reps 2 --model-name Llama-3.2-1B-shape \
  --out "$out/hf_compile_1b.json"
step hf-7b 45 "$py" $bench/hf_bench.py --model "$m7" --device cuda --dtype bfloat16 --mode eager \
  --max-batch 1 --workload $bench/workloads/gpu_shapes.json --reps 1 --model-name Mistral-7B-shape \
  --out "$out/hf_eager_7b.json"

gpu_bundle="${KILN_GPU_BUNDLE:-$repo/gpu-bundle}"
kiln_bench="${KILN_BENCH_BIN:-$gpu_bundle/kiln-bench}"
compile_model="${KILN_COMPILE_MODEL_BIN:-$gpu_bundle/compile-model}"
engine="$cache/llama-3.2-1b-sm90.engine"
if [ -x "$kiln_bench" ] && [ -x "$compile_model" ]; then
  step kiln-compile 60 "$compile_model" --model "$m1" --out "$engine" --target sm_90 --dtype bf16 \
    --max-seq 1280 --buckets 128,1024
  # gpu-probe's device copy bandwidth (read + write bytes / s) for the roofline.
  gbps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["copy"]["gb_per_s_read_plus_write"])' \
    "$out/probe.json" 2>/dev/null || echo 0)
  # Correctness before speed: 32 greedy tokens for 4 prompts of 128 ids
  # against Transformers bf16 under the real-model rule (greedy_parity.h).
  step hf-greedy 60 "$py" $bench/hf_greedy_trace.py --model "$m1" --workload $bench/workloads/gpu_shapes.json \
    --prompts 4 --prompt-tokens 128 --tokens 32 --dtype bfloat16 --device cuda --out "$out/hf_greedy.json"
  step kiln-greedy 40 "$gpu_bundle/kiln-greedy-parity" --engine "$engine" --target sm_90 \
    --reference "$out/hf_greedy.json" --out "$out/kiln_greedy.json"
  step kiln 60 "$kiln_bench" --engine "$engine" --target sm_90 --workload $bench/workloads/gpu_shapes.json \
    --bandwidth_gbps "$gbps" --model-name Llama-3.2-1B-shape --out "$out/kiln_sm90.json"
else
  summary+=("kiln: NOT RUN (no $kiln_bench or $compile_model: run tools/gpu/bundle.sh)")
fi

results=("$out"/hf_*.json "$out"/kiln_*.json)
if [ -e "${results[0]}" ]; then
  python3 $bench/report.py "${results[@]}" --out "$out/report.md" && cat "$out/report.md"
  "$py" $bench/plot.py "${results[@]}" --out-dir "$out/plots" >/dev/null 2>&1 || true
fi
echo "=== summary ($(($(date +%s) - start_s)) s of ${budget_s} s) ==="
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
