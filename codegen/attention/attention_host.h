// CPU twins of the attention kernels (attention_cuda.h): the same
// computation, operation by operation. Each twin walks the kernel's grid,
// blocks, warps and lanes in loops, loads the same (zero-padded) tiles,
// forms the same fmaf chains in the same order, reduces across lanes with
// the same xor butterfly and rounds at the same points; std::fma, std::exp
// and base/half.h's round-to-nearest-even stand for fmaf, expf and cvt.rn.
// A test of a twin against the reference executor is therefore a test of
// the kernel's algorithm; the kernels themselves have not run on a GPU yet
// (docs/CODEGEN.md, "Attention kernels").
//
// Tensors are held as the reference executor holds them (HostTensor
// floats): f32 values exactly representable in the shape's dtype, in the
// layouts attention_cuda.h lists. Positions are int32.
#ifndef KILN_CODEGEN_ATTENTION_ATTENTION_HOST_H_
#define KILN_CODEGEN_ATTENTION_ATTENTION_HOST_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "codegen/attention/attention_config.h"

namespace kiln::codegen::attention {

// The launch arguments of an attention kernel and the tensors it reads.
struct AttentionInputs {
  int64_t batch = 1;
  int64_t seq = 1;
  int64_t capacity = 1;
  float scale = 1.0f;
  int64_t window = 0;              // 0: no sliding window
  std::span<const float> q;        // [batch, seq, heads, head_dim]
  std::span<const float> k_cache;  // [batch, capacity, kv_heads, head_dim]
  std::span<const float> v_cache;
  std::span<const int32_t> pos;  // [batch, seq]
};

// An output and the kernel's fault flag (a position outside the cache).
struct TwinOutput {
  std::vector<float> out;
  bool fault = false;
};

// The prefill kernel: normalised output [batch, seq, heads, head_dim].
TwinOutput FlashPrefillTwin(const AttentionShape& shape, const TileConfig& tiles,
                            const AttentionInputs& in);

// The decode kernel's partials, unnormalised, per (token, head, split).
struct DecodePartials {
  int splits = 1;
  std::vector<float> acc;  // [batch, seq, heads, splits, head_dim]
  std::vector<float> ml;   // [batch, seq, heads, splits, 2]: running max, sum
  bool fault = false;
};
DecodePartials SplitKvDecodeTwin(const AttentionShape& shape, const TileConfig& tiles,
                                 const AttentionInputs& in, int splits);

// The combine kernel: the partials merged into [batch, seq, heads, head_dim].
std::vector<float> DecodeCombineTwin(const AttentionShape& shape, const DecodePartials& partials);

// Rotary embedding parameters, as the rope op's attributes (ir/op.cc).
struct RopeParams {
  float theta = 10000.0f;
  std::string scaling = "none";  // none, linear, llama3
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int64_t original_max_position = 8192;
};

// inv_freq[i] = theta^(-2i/d), then scaled, in f32 exactly as the reference
// executor computes it (Transformers' modeling_rope_utils).
std::vector<float> RopeInverseFrequencies(const RopeParams& params, int head_dim);

// The kernel's cos/sin input [capacity, head_dim]: at slot p, cos(p f_i) for
// i < head_dim/2 then sin(p f_i), the angle p * f_i in f32 and each value
// rounded to `dtype` (ir/op.h: cos and sin are held in the model dtype).
// Built once per engine on the host.
std::vector<float> RopeCosSinTable(std::span<const float> inv_freq, int64_t capacity, DType dtype);

// The fused RoPE + KV-cache write kernel: returns the rotated q and writes
// the rotated k and the unchanged v into the caches at each token's slot.
struct RopeKvInputs {
  int64_t batch = 1;
  int64_t seq = 1;
  int64_t capacity = 1;
  std::span<const float> q;  // [batch, seq, heads, head_dim]
  std::span<const float> k;  // [batch, seq, kv_heads, head_dim]
  std::span<const float> v;
  std::span<const int32_t> pos;    // [batch, seq]
  std::span<const float> cos_sin;  // [capacity, head_dim]
};
TwinOutput RopeKvWriteTwin(const AttentionShape& shape, const RopeKvInputs& in,
                           std::span<float> k_cache, std::span<float> v_cache);

}  // namespace kiln::codegen::attention

#endif  // KILN_CODEGEN_ATTENTION_ATTENTION_HOST_H_
