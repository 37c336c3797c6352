#!/usr/bin/env bash
# bin/generate --interactive end to end, greedy.
#
# On SmolLM2-135M-Instruct (ChatML; skipped when tools/fetch_references.sh
# has not fetched it): two piped turns give two replies; turn 2 runs only
# its new tokens, which after the context already held are exactly the
# tokens of the whole conversation rendered afresh, and its reply is the
# reply of a fresh run of that rendering (for a reply ended by EOS and for
# one cut off by --max-new-tokens); /reset gives the first answer again;
# /exit ends with status 0; a full context is reported and the chat goes on.
#
# On the llama2 fixture (a byte tokenizer): a template that rewrites earlier
# turns makes a turn run the whole conversation again, with the reply of a
# fresh --chat run; without a template lines continue the text; misuse is
# refused with its reason.
set -euo pipefail
compile=tools/compile-model
generate=tools/generate
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- The llama2 fixture ---------------------------------------------------
tokenizer=tests/fixtures/tokenizers/bytes256/tokenizer.json
model="$tmp/llama2"
cp -rL tests/fixtures/models/llama2/f32 "$model"
chmod -R u+w "$model"
# Shows the last message only, so no rendering continues the one before.
printf '%s' "{% for m in messages %}{% if loop.last %}<{{ m['role'] }}>{{ m['content'] }}{% endif %}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}" \
  > "$model/chat_template.jinja"
"$compile" --model "$model" --out "$tmp/last" --tokenizer "$tokenizer" --max-seq 48 --buckets 8,16 \
  2>"$tmp/compile.log" || { cat "$tmp/compile.log"; fail "compile the llama2 fixture"; }
printf 'hi\nthere\n' | "$generate" --engine "$tmp/last" --interactive --max-new-tokens 5 \
  >"$tmp/last.out" 2>"$tmp/last.err" || { cat "$tmp/last.err"; fail "--interactive, last-message template"; }
grep -qF "running the whole conversation again" "$tmp/last.err" || { cat "$tmp/last.err"; fail "no restart"; }
grep -q "^\[turn 2: [0-9]* prompt tokens after 0 in context" "$tmp/last.err" ||
  { cat "$tmp/last.err"; fail "turn 2 did not start over"; }
for user in hi there; do
  "$generate" --engine "$tmp/last" --chat --prompt "$user" --max-new-tokens 5 2>/dev/null
done >"$tmp/last.fresh"
cmp -s "$tmp/last.out" "$tmp/last.fresh" ||
  fail "replies $(od -c "$tmp/last.out"), fresh --chat runs $(od -c "$tmp/last.fresh")"

"$compile" --model tests/fixtures/models/llama2/f32 --out "$tmp/plain" --tokenizer "$tokenizer" \
  --max-seq 48 --buckets 8,16 2>/dev/null || fail "compile the fixture without a template"
printf 'ab\ncd\n' | "$generate" --engine "$tmp/plain" --interactive --max-new-tokens 3 \
  >/dev/null 2>"$tmp/plain.err" || { cat "$tmp/plain.err"; fail "--interactive without a template"; }
grep -qF "this engine has no chat template: each line continues the text" "$tmp/plain.err" ||
  { cat "$tmp/plain.err"; fail "no plain-continuation note"; }
# The byte tokenizer adds no BOS: c and d follow a, b and the 3 generated.
grep -qF "[turn 2: 2 prompt tokens after 5 in context" "$tmp/plain.err" ||
  { cat "$tmp/plain.err"; fail "line 2 did not continue line 1"; }

expect_error() {  # expect_error MESSAGE ARGS...
  local message="$1"; shift
  if "$generate" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"; then fail "succeeded: $*"; fi
  grep -qF -- "$message" "$tmp/err" || { cat "$tmp/err"; fail "no '$message' for: $*"; }
}
expect_error "--interactive reads the user's messages from stdin: drop --prompt" \
  --engine "$tmp/last" --interactive --prompt x
expect_error "--interactive reads the user's messages from stdin: drop --prompts-file" \
  --engine "$tmp/last" --interactive --prompts-file "$tmp/last.out"
expect_error "--interactive streams text, not JSON: drop --json" --engine "$tmp/last" --interactive --json
expect_error "--interactive applies the chat template already: drop --chat" \
  --engine "$tmp/last" --interactive --chat
expect_error "--system needs --chat or --interactive" --engine "$tmp/last" --prompt x --system y
expect_error "--system: this engine has no chat template" --engine "$tmp/plain" --interactive --system y
expect_error "--chat: this engine has no chat template" --engine "$tmp/plain" --chat --prompt x

# --- SmolLM2-135M-Instruct ------------------------------------------------
gguf=third_party/references/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
if [[ ! -f $gguf ]]; then
  echo "SKIP the SmolLM2 checks: $gguf is absent (KILN_FETCH_SMOLLM2=1 tools/fetch_references.sh)"
  echo PASS
  exit 0
fi
"$compile" --model "$gguf" --out "$tmp/smol" --max-seq 256 --buckets 16,64 2>"$tmp/compile.log" ||
  { cat "$tmp/compile.log"; fail "compile SmolLM2"; }
q1="What is the capital of France?"
q2="And of Germany?"
system="Be brief."

# check_turn_two N: turn 2 of a chat at --max-new-tokens N ran only the new
# tokens, and its reply is a fresh run's of the whole conversation.
check_turn_two() {
  local n="$1"
  "$generate" --engine "$tmp/smol" --chat --system "$system" --prompt "$q1" --max-new-tokens "$n" \
    --json 2>/dev/null >"$tmp/first.json"
  printf '%s\n%s\n' "$q1" "$q2" | "$generate" --engine "$tmp/smol" --interactive --system "$system" \
    --max-new-tokens "$n" >"$tmp/two.out" 2>"$tmp/two.err" || { cat "$tmp/two.err"; fail "two turns"; }
  # SmolLM2's template (ChatML), the first reply as generated.
  python3 - "$tmp/first.json" "$system" "$q1" "$q2" >"$tmp/conversation.txt" <<'EOF'
import json, sys
reply = json.load(open(sys.argv[1]))["text"]
turns = [("system", sys.argv[2]), ("user", sys.argv[3]), ("assistant", reply), ("user", sys.argv[4])]
sys.stdout.write("".join(f"<|im_start|>{r}\n{c}<|im_end|>\n" for r, c in turns) + "<|im_start|>assistant\n")
EOF
  "$generate" --engine "$tmp/smol" --add-special-tokens=false --max-new-tokens "$n" --json \
    <"$tmp/conversation.txt" 2>/dev/null >"$tmp/whole.json"
  python3 - "$tmp/first.json" "$tmp/whole.json" "$tmp/two.out" "$tmp/two.err" <<'EOF' ||
import json, re, sys
first, whole = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
out, err = open(sys.argv[3]).read(), open(sys.argv[4]).read()
expected = first["text"] + "\n" + whole["text"] + "\n"
assert out == expected, f"replies {out!r}, expected {expected!r} (turn 1 as --chat, turn 2 as the whole conversation)"
run, held = map(int, re.search(r"\[turn 2: (\d+) prompt tokens after (\d+) in context", err).groups())
n = len(whole["prompt_ids"])
assert run + held == n, f"turn 2 ran {run} tokens after {held}, but the conversation is {n} tokens"
assert run < held, f"turn 2 ran {run} tokens, not fewer than the {held} in context"
print(f"turn 2 ({first['finish_reason']} after turn 1): {run} new tokens after {held} = the {n} of the conversation")
EOF
    { cat "$tmp/two.err"; fail "turn 2 at --max-new-tokens $n"; }
}
check_turn_two 12  # turn 1 ends with <|im_end|>, the EOS
grep -qF "generated (eos)" "$tmp/two.err" || { cat "$tmp/two.err"; fail "turn 1 did not end at EOS"; }
check_turn_two 4   # turn 1 is cut off; the template closes it
grep -qF "4 generated (length)" "$tmp/two.err" || { cat "$tmp/two.err"; fail "turn 1 was not cut off"; }

# /reset starts over (the first answer again); unknown commands and empty
# lines are skipped; /exit ends, with status 0, before the last line.
printf '%s\n%s\n/reset\n%s\n/nope\n\n/exit\n%s\n' "$q1" "$q2" "$q1" "$q2" |
  "$generate" --engine "$tmp/smol" --interactive --system "$system" --max-new-tokens 12 \
    >"$tmp/reset.out" 2>"$tmp/reset.err" || { cat "$tmp/reset.err"; fail "/reset, /exit"; }
mapfile -t replies <"$tmp/reset.out"
[[ ${#replies[@]} == 3 ]] || fail "expected 3 replies, got: $(cat "$tmp/reset.out")"
[[ ${replies[2]} == "${replies[0]}" ]] || fail "after /reset: '${replies[2]}', first: '${replies[0]}'"
[[ ${replies[1]} != "${replies[0]}" ]] || fail "turn 2 repeated turn 1: '${replies[1]}'"
grep -qF "[the conversation starts over]" "$tmp/reset.err" || { cat "$tmp/reset.err"; fail "/reset"; }
grep -qF "unknown command /nope" "$tmp/reset.err" || { cat "$tmp/reset.err"; fail "/nope"; }
[[ $(grep -c "^\[turn 1: " "$tmp/reset.err") == 2 ]] || { cat "$tmp/reset.err"; fail "turns"; }

# A full context is reported with the way out, and the chat goes on.
"$compile" --model "$gguf" --out "$tmp/small" --max-seq 40 --buckets 16 2>/dev/null ||
  fail "compile SmolLM2 at --max-seq 40"
printf '%s\n%s\n/reset\n%s\n' "$q1" "$q2" "$q1" |
  "$generate" --engine "$tmp/small" --interactive --system "$system" --max-new-tokens 12 \
    >"$tmp/full.out" 2>"$tmp/full.err" || { cat "$tmp/full.err"; fail "a full context ended the chat"; }
grep -qF "[the context is full: " "$tmp/full.err" || { cat "$tmp/full.err"; fail "no full-context message"; }
grep -qF "/reset starts a new conversation]" "$tmp/full.err" || { cat "$tmp/full.err"; fail "no /reset hint"; }
mapfile -t replies <"$tmp/full.out"
[[ ${#replies[@]} == 2 && ${replies[1]} == "${replies[0]}" ]] ||
  fail "expected the first reply twice, got: $(cat "$tmp/full.out")"
echo PASS
