// Random weight matrices for the CPU kernels' tests (quant_gemm_test,
// panel_gemm_test).
#ifndef KILN_TESTS_RUNTIME_CPU_RANDOM_WEIGHTS_H_
#define KILN_TESTS_RUNTIME_CPU_RANDOM_WEIGHTS_H_

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "base/dtype.h"
#include "base/half.h"
#include "base/quant_blocks.h"
#include "tests/support/test_seed.h"

namespace kiln::testing {

// Random weight rows: float types from N(0, 1); block types as random bytes
// (every code value, q8_0's -128 included) with random finite f16 scales.
inline std::vector<uint8_t> RandomWeights(DType t, int64_t n, int64_t k, Rng& rng) {
  const int64_t count = n * k;
  if (!IsBlockQuantized(t)) {
    std::normal_distribution<float> normal(0, 1);
    std::vector<float> v(count);
    for (auto& x : v) x = normal(rng);
    return EncodeFloats(v, t);
  }
  std::vector<uint8_t> b(*StorageBytes(t, count));
  for (auto& v : b) v = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  for (int64_t i = 0; i < count / BlockSize(t); ++i) {
    uint8_t* p = b.data() + i * BlockBytes(t);
    const uint16_t d = FloatToF16(u(rng)), m = FloatToF16(u(rng));
    std::memcpy(p + (t == DType::kQ6_K ? kQ6KDAt : 0), &d, 2);
    if (t == DType::kQ4_1 || t == DType::kQ4_K || t == DType::kQ5_K) std::memcpy(p + 2, &m, 2);
  }
  return b;
}

}  // namespace kiln::testing

#endif  // KILN_TESTS_RUNTIME_CPU_RANDOM_WEIGHTS_H_
