// PanelGemmRows (quant_gemm.h): against GemmRows on the same activations,
// at sizes that leave partial strips, row groups, chunks and k slices; a
// row's bits independent of the rows beside it and of the column split;
// nothing written outside the asked columns; and which products it takes.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "base/quant_blocks.h"
#include "gtest/gtest.h"
#include "runtime/cpu/cpu_features.h"
#include "runtime/cpu/quant_gemm.h"
#include "tests/runtime/cpu/random_weights.h"
#include "tests/support/test_seed.h"

namespace kiln::cpu {
namespace {

using testing::RandomWeights;
using testing::SeedNote;
using testing::TestRng;

constexpr DType kPanelTypes[] = {DType::kQ8_0, DType::kQ6_K, DType::kF16, DType::kBF16,
                                 DType::kF32};

bool HaveAvx2() {
  if (DetectSimdLevel() >= SimdLevel::kAvx2) return true;
  std::printf("skipping: this CPU lacks AVX2\n");
  return false;
}

struct Product {
  DType t;
  int64_t m, n, k;
  std::vector<float> x, wf;  // wf: the weights dequantized
  std::vector<uint8_t> w, act;  // act: x's 8-bit blocks (block types)

  const void* ActOrX() const { return IsBlockQuantized(t) ? act.data() : (const void*)x.data(); }
};

Product MakeProduct(DType t, int64_t m, int64_t n, int64_t k, testing::Rng& rng) {
  Product p{t,
            m,
            n,
            k,
            std::vector<float>(m * k),
            std::vector<float>(n * k),
            RandomWeights(t, n, k, rng),
            std::vector<uint8_t>(ActivationBytes(t, m, k))};
  std::normal_distribution<float> normal(0, 1);
  for (auto& v : p.x) v = normal(rng);
  DequantizeRow(t, p.w.data(), n * k, p.wf.data());
  PrepareActivations(SimdLevel::kAvx2, t, p.x.data(), m, k, 0, m, p.act.data());
  return p;
}

// Columns [n_begin, n_end) of the panels' product into `out` ([m, n + 3]),
// through a buffer of sentinels of its own: no column outside the share
// may be written.
void RunColumns(const Product& p, int64_t n_begin, int64_t n_end, std::vector<float>& out) {
  const int64_t ldo = p.n + 3;
  std::vector<float> mine(p.m * ldo, -7);
  std::vector<uint8_t> scratch(PanelScratchBytes(p.m));
  PanelGemmRows(SimdLevel::kAvx2, p.t, p.ActOrX(), p.w.data(), p.m, p.k, n_begin, n_end,
                mine.data(), ldo, scratch.data());
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < ldo; ++j) {
      const float v = mine[i * ldo + j];
      if (j >= n_begin && j < n_end) {
        out[i * ldo + j] = v;
      } else {
        ASSERT_EQ(v, -7.0f) << "wrote [" << i << ", " << j << "] outside [" << n_begin << ", "
                            << n_end << ")";
      }
    }
  }
}

std::vector<float> Sentinels(const Product& p) { return std::vector<float>(p.m * (p.n + 3), -7); }

// k: one slice of 256 columns, and partial last slices (q8_0 in whole
// blocks of 32, the float types in multiples of 8); q6_k's super-blocks
// are slices.
std::vector<int64_t> Ks(DType t) {
  if (t == DType::kQ6_K) return {256, 768};
  if (t == DType::kQ8_0) return {32, 288, 544};
  return {32, 296, 552};
}

// Against GemmRows on the same activations (8-bit blocks for the block
// types, x for the float types): the same sums, so within 1e-5 sum |x_e w_e|,
// the bound quant_gemm_test puts on f32 reordering; GemmRows is checked
// against float64 there. m: whole groups of 6 rows and partial ones; n:
// partial strips of 16, and at 300 a share of 200 rows, two chunks of 128;
// each share's columns alone written.
TEST(PanelGemm, MatchesTheIntegerTiles) {
  if (!HaveAvx2()) return;
  auto rng = TestRng();
  for (DType t : kPanelTypes) {
    for (int64_t k : Ks(t)) {
      for (int64_t n : {1, 17, 300}) {
        for (int64_t m : {64, 71}) {
          const Product p = MakeProduct(t, m, n, k, rng);
          const int64_t ldo = n + 3;
          std::vector<float> out = Sentinels(p), want(m * n);
          RunColumns(p, 0, n / 3, out);  // two threads' shares
          RunColumns(p, n / 3, n, out);
          GemmRows(SimdLevel::kAvx2, t, p.ActOrX(), p.w.data(), m, n, k, 0, n, want.data(), n);
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < n; ++j) {
              double abs_sum = 0;
              for (int64_t e = 0; e < k; ++e)
                abs_sum += std::fabs(p.x[i * k + e] * p.wf[j * k + e]);
              ASSERT_NEAR(out[i * ldo + j], want[i * n + j], 1e-5 * abs_sum)
                  << DTypeName(t) << " m " << m << " n " << n << " k " << k << " [" << i << ", "
                  << j << "] " << SeedNote();
            }
          }
        }
      }
    }
  }
}

// Row i of a 64-row product has the bits it has in a 77-row product (other
// groups of 6, another tail), and a column has the same bits whatever the
// split of the weight rows (strips start at n_begin).
TEST(PanelGemm, RowsAndColumnSplitsAreIndependent) {
  if (!HaveAvx2()) return;
  auto rng = TestRng();
  for (DType t : kPanelTypes) {
    const int64_t k = Ks(t)[1], n = 37;
    const Product wide = MakeProduct(t, 77, n, k, rng);
    Product narrow = wide;
    narrow.m = 64;
    narrow.x.resize(64 * k);
    narrow.act.resize(ActivationBytes(t, 64, k));
    std::vector<float> a = Sentinels(wide), b = Sentinels(narrow);
    RunColumns(wide, 0, n, a);
    const int64_t cuts[] = {0, 1, 6, 23, n};  // shares of 1, 5, 17 and 14 rows
    for (int s = 0; s + 1 < 5; ++s) RunColumns(narrow, cuts[s], cuts[s + 1], b);
    for (int64_t i = 0; i < 64; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        ASSERT_EQ(std::bit_cast<uint32_t>(a[i * (n + 3) + j]),
                  std::bit_cast<uint32_t>(b[i * (n + 3) + j]))
            << DTypeName(t) << " [" << i << ", " << j << "] " << SeedNote();
      }
    }
  }
}

TEST(PanelGemm, TakesPrefillsOfItsTypesOnAvx2Only) {
  EXPECT_TRUE(PanelGemmTakes(SimdLevel::kAvx2, DType::kQ8_0, kPanelMinRows, 64));
  EXPECT_TRUE(PanelGemmTakes(SimdLevel::kAvx2, DType::kF16, 512, 2048));
  EXPECT_FALSE(PanelGemmTakes(SimdLevel::kAvx2, DType::kQ8_0, kPanelMinRows - 1, 64))
      << "too few rows to pay for the packing";
  EXPECT_TRUE(PanelGemmTakes(SimdLevel::kAvx2, DType::kQ6_K, 512, 2048));
  EXPECT_FALSE(PanelGemmTakes(SimdLevel::kAvx2, DType::kQ4_0, 512, 2048));
  EXPECT_FALSE(PanelGemmTakes(SimdLevel::kAvx2, DType::kQ4_K, 512, 2048)) << "keeps its 8-row tile";
  EXPECT_FALSE(PanelGemmTakes(SimdLevel::kAvx2, DType::kQ8_0, 512, 40)) << "k not whole blocks";
  EXPECT_FALSE(PanelGemmTakes(SimdLevel::kAvx2, DType::kQ6_K, 512, 264)) << "k not whole blocks";
  EXPECT_FALSE(PanelGemmTakes(SimdLevel::kAvx2, DType::kF32, 512, 2044)) << "k not a multiple of 8";
  EXPECT_FALSE(PanelGemmTakes(SimdLevel::kAvx512, DType::kQ8_0, 512, 2048));
  EXPECT_FALSE(PanelGemmTakes(SimdLevel::kScalar, DType::kQ8_0, 512, 2048));
}

}  // namespace
}  // namespace kiln::cpu
