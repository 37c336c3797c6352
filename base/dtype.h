// Element types of Kiln IR values.
#ifndef KILN_BASE_DTYPE_H_
#define KILN_BASE_DTYPE_H_

#include <cstdint>
#include <optional>
#include <string_view>

namespace kiln {

// The element type of a tensor. Floating types compute in f32 on the CPU
// reference; u4 is a packed 4-bit unsigned weight format (two values a byte,
// low nibble first) whose scales live in a separate tensor.
//
// The block types are weight storage formats with their scales inside: the
// elements of each row (last dimension) are stored in blocks of BlockSize()
// elements taking BlockBytes() bytes, byte for byte as GGUF (llama.cpp's
// ggml) stores them, so a GGUF tensor is used as it is. Their values are the
// dequantised f32 values (base/quant_blocks.h defines the layouts and the
// arithmetic); only weights (matmul_nt's w, embedding tables) take them.
enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kI32,
  kI64,
  kI8,
  kU4,
  kQ8_0,  // 32 elements: f16 d, int8 q[32]
  kQ4_0,  // 32 elements: f16 d, 16 bytes of nibbles (value - 8)
  kQ4_1,  // 32 elements: f16 d, f16 m, 16 bytes of nibbles
  kQ4_K,  // 256 elements: k-quant super-block, 8 sub-blocks of 32, 6-bit scales
  kQ5_K,  // 256 elements: as Q4_K plus a fifth bit per element
  kQ6_K,  // 256 elements: 16 sub-blocks of 16, 8-bit scales
};

std::string_view DTypeName(DType dtype);
std::optional<DType> DTypeFromName(std::string_view name);

bool IsFloat(DType dtype);
bool IsInteger(DType dtype);  // i32, i64, i8, u4
bool IsBlockQuantized(DType dtype);
// Values held as floats: the float types and the block types (whose values
// are the dequantised ones).
bool HasFloatValues(DType dtype);

// Elements per block and bytes per block (1 and the element's size for the
// plain types).
int64_t BlockSize(DType dtype);
int64_t BlockBytes(DType dtype);

// Bytes needed to store `count` elements (u4 packs two per byte, rounded up).
// Returns nullopt when the byte count would overflow int64, or for a block
// type when `count` is not a whole number of blocks.
std::optional<int64_t> StorageBytes(DType dtype, int64_t count);

}  // namespace kiln

#endif  // KILN_BASE_DTYPE_H_
