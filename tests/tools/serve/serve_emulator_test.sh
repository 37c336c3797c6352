#!/usr/bin/env bash
# kiln-serve on the CUDA backend: the llama3 fixture compiled for sm_90 with
# 2 batch rows runs in the CUDA emulator (--device emulator) and answers
# two concurrent greedy requests of different lengths, streamed and whole,
# with the same text as the cpu engine of the same fixture served the
# same way.
set -euo pipefail
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
export KILN_EMULATOR_CACHE="$tmp/emulator-cache"
fail() { echo "FAIL: $*" >&2; tail -20 "$tmp"/serve-*.log >&2 || true; exit 1; }
model=tests/fixtures/models/llama3/f32
tokenizer=tests/fixtures/tokenizers/bytes256/tokenizer.json

# Serves the engine compiled for $1 (extra kiln-serve flags after it) and
# writes the answers to $tmp/answers-$1.
serve() {
  local target=$1; shift
  tools/compile-model --model "$model" --out "$tmp/$target" --target "$target" \
    --tokenizer "$tokenizer" --max-seq 48 --max-batch 2 --buckets 8,16 2>"$tmp/compile-$target.log" ||
    { cat "$tmp/compile-$target.log"; fail "compile $target"; }
  tools/serve/kiln-serve --engine "$tmp/$target" --port 0 --served-model-name m "$@" \
    2>"$tmp/serve-$target.log" &
  local pid=$! port=""
  for _ in $(seq 600); do
    port=$(sed -n 's/.*on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/serve-$target.log" 2>/dev/null || true)
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || fail "kiln-serve ($target) exited at start"
    sleep 0.1
  done
  [[ -n $port ]] || fail "kiln-serve ($target) did not start"
  local url="http://127.0.0.1:$port/v1/completions"
  curl -s "$url" -d '{"prompt":"The quick brown fox","max_tokens":10,"temperature":0}' >"$tmp/a1-$target" &
  local c1=$!
  curl -sN "$url" -d '{"prompt":"Hi","max_tokens":14,"temperature":0,"stream":true}' >"$tmp/a2-$target" &
  local c2=$!
  wait "$c1" "$c2" || fail "a client of the $target server failed"
  kill -TERM "$pid"; wait "$pid" || fail "kiln-serve ($target) did not exit 0"
  python3 - "$tmp/a1-$target" "$tmp/a2-$target" >"$tmp/answers-$target" <<'PY'
import json, sys
whole = json.load(open(sys.argv[1]))["choices"][0]["text"]
streamed = "".join(json.loads(l[6:])["choices"][0]["text"]
                   for l in open(sys.argv[2]) if l.startswith("data: {"))
print(json.dumps([whole, streamed]))
PY
}

serve sm_90 --device emulator
grep -q "emulated, not a GPU" "$tmp/serve-sm_90.log" || fail "the log does not say the device is emulated"
serve cpu
echo "sm_90 (emulated): $(cat "$tmp/answers-sm_90")"
echo "cpu:              $(cat "$tmp/answers-cpu")"
[[ $(cat "$tmp/answers-sm_90") == "$(cat "$tmp/answers-cpu")" ]] || fail "the emulated sm_90 server answered otherwise than the cpu one"
echo PASS
