#!/usr/bin/env bash
# Creates (or updates) the Python venv for tools/reference/make_fixtures.py and
# installs tools/reference/requirements.txt from PyPI. Idempotent: re-running
# with unchanged requirements does nothing.
#
#   KILN_REF_VENV      venv path (default: $HOME/.cache/kiln-ref)
#   PYTHON             interpreter that creates the venv (default: python3, >= 3.10)
#   KILN_REF_PIP_ARGS  extra pip arguments, e.g. to get CPU-only torch wheels instead
#                      of PyPI's CUDA build (torch==2.15.0 also matches 2.15.0+cpu):
#                      KILN_REF_PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
#
# Then: "$KILN_REF_VENV/bin/python" tools/reference/make_fixtures.py [--check]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
req="$here/requirements.txt"
venv="${KILN_REF_VENV:-$HOME/.cache/kiln-ref}"
python="${PYTHON:-python3}"
stamp="$venv/.kiln-ref-requirements.sha256"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || { echo "setup_venv: $python is older than 3.10" >&2; exit 1; }
  echo "setup_venv: creating $venv"
  "$python" -m venv "$venv"
fi

want="$(sha256sum "$req" | cut -d' ' -f1) ${KILN_REF_PIP_ARGS:-}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && "$venv/bin/python" -c 'import torch, transformers, safetensors' 2>/dev/null; then
  echo "setup_venv: $venv is up to date"
  exit 0
fi

echo "setup_venv: installing $req into $venv"
# shellcheck disable=SC2086  # KILN_REF_PIP_ARGS is a list of arguments
"$venv/bin/python" -m pip install --quiet ${KILN_REF_PIP_ARGS:-} -r "$req"
"$venv/bin/python" -c 'import torch, transformers; print("setup_venv: torch", torch.__version__, "transformers", transformers.__version__)'
echo "$want" > "$stamp"
