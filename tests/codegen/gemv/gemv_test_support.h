// Random GEMV problems and error metrics for the GEMV checks
// (gemv_check.h), which run the kernel in the emulator and on a GPU
// against the reference executor's matmul_nt.
//
// Seeds: fresh each run (std::random_device) unless KILN_TEST_SEED=<n>;
// each test's stream is fixed by the base seed and the test's name, so
// TestRng() must be called inside a running test. SeedNote() says how to
// replay.
#ifndef KILN_TESTS_CODEGEN_GEMV_GEMV_TEST_SUPPORT_H_
#define KILN_TESTS_CODEGEN_GEMV_GEMV_TEST_SUPPORT_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "tests/support/error_metrics.h"
#include "tests/support/test_seed.h"

namespace kiln::codegen::gemv::testing {

// Seeds: tests/support/test_seed.h.
using ::kiln::testing::BaseSeed;
using ::kiln::testing::Rng;
using ::kiln::testing::SeedNote;
using ::kiln::testing::TestRng;

// One problem: x ~ N(0, 1), w ~ N(0, 1/k) (a Linear layer's scale, so
// outputs are O(1) and f16 cannot overflow), bias ~ N(0, 1) or none; every
// value rounded to the dtype, as the reference executor holds tensors.
struct Problem {
  int64_t k = 0, n = 0, rows = 0;
  DType dtype = DType::kF32;
  std::vector<float> x, w, bias;
};
Problem MakeProblem(Rng& rng, int64_t k, int64_t n, int64_t rows, DType dtype, bool with_bias);

using ::kiln::testing::Nmse;  // tests/support/error_metrics.h

// The largest |a - b| / (atol s + rtol |b|) over all elements (<= 1
// passes), with vLLM's allclose defaults for `dtype` (TESTING.md): f32
// (1e-5, 1.3e-6), f16 (1e-3, 1e-3), bf16 (1e-3, 1.6e-2), and
// s = max(1, rms(b)).
double AllCloseRatio(const std::vector<float>& got, const std::vector<float>& want, DType dtype);

}  // namespace kiln::codegen::gemv::testing

#endif  // KILN_TESTS_CODEGEN_GEMV_GEMV_TEST_SUPPORT_H_
