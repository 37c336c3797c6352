#!/usr/bin/env python3
"""Generates the tiny random-weight Hugging Face fixtures under tests/fixtures/models/.

For every fixture <name> and dtype in (f32, bf16, f16) it writes
tests/fixtures/models/<name>/<dtype>/:
  config.json, generation_config.json, model.safetensors
      exactly as `save_pretrained()` writes them (llama3/f32 is sharded:
      model-0000k-of-0000n.safetensors + model.safetensors.index.json).
      bf16/f16 are the f32 model converted with `.to(dtype)` before saving.
  expected.safetensors
      prompt_ids     i64 [P]      fixed prompt, ids in [3, vocab)
      prefill_logits f32 [P, V]   logits of the whole prompt (one forward)
      tokens         i64 [T+1]    greedy: tokens[0] = argmax(prefill_logits[-1]);
                                  decode step i feeds tokens[i] at position P+i
                                  with the KV cache and gives tokens[i+1]
      decode_logits  f32 [T, V]   logits of each decode step
  fixture.json
      provenance: family, dtype, versions, seed, minimum top-1/top-2 gap.

The expected outputs come from the saved files reloaded with
`from_pretrained(dir, dtype=<dtype>, attn_implementation="eager")` and run on
the CPU in that dtype, with the model's default cache and no attention mask.

Weights are set by this script (not by transformers' init), from a
torch.Generator seeded with the fixture's seed, at a scale that gives logits
with a spread of a few units; norm weights and all biases are random too.
A seed is accepted only if (otherwise the next seed is tried):
  - every greedy step of the f32 run has a top-1/top-2 logit gap >= MIN_GAP,
  - the f32 greedy tokens hold >= MIN_DISTINCT_TOKENS distinct ids,
  - the bf16 and f16 runs give the same greedy tokens as f32, each step also
    with a gap >= MIN_GAP in their own logits (no near-ties).
Self-checks: the cached decode equals one uncached forward over the whole
sequence (f32, < 1e-4), and for llama3/llama2/mistral, turning off the rope
scaling / sliding window changes the logits (so the feature is exercised).

Usage (venv from tools/reference/setup_venv.sh):
  python tools/reference/make_fixtures.py            # (re)write the fixtures
  python tools/reference/make_fixtures.py --check    # regenerate in a temp dir
                                                     # and compare byte for byte
"""

import argparse
import copy
import filecmp
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import (  # noqa: E402
    GemmaConfig,
    GemmaForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    OPTConfig,
    OPTForCausalLM,
)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "fixtures" / "models"

VOCAB = 256
HIDDEN = 64
INTERMEDIATE = 128
LAYERS = 2
MAX_POS = 64
PROMPT_LEN = 12
DECODE_STEPS = 8
PROMPT_SEED = 20240611
MIN_GAP = 1e-2
MAX_SEED_TRIES = 100

# Weight scales (see module docstring). A Linear weight is
# gain * randn / sqrt(fan_in); the gain is 1 except for the MLP output
# projection (down_proj / fc2), whose gain is set per fixture: with a small
# gain the input token's own embedding dominates the residual stream and a
# tied lm_head then repeats the input token at every greedy step.
EMBED_STD = 0.25  # token/position embeddings and lm_head (8 * 0.25 = logit std ~2)
NORM_WEIGHT_STD = 0.1  # norm weight = 1 + 0.1 * randn (Gemma stores w, used as 1 + w)
BIAS_STD = 0.1
MLP_OUTS = ("down_proj", "fc2")
MIN_DISTINCT_TOKENS = 5  # of the greedy tokens, so the decode test is not one repeated token

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def common(**kw):
    base = dict(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        max_position_embeddings=MAX_POS,
    )
    base.update(kw)
    return base


def llama3_config():
    return LlamaConfig(
        **common(
            intermediate_size=INTERMEDIATE,
            num_key_value_heads=2,
            rms_norm_eps=1e-5,
            tie_word_embeddings=False,
            rope_parameters={
                "rope_type": "llama3",
                "rope_theta": 500000.0,
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            },
        )
    )


def llama2_config():
    return LlamaConfig(
        **common(
            intermediate_size=INTERMEDIATE,
            num_key_value_heads=4,
            rms_norm_eps=1e-6,
            tie_word_embeddings=True,
            rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0},
        )
    )


def mistral_config():
    return MistralConfig(
        **common(intermediate_size=INTERMEDIATE, num_key_value_heads=2, sliding_window=5)
    )


def gemma_config():
    # Real Gemma checkpoints carry `hidden_activation`; this transformers version
    # reads `hidden_act`. Both are given (same value) so config.json has both.
    return GemmaConfig(
        **common(
            intermediate_size=INTERMEDIATE,
            num_key_value_heads=1,
            head_dim=16,
            hidden_act="gelu_pytorch_tanh",
            hidden_activation="gelu_pytorch_tanh",
        )
    )


def opt_config():
    return OPTConfig(
        **common(
            ffn_dim=INTERMEDIATE,
            do_layer_norm_before=True,
            word_embed_proj_dim=HIDDEN,
            activation_function="relu",
            enable_bias=True,
        )
    )


def opt350_config():
    return OPTConfig(
        **common(
            ffn_dim=INTERMEDIATE,
            do_layer_norm_before=False,
            word_embed_proj_dim=32,
            activation_function="relu",
            enable_bias=True,
        )
    )


def no_window(cfg):
    cfg.sliding_window = None
    return cfg


def default_rope(cfg):
    cfg.rope_parameters = {"rope_type": "default", "rope_theta": cfg.rope_parameters["rope_theta"]}
    return cfg


class Spec:
    def __init__(self, family, cls, config, mlp_gain, sharded=False, variant=None):
        self.family = family
        self.cls = cls
        self.config = config  # factory
        self.mlp_gain = mlp_gain
        self.sharded = sharded  # f32 saved in 2-3 shards
        self.variant = variant  # (label, config edit) that must change the logits


FIXTURES = {
    "llama3": Spec("llama", LlamaForCausalLM, llama3_config, 8.0, sharded=True,
                   variant=("rope_type default", default_rope)),
    "llama2": Spec("llama", LlamaForCausalLM, llama2_config, 8.0, variant=("rope_type default", default_rope)),
    "mistral": Spec("mistral", MistralForCausalLM, mistral_config, 8.0, variant=("no sliding window", no_window)),
    # Gemma multiplies the embeddings by sqrt(hidden) = 8: a larger MLP gain.
    "gemma": Spec("gemma", GemmaForCausalLM, gemma_config, 16.0),
    "opt": Spec("opt", OPTForCausalLM, opt_config, 8.0),
    # Post-LayerNorm: the residual is renormalised after each block, gain 1 is enough.
    "opt350": Spec("opt", OPTForCausalLM, opt350_config, 1.0),
}


def prompt_ids():
    g = torch.Generator().manual_seed(PROMPT_SEED)
    return torch.randint(3, VOCAB, (PROMPT_LEN,), generator=g, dtype=torch.int64)


def randomize(model, seed, mlp_gain):
    """Sets every parameter from a seeded generator, in sorted name order."""
    g = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())  # tied weights appear once
    with torch.no_grad():
        for name in sorted(params):
            p = params[name]
            owner = model.get_submodule(name.rsplit(".", 1)[0])
            kind = type(owner).__name__
            leaf = name.rsplit(".", 1)[1]
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if "RMSNorm" in kind:
                # Gemma's RMSNorm multiplies by (1 + w) and initialises w to 0.
                offset = 0.0 if kind.startswith("Gemma") else 1.0
                p.copy_(offset + NORM_WEIGHT_STD * noise)
            elif isinstance(owner, torch.nn.LayerNorm):
                p.copy_((1.0 if leaf == "weight" else 0.0) + NORM_WEIGHT_STD * noise)
            elif isinstance(owner, torch.nn.Embedding):
                p.copy_(EMBED_STD * noise)
            elif isinstance(owner, torch.nn.Linear) and leaf == "bias":
                p.copy_(BIAS_STD * noise)
            elif isinstance(owner, torch.nn.Linear) and name == "lm_head.weight":
                p.copy_(EMBED_STD * noise)
            elif isinstance(owner, torch.nn.Linear):
                gain = mlp_gain if name.split(".")[-2] in MLP_OUTS else 1.0
                p.copy_(gain * noise / math.sqrt(p.shape[1]))
            else:
                raise RuntimeError(f"no init rule for {name} ({kind})")


def load(path, dtype, config=None):
    kw = {"config": config} if config is not None else {}
    m = transformers.AutoModelForCausalLM.from_pretrained(
        path, dtype=dtype, attn_implementation="eager", **kw
    )
    m.eval()
    assert m.dtype == dtype, (m.dtype, dtype)
    return m


@torch.no_grad()
def run(model, ids):
    """Prefill + greedy decode with the model's default cache, no attention mask."""
    out = model(input_ids=ids[None, :], use_cache=True)
    prefill = out.logits[0].float()
    cache = out.cache
    tokens = [int(prefill[-1].argmax())]
    gaps = [top2_gap(prefill[-1])]
    decode = []
    for _ in range(DECODE_STEPS):
        step = torch.tensor([[tokens[-1]]], dtype=torch.int64)
        out = model(input_ids=step, cache=cache, use_cache=True)
        cache = out.cache
        logits = out.logits[0, -1].float()
        decode.append(logits)
        tokens.append(int(logits.argmax()))
        gaps.append(top2_gap(logits))
    return {
        "prompt_ids": ids.clone(),
        "prefill_logits": prefill.contiguous(),
        "tokens": torch.tensor(tokens, dtype=torch.int64),
        "decode_logits": torch.stack(decode).contiguous(),
    }, min(gaps)


def top2_gap(logits):
    top = torch.topk(logits.float(), 2).values
    return float(top[0] - top[1])


@torch.no_grad()
def check_cache_consistency(model, exp):
    """The cached decode must equal one uncached forward over prompt + tokens[:-1]."""
    seq = torch.cat([exp["prompt_ids"], exp["tokens"][:-1]])
    full = model(input_ids=seq[None, :], use_cache=False).logits[0].float()
    p = PROMPT_LEN
    d1 = (full[:p] - exp["prefill_logits"]).abs().max().item()
    d2 = (full[p:] - exp["decode_logits"]).abs().max().item()
    assert max(d1, d2) < 1e-4, f"cache vs full forward differ: {d1} {d2}"
    return max(d1, d2)


def save_model(model, path, sharded):
    if sharded:
        total = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        # ~40 % of the f32 size: 3 shards (one layer per shard plus embeddings).
        model.save_pretrained(path, max_shard_size=int(total * 0.4))
        n = len(list(path.glob("model-*.safetensors")))
        assert 2 <= n <= 3 and (path / "model.safetensors.index.json").exists(), n
    else:
        model.save_pretrained(path)
        assert (path / "model.safetensors").exists()


def write_expected(path, exp, info):
    save_file(exp, str(path / "expected.safetensors"))
    (path / "fixture.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def try_seed(name, spec, seed, root, ids):
    """Writes all dtypes of one candidate; returns (results, reason to reject or None)."""
    if root.exists():
        shutil.rmtree(root)
    torch.manual_seed(seed)
    model = spec.cls(spec.config())
    randomize(model, seed, spec.mlp_gain)
    model.eval()
    results = {}
    for dname, dtype in DTYPES.items():
        d = root / dname
        if dname == "f32":
            save_model(model, d, spec.sharded)
        else:
            save_model(copy.deepcopy(model).to(dtype), d, sharded=False)
        results[dname] = run(load(d, dtype), ids)
        exp, gap = results[dname]
        if dname == "f32":
            distinct = len(set(exp["tokens"].tolist()))
            if gap < MIN_GAP:
                return results, f"f32 min top-2 gap {gap:.3g} < {MIN_GAP}"
            if distinct < MIN_DISTINCT_TOKENS:
                return results, f"only {distinct} distinct greedy tokens"
        elif not torch.equal(exp["tokens"], results["f32"][0]["tokens"]) or gap < MIN_GAP:
            return results, f"{dname} greedy differs from f32 or has a near-tie ({gap:.3g})"
    return results, None


def make_fixture(name, out_root):
    spec = FIXTURES[name]
    ids = prompt_ids()
    root = out_root / name
    for seed in range(MAX_SEED_TRIES):
        results, reason = try_seed(name, spec, seed, root, ids)
        if reason is None:
            break
        print(f"  {name}: seed {seed} rejected: {reason}")
    else:
        raise RuntimeError(f"{name}: no acceptable seed in {MAX_SEED_TRIES}")

    exp32, gap32 = results["f32"]
    f32_dir = root / "f32"
    m32 = load(f32_dir, torch.float32)
    cache_diff = check_cache_consistency(m32, exp32)
    spread = exp32["prefill_logits"].std(dim=-1).mean().item()
    print(
        f"{name}: seed {seed}, f32 min top-2 gap {gap32:.4f}, mean logit std {spread:.2f}, "
        f"cached decode vs full forward max diff {cache_diff:.1e}"
    )
    if spec.variant is not None:
        label, change = spec.variant
        other = load(f32_dir, torch.float32, config=change(copy.deepcopy(m32.config)))
        with torch.no_grad():
            alt = other(input_ids=ids[None, :]).logits[0].float()
        diff = (alt - exp32["prefill_logits"]).abs().max().item()
        assert diff > 1e-2, f"{name}: '{label}' does not change the logits ({diff})"
        print(f"  max prefill logit change with {label}: {diff:.3f}")
    print(f"  tokens: {exp32['tokens'].tolist()}")

    for dname in DTYPES:
        exp, gap = results[dname]
        info = {
            "fixture": name,
            "family": spec.family,
            "architecture": spec.cls.__name__,
            "dtype": dname,
            "seed": seed,
            "min_top2_gap": round(gap, 6),
            "min_top2_gap_f32": round(gap32, 6),
            "prompt_len": PROMPT_LEN,
            "decode_steps": DECODE_STEPS,
            "attn_implementation": "eager",
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        }
        write_expected(root / dname, exp, info)
        if dname != "f32":
            dl = max(
                (exp["prefill_logits"] - exp32["prefill_logits"]).abs().max().item(),
                (exp["decode_logits"] - exp32["decode_logits"]).abs().max().item(),
            )
            print(f"  {dname}: min top-2 gap {gap:.4f}, max |logit - f32 logit| {dl:.3f}")


def generate(out_root, names):
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    out_root.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    print(f"prompt ids: {prompt_ids().tolist()}")
    for name in names:
        make_fixture(name, out_root)


def tree_size(root):
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def compare_trees(a, b):
    fa = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    fb = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    bad = [str(p) for p in sorted(set(fa) ^ set(fb))]
    bad += [str(p) for p in fa if p in set(fb) and not filecmp.cmp(a / p, b / p, shallow=False)]
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output root (default: %(default)s)")
    ap.add_argument("--only", nargs="*", choices=sorted(FIXTURES), help="generate only these fixtures")
    ap.add_argument("--check", action="store_true", help="regenerate in a temp dir and compare with --out")
    args = ap.parse_args()
    names = args.only or list(FIXTURES)

    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp), names)
            bad = []
            for n in names:
                bad += [f"{n}/{p}" for p in compare_trees(Path(tmp) / n, args.out / n)]
        if bad:
            print("DIFFERENT:\n  " + "\n  ".join(bad))
            return 1
        print(f"check: {len(names)} fixtures byte-identical to {args.out}")
        return 0

    generate(args.out, names)
    print(f"total size of {args.out}: {tree_size(args.out)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
