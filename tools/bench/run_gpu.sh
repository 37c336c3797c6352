#!/usr/bin/env bash
# The GPU benchmark in one script, for the GPU host (docs/GPU_RECIPE.md).
# UNVERIFIED: written on a machine without a GPU; no step below has run on
# an H100/H200 yet.
#
#   tools/bench/run_gpu.sh [OUT_DIR]       (default: $OUT, else ./bench-gpu-results)
#
# Kiln's steps come first and need nothing but the bundle (tools/gpu/bundle.sh):
# no Transformers, no CUDA PyTorch and no NVRTC work. Transformers' steps come
# after, so a slow torch.compile can only leave Transformers unmeasured.
# Each step runs under `timeout`; the limits, kill grace included, add up to
# at most 240 s (tests/tools/gpu/script_budget_test.sh checks it):
#   probe        gpu-probe: card, driver and the device copy bandwidth (the
#                roofline denominator)
#   nvidia-smi   the card's clocks and memory as NVIDIA's tool sees them
#   checkpoint   the Llama-3.2-1B-shape random-weight checkpoint (bf16,
#                2.5 GB), written by the bundled write-random-checkpoint
#                (Kiln's model builder and safetensors writer)
#   kiln-compile the bundled compile-model --target sm_90 on it. Its kernels
#                come from the NVRTC cache bundle.sh filled (compiled here
#                from the same config), so the step converts and writes the
#                weights and measures the cuBLASLt algorithms on the card
#   kiln         the bundled kiln-bench on that engine, batch-1 cases of the
#                workload, the roofline against the probe's bandwidth
#   hf-greedy    Transformers bf16, 32 greedy tokens of 4 prompts of 128 ids
#                (hf_greedy_trace.py), the reference of the next step
#   kiln-greedy  the same from the engine (kiln-greedy-parity), judged by the
#                real-model rule: on the first difference each token is in
#                the other's top-5
#   hf-eager     Transformers eager, batch 1
#   hf-compile   static cache + torch.compile(mode="reduce-overhead"), batch 1
#   report       report.py and plot.py over whatever ran
#
# Transformers' steps need a Python with CUDA torch, transformers and
# safetensors (KILN_GPU_PYTHON, default python3); without one they report
# FAIL and Kiln's results stand. Prompt ids come from the workload's rule
# (tools/bench/workload.h) with the byte-level tokenizer the checkpoint
# carries, so both engines run the same ids.
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
out="${1:-${OUT:-$PWD/bench-gpu-results}}"
mkdir -p "$out"
py="${KILN_GPU_PYTHON:-python3}"
cache="${KILN_BENCH_CACHE:-/tmp/kiln-bench-models}"
bench=tools/bench
gpu_bundle="${KILN_GPU_BUNDLE:-$repo/gpu-bundle}"
target="${KILN_GPU_TARGET:-sm_90}"
budget_s="${KILN_BENCH_BUDGET_S:-240}"
start_s=$(date +%s)
# The device gets a copy of the working tree without .git: the bundle's
# MANIFEST names the commit it was built from.
commit=$(git rev-parse --short=12 HEAD 2>/dev/null ||
  sed -n 's/^commit: \([0-9a-f]\{12\}\).*/\1/p' "$gpu_bundle/MANIFEST" 2>/dev/null)
export KILN_COMMIT="${KILN_COMMIT:-${commit:-unknown}}"
summary=()

# step NAME LIMIT_S COMMAND...: runs under timeout (never past the budget),
# logs to $out/NAME.log, records ok / FAIL / TIMEOUT / NOT RUN. LIMIT_S is
# a literal number at every call: script_budget_test.sh adds them up, each
# plus the kill grace below.
step() {
  local name="$1" limit="$2" t0
  shift 2
  local left=$((budget_s - ($(date +%s) - start_s)))
  ((limit > left)) && limit=$left
  if ((limit <= 0)); then
    summary+=("$name: NOT RUN (budget spent)")
    return
  fi
  echo "=== $name (limit ${limit}s) ==="
  t0=$(date +%s)
  timeout -k 2 "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  tail -5 "$out/$name.log"
  local took="$(($(date +%s) - t0)) s"
  case "$rc" in
    0) summary+=("$name: ok ($took)") ;;
    124 | 137) summary+=("$name: TIMEOUT after ${limit}s") ;;
    *) summary+=("$name: FAIL (exit $rc, $took)") ;;
  esac
}

model="$cache/llama-3.2-1b-bf16"
engine="$cache/llama-3.2-1b-bf16-$target.engine"
kiln_ok=1
for tool in gpu-probe write-random-checkpoint compile-model kiln-bench kiln-greedy-parity; do
  if [ ! -x "$gpu_bundle/$tool" ]; then
    summary+=("$tool: NOT IN $gpu_bundle (run tools/gpu/bundle.sh on the build machine)")
    kiln_ok=0
  fi
done

if ((kiln_ok)); then
  step probe 15 "$gpu_bundle/gpu-probe" --json "$out/probe.json"
  step nvidia-smi 5 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory \
    --format=csv
  step checkpoint 25 "$gpu_bundle/write-random-checkpoint" --config $bench/configs/llama-3.2-1b \
    --out "$model" --dtype bf16
  # A copy of the bundled cache: compile-model may add to it, the bundle
  # stays as shipped. The log's "N kernels compiled (M from the NVRTC
  # cache)" line says whether anything compiled here.
  kernel_cache="${TMPDIR:-/tmp}/kiln-bench-kernel-cache"
  rm -rf "$kernel_cache" && cp -r "$gpu_bundle/kernel-cache" "$kernel_cache" 2>/dev/null
  step kiln-compile 55 "$gpu_bundle/compile-model" --model "$model" --out "$engine" \
    --target "$target" --dtype bf16 --max-seq 1280 --buckets 128,1024 --kernel_cache "$kernel_cache"
  grep -h "kernels compiled" "$out/kiln-compile.log" 2>/dev/null | sed 's/^/  /'
  # gpu-probe's device copy bandwidth (read + write bytes / s) for the roofline.
  gbps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["copy"]["gb_per_s_read_plus_write"])' \
    "$out/probe.json" 2>/dev/null || echo 0)
  step kiln 25 "$gpu_bundle/kiln-bench" --engine "$engine" --target "$target" \
    --workload $bench/workloads/gpu_shapes.json --bandwidth_gbps "$gbps" \
    --model-name Llama-3.2-1B-shape --out "$out/kiln_$target.json"
fi

# Transformers, on the checkpoint Kiln wrote (tied embeddings, so it has no
# lm_head tensor, as the real Llama-3.2-1B).
step hf-greedy 25 "$py" $bench/hf_greedy_trace.py --model "$model" \
  --workload $bench/workloads/gpu_shapes.json --prompts 4 --prompt-tokens 128 --tokens 32 \
  --dtype bfloat16 --device cuda --out "$out/hf_greedy.json"
if ((kiln_ok)); then
  step kiln-greedy 15 "$gpu_bundle/kiln-greedy-parity" --engine "$engine" --target "$target" \
    --reference "$out/hf_greedy.json" --out "$out/kiln_greedy.json"
fi
# Transformers times the prompt ids kiln-bench timed, when it ran.
hf_prompts=()
for r in "$out"/kiln_sm*.json; do [ -s "$r" ] && hf_prompts=(--kiln-result "$r"); done
step hf-eager 20 "$py" $bench/hf_bench.py --model "$model" --device cuda --dtype bfloat16 \
  --mode eager --max-batch 1 --workload $bench/workloads/gpu_shapes.json --reps 1 \
  --model-name Llama-3.2-1B-shape "${hf_prompts[@]}" --out "$out/hf_eager_1b.json"
step hf-compile 25 "$py" $bench/hf_bench.py --model "$model" --device cuda --dtype bfloat16 \
  --mode compile --max-batch 1 --workload $bench/workloads/gpu_shapes.json --reps 1 \
  --model-name Llama-3.2-1B-shape "${hf_prompts[@]}" --out "$out/hf_compile_1b.json"

report() {
  python3 "$bench/report.py" "$@" --out "$out/report.md" && cat "$out/report.md"
  "$py" "$bench/plot.py" "$@" --out-dir "$out/plots" >/dev/null 2>&1 || true
}
export -f report
export bench out py
results=("$out"/hf_eager_1b.json "$out"/hf_compile_1b.json "$out"/kiln_sm*.json)
present=()
for r in "${results[@]}"; do [ -e "$r" ] && present+=("$r"); done
if ((${#present[@]})); then
  step report 5 bash -c 'report "$@"' _ "${present[@]}"
  cat "$out/report.md" 2>/dev/null
fi
echo "=== summary ($(($(date +%s) - start_s)) s of ${budget_s} s) ==="
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
