#!/usr/bin/env python3
"""A Llama-family Hugging Face checkpoint (config.json, model.safetensors,
tokenizer.json; e.g. write-random-checkpoint's Llama-3.2-1B shape) as an
F16 GGUF laid out the way llama.cpp's convert_hf_to_gguf.py writes one,
then quantized by llama.cpp's own quantizer (llama_model_quantize through
llama-cpp-python). Run it with the python of the llama.cpp venv, which
needs the `gguf` package (pip install gguf).

  ~/.cache/kiln-llamacpp/bin/python tools/bench/make_gguf_1b.py \
      --hf ~/.cache/kiln-bench/models/llama-3.2-1b-f16 --out-dir ~/.cache/kiln-bench/gguf \
      [--name llama-3.2-1b] [--quantize Q4_0,Q8_0] [--threads 2]

writes NAME.F16.gguf, NAME.Q4_0.gguf, NAME.Q8_0.gguf; a file that exists
is kept (--force replaces it).

What the converter does and this script repeats:
- q_proj and k_proj rows are interleaved per head (llama.cpp rotates
  adjacent pairs; Hugging Face rotates the two halves of a head):
  row h*d + 2i + j of the GGUF is row h*d + j*d/2 + i of the checkpoint.
- 2-D weights are F16, 1-D (the norms) F32; general.file_type is MOSTLY_F16.
- Llama-3 rope scaling becomes a rope_freqs.weight tensor (per-pair
  frequency divisors). Kiln's GGUF import refuses that tensor, so the
  benchmark uses a checkpoint without rope scaling.
- A byte-level tokenizer.json ("gpt2" model, no merges) becomes
  tokenizer.ggml.*: tokens by id, type 1 (normal) and 3 (control) for BOS
  and EOS, pre "default", add_bos_token only if tokenizer.json's
  post-processor adds BOS (write-random-checkpoint's does not). llama.cpp and the gguf writer need at least one
  merge; the one written joins the two padding tokens <r256> and <r257>
  into the last id, which no byte-level text can reach.
"""
import argparse
import ctypes
import json
import math
import os
import struct
import sys

import numpy as np

SAFETENSORS_DTYPES = {"F16": np.float16, "F32": np.float32, "BF16": np.uint16}

# Hugging Face tensor names (after model.layers.N.) -> llama.cpp's (after blk.N.).
LAYER_TENSORS = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
GLOBAL_TENSORS = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3


def read_safetensors(path):
    """{name: array} over a memory map; bf16 widened to f32."""
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len)
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in SAFETENSORS_DTYPES:
            sys.exit(f"{path}: tensor {name} is {info['dtype']}; this script reads F16, BF16 and F32")
        begin, end = info["data_offsets"]
        a = data[begin:end].view(SAFETENSORS_DTYPES[info["dtype"]]).reshape(info["shape"])
        if info["dtype"] == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = a
    return tensors


def gguf_name(hf_name):
    if hf_name in GLOBAL_TENSORS:
        return GLOBAL_TENSORS[hf_name]
    parts = hf_name.split(".")
    if parts[:2] != ["model", "layers"] or parts[-1] not in ("weight", "bias"):
        return None
    base = ".".join(parts[3:-1])
    return f"blk.{parts[2]}.{LAYER_TENSORS[base]}.{parts[-1]}" if base in LAYER_TENSORS else None


def interleave_rotary_rows(w, heads):
    """convert_hf_to_gguf.py's LlamaModel.permute: each head's rows
    [x_0..x_{d/2-1}, y_0..y_{d/2-1}] become [x_0, y_0, x_1, y_1, ...]."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_factors(config, head_dim):
    """The converter's rope_freqs tensor for rope_type llama3."""
    s = config["rope_scaling"]
    base = config.get("rope_theta", 10000.0)
    factor, low, high = s.get("factor", 8.0), s.get("low_freq_factor", 1.0), s.get("high_freq_factor", 4.0)
    old_len = s.get("original_max_position_embeddings", 8192)
    factors = []
    for i in range(0, head_dim, 2):
        wavelen = 2 * math.pi * base ** (i / head_dim)
        if wavelen < old_len / high:
            factors.append(1.0)
        elif wavelen > old_len / low:
            factors.append(factor)
        else:
            smooth = (old_len / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def template_token_ids(node):
    """Every id a tokenizer.json post-processor inserts (TemplateProcessing's
    special_tokens[*].ids, also inside a Sequence)."""
    if isinstance(node, list):
        return {i for item in node for i in template_token_ids(item)}
    if not isinstance(node, dict):
        return set()
    ids = set(node["ids"]) if isinstance(node.get("ids"), list) else set()
    return ids | {i for value in node.values() for i in template_token_ids(value)}


def add_tokenizer(writer, tokenizer_path, config):
    with open(tokenizer_path, encoding="utf-8") as f:
        tok = json.load(f)
    model = tok["model"]
    if model.get("type") != "BPE" or model.get("merges"):
        sys.exit(f"{tokenizer_path}: expected a byte-level BPE vocabulary without merges")
    vocab = model["vocab"]
    n = config["vocab_size"]
    tokens = [None] * n
    for text, i in vocab.items():
        if i < n:
            tokens[i] = text
    for t in tok.get("added_tokens", []):
        if t["id"] < n:
            tokens[t["id"]] = t["content"]
    missing = [i for i, t in enumerate(tokens) if t is None]
    if missing:
        sys.exit(f"{tokenizer_path}: no token for ids {missing[:5]}... of {n}")
    types = [TOKEN_NORMAL] * n
    special = {config.get("bos_token_id"), config.get("eos_token_id")} - {None}
    for i in special:
        types[i] = TOKEN_CONTROL
    # One merge no text can reach (the writer refuses an empty array).
    if "<r256>" not in vocab or "<r257>" not in vocab:
        sys.exit(f"{tokenizer_path}: expected padding tokens <r256>, <r257> (write-random-checkpoint's)")
    tokens[n - 1] = "<r256><r257>"
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(["<r256> <r257>"])
    if "bos_token_id" in config:
        writer.add_bos_token_id(config["bos_token_id"])
    # BOS only where tokenizer.json's post-processor puts it, so that Kiln
    # encodes a prompt to the same ids from either file.
    bos = config.get("bos_token_id")
    writer.add_add_bos_token(bos is not None and bos in template_token_ids(tok.get("post_processor")))
    if "eos_token_id" in config:
        eos = config["eos_token_id"]
        writer.add_eos_token_id(eos[0] if isinstance(eos, list) else eos)


def write_f16(hf_dir, out_path, name):
    import gguf

    with open(os.path.join(hf_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    if config.get("model_type") != "llama":
        sys.exit(f"{hf_dir}: model_type {config.get('model_type')!r}; this script writes llama")
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    hidden = config["hidden_size"]
    head_dim = config.get("head_dim", hidden // heads)

    w = gguf.GGUFWriter(out_path, "llama")
    w.add_name(name)
    w.add_vocab_size(config["vocab_size"])
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(hidden)
    w.add_block_count(config["num_hidden_layers"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(config.get("rope_theta", 10000.0))
    w.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-6))
    if head_dim != hidden // heads:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    add_tokenizer(w, os.path.join(hf_dir, "tokenizer.json"), config)

    scaling = config.get("rope_scaling") or {}
    if scaling.get("rope_type", scaling.get("type")) == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(config, head_dim))
    elif scaling:
        sys.exit(f"{hf_dir}: rope_scaling {scaling} is not written by this script")

    tensors = read_safetensors(os.path.join(hf_dir, "model.safetensors"))
    for hf_name, a in tensors.items():
        g = gguf_name(hf_name)
        if g is None:
            sys.exit(f"{hf_dir}: tensor {hf_name} has no llama.cpp name")
        if hf_name.endswith("self_attn.q_proj.weight"):
            a = interleave_rotary_rows(np.asarray(a), heads)
        elif hf_name.endswith("self_attn.k_proj.weight"):
            a = interleave_rotary_rows(np.asarray(a), kv_heads)
        dtype = np.float32 if a.ndim <= 1 or g.endswith("_norm.weight") else np.float16
        w.add_tensor(g, np.ascontiguousarray(a, dtype=dtype))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def quantize(src, dst, ftype_name, threads):
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype_name}")
    params.nthread = threads
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
    if rc != 0:
        sys.exit(f"llama_model_quantize {src} -> {dst} ({ftype_name}) returned {rc}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hf", required=True, help="checkpoint directory")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--name", default="llama-3.2-1b")
    p.add_argument("--quantize", default="Q4_0,Q8_0", help="llama.cpp file types, comma separated")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--force", action="store_true")
    args = p.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)

    def fresh(path):
        return args.force or not os.path.exists(path)

    f16 = os.path.join(args.out_dir, f"{args.name}.F16.gguf")
    if fresh(f16):
        write_f16(args.hf, f16 + ".partial", args.name)
        os.replace(f16 + ".partial", f16)
    print(f"make_gguf: {f16}: {os.path.getsize(f16) / 2**30:.2f} GiB")
    for ftype in filter(None, args.quantize.split(",")):
        out = os.path.join(args.out_dir, f"{args.name}.{ftype}.gguf")
        if fresh(out):
            quantize(f16, out + ".partial", ftype, args.threads)
            os.replace(out + ".partial", out)
        print(f"make_gguf: {out}: {os.path.getsize(out) / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
