// Checks base/half against references nobody on this project wrote:
// GCC's _Float16 (libgcc's IEEE conversions) for f16, and for bf16 a
// round-to-nearest-even decision made in float64 arithmetic, which shares no
// bit tricks with the code under test.
#include "base/half.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "gtest/gtest.h"

namespace kiln {
namespace {

uint32_t Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof(b));
  return b;
}

float FromBits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof(f));
  return f;
}

uint16_t GccF16Bits(float f) {
  const _Float16 h = static_cast<_Float16>(f);
  uint16_t b;
  std::memcpy(&b, &h, sizeof(b));
  return b;
}

float GccF16ToFloat(uint16_t b) {
  _Float16 h;
  std::memcpy(&h, &b, sizeof(h));
  return static_cast<float>(h);
}

// Expects FloatToF16(f) to agree with _Float16 bit for bit; for NaN, only
// that both are NaN with the same sign (payload handling is not IEEE-fixed).
void ExpectF16MatchesGcc(float f) {
  const uint16_t ours = FloatToF16(f);
  const uint16_t gcc = GccF16Bits(f);
  if (std::isnan(f)) {
    ASSERT_TRUE(std::isnan(F16ToFloat(ours))) << std::hex << Bits(f);
    ASSERT_EQ(ours & 0x8000, gcc & 0x8000) << std::hex << Bits(f);
    ASSERT_NE(ours & 0x0200, 0) << "NaN must be quiet, input " << std::hex << Bits(f);
    return;
  }
  ASSERT_EQ(ours, gcc) << "float bits 0x" << std::hex << Bits(f) << " = " << f;
}

// Reference bf16 rounding in float64: the two bf16 neighbours of x are the
// float with the low 16 bits cleared (towards zero) and the next bf16 away
// from zero; pick the nearer by exact double subtraction, ties to the even
// mantissa. Past the largest bf16 the upper neighbour is 2^128, as IEEE
// overflow rounding prescribes (an unbounded exponent), which means inf.
uint16_t ReferenceBF16(float x) {
  const uint32_t b = Bits(x);
  const uint32_t sign = b & 0x80000000u;
  const uint32_t low = b & 0x7FFF0000u;
  const double ax = std::fabs(static_cast<double>(x));
  const double lo = static_cast<double>(FromBits(low));
  const uint32_t high_bits = low + 0x10000u;
  const double hi =
      high_bits >= 0x7F800000u ? std::ldexp(1.0, 128) : static_cast<double>(FromBits(high_bits));
  const double d_lo = ax - lo;
  const double d_hi = hi - ax;
  uint32_t chosen;
  if (d_lo < d_hi) {
    chosen = low;
  } else if (d_hi < d_lo) {
    chosen = high_bits;
  } else {
    chosen = ((low >> 16) & 1u) ? high_bits : low;
  }
  return static_cast<uint16_t>((sign | chosen) >> 16);
}

void ExpectBF16MatchesReference(float f) {
  const uint16_t ours = FloatToBF16(f);
  if (std::isnan(f)) {
    ASSERT_TRUE(std::isnan(BF16ToFloat(ours))) << std::hex << Bits(f);
    ASSERT_EQ(ours & 0x8000, (Bits(f) >> 16) & 0x8000);
    ASSERT_NE(ours & 0x0040, 0) << "NaN must be quiet";
    return;
  }
  ASSERT_EQ(ours, ReferenceBF16(f)) << "float bits 0x" << std::hex << Bits(f);
}

TEST(HalfTest, F16AllBitPatternsRoundTripAndMatchGcc) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint16_t h = static_cast<uint16_t>(i);
    const float f = F16ToFloat(h);
    const bool is_nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0;
    if (is_nan) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << i;
      // Encoding keeps the NaN (quiet, same sign) rather than making it inf.
      const uint16_t back = FloatToF16(f);
      ASSERT_EQ(back & 0xFE00, (h & 0x8000) | 0x7E00) << std::hex << i;
      continue;
    }
    ASSERT_EQ(Bits(f), Bits(GccF16ToFloat(h))) << std::hex << i;
    ASSERT_EQ(FloatToF16(f), h) << std::hex << i;
  }
}

TEST(HalfTest, BF16AllBitPatternsRoundTrip) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint16_t h = static_cast<uint16_t>(i);
    const float f = BF16ToFloat(h);
    ASSERT_EQ(Bits(f), i << 16) << std::hex << i;
    if (std::isnan(f)) {
      const uint16_t back = FloatToBF16(f);
      ASSERT_EQ(back, h | 0x0040) << std::hex << i;
      continue;
    }
    ASSERT_EQ(FloatToBF16(f), h) << std::hex << i;
  }
}

TEST(HalfTest, KnownValues) {
  EXPECT_EQ(FloatToF16(1.0f), 0x3C00);
  EXPECT_EQ(FloatToF16(-2.0f), 0xC000);
  EXPECT_EQ(FloatToF16(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToF16(65519.99f), 0x7BFF);
  EXPECT_EQ(FloatToF16(65520.0f), 0x7C00);  // The tie goes to the even "2^16": inf.
  EXPECT_EQ(FloatToF16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(FloatToF16(0x1p-24f), 0x0001);  // Smallest subnormal.
  EXPECT_EQ(FloatToF16(0x1p-25f), 0x0000);  // Tie to even: zero.
  EXPECT_EQ(FloatToF16(0x1.000002p-25f), 0x0001);
  EXPECT_EQ(FloatToF16(0x1.8p-24f), 0x0002);  // 1.5 units: tie to even 2.
  EXPECT_EQ(FloatToF16(-0.0f), 0x8000);
  EXPECT_EQ(F16ToFloat(0x3555), 0x1.554p-2f);

  EXPECT_EQ(FloatToBF16(1.0f), 0x3F80);
  EXPECT_EQ(FloatToBF16(FromBits(0x3F808000u)), 0x3F80);  // Tie, even stays.
  EXPECT_EQ(FloatToBF16(FromBits(0x3F818000u)), 0x3F82);  // Tie, odd rounds up.
  EXPECT_EQ(FloatToBF16(FromBits(0x7F7FFFFFu)), 0x7F80);  // FLT_MAX -> inf.
  // A NaN whose payload is only in the low half must stay NaN, not become inf.
  EXPECT_EQ(FloatToBF16(FromBits(0x7F800001u)), 0x7FC0);
  EXPECT_EQ(FloatToBF16(FromBits(0xFF800001u)), 0xFFC0);
}

TEST(HalfTest, F16MatchesGccOnRandomBitPatterns) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 4'000'000; ++i) ExpectF16MatchesGcc(FromBits(rng()));
}

TEST(HalfTest, F16MatchesGccOnSubnormalAndOverflowRanges) {
  // libgcc's soft-float conversion costs ~100 ns, so the f16 subnormal range
  // (floats from 2^-26 up to 2^-14, 10^8 of them) is sampled with a stride
  // prime to the mantissa width, and its rounding ties are hit exactly below.
  for (uint32_t sign : {0u, 0x80000000u}) {
    for (uint32_t b = 0x32800000u; b < 0x38800000u; b += 61)
      ExpectF16MatchesGcc(FromBits(sign | b));
    // The overflow threshold lies in [2^15, 2^16]: every float there.
    for (uint32_t b = 0x47000000u; b <= 0x47800000u; b += sign ? 7 : 1) {
      ExpectF16MatchesGcc(FromBits(sign | b));
    }
  }
}

TEST(HalfTest, F16MatchesGccOnSubnormalRoundingTies) {
  // A float with unbiased exponent e in [-25, -15] keeps its top 24 - s
  // significand bits as an f16 subnormal, s = -(e + 1) in [14, 24]; the
  // dropped s bits decide the rounding. Try every kept value with dropped
  // bits just below, at and just above the halfway point, and the extremes.
  for (int e = -25; e <= -15; ++e) {
    const int s = -(e + 1);
    const uint32_t half = 1u << (s - 1);
    const uint32_t full = (1u << s) - 1;
    for (uint32_t kept = 0; kept < (1u << (24 - s)); ++kept) {
      for (uint32_t dropped : {0u, 1u, half - 1, half, half + 1, full}) {
        const uint32_t m = (kept << s) | dropped;  // 24-bit significand.
        if (!(m & 0x800000u)) continue;            // Needs the implicit one.
        const uint32_t b = (static_cast<uint32_t>(e + 127) << 23) | (m & 0x7FFFFFu);
        ExpectF16MatchesGcc(FromBits(b));
        ExpectF16MatchesGcc(FromBits(b | 0x80000000u));
      }
    }
  }
}

TEST(HalfTest, F16MatchesGccOnRoundingTiesInTheNormalRange) {
  // The 13 bits dropped for a normal f16 sit at the bottom; try the values
  // around the tie point for every exponent and high mantissa.
  for (uint32_t top = 0; top < (1u << 19); ++top) {
    for (uint32_t low : {0x0u, 0x1u, 0xFFFu, 0x1000u, 0x1001u, 0x1FFFu}) {
      ExpectF16MatchesGcc(FromBits((top << 13) | low));
    }
  }
}

TEST(HalfTest, BF16MatchesFloat64Reference) {
  std::mt19937 rng(99);
  for (int i = 0; i < 4'000'000; ++i) ExpectBF16MatchesReference(FromBits(rng()));
  for (uint32_t top = 0; top < 65536; ++top) {
    for (uint32_t low : {0x0u, 0x1u, 0x7FFFu, 0x8000u, 0x8001u, 0xFFFFu}) {
      ExpectBF16MatchesReference(FromBits((top << 16) | low));
    }
  }
}

TEST(HalfTest, RoundToDType) {
  const float x = 0.1f;
  EXPECT_EQ(RoundToDType(x, DType::kF32), x);
  EXPECT_EQ(RoundToDType(x, DType::kF16), F16ToFloat(FloatToF16(x)));
  EXPECT_NE(RoundToDType(x, DType::kF16), x);
  EXPECT_EQ(RoundToDType(x, DType::kBF16), BF16ToFloat(FloatToBF16(x)));
  EXPECT_NE(RoundToDType(x, DType::kBF16), x);
  EXPECT_EQ(RoundToDType(1e6f, DType::kF16), std::numeric_limits<float>::infinity());
  EXPECT_EQ(RoundToDType(3.5f, DType::kI32), 3.5f);
  EXPECT_TRUE(std::isnan(RoundToDType(std::nanf(""), DType::kBF16)));
  EXPECT_TRUE(std::isnan(RoundToDType(std::nanf(""), DType::kF16)));
}

}  // namespace
}  // namespace kiln
