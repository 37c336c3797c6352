#!/usr/bin/env bash
# Runs the README's C++ example on a fixture engine with a batch bucket: it
# must load, generate, continue, reset and run a batch without an error.
set -euo pipefail
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
tools/compile-model --model tests/fixtures/models/llama2/f32 --out "$tmp/e" \
  --tokenizer tests/fixtures/tokenizers/bytes256/tokenizer.json --max-seq 64 --buckets 8,16 \
  --max-batch 2 2>"$tmp/compile.log" || { cat "$tmp/compile.log"; exit 1; }
out=$(tests/docs/readme_example "$tmp/e")
echo "$out"
grep -q '^\[[0-9]* tokens, \(eos\|stop_string\|length\)\]$' <<<"$out" ||
  { echo "FAIL: no result line" >&2; exit 1; }
echo PASS
