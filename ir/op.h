// The op set of Kiln IR and each op's schema (operands and attributes).
#ifndef KILN_IR_OP_H_
#define KILN_IR_OP_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace kiln {

// Every op of the IR, grouped by kind. Ops sit at Hugging Face module
// granularity so a model's IR reads like its modeling_*.py forward pass.
// Exact semantics are defined by the CPU reference executor
// (runtime/reference/), which is the specification of every op.
//
// Precision: an op computes in f32 (reductions in double) and rounds its
// result to its dtype once, except where Transformers' module rounds to the
// model dtype in between; there the op rounds at the same points, so f16 and
// bf16 models reproduce Transformers' eager outputs:
//   rms_norm without weight_offset: round(x / rms) then * w (LlamaRMSNorm);
//   rope: x*cos and rotate_half(x)*sin rounded, then their sum, with cos and
//     sin themselves rounded to the dtype;
//   attention: q.k rounded, then * scale rounded, softmax in f32, the
//     probabilities rounded before they weight V.
// In f32 every such rounding is the identity. The KV cache may hold its own
// float dtype (an engine option: an f16 or bf16 cache under an f32 model):
// kv_cache_write rounds the new keys and values to it, and attention reads
// the cache's values as they are.
enum class Op : uint8_t {
  // Sources. A parameter is a function input; a constant reads a module
  // weight (attribute `weight`).
  kParameter,
  kConstant,

  // Data movement. reshape and cast take their target from the result type.
  kEmbedding,  // table[V,H], ids[...] -> [...,H]; row = id + index_offset
  kReshape,
  kTranspose,  // perm
  kConcat,     // axis
  kSlice,      // axis, start, end (static bounds)
  kCast,

  // Linear algebra. Names carry the operand convention (BLAS N/T letters).
  kMatmul,    // a[...,m,k] . b[...,k,n]
  kMatmulNT,  // x[...,k] . w[n,k]^T (+ bias[n]): torch.nn.Linear's layout

  // Normalisation.
  kRmsNorm,    // x / sqrt(mean(x^2) + eps) * (w + weight_offset); see Precision
  kLayerNorm,  // (x - mean) / sqrt(var + eps) * w + b
  kSoftmax,    // along `axis`

  // Position encoding: rotary embedding, rotate-half convention.
  kRope,

  // Attention against a static KV cache addressed by cache positions.
  kKvCacheWrite,  // cache[b,C,kvh,d], new[b,s,kvh,d], pos[b,s] -> cache
  kAttention,     // q[b,s,h,d], k[b,C,kvh,d], v[b,C,kvh,d], pos[b,s] -> [b,s,h,d]

  // Elementwise. Binary ops broadcast the right operand over leading dims
  // (its shape must be a suffix of the left operand's).
  kAdd,
  kMul,
  kScale,  // x * factor
  kSilu,
  kGeluTanh,
  kGeluErf,
  kRelu,

  // Reductions.
  kArgmax,  // along the last axis, which is removed; i32 result
};

enum class AttrKind : uint8_t { kInt, kFloat, kString, kInts };

struct AttrSpec {
  std::string_view name;
  AttrKind kind;
  bool required;
};

// The schema of one op: its text name, operand count range and attributes
// (printed in this order).
struct OpInfo {
  Op op;
  std::string_view name;
  int min_operands;
  int max_operands;
  std::span<const AttrSpec> attrs;

  // The op's own attribute or a common one (CommonAttrs()).
  const AttrSpec* FindAttr(std::string_view attr_name) const;
};

// Attributes every op accepts, printed after the op's own:
//   fusion: the fused kernel the node belongs to (set by the fuse-* passes;
//     codegen emits one kernel per group). It never changes what a node
//     computes.
//   offset: the byte offset of the node's value in its function's
//     activation arena (set by plan-memory).
std::span<const AttrSpec> CommonAttrs();

const OpInfo& GetOpInfo(Op op);
std::optional<Op> OpFromName(std::string_view name);
std::span<const OpInfo> AllOps();

// Valid values of the rope `scaling` attribute.
inline constexpr std::string_view kRopeScalingNone = "none";
inline constexpr std::string_view kRopeScalingLinear = "linear";
inline constexpr std::string_view kRopeScalingLlama3 = "llama3";

}  // namespace kiln

#endif  // KILN_IR_OP_H_
