#include "codegen/gemv/gemv_host.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>

#include "base/half.h"

namespace kiln::codegen::gemv {
namespace {

constexpr int kLanes = 32;

// __shfl_xor_sync butterfly: at offset o every lane adds lane (l ^ o)'s
// value (__fadd_rn). a + b == b + a, so all lanes end equal; lane 0's is
// returned.
float ButterflySum(std::array<float, kLanes> v) {
  for (int o = 16; o > 0; o >>= 1) {
    std::array<float, kLanes> next;
    for (int l = 0; l < kLanes; ++l) next[l] = v[l] + v[l ^ o];
    v = next;
  }
  return v[0];
}

void Require(bool ok) {
  if (!ok) std::abort();  // a caller bug: sizes disagree with the variant
}

}  // namespace

std::vector<float> GemvTwin(const GemvVariant& variant, const GemvInputs& in) {
  const GemvShape& s = variant.shape;
  const GemvTiles& t = variant.tiles;
  const int64_t k = s.k, n = in.n, rows = in.rows;
  Require(ValidateGemvShape(s).ok() && t.vec == VecElements(k, s.dtype));
  Require(rows >= 1 && rows <= s.max_rows && n >= 1);
  Require(static_cast<int64_t>(in.x.size()) == rows * k &&
          static_cast<int64_t>(in.w.size()) == n * k &&
          (in.bias.empty() || static_cast<int64_t>(in.bias.size()) == n));
  const int64_t chunks = k / t.vec;
  std::vector<float> out(static_cast<size_t>(rows * n));
  // The grid: block b, warp wp own columns j0 .. j0 + cols_per_warp - 1.
  for (int64_t b = 0; b < GemvBlocks(t, n); ++b) {
    for (int wp = 0; wp < t.warps; ++wp) {
      const int64_t j0 = (b * t.warps + wp) * t.cols_per_warp;
      if (j0 >= n) continue;
      for (int c = 0; c < t.cols_per_warp; ++c) {
        const int64_t j = j0 + c;
        if (j >= n) continue;  // loads row n - 1, stores nothing
        const float* wrow = in.w.data() + j * k;
        for (int64_t r = 0; r < rows; ++r) {
          const float* xrow = in.x.data() + r * k;
          // Lane l: chunks l, l + 32, ..., each's elements in order.
          std::array<float, kLanes> partial{};
          for (int l = 0; l < kLanes; ++l) {
            float acc = 0.0f;
            for (int64_t chunk = l; chunk < chunks; chunk += kLanes) {
              for (int e = 0; e < t.vec; ++e) {
                const int64_t kk = chunk * t.vec + e;
                acc = std::fma(xrow[kk], wrow[kk], acc);
              }
            }
            partial[l] = acc;
          }
          float sum = ButterflySum(partial);
          if (!in.bias.empty()) sum = sum + in.bias[j];
          out[r * n + j] = RoundToDType(sum, s.dtype);
        }
      }
    }
  }
  return out;
}

}  // namespace kiln::codegen::gemv
