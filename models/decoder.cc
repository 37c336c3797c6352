#include "models/decoder.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "ir/builder.h"
#include "base/status_macros.h"
#include "base/half.h"

namespace kiln {
namespace {

// Emits x . W^T (+ b) reading `<prefix>.weight` [out, in] and, with
// `bias`, `<prefix>.bias` [out].
ValueId Linear(FunctionBuilder& b, DType dtype, ValueId x, const std::string& prefix,
               int64_t out, int64_t in, bool bias, const std::string& hint) {
  std::vector<ValueId> operands = {x, b.Weight(prefix + ".weight", {dtype, MakeShape({out, in})})};
  if (bias) operands.push_back(b.Weight(prefix + ".bias", {dtype, MakeShape({out})}));
  return b.Add(Op::kMatmulNT, operands, {}, hint);
}

ValueId RmsNorm(FunctionBuilder& b, const RotaryDecoderSpec& s, ValueId x,
                const std::string& weight_name, const std::string& hint) {
  ValueId w = b.Weight(weight_name, {s.dtype, MakeShape({s.hidden_size})});
  Attrs attrs = {{"eps", s.norm_eps}};
  if (s.norm_weight_offset != 0.0) attrs["weight_offset"] = s.norm_weight_offset;
  return b.Add(Op::kRmsNorm, {x, w}, attrs, hint);
}

struct LayerIO {
  ValueId hidden;
  ValueId k_cache;
  ValueId v_cache;
};

// One decoder layer:
//   h += o_proj(attention(rope(q_proj(n)), cache <- rope(k_proj(n)), v_proj(n)))
//   h += down_proj(act(gate_proj(n')) * up_proj(n'))
// with n = input_layernorm(h) and n' = post_attention_layernorm(h).
LayerIO DecoderLayer(FunctionBuilder& b, const RotaryDecoderSpec& s, int64_t layer, ValueId h,
                     ValueId positions, LayerIO caches) {
  std::string prefix = absl::StrCat("model.layers.", layer, ".");
  std::string tag = absl::StrCat("l", layer, ".");
  DType t = s.dtype;
  int64_t q_width = s.num_heads * s.head_dim, kv_width = s.num_kv_heads * s.head_dim;

  ValueId n = RmsNorm(b, s, h, prefix + "input_layernorm.weight", tag + "attn_norm");
  ValueId q = Linear(b, t, n, prefix + "self_attn.q_proj", q_width, s.hidden_size,
                     s.attention_bias, tag + "q");
  ValueId k = Linear(b, t, n, prefix + "self_attn.k_proj", kv_width, s.hidden_size,
                     s.attention_bias, tag + "k");
  ValueId v = Linear(b, t, n, prefix + "self_attn.v_proj", kv_width, s.hidden_size,
                     s.attention_bias, tag + "v");
  q = b.Reshape(q, MakeShape({"batch", "seq", s.num_heads, s.head_dim}), tag + "q_heads");
  k = b.Reshape(k, MakeShape({"batch", "seq", s.num_kv_heads, s.head_dim}), tag + "k_heads");
  v = b.Reshape(v, MakeShape({"batch", "seq", s.num_kv_heads, s.head_dim}), tag + "v_heads");
  q = b.Add(Op::kRope, {q, positions}, s.rope, tag + "q_rot");
  k = b.Add(Op::kRope, {k, positions}, s.rope, tag + "k_rot");
  LayerIO out;
  out.k_cache = b.Add(Op::kKvCacheWrite, {caches.k_cache, k, positions}, {}, tag + "k_cache");
  out.v_cache = b.Add(Op::kKvCacheWrite, {caches.v_cache, v, positions}, {}, tag + "v_cache");
  Attrs attention = {{"scale", 1.0 / std::sqrt(static_cast<double>(s.head_dim))}};
  if (s.sliding_window > 0) attention["window"] = s.sliding_window;
  ValueId a = b.Add(Op::kAttention, {q, out.k_cache, out.v_cache, positions}, attention,
                    tag + "attn");
  a = b.Reshape(a, MakeShape({"batch", "seq", q_width}), tag + "attn_flat");
  ValueId o = Linear(b, t, a, prefix + "self_attn.o_proj", s.hidden_size, q_width,
                     s.attention_bias, tag + "o");
  h = b.Add(Op::kAdd, {h, o}, {}, tag + "attn_out");

  n = RmsNorm(b, s, h, prefix + "post_attention_layernorm.weight", tag + "mlp_norm");
  ValueId gate = Linear(b, t, n, prefix + "mlp.gate_proj", s.intermediate_size, s.hidden_size,
                        s.mlp_bias, tag + "gate");
  ValueId up = Linear(b, t, n, prefix + "mlp.up_proj", s.intermediate_size, s.hidden_size,
                      s.mlp_bias, tag + "up");
  ValueId act = b.Add(s.activation, {gate}, {}, tag + "act");
  ValueId prod = b.Add(Op::kMul, {act, up}, {}, tag + "gated");
  ValueId down = Linear(b, t, prod, prefix + "mlp.down_proj", s.hidden_size, s.intermediate_size,
                        s.mlp_bias, tag + "down");
  out.hidden = b.Add(Op::kAdd, {h, down}, {}, tag + "out");
  return out;
}

absl::StatusOr<Attrs> RopeAttrsFor(const ConfigReader& params, const std::string& type,
                                   double theta) {
  Attrs attrs = {{"theta", theta}};
  if (type == "default") return attrs;
  KILN_ASSIGN_OR_RETURN(double factor, params.PositiveNumber("factor"));
  attrs["factor"] = factor;
  if (type == "linear") {
    attrs["scaling"] = std::string(kRopeScalingLinear);
    return attrs;
  }
  if (type != "llama3") {
    return params.FieldError("rope_type", absl::StrCat("'", type,
                                                       "' is not supported (supported: default, "
                                                       "linear, llama3)"));
  }
  attrs["scaling"] = std::string(kRopeScalingLlama3);
  KILN_ASSIGN_OR_RETURN(double low, params.PositiveNumber("low_freq_factor"));
  KILN_ASSIGN_OR_RETURN(double high, params.PositiveNumber("high_freq_factor"));
  KILN_ASSIGN_OR_RETURN(int64_t original, params.PositiveInt("original_max_position_embeddings"));
  if (high <= low) return params.FieldError("high_freq_factor", "must exceed low_freq_factor");
  attrs["low_freq_factor"] = low;
  attrs["high_freq_factor"] = high;
  attrs["original_max_position"] = original;
  return attrs;
}

absl::StatusOr<std::string> RopeType(const ConfigReader& params) {
  if (params.Has("rope_type")) return params.String("rope_type");
  return params.String("type", "default");
}

}  // namespace

absl::StatusOr<Attrs> ReadRopeAttrs(const ConfigReader& config) {
  if (config.Has("rope_parameters")) {
    KILN_ASSIGN_OR_RETURN(ConfigReader params, config.Object("rope_parameters"));
    KILN_ASSIGN_OR_RETURN(double theta, params.PositiveNumber("rope_theta"));
    KILN_ASSIGN_OR_RETURN(std::string type, RopeType(params));
    return RopeAttrsFor(params, type, theta);
  }
  KILN_ASSIGN_OR_RETURN(double theta, config.PositiveNumber("rope_theta", 10000.0));
  if (!config.Has("rope_scaling")) return Attrs{{"theta", theta}};
  KILN_ASSIGN_OR_RETURN(ConfigReader params, config.Object("rope_scaling"));
  KILN_ASSIGN_OR_RETURN(std::string type, RopeType(params));
  return RopeAttrsFor(params, type, theta);
}

absl::Status ReadRotaryDecoderFields(const ConfigReader& config, bool tie_default,
                                     RotaryDecoderSpec& s) {
  KILN_ASSIGN_OR_RETURN(s.vocab_size, config.PositiveInt("vocab_size"));
  KILN_ASSIGN_OR_RETURN(s.hidden_size, config.PositiveInt("hidden_size"));
  KILN_ASSIGN_OR_RETURN(s.intermediate_size, config.PositiveInt("intermediate_size"));
  KILN_ASSIGN_OR_RETURN(s.num_layers, config.LayerCount());
  KILN_ASSIGN_OR_RETURN(s.num_heads, config.PositiveInt("num_attention_heads"));
  KILN_ASSIGN_OR_RETURN(s.num_kv_heads, config.PositiveInt("num_key_value_heads", s.num_heads));
  if (s.num_heads % s.num_kv_heads != 0) {
    return config.FieldError("num_attention_heads",
                             absl::StrCat("(", s.num_heads, ") must be a multiple of "
                                          "'num_key_value_heads' (", s.num_kv_heads, ")"));
  }
  if (config.Has("head_dim")) {
    KILN_ASSIGN_OR_RETURN(s.head_dim, config.PositiveInt("head_dim"));
  } else if (s.hidden_size % s.num_heads != 0) {
    return config.FieldError("hidden_size",
                             absl::StrCat("(", s.hidden_size, ") must be divisible by "
                                          "'num_attention_heads' (", s.num_heads,
                                          ") when 'head_dim' is not given"));
  } else {
    s.head_dim = s.hidden_size / s.num_heads;
  }
  if (s.head_dim % 2 != 0) {
    return config.FieldError("head_dim", absl::StrCat("must be even for rotary embeddings, got ",
                                                      s.head_dim));
  }
  KILN_ASSIGN_OR_RETURN(s.norm_eps, config.PositiveNumber("rms_norm_eps", 1e-6));
  KILN_ASSIGN_OR_RETURN(s.rope, ReadRopeAttrs(config));
  KILN_ASSIGN_OR_RETURN(s.tie_embeddings, config.Bool("tie_word_embeddings", tie_default));
  KILN_ASSIGN_OR_RETURN(s.attention_bias, config.Bool("attention_bias", false));
  KILN_ASSIGN_OR_RETURN(s.mlp_bias, config.Bool("mlp_bias", false));
  return absl::OkStatus();
}

absl::Status ReadModelInfo(const ConfigReader& config, const std::string& architecture,
                           DType dtype, ModelInfo& info) {
  info.architecture = architecture;
  info.dtype = dtype;
  KILN_ASSIGN_OR_RETURN(info.vocab_size, config.PositiveInt("vocab_size"));
  KILN_ASSIGN_OR_RETURN(info.num_layers, config.LayerCount());
  KILN_ASSIGN_OR_RETURN(info.max_positions, config.PositiveInt("max_position_embeddings"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> bos, config.IntList("bos_token_id"));
  if (!bos.empty()) info.bos_token_id = bos.front();
  KILN_ASSIGN_OR_RETURN(info.eos_token_ids, config.IntList("eos_token_id"));
  for (const auto& [field, ids] : {std::pair{"bos_token_id", &bos},
                                   std::pair{"eos_token_id", &info.eos_token_ids}}) {
    for (int64_t id : *ids) {
      if (id < 0 || id >= info.vocab_size) {
        return config.FieldError(field, absl::StrCat("holds ", id, ", outside the vocabulary [0, ",
                                                     info.vocab_size, ")"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Module> BuildRotaryDecoder(const RotaryDecoderSpec& s) {
  Module module;
  module.name = s.module_name;
  FunctionBuilder b(module, kForwardFunction);
  DType t = s.dtype;
  ValueId ids = b.Parameter("input_ids", {DType::kI32, MakeShape({"batch", "seq"})});
  ValueId positions = b.Parameter("positions", {DType::kI32, MakeShape({"batch", "seq"})});
  TensorType cache_type{s.cache_dtype, MakeShape({"batch", "cache", s.num_kv_heads, s.head_dim})};
  std::vector<LayerIO> caches;
  for (int64_t l = 0; l < s.num_layers; ++l) {
    ValueId k = b.Parameter(absl::StrCat("k_cache.", l), cache_type);
    ValueId v = b.Parameter(absl::StrCat("v_cache.", l), cache_type);
    caches.push_back({FunctionBuilder::kNoValue, k, v});
  }
  const std::string embed_name = "model.embed_tokens.weight";
  ValueId embed = b.Weight(embed_name, {t, MakeShape({s.vocab_size, s.hidden_size})});
  ValueId h = b.Add(Op::kEmbedding, {embed, ids}, {}, "embeds");
  if (s.scale_embeddings) {
    // Transformers multiplies by sqrt(hidden) held in the model dtype.
    double normalizer = RoundToDType(std::sqrt(static_cast<float>(s.hidden_size)), t);
    h = b.Add(Op::kScale, {h}, {{"factor", normalizer}}, "embeds_scaled");
  }
  std::vector<ValueId> results(1);
  for (int64_t l = 0; l < s.num_layers; ++l) {
    LayerIO out = DecoderLayer(b, s, l, h, positions, caches[l]);
    h = out.hidden;
    results.push_back(out.k_cache);
    results.push_back(out.v_cache);
  }
  h = RmsNorm(b, s, h, "model.norm.weight", "final_norm");
  std::string head = s.tie_embeddings ? embed_name : "lm_head.weight";
  results[0] = b.Add(Op::kMatmulNT,
                     {h, b.Weight(head, {t, MakeShape({s.vocab_size, s.hidden_size})})}, {},
                     "logits");
  KILN_RETURN_IF_ERROR(b.Finish(results));
  return module;
}

absl::StatusOr<BuiltModel> BuildRotaryDecoderModel(const ConfigReader& config,
                                                   const RotaryDecoderSpec& spec,
                                                   const std::string& architecture) {
  BuiltModel model;
  KILN_ASSIGN_OR_RETURN(model.module, BuildRotaryDecoder(spec));
  KILN_RETURN_IF_ERROR(ReadModelInfo(config, architecture, spec.dtype, model.info));
  model.info.num_kv_heads = spec.num_kv_heads;
  model.info.head_dim = spec.head_dim;
  return model;
}

}  // namespace kiln
