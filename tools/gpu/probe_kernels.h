// The probe's kernels, as CUDA C++ text for NVRTC, and their CPU references.
//
// The main kernel is a bf16 axpy, out = bf16(fma(alpha, x, y)): one fused
// multiply-add in fp32 and one round to nearest even, the same two steps on
// the CPU (std::fma, then kiln::FloatToBF16), so device and CPU results must
// agree bit for bit, not within a tolerance.
#ifndef KILN_TOOLS_GPU_PROBE_KERNELS_H_
#define KILN_TOOLS_GPU_PROBE_KERNELS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::gpu {

// extern "C" __global__ void kiln_probe_axpy_bf16(const uint16* x,
//     const uint16* y, uint16* out, float alpha, int n):
// out[i] = bf16(fma(alpha, x[i], y[i])) for i < n, bf16 stored as its bits.
// `out` may alias `y`, which is how the graph check updates y in place.
inline constexpr char kAxpyBf16Kernel[] = "kiln_probe_axpy_bf16";
extern const char kAxpyBf16Source[];

// A kernel that includes <cuda_bf16.h>. It is only compiled, to prove that
// the include directory resolves on this machine (later Kiln kernels will
// use the header; the probe's own kernel does not need it).
inline constexpr char kHeaderCheckKernel[] = "kiln_probe_header_check";
extern const char kHeaderCheckSource[];

// One launch of the axpy kernel on the CPU.
std::vector<uint16_t> AxpyBf16Reference(float alpha, const std::vector<uint16_t>& x,
                                        const std::vector<uint16_t>& y);

// The same bf16 value: identical bits, or both NaN (the GPU's fma returns
// the canonical NaN where the CPU keeps an input NaN's payload).
bool SameBf16(uint16_t a, uint16_t b);

// Positions where `a` and `b` differ by SameBf16; sizes must match.
int64_t CountBf16Mismatches(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b);

// Deterministic test data. RandomBf16Bits draws every 16-bit pattern, so
// NaN, infinities, zeros of both signs and subnormals all occur; the uniform
// variant draws in [lo, hi) and rounds to bf16 (which may reach hi).
std::vector<uint16_t> RandomBf16Bits(std::size_t n, uint32_t seed);
std::vector<uint16_t> RandomBf16Uniform(std::size_t n, float lo, float hi, uint32_t seed);

}  // namespace kiln::gpu

#endif  // KILN_TOOLS_GPU_PROBE_KERNELS_H_
