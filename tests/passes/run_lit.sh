#!/usr/bin/env bash
# Runs the pass tests (*.ir) with LLVM's lit and FileCheck (Debian's
# llvm-15-tools, installed by tools/setup.sh) against the ir-opt under test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
llvm="${KILN_LLVM_DIR:-/usr/lib/llvm-15}"
lit="$llvm/build/utils/lit/lit.py"
for f in "$lit" "$llvm/bin/FileCheck" "$llvm/bin/not" "$llvm/bin/split-file"; do
  [ -e "$f" ] || { echo "missing $f: run tools/setup.sh (llvm-15-tools)" >&2; exit 1; }
done
export KILN_IR_OPT="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
export KILN_FILECHECK="$llvm/bin/FileCheck"
export KILN_NOT="$llvm/bin/not"
export KILN_SPLIT_FILE="$llvm/bin/split-file"
exec python3 "$lit" -sv "$here"
