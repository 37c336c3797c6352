#!/usr/bin/env python3
"""Load test and benchmark of kiln-serve on loopback (docs/SERVING.md).

Starts bin/kiln-serve on an engine, then, each phase bounded in time:
  solo        every request alone, one after another: the reference texts,
              and the sequential tokens/s;
  load        REQUESTS requests at CONCURRENCY (streamed, greedy): each text
              must equal its solo text (no lost or duplicated tokens), no
              5xx; p50/p99 time to first token and inter-token latency,
              aggregate tokens/s and its ratio to the sequential run;
  sweep       the same at each --sweep concurrency: throughput and latency
              against concurrency (a JSON table and an SVG plot);
  overfill    a second server with --max-queue 2 and 1 slot, 16 requests at
              once: the 429s counted, none lost, no 5xx;
  disconnect  8 streams closed after their first token: the time until
              /health reports every slot idle.
Uses only the standard library (http.client), so the timing is the
server's, not a client library's.

  tools/bench/serve_bench.py --engine /tmp/smollm2 --out result.json \
      --svg plot.svg [--check]
  tools/bench/serve_bench.py --engine E --label llama-server --out other.json \
      --server-cmd "llama-server -m MODEL.gguf --parallel 4 --port {port}"
  tools/bench/serve_bench.py --plot result.json,other.json --svg both.svg

--check exits 1 when a property above fails (CI runs it that way).
"""

import argparse
import http.client
import json
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

PROMPTS = [
    "The history of the printing press",
    "Write a short poem about the sea:",
    "Explain how a refrigerator works.",
    "List five uses of copper:",
    "Once upon a time, in a small village by the mountains,",
    "The main causes of the French Revolution were",
    "def quicksort(xs):",
    "Describe the water cycle in simple terms.",
    "A recipe for pancakes: ingredients",
    "Why is the sky blue?",
    "The three laws of motion state that",
    "Summarise the plot of Hamlet in a few sentences.",
    "Tips for learning a new language:",
    "The difference between weather and climate is",
    "How do vaccines train the immune system?",
    "An email to a colleague about a delayed project:",
]


class Server:
    """kiln-serve on a free port (or, with `command`, another OpenAI-compatible
    server started by that shell command, its {port} filled in), stopped
    with SIGTERM."""

    def __init__(self, binary, engine, extra, command=None):
        self.log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                     f"serve-bench-{os.getpid()}.log"), "w+")
        if command:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.host, self.port = "127.0.0.1", s.getsockname()[1]
            self.proc = subprocess.Popen(shlex.split(command.format(port=self.port)),
                                         stdout=self.log, stderr=self.log)
        else:
            self.proc = subprocess.Popen([binary, "--engine", engine, "--port", "0"] + extra,
                                         stderr=self.log)
        deadline = time.time() + 120
        while time.time() < deadline:
            if command:
                try:  # ready once its health check answers 200
                    if self.get("/health")[0] == 200:
                        return
                except OSError:
                    pass
            else:
                self.log.seek(0)
                m = re.search(r"on http://([\d.]+):(\d+)", self.log.read())
                if m:
                    self.host, self.port = m.group(1), int(m.group(2))
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.log.seek(0)
        raise RuntimeError("the server did not start:\n" + self.log.read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def get(self, path):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()


def stream_request(server, prompt, max_tokens, close_after_first=False):
    """One streamed completion: status, text, tokens, TTFT and the gaps."""
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "stream": True, "stream_options": {"include_usage": True}})
    start = time.perf_counter()
    c = http.client.HTTPConnection(server.host, server.port, timeout=300)
    c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    out = {"status": r.status, "text": "", "tokens": 0, "ttft": None, "gaps": [], "done": False}
    if r.status != 200:
        out["retry_after"] = r.getheader("Retry-After")
        r.read()
        return out
    last = None
    chunks = 0
    for raw in r:
        line = raw.decode().strip()
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            out["done"] = True
            break
        chunk = json.loads(data)
        if chunk.get("usage"):
            out["tokens"] = chunk["usage"]["completion_tokens"]
        if chunk.get("choices") and chunk["choices"][0]["text"]:
            now = time.perf_counter()
            if last is None:
                out["ttft"] = now - start
            else:
                out["gaps"].append(now - last)
            last = now
            chunks += 1
            out["text"] += chunk["choices"][0]["text"]
            if close_after_first:
                c.close()
                return out
    if not out["tokens"]:  # a server that reports no usage: a chunk a token
        out["tokens"] = chunks
    out["seconds"] = time.perf_counter() - start
    return out


def unique_prompts(n, salt=0):
    """n prompts that differ from their first token on ("Request 17: ..."), so
    a server's prompt (prefix) cache cannot skip their prefill: every
    request is a new one, as on a real server."""
    return [f"Request {salt * 1000 + i}: {PROMPTS[i % len(PROMPTS)]}" for i in range(n)]


def percentile(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def run_at(server, prompts, concurrency, max_tokens):
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda p: stream_request(server, p, max_tokens), prompts))
    wall = time.perf_counter() - start
    tokens = sum(r["tokens"] for r in results)
    gaps = [g for r in results for g in r["gaps"]]
    ttfts = [r["ttft"] for r in results if r["ttft"] is not None]
    return results, {
        "concurrency": concurrency, "requests": len(prompts), "wall_s": wall,
        "tokens": tokens, "tokens_per_s": tokens / wall,
        "ttft_p50_s": percentile(ttfts, 50), "ttft_p99_s": percentile(ttfts, 99),
        "itl_p50_s": percentile(gaps, 50), "itl_p99_s": percentile(gaps, 99),
        "status": {str(s): sum(r["status"] == s for r in results)
                   for s in sorted({r["status"] for r in results})},
    }


def svg_plot(reports, path):
    """Two panels against concurrency, one line per report (server):
    aggregate tokens/s, and p50 inter-token latency."""
    w, h, pad, gap = 760, 340, 55, 70
    panel = (w - 2 * pad - gap) / 2
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>']
    metrics = [("aggregate tokens/s", lambda r: r["tokens_per_s"]),
               ("p50 inter-token latency, ms", lambda r: r["itl_p50_s"] * 1e3)]
    xs = sorted({r["concurrency"] for rep in reports for r in rep["sweep"]})
    for k, (title, value) in enumerate(metrics):
        left = pad + k * (panel + gap)
        top = max(value(r) for rep in reports for r in rep["sweep"]) * 1.2
        def sx(x):
            return left + panel * xs.index(x) / max(1, len(xs) - 1)
        def sy(y):
            return h - pad - (h - 2 * pad) * y / top
        parts.append(f'<text x="{left + panel / 2}" y="{pad - 25}" text-anchor="middle">'
                     f'{title}</text>')
        parts.append(f'<line x1="{left}" y1="{h - pad}" x2="{left + panel}" y2="{h - pad}" '
                     f'stroke="black"/>')
        parts.append(f'<line x1="{left}" y1="{h - pad}" x2="{left}" y2="{pad}" stroke="black"/>')
        for x in xs:
            parts.append(f'<text x="{sx(x):.1f}" y="{h - pad + 16}" text-anchor="middle">{x}'
                         f'</text>')
        parts.append(f'<text x="{left + panel / 2}" y="{h - pad + 34}" text-anchor="middle">'
                     f'concurrent requests</text>')
        for i, rep in enumerate(reports):
            color = colors[i % len(colors)]
            rows = sorted(rep["sweep"], key=lambda r: r["concurrency"])
            pts = " ".join(f"{sx(r['concurrency']):.1f},{sy(value(r)):.1f}" for r in rows)
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" '
                         f'stroke-width="2"/>')
            for r in rows:
                parts.append(f'<circle cx="{sx(r["concurrency"]):.1f}" '
                             f'cy="{sy(value(r)):.1f}" r="3" fill="{color}"/>')
                parts.append(f'<text x="{sx(r["concurrency"]) + 4:.1f}" '
                             f'y="{sy(value(r)) - 6:.1f}" fill="{color}" font-size="10">'
                             f'{value(r):.0f}</text>')
    for i, rep in enumerate(reports):
        parts.append(f'<text x="{pad + i * 260}" y="{h - 8}" fill="{colors[i % len(colors)]}">'
                     f'&#9632; {rep.get("server", "kiln-serve")}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", required=True)
    ap.add_argument("--kiln-serve", default="bin/kiln-serve")
    ap.add_argument("--slots", type=int, default=0)
    ap.add_argument("--kiln-flags", default="", help="more kiln-serve flags, e.g. "
                    "'--prefill-chunk 16'")
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--sweep", default="1,2,4,8")
    ap.add_argument("--sweep-requests", type=int, default=16)
    ap.add_argument("--time-limit", type=float, default=120, help="seconds for all the phases")
    ap.add_argument("--out")
    ap.add_argument("--svg")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--server-cmd", help="instead of kiln-serve: a shell command starting "
                    "another OpenAI-compatible server on {port} (the load and sweep phases "
                    "only), e.g. llama.cpp's llama-server")
    ap.add_argument("--label", default="kiln-serve", help="the server's name in the report")
    ap.add_argument("--plot", help="only plot: comma-separated reports (--out files) into "
                    "--svg, side by side")
    a = ap.parse_args()
    if a.plot:
        reports = []
        for path in a.plot.split(","):
            with open(path) as f:
                reports.append(json.load(f))
        svg_plot(reports, a.svg)
        return 0
    started = time.time()
    failures = []
    extra = (["--slots", str(a.slots)] if a.slots else []) + shlex.split(a.kiln_flags)
    server = Server(a.kiln_serve, a.engine, extra, a.server_cmd)
    report = {"server": a.label, "command": a.server_cmd or "kiln-serve", "engine": a.engine,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    try:
        if not a.server_cmd:
            report["slots"] = json.loads(server.get("/health")[1])["slots"]
        prompts = unique_prompts(a.requests)
        # solo: each prompt alone (the reference text), timed.
        solo = {}
        t0 = time.perf_counter()
        solo_tokens = 0
        for p in prompts:
            r = stream_request(server, p, a.max_tokens)
            solo[p] = r["text"]
            solo_tokens += r["tokens"]
        solo_rate = solo_tokens / (time.perf_counter() - t0)
        report["sequential_tokens_per_s"] = solo_rate

        results, load = run_at(server, prompts, a.concurrency, a.max_tokens)
        load["ratio_to_sequential"] = load["tokens_per_s"] / solo_rate
        lost = [p for p, r in zip(prompts, results) if r["status"] == 200 and
                (r["text"] != solo[p] or not r["done"])]
        load["texts_differing_from_solo"] = len(lost)
        load["server_errors"] = sum(r["status"] >= 500 for r in results)
        report["load"] = load
        if lost:
            failures.append(f"{len(lost)} streamed texts differ from their solo runs")
        if load["server_errors"] or load["status"] != {"200": a.requests}:
            failures.append(f"statuses under load: {load['status']}")

        report["sweep"] = []
        for c in [int(x) for x in a.sweep.split(",") if x]:
            if time.time() - started > a.time_limit * 0.7:
                failures.append("the time limit cut the sweep short")
                break
            _, row = run_at(server, unique_prompts(a.sweep_requests, salt=c), c, a.max_tokens)
            report["sweep"].append(row)

        if a.server_cmd:  # the kiln-serve phases below read its /health
            return finish(report, failures, a, started)
        # disconnects: 8 streams closed after their first token.
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda p: stream_request(server, p, 200, close_after_first=True),
                          PROMPTS[:8]))
        idle = None
        while time.perf_counter() - t0 < 30:
            if json.loads(server.get("/health")[1])["busy_slots"] == 0:
                idle = time.perf_counter() - t0
                break
            time.sleep(0.05)
        report["disconnect_idle_s"] = idle
        if idle is None:
            failures.append("slots still busy 30 s after their clients disconnected")
    finally:
        code = server.stop()
    if code != 0:
        failures.append(f"kiln-serve exited {code} on SIGTERM")

    # overfill: 1 slot, a queue of 2, 16 requests at once.
    small = Server(a.kiln_serve, a.engine, ["--slots", "1", "--max-queue", "2"])
    try:
        with ThreadPoolExecutor(16) as pool:
            over = list(pool.map(lambda p: stream_request(small, p, 16), PROMPTS))
    finally:
        small.stop()
    report["overfill"] = {
        "requests": len(over),
        "served": sum(r["status"] == 200 and r["done"] for r in over),
        "429": sum(r["status"] == 429 for r in over),
        "429_with_retry_after": sum(r["status"] == 429 and bool(r.get("retry_after"))
                                    for r in over),
        "server_errors": sum(r["status"] >= 500 for r in over)}
    o = report["overfill"]
    if o["429"] == 0 or o["served"] + o["429"] != o["requests"] or o["server_errors"]:
        failures.append(f"overfill: {o}")
    if o["429_with_retry_after"] != o["429"]:
        failures.append("a 429 without Retry-After")
    return finish(report, failures, a, started)


def finish(report, failures, a, started):
    """Checks the time, prints and writes the report; the exit status."""
    report["seconds"] = time.time() - started
    if report["seconds"] > a.time_limit:
        failures.append(f"took {report['seconds']:.0f} s, over the {a.time_limit:.0f} s limit")
    report["failures"] = failures

    print(json.dumps(report, indent=2))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(report, f, indent=2)
    if a.svg and report.get("sweep"):
        svg_plot([report], a.svg)
    if a.check and failures:
        print("FAIL:", "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
