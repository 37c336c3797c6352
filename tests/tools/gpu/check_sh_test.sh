#!/usr/bin/env bash
# check.sh's bookkeeping with stand-in bundles (fake gpu-probe, GPU suites,
# ldd_check.sh and compute-sanitizer): results land in $OUT, a skipped suite passes only where
# the probe found no device, failures and timeouts fail the run, and the time
# budget is enforced. Usage: check_sh_test.sh PATH_TO_CHECK_SH
set -uo pipefail
check="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
root="${TEST_TMPDIR:-$(mktemp -d)}/check_sh"
failures=0

# fake_bundle DIR DEVICE_JSON PROBE_EXIT SMOKE_OUTPUT [PROBE_SLEEP_S]
fake_bundle() {
  local dir="$1"
  mkdir -p "$dir"
  cat >"$dir/gpu-probe" <<SH
#!/usr/bin/env bash
sleep ${5:-0}
for arg; do
  case "\$arg" in
    --json=*) echo '{ "device": $2 }' >"\${arg#--json=}" ;;
    --summary=*) printf 'result\tfake\n' >"\${arg#--summary=}" ;;
  esac
done
echo "fake probe"
exit $3
SH
  for suite in gpu_smoke_test row_kernels_gpu_test attention_gpu_test gemv_gpu_test \
    sampling_gpu_test cuda_executor_gpu_test loop_graph_gpu_test; do
    printf '#!/usr/bin/env bash\necho "%s"\n' "$4" >"$dir/$suite"
  done
  printf '#!/usr/bin/env bash\necho "ldd_check: ok"\n' >"$dir/ldd_check.sh"
  chmod +x "$dir"/*
}

# expect NAME RC PATTERN [ENV...]: runs check.sh on bundle NAME.
expect() {
  local name="$1" want_rc="$2" pattern="$3" output rc
  shift 3
  output=$(env OUT="$root/$name/out" KILN_GPU_BUNDLE="$root/$name" \
    KILN_COMPUTE_SANITIZER="$root/fakebin/compute-sanitizer" "$@" "$check" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want_rc" ] || ! grep -q -- "$pattern" <<<"$output"; then
    echo "FAIL $name: want exit $want_rc and /$pattern/, got exit $rc:"
    echo "$output"
    failures=$((failures + 1))
  elif [ ! -s "$root/$name/out/gpu-probe.log" ] && [ "$name" != budget ]; then
    echo "FAIL $name: no gpu-probe.log in \$OUT"
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

# A compute-sanitizer that runs the command after its options.
mkdir -p "$root/fakebin"
printf '#!/usr/bin/env bash\nshift 4\nexec "$@"\n' >"$root/fakebin/compute-sanitizer"
chmod +x "$root/fakebin/compute-sanitizer"

fake_bundle "$root/no_device" null 0 "[  SKIPPED ] 4 tests"
expect no_device 0 "gpu_smoke_test *skipped (no device)"
fake_bundle "$root/device" '{ "name": "fake" }' 0 "[  PASSED  ] 4 tests."
expect device 0 "cuda_executor_gpu_test *ok"
expect device 0 "racecheck *ok"
fake_bundle "$root/skipped_on_device" '{ "name": "fake" }' 0 "[  SKIPPED ] 4 tests"
expect skipped_on_device 1 "FAIL (skipped on a host with a device)"
fake_bundle "$root/probe_fails" null 1 "[  SKIPPED ] 4 tests"
expect probe_fails 1 "gpu-probe *FAIL (exit 1)"
# A driver that answers nvidia-smi but a probe that sees no device.
printf '#!/usr/bin/env bash\necho "fake nvidia-smi"\n' >"$root/fakebin/nvidia-smi"
chmod +x "$root/fakebin/nvidia-smi"
fake_bundle "$root/driver_no_device" null 0 "[  SKIPPED ] 4 tests"
expect driver_no_device 1 "FAIL (nvidia-smi works but the probe found no device)" \
  PATH="$root/fakebin:$PATH"
# A 3 s budget: the probe times out and the suite never starts.
fake_bundle "$root/budget" null 0 "[  PASSED  ] 4 tests." 30
rm "$root/budget/gemv_gpu_test"
expect budget 1 "gpu_smoke_test *NOT RUN (time budget spent)" KILN_GPU_CHECK_BUDGET_S=3
expect budget 1 "gemv_gpu_test *FAIL (not in the bundle)" KILN_GPU_CHECK_BUDGET_S=3

[ "$failures" -eq 0 ] && echo PASS || { echo "$failures failed"; exit 1; }
