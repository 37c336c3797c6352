// What the host computes for the attention kernels: the rotary-embedding
// tables of the fused RoPE + KV-cache write kernel (attention_cuda.h). The
// kernel reads cos/sin from a table built once per engine on the host
// (codegen/plan), so nothing transcendental runs on the device and its
// rotation equals the reference executor's rope bit for bit.
#ifndef KILN_CODEGEN_ATTENTION_ATTENTION_HOST_H_
#define KILN_CODEGEN_ATTENTION_ATTENTION_HOST_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace kiln::codegen::attention {

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
std::vector<float> RopeCosSinTable(std::span<const float> inv_freq, int64_t capacity, DType dtype);

}  // namespace kiln::codegen::attention

#endif  // KILN_CODEGEN_ATTENTION_ATTENTION_HOST_H_
