#!/usr/bin/env bash
# Sets up the machine (tools/setup.sh) and runs every test. CI runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
# The tokenizer differential test compares against HF tokenizers in this venv.
export KILN_TOKENIZERS_PYTHON="${KILN_TOKENIZERS_VENV:-$HOME/.cache/kiln/tokenizers-venv}/bin/python"
bazel test //... "$@"
# Every dependency points down (docs/ARCHITECTURE.md).
tools/check_layers.sh
