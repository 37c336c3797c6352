#include "tests/codegen/attention/attention_test_support.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <numeric>

#include "gtest/gtest.h"
#include "base/half.h"

namespace kiln::codegen::attention::testing {

using ::kiln::testing::NormalValues;

Problem MakeProblem(Rng& rng, const ProblemSpec& spec) {
  const AttentionShape& shape = spec.shape;
  Problem p;
  static_cast<ProblemSpec&>(p) = spec;
  p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(shape.head_dim)));
  p.q = NormalValues(rng, spec.batch * spec.seq * shape.heads * shape.head_dim, 1.5, shape.dtype);
  const int64_t cache = spec.batch * spec.capacity * shape.kv_heads * shape.head_dim;
  p.k_cache = NormalValues(rng, cache, 1.0, shape.dtype);
  p.v_cache = NormalValues(rng, cache, 1.0, shape.dtype);
  for (int64_t b = 0; b < spec.batch; ++b) {
    if (spec.positions == Positions::kContiguous) {
      std::uniform_int_distribution<int64_t> start(spec.start_lo, spec.start_hi);
      const int64_t s0 = start(rng);
      for (int64_t s = 0; s < spec.seq; ++s) p.pos.push_back(static_cast<int32_t>(s0 + s));
    } else {
      std::vector<int32_t> slots(static_cast<size_t>(spec.capacity));
      std::iota(slots.begin(), slots.end(), 0);
      std::shuffle(slots.begin(), slots.end(), rng);
      p.pos.insert(p.pos.end(), slots.begin(), slots.begin() + spec.seq);
    }
  }
  return p;
}

double AllCloseRatio(const std::vector<float>& got, const std::vector<float>& want,
                     const std::vector<double>& terms, DType dtype) {
  double atol = 1e-5, rtol = 1.3e-6;
  if (dtype == DType::kF16) atol = 1e-3, rtol = 1e-3;
  if (dtype == DType::kBF16) atol = 1e-3, rtol = 1.6e-2;
  double sum_sq = 0;
  for (float w : want) sum_sq += static_cast<double>(w) * w;
  const double s = std::max(1.0, std::sqrt(sum_sq / std::max<size_t>(1, want.size())));
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double m = dtype == DType::kF32 || terms.empty() ? 0.0 : terms[i];
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (std::isnan(err)) return INFINITY;
    worst = std::max(worst, err / (atol * s + rtol * (std::fabs(want[i]) + m)));
  }
  return worst;
}

std::vector<double> AttentionTerms(const Problem& p) {
  const AttentionShape& sh = p.shape;
  const int64_t d = sh.head_dim;
  std::vector<double> terms(p.q.size(), 0.0);
  std::vector<double> z, w;
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t s = 0; s < p.seq; ++s) {
      const int64_t pos = p.pos[b * p.seq + s];
      if (pos < 0 || pos >= p.capacity) continue;
      const int64_t first = p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0;
      for (int64_t h = 0; h < sh.heads; ++h) {
        const float* q = p.q.data() + ((b * p.seq + s) * sh.heads + h) * d;
        auto row = [&](int64_t j) {
          return ((b * p.capacity + j) * sh.kv_heads + h / sh.group()) * d;
        };
        z.clear();
        for (int64_t j = first; j <= pos; ++j) {
          double dot = 0;
          for (int64_t i = 0; i < d; ++i) dot += static_cast<double>(q[i]) * p.k_cache[row(j) + i];
          z.push_back(dot * p.scale);
        }
        const double zmax = *std::max_element(z.begin(), z.end());
        w.resize(z.size());
        double sum = 0, mean_abs_z = 0;
        for (size_t j = 0; j < z.size(); ++j) sum += (w[j] = std::exp(z[j] - zmax));
        for (size_t j = 0; j < z.size(); ++j) mean_abs_z += (w[j] /= sum) * std::fabs(z[j]);
        double* t = terms.data() + ((b * p.seq + s) * sh.heads + h) * d;
        for (size_t j = 0; j < z.size(); ++j) {
          const double f = w[j] * (1 + std::fabs(z[j]) + mean_abs_z);
          for (int64_t i = 0; i < d; ++i) t[i] += f * std::fabs(p.v_cache[row(first + j) + i]);
        }
      }
    }
  }
  return terms;
}

}  // namespace kiln::codegen::attention::testing
