#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and fuzzes each one for
# a bounded time. Fails if any target crashes, leaks, hits UB, times out on
# one input or exceeds the memory limits. See docs/FUZZING.md.
#
#   tools/fuzz.sh [--seconds N] [--runs R] [--fork J] [target...]
#
#   --seconds N  fuzzing time per target (default 60; CI uses a few)
#   --runs R     stop a target after R executions (whichever of the two
#                limits comes first; default: none), for campaigns that
#                count executions (docs/FUZZING.md)
#   --fork J     J parallel fuzzing processes per target (libFuzzer -fork),
#                for long runs; they keep going after a crash and save each one
#   target       any of: safetensors checkpoint_index config ir_text gguf
#                tokenizer_json gguf_tokenizer gguf_model chat_template
#                tokenizer_encode engine_manifest gemm_choices launch_plans
#                kernel_index serve_request
#                (default: all, one after the other)
#
# Environment:
#   KILN_FUZZ_DIR          work folder (default ~/.cache/kiln-fuzz): corpus/<t>/
#                          grows with the inputs found, crashes/<t>/ holds
#                          crash inputs, logs/<t>.log the fuzzer's output.
#   KILN_FUZZ_OUTPUT_BASE  Bazel output base for the clang build (default
#                          ~/.cache/kiln-bazel-clang); kept apart from the gcc
#                          build's so neither evicts the other.
#
# The repository's tests/fuzz/corpus/<t>/ is read as seeds and never written.
# A crash input belongs in tests/fuzz/regressions/<t>/ with an entry in
# tests/fuzz/replay_test.cc, which replays those in every build; they are not
# seeds here, since one still open would fail every run at once.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(safetensors checkpoint_index config ir_text gguf tokenizer_json gguf_tokenizer
             gguf_model chat_template tokenizer_encode engine_manifest gemm_choices
             launch_plans kernel_index serve_request)
seconds=60
runs=-1
fork=0
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --fork) fork="$2"; shift 2 ;;
    -h | --help) sed -n '2,31p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target $t" >&2; exit 2; }
done

work="${KILN_FUZZ_DIR:-$HOME/.cache/kiln-fuzz}"
# The clang server exits after 10 idle minutes rather than holding ~1 GB for hours.
bazel_clang=(bazel "--output_base=${KILN_FUZZ_OUTPUT_BASE:-$HOME/.cache/kiln-bazel-clang}"
             --max_idle_secs=600)
# --symlink_prefix=/: no bazel-* links, which would point the repository's
# bazel-bin at this output base.
build_start=$SECONDS
"${bazel_clang[@]}" build --config=fuzz --symlink_prefix=/ //tests/fuzz:fuzzers
bin="$("${bazel_clang[@]}" info --config=fuzz bazel-bin 2>/dev/null)/tests/fuzz"
echo "fuzz.sh: built the fuzzers in $((SECONDS - build_start)) s"

# Limits: a declared size the parser believes must be a clean error, not an
# allocation of gigabytes; one input may take at most 10 s.
flags=(-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -max_total_time="$seconds"
       -runs="$runs" -print_final_stats=1)
((fork > 0)) && flags+=(-fork="$fork" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)

# The safetensors and checkpoint harnesses write each input to a file:
# on tmpfs that costs microseconds, on disk milliseconds.
[[ -d /dev/shm && -w /dev/shm ]] && export TMPDIR=/dev/shm

summary=()
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$work/corpus/$t" "$work/crashes/$t" "$work/logs"
  log="$work/logs/$t.log"
  echo "fuzz.sh: $t for ${seconds} s (log: $log)"
  touch "$log.start"
  start=$SECONDS
  status=0
  # The first folder receives new inputs; the repository's are read only.
  "$bin/${t}_fuzzer" "${flags[@]}" -dict="tests/fuzz/dicts/$t.dict" \
    -artifact_prefix="$work/crashes/$t/" "$work/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1 ||
    status=$?
  took=$((SECONDS - start))
  if ((fork > 0)); then
    execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
  else
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || true)
  fi
  # With --fork, libFuzzer goes on after a crash and may exit 0: count files.
  crashes=$(find "$work/crashes/$t" -type f -newer "$log.start" | wc -l)
  result=ok
  if ((status != 0 || crashes > 0)); then
    result="FAILED (exit $status, $crashes new files in crashes/$t)"
    failed=1
    grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY|written to' \
      "$log" | head -20 >&2 || true
  fi
  summary+=("$(printf '%-18s %6s s %12s execs  %s' "$t" "$took" "${execs:-?}" "$result")")
done

echo
echo "fuzz.sh: summary (crash inputs in $work/crashes/<target>/)"
printf '  %s\n' "${summary[@]}"
exit "$failed"
