#!/usr/bin/env python3
"""Differential-test driver: encodes random strings with HF `tokenizers` and
writes the ids, for Kiln's tests/runtime/tokenizer:differential_test to
compare against (one JSON object a line: text, ids, ids_with_special).

  --tokenizer PATH      a tokenizer.json, or
  --gpt2 VOCAB MERGES   GPT-2's vocab.json + merges.txt (written out as a
                        tokenizer.json to --save-tokenizer for Kiln to load)

Needs only `tokenizers` (PyPI, tested with 0.23.x).
"""
import argparse
import json
import os
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenizer_strings  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer")
    ap.add_argument("--gpt2", nargs=2, metavar=("VOCAB", "MERGES"))
    ap.add_argument("--save-tokenizer")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.gpt2:
        vocab, merges = models.BPE.read_file(*args.gpt2)
        tok = Tokenizer(models.BPE(vocab, merges))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        tok.add_special_tokens(["<|endoftext|>"])
    else:
        tok = Tokenizer.from_file(args.tokenizer)
    if args.save_tokenizer:
        tok.save(args.save_tokenizer)
    texts = tokenizer_strings.EDGE_CASES + tokenizer_strings.random_strings(args.seed, args.count)
    with open(args.out, "w", encoding="utf-8") as f:
        for text in texts:
            f.write(json.dumps({"text": text,
                                "ids": tok.encode(text, add_special_tokens=False).ids,
                                "ids_with_special": tok.encode(text, add_special_tokens=True).ids},
                               ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
