// OPT as in Transformers' modeling_opt.py: learned positions (offset 2),
// LayerNorm before (125m-style) or after (350m-style) each block, biased
// projections, ReLU MLP, optional project_in/project_out when
// word_embed_proj_dim differs from hidden_size, tied embeddings.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "ir/builder.h"
#include "base/status_macros.h"
#include "models/architectures.h"
#include "models/decoder.h"

namespace kiln {
namespace {

// OPT's learned position table has two extra leading rows: position p
// reads row p + 2 (OPTLearnedPositionalEmbedding's offset).
constexpr int64_t kPositionOffset = 2;
constexpr double kLayerNormEps = 1e-5;  // torch.nn.LayerNorm's default

struct OptSpec {
  DType dtype = DType::kF32;
  DType cache_dtype = DType::kF32;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t ffn_dim = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t max_positions = 0;
  int64_t embed_dim = 0;  // word_embed_proj_dim
  bool norm_before = true;
  bool final_norm = true;
  bool bias = true;
  Op activation = Op::kRelu;
};

absl::StatusOr<OptSpec> ReadOptSpec(const ConfigReader& config, DType dtype) {
  OptSpec s;
  s.dtype = dtype;
  KILN_ASSIGN_OR_RETURN(s.vocab_size, config.PositiveInt("vocab_size"));
  KILN_ASSIGN_OR_RETURN(s.hidden_size, config.PositiveInt("hidden_size"));
  KILN_ASSIGN_OR_RETURN(s.ffn_dim, config.PositiveInt("ffn_dim"));
  KILN_ASSIGN_OR_RETURN(s.num_layers, config.LayerCount());
  KILN_ASSIGN_OR_RETURN(s.num_heads, config.PositiveInt("num_attention_heads"));
  KILN_ASSIGN_OR_RETURN(s.max_positions, config.PositiveInt("max_position_embeddings"));
  KILN_ASSIGN_OR_RETURN(s.embed_dim, config.PositiveInt("word_embed_proj_dim", s.hidden_size));
  if (s.hidden_size % s.num_heads != 0) {
    return config.FieldError("hidden_size", absl::StrCat("(", s.hidden_size,
                                                         ") must be divisible by "
                                                         "'num_attention_heads' (",
                                                         s.num_heads, ")"));
  }
  KILN_ASSIGN_OR_RETURN(s.norm_before, config.Bool("do_layer_norm_before", true));
  KILN_ASSIGN_OR_RETURN(bool remove_final, config.Bool("_remove_final_layer_norm", false));
  s.final_norm = s.norm_before && !remove_final;
  KILN_ASSIGN_OR_RETURN(s.bias, config.Bool("enable_bias", true));
  KILN_ASSIGN_OR_RETURN(bool affine, config.Bool("layer_norm_elementwise_affine", true));
  if (!affine) return config.FieldError("layer_norm_elementwise_affine", "false is not supported");
  KILN_ASSIGN_OR_RETURN(bool tied, config.Bool("tie_word_embeddings", true));
  if (!tied) return config.FieldError("tie_word_embeddings", "false is not supported for OPT");
  KILN_ASSIGN_OR_RETURN(std::string act, config.String("activation_function", "relu"));
  KILN_ASSIGN_OR_RETURN(s.activation, ActivationOp(config, "activation_function", act));
  return s;
}

// Builds OPT's @forward function node by node.
class OptBuilder {
 public:
  OptBuilder(Module& module, const OptSpec& spec) : b_(module, kForwardFunction), s_(spec) {}

  absl::Status Build() {
    ValueId ids = b_.Parameter("input_ids", {DType::kI32, MakeShape({"batch", "seq"})});
    ValueId positions = b_.Parameter("positions", {DType::kI32, MakeShape({"batch", "seq"})});
    int64_t head_dim = s_.hidden_size / s_.num_heads;
    TensorType cache{s_.cache_dtype, MakeShape({"batch", "cache", s_.num_heads, head_dim})};
    std::vector<ValueId> caches;
    for (int64_t l = 0; l < s_.num_layers; ++l) {
      caches.push_back(b_.Parameter(absl::StrCat("k_cache.", l), cache));
      caches.push_back(b_.Parameter(absl::StrCat("v_cache.", l), cache));
    }
    const std::string embed_name = "model.decoder.embed_tokens.weight";
    ValueId embed = Weight(embed_name, {s_.vocab_size, s_.embed_dim});
    ValueId h = b_.Add(Op::kEmbedding, {embed, ids}, {}, "embeds");
    if (s_.embed_dim != s_.hidden_size) {
      h = Linear(h, "model.decoder.project_in", s_.hidden_size, s_.embed_dim, false, "project_in");
    }
    ValueId table = Weight("model.decoder.embed_positions.weight",
                           {s_.max_positions + kPositionOffset, s_.hidden_size});
    ValueId pos_embeds = b_.Add(Op::kEmbedding, {table, positions},
                                {{"index_offset", kPositionOffset}}, "pos_embeds");
    h = b_.Add(Op::kAdd, {h, pos_embeds}, {}, "hidden");
    std::vector<ValueId> results(1);
    for (int64_t l = 0; l < s_.num_layers; ++l) {
      h = Layer(l, h, positions, caches[2 * l], caches[2 * l + 1], results);
    }
    if (s_.final_norm) h = LayerNorm(h, "model.decoder.final_layer_norm", "final_norm");
    if (s_.embed_dim != s_.hidden_size) {
      h = Linear(h, "model.decoder.project_out", s_.embed_dim, s_.hidden_size, false,
                 "project_out");
    }
    results[0] = b_.Add(Op::kMatmulNT, {h, embed}, {}, "logits");
    return b_.Finish(results);
  }

 private:
  ValueId Weight(const std::string& name, std::initializer_list<DimInit> shape) {
    return b_.Weight(name, {s_.dtype, MakeShape(shape)});
  }

  ValueId Linear(ValueId x, const std::string& prefix, int64_t out, int64_t in, bool bias,
                 const std::string& hint) {
    std::vector<ValueId> operands = {x, Weight(prefix + ".weight", {out, in})};
    if (bias) operands.push_back(Weight(prefix + ".bias", {out}));
    return b_.Add(Op::kMatmulNT, operands, {}, hint);
  }

  ValueId LayerNorm(ValueId x, const std::string& prefix, const std::string& hint) {
    ValueId w = Weight(prefix + ".weight", {s_.hidden_size});
    ValueId bias = Weight(prefix + ".bias", {s_.hidden_size});
    return b_.Add(Op::kLayerNorm, {x, w, bias}, {{"eps", kLayerNormEps}}, hint);
  }

  // One OPT layer; the norms sit before each block (pre-LN) or after each
  // residual add (post-LN), per do_layer_norm_before.
  ValueId Layer(int64_t l, ValueId h, ValueId positions, ValueId k_cache, ValueId v_cache,
                std::vector<ValueId>& results) {
    std::string prefix = absl::StrCat("model.decoder.layers.", l, ".");
    std::string tag = absl::StrCat("l", l, ".");
    int64_t hidden = s_.hidden_size, heads = s_.num_heads, head_dim = hidden / heads;
    std::string attn_norm = prefix + "self_attn_layer_norm";
    ValueId x = s_.norm_before ? LayerNorm(h, attn_norm, tag + "attn_norm") : h;
    ValueId q = Linear(x, prefix + "self_attn.q_proj", hidden, hidden, s_.bias, tag + "q");
    ValueId k = Linear(x, prefix + "self_attn.k_proj", hidden, hidden, s_.bias, tag + "k");
    ValueId v = Linear(x, prefix + "self_attn.v_proj", hidden, hidden, s_.bias, tag + "v");
    Shape heads_shape = MakeShape({"batch", "seq", heads, head_dim});
    q = b_.Reshape(q, heads_shape, tag + "q_heads");
    k = b_.Reshape(k, heads_shape, tag + "k_heads");
    v = b_.Reshape(v, heads_shape, tag + "v_heads");
    k_cache = b_.Add(Op::kKvCacheWrite, {k_cache, k, positions}, {}, tag + "k_cache");
    v_cache = b_.Add(Op::kKvCacheWrite, {v_cache, v, positions}, {}, tag + "v_cache");
    results.push_back(k_cache);
    results.push_back(v_cache);
    ValueId a = b_.Add(Op::kAttention, {q, k_cache, v_cache, positions},
                       {{"scale", 1.0 / std::sqrt(static_cast<double>(head_dim))}}, tag + "attn");
    a = b_.Reshape(a, MakeShape({"batch", "seq", hidden}), tag + "attn_flat");
    ValueId o = Linear(a, prefix + "self_attn.out_proj", hidden, hidden, s_.bias, tag + "o");
    h = b_.Add(Op::kAdd, {h, o}, {}, tag + "attn_out");
    if (!s_.norm_before) h = LayerNorm(h, attn_norm, tag + "attn_norm");

    std::string mlp_norm = prefix + "final_layer_norm";
    x = s_.norm_before ? LayerNorm(h, mlp_norm, tag + "mlp_norm") : h;
    ValueId up = Linear(x, prefix + "fc1", s_.ffn_dim, hidden, s_.bias, tag + "fc1");
    up = b_.Add(s_.activation, {up}, {}, tag + "act");
    ValueId down = Linear(up, prefix + "fc2", hidden, s_.ffn_dim, s_.bias, tag + "fc2");
    h = b_.Add(Op::kAdd, {h, down}, {}, tag + "out");
    if (!s_.norm_before) h = LayerNorm(h, mlp_norm, tag + "mlp_norm");
    return h;
  }

  FunctionBuilder b_;
  const OptSpec& s_;
};

}  // namespace

absl::StatusOr<BuiltModel> BuildOpt(const ConfigReader& config, const BuildOptions& options) {
  KILN_ASSIGN_OR_RETURN(OptSpec spec, ReadOptSpec(config, options.dtype));
  spec.cache_dtype = options.cache_dtype();
  BuiltModel model;
  model.module.name = "opt";
  OptBuilder builder(model.module, spec);
  KILN_RETURN_IF_ERROR(builder.Build());
  KILN_RETURN_IF_ERROR(ReadModelInfo(config, "OPTForCausalLM", options.dtype, model.info));
  model.info.num_kv_heads = spec.num_heads;
  model.info.head_dim = spec.hidden_size / spec.num_heads;
  return model;
}

}  // namespace kiln
