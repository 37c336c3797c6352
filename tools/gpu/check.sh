#!/usr/bin/env bash
# check.sh: the one script run on the GPU host (docs/GPU_RECIPE.md).
#
# Runs from the bundle alone (tools/gpu/bundle.sh): the host has glibc,
# /usr/local/cuda and the driver, but no Bazel, Abseil, GoogleTest or
# network. Steps, each under its own `timeout`; their limits, kill grace
# included, add up to at most 240 s (tests/tools/gpu/script_budget_test.sh
# checks it), so a second try fits in the host's 15 minutes:
#   host            date, kernel, glibc, the bundle's MANIFEST header, CUDA libraries
#   nvidia-smi      the card, driver, clocks and memory as NVIDIA's tool sees them
#   ldd             the bundled binaries need only glibc and CUDA libraries here
#   gpu-probe       device, NVRTC, cubin launch, CUDA graph, cuBLASLt, copy bandwidth
#   gpu_smoke_test  the same device checks as a GoogleTest suite
#   row_kernels_gpu_test   every generated row kernel (odd sizes) vs its host rendering
#   attention_gpu_test, gemv_gpu_test, sampling_gpu_test   each hand-written
#                   kernel vs the reference executor (the checks the
#                   emulator suites run in CI)
#   cuda_executor_gpu_test  whole models: GPU vs reference and eager
#                   launches; the tiny HF fixtures vs Transformers' logits
#   loop_graph_gpu_test  the generate loop as one graph (WHILE + SWITCH
#                   conditional nodes) vs the step-by-step generator
#   memcheck, racecheck     compute-sanitizer on the small kernel suites only
#                   (attention, GEMV, sampling): a whole model under racecheck
#                   can take minutes
# Logs and JSON go to $OUT when set, else ./gpu-results/; a short table is
# printed last. Exit status 0 only when no step failed.
#
# The binaries are looked for in $KILN_GPU_BUNDLE, else next to this script
# (the bundle's copy), else in gpu-bundle/ at the repository root (this file
# run from tools/gpu/ in a checkout).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -n "${KILN_GPU_BUNDLE:-}" ]; then
  bundle="$KILN_GPU_BUNDLE"
elif [ -x "$here/gpu-probe" ]; then
  bundle="$here"
else
  bundle="$(cd "$here/../.." && pwd)/gpu-bundle"
fi
out="${OUT:-$PWD/gpu-results}"
mkdir -p "$out" || { echo "check.sh: cannot create $out" >&2; exit 1; }

# The whole script, so a second try fits in the host's minutes. The override
# exists for tests/tools/gpu/check_sh_test.sh.
budget_s="${KILN_GPU_CHECK_BUDGET_S:-240}"
start_s=$(date +%s)
names=()
statuses=()
seconds=()

# step NAME LIMIT_S COMMAND...: runs COMMAND under `timeout` (never past the
# overall budget), logs to $out/NAME.log, echoes the log, records a status.
# LIMIT_S is a literal number at every call: script_budget_test.sh adds
# them up, each plus the kill grace below.
step() {
  local name="$1" limit="$2"
  shift 2
  local left=$((budget_s - ($(date +%s) - start_s)))
  ((limit > left)) && limit=$left
  local log="$out/$name.log" status rc t0
  t0=$(date +%s)
  if ((limit <= 0)); then
    status="NOT RUN (time budget spent)"
  else
    echo "=== $name (limit ${limit}s) ==="
    timeout -k 2 "$limit" "$@" >"$log" 2>&1
    rc=$?
    cat "$log"
    case "$rc" in
      0) status=ok ;;
      124 | 137) status="TIMEOUT after ${limit}s" ;;
      *) status="FAIL (exit $rc)" ;;
    esac
  fi
  names+=("$name")
  statuses+=("$status")
  seconds+=($(($(date +%s) - t0)))
}

# Aligns tab-separated rows where util-linux `column` exists.
table() {
  if command -v column >/dev/null 2>&1; then column -t -s $'\t'; else cat; fi
}

host_info() {
  date -u +%Y-%m-%dT%H:%M:%SZ
  uname -a
  echo "glibc: $(ldd --version 2>&1 | head -1)"
  echo "bundle: $bundle"
  # The MANIFEST's header (commit, build, glibc floor); the rest is hashes.
  sed -n '1,/^$/p' "$bundle/MANIFEST" 2>/dev/null || echo "(no MANIFEST)"
  echo "CUDA libraries in /usr/local/cuda/lib64:"
  ls /usr/local/cuda/lib64 2>/dev/null | grep -E '^lib(cudart|nvrtc|cublas|cublasLt)\.so' | sed 's/^/  /'
}

nvidia_smi() {
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "nvidia-smi: not installed (no NVIDIA driver on this machine)"
    return 3
  fi
  nvidia-smi || return
  # Extra fields are informative only; an unknown one must not fail the step.
  nvidia-smi --format=csv \
    --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.memory,power.limit,pstate ||
    echo "(nvidia-smi --query-gpu failed; see the table above)"
}

# `timeout` runs programs, not shell functions: export them to a child bash.
export bundle
export -f host_info nvidia_smi
step host 5 bash -c host_info
step nvidia-smi 8 bash -c nvidia_smi
# No nvidia-smi means no driver: the probe then reports "no CUDA device" and
# decides the run; the missing tool alone does not fail it.
[ "${statuses[-1]}" = "FAIL (exit 3)" ] && statuses[-1]="absent"
smi_status="${statuses[-1]}"
suites=(gpu_smoke_test row_kernels_gpu_test attention_gpu_test gemv_gpu_test sampling_gpu_test
  cuda_executor_gpu_test loop_graph_gpu_test)
tools=(gpu-probe compile-model kiln-bench kiln-greedy-parity write-random-checkpoint)
bundled=()
for b in "${suites[@]}" "${tools[@]}"; do [ -x "$bundle/$b" ] && bundled+=("$bundle/$b"); done
step ldd 5 "$bundle/ldd_check.sh" "${bundled[@]}"
step gpu-probe 20 "$bundle/gpu-probe" --json="$out/probe.json" --summary="$out/summary.tsv"
# The probe exits 0 without a device (that is CI's case), so "no device"
# where a driver answers nvidia-smi must fail here.
has_device=0
grep -q '"device": {' "$out/probe.json" 2>/dev/null && has_device=1
if [ "${statuses[-1]}" = ok ] && ((has_device == 0)) && [ "$smi_status" = ok ]; then
  statuses[-1]="FAIL (nvidia-smi works but the probe found no device)"
fi
# skip_rule: a skipped suite is only acceptable where the probe found no
# device; applies to the step just recorded.
skip_rule() {
  local log="$out/${names[-1]}.log"
  if [ "${statuses[-1]}" = ok ] && grep -q '\[  SKIPPED \]' "$log"; then
    if ((has_device)); then
      statuses[-1]="FAIL (skipped on a host with a device)"
    else
      statuses[-1]="skipped (no device)"
    fi
  fi
}

# gpu_suite NAME LIMIT [ARGS...]: a bundled GoogleTest suite, run from the
# bundle (the executor's test reads tests/fixtures/ relative to it).
gpu_suite() {
  local name="$1" limit="$2"
  shift 2
  if [ ! -x "$bundle/$name" ]; then
    names+=("$name")
    statuses+=("FAIL (not in the bundle)")
    seconds+=(0)
    return
  fi
  step "$name" "$limit" bash -c 'cd "$0" && exec "./$1" "${@:2}"' "$bundle" "$name" \
    --gtest_output="xml:$out/$name.xml" "$@"
  skip_rule
}

gpu_suite gpu_smoke_test 15
gpu_suite row_kernels_gpu_test 15
gpu_suite attention_gpu_test 20
gpu_suite gemv_gpu_test 15
gpu_suite sampling_gpu_test 10
# The executor suite's NVRTC cache.
export KILN_TEST_KERNEL_CACHE="${TMPDIR:-/tmp}/kiln-check-kernel-cache"
gpu_suite cuda_executor_gpu_test 45
gpu_suite loop_graph_gpu_test 10

# sanitize TOOL SUITE:FILTER...: compute-sanitizer TOOL over each small
# kernel suite in turn (the hand-written kernels, on test-sized inputs);
# the first error fails the step. A whole model stays out: racecheck on
# one can take minutes.
sanitize() {
  local tool="$1" suite
  shift
  for suite; do
    echo "--- $tool: ${suite%%:*} (${suite#*:})"
    (cd "$bundle" && "$sanitizer" --tool "$tool" --error-exitcode 1 \
      "./${suite%%:*}" --gtest_filter="${suite#*:}") || return
  done
}
sanitizer="${KILN_COMPUTE_SANITIZER:-/usr/local/cuda/bin/compute-sanitizer}"
if ((has_device)) && [ -x "$sanitizer" ]; then
  export sanitizer
  export -f sanitize
  # Out of memcheck: GEMV's bandwidth timing (its kernels are checked by
  # MatchesTheReference).
  step memcheck 25 bash -c 'sanitize memcheck "$@"' _ "attention_gpu_test:*" \
    "gemv_gpu_test:*MatchesTheReference*" "sampling_gpu_test:*"
  skip_rule
  # Shared-memory hazards: the kernels with shared tiles and block reductions.
  step racecheck 20 bash -c 'sanitize racecheck "$@"' _ "attention_gpu_test:*" "sampling_gpu_test:*"
  skip_rule
fi

echo
echo "=== summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), results in $out) ==="
for i in "${!names[@]}"; do
  printf '%s\t%s\t%ss\n' "${names[$i]}" "${statuses[$i]}" "${seconds[$i]}"
done | table
failed=0
for status in "${statuses[@]}"; do
  case "$status" in FAIL* | TIMEOUT* | NOT\ RUN*) failed=1 ;; esac
done
if [ -s "$out/summary.tsv" ]; then
  echo "--- gpu-probe ---"
  table <"$out/summary.tsv"
fi
if ((has_device == 0)); then
  echo "NOTE: no CUDA device here, so only the NVRTC compile checks and the bundle itself ran."
fi
exit "$failed"
