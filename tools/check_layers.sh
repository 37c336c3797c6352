#!/usr/bin/env bash
# Checks the layering Bazel visibility cannot see (docs/ARCHITECTURE.md):
# visibility stops a package naming a forbidden target directly, but not a
# forbidden library reached through a chain of allowed ones. For each
# runtime library and runtime binary, this asks Bazel for any dependency
# path to the compiler (NVRTC, plan building, the engine writer, the
# passes, the model builders) and to test-only code; any path found fails,
# printed in full.
#
#   tools/check_layers.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# What runs engines: never the compiler.
runtime_roots=(
  "//runtime/..."
  "//tools:generate"
  "//tools:tokenize"
  "//tools/bench:kiln-bench"
  "//tools/bench:kiln-greedy-parity"
  "//tools/serve:kiln-serve"
)
forbidden_for_runtime=(
  "@local_cuda//:nvrtc"
  "//codegen:nvrtc_compile"
  "//codegen:engine_writer"
  "//codegen/plan:build"
  "//codegen/plan:compile_kernels"
  "//codegen:compile_engine"
  "//passes/..."
  "//models:builders"
  "//models:gguf_model"
  "//models:gguf_weights"
  "//models:gguf_writer"
  "//models:safetensors_writer"
  "//tests/..."
)
# Each stage below the runtime: never a stage above it.
declare -A forbidden_for=(
  ["//base/..."]="//ir/... //models/... //passes/... //codegen/... //runtime/... //tools/... //tests/..."
  ["//ir/..."]="//models/... //passes/... //codegen/... //runtime/... //tools/... //tests/..."
  ["//models/..."]="//passes/... //codegen/... //runtime/... //tools/... //tests/..."
  ["//passes/..."]="//models/... //codegen/... //runtime/... //tools/... //tests/..."
  ["//codegen/..."]="//runtime/... //tools/... //tests/..."
)

failures=0
# Sets `found` to the dependency path from FROM to any of TO (a query
# expression), empty when there is none. A query Bazel cannot answer stops
# the check: it must never read as "no path".
found=""
path_to() {
  local err
  err=$(mktemp)
  if ! found=$(bazel query --noshow_progress --output=label "somepath($1, $2)" 2>"$err"); then
    echo "check_layers: bazel query 'somepath($1, $2)' failed:" >&2
    cat "$err" >&2
    rm -f "$err"
    exit 2
  fi
  rm -f "$err"
}
# check FROM TO...: one query for the whole set; only when it finds a path
# are the pairs asked one by one, to name each forbidden one.
check() {
  local from=$1
  shift
  local union
  union=$(printf ' + %s' "$@")
  union=${union:3}
  path_to "$from" "($union) except $from"
  if [[ -z $found ]]; then
    echo "ok   $from reaches none of: $*"
    return
  fi
  local to
  for to in "$@"; do
    path_to "$from" "$to except $from"
    [[ -z $found ]] && continue
    echo "FORBIDDEN: $from reaches $to through:"
    sed 's/^/    /' <<<"$found"
    failures=$((failures + 1))
  done
}

for from in "${runtime_roots[@]}"; do
  check "$from" "${forbidden_for_runtime[@]}"
done
for from in "${!forbidden_for[@]}"; do
  # shellcheck disable=SC2086  # the lists split on spaces on purpose
  check "$from" ${forbidden_for[$from]}
done

if ((failures)); then
  echo "check_layers: $failures forbidden dependency path(s)" >&2
  exit 1
fi
echo "check_layers: every dependency points down"
