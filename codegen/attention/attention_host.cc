#include "codegen/attention/attention_host.h"

#include <cmath>

#include "base/half.h"

namespace kiln::codegen::attention {

std::vector<float> RopeInverseFrequencies(const RopeParams& params, int head_dim) {
  // Same f32 operations, in the same order, as the reference executor's
  // rope (runtime/reference/ops_attention.cc), so the tables agree bit for bit.
  constexpr float kTwoPi = 6.283185307179586f;
  std::vector<float> inv_freq(static_cast<size_t>(head_dim / 2));
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv_freq[i] = 1.0f / std::pow(params.theta, exponent);
  }
  if (params.scaling == "linear") {
    for (float& f : inv_freq) f /= params.factor;
  } else if (params.scaling == "llama3") {
    // Llama 3.1: wavelengths above original/low_freq_factor are divided by
    // factor, those below original/high_freq_factor kept, and the band in
    // between blended linearly in original/wavelength.
    const float original = static_cast<float>(params.original_max_position);
    const float low = params.low_freq_factor, high = params.high_freq_factor;
    for (float& f : inv_freq) {
      const float wavelen = kTwoPi / f;
      if (wavelen > original / low) {
        f = f / params.factor;
      } else if (wavelen >= original / high) {
        const float smooth = (original / wavelen - low) / (high - low);
        f = (1.0f - smooth) * f / params.factor + smooth * f;
      }
    }
  }
  return inv_freq;
}

std::vector<float> RopeCosSinTable(std::span<const float> inv_freq, int64_t capacity, DType dtype) {
  const int64_t half = static_cast<int64_t>(inv_freq.size()), d = 2 * half;
  std::vector<float> table(static_cast<size_t>(capacity * d));
  for (int64_t p = 0; p < capacity; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(p) * inv_freq[i];
      table[p * d + i] = RoundToDType(std::cos(angle), dtype);
      table[p * d + half + i] = RoundToDType(std::sin(angle), dtype);
    }
  }
  return table;
}

}  // namespace kiln::codegen::attention
