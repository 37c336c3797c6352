#!/usr/bin/env python3
"""Transformers' side of the real-model greedy check (tools/bench/greedy_parity.h).

For the first --prompts prompts of a workload (kiln-bench's prompt rule,
bench_common.prompt_ids, at --prompt-tokens ids each; 0: each prompt whole, as
written), decodes --tokens tokens greedily with the model in --dtype and writes
each step's token, the top-5 ids of the logits it was chosen from and their
logits (for judging near-ties; kiln-greedy-parity reads only the ids):

  {"source": "transformers 5.x bfloat16 cuda", "runs": [{"prompt": [...],
   "tokens": [...], "top": [[5 ids], ...], "top_logits": [[5 floats], ...]}]}

--gguf-file F loads F (inside --model) through Transformers' GGUF support,
every tensor dequantised to --dtype (as hf_bench.py --gguf-file); without a
tokenizer.json the tokenizer is Transformers' own from the GGUF's vocabulary.
On the CPU: --device cpu --dtype float32.

kiln-greedy-parity --reference then decodes the same prompts with an engine and
applies the rule. The loop is written out (a forward with the KV cache, argmax,
repeat) rather than model.generate, so no generation-config default (EOS, a
minimum length, a repetition penalty) can change the logits or stop early.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common as bc  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="Hugging Face model directory")
    p.add_argument("--gguf-file", default="", help="GGUF file inside --model to load (dequantised to --dtype)")
    p.add_argument("--workload", required=True, help="workload JSON (tools/bench/workloads)")
    p.add_argument("--prompts", type=int, default=4, help="prompts to decode")
    p.add_argument("--prompt-tokens", type=int, default=64, help="ids per prompt (0: each prompt whole)")
    p.add_argument("--tokens", type=int, default=32, help="greedy tokens per prompt")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--device", default="cuda")
    p.add_argument("--tokenizer", default="", help="tokenizer.json (default: the model's)")
    p.add_argument("--out", required=True)
    args = p.parse_args()

    import torch
    import transformers
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    tokenizer_json = args.tokenizer or os.path.join(args.model, "tokenizer.json")
    if args.tokenizer or not args.gguf_file or os.path.exists(tokenizer_json):
        tok = Tokenizer.from_file(tokenizer_json)
        encode = lambda text: tok.encode(text, add_special_tokens=True).ids  # noqa: E731
    else:
        from transformers import AutoTokenizer

        hf_tok = AutoTokenizer.from_pretrained(args.model, gguf_file=args.gguf_file)
        encode = lambda text: hf_tok(text, add_special_tokens=True)["input_ids"]  # noqa: E731
    workload = bc.load_workload(args.workload)
    case = {"name": f"p{args.prompt_tokens or 'nat'}", "prompt_tokens": args.prompt_tokens}
    kwargs = {"dtype": getattr(torch, args.dtype)}
    if args.gguf_file:
        kwargs["gguf_file"] = args.gguf_file
    model = AutoModelForCausalLM.from_pretrained(args.model, **kwargs)
    model = model.to(args.device).eval()

    runs = []
    with torch.inference_mode():
        for run in range(args.prompts):
            prompt = bc.prompt_ids(workload, case, run, encode)
            feed = torch.tensor([prompt], device=args.device)
            past = None
            tokens, tops, top_logits = [], [], []
            for _ in range(args.tokens):
                out = model(input_ids=feed, past_key_values=past, use_cache=True)
                past = out.past_key_values
                logits = out.logits[0, -1].float()
                best = torch.topk(logits, 5)
                top = best.indices.tolist()
                tokens.append(int(top[0]))
                tops.append([int(t) for t in top])
                top_logits.append([float(v) for v in best.values.tolist()])
                feed = torch.tensor([[tokens[-1]]], device=args.device)
            runs.append({"prompt": prompt, "tokens": tokens, "top": tops, "top_logits": top_logits})
            print(f"prompt {run}: {len(prompt)} ids -> {tokens[:8]}...")

    attention = getattr(model.config, "_attn_implementation", "default")
    source = f"transformers {transformers.__version__} {args.dtype} {args.device} {attention} attention"
    if args.gguf_file:
        source += f", {args.gguf_file} dequantised"
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"source": source, "runs": runs}, f)
    print(f"wrote {args.out}: {len(runs)} runs of {args.tokens} tokens ({source})")


if __name__ == "__main__":
    main()
