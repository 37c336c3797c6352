#include "models/gguf_model.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "models/gguf_dequant.h"

namespace kiln {
namespace {

// llama.cpp's per-layer tensor names (after "blk.N.") and Transformers'
// names (after "model.layers.N.") for the Llama family.
constexpr std::pair<std::string_view, std::string_view> kLayerTensors[] = {
    {"attn_norm", "input_layernorm"},     {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},       {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"},  {"ffn_norm", "post_attention_layernorm"},
    {"ffn_gate", "mlp.gate_proj"},        {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
};

constexpr std::pair<std::string_view, std::string_view> kGlobalTensors[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Reads a required unsigned metadata integer, naming the config field it
// becomes when it is missing or malformed.
absl::StatusOr<uint64_t> RequiredUint(const GgufFile& file, std::string_view key,
                                      std::string_view field) {
  absl::StatusOr<uint64_t> value = file.GetUint(key);
  if (!value.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.path(), ": cannot read '", std::string(field), "': ", std::string(value.status().message())));
  }
  return *value;
}

absl::StatusOr<double> OptionalFloat(const GgufFile& file, std::string_view key, double fallback) {
  if (!file.Has(key)) return fallback;
  return file.GetFloat(key);
}

// The rope fields of config.json, from llama.rope.* metadata.
absl::Status AddRopeConfig(const GgufFile& file, int64_t head_dim, nlohmann::json& config) {
  KILN_ASSIGN_OR_RETURN(config["rope_theta"], OptionalFloat(file, "llama.rope.freq_base", 10000.0));
  if (file.FindTensor("rope_freqs.weight") != nullptr) {
    return absl::UnimplementedError(absl::StrCat(
        file.path(), ": Llama-3 rope scaling stored as a rope_freqs tensor is not supported yet; "
        "compile the Hugging Face checkpoint (config.json + safetensors) instead"));
  }
  if (file.Has("llama.rope.dimension_count")) {
    KILN_ASSIGN_OR_RETURN(uint64_t rotary, file.GetUint("llama.rope.dimension_count"));
    if (static_cast<int64_t>(rotary) != head_dim) {
      return absl::UnimplementedError(absl::StrCat(file.path(), ": partial rotary embeddings (",
                                                   rotary, " of ", head_dim,
                                                   " dims) are not supported"));
    }
  }
  if (!file.Has("llama.rope.scaling.type")) return absl::OkStatus();
  KILN_ASSIGN_OR_RETURN(std::string_view type, file.GetString("llama.rope.scaling.type"));
  if (type == "none") return absl::OkStatus();
  if (type != "linear") {
    return absl::UnimplementedError(absl::StrCat(file.path(), ": rope scaling '", std::string(type),
                                                 "' is not supported (Kiln reads none and linear)"));
  }
  KILN_ASSIGN_OR_RETURN(double factor, file.GetFloat("llama.rope.scaling.factor"));
  config["rope_scaling"] = {{"rope_type", "linear"}, {"factor", factor}};
  return absl::OkStatus();
}

// config.json for a llama-architecture file.
absl::StatusOr<nlohmann::json> LlamaConfig(const GgufFile& file) {
  nlohmann::json c;
  c["architectures"] = {"LlamaForCausalLM"};
  c["model_type"] = "llama";
  KILN_ASSIGN_OR_RETURN(c["hidden_size"], RequiredUint(file, "llama.embedding_length", "hidden_size"));
  KILN_ASSIGN_OR_RETURN(c["intermediate_size"],
                        RequiredUint(file, "llama.feed_forward_length", "intermediate_size"));
  KILN_ASSIGN_OR_RETURN(c["num_hidden_layers"], RequiredUint(file, "llama.block_count", "num_hidden_layers"));
  KILN_ASSIGN_OR_RETURN(uint64_t heads,
                        RequiredUint(file, "llama.attention.head_count", "num_attention_heads"));
  c["num_attention_heads"] = heads;
  c["num_key_value_heads"] = heads;
  if (file.Has("llama.attention.head_count_kv")) {
    KILN_ASSIGN_OR_RETURN(c["num_key_value_heads"], file.GetUint("llama.attention.head_count_kv"));
  }
  KILN_ASSIGN_OR_RETURN(c["max_position_embeddings"],
                        RequiredUint(file, "llama.context_length", "max_position_embeddings"));
  KILN_ASSIGN_OR_RETURN(c["rms_norm_eps"],
                        OptionalFloat(file, "llama.attention.layer_norm_rms_epsilon", 1e-6));
  const GgufTensor* embed = file.FindTensor("token_embd.weight");
  if (embed == nullptr || embed->ne.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(file.path(), ": no 2-D token_embd.weight tensor"));
  }
  c["vocab_size"] = embed->ne[1];
  int64_t hidden = c["hidden_size"].get<int64_t>();
  int64_t head_dim = heads == 0 ? 0 : hidden / static_cast<int64_t>(heads);
  if (file.Has("llama.attention.key_length")) {
    KILN_ASSIGN_OR_RETURN(uint64_t key_length, file.GetUint("llama.attention.key_length"));
    head_dim = static_cast<int64_t>(key_length);
    c["head_dim"] = head_dim;
  }
  KILN_RETURN_IF_ERROR(AddRopeConfig(file, head_dim, c));
  c["tie_word_embeddings"] = file.FindTensor("output.weight") == nullptr;
  if (file.Has("tokenizer.ggml.bos_token_id")) {
    KILN_ASSIGN_OR_RETURN(c["bos_token_id"], file.GetUint("tokenizer.ggml.bos_token_id"));
  }
  std::vector<uint64_t> eos;
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
    if (!file.Has(key)) continue;
    KILN_ASSIGN_OR_RETURN(uint64_t id, file.GetUint(key));
    if (std::find(eos.begin(), eos.end(), id) == eos.end()) eos.push_back(id);
  }
  if (!eos.empty()) c["eos_token_id"] = eos;
  return c;
}

}  // namespace

std::string HfNameOfGgufTensor(std::string_view gguf_name) {
  for (const auto& [gguf, hf] : kGlobalTensors) {
    if (gguf_name == gguf) return std::string(hf);
  }
  if (gguf_name.substr(0, 4) != "blk.") return "";
  std::string_view rest = gguf_name.substr(4);
  size_t dot = rest.find('.');
  int64_t layer = 0;
  if (dot == std::string_view::npos || !absl::SimpleAtoi(std::string(rest.substr(0, dot)), &layer) ||
      layer < 0 || std::to_string(layer) != rest.substr(0, dot)) {
    return "";
  }
  std::string_view tail = rest.substr(dot + 1);
  for (std::string_view suffix : {".weight", ".bias"}) {
    if (!EndsWith(tail, suffix)) continue;
    std::string_view base = tail.substr(0, tail.size() - suffix.size());
    for (const auto& [gguf, hf] : kLayerTensors) {
      if (base == gguf) {
        return absl::StrCat("model.layers.", layer, ".", std::string(hf), std::string(suffix));
      }
    }
  }
  return "";
}

namespace {

// UnpermuteRotaryRows over rows of `cols` items of any type: rows move whole,
// so quantized rows (whole blocks) move as their bytes.
template <typename T>
void UnpermuteRows(std::vector<T>& values, int64_t heads, int64_t rows, int64_t cols) {
  const int64_t head_dim = rows / heads, half = head_dim / 2;
  std::vector<T> out(values.size());
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        const T* from = values.data() + (h * head_dim + 2 * i + j) * cols;
        T* to = out.data() + (h * head_dim + j * half + i) * cols;
        std::copy(from, from + cols, to);
      }
    }
  }
  values = std::move(out);
}

}  // namespace

void UnpermuteRotaryRows(std::vector<float>& values, int64_t heads, int64_t rows, int64_t cols) {
  UnpermuteRows(values, heads, rows, cols);
}

absl::StatusOr<GgufCheckpoint> GgufCheckpoint::Open(const std::string& path) {
  GgufCheckpoint ckpt;
  KILN_ASSIGN_OR_RETURN(ckpt.file_, GgufFile::Open(path));
  const GgufFile& file = *ckpt.file_;
  if (!file.Has("general.architecture")) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no general.architecture key; is this a model (not a vocabulary-only) GGUF?"));
  }
  KILN_ASSIGN_OR_RETURN(std::string_view arch, file.GetString("general.architecture"));
  if (arch != "llama") {
    return absl::UnimplementedError(absl::StrCat(path, ": GGUF architecture '", std::string(arch),
                                                 "' is not supported yet (Kiln imports 'llama')"));
  }
  KILN_ASSIGN_OR_RETURN(ckpt.config_, LlamaConfig(file));
  ckpt.num_heads_ = ckpt.config_["num_attention_heads"].get<int64_t>();
  ckpt.num_kv_heads_ = ckpt.config_["num_key_value_heads"].get<int64_t>();
  for (const GgufTensor& t : file.tensors()) {
    std::string hf = HfNameOfGgufTensor(t.name);
    if (hf.empty()) {
      return absl::UnimplementedError(absl::StrCat(path, ": tensor \"", t.name,
                                                   "\" is not one Kiln maps for a Llama model"));
    }
    if (!CanDequantize(t.type)) {
      return absl::UnimplementedError(absl::StrCat(
          path, ": tensor \"", t.name, "\" is ", std::string(GgmlTypeName(t.type)),
          "; Kiln imports F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K and Q6_K (re-quantise with "
          "llama-quantize)"));
    }
    ckpt.by_hf_name_[hf] = &t;
  }
  return ckpt;
}

const GgufTensor* GgufCheckpoint::Find(std::string_view hf_name) const {
  auto it = by_hf_name_.find(hf_name);
  return it == by_hf_name_.end() ? nullptr : it->second;
}

std::vector<std::string> GgufCheckpoint::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : by_hf_name_) names.push_back(name);
  return names;
}

absl::StatusOr<const GgufTensor*> GgufCheckpoint::Get(std::string_view hf_name) const {
  const GgufTensor* tensor = Find(hf_name);
  if (tensor == nullptr) {
    return absl::NotFoundError(absl::StrCat(file_->path(), " has no tensor for \"",
                                            std::string(hf_name), "\""));
  }
  return tensor;
}

absl::StatusOr<int64_t> GgufCheckpoint::RotaryHeads(std::string_view hf_name,
                                                    const GgufTensor& tensor) const {
  int64_t heads = 0;
  if (hf_name.find(".self_attn.q_proj.") != std::string_view::npos) heads = num_heads_;
  if (hf_name.find(".self_attn.k_proj.") != std::string_view::npos) heads = num_kv_heads_;
  // An empty tensor has no rows to move, whatever its shape says: 2^49 rows
  // of 0 columns would otherwise loop 2^49 times copying nothing (a fuzzing
  // finding, tests/fuzz/regressions/gguf_model/empty_q_proj_2_pow_49_rows.gguf).
  if (tensor.n_elements == 0) return 0;
  if (heads > 0) {
    std::vector<int64_t> shape = tensor.RowMajorShape();
    const int64_t rows = shape.empty() ? 1 : shape[0];
    if (heads > rows / 2 || rows % (2 * heads) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("tensor \"", tensor.name, "\" has ", rows,
                                                     " rows, not a multiple of 2 x ", heads,
                                                     " heads"));
    }
  }
  return heads;
}

absl::StatusOr<std::vector<float>> GgufCheckpoint::Read(std::string_view hf_name) const {
  KILN_ASSIGN_OR_RETURN(const GgufTensor* tensor, Get(hf_name));
  KILN_ASSIGN_OR_RETURN(std::vector<float> values, DequantizeGgufTensor(*tensor));
  KILN_ASSIGN_OR_RETURN(int64_t heads, RotaryHeads(hf_name, *tensor));
  if (heads > 0) {
    const int64_t rows = tensor->RowMajorShape()[0];
    UnpermuteRotaryRows(values, heads, rows, rows == 0 ? 0 : tensor->n_elements / rows);
  }
  return values;
}

absl::StatusOr<std::vector<uint8_t>> GgufCheckpoint::ReadStored(std::string_view hf_name) const {
  KILN_ASSIGN_OR_RETURN(const GgufTensor* tensor, Get(hf_name));
  std::vector<uint8_t> bytes(tensor->data.begin(), tensor->data.end());
  KILN_ASSIGN_OR_RETURN(int64_t heads, RotaryHeads(hf_name, *tensor));
  if (heads > 0) {
    const int64_t rows = tensor->RowMajorShape()[0];
    UnpermuteRows(bytes, heads, rows, rows == 0 ? 0 : static_cast<int64_t>(bytes.size()) / rows);
  }
  return bytes;
}

}  // namespace kiln
