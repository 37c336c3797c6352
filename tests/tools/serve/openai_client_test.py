"""kiln-serve as the official `openai` Python client sees it.

Run by serve_openai_test.sh against a server it started on SmolLM2 (4
slots, API key "kiln-test-key"):

    python openai_client_test.py BASE_URL MODEL

Checks completions and chat completions, whole and streamed (the streamed
text equals the whole one), stop strings (excluded from the text, finish
reason "stop"), usage, errors as the client raises them (n > 1, an unknown
model, a prompt beyond the engine's length, a wrong API key), batch
invariance over HTTP (8 concurrent greedy requests of different lengths,
each equal to its solo run), and that a streaming client that disconnects
frees its slot.
"""

import concurrent.futures
import json
import sys
import time
import urllib.request

import openai

BASE, MODEL = sys.argv[1], sys.argv[2]
KEY = "kiln-test-key"
client = openai.OpenAI(base_url=BASE + "/v1", api_key=KEY, max_retries=0, timeout=120)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def health():
    with urllib.request.urlopen(BASE + "/health", timeout=10) as r:
        return json.load(r)


# --- /v1/models
models = client.models.list()
check([m.id for m in models.data] == [MODEL], f"/v1/models lists {MODEL}")

# --- completions, whole and streamed
prompt = "The capital of France is"
whole = client.completions.create(model=MODEL, prompt=prompt, max_tokens=12, temperature=0)
text = whole.choices[0].text
check(len(text) > 0, f"a completion: {text!r}")
check(whole.choices[0].finish_reason in ("length", "stop"), "a finish reason")
check(whole.usage.completion_tokens > 0 and whole.usage.prompt_tokens > 0, "usage")
check(whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens,
      "usage adds up")
again = client.completions.create(model=MODEL, prompt=prompt, max_tokens=12, temperature=0)
check(again.choices[0].text == text, "greedy completions repeat")

chunks = list(client.completions.create(model=MODEL, prompt=prompt, max_tokens=12,
                                        temperature=0, stream=True,
                                        stream_options={"include_usage": True}))
streamed = "".join(c.choices[0].text for c in chunks if c.choices)
check(streamed == text, f"the streamed completion equals the whole one: {streamed!r}")
finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
check(finishes == [whole.choices[0].finish_reason], "one finish reason, on the last chunk")
check(chunks[-1].usage is not None and
      chunks[-1].usage.completion_tokens == whole.usage.completion_tokens,
      "stream_options.include_usage gives the usage last")

# --- seeded sampling repeats
sampled = [client.completions.create(model=MODEL, prompt=prompt, max_tokens=10, temperature=0.9,
                                     top_p=0.95, seed=42).choices[0].text for _ in range(2)]
check(sampled[0] == sampled[1], "a seeded sampled completion repeats")

# --- chat completions, whole and streamed
messages = [{"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "Name three colours."}]
chat = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=16,
                                      temperature=0)
reply = chat.choices[0].message.content
check(chat.choices[0].message.role == "assistant" and len(reply) > 0, f"a chat reply: {reply!r}")
stream = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=16,
                                        temperature=0, stream=True)
parts, roles = [], []
for c in stream:
    if c.choices and c.choices[0].delta.role:
        roles.append(c.choices[0].delta.role)
    if c.choices and c.choices[0].delta.content:
        parts.append(c.choices[0].delta.content)
check(roles == ["assistant"], "the stream opens with the assistant role")
check("".join(parts) == reply, "the streamed chat reply equals the whole one")

# --- stop strings: the text ends before the stop string, finish reason stop
full = client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=16,
                                 temperature=0).choices[0].text
check(" 6" in full, f"the numbers go on: {full!r}")
stop = full[full.index(" 6"):][:2]
cut = client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=16, temperature=0,
                                stop=[stop, "zzz"])
check(cut.choices[0].text == full[:full.index(stop)], f"the stop string cuts the text: "
      f"{cut.choices[0].text!r}")
check(cut.choices[0].finish_reason == "stop", "a stop string finishes with 'stop'")
cut_stream = "".join(c.choices[0].text for c in client.completions.create(
    model=MODEL, prompt="1, 2, 3, 4,", max_tokens=16, temperature=0, stop=stop, stream=True))
check(cut_stream == cut.choices[0].text, "a streamed stop string is held back, not sent")

# --- errors
def expect_error(kind, fn, words):
    try:
        fn()
    except kind as e:
        check(all(w in str(e) for w in words), f"{kind.__name__}: {str(e)[:100]}")
        return
    raise AssertionError(f"no {kind.__name__}")


expect_error(openai.BadRequestError, lambda: client.completions.create(
    model=MODEL, prompt="x", n=2), ["must be 1", "one choice"])
expect_error(openai.BadRequestError, lambda: client.completions.create(
    model="gpt-4", prompt="x"), ["gpt-4", MODEL])
expect_error(openai.BadRequestError, lambda: client.completions.create(
    model=MODEL, prompt="word " * 400), ["max length"])
expect_error(openai.BadRequestError, lambda: client.completions.create(
    model=MODEL, prompt="x", max_tokens=-1), ["max_tokens"])
expect_error(openai.BadRequestError, lambda: client.chat.completions.create(
    model=MODEL, messages=[]), ["messages"])
expect_error(openai.AuthenticationError, lambda: openai.OpenAI(
    base_url=BASE + "/v1", api_key="wrong", max_retries=0).models.list(), ["API key"])

# --- batch invariance over HTTP: 8 concurrent greedy requests == each alone
prompts = ["Hi", "Once upon a time", "The quick brown fox jumps over the lazy dog because",
           "List the planets of the solar system in order from the sun:",
           "def fibonacci(n):", "Water boils at", "In 1492, Columbus",
           "A haiku about autumn leaves falling slowly onto a quiet pond:"]


def complete(p):
    return client.completions.create(model=MODEL, prompt=p, max_tokens=24, temperature=0)


alone = [complete(p).choices[0].text for p in prompts]
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    together = [r.choices[0].text for r in pool.map(complete, prompts)]
for p, a, t in zip(prompts, alone, together):
    check(a == t, f"concurrent == alone for {p[:24]!r}")

# --- a streaming client that disconnects frees its slot
for _ in range(3):
    s = client.completions.create(model=MODEL, prompt="Tell me a long story.", max_tokens=200,
                                  temperature=0, stream=True)
    next(iter(s))
    s.close()
deadline = time.time() + 20
while health()["busy_slots"] != 0 and time.time() < deadline:
    time.sleep(0.1)
check(health()["busy_slots"] == 0, "disconnected streams free their slots")
print("PASS")
