#!/usr/bin/env python3
"""The kiln-bench workload in llama.cpp (through llama-cpp-python, CPU), on
a GGUF file: same prompt ids, same lengths, greedy, kiln-bench's JSON
schema. Sampling workloads run greedy here (llama.cpp's sampler chain is
not Transformers'); the result says so.

llama-cpp-python builds llama.cpp from its PyPI sdist (on 2 cores ~10 min):
  python3 -m venv ~/.cache/kiln-llamacpp
  ~/.cache/kiln-llamacpp/bin/pip install llama-cpp-python   # CPU build, -march=native

Timing: Llama.generate yields each token as soon as it is sampled; TTFT is
the prefill (llama_decode over the prompt, batched) plus the first sample,
each later latency one llama_decode of one token plus its sample. Python's
per-token overhead in llama-cpp-python is included, as a user of the
package sees it. The context is reset before every run, so no run reuses
another's KV-cache prefix.

  ~/.cache/kiln-llamacpp/bin/python tools/bench/llamacpp_bench.py --gguf M.gguf \
      --workload tools/bench/workloads/cpu_smollm2.json --kiln-result /tmp/kiln.json \
      --threads 2 --out /tmp/llamacpp.json
"""
import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402


def gguf_traffic(llm, path):
    """Bytes a decode step must move: the tensors as stored (the file minus
    its metadata, approximately its size) and an f16 KV cache (llama.cpp's
    default) per position."""
    meta = llm.metadata
    arch = meta.get("general.architecture", "llama")
    layers = int(meta.get(f"{arch}.block_count", 0))
    heads = int(meta.get(f"{arch}.attention.head_count", 1))
    kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
    hidden = int(meta.get(f"{arch}.embedding_length", 0))
    head_dim = int(meta.get(f"{arch}.attention.key_length", hidden // max(heads, 1)))
    return {"weight_bytes": os.path.getsize(path), "kv_bytes_per_position": 2 * layers * kv_heads * head_dim * 2,
            "dtype": "gguf as stored (weights), f16 (KV cache)"}


def quant_tag(path):
    """"Q4_1" from "SmolLM2-135M-Instruct.Q4_1.gguf"; "gguf" otherwise."""
    m = re.search(r"[.-]((?:I?Q\d\w*)|F16|F32|BF16)\.gguf$", os.path.basename(path), re.I)
    return m.group(1) if m else "gguf"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gguf", required=True)
    p.add_argument("--workload", required=True)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--n-ctx", type=int, default=2048)
    p.add_argument("--kiln-result", default="", help="take prompt ids from this kiln-bench result")
    p.add_argument("--warmup", type=int, default=-1)
    p.add_argument("--reps", type=int, default=-1)
    p.add_argument("--model-name", default="")
    p.add_argument("--out", default="")
    args = p.parse_args()

    import llama_cpp

    workload = bc.load_workload(args.workload)
    warmup = args.warmup if args.warmup >= 0 else workload.get("warmup", 1)
    reps = args.reps if args.reps >= 1 else workload.get("reps", 3)
    kiln_ids = bc.kiln_prompts(args.kiln_result) if args.kiln_result else None

    start = time.perf_counter()
    llm = llama_cpp.Llama(model_path=args.gguf, n_ctx=args.n_ctx, n_threads=args.threads,
                          n_threads_batch=args.threads, n_batch=512, verbose=False)
    load_s = time.perf_counter() - start
    encode = lambda text: llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)  # noqa: E731

    def run_once(ids, new_tokens):
        llm.reset()
        times, tokens = [], []
        t0 = time.perf_counter()
        for token in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
            times.append(time.perf_counter())
            tokens.append(int(token))
            if len(tokens) == new_tokens:
                break
        gaps = [b - a for a, b in zip(times, times[1:])]
        return {"prompt_ids": list(ids), "output_ids": tokens, "ttft_s": times[0] - t0,
                "decode_s": sum(gaps), "token_latencies_s": gaps}

    model_traffic = gguf_traffic(llm, args.gguf)
    bandwidth = bc.copy_bandwidth_gbps()
    cases = []
    for case in workload["case_list"]:
        out = dict(case)
        print(f"llamacpp-bench: {case['name']} ...", file=sys.stderr)
        if case["batch"] > 1:
            out["status"] = "not run: Kiln's batched loop has not landed, so there is nothing to compare with"
            cases.append(out)
            continue
        runs = []
        for r in range(warmup + reps):
            run = 0 if r < warmup else r - warmup
            if kiln_ids is not None:
                if not kiln_ids.get(case["name"]):
                    break
                ids = kiln_ids[case["name"]][run % len(kiln_ids[case["name"]])]
            else:
                ids = bc.prompt_ids(workload, case, run, encode)
            result = run_once(ids, case["new_tokens"])
            if r >= warmup:
                runs.append(result)
        if not runs:
            out["status"] = "skipped: Kiln did not run this case"
            cases.append(out)
            continue
        context = sorted(len(r["prompt_ids"]) + len(r["output_ids"]) / 2 for r in runs)[len(runs) // 2]
        step_bytes = model_traffic["weight_bytes"] + model_traffic["kv_bytes_per_position"] * context
        out.update(status="ok", runs=runs, summary=bc.summarise(runs, step_bytes, bandwidth))
        cases.append(out)

    sampling = workload.get("sampling", {})
    engine = {"name": "llama.cpp", "backend": f"llama-cpp-python {llama_cpp.__version__} CPU",
              "dtype": quant_tag(args.gguf), "path": args.gguf,
              "note": "greedy (the workload samples)" if sampling.get("do_sample") else None}
    memory = {"peak_host_rss_bytes": bc.peak_rss_bytes(), "peak_host_rss_after_load_bytes": None,
              "peak_device_bytes": None}
    doc = bc.result(engine, args.model_name or os.path.basename(args.gguf), workload, warmup, reps, args.threads,
                    {"load_s": load_s, "compile_s": None}, memory,
                    {"copy_gbps": bandwidth, "method": "numpy copy of 256 MiB, best of 5, (read + write bytes) / time"},
                    model_traffic, cases)
    bc.write(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
