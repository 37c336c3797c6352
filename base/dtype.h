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
enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kI32,
  kI64,
  kI8,
  kU4,
};

std::string_view DTypeName(DType dtype);
std::optional<DType> DTypeFromName(std::string_view name);

bool IsFloat(DType dtype);
bool IsInteger(DType dtype);

// Bytes needed to store `count` elements (u4 packs two per byte, rounded up).
// Returns nullopt when the byte count would overflow int64.
std::optional<int64_t> StorageBytes(DType dtype, int64_t count);

}  // namespace kiln

#endif  // KILN_BASE_DTYPE_H_
