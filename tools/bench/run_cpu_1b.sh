#!/usr/bin/env bash
# The Llama-3.2-1B-shape CPU comparison of docs/PERFORMANCE.md, end to end,
# at a size where streaming the weights decides decode speed: a random-weight
# checkpoint (write-random-checkpoint, f16), written as an F16 GGUF by
# make_gguf_1b.py and quantized to Q4_0, Q8_0 and Q4_K_M by llama.cpp's
# quantizer;
# Kiln engines compiled from each GGUF (tensors kept as stored) and one from
# the checkpoint with `--quantize q8_0`; llama.cpp (llama-cpp-python) on the
# same GGUFs with Kiln's prompt ids; 1 and 2 threads; then the report.
#
#   tools/bench/run_cpu_1b.sh [OUT_DIR]      (default /tmp/kiln-bench-cpu-1b; ~30 min on 2 quiet cores)
#
# KILN_1B_FORMATS (default "Q4_0 Q8_0 Q4_K_M") picks the GGUF formats;
# Kiln's --quantize q8_0 engine runs with Q8_0.
#
# Needs Bazel and the llama.cpp venv of run_cpu.sh with the `gguf` package
# (installed here if missing). The checkpoint and the GGUFs (~7 GB) are
# cached in ~/.cache/kiln-bench and reused; engines go to OUT_DIR.
#
# The checkpoint's config is tools/bench/configs/llama-3.2-1b without its
# Llama-3 rope scaling: llama.cpp's converter stores that scaling as a
# rope_freqs tensor, which Kiln's GGUF import refuses. Every engine here
# computes the same model; the cost of a step does not depend on it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
. tools/bench/bench_env.sh  # KILN_COMMIT, wait_quiet
out="${1:-/tmp/kiln-bench-cpu-1b}"
mkdir -p "$out"
lc_venv="${KILN_LLAMACPP_VENV:-$HOME/.cache/kiln-llamacpp}"
lc_py="$lc_venv/bin/python"
cache="$HOME/.cache/kiln-bench"
bench=tools/bench
workload=$bench/workloads/cpu_1b.json
name=llama-3.2-1b
nproc="$(nproc)"
start_s=$SECONDS

read -r -a format_list <<< "${KILN_1B_FORMATS:-Q4_0 Q8_0 Q4_K_M}"
for q in "${format_list[@]}"; do
  case $q in Q4_0 | Q8_0 | Q4_K_M) ;; *) echo "run_cpu_1b: unknown format $q" >&2; exit 2 ;; esac
done
formats="${format_list[*]}"

if ! "$lc_py" -c "import llama_cpp" 2>/dev/null; then
  echo "run_cpu_1b: building llama-cpp-python into $lc_venv (CPU, ~10 min)"
  python3 -m venv "$lc_venv"
  CMAKE_BUILD_PARALLEL_LEVEL="$nproc" "$lc_venv/bin/pip" install -q llama-cpp-python
fi
"$lc_py" -c "import gguf" 2>/dev/null || "$lc_venv/bin/pip" install -q gguf

nice -n 10 bazel build //tools:compile-model //tools/bench:kiln-bench //tools/bench:write-random-checkpoint
bin="$(bazel info bazel-bin 2>/dev/null)"

# The checkpoint (f16, so the GGUF's F16 tensors hold exactly its values)
# and the GGUFs, made once.
config="$cache/configs/$name-plain-rope"
hf="$cache/models/$name-plain-rope-f16"
if [ ! -f "$config/config.json" ]; then
  mkdir -p "$config"
  python3 -c 'import json, sys
c = json.load(open(sys.argv[1])); c.pop("rope_scaling", None)
json.dump(c, open(sys.argv[2], "w"), indent=2)' $bench/configs/$name/config.json "$config/config.json"
fi
nice -n 10 "$bin/tools/bench/write-random-checkpoint" --config "$config" --out "$hf" --dtype f16
nice -n 10 "$lc_py" $bench/make_gguf_1b.py --hf "$hf" --out-dir "$cache/gguf" --name "$name" \
  --quantize "${formats// /,}" > "$out/make_gguf.log" 2>&1 || { tail -20 "$out/make_gguf.log"; exit 1; }
grep '^make_gguf:' "$out/make_gguf.log"

# kiln-bench records the engine's compute dtype (f32); the weights' format
# goes into the label report.py prints.
label() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); e = d["engine"]
e["compute_dtype"], e["dtype"] = e["dtype"], sys.argv[2]
json.dump(d, open(sys.argv[1], "w"), indent=1)' "$1" "$2"
}

compile_flags="--max-seq 1024 --max-batch 1 --buckets 64,512"
# Kiln: one engine per weight source, compiled (timed) by its first run.
# $1 tag, $2 model (GGUF file or checkpoint dir), $3 label, $4 extra flags.
kiln_engine() {
  local tag=$1 model=$2 lbl=$3 extra=${4:-} engine="$out/$1.engine"
  rm -rf "$engine"
  for threads in 1 "$nproc"; do
    wait_quiet run_cpu_1b
    local args=(--engine "$engine")
    [ "$threads" = 1 ] && args+=(--model "$model" --compile-model "$bin/tools/compile-model"
                                 --compile-flags="$compile_flags $extra")
    KILN_CPU_THREADS=$threads "$bin/tools/bench/kiln-bench" "${args[@]}" --workload $workload \
      --model-name "$name (random)" --out "$out/kiln_${tag}_t$threads.json"
    label "$out/kiln_${tag}_t$threads.json" "$lbl"
  done
  rm -rf "$engine"
}
for q in $formats; do
  kiln_engine "${q,,}" "$cache/gguf/$name.$q.gguf" "$q gguf"
  [ "$q" = Q8_0 ] && kiln_engine hf_q8_0 "$hf" "q8_0 --quantize" "--quantize q8_0"
done

# llama.cpp on the same GGUFs, with the prompt ids of the Kiln run on them.
for q in $formats; do
  for threads in 1 "$nproc"; do
    wait_quiet run_cpu_1b
    "$lc_py" $bench/llamacpp_bench.py --gguf "$cache/gguf/$name.$q.gguf" --threads "$threads" \
      --workload $workload --kiln-result "$out/kiln_${q,,}_t1.json" \
      --model-name "$name (random)" --out "$out/llamacpp_${q}_t$threads.json"
  done
done

# One report per weight format; ratios against its first Kiln result.
{
  for q in $formats; do
    case $q in
      Q4_0) echo "#### Q4_0 (llama.cpp's quantizer; token_embd as Q6_K)" ;;
      Q8_0) echo "#### Q8_0 (llama.cpp's quantizer, and Kiln's --quantize q8_0 from the checkpoint)" ;;
      Q4_K_M) echo "#### Q4_K_M (llama.cpp's quantizer: Q4_K, with Q6_K for token_embd and some attn_v / ffn_down)" ;;
      *) echo "#### $q" ;;
    esac
    extra=()
    [ "$q" = Q8_0 ] && extra=("$out"/kiln_hf_q8_0_t*.json)
    python3 $bench/report.py "$out"/kiln_"${q,,}"_t*.json "${extra[@]}" "$out"/llamacpp_"$q"_t*.json
    echo
  done
} > "$out/report.md"
cat "$out/report.md"
echo "run_cpu_1b: results in $out ($(( (SECONDS - start_s) / 60 )) min)"
