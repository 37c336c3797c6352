#include "base/half.h"

#include <cstring>

namespace kiln {
namespace {

uint32_t FloatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float BitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

constexpr uint32_t kF32AbsMask = 0x7FFFFFFFu;
constexpr uint32_t kF32Inf = 0x7F800000u;

// Shifts `m` right by `shift` bits (1..31), rounding to nearest, ties to
// even. Used for both formats: the discarded bits are compared with half of
// one unit in the last kept place.
uint32_t ShiftRightRoundEven(uint32_t m, int shift) {
  const uint32_t kept = m >> shift;
  const uint32_t rest = m & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (kept & 1u))) return kept + 1;
  return kept;
}

}  // namespace

float BF16ToFloat(uint16_t bits) { return BitsToFloat(static_cast<uint32_t>(bits) << 16); }

uint16_t FloatToBF16(float value) {
  const uint32_t bits = FloatBits(value);
  if ((bits & kF32AbsMask) > kF32Inf) {
    // NaN: keep sign and the top payload bits, force the quiet bit (bf16
    // mantissa MSB) so a payload living only in the low half stays NaN.
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  }
  // A carry out of the mantissa bumps the exponent, which is the correct
  // result, and turns the largest finite values into infinity exactly when
  // they round past the bf16 maximum.
  return static_cast<uint16_t>(ShiftRightRoundEven(bits, 16));
}

float F16ToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  const uint32_t mantissa = bits & 0x3FFu;
  if (exponent == 0x1F) {
    // Infinity, or NaN with its payload kept and the quiet bit set.
    const uint32_t payload = mantissa == 0 ? 0 : ((mantissa << 13) | 0x400000u);
    return BitsToFloat(sign | kF32Inf | payload);
  }
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  // Normal: rebias the exponent from 15 to 127 and widen the mantissa.
  return BitsToFloat(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

uint16_t FloatToF16(float value) {
  const uint32_t bits = FloatBits(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & kF32AbsMask;

  if (abs > kF32Inf) {
    return static_cast<uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
  }
  // 2^16 and above (infinity included) overflow whatever the rounding.
  if (abs >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7C00u);

  if (abs >= 0x38800000u) {
    // At least 2^-14, the smallest normal f16: rebias the exponent, then
    // round the 23-bit mantissa to 10 bits. A carry may propagate into the
    // exponent; from 65520 upwards it reaches 0x7C00, which is infinity.
    const uint32_t rebased = abs - ((127u - 15u) << 23);
    return static_cast<uint16_t>(sign | ShiftRightRoundEven(rebased, 13));
  }

  // At most 2^-25 (half the smallest subnormal, a tie that goes to the even
  // zero): signed zero. Float subnormals are far below this.
  if (abs <= 0x33000000u) return sign;

  // f16 subnormal range: the result is the significand m (24 bits with the
  // implicit one) times 2^(e+1) in units of 2^-24, where e is the unbiased
  // float exponent in [-25, -15]; so shift m right by -(e+1) in [14, 24].
  // Rounding up to 0x400 correctly yields the smallest normal f16.
  const int e = static_cast<int>(abs >> 23) - 127;
  const uint32_t m = (abs & 0x7FFFFFu) | 0x800000u;
  return static_cast<uint16_t>(sign | ShiftRightRoundEven(m, -(e + 1)));
}

float RoundToDType(float x, DType dtype) {
  switch (dtype) {
    case DType::kF16:
      return F16ToFloat(FloatToF16(x));
    case DType::kBF16:
      return BF16ToFloat(FloatToBF16(x));
    case DType::kF32:
    case DType::kI32:
    case DType::kI64:
    case DType::kI8:
    case DType::kU4:
      return x;
  }
  return x;
}

std::vector<uint8_t> EncodeFloats(std::span<const float> values, DType dtype) {
  const size_t width = dtype == DType::kF32 ? 4 : 2;
  std::vector<uint8_t> bytes(values.size() * width);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(bytes.data() + 4 * i, &values[i], 4);
    } else {
      const uint16_t h = dtype == DType::kF16 ? FloatToF16(values[i]) : FloatToBF16(values[i]);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
  }
  return bytes;
}

std::vector<float> DecodeFloats(std::span<const uint8_t> bytes, DType dtype) {
  const size_t width = dtype == DType::kF32 ? 4 : 2;
  std::vector<float> values(bytes.size() / width);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(&values[i], bytes.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      values[i] = dtype == DType::kF16 ? F16ToFloat(h) : BF16ToFloat(h);
    }
  }
  return values;
}

}  // namespace kiln
