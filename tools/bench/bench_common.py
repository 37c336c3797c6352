"""What hf_bench.py and llamacpp_bench.py share with kiln-bench: the
workload rules (cases, exact-length prompt ids), the statistics and the
result schema "kiln-bench/1" (tools/bench/kiln_bench.cc is the reference
for every field). Standard library only.
"""
import json
import math
import os
import platform
import resource
import subprocess
import time

SCHEMA = "kiln-bench/1"


def load_workload(path):
    """The workload dict with "prompt_list" (texts) and "case_list" added, in
    kiln-bench's order: prompt_tokens x new_tokens x batch_sizes."""
    with open(path, encoding="utf-8") as f:
        w = json.load(f)
    if isinstance(w.get("prompts"), str):
        prompts_path = os.path.join(os.path.dirname(path), w["prompts"])
        with open(prompts_path, encoding="utf-8") as f:
            w["prompt_list"] = [json.loads(line)["text"] for line in f if line.strip()]
    else:
        w["prompt_list"] = list(w["prompt_texts"])
    cases = []
    for p in w.get("prompt_tokens", [0]):
        for n in w.get("new_tokens", [32]):
            for b in w.get("batch_sizes", [1]):
                name = f"p{'nat' if p == 0 else p}_n{n}_b{b}"
                cases.append({"name": name, "prompt_tokens": p, "new_tokens": n, "batch": b})
    w["case_list"] = cases
    w["file"] = path
    return w


def prompt_ids(workload, case, run, encode):
    """kiln-bench's rule (tools/bench/workload.h): start at prompt line
    `run`, join following lines with blank lines, encode with special
    tokens, cut at the case's length. `encode(text)` -> list of ids."""
    texts = workload["prompt_list"]
    first = run % len(texts)
    want = case["prompt_tokens"]
    if want == 0:
        return encode(texts[first])
    text, ids = "", []
    for i in range(len(texts)):
        if i:
            text += "\n\n"
        text += texts[(first + i) % len(texts)]
        if len(text.encode("utf-8")) < 4 * want + 16 and i + 1 < len(texts):
            continue
        ids = encode(text)
        if len(ids) >= want:
            break
    if len(ids) < want:
        raise ValueError(f"the prompts hold only {len(ids)} tokens, case {case['name']} needs {want}")
    return ids[:want]


def kiln_prompts(kiln_result_path):
    """{case name: [prompt ids of run 0, 1, ...]} from a kiln-bench result,
    so other engines run exactly Kiln's ids."""
    with open(kiln_result_path, encoding="utf-8") as f:
        r = json.load(f)
    return {c["name"]: [run["prompt_ids"] for run in c.get("runs", [])] for c in r["cases"]}


def percentile(values, q):
    """Nearest rank, as kiln-bench's Percentile."""
    if not values:
        return 0.0
    s = sorted(values)
    index = max(1, math.ceil(q / 100.0 * len(s))) - 1
    return s[min(index, len(s) - 1)]


def spread(values):
    n = len(values)
    if not n:
        return {"n": 0, "median": None, "min": None, "max": None, "mean": None, "stdev": None}
    s = sorted(values)
    median = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    mean = sum(s) / n
    stdev = math.sqrt(sum((v - mean) ** 2 for v in s) / (n - 1)) if n > 1 else 0.0
    return {"n": n, "median": median, "min": s[0], "max": s[-1], "mean": mean, "stdev": stdev}


def summarise(runs, bytes_per_step=None, bandwidth_gbps=None):
    """The "summary" block of a case from its runs (each with ttft_s and
    token_latencies_s), as kiln-bench writes it."""
    ttft = [r["ttft_s"] for r in runs]
    decode = [sum(r["token_latencies_s"]) for r in runs]
    # Tokens after the first, over all rows of a batch.
    tok_s = [r.get("tokens_after_first", len(r["token_latencies_s"])) / d for r, d in zip(runs, decode) if d > 0]
    lat = [t for r in runs for t in r["token_latencies_s"]]
    summary = {
        "ttft_s": spread(ttft),
        "decode_tok_s": spread(tok_s),
        "e2e_s": spread([t + d for t, d in zip(ttft, decode)]),
        "latency_s": {"p50": percentile(lat, 50), "p90": percentile(lat, 90), "p99": percentile(lat, 99), "n": len(lat)},
        "bytes_per_step": bytes_per_step,
        "roofline_step_s": None,
        "roofline_fraction": None,
    }
    if bytes_per_step and bandwidth_gbps and lat:
        bound = bytes_per_step / (bandwidth_gbps * 1e9)
        summary["roofline_step_s"] = bound
        summary["roofline_fraction"] = bound / percentile(lat, 50)
    return summary


def copy_bandwidth_gbps(mib=256, repeats=5):
    """Host copy bandwidth as kiln-bench measures it: (read + write bytes)
    per second of the best of `repeats` copies. Needs numpy."""
    import numpy as np

    src = np.ones(mib << 20, dtype=np.uint8)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = min(_timed(lambda: np.copyto(dst, src)) for _ in range(repeats))
    return 2.0 * (mib << 20) / best / 1e9


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / (1 << 30)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": memory, "loadavg": list(os.getloadavg()),
            "os": f"{platform.system()} {platform.release()} {platform.machine()}"}


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def git_commit():
    if os.environ.get("KILN_COMMIT"):
        return os.environ["KILN_COMMIT"]
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.check_output(["git", "-C", here, "rev-parse", "--short=12", "HEAD"],
                                       text=True, stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def result(engine, model, workload, warmup, reps, threads, timings, memory, bandwidth, traffic, cases,
           card=None):
    """A whole result document in kiln-bench's schema."""
    spec = {k: v for k, v in workload.items() if k not in ("prompt_list", "case_list", "file")}
    return {
        "schema": SCHEMA,
        "engine": engine,
        "model": model,
        "workload": {"name": workload["name"], "file": workload["file"], "spec": spec,
                     "warmup": warmup, "reps": reps},
        "machine": machine_info(),
        "card": card or {"name": "none (CPU)", "memory_gib": None, "driver": None},
        "commit": git_commit(),
        "date": utc_now(),
        "threads": threads,
        "timings": timings,
        "memory": memory,
        "bandwidth": bandwidth,
        "traffic": traffic,
        "cases": cases,
    }


def write(doc, out):
    text = json.dumps(doc, indent=1) + "\n"
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        print(text, end="")
