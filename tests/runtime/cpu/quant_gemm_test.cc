// quant_gemm at every SIMD level the CPU has: against float64 x . dequant(w)
// (NMSE bound from the 8-bit activation rounding), and each SIMD level
// against the scalar spec (same integer sums, f32 reordering only), at odd
// sizes with fresh random data each run.
#include "runtime/cpu/quant_gemm.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "base/half.h"
#include "base/quant_blocks.h"
#include "gtest/gtest.h"
#include "tests/runtime/cpu/random_weights.h"
#include "tests/support/test_seed.h"

namespace kiln::cpu {
namespace {

using testing::RandomWeights;
using testing::SeedNote;
using testing::TestRng;

constexpr SimdLevel kLevels[] = {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512};
constexpr DType kWeightTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16,
                                  DType::kQ8_0, DType::kQ4_0, DType::kQ4_1,
                                  DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

bool Supported(SimdLevel l) {
  if (l <= DetectSimdLevel()) return true;
  std::printf("skipping %s: this CPU lacks it\n", std::string(SimdLevelName(l)).c_str());
  return false;
}

struct Case {
  DType t;
  int64_t m, n, k;
  std::vector<float> x;
  std::vector<uint8_t> w;
  std::vector<float> wf;  // dequantised
  std::vector<uint8_t> act;
};

Case MakeCase(DType t, int64_t m, int64_t n, int64_t k, testing::Rng& rng) {
  Case c{t, m, n, k, std::vector<float>(m * k), RandomWeights(t, n, k, rng),
         std::vector<float>(n * k), {}};
  std::normal_distribution<float> normal(0, 1);
  for (auto& v : c.x) v = normal(rng);
  DequantizeRow(t, c.w.data(), n * k, c.wf.data());
  c.act.resize(ActivationBytes(t, m, k));
  return c;
}

// out = x . w^T at `level`, in two thread-like halves of the rows of w and
// of x, with a row stride wider than n (sentinels must survive).
std::vector<float> RunGemm(SimdLevel level, Case& c) {
  const int64_t ldo = c.n + 3;
  std::vector<float> out(c.m * ldo, -7.0f);
  PrepareActivations(level, c.t, c.x.data(), c.m, c.k, 0, c.m / 2, c.act.data());
  PrepareActivations(level, c.t, c.x.data(), c.m, c.k, c.m / 2, c.m, c.act.data());
  const void* in = IsBlockQuantized(c.t) ? static_cast<const void*>(c.act.data()) : c.x.data();
  GemmRows(level, c.t, in, c.w.data(), c.m, c.n, c.k, 0, c.n / 3, out.data(), ldo);
  GemmRows(level, c.t, in, c.w.data(), c.m, c.n, c.k, c.n / 3, c.n, out.data(), ldo);
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = c.n; j < ldo; ++j) EXPECT_EQ(out[i * ldo + j], -7.0f) << "wrote past n";
  }
  std::vector<float> dense(c.m * c.n);
  for (int64_t i = 0; i < c.m; ++i) {
    std::memcpy(&dense[i * c.n], &out[i * ldo], c.n * sizeof(float));
  }
  return dense;
}

// Odd block counts; 8448 = 33 super-blocks is longer than the AVX-512
// prefill's packed rows (64 quads), so it takes the long-row path.
std::vector<int64_t> Ks(DType t) {
  if (BlockSize(t) == 256) return {256, 768, 8448};
  if (!IsBlockQuantized(t)) return {32, 96, 288, 2336, 37, 1001};  // and tails of 5, 9
  // 8224: 257 blocks, 65 quads, past the AVX-512 packed path's 64, so rows
  // of 2-4 there run the decode tile (and a 1-block tail).
  return {32, 96, 288, 2336, 8224};
}

// Against float64 on the dequantised weights. Block types see x rounded to
// 8 bits per block of 32: |x - d q| <= d / 2 with d = max|x_block| / 127, so
// each output is within sum_e |w_e| d_e / 2 (plus f32 rounding) of the
// float64 value, checked element by element; and over a case the NMSE,
// normalised by sum (x_e w_e)^2, is about 2e-5 for Gaussian rows (the
// uniform rounding error's d^2 / 12): bound 1e-4 once a case has >= 7
// activation rows (independent roundings) and >= 17 outputs a row. Float weights: f32 rounding only.
TEST(QuantGemm, MatchesFloat64OnDequantisedWeights) {
  auto rng = TestRng();
  for (SimdLevel level : kLevels) {
    if (!Supported(level)) continue;
    for (DType t : kWeightTypes) {
      for (int64_t k : Ks(t)) {
        for (int64_t n : {1, 3, 17, 100}) {
          for (int64_t m : {1, 3, 7, 33}) {
            Case c = MakeCase(t, m, n, k, rng);
            std::vector<float> out = RunGemm(level, c);
            std::vector<double> step(m * k, 0.0);  // d / 2 of each x's block
            if (IsBlockQuantized(t)) {
              for (int64_t b = 0; b < m * k / 32; ++b) {
                double amax = 0;
                for (int e = 0; e < 32; ++e) amax = std::max(amax, std::fabs(double(c.x[32 * b + e])));
                for (int e = 0; e < 32; ++e) step[32 * b + e] = amax / 127 / 2;
              }
            }
            double err2 = 0, norm2 = 0;
            for (int64_t i = 0; i < m; ++i) {
              for (int64_t j = 0; j < n; ++j) {
                double ref = 0, bound = 0, abs_sum = 0;
                for (int64_t e = 0; e < k; ++e) {
                  const double xe = c.x[i * k + e], we = c.wf[j * k + e];
                  ref += xe * we;
                  bound += std::fabs(we) * step[i * k + e];
                  abs_sum += std::fabs(xe * we);
                  norm2 += xe * we * xe * we;
                }
                const double diff = out[i * n + j] - ref;
                err2 += diff * diff;
                ASSERT_LE(std::fabs(diff), bound * 1.001 + 1e-5 * abs_sum)
                    << SimdLevelName(level) << " " << DTypeName(t) << " m " << m << " n " << n
                    << " k " << k << " [" << i << ", " << j << "] " << SeedNote();
              }
            }
            const double limit = IsBlockQuantized(t) ? 1e-4 : 1e-10;
            if (m >= 7 && n >= 17) {
              ASSERT_LE(err2 / norm2, limit)
                  << SimdLevelName(level) << " " << DTypeName(t) << " m " << m << " n " << n
                  << " k " << k << " " << SeedNote();
            }
          }
        }
      }
    }
  }
}

// SIMD levels against the scalar spec: the integer sums are the same, so the
// results differ by f32 reordering only: |a - b| <= 1e-5 sum |x_e w_e|.
TEST(QuantGemm, SimdLevelsMatchScalar) {
  auto rng = TestRng();
  for (SimdLevel level : {SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (!Supported(level)) continue;
    for (DType t : kWeightTypes) {
      for (int64_t k : Ks(t)) {
        // One row: the decode tiles. Rows of 2 and 7: several activation
        // rows a tile, full and partial; on AVX-512 the packed path, or past
        // 64 quads of a row the decode tile.
        for (int64_t m : {1, 2, 7}) {
          Case c = MakeCase(t, m, 17, k, rng);
          std::vector<float> want = RunGemm(SimdLevel::kScalar, c);
          std::vector<float> got = RunGemm(level, c);
          for (int64_t i = 0; i < c.m; ++i) {
            for (int64_t j = 0; j < c.n; ++j) {
              double abs_sum = 0;
              for (int64_t e = 0; e < k; ++e)
                abs_sum += std::fabs(c.x[i * k + e] * c.wf[j * k + e]);
              ASSERT_NEAR(got[i * c.n + j], want[i * c.n + j], 1e-5 * abs_sum)
                  << SimdLevelName(level) << " " << DTypeName(t) << " k " << k << " row " << i
                  << " col " << j << " " << SeedNote();
            }
          }
        }
      }
    }
  }
}

// An activation row gets the same bits whatever the rows beside it
// (onednn_sgemm.h's contract for Kiln's kernels): row i of an m-row product
// equals the one-row product of that row alone, so a verify step's or a
// prefill's logits equal decode's. m = 2, 3, 5, 7 and 9 put rows in full
// tiles and in tail tiles of 1 to 3 rows.
TEST(QuantGemm, ActivationRowsAreIndependent) {
  auto rng = TestRng();
  for (SimdLevel level : kLevels) {
    if (!Supported(level)) continue;
    for (DType t : kWeightTypes) {
      // An odd count of super-blocks, and rows longer than AVX-512's
      // packed prefill (64 quads), which then takes its long-row path.
      const std::vector<int64_t> ks =
          BlockSize(t) == 256 ? std::vector<int64_t>{768, 8448} : std::vector<int64_t>{96, 8224};
      for (int64_t k : ks) {
        for (int64_t m : {2, 3, 5, 7, 9}) {  // whole tiles of 4 and tails of 1-3 rows
          Case c = MakeCase(t, m, 11, k, rng);
          std::vector<float> whole = RunGemm(level, c);
          for (int64_t i = 0; i < m; ++i) {
            Case one = c;
            one.m = 1;
            one.x.assign(c.x.begin() + i * k, c.x.begin() + (i + 1) * k);
            one.act.assign(ActivationBytes(t, 1, k), 0);
            std::vector<float> row = RunGemm(level, one);
            for (int64_t j = 0; j < c.n; ++j) {
              ASSERT_EQ(std::bit_cast<uint32_t>(whole[i * c.n + j]),
                        std::bit_cast<uint32_t>(row[j]))
                  << SimdLevelName(level) << " " << DTypeName(t) << " k " << k << " m " << m
                  << " row " << i << " col " << j << " " << SeedNote();
            }
          }
        }
      }
    }
  }
}

// A weight row split at any point computes the same values (the tiles of
// several weight rows and of one do the same per-row arithmetic). n = 19:
// q4_0's, q4_1's and q4_k's groups of 8 rows and 3 single rows, the other formats'
// tiles of 4 and 2; m = 1 (decode), 3 (a tail tile alone), 7 (a whole tile and a
// tail of 3).
TEST(QuantGemm, RowRangesAreIndependent) {
  auto rng = TestRng();
  for (SimdLevel level : kLevels) {
    if (!Supported(level)) continue;
    for (DType t :
         {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ4_K, DType::kQ6_K, DType::kF16}) {
      for (int64_t m : {1, 3, 7}) {
        Case c = MakeCase(t, m, 19, BlockSize(t) == 256 ? 512 : 288, rng);
        std::vector<float> whole(c.m * c.n), parts(c.m * c.n);
        PrepareActivations(level, t, c.x.data(), c.m, c.k, 0, c.m, c.act.data());
        const void* in = IsBlockQuantized(t) ? static_cast<const void*>(c.act.data()) : c.x.data();
        GemmRows(level, t, in, c.w.data(), c.m, c.n, c.k, 0, c.n, whole.data(), c.n);
        for (int64_t j = 0; j < c.n; ++j) {
          GemmRows(level, t, in, c.w.data(), c.m, c.n, c.k, j, j + 1, parts.data(), c.n);
        }
        EXPECT_EQ(whole, parts) << SimdLevelName(level) << " " << DTypeName(t) << " m " << m << " "
                                << SeedNote();
      }
    }
  }
}

// The byte range [first, end) of a block that holds its scales (and mins):
// everything else is codes.
std::pair<int64_t, int64_t> ScaleBytes(DType t) {
  switch (t) {
    case DType::kQ4_1:
      return {0, 4};
    case DType::kQ4_K:
    case DType::kQ5_K:
      return {0, kQ4KQsAt};  // d, dmin, 12 bytes of 6-bit scales
    case DType::kQ6_K:
      return {kQ6KScalesAt, kQ6KDAt + 2};
    default:
      return {0, 2};  // q8_0, q4_0: d
  }
}

// Codes filled with one byte against activations at +-127, where the
// integer lanes are largest: all-ones bytes are the top code of every
// unsigned format (q4_0's, q4_1's and q4_k's tiles then sum a unit's vpmaddubsw pairs
// in int16 up to 8 x 2 x 15 x 127 = 30480 for finite activations), 0x80 and 0x7F
// q8_0's extremes (-128 and 127), 0x00 the bottom code. The scales keep
// RandomWeights' values. Each SIMD level must match the scalar spec (the
// bound of SimdLevelsMatchScalar), and the outputs must not all be zero.
TEST(QuantGemm, ExtremeCodesMatchScalar) {
  auto rng = TestRng();
  for (SimdLevel level : {SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (!Supported(level)) continue;
    for (DType t : kWeightTypes) {
      if (!IsBlockQuantized(t)) continue;
      for (uint8_t fill : {uint8_t{0xFF}, uint8_t{0x80}, uint8_t{0x7F}, uint8_t{0x00}}) {
        if (t == DType::kQ8_0 && fill == 0x00) continue;  // every weight 0
        for (bool mixed_signs : {false, true}) {
          const int64_t k = BlockSize(t) == 256 ? 512 : 288;
          Case c = MakeCase(t, 5, 19, k, rng);
          const std::vector<uint8_t> random = c.w;
          std::fill(c.w.begin(), c.w.end(), fill);
          const auto [first, end] = ScaleBytes(t);
          for (int64_t at = 0; at < static_cast<int64_t>(c.w.size()); at += BlockBytes(t)) {
            std::memcpy(&c.w[at + first], &random[at + first], end - first);
          }
          DequantizeRow(t, c.w.data(), c.n * k, c.wf.data());
          for (int64_t e = 0; e < c.m * k; ++e) {
            c.x[e] = mixed_signs && (e / 3) % 2 ? -1.0f : 1.0f;
          }
          std::vector<float> want = RunGemm(SimdLevel::kScalar, c);
          std::vector<float> got = RunGemm(level, c);
          ASSERT_TRUE(std::any_of(want.begin(), want.end(), [](float v) { return v != 0; }))
              << DTypeName(t) << " fill " << int{fill};
          for (int64_t i = 0; i < c.m; ++i) {
            for (int64_t j = 0; j < c.n; ++j) {
              double abs_sum = 0;
              for (int64_t e = 0; e < k; ++e) {
                abs_sum += std::fabs(c.x[i * k + e] * c.wf[j * k + e]);
              }
              ASSERT_NEAR(got[i * c.n + j], want[i * c.n + j], 1e-5 * abs_sum)
                  << SimdLevelName(level) << " " << DTypeName(t) << " fill " << int{fill}
                  << (mixed_signs ? " mixed" : "") << " row " << i << " col " << j << " "
                  << SeedNote();
            }
          }
        }
      }
    }
  }
}

TEST(QuantGemm, ActivationsRoundToHalfAStep) {
  auto rng = TestRng();
  Case c = MakeCase(DType::kQ4_0, 2, 1, 96, rng);
  PrepareActivations(SimdLevel::kScalar, DType::kQ4_0, c.x.data(), 2, 96, 0, 2, c.act.data());
  ASSERT_EQ(c.act.size(), 2u * 3 * 48);
  for (int64_t b = 0; b < 6; ++b) {
    const uint8_t* blk = c.act.data() + 48 * b;
    float d;
    std::memcpy(&d, blk + 32, 4);
    int sum = 0;
    for (int i = 0; i < 32; ++i) {
      const int q = static_cast<int8_t>(blk[i]);
      sum += q;
      ASSERT_LE(std::abs(q), 127);
      ASSERT_LE(std::fabs(c.x[32 * b + i] - d * q), d * 0.5001f) << SeedNote();
    }
    int32_t stored;
    std::memcpy(&stored, blk + 40, 4);
    EXPECT_EQ(stored, sum);
  }
}

// Every level quantises activations to the scalar spec's blocks, bit for
// bit (quant_gemm_internal.h): decode and prefill then see the same integers
// at every level. Rows of Gaussian values, a zero block, a block of one
// nonzero, values that land exactly halfway between two codes (ties round
// to even on every level), and blocks so small that 1 / d overflows (codes
// all 0 on every level) beside one just large enough not to.
TEST(QuantGemm, ActivationBlocksMatchScalarBitForBit) {
  auto rng = TestRng();
  constexpr int64_t kRows = 4, kK = 32 * 7;
  std::vector<float> x(kRows * kK);
  std::normal_distribution<float> normal(0, 3);
  for (auto& v : x) v = normal(rng);
  std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // row 0, block 1: d = 0
  std::fill(x.begin() + 64, x.begin() + 96, 0.0f);
  x[64 + 5] = -2.5f;  // a lone value: q = -127
  // Row 2: amax 127 makes id 1, so k + 0.5 is a tie for each k.
  for (int64_t e = 0; e < kK; ++e) x[2 * kK + e] = (e % 32 == 0) ? 127.0f : (e % 11) - 5.5f;
  // Row 3: amax 1e-38 (subnormal) and 2e-37 overflow 1 / d; 5e-37 does not.
  const float tiny[3] = {1e-38f, 2e-37f, 5e-37f};
  for (int b = 0; b < 3; ++b) {
    for (int e = 0; e < 32; ++e) x[3 * kK + 32 * b + e] = tiny[b] * (e - 15.5f) / 16.5f;
  }
  std::vector<uint8_t> want(ActivationBytes(DType::kQ8_0, kRows, kK));
  PrepareActivations(SimdLevel::kScalar, DType::kQ8_0, x.data(), kRows, kK, 0, kRows, want.data());
  const uint8_t* row3 = want.data() + 3 * 7 * 48;
  for (int b = 0; b < 3; ++b) {
    int nonzero = 0;
    for (int e = 0; e < 32; ++e) nonzero += row3[48 * b + e] != 0;
    EXPECT_EQ(nonzero, b < 2 ? 0 : 32) << "tiny block " << b;  // |q| >= 4 in block 2
  }
  for (SimdLevel level : {SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (!Supported(level)) continue;
    std::vector<uint8_t> got(want.size(), 0xAB);
    PrepareActivations(level, DType::kQ8_0, x.data(), kRows, kK, 0, kRows, got.data());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << SimdLevelName(level) << " block " << i / 48 << " byte "
                                 << i % 48 << " " << SeedNote();
    }
  }
}

TEST(QuantGemm, Sizes) {
  EXPECT_EQ(ActivationBytes(DType::kF32, 3, 64), 0);
  EXPECT_EQ(ActivationBytes(DType::kBF16, 3, 64), 0);
  EXPECT_EQ(ActivationBytes(DType::kQ4_1, 3, 64), 3 * 2 * 48);
  EXPECT_EQ(ActivationBytes(DType::kQ6_K, 1, 256), 8 * 48);
  EXPECT_TRUE(WeightDTypeSupported(DType::kQ5_K));
  EXPECT_FALSE(WeightDTypeSupported(DType::kI8));
  EXPECT_FALSE(WeightDTypeSupported(DType::kU4));
}

TEST(CpuFeatures, ParseAndChoose) {
  for (SimdLevel l : kLevels) EXPECT_EQ(*ParseSimdLevel(SimdLevelName(l)), l);
  EXPECT_EQ(ParseSimdLevel("avx3").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSimdLevel("").status().code(), absl::StatusCode::kInvalidArgument);
  std::printf("detected: %s\n", std::string(SimdLevelName(DetectSimdLevel())).c_str());
  setenv("KILN_CPU_SIMD", "scalar", 1);
  EXPECT_EQ(ChooseSimdLevel(), SimdLevel::kScalar);
  setenv("KILN_CPU_SIMD", "avx512", 1);  // never above the CPU
  EXPECT_EQ(ChooseSimdLevel(), DetectSimdLevel());
  setenv("KILN_CPU_SIMD", "sse9", 1);
  EXPECT_EQ(SimdLevelFromEnv().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChooseSimdLevel(), DetectSimdLevel());
  unsetenv("KILN_CPU_SIMD");
  EXPECT_EQ(ChooseSimdLevel(), DetectSimdLevel());
}

}  // namespace
}  // namespace kiln::cpu
