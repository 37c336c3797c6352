#!/usr/bin/env python3
"""Extracts the benchmark prompt sets from Debian text packages.

Writes tools/bench/prompts/*.jsonl (committed, small), one {"text", "source"}
object a line, deterministically from the installed packages:

  fortunes.jsonl   short texts: fortune cookies from Debian `fortunes` /
                   `fortunes-min` (fortune-mod 1.99.1, BSD licence; each
                   cookie keeps its own attribution line)
  jargon.jsonl     longer texts: entries of the Jargon File 4.4.7 (Debian
                   `jargon-text`, public domain)
  jargon_copy.jsonl  a summarisation-style set whose answer copies from the
                   prompt: a Jargon File entry, then a request to repeat its
                   first sentence (the case prompt-lookup decoding targets)

Only needed to regenerate the files: `apt-get install fortunes jargon-text`,
then `python3 tools/bench/make_prompts.py`. Nothing at bench time reads the
packages.
"""
import gzip
import json
import os
import re

FORTUNE_DIR = "/usr/share/games/fortunes"
FORTUNE_FILES = ["computers", "science", "fortunes"]  # fortunes-min ships "fortunes"
JARGON = "/usr/share/doc/jargon-text/jargon.txt.gz"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prompts")
PER_SET = 64


def fortunes():
    out = []
    for name in FORTUNE_FILES:
        path = os.path.join(FORTUNE_DIR, name)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            cookies = f.read().split("\n%\n")
        taken = 0
        for cookie in cookies:
            text = cookie.strip()
            # Plain prose of a useful length; skip ASCII art and tables.
            if not 120 <= len(text) <= 700 or "\t" in text or "   " in text.replace("\n", " "):
                continue
            out.append({"text": text, "source": f"Debian fortunes, file {name}"})
            taken += 1
            if taken == PER_SET // len(FORTUNE_FILES) + 1:
                break
    return out[:PER_SET]


def jargon_entries():
    """(term, body) of Jargon File entries, in file order."""
    with gzip.open(JARGON, "rt", encoding="utf-8") as f:
        text = f.read()
    entries = []
    # An entry starts with "   :term: grammar" on its own line.
    for m in re.finditer(r"\n   :([^:\n]+):[^\n]*\n(.*?)(?=\n   :[^:\n]+:|\Z)", text, re.S):
        term, body = m.group(1).strip(), m.group(2)
        paragraphs = [re.sub(r"\s+", " ", p).strip() for p in body.split("\n\n")]
        paragraphs = [p for p in paragraphs if p and not p.startswith("[")]
        if paragraphs:
            entries.append((term, "\n\n".join(paragraphs)))
    return entries


def main():
    os.makedirs(OUT, exist_ok=True)
    entries = jargon_entries()
    # Every 20th entry of 400-2000 characters: spread over the alphabet.
    long = [(t, b) for t, b in entries if 400 <= len(b) <= 2000][::20][:PER_SET]
    source = "Jargon File 4.4.7 (Debian jargon-text, public domain)"
    sets = {
        "fortunes.jsonl": fortunes(),
        "jargon.jsonl": [{"text": f"{t}: {b}", "source": f"{source}, entry '{t}'"} for t, b in long],
        "jargon_copy.jsonl": [
            {
                "text": f"Glossary entry:\n\n{t}: {b}\n\n"
                f"Repeat the first sentence of the entry above, word for word.\n\n{t}:",
                "source": f"{source}, entry '{t}'",
            }
            for t, b in long
        ],
    }
    for name, rows in sets.items():
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{name}: {len(rows)} prompts")


if __name__ == "__main__":
    main()
