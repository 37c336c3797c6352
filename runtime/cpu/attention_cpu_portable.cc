// The portable attention kernel: plain C++, the kernels' own spec and the
// path of a CPU without AVX2. Sums run in index order, like the reference.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "base/dtype.h"
#include "base/half.h"
#include "runtime/cpu/attention_cpu_internal.h"
#include "runtime/cpu/attention_cpu_kernel.h"

namespace kiln::cpu::attention_internal {
namespace {

struct PortableOps {
  static void ToF32(const void* src, DType dtype, int64_t n, float* dst) {
    ToF32Scalar(src, dtype, n, dst);
  }

  static void FromF32(const float* src, int64_t n, DType dtype, void* dst) {
    FromF32Scalar(src, n, dtype, dst);
  }

  static void Scores(const float* q, const float* k, int64_t stride, int64_t n, int64_t d,
                     float* s) {
    for (int64_t j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (int64_t i = 0; i < d; ++i) sum += q[i] * k[j * stride + i];
      s[j] = sum;
    }
  }

  static void ScaleScores(float* s, int64_t n, DType dtype, float scale) {
    for (int64_t i = 0; i < n; ++i) s[i] = RoundToDType(RoundToDType(s[i], dtype) * scale, dtype);
  }

  static float Max(const float* s, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, s[i]);
    return m;
  }

  static float ExpScores(float* s, int64_t n, float m, DType dtype) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      const float p = std::exp(s[i] - m);
      sum += p;
      s[i] = RoundToDType(p, dtype);
    }
    return sum;
  }

  static void Accumulate(float* acc, float alpha, const float* p, const float* v, int64_t stride,
                         int64_t n, int64_t d) {
    for (int64_t x = 0; x < d; ++x) acc[x] *= alpha;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t x = 0; x < d; ++x) acc[x] += p[i] * v[i * stride + x];
    }
  }
};

}  // namespace

void AttentionItemsPortable(const ItemArgs& args, int64_t begin, int64_t end) {
  RunAttentionItems<PortableOps>(args, begin, end);
}

}  // namespace kiln::cpu::attention_internal
