// The pre-norm rotary decoder shared by Llama, Mistral and Gemma.
#ifndef KILN_MODELS_DECODER_H_
#define KILN_MODELS_DECODER_H_

#include <string>

#include "absl/status/statusor.h"
#include "ir/module.h"
#include "models/config_reader.h"
#include "models/model.h"

namespace kiln {

// Everything that distinguishes Llama, Mistral and Gemma at HF-module
// granularity. Weight names follow Transformers' LlamaForCausalLM layout
// (model.layers.N.self_attn.q_proj.weight, ...).
struct RotaryDecoderSpec {
  std::string module_name;
  DType dtype = DType::kF32;
  DType cache_dtype = DType::kF32;  // the KV cache's (BuildOptions::cache_dtype)
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  double norm_eps = 1e-6;
  double norm_weight_offset = 0.0;  // Gemma: RMSNorm scales by (1 + w)
  Op activation = Op::kSilu;        // applied to gate_proj in the gated MLP
  Attrs rope;                       // theta and scaling attributes of rope
  int64_t sliding_window = 0;       // 0: full causal attention
  bool tie_embeddings = false;      // lm_head reads model.embed_tokens.weight
  bool scale_embeddings = false;    // Gemma: embeddings times sqrt(hidden)
  bool attention_bias = false;
  bool mlp_bias = false;
};

// Reads the rope fields of a config, in either layout Transformers writes:
// `rope_parameters` {rope_type, rope_theta, ...} (v5) or `rope_theta` plus
// `rope_scaling` {rope_type|type, factor, ...} (v4 and hub checkpoints).
// Supported types: default, linear, llama3.
absl::StatusOr<Attrs> ReadRopeAttrs(const ConfigReader& config);

// Reads the fields all three families share into `spec` (sizes, heads,
// head_dim, eps, rope, tie_word_embeddings with `tie_default`, biases) and
// checks their consistency. `eps_key` names the norm epsilon field.
absl::Status ReadRotaryDecoderFields(const ConfigReader& config, bool tie_default,
                                     RotaryDecoderSpec& spec);

// Fills the ModelInfo fields common to every family from `config`.
absl::Status ReadModelInfo(const ConfigReader& config, const std::string& architecture,
                           DType dtype, ModelInfo& info);

// Emits the @forward function of a rotary decoder into a new module.
absl::StatusOr<Module> BuildRotaryDecoder(const RotaryDecoderSpec& spec);

// BuildRotaryDecoder plus the ModelInfo read from `config`.
absl::StatusOr<BuiltModel> BuildRotaryDecoderModel(const ConfigReader& config,
                                                   const RotaryDecoderSpec& spec,
                                                   const std::string& architecture);

}  // namespace kiln

#endif  // KILN_MODELS_DECODER_H_
