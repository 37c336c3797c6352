#!/usr/bin/env python3
"""Writes tests/fixtures/models/gguf_llama/: a tiny Llama GGUF with every tensor
type Kiln imports, and what Hugging Face Transformers makes of it.

  model.gguf           the llama3 fixture's f32 weights (GQA: 4 query heads,
                       2 KV heads, head_dim 16) converted the way llama.cpp's
                       convert_hf_to_gguf.py does for Llama: q_proj/k_proj rows
                       interleaved per head, names blk.N.*, and each matrix
                       quantised (with the `gguf` package's numpy quantisers)
                       to a different one of Q8_0, Q4_0, Q4_1, F16, BF16; norms
                       F32. Plain rope (theta 500000; the llama3 frequency
                       scaling is not representable without a rope_freqs
                       tensor, so this model has none), a 256-token byte-level
                       BPE vocabulary so the file is a complete model.
  expected.safetensors Transformers' view of model.gguf, loaded with
                       from_pretrained(dir, gguf_file="model.gguf") (which
                       dequantises with the `gguf` package and undoes the
                       q/k interleave in its own code):
                         weights.<hf name>  f32  every tensor, dequantised
                         prompt_ids, prefill_logits, tokens, decode_logits
                                           as in make_fixtures.py (12-token
                                           prompt, 8 greedy decode steps,
                                           eager attention, f32, CPU)

Usage (venv from tools/reference/setup_venv.sh, plus `pip install gguf`):
  python tools/reference/make_gguf_fixture.py
"""

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gguf  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "tests/fixtures/models/llama3/f32"
OUT = ROOT / "tests/fixtures/models/gguf_llama"
Q = gguf.GGMLQuantizationType
# Each layer's matrices get a different type, so every type meets every
# kind of matrix across the two layers.
LAYER_TYPES = [
    {"attn_q": Q.Q4_0, "attn_k": Q.Q4_1, "attn_v": Q.F16, "attn_output": Q.BF16,
     "ffn_gate": Q.Q8_0, "ffn_up": Q.Q4_1, "ffn_down": Q.Q4_0},
    {"attn_q": Q.Q8_0, "attn_k": Q.Q4_0, "attn_v": Q.Q4_1, "attn_output": Q.F16,
     "ffn_gate": Q.BF16, "ffn_up": Q.Q4_0, "ffn_down": Q.Q8_0},
]
HF_OF = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
         "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
         "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
         "ffn_norm": "post_attention_layernorm"}
PROMPT = [5, 17, 200, 3, 99, 42, 7, 128, 64, 250, 11, 33]
DECODE_STEPS = 8


def interleave_rotary_rows(w, heads):
    """llama.cpp's Llama q/k permutation: per head, rows [first half, second
    half] become pairs (first[i], second[i]) next to each other."""
    rows = w.shape[0]
    return (w.reshape(heads, 2, rows // heads // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def load_llama3():
    weights = {}
    for shard in sorted(SRC.glob("model-*.safetensors")):
        weights.update(load_file(shard))
    return weights, json.loads((SRC / "config.json").read_text())


def add_vocab(writer, vocab):
    # Byte-level BPE over the 256 GPT-2 byte characters, no merges: ids are
    # bytes, so any prompt id in [0, 256) decodes.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_char = dict(zip(bs, map(chr, cs)))
    tokens = [byte_char[b] for b in range(vocab)]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * vocab)
    writer.add_token_merges([])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)


def write_gguf(path, weights, cfg):
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_dimension_count(cfg["head_dim"])
    w.add_rope_freq_base(cfg["rope_parameters"]["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_vocab_size(cfg["vocab_size"])
    add_vocab(w, cfg["vocab_size"])

    def add(name, array, qtype):
        data = gguf.quants.quantize(array.astype(np.float32), qtype)
        w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=qtype)

    add("token_embd.weight", weights["model.embed_tokens.weight"], Q.Q8_0)
    add("output_norm.weight", weights["model.norm.weight"], Q.F32)
    add("output.weight", weights["lm_head.weight"], Q.Q4_1)
    for layer in range(cfg["num_hidden_layers"]):
        prefix = f"model.layers.{layer}."
        for gg in ("attn_norm", "ffn_norm"):
            add(f"blk.{layer}.{gg}.weight", weights[prefix + HF_OF[gg] + ".weight"], Q.F32)
        for gg, qtype in LAYER_TYPES[layer].items():
            t = weights[prefix + HF_OF[gg] + ".weight"]
            if gg == "attn_q":
                t = interleave_rotary_rows(t, heads)
            elif gg == "attn_k":
                t = interleave_rotary_rows(t, kv_heads)
            add(f"blk.{layer}.{gg}.weight", t, qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def expected_outputs(model):
    ids = torch.tensor([PROMPT])
    with torch.no_grad():
        out = model(ids, use_cache=True)
        prefill = out.logits[0].float()
        cache = out.past_key_values
        tokens = [int(prefill[-1].argmax())]
        decode = []
        for step in range(DECODE_STEPS):
            pos = torch.tensor([[len(PROMPT) + step]])
            out = model(torch.tensor([[tokens[-1]]]), past_key_values=cache, position_ids=pos,
                        cache_position=pos[0], use_cache=True)
            cache = out.past_key_values
            decode.append(out.logits[0, -1].float())
            tokens.append(int(decode[-1].argmax()))
    return {"prompt_ids": torch.tensor(PROMPT, dtype=torch.int64),
            "prefill_logits": prefill.contiguous(),
            "tokens": torch.tensor(tokens, dtype=torch.int64),
            "decode_logits": torch.stack(decode).contiguous()}


def main():
    weights, cfg = load_llama3()
    OUT.mkdir(parents=True, exist_ok=True)
    write_gguf(OUT / "model.gguf", weights, cfg)
    model = AutoModelForCausalLM.from_pretrained(OUT, gguf_file="model.gguf", dtype=torch.float32,
                                                 attn_implementation="eager")
    model.eval()
    tensors = expected_outputs(model)
    for name, t in model.state_dict().items():
        tensors["weights." + name] = t.float().contiguous()
    save_file(tensors, str(OUT / "expected.safetensors"))
    print("greedy tokens:", tensors["tokens"].tolist())
    print("config:", model.config.to_dict().get("rope_parameters"), model.config.num_key_value_heads)


if __name__ == "__main__":
    main()
