#!/usr/bin/env bash
# CI's hostile-input checks (docs/FUZZING.md): the whole test suite under
# ASan + UBSan, then every fuzz target for a few seconds.
#
#   tools/ci_extra.sh      (KILN_CI_FUZZ_SECONDS: seconds per target, default 10)
#
# Run it after tools/test.sh, whose setup it relies on (Bazel, clang).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
tools/sanitize.sh
echo "ci_extra: sanitizer suite took $((SECONDS - start)) s"
start=$SECONDS
tools/fuzz.sh --seconds "${KILN_CI_FUZZ_SECONDS:-10}"
echo "ci_extra: fuzzing took $((SECONDS - start)) s"
