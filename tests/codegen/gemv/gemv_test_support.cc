#include "tests/codegen/gemv/gemv_test_support.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>

#include "gtest/gtest.h"
#include "base/half.h"

namespace kiln::codegen::gemv::testing {

using ::kiln::testing::NormalValues;

Problem MakeProblem(Rng& rng, int64_t k, int64_t n, int64_t rows, DType dtype, bool with_bias) {
  Problem p;
  p.k = k;
  p.n = n;
  p.rows = rows;
  p.dtype = dtype;
  p.x = NormalValues(rng, rows * k, 1.0, dtype);
  p.w = NormalValues(rng, n * k, 1.0 / std::sqrt(static_cast<double>(k)), dtype);
  if (with_bias) p.bias = NormalValues(rng, n, 1.0, dtype);
  return p;
}

double AllCloseRatio(const std::vector<float>& got, const std::vector<float>& want, DType dtype) {
  double atol = 1e-5, rtol = 1.3e-6;
  if (dtype == DType::kF16) atol = 1e-3, rtol = 1e-3;
  if (dtype == DType::kBF16) atol = 1e-3, rtol = 1.6e-2;
  double sum_sq = 0;
  for (float w : want) sum_sq += static_cast<double>(w) * w;
  const double s = std::max(1.0, std::sqrt(sum_sq / std::max<size_t>(1, want.size())));
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (std::isnan(err)) return INFINITY;
    worst = std::max(worst, err / (atol * s + rtol * std::fabs(want[i])));
  }
  return worst;
}

}  // namespace kiln::codegen::gemv::testing
