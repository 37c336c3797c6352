#include "tools/gpu/probe_kernels.h"

#include <cmath>
#include <random>

#include "base/half.h"

namespace kiln::gpu {

// The kernel converts bf16 by bit manipulation instead of including
// <cuda_bf16.h>. Reasons: the source then compiles with no -I at all, so the
// probe's main path does not depend on where (or whether) the host keeps the
// toolkit headers; headers carried in the bundle could disagree with the
// host's libnvrtc, which is the NVRTC that actually runs; and the conversion
// is two lines whose rounding rule is visible right here. The header path is
// still proven, separately, by kHeaderCheckSource.
const char kAxpyBf16Source[] = R"(
// bf16 is the upper half of an IEEE float.
__device__ __forceinline__ float kiln_bf16_to_float(unsigned short bits) {
  return __uint_as_float(static_cast<unsigned int>(bits) << 16);
}

// Round to nearest, ties to even: add 0x7fff plus the lowest kept bit, then
// truncate. A carry into the exponent is the correct rounding (up to inf).
// NaN keeps its sign and top payload with the quiet bit forced, so it can
// never round into infinity.
__device__ __forceinline__ unsigned short kiln_float_to_bf16(float value) {
  unsigned int bits = __float_as_uint(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<unsigned short>((bits >> 16) | 0x0040u);
  }
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<unsigned short>(bits >> 16);
}

// out may alias y: each element is read before it is written by the same
// thread, so an in-place update is race free.
extern "C" __global__ void kiln_probe_axpy_bf16(const unsigned short* __restrict__ x,
                                                const unsigned short* y,
                                                unsigned short* out, float alpha, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    out[i] = kiln_float_to_bf16(fmaf(alpha, kiln_bf16_to_float(x[i]), kiln_bf16_to_float(y[i])));
  }
}
)";

const char kHeaderCheckSource[] = R"(
#include <cuda_bf16.h>
extern "C" __global__ void kiln_probe_header_check(const float* in, __nv_bfloat16* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __float2bfloat16_rn(in[i]);
}
)";

std::vector<uint16_t> AxpyBf16Reference(float alpha, const std::vector<uint16_t>& x,
                                        const std::vector<uint16_t>& y) {
  std::vector<uint16_t> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    out[i] = FloatToBF16(std::fma(alpha, BF16ToFloat(x[i]), BF16ToFloat(y[i])));
  }
  return out;
}

bool SameBf16(uint16_t a, uint16_t b) {
  return a == b || (std::isnan(BF16ToFloat(a)) && std::isnan(BF16ToFloat(b)));
}

int64_t CountBf16Mismatches(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b) {
  int64_t mismatches = 0;
  for (size_t i = 0; i < a.size(); ++i) mismatches += SameBf16(a[i], b[i]) ? 0 : 1;
  return mismatches;
}

std::vector<uint16_t> RandomBf16Bits(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint16_t> bits(n);
  for (uint16_t& b : bits) b = static_cast<uint16_t>(rng() >> 16);
  return bits;
}

std::vector<uint16_t> RandomBf16Uniform(std::size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<uint16_t> bits(n);
  for (uint16_t& b : bits) b = FloatToBF16(dist(rng));
  return bits;
}

}  // namespace kiln::gpu
