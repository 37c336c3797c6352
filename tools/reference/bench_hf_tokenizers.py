#!/usr/bin/env python3
"""HF tokenizers side of the encode benchmark (tools/bench/tokenizer_bench.cc):
the same corpus, split into paragraphs at blank lines, encoded one paragraph
at a time on one thread (TOKENIZERS_PARALLELISM=false), best of --repeat.

  --make-corpus FILE   writes Debian's fortunes + jargon text (needs the
                       fortunes and jargon-text packages) to FILE first
  --tokenizer NAME=PATH  a tokenizer.json; repeatable
  --gpt2-json FILE     also writes GPT-2 (from whisper's vocab.json +
                       merges.txt, given by --gpt2 VOCAB MERGES) as a
                       tokenizer.json for the C++ side
"""
import argparse
import glob
import gzip
import os
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("RAYON_NUM_THREADS", "1")
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors  # noqa: E402


def make_corpus(path):
    parts = []
    for f in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if "." in os.path.basename(f) or os.path.isdir(f):
            continue
        with open(f, encoding="utf-8", errors="replace") as fh:
            parts.append(fh.read().replace("\n%\n", "\n\n"))
    jargon = "/usr/share/doc/jargon-text/jargon.txt.gz"
    if os.path.exists(jargon):
        with gzip.open(jargon, "rt", encoding="utf-8", errors="replace") as fh:
            parts.append(fh.read())
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n\n".join(parts))


def paragraphs(text):
    return [p for p in text.split("\n\n") if p]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-corpus")
    ap.add_argument("--corpus")
    ap.add_argument("--tokenizer", action="append", default=[])
    ap.add_argument("--gpt2", nargs=2)
    ap.add_argument("--gpt2-json")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if args.make_corpus:
        make_corpus(args.make_corpus)
        args.corpus = args.corpus or args.make_corpus
    toks = []
    if args.gpt2:
        vocab, merges = models.BPE.read_file(*args.gpt2)
        t = Tokenizer(models.BPE(vocab, merges))
        t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        t.decoder = decoders.ByteLevel()
        t.post_processor = processors.ByteLevel(trim_offsets=False)
        t.add_special_tokens(["<|endoftext|>"])
        if args.gpt2_json:
            t.save(args.gpt2_json)
        toks.append(("gpt2", t))
    for spec in args.tokenizer:
        name, path = spec.split("=", 1)
        toks.append((name, Tokenizer.from_file(path)))
    if not args.corpus:
        return
    with open(args.corpus, encoding="utf-8") as fh:
        docs = paragraphs(fh.read())
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    print(f"corpus: {nbytes} bytes in {len(docs)} paragraphs")
    for name, t in toks:
        best = best_cpu = float("inf")
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            n = 0
            for d in docs:
                n += len(t.encode(d, add_special_tokens=False).ids)
            best = min(best, time.perf_counter() - start)
            best_cpu = min(best_cpu, time.process_time() - start_cpu)
        # One encode_batch call (serial: parallelism is off) avoids the
        # per-call Python overhead; the faster of the two is the fair number.
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            n = sum(len(e.ids) for e in t.encode_batch(docs, add_special_tokens=False))
            best = min(best, time.perf_counter() - start)
            best_cpu = min(best_cpu, time.process_time() - start_cpu)
        print(f"hf-tokenizers encode/{name}: wall {best * 1000:.0f} ms, cpu {best_cpu * 1000:.0f} ms, "
              f"{nbytes / best_cpu / 2**20:.2f} MiB/s (cpu), {n} tokens")


if __name__ == "__main__":
    main()
