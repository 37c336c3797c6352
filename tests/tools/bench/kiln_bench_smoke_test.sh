#!/usr/bin/env bash
# Smoke run of kiln-bench: compile the llama3 fixture (kiln-bench --model
# times compile-model), run the smoke workload, check the result's schema
# and values, and check the greedy tokens against run-reference; then the
# same workload with prompt lookup.
# Args: kiln-bench compile-model run-reference check_result.py
set -euo pipefail
bench="$1" compile="$2" reference="$3" check="$4"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
engine="$tmp/engine"
rm -rf "$engine"

"$bench" --model tests/fixtures/models/llama3/f32 --compile-model "$compile" \
  --compile-flags="--max-batch 2 --tokenizer tests/fixtures/tokenizers/bytes256/tokenizer.json" \
  --engine "$engine" --workload tools/bench/workloads/smoke.json \
  --warmup 1 --reps 2 --commit test --bandwidth-mib 16 --out "$tmp/result.json"

python3 "$check" "$tmp/result.json" --reps 2 --expect-compile > "$tmp/first_run.txt"
cat "$tmp/first_run.txt"

# The benchmark's own loop must generate what the runtime generates: each
# case's first greedy run (every row of a batch) equals run-reference's
# tokens for the same prompt ids alone.
while read -r ids want; do
  got="$("$reference" --engine "$engine" --prompt-ids "$ids" --max-new-tokens 8 2>/dev/null |
    sed -n 's/^next tokens: //p')"
  if [ "$got" != "$want" ]; then
    echo "FAIL: kiln-bench generated $want, run-reference $got for prompt $ids"
    exit 1
  fi
done < "$tmp/first_run.txt"

# The speculative options: prompt lookup through the Generator gives the
# plain loop's greedy tokens, case for case and row for row, and reports
# its drafts; on the reference executor the options are refused.
"$bench" --engine "$engine" --workload tools/bench/workloads/smoke.json --warmup 0 --reps 1 \
  --bandwidth-mib 16 --prompt-lookup 3 --out "$tmp/speculative.json"
python3 "$check" "$tmp/speculative.json" --reps 1 --speculative > "$tmp/speculative_run.txt"
diff "$tmp/first_run.txt" "$tmp/speculative_run.txt" ||
  { echo "FAIL: prompt lookup changed the greedy tokens"; exit 1; }
grep -q '"speculative": "prompt lookup 3"' "$tmp/speculative.json" ||
  { echo "FAIL: the result does not name the speculation"; exit 1; }
if "$bench" --engine "$engine" --workload tools/bench/workloads/smoke.json --executor reference \
  --prompt-lookup 3 2> "$tmp/err.txt" > /dev/null; then
  echo "FAIL: speculation on the reference executor was accepted"
  exit 1
fi
grep -q 'not --executor reference' "$tmp/err.txt" || { echo "FAIL: unclear error: $(cat "$tmp/err.txt")"; exit 1; }

# A bad workload is a clear error, not a crash.
echo '{"name": "bad", "prompt_texts": ["x"], "new_tokens": [0]}' > "$tmp/bad.json"
if "$bench" --engine "$engine" --workload "$tmp/bad.json" 2> "$tmp/err.txt"; then
  echo "FAIL: a workload with new_tokens 0 was accepted"
  exit 1
fi
grep -q '"new_tokens"' "$tmp/err.txt" || { echo "FAIL: unclear error: $(cat "$tmp/err.txt")"; exit 1; }
echo PASS
