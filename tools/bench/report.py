#!/usr/bin/env python3
"""Merges kiln-bench-schema results (kiln-bench, hf_bench.py,
llamacpp_bench.py) into markdown tables, one per case, with ratios against
the Kiln result. Standard library only.

  python3 tools/bench/report.py /tmp/bench/*.json [--baseline kiln] [--out report.md]

Ratios are other / Kiln for tokens/s (> 1: the other engine is faster) and
Kiln / other for TTFT (> 1 likewise: the other reaches its first token
sooner). "same greedy" is the share of generated tokens, over all runs, up
to the first one that differs from Kiln's for the same prompt ids.
"""
import argparse
import json
import sys


def load(paths):
    docs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("schema") != "kiln-bench/1":
            sys.exit(f"{path}: not a kiln-bench/1 result")
        doc["_path"] = path
        docs.append(doc)
    return docs


def label(doc):
    e = doc["engine"]
    threads = doc.get("threads")
    parts = [e["name"], e.get("dtype") or ""]
    if "oneDNN" in e.get("backend", ""):
        parts.append("+ oneDNN")
    if e.get("speculative"):
        parts.append("+ " + e["speculative"])
    if threads:
        parts.append(f"{threads} thr")
    return " ".join(p for p in parts if p)


def ms(seconds):
    return fmt(None if seconds is None else seconds * 1e3)


def fmt(value, digits=3):
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def same_prefix_share(case, base_case):
    if not base_case or base_case.get("status") != "ok" or case.get("status") != "ok":
        return None
    same = total = 0
    for run, base in zip(case["runs"], base_case["runs"]):
        if run["prompt_ids"] != base["prompt_ids"]:
            return None
        n = 0
        for a, b in zip(run["output_ids"], base["output_ids"]):
            if a != b:
                break
            n += 1
        same += n
        total += len(base["output_ids"])
    return same / total if total else None


def header(docs):
    lines = []
    seen = set()
    for d in docs:
        m = d["machine"]
        key = (m["cpu"], d["card"]["name"])
        if key not in seen:
            seen.add(key)
            lines.append(f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']:.0f} GiB; "
                         f"card: {d['card']['name']}")
    dates = sorted(d["date"] for d in docs)
    commits = sorted({d.get("commit") or "?" for d in docs})
    lines.append(f"- dates: {dates[0]} .. {dates[-1]}; commit: {', '.join(commits)}")
    for d in docs:
        e = d["engine"]
        load = d["machine"].get("loadavg")
        note = f"; {e['note']}" if e.get("note") else ""
        lines.append(f"- {label(d)}: {e.get('backend', '')}; model {d['model']}; load {fmt(d['timings'].get('load_s'))} s"
                     + (f"; compile {fmt(d['timings']['compile_s'])} s" if d["timings"].get("compile_s") else "")
                     + f"; peak RSS {d['memory']['peak_host_rss_bytes'] / 2**20:.0f} MiB"
                     + (f"; loadavg at end {load[0]:.2f}" if load else "") + note)
    return lines


def case_table(name, docs, base):
    base_case = next((c for c in base["cases"] if c["name"] == name), None) if base else None
    rows = ["| engine | TTFT s | decode tok/s (min–max) | p50 / p90 / p99 ms | roofline | tok/s vs Kiln | TTFT vs Kiln | same greedy |",
            "|---|---|---|---|---|---|---|---|"]
    status = []
    for d in docs:
        c = next((c for c in d["cases"] if c["name"] == name), None)
        if c is None:
            continue
        if c.get("status") != "ok":
            status.append(f"{label(d)}: {c.get('status')}")
            continue
        s = c["summary"]
        tok = s["decode_tok_s"]
        lat = s["latency_s"]
        ratio_tok = ratio_ttft = None
        if base_case and base_case.get("status") == "ok":
            bs = base_case["summary"]
            ratio_tok = tok["median"] / bs["decode_tok_s"]["median"]
            ratio_ttft = bs["ttft_s"]["median"] / s["ttft_s"]["median"]
        share = same_prefix_share(c, base_case) if d is not base else None
        rows.append(
            f"| {label(d)} | {fmt(s['ttft_s']['median'])} | {fmt(tok['median'])} ({fmt(tok['min'])}–{fmt(tok['max'])}) "
            f"| {ms(lat['p50'])} / {ms(lat['p90'])} / {ms(lat['p99'])} "
            f"| {fmt(s.get('roofline_fraction'), 2)} | {fmt(ratio_tok)}× | {fmt(ratio_ttft)}× "
            f"| {'–' if share is None else f'{share:.0%}'} |")
    return rows, status


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+")
    p.add_argument("--baseline", default="kiln", help="engine name the ratios divide by")
    p.add_argument("--out", default="")
    args = p.parse_args()
    docs = load(args.results)
    base = next((d for d in docs if d["engine"]["name"] == args.baseline), None)
    names = []
    for d in docs:
        for c in d["cases"]:
            if c["name"] not in names:
                names.append(c["name"])
    lines = header(docs)
    for name in names:
        rows, status = case_table(name, docs, base)
        lines += ["", f"**{name}**", ""]
        if len(rows) > 2:
            lines += rows
        lines += [f"- {s}" for s in status]
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
