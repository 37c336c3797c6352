#!/usr/bin/env bash
# bundle.sh [DEST]: builds the GPU-facing binaries with --config=gpu_bundle
# (Abseil, GoogleTest and the C++ runtime linked statically) and copies them,
# check.sh, ldd_check.sh and a MANIFEST into DEST (default gpu-bundle/ at the
# repository root, git-ignored). The GPU host has glibc and /usr/local/cuda
# but no Bazel, Abseil, GoogleTest or network, so the folder must run alone:
# ldd_check.sh proves that here, and the script fails if it does not hold or
# the folder reaches 50 MB (the device tool carries at most 64 MiB).
# It also fills DEST/kernel-cache with the NVRTC output of the benchmark's
# engine (the Llama-3.2-1B shape, bf16, sm_80 and sm_90): the engine itself
# is 2.4 GB of weights, too big to carry, so run_gpu.sh writes the same
# checkpoint on the host and compiles it there against this cache, and no
# kernel compiles on the host. See docs/GPU_RECIPE.md.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
dest="${1:-gpu-bundle}"
max_bytes=$((50 * 1000 * 1000))

# Bundled binaries; each lands in DEST under its own name: the probe, the
# GPU test suites (each SKIPS without a device), and the tools the GPU
# benchmark runs on the host (write-random-checkpoint, compile-model,
# kiln-bench, kiln-greedy-parity).
targets=(
  //tools/gpu:gpu-probe
  //tests/tools/gpu:gpu_smoke_test
  //tests/codegen:row_kernels_gpu_test
  //tests/codegen/attention:attention_gpu_test
  //tests/codegen/gemv:gemv_gpu_test
  //tests/codegen/sampling:sampling_gpu_test
  //tests/runtime/cuda:cuda_executor_gpu_test
  //tests/runtime/cuda:loop_graph_gpu_test
  //tools:compile-model
  //tools/bench:kiln-bench
  //tools/bench:kiln-greedy-parity
  //tools/bench:write-random-checkpoint
)

# Its own output base (a second Bazel server): the static build neither
# waits for nor evicts the plain one. --symlink_prefix=/ leaves the
# bazel-bin symlink alone.
output_base="${KILN_BUNDLE_OUTPUT_BASE:-$HOME/.cache/kiln-bazel-bundle}"
bazel --output_base="$output_base" build --config=gpu_bundle --symlink_prefix=/ "${targets[@]}"
bin_dir="$(bazel --output_base="$output_base" info --config=gpu_bundle bazel-bin 2>/dev/null)"

rm -rf "$dest"
mkdir -p "$dest"
binaries=()
for label in "${targets[@]}"; do
  path="${label#//}"
  path="${path/://}"
  install -m 0755 "$bin_dir/$path" "$dest/"
  # Debug info (-g1) is two thirds of a binary; symbols stay for backtraces.
  strip --strip-debug "$dest/$(basename "$path")"
  binaries+=("$dest/$(basename "$path")")
done
install -m 0755 tools/gpu/check.sh tools/gpu/ldd_check.sh "$dest/"
# What the executor's GPU test reads (relative to the bundle): the plan
# test models' configs and the tiny HF fixtures with Transformers' outputs.
# (f32 and bf16 only: the GPU suite runs those two).
mkdir -p "$dest/tests/fixtures/tokenizers"
cp -r tests/fixtures/plan_models "$dest/tests/fixtures/"
# The loop graph suite's tokenizer.
cp -r tests/fixtures/tokenizers/bytes256 "$dest/tests/fixtures/tokenizers/"
for dir in tests/fixtures/models/*/f32 tests/fixtures/models/*/bf16; do
  mkdir -p "$dest/$dir"
  cp -r "$dir/." "$dest/$dir/"
done

# The benchmark engine's kernels, compiled by the bundled compile-model from
# the checkpoint run_gpu.sh writes (same config, dtype, buckets and max-seq:
# the kernels' sources depend on them, and the cache is keyed by source,
# NVRTC options and NVRTC version). GEMM tuning needs the card, so it is
# left to the host.
work="$(mktemp -d "${TMPDIR:-/tmp}/kiln-bundle.XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$dest/write-random-checkpoint" --config tools/bench/configs/llama-3.2-1b \
  --out "$work/llama-3.2-1b-bf16" --dtype bf16
for target in sm_80 sm_90; do
  "$dest/compile-model" --model "$work/llama-3.2-1b-bf16" --out "$work/engine-$target" \
    --target "$target" --dtype bf16 --max-seq 1280 --buckets 128,1024 \
    --kernel_cache "$dest/kernel-cache" --tune_gemms off 2>&1 | grep "kernels compiled"
  rm -rf "$work/engine-$target"
done
rm -rf "$work"

echo "bundle: checking what the binaries need"
tools/gpu/ldd_check.sh "${binaries[@]}"
# The newest glibc symbol version any binary uses; the host's glibc must be
# at least this. Built on Debian 12 it is 2.36: the static libstdc++ carries
# a reference to arc4random (2.36) and the static unwinder one to
# _dl_find_object (2.35). ldd_check.sh on the host reports a shortfall.
glibc_floor=$(objdump -T "${binaries[@]}" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
echo "bundle: the binaries need glibc >= $glibc_floor"

{
  echo "Kiln GPU bundle (tools/gpu/bundle.sh; run ./check.sh on the GPU host)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -srm)"
  echo "config: bazel build --config=gpu_bundle"
  echo "CUDA toolkit at build: $(readlink -f "${KILN_CUDA_PATH:-/usr/local/cuda}")"
  echo "needs glibc >= $glibc_floor on the host (this machine: $(ldd --version | head -1 | awk '{print $NF}'))"
  echo "kernel-cache: $(ls "$dest/kernel-cache" | grep -c '\.cubin$') kernels of the benchmark engine (Llama-3.2-1B shape, bf16, sm_80 + sm_90)"
  echo
  echo "files (bytes, sha256):"
  (cd "$dest" && for f in *; do
    [ "$f" = MANIFEST ] || [ -d "$f" ] && continue
    printf '  %-20s %10s  %s\n' "$f" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
  done)
  echo
  echo "shared libraries (ldd here):"
  for b in "${binaries[@]}"; do
    echo "  $(basename "$b"):"
    ldd "$b" | sed 's/^\s*/    /'
  done
} >"$dest/MANIFEST"

bytes=$(du -sb "$dest" | cut -f1)
echo "bundle: $dest: $(ls "$dest" | wc -l) files, $bytes bytes ($(du -sh "$dest" | cut -f1))"
if [ "$bytes" -ge "$max_bytes" ]; then
  echo "bundle: $dest is over 50 MB; the device tool carries at most 64 MiB" >&2
  exit 1
fi
