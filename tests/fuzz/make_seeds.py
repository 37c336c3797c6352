#!/usr/bin/env python3
"""Regenerates the seed corpora in tests/fuzz/corpus/ from the fixtures.

    tests/fuzz/make_seeds.py            # from the repository root

Seeds named ok_* must be accepted by their parser (replay_test checks);
the others are malformed on purpose, to start the fuzzer near error paths.
IR seeds print fixture models with bazel-bin/tools/run-reference, and the
launch_plans and kernel_index seeds come from engines that
bazel-bin/tools/compile-model compiles from fixtures (both built here if
missing; compiling for sm_90 needs no GPU). Keep each corpus small: a few KB to 100 KB.
"""
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests/fixtures/models")
CORPUS = os.path.join(ROOT, "tests/fuzz/corpus")
FAMILIES = ["llama3", "llama2", "mistral", "gemma", "opt", "opt350"]
ITEM_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I8": 1}


def write(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def safetensors(header, data=b"", pad=True):
    """A safetensors file; the header padded with spaces to 8-byte alignment
    as the reference writer does."""
    text = header if isinstance(header, bytes) else header.encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def read_header(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n])


def shrunk(path):
    """The real header of `path` with every dim set to 1 (ranks, names,
    dtypes, order and metadata kept) and the data to match."""
    header = read_header(path)
    out, offset = {}, 0
    for name, entry in header.items():
        if name == "__metadata__":
            out[name] = entry
            continue
        size = ITEM_SIZE[entry["dtype"]]
        out[name] = {"dtype": entry["dtype"], "shape": [1] * len(entry["shape"]),
                     "data_offsets": [offset, offset + size]}
        offset += size
    return safetensors(json.dumps(out, separators=(",", ":")),
                       bytes(i % 251 for i in range(offset)))


def safetensors_seeds():
    t = "safetensors"
    shutil.copyfile(os.path.join(FIXTURES, "llama3/f32/expected.safetensors"),
                os.path.join(CORPUS, t, "ok_fixture_expected_llama3.safetensors"))
    write(t, "ok_shrunk_gemma_bf16.safetensors",
          shrunk(os.path.join(FIXTURES, "gemma/bf16/model.safetensors")))
    write(t, "ok_shrunk_opt_f16.safetensors",
          shrunk(os.path.join(FIXTURES, "opt/f16/model.safetensors")))
    write(t, "ok_shrunk_llama3_shard1.safetensors",
          shrunk(os.path.join(FIXTURES, "llama3/f32/model-00001-of-00003.safetensors")))
    write(t, "ok_empty.safetensors", safetensors("{}", pad=False))
    write(t, "ok_metadata_only.safetensors", safetensors('{"__metadata__":{"format":"pt"}}'))
    write(t, "ok_whitespace_padded.safetensors", safetensors(" \n\t{}\r\n  ", pad=False))
    # Every dtype at an odd offset, a scalar and zero-sized tensors.
    entries = [("i8", "I8", [3]), ("f16", "F16", [2]), ("bf16", "BF16", [2, 1]),
               ("f32", "F32", [1, 2]), ("i32", "I32", []), ("i64", "I64", [2]),
               ("z0", "F32", [0]), ("z1", "BF16", [3, 0, 2])]
    header, offset = {}, 0
    for name, dtype, shape in entries:
        count = 1
        for d in shape:
            count *= d
        size = count * ITEM_SIZE[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    write(t, "ok_all_dtypes.safetensors",
          safetensors(json.dumps(header), bytes(i % 251 for i in range(offset))))
    # Malformed: each fails a different check.
    write(t, "short.safetensors", b"\x02\x00\x00")
    write(t, "header_past_end.safetensors", struct.pack("<Q", 1000) + b"{}")
    write(t, "not_utf8.safetensors", safetensors(b'{"a\xff":1}', pad=False))
    write(t, "overlap.safetensors", safetensors(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
        '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', bytes(12)))
    write(t, "shape_overflow.safetensors", safetensors(
        '{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}'))


def checkpoint_index_seeds():
    t = "checkpoint_index"
    shutil.copyfile(os.path.join(FIXTURES, "llama3/f32/model.safetensors.index.json"),
                os.path.join(CORPUS, t, "fixture_llama3.index.json"))
    s1, s2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    write(t, "ok_two_shards.index.json", json.dumps(
        {"metadata": {"total_size": 12}, "weight_map": {"a": s1, "b": s1, "c": s2}}, indent=2))
    write(t, "ok_partial_listing.index.json", json.dumps({"weight_map": {"a": s1}}))
    write(t, "traversal.index.json", json.dumps({"weight_map": {"a": "../" + s1}}))
    write(t, "wrong_shard.index.json", json.dumps({"weight_map": {"a": s2}}))
    write(t, "duplicate_key.index.json", '{"weight_map": {"a": "%s", "a": "%s"}}' % (s1, s2))


def config_seeds():
    t = "config"
    for family in FAMILIES:
        shutil.copyfile(os.path.join(FIXTURES, family, "f32/config.json"),
                    os.path.join(CORPUS, t, "ok_fixture_%s.json" % family))
    with open(os.path.join(FIXTURES, "llama3/f32/config.json")) as f:
        config = json.load(f)
    rope = config.pop("rope_parameters")
    config["rope_theta"] = rope.pop("rope_theta")
    config["rope_scaling"] = rope
    write(t, "ok_llama3_legacy_rope.json", json.dumps(config, indent=2))
    with open(os.path.join(FIXTURES, "mistral/f32/config.json")) as f:
        config = json.load(f)
    del config["architectures"]
    write(t, "ok_mistral_model_type_only.json", json.dumps(config, indent=2))
    write(t, "nan.json", '{"model_type": "llama", "rope_theta": NaN}')


def ir_text_seeds():
    t = "ir_text"
    with open(os.path.join(ROOT, "tests/ir/text_test.cc")) as f:
        source = f.read()
    every_op = re.search(r'kEveryOp\[\] = R"\((.*?)\)";', source, re.S).group(1)
    write(t, "ok_every_op.ir", every_op)
    write(t, "ok_comments.ir", "// leading comment\nmodule   @m{func @f(%x:f32[2]){%y=relu(%x)"
          ":f32[2] // tail\nreturn %y}}")
    tool = os.path.join(ROOT, "bazel-bin/tools/run-reference")
    if not os.path.exists(tool):
        subprocess.run(["bazel", "build", "//tools:run-reference"], cwd=ROOT, check=True)
    for family, dtype in [("llama3", "f32"), ("gemma", "bf16"), ("opt350", "f16"),
                          ("mistral", "f32")]:
        text = subprocess.run([tool, "--model", os.path.join(FIXTURES, family, dtype),
                               "--dtype", dtype, "--print_ir"],
                              cwd=ROOT, check=True, capture_output=True).stdout
        write(t, "ok_fixture_%s_%s.ir" % (family, dtype), text)
    write(t, "undefined_value.ir",
          "module @m { func @f(%x: f32[2]) { %y = relu(%z) : f32[2] return %y } }")


# GGUF metadata value types with a fixed size, as struct formats.
GGUF_FIXED = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
              10: "<Q", 11: "<q", 12: "<d"}
GGUF_STRING, GGUF_ARRAY = 8, 9


def gguf_read_metadata(path):
    """(version, [(key, type, value)]) of a GGUF file; an array value is
    (element type, [elements])."""
    with open(path, "rb") as f:
        raw = f.read()
    pos = 4

    def take(fmt):
        nonlocal pos
        (v,) = struct.unpack_from(fmt, raw, pos)
        pos += struct.calcsize(fmt)
        return v

    def string():
        nonlocal pos
        n = take("<Q")
        pos += n
        return raw[pos - n : pos]

    def value(t):
        if t == GGUF_STRING:
            return string()
        if t == GGUF_ARRAY:
            et, n = take("<I"), take("<Q")
            return (et, [value(et) for _ in range(n)])
        return take(GGUF_FIXED[t])

    version, _, n_kv = take("<I"), take("<Q"), take("<Q")
    kvs = []
    for _ in range(n_kv):
        key = string()
        t = take("<I")
        kvs.append((key, t, value(t)))
    return version, kvs


def gguf_value(t, v):
    if t == GGUF_STRING:
        return struct.pack("<Q", len(v)) + v
    if t == GGUF_ARRAY:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gguf_value(et, x) for x in items)
    return struct.pack(GGUF_FIXED[t], v)


def gguf_file(version, kvs, tensors=(), alignment=32):
    """A GGUF file; tensors are (name, ggml type, ne, bytes), each placed at
    the next multiple of `alignment` in the data section."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, t, v in kvs:
        out += gguf_value(GGUF_STRING, key) + struct.pack("<I", t) + gguf_value(t, v)
    data = b""
    for name, ggml_type, ne, payload in tensors:
        data += bytes(-len(data) % alignment)
        out += gguf_value(GGUF_STRING, name.encode()) + struct.pack("<I", len(ne))
        out += b"".join(struct.pack("<Q", d) for d in ne) + struct.pack("<IQ", ggml_type, len(data))
        data += payload
    if tensors:
        out += bytes(-len(out) % alignment) + data
    return out


def shrunk_gguf_vocab(kvs, keep=300):
    """A GGUF vocabulary cut to its first `keep` tokens: the per-token arrays
    cut, the merges among the kept tokens, special ids past the cut dropped."""
    tokens = next(v[1] for k, ty, v in kvs if k == b"tokenizer.ggml.tokens")[:keep]
    kept = set(tokens)
    out = []
    for k, ty, v in kvs:
        if k in (b"tokenizer.ggml.tokens", b"tokenizer.ggml.scores", b"tokenizer.ggml.token_type"):
            v = (v[0], v[1][:keep])
        elif k == b"tokenizer.ggml.merges":
            merges = []
            for m in v[1]:
                a, _, b = m.partition(b" ")
                if a in kept and b in kept and a + b in kept:
                    merges.append(m)
            v = (v[0], merges)
        elif k.endswith(b"_token_id") and v >= keep:
            continue
        out.append((k, ty, v))
    return out


def gguf_seeds():
    t = "gguf"
    vocab_dir = os.path.join(ROOT, "third_party/references/llama_cpp_vocab")
    for name in ["llama-spm", "gpt-2", "aquila"]:  # SentencePiece, BPE with merges, GGUF v2
        path = os.path.join(vocab_dir, "ggml-vocab-%s.gguf" % name)
        if not os.path.exists(path):
            print("make_seeds: %s missing (run tools/fetch_references.sh); seed skipped" % path)
            continue
        version, kvs = gguf_read_metadata(path)
        # Every array cut to its first 48 elements: the real keys and types,
        # a few KB instead of MBs.
        kvs = [(k, ty, (v[0], v[1][:48]) if ty == GGUF_ARRAY else v) for k, ty, v in kvs]
        write(t, "ok_shrunk_vocab_%s.gguf" % name, gguf_file(version, kvs))
        write("gguf_tokenizer", "ok_shrunk_vocab_%s.gguf" % name,
              gguf_file(version, shrunk_gguf_vocab(gguf_read_metadata(path)[1])))
    kvs = [(b"general.architecture", GGUF_STRING, b"llama"),
           (b"general.alignment", 4, 64),
           (b"llama.block_count", 4, 2),
           (b"llama.rope.freq_base", 6, 10000.0),
           (b"general.flag", 7, True),
           (b"general.big", 11, -(2 ** 40)),
           (b"general.ratio", 12, 0.5),
           (b"general.ints", GGUF_ARRAY, (5, [1, -2, 3])),
           (b"general.names", GGUF_ARRAY, (GGUF_STRING, [b"a", b"", b"\xc3\xa9"]))]
    q8_0 = (struct.pack("<e", 0.5) + bytes(range(32))) * 2  # Two Q8_0 blocks.
    tensors = [("token_embd.weight", 0, [4, 2], struct.pack("<8f", *range(8))),
               ("output_norm.weight", 1, [8], struct.pack("<8e", *range(8))),
               ("blk.0.attn_q.weight", 8, [64], q8_0),
               ("scalar", 0, [], struct.pack("<f", 1.0)),
               ("empty", 0, [0, 3], b"")]
    write(t, "ok_tensors.gguf", gguf_file(3, kvs, tensors, alignment=64))
    write(t, "ok_empty_v2.gguf", gguf_file(2, []))
    # TESTING.md's byte tokens that are not bytes, in a byte-fallback vocabulary.
    spm = [(b"tokenizer.ggml.model", GGUF_STRING, b"llama"),
           (b"tokenizer.ggml.tokens", GGUF_ARRAY,
            (GGUF_STRING, [b"<unk>", b"<s>", b"</s>", b"<0x41>", b"<0x-1>", b"<0xZZ>",
                           b"\xe2\x96\x81a"])),
           (b"tokenizer.ggml.scores", GGUF_ARRAY, (6, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0])),
           (b"tokenizer.ggml.token_type", GGUF_ARRAY, (5, [2, 3, 3, 6, 6, 6, 1]))]
    write("gguf_tokenizer", "bad_byte_tokens.gguf", gguf_file(3, spm))
    # Malformed: counts and lengths larger than the file.
    write(t, "string_length_past_end.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
          + struct.pack("<Q", 2 ** 62) + b"key")
    write(t, "array_count_past_end.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
          + gguf_value(GGUF_STRING, b"k") + struct.pack("<IIQ", GGUF_ARRAY, 4, 2 ** 61))
    write(t, "tensor_past_end.gguf", gguf_file(3, [], [("w", 0, [2 ** 20], b"")]))


def gguf_model_seeds():
    """A 1-layer Llama GGUF (hidden 32, 2 heads, 1 KV head, vocab 4) with a
    tensor of every importable type, and variants Kiln must refuse."""
    import random
    rng = random.Random(7)
    t = "gguf_model"

    def blocks(n_blocks, block):
        return bytes(rng.randrange(256) for _ in range(n_blocks * block))

    def f16_blocks(n_blocks, rest):
        # Each block starts with an f16 scale of 2^-6 (and Q4_1's minimum),
        # then random quants.
        out = b""
        for _ in range(n_blocks):
            out += struct.pack("<e", 2.0 ** -6)
            out += bytes(rng.randrange(256) for _ in range(rest))
        return out

    def q4_1(n_blocks):
        return b"".join(struct.pack("<ee", 2.0 ** -6, -0.05)
                        + bytes(rng.randrange(256) for _ in range(16)) for _ in range(n_blocks))

    def f32(n):
        return b"".join(struct.pack("<f", rng.uniform(-1, 1)) for _ in range(n))

    kvs = [(b"general.architecture", GGUF_STRING, b"llama"),
           (b"llama.embedding_length", 4, 32), (b"llama.feed_forward_length", 4, 32),
           (b"llama.block_count", 4, 1), (b"llama.attention.head_count", 4, 2),
           (b"llama.attention.head_count_kv", 4, 1), (b"llama.context_length", 4, 16),
           (b"llama.rope.freq_base", 6, 10000.0),
           (b"llama.attention.layer_norm_rms_epsilon", 6, 1e-5),
           (b"tokenizer.ggml.bos_token_id", 4, 1), (b"tokenizer.ggml.eos_token_id", 4, 2)]
    tensors = [("token_embd.weight", 0, [32, 4], f32(128)),
               ("output_norm.weight", 0, [32], f32(32)),
               ("blk.0.attn_norm.weight", 0, [32], f32(32)),
               ("blk.0.ffn_norm.weight", 0, [32], f32(32)),
               ("blk.0.attn_q.weight", 8, [32, 32], f16_blocks(32, 32)),
               ("blk.0.attn_k.weight", 2, [32, 16], f16_blocks(16, 16)),
               ("blk.0.attn_v.weight", 3, [32, 16], q4_1(16)),
               ("blk.0.attn_output.weight", 1, [32, 32], blocks(1024, 2)),
               ("blk.0.ffn_gate.weight", 30, [32, 32], blocks(1024, 2)),
               ("blk.0.ffn_up.weight", 8, [32, 32], f16_blocks(32, 32)),
               ("blk.0.ffn_down.weight", 2, [32, 32], f16_blocks(32, 16))]
    write(t, "ok_llama_every_type.gguf", gguf_file(3, kvs, tensors))
    write(t, "ok_llama_linear_rope.gguf", gguf_file(
        3, kvs + [(b"llama.rope.scaling.type", GGUF_STRING, b"linear"),
                  (b"llama.rope.scaling.factor", 6, 2.0)], tensors))
    write(t, "unsupported_q4_k.gguf", gguf_file(3, kvs, tensors[:4] + [
        ("blk.0.attn_q.weight", 12, [256, 1], bytes(144))]))
    write(t, "unsupported_arch.gguf", gguf_file(3, [(b"general.architecture", GGUF_STRING,
                                                      b"gemma")] + kvs[1:], tensors))


def chat_template_seeds():
    """The real templates of the chat fixtures, and a few constructs."""
    t = "chat_template"
    folder = os.path.join(ROOT, "tests/fixtures/chat_templates")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".jinja"):
            with open(os.path.join(folder, name), "rb") as f:
                write(t, name, f.read())
    write(t, "loop_filters.jinja", b"{%- for m in messages | selectattr('role', 'equalto', 'user') "
          b"-%}{{ loop.index0 }}:{{ m['content'] | trim | upper }}{% if not loop.last %}, "
          b"{% endif %}{%- endfor %}")
    write(t, "namespace_set.jinja", b"{% set ns = namespace(n=0) %}{% for m in messages %}"
          b"{% set ns.n = ns.n + m.content | length %}{% endfor %}{{ ns.n }}{{ raise_exception('x') "
          b"if ns.n > 1000 else '' }}")


def shrunk_tokenizer(path, keep=300):
    """The fixture tokenizer.json with its BPE vocabulary cut to ids below
    `keep`, the merges among those tokens, and added tokens renumbered
    after them; every other stage as it was."""
    with open(path) as f:
        tok = json.load(f)
    model = tok["model"]
    vocab = {k: v for k, v in model["vocab"].items() if v < keep}
    merges = []
    for m in model["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ", 1)
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    model["vocab"], model["merges"] = vocab, merges
    renumber, next_id = {}, keep
    for added in tok["added_tokens"]:
        if added["id"] >= keep and added["content"] not in vocab:
            renumber[added["id"]] = next_id
            added["id"] = next_id
            next_id += 1

    def fix(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "ids" and isinstance(v, list):
                    node[k] = [renumber.get(i, i) for i in v]
                elif k == "id" and isinstance(v, int):
                    node[k] = renumber.get(v, v)
                else:
                    fix(v)
        elif isinstance(node, list):
            for v in node:
                fix(v)

    fix(tok.get("post_processor"))
    return json.dumps(tok, ensure_ascii=False, separators=(",", ":"))


TOKENIZERS = ["gpt2", "llama2", "llama3", "gemma", "mistral", "qwen2", "smollm2"]


def tokenizer_seeds():
    for name in TOKENIZERS:
        write("tokenizer_json", "ok_shrunk_%s.json" % name, shrunk_tokenizer(
            os.path.join(ROOT, "tests/fixtures/tokenizers", name, "tokenizer.json")))
    write("tokenizer_json", "unknown_model.json", '{"model": {"type": "WordPiece", "vocab": {}}}')
    # tokenizer_encode: byte 0 picks the tokenizer (low nibble, in the order
    # above) and the flags (0x10 add special tokens, 0x20 skip them).
    texts = ["Hello world", "  leading spaces and\ttabs\n", "caf\u00e9 \u4e2d\u6587 \U0001f600",
             "<|endoftext|><s></s>", "12345 + 678 = 91011"]
    for i, name in enumerate(TOKENIZERS):
        for j, text in enumerate(texts):
            flags = 0x10 * (j % 3)
            write("tokenizer_encode", "%s_%d" % (name, j), bytes([i | flags]) + text.encode())
    write("tokenizer_encode", "invalid_utf8", b"\x00\xff\xfe\xc3(\xe2\x82\xf0\x9f")
    write("tokenizer_encode", "ids_negative_and_huge",
          b"\x01" + struct.pack("<4i", -1, 2 ** 31 - 1, 5, 299))


ENGINE_FILES = os.path.join(ROOT, "tests/fuzz/engine_files")


def engine_files():
    """The engine directory FuzzEngineManifest loads manifests against: a
    one-weight module, its weights and a config."""
    os.makedirs(ENGINE_FILES, exist_ok=True)
    files = {
        "config.json": '{"architectures": ["LlamaForCausalLM"], "vocab_size": 8}\n',
        "model.ir": 'module @m {\n  weight "w" : f32[2]\n  func @f(%x: f32[batch,2]) {\n'
                    '    %w = constant() {weight="w"} : f32[2]\n'
                    '    %y = add(%x, %w) : f32[batch,2]\n    return %y\n  }\n}\n',
        "weights.safetensors": safetensors(
            '{"__metadata__":{"format":"kiln"},"w":{"dtype":"F32","shape":[2],'
            '"data_offsets":[0,8]}}', struct.pack("<2f", 1.5, -2.0)),
    }
    for name, data in files.items():
        with open(os.path.join(ENGINE_FILES, name), "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)


def engine_manifest_seeds():
    t = "engine_manifest"
    listed = []
    for name in ["config.json", "model.ir", "weights.safetensors"]:
        with open(os.path.join(ENGINE_FILES, name), "rb") as f:
            data = f.read()
        listed.append({"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"format_version": 3, "architecture": "LlamaForCausalLM", "target": "cpu",
                "dtype": "f32", "max_batch": 1, "max_seq": 8, "eos_token_ids": [2],
                "tokenizer": "", "bos_token_id": 1,
                "buckets": [{"function": "f", "batch": 1, "seq": 1}], "files": listed}
    write(t, "ok_manifest.json", json.dumps(manifest, indent=2) + "\n")

    def variant(name, change):
        m = json.loads(json.dumps(manifest))
        change(m)
        write(t, name, json.dumps(m, indent=2) + "\n")

    variant("version_1.json", lambda m: m.update(format_version=1))  # the previous format
    variant("target_sm_90.json", lambda m: m.update(target="sm_90"))
    variant("tampered_sha256.json", lambda m: m["files"][1].update(sha256="0" * 64))
    variant("truncated_weights.json", lambda m: m["files"][2].update(bytes=m["files"][2]["bytes"] - 1))
    variant("weights_not_listed.json", lambda m: m["files"].pop())
    variant("file_outside.json", lambda m: m["files"].append(
        {"path": "../x", "bytes": 0, "sha256": ""}))
    variant("buckets_not_a_list.json", lambda m: m.update(buckets=3))


def gemm_choices_seeds():
    t = "gemm_choices"
    shape = {"m": 1, "n": 2048, "k": 8192, "dtype": "bf16", "bias": False}
    algo = {"algo_id": 66, "tile": 20, "split_k": 4, "reduction_scheme": 2, "swizzle": 1,
            "custom_option": 0, "stages": 35, "inner_shape": 7, "cluster_shape": 2}
    tuned = {"tuned": True, "arch": "sm_90", "device": "NVIDIA H100 80GB HBM3",
             "cublaslt_version": 130100, "shapes": [shape],
             "choices": [{"shape": shape, "algo": algo, "workspace_bytes": 1048576,
                          "candidates": 8, "best_us": 10.5, "heuristic_us": 12.25}]}
    untuned = {"tuned": False, "arch": "sm_80", "reason": "no usable CUDA device here",
               "shapes": [shape, dict(shape, m=16, bias=True)], "choices": []}
    write(t, "ok_tuned.json", json.dumps(tuned, indent=2) + "\n")
    write(t, "ok_untuned.json", json.dumps(untuned, indent=2) + "\n")

    def variant(name, change):
        m = json.loads(json.dumps(tuned))
        change(m)
        write(t, name, json.dumps(m) + "\n")

    variant("choice_missing.json", lambda m: m["choices"].clear())
    variant("tile_past_uint32.json", lambda m: m["choices"][0]["algo"].update(tile=2**40))
    variant("negative_algo.json", lambda m: m["choices"][0]["algo"].update(algo_id=-1))
    variant("dtype_unknown.json", lambda m: m["shapes"][0].update(dtype="q4"))
    variant("shape_not_object.json", lambda m: m["choices"][0].update(shape=[1, 2]))


def serve_request_seeds():
    """kiln-serve request bodies: byte 0 picks the endpoint ("0" even:
    /v1/completions, "1" odd: /v1/chat/completions), the rest is the body."""
    t = "serve_request"

    def body(name, endpoint, value):
        text = value if isinstance(value, str) else json.dumps(value)
        write(t, name, endpoint + text + "\n")

    user = {"role": "user", "content": "Hi"}
    body("ok_completions_text.json", "0",
         {"model": "kiln", "prompt": "Once upon a time", "max_tokens": 16, "temperature": 0.7,
          "top_p": 0.9, "stop": ["\n\n"], "seed": 42})
    body("ok_completions_ids.json", "0",
         {"prompt": [1, 15043, 3186], "max_tokens": 4, "temperature": 0, "top_k": -1,
          "stream": True, "stream_options": {"include_usage": True}})
    body("ok_completions_batch_of_one.json", "0",
         {"prompt": ["Hi"], "n": 1, "echo": False, "logprobs": None, "best_of": 1,
          "suffix": None, "user": "u-1", "metadata": {"k": [1, {"v": None}]}})
    body("ok_chat.json", "1",
         {"model": "kiln", "messages": [{"role": "system", "content": "Be brief."}, user],
          "max_completion_tokens": 8, "min_p": 0.05, "repetition_penalty": 1.1,
          "seed": 18446744073709551615})
    body("ok_chat_parts.json", "1",
         {"messages": [{"role": "developer", "content": "x"},
                       {"role": "user", "content": [{"type": "text", "text": "a"},
                                                    {"type": "text", "text": "b"}]},
                       {"role": "assistant", "content": "c", "tool_calls": []}],
          "stream": True, "stop": "###", "tools": [], "tool_choice": "none",
          "response_format": {"type": "text"}, "presence_penalty": 0, "frequency_penalty": 0,
          "logit_bias": {}, "logprobs": False, "top_logprobs": 0})
    body("batched_prompts.json", "0", {"prompt": ["a", "b"]})
    body("prompt_ids_out_of_range.json", "0", {"prompt": [1, -1, 2147483648]})
    body("negative_max_tokens.json", "0", {"prompt": "x", "max_tokens": -1})
    body("temperature_out_of_range.json", "0", {"prompt": "x", "temperature": 2.5, "top_p": 0})
    body("five_stops.json", "0", {"prompt": "x", "stop": ["a", "b", "c", "d", "e"]})
    body("n_2.json", "1", {"messages": [user], "n": 2})
    body("image_part.json", "1",
         {"messages": [{"role": "user", "content": [
             {"type": "image_url", "image_url": {"url": "data:,"}}]}]})
    body("role_tool.json", "1", {"messages": [{"role": "tool", "content": "x"}]})
    body("presence_penalty.json", "1", {"messages": [user], "presence_penalty": 0.5})
    body("truncated.json", "1", '{"messages": [{"role": "user", "content": "x"')
    body("not_an_object.json", "0", "[1, 2]")


def compile_fixture_engine(family, dtype, out):
    """compile-model's CUDA engine (sm_90, no GPU needed) of a fixture into `out`."""
    tool = os.path.join(ROOT, "bazel-bin/tools/compile-model")
    if not os.path.exists(tool):
        subprocess.run(["bazel", "build", "//tools:compile-model"], cwd=ROOT, check=True)
    subprocess.run([tool, "--model", os.path.join(FIXTURES, family, dtype), "--out", out,
                    "--target", "sm_90", "--dtype", dtype, "--max-seq", "64", "--buckets", "16",
                    "--tune_gemms", "off", "--kernel_cache", "none"],
                   cwd=ROOT, check=True, capture_output=True)


def compact(value):
    return json.dumps(value, separators=(",", ":")) + "\n"


def launch_plans_seeds(engines):
    """Real kernel.launch_plans.json files, each cut to the layout and one of
    its two plans (the whole file is 150-180 KB), and malformed variants of a
    small plan. Written compact: the same JSON in half the bytes."""
    t = "launch_plans"
    plans = {}
    for family in ["llama3", "opt"]:
        with open(os.path.join(engines[family], "kernel.launch_plans.json")) as f:
            plans[family] = json.load(f)
    llama, opt = plans["llama3"], plans["opt"]

    def plan(j, function):
        return next(p for p in j["plans"] if p["function"] == function)

    def with_plans(j, plans, **changes):
        """`j` holding `plans` only, its row_kernels table cut to the descs
        they name (steps name theirs by index) and renumbered."""
        plans = json.loads(json.dumps(plans))
        kept = {}
        for p in plans:
            for step in p["steps"]:
                if "row_kernel" in step:
                    old = step["row_kernel"]["kernel"]
                    step["row_kernel"]["kernel"] = kept.setdefault(old, len(kept))
        table = [None] * len(kept)
        for old, new in kept.items():
            table[new] = j["row_kernels"][old]
        return dict(j, plans=plans, row_kernels=table, **changes)

    write(t, "ok_llama3_bf16_decode.json", compact(with_plans(llama, [plan(llama, "decode_b1")])))
    write(t, "ok_opt_bf16_prefill.json",
          compact(with_plans(opt, [plan(opt, "prefill_b1_s16")])))
    # No buffers at all.
    empty_layout = {"weights_bytes": 0, "caches_bytes": 0, "inputs_bytes": 0, "tables_bytes": 0,
                    "weights": {}, "caches": {}, "inputs": {}, "tables": []}
    write(t, "ok_empty.json", compact({"format_version": 2, "layout": empty_layout, "plans": [],
                                       "row_kernels": []}))

    def first_steps(p, kinds):
        steps = []
        for kind in kinds:
            steps.append(next(s for s in p["steps"] if kind in s))
        return dict(p, steps=steps)

    # The decode plan cut to its first step of each kind (the plan's checks
    # relate each step to the layout's sizes only, not to the other steps).
    decode = plan(llama, "decode_b1")
    every_kind = ["row_kernel", "gemm", "rope_kv_write", "attention"]
    write(t, "ok_llama3_bf16_one_step_each.json",
          compact(with_plans(llama, [first_steps(decode, every_kind)])))
    # The base of the malformed variants: a row kernel and a GEMM, and a
    # layout without its weight map (steps may read any placed weight bytes).
    small = with_plans(llama, [first_steps(decode, ["row_kernel", "gemm"])],
                       layout=dict(llama["layout"], weights={}))
    write(t, "ok_small.json", compact(small))

    def variant(name, change):
        j = json.loads(json.dumps(small))
        change(j)
        write(t, name, compact(j))

    def gemm(j):
        return j["plans"][0]["steps"][1]["gemm"]

    def row(j):
        return j["plans"][0]["steps"][0]["row_kernel"]

    def desc(j):
        return j["row_kernels"][row(j)["kernel"]]

    variant("wrong_type_gemm_m.json", lambda j: gemm(j).update(m="1"))
    variant("unknown_opcode.json", lambda j: desc(j)["instrs"][0].update(op="pow"))
    variant("unknown_space.json", lambda j: gemm(j)["x"].update(space="heap"))
    variant("unknown_dtype.json", lambda j: gemm(j).update(dtype="q4_0"))
    variant("negative_offset.json", lambda j: gemm(j)["out"].update(offset=-256))
    variant("unaligned_offset.json", lambda j: gemm(j)["out"].update(offset=8))
    variant("buffer_past_its_space.json", lambda j: gemm(j)["w"].update(
        offset=j["layout"]["weights_bytes"] // 256 * 256))
    variant("space_bytes_int64_max.json", lambda j: j["layout"].update(weights_bytes=2**63 - 1))
    variant("gemm_sizes_int64_max.json",
            lambda j: gemm(j).update(n=2**63 - 1, k=2**63 - 1, gemv=None))
    variant("offset_past_int64.json", lambda j: gemm(j)["w"].update(offset=2**64))
    variant("instr_arg_not_earlier.json", lambda j: desc(j)["instrs"][0].update(args=[0]))
    variant("kernel_index_past_table.json", lambda j: row(j).update(kernel=1))
    variant("row_kernel_and_gemm.json", lambda j: j["plans"][0]["steps"][0].update(gemm=gemm(j)))
    variant("format_version_1.json", lambda j: j.update(format_version=1))
    variant("rope_scaling_unknown.json",
            lambda j: j["layout"]["tables"][0]["params"].update(scaling="yarn"))
    # Non-finite reals are strings in the file (launch_plan_json.h).
    variant("ok_nonfinite_reals.json", lambda j: (
        j["layout"]["tables"][0]["params"].update(theta="nan", factor="inf"),
        desc(j)["instrs"][0].update(imm="-inf")))
    text = compact(small)
    write(t, "truncated.json", text[: len(text) // 2])


# The kernel files FuzzKernelIndex (tests/fuzz/harness.cc) reads kernels.json
# against: the seeds record their SHA-256s.
KERNEL_INDEX_FILES = {"kernel.k.cubin": b"cubin bytes of k", "kernel.k.ptx": b"ptx bytes of k",
                      "kernel.k.cu": b"cuda source of k",
                      "kernel.g.cubin": b"cubin bytes of g", "kernel.g.ptx": b"ptx bytes of g"}
KERNEL_ABI_VERSION = 1  # kKernelAbiVersion, codegen/plan/kernel_bundle.h


def kernel_index_seeds(engines):
    """The real llama3 kernels.json cut to a row kernel and a GEMV, renamed to
    the harness's files (kernel.k.*, kernel.g.*) with their digests, in
    KernelBundleFiles' format; and indexes the loader must refuse."""
    t = "kernel_index"
    with open(os.path.join(engines["llama3"], "kernels.json")) as f:
        real = json.load(f)
    by_function = {k["function"]: k for k in real["kernels"]}
    row_function = real["row_functions"]["k_l1_attn_norm"]  # shared by the layers
    gemv = next(k["function"] for k in real["kernels"] if k["kind"] == "gemv")

    def sha(name):
        return hashlib.sha256(KERNEL_INDEX_FILES[name]).hexdigest()

    def renamed(entry, name):
        return dict(entry, function=name, cubin="kernel.%s.cubin" % name,
                    ptx="kernel.%s.ptx" % name, cubin_sha256=sha("kernel.%s.cubin" % name),
                    ptx_sha256=sha("kernel.%s.ptx" % name))

    index = {"abi_version": KERNEL_ABI_VERSION, "arch": real["arch"],
             "kernels": [renamed(by_function[row_function], "k"), renamed(by_function[gemv], "g")],
             "row_functions": {n: "k" for n, f in real["row_functions"].items()
                               if f == row_function}}

    def dump(j):  # as KernelBundleFiles writes it (nlohmann: sorted keys, indent 2)
        return json.dumps(j, indent=2, sort_keys=True) + "\n"

    write(t, "ok_two_kernels.json", dump(index))
    write(t, "ok_one_kernel.json", dump(dict(index, kernels=index["kernels"][:1],
                                             row_functions={})))
    write(t, "ok_no_kernels.json", dump(dict(index, kernels=[], row_functions={})))

    def variant(name, change):
        j = json.loads(json.dumps(index))
        change(j)
        write(t, name, json.dumps(j, sort_keys=True) + "\n")

    variant("unversioned.json", lambda j: j.pop("abi_version"))
    variant("abi_version_2.json", lambda j: j.update(abi_version=KERNEL_ABI_VERSION + 1))
    variant("abi_version_string.json", lambda j: j.update(abi_version=str(KERNEL_ABI_VERSION)))
    variant("digest_mismatch.json", lambda j: j["kernels"][0].update(cubin_sha256=sha("kernel.g.cubin")))
    variant("ptx_swapped.json", lambda j: j["kernels"][1].update(ptx="kernel.k.ptx"))
    variant("missing_file.json", lambda j: j["kernels"][1].update(cubin="kernel.x.cubin"))
    variant("row_function_unlisted.json", lambda j: j["row_functions"].update(k_embeds="k_embeds"))
    variant("registers_not_integer.json", lambda j: j["kernels"][0].update(registers="32"))
    variant("field_missing.json", lambda j: j["kernels"][0].pop("kind"))
    # The kernel's CUDA source (what the emulator runs), bound by source_sha256.
    variant("ok_with_source.json", lambda j: j["kernels"][0].update(
        source="kernel.k.cu", source_sha256=sha("kernel.k.cu")))
    variant("source_digest_mismatch.json", lambda j: j["kernels"][0].update(
        source="kernel.k.cu", source_sha256=sha("kernel.k.ptx")))
    variant("source_not_a_string.json", lambda j: j["kernels"][0].update(source=7))
    write(t, "not_an_object.json", "[]\n")


def main():
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    for target in ["safetensors", "checkpoint_index", "config", "ir_text", "gguf",
                   "tokenizer_json", "gguf_tokenizer", "gguf_model", "chat_template",
                   "tokenizer_encode", "engine_manifest", "gemm_choices", "launch_plans",
                   "kernel_index", "serve_request"]:
        os.makedirs(os.path.join(CORPUS, target))
    safetensors_seeds()
    checkpoint_index_seeds()
    config_seeds()
    ir_text_seeds()
    gguf_seeds()
    gguf_model_seeds()
    chat_template_seeds()
    tokenizer_seeds()
    engine_files()
    engine_manifest_seeds()
    gemm_choices_seeds()
    serve_request_seeds()
    with tempfile.TemporaryDirectory() as tmp:
        engines = {}
        for family in ["llama3", "opt"]:
            engines[family] = os.path.join(tmp, family)
            compile_fixture_engine(family, "bf16", engines[family])
        launch_plans_seeds(engines)
        kernel_index_seeds(engines)


if __name__ == "__main__":
    main()
