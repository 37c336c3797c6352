#!/usr/bin/env python3
"""Random-weight checkpoints at real model shapes, for benchmarking.

For each tools/bench/configs/<name>/config.json (written from the published
hyperparameters of SmolLM2-135M, Llama-3.2-1B, Llama-2-7B, Mistral-7B,
Gemma-2B and OPT-1.3B) builds the Transformers model with random weights
(its own initialiser, seeded) and saves config.json + model.safetensors
into <cache>/<name>-<dtype>/. Speed does not depend on the weight values,
so these stand in for the real models; their text is noise.

The tokenizer is Kiln's 256-token byte-level fixture
(tests/fixtures/tokenizers/bytes256/tokenizer.json) padded to the model's
vocabulary with unreachable tokens "<rN>" (no merge makes them), written
alongside so compile-model bundles it: prompts become byte ids, and every
id a random model generates still detokenises, as the timed loop needs.

Never commit the output (a 7B model is 13 GiB in bf16, 26 GiB in f32).

  ~/.cache/kiln-ref/bin/python tools/bench/make_random_models.py \
      --models smollm2-135m --dtype float32 [--cache ~/.cache/kiln-bench/models] [--device cuda]
"""
import argparse
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOKENIZER = os.path.join(REPO, "tests/fixtures/tokenizers/bytes256/tokenizer.json")


def write_tokenizer(path, vocab_size):
    with open(TOKENIZER, encoding="utf-8") as f:
        tokenizer = json.load(f)
    vocab = tokenizer["model"]["vocab"]
    for i in range(len(vocab), vocab_size):
        vocab[f"<r{i}>"] = i
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="smollm2-135m", help="comma-separated names under configs/ (or 'all')")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--cache", default=os.path.expanduser("~/.cache/kiln-bench/models"))
    p.add_argument("--device", default="cpu", help="where to run the initialiser (cuda is much faster for 7B)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    names = sorted(os.listdir(os.path.join(HERE, "configs"))) if args.models == "all" else args.models.split(",")
    for name in names:
        out = os.path.join(args.cache, f"{name}-{args.dtype}")
        if os.path.exists(os.path.join(out, "model.safetensors")) or os.path.exists(
            os.path.join(out, "model.safetensors.index.json")
        ):
            print(f"{out}: exists")
            continue
        start = time.time()
        config = AutoConfig.from_pretrained(os.path.join(HERE, "configs", name))
        torch.manual_seed(args.seed)
        with torch.device(args.device):
            model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, args.dtype))
        model.eval()
        tmp = out + ".partial"
        shutil.rmtree(tmp, ignore_errors=True)
        # One shard: Kiln and Transformers both read sharded files too, but one
        # file keeps the cache simple. save_pretrained writes config.json in
        # this Transformers version's form (rope_parameters).
        model.save_pretrained(tmp, max_shard_size="100GB")
        write_tokenizer(os.path.join(tmp, "tokenizer.json"), config.vocab_size)
        os.replace(tmp, out)
        params = sum(t.numel() for t in model.parameters())
        print(f"{out}: {params / 1e6:.1f} M parameters, {time.time() - start:.1f} s")
        del model
    return 0


if __name__ == "__main__":
    sys.exit(main())
