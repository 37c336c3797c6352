#!/usr/bin/env python3
"""How far greedy traces of the same prompts agree (tools/bench/greedy_parity.h
format: hf_greedy_trace.py, kiln-greedy-parity --out, llamacpp_greedy_trace.py).

For every pair of traces and every prompt: the tokens equal before the first
divergence, TESTING.md's real-model rule there (each side's token in the
other's top-5), both sides' top-5 with their logits at the divergence (when
the traces carry "top_logits") and the top-1 margin of each side; then per
pair the share of equal tokens, counted two ways:
  prefix    tokens equal before each prompt's first divergence / all tokens
            (after a divergence the two sides continue different texts);
  position  positions where the tokens are equal / all tokens.

Every trace must hold the same prompt ids; --prompt-ids LABEL=FILE (a JSON
list of id lists, one per prompt, e.g. Kiln's tokenizer on the workload's
texts) adds further encodings that must equal them.

  python3 tools/bench/greedy_agreement.py kiln=/tmp/kiln.json \\
      transformers=/tmp/hf.json llama.cpp=/tmp/lc.json [--json OUT.json] [--markdown OUT.md]
Standard library only. Exit 1 when prompt ids differ.
"""
import argparse
import itertools
import json
import sys


def load(spec):
    label, _, path = spec.partition("=")
    if not path:
        raise SystemExit(f"give LABEL=PATH, not {spec!r}")
    with open(path, encoding="utf-8") as f:
        return label, json.load(f)


def fmt_top(run, step):
    ids = run["top"][step][:5]
    logits = run.get("top_logits")
    if not logits:
        return " ".join(str(i) for i in ids)
    return " ".join(f"{i}:{v:.3f}" for i, v in zip(ids, logits[step][:5]))


def margin(run, step):
    logits = run.get("top_logits")
    return None if not logits else logits[step][0] - logits[step][1]


def compare(a, b):
    """Verdict of run `a` against run `b` (same prompt and length)."""
    steps = len(a["tokens"])
    equal_at = [x == y for x, y in zip(a["tokens"], b["tokens"])]
    first = next((i for i, same in enumerate(equal_at) if not same), None)
    v = {"steps": steps, "matched": steps if first is None else first, "diverged": first,
         "positions_equal": sum(equal_at)}
    if first is None:
        v["ok"] = True
    else:
        ta, tb = a["tokens"][first], b["tokens"][first]
        v["ok"] = ta in b["top"][first][:5] and tb in a["top"][first][:5]
        v.update(token_a=ta, token_b=tb, top_a=fmt_top(a, first), top_b=fmt_top(b, first),
                 margin_a=margin(a, first), margin_b=margin(b, first))
    return v


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("traces", nargs="+", help="LABEL=TRACE.json, two or more")
    p.add_argument("--prompt-ids", action="append", default=[], help="LABEL=FILE: more encodings to check")
    p.add_argument("--json", default="", help="write the verdicts here")
    p.add_argument("--markdown", default="", help="write the tables here (also printed)")
    args = p.parse_args()

    traces = [load(s) for s in args.traces]
    base_label, base = traces[0]
    prompts = [r["prompt"] for r in base["runs"]]
    problems = []
    for label, t in traces[1:]:
        if [r["prompt"] for r in t["runs"]] != prompts:
            problems.append(f"{label}'s prompt ids differ from {base_label}'s")
        if [len(r["tokens"]) for r in t["runs"]] != [len(r["tokens"]) for r in base["runs"]]:
            problems.append(f"{label}'s runs have other lengths than {base_label}'s")
    for spec in args.prompt_ids:
        label, ids = load(spec)
        for i, (want, got) in enumerate(zip(prompts, ids)):
            if want != got:
                problems.append(f"prompt {i}: {label} encodes {got}, the traces hold {want}")
        if len(ids) != len(prompts):
            problems.append(f"{label} holds {len(ids)} prompts, the traces {len(prompts)}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1

    lines = [f"Prompt ids identical in every trace ({len(prompts)} prompts, "
             f"{', '.join(str(len(x)) for x in prompts)} ids)" +
             (f" and equal to {', '.join(s.partition('=')[0] for s in args.prompt_ids)}." if args.prompt_ids else "."),
             ""]
    doc = {"sources": {label: t.get("source") for label, t in traces}, "pairs": []}
    for (la, ta), (lb, tb) in itertools.combinations(traces, 2):
        verdicts = [compare(ra, rb) for ra, rb in zip(ta["runs"], tb["runs"])]
        total = sum(v["steps"] for v in verdicts)
        prefix = sum(v["matched"] for v in verdicts)
        position = sum(v["positions_equal"] for v in verdicts)
        doc["pairs"].append({"a": la, "b": lb, "verdicts": verdicts, "tokens": total,
                             "prefix_equal": prefix, "positions_equal": position})
        lines += [f"**{la} vs {lb}**: {prefix}/{total} tokens equal before the first divergence "
                  f"({100.0 * prefix / total:.1f} %), {position}/{total} equal by position "
                  f"({100.0 * position / total:.1f} %); "
                  f"{sum(v['ok'] for v in verdicts)}/{len(verdicts)} prompts within the real-model rule.",
                  "",
                  f"| prompt | equal before divergence | rule | {la} token / top-5 (id:logit) | "
                  f"{lb} token / top-5 (id:logit) |",
                  "|---|---|---|---|---|"]
        for i, v in enumerate(verdicts):
            if v["diverged"] is None:
                lines.append(f"| {i} | {v['matched']}/{v['steps']} (all) | ok | | |")
                continue
            ma = "" if v["margin_a"] is None else f" (top-1 margin {v['margin_a']:.3f})"
            mb = "" if v["margin_b"] is None else f" (top-1 margin {v['margin_b']:.3f})"
            lines.append(f"| {i} | {v['matched']}/{v['steps']} (step {v['diverged']}) | "
                         f"{'ok' if v['ok'] else 'FAIL'} | {v['token_a']} / {v['top_a']}{ma} | "
                         f"{v['token_b']} / {v['top_b']}{mb} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
