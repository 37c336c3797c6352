#!/usr/bin/env bash
# Sets up the machine (tools/setup.sh) and runs every test. CI runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel test //... "$@"
