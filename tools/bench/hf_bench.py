#!/usr/bin/env python3
"""The kiln-bench workload in Hugging Face Transformers: same prompt ids,
same generated lengths, greedy or sampling as the workload says, same JSON
schema ("kiln-bench/1"), so tools/bench/report.py can put it next to Kiln.

Modes:
  eager    model.generate with the default dynamic cache
  compile  static cache + torch.compile(model.forward, mode="reduce-overhead")
           (gpt-fast's recipe; CUDA graphs on a GPU). On the CPU there are no
           CUDA graphs: inductor compiles C++ kernels and "reduce-overhead"
           adds nothing. The first warm-up run pays the compilation; it is
           reported as timings.compile_s, never mixed into the timed runs.

Times are what a streaming user sees: a streamer records the wall time at
which each generated token is handed out; TTFT is the first, each later
token's latency the gap to the previous one.

  ~/.cache/kiln-ref/bin/python tools/bench/hf_bench.py --model DIR [--gguf-file F.gguf] \
      --workload tools/bench/workloads/cpu_smollm2.json --mode eager \
      --kiln-result /tmp/kiln.json --out /tmp/hf_eager.json [--device cuda --dtype bfloat16]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402


class TokenClock:
    """A generate() streamer: the wall time of every generated token. The
    first put() carries the prompt and is not a token."""

    def __init__(self):
        self.times, self.tokens, self._prompt_seen = [], [], False

    def put(self, value):
        now = time.perf_counter()
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.times.append(now)
        self.tokens.append([int(t) for t in value.reshape(-1).tolist()])  # one per row

    def end(self):
        pass


def load_model(args, torch):
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": getattr(torch, args.dtype)}
    if args.gguf_file:
        # Transformers dequantises every GGUF tensor to `dtype`: the same
        # weights Kiln imports from the same file.
        kwargs["gguf_file"] = args.gguf_file
    model = AutoModelForCausalLM.from_pretrained(args.model, **kwargs).to(args.device).eval()
    # Never stop early: exactly new_tokens per run, as kiln-bench with
    # ignore_eos.
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model


def traffic(model, config, dtype_bytes):
    """Bytes a decode step must move: every parameter once (tied ones once)
    and the K and V of each context position."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv = 2 * config.num_hidden_layers * heads * head_dim * dtype_bytes
    return {"weight_bytes": weights, "kv_bytes_per_position": kv, "dtype": str(model.dtype).replace("torch.", "")}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="Hugging Face model directory")
    p.add_argument("--gguf-file", default="", help="GGUF file inside --model to load (dequantised)")
    p.add_argument("--workload", required=True)
    p.add_argument("--mode", choices=["eager", "compile"], default="eager")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all cores)")
    p.add_argument("--kiln-result", default="", help="take prompt ids from this kiln-bench result")
    p.add_argument("--tokenizer", default="", help="tokenizer.json for prompts without --kiln-result")
    p.add_argument("--warmup", type=int, default=-1)
    p.add_argument("--reps", type=int, default=-1)
    p.add_argument("--max-batch", type=int, default=0, help="skip cases with a larger batch (0: none)")
    p.add_argument("--model-name", default="")
    p.add_argument("--out", default="")
    args = p.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    workload = bc.load_workload(args.workload)
    warmup = args.warmup if args.warmup >= 0 else workload.get("warmup", 1)
    reps = args.reps if args.reps >= 1 else workload.get("reps", 3)
    kiln_ids = bc.kiln_prompts(args.kiln_result) if args.kiln_result else None
    encode = None
    if kiln_ids is None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(args.tokenizer or os.path.join(args.model, "tokenizer.json"))
        encode = lambda text: tok.encode(text, add_special_tokens=True).ids  # noqa: E731

    start = time.perf_counter()
    model = load_model(args, torch)
    load_s = time.perf_counter() - start
    compile_note = None
    if args.mode == "compile":
        model.generation_config.cache_implementation = "static"
        model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)
        if args.device == "cpu":
            compile_note = "CPU: inductor C++ kernels; no CUDA graphs, so reduce-overhead adds nothing"

    cuda = args.device.startswith("cuda")
    sampling = workload.get("sampling", {"do_sample": False})
    gen_kwargs = {"do_sample": bool(sampling.get("do_sample", False))}
    if gen_kwargs["do_sample"]:
        for key in ("temperature", "top_k", "top_p", "min_p", "repetition_penalty"):
            if key in sampling:
                gen_kwargs[key] = sampling[key]
    else:
        gen_kwargs.update(temperature=None, top_k=None, top_p=None)

    def run_once(rows, new_tokens, seed):
        """`rows`: equal-length prompts (no padding needed), decoded together."""
        torch.manual_seed(seed)
        clock = TokenClock()
        input_ids = torch.tensor(rows, device=args.device)
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, streamer=clock, **gen_kwargs)
        gaps = [b - a for a, b in zip(clock.times, clock.times[1:])]
        outputs = [list(row) for row in zip(*clock.tokens)]
        # Batch 1 keeps flat id lists, as kiln-bench writes them.
        flat = len(rows) == 1
        return {"prompt_ids": rows[0] if flat else rows, "output_ids": outputs[0] if flat else outputs,
                "ttft_s": clock.times[0] - t0, "decode_s": sum(gaps), "token_latencies_s": gaps,
                "tokens_after_first": len(rows) * len(gaps)}

    model_traffic = traffic(model, model.config, torch.tensor([], dtype=getattr(torch, args.dtype)).element_size())
    bandwidth = bc.copy_bandwidth_gbps() if not cuda else None
    first_warmup_s = None
    cases = []
    for case in workload["case_list"]:
        out = dict(case)
        print(f"hf-bench ({args.mode}): {case['name']} ...", file=sys.stderr)
        if args.max_batch and case["batch"] > args.max_batch:
            out["status"] = f"not run: batch above --max-batch {args.max_batch}"
            cases.append(out)
            continue
        if case["batch"] > 1 and case["prompt_tokens"] == 0:
            out["status"] = "not run: prompts as written differ in length (no padded batches here)"
            cases.append(out)
            continue
        runs = []
        for r in range(warmup + reps):
            run = 0 if r < warmup else r - warmup
            if kiln_ids is not None:
                if not kiln_ids.get(case["name"]):
                    break
                rows = kiln_ids[case["name"]][run % len(kiln_ids[case["name"]])]
                rows = [rows] if case["batch"] == 1 else rows
            else:
                rows = [bc.prompt_ids(workload, case, run * case["batch"] + k, encode) for k in range(case["batch"])]
            t0 = time.perf_counter()
            result = run_once(rows, case["new_tokens"], sampling.get("seed", 0) + run)
            if first_warmup_s is None:
                first_warmup_s = time.perf_counter() - t0
            if r >= warmup:
                runs.append(result)
        if not runs:
            out["status"] = "skipped: Kiln did not run this case"
            cases.append(out)
            continue
        context = case["prompt_tokens"] or len(runs[0]["prompt_ids"])
        context += case["new_tokens"] / 2
        step_bytes = model_traffic["weight_bytes"] + model_traffic["kv_bytes_per_position"] * context * case["batch"]
        out.update(status="ok", runs=runs, summary=bc.summarise(runs, step_bytes, bandwidth))
        cases.append(out)

    import transformers

    memory = {"peak_host_rss_bytes": bc.peak_rss_bytes(), "peak_host_rss_after_load_bytes": None,
              "peak_device_bytes": torch.cuda.max_memory_allocated() if cuda else None}
    card = None
    if cuda:
        props = torch.cuda.get_device_properties(0)
        card = {"name": props.name, "memory_gib": props.total_memory / (1 << 30), "driver": torch.version.cuda}
    engine = {"name": f"transformers-{args.mode}", "backend": f"torch {torch.__version__} {args.device}",
              "transformers": transformers.__version__, "dtype": args.dtype, "path": args.model,
              "gguf_file": args.gguf_file or None, "note": compile_note}
    timings = {"load_s": load_s, "compile_s": first_warmup_s if args.mode == "compile" else None,
               "first_run_s": first_warmup_s}
    doc = bc.result(engine, args.model_name or os.path.basename(args.model.rstrip("/")), workload, warmup,
                    reps, torch.get_num_threads() if not cuda else None, timings, memory,
                    {"copy_gbps": bandwidth, "method": "numpy copy of 256 MiB, best of 5, (read + write bytes) / time"},
                    model_traffic, cases, card)
    bc.write(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
