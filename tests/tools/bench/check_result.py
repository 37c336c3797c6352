#!/usr/bin/env python3
"""Checks a kiln-bench result: schema fields, positive times, ordered
percentiles, exact token counts. No timing thresholds. Prints the prompt
ids and output ids (comma-separated) of each case's first run, one line a
row, for the caller to compare with run-reference.

  check_result.py result.json [--reps N] [--expect-compile] [--speculative]

--speculative: a run with --prompt-lookup or --draft-engine, whose tokens
come by verify rounds: no per-token latencies or roofline, and each case's
drafted/accepted counts and target steps per token.
"""
import argparse
import json
import sys


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("result")
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--expect-compile", action="store_true")
    p.add_argument("--speculative", action="store_true")
    args = p.parse_args()
    with open(args.result) as f:
        r = json.load(f)

    for key in ["schema", "engine", "model", "workload", "machine", "card", "commit", "date",
                "timings", "memory", "bandwidth", "traffic", "cases"]:
        if key not in r:
            fail(f"missing {key}")
    if r["schema"] != "kiln-bench/1":
        fail(f"schema {r['schema']}")
    if r["card"]["name"] != "none (CPU)" or r["memory"]["peak_device_bytes"] is not None:
        fail("a CPU run must report no card and no device memory")
    if not r["machine"]["cores"] >= 1 or not r["machine"]["cpu"]:
        fail(f"machine {r['machine']}")
    if not r["timings"]["load_s"] > 0:
        fail("load_s must be positive")
    if args.expect_compile and not (r["timings"]["compile_s"] or 0) > 0:
        fail("compile_s must be positive with --model")
    if not r["memory"]["peak_host_rss_bytes"] > 0 or not r["bandwidth"]["copy_gbps"] > 0:
        fail("peak RSS and bandwidth must be positive")
    if not r["traffic"]["weight_bytes"] > 0 or not r["traffic"]["kv_bytes_per_position"] > 0:
        fail(f"traffic {r['traffic']}")
    spec = r["workload"]["spec"]
    expected_cases = len(spec["prompt_tokens"]) * len(spec["new_tokens"]) * len(spec["batch_sizes"])
    if len(r["cases"]) != expected_cases:
        fail(f"{len(r['cases'])} cases, expected {expected_cases}")
    checks = []  # (prompt ids, output ids) to compare with run-reference
    drafted = 0  # over the cases: a prompt may offer no n-gram to look up
    for c in r["cases"]:
        if c["status"] != "ok":
            fail(f"{c['name']}: {c['status']}")
        runs = c["runs"]
        if args.reps is not None and len(runs) != args.reps:
            fail(f"{c['name']}: {len(runs)} runs, expected {args.reps}")
        for run in runs:
            # Batch 1 has flat id lists, a batch one list per row.
            prompts = [run["prompt_ids"]] if c["batch"] == 1 else run["prompt_ids"]
            outputs = [run["output_ids"]] if c["batch"] == 1 else run["output_ids"]
            if len(prompts) != c["batch"] or len(outputs) != c["batch"]:
                fail(f"{c['name']}: {len(prompts)} prompts, {len(outputs)} outputs for batch {c['batch']}")
            if any(len(ids) != c["prompt_tokens"] for ids in prompts):
                fail(f"{c['name']}: a prompt is not {c['prompt_tokens']} tokens")
            if any(len(ids) != c["new_tokens"] for ids in outputs):
                fail(f"{c['name']}: a row did not generate {c['new_tokens']} tokens")
            latencies = 0 if args.speculative else c["new_tokens"] - 1
            if len(run["token_latencies_s"]) != latencies:
                fail(f"{c['name']}: {len(run['token_latencies_s'])} latencies")
            if not run["ttft_s"] > 0 or not all(t > 0 for t in run["token_latencies_s"]):
                fail(f"{c['name']}: non-positive times")
        s = c["summary"]
        lat = s["latency_s"]
        if args.speculative:
            sp = s.get("speculative")
            if lat["n"] != 0 or lat["p50"] is not None or s["roofline_fraction"] is not None:
                fail(f"{c['name']}: per-token latencies in a speculative run: {lat}")
            if not sp or not 0 <= sp["accepted"] <= sp["drafted"]:
                fail(f"{c['name']}: speculative counts {sp}")
            drafted += sp["drafted"]
            if not 0 < sp["target_forwards_per_token"] <= 1:
                fail(f"{c['name']}: {sp['target_forwards_per_token']} target steps per token")
        elif not 0 < lat["p50"] <= lat["p90"] <= lat["p99"]:
            fail(f"{c['name']}: percentiles {lat}")
        elif lat["n"] != len(runs) * (c["new_tokens"] - 1):
            fail(f"{c['name']}: {lat['n']} latencies summarised")
        for key in ["ttft_s", "decode_tok_s", "e2e_s"]:
            v = s[key]
            if not 0 < v["min"] <= v["median"] <= v["max"]:
                fail(f"{c['name']}: {key} {v}")
        if not s["bytes_per_step"] > 0 or not (args.speculative or s["roofline_fraction"] > 0):
            fail(f"{c['name']}: roofline {s['bytes_per_step']} {s['roofline_fraction']}")
        first = runs[0]
        if c["batch"] == 1:
            checks.append((first["prompt_ids"], first["output_ids"]))
        else:  # every row, as each prompt alone
            checks += list(zip(first["prompt_ids"], first["output_ids"]))
    if not checks:
        fail("no case ran")
    if args.speculative and drafted == 0:
        fail("no case drafted a token")
    for prompt, output in checks:
        print(",".join(map(str, prompt)), ",".join(map(str, output)))


if __name__ == "__main__":
    main()
