#!/usr/bin/env python3
"""PNG charts from kiln-bench-schema results (needs matplotlib; the
reference venv has it: ~/.cache/kiln-ref/bin/pip install matplotlib).

  ~/.cache/kiln-ref/bin/python tools/bench/plot.py /tmp/bench/*.json --out-dir /tmp/bench/plots

Writes:
  tokens_per_s.png   median decode tokens/s per case (prompt length x
                     batch), one bar per engine, min-max as error bars
  ttft.png           median time to first token per case
  latency.png        per-token decode latency distributions (box plots,
                     whiskers at p1/p99) per engine and case
  roofline.png       roofline fraction per engine and case: bytes a step
                     must move / copy bandwidth / measured median step time
"""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def label(doc):
    e = doc["engine"]
    threads = f" {doc['threads']}thr" if doc.get("threads") else ""
    return f"{e['name']} {e.get('dtype') or ''}{threads}".strip()


def ok_cases(docs):
    names = []
    for d in docs:
        for c in d["cases"]:
            if c.get("status") == "ok" and c["name"] not in names:
                names.append(c["name"])
    return names


def grouped_bars(docs, names, value, ylabel, title, path, errors=None, log=False):
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(names) * max(1, len(docs)) / 2), 4))
    width = 0.8 / max(1, len(docs))
    for i, d in enumerate(docs):
        cases = {c["name"]: c for c in d["cases"] if c.get("status") == "ok"}
        xs, ys, lo, hi = [], [], [], []
        for j, name in enumerate(names):
            if name in cases:
                v = value(cases[name])
                xs.append(j + i * width)
                ys.append(v)
                if errors:
                    a, b = errors(cases[name])
                    lo.append(max(0.0, v - a))
                    hi.append(max(0.0, b - v))
        ax.bar(xs, ys, width, label=label(d), yerr=[lo, hi] if errors else None, capsize=3)
    ax.set_xticks([j + width * (len(docs) - 1) / 2 for j in range(len(names))])
    ax.set_xticklabels(names, rotation=20)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def latency_boxes(docs, names, path):
    data, labels = [], []
    for name in names:
        for d in docs:
            c = next((c for c in d["cases"] if c["name"] == name and c.get("status") == "ok"), None)
            if c is None:
                continue
            data.append([t * 1e3 for r in c["runs"] for t in r["token_latencies_s"]])
            labels.append(f"{name}\n{label(d)}")
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(data)), 4.5))
    ax.boxplot(data, whis=(1, 99), showfliers=True)
    ax.set_xticks(range(1, len(labels) + 1))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("decode latency per token, ms (log)")
    ax.set_title("Per-token latency (box: p25-p75, whiskers p1/p99)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+")
    p.add_argument("--out-dir", required=True)
    args = p.parse_args()
    docs = []
    for path in args.results:
        with open(path, encoding="utf-8") as f:
            docs.append(json.load(f))
    os.makedirs(args.out_dir, exist_ok=True)
    names = ok_cases(docs)
    if not names:
        raise SystemExit("no case ran in these results")
    machine = docs[0]["machine"]["cpu"] + " / " + docs[0]["card"]["name"]
    grouped_bars(docs, names, lambda c: c["summary"]["decode_tok_s"]["median"], "decode tokens/s (log)",
                 f"Decode throughput by prompt length and batch ({machine})",
                 os.path.join(args.out_dir, "tokens_per_s.png"),
                 errors=lambda c: (c["summary"]["decode_tok_s"]["min"], c["summary"]["decode_tok_s"]["max"]), log=True)
    grouped_bars(docs, names, lambda c: c["summary"]["ttft_s"]["median"], "time to first token, s (log)",
                 f"TTFT ({machine})", os.path.join(args.out_dir, "ttft.png"),
                 errors=lambda c: (c["summary"]["ttft_s"]["min"], c["summary"]["ttft_s"]["max"]), log=True)
    latency_boxes(docs, names, os.path.join(args.out_dir, "latency.png"))
    grouped_bars(docs, names, lambda c: c["summary"].get("roofline_fraction") or 0.0, "roofline fraction",
                 "Bytes per decode step / copy bandwidth / step time (1.0: at copy speed)",
                 os.path.join(args.out_dir, "roofline.png"))
    print(f"wrote {args.out_dir}/tokens_per_s.png, ttft.png, latency.png, roofline.png")


if __name__ == "__main__":
    main()
