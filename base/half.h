// Conversions between float and the two 16-bit float formats Kiln stores:
// IEEE 754 binary16 ("f16": 1 sign, 5 exponent, 10 mantissa bits) and
// bfloat16 ("bf16": 1 sign, 8 exponent, 7 mantissa bits, i.e. the top half
// of a float).
//
// Narrowing conversions round to nearest, ties to even (the IEEE default and
// what CUDA's __float2half_rn / __float2bfloat16_rn do), so the CPU reference
// sees exactly the values a GPU kernel stores. NaN inputs always produce a
// quiet NaN of the same sign; they never turn into infinity, which a plain
// "add the rounding bias" trick would do to NaNs with a full low payload.
#ifndef KILN_BASE_HALF_H_
#define KILN_BASE_HALF_H_

#include <cstdint>
#include <span>
#include <vector>

#include "base/dtype.h"

namespace kiln {

// Exact: every bf16 value is a float.
float BF16ToFloat(uint16_t bits);
// Round to nearest even; values beyond the bf16 range become +-inf.
uint16_t FloatToBF16(float value);

// Exact: every f16 value (subnormals included) is a normal float. A
// signalling NaN comes back quiet, as hardware conversions do.
float F16ToFloat(uint16_t bits);
// Round to nearest even, with f16 subnormals; magnitudes >= 65520 (the
// midpoint between 65504, the largest f16, and 2^16) become +-inf.
uint16_t FloatToF16(float value);

// `x` rounded to the precision of `dtype`: x itself for f32, the value after
// a float -> dtype -> float round trip for f16 and bf16. Integer and packed
// dtypes have no float rounding of their own, so x comes back unchanged.
float RoundToDType(float x, DType dtype);

// `values` stored as `dtype` (f32, f16 or bf16), little-endian: f32 as is,
// f16/bf16 rounded to nearest even. What device buffers and safetensors hold.
std::vector<uint8_t> EncodeFloats(std::span<const float> values, DType dtype);
// The inverse (exact): `bytes` of `dtype` elements back to floats.
std::vector<float> DecodeFloats(std::span<const uint8_t> bytes, DType dtype);

}  // namespace kiln

#endif  // KILN_BASE_HALF_H_
