// The helpers generated host kernels (codegen/render_host.cc) call: the
// host counterparts of the CUDA prelude's (codegen/render_cuda.cc). Conversions
// are base/half.h's round-to-nearest-even ones, which are what PTX's
// cvt.rn instructions compute; the math functions are the ones the
// reference executor calls; the block reductions replay the CUDA
// warp-shuffle tree on the per-thread partials.
#ifndef KILN_CODEGEN_HOST_RUNTIME_H_
#define KILN_CODEGEN_HOST_RUNTIME_H_

#include <cmath>
#include <limits>
#include <span>

#include "base/half.h"

namespace kiln::codegen::host {

inline float kiln_h2f(unsigned short h) { return F16ToFloat(h); }
inline unsigned short kiln_f2h(float f) { return FloatToF16(f); }
inline float kiln_bf2f(unsigned short h) { return BF16ToFloat(h); }
inline unsigned short kiln_f2bf(float f) { return FloatToBF16(f); }
inline float kiln_round_f16(float f) { return kiln_h2f(kiln_f2h(f)); }
inline float kiln_round_bf16(float f) { return kiln_bf2f(kiln_f2bf(f)); }
inline float kiln_exp(float x) { return std::exp(x); }
inline float kiln_tanh(float x) { return std::tanh(x); }
inline float kiln_erf(float x) { return std::erf(x); }
inline double kiln_sqrt(double x) { return std::sqrt(x); }
inline float kiln_neg_inf() { return -std::numeric_limits<float>::infinity(); }

// __shfl_xor_sync butterfly over 32 lanes: at offset o lane l combines its
// value with lane l^o's. Returns lane 0's value (every lane's: see
// CudaPrelude()).
template <typename T, typename Combine>
T HostWarpButterfly(T (&lanes)[32], Combine combine) {
  for (int o = 16; o > 0; o >>= 1) {
    T next[32];
    for (int l = 0; l < 32; ++l) next[l] = combine(lanes[l], lanes[l ^ o]);
    for (int l = 0; l < 32; ++l) lanes[l] = next[l];
  }
  return lanes[0];
}

// kiln_block_sum of the CUDA prelude on `threads` (a multiple of 32)
// per-thread partials: a butterfly per warp, then one over the warp totals
// padded with zeros.
inline double kiln_block_sum(const double* partials, int threads) {
  auto add = [](double a, double b) { return a + b; };
  double totals[32];
  const int warps = threads / 32;
  for (int w = 0; w < 32; ++w) {
    if (w >= warps) {
      totals[w] = 0.0;
      continue;
    }
    double lanes[32];
    for (int l = 0; l < 32; ++l) lanes[l] = partials[w * 32 + l];
    totals[w] = HostWarpButterfly(lanes, add);
  }
  return HostWarpButterfly(totals, add);
}

inline void kiln_argmax_combine(float& v, int& i, float ov, int oi) {
  const bool vn = v != v, on = ov != ov;
  const bool take = (vn || on) ? (on && (!vn || oi < i)) : (ov > v || (ov == v && oi < i));
  if (take) {
    v = ov;
    i = oi;
  }
}

struct ArgmaxPair {
  float v;
  int i;
};

inline int kiln_block_argmax(const float* values, const int* indices, int threads) {
  auto combine = [](ArgmaxPair a, ArgmaxPair b) {
    kiln_argmax_combine(a.v, a.i, b.v, b.i);
    return a;
  };
  ArgmaxPair totals[32];
  const int warps = threads / 32;
  for (int w = 0; w < 32; ++w) {
    if (w >= warps) {
      totals[w] = {kiln_neg_inf(), 0x7fffffff};
      continue;
    }
    ArgmaxPair lanes[32];
    for (int l = 0; l < 32; ++l) lanes[l] = {values[w * 32 + l], indices[w * 32 + l]};
    totals[w] = HostWarpButterfly(lanes, combine);
  }
  return HostWarpButterfly(totals, combine).i;
}

// A generated host kernel and the IR it implements (KernelDesc::ir). Its
// buffers are the IR function's parameters, then its results, then, when
// `has_fault`, the i32 fault flag of an embedding gather.
struct HostKernel {
  const char* suite;
  const char* name;
  void (*fn)(void* const* buffers, long long rows);
  const char* ir;
  bool has_fault;
};

// Defined by the file //codegen:gen_kernels --host_out writes.
std::span<const HostKernel> GeneratedHostKernels();

}  // namespace kiln::codegen::host

#endif  // KILN_CODEGEN_HOST_RUNTIME_H_
