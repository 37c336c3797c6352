// The block formats against a decoder written here from the layout text
// (element by element, with its own f16 decoding), known hand-built blocks,
// quantize -> dequantize error bounds and bad input.
#include "base/quant_blocks.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "base/half.h"
#include "gtest/gtest.h"
#include "tests/support/test_seed.h"

namespace kiln {
namespace {

using testing::SeedNote;
using testing::TestRng;

// binary16 decoded with ldexp (no shared code with base/half.cc).
double HalfValue(const std::vector<uint8_t>& b, size_t at) {
  const int bits = b[at] | (b[at + 1] << 8);
  const int sign = bits >> 15, exp = (bits >> 10) & 31, man = bits & 1023;
  const double mag = exp == 0 ? std::ldexp(man, -24) : std::ldexp(1024 + man, exp - 25);
  return sign ? -mag : mag;
}

// Element `e` of block `blk` of a row, straight from the layout description.
double Element(DType t, const std::vector<uint8_t>& b, int64_t e) {
  const size_t base = static_cast<size_t>((e / BlockSize(t)) * BlockBytes(t));
  const int i = static_cast<int>(e % BlockSize(t));
  auto nib = [&](size_t at, int i16) { return i16 < 16 ? b[at + i16] & 15 : b[at + i16 - 16] >> 4; };
  switch (t) {
    case DType::kQ8_0: return HalfValue(b, base) * static_cast<int8_t>(b[base + 2 + i]);
    case DType::kQ4_0: return HalfValue(b, base) * (nib(base + 2, i) - 8);
    case DType::kQ4_1: return HalfValue(b, base) * nib(base + 4, i) + HalfValue(b, base + 2);
    case DType::kQ4_K:
    case DType::kQ5_K: {
      const int j = i / 32, l = i % 32;
      const size_t s = base + 4;
      // 6-bit fields: scale j and min j.
      int sc, mn;
      if (j < 4) {
        sc = b[s + j] % 64;
        mn = b[s + j + 4] % 64;
      } else {
        sc = b[s + j + 4] % 16 + (b[s + j - 4] / 64) * 16;
        mn = b[s + j + 4] / 16 + (b[s + j] / 64) * 16;
      }
      const size_t qs = base + (t == DType::kQ4_K ? 16 : 48);
      int q = (j % 2 == 0) ? b[qs + 32 * (j / 2) + l] % 16 : b[qs + 32 * (j / 2) + l] / 16;
      if (t == DType::kQ5_K && (b[base + 16 + l] & (1 << j))) q += 16;
      return HalfValue(b, base) * sc * q - HalfValue(b, base + 2) * mn;
    }
    case DType::kQ6_K: {
      const int half = i / 128, r = i % 128, quarter = r / 32, l = r % 32;
      const int lowbyte = b[base + 64 * half + l + (quarter % 2 ? 32 : 0)];
      const int low = quarter < 2 ? lowbyte % 16 : lowbyte / 16;
      const int high = (b[base + 128 + 32 * half + l] >> (2 * quarter)) % 4;
      const int scale = static_cast<int8_t>(b[base + 192 + 8 * half + 2 * quarter + l / 16]);
      return HalfValue(b, base + 208) * scale * (low + 16 * high - 32);
    }
    default: return NAN;
  }
}

constexpr DType kBlockTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1,
                                 DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// Random bytes with small finite f16 scales at the scale offsets.
std::vector<uint8_t> RandomBlocks(DType t, int64_t blocks, testing::Rng& rng) {
  std::vector<uint8_t> b(blocks * BlockBytes(t));
  for (auto& v : b) v = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  for (int64_t i = 0; i < blocks; ++i) {
    uint8_t* p = b.data() + i * BlockBytes(t);
    const uint16_t d = FloatToF16(u(rng)), m = FloatToF16(u(rng));
    std::memcpy(p + (t == DType::kQ6_K ? 208 : 0), &d, 2);
    if (t == DType::kQ4_1 || t == DType::kQ4_K || t == DType::kQ5_K) std::memcpy(p + 2, &m, 2);
  }
  return b;
}

TEST(QuantBlocks, DequantizeMatchesLayoutDecoder) {
  auto rng = TestRng();
  for (DType t : kBlockTypes) {
    const int64_t blocks = 5, n = blocks * BlockSize(t);
    std::vector<uint8_t> b = RandomBlocks(t, blocks, rng);
    std::vector<float> y(n);
    DequantizeRow(t, b.data(), n, y.data());
    for (int64_t e = 0; e < n; ++e) {
      const double want = Element(t, b, e);
      ASSERT_NEAR(y[e], want, 1e-6 * std::fabs(want) + 1e-12)
          << DTypeName(t) << " element " << e << " " << SeedNote();
    }
  }
}

TEST(QuantBlocks, DequantizePlainFloats) {
  const float v[3] = {1.5f, -2.25f, 65504.0f};
  std::vector<float> y(3);
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    std::vector<uint8_t> bytes = EncodeFloats(v, t);
    DequantizeRow(t, bytes.data(), 3, y.data());
    for (int i = 0; i < 3; ++i) EXPECT_EQ(y[i], RoundToDType(v[i], t)) << DTypeName(t);
  }
}

TEST(QuantBlocks, KnownBytes) {
  // q4_0: d = 0.5 (f16 0x3800), byte 0 = 0x1F: element 0 = (15 - 8) * 0.5,
  // element 16 = (1 - 8) * 0.5; the other bytes 0x88 give 0.
  std::vector<uint8_t> q40(18, 0x88);
  q40[0] = 0x00, q40[1] = 0x38, q40[2] = 0x1F;
  std::vector<float> y(32);
  DequantizeRow(DType::kQ4_0, q40.data(), 32, y.data());
  EXPECT_EQ(y[0], 3.5f);
  EXPECT_EQ(y[16], -3.5f);
  EXPECT_EQ(y[1], 0.0f);
  // q4_1: d = 2 (0x4000), m = -1 (0xBC00): nibble 3 -> 5.
  std::vector<uint8_t> q41(20, 0x33);
  q41[0] = 0x00, q41[1] = 0x40, q41[2] = 0x00, q41[3] = 0xBC;
  DequantizeRow(DType::kQ4_1, q41.data(), 32, y.data());
  EXPECT_EQ(y[0], 5.0f);
  EXPECT_EQ(y[31], 5.0f);
  // q8_0: d = 0.25 (0x3400), q = -128 .. 127 pattern.
  std::vector<uint8_t> q80(34);
  q80[0] = 0x00, q80[1] = 0x34, q80[2] = 0x80, q80[33] = 0x7F;
  DequantizeRow(DType::kQ8_0, q80.data(), 32, y.data());
  EXPECT_EQ(y[0], -32.0f);
  EXPECT_EQ(y[31], 31.75f);
  // q4_k: d = 1, dmin = 1; sub-block 5 has scale 33 (= 1 + 2 * 16) and min 18
  // (= 2 + 1 * 16); its element 3 has nibble 7 (high nibble of qs[32*2 + 3]).
  std::vector<uint8_t> q4k(144, 0);
  q4k[1] = 0x3C, q4k[3] = 0x3C;
  q4k[4 + 1] = 2 << 6;          // high bits of scale 5
  q4k[4 + 5] = 1 << 6;          // high bits of min 5
  q4k[4 + 9] = 0x21;            // low nibbles: scale 1, min 2
  q4k[16 + 64 + 3] = 0x70;
  std::vector<float> z(256);
  DequantizeRow(DType::kQ4_K, q4k.data(), 256, z.data());
  EXPECT_EQ(z[5 * 32 + 3], 33.0f * 7 - 18.0f);
  EXPECT_EQ(z[5 * 32 + 4], -18.0f);
  EXPECT_EQ(z[0], 0.0f);
  // q6_k: d = 1, scale 13 = -3; element 128 + 64 + 16 + 1 (half 1, quarter
  // 2, l = 17): low nibble = high nibble of ql[64 + 17], high bits 4..5 of
  // qh[32 + 17]. q6 = 5 + 16 * 2 = 37 -> (37 - 32) * -3.
  std::vector<uint8_t> q6k(210, 0);
  q6k[209] = 0x3C;
  q6k[192 + 13] = static_cast<uint8_t>(-3);
  q6k[64 + 17] = 0x50;
  q6k[128 + 32 + 17] = 2 << 4;
  DequantizeRow(DType::kQ6_K, q6k.data(), 256, z.data());
  EXPECT_EQ(z[128 + 64 + 17], -15.0f);
  EXPECT_EQ(z[128 + 64 + 15], 0.0f);  // l = 15 uses scale 12, which is 0
}

TEST(QuantBlocks, PackUnpackScalesRoundTrip) {
  auto rng = TestRng();
  for (int rep = 0; rep < 100; ++rep) {
    uint8_t sc[8], mn[8], s[12], sc2[8], mn2[8];
    for (int j = 0; j < 8; ++j) sc[j] = rng() % 64, mn[j] = rng() % 64;
    PackQ4KScales(sc, mn, s);
    UnpackQ4KScales(s, sc2, mn2);
    for (int j = 0; j < 8; ++j) {
      ASSERT_EQ(sc[j], sc2[j]);
      ASSERT_EQ(mn[j], mn2[j]);
    }
  }
}

// Round trip: every element within the block's step plus the f16 rounding of
// the stored scales.
TEST(QuantBlocks, QuantizeRoundTripError) {
  auto rng = TestRng();
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ4_K, DType::kQ6_K}) {
    const int64_t n = 4 * 256;
    std::vector<float> x(n);
    for (auto& v : x) v = normal(rng);
    std::vector<uint8_t> b(*StorageBytes(t, n));
    ASSERT_TRUE(QuantizeRow(t, x.data(), n, b.data()).ok());
    std::vector<float> y(n);
    DequantizeRow(t, b.data(), n, y.data());
    const int64_t bs = t == DType::kQ6_K ? 16 : 32;  // scale groups
    double sq_err = 0, sq = 0;
    for (int64_t g = 0; g < n / bs; ++g) {
      float lo = x[g * bs], hi = x[g * bs], amax = 0;
      for (int64_t i = g * bs; i < (g + 1) * bs; ++i) {
        lo = std::min(lo, x[i]), hi = std::max(hi, x[i]), amax = std::max(amax, std::fabs(x[i]));
      }
      // The ideal step of the group; the bound allows half a step plus the
      // f16 (and, for k-quants, 6/8-bit) rounding of the scales.
      double bound = 0;
      switch (t) {
        case DType::kQ8_0: bound = amax / 127 * (0.5 + 127 * 1e-3); break;
        case DType::kQ4_0: bound = amax / 8 * (1.0 + 8 * 1e-3); break;   // +8 clamps to 7
        case DType::kQ4_1: bound = (hi - lo) / 15 * (0.5 + 15 * 1e-3) + 1e-3 * std::fabs(lo); break;
        case DType::kQ4_K: bound = 0.2 * (hi - std::min(lo, 0.0f)); break;
        case DType::kQ6_K: bound = amax / 32 * 1.2; break;
        default: break;
      }
      for (int64_t i = g * bs; i < (g + 1) * bs; ++i) {
        ASSERT_LE(std::fabs(y[i] - x[i]), bound)
            << DTypeName(t) << " element " << i << " x " << x[i] << " " << SeedNote();
        sq_err += (y[i] - x[i]) * (y[i] - x[i]);
        sq += x[i] * x[i];
      }
    }
    const double nmse_limit = t == DType::kQ8_0 ? 1e-4 : t == DType::kQ6_K ? 2e-3 : 2e-2;
    EXPECT_LT(sq_err / sq, nmse_limit) << DTypeName(t) << " " << SeedNote();
  }
}

TEST(QuantBlocks, QuantizeKeepsZerosAndConstants) {
  std::vector<float> x(256, 0.0f);
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ4_K, DType::kQ6_K}) {
    std::vector<uint8_t> b(*StorageBytes(t, 256));
    ASSERT_TRUE(QuantizeRow(t, x.data(), 256, b.data()).ok());
    std::vector<float> y(256, 1.0f);
    DequantizeRow(t, b.data(), 256, y.data());
    for (float v : y) ASSERT_EQ(v, 0.0f) << DTypeName(t);
  }
}

TEST(QuantBlocks, QuantizeRejectsBadInput) {
  std::vector<float> x(64, 1.0f);
  std::vector<uint8_t> b(1024);
  x[40] = std::numeric_limits<float>::quiet_NaN();
  absl::Status s = QuantizeRow(DType::kQ8_0, x.data(), 64, b.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("block 1"), absl::string_view::npos) << s;
  x[40] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(QuantizeRow(DType::kQ4_1, x.data(), 64, b.data()).ok());
  x[40] = 1;
  EXPECT_EQ(QuantizeRow(DType::kQ4_0, x.data(), 48, b.data()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantizeRow(DType::kQ4_K, x.data(), 64, b.data()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantizeRow(DType::kF32, x.data(), 64, b.data()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(QuantBlocks, CheckBlockScales) {
  auto rng = TestRng();
  for (DType t : kBlockTypes) {
    std::vector<uint8_t> b = RandomBlocks(t, 3, rng);
    EXPECT_TRUE(CheckBlockScales(t, b).ok()) << DTypeName(t);
    EXPECT_FALSE(CheckBlockScales(t, std::span(b).first(b.size() - 1)).ok());
    // An f16 inf (0x7C00) in block 2's last scale field.
    const size_t at = 2 * BlockBytes(t) +
                      (t == DType::kQ6_K ? 208 : (t == DType::kQ8_0 || t == DType::kQ4_0) ? 0 : 2);
    b[at] = 0x00, b[at + 1] = 0x7C;
    absl::Status s = CheckBlockScales(t, b);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << DTypeName(t);
    EXPECT_NE(s.message().find("block 2"), absl::string_view::npos) << s;
  }
  EXPECT_TRUE(CheckBlockScales(DType::kF32, std::vector<uint8_t>(7)).ok());
}

}  // namespace
}  // namespace kiln
