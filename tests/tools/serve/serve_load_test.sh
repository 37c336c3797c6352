#!/usr/bin/env bash
# kiln-serve under load on SmolLM2 (4 slots): tools/bench/serve_bench.py
# --check, every phase together bounded to 3 minutes (see its docstring for
# the phases). CI's size: 24 requests at concurrency 12, three times the
# slots, so requests queue, join and leave running batches; the benchmark in
# docs/PERFORMANCE.md runs 64 at 16.
set -euo pipefail
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
tools/compile-model --model third_party/references/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
  --out "$tmp/smollm2" --max-seq 256 --max-batch 4 --buckets 16,64 2>"$tmp/compile.log" ||
  { cat "$tmp/compile.log"; echo "FAIL: compile-model" >&2; exit 1; }
TMPDIR="$tmp" python3 tools/bench/serve_bench.py --engine "$tmp/smollm2" \
  --kiln-serve tools/serve/kiln-serve --requests 24 --concurrency 12 --sweep "" \
  --time-limit 180 --check
