#!/usr/bin/env python3
"""Trains the small tokenizer fixtures of tests/fixtures/tokenizers/ with HF
`tokenizers` on Debian's fortunes text, one per pipeline Kiln serves, and
writes the ids and decodings HF gives for the strings of
tokenizer_strings.py:

  gpt2     ByteLevel pre-tokenizer with GPT-2's regex (GPT-2, OPT)
  llama3   Llama-3 split regex + ByteLevel, ignore_merges, BOS template
  qwen2    NFC + Qwen2 split regex + ByteLevel, chat special tokens
  smollm2  Digits(individual) + ByteLevel
  llama2   SentencePiece-style BPE: Prepend/Replace normalizer, byte
           fallback, <s> template, Replace/ByteFallback/Fuse/Strip decoder
  mistral  Metaspace(prepend_scheme=first, split=false), byte fallback,
           Metaspace decoder, [INST] tokens with lstrip/rstrip
  gemma    Replace normalizer, no byte fallback: unknown characters fused
           into <unk>; normalized and single_word added tokens

Usage (in a venv with tokenizers; apt-get install fortunes):
  python tools/reference/make_tokenizer_fixtures.py [--out tests/fixtures/tokenizers]
"""
import argparse
import glob
import json
import os
import sys

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from tokenizers import Regex

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenizer_strings  # noqa: E402

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
VOCAB = 2000
RANDOM_CASES = 300
SEED = 20240601


def corpus():
    files = sorted(f for f in glob.glob("/usr/share/games/fortunes/*") if "." not in os.path.basename(f))
    if not files:
        sys.exit("no fortunes text: apt-get install fortunes")
    lines = []
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            lines.extend(l for l in fh.read().split("\n%\n") if l.strip())
    # A sprinkle of other scripts so that merges exist beyond ASCII.
    lines.extend(tokenizer_strings.EDGE_CASES * 3)
    return lines


def byte_level(pre, specials, ignore_merges=False, normalizer=None, post=None):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    tok.post_processor = post if post is not None else processors.ByteLevel(trim_offsets=False)
    return tok


def with_byte_tokens(tok, specials, **model_fields):
    """Re-lays a trained ▁-vocabulary out as Llama's: specials, then the 256
    <0xXX> byte tokens, then the trained tokens."""
    d = json.loads(tok.to_str())
    old = d["model"]["vocab"]
    vocab = {}
    for s in specials:
        vocab[s] = len(vocab)
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for t, _ in sorted(old.items(), key=lambda kv: kv[1]):
        if t not in vocab:
            vocab[t] = len(vocab)
    d["model"]["vocab"] = vocab
    d["model"].update(model_fields)
    d["added_tokens"] = [
        {"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True} for s in specials]
    return d


def spm_base(limit_alphabet):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=[], limit_alphabet=limit_alphabet,
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    return tok


def build_all():
    out = {}
    out["gpt2"] = byte_level(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
                             ["<|endoftext|>"])

    t = byte_level(pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
        ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"], ignore_merges=True)
    t.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      special_tokens=[("<|begin_of_text|>", 0)])])
    out["llama3"] = t

    out["qwen2"] = byte_level(pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], normalizer=normalizers.NFC())

    out["smollm2"] = byte_level(pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]),
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])

    base = spm_base(limit_alphabet=120)
    d = with_byte_tokens(base, ["<unk>", "<s>", "</s>"], byte_fallback=True, fuse_unk=True,
                         unk_token="<unk>")
    d["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "▁"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
    d["pre_tokenizer"] = None
    d["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    d["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "<s>", "type_id": 1}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    out["llama2"] = Tokenizer.from_str(json.dumps(d))

    d = with_byte_tokens(base, ["<unk>", "<s>", "</s>"], byte_fallback=True, fuse_unk=True,
                         unk_token="<unk>")
    n = len(d["model"]["vocab"])
    d["added_tokens"] += [
        {"id": n, "content": "[INST]", "single_word": False, "lstrip": True, "rstrip": True,
         "normalized": False, "special": True},
        {"id": n + 1, "content": "[/INST]", "single_word": False, "lstrip": True, "rstrip": False,
         "normalized": False, "special": True}]
    d["normalizer"] = None
    d["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                          "split": False}
    d["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    d["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                                              "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}}
    out["mistral"] = Tokenizer.from_str(json.dumps(d))

    base = spm_base(limit_alphabet=90)
    d = json.loads(base.to_str())
    vocab = {"<unk>": 0, "<bos>": 1, "<eos>": 2}
    for t, _ in sorted(d["model"]["vocab"].items(), key=lambda kv: kv[1]):
        vocab.setdefault(t, len(vocab))
    n = len(vocab)
    d["model"].update(vocab=vocab, unk_token="<unk>", fuse_unk=True, byte_fallback=False)
    d["added_tokens"] = [
        {"id": 0, "content": "<unk>", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True},
        {"id": 1, "content": "<bos>", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True},
        {"id": 2, "content": "<eos>", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True},
        {"id": n, "content": "<start_of_turn>", "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": False, "special": True},
        {"id": n + 1, "content": "<mask>", "single_word": True, "lstrip": False, "rstrip": False,
         "normalized": True, "special": False},
        {"id": n + 2, "content": "hacker news", "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": True, "special": False}]
    d["normalizer"] = {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}
    d["pre_tokenizer"] = {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious",
                          "invert": False}
    d["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}
    d["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<bos>": {"id": "<bos>", "ids": [1], "tokens": ["<bos>"]}}}
    out["gemma"] = Tokenizer.from_str(json.dumps(d))
    return out


def expectations(tok, texts):
    cases = []
    for text in texts:
        plain = tok.encode(text, add_special_tokens=False).ids
        special = tok.encode(text, add_special_tokens=True).ids
        cases.append({"text": text, "ids": plain, "ids_with_special": special,
                      "decoded": tok.decode(special, skip_special_tokens=False),
                      "decoded_skip": tok.decode(special, skip_special_tokens=True)})
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/tokenizers")
    args = ap.parse_args()
    texts = tokenizer_strings.EDGE_CASES + tokenizer_strings.random_strings(SEED, RANDOM_CASES)
    for name, tok in build_all().items():
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(tok.to_str(pretty=False))
        with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
            json.dump({"generator": "tools/reference/make_tokenizer_fixtures.py",
                       "cases": expectations(tok, texts)}, f, ensure_ascii=False, indent=0)
        print(name, tok.get_vocab_size())


if __name__ == "__main__":
    main()
