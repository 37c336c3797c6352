#!/usr/bin/env bash
# bin/generate --device emulator: the llama3 fixture compiled for sm_90
# (NVRTC kernels, launch plans, the kernels' CUDA source) runs through the
# CUDA executor on the CUDA emulator and prints the same greedy tokens as
# the cpu engine of the same fixture; the output says the device is
# emulated; speculative decoding (prompt lookup on both engines, a draft
# engine on the cpu one) gives the same tokens; --device on a cpu engine,
# an unknown device, a draft engine of another target and a draft beyond
# the verify step are refused; --loop-plan runs the whole loop as one CUDA
# graph on the emulator (one host wait) and as the same plan on the cpu
# engine's host, with the same tokens, stopping at an EOS inside the graph.
set -euo pipefail
compile=tools/compile-model
generate=tools/generate
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
export KILN_EMULATOR_CACHE="$tmp/emulator-cache"
fail() { echo "FAIL: $*" >&2; exit 1; }

model=tests/fixtures/models/llama3/f32
tokenizer=tests/fixtures/tokenizers/bytes256/tokenizer.json
for target in sm_90 cpu; do
  "$compile" --model "$model" --out "$tmp/$target" --target "$target" --tokenizer "$tokenizer" \
    --max-seq 48 --buckets 8,16 2>"$tmp/compile-$target.log" || { cat "$tmp/compile-$target.log"; fail "compile $target"; }
done
ids() { python3 -c 'import json,sys; print(json.load(sys.stdin)["ids"])'; }
emulated=$("$generate" --engine "$tmp/sm_90" --device emulator --prompt "The quick brown fox" \
  --max-new-tokens 16 --json 2>"$tmp/emulated.err" | ids) || { cat "$tmp/emulated.err"; fail "emulated generate"; }
cpu=$("$generate" --engine "$tmp/cpu" --prompt "The quick brown fox" --max-new-tokens 16 --json | ids)
echo "emulator: $emulated"
echo "cpu:      $cpu"
[[ $emulated == "$cpu" ]] || fail "the emulated sm_90 engine gave $emulated, the cpu engine $cpu"
grep -q "emulated, not a GPU" "$tmp/emulated.err" || fail "the output does not say the device is emulated"

# Speculative decoding gives the same greedy tokens on every backend: prompt
# lookup on the emulated sm_90 engine, and on the cpu engine with prompt
# lookup and with a draft engine (the same fixture compiled again).
spec_prompt="the quick brown fox. the quick brown fox"
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
plain=$("$generate" --engine "$tmp/cpu" --prompt "$spec_prompt" --max-new-tokens 16 --json | ids)
lookup_emulated=$("$generate" --engine "$tmp/sm_90" --device emulator --prompt "$spec_prompt" \
  --max-new-tokens 16 --prompt-lookup 3 --json 2>"$tmp/spec.err" | ids) || { cat "$tmp/spec.err"; fail "emulated prompt lookup"; }
[[ $lookup_emulated == "$plain" ]] || fail "prompt lookup on the emulator gave $lookup_emulated, plain $plain"
"$generate" --engine "$tmp/cpu" --prompt "$spec_prompt" --max-new-tokens 16 --prompt-lookup 7 \
  --draft-schedule constant --json >"$tmp/lookup.json"
[[ $(ids <"$tmp/lookup.json") == "$plain" ]] || fail "prompt lookup on the cpu engine changed the tokens"
(( $(field drafted_tokens <"$tmp/lookup.json") > 0 )) || fail "prompt lookup drafted nothing"
"$compile" --model "$model" --out "$tmp/draft" --tokenizer "$tokenizer" --max-seq 48 \
  --buckets 8,16 2>/dev/null
"$generate" --engine "$tmp/cpu" --prompt "$spec_prompt" --max-new-tokens 16 --draft-engine "$tmp/draft" \
  --json >"$tmp/draft.json"
[[ $(ids <"$tmp/draft.json") == "$plain" ]] || fail "the draft engine changed the tokens"
[[ $(field acceptance_rate <"$tmp/draft.json") == 1.0 ]] || fail "the same model as draft was not always accepted"
# The loop as one plan: a CUDA graph with a WHILE node on the emulator, the
# host's run of the same plan on the cpu engine; plain and prompt lookup.
for extra in "" "--prompt-lookup 3 --draft-schedule heuristic"; do
  # shellcheck disable=SC2086
  "$generate" --engine "$tmp/sm_90" --device emulator --prompt "$spec_prompt" --max-new-tokens 16 \
    --loop-plan $extra --json >"$tmp/loop.json" 2>"$tmp/loop.err" || { cat "$tmp/loop.err"; fail "emulated loop plan $extra"; }
  [[ $(ids <"$tmp/loop.json") == "$plain" ]] || fail "the loop graph ($extra) gave $(ids <"$tmp/loop.json"), plain $plain"
  [[ $(field host_synchronizations <"$tmp/loop.json") == 1 ]] || fail "the loop graph waited more than once"
  # shellcheck disable=SC2086
  "$generate" --engine "$tmp/cpu" --prompt "$spec_prompt" --max-new-tokens 16 --loop-plan $extra \
    --json >"$tmp/loop_cpu.json"
  [[ $(ids <"$tmp/loop_cpu.json") == "$plain" ]] || fail "the host loop plan ($extra) changed the tokens"
done
# A stop string, matched on the host in the streamed tokens, ends the
# graph's output where the plain loop's ends.
stop=$(field text <"$tmp/lookup.json" | cut -c3-4)
"$generate" --engine "$tmp/cpu" --prompt "$spec_prompt" --max-new-tokens 16 --stop "$stop" \
  --json >"$tmp/stop_plain.json"
"$generate" --engine "$tmp/sm_90" --device emulator --prompt "$spec_prompt" --max-new-tokens 16 \
  --loop-plan --stop "$stop" --json >"$tmp/stop_loop.json" 2>/dev/null || fail "emulated loop plan with a stop string"
[[ $(field finish_reason <"$tmp/stop_loop.json") == stop_string ]] || fail "the loop graph missed stop string '$stop'"
[[ $(ids <"$tmp/stop_loop.json") == "$(ids <"$tmp/stop_plain.json")" ]] || fail "the loop graph's stop string cut elsewhere"
# Sampled plain decoding in the loop: the host loop draws SampleToken's
# tokens; the graph draws with the on-device sampler from the same logits
# rule and seed, with one wait.
sampled=(--prompt "$spec_prompt" --max-new-tokens 16 --temperature 1.3 --top-k 0 --seed 5 --json)
"$generate" --engine "$tmp/cpu" "${sampled[@]}" >"$tmp/sampled.json"
[[ $(ids <"$tmp/sampled.json") != "$plain" ]] || fail "sampling drew the greedy tokens"
"$generate" --engine "$tmp/cpu" "${sampled[@]}" --loop-plan >"$tmp/sampled_loop.json"
[[ $(ids <"$tmp/sampled_loop.json") == "$(ids <"$tmp/sampled.json")" ]] || fail "the sampled host loop drew other tokens"
"$generate" --engine "$tmp/sm_90" --device emulator "${sampled[@]}" >"$tmp/sampled_emu.json" 2>/dev/null
"$generate" --engine "$tmp/sm_90" --device emulator "${sampled[@]}" --loop-plan   >"$tmp/sampled_graph.json" 2>"$tmp/sampled_graph.err" || { cat "$tmp/sampled_graph.err"; fail "a sampled loop graph"; }
[[ $(ids <"$tmp/sampled_graph.json") == "$(ids <"$tmp/sampled_emu.json")" ]] ||
  fail "the sampled loop graph drew $(ids <"$tmp/sampled_graph.json"), step by step $(ids <"$tmp/sampled_emu.json")"
[[ $(field host_synchronizations <"$tmp/sampled_graph.json") == 1 ]] || fail "the sampled loop graph waited more than once"
# Sampled prompt lookup keeps the drafts the draws agree with: plain
# sampling's tokens, step by step and in the host loop.
for extra in "" "--loop-plan"; do
  # shellcheck disable=SC2086
  "$generate" --engine "$tmp/cpu" "${sampled[@]}" --prompt-lookup 3 $extra >"$tmp/sampled_lookup.json"
  [[ $(ids <"$tmp/sampled_lookup.json") == "$(ids <"$tmp/sampled.json")" ]] ||
    fail "sampled prompt lookup ($extra) drew other tokens than plain sampling"
done
if "$generate" --engine "$tmp/cpu" --prompt x --draft-engine "$tmp/sm_90" 2>"$tmp/err3"; then fail "a sm_90 draft for a cpu engine"; fi
grep -q "was compiled for sm_90 but the engine for cpu" "$tmp/err3" || { cat "$tmp/err3"; fail "unclear error for a draft of another target"; }
if "$generate" --engine "$tmp/cpu" --prompt x --prompt-lookup 9 2>"$tmp/err4"; then fail "--prompt-lookup 9"; fi
grep -q "verifies at most 7 drafted tokens" "$tmp/err4" || { cat "$tmp/err4"; fail "unclear error for a draft beyond the verify step"; }

if "$generate" --engine "$tmp/cpu" --device emulator --prompt x 2>"$tmp/err1"; then fail "--device on a cpu engine"; fi
grep -q "applies to CUDA engines" "$tmp/err1" || { cat "$tmp/err1"; fail "unclear error for --device on a cpu engine"; }
if "$generate" --engine "$tmp/sm_90" --device tpu --prompt x 2>"$tmp/err2"; then fail "--device tpu"; fi
grep -q "must be gpu or emulator" "$tmp/err2" || { cat "$tmp/err2"; fail "unclear error for --device tpu"; }
echo PASS
