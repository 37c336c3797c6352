#!/usr/bin/env python3
"""llama.cpp's greedy trace (llama-cpp-python, CPU) of a reference trace's
prompts, in the format of hf_greedy_trace.py (tools/bench/greedy_parity.h):

  {"source": "llama.cpp (llama-cpp-python 0.3.x) Q4_1, 2 threads",
   "runs": [{"prompt": [...], "tokens": [...], "top": [[5 ids], ...],
             "top_logits": [[5 floats], ...]}]}

The prompts are the reference's ids exactly (no tokenization here). Each
step decodes the fed ids (the whole prompt first, then one token) with
logits for the last position only, as llama.cpp's generate does, and takes
the argmax (ties: the lower id); llama.cpp's own greedy sampler
(Llama.generate, top_k=1) is run on the same prompt as a check and must give
the same tokens.

  ~/.cache/kiln-llamacpp/bin/python tools/bench/llamacpp_greedy_trace.py \
      --gguf M.gguf --reference /tmp/hf_trace.json --out /tmp/llamacpp_trace.json
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llamacpp_bench import quant_tag  # noqa: E402


def top5(logits):
    import numpy as np

    # Stable sort of -logits: equal logits keep the lower id first.
    order = np.argsort(-logits, kind="stable")[:5]
    return [int(i) for i in order], [float(logits[i]) for i in order]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gguf", required=True)
    p.add_argument("--reference", required=True, help="a greedy trace whose prompts (and lengths) to run")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--n-ctx", type=int, default=512)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    import llama_cpp
    import numpy as np

    with open(args.reference, encoding="utf-8") as f:
        reference = json.load(f)
    llm = llama_cpp.Llama(model_path=args.gguf, n_ctx=args.n_ctx, n_threads=args.threads,
                          n_threads_batch=args.threads, n_batch=512, logits_all=False, verbose=False)
    vocab = llm.n_vocab()

    runs, mismatched = [], 0
    for r, ref in enumerate(reference["runs"]):
        prompt, steps = list(ref["prompt"]), len(ref["tokens"])
        llm.reset()
        feed, tokens, tops, top_logits = prompt, [], [], []
        for _ in range(steps):
            llm.eval(feed)
            ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
            logits = np.ctypeslib.as_array(ptr, shape=(vocab,)).astype(np.float32)
            ids, values = top5(logits)
            tokens.append(ids[0])
            tops.append(ids)
            top_logits.append(values)
            feed = [ids[0]]
        # llama.cpp's own greedy sampler on the same ids.
        llm.reset()
        sampled = []
        for token in llm.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0,
                                  reset=True):
            sampled.append(int(token))
            if len(sampled) == steps:
                break
        if sampled != tokens:
            mismatched += 1
            print(f"prompt {r}: llama.cpp's sampler gave {sampled} but the argmax {tokens}", file=sys.stderr)
        runs.append({"prompt": prompt, "tokens": tokens, "top": tops, "top_logits": top_logits})
        print(f"prompt {r}: {len(prompt)} ids -> {tokens[:8]}...")

    source = f"llama.cpp (llama-cpp-python {llama_cpp.__version__}) {quant_tag(args.gguf)}, {args.threads} threads"
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"source": source, "runs": runs}, f)
    print(f"wrote {args.out}: {len(runs)} runs ({source})")
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
