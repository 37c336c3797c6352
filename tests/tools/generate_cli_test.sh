#!/usr/bin/env bash
# bin/generate end to end on a fixture engine: --chat renders the engine's
# chat template (the same ids as the hand-formatted prompt), --prompts-file
# runs one batch whose rows equal the prompts run alone, and misuse fails
# with its reason.
set -euo pipefail
compile=tools/compile-model
generate=tools/generate
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
fail() { echo "FAIL: $*" >&2; exit 1; }

model="$tmp/llama2"
cp -rL tests/fixtures/models/llama2/f32 "$model"
chmod -R u+w "$model"
printf '%s' "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}" \
  > "$model/chat_template.jinja"
tokenizer=tests/fixtures/tokenizers/bytes256/tokenizer.json
"$compile" --model "$model" --out "$tmp/e" --tokenizer "$tokenizer" --max-seq 48 \
  --buckets 8,16 --max-batch 2 2>"$tmp/compile.log" || { cat "$tmp/compile.log"; fail compile; }
[[ -f $tmp/e/chat_template.jinja ]] || fail "engine has no chat_template.jinja"

ids() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["prompt_ids"], d["ids"])'; }
chat=$("$generate" --engine "$tmp/e" --chat --system "be brief" --prompt "hi" --max-new-tokens 5 --json | ids)
raw=$("$generate" --engine "$tmp/e" --prompt "<system>be brief<user>hi<assistant>" \
  --add-special-tokens=false --max-new-tokens 5 --json | ids)
[[ $chat == "$raw" ]] || fail "--chat gave $chat, the formatted prompt $raw"

printf 'first prompt\nthe second, longer prompt\n' > "$tmp/prompts.txt"
batch=$("$generate" --engine "$tmp/e" --prompts-file "$tmp/prompts.txt" --max-new-tokens 6 --json |
  python3 -c 'import json,sys; print([r["ids"] for r in json.load(sys.stdin)])')
one=$("$generate" --engine "$tmp/e" --prompt "first prompt" --max-new-tokens 6 --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["ids"])')
two=$("$generate" --engine "$tmp/e" --prompt "the second, longer prompt" --max-new-tokens 6 --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["ids"])')
[[ $batch == "[$one, $two]" ]] || fail "batch $batch != alone [$one, $two]"

# The model's generation_config.json sets the defaults; flags override them.
sampled="$tmp/sampled"
cp -rL tests/fixtures/models/llama2/f32 "$sampled"
chmod -R u+w "$sampled"
printf '{"do_sample": true, "temperature": 0.7, "top_k": 5, "max_new_tokens": 7}' \
  > "$sampled/generation_config.json"
"$compile" --model "$sampled" --out "$tmp/s" --tokenizer "$tokenizer" --max-seq 48 --buckets 8 \
  2>/dev/null || fail "compile with generation_config.json"
by_default=$("$generate" --engine "$tmp/s" --prompt "abc" --seed 4 --json | ids)
by_flags=$("$generate" --engine "$tmp/e" --prompt "abc" --seed 4 --temperature 0.7 --top-k 5 \
  --max-new-tokens 7 --json | ids)
[[ $by_default == "$by_flags" ]] || fail "defaults gave $by_default, the same flags $by_flags"
greedy=$("$generate" --engine "$tmp/s" --prompt "abc" --temperature 0 --max-new-tokens 7 --json | ids)
plain=$("$generate" --engine "$tmp/e" --prompt "abc" --max-new-tokens 7 --json | ids)
[[ $greedy == "$plain" ]] || fail "--temperature 0 did not override do_sample: $greedy vs $plain"
printf '{"top_p": 2}' > "$sampled/generation_config.json"
if "$compile" --model "$sampled" --out "$tmp/bad" 2>"$tmp/err"; then fail "bad generation config"; fi
grep -qF "generation_config.json: top_p must be in (0, 1], got 2" "$tmp/err" || { cat "$tmp/err"; fail "message"; }

# A template Kiln cannot render is kept, with a warning at compile time.
printf '%s' "{% macro m() %}{% endmacro %}" > "$sampled/chat_template.jinja"
printf '{}' > "$sampled/generation_config.json"
"$compile" --model "$sampled" --out "$tmp/macro" --tokenizer "$tokenizer" --max-seq 32 --buckets 8 \
  2>"$tmp/err" || { cat "$tmp/err"; fail "compile with an unsupported chat template"; }
grep -qF "warning: generate --chat will fail on this engine: chat template 1:4: '{% macro %}' is not supported" \
  "$tmp/err" || { cat "$tmp/err"; fail "no chat template warning"; }

expect_error() {  # expect_error MESSAGE ARGS...
  local message="$1"; shift
  if "$generate" "$@" >"$tmp/out" 2>"$tmp/err"; then fail "succeeded: $*"; fi
  grep -qF -- "$message" "$tmp/err" || { cat "$tmp/err"; fail "no '$message' for: $*"; }
}
expect_error "--system needs --chat" --engine "$tmp/e" --prompt x --system y
expect_error "give --prompt or --prompts-file, not both" --engine "$tmp/e" --prompt x \
  --prompts-file "$tmp/prompts.txt"
printf '\n\n' > "$tmp/empty.txt"
expect_error "has no prompts" --engine "$tmp/e" --prompts-file "$tmp/empty.txt"
"$compile" --model tests/fixtures/models/llama2/f32 --out "$tmp/plain" --tokenizer "$tokenizer" \
  --max-seq 32 --buckets 8 2>/dev/null
expect_error "this engine has no chat template" --engine "$tmp/plain" --chat --prompt x

# compile-model refuses a tokenizer that does not belong to the model (more
# ids than the model's 256 logits), before it writes anything; so does a
# tokenizer.json whose ids disagree with themselves (a fuzz finding).
if "$compile" --model tests/fixtures/models/llama3/f32 --out "$tmp/big_vocab" \
  --tokenizer tests/fixtures/tokenizers/gpt2/tokenizer.json 2>"$tmp/err"; then
  fail "compiled a 2000-token tokenizer for a 256-logit model"
fi
grep -qF "the tokenizer has ids up to 1999 but the model only 256 logits" "$tmp/err" ||
  { cat "$tmp/err"; fail "no tokenizer size message"; }
[[ ! -e $tmp/big_vocab ]] || fail "an engine was written for a tokenizer that does not fit"
# A tokenizer Kiln cannot load (here a fuzz finding whose added tokens
# share an id) is bundled with a warning naming the reason, and generate
# refuses the engine with the same reason.
"$compile" --model tests/fixtures/models/llama3/f32 --out "$tmp/bad_ids" --max-seq 32 --buckets 8 \
  --tokenizer tests/fuzz/regressions/tokenizer_json/two_added_tokens_one_id.json 2>"$tmp/err" ||
  { cat "$tmp/err"; fail "compile with an unloadable tokenizer"; }
grep -qF 'warning: the tokenizer cannot be loaded' "$tmp/err" || { cat "$tmp/err"; fail "no warning"; }
grep -qF 'added tokens "<s>" and "</s>" both have id 2' "$tmp/err" || { cat "$tmp/err"; fail "no id message"; }
expect_error 'added tokens "<s>" and "</s>" both have id 2' --engine "$tmp/bad_ids" --prompt x

# A special token past the model's logits (Llama-2's <pad> at 32000 of a
# 32000-logit model) compiles; a prompt holding it is refused by name.
python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))
t.setdefault("added_tokens", []).append({"id": 256, "content": "<pad>", "special": True,
    "single_word": False, "lstrip": False, "rstrip": False, "normalized": False})
json.dump(t, open(sys.argv[2], "w"))' "$tokenizer" "$tmp/pad_tokenizer.json"
"$compile" --model tests/fixtures/models/llama2/f32 --out "$tmp/pad" --tokenizer "$tmp/pad_tokenizer.json" \
  --max-seq 32 --buckets 8 2>"$tmp/err" || { cat "$tmp/err"; fail "compile with <pad> past the logits"; }
"$generate" --engine "$tmp/pad" --prompt "abc" --max-new-tokens 3 >/dev/null 2>&1 || fail "generate with <pad> tokenizer"
expect_error 'the prompt holds token "<pad>" (id 256), which the model has no embedding for' \
  --engine "$tmp/pad" --prompt "abc<pad>" --max-new-tokens 3
echo PASS
