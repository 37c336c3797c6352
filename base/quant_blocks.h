// GGUF (ggml) block formats: byte layouts, dequantisation, round-to-nearest
// quantisation and scale checks. These functions are the spec of the block
// dtypes (base/dtype.h); every kernel that reads them is tested against them.
//
// Layouts (all little-endian, f16 = IEEE binary16; "value" is the f32 weight):
//   q8_0 (32 elements, 34 bytes): f16 d | int8 q[32]. value[i] = d * q[i].
//   q4_0 (32, 18): f16 d | u8 qs[16]. Element i < 16 is the low nibble of qs[i],
//        element i + 16 its high nibble. value = d * (nibble - 8).
//   q4_1 (32, 20): f16 d | f16 m | u8 qs[16] (nibbles as q4_0).
//        value = d * nibble + m.
//   q4_k (256, 144): f16 d | f16 dmin | u8 scales[12] | u8 qs[128]. Eight
//        sub-blocks of 32 with 6-bit scale sc[j] and 6-bit min mn[j] packed
//        in scales[] (see UnpackQ4KScales). Sub-block j = 2c + h (c < 4)
//        takes the low (h = 0) or high (h = 1) nibbles of qs[32c .. 32c+31].
//        value = (d * sc[j]) * nibble - (dmin * mn[j]).
//   q5_k (256, 176): f16 d | f16 dmin | u8 scales[12] | u8 qh[32] | u8 qs[128].
//        As q4_k; element l of sub-block j adds 16 when bit j of qh[l] is set.
//   q6_k (256, 210): u8 ql[128] | u8 qh[64] | int8 scales[16] | f16 d. Two
//        halves of 128 (h); within a half, for l < 32 and t < 4, element
//        128h + 32t + l has low 4 bits from ql[64h + l + 32(t&1)] (low nibble
//        for t < 2, high for t >= 2), high 2 bits from bits 2t..2t+1 of
//        qh[32h + l], and scale scales[8h + 2t + l/16].
//        value = (d * scale) * (q6 - 32).
#ifndef KILN_BASE_QUANT_BLOCKS_H_
#define KILN_BASE_QUANT_BLOCKS_H_

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "base/dtype.h"

namespace kiln {

// Byte offsets inside a k-quant super-block (see the layouts above).
inline constexpr int kQK = 256;          // elements of a k-quant super-block
inline constexpr int kQ4KScalesAt = 4;   // q4_k / q5_k: scales[12]
inline constexpr int kQ4KQsAt = 16;      // q4_k: qs[128]
inline constexpr int kQ5KQhAt = 16;      // q5_k: qh[32]
inline constexpr int kQ5KQsAt = 48;      // q5_k: qs[128]
inline constexpr int kQ6KQhAt = 128;     // q6_k: qh[64]
inline constexpr int kQ6KScalesAt = 192; // q6_k: scales[16]
inline constexpr int kQ6KDAt = 208;      // q6_k: f16 d

// The eight 6-bit scales and mins of a q4_k / q5_k super-block. Sub-blocks
// 0..3 keep their scale in the low 6 bits of scales[j] and their min in the
// low 6 bits of scales[j + 4]; sub-blocks 4..7 keep the low 4 bits of scale
// and min in the two nibbles of scales[j + 4] and the high 2 bits in the top
// bits of scales[j - 4] (scale) and scales[j] (min).
void UnpackQ4KScales(const uint8_t* scales12, uint8_t sc[8], uint8_t mn[8]);
// The inverse; every sc[j], mn[j] must be < 64.
void PackQ4KScales(const uint8_t sc[8], const uint8_t mn[8], uint8_t* scales12);

// Dequantises `count` elements of `dtype` (f32, f16, bf16 or a block type)
// from `src` into `dst`. Precondition: `count` is a whole number of
// BlockSize(dtype) blocks and `src` holds StorageBytes(dtype, count) bytes;
// the caller checks both (CheckBlockScales and StorageBytes do). Other dtypes
// are a programming error (CHECK-style abort).
void DequantizeRow(DType dtype, const uint8_t* src, int64_t count, float* dst);

// Round-to-nearest quantisation of `count` floats into q8_0, q4_0, q4_1,
// q4_k or q6_k blocks at `dst` (StorageBytes(dtype, count) bytes), as
// llama.cpp's reference quantizers do for q8_0/q4_0/q4_1 (d = amax / 127;
// d = signed max / -8; d = (max - min) / 15 with m = min). q4_k: per
// sub-block of 32 the plain min/max range (min clamped to <= 0) gives a scale
// (max - min) / 15 and min -min; those are rounded to 6 bits against the
// super-block's largest (d = max scale / 63, dmin = max min / 63) and the
// nibbles are rounded with the stored scales (no iterative search, so the
// error is somewhat above llama.cpp's). q6_k: per sub-block of 16 the signed
// absolute maximum maps to -32; the 16 scales are rounded to int8 against the
// largest (d = max / -128) and the values rounded with the stored scales.
// InvalidArgument for NaN/inf input (naming the block), a count that is not a
// whole number of blocks, or another dtype (q5_k has no quantizer here).
absl::Status QuantizeRow(DType dtype, const float* src, int64_t count, uint8_t* dst);

// Checks that every f16 scale of the blocks in `bytes` (d; plus m for q4_1,
// dmin for q4_k/q5_k) is finite. InvalidArgument naming the block index when
// one is not, or when `bytes` is not a whole number of blocks. Non-block
// dtypes have no scales: OK.
absl::Status CheckBlockScales(DType dtype, std::span<const uint8_t> bytes);

}  // namespace kiln

#endif  // KILN_BASE_QUANT_BLOCKS_H_
