# Sourced by the CPU benchmark scripts (run_cpu*.sh): the commit every
# result records, the wait for a quiet machine, and the build of the tools.
#
# KILN_COMMIT: this checkout's commit, "-dirty" when tracked files differ.
commit="$(git rev-parse --short=12 HEAD)"
git diff --quiet HEAD -- . 2>/dev/null || commit="$commit-dirty"
export KILN_COMMIT="$commit"

# Other work on the machine skews every number: wait_quiet NAME waits (at
# most $KILN_QUIET_WAIT_S, default 180 s) for the 1-minute load average to
# fall below 0.8, then says so under NAME if it did not. The load at the
# end of each run is in its JSON.
wait_quiet() {
  for _ in $(seq $(( ${KILN_QUIET_WAIT_S:-180} / 5 ))); do
    awk '{ exit !($1 < 0.8) }' /proc/loadavg && return
    sleep 5
  done
  echo "$1: the machine is busy (load $(cut -d' ' -f1 /proc/loadavg)); measuring anyway"
}

# build_kiln_bench: builds compile-model and kiln-bench (and any targets
# given) and sets $kiln_bench and $compile_model to the binaries.
build_kiln_bench() {
  bazel build //tools:compile-model //tools/bench:kiln-bench "$@"
  local bin
  bin="$(bazel info bazel-bin 2>/dev/null)"
  kiln_bench="$bin/tools/bench/kiln-bench"
  compile_model="$bin/tools/compile-model"
}
