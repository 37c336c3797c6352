#!/usr/bin/env bash
# kiln-serve under load on SmolLM2 (4 slots): tools/bench/serve_bench.py
# --check, every phase together bounded to 3 minutes (the load phase
# itself takes 10-35 s; see the docstring for the phases).
set -euo pipefail
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
tools/compile-model --model third_party/references/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
  --out "$tmp/smollm2" --max-seq 256 --max-batch 4 --buckets 16,64 2>"$tmp/compile.log" ||
  { cat "$tmp/compile.log"; echo "FAIL: compile-model" >&2; exit 1; }
TMPDIR="$tmp" python3 tools/bench/serve_bench.py --engine "$tmp/smollm2" \
  --kiln-serve tools/serve/kiln-serve --requests 64 --concurrency 16 --sweep "" \
  --time-limit 180 --check
