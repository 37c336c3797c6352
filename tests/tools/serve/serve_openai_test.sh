#!/usr/bin/env bash
# kiln-serve end to end on SmolLM2 (the GGUF's own Q4_1/Q8_0 weights on the
# CPU backend, 4 slots): the official openai client's checks
# (openai_client_test.py), then what a client cannot see: 401 without the
# key, 413 for a huge body, 400 for malformed JSON, 429 with Retry-After
# when the queue is full, /metrics, prompt lookup (--prompt-lookup) giving
# the same greedy text, and SIGTERM draining a running stream to its [DONE]
# before the server exits 0.
set -euo pipefail
python="${KILN_TOKENIZERS_PYTHON:-}"
if [[ -z $python ]] || ! "$python" -c "import openai" 2>/dev/null; then
  echo "FAIL: KILN_TOKENIZERS_PYTHON must name a Python with the openai client (tools/setup.sh)" >&2
  exit 1
fi
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
fail() {
  echo "FAIL: $*" >&2
  if [[ -n ${pid:-} ]] && ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" && status=0 || status=$?
    echo "kiln-serve is gone (exit status $status)" >&2
  fi
  [[ -f $tmp/serve.log ]] && tail -20 "$tmp/serve.log" >&2
  exit 1
}
trap 'fail "line $LINENO failed"' ERR

engine="$tmp/smollm2"
tools/compile-model --model third_party/references/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
  --out "$engine" --max-seq 256 --max-batch 4 --buckets 16,64 2>"$tmp/compile.log" ||
  { cat "$tmp/compile.log"; fail "compile-model"; }

# Starts kiln-serve with the given flags on a free port; sets $pid and $base.
start() {
  # Removed first: the child truncates it only once it runs, and until then
  # the loop below would read the previous server's port.
  rm -f "$tmp/serve.log"
  tools/serve/kiln-serve --engine "$engine" --port 0 "$@" 2>"$tmp/serve.log" &
  pid=$!
  for _ in $(seq 300); do
    port=$(sed -n 's/.*on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/serve.log" 2>/dev/null || true)
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || fail "kiln-serve exited at start"
    sleep 0.1
  done
  [[ -n $port ]] || fail "kiln-serve did not start"
  base="http://127.0.0.1:$port"
}
code() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }

start --api-key kiln-test-key --served-model-name smollm2
"$python" tests/tools/serve/openai_client_test.py "$base" smollm2 || fail "the openai client's checks"

auth=(-H "Authorization: Bearer kiln-test-key" -H "Content-Type: application/json")
[[ $(code "$base/v1/completions" -d '{"prompt":"x"}') == 401 ]] || fail "no key: not 401"
[[ $(code "$base/v1/completions" "${auth[@]}" -d '{"prompt": "x"') == 400 ]] || fail "bad JSON: not 400"
grep -q '"error"' "$tmp/body" || fail "bad JSON: no error object"
head -c 2000000 /dev/zero | tr '\0' a >"$tmp/huge"
[[ $(code "$base/v1/completions" "${auth[@]}" --data-binary @"$tmp/huge") == 413 ]] || fail "a 2 MB body: not 413"
[[ $(code "$base/health") == 200 ]] || fail "/health"
# Bodies httplib would read unbounded are refused unread: chunked, compressed.
[[ $(code "$base/v1/completions" "${auth[@]}" -H "Transfer-Encoding: chunked" -d '{"prompt":"x"}') == 411 ]] ||
  fail "a chunked body: not 411"
[[ $(code "$base/v1/completions" "${auth[@]}" -H "Content-Encoding: gzip" -d '{"prompt":"x"}') == 415 ]] ||
  fail "a compressed body: not 415"
curl -s "$base/metrics" >"$tmp/metrics"
for m in kiln_requests_total kiln_time_to_first_token_seconds_bucket kiln_inter_token_latency_seconds_count \
         kiln_queue_depth kiln_busy_slots kiln_generation_tokens_total; do
  grep -q "^$m" "$tmp/metrics" || fail "/metrics lacks $m"
done
grep -q 'kiln_requests_total{endpoint="/v1/completions",status="200"}' "$tmp/metrics" || fail "/metrics: no 200 completions counted"
kill -TERM "$pid"; wait "$pid" || fail "kiln-serve did not exit 0 on SIGTERM"

# Prompt lookup served (--prompt-lookup 3): the same greedy text as
# without it; an assistant engine is refused at start, saying what to use.
copy='{"prompt":"The cat sat on the mat, and the dog sat on the rug. The cat sat on the mat, and the dog","max_tokens":24,"temperature":0}'
completion() {
  curl -s "$base/v1/completions" -H "Content-Type: application/json" -d "$copy" |
    "$python" -c 'import json, sys; print(json.load(sys.stdin)["choices"][0]["text"])'
}
start
completion >"$tmp/plain.txt" || fail "the plain completion"
kill -TERM "$pid"; wait "$pid" || fail "kiln-serve did not exit 0 on SIGTERM"
start --prompt-lookup 3
completion >"$tmp/lookup.txt" || fail "the prompt-lookup completion"
curl -s "$base/metrics" >"$tmp/lookup_metrics"
drafted=$(sed -n 's/^kiln_speculative_drafted_tokens_total //p' "$tmp/lookup_metrics")
accepted=$(sed -n 's/^kiln_speculative_accepted_tokens_total //p' "$tmp/lookup_metrics")
[[ -n $drafted && $drafted -gt 0 ]] || fail "prompt lookup drafted nothing on a repetitive prompt: '$drafted'"
[[ -n $accepted && $accepted -le $drafted ]] || fail "accepted $accepted of $drafted drafted tokens"
kill -TERM "$pid"; wait "$pid" || fail "kiln-serve --prompt-lookup did not exit 0 on SIGTERM"
[[ -s $tmp/plain.txt ]] || fail "an empty completion"
cmp -s "$tmp/plain.txt" "$tmp/lookup.txt" ||
  fail "prompt lookup changed the greedy text: '$(cat "$tmp/plain.txt")' vs '$(cat "$tmp/lookup.txt")'"
if tools/serve/kiln-serve --engine "$engine" --port 0 --draft-engine "$engine" 2>"$tmp/draft.log"; then
  fail "--draft-engine: the server started"
fi
grep -q "use prompt lookup" "$tmp/draft.log" || fail "--draft-engine: $(cat "$tmp/draft.log")"

# Overfilled: 1 slot and a queue of 1, then 6 long requests at once: some
# get 429 with Retry-After, none a 5xx.
start --slots 1 --max-queue 1
clients=()
for i in $(seq 6); do
  { curl -sS -D "$tmp/h$i" -o /dev/null -w '%{http_code}' "$base/v1/completions" \
      -d '{"prompt":"Count to one hundred:","max_tokens":40}' >"$tmp/c$i" 2>"$tmp/e$i"
    echo $? >"$tmp/rc$i"; } &
  clients+=($!)
done
wait "${clients[@]}"
for i in $(seq 6); do
  [[ $(cat "$tmp/rc$i") == 0 ]] || fail "client $i of the overfilled server: curl exit $(cat "$tmp/rc$i"): $(cat "$tmp/e$i")"
done
codes=$(cat "$tmp"/c[1-6] | tr '\n' ' ')
echo "overfilled: $codes"
for i in $(seq 6); do
  case $(cat "$tmp/c$i") in
    200) ;;
    429) grep -qi '^Retry-After: ' "$tmp/h$i" || fail "a 429 without Retry-After" ;;
    *) fail "request $i got $(cat "$tmp/c$i")" ;;
  esac
done
grep -q 429 "$tmp"/c[1-6] || fail "no 429 from an overfilled server: $codes"
grep -q 200 "$tmp"/c[1-6] || fail "no request served: $codes"

# SIGTERM while a stream runs: it ends with its finish reason and [DONE];
# a request after it gets no answer but a refused connection or a 503.
curl -sN "$base/v1/completions" -d '{"prompt":"Tell me a story.","max_tokens":60,"stream":true}' \
  >"$tmp/stream" &
curl_pid=$!
for _ in $(seq 100); do grep -q '"text"' "$tmp/stream" && break; sleep 0.1; done
kill -TERM "$pid"
wait "$curl_pid" || fail "the stream's client failed during the drain"
wait "$pid" || fail "kiln-serve did not exit 0 after draining"
grep -Eq '"finish_reason":"(length|stop)"' "$tmp/stream" || fail "the drained stream did not finish"
grep -q '^data: \[DONE\]' "$tmp/stream" || fail "the drained stream did not end with [DONE]"
grep -q "draining" "$tmp/serve.log" || fail "no drain message"
echo PASS
