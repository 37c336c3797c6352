#!/usr/bin/env python3
"""Writes a byte-level BPE tokenizer.json with exactly 256 tokens (one per
byte, no merges): a tokenizer for the tiny 256-token fixture models, so
generation can be tested end to end from text. Needs no third-party package.

    python3 tools/reference/make_byte_tokenizer.py tests/fixtures/tokenizers/bytes256/tokenizer.json
"""
import json
import sys


def byte_to_char():
    """GPT-2's printable stand-ins for the 256 byte values: printable Latin-1
    bytes stand for themselves, the rest map to code points from U+0100 up."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) +
                 list(range(0xAE, 0xFF + 1)))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def main(path):
    chars = byte_to_char()
    byte_level = {"add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": dict(type="ByteLevel", **byte_level),
        "post_processor": dict(type="ByteLevel", **byte_level),
        "decoder": dict(type="ByteLevel", **byte_level),
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None,
            "continuing_subword_prefix": None, "end_of_word_suffix": None,
            "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": {chars[b]: b for b in range(256)},
            "merges": [],
        },
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
