#include "ir/op.h"

#include <array>

namespace kiln {
namespace {

constexpr AttrSpec kConstantAttrs[] = {{"weight", AttrKind::kString, true}};
constexpr AttrSpec kEmbeddingAttrs[] = {{"index_offset", AttrKind::kInt, false}};
constexpr AttrSpec kTransposeAttrs[] = {{"perm", AttrKind::kInts, true}};
constexpr AttrSpec kAxisAttrs[] = {{"axis", AttrKind::kInt, true}};
constexpr AttrSpec kSliceAttrs[] = {
    {"axis", AttrKind::kInt, true},
    {"start", AttrKind::kInt, true},
    {"end", AttrKind::kInt, true},
};
constexpr AttrSpec kRmsNormAttrs[] = {
    {"eps", AttrKind::kFloat, true},
    {"weight_offset", AttrKind::kFloat, false},
};
constexpr AttrSpec kLayerNormAttrs[] = {{"eps", AttrKind::kFloat, true}};
// Rotary embedding. inv_freq[i] = theta^(-2i/d) for i < d/2, then:
//   linear: every frequency is divided by `factor` (position interpolation);
//   llama3: frequencies with wavelength above original_max/low_freq_factor
//     are divided by `factor`, those below original_max/high_freq_factor kept,
//     and the band between interpolated smoothly (Llama 3.1's rule).
constexpr AttrSpec kRopeAttrs[] = {
    {"theta", AttrKind::kFloat, true},
    {"scaling", AttrKind::kString, false},
    {"factor", AttrKind::kFloat, false},
    {"low_freq_factor", AttrKind::kFloat, false},
    {"high_freq_factor", AttrKind::kFloat, false},
    {"original_max_position", AttrKind::kInt, false},
};
// Causal attention: query at position p sees cache slots j <= p, and with a
// sliding `window` > 0 only those with p - j < window.
constexpr AttrSpec kAttentionAttrs[] = {
    {"scale", AttrKind::kFloat, true},
    {"window", AttrKind::kInt, false},
};
constexpr AttrSpec kScaleAttrs[] = {{"factor", AttrKind::kFloat, true}};
constexpr AttrSpec kCommonAttrs[] = {
    {"fusion", AttrKind::kString, false},
    {"offset", AttrKind::kInt, false},
};

constexpr std::array<OpInfo, 24> kOps = {{
    {Op::kParameter, "parameter", 0, 0, {}},
    {Op::kConstant, "constant", 0, 0, kConstantAttrs},
    {Op::kEmbedding, "embedding", 2, 2, kEmbeddingAttrs},
    {Op::kReshape, "reshape", 1, 1, {}},
    {Op::kTranspose, "transpose", 1, 1, kTransposeAttrs},
    {Op::kConcat, "concat", 1, 64, kAxisAttrs},
    {Op::kSlice, "slice", 1, 1, kSliceAttrs},
    {Op::kCast, "cast", 1, 1, {}},
    {Op::kMatmul, "matmul", 2, 2, {}},
    {Op::kMatmulNT, "matmul_nt", 2, 3, {}},
    {Op::kRmsNorm, "rms_norm", 2, 2, kRmsNormAttrs},
    {Op::kLayerNorm, "layer_norm", 3, 3, kLayerNormAttrs},
    {Op::kSoftmax, "softmax", 1, 1, kAxisAttrs},
    {Op::kRope, "rope", 2, 2, kRopeAttrs},
    {Op::kKvCacheWrite, "kv_cache_write", 3, 3, {}},
    {Op::kAttention, "attention", 4, 4, kAttentionAttrs},
    {Op::kAdd, "add", 2, 2, {}},
    {Op::kMul, "mul", 2, 2, {}},
    {Op::kScale, "scale", 1, 1, kScaleAttrs},
    {Op::kSilu, "silu", 1, 1, {}},
    {Op::kGeluTanh, "gelu_tanh", 1, 1, {}},
    {Op::kGeluErf, "gelu_erf", 1, 1, {}},
    {Op::kRelu, "relu", 1, 1, {}},
    {Op::kArgmax, "argmax", 1, 1, {}},
}};

// GetOpInfo indexes kOps by the enum value.
constexpr bool OpsAreInEnumOrder() {
  for (size_t i = 0; i < kOps.size(); ++i) {
    if (static_cast<size_t>(kOps[i].op) != i) return false;
  }
  return static_cast<size_t>(Op::kArgmax) + 1 == kOps.size();
}
static_assert(OpsAreInEnumOrder(), "kOps must list every Op in enum order");

}  // namespace

const AttrSpec* OpInfo::FindAttr(std::string_view attr_name) const {
  for (const AttrSpec& spec : attrs) {
    if (spec.name == attr_name) return &spec;
  }
  for (const AttrSpec& spec : kCommonAttrs) {
    if (spec.name == attr_name) return &spec;
  }
  return nullptr;
}

std::span<const AttrSpec> CommonAttrs() { return kCommonAttrs; }

const OpInfo& GetOpInfo(Op op) { return kOps[static_cast<size_t>(op)]; }

std::optional<Op> OpFromName(std::string_view name) {
  for (const OpInfo& info : kOps) {
    if (info.name == name) return info.op;
  }
  return std::nullopt;
}

std::span<const OpInfo> AllOps() { return kOps; }

}  // namespace kiln
