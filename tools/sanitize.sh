#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
# (gcc; `--config=asan` in .bazelrc): any memory error, leak or undefined
# behaviour fails the test that hit it. See docs/FUZZING.md.
#
#   tools/sanitize.sh [bazel test args...]     (default: //...)
#
# The asan build has its own output directory (bazel-out/k8-optasan), so it
# shares the output base with the plain build without evicting it.
set -euo pipefail
cd "$(dirname "$0")/.."
(($#)) || set -- //...
exec bazel test --config=asan "$@"
